/* bds-prune: removes old entries from a store (keeping the newest N per fingerprint and/or
 * those younger than an age) and the chunks no entry uses, and evicts least recently used
 * copies from a cache. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "cli.h"
#include "json.h"
#include "store.h"
#include "util.h"

#define KEEP_LIMIT 1000000LL
#define AGE_LIMIT 100000.0 /* days */

static const char usage_text[] =
	"usage: bds-prune --store STORE [--keep N] [--max-age DAYS] [--fingerprint FP] [--dry-run]\n"
	"       bds-prune --cache DIR [--cache-max SIZE] [--dry-run]\n"
	"       (both in one run too); --keep or --max-age is needed with --store\n";

struct args {
	const char *store, *fp, *cache, *cache_max;
	long long keep;   /* -1: not given */
	double max_age;   /* days; < 0: not given */
	int dry_run;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"keep", required_argument, NULL, 'k'},
		{"max-age", required_argument, NULL, 'a'},
		{"fingerprint", required_argument, NULL, 'f'},
		{"cache", required_argument, NULL, 'c'},
		{"cache-max", required_argument, NULL, 'm'},
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	a->keep = -1;
	a->max_age = -1;
	opterr = 0; /* our own messages, naming the option */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': a->store = optarg; break;
		case 'f': a->fp = optarg; break;
		case 'c': a->cache = optarg; break;
		case 'm': a->cache_max = optarg; break;
		case 'n': a->dry_run = 1; break;
		case 'k':
			if (bds_util_parse_whole(optarg, KEEP_LIMIT, &a->keep) < 0)
				return bds_cli_usage(usage_text, "--keep takes a number of entries from 0 to 1000000");
			break;
		case 'a':
			if (bds_util_parse_decimal(optarg, AGE_LIMIT, &a->max_age) < 0)
				return bds_cli_usage(usage_text, "--max-age takes a number of days from 0 to 100000 (e.g. 30 or 0.5)");
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (optind != argc)
		return bds_cli_usage(usage_text, "unexpected argument");
	if (!a->store && !a->cache)
		return bds_cli_usage(usage_text, "missing --store STORE or --cache DIR");
	if (a->store && a->keep < 0 && a->max_age < 0)
		return bds_cli_usage(usage_text, "--store needs --keep N or --max-age DAYS (or both): what to keep");
	if (!a->store && (a->keep >= 0 || a->max_age >= 0 || a->fp))
		return bds_cli_usage(usage_text, "--keep, --max-age and --fingerprint need --store STORE");
	if (a->fp && !bds_util_is_hex(a->fp, 32))
		return bds_cli_usage(usage_text, "--fingerprint takes a fingerprint key: 32 lowercase hex digits");
	if (a->cache && (!*a->cache || a->cache[0] != '/'))
		return bds_cli_usage(usage_text, "--cache takes an absolute directory");
	if (a->cache_max && !a->cache)
		return bds_cli_usage(usage_text, "--cache-max needs --cache DIR");
	return 0;
}

struct dated {
	struct bds_store_entry e;
	char created[32];
	double when;
};

/* Newest first: by created_at (the publish time in metadata.json, UTC to the second),
 * equal times by base, so that every run orders them alike. */
static int newest_first(const void *x, const void *y)
{
	const struct dated *a = x, *b = y;
	int c = strcmp(a->e.fp, b->e.fp);
	if (c)
		return c;
	if (a->when != b->when)
		return a->when > b->when ? -1 : 1;
	return strcmp(a->e.base, b->e.base);
}

static void iso8601(double t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int prune_store(const struct args *a)
{
	struct bds_store *s = bds_store_open(a->store);
	if (!s)
		return bds_cli_usage(usage_text, bds_util_error());
	struct bds_store_entry *list = NULL;
	struct dated *v = NULL;
	size_t n = 0, m = 0, removed = 0, kept = 0, skipped = 0;
	int code = BDS_EXIT_FAIL;
	time_t now = time(NULL);
	int st = bds_store_list(s, a->fp, &list, &n);
	if (st != BDS_STORE_FOUND) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	v = bds_util_xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		jv md = jv_invalid();
		char *created = NULL;
		st = bds_store_read_metadata(s, list[i].fp, list[i].base, &md);
		if (st == BDS_STORE_ABSENT) {
			/* no commit marker: a publish under way (left alone), or what a killed publish
			 * or prune left (files nobody can use) */
			double changed = list[i].changed;
			if (changed <= 0 || difftime(now, (time_t)changed) <= BDS_STORE_LEFTOVER_GRACE)
				continue;
			char when[32];
			iso8601(changed, when);
			if (!a->dry_run && bds_store_remove(s, list[i].fp, list[i].base) < 0) {
				bds_util_warn("remove %s/%s: %s", list[i].fp, list[i].base, bds_util_error());
				goto out;
			}
			printf("%s %s/%s incomplete, last changed %s\n", a->dry_run ? "would remove" : "removed", list[i].fp,
			       list[i].base, when);
			removed++;
			continue;
		}
		if (st == BDS_STORE_INVALID) {
			/* not ours to judge by age: say so, and leave it */
			bds_util_warn("skipped %s/%s: %s", list[i].fp, list[i].base, bds_util_error());
			skipped++;
			continue;
		}
		if (st != BDS_STORE_FOUND) {
			bds_util_warn("%s", bds_util_error());
			goto out;
		}
		double when = -1;
		if (bds_json_get_string(md, "created_at", &created) != 0 || strlen(created) != 20 ||
		    (when = bds_store_parse_time(created)) < 0) {
			bds_util_warn("skipped %s/%s: metadata.json has no created_at of the form YYYY-MM-DDTHH:MM:SSZ",
			              list[i].fp, list[i].base);
			skipped++;
			free(created);
			continue;
		}
		v[m].e = list[i];
		v[m].when = when;
		snprintf(v[m].created, sizeof v[m].created, "%s", created);
		free(created);
		m++;
	}
	qsort(v, m, sizeof *v, newest_first);
	size_t rank = 0;
	for (size_t i = 0; i < m; i++) {
		rank = i > 0 && strcmp(v[i].e.fp, v[i - 1].e.fp) == 0 ? rank + 1 : 0;
		int keep = (a->keep >= 0 && (long long)rank < a->keep) ||
		           (a->max_age >= 0 && difftime(now, (time_t)v[i].when) < a->max_age * 86400.0);
		if (keep) {
			kept++;
			continue;
		}
		if (!a->dry_run && bds_store_remove(s, v[i].e.fp, v[i].e.base) < 0) {
			bds_util_warn("remove %s/%s: %s", v[i].e.fp, v[i].e.base, bds_util_error());
			goto out;
		}
		printf("%s %s/%s %s\n", a->dry_run ? "would remove" : "removed", v[i].e.fp, v[i].e.base, v[i].created);
		removed++;
	}
	printf("store %s: %s %zu, kept %zu, skipped %zu\n", a->store, a->dry_run ? "would remove" : "removed",
	       removed, kept, skipped);
	/* the chunks only removed entries used (those of every fingerprint are read) */
	size_t deleted = 0, in_use = 0;
	if (bds_store_collect_chunks(s, BDS_STORE_LEFTOVER_GRACE, a->dry_run, &deleted, &in_use) != BDS_STORE_FOUND) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	if (deleted + in_use > 0)
		printf("store %s: chunks: %s %zu unreferenced for a day, kept %zu\n", a->store,
		       a->dry_run ? "would delete" : "deleted", deleted, in_use);
	code = BDS_EXIT_OK;
out:
	bds_store_close(s);
	free(list);
	free(v);
	return code;
}

static void on_evict(void *arg, const char *dir, uint64_t bytes, double used)
{
	char when[32];
	iso8601(used, when);
	printf("%s %s %llu bytes, last used %s\n", *(int *)arg ? "would evict" : "evicted", dir,
	       (unsigned long long)bytes, when);
}

static int prune_cache(const struct args *a)
{
	uint64_t max = 0, total = 0;
	if (a->cache_max) {
		if (bds_cache_parse_size(a->cache_max, &max) < 0)
			return bds_cli_usage(usage_text, "--cache-max takes a size in bytes, with an optional K, M, G or T suffix");
	} else {
		int r = bds_cache_max(&max);
		if (r < 0) {
			bds_util_warn("%s", bds_util_error());
			return BDS_EXIT_FAIL;
		}
		if (r == 0)
			return bds_cli_usage(usage_text, "--cache needs --cache-max SIZE or BDS_CACHE_MAX");
	}
	int dry = a->dry_run;
	if (bds_cache_evict(a->cache, max, dry, on_evict, &dry, &total) < 0) {
		bds_util_warn("%s", bds_util_error());
		return BDS_EXIT_FAIL;
	}
	printf("cache %s: %llu bytes, cap %llu\n", a->cache, (unsigned long long)total, (unsigned long long)max);
	return BDS_EXIT_OK;
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	struct args a = {0};
	int r = parse_args(argc, argv, &a);
	if (r != 0)
		return r < 0 ? BDS_EXIT_OK : r;
	int code = BDS_EXIT_OK;
	if (a.store)
		code = prune_store(&a);
	if (code == BDS_EXIT_OK && a.cache)
		code = prune_cache(&a);
	return bds_cli_close_stdout(code);
}

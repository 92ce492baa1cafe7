/* bds-store-lookup: finds the store entry for the envelope's fingerprint at --base exactly
 * (no history needed: a shallow clone's), else at the nearest first-parent ancestor of the
 * target, and fetches it verified into the local cache. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "cli.h"
#include "driver.h"
#include "envelope.h"
#include "exec.h"
#include "json.h"
#include "store.h"
#include "util.h"

#define STAGE "bds-store-lookup"
#define GIT_TIMEOUT 60.0 /* seconds */
#define MAX_DISTANCE_LIMIT 100000L

static const char usage_text[] =
	"usage: bds-store-lookup --store STORE --target REV [--base SHA] [--max-distance N] [--cache DIR] [--lazy-mem]\n"
	"       reads an envelope on stdin, writes it with `target` and `snapshot` on stdout\n";

struct args {
	const char *store, *target, *base, *cache;
	long max_distance;
	int lazy_mem; /* leave a chunked mem to the restore (store.md 4.3) */
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"target", required_argument, NULL, 't'},
		{"base", required_argument, NULL, 'b'},
		{"max-distance", required_argument, NULL, 'n'},
		{"cache", required_argument, NULL, 'c'},
		{"lazy-mem", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	long long n = 0;
	a->max_distance = 64;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': a->store = optarg; break;
		case 't': a->target = optarg; break;
		case 'b': a->base = optarg; break;
		case 'c': a->cache = optarg; break;
		case 'l': a->lazy_mem = 1; break;
		case 'n':
			if (bds_util_parse_whole(optarg, MAX_DISTANCE_LIMIT, &n) < 0)
				return bds_cli_usage(usage_text, "--max-distance takes a number from 0 to 100000");
			a->max_distance = (long)n;
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: return bds_cli_usage(usage_text, NULL);
		}
	}
	if (optind != argc)
		return bds_cli_usage(usage_text, "unexpected argument");
	if (!a->store)
		return bds_cli_usage(usage_text, "missing --store STORE");
	if (!a->target)
		return bds_cli_usage(usage_text, "missing --target REV");
	if (a->target[0] == '-' || !*a->target)
		return bds_cli_usage(usage_text, "--target takes a revision, not an option");
	if (a->base && (a->base[0] == '-' || !*a->base))
		return bds_cli_usage(usage_text, "--base takes a revision, not an option");
	if (!a->cache || !*a->cache)
		a->cache = NULL;
	return 0;
}

/* Runs git for at most GIT_TIMEOUT seconds, keeping at most `limit` bytes of its stdout
 * and the start of its stderr (its own reason). Returns git's exit status, or -1 (error
 * recorded: git could not run, did not answer in time or wrote more). */
static int git(const char *const *argv, size_t limit, struct bds_exec_output *g)
{
	free(g->out);
	return bds_exec_output((char *const *)argv, NULL, BDS_EXEC_ERR_START, limit, GIT_TIMEOUT, g);
}

/* The first line of git's stderr ("fatal: ..."), or "" when it said nothing. */
static const char *git_reason(struct bds_exec_output *g)
{
	char *p = g->err;
	while (*p == '\n')
		p++;
	p[strcspn(p, "\n")] = '\0';
	return p;
}

/* Reads the keys this stage needs. 0, or -1 (error recorded). */
static int read_input(const jv *env, char **ws, char **fp, char **driver)
{
	int r = bds_json_get_string(jv_copy(*env), "workspace", ws);
	if (r != 0 || (*ws)[0] != '/')
		return bds_util_fail("envelope: %s", r < 0 ? bds_util_error() : "`workspace` must be an absolute path");
	jv f = bds_json_get(jv_copy(*env), "fingerprint", JV_KIND_OBJECT);
	if (!jv_is_valid(f)) {
		jv_free(f);
		return bds_util_fail("envelope: no `fingerprint` object (run bds-fingerprint first)");
	}
	r = bds_json_get_string(f, "key", fp);
	if (r != 0 || !bds_util_is_hex(*fp, 32))
		return bds_util_fail("envelope: `fingerprint.key` must be 32 lowercase hex digits");
	/* a driver this build does not know can match no entry: bad input, not cold */
	r = bds_json_get_string(jv_copy(*env), "driver", driver);
	if (r != 0 || !bds_driver_find(*driver))
		return r < 0 ? bds_util_fail("envelope: %s", bds_util_error())
		             : bds_util_fail("envelope: `driver` must be a driver name (one of %s)", bds_driver_names);
	return 0;
}

/* What one lookup works with; `env` is consumed by the verdict. */
struct lookup {
	const struct args *a;
	struct bds_store *store;
	jv env;
	char *ws, *fp, *driver, *cache;
	struct bds_exec_output g;
};

/* Probes the entry at `rev` (distance < 0: named by --base, not found by a walk). 0 when
 * there is none; 1 when this decided the lookup (found, cold or failed), its exit code in
 * *code and the envelope written or dropped. */
static int probe(struct lookup *l, const char *rev, long distance, int *code)
{
	char *dir = NULL;
	jv md = jv_invalid();
	int left = 0;
	int st = bds_store_fetch(l->store, l->fp, rev, l->driver, l->cache, l->a->lazy_mem ? "mem" : NULL, &dir, &md,
	                         &left);
	if (st == BDS_STORE_ABSENT) {
		jv_free(md);
		free(dir);
		return 0;
	}
	if (st == BDS_STORE_ERROR) {
		bds_util_warn("%s", bds_util_error());
		*code = BDS_EXIT_FAIL;
	} else if (st != BDS_STORE_FOUND) {
		bds_util_warn("cold: %s", bds_util_error());
		*code = bds_cli_envelope_finish(bds_envelope_set_cold(l->env, STAGE, bds_util_error()), BDS_EXIT_COLD);
		l->env = jv_invalid();
	} else {
		jv snap = jv_object();
		snap = jv_object_set(snap, jv_string("store"), jv_string(l->a->store));
		snap = jv_object_set(snap, jv_string("fingerprint"), jv_string(l->fp));
		snap = jv_object_set(snap, jv_string("base"), jv_string(rev));
		snap = jv_object_set(snap, jv_string("distance"), distance < 0 ? jv_null() : jv_number((double)distance));
		snap = jv_object_set(snap, jv_string("dir"), jv_string(dir));
		snap = jv_object_set(snap, jv_string("metadata"), md);
		md = jv_invalid();
		/* not in the copy: the restore brings it in as the VM touches it */
		if (left)
			snap = jv_object_set(snap, jv_string("lazy"), JV_ARRAY(jv_string("mem")));
		*code = bds_cli_envelope_finish(jv_object_set(l->env, jv_string("snapshot"), snap), BDS_EXIT_OK);
		l->env = jv_invalid();
	}
	jv_free(md);
	free(dir);
	return 1;
}

/* Cold with `reason` (consumed). */
static int cold(struct lookup *l, char *reason)
{
	bds_util_warn("cold: %s", reason);
	int code = bds_cli_envelope_finish(bds_envelope_set_cold(l->env, STAGE, reason), BDS_EXIT_COLD);
	l->env = jv_invalid();
	free(reason);
	return code;
}

/* Resolves `rev` to its commit sha in the workspace (malloc'd), or NULL (warned). */
static char *resolve(struct lookup *l, const char *rev)
{
	char *spec = bds_util_xasprintf("%s^{commit}", rev);
	const char *rp[] = {"git", "-C", l->ws, "rev-parse", "--verify", "--quiet", spec, NULL};
	int r = git(rp, 4096, &l->g);
	free(spec);
	if (r < 0) {
		bds_util_warn("%s", bds_util_error());
		return NULL;
	}
	char *sha = l->g.out;
	l->g.out = NULL;
	sha[strcspn(sha, "\n")] = '\0';
	if (r == 0 && bds_util_is_hex(sha, 40))
		return sha;
	/* --quiet: git says nothing for an unknown revision, and its reason for anything
	 * else (not a repository, "dubious ownership", ...) */
	if (*git_reason(&l->g))
		bds_util_warn("resolve '%s' in '%s': git: %s", rev, l->ws, git_reason(&l->g));
	else
		bds_util_warn("unknown revision '%s' in '%s'", rev, l->ws);
	free(sha);
	return NULL;
}

/* Does the workspace hold commit `sha`'s object? 1 yes, 0 no, -1 error (warned). */
static int has_commit(struct lookup *l, const char *sha)
{
	char *spec = bds_util_xasprintf("%s^{commit}", sha);
	const char *ce[] = {"git", "-C", l->ws, "cat-file", "-e", spec, NULL};
	int r = git(ce, 4096, &l->g);
	free(spec);
	if (r < 0)
		bds_util_warn("%s", bds_util_error());
	return r < 0 ? -1 : r == 0;
}

/* Does commit `sha` name a parent that the walk did not reach (a shallow clone's
 * boundary: its object lists the parent, the clone lacks it)? 1 yes, 0 no (a root
 * commit), -1 error (warned). */
static int history_cut(struct lookup *l, const char *sha)
{
	const char *cf[] = {"git", "-C", l->ws, "cat-file", "commit", sha, NULL};
	int r = git(cf, (size_t)16 << 20, &l->g);
	if (r != 0) {
		if (r < 0)
			bds_util_warn("%s", bds_util_error());
		else
			bds_util_warn("git cat-file commit %s failed in '%s' (status %d): %s", sha, l->ws, r,
			              git_reason(&l->g));
		return -1;
	}
	/* the header ends at the first empty line; parents follow the tree line */
	char *end = strstr(l->g.out, "\n\n");
	if (end)
		*end = '\0';
	return strstr(l->g.out, "\nparent ") != NULL;
}

static int lookup(const struct args *a, struct bds_store *store)
{
	struct lookup l = {.a = a, .store = store, .env = jv_invalid()};
	int code = BDS_EXIT_FAIL;
	char *sha = NULL, *base = NULL, *revs = NULL;
	if ((code = bds_cli_envelope_begin(&l.env)) != 0)
		return code;
	code = BDS_EXIT_FAIL;
	if (read_input(&l.env, &l.ws, &l.fp, &l.driver) < 0) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	if (!(l.cache = bds_cache_dir(a->cache))) {
		bds_util_warn("%s, or give --cache", bds_util_error());
		goto out;
	}
	if (!(sha = resolve(&l, a->target)))
		goto out;
	l.env = jv_object_set(l.env, jv_string("target"), jv_string(sha));

	/* --base: that entry exactly. A full sha needs no commit object (CI knows the pull
	 * request's base; a depth-1 clone of the target does not hold it). */
	int base_here = 1;
	if (a->base) {
		base = bds_util_xstrdup(a->base);
		for (char *p = base; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		if (!bds_util_is_hex(base, 40)) {
			free(base);
			if (!(base = resolve(&l, a->base)))
				goto out;
		}
		if (probe(&l, base, -1, &code))
			goto out;
		if ((base_here = has_commit(&l, base)) < 0)
			goto out;
		/* another entry serves this base only if the warm machine can check the base out */
		if (!base_here) {
			code = cold(&l, bds_util_xasprintf("no snapshot for fingerprint %s at --base %s, and this clone "
			                                   "does not hold that commit, so no other entry can serve it",
			                                   l.fp, base));
			goto out;
		}
	}

	char count[64];
	snprintf(count, sizeof count, "--max-count=%ld", a->max_distance + 1);
	const char *rl[] = {"git", "-C", l.ws, "rev-list", "--first-parent", count, sha, NULL};
	int r = git(rl, (size_t)(a->max_distance + 1) * 41 + 4096, &l.g);
	if (r != 0) {
		if (r < 0)
			bds_util_warn("%s", bds_util_error());
		else
			bds_util_warn("git rev-list failed in '%s' (status %d): %s", l.ws, r, git_reason(&l.g));
		goto out;
	}
	revs = l.g.out;
	l.g.out = NULL;
	long distance = 0;
	char last[41] = "";
	for (char *save = NULL, *rev = strtok_r(revs, "\n", &save); rev && distance <= a->max_distance;
	     rev = strtok_r(NULL, "\n", &save), distance++) {
		if (probe(&l, rev, distance, &code))
			goto out;
		snprintf(last, sizeof last, "%s", rev);
	}
	/* The walk ended early at a commit whose parent the clone lacks (a shallow clone):
	 * an entry may exist further back, so this is not the store's answer. */
	int cut = distance <= a->max_distance && *last ? history_cut(&l, last) : 0;
	if (cut < 0)
		goto out;
	if (cut && !a->base) {
		bds_util_warn("this shallow clone holds %ld commit(s) of the first-parent history of %s, none with a "
		              "snapshot: fetch %ld more (git fetch --deepen=%ld) to search --max-distance %ld, or pass "
		              "--base SHA",
		              distance, sha, a->max_distance + 1 - distance, a->max_distance + 1 - distance,
		              a->max_distance);
		goto out;
	}
	code = cold(&l, cut ? bds_util_xasprintf("no snapshot for fingerprint %s at --base %s nor within the %ld "
	                                         "commit(s) of the first-parent history of %s this shallow clone holds",
	                                         l.fp, base, distance, sha)
	                    : bds_util_xasprintf("no snapshot for fingerprint %s within %ld first-parent ancestors of %s",
	                                         l.fp, a->max_distance, sha));
out:
	jv_free(l.env);
	free(l.ws);
	free(l.fp);
	free(l.driver);
	free(l.cache);
	free(l.g.out);
	free(sha);
	free(base);
	free(revs);
	return code;
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
	struct bds_store *store = bds_store_open(a.store);
	if (!store)
		return bds_cli_usage(usage_text, bds_util_error());
	bds_cli_json_nomem_fails(); /* the envelope and the entry's metadata.json */
	bds_exec_die_with_command(); /* git */
	int code = lookup(&a, store);
	bds_store_close(store);
	return code;
}

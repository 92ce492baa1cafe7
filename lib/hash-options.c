/* hash-options: bds-hash's command line, one table for its parser and for the
 * fingerprint's canonical form of the options a pipeline hashes with. */
#define _GNU_SOURCE /* getopt_long */
#include "hash.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/* X(name, has_arg, val): bds-hash's options ... */
#define HASH_OPTIONS(X)                                                                                            \
	X("workspace", required_argument, 'w')                                                                     \
	X("output", required_argument, 'o')                                                                        \
	X("include-target-type", no_argument, BDS_HASH_OPT_INCLUDE_TYPE)                                           \
	X("target-type", required_argument, BDS_HASH_OPT_TARGET_TYPE)                                              \
	X("seed-filepaths", required_argument, BDS_HASH_OPT_SEEDS)                                                 \
	X("ignored-attrs", required_argument, BDS_HASH_OPT_IGNORED)                                                \
	X("dep-edges", required_argument, BDS_HASH_OPT_DEPS)                                                       \
	X("fine-grained-repos", required_argument, BDS_HASH_OPT_FINE)                                              \
	X("output-base", required_argument, BDS_HASH_OPT_OUTPUT_BASE)                                              \
	X("content-hashes", required_argument, BDS_HASH_OPT_CONTENT)                                               \
	X("modified-filepaths", required_argument, BDS_HASH_OPT_MODIFIED)                                          \
	X("always-affected-tags", required_argument, BDS_HASH_OPT_TAGS)                                            \
	X("threads", required_argument, BDS_HASH_OPT_THREADS)                                                      \
	X("progress", no_argument, BDS_HASH_OPT_PROGRESS)                                                          \
	X("state-out", required_argument, BDS_HASH_OPT_STATE_OUT)                                                  \
	X("state-commit", required_argument, BDS_HASH_OPT_STATE_COMMIT)                                            \
	X("from-state", required_argument, BDS_HASH_OPT_FROM_STATE)                                               \
	X("packages", required_argument, BDS_HASH_OPT_PACKAGES)                                                    \
	X("delta-from", required_argument, BDS_HASH_OPT_DELTA_FROM)                                                \
	X("module-graph", required_argument, BDS_HASH_OPT_MODULE_GRAPH)                                            \
	X("help", no_argument, 'h')

/* ... and those bds-generate-hashes takes besides, for the query. Its -so and -co are not
 * here: a second one adds to the first, and bds-fingerprint keys them on their own. */
#define GENERATE_OPTIONS(X)                                                                                        \
	X("keep_going", no_argument, BDS_HASH_OPT_KEEP_GOING)                                                      \
	X("keep-going", no_argument, BDS_HASH_OPT_KEEP_GOING)                                                      \
	X("exclude-external-targets", no_argument, BDS_HASH_OPT_EXCLUDE_EXTERNAL)                                  \
	X("exclude-targets-query", required_argument, BDS_HASH_OPT_EXCLUDE_QUERY)

#define ENTRY(name, has_arg, val) {name, has_arg, NULL, val},

const struct option bds_hash_getopt_long[] = {HASH_OPTIONS(ENTRY){NULL, 0, NULL, 0}};
const char bds_hash_getopt_short[] = ":w:o:h";

static const struct option all_long[] = {HASH_OPTIONS(ENTRY) GENERATE_OPTIONS(ENTRY){NULL, 0, NULL, 0}};
static const char all_short[] = ":w:o:hk";

/* The option of a getopt_long value: the first table entry with it (its full name). */
static const struct option *option_of(int val)
{
	if (val == 'k')
		val = BDS_HASH_OPT_KEEP_GOING;
	for (const struct option *o = all_long; o->name; o++)
		if (o->val == val)
			return o;
	return NULL;
}

static const char *option_name(int val)
{
	return option_of(val)->name;
}

/* Why getopt_long refused `arg` with '?' against `table`: "unknown WHAT '--x'", "ambiguous
 * WHAT '--s'" or "WHAT '--flag' takes no value". Malloc'd. */
static char *option_refusal(const struct option *table, const char *what, const char *arg)
{
	if (strncmp(arg, "--", 2) != 0)
		return bds_util_xasprintf("unknown %s '%s'", what, arg);
	size_t n = strcspn(arg + 2, "=");
	const struct option *hit = NULL;
	int distinct = 0;
	for (const struct option *o = table; o->name; o++) {
		if (strncmp(o->name, arg + 2, n) != 0)
			continue;
		if (strlen(o->name) == n) { /* exact: only a value can be wrong */
			hit = o, distinct = 1;
			break;
		}
		if (!hit || hit->val != o->val)
			distinct++;
		hit = o;
	}
	if (distinct > 1)
		return bds_util_xasprintf("ambiguous %s '%s'", what, arg);
	if (hit)
		return bds_util_xasprintf("%s '--%s' takes no value", what, hit->name);
	return bds_util_xasprintf("unknown %s '%s'", what, arg);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(option_name(*(const int *)a), option_name(*(const int *)b));
}

jv bds_hash_args_canonical(char **args, size_t n)
{
	/* getopt_long wants argv[0] and may permute: a copy */
	char **argv = bds_util_xcalloc(n + 2, sizeof *argv);
	argv[0] = "bds-hash";
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = args[i];
	/* the last value of each option: one slot per value, indexed by val */
	enum { SLOTS = BDS_HASH_OPT_EXCLUDE_QUERY + 1 };
	const char *value[SLOTS] = {0};
	int given[SLOTS] = {0}, order[SLOTS], count = 0, c;
	jv out = jv_invalid();
	int argc = (int)n + 1;
	opterr = 0;
	optind = 0; /* glibc: start afresh on this argv */
	while ((c = getopt_long(argc, argv, all_short, all_long, NULL)) != -1) {
		if (c == ':') {
			out = jv_invalid_with_msg(jv_string_fmt("hash option '%s' needs a value", argv[optind - 1]));
			goto done;
		}
		if (c == '?') {
			char *why = option_refusal(all_long, "hash option", argv[optind - 1]);
			out = jv_invalid_with_msg(jv_string(why));
			free(why);
			goto done;
		}
		if (c == 'k')
			c = BDS_HASH_OPT_KEEP_GOING;
		if (!given[c]) {
			given[c] = 1;
			order[count++] = c;
		}
		value[c] = option_of(c)->has_arg == required_argument ? optarg : NULL;
	}
	if (optind < argc) {
		out = jv_invalid_with_msg(jv_string_fmt("hash options: unexpected argument '%s'", argv[optind]));
		goto done;
	}
	qsort(order, (size_t)count, sizeof *order, by_name);
	out = jv_array();
	for (int i = 0; i < count; i++) {
		out = jv_array_append(out, jv_string_fmt("--%s", option_name(order[i])));
		if (value[order[i]])
			out = jv_array_append(out, jv_string(value[order[i]]));
	}
done:
	free(argv);
	return out;
}

jv bds_hash_args_value(jv canonical, const char *name)
{
	jv v = jv_null();
	int n = jv_array_length(jv_copy(canonical));
	for (int i = 0; i < n;) {
		jv a = jv_array_get(jv_copy(canonical), i);
		const struct option *o = all_long;
		while (o->name && strcmp(jv_string_value(a) + 2, o->name) != 0)
			o++;
		int hit = strcmp(jv_string_value(a), name) == 0, valued = o->name && o->has_arg == required_argument;
		jv_free(a);
		if (hit && valued && i + 1 < n) {
			v = jv_array_get(jv_copy(canonical), i + 1);
			break;
		}
		i += valued ? 2 : 1; /* a value that looks like an option is still a value */
	}
	jv_free(canonical);
	return v;
}

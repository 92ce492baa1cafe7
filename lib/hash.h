/* hash: bazel-diff-compatible target hashes (docs/algorithm.md 2) over a
 * query graph: source-file digests, rule digests, .bzl seeds, overall and direct. */
#ifndef BDS_HASH_H
#define BDS_HASH_H

#include <getopt.h>
#include <stdio.h>

#include <jv.h>

#include "digest.h"
#include "graph.h"
#include "strmap.h"

struct bds_hash_options {
	const char *workspace;            /* absolute, normalised */
	const char *output_base;          /* Bazel output base: roots of fine-grained repos */
	char **fine_grained;              /* --fine-grained-repos as given (NULL-terminated) */
	char **ignored_attrs;             /* extra attributes left out of rule digests */
	char **always_affected_tags;
	struct bds_strmap *modified;      /* absolute paths whose contents are read; NULL: all */
	struct bds_strmap *content_hashes; /* path key -> char * replacing the file content */
	unsigned char seed[BDS_SHA256_LEN]; /* SHA-256 over the --seed-filepaths contents */
	int track_deps;
	int threads;                      /* source-file readers; 0: one per CPU */
	int progress;
};

/* Hashes every target of the graph (linked with bds_graph_link). Returns 0, or -1 with
 * the error recorded (unreadable file, cycle, ...). */
int bds_hash_graph(struct bds_graph *g, const struct bds_hash_options *o);

/* Computes the raw digest of every source-file target not hashed yet, on o->threads
 * threads (source.c). */
int bds_hash_sources(struct bds_graph *g, const struct bds_hash_options *o);

/* The same while the graph is being read: start the pool, pass bds_source_pool_add to
 * bds_graph_read, then finish (which also joins the threads after a failed read). */
struct bds_source_pool;
struct bds_source_pool *bds_source_pool_start(const struct bds_hash_options *o);
void bds_source_pool_add(void *pool, const struct bds_graph *g, int32_t index);
/* Waits for the workers and stores the digests in g (NULL: discard). 0, or -1 with the
 * first worker's error. */
int bds_source_pool_finish(struct bds_source_pool *p, struct bds_graph *g);

/* softDigest: 1 and out set for an existing main-repo regular file, 0 otherwise, -1 error. */
int bds_hash_soft_digest(const struct bds_hash_options *o, struct bds_sha256 *h, const char *label,
                         size_t n, unsigned char out[BDS_SHA256_LEN]);

/* The workspace-relative path a main-repository label names (docs/algorithm.md 2.2: every
 * ':' made '/', or with first_colon_only only the first, as softDigest does), collapsed;
 * malloc'd. NULL for a label of another repository. */
char *bds_hash_label_path(const char *label, size_t n, int first_colon_only);

/* What a graph state's hashes depend on besides the tree (docs/algorithm.md 6.1): the seed
 * and the options that change a digest (--ignored-attrs, --always-affected-tags), so that a
 * state hashed with others is never merged. */
void bds_hash_state_key(const struct bds_hash_options *o, unsigned char out[BDS_SHA256_LEN]);

/* How a hashes file was written, as one string (docs/algorithm.md 6.4): its XXH3-128 and
 * the options that decide its lines (--include-target-type, --target-type). A state keeps
 * the one of the file written with it; a later run that names the same file and options
 * (bds-hash --delta-from) may write only the lines that differ from it. Malloc'd. */
char *bds_hash_output_key(const char xxh128[33], int include_type, char **types);

/* Writes the graph state (state.h, docs/algorithm.md 6.1) of a hashed graph for revision
 * `commit`; `output_key` (bds_hash_output_key, "" if unknown) is the hashes file written
 * with it. 0, or -1 with the error recorded. */
int bds_hash_write_state(FILE *out, struct bds_graph *g, const struct bds_hash_options *o, const char *commit,
                         const char *output_key);

/* SHA-256 over the contents of the files listed, one path per line, in `list_path`
 * (duplicates dropped, first kept). A relative path, of the list or in it, is relative to
 * `workspace`: it is read in the tree of the revision being hashed. */
int bds_hash_seed_from_list(const char *workspace, const char *list_path, unsigned char out[BDS_SHA256_LEN]);

/* The entries of a seed list as bds_hash_seed_from_list reads them: lines up to the first
 * NUL byte, a final CR dropped, empty lines and duplicates skipped. Modifies `text`; the
 * array (NULL-terminated, free it alone) points into it. */
char **bds_hash_seed_list_entries(char *text);

/* --- options (hash-options.c) ---------------------------------------------------------- */

/* bds-hash's options, as getopt_long values: the short ones are their letters. */
enum {
	BDS_HASH_OPT_INCLUDE_TYPE = 256, BDS_HASH_OPT_TARGET_TYPE, BDS_HASH_OPT_SEEDS, BDS_HASH_OPT_IGNORED,
	BDS_HASH_OPT_DEPS, BDS_HASH_OPT_FINE, BDS_HASH_OPT_CONTENT, BDS_HASH_OPT_MODIFIED, BDS_HASH_OPT_TAGS,
	BDS_HASH_OPT_THREADS, BDS_HASH_OPT_PROGRESS, BDS_HASH_OPT_OUTPUT_BASE,
	/* the graph state (docs/algorithm.md 6): where the hashes come from, never what they are */
	BDS_HASH_OPT_STATE_OUT, BDS_HASH_OPT_STATE_COMMIT, BDS_HASH_OPT_FROM_STATE, BDS_HASH_OPT_PACKAGES,
	BDS_HASH_OPT_DELTA_FROM, BDS_HASH_OPT_MODULE_GRAPH,
	/* bds-generate-hashes' own: they change the query, not bds-hash */
	BDS_HASH_OPT_KEEP_GOING, BDS_HASH_OPT_EXCLUDE_EXTERNAL, BDS_HASH_OPT_EXCLUDE_QUERY,
};

/* bds-hash's getopt_long table and short options: the one definition of its command line,
 * which bds-hash parses and bds_hash_args_canonical follows. */
extern const struct option bds_hash_getopt_long[];
extern const char bds_hash_getopt_short[];

/* The canonical form of hash options (bds-hash's and bds-generate-hashes'; args[0..n),
 * not changed) as they act: each under its full name (an abbreviation resolved as
 * getopt_long resolves it, "-k" as "--keep_going"), only the last value of one given twice
 * (bds-hash and the scripts keep the last), sorted by name, as a flat array
 * ["--name", "value", "--flag", ...]. Invalid with a message for an unknown or ambiguous
 * option, a missing or unexpected value, or an argument that is no option. */
jv bds_hash_args_canonical(char **args, size_t n);

/* The value of `name` ("--seed-filepaths") in a canonical array (consumed): a string, or
 * null when it is not given. */
jv bds_hash_args_value(jv canonical, const char *name);

/* What bds_hash_write_json writes, and what it says it wrote. */
struct bds_hash_json_out {
	int include_type;     /* --include-target-type: "Type#" before each hash */
	char **types;         /* --target-type: only targets of these type names (NULL: all) */
	const uint8_t *only;  /* per target: 0 leaves its line out (a delta); NULL: every line */
	char *xxh128;         /* char[33], or NULL: the XXH3-128 of the bytes written */
	/* bazel-diff's metadata.moduleGraphJson (docs/algorithm.md 3.1), or NULL: with it the
	 * hashes go under "hashes" beside {"metadata": {"moduleGraphJson": ...}} */
	const char *module_graph;
	size_t module_graph_len;
	size_t written, of;   /* out: the lines written, and the lines there would be without `only` */
};

/* Writes the hashes JSON as bazel-diff's Gson does (two-space pretty print, no final
 * newline), keys sorted; with a module graph, in bazel-diff's metadata shape. 0, or -1
 * with the error recorded. */
int bds_hash_write_json(FILE *out, const struct bds_graph *g, struct bds_hash_json_out *how);
/* bazel-diff's moduleGraphJson from the raw stdout of `bazel mod graph --output=json`
 * (docs/algorithm.md 3.1): its lines joined with "\n" (a "\r\n" or "\r" ends a line too),
 * then whitespace trimmed from both ends as Kotlin's trim() does. Malloc'd, its length in
 * *len; NULL with the error recorded when `raw` is not UTF-8, which Java would decode
 * with replacement characters. */
char *bds_hash_module_graph_text(const char *raw, size_t n, size_t *len);
/* Writes the dep-edges JSON (docs/algorithm.md 3.2): rules and generated files, source files omitted. */
int bds_hash_write_deps(FILE *out, const struct bds_graph *g, char **types);

#endif

/* diff: bazel-diff's get-impacted-targets (docs/algorithm.md 4) over two hashes files. */
#ifndef BDS_DIFF_H
#define BDS_DIFF_H

#include <stddef.h>
#include <stdio.h>

struct bds_diff_index; /* label -> index, over labels that live in a file's buffer */

/* One entry of a hashes file: `label: "[type#]overall~direct"`, split as bazel-diff's
 * TargetHash.fromJson does. Every pointer is into the file's buffer, NUL-terminated. */
struct bds_diff_target {
	const char *label, *type, *overall, *direct;
	size_t label_len, type_len, overall_len, direct_len; /* type_len 0: untyped */
	int dead;                                            /* a later duplicate key replaced it */
};

/* A parsed hashes file, flat (`{label: value}`) or `{"hashes": {...}, "metadata": {...}}`. */
struct bds_diff_hashes {
	char *path;
	char *buf; /* the file, strings decoded in place */
	struct bds_diff_target *targets;
	size_t count;               /* entries in targets, dead ones included */
	struct bds_diff_index *index; /* label -> target */
	size_t typed, untyped;      /* live entries with / without a type */
	const char *module_graph;   /* metadata.moduleGraphJson, or NULL */
	size_t module_graph_len;
};

/* Reads and validates a hashes file. A value that is not `[Type#]hash~direct` is an error
 * naming the file and the key. Returns 0, or -1 with the error recorded. */
int bds_diff_read_hashes(const char *path, struct bds_diff_hashes *h);
void bds_diff_free_hashes(struct bds_diff_hashes *h);

/* A dep-edges file (docs/algorithm.md 3.2): `{label: [dep label, ...]}`. */
struct bds_diff_deps {
	char *path;
	char *buf;
	struct bds_diff_str {
		const char *s;
		size_t n;
	} *labels;                /* every dep label of every list, list after list */
	struct bds_diff_list {
		size_t first, n;  /* a slice of labels */
	} *lists;
	size_t nlabels, nlists;
	struct bds_diff_index *index; /* label -> list; null lists are absent */
};

int bds_diff_read_deps(const char *path, struct bds_diff_deps *d);
void bds_diff_free_deps(struct bds_diff_deps *d);

/* One impacted label. */
struct bds_diff_item {
	const char *label;
	size_t label_len;
	/* from is NULL for a new label; to is NULL only for a label of the module path's rdeps
	 * query that the final hashes lack (bds_diff_add_module_impacted) */
	const struct bds_diff_target *to, *from;
	int rank;                                /* kind rank, docs/algorithm.md 4.2 */
	int bytewise;                            /* Java order of this label is byte order */
	int direct;                              /* DIRECT (new, or direct hash changed) vs INDIRECT */
	int target_distance, package_distance;   /* set by bds_diff_distances */
};

struct bds_diff_result {
	struct bds_diff_item *items;
	size_t count, cap;
	size_t *item_of_target; /* per `to` target: item index + 1, or 0 */
};

/* The impacted set, unsorted and unfiltered: labels of `to` that are new or whose
 * type, overall hash or direct hash differs from `from`. */
void bds_diff_impacted(const struct bds_diff_hashes *from, const struct bds_diff_hashes *to,
                       struct bds_diff_result *r);

/* bazel-diff's module path (docs/algorithm.md 4.5): the impacted set becomes the plain
 * one (already in r) plus `labels`, the rdeps query's labels or its fallback, those
 * starting "@@" left out. With `for_distances`, every item is DIRECT and labels missing
 * from `to` are left out, as bazel-diff's distance path does. The labels must outlive r. */
void bds_diff_add_module_impacted(struct bds_diff_result *r, const struct bds_diff_hashes *from,
                                  const struct bds_diff_hashes *to, const struct bds_diff_str *labels, size_t n,
                                  int for_distances);

/* Distance metrics (docs/algorithm.md 4.3) for every item, over `deps`. `warn` (may be NULL) receives
 * each fallback-to-(0,0) notice. Returns 0, or -1 on a dependency cycle (error recorded). */
int bds_diff_distances(struct bds_diff_result *r, const struct bds_diff_hashes *to, const struct bds_diff_deps *deps,
                       void (*warn)(const char *label, size_t n, int no_entry, void *arg), void *arg);

/* Kind rank, then label in Java String order. */
void bds_diff_sort(struct bds_diff_result *r);

/* Keeps the items whose `to` type is in `types` (NULL: all), then, with exclude_external,
 * drops `//external:` labels. Order is kept. An untyped item under a type filter is an
 * error naming it: returns -1 with the error recorded. */
int bds_diff_filter(struct bds_diff_result *r, char **types, int exclude_external, const char *to_path);

/* Output: one label per line; or the Gson pretty array of docs/algorithm.md 4.4 (no final newline).
 * Return 0, or -1 when a write failed (error recorded). */
int bds_diff_write_labels(FILE *out, const struct bds_diff_result *r);
int bds_diff_write_distances(FILE *out, const struct bds_diff_result *r);

void bds_diff_free_result(struct bds_diff_result *r);

#endif

/* plan: which targets of a revision can hash differently from a recorded graph state's
 * revision, from git's list of changed paths (docs/algorithm.md 6.2). */
#ifndef BDS_PLAN_H
#define BDS_PLAN_H

#include <stddef.h>

#include "state.h"

/* One path of `git diff --raw` (status A, D, M or T; modes in octal). */
struct bds_change {
	char status;
	unsigned old_mode, new_mode;
	char *path; /* relative to the workspace */
};

struct bds_plan {
	char **packages; /* queried whole: '//p:all-targets' (NULL-terminated, sorted) */
	char **labels;   /* queried alone: targets outside those packages (NULL-terminated) */
	size_t n_packages, n_labels;
};

/* Parses `git diff --raw -z --no-renames` output (modified in place; paths point into it).
 * 0 and *changes (free the array alone), or -1 with the error recorded. */
int bds_plan_parse_raw(char *text, size_t len, struct bds_change **changes, size_t *n);

/* Parses `git ls-files -s -z` output into the symbolic links' paths (NULL-terminated,
 * pointing into text; free the array alone). */
char **bds_plan_parse_symlinks(char *text, size_t len);

/* The plan for the workspace (checked out at the new revision, clean) whose changes from
 * the state's revision are `changes`, with `symlinks` its symbolic links now. Returns 0;
 * 1 when only the full query is provably exact (the reason recorded); -1 on an error. */
int bds_plan_make(const struct bds_state *s, const char *workspace, struct bds_change *changes, size_t n,
                  char **symlinks, struct bds_plan *out);
void bds_plan_free(struct bds_plan *p);

/* The query of a plan ("'//p:all-targets' + '//q:x' ..."), malloc'd; "" when it queries
 * nothing. */
char *bds_plan_query(const struct bds_plan *p);

#endif

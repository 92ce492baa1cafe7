/* label: Bazel label helpers with bazel-diff's exact string semantics. */
#ifndef BDS_LABEL_H
#define BDS_LABEL_H

#include <stddef.h>

/* 2 for "//...", 3 for "@//...", 4 for "@@//...", -1 for any other repository. */
int bds_label_main_repo_prefix(const char *label, size_t n);

/* Kotlin's `s.split("//")` with trailing empty parts dropped: returns the number of parts
 * and sets *first_sep to the first "//" (or NULL). */
int bds_label_split_repo(const char *s, size_t n, const char **first_sep);

/* Length of labelToPackage(label): up to the last ':' (whole label if none). */
size_t bds_label_package_len(const char *label, size_t n);

#endif

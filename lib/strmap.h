/* strmap: an open-addressing map from byte strings to pointers (XXH3-hashed). Keys are
 * copied; values are owned by the caller. Not thread-safe: callers lock around it. */
#ifndef BDS_STRMAP_H
#define BDS_STRMAP_H

#include <stddef.h>

struct bds_strmap;

struct bds_strmap *bds_strmap_new(size_t expected);
/* The value for key, or NULL. */
void *bds_strmap_get(const struct bds_strmap *m, const char *key, size_t n);
int bds_strmap_has(const struct bds_strmap *m, const char *key, size_t n);
/* Sets key to value; returns the previous value or NULL. */
void *bds_strmap_put(struct bds_strmap *m, const char *key, size_t n, void *value);
size_t bds_strmap_count(const struct bds_strmap *m);
/* Frees the map and its keys; free_value (may be NULL) is called on every value. */
void bds_strmap_free(struct bds_strmap *m, void (*free_value)(void *));

#endif

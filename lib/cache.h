/* cache: how $BDS_CACHE's verified copies of store entries (<cache>/<fp>/<base>/) are used
 * and bounded.
 *
 * "Last used" is the entry directory's modification time, set by every lookup that returns
 * it (atime is not kept on noatime/relatime mounts; an mtime set explicitly is). A copy
 * is in use while the process a lookup returned it to (its parent, the pipeline script)
 * lives: the lookup names that process in "<cache>/.users/<fp>-<base>-<pid>" (an owner
 * record, proc.h). Eviction never removes a copy in use, nor anything that is not
 * <32 hex>/<40 hex> (the local driver's state under <cache>/local is not the cache's).
 * Records are written, and evictions decided, under one lock (<cache>/.evict.lock), so a
 * copy is either evicted before a lookup starts using it (the lookup fetches it again) or
 * seen in use. */
#ifndef BDS_CACHE_H
#define BDS_CACHE_H

#include <stdint.h>

/* How long a lookup or a prune waits for the eviction lock. */
#define BDS_CACHE_LOCK_TIMEOUT 60.0

/* The cache directory (malloc'd): `opt` (a --cache option; NULL or empty: not given), else
 * $BDS_CACHE, else $HOME/.cache/bds; NULL (recorded) when none of them is set, never a
 * shared directory under /tmp. A relative one is made absolute (envelopes hold absolute
 * paths only), unless the working directory cannot be named: then a store fetch refuses it. */
char *bds_cache_dir(const char *opt);

/* Parses a size: a whole number of bytes with an optional K, M, G or T suffix (powers of
 * 1024). 0, or -1 (not a size). */
int bds_cache_parse_size(const char *s, uint64_t *out);

/* $BDS_CACHE_MAX: 1 set (*max), 0 unset or empty, -1 not a size (recorded). */
int bds_cache_max(uint64_t *max);

/* Names process `user` as a user of <cache>/<fp>/<base> (made if missing), removing the
 * records of users that are gone. 0, or -1 (recorded). */
int bds_cache_use(const char *cache, const char *fp, const char *base, long user);

/* Marks the copy at dir as used now. */
void bds_cache_touch(const char *dir);

/* Called for every copy evicted (or, dry_run, that would be): its directory, its size on
 * disk in bytes and when it was last used (seconds since the epoch). */
typedef void bds_cache_report(void *arg, const char *dir, uint64_t bytes, double used);

/* Evicts least recently used copies not in use, and chunks of the chunk cache
 * (<cache>/chunks/, store.md 4), until together they take at most max bytes on disk.
 * *total gets what they take after. 0, or -1 (recorded). */
int bds_cache_evict(const char *cache, uint64_t max, int dry_run, bds_cache_report *report, void *arg,
                    uint64_t *total);

#endif

/* pagesrc: a chunked file of a format-2 entry (docs/store.md 4) put together on demand,
 * for a lazy restore: the VM starts at once, a chunk of its memory is fetched when the VM
 * first touches it, and the rest is filled in behind it. Every chunk is checked against
 * its name (bds_store_get_chunk) before a byte of it is written to the file, so a reader
 * of a range that bds_pagesrc_need made present reads the entry's bytes, never others. */
#ifndef BDS_PAGESRC_H
#define BDS_PAGESRC_H

#include <jv.h>
#include <stddef.h>
#include <stdint.h>

struct bds_pagesrc;
struct bds_store;

/* The file `name` of an entry, whose record in metadata.json (size, xxh3_128, chunks) is
 * `record` (consumed), built at `path` (created: it must not exist; sparse, full size at
 * once) from store `spec`, through the chunk cache under `cache_dir` (`stage`: a directory
 * of the caller's on the cache's file system, for chunks in flight). NULL: error recorded. */
struct bds_pagesrc *bds_pagesrc_open(const char *spec, const char *cache_dir, const char *stage,
                                     const char *name, jv record, const char *path);

/* The file, open for reading and writing, and its size. */
int bds_pagesrc_fd(const struct bds_pagesrc *p);
uint64_t bds_pagesrc_size(const struct bds_pagesrc *p);

/* Makes bytes [off, off + len) of the file present: each chunk they touch that is not
 * there yet is fetched with the caller's store handle `s` (bds_store_open of the same
 * spec; NULL: the page source's own, for one thread only, as a handle is not shared
 * between threads), or waited for when another thread is fetching it. 0, or -1: a chunk
 * failed (recorded; the page source is failed from then on: bds_pagesrc_failed).
 * Thread-safe. */
int bds_pagesrc_need(struct bds_pagesrc *p, struct bds_store *s, uint64_t off, uint64_t len);

/* Starts `threads` (1 to 64) threads, each with a store handle of its own, that make
 * every chunk present: those holding the offsets `first` (n of them: a working set) first,
 * then the rest in file order. 0, or -1 (recorded). */
int bds_pagesrc_fill(struct bds_pagesrc *p, int threads, const uint64_t *first, size_t n);

/* The first failure, or NULL. */
const char *bds_pagesrc_failed(struct bds_pagesrc *p);

/* How many of the file's bytes are present, and how many of them were fetched from the
 * store (not found in the chunk cache). */
void bds_pagesrc_counts(struct bds_pagesrc *p, uint64_t *present, uint64_t *fetched);

/* Stops the fill threads (those fetching finish their chunk) and frees p; the file stays. */
void bds_pagesrc_close(struct bds_pagesrc *p);

#endif

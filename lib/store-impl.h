/* store-impl: what store.c shares with its backends (store-file.c, store-http.c), all
 * defined in store-impl.c: the backends depend on it, never on store.c. Not for cmd/. */
#ifndef BDS_STORE_IMPL_H
#define BDS_STORE_IMPL_H

#include "store.h"

#include <stdint.h>
#include <xxhash.h>

/* The buffer of a file sink, and the reads of a hash. */
#define BDS_STORE_BUF ((size_t)1 << 20)

/* Where fetched bytes go: a bounded memory buffer (fd < 0) or a file written sparsely
 * (all-zero 4 KiB blocks become holes). Everything written is counted and hashed. */
struct bds_store_sink {
	int fd;             /* destination file, or -1 for memory */
	char *buf;          /* memory: the bytes; file: pending bytes not yet written */
	size_t len, cap;
	uint64_t limit;     /* more than this many bytes is an error (too_big set) */
	uint64_t size;      /* bytes received */
	uint64_t flushed;   /* file: bytes already written or skipped */
	int too_big;
	int failed;         /* a local write failed (error recorded) */
	XXH3_state_t *xx;
};

void bds_store_sink_init(struct bds_store_sink *k, int fd, uint64_t limit);
/* 0, or -1: over the limit (too_big) or a write error (failed, error recorded). */
int bds_store_sink_write(struct bds_store_sink *k, const void *p, size_t n);
/* File: writes what is pending and sets the length. 0 or -1 (error recorded). */
int bds_store_sink_finish(struct bds_store_sink *k);
/* Canonical XXH128 hex (high 64 bits first) of what was written; out has 33 bytes. */
void bds_store_sink_digest(struct bds_store_sink *k, char out[33]);
void bds_store_sink_free(struct bds_store_sink *k);

/* Reads fd from its start into the sink, skipping holes with SEEK_DATA/SEEK_HOLE.
 * `what` names the source in errors. 0, or -1 (too_big, or error recorded). */
int bds_store_copy_fd(int fd, const char *what, struct bds_store_sink *k);

/* Backends. Keys are "<fp>/<base>/<name>". get returns a bds_store_status (FOUND for
 * "transferred"); the put family and begin/commit return 0 or -1 (error recorded). */
struct bds_store_ops {
	int (*get)(struct bds_store *s, const char *key, struct bds_store_sink *sink);
	char *(*where)(struct bds_store *s, const char *key); /* path or URL for messages */
	int (*begin)(struct bds_store *s, const char *fp, const char *base, void **txn);
	int (*put_file)(struct bds_store *s, void *txn, const char *name, const char *path, uint64_t size);
	int (*put_bytes)(struct bds_store *s, void *txn, const char *name, const char *buf, size_t len);
	int (*commit)(struct bds_store *s, void *txn);
	void (*abort)(struct bds_store *s, void *txn);
	void (*close)(struct bds_store *s);
	/* Appends the entries "<fp>/<base>" it finds (fp NULL: every fingerprint) with
	 * bds_store_entry_add; a bds_store_status, FOUND for success. */
	int (*list)(struct bds_store *s, const char *fp, struct bds_store_entry **v, size_t *n);
	/* Removes entry (fp, base), metadata.json first. 0 or -1 (recorded). */
	int (*remove)(struct bds_store *s, const char *fp, const char *base);

	/* Chunk objects, shared by all entries (keys "chunks/<2 hex>/<32 hex>", store.md 4). */
	/* Is object `key` there? FOUND (*changed: when it was last written, seconds since
	 * the epoch, 0: unknown; *size: its length, UINT64_MAX: unknown), ABSENT, UNAVAILABLE
	 * or ERROR (recorded). */
	int (*has)(struct bds_store *s, const char *key, double *changed, uint64_t *size);
	/* Deletes chunk `key` unless it was written less than `grace` seconds ago (a publish
	 * refreshed it since it was listed): 1 deleted, 0 kept, -1 (recorded). */
	int (*collect_chunk)(struct bds_store *s, const char *key, double grace);
	/* Stores buf as the whole object `key`, during the publish `txn`, atomically: a
	 * reader sees all of it or none. 0 or -1 (recorded). */
	int (*put_object)(struct bds_store *s, void *txn, const char *key, const char *buf, size_t len);
	/* Appends the keys under "chunks/" ("chunks/<2 hex>/<32 hex>", nothing else) with
	 * when each last changed (seconds since the epoch, 0: unknown). A bds_store_status. */
	int (*list_chunks)(struct bds_store *s, char ***keys, double **changed, size_t *n);
	/* Chunk requests may run at once, each thread with a handle of its own from
	 * bds_store_open, and put_object needs no txn (it is given NULL): chunks then travel
	 * BDS_STORE_PARALLEL at a time (store-chunked.c). */
	int parallel;
};

struct bds_store {
	const struct bds_store_ops *ops;
	char *spec;   /* as given */
	char *root;   /* file: the directory; http/s3: base URL (no trailing slash) */
	int s3;
	char *bucket, *prefix; /* s3 only */
	void *impl;   /* backend state */
};

extern const struct bds_store_ops bds_store_file_ops;
extern const struct bds_store_ops bds_store_http_ops;

/* Appends a copy of `name` to the list (*names, *n), which stays NULL-terminated. */
void bds_store_list_add(char ***names, size_t *n, const char *name);
/* Appends entry `name` ("<32 hex>/<40 hex>", anything else is ignored: not ours to judge)
 * last changed at `changed` (0: unknown) to (*v, *n). */
void bds_store_entry_add(struct bds_store_entry **v, size_t *n, const char *name, double changed);

/* The key of chunk `hex` (32 lowercase hex digits): "chunks/<hex[0..1]>/<hex>", malloc'd.
 * The two-digit directories keep a file store's directories small. */
char *bds_store_chunk_key(const char *hex);
/* Is k such a key? */
int bds_store_is_chunk_key(const char *k);

/* ---- chunked files of format-2 entries (store-chunked.c) ---- */

/* The average chunk size a publish cuts with (chunk.h): 256 KiB, so chunks are 64 KiB to
 * 1 MiB. Chosen by measurement (docs/store.md 4.2): of a qemu record started from the
 * previous base's machine, 18 % of the entry is new to the store with 256 KiB chunks,
 * 22 % with 1 MiB, 14 % with 64 KiB (4 times the objects). Readers take any sizes up to
 * BDS_STORE_CHUNK_MAX. */
#define BDS_STORE_CHUNK_AVG ((size_t)256 << 10)
#define BDS_STORE_CHUNK_MAX ((uint64_t)64 << 20)
/* A publish writes again a chunk the store has had unchanged for longer than this, half a
 * prune's grace for unreferenced chunks (BDS_STORE_LEFTOVER_GRACE): see store_chunk. */
#define BDS_STORE_CHUNK_REFRESH (BDS_STORE_LEFTOVER_GRACE / 2)

/* What a chunked put or get did, for its report line. */
struct bds_store_chunk_stats {
	uint64_t chunks, bytes;         /* the file's chunks and bytes */
	uint64_t moved, moved_bytes;    /* put: chunks uploaded; get: chunks fetched from the store */
};

struct bds_strmap;

/* Cuts the file at `path` into chunks, stores during `txn` those the store does not have
 * (bds_store_ops.has first), and sets *record to the file's record in metadata.json:
 * {"size", "xxh3_128", "chunks": [[xxh3_128, length], ...]}. `seen` holds the chunks
 * this publish has already stored or found (shared by its files; values unused). 0, or -1
 * (recorded). */
int bds_store_put_chunked(struct bds_store *s, void *txn, const char *path, struct bds_strmap *seen,
                          struct bds_store_chunk_stats *stats, jv *record);

/* Writes the chunked file `record` describes (consumed) to fd, an empty file, as holes
 * where it is zeros: each chunk from the chunk cache <cache_dir>/chunks/, else fetched from
 * the store and kept there. Every chunk is checked against its name and length before it is
 * used or kept, and the whole file against its size and xxh3_128. `name` is the file's, for
 * messages; `stage` a directory of the caller's on the cache's file system, for chunks in
 * flight. A bds_store_status: INVALID (recorded) for a store chunk that fails. */
int bds_store_get_chunked(struct bds_store *s, const char *cache_dir, const char *stage, const char *name,
                          jv record, int fd, struct bds_store_chunk_stats *stats);

/* The bytes of chunk `hex` (len bytes) for file `name`: from the chunk cache
 * <cache_dir>/chunks/, else fetched from the store, checked against its name and length,
 * and kept in the cache (by way of `stage`; stats->moved counts it). A bds_store_status:
 * FOUND (*buf malloc'd), INVALID (recorded: the store's chunk is bad), or another failure
 * (recorded). Thread-safe for distinct stores s. */
int bds_store_get_chunk(struct bds_store *s, const char *cache_dir, const char *stage, const char *name,
                        const char *hex, uint64_t len, char **buf, struct bds_store_chunk_stats *stats);

/* Checks a file record's "chunks" (present: a chunked file) against its size: every chunk
 * [32 hex, 1..BDS_STORE_CHUNK_MAX], lengths adding up to `size`. 0: none, 1: valid, -1: not
 * (recorded, naming `name`). Consumes record. */
int bds_store_check_chunks(jv record, const char *name, uint64_t size);

/* Sets s->root for s3 (endpoint from the environment) and s->ops. */
int bds_store_s3_init(struct bds_store *s);

/* Records "<fmt...>: <the error recorded before>" and returns -1. */
int bds_store_fail_with(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Staging directories of publishes and fetches: "<fpdir>/.tmp-<base>-XXXXXX", owned
 * directories (lock.h) that hold their creator's lock until committed or removed.
 * begin: the malloc'd path, *lock_fd holding its lock; NULL: error recorded. commit:
 * removes the lock file (an entry never carries it), puts the directory at `final`
 * (bds_fs_replace_dir) and releases the lock; 0, or -1 (recorded; the caller removes
 * `tmp`). */
char *bds_store_stage_begin(const char *fpdir, const char *base, int *lock_fd);
int bds_store_stage_commit(const char *tmp, int lock_fd, const char *final);
/* A directory without a lock file is swept only when it has not changed for this long:
 * its owner died before taking its lock, or is about to rename it into place. */
#define BDS_STORE_SWEEP_GRACE 3600.0
/* Removes what dead owners left in a <fingerprint> directory: staging directories whose
 * lock is free (".tmp-*"), and replaced entries (BDS_FS_OLD_PREFIX, ".tmp-*") without a
 * lock file older than BDS_STORE_SWEEP_GRACE. Best effort. */
void bds_store_sweep(const char *fpdir);

#endif

/* store: snapshot entries in a local directory, over HTTP(S) or in S3, behind one interface.
 *
 * Layout: <store>/<fingerprint>/<base-sha>/{metadata.json, base_hashes.json, ...}.
 * metadata.json is written last and is the commit marker: an entry without a metadata.json
 * that verifies does not exist. */
#ifndef BDS_STORE_H
#define BDS_STORE_H

#include <jv.h>
#include <stddef.h>

struct bds_store;

/* Results of a lookup. Every status but FOUND and ABSENT has its message recorded
 * (bds_util_error), naming the file, path or URL concerned. */
enum bds_store_status {
	BDS_STORE_ERROR = -1,      /* configuration (credentials, HTTP 4xx), local I/O or a bug */
	BDS_STORE_FOUND = 0,       /* verified copy in the cache */
	BDS_STORE_ABSENT = 1,      /* no metadata.json: no entry */
	BDS_STORE_INVALID = 2,     /* the entry exists but fails verification */
	BDS_STORE_UNAVAILABLE = 3, /* unreachable, timed out, or a server error (5xx) */
};

/* Parses STORE: "/abs/dir", "file:///abs/dir", "http(s)://host[:port]/path",
 * "s3://bucket[/prefix]". Only the syntax is checked (nothing is contacted), so a NULL
 * return (error recorded) is a usage error. */
struct bds_store *bds_store_open(const char *spec);
void bds_store_close(struct bds_store *s);

/* Fetches entry (fp, base) into <cache_dir>/<fp>/<base>/ and verifies the size and
 * XXH3-128 of every file metadata.json lists; `driver` (NULL: any) must match too.
 * FOUND: *dir (absolute, malloc'd) holds the verified files and *metadata the parsed
 * metadata.json. A cached copy is reused only when its metadata.json is byte-identical to
 * the store's and its files verify again. The copy's last use is stamped and our parent
 * recorded as its user (cache.h); with BDS_CACHE_MAX set, a fetch that adds a copy then
 * evicts copies not in use (a bad BDS_CACHE_MAX: ERROR). An entry whose metadata.json
 * vanished while its files were read (pruned) is ABSENT.
 * `lazy` (NULL: none) names a file a lazy restore fetches itself (store.md 4.3): when it is
 * chunked (format 2), it is left out of the copy and *left is set (else 0); a copy made by
 * an earlier lazy lookup, which lacks it, is reused only by a lazy lookup. */
int bds_store_fetch(struct bds_store *s, const char *fp, const char *base, const char *driver,
                    const char *cache_dir, const char *lazy, char **dir, jv *metadata, int *left);

/* Publishes every regular file of `dir` (which must hold base_hashes.json) as entry
 * (fp, base), metadata.json last, replacing an existing entry. Consumes driver_state.
 * `format` 1: every file stored whole under the entry; 2: every file but
 * base_hashes.json as content-defined chunks under <store>/chunks/, uploading only those
 * the store lacks, with one line per file on stderr saying how much was uploaded.
 * Returns 0, or -1 with the error recorded. */
#define BDS_STORE_FORMAT_DEFAULT 2
int bds_store_publish(struct bds_store *s, const char *dir, const char *fp, const char *base,
                      const char *driver, jv driver_state, int format);

/* ---- retention (bds-prune) ---- */

/* An entry found by bds_store_list: its fingerprint and base. */
struct bds_store_entry {
	char fp[33], base[41];
	double changed; /* when the store last changed its files (seconds since the epoch), 0: unknown */
};

/* Lists the entries of the store (of fingerprint `fp` only, unless NULL): every
 * <fingerprint>/<base> that may hold a metadata.json (the caller reads it with
 * bds_store_read_metadata; a listed name without one is no entry). Sorted by fingerprint,
 * then base. Returns a bds_store_status: FOUND (*out malloc'd, *n set), UNAVAILABLE or
 * ERROR (recorded). How each backend lists: the file store reads its directories; S3 uses
 * ListObjectsV2 (every page, by continuation token); HTTP reads nginx's autoindex in JSON
 * (`autoindex on; autoindex_format json;`), which every nginx build has, needs no extra
 * module or XML, and, unlike an index object maintained by publishers, loses no entry
 * when two publish at once. */
int bds_store_list(struct bds_store *s, const char *fp, struct bds_store_entry **out, size_t *n);

/* A listed entry without metadata.json is a publish under way, or what a killed publish
 * or prune left: it is removed once its files have not changed for this long (a day:
 * longer than any one file's upload). */
#define BDS_STORE_LEFTOVER_GRACE (24 * 3600.0)

/* Reads and parses the metadata.json of entry (fp, base), checked as a lookup checks it
 * (any driver). A bds_store_status: FOUND (*metadata set), ABSENT, INVALID (recorded),
 * UNAVAILABLE or ERROR. */
int bds_store_read_metadata(struct bds_store *s, const char *fp, const char *base, jv *metadata);

/* Removes entry (fp, base). Its commit marker goes first, so a lookup starting later
 * finds no entry, and one that read metadata.json before fails verification of a missing
 * file, re-reads metadata.json, finds none and takes the entry as absent: never a mixed
 * or partial entry (every file is checked against the XXH3-128 that metadata.json lists).
 * The file store renames the directory away in one step, then deletes it. 0, or -1
 * (recorded). */
int bds_store_remove(struct bds_store *s, const char *fp, const char *base);

/* Deletes the chunks (<store>/chunks/, store.md 4) that no entry's metadata.json
 * references and that have not been written for `grace` seconds: a publish writes its
 * chunks before its metadata.json, and writes again any old chunk it reuses
 * (BDS_STORE_CHUNK_REFRESH), so a chunk of a publish under way is always younger. Every
 * entry of every fingerprint is read; one that cannot be read (INVALID: a newer format,
 * damage) stops the collection before anything is deleted. dry_run: only counts. A
 * bds_store_status: FOUND (*deleted, *kept set), INVALID, UNAVAILABLE or ERROR (recorded). */
int bds_store_collect_chunks(struct bds_store *s, double grace, int dry_run, size_t *deleted, size_t *kept);

/* Is the entry to restore whole? Every file its metadata names (env.snapshot.metadata.
 * files, with `need`, NULL-terminated, among them) is in env.snapshot.dir, a regular file
 * of the recorded size. Checked before a restore starts anything, which then opens the
 * entry's files read-only and never writes them. A file env.snapshot.lazy names (left to
 * a lazy restore, which checks its chunks as they come) is not looked for. Consumes env. 0: whole; 1: it is not
 * (reason recorded: the restore is cold); -1: the envelope has no such snapshot (recorded). */
int bds_store_entry_check(jv env, const char *const need[]);

/* Seconds since the epoch of a UTC time as stores and publish write it:
 * "2026-12-01T03:22:36Z" (metadata.json's created_at), "2026-12-01T03:22:36.000Z" (S3),
 * "Tue, 01 Dec 2026 03:22:36 GMT" (HTTP, nginx's autoindex). -1: none of these. */
double bds_store_parse_time(const char *s);

#endif

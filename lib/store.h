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
 * the store's and its files verify again. */
int bds_store_fetch(struct bds_store *s, const char *fp, const char *base, const char *driver,
                    const char *cache_dir, char **dir, jv *metadata);

/* Publishes every regular file of `dir` (which must hold base_hashes.json) as entry
 * (fp, base), metadata.json last, replacing an existing entry. Consumes driver_state.
 * Returns 0, or -1 with the error recorded. */
int bds_store_publish(struct bds_store *s, const char *dir, const char *fp, const char *base,
                      const char *driver, jv driver_state);

/* Is s[0..n) n lowercase hex digits? (fingerprints are 32, commit shas 40) */
int bds_store_is_hex(const char *s, size_t n);

#endif

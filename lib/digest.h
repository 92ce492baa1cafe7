/* digest: SHA-256 (OpenSSL libcrypto), bazel-diff's two-digest TargetDigest, and the
 * XXH3-128 of bds's own keys. */
#ifndef BDS_DIGEST_H
#define BDS_DIGEST_H

#include <stddef.h>

#define BDS_SHA256_LEN 32

struct bds_sha256 {
	void *ctx; /* EVP_MD_CTX */
};

/* init returns 0, or -1 with the error recorded (libcrypto could not provide SHA-256). */
int bds_sha256_init(struct bds_sha256 *h);
void bds_sha256_update(struct bds_sha256 *h, const void *data, size_t len);
/* Writes the digest and resets the context for reuse. */
void bds_sha256_final(struct bds_sha256 *h, unsigned char out[BDS_SHA256_LEN]);
void bds_sha256_free(struct bds_sha256 *h);
/* One-shot digest of a buffer. */
void bds_sha256_buf(const void *data, size_t len, unsigned char out[BDS_SHA256_LEN]);

/* bazel-diff's TargetDigest.finish(): overall = SHA256(overall of each dependency, in input
 * order || direct). No separators or lengths anywhere. (direct is a plain SHA-256 over the
 * target's own bytes, so it needs no helper.) `h` is a reusable context. */
void bds_digest_overall(struct bds_sha256 *h, const unsigned char *const deps[], size_t n,
                        const unsigned char direct[BDS_SHA256_LEN], unsigned char out[BDS_SHA256_LEN]);

/* Lowercase hex of `len` bytes into out (2*len+1 bytes, NUL-terminated). */
void bds_digest_hex(const unsigned char *bytes, size_t len, char *out);

/* XXH3-128 in canonical hex (high 64 bits first, 32 lowercase digits) of a buffer, and of
 * what fd reads to its end, streamed (a Bazel binary, an option file: never whole in
 * memory). The fd form returns 0, or -1 with the error recorded, naming `what`. */
void bds_digest_xxh128(const void *data, size_t len, char out[33]);
int bds_digest_xxh128_fd(int fd, const char *what, char out[33]);

/* XXH3-128 of bytes given piece by piece (what a writer writes, as it writes it): start,
 * add each piece, finish (which frees the stream) into canonical hex as above. */
struct bds_xxh128_stream;
struct bds_xxh128_stream *bds_digest_xxh128_start(void);
void bds_digest_xxh128_add(struct bds_xxh128_stream *s, const void *data, size_t len);
void bds_digest_xxh128_finish(struct bds_xxh128_stream *s, char out[33]);

#endif

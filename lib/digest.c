/* digest: SHA-256 (OpenSSL libcrypto), bazel-diff's two-digest TargetDigest, and the
 * XXH3-128 of bds's own keys. */
#include "digest.h"

#include "util.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Fetching the algorithm once avoids OpenSSL 3's per-init implicit fetch, which costs
 * more than hashing a short label. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int bds_sha256_init(struct bds_sha256 *h)
{
	pthread_once(&sha256_once, fetch_sha256);
	h->ctx = NULL;
	if (!sha256_md)
		return bds_util_fail("libcrypto: SHA-256 is not available");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, sha256_md, NULL)) {
		EVP_MD_CTX_free(ctx);
		return bds_util_fail("libcrypto: cannot initialise SHA-256");
	}
	h->ctx = ctx;
	return 0;
}

void bds_sha256_update(struct bds_sha256 *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void bds_sha256_final(struct bds_sha256 *h, unsigned char out[BDS_SHA256_LEN])
{
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, out, &n);
	EVP_DigestInit_ex(h->ctx, sha256_md, NULL);
}

void bds_sha256_free(struct bds_sha256 *h)
{
	if (h && h->ctx) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
	}
}

void bds_sha256_buf(const void *data, size_t len, unsigned char out[BDS_SHA256_LEN])
{
	struct bds_sha256 h;
	if (bds_sha256_init(&h) < 0)
		abort(); /* libcrypto without SHA-256 cannot produce any bds answer */
	bds_sha256_update(&h, data, len);
	bds_sha256_final(&h, out);
	bds_sha256_free(&h);
}

void bds_digest_overall(struct bds_sha256 *h, const unsigned char *const deps[], size_t n,
                        const unsigned char direct[BDS_SHA256_LEN], unsigned char out[BDS_SHA256_LEN])
{
	for (size_t i = 0; i < n; i++)
		bds_sha256_update(h, deps[i], BDS_SHA256_LEN);
	bds_sha256_update(h, direct, BDS_SHA256_LEN);
	bds_sha256_final(h, out);
}

void bds_digest_hex(const unsigned char *bytes, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[bytes[i] >> 4];
		out[2 * i + 1] = hex[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

static void xxh128_hex(XXH128_hash_t h, char out[33])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	bds_digest_hex(c.digest, sizeof c.digest, out);
}

void bds_digest_xxh128(const void *data, size_t len, char out[33])
{
	xxh128_hex(XXH3_128bits(data, len), out);
}

static int xxh128_chunk(void *stream, const char *buf, size_t n)
{
	bds_digest_xxh128_add(stream, buf, n);
	return 0;
}

struct bds_xxh128_stream *bds_digest_xxh128_start(void)
{
	XXH3_state_t *state = XXH3_createState();
	if (!state)
		abort(); /* out of memory, as the x* allocators treat it */
	XXH3_128bits_reset(state);
	return (struct bds_xxh128_stream *)state;
}

void bds_digest_xxh128_add(struct bds_xxh128_stream *s, const void *data, size_t len)
{
	XXH3_128bits_update((XXH3_state_t *)s, data, len);
}

void bds_digest_xxh128_finish(struct bds_xxh128_stream *s, char out[33])
{
	xxh128_hex(XXH3_128bits_digest((XXH3_state_t *)s), out);
	XXH3_freeState((XXH3_state_t *)s);
}

int bds_digest_xxh128_fd(int fd, const char *what, char out[33])
{
	struct bds_xxh128_stream *stream = bds_digest_xxh128_start();
	int rc = bds_util_read_chunks(fd, what, (size_t)128 << 10, xxh128_chunk, stream);
	char hex[33];
	bds_digest_xxh128_finish(stream, hex); /* frees the stream either way */
	if (rc == 0)
		memcpy(out, hex, sizeof hex);
	return rc;
}

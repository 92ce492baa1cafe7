/* fingerprint: the cache key of everything that can change the query graph or the
 * validity of a warm machine (DESIGN.md "The fingerprint"). */
#ifndef BDS_FINGERPRINT_H
#define BDS_FINGERPRINT_H

#include <jv.h>

struct bds_fingerprint_input {
	const char *workspace; /* absolute */
	const char *rev;       /* read workspace files at this commit; NULL: the working tree */
	const char *bazel;     /* the Bazel command */
	const char *driver;
	char **hash_options;   /* bds-hash options as given (NULL-terminated) */
};

/* {"key": "<XXH3-128 hex>", "components": {...}}; invalid with a message on failure.
 * `hash_options` receives the canonical option list (an array). */
jv bds_fingerprint_compute(const struct bds_fingerprint_input *in, jv *hash_options);

/* Canonical XXH3-128 hex (high 64 bits first) of a buffer. */
void bds_fingerprint_xxh128_hex(const void *data, size_t len, char out[33]);

#endif

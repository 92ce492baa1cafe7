/* fingerprint: the cache key of everything that can change the query graph or the
 * validity of a warm machine (bds-fingerprint(1)). */
#ifndef BDS_FINGERPRINT_H
#define BDS_FINGERPRINT_H

#include <jv.h>

struct bds_fingerprint_input {
	const char *workspace; /* absolute */
	const char *rev;       /* read workspace files at this commit; NULL: the working tree */
	const char *bazel;     /* the Bazel command */
	const char *driver;
	/* Bazel's startup options and the query's command options (-so, -co), one word each, in
	 * the order Bazel receives them */
	char *const *startup;
	size_t nstartup;
	char *const *command;
	size_t ncommand;
};

/* The startup option `word` names when bds may not take it from the user (one that would
 * break or replace the warm state, such as bds's own --output_base), else NULL. */
const char *bds_fingerprint_refused_startup(const char *word);

/* {"key": "<XXH3-128 hex>", "components": {...}} for hash options in their canonical form
 * (bds_hash_args_canonical; consumed); invalid with a message on failure. */
jv bds_fingerprint_compute(const struct bds_fingerprint_input *in, jv hash_options);

#endif

/* envelope: the JSON object every pipeline stage reads on stdin and writes on stdout. */
#ifndef BDS_ENVELOPE_H
#define BDS_ENVELOPE_H

#include <jv.h>
#include <stdio.h>

enum bds_envelope_state {
	BDS_ENVELOPE_PROCEED, /* valid, not cold: the stage does its work */
	BDS_ENVELOPE_COLD,    /* cold: already written through to `out` unchanged */
	BDS_ENVELOPE_ERROR,   /* empty or invalid input, or a failed write: error recorded */
};

/* Reads exactly one JSON object from `in` (at most BDS_ENVELOPE_MAX bytes). Empty input
 * is an error (the upstream stage failed), never cold; so is a string anywhere in it, key
 * or value, that holds a NUL byte, whether or not a stage reads it, and a `cold` key
 * whose value is not a cold object (bds_envelope_cold). Returns the object, or an invalid
 * jv with a message. */
jv bds_envelope_read(FILE *in);

/* Reads the envelope; if it is cold, writes it through to `out` unchanged.
 * On PROCEED `*env` owns the envelope; otherwise `*env` is jv_null(). */
enum bds_envelope_state bds_envelope_begin(FILE *in, FILE *out, jv *env);

/* Is the envelope cold? Cold is a `cold` key holding an object with a string `stage`
 * and a string `reason` (other keys allowed); no `cold` key is not cold; anything else
 * under `cold` (null, false, a string, an object without them) is a malformed envelope.
 * 1 cold, 0 not, -1 malformed (error recorded). Consumes `env`. */
int bds_envelope_cold(jv env);

/* Adds {"cold": {"stage": stage, "reason": reason}}. Consumes `env`. */
jv bds_envelope_set_cold(jv env, const char *stage, const char *reason);

/* Writes one line, keys sorted. Consumes `env`. Returns 0 or -1 (error recorded). */
int bds_envelope_write(FILE *out, jv env);

#endif

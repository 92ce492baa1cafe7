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

/* Reads the envelope; if it is cold, writes it through to `out` unchanged.
 * On PROCEED `*env` owns the envelope; otherwise `*env` is jv_null(). */
enum bds_envelope_state bds_envelope_begin(FILE *in, FILE *out, jv *env);

/* Adds {"cold": {"stage": stage, "reason": reason}}. Consumes `env`. */
jv bds_envelope_set_cold(jv env, const char *stage, const char *reason);

/* Writes one line, keys sorted. Consumes `env`. Returns 0 or -1 (error recorded). */
int bds_envelope_write(FILE *out, jv env);

#endif

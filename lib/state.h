/* state: the graph state of one hashed revision (docs/algorithm.md 6.1): every target's
 * hashes and dependency edges, and an index from what a target's hash reads (paths,
 * packages) to the targets, so that a later revision can be hashed from the change
 * alone (plan.c, bds_hash_graph with stubs). Written by `bds-hash --state-out` after a
 * full hashing run, read by bds-plan and `bds-hash --incremental`. */
#ifndef BDS_STATE_H
#define BDS_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "digest.h"

/* Target flags in a state file. */
enum {
	BDS_STATE_HAS_STACK = 1, /* a rule with an instantiation stack */
	BDS_STATE_ALWAYS = 2,    /* a rule with an --always-affected-tags tag: hashed anew every run */
	BDS_STATE_OUTSIDE = 4,   /* reads a path outside the workspace: re-hashed every run */
};

struct bds_state_target {
	const char *name;
	uint32_t name_len;
	uint8_t type;  /* enum bds_target_type */
	uint8_t flags; /* BDS_STATE_* */
	const unsigned char *overall, *direct;
	const unsigned char *source; /* source files: the raw digest; else NULL */
	uint32_t n_deps;
	const unsigned char *deps; /* n_deps little-endian u32 target indexes, in input order */
};

struct bds_state {
	const unsigned char *buf; /* the file, mapped */
	size_t len;
	int has_stacks;                     /* some rule of the revision had a stack */
	unsigned char seed[BDS_SHA256_LEN]; /* bds_hash_state_key: the seed and options it was hashed with */
	char commit[41];                    /* the revision, as the caller named it */
	const char *output_key;             /* bds_hash_output_key of the hashes written with it ("": unknown) */
	uint32_t output_key_len;
	struct bds_state_target *targets;
	size_t count;
	const unsigned char **keys; /* sorted key records: u32 len, key, u32 n, n u32 indexes */
	size_t n_keys;
};

/* Reads a state file. 0, or -1 with the error recorded (unreadable, truncated, not a
 * state file, an index out of range). */
int bds_state_read(const char *path, struct bds_state *s);
void bds_state_free(struct bds_state *s);

/* The targets recorded under `key` ("r:<path>", "k:<package>"): their count, and *idx
 * pointing to that many little-endian u32 indexes. 0 when the key is absent. */
uint32_t bds_state_lookup(const struct bds_state *s, const char *key, size_t n, const unsigned char **idx);

/* The index of the first key not below `key` (s->n_keys when none); the key at index i
 * and its targets (count returned, *idx as for bds_state_lookup). For prefix scans. */
size_t bds_state_lower_bound(const struct bds_state *s, const char *key, size_t n);
uint32_t bds_state_key_at(const struct bds_state *s, size_t i, const char **key, size_t *n, const unsigned char **idx);

static inline uint32_t bds_state_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* --- writing -------------------------------------------------------------------------- */

struct bds_state_writer;

/* Starts a state of `count` targets for revision `commit`, written with the hashes file
 * that `output_key` names (bds_hash_output_key; "" for none). */
struct bds_state_writer *bds_state_writer_new(size_t count, int has_stacks, const unsigned char seed[BDS_SHA256_LEN],
                                              const char *commit, const char *output_key);
/* Target `index` (0, 1, ... in order): deps are target indexes of the same state. */
void bds_state_writer_target(struct bds_state_writer *w, const struct bds_state_target *t, const int32_t *deps);
/* Records that target `index` reads or depends on `key`. */
void bds_state_writer_key(struct bds_state_writer *w, const char *key, size_t n, int32_t index);
/* Writes everything to f and frees w. 0, or -1 with the error recorded. */
int bds_state_writer_finish(struct bds_state_writer *w, FILE *f);
void bds_state_writer_free(struct bds_state_writer *w);

#endif

/* graph: the targets of a `bazel query --output=streamed_proto` stream, indexed by label.
 * Messages stay in the stream's blocks; targets point into them (zero-copy). */
#ifndef BDS_GRAPH_H
#define BDS_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

enum bds_target_type {
	BDS_TARGET_RULE = 1,
	BDS_TARGET_SOURCE_FILE = 2,
	BDS_TARGET_GENERATED_FILE = 3,
};

struct bds_target {
	const uint8_t *msg; /* the Rule / SourceFile / GeneratedFile sub-message */
	size_t len;
	uint64_t offset; /* stream offset of msg, for error messages */
	const char *name;
	uint32_t name_len;
	uint8_t type;
	uint8_t state;   /* hashing progress, owned by hash.c */
	uint8_t stub;    /* from a graph state (incremental.c): no message; hashes and deps known */
	uint8_t changed; /* overall differs from the state's (or may): set by hash.c */
	uint8_t flags;   /* stubs: the state's BDS_STATE_* flags */
	int32_t rule;    /* the rule whose hashes this target carries (itself for a rule) */
	const char *generating_rule; /* generated files */
	uint32_t generating_rule_len;
	int32_t *deps;   /* dep edges (target indexes), when tracked */
	uint32_t n_deps;
	unsigned char source_digest[BDS_SHA256_LEN]; /* source files: the raw file digest */
	unsigned char overall[BDS_SHA256_LEN];
	unsigned char direct[BDS_SHA256_LEN];
};

struct bds_graph_slot {
	uint32_t hash;  /* high bits of the label's XXH3 */
	int32_t target; /* -1: empty */
};

struct bds_graph {
	struct bds_target *targets;
	size_t count, cap;
	struct bds_graph_slot *index; /* open addressing over labels */
	size_t index_cap;
	int has_instantiation_stacks;
	int sources_hashed; /* source_digest is set for every source file */
	size_t dropped_groups; /* package and environment groups, dropped as bazel-diff does */
	size_t duplicates;     /* repeated labels; the first occurrence wins */
	size_t rehashed;       /* rules whose overall was computed (all but unchanged stubs) */
	uint64_t bytes;
	struct bds_proto_stream *stream;
};

/* Room for n targets in all, so that adding them (stubs of a state) neither moves the
 * targets nor rebuilds the index again and again. */
void bds_graph_reserve(struct bds_graph *g, size_t n);

/* Reads the whole stream from fd, calling on_target (may be NULL) for every target kept,
 * as it arrives. Returns 0, or -1 with the error recorded. */
int bds_graph_read(struct bds_graph *g, int fd, const char *what,
                   void (*on_target)(void *arg, const struct bds_graph *g, int32_t index), void *arg);
/* Builds a graph over an in-memory stream (used by the fuzzer and unit tests); the buffer
 * must outlive the graph. */
int bds_graph_parse_buffer(struct bds_graph *g, const uint8_t *data, size_t len);
/* Index of the target labelled `name`, or -1. */
int32_t bds_graph_find(const struct bds_graph *g, const char *name, size_t n);
/* Adds a target with no message (a stub from a graph state) labelled name, which must
 * outlive the graph; its index, or -1 when the label is already there. */
int32_t bds_graph_add_stub(struct bds_graph *g, int type, const char *name, uint32_t name_len);
/* Points every generated file at its generating rule; -1 if one is missing. */
int bds_graph_link(struct bds_graph *g);
void bds_graph_free(struct bds_graph *g);

const char *bds_target_type_name(int type);

#endif

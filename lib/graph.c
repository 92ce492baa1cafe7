/* graph: the targets of a `bazel query --output=streamed_proto` stream, indexed by label. */
#include "graph.h"

#include "proto.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* A Target message is a few KB; a corrupt length prefix must not make us allocate GBs. */
#define MAX_TARGET_MESSAGE ((size_t)256 << 20)

const char *bds_target_type_name(int type)
{
	switch (type) {
	case BDS_TARGET_RULE:
		return "Rule";
	case BDS_TARGET_SOURCE_FILE:
		return "SourceFile";
	case BDS_TARGET_GENERATED_FILE:
		return "GeneratedFile";
	}
	return "Unknown";
}

/* Index slots keep the label's hash beside the target, so a probe rarely touches the
 * (cache-cold) target itself. */
static void index_insert(struct bds_graph_slot *index, size_t cap, const struct bds_target *targets, int32_t i)
{
	uint64_t h = XXH3_64bits(targets[i].name, targets[i].name_len);
	size_t at = (size_t)h & (cap - 1);
	while (index[at].target >= 0)
		at = (at + 1) & (cap - 1);
	index[at].hash = (uint32_t)(h >> 32);
	index[at].target = i;
}

/* The index rebuilt with `cap` slots (a power of two). */
static void index_resize(struct bds_graph *g, size_t cap)
{
	struct bds_graph_slot *index = bds_util_xmalloc(cap * sizeof *index);
	memset(index, 0xff, cap * sizeof *index);
	for (size_t i = 0; i < g->count; i++)
		index_insert(index, cap, g->targets, (int32_t)i);
	free(g->index);
	g->index = index;
	g->index_cap = cap;
}

static void index_grow(struct bds_graph *g)
{
	index_resize(g, g->index_cap ? g->index_cap * 2 : 1024);
}

void bds_graph_reserve(struct bds_graph *g, size_t n)
{
	if (n > g->cap) {
		g->cap = n;
		g->targets = bds_util_xrealloc(g->targets, g->cap * sizeof *g->targets);
	}
	size_t cap = g->index_cap ? g->index_cap : 1024;
	while (cap < n * 2)
		cap *= 2;
	if (cap > g->index_cap)
		index_resize(g, cap);
}

int32_t bds_graph_find(const struct bds_graph *g, const char *name, size_t n)
{
	if (!g->index_cap)
		return -1;
	uint64_t h = XXH3_64bits(name, n);
	uint32_t tag = (uint32_t)(h >> 32);
	size_t at = (size_t)h & (g->index_cap - 1);
	for (;;) {
		int32_t i = g->index[at].target;
		if (i < 0)
			return -1;
		if (g->index[at].hash == tag) {
			const struct bds_target *t = &g->targets[i];
			if (t->name_len == n && memcmp(t->name, name, n) == 0)
				return i;
		}
		at = (at + 1) & (g->index_cap - 1);
	}
}

/* Reads the fields of a target body that ingestion needs: name, generating rule, and
 * whether a rule has an instantiation stack. */
static int scan_body(struct bds_target *t, int *has_stack)
{
	struct bds_proto_reader r;
	struct bds_proto_field f;
	int rc;
	bds_proto_reader_init(&r, t->msg, t->len, t->offset);
	while ((rc = bds_proto_next(&r, &f)) > 0) {
		if (f.wire != BDS_PROTO_LEN)
			continue;
		if (f.number == 1) {
			t->name = (const char *)f.data;
			t->name_len = (uint32_t)f.len;
		} else if (f.number == 2 && t->type == BDS_TARGET_GENERATED_FILE) {
			t->generating_rule = (const char *)f.data;
			t->generating_rule_len = (uint32_t)f.len;
		} else if (f.number == 13 && t->type == BDS_TARGET_RULE) {
			*has_stack = 1;
		}
	}
	if (rc < 0)
		return -1;
	if (!t->name)
		return bds_util_fail("malformed target at byte %llu: no name", (unsigned long long)t->offset);
	if (t->type == BDS_TARGET_GENERATED_FILE && !t->generating_rule)
		return bds_util_fail("malformed target '%.*s' at byte %llu: generated file without generating rule",
		                     (int)t->name_len, t->name, (unsigned long long)t->offset);
	return 0;
}

/* Adds one Target message. */
static int add_target(struct bds_graph *g, const uint8_t *msg, size_t len, uint64_t offset)
{
	struct bds_proto_reader r;
	struct bds_proto_field f;
	uint64_t type = 0;
	struct bds_proto_field bodies[5] = {{0}}; /* rule=2, source_file=3, generated_file=4 */
	uint64_t body_offsets[5] = {0};
	int rc;
	bds_proto_reader_init(&r, msg, len, offset);
	while ((rc = bds_proto_next(&r, &f)) > 0) {
		if (f.number == 1 && f.wire == BDS_PROTO_VARINT) {
			type = f.varint;
		} else if (f.number >= 2 && f.number <= 4 && f.wire == BDS_PROTO_LEN) {
			bodies[f.number] = f;
			body_offsets[f.number] = bds_proto_offset(&r, f.data);
		}
	}
	if (rc < 0)
		return -1;
	if (type == 4 || type == 5) {
		g->dropped_groups++;
		return 0;
	}
	if (type < 1 || type > 3)
		return bds_util_fail("malformed target at byte %llu: unknown target type %llu",
		                     (unsigned long long)offset, (unsigned long long)type);
	const uint8_t *body = bodies[type + 1].data;
	if (!body)
		return bds_util_fail("malformed target at byte %llu: %s without its message",
		                     (unsigned long long)offset, bds_target_type_name((int)type));
	if (g->count == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4096;
		g->targets = bds_util_xrealloc(g->targets, g->cap * sizeof *g->targets);
	}
	struct bds_target *t = &g->targets[g->count];
	memset(t, 0, sizeof *t);
	t->msg = body;
	t->len = bodies[type + 1].len;
	t->offset = body_offsets[type + 1];
	t->type = (uint8_t)type;
	t->rule = -1;
	int has_stack = 0;
	if (scan_body(t, &has_stack) < 0)
		return -1;
	if (bds_graph_find(g, t->name, t->name_len) >= 0) {
		g->duplicates++;
		return 0;
	}
	if (has_stack)
		g->has_instantiation_stacks = 1;
	if ((g->count + 1) * 2 > g->index_cap)
		index_grow(g);
	index_insert(g->index, g->index_cap, g->targets, (int32_t)g->count);
	g->count++;
	return 0;
}

int bds_graph_read(struct bds_graph *g, int fd, const char *what,
                   void (*on_target)(void *arg, const struct bds_graph *g, int32_t index), void *arg)
{
	memset(g, 0, sizeof *g);
	g->stream = bds_proto_stream_open(fd, what, MAX_TARGET_MESSAGE);
	const uint8_t *msg;
	size_t len;
	uint64_t offset;
	int rc;
	while ((rc = bds_proto_stream_next(g->stream, &msg, &len, &offset)) > 0) {
		size_t before = g->count;
		if (add_target(g, msg, len, offset) < 0)
			return -1;
		if (on_target && g->count > before)
			on_target(arg, g, (int32_t)before);
	}
	g->bytes = bds_proto_stream_bytes(g->stream);
	return rc;
}

int bds_graph_parse_buffer(struct bds_graph *g, const uint8_t *data, size_t len)
{
	memset(g, 0, sizeof *g);
	const uint8_t *p = data, *end = data + len;
	while (p < end) {
		uint64_t mlen = 0;
		int shift = 0;
		const uint8_t *at = p;
		for (;;) {
			if (p == end || shift > 63)
				return bds_util_fail("malformed stream at byte %llu: bad length prefix",
				                     (unsigned long long)(at - data));
			uint8_t b = *p++;
			mlen |= (uint64_t)(b & 0x7f) << shift;
			shift += 7;
			if (!(b & 0x80))
				break;
		}
		if (mlen > (uint64_t)(end - p))
			return bds_util_fail("malformed stream at byte %llu: truncated message",
			                     (unsigned long long)(at - data));
		if (add_target(g, p, (size_t)mlen, (uint64_t)(p - data)) < 0)
			return -1;
		p += mlen;
	}
	g->bytes = len;
	return 0;
}

int32_t bds_graph_add_stub(struct bds_graph *g, int type, const char *name, uint32_t name_len)
{
	if (bds_graph_find(g, name, name_len) >= 0)
		return -1;
	if (g->count == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4096;
		g->targets = bds_util_xrealloc(g->targets, g->cap * sizeof *g->targets);
	}
	struct bds_target *t = &g->targets[g->count];
	memset(t, 0, sizeof *t);
	t->name = name;
	t->name_len = name_len;
	t->type = (uint8_t)type;
	t->rule = -1;
	t->stub = 1;
	if ((g->count + 1) * 2 > g->index_cap)
		index_grow(g);
	index_insert(g->index, g->index_cap, g->targets, (int32_t)g->count);
	return (int32_t)g->count++;
}

int bds_graph_link(struct bds_graph *g)
{
	for (size_t i = 0; i < g->count; i++) {
		struct bds_target *t = &g->targets[i];
		if (t->type == BDS_TARGET_RULE) {
			t->rule = (int32_t)i;
		} else if (t->type == BDS_TARGET_GENERATED_FILE) {
			int32_t r = bds_graph_find(g, t->generating_rule, t->generating_rule_len);
			if (r < 0 || g->targets[r].type != BDS_TARGET_RULE)
				return bds_util_fail("not possible to traverse the build graph: generated file '%.*s' "
				                     "has no generating rule '%.*s' in the query output",
				                     (int)t->name_len, t->name, (int)t->generating_rule_len,
				                     t->generating_rule);
			t->rule = r;
		}
	}
	return 0;
}

void bds_graph_free(struct bds_graph *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->count; i++)
		free(g->targets[i].deps);
	free(g->targets);
	free(g->index);
	bds_proto_stream_free(g->stream);
	memset(g, 0, sizeof *g);
}

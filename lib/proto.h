/* proto: a small zero-copy protobuf wire-format decoder and a reader of varint-delimited
 * message streams (`bazel query --output=streamed_proto`).
 *
 * Field numbers of Bazel's build.proto (package blaze_query) that bds reads:
 *   Target:        type=1 (RULE=1 SOURCE_FILE=2 GENERATED_FILE=3 PACKAGE_GROUP=4
 *                  ENVIRONMENT_GROUP=5), rule=2, source_file=3, generated_file=4
 *   Rule:          name=1, rule_class=2, attribute=4, rule_input=5,
 *                  skylark_environment_hash_code=12, instantiation_stack=13
 *   Attribute:     name=1, string_list_value=6 (and every field, through proto-canon.h)
 *   SourceFile:    name=1, subinclude=3
 *   GeneratedFile: name=1, generating_rule=2
 */
#ifndef BDS_PROTO_H
#define BDS_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum {
	BDS_PROTO_VARINT = 0,
	BDS_PROTO_FIXED64 = 1,
	BDS_PROTO_LEN = 2,
	BDS_PROTO_FIXED32 = 5,
};

struct bds_proto_field {
	uint32_t number;
	int wire;
	uint64_t varint;     /* VARINT, FIXED64, FIXED32 */
	const uint8_t *data; /* LEN: payload, zero-copy */
	size_t len;
};

struct bds_proto_reader {
	const uint8_t *start, *p, *end;
	uint64_t base; /* stream offset of `start`, for error messages */
};

/* Decodes the varint at *pp (< end), moving *pp past it: its length in bytes (1 to 10), -1
 * truncated, -2 longer than 10 bytes. Bits past the 64th are dropped, as Java drops them. */
int bds_proto_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out);

void bds_proto_reader_init(struct bds_proto_reader *r, const uint8_t *data, size_t len, uint64_t base);

/* Next field: 1 found, 0 end of message, -1 malformed (error recorded with the byte
 * offset). Groups (wire types 3 and 4) are rejected: build.proto has none. */
int bds_proto_next(struct bds_proto_reader *r, struct bds_proto_field *f);

/* Stream offset of a pointer inside the reader's message. */
uint64_t bds_proto_offset(const struct bds_proto_reader *r, const uint8_t *p);

/* Reads varint-length-delimited messages from a file descriptor as they arrive. The
 * returned messages stay valid until bds_proto_stream_free: they live in large blocks
 * that are never moved, so callers may keep zero-copy pointers into them. */
struct bds_proto_stream;

struct bds_proto_stream *bds_proto_stream_open(int fd, const char *what, size_t max_message);
/* 1 message returned, 0 clean end of stream, -1 error (truncation, bad length, I/O). */
int bds_proto_stream_next(struct bds_proto_stream *s, const uint8_t **msg, size_t *len, uint64_t *offset);
/* Total bytes read so far. */
uint64_t bds_proto_stream_bytes(const struct bds_proto_stream *s);
void bds_proto_stream_free(struct bds_proto_stream *s);

#endif

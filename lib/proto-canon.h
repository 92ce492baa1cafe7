/* proto-canon: a build.proto Attribute re-serialised as bazel-diff's Java code does it
 * (docs/algorithm.md 2.5.1).
 *
 * bazel-diff parses each Attribute with its own compiled build.proto (v37's) and hashes
 * `attribute.toByteArray()`: the Java protobuf runtime writes the fields it knows in field
 * number order, then the ones it does not know (fields of a newer Bazel's build.proto, or a
 * known number with another wire type) sorted by number, and normalises varints, bools,
 * repeated and merged fields on the way. For what Bazel writes (known fields, in number
 * order) that is the bytes as they came; for anything else it is not, and the hash must
 * follow Java's bytes, not the stream's.
 */
#ifndef BDS_PROTO_CANON_H
#define BDS_PROTO_CANON_H

#include <stddef.h>
#include <stdint.h>

/* Scratch space reused across calls (one per thread). Zero-initialise it. */
struct bds_proto_canon {
	struct bds_canon_buf {
		uint8_t *p;
		size_t n, cap;
	} out, level[8], concat[8];
	struct bds_canon_item *items[8];
	size_t items_cap[8];
};

/* The Java bytes of the Attribute message `in`: *res points at `in` itself when it is
 * already in Java's form (the usual case), else into `c`'s scratch (valid until the next
 * call). 0 ok; -1 when Java would refuse the message (malformed, a group, a required
 * field missing), with the error recorded. */
int bds_proto_canon_attribute(struct bds_proto_canon *c, const uint8_t *in, size_t n, const uint8_t **res,
                              size_t *res_len);

void bds_proto_canon_free(struct bds_proto_canon *c);

#endif

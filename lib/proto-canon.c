/* proto-canon: a build.proto Attribute re-serialised as bazel-diff's Java code does it
 * (docs/algorithm.md 2.5.1). */
#include "proto-canon.h"

#include "proto.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

enum kind { K_STRING, K_INT32, K_BOOL, K_ENUM, K_MESSAGE };
enum label { OPTIONAL, REQUIRED, REPEATED };

struct pmsg;

/* One field of bazel-diff v37's build.proto: its number, type and, for an enum, the range
 * of values it defines (every enum there is contiguous). */
struct pfield {
	uint32_t number;
	unsigned char kind, label;
	int32_t enum_min, enum_max;
	const struct pmsg *msg;
	const char *name;
};

struct pmsg {
	const char *name;
	const struct pfield *fields; /* by number */
	size_t n;
};

/* A field as it came: `used` once a known field took it; the others are Java's unknown
 * fields. */
struct bds_canon_item {
	uint32_t number;
	int wire;
	int used;
	uint64_t v;     /* a varint's value; a fixed32/fixed64's little-endian bytes are at data */
	int ambiguous;  /* a varint Java may read two ways as 64 bits (read_varint) */
	int enum_value; /* an enum value the enum does not define, kept as an unknown field */
	const uint8_t *data;
	size_t len;
	size_t seq;
};

enum { W_VARINT = 0, W_FIXED64 = 1, W_LEN = 2, W_FIXED32 = 5 };

/* ---- bazel-diff v37's proto/build.proto: Attribute and the messages it holds ---- */

#define STR(n, nm, l) {n, K_STRING, l, 0, 0, NULL, nm}
#define I32(n, nm) {n, K_INT32, OPTIONAL, 0, 0, NULL, nm}
#define I32S(n, nm) {n, K_INT32, REPEATED, 0, 0, NULL, nm}
#define BOOL(n, nm) {n, K_BOOL, OPTIONAL, 0, 0, NULL, nm}
#define ENUM(n, nm, l, lo, hi) {n, K_ENUM, l, lo, hi, NULL, nm}
#define MSG(n, nm, l, m) {n, K_MESSAGE, l, 0, 0, &m, nm}
#define PMSG(var, nm, arr) static const struct pmsg var = {nm, arr, sizeof arr / sizeof arr[0]}

/* Attribute.Discriminator: INTEGER = 1 .. LABEL_KEYED_STRING_DICT = 21, all defined */
enum { DISCRIMINATOR_MIN = 1, DISCRIMINATOR_MAX = 21 };
/* Attribute.Tristate: NO = 0, YES = 1, AUTO = 2; FilesetEntry.SymlinkBehavior: COPY = 1,
 * DEREFERENCE = 2 */

static const struct pfield license_f[] = {STR(1, "license_type", REPEATED), STR(2, "exception", REPEATED)};
PMSG(license_msg, "License", license_f);

static const struct pfield string_pair_f[] = {STR(1, "key", REQUIRED), STR(2, "value", REQUIRED)};
/* StringDictEntry, LabelDictUnaryEntry and LabelKeyedStringDictEntry have the same fields */
PMSG(string_dict_entry_msg, "StringDictEntry", string_pair_f);
PMSG(label_dict_unary_entry_msg, "LabelDictUnaryEntry", string_pair_f);
PMSG(label_keyed_string_dict_entry_msg, "LabelKeyedStringDictEntry", string_pair_f);

static const struct pfield string_list_pair_f[] = {STR(1, "key", REQUIRED), STR(2, "value", REPEATED)};
PMSG(label_list_dict_entry_msg, "LabelListDictEntry", string_list_pair_f);
PMSG(string_list_dict_entry_msg, "StringListDictEntry", string_list_pair_f);

static const struct pfield fileset_entry_f[] = {
	STR(1, "source", REQUIRED),
	STR(2, "destination_directory", REQUIRED),
	STR(3, "file", REPEATED),
	STR(4, "exclude", REPEATED),
	ENUM(5, "symlink_behavior", OPTIONAL, 1, 2),
	STR(6, "strip_prefix", OPTIONAL),
	BOOL(7, "files_present"),
};
PMSG(fileset_entry_msg, "FilesetEntry", fileset_entry_f);

static const struct pfield selector_entry_f[] = {
	STR(1, "label", OPTIONAL),
	I32(2, "int_value"),
	STR(3, "string_value", OPTIONAL),
	BOOL(4, "boolean_value"),
	ENUM(5, "tristate_value", OPTIONAL, 0, 2),
	STR(6, "string_list_value", REPEATED),
	MSG(7, "license", OPTIONAL, license_msg),
	MSG(8, "string_dict_value", REPEATED, string_dict_entry_msg),
	MSG(9, "fileset_list_value", REPEATED, fileset_entry_msg),
	MSG(10, "label_list_dict_value", REPEATED, label_list_dict_entry_msg),
	MSG(11, "string_list_dict_value", REPEATED, string_list_dict_entry_msg),
	I32S(13, "int_list_value"),
	STR(14, "DEPRECATED_string_dict_unary_value", REPEATED),
	MSG(15, "label_dict_unary_value", REPEATED, label_dict_unary_entry_msg),
	BOOL(16, "is_default_value"),
	MSG(17, "label_keyed_string_dict_value", REPEATED, label_keyed_string_dict_entry_msg),
};
PMSG(selector_entry_msg, "SelectorEntry", selector_entry_f);

static const struct pfield selector_f[] = {
	MSG(1, "entries", REPEATED, selector_entry_msg),
	BOOL(2, "has_default_value"),
	STR(3, "no_match_error", OPTIONAL),
};
PMSG(selector_msg, "Selector", selector_f);

static const struct pfield selector_list_f[] = {
	ENUM(1, "type", OPTIONAL, DISCRIMINATOR_MIN, DISCRIMINATOR_MAX),
	MSG(2, "elements", REPEATED, selector_msg),
};
PMSG(selector_list_msg, "SelectorList", selector_list_f);

static const struct pfield attribute_f[] = {
	STR(1, "name", REQUIRED),
	ENUM(2, "type", REQUIRED, DISCRIMINATOR_MIN, DISCRIMINATOR_MAX),
	I32(3, "int_value"),
	STR(5, "string_value", OPTIONAL),
	STR(6, "string_list_value", REPEATED),
	MSG(7, "license", OPTIONAL, license_msg),
	MSG(8, "string_dict_value", REPEATED, string_dict_entry_msg),
	MSG(9, "fileset_list_value", REPEATED, fileset_entry_msg),
	MSG(10, "label_list_dict_value", REPEATED, label_list_dict_entry_msg),
	MSG(11, "string_list_dict_value", REPEATED, string_list_dict_entry_msg),
	BOOL(13, "explicitly_specified"),
	BOOL(14, "boolean_value"),
	ENUM(15, "tristate_value", OPTIONAL, 0, 2),
	I32S(17, "int_list_value"),
	STR(18, "DEPRECATED_string_dict_unary_value", REPEATED),
	MSG(19, "label_dict_unary_value", REPEATED, label_dict_unary_entry_msg),
	BOOL(20, "nodep"),
	MSG(21, "selector_list", OPTIONAL, selector_list_msg),
	MSG(22, "label_keyed_string_dict_value", REPEATED, label_keyed_string_dict_entry_msg),
	STR(23, "source_aspect_name", OPTIONAL),
};
PMSG(attribute_msg, "Attribute", attribute_f);

enum { MAX_DEPTH = 8 }; /* Attribute > SelectorList > Selector > SelectorEntry > entry: 5 */

/* ---- buffers ---- */

static void buf_put(struct bds_canon_buf *b, const void *data, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n)
			cap *= 2;
		b->p = bds_util_xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void buf_varint(struct bds_canon_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	buf_put(b, tmp, n);
}

static void buf_tag(struct bds_canon_buf *b, uint32_t number, int wire)
{
	buf_varint(b, (uint64_t)((number << 3) | (uint32_t)wire));
}

/* Java writes an int32 (and an enum) sign-extended to 64 bits: a negative one takes 10
 * bytes. Reading one keeps the varint's low 32 bits. */
static uint64_t java_int32(uint64_t v)
{
	return (uint64_t)(int64_t)(int32_t)(uint32_t)v;
}

/* ---- reading ---- */

/* A varint as Java's CodedInputStream reads one: at most 10 bytes, bits past 64 dropped.
 * 0 ok, 1 ok but ambiguous as a 64-bit value, -1 malformed.
 *
 * Ambiguous: 10 bytes whose last is even. Java reads a 64-bit varint (a bool, an unknown
 * field's value) on one of two paths, chosen by where the value falls in its read buffer:
 * the slow one takes bit 63 from the 10th byte, the fast one from the 9th byte's
 * continuation bit, which is 1. An even 10th byte makes them differ, so bazel-diff's
 * answer would depend on buffer offsets, and bds refuses instead of guessing. (Bazel
 * writes no such varint: its longest is a negative int32's, which ends in 0x01.) */
static int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	int len = bds_proto_read_varint(pp, end, out);
	if (len < 0)
		return -1;
	return len == 10 && !((*pp)[-1] & 1);
}

/* Moves *pp past a fixed32 or fixed64 value: 0, or -1 when the message ends first. */
static int skip_fixed(const uint8_t **pp, const uint8_t *end, int wire)
{
	size_t w = wire == W_FIXED64 ? 8 : 4;
	if ((size_t)(end - *pp) < w)
		return -1;
	*pp += w;
	return 0;
}

static int refuse(const struct pmsg *m, const char *why)
{
	return bds_util_fail("protobuf %s: %s (bazel-diff's Java parser refuses it too)", m->name, why);
}

static int ambiguous(const struct pmsg *m, uint32_t number)
{
	return bds_util_fail("protobuf %s: field %u: a 10-byte varint ending in an even byte, which Java reads "
	                     "two ways (ambiguous)",
	                     m->name, (unsigned)number);
}

/* The fields of `in`, in order, into c->items[depth]; their count, or -1. */
static long read_items(struct bds_proto_canon *c, int depth, const struct pmsg *m, const uint8_t *in, size_t n)
{
	const uint8_t *p = in, *end = in + n;
	size_t count = 0;
	while (p < end) {
		uint64_t key;
		if (read_varint(&p, end, &key) < 0)
			return refuse(m, "a truncated or overlong field key");
		uint32_t tag = (uint32_t)key;
		struct bds_canon_item it = {.number = tag >> 3, .wire = (int)(tag & 7), .seq = count};
		if (it.number == 0)
			return refuse(m, "a field number 0");
		switch (it.wire) {
		case W_VARINT: {
			int rc = read_varint(&p, end, &it.v);
			if (rc < 0)
				return refuse(m, "a truncated or overlong varint");
			it.ambiguous = rc;
			break;
		}
		case W_FIXED64:
		case W_FIXED32:
			it.data = p;
			if (skip_fixed(&p, end, it.wire) < 0)
				return refuse(m, "a truncated fixed-width field");
			it.len = (size_t)(p - it.data);
			break;
		case W_LEN: {
			uint64_t len;
			if (read_varint(&p, end, &len) < 0)
				return refuse(m, "a truncated or overlong length");
			/* Java reads a length as an int32: a negative one is an error */
			if ((len & 0xffffffffu) > 0x7fffffffu || (uint32_t)len > (size_t)(end - p))
				return refuse(m, "a length past the message's end");
			it.data = p;
			it.len = (uint32_t)len;
			p += it.len;
			break;
		}
		case 3:
		case 4:
			/* Java would keep a group among the unknown fields; Bazel writes none, and bds
			 * refuses one rather than guess its bytes */
			return bds_util_fail("protobuf %s: a group (wire types 3 and 4): bds does not read groups", m->name);
		default:
			return refuse(m, "an invalid wire type");
		}
		if (count == c->items_cap[depth]) {
			size_t cap = count ? 2 * count : 32;
			c->items[depth] = bds_util_xrealloc(c->items[depth], cap * sizeof *c->items[depth]);
			c->items_cap[depth] = cap;
		}
		c->items[depth][count++] = it;
	}
	return (long)count;
}

/* ---- writing ---- */

static int wire_of(const struct pfield *f)
{
	return f->kind == K_STRING || f->kind == K_MESSAGE ? W_LEN : W_VARINT;
}

static int canon_msg(struct bds_proto_canon *c, const struct pmsg *m, const uint8_t *in, size_t n, int depth,
                     struct bds_canon_buf *out);

/* A sub-message's Java bytes, as a length-delimited field of `out`. */
static int put_message(struct bds_proto_canon *c, const struct pfield *f, const uint8_t *in, size_t n, int depth,
                       struct bds_canon_buf *out)
{
	struct bds_canon_buf *sub = &c->level[depth + 1];
	sub->n = 0;
	if (canon_msg(c, f->msg, in, n, depth + 1, sub) < 0)
		return -1;
	buf_tag(out, f->number, W_LEN);
	buf_varint(out, sub->n);
	buf_put(out, sub->p, sub->n);
	return 0;
}

/* A repeated field: every element in the order it came. A repeated int32 accepts the
 * packed form too and is written unpacked, as build.proto (proto2) declares it. */
static int put_repeated(struct bds_proto_canon *c, const struct pfield *f, size_t count, int depth,
                        struct bds_canon_buf *out)
{
	for (size_t i = 0; i < count; i++) {
		struct bds_canon_item *it = &c->items[depth][i];
		if (it->number != f->number)
			continue;
		if (f->kind == K_INT32 && it->wire == W_LEN) {
			const uint8_t *p = it->data, *end = it->data + it->len;
			while (p < end) {
				uint64_t v;
				if (read_varint(&p, end, &v) < 0)
					return bds_util_fail("protobuf field '%s': a malformed packed list (bazel-diff's Java "
					                     "parser refuses it too)",
					                     f->name);
				buf_tag(out, f->number, W_VARINT);
				buf_varint(out, java_int32(v));
			}
		} else if (it->wire != wire_of(f)) {
			continue;
		} else if (f->kind == K_INT32) {
			buf_tag(out, f->number, W_VARINT);
			buf_varint(out, java_int32(it->v));
		} else if (f->kind == K_MESSAGE) {
			/* the nested message's fields go to the next level's items: `it` stays valid */
			if (put_message(c, f, it->data, it->len, depth, out) < 0)
				return -1;
		} else {
			buf_tag(out, f->number, W_LEN);
			buf_varint(out, it->len);
			buf_put(out, it->data, it->len);
		}
		it->used = 1;
	}
	return 0;
}

static const struct pfield *field_of(const struct pmsg *m, uint32_t number)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->fields[i].number == number)
			return &m->fields[i];
	return NULL;
}

/* 1 when `in` parses as message m down to its last known sub-message (values and required
 * fields aside), as Java's readMessage must parse it; else 0. */
static int well_formed(const struct pmsg *m, const uint8_t *in, size_t n, int depth)
{
	const uint8_t *p = in, *end = in + n;
	if (depth + 1 >= MAX_DEPTH)
		return 0;
	while (p < end) {
		uint64_t key, v;
		if (read_varint(&p, end, &key) < 0 || ((uint32_t)key >> 3) == 0)
			return 0;
		int wire = (int)(key & 7);
		const struct pfield *f = field_of(m, (uint32_t)key >> 3);
		if (wire == W_VARINT) {
			if (read_varint(&p, end, &v) < 0)
				return 0;
		} else if (wire == W_FIXED64 || wire == W_FIXED32) {
			if (skip_fixed(&p, end, wire) < 0)
				return 0;
		} else if (wire == W_LEN) {
			if (read_varint(&p, end, &v) < 0 || (v & 0xffffffffu) > 0x7fffffffu || (uint32_t)v > (size_t)(end - p))
				return 0;
			const uint8_t *q = p, *qend = p + (uint32_t)v;
			if (f && f->kind == K_MESSAGE && !well_formed(f->msg, q, (uint32_t)v, depth + 1))
				return 0;
			if (f && f->kind == K_INT32 && f->label == REPEATED)
				while (q < qend)
					if (read_varint(&q, qend, &v) < 0)
						return 0;
			p = qend;
		} else {
			return 0;
		}
	}
	return 1;
}

/* A singular field: the last occurrence wins, except a message, whose occurrences merge
 * (parsing their concatenation is merging them), and an enum value the enum does not
 * define, which Java keeps among the unknown fields as a sign-extended int32. 1 written,
 * 0 absent, -1 error. */
static int put_singular(struct bds_proto_canon *c, const struct pmsg *m, const struct pfield *f, size_t count,
                        int depth, struct bds_canon_buf *out)
{
	struct bds_canon_item *items = c->items[depth], *last = NULL;
	size_t seen = 0;
	struct bds_canon_buf *cat = &c->concat[depth];
	cat->n = 0;
	for (size_t i = 0; i < count; i++) {
		struct bds_canon_item *it = &items[i];
		if (it->number != f->number || it->wire != wire_of(f))
			continue;
		if (f->kind == K_ENUM) {
			int32_t v = (int32_t)(uint32_t)it->v;
			if (v < f->enum_min || v > f->enum_max) {
				it->v = java_int32(it->v);
				it->enum_value = 1;
				continue;
			}
		}
		it->used = 1;
		last = it;
		seen++;
		if (f->kind == K_MESSAGE)
			buf_put(cat, it->data, it->len);
	}
	if (!last)
		return 0;
	/* a bool is only the value's != 0: the two readings differ when the rest is 0 */
	if (f->kind == K_BOOL && last->ambiguous && last->v == 0)
		return ambiguous(m, f->number);
	/* Java parses each occurrence of a message on its own, then merges: the concatenation
	 * stands for them only when each is a whole message (no field runs into the next) */
	if (f->kind == K_MESSAGE && seen > 1)
		for (size_t i = 0; i < count; i++)
			if (items[i].number == f->number && items[i].wire == W_LEN &&
			    !well_formed(f->msg, items[i].data, items[i].len, depth + 1))
				return refuse(f->msg, "an occurrence that is not a whole message");
	switch (f->kind) {
	case K_MESSAGE:
		/* one occurrence: its own bytes; several: their concatenation */
		if (seen == 1)
			return put_message(c, f, last->data, last->len, depth, out) < 0 ? -1 : 1;
		return put_message(c, f, cat->p, cat->n, depth, out) < 0 ? -1 : 1;
	case K_STRING:
		buf_tag(out, f->number, W_LEN);
		buf_varint(out, last->len);
		buf_put(out, last->data, last->len);
		return 1;
	case K_BOOL:
		buf_tag(out, f->number, W_VARINT);
		buf_varint(out, last->v != 0);
		return 1;
	default: /* K_INT32, K_ENUM */
		buf_tag(out, f->number, W_VARINT);
		buf_varint(out, java_int32(last->v));
		return 1;
	}
}

/* Java's UnknownFieldSet writes by field number, and within one number the varints, then
 * fixed32s, fixed64s and length-delimited values, each in the order they came. */
static int wire_rank(int wire)
{
	switch (wire) {
	case W_VARINT:
		return 0;
	case W_FIXED32:
		return 1;
	case W_FIXED64:
		return 2;
	default:
		return 3;
	}
}

static int unknown_cmp(const void *a, const void *b)
{
	const struct bds_canon_item *x = a, *y = b;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	if (wire_rank(x->wire) != wire_rank(y->wire))
		return wire_rank(x->wire) < wire_rank(y->wire) ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int put_unknown(const struct pmsg *m, struct bds_canon_item *items, size_t count, struct bds_canon_buf *out)
{
	size_t k = 0;
	for (size_t i = 0; i < count; i++)
		if (!items[i].used) {
			/* an unknown enum value was read as an int32: never ambiguous */
			if (items[i].ambiguous && items[i].wire == W_VARINT && !items[i].enum_value)
				return ambiguous(m, items[i].number);
			items[k++] = items[i];
		}
	if (k > 1)
		qsort(items, k, sizeof *items, unknown_cmp);
	for (size_t i = 0; i < k; i++) {
		buf_tag(out, items[i].number, items[i].wire);
		if (items[i].wire == W_VARINT) {
			buf_varint(out, items[i].v);
		} else if (items[i].wire == W_LEN) {
			buf_varint(out, items[i].len);
			buf_put(out, items[i].data, items[i].len);
		} else {
			buf_put(out, items[i].data, items[i].len);
		}
	}
	return 0;
}

/* ---- the fast path: is the message already in Java's form? ---- */

/* A varint at *pp in its shortest form; its value and length. 0 yes, -1 no (or malformed:
 * canon_msg says which). The shortest form ends in a non-zero byte, and a 10-byte one in
 * 0x01 (more would be bits past 64). */
static int short_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out, int *len)
{
	*len = bds_proto_read_varint(pp, end, out);
	if (*len < 0)
		return -1;
	uint8_t last = (*pp)[-1];
	return *len == 1 || (last != 0 && (*len < 10 || last == 1)) ? 0 : -1;
}

/* 1 when `in` is exactly what canon_msg would write for it (known fields by number, each
 * singular one once, in shortest form with Java's values, required ones there, unknown
 * ones after them in Java's order), else 0, also for anything canon_msg refuses. What
 * Bazel writes passes here, so the usual attribute is checked without being copied. */
static int in_java_form(const struct pmsg *m, const uint8_t *in, size_t n, int depth)
{
	const uint8_t *p = in, *end = in + n;
	const struct pfield *last = NULL;
	uint32_t unknown_number = 0;
	int unknown_rank = -1, len;
	unsigned required_seen = 0, required_all = 0;
	if (depth + 1 >= MAX_DEPTH)
		return 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->fields[i].label == REQUIRED)
			required_all |= 1u << i;
	while (p < end) {
		uint64_t key, v;
		if (short_varint(&p, end, &key, &len) < 0 || len > 5 || key > 0xffffffffu)
			return 0;
		uint32_t number = (uint32_t)key >> 3;
		int wire = (int)(key & 7);
		if (number == 0)
			return 0;
		const struct pfield *f = field_of(m, number);
		if (f && wire != wire_of(f))
			return 0; /* a known number with another wire type: left to canon_msg */
		if (wire == W_VARINT) {
			if (short_varint(&p, end, &v, &len) < 0)
				return 0;
			if (f && f->kind == K_BOOL && v > 1)
				return 0;
			if (f && (f->kind == K_INT32 || f->kind == K_ENUM) && v != java_int32(v))
				return 0;
			if (f && f->kind == K_ENUM && ((int32_t)v < f->enum_min || (int32_t)v > f->enum_max))
				return 0;
		} else if (wire == W_FIXED64 || wire == W_FIXED32) {
			if (skip_fixed(&p, end, wire) < 0)
				return 0;
		} else if (wire == W_LEN) {
			if (short_varint(&p, end, &v, &len) < 0 || v > (uint64_t)(end - p))
				return 0;
			if (f && f->kind == K_MESSAGE && !in_java_form(f->msg, p, (size_t)v, depth + 1))
				return 0;
			p += v;
		} else {
			return 0;
		}
		if (f) {
			/* after an unknown field, or before the last known one, or a singular one again */
			if (unknown_rank >= 0 || (last && (f < last || (f == last && f->label != REPEATED))))
				return 0;
			last = f;
			if (f->label == REQUIRED)
				required_seen |= 1u << (f - m->fields);
		} else {
			int rank = wire_rank(wire);
			if (number < unknown_number || (number == unknown_number && rank < unknown_rank))
				return 0;
			unknown_number = number;
			unknown_rank = rank;
		}
	}
	return required_seen == required_all;
}

static int canon_msg(struct bds_proto_canon *c, const struct pmsg *m, const uint8_t *in, size_t n, int depth,
                     struct bds_canon_buf *out)
{
	if (depth + 1 >= MAX_DEPTH)
		return refuse(m, "nested too deeply");
	long count = read_items(c, depth, m, in, n);
	if (count < 0)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		const struct pfield *f = &m->fields[i];
		int rc;
		if (f->label == REPEATED) {
			rc = put_repeated(c, f, (size_t)count, depth, out);
		} else {
			rc = put_singular(c, m, f, (size_t)count, depth, out);
			if (rc == 0 && f->label == REQUIRED)
				return bds_util_fail("protobuf %s: the required field '%s' (%u) is missing (bazel-diff's "
				                     "Java parser refuses the message)",
				                     m->name, f->name, (unsigned)f->number);
		}
		if (rc < 0)
			return -1;
	}
	return put_unknown(m, c->items[depth], (size_t)count, out);
}

int bds_proto_canon_attribute(struct bds_proto_canon *c, const uint8_t *in, size_t n, const uint8_t **res,
                              size_t *res_len)
{
	if (in_java_form(&attribute_msg, in, n, 0)) {
		*res = in;
		*res_len = n;
		return 0;
	}
	c->out.n = 0;
	if (canon_msg(c, &attribute_msg, in, n, 0, &c->out) < 0)
		return -1;
	if (c->out.n == n && memcmp(c->out.p, in, n) == 0) {
		*res = in;
		*res_len = n;
	} else {
		*res = c->out.p;
		*res_len = c->out.n;
	}
	return 0;
}

void bds_proto_canon_free(struct bds_proto_canon *c)
{
	free(c->out.p);
	for (int i = 0; i < MAX_DEPTH; i++) {
		free(c->level[i].p);
		free(c->concat[i].p);
		free(c->items[i]);
	}
	memset(c, 0, sizeof *c);
}

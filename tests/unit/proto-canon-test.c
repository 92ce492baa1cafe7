/* proto-canon-test: lib/proto-canon.c against hand-made cases and, with Java's protobuf
 * runtime as the oracle, random Attribute messages (tests/proto-canon.bats).
 *
 *   proto-canon-test cases         hand-made messages with their expected Java bytes: one
 *                                  line per case, then "<n> failed"; exit 1 if any failed
 *   proto-canon-test gen SEED N    N random Attribute messages, one hex line each: fields
 *                                  in random order, duplicated, of unknown numbers or wrong
 *                                  wire types, packed, overlong varints, unknown enum
 *                                  values, nested selector lists, now and then a required
 *                                  field missing
 *   proto-canon-test canon         for each hex line on stdin, the Java bytes in hex, "ERR"
 *                                  where Java's parser refuses the message, "AMBIGUOUS"
 *                                  where Java may read it two ways and bds refuses it
 */
#include "proto-canon.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gbuf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct gbuf *b, const void *data, size_t n)
{
	if (n == 0)
		return;
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = bds_util_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void hex_line(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	putchar('\n');
}

static int unhex(const char *s, struct gbuf *b)
{
	b->n = 0;
	size_t n = strlen(s);
	if (n % 2)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;
		if (sscanf(s + i, "%2x", &v) != 1)
			return -1;
		uint8_t c = (uint8_t)v;
		put(b, &c, 1);
	}
	return 0;
}

/* ---- random messages ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* a varint, now and then overlong (padded with 0x80 bytes, at most 10 in all) */
static void gen_varint(struct gbuf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | 0x80);
		v >>= 7;
	} while (v);
	if (pick(12) == 0)
		while (n < 10 && pick(2))
			tmp[n++] = 0x80;
	if (n < 10 && pick(12) == 0)
		tmp[n++] = 0x80;
	tmp[n - 1] &= 0x7f;
	put(b, tmp, n);
}

static void gen_tag(struct gbuf *b, uint32_t number, int wire)
{
	gen_varint(b, (uint64_t)number << 3 | (uint64_t)wire);
}

enum { S, I, B, E, M }; /* string, int32, bool, enum, message */

struct gfield {
	uint32_t number;
	int kind, repeated, required, msg, enum_lo, enum_hi;
};

/* the generator's own copy of the schema (message indexes: 0 Attribute, 1 License,
 * 2 string pair entry, 3 string list pair entry, 4 FilesetEntry, 5 SelectorList,
 * 6 Selector, 7 SelectorEntry) */
static const struct gfield g_attribute[] = {
	{1, S, 0, 1, 0, 0, 0}, {2, E, 0, 1, 0, 1, 21}, {3, I, 0, 0, 0, 0, 0},  {5, S, 0, 0, 0, 0, 0},
	{6, S, 1, 0, 0, 0, 0}, {7, M, 0, 0, 1, 0, 0},  {8, M, 1, 0, 2, 0, 0},  {9, M, 1, 0, 4, 0, 0},
	{10, M, 1, 0, 3, 0, 0}, {11, M, 1, 0, 3, 0, 0}, {13, B, 0, 0, 0, 0, 0}, {14, B, 0, 0, 0, 0, 0},
	{15, E, 0, 0, 0, 0, 2}, {17, I, 1, 0, 0, 0, 0}, {18, S, 1, 0, 0, 0, 0}, {19, M, 1, 0, 2, 0, 0},
	{20, B, 0, 0, 0, 0, 0}, {21, M, 0, 0, 5, 0, 0}, {22, M, 1, 0, 2, 0, 0}, {23, S, 0, 0, 0, 0, 0},
};
static const struct gfield g_license[] = {{1, S, 1, 0, 0, 0, 0}, {2, S, 1, 0, 0, 0, 0}};
static const struct gfield g_pair[] = {{1, S, 0, 1, 0, 0, 0}, {2, S, 0, 1, 0, 0, 0}};
static const struct gfield g_list_pair[] = {{1, S, 0, 1, 0, 0, 0}, {2, S, 1, 0, 0, 0, 0}};
static const struct gfield g_fileset[] = {
	{1, S, 0, 1, 0, 0, 0}, {2, S, 0, 1, 0, 0, 0}, {3, S, 1, 0, 0, 0, 0}, {4, S, 1, 0, 0, 0, 0},
	{5, E, 0, 0, 0, 1, 2}, {6, S, 0, 0, 0, 0, 0}, {7, B, 0, 0, 0, 0, 0},
};
static const struct gfield g_selector_list[] = {{1, E, 0, 0, 0, 1, 21}, {2, M, 1, 0, 6, 0, 0}};
static const struct gfield g_selector[] = {{1, M, 1, 0, 7, 0, 0}, {2, B, 0, 0, 0, 0, 0}, {3, S, 0, 0, 0, 0, 0}};
static const struct gfield g_selector_entry[] = {
	{1, S, 0, 0, 0, 0, 0},  {2, I, 0, 0, 0, 0, 0},  {3, S, 0, 0, 0, 0, 0},  {4, B, 0, 0, 0, 0, 0},
	{5, E, 0, 0, 0, 0, 2},  {6, S, 1, 0, 0, 0, 0},  {7, M, 0, 0, 1, 0, 0},  {8, M, 1, 0, 2, 0, 0},
	{9, M, 1, 0, 4, 0, 0},  {10, M, 1, 0, 3, 0, 0}, {11, M, 1, 0, 3, 0, 0}, {13, I, 1, 0, 0, 0, 0},
	{14, S, 1, 0, 0, 0, 0}, {15, M, 1, 0, 2, 0, 0}, {16, B, 0, 0, 0, 0, 0}, {17, M, 1, 0, 2, 0, 0},
};

static const struct {
	const struct gfield *f;
	size_t n;
} g_msgs[] = {
	{g_attribute, sizeof g_attribute / sizeof g_attribute[0]},
	{g_license, 2},
	{g_pair, 2},
	{g_list_pair, 2},
	{g_fileset, sizeof g_fileset / sizeof g_fileset[0]},
	{g_selector_list, 2},
	{g_selector, 3},
	{g_selector_entry, sizeof g_selector_entry / sizeof g_selector_entry[0]},
};

static void gen_string(struct gbuf *b)
{
	static const char *const pieces[] = {"a", "srcs", "//pkg:t", "", "\xc3\xa9", "\xf0\x9f\x98\x80", "\xff", "x y", "\xed\xa0\x80"};
	struct gbuf s = {0};
	unsigned k = pick(4);
	for (unsigned i = 0; i < k; i++) {
		const char *p = pieces[pick(sizeof pieces / sizeof pieces[0])];
		put(&s, p, strlen(p));
	}
	gen_varint(b, s.n);
	if (s.n)
		put(b, s.p, s.n);
	free(s.p);
}

static uint64_t gen_int_value(void)
{
	static const uint64_t v[] = {0, 1, 5, 127, 128, 300, 0x7fffffff, 0x80000000ull, 0xffffffffull, 0x100000005ull,
	                             (uint64_t)-1, (uint64_t)-300, 0x8000000000000000ull};
	return pick(4) ? v[pick(sizeof v / sizeof v[0])] : rnd() >> pick(64);
}

static void gen_msg(int msg, int depth, struct gbuf *out);

/* one field's tag and value, of the field's own kind or, now and then, the wrong wire type */
static void gen_field(const struct gfield *f, int depth, struct gbuf *b)
{
	if (pick(20) == 0) { /* a wrong wire type for a known number */
		int wire = f->kind == S || f->kind == M ? (int)(pick(2) ? 0 : 5) : 2;
		gen_tag(b, f->number, wire);
		if (wire == 0)
			gen_varint(b, gen_int_value());
		else if (wire == 5)
			put(b, "\x01\x02\x03\x04", 4);
		else
			gen_string(b);
		return;
	}
	switch (f->kind) {
	case S:
		gen_tag(b, f->number, 2);
		gen_string(b);
		break;
	case I:
		if (f->repeated && pick(3) == 0) { /* packed */
			struct gbuf p = {0};
			unsigned k = pick(4);
			for (unsigned i = 0; i < k; i++)
				gen_varint(&p, gen_int_value());
			gen_tag(b, f->number, 2);
			gen_varint(b, p.n);
			if (p.n)
				put(b, p.p, p.n);
			free(p.p);
		} else {
			gen_tag(b, f->number, 0);
			gen_varint(b, gen_int_value());
		}
		break;
	case B:
		gen_tag(b, f->number, 0);
		gen_varint(b, pick(3) ? pick(2) : gen_int_value());
		break;
	case E:
		gen_tag(b, f->number, 0);
		if (pick(6))
			gen_varint(b, (uint64_t)(f->enum_lo + (int)pick((unsigned)(f->enum_hi - f->enum_lo + 1))));
		else
			gen_varint(b, pick(2) ? (uint64_t)(f->enum_hi + 1 + (int)pick(5)) : gen_int_value());
		break;
	default: {
		struct gbuf m = {0};
		if (depth < 5)
			gen_msg(f->msg, depth + 1, &m);
		gen_tag(b, f->number, 2);
		gen_varint(b, m.n);
		if (m.n)
			put(b, m.p, m.n);
		free(m.p);
	}
	}
}

/* a field no Attribute-side message defines, of any wire type */
static void gen_unknown(struct gbuf *b)
{
	static const uint32_t numbers[] = {4, 12, 16, 24, 25, 31, 99, 1000, 536870911};
	uint32_t number = numbers[pick(sizeof numbers / sizeof numbers[0])];
	int wire = (int[]){0, 1, 2, 5}[pick(4)];
	gen_tag(b, number, wire);
	if (wire == 0)
		gen_varint(b, gen_int_value());
	else if (wire == 1)
		put(b, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	else if (wire == 5)
		put(b, "\xaa\xbb\xcc\xdd", 4);
	else
		gen_string(b);
}

static void gen_msg(int msg, int depth, struct gbuf *out)
{
	const struct gfield *fields = g_msgs[msg].f;
	size_t nf = g_msgs[msg].n;
	struct gbuf chunks[24];
	size_t k = 0;
	/* required fields first (almost always), then a few random ones */
	for (size_t i = 0; i < nf && k < 24; i++)
		if (fields[i].required && pick(40)) {
			chunks[k] = (struct gbuf){0};
			gen_field(&fields[i], depth, &chunks[k++]);
		}
	unsigned extra = pick(depth == 0 ? 9 : 4);
	for (unsigned i = 0; i < extra && k < 24; i++) {
		chunks[k] = (struct gbuf){0};
		if (pick(5) == 0)
			gen_unknown(&chunks[k++]);
		else
			gen_field(&fields[pick((unsigned)nf)], depth, &chunks[k++]);
	}
	/* the order: as a proper writer has it (by number) half the time, else shuffled */
	if (pick(2))
		for (size_t i = k; i > 1; i--) {
			size_t j = pick((unsigned)i);
			struct gbuf t = chunks[i - 1];
			chunks[i - 1] = chunks[j];
			chunks[j] = t;
		}
	for (size_t i = 0; i < k; i++) {
		put(out, chunks[i].p, chunks[i].n);
		free(chunks[i].p);
	}
}

static int gen(const char *seed, const char *count)
{
	rng = strtoull(seed, NULL, 10) * 0x9e3779b97f4a7c15ull + 1;
	long n = strtol(count, NULL, 10);
	for (long i = 0; i < n; i++) {
		struct gbuf b = {0};
		gen_msg(0, 0, &b);
		hex_line(b.p, b.n);
		free(b.p);
	}
	return 0;
}

/* ---- canon ---- */

static int canon(void)
{
	struct bds_proto_canon c = {0};
	struct gbuf in = {0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		if (unhex(line, &in) < 0) {
			fprintf(stderr, "proto-canon-test: not hex: %s\n", line);
			return 1;
		}
		const uint8_t *res;
		size_t rn;
		if (bds_proto_canon_attribute(&c, in.p ? in.p : (const uint8_t *)"", in.n, &res, &rn) < 0) {
			puts(strstr(bds_util_error(), "(ambiguous)") ? "AMBIGUOUS" : "ERR");
			continue;
		}
		/* Java's form is a fixed point, recognised as such: given again, the same
		 * bytes come back as themselves (the fast path), never a copy */
		uint8_t *again = malloc(rn ? rn : 1);
		const uint8_t *res2;
		size_t rn2;
		if (!again)
			return 1;
		memcpy(again, res, rn);
		if (bds_proto_canon_attribute(&c, again, rn, &res2, &rn2) < 0 || res2 != again || rn2 != rn)
			puts("NOT-A-FIXED-POINT");
		else
			hex_line(again, rn);
		free(again);
	}
	free(line);
	free(in.p);
	bds_proto_canon_free(&c);
	return 0;
}

/* ---- hand-made cases ---- */

static int failures;

/* IN and WANT in hex; WANT "ERR: text" expects a refusal whose message holds the text */
static void expect(const char *name, const char *in_hex, const char *want)
{
	struct bds_proto_canon c = {0};
	struct gbuf in = {0};
	if (unhex(in_hex, &in) < 0) {
		printf("FAIL %s: bad test input\n", name);
		failures++;
		return;
	}
	const uint8_t *res;
	size_t rn;
	char got[4096] = "";
	int rc = bds_proto_canon_attribute(&c, in.p ? in.p : (const uint8_t *)"", in.n, &res, &rn);
	if (rc < 0) {
		snprintf(got, sizeof got, "ERR: %s", bds_util_error());
	} else {
		for (size_t i = 0; i < rn && 2 * i + 2 < sizeof got; i++)
			sprintf(got + 2 * i, "%02x", res[i]);
	}
	int ok = strncmp(want, "ERR: ", 5) == 0 ? strncmp(got, "ERR: ", 5) == 0 && strstr(got, want + 5) != NULL
	                                         : strcmp(got, want) == 0;
	/* an input already in Java's form comes back as itself, not a copy */
	if (ok && rc == 0 && strcmp(in_hex, want) == 0 && res != in.p)
		ok = 0;
	printf("%s %s\n", ok ? "ok" : "FAIL", name);
	if (!ok)
		printf("  want %s\n  got  %s\n", want, got);
	failures += !ok;
	free(in.p);
	bds_proto_canon_free(&c);
}

static int cases(void)
{
	/* name "a" (0a 01 61), type STRING (10 02), string_value "x" (2a 01 78) */
	expect("in Java's order: the same bytes", "0a016110022a0178", "0a016110022a0178");
	expect("fields out of order are sorted by number", "2a01780a01611002", "0a016110022a0178");
	expect("an unknown field (30) goes after the known ones", "f20101790a016110022a0178",
	       "0a016110022a0178f2010179");
	expect("unknown fields: by number, then varints, fixed32s, fixed64s, length-delimited",
	       "0a01611002f2010179f1011122334455667788f00105f501aabbccddc80107",
	       "0a01611002c80107f00105f501aabbccddf1011122334455667788f2010179");
	expect("a singular field twice: the last wins", "0a016110022a01782a0179", "0a016110022a0179");
	expect("a bool of 2 is written as 1", "0a0161100e7002", "0a0161100e7001");
	expect("an overlong varint is written short", "0a016110828000", "0a01611002");
	expect("an int32 of 0xffffffff is -1: 10 bytes", "0a0161100118ffffffff0f", "0a0161100118ffffffffffffffffff01");
	expect("a packed int_list_value is written unpacked", "0a016110108a01020105", "0a01611010880101880105");
	expect("an unknown Discriminator value: the required type is missing", "0a01611063",
	       "ERR: the required field 'type'");
	expect("an unknown Tristate value goes to the unknown fields", "0a0161100f78052a0178", "0a0161100f2a01787805");
	expect("an unknown Tristate value after a known one: the known one stays", "0a0161100f78057801",
	       "0a0161100f78017805");
	expect("a string field with a varint wire type is an unknown field", "28010a01611002", "0a016110022801");
	expect("license twice: the two merge", "0a016110093a030a01783a03120179", "0a016110093a060a0178120179");
	expect("a selector list: nested fields sorted at every level", "0a01611014aa010c12080a061a01760a01630802",
	       "0a01611014aa010c080212080a060a01631a0176");
	expect("no name: refused", "1002", "ERR: the required field 'name'");
	expect("a nested entry without its value: refused", "0a0161100a42030a016b",
	       "ERR: StringDictEntry: the required field 'value'");
	expect("a group: refused (Java would keep it; Bazel writes none)", "0a01611002f301f401", "ERR: group");
	/* Java parses each occurrence of a singular message on its own before merging them */
	expect("license twice, the first cut short: refused", "0a016110013a010a3a0100", "ERR: not a whole message");
	expect("selector_list twice, the first cut short: refused", "0a01611001aa010112aa010100",
	       "ERR: not a whole message");
	expect("a nested license twice, the first cut short: refused", "0a01611001aa010b12090a073a010a3a020178",
	       "ERR: not a whole message");
	expect("truncated: refused", "0a0561", "ERR: past the message's end");
	/* a 10-byte varint ending in 0x00: Java's two read paths disagree on bit 63 */
	expect("an ambiguous bool that is 0 on one reading: refused", "0a0161100e7080808080808080808000",
	       "ERR: (ambiguous)");
	expect("an ambiguous bool true on both readings", "0a0161100e70ffffffffffffffffff00", "0a0161100e7001");
	expect("an ambiguous bool a later occurrence overrides", "0a0161100e70808080808080808080007001",
	       "0a0161100e7001");
	expect("an ambiguous unknown varint: refused", "0a01611002f001ffffffffffffffffff00", "ERR: (ambiguous)");
	expect("the same as an int32: no ambiguity (its low 32 bits)", "0a0161100118ffffffffffffffffff00",
	       "0a0161100118ffffffffffffffffff01");
	expect("ending in 0x01: one reading", "0a0161100e70ffffffffffffffffff01", "0a0161100e7001");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "cases") == 0) {
		cases();
		printf("%d failed\n", failures);
		return failures ? 1 : 0;
	}
	if (argc == 4 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], argv[3]);
	if (argc == 2 && strcmp(argv[1], "canon") == 0)
		return canon();
	fprintf(stderr, "usage: proto-canon-test cases | gen SEED N | canon\n");
	return 64;
}

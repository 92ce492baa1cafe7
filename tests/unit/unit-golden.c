/* unit-golden: bazel-diff's golden vectors (docs/algorithm.md 2.10) and the label/sort/proto
 * helpers they depend on. Prints one line per check; exits 1 on the first mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "graph.h"
#include "label.h"
#include "proto.h"
#include "util.h"

static int failures;

/* Compares a hex digest with an expected value written "prefix...suffix" or in full. */
static void expect_hex(const char *what, const unsigned char d[BDS_SHA256_LEN], const char *expected)
{
	char hex[65];
	bds_digest_hex(d, BDS_SHA256_LEN, hex);
	const char *dots = strstr(expected, "...");
	int ok;
	if (dots) {
		size_t pre = (size_t)(dots - expected), suf = strlen(dots + 3);
		ok = strncmp(hex, expected, pre) == 0 && strcmp(hex + 64 - suf, dots + 3) == 0;
	} else {
		ok = strcmp(hex, expected) == 0;
	}
	printf("%s %s %s\n", ok ? "ok" : "FAIL", what, hex);
	if (!ok) {
		printf("  expected %s\n", expected);
		failures++;
	}
}

static void expect_int(const char *what, long got, long want)
{
	printf("%s %s %ld\n", got == want ? "ok" : "FAIL", what, got);
	if (got != want) {
		printf("  expected %ld\n", want);
		failures++;
	}
}

struct pair {
	unsigned char overall[BDS_SHA256_LEN], direct[BDS_SHA256_LEN];
};

/* A mock rule of BuildGraphHasherTest: direct = SHA-256 of digest string, seed, then each
 * input label (plus the soft digest for "self" inputs); overall through bds_digest_overall,
 * the function the graph hasher uses, over the overall digests of the rule inputs. */
static void mock_rule(struct bds_sha256 *h, const char *digest, const unsigned char seed[32],
                      const char **inputs, const struct pair **deps, const char *soft, struct pair *out)
{
	const unsigned char *dep_overall[8];
	size_t n = 0;
	bds_sha256_update(h, digest, strlen(digest));
	bds_sha256_update(h, seed, 32);
	for (size_t i = 0; inputs && inputs[i]; i++) {
		bds_sha256_update(h, inputs[i], strlen(inputs[i]));
		if (deps[i])
			dep_overall[n++] = deps[i]->overall;
		else if (soft)
			bds_sha256_update(h, soft, strlen(soft));
	}
	bds_sha256_final(h, out->direct);
	bds_digest_overall(h, dep_overall, n, out->direct, out->overall);
}

static void golden_vectors(void)
{
	struct bds_sha256 td;
	if (bds_sha256_init(&td) < 0) {
		printf("FAIL init: %s\n", bds_util_error());
		failures++;
		return;
	}
	unsigned char empty[32], some[32];
	bds_sha256_buf("", 0, empty);
	bds_sha256_buf("somecontent", 11, some);
	expect_hex("seed-empty", empty, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	struct pair r1, r3, r1s, r4, r3b;
	mock_rule(&td, "rule1Digest", empty, NULL, NULL, NULL, &r1);
	expect_hex("rule1-direct", r1.direct, "e34f24077b917a720bc1ce4b1383c7df3c01ff26e492dea43d45780871b30382");
	expect_hex("rule1-overall", r1.overall, "443e5e8ca6f5f1afdebfb8650a1fc37ad10964fca5a270ef97b37ea2425c57ee");

	const char *in3[] = {"rule1", NULL};
	const struct pair *d3[] = {&r1};
	mock_rule(&td, "digest", empty, in3, d3, NULL, &r3);
	expect_hex("rule3-direct", r3.direct, "a572cd44...2eba");
	expect_hex("rule3-overall", r3.overall, "504431ed...f9f5");

	mock_rule(&td, "rule1Digest", some, NULL, NULL, NULL, &r1s);
	expect_hex("rule1-seeded-overall", r1s.overall, "ddf73451...77f1");
	expect_hex("rule1-seeded-direct", r1s.direct, "0404d80e...ee60");

	const char *in4[] = {"rule1", "rule4", NULL};
	const struct pair *d4[] = {&r1, NULL};
	mock_rule(&td, "digest2", empty, in4, d4, "fake-soft-digest", &r4);
	expect_hex("rule4-direct", r4.direct, "8ab85c9e...7d3b");
	expect_hex("rule4-overall", r4.overall, "55af9fde...2b89");

	const struct pair *d3b[] = {&r1, &r4};
	mock_rule(&td, "digest", empty, in4, d3b, NULL, &r3b);
	expect_hex("rule3b-direct", r3b.direct, "a3433011...8895");
	expect_hex("rule3b-overall", r3b.overall, "2c424742...b4df");
	bds_sha256_free(&td);
}

static void label_helpers(void)
{
	const char *sep;
	expect_int("split @repo//pkg:t", bds_label_split_repo("@repo//pkg:t", 12, &sep), 2);
	expect_int("split @repo//", bds_label_split_repo("@repo//", 7, &sep), 1);
	expect_int("split @a//b//c", bds_label_split_repo("@a//b//c", 8, &sep), 3);
	expect_int("split //x leading empty kept", bds_label_split_repo("//x", 3, &sep), 2);
	expect_int("split repo////", bds_label_split_repo("repo////", 8, &sep), 1);
	expect_int("main //a", bds_label_main_repo_prefix("//a", 3), 2);
	expect_int("main @//a", bds_label_main_repo_prefix("@//a", 4), 3);
	expect_int("main @@//a", bds_label_main_repo_prefix("@@//a", 5), 4);
	expect_int("main @r//a", bds_label_main_repo_prefix("@r//a", 5), -1);
	expect_int("package //pkg:a", (long)bds_label_package_len("//pkg:a", 7), 5);
	expect_int("package //:x", (long)bds_label_package_len("//:x", 4), 2);
	/* Java order: ':' (0x3a) < 'A'; U+FFFF sorts after a supplementary character in UTF-16 */
	expect_int("java //:lib < //A:x", bds_util_java_cmp("//:lib", 6, "//A:x", 5) < 0, 1);
	expect_int("java prefix shorter first", bds_util_java_cmp("//a", 3, "//ab", 4) < 0, 1);
	expect_int("java U+10000 < U+FFFF", bds_util_java_cmp("\xf0\x90\x80\x80", 4, "\xef\xbf\xbf", 3) < 0, 1);
	expect_int("java U+E000 > U+D7FF", bds_util_java_cmp("\xee\x80\x80", 3, "\xed\x9f\xbf", 3) > 0, 1);
}

static void hex_checks(void)
{
	expect_int("hex 32 lowercase", bds_util_is_hex("0123456789abcdef0123456789abcdef", 32), 1);
	expect_int("hex upper case refused", bds_util_is_hex("0123456789ABCDEF0123456789abcdef", 32), 0);
	expect_int("hex upper case any case", bds_util_is_hex_any_case("0123456789ABCDEF0123456789abcdef", 32), 1);
	expect_int("hex one short", bds_util_is_hex("0123456789abcdef0123456789abcde", 32), 0);
	expect_int("hex one long", bds_util_is_hex("0123456789abcdef0123456789abcdef0", 32), 0);
	expect_int("hex g", bds_util_is_hex("g123456789abcdef0123456789abcdef", 32), 0);
	expect_int("hex G any case", bds_util_is_hex_any_case("G123456789abcdef0123456789abcdef", 32), 0);
	expect_int("hex NULL", bds_util_is_hex(NULL, 0), 0);
	expect_int("hex empty", bds_util_is_hex("", 0), 1);
}

static void proto_errors(void)
{
	struct bds_graph g;
	/* Target{type: RULE} without a rule message */
	static const uint8_t no_body[] = {0x02, 0x08, 0x01};
	expect_int("rule without message rejected", bds_graph_parse_buffer(&g, no_body, sizeof no_body), -1);
	printf("  %s\n", bds_util_error());
	bds_graph_free(&g);
	/* a group wire type inside a Target */
	static const uint8_t group[] = {0x02, 0x0b, 0x0c};
	expect_int("group rejected", bds_graph_parse_buffer(&g, group, sizeof group), -1);
	printf("  %s\n", bds_util_error());
	bds_graph_free(&g);
	/* length prefix announcing more bytes than present */
	static const uint8_t trunc[] = {0x05, 0x08, 0x01};
	expect_int("truncated rejected", bds_graph_parse_buffer(&g, trunc, sizeof trunc), -1);
	printf("  %s\n", bds_util_error());
	bds_graph_free(&g);
	/* a rule //a:b with rule_class genrule, then a package group (dropped) */
	static const uint8_t ok[] = {0x0e, 0x08, 0x01, 0x12, 0x0a, 0x0a, 0x05, '/', '/', 'a', ':', 'b',
	                             0x12, 0x01, 'g', 0x04, 0x08, 0x04, 0x2a, 0x00};
	expect_int("rule and package group parsed", bds_graph_parse_buffer(&g, ok, sizeof ok), 0);
	expect_int("one target kept", (long)g.count, 1);
	expect_int("package group dropped", (long)g.dropped_groups, 1);
	bds_graph_free(&g);
}

int main(void)
{
	golden_vectors();
	label_helpers();
	hex_checks();
	proto_errors();
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}

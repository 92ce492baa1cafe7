/* chunk-test: FastCDC cut points (lib/chunk.c): parameters, exact coverage, sizes within
 * bounds, the cut points of a fixed buffer (golden: they are part of the chunk format),
 * shift resistance, and the "more input needed" answer. One line per check; the last line
 * is "N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "chunk.h"
#include "util.h"

static int failed;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok" : "FAIL", what);
	failed += !ok;
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		p[i] = (unsigned char)(z ^ (z >> 31));
	}
}

/* The cut lengths of buf (at most cap of them) into out; their count. */
static size_t cuts(const struct bds_chunk_params *p, const unsigned char *buf, size_t n, size_t *out, size_t cap)
{
	size_t k = 0;
	for (size_t at = 0; at < n && k < cap;) {
		size_t len = bds_chunk_cut(p, buf + at, n - at, 1);
		if (len == 0)
			break;
		out[k++] = len;
		at += len;
	}
	return k;
}

int main(void)
{
	struct bds_chunk_params p;
	check(bds_chunk_params(3000, &p) < 0, "an average that is no power of two is refused");
	check(bds_chunk_params(2048, &p) < 0, "an average below 4 KiB is refused");
	check(bds_chunk_params((size_t)128 << 20, &p) < 0, "an average above 64 MiB is refused");
	check(bds_chunk_params((size_t)64 << 20, &p) == 0, "64 MiB is accepted");
	check(bds_chunk_params(65536, &p) == 0 && p.min == 16384 && p.max == 262144, "64 KiB: min 16 KiB, max 256 KiB");

	size_t n = (size_t)4 << 20;
	unsigned char *buf = bds_util_xmalloc(n + 100);
	fill(buf, n, 1);
	size_t *len = bds_util_xmalloc(4096 * sizeof *len);
	size_t k = cuts(&p, buf, n, len, 4096), sum = 0, in_bounds = 1;
	for (size_t i = 0; i < k; i++) {
		sum += len[i];
		if (i + 1 < k && (len[i] < p.min || len[i] > p.max))
			in_bounds = 0;
	}
	check(sum == n, "the chunks cover the buffer exactly");
	check(in_bounds, "every chunk but the last is within [min, max]");
	/* golden: these cut points are part of the chunk format; a change of the gear table,
	 * the masks or the loop changes them */
	char hex[33];
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(len, k * sizeof *len));
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
	printf("cuts %zu chunks, first %zu %zu %zu, lengths xxh3-128 %s\n", k, len[0], len[1], len[2], hex);

	/* 100 bytes inserted at offset 1000: only the chunks around it change */
	unsigned char *shifted = bds_util_xmalloc(n + 100);
	memcpy(shifted, buf, 1000);
	fill(shifted + 1000, 100, 2);
	memcpy(shifted + 1100, buf + 1000, n - 1000);
	size_t *len2 = bds_util_xmalloc(4096 * sizeof *len2);
	size_t k2 = cuts(&p, shifted, n + 100, len2, 4096);
	size_t same = 0;
	for (size_t i = 1; i <= k && i <= k2; i++)
		same += len[k - i] == len2[k2 - i];
	printf("shift: %zu of %zu chunks end the same\n", same, k2);
	check(same + 2 >= k2, "an insertion changes at most the two chunks around it");

	/* not at eof: no cut within the bytes there is "more needed", at eof the rest */
	fill(buf, p.min + 10, 3);
	size_t open = bds_chunk_cut(&p, buf, p.min + 10, 0);
	check(open == 0 || open > p.min, "not at eof: 0 (more needed) or a cut after min");
	check(bds_chunk_cut(&p, buf, 5, 1) == 5, "at eof, fewer bytes than min: one chunk of them");
	check(bds_chunk_cut(&p, buf, 5, 0) == 0, "not at eof, fewer bytes than min: more needed");
	memset(buf, 0, n);
	size_t kz = cuts(&p, buf, n, len, 4096);
	printf("zeros: %zu chunks of %zu bytes\n", kz, len[0]);
	check(kz >= 1 && len[0] >= p.min && len[0] <= p.max, "all-zero bytes cut within bounds");
	free(buf);
	free(shifted);
	free(len);
	free(len2);
	printf("%d failed\n", failed);
	return failed != 0;
}

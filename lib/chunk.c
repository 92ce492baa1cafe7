/* chunk: FastCDC cut points (chunk.h). The gear table is part of the chunk format: cut
 * points, and so the chunks a store holds, depend on it, so it is fixed here (splitmix64
 * from a fixed seed) and never changes for a given format. */
#include "chunk.h"

#include "util.h"

#include <pthread.h>

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static void gear_init(void)
{
	uint64_t x = 0x6264732d63686e6bULL; /* "bds-chnk" */
	for (int i = 0; i < 256; i++) {
		/* splitmix64 */
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		gear[i] = z ^ (z >> 31);
	}
}

/* The top `bits` bits: the gear hash shifts left, so its top bits hold the most bytes. */
static uint64_t top_bits(unsigned bits)
{
	return bits == 0 ? 0 : ~(uint64_t)0 << (64 - bits);
}

int bds_chunk_params(size_t avg, struct bds_chunk_params *p)
{
	unsigned bits = 0;
	while (bits < 63 && ((size_t)1 << bits) < avg)
		bits++;
	if (((size_t)1 << bits) != avg || bits < 12 || bits > 26)
		return bds_util_fail("chunk size %zu: not a power of two from 4 KiB to 64 MiB", avg);
	p->avg = avg;
	p->min = avg / 4;
	p->max = avg * 4;
	p->mask_small = top_bits(bits + 2);
	p->mask_large = top_bits(bits - 2);
	pthread_once(&gear_once, gear_init);
	return 0;
}

size_t bds_chunk_cut(const struct bds_chunk_params *p, const unsigned char *buf, size_t n, int eof)
{
	size_t limit = n < p->max ? n : p->max;
	if (limit <= p->min)
		return n >= p->max || eof ? limit : 0;
	size_t normal = limit < p->avg ? limit : p->avg;
	uint64_t h = 0;
	size_t i = p->min;
	for (; i < normal; i++) {
		h = (h << 1) + gear[buf[i]];
		if (!(h & p->mask_small))
			return i + 1;
	}
	for (; i < limit; i++) {
		h = (h << 1) + gear[buf[i]];
		if (!(h & p->mask_large))
			return i + 1;
	}
	return limit == p->max || eof ? limit : 0;
}

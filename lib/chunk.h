/* chunk: content-defined chunking (FastCDC with normalized chunking, Xia et al., USENIX ATC
 * 2016) for chunked snapshot entries (docs/store.md 4). A cut depends only on the bytes of
 * its own chunk (a gear hash over at most the last 64 of them), so bytes inserted or
 * removed in a file move the cuts near the change only: the chunks after it are the same
 * and a store that names chunks by their digest keeps them once. */
#ifndef BDS_CHUNK_H
#define BDS_CHUNK_H

#include <stddef.h>
#include <stdint.h>

struct bds_chunk_params {
	size_t min, avg, max; /* chunk sizes: no cut before min, a forced one at max */
	uint64_t mask_small;  /* before avg: more bits, a cut is less likely */
	uint64_t mask_large;  /* after avg: fewer bits, a cut is more likely */
};

/* The parameters for an average size `avg`, a power of two from 4 KiB to 64 MiB:
 * min = avg / 4, max = avg * 4, and masks of log2(avg) + 2 and log2(avg) - 2 bits
 * (normalization level 2). 0, or -1 with the error recorded. */
int bds_chunk_params(size_t avg, struct bds_chunk_params *p);

/* The length of the chunk that starts at buf, of which n bytes are there (`eof`: nothing
 * follows them). 0 when more bytes are needed to decide (fewer than max there and no cut
 * found, not at eof); otherwise from 1 to max (n at eof when no cut is found before). */
size_t bds_chunk_cut(const struct bds_chunk_params *p, const unsigned char *buf, size_t n, int eof);

#endif

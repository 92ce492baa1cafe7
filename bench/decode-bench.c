/* decode-bench: decoder throughput of a streamed_proto file (no hashing, no file reads). */
#include <stdio.h>
#include <stdlib.h>

#include "graph.h"
#include "fs.h"
#include "util.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: decode-bench QUERY.bin RUNS\n");
		return BDS_EXIT_USAGE;
	}
	char *buf = NULL;
	size_t len = 0;
	if (bds_fs_read_file(argv[1], (size_t)8 << 30, &buf, &len) < 0) {
		fprintf(stderr, "decode-bench: %s\n", bds_util_error());
		return BDS_EXIT_FAIL;
	}
	int runs = atoi(argv[2]);
	double best = 1e9;
	size_t targets = 0;
	for (int i = 0; i < runs; i++) {
		struct bds_graph g;
		double t0 = bds_util_now();
		if (bds_graph_parse_buffer(&g, (const unsigned char *)buf, len) < 0) {
			fprintf(stderr, "decode-bench: %s\n", bds_util_error());
			return BDS_EXIT_FAIL;
		}
		double dt = bds_util_now() - t0;
		targets = g.count;
		bds_graph_free(&g);
		if (dt < best)
			best = dt;
	}
	printf("decode: %zu targets, %.1f MB in %.3f s = %.0f MB/s (best of %d)\n", targets, (double)len / 1e6, best,
	       (double)len / 1e6 / best, runs);
	free(buf);
	return BDS_EXIT_OK;
}

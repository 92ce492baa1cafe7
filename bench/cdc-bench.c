/* cdc-bench: how much of snapshot file NEW a store that already holds OLD would have to
 * upload, chunked content-defined (lib/chunk.c, FastCDC) and in fixed-size blocks, for each
 * average chunk size given; and how fast FastCDC cuts. The measurement that chooses the
 * chunk size of chunked entries (docs/store.md 4): run it on the `mem`, `disk` or `vmstate`
 * of two consecutive records (two store entries of one fingerprint).
 *   cdc-bench OLD NEW [AVG_KIB ...]       (default: 256 1024 2048 4096)
 * One line per size and way: chunks of NEW, of them new to OLD (bytes and % of NEW), all-zero
 * chunks of NEW (a sparse file's holes: one object for them all). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "chunk.h"
#include "strmap.h"
#include "util.h"

struct file {
	const unsigned char *p;
	size_t n;
};

static int map_file(const char *path, struct file *f)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(path);
		return -1;
	}
	f->n = (size_t)st.st_size;
	f->p = f->n ? mmap(NULL, f->n, PROT_READ, MAP_PRIVATE, fd, 0) : (const unsigned char *)"";
	close(fd);
	if (f->p == MAP_FAILED) {
		perror(path);
		return -1;
	}
	return 0;
}

static int all_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* The next chunk of f at `at`: content-defined (p) or fixed-size (p NULL, `fixed` bytes). */
static size_t next_chunk(const struct bds_chunk_params *p, size_t fixed, const struct file *f, size_t at)
{
	size_t left = f->n - at;
	if (!p)
		return left < fixed ? left : fixed;
	return bds_chunk_cut(p, f->p + at, left, 1);
}

static void measure(const char *way, const struct bds_chunk_params *p, size_t avg, const struct file *old,
                    const struct file *new)
{
	/* the chunks a store holding OLD has, and those NEW's upload would add: XXH3-128 keys */
	struct bds_strmap *seen = bds_strmap_new(1024), *uploaded = bds_strmap_new(1024);
	double t0 = bds_util_now();
	for (size_t at = 0, n; at < old->n; at += n) {
		n = next_chunk(p, avg, old, at);
		XXH128_hash_t h = XXH3_128bits(old->p + at, n);
		bds_strmap_put(seen, (const char *)&h, sizeof h, NULL);
	}
	double secs = bds_util_now() - t0;
	size_t chunks = 0, fresh = 0, zero = 0;
	unsigned long long fresh_bytes = 0;
	for (size_t at = 0, n; at < new->n; at += n) {
		n = next_chunk(p, avg, new, at);
		XXH128_hash_t h = XXH3_128bits(new->p + at, n);
		chunks++;
		zero += all_zero(new->p + at, n);
		if (!bds_strmap_has(seen, (const char *)&h, sizeof h) && !bds_strmap_has(uploaded, (const char *)&h, sizeof h)) {
			bds_strmap_put(uploaded, (const char *)&h, sizeof h, NULL);
			fresh++;
			fresh_bytes += n;
		}
	}
	printf("avg %6zu KiB %-5s: %8zu chunks of NEW, %7zu new to OLD (%llu bytes, %.2f %% of NEW), %zu all-zero; "
	       "OLD chunked and hashed at %.0f MB/s\n",
	       avg >> 10, way, chunks, fresh, fresh_bytes, new->n ? 100.0 * (double)fresh_bytes / (double)new->n : 0.0, zero,
	       secs > 0 ? (double)old->n / secs / 1e6 : 0.0);
	bds_strmap_free(seen, NULL);
	bds_strmap_free(uploaded, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: cdc-bench OLD NEW [AVG_KIB ...]\n");
		return BDS_EXIT_USAGE;
	}
	struct file old, new;
	if (map_file(argv[1], &old) < 0 || map_file(argv[2], &new) < 0)
		return BDS_EXIT_FAIL;
	static char *defaults[] = {"256", "1024", "2048", "4096", NULL};
	char **sizes = argc > 3 ? argv + 3 : defaults;
	printf("OLD %s: %zu bytes; NEW %s: %zu bytes\n", argv[1], old.n, argv[2], new.n);
	for (; *sizes; sizes++) {
		struct bds_chunk_params p;
		size_t avg = (size_t)strtoull(*sizes, NULL, 10) << 10;
		if (bds_chunk_params(avg, &p) < 0) {
			fprintf(stderr, "cdc-bench: %s\n", bds_util_error());
			return BDS_EXIT_USAGE;
		}
		measure("cdc", &p, avg, &old, &new);
		measure("fixed", NULL, avg, &old, &new);
	}
	return 0;
}

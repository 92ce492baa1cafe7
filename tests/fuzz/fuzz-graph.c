/* fuzz-graph: libFuzzer target for the streamed_proto decoder (lib/proto, lib/graph) and
 * a cheap hash pass over whatever it accepts (lib/hash, lib/source, writers). */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "graph.h"
#include "hash.h"
#include "strmap.h"

/* Labels are paths: "//../../x" or "///x" reach outside the workspace. The decoder is
 * fuzzed on every input; the hash pass skips inputs that could name a device or a
 * pseudo-file, since Bazel never emits such labels. */
static int risky_path(const uint8_t *data, size_t size)
{
	static const char *const bad[] = {"..", "///", "/dev", "/proc", "/sys", "/run", NULL};
	for (const char *const *b = bad; *b; b++)
		if (memmem(data, size, *b, strlen(*b)))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	static char *ignored[] = {"cmd", NULL};
	static char *fine[] = {"@fine", NULL};
	static char *types[] = {"Rule", "GeneratedFile", NULL};
	struct bds_graph g;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (bds_graph_parse_buffer(&g, data, size) == 0 && !risky_path(data, size)) {
		struct bds_hash_options o = {0};
		o.workspace = "/nonexistent-bds-fuzz-workspace";
		o.output_base = "/nonexistent-bds-fuzz-output-base";
		o.fine_grained = fine;
		o.ignored_attrs = ignored;
		o.track_deps = 1;
		o.threads = 1;
		/* an empty, non-NULL modified set: files are opened and stat'ed, never read */
		o.modified = bds_strmap_new(1);
		bds_sha256_buf("", 0, o.seed);
		if (bds_hash_graph(&g, &o) == 0) {
			struct bds_hash_json_out how = {.include_type = 1};
			bds_hash_write_json(devnull, &g, &how);
			bds_hash_write_deps(devnull, &g, types);
		}
		bds_strmap_free(o.modified, NULL);
	}
	bds_graph_free(&g);
	return 0;
}

/* bds-modgraph: what Bzlmod's module graph changes in a hashing run, as bazel-diff v37 reads it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "fs.h"
#include "hash.h"
#include "modgraph.h"
#include "util.h"

static const char usage_text[] = "usage: bds-modgraph --fine-grained-repos REPOS GRAPH\n"
                                 "       GRAPH: the output of `bazel mod graph --output=json`\n";

/* `bazel mod graph --output=json` of a large workspace is megabytes: bounded all the same */
#define MODULE_GRAPH_MAX ((size_t)256 << 20)

struct args {
	const char *fine_grained, *graph;
};

/* 0 to proceed, -1 after --help, else an exit status. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"fine-grained-repos", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0; /* our own messages, with the short program name */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': a->fine_grained = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		case ':': bds_util_warn("option '%s' needs an argument", argv[optind - 1]); return bds_cli_usage(usage_text, NULL);
		default: bds_cli_bad_option(argv, ":h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (!a->fine_grained)
		return bds_cli_usage(usage_text, "missing --fine-grained-repos");
	if (argc - optind != 1)
		return bds_cli_usage(usage_text, "expected one module graph file");
	a->graph = argv[optind];
	return 0;
}

/* Prints the fine-grained repositories bazel-diff hashes with this module graph. */
static int run(const struct args *a)
{
	char *raw = NULL, *text = NULL, *repos = NULL;
	size_t raw_len = 0, len = 0;
	int rc = BDS_EXIT_FAIL;
	if (bds_fs_read_file(a->graph, MODULE_GRAPH_MAX, &raw, &raw_len) < 0)
		goto out;
	/* read as bazel-diff reads it: lines joined, trimmed (docs/algorithm.md 3.1) */
	if (!(text = bds_hash_module_graph_text(raw, raw_len, &len)))
		goto out;
	if (!(repos = bds_modgraph_fine_grained(text, len, a->graph, a->fine_grained)))
		goto out;
	printf("%s\n", repos);
	rc = bds_cli_close_stdout(BDS_EXIT_OK);
out:
	if (rc == BDS_EXIT_FAIL)
		bds_util_warn("%s", bds_util_error());
	free(raw);
	free(text);
	free(repos);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	bds_cli_json_nomem_fails();
	int rc = parse_args(argc, argv, &a);
	if (rc == 0)
		rc = run(&a);
	else if (rc < 0)
		rc = bds_cli_close_stdout(BDS_EXIT_OK); /* --help */
	return rc;
}

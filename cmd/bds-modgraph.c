/* bds-modgraph: what Bzlmod changes in a hashing run, as bazel-diff v37 reads Bazel's answers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fs.h"
#include "hash.h"
#include "modgraph.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-modgraph --fine-grained-repos REPOS GRAPH\n"
	"       bds-modgraph --show-repo-names MAPPING\n"
	"       bds-modgraph --repo-targets -w WORKSPACE MAPPING REPOS.pb GRAPH\n"
	"       GRAPH: `bazel mod graph --output=json`; MAPPING: `bazel mod dump_repo_mapping \"\"`;\n"
	"       REPOS.pb: `bazel mod show_repo --output=streamed_proto`\n";

/* Bazel's answers are megabytes for a large workspace: bounded all the same */
#define ANSWER_MAX ((size_t)256 << 20)

struct args {
	const char *fine_grained, *workspace;
	int show_repo_names, repo_targets;
	char **files;
	int n_files;
};

/* 0 to proceed, -1 after --help, else an exit status. */
static int parse_args(int argc, char **argv, struct args *a)
{
	enum { OPT_FINE = 256, OPT_NAMES, OPT_TARGETS };
	static const struct option opts[] = {
		{"fine-grained-repos", required_argument, NULL, OPT_FINE},
		{"show-repo-names", no_argument, NULL, OPT_NAMES},
		{"repo-targets", no_argument, NULL, OPT_TARGETS},
		{"workspace", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0; /* our own messages, with the short program name */
	while ((c = getopt_long(argc, argv, ":w:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_FINE: a->fine_grained = optarg; break;
		case OPT_NAMES: a->show_repo_names = 1; break;
		case OPT_TARGETS: a->repo_targets = 1; break;
		case 'w': a->workspace = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		case ':': bds_util_warn("option '%s' needs an argument", argv[optind - 1]); return bds_cli_usage(usage_text, NULL);
		default: bds_cli_bad_option(argv, ":w:h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	a->files = argv + optind;
	a->n_files = argc - optind;
	if ((a->fine_grained != NULL) + a->show_repo_names + a->repo_targets != 1)
		return bds_cli_usage(usage_text, "expected one of --fine-grained-repos, --show-repo-names, --repo-targets");
	if (a->workspace && !a->repo_targets)
		return bds_cli_usage(usage_text, "-w goes with --repo-targets only");
	if (a->repo_targets && !a->workspace)
		return bds_cli_usage(usage_text, "--repo-targets needs -w WORKSPACE");
	int want = a->fine_grained || a->show_repo_names ? 1 : 3;
	if (a->n_files != want)
		return bds_cli_usage(usage_text, want == 1 ? "expected one file" : "expected MAPPING, REPOS.pb and GRAPH");
	return 0;
}

/* A file as bazel-diff reads a command's output: lines joined, trimmed (docs/algorithm.md
 * 3.1). Malloc'd, or NULL with the error recorded. */
static char *read_text(const char *path, size_t *len)
{
	char *raw = NULL;
	size_t raw_len = 0;
	if (bds_fs_read_file(path, ANSWER_MAX, &raw, &raw_len) < 0)
		return NULL;
	char *text = bds_hash_module_graph_text(raw, raw_len, len);
	free(raw);
	if (!text)
		bds_util_fail("'%s': %s", path, bds_util_error());
	return text;
}

/* The repository mapping of MAPPING, or an invalid jv with the error recorded. */
static jv read_mapping(const char *path)
{
	char *raw = NULL;
	size_t len = 0;
	jv mapping = jv_invalid();
	if (bds_fs_read_file(path, ANSWER_MAX, &raw, &len) == 0)
		bds_modgraph_repo_mapping(raw, len, path, &mapping);
	free(raw);
	return mapping;
}

static int run(const struct args *a)
{
	char *text = NULL, *repos = NULL, **names = NULL;
	size_t len = 0;
	int rc = BDS_EXIT_FAIL;
	if (a->fine_grained) {
		if (!(text = read_text(a->files[0], &len)) ||
		    !(repos = bds_modgraph_fine_grained(text, len, a->files[0], a->fine_grained)))
			goto out;
		printf("%s\n", repos);
	} else if (a->show_repo_names) {
		jv mapping = read_mapping(a->files[0]);
		if (!jv_is_valid(mapping))
			goto out;
		names = bds_modgraph_show_repo_names(mapping);
		for (char **n = names; *n; n++)
			printf("%s\n", *n);
	} else {
		jv mapping = read_mapping(a->files[0]);
		if (!jv_is_valid(mapping))
			goto out;
		if (!(text = read_text(a->files[2], &len))) {
			jv_free(mapping);
			goto out;
		}
		if (bds_modgraph_repo_targets(mapping, a->files[1], text, len, a->files[2], a->workspace, stdout) < 0)
			goto out;
	}
	rc = bds_cli_close_stdout(BDS_EXIT_OK);
out:
	if (rc == BDS_EXIT_FAIL && bds_util_error()[0])
		bds_util_warn("%s", bds_util_error());
	free(text);
	free(repos);
	bds_util_free_list(names);
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

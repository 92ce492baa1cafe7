/* bds-diff: bazel-diff-compatible impacted targets between two hashes files. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diff.h"
#include "envelope.h"
#include "fs.h"
#include "graph.h"
#include "json.h"
#include "modgraph.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-diff [--target-type T,...] [--dep-edges DEPS.json] [--exclude-external]\n"
	"                [--module-rdeps QUERY.pb | --module-rdeps-failed] [-o OUT] [FROM.json TO.json]\n"
	"       bds-diff --module-query FROM.json TO.json\n"
	"       without files, reads the pipeline envelope on stdin (hashes.base, hashes.target)\n";

struct args {
	const char *from, *to, *dep_edges, *output;
	char **types;
	int exclude_external;
	/* bazel-diff's module path (docs/algorithm.md 4.5): print its rdeps query; the
	 * query's streamed_proto output; or the query failed */
	int module_query, module_rdeps_failed;
	const char *module_rdeps;
};

enum { OPT_TARGET_TYPE = 256, OPT_DEPS, OPT_EXCLUDE_EXTERNAL, OPT_MODULE_QUERY, OPT_MODULE_RDEPS, OPT_MODULE_FAILED };

/* 0 to proceed, -1 after --help, else an exit status. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"target-type", required_argument, NULL, OPT_TARGET_TYPE},
		{"dep-edges", required_argument, NULL, OPT_DEPS},
		{"exclude-external", no_argument, NULL, OPT_EXCLUDE_EXTERNAL},
		{"module-query", no_argument, NULL, OPT_MODULE_QUERY},
		{"module-rdeps", required_argument, NULL, OPT_MODULE_RDEPS},
		{"module-rdeps-failed", no_argument, NULL, OPT_MODULE_FAILED},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0; /* our own messages, with the short program name */
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_TARGET_TYPE:
			bds_util_free_list(a->types);
			a->types = bds_util_split_list(optarg, NULL);
			/* "" or "," would keep no type: an empty answer that looks like "nothing impacted" */
			if (!a->types[0])
				return bds_cli_usage(usage_text, "--target-type needs at least one target type");
			break;
		case OPT_DEPS: a->dep_edges = optarg; break;
		case OPT_EXCLUDE_EXTERNAL: a->exclude_external = 1; break;
		case OPT_MODULE_QUERY: a->module_query = 1; break;
		case OPT_MODULE_RDEPS: a->module_rdeps = optarg; break;
		case OPT_MODULE_FAILED: a->module_rdeps_failed = 1; break;
		case 'o': a->output = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		case ':': bds_util_warn("option '%s' needs an argument", argv[optind - 1]); return bds_cli_usage(usage_text, NULL);
		default: bds_cli_bad_option(argv, ":o:h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (argc - optind == 2) {
		a->from = argv[optind];
		a->to = argv[optind + 1];
	} else if (argc - optind != 0) {
		return bds_cli_usage(usage_text, "expected two hashes files, or none to read the envelope");
	}
	if (a->module_rdeps && a->module_rdeps_failed)
		return bds_cli_usage(usage_text, "--module-rdeps and --module-rdeps-failed exclude each other");
	if (a->module_query && (!a->from || a->module_rdeps || a->module_rdeps_failed || a->output || a->dep_edges))
		return bds_cli_usage(usage_text, "--module-query takes two hashes files and no other option");
	return 0;
}

/* Is path there but not a regular file? (error recorded) */
static int not_regular(const char *path)
{
	int fd = bds_fs_open_regular(path, 0);
	if (fd >= 0)
		close(fd);
	return fd == -2;
}

/* Envelope mode: the base and target hashes paths, and the envelope in *env (kept for a
 * cold decision of this stage). Returns 0, BDS_EXIT_COLD (the cold envelope already written
 * through, stdout closed) or BDS_EXIT_FAIL (message printed). */
static int from_envelope(char **from, char **to, jv *env)
{
	int status = bds_cli_envelope_begin(env);
	if (status != 0)
		return status;
	jv hashes = bds_json_get(jv_copy(*env), "hashes", JV_KIND_OBJECT);
	if (!jv_is_valid(hashes)) {
		if (jv_invalid_has_msg(jv_copy(hashes))) {
			char *msg = bds_json_error_message(hashes);
			bds_util_warn("envelope: %s", msg);
			free(msg);
		} else {
			jv_free(hashes);
			bds_util_warn("envelope: key 'hashes' is missing (no stage hashed the target)");
		}
		return BDS_EXIT_FAIL;
	}
	const char *keys[2] = {"base", "target"};
	char **outs[2] = {from, to};
	for (int i = 0; i < 2; i++) {
		int rc = bds_json_get_string(jv_copy(hashes), keys[i], outs[i]);
		if (rc < 0) {
			bds_util_warn("envelope 'hashes': %s", bds_util_error());
		} else if (rc == 1) {
			bds_util_warn("envelope: key 'hashes.%s' is missing", keys[i]);
		} else if ((*outs[i])[0] != '/') {
			bds_util_warn("envelope: key 'hashes.%s': '%s' is not an absolute path", keys[i], *outs[i]);
			rc = -1;
		} else if (not_regular(*outs[i])) {
			/* a stage's output file; a FIFO there would block us for ever */
			bds_util_warn("envelope: key 'hashes.%s': %s", keys[i], bds_util_error());
			rc = -1;
		}
		if (rc != 0) {
			jv_free(hashes);
			return BDS_EXIT_FAIL;
		}
	}
	jv_free(hashes);
	return 0;
}

struct warn_state {
	size_t shown, total;
};

/* The fallback of bazel-diff issue #268, which warns per label: a few lines, then a count. */
static void warn_fallback(const char *label, size_t n, int no_entry, void *arg)
{
	struct warn_state *w = arg;
	if (w->shown++ < 10)
		bds_util_warn("warning: '%.*s' was indirectly impacted, but %s: distance 0 (see bazel-diff issue #268)",
		              (int)n, label,
		              no_entry ? "has no entry in the dep-edges file" : "none of its deps in the dep-edges file is impacted");
	w->total++;
}

static void warn_type_mismatch(const struct bds_diff_hashes *from, const struct bds_diff_hashes *to)
{
	int from_typed = from->typed && !from->untyped, to_typed = to->typed && !to->untyped;
	int from_untyped = from->untyped && !from->typed, to_untyped = to->untyped && !to->typed;
	if ((from_typed && to_untyped) || (from_untyped && to_typed))
		bds_util_warn("warning: '%s' has target types and '%s' has none: every target compares as changed "
		              "(hash both with the same --include-target-type)",
		              from_typed ? from->path : to->path, from_typed ? to->path : from->path);
}

static int write_output(const struct args *a, const struct bds_diff_result *r)
{
	FILE *f = stdout;
	char *tmp = NULL;
	if (a->output && !(f = bds_util_atomic_open(a->output, &tmp)))
		return -1;
	int rc = a->dep_edges ? bds_diff_write_distances(f, r) : bds_diff_write_labels(f, r);
	if (!a->output)
		return rc;
	if (rc < 0) {
		bds_util_atomic_discard(f, tmp);
		return -1;
	}
	return bds_util_atomic_commit(f, tmp, a->output);
}

/* The module path's labels (docs/algorithm.md 4.5): those of the rdeps query's output
 * (rules, source and generated files: bazel-diff drops other target kinds), or, when it
 * failed, bazel-diff's fallback: every label of `to` but "@@..." and "//external:..."
 * ones, or every label when that leaves none. 0, or -1 (error recorded). */
static int module_labels(const struct args *a, const struct bds_diff_hashes *to, struct bds_graph *rdeps,
                         struct bds_diff_str **labels, size_t *n)
{
	*n = 0;
	if (a->module_rdeps) {
		int fd = bds_fs_open_regular(a->module_rdeps, 0);
		if (fd < 0)
			return -1;
		int rc = bds_graph_read(rdeps, fd, a->module_rdeps, NULL, NULL);
		close(fd);
		if (rc < 0)
			return -1;
		*labels = bds_util_xcalloc(rdeps->count + 1, sizeof **labels);
		for (size_t i = 0; i < rdeps->count; i++)
			(*labels)[(*n)++] = (struct bds_diff_str){rdeps->targets[i].name, rdeps->targets[i].name_len};
		return 0;
	}
	*labels = bds_util_xcalloc(to->count + 1, sizeof **labels);
	for (int all = 0; all < 2 && *n == 0; all++)
		for (size_t i = 0; i < to->count; i++) {
			const struct bds_diff_target *t = &to->targets[i];
			if (t->dead)
				continue;
			int buildable = !(t->label_len >= 2 && memcmp(t->label, "@@", 2) == 0) &&
			                !(t->label_len >= 11 && memcmp(t->label, "//external:", 11) == 0);
			if (all || buildable)
				(*labels)[(*n)++] = (struct bds_diff_str){t->label, t->label_len};
		}
	return 0;
}

static int run(const struct args *a)
{
	struct bds_diff_hashes from = {0}, to = {0};
	struct bds_diff_deps deps = {0};
	struct bds_diff_result r = {0};
	struct warn_state w = {0};
	struct bds_graph rdeps = {0};
	struct bds_diff_str *labels = NULL;
	size_t n_labels = 0;
	char **repos = NULL;
	char *env_from = NULL, *env_to = NULL;
	jv env = jv_null();
	int rc = BDS_EXIT_FAIL;

	if (!a->from) {
		int erc = from_envelope(&env_from, &env_to, &env);
		if (erc != 0) {
			rc = erc;
			goto out;
		}
	}
	if (bds_diff_read_hashes(a->from ? a->from : env_from, &from) < 0 ||
	    bds_diff_read_hashes(a->to ? a->to : env_to, &to) < 0)
		goto fail;
	if (a->dep_edges && bds_diff_read_deps(a->dep_edges, &deps) < 0)
		goto fail;
	enum bds_modgraph_path path = bds_modgraph_decide(&from, &to, &repos);
	if (path == BDS_MODGRAPH_ERROR)
		goto fail;
	if (a->module_query) {
		if (path == BDS_MODGRAPH_QUERY) {
			char *q = bds_modgraph_query(repos);
			printf("%s\n", q);
			free(q);
		}
		rc = bds_cli_close_stdout(BDS_EXIT_OK);
		goto out;
	}
	warn_type_mismatch(&from, &to);
	bds_diff_impacted(&from, &to, &r);
	if (path == BDS_MODGRAPH_QUERY) {
		if (!a->module_rdeps && !a->module_rdeps_failed && !a->from) {
			/* a consume: its warm machine is released by now, and the cold path runs
			 * the query (bds-cold) */
			char *q = bds_modgraph_query(repos);
			char *reason = bds_util_xasprintf("the module graphs differ in modules whose repositories the "
			                                  "target's hashes name: bazel-diff's answer needs Bazel's `%s` "
			                                  "(docs/algorithm.md 4.5), which the cold path runs",
			                                  q);
			free(q);
			rc = bds_cli_envelope_finish(bds_envelope_set_cold(env, "bds-diff", reason), BDS_EXIT_COLD);
			env = jv_null();
			free(reason);
			goto out;
		}
		if (!a->module_rdeps && !a->module_rdeps_failed) {
			char *q = bds_modgraph_query(repos);
			bds_util_fail("the module graphs of '%s' and '%s' differ in modules whose repositories '%s' hashes: "
			              "bazel-diff's answer needs Bazel's `%s` (docs/algorithm.md 4.5); run `bds bazel-diff "
			              "get-impacted-targets -w WORKSPACE`, or pass its output as --module-rdeps",
			              from.path, to.path, to.path, q);
			free(q);
			goto fail;
		}
		if (module_labels(a, &to, &rdeps, &labels, &n_labels) < 0)
			goto fail;
		bds_diff_add_module_impacted(&r, &from, &to, labels, n_labels, a->dep_edges != NULL);
	}
	if (a->dep_edges) {
		if (bds_diff_distances(&r, &to, &deps, warn_fallback, &w) < 0)
			goto fail;
		if (w.total > w.shown)
			bds_util_warn("warning: %zu more labels fell back to distance 0", w.total - w.shown);
	}
	bds_diff_sort(&r);
	if (bds_diff_filter(&r, a->types, a->exclude_external, to.path) < 0 || write_output(a, &r) < 0)
		goto fail;
	rc = bds_cli_close_stdout(BDS_EXIT_OK);
	goto out;
fail:
	bds_util_warn("%s", bds_util_error());
out:
	bds_diff_free_result(&r);
	free(labels);
	bds_graph_free(&rdeps);
	bds_util_free_list(repos);
	bds_diff_free_deps(&deps);
	bds_diff_free_hashes(&from);
	bds_diff_free_hashes(&to);
	free(env_from);
	free(env_to);
	jv_free(env);
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
	bds_util_free_list(a.types);
	return rc;
}

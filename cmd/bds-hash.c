/* bds-hash: bazel-diff-compatible target hashes from `bazel query --output=streamed_proto`. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "graph.h"
#include "hash.h"
#include "fs.h"
#include "incremental.h"
#include "json.h"
#include "state.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-hash -w WORKSPACE [--include-target-type] [--target-type T,...]\n"
	"                [--seed-filepaths FILE] [--ignored-attrs A,...] [--dep-edges OUT.json]\n"
	"                [--fine-grained-repos @a,...] [--output-base DIR]\n"
	"                [--content-hashes FILE.json] [--modified-filepaths FILE]\n"
	"                [--always-affected-tags T,...] [--threads N] [--progress] [-o OUT]\n"
	"                [--module-graph FILE]\n"
	"                [--state-out STATE --state-commit REV\n"
	"                 | --from-state STATE --packages FILE [--delta-from XXH3]]\n"
	"       reads `bazel query --output=streamed_proto` on stdin\n";

/* --module-graph: `bazel mod graph --output=json` of a large module graph is a few MiB */
#define MODULE_GRAPH_MAX ((size_t)256 << 20)

/* --from-state: the change-proportional path cannot give the full run's answer */
enum { EXIT_NOT_INCREMENTAL = 3 };

struct args {
	const char *workspace, *output, *seed_list, *dep_edges, *content_hashes, *modified_list, *output_base;
	const char *state_out, *state_commit, *from_state, *packages, *delta_from, *module_graph;
	char **types, **ignored, **fine_grained, **tags;
	int include_type, threads, progress;
};

static int valid_types(char **types)
{
	/* "" or "," would keep no target: an empty answer that looks like "nothing impacted" */
	if (!types[0]) {
		bds_util_warn("--target-type needs at least one of Rule, SourceFile or GeneratedFile");
		return 0;
	}
	for (char **t = types; *t; t++)
		if (strcmp(*t, "Rule") && strcmp(*t, "SourceFile") && strcmp(*t, "GeneratedFile")) {
			bds_util_warn("unknown target type '%s' (expected Rule, SourceFile or GeneratedFile)", *t);
			return 0;
		}
	return 1;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	int c;
	long long n = 0;
	opterr = 0; /* getopt's own messages carry the full argv[0], not "bds-hash:" */
	while ((c = getopt_long(argc, argv, bds_hash_getopt_short, bds_hash_getopt_long, NULL)) != -1) {
		switch (c) {
		case 'w': a->workspace = optarg; break;
		case 'o': a->output = optarg; break;
		case BDS_HASH_OPT_INCLUDE_TYPE: a->include_type = 1; break;
		case BDS_HASH_OPT_TARGET_TYPE:
			bds_util_free_list(a->types);
			a->types = bds_util_split_list(optarg, NULL);
			if (!valid_types(a->types))
				return bds_cli_usage(usage_text, NULL);
			break;
		case BDS_HASH_OPT_SEEDS: a->seed_list = optarg; break;
		case BDS_HASH_OPT_IGNORED: bds_util_free_list(a->ignored); a->ignored = bds_util_split_list(optarg, NULL); break;
		case BDS_HASH_OPT_DEPS: a->dep_edges = optarg; break;
		case BDS_HASH_OPT_FINE: bds_util_free_list(a->fine_grained); a->fine_grained = bds_util_split_list(optarg, NULL); break;
		case BDS_HASH_OPT_OUTPUT_BASE: a->output_base = optarg; break;
		case BDS_HASH_OPT_CONTENT: a->content_hashes = optarg; break;
		case BDS_HASH_OPT_MODIFIED: a->modified_list = optarg; break;
		case BDS_HASH_OPT_TAGS: bds_util_free_list(a->tags); a->tags = bds_util_split_list(optarg, NULL); break;
		case BDS_HASH_OPT_THREADS:
			if (bds_util_parse_whole(optarg, 32, &n) < 0 || n < 1)
				return bds_cli_usage(usage_text, "--threads takes a number from 1 to 32");
			a->threads = (int)n;
			break;
		case BDS_HASH_OPT_PROGRESS: a->progress = 1; break;
		case BDS_HASH_OPT_STATE_OUT: a->state_out = optarg; break;
		case BDS_HASH_OPT_STATE_COMMIT: a->state_commit = optarg; break;
		case BDS_HASH_OPT_FROM_STATE: a->from_state = optarg; break;
		case BDS_HASH_OPT_PACKAGES: a->packages = optarg; break;
		case BDS_HASH_OPT_DELTA_FROM: a->delta_from = optarg; break;
		case BDS_HASH_OPT_MODULE_GRAPH: a->module_graph = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		case ':':
			bds_util_warn("option '%s' needs an argument", argv[optind - 1]);
			return bds_cli_usage(usage_text, NULL);
		default: bds_cli_bad_option(argv, bds_hash_getopt_short, bds_hash_getopt_long); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (optind != argc)
		return bds_cli_usage(usage_text, "unexpected argument");
	if (!a->workspace)
		return bds_cli_usage(usage_text, "missing -w WORKSPACE");
	if (!a->state_out != !a->state_commit)
		return bds_cli_usage(usage_text, "--state-out and --state-commit go together");
	if (!a->from_state != !a->packages)
		return bds_cli_usage(usage_text, "--from-state and --packages go together");
	if (a->state_out && a->from_state)
		return bds_cli_usage(usage_text, "a state is written by a full run (--state-out), not by --from-state");
	if (a->delta_from && !a->from_state)
		return bds_cli_usage(usage_text, "--delta-from needs --from-state (the state knows the lines it is a delta of)");
	/* a delta's lines are those of the plain shape, two spaces in */
	if (a->delta_from && a->module_graph)
		return bds_cli_usage(usage_text, "--delta-from and --module-graph exclude each other");
	if (a->delta_from && !bds_util_is_hex(a->delta_from, 32))
		return bds_cli_usage(usage_text, "--delta-from takes an XXH3-128 in hex (32 lowercase hex digits)");
	return 0;
}

/* An option's file: relative to the workspace unless absolute. Malloc'd. */
static char *in_workspace(const char *workspace, const char *path)
{
	return path[0] == '/' ? bds_util_xstrdup(path) : bds_util_xasprintf("%s/%s", workspace, path);
}

/* --content-hashes: {"path": "string"} into a map of owned strings. */
static struct bds_strmap *load_content_hashes(const char *path)
{
	jv obj = bds_json_read_file(path);
	if (!jv_is_valid(obj)) {
		char *msg = bds_json_error_message(obj);
		bds_util_fail("%s", msg);
		free(msg);
		return NULL;
	}
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		bds_util_fail("content hashes '%s': expected an object, found %s", path, jv_kind_name(jv_get_kind(obj)));
		jv_free(obj);
		return NULL;
	}
	struct bds_strmap *m = bds_strmap_new((size_t)jv_object_length(jv_copy(obj)));
	int bad = 0;
	jv_object_foreach(obj, key, value)
	{
		if (!bad && jv_get_kind(value) != JV_KIND_STRING) {
			bds_util_fail("content hashes '%s': key '%s': expected string, found %s", path, jv_string_value(key),
			              jv_kind_name(jv_get_kind(value)));
			bad = 1;
		}
		if (!bad)
			bds_strmap_put(m, jv_string_value(key), (size_t)jv_string_length_bytes(jv_copy(key)),
			               bds_util_xstrdup(jv_string_value(value)));
		jv_free(key);
		jv_free(value);
	}
	jv_free(obj);
	if (bad) {
		bds_strmap_free(m, free);
		return NULL;
	}
	return m;
}

/* --modified-filepaths: one path per line, resolved against the workspace. */
static struct bds_strmap *load_modified(const char *path, const char *workspace)
{
	char *text = NULL;
	size_t len = 0;
	if (bds_fs_read_file(path, (size_t)256 << 20, &text, &len) < 0)
		return NULL;
	struct bds_strmap *m = bds_strmap_new(1024);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!*line)
			continue;
		char *abs = line[0] == '/' ? bds_util_xstrdup(line) : bds_util_xasprintf("%s/%s", workspace, line);
		/* collapse repeated slashes as Java's Path does */
		size_t k = 0;
		for (size_t i = 0; abs[i]; i++)
			if (!(abs[i] == '/' && k > 0 && abs[k - 1] == '/'))
				abs[k++] = abs[i];
		if (k > 1 && abs[k - 1] == '/')
			k--;
		abs[k] = '\0';
		bds_strmap_put(m, abs, k, NULL);
		free(abs);
	}
	free(text);
	if (bds_strmap_count(m) == 0) { /* an empty list means "read every file" */
		bds_strmap_free(m, NULL);
		return bds_strmap_new(1);
	}
	return m;
}

/* The rules among the first n targets (the queried ones). */
static size_t rules_in(const struct bds_graph *g, size_t n)
{
	size_t rules = 0;
	for (size_t i = 0; i < n; i++)
		rules += g->targets[i].type == BDS_TARGET_RULE;
	return rules;
}

/* A regular OUT is replaced atomically; a device or FIFO (-o /dev/null, a pipe) is
 * written in place and a symlink followed (bds_util_atomic_open). The hashes when `how`
 * says how, else the dep edges. */
static int write_file(const char *path, const struct bds_graph *g, const struct args *a,
                      struct bds_hash_json_out *how)
{
	char *tmp = NULL;
	FILE *f = bds_util_atomic_open(path, &tmp);
	if (!f)
		return -1;
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	int rc = how ? bds_hash_write_json(f, g, how) : bds_hash_write_deps(f, g, a->types);
	if (rc < 0) {
		bds_util_atomic_discard(f, tmp);
		return -1;
	}
	return bds_util_atomic_commit(f, tmp, path);
}

/* --state-out: the graph state, replaced atomically. */
static int write_state(const char *path, struct bds_graph *g, const struct bds_hash_options *o, const char *commit,
                       const char *output_key)
{
	char *tmp = NULL;
	FILE *f = bds_util_atomic_open(path, &tmp);
	if (!f)
		return -1;
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	if (bds_hash_write_state(f, g, o, commit, output_key) < 0) {
		bds_util_atomic_discard(f, tmp);
		return -1;
	}
	return bds_util_atomic_commit(f, tmp, path);
}

/* --packages: one package a line (the plan's, bds-plan --packages-out). */
static char **read_packages(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	if (bds_fs_read_file(path, (size_t)256 << 20, &text, &len) < 0)
		return NULL;
	size_t cap = 16, n = 0;
	char **out = bds_util_xcalloc(cap + 1, sizeof *out);
	for (char *line = text, *end; line < text + len; line = end + 1) {
		end = memchr(line, '\n', (size_t)(text + len - line));
		if (!end)
			end = text + len;
		if (n == cap) {
			cap *= 2;
			out = bds_util_xrealloc(out, (cap + 1) * sizeof *out);
		}
		out[n++] = bds_util_xstrndup(line, (size_t)(end - line));
	}
	out[n] = NULL;
	free(text);
	return out;
}

/* --from-state: the state's targets under the stream's; 0 (*where: as
 * bds_incremental_merge's), EXIT_NOT_INCREMENTAL with the reason said, or -1. */
static int merge_state(struct bds_graph *g, const struct bds_state *state, const struct args *a,
                       const struct bds_hash_options *o, int32_t **where)
{
	/* inputs git's diff does not see */
	const char *outside = a->content_hashes ? "--content-hashes" : a->modified_list ? "--modified-filepaths"
	                      : a->fine_grained && a->fine_grained[0] ? "--fine-grained-repos" : NULL;
	if (outside) {
		bds_util_warn("not incremental: %s reads what git's diff does not show", outside);
		return EXIT_NOT_INCREMENTAL;
	}
	char **packages = read_packages(a->packages);
	if (!packages)
		return -1;
	size_t queried = g->count;
	unsigned char key[BDS_SHA256_LEN];
	bds_hash_state_key(o, key);
	int rc = bds_incremental_merge(g, state, packages, key, where);
	bds_util_free_list(packages);
	if (rc == 1) {
		bds_util_warn("not incremental: %s", bds_util_error());
		return EXIT_NOT_INCREMENTAL;
	}
	if (rc == 0 && a->progress)
		bds_util_warn("merged %zu queried targets with the state of %s (%zu targets)", queried, state->commit,
		              state->count);
	return rc;
}

/* --delta-from: the targets whose lines can differ from those of the hashes file the
 * state was written with (docs/algorithm.md 6.4), when that file is the one named and was
 * written as this run writes; else NULL, and every line is written. A diff against that
 * file then answers as against the whole: every line left out is in it, byte for byte. */
static uint8_t *delta_lines(const struct bds_graph *g, const struct bds_state *state, const int32_t *where,
                            const struct args *a)
{
	char *want = bds_hash_output_key(a->delta_from, a->include_type, a->types);
	int same = strlen(want) == state->output_key_len && memcmp(want, state->output_key, state->output_key_len) == 0;
	free(want);
	return same ? bds_incremental_changed(g, state, where) : NULL;
}

static int run(struct args *a)
{
	struct bds_hash_options o = {0};
	struct bds_graph g = {0};
	struct bds_state state = {0};
	int32_t *where = NULL; /* --from-state: each state target's index in g */
	uint8_t *only = NULL;
	char *module_graph = NULL;
	char workspace[PATH_MAX], *content_file = NULL, *modified_file = NULL;
	int rc = BDS_EXIT_FAIL;
	struct stat st;
	int progress = bds_util_progress_enabled(a->progress);
	double t0 = bds_util_now();

	/* realpath may leave errno set on success, so errno is reported only on failure: a
	 * regular file given as the workspace used to print "Invalid argument". */
	if (!realpath(a->workspace, workspace) || stat(workspace, &st) != 0) {
		bds_util_warn("workspace '%s': %s", a->workspace, strerror(errno));
		return BDS_EXIT_FAIL;
	}
	if (!S_ISDIR(st.st_mode)) {
		bds_util_warn("workspace '%s': not a directory", a->workspace);
		return BDS_EXIT_FAIL;
	}
	o.workspace = workspace;
	o.output_base = a->output_base;
	o.fine_grained = a->fine_grained;
	o.ignored_attrs = a->ignored;
	o.always_affected_tags = a->tags;
	o.track_deps = a->dep_edges != NULL;
	o.threads = a->threads;
	o.progress = progress;
	if (a->fine_grained && a->fine_grained[0] && !a->output_base) {
		bds_util_warn("--fine-grained-repos needs --output-base (from `bazel info output_base`)");
		return BDS_EXIT_USAGE;
	}
	/* A relative option file is the workspace's, read in the tree of the revision being
	 * hashed, as bazel-diff's example script re-reads it after each checkout; the same on
	 * every path (warm worktree, VM guest, bds-cold's worktree) whatever the directory. */
	if (a->seed_list ? bds_hash_seed_from_list(workspace, a->seed_list, o.seed) < 0 : (bds_sha256_buf("", 0, o.seed), 0))
		goto fail;
	content_file = a->content_hashes ? in_workspace(workspace, a->content_hashes) : NULL;
	if (content_file && !(o.content_hashes = load_content_hashes(content_file)))
		goto fail;
	modified_file = a->modified_list ? in_workspace(workspace, a->modified_list) : NULL;
	if (modified_file) {
		if (!(o.modified = load_modified(modified_file, workspace)))
			goto fail;
		if (bds_strmap_count(o.modified) == 0) {
			bds_strmap_free(o.modified, NULL);
			o.modified = NULL;
		}
	}
	if (a->from_state && bds_state_read(a->from_state, &state) < 0)
		goto fail;
	/* Source files are read while the query still streams in. */
	struct bds_source_pool *pool = bds_source_pool_start(&o);
	if (bds_graph_read(&g, STDIN_FILENO, "stdin", bds_source_pool_add, pool) < 0) {
		/* the stream's error is the one to report, not a worker's */
		char *why = bds_util_xstrdup(bds_util_error());
		bds_source_pool_finish(pool, NULL);
		bds_util_fail("%s", why);
		free(why);
		goto fail;
	}
	if (bds_source_pool_finish(pool, &g) < 0)
		goto fail;
	size_t queried = g.count;
	if (a->from_state) {
		/* an empty stream is a change that re-queries nothing */
		int mrc = merge_state(&g, &state, a, &o, &where);
		if (mrc < 0)
			goto fail;
		if (mrc > 0) {
			rc = mrc;
			goto out;
		}
	} else if (g.count == 0 && g.bytes == 0) {
		bds_util_warn("read 'stdin': empty input (did the bazel query fail?)");
		goto out;
	}
	double t1 = bds_util_now();
	if (progress)
		bds_util_warn("read %zu targets (%.1f MB) in %.2fs", g.count, (double)g.bytes / 1e6, t1 - t0);
	if (bds_hash_graph(&g, &o) < 0)
		goto fail;
	double t2 = bds_util_now();
	if (progress)
		bds_util_warn("hashed in %.2fs", t2 - t1);
	if (a->from_state)
		bds_util_warn("partial: re-hashed %zu of %zu targets (queried %zu)", g.rehashed + (queried - rules_in(&g, queried)),
		              g.count, queried);
	struct bds_hash_json_out how = {.include_type = a->include_type, .types = a->types};
	if (a->module_graph) {
		char *raw = NULL;
		size_t raw_len = 0;
		if (bds_fs_read_file(a->module_graph, MODULE_GRAPH_MAX, &raw, &raw_len) < 0)
			goto fail;
		module_graph = bds_hash_module_graph_text(raw, raw_len, &how.module_graph_len);
		free(raw);
		if (!module_graph)
			goto fail;
		how.module_graph = module_graph;
	}
	char written_xxh128[33] = "";
	if (a->state_out)
		how.xxh128 = written_xxh128; /* the state names the hashes written with it */
	if (a->delta_from && !(only = delta_lines(&g, &state, where, a)))
		bds_util_warn("delta: the state was written with other hashes or output options (%.*s): every target written",
		              (int)state.output_key_len, state.output_key);
	how.only = only;
	if (a->dep_edges && write_file(a->dep_edges, &g, a, NULL) < 0)
		goto fail;
	if (a->output) {
		if (write_file(a->output, &g, a, &how) < 0)
			goto fail;
	} else if (bds_hash_write_json(stdout, &g, &how) < 0) {
		goto fail;
	}
	if (how.only)
		bds_util_warn("delta: wrote %zu of %zu targets (the others' lines are those of the hashes %s)", how.written,
		              how.of, a->delta_from);
	/* after the hashes: the state names them (a failure here leaves no state: the next
	 * run is a full one) */
	if (a->state_out) {
		char *output_key = bds_hash_output_key(written_xxh128, a->include_type, a->types);
		int wrc = write_state(a->state_out, &g, &o, a->state_commit, output_key);
		free(output_key);
		if (wrc < 0)
			goto fail;
	}
	if (progress)
		bds_util_warn("wrote output in %.2fs", bds_util_now() - t2);
	rc = BDS_EXIT_OK;
	goto out;
fail:
	bds_util_warn("%s", bds_util_error());
out:
	free(where);
	free(only);
	free(module_graph);
	bds_graph_free(&g);
	bds_state_free(&state);
	bds_strmap_free(o.content_hashes, free);
	bds_strmap_free(o.modified, NULL);
	free(content_file);
	free(modified_file);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	int rc = parse_args(argc, argv, &a);
	if (rc == 0) {
		static char buf[1 << 20];
		setvbuf(stdout, buf, _IOFBF, sizeof buf);
		rc = run(&a);
	} else if (rc < 0) {
		rc = BDS_EXIT_OK; /* --help */
	}
	if (rc == BDS_EXIT_OK)
		rc = bds_cli_close_stdout(rc);
	bds_util_free_list(a.types);
	bds_util_free_list(a.ignored);
	bds_util_free_list(a.fine_grained);
	bds_util_free_list(a.tags);
	return rc;
}

/* bds-plan: the change-proportional plan (docs/algorithm.md 6.2): from the graph state of
 * the revision a warm machine was recorded at and git's list of what changed since, the
 * packages and targets to query again; or exit 3 when only the full query is provably
 * exact. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exec.h"
#include "plan.h"
#include "state.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-plan -w WORKSPACE --state STATE --query-out FILE --packages-out FILE\n"
	"       WORKSPACE: a clean checkout of the revision to hash; exit 3: use the full query\n";

enum { EXIT_FULL = 3 };
#define GIT_TIMEOUT 120.0             /* seconds */
#define GIT_LIMIT ((size_t)1 << 30)   /* bytes of git's output */

struct args {
	const char *workspace, *state, *query_out, *packages_out;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"workspace", required_argument, NULL, 'w'},
		{"state", required_argument, NULL, 's'},
		{"query-out", required_argument, NULL, 'q'},
		{"packages-out", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "w:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w': a->workspace = optarg; break;
		case 's': a->state = optarg; break;
		case 'q': a->query_out = optarg; break;
		case 'p': a->packages_out = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "w:h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (optind != argc)
		return bds_cli_usage(usage_text, "unexpected argument");
	if (!a->workspace || !a->state || !a->query_out || !a->packages_out)
		return bds_cli_usage(usage_text, "-w, --state, --query-out and --packages-out are required");
	return 0;
}

/* git in the workspace; its output in *o. 0; 1 (reason recorded) when git refused. */
static int git(const char *ws, char *const *argv, struct bds_exec_output *o)
{
	int st = bds_exec_output(argv, ws, BDS_EXEC_ERR_START, GIT_LIMIT, GIT_TIMEOUT, o);
	if (st < 0)
		return -1;
	if (st != 0) {
		char *p = o->err;
		p[strcspn(p, "\n")] = '\0';
		bds_util_fail("git %s failed: %s", argv[3], p[0] ? p : "(no message)");
		free(o->out);
		o->out = NULL;
		return 1;
	}
	return 0;
}

static int write_text(const char *path, const char *text)
{
	char *tmp = NULL;
	FILE *f = bds_util_atomic_open(path, &tmp);
	if (!f)
		return -1;
	fputs(text, f);
	return bds_util_atomic_commit(f, tmp, path);
}

static int write_plan(const struct args *a, const struct bds_plan *p)
{
	char *query = bds_plan_query(p);
	size_t len = 1;
	for (size_t i = 0; i < p->n_packages; i++)
		len += strlen(p->packages[i]) + 1;
	char *pkgs = bds_util_xmalloc(len), *at = pkgs;
	*at = '\0';
	for (size_t i = 0; i < p->n_packages; i++)
		at += sprintf(at, "%s\n", p->packages[i]);
	int rc = write_text(a->query_out, query) < 0 || write_text(a->packages_out, pkgs) < 0 ? -1 : 0;
	free(query);
	free(pkgs);
	return rc;
}

/* 0 plan written, 1 full (reason recorded), -1 error. */
static int plan(const struct args *a, const char *ws)
{
	struct bds_state s;
	struct bds_exec_output diff = {0}, files = {0};
	struct bds_change *changes = NULL;
	char **symlinks = NULL;
	struct bds_plan p = {0};
	size_t n = 0;
	int rc = bds_state_read(a->state, &s);
	if (rc < 0)
		return 1; /* an unreadable state: the full query, which needs none */
	char *diff_argv[] = {"git", "-c", "core.quotePath=false", "diff", "--raw", "-z", "--no-renames",
	                     "--relative", "--no-ext-diff", s.commit, "HEAD", "--", NULL};
	char *files_argv[] = {"git", "-c", "core.quotePath=false", "ls-files", "-s", "-z", NULL};
	if ((rc = git(ws, diff_argv, &diff)) != 0 || (rc = git(ws, files_argv, &files)) != 0)
		goto out;
	if (bds_plan_parse_raw(diff.out, diff.len, &changes, &n) < 0) {
		rc = -1;
		goto out;
	}
	symlinks = bds_plan_parse_symlinks(files.out, files.len);
	rc = bds_plan_make(&s, ws, changes, n, symlinks, &p);
	if (rc == 0) {
		rc = write_plan(a, &p);
		if (rc == 0)
			bds_util_warn("%zu changed paths since %s: %zu packages and %zu targets to query", n, s.commit,
			              p.n_packages, p.n_labels);
	}
out:
	bds_plan_free(&p);
	free(changes);
	free(symlinks);
	free(diff.out);
	free(files.out);
	bds_state_free(&s);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	int rc = parse_args(argc, argv, &a);
	if (rc < 0)
		return BDS_EXIT_OK;
	if (rc > 0)
		return rc;
	char ws[PATH_MAX];
	if (!realpath(a.workspace, ws)) {
		bds_util_warn("workspace '%s': cannot resolve it", a.workspace);
		return BDS_EXIT_FAIL;
	}
	rc = plan(&a, ws);
	if (rc == 1) {
		bds_util_warn("full path: %s", bds_util_error());
		return EXIT_FULL;
	}
	if (rc < 0) {
		bds_util_warn("%s", bds_util_error());
		return BDS_EXIT_FAIL;
	}
	return BDS_EXIT_OK;
}

/* bds-fingerprint: the first pipeline stage: the cache key of the workspace's graph. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "driver.h"
#include "envelope.h"
#include "fingerprint.h"
#include "hash.h"
#include "json.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-fingerprint -w WORKSPACE [--rev REV] [--driver local|qemu|firecracker] [--bazel CMD]\n"
	"                       [-so 'STARTUP OPTIONS' ...] [-co 'COMMAND OPTIONS' ...] [bds-hash options ...]\n";

/* Appends the words of `value` (split on white space, as the scripts and bazel-diff split
 * -so and -co) to the NULL-terminated list *words of *n words: a second -so adds. */
static void add_words(char ***words, size_t *n, const char *value)
{
	char *copy = bds_util_xstrdup(value), *save = NULL;
	for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		*words = bds_util_xrealloc(*words, (*n + 2) * sizeof **words);
		(*words)[(*n)++] = bds_util_xstrdup(w);
		(*words)[*n] = NULL;
	}
	free(copy);
}

static int usage(const char *why)
{
	if (why)
		bds_util_warn("%s", why);
	fputs(usage_text, stderr);
	return BDS_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	const char *workspace = NULL, *rev = NULL, *driver = "local";
	const char *bazel = getenv("BAZEL") && *getenv("BAZEL") ? getenv("BAZEL") : "bazel";
	char **hash_options = bds_util_xcalloc((size_t)argc + 1, sizeof *hash_options);
	char **startup = NULL, **command = NULL;
	size_t n = 0, nstartup = 0, ncommand = 0;
	int rc = BDS_EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_value = i + 1 < argc;
		if ((!strcmp(a, "-w") || !strcmp(a, "--workspace")) && has_value)
			workspace = argv[++i];
		else if (!strcmp(a, "--rev") && has_value)
			rev = argv[++i];
		else if (!strcmp(a, "--driver") && has_value)
			driver = argv[++i];
		else if (!strcmp(a, "--bazel") && has_value)
			bazel = argv[++i];
		else if ((!strcmp(a, "-so") || !strcmp(a, "--startup-options")) && has_value)
			add_words(&startup, &nstartup, argv[++i]);
		else if ((!strcmp(a, "-co") || !strcmp(a, "--command-options")) && has_value)
			add_words(&command, &ncommand, argv[++i]);
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			rc = BDS_EXIT_OK;
			goto out;
		} else if (!strcmp(a, "-w") || !strcmp(a, "--workspace") || !strcmp(a, "--rev") ||
		           !strcmp(a, "--driver") || !strcmp(a, "--bazel") || !strcmp(a, "-so") ||
		           !strcmp(a, "--startup-options") || !strcmp(a, "-co") || !strcmp(a, "--command-options")) {
			rc = usage("option needs a value");
			goto out;
		} else
			hash_options[n++] = argv[i]; /* bds-hash options, verbatim */
	}
	if (!workspace) {
		rc = usage("missing -w WORKSPACE");
		goto out;
	}
	if (!bds_driver_find(driver)) {
		bds_util_warn("unknown --driver '%s' (this build has: %s)", driver, bds_driver_names);
		rc = usage(NULL);
		goto out;
	}
	for (size_t i = 0; i < nstartup; i++) {
		const char *refused = bds_fingerprint_refused_startup(startup[i]);
		if (refused) {
			bds_util_warn("startup option '%s' is refused: bds keeps a warm Bazel server and its output "
			              "base, which %s would move or replace", startup[i], refused);
			rc = BDS_EXIT_USAGE;
			goto out;
		}
	}
	/* bds-hash's own option table says what the options mean (an abbreviation, the last of
	 * two values): the key is of what they do, not of how they were written */
	jv options = bds_hash_args_canonical(hash_options, n);
	if (!jv_is_valid(options)) {
		char *msg = bds_json_error_message(options);
		rc = usage(msg);
		free(msg);
		goto out;
	}
	char ws[PATH_MAX];
	struct stat st;
	errno = 0;
	if (!realpath(workspace, ws) || stat(ws, &st) != 0 || !S_ISDIR(st.st_mode)) {
		bds_util_warn("workspace '%s': %s", workspace, errno ? strerror(errno) : "not a directory");
		jv_free(options);
		goto out;
	}
	struct bds_fingerprint_input in = {ws, rev, bazel, driver, startup, nstartup, command, ncommand};
	jv fp = bds_fingerprint_compute(&in, jv_copy(options));
	if (!jv_is_valid(fp)) {
		char *msg = bds_json_error_message(fp);
		bds_util_warn("%s", msg);
		free(msg);
		jv_free(options);
		goto out;
	}
	jv env = jv_object();
	env = jv_object_set(env, jv_string("workspace"), jv_string(ws));
	env = jv_object_set(env, jv_string("driver"), jv_string(driver));
	env = jv_object_set(env, jv_string("fingerprint"), fp);
	env = jv_object_set(env, jv_string("hash_options"), options);
	if (bds_envelope_write(stdout, env) < 0 || bds_util_close_stdout() < 0) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	rc = BDS_EXIT_OK;
out:
	free(hash_options);
	bds_util_free_list(startup);
	bds_util_free_list(command);
	return rc;
}

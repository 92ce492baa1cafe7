/* bds-fingerprint: the first pipeline stage: the cache key of the workspace's graph. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "exec.h"
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

struct args {
	const char *workspace, *rev, *driver, *bazel;
	char **hash_options; /* bds-hash options, verbatim */
	char **startup, **command;
	size_t n, nstartup, ncommand;
};

/* Is a one of this program's options that take a value? */
static int takes_value(const char *a)
{
	static const char *const names[] = {"-w",   "--workspace",       "--rev", "--driver",         "--bazel",
	                                    "-so",  "--startup-options", "-co",   "--command-options", NULL};
	for (const char *const *n = names; *n; n++)
		if (!strcmp(a, *n))
			return 1;
	return 0;
}

/* Our options are taken out, all else is bds-hash's. 0 to proceed, -1 after --help, else
 * an exit status. */
static int parse_args(int argc, char **argv, struct args *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_value = i + 1 < argc;
		if ((!strcmp(a, "-w") || !strcmp(a, "--workspace")) && has_value)
			o->workspace = argv[++i];
		else if (!strcmp(a, "--rev") && has_value)
			o->rev = argv[++i];
		else if (!strcmp(a, "--driver") && has_value)
			o->driver = argv[++i];
		else if (!strcmp(a, "--bazel") && has_value)
			o->bazel = argv[++i];
		else if ((!strcmp(a, "-so") || !strcmp(a, "--startup-options")) && has_value)
			add_words(&o->startup, &o->nstartup, argv[++i]);
		else if ((!strcmp(a, "-co") || !strcmp(a, "--command-options")) && has_value)
			add_words(&o->command, &o->ncommand, argv[++i]);
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return -1;
		} else if (takes_value(a))
			return bds_cli_usage(usage_text, "option needs a value");
		else
			o->hash_options[o->n++] = argv[i];
	}
	if (!o->workspace)
		return bds_cli_usage(usage_text, "missing -w WORKSPACE");
	int rc = bds_cli_check_driver(usage_text, o->driver);
	for (size_t i = 0; rc == 0 && i < o->nstartup; i++) {
		const char *refused = bds_fingerprint_refused_startup(o->startup[i]);
		if (refused) {
			bds_util_warn("startup option '%s' is refused: bds keeps a warm Bazel server and its output "
			              "base, which %s would move or replace", o->startup[i], refused);
			rc = BDS_EXIT_USAGE;
		}
	}
	return rc;
}

/* The fingerprint of the workspace, written as the pipeline's first envelope. The exit
 * status. */
static int run(const struct args *o)
{
	/* bds-hash's own option table says what the options mean (an abbreviation, the last of
	 * two values): the key is of what they do, not of how they were written */
	jv options = bds_hash_args_canonical(o->hash_options, o->n);
	if (!jv_is_valid(options)) {
		char *msg = bds_json_error_message(options);
		int rc = bds_cli_usage(usage_text, msg);
		free(msg);
		return rc;
	}
	char ws[PATH_MAX];
	struct stat st;
	errno = 0;
	if (!realpath(o->workspace, ws) || stat(ws, &st) != 0 || !S_ISDIR(st.st_mode)) {
		bds_util_warn("workspace '%s': %s", o->workspace, errno ? strerror(errno) : "not a directory");
		jv_free(options);
		return BDS_EXIT_FAIL;
	}
	struct bds_fingerprint_input in = {ws,         o->rev,      o->bazel,   o->driver,
	                                   o->startup, o->nstartup, o->command, o->ncommand};
	jv fp = bds_fingerprint_compute(&in, jv_copy(options));
	if (!jv_is_valid(fp)) {
		char *msg = bds_json_error_message(fp);
		bds_util_warn("%s", msg);
		free(msg);
		jv_free(options);
		return BDS_EXIT_FAIL;
	}
	jv env = jv_object();
	env = jv_object_set(env, jv_string("workspace"), jv_string(ws));
	env = jv_object_set(env, jv_string("driver"), jv_string(o->driver));
	env = jv_object_set(env, jv_string("fingerprint"), fp);
	env = jv_object_set(env, jv_string("hash_options"), options);
	return bds_cli_envelope_finish(env, BDS_EXIT_OK);
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	struct args a = {.driver = "local", .bazel = bds_cli_env("BAZEL", "bazel")};
	a.hash_options = bds_util_xcalloc((size_t)argc + 1, sizeof *a.hash_options);
	int rc = parse_args(argc, argv, &a);
	bds_exec_die_with_command(); /* git, the Bazel client, the VMM's --version */
	if (rc == 0)
		rc = run(&a);
	else if (rc < 0)
		rc = BDS_EXIT_OK; /* --help */
	free(a.hash_options);
	bds_util_free_list(a.startup);
	bds_util_free_list(a.command);
	return rc;
}

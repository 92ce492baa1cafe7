/* cli: what every cmd/ program does alike: --version, usage and option messages, the
 * environment's defaults, and a pipeline stage's envelope in and out. */
#define _GNU_SOURCE /* getopt_long */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "envelope.h"
#include "util.h"
#include "version.h"

int bds_cli_wants_version(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (!strcmp(argv[i], "--version"))
			return 1;
	return 0;
}

int bds_cli_print_version(void)
{
	if (printf("%s %s\n", bds_util_progname(), BDS_VERSION) < 0 || bds_util_close_stdout() < 0) {
		bds_util_warn("%s", bds_util_error());
		return BDS_EXIT_FAIL;
	}
	return BDS_EXIT_OK;
}

/* Does the abbreviation name[0..n) start two long options with different values? */
static int getopt_ambiguous(const char *name, size_t n, const struct option *longopts)
{
	const struct option *first = NULL;
	for (const struct option *o = longopts; n && o && o->name; o++)
		if (strncmp(o->name, name, n) == 0) {
			if (first && first->val != o->val)
				return 1;
			first = first ? first : o;
		}
	return 0;
}

/* glibc's getopt_long: an unknown long option leaves optopt 0; any other error sets
 * optopt to the option's value (its letter for a short one) and, for a long one or the
 * last letter of a cluster, moves optind past the argument. */
void bds_cli_bad_option(char **argv, const char *shortopts, const struct option *longopts)
{
	const char *prev = optind > 0 ? argv[optind - 1] : "";
	size_t n = strncmp(prev, "--", 2) == 0 ? strcspn(prev + 2, "=") : 0;
	const struct option *hit = NULL;
	for (const struct option *o = longopts; n && o && o->name; o++)
		if (strncmp(o->name, prev + 2, n) == 0 && o->val == optopt && optopt != 0)
			hit = o;
	if (optopt == 0) /* glibc leaves 0 for a long option it does not know, or not uniquely */
		bds_util_warn("%s option '%.*s'", optind > 0 && getopt_ambiguous(prev + 2, n, longopts) ? "ambiguous" : "unknown",
		              (int)(n + 2), prev);
	else if (hit)
		bds_util_warn("option '--%s' %s", hit->name, prev[n + 2] == '=' ? "takes no value" : "needs a value");
	else if (optopt > 0 && optopt < 128 && optopt != ':' && strchr(shortopts, optopt))
		bds_util_warn("option '-%c' needs a value", optopt);
	else if (optopt > 0 && optopt < 128)
		bds_util_warn("unknown option '-%c'", optopt);
	else
		bds_util_warn("bad option '%s'", prev);
}

int bds_cli_usage(const char *usage_text, const char *why)
{
	if (why)
		bds_util_warn("%s", why);
	fputs(usage_text, stderr);
	return BDS_EXIT_USAGE;
}

int bds_cli_check_driver(const char *usage_text, const char *name)
{
	if (!name || bds_driver_find(name))
		return 0;
	bds_util_warn("unknown --driver '%s' (this build has: %s)", name, bds_driver_names);
	return bds_cli_usage(usage_text, NULL);
}

const char *bds_cli_env(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

const char *bds_cli_tmpdir(void)
{
	const char *tmp = bds_cli_env("TMPDIR", "/tmp");
	if (tmp[0] != '/') {
		bds_util_fail("TMPDIR '%s': not an absolute path", tmp);
		return NULL;
	}
	return tmp;
}

static void json_no_memory(void *arg)
{
	(void)arg;
	bds_util_warn("out of memory parsing JSON input");
	_exit(BDS_EXIT_FAIL);
}

void bds_cli_json_nomem_fails(void)
{
	jv_nomem_handler(json_no_memory, NULL);
}

int bds_cli_close_stdout(int status)
{
	if (bds_util_close_stdout() < 0) {
		bds_util_warn("%s", bds_util_error());
		return BDS_EXIT_FAIL;
	}
	return status;
}

int bds_cli_envelope_begin(jv *env)
{
	switch (bds_envelope_begin(stdin, stdout, env)) {
	case BDS_ENVELOPE_PROCEED:
		return 0;
	case BDS_ENVELOPE_COLD:
		return bds_cli_close_stdout(BDS_EXIT_COLD);
	case BDS_ENVELOPE_ERROR:
		break;
	}
	bds_util_warn("%s", bds_util_error());
	return BDS_EXIT_FAIL;
}

int bds_cli_envelope_finish(jv env, int status)
{
	if (bds_envelope_write(stdout, env) < 0) {
		bds_util_warn("%s", bds_util_error());
		return BDS_EXIT_FAIL;
	}
	return bds_cli_close_stdout(status);
}

/* cli-test: drives lib/cli's helpers for tests/unit.bats, one helper per run.
 *
 *   cli-test env NAME FALLBACK   prints bds_cli_env(NAME, FALLBACK)
 *   cli-test tmpdir              prints bds_cli_tmpdir(), or says why not (exit 1)
 *   cli-test driver NAME         bds_cli_check_driver: exit 0, or its message and 64
 *   cli-test stage               a pipeline stage that adds "seen": true to the envelope
 *
 * Its exit status is the helper's. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static const char usage_text[] = "usage: cli-test env|tmpdir|driver|stage ...\n";

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "env") && argc == 4)
		return printf("%s\n", bds_cli_env(argv[2], argv[3])) < 0 ? 1 : 0;
	if (!strcmp(what, "tmpdir") && argc == 2) {
		const char *tmp = bds_cli_tmpdir();
		if (!tmp) {
			bds_util_warn("%s", bds_util_error());
			return BDS_EXIT_FAIL;
		}
		return bds_cli_close_stdout(printf("%s\n", tmp) < 0 ? BDS_EXIT_FAIL : BDS_EXIT_OK);
	}
	if (!strcmp(what, "driver") && argc == 3)
		return bds_cli_check_driver(usage_text, argv[2]);
	if (!strcmp(what, "stage") && argc == 2) {
		jv env;
		int rc = bds_cli_envelope_begin(&env);
		if (rc != 0)
			return rc;
		return bds_cli_envelope_finish(jv_object_set(env, jv_string("seen"), jv_true()), BDS_EXIT_OK);
	}
	return bds_cli_usage(usage_text, "unknown test");
}

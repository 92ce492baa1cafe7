/* cli: --version, the same in every program, from the one version the build writes. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

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

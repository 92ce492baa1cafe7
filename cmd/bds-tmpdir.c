/* bds-tmpdir: a temporary directory for a shell script that is removed when the script
 * dies, however it dies, with what dead scripts left swept first. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fs.h"
#include "keeper.h"
#include "lock.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-tmpdir --owner PID PREFIX\n"
	"       prints a new directory ${TMPDIR:-/tmp}/PREFIX.XXXXXX, removed when PID dies\n";

#define PREFIX_MAX 64

/* Letters, digits, '.', '_', '-', not starting with '.': one plain file name. */
static int valid_prefix(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > PREFIX_MAX || p[0] == '.')
		return 0;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			return 0;
	return 1;
}

static int parse_args(int argc, char **argv, long *owner, const char **prefix)
{
	static const struct option opts[] = {
		{"owner", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (bds_util_parse_pid(optarg, owner) < 0)
				return bds_cli_usage(usage_text, "--owner takes a process id (2 to 4194304)");
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (*owner == 0)
		return bds_cli_usage(usage_text, "missing --owner PID (the script's $$)");
	if (argc - optind != 1)
		return bds_cli_usage(usage_text, argc == optind ? "missing PREFIX" : "unexpected argument");
	*prefix = argv[optind];
	if (!valid_prefix(*prefix))
		return bds_cli_usage(usage_text, "PREFIX takes letters, digits, '.', '_' and '-' (at most 64, not starting with '.')");
	return 0;
}

/* Makes the directory, hands it to a keeper that removes it when `owner` dies, and
 * prints its path. The exit status. */
static int make_tmpdir(long owner, const char *prefix)
{
	long keeper = 0;
	int rc = BDS_EXIT_FAIL, lock = -1;
	char *dir = NULL, *template = NULL, *sweep = NULL;
	const char *tmp = bds_cli_tmpdir();
	if (!tmp) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	sweep = bds_util_xasprintf("%s.", prefix);
	bds_lock_sweep(tmp, sweep, BDS_LOCK_UNLOCKED_GRACE);
	template = bds_util_xasprintf("%s/%s.XXXXXX", tmp, prefix);
	if (!(dir = bds_lock_make_dir(template, &lock))) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	char *const cleanup[] = {dir, NULL};
	struct bds_keeper_spec ks = {.cleanup = cleanup, .lock_fds = &lock, .nlock_fds = 1, .owner = owner};
	/* named first: a sweep spares the directory while its owner lives, keeper or not */
	if (bds_lock_set_owner(dir, owner) < 0 || bds_keeper_start(&ks, &keeper, NULL) < 0) {
		bds_util_warn("%s", bds_util_error());
		bds_fs_remove_tree(dir);
		goto out;
	}
	if (printf("%s\n", dir) < 0 || bds_util_close_stdout() < 0) {
		bds_util_warn("%s", bds_util_error());
		bds_keeper_stop(keeper, bds_util_now() + 10); /* it removes the directory */
		goto out;
	}
	rc = BDS_EXIT_OK;
out:
	bds_lock_release(lock);
	free(dir);
	free(template);
	free(sweep);
	return rc;
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	long owner = 0;
	const char *prefix = NULL;
	int r = parse_args(argc, argv, &owner, &prefix);
	if (r != 0)
		return r < 0 ? BDS_EXIT_OK : r;
	return make_tmpdir(owner, prefix);
}

/* bds-output: standard input to a file, written as every bds -o writes it, for scripts. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-output OUT < DATA\n"
	"       writes standard input to OUT as bds-diff -o does (a regular file replaced atomically,\n"
	"       a device, FIFO or pipe in place, a FIFO with no reader refused)\n";

#define CHUNK ((size_t)1 << 16)

/* 0 to proceed with *out set, -1 after --help, else an exit status. */
static int parse_args(int argc, char **argv, const char **out)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0;
	/* '+': a name after OUT is an extra argument, never an option */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "+h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (argc - optind != 1)
		return bds_cli_usage(usage_text, argc == optind ? "missing OUT" : "unexpected argument");
	if (!argv[optind][0])
		return bds_cli_usage(usage_text, "OUT is an empty name");
	*out = argv[optind];
	return 0;
}

static int copy_chunk(void *arg, const char *buf, size_t n)
{
	FILE *f = arg;
	/* a write error is found by bds_util_atomic_commit (ferror) */
	fwrite(buf, 1, n, f);
	return 0;
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	const char *out = NULL;
	int r = parse_args(argc, argv, &out);
	if (r != 0)
		return r < 0 ? BDS_EXIT_OK : r;
	char *tmp = NULL;
	FILE *f = bds_util_atomic_open(out, &tmp);
	/* all of standard input, or OUT stays as it was */
	if (!f || bds_util_read_chunks(STDIN_FILENO, "stdin", CHUNK, copy_chunk, f) < 0) {
		bds_util_warn("%s", bds_util_error());
		bds_util_atomic_discard(f, tmp);
		return BDS_EXIT_FAIL;
	}
	if (bds_util_atomic_commit(f, tmp, out) < 0) {
		bds_util_warn("%s", bds_util_error());
		return BDS_EXIT_FAIL;
	}
	return BDS_EXIT_OK;
}

/* cli: the command-line conventions every cmd/ program shares. */
#ifndef BDS_CLI_H
#define BDS_CLI_H

#include <jv.h>

/* cli is cmd/'s helper module: unlike the rest of lib/, what it does is a program's
 * answer, so it may write stdout and stderr and name exit statuses (never exit itself,
 * but for the allocation failure libjq leaves no other way out of). Each helper here is
 * what every main() would otherwise write again. */

/* True when the program is asked for its version: an argument "--version" before any
 * "--" (after which arguments are a command's or file names, never our options). Every
 * program checks this first, so --version works whatever else its command line holds. */
int bds_cli_wants_version(int argc, char **argv);

/* Prints "<program> <version>" on stdout (BDS_VERSION, the build's one version string)
 * and returns the exit status: 0, or 1 (with a message) when stdout cannot be written.
 * Like --help, this is the program's answer, so unlike the rest of lib/ it writes stdout
 * and names the status; every program calls it the same way:
 *     if (bds_cli_wants_version(argc, argv))
 *             return bds_cli_print_version(); */
int bds_cli_print_version(void);

struct option;

/* After getopt_long returned '?' or ':' (with opterr = 0): warns "unknown option 'X'",
 * "option 'X' needs a value", "option 'X' takes no value" or "ambiguous option 'X'",
 * naming the option as it was written: the long one, or the one letter of a cluster
 * such as -sh (where argv[optind - 1] is not the option at all). shortopts and longopts
 * are those given to getopt_long. */
void bds_cli_bad_option(char **argv, const char *shortopts, const struct option *longopts);

/* A command line that cannot be run: warns `why` (unless NULL), prints the program's
 * usage text on stderr and returns BDS_EXIT_USAGE, so that a parser says
 *     return bds_cli_usage(usage_text, "missing --store STORE"); */
int bds_cli_usage(const char *usage_text, const char *why);

/* --driver NAME: 0 when NULL (not given) or a driver of this build; else warns
 * "unknown --driver 'NAME' (this build has: local, qemu, firecracker)" and returns
 * bds_cli_usage(usage_text, NULL). */
int bds_cli_check_driver(const char *usage_text, const char *name);

/* The environment variable `name` when set and not empty, else `fallback`: an empty
 * value means "not set", as in the scripts' ${NAME:-fallback}. */
const char *bds_cli_env(const char *name, const char *fallback);

/* $TMPDIR (else /tmp), which must be absolute: the paths made under it outlive the
 * caller's working directory. NULL when it is not (error recorded, naming it). */
const char *bds_cli_tmpdir(void);

/* libjq cannot return an allocation failure: from now on one (JSON input too large for
 * the memory there is) is the input's failure, "out of memory parsing JSON input" and
 * exit 1, not a crash. Every program that reads JSON input calls it first. */
void bds_cli_json_nomem_fails(void);

/* A program's last word on stdout: closes it (what is buffered is written) and returns
 * `status`, or BDS_EXIT_FAIL with the write error said. Called once, at the end. */
int bds_cli_close_stdout(int status);

/* A pipeline stage's start: reads the envelope on stdin. 0: *env owns it, the stage does
 * its work. Else the exit status, *env jv_null(): BDS_EXIT_COLD when the envelope was
 * cold (written through to stdout unchanged, stdout closed), BDS_EXIT_FAIL with the one
 * line said (empty or invalid input, or a failed write). */
int bds_cli_envelope_begin(jv *env);

/* A pipeline stage's end: writes `env` (consumed) as one line on stdout and closes
 * stdout. `status` (BDS_EXIT_OK, or BDS_EXIT_COLD for a cold envelope), or BDS_EXIT_FAIL
 * with the write error said. */
int bds_cli_envelope_finish(jv env, int status);

#endif

/* cli: the command-line conventions every cmd/ program shares. */
#ifndef BDS_CLI_H
#define BDS_CLI_H

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

#endif

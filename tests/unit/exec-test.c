/* exec-test: lib/exec.c's capture (bds_exec_output): status, streams, limits, and that the
 * deadline kills the command's whole process group, not the command alone.
 *
 * usage: exec-test DIR (a scratch directory). Prints one line per check; exit 1 when one
 * failed. */
#include "exec.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void expect(const char *what, int ok, const char *got)
{
	printf("%s %s: %s\n", ok ? "ok" : "FAIL", what, got);
	if (!ok)
		failures++;
}

/* Runs `sh -c script` and prints "status N out 'OUT' err 'ERR' (N bytes)" (ERR's first
 * 16 bytes) or "-1 ERROR". */
static void check(const char *what, const char *script, enum bds_exec_keep keep, size_t limit, double timeout,
                  const char *want)
{
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	struct bds_exec_output o;
	int st = bds_exec_output(argv, NULL, keep, limit, timeout, &o);
	char *got = st < 0 ? bds_util_xasprintf("-1 %s", bds_util_error())
	                   : bds_util_xasprintf("status %d out '%s' err '%.16s' (%zu bytes)", st, o.out, o.err, strlen(o.err));
	expect(what, strcmp(got, want) == 0, got);
	if (strcmp(got, want) != 0)
		printf("  expected %s\n", want);
	free(got);
	free(o.out);
}

/* Whether process `pid` still runs (a zombie does not), waiting up to 2 s for it to go. */
static int still_runs(long pid)
{
	char path[64], state = 0;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "r");
		int n = f ? fscanf(f, "%*d (%*[^)]) %c", &state) : 0;
		if (f)
			fclose(f);
		if (n != 1 || state == 'Z')
			return 0;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 1;
}

/* The pid in `path` once a command wrote it (up to 5 s), else 0. */
static long read_pid(const char *path)
{
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(path, "r");
		long pid = 0;
		int n = f ? fscanf(f, "%ld", &pid) : 0;
		if (f)
			fclose(f);
		if (n == 1 && pid > 0)
			return pid;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* A program that called bds_exec_die_with_command, killed by TERM while its command runs:
 * it ends by TERM, and the command's group (its background child too) ends with it. */
static void die_with_command(const char *dir)
{
	char *pidfile = bds_util_xasprintf("%s/signal-child.pid", dir);
	char *script = bds_util_xasprintf("sleep 30 & echo $! > '%s'; wait", pidfile);
	pid_t prog = fork();
	if (prog == 0) {
		bds_exec_die_with_command();
		char *argv[] = {"sh", "-c", script, NULL};
		struct bds_exec_output o;
		bds_exec_output(argv, NULL, BDS_EXEC_ERR_DROP, 100, 60, &o);
		_exit(0); /* never reached: TERM ends us first */
	}
	long child = prog > 0 ? read_pid(pidfile) : 0;
	int wstatus = 0;
	if (prog > 0) {
		/* the group is known to the program from just after its fork, microseconds before
		 * the command can write its pid: a margin for a loaded machine */
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		kill(prog, SIGTERM);
		waitpid(prog, &wstatus, 0);
	}
	int by_term = prog > 0 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGTERM;
	expect("TERM ends a program that runs a command as TERM would", by_term,
	       by_term ? "killed by SIGTERM" : "it ended otherwise");
	int runs = child > 0 && still_runs(child);
	expect("and its command's group goes with it", child > 0 && !runs,
	       child <= 0 ? "no pid file" : runs ? "its background sleep still runs" : "its background sleep is gone");
	if (runs)
		kill((pid_t)child, SIGKILL);
	free(script);
	free(pidfile);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: exec-test DIR\n", stderr);
		return 64;
	}
	check("a failing status is an answer", "echo out; echo err >&2; exit 3", BDS_EXEC_ERR_START, 100, 10,
	      "status 3 out 'out\n' err 'err\n' (4 bytes)");
	check("stderr dropped", "echo out; echo err >&2", BDS_EXEC_ERR_DROP, 100, 10, "status 0 out 'out\n' err '' (0 bytes)");
	check("stderr merged", "echo err >&2", BDS_EXEC_ERR_MERGE, 100, 10, "status 0 out 'err\n' err '' (0 bytes)");
	check("stdout exactly at the limit", "printf 12345", BDS_EXEC_ERR_DROP, 5, 10, "status 0 out '12345' err '' (0 bytes)");
	check("stdout over the limit", "printf 123456", BDS_EXEC_ERR_DROP, 5, 10,
	      "-1 command 'sh' failed: output larger than 5 bytes (killed)");
	check("only the start of stderr kept", "head -c 5000 /dev/zero | tr '\\0' x >&2; echo done", BDS_EXEC_ERR_START,
	      100, 10, "status 0 out 'done\n' err 'xxxxxxxxxxxxxxxx' (1023 bytes)");
	check("killed by a signal", "kill -TERM $$", BDS_EXEC_ERR_DROP, 100, 10,
	      "-1 command 'sh' failed: killed by signal SIGTERM");
	char *missing[] = {"/nonexistent/bds-no-such-command", NULL};
	struct bds_exec_output o;
	int st = bds_exec_output(missing, NULL, BDS_EXEC_ERR_START, 100, 10, &o);
	expect("a command that cannot run", st == -1 && !o.out, bds_util_error());

	/* the deadline kills the group: a child the command started in the background too */
	char *pidfile = bds_util_xasprintf("%s/child.pid", argv[1]);
	char *script = bds_util_xasprintf("sleep 30 & echo $! > '%s'; wait", pidfile);
	check("deadline", script, BDS_EXEC_ERR_DROP, 100, 0.5, "-1 command 'sh' failed: timed out after 0.5 s (killed)");
	FILE *f = fopen(pidfile, "r");
	long pid = 0;
	if (!f || fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	if (f)
		fclose(f);
	int runs = pid > 0 && still_runs(pid);
	expect("the command's child is killed at the deadline too", pid > 0 && !runs,
	       pid <= 0 ? "no pid file" : runs ? "its background sleep still runs" : "its background sleep is gone");
	free(script);
	free(pidfile);
	die_with_command(argv[1]);
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}

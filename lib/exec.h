/* exec: local child processes with a deadline, their output pumped to descriptors or captured. */
#ifndef BDS_EXEC_H
#define BDS_EXEC_H

#include <signal.h>
#include <stddef.h>

/* Set to a signal number by the caller's handler (installed without SA_RESTART, so waits
 * wake up) to stop the running command: it is killed as at a deadline, res->interrupted
 * is set, and other waits of exec and ssh give up. */
extern volatile sig_atomic_t bds_exec_interrupt;

/* Sends TERM, INT and HUP to `handler`, without SA_RESTART, so that waits wake up. */
void bds_exec_catch_stop_signals(void (*handler)(int));

/* For a program that does not catch TERM, INT and HUP itself: from now on they kill the
 * running command's process group (which, in a group of its own, does not get them) and
 * then end us as they would have. Without it, a lookup killed by its CI job's timeout
 * would leave its git running, with nobody left to enforce its deadline. */
void bds_exec_die_with_command(void);

/* How a command ended, for the local and the ssh transport alike. */
struct bds_exec_result {
	int status;      /* exit status; meaningful when signal is "" and timed_out is 0 */
	char signal[32]; /* "" or the signal's name without "SIG" ("KILL", "TERM") */
	int timed_out;   /* the deadline expired and the command was killed */
	int interrupted; /* bds_exec_interrupt's signal when it made us kill the command */
	int refused;     /* bds_exec_run_gated: the gate said no, the command never started */
	double seconds;  /* wall time from start to reaped */
};

/* Runs argv[0] (searched in PATH) in `cwd` (NULL: ours), stdin from /dev/null, in a
 * process group of its own. Its stdout is copied to out_fd and its stderr to err_fd as it
 * comes. At `deadline` (bds_util_now() seconds; <= 0: none) the whole group is killed.
 * The child is always reaped. Returns 0 when the command ran (whatever its status: see
 * `res`), or -1 with the error recorded (it could not be started, or a copy failed). */
int bds_exec_run(char *const argv[], const char *cwd, int out_fd, int err_fd, double deadline,
                 struct bds_exec_result *res);

/* bds_exec_run, with `gate(arg)` called in the command's own process, in `cwd`, just
 * before it becomes the command: anything but 0 and the command never starts
 * (res->refused). For a place the caller may lose while it works there (a warm worktree
 * whose lock a killed keeper let go): a gate that finds the place still the caller's
 * proves that whoever takes it over later finds this process there (bds_proc_kill_in). */
int bds_exec_run_gated(char *const argv[], const char *cwd, int (*gate)(void *arg), void *arg, int out_fd,
                       int err_fd, double deadline, struct bds_exec_result *res);

/* Runs argv as bds_exec_run does, its stderr to err_fd, and returns its stdout (malloc'd,
 * NUL-terminated, at most `limit` bytes, *len set) when it exited 0 in time; NULL
 * otherwise, with the reason recorded ("command 'git' failed: exit status 128"). For a
 * command whose failing status is an answer too, see bds_exec_output. */
char *bds_exec_capture(char *const argv[], const char *cwd, int err_fd, size_t limit, double deadline, size_t *len);

/* What bds_exec_output keeps of a command's stderr. */
enum bds_exec_keep {
	BDS_EXEC_ERR_DROP,  /* nothing */
	BDS_EXEC_ERR_MERGE, /* all of it, in `out` with stdout, in the order they come */
	BDS_EXEC_ERR_START, /* its start, in `err` (the rest is read and dropped): a tool's reason */
};

/* What bds_exec_output captured. */
struct bds_exec_output {
	char *out; /* stdout (and stderr, BDS_EXEC_ERR_MERGE): malloc'd, NUL-terminated */
	size_t len;
	char err[1024]; /* BDS_EXEC_ERR_START: the start of stderr, NUL-terminated; else "" */
};

/* Runs argv as bds_exec_run does, for at most `timeout` seconds (<= 0: no limit), and
 * keeps its stdout, at most `limit` bytes, and of its stderr what `keep` says. For a
 * command whose failing status is an answer too: returns its exit status, whatever it is,
 * with the output in `o` (free o->out); or -1 with the reason recorded and o->out NULL
 * when it could not start or did not exit on its own: killed at the deadline ("command
 * 'git' failed: timed out after 60 s (killed)"), by a signal, interrupted, or when it
 * wrote more than `limit` (its process group is killed then). */
int bds_exec_output(char *const argv[], const char *cwd, enum bds_exec_keep keep, size_t limit, double timeout,
                    struct bds_exec_output *o);

/* Writes all of buf, retrying on EINTR and short writes, waiting on EAGAIN.
 * Returns 0 or -1 (errno set). */
int bds_exec_write_all(int fd, const void *buf, size_t len);

/* The reason part of "command 'X' failed: REASON": "exit status N", "killed by signal
 * SIGX", "timed out after N s (killed)" or "interrupted by SIGX (killed)". Malloc'd; NULL
 * when the command succeeded. */
char *bds_exec_describe_failure(const struct bds_exec_result *res, double timeout);

#endif

/* proc: what Linux's /proc says about processes (their state, their start time against a
 * reused pid, their working directory), and pidfds where the kernel has them.
 *
 * BDS_TEST_NO_PIDFD=1 in the environment makes this module do without pidfds (as on a
 * kernel without pidfd_open): for the test suite only. */
#ifndef BDS_PROC_H
#define BDS_PROC_H

#include <stddef.h>

/* A process as it can be named without a race against pid reuse: its pid and the start
 * time /proc gives it (clock ticks after boot). */
struct bds_proc_id {
	long pid;
	unsigned long long start;
};

/* The state letter and start time of `pid` (from /proc/<pid>/stat). 1, or 0 when there
 * is no such process. */
int bds_proc_stat(long pid, char *state, unsigned long long *start);

/* A pidfd for pid (close-on-exec), or -1: none (errno set; ENOSYS also when
 * BDS_TEST_NO_PIDFD=1). */
int bds_proc_pidfd(long pid);

/* The owner record of an owned directory (lock.h): "<pid> <start> <boot id>\n", where the
 * boot id tells this boot's start times from another's. At most size bytes in buf; 0, or
 * -1 (recorded: "the owner process N does not exist" or "has exited"). */
int bds_proc_owner_record(long pid, char *buf, size_t size);

/* Does an owner record name a process that is alive now (same boot, pid and start time,
 * not a zombie)? A record that cannot be parsed names nobody. */
int bds_proc_owner_alive(const char *record);

/* Stops every process working in `dir` (its working directory is dir or below it, as with
 * `git -C` and the commands run there), but those in spare[], this process and its
 * ancestors: SIGKILL, then waits until they are gone (zombies count as gone), and looks
 * again, until none is left or `deadline` (bds_util_now() seconds) passes. For a warm
 * machine's worktree whose lock has just been taken: whatever still works there belongs to
 * a pipeline that is dead. Returns how many were killed, or -1 (recorded: one could not be
 * killed, or was still there at the deadline). A missing dir: 0. */
int bds_proc_kill_in(const char *dir, const long *spare, size_t nspare, double deadline);

#endif

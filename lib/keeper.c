/* keeper: the process that holds a pipeline's VMM, locks and directories (keeper.h). */
#define _GNU_SOURCE /* closefrom, NSIG */
#include "keeper.h"

#include "exec.h"
#include "fs.h"
#include "proc.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* How often the keeper looks at its VMM (and, without pidfds, at its owner). */
#define KEEPER_POLL_MS 100

/* The owner, watched for its death: a pidfd (readable once the process has exited, reaped
 * or not), or on kernels without pidfd_open its /proc entry (state and start time). */
struct owner_watch {
	long pid;
	int pidfd;
	unsigned long long start; /* /proc/<pid>/stat start time, against pid reuse */
};

static int watch_owner(long pid, struct owner_watch *w)
{
	w->pid = pid;
	w->start = 0;
	w->pidfd = bds_proc_pidfd(pid);
	if (w->pidfd >= 0) {
		/* readable at once: the owner has exited already (a zombie not yet reaped) */
		struct pollfd p = {.fd = w->pidfd, .events = POLLIN};
		if (poll(&p, 1, 0) == 0)
			return 0;
		close(w->pidfd);
		w->pidfd = -1;
		return bds_util_fail("the owner process %ld has exited", pid);
	}
	if (errno == ESRCH)
		return bds_util_fail("the owner process %ld does not exist", pid);
	char state = 0;
	if (!bds_proc_stat(pid, &state, &w->start))
		return bds_util_fail("the owner process %ld does not exist", pid);
	if (state == 'Z' || state == 'X')
		return bds_util_fail("the owner process %ld has exited", pid);
	return 0;
}

/* Waits up to ms for the owner's death. 1: it is gone. */
static int owner_gone(const struct owner_watch *w, int ms)
{
	if (w->pidfd >= 0) {
		struct pollfd p = {.fd = w->pidfd, .events = POLLIN};
		return poll(&p, 1, ms) > 0;
	}
	char state = 0;
	unsigned long long start = 0;
	if (!bds_proc_stat(w->pid, &state, &start) || state == 'Z' || state == 'X' || start != w->start)
		return 1;
	bds_util_sleep_ms(ms);
	return 0;
}

static volatile sig_atomic_t keeper_stop;

static void on_keeper_signal(int sig)
{
	(void)sig;
	keeper_stop = 1;
}

/* Closes every descriptor from 3 up but those in keep[]. */
static void close_all_but(const int *keep, size_t n)
{
	int max = 2;
	for (size_t i = 0; i < n; i++)
		if (keep[i] > max)
			max = keep[i];
	for (int fd = 3; fd <= max; fd++) {
		int kept = 0;
		for (size_t i = 0; i < n && !kept; i++)
			kept = keep[i] == fd;
		if (!kept)
			close(fd);
	}
	closefrom(max + 1);
}

/* The VMM's process: dies with its keeper, runs in run_dir with its output in
 * console.log, and holds spec->vmm_fds as descriptors 3, 4, ... and nothing else. */
static void exec_vmm(const struct bds_keeper_spec *spec, pid_t keeper)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != keeper)
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	int log = -1;
	if (!spec->run_dir || chdir(spec->run_dir) == 0)
		log = open(spec->run_dir ? "console.log" : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (log < 0 || null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		_exit(127);
	/* first above the targets, so that no dup2 below closes a descriptor still to move */
	int moved[BDS_KEEPER_MAX_VMM_FDS];
	int n = (int)spec->nvmm_fds;
	for (int i = 0; i < n; i++)
		if ((moved[i] = fcntl(spec->vmm_fds[i], F_DUPFD_CLOEXEC, 3 + n)) < 0)
			_exit(127);
	for (int i = 0; i < n; i++)
		if (dup2(moved[i], 3 + i) < 0)
			_exit(127);
	closefrom(3 + n); /* the VMM holds none of the keeper's locks */
	execvp(spec->vmm_argv[0], spec->vmm_argv);
	dprintf(2, "bds: cannot run '%s': %s\n", spec->vmm_argv[0], strerror(errno));
	_exit(127);
}

/* The keeper's signals are its own, whatever the caller had: nothing blocked (a caller
 * that blocks SIGTERM must not make the keeper deaf to its stop), every disposition the
 * default (the VMM inherits ignored ones), then TERM, INT and HUP to stop; SIGPIPE ignored
 * so that a start report nobody reads fails as a write instead of killing the keeper
 * before it cleans up. */
static void own_signals(void)
{
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL); /* the C library's own two (32, 33) it lets nobody set */
	bds_exec_catch_stop_signals(on_keeper_signal);
	signal(SIGPIPE, SIG_IGN);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The keeper: parent of the VMM, detached from the pipeline's terminal, pipes, working
 * directory and descriptors before it reports that it runs. */
static void keeper_main(const struct bds_keeper_spec *spec, struct owner_watch *w, int report)
{
	setsid();
	own_signals();
	if (chdir("/") != 0) {
		/* "/" is always there */
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0), dup2(null, 1), dup2(null, 2);
	}
	int keep[BDS_KEEPER_MAX_LOCKS + BDS_KEEPER_MAX_VMM_FDS + 2];
	size_t nkeep = 0;
	for (size_t i = 0; i < spec->nlock_fds; i++)
		keep[nkeep++] = spec->lock_fds[i];
	for (size_t i = 0; i < spec->nvmm_fds; i++)
		keep[nkeep++] = spec->vmm_fds[i];
	if (w->pidfd >= 0)
		keep[nkeep++] = w->pidfd;
	keep[nkeep++] = report;
	close_all_but(keep, nkeep);
	pid_t self = getpid();
	pid_t vmm = 0;
	if (spec->vmm_argv) {
		vmm = fork();
		if (vmm == 0)
			exec_vmm(spec, self);
	}
	/* the VMM's descriptors are its own now (a lock among them stays the keeper's) */
	for (size_t i = 0; i < spec->nvmm_fds; i++) {
		int lock = 0;
		for (size_t j = 0; j < spec->nlock_fds && !lock; j++)
			lock = spec->lock_fds[j] == spec->vmm_fds[i];
		if (!lock)
			close(spec->vmm_fds[i]);
	}
	long v = spec->vmm_argv ? (long)vmm : 0;
	if (write(report, &v, sizeof v) != (ssize_t)sizeof v)
		keeper_stop = 1;
	close(report);
	int vmm_gone = vmm <= 0;
	int owner_died = 0;
	while (!keeper_stop) {
		int st;
		if (!vmm_gone && waitpid(vmm, &st, WNOHANG) == vmm)
			vmm_gone = 1; /* keep running: the run directory is removed only at the end */
		if (owner_gone(w, KEEPER_POLL_MS)) {
			owner_died = 1;
			break;
		}
	}
	/* while the locks are still held: what the dead owner left running goes first */
	if (owner_died && spec->owner_died)
		spec->owner_died(spec->owner_died_arg);
	if (!vmm_gone) {
		kill(vmm, SIGKILL);
		while (waitpid(vmm, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (spec->run_dir)
		bds_fs_remove_tree(spec->run_dir);
	for (char *const *p = spec->cleanup; p && *p; p++)
		bds_fs_remove_tree(*p);
	_exit(0); /* the kernel releases the locks */
}

int bds_keeper_start(const struct bds_keeper_spec *spec, long *keeper, long *vmm)
{
	if (spec->owner <= 0)
		return bds_util_fail("a keeper needs the pid of its owner");
	if (spec->nlock_fds > BDS_KEEPER_MAX_LOCKS)
		return bds_util_fail("a keeper holds at most %d locks", BDS_KEEPER_MAX_LOCKS);
	if (spec->nvmm_fds > BDS_KEEPER_MAX_VMM_FDS || (spec->nvmm_fds && !spec->vmm_argv))
		return bds_util_fail("a VMM gets at most %d descriptors", BDS_KEEPER_MAX_VMM_FDS);
	/* the keeper works in "/": a relative path would name another directory there */
	if (spec->run_dir && spec->run_dir[0] != '/')
		return bds_util_fail("a keeper's directory must be an absolute path: '%s'", spec->run_dir);
	for (char *const *p = spec->cleanup; p && *p; p++)
		if ((*p)[0] != '/')
			return bds_util_fail("a keeper removes absolute paths only: '%s'", *p);
	struct owner_watch w;
	if (watch_owner(spec->owner, &w) < 0)
		return -1;
	int p[2];
	if (pipe(p) != 0) {
		int e = errno;
		if (w.pidfd >= 0)
			close(w.pidfd);
		return bds_util_fail("pipe: %s", strerror(e));
	}
	fflush(NULL);
	pid_t k = fork();
	if (k < 0) {
		int e = errno;
		close(p[0]), close(p[1]);
		if (w.pidfd >= 0)
			close(w.pidfd);
		return bds_util_fail("fork: %s", strerror(e));
	}
	if (k == 0) {
		close(p[0]);
		keeper_main(spec, &w, p[1]);
	}
	close(p[1]);
	if (w.pidfd >= 0)
		close(w.pidfd);
	long v = -1;
	ssize_t n;
	while ((n = read(p[0], &v, sizeof v)) < 0 && errno == EINTR)
		;
	close(p[0]);
	*keeper = k;
	if (vmm)
		*vmm = v;
	if (n != (ssize_t)sizeof v || v < 0 || (spec->vmm_argv && v == 0)) {
		bds_keeper_stop(k, bds_util_now() + 10);
		return bds_util_fail("could not start %s", spec->vmm_argv ? spec->vmm_argv[0] : "a keeper");
	}
	return 0;
}

/* Is process pid alive (zombies count as gone when they are our children)? */
static int pid_alive(long pid)
{
	if (pid <= 0)
		return 0;
	if (waitpid((pid_t)pid, NULL, WNOHANG) == pid)
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int bds_keeper_holds(long keeper, const char *lock)
{
	struct stat want, st;
	char state = 0, dir[64];
	unsigned long long start = 0;
	if (keeper <= 0 || stat(lock, &want) != 0 || !bds_proc_stat(keeper, &state, &start) || state == 'Z' ||
	    state == 'X')
		return 0;
	snprintf(dir, sizeof dir, "/proc/%ld/fd", keeper);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int held = 0;
	struct dirent *e;
	while (!held && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *fd = bds_util_xasprintf("%s/%s", dir, e->d_name);
		held = stat(fd, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino;
		free(fd);
	}
	closedir(d);
	return held;
}

int bds_keeper_stop(long keeper, double deadline)
{
	if (keeper <= 0)
		return 0;
	if (kill((pid_t)keeper, SIGTERM) != 0 && errno == ESRCH)
		return 0;
	while (pid_alive(keeper)) {
		if (bds_util_now() >= deadline)
			return bds_util_fail("the keeper (pid %ld) did not finish in time", keeper);
		bds_util_sleep_ms(20);
	}
	return 0;
}

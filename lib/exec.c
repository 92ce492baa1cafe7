/* exec: local child processes with a deadline, their output pumped to descriptors or captured. */
#define _GNU_SOURCE /* setpgid, kill, closefrom */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* After the command exits, its output is drained until EOF; a descendant that keeps the
 * pipes open is given this much silence before we stop listening. */
#define DRAIN_GRACE_MS 500

volatile sig_atomic_t bds_exec_interrupt;

/* The process group of the command being run (its leader's pid), 0 between commands: what
 * a fatal signal takes down with us (bds_exec_die_with_command). */
static volatile sig_atomic_t running_group;

static void die_with_group(int sig)
{
	pid_t g = (pid_t)running_group;
	if (g > 0)
		kill(-g, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig); /* delivered when this handler returns: we end as the signal would have ended us */
}

void bds_exec_catch_stop_signals(void (*handler)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void bds_exec_die_with_command(void)
{
	bds_exec_catch_stop_signals(die_with_group);
}

int bds_exec_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = {.fd = fd, .events = POLLOUT};
				poll(&pfd, 1, 1000);
				continue;
			}
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "KILL" for SIGKILL and so on; the number as text for unknown signals. */
static const char *signal_name(int sig, char buf[16])
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {
		{SIGHUP, "HUP"},   {SIGINT, "INT"},   {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},   {SIGTRAP, "TRAP"},
		{SIGABRT, "ABRT"}, {SIGBUS, "BUS"},   {SIGFPE, "FPE"},   {SIGKILL, "KILL"}, {SIGUSR1, "USR1"},
		{SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"}, {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"}, {SIGTERM, "TERM"},
		{SIGXCPU, "XCPU"}, {SIGXFSZ, "XFSZ"}, {SIGSYS, "SYS"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].sig == sig)
			return names[i].name;
	snprintf(buf, 16, "%d", sig);
	return buf;
}

char *bds_exec_describe_failure(const struct bds_exec_result *res, double timeout)
{
	char buf[16];
	if (res->refused)
		return bds_util_xstrdup("not started (its place is no longer ours)");
	if (res->interrupted)
		return bds_util_xasprintf("interrupted by SIG%s (killed)", signal_name(res->interrupted, buf));
	if (res->timed_out)
		return bds_util_xasprintf("timed out after %g s (killed)", timeout);
	if (res->signal[0])
		return bds_util_xasprintf("killed by signal SIG%s", res->signal);
	if (res->status != 0)
		return bds_util_xasprintf("exit status %d", res->status);
	return NULL;
}

static int remaining_ms(double deadline, int cap)
{
	if (deadline <= 0)
		return cap;
	double left = deadline - bds_util_now();
	if (left <= 0)
		return 0;
	double ms = left * 1000.0 + 1;
	return ms < cap ? (int)ms : cap;
}

/* Whether the command must be stopped now; says why in res. */
static int stop(struct bds_exec_result *res, double deadline)
{
	if (bds_exec_interrupt) {
		res->interrupted = bds_exec_interrupt;
		return 1;
	}
	if (deadline > 0 && bds_util_now() >= deadline) {
		res->timed_out = 1;
		return 1;
	}
	return 0;
}

/* What a child reports instead of an errno when its gate said no. */
#define GATE_REFUSED (-1)

/* Child side: never returns. Reports an exec failure's errno (or GATE_REFUSED) through
 * `report`. The
 * command gets descriptors 0, 1 and 2 and nothing else of ours: what it starts may live
 * for hours (a Bazel server), and a descriptor it inherits is held as long (a caller's
 * lock, a temporary output file). */
static void child(char *const argv[], const char *cwd, int (*gate)(void *), void *arg, int out_w, int err_w,
                  int report)
{
	int e;
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	if (report < 3) /* our caller's 0, 1 or 2 was closed: keep it clear of the dup2s */
		report = fcntl(report, F_DUPFD_CLOEXEC, 3);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
		goto fail;
	for (int fd = 3; fd < report; fd++)
		close(fd);
	closefrom(report + 1); /* report is close-on-exec */
	if (cwd && chdir(cwd) != 0)
		goto fail;
	if (gate && gate(arg) != 0) {
		e = GATE_REFUSED;
		goto report;
	}
	execvp(argv[0], argv);
fail:
	e = errno;
report:
	if (write(report, &e, sizeof e) < 0) {
		/* nothing left to tell anyone */
	}
	_exit(127);
}

static void fill_status(struct bds_exec_result *res, int wstatus)
{
	if (WIFSIGNALED(wstatus)) {
		char buf[16];
		snprintf(res->signal, sizeof res->signal, "%s", signal_name(WTERMSIG(wstatus), buf));
	} else {
		res->status = WEXITSTATUS(wstatus);
	}
}

/* Where one of the command's streams goes: a descriptor, or memory up to a limit. */
struct sink {
	int fd;          /* >= 0: copied there as it comes */
	char *buf;       /* fd < 0: kept here (malloc'd, NUL-terminated once anything came) */
	size_t len, cap; /* of buf */
	size_t limit;    /* what buf may hold */
	int truncate;    /* past the limit, drop the rest; else the command has written too much */
};

/* Takes n bytes of the command's output. 0, 1 when a memory sink that does not truncate
 * would pass its limit (nothing recorded), or -1 (error recorded). */
static int sink_put(struct sink *s, const char *argv0, const char *p, size_t n)
{
	if (s->fd >= 0) {
		if (bds_exec_write_all(s->fd, p, n) < 0)
			return bds_util_fail("copy the output of '%s': %s", argv0, strerror(errno));
		return 0;
	}
	if (n > s->limit - s->len) {
		if (!s->truncate)
			return 1;
		n = s->limit - s->len;
	}
	if (n == 0)
		return 0;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		if (cap > s->limit)
			cap = s->limit;
		char *grown = bds_util_try_realloc(s->buf, cap + 1, "the output of a command");
		if (!grown)
			return -1;
		s->buf = grown;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return 0;
}

/* bds_exec_run_gated, its streams going to sinks (both may be the same one). */
static int run(char *const argv[], const char *cwd, int (*gate)(void *arg), void *arg, struct sink *out,
               struct sink *err, double deadline, struct bds_exec_result *res)
{
	int rc = -1;
	int out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, rep_p[2] = {-1, -1};
	pid_t pid = -1;
	int reaped = 0, wstatus = 0;
	char buf[65536];

	memset(res, 0, sizeof *res);
	double start = bds_util_now();
	if (pipe(out_p) || pipe(err_p) || pipe(rep_p)) {
		bds_util_fail("create pipe: %s", strerror(errno));
		goto done;
	}
	fcntl(rep_p[1], F_SETFD, FD_CLOEXEC);
	fcntl(out_p[0], F_SETFD, FD_CLOEXEC);
	fcntl(err_p[0], F_SETFD, FD_CLOEXEC);
	fcntl(rep_p[0], F_SETFD, FD_CLOEXEC);
	pid = fork();
	if (pid < 0) {
		bds_util_fail("fork: %s", strerror(errno));
		goto done;
	}
	if (pid == 0)
		child(argv, cwd, gate, arg, out_p[1], err_p[1], rep_p[1]);
	/* both sides set the group, so a kill right after fork cannot miss it */
	setpgid(pid, pid);
	running_group = pid;
	close(out_p[1]), out_p[1] = -1;
	close(err_p[1]), err_p[1] = -1;
	close(rep_p[1]), rep_p[1] = -1;

	int child_errno = 0;
	ssize_t got;
	while ((got = read(rep_p[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof child_errno && child_errno == GATE_REFUSED) {
		waitpid(pid, &wstatus, 0);
		reaped = 1;
		res->refused = 1;
		rc = 0;
		goto done;
	}
	if (got == (ssize_t)sizeof child_errno) {
		waitpid(pid, &wstatus, 0);
		reaped = 1;
		bds_util_fail("run '%s'%s%s: %s", argv[0], cwd ? " in " : "", cwd ? cwd : "", strerror(child_errno));
		goto done;
	}

	struct pollfd pfd[2] = {{.fd = out_p[0], .events = POLLIN}, {.fd = err_p[0], .events = POLLIN}};
	struct sink *targets[2] = {out, err};
	int *sources[2] = {&out_p[0], &err_p[0]};
	int open_streams = 2;
	while (open_streams > 0) {
		if (!reaped && waitpid(pid, &wstatus, WNOHANG) == pid)
			reaped = 1;
		if (!reaped && stop(res, deadline)) {
			kill(-pid, SIGKILL);
			break;
		}
		if (reaped && (bds_exec_interrupt || (deadline > 0 && bds_util_now() >= deadline)))
			break; /* a descendant keeps writing after the command ended */
		/* short polls while the child runs, to notice an exit whose pipes a descendant holds */
		int ms = reaped ? DRAIN_GRACE_MS : remaining_ms(deadline, 100);
		int n = poll(pfd, 2, ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			bds_util_fail("poll: %s", strerror(errno));
			kill(-pid, SIGKILL);
			goto done;
		}
		if (n == 0) {
			if (reaped)
				break; /* exited, and whoever holds the pipes is silent */
			continue;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(pfd[i].fd, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = *sources[i] = -1;
				open_streams--;
				continue;
			}
			int put = sink_put(targets[i], argv[0], buf, (size_t)r);
			if (put != 0) {
				if (put > 0)
					bds_util_fail("command '%s' failed: output larger than %zu bytes (killed)", argv[0],
					              targets[i]->limit);
				kill(-pid, SIGKILL);
				goto done;
			}
		}
	}
	if (!reaped) {
		/* pipes closed (or the deadline passed); the deadline still bounds the wait */
		for (;;) {
			pid_t w = waitpid(pid, &wstatus, WNOHANG);
			if (w == pid || (w < 0 && errno != EINTR)) {
				reaped = w == pid;
				break;
			}
			if (!res->timed_out && !res->interrupted && stop(res, deadline))
				kill(-pid, SIGKILL);
			struct timespec ts = {0, 2 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	fill_status(res, wstatus);
	rc = 0;
done:
	if (pid > 0 && !reaped) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
			;
	}
	running_group = 0;
	for (int i = 0; i < 2; i++) {
		if (out_p[i] >= 0)
			close(out_p[i]);
		if (err_p[i] >= 0)
			close(err_p[i]);
		if (rep_p[i] >= 0)
			close(rep_p[i]);
	}
	res->seconds = bds_util_now() - start;
	return rc;
}

int bds_exec_run(char *const argv[], const char *cwd, int out_fd, int err_fd, double deadline,
                 struct bds_exec_result *res)
{
	return bds_exec_run_gated(argv, cwd, NULL, NULL, out_fd, err_fd, deadline, res);
}

int bds_exec_run_gated(char *const argv[], const char *cwd, int (*gate)(void *arg), void *arg, int out_fd,
                       int err_fd, double deadline, struct bds_exec_result *res)
{
	struct sink out = {.fd = out_fd}, err = {.fd = err_fd};
	return run(argv, cwd, gate, arg, &out, &err, deadline, res);
}

/* The status of a command that ran, or -1 with the reason recorded when it did not run to
 * an exit of its own (killed at the deadline, by a signal, or interrupted). */
static int exit_status(char *const argv[], const struct bds_exec_result *res, double timeout)
{
	if (!res->interrupted && !res->timed_out && !res->signal[0])
		return res->status;
	char *why = bds_exec_describe_failure(res, timeout);
	bds_util_fail("command '%s' failed: %s", argv[0], why ? why : "");
	free(why);
	return -1;
}

int bds_exec_output(char *const argv[], const char *cwd, enum bds_exec_keep keep, size_t limit, double timeout,
                    struct bds_exec_output *o)
{
	struct sink out = {.fd = -1, .limit = limit};
	struct sink err = {.fd = -1, .limit = keep == BDS_EXEC_ERR_START ? sizeof o->err - 1 : 0, .truncate = 1};
	struct bds_exec_result res;
	int st = run(argv, cwd, NULL, NULL, &out, keep == BDS_EXEC_ERR_MERGE ? &out : &err,
	             timeout > 0 ? bds_util_now() + timeout : 0, &res);
	if (st == 0)
		st = exit_status(argv, &res, timeout);
	memcpy(o->err, err.buf ? err.buf : "", err.len + 1);
	free(err.buf);
	o->out = NULL;
	o->len = 0;
	if (st < 0) {
		free(out.buf);
		return -1;
	}
	o->out = out.buf ? out.buf : bds_util_xstrdup("");
	o->len = out.len;
	return st;
}

char *bds_exec_capture(char *const argv[], const char *cwd, int err_fd, size_t limit, double deadline, size_t *len)
{
	struct sink out = {.fd = -1, .limit = limit}, err = {.fd = err_fd};
	struct bds_exec_result res;
	if (run(argv, cwd, NULL, NULL, &out, &err, deadline, &res) == 0) {
		char *why = bds_exec_describe_failure(&res, deadline > 0 ? res.seconds : 0);
		if (!why) {
			*len = out.len;
			return out.buf ? out.buf : bds_util_xstrdup("");
		}
		bds_util_fail("command '%s' failed: %s", argv[0], why);
		free(why);
	}
	free(out.buf);
	return NULL;
}

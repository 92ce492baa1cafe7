/* proc: processes as /proc and pidfds show them (proc.h). */
#define _GNU_SOURCE /* pidfds via syscall */
#include "proc.h"

#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"
#define BOOT_ID_LEN 36
/* How often bds_proc_kill_in looks whether what it killed is gone. */
#define KILL_POLL_MS 10
/* Ancestors of this process looked at (spared) by bds_proc_kill_in: deeper ones are
 * taken as not ours. */
#define MAX_ANCESTORS 64

/* The fields of /proc/<pid>/stat we use. 1, or 0 when there is no such process. */
static int read_stat(long pid, char *state, long *ppid, unsigned long long *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ppid ..." where comm may hold spaces and parentheses: start after the
	 * last ')' */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return 0;
	*state = p[2];
	p += 2;
	/* field 3 is the state, 4 the parent, 22 the start time */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
		if (p && field == 3)
			*ppid = strtol(p, NULL, 10);
	}
	*start = p ? strtoull(p, NULL, 10) : 0;
	return 1;
}

int bds_proc_stat(long pid, char *state, unsigned long long *start)
{
	long ppid = 0;
	return pid > 0 && read_stat(pid, state, &ppid, start);
}

/* Is `id` alive: that pid, started at that time, and not a zombie? */
static int id_alive(const struct bds_proc_id *id)
{
	char state = 0;
	unsigned long long start = 0;
	return bds_proc_stat(id->pid, &state, &start) && state != 'Z' && state != 'X' && start == id->start;
}

int bds_proc_pidfd(long pid)
{
	const char *no = getenv("BDS_TEST_NO_PIDFD");
	if (no && strcmp(no, "1") == 0) {
		errno = ENOSYS;
		return -1;
	}
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/* This boot's id (BOOT_ID_LEN characters) in buf; "" when the kernel does not say. */
static void boot_id(char buf[BOOT_ID_LEN + 1])
{
	buf[0] = '\0';
	int fd = open(BOOT_ID_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, BOOT_ID_LEN);
	close(fd);
	buf[n == BOOT_ID_LEN ? BOOT_ID_LEN : 0] = '\0';
}

int bds_proc_owner_record(long pid, char *buf, size_t size)
{
	char state = 0, boot[BOOT_ID_LEN + 1];
	unsigned long long start = 0;
	if (!bds_proc_stat(pid, &state, &start))
		return bds_util_fail("the owner process %ld does not exist", pid);
	if (state == 'Z' || state == 'X')
		return bds_util_fail("the owner process %ld has exited", pid);
	boot_id(boot);
	int n = snprintf(buf, size, "%ld %llu %s\n", pid, start, boot[0] ? boot : "-");
	if (n < 0 || (size_t)n >= size)
		return bds_util_fail("the owner record of process %ld is too long", pid);
	return 0;
}

int bds_proc_owner_alive(const char *record)
{
	struct bds_proc_id id;
	char recorded[BOOT_ID_LEN + 2] = "", boot[BOOT_ID_LEN + 1];
	int end = 0;
	if (sscanf(record, "%ld %llu %37s%n", &id.pid, &id.start, recorded, &end) != 3 || id.pid <= 0 ||
	    strcmp(record + end, "\n") != 0)
		return 0;
	boot_id(boot);
	if (strcmp(recorded, boot[0] ? boot : "-") != 0)
		return 0;
	return id_alive(&id);
}

/* Is pid's working directory root or below it? A directory removed meanwhile (" (deleted)")
 * counts where it was. */
static int works_in(long pid, const char *root, size_t rootlen)
{
	char link[64], cwd[PATH_MAX + 16];
	snprintf(link, sizeof link, "/proc/%ld/cwd", pid);
	ssize_t n = readlink(link, cwd, sizeof cwd - 1);
	if (n <= 0)
		return 0; /* gone, a zombie, or not ours to look at (and then not ours to kill) */
	cwd[n] = '\0';
	static const char deleted[] = " (deleted)";
	size_t dl = sizeof deleted - 1;
	if ((size_t)n > dl && strcmp(cwd + n - dl, deleted) == 0)
		cwd[n - dl] = '\0';
	return strncmp(cwd, root, rootlen) == 0 && (cwd[rootlen] == '\0' || cwd[rootlen] == '/' || rootlen == 1);
}

/* A process bds_proc_kill_in signalled: through its pidfd, or (without pidfds) its id. */
struct victim {
	struct bds_proc_id id;
	int pidfd;
};

static int victim_gone(const struct victim *v)
{
	if (v->pidfd >= 0) {
		struct pollfd p = {.fd = v->pidfd, .events = POLLIN};
		return poll(&p, 1, 0) > 0;
	}
	return !id_alive(&v->id);
}

/* SIGKILLs pid if it still works in root, as the very process looked at. 1 signalled
 * (*v set), 0 nothing to do (gone, or elsewhere now), -1 recorded. */
static int kill_one(long pid, const char *root, size_t rootlen, struct victim *v)
{
	char state = 0, state_again = 0;
	unsigned long long start = 0, again = 0;
	v->pidfd = bds_proc_pidfd(pid);
	if (v->pidfd < 0 && errno == ESRCH)
		return 0;
	/* with a pidfd the process is pinned: the pid cannot name another one any more */
	if (!bds_proc_stat(pid, &state, &start) || state == 'Z' || state == 'X' || !works_in(pid, root, rootlen) ||
	    !bds_proc_stat(pid, &state_again, &again) || again != start) {
		if (v->pidfd >= 0)
			close(v->pidfd);
		v->pidfd = -1;
		return 0;
	}
	v->id.pid = pid;
	v->id.start = start;
	int r = v->pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, v->pidfd, SIGKILL, NULL, 0)
	                      : kill((pid_t)pid, SIGKILL);
	if (r == 0 || errno == ESRCH)
		return 1;
	int e = errno;
	if (v->pidfd >= 0)
		close(v->pidfd);
	v->pidfd = -1;
	return bds_util_fail("stop process %ld working in '%s': %s", pid, root, strerror(e));
}

/* This process and its ancestors, nearest first. */
static size_t ancestors(long *out, size_t max)
{
	size_t n = 0;
	long pid = (long)getpid();
	while (pid > 0 && n < max) {
		out[n++] = pid;
		char state = 0;
		long ppid = 0;
		unsigned long long start = 0;
		if (!read_stat(pid, &state, &ppid, &start) || ppid == pid)
			break;
		pid = ppid;
	}
	return n;
}

static int listed(long pid, const long *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == pid)
			return 1;
	return 0;
}

int bds_proc_kill_in(const char *dir, const long *spare, size_t nspare, double deadline)
{
	char *root = realpath(dir, NULL);
	if (!root)
		return errno == ENOENT ? 0 : bds_util_fail("resolve '%s': %s", dir, strerror(errno));
	size_t rootlen = strlen(root);
	long mine[MAX_ANCESTORS];
	size_t nmine = ancestors(mine, MAX_ANCESTORS);
	struct victim *v = NULL;
	size_t nv = 0, cap = 0;
	int killed = 0, rc = -1;
	/* Killed processes fork no more, but one not yet killed may fork while we look: look
	 * again until a look finds nobody. */
	for (;;) {
		DIR *d = opendir("/proc");
		if (!d) {
			bds_util_fail("read '/proc': %s", strerror(errno));
			goto out;
		}
		struct dirent *e;
		int failed = 0;
		while (!failed && (e = readdir(d))) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);
			if (*end || pid <= 0 || listed(pid, mine, nmine) || listed(pid, spare, nspare) ||
			    !works_in(pid, root, rootlen))
				continue;
			if (nv == cap) {
				cap = cap ? cap * 2 : 16;
				v = bds_util_xrealloc(v, cap * sizeof *v);
			}
			int r = kill_one(pid, root, rootlen, &v[nv]);
			if (r < 0)
				failed = 1;
			else if (r > 0)
				nv++;
		}
		closedir(d);
		if (failed)
			goto out;
		if (nv == 0)
			break;
		if (killed > 0 && bds_util_now() >= deadline) {
			bds_util_fail("processes working in '%s' kept coming after SIGKILL", root);
			goto out;
		}
		killed += (int)nv;
		for (;;) {
			size_t left = 0;
			for (size_t i = 0; i < nv; i++) {
				if (victim_gone(&v[i])) {
					if (v[i].pidfd >= 0)
						close(v[i].pidfd);
					continue;
				}
				v[left++] = v[i];
			}
			nv = left;
			if (nv == 0)
				break;
			if (bds_util_now() >= deadline) {
				bds_util_fail("process %ld working in '%s' did not end after SIGKILL", v[0].id.pid, root);
				goto out;
			}
			bds_util_sleep_ms(KILL_POLL_MS);
		}
	}
	rc = killed;
out:
	for (size_t i = 0; i < nv; i++)
		if (v[i].pidfd >= 0)
			close(v[i].pidfd);
	free(v);
	free(root);
	return rc;
}

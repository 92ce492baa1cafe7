/* lock: kernel file locks and owned directories (lock.h). */
#define _DEFAULT_SOURCE /* flock */
#include "lock.h"

#include "fs.h"
#include "proc.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 50

/* A lock file that keeps being replaced under its takers: give up after this many. */
#define MAX_REPLACED 1000
/* An owner record is one short line. */
#define OWNER_RECORD_MAX 128

/* Is fd the file now at path? A lock taken on a file that was removed (or replaced)
 * meanwhile protects nothing: the next taker would create and lock another file. */
static int still_at(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int bds_lock_take(const char *path, double timeout, int *fd)
{
	double deadline = bds_util_now() + timeout;
	for (int replaced = 0; replaced < MAX_REPLACED;) {
		/* read-only is enough for flock, and lets other users share a cache; O_NONBLOCK:
		 * a FIFO in its place must not block open() (for a regular file, it changes
		 * nothing) */
		int f = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0666);
		struct stat st;
		if (f < 0 && errno == ENXIO && lstat(path, &st) == 0)
			return bds_util_fail("lock '%s': not a regular file (%s)", path, bds_fs_kind(st.st_mode));
		if (f < 0)
			return bds_util_fail("lock '%s': %s", path, strerror(errno));
		if (fstat(f, &st) != 0) {
			int e = errno;
			close(f);
			return bds_util_fail("lock '%s': %s", path, strerror(e));
		}
		if (!S_ISREG(st.st_mode)) {
			close(f);
			return bds_util_fail("lock '%s': not a regular file (%s)", path, bds_fs_kind(st.st_mode));
		}
		int got = flock(f, LOCK_EX | LOCK_NB) == 0, e = errno;
		if (got && still_at(f, path)) {
			*fd = f;
			return 0;
		}
		close(f);
		if (got) {
			/* its holder removed it as it let go: try the new one at once */
			replaced++;
			continue;
		}
		if (e != EWOULDBLOCK && e != EINTR)
			return bds_util_fail("lock '%s': %s", path, strerror(e));
		if (bds_util_now() >= deadline)
			return 1;
		bds_util_sleep_ms(POLL_MS);
	}
	return bds_util_fail("lock '%s': replaced %d times while being taken", path, MAX_REPLACED);
}

void bds_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}

char *bds_lock_make_dir(const char *template, int *fd)
{
	/* A sweeper may take the lock of a new directory between its creation and our taking
	 * it, and remove it: then another directory is made. */
	for (int attempt = 0; attempt < 3; attempt++) {
		char *dir = bds_util_xstrdup(template);
		if (!mkdtemp(dir)) {
			bds_util_fail("create a directory '%s': %s", template, strerror(errno));
			free(dir);
			return NULL;
		}
		char *lock = bds_util_xasprintf("%s/" BDS_LOCK_DIR_FILE, dir);
		int rc = bds_lock_take(lock, 0, fd);
		free(lock);
		if (rc == 0)
			return dir;
		if (rc > 0)
			bds_util_fail("the lock of the new directory '%s' was taken by another process", dir);
		bds_fs_remove_tree(dir);
		free(dir);
	}
	return NULL;
}

/* Takes the lock of an existing lock file: never creates one, so a lock file its owner
 * has just removed (before renaming its directory into place) is not made anew. */
static int take_existing(const char *path, int *fd)
{
	int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (f < 0)
		return -1;
	if (flock(f, LOCK_EX | LOCK_NB) != 0 || !still_at(f, path)) {
		close(f);
		return -1;
	}
	*fd = f;
	return 0;
}

int bds_lock_is_dir_file(const char *name)
{
	return strcmp(name, BDS_LOCK_DIR_FILE) == 0 || strcmp(name, BDS_LOCK_OWNER_FILE) == 0;
}

int bds_lock_set_owner(const char *dir, long owner)
{
	char record[OWNER_RECORD_MAX];
	if (bds_proc_owner_record(owner, record, sizeof record) < 0)
		return -1;
	char *path = bds_util_xasprintf("%s/" BDS_LOCK_OWNER_FILE, dir);
	int rc = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	size_t len = strlen(record);
	if (fd < 0 || write(fd, record, len) != (ssize_t)len)
		rc = bds_util_fail("write '%s': %s", path, strerror(errno));
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = bds_util_fail("write '%s': %s", path, strerror(errno));
	free(path);
	return rc;
}

/* Does the owner record of dir name a live process? No record (or one that is not a
 * regular file, or not a record): no. */
static int owner_lives(const char *dir)
{
	char *path = bds_util_xasprintf("%s/" BDS_LOCK_OWNER_FILE, dir);
	char buf[OWNER_RECORD_MAX];
	ssize_t n = -1;
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return bds_proc_owner_alive(buf);
}

/* Removes one owned directory if its owner is gone. 1 removed, 0 kept. */
static int sweep_one(const char *dir, double grace)
{
	struct stat st;
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	char *lock = bds_util_xasprintf("%s/" BDS_LOCK_DIR_FILE, dir);
	int fd = -1, removed = 0;
	struct stat ls;
	if (lstat(lock, &ls) != 0) {
		/* no lock file: the owner died before taking it, or is taking it right now */
		if (errno == ENOENT && difftime(time(NULL), st.st_mtime) > grace && !owner_lives(dir)) {
			bds_fs_remove_tree(dir);
			removed = 1;
		}
	} else if (S_ISREG(ls.st_mode) && take_existing(lock, &fd) == 0) {
		/* ours now: its keeper is gone, and another sweeper waits on this lock; the
		 * directory goes unless the process it was kept for lives (its keeper was
		 * killed, not its owner) */
		if (!owner_lives(dir)) {
			bds_fs_remove_tree(dir);
			removed = 1;
		}
		bds_lock_release(fd);
	}
	free(lock);
	return removed;
}

int bds_lock_sweep(const char *parent, const char *prefix, double grace)
{
	DIR *d = opendir(parent);
	if (!d)
		return 0;
	size_t plen = strlen(prefix);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, plen) != 0 || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *path = bds_util_xasprintf("%s/%s", parent, e->d_name);
		n += sweep_one(path, grace);
		free(path);
	}
	closedir(d);
	return n;
}

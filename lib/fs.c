/* fs: file-system helpers (fs.h). */
#define _GNU_SOURCE /* nftw, pipe2, tee */
#include "fs.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_writable(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(path, (st->st_mode & 07777) | S_IRWXU);
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void bds_fs_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	/* pre-order, so each directory is writable (and searchable) before it is entered */
	nftw(path, make_writable, 16, FTW_PHYS);
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int bds_fs_mkdirs(const char *path, mode_t mode)
{
	char *p = bds_util_xstrdup(path);
	int rc = 0;
	/* from the second byte: the root of an absolute path exists */
	for (char *q = p + (p[0] != '\0');; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char c = *q;
		*q = '\0';
		struct stat st;
		if (mkdir(p, mode) != 0 && (errno != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode))) {
			rc = bds_util_fail("create '%s': %s", p, errno == EEXIST ? "exists and is not a directory" : strerror(errno));
			break;
		}
		*q = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

const char *bds_fs_kind(mode_t m)
{
	return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device" :
	       S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : S_ISLNK(m) ? "a symbolic link" :
	       "not a file";
}

int bds_fs_open_regular(const char *path, int nofollow)
{
	/* O_NONBLOCK: open() of a FIFO without a writer would wait forever */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		int e = errno;
		struct stat st;
		if ((e == ELOOP || e == ENXIO) && lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			bds_util_fail("'%s': not a regular file (%s)", path, bds_fs_kind(st.st_mode));
			return -2;
		}
		bds_util_fail("open '%s': %s", path, strerror(e));
		errno = e;
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		bds_util_fail("stat '%s': %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		bds_util_fail("'%s': not a regular file (%s)", path, bds_fs_kind(st.st_mode));
		return -2;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		bds_util_fail("open '%s': %s", path, strerror(e));
		errno = e;
		return -1;
	}
	return fd;
}

int bds_fs_read_regular(const char *path, size_t limit, char **out, size_t *len)
{
	int fd = bds_fs_open_regular(path, 0);
	if (fd < 0)
		return fd;
	int rc = bds_util_read_fd(fd, limit, path, out, len);
	close(fd);
	return rc;
}

/* Has the FIFO or pipe fd data, or a writer? Looked at without consuming anything: tee(2)
 * copies a byte into a scratch pipe, and without SPLICE_F_NONBLOCK's EAGAIN (a writer,
 * nothing yet) returns 0 only when the pipe is empty and has no writer. 1, 0, or -1. */
static int fifo_live(int fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	ssize_t n = tee(fd, p[1], 1, SPLICE_F_NONBLOCK);
	int e = errno;
	close(p[0]);
	close(p[1]);
	if (n > 0 || (n < 0 && e == EAGAIN))
		return 1;
	errno = e;
	return n == 0 ? 0 : -1;
}

int bds_fs_open_input(const char *path)
{
	/* O_NONBLOCK: open() of a FIFO without a writer would wait for one forever */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (fd < 0) {
		int e = errno;
		if (e == ENXIO && stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			bds_util_fail("'%s': not a regular file (%s)", path, bds_fs_kind(st.st_mode));
			return -2;
		}
		bds_util_fail("open '%s': %s", path, strerror(e));
		errno = e;
		return -1;
	}
	int live = 1, flags = -1;
	if (fstat(fd, &st) != 0 || (S_ISFIFO(st.st_mode) && (live = fifo_live(fd)) < 0) ||
	    (live && ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0))) {
		int e = errno;
		close(fd);
		bds_util_fail("open '%s': %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (!live) {
		close(fd);
		bds_util_fail("read '%s': a FIFO with no writer and nothing to read", path);
		return -2;
	}
	return fd;
}

/* fs: file-system helpers (fs.h). */
#define _GNU_SOURCE /* nftw, pipe2, tee, renameat2, SEEK_DATA */
#include "fs.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h> /* FICLONE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads of bds_fs_read_sparse; the unit of bds_fs_write_sparse's holes. */
#define SPARSE_CHUNK ((size_t)1 << 20)
#define SPARSE_BLOCK 4096

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

int bds_fs_rename_away(const char *dir, char **old)
{
	const char *slash = strrchr(dir, '/');
	*old = slash ? bds_util_xasprintf("%.*s/" BDS_FS_OLD_PREFIX "%s-XXXXXX", (int)(slash - dir), dir, slash + 1)
	             : bds_util_xasprintf(BDS_FS_OLD_PREFIX "%s-XXXXXX", dir);
	int e;
	/* an empty directory of our own to rename onto: its name is then ours alone */
	if (!mkdtemp(*old)) {
		e = errno;
		bds_util_fail("create '%s': %s", *old, strerror(e));
	} else if (rename(dir, *old) == 0) {
		return 0;
	} else if ((e = errno) == ENOENT) {
		return 1;
	} else {
		bds_util_fail("rename '%s' to '%s': %s", dir, *old, strerror(e));
	}
	errno = e;
	return -1;
}

/* Readers must see the whole old directory or the whole new one, and (when the file system
 * allows) never nothing: RENAME_EXCHANGE swaps both names in one step. File systems
 * without renameat2 flags get rename-away-then-in, with a short window of absence (a
 * store's reader then takes an older ancestor or goes cold, never wrong). */
int bds_fs_replace_dir(const char *tmp, const char *final)
{
	for (int tries = 0; tries < 8; tries++) {
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS)
			break;
		if (errno != EEXIST && errno != ENOTEMPTY)
			return bds_util_fail("rename '%s' to '%s': %s", tmp, final, strerror(errno));
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
			bds_fs_remove_tree(tmp); /* now the old directory */
			return 0;
		}
		if (errno == EINVAL || errno == ENOSYS)
			break;
		if (errno != ENOENT) /* ENOENT: removed meanwhile, try again */
			return bds_util_fail("rename '%s' to '%s': %s", tmp, final, strerror(errno));
	}
	char *old = NULL;
	int rc = bds_fs_rename_away(final, &old) < 0 ? -1 : 0;
	if (rc == 0 && rename(tmp, final) != 0)
		rc = bds_util_fail("rename '%s' to '%s': %s", tmp, final, strerror(errno));
	bds_fs_remove_tree(old);
	free(old);
	return rc;
}

static int all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int bds_fs_write_new(const char *path, const char *buf, size_t n, int sync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return bds_util_fail("create '%s': %s", path, strerror(errno));
	int err = bds_fs_write_sparse(fd, buf, n, 0) != 0 || ftruncate(fd, (off_t)n) != 0 || (sync && fsync(fd) != 0);
	int saved = errno;
	if (close(fd) != 0 && !err) {
		err = 1;
		saved = errno;
	}
	if (!err)
		return 0;
	unlink(path);
	return bds_util_fail("write '%s': %s", path, strerror(saved));
}

int bds_fs_write_sparse(int fd, const char *buf, size_t n, uint64_t off)
{
	size_t i = 0;
	while (i < n) {
		size_t b = n - i < SPARSE_BLOCK ? n - i : SPARSE_BLOCK;
		if (all_zero(buf + i, b)) {
			i += b;
			continue;
		}
		size_t start = i;
		while (i < n) {
			b = n - i < SPARSE_BLOCK ? n - i : SPARSE_BLOCK;
			if (all_zero(buf + i, b))
				break;
			i += b;
		}
		size_t done = 0;
		while (done < i - start) {
			ssize_t w = pwrite(fd, buf + start + done, i - start - done, (off_t)(off + start + done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -1;
			done += (size_t)w;
		}
	}
	return 0;
}

int bds_fs_read_sparse(int fd, const char *what, int (*data)(void *arg, const char *buf, size_t n),
                       int (*hole)(void *arg, uint64_t n), void *arg)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return bds_util_fail("stat '%s': %s", what, strerror(errno));
	off_t end = st.st_size, pos = 0;
	char *buf = bds_util_xmalloc(SPARSE_CHUNK);
	int rc = 0;
	while (rc == 0 && pos < end) {
		off_t at = lseek(fd, pos, SEEK_DATA);
		if (at < 0)
			at = errno == ENXIO ? end : pos; /* ENXIO: only a hole is left */
		if (at > end)
			at = end;
		if (at > pos) {
			if ((rc = hole(arg, (uint64_t)(at - pos))) != 0)
				break;
			pos = at;
		}
		if (pos >= end)
			break;
		off_t gap = lseek(fd, pos, SEEK_HOLE);
		if (gap < 0 || gap > end)
			gap = end;
		while (pos < gap) {
			size_t want = (uint64_t)(gap - pos) < SPARSE_CHUNK ? (size_t)(gap - pos) : SPARSE_CHUNK;
			ssize_t r = pread(fd, buf, want, pos);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = bds_util_fail("read '%s': %s", what, strerror(errno));
				break;
			}
			if (r == 0) { /* shrank while we read: the caller's size check will tell */
				end = pos;
				break;
			}
			if ((rc = data(arg, buf, (size_t)r)) != 0)
				break;
			pos += r;
		}
	}
	free(buf);
	return rc;
}

struct sparse_copy {
	int fd;
	const char *from, *to;
	uint64_t off;
	double deadline;
};

static int copy_data(void *arg, const char *buf, size_t n)
{
	struct sparse_copy *c = arg;
	if (c->deadline > 0 && bds_util_now() >= c->deadline)
		return bds_util_fail("copy '%s' to '%s': timed out", c->from, c->to);
	if (bds_fs_write_sparse(c->fd, buf, n, c->off) < 0)
		return bds_util_fail("write '%s': %s", c->to, strerror(errno));
	c->off += n;
	return 0;
}

static int copy_hole(void *arg, uint64_t n)
{
	((struct sparse_copy *)arg)->off += n;
	return 0;
}

int bds_fs_copy_sparse(const char *from, const char *to, double deadline)
{
	struct stat st;
	int in = bds_fs_open_regular(from, 0), out = -1, rc = -1;
	if (in < 0)
		return -1;
	if (fstat(in, &st) != 0) {
		bds_util_fail("stat '%s': %s", from, strerror(errno));
		goto out;
	}
	/* truncated only once it is known not to be `from` itself (a hard link, a path
	 * through a symbolic link): cp refuses that copy, and so do we */
	out = open(to, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, st.st_mode & 0777);
	if (out < 0) {
		bds_util_fail("create '%s': %s", to, strerror(errno));
		goto out;
	}
	struct stat ost;
	if (fstat(out, &ost) != 0) {
		bds_util_fail("stat '%s': %s", to, strerror(errno));
		goto out;
	}
	if (ost.st_dev == st.st_dev && ost.st_ino == st.st_ino) {
		bds_util_fail("copy '%s' to '%s': they are the same file", from, to);
		close(out);
		out = -1;
		goto out;
	}
	if (ftruncate(out, 0) != 0) {
		bds_util_fail("truncate '%s': %s", to, strerror(errno));
		goto out;
	}
	/* a clone shares the blocks (and the holes) until either file is written */
	if (ioctl(out, FICLONE, in) == 0) {
		rc = 0;
		goto out;
	}
	struct sparse_copy c = {.fd = out, .from = from, .to = to, .deadline = deadline};
	if (bds_fs_read_sparse(in, from, copy_data, copy_hole, &c) != 0)
		goto out;
	/* the length, holes at the end included */
	if (ftruncate(out, (off_t)c.off) != 0) {
		bds_util_fail("truncate '%s': %s", to, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(in);
	if (out >= 0 && close(out) != 0 && rc == 0)
		rc = bds_util_fail("write '%s': %s", to, strerror(errno));
	/* a half-written copy is nobody's file: the caller never sees one */
	if (rc != 0 && out >= 0)
		unlink(to);
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

int bds_fs_read_file(const char *path, size_t limit, char **out, size_t *len)
{
	int fd = bds_fs_open_input(path);
	if (fd < 0)
		return -1;
	int rc = bds_util_read_fd(fd, limit, path, out, len);
	close(fd);
	return rc;
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

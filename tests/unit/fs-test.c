/* fs-test: lib/fs.c's sparse copy, directory swap and mkdir -p, in a scratch directory
 * (argv[1]). Prints one line per check, then "<n> failed"; exits 1 when any failed. */
#include "fs.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB ((off_t)1 << 20)

static int failures;
static const char *top;

static void check(const char *what, int ok)
{
	printf("%s %s\n", ok ? "ok" : "FAIL", what);
	failures += !ok;
}

/* The last recorded error with the scratch directory written "T", for exact output. */
static void print_error(const char *what)
{
	const char *e = bds_util_error();
	printf("%s: ", what);
	for (const char *at; (at = strstr(e, top)); e = at + strlen(top))
		printf("%.*sT", (int)(at - e), e);
	printf("%s\n", e);
}

static char *path(const char *name)
{
	return bds_util_xasprintf("%s/%s", top, name);
}

static void write_at(int fd, char c, size_t n, off_t off)
{
	char *buf = bds_util_xmalloc(n);
	memset(buf, c, n);
	if (pwrite(fd, buf, n, off) != (ssize_t)n) {
		perror("fs-test: write");
		exit(2);
	}
	free(buf);
}

static int same_bytes(const char *a, const char *b)
{
	char *x = NULL, *y = NULL;
	size_t nx = 0, ny = 0;
	int same = bds_fs_read_file(a, (size_t)8 * MIB, &x, &nx) == 0 && bds_fs_read_file(b, (size_t)8 * MIB, &y, &ny) == 0 &&
	           nx == ny && memcmp(x, y, nx) == 0;
	free(x);
	free(y);
	return same;
}

/* A 3 MiB file: data, a hole, data, a block of written zeros, and a hole at the end. */
static void copy_sparse(void)
{
	char *src = path("sparse"), *dst = path("copy");
	int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	if (fd < 0) {
		perror("fs-test: create");
		exit(2);
	}
	write_at(fd, 'a', 4096, 0);
	write_at(fd, 'b', 4096, 2 * MIB);
	write_at(fd, '\0', 65536, 2 * MIB + 4096);
	if (ftruncate(fd, 3 * MIB) != 0 || fsync(fd) != 0)
		exit(2);
	close(fd);
	check("copy_sparse returns 0", bds_fs_copy_sparse(src, dst, bds_util_now() + 60) == 0);
	struct stat s, d;
	check("copy_sparse keeps the size", stat(src, &s) == 0 && stat(dst, &d) == 0 && d.st_size == 3 * MIB);
	check("copy_sparse keeps the bytes", same_bytes(src, dst));
	/* holes kept (a dense copy allocates all 3 MiB), and the written zeros made one, as
	 * cp --sparse=always does (a clone on a file system with reflinks would share them) */
	check("copy_sparse keeps the holes", (off_t)d.st_blocks * 512 < MIB);
	check("copy_sparse makes holes of zero blocks", d.st_blocks < s.st_blocks && (off_t)d.st_blocks * 512 < 65536);
	check("copy_sparse gives the source's mode less the umask", (d.st_mode & 07777) == 0640);
	/* an existing target is truncated, as cp does */
	fd = open(dst, O_WRONLY | O_APPEND);
	write_at(fd, 'z', 10, 0);
	close(fd);
	check("copy_sparse over an existing file", bds_fs_copy_sparse(src, dst, 0) == 0 && same_bytes(src, dst));
	check("copy_sparse past its deadline fails", bds_fs_copy_sparse(src, dst, bds_util_now() - 1) == -1);
	print_error("copy_sparse past its deadline");
	check("copy_sparse that fails leaves no half-written target", access(dst, F_OK) != 0 && errno == ENOENT);
	/* onto the source itself, through a hard link: refused, the source untouched */
	char *link_name = path("hardlink");
	check("copy_sparse onto its source is refused",
	      link(src, link_name) == 0 && bds_fs_copy_sparse(src, link_name, 0) == -1);
	print_error("copy_sparse onto its source");
	check("copy_sparse onto its source keeps it", stat(src, &s) == 0 && s.st_size == 3 * MIB &&
	                                             stat(link_name, &d) == 0 && d.st_size == 3 * MIB);
	free(link_name);
	char *missing = path("missing");
	check("copy_sparse of a missing source fails", bds_fs_copy_sparse(missing, dst, 0) == -1);
	print_error("copy_sparse of a missing source");
	char *nodir = path("no/such/dir");
	check("copy_sparse into a missing directory fails", bds_fs_copy_sparse(src, nodir, 0) == -1);
	print_error("copy_sparse into a missing directory");
	free(nodir);
	free(missing);
	free(src);
	free(dst);
}

static int has_file(const char *dir, const char *name)
{
	char *p = bds_util_xasprintf("%s/%s", dir, name);
	struct stat st;
	int yes = lstat(p, &st) == 0;
	free(p);
	return yes;
}

static void make_dir_with(const char *dir, const char *file)
{
	char *p = bds_util_xasprintf("%s/%s", dir, file);
	if (mkdir(dir, 0755) != 0 || close(open(p, O_WRONLY | O_CREAT, 0644)) != 0)
		exit(2);
	free(p);
}

/* Hidden ".old-" leftovers in the scratch directory. */
static int leftovers(void)
{
	DIR *d = opendir(top);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += strncmp(e->d_name, BDS_FS_OLD_PREFIX, strlen(BDS_FS_OLD_PREFIX)) == 0;
	if (d)
		closedir(d);
	return n;
}

static void swap(void)
{
	char *tmp = path("tmp"), *final = path("final"), *old = NULL;
	make_dir_with(tmp, "first");
	check("replace_dir onto nothing", bds_fs_replace_dir(tmp, final) == 0 && has_file(final, "first") && !has_file(tmp, "."));
	make_dir_with(tmp, "second");
	check("replace_dir replaces", bds_fs_replace_dir(tmp, final) == 0 && has_file(final, "second") &&
	                                  !has_file(final, "first") && !has_file(tmp, "."));
	check("replace_dir leaves no old directory", leftovers() == 0);
	check("replace_dir of a missing directory fails", bds_fs_replace_dir(tmp, final) == -1 && has_file(final, "second"));
	print_error("replace_dir of a missing directory");
	int r = bds_fs_rename_away(final, &old);
	char *prefix = path(BDS_FS_OLD_PREFIX "final-");
	check("rename_away takes it to a hidden sibling", r == 0 && !has_file(final, ".") && has_file(old, "second") &&
	                                                     strncmp(old, prefix, strlen(prefix)) == 0);
	bds_fs_remove_tree(old);
	free(old);
	check("rename_away of a missing directory is 1", bds_fs_rename_away(final, &old) == 1);
	bds_fs_remove_tree(old);
	check("rename_away leaves no old directory", leftovers() == 0);
	free(prefix);
	free(old);
	free(tmp);
	free(final);
}

static void mkdirs(void)
{
	char *deep = path("m/n/o"), *file = path("file"), *under = path("file/sub");
	struct stat st;
	check("mkdirs makes the parents", bds_fs_mkdirs(deep, 0755) == 0 && stat(deep, &st) == 0 && S_ISDIR(st.st_mode));
	check("mkdirs of an existing directory", bds_fs_mkdirs(deep, 0755) == 0);
	if (close(open(file, O_WRONLY | O_CREAT, 0644)) != 0)
		exit(2);
	check("mkdirs under a file fails", bds_fs_mkdirs(under, 0755) == -1);
	print_error("mkdirs under a file");
	free(deep);
	free(file);
	free(under);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fs-test SCRATCH-DIR\n");
		return 64;
	}
	top = argv[1];
	umask(022);
	copy_sparse();
	swap();
	mkdirs();
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}

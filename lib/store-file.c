/* store-file: the local-directory store backend. */
#include "store-impl.h"

#include "fs.h"
#include "lock.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* A chunk being collected is first renamed to this prefix and its name (file_collect_chunk). */
#define ASIDE_PREFIX ".gc-"

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return bds_util_fail("open '%s': %s", path, strerror(errno));
	int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : bds_util_fail("sync '%s': %s", path, strerror(errno));
	close(fd);
	return rc;
}

static char *file_path(struct bds_store *s, const char *key)
{
	return bds_util_xasprintf("%s/%s", s->root, key);
}

static char *file_where(struct bds_store *s, const char *key)
{
	return file_path(s, key);
}

static int file_get(struct bds_store *s, const char *key, struct bds_store_sink *sink)
{
	char *path = file_path(s, key);
	int st = BDS_STORE_FOUND;
	/* an entry holds regular files only: anything else (a FIFO would block open() for
	 * ever) makes it an entry that fails verification */
	int fd = bds_fs_open_regular(path, 0);
	if (fd == -2) {
		st = BDS_STORE_INVALID;
		goto out;
	}
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			st = BDS_STORE_ABSENT;
		else
			st = BDS_STORE_ERROR;
		goto out;
	}
	if (bds_store_copy_fd(fd, path, sink) < 0)
		st = sink->too_big ? BDS_STORE_INVALID : BDS_STORE_ERROR;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return st;
}

struct file_txn {
	char *fpdir, *tmp, *final;
	int lock; /* the staging directory's lock (lock.h), -1 once given up */
	char **synced; /* directories that gained an object, synced at commit */
	size_t nsynced;
	unsigned long objects; /* objects staged so far (their staging names) */
};

static void file_abort(struct bds_store *s, void *t)
{
	(void)s;
	struct file_txn *x = t;
	if (!x)
		return;
	if (x->tmp)
		bds_fs_remove_tree(x->tmp);
	bds_lock_release(x->lock);
	free(x->fpdir);
	free(x->tmp);
	free(x->final);
	bds_util_free_list(x->synced);
	free(x);
}

static int file_begin(struct bds_store *s, const char *fp, const char *base, void **txn)
{
	struct file_txn *x = bds_util_xcalloc(1, sizeof *x);
	x->lock = -1;
	x->fpdir = bds_util_xasprintf("%s/%s", s->root, fp);
	x->final = bds_util_xasprintf("%s/%s", x->fpdir, base);
	if (bds_fs_mkdirs(x->fpdir, 0777) < 0)
		goto fail;
	bds_store_sweep(x->fpdir);
	/* The staging directory is a hidden sibling: same filesystem, so rename is atomic,
	 * and never taken for an entry (not a commit sha). It holds our lock while we live,
	 * so a killed publish leaves a directory the next one sweeps. */
	x->tmp = bds_store_stage_begin(x->fpdir, base, &x->lock);
	if (!x->tmp)
		goto fail;
	mode_t mask = umask(0);
	umask(mask);
	chmod(x->tmp, 0777 & ~mask);
	*txn = x;
	return 0;
fail:
	file_abort(s, x);
	return -1;
}

/* Copies src into the staging directory, keeping holes, then syncs it. */
static int file_put_file(struct bds_store *s, void *t, const char *name, const char *path, uint64_t size)
{
	(void)s;
	struct file_txn *x = t;
	char *dst = bds_util_xasprintf("%s/%s", x->tmp, name);
	int rc = -1, out = -1;
	struct bds_store_sink k = {.fd = -1};
	int in = bds_fs_open_regular(path, 1);
	if (in < 0)
		goto done;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (out < 0) {
		bds_util_fail("create '%s': %s", dst, strerror(errno));
		goto done;
	}
	bds_store_sink_init(&k, out, size);
	if (bds_store_copy_fd(in, path, &k) < 0 || bds_store_sink_finish(&k) < 0) {
		if (k.too_big)
			bds_util_fail("copy '%s': it grew while being published", path);
		else if (k.failed)
			bds_store_fail_with("copy to '%s'", dst);
		goto done;
	}
	if (k.size != size) {
		bds_util_fail("copy '%s': it changed size while being published", path);
		goto done;
	}
	if (fsync(out) != 0) {
		bds_util_fail("sync '%s': %s", dst, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	bds_store_sink_free(&k);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(dst);
	return rc;
}

static int file_put_bytes(struct bds_store *s, void *t, const char *name, const char *buf, size_t len)
{
	(void)s;
	struct file_txn *x = t;
	char *dst = bds_util_xasprintf("%s/%s", x->tmp, name);
	int rc = bds_fs_write_new(dst, buf, len, 1);
	free(dst);
	return rc;
}

static int file_commit(struct bds_store *s, void *t)
{
	struct file_txn *x = t;
	/* the chunks an entry references are on disk before the entry is */
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < x->nsynced; i++)
		rc = fsync_path(x->synced[i]);
	if (rc == 0)
		rc = fsync_path(x->tmp);
	if (rc == 0) {
		rc = bds_store_stage_commit(x->tmp, x->lock, x->final);
		x->lock = -1;
	}
	if (rc == 0) {
		free(x->tmp);
		x->tmp = NULL;
		rc = fsync_path(x->fpdir);
	}
	file_abort(s, x);
	return rc;
}

/* The names of the subdirectories of dir whose names have `len` characters (0: ENOENT). */
static int subdirs(const char *dir, size_t len, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return bds_util_fail("open '%s': %s", dir, strerror(errno));
	}
	struct dirent *e;
	int rc = 0;
	while ((errno = 0, e = readdir(d))) {
		if (strlen(e->d_name) != len || e->d_name[0] == '.')
			continue;
		char *path = bds_util_xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		/* stat: a symbolic link to a directory is listed, as a lookup reads through it */
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			bds_store_list_add(names, n, e->d_name);
		free(path);
	}
	if (errno)
		rc = bds_util_fail("read '%s': %s", dir, strerror(errno));
	closedir(d);
	return rc;
}

static int file_list(struct bds_store *s, const char *fp, struct bds_store_entry **v, size_t *n)
{
	char **fps = NULL;
	size_t nfp = 0;
	int rc = 0;
	if (fp)
		bds_store_list_add(&fps, &nfp, fp);
	else
		rc = subdirs(s->root, 32, &fps, &nfp);
	for (size_t i = 0; rc == 0 && i < nfp; i++) {
		char *fpdir = bds_util_xasprintf("%s/%s", s->root, fps[i]);
		char **bases = NULL;
		size_t nb = 0;
		rc = subdirs(fpdir, 40, &bases, &nb);
		for (size_t j = 0; j < nb; j++) {
			char *name = bds_util_xasprintf("%s/%s", fps[i], bases[j]);
			char *path = bds_util_xasprintf("%s/%s", s->root, name);
			struct stat st;
			bds_store_entry_add(v, n, name, lstat(path, &st) == 0 ? (double)st.st_mtime : 0);
			free(path);
			free(name);
		}
		bds_util_free_list(bases);
		free(fpdir);
	}
	bds_util_free_list(fps);
	return rc == 0 ? BDS_STORE_FOUND : BDS_STORE_ERROR;
}

/* One rename takes the whole entry away: a reader opens every file of the entry or none.
 * A hidden sibling left by a killed prune is swept like a replaced entry (bds_store_sweep). */
static int remove_dir(const char *dir)
{
	char *old = NULL;
	int rc = bds_fs_rename_away(dir, &old) < 0 ? -1 : 0;
	bds_fs_remove_tree(old);
	free(old);
	return rc;
}

static int file_remove(struct bds_store *s, const char *fp, const char *base)
{
	char *dir = bds_util_xasprintf("%s/%s/%s", s->root, fp, base);
	int rc = remove_dir(dir);
	free(dir);
	return rc;
}

/* ---- chunk objects ---- */

static int file_has(struct bds_store *s, const char *key, double *changed, uint64_t *size)
{
	char *path = file_path(s, key);
	struct stat st;
	int rc = BDS_STORE_FOUND;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			rc = BDS_STORE_ABSENT;
		else
			rc = bds_util_fail("stat '%s': %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		rc = bds_util_fail("'%s': %s where a chunk belongs", path, bds_fs_kind(st.st_mode));
	} else {
		*changed = (double)st.st_mtime;
		*size = (uint64_t)st.st_size;
	}
	free(path);
	return rc;
}

/* Remembers that dir (consumed) gained an object: synced at commit. */
static void add_synced(struct file_txn *x, char *dir)
{
	for (size_t i = 0; i < x->nsynced; i++) {
		if (strcmp(x->synced[i], dir) == 0) {
			free(dir);
			return;
		}
	}
	bds_store_list_add(&x->synced, &x->nsynced, dir);
	free(dir);
}

/* Written and synced in the staging directory, then renamed into place: whole or absent.
 * A publish killed before the rename leaves it in the staging directory, which the next
 * publish sweeps. */
static int file_put_object(struct bds_store *s, void *t, const char *key, const char *buf, size_t len)
{
	struct file_txn *x = t;
	char *final = file_path(s, key);
	char *tmp = bds_util_xasprintf("%s/.object-%lu", x->tmp, x->objects++);
	char *dir = bds_util_xstrdup(final);
	*strrchr(dir, '/') = '\0';
	int rc = -1;
	if (bds_fs_write_new(tmp, buf, len, 1) < 0 || bds_fs_mkdirs(dir, 0777) < 0)
		goto out;
	if (rename(tmp, final) != 0) {
		bds_util_fail("rename '%s' to '%s': %s", tmp, final, strerror(errno));
		goto out;
	}
	/* the object's directory, and the directories above it that mkdirs may have made */
	add_synced(x, bds_util_xstrdup(dir));
	for (int up = 0; up < 2; up++) {
		*strrchr(dir, '/') = '\0';
		add_synced(x, bds_util_xstrdup(dir));
	}
	rc = 0;
out:
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	free(dir);
	free(final);
	return rc;
}

static int file_list_chunks(struct bds_store *s, char ***keys, double **changed, size_t *n)
{
	char *top = bds_util_xasprintf("%s/chunks", s->root);
	char **dirs = NULL;
	size_t nd = 0;
	int rc = subdirs(top, 2, &dirs, &nd);
	for (size_t i = 0; rc == 0 && i < nd; i++) {
		char *dir = bds_util_xasprintf("%s/%s", top, dirs[i]);
		DIR *d = opendir(dir);
		struct dirent *e;
		if (!d)
			rc = bds_util_fail("open '%s': %s", dir, strerror(errno));
		while (d && (errno = 0, e = readdir(d))) {
			char *key = bds_util_xasprintf("chunks/%s/%s", dirs[i], e->d_name);
			char *path = file_path(s, key);
			struct stat st;
			/* a chunk a killed prune left aside: it was an old one, being deleted */
			if (strncmp(e->d_name, ASIDE_PREFIX, strlen(ASIDE_PREFIX)) == 0 && lstat(path, &st) == 0 &&
			    (double)time(NULL) - (double)st.st_mtime > BDS_STORE_LEFTOVER_GRACE)
				unlink(path);
			if (bds_store_is_chunk_key(key) && lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				*changed = bds_util_xrealloc(*changed, (*n + 1) * sizeof **changed);
				(*changed)[*n] = (double)st.st_mtime;
				bds_store_list_add(keys, n, key);
			}
			free(path);
			free(key);
		}
		if (d && errno)
			rc = bds_util_fail("read '%s': %s", dir, strerror(errno));
		if (d)
			closedir(d);
		free(dir);
	}
	bds_util_free_list(dirs);
	free(top);
	return rc == 0 ? BDS_STORE_FOUND : BDS_STORE_ERROR;
}

/* The chunk is moved aside first and judged by the moved file itself: a publish that
 * refreshes it meanwhile writes a new file at its name (kept), and one that finds it gone
 * uploads it again. A young one is put back, unless a new copy is there already. */
static int file_collect_chunk(struct bds_store *s, const char *key, double grace)
{
	char *path = file_path(s, key);
	const char *slash = strrchr(path, '/');
	char *aside = bds_util_xasprintf("%.*s/" ASIDE_PREFIX "%s", (int)(slash - path), path, slash + 1);
	int rc = 0;
	struct stat st;
	if (rename(path, aside) != 0) {
		if (errno != ENOENT)
			rc = bds_util_fail("rename '%s': %s", path, strerror(errno));
	} else if (lstat(aside, &st) != 0) {
		rc = bds_util_fail("stat '%s': %s", aside, strerror(errno));
	} else if ((double)time(NULL) - (double)st.st_mtime < grace) {
		/* link: never over a new copy (EEXIST), which is as good */
		if (link(aside, path) != 0 && errno != EEXIST)
			rc = bds_util_fail("put back '%s': %s", path, strerror(errno));
		else
			unlink(aside);
	} else if (unlink(aside) != 0 && errno != ENOENT) {
		rc = bds_util_fail("remove '%s': %s", aside, strerror(errno));
	} else {
		rc = 1;
	}
	free(aside);
	free(path);
	return rc;
}

const struct bds_store_ops bds_store_file_ops = {
	.get = file_get,
	.where = file_where,
	.begin = file_begin,
	.put_file = file_put_file,
	.put_bytes = file_put_bytes,
	.commit = file_commit,
	.abort = file_abort,
	.close = NULL,
	.list = file_list,
	.remove = file_remove,
	.has = file_has,
	.put_object = file_put_object,
	.list_chunks = file_list_chunks,
	.collect_chunk = file_collect_chunk,
};

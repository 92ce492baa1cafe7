/* cache: last-used stamps, users and LRU eviction of $BDS_CACHE's entry copies and chunks
 * (cache.h). */
#include "cache.h"

#include "fs.h"
#include "lock.h"
#include "proc.h"
#include "store-impl.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USERS_DIR ".users"
#define LOCK_NAME ".evict.lock"
#define RECORD_MAX 256

char *bds_cache_dir(const char *opt)
{
	const char *c = opt && *opt ? opt : getenv("BDS_CACHE");
	const char *home = getenv("HOME");
	/* never a shared default under /tmp: another user could own it and change a verified
	 * copy between its check and its use */
	if ((!c || !*c) && (!home || !*home)) {
		bds_util_fail("no cache directory: set BDS_CACHE or HOME");
		return NULL;
	}
	char *dir = c && *c ? bds_util_xstrdup(c) : bds_util_xasprintf("%s/.cache/bds", home);
	char cwd[4096];
	if (dir[0] != '/' && getcwd(cwd, sizeof cwd)) {
		char *abs = bds_util_xasprintf("%s/%s", cwd, dir);
		free(dir);
		dir = abs;
	}
	return dir;
}

int bds_cache_parse_size(const char *s, uint64_t *out)
{
	size_t n = strlen(s);
	int shift = 0;
	if (n > 0) {
		switch (s[n - 1]) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		case 'T': case 't': shift = 40; break;
		}
	}
	if (shift)
		n--;
	char digits[32];
	long long v = 0;
	if (n == 0 || n >= sizeof digits)
		return -1;
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (bds_util_parse_whole(digits, (1LL << (62 - shift)), &v) < 0)
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int bds_cache_max(uint64_t *max)
{
	const char *v = getenv("BDS_CACHE_MAX");
	if (!v || !*v)
		return 0;
	if (bds_cache_parse_size(v, max) < 0)
		return bds_util_fail("BDS_CACHE_MAX '%s': expected a size in bytes, with an optional K, M, G or T suffix", v);
	return 1;
}

static int take_lock(const char *cache, int *fd)
{
	char *path = bds_util_xasprintf("%s/" LOCK_NAME, cache);
	int r = bds_lock_take(path, BDS_CACHE_LOCK_TIMEOUT, fd);
	if (r == 1)
		bds_util_fail("lock '%s': still held after %.0f s", path, BDS_CACHE_LOCK_TIMEOUT);
	free(path);
	return r == 0 ? 0 : -1;
}

/* Is <cache>/<fp>/<base> in use? Every record of a user that is gone is removed on the
 * way (fp NULL: only that). Records are "<cache>/.users/<fp>-<base>-<pid>". */
static int in_use(const char *cache, const char *fp, const char *base)
{
	char *users = bds_util_xasprintf("%s/" USERS_DIR, cache);
	DIR *d = opendir(users);
	if (!d) {
		free(users);
		return 0;
	}
	char *prefix = fp ? bds_util_xasprintf("%s-%s-", fp, base) : NULL;
	int used = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *path = bds_util_xasprintf("%s/%s", users, e->d_name);
		char *buf = NULL;
		size_t len = 0;
		if (bds_fs_read_file(path, RECORD_MAX, &buf, &len) == 0 && bds_proc_owner_alive(buf))
			used |= prefix && strncmp(e->d_name, prefix, strlen(prefix)) == 0;
		else
			unlink(path);
		free(buf);
		free(path);
	}
	closedir(d);
	free(prefix);
	free(users);
	return used;
}

int bds_cache_use(const char *cache, const char *fp, const char *base, long user)
{
	char record[RECORD_MAX];
	char *users = bds_util_xasprintf("%s/" USERS_DIR, cache);
	char *path = bds_util_xasprintf("%s/%s-%s-%ld", users, fp, base, user);
	int lock = -1, rc = -1;
	if (bds_fs_mkdirs(users, 0777) < 0 || take_lock(cache, &lock) < 0)
		goto out;
	(void)in_use(cache, NULL, NULL); /* sweeps the records of users gone */
	if (bds_proc_owner_record(user, record, sizeof record) < 0)
		goto out;
	/* written whole under the lock: an evictor reads it only under the lock too */
	FILE *f = fopen(path, "w");
	if (!f || fputs(record, f) == EOF || fclose(f) != 0) {
		bds_util_fail("write '%s': %s", path, strerror(errno ? errno : EIO));
		goto out;
	}
	rc = 0;
out:
	bds_lock_release(lock);
	free(path);
	free(users);
	return rc;
}

void bds_cache_touch(const char *dir)
{
	utimensat(AT_FDCWD, dir, NULL, 0);
}

/* What eviction weighs: an entry copy, or a chunk of the chunk cache (fp empty). */
struct copy {
	char *dir; /* the copy's directory, or the chunk's file */
	char fp[33], base[41];
	uint64_t bytes;
	struct timespec used;
};

/* Space on disk of the files directly in dir (an entry holds files only). */
static uint64_t disk_usage(const char *dir)
{
	uint64_t total = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *path = bds_util_xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		if (strcmp(e->d_name, "..") != 0 && lstat(path, &st) == 0)
			total += (uint64_t)st.st_blocks * 512;
		free(path);
	}
	closedir(d);
	return total;
}

/* Appends to *v what eviction weighs under `top`: <top>/<len1 hex>/<len2 hex>, directories
 * (entry copies: <cache>/<32 hex>/<40 hex>) or, for `chunks`, regular files (the chunk
 * cache: <cache>/chunks/<2 hex>/<32 hex>, store-chunked.c). The last use of either is its
 * modification time, set by every lookup that uses it. */
static void find_in(const char *top, size_t len1, size_t len2, int chunks, struct copy **v, size_t *n)
{
	DIR *d = opendir(top);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!bds_util_is_hex(e->d_name, len1))
			continue;
		char *sub = bds_util_xasprintf("%s/%s", top, e->d_name);
		DIR *f = opendir(sub);
		struct dirent *b;
		while (f && (b = readdir(f))) {
			if (!bds_util_is_hex(b->d_name, len2))
				continue;
			char *path = bds_util_xasprintf("%s/%s", sub, b->d_name);
			struct stat st;
			if (lstat(path, &st) != 0 || !(chunks ? S_ISREG(st.st_mode) : S_ISDIR(st.st_mode))) {
				free(path);
				continue;
			}
			*v = bds_util_xrealloc(*v, (*n + 1) * sizeof **v);
			struct copy *c = &(*v)[(*n)++];
			c->dir = path;
			c->fp[0] = c->base[0] = '\0'; /* a chunk's */
			if (!chunks) {
				memcpy(c->fp, e->d_name, 33);
				memcpy(c->base, b->d_name, 41);
			}
			c->bytes = chunks ? (uint64_t)st.st_blocks * 512 : disk_usage(path);
			c->used = st.st_mtim;
		}
		if (f)
			closedir(f);
		free(sub);
	}
	if (d)
		closedir(d);
}

/* Least recently used first; equal stamps by path, so the order is the same every run. */
static int by_use(const void *a, const void *b)
{
	const struct copy *x = a, *y = b;
	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->dir, y->dir);
}

int bds_cache_evict(const char *cache, uint64_t max, int dry_run, bds_cache_report *report, void *arg,
                    uint64_t *total)
{
	struct copy *v = NULL;
	size_t n = 0;
	int lock = -1, rc = -1;
	char **gone = NULL; /* renamed away under the lock, deleted after it */
	size_t ngone = 0;
	*total = 0;
	struct stat st;
	if (stat(cache, &st) != 0 && errno == ENOENT) {
		rc = 0; /* no cache yet: nothing to evict */
		goto out;
	}
	if (take_lock(cache, &lock) < 0)
		goto out;
	find_in(cache, 32, 40, 0, &v, &n);
	char *chunks = bds_util_xasprintf("%s/chunks", cache);
	find_in(chunks, 2, 32, 1, &v, &n);
	free(chunks);
	qsort(v, n, sizeof *v, by_use);
	for (size_t i = 0; i < n; i++)
		*total += v[i].bytes;
	for (size_t i = 0; i < n && *total > max; i++) {
		int chunk = v[i].fp[0] == '\0';
		if (!chunk && in_use(cache, v[i].fp, v[i].base))
			continue;
		/* A chunk is never in use: a fetch reads it whole at once, and fetches it again
		 * from the store when it has gone (store-chunked.c). */
		if (!dry_run && chunk) {
			if (unlink(v[i].dir) != 0 && errno != ENOENT) {
				bds_util_fail("evict '%s': %s", v[i].dir, strerror(errno));
				goto out;
			}
		} else if (!dry_run) {
			/* one rename under the lock; the slow delete after it */
			char *old = NULL;
			if (bds_fs_rename_away(v[i].dir, &old) != 0) {
				bds_util_fail("evict '%s': %s", v[i].dir, strerror(errno));
				bds_fs_remove_tree(old);
				free(old);
				goto out;
			}
			bds_store_list_add(&gone, &ngone, old);
			free(old);
		}
		*total -= v[i].bytes;
		if (report)
			report(arg, v[i].dir, v[i].bytes, (double)v[i].used.tv_sec + v[i].used.tv_nsec / 1e9);
	}
	rc = 0;
out:
	bds_lock_release(lock);
	for (size_t i = 0; i < ngone; i++)
		bds_fs_remove_tree(gone[i]);
	bds_util_free_list(gone);
	for (size_t i = 0; i < n; i++)
		free(v[i].dir);
	free(v);
	return rc;
}

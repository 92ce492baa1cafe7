/* store-impl: what store.c and its backends share (store-impl.h): sinks, sparse reads into
 * them, entry lists, error context, the staging directories of publishes and fetches, and
 * the store.h helper the backends use (bds_store_parse_time). */
#define _DEFAULT_SOURCE /* timegm */
#include "store-impl.h"

#include "fs.h"
#include "lock.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STAGE_PREFIX ".tmp-"

int bds_store_fail_with(const char *fmt, ...)
{
	char *prev = bds_util_xstrdup(bds_util_error());
	char ctx[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	bds_util_fail("%s: %s", ctx, prev);
	free(prev);
	return -1;
}

/* ---- sinks ---- */

void bds_store_sink_init(struct bds_store_sink *k, int fd, uint64_t limit)
{
	memset(k, 0, sizeof *k);
	k->fd = fd;
	k->limit = limit;
	k->xx = XXH3_createState();
	if (!k->xx)
		abort();
	XXH3_128bits_reset(k->xx);
	if (fd >= 0) {
		k->cap = BDS_STORE_BUF;
		k->buf = bds_util_xmalloc(k->cap);
	}
}

void bds_store_sink_free(struct bds_store_sink *k)
{
	if (!k)
		return;
	free(k->buf);
	k->buf = NULL;
	if (k->xx)
		XXH3_freeState(k->xx);
	k->xx = NULL;
}

/* Writes the pending bytes of a file sink, leaving all-zero blocks as holes. */
static int sink_flush(struct bds_store_sink *k)
{
	if (bds_fs_write_sparse(k->fd, k->buf, k->len, k->flushed) < 0) {
		k->failed = 1;
		return bds_util_fail("write: %s", strerror(errno));
	}
	k->flushed += k->len;
	k->len = 0;
	return 0;
}

int bds_store_sink_write(struct bds_store_sink *k, const void *p, size_t n)
{
	if (k->failed || k->too_big)
		return -1;
	if (k->size + n > k->limit) {
		k->too_big = 1;
		return -1;
	}
	XXH3_128bits_update(k->xx, p, n);
	k->size += n;
	const char *src = p;
	while (n > 0) {
		if (k->len == k->cap) {
			if (k->fd >= 0) {
				if (sink_flush(k) < 0)
					return -1;
			} else {
				k->cap = k->cap ? k->cap * 2 : 65536;
				k->buf = bds_util_xrealloc(k->buf, k->cap);
			}
		}
		size_t c = k->cap - k->len < n ? k->cap - k->len : n;
		memcpy(k->buf + k->len, src, c);
		k->len += c;
		src += c;
		n -= c;
	}
	return 0;
}

/* Appends n zero bytes (a hole of the source). */
static int sink_zeros(struct bds_store_sink *k, uint64_t n)
{
	static const char zero[65536];
	if (k->fd < 0) {
		while (n > 0) {
			size_t c = n < sizeof zero ? (size_t)n : sizeof zero;
			if (bds_store_sink_write(k, zero, c) < 0)
				return -1;
			n -= c;
		}
		return 0;
	}
	if (k->failed || k->too_big)
		return -1;
	if (k->size + n > k->limit) {
		k->too_big = 1;
		return -1;
	}
	if (sink_flush(k) < 0)
		return -1;
	k->size += n;
	k->flushed += n;
	while (n > 0) {
		size_t c = n < sizeof zero ? (size_t)n : sizeof zero;
		XXH3_128bits_update(k->xx, zero, c);
		n -= c;
	}
	return 0;
}

int bds_store_sink_finish(struct bds_store_sink *k)
{
	if (k->fd < 0 || k->failed)
		return k->failed ? -1 : 0;
	if (sink_flush(k) < 0)
		return -1;
	if (ftruncate(k->fd, (off_t)k->size) != 0) {
		k->failed = 1;
		return bds_util_fail("truncate: %s", strerror(errno));
	}
	return 0;
}

void bds_store_sink_digest(struct bds_store_sink *k, char out[33])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(k->xx));
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof c.digest; i++) {
		out[2 * i] = hex[c.digest[i] >> 4];
		out[2 * i + 1] = hex[c.digest[i] & 15];
	}
	out[32] = '\0';
}

static int sink_data(void *arg, const char *buf, size_t n)
{
	return bds_store_sink_write(arg, buf, n);
}

static int sink_hole(void *arg, uint64_t n)
{
	return sink_zeros(arg, n);
}

int bds_store_copy_fd(int fd, const char *what, struct bds_store_sink *k)
{
	int rc = bds_fs_read_sparse(fd, what, sink_data, sink_hole, k) == 0 ? 0 : -1;
	/* the sink's write error names no file: say which copy it was */
	if (rc < 0 && k->failed)
		bds_store_fail_with("copy of '%s'", what);
	return rc;
}

/* ---- entry lists ---- */

void bds_store_list_add(char ***names, size_t *n, const char *name)
{
	*names = bds_util_xrealloc(*names, (*n + 2) * sizeof **names);
	(*names)[(*n)++] = bds_util_xstrdup(name);
	(*names)[*n] = NULL;
}

void bds_store_entry_add(struct bds_store_entry **v, size_t *n, const char *name, double changed)
{
	const char *slash = strchr(name, '/');
	if (!slash || slash - name != 32 || !bds_util_is_hex(slash + 1, 40))
		return;
	struct bds_store_entry e = {.changed = changed};
	memcpy(e.fp, name, 32);
	memcpy(e.base, slash + 1, 40);
	if (!bds_util_is_hex(e.fp, 32))
		return;
	*v = bds_util_xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = e;
}

double bds_store_parse_time(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm = {0};
	char mon[4] = "", rest[8] = "";
	int ms = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%7s", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	           &tm.tm_sec, rest) == 7 &&
	    (strcmp(rest, "Z") == 0 || (sscanf(rest, ".%3dZ", &ms) == 1 && strlen(rest) == 5))) {
		tm.tm_mon -= 1;
	} else if (sscanf(s, "%*3s, %2d %3s %4d %2d:%2d:%2d %7s", &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour,
	                  &tm.tm_min, &tm.tm_sec, rest) == 7 && strcmp(rest, "GMT") == 0 && strlen(mon) == 3 &&
	           strstr(months, mon) && (strstr(months, mon) - months) % 3 == 0) {
		tm.tm_mon = (int)((strstr(months, mon) - months) / 3);
	} else {
		return -1;
	}
	if (tm.tm_year < 1970 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (double)t;
}
/* ---- staging directories ---- */

void bds_store_sweep(const char *fpdir)
{
	/* a staging directory's lock is free once its owner is dead, however it died */
	bds_lock_sweep(fpdir, STAGE_PREFIX, BDS_STORE_SWEEP_GRACE);
	bds_lock_sweep(fpdir, BDS_FS_OLD_PREFIX, BDS_STORE_SWEEP_GRACE);
}

char *bds_store_stage_begin(const char *fpdir, const char *base, int *lock_fd)
{
	char *template = bds_util_xasprintf("%s/" STAGE_PREFIX "%s-XXXXXX", fpdir, base);
	char *tmp = bds_lock_make_dir(template, lock_fd);
	free(template);
	return tmp;
}

int bds_store_stage_commit(const char *tmp, int lock_fd, const char *final)
{
	/* The lock file stays behind: it is the staging directory's, not the entry's. From
	 * its removal to the rename the directory has no lock, and the sweep leaves such a
	 * directory alone for BDS_STORE_SWEEP_GRACE after its last change (this one). */
	char *lock = bds_util_xasprintf("%s/" BDS_LOCK_DIR_FILE, tmp);
	int rc = 0;
	if (unlink(lock) != 0 && errno != ENOENT)
		rc = bds_util_fail("remove '%s': %s", lock, strerror(errno));
	if (rc == 0)
		rc = bds_fs_replace_dir(tmp, final);
	bds_lock_release(lock_fd);
	free(lock);
	return rc;
}

char *bds_store_chunk_key(const char *hex)
{
	return bds_util_xasprintf("chunks/%.2s/%s", hex, hex);
}

int bds_store_is_chunk_key(const char *k)
{
	return strlen(k) == 42 && strncmp(k, "chunks/", 7) == 0 && k[9] == '/' && bds_util_is_hex(k + 10, 32) &&
	       strncmp(k + 7, k + 10, 2) == 0;
}

/* store: STORE parsing, metadata.json build and verification, verified fetch and publish,
 * and the check that an entry to restore is whole. */
#include "store.h"

#include "cache.h"
#include "exec.h"
#include "fs.h"
#include "json.h"
#include "lock.h"
#include "store-impl.h"
#include "strmap.h"
#include "util.h"
#include "version.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define METADATA "metadata.json"
/* a format-2 metadata.json lists every chunk: about 50 bytes per MiB of a VM file */
#define METADATA_MAX ((uint64_t)16 << 20)
/* Times an entry is re-read when it changed under us (a concurrent republish). */
#define FETCH_ATTEMPTS 5

/* File names inside an entry: plain, URL-safe, never hidden (".tmp-" is ours). */
static int valid_name(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 255 || n[0] == '.')
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

/* ---- STORE syntax ---- */

static char *strip_slashes(const char *s)
{
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		n--;
	return bds_util_xstrndup(s, n);
}

/* Characters allowed in an S3 bucket/prefix, so that the SigV4 canonical path is the
 * path as written (no percent-encoding ambiguity). */
static int valid_s3_path(const char *p)
{
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-' || *p == '/' || *p == '~'))
			return 0;
	return 1;
}

struct bds_store *bds_store_open(const char *spec)
{
	struct bds_store *s = bds_util_xcalloc(1, sizeof *s);
	s->spec = bds_util_xstrdup(spec);
	if (spec[0] == '/' || strncmp(spec, "file://", 7) == 0) {
		const char *path = spec[0] == '/' ? spec : spec + 7;
		if (strncmp(path, "localhost/", 10) == 0)
			path += 9;
		if (path[0] != '/') {
			bds_util_fail("store '%s': a file store needs an absolute path (file:///abs/dir)", spec);
			goto fail;
		}
		s->ops = &bds_store_file_ops;
		s->root = strip_slashes(path);
		return s;
	}
	if (strncmp(spec, "http://", 7) == 0 || strncmp(spec, "https://", 8) == 0) {
		const char *host = strstr(spec, "://") + 3;
		size_t hostlen = strcspn(host, "/?#");
		if (hostlen == 0 || memchr(host, '@', hostlen)) {
			bds_util_fail("store '%s': expected http(s)://host[:port]/path without credentials "
			              "(put them in ~/.netrc)", spec);
			goto fail;
		}
		if (strpbrk(host, "?#")) {
			bds_util_fail("store '%s': a query or fragment is not allowed", spec);
			goto fail;
		}
		s->ops = &bds_store_http_ops;
		s->root = strip_slashes(spec);
		if (s->root[strlen(s->root) - 1] == '/')
			s->root[strlen(s->root) - 1] = '\0';
		return s;
	}
	if (strncmp(spec, "s3://", 5) == 0) {
		const char *b = spec + 5;
		size_t blen = strcspn(b, "/");
		if (blen == 0 || !valid_s3_path(b)) {
			bds_util_fail("store '%s': expected s3://bucket[/prefix] (letters, digits, . _ - ~ /)", spec);
			goto fail;
		}
		s->s3 = 1;
		s->bucket = bds_util_xstrndup(b, blen);
		const char *pfx = b + blen;
		while (*pfx == '/')
			pfx++;
		s->prefix = strip_slashes(pfx);
		if (strcmp(s->prefix, "/") == 0)
			s->prefix[0] = '\0';
		if (bds_store_s3_init(s) < 0)
			goto fail;
		return s;
	}
	bds_util_fail("store '%s': unknown scheme (expected /abs/dir, file://, http://, https:// or s3://)", spec);
fail:
	bds_store_close(s);
	return NULL;
}

void bds_store_close(struct bds_store *s)
{
	if (!s)
		return;
	if (s->ops && s->ops->close)
		s->ops->close(s);
	free(s->spec);
	free(s->root);
	free(s->bucket);
	free(s->prefix);
	free(s);
}

static int hash_chunk(void *arg, const char *buf, size_t n)
{
	struct bds_store_sink *k = arg;
	XXH3_128bits_update(k->xx, buf, n);
	k->size += (uint64_t)n;
	return 0;
}

/* Size and XXH3-128 of a local file (holes read as zeros). */
static int hash_path(const char *path, uint64_t *size, char hex[33])
{
	/* a cache or entry file is a regular file: a FIFO put there must not block us */
	int fd = bds_fs_open_regular(path, 1);
	if (fd < 0)
		return -1;
	struct bds_store_sink k; /* used for its hash state only */
	bds_store_sink_init(&k, -1, UINT64_MAX);
	int rc = bds_util_read_chunks(fd, path, BDS_STORE_BUF, hash_chunk, &k);
	close(fd);
	if (rc == 0) {
		*size = k.size;
		bds_store_sink_digest(&k, hex);
	}
	bds_store_sink_free(&k);
	return rc;
}

/* ---- metadata.json ---- */

static char *iso8601_now(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return bds_util_xstrdup(buf);
}

/* Checks a parsed metadata.json against the entry it was found as. 0 or -1 (recorded). */
static int check_metadata(jv md, const char *fp, const char *base, const char *driver)
{
	int rc = -1;
	char *s = NULL;
	double format = 0;
	if (jv_get_kind(md) != JV_KIND_OBJECT) {
		bds_util_fail(METADATA ": not an object");
		goto out;
	}
	if (bds_json_get_number(jv_copy(md), "format", &format) != 0 || (format != 1 && format != 2)) {
		bds_util_fail(METADATA ": format is not 1 or 2 (an entry from a newer bds?)");
		goto out;
	}
	if (bds_json_get_string(jv_copy(md), "fingerprint", &s) != 0 || strcmp(s, fp) != 0) {
		bds_util_fail(METADATA ": fingerprint is not %s", fp);
		goto out;
	}
	free(s);
	s = NULL;
	if (bds_json_get_string(jv_copy(md), "base", &s) != 0 || strcmp(s, base) != 0) {
		bds_util_fail(METADATA ": base is not %s", base);
		goto out;
	}
	free(s);
	s = NULL;
	if (bds_json_get_string(jv_copy(md), "driver", &s) != 0 || (driver && strcmp(s, driver) != 0)) {
		bds_util_fail(METADATA ": driver is not %s", driver ? driver : "a string");
		goto out;
	}
	jv files = bds_json_get(jv_copy(md), "files", JV_KIND_OBJECT);
	if (!jv_is_valid(files)) {
		jv_free(files);
		bds_util_fail(METADATA ": no files object");
		goto out;
	}
	int has_base = 0, bad = 0;
	jv_object_foreach(files, name, info) {
		const char *n = jv_string_value(name);
		double size = -1;
		char *hash = NULL;
		if (!bad && (!valid_name(n) || strcmp(n, METADATA) == 0)) {
			bds_util_fail(METADATA ": bad file name '%s'", n);
			bad = 1;
		}
		if (!bad && (jv_get_kind(info) != JV_KIND_OBJECT ||
		             bds_json_get_number(jv_copy(info), "size", &size) != 0 || size < 0 ||
		             size > 9007199254740992.0 || size != (double)(uint64_t)size ||
		             bds_json_get_string(jv_copy(info), "xxh3_128", &hash) != 0 ||
		             !bds_util_is_hex(hash, 32))) {
			bds_util_fail(METADATA ": bad size or xxh3_128 for '%s'", n);
			bad = 1;
		}
		/* format 2: a file may be a list of chunks (store.md 4) */
		if (!bad && format == 2 && bds_store_check_chunks(jv_copy(info), n, (uint64_t)size) < 0) {
			bds_store_fail_with(METADATA);
			bad = 1;
		}
		has_base |= strcmp(n, "base_hashes.json") == 0;
		free(hash);
		jv_free(name);
		jv_free(info);
	}
	jv_free(files);
	if (bad)
		goto out;
	if (!has_base) {
		bds_util_fail(METADATA ": lists no base_hashes.json");
		goto out;
	}
	rc = 0;
out:
	free(s);
	jv_free(md);
	return rc;
}

/* Verifies the files of a local entry copy against `files`. 0, or -1 (recorded). */
/* Is the file `name` (record `info`, not consumed) one a lazy lookup leaves out: the
 * chunked file named `lazy` of a format-2 entry? */
static int left_lazy(const char *lazy, double format, const char *name, jv info)
{
	return lazy && format == 2 && strcmp(name, lazy) == 0 && jv_object_has(jv_copy(info), jv_string("chunks"));
}

/* Verifies the cached copy's files; the lazy one (left_lazy) may be absent, and then
 * *left is set. 0, or -1 (recorded). */
static int verify_local(const char *dir, jv files, const char *lazy, double format, int *left)
{
	int rc = 0;
	*left = 0;
	jv_object_foreach(files, name, info) {
		if (rc == 0) {
			char *path = bds_util_xasprintf("%s/%s", dir, jv_string_value(name));
			if (left_lazy(lazy, format, jv_string_value(name), info) && access(path, F_OK) != 0 &&
			    errno == ENOENT) {
				*left = 1;
				free(path);
				jv_free(name);
				jv_free(info);
				continue;
			}
			char hex[33];
			uint64_t size = 0;
			double want_size = 0;
			char *want_hash = NULL;
			bds_json_get_number(jv_copy(info), "size", &want_size);
			bds_json_get_string(jv_copy(info), "xxh3_128", &want_hash);
			if (hash_path(path, &size, hex) < 0)
				rc = -1;
			else if (size != (uint64_t)want_size || strcmp(hex, want_hash) != 0)
				rc = bds_util_fail("%s: size or xxh3_128 changed", jv_string_value(name));
			free(want_hash);
			free(path);
		}
		jv_free(name);
		jv_free(info);
	}
	jv_free(files);
	return rc;
}

static char *key_of(const char *fp, const char *base, const char *name)
{
	return bds_util_xasprintf("%s/%s/%s", fp, base, name);
}

/* Where the entry lives, for messages ("<store>/<fp>/<base>"). */
static char *entry_where(struct bds_store *s, const char *fp, const char *base)
{
	char *k = key_of(fp, base, METADATA);
	char *w = s->ops->where(s, k);
	free(k);
	size_t n = strlen(w), m = strlen("/" METADATA);
	if (n > m)
		w[n - m] = '\0';
	return w;
}

/* Reads metadata.json bytes. Returns a status; on FOUND, buf and len are set. */
static int get_metadata(struct bds_store *s, const char *fp, const char *base, char **buf, size_t *len)
{
	char *key = key_of(fp, base, METADATA);
	struct bds_store_sink k;
	bds_store_sink_init(&k, -1, METADATA_MAX);
	int st = s->ops->get(s, key, &k);
	if (st == BDS_STORE_INVALID && k.too_big) {
		char *w = s->ops->where(s, key);
		bds_util_fail("%s: larger than %llu bytes", w, (unsigned long long)METADATA_MAX);
		free(w);
	}
	if (st == BDS_STORE_FOUND) {
		*buf = k.buf ? k.buf : bds_util_xstrdup("");
		*len = k.len;
		k.buf = NULL;
	}
	bds_store_sink_free(&k);
	free(key);
	return st;
}

/* Fetches one listed file into dir/name, checking its size and hash on the way; a
 * chunked one (`chunked`) through the chunk cache under cache_dir (store-chunked.c). */
static int fetch_file(struct bds_store *s, const char *fp, const char *base, const char *dir,
                      const char *name, jv info, int chunked, const char *cache_dir,
                      struct bds_store_chunk_stats *stats)
{
	double want_size = 0;
	char *want_hash = NULL, hex[33];
	bds_json_get_number(jv_copy(info), "size", &want_size);
	bds_json_get_string(jv_copy(info), "xxh3_128", &want_hash);
	char *key = key_of(fp, base, name);
	char *path = bds_util_xasprintf("%s/%s", dir, name);
	struct bds_store_sink k = {.fd = -1};
	int st = BDS_STORE_ERROR;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0) {
		bds_util_fail("create '%s': %s", path, strerror(errno));
		goto out;
	}
	if (chunked) {
		st = bds_store_get_chunked(s, cache_dir, dir, name, jv_copy(info), fd, stats);
		goto out;
	}
	bds_store_sink_init(&k, fd, (uint64_t)want_size);
	st = s->ops->get(s, key, &k);
	if (st == BDS_STORE_FOUND && bds_store_sink_finish(&k) < 0) {
		bds_store_fail_with("'%s'", path);
		st = BDS_STORE_ERROR;
	}
	if (st == BDS_STORE_ABSENT) {
		bds_util_fail("%s: listed in " METADATA " but missing", name);
		st = BDS_STORE_INVALID;
	} else if (k.too_big) {
		bds_util_fail("%s: larger than the %.0f bytes listed in " METADATA, name, want_size);
		st = BDS_STORE_INVALID;
	} else if (st == BDS_STORE_FOUND) {
		bds_store_sink_digest(&k, hex);
		if (k.size != (uint64_t)want_size) {
			bds_util_fail("%s: size %llu, " METADATA " lists %.0f", name, (unsigned long long)k.size, want_size);
			st = BDS_STORE_INVALID;
		} else if (strcmp(hex, want_hash) != 0) {
			bds_util_fail("%s: xxh3_128 %s, " METADATA " lists %s", name, hex, want_hash);
			st = BDS_STORE_INVALID;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	bds_store_sink_free(&k);
	jv_free(info);
	free(path);
	free(key);
	free(want_hash);
	return st;
}

/* One attempt at a fetch. *md_bytes receives the metadata.json read (for the retry check). */
static int fetch_once(struct bds_store *s, const char *fp, const char *base, const char *driver,
                      const char *cache_dir, const char *lazy, char **dir, jv *metadata, int *left,
                      char **md_bytes, size_t *md_len, int *added)
{
	char *buf = NULL, *fpdir = NULL, *final = NULL, *tmp = NULL, *cached = NULL, *ew = NULL;
	size_t len = 0, clen = 0;
	int lock = -1;
	jv md = jv_invalid(), files = jv_invalid();
	int st = get_metadata(s, fp, base, &buf, &len);
	if (st != BDS_STORE_FOUND)
		goto out;
	*md_bytes = bds_util_xstrndup(buf, len);
	*md_len = len;
	ew = entry_where(s, fp, base);
	md = bds_json_parse(buf, len, METADATA);
	if (!jv_is_valid(md)) {
		char *msg = bds_json_error_message(md);
		md = jv_invalid();
		bds_util_fail("entry %s: %s", ew, msg);
		free(msg);
		st = BDS_STORE_INVALID;
		goto out;
	}
	if (check_metadata(jv_copy(md), fp, base, driver) < 0) {
		bds_store_fail_with("entry %s", ew);
		st = BDS_STORE_INVALID;
		goto out;
	}
	files = jv_object_get(jv_copy(md), jv_string("files"));
	double format = 1;
	bds_json_get_number(jv_copy(md), "format", &format);

	fpdir = bds_util_xasprintf("%s/%s", cache_dir, fp);
	final = bds_util_xasprintf("%s/%s", fpdir, base);
	/* what killed lookups left, whether or not this one copies anything */
	bds_store_sweep(fpdir);
	/* the copy is for our parent (the pipeline that ran us): in use while it lives, so
	 * an eviction leaves it alone (cache.h); an orphan has nobody to use it */
	long user = (long)getppid();
	if (user > 1 && bds_cache_use(cache_dir, fp, base, user) < 0) {
		st = BDS_STORE_ERROR;
		goto out;
	}
	/* A cached copy is reused only if it is the same entry (byte-identical metadata.json,
	 * so a republished entry is fetched again) and its files still verify: re-hashing
	 * costs a read at XXH3 speed and catches a cache damaged since. */
	char *cached_md = bds_util_xasprintf("%s/" METADATA, final);
	if (bds_fs_read_regular(cached_md, METADATA_MAX, &cached, &clen) == 0 && clen == len &&
	    memcmp(cached, buf, len) == 0 && verify_local(final, jv_copy(files), lazy, format, left) == 0) {
		free(cached_md);
		st = BDS_STORE_FOUND;
		goto found;
	}
	free(cached_md);

	st = BDS_STORE_ERROR;
	if (bds_fs_mkdirs(fpdir, 0777) < 0 || !(tmp = bds_store_stage_begin(fpdir, base, &lock)))
		goto out;
	st = BDS_STORE_FOUND;
	struct bds_store_chunk_stats stats = {0};
	*left = 0;
	jv_object_foreach(files, name, info) {
		if (left_lazy(lazy, format, jv_string_value(name), info)) {
			/* its chunks come when a restore needs them (pagesrc.h) */
			*left = 1;
			jv_free(name);
			jv_free(info);
			continue;
		}
		int chunked = format == 2 && jv_object_has(jv_copy(info), jv_string("chunks"));
		st = fetch_file(s, fp, base, tmp, jv_string_value(name), jv_copy(info), chunked, cache_dir, &stats);
		jv_free(name);
		jv_free(info);
		if (st != BDS_STORE_FOUND)
			break;
	}
	if (st == BDS_STORE_FOUND && stats.chunks > 0)
		bds_util_warn("%s: %llu of %llu chunks fetched (%.1f of %.1f MiB), the rest from the chunk cache", ew,
		              (unsigned long long)stats.moved, (unsigned long long)stats.chunks,
		              (double)stats.moved_bytes / 1048576, (double)stats.bytes / 1048576);
	if (st != BDS_STORE_FOUND) {
		if (st == BDS_STORE_INVALID)
			bds_store_fail_with("entry %s failed verification", ew);
		goto out;
	}
	char *tmp_md = bds_util_xasprintf("%s/" METADATA, tmp);
	int mdfd = open(tmp_md, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	int werr = mdfd < 0 || bds_exec_write_all(mdfd, buf, len) < 0;
	if (mdfd >= 0 && close(mdfd) != 0)
		werr = 1;
	if (werr) {
		bds_util_fail("write '%s': %s", tmp_md, strerror(errno ? errno : EIO));
		free(tmp_md);
		st = BDS_STORE_ERROR;
		goto out;
	}
	free(tmp_md);
	int committed = bds_store_stage_commit(tmp, lock, final);
	lock = -1;
	if (committed < 0) {
		st = BDS_STORE_ERROR;
		goto out;
	}
	free(tmp);
	tmp = NULL;
	st = BDS_STORE_FOUND;
	*added = 1;
found:
	bds_cache_touch(final);
	*dir = final;
	final = NULL;
	*metadata = md;
	md = jv_invalid();
out:
	if (tmp)
		bds_fs_remove_tree(tmp);
	bds_lock_release(lock);
	jv_free(files);
	jv_free(md);
	free(tmp);
	free(final);
	free(fpdir);
	free(cached);
	free(buf);
	free(ew);
	return st;
}

int bds_store_fetch(struct bds_store *s, const char *fp, const char *base, const char *driver,
                    const char *cache_dir, const char *lazy, char **dir, jv *metadata, int *left)
{
	if (cache_dir[0] != '/')
		return bds_util_fail("cache '%s': not an absolute path", cache_dir);
	uint64_t max = 0;
	int capped = bds_cache_max(&max);
	if (capped < 0)
		return BDS_STORE_ERROR;
	int st = BDS_STORE_ERROR;
	for (int attempt = 0; attempt < FETCH_ATTEMPTS; attempt++) {
		char *md1 = NULL, *md2 = NULL;
		size_t l1 = 0, l2 = 0;
		int added = 0;
		st = fetch_once(s, fp, base, driver, cache_dir, lazy, dir, metadata, left, &md1, &l1, &added);
		if (st == BDS_STORE_FOUND && added && capped) {
			/* the cache grew: back under BDS_CACHE_MAX (best effort; this copy is in use) */
			uint64_t total = 0;
			char *msg = bds_util_xstrdup(bds_util_error());
			bds_cache_evict(cache_dir, max, 0, NULL, NULL, &total);
			bds_util_fail("%s", msg);
			free(msg);
		}
		if (st != BDS_STORE_INVALID || !md1) {
			free(md1);
			return st;
		}
		/* Verification failed: if metadata.json changed meanwhile, an entry was being
		 * republished under us; try again. Otherwise the entry is bad. */
		char *msg = bds_util_xstrdup(bds_util_error());
		int st2 = get_metadata(s, fp, base, &md2, &l2);
		int changed = st2 == BDS_STORE_FOUND && (l1 != l2 || memcmp(md1, md2, l1) != 0);
		bds_util_fail("%s", msg);
		free(msg);
		free(md1);
		free(md2);
		/* removed meanwhile (bds-prune takes metadata.json first): no entry */
		if (st2 == BDS_STORE_ABSENT)
			return BDS_STORE_ABSENT;
		if (!changed)
			return st;
	}
	return st;
}

/* ---- publish ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, sorted; anything else is an error. */
static char **list_entry(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	if (!d) {
		bds_util_fail("open '%s': %s", dir, strerror(errno));
		return NULL;
	}
	size_t n = 0, cap = 8;
	char **names = bds_util_xcalloc(cap + 1, sizeof *names);
	struct dirent *e;
	int bad = 0, has_base = 0;
	while (!bad && (errno = 0, e = readdir(d))) {
		/* the lock and owner of a staging directory made by bds-vm-snapshot: not the entry's */
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || bds_lock_is_dir_file(e->d_name))
			continue;
		char *path = bds_util_xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(path, &st) != 0)
			bad = bds_util_fail("stat '%s': %s", path, strerror(errno));
		else if (!S_ISREG(st.st_mode))
			bad = bds_util_fail("entry '%s': not a regular file (an entry holds only files)", path);
		else if (!valid_name(e->d_name))
			bad = bds_util_fail("entry '%s': file name not allowed (letters, digits, . _ -, "
			                    "not starting with '.')", path);
		else if (strcmp(e->d_name, METADATA) == 0)
			bad = bds_util_fail("entry '%s': " METADATA " is written by bds-store-publish", path);
		free(path);
		if (bad)
			break;
		has_base |= strcmp(e->d_name, "base_hashes.json") == 0;
		if (n == cap) {
			cap *= 2;
			names = bds_util_xrealloc(names, (cap + 1) * sizeof *names);
		}
		names[n++] = bds_util_xstrdup(e->d_name);
		names[n] = NULL;
	}
	if (!bad && errno)
		bad = bds_util_fail("read '%s': %s", dir, strerror(errno));
	closedir(d);
	if (!bad && !has_base)
		bad = bds_util_fail("entry '%s': no base_hashes.json", dir);
	if (bad) {
		bds_util_free_list(names);
		return NULL;
	}
	qsort(names, n, sizeof *names, cmp_str);
	*count = n;
	return names;
}

/* Publishes one file of an entry whole (format 1, and base_hashes.json in format 2):
 * stored under the entry. Its record, or jv_invalid() (recorded). */
static jv put_whole(struct bds_store *s, void *txn, const char *name, const char *path)
{
	uint64_t size = 0;
	char hex[33];
	if (hash_path(path, &size, hex) < 0 || s->ops->put_file(s, txn, name, path, size) < 0)
		return jv_invalid();
	jv info = jv_object();
	info = jv_object_set(info, jv_string("size"), jv_number((double)size));
	return jv_object_set(info, jv_string("xxh3_128"), jv_string(hex));
}

/* Publishes one file as chunks (format 2) and says what it uploaded. Its record, or
 * jv_invalid() (recorded). */
static jv put_chunks(struct bds_store *s, void *txn, const char *name, const char *path, struct bds_strmap *seen,
                     struct bds_store_chunk_stats *total)
{
	struct bds_store_chunk_stats st = {0};
	jv info = jv_invalid();
	if (bds_store_put_chunked(s, txn, path, seen, &st, &info) < 0)
		return jv_invalid();
	bds_util_warn("%s: %llu chunks (%.1f MiB), %llu uploaded (%.1f MiB), the rest already in the store", name,
	              (unsigned long long)st.chunks, (double)st.bytes / 1048576, (unsigned long long)st.moved,
	              (double)st.moved_bytes / 1048576);
	total->chunks += st.chunks;
	total->bytes += st.bytes;
	total->moved += st.moved;
	total->moved_bytes += st.moved_bytes;
	return info;
}

int bds_store_publish(struct bds_store *s, const char *dir, const char *fp, const char *base,
                      const char *driver, jv driver_state, int format)
{
	int rc = -1;
	void *txn = NULL;
	char *created = NULL, *line = NULL;
	size_t count = 0;
	char **names = list_entry(dir, &count);
	jv files = jv_object();
	struct bds_strmap *seen = bds_strmap_new(1024);
	struct bds_store_chunk_stats total = {0};
	if (!names)
		goto out;
	if (format != 1 && format != 2) {
		bds_util_fail("store format %d: expected 1 or 2", format);
		goto out;
	}
	if (s->ops->begin(s, fp, base, &txn) < 0)
		goto out;
	for (size_t i = 0; i < count; i++) {
		char *path = bds_util_xasprintf("%s/%s", dir, names[i]);
		/* base_hashes.json is the base's own answer, new with every base: whole */
		jv info = format == 2 && strcmp(names[i], "base_hashes.json") != 0
		                  ? put_chunks(s, txn, names[i], path, seen, &total)
		                  : put_whole(s, txn, names[i], path);
		free(path);
		if (!jv_is_valid(info))
			goto out;
		files = jv_object_set(files, jv_string(names[i]), info);
	}
	if (total.chunks > 0)
		bds_util_warn("uploaded %.1f of %.1f MiB in chunks (%.1f %%)", (double)total.moved_bytes / 1048576,
		              (double)total.bytes / 1048576, total.bytes ? 100.0 * (double)total.moved_bytes / (double)total.bytes : 0);
	created = iso8601_now();
	jv md = jv_object();
	md = jv_object_set(md, jv_string("format"), jv_number(format));
	md = jv_object_set(md, jv_string("fingerprint"), jv_string(fp));
	md = jv_object_set(md, jv_string("base"), jv_string(base));
	md = jv_object_set(md, jv_string("driver"), jv_string(driver));
	md = jv_object_set(md, jv_string("created_at"), jv_string(created));
	md = jv_object_set(md, jv_string("bds_version"), jv_string(BDS_VERSION));
	md = jv_object_set(md, jv_string("files"), files);
	files = jv_invalid();
	md = jv_object_set(md, jv_string("driver_state"), driver_state);
	driver_state = jv_invalid();
	char *one = bds_json_dump_line(md);
	line = bds_util_xasprintf("%s\n", one);
	free(one);
	/* metadata.json last: it is the commit marker */
	if (s->ops->put_bytes(s, txn, METADATA, line, strlen(line)) < 0)
		goto out;
	rc = s->ops->commit(s, txn);
	txn = NULL;
out:
	if (txn)
		s->ops->abort(s, txn);
	jv_free(files);
	jv_free(driver_state);
	bds_util_free_list(names);
	bds_strmap_free(seen, NULL);
	free(created);
	free(line);
	return rc;
}

/* ---- retention ---- */

static int cmp_entry(const void *a, const void *b)
{
	const struct bds_store_entry *x = a, *y = b;
	int c = strcmp(x->fp, y->fp);
	return c ? c : strcmp(x->base, y->base);
}

int bds_store_list(struct bds_store *s, const char *fp, struct bds_store_entry **out, size_t *n)
{
	struct bds_store_entry *e = NULL;
	size_t k = 0;
	int st = s->ops->list(s, fp, &e, &k);
	if (st != BDS_STORE_FOUND) {
		free(e);
		return st;
	}
	if (k > 1) /* qsort's array may not be NULL, even empty */
		qsort(e, k, sizeof *e, cmp_entry);
	/* a backend may list one entry more than once (S3: one key per file): one, with the
	 * latest change */
	size_t u = 0;
	for (size_t i = 0; i < k; i++) {
		if (fp && strcmp(fp, e[i].fp) != 0)
			continue;
		if (u > 0 && cmp_entry(&e[u - 1], &e[i]) == 0) {
			if (e[i].changed > e[u - 1].changed)
				e[u - 1].changed = e[i].changed;
			continue;
		}
		e[u++] = e[i];
	}
	*out = e;
	*n = u;
	return BDS_STORE_FOUND;
}

int bds_store_read_metadata(struct bds_store *s, const char *fp, const char *base, jv *metadata)
{
	char *buf = NULL, *ew = NULL;
	size_t len = 0;
	int st = get_metadata(s, fp, base, &buf, &len);
	if (st != BDS_STORE_FOUND)
		goto out;
	ew = entry_where(s, fp, base);
	jv md = bds_json_parse(buf, len, METADATA);
	if (!jv_is_valid(md)) {
		char *msg = bds_json_error_message(md);
		bds_util_fail("entry %s: %s", ew, msg);
		free(msg);
		st = BDS_STORE_INVALID;
	} else if (check_metadata(jv_copy(md), fp, base, NULL) < 0) {
		bds_store_fail_with("entry %s", ew);
		jv_free(md);
		st = BDS_STORE_INVALID;
	} else {
		*metadata = md;
	}
out:
	free(buf);
	free(ew);
	return st;
}

/* Is one file of the entry there, a regular file of the recorded size? 0, or 1 (why
 * recorded). */
static int entry_file_whole(const char *dir, const char *name, jv info)
{
	double size = -1;
	int rc = 0;
	int bad_name = !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..");
	if (bad_name)
		jv_free(info); /* not read: bds_json_get_number would have consumed it */
	if (bad_name || bds_json_get_number(info, "size", &size) != 0 || !(size >= 0) || size > 9007199254740992.0) {
		bds_util_fail("the entry '%s' has a bad metadata record for '%s'", dir, name);
		return 1;
	}
	char *path = bds_util_xasprintf("%s/%s", dir, name);
	struct stat st;
	if (lstat(path, &st) != 0) {
		bds_util_fail("the entry's file '%s' is missing: %s", path, strerror(errno));
		rc = 1;
	} else if (!S_ISREG(st.st_mode)) {
		bds_util_fail("the entry's file '%s' is not a regular file", path);
		rc = 1;
	} else if ((uint64_t)st.st_size != (uint64_t)size) {
		bds_util_fail("the entry's file '%s' has %lld bytes, its metadata says %.0f", path, (long long)st.st_size,
		              size);
		rc = 1;
	}
	free(path);
	return rc;
}

int bds_store_entry_check(jv env, const char *const need[])
{
	jv snap = bds_json_get(env, "snapshot", JV_KIND_OBJECT);
	jv files = bds_json_get(bds_json_get(jv_copy(snap), "metadata", JV_KIND_OBJECT), "files", JV_KIND_OBJECT);
	/* files a lazy restore brings in itself, chunk by chunk, each checked (store.md 4.3) */
	jv lazy = bds_json_get(jv_copy(snap), "lazy", JV_KIND_ARRAY);
	if (!jv_is_valid(lazy)) {
		jv_free(lazy);
		lazy = jv_array();
	}
	char *dir = NULL;
	int rc = -1;
	if (bds_json_get_string(jv_copy(snap), "dir", &dir) != 0 || !jv_is_valid(files)) {
		bds_util_fail("envelope: needs snapshot.dir and snapshot.metadata.files");
		goto out;
	}
	rc = 0;
	for (const char *const *n = need; rc == 0 && n && *n; n++) {
		if (!jv_object_has(jv_copy(files), jv_string(*n))) {
			bds_util_fail("the entry '%s' has no '%s' in its metadata", dir, *n);
			rc = 1;
		}
	}
	jv_object_foreach(files, name, info) {
		int is_lazy = 0;
		jv_array_foreach(lazy, i, l) {
			is_lazy |= jv_get_kind(l) == JV_KIND_STRING && strcmp(jv_string_value(l), jv_string_value(name)) == 0;
			jv_free(l);
		}
		if (rc == 0 && !is_lazy)
			rc = entry_file_whole(dir, jv_string_value(name), jv_copy(info));
		jv_free(name);
		jv_free(info);
	}
out:
	jv_free(lazy);
	jv_free(snap);
	jv_free(files);
	free(dir);
	return rc;
}

int bds_store_remove(struct bds_store *s, const char *fp, const char *base)
{
	return s->ops->remove(s, fp, base);
}

/* Adds the chunks a metadata.json (consumed) references to `refs`. */
static void add_references(jv md, struct bds_strmap *refs)
{
	jv files = bds_json_get(md, "files", JV_KIND_OBJECT);
	jv_object_foreach(files, name, info) {
		jv chunks = jv_get_kind(info) == JV_KIND_OBJECT ? jv_object_get(jv_copy(info), jv_string("chunks")) : jv_invalid();
		if (jv_get_kind(chunks) == JV_KIND_ARRAY) {
			jv_array_foreach(chunks, i, c) {
				jv h = jv_get_kind(c) == JV_KIND_ARRAY ? jv_array_get(jv_copy(c), 0) : jv_invalid();
				if (jv_get_kind(h) == JV_KIND_STRING && bds_util_is_hex(jv_string_value(h), 32))
					bds_strmap_put(refs, jv_string_value(h), 32, NULL);
				jv_free(h);
				jv_free(c);
			}
		}
		jv_free(chunks);
		jv_free(name);
		jv_free(info);
	}
	jv_free(files);
}

int bds_store_collect_chunks(struct bds_store *s, double grace, int dry_run, size_t *deleted, size_t *kept)
{
	char **keys = NULL;
	double *changed = NULL;
	size_t nk = 0, ne = 0;
	struct bds_store_entry *entries = NULL;
	struct bds_strmap *refs = bds_strmap_new(4096);
	*deleted = *kept = 0;
	/* chunks first: one written after this listing is not in it, so not deleted */
	int st = s->ops->list_chunks(s, &keys, &changed, &nk);
	if (st == BDS_STORE_FOUND && nk > 0)
		st = bds_store_list(s, NULL, &entries, &ne);
	for (size_t i = 0; st == BDS_STORE_FOUND && i < ne; i++) {
		jv md = jv_invalid();
		int r = bds_store_read_metadata(s, entries[i].fp, entries[i].base, &md);
		if (r == BDS_STORE_FOUND)
			add_references(md, refs);
		else if (r == BDS_STORE_INVALID)
			/* its chunks are unknown (a newer format, or damage): none can be judged unused */
			st = bds_store_fail_with("chunks not collected: entry %s/%s is unreadable", entries[i].fp,
			                         entries[i].base);
		else if (r != BDS_STORE_ABSENT) /* absent: a publish under way, its chunks young */
			st = r;
	}
	double now = (double)time(NULL); /* the stores' times are wall-clock times */
	for (size_t i = 0; st == BDS_STORE_FOUND && i < nk; i++) {
		const char *hex = keys[i] + strlen("chunks/xx/");
		/* a chunk written within the grace may belong to a publish under way */
		if (bds_strmap_has(refs, hex, 32) || changed[i] <= 0 || now - changed[i] < grace) {
			(*kept)++;
			continue;
		}
		/* the backend judges it again as it deletes it: a publish may have written it
		 * again since the listing (store_chunk refreshes the old chunks it reuses) */
		int r = dry_run ? 1 : s->ops->collect_chunk(s, keys[i], grace);
		if (r < 0)
			st = BDS_STORE_ERROR;
		else if (r == 1)
			(*deleted)++;
		else
			(*kept)++;
	}
	bds_util_free_list(keys);
	free(changed);
	free(entries);
	bds_strmap_free(refs, NULL);
	return st;
}

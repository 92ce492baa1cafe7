/* store-chunked: the chunked files of format-2 entries (store.md 4). A publish cuts a file
 * into content-defined chunks (chunk.h) named by their XXH3-128 and uploads only those the
 * store lacks; a fetch assembles the file from the chunk cache, fetching the chunks it
 * lacks. A chunk is checked against its name before it is used or kept, so a corrupt chunk
 * in the store makes the entry INVALID (cold) and one damaged in the cache is fetched again. */
#include "store-impl.h"

#include "chunk.h"
#include "digest.h"
#include "fs.h"
#include "json.h"
#include "strmap.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- requests in parallel ---- */

/* How many requests run at once against a store whose backend allows it
 * (bds_store_ops.parallel): BDS_STORE_PARALLEL, 1 to 64, 8 by default; 1 is one at a time.
 * A chunk is small (256 KiB on average), so over a network the round trip of each request,
 * not the bandwidth, bounds a sequential transfer. -1: a bad value (recorded). */
static int parallel_requests(struct bds_store *s)
{
	const char *v = getenv("BDS_STORE_PARALLEL");
	long long n = 8;
	if (v && *v && (bds_util_parse_whole(v, 64, &n) < 0 || n < 1))
		return bds_util_fail("BDS_STORE_PARALLEL '%s': expected a number of requests from 1 to 64", v);
	return s->ops->parallel ? (int)n : 1;
}

/* One chunk to upload (buf set, owned) or to fetch into the cache (buf NULL). */
struct job {
	char hex[33];
	unsigned char *buf;
	size_t len;
};

/* Workers, each with a store handle of its own (a backend's handle is not shared between
 * threads), taking jobs from a bounded queue. The first failure stops the crew: later jobs
 * are dropped, and its error is the crew's. libcurl (7.84 and later: Debian 12 has 7.88)
 * sets itself up thread-safely, so handles may be made in the workers. */
struct crew {
	struct bds_store *s;
	const char *cache_dir, *stage, *name; /* fetch: where chunks are kept */
	pthread_mutex_t mu;
	pthread_cond_t more, room;
	struct job *q;
	size_t head, count, cap;
	int closed, failed;
	char error[4096];
	struct bds_store_chunk_stats moved; /* moved, moved_bytes */
	pthread_t tids[64];
	int n;
};

/* Uploads chunk `key` unless the store has it. 0 (*uploaded set), or -1 (recorded). */
static int upload_chunk(struct bds_store *s, void *txn, const char *key, const unsigned char *buf, size_t len,
                        int *uploaded)
{
	double changed = 0;
	uint64_t size = UINT64_MAX;
	*uploaded = 0;
	int st = s->ops->has(s, key, &changed, &size);
	/* A chunk written long ago is written again: a prune deletes unreferenced chunks only
	 * when they have not been written for BDS_STORE_LEFTOVER_GRACE, so one this publish
	 * is about to reference must be younger than that until its metadata.json is in. One
	 * of another length is damaged (its name says what it must hold): replaced. */
	if (st == BDS_STORE_FOUND &&
	    ((double)time(NULL) - changed > BDS_STORE_CHUNK_REFRESH || (size != UINT64_MAX && size != len)))
		st = BDS_STORE_ABSENT;
	if (st == BDS_STORE_FOUND)
		return 0;
	if (st != BDS_STORE_ABSENT || s->ops->put_object(s, txn, key, (const char *)buf, len) < 0)
		return -1;
	*uploaded = 1;
	return 0;
}

/* A job, done with the worker's own store: 0, or -1 (recorded). */
static int do_job(struct crew *c, struct bds_store *s, struct job *j, struct bds_store_chunk_stats *moved)
{
	if (!j->buf) {
		char *buf = NULL;
		int st = bds_store_get_chunk(s, c->cache_dir, c->stage, c->name, j->hex, j->len, &buf, moved);
		free(buf);
		return st == BDS_STORE_FOUND ? 0 : -1;
	}
	char *key = bds_store_chunk_key(j->hex);
	int uploaded = 0;
	/* no transaction: only backends whose chunk puts need none run in parallel */
	int rc = upload_chunk(s, NULL, key, j->buf, j->len, &uploaded);
	if (rc == 0 && uploaded) {
		moved->moved++;
		moved->moved_bytes += j->len;
	}
	free(key);
	return rc;
}

static void *worker(void *arg)
{
	struct crew *c = arg;
	struct bds_store *s = bds_store_open(c->s->spec);
	struct bds_store_chunk_stats moved = {0};
	pthread_mutex_lock(&c->mu);
	if (!s && !c->failed) {
		c->failed = 1;
		snprintf(c->error, sizeof c->error, "%s", bds_util_error());
	}
	for (;;) {
		while (c->count == 0 && !c->closed)
			pthread_cond_wait(&c->more, &c->mu);
		if (c->count == 0)
			break;
		struct job j = c->q[c->head];
		c->head = (c->head + 1) % c->cap;
		c->count--;
		pthread_cond_signal(&c->room);
		int skip = c->failed;
		pthread_mutex_unlock(&c->mu);
		int rc = skip ? 0 : do_job(c, s, &j, &moved);
		free(j.buf);
		pthread_mutex_lock(&c->mu);
		if (rc < 0 && !c->failed) {
			c->failed = 1;
			snprintf(c->error, sizeof c->error, "%s", bds_util_error());
			pthread_cond_broadcast(&c->room);
		}
	}
	c->moved.moved += moved.moved;
	c->moved.moved_bytes += moved.moved_bytes;
	pthread_mutex_unlock(&c->mu);
	if (s)
		bds_store_close(s);
	return NULL;
}

/* A crew of n workers, or NULL when n is 1 or no thread starts (the caller works alone).
 * Fetched chunks are kept under cache_dir by way of stage (bds_store_get_chunk). */
static struct crew *crew_start(struct bds_store *s, int n, const char *cache_dir, const char *stage,
                               const char *name)
{
	if (n <= 1)
		return NULL;
	struct crew *c = bds_util_xcalloc(1, sizeof *c);
	c->s = s;
	c->cache_dir = cache_dir;
	c->stage = stage;
	c->name = name;
	c->cap = (size_t)n * 2;
	c->q = bds_util_xcalloc(c->cap, sizeof *c->q);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->more, NULL);
	pthread_cond_init(&c->room, NULL);
	for (int i = 0; i < n; i++)
		if (pthread_create(&c->tids[c->n], NULL, worker, c) == 0)
			c->n++;
	if (c->n == 0) {
		/* nobody to do the jobs: the caller does them alone */
		free(c->q);
		free(c);
		return NULL;
	}
	return c;
}

/* Queues a job (its buf now the crew's), waiting for room. 0, or -1: the crew has failed
 * (the job is dropped; crew_finish records why). */
static int crew_add(struct crew *c, struct job j)
{
	pthread_mutex_lock(&c->mu);
	while (c->count == c->cap && !c->failed)
		pthread_cond_wait(&c->room, &c->mu);
	int failed = c->failed;
	if (!failed) {
		c->q[(c->head + c->count) % c->cap] = j;
		c->count++;
		pthread_cond_signal(&c->more);
	}
	pthread_mutex_unlock(&c->mu);
	if (failed)
		free(j.buf);
	return failed ? -1 : 0;
}

/* Waits for every job, adds what the workers moved to *stats and frees the crew. 0, or
 * -1: a job failed (its error recorded in this thread). */
static int crew_finish(struct crew *c, struct bds_store_chunk_stats *stats)
{
	pthread_mutex_lock(&c->mu);
	c->closed = 1;
	pthread_cond_broadcast(&c->more);
	pthread_mutex_unlock(&c->mu);
	for (int i = 0; i < c->n; i++)
		pthread_join(c->tids[i], NULL);
	stats->moved += c->moved.moved;
	stats->moved_bytes += c->moved.moved_bytes;
	int rc = c->failed ? bds_util_fail("%s", c->error) : 0;
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->more);
	pthread_cond_destroy(&c->room);
	free(c->q);
	free(c);
	return rc;
}

/* ---- publish ---- */

/* Stores one chunk unless this publish or the store already has it: at once, or by the
 * crew when there is one. */
static int store_chunk(struct bds_store *s, void *txn, struct crew *crew, const unsigned char *buf, size_t len,
                       struct bds_strmap *seen, struct bds_store_chunk_stats *stats, char hex[33])
{
	bds_digest_xxh128(buf, len, hex);
	stats->chunks++;
	stats->bytes += len;
	if (bds_strmap_has(seen, hex, 32))
		return 0;
	/* in `seen` from now on: a failure fails the whole publish */
	bds_strmap_put(seen, hex, 32, NULL);
	if (crew) {
		struct job j = {.buf = bds_util_xmalloc(len ? len : 1), .len = len};
		memcpy(j.hex, hex, 33);
		memcpy(j.buf, buf, len);
		return crew_add(crew, j);
	}
	char *key = bds_store_chunk_key(hex);
	int uploaded = 0;
	int rc = upload_chunk(s, txn, key, buf, len, &uploaded);
	if (rc == 0 && uploaded) {
		stats->moved++;
		stats->moved_bytes += len;
	}
	free(key);
	return rc;
}

int bds_store_put_chunked(struct bds_store *s, void *txn, const char *path, struct bds_strmap *seen,
                          struct bds_store_chunk_stats *stats, jv *record)
{
	struct bds_chunk_params p;
	if (bds_chunk_params(BDS_STORE_CHUNK_AVG, &p) < 0)
		return -1;
	int fd = bds_fs_open_regular(path, 1);
	if (fd < 0)
		return -1;
	/* a cut is decided within p.max bytes: the buffer holds that much, and what is left
	 * after a cut moves to its front */
	int parallel = parallel_requests(s);
	if (parallel < 0) {
		close(fd);
		return -1;
	}
	struct crew *crew = crew_start(s, parallel, NULL, NULL, NULL);
	unsigned char *buf = bds_util_xmalloc(p.max);
	size_t n = 0;
	int eof = 0, rc = 0, chunk_failed = 0;
	uint64_t size = 0;
	struct bds_xxh128_stream *whole = bds_digest_xxh128_start();
	jv chunks = jv_array();
	for (;;) {
		while (!eof && n < p.max) {
			ssize_t r = read(fd, buf + n, p.max - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = bds_util_fail("read '%s': %s", path, strerror(errno));
				break;
			}
			if (r == 0)
				eof = 1;
			n += (size_t)r;
		}
		if (rc < 0 || n == 0)
			break;
		size_t cut = bds_chunk_cut(&p, buf, n, eof); /* n == p.max or eof: never 0 */
		char hex[33];
		if (store_chunk(s, txn, crew, buf, cut, seen, stats, hex) < 0) {
			rc = -1;
			chunk_failed = 1;
			break;
		}
		bds_digest_xxh128_add(whole, buf, cut);
		size += cut;
		chunks = jv_array_append(chunks, JV_ARRAY(jv_string(hex), jv_number((double)cut)));
		memmove(buf, buf + cut, n - cut);
		n -= cut;
	}
	close(fd);
	free(buf);
	/* every chunk is in the store before the file's record exists */
	if (crew && crew_finish(crew, stats) < 0) {
		rc = -1;
		chunk_failed = 1;
	}
	if (chunk_failed)
		bds_store_fail_with("publish '%s'", path);
	char hex[33];
	bds_digest_xxh128_finish(whole, hex);
	if (rc < 0) {
		jv_free(chunks);
		return -1;
	}
	jv r = jv_object();
	r = jv_object_set(r, jv_string("size"), jv_number((double)size));
	r = jv_object_set(r, jv_string("xxh3_128"), jv_string(hex));
	r = jv_object_set(r, jv_string("chunks"), chunks);
	*record = r;
	return 0;
}

/* ---- metadata ---- */

int bds_store_check_chunks(jv record, const char *name, uint64_t size)
{
	jv chunks = jv_object_get(record, jv_string("chunks"));
	if (!jv_is_valid(chunks)) {
		jv_free(chunks);
		return 0;
	}
	int rc = 1;
	uint64_t total = 0;
	if (jv_get_kind(chunks) != JV_KIND_ARRAY)
		rc = bds_util_fail("'%s': chunks is not an array", name);
	for (int i = 0; rc == 1 && i < jv_array_length(jv_copy(chunks)); i++) {
		jv c = jv_array_get(jv_copy(chunks), i);
		int pair = jv_get_kind(c) == JV_KIND_ARRAY; /* jq asserts on jv_array_get of anything else */
		jv h = pair ? jv_array_get(jv_copy(c), 0) : jv_invalid();
		jv l = pair ? jv_array_get(jv_copy(c), 1) : jv_invalid();
		double len = jv_get_kind(l) == JV_KIND_NUMBER ? jv_number_value(l) : -1;
		if (!pair || jv_array_length(jv_copy(c)) != 2 || jv_get_kind(h) != JV_KIND_STRING ||
		    !bds_util_is_hex(jv_string_value(h), 32) || !(len >= 1) || len > (double)BDS_STORE_CHUNK_MAX ||
		    len != (double)(uint64_t)len || total + (uint64_t)len > size)
			rc = bds_util_fail("'%s': chunk %d is not [32 hex digits, a length from 1 to %llu within the size]", name,
			                   i, (unsigned long long)BDS_STORE_CHUNK_MAX);
		else
			total += (uint64_t)len;
		jv_free(c);
		jv_free(h);
		jv_free(l);
	}
	if (rc == 1 && total != size)
		rc = bds_util_fail("'%s': its chunks add up to %llu bytes, not its size %llu", name, (unsigned long long)total,
		                   (unsigned long long)size);
	jv_free(chunks);
	return rc;
}

/* ---- fetch ---- */

/* The chunk from the cache, if it is there and sound: 1 (*buf malloc'd), or 0. A damaged
 * copy (or anything but a regular file) is removed, to be fetched again. */
static int from_cache(const char *path, const char *hex, uint64_t len, char **buf)
{
	char *b = NULL, got[33];
	size_t n = 0;
	/* a regular file only, never through a symbolic link */
	int fd = bds_fs_open_regular(path, 1);
	if (fd == -1 && errno == ENOENT)
		return 0;
	/* one byte over: a longer file is damaged, not an error */
	int r = fd >= 0 ? bds_util_read_fd(fd, (size_t)len + 1, path, &b, &n) : -1;
	if (r == 0 && n == len) {
		bds_digest_xxh128(b, n, got);
		if (strcmp(got, hex) == 0) {
			/* its last use, for the cache's eviction */
			futimens(fd, NULL);
			close(fd);
			*buf = b;
			return 1;
		}
	}
	if (fd >= 0)
		close(fd);
	free(b);
	bds_fs_remove_tree(path);
	return 0;
}

/* Keeps a verified chunk in the cache: written in `stage`, then renamed into place, so a
 * reader of the cache sees it whole or not at all. Best effort: a cache that cannot take
 * it costs the next fetch a download, never an answer. */
static void keep(const char *stage, const char *path, const char *hex, const char *buf, size_t len)
{
	char *tmp = bds_util_xasprintf("%s/.chunk-%s", stage, hex);
	char *dir = bds_util_xstrdup(path);
	*strrchr(dir, '/') = '\0';
	/* a step that fails leaves nothing: the next fetch downloads the chunk again */
	if (bds_fs_write_new(tmp, buf, len, 0) == 0 && (bds_fs_mkdirs(dir, 0777) < 0 || rename(tmp, path) != 0))
		unlink(tmp);
	free(dir);
	free(tmp);
}

int bds_store_get_chunk(struct bds_store *s, const char *cache_dir, const char *stage, const char *name,
                       const char *hex, uint64_t len, char **buf, struct bds_store_chunk_stats *stats)
{
	char *path = bds_util_xasprintf("%s/chunks/%.2s/%s", cache_dir, hex, hex);
	char *key = bds_store_chunk_key(hex);
	int st = BDS_STORE_FOUND;
	if (from_cache(path, hex, len, buf))
		goto out;
	struct bds_store_sink k;
	bds_store_sink_init(&k, -1, len);
	st = s->ops->get(s, key, &k);
	char got[33];
	if (st == BDS_STORE_ABSENT) {
		bds_util_fail("%s: chunk %s is missing from the store", name, hex);
		st = BDS_STORE_INVALID;
	} else if (k.too_big || (st == BDS_STORE_FOUND && k.size != len)) {
		bds_util_fail("%s: chunk %s is not the %llu bytes " "metadata.json lists", name, hex,
		              (unsigned long long)len);
		st = BDS_STORE_INVALID;
	} else if (st == BDS_STORE_FOUND && (bds_store_sink_digest(&k, got), strcmp(got, hex) != 0)) {
		bds_util_fail("%s: chunk %s in the store has xxh3_128 %s", name, hex, got);
		st = BDS_STORE_INVALID;
	}
	if (st == BDS_STORE_FOUND) {
		*buf = k.buf ? k.buf : bds_util_xstrdup("");
		k.buf = NULL;
		keep(stage, path, hex, *buf, (size_t)len);
		stats->moved++;
		stats->moved_bytes += len;
	}
	bds_store_sink_free(&k);
out:
	free(key);
	free(path);
	return st;
}

/* Fetches into the cache, several at a time, the chunks the cache lacks, so that the
 * assembly finds them there. Only a head start: a chunk it could not fetch is fetched
 * again, and its failure reported, by the assembly. 0, or -1: BDS_STORE_PARALLEL is bad
 * (recorded). */
static int prefetch(struct bds_store *s, const char *cache_dir, const char *stage, const char *name, jv chunks,
                    struct bds_store_chunk_stats *stats)
{
	int parallel = parallel_requests(s);
	if (parallel <= 1) {
		jv_free(chunks);
		return parallel;
	}
	struct crew *crew = NULL;
	struct bds_strmap *queued = bds_strmap_new(1024);
	int failed = 0;
	jv_array_foreach(chunks, i, c) {
		jv h = jv_array_get(jv_copy(c), 0);
		const char *hex = jv_string_value(h);
		char *path = bds_util_xasprintf("%s/chunks/%.2s/%s", cache_dir, hex, hex);
		if (!failed && !bds_strmap_has(queued, hex, 32) && access(path, F_OK) != 0) {
			bds_strmap_put(queued, hex, 32, NULL);
			if (!crew && !(crew = crew_start(s, parallel, cache_dir, stage, name)))
				failed = 1; /* no threads: the assembly fetches alone */
			struct job j = {.len = (size_t)jv_number_value(jv_array_get(jv_copy(c), 1))};
			memcpy(j.hex, hex, 33);
			if (crew)
				failed = crew_add(crew, j) < 0;
		}
		free(path);
		jv_free(h);
		jv_free(c);
	}
	if (crew)
		crew_finish(crew, stats);
	bds_strmap_free(queued, NULL);
	jv_free(chunks);
	return 0;
}

int bds_store_get_chunked(struct bds_store *s, const char *cache_dir, const char *stage, const char *name,
                          jv record, int fd, struct bds_store_chunk_stats *stats)
{
	double size = 0;
	char *want = NULL, got[33];
	bds_json_get_number(jv_copy(record), "size", &size);
	bds_json_get_string(jv_copy(record), "xxh3_128", &want);
	jv chunks = bds_json_get(record, "chunks", JV_KIND_ARRAY);
	struct bds_store_sink out;
	bds_store_sink_init(&out, fd, (uint64_t)size);
	int st = prefetch(s, cache_dir, stage, name, jv_copy(chunks), stats) < 0 ? BDS_STORE_ERROR : BDS_STORE_FOUND;
	jv_array_foreach(chunks, i, c) {
		if (st == BDS_STORE_FOUND) {
			jv h = jv_array_get(jv_copy(c), 0);
			uint64_t len = (uint64_t)jv_number_value(jv_array_get(jv_copy(c), 1));
			char *buf = NULL;
			st = bds_store_get_chunk(s, cache_dir, stage, name, jv_string_value(h), len, &buf, stats);
			if (st == BDS_STORE_FOUND) {
				stats->chunks++;
				stats->bytes += len;
				if (bds_store_sink_write(&out, buf, (size_t)len) < 0)
					st = out.failed ? bds_store_fail_with("%s", name) : BDS_STORE_INVALID;
			}
			free(buf);
			jv_free(h);
		}
		jv_free(c);
	}
	if (st == BDS_STORE_FOUND && bds_store_sink_finish(&out) < 0)
		st = bds_store_fail_with("%s", name);
	if (st == BDS_STORE_FOUND) {
		bds_store_sink_digest(&out, got);
		/* the chunks are each verified and add up to the size: a whole that differs is
		 * a metadata.json that names the wrong chunks */
		if (out.size != (uint64_t)size || strcmp(got, want) != 0) {
			bds_util_fail("%s: its chunks make xxh3_128 %s, metadata.json lists %s", name, got, want);
			st = BDS_STORE_INVALID;
		}
	} else if (st == BDS_STORE_INVALID && out.too_big) {
		bds_util_fail("%s: its chunks are larger than its size", name);
	}
	jv_free(chunks);
	bds_store_sink_free(&out);
	free(want);
	return st;
}

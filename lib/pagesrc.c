/* pagesrc: a chunked file put together on demand (pagesrc.h). Each chunk is ABSENT,
 * FETCHING (one thread is getting it; others that need it wait) or PRESENT (its verified
 * bytes are in the file). One mutex guards the states; the fetches run outside it. */
#include "pagesrc.h"

#include "fs.h"
#include "json.h"
#include "store-impl.h"
#include "strmap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ABSENT, FETCHING, PRESENT };

struct chunk {
	uint64_t off;
	uint64_t len;
	char hex[33];
	unsigned char state;
	size_t first; /* the first chunk with these bytes (a file of zeros repeats one) */
};

struct bds_pagesrc {
	char *spec, *cache_dir, *stage, *name;
	struct bds_store *own; /* for bds_pagesrc_need without a handle of its own */
	int fd;
	uint64_t size;
	struct chunk *c;
	size_t n;
	pthread_mutex_t mu;
	pthread_cond_t changed; /* a chunk left FETCHING, or the source failed */
	char *failed;
	size_t npresent;
	uint64_t present, fetched;
	/* the fill threads take chunks in `order` from `next` */
	pthread_t tids[64];
	int nthreads, stop;
	size_t *order, norder, next;
};

struct bds_pagesrc *bds_pagesrc_open(const char *spec, const char *cache_dir, const char *stage,
                                     const char *name, jv record, const char *path)
{
	double size = 0;
	bds_json_get_number(jv_copy(record), "size", &size);
	int chunked = bds_store_check_chunks(jv_copy(record), name, (uint64_t)size);
	if (chunked != 1) {
		if (chunked == 0)
			bds_util_fail("'%s': not a chunked file (no chunks in its record)", name);
		jv_free(record);
		return NULL;
	}
	struct bds_store *own = bds_store_open(spec);
	if (!own) {
		jv_free(record);
		return NULL;
	}
	struct bds_pagesrc *p = bds_util_xcalloc(1, sizeof *p);
	p->own = own;
	p->size = (uint64_t)size;
	jv chunks = bds_json_get(record, "chunks", JV_KIND_ARRAY);
	p->n = (size_t)jv_array_length(jv_copy(chunks));
	p->c = bds_util_xcalloc(p->n ? p->n : 1, sizeof *p->c);
	uint64_t off = 0;
	struct bds_strmap *firsts = bds_strmap_new(p->n);
	jv_array_foreach(chunks, i, c) {
		jv h = jv_array_get(jv_copy(c), 0);
		p->c[i].off = off;
		p->c[i].len = (uint64_t)jv_number_value(jv_array_get(jv_copy(c), 1));
		memcpy(p->c[i].hex, jv_string_value(h), 33);
		size_t *f = bds_strmap_get(firsts, p->c[i].hex, 32);
		if (!f) {
			f = bds_util_xmalloc(sizeof *f);
			*f = (size_t)i;
			bds_strmap_put(firsts, p->c[i].hex, 32, f);
		}
		p->c[i].first = *f;
		off += p->c[i].len;
		jv_free(h);
		jv_free(c);
	}
	bds_strmap_free(firsts, free);
	jv_free(chunks);
	p->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (p->fd < 0 || ftruncate(p->fd, (off_t)p->size) != 0) {
		bds_util_fail("create '%s': %s", path, strerror(errno));
		if (p->fd >= 0) {
			close(p->fd);
			unlink(path);
		}
		bds_store_close(p->own);
		free(p->c);
		free(p);
		return NULL;
	}
	p->spec = bds_util_xstrdup(spec);
	p->cache_dir = bds_util_xstrdup(cache_dir);
	p->stage = bds_util_xstrdup(stage);
	p->name = bds_util_xstrdup(name);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->changed, NULL);
	return p;
}

int bds_pagesrc_fd(const struct bds_pagesrc *p)
{
	return p->fd;
}

uint64_t bds_pagesrc_size(const struct bds_pagesrc *p)
{
	return p->size;
}

/* The chunk holding byte `off` (< size). */
static size_t chunk_at(const struct bds_pagesrc *p, uint64_t off)
{
	size_t lo = 0, hi = p->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->c[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Chunk i PRESENT: 0, or -1 (recorded). Called without the lock. A chunk whose bytes an
 * earlier one repeats comes after it, from the chunk cache: never fetched twice at once. */
static int make_present(struct bds_pagesrc *p, struct bds_store *s, size_t i)
{
	struct chunk *c = &p->c[i];
	if (c->first != i && make_present(p, s, c->first) < 0)
		return -1;
	pthread_mutex_lock(&p->mu);
	while (!p->failed && c->state == FETCHING)
		pthread_cond_wait(&p->changed, &p->mu);
	if (p->failed || c->state == PRESENT) {
		int rc = p->failed ? bds_util_fail("%s", p->failed) : 0;
		pthread_mutex_unlock(&p->mu);
		return rc;
	}
	c->state = FETCHING;
	pthread_mutex_unlock(&p->mu);

	char *buf = NULL;
	struct bds_store_chunk_stats st = {0};
	int ok = bds_store_get_chunk(s ? s : p->own, p->cache_dir, p->stage, p->name, c->hex, c->len, &buf, &st) ==
	                 BDS_STORE_FOUND &&
	         bds_fs_write_sparse(p->fd, buf, (size_t)c->len, c->off) == 0;
	free(buf);

	pthread_mutex_lock(&p->mu);
	if (ok) {
		c->state = PRESENT;
		p->npresent++;
		p->present += c->len;
		p->fetched += st.moved_bytes;
	} else {
		c->state = ABSENT;
		if (!p->failed)
			p->failed = bds_util_xstrdup(bds_util_error());
	}
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->mu);
	return ok ? 0 : -1;
}

int bds_pagesrc_need(struct bds_pagesrc *p, struct bds_store *s, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	if (off >= p->size || len > p->size - off)
		return bds_util_fail("%s: bytes %llu to %llu are beyond its %llu", p->name, (unsigned long long)off,
		                     (unsigned long long)(off + len), (unsigned long long)p->size);
	for (size_t i = chunk_at(p, off); i < p->n && p->c[i].off < off + len; i++)
		if (make_present(p, s, i) < 0)
			return -1;
	return 0;
}

static void *filler(void *arg)
{
	struct bds_pagesrc *p = arg;
	struct bds_store *s = bds_store_open(p->spec);
	pthread_mutex_lock(&p->mu);
	if (!s && !p->failed)
		p->failed = bds_util_xstrdup(bds_util_error());
	while (s && !p->stop && !p->failed && p->next < p->norder) {
		size_t i = p->order[p->next++];
		if (p->c[i].state != ABSENT)
			continue;
		pthread_mutex_unlock(&p->mu);
		make_present(p, s, i);
		pthread_mutex_lock(&p->mu);
	}
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->mu);
	if (s)
		bds_store_close(s);
	return NULL;
}

int bds_pagesrc_fill(struct bds_pagesrc *p, int threads, const uint64_t *first, size_t n)
{
	if (threads < 1 || threads > 64 || p->nthreads > 0)
		return bds_util_fail("pagesrc: fill with %d threads", threads);
	/* the working set's chunks first, each once, then every chunk in file order */
	unsigned char *queued = bds_util_xcalloc(p->n ? p->n : 1, 1);
	p->order = bds_util_xcalloc(p->n ? p->n : 1, sizeof *p->order);
	for (size_t k = 0; k < n; k++) {
		if (first[k] >= p->size)
			continue;
		size_t i = chunk_at(p, first[k]);
		if (!queued[i]) {
			queued[i] = 1;
			p->order[p->norder++] = i;
		}
	}
	for (size_t i = 0; i < p->n; i++)
		if (!queued[i])
			p->order[p->norder++] = i;
	free(queued);
	for (int t = 0; t < threads; t++)
		if (pthread_create(&p->tids[p->nthreads], NULL, filler, p) == 0)
			p->nthreads++;
	return p->nthreads > 0 ? 0 : bds_util_fail("pagesrc: no fill thread could start");
}

const char *bds_pagesrc_failed(struct bds_pagesrc *p)
{
	pthread_mutex_lock(&p->mu);
	const char *f = p->failed;
	pthread_mutex_unlock(&p->mu);
	return f;
}

void bds_pagesrc_counts(struct bds_pagesrc *p, uint64_t *present, uint64_t *fetched)
{
	pthread_mutex_lock(&p->mu);
	*present = p->present;
	*fetched = p->fetched;
	pthread_mutex_unlock(&p->mu);
}

void bds_pagesrc_close(struct bds_pagesrc *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_mutex_unlock(&p->mu);
	for (int t = 0; t < p->nthreads; t++)
		pthread_join(p->tids[t], NULL);
	bds_store_close(p->own);
	close(p->fd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->changed);
	free(p->c);
	free(p->order);
	free(p->spec);
	free(p->cache_dir);
	free(p->stage);
	free(p->name);
	free(p->failed);
	free(p);
}

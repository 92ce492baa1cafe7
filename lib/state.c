/* state: the graph state file (docs/algorithm.md 6.1). Layout, all integers u32
 * little-endian, strings as u32 length + bytes:
 *
 *   "BDSSTAT2", u32 flags (1: has stacks), 32-byte seed, string commit,
 *   string output key (bds_hash_output_key of the hashes file written with it, or ""), u32 count,
 *   count targets: u8 type, u8 flags, string label, 32 overall, 32 direct,
 *                  [source files: 32 raw digest], u32 n, n dep indexes,
 *   u32 keys, keys sorted by bytes: string key, u32 n, n target indexes.
 *
 * Binary so that a consume reads the state of a 200k-target revision in milliseconds. */
#include "state.h"

#include "fs.h"
#include "graph.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "BDSSTAT2"
#define MAX_STATE ((size_t)4 << 30)

struct cursor {
	const unsigned char *p, *end;
	const char *path;
};

static int short_file(const struct cursor *c)
{
	return bds_util_fail("state '%s': truncated or malformed", c->path);
}

static int take(struct cursor *c, size_t n, const unsigned char **out)
{
	if ((size_t)(c->end - c->p) < n)
		return short_file(c);
	*out = c->p;
	c->p += n;
	return 0;
}

static int take_u32(struct cursor *c, uint32_t *v)
{
	const unsigned char *p = NULL;
	if (take(c, 4, &p) < 0)
		return -1;
	*v = bds_state_u32(p);
	return 0;
}

static int take_string(struct cursor *c, const char **s, uint32_t *n)
{
	const unsigned char *p = NULL;
	if (take_u32(c, n) < 0 || take(c, *n, &p) < 0)
		return -1;
	*s = (const char *)p;
	return 0;
}

static int take_indexes(struct cursor *c, uint32_t n, uint32_t count, const unsigned char **out)
{
	if (n > (size_t)(c->end - c->p) / 4)
		return short_file(c);
	if (take(c, (size_t)n * 4, out) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (bds_state_u32(*out + 4 * i) >= count)
			return bds_util_fail("state '%s': target index out of range", c->path);
	return 0;
}

/* The state file mapped, not read: a consume's bds-plan and bds-hash each take it whole,
 * and copying 20 MB through read() costs more than parsing it. Safe against a record
 * writing the state meanwhile: that replaces the file by a rename, never in place. */
static int map_state(const char *path, struct bds_state *s)
{
	int fd = bds_fs_open_regular(path, 0);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return bds_util_fail("state '%s': %s", path, strerror(e));
	}
	if ((uintmax_t)st.st_size > MAX_STATE) {
		close(fd);
		return bds_util_fail("state '%s': larger than the limit of %zu bytes", path, MAX_STATE);
	}
	s->len = (size_t)st.st_size;
	if (s->len > 0) {
		void *p = mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			close(fd);
			s->len = 0;
			return bds_util_fail("state '%s': cannot map it: %s", path, strerror(e));
		}
		s->buf = p;
	}
	close(fd);
	return 0;
}

int bds_state_read(const char *path, struct bds_state *s)
{
	memset(s, 0, sizeof *s);
	if (map_state(path, s) < 0)
		return -1;
	size_t len = s->len;
	struct cursor c = {s->buf, s->buf + len, path};
	const unsigned char *p = NULL;
	uint32_t flags, count, n;
	const char *str = NULL;
	if (len < 8 || memcmp(s->buf, MAGIC, 8) != 0) {
		bds_util_fail("state '%s': not a bds graph state (version 2)", path);
		goto fail;
	}
	c.p += 8;
	if (take_u32(&c, &flags) < 0 || take(&c, BDS_SHA256_LEN, &p) < 0)
		goto fail;
	s->has_stacks = flags & 1;
	memcpy(s->seed, p, BDS_SHA256_LEN);
	if (take_string(&c, &str, &n) < 0)
		goto fail;
	if (n >= sizeof s->commit) {
		bds_util_fail("state '%s': malformed revision", path);
		goto fail;
	}
	memcpy(s->commit, str, n);
	s->commit[n] = '\0';
	if (take_string(&c, &s->output_key, &n) < 0)
		goto fail;
	s->output_key_len = n;
	if (take_u32(&c, &count) < 0)
		goto fail;
	if (count > len / 16) {
		short_file(&c);
		goto fail;
	}
	s->targets = bds_util_xcalloc(count ? count : 1, sizeof *s->targets);
	s->count = count;
	for (uint32_t i = 0; i < count; i++) {
		struct bds_state_target *t = &s->targets[i];
		const unsigned char *head = NULL;
		if (take(&c, 2, &head) < 0 || take_string(&c, &t->name, &t->name_len) < 0 ||
		    take(&c, BDS_SHA256_LEN, &t->overall) < 0 || take(&c, BDS_SHA256_LEN, &t->direct) < 0)
			goto fail;
		t->type = head[0];
		t->flags = head[1];
		if (t->type < BDS_TARGET_RULE || t->type > BDS_TARGET_GENERATED_FILE) {
			bds_util_fail("state '%s': unknown target type %u", path, t->type);
			goto fail;
		}
		if (t->type == BDS_TARGET_SOURCE_FILE && take(&c, BDS_SHA256_LEN, &t->source) < 0)
			goto fail;
		if (take_u32(&c, &t->n_deps) < 0 || take_indexes(&c, t->n_deps, count, &t->deps) < 0)
			goto fail;
	}
	uint32_t n_keys;
	if (take_u32(&c, &n_keys) < 0)
		goto fail;
	if (n_keys > len / 8) {
		short_file(&c);
		goto fail;
	}
	s->keys = bds_util_xmalloc((n_keys ? n_keys : 1) * sizeof *s->keys);
	s->n_keys = n_keys;
	for (uint32_t k = 0; k < n_keys; k++) {
		s->keys[k] = c.p;
		if (take_string(&c, &str, &n) < 0 || take_u32(&c, &n) < 0 || take_indexes(&c, n, count, &p) < 0)
			goto fail;
	}
	if (c.p != c.end) {
		bds_util_fail("state '%s': trailing bytes", path);
		goto fail;
	}
	return 0;
fail:
	bds_state_free(s);
	return -1;
}

void bds_state_free(struct bds_state *s)
{
	if (s->buf)
		munmap((void *)s->buf, s->len);
	free(s->targets);
	free(s->keys);
	memset(s, 0, sizeof *s);
}

static int key_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

size_t bds_state_lower_bound(const struct bds_state *s, const char *key, size_t n)
{
	size_t lo = 0, hi = s->n_keys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const unsigned char *r = s->keys[mid];
		if (key_cmp((const char *)r + 4, bds_state_u32(r), key, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t bds_state_key_at(const struct bds_state *s, size_t i, const char **key, size_t *n, const unsigned char **idx)
{
	const unsigned char *r = s->keys[i];
	uint32_t kn = bds_state_u32(r);
	*key = (const char *)r + 4;
	*n = kn;
	*idx = r + 4 + kn + 4;
	return bds_state_u32(r + 4 + kn);
}

uint32_t bds_state_lookup(const struct bds_state *s, const char *key, size_t n, const unsigned char **idx)
{
	size_t i = bds_state_lower_bound(s, key, n);
	const char *k;
	size_t kn;
	if (i < s->n_keys) {
		uint32_t count = bds_state_key_at(s, i, &k, &kn, idx);
		if (kn == n && memcmp(k, key, n) == 0)
			return count;
	}
	*idx = NULL;
	return 0;
}

/* --- writing ------------------------------------------------------------------------- */

struct key_entry {
	char *key;
	size_t n;
	int32_t index;
};

struct bds_state_writer {
	FILE *mem; /* the targets section, built in memory */
	char *mem_buf;
	size_t mem_len;
	size_t count;
	struct key_entry *keys;
	size_t n_keys, keys_cap;
};

static void put_u32(FILE *f, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	fwrite(b, 1, 4, f);
}

static void put_string(FILE *f, const char *s, size_t n)
{
	put_u32(f, (uint32_t)n);
	fwrite(s, 1, n, f);
}

struct bds_state_writer *bds_state_writer_new(size_t count, int has_stacks, const unsigned char seed[BDS_SHA256_LEN],
                                              const char *commit, const char *output_key)
{
	struct bds_state_writer *w = bds_util_xcalloc(1, sizeof *w);
	w->mem = open_memstream(&w->mem_buf, &w->mem_len);
	if (!w->mem)
		abort(); /* out of memory, as the x* allocators treat it */
	fwrite(MAGIC, 1, 8, w->mem);
	put_u32(w->mem, has_stacks ? 1 : 0);
	fwrite(seed, 1, BDS_SHA256_LEN, w->mem);
	put_string(w->mem, commit, strlen(commit));
	put_string(w->mem, output_key, strlen(output_key));
	put_u32(w->mem, (uint32_t)count);
	w->count = count;
	return w;
}

void bds_state_writer_target(struct bds_state_writer *w, const struct bds_state_target *t, const int32_t *deps)
{
	unsigned char head[2] = {t->type, t->flags};
	fwrite(head, 1, 2, w->mem);
	put_string(w->mem, t->name, t->name_len);
	fwrite(t->overall, 1, BDS_SHA256_LEN, w->mem);
	fwrite(t->direct, 1, BDS_SHA256_LEN, w->mem);
	if (t->type == BDS_TARGET_SOURCE_FILE)
		fwrite(t->source, 1, BDS_SHA256_LEN, w->mem);
	put_u32(w->mem, t->n_deps);
	for (uint32_t i = 0; i < t->n_deps; i++)
		put_u32(w->mem, (uint32_t)deps[i]);
}

void bds_state_writer_key(struct bds_state_writer *w, const char *key, size_t n, int32_t index)
{
	if (w->n_keys == w->keys_cap) {
		w->keys_cap = w->keys_cap ? w->keys_cap * 2 : 4096;
		w->keys = bds_util_xrealloc(w->keys, w->keys_cap * sizeof *w->keys);
	}
	w->keys[w->n_keys++] = (struct key_entry){bds_util_xstrndup(key, n), n, index};
}

static int entry_cmp(const void *a, const void *b)
{
	const struct key_entry *x = a, *y = b;
	int c = key_cmp(x->key, x->n, y->key, y->n);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

int bds_state_writer_finish(struct bds_state_writer *w, FILE *f)
{
	if (w->n_keys > 1)
		qsort(w->keys, w->n_keys, sizeof *w->keys, entry_cmp);
	size_t distinct = 0;
	for (size_t i = 0; i < w->n_keys; i++)
		if (i == 0 || key_cmp(w->keys[i].key, w->keys[i].n, w->keys[i - 1].key, w->keys[i - 1].n) != 0)
			distinct++;
	put_u32(w->mem, (uint32_t)distinct);
	for (size_t i = 0; i < w->n_keys;) {
		size_t j = i;
		while (j < w->n_keys && key_cmp(w->keys[j].key, w->keys[j].n, w->keys[i].key, w->keys[i].n) == 0)
			j++;
		put_string(w->mem, w->keys[i].key, w->keys[i].n);
		/* one index per target under a key, however often the target read it */
		size_t unique = 0;
		for (size_t k = i; k < j; k++)
			unique += k == i || w->keys[k].index != w->keys[k - 1].index;
		put_u32(w->mem, (uint32_t)unique);
		for (size_t k = i; k < j; k++)
			if (k == i || w->keys[k].index != w->keys[k - 1].index)
				put_u32(w->mem, (uint32_t)w->keys[k].index);
		i = j;
	}
	int rc = 0;
	if (fflush(w->mem) != 0 || ferror(w->mem))
		rc = bds_util_fail("state: out of memory");
	else if (fwrite(w->mem_buf, 1, w->mem_len, f) != w->mem_len || fflush(f) != 0)
		rc = bds_util_fail("write state: %s", strerror(errno ? errno : EIO));
	bds_state_writer_free(w);
	return rc;
}

void bds_state_writer_free(struct bds_state_writer *w)
{
	if (!w)
		return;
	if (w->mem)
		fclose(w->mem);
	free(w->mem_buf);
	for (size_t i = 0; i < w->n_keys; i++)
		free(w->keys[i].key);
	free(w->keys);
	free(w);
}

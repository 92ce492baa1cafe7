/* strmap: an open-addressing map from byte strings to pointers (XXH3-hashed). */
#include "strmap.h"

#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct slot {
	char *key; /* NULL: empty */
	size_t n;
	uint64_t hash;
	void *value;
};

struct bds_strmap {
	struct slot *slots;
	size_t cap, count;
};

struct bds_strmap *bds_strmap_new(size_t expected)
{
	struct bds_strmap *m = bds_util_xcalloc(1, sizeof *m);
	size_t cap = 16;
	while (cap < expected * 2)
		cap *= 2;
	m->cap = cap;
	m->slots = bds_util_xcalloc(cap, sizeof *m->slots);
	return m;
}

static struct slot *find(const struct bds_strmap *m, const char *key, size_t n, uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);
	for (;;) {
		struct slot *s = &m->slots[i];
		if (!s->key || (s->hash == h && s->n == n && memcmp(s->key, key, n) == 0))
			return s;
		i = (i + 1) & (m->cap - 1);
	}
}

void *bds_strmap_get(const struct bds_strmap *m, const char *key, size_t n)
{
	struct slot *s = find(m, key, n, XXH3_64bits(key, n));
	return s->key ? s->value : NULL;
}

int bds_strmap_has(const struct bds_strmap *m, const char *key, size_t n)
{
	return find(m, key, n, XXH3_64bits(key, n))->key != NULL;
}

static void grow(struct bds_strmap *m)
{
	struct slot *old = m->slots;
	size_t old_cap = m->cap;
	m->cap *= 2;
	m->slots = bds_util_xcalloc(m->cap, sizeof *m->slots);
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].key)
			*find(m, old[i].key, old[i].n, old[i].hash) = old[i];
	free(old);
}

void *bds_strmap_put(struct bds_strmap *m, const char *key, size_t n, void *value)
{
	if ((m->count + 1) * 2 > m->cap)
		grow(m);
	uint64_t h = XXH3_64bits(key, n);
	struct slot *s = find(m, key, n, h);
	if (s->key) {
		void *prev = s->value;
		s->value = value;
		return prev;
	}
	s->key = bds_util_xstrndup(key, n);
	s->n = n;
	s->hash = h;
	s->value = value;
	m->count++;
	return NULL;
}

size_t bds_strmap_count(const struct bds_strmap *m)
{
	return m->count;
}

void bds_strmap_free(struct bds_strmap *m, void (*free_value)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].key)
			continue;
		free(m->slots[i].key);
		if (free_value)
			free_value(m->slots[i].value);
	}
	free(m->slots);
	free(m);
}

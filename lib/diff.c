/* diff: bazel-diff's get-impacted-targets (docs/algorithm.md 4) over two hashes files. */
#include "diff.h"

#include "fs.h"
#include "json.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* Hashes files of 200k targets are ~35 MB; libjq needs ~0.8 s for one. This reader only
 * knows the shapes bds-diff reads (objects of strings, objects of string arrays, and
 * anything to skip), decodes strings in place and allocates nothing per string. */

#define MAX_DEPTH 512

struct parser {
	char *buf;
	size_t len, pos;
	const char *path;
};

static int p_fail(const struct parser *p, size_t at, const char *what)
{
	if (at >= p->len)
		return bds_util_fail("parse '%s': %s at end of input", p->path, what);
	return bds_util_fail("parse '%s': %s at byte %zu", p->path, what, at);
}

static void p_ws(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->buf[p->pos];
		if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
			break;
		p->pos++;
	}
}

/* The next significant byte, or -1 at the end. */
static int p_peek(struct parser *p)
{
	p_ws(p);
	return p->pos < p->len ? (unsigned char)p->buf[p->pos] : -1;
}

static int p_expect(struct parser *p, char c, const char *what)
{
	if (p_peek(p) != (unsigned char)c)
		return p_fail(p, p->pos, what);
	p->pos++;
	return 0;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		char c = s[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		w[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		w[0] = (char)(0xc0 | (cp >> 6));
		w[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		w[0] = (char)(0xe0 | (cp >> 12));
		w[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		w[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	w[0] = (char)(0xf0 | (cp >> 18));
	w[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	w[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	w[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Parses the string at p->pos (which must be '"'). With `decode`, the decoded bytes are
 * written in place (never longer than the source) and NUL-terminated; *out and *n describe
 * them. Without it the buffer is left untouched. */
static int p_string(struct parser *p, int decode, char **out, size_t *n)
{
	char *b = p->buf;
	size_t i = p->pos + 1, w = i;
	if (p->pos >= p->len || b[p->pos] != '"')
		return p_fail(p, p->pos, "expected a string");
	for (;;) {
		/* fast path: plain bytes up to the next quote or backslash. Like Gson, raw
		 * control characters are accepted. */
		const char *q = memchr(b + i, '"', p->len - i);
		size_t end = q ? (size_t)(q - b) : p->len;
		const char *bs = memchr(b + i, '\\', end - i);
		size_t stop = bs ? (size_t)(bs - b) : end;
		if (decode && w != i)
			memmove(b + w, b + i, stop - i);
		w += stop - i;
		i = stop;
		if (i >= p->len)
			return p_fail(p, p->pos, "unterminated string");
		if (b[i] == '"')
			break;
		/* an escape */
		if (i + 1 >= p->len)
			return p_fail(p, i, "unterminated string");
		char e = b[i + 1], d;
		switch (e) {
		case '"': d = '"'; break;
		case '\\': d = '\\'; break;
		case '/': d = '/'; break;
		case 'b': d = '\b'; break;
		case 'f': d = '\f'; break;
		case 'n': d = '\n'; break;
		case 'r': d = '\r'; break;
		case 't': d = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (i + 6 > p->len || hex4(b + i + 2, &cp) < 0)
				return p_fail(p, i, "bad \\u escape in string");
			i += 6;
			if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= p->len && b[i] == '\\' && b[i + 1] == 'u' &&
			    hex4(b + i + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			if (decode)
				w += put_utf8(b + w, cp);
			continue;
		}
		default:
			return p_fail(p, i, "bad escape in string");
		}
		if (decode)
			b[w] = d;
		w++;
		i += 2;
	}
	if (decode) {
		b[w] = '\0';
		*out = b + p->pos + 1;
		*n = w - (p->pos + 1);
	}
	p->pos = i + 1;
	return 0;
}

static int p_literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->buf + p->pos, word, n) != 0)
		return p_fail(p, p->pos, "unexpected character");
	p->pos += n;
	return 0;
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int p_number(struct parser *p)
{
	const char *b = p->buf;
	size_t i = p->pos, start;
	if (i < p->len && b[i] == '-')
		i++;
	start = i;
	while (i < p->len && is_digit(b[i]))
		i++;
	if (i == start || (b[start] == '0' && i - start > 1))
		return p_fail(p, p->pos, "bad number");
	if (i < p->len && b[i] == '.') {
		start = ++i;
		while (i < p->len && is_digit(b[i]))
			i++;
		if (i == start)
			return p_fail(p, p->pos, "bad number");
	}
	if (i < p->len && (b[i] == 'e' || b[i] == 'E')) {
		i++;
		if (i < p->len && (b[i] == '+' || b[i] == '-'))
			i++;
		start = i;
		while (i < p->len && is_digit(b[i]))
			i++;
		if (i == start)
			return p_fail(p, p->pos, "bad number");
	}
	p->pos = i;
	return 0;
}

/* Validates and skips one value of any kind, leaving the buffer untouched. */
static int p_skip(struct parser *p, int depth)
{
	int c = p_peek(p);
	if (depth > MAX_DEPTH)
		return p_fail(p, p->pos, "nesting too deep");
	switch (c) {
	case '"':
		return p_string(p, 0, NULL, NULL);
	case '{':
		p->pos++;
		if (p_peek(p) == '}') {
			p->pos++;
			return 0;
		}
		for (;;) {
			if (p_peek(p) != '"')
				return p_fail(p, p->pos, "expected a string key");
			if (p_string(p, 0, NULL, NULL) < 0 || p_expect(p, ':', "expected ':'") < 0 ||
			    p_skip(p, depth + 1) < 0)
				return -1;
			c = p_peek(p);
			p->pos++;
			if (c == '}')
				return 0;
			if (c != ',')
				return p_fail(p, p->pos - 1, "expected ',' or '}'");
		}
	case '[':
		p->pos++;
		if (p_peek(p) == ']') {
			p->pos++;
			return 0;
		}
		for (;;) {
			if (p_skip(p, depth + 1) < 0)
				return -1;
			c = p_peek(p);
			p->pos++;
			if (c == ']')
				return 0;
			if (c != ',')
				return p_fail(p, p->pos - 1, "expected ',' or ']'");
		}
	case 't':
		return p_literal(p, "true");
	case 'f':
		return p_literal(p, "false");
	case 'n':
		return p_literal(p, "null");
	case -1:
		return p_fail(p, p->pos, "expected a value");
	default:
		if (c == '-' || is_digit(c))
			return p_number(p);
		return p_fail(p, p->pos, "unexpected character");
	}
}

/* A kind name for "expected X, found Y" messages, from the first byte of a value. */
static const char *kind_at(int c)
{
	switch (c) {
	case '"': return "string";
	case '{': return "object";
	case '[': return "array";
	case 't':
	case 'f': return "boolean";
	case 'n': return "null";
	default: return "number";
	}
}

/* Reads the file and positions the parser on its first value (a UTF-8 BOM is skipped, as
 * Gson's reader does). */
static int read_whole(const char *path, char **buf, size_t *len)
{
	struct stat st;
	/* a FIFO given as FROM.json (or `<(...)`) is read; one nobody writes is refused */
	int fd = bds_fs_open_input(path);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		/* not a regular file: read it as a stream */
		int rc = bds_util_read_fd(fd, BDS_JSON_FILE_MAX, path, buf, len);
		close(fd);
		return rc;
	}
	if ((uintmax_t)st.st_size > BDS_JSON_FILE_MAX) {
		close(fd);
		return bds_util_fail("read '%s': larger than the limit of %zu bytes", path, BDS_JSON_FILE_MAX);
	}
	/* one allocation of the right size: growing a 35 MB buffer by doubling costs copies;
	 * the size is the file's, so no memory for it is the input's failure, not a crash */
	size_t n = 0, cap = (size_t)st.st_size;
	char *b = malloc(cap + 1);
	if (!b) {
		close(fd);
		return bds_util_fail("read '%s': out of memory: cannot allocate %zu bytes", path, cap + 1);
	}
	bds_util_advise_huge_pages(b, cap + 1);
	for (;;) {
		if (n == cap) {
			char probe;
			ssize_t r = read(fd, &probe, 1);
			if (r == 0)
				break;
			if (r < 0 && errno == EINTR)
				continue;
			if (r > 0) /* the file grew while being read */
				errno = EAGAIN;
			int e = errno;
			free(b);
			close(fd);
			return bds_util_fail("read '%s': %s", path, r > 0 ? "changed while being read" : strerror(e));
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(b);
			close(fd);
			return bds_util_fail("read '%s': %s", path, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

static int p_open(struct parser *p, const char *path, char **buf)
{
	size_t len = 0;
	if (read_whole(path, buf, &len) < 0)
		return -1;
	p->buf = *buf;
	p->len = len;
	p->pos = len >= 3 && memcmp(*buf, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	p->path = path;
	if (p_peek(p) == -1)
		return bds_util_fail("parse '%s': empty file", path);
	return 0;
}

/* Nothing but whitespace may follow the value (Gson: "not fully consumed"). */
static int p_close(struct parser *p)
{
	if (p_peek(p) != -1)
		return p_fail(p, p->pos, "trailing data after the JSON value");
	return 0;
}

/* Iterates the members of the object at p->pos: on return 1 *key is the decoded key and
 * the parser is on the value; the caller consumes the value and calls again. 0 at '}'. */
static int p_member(struct parser *p, int *first, char **key, size_t *klen)
{
	int c = p_peek(p);
	if (*first) {
		*first = 0;
		if (c == '}') {
			p->pos++;
			return 0;
		}
	} else {
		p->pos++;
		if (c == '}')
			return 0;
		if (c != ',')
			return p_fail(p, p->pos - 1, "expected ',' or '}'");
		c = p_peek(p);
	}
	if (c != '"')
		return p_fail(p, p->pos, "expected a string key");
	if (p_string(p, 1, key, klen) < 0 || p_expect(p, ':', "expected ':'") < 0)
		return -1;
	if (p_peek(p) == -1)
		return p_fail(p, p->pos, "expected a value");
	return 1;
}

/* ---- the label index ----
 * Open addressing over keys that stay in the file buffer: no copy, no allocation per key
 * (bds_strmap copies every key, which costs a third of a 200k-entry diff). */

struct slot {
	const char *key; /* NULL: empty */
	uint32_t len, value;
	uint64_t hash;
};

struct bds_diff_index {
	struct slot *slots;
	size_t mask, count;
};

static struct bds_diff_index *index_new(size_t expected)
{
	struct bds_diff_index *x = bds_util_xcalloc(1, sizeof *x);
	size_t cap = 64;
	while (cap < expected * 2)
		cap *= 2;
	x->slots = bds_util_xcalloc(cap, sizeof *x->slots);
	bds_util_advise_huge_pages(x->slots, cap * sizeof *x->slots);
	x->mask = cap - 1;
	return x;
}

static void index_free(struct bds_diff_index *x)
{
	if (!x)
		return;
	free(x->slots);
	free(x);
}

static struct slot *index_slot(const struct bds_diff_index *x, const char *key, size_t n, uint64_t h)
{
	for (size_t i = (size_t)h & x->mask;; i = (i + 1) & x->mask) {
		struct slot *s = &x->slots[i];
		if (!s->key || (s->hash == h && s->len == n && memcmp(s->key, key, n) == 0))
			return s;
	}
}

/* Sets key to value + 1; returns the previous value + 1, or 0. */
static size_t index_put(struct bds_diff_index *x, const char *key, size_t n, size_t value)
{
	if ((x->count + 1) * 2 > x->mask + 1) {
		struct slot *old = x->slots;
		size_t old_cap = x->mask + 1;
		x->slots = bds_util_xcalloc(old_cap * 2, sizeof *x->slots);
		x->mask = old_cap * 2 - 1;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].key)
				*index_slot(x, old[i].key, old[i].len, old[i].hash) = old[i];
		free(old);
	}
	uint64_t h = XXH3_64bits(key, n);
	struct slot *s = index_slot(x, key, n, h);
	size_t prev = s->key ? s->value : 0;
	if (!s->key)
		x->count++;
	*s = (struct slot){key, (uint32_t)n, (uint32_t)(value + 1), h};
	return prev;
}

/* value + 1, or 0 when absent */
static size_t index_get(const struct bds_diff_index *x, const char *key, size_t n)
{
	if (n > UINT32_MAX)
		return 0;
	const struct slot *s = index_slot(x, key, n, XXH3_64bits(key, n));
	return s->key ? s->value : 0;
}

/* ---- hashes files ---- */

/* Splits a value as TargetHash.fromJson does with Kotlin's split (which keeps empty
 * parts): at most one '#' (the type before it, possibly empty), then exactly one '~'. */
static int split_value(struct bds_diff_target *t, char *v, size_t n)
{
	char *hash = v, *sharp = memchr(v, '#', n);
	size_t hn = n;
	t->type = "";
	t->type_len = 0;
	if (sharp) {
		if (memchr(sharp + 1, '#', n - (size_t)(sharp + 1 - v)))
			return -1;
		t->type = v;
		t->type_len = (size_t)(sharp - v);
		hash = sharp + 1;
		hn = n - t->type_len - 1;
	}
	char *tilde = memchr(hash, '~', hn);
	if (!tilde || memchr(tilde + 1, '~', hn - (size_t)(tilde + 1 - hash)))
		return -1;
	/* NUL-terminate the parts: the separators are no longer needed */
	if (sharp)
		*sharp = '\0';
	*tilde = '\0';
	t->overall = hash;
	t->overall_len = (size_t)(tilde - hash);
	t->direct = tilde + 1;
	t->direct_len = hn - t->overall_len - 1;
	return 0;
}

/* Grows an array that holds one item per input entry to twice *cap (or `first`): the
 * new array, or NULL (error recorded, the old one kept) when there is no memory for it,
 * which fails the input instead of crashing. */
static void *grow(void *array, size_t *cap, size_t first, size_t item, const char *path)
{
	size_t n = *cap ? *cap * 2 : first;
	void *p = n > SIZE_MAX / item ? NULL : realloc(array, n * item);
	if (!p) {
		bds_util_fail("read '%s': out of memory for %zu entries", path, n);
		return NULL;
	}
	bds_util_advise_huge_pages(p, n * item);
	*cap = n;
	return p;
}

/* 0, -1 a bad value, -2 no memory (error recorded) */
static int add_target(struct bds_diff_hashes *h, size_t *cap, char *key, size_t klen, char *v, size_t vn)
{
	if (h->count == *cap) {
		struct bds_diff_target *t = grow(h->targets, cap, 1024, sizeof *t, h->path);
		if (!t)
			return -2;
		h->targets = t;
	}
	struct bds_diff_target *t = &h->targets[h->count];
	memset(t, 0, sizeof *t);
	t->label = key;
	t->label_len = klen;
	if (split_value(t, v, vn) < 0)
		return -1;
	h->count++;
	return 0;
}

static int value_error(const char *path, const char *key, const char *v, size_t vn)
{
	return bds_util_fail("hashes '%s': key '%s': value '%.*s' is not [Type#]hash~direct", path, key,
	                     vn > 200 ? 200 : (int)vn, v);
}

/* Parses an object of label -> value strings at p->pos into h. With a `scan`, the
 * top-level object of a file of unknown format is being read: the first bad member is
 * remembered instead of failing (it is an error only in a flat file), and the members
 * "hashes" and "metadata" are located and skipped, leaving their bytes untouched. */
struct scan {
	size_t hashes_at, metadata_at; /* offset + 1 of the value, 0 if absent */
	char *bad_key, *bad_value;     /* the first bad member */
	size_t bad_value_len;
	const char *bad_kind;          /* NULL: a string in a bad format */
};

static int parse_entries(struct parser *p, struct bds_diff_hashes *h, struct scan *s)
{
	size_t cap = 0;
	int first = 1, more;
	char *key;
	size_t klen;
	if (p_expect(p, '{', "expected an object") < 0)
		return -1;
	while ((more = p_member(p, &first, &key, &klen)) == 1) {
		int c = (unsigned char)p->buf[p->pos];
		if (c == '"') {
			char *v;
			size_t vn;
			if (p_string(p, 1, &v, &vn) < 0)
				return -1;
			int added = add_target(h, &cap, key, klen, v, vn);
			if (added == -2)
				return -1;
			if (added < 0) {
				if (!s)
					return value_error(h->path, key, v, vn);
				/* an error only if this is not the new format's outer object */
				if (!s->bad_key) {
					s->bad_key = key;
					s->bad_value = v;
					s->bad_value_len = vn;
					s->bad_kind = NULL;
				}
			}
			continue;
		}
		if (!s)
			return bds_util_fail("hashes '%s': key '%s': expected a string, found %s", h->path, key, kind_at(c));
		if (klen == 6 && memcmp(key, "hashes", 6) == 0)
			s->hashes_at = p->pos + 1;
		else if (klen == 8 && memcmp(key, "metadata", 8) == 0)
			s->metadata_at = p->pos + 1;
		else if (!s->bad_key) {
			s->bad_key = key;
			s->bad_kind = kind_at(c);
		}
		if (p_skip(p, 1) < 0)
			return -1;
	}
	return more;
}

/* metadata: only moduleGraphJson matters (docs/algorithm.md 4.5). */
static int parse_metadata(struct parser *p, struct bds_diff_hashes *h)
{
	int first = 1, more;
	char *key;
	size_t klen;
	int c = p_peek(p);
	if (c != '{')
		return bds_util_fail("hashes '%s': key 'metadata': expected an object, found %s", h->path, kind_at(c));
	p->pos++;
	while ((more = p_member(p, &first, &key, &klen)) == 1) {
		if (strcmp(key, "moduleGraphJson") == 0 && p->buf[p->pos] == '"') {
			char *v;
			if (p_string(p, 1, &v, &h->module_graph_len) < 0)
				return -1;
			h->module_graph = v;
		} else if (p_skip(p, 1) < 0) {
			return -1;
		}
	}
	return more;
}

static void index_targets(struct bds_diff_hashes *h)
{
	h->index = index_new(h->count);
	for (size_t i = 0; i < h->count; i++) {
		struct bds_diff_target *t = &h->targets[i];
		/* duplicate keys: the last one wins, as with Gson's JsonObject */
		size_t prev = index_put(h->index, t->label, t->label_len, i);
		if (prev) {
			struct bds_diff_target *old = &h->targets[prev - 1];
			old->dead = 1;
			if (old->type_len)
				h->typed--;
			else
				h->untyped--;
		}
		if (t->type_len)
			h->typed++;
		else
			h->untyped++;
	}
}

int bds_diff_read_hashes(const char *path, struct bds_diff_hashes *h)
{
	struct parser p;
	struct scan s = {0};
	memset(h, 0, sizeof *h);
	h->path = bds_util_xstrdup(path);
	if (p_open(&p, path, &h->buf) < 0)
		goto fail;
	int c = p_peek(&p);
	if (c != '{') {
		bds_util_fail("hashes '%s': expected an object, found %s", path, kind_at(c));
		goto fail;
	}
	if (parse_entries(&p, h, &s) < 0 || p_close(&p) < 0)
		goto fail;
	if (s.hashes_at && s.metadata_at) {
		/* the new format (a file with both keys, as DeserialiseHashesInteractor decides) */
		h->count = 0;
		p.pos = s.hashes_at - 1;
		if (p_peek(&p) != '{') {
			bds_util_fail("hashes '%s': key 'hashes': expected an object, found %s", path, kind_at(p_peek(&p)));
			goto fail;
		}
		if (parse_entries(&p, h, NULL) < 0)
			goto fail;
		p.pos = s.metadata_at - 1;
		if (parse_metadata(&p, h) < 0)
			goto fail;
	} else if (s.bad_key) {
		if (s.bad_kind)
			bds_util_fail("hashes '%s': key '%s': expected a string, found %s", path, s.bad_key, s.bad_kind);
		else
			value_error(path, s.bad_key, s.bad_value, s.bad_value_len);
		goto fail;
	} else if (s.hashes_at || s.metadata_at) {
		bds_util_fail("hashes '%s': key '%s': expected a string, found %s", path,
		              s.hashes_at ? "hashes" : "metadata",
		              kind_at((unsigned char)p.buf[(s.hashes_at ? s.hashes_at : s.metadata_at) - 1]));
		goto fail;
	}
	index_targets(h);
	return 0;
fail:
	bds_diff_free_hashes(h);
	return -1;
}

void bds_diff_free_hashes(struct bds_diff_hashes *h)
{
	if (!h)
		return;
	index_free(h->index);
	free(h->targets);
	free(h->buf);
	free(h->path);
	memset(h, 0, sizeof *h);
}

/* Looks a label up; NULL when absent. */
static const struct bds_diff_target *find_target(const struct bds_diff_hashes *h, const char *label, size_t n)
{
	size_t i = index_get(h->index, label, n);
	return i ? &h->targets[i - 1] : NULL;
}

/* ---- dep-edges files ---- */

int bds_diff_read_deps(const char *path, struct bds_diff_deps *d)
{
	struct parser p;
	size_t lcap = 0, scap = 0;
	int first = 1, more;
	char *key;
	size_t klen;
	memset(d, 0, sizeof *d);
	d->path = bds_util_xstrdup(path);
	d->index = index_new(1024);
	if (p_open(&p, path, &d->buf) < 0)
		goto fail;
	int c = p_peek(&p);
	if (c != '{') {
		bds_util_fail("dep-edges '%s': expected an object, found %s", path, kind_at(c));
		goto fail;
	}
	p.pos++;
	while ((more = p_member(&p, &first, &key, &klen)) == 1) {
		c = (unsigned char)p.buf[p.pos];
		if (c == 'n') { /* Gson maps null to an absent list */
			if (p_literal(&p, "null") < 0)
				goto fail;
			continue;
		}
		if (c != '[') {
			bds_util_fail("dep-edges '%s': key '%s': expected an array, found %s", path, key, kind_at(c));
			goto fail;
		}
		p.pos++;
		if (d->nlists == lcap) {
			struct bds_diff_list *grown = grow(d->lists, &lcap, 1024, sizeof *grown, path);
			if (!grown)
				goto fail;
			d->lists = grown;
		}
		struct bds_diff_list *l = &d->lists[d->nlists];
		l->first = d->nlabels;
		l->n = 0;
		if (p_peek(&p) == ']') {
			p.pos++;
		} else {
			for (;;) {
				c = p_peek(&p);
				if (c != '"') {
					bds_util_fail("dep-edges '%s': key '%s': expected an array of strings, found %s in it",
					              path, key, c == -1 ? "the end" : kind_at(c));
					goto fail;
				}
				char *s;
				size_t n;
				if (p_string(&p, 1, &s, &n) < 0)
					goto fail;
				if (d->nlabels == scap) {
					void *grown = grow(d->labels, &scap, 4096, sizeof *d->labels, path);
					if (!grown)
						goto fail;
					d->labels = grown;
				}
				d->labels[d->nlabels].s = s;
				d->labels[d->nlabels].n = n;
				d->nlabels++;
				l->n++;
				c = p_peek(&p);
				p.pos++;
				if (c == ']')
					break;
				if (c != ',') {
					p_fail(&p, p.pos - 1, "expected ',' or ']'");
					goto fail;
				}
			}
		}
		index_put(d->index, key, klen, d->nlists);
		d->nlists++;
	}
	if (more < 0 || p_close(&p) < 0)
		goto fail;
	return 0;
fail:
	bds_diff_free_deps(d);
	return -1;
}

void bds_diff_free_deps(struct bds_diff_deps *d)
{
	if (!d)
		return;
	index_free(d->index);
	free(d->labels);
	free(d->lists);
	free(d->buf);
	free(d->path);
	memset(d, 0, sizeof *d);
}

/* ---- the impacted set ---- */

static int same(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && memcmp(a, b, an) == 0;
}

static int kind_rank(const struct bds_diff_target *to, const struct bds_diff_target *from)
{
	const struct bds_diff_target *t = to && to->type_len ? to : from && from->type_len ? from : NULL;
	if (!t)
		return 4;
	if (same(t->type, t->type_len, "SourceFile", 10))
		return 0;
	if (same(t->type, t->type_len, "GeneratedFile", 13))
		return 1;
	if (same(t->type, t->type_len, "Rule", 4))
		return 2;
	return 3;
}

/* Appends an item, growing r->items by doubling. */
static void new_item(struct bds_diff_result *r, const char *label, size_t label_len, const struct bds_diff_target *t,
                     const struct bds_diff_target *f, int direct)
{
	if (r->count == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 256;
		r->items = bds_util_xrealloc(r->items, r->cap * sizeof *r->items);
	}
	struct bds_diff_item *it = &r->items[r->count++];
	it->label = label;
	it->label_len = label_len;
	it->to = t;
	it->from = f;
	it->rank = kind_rank(t, f);
	/* UTF-8 byte order equals Java's UTF-16 order unless a supplementary character
	 * (lead byte F0-F4) meets U+E000-U+FFFF (lead byte EE or EF) */
	it->bytewise = 1;
	for (size_t k = 0; k < label_len && it->bytewise; k++)
		it->bytewise = (unsigned char)label[k] < 0xee;
	it->direct = direct;
	it->target_distance = it->package_distance = -1;
}

void bds_diff_impacted(const struct bds_diff_hashes *from, const struct bds_diff_hashes *to,
                       struct bds_diff_result *r)
{
	memset(r, 0, sizeof *r);
	r->item_of_target = bds_util_xcalloc(to->count, sizeof *r->item_of_target);
	for (size_t i = 0; i < to->count; i++) {
		const struct bds_diff_target *t = &to->targets[i];
		if (t->dead)
			continue;
		const struct bds_diff_target *f = find_target(from, t->label, t->label_len);
		int direct;
		if (!f) {
			direct = 1;
		} else {
			direct = !same(t->direct, t->direct_len, f->direct, f->direct_len);
			if (!direct && same(t->overall, t->overall_len, f->overall, f->overall_len) &&
			    same(t->type, t->type_len, f->type, f->type_len))
				continue;
		}
		new_item(r, t->label, t->label_len, t, f, direct);
		r->item_of_target[i] = r->count;
	}
}

void bds_diff_add_module_impacted(struct bds_diff_result *r, const struct bds_diff_hashes *from,
                                  const struct bds_diff_hashes *to, const struct bds_diff_str *labels, size_t n,
                                  int for_distances)
{
	/* distances: every impacted label is out of `from` (bazel-diff drops the module set
	 * from it, and the plain set is part of that), so each is new, hence DIRECT */
	if (for_distances)
		for (size_t i = 0; i < r->count; i++)
			r->items[i].direct = 1;
	for (size_t i = 0; i < n; i++) {
		const char *l = labels[i].s;
		size_t ln = labels[i].n;
		if (ln >= 2 && memcmp(l, "@@", 2) == 0)
			continue;
		const struct bds_diff_target *t = find_target(to, l, ln);
		size_t ti = t ? (size_t)(t - to->targets) : 0;
		if (t ? r->item_of_target[ti] != 0 : for_distances)
			continue; /* already impacted, or not in `to` */
		new_item(r, l, ln, t, find_target(from, l, ln), 1);
		if (t)
			r->item_of_target[ti] = r->count;
	}
}

/* pkg(x) = x.split(":")[0] */
static size_t pkg_len(const char *s, size_t n)
{
	const char *c = memchr(s, ':', n);
	return c ? (size_t)(c - s) : n;
}

#define UNRESOLVED SIZE_MAX

/* The distance pass resolves each label at most once: edges to item numbers, items to
 * their dep lists. */
struct dist {
	struct bds_diff_result *r;
	const struct bds_diff_hashes *to;
	const struct bds_diff_deps *deps;
	size_t *edge;         /* per dep label: item index + 1, 0 when not impacted, or UNRESOLVED */
	unsigned char *state; /* per item */
	struct frame {
		size_t item;
		const struct bds_diff_list *list; /* NULL: no entry in the dep-edges file */
		size_t next;                      /* next dep to visit */
	} *stack;
};

enum { UNSEEN = 0, ACTIVE, DONE };

/* The item a dep label names (index + 1), or 0 when that label is not impacted. */
static size_t edge_item(struct dist *x, size_t k)
{
	if (x->edge[k] == UNRESOLVED) {
		const struct bds_diff_str *d = &x->deps->labels[k];
		size_t t = index_get(x->to->index, d->s, d->n);
		x->edge[k] = t ? x->r->item_of_target[t - 1] : 0;
	}
	return x->edge[k];
}

/* Computes the item `root` and everything it needs, depth first, on an explicit stack
 * (dependency chains can be deeper than the C stack). */
static int distance_of(struct dist *x, size_t root, void (*warn)(const char *, size_t, int, void *), void *arg)
{
	struct bds_diff_item *items = x->r->items;
	size_t top = 0;
	x->stack[top++] = (struct frame){root, NULL, 0};
	while (top > 0) {
		struct frame *f = &x->stack[top - 1];
		struct bds_diff_item *it = &items[f->item];
		if (x->state[f->item] == UNSEEN) {
			size_t li = it->direct ? 0 : index_get(x->deps->index, it->to->label, it->to->label_len);
			const struct bds_diff_list *l = li ? &x->deps->lists[li - 1] : NULL;
			int impacted = 0;
			for (size_t k = 0; l && k < l->n && !impacted; k++)
				impacted = edge_item(x, l->first + k) != 0;
			if (it->direct || !impacted) {
				/* DIRECT; or the fallback of bazel-diff issue #268 */
				if (!it->direct && warn)
					warn(it->to->label, it->to->label_len, l == NULL, arg);
				it->target_distance = it->package_distance = 0;
				x->state[f->item] = DONE;
				top--;
				continue;
			}
			f->list = l;
			x->state[f->item] = ACTIVE;
		}
		/* descend into the next dependency not computed yet */
		const struct bds_diff_list *l = f->list;
		size_t child = 0;
		for (; f->next < l->n; f->next++) {
			size_t di = edge_item(x, l->first + f->next);
			if (!di || x->state[di - 1] == DONE)
				continue;
			if (x->state[di - 1] == ACTIVE)
				return bds_util_fail("dep-edges '%s': dependency cycle through '%s'", x->deps->path,
				                     it->to->label);
			child = di;
			break;
		}
		if (child) {
			x->stack[top++] = (struct frame){child - 1, NULL, 0};
			continue;
		}
		/* all dependencies done: the two minima, independently */
		int td = -1, pd = -1;
		size_t lp = pkg_len(it->to->label, it->to->label_len);
		for (size_t k = 0; k < l->n; k++) {
			size_t di = edge_item(x, l->first + k);
			if (!di)
				continue;
			const struct bds_diff_str *d = &x->deps->labels[l->first + k];
			int cross = !same(it->to->label, lp, d->s, pkg_len(d->s, d->n));
			int t1 = items[di - 1].target_distance + 1, p1 = items[di - 1].package_distance + cross;
			if (td < 0 || t1 < td)
				td = t1;
			if (pd < 0 || p1 < pd)
				pd = p1;
		}
		it->target_distance = td;
		it->package_distance = pd;
		x->state[f->item] = DONE;
		top--;
	}
	return 0;
}

int bds_diff_distances(struct bds_diff_result *r, const struct bds_diff_hashes *to, const struct bds_diff_deps *deps,
                       void (*warn)(const char *label, size_t n, int no_entry, void *arg), void *arg)
{
	struct dist x = {r, to, deps, NULL, NULL, NULL};
	int rc = 0;
	x.edge = bds_util_xmalloc((deps->nlabels ? deps->nlabels : 1) * sizeof *x.edge);
	for (size_t k = 0; k < deps->nlabels; k++)
		x.edge[k] = UNRESOLVED;
	x.state = bds_util_xcalloc(r->count ? r->count : 1, 1);
	x.stack = bds_util_xmalloc((r->count ? r->count : 1) * sizeof *x.stack);
	for (size_t i = 0; i < r->count && rc == 0; i++)
		if (x.state[i] != DONE)
			rc = distance_of(&x, i, warn, arg);
	free(x.stack);
	free(x.state);
	free(x.edge);
	return rc;
}

static int item_cmp(const void *a, const void *b)
{
	const struct bds_diff_item *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->bytewise && y->bytewise) {
		size_t n = x->label_len < y->label_len ? x->label_len : y->label_len;
		int c = memcmp(x->label, y->label, n);
		if (c)
			return c;
		return x->label_len < y->label_len ? -1 : x->label_len > y->label_len;
	}
	return bds_util_java_cmp(x->label, x->label_len, y->label, y->label_len);
}

void bds_diff_sort(struct bds_diff_result *r)
{
	if (r->count > 1)
		qsort(r->items, r->count, sizeof *r->items, item_cmp);
	/* item_of_target is stale after sorting; only the distance pass needs it */
	free(r->item_of_target);
	r->item_of_target = NULL;
}

int bds_diff_filter(struct bds_diff_result *r, char **types, int exclude_external, const char *to_path)
{
	size_t k = 0;
	for (size_t i = 0; i < r->count && types; i++) {
		const struct bds_diff_target *t = r->items[i].to;
		if (!t) /* bazel-diff's TargetTypeFilter fails too (NullPointerException) */
			return bds_util_fail("'%.*s', named by the module path's rdeps query, has no hash in '%s': a type "
			                     "filter cannot apply to it",
			                     (int)r->items[i].label_len, r->items[i].label, to_path);
		if (!t->type_len)
			return bds_util_fail("no target type info found for '%s' in '%s': re-generate the hashes with "
			                     "--include-target-type",
			                     t->label, to_path);
	}
	for (size_t i = 0; i < r->count; i++) {
		const struct bds_diff_target *t = r->items[i].to;
		if (types) {
			int keep = 0;
			for (char **ty = types; *ty && !keep; ty++)
				keep = same(t->type, t->type_len, *ty, strlen(*ty));
			if (!keep)
				continue;
		}
		const struct bds_diff_item *it = &r->items[i];
		if (exclude_external && it->label_len >= 11 && memcmp(it->label, "//external:", 11) == 0)
			continue;
		r->items[k++] = r->items[i];
	}
	r->count = k;
	return 0;
}

static int write_result(FILE *out)
{
	if (fflush(out) != 0 || ferror(out))
		return bds_util_fail("write output: %s", strerror(errno ? errno : EIO));
	return 0;
}

int bds_diff_write_labels(FILE *out, const struct bds_diff_result *r)
{
	for (size_t i = 0; i < r->count; i++) {
		fwrite(r->items[i].label, 1, r->items[i].label_len, out);
		putc('\n', out);
	}
	return write_result(out);
}

int bds_diff_write_distances(FILE *out, const struct bds_diff_result *r)
{
	/* Gson's pretty printer: two-space indent, "[]" when empty, no final newline. */
	if (r->count == 0) {
		fputs("[]", out);
		return write_result(out);
	}
	fputs("[\n", out);
	for (size_t i = 0; i < r->count; i++) {
		const struct bds_diff_item *it = &r->items[i];
		fputs("  {\n    \"label\": ", out);
		bds_json_put_string(out, it->label, it->label_len);
		fprintf(out, ",\n    \"targetDistance\": %d,\n    \"packageDistance\": %d\n  }%s\n", it->target_distance,
		        it->package_distance, i + 1 < r->count ? "," : "");
	}
	fputs("]", out);
	return write_result(out);
}

void bds_diff_free_result(struct bds_diff_result *r)
{
	if (!r)
		return;
	free(r->items);
	free(r->item_of_target);
	memset(r, 0, sizeof *r);
}

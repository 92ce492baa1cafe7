/* proto: a small zero-copy protobuf wire-format decoder and a delimited-stream reader. */
#include "proto.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bds_proto_reader_init(struct bds_proto_reader *r, const uint8_t *data, size_t len, uint64_t base)
{
	r->start = r->p = data;
	r->end = data + len;
	r->base = base;
}

uint64_t bds_proto_offset(const struct bds_proto_reader *r, const uint8_t *p)
{
	return r->base + (uint64_t)(p - r->start);
}

int bds_proto_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (p == end)
			return -1;
		uint8_t b = *p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			int len = (int)(p - *pp);
			*pp = p;
			*out = v;
			return len;
		}
	}
	return -2;
}

static int malformed(const struct bds_proto_reader *r, const uint8_t *at, const char *why)
{
	return bds_util_fail("malformed protobuf at byte %llu: %s",
	                     (unsigned long long)bds_proto_offset(r, at), why);
}

int bds_proto_next(struct bds_proto_reader *r, struct bds_proto_field *f)
{
	if (r->p == r->end)
		return 0;
	const uint8_t *at = r->p;
	uint64_t key;
	int rc = bds_proto_read_varint(&r->p, r->end, &key);
	if (rc == -1)
		return malformed(r, at, "truncated field key");
	if (rc == -2)
		return malformed(r, at, "field key varint longer than 10 bytes");
	f->number = (uint32_t)(key >> 3);
	f->wire = (int)(key & 7);
	if ((key >> 3) == 0 || (key >> 3) > 536870911u)
		return malformed(r, at, "invalid field number");
	switch (f->wire) {
	case BDS_PROTO_VARINT:
		rc = bds_proto_read_varint(&r->p, r->end, &f->varint);
		if (rc == -1)
			return malformed(r, at, "truncated varint");
		if (rc == -2)
			return malformed(r, at, "varint longer than 10 bytes");
		return 1;
	case BDS_PROTO_FIXED64:
	case BDS_PROTO_FIXED32: {
		size_t n = f->wire == BDS_PROTO_FIXED64 ? 8 : 4;
		if ((size_t)(r->end - r->p) < n)
			return malformed(r, at, "truncated fixed-width field");
		uint64_t v = 0;
		for (size_t i = 0; i < n; i++)
			v |= (uint64_t)r->p[i] << (8 * i);
		f->varint = v;
		r->p += n;
		return 1;
	}
	case BDS_PROTO_LEN: {
		uint64_t len;
		rc = bds_proto_read_varint(&r->p, r->end, &len);
		if (rc == -1)
			return malformed(r, at, "truncated length");
		if (rc == -2)
			return malformed(r, at, "length varint longer than 10 bytes");
		if (len > (uint64_t)(r->end - r->p))
			return malformed(r, at, "length runs past the end of the message");
		f->data = r->p;
		f->len = (size_t)len;
		r->p += len;
		return 1;
	}
	case 3:
	case 4:
		return malformed(r, at, "group wire type (not used by build.proto)");
	default:
		return malformed(r, at, "unknown wire type");
	}
}

/* Stream blocks: data is appended to the newest block and never moved once a message
 * has been handed out, so zero-copy pointers stay valid until the stream is freed. */
#define BLOCK_SIZE ((size_t)8 << 20)

struct block {
	struct block *prev;
	size_t cap;
	uint8_t data[];
};

struct bds_proto_stream {
	int fd;
	const char *what;
	size_t max_message;
	struct block *cur;
	size_t fill;      /* bytes of cur->data holding input */
	size_t pos;       /* first unconsumed byte in cur->data */
	uint64_t consumed; /* stream offset of cur->data[pos] */
	uint64_t total;
	int eof;
};

static struct block *new_block(struct block *prev, size_t cap)
{
	struct block *b = bds_util_xmalloc(sizeof *b + cap);
	b->prev = prev;
	b->cap = cap;
	return b;
}

struct bds_proto_stream *bds_proto_stream_open(int fd, const char *what, size_t max_message)
{
	struct bds_proto_stream *s = bds_util_xcalloc(1, sizeof *s);
	s->fd = fd;
	s->what = what;
	s->max_message = max_message;
	s->cur = new_block(NULL, BLOCK_SIZE);
	return s;
}

uint64_t bds_proto_stream_bytes(const struct bds_proto_stream *s)
{
	return s->total;
}

/* Makes at least `need` unconsumed bytes available at cur->data[pos], moving the
 * unconsumed tail to a new block when the current one is too small. 1 ok, 0 EOF first,
 * -1 I/O error. */
static int ensure(struct bds_proto_stream *s, size_t need)
{
	while (s->fill - s->pos < need) {
		if (s->eof)
			return 0;
		if (s->cur->cap - s->pos < need) {
			size_t have = s->fill - s->pos;
			size_t cap = need > BLOCK_SIZE ? need : BLOCK_SIZE;
			/* the size is the input's (a message's declared length, or the stream
			 * growing): without memory for it the input fails, nothing crashes */
			struct block *b = malloc(sizeof *b + cap);
			if (!b)
				return bds_util_fail("read '%s': out of memory: cannot allocate %zu bytes at byte %llu",
				                     s->what, cap, (unsigned long long)s->consumed);
			b->prev = s->cur;
			b->cap = cap;
			memcpy(b->data, s->cur->data + s->pos, have);
			s->cur = b;
			s->fill = have;
			s->pos = 0;
		}
		ssize_t r = read(s->fd, s->cur->data + s->fill, s->cur->cap - s->fill);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return bds_util_fail("read '%s': %s", s->what, strerror(errno));
		if (r == 0)
			s->eof = 1;
		s->fill += (size_t)r;
		s->total += (uint64_t)r;
	}
	return 1;
}

int bds_proto_stream_next(struct bds_proto_stream *s, const uint8_t **msg, size_t *len, uint64_t *offset)
{
	/* A length prefix is at most 10 bytes; ask for 1, then as many as the varint needs. */
	size_t want = 1;
	uint64_t mlen = 0;
	const uint8_t *p;
	for (;;) {
		int rc = ensure(s, want);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (s->fill == s->pos)
				return 0; /* clean end between messages */
			return bds_util_fail("read '%s': truncated length prefix at byte %llu", s->what,
			                     (unsigned long long)s->consumed);
		}
		p = s->cur->data + s->pos;
		int vr = bds_proto_read_varint(&p, s->cur->data + s->fill, &mlen);
		if (vr > 0)
			break;
		if (vr == -2 || want >= 10)
			return bds_util_fail("read '%s': bad length prefix at byte %llu", s->what,
			                     (unsigned long long)s->consumed);
		want++;
	}
	size_t prefix = (size_t)(p - (s->cur->data + s->pos));
	if (mlen > s->max_message)
		return bds_util_fail("read '%s': message of %llu bytes at byte %llu exceeds the limit of %zu",
		                     s->what, (unsigned long long)mlen, (unsigned long long)s->consumed,
		                     s->max_message);
	int rc = ensure(s, prefix + (size_t)mlen);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return bds_util_fail("read '%s': truncated message at byte %llu (%llu bytes announced, %zu present)",
		                     s->what, (unsigned long long)s->consumed, (unsigned long long)mlen,
		                     s->fill - s->pos - prefix);
	*msg = s->cur->data + s->pos + prefix;
	*len = (size_t)mlen;
	*offset = s->consumed + prefix;
	s->pos += prefix + (size_t)mlen;
	s->consumed += prefix + (uint64_t)mlen;
	return 1;
}

void bds_proto_stream_free(struct bds_proto_stream *s)
{
	if (!s)
		return;
	struct block *b = s->cur;
	while (b) {
		struct block *prev = b->prev;
		free(b);
		b = prev;
	}
	free(s);
}

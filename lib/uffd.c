/* uffd: Firecracker's page-fault handshake and the serving of its guest's faults (uffd.h,
 * docs/store.md 4.3). */
#define _GNU_SOURCE /* MSG_CMSG_CLOEXEC */
#include "uffd.h"

#include "json.h"
#include "pagesrc.h"
#include "util.h"

#include <errno.h>
#include <jv.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define HANDSHAKE_MAX (64 << 10)
#define BLOCK ((uint64_t)256 << 10) /* a fault brings in the untouched pages of its 256 KiB */

struct region {
	uint64_t base, size, offset, page;
	unsigned char *populated, *removed; /* one byte per page */
};

struct bds_uffd {
	int uffd;
	struct region *r;
	size_t nr;
	int memfd; /* the snapshot's bytes: --mem, or the page source's file */
	uint64_t memsize;
	struct bds_pagesrc *src;
	char *buf;
	uint64_t faults, copied, zeroed;
	uint64_t *ws; /* file offsets of the faults, in order */
	size_t nws, capws;
};

/* Waits for fd to be readable until `deadline`: 1, 0 (timed out), -1 (recorded). */
int bds_uffd_wait_readable(int fd, double deadline)
{
	for (;;) {
		double left = deadline - bds_util_now();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return bds_util_fail("poll: %s", strerror(errno));
		if (r > 0)
			return 1;
	}
}

/* Checks one region of the handshake and fills r. 0, or -1 (recorded). */
static int read_region(jv m, int i, uint64_t memsize, struct region *r)
{
	const char *keys[] = {"base_host_virt_addr", "size", "offset", "page_size"};
	double v[4];
	for (int k = 0; k < 4; k++) {
		jv x = jv_object_get(jv_copy(m), jv_string(keys[k]));
		/* Firecracker before 1.10 sent page_size_kib, in bytes despite its name */
		if (k == 3 && !jv_is_valid(x)) {
			jv_free(x);
			x = jv_object_get(jv_copy(m), jv_string("page_size_kib"));
		}
		/* below 2^63: a larger double is no address, and its cast undefined */
		int ok = jv_get_kind(x) == JV_KIND_NUMBER && jv_number_value(x) >= 0 &&
		         jv_number_value(x) < 9223372036854775808.0 &&
		         jv_number_value(x) == (double)(uint64_t)jv_number_value(x);
		v[k] = ok ? jv_number_value(x) : -1;
		jv_free(x);
		if (!ok)
			return bds_util_fail("region %d: %s is not a whole number", i, keys[k]);
	}
	r->base = (uint64_t)v[0];
	r->size = (uint64_t)v[1];
	r->offset = (uint64_t)v[2];
	r->page = (uint64_t)v[3];
	if (r->page < 4096 || (r->page & (r->page - 1)) || r->base % r->page || r->size % r->page ||
	    r->offset % r->page || r->size == 0)
		return bds_util_fail("region %d: page_size %llu does not divide its address, size and offset", i,
		                     (unsigned long long)r->page);
	if (r->offset > memsize || r->size > memsize - r->offset)
		return bds_util_fail("region %d: bytes %llu to %llu of a memory file of %llu", i,
		                     (unsigned long long)r->offset, (unsigned long long)(r->offset + r->size),
		                     (unsigned long long)memsize);
	r->populated = bds_util_xcalloc(r->size / r->page, 1);
	r->removed = bds_util_xcalloc(r->size / r->page, 1);
	return 0;
}

/* Firecracker's one message: the userfaultfd and the regions. 0, or -1 (recorded). */
static int handshake(struct bds_uffd *h, int conn, double deadline)
{
	char *body = bds_util_xmalloc(HANDSHAKE_MAX + 1);
	size_t len = 0;
	int rc = -1, empty = 0;
	jv m = jv_invalid();
	h->uffd = -1;
	while (!jv_is_valid(m)) {
		int w = bds_uffd_wait_readable(conn, deadline);
		if (w <= 0) {
			if (w == 0)
				bds_util_fail("Firecracker connected but sent no complete handshake in time");
			goto out;
		}
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {.iov_base = body + len, .iov_len = HANDSHAKE_MAX - len};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
		ssize_t r = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			bds_util_fail("handshake: %s", strerror(errno));
			goto out;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			/* the first descriptor is the one; any other is closed */
			for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
				if (h->uffd < 0)
					h->uffd = fd;
				else
					close(fd);
			}
		}
		/* a zero-length read is a closed connection, or an empty datagram: Firecracker's
		 * own handlers retry a few times */
		if (r == 0 && ++empty > 5) {
			bds_util_fail("handshake: Firecracker closed the connection before sending its regions");
			goto out;
		}
		len += (size_t)r;
		body[len] = '\0';
		jv_free(m);
		m = len ? jv_parse_sized(body, (int)len) : jv_invalid();
		if (!jv_is_valid(m) && len == HANDSHAKE_MAX) {
			bds_util_fail("handshake: more than %d bytes without a complete JSON array", HANDSHAKE_MAX);
			goto out;
		}
	}
	char link[64] = "";
	char *self = bds_util_xasprintf("/proc/self/fd/%d", h->uffd);
	ssize_t ln = h->uffd >= 0 ? readlink(self, link, sizeof link - 1) : -1;
	free(self);
	if (ln > 0)
		link[ln] = '\0';
	if (h->uffd < 0 || strcmp(link, "anon_inode:[userfaultfd]") != 0) {
		bds_util_fail("handshake: no userfaultfd came with the regions");
		goto out;
	}
	if (jv_get_kind(m) != JV_KIND_ARRAY || jv_array_length(jv_copy(m)) == 0) {
		bds_util_fail("handshake: the regions are not a non-empty JSON array");
		goto out;
	}
	h->nr = (size_t)jv_array_length(jv_copy(m));
	h->r = bds_util_xcalloc(h->nr, sizeof *h->r);
	for (size_t i = 0; i < h->nr; i++) {
		jv one = jv_array_get(jv_copy(m), (int)i);
		int ok = jv_get_kind(one) == JV_KIND_OBJECT ? read_region(one, (int)i, h->memsize, &h->r[i])
		                                            : bds_util_fail("region %zu is not an object", i);
		jv_free(one);
		if (ok < 0) {
			char *why = bds_util_xstrdup(bds_util_error());
			bds_util_fail("handshake: %s", why);
			free(why);
			goto out;
		}
	}
	rc = 0;
out:
	jv_free(m);
	free(body);
	return rc;
}

/* The region holding address a, or NULL. */
static struct region *region_of(struct bds_uffd *h, uint64_t a)
{
	for (size_t i = 0; i < h->nr; i++)
		if (a >= h->r[i].base && a - h->r[i].base < h->r[i].size)
			return &h->r[i];
	return NULL;
}

/* A page removed (the balloon's MADV_DONTNEED) is zeros from then on, as Firecracker's
 * documentation asks; its next fault maps a zero page. */
static void removed(struct bds_uffd *h, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < h->nr; i++) {
		struct region *r = &h->r[i];
		uint64_t a = start > r->base ? start : r->base, b = end < r->base + r->size ? end : r->base + r->size;
		for (uint64_t p = a - (a - r->base) % r->page; p < b; p += r->page) {
			r->populated[(p - r->base) / r->page] = 0;
			r->removed[(p - r->base) / r->page] = 1;
		}
	}
}

/* What serve_fault and copy_in come to. */
enum { SERVED, GONE = 1, COLD = 2, AGAIN = 3, FAILED = -1 };

/* UFFDIO_COPY of n bytes from src to a, *copied: how many made it. SERVED; GONE (the
 * address space is gone: Firecracker has exited); AGAIN: the kernel wants the events it
 * has queued (a balloon's removal) read first, then the fault served again; FAILED
 * (recorded; errno EEXIST: a page of the range is there already). */
static int copy_in(struct bds_uffd *h, uint64_t a, const char *src, uint64_t n, uint64_t *copied)
{
	*copied = 0;
	for (;;) {
		struct uffdio_copy c = {.dst = a + *copied, .src = (uint64_t)(uintptr_t)(src + *copied), .len = n - *copied};
		if (ioctl(h->uffd, UFFDIO_COPY, &c) == 0) {
			*copied = n;
			return SERVED;
		}
		int e = errno;
		if (c.copy > 0)
			*copied += (uint64_t)c.copy;
		if (e == EINTR || (e == EAGAIN && c.copy > 0))
			continue;
		if (e == EAGAIN)
			return AGAIN;
		if (e == ESRCH || e == ENOENT)
			return GONE;
		bds_util_fail("UFFDIO_COPY at 0x%llx: %s", (unsigned long long)(a + *copied), strerror(e));
		errno = e;
		return FAILED;
	}
}

/* Answers a fault at `addr`: the untouched pages of its 256 KiB block around it, from the
 * snapshot's bytes (a removed page: zeros). SERVED, GONE, AGAIN (copy_in), FAILED
 * (recorded), or COLD: the snapshot's bytes could not be had (recorded). */
static int serve_fault(struct bds_uffd *h, uint64_t addr)
{
	struct region *r = region_of(h, addr);
	if (!r) {
		bds_util_fail("a fault at 0x%llx, outside every region", (unsigned long long)addr);
		return FAILED;
	}
	uint64_t ps = r->page, page = addr - (addr - r->base) % ps, idx = (page - r->base) / ps;
	if (r->removed[idx]) {
		struct uffdio_zeropage z = {.range = {.start = page, .len = ps}};
		if (ioctl(h->uffd, UFFDIO_ZEROPAGE, &z) < 0 && errno != EEXIST) {
			if (errno == EAGAIN || errno == EINTR)
				return AGAIN;
			if (errno == ESRCH || errno == ENOENT)
				return GONE;
			bds_util_fail("UFFDIO_ZEROPAGE at 0x%llx: %s", (unsigned long long)page, strerror(errno));
			return FAILED;
		}
		r->removed[idx] = 0;
		r->populated[idx] = 1;
		h->faults++;
		h->zeroed++;
		return SERVED;
	}
	if (r->populated[idx]) {
		/* a second thread's fault on a page the first one's brought in: it is awake
		 * already, or is woken now */
		struct uffdio_range w = {.start = page, .len = ps};
		ioctl(h->uffd, UFFDIO_WAKE, &w);
		return SERVED;
	}
	/* the run of untouched pages around it, within its block */
	uint64_t block = BLOCK > ps ? BLOCK : ps, per = block / ps, npages = r->size / ps;
	uint64_t lo = idx, hi = idx + 1, first = idx - idx % per, last = first + per < npages ? first + per : npages;
	while (lo > first && !r->populated[lo - 1] && !r->removed[lo - 1])
		lo--;
	while (hi < last && !r->populated[hi] && !r->removed[hi])
		hi++;
	uint64_t off = r->offset + lo * ps, n = (hi - lo) * ps, copied = 0;
	if (h->src && bds_pagesrc_need(h->src, NULL, off, n) < 0)
		return COLD;
	ssize_t got = pread(h->memfd, h->buf, (size_t)n, (off_t)off);
	if (got != (ssize_t)n) {
		bds_util_fail("read the snapshot's memory at %llu: %s", (unsigned long long)off,
		              got < 0 ? strerror(errno) : "short read");
		return FAILED;
	}
	int c = copy_in(h, r->base + lo * ps, h->buf, n, &copied);
	/* the pages before the one already there are in */
	memset(r->populated + lo, 1, (size_t)(copied / ps));
	h->copied += copied;
	if (c == FAILED && errno == EEXIST) {
		/* a page of the run is there after all: the faulting one alone, unless it is in */
		if (r->populated[idx])
			c = SERVED;
		else if ((c = copy_in(h, page, h->buf + (idx - lo) * ps, ps, &copied)) == SERVED ||
		         (c == FAILED && errno == EEXIST)) {
			r->populated[idx] = 1;
			h->copied += copied;
			c = SERVED;
		}
	}
	if (c == SERVED) {
		h->faults++;
		if (h->nws == h->capws)
			h->ws = bds_util_xrealloc(h->ws, (h->capws = h->capws ? h->capws * 2 : 1024) * sizeof *h->ws);
		h->ws[h->nws++] = r->offset + idx * ps;
	}
	return c;
}

/* Serves faults until Firecracker is gone (its process ended: `peer`, a pidfd, readable):
 * 0; COLD when its memory could not be had; FAILED (recorded) on any other failure. The
 * socket is not watched: a Firecracker before 1.11 closes it right after the handshake.
 * A fault the kernel sends back (AGAIN: a removal is queued) is served again once the
 * events queued before it are read. */
static int serve(struct bds_uffd *h, int peer)
{
	struct uffd_msg msgs[64];
	uint64_t *again = NULL;
	size_t nagain = 0, capagain = 0;
	int rc = 0;
	for (;;) {
		if (h->src && bds_pagesrc_failed(h->src)) {
			bds_util_fail("%s", bds_pagesrc_failed(h->src));
			rc = COLD;
			break;
		}
		struct pollfd p[2] = {{.fd = h->uffd, .events = POLLIN}, {.fd = peer, .events = POLLIN}};
		int r = poll(p, peer >= 0 ? 2 : 1, nagain ? 10 : 1000);
		if (r < 0 && errno != EINTR) {
			rc = bds_util_fail("poll: %s", strerror(errno));
			break;
		}
		if (r > 0 && peer >= 0 && p[1].revents)
			break; /* Firecracker has exited */
		ssize_t n = r > 0 && (p[0].revents & POLLIN) ? read(h->uffd, msgs, sizeof msgs) : 0;
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			rc = bds_util_fail("read the userfaultfd: %s", strerror(errno));
			break;
		}
		if (r > 0 && !(p[0].revents & POLLIN) && (p[0].revents & (POLLHUP | POLLERR)))
			break;
		/* events first (removals), then the faults sent back, then the new faults */
		for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof *msgs; i++)
			if (msgs[i].event == UFFD_EVENT_REMOVE)
				removed(h, msgs[i].arg.remove.start, msgs[i].arg.remove.end);
		size_t pending = nagain;
		nagain = 0;
		for (size_t i = 0; i < pending + (n > 0 ? (size_t)n / sizeof *msgs : 0) && rc == 0; i++) {
			uint64_t addr;
			if (i < pending)
				addr = again[i];
			else if (msgs[i - pending].event == UFFD_EVENT_PAGEFAULT)
				addr = msgs[i - pending].arg.pagefault.address;
			else
				continue;
			int st = serve_fault(h, addr);
			if (st == AGAIN) {
				if (nagain == capagain)
					again = bds_util_xrealloc(again, (capagain = capagain ? capagain * 2 : 64) * sizeof *again);
				again[nagain++] = addr;
			} else if (st == GONE) {
				rc = 1;
			} else if (st != SERVED) {
				rc = st;
			}
		}
		if (rc != 0)
			break;
	}
	free(again);
	return rc == 1 ? 0 : rc;
}

int bds_uffd_write_working_set(const struct bds_uffd *h, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return bds_util_fail("write '%s': %s", path, strerror(errno));
	for (size_t i = 0; i < h->nws; i++)
		fprintf(f, "%llu\n", (unsigned long long)h->ws[i]);
	if (fclose(f) != 0)
		return bds_util_fail("write '%s': %s", path, strerror(errno));
	return 0;
}

struct bds_uffd *bds_uffd_handshake(int conn, uint64_t memsize, double deadline)
{
	struct bds_uffd *h = bds_util_xcalloc(1, sizeof *h);
	h->uffd = -1;
	h->memfd = -1;
	h->memsize = memsize;
	if (handshake(h, conn, deadline) < 0) {
		bds_uffd_free(h);
		return NULL;
	}
	uint64_t biggest = BLOCK;
	for (size_t i = 0; i < h->nr; i++)
		if (h->r[i].page > biggest)
			biggest = h->r[i].page;
	h->buf = bds_util_xmalloc((size_t)biggest);
	return h;
}

int bds_uffd_serve(struct bds_uffd *u, int memfd, struct bds_pagesrc *src, int peer)
{
	u->memfd = memfd;
	u->src = src;
	int st = serve(u, peer);
	return st == COLD ? BDS_UFFD_COLD : st;
}

void bds_uffd_counts(const struct bds_uffd *u, uint64_t *faults, uint64_t *copied, uint64_t *zeroed)
{
	*faults = u->faults;
	*copied = u->copied;
	*zeroed = u->zeroed;
}

void bds_uffd_free(struct bds_uffd *u)
{
	if (!u)
		return;
	if (u->uffd >= 0)
		close(u->uffd);
	for (size_t i = 0; i < u->nr; i++) {
		free(u->r[i].populated);
		free(u->r[i].removed);
	}
	free(u->r);
	free(u->buf);
	free(u->ws);
	free(u);
}

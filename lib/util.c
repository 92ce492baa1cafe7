/* util: exit codes, diagnostics, recorded errors, checked output and bounded reads. */
#define _DEFAULT_SOURCE /* realpath, madvise's MADV_HUGEPAGE */
#include "util.h"


#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *progname = "bds";
static _Thread_local char last_error[4096];

void bds_util_set_progname(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
	if (argv0)
		progname = slash ? slash + 1 : argv0;
}

const char *bds_util_progname(void)
{
	return progname;
}

void bds_util_warn(const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* One write per line so concurrent stages do not interleave mid-line. */
	fprintf(stderr, "%s: %s\n", progname, line);
}

static int vfail(const char *fmt, va_list ap)
{
	/* Format aside first: callers may pass bds_util_error() itself as an argument. */
	char msg[sizeof last_error];
	vsnprintf(msg, sizeof msg, fmt, ap);
	memcpy(last_error, msg, sizeof msg);
	return -1;
}

int bds_util_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(fmt, ap);
	va_end(ap);
	return -1;
}

const char *bds_util_error(void)
{
	return last_error;
}

int bds_util_close_stdout(void)
{
	int failed = fflush(stdout) != 0 || ferror(stdout);
	if (fclose(stdout) != 0)
		failed = 1;
	if (failed)
		return bds_util_fail("write 'stdout': %s", strerror(errno ? errno : EIO));
	return 0;
}

void *bds_util_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

void bds_util_advise_huge_pages(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	/* below two huge pages, nothing to win */
	if (n < ((size_t)4 << 20))
		return;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1), end = ((uintptr_t)p + n) & ~(page - 1);
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

void *bds_util_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		abort();
	return p;
}

void *bds_util_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort();
	return q;
}

char *bds_util_xstrdup(const char *s)
{
	return bds_util_xstrndup(s, strlen(s));
}

char *bds_util_xstrndup(const char *s, size_t n)
{
	char *p = bds_util_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *bds_util_xasprintf(const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	char *p = bds_util_xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

void *bds_util_try_realloc(void *p, size_t n, const char *what)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		bds_util_fail("out of memory: cannot allocate %zu bytes for %s", n, what);
	return q;
}

int bds_util_read_fd(int fd, size_t limit, const char *what, char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = bds_util_xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= limit) {
				free(buf);
				return bds_util_fail("read '%s': larger than the limit of %zu bytes", what, limit);
			}
			cap = cap * 2 > limit ? limit : cap * 2;
			/* the size is the input's: running out of memory is its failure, not a crash */
			char *grown = realloc(buf, cap + 1);
			if (!grown) {
				free(buf);
				return bds_util_fail("read '%s': out of memory: cannot allocate %zu bytes", what, cap + 1);
			}
			buf = grown;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			return bds_util_fail("read '%s': %s", what, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int bds_util_read_chunks(int fd, const char *what, size_t chunk,
                         int (*fn)(void *arg, const char *buf, size_t n), void *arg)
{
	char *buf = bds_util_xmalloc(chunk);
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, buf, chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = bds_util_fail("read '%s': %s", what, strerror(errno));
			break;
		}
		if (r == 0 || (rc = fn(arg, buf, (size_t)r)) < 0)
			break;
	}
	free(buf);
	return rc;
}

char **bds_util_split_list(const char *s, size_t *count)
{
	size_t n = 1;
	for (const char *p = s; *p; p++)
		n += *p == ',';
	char **list = bds_util_xcalloc(n + 1, sizeof *list);
	size_t k = 0;
	const char *start = s;
	for (const char *p = s;; p++) {
		if (*p == ',' || *p == '\0') {
			list[k++] = bds_util_xstrndup(start, (size_t)(p - start));
			if (*p == '\0')
				break;
			start = p + 1;
		}
	}
	/* Java's split drops trailing empty strings. */
	while (k > 0 && list[k - 1][0] == '\0') {
		free(list[--k]);
		list[k] = NULL;
	}
	if (count)
		*count = k;
	return list;
}

void bds_util_free_list(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

int bds_util_progress_enabled(int forced)
{
	return forced || isatty(STDERR_FILENO);
}

double bds_util_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decodes the UTF-8 code point starting at s[i] (lenient: a bad byte is itself). */
static unsigned decode_utf8(const unsigned char *s, size_t n, size_t i)
{
	unsigned c = s[i];
	int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
	if (extra == 0 || i + (size_t)extra >= n)
		return c;
	unsigned cp = c & (0x3fu >> extra);
	for (int k = 1; k <= extra; k++)
		cp = (cp << 6) | (s[i + (size_t)k] & 0x3fu);
	return cp;
}

/* The first UTF-16 code unit of a code point. */
static unsigned utf16_first_unit(unsigned cp)
{
	return cp >= 0x10000 ? 0xd800 + ((cp - 0x10000) >> 10) : cp;
}

int bds_util_java_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	size_t i = 0;
	while (i < n && a[i] == b[i])
		i++;
	if (i == n)
		return an < bn ? -1 : an > bn ? 1 : 0;
	unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[i];
	if (ca < 0x80 && cb < 0x80)
		return ca < cb ? -1 : 1;
	/* Back up to the start of the differing code point, then compare UTF-16 units. */
	while (i > 0 && ((unsigned char)a[i] & 0xc0) == 0x80)
		i--;
	unsigned ua = utf16_first_unit(decode_utf8((const unsigned char *)a, an, i));
	unsigned ub = utf16_first_unit(decode_utf8((const unsigned char *)b, bn, i));
	if (ua != ub)
		return ua < ub ? -1 : 1;
	/* Same lead surrogate: the code points differ later in the pair; code point order works. */
	unsigned pa = decode_utf8((const unsigned char *)a, an, i), pb = decode_utf8((const unsigned char *)b, bn, i);
	return pa < pb ? -1 : pa > pb ? 1 : 0;
}

#define ATOMIC_SUFFIX ".tmp.XXXXXX"
/* Symbolic links followed to their end, as open(2) allows. */
#define LINK_HOPS 40
/* A symbolic link's text longer than this is refused (Linux stores at most PATH_MAX). */
#define LINK_TEXT_MAX ((size_t)1 << 16)

/* The text of the symbolic link `path`, malloc'd; NULL with errno set. */
static char *read_link(const char *path)
{
	for (size_t cap = 256;; cap *= 2) {
		char *buf = bds_util_xmalloc(cap);
		ssize_t n = readlink(path, buf, cap);
		if (n >= 0 && (size_t)n < cap) {
			buf[n] = '\0';
			return buf;
		}
		int e = n < 0 ? errno : ENAMETOOLONG;
		free(buf);
		if (n < 0 || cap >= LINK_TEXT_MAX) {
			errno = e;
			return NULL;
		}
	}
}

/* The name a write through a dangling chain of symbolic links creates, as open(2) with
 * O_CREAT does: the chain followed link by link to its missing end. NULL (error
 * recorded, naming `path`) on a loop or an unreadable link. */
static char *dangling_end(const char *path)
{
	char *cur = bds_util_xstrdup(path);
	for (int hops = 0;; hops++) {
		struct stat st;
		if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
			return cur;
		char *text = hops < LINK_HOPS ? read_link(cur) : NULL;
		if (!text) {
			bds_util_fail("open '%s': %s", path, strerror(hops < LINK_HOPS ? errno : ELOOP));
			free(cur);
			return NULL;
		}
		const char *slash = strrchr(cur, '/');
		char *next = text[0] == '/' || !slash ? bds_util_xstrdup(text)
		                                      : bds_util_xasprintf("%.*s/%s", (int)(slash - cur), cur, text);
		free(text);
		free(cur);
		cur = next;
	}
}

/* Opens an existing file that is not regular where it is, as `>` does: open(2) follows
 * its links, /proc's magic ones (/dev/stdout on a pipe) included. A FIFO is never waited
 * on for ever: with no reader, nothing would ever read what we write. Its reader may have
 * been started together with us (`cat fifo & bds-diff -o fifo`) and not have opened it
 * yet, so it gets FIFO_READER_WAIT seconds to do so. */
#define FIFO_READER_WAIT 1.0
static FILE *open_in_place(const char *path, mode_t mode)
{
	if (S_ISDIR(mode)) {
		bds_util_fail("open '%s': %s", path, strerror(EISDIR));
		return NULL;
	}
	if (S_ISSOCK(mode)) {
		bds_util_fail("open '%s': a socket, not a file, device or FIFO", path);
		return NULL;
	}
	int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	for (double end = bds_util_now() + FIFO_READER_WAIT; fd < 0 && errno == ENXIO && S_ISFIFO(mode) &&
	                                                     bds_util_now() < end;) {
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
		fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	}
	if (fd < 0 && errno == ENXIO && S_ISFIFO(mode)) {
		bds_util_fail("open '%s': a FIFO with no reader", path);
		return NULL;
	}
	int flags = fd < 0 ? -1 : fcntl(fd, F_GETFL);
	FILE *f = flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		bds_util_fail("open '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return f;
}

FILE *bds_util_atomic_open(const char *path, char **tmp_path)
{
	*tmp_path = NULL;
	struct stat st;
	int found = stat(path, &st) == 0;
	if (!found && errno != ENOENT) {
		bds_util_fail("open '%s': %s", path, strerror(errno));
		return NULL;
	}
	/* A device, FIFO or other special file is written in place: a rename would replace
	 * the node itself (as root, /dev/null) with a regular file. */
	if (found && !S_ISREG(st.st_mode))
		return open_in_place(path, st.st_mode);
	/* A regular file is replaced where it really is (through links, /proc's included);
	 * a missing one is created at the end of its dangling links. */
	char *target = found ? realpath(path, NULL) : dangling_end(path);
	if (!target) {
		if (found)
			bds_util_fail("open '%s': %s", path, strerror(errno));
		return NULL;
	}
	char *tmp = bds_util_xasprintf("%s" ATOMIC_SUFFIX, target);
	free(target);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		/* the user's name for it: the temporary is ours */
		bds_util_fail("create '%s': %s", path, strerror(errno));
		free(tmp);
		return NULL;
	}
	/* mkstemp creates 0600; outputs are ordinary files */
	mode_t mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		bds_util_fail("open '%s': %s", path, strerror(errno));
		close(fd);
		unlink(tmp);
		free(tmp);
		return NULL;
	}
	*tmp_path = tmp;
	return f;
}

int bds_util_atomic_commit(FILE *f, char *tmp_path, const char *path)
{
	int rc = 0;
	/* a device or FIFO (no temporary) is not fsync'ed: most refuse it (EINVAL) */
	if (fflush(f) != 0 || ferror(f) || (tmp_path && fsync(fileno(f)) != 0))
		rc = bds_util_fail("write '%s': %s", path, strerror(errno ? errno : EIO));
	if (fclose(f) != 0 && rc == 0)
		rc = bds_util_fail("write '%s': %s", path, strerror(errno));
	if (!tmp_path)
		return rc;
	/* the temporary sits beside the file it replaces: at the end of path's symlinks */
	char *target = bds_util_xstrndup(tmp_path, strlen(tmp_path) - strlen(ATOMIC_SUFFIX));
	if (rc == 0 && rename(tmp_path, target) != 0)
		rc = bds_util_fail("rename '%s' to '%s': %s", tmp_path, target, strerror(errno));
	if (rc != 0)
		unlink(tmp_path);
	free(target);
	free(tmp_path);
	return rc;
}

void bds_util_atomic_discard(FILE *f, char *tmp_path)
{
	if (f)
		fclose(f);
	if (tmp_path) {
		unlink(tmp_path);
		free(tmp_path);
	}
}

void bds_util_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int bds_util_pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int bds_util_parse_decimal(const char *s, double max, double *out)
{
	int digits = 0, dots = 0;
	for (const char *p = s; *p; p++) {
		if (*p == '.')
			dots++;
		else if (*p >= '0' && *p <= '9')
			digits++;
		else
			return -1;
	}
	if (!digits || dots > 1)
		return -1;
	double v = strtod(s, NULL);
	if (!(v <= max))
		return -1;
	*out = v;
	return 0;
}

int bds_util_parse_whole(const char *s, long long max, long long *out)
{
	long long v = 0;
	if (!*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		int d = *p - '0';
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int is_hex(const char *s, size_t n, int any_case)
{
	if (!s || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = any_case && s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] - 'A' + 'a') : s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return 1;
}

int bds_util_is_hex(const char *s, size_t n)
{
	return is_hex(s, n, 0);
}

int bds_util_is_hex_any_case(const char *s, size_t n)
{
	return is_hex(s, n, 1);
}

int bds_util_parse_pid(const char *s, long *out)
{
	long long v = 0;
	if (bds_util_parse_whole(s, BDS_PID_MAX, &v) < 0 || v < 2)
		return -1;
	*out = (long)v;
	return 0;
}

size_t bds_util_utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) || (c == 0xf0 && s[1] < 0x90) ||
	    (c == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

int bds_util_is_utf8(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = bds_util_utf8_sequence((const unsigned char *)s + i, n - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

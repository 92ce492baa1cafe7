/* util: exit codes, diagnostics, recorded errors, checked output and bounded reads. */
#ifndef BDS_UTIL_H
#define BDS_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Exit statuses of every binary and script (docs/envelope.md 2). Only cmd/ returns them. */
enum {
	BDS_EXIT_OK = 0,
	BDS_EXIT_FAIL = 1,
	BDS_EXIT_COLD = 2,
	BDS_EXIT_USAGE = 64,
};

/* Size limits shared by readers: every buffer has one. */
#define BDS_ENVELOPE_MAX ((size_t)16 << 20)
#define BDS_JSON_FILE_MAX ((size_t)1 << 30)

void bds_util_set_progname(const char *argv0);
const char *bds_util_progname(void);

/* "prog: message" on stderr. */
void bds_util_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Records an error message for the calling thread and returns -1, so library code can
 * write `return bds_util_fail("read '%s': %s", path, strerror(errno));`. */
int bds_util_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last recorded error of this thread ("" if none). */
const char *bds_util_error(void);

/* Flushes and closes stdout; -1 (error recorded) when any write failed. */
int bds_util_close_stdout(void);

/* Allocation that aborts on exhaustion: there is nothing useful to do without memory,
 * and a crash (not exit 2) is the honest outcome. */
void *bds_util_xmalloc(size_t n);
void *bds_util_xcalloc(size_t n, size_t size);
void *bds_util_xrealloc(void *p, size_t n);
/* Asks the kernel to back the whole pages of [p, p + n) with huge pages, when n is large
 * (a 24 MB hashes file read at 4 KiB a fault costs more than parsing it on a VM). Only
 * advice: memory is the same either way. */
void bds_util_advise_huge_pages(void *p, size_t n);
char *bds_util_xstrdup(const char *s);
char *bds_util_xstrndup(const char *s, size_t n);
char *bds_util_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reallocation whose size comes from input (a declared length, a file's size, a buffer
 * growing with what is read): NULL with the error recorded ("out of memory: cannot
 * allocate N bytes for WHAT") instead of an abort, so the input gets the blame (exit 1). */
void *bds_util_try_realloc(void *p, size_t n, const char *what);

/* Reads all of fd into a NUL-terminated buffer of at most `limit` bytes. `what` names the
 * source in error messages. Returns 0, or -1 with the error recorded (a buffer that cannot
 * be allocated included). A path: bds_fs_read_file. */
int bds_util_read_fd(int fd, size_t limit, const char *what, char **out, size_t *len);

/* Reads fd to its end in chunks of `chunk` bytes, handing each to fn. Returns 0, or -1
 * with the error recorded (a read error naming `what`, or fn's own -1). */
int bds_util_read_chunks(int fd, const char *what, size_t chunk,
                         int (*fn)(void *arg, const char *buf, size_t n), void *arg);

/* Splits a comma-separated list as bazel-diff does (String.split(","): trailing empty
 * items dropped). Returns a NULL-terminated array (free with bds_util_free_list). */
char **bds_util_split_list(const char *s, size_t *count);
void bds_util_free_list(char **list);

/* Output files, written where `cp` or `>` would write them but never seen half-written.
 * An existing regular file is replaced where it really is (its realpath: through symbolic
 * links and /proc's magic ones), a missing one created at the end of its chain of
 * dangling links, each through a temporary file beside it that commit renames into place.
 * An existing file of another kind (a device such as /dev/null, a FIFO, the pipe behind
 * /dev/stdout) is opened by its path and written in place, never renamed over; a FIFO
 * with no reader is refused at once, never waited on, as are a directory, a socket and a
 * loop of links. open returns NULL (error recorded, naming `path`, never the temporary)
 * and sets *tmp_path to the temporary, or to NULL when writing in place (a caller must
 * not chmod such a file); commit flushes, fsyncs and renames a temporary, and closes (-1
 * on any failure, temporary removed); discard closes and removes the temporary. */
FILE *bds_util_atomic_open(const char *path, char **tmp_path);
int bds_util_atomic_commit(FILE *f, char *tmp_path, const char *path);
void bds_util_atomic_discard(FILE *f, char *tmp_path);

/* True when progress lines should be shown: stderr is a terminal or `forced`. */
int bds_util_progress_enabled(int forced);

/* The length of the UTF-8 sequence at s[0..n) (n > 0), 0 when it is not one (overlong
 * forms, surrogates and values above U+10FFFF included). */
size_t bds_util_utf8_sequence(const unsigned char *s, size_t n);
/* Is s[0..n) UTF-8 throughout? */
int bds_util_is_utf8(const char *s, size_t n);

/* Compares two UTF-8 strings in Java String order (UTF-16 code units), which bazel-diff
 * uses for every sort. Equals byte order except for supplementary characters. */
int bds_util_java_cmp(const char *a, size_t an, const char *b, size_t bn);

/* A plain decimal number from 0 to max: digits with at most one '.' among them, nothing
 * else (no sign, space, exponent, hex, nan or inf), as command-line seconds and ids are
 * given. 0 with *out set, or -1. */
int bds_util_parse_decimal(const char *s, double max, double *out);

/* A whole number from 0 to max: decimal digits only (no sign, space, point, exponent or
 * other base), never wrapped. 0 with *out set, or -1. */
int bds_util_parse_whole(const char *s, long long max, long long *out);

/* Is s exactly n hex digits? Lowercase only: the names bds writes and reads back
 * (fingerprints are 32, commit shas 40). NULL is not. */
int bds_util_is_hex(const char *s, size_t n);
/* The same, upper case allowed too: a digest a user copies in from elsewhere (a pinned
 * host key). */
int bds_util_is_hex_any_case(const char *s, size_t n);

/* Linux's largest pid (PID_MAX_LIMIT). */
#define BDS_PID_MAX 4194304L

/* The pid of a process whose life something follows (an owner): a whole number from 2 to
 * BDS_PID_MAX. Never 1: init does not end, and what it owned would be held for ever.
 * 0 with *out set, or -1. */
int bds_util_parse_pid(const char *s, long *out);

/* Monotonic seconds, for phase timings. */
double bds_util_now(void);

/* Sleeps ms milliseconds (a signal may end it early: callers poll against a deadline). */
void bds_util_sleep_ms(long ms);

/* Is process pid alive (or, with EPERM, someone else's)? */
int bds_util_pid_alive(long pid);

#endif

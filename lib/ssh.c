/* ssh: one libssh2 session to a guest: readiness polling, pinned host key, ed25519 auth,
 * commands with both output streams and a deadline, atomic SFTP transfers. */
#define _DEFAULT_SOURCE /* SOCK_NONBLOCK, SOCK_CLOEXEC, strcasecmp */
#include "ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "fs.h"
#include "util.h"

#define IO_CHUNK ((size_t)1 << 20)
/* The first stderr line of every command carries the remote shell's pid (which sshd made
 * a session and process group leader), so a deadline can kill the whole group. */
#define PID_MARKER "bds-guest-exec-pid:"
#define PID_LINE_MAX 4096
/* An exec request carries the command line in one SSH packet, which libssh2 limits to
 * about 32 KiB: a longer command goes to the remote shell on stdin instead, ended by a
 * mark so that a cut-off command is never run. */
#define EXEC_INLINE_MAX ((size_t)16 << 10)
#define END_MARK "#bds-guest-exec-end"
#define AUTH_HINT "the key must be an unencrypted ed25519 key: libssh2 1.10 cannot sign RSA with SHA-2, which OpenSSH 9 requires"

struct bds_ssh {
	LIBSSH2_SESSION *session;
	LIBSSH2_SFTP *sftp;
	int fd;
	char *where; /* "host:port" for messages */
};

static const char *last_error(struct bds_ssh *s)
{
	char *msg = NULL;
	libssh2_session_last_error(s->session, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown libssh2 error";
}

/* Non-zero while cleaning up: those waits keep their own short deadlines even after an
 * interrupt, so the remote kill, channel close and disconnect still go out. */
static int cleaning;

static int expired(double deadline)
{
	return (bds_exec_interrupt && !cleaning) || (deadline > 0 && bds_util_now() >= deadline);
}

/* Why a wait gave up, for messages. */
static const char *stopped(void)
{
	return bds_exec_interrupt && !cleaning ? "interrupted" : "timed out";
}

static int poll_ms(double deadline)
{
	if (deadline <= 0)
		return -1;
	double left = deadline - bds_util_now();
	if (left <= 0)
		return 0;
	double ms = left * 1000.0 + 1;
	return ms > 60000 ? 60000 : (int)ms;
}

/* Waits until the socket can move in the direction libssh2 is blocked on. Returns 0, or
 * -1 once the deadline has passed. */
static int wait_socket(struct bds_ssh *s, double deadline)
{
	if (expired(deadline))
		return -1;
	int dir = libssh2_session_block_directions(s->session);
	struct pollfd pfd = {.fd = s->fd};
	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		pfd.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd.events |= POLLOUT;
	if (!pfd.events)
		pfd.events = POLLIN;
	/* sshd leaves Nagle on for sessions without a pty, so its small packets wait for our
	 * ACKs: acknowledge at once instead of after the 40 ms delayed-ACK timer */
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	if (poll(&pfd, 1, poll_ms(deadline)) < 0 && errno != EINTR)
		return -1;
	return expired(deadline) ? -1 : 0;
}

static void sleep_seconds(double sec)
{
	struct timespec ts = {(time_t)sec, (long)((sec - (double)(time_t)sec) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One TCP connection attempt bounded by the deadline. Returns the socket, or -1 with
 * `reason` filled. */
static int tcp_connect(const struct bds_ssh_guest *g, double deadline, char *reason, size_t rlen)
{
	char port[16];
	snprintf(port, sizeof port, "%d", g->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int e = getaddrinfo(g->host, port, &hints, &res);
	if (e != 0) {
		snprintf(reason, rlen, "resolve '%s': %s", g->host, gai_strerror(e));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			snprintf(reason, rlen, "socket: %s", strerror(errno));
			continue;
		}
		int err = 0;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			err = errno;
			if (err == EINPROGRESS) {
				struct pollfd pfd = {.fd = fd, .events = POLLOUT};
				int n;
				while ((n = poll(&pfd, 1, poll_ms(deadline))) < 0 && errno == EINTR)
					;
				socklen_t len = sizeof err;
				if (n == 0)
					err = ETIMEDOUT;
				else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
					err = errno;
			}
		}
		if (err == 0) {
			int one = 1;
			/* commands are small request/response exchanges: no Nagle delays */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			break;
		}
		snprintf(reason, rlen, "connect: %s", strerror(err));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void session_drop(struct bds_ssh *s)
{
	if (s->session) {
		cleaning++;
		double until = bds_util_now() + 1;
		while (libssh2_session_free(s->session) == LIBSSH2_ERROR_EAGAIN && bds_util_now() < until)
			wait_socket(s, until);
		cleaning--;
		s->session = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* One connect + handshake attempt. Returns 0, 1 (not answering yet: retry, reason
 * filled) or -1 (a failure retrying cannot fix, error recorded). */
static int attempt(struct bds_ssh *s, const struct bds_ssh_guest *g, double deadline, char *reason, size_t rlen)
{
	s->fd = tcp_connect(g, deadline, reason, rlen);
	if (s->fd < 0)
		return 1;
	s->session = libssh2_session_init();
	if (!s->session) {
		session_drop(s);
		return bds_util_fail("create an ssh session: out of memory");
	}
	libssh2_session_set_blocking(s->session, 0);
	int rc;
	while ((rc = libssh2_session_handshake(s->session, s->fd)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0) {
			snprintf(reason, rlen, "no SSH banner or key exchange within the deadline");
			session_drop(s);
			return 1;
		}
	if (rc == 0)
		return 0;
	switch (rc) {
	case LIBSSH2_ERROR_BANNER_RECV:
	case LIBSSH2_ERROR_BANNER_SEND:
	case LIBSSH2_ERROR_SOCKET_SEND:
	case LIBSSH2_ERROR_SOCKET_RECV:
	case LIBSSH2_ERROR_SOCKET_DISCONNECT:
	case LIBSSH2_ERROR_SOCKET_TIMEOUT:
	case LIBSSH2_ERROR_TIMEOUT:
		/* sshd not (yet) serving: a restored guest may accept before it answers */
		snprintf(reason, rlen, "ssh handshake: %s", last_error(s));
		session_drop(s);
		return 1;
	default:
		bds_util_fail("ssh handshake with %s: %s", s->where, last_error(s));
		session_drop(s);
		return -1;
	}
}

static int check_host_key(struct bds_ssh *s, const char *expected)
{
	size_t len = 0;
	int type = 0;
	const char *blob = libssh2_session_hostkey(s->session, &len, &type);
	if (!blob || len == 0)
		return bds_util_fail("read the host key of %s: %s", s->where, last_error(s));
	unsigned char sum[BDS_SHA256_LEN];
	char hex[2 * BDS_SHA256_LEN + 1];
	bds_sha256_buf(blob, len, sum);
	bds_digest_hex(sum, sizeof sum, hex);
	if (strcasecmp(hex, expected) != 0)
		return bds_util_fail("host key mismatch for %s: expected sha256 %s, the guest presented %s", s->where,
		                     expected, hex);
	return 0;
}

static int authenticate(struct bds_ssh *s, const struct bds_ssh_guest *g, double deadline)
{
	/* a regular file: a FIFO named by the envelope must not block us */
	int fd = bds_fs_open_regular(g->key, 0);
	if (fd == -1)
		return bds_util_fail("read key '%s': %s (%s)", g->key, strerror(errno), AUTH_HINT);
	if (fd < 0)
		return bds_util_fail("read key: %s", bds_util_error());
	close(fd);
	int rc;
	while ((rc = libssh2_userauth_publickey_fromfile_ex(s->session, g->user, (unsigned)strlen(g->user), NULL,
	                                                    g->key, NULL)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			return bds_util_fail("authenticate to %s: %s", s->where, stopped());
	if (rc != 0)
		return bds_util_fail("authenticate as '%s' to %s with key '%s': %s (%s)", g->user, s->where, g->key,
		                     last_error(s), AUTH_HINT);
	return 0;
}

struct bds_ssh *bds_ssh_connect(const struct bds_ssh_guest *g, double ready_deadline, double deadline,
                                int *unreachable)
{
	static int initialised;
	if (!initialised) {
		if (libssh2_init(0) != 0) {
			bds_util_fail("initialise libssh2");
			return NULL;
		}
		initialised = 1;
	}
	*unreachable = 0;
	struct bds_ssh *s = bds_util_xcalloc(1, sizeof *s);
	s->fd = -1;
	s->where = bds_util_xasprintf("%s:%d", g->host, g->port);
	double start = bds_util_now();
	double backoff = 0.01;
	char reason[512] = "";
	for (;;) {
		int rc = attempt(s, g, ready_deadline, reason, sizeof reason);
		if (rc == 0)
			break;
		if (rc < 0)
			goto fail;
		if (bds_exec_interrupt) {
			bds_util_fail("connect to %s: interrupted", s->where);
			goto fail;
		}
		double now = bds_util_now();
		if (ready_deadline > 0 && now + backoff >= ready_deadline) {
			*unreachable = 1;
			bds_util_fail("guest %s unreachable after %.1fs: %s", s->where, now - start, reason);
			goto fail;
		}
		sleep_seconds(backoff);
		backoff = backoff * 1.5 > 0.1 ? 0.1 : backoff * 1.5;
	}
	if (check_host_key(s, g->host_key_sha256) < 0 || authenticate(s, g, deadline) < 0)
		goto fail;
	return s;
fail:
	bds_ssh_close(s);
	return NULL;
}

void bds_ssh_close(struct bds_ssh *s)
{
	if (!s)
		return;
	cleaning++;
	double until = bds_util_now() + 1;
	if (s->sftp) {
		while (libssh2_sftp_shutdown(s->sftp) == LIBSSH2_ERROR_EAGAIN && wait_socket(s, until) == 0)
			;
		s->sftp = NULL;
	}
	if (s->session)
		while (libssh2_session_disconnect(s->session, "bds-guest-exec done") == LIBSSH2_ERROR_EAGAIN &&
		       wait_socket(s, until) == 0)
			;
	session_drop(s);
	cleaning--;
	free(s->where);
	free(s);
}

char *bds_ssh_quote_argv(char *const argv[])
{
	size_t n = 1;
	for (char *const *a = argv; *a; a++) {
		n += 3;
		for (const char *c = *a; *c; c++)
			n += *c == '\'' ? 4 : 1;
	}
	char *out = bds_util_xmalloc(n), *p = out;
	for (char *const *a = argv; *a; a++) {
		if (a != argv)
			*p++ = ' ';
		*p++ = '\'';
		for (const char *c = *a; *c; c++) {
			if (*c == '\'') {
				memcpy(p, "'\\''", 4);
				p += 4;
			} else {
				*p++ = *c;
			}
		}
		*p++ = '\'';
	}
	*p = '\0';
	return out;
}

static LIBSSH2_CHANNEL *open_channel(struct bds_ssh *s, double deadline)
{
	LIBSSH2_CHANNEL *ch;
	while (!(ch = libssh2_channel_open_session(s->session)) &&
	       libssh2_session_last_errno(s->session) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0) {
			bds_util_fail("open a channel to %s: %s", s->where, stopped());
			return NULL;
		}
	if (!ch)
		bds_util_fail("open a channel to %s: %s", s->where, last_error(s));
	return ch;
}

/* Closes our side and waits for the guest's close, which comes after the exit status.
 * Returns 0, or -1 when the deadline passed first (the command may still run). */
static int channel_finish(struct bds_ssh *s, LIBSSH2_CHANNEL *ch, double deadline)
{
	int rc;
	while ((rc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			return -1;
	while ((rc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			return -1;
	return rc == 0 ? 0 : -1;
}

static void channel_free(struct bds_ssh *s, LIBSSH2_CHANNEL *ch)
{
	cleaning++;
	double until = bds_util_now() + 1;
	while (libssh2_channel_free(ch) == LIBSSH2_ERROR_EAGAIN && wait_socket(s, until) == 0)
		;
	cleaning--;
}

/* The stderr filter that takes the pid line out of the stream. */
struct pid_filter {
	int done;
	long pid;
	size_t len;
	char line[PID_LINE_MAX];
};

static int filter_stderr(struct pid_filter *f, int fd, const char *buf, size_t n)
{
	if (f->done)
		return bds_exec_write_all(fd, buf, n);
	while (n > 0 && !f->done) {
		size_t take = n < PID_LINE_MAX - f->len ? n : PID_LINE_MAX - f->len;
		const char *nl = memchr(buf, '\n', take);
		if (nl)
			take = (size_t)(nl - buf) + 1;
		memcpy(f->line + f->len, buf, take);
		f->len += take;
		buf += take;
		n -= take;
		if (nl) {
			size_t ml = sizeof PID_MARKER - 1;
			if (f->len > ml && memcmp(f->line, PID_MARKER, ml) == 0) {
				f->line[f->len - 1] = '\0';
				f->pid = strtol(f->line + ml, NULL, 10);
				f->done = 1;
			} else if (bds_exec_write_all(fd, f->line, f->len) < 0) {
				return -1;
			}
			f->len = 0;
		} else if (f->len == PID_LINE_MAX) {
			/* no marker line: something else owns this stream; pass it all through */
			f->done = 1;
			if (bds_exec_write_all(fd, f->line, f->len) < 0)
				return -1;
			f->len = 0;
		}
	}
	return n > 0 ? bds_exec_write_all(fd, buf, n) : 0;
}

/* Runs `command` on a fresh channel with output discarded; for the deadline's kill and
 * the rename fallback. Returns the exit status, or -1 with the error recorded. */
static int run_quiet(struct bds_ssh *s, const char *command, double deadline)
{
	LIBSSH2_CHANNEL *ch = open_channel(s, deadline);
	if (!ch)
		return -1;
	int rc;
	while ((rc = libssh2_channel_exec(ch, command)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			break;
	if (rc != 0) {
		bds_util_fail("run a command on %s: %s", s->where, rc == LIBSSH2_ERROR_EAGAIN ? stopped() : last_error(s));
		channel_free(s, ch);
		return -1;
	}
	char buf[4096];
	for (;;) {
		ssize_t a = libssh2_channel_read(ch, buf, sizeof buf);
		ssize_t b = libssh2_channel_read_stderr(ch, buf, sizeof buf);
		if (a > 0 || b > 0)
			continue;
		if ((a < 0 && a != LIBSSH2_ERROR_EAGAIN) || (b < 0 && b != LIBSSH2_ERROR_EAGAIN) ||
		    libssh2_channel_eof(ch))
			break;
		if (wait_socket(s, deadline) < 0)
			break;
	}
	channel_finish(s, ch, deadline);
	rc = libssh2_channel_get_exit_status(ch);
	channel_free(s, ch);
	return rc;
}

static void kill_remote_group(struct bds_ssh *s, long pid)
{
	if (pid <= 1)
		return;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "kill -s KILL -- -%ld 2>/dev/null || kill -s KILL %ld 2>/dev/null", pid, pid);
	cleaning++;
	run_quiet(s, cmd, bds_util_now() + 5);
	cleaning--;
}

static void mark_stopped(struct bds_exec_result *res)
{
	if (bds_exec_interrupt)
		res->interrupted = bds_exec_interrupt;
	else
		res->timed_out = 1;
}

int bds_ssh_exec(struct bds_ssh *s, const char *command, int out_fd, int err_fd, double deadline,
                 struct bds_exec_result *res)
{
	int rc = -1;
	int inline_cmd = strlen(command) <= EXEC_INLINE_MAX;
	char *line = inline_cmd ? bds_util_xasprintf("echo " PID_MARKER "$$ >&2; exec %s", command)
	                        : bds_util_xstrdup("echo " PID_MARKER "$$ >&2; bds_c=$(cat) || exit 127; "
	                                           "case $bds_c in *'\n" END_MARK "') eval \"$bds_c\" ;; "
	                                           "*) echo 'bds-guest-exec: the command arrived incomplete' >&2; "
	                                           "exit 127 ;; esac");
	char *text = inline_cmd ? NULL : bds_util_xasprintf("exec %s\n" END_MARK, command);
	struct pid_filter *pf = bds_util_xcalloc(1, sizeof *pf);
	char *buf = bds_util_xmalloc(IO_CHUNK);
	char *signame = NULL;
	LIBSSH2_CHANNEL *ch = NULL;

	memset(res, 0, sizeof *res);
	double start = bds_util_now();
	ch = open_channel(s, deadline);
	if (!ch)
		goto done;
	int r;
	while ((r = libssh2_channel_exec(ch, line)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			break;
	if (r == LIBSSH2_ERROR_EAGAIN) {
		mark_stopped(res);
		rc = 0;
		goto done;
	}
	if (r != 0) {
		bds_util_fail("run a command on %s: %s", s->where, last_error(s));
		goto done;
	}
	for (size_t off = 0, n = text ? strlen(text) : 0; off < n;) {
		ssize_t w = libssh2_channel_write(ch, text + off, n - off);
		if (w == LIBSSH2_ERROR_EAGAIN) {
			if (wait_socket(s, deadline) < 0)
				goto stop;
			continue;
		}
		if (w < 0) {
			bds_util_fail("send the command to %s: %s", s->where, last_error(s));
			goto done;
		}
		off += (size_t)w;
	}
	/* no input: a command reading stdin sees end of file instead of waiting forever */
	while ((r = libssh2_channel_send_eof(ch)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			break;

	/* Both streams are read without blocking: the server stops sending once either
	 * stream's unread data fills the channel window, so waiting on one stream alone
	 * deadlocks as soon as the command writes enough to the other. */
	for (;;) {
		int progress = 0, failed = 0;
		if (expired(deadline))
			goto stop; /* even while output keeps coming */
		ssize_t n = libssh2_channel_read(ch, buf, IO_CHUNK);
		if (n > 0) {
			progress = 1;
			if (bds_exec_write_all(out_fd, buf, (size_t)n) < 0) {
				bds_util_fail("write the command's output: %s", strerror(errno));
				goto done;
			}
		} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
			failed = 1;
		}
		n = libssh2_channel_read_stderr(ch, buf, IO_CHUNK);
		if (n > 0) {
			progress = 1;
			if (filter_stderr(pf, err_fd, buf, (size_t)n) < 0) {
				bds_util_fail("write the command's error output: %s", strerror(errno));
				goto done;
			}
		} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
			failed = 1;
		}
		if (failed) {
			bds_util_fail("read the command's output from %s: %s", s->where, last_error(s));
			goto done;
		}
		if (progress)
			continue;
		if (libssh2_channel_eof(ch))
			break;
		if (wait_socket(s, deadline) < 0)
			goto stop;
	}
	if (pf->len > 0 && bds_exec_write_all(err_fd, pf->line, pf->len) < 0) {
		bds_util_fail("write the command's error output: %s", strerror(errno));
		goto done;
	}
	/* the command closed its output but may still run: the exit status needs the close */
	if (channel_finish(s, ch, deadline) < 0) {
		if (expired(deadline))
			goto stop;
		bds_util_fail("wait for the command's end on %s: %s", s->where, last_error(s));
		goto done;
	}
	size_t siglen = 0;
	libssh2_channel_get_exit_signal(ch, &signame, &siglen, NULL, NULL, NULL, NULL);
	if (signame && siglen > 0)
		snprintf(res->signal, sizeof res->signal, "%.*s", (int)siglen, signame);
	else
		res->status = libssh2_channel_get_exit_status(ch);
	rc = 0;
	goto done;
stop:
	mark_stopped(res);
	kill_remote_group(s, pf->done ? pf->pid : 0);
	rc = 0;
done:
	if (signame)
		libssh2_free(s->session, signame);
	if (ch) {
		if (res->timed_out || res->interrupted) {
			cleaning++;
			channel_finish(s, ch, bds_util_now() + 2);
			cleaning--;
		}
		channel_free(s, ch);
	}
	res->seconds = bds_util_now() - start;
	free(buf);
	free(pf);
	free(line);
	free(text);
	return rc;
}

static int sftp_start(struct bds_ssh *s, double deadline)
{
	if (s->sftp)
		return 0;
	while (!(s->sftp = libssh2_sftp_init(s->session)) &&
	       libssh2_session_last_errno(s->session) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			return bds_util_fail("start sftp on %s: %s", s->where, stopped());
	if (!s->sftp)
		return bds_util_fail("start sftp on %s: %s", s->where, last_error(s));
	return 0;
}

static const char *sftp_error(struct bds_ssh *s, int rc)
{
	static char buf[160];
	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL) {
		static const char *const names[] = {"ok", "end of file", "no such file", "permission denied",
		                                    "failure", "bad message", "no connection", "connection lost",
		                                    "operation unsupported"};
		unsigned long code = libssh2_sftp_last_error(s->sftp);
		if (code < sizeof names / sizeof names[0])
			return names[code];
		snprintf(buf, sizeof buf, "sftp status %lu", code);
		return buf;
	}
	return last_error(s);
}

static LIBSSH2_SFTP_HANDLE *sftp_open(struct bds_ssh *s, const char *path, unsigned long flags, long mode,
                                      double deadline)
{
	LIBSSH2_SFTP_HANDLE *h;
	while (!(h = libssh2_sftp_open_ex(s->sftp, path, (unsigned)strlen(path), flags, mode, LIBSSH2_SFTP_OPENFILE)) &&
	       libssh2_session_last_errno(s->session) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0) {
			bds_util_fail("open '%s' on %s: %s", path, s->where, stopped());
			return NULL;
		}
	if (!h)
		bds_util_fail("open '%s' on %s: %s", path, s->where, sftp_error(s, libssh2_session_last_errno(s->session)));
	return h;
}

static int sftp_close(struct bds_ssh *s, LIBSSH2_SFTP_HANDLE *h, double deadline)
{
	int rc;
	while ((rc = libssh2_sftp_close_handle(h)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			return -1;
	return rc;
}

static void sftp_unlink(struct bds_ssh *s, const char *path)
{
	cleaning++;
	double until = bds_util_now() + 5;
	while (libssh2_sftp_unlink_ex(s->sftp, path, (unsigned)strlen(path)) == LIBSSH2_ERROR_EAGAIN &&
	       wait_socket(s, until) == 0)
		;
	cleaning--;
}

static char *temp_name(const char *path)
{
	unsigned char r[6] = {0};
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r) {
		unsigned long x = (unsigned long)getpid() ^ (unsigned long)(bds_util_now() * 1e9);
		memcpy(r, &x, sizeof r < sizeof x ? sizeof r : sizeof x);
	}
	if (fd >= 0)
		close(fd);
	char hex[2 * sizeof r + 1];
	bds_digest_hex(r, sizeof r, hex);
	return bds_util_xasprintf("%s.tmp.%s", path, hex);
}

/* OpenSSH speaks SFTP version 3, where rename never replaces an existing file (libssh2
 * sends the OVERWRITE flag only from version 5 on): then rename(2) through `mv -f`. */
static int remote_rename(struct bds_ssh *s, const char *from, const char *to, double deadline)
{
	int rc;
	while ((rc = libssh2_sftp_rename_ex(s->sftp, from, (unsigned)strlen(from), to, (unsigned)strlen(to),
	                                    LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC |
	                                        LIBSSH2_SFTP_RENAME_NATIVE)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			return bds_util_fail("rename '%s' on %s: %s", to, s->where, stopped());
	if (rc == 0)
		return 0;
	char *const argv[] = {"mv", "-f", "--", (char *)from, (char *)to, NULL};
	char *quoted = bds_ssh_quote_argv(argv);
	int status = run_quiet(s, quoted, deadline);
	free(quoted);
	if (status < 0)
		return -1;
	if (status != 0)
		return bds_util_fail("rename '%s' to '%s' on %s: mv exit status %d", from, to, s->where, status);
	return 0;
}

int bds_ssh_put(struct bds_ssh *s, const char *local, const char *remote, double deadline)
{
	int rc = -1;
	char *tmp = NULL, *buf = NULL;
	LIBSSH2_SFTP_HANDLE *h = NULL;
	/* the caller's file: a pipe such as <(...) is read, a FIFO nobody writes refused */
	int fd = bds_fs_open_input(local);
	struct stat st;
	if (fd == -2)
		goto done;
	if (fd < 0 || fstat(fd, &st) < 0) {
		bds_util_fail("read '%s': %s", local, strerror(errno));
		goto done;
	}
	if (sftp_start(s, deadline) < 0)
		goto done;
	tmp = temp_name(remote);
	h = sftp_open(s, tmp, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL, st.st_mode & 0777, deadline);
	if (!h)
		goto done;
	buf = bds_util_xmalloc(IO_CHUNK);
	for (;;) {
		ssize_t n = read(fd, buf, IO_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			bds_util_fail("read '%s': %s", local, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		size_t off = 0;
		while (off < (size_t)n) {
			ssize_t w = libssh2_sftp_write(h, buf + off, (size_t)n - off);
			if (w == LIBSSH2_ERROR_EAGAIN) {
				if (wait_socket(s, deadline) < 0) {
					bds_util_fail("put '%s' to %s:%s: %s", local, s->where, remote, stopped());
					goto done;
				}
				continue;
			}
			if (w < 0) {
				bds_util_fail("write '%s' on %s: %s", tmp, s->where, sftp_error(s, (int)w));
				goto done;
			}
			off += (size_t)w;
		}
	}
	int c = sftp_close(s, h, deadline);
	h = NULL;
	if (c != 0) {
		bds_util_fail("write '%s' on %s: %s", tmp, s->where, c < 0 ? sftp_error(s, c) : stopped());
		goto done;
	}
	if (remote_rename(s, tmp, remote, deadline) < 0)
		goto done;
	rc = 0;
done:
	if (h)
		sftp_close(s, h, bds_util_now() + 2);
	if (rc != 0 && tmp && s->sftp)
		sftp_unlink(s, tmp);
	if (fd >= 0)
		close(fd);
	free(buf);
	free(tmp);
	return rc;
}

int bds_ssh_get(struct bds_ssh *s, const char *remote, const char *local, double deadline)
{
	int rc = -1;
	char *tmp = NULL, *buf = NULL;
	FILE *f = NULL;
	LIBSSH2_SFTP_HANDLE *h = NULL;
	if (sftp_start(s, deadline) < 0)
		goto done;
	h = sftp_open(s, remote, LIBSSH2_FXF_READ, 0, deadline);
	if (!h)
		goto done;
	LIBSSH2_SFTP_ATTRIBUTES attrs = {0};
	int a;
	while ((a = libssh2_sftp_fstat_ex(h, &attrs, 0)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) < 0)
			break;
	f = bds_util_atomic_open(local, &tmp);
	if (!f)
		goto done;
	if (tmp && a == 0 && (attrs.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS)) /* never a device written in place */
		fchmod(fileno(f), (mode_t)(attrs.permissions & 0777));
	buf = bds_util_xmalloc(IO_CHUNK);
	for (;;) {
		ssize_t n = libssh2_sftp_read(h, buf, IO_CHUNK);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if (wait_socket(s, deadline) < 0) {
				bds_util_fail("get %s:%s to '%s': %s", s->where, remote, local, stopped());
				goto done;
			}
			continue;
		}
		if (n < 0) {
			bds_util_fail("read '%s' on %s: %s", remote, s->where, sftp_error(s, (int)n));
			goto done;
		}
		if (n == 0)
			break;
		if (bds_exec_write_all(fileno(f), buf, (size_t)n) < 0) {
			bds_util_fail("write '%s': %s", tmp ? tmp : local, strerror(errno));
			goto done;
		}
	}
	sftp_close(s, h, deadline);
	h = NULL;
	rc = bds_util_atomic_commit(f, tmp, local);
	f = NULL;
	tmp = NULL;
done:
	if (h)
		sftp_close(s, h, bds_util_now() + 2);
	bds_util_atomic_discard(f, tmp);
	free(buf);
	return rc;
}

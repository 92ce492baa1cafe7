/* qmp: QEMU's machine protocol over a unix socket, with a deadline on every wait. */
#include "qmp.h"

#include "json.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The largest reply we accept: query results are small; anything bigger is a bug. */
#define QMP_LINE_MAX (1 << 20)

struct bds_qmp {
	int fd;
	char *buf; /* bytes received and not yet returned */
	size_t len, cap;
};

static int connect_once(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The next line (without its newline) as parsed JSON, or invalid with the error recorded. */
static jv read_message(struct bds_qmp *q, double deadline)
{
	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		if (nl) {
			*nl = '\0';
			jv msg = jv_parse(q->buf);
			size_t used = (size_t)(nl - q->buf) + 1;
			memmove(q->buf, nl + 1, q->len - used);
			q->len -= used;
			if (!jv_is_valid(msg) || jv_get_kind(msg) != JV_KIND_OBJECT) {
				jv_free(msg);
				bds_util_fail("qmp: a reply is not a JSON object");
				return jv_invalid();
			}
			return msg;
		}
		if (q->len >= QMP_LINE_MAX) {
			bds_util_fail("qmp: a reply exceeds %d bytes", QMP_LINE_MAX);
			return jv_invalid();
		}
		double left = deadline - bds_util_now();
		if (left <= 0) {
			bds_util_fail("qmp: no reply from QEMU in time");
			return jv_invalid();
		}
		struct pollfd p = {q->fd, POLLIN, 0};
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno != EINTR) {
			bds_util_fail("qmp: poll: %s", strerror(errno));
			return jv_invalid();
		}
		if (r <= 0)
			continue;
		if (q->cap - q->len < 65536) {
			q->cap = q->cap ? q->cap * 2 : 65536;
			q->buf = bds_util_xrealloc(q->buf, q->cap + 1);
		}
		ssize_t n = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			bds_util_fail("qmp: QEMU closed the connection%s%s", n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return jv_invalid();
		}
		q->len += (size_t)n;
	}
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return bds_util_fail("qmp: send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

struct bds_qmp *bds_qmp_open(const char *path, long pid, double deadline)
{
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		bds_util_fail("qmp: socket path too long: '%s'", path);
		return NULL;
	}
	int fd;
	while ((fd = connect_once(path)) < 0) {
		if (pid > 0 && kill((pid_t)pid, 0) != 0) {
			bds_util_fail("qmp: QEMU (pid %ld) exited before its monitor '%s' answered", pid, path);
			return NULL;
		}
		if (bds_util_now() >= deadline) {
			bds_util_fail("qmp: no monitor at '%s' in time", path);
			return NULL;
		}
		bds_util_sleep_ms(20);
	}
	struct bds_qmp *q = bds_util_xcalloc(1, sizeof *q);
	q->fd = fd;
	jv greeting = read_message(q, deadline);
	int ok = jv_is_valid(greeting) && jv_object_has(jv_copy(greeting), jv_string("QMP"));
	jv_free(greeting);
	if (!ok || bds_qmp_run(q, "qmp_capabilities", jv_null(), deadline, NULL) < 0) {
		if (!ok)
			bds_util_fail("qmp: '%s' did not greet as a QMP monitor", path);
		bds_qmp_close(q);
		return NULL;
	}
	return q;
}

int bds_qmp_run(struct bds_qmp *q, const char *command, jv args, double deadline, jv *ret)
{
	jv req = jv_object_set(jv_object(), jv_string("execute"), jv_string(command));
	if (jv_get_kind(args) != JV_KIND_NULL)
		req = jv_object_set(req, jv_string("arguments"), args);
	else
		jv_free(args);
	jv text = jv_dump_string(req, 0);
	char *line = bds_util_xasprintf("%s\n", jv_string_value(text));
	jv_free(text);
	int rc = write_all(q->fd, line, strlen(line));
	free(line);
	if (rc < 0)
		return -1;
	for (;;) {
		jv msg = read_message(q, deadline);
		if (!jv_is_valid(msg))
			return bds_util_fail("qmp: %s: %s", command, bds_util_error());
		if (jv_object_has(jv_copy(msg), jv_string("event"))) {
			jv_free(msg);
			continue;
		}
		if (jv_object_has(jv_copy(msg), jv_string("return"))) {
			if (ret)
				*ret = jv_object_get(msg, jv_string("return"));
			else
				jv_free(msg);
			return 0;
		}
		char *desc = NULL;
		bds_json_get_string(bds_json_get(jv_copy(msg), "error", JV_KIND_OBJECT), "desc", &desc);
		jv_free(msg);
		rc = bds_util_fail("qmp: %s: %s", command, desc ? desc : "unexpected reply");
		free(desc);
		return rc;
	}
}

void bds_qmp_close(struct bds_qmp *q)
{
	if (!q)
		return;
	close(q->fd);
	free(q->buf);
	free(q);
}

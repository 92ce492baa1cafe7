/* fc-api: Firecracker's REST API over its unix socket, one libcurl handle per client. */
#include "fc-api.h"

#include "json.h"
#include "util.h"
#include "version.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Firecracker's answers are small (instance info, faults); anything bigger is a bug. */
#define FC_REPLY_MAX ((size_t)1 << 20)
/* How much of a non-JSON error body goes into a message. */
#define FC_BODY_SHOWN 200
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

struct bds_fc_api {
	CURL *curl; /* kept across calls so the connection is reused */
	struct curl_slist *headers;
	char *socket_path;
	char errbuf[CURL_ERROR_SIZE];
};

struct reply_buf {
	char *data;
	size_t len, cap;
	int too_big;
};

static int check_path_length(const char *socket_path)
{
	size_t n = strlen(socket_path);
	if (n > SUN_PATH_MAX)
		return bds_util_fail("firecracker API: socket path '%s' is %zu bytes, longer than the %zu a unix "
		                     "socket address holds", socket_path, n, (size_t)SUN_PATH_MAX);
	return 0;
}

struct bds_fc_api *bds_fc_api_open(const char *socket_path)
{
	if (check_path_length(socket_path) < 0)
		return NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		bds_util_fail("firecracker API: cannot initialise libcurl");
		return NULL;
	}
	struct bds_fc_api *api = bds_util_xcalloc(1, sizeof *api);
	api->curl = curl_easy_init();
	if (!api->curl) {
		bds_util_fail("firecracker API: cannot initialise libcurl");
		bds_fc_api_close(api);
		return NULL;
	}
	api->socket_path = bds_util_xstrdup(socket_path);
	/* An empty Expect: stops libcurl from waiting for "100 Continue" (which Firecracker
	 * never sends) before bodies over 1 MB. */
	const char *headers[] = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
	for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
		struct curl_slist *l = curl_slist_append(api->headers, headers[i]);
		if (!l)
			abort(); /* as bds_util_xmalloc: no memory, nothing useful left to do */
		api->headers = l;
	}
	return api;
}

void bds_fc_api_close(struct bds_fc_api *api)
{
	if (!api)
		return;
	if (api->curl)
		curl_easy_cleanup(api->curl);
	curl_slist_free_all(api->headers);
	free(api->socket_path);
	free(api);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct reply_buf *r = ud;
	size_t len = size * n;
	if (len > FC_REPLY_MAX - r->len) {
		r->too_big = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (r->len + len > r->cap) {
		r->cap = r->len + len > 2 * r->cap ? r->len + len : 2 * r->cap;
		r->data = bds_util_xrealloc(r->data, r->cap + 1);
	}
	memcpy(r->data + r->len, p, len);
	r->len += len;
	r->data[r->len] = '\0';
	return len;
}

static int is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

/* Records the error of a non-2xx answer: Firecracker's fault_message when the body has
 * one, else the start of the body. */
static int fail_status(const char *method, const char *path, long code, const struct reply_buf *r)
{
	char *fault = NULL;
	if (r->len && !is_blank(r->data, r->len))
		bds_json_get_string(bds_json_parse(r->data, r->len, "reply"), "fault_message", &fault);
	if (fault) {
		bds_util_fail("firecracker API: %s %s: HTTP %ld: %s", method, path, code, fault);
		free(fault);
	} else if (r->len && !is_blank(r->data, r->len)) {
		bds_util_fail("firecracker API: %s %s: HTTP %ld: %.*s%s", method, path, code,
		              (int)(r->len < FC_BODY_SHOWN ? r->len : FC_BODY_SHOWN), r->data,
		              r->len > FC_BODY_SHOWN ? "..." : "");
	} else {
		bds_util_fail("firecracker API: %s %s: HTTP %ld with an empty body", method, path, code);
	}
	return -1;
}

int bds_fc_api_call(struct bds_fc_api *api, const char *method, const char *path, jv body,
                    double deadline, jv *reply)
{
	int rc = -1;
	char *url = NULL;
	jv text = jv_invalid();
	struct reply_buf r = {0};

	if (!jv_is_valid(body)) {
		char *msg = bds_json_error_message(body);
		bds_util_fail("firecracker API: %s %s: invalid request body: %s", method, path, msg);
		free(msg);
		goto out;
	}
	if (path[0] != '/') {
		jv_free(body);
		bds_util_fail("firecracker API: %s %s: the path must start with '/'", method, path);
		goto out;
	}
	if (jv_get_kind(body) != JV_KIND_NULL)
		text = jv_dump_string(body, 0);
	else
		jv_free(body);
	double left = deadline - bds_util_now();
	if (!(left > 0)) {
		bds_util_fail("firecracker API: %s %s: no answer within 0s (the deadline had passed)", method, path);
		goto out;
	}
	/* at most ~23 days: the conversion must fit a 32-bit long */
	long timeout_ms = left < 2e6 ? (long)(left * 1000.0) + 1 : 2000000000L;

	CURL *c = api->curl;
	curl_easy_reset(c); /* keeps the open connection */
	api->errbuf[0] = '\0';
	url = bds_util_xasprintf("http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, api->socket_path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, api->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bds/" BDS_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, api->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	if (strcmp(method, "GET") == 0 && !jv_is_valid(text)) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		/* Not copied: `text` lives until the transfer is over. A bodyless PUT sends
		 * Content-Length: 0. */
		const char *data = jv_is_valid(text) ? jv_string_value(text) : "";
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(data));
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	CURLcode res = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (res == CURLE_WRITE_ERROR && r.too_big) {
		bds_util_fail("firecracker API: %s %s: the reply is larger than %zu bytes", method, path, FC_REPLY_MAX);
	} else if (res == CURLE_OPERATION_TIMEDOUT) {
		bds_util_fail("firecracker API: %s %s: no answer within %.3gs", method, path, left);
	} else if (res == CURLE_COULDNT_CONNECT) {
		/* libcurl's own text names "localhost port 80"; the socket and errno say more */
		long os_errno = 0;
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		bds_util_fail("firecracker API: %s %s: cannot connect to '%s': %s", method, path, api->socket_path,
		              os_errno ? strerror((int)os_errno) : curl_easy_strerror(res));
	} else if (res != CURLE_OK) {
		bds_util_fail("firecracker API: %s %s: %s (socket '%s')", method, path,
		              api->errbuf[0] ? api->errbuf : curl_easy_strerror(res), api->socket_path);
	} else if (code < 200 || code > 299) {
		fail_status(method, path, code, &r);
	} else {
		jv v = r.len && !is_blank(r.data, r.len) ? bds_json_parse(r.data, r.len, "reply") : jv_null();
		if (!jv_is_valid(v)) {
			char *msg = bds_json_error_message(v);
			bds_util_fail("firecracker API: %s %s: HTTP %ld: %s", method, path, code, msg);
			free(msg);
			goto out;
		}
		if (reply)
			*reply = v;
		else
			jv_free(v);
		rc = 0;
	}
out:
	jv_free(text);
	free(url);
	free(r.data);
	return rc;
}

/* True once `pid` has exited. A child of ours stays a zombie until its owner reaps it,
 * so ask waitid without reaping (WNOWAIT); any other process is gone when kill says so. */
static int process_exited(long pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
		return si.si_pid == (pid_t)pid;
	return errno == ECHILD && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int bds_fc_api_wait(const char *socket_path, long pid, double deadline)
{
	if (check_path_length(socket_path) < 0)
		return -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	double start = bds_util_now();
	for (;;) {
		/* Non-blocking: a full backlog answers EAGAIN instead of blocking past the deadline. */
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return bds_util_fail("firecracker API: socket: %s", strerror(errno));
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		int err = errno;
		close(fd);
		if (ok)
			return 0;
		if (pid > 0 && process_exited(pid))
			return bds_util_fail("firecracker API: firecracker (pid %ld) exited before its socket '%s' "
			                     "accepted connections", pid, socket_path);
		double now = bds_util_now(), left = deadline - now;
		if (!(left > 0))
			return bds_util_fail("firecracker API: socket '%s' accepted no connection within %.3gs: %s",
			                     socket_path, deadline > start ? deadline - start : 0.0, strerror(err));
		bds_util_sleep_ms(left < 0.01 ? (long)(left * 1000.0) + 1 : 10);
	}
}

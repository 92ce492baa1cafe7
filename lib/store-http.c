/* store-http: the HTTP(S) store backend (GET/PUT/DELETE, e.g. nginx WebDAV) and S3 over it
 * (the same requests signed with libcurl's SigV4, path-style under AWS_ENDPOINT_URL). */
#include "store-impl.h"

#include "fs.h"
#include "json.h"
#include "util.h"
#include "version.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT 5L
#define DEFAULT_TIMEOUT 3600L /* per request; BDS_STORE_TIMEOUT overrides */
#define LOW_SPEED_BYTES 1024L
#define LOW_SPEED_TIME 30L
#define ERR_BODY_MAX 1024

struct http {
	CURL *curl;
	char *config_error; /* found by bds_store_s3_init, reported at the first request */
	struct curl_slist *headers;
	char *region;
	long timeout;
	int signed_requests;
	char errbuf[CURL_ERROR_SIZE];
};

int bds_store_s3_init(struct bds_store *s)
{
	struct http *h = bds_util_xcalloc(1, sizeof *h);
	s->impl = h;
	s->ops = &bds_store_http_ops;
	const char *region = getenv("AWS_REGION");
	if (!region || !*region)
		region = getenv("AWS_DEFAULT_REGION");
	if (!region || !*region)
		region = "us-east-1";
	for (const char *p = region; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			h->config_error = bds_util_xasprintf("AWS_REGION '%s': not a region name", region);
	const char *endpoint = getenv("AWS_ENDPOINT_URL");
	const char *sep = *s->prefix ? "/" : "";
	if (endpoint && *endpoint) {
		if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
			h->config_error = bds_util_xasprintf("AWS_ENDPOINT_URL '%s': expected http(s)://host[:port]",
			                                     endpoint);
		size_t n = strlen(endpoint);
		while (n > 0 && endpoint[n - 1] == '/')
			n--;
		/* path-style: S3-compatible servers (MinIO, Ceph, s3rver) all accept it */
		s->root = bds_util_xasprintf("%.*s/%s%s%s", (int)n, endpoint, s->bucket, sep, s->prefix);
	} else {
		s->root = bds_util_xasprintf("https://%s.s3.%s.amazonaws.com%s%s", s->bucket, region, sep, s->prefix);
	}
	h->region = bds_util_xstrdup(region);
	return 0;
}

static void http_close(struct bds_store *s)
{
	struct http *h = s->impl;
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	free(h->region);
	free(h->config_error);
	free(h);
	s->impl = NULL;
}

/* The curl handle and settings, made at the first request so that a bad environment is
 * reported as a failure of that request. */
static struct http *http_impl(struct bds_store *s)
{
	struct http *h = s->impl;
	if (h && h->curl)
		return h;
	if (!h)
		s->impl = h = bds_util_xcalloc(1, sizeof *h);
	if (h->config_error) {
		bds_util_fail("store '%s': %s", s->spec, h->config_error);
		return NULL;
	}
	h->timeout = DEFAULT_TIMEOUT;
	const char *t = getenv("BDS_STORE_TIMEOUT");
	if (t && *t) {
		char *end;
		errno = 0;
		long v = strtol(t, &end, 10);
		if (errno || *end || v < 1 || v > 86400) {
			bds_util_fail("BDS_STORE_TIMEOUT '%s': expected seconds from 1 to 86400", t);
			return NULL;
		}
		h->timeout = v;
	}
	if (s->s3) {
		const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
		int has_id = id && *id, has_secret = secret && *secret;
		if (has_id != has_secret) {
			bds_util_fail("store '%s': %s is set but %s is not", s->spec,
			              has_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			              has_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
			return NULL;
		}
		h->signed_requests = has_id;
		/* The payload is not hashed into the signature (we stream files of any size);
		 * integrity comes from the XXH3-128 in metadata.json. */
		h->headers = curl_slist_append(h->headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
		const char *token = getenv("AWS_SESSION_TOKEN");
		if (token && *token) {
			char *hdr = bds_util_xasprintf("x-amz-security-token: %s", token);
			h->headers = curl_slist_append(h->headers, hdr);
			free(hdr);
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h->curl = curl_easy_init();
	if (!h->curl) {
		bds_util_fail("store '%s': cannot initialise libcurl", s->spec);
		return NULL;
	}
	return h;
}

struct xfer {
	CURL *curl;
	struct bds_store_sink *sink; /* GET: where a 200 body goes */
	char err[ERR_BODY_MAX + 1];  /* the start of any other body, for messages */
	size_t errlen;
	int fd;                      /* PUT from a file */
	const char *mem;             /* PUT from memory */
	uint64_t size, pos;
	double changed;              /* HEAD: the Last-Modified time, 0 if none */
	uint64_t length;             /* HEAD: the Content-Length, UINT64_MAX if none */
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	long code = 0;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code == 200 && x->sink)
		return bds_store_sink_write(x->sink, p, len) < 0 ? 0 : len;
	size_t room = ERR_BODY_MAX - x->errlen;
	size_t c = len < room ? len : room;
	memcpy(x->err + x->errlen, p, c);
	x->errlen += c;
	x->err[x->errlen] = '\0';
	return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t want = size * n;
	if (x->size - x->pos < want)
		want = (size_t)(x->size - x->pos);
	if (want == 0)
		return 0;
	if (x->mem) {
		memcpy(p, x->mem + x->pos, want);
		x->pos += want;
		return want;
	}
	ssize_t r;
	do
		r = pread(x->fd, p, want, (off_t)x->pos);
	while (r < 0 && errno == EINTR);
	if (r <= 0) /* a short file: abort rather than send a wrong length */
		return CURL_READFUNC_ABORT;
	x->pos += (uint64_t)r;
	return (size_t)r;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->size)
		return CURL_SEEKFUNC_CANTSEEK;
	x->pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* The S3 error code of an XML error body, or "". */
static void s3_code(const char *body, char *out, size_t cap)
{
	out[0] = '\0';
	const char *a = strstr(body, "<Code>");
	const char *b = a ? strstr(a, "</Code>") : NULL;
	if (!a || !b || (size_t)(b - a - 6) >= cap - 3)
		return;
	snprintf(out, cap, " (%.*s)", (int)(b - a - 6), a + 6);
}

/* Failures of the connection or of what came back on it: a store (or a proxy before it)
 * that is down or broken, which is cold like a reset connection. */
static int unreachable(CURLcode rc, CURL *c)
{
	char *ip = NULL;
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* after connecting, the reply was not HTTP (a libcurl without https support
		 * fails before connecting: that is configuration) */
		return curl_easy_getinfo(c, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip && *ip;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
		return 1;
	default:
		return 0;
	}
}

static char *url_of(struct bds_store *s, const char *key)
{
	return bds_util_xasprintf("%s/%s", s->root, key);
}

/* Is `code` the success of `method`? A GET succeeds only with 200: the whole file in the
 * body (a 204 has none, a 206 a part). A PUT succeeds with 200, 201 or 204 (stored, as
 * WebDAV and S3 answer); a 202 only promises to store it later. A DELETE with 200, 202
 * or 204. */
static int success(const char *method, long code)
{
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return code == 200;
	if (strcmp(method, "PUT") == 0)
		return code == 200 || code == 201 || code == 204;
	return code == 200 || code == 202 || code == 204;
}

/* One request. Returns a bds_store_status: FOUND for the method's success (success()),
 * ABSENT for 404/410, UNAVAILABLE (network, timeout, 408/429/5xx, and any other 2xx: a
 * store or proxy that answers without doing what was asked is broken), INVALID (body
 * over the sink's limit), ERROR (credentials, other statuses, local I/O). *code gets the
 * HTTP status. */
static int request_url(struct bds_store *s, const char *method, char *url, struct xfer *x, long *code);

static int request(struct bds_store *s, const char *method, const char *key, struct xfer *x, long *code)
{
	return request_url(s, method, url_of(s, key), x, code);
}

/* request() of a whole URL (consumed), for listings. */
static int request_url(struct bds_store *s, const char *method, char *url, struct xfer *x, long *code)
{
	struct http *h = http_impl(s);
	if (!h) {
		free(url);
		return BDS_STORE_ERROR;
	}
	CURL *c = h->curl;
	curl_easy_reset(c);
	x->curl = c;
	h->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bds/" BDS_VERSION);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->timeout < CONNECT_TIMEOUT ? h->timeout : CONNECT_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->timeout < LOW_SPEED_TIME ? h->timeout : LOW_SPEED_TIME);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	if (h->headers)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
	if (s->s3 && h->signed_requests) {
		char *sig = bds_util_xasprintf("aws:amz:%s:s3", h->region);
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sig); /* curl copies strings */
		free(sig);
		curl_easy_setopt(c, CURLOPT_USERNAME, getenv("AWS_ACCESS_KEY_ID"));
		curl_easy_setopt(c, CURLOPT_PASSWORD, getenv("AWS_SECRET_ACCESS_KEY"));
	} else if (!s->s3) {
		curl_easy_setopt(c, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
	}
	if (strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->size);
	} else if (strcmp(method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	CURLcode rc = curl_easy_perform(c);
	*code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	curl_off_t filetime = -1, length = -1;
	if (rc == CURLE_OK && strcmp(method, "HEAD") == 0) {
		if (curl_easy_getinfo(c, CURLINFO_FILETIME_T, &filetime) == CURLE_OK && filetime > 0)
			x->changed = (double)filetime;
		if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK && length >= 0)
			x->length = (uint64_t)length;
	}
	int st;
	char s3err[96];
	s3_code(x->err, s3err, sizeof s3err);
	const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
	if (rc != CURLE_OK && x->sink && x->sink->too_big) {
		st = BDS_STORE_INVALID; /* the caller names the limit */
	} else if (rc != CURLE_OK && x->sink && x->sink->failed) {
		st = bds_store_fail_with("%s %s", method, url);
	} else if (rc != CURLE_OK && unreachable(rc, c)) {
		bds_util_fail("%s %s: %s", method, url, why);
		st = BDS_STORE_UNAVAILABLE;
	} else if (rc != CURLE_OK) {
		st = bds_util_fail("%s %s: %s", method, url, why);
	} else if (success(method, *code)) {
		st = BDS_STORE_FOUND;
	} else if (*code == 404 || *code == 410) {
		st = BDS_STORE_ABSENT;
	} else if (*code >= 200 && *code < 300) {
		bds_util_fail("%s %s: HTTP %ld, not %s: the store (or a proxy before it) is broken", method, url, *code,
		              strcmp(method, "GET") == 0 ? "200 with the whole file"
		              : strcmp(method, "HEAD") == 0 ? "200"
		              : strcmp(method, "PUT") == 0 ? "200, 201 or 204 (stored)" : "200, 202 or 204");
		st = BDS_STORE_UNAVAILABLE;
	} else if (*code == 401 || *code == 403) {
		st = bds_util_fail("%s %s: HTTP %ld%s: access denied, check the credentials (%s)", method, url,
		                   *code, s3err,
		                   s->s3 ? "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN" : "~/.netrc");
	} else if (*code == 408 || *code == 429 || *code >= 500) {
		bds_util_fail("%s %s: HTTP %ld%s", method, url, *code, s3err);
		st = BDS_STORE_UNAVAILABLE;
	} else {
		st = bds_util_fail("%s %s: unexpected HTTP status %ld%s", method, url, *code, s3err);
	}
	free(url);
	return st;
}

static int http_get(struct bds_store *s, const char *key, struct bds_store_sink *sink)
{
	struct xfer x = {.sink = sink, .fd = -1};
	long code;
	return request(s, "GET", key, &x, &code);
}

static char *http_where(struct bds_store *s, const char *key)
{
	return url_of(s, key);
}

struct http_txn {
	char *fp, *base;
};

static void http_abort(struct bds_store *s, void *t)
{
	(void)s;
	struct http_txn *x = t;
	if (!x)
		return;
	free(x->fp);
	free(x->base);
	free(x);
}

static int http_begin(struct bds_store *s, const char *fp, const char *base, void **txn)
{
	/* Remove the old commit marker first: a republish killed half-way then leaves an
	 * entry that does not exist rather than one that fails verification. Servers that
	 * do not allow DELETE (405, 501) keep the old marker; readers still verify. */
	char *key = bds_util_xasprintf("%s/%s/metadata.json", fp, base);
	struct xfer x = {.fd = -1};
	long code = 0;
	int st = request(s, "DELETE", key, &x, &code);
	free(key);
	if (st != BDS_STORE_FOUND && st != BDS_STORE_ABSENT && code != 405 && code != 501)
		return -1;
	struct http_txn *t = bds_util_xcalloc(1, sizeof *t);
	t->fp = bds_util_xstrdup(fp);
	t->base = bds_util_xstrdup(base);
	*txn = t;
	return 0;
}

static int put(struct bds_store *s, struct http_txn *t, const char *name, struct xfer *x)
{
	char *key = bds_util_xasprintf("%s/%s/%s", t->fp, t->base, name);
	long code = 0;
	int st = request(s, "PUT", key, x, &code);
	if (st == BDS_STORE_ABSENT) {
		char *url = url_of(s, key);
		bds_util_fail("PUT %s: HTTP %ld (does the server allow PUT?)", url, code);
		free(url);
	}
	free(key);
	return st == BDS_STORE_FOUND ? 0 : -1;
}

static int http_put_file(struct bds_store *s, void *t, const char *name, const char *path, uint64_t size)
{
	struct xfer x = {.size = size};
	x.fd = bds_fs_open_regular(path, 1);
	if (x.fd < 0)
		return -1;
	int rc = put(s, t, name, &x);
	close(x.fd);
	return rc;
}

static int http_put_bytes(struct bds_store *s, void *t, const char *name, const char *buf, size_t len)
{
	struct xfer x = {.fd = -1, .mem = buf, .size = len};
	return put(s, t, name, &x);
}

static int http_commit(struct bds_store *s, void *t)
{
	http_abort(s, t);
	return 0;
}

/* ---- listing and removal (bds-prune) ---- */

#define LIST_MAX ((uint64_t)64 << 20) /* one listing page or autoindex */

/* GETs url (consumed) into memory: a bds_store_status; FOUND: *body (NUL-terminated). */
static int get_listing(struct bds_store *s, char *url, char **body, size_t *len, long *code)
{
	struct bds_store_sink k;
	bds_store_sink_init(&k, -1, LIST_MAX);
	struct xfer x = {.sink = &k, .fd = -1};
	char *what = bds_util_xstrdup(url);
	int st = request_url(s, "GET", url, &x, code);
	if (st == BDS_STORE_INVALID)
		st = bds_util_fail("GET %s: listing larger than %llu bytes", what, (unsigned long long)LIST_MAX);
	if (st == BDS_STORE_FOUND) {
		*body = bds_util_xstrndup(k.buf ? k.buf : "", k.len);
		*len = k.len;
	}
	free(what);
	bds_store_sink_free(&k);
	return st;
}

/* The text of the next <tag>...</tag> at or after *p (malloc'd, entities &amp; &lt; &gt;
 * &quot; &apos; decoded), *p moved past it; NULL when there is none. S3 answers in XML,
 * and only these simple elements are read from it. */
static char *xml_next(const char **p, const char *tag)
{
	char open[64], close[64];
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	const char *a = strstr(*p, open);
	const char *b = a ? strstr(a, close) : NULL;
	if (!b)
		return NULL;
	a += strlen(open);
	char *out = bds_util_xmalloc((size_t)(b - a) + 1), *o = out;
	static const char *const ent[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
	while (a < b) {
		size_t i = 0;
		for (; i < sizeof ent / sizeof *ent; i++)
			if (strncmp(a, ent[i][0], strlen(ent[i][0])) == 0)
				break;
		if (i < sizeof ent / sizeof *ent) {
			*o++ = ent[i][1][0];
			a += strlen(ent[i][0]);
		} else {
			*o++ = *a++;
		}
	}
	*o = '\0';
	*p = b + strlen(close);
	return out;
}

static char *escape(struct http *h, const char *v)
{
	char *e = curl_easy_escape(h->curl, v, 0);
	char *out = bds_util_xstrdup(e ? e : "");
	curl_free(e);
	return out;
}

/* S3: the keys under "<prefix>/<rel>" (ListObjectsV2, every page by continuation
 * token), appended to *keys relative to the store's root ("<fp>/<base>/<file>"), with
 * their LastModified in *changed (0: unknown) unless changed is NULL. */
static int s3_keys(struct bds_store *s, const char *rel, char ***keys, double **changed, size_t *n)
{
	struct http *h = http_impl(s);
	if (!h)
		return BDS_STORE_ERROR;
	/* the bucket's URL: the root without the prefix */
	size_t plen = strlen(s->prefix), skip = plen ? plen + 1 : 0;
	char *bucket_url = bds_util_xstrndup(s->root, strlen(s->root) - skip);
	char *want = bds_util_xasprintf("%s%s%s", s->prefix, plen ? "/" : "", rel);
	char *want_q = escape(h, want);
	/* a test asks for small pages, to see the continuation token used */
	const char *mk = getenv("BDS_TEST_S3_MAX_KEYS");
	long max_keys = mk && *mk ? atol(mk) : 1000;
	if (max_keys < 1 || max_keys > 1000)
		max_keys = 1000;
	char *token = NULL;
	int st = BDS_STORE_FOUND;
	while (st == BDS_STORE_FOUND) {
		/* query parameters in the order SigV4 signs them (sorted), each escaped */
		char *tok_q = token ? escape(h, token) : NULL;
		char *url = bds_util_xasprintf("%s?%s%s%slist-type=2&max-keys=%ld&prefix=%s", bucket_url,
		                               tok_q ? "continuation-token=" : "", tok_q ? tok_q : "", tok_q ? "&" : "",
		                               max_keys, want_q);
		free(tok_q);
		char *body = NULL;
		size_t len = 0;
		long code = 0;
		st = get_listing(s, url, &body, &len, &code);
		if (st == BDS_STORE_ABSENT)
			st = bds_util_fail("list %s: HTTP 404 (no such bucket?)", s->spec);
		if (st != BDS_STORE_FOUND)
			break;
		const char *p = body;
		char *item;
		while ((item = xml_next(&p, "Contents"))) {
			const char *q = item;
			char *key = xml_next(&q, "Key");
			q = item;
			char *mod = xml_next(&q, "LastModified");
			if (key && strncmp(key, want, strlen(want)) == 0) {
				if (changed) {
					*changed = bds_util_xrealloc(*changed, (*n + 1) * sizeof **changed);
					double t = mod ? bds_store_parse_time(mod) : -1;
					(*changed)[*n] = t < 0 ? 0 : t;
				}
				bds_store_list_add(keys, n, key + skip);
			}
			free(key);
			free(mod);
			free(item);
		}
		free(token);
		token = NULL;
		const char *q = body;
		char *trunc = xml_next(&q, "IsTruncated");
		int more = trunc && strcmp(trunc, "true") == 0;
		q = body;
		if (more)
			token = xml_next(&q, "NextContinuationToken");
		free(trunc);
		free(body);
		if (more && !token)
			st = bds_util_fail("list %s: a truncated ListObjectsV2 page without NextContinuationToken", s->spec);
		if (!more)
			break;
	}
	free(token);
	free(want);
	free(want_q);
	free(bucket_url);
	return st;
}

/* S3: each key "<fp>/<base>/<file>" names its entry "<fp>/<base>" (bds_store_list keeps
 * one of each, with the latest LastModified). */
static int s3_list(struct bds_store *s, const char *fp, struct bds_store_entry **v, size_t *n)
{
	char **keys = NULL;
	double *changed = NULL;
	size_t nk = 0;
	char *rel = bds_util_xasprintf("%s%s", fp ? fp : "", fp ? "/" : "");
	int st = s3_keys(s, rel, &keys, &changed, &nk);
	for (size_t i = 0; st == BDS_STORE_FOUND && i < nk; i++) {
		if (strlen(keys[i]) > 74 && keys[i][73] == '/') {
			keys[i][73] = '\0';
			bds_store_entry_add(v, n, keys[i], changed[i]);
		}
	}
	bds_util_free_list(keys);
	free(changed);
	free(rel);
	return st;
}

/* HTTP: the names of the entries of <root>/<dir>/ of `type` ("directory", "file") with
 * `len` characters, from nginx's autoindex in JSON ([{"name": ..., "type": ..., ...}]). WebDAV's
 * PROPFIND would need a module outside nginx (dav-ext) and an XML parser; an index object
 * written by publishers would lose entries when two publish at once (read-modify-write). A
 * missing directory (404) lists nothing. */
static int autoindex(struct bds_store *s, const char *dir, const char *want_type, size_t len, char ***names,
                     double **changed, size_t *n)
{
	char *url = bds_util_xasprintf("%s/%s%s", s->root, dir, *dir ? "/" : "");
	char *what = bds_util_xstrdup(url);
	char *body = NULL;
	size_t blen = 0;
	long code = 0;
	int st = get_listing(s, url, &body, &blen, &code);
	if (st == BDS_STORE_ABSENT) {
		st = BDS_STORE_FOUND;
		goto out;
	}
	if (st != BDS_STORE_FOUND) {
		if (code == 403 || code == 405)
			bds_store_fail_with("list '%s' (does the server list directories? nginx: `autoindex on; "
			                    "autoindex_format json;`)", what);
		goto out;
	}
	jv list = bds_json_parse(body, blen, what);
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		st = bds_util_fail("list '%s': not a JSON array (nginx: `autoindex on; autoindex_format json;`)", what);
		goto out;
	}
	jv_array_foreach(list, i, item) {
		char *name = NULL, *type = NULL, *mtime = NULL;
		if (jv_get_kind(item) == JV_KIND_OBJECT && bds_json_get_string(jv_copy(item), "name", &name) == 0 &&
		    bds_json_get_string(jv_copy(item), "type", &type) == 0 && strcmp(type, want_type) == 0 &&
		    strlen(name) == len) {
			if (changed) {
				double t = bds_json_get_string(jv_copy(item), "mtime", &mtime) == 0 ? bds_store_parse_time(mtime) : -1;
				*changed = bds_util_xrealloc(*changed, (*n + 1) * sizeof **changed);
				(*changed)[*n] = t < 0 ? 0 : t;
			}
			bds_store_list_add(names, n, name);
		}
		free(name);
		free(type);
		free(mtime);
		jv_free(item);
	}
	jv_free(list);
out:
	free(body);
	free(what);
	return st;
}

static int dav_list(struct bds_store *s, const char *fp, struct bds_store_entry **v, size_t *n)
{
	char **fps = NULL;
	size_t nfp = 0;
	int st = BDS_STORE_FOUND;
	if (fp)
		bds_store_list_add(&fps, &nfp, fp);
	else
		st = autoindex(s, "", "directory", 32, &fps, NULL, &nfp);
	for (size_t i = 0; st == BDS_STORE_FOUND && i < nfp; i++) {
		char **bases = NULL;
		double *changed = NULL;
		size_t nb = 0;
		st = autoindex(s, fps[i], "directory", 40, &bases, &changed, &nb);
		for (size_t j = 0; j < nb; j++) {
			char *name = bds_util_xasprintf("%s/%s", fps[i], bases[j]);
			bds_store_entry_add(v, n, name, changed[j]);
			free(name);
		}
		bds_util_free_list(bases);
		free(changed);
	}
	bds_util_free_list(fps);
	return st;
}

static int http_list(struct bds_store *s, const char *fp, struct bds_store_entry **v, size_t *n)
{
	return s->s3 ? s3_list(s, fp, v, n) : dav_list(s, fp, v, n);
}

/* DELETE key; absent already is success. */
static int delete_key(struct bds_store *s, const char *key)
{
	struct xfer x = {.fd = -1};
	long code = 0;
	int st = request(s, "DELETE", key, &x, &code);
	return st == BDS_STORE_FOUND || st == BDS_STORE_ABSENT ? 0 : -1;
}

static int http_remove(struct bds_store *s, const char *fp, const char *base)
{
	/* the commit marker first (see bds_store_remove) */
	char *key = bds_util_xasprintf("%s/%s/metadata.json", fp, base);
	int rc = delete_key(s, key);
	free(key);
	if (rc < 0)
		return -1;
	if (!s->s3) {
		/* WebDAV deletes a collection with everything in it (RFC 4918 9.6.1) */
		key = bds_util_xasprintf("%s/%s/", fp, base);
		rc = delete_key(s, key);
		free(key);
		return rc;
	}
	/* S3 has no directories: every object under "<fp>/<base>/" */
	char **keys = NULL;
	size_t n = 0;
	char *rel = bds_util_xasprintf("%s/%s/", fp, base);
	rc = s3_keys(s, rel, &keys, NULL, &n) == BDS_STORE_FOUND ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = delete_key(s, keys[i]);
	bds_util_free_list(keys);
	free(rel);
	return rc;
}

/* ---- chunk objects ---- */

static int http_has(struct bds_store *s, const char *key, double *changed, uint64_t *size)
{
	struct xfer x = {.fd = -1, .length = UINT64_MAX};
	long code = 0;
	int st = request(s, "HEAD", key, &x, &code);
	*changed = x.changed;
	*size = x.length;
	return st;
}

static int http_put_object(struct bds_store *s, void *t, const char *key, const char *buf, size_t len)
{
	(void)t; /* a PUT is atomic on S3 and nginx (it writes a temporary file, then renames) */
	struct xfer x = {.fd = -1, .mem = buf, .size = len};
	long code = 0;
	int st = request(s, "PUT", key, &x, &code);
	if (st == BDS_STORE_ABSENT) {
		char *url = url_of(s, key);
		bds_util_fail("PUT %s: HTTP %ld (does the server allow PUT?)", url, code);
		free(url);
	}
	return st == BDS_STORE_FOUND ? 0 : -1;
}

static int http_list_chunks(struct bds_store *s, char ***keys, double **changed, size_t *n)
{
	char **found = NULL, **dirs = NULL;
	double *when = NULL;
	size_t nf = 0, nd = 0;
	int st;
	if (s->s3) {
		st = s3_keys(s, "chunks/", &found, &when, &nf);
	} else {
		st = autoindex(s, "chunks", "directory", 2, &dirs, NULL, &nd);
		for (size_t i = 0; st == BDS_STORE_FOUND && i < nd; i++) {
			char **names = NULL;
			double *t = NULL;
			size_t nn = 0;
			char *dir = bds_util_xasprintf("chunks/%s", dirs[i]);
			st = autoindex(s, dir, "file", 32, &names, &t, &nn);
			for (size_t j = 0; j < nn; j++) {
				char *key = bds_util_xasprintf("%s/%s", dir, names[j]);
				when = bds_util_xrealloc(when, (nf + 1) * sizeof *when);
				when[nf] = t[j];
				bds_store_list_add(&found, &nf, key);
				free(key);
			}
			bds_util_free_list(names);
			free(t);
			free(dir);
		}
	}
	for (size_t i = 0; st == BDS_STORE_FOUND && i < nf; i++) {
		if (!bds_store_is_chunk_key(found[i]))
			continue;
		*changed = bds_util_xrealloc(*changed, (*n + 1) * sizeof **changed);
		(*changed)[*n] = when[i];
		bds_store_list_add(keys, n, found[i]);
	}
	bds_util_free_list(found);
	bds_util_free_list(dirs);
	free(when);
	return st;
}

/* Judged by a HEAD just before the DELETE. What is left: a publish that writes the chunk
 * again between the two (docs/store.md 3). */
static int http_collect_chunk(struct bds_store *s, const char *key, double grace)
{
	double changed = 0;
	uint64_t size = UINT64_MAX;
	int st = http_has(s, key, &changed, &size);
	if (st == BDS_STORE_ABSENT)
		return 0;
	if (st != BDS_STORE_FOUND)
		return -1;
	if (changed <= 0 || (double)time(NULL) - changed < grace)
		return 0;
	return delete_key(s, key) < 0 ? -1 : 1;
}

const struct bds_store_ops bds_store_http_ops = {
	.get = http_get,
	.where = http_where,
	.begin = http_begin,
	.put_file = http_put_file,
	.put_bytes = http_put_bytes,
	.commit = http_commit,
	.abort = http_abort,
	.close = http_close,
	.list = http_list,
	.remove = http_remove,
	.has = http_has,
	.put_object = http_put_object,
	.list_chunks = http_list_chunks,
	.collect_chunk = http_collect_chunk,
	.parallel = 1,
};

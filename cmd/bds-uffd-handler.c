/* bds-uffd-handler: the page-fault handler of a Firecracker snapshot restored with
 * mem_backend {"backend_type": "Uffd"}, following Firecracker's documented handshake
 * (docs/snapshotting/handling-page-faults-on-snapshot-resume.md): it listens on a unix
 * socket; Firecracker connects and sends, in one message, the userfaultfd registered over
 * guest memory (SCM_RIGHTS) and a JSON array of its regions ({"base_host_virt_addr",
 * "size", "offset", "page_size"}); from then on every first touch of a guest page is a
 * fault this program answers with UFFDIO_COPY of the snapshot's bytes.
 * The bytes come from a whole memory file (--mem), or, for a lazy restore, from the entry's
 * chunks (--store --metadata), fetched when first needed and checked against their names
 * (pagesrc.h): the VM runs before its memory has arrived. A chunk that fails its check
 * kills the VM (it must not run on memory that is not the snapshot's) and exits 2: cold. */
#define _GNU_SOURCE /* struct ucred, SO_PEERCRED */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "cache.h"
#include "cli.h"
#include "fs.h"
#include "json.h"
#include "pagesrc.h"
#include "proc.h"
#include "uffd.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-uffd-handler --socket PATH --mem FILE [options]\n"
	"       bds-uffd-handler --socket PATH --store STORE --metadata FILE --out FILE [options]\n"
	"options: --fill N (threads filling in the rest, lazy only; default 8, 0: none)\n"
	"         --working-set FILE (offsets to fill in first)  --record-working-set FILE\n"
	"         --timeout SECONDS (for Firecracker to connect and send; default 60)\n";

struct options {
	const char *socket, *mem, *store, *metadata, *out, *working_set, *record_ws;
	long fill;
	double timeout;
};

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},       {"mem", required_argument, NULL, 'm'},
		{"store", required_argument, NULL, 'S'},        {"metadata", required_argument, NULL, 'M'},
		{"out", required_argument, NULL, 'o'},          {"fill", required_argument, NULL, 'f'},
		{"working-set", required_argument, NULL, 'w'},  {"record-working-set", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 't'},      {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	long long n;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': o->socket = optarg; break;
		case 'm': o->mem = optarg; break;
		case 'S': o->store = optarg; break;
		case 'M': o->metadata = optarg; break;
		case 'o': o->out = optarg; break;
		case 'w': o->working_set = optarg; break;
		case 'r': o->record_ws = optarg; break;
		case 'f':
			if (bds_util_parse_whole(optarg, 64, &n) < 0)
				return bds_cli_usage(usage_text, "--fill takes a number of threads from 0 to 64");
			o->fill = (long)n;
			break;
		case 't':
			if (bds_util_parse_decimal(optarg, 86400, &o->timeout) < 0 || o->timeout <= 0)
				return bds_cli_usage(usage_text, "--timeout takes seconds (more than 0, at most 86400)");
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (optind < argc)
		return bds_cli_usage(usage_text, "unexpected argument");
	if (!o->socket)
		return bds_cli_usage(usage_text, "missing --socket PATH");
	int lazy = o->store || o->metadata || o->out;
	if (!!o->mem == !!lazy)
		return bds_cli_usage(usage_text, "give --mem FILE, or --store, --metadata and --out");
	if (lazy && !(o->store && o->metadata && o->out))
		return bds_cli_usage(usage_text, "a lazy restore needs --store, --metadata and --out");
	if (o->mem && o->working_set)
		return bds_cli_usage(usage_text, "--working-set is for a lazy restore");
	return 0;
}

/* The offsets of a working-set file (one decimal per line), or NULL (recorded). */
static uint64_t *read_working_set(const char *path, size_t *n)
{
	char *text = NULL;
	size_t len = 0;
	if (bds_fs_read_regular(path, (size_t)64 << 20, &text, &len) < 0)
		return NULL;
	uint64_t *v = NULL;
	size_t cap = 0;
	*n = 0;
	for (char *line = text, *next; line < text + len; line = next) {
		next = strchr(line, '\n');
		next = next ? next + 1 : text + len;
		long long off;
		char *nl = memchr(line, '\n', (size_t)(next - line));
		if (nl)
			*nl = '\0';
		if (bds_util_parse_whole(line, (long long)1 << 50, &off) < 0) {
			bds_util_fail("working set '%s': '%s' is not an offset", path, line);
			free(v);
			free(text);
			return NULL;
		}
		if (*n == cap)
			v = bds_util_xrealloc(v, (cap = cap ? cap * 2 : 1024) * sizeof *v);
		v[(*n)++] = (uint64_t)off;
	}
	free(text);
	return v ? v : bds_util_xcalloc(1, sizeof *v);
}

/* The page source of the entry's "mem": its record from metadata.json, built at `out`. */
static struct bds_pagesrc *open_lazy(const struct options *o)
{
	char *text = NULL;
	size_t len = 0;
	if (bds_fs_read_regular(o->metadata, (size_t)16 << 20, &text, &len) < 0)
		return NULL;
	jv md = bds_json_parse(text, len, o->metadata);
	free(text);
	if (!jv_is_valid(md)) {
		char *msg = bds_json_error_message(md);
		bds_util_fail("%s", msg);
		free(msg);
		return NULL;
	}
	jv record = jv_getpath(md, JV_ARRAY(jv_string("files"), jv_string("mem")));
	if (jv_get_kind(record) != JV_KIND_OBJECT) {
		jv_free(record);
		bds_util_fail("'%s': no files.mem", o->metadata);
		return NULL;
	}
	char *stage = bds_util_xstrdup(o->out);
	char *slash = strrchr(stage, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(stage, ".");
	char *cache_dir = bds_cache_dir(NULL);
	struct bds_pagesrc *p = cache_dir ? bds_pagesrc_open(o->store, cache_dir, stage, "mem", record, o->out) : NULL;
	if (!cache_dir)
		jv_free(record);
	free(cache_dir);
	free(stage);
	return p;
}

/* Listens on `path` (which must not exist), for one connection. The socket, or -1. */
static int listen_on(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		return bds_util_fail("socket '%s': longer than %zu bytes", path, sizeof a.sun_path - 1);
	strcpy(a.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old = umask(077); /* for Firecracker (the same user) and nobody else */
	int rc = s < 0 ? -1 : bind(s, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc < 0 || listen(s, 1) < 0) {
		bds_util_fail("listen on '%s': %s", path, strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

/* Opens the snapshot's bytes, listens, takes Firecracker's handshake and serves its
 * faults (uffd.h). The exit status. */
static int run(const struct options *o)
{
	struct bds_uffd *u = NULL;
	struct bds_pagesrc *src = NULL;
	int rc = BDS_EXIT_FAIL, lsock = -1, conn = -1, memfd = -1, peer = -1;
	uint64_t memsize = 0, *first = NULL;
	size_t nfirst = 0;
	if (o->mem) {
		struct stat st;
		if ((memfd = bds_fs_open_regular(o->mem, 0)) < 0 || fstat(memfd, &st) < 0)
			goto out;
		memsize = (uint64_t)st.st_size;
	} else {
		if (o->working_set && !(first = read_working_set(o->working_set, &nfirst)))
			goto out;
		if (!(src = open_lazy(o)))
			goto out;
		memsize = bds_pagesrc_size(src);
	}
	if ((lsock = listen_on(o->socket)) < 0)
		goto out;
	/* ready: the caller may now give Firecracker the socket */
	if (printf("%s\n", o->socket) < 0 || bds_util_close_stdout() < 0)
		goto out;
	double deadline = bds_util_now() + o->timeout;
	int w = bds_uffd_wait_readable(lsock, deadline);
	if (w == 0)
		bds_util_fail("no Firecracker connected to '%s' within %g s", o->socket, o->timeout);
	if (w <= 0 || (conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		if (w > 0)
			bds_util_fail("accept on '%s': %s", o->socket, strerror(errno));
		goto out;
	}
	struct ucred cred;
	socklen_t cl = sizeof cred;
	long pid = getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 ? cred.pid : 0;
	if (!(u = bds_uffd_handshake(conn, memsize, deadline)))
		goto out;
	/* Firecracker's end is its process's: the socket may close at once (before 1.11) */
	peer = pid > 1 ? bds_proc_pidfd(pid) : -1;
	int st = src && o->fill > 0 && bds_pagesrc_fill(src, (int)o->fill, first, nfirst) < 0
	                 ? -1
	                 : bds_uffd_serve(u, src ? bds_pagesrc_fd(src) : memfd, src, peer);
	char *last = NULL;
	if (st != 0) {
		/* From here on a Firecracker left alone would wait for its page for ever; cold,
		 * its memory is not the snapshot's: the VM must not run on. By its pidfd where
		 * there is one: never another process that took its pid. */
		char *why = bds_util_xstrdup(bds_util_error());
		int killed = peer >= 0 ? syscall(SYS_pidfd_send_signal, peer, SIGKILL, NULL, 0) == 0
		                       : pid > 1 && kill((pid_t)pid, SIGKILL) == 0;
		last = bds_util_xasprintf("%s%s; %s", st == BDS_UFFD_COLD ? "cold: " : "", why,
		                          killed ? "the VM was killed" : "the VM could not be killed");
		free(why);
	}
	rc = st == 0 ? BDS_EXIT_OK : st == BDS_UFFD_COLD ? BDS_EXIT_COLD : BDS_EXIT_FAIL;
	if (o->record_ws && bds_uffd_write_working_set(u, o->record_ws) < 0) {
		bds_util_warn("%s", bds_util_error());
		if (rc == BDS_EXIT_OK)
			rc = BDS_EXIT_FAIL;
	}
	uint64_t faults, copied, zeroed;
	bds_uffd_counts(u, &faults, &copied, &zeroed);
	char *what = bds_util_xasprintf("%llu faults (%.1f MiB copied in, %llu zero pages)", (unsigned long long)faults,
	                                (double)copied / 1048576, (unsigned long long)zeroed);
	if (src) {
		uint64_t present, fetched;
		bds_pagesrc_counts(src, &present, &fetched);
		bds_util_warn("%s; %.1f of %.1f MiB present, %.1f MiB of it fetched from the store", what,
		              (double)present / 1048576, (double)memsize / 1048576, (double)fetched / 1048576);
	} else {
		bds_util_warn("%s", what);
	}
	free(what);
	/* last: the line a caller shows */
	if (last)
		bds_util_warn("%s", last);
	free(last);
	goto cleanup;
out:
	bds_util_warn("%s", bds_util_error());
cleanup:
	if (lsock >= 0) {
		close(lsock);
		unlink(o->socket);
	}
	if (conn >= 0)
		close(conn);
	if (peer >= 0)
		close(peer);
	bds_uffd_free(u);
	if (src)
		bds_pagesrc_close(src);
	if (memfd >= 0)
		close(memfd);
	free(first);
	return rc;
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	bds_cli_json_nomem_fails();
	struct options o = {.fill = 8, .timeout = 60};
	int r = parse_args(argc, argv, &o);
	if (r != 0)
		return r < 0 ? BDS_EXIT_OK : r;
	return run(&o);
}

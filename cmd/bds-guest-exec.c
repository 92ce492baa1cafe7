/* bds-guest-exec: runs one command where the envelope's vm lives (a guest over ssh, or the
 * host for the local driver), with files moved in before and out after. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "envelope.h"
#include "exec.h"
#include "fs.h"
#include "json.h"
#include "keeper.h"
#include "ssh.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-guest-exec [--put LOCAL:REMOTE]... [--get REMOTE:LOCAL]... [--stdout FILE]\n"
	"                      [--timeout SEC] [--ready-timeout SEC] -- COMMAND [ARG...]\n"
	"       reads the envelope on stdin, writes it with `exec` added on stdout\n";

#define STAGE "bds-guest-exec"
#define DEFAULT_TIMEOUT 3600.0
#define DEFAULT_READY_TIMEOUT 60.0
#define MAX_SECONDS 1e7
#define COMMAND_SHOWN_MAX ((size_t)1024)

struct transfer {
	char *from, *to; /* --put: local, remote; --get: remote, local */
};

struct args {
	struct transfer *puts, *gets;
	size_t nputs, ngets;
	const char *stdout_path;
	char *stdout_abs;
	double timeout, ready_timeout;
	char **argv;
};

enum { OPT_PUT = 256, OPT_GET, OPT_STDOUT, OPT_TIMEOUT, OPT_READY };

static int usage(const char *why)
{
	if (why)
		bds_util_warn("%s", why);
	fputs(usage_text, stderr);
	return BDS_EXIT_USAGE;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > MAX_SECONDS)
		return -1;
	*out = v;
	return 0;
}

static int add_transfer(struct transfer **list, size_t *n, const char *spec)
{
	const char *colon = strchr(spec, ':');
	if (!colon || colon == spec || !colon[1])
		return -1;
	*list = bds_util_xrealloc(*list, (*n + 1) * sizeof **list);
	(*list)[*n].from = bds_util_xstrndup(spec, (size_t)(colon - spec));
	(*list)[*n].to = bds_util_xstrdup(colon + 1);
	(*n)++;
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"put", required_argument, NULL, OPT_PUT},
		{"get", required_argument, NULL, OPT_GET},
		{"stdout", required_argument, NULL, OPT_STDOUT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"ready-timeout", required_argument, NULL, OPT_READY},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	a->timeout = DEFAULT_TIMEOUT;
	a->ready_timeout = DEFAULT_READY_TIMEOUT;
	/* '+': stop at the first non-option, so the command's own options stay its own */
	opterr = 0; /* bds_cli_bad_option names what is wrong, with the short program name */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PUT:
			if (add_transfer(&a->puts, &a->nputs, optarg) < 0)
				return usage("--put takes LOCAL:REMOTE");
			break;
		case OPT_GET:
			if (add_transfer(&a->gets, &a->ngets, optarg) < 0)
				return usage("--get takes REMOTE:LOCAL");
			break;
		case OPT_STDOUT:
			if (!*optarg)
				return usage("--stdout takes a file name");
			a->stdout_path = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, &a->timeout) < 0)
				return usage("--timeout takes a number of seconds greater than 0");
			break;
		case OPT_READY:
			if (parse_seconds(optarg, &a->ready_timeout) < 0)
				return usage("--ready-timeout takes a number of seconds greater than 0");
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "+h", opts); return usage(NULL);
		}
	}
	if (optind < 2 || strcmp(argv[optind - 1], "--") != 0)
		return usage("missing -- before the command");
	if (optind == argc)
		return usage("missing command after --");
	a->argv = argv + optind;
	return 0;
}

/* Absolute form of a path, without resolving symlinks (the file may not exist yet). */
static char *absolute(const char *path, const char *base)
{
	if (path[0] == '/')
		return bds_util_xstrdup(path);
	if (base)
		return bds_util_xasprintf("%s/%s", base, path);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	char *abs = bds_util_xasprintf("%s/%s", cwd, path);
	free(cwd);
	return abs;
}

static char *command_text(char **argv)
{
	size_t n = 1;
	for (char **a = argv; *a; a++)
		n += strlen(*a) + 1;
	char *s = bds_util_xmalloc(n), *p = s;
	for (char **a = argv; *a; a++) {
		if (a != argv)
			*p++ = ' ';
		size_t l = strlen(*a);
		memcpy(p, *a, l);
		p += l;
	}
	*p = '\0';
	return s;
}

struct copy_sink {
	int fd;
	const char *path;
};

static int copy_chunk(void *arg, const char *buf, size_t n)
{
	struct copy_sink *k = arg;
	if (bds_exec_write_all(k->fd, buf, n) < 0)
		return bds_util_fail("write '%s': %s", k->path, strerror(errno));
	return 0;
}

/* Local transport copy, atomic on the receiving side, permission bits kept. A file of the
 * worktree (`regular`) must be a regular file: a FIFO there must not block us; what the
 * caller names (--put LOCAL) may be a pipe, such as <(...), but not a FIFO nobody writes. */
static int copy_file(const char *from, const char *to, int regular)
{
	int rc = -1;
	char *tmp = NULL;
	FILE *f = NULL;
	struct stat st;
	int fd = regular ? bds_fs_open_regular(from, 0) : bds_fs_open_input(from);
	if (fd == -2)
		goto done;
	if (fd < 0 || fstat(fd, &st) < 0) {
		bds_util_fail("read '%s': %s", from, strerror(errno));
		goto done;
	}
	f = bds_util_atomic_open(to, &tmp);
	if (!f)
		goto done;
	if (tmp) /* never a device or FIFO written in place */
		fchmod(fileno(f), st.st_mode & 0777);
	struct copy_sink sink = {fileno(f), tmp ? tmp : to};
	if (bds_util_read_chunks(fd, from, 65536, copy_chunk, &sink) < 0)
		goto done;
	rc = bds_util_atomic_commit(f, tmp, to);
	f = NULL;
	tmp = NULL;
done:
	bds_util_atomic_discard(f, tmp);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Where the command's stdout goes: the temporary of --stdout FILE, or our stderr. */
struct output {
	FILE *f;
	char *tmp;
	int fd;
};

static int output_open(struct output *o, const char *path)
{
	o->fd = 2;
	if (!path)
		return 0;
	o->f = bds_util_atomic_open(path, &o->tmp);
	if (!o->f)
		return -1;
	o->fd = fileno(o->f);
	return 0;
}

/* Puts --stdout FILE in place once the command succeeded (no-op without --stdout). */
static int output_commit(struct output *o, const char *path)
{
	if (!o->f)
		return 0;
	int c = bds_util_atomic_commit(o->f, o->tmp, path);
	o->f = NULL;
	o->tmp = NULL;
	if (c < 0)
		bds_util_warn("%s", bds_util_error());
	return c;
}


/* The command's outcome: 0 success, -1 failure (reported). */
static int judge(const struct args *a, const struct bds_exec_result *res)
{
	char *why = bds_exec_describe_failure(res, a->timeout);
	if (!why)
		return 0;
	char *cmd = command_text(a->argv);
	size_t n = strlen(cmd);
	/* one readable line: a long command is shown by its start and its length */
	if (n > COMMAND_SHOWN_MAX)
		bds_util_warn("command '%.*s...' (%zu bytes) failed: %s", (int)COMMAND_SHOWN_MAX, cmd, n, why);
	else
		bds_util_warn("command '%s' failed: %s", cmd, why);
	free(cmd);
	free(why);
	return -1;
}

/* The warm worktree is the pipeline's while its keeper holds the state's lock. */
struct hold {
	long keeper;
	char *lock;
};

static int still_held(void *arg)
{
	const struct hold *h = arg;
	return bds_keeper_holds(h->keeper, h->lock) ? 0 : -1;
}

static char *lost_reason(const struct hold *h)
{
	return bds_util_xasprintf("the warm state's lock '%s' is no longer held for this pipeline (its keeper, "
	                          "pid %ld, is gone): another pipeline may be using the worktree",
	                          h->lock, h->keeper);
}

/* Returns 0 ok, -1 failure (reported), 1 cold (*reason set): the lock was lost. */
static int run_local(const struct args *a, jv vm, struct bds_exec_result *res, char **reason)
{
	int rc = -1;
	char *worktree = NULL, *path = NULL;
	struct output out = {NULL, NULL, 2};
	struct hold hold = {0, NULL};
	double keeper = 0;
	int r = bds_json_get_string(jv_copy(vm), "worktree", &worktree);
	if (r < 0) {
		bds_util_warn("envelope 'vm': %s", bds_util_error());
		goto done;
	}
	if (r > 0) {
		bds_util_warn("envelope has no string 'vm.worktree' (the local transport runs commands there)");
		goto done;
	}
	if (worktree[0] != '/') {
		bds_util_warn("envelope 'vm.worktree' is not an absolute path: '%s'", worktree);
		goto done;
	}
	/* the local driver's machine: its lock and the keeper that holds it (both or none) */
	int rk = bds_json_get_number(jv_copy(vm), "keeper_pid", &keeper);
	int rl = rk < 0 ? -1 : bds_json_get_string(jv_copy(vm), "lock", &hold.lock);
	if (rk < 0 || rl < 0) {
		bds_util_warn("envelope 'vm': %s", bds_util_error());
		goto done;
	}
	if (rk == 0 && !(keeper >= 2 && keeper <= BDS_PID_MAX && keeper == (double)(long)keeper)) {
		bds_util_warn("envelope 'vm.keeper_pid' is not a pid: %g", keeper);
		goto done;
	}
	if (rk != rl) {
		bds_util_warn("envelope 'vm' has '%s' without '%s'", rk == 0 ? "keeper_pid" : "lock",
		              rk == 0 ? "lock" : "keeper_pid");
		goto done;
	}
	hold.keeper = (long)keeper;
	int gated = rk == 0;
	if (gated && still_held(&hold) != 0) {
		*reason = lost_reason(&hold);
		rc = 1;
		goto done;
	}
	for (size_t i = 0; i < a->nputs; i++) {
		free(path);
		path = absolute(a->puts[i].to, worktree);
		if (copy_file(a->puts[i].from, path, 0) < 0) {
			bds_util_warn("put '%s': %s", a->puts[i].from, bds_util_error());
			goto done;
		}
	}
	/* checked by the command's own process, once it is in the worktree: whoever takes the
	 * lock after that check finds it there and stops it */
	if (output_open(&out, a->stdout_path) < 0 ||
	    bds_exec_run_gated(a->argv, worktree, gated ? still_held : NULL, &hold, out.fd, 2,
	                       bds_util_now() + a->timeout, res) < 0) {
		bds_util_warn("%s", bds_util_error());
		goto done;
	}
	if (res->refused) {
		*reason = lost_reason(&hold);
		rc = 1;
		goto done;
	}
	if (judge(a, res) < 0)
		goto done;
	for (size_t i = 0; i < a->ngets; i++) {
		free(path);
		path = absolute(a->gets[i].from, worktree);
		if (copy_file(path, a->gets[i].to, 1) < 0) {
			bds_util_warn("get '%s': %s", a->gets[i].from, bds_util_error());
			goto done;
		}
	}
	if (output_commit(&out, a->stdout_path) < 0)
		goto done;
	rc = 0;
done:
	bds_util_atomic_discard(out.f, out.tmp);
	jv_free(vm);
	free(hold.lock);
	free(path);
	free(worktree);
	return rc;
}

static int is_hex64(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!strchr("0123456789abcdefABCDEF", s[n]))
			return 0;
	return n == 64;
}

/* Returns 0 ok, -1 failure (reported), 1 cold (*reason set). */
static int run_ssh(const struct args *a, jv guest, struct bds_exec_result *res, char **reason)
{
	int rc = -1, unreachable = 0;
	char *host = NULL, *user = NULL, *key = NULL, *pin = NULL, *command = NULL, *cwd = NULL;
	double port = 22;
	struct bds_ssh *s = NULL;
	struct output out = {NULL, NULL, 2};
	if (bds_json_get_string(jv_copy(guest), "host", &host) != 0 ||
	    bds_json_get_string(jv_copy(guest), "user", &user) != 0 ||
	    bds_json_get_string(jv_copy(guest), "key", &key) != 0 ||
	    bds_json_get_string(jv_copy(guest), "host_key_sha256", &pin) != 0 ||
	    bds_json_get_number(jv_copy(guest), "port", &port) < 0) {
		bds_util_warn("envelope 'vm.guest' needs strings host, user, key, host_key_sha256 and a number port");
		goto done;
	}
	if (port < 1 || port > 65535 || port != (double)(int)port) {
		bds_util_warn("envelope 'vm.guest.port' is not a port number: %g", port);
		goto done;
	}
	if (!is_hex64(pin)) {
		bds_util_warn("envelope 'vm.guest.host_key_sha256' is not 64 hex digits: '%s'", pin);
		goto done;
	}
	if (!*host || !*user) {
		bds_util_warn("envelope 'vm.guest.%s' is empty", *host ? "user" : "host");
		goto done;
	}
	if (key[0] != '/') {
		bds_util_warn("envelope 'vm.guest.key' is not an absolute path: '%s'", key);
		goto done;
	}
	int has_cwd = bds_json_get_string(jv_copy(guest), "cwd", &cwd);
	if (has_cwd < 0) {
		bds_util_warn("envelope 'vm.guest': %s", bds_util_error());
		goto done;
	}
	if (has_cwd == 0 && cwd[0] != '/') {
		bds_util_warn("envelope 'vm.guest.cwd' is not an absolute path: '%s'", cwd);
		goto done;
	}
	struct bds_ssh_guest g = {host, (int)port, user, key, pin};
	double now = bds_util_now();
	s = bds_ssh_connect(&g, now + a->ready_timeout, now + a->timeout, &unreachable);
	if (!s) {
		if (unreachable) {
			*reason = bds_util_xstrdup(bds_util_error());
			rc = 1;
		} else {
			bds_util_warn("%s", bds_util_error());
		}
		goto done;
	}
	for (size_t i = 0; i < a->nputs; i++)
		if (bds_ssh_put(s, a->puts[i].from, a->puts[i].to, bds_util_now() + a->timeout) < 0) {
			bds_util_warn("put '%s': %s", a->puts[i].from, bds_util_error());
			goto done;
		}
	/* VM drivers name the guest's workspace: commands run there, as the local ones do.
	 * The remote shell execs the command (its pid is the one a deadline kills), so the
	 * directory change happens in an sh that execs the command in turn. */
	if (cwd) {
		size_t n = 0;
		while (a->argv[n])
			n++;
		char **in_dir = bds_util_xcalloc(n + 6, sizeof *in_dir);
		in_dir[0] = "sh";
		in_dir[1] = "-c";
		in_dir[2] = "cd \"$1\" && shift && exec \"$@\"";
		in_dir[3] = "sh";
		in_dir[4] = cwd;
		memcpy(in_dir + 5, a->argv, n * sizeof *in_dir);
		command = bds_ssh_quote_argv(in_dir);
		free(in_dir);
	} else {
		command = bds_ssh_quote_argv(a->argv);
	}
	if (output_open(&out, a->stdout_path) < 0 ||
	    bds_ssh_exec(s, command, out.fd, 2, bds_util_now() + a->timeout, res) < 0) {
		bds_util_warn("%s", bds_util_error());
		goto done;
	}
	if (judge(a, res) < 0)
		goto done;
	for (size_t i = 0; i < a->ngets; i++)
		if (bds_ssh_get(s, a->gets[i].from, a->gets[i].to, bds_util_now() + a->timeout) < 0) {
			bds_util_warn("get '%s': %s", a->gets[i].from, bds_util_error());
			goto done;
		}
	if (output_commit(&out, a->stdout_path) < 0)
		goto done;
	rc = 0;
done:
	bds_util_atomic_discard(out.f, out.tmp);
	bds_ssh_close(s);
	jv_free(guest);
	free(command);
	free(cwd);
	free(host);
	free(user);
	free(key);
	free(pin);
	return rc;
}

static void on_signal(int sig)
{
	bds_exec_interrupt = sig;
}

/* TERM, INT and HUP stop the command (its process group is ours to kill: it does not get
 * the signal itself) and make us fail after cleaning up. No SA_RESTART: waits must wake. */
static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static jv exec_result(const struct args *a, const struct bds_exec_result *res)
{
	jv cmd = jv_array();
	for (char **p = a->argv; *p; p++)
		cmd = jv_array_append(cmd, jv_string(*p));
	jv e = jv_object();
	e = jv_object_set(e, jv_string("command"), cmd);
	e = jv_object_set(e, jv_string("status"), jv_number(res->status));
	e = jv_object_set(e, jv_string("seconds"), jv_number((double)(long long)(res->seconds * 1000 + 0.5) / 1000));
	if (a->stdout_abs)
		e = jv_object_set(e, jv_string("stdout"), jv_string(a->stdout_abs));
	return e;
}

/* libjq cannot return an allocation failure: the JSON read is too large for the memory
 * there is, which is the input's failure (exit 1), not a crash. */
static void json_no_memory(void *arg)
{
	(void)arg;
	bds_util_warn("out of memory parsing JSON input");
	_exit(BDS_EXIT_FAIL);
}

int main(int argc, char **argv)
{
	int rc = BDS_EXIT_FAIL;
	struct args a = {0};
	jv env = jv_null();
	char *reason = NULL;

	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	jv_nomem_handler(json_no_memory, NULL);
	/* a closed reader must give a write error, not kill us before the child is reaped */
	signal(SIGPIPE, SIG_IGN);
	int p = parse_args(argc, argv, &a);
	if (p != 0) {
		rc = p < 0 ? BDS_EXIT_OK : p;
		goto done;
	}
	if (a.stdout_path && !(a.stdout_abs = absolute(a.stdout_path, NULL))) {
		bds_util_warn("resolve '%s': %s", a.stdout_path, strerror(errno));
		goto done;
	}
	switch (bds_envelope_begin(stdin, stdout, &env)) {
	case BDS_ENVELOPE_COLD:
		rc = bds_util_close_stdout() < 0 ? BDS_EXIT_FAIL : BDS_EXIT_COLD;
		goto done;
	case BDS_ENVELOPE_ERROR:
		bds_util_warn("%s", bds_util_error());
		goto done;
	case BDS_ENVELOPE_PROCEED:
		break;
	}
	/* only now: until the envelope is read there is nothing to clean up */
	catch_signals();
	jv vm = bds_json_get(jv_copy(env), "vm", JV_KIND_OBJECT);
	if (!jv_is_valid(vm)) {
		jv_free(vm);
		bds_util_warn("envelope has no object 'vm' (run bds-vm-restore first)");
		goto done;
	}
	jv guest = bds_json_get(jv_copy(vm), "guest", JV_KIND_OBJECT);
	struct bds_exec_result res;
	memset(&res, 0, sizeof res);
	int r;
	if (jv_is_valid(guest)) {
		jv_free(vm);
		r = run_ssh(&a, guest, &res, &reason);
	} else if (jv_invalid_has_msg(jv_copy(guest))) {
		jv_free(guest);
		jv_free(vm);
		bds_util_warn("envelope 'vm.guest' is not an object");
		goto done;
	} else {
		jv_free(guest);
		r = run_local(&a, vm, &res, &reason);
	}
	if (r < 0)
		goto done;
	if (r > 0) {
		bds_util_warn("cold: %s", reason);
		env = bds_envelope_set_cold(env, STAGE, reason);
		if (bds_envelope_write(stdout, env) == 0 && bds_util_close_stdout() == 0)
			rc = BDS_EXIT_COLD;
		else
			bds_util_warn("%s", bds_util_error());
		env = jv_null();
		goto done;
	}
	env = jv_object_set(env, jv_string("exec"), exec_result(&a, &res));
	if (bds_envelope_write(stdout, env) < 0 || bds_util_close_stdout() < 0) {
		env = jv_null();
		bds_util_warn("%s", bds_util_error());
		goto done;
	}
	env = jv_null();
	rc = BDS_EXIT_OK;
done:
	jv_free(env);
	for (size_t i = 0; i < a.nputs; i++)
		free(a.puts[i].from), free(a.puts[i].to);
	for (size_t i = 0; i < a.ngets; i++)
		free(a.gets[i].from), free(a.gets[i].to);
	free(a.puts);
	free(a.gets);
	free(a.stdout_abs);
	free(reason);
	return rc;
}

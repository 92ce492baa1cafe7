/* bds-guest-exec: runs one command where the envelope's vm lives (a guest over ssh, or the
 * host for the local driver), with files moved in before and out after. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "envelope.h"
#include "exec.h"
#include "json.h"
#include "transport.h"
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

struct args {
	struct bds_transport_file *puts, *gets;
	size_t nputs, ngets;
	const char *stdout_path;
	char *stdout_abs;
	double timeout, ready_timeout;
	char **argv;
};

enum { OPT_PUT = 256, OPT_GET, OPT_STDOUT, OPT_TIMEOUT, OPT_READY };

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

static int add_transfer(struct bds_transport_file **list, size_t *n, const char *spec)
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
				return bds_cli_usage(usage_text, "--put takes LOCAL:REMOTE");
			break;
		case OPT_GET:
			if (add_transfer(&a->gets, &a->ngets, optarg) < 0)
				return bds_cli_usage(usage_text, "--get takes REMOTE:LOCAL");
			break;
		case OPT_STDOUT:
			if (!*optarg)
				return bds_cli_usage(usage_text, "--stdout takes a file name");
			a->stdout_path = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, &a->timeout) < 0)
				return bds_cli_usage(usage_text, "--timeout takes a number of seconds greater than 0");
			break;
		case OPT_READY:
			if (parse_seconds(optarg, &a->ready_timeout) < 0)
				return bds_cli_usage(usage_text, "--ready-timeout takes a number of seconds greater than 0");
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "+h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (optind < 2 || strcmp(argv[optind - 1], "--") != 0)
		return bds_cli_usage(usage_text, "missing -- before the command");
	if (optind == argc)
		return bds_cli_usage(usage_text, "missing command after --");
	a->argv = argv + optind;
	return 0;
}

/* Absolute form of a path, without resolving symlinks (the file may not exist yet). */
static char *absolute(const char *path)
{
	if (path[0] == '/')
		return bds_util_xstrdup(path);
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

/* Runs the command where vm lives, with its files moved in before and out after. Consumes
 * vm. The session ends here, before the envelope goes out: the stage that reads it next
 * finds this one done with the guest. */
static enum bds_transport_status run(const struct args *a, jv vm, struct bds_exec_result *res)
{
	struct bds_transport *t = NULL;
	struct bds_transport_job job = {a->argv, a->puts, a->gets, a->nputs, a->ngets, a->stdout_path, 2, a->timeout};
	enum bds_transport_status r = bds_transport_open(vm, a->ready_timeout, a->timeout, &t);
	if (r == BDS_TRANSPORT_OK)
		r = bds_transport_run(t, &job, res);
	bds_transport_close(t); /* records nothing: the error of a failed step is still there */
	return r;
}

/* TERM, INT and HUP stop the command (its process group is ours to kill: it does not get
 * the signal itself) and make us fail after cleaning up. */
static void on_signal(int sig)
{
	bds_exec_interrupt = sig;
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

/* The stage after the envelope is read (env consumed): runs the command where its vm
 * lives and writes the envelope with `exec` added, or cold. The exit status. */
static int stage(const struct args *a, jv env)
{
	int rc = BDS_EXIT_FAIL;
	char *reason = NULL;
	/* only now: until the envelope is read there is nothing to clean up */
	bds_exec_catch_stop_signals(on_signal);
	jv vm = bds_json_get(jv_copy(env), "vm", JV_KIND_OBJECT);
	if (!jv_is_valid(vm)) {
		jv_free(vm);
		bds_util_warn("envelope has no object 'vm' (run bds-vm-restore first)");
		goto done;
	}
	struct bds_exec_result res;
	memset(&res, 0, sizeof res);
	enum bds_transport_status r = run(a, vm, &res);
	if (r == BDS_TRANSPORT_FAIL) {
		bds_util_warn("%s", bds_util_error());
		goto done;
	}
	if (r == BDS_TRANSPORT_COLD) {
		reason = bds_util_xstrdup(bds_util_error());
		bds_util_warn("cold: %s", reason);
		rc = bds_cli_envelope_finish(bds_envelope_set_cold(env, STAGE, reason), BDS_EXIT_COLD);
		env = jv_null();
		goto done;
	}
	if (judge(a, &res) < 0)
		goto done;
	rc = bds_cli_envelope_finish(jv_object_set(env, jv_string("exec"), exec_result(a, &res)), BDS_EXIT_OK);
	env = jv_null();
done:
	jv_free(env);
	free(reason);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = BDS_EXIT_FAIL;
	struct args a = {0};
	jv env = jv_null();

	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	bds_cli_json_nomem_fails();
	/* a closed reader must give a write error, not kill us before the child is reaped */
	signal(SIGPIPE, SIG_IGN);
	int p = parse_args(argc, argv, &a);
	if (p != 0)
		rc = p < 0 ? BDS_EXIT_OK : p;
	else if (a.stdout_path && !(a.stdout_abs = absolute(a.stdout_path)))
		bds_util_warn("resolve '%s': %s", a.stdout_path, strerror(errno));
	else if ((rc = bds_cli_envelope_begin(&env)) == 0)
		rc = stage(&a, env);
	for (size_t i = 0; i < a.nputs; i++)
		free(a.puts[i].from), free(a.puts[i].to);
	for (size_t i = 0; i < a.ngets; i++)
		free(a.gets[i].from), free(a.gets[i].to);
	free(a.puts);
	free(a.gets);
	free(a.stdout_abs);
	return rc;
}

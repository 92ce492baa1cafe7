/* transport: the local and the ssh transport behind one ops table, and the put, exec, get
 * sequence written once above them (transport.h). */
#include "transport.h"

#include "fs.h"
#include "json.h"
#include "keeper.h"
#include "ssh.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- local: the host's worktree */

/* The warm worktree is the pipeline's while its keeper holds the state's lock. */
static int still_held(void *arg)
{
	const struct bds_transport *t = arg;
	return bds_keeper_holds(t->keeper, t->lock) ? 0 : -1;
}

static enum bds_transport_status lock_lost(const struct bds_transport *t)
{
	bds_util_fail("the warm state's lock '%s' is no longer held for this pipeline (its keeper, "
	              "pid %ld, is gone): another pipeline may be using the worktree",
	              t->lock, t->keeper);
	return BDS_TRANSPORT_COLD;
}

/* A machine path on the host: relative ones are the worktree's. Not resolved: the file
 * may not exist yet. */
static char *in_worktree(const struct bds_transport *t, const char *path)
{
	return path[0] == '/' ? bds_util_xstrdup(path) : bds_util_xasprintf("%s/%s", t->dir, path);
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

/* Copy, atomic on the receiving side, permission bits kept. A file of the worktree
 * (`regular`) must be a regular file: a FIFO there must not block us; what the caller
 * names (--put LOCAL) may be a pipe, such as <(...), but not a FIFO nobody writes. */
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

/* Between a host file and a worktree file, either way. No deadline: a copy on the host
 * does not hang (a FIFO nobody writes is refused). */
static int local_copy(struct bds_transport *t, const char *host, const char *machine, int put)
{
	char *path = in_worktree(t, machine);
	int rc = put ? copy_file(host, path, 0) : copy_file(path, host, 1);
	free(path);
	return rc;
}

static int local_put(struct bds_transport *t, const char *local, const char *remote, double deadline)
{
	(void)deadline;
	return local_copy(t, local, remote, 1);
}

static int local_get(struct bds_transport *t, const char *remote, const char *local, double deadline)
{
	(void)deadline;
	return local_copy(t, local, remote, 0);
}

/* The lock is checked by the command's own process, once it is in the worktree: whoever
 * takes the lock after that check finds it there and stops it. */
static enum bds_transport_status local_exec(struct bds_transport *t, char *const argv[], int out_fd, int err_fd,
                                            double deadline, struct bds_exec_result *res)
{
	if (bds_exec_run_gated(argv, t->dir, t->lock ? still_held : NULL, t, out_fd, err_fd, deadline, res) < 0)
		return BDS_TRANSPORT_FAIL;
	return res->refused ? lock_lost(t) : BDS_TRANSPORT_OK;
}

/* nothing to end: the files and the command are the host's */
static const struct bds_transport_ops local_ops = {"local", local_put, local_exec, local_get, NULL};

/* vm (borrowed): the local driver's machine, its worktree and, both or none, its lock
 * and the keeper that holds it. */
static enum bds_transport_status local_open(jv vm, struct bds_transport *t)
{
	t->ops = &local_ops;
	int r = bds_json_get_string(jv_copy(vm), "worktree", &t->dir);
	if (r < 0)
		return bds_util_fail("envelope 'vm': %s", bds_util_error());
	if (r > 0)
		return bds_util_fail("envelope has no string 'vm.worktree' (the local transport runs commands there)");
	if (t->dir[0] != '/')
		return bds_util_fail("envelope 'vm.worktree' is not an absolute path: '%s'", t->dir);
	double keeper = 0;
	int rk = bds_json_get_number(jv_copy(vm), "keeper_pid", &keeper);
	int rl = rk < 0 ? -1 : bds_json_get_string(jv_copy(vm), "lock", &t->lock);
	if (rk < 0 || rl < 0)
		return bds_util_fail("envelope 'vm': %s", bds_util_error());
	if (rk == 0 && !(keeper >= 2 && keeper <= BDS_PID_MAX && keeper == (double)(long)keeper))
		return bds_util_fail("envelope 'vm.keeper_pid' is not a pid: %g", keeper);
	if (rk != rl)
		return bds_util_fail("envelope 'vm' has '%s' without '%s'", rk == 0 ? "keeper_pid" : "lock",
		                     rk == 0 ? "lock" : "keeper_pid");
	t->keeper = (long)keeper;
	return t->lock && still_held(t) != 0 ? lock_lost(t) : BDS_TRANSPORT_OK;
}

/* ---------------------------------------------------------------- ssh: a guest */

static int ssh_put(struct bds_transport *t, const char *local, const char *remote, double deadline)
{
	return bds_ssh_put(t->session, local, remote, deadline);
}

static int ssh_get(struct bds_transport *t, const char *remote, const char *local, double deadline)
{
	return bds_ssh_get(t->session, remote, local, deadline);
}

/* VM drivers name the guest's workspace: commands run there, as the local ones do. The
 * remote shell execs the command (its pid is the one a deadline kills), so the directory
 * change happens in an sh that execs the command in turn. */
static enum bds_transport_status ssh_exec(struct bds_transport *t, char *const argv[], int out_fd, int err_fd,
                                          double deadline, struct bds_exec_result *res)
{
	char *command;
	if (t->dir) {
		size_t n = 0;
		while (argv[n])
			n++;
		char **in_dir = bds_util_xcalloc(n + 6, sizeof *in_dir);
		in_dir[0] = "sh";
		in_dir[1] = "-c";
		in_dir[2] = "cd \"$1\" && shift && exec \"$@\"";
		in_dir[3] = "sh";
		in_dir[4] = t->dir;
		memcpy(in_dir + 5, argv, n * sizeof *in_dir);
		command = bds_ssh_quote_argv(in_dir);
		free(in_dir);
	} else {
		command = bds_ssh_quote_argv(argv);
	}
	int r = bds_ssh_exec(t->session, command, out_fd, err_fd, deadline, res);
	free(command);
	return r < 0 ? BDS_TRANSPORT_FAIL : BDS_TRANSPORT_OK;
}

static void ssh_close(struct bds_transport *t)
{
	bds_ssh_close(t->session);
}

static const struct bds_transport_ops ssh_ops = {"ssh", ssh_put, ssh_exec, ssh_get, ssh_close};

/* What vm.guest says of the guest. */
struct guest {
	char *host, *user, *key, *pin;
	double port;
};

/* Reads and checks vm.guest (borrowed) into g, and the guest's workspace into t->dir.
 * 0, or -1 (recorded). g's strings are the caller's to free, whatever the outcome. */
static int guest_read(jv guest, struct guest *g, struct bds_transport *t)
{
	if (bds_json_get_string(jv_copy(guest), "host", &g->host) != 0 ||
	    bds_json_get_string(jv_copy(guest), "user", &g->user) != 0 ||
	    bds_json_get_string(jv_copy(guest), "key", &g->key) != 0 ||
	    bds_json_get_string(jv_copy(guest), "host_key_sha256", &g->pin) != 0 ||
	    bds_json_get_number(jv_copy(guest), "port", &g->port) < 0)
		return bds_util_fail("envelope 'vm.guest' needs strings host, user, key, host_key_sha256 and a number port");
	if (g->port < 1 || g->port > 65535 || g->port != (double)(int)g->port)
		return bds_util_fail("envelope 'vm.guest.port' is not a port number: %g", g->port);
	if (!bds_util_is_hex_any_case(g->pin, 64))
		return bds_util_fail("envelope 'vm.guest.host_key_sha256' is not 64 hex digits: '%s'", g->pin);
	if (!*g->host || !*g->user)
		return bds_util_fail("envelope 'vm.guest.%s' is empty", *g->host ? "user" : "host");
	if (g->key[0] != '/')
		return bds_util_fail("envelope 'vm.guest.key' is not an absolute path: '%s'", g->key);
	int has_cwd = bds_json_get_string(jv_copy(guest), "cwd", &t->dir);
	if (has_cwd < 0)
		return bds_util_fail("envelope 'vm.guest': %s", bds_util_error());
	if (has_cwd == 0 && t->dir[0] != '/')
		return bds_util_fail("envelope 'vm.guest.cwd' is not an absolute path: '%s'", t->dir);
	return 0;
}

/* guest (borrowed): vm.guest, how to reach the VM drivers' guest. */
static enum bds_transport_status ssh_open(jv guest, double ready_timeout, double timeout, struct bds_transport *t)
{
	enum bds_transport_status rc = BDS_TRANSPORT_FAIL;
	struct guest g = {NULL, NULL, NULL, NULL, 22};
	int unreachable = 0;
	t->ops = &ssh_ops;
	if (guest_read(guest, &g, t) == 0) {
		struct bds_ssh_guest to = {g.host, (int)g.port, g.user, g.key, g.pin};
		double now = bds_util_now();
		t->session = bds_ssh_connect(&to, now + ready_timeout, now + timeout, &unreachable);
		rc = t->session ? BDS_TRANSPORT_OK : unreachable ? BDS_TRANSPORT_COLD : BDS_TRANSPORT_FAIL;
	}
	free(g.host);
	free(g.user);
	free(g.key);
	free(g.pin);
	return rc;
}

/* ---------------------------------------------------------------- for both: the choice and the sequence */

enum bds_transport_status bds_transport_open(jv vm, double ready_timeout, double timeout,
                                             struct bds_transport **out)
{
	enum bds_transport_status rc = BDS_TRANSPORT_FAIL;
	struct bds_transport *t = NULL;
	jv guest = bds_json_get(jv_copy(vm), "guest", JV_KIND_OBJECT);
	if (!jv_is_valid(guest) && jv_invalid_has_msg(jv_copy(guest))) {
		bds_util_fail("envelope 'vm.guest' is not an object");
		goto done;
	}
	t = bds_util_xcalloc(1, sizeof *t);
	rc = jv_is_valid(guest) ? ssh_open(guest, ready_timeout, timeout, t) : local_open(vm, t);
	if (rc != BDS_TRANSPORT_OK) {
		bds_transport_close(t);
		t = NULL;
	}
done:
	jv_free(guest);
	jv_free(vm);
	*out = t;
	return rc;
}

static int succeeded(const struct bds_exec_result *res)
{
	char *why = bds_exec_describe_failure(res, 0);
	int ok = why == NULL;
	free(why);
	return ok;
}

enum bds_transport_status bds_transport_run(struct bds_transport *t, const struct bds_transport_job *job,
                                            struct bds_exec_result *res)
{
	enum bds_transport_status rc = BDS_TRANSPORT_FAIL;
	FILE *out = NULL; /* stdout_path's temporary, until the command succeeded */
	char *out_tmp = NULL;
	for (size_t i = 0; i < job->nputs; i++)
		if (t->ops->put(t, job->puts[i].from, job->puts[i].to, bds_util_now() + job->timeout) < 0) {
			bds_util_fail("put '%s': %s", job->puts[i].from, bds_util_error());
			goto done;
		}
	if (job->stdout_path && !(out = bds_util_atomic_open(job->stdout_path, &out_tmp)))
		goto done;
	rc = t->ops->exec(t, job->argv, out ? fileno(out) : job->err_fd, job->err_fd, bds_util_now() + job->timeout,
	                  res);
	if (rc != BDS_TRANSPORT_OK || !succeeded(res))
		goto done;
	rc = BDS_TRANSPORT_FAIL;
	for (size_t i = 0; i < job->ngets; i++)
		if (t->ops->get(t, job->gets[i].from, job->gets[i].to, bds_util_now() + job->timeout) < 0) {
			bds_util_fail("get '%s': %s", job->gets[i].from, bds_util_error());
			goto done;
		}
	if (out) {
		int c = bds_util_atomic_commit(out, out_tmp, job->stdout_path);
		out = NULL;
		out_tmp = NULL;
		if (c < 0)
			goto done;
	}
	rc = BDS_TRANSPORT_OK;
done:
	bds_util_atomic_discard(out, out_tmp);
	return rc;
}

void bds_transport_close(struct bds_transport *t)
{
	if (!t)
		return;
	if (t->ops->close)
		t->ops->close(t);
	free(t->dir);
	free(t->lock);
	free(t);
}

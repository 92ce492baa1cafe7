/* driver-local: the warm state is a live Bazel server with its own output base and a
 * checkout of its own, kept on this host between record and consume. Restore means
 * reattaching to it; if it is gone, the consume is cold.
 *
 * The checkout ("worktree") is a git repository of its own, not a `git worktree` of the
 * recording clone: the warm machine belongs to the repository, not to one clone, so any
 * clone on this host consumes warm, and deleting the recording clone loses nothing.
 * bds-guest-checkout fetches each commit it lacks from the consuming clone (only read).
 *
 * One pipeline at a time uses a warm state: its lock (state.lock, a kernel lock) is held
 * by a keeper process for as long as the pipeline (args->lock_owner) lives. A pipeline
 * killed with SIGKILL may leave a command working in the worktree (a checkout, a query's
 * client: they run in process groups of their own); whoever takes the lock next stops
 * them before it uses the worktree, and so does the keeper when its owner dies. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "driver.h"

#include "exec.h"
#include "fs.h"
#include "keeper.h"
#include "json.h"
#include "lock.h"
#include "proc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GIT_TIMEOUT 600.0
#define SERVER_STOP_TIMEOUT 30.0
/* How long what a dead pipeline left in the worktree may take to die after SIGKILL. */
#define CLEAR_TIMEOUT 10.0
/* The warm state's lock file (a kernel lock: lock.h). */
#define STATE_LOCK "state.lock"

static int mkdir_p(const char *path)
{
	char *p = bds_util_xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			return bds_util_fail("create '%s': %s", path, strerror(e));
		}
		*s = '/';
	}
	int rc = mkdir(p, 0755) != 0 && errno != EEXIST ? bds_util_fail("create '%s': %s", path, strerror(errno)) : 0;
	free(p);
	return rc;
}

/* Runs git quietly (its messages go to our stderr); 0 when it exited 0. */
static int git(char *const argv[])
{
	struct bds_exec_result res;
	if (bds_exec_run(argv, NULL, 2, 2, bds_util_now() + GIT_TIMEOUT, &res) < 0)
		return -1;
	if (res.timed_out || res.signal[0] || res.status != 0) {
		char *why = bds_exec_describe_failure(&res, GIT_TIMEOUT);
		bds_util_fail("command 'git %s' failed: %s", argv[3] ? argv[3] : "", why ? why : "");
		free(why);
		return -1;
	}
	return 0;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* `git rev-parse --path-format=absolute WHAT` in dir (malloc'd, one line), NULL if dir is
 * not in a git work tree. */
static char *rev_parse_path(const char *dir, const char *what)
{
	char *argv[] = {"git", "-C", (char *)dir, "rev-parse", "--path-format=absolute", (char *)what, NULL};
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	size_t len = 0;
	char *out = bds_exec_capture(argv, NULL, devnull >= 0 ? devnull : 2, 1 << 16, bds_util_now() + GIT_TIMEOUT, &len);
	if (devnull >= 0)
		close(devnull);
	if (out)
		out[strcspn(out, "\n")] = '\0';
	return out;
}

/* Is `worktree` a repository of its own (its .git a directory that git uses), not a
 * `git worktree` of a clone (a .git file), as bds before 2026-12 made it? */
static int own_repository(const char *worktree)
{
	char *dotgit = bds_util_xasprintf("%s/.git", worktree);
	char *mine = is_dir(dotgit) ? rev_parse_path(worktree, "--git-common-dir") : NULL;
	char *a = mine ? realpath(mine, NULL) : NULL, *b = a ? realpath(dotgit, NULL) : NULL;
	int ok = a && b && strcmp(a, b) == 0;
	free(a);
	free(b);
	free(mine);
	free(dotgit);
	return ok;
}

/* Makes the warm machine's repository at `worktree`, the base checked out, fetched from
 * the recording clone `workspace` (only read) one commit deep: bds-guest-checkout
 * fetches later commits the same way, from whichever clone consumes. Protocol 2 serves
 * any commit by its sha. The repository never collects garbage on its own (a commit
 * fetched earlier stays: a consume with another base may need it again, and a shallow
 * consuming clone may not hold it); it goes with its warm state. 0, or -1 recorded. */
static int init_repository(const char *worktree, const char *workspace, const char *base)
{
	char *top = rev_parse_path(workspace, "--show-toplevel");
	if (!top)
		return bds_util_fail("workspace '%s': not in a git work tree", workspace);
	/* (a branch name set: no hint about choosing one) */
	char *init[] = {"git", "-c", "init.defaultBranch=bds", "init", "--quiet", (char *)worktree, NULL};
	char *config[][7] = {
		{"git", "-C", (char *)worktree, "config", "gc.auto", "0", NULL},
		{"git", "-C", (char *)worktree, "config", "maintenance.auto", "false", NULL},
		{"git", "-C", (char *)worktree, "config", "protocol.version", "2", NULL},
	};
	char *fetch[] = {"git", "-C", (char *)worktree, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
	                 "--depth=1", top, (char *)base, NULL};
	char *checkout[] = {"git", "-C", (char *)worktree, "checkout", "--quiet", "--detach", (char *)base, NULL};
	int rc = git(init);
	for (size_t i = 0; rc == 0 && i < sizeof config / sizeof *config; i++)
		rc = git(config[i]);
	if (rc == 0)
		rc = git(fetch) < 0 || git(checkout) < 0 ? -1 : 0;
	free(top);
	return rc;
}

/* Is pid gone: no such process, or a zombie (nobody may ever reap it)? */
static int gone(long pid)
{
	char state = 0;
	unsigned long long start = 0;
	return !bds_proc_stat(pid, &state, &start) || state == 'Z' || state == 'X';
}

/* The Bazel server of an output base: its pid, if that process is alive and serves it. */
static long server_pid(const char *output_base)
{
	char *pid_file = bds_util_xasprintf("%s/server/server.pid.txt", output_base);
	char *text = NULL;
	size_t len = 0;
	long pid = 0;
	if (bds_util_read_file(pid_file, 64, &text, &len) == 0) {
		text[strcspn(text, "\n")] = '\0';
		if (bds_util_parse_pid(text, &pid) < 0)
			pid = 0;
	}
	free(text);
	free(pid_file);
	if (!pid || gone(pid))
		return 0;
	/* the pid may have been reused: the server's command line names its output base */
	char *cmdline_file = bds_util_xasprintf("/proc/%ld/cmdline", pid);
	char *cmd = NULL;
	int ours = 0;
	if (bds_util_read_file(cmdline_file, (size_t)1 << 20, &cmd, &len) == 0) {
		for (size_t i = 0; i < len; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		ours = strstr(cmd, output_base) != NULL;
	}
	free(cmd);
	free(cmdline_file);
	return ours ? pid : 0;
}

/* Stops the Bazel server of an output base, if one runs: SIGTERM, then SIGKILL. 0, or -1
 * recorded when it is still there after both. */
static int stop_server(const char *output_base)
{
	long pid = server_pid(output_base);
	if (!pid)
		return 0;
	for (int sig = 0; sig < 2; sig++) {
		kill((pid_t)pid, sig == 0 ? SIGTERM : SIGKILL);
		double deadline = bds_util_now() + SERVER_STOP_TIMEOUT;
		while (!gone(pid) && bds_util_now() < deadline)
			bds_util_sleep_ms(50);
		if (gone(pid))
			return 0;
	}
	return bds_util_fail("the Bazel server (pid %ld) of '%s' did not stop", pid, output_base);
}

/* Removes the lock files a git command killed in the worktree leaves behind (git removes
 * them itself unless killed with SIGKILL): with them the next checkout or fetch would
 * fail. */
static void remove_git_locks(const char *worktree)
{
	const char *names[] = {"index.lock", "HEAD.lock", "shallow.lock", "config.lock"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char *lock = bds_util_xasprintf("%s/.git/%s", worktree, names[i]);
		unlink(lock);
		free(lock);
	}
}

/* Stops whatever still works in the worktree of a state whose lock is held (by us, or by
 * the keeper whose owner died): it belongs to a pipeline that is dead. The warm server is
 * spared (its working directory is the workspace). 0, or -1 recorded (something could not
 * be stopped in time). */
static int clear_worktree(const char *worktree, const char *output_base)
{
	long server = server_pid(output_base);
	int n = bds_proc_kill_in(worktree, &server, server ? 1 : 0, bds_util_now() + CLEAR_TIMEOUT);
	if (n < 0)
		return bds_util_fail("stop what a dead pipeline left running in the worktree: %s", bds_util_error());
	if (n > 0)
		remove_git_locks(worktree);
	return 0;
}

/* The keeper's: its owner, the pipeline, died (it was not stopped): its commands go
 * before the lock does. */
struct worktree_paths {
	const char *worktree, *output_base;
};

static void owner_died(void *arg)
{
	const struct worktree_paths *p = arg;
	clear_worktree(p->worktree, p->output_base);
}

/* Hands the taken lock to a keeper that holds it while `owner` lives. 0, or -1 recorded
 * (the lock is released). */
static int keep_lock(int lock_fd, long owner, const char *worktree, const char *output_base, jv *vm)
{
	long keeper = 0;
	/* the keeper is a fork of this process: these stay valid in it */
	struct worktree_paths paths = {worktree, output_base};
	struct bds_keeper_spec ks = {.lock_fds = &lock_fd, .nlock_fds = 1, .owner = owner,
	                             .owner_died = owner_died, .owner_died_arg = &paths};
	int rc = bds_keeper_start(&ks, &keeper, NULL);
	bds_lock_release(lock_fd);
	if (rc == 0)
		*vm = jv_object_set(*vm, jv_string("keeper_pid"), jv_number((double)keeper));
	return rc;
}

static jv local_vm(const char *base, const char *state_dir, const char *bazel)
{
	jv vm = jv_object();
	vm = jv_object_set(vm, jv_string("driver"), jv_string("local"));
	vm = jv_object_set(vm, jv_string("base"), jv_string(base));
	vm = jv_object_set(vm, jv_string("state_dir"), jv_string(state_dir));
	vm = jv_object_set(vm, jv_string("worktree"), jv_string_fmt("%s/worktree", state_dir));
	vm = jv_object_set(vm, jv_string("output_base"), jv_string_fmt("%s/output_base", state_dir));
	vm = jv_object_set(vm, jv_string("lock"), jv_string_fmt("%s/" STATE_LOCK, state_dir));
	vm = jv_object_set(vm, jv_string("bazel"), jv_string(bazel));
	return jv_object_set(vm, jv_string("startup_options"),
	                     jv_array_append(jv_array(), jv_string_fmt("--output_base=%s/output_base", state_dir)));
}

static enum bds_driver_status local_boot(const struct bds_driver_args *a, jv *vm)
{
	char *fp = NULL, *ws = NULL, *state_dir = NULL, *worktree = NULL, *output_base = NULL, *lock = NULL;
	enum bds_driver_status st = BDS_DRIVER_FAIL;
	int lock_fd = -1;
	if (bds_json_get_string(jv_copy(a->env), "workspace", &ws) != 0 ||
	    bds_json_get_string(bds_json_get(jv_copy(a->env), "fingerprint", JV_KIND_OBJECT), "key", &fp) != 0) {
		bds_util_fail("envelope: needs workspace and fingerprint.key");
		goto out;
	}
	state_dir = bds_util_xasprintf("%s/local/%s/%s", a->cache, fp, a->base);
	worktree = bds_util_xasprintf("%s/worktree", state_dir);
	output_base = bds_util_xasprintf("%s/output_base", state_dir);
	lock = bds_util_xasprintf("%s/" STATE_LOCK, state_dir);
	if (mkdir_p(state_dir) < 0)
		goto out;
	int busy = bds_lock_take(lock, a->lock_timeout, &lock_fd);
	if (busy < 0)
		goto out;
	if (busy) {
		bds_util_fail("the local warm state of %s/%s is busy (lock '%s')", fp, a->base, lock);
		goto out;
	}
	if (clear_worktree(worktree, output_base) < 0)
		goto out;
	/* A re-record of the same base, from any clone, reuses its repository (its server is
	 * warm); anything else (none, or a `git worktree` an older bds made) is replaced by a
	 * fresh repository, and the server that served the old one goes with it. */
	if (!own_repository(worktree)) {
		if (stop_server(output_base) < 0)
			goto out;
		bds_fs_remove_tree(worktree);
		if (init_repository(worktree, ws, a->base) < 0)
			goto out;
	}
	jv v = local_vm(a->base, state_dir, a->bazel);
	int kept = keep_lock(lock_fd, a->lock_owner, worktree, output_base, &v);
	lock_fd = -1;
	if (kept < 0) {
		jv_free(v);
		goto out;
	}
	*vm = v;
	st = BDS_DRIVER_OK;
out:
	bds_lock_release(lock_fd);
	free(state_dir);
	free(worktree);
	free(output_base);
	free(lock);
	free(fp);
	free(ws);
	return st;
}

static enum bds_driver_status local_restore(const struct bds_driver_args *a, jv *vm)
{
	jv snap = bds_json_get(jv_copy(a->env), "snapshot", JV_KIND_OBJECT);
	char *base = NULL, *state_dir = NULL, *fp = NULL;
	char *worktree = NULL, *output_base = NULL, *lock = NULL;
	enum bds_driver_status st = BDS_DRIVER_FAIL;
	jv v = jv_invalid();
	int lock_fd = -1;
	if (!jv_is_valid(snap) || bds_json_get_string(jv_copy(snap), "base", &base) != 0 ||
	    bds_json_get_string(jv_copy(snap), "fingerprint", &fp) != 0 ||
	    bds_json_get_string(bds_json_get(bds_json_get(jv_copy(snap), "metadata", JV_KIND_OBJECT), "driver_state",
	                                     JV_KIND_OBJECT),
	                        "state_dir", &state_dir) != 0) {
		bds_util_fail("envelope: needs snapshot.base, snapshot.fingerprint and "
		              "snapshot.metadata.driver_state.state_dir (a local-driver entry)");
		goto out;
	}
	const char *need[] = {"base_hashes.json", NULL};
	int whole = bds_driver_entry_check(jv_copy(a->env), need);
	if (whole != 0) {
		st = whole > 0 ? BDS_DRIVER_COLD : BDS_DRIVER_FAIL;
		goto out;
	}
	v = local_vm(base, state_dir, a->bazel);
	bds_json_get_string(jv_copy(v), "worktree", &worktree);
	bds_json_get_string(jv_copy(v), "output_base", &output_base);
	bds_json_get_string(jv_copy(v), "lock", &lock);
	if (!is_dir(state_dir)) {
		bds_util_fail("the local warm state of %s/%s is gone (no '%s')", fp, base, worktree);
		st = BDS_DRIVER_COLD;
		goto out;
	}
	int busy = bds_lock_take(lock, a->lock_timeout, &lock_fd);
	if (busy < 0)
		goto out;
	if (busy) {
		bds_util_fail("the local warm state of %s/%s stayed busy for %gs (lock '%s')", fp, base, a->lock_timeout,
		              lock);
		st = BDS_DRIVER_COLD;
		goto out;
	}
	/* Everything below is checked under the lock, after what a dead pipeline left in the
	 * worktree is stopped: what was true before the lock (a live server) may not be now,
	 * and a server gone meanwhile must be cold, never restarted by the query. */
	if (clear_worktree(worktree, output_base) < 0) {
		st = BDS_DRIVER_COLD;
		goto out;
	}
	if (!is_dir(worktree) || !is_dir(output_base)) {
		bds_util_fail("the local warm state of %s/%s is gone (no '%s')", fp, base,
		              is_dir(worktree) ? output_base : worktree);
		st = BDS_DRIVER_COLD;
		goto out;
	}
	if (!server_pid(output_base)) {
		bds_util_fail("the local warm Bazel server of %s/%s is gone (output base '%s')", fp, base, output_base);
		st = BDS_DRIVER_COLD;
		goto out;
	}
	/* a record replaces it */
	if (!own_repository(worktree)) {
		bds_util_fail("the local warm worktree '%s' of %s/%s is not a git repository of its own (recorded by an "
		              "older bds?)",
		              worktree, fp, base);
		st = BDS_DRIVER_COLD;
		goto out;
	}
	int kept = keep_lock(lock_fd, a->lock_owner, worktree, output_base, &v);
	lock_fd = -1;
	if (kept < 0)
		goto out;
	*vm = v;
	v = jv_invalid();
	st = BDS_DRIVER_OK;
out:
	bds_lock_release(lock_fd);
	jv_free(v);
	jv_free(snap);
	free(worktree);
	free(output_base);
	free(lock);
	free(base);
	free(state_dir);
	free(fp);
	return st;
}

static enum bds_driver_status local_state(const struct bds_driver_args *a, jv *state)
{
	jv vm = bds_json_get(jv_copy(a->env), "vm", JV_KIND_OBJECT);
	char *state_dir = NULL, *output_base = NULL;
	if (!jv_is_valid(vm) || bds_json_get_string(jv_copy(vm), "state_dir", &state_dir) != 0 ||
	    bds_json_get_string(jv_copy(vm), "output_base", &output_base) != 0) {
		jv_free(vm);
		free(state_dir);
		free(output_base);
		return bds_util_fail("envelope: needs vm.state_dir and vm.output_base (a local-driver vm)");
	}
	long pid = server_pid(output_base);
	enum bds_driver_status st = BDS_DRIVER_OK;
	if (!pid) {
		bds_util_fail("no live Bazel server for output base '%s': the warm-up query did not run", output_base);
		st = BDS_DRIVER_FAIL;
	} else {
		char host[256] = "";
		gethostname(host, sizeof host - 1);
		jv s = jv_object();
		s = jv_object_set(s, jv_string("state_dir"), jv_string(state_dir));
		s = jv_object_set(s, jv_string("output_base"), jv_string(output_base));
		s = jv_object_set(s, jv_string("server_pid"), jv_number((double)pid));
		*state = jv_object_set(s, jv_string("host"), jv_string(host));
	}
	jv_free(vm);
	free(state_dir);
	free(output_base);
	return st;
}

const struct bds_driver bds_driver_local = {"local", local_boot, local_restore, local_state};

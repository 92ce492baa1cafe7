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
#include "store.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
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
	if (bds_fs_read_file(pid_file, 64, &text, &len) == 0) {
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
	if (bds_fs_read_file(cmdline_file, (size_t)1 << 20, &cmd, &len) == 0) {
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

/* Retention: a record keeps at most K warm states per fingerprint (--keep-warm) and
 * BDS_MAX_WARM on the whole host. Each warm state holds a live Bazel server (a JVM of
 * hundreds of MB) and a worktree: without a limit every recorded base would keep its own
 * for ever. "Oldest" is by the record time a record writes into its state
 * (RECORD_TIME_FILE), never by the directory's times, which a checkout or a lock changes.
 * A state is retired only under its lock, tried without waiting: one a pipeline uses is
 * kept, and said so. A state whose server is gone, or whose directory is half there, can
 * never be warm again (a restore needs a live server): it is removed whatever its age. */
#define RECORD_TIME_FILE "recorded"
#define MAX_WARM_DEFAULT 8
#define MAX_WARM_MAX 100000
/* What bazel shutdown may take before what is left of the server is killed. */
#define SHUTDOWN_TIMEOUT 30.0

struct warm_state {
	char *dir, *fp, *base;
	double recorded; /* wall-clock seconds */
};

/* The host-wide cap on warm states: BDS_MAX_WARM, else MAX_WARM_DEFAULT. -1 recorded
 * when it is not a whole number from 1 to MAX_WARM_MAX. */
static long max_warm(void)
{
	const char *s = getenv("BDS_MAX_WARM");
	long long v = 0;
	if (!s || !*s)
		return MAX_WARM_DEFAULT;
	if (bds_util_parse_whole(s, MAX_WARM_MAX, &v) < 0 || v < 1)
		return bds_util_fail("BDS_MAX_WARM '%s': not a whole number from 1 to %d", s, MAX_WARM_MAX);
	return (long)v;
}

/* Writes the record time (now, wall clock: it orders states across reboots) into the
 * state, replacing the one of an earlier record of the same base. 0, or -1 recorded. */
static int write_record_time(const char *state_dir)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char *path = bds_util_xasprintf("%s/" RECORD_TIME_FILE, state_dir), *tmp = NULL;
	FILE *f = bds_util_atomic_open(path, &tmp);
	int rc = -1;
	if (f && fprintf(f, "%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec) > 0)
		rc = bds_util_atomic_commit(f, tmp, path);
	else if (f)
		bds_util_atomic_discard(f, tmp);
	free(path);
	return rc;
}

/* The record time of a state; a state without a readable one (recorded by an older bds)
 * is as old as its directory's last change. */
static double read_record_time(const char *state_dir)
{
	char *path = bds_util_xasprintf("%s/" RECORD_TIME_FILE, state_dir), *text = NULL, *end = NULL;
	size_t len = 0;
	double t = -1;
	if (bds_fs_read_regular(path, 64, &text, &len) == 0) {
		t = strtod(text, &end);
		if (end == text || !(t >= 0))
			t = -1;
	}
	struct stat st;
	if (t < 0)
		t = stat(state_dir, &st) == 0 ? (double)st.st_mtime : 0;
	free(text);
	free(path);
	return t;
}

/* Can the state still be restored warm: its worktree, its output base and its server? */
static int state_alive(const char *state_dir)
{
	char *worktree = bds_util_xasprintf("%s/worktree", state_dir);
	char *output_base = bds_util_xasprintf("%s/output_base", state_dir);
	int alive = is_dir(worktree) && is_dir(output_base) && server_pid(output_base) != 0;
	free(worktree);
	free(output_base);
	return alive;
}

/* Shuts the server of a state's output base down as Bazel does (bazel shutdown, run in
 * the workspace the server serves, so that the client finds its startup options the
 * same), within SHUTDOWN_TIMEOUT; then kills what is left of it. 0, or -1 recorded. */
static int shutdown_server(const char *bazel, const char *worktree, const char *output_base)
{
	if (!server_pid(output_base))
		return 0;
	/* Bazel names the workspace in its output base; anywhere else, the client kills
	 * the server (its startup options differ) rather than asking it to stop */
	char *named = bds_util_xasprintf("%s/DO_NOT_BUILD_HERE", output_base), *ws = NULL;
	size_t len = 0, n = strlen(worktree);
	const char *cwd = is_dir(worktree) ? worktree : "/";
	if (bds_fs_read_regular(named, 4096, &ws, &len) == 0) {
		ws[strcspn(ws, "\n")] = '\0';
		if (strncmp(ws, worktree, n) == 0 && (ws[n] == '/' || ws[n] == '\0') && is_dir(ws))
			cwd = ws;
	}
	char *opt = bds_util_xasprintf("--output_base=%s", output_base);
	char *argv[] = {(char *)bazel, opt, "shutdown", NULL};
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct bds_exec_result res;
	/* its status does not matter: whether the server is gone does */
	bds_exec_run(argv, cwd, devnull >= 0 ? devnull : 2, devnull >= 0 ? devnull : 2,
	             bds_util_now() + SHUTDOWN_TIMEOUT, &res);
	if (devnull >= 0)
		close(devnull);
	free(opt);
	free(ws);
	free(named);
	return stop_server(output_base);
}

/* Removes a state whose lock the caller holds: its server, its worktree (a repository of
 * its own, so nothing outside the state knows it; a `git worktree` an older bds made is
 * forgotten by git's own pruning), its output base (read-only directories included), the
 * directory itself. 0, or -1 recorded (the server would not stop: the
 * state is left whole, never an output base pulled from under a live server). */
static int remove_state(const char *bazel, const char *state_dir)
{
	char *worktree = bds_util_xasprintf("%s/worktree", state_dir);
	char *output_base = bds_util_xasprintf("%s/output_base", state_dir);
	int rc = -1;
	if (shutdown_server(bazel, worktree, output_base) < 0)
		goto out;
	bds_fs_remove_tree(state_dir);
	/* its fingerprint's directory goes with its last state (rmdir fails unless empty; a
	 * record making a state there makes it again: local_boot) */
	char *fp_dir = bds_util_xstrdup(state_dir);
	char *slash = strrchr(fp_dir, '/');
	if (slash && slash != fp_dir) {
		*slash = '\0';
		rmdir(fp_dir);
	}
	free(fp_dir);
	rc = 0;
out:
	free(worktree);
	free(output_base);
	return rc;
}

static void free_states(struct warm_state *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].dir);
		free(s[i].fp);
		free(s[i].base);
	}
	free(s);
}

/* Newest first; equal times by path, so that every run agrees. */
static int newest_first(const void *x, const void *y)
{
	const struct warm_state *a = x, *b = y;
	if (a->recorded != b->recorded)
		return a->recorded > b->recorded ? -1 : 1;
	return strcmp(a->dir, b->dir);
}

/* Every state under <cache>/local/<fingerprint>/<base> but `own`, newest first. An
 * unreadable directory lists nothing: retention is best effort. */
static struct warm_state *list_states(const char *cache, const char *own, size_t *count)
{
	struct warm_state *s = NULL;
	size_t n = 0, cap = 0;
	char *local = bds_util_xasprintf("%s/local", cache);
	DIR *top = opendir(local);
	for (struct dirent *f; top && (f = readdir(top));) {
		if (!bds_util_is_hex(f->d_name, 32))
			continue;
		char *fp_dir = bds_util_xasprintf("%s/%s", local, f->d_name);
		DIR *d = opendir(fp_dir);
		for (struct dirent *b; d && (b = readdir(d));) {
			char *dir = bds_util_xasprintf("%s/%s", fp_dir, b->d_name);
			if (!bds_util_is_hex(b->d_name, 40) || strcmp(dir, own) == 0 || !is_dir(dir)) {
				free(dir);
				continue;
			}
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				s = bds_util_xrealloc(s, cap * sizeof *s);
			}
			s[n++] = (struct warm_state){dir, bds_util_xstrdup(f->d_name), bds_util_xstrdup(b->d_name),
			                             read_record_time(dir)};
		}
		if (d)
			closedir(d);
		free(fp_dir);
	}
	if (top)
		closedir(top);
	free(local);
	if (n)
		qsort(s, n, sizeof *s, newest_first);
	*count = n;
	return s;
}

/* A record of base `own` (state directory `own_dir`, whose lock the caller holds) of
 * fingerprint `fp` is about to warm a new server: retires the oldest other states beyond
 * the limits (K per fingerprint, `cap` on the host; the new one counts in both) and
 * removes the dead ones. Returns what it did,
 * one line each, for the caller to say. */
static jv retire_beyond_limits(const struct bds_driver_args *a, long cap, const char *fp, const char *own_dir)
{
	jv said = jv_array();
	long keep = a->keep_warm >= 1 ? a->keep_warm : BDS_DRIVER_KEEP_WARM_DEFAULT;
	size_t n = 0;
	struct warm_state *s = list_states(a->cache, own_dir, &n);
	long same = 1, all = 1; /* the new state */
	for (size_t i = 0; i < n; i++) {
		const struct warm_state *w = &s[i];
		int mine = strcmp(w->fp, fp) == 0;
		/* the limit this state is beyond, if any */
		const char *limit = mine && same >= keep ? "--keep-warm" : all >= cap ? "BDS_MAX_WARM" : NULL;
		long limit_value = mine && same >= keep ? keep : cap;
		char *lock = bds_util_xasprintf("%s/" STATE_LOCK, w->dir);
		int lock_fd = -1, counted = 1;
		int busy = bds_lock_take(lock, 0, &lock_fd);
		if (busy < 0) {
			counted = 0; /* gone meanwhile */
		} else if (busy > 0) {
			if (limit)
				said = jv_array_append(said, jv_string_fmt("kept the warm state %s/%s beyond %s %ld: busy "
				                                           "(a pipeline holds its lock)",
				                                           w->fp, w->base, limit, limit_value));
		} else if (limit || !state_alive(w->dir)) {
			if (remove_state(a->bazel, w->dir) < 0) {
				said = jv_array_append(said, jv_string_fmt("could not retire the warm state %s/%s: %s", w->fp,
				                                           w->base, bds_util_error()));
			} else {
				counted = 0;
				if (limit)
					said = jv_array_append(said, jv_string_fmt("retired the warm state %s/%s (beyond %s %ld)",
					                                           w->fp, w->base, limit, limit_value));
				else
					said = jv_array_append(said, jv_string_fmt("removed the dead warm state %s/%s (its "
					                                           "server or its files are gone)", w->fp, w->base));
			}
		}
		/* what is left holds a server (or will: a busy one), retired or not */
		if (counted) {
			same += mine;
			all++;
		}
		bds_lock_release(lock_fd);
		free(lock);
	}
	free_states(s, n);
	return said;
}

/* A restore that finds its state dead (under its lock) removes it: it can never be warm
 * again, and is not left as a directory. Only a state of this host's cache: the entry's
 * metadata names the directory, and a store is shared. The cold reason recorded before
 * is kept, with what was done. */
static void remove_dead_state(const struct bds_driver_args *a, const char *fp, const char *base,
                              const char *state_dir)
{
	char *why = bds_util_xstrdup(bds_util_error());
	char *mine = bds_util_xasprintf("%s/local/%s/%s", a->cache, fp, base);
	if (!bds_util_is_hex(fp, 32) || !bds_util_is_hex(base, 40) || strcmp(mine, state_dir) != 0) {
		bds_util_fail("%s", why);
	} else if (remove_state(a->bazel, state_dir) == 0) {
		bds_util_fail("%s; the dead state was removed", why);
	} else {
		char *err = bds_util_xstrdup(bds_util_error());
		bds_util_fail("%s; the dead state could not be removed: %s", why, err);
		free(err);
	}
	free(mine);
	free(why);
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
	jv retention = jv_array(); /* what the limits retired: vm.retention */
	if (bds_json_get_string(jv_copy(a->env), "workspace", &ws) != 0 ||
	    bds_json_get_string(bds_json_get(jv_copy(a->env), "fingerprint", JV_KIND_OBJECT), "key", &fp) != 0) {
		bds_util_fail("envelope: needs workspace and fingerprint.key");
		goto out;
	}
	long cap = max_warm();
	if (cap < 0)
		goto out;
	state_dir = bds_util_xasprintf("%s/local/%s/%s", a->cache, fp, a->base);
	worktree = bds_util_xasprintf("%s/worktree", state_dir);
	output_base = bds_util_xasprintf("%s/output_base", state_dir);
	lock = bds_util_xasprintf("%s/" STATE_LOCK, state_dir);
	/* another record's retention may remove the new directory (or its empty parent)
	 * before its lock is taken here: then it is made again */
	int busy = -1;
	for (int attempt = 0; attempt < 3 && busy < 0; attempt++)
		busy = bds_fs_mkdirs(state_dir, 0755) < 0 ? -1 : bds_lock_take(lock, a->lock_timeout, &lock_fd);
	if (busy < 0)
		goto out;
	if (busy) {
		bds_util_fail("the local warm state of %s/%s is busy (lock '%s')", fp, a->base, lock);
		goto out;
	}
	/* the new state counts from now on, and before its server starts the oldest go */
	if (write_record_time(state_dir) < 0)
		goto out;
	retention = retire_beyond_limits(a, cap, fp, state_dir);
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
	jv v = jv_object_set(local_vm(a->base, state_dir, a->bazel), jv_string("retention"), retention);
	retention = jv_null();
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
	jv_free(retention);
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
	int whole = bds_store_entry_check(jv_copy(a->env), need);
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
	if (busy < 0 && !is_dir(state_dir)) {
		/* retired (or found dead) by another pipeline while we waited for its lock */
		bds_util_fail("the local warm state of %s/%s is gone (no '%s')", fp, base, state_dir);
		st = BDS_DRIVER_COLD;
		goto out;
	}
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
		remove_dead_state(a, fp, base, state_dir);
		st = BDS_DRIVER_COLD;
		goto out;
	}
	if (!server_pid(output_base)) {
		bds_util_fail("the local warm Bazel server of %s/%s is gone (output base '%s')", fp, base, output_base);
		remove_dead_state(a, fp, base, state_dir);
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

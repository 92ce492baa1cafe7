/* transport-test: the local transport's put, exec and get (lib/transport.c) in a scratch
 * directory. Prints what it sees, the scratch path shown as $T; tests/unit.bats compares
 * it with the exact expected text. Usage: transport-test EMPTY-DIR */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport.h"
#include "util.h"

static const char *scratch;

/* Prints `label: text` with the scratch directory shown as $T and the test's own pid (a
 * keeper that holds nothing) as PID. */
static void show(const char *label, const char *text)
{
	char pid[32];
	snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
	printf("%s: ", label);
	for (const char *p = text; *p;) {
		if (strncmp(p, scratch, strlen(scratch)) == 0) {
			fputs("$T", stdout);
			p += strlen(scratch);
		} else if (strncmp(p, pid, strlen(pid)) == 0) {
			fputs("pid PID", stdout);
			p += strlen(pid);
		} else {
			putchar(*p++);
		}
	}
	putchar('\n');
}

/* A file's content (its first line), or "(absent)". */
static void show_file(const char *name)
{
	char line[256] = "(absent)";
	FILE *f = fopen(name, "r");
	if (f) {
		if (!fgets(line, sizeof line, f))
			line[0] = '\0';
		line[strcspn(line, "\n")] = '\0';
		fclose(f);
	}
	show(name, line);
}

static const char *status_name(enum bds_transport_status s)
{
	return s == BDS_TRANSPORT_OK ? "ok" : s == BDS_TRANSPORT_COLD ? "cold" : "fail";
}

/* Opens the local transport of worktree "$T/wt" (gated by `lock` held by `keeper` when
 * lock is not NULL) and runs one job in it; prints the outcome. */
static void run(const char *what, const char *lock, long keeper, struct bds_transport_job *job)
{
	char *wt = bds_util_xasprintf("%s/wt", scratch);
	jv vm = jv_object_set(jv_object(), jv_string("worktree"), jv_string(wt));
	free(wt);
	if (lock) {
		vm = jv_object_set(vm, jv_string("lock"), jv_string(lock));
		vm = jv_object_set(vm, jv_string("keeper_pid"), jv_number((double)keeper));
	}
	struct bds_transport *t = NULL;
	struct bds_exec_result res;
	memset(&res, 0, sizeof res);
	enum bds_transport_status r = bds_transport_open(vm, 10, 10, &t);
	if (r == BDS_TRANSPORT_OK) {
		printf("%s: opened %s\n", what, t->ops->name);
		r = bds_transport_run(t, job, &res);
	}
	bds_transport_close(t);
	if (r == BDS_TRANSPORT_OK)
		printf("%s: ok, exit status %d\n", what, res.status);
	else
		show(status_name(r), bds_util_error());
}

int main(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: transport-test EMPTY-DIR (absolute)\n");
		return 64;
	}
	scratch = argv[1];
	if (chdir(scratch) < 0 || mkdir("wt", 0755) < 0) {
		perror(scratch);
		return 1;
	}
	int err = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	FILE *in = fopen("in.txt", "w");
	if (err < 0 || !in || fputs("hello\n", in) < 0 || fclose(in) != 0) {
		perror("scratch files");
		return 1;
	}
	chmod("in.txt", 0640);

	/* put in (relative: the worktree's), run there, get the command's file back */
	char *upcase[] = {"sh", "-c", "tr a-z A-Z < copy.txt > up.txt; echo out; echo err >&2", NULL};
	struct bds_transport_file put_in[] = {{"in.txt", "copy.txt"}};
	struct bds_transport_file get_up[] = {{"up.txt", "back.txt"}};
	struct bds_transport_job job = {upcase, put_in, get_up, 1, 1, "stdout.txt", err, 10};
	run("upcase", NULL, 0, &job);
	show_file("wt/copy.txt");
	struct stat st;
	printf("wt/copy.txt mode: %o\n", stat("wt/copy.txt", &st) == 0 ? (unsigned)(st.st_mode & 0777) : 0u);
	show_file("back.txt");
	show_file("stdout.txt");
	show_file("stderr.txt");

	/* a failing command: its status, and nothing got back, no --stdout file */
	char *fails[] = {"sh", "-c", "echo partial > half.txt; echo out; exit 3", NULL};
	struct bds_transport_file get_half[] = {{"half.txt", "half-back.txt"}};
	struct bds_transport_job failing = {fails, NULL, get_half, 0, 1, "stdout-fail.txt", err, 10};
	run("failing", NULL, 0, &failing);
	show_file("half-back.txt");
	show_file("stdout-fail.txt");

	/* a put of a missing file fails with its message; the command does not run */
	char *touch[] = {"touch", "ran.txt", NULL};
	struct bds_transport_file put_missing[] = {{"missing.txt", "m.txt"}};
	struct bds_transport_job missing = {touch, put_missing, NULL, 1, 0, NULL, err, 10};
	run("missing put", NULL, 0, &missing);
	show_file("wt/ran.txt");

	/* a get of a file the command did not leave */
	struct bds_transport_file get_none[] = {{"none.txt", "none-back.txt"}};
	struct bds_transport_job no_get = {touch, NULL, get_none, 0, 1, NULL, err, 10};
	run("missing get", NULL, 0, &no_get);

	/* a keeper that does not hold the lock: the worktree is not ours, cold, nothing run */
	unlink("wt/ran.txt");
	run("lock lost", "/nonexistent/state.lock", (long)getpid(), &missing);
	show_file("wt/ran.txt");
	close(err);
	return 0;
}

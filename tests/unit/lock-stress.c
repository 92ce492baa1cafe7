/* lock-stress: the stress test of lib/lock.c. Each round, a holder takes the lock and is
 * killed with SIGKILL while contenders (processes, all released at once) try to take it;
 * each contender takes it once, and half of them remove the lock file as they let go (as
 * a sweeper removes an owned directory). Never may two hold it at once, nor may anyone
 * take it while the holder lives.
 *
 * usage: lock-stress [--rounds N] [--contenders N]
 * Prints one line of numbers; exit 0 when no round had two holders and every contender
 * got the lock, 1 otherwise, 64 on a usage error. */
#define _GNU_SOURCE /* MAP_ANONYMOUS, sched_yield */
#include "lock.h"
#include "util.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long a contender tries before it counts as starved. */
#define CONTENDER_SECONDS 20.0
#define MAX_CONTENDERS 64

/* Shared by every process of a run. */
struct shared {
	int holders;          /* contenders holding the lock right now */
	int holder_alive;     /* 1 until the parent kills the round's holder */
	int double_holders;   /* acquisitions that found another holder */
	int acquisitions;
	int removed;          /* lock files removed by their holder */
};

static void pause_us(long us)
{
	struct timespec ts = {0, us * 1000};
	nanosleep(&ts, NULL);
}

/* One contender: waits for the start, takes the lock once, holds it a little. Exit 0, 1
 * (starved), 2 (error). */
static int contend(const char *path, struct shared *sh, int start, int remove_it)
{
	char c;
	if (read(start, &c, 1) != 0) /* end of file: everyone starts at once */
		return 2;
	double deadline = bds_util_now() + CONTENDER_SECONDS;
	for (;;) {
		int fd = -1;
		int r = bds_lock_take(path, 0, &fd);
		if (r < 0) {
			fprintf(stderr, "lock-stress: %s\n", bds_util_error());
			return 2;
		}
		if (r == 0) {
			if (__atomic_add_fetch(&sh->holders, 1, __ATOMIC_SEQ_CST) > 1 ||
			    __atomic_load_n(&sh->holder_alive, __ATOMIC_SEQ_CST))
				__atomic_add_fetch(&sh->double_holders, 1, __ATOMIC_SEQ_CST);
			pause_us(100);
			/* counted out before letting go, and removing the file is letting go (the next
			 * taker makes a new one at once): the next holder must not see us. Counted
			 * out after the unlink, a holder preempted between the two was seen by the
			 * next one: a double holder that was none (seen on a loaded machine). */
			__atomic_sub_fetch(&sh->holders, 1, __ATOMIC_SEQ_CST);
			if (remove_it && unlink(path) == 0)
				__atomic_add_fetch(&sh->removed, 1, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(&sh->acquisitions, 1, __ATOMIC_SEQ_CST);
			bds_lock_release(fd);
			return 0;
		}
		if (bds_util_now() >= deadline)
			return 1;
		sched_yield();
	}
}

/* The round's first holder: takes the lock, says so, and waits to be killed. */
static void hold(const char *path, int ready)
{
	int fd = -1;
	if (bds_lock_take(path, CONTENDER_SECONDS, &fd) != 0)
		_exit(2);
	if (write(ready, "h", 1) != 1)
		_exit(2);
	for (;;)
		pause();
}

/* One round. 0, or -1 with the reason on stderr. */
static int round_once(const char *path, struct shared *sh, int contenders, int round)
{
	int ready[2], start[2];
	if (pipe(ready) != 0) {
		perror("lock-stress: pipe");
		return -1;
	}
	pid_t holder = fork();
	if (holder == 0) {
		close(ready[0]);
		hold(path, ready[1]);
	}
	close(ready[1]);
	char c;
	if (holder < 0 || read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "lock-stress: round %d: the holder did not take the lock\n", round);
		return -1;
	}
	close(ready[0]);
	if (pipe(start) != 0) {
		perror("lock-stress: pipe");
		return -1;
	}
	__atomic_store_n(&sh->holder_alive, 1, __ATOMIC_SEQ_CST);
	pid_t pids[MAX_CONTENDERS];
	for (int i = 0; i < contenders; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(start[1]);
			_exit(contend(path, sh, start[0], (i + round) % 2));
		}
	}
	close(start[0]);
	close(start[1]); /* go */
	/* they contend while the holder lives, then for the lock its death frees */
	pause_us(200 + 100 * (round % 20));
	__atomic_store_n(&sh->holder_alive, 0, __ATOMIC_SEQ_CST);
	kill(holder, SIGKILL);
	int rc = 0, st = 0;
	waitpid(holder, &st, 0);
	for (int i = 0; i < contenders; i++) {
		st = 0;
		if (pids[i] < 0 || waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "lock-stress: round %d: contender %d %s\n", round, i,
			        pids[i] < 0 ? "could not start" : WIFEXITED(st) && WEXITSTATUS(st) == 1 ? "never got the lock" : "failed");
			rc = -1;
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	int rounds = 200, contenders = 8;
	for (int i = 1; i < argc; i++) {
		int *v = strcmp(argv[i], "--rounds") == 0 ? &rounds : strcmp(argv[i], "--contenders") == 0 ? &contenders : NULL;
		char *end = NULL;
		long n = v && i + 1 < argc ? strtol(argv[++i], &end, 10) : 0;
		if (!v || !end || *end || n < 1 || n > (v == &rounds ? 100000 : MAX_CONTENDERS)) {
			fprintf(stderr, "usage: lock-stress [--rounds N] [--contenders N (at most %d)]\n", MAX_CONTENDERS);
			return 64;
		}
		*v = (int)n;
	}
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *dir = bds_util_xasprintf("%s/lock-stress.XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "lock-stress: mkdtemp '%s': %s\n", dir, strerror(errno));
		return 1;
	}
	char *path = bds_util_xasprintf("%s/the.lock", dir);
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("lock-stress: mmap");
		return 1;
	}
	memset(sh, 0, sizeof *sh);
	double t0 = bds_util_now();
	int failed_rounds = 0;
	for (int r = 0; r < rounds; r++)
		failed_rounds += round_once(path, sh, contenders, r) < 0;
	double seconds = bds_util_now() - t0;
	printf("lock-stress: %d rounds, %d contenders, %d acquisitions, %d double holders, %d lock files removed "
	       "by their holder, %d rounds failed, %.2f s\n",
	       rounds, contenders, sh->acquisitions, sh->double_holders, sh->removed, failed_rounds, seconds);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
	int ok = sh->double_holders == 0 && failed_rounds == 0 && sh->acquisitions == rounds * contenders;
	return fflush(stdout) == 0 && ok ? 0 : 1;
}

/* keeper: a detached process that holds what a pipeline holds between its stages (a VMM,
 * kernel locks, directories) and lets it all go when the pipeline ends, however it ends.
 *
 * The pipeline (the `owner`, a script's pid) stops its keeper on exit; if the owner dies
 * without doing so (SIGKILL included), the keeper sees it through a pidfd, which also
 * reports an owner that is dead but not yet reaped (a zombie under an init that never
 * reaps). When it ends, the keeper kills its VMM, removes its directories, and its locks
 * are released by the kernel as it exits. The VMM also dies with its keeper.
 *
 * A keeper is the caller's in nothing: it runs in "/", in a session of its own, with no
 * descriptor of the caller's (but the locks and the VMM's), no blocked signal and the
 * default disposition of every signal it does not handle.
 *
 * BDS_TEST_NO_PIDFD=1 in the environment makes a keeper watch its owner through /proc
 * (state and start time), as on a kernel without pidfd_open (proc.h): for the test suite
 * only. */
#ifndef BDS_KEEPER_H
#define BDS_KEEPER_H

#include <stddef.h>

#define BDS_KEEPER_MAX_VMM_FDS 8
#define BDS_KEEPER_MAX_LOCKS 32

struct bds_keeper_spec {
	char *const *vmm_argv; /* the VMM to start and keep; NULL: none */
	const int *vmm_fds;    /* descriptors the VMM gets as 3, 4, ... (its only ones from 3 up) */
	size_t nvmm_fds;
	const char *run_dir;   /* the VMM's directory (its console.log), removed at the end; may be NULL */
	char *const *cleanup;  /* more paths removed at the end, NULL-terminated; may be NULL */
	                       /* (run_dir and cleanup: absolute paths, the keeper works in "/") */
	const int *lock_fds;   /* locks (bds_lock_take) the keeper holds until it ends */
	size_t nlock_fds;
	long owner;            /* the pipeline's pid: must be alive when the keeper starts */
	/* Called in the keeper when the owner has died (not when the keeper is stopped),
	 * before anything is let go: what the owner left running can be stopped while the
	 * locks still keep the next pipeline out. May be NULL. */
	void (*owner_died)(void *arg);
	void *owner_died_arg;
};

/* Starts a keeper. Sets *keeper and, with a VMM, *vmm (may be NULL without one). The
 * caller may close its own copies of the lock fds afterwards. -1: error recorded (nothing
 * is left running). */
int bds_keeper_start(const struct bds_keeper_spec *spec, long *keeper, long *vmm);

/* Stops a keeper: SIGTERM, then waits (until deadline) for it to have cleaned up. 0, or
 * -1 (recorded) when it is still there at the deadline. */
int bds_keeper_stop(long keeper, double deadline);

/* Does `keeper` still hold the lock file `lock` for its pipeline: alive, not a zombie, and
 * one of its descriptors that very file? A pipeline whose keeper was killed has lost
 * what the keeper held, and another pipeline may have it now. */
int bds_keeper_holds(long keeper, const char *lock);

#endif

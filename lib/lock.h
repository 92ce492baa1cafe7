/* lock: kernel file locks (flock(2)) that die with their holder.
 *
 * A lock is held while the open file description that took it lives: when the holder
 * exits, however it dies (SIGKILL included, in any PID namespace), the kernel releases
 * it. No pid is ever written or compared, so there is no stale-lock takeover to race.
 * Lock files are never removed while they may be in use; a taker re-checks that the file
 * it locked is still the one at the path, so removing one is safe for its holder.
 *
 * Owned directories (temporary and staging directories) hold their owner's lock in
 * `<dir>/.lock`: a directory whose lock is free belongs to a dead owner and is swept. One
 * whose lock is held for a process by a keeper also names that process in `<dir>/.owner`,
 * so that it is spared while the process lives, even when its keeper was killed. */
#ifndef BDS_LOCK_H
#define BDS_LOCK_H

/* The lock file inside an owned directory. */
#define BDS_LOCK_DIR_FILE ".lock"
/* The owner record inside an owned directory (proc.h's bds_proc_owner_record). */
#define BDS_LOCK_OWNER_FILE ".owner"

/* Is `name` a file of the owned-directory machinery (its lock, its owner record)? Such a
 * file is never part of what the directory holds for its user (a store entry's files). */
int bds_lock_is_dir_file(const char *name);

/* Takes the exclusive lock of `path` (created if absent), waiting up to `timeout`
 * seconds (0: one try). 0: taken, *fd holds it (close-on-exec; hand it to a process that
 * must hold it, close it to release); 1: still busy at the deadline; -1: error recorded. */
int bds_lock_take(const char *path, double timeout, int *fd);

/* Releases a lock taken by bds_lock_take (closes fd; fd < 0: nothing). */
void bds_lock_release(int fd);

/* Creates an owned directory from `template` (mkdtemp's, ending in XXXXXX), mode 0700,
 * and takes its lock. The malloc'd path, *fd holding the lock; NULL: error recorded. */
char *bds_lock_make_dir(const char *template, int *fd);

/* Names `owner` (a live process) in the owned directory `dir` (BDS_LOCK_OWNER_FILE), before
 * the lock is handed to a keeper that holds it for that process. 0, or -1 recorded. */
int bds_lock_set_owner(const char *dir, long owner);

/* How long an owned directory in $TMPDIR without a lock file is left alone (bds-tmpdir's,
 * bds-vm-snapshot's staging entries): it was made by something else (an older version's
 * mktemp) or lost its owner before it was locked. A day: such a directory is never one a
 * live owner is still locking. */
#define BDS_LOCK_UNLOCKED_GRACE (24 * 3600.0)

/* Removes the owned directories `<parent>/<prefix>*` whose owner is gone: their lock is
 * free, or they have no lock file and were last changed more than `grace` seconds ago (an
 * owner that died between creating the directory and locking it); but never one whose
 * owner record names a process that is alive. Best effort; returns how many were
 * removed. */
int bds_lock_sweep(const char *parent, const char *prefix, double grace);

#endif

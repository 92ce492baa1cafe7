/* lock: kernel file locks (flock(2)) that die with their holder.
 *
 * A lock is held while the open file description that took it lives: when the holder
 * exits, however it dies (SIGKILL included, in any PID namespace), the kernel releases
 * it. No pid is ever written or compared, so there is no stale-lock takeover to race.
 * Lock files are never removed while they may be in use; a taker re-checks that the file
 * it locked is still the one at the path, so removing one is safe for its holder.
 *
 * Owned directories (temporary and staging directories) hold their owner's lock in
 * `<dir>/.lock`: a directory whose lock is free belongs to a dead owner and is swept. */
#ifndef BDS_LOCK_H
#define BDS_LOCK_H

/* The lock file inside an owned directory. */
#define BDS_LOCK_DIR_FILE ".lock"

/* Takes the exclusive lock of `path` (created if absent), waiting up to `timeout`
 * seconds (0: one try). 0: taken, *fd holds it (close-on-exec; hand it to a process that
 * must hold it, close it to release); 1: still busy at the deadline; -1: error recorded. */
int bds_lock_take(const char *path, double timeout, int *fd);

/* Releases a lock taken by bds_lock_take (closes fd; fd < 0: nothing). */
void bds_lock_release(int fd);

/* Creates an owned directory from `template` (mkdtemp's, ending in XXXXXX), mode 0700,
 * and takes its lock. The malloc'd path, *fd holding the lock; NULL: error recorded. */
char *bds_lock_make_dir(const char *template, int *fd);

/* How long an owned directory in $TMPDIR without a lock file is left alone (bds-tmpdir's,
 * bds-vm-snapshot's staging entries): it was made by something else (an older version's
 * mktemp) or lost its owner before it was locked. A day: such a directory is never one a
 * live owner is still locking. */
#define BDS_LOCK_UNLOCKED_GRACE (24 * 3600.0)

/* Removes the owned directories `<parent>/<prefix>*` whose owner is gone: their lock is
 * free, or they have no lock file and were last changed more than `grace` seconds ago (an
 * owner that died between creating the directory and locking it). Best effort; returns
 * how many were removed. */
int bds_lock_sweep(const char *parent, const char *prefix, double grace);

#endif

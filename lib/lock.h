/* lock: a lock directory whose `owner` file names the pid holding it. The local driver
 * locks its warm state with one; the firecracker driver, its network slots. */
#ifndef BDS_LOCK_H
#define BDS_LOCK_H

/* Takes `lock` for process `owner`, waiting up to `timeout` seconds (0: one try). A lock
 * whose owner is dead, or that has had no owner for a while (a taker died between mkdir
 * and writing it), is stale and taken over. 0 taken, 1 busy until the deadline, -1 error
 * (recorded). */
int bds_lock_take(const char *lock, long owner, double timeout);

/* Hands a held lock to another process (say, the one that will release it). */
int bds_lock_set_owner(const char *lock, long owner);

void bds_lock_release(const char *lock);

#endif

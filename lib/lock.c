/* lock: owner-file lock directories (lock.h). */
#include "lock.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A lock directory without an owner file is a taker that died between mkdir and write. */
#define ORPHAN_LOCK_SECONDS 10
#define POLL_MS 50

static int write_owner(const char *owner_file, long owner)
{
	FILE *f = fopen(owner_file, "w");
	if (!f || fprintf(f, "%ld\n", owner) < 0 || fclose(f) != 0)
		return bds_util_fail("write '%s': %s", owner_file, strerror(errno));
	return 0;
}

int bds_lock_take(const char *lock, long owner, double timeout)
{
	double deadline = bds_util_now() + timeout;
	char *owner_file = bds_util_xasprintf("%s/owner", lock);
	int rc = 1;
	for (;;) {
		if (mkdir(lock, 0755) == 0) {
			rc = write_owner(owner_file, owner);
			if (rc < 0)
				rmdir(lock);
			break;
		}
		if (errno != EEXIST) {
			rc = bds_util_fail("create '%s': %s", lock, strerror(errno));
			break;
		}
		char *text = NULL;
		size_t len = 0;
		long holder = 0;
		if (bds_util_read_file(owner_file, 64, &text, &len) == 0)
			holder = strtol(text, NULL, 10);
		free(text);
		struct stat st;
		int orphan = holder <= 0 && stat(lock, &st) == 0 && time(NULL) - st.st_mtime > ORPHAN_LOCK_SECONDS;
		if ((holder > 0 && !bds_util_pid_alive(holder)) || orphan) {
			/* stale: its owner died without releasing it (or between mkdir and writing) */
			unlink(owner_file);
			rmdir(lock);
			continue;
		}
		if (bds_util_now() >= deadline)
			break;
		bds_util_sleep_ms(POLL_MS);
	}
	free(owner_file);
	return rc;
}

int bds_lock_set_owner(const char *lock, long owner)
{
	char *owner_file = bds_util_xasprintf("%s/owner", lock);
	int rc = write_owner(owner_file, owner);
	free(owner_file);
	return rc;
}

void bds_lock_release(const char *lock)
{
	char *owner_file = bds_util_xasprintf("%s/owner", lock);
	unlink(owner_file);
	rmdir(lock);
	free(owner_file);
}

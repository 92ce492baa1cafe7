/* driver: where the warm Bazel server lives. Each driver boots a fresh machine for record,
 * reattaches to (restores) a recorded one for consume, and describes its state for the
 * store entry. Only the local driver exists so far; qemu and firecracker add entries. */
#ifndef BDS_DRIVER_H
#define BDS_DRIVER_H

#include <jv.h>

struct bds_driver_args {
	jv env;              /* the envelope (borrowed) */
	const char *cache;   /* $BDS_CACHE or ~/.cache/bds */
	const char *bazel;   /* the Bazel command */
	const char *base;    /* record: the base commit (40 hex) */
	long lock_owner;     /* pid that holds the entry's lock until it exits */
	double lock_timeout; /* seconds to wait for a busy entry */
};

enum bds_driver_status {
	BDS_DRIVER_OK = 0,
	BDS_DRIVER_FAIL = -1, /* error recorded */
	BDS_DRIVER_COLD = 1,  /* warm state unavailable; reason recorded */
};

struct bds_driver {
	const char *name;
	/* record: a fresh machine for args->base; sets *vm */
	enum bds_driver_status (*boot)(const struct bds_driver_args *args, jv *vm);
	/* consume: the machine of env.snapshot; sets *vm */
	enum bds_driver_status (*restore)(const struct bds_driver_args *args, jv *vm);
	/* record: the driver state stored in the entry's metadata (from env.vm) */
	enum bds_driver_status (*state)(const struct bds_driver_args *args, jv *state);
};

/* The driver called `name`, or NULL. */
const struct bds_driver *bds_driver_find(const char *name);
/* $BDS_CACHE, else $HOME/.cache/bds (malloc'd). */
char *bds_driver_cache_dir(void);

#endif

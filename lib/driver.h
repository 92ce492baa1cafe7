/* driver: where the warm Bazel server lives. Each driver boots a fresh machine for record,
 * reattaches to (restores) a recorded one for consume, and turns the warm machine into the
 * files and metadata of a store entry. Drivers: local, qemu, firecracker. */
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
	int keep_warm;       /* local record: warm states kept per fingerprint (< 1: the default) */
	const char *entry_dir; /* snapshot: the new entry's staging directory */
	const char *jailer;    /* firecracker: the jailer binary, or NULL */
	long jail_uid, jail_gid;
	const char *chroot_base;
};

/* The local driver's warm states kept per fingerprint by a record (--keep-warm): the
 * default, and the largest value taken. */
#define BDS_DRIVER_KEEP_WARM_DEFAULT 2
#define BDS_DRIVER_KEEP_WARM_MAX 1000

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
	/* record: pauses the machine of env.vm, writes its files into args->entry_dir and
	 * sets *state, the driver state stored in the entry's metadata */
	enum bds_driver_status (*state)(const struct bds_driver_args *args, jv *state);
};

/* The driver called `name`, or NULL. */
const struct bds_driver *bds_driver_find(const char *name);
/* "local, qemu, firecracker": the names bds_driver_find knows, for messages. */
extern const char bds_driver_names[];
/* The VM drivers' settings, read where the drivers and the fingerprint both need them.
 * qemu: the binary (BDS_QEMU), the accelerator "kvm" or "tcg" (BDS_VM_ACCEL; auto: kvm
 * when /dev/kvm opens) and the snapshot mode "shared" or "stream" (BDS_QEMU_SNAPSHOT);
 * NULL (recorded) for a value that is none of those. firecracker: BDS_FIRECRACKER. */
const char *bds_driver_qemu_binary(void);
const char *bds_driver_qemu_accel(void);
const char *bds_driver_qemu_snapshot_mode(void);
const char *bds_driver_firecracker_binary(void);

extern const struct bds_driver bds_driver_local, bds_driver_qemu, bds_driver_firecracker;

#endif

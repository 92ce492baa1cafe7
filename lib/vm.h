/* vm: what the VM drivers (qemu, firecracker) share: the guest image's manifest, per-VM run
 * directories and the driver's fingerprint parts. The process that owns a VMM is keeper.h's. */
#ifndef BDS_VM_H
#define BDS_VM_H

#include <jv.h>

/* A guest image directory (guest/build-image or the tiny test guest): its manifest.json,
 * with file names made absolute. */
struct bds_vm_image {
	char *dir, *kernel, *bzimage, *initrd, *rootfs;
	char *cmdline, *host_key_sha256, *ssh_user;
	char *workspace; /* the git checkout in the guest; NULL when the image has none */
	int vcpus, mem_mib;
};

/* Loads $BDS_VM_IMAGE/manifest.json. -1 with the error recorded. */
int bds_vm_image_load(struct bds_vm_image *img);
void bds_vm_image_free(struct bds_vm_image *img);

/* The ssh private key the image trusts: $BDS_VM_KEY, else <image>/key. NULL: recorded. */
char *bds_vm_key_path(const struct bds_vm_image *img);

/* The envelope's vm.guest for an ssh server at host:port. */
jv bds_vm_guest(const struct bds_vm_image *img, const char *key, const char *host, int port);

/* A new empty run directory ${TMPDIR:-/tmp}/bds-<driver>.XXXXXX (malloc'd), short enough
 * for unix socket paths inside it, owned (lock.h): *lock_fd holds its lock, for the
 * keeper to hold. Run directories whose keeper was killed are swept first. NULL: recorded. */
char *bds_vm_run_dir(const char *driver, int *lock_fd);

/* The last `max` bytes of run_dir/console.log as one line, for error messages (malloc'd). */
char *bds_vm_console_tail(const char *run_dir, size_t max);

/* XXH3-128 hex of a (possibly large) file, cached under <cache>/digests by device, inode,
 * size and mtime, so the multi-GiB root filesystem is read once. -1: recorded. */
int bds_vm_file_digest(const char *path, const char *cache, char hex[33]);

/* The host CPU model ("model name" of /proc/cpuinfo, else "unknown"), malloc'd: a snapshot
 * restores only on the CPU it was taken on. */
char *bds_vm_cpu_model(void);

/* Seconds every wait of a VM driver may take: BDS_VM_TIMEOUT, else 120 (also when
 * BDS_VM_TIMEOUT is malformed, which bds_vm_image_load, the first step of every VM
 * driver, refuses). */
double bds_vm_timeout(void);

/* Runs a helper tool (qemu-img, chown...) in cwd (NULL: ours), its output on our
 * stderr, within bds_vm_timeout(). 0 when it exited 0, else -1 recorded. */
int bds_vm_run(char *const argv[], const char *cwd);

/* Moves `from` to `to`; across file systems, copies it (bds_fs_copy_sparse, within
 * bds_vm_timeout()) and leaves `from` in place. */
int bds_vm_move_file(const char *from, const char *to);

/* Single-quotes s for /bin/sh (malloc'd). */
char *bds_vm_shell_quote(const char *s);

#endif

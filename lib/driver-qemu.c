/* driver-qemu: the warm machine is a QEMU virtual machine (KVM where /dev/kvm works,
 * software emulation otherwise), driven through QMP on a unix socket.
 *
 * Snapshot format. Guest RAM lives in a file (memory-backend-file, share=on) and the
 * migration stream skips it (the x-ignore-shared capability), so the entry holds `mem`
 * (the RAM file, sparse), `vmstate` (device state only, tens of KiB) and `disk`. A restore
 * maps `mem` privately (share=off): pages load lazily on first touch and guest writes never
 * reach the entry, so restore takes a fraction of a second whatever the guest's size. The
 * classic alternative, BDS_QEMU_SNAPSHOT=stream, writes all RAM into `vmstate` through
 * `migrate exec:` and reads it all back with `-incoming`. bench/qemu-restore.sh, tiny guest
 * with 128 MiB of RAM dirtied, software emulation, median of 5: shared restores to a first
 * ssh command in 0.79 s and snapshots in 0.12 s (vmstate 62 KiB, mem 212 MiB allocated);
 * stream takes 1.04 s and 2.02 s (vmstate 205 MiB). With the real image (1.5 GiB RAM,
 * 512 MiB dirtied): shared 1.18 s and 0.19 s, stream 2.34 s and 8.70 s (vmstate 645 MiB).
 * Stream grows with guest RAM, shared barely does: shared is the default.
 *
 * Disk. The record runs on a qcow2 overlay of the image's root filesystem; that overlay,
 * frozen, is the entry's `disk`; every restore writes to its own overlay on top of it, and
 * the chain below is opened read-only, so an entry is never modified. */
#define _DEFAULT_SOURCE /* arc4random_uniform */
#include "driver.h"

#include "fs.h"
#include "json.h"
#include "keeper.h"
#include "lock.h"
#include "qmp.h"
#include "store.h"
#include "util.h"
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64
#define PORT_TRIES 20

struct args_list {
	char *v[MAX_ARGS + 1];
	int n;
};

static void add(struct args_list *l, char *owned)
{
	if (l->n < MAX_ARGS)
		l->v[l->n++] = owned;
	else
		free(owned);
}

static void args_free(struct args_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

const char *bds_driver_qemu_binary(void)
{
	const char *q = getenv("BDS_QEMU");
	return q && *q ? q : "qemu-system-x86_64";
}

const char *bds_driver_qemu_snapshot_mode(void)
{
	const char *m = getenv("BDS_QEMU_SNAPSHOT");
	if (!m || !*m || strcmp(m, "shared") == 0)
		return "shared";
	if (strcmp(m, "stream") == 0)
		return "stream";
	bds_util_fail("BDS_QEMU_SNAPSHOT must be 'shared' or 'stream', not '%s'", m);
	return NULL;
}

/* kvm or tcg: BDS_VM_ACCEL, where auto (the default) means kvm when /dev/kvm opens;
 * NULL (recorded) for any other value. */
const char *bds_driver_qemu_accel(void)
{
	const char *a = getenv("BDS_VM_ACCEL");
	if (a && (strcmp(a, "kvm") == 0 || strcmp(a, "tcg") == 0))
		return a;
	if (a && *a && strcmp(a, "auto") != 0) {
		bds_util_fail("BDS_VM_ACCEL must be auto, kvm or tcg, not '%s'", a);
		return NULL;
	}
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return "tcg";
	close(fd);
	return "kvm";
}

/* The QEMU command line shared by record and restore: devices, their ids and the machine
 * must be the same on both sides of a migration. */
static void machine_args(struct args_list *l, const struct bds_vm_image *img, const char *accel, jv memory,
                         jv blockdev)
{
	add(l, bds_util_xstrdup(bds_driver_qemu_binary()));
	add(l, bds_util_xstrdup("-M"));
	add(l, bds_util_xstrdup("microvm,memory-backend=mem"));
	add(l, bds_util_xstrdup("-accel"));
	add(l, bds_util_xstrdup(accel));
	if (strcmp(accel, "kvm") == 0) {
		add(l, bds_util_xstrdup("-cpu"));
		add(l, bds_util_xstrdup("host"));
	}
	add(l, bds_util_xstrdup("-m"));
	add(l, bds_util_xasprintf("%d", img->mem_mib));
	add(l, bds_util_xstrdup("-smp"));
	add(l, bds_util_xasprintf("%d", img->vcpus));
	const char *fixed[] = {"-display", "none", "-monitor", "none", "-serial", "file:console.log", "-no-reboot",
	                       "-qmp", "unix:qmp.sock,server=on,wait=off", "-device", "virtio-blk-device,drive=root",
	                       "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0,mac=52:54:00:12:34:56"};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		add(l, bds_util_xstrdup(fixed[i]));
	add(l, bds_util_xstrdup("-kernel"));
	add(l, bds_util_xstrdup(img->bzimage));
	add(l, bds_util_xstrdup("-initrd"));
	add(l, bds_util_xstrdup(img->initrd));
	add(l, bds_util_xstrdup("-append"));
	add(l, bds_util_xstrdup(img->cmdline));
	jv text = jv_dump_string(memory, 0);
	add(l, bds_util_xstrdup("-object"));
	add(l, bds_util_xstrdup(jv_string_value(text)));
	jv_free(text);
	text = jv_dump_string(blockdev, 0);
	add(l, bds_util_xstrdup("-blockdev"));
	add(l, bds_util_xstrdup(jv_string_value(text)));
	jv_free(text);
}

/* share: guest writes reach the file (record); else they stay in QEMU's memory, and with
 * read_only QEMU opens the file read-only too (QEMU 8.2's readonly=on,rom=off). */
static jv memory_object(const char *backend, const struct bds_vm_image *img, const char *path, int share,
                        int read_only)
{
	jv m = jv_object();
	m = jv_object_set(m, jv_string("qom-type"), jv_string(backend));
	m = jv_object_set(m, jv_string("id"), jv_string("mem"));
	m = jv_object_set(m, jv_string("size"), jv_number((double)img->mem_mib * 1024 * 1024));
	if (path) {
		m = jv_object_set(m, jv_string("mem-path"), jv_string(path));
		m = jv_object_set(m, jv_string("share"), jv_bool(share));
	}
	if (read_only) {
		m = jv_object_set(m, jv_string("readonly"), jv_true());
		m = jv_object_set(m, jv_string("rom"), jv_string("off"));
	}
	return m;
}

/* Can this QEMU map a file opened read-only as writable private guest RAM (memory-backend-
 * file readonly=on,rom=off, QEMU 8.2 and later)? Read from the version line in the
 * envelope's fingerprint (the QEMU of this host and pipeline); anything else means no. */
static int private_read_only_ram(jv env)
{
	char *vmm = NULL;
	int major = 0, minor = 0;
	jv c = bds_json_get(bds_json_get(env, "fingerprint", JV_KIND_OBJECT), "components", JV_KIND_OBJECT);
	if (bds_json_get_string(c, "vmm", &vmm) != 0 || sscanf(vmm, "QEMU emulator version %d.%d", &major, &minor) != 2)
		major = minor = 0;
	free(vmm);
	return major > 8 || (major == 8 && minor >= 2);
}

static jv file_node(const char *driver, const char *path, int read_only)
{
	jv file = jv_object_set(jv_object(), jv_string("driver"), jv_string("file"));
	file = jv_object_set(file, jv_string("filename"), jv_string(path));
	jv n = jv_object_set(jv_object(), jv_string("driver"), jv_string(driver));
	n = jv_object_set(n, jv_string("file"), file);
	if (read_only) {
		n = jv_object_set(n, jv_string("read-only"), jv_true());
		n = jv_object_set(n, jv_string("auto-read-only"), jv_false());
	}
	return n;
}

/* Adds a user-networking forward of a free 127.0.0.1 port to the guest's sshd; the port. */
static int forward_ssh(struct bds_qmp *q, double deadline)
{
	for (int i = 0; i < PORT_TRIES; i++) {
		int port = 20000 + (int)arc4random_uniform(40000);
		jv args = jv_object_set(jv_object(), jv_string("command-line"),
		                        jv_string_fmt("hostfwd_add n0 tcp:127.0.0.1:%d-:22", port));
		jv out = jv_null();
		if (bds_qmp_run(q, "human-monitor-command", args, deadline, &out) < 0)
			return -1;
		/* HMP reports failure as text: an empty answer is success */
		int ok = jv_get_kind(out) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(out)) == 0;
		jv_free(out);
		if (ok)
			return port;
	}
	return bds_util_fail("no free 127.0.0.1 port for the guest's ssh after %d tries", PORT_TRIES);
}

/* Migration leaves guest RAM out of the stream: it is in the memory-backend file. Both
 * sides of a migration must say so. */
static int ignore_shared_ram(struct bds_qmp *q, double deadline)
{
	return bds_qmp_run(q, "migrate-set-capabilities",
	                   jv_parse("{\"capabilities\":[{\"capability\":\"x-ignore-shared\",\"state\":true}]}"),
	                   deadline, NULL);
}

/* Polls `query` every 20 ms until its "status" is `done` (0). A status not in `waiting`
 * ends the wait (-1, recorded), as does the deadline. `what` names the wait in messages. */
static int await_status(struct bds_qmp *q, const char *query, const char *const waiting[], const char *done,
                        const char *what, double deadline)
{
	for (;;) {
		jv reply = jv_null();
		char *status = NULL;
		if (bds_qmp_run(q, query, jv_null(), deadline, &reply) < 0)
			return -1;
		bds_json_get_string(reply, "status", &status);
		int finished = status && strcmp(status, done) == 0, waits = 0;
		for (const char *const *w = waiting; status && *w; w++)
			waits |= strcmp(status, *w) == 0;
		if (!finished && !waits)
			bds_util_fail("%s ended in state '%s'", what, status ? status : "?");
		free(status);
		if (finished)
			return 0;
		if (!waits)
			return -1;
		if (bds_util_now() >= deadline)
			return bds_util_fail("%s took more than %gs", what, bds_vm_timeout());
		bds_util_sleep_ms(20);
	}
}

static jv qemu_vm(const char *base, const char *run_dir, long keeper, long pid, const char *accel,
                  const char *mode, jv guest, const struct bds_vm_image *img)
{
	jv vm = jv_object();
	vm = jv_object_set(vm, jv_string("driver"), jv_string("qemu"));
	vm = jv_object_set(vm, jv_string("base"), jv_string(base));
	vm = jv_object_set(vm, jv_string("run_dir"), jv_string(run_dir));
	vm = jv_object_set(vm, jv_string("keeper_pid"), jv_number((double)keeper));
	vm = jv_object_set(vm, jv_string("pid"), jv_number((double)pid));
	vm = jv_object_set(vm, jv_string("qmp"), jv_string_fmt("%s/qmp.sock", run_dir));
	vm = jv_object_set(vm, jv_string("accel"), jv_string(accel));
	vm = jv_object_set(vm, jv_string("snapshot_mode"), jv_string(mode));
	vm = jv_object_set(vm, jv_string("workspace"), img->workspace ? jv_string(img->workspace) : jv_null());
	vm = jv_object_set(vm, jv_string("startup_options"), jv_array());
	return jv_object_set(vm, jv_string("guest"), guest);
}

/* The entry's guest RAM file, opened read-only for QEMU; -1 recorded (also when it is not
 * the guest's RAM size). QEMU maps it privately (share=off): guest writes stay in this
 * QEMU's memory. From QEMU 8.2 on it opens /proc/self/fd/3 read-only too (readonly=on,
 * rom=off); QEMU 7.2 (Debian 12) cannot (its readonly=on makes guest RAM read-only) and
 * reopens it read-write, but never writes it: what would write the file is what QEMU does
 * to a path that is missing (creates it) or to an empty file (sizes it), and an open
 * descriptor of the exact size rules both out, whatever becomes of the entry's path. */
static int open_ram_file(const char *dir, const struct bds_vm_image *img)
{
	char *path = bds_util_xasprintf("%s/mem", dir);
	/* O_NONBLOCK: a FIFO put there since the entry was verified must not block us (for a
	 * regular file, the flag changes nothing) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	long long want = (long long)img->mem_mib * 1024 * 1024;
	if (fd < 0 || fstat(fd, &st) != 0) {
		bds_util_fail("open '%s': %s", path, strerror(errno));
		fd = -1;
	} else if (!S_ISREG(st.st_mode) || (long long)st.st_size != want) {
		bds_util_fail("the entry's RAM file '%s' has %lld bytes, not the guest's %d MiB", path,
		              (long long)st.st_size, img->mem_mib);
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* Records in a row from one fresh boot: the generation of env.snapshot's machine (0: a
 * fresh boot's, or none). */
static int record_generation(jv env)
{
	double g = 0;
	jv ds = bds_json_get(bds_json_get(bds_json_get(jv_copy(env), "snapshot", JV_KIND_OBJECT), "metadata", JV_KIND_OBJECT),
	                     "driver_state", JV_KIND_OBJECT);
	if (bds_json_get_number(ds, "generation", &g) != 0 || !(g >= 0) || g > 1e6)
		g = 0;
	return (int)g;
}

/* A record that starts from an entry's machine (shared mode): its RAM file, disk overlay
 * and device state copied into run_dir (holes kept, a clone where the file system can),
 * the first two to be written by the guest as a fresh boot's are, and snapshotted the same
 * way. 0, or -1 (recorded). */
static int copy_for_record(const char *restore_dir, const char *run_dir, const struct bds_vm_image *img,
                           double deadline)
{
	/* vmstate too: after the copy nothing is read from the entry, which a concurrent
	 * lookup may replace in the cache */
	const char *names[][2] = {{"mem", "mem"}, {"disk", "disk.qcow2"}, {"vmstate", "vmstate"}};
	for (int i = 0; i < 3; i++) {
		char *from = bds_util_xasprintf("%s/%s", restore_dir, names[i][0]);
		char *to = bds_util_xasprintf("%s/%s", run_dir, names[i][1]);
		int rc = bds_fs_copy_sparse(from, to, deadline);
		struct stat st;
		if (rc == 0 && i == 0 && (stat(to, &st) != 0 || st.st_size != (off_t)img->mem_mib * 1024 * 1024))
			rc = bds_util_fail("the entry's RAM file '%s' is not the guest's %d MiB", from, img->mem_mib);
		free(from);
		free(to);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Starts QEMU and brings it to a running, reachable state. restore_dir: the entry to
 * restore (NULL: boot fresh); for_record: the machine is recorded again (its files are
 * copies, see copy_for_record), else restored for a consume (its files are the entry's,
 * never written). BDS_DRIVER_OK with *vm set; BDS_DRIVER_COLD (recorded) when QEMU failed,
 * gone by then: a restore of this entry is cold, a boot fails; BDS_DRIVER_FAIL (recorded)
 * when the configuration is wrong (no image, no key): nothing was started. */
static enum bds_driver_status start_qemu(const struct bds_driver_args *a, const char *restore_dir, int for_record,
                                         const char *mode, const char *accel, const char *base, jv *vm)
{
	struct bds_vm_image img;
	struct args_list l = {{0}, 0};
	struct bds_qmp *q = NULL;
	char *key = NULL, *run_dir = NULL, *disk = NULL, *frozen = NULL, *mem = NULL, *tail = NULL;
	long keeper = 0, pid = 0;
	enum bds_driver_status rc = BDS_DRIVER_COLD;
	int run_lock = -1, mem_fd = -1;
	double deadline = bds_util_now() + bds_vm_timeout();
	if (bds_vm_image_load(&img) < 0)
		return BDS_DRIVER_FAIL;
	if (!(key = bds_vm_key_path(&img))) {
		rc = BDS_DRIVER_FAIL;
		goto out;
	}
	if (!(run_dir = bds_vm_run_dir("qemu", &run_lock)))
		goto out;
	disk = bds_util_xasprintf("%s/disk.qcow2", run_dir);
	jv memory, blockdev;
	if (!restore_dir || for_record) {
		char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", img.rootfs, disk, NULL};
		if (restore_dir ? copy_for_record(restore_dir, run_dir, &img, deadline) < 0 : bds_vm_run(create, run_dir) < 0)
			goto out;
		mem = bds_util_xasprintf("%s/mem", run_dir);
		memory = memory_object("memory-backend-file", &img, mem, 1, 0);
		blockdev = file_node("qcow2", disk, 0);
		blockdev = jv_object_set(blockdev, jv_string("backing"), file_node("raw", img.rootfs, 1));
	} else {
		struct stat st;
		frozen = bds_util_xasprintf("%s/disk", restore_dir);
		if (stat(img.rootfs, &st) != 0) {
			bds_util_fail("stat '%s': %s", img.rootfs, strerror(errno));
			goto out;
		}
		char size[32];
		snprintf(size, sizeof size, "%lld", (long long)st.st_size);
		char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", frozen, "-u", disk, size, NULL};
		if (bds_vm_run(create, run_dir) < 0)
			goto out;
		if (strcmp(mode, "shared") == 0) {
			/* QEMU gets the entry's RAM file as an open descriptor, not a path it could
			 * create, and only when it has the guest's RAM size, which QEMU would
			 * otherwise grow it to: see open_ram_file */
			if ((mem_fd = open_ram_file(restore_dir, &img)) < 0)
				goto out;
			memory = memory_object("memory-backend-file", &img, "/proc/self/fd/3", 0,
			                       private_read_only_ram(jv_copy(a->env)));
		} else {
			memory = memory_object("memory-backend-ram", &img, NULL, 0, 0);
		}
		/* the whole chain spelled out: the frozen disk's own header names the record
		 * host's image path, which need not exist here */
		jv frozen_node = file_node("qcow2", frozen, 1);
		frozen_node = jv_object_set(frozen_node, jv_string("backing"), file_node("raw", img.rootfs, 1));
		blockdev = file_node("qcow2", disk, 0);
		blockdev = jv_object_set(blockdev, jv_string("backing"), frozen_node);
	}
	blockdev = jv_object_set(blockdev, jv_string("node-name"), jv_string("root"));
	machine_args(&l, &img, accel, memory, blockdev);
	if (restore_dir) {
		add(&l, bds_util_xstrdup("-incoming"));
		add(&l, bds_util_xstrdup("defer"));
	}
	struct bds_keeper_spec ks = {.vmm_argv = l.v, .vmm_fds = &mem_fd, .nvmm_fds = mem_fd >= 0,
	                             .run_dir = run_dir, .lock_fds = &run_lock, .nlock_fds = 1, .owner = a->lock_owner};
	if (bds_keeper_start(&ks, &keeper, &pid) < 0)
		goto out;
	char *sock = bds_util_xasprintf("%s/qmp.sock", run_dir);
	q = bds_qmp_open(sock, pid, deadline);
	free(sock);
	if (!q)
		goto fail;
	if (restore_dir) {
		char *state = bds_util_xasprintf("%s/vmstate", for_record ? run_dir : restore_dir);
		char *quoted = bds_vm_shell_quote(state);
		jv uri = jv_object_set(jv_object(), jv_string("uri"), jv_string_fmt("exec:cat %s", quoted));
		free(state);
		free(quoted);
		if (strcmp(mode, "shared") == 0 && ignore_shared_ram(q, deadline) < 0) {
			jv_free(uri);
			goto fail;
		}
		static const char *const loading[] = {"inmigrate", NULL};
		if (bds_qmp_run(q, "migrate-incoming", uri, deadline, NULL) < 0 ||
		    await_status(q, "query-status", loading, "paused", "loading the snapshot", deadline) < 0)
			goto fail;
	}
	int port = forward_ssh(q, deadline);
	if (port < 0 || (restore_dir && bds_qmp_run(q, "cont", jv_null(), deadline, NULL) < 0))
		goto fail;
	*vm = qemu_vm(base, run_dir, keeper, pid, accel, mode, bds_vm_guest(&img, key, "127.0.0.1", port), &img);
	if (for_record)
		*vm = jv_object_set(*vm, jv_string("generation"), jv_number(record_generation(a->env) + 1));
	rc = BDS_DRIVER_OK;
	goto out;
fail:
	tail = bds_vm_console_tail(run_dir, 300);
	bds_util_fail("qemu: %s (console: %s)", bds_util_error(), tail);
	bds_keeper_stop(keeper, bds_util_now() + 10);
	free(run_dir);
	run_dir = NULL;
out:
	if (rc != BDS_DRIVER_OK && run_dir && !keeper)
		bds_fs_remove_tree(run_dir);
	bds_lock_release(run_lock); /* the keeper holds it, if there is one */
	if (mem_fd >= 0)
		close(mem_fd);
	bds_qmp_close(q);
	args_free(&l);
	bds_vm_image_free(&img);
	free(key);
	free(run_dir);
	free(disk);
	free(frozen);
	free(mem);
	free(tail);
	return rc;
}

/* The entry a record starts from (env.snapshot, a qemu entry of this accelerator in
 * shared mode, whole): its directory (malloc'd), or NULL with the reason recorded. */
static char *record_from(const struct bds_driver_args *a, const char *mode, const char *accel)
{
	jv snap = bds_json_get(jv_copy(a->env), "snapshot", JV_KIND_OBJECT);
	jv ds = bds_json_get(bds_json_get(jv_copy(snap), "metadata", JV_KIND_OBJECT), "driver_state", JV_KIND_OBJECT);
	char *dir = NULL, *emode = NULL, *eaccel = NULL;
	const char *need[] = {"base_hashes.json", "vmstate", "mem", "disk", NULL};
	if (bds_json_get_string(jv_copy(snap), "dir", &dir) != 0 || bds_json_get_string(jv_copy(ds), "snapshot_mode", &emode) != 0 ||
	    bds_json_get_string(jv_copy(ds), "accel", &eaccel) != 0) {
		bds_util_fail("the envelope's snapshot is not a qemu-driver entry");
	} else if (strcmp(mode, "shared") != 0 || strcmp(emode, "shared") != 0) {
		bds_util_fail("only a machine snapshotted in shared mode is recorded again (BDS_QEMU_SNAPSHOT)");
	} else if (strcmp(eaccel, accel) != 0) {
		bds_util_fail("the entry's machine ran under %s, this one would under %s", eaccel, accel);
	} else if (bds_store_entry_check(jv_copy(a->env), need) == 0) {
		free(emode);
		free(eaccel);
		jv_free(snap);
		jv_free(ds);
		return dir;
	}
	free(dir);
	free(emode);
	free(eaccel);
	jv_free(snap);
	jv_free(ds);
	return NULL;
}

/* A machine to record on: a fresh boot, or, with env.snapshot (an earlier base's entry),
 * that machine restored with copies of its files, so that the new entry's RAM is mostly the
 * earlier one's (chunks a store already holds: docs/store.md 4). */
static enum bds_driver_status qemu_boot(const struct bds_driver_args *a, jv *vm)
{
	const char *mode = bds_driver_qemu_snapshot_mode();
	const char *accel = mode ? bds_driver_qemu_accel() : NULL;
	if (!mode || !accel)
		return BDS_DRIVER_FAIL;
	char *from = NULL;
	if (jv_object_has(jv_copy(a->env), jv_string("snapshot"))) {
		from = record_from(a, mode, accel);
		if (!from) {
			/* the record goes on from a fresh boot, and says why */
			bds_util_warn("booting a fresh machine: %s", bds_util_error());
		} else if (start_qemu(a, from, 1, mode, accel, a->base, vm) != BDS_DRIVER_OK) {
			bds_util_warn("booting a fresh machine: restoring the entry's failed: %s", bds_util_error());
		} else {
			free(from);
			return BDS_DRIVER_OK;
		}
		free(from);
	}
	/* a boot is never cold: there is no warm state to miss */
	return start_qemu(a, NULL, 0, mode, accel, a->base, vm) == BDS_DRIVER_OK ? BDS_DRIVER_OK : BDS_DRIVER_FAIL;
}

static enum bds_driver_status qemu_restore(const struct bds_driver_args *a, jv *vm)
{
	jv snap = bds_json_get(jv_copy(a->env), "snapshot", JV_KIND_OBJECT);
	jv ds = bds_json_get(bds_json_get(jv_copy(snap), "metadata", JV_KIND_OBJECT), "driver_state", JV_KIND_OBJECT);
	char *dir = NULL, *base = NULL, *mode = NULL, *accel = NULL;
	enum bds_driver_status st = BDS_DRIVER_FAIL;
	if (bds_json_get_string(jv_copy(snap), "dir", &dir) != 0 || bds_json_get_string(jv_copy(snap), "base", &base) != 0 ||
	    bds_json_get_string(jv_copy(ds), "snapshot_mode", &mode) != 0 ||
	    bds_json_get_string(jv_copy(ds), "accel", &accel) != 0 ||
	    (strcmp(mode, "shared") != 0 && strcmp(mode, "stream") != 0) ||
	    (strcmp(accel, "kvm") != 0 && strcmp(accel, "tcg") != 0)) {
		bds_util_fail("envelope: needs snapshot.dir, snapshot.base and snapshot.metadata.driver_state's "
		              "snapshot_mode and accel (a qemu-driver entry)");
		goto out;
	}
	/* nothing starts before the entry is known whole */
	const char *shared[] = {"base_hashes.json", "vmstate", "mem", "disk", NULL};
	const char *stream[] = {"base_hashes.json", "vmstate", "disk", NULL};
	int whole = bds_store_entry_check(jv_copy(a->env), strcmp(mode, "shared") == 0 ? shared : stream);
	if (whole != 0) {
		st = whole > 0 ? BDS_DRIVER_COLD : BDS_DRIVER_FAIL;
		goto out;
	}
	/* the entry's own accelerator: device state differs between KVM and TCG (the
	 * fingerprint keeps them apart; this keeps a hand-made pipeline right too) */
	st = start_qemu(a, dir, 0, mode, accel, base, vm);
out:
	jv_free(snap);
	jv_free(ds);
	free(dir);
	free(base);
	free(mode);
	free(accel);
	return st;
}

static enum bds_driver_status qemu_state(const struct bds_driver_args *a, jv *state)
{
	jv vm = bds_json_get(jv_copy(a->env), "vm", JV_KIND_OBJECT);
	char *run_dir = NULL, *mode = NULL, *accel = NULL, *sock = NULL, *target = NULL, *from = NULL;
	char *quoted = NULL;
	double pid = 0;
	struct bds_qmp *q = NULL;
	struct bds_vm_image img = {0};
	enum bds_driver_status st = BDS_DRIVER_FAIL;
	double deadline = bds_util_now() + bds_vm_timeout();
	if (bds_json_get_string(jv_copy(vm), "run_dir", &run_dir) != 0 ||
	    bds_json_get_string(jv_copy(vm), "snapshot_mode", &mode) != 0 ||
	    bds_json_get_string(jv_copy(vm), "accel", &accel) != 0 || bds_json_get_number(jv_copy(vm), "pid", &pid) != 0) {
		bds_util_fail("envelope: needs vm.run_dir, vm.snapshot_mode, vm.accel and vm.pid (a qemu-driver vm)");
		goto out;
	}
	if (bds_vm_image_load(&img) < 0)
		goto out;
	sock = bds_util_xasprintf("%s/qmp.sock", run_dir);
	if (!(q = bds_qmp_open(sock, (long)pid, deadline)) || bds_qmp_run(q, "stop", jv_null(), deadline, NULL) < 0)
		goto out;
	if (strcmp(mode, "shared") == 0 && ignore_shared_ram(q, deadline) < 0)
		goto out;
	target = bds_util_xasprintf("%s/vmstate", a->entry_dir);
	quoted = bds_vm_shell_quote(target);
	if (bds_qmp_run(q, "migrate", jv_object_set(jv_object(), jv_string("uri"), jv_string_fmt("exec:cat > %s", quoted)),
	                deadline, NULL) < 0)
		goto out;
	static const char *const writing[] = {"none", "setup", "active", "device", "pre-switchover", "wait-unplug", NULL};
	if (await_status(q, "query-migrate", writing, "completed", "qemu: writing the snapshot", deadline) < 0)
		goto out;
	/* QEMU exits on quit, possibly before its answer arrives: the exit is what counts */
	bds_qmp_run(q, "quit", jv_null(), deadline, NULL);
	while (bds_util_pid_alive((long)pid)) {
		if (bds_util_now() >= deadline) {
			bds_util_fail("qemu (pid %.0f) did not exit after quit", pid);
			goto out;
		}
		bds_util_sleep_ms(20);
	}
	free(from), free(target);
	from = bds_util_xasprintf("%s/disk.qcow2", run_dir);
	target = bds_util_xasprintf("%s/disk", a->entry_dir);
	if (bds_vm_move_file(from, target) < 0)
		goto out;
	if (strcmp(mode, "shared") == 0) {
		free(from), free(target);
		from = bds_util_xasprintf("%s/mem", run_dir);
		target = bds_util_xasprintf("%s/mem", a->entry_dir);
		if (bds_vm_move_file(from, target) < 0)
			goto out;
	}
	jv s = jv_object();
	s = jv_object_set(s, jv_string("snapshot_mode"), jv_string(mode));
	s = jv_object_set(s, jv_string("accel"), jv_string(accel));
	s = jv_object_set(s, jv_string("machine"), jv_string("microvm"));
	s = jv_object_set(s, jv_string("vcpus"), jv_number(img.vcpus));
	s = jv_object_set(s, jv_string("mem_mib"), jv_number(img.mem_mib));
	s = jv_object_set(s, jv_string("disk_format"), jv_string("qcow2"));
	/* records in a row from one fresh boot (bds-record starts afresh after a bound) */
	double generation = 0;
	bds_json_get_number(jv_copy(vm), "generation", &generation);
	s = jv_object_set(s, jv_string("generation"), jv_number(generation));
	*state = jv_object_set(s, jv_string("host_key_sha256"), jv_string(img.host_key_sha256));
	st = BDS_DRIVER_OK;
out:
	bds_qmp_close(q);
	bds_vm_image_free(&img);
	jv_free(vm);
	free(run_dir);
	free(mode);
	free(accel);
	free(sock);
	free(target);
	free(from);
	free(quoted);
	return st;
}

const struct bds_driver bds_driver_qemu = {"qemu", qemu_boot, qemu_restore, qemu_state};

/* driver-firecracker: the production driver. The warm machine is a Firecracker microVM,
 * configured, paused, snapshotted and restored through Firecracker's REST API.
 *
 * What earlier orchestrators got wrong, and how this one avoids it:
 * - Disk isolation. A snapshot records its drives' paths and Firecracker reopens them on
 *   load, so restoring "on a copy" still writes the recorded (frozen) image. Here every
 *   path given to Firecracker is relative ("rootfs.ext4", "vmlinux") and Firecracker runs
 *   in a directory of its own (a run directory, or the jailer's chroot), so the recorded
 *   path names this restore's own copy (a reflink where the file system has them);
 *   the load is also done paused and the drive re-pointed explicitly (PATCH /drives)
 *   before resuming. The entry's files are only ever read.
 * - Networking. Each VM gets a slot made by scripts/bds-host-setup: a network namespace
 *   with its own TAP, so every restore keeps the recorded guest address; the load's
 *   network_overrides binds the snapshot's interface to this slot's TAP.
 * - Clock. The load asks for clock_realtime (kvmclock advanced by the time elapsed) and
 *   bds-guest-sync sets the guest's wall clock after every restore. */
#define _GNU_SOURCE /* pipe2 */
#include "driver.h"

#include "exec.h"
#include "fc-api.h"
#include "fs.h"
#include "json.h"
#include "keeper.h"
#include "lock.h"
#include "store.h"
#include "uffd.h"
#include "util.h"
#include "vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 256
#define GUEST_MAC "52:54:00:12:34:56"
#define UFFD_SOCKET "uffd.sock" /* a lazy restore's, in the directory Firecracker runs in */

const char *bds_driver_firecracker_binary(void)
{
	const char *f = getenv("BDS_FIRECRACKER");
	return f && *f ? f : "firecracker";
}

static const char *slots_dir(void)
{
	const char *s = getenv("BDS_FC_SLOTS");
	return s && *s ? s : "/run/bds/slots";
}

/* A network slot of scripts/bds-host-setup, held through the kernel lock of <n>.lock. */
struct slot {
	int n;
	char *netns, *tap, *guest_host, *lock;
	int lock_fd; /* holds the slot until the keeper does */
	int guest_port;
};

static void slot_free(struct slot *s)
{
	free(s->netns);
	free(s->tap);
	free(s->guest_host);
	free(s->lock);
	bds_lock_release(s->lock_fd);
	memset(s, 0, sizeof *s);
	s->lock_fd = -1;
}

static int slot_read(const char *dir, int n, struct slot *s)
{
	char *path = bds_util_xasprintf("%s/%d.json", dir, n);
	char *text = NULL;
	size_t len = 0;
	int rc = bds_fs_read_regular(path, 65536, &text, &len);
	if (rc < 0) {
		free(path);
		return -1;
	}
	jv j = jv_parse_sized(text, (int)len);
	free(text);
	double port = 0;
	memset(s, 0, sizeof *s);
	s->lock_fd = -1;
	s->n = n;
	if (!jv_is_valid(j) || bds_json_get_string(jv_copy(j), "netns", &s->netns) != 0 ||
	    bds_json_get_string(jv_copy(j), "tap", &s->tap) != 0 ||
	    bds_json_get_string(jv_copy(j), "guest_host", &s->guest_host) != 0 ||
	    bds_json_get_number(jv_copy(j), "guest_port", &port) != 0 || port < 1 || port > 65535) {
		rc = bds_util_fail("slot file '%s': needs strings netns, tap, guest_host and a port guest_port", path);
		slot_free(s);
	}
	s->guest_port = (int)port;
	jv_free(j);
	free(path);
	return rc;
}

/* Does the slot's TAP exist (in its namespace)? -1 with how to create it otherwise. */
static int slot_check_tap(const struct slot *s)
{
	int ok;
	char *sys = bds_util_xasprintf("/sys/class/net/%s", s->tap);
	if (!*s->netns) {
		ok = access(sys, F_OK) == 0;
	} else {
		char *argv[] = {"ip", "netns", "exec", s->netns, "test", "-e", sys, NULL};
		struct bds_exec_result res;
		ok = bds_exec_run(argv, NULL, 2, 2, bds_util_now() + 30, &res) == 0 && !res.timed_out && !res.signal[0] &&
		     res.status == 0;
	}
	free(sys);
	if (ok)
		return 0;
	return bds_util_fail("firecracker: TAP '%s'%s%s does not exist: create the slots with "
	                     "`scripts/bds-host-setup --slots N --dir %s` (as root)",
	                     s->tap, *s->netns ? " in network namespace " : "", s->netns, slots_dir());
}

/* Takes a free slot within `timeout` seconds. 0, 1 (none free in time: recorded), -1. */
static int slot_take(double timeout, struct slot *out)
{
	const char *dir = slots_dir();
	double deadline = bds_util_now() + timeout;
	for (;;) {
		int found = 0;
		for (int n = 0; n < MAX_SLOTS; n++) {
			char *file = bds_util_xasprintf("%s/%d.json", dir, n);
			int exists = access(file, F_OK) == 0;
			free(file);
			if (!exists)
				continue;
			found = 1;
			struct slot s;
			if (slot_read(dir, n, &s) < 0)
				return -1;
			s.lock = bds_util_xasprintf("%s/%d.lock", dir, n);
			int r = bds_lock_take(s.lock, 0, &s.lock_fd);
			if (r == 0) {
				if (slot_check_tap(&s) < 0) {
					slot_free(&s);
					return -1;
				}
				*out = s;
				return 0;
			}
			slot_free(&s);
			if (r < 0)
				return -1;
		}
		if (!found)
			return bds_util_fail("firecracker: no network slot in '%s': create them with "
			                     "`scripts/bds-host-setup --slots N --dir %s` (as root)",
			                     dir, dir);
		if (bds_util_now() >= deadline) {
			bds_util_fail("firecracker: every network slot in '%s' stayed busy for %gs", dir, timeout);
			return 1;
		}
		bds_util_sleep_ms(100);
	}
}

/* Puts `from` at `to` for the VM: a hard link for files it only reads, a copy (a reflink
 * where the file system has them, sparse regions kept sparse) for files it writes. A link
 * is the entry's own file: Firecracker opens the snapshot files read-only (File::open) and
 * maps guest memory privately; a jailed Firecracker (uid `jail_uid`, not root) gets a copy
 * of any file that uid could write, so that not even a compromised VMM writes an entry. */
static int place(const char *from, const char *to, int writable, const struct bds_driver_args *a)
{
	struct stat st;
	int jailed_can_write = a->jailer && a->jail_uid != 0 && stat(from, &st) == 0 &&
	                       ((long)st.st_uid == a->jail_uid || (st.st_mode & S_IWOTH) ||
	                        ((long)st.st_gid == a->jail_gid && (st.st_mode & S_IWGRP)));
	if (!writable && !jailed_can_write && link(from, to) == 0)
		return 0;
	return bds_fs_copy_sparse(from, to, bds_util_now() + bds_vm_timeout());
}

/* Where this VM's files live and Firecracker runs: the run directory, or the jailer's
 * chroot <chroot_base>/firecracker/<id>/root. */
struct fc_vm {
	char *id, *run_dir, *root, *sock;
	int run_lock; /* the run directory's lock, until the keeper holds it */
	char *jail_dir; /* <chroot_base>/firecracker/<id>, removed with the VM */
	long keeper, pid;
	long uffd_pid; /* a lazy restore's bds-uffd-handler, or 0 */
};

static void fc_vm_free(struct fc_vm *v)
{
	free(v->id);
	free(v->run_dir);
	bds_lock_release(v->run_lock);
	free(v->root);
	free(v->sock);
	free(v->jail_dir);
	memset(v, 0, sizeof *v);
}

static int fc_prepare(const struct bds_driver_args *a, struct fc_vm *v)
{
	if (!(v->run_dir = bds_vm_run_dir("fc", &v->run_lock)))
		return -1;
	const char *slash = strrchr(v->run_dir, '/');
	v->id = bds_util_xasprintf("bds-%s", strchr(slash, '.') + 1);
	if (!a->jailer) {
		v->root = bds_util_xstrdup(v->run_dir);
		v->sock = bds_util_xasprintf("%s/fc.sock", v->run_dir);
		return 0;
	}
	const char *exe = strrchr(bds_driver_firecracker_binary(), '/');
	char *exec_dir = bds_util_xasprintf("%s/%s", a->chroot_base, exe ? exe + 1 : bds_driver_firecracker_binary());
	v->jail_dir = bds_util_xasprintf("%s/%s", exec_dir, v->id);
	v->root = bds_util_xasprintf("%s/root", v->jail_dir);
	v->sock = bds_util_xasprintf("%s/run/firecracker.socket", v->root);
	int rc = bds_fs_mkdirs(v->root, 0777);
	free(exec_dir);
	return rc;
}

/* The command that runs Firecracker for v in slot s. */
static char **fc_argv(const struct bds_driver_args *a, const struct fc_vm *v, const struct slot *s)
{
	char **argv = bds_util_xcalloc(32, sizeof *argv);
	int n = 0;
	if (a->jailer) {
		argv[n++] = bds_util_xstrdup(a->jailer);
		argv[n++] = bds_util_xstrdup("--id");
		argv[n++] = bds_util_xstrdup(v->id);
		argv[n++] = bds_util_xstrdup("--exec-file");
		argv[n++] = bds_util_xstrdup(bds_driver_firecracker_binary());
		argv[n++] = bds_util_xstrdup("--uid");
		argv[n++] = bds_util_xasprintf("%ld", a->jail_uid);
		argv[n++] = bds_util_xstrdup("--gid");
		argv[n++] = bds_util_xasprintf("%ld", a->jail_gid);
		argv[n++] = bds_util_xstrdup("--chroot-base-dir");
		argv[n++] = bds_util_xstrdup(a->chroot_base);
		if (*s->netns) {
			argv[n++] = bds_util_xstrdup("--netns");
			argv[n++] = bds_util_xasprintf("/var/run/netns/%s", s->netns);
		}
		argv[n++] = bds_util_xstrdup("--");
		argv[n++] = bds_util_xstrdup("--api-sock");
		argv[n++] = bds_util_xstrdup("/run/firecracker.socket");
		return argv;
	}
	if (*s->netns) {
		argv[n++] = bds_util_xstrdup("ip");
		argv[n++] = bds_util_xstrdup("netns");
		argv[n++] = bds_util_xstrdup("exec");
		argv[n++] = bds_util_xstrdup(s->netns);
	}
	argv[n++] = bds_util_xstrdup(bds_driver_firecracker_binary());
	argv[n++] = bds_util_xstrdup("--api-sock");
	argv[n++] = bds_util_xstrdup("fc.sock");
	argv[n++] = bds_util_xstrdup("--id");
	argv[n++] = bds_util_xstrdup(v->id);
	return argv;
}

static void argv_free(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

/* Starts Firecracker for v under a keeper that also releases the slot; opens its API. */
static struct bds_fc_api *fc_start(const struct bds_driver_args *a, struct fc_vm *v, const struct slot *s,
                                   double deadline)
{
	char **argv = fc_argv(a, v, s);
	char *cleanup[] = {v->jail_dir, NULL};
	int locks[] = {v->run_lock, s->lock_fd};
	struct bds_keeper_spec ks = {.vmm_argv = argv, .run_dir = v->run_dir, .cleanup = cleanup, .lock_fds = locks,
	                             .nlock_fds = 2, .owner = a->lock_owner};
	int rc = bds_keeper_start(&ks, &v->keeper, &v->pid);
	argv_free(argv);
	if (rc < 0)
		return NULL;
	if (bds_fc_api_wait(v->sock, v->pid, deadline) < 0)
		return NULL;
	return bds_fc_api_open(v->sock);
}

/* {k1: v1, k2: v2}, or {k1: v1} when k2 is NULL */
static jv obj2(const char *k1, jv v1, const char *k2, jv v2)
{
	jv o = jv_object_set(jv_object(), jv_string(k1), v1);
	if (!k2) {
		jv_free(v2);
		return o;
	}
	return jv_object_set(o, jv_string(k2), v2);
}

static jv fc_vm_json(const char *base, const struct fc_vm *v, const struct slot *s, const char *workspace, jv guest)
{
	jv vm = jv_object();
	vm = jv_object_set(vm, jv_string("driver"), jv_string("firecracker"));
	vm = jv_object_set(vm, jv_string("base"), jv_string(base));
	vm = jv_object_set(vm, jv_string("id"), jv_string(v->id));
	vm = jv_object_set(vm, jv_string("run_dir"), jv_string(v->run_dir));
	vm = jv_object_set(vm, jv_string("root"), jv_string(v->root));
	vm = jv_object_set(vm, jv_string("api_sock"), jv_string(v->sock));
	vm = jv_object_set(vm, jv_string("keeper_pid"), jv_number((double)v->keeper));
	vm = jv_object_set(vm, jv_string("pid"), jv_number((double)v->pid));
	vm = jv_object_set(vm, jv_string("slot"), jv_number(s->n));
	vm = jv_object_set(vm, jv_string("netns"), jv_string(s->netns));
	vm = jv_object_set(vm, jv_string("tap"), jv_string(s->tap));
	vm = jv_object_set(vm, jv_string("startup_options"), jv_array());
	vm = jv_object_set(vm, jv_string("workspace"), workspace ? jv_string(workspace) : jv_null());
	return jv_object_set(vm, jv_string("guest"), guest);
}

/* Record: configures a fresh microVM and starts it. Each body is built at its call, so a
 * failed call leaves none behind. */
static int fc_configure_and_start(struct bds_fc_api *api, const struct bds_vm_image *img, const struct slot *s,
                                  double deadline)
{
	jv machine = obj2("vcpu_count", jv_number(img->vcpus), "mem_size_mib", jv_number(img->mem_mib));
	machine = jv_object_set(machine, jv_string("smt"), jv_false());
	machine = jv_object_set(machine, jv_string("track_dirty_pages"), jv_false());
	if (bds_fc_api_call(api, "PUT", "/machine-config", machine, deadline, NULL) < 0)
		return -1;
	jv boot = obj2("kernel_image_path", jv_string("vmlinux"), "initrd_path", jv_string("initrd.img"));
	boot = jv_object_set(boot, jv_string("boot_args"), jv_string(img->cmdline));
	if (bds_fc_api_call(api, "PUT", "/boot-source", boot, deadline, NULL) < 0)
		return -1;
	jv drive = obj2("drive_id", jv_string("rootfs"), "path_on_host", jv_string("rootfs.ext4"));
	drive = jv_object_set(drive, jv_string("is_root_device"), jv_false());
	drive = jv_object_set(drive, jv_string("is_read_only"), jv_false());
	if (bds_fc_api_call(api, "PUT", "/drives/rootfs", drive, deadline, NULL) < 0)
		return -1;
	jv net = obj2("iface_id", jv_string("eth0"), "host_dev_name", jv_string(s->tap));
	net = jv_object_set(net, jv_string("guest_mac"), jv_string(GUEST_MAC));
	if (bds_fc_api_call(api, "PUT", "/network-interfaces/eth0", net, deadline, NULL) < 0)
		return -1;
	return bds_fc_api_call(api, "PUT", "/actions", obj2("action_type", jv_string("InstanceStart"), NULL, jv_null()),
	                       deadline, NULL);
}

/* Consume: loads the snapshot paused, points its disk at this restore's copy, resumes. */
static int fc_load_and_resume(struct bds_fc_api *api, const struct bds_driver_args *a, const struct fc_vm *v,
                              const struct slot *s, double deadline)
{
	const char *rt = getenv("BDS_FC_CLOCK_REALTIME");
	/* lazy: guest memory faults go to bds-uffd-handler (start_uffd_handler) */
	jv backend = v->uffd_pid ? obj2("backend_type", jv_string("Uffd"), "backend_path", jv_string(UFFD_SOCKET))
	                         : obj2("backend_type", jv_string("File"), "backend_path", jv_string("mem"));
	jv load = obj2("snapshot_path", jv_string("vmstate"), "mem_backend", backend);
	load = jv_object_set(load, jv_string("resume_vm"), jv_false());
	load = jv_object_set(load, jv_string("network_overrides"),
	                     jv_array_append(jv_array(), obj2("iface_id", jv_string("eth0"), "host_dev_name",
	                                                      jv_string(s->tap))));
	load = jv_object_set(load, jv_string("clock_realtime"), jv_bool(!(rt && strcmp(rt, "0") == 0)));
	if (bds_fc_api_call(api, "PUT", "/snapshot/load", load, deadline, NULL) < 0)
		return -1;
	/* the drive, already at this restore's copy through its relative name, is pointed
	 * there once more by an absolute path: never the entry's image */
	jv drive = obj2("drive_id", jv_string("rootfs"), "path_on_host",
	                a->jailer ? jv_string("rootfs.ext4") : jv_string_fmt("%s/rootfs.ext4", v->root));
	if (bds_fc_api_call(api, "PATCH", "/drives/rootfs", drive, deadline, NULL) < 0)
		return -1;
	return bds_fc_api_call(api, "PATCH", "/vm", obj2("state", jv_string("Resumed"), NULL, jv_null()), deadline,
	                       NULL);
}

/* The path of program `name` beside this one (the pipeline's stages live side by side),
 * malloc'd. */
static char *sibling_program(const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return bds_util_xstrdup(name);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	return bds_util_xasprintf("%s/%s", self, name);
}

/* A lazy restore (store.md 4.3): starts bds-uffd-handler, listening on <root>/uffd.sock
 * for the Firecracker about to load the snapshot, with the entry's mem put together at
 * <root>/mem from the store's chunks (snapshot.store, the entry's metadata.json) as the
 * guest touches it. Its standard error goes to <run_dir>/uffd.log. It ends with
 * Firecracker, or at `deadline` if Firecracker never connects. 0 once it listens
 * (v->uffd_pid set), or -1 (recorded; nothing left running). */
static int start_uffd_handler(const struct bds_driver_args *a, struct fc_vm *v, const char *entry, double deadline)
{
	char *store = NULL;
	jv snap = bds_json_get(jv_copy(a->env), "snapshot", JV_KIND_OBJECT);
	if (!jv_is_valid(snap) || bds_json_get_string(snap, "store", &store) != 0) {
		if (!jv_is_valid(snap))
			jv_free(snap);
		free(store);
		return bds_util_fail("envelope: a lazy snapshot needs snapshot.store");
	}
	char *prog = sibling_program("bds-uffd-handler");
	char *sock = bds_util_xasprintf("%s/" UFFD_SOCKET, v->root);
	char *md = bds_util_xasprintf("%s/metadata.json", entry);
	char *out = bds_util_xasprintf("%s/mem", v->root);
	char *log = bds_util_xasprintf("%s/uffd.log", v->run_dir);
	char *timeout = bds_util_xasprintf("%.0f", deadline - bds_util_now() > 1 ? deadline - bds_util_now() : 1);
	const char *fill = getenv("BDS_UFFD_FILL");
	char *argv[] = {prog, "--socket", sock, "--store", store, "--metadata", md, "--out", out,
	                "--fill", (char *)(fill && *fill ? fill : "8"), "--timeout", timeout, NULL};
	int rc = -1, p[2] = {-1, -1};
	char line[PATH_MAX + 2];
	size_t got = 0;
	if (pipe2(p, O_CLOEXEC) < 0) {
		bds_util_fail("pipe: %s", strerror(errno));
		goto out;
	}
	pid_t pid = fork();
	if (pid < 0) {
		bds_util_fail("fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int err = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (err < 0 || in < 0 || dup2(in, 0) < 0 || dup2(p[1], 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		execv(prog, argv);
		_exit(127);
	}
	close(p[1]);
	p[1] = -1;
	/* its ready line: the socket's path, once it listens */
	while (got < sizeof line - 1 && !memchr(line, '\n', got) && bds_uffd_wait_readable(p[0], deadline) > 0) {
		ssize_t n = read(p[0], line + got, sizeof line - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	line[got] = '\0';
	if (got == strlen(sock) + 1 && strncmp(line, sock, got - 1) == 0 && line[got - 1] == '\n') {
		v->uffd_pid = pid;
		rc = 0;
	} else {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		char *why = NULL;
		size_t wl = 0;
		bds_fs_read_regular(log, 4096, &why, &wl);
		if (why)
			why[strcspn(why, "\n")] = '\0';
		bds_util_fail("bds-uffd-handler did not start: %s", why && *why ? why : "no ready line");
		free(why);
	}
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	free(prog);
	free(sock);
	free(md);
	free(out);
	free(log);
	free(timeout);
	free(store);
	return rc;
}

/* Stops a lazy restore's handler after a failed restore: it may have killed Firecracker
 * itself (a chunk failed its check) and be saying why, so it has 2 s to end on its own.
 * What it said last (its log's last line, or "nothing"), malloc'd. */
static char *stop_uffd_handler(struct fc_vm *v)
{
	pid_t pid = (pid_t)v->uffd_pid;
	for (int i = 0; i < 200 && waitpid(pid, NULL, WNOHANG) == 0; i++) {
		if (i == 199) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		usleep(10000);
	}
	v->uffd_pid = 0;
	char *log = bds_util_xasprintf("%s/uffd.log", v->run_dir), *text = NULL;
	size_t len = 0;
	char *said = NULL;
	if (bds_fs_read_regular(log, 65536, &text, &len) == 0) {
		while (len > 0 && text[len - 1] == '\n')
			text[--len] = '\0';
		char *last = strrchr(text, '\n');
		said = bds_util_xstrdup(last ? last + 1 : text);
	}
	free(text);
	free(log);
	if (!said || !*said) {
		free(said);
		said = bds_util_xstrdup("nothing");
	}
	return said;
}

/* Does the envelope's snapshot leave mem to a lazy restore (bds-store-lookup --lazy-mem)? */
static int mem_is_lazy(jv env)
{
	jv lazy = bds_json_get(bds_json_get(env, "snapshot", JV_KIND_OBJECT), "lazy", JV_KIND_ARRAY);
	int yes = 0;
	if (jv_is_valid(lazy)) {
		jv_array_foreach(lazy, i, l) {
			yes |= jv_get_kind(l) == JV_KIND_STRING && strcmp(jv_string_value(l), "mem") == 0;
			jv_free(l);
		}
	}
	jv_free(lazy);
	return yes;
}

/* Boots (entry == NULL) or restores (entry = the snapshot's directory) a microVM.
 * BDS_DRIVER_OK with *vm set; BDS_DRIVER_COLD (recorded) when it failed, the VM gone, or
 * every slot is busy: a restore is cold, a boot fails; BDS_DRIVER_FAIL (recorded) when the
 * configuration is wrong (no image, key, slot or TAP): nothing was started. */
static enum bds_driver_status fc_run(const struct bds_driver_args *a, const char *entry, const char *base, jv *vm)
{
	struct bds_vm_image img;
	struct slot s = {.lock_fd = -1};
	struct fc_vm v = {.run_lock = -1};
	struct bds_fc_api *api = NULL;
	char *key = NULL, *from = NULL, *to = NULL, *tail = NULL;
	enum bds_driver_status rc = BDS_DRIVER_COLD;
	int taken = 0, lazy = entry && mem_is_lazy(jv_copy(a->env));
	double deadline = bds_util_now() + bds_vm_timeout();
	if (lazy && a->jailer) {
		bds_util_fail("a lazy restore (snapshot.lazy) does not run under the jailer yet: look the entry up "
		              "without --lazy-mem");
		return BDS_DRIVER_COLD;
	}
	if (bds_vm_image_load(&img) < 0)
		return BDS_DRIVER_FAIL;
	if (!(key = bds_vm_key_path(&img))) {
		rc = BDS_DRIVER_FAIL;
		goto out;
	}
	/* busy slots are a cold restore; no slot or no TAP is a setup to fix */
	if ((taken = slot_take(a->lock_timeout, &s)) != 0) {
		rc = taken > 0 ? BDS_DRIVER_COLD : BDS_DRIVER_FAIL;
		goto out;
	}
	if (fc_prepare(a, &v) < 0)
		goto release;
	to = bds_util_xasprintf("%s/rootfs.ext4", v.root);
	if (place(entry ? (from = bds_util_xasprintf("%s/disk", entry)) : img.rootfs, to, 1, a) < 0)
		goto release;
	if (entry) {
		/* a lazy mem is not there: bds-uffd-handler brings it in */
		const char *names[] = {"vmstate", "mem"};
		for (int i = 0; i < (lazy ? 1 : 2); i++) {
			free(from), free(to);
			from = bds_util_xasprintf("%s/%s", entry, names[i]);
			to = bds_util_xasprintf("%s/%s", v.root, names[i]);
			if (place(from, to, 0, a) < 0)
				goto release;
		}
	} else {
		free(to);
		to = bds_util_xasprintf("%s/vmlinux", v.root);
		if (place(img.kernel, to, 0, a) < 0)
			goto release;
		free(to);
		to = bds_util_xasprintf("%s/initrd.img", v.root);
		if (place(img.initrd, to, 0, a) < 0)
			goto release;
	}
	if (a->jailer) {
		/* the jailer drops to uid:gid before Firecracker opens anything: it needs to
		 * write its directory, its socket's directory and its disk; the linked files
		 * (the entry's, the image's) are only read and keep their owner */
		char *owner = bds_util_xasprintf("%ld:%ld", a->jail_uid, a->jail_gid);
		char *run = bds_util_xasprintf("%s/run", v.root);
		char *disk = bds_util_xasprintf("%s/rootfs.ext4", v.root);
		char *chown_argv[] = {"chown", owner, v.root, run, disk, NULL};
		int r = bds_fs_mkdirs(run, 0777) < 0 || bds_vm_run(chown_argv, NULL) < 0 ? -1 : 0;
		free(owner);
		free(run);
		free(disk);
		if (r < 0)
			goto release;
	}
	if (!(api = fc_start(a, &v, &s, deadline)))
		goto fail;
	if (lazy && start_uffd_handler(a, &v, entry, deadline) < 0)
		goto fail;
	if (!entry ? fc_configure_and_start(api, &img, &s, deadline) < 0
	           : fc_load_and_resume(api, a, &v, &s, deadline) < 0)
		goto fail;
	*vm = fc_vm_json(base, &v, &s, img.workspace, bds_vm_guest(&img, key, s.guest_host, s.guest_port));
	rc = BDS_DRIVER_OK;
	goto out;
fail:
	tail = bds_vm_console_tail(v.run_dir, 300);
	if (v.uffd_pid) {
		char *said = stop_uffd_handler(&v);
		bds_util_fail("firecracker: %s (console: %s; page-fault handler: %s)", bds_util_error(), tail, said);
		free(said);
	} else {
		bds_util_fail("firecracker: %s (console: %s)", bds_util_error(), tail);
	}
	if (v.keeper) {
		bds_keeper_stop(v.keeper, bds_util_now() + 10);
		goto out; /* the keeper removed the run directory and released the slot */
	}
release:
	if (v.run_dir)
		bds_fs_remove_tree(v.run_dir);
	if (v.jail_dir)
		bds_fs_remove_tree(v.jail_dir);
out: /* slot_free and fc_vm_free release the locks this process still holds */
	bds_fc_api_close(api);
	bds_vm_image_free(&img);
	slot_free(&s);
	fc_vm_free(&v);
	free(key);
	free(from);
	free(to);
	free(tail);
	return rc;
}

static enum bds_driver_status fc_boot(const struct bds_driver_args *a, jv *vm)
{
	/* a boot is never cold: there is no warm state to miss */
	return fc_run(a, NULL, a->base, vm) == BDS_DRIVER_OK ? BDS_DRIVER_OK : BDS_DRIVER_FAIL;
}

static enum bds_driver_status fc_restore(const struct bds_driver_args *a, jv *vm)
{
	jv snap = bds_json_get(jv_copy(a->env), "snapshot", JV_KIND_OBJECT);
	char *dir = NULL, *base = NULL;
	enum bds_driver_status st = BDS_DRIVER_FAIL;
	/* nothing is taken or started before the entry is known whole */
	const char *need[] = {"base_hashes.json", "vmstate", "mem", "disk", NULL};
	int whole = -1;
	if (bds_json_get_string(jv_copy(snap), "dir", &dir) != 0 || bds_json_get_string(jv_copy(snap), "base", &base) != 0)
		bds_util_fail("envelope: needs snapshot.dir and snapshot.base");
	else if ((whole = bds_store_entry_check(jv_copy(a->env), need)) != 0)
		st = whole > 0 ? BDS_DRIVER_COLD : BDS_DRIVER_FAIL;
	else
		st = fc_run(a, dir, base, vm);
	jv_free(snap);
	free(dir);
	free(base);
	return st;
}

static enum bds_driver_status fc_state(const struct bds_driver_args *a, jv *state)
{
	jv vm = bds_json_get(jv_copy(a->env), "vm", JV_KIND_OBJECT);
	char *root = NULL, *sock = NULL, *from = NULL, *to = NULL;
	struct bds_fc_api *api = NULL;
	struct bds_vm_image img = {0};
	enum bds_driver_status st = BDS_DRIVER_FAIL;
	double deadline = bds_util_now() + bds_vm_timeout();
	if (bds_json_get_string(jv_copy(vm), "root", &root) != 0 || bds_json_get_string(jv_copy(vm), "api_sock", &sock) != 0) {
		bds_util_fail("envelope: needs vm.root and vm.api_sock (a firecracker-driver vm)");
		goto out;
	}
	if (bds_vm_image_load(&img) < 0 || !(api = bds_fc_api_open(sock)))
		goto out;
	if (bds_fc_api_call(api, "PATCH", "/vm", obj2("state", jv_string("Paused"), NULL, jv_null()), deadline, NULL) < 0)
		goto out;
	jv create = obj2("snapshot_type", jv_string("Full"), "snapshot_path", jv_string("vmstate"));
	create = jv_object_set(create, jv_string("mem_file_path"), jv_string("mem"));
	if (bds_fc_api_call(api, "PUT", "/snapshot/create", create, deadline, NULL) < 0)
		goto out;
	/* paused for good: its files are complete and nothing writes them any more */
	const char *names[][2] = {{"vmstate", "vmstate"}, {"mem", "mem"}, {"rootfs.ext4", "disk"}};
	for (int i = 0; i < 3; i++) {
		free(from), free(to);
		from = bds_util_xasprintf("%s/%s", root, names[i][0]);
		to = bds_util_xasprintf("%s/%s", a->entry_dir, names[i][1]);
		if (bds_vm_move_file(from, to) < 0)
			goto out;
	}
	jv s = jv_object();
	s = jv_object_set(s, jv_string("vcpus"), jv_number(img.vcpus));
	s = jv_object_set(s, jv_string("mem_mib"), jv_number(img.mem_mib));
	s = jv_object_set(s, jv_string("snapshot_type"), jv_string("Full"));
	s = jv_object_set(s, jv_string("disk_format"), jv_string("raw"));
	*state = jv_object_set(s, jv_string("host_key_sha256"), jv_string(img.host_key_sha256));
	st = BDS_DRIVER_OK;
out:
	bds_fc_api_close(api);
	bds_vm_image_free(&img);
	jv_free(vm);
	free(root);
	free(sock);
	free(from);
	free(to);
	return st;
}

const struct bds_driver bds_driver_firecracker = {"firecracker", fc_boot, fc_restore, fc_state};

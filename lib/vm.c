/* vm: pieces the qemu and firecracker drivers share (see vm.h). */
#define _DEFAULT_SOURCE
#include "vm.h"

#include "exec.h"
#include "fs.h"
#include "json.h"
#include "lock.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define MANIFEST_MAX ((size_t)1 << 20)
#define DEFAULT_TIMEOUT 120.0
#define MAX_TIMEOUT 86400.0
/* A run directory without a lock file this old lost its owner before it took the lock
 * (a moment after making it). Long: one of an older bds, which made none, may be in use. */
#define RUN_DIR_GRACE 3600.0

/* BDS_VM_TIMEOUT: seconds, a plain decimal number above 0, at most MAX_TIMEOUT (no sign,
 * exponent, nan or inf). 0 with *out set (DEFAULT_TIMEOUT when unset), -1 when malformed. */
static int vm_timeout(double *out)
{
	const char *t = getenv("BDS_VM_TIMEOUT");
	*out = DEFAULT_TIMEOUT;
	if (!t || !*t)
		return 0;
	double v = 0;
	if (bds_util_parse_decimal(t, MAX_TIMEOUT, &v) < 0)
		return -1;
	if (!(v > 0))
		return -1;
	*out = v;
	return 0;
}

/* The absolute path of manifest's file `key` (consumes manifest); NULL: recorded. */
static char *image_file(jv manifest, const char *dir, const char *key)
{
	char *name = NULL;
	if (bds_json_get_string(manifest, key, &name) != 0) {
		bds_util_fail("image '%s': manifest.json has no string '%s'", dir, key);
		return NULL;
	}
	char *path = name[0] == '/' ? bds_util_xstrdup(name) : bds_util_xasprintf("%s/%s", dir, name);
	free(name);
	if (access(path, R_OK) != 0) {
		bds_util_fail("image '%s': file '%s': %s", dir, path, strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}

int bds_vm_image_load(struct bds_vm_image *img)
{
	memset(img, 0, sizeof *img);
	const char *dir = getenv("BDS_VM_IMAGE");
	double timeout;
	if (vm_timeout(&timeout) < 0)
		return bds_util_fail("BDS_VM_TIMEOUT '%s': expected seconds, above 0 and at most %.0f",
		                     getenv("BDS_VM_TIMEOUT"), MAX_TIMEOUT);
	if (!dir || !*dir)
		return bds_util_fail("BDS_VM_IMAGE is not set: it names the guest image directory (guest/build-image --out)");
	char *path = bds_util_xasprintf("%s/manifest.json", dir);
	char *text = NULL;
	size_t len = 0;
	int rc = bds_fs_read_regular(path, MANIFEST_MAX, &text, &len);
	free(path);
	if (rc < 0)
		return -1;
	jv m = jv_parse_sized(text, (int)len);
	free(text);
	if (!jv_is_valid(m) || jv_get_kind(m) != JV_KIND_OBJECT) {
		jv_free(m);
		return bds_util_fail("image '%s': manifest.json is not a JSON object", dir);
	}
	double vcpus = 0, mem = 0;
	img->dir = bds_util_xstrdup(dir);
	rc = -1;
	if (!(img->kernel = image_file(jv_copy(m), dir, "kernel")) ||
	    !(img->bzimage = image_file(jv_copy(m), dir, "bzimage")) ||
	    !(img->initrd = image_file(jv_copy(m), dir, "initrd")) ||
	    !(img->rootfs = image_file(jv_copy(m), dir, "rootfs")))
		goto out;
	if (bds_json_get_string(jv_copy(m), "cmdline", &img->cmdline) != 0 ||
	    bds_json_get_string(jv_copy(m), "host_key_sha256", &img->host_key_sha256) != 0 ||
	    bds_json_get_number(jv_copy(m), "vcpus", &vcpus) != 0 || bds_json_get_number(jv_copy(m), "mem_mib", &mem) != 0) {
		bds_util_fail("image '%s': manifest.json needs cmdline, host_key_sha256, vcpus and mem_mib", dir);
		goto out;
	}
	if (vcpus < 1 || vcpus > 64 || mem < 64 || mem > 1 << 20 || vcpus != (int)vcpus || mem != (int)mem) {
		bds_util_fail("image '%s': manifest.json: vcpus %g or mem_mib %g out of range", dir, vcpus, mem);
		goto out;
	}
	img->vcpus = (int)vcpus;
	img->mem_mib = (int)mem;
	if (bds_json_get_string(jv_copy(m), "ssh_user", &img->ssh_user) != 0)
		img->ssh_user = bds_util_xstrdup("root");
	if (bds_json_get_string(jv_copy(m), "workspace", &img->workspace) != 0)
		img->workspace = NULL;
	rc = 0;
out:
	jv_free(m);
	if (rc < 0)
		bds_vm_image_free(img);
	return rc;
}

void bds_vm_image_free(struct bds_vm_image *img)
{
	free(img->dir);
	free(img->kernel);
	free(img->bzimage);
	free(img->initrd);
	free(img->rootfs);
	free(img->cmdline);
	free(img->host_key_sha256);
	free(img->ssh_user);
	free(img->workspace);
	memset(img, 0, sizeof *img);
}

char *bds_vm_key_path(const struct bds_vm_image *img)
{
	const char *k = getenv("BDS_VM_KEY");
	char *key = k && *k ? bds_util_xstrdup(k) : bds_util_xasprintf("%s/key", img->dir);
	if (access(key, R_OK) != 0) {
		bds_util_fail("ssh key '%s' for the guest: %s (set BDS_VM_KEY)", key, strerror(errno));
		free(key);
		return NULL;
	}
	return key;
}

jv bds_vm_guest(const struct bds_vm_image *img, const char *key, const char *host, int port)
{
	jv g = jv_object();
	g = jv_object_set(g, jv_string("host"), jv_string(host));
	g = jv_object_set(g, jv_string("port"), jv_number(port));
	g = jv_object_set(g, jv_string("user"), jv_string(img->ssh_user));
	g = jv_object_set(g, jv_string("key"), jv_string(key));
	g = jv_object_set(g, jv_string("host_key_sha256"), jv_string(img->host_key_sha256));
	if (img->workspace)
		g = jv_object_set(g, jv_string("cwd"), jv_string(img->workspace));
	return g;
}

char *bds_vm_run_dir(const char *driver, int *lock_fd)
{
	const char *tmp = getenv("TMPDIR");
	/* sun_path holds 107 bytes: keep room for "/qmp.sock" and the like */
	if (!tmp || tmp[0] != '/' || strlen(tmp) > 64)
		tmp = "/tmp";
	/* run directories of keepers that were killed before they could remove them */
	char *prefix = bds_util_xasprintf("bds-%s.", driver);
	bds_lock_sweep(tmp, prefix, RUN_DIR_GRACE);
	free(prefix);
	char *template = bds_util_xasprintf("%s/bds-%s.XXXXXX", tmp, driver);
	char *dir = bds_lock_make_dir(template, lock_fd);
	free(template);
	return dir;
}

char *bds_vm_console_tail(const char *run_dir, size_t max)
{
	char *path = bds_util_xasprintf("%s/console.log", run_dir);
	char *text = NULL;
	size_t len = 0;
	int rc = bds_fs_read_regular(path, (size_t)64 << 20, &text, &len);
	free(path);
	if (rc < 0)
		return bds_util_xstrdup("(no console output)");
	size_t start = len > max ? len - max : 0;
	char *tail = bds_util_xstrdup(text + start);
	free(text);
	for (char *c = tail; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
	return tail;
}

static int digest_chunk(void *arg, const char *buf, size_t n)
{
	XXH3_128bits_update(arg, buf, n);
	return 0;
}

int bds_vm_file_digest(const char *path, const char *cache, char hex[33])
{
	struct stat st;
	if (stat(path, &st) != 0)
		return bds_util_fail("stat '%s': %s", path, strerror(errno));
	char *dir = bds_util_xasprintf("%s/digests", cache);
	char *memo = bds_util_xasprintf("%s/%llx-%llx-%llx-%lld.%09ld", dir, (unsigned long long)st.st_dev,
	                                (unsigned long long)st.st_ino, (unsigned long long)st.st_size,
	                                (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	char *text = NULL;
	size_t len = 0;
	int rc = -1;
	if (bds_fs_read_regular(memo, 64, &text, &len) == 0 && len == 32) {
		memcpy(hex, text, 33);
		rc = 0;
		goto out;
	}
	/* an image file: a FIFO in its place is refused, never waited on */
	int fd = bds_fs_open_regular(path, 0);
	if (fd < 0)
		goto out;
	XXH3_state_t *s = XXH3_createState();
	XXH3_128bits_reset(s);
	rc = bds_util_read_chunks(fd, path, (size_t)1 << 20, digest_chunk, s);
	close(fd);
	XXH128_hash_t h = XXH3_128bits_digest(s);
	XXH3_freeState(s);
	if (rc < 0)
		goto out;
	snprintf(hex, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
	/* the memo is only an optimisation: failing to write it is not an error */
	(void)bds_fs_mkdirs(dir, 0755);
	char *tmp = NULL;
	FILE *f = bds_util_atomic_open(memo, &tmp);
	if (f && fputs(hex, f) >= 0)
		bds_util_atomic_commit(f, tmp, memo);
	else if (f)
		bds_util_atomic_discard(f, tmp);
out:
	free(text);
	free(memo);
	free(dir);
	return rc;
}

char *bds_vm_cpu_model(void)
{
	char *text = NULL;
	size_t len = 0;
	char *model = NULL;
	if (bds_fs_read_file("/proc/cpuinfo", (size_t)16 << 20, &text, &len) == 0) {
		char *line = strstr(text, "\nmodel name");
		char *colon = line ? strchr(line, ':') : NULL;
		if (colon) {
			colon += 1 + (colon[1] == ' ');
			model = bds_util_xstrndup(colon, strcspn(colon, "\n"));
		}
	}
	free(text);
	return model ? model : bds_util_xstrdup("unknown");
}

char *bds_vm_shell_quote(const char *s)
{
	size_t n = 3;
	for (const char *c = s; *c; c++)
		n += *c == '\'' ? 4 : 1;
	char *q = bds_util_xmalloc(n), *o = q;
	*o++ = '\'';
	for (const char *c = s; *c; c++) {
		if (*c == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *c;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

double bds_vm_timeout(void)
{
	double v;
	vm_timeout(&v);
	return v;
}

int bds_vm_run(char *const argv[], const char *cwd)
{
	struct bds_exec_result res;
	double timeout = bds_vm_timeout();
	if (bds_exec_run(argv, cwd, 2, 2, bds_util_now() + timeout, &res) < 0)
		return -1;
	char *why = bds_exec_describe_failure(&res, timeout);
	int rc = why ? bds_util_fail("command '%s' failed: %s", argv[0], why) : 0;
	free(why);
	return rc;
}

int bds_vm_move_file(const char *from, const char *to)
{
	if (rename(from, to) == 0)
		return 0;
	if (errno != EXDEV)
		return bds_util_fail("rename '%s' to '%s': %s", from, to, strerror(errno));
	return bds_fs_copy_sparse(from, to, bds_util_now() + bds_vm_timeout());
}

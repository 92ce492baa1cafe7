/* fingerprint: the cache key of everything that can change the query graph or the
 * validity of a warm machine. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "fingerprint.h"

#include "driver.h"
#include "exec.h"
#include "util.h"
#include "version.h"
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define MAX_RC_DEPTH 32
#define MAX_RC_FILES 256
#define CMD_TIMEOUT 60.0

static void canonical_hex(XXH128_hash_t h, char out[33])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[c.digest[i] >> 4];
		out[2 * i + 1] = hex[c.digest[i] & 15];
	}
	out[32] = '\0';
}

void bds_fingerprint_xxh128_hex(const void *data, size_t len, char out[33])
{
	canonical_hex(XXH3_128bits(data, len), out);
}

/* Runs argv and returns its stdout (malloc'd, at most 1 MiB); NULL if it failed. */
static char *capture(char *const argv[], const char *cwd)
{
	const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path = bds_util_xasprintf("%s/bds-fingerprint.XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	free(path);
	if (fd < 0)
		return NULL;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct bds_exec_result res;
	char *out = NULL;
	size_t len = 0;
	if (devnull >= 0 && bds_exec_run(argv, cwd, fd, devnull, bds_util_now() + CMD_TIMEOUT, &res) == 0 &&
	    !res.timed_out && !res.signal[0] && res.status == 0 && lseek(fd, 0, SEEK_SET) == 0)
		if (bds_util_read_fd(fd, (size_t)1 << 20, argv[0], &out, &len) < 0)
			out = NULL;
	if (devnull >= 0)
		close(devnull);
	close(fd);
	return out;
}

/* A workspace file at the fingerprint's revision (git) or in the working tree.
 * Returns the contents, or NULL when the file does not exist there. */
static char *workspace_file(const struct bds_fingerprint_input *in, const char *rel, size_t *len)
{
	char *data = NULL;
	if (in->rev) {
		char *spec = bds_util_xasprintf("%s:%s", in->rev, rel);
		char *argv[] = {"git", "-C", (char *)in->workspace, "cat-file", "blob", spec, NULL};
		data = capture(argv, NULL);
		free(spec);
		*len = data ? strlen(data) : 0; /* rc files and lock files are text */
		return data;
	}
	char *path = bds_util_xasprintf("%s/%s", in->workspace, rel);
	if (bds_util_read_file(path, (size_t)64 << 20, &data, len) < 0)
		data = NULL;
	free(path);
	return data;
}

/* "absent", or "xxh3:<hex>" of the contents: absent and empty must differ. */
static jv file_component(char *data, size_t len)
{
	if (!data)
		return jv_string("absent");
	char hex[33];
	bds_fingerprint_xxh128_hex(data, len, hex);
	free(data);
	return jv_string_fmt("xxh3:%s", hex);
}

/* The .bazelrc import closure, in Bazel's reading order: each file's path and contents
 * (or "absent" for a try-import that is missing) feed one digest. */
struct rc_walk {
	const struct bds_fingerprint_input *in;
	XXH3_state_t *state;
	char *seen[MAX_RC_FILES];
	int nseen;
};

static int rc_visit(struct rc_walk *w, const char *path, int in_workspace, int depth, int optional)
{
	if (depth > MAX_RC_DEPTH || w->nseen >= MAX_RC_FILES)
		return bds_util_fail("bazelrc imports nested too deeply at '%s'", path);
	for (int i = 0; i < w->nseen; i++)
		if (strcmp(w->seen[i], path) == 0)
			return 0; /* Bazel reports import cycles; for the key, once is enough */
	w->seen[w->nseen++] = bds_util_xstrdup(path);
	size_t len = 0;
	char *data = NULL;
	if (in_workspace) {
		data = workspace_file(w->in, path, &len);
	} else if (bds_util_read_file(path, (size_t)64 << 20, &data, &len) < 0) {
		data = NULL;
	}
	XXH3_128bits_update(w->state, path, strlen(path) + 1);
	if (!data) {
		XXH3_128bits_update(w->state, "absent", 7);
		if (!optional && depth > 0)
			return bds_util_fail("bazelrc import '%s' does not exist", path);
		return 0;
	}
	XXH3_128bits_update(w->state, data, len);
	XXH3_128bits_update(w->state, "", 1);
	int rc = 0;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		int try = strncmp(line, "try-import", 10) == 0 && (line[10] == ' ' || line[10] == '\t');
		int imp = strncmp(line, "import", 6) == 0 && (line[6] == ' ' || line[6] == '\t');
		if (!try && !imp)
			continue;
		char *arg = line + (try ? 10 : 6);
		while (*arg == ' ' || *arg == '\t')
			arg++;
		size_t n = strlen(arg);
		while (n && (arg[n - 1] == ' ' || arg[n - 1] == '\t' || arg[n - 1] == '\r'))
			arg[--n] = '\0';
		if (strncmp(arg, "%workspace%/", 12) == 0)
			rc = rc_visit(w, arg + 12, 1, depth + 1, try);
		else if (arg[0] == '/')
			rc = rc_visit(w, arg, 0, depth + 1, try);
		else
			rc = bds_util_fail("bazelrc import '%s': only absolute and %%workspace%% paths are supported", arg);
	}
	free(data);
	return rc;
}

static jv bazelrc_component(const struct bds_fingerprint_input *in)
{
	struct rc_walk w = {.in = in, .state = XXH3_createState()};
	XXH3_128bits_reset(w.state);
	int rc = rc_visit(&w, ".bazelrc", 1, 0, 1);
	char hex[33];
	canonical_hex(XXH3_128bits_digest(w.state), hex);
	XXH3_freeState(w.state);
	for (int i = 0; i < w.nseen; i++)
		free(w.seen[i]);
	if (rc < 0)
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	return jv_string_fmt("xxh3:%s", hex);
}

/* The file a command name resolves to through PATH and symlinks. */
static char *resolve_command(const char *cmd)
{
	char resolved[PATH_MAX];
	if (strchr(cmd, '/'))
		return realpath(cmd, resolved) ? bds_util_xstrdup(resolved) : NULL;
	const char *path = getenv("PATH");
	if (!path)
		return NULL;
	char *copy = bds_util_xstrdup(path), *save = NULL, *out = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !out; dir = strtok_r(NULL, ":", &save)) {
		char *candidate = bds_util_xasprintf("%s/%s", dir, cmd);
		if (access(candidate, X_OK) == 0 && realpath(candidate, resolved))
			out = bds_util_xstrdup(resolved);
		free(candidate);
	}
	free(copy);
	return out;
}

/* Bazel's version; Debian's 4.2.3 reports none ("bazel no_version"), so the digest of
 * the binary stands in for it. */
static jv bazel_component(const char *bazel)
{
	char *argv[] = {(char *)bazel, "--version", NULL};
	char *out = capture(argv, NULL);
	if (out) {
		out[strcspn(out, "\n")] = '\0';
		if (strncmp(out, "bazel ", 6) == 0 && strcmp(out, "bazel no_version") != 0) {
			jv v = jv_string(out);
			free(out);
			return v;
		}
	}
	free(out);
	const char *real = getenv("BDS_REAL_BAZEL");
	char *file = resolve_command(real && *real ? real : bazel);
	if (!file)
		return jv_invalid_with_msg(jv_string_fmt("bazel '%s': not found", bazel));
	char *data = NULL;
	size_t len = 0;
	if (bds_util_read_file(file, (size_t)1 << 30, &data, &len) < 0) {
		free(file);
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	}
	char hex[33];
	bds_fingerprint_xxh128_hex(data, len, hex);
	jv v = jv_string_fmt("no_version xxh3:%s (%s)", hex, file);
	free(data);
	free(file);
	return v;
}

/* Host identity for the local driver: its warm server lives on this machine only. */
static jv host_component(void)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	char *id = NULL;
	size_t len = 0;
	if (bds_util_read_file("/etc/machine-id", 4096, &id, &len) < 0)
		id = NULL;
	char hex[33] = "none";
	if (id)
		bds_fingerprint_xxh128_hex(id, len, hex);
	free(id);
	return jv_string_fmt("%s machine-id:%s", host, hex);
}

/* The first line `binary flag` prints, or invalid with a message. */
static jv version_line(const char *binary, const char *flag)
{
	char *argv[] = {(char *)binary, (char *)flag, NULL};
	char *out = capture(argv, NULL);
	if (!out)
		return jv_invalid_with_msg(jv_string_fmt("'%s %s' failed (is it installed?)", binary, flag));
	out[strcspn(out, "\n")] = '\0';
	jv v = jv_string(out);
	free(out);
	return v;
}

static jv digest_component(const char *path, const char *cache)
{
	char hex[33];
	if (bds_vm_file_digest(path, cache, hex) < 0)
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	return jv_string_fmt("xxh3:%s", hex);
}

/* A VM snapshot restores only with the same VMM, guest image, machine shape and host
 * CPU model: all of them are part of the key. */
static jv vm_components(const char *driver, jv c)
{
	struct bds_vm_image img;
	if (bds_vm_image_load(&img) < 0) {
		jv_free(c);
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	}
	char *cache = bds_driver_cache_dir();
	int qemu = strcmp(driver, "qemu") == 0;
	jv parts[6];
	const char *names[6];
	int n = 0;
	if (qemu) {
		const char *accel = bds_driver_qemu_accel();
		names[n] = "accel", parts[n++] = accel ? jv_string(accel) : jv_invalid_with_msg(jv_string(bds_util_error()));
		const char *mode = bds_driver_qemu_snapshot_mode();
		names[n] = "snapshot_mode", parts[n++] = mode ? jv_string(mode) : jv_invalid_with_msg(jv_string(bds_util_error()));
		names[n] = "vmm", parts[n++] = version_line(bds_driver_qemu_binary(), "--version");
		names[n] = "kernel", parts[n++] = digest_component(img.bzimage, cache);
	} else {
		const char *bin = bds_driver_firecracker_binary();
		names[n] = "vmm", parts[n++] = version_line(bin, "--version");
		names[n] = "snapshot_version", parts[n++] = version_line(bin, "--snapshot-version");
		names[n] = "kernel", parts[n++] = digest_component(img.kernel, cache);
	}
	names[n] = "initrd", parts[n++] = digest_component(img.initrd, cache);
	names[n] = "rootfs", parts[n++] = digest_component(img.rootfs, cache);
	jv err = jv_null();
	for (int i = 0; i < n; i++) {
		if (jv_is_valid(parts[i]) && jv_get_kind(err) == JV_KIND_NULL)
			c = jv_object_set(c, jv_string(names[i]), parts[i]);
		else if (jv_get_kind(err) == JV_KIND_NULL)
			err = parts[i];
		else
			jv_free(parts[i]);
	}
	char *cpu = bds_vm_cpu_model();
	c = jv_object_set(c, jv_string("vm_shape"), jv_string_fmt("vcpus=%d mem_mib=%d cmdline=%s", img.vcpus, img.mem_mib, img.cmdline));
	c = jv_object_set(c, jv_string("host_cpu"), jv_string(cpu));
	free(cpu);
	free(cache);
	bds_vm_image_free(&img);
	if (jv_get_kind(err) != JV_KIND_NULL) {
		jv_free(c);
		return err;
	}
	return c;
}

static int option_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Options as "--name value" pairs (or "--name"), sorted: order does not change hashes. */
static jv canonical_options(char **options)
{
	size_t n = 0;
	for (char **p = options; p && *p; p++)
		n++;
	char **pairs = bds_util_xcalloc(n + 1, sizeof *pairs);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *opt = options[i];
		int takes_value = strchr(opt, '=') == NULL && i + 1 < n && options[i + 1][0] != '-';
		pairs[k++] = takes_value ? bds_util_xasprintf("%s\n%s", opt, options[i + 1]) : bds_util_xstrdup(opt);
		if (takes_value)
			i++;
	}
	qsort(pairs, k, sizeof *pairs, option_cmp);
	jv list = jv_array();
	for (size_t i = 0; i < k; i++) {
		char *nl = strchr(pairs[i], '\n');
		if (nl) {
			*nl = '\0';
			list = jv_array_append(jv_array_append(list, jv_string(pairs[i])), jv_string(nl + 1));
		} else {
			list = jv_array_append(list, jv_string(pairs[i]));
		}
		free(pairs[i]);
	}
	free(pairs);
	return list;
}

jv bds_fingerprint_compute(const struct bds_fingerprint_input *in, jv *hash_options)
{
	if (in->rev) {
		/* a bad revision must fail, not read every file as absent */
		char *spec = bds_util_xasprintf("%s^{commit}", in->rev);
		char *argv[] = {"git", "-C", (char *)in->workspace, "rev-parse", "--verify", "--quiet", spec, NULL};
		char *sha = capture(argv, NULL);
		free(spec);
		if (!sha)
			return jv_invalid_with_msg(jv_string_fmt("--rev '%s' is not a commit of '%s'", in->rev, in->workspace));
		free(sha);
	}
	jv c = jv_object();
	size_t len = 0;
	c = jv_object_set(c, jv_string("bds_version"), jv_string(BDS_VERSION));
	c = jv_object_set(c, jv_string("driver"), jv_string(in->driver));
	char *data = workspace_file(in, ".bazelversion", &len);
	c = jv_object_set(c, jv_string("bazelversion"), file_component(data, len));
	data = workspace_file(in, "MODULE.bazel.lock", &len);
	c = jv_object_set(c, jv_string("module_lock"), file_component(data, len));
	jv options = canonical_options(in->hash_options);
	c = jv_object_set(c, jv_string("hash_options"), jv_dump_string(jv_copy(options), 0));
	*hash_options = options;
	if (strcmp(in->driver, "local") == 0) {
		c = jv_object_set(c, jv_string("host"), host_component());
		c = jv_object_set(c, jv_string("workspace_path"), jv_string(in->workspace));
	} else {
		c = vm_components(in->driver, c);
		if (!jv_is_valid(c)) {
			jv_free(*hash_options);
			*hash_options = jv_null();
			return c;
		}
	}
	jv rc = bazelrc_component(in);
	jv bazel = jv_is_valid(rc) ? bazel_component(in->bazel) : jv_invalid();
	if (!jv_is_valid(rc) || !jv_is_valid(bazel)) {
		jv_free(c);
		jv_free(*hash_options);
		*hash_options = jv_null();
		if (!jv_is_valid(rc)) {
			jv_free(bazel);
			return rc;
		}
		jv_free(rc);
		return bazel;
	}
	c = jv_object_set(c, jv_string("bazelrc"), rc);
	c = jv_object_set(c, jv_string("bazel"), bazel);
	/* The key: XXH3-128 of the components' canonical JSON (keys sorted, compact). */
	jv text = jv_dump_string(jv_copy(c), JV_PRINT_SORTED);
	char hex[33];
	bds_fingerprint_xxh128_hex(jv_string_value(text), (size_t)jv_string_length_bytes(jv_copy(text)), hex);
	jv_free(text);
	jv out = jv_object();
	out = jv_object_set(out, jv_string("key"), jv_string(hex));
	return jv_object_set(out, jv_string("components"), c);
}

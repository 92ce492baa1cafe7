/* bds-vm-snapshot: turns the warm machine into a new store entry (a staging directory
 * that bds-store-publish publishes): base_hashes.json plus the driver's state. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "envelope.h"
#include "json.h"
#include "util.h"

static const char usage_text[] = "usage: bds-vm-snapshot [--driver local|qemu|firecracker] --base-hashes FILE   < envelope\n";

static int usage(const char *why)
{
	if (why)
		bds_util_warn("%s", why);
	fputs(usage_text, stderr);
	return BDS_EXIT_USAGE;
}

/* Removes the staging directory and what a failed snapshot left in it. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *path = bds_util_xasprintf("%s/%s", dir, e->d_name);
		unlink(path);
		free(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* Copies `from` to `to` (created, not replaced). */
static int copy_file(const char *from, const char *to)
{
	char *data = NULL;
	size_t len = 0;
	if (bds_util_read_file(from, BDS_JSON_FILE_MAX, &data, &len) < 0)
		return -1;
	int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int rc = 0;
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
		rc = bds_util_fail("write '%s': %s", to, strerror(errno));
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = bds_util_fail("write '%s': %s", to, strerror(errno));
	free(data);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"driver", required_argument, NULL, 'd'},
		{"base-hashes", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bds_util_set_progname(argv[0]);
	const char *driver_name = NULL, *hashes = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': driver_name = optarg; break;
		case 'b': hashes = optarg; break;
		case 'h': fputs(usage_text, stdout); return BDS_EXIT_OK;
		default: return usage("unknown option or missing value");
		}
	}
	if (optind != argc)
		return usage("unexpected argument");
	if (!hashes)
		return usage("missing --base-hashes FILE");
	if (driver_name && !bds_driver_find(driver_name)) {
		bds_util_warn("unknown --driver '%s' (this build has: %s)", driver_name, bds_driver_names);
		return usage(NULL);
	}

	jv env;
	switch (bds_envelope_begin(stdin, stdout, &env)) {
	case BDS_ENVELOPE_ERROR: bds_util_warn("%s", bds_util_error()); return BDS_EXIT_FAIL;
	case BDS_ENVELOPE_COLD: return bds_util_close_stdout() < 0 ? BDS_EXIT_FAIL : BDS_EXIT_COLD;
	case BDS_ENVELOPE_PROCEED: break;
	}
	int rc = BDS_EXIT_FAIL;
	char *fp = NULL, *base = NULL, *env_driver = NULL, *dir = NULL, *target = NULL;
	jv state = jv_null();
	if (!driver_name && bds_json_get_string(jv_copy(env), "driver", &env_driver) == 0)
		driver_name = env_driver;
	const struct bds_driver *d = bds_driver_find(driver_name ? driver_name : "local");
	struct bds_driver_args a = {.env = env};
	if (!d) {
		bds_util_warn("unknown driver '%s' (this build has: %s)", driver_name, bds_driver_names);
		goto out;
	}
	if (bds_json_get_string(bds_json_get(jv_copy(env), "fingerprint", JV_KIND_OBJECT), "key", &fp) != 0 ||
	    bds_json_get_string(bds_json_get(jv_copy(env), "vm", JV_KIND_OBJECT), "base", &base) != 0) {
		bds_util_warn("envelope: needs fingerprint.key and vm.base");
		goto out;
	}
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	dir = bds_util_xasprintf("%s/bds-entry.XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		bds_util_warn("create '%s': %s", dir, strerror(errno));
		goto out;
	}
	a.entry_dir = dir;
	target = bds_util_xasprintf("%s/base_hashes.json", dir);
	if (copy_file(hashes, target) < 0 || d->state(&a, &state) != BDS_DRIVER_OK) {
		bds_util_warn("%s", bds_util_error());
		remove_dir(dir);
		goto out;
	}
	jv entry = jv_object();
	entry = jv_object_set(entry, jv_string("dir"), jv_string(dir));
	entry = jv_object_set(entry, jv_string("fingerprint"), jv_string(fp));
	entry = jv_object_set(entry, jv_string("base"), jv_string(base));
	entry = jv_object_set(entry, jv_string("driver"), jv_string(d->name));
	entry = jv_object_set(entry, jv_string("metadata"), state);
	state = jv_null();
	env = jv_object_set(env, jv_string("entry"), entry);
	if (bds_envelope_write(stdout, jv_copy(env)) < 0 || bds_util_close_stdout() < 0) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	rc = BDS_EXIT_OK;
out:
	jv_free(state);
	jv_free(env);
	free(fp);
	free(base);
	free(env_driver);
	free(dir);
	free(target);
	return rc;
}

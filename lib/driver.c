/* driver: the table of drivers (driver.h). */
#include "driver.h"

#include "json.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

const char bds_driver_names[] = "local, qemu, firecracker";

const struct bds_driver *bds_driver_find(const char *name)
{
	static const struct bds_driver *const all[] = {&bds_driver_local, &bds_driver_qemu, &bds_driver_firecracker};
	for (size_t i = 0; name && i < sizeof all / sizeof *all; i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}

/* Is one file of the entry there, a regular file of the recorded size? 0, or 1 (why
 * recorded). */
static int entry_file_whole(const char *dir, const char *name, jv info)
{
	double size = -1;
	int rc = 0;
	int bad_name = !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..");
	if (bad_name)
		jv_free(info); /* not read: bds_json_get_number would have consumed it */
	if (bad_name || bds_json_get_number(info, "size", &size) != 0 || !(size >= 0) || size > 9007199254740992.0) {
		bds_util_fail("the entry '%s' has a bad metadata record for '%s'", dir, name);
		return 1;
	}
	char *path = bds_util_xasprintf("%s/%s", dir, name);
	struct stat st;
	if (lstat(path, &st) != 0) {
		bds_util_fail("the entry's file '%s' is missing: %s", path, strerror(errno));
		rc = 1;
	} else if (!S_ISREG(st.st_mode)) {
		bds_util_fail("the entry's file '%s' is not a regular file", path);
		rc = 1;
	} else if ((uint64_t)st.st_size != (uint64_t)size) {
		bds_util_fail("the entry's file '%s' has %lld bytes, its metadata says %.0f", path, (long long)st.st_size,
		              size);
		rc = 1;
	}
	free(path);
	return rc;
}

int bds_driver_entry_check(jv env, const char *const need[])
{
	jv snap = bds_json_get(env, "snapshot", JV_KIND_OBJECT);
	jv files = bds_json_get(bds_json_get(jv_copy(snap), "metadata", JV_KIND_OBJECT), "files", JV_KIND_OBJECT);
	char *dir = NULL;
	int rc = -1;
	if (bds_json_get_string(jv_copy(snap), "dir", &dir) != 0 || !jv_is_valid(files)) {
		bds_util_fail("envelope: needs snapshot.dir and snapshot.metadata.files");
		goto out;
	}
	rc = 0;
	for (const char *const *n = need; rc == 0 && n && *n; n++) {
		if (!jv_object_has(jv_copy(files), jv_string(*n))) {
			bds_util_fail("the entry '%s' has no '%s' in its metadata", dir, *n);
			rc = 1;
		}
	}
	jv_object_foreach(files, name, info) {
		if (rc == 0)
			rc = entry_file_whole(dir, jv_string_value(name), jv_copy(info));
		jv_free(name);
		jv_free(info);
	}
out:
	jv_free(snap);
	jv_free(files);
	free(dir);
	return rc;
}

/* driver: the table of drivers (driver.h). */
#include "driver.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

const char bds_driver_names[] = "local, qemu, firecracker";

const struct bds_driver *bds_driver_find(const char *name)
{
	static const struct bds_driver *const all[] = {&bds_driver_local, &bds_driver_qemu, &bds_driver_firecracker};
	for (size_t i = 0; name && i < sizeof all / sizeof *all; i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}

char *bds_driver_cache_dir(void)
{
	const char *c = getenv("BDS_CACHE");
	if (c && *c)
		return bds_util_xstrdup(c);
	const char *home = getenv("HOME");
	return bds_util_xasprintf("%s/.cache/bds", home && *home ? home : "/tmp");
}

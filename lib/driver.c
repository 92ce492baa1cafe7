/* driver: the table of drivers (driver.h). */
#include "driver.h"

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

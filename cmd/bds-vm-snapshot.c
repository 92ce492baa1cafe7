/* bds-vm-snapshot: turns the warm machine into a new store entry (a staging directory
 * that bds-store-publish publishes): base_hashes.json plus the driver's state. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "driver.h"
#include "envelope.h"
#include "exec.h"
#include "fs.h"
#include "json.h"
#include "keeper.h"
#include "lock.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-vm-snapshot [--driver local|qemu|firecracker] --base-hashes FILE   < envelope\n"
	"                       [--owner PID]\n";

#define ENTRY_PREFIX "bds-entry."

/* Copies `from` to `to` (created, not replaced). `from` is a hashing run's output file:
 * a FIFO or a device there is refused at once, never waited on. */
static int copy_file(const char *from, const char *to)
{
	char *data = NULL;
	size_t len = 0;
	if (bds_fs_read_regular(from, BDS_JSON_FILE_MAX, &data, &len) < 0) {
		char *why = bds_util_xstrdup(bds_util_error());
		bds_util_fail("read --base-hashes: %s", why);
		free(why);
		return -1;
	}
	int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int rc = 0;
	if (fd < 0 || bds_exec_write_all(fd, data, len) < 0 || fsync(fd) != 0)
		rc = bds_util_fail("write '%s': %s", to, strerror(errno));
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = bds_util_fail("write '%s': %s", to, strerror(errno));
	free(data);
	return rc;
}

/* obj.key of the envelope as n lowercase hex digits in *out. 0, or -1 with the reason
 * recorded: the reader's (a wrong kind, a NUL byte), or `what` when absent or not hex. */
static int hex_member(jv env, const char *obj, const char *key, size_t n, char **out, const char *what)
{
	jv o = bds_json_get(env, obj, JV_KIND_OBJECT);
	if (!jv_is_valid(o)) {
		if (!jv_invalid_has_msg(jv_copy(o))) {
			jv_free(o);
			return bds_util_fail("envelope: %s", what);
		}
		char *msg = bds_json_error_message(o);
		bds_util_fail("envelope: %s", msg);
		free(msg);
		return -1;
	}
	int r = bds_json_get_string(o, key, out);
	if (r < 0)
		return bds_util_fail("envelope: `%s`: %s", obj, bds_util_error());
	if (r > 0 || !bds_util_is_hex(*out, n))
		return bds_util_fail("envelope: %s", what);
	return 0;
}

/* The envelope keys this stage takes, checked (they name the entry in the store); the
 * envelope is borrowed. 0, or -1 (error recorded). */
static int read_input(const jv *envp, const char **driver_name, char **env_driver, char **fp, char **base)
{
	jv env = *envp;
	int r = 0;
	if (!*driver_name) {
		/* absent: local; anything but a known name is bad input, never another driver */
		r = bds_json_get_string(jv_copy(env), "driver", env_driver);
		if (r < 0)
			return bds_util_fail("envelope: %s", bds_util_error());
		if (r == 0 && !bds_driver_find(*env_driver))
			return bds_util_fail("envelope: `driver` must be a driver name (one of %s)", bds_driver_names);
		*driver_name = r == 0 ? *env_driver : "local";
	}
	if (hex_member(jv_copy(env), "fingerprint", "key", 32, fp, "`fingerprint.key` must be 32 lowercase hex digits") < 0 ||
	    hex_member(jv_copy(env), "vm", "base", 40, base, "`vm.base` must be a 40-hex commit sha") < 0)
		return -1;
	return 0;
}

/* A new staging entry under $TMPDIR (absolute: the envelope names it), after sweeping
 * those whose owner is dead. The path, *lock holding its lock; NULL: error recorded. */
static char *make_entry_dir(int *lock)
{
	const char *tmp = bds_cli_tmpdir();
	if (!tmp)
		return NULL;
	bds_lock_sweep(tmp, ENTRY_PREFIX, BDS_LOCK_UNLOCKED_GRACE);
	char *template = bds_util_xasprintf("%s/" ENTRY_PREFIX "XXXXXX", tmp);
	char *dir = bds_lock_make_dir(template, lock);
	free(template);
	return dir;
}

/* Hands the entry over: with an owner, to a keeper that holds its lock and removes it
 * when the owner dies (or on SIGTERM); without one, unlocked, for the caller to remove.
 * 0 (*keeper set, 0 without an owner), or -1 (error recorded). */
static int hand_over(const char *dir, int lock, long owner, long *keeper)
{
	*keeper = 0;
	if (owner > 0) {
		char *const cleanup[] = {(char *)dir, NULL};
		struct bds_keeper_spec ks = {.cleanup = cleanup, .lock_fds = &lock, .nlock_fds = 1, .owner = owner};
		/* named first: a sweep spares the entry while its owner lives, keeper or not */
		if (bds_lock_set_owner(dir, owner) < 0)
			return -1;
		return bds_keeper_start(&ks, keeper, NULL);
	}
	char *path = bds_util_xasprintf("%s/" BDS_LOCK_DIR_FILE, dir);
	int rc = unlink(path) == 0 ? 0 : bds_util_fail("remove '%s': %s", path, strerror(errno));
	free(path);
	return rc;
}

/* 0 to proceed, -1 after --help, else an exit status. */
static int parse_args(int argc, char **argv, const char **driver_name, const char **hashes, long *owner)
{
	static const struct option opts[] = {
		{"driver", required_argument, NULL, 'd'},
		{"base-hashes", required_argument, NULL, 'b'},
		{"owner", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': *driver_name = optarg; break;
		case 'b': *hashes = optarg; break;
		case 'o':
			if (bds_util_parse_pid(optarg, owner) < 0)
				return bds_cli_usage(usage_text, "--owner takes a process id (2 to 4194304)");
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (optind != argc)
		return bds_cli_usage(usage_text, "unexpected argument");
	if (!*hashes)
		return bds_cli_usage(usage_text, "missing --base-hashes FILE");
	return bds_cli_check_driver(usage_text, *driver_name);
}

/* Makes the entry from the envelope (env consumed) and writes the envelope with `entry`
 * added. The exit status; on failure the entry is removed. */
static int snapshot(const char *driver_name, const char *hashes, long owner, jv env)
{
	int rc = BDS_EXIT_FAIL, lock = -1;
	long keeper = 0;
	char *fp = NULL, *base = NULL, *env_driver = NULL, *dir = NULL, *target = NULL;
	jv state = jv_null();
	struct bds_driver_args a = {.env = env};
	if (read_input(&env, &driver_name, &env_driver, &fp, &base) < 0 || !(dir = make_entry_dir(&lock))) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	const struct bds_driver *d = bds_driver_find(driver_name);
	a.entry_dir = dir;
	target = bds_util_xasprintf("%s/base_hashes.json", dir);
	if (copy_file(hashes, target) < 0 || d->state(&a, &state) != BDS_DRIVER_OK ||
	    hand_over(dir, lock, owner, &keeper) < 0) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	jv entry = jv_object();
	entry = jv_object_set(entry, jv_string("dir"), jv_string(dir));
	entry = jv_object_set(entry, jv_string("fingerprint"), jv_string(fp));
	entry = jv_object_set(entry, jv_string("base"), jv_string(base));
	entry = jv_object_set(entry, jv_string("driver"), jv_string(d->name));
	entry = jv_object_set(entry, jv_string("metadata"), state);
	if (keeper > 0)
		entry = jv_object_set(entry, jv_string("keeper_pid"), jv_number((double)keeper));
	state = jv_null();
	rc = bds_cli_envelope_finish(jv_object_set(env, jv_string("entry"), entry), BDS_EXIT_OK);
	env = jv_null();
out:
	if (rc != BDS_EXIT_OK && dir) {
		/* nobody will publish it: the keeper removes it as it stops, else we do */
		if (keeper > 0)
			bds_keeper_stop(keeper, bds_util_now() + 10);
		bds_fs_remove_tree(dir);
	}
	bds_lock_release(lock);
	jv_free(state);
	jv_free(env);
	free(fp);
	free(base);
	free(env_driver);
	free(dir);
	free(target);
	return rc;
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	const char *driver_name = NULL, *hashes = NULL;
	long owner = 0;
	int rc = parse_args(argc, argv, &driver_name, &hashes, &owner);
	if (rc != 0)
		return rc < 0 ? BDS_EXIT_OK : rc;
	jv env;
	bds_cli_json_nomem_fails();
	rc = bds_cli_envelope_begin(&env);
	if (rc == 0)
		rc = snapshot(driver_name, hashes, owner, env);
	return rc;
}

/* bds-vm-restore: starts the warm machine: reattaches to a recorded one (consume, the
 * envelope has `snapshot`) or starts one to record on for --base (record: a fresh boot, or
 * with the qemu driver the machine of the envelope's `snapshot`, an earlier base's). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "cli.h"
#include "driver.h"
#include "envelope.h"
#include "json.h"
#include "util.h"

/* The largest valid uid or gid ((uid_t)-1 is "no id"). */
#define MAX_ID 4294967294L

static const char usage_text[] =
	"usage: bds-vm-restore [--driver local|qemu|firecracker] [--base SHA] [--bazel CMD]\n"
	"                      [--lock-owner PID] [--lock-timeout SEC] [--keep-warm K]\n"
	"                      [--jailer PATH [--uid N] [--gid N] [--chroot-base DIR]]   < envelope\n";

/* A numeric id from 0 to MAX_ID. 0, or -1. */
static int parse_id(const char *s, long *out)
{
	long long v = 0;
	if (bds_util_parse_whole(s, MAX_ID, &v) < 0)
		return -1;
	*out = (long)v;
	return 0;
}

/* The jailer's settings from the environment, so that the pipeline scripts need not know
 * them, and the other defaults. 0, or BDS_EXIT_FAIL (said). */
static int env_defaults(struct bds_driver_args *a)
{
	a->lock_owner = (long)getppid();
	a->lock_timeout = 60;
	a->keep_warm = BDS_DRIVER_KEEP_WARM_DEFAULT;
	a->bazel = bds_cli_env("BAZEL", "bazel");
	a->jailer = bds_cli_env("BDS_JAILER", NULL);
	a->chroot_base = bds_cli_env("BDS_JAILER_CHROOT", "/srv/jailer");
	/* a uid or gid that is not a number must not mean root (0) */
	const char *ids[2][2] = {{"BDS_JAILER_UID", bds_cli_env("BDS_JAILER_UID", NULL)},
	                         {"BDS_JAILER_GID", bds_cli_env("BDS_JAILER_GID", NULL)}};
	for (int i = 0; i < 2; i++) {
		if (ids[i][1] && parse_id(ids[i][1], i == 0 ? &a->jail_uid : &a->jail_gid) < 0) {
			bds_util_warn("%s '%s': not a numeric id (0 to %ld)", ids[i][0], ids[i][1], (long)MAX_ID);
			return BDS_EXIT_FAIL;
		}
	}
	return 0;
}

/* 0 to proceed, -1 after --help, else an exit status. */
static int parse_args(int argc, char **argv, const char **driver_name, int *keep_warm_given,
                      struct bds_driver_args *a)
{
	static const struct option opts[] = {
		{"driver", required_argument, NULL, 'd'},   {"base", required_argument, NULL, 'b'},
		{"bazel", required_argument, NULL, 'z'},    {"lock-owner", required_argument, NULL, 'o'},
		{"lock-timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
		{"jailer", required_argument, NULL, 'j'},   {"uid", required_argument, NULL, 'u'},
		{"gid", required_argument, NULL, 'g'},      {"chroot-base", required_argument, NULL, 'c'},
		{"keep-warm", required_argument, NULL, 'k'},
		{NULL, 0, NULL, 0},
	};
	int c;
	double v = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': *driver_name = optarg; break;
		case 'b': a->base = optarg; break;
		case 'z': a->bazel = optarg; break;
		case 'o':
			if (bds_util_parse_pid(optarg, &a->lock_owner) < 0)
				return bds_cli_usage(usage_text, "--lock-owner takes a pid (2 to 4194304)");
			break;
		case 't':
			if (bds_util_parse_decimal(optarg, 86400, &v) < 0)
				return bds_cli_usage(usage_text, "--lock-timeout takes seconds from 0 to 86400");
			a->lock_timeout = v;
			break;
		case 'k': {
			long long k = 0;
			if (bds_util_parse_whole(optarg, BDS_DRIVER_KEEP_WARM_MAX, &k) < 0 || k < 1)
				return bds_cli_usage(usage_text, "--keep-warm takes a whole number from 1 to 1000");
			a->keep_warm = (int)k;
			*keep_warm_given = 1;
			break;
		}
		case 'j': a->jailer = optarg; break;
		case 'c': a->chroot_base = optarg; break;
		case 'u':
		case 'g':
			if (parse_id(optarg, c == 'u' ? &a->jail_uid : &a->jail_gid) < 0)
				return bds_cli_usage(usage_text, "--uid and --gid take numeric ids");
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (optind != argc)
		return bds_cli_usage(usage_text, "unexpected argument");
	if (a->base && !bds_util_is_hex(a->base, 40))
		return bds_cli_usage(usage_text, "--base takes a full 40-hex commit sha");
	return bds_cli_check_driver(usage_text, *driver_name);
}

/* Restores or boots the machine for the envelope (env consumed) and writes the envelope
 * with `vm` added, or cold. The exit status. */
static int run(const char *driver_name, int keep_warm_given, struct bds_driver_args *a, jv env)
{
	int rc = BDS_EXIT_FAIL;
	char *env_driver = NULL;
	if (!driver_name && bds_json_get_string(jv_copy(env), "driver", &env_driver) == 0)
		driver_name = env_driver;
	const struct bds_driver *d = bds_driver_find(driver_name ? driver_name : "local");
	char *cache = bds_cache_dir(NULL);
	a->cache = cache;
	a->env = env;
	/* with --base, a machine to record on: a driver may start it from the envelope's
	 * snapshot, an earlier base's entry (the qemu driver does), or boot afresh */
	int restore = jv_object_has(jv_copy(env), jv_string("snapshot")) && !a->base;
	jv vm = jv_null();
	enum bds_driver_status st;
	if (!d) {
		bds_util_warn("unknown driver '%s' (this build has: %s)", driver_name, bds_driver_names);
		goto out;
	}
	if (!cache) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	if (keep_warm_given && d != &bds_driver_local) {
		/* a VM driver keeps no server on this host: the option would do nothing */
		bds_util_warn("--keep-warm is for the local driver only (the %s driver keeps no warm server on this host)",
		              d->name);
		rc = BDS_EXIT_USAGE;
		goto out;
	}
	if (!restore && !a->base) {
		bds_util_warn("no snapshot in the envelope and no --base: nothing to restore or boot");
		rc = BDS_EXIT_USAGE;
		goto out;
	}
	if (a->lock_owner < 2) {
		/* the default owner, our parent, has exited (we were handed to init) or is init:
		 * either way what the machine holds would be held for ever */
		bds_util_warn("no --lock-owner, and the parent process is pid %ld, which never ends", a->lock_owner);
		goto out;
	}
	st = restore ? d->restore(a, &vm) : d->boot(a, &vm);
	if (st == BDS_DRIVER_FAIL) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	if (st == BDS_DRIVER_COLD) {
		bds_util_warn("cold: %s", bds_util_error());
		env = bds_envelope_set_cold(env, "bds-vm-restore", bds_util_error());
		rc = BDS_EXIT_COLD;
	} else {
		/* what the local driver's retention did, said once here (never carried on) */
		jv said = bds_json_get(jv_copy(vm), "retention", JV_KIND_ARRAY);
		if (jv_is_valid(said)) {
			jv_array_foreach(said, i, line) {
				if (jv_get_kind(line) == JV_KIND_STRING)
					bds_util_warn("%s", jv_string_value(line));
				jv_free(line);
			}
			vm = jv_object_delete(vm, jv_string("retention"));
		}
		jv_free(said);
		env = jv_object_set(env, jv_string("vm"), vm);
		vm = jv_null();
		rc = BDS_EXIT_OK;
	}
	rc = bds_cli_envelope_finish(env, rc);
	env = jv_null();
out:
	jv_free(vm);
	jv_free(env);
	free(cache);
	free(env_driver);
	return rc;
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	const char *driver_name = NULL;
	int keep_warm_given = 0;
	struct bds_driver_args a = {0};
	int rc = env_defaults(&a);
	if (rc == 0)
		rc = parse_args(argc, argv, &driver_name, &keep_warm_given, &a);
	if (rc != 0)
		return rc < 0 ? BDS_EXIT_OK : rc;
	jv env;
	rc = bds_cli_envelope_begin(&env);
	if (rc == 0)
		rc = run(driver_name, keep_warm_given, &a, env);
	return rc;
}

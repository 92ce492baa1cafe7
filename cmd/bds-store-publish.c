/* bds-store-publish: publishes the envelope's `entry` to the store so that no reader ever
 * sees it half-written. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "driver.h"
#include "envelope.h"
#include "json.h"
#include "store.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-store-publish --store STORE\n"
	"       reads an envelope with `entry` on stdin, writes it with `published` on stdout\n";

static int usage(const char *why)
{
	if (why)
		bds_util_warn("%s", why);
	fputs(usage_text, stderr);
	return BDS_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, const char **store)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0; /* bds_cli_bad_option names what is wrong, with the short program name */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': *store = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "h", opts); return usage(NULL);
		}
	}
	if (optind != argc)
		return usage("unexpected argument");
	if (!*store)
		return usage("missing --store STORE");
	return 0;
}

struct entry {
	char *dir, *fp, *base, *driver;
	jv state;
};

/* Records why a key of `entry` is refused: the reader's own reason (r < 0: a wrong kind,
 * a NUL byte), else `what`. */
static void bad_key(int r, const char *what)
{
	if (r < 0)
		bds_util_fail("envelope: `entry`: %s", bds_util_error());
	else
		bds_util_fail("envelope: %s", what);
}

/* Reads and checks `entry`. 0, or -1 (error recorded). */
static int read_entry(jv env, struct entry *e)
{
	int rc = -1;
	jv ent = bds_json_get(env, "entry", JV_KIND_OBJECT);
	if (!jv_is_valid(ent)) {
		jv_free(ent);
		return bds_util_fail("envelope: no `entry` object (run bds-vm-snapshot first)");
	}
	/* each goes into the store's paths or metadata.json as it is: checked, not trusted */
	int r;
	if ((r = bds_json_get_string(jv_copy(ent), "dir", &e->dir)) != 0 || e->dir[0] != '/')
		bad_key(r, "`entry.dir` must be an absolute path");
	else if ((r = bds_json_get_string(jv_copy(ent), "fingerprint", &e->fp)) != 0 || !bds_util_is_hex(e->fp, 32))
		bad_key(r, "`entry.fingerprint` must be 32 lowercase hex digits");
	else if ((r = bds_json_get_string(jv_copy(ent), "base", &e->base)) != 0 || !bds_util_is_hex(e->base, 40))
		bad_key(r, "`entry.base` must be a 40-hex commit sha");
	else if ((r = bds_json_get_string(jv_copy(ent), "driver", &e->driver)) != 0 || !bds_driver_find(e->driver)) {
		char *what = bds_util_xasprintf("`entry.driver` must be a driver name (one of %s)", bds_driver_names);
		bad_key(r, what);
		free(what);
	} else
		rc = 0;
	if (rc == 0) {
		e->state = bds_json_get(jv_copy(ent), "metadata", JV_KIND_OBJECT);
		if (!jv_is_valid(e->state)) {
			int wrong = jv_invalid_has_msg(jv_copy(e->state));
			jv_free(e->state);
			e->state = jv_object(); /* absent: no driver state */
			if (wrong)
				rc = bds_util_fail("envelope: `entry.metadata` must be an object");
		}
	}
	jv_free(ent);
	return rc;
}

/* libjq cannot return an allocation failure: the JSON read is too large for the memory
 * there is, which is the input's failure (exit 1), not a crash. */
static void json_no_memory(void *arg)
{
	(void)arg;
	bds_util_warn("out of memory parsing JSON input");
	_exit(BDS_EXIT_FAIL);
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	jv_nomem_handler(json_no_memory, NULL);
	const char *spec = NULL;
	int r = parse_args(argc, argv, &spec);
	if (r != 0)
		return r < 0 ? BDS_EXIT_OK : r;
	struct bds_store *store = bds_store_open(spec);
	if (!store)
		return usage(bds_util_error());
	int code = BDS_EXIT_FAIL;
	struct entry e = {.state = jv_null()};
	jv env;
	switch (bds_envelope_begin(stdin, stdout, &env)) {
	case BDS_ENVELOPE_COLD:
		code = bds_util_close_stdout() < 0 ? BDS_EXIT_FAIL : BDS_EXIT_COLD;
		goto out;
	case BDS_ENVELOPE_ERROR:
		bds_util_warn("%s", bds_util_error());
		goto out;
	case BDS_ENVELOPE_PROCEED:
		break;
	}
	if (read_entry(jv_copy(env), &e) < 0 ||
	    bds_store_publish(store, e.dir, e.fp, e.base, e.driver, jv_copy(e.state)) < 0) {
		bds_util_warn("%s", bds_util_error());
		goto out;
	}
	jv pub = jv_object();
	pub = jv_object_set(pub, jv_string("store"), jv_string(spec));
	pub = jv_object_set(pub, jv_string("fingerprint"), jv_string(e.fp));
	pub = jv_object_set(pub, jv_string("base"), jv_string(e.base));
	env = jv_object_set(env, jv_string("published"), pub);
	if (bds_envelope_write(stdout, env) < 0 || bds_util_close_stdout() < 0)
		bds_util_warn("%s", bds_util_error());
	else
		code = BDS_EXIT_OK;
	env = jv_null();
out:
	jv_free(env);
	jv_free(e.state);
	free(e.dir);
	free(e.fp);
	free(e.base);
	free(e.driver);
	bds_store_close(store);
	return code;
}

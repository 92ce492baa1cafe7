/* bds-store-publish: publishes the envelope's `entry` to the store so that no reader ever
 * sees it half-written. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "driver.h"
#include "envelope.h"
#include "json.h"
#include "store.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-store-publish --store STORE [--format 1|2]\n"
	"       reads an envelope with `entry` on stdin, writes it with `published` on stdout\n";

/* One format value, `what` naming it in the message. 0, or 64 (usage). */
static int parse_format(const char *s, const char *what, int *format)
{
	if (strcmp(s, "1") != 0 && strcmp(s, "2") != 0) {
		char *msg = bds_util_xasprintf("%s '%s': expected 1 or 2", what, s);
		int rc = bds_cli_usage(usage_text, msg);
		free(msg);
		return rc;
	}
	*format = s[0] - '0';
	return 0;
}

static int parse_args(int argc, char **argv, const char **store, int *format)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, rc;
	const char *fmt = NULL;
	opterr = 0; /* bds_cli_bad_option names what is wrong, with the short program name */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': *store = optarg; break;
		case 'f': fmt = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (optind != argc)
		return bds_cli_usage(usage_text, "unexpected argument");
	if (!*store)
		return bds_cli_usage(usage_text, "missing --store STORE");
	*format = BDS_STORE_FORMAT_DEFAULT;
	if (fmt)
		return parse_format(fmt, "--format", format);
	const char *env = getenv("BDS_STORE_FORMAT");
	if (env && *env && (rc = parse_format(env, "BDS_STORE_FORMAT", format)) != 0)
		return rc;
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

/* Publishes the envelope's `entry` (env consumed) and writes the envelope with
 * `published` added. The exit status. */
static int publish(struct bds_store *store, const char *spec, int format, jv env)
{
	int code = BDS_EXIT_FAIL;
	struct entry e = {.state = jv_null()};
	if (read_entry(jv_copy(env), &e) < 0 ||
	    bds_store_publish(store, e.dir, e.fp, e.base, e.driver, jv_copy(e.state), format) < 0) {
		bds_util_warn("%s", bds_util_error());
		jv_free(env);
		goto out;
	}
	jv pub = jv_object();
	pub = jv_object_set(pub, jv_string("store"), jv_string(spec));
	pub = jv_object_set(pub, jv_string("fingerprint"), jv_string(e.fp));
	pub = jv_object_set(pub, jv_string("base"), jv_string(e.base));
	code = bds_cli_envelope_finish(jv_object_set(env, jv_string("published"), pub), BDS_EXIT_OK);
out:
	jv_free(e.state);
	free(e.dir);
	free(e.fp);
	free(e.base);
	free(e.driver);
	return code;
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	const char *spec = NULL;
	int format = 0;
	int code = parse_args(argc, argv, &spec, &format);
	if (code != 0)
		return code < 0 ? BDS_EXIT_OK : code;
	struct bds_store *store = bds_store_open(spec);
	if (!store)
		return bds_cli_usage(usage_text, bds_util_error());
	jv env;
	bds_cli_json_nomem_fails();
	code = bds_cli_envelope_begin(&env);
	if (code == 0)
		code = publish(store, spec, format, env);
	bds_store_close(store);
	return code;
}

/* envelope: the JSON object every pipeline stage reads on stdin and writes on stdout. */
#include "envelope.h"

#include "json.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The longest key path shown in a message ("hashes.base", "exec.command[2]"). */
#define PATH_SHOWN_MAX 256

/* Appends ".key" or "[i]" to the path shown, which ends in "..." once it is full.
 * Returns the new length. */
static size_t path_push(char *where, size_t len, const char *key, int index)
{
	if (len + 4 >= PATH_SHOWN_MAX)
		return len;
	int n = key ? snprintf(where + len, PATH_SHOWN_MAX - len, "%s%s", len ? "." : "", key)
	            : snprintf(where + len, PATH_SHOWN_MAX - len, "[%d]", index);
	if (n >= 0 && (size_t)n < PATH_SHOWN_MAX - len)
		return len + (size_t)n;
	memcpy(where + PATH_SHOWN_MAX - 4, "...", 4);
	return PATH_SHOWN_MAX - 1;
}

/* Is there a NUL byte in a string under v, key or value? A C program would take such a
 * string as ending there: one the stage does not read would still reach the next stage,
 * which may. 0 none, -1 (error recorded, naming where). v is borrowed. */
static int find_nul(jv v, char *where, size_t len)
{
	int rc = 0;
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		if (strlen(jv_string_value(v)) != (size_t)jv_string_length_bytes(jv_copy(v)))
			rc = bds_util_fail("key '%s': the string holds a NUL byte", len ? where : "(the envelope)");
		break;
	case JV_KIND_ARRAY:
		jv_array_foreach(v, i, x) {
			if (rc == 0 && (rc = find_nul(x, where, path_push(where, len, NULL, i))) == 0)
				where[len] = '\0';
			jv_free(x);
		}
		break;
	case JV_KIND_OBJECT:
		jv_object_foreach(v, k, x) {
			const char *key = jv_string_value(k);
			if (rc == 0 && strlen(key) != (size_t)jv_string_length_bytes(jv_copy(k)))
				rc = bds_util_fail("a key in '%s' holds a NUL byte", len ? where : "(the envelope)");
			if (rc == 0 && (rc = find_nul(x, where, path_push(where, len, key, 0))) == 0)
				where[len] = '\0';
			jv_free(k);
			jv_free(x);
		}
		break;
	default:
		break;
	}
	return rc;
}

static int cold_state(jv env);

/* Reads exactly one JSON object from `in` (at most BDS_ENVELOPE_MAX bytes). Empty input
 * is an error (the upstream stage failed), never cold; so is a string anywhere in it, key
 * or value, that holds a NUL byte, whether or not a stage reads it, and a `cold` key
 * whose value is not a cold object (cold_state). Returns the object, or an invalid
 * jv with a message. */
static jv read_envelope(FILE *in)
{
	char *buf = NULL;
	size_t len = 0;
	if (bds_util_read_fd(fileno(in), BDS_ENVELOPE_MAX, "stdin", &buf, &len) < 0)
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r'))
		i++;
	if (i == len) {
		free(buf);
		return jv_invalid_with_msg(jv_string("read envelope 'stdin': empty input (the upstream stage failed)"));
	}
	jv env = bds_json_parse(buf, len, "stdin");
	free(buf);
	if (!jv_is_valid(env)) {
		char *msg = bds_json_error_message(env);
		jv err = jv_invalid_with_msg(jv_string_fmt("read envelope: %s", msg));
		free(msg);
		return err;
	}
	if (jv_get_kind(env) != JV_KIND_OBJECT) {
		jv err = jv_invalid_with_msg(jv_string_fmt("read envelope 'stdin': expected an object, found %s",
		                                           jv_kind_name(jv_get_kind(env))));
		jv_free(env);
		return err;
	}
	char where[PATH_SHOWN_MAX] = "";
	if (find_nul(env, where, 0) < 0 || cold_state(jv_copy(env)) < 0) {
		jv err = jv_invalid_with_msg(jv_string_fmt("read envelope 'stdin': %s", bds_util_error()));
		jv_free(env);
		return err;
	}
	return env;
}

enum bds_envelope_state bds_envelope_begin(FILE *in, FILE *out, jv *env)
{
	*env = jv_null();
	jv e = read_envelope(in);
	if (!jv_is_valid(e)) {
		char *msg = bds_json_error_message(e);
		bds_util_fail("%s", msg);
		free(msg);
		return BDS_ENVELOPE_ERROR;
	}
	/* read_envelope refused a malformed `cold` */
	if (cold_state(jv_copy(e)) > 0) {
		if (bds_envelope_write(out, e) < 0)
			return BDS_ENVELOPE_ERROR;
		return BDS_ENVELOPE_COLD;
	}
	*env = e;
	return BDS_ENVELOPE_PROCEED;
}

/* Is the envelope cold? Cold is a `cold` key holding an object with a string `stage`
 * and a string `reason` (other keys allowed); no `cold` key is not cold; anything else
 * under `cold` (null, false, a string, an object without them) is a malformed envelope.
 * 1 cold, 0 not, -1 malformed (error recorded). Consumes `env`. */
static int cold_state(jv env)
{
	int rc = 0;
	if (jv_get_kind(env) == JV_KIND_OBJECT && jv_object_has(jv_copy(env), jv_string("cold"))) {
		/* every stage and script must agree on what is cold: jq's truthiness and a mere
		 * key would let {"cold": false} pass one and stop another */
		jv c = jv_object_get(jv_copy(env), jv_string("cold"));
		jv_kind kind = jv_get_kind(c);
		jv stage = kind == JV_KIND_OBJECT ? jv_object_get(jv_copy(c), jv_string("stage")) : jv_invalid();
		jv reason = kind == JV_KIND_OBJECT ? jv_object_get(jv_copy(c), jv_string("reason")) : jv_invalid();
		if (jv_get_kind(stage) == JV_KIND_STRING && jv_get_kind(reason) == JV_KIND_STRING)
			rc = 1;
		else if (kind != JV_KIND_OBJECT)
			rc = bds_util_fail("key 'cold': expected an object with a string 'stage' and 'reason', found %s",
			                   jv_kind_name(kind));
		else
			rc = bds_util_fail("key 'cold': expected an object with a string 'stage' and 'reason', found "
			                   "an object without a string '%s'",
			                   jv_get_kind(stage) == JV_KIND_STRING ? "reason" : "stage");
		jv_free(stage);
		jv_free(reason);
		jv_free(c);
	}
	jv_free(env);
	return rc;
}

jv bds_envelope_set_cold(jv env, const char *stage, const char *reason)
{
	jv cold = jv_object();
	cold = jv_object_set(cold, jv_string("stage"), jv_string(stage));
	cold = jv_object_set(cold, jv_string("reason"), jv_string(reason));
	return jv_object_set(env, jv_string("cold"), cold);
}

int bds_envelope_write(FILE *out, jv env)
{
	return bds_json_write_line(out, env);
}

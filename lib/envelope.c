/* envelope: the JSON object every pipeline stage reads on stdin and writes on stdout. */
#include "envelope.h"

#include "json.h"
#include "util.h"

#include <stdlib.h>
#include <unistd.h>

jv bds_envelope_read(FILE *in)
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
	return env;
}

enum bds_envelope_state bds_envelope_begin(FILE *in, FILE *out, jv *env)
{
	*env = jv_null();
	jv e = bds_envelope_read(in);
	if (!jv_is_valid(e)) {
		char *msg = bds_json_error_message(e);
		bds_util_fail("%s", msg);
		free(msg);
		return BDS_ENVELOPE_ERROR;
	}
	if (bds_envelope_is_cold(jv_copy(e))) {
		if (bds_envelope_write(out, e) < 0)
			return BDS_ENVELOPE_ERROR;
		return BDS_ENVELOPE_COLD;
	}
	*env = e;
	return BDS_ENVELOPE_PROCEED;
}

int bds_envelope_is_cold(jv env)
{
	int cold = 0;
	if (jv_get_kind(env) == JV_KIND_OBJECT)
		cold = jv_object_has(jv_copy(env), jv_string("cold"));
	jv_free(env);
	return cold;
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

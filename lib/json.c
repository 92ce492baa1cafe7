/* json: one-value parsing, kind-checked access and canonical output over libjq 1.6. */
#include "json.h"

#include "fs.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

jv bds_json_parse(const char *buf, size_t len, const char *what)
{
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r'))
		i++;
	if (i == len)
		return jv_invalid_with_msg(jv_string_fmt("parse '%s': empty input", what));
	if (len > INT_MAX)
		return jv_invalid_with_msg(jv_string_fmt("parse '%s': too large", what));
	/* JSON text never holds a NUL byte; jq would report the bytes after it instead */
	const char *nul = memchr(buf, '\0', len);
	if (nul)
		return jv_invalid_with_msg(jv_string_fmt("parse '%s': not JSON (NUL byte at offset %zu)", what,
		                                         (size_t)(nul - buf)));
	jv v = jv_parse_sized(buf, (int)len);
	if (!jv_is_valid(v)) {
		char *msg = bds_json_error_message(v);
		jv err = jv_invalid_with_msg(jv_string_fmt("parse '%s': %s", what, msg));
		free(msg);
		return err;
	}
	return v;
}

jv bds_json_read_file(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	if (bds_fs_read_file(path, BDS_JSON_FILE_MAX, &buf, &len) < 0)
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	jv v = bds_json_parse(buf, len, path);
	free(buf);
	return v;
}

jv bds_json_get(jv obj, const char *key, jv_kind kind)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		jv_free(obj);
		return jv_invalid_with_msg(jv_string_fmt("key '%s': not inside an object", key));
	}
	jv v = jv_object_get(obj, jv_string(key));
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return jv_invalid();
	}
	if (jv_get_kind(v) != kind) {
		jv err = jv_invalid_with_msg(jv_string_fmt("key '%s': expected %s, found %s", key,
		                                           jv_kind_name(kind), jv_kind_name(jv_get_kind(v))));
		jv_free(v);
		return err;
	}
	return v;
}

/* Shared tail of the typed getters: 1 absent, -1 wrong kind (error recorded). */
static int missing_or_wrong(jv v)
{
	if (jv_invalid_has_msg(jv_copy(v))) {
		char *msg = bds_json_error_message(v);
		bds_util_fail("%s", msg);
		free(msg);
		return -1;
	}
	jv_free(v);
	return 1;
}

int bds_json_get_string(jv obj, const char *key, char **out)
{
	jv v = bds_json_get(obj, key, JV_KIND_STRING);
	if (!jv_is_valid(v))
		return missing_or_wrong(v);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(v));
	if (strlen(jv_string_value(v)) != n) {
		/* a C string would end at the NUL: refuse rather than take a shorter name */
		jv_free(v);
		return bds_util_fail("key '%s': the string holds a NUL byte", key);
	}
	*out = bds_util_xstrndup(jv_string_value(v), n);
	jv_free(v);
	return 0;
}

int bds_json_get_number(jv obj, const char *key, double *out)
{
	jv v = bds_json_get(obj, key, JV_KIND_NUMBER);
	if (!jv_is_valid(v))
		return missing_or_wrong(v);
	*out = jv_number_value(v);
	jv_free(v);
	return 0;
}

char *bds_json_dump_line(jv value)
{
	jv s = jv_dump_string(value, JV_PRINT_SORTED);
	char *out = bds_util_xstrdup(jv_string_value(s));
	jv_free(s);
	return out;
}

int bds_json_write_line(FILE *out, jv value)
{
	char *line = bds_json_dump_line(value);
	int rc = fputs(line, out) < 0 || fputc('\n', out) == EOF || fflush(out) != 0;
	free(line);
	if (rc)
		return bds_util_fail("write JSON: %s", strerror(errno ? errno : EIO));
	return 0;
}

char *bds_json_error_message(jv invalid)
{
	jv msg = jv_invalid_get_msg(invalid);
	char *out;
	if (jv_get_kind(msg) == JV_KIND_STRING)
		out = bds_util_xstrdup(jv_string_value(msg));
	else
		out = bds_util_xstrdup("invalid JSON value");
	jv_free(msg);
	return out;
}

size_t bds_json_escape_into(char *dst, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *d = dst;
	*d++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int is2028 = c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
		             ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9);
		if (c >= 0x20 && c != '"' && c != '\\' && !is2028) {
			*d++ = (char)c;
			continue;
		}
		*d++ = '\\';
		switch (c) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '\n': *d++ = 'n'; break;
		case '\r': *d++ = 'r'; break;
		case '\t': *d++ = 't'; break;
		case '\b': *d++ = 'b'; break;
		case '\f': *d++ = 'f'; break;
		default: {
			unsigned cp = is2028 ? (0x2028u | ((unsigned char)s[i + 2] & 1u)) : c;
			*d++ = 'u';
			*d++ = hex[(cp >> 12) & 15];
			*d++ = hex[(cp >> 8) & 15];
			*d++ = hex[(cp >> 4) & 15];
			*d++ = hex[cp & 15];
			if (is2028)
				i += 2;
		}
		}
	}
	*d++ = '"';
	return (size_t)(d - dst);
}

void bds_json_put_string(FILE *out, const char *s, size_t n)
{
	char small[1024];
	char *buf = 6 * n + 2 <= sizeof small ? small : bds_util_xmalloc(6 * n + 2);
	fwrite(buf, 1, bds_json_escape_into(buf, s, n), out);
	if (buf != small)
		free(buf);
}

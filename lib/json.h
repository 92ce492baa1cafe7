/* json: one-value parsing, kind-checked access and canonical output over libjq 1.6.
 * Ownership follows jq: every function taking a jv consumes it. */
#ifndef BDS_JSON_H
#define BDS_JSON_H

#include <jv.h>
#include <stdio.h>

/* Parses exactly one JSON value; `what` names the source in the error message.
 * Returns the value, or an invalid jv with a message (text with a NUL byte is not JSON). */
jv bds_json_parse(const char *buf, size_t len, const char *what);
/* Reads and parses one JSON value from a file (size limit BDS_JSON_FILE_MAX). */
jv bds_json_read_file(const char *path);

/* Kind-checked member access: jq 1.6's accessors abort on a kind mismatch, these report.
 * They consume `obj`. Returns 0 found (out set), 1 absent or null, -1 wrong kind (error
 * recorded, naming `key`). String results are malloc'd copies; a string holding a NUL byte
 * (\u0000) is refused as a wrong kind (-1), as a C string would silently end there. */
int bds_json_get_string(jv obj, const char *key, char **out);
int bds_json_get_number(jv obj, const char *key, double *out);
/* Returns the member (owned) if it has `kind`; invalid with message if wrong kind; an
 * invalid without message (jv_invalid_has_msg false) if absent. */
jv bds_json_get(jv obj, const char *key, jv_kind kind);

/* Canonical one-line form: keys sorted, no spaces. Returns a malloc'd string. */
char *bds_json_dump_line(jv value);
/* Writes the canonical form and a newline. Returns 0, or -1 with the error recorded. */
int bds_json_write_line(FILE *out, jv value);

/* The message of an invalid jv as a malloc'd string (consumes it). */
char *bds_json_error_message(jv invalid);

/* Appends `s` (n bytes) as a JSON string literal, escaped as Gson does with HTML
 * escaping off: quote, backslash, control characters, U+2028 and U+2029. */
void bds_json_put_string(FILE *out, const char *s, size_t n);
/* The same into `dst`, which must hold 6 * n + 2 bytes; returns the bytes written. */
size_t bds_json_escape_into(char *dst, const char *s, size_t n);

#endif

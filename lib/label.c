/* label: Bazel label helpers with bazel-diff's exact string semantics. */
#include "label.h"

#include <string.h>

int bds_label_main_repo_prefix(const char *label, size_t n)
{
	if (n >= 2 && memcmp(label, "//", 2) == 0)
		return 2;
	if (n >= 3 && memcmp(label, "@//", 3) == 0)
		return 3;
	if (n >= 4 && memcmp(label, "@@//", 4) == 0)
		return 4;
	return -1;
}

int bds_label_split_repo(const char *s, size_t n, const char **first_sep)
{
	const char *end = s + n;
	const char *part = s; /* start of the current part */
	int parts = 0, nonempty_upto = 0;
	*first_sep = NULL;
	for (const char *p = s;; p++) {
		int at_sep = p + 1 < end && p[0] == '/' && p[1] == '/';
		if (p >= end || at_sep) {
			parts++;
			if (p > part)
				nonempty_upto = parts; /* trailing empty parts are dropped */
			if (p >= end)
				break;
			if (!*first_sep)
				*first_sep = p;
			p++;
			part = p + 1;
		}
	}
	/* Leading and inner empty parts are kept by Java's split; only trailing ones go. */
	return nonempty_upto;
}

size_t bds_label_package_len(const char *label, size_t n)
{
	for (size_t i = n; i > 0; i--)
		if (label[i - 1] == ':')
			return i - 1;
	return n;
}

/* plan: the change-proportional plan (docs/algorithm.md 6.2). A target's hash depends on
 * its package's evaluation (its BUILD file, the .bzl files that loads, the directory
 * listing its globs see), the files it reads, and its dependencies' hashes. The plan
 * names the packages to query whole and the targets to query alone, so that every target
 * whose own (direct) digest can differ is queried again; the dependencies' part follows
 * from the state's edges (bds_incremental_merge). Whatever the state cannot answer for
 * (the WORKSPACE, a symbolic link changed or pointing at a directory, a deleted package)
 * is the full query's. */
#define _XOPEN_SOURCE 700 /* readlink, realpath */
#include "plan.h"

#include "graph.h"
#include "label.h"
#include "strmap.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bds_plan_parse_raw(char *text, size_t len, struct bds_change **changes, size_t *n)
{
	size_t cap = 16, count = 0;
	struct bds_change *out = bds_util_xmalloc(cap * sizeof *out);
	char *p = text, *end = text + len;
	while (p < end) {
		/* ":100644 100644 <sha> <sha> M" NUL path NUL */
		char *meta_end = memchr(p, '\0', (size_t)(end - p));
		if (!meta_end || *p != ':')
			goto bad;
		char *path = meta_end + 1;
		char *path_end = path < end ? memchr(path, '\0', (size_t)(end - path)) : NULL;
		if (!path_end)
			goto bad;
		unsigned old_mode = 0, new_mode = 0;
		char status = 0;
		char *sp = strrchr(p, ' ');
		if (sscanf(p, ":%o %o", &old_mode, &new_mode) != 2 || !sp)
			goto bad;
		status = sp[1];
		if (!strchr("ADMT", status))
			return free(out), bds_util_fail("git diff: unexpected status '%s' for '%s'", sp + 1, path);
		if (count == cap) {
			cap *= 2;
			out = bds_util_xrealloc(out, cap * sizeof *out);
		}
		out[count++] = (struct bds_change){status, old_mode, new_mode, path};
		p = path_end + 1;
	}
	*changes = out;
	*n = count;
	return 0;
bad:
	free(out);
	return bds_util_fail("git diff: malformed --raw output");
}

char **bds_plan_parse_symlinks(char *text, size_t len)
{
	size_t cap = 16, n = 0;
	char **out = bds_util_xcalloc(cap + 1, sizeof *out);
	for (char *p = text, *end = text + len; p < end;) {
		/* "<mode> <sha> <stage>" TAB path NUL */
		char *rec_end = memchr(p, '\0', (size_t)(end - p));
		if (!rec_end)
			rec_end = end;
		char *tab = memchr(p, '\t', (size_t)(rec_end - p));
		if (tab && strncmp(p, "120000 ", 7) == 0) {
			if (n == cap) {
				cap *= 2;
				out = bds_util_xrealloc(out, (cap + 1) * sizeof *out);
			}
			*rec_end = '\0';
			out[n++] = tab + 1;
		}
		p = rec_end + 1;
	}
	out[n] = NULL;
	return out;
}

struct planner {
	const struct bds_state *s;
	const char *ws;
	struct bds_strmap *packages; /* package -> NULL */
	char **pkg_list;             /* the same, in a list (malloc'd copies) */
	size_t n_pkgs, pkg_cap;
	unsigned char *queried;      /* per state target: 1 when it is to be queried */
	struct bds_strmap *changed;  /* changed path -> its status (as a char pointer value) */
};

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int is_build_name(const char *name)
{
	return strcmp(name, "BUILD") == 0 || strcmp(name, "BUILD.bazel") == 0;
}

/* Files whose effect no state can follow: the repository's definition and the options. */
static int is_workspace_file(const char *path)
{
	/* .gitattributes: the files it converts (eol, filters) change in the worktree with no
	 * change of their own in git's diff */
	static const char *const names[] = {"WORKSPACE",  "WORKSPACE.bazel", "WORKSPACE.bzlmod", "MODULE.bazel",
	                                    "REPO.bazel", ".gitattributes",  NULL};
	static const char *const top[] = {".bazelrc", ".bazelversion", ".bazelignore", NULL};
	for (const char *const *n = names; *n; n++)
		if (strcmp(basename_of(path), *n) == 0)
			return 1;
	for (const char *const *n = top; *n; n++)
		if (strcmp(path, *n) == 0)
			return 1;
	return 0;
}

/* Is directory `dir` ("" the workspace root) a package now: a BUILD or BUILD.bazel file? */
static int is_package(const struct planner *pl, const char *dir)
{
	for (int i = 0; i < 2; i++) {
		char *p = bds_util_xasprintf("%s%s%s/%s", pl->ws, dir[0] ? "/" : "", dir, i ? "BUILD.bazel" : "BUILD");
		struct stat st;
		int yes = stat(p, &st) == 0 && S_ISREG(st.st_mode);
		free(p);
		if (yes)
			return 1;
	}
	return 0;
}

/* The package that holds `dir` now (dir itself or its nearest ancestor), malloc'd, or NULL
 * when none does. */
static char *package_of_dir(const struct planner *pl, const char *dir)
{
	char *d = bds_util_xstrdup(dir);
	for (;;) {
		if (is_package(pl, d))
			return d;
		if (!d[0]) {
			free(d);
			return NULL;
		}
		char *slash = strrchr(d, '/');
		if (slash)
			*slash = '\0';
		else
			d[0] = '\0';
	}
}

static char *dirname_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? bds_util_xstrndup(path, (size_t)(slash - path)) : bds_util_xstrdup("");
}

static void add_package(struct planner *pl, const char *pkg)
{
	if (bds_strmap_has(pl->packages, pkg, strlen(pkg)))
		return;
	bds_strmap_put(pl->packages, pkg, strlen(pkg), NULL);
	if (pl->n_pkgs == pl->pkg_cap) {
		pl->pkg_cap = pl->pkg_cap ? pl->pkg_cap * 2 : 16;
		pl->pkg_list = bds_util_xrealloc(pl->pkg_list, (pl->pkg_cap + 1) * sizeof *pl->pkg_list);
	}
	pl->pkg_list[pl->n_pkgs++] = bds_util_xstrdup(pkg);
	pl->pkg_list[pl->n_pkgs] = NULL;
}

/* The package of a BUILD file target ("//p:BUILD" -> "p"), or NULL for another target. */
static char *build_file_package(const struct bds_state_target *t)
{
	if (t->type != BDS_TARGET_SOURCE_FILE)
		return NULL;
	int i = bds_label_main_repo_prefix(t->name, t->name_len);
	if (i < 0)
		return NULL;
	size_t pkg = bds_label_package_len(t->name, t->name_len);
	if (pkg >= t->name_len || pkg < (size_t)i)
		return NULL;
	char *name = bds_util_xstrndup(t->name + pkg + 1, t->name_len - pkg - 1);
	int yes = is_build_name(name);
	free(name);
	return yes ? bds_util_xstrndup(t->name + i, pkg - (size_t)i) : NULL;
}

/* Everything recorded as reading `path`: a BUILD file (its package is evaluated again) or a
 * target whose digest reads it (queried again). 1 (full, reason recorded) when a package
 * whose evaluation read it is gone. */
static int readers_in(struct planner *pl, const unsigned char *idx, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = bds_state_u32(idx + 4 * k);
		char *pkg = build_file_package(&pl->s->targets[i]);
		if (!pkg) {
			pl->queried[i] = 1;
			continue;
		}
		int present = is_package(pl, pkg);
		if (present)
			add_package(pl, pkg);
		else
			bds_util_fail("package '//%s' was deleted", pkg);
		free(pkg);
		if (!present)
			return 1;
	}
	return 0;
}

static int readers_of(struct planner *pl, const char *path)
{
	char *key = bds_util_xasprintf("r:%s", path);
	const unsigned char *idx;
	uint32_t n = bds_state_lookup(pl->s, key, strlen(key), &idx);
	free(key);
	return readers_in(pl, idx, n);
}

/* The readers of every path under `dir`: what a symbolic link to a directory let them
 * read there may be gone. */
static int readers_under(struct planner *pl, const char *dir)
{
	char *prefix = bds_util_xasprintf("r:%s/", dir);
	size_t pn = strlen(prefix);
	int rc = 0;
	for (size_t i = bds_state_lower_bound(pl->s, prefix, pn); i < pl->s->n_keys && rc == 0; i++) {
		const char *key;
		size_t kn;
		const unsigned char *idx;
		uint32_t n = bds_state_key_at(pl->s, i, &key, &kn, &idx);
		if (kn < pn || memcmp(key, prefix, pn) != 0)
			break;
		rc = readers_in(pl, idx, n);
	}
	free(prefix);
	return rc;
}

/* One changed path. 1: full (reason recorded). */
static int plan_change(struct planner *pl, const struct bds_change *c)
{
	const char *path = c->path;
	if (is_workspace_file(path))
		return bds_util_fail("'%s' changed", path), 1;
	if ((c->old_mode & 0170000) == 0160000 || (c->new_mode & 0170000) == 0160000)
		return bds_util_fail("submodule '%s' changed", path), 1;
	int was_link = (c->old_mode & 0170000) == 0120000, is_link = (c->new_mode & 0170000) == 0120000;
	/* A symbolic link is followed as a checkout would: a link that appeared, went or
	 * changed target is its path's change. What it pointed to may have been a
	 * directory: its listing was a glob's, and paths under it were read. A link now is
	 * checked by follow_symlinks (no directory, nothing outside). */
	int added_or_deleted = c->status == 'A' || c->status == 'D' || c->status == 'T' || was_link || is_link;
	if (was_link && readers_under(pl, path) != 0)
		return 1;
	char *dir = dirname_of(path);
	int rc = 0;
	if (is_build_name(basename_of(path))) {
		/* the package itself; the one around it when it appears or goes (its globs and
		 * labels stop or start at the new boundary) */
		if (is_package(pl, dir)) {
			add_package(pl, dir);
		} else if (c->status == 'D') {
			rc = 1;
			bds_util_fail("package '//%s' was deleted", dir);
		}
		if (rc == 0 && added_or_deleted && dir[0]) {
			char *parent_dir = dirname_of(dir);
			char *parent = package_of_dir(pl, parent_dir);
			if (parent)
				add_package(pl, parent);
			free(parent);
			free(parent_dir);
		}
	} else if (added_or_deleted) {
		/* a directory listing changed: the package's globs may see it */
		char *pkg = package_of_dir(pl, dir);
		if (pkg)
			add_package(pl, pkg);
		free(pkg);
	}
	if (rc == 0)
		rc = readers_of(pl, path);
	/* A path appearing or going makes its directories appear or go too: a label naming
	 * a directory hashes its existence (2.2). */
	if (added_or_deleted) {
		char *d = bds_util_xstrdup(dir);
		while (rc == 0 && d[0]) {
			rc = readers_of(pl, d);
			char *slash = strrchr(d, '/');
			if (slash)
				*slash = '\0';
			else
				d[0] = '\0';
		}
		free(d);
	}
	free(dir);
	return rc;
}

/* `link`'s target, lexically, relative to the workspace ("" on a dangling escape), or
 * NULL (reason recorded) when it leaves the workspace or names a directory. */
static char *symlink_target(const struct planner *pl, const char *link)
{
	char *abs = bds_util_xasprintf("%s/%s", pl->ws, link);
	char buf[PATH_MAX];
	ssize_t n = readlink(abs, buf, sizeof buf - 1);
	struct stat st;
	int dir = stat(abs, &st) == 0 && S_ISDIR(st.st_mode);
	free(abs);
	if (n < 0) {
		bds_util_fail("symbolic link '%s': %s", link, strerror(errno));
		return NULL;
	}
	buf[n] = '\0';
	if (buf[0] == '/') {
		bds_util_fail("symbolic link '%s' points outside the workspace", link);
		return NULL;
	}
	if (dir) {
		bds_util_fail("symbolic link '%s' points to a directory", link);
		return NULL;
	}
	/* normalise dirname(link)/buf */
	char *d = dirname_of(link);
	char *joined = d[0] ? bds_util_xasprintf("%s/%s", d, buf) : bds_util_xstrdup(buf);
	free(d);
	char *out = bds_util_xmalloc(strlen(joined) + 1);
	size_t k = 0;
	for (char *seg = joined; *seg;) {
		size_t sn = strcspn(seg, "/");
		if (sn == 0 || (sn == 1 && seg[0] == '.')) {
			/* nothing */
		} else if (sn == 2 && seg[0] == '.' && seg[1] == '.') {
			if (k == 0) {
				free(joined);
				free(out);
				bds_util_fail("symbolic link '%s' points outside the workspace", link);
				return NULL;
			}
			while (k > 0 && out[k - 1] != '/')
				k--;
			if (k > 0)
				k--;
		} else {
			if (k > 0)
				out[k++] = '/';
			memcpy(out + k, seg, sn);
			k += sn;
		}
		seg += sn;
		if (*seg == '/')
			seg++;
	}
	out[k] = '\0';
	free(joined);
	return out;
}

/* A symbolic link reads what it points to: a change there is the link's change too (a
 * chain of links resolved by repeating). 1: full (reason recorded). */
static int follow_symlinks(struct planner *pl, char **symlinks, struct bds_change **changes, size_t *n)
{
	size_t count = 0;
	for (char **l = symlinks; l && *l; l++)
		count++;
	if (!count)
		return 0;
	char **targets = bds_util_xcalloc(count, sizeof *targets);
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++)
		if (!(targets[i] = symlink_target(pl, symlinks[i])))
			rc = 1;
	for (int grew = 1; grew && rc == 0;) {
		grew = 0;
		for (size_t i = 0; i < count; i++) {
			const char *st = bds_strmap_get(pl->changed, targets[i], strlen(targets[i]));
			if (!st || bds_strmap_has(pl->changed, symlinks[i], strlen(symlinks[i])))
				continue;
			*changes = bds_util_xrealloc(*changes, (*n + 1) * sizeof **changes);
			/* the link's own mode did not change: a regular file's change, seen through it */
			(*changes)[(*n)++] = (struct bds_change){*st, 0100644, 0100644, symlinks[i]};
			bds_strmap_put(pl->changed, symlinks[i], strlen(symlinks[i]), (void *)st);
			grew = 1;
		}
	}
	for (size_t i = 0; i < count; i++)
		free(targets[i]);
	free(targets);
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char status_chars[] = "ADMT";

int bds_plan_make(const struct bds_state *s, const char *workspace, struct bds_change *changes, size_t n,
                  char **symlinks, struct bds_plan *out)
{
	memset(out, 0, sizeof *out);
	struct planner pl = {.s = s, .ws = workspace, .packages = bds_strmap_new(64),
	                     .queried = bds_util_xcalloc(s->count ? s->count : 1, 1),
	                     .changed = bds_strmap_new(n * 2 + 16)};
	struct bds_change *all = bds_util_xmalloc((n ? n : 1) * sizeof *all);
	memcpy(all, changes, n * sizeof *all);
	for (size_t i = 0; i < n; i++)
		bds_strmap_put(pl.changed, all[i].path, strlen(all[i].path), (void *)strchr(status_chars, all[i].status));
	int rc = follow_symlinks(&pl, symlinks, &all, &n);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = plan_change(&pl, &all[i]);
	free(all);
	if (rc != 0)
		goto done;
	/* every rule naming a label in a queried package (the label may have appeared, gone
	 * or changed kind), and the targets hashed anew on every run */
	for (size_t i = 0; i < s->count; i++)
		if (s->targets[i].flags & (BDS_STATE_ALWAYS | BDS_STATE_OUTSIDE))
			pl.queried[i] = 1;
	if (pl.n_pkgs > 1)
		qsort(pl.pkg_list, pl.n_pkgs, sizeof *pl.pkg_list, str_cmp);
	for (size_t i = 0; i < pl.n_pkgs; i++) {
		char *key = bds_util_xasprintf("k:%s", pl.pkg_list[i]);
		const unsigned char *idx;
		uint32_t k = bds_state_lookup(s, key, strlen(key), &idx);
		free(key);
		for (uint32_t j = 0; j < k; j++)
			pl.queried[bds_state_u32(idx + 4 * j)] = 1;
	}
	out->packages = pl.pkg_list ? pl.pkg_list : bds_util_xcalloc(1, sizeof *out->packages);
	out->n_packages = pl.n_pkgs;
	pl.pkg_list = NULL;
	/* the queried targets outside the queried packages, by label */
	size_t nl = 0;
	for (size_t i = 0; i < s->count; i++)
		nl += pl.queried[i];
	out->labels = bds_util_xcalloc(nl + 1, sizeof *out->labels);
	for (size_t i = 0; i < s->count; i++) {
		const struct bds_state_target *t = &s->targets[i];
		if (!pl.queried[i])
			continue;
		int pi = bds_label_main_repo_prefix(t->name, t->name_len);
		size_t pkg = bds_label_package_len(t->name, t->name_len);
		if (pi >= 0 && pkg >= (size_t)pi && bds_strmap_has(pl.packages, t->name + pi, pkg - (size_t)pi))
			continue; /* queried with its package */
		if (memchr(t->name, '\'', t->name_len)) {
			rc = 1;
			bds_util_fail("label '%.*s' cannot be quoted in a query", (int)t->name_len, t->name);
			break;
		}
		out->labels[out->n_labels++] = bds_util_xstrndup(t->name, t->name_len);
	}
done:
	if (rc != 0)
		bds_plan_free(out);
	for (size_t i = 0; pl.pkg_list && i < pl.n_pkgs; i++)
		free(pl.pkg_list[i]);
	free(pl.pkg_list);
	bds_strmap_free(pl.packages, NULL);
	bds_strmap_free(pl.changed, NULL);
	free(pl.queried);
	return rc;
}

void bds_plan_free(struct bds_plan *p)
{
	if (p->packages)
		for (size_t i = 0; i < p->n_packages; i++)
			free(p->packages[i]);
	free(p->packages);
	if (p->labels)
		for (size_t i = 0; i < p->n_labels; i++)
			free(p->labels[i]);
	free(p->labels);
	memset(p, 0, sizeof *p);
}

char *bds_plan_query(const struct bds_plan *p)
{
	size_t len = 1;
	for (size_t i = 0; i < p->n_packages; i++)
		len += strlen(p->packages[i]) + 32;
	for (size_t i = 0; i < p->n_labels; i++)
		len += strlen(p->labels[i]) + 8;
	char *q = bds_util_xmalloc(len), *at = q;
	*at = '\0';
	for (size_t i = 0; i < p->n_packages; i++)
		at += sprintf(at, "%s'//%s:all-targets'", at == q ? "" : " + ", p->packages[i]);
	for (size_t i = 0; i < p->n_labels; i++)
		at += sprintf(at, "%s'%s'", at == q ? "" : " + ", p->labels[i]);
	return q;
}

/* fingerprint: the cache key of everything that can change the query graph or the
 * validity of a warm machine. */
#define _GNU_SOURCE /* realpath, memmem, memrchr */
#include "fingerprint.h"

#include "cache.h"
#include "digest.h"
#include "driver.h"
#include "exec.h"
#include "fs.h"
#include "hash.h"
#include "util.h"
#include "version.h"
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RC_DEPTH 32
#define MAX_RC_FILES 256
#define MAX_LINKS 40                 /* symbolic links followed in one path, as Linux does */
#define FILE_MAX ((size_t)64 << 20)  /* a workspace or rc file read whole; a tree listing */
#define OUTPUT_MAX ((size_t)1 << 20) /* what a helper command prints */
#define CMD_TIMEOUT 60.0 /* git, a VMM's --version */
/* Bazel's client answers these in milliseconds; a Bazel command that takes longer is doing
 * something else (starting a server, fetching a Bazel), which the key must not wait for. */
#define BAZEL_TIMEOUT 5.0

/* c with key set to v; when v is invalid, c is freed and v returned. */
static jv set_or_fail(jv c, const char *key, jv v)
{
	if (!jv_is_valid(v)) {
		jv_free(c);
		return v;
	}
	return jv_object_set(c, jv_string(key), v);
}

static jv recorded_error(void)
{
	return jv_invalid_with_msg(jv_string(bds_util_error()));
}

/* --- files: on this machine, or in the workspace at the revision ---------------------- */

/* One entry of a directory of the revision's tree (`git ls-tree -l`). */
struct tree_entry {
	char *name;
	unsigned mode; /* 0100644, 0100755, 0120000 (symbolic link), 040000, 0160000 (submodule) */
	char oid[65];
	size_t size; /* blobs only */
};

/* A directory of the revision, listed once: walks share their directories. */
struct tree_dir {
	char *path; /* in the repository: "" for its root, "a/b" */
	struct tree_entry *entries;
	size_t n;
};

/* Where the workspace's own files are read: the commit (git) or the working tree. */
struct source {
	const char *ws;  /* absolute */
	const char *rev; /* as given, for messages; NULL: the working tree */
	char *sha;       /* the commit */
	char *prefix;    /* the workspace inside the repository: "" or "dir/" */
	char *top;       /* the working tree: the real path the option files must stay in */
	struct tree_dir *dirs;
	size_t ndirs;
};

/* A file as Bazel (or a checkout) would see it: its bytes, or why it cannot be read. */
struct file {
	char *data; /* NULL: unreadable, for the reason `err` */
	size_t len;
	int exec; /* owner-executable (git mode 100755) */
	int err;  /* an errno value: ENOENT, EISDIR, ENOTDIR, ELOOP, EACCES ... */
};

/* Reads a file of this machine. Returns 0 (f->data, or f->err when it cannot be read, as
 * for Bazel) or -1 (error recorded) when it is larger than bds reads. */
static int fs_read(const char *path, struct file *f)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO must not hang the key; it changes nothing for regular files */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), rc = 0;
	if (fd < 0) {
		f->err = errno;
		return 0;
	}
	if (fstat(fd, &st) != 0) {
		f->err = errno;
	} else if (S_ISDIR(st.st_mode)) {
		f->err = EISDIR;
	} else if (S_ISREG(st.st_mode) && (size_t)st.st_size > FILE_MAX) {
		rc = bds_util_fail("read '%s': larger than the limit of %zu MiB", path, FILE_MAX >> 20);
	} else {
		rc = bds_util_read_fd(fd, FILE_MAX, path, &f->data, &f->len);
		f->exec = (st.st_mode & S_IXUSR) != 0;
	}
	close(fd);
	return rc;
}

/* The revision's directory `path` ("" or "a/b"), listed by git once per run. NULL with
 * the error recorded when git fails. */
static const struct tree_dir *tree_dir(struct source *s, const char *path)
{
	for (size_t i = 0; i < s->ndirs; i++)
		if (strcmp(s->dirs[i].path, path) == 0)
			return &s->dirs[i];
	char *spec = bds_util_xasprintf("%s/", path);
	/* --literal-pathspecs: a '*' or ':' in a name is that character, not a pattern */
	char *argv[] = {"git", "--literal-pathspecs", "-C", (char *)s->ws, "ls-tree", "-z", "-l", "--full-tree",
	                s->sha, "--", *path ? spec : NULL, NULL};
	struct bds_exec_output o;
	int st = bds_exec_output(argv, NULL, BDS_EXEC_ERR_DROP, FILE_MAX, CMD_TIMEOUT, &o);
	char *out = o.out;
	size_t len = o.len;
	free(spec);
	if (st != 0) {
		free(out);
		if (st > 0)
			bds_util_fail("git ls-tree %s '%s/' failed (exit %d)", s->sha, path, st);
		return NULL;
	}
	s->dirs = bds_util_xrealloc(s->dirs, (s->ndirs + 1) * sizeof *s->dirs);
	struct tree_dir *d = &s->dirs[s->ndirs++];
	d->path = bds_util_xstrdup(path);
	d->entries = NULL;
	d->n = 0;
	/* "<mode> <type> <oid> <size>\t<path>\0" */
	for (char *rec = out; rec < out + len; rec += strlen(rec) + 1) {
		char *tab = strchr(rec, '\t');
		char type[16], size[32];
		struct tree_entry e = {0};
		if (!tab || sscanf(rec, "%o %15s %64s %31s", &e.mode, type, e.oid, size) != 4)
			continue;
		const char *slash = strrchr(tab + 1, '/');
		e.name = bds_util_xstrdup(slash ? slash + 1 : tab + 1);
		e.size = (size_t)strtoull(size, NULL, 10); /* "-" for trees: 0 */
		d->entries = bds_util_xrealloc(d->entries, (d->n + 1) * sizeof *d->entries);
		d->entries[d->n++] = e;
	}
	free(out);
	return d;
}

static void source_free(struct source *s)
{
	for (size_t i = 0; i < s->ndirs; i++) {
		for (size_t k = 0; k < s->dirs[i].n; k++)
			free(s->dirs[i].entries[k].name);
		free(s->dirs[i].entries);
		free(s->dirs[i].path);
	}
	free(s->dirs);
	free(s->sha);
	free(s->prefix);
	free(s->top);
}

static int cat_blob(const struct source *s, const struct tree_entry *e, const char *path, struct file *f)
{
	if (e->size > FILE_MAX)
		return bds_util_fail("read '%s:%s': larger than the limit of %zu MiB", s->rev, path, FILE_MAX >> 20);
	char *argv[] = {"git", "-C", (char *)s->ws, "cat-file", "blob", (char *)e->oid, NULL};
	struct bds_exec_output o;
	int st = bds_exec_output(argv, NULL, BDS_EXEC_ERR_DROP, FILE_MAX, CMD_TIMEOUT, &o);
	f->data = o.out;
	f->len = o.len;
	if (st != 0) {
		free(f->data);
		f->data = NULL;
		return st < 0 ? -1 : bds_util_fail("git cat-file blob %s ('%s:%s') failed (exit %d)", e->oid, s->rev, path, st);
	}
	f->exec = e->mode == 0100755;
	return 0;
}

/* Where a walk of a path in the revision's tree ends, as a checkout would resolve it. */
struct walk {
	enum { WALK_ENTRY, WALK_ERRNO, WALK_ABSOLUTE, WALK_ESCAPES } end;
	int err;              /* WALK_ERRNO: ENOENT, ENOTDIR, ELOOP, EISDIR */
	struct tree_entry e;  /* WALK_ENTRY (its name not owned) */
	char *path;           /* WALK_ENTRY: its path in the repository; WALK_ABSOLUTE: a file of this machine */
	char *link, *target;  /* the last symbolic link followed (repository path) and its text */
};

static void walk_free(struct walk *w)
{
	free(w->path);
	free(w->link);
	free(w->target);
}

/* Walks `rel`, relative to the workspace, in the revision's tree as a checkout of it shows
 * it: symbolic links followed, a relative target in the tree, an absolute one ending the
 * walk on this machine; ".." above the repository's root ends it too. Returns 0 (w set) or
 * -1 (git failed, error recorded). */
static int rev_walk(struct source *s, const char *rel, struct walk *w)
{
	char *rest = bds_util_xasprintf("%s%s", s->prefix, rel); /* still to walk */
	char *done = bds_util_xstrdup("");                         /* directories walked */
	int links = 0, rc = 0;
	memset(w, 0, sizeof *w);
	for (;;) {
		char *p = rest;
		while (*p == '/')
			p++;
		if (!*p) { /* the path names a directory */
			w->end = WALK_ERRNO, w->err = EISDIR;
			break;
		}
		size_t n = strcspn(p, "/");
		char *name = bds_util_xstrndup(p, n);
		char *tail = bds_util_xstrdup(p + n); /* "" or "/..." */
		free(rest);
		rest = tail;
		if (!strcmp(name, ".")) {
			free(name);
			continue;
		}
		if (!strcmp(name, "..")) {
			free(name);
			if (!*done) {
				w->end = WALK_ESCAPES;
				break;
			}
			char *slash = strrchr(done, '/');
			*(slash ? slash : done) = '\0';
			continue;
		}
		const struct tree_dir *d = tree_dir(s, done);
		if (!d) {
			free(name);
			rc = -1;
			break;
		}
		const struct tree_entry *e = NULL;
		for (size_t i = 0; i < d->n && !e; i++)
			if (strcmp(d->entries[i].name, name) == 0)
				e = &d->entries[i];
		char *path = *done ? bds_util_xasprintf("%s/%s", done, name) : bds_util_xstrdup(name);
		free(name);
		int last = !*rest;
		if (!e) {
			w->end = WALK_ERRNO, w->err = ENOENT;
		} else if (e->mode == 0120000) {
			struct file link = {0};
			if (++links > MAX_LINKS) {
				w->end = WALK_ERRNO, w->err = ELOOP;
			} else if (cat_blob(s, e, path, &link) < 0) {
				rc = -1;
			} else if (!link.data[0]) {
				w->end = WALK_ERRNO, w->err = ENOENT; /* an empty link leads nowhere */
			} else {
				free(w->link);
				free(w->target);
				w->link = path;
				w->target = bds_util_xstrndup(link.data, strnlen(link.data, link.len));
				path = NULL;
				char *next = bds_util_xasprintf("%s%s", w->target, rest);
				free(rest);
				rest = next;
				free(link.data);
				if (w->target[0] != '/')
					continue; /* from the link's directory, `done` */
				w->end = WALK_ABSOLUTE;
				w->path = rest;
				rest = NULL;
				break;
			}
			free(link.data);
		} else if (e->mode == 040000 && !last) {
			free(done);
			done = path;
			continue;
		} else if (e->mode == 0160000 && !last) {
			/* a submodule is an empty directory in a checkout that does not clone it */
			w->end = WALK_ERRNO, w->err = ENOENT;
		} else if (!last && e->mode != 040000) {
			w->end = WALK_ERRNO, w->err = ENOTDIR;
		} else {
			w->end = WALK_ENTRY;
			w->e = *e;
			w->path = path;
			path = NULL;
		}
		free(path);
		break;
	}
	free(rest);
	free(done);
	return rc;
}

/* "SUBJECT at REV leads out of the repository[, through ...]: ..." recorded; the subject
 * names the option file ("--seed-filepaths 'x'"). */
static int fail_outside(const struct source *s, const char *subject, const struct walk *w)
{
	const char *fix = "name that file by its absolute path instead, whose contents then go in the key";
	if (w->link)
		return bds_util_fail("%s at %s leads out of the repository, through the symbolic link '%s' -> '%s', "
		                     "which is all the commit holds of it: %s", subject, s->rev, w->link, w->target, fix);
	return bds_util_fail("%s at %s leads out of the repository: %s", subject, s->rev, fix);
}

/* Reads `rel`, relative to the workspace, at the revision as a checkout of it shows it.
 * For an rc file (`what` NULL) an absolute link's target is read on this machine, where
 * Bazel reads it too, and a path that leaves the repository through ".." is an error,
 * since what it reaches depends on where the checkout is. For bds-hash's option files
 * (`subject` names the option and file) leaving the repository in any way is an error: the
 * key holds the commit, and the commit holds only the link. Returns as fs_read does. */
static int rev_read(struct source *s, const char *rel, const char *subject, struct file *f)
{
	struct walk w;
	int rc = rev_walk(s, rel, &w);
	if (rc < 0)
		;
	else if (subject && (w.end == WALK_ABSOLUTE || w.end == WALK_ESCAPES))
		rc = fail_outside(s, subject, &w);
	else if (w.end == WALK_ESCAPES)
		rc = bds_util_fail("read '%s:%s%s': leads outside the repository, where what a checkout reads depends on "
		                   "where it is", s->rev, s->prefix, rel);
	else if (w.end == WALK_ABSOLUTE)
		rc = fs_read(w.path, f);
	else if (w.end == WALK_ERRNO)
		f->err = w.err;
	else if (w.e.mode == 040000 || w.e.mode == 0160000)
		f->err = EISDIR;
	else
		rc = cat_blob(s, &w.e, w.path, f);
	walk_free(&w);
	return rc;
}

/* A workspace file (`rel`) at the revision, or in the working tree without one. */
static int ws_read(struct source *s, const char *rel, struct file *f)
{
	if (s->rev)
		return rev_read(s, rel, NULL, f);
	char *path = bds_util_xasprintf("%s/%s", s->ws, rel);
	int rc = fs_read(path, f);
	free(path);
	return rc;
}

/* "absent", "unreadable: <why>" or "xxh3:<hex>" of the contents: absent and empty differ.
 * Frees the contents. */
static jv file_status(struct file *f)
{
	if (!f->data)
		return f->err == ENOENT ? jv_string("absent") : jv_string_fmt("unreadable: %s", strerror(f->err));
	char hex[33];
	bds_digest_xxh128(f->data, f->len, hex);
	free(f->data);
	f->data = NULL;
	return jv_string_fmt("xxh3:%s", hex);
}

static jv ws_file_component(struct source *s, const char *rel)
{
	struct file f = {0};
	if (ws_read(s, rel, &f) < 0)
		return recorded_error();
	return file_status(&f);
}

/* The XXH3-128 of a file of this machine, streamed (option files and binaries can be
 * large); "absent" or "unreadable: <why>" when it cannot be read, as bds-hash will report. */
static jv fs_digest(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? jv_string("absent") : jv_string_fmt("unreadable: %s", strerror(errno));
	char hex[33];
	int rc = bds_digest_xxh128_fd(fd, path, hex);
	close(fd);
	if (rc < 0) /* a directory, an I/O error: bds-hash fails on it too */
		return jv_string_fmt("unreadable: %s", bds_util_error());
	return jv_string_fmt("xxh3:%s", hex);
}

/* --- rc files ------------------------------------------------------------------------- */

/* Bazel's rc syntax, as its client parses it (Bazel 4.2.3, src/main/cpp/rc_file.cc and
 * util/strings.cc): a backslash before a newline joins two lines; each line is stripped of
 * ASCII white space and split into words, where quotes group, a backslash escapes the next
 * character and an unquoted '#' ends the line; `import` and `try-import` take exactly one
 * word. Words are std::strings there: a quoted NUL is part of a word, so `import'\0'` is no
 * import. Anything else about the options is the file's digest's business, but for the
 * `startup` options, which say where Debian's Bazel is installed. */

/* Removes every `pat` from d[0..*n), rescanning from where each removal was, as
 * blaze_util::Replace(pat, "", ...) does. */
static void remove_all(char *d, size_t *n, const char *pat)
{
	size_t plen = strlen(pat), w = 0;
	for (size_t i = 0; i < *n;) {
		if (i + plen <= *n && memcmp(d + i, pat, plen) == 0)
			i += plen;
		else
			d[w++] = d[i++];
	}
	*n = w;
}

static int rc_space(char c) /* ascii_isspace */
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int rc_separator(char c) /* strchr(" \n\t\r", c): the string's own NUL matches too */
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\0';
}

/* A word of a line: its bytes (NUL-terminated for convenience) and its real length. */
struct word {
	char *s;
	size_t n;
};

static int word_is(const struct word *w, const char *lit)
{
	return w->n == strlen(lit) && memcmp(w->s, lit, w->n) == 0;
}

static void words_free(struct word *w, int n)
{
	for (int i = 0; i < n; i++)
		free(w[i].s);
	free(w);
}

/* Splits a stripped line into words as blaze_util::Tokenize(line, '#', ...) does. Returns
 * the number of words, in *out (free with words_free). */
static int tokenize(const char *s, size_t n, struct word **out)
{
	char *word = bds_util_xmalloc(n + 1);
	struct word *words = NULL;
	int count = 0;
	size_t i = 0;
	while (i < n) {
		while (i < n && rc_separator(s[i]))
			i++;
		if (i < n && s[i] == '#')
			break;
		size_t k = 0;
		char quote = 0;
		while (i < n && (quote || !rc_separator(s[i]))) {
			if (s[i] == '\\') { /* an escape, quoted or not; a dangling one is dropped */
				if (++i == n)
					break;
				word[k++] = s[i++];
			} else if (quote) {
				if (s[i] == quote)
					i++, quote = 0;
				else
					word[k++] = s[i++];
			} else if (s[i] == '#') {
				i = n;
			} else if (s[i] == '\'' || s[i] == '"') {
				quote = s[i++];
			} else {
				word[k++] = s[i++];
			}
		}
		if (k > 0) { /* an empty word ("" or '') is no word */
			words = bds_util_xrealloc(words, (size_t)(count + 1) * sizeof *words);
			words[count].s = bds_util_xmalloc(k + 1);
			memcpy(words[count].s, word, k);
			words[count].s[k] = '\0';
			words[count++].n = k;
		}
	}
	free(word);
	*out = words;
	return count;
}

/* The import closure of one rc file, in Bazel's reading order: one "NAME STATUS" string per
 * file read (a file imported twice is read twice, as Bazel does), NAME as Bazel names it
 * with the workspace shown as %workspace% for files read at the revision; and the words of
 * its `startup` lines, in order. */
struct rc_walk {
	struct source *src;
	jv files, startup;
	const char *stack[MAX_RC_DEPTH + 1]; /* the import chain, Bazel's names: its loop check */
	int depth, count;
};

enum rc_kind { RC_TOP, RC_IMPORT, RC_TRY_IMPORT };

static char *rc_shown(const struct rc_walk *w, const char *name, int at_rev)
{
	size_t n = strlen(w->src->ws);
	if (at_rev && strncmp(name, w->src->ws, n) == 0 && name[n] == '/')
		return bds_util_xasprintf("%%workspace%%%s", name + n);
	return bds_util_xstrdup(name);
}

static int rc_visit(struct rc_walk *w, const char *name, const char *path, int at_rev, enum rc_kind kind,
                    const char *parent);

/* An import line of `shown` (the file being read): its target, named and located as the
 * client does. A relative name is relative to the client's directory, which is the
 * workspace in every bds pipeline, so it is read at the revision like %workspace%/. A
 * name with a NUL byte is opened up to it (a C string), so it is named up to it too. */
static int rc_import(struct rc_walk *w, const char *shown, const char *line, size_t len, int try,
                     const struct word *words, int nwords)
{
	static const char prefix[] = "%workspace%/";
	if (nwords != 2)
		return bds_util_fail("bazelrc '%s': invalid import declaration '%.*s'", shown, (int)len, line);
	const char *word = words[1].s;
	char *name, *path;
	int at_rev = 1;
	if (strncmp(word, prefix, sizeof prefix - 1) == 0) {
		const char *rest = word + sizeof prefix - 1; /* blaze_util::JoinPath(workspace, rest) */
		name = bds_util_xasprintf("%s%s%s", w->src->ws, rest[0] == '/' ? "" : "/", rest);
		path = bds_util_xstrdup(rest);
	} else {
		name = bds_util_xstrdup(word);
		path = bds_util_xstrdup(word);
		at_rev = word[0] != '/';
	}
	int rc = 0;
	for (int i = 0; i < w->depth && rc == 0; i++)
		if (strcmp(w->stack[i], name) == 0) {
			char *target = rc_shown(w, name, at_rev);
			rc = bds_util_fail("bazelrc '%s': import loop: '%s' is already being read", shown, target);
			free(target);
		}
	if (rc == 0)
		rc = rc_visit(w, name, path, at_rev, try ? RC_TRY_IMPORT : RC_IMPORT, shown);
	free(name);
	free(path);
	return rc;
}

static int rc_parse(struct rc_walk *w, const char *shown, char *data, size_t len)
{
	remove_all(data, &len, "\\\r\n");
	remove_all(data, &len, "\\\n");
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0;) {
		size_t end = i;
		while (end < len && data[end] != '\n')
			end++;
		size_t a = i, b = end;
		i = end + 1;
		while (a < b && rc_space(data[a]))
			a++;
		while (b > a && rc_space(data[b - 1]))
			b--;
		struct word *words = NULL;
		int n = tokenize(data + a, b - a, &words);
		int imp = n > 0 && word_is(&words[0], "import"), try = n > 0 && word_is(&words[0], "try-import");
		if (imp || try)
			rc = rc_import(w, shown, data + a, b - a, try, words, n);
		else if (n > 0 && word_is(&words[0], "startup"))
			for (int k = 1; k < n; k++)
				w->startup = jv_array_append(w->startup, jv_string_sized(words[k].s, (int)words[k].n));
		words_free(words, n);
	}
	return rc;
}

/* Reads one rc file (`path`: relative to the workspace at the revision, or a file of this
 * machine) and what it imports. An unreadable try-import is skipped and a missing top-level
 * file ignored, as Bazel does; an unreadable import or top-level file stops Bazel, and
 * the key with it. */
static int rc_visit(struct rc_walk *w, const char *name, const char *path, int at_rev, enum rc_kind kind,
                    const char *parent)
{
	if (w->count >= MAX_RC_FILES || w->depth >= MAX_RC_DEPTH) {
		char *shown = rc_shown(w, name, at_rev), *in = parent ? bds_util_xasprintf(" (in '%s')", parent) : NULL;
		int rc = w->count >= MAX_RC_FILES
		             ? bds_util_fail("bazelrc '%s'%s: more than %d rc files to read, the most bds reads", shown,
		                             in ? in : "", MAX_RC_FILES)
		             : bds_util_fail("bazelrc '%s'%s: imports nested deeper than %d, the most bds follows", shown,
		                             in ? in : "", MAX_RC_DEPTH);
		free(in);
		free(shown);
		return rc;
	}
	w->count++;
	struct file f = {0};
	if ((at_rev ? ws_read(w->src, path, &f) : fs_read(path, &f)) < 0)
		return -1;
	char *shown = rc_shown(w, name, at_rev);
	const char *where = at_rev && w->src->rev ? " at " : "", *rev = at_rev && w->src->rev ? w->src->rev : "";
	int rc = 0;
	if (f.data) {
		char hex[33];
		bds_digest_xxh128(f.data, f.len, hex);
		w->files = jv_array_append(w->files, jv_string_fmt("%s xxh3:%s", shown, hex));
		w->stack[w->depth++] = name;
		rc = rc_parse(w, shown, f.data, f.len);
		w->depth--;
	} else if (kind == RC_TRY_IMPORT) {
		w->files = jv_array_append(w->files, jv_string_fmt("%s skipped: %s", shown, strerror(f.err)));
	} else if (kind == RC_TOP && (f.err == ENOENT || f.err == ENOTDIR || f.err == ELOOP)) {
		w->files = jv_array_append(w->files, jv_string_fmt("%s absent", shown)); /* not a file: not read */
	} else if (kind == RC_TOP) {
		rc = bds_util_fail("bazelrc '%s'%s%s: %s", shown, where, rev, strerror(f.err));
	} else {
		rc = bds_util_fail("bazelrc import '%s'%s%s (in '%s'): %s", shown, where, rev, parent, strerror(f.err));
	}
	free(f.data);
	free(shown);
	return rc;
}

/* The closure of one top-level rc file appended to `files`, and its startup words to
 * `*startup` (when not NULL); invalid when Bazel would stop. */
static jv rc_closure(struct source *s, const char *name, const char *path, int at_rev, jv files, jv *startup)
{
	struct rc_walk w = {.src = s, .files = files, .startup = startup ? *startup : jv_array()};
	int rc = rc_visit(&w, name, path, at_rev, RC_TOP, NULL);
	if (startup)
		*startup = w.startup;
	else
		jv_free(w.startup);
	if (rc < 0) {
		jv_free(w.files);
		return recorded_error();
	}
	return w.files;
}

/* The rc files Bazel's client looks for, in its order (system, workspace, home, BAZELRC,
 * --bazelrc), after a wrapper's startup options, for the command the pipelines run: the
 * client logs them under --client_debug before anything else. The bogus --max_idle_secs
 * makes it exit right after, and the unusable output root stops it even when a wrapper
 * drops that flag: no server is ever started for the question. No answer (a wrapper that
 * drops --client_debug, a Bazel that does not log the line, a timeout) is an error: the
 * rules cannot be reproduced from outside (a wrapper's own flags, HOME, the system rc
 * compiled into the client). */
static int client_rc_output(const char *bazel, char *const *startup, size_t nstartup, const char *ws, char **line)
{
	static const char marker[] = "Looking for the following rc files: ";
	/* the user's startup options first (--bazelrc, --nohome_rc ... change the list); ours
	 * after them, so that theirs never start a server */
	static const char *const ours[] = {"--client_debug", "--max_idle_secs=bogus", "--output_user_root=/dev/null/bds",
	                                   "--output_base=/dev/null/bds", "query"};
	size_t nours = sizeof ours / sizeof *ours, k = 0;
	char **argv = bds_util_xcalloc(nstartup + nours + 2, sizeof *argv);
	argv[k++] = (char *)bazel;
	for (size_t i = 0; i < nstartup; i++)
		argv[k++] = startup[i];
	for (size_t i = 0; i < nours; i++)
		argv[k++] = (char *)ours[i];
	struct bds_exec_output o;
	*line = NULL;
	int st = bds_exec_output(argv, ws, BDS_EXEC_ERR_MERGE, OUTPUT_MAX, BAZEL_TIMEOUT, &o);
	char *err = o.out;
	size_t len = o.len;
	free(argv);
	if (st < 0) {
		char why[1024];
		snprintf(why, sizeof why, "%s", bds_util_error());
		return bds_util_fail("ask Bazel's client which rc files it reads: %s", why);
	}
	char *at = memmem(err, len, marker, sizeof marker - 1);
	if (!at) {
		/* its last line says why (a FATAL of Bazel's; a wrapper's error, on either stream) */
		while (len > 0 && err[len - 1] == '\n')
			err[--len] = '\0';
		char *last = memrchr(err, '\n', len);
		int rc = bds_util_fail("Bazel's client did not say which rc files it reads: '%s --client_debug "
		                       "--max_idle_secs=bogus ... query' in '%s' printed no \"%.*s\" line (exit %d%s%.200s%s); "
		                       "a wrapper must pass its startup options on to Bazel",
		                       bazel, ws, (int)sizeof marker - 3, marker, st, len ? ": '" : "",
		                       last ? last + 1 : err, len ? "'" : "");
		free(err);
		return rc;
	}
	at += sizeof marker - 1;
	*line = bds_util_xstrndup(at, strcspn(at, "\n"));
	free(err);
	return 0;
}

/* Splits the client's list, which it joins with ',' although a path may hold one (HOME=/a,b
 * gives "/a,b/.bazelrc"): the entries whose names are known (the workspace's rc, the home
 * rc) are taken whole, the others end where ",/" starts the next absolute name. Every entry
 * must be absolute (a relative HOME makes a relative home rc, read from wherever Bazel
 * runs), and a split that could also join two entries into one existing file is refused. */
static int split_rc_list(const char *line, const char *ws_rc, char ***out)
{
	const char *home = getenv("HOME");
	char *home_rc = home && *home ? bds_util_xasprintf("%s/.bazelrc", home) : NULL;
	const char *known[] = {ws_rc, home_rc};
	size_t n = strlen(line), count = 0;
	char **list = bds_util_xcalloc(n + 2, sizeof *list);
	int *guessed = bds_util_xcalloc(n + 2, sizeof *guessed), rc = 0;
	for (size_t i = 0; i < n;) {
		size_t len = 0;
		for (size_t k = 0; k < 2; k++) {
			size_t kl = known[k] ? strlen(known[k]) : 0;
			if (kl > len && strncmp(line + i, known[k], kl) == 0 && (line[i + kl] == ',' || !line[i + kl]))
				len = kl;
		}
		if (!len) {
			const char *next = strstr(line + i + 1, ",/");
			len = next ? (size_t)(next - (line + i)) : n - i;
			guessed[count] = 1;
		}
		list[count++] = bds_util_xstrndup(line + i, len);
		i += len + 1;
	}
	for (size_t i = 0; i < count && rc == 0; i++)
		if (list[i][0] != '/')
			rc = bds_util_fail("Bazel's client looks for the rc file '%s', relative to wherever it runs (is HOME "
			                   "absolute?): the key cannot follow it", list[i]);
	for (size_t i = 0; i < count && rc == 0; i++) {
		char *joined = bds_util_xstrdup(list[i]);
		for (size_t j = i + 1; j < count && guessed[j] && guessed[i] && rc == 0; j++) {
			char *longer = bds_util_xasprintf("%s,%s", joined, list[j]);
			free(joined);
			joined = longer;
			struct stat st;
			if (stat(joined, &st) == 0)
				rc = bds_util_fail("Bazel's client's rc list '%s' reads two ways: '%s' is a file, and "
				                   "'%s' ... '%s' may be names of their own; rename it without \",/\"", line,
				                   joined, list[i], list[j]);
		}
		free(joined);
	}
	free(guessed);
	free(home_rc);
	if (rc < 0) {
		bds_util_free_list(list);
		return -1;
	}
	*out = list;
	return 0;
}

/* Every rc file Bazel reads for the query, and what they import:
 *   bazelrc   the workspace's .bazelrc closure at the revision (always, even when a wrapper
 *             passes --noworkspace_rc: more in the key only means more cold consumes);
 *   rc_list   the client's list of top-level rc files, in its order;
 *   rc_files  the other files of that list (the system rc, ~/.bazelrc, --bazelrc files),
 *             each with its closure, read on this machine, where the warm query and
 *             bds-cold read them too; a --bazelrc inside the workspace both at the
 *             revision (a tools/bazel names it relative to the checkout) and on disk.
 * `*install_base` receives the last startup --install_base of them all, or NULL. */
static jv rc_components(struct source *s, const struct bds_fingerprint_input *in, jv c, char **install_base)
{
	char *ws_rc = bds_util_xasprintf("%s/.bazelrc", s->ws), *line = NULL, **list = NULL;
	jv ws_startup = jv_array(), startup = jv_array(), files = jv_array(), shown = jv_array();
	*install_base = NULL;
	c = set_or_fail(c, "bazelrc", rc_closure(s, ws_rc, ".bazelrc", 1, jv_array(), &ws_startup));
	if (jv_is_valid(c) && (client_rc_output(in->bazel, in->startup, in->nstartup, s->ws, &line) < 0 || split_rc_list(line, ws_rc, &list) < 0)) {
		jv_free(c);
		c = recorded_error();
	}
	size_t n = strlen(s->ws);
	for (char **p = list; p && *p && jv_is_valid(files); p++) {
		int inside = strncmp(*p, s->ws, n) == 0 && (*p)[n] == '/';
		shown = jv_array_append(shown, inside ? jv_string_fmt("%%workspace%%%s", *p + n) : jv_string(*p));
		if (strcmp(*p, ws_rc) == 0) {
			files = jv_array_append(files, jv_string("%workspace%/.bazelrc: see bazelrc"));
			startup = jv_array_concat(startup, jv_copy(ws_startup));
			continue;
		}
		/* the pipelines' Bazel reads the checkout's; a wrapper may name the user's own */
		if (inside)
			files = rc_closure(s, *p, *p + n + 1, 1, files, &startup);
		if (jv_is_valid(files))
			files = rc_closure(s, *p, *p, 0, files, inside ? NULL : &startup);
	}
	/* Bazel's startup options: the last --install_base wins */
	int k = jv_array_length(jv_copy(startup));
	for (int i = 0; i < k; i++) {
		jv o = jv_array_get(jv_copy(startup), i);
		const char *v = jv_string_value(o), *val = NULL;
		jv next = jv_invalid();
		if (strncmp(v, "--install_base=", 15) == 0)
			val = v + 15;
		else if (strcmp(v, "--install_base") == 0 && i + 1 < k)
			next = jv_array_get(jv_copy(startup), ++i), val = jv_string_value(next);
		if (val) {
			free(*install_base);
			*install_base = val[0] == '/' ? bds_util_xstrdup(val) : bds_util_xasprintf("%s/%s", s->ws, val);
		}
		jv_free(next);
		jv_free(o);
	}
	jv_free(startup);
	jv_free(ws_startup);
	bds_util_free_list(list);
	free(line);
	free(ws_rc);
	if (!jv_is_valid(c) || !jv_is_valid(files)) {
		jv_free(shown);
		free(*install_base);
		*install_base = NULL;
		if (!jv_is_valid(c)) {
			jv_free(files);
			return c;
		}
		jv_free(c);
		return files;
	}
	c = jv_object_set(c, jv_string("rc_list"), shown);
	return jv_object_set(c, jv_string("rc_files"), files);
}

/* --- the Bazel command ---------------------------------------------------------------- */

/* The file a command resolves to where the pipelines run it, in the workspace: a relative
 * name, and a relative or empty PATH entry, are relative to it, as for execvp there. */
static char *resolve_command(const char *cmd, const char *ws)
{
	char resolved[PATH_MAX];
	if (strchr(cmd, '/')) {
		char *path = cmd[0] == '/' ? bds_util_xstrdup(cmd) : bds_util_xasprintf("%s/%s", ws, cmd);
		char *out = realpath(path, resolved) ? bds_util_xstrdup(resolved) : NULL;
		free(path);
		return out;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin"; /* execvp's default */
	char *out = NULL;
	for (const char *dir = path; !out;) {
		size_t n = strcspn(dir, ":");
		char *candidate = n == 0 ? bds_util_xasprintf("%s/%s", ws, cmd)
		                  : dir[0] == '/' ? bds_util_xasprintf("%.*s/%s", (int)n, dir, cmd)
		                                  : bds_util_xasprintf("%s/%.*s/%s", ws, (int)n, dir, cmd);
		struct stat st;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0 &&
		    realpath(candidate, resolved))
			out = bds_util_xstrdup(resolved);
		free(candidate);
		if (!dir[n])
			break;
		dir += n + 1;
	}
	return out;
}

/* "xxh3:<hex> (<file>)" of the file a command resolves to, or invalid; `*file` (when not
 * NULL) receives that file. */
static jv command_digest(const char *cmd, const char *ws, char **file)
{
	char *path = resolve_command(cmd, ws);
	if (!path)
		return jv_invalid_with_msg(jv_string_fmt("bazel '%s': not found", cmd));
	jv st = fs_digest(path);
	jv v = jv_string_fmt("%s (%s)", jv_string_value(st), path);
	jv_free(st);
	if (file)
		*file = path;
	else
		free(path);
	return v;
}

/* Bazel's version, asked in the workspace as the pipelines run it (a version-picking
 * wrapper reads its .bazelversion). Debian's 4.2.3 reports none ("bazel no_version"): its
 * server is the install base its system rc names (startup --install_base=/usr/share/bazel,
 * trusted rather than extracted from the binary), whose install_base_key the package
 * writes per build, so that key stands in for the version; and BDS_REAL_BAZEL's digest,
 * when given, for the client behind the wrapper, which cannot be found without guessing. */
static jv bazel_version(const char *bazel, const char *ws, const char *install_base, const char *command_file,
                        jv command)
{
	char *argv[] = {(char *)bazel, "--version", NULL};
	struct bds_exec_output o;
	int status = bds_exec_output(argv, ws, BDS_EXEC_ERR_DROP, OUTPUT_MAX, BAZEL_TIMEOUT, &o);
	char *out = o.out;
	if (status == 0) {
		out[strcspn(out, "\n")] = '\0';
		if (strncmp(out, "bazel ", 6) == 0 && strcmp(out, "bazel no_version") != 0) {
			jv v = jv_string(out);
			free(out);
			jv_free(command);
			return v;
		}
	}
	free(out);
	jv v = jv_string("no_version");
	if (install_base) {
		char *key = bds_util_xasprintf("%s/install_base_key", install_base);
		jv st = fs_digest(key);
		jv with = jv_string_fmt("%s install_base_key %s (%s)", jv_string_value(v), jv_string_value(st), key);
		jv_free(st);
		jv_free(v);
		v = with;
		free(key);
	}
	const char *real = getenv("BDS_REAL_BAZEL");
	char *real_file = real && *real ? resolve_command(real, ws) : NULL;
	if (real && *real) {
		/* a binary is read once: the command itself may be the client */
		jv digest = real_file && command_file && strcmp(real_file, command_file) == 0 ? jv_copy(command)
		                                                                           : command_digest(real, ws, NULL);
		if (!jv_is_valid(digest)) {
			free(real_file);
			jv_free(command);
			jv_free(v);
			return digest;
		}
		jv both = jv_string_fmt("%s client %s", jv_string_value(v), jv_string_value(digest));
		jv_free(v);
		jv_free(digest);
		v = both;
	}
	free(real_file);
	jv_free(command);
	return v;
}

/* What a wrapper reads to decide which Bazel runs, and how: Debian's /usr/bin/bazel and
 * bazelisk look for the workspace's marker, run its executable tools/bazel and pick the
 * version .bazelversion (or .bazeliskrc) names. */
static const char *const wrapper_files[] = {"tools/bazel", ".bazelversion", ".bazeliskrc"};
static const char *const workspace_markers[] = {"WORKSPACE", "WORKSPACE.bazel", "MODULE.bazel", "REPO.bazel"};

static int same_file(const struct file *a, const struct file *b)
{
	if (!a->data || !b->data)
		return !a->data && !b->data && a->err == b->err;
	return a->len == b->len && a->exec == b->exec && memcmp(a->data, b->data, a->len) == 0;
}

/* Bazel's client is asked in the working tree (its files, not the revision's, are on disk
 * to run), while the pipelines run it in a checkout of the revision: the answer holds only
 * when what a wrapper reads there is the revision's. Otherwise the key would describe
 * another Bazel, or other rc files, than the one the warm query runs: refused, rather than
 * run the revision's wrapper out of its checkout, where the files it reads are missing. */
static int wrapper_check(struct source *s, const char *bazel)
{
	const char *bazel_rel = strchr(bazel, '/') && bazel[0] != '/' ? bazel : NULL;
	size_t nfiles = sizeof wrapper_files / sizeof *wrapper_files;
	int rc = 0;
	for (size_t i = 0; i <= nfiles && rc == 0; i++) {
		const char *rel = i < nfiles ? wrapper_files[i] : bazel_rel;
		if (!rel)
			continue;
		struct file at = {0}, tree = {0};
		char *path = bds_util_xasprintf("%s/%s", s->ws, rel);
		if (rev_read(s, rel, NULL, &at) < 0 || fs_read(path, &tree) < 0)
			rc = -1;
		else if (!same_file(&at, &tree))
			rc = bds_util_fail("'%s' differs between the working tree and %s: Bazel's client, asked which rc files "
			                   "the query reads, runs the working tree's, the pipelines the revision's; check %s "
			                   "out first", rel, s->rev, s->rev);
		free(at.data);
		free(tree.data);
		free(path);
	}
	/* the workspace's own directory: "dir/" as "dir" */
	char *dir = bds_util_xstrndup(s->prefix, *s->prefix ? strlen(s->prefix) - 1 : 0);
	const struct tree_dir *d = rc == 0 ? tree_dir(s, dir) : NULL;
	free(dir);
	for (size_t i = 0; d && i < sizeof workspace_markers / sizeof *workspace_markers && rc == 0; i++) {
		int at = 0;
		for (size_t k = 0; k < d->n; k++)
			at |= strcmp(d->entries[k].name, workspace_markers[i]) == 0;
		char *path = bds_util_xasprintf("%s/%s", s->ws, workspace_markers[i]);
		struct stat st;
		int tree = lstat(path, &st) == 0;
		if (at != tree)
			rc = bds_util_fail("'%s' is %s %s but %s the working tree: Bazel's client, asked which rc files the "
			                   "query reads, runs in the working tree, the pipelines in %s; check %s out first",
			                   workspace_markers[i], at ? "in" : "not in", s->rev, at ? "not in" : "in", s->rev,
			                   s->rev);
		free(path);
	}
	return rc == 0 && !d ? -1 : rc;
}

/* bazel          the version, above (bazel_command is in c already);
 * tools_bazel    the workspace's tools/bazel at the revision, which Debian's bazel (and
 *                bazelisk) runs instead of Bazel when it is an executable file. */
static jv bazel_components(struct source *s, const char *bazel, const char *install_base, const char *command_file,
                           jv c)
{
	jv command = jv_object_get(jv_copy(c), jv_string("bazel_command"));
	c = set_or_fail(c, "bazel", bazel_version(bazel, s->ws, install_base, command_file, command));
	if (!jv_is_valid(c))
		return c;
	struct file f = {0};
	if (ws_read(s, "tools/bazel", &f) < 0) {
		jv_free(c);
		return recorded_error();
	}
	int exec = f.exec, read = f.data != NULL;
	jv tools = file_status(&f);
	if (read) {
		jv t = jv_string_fmt("%s %s", jv_string_value(tools), exec ? "executable" : "not executable");
		jv_free(tools);
		tools = t;
	}
	return jv_object_set(c, jv_string("tools_bazel"), tools);
}

/* --- bds-hash's option files ---------------------------------------------------------- */

static jv named_digest(const char *what, const char *path)
{
	jv st = fs_digest(path);
	jv v = jv_string_fmt("%s %s %s", what, path, jv_string_value(st));
	jv_free(st);
	return v;
}

/* The working tree's repository top, the real path relative option files must stay in
 * (the workspace when it is in none). */
static const char *working_top(struct source *s)
{
	if (s->top)
		return s->top;
	char *argv[] = {"git", "-C", (char *)s->ws, "rev-parse", "--show-toplevel", NULL};
	char resolved[PATH_MAX];
	struct bds_exec_output o;
	int st = bds_exec_output(argv, NULL, BDS_EXEC_ERR_DROP, OUTPUT_MAX, CMD_TIMEOUT, &o);
	char *out = o.out;
	if (st == 0) {
		out[strcspn(out, "\n")] = '\0';
		s->top = bds_util_xstrdup(realpath(out, resolved) ? resolved : out);
	} else {
		s->top = bds_util_xstrdup(s->ws);
	}
	free(out);
	return s->top;
}

/* A relative option file (or seed list entry) is what the revision's tree holds there: the
 * commit covers its contents only when the path stays in the repository. */
static int check_inside(struct source *s, const char *subject, const char *rel)
{
	if (s->rev) {
		struct walk w;
		int rc = rev_walk(s, rel, &w);
		if (rc == 0 && (w.end == WALK_ABSOLUTE || w.end == WALK_ESCAPES))
			rc = fail_outside(s, subject, &w);
		walk_free(&w);
		return rc;
	}
	char *path = bds_util_xasprintf("%s/%s", s->ws, rel), resolved[PATH_MAX];
	const char *top = working_top(s);
	size_t n = strlen(top);
	int rc = 0;
	if (realpath(path, resolved) && !(strncmp(resolved, top, n) == 0 && (resolved[n] == '/' || !resolved[n])))
		rc = bds_util_fail("%s leads out of the repository, to '%s': name that file by its absolute path "
		                   "instead, whose contents then go in the key", subject, resolved);
	free(path);
	return rc;
}

/* option_files: what bds-hash reads as it is rather than per revision. A relative
 * --seed-filepaths, --content-hashes or --modified-filepaths, and a relative path listed in
 * a seed list, is read in each revision's tree (bds-hash resolves it against its workspace),
 * so the commit covers it, as long as it does not lead out of the repository (checked). An
 * absolute one is read wherever and whenever the hashing runs: the contents that made the
 * stored base hashes must be in the key. */
static jv option_files(struct source *s, jv options)
{
	static const char *const names[] = {"--seed-filepaths", "--content-hashes", "--modified-filepaths"};
	jv files = jv_array();
	char *seeds = NULL, **entries = NULL;
	struct file f = {0};
	int rc = 0;
	for (size_t i = 0; i < sizeof names / sizeof *names && rc == 0; i++) {
		jv v = bds_hash_args_value(jv_copy(options), names[i]);
		if (jv_get_kind(v) == JV_KIND_STRING) {
			const char *p = jv_string_value(v);
			char *subject = bds_util_xasprintf("%s '%s'", names[i], p);
			if (p[0] == '/')
				files = jv_array_append(files, named_digest(names[i], p));
			else
				rc = check_inside(s, subject, p);
			free(subject);
			if (i == 0)
				seeds = bds_util_xstrdup(p);
		}
		jv_free(v);
	}
	if (rc == 0 && seeds) {
		char *path = bds_util_xasprintf("%s/%s", s->ws, seeds), *subject = bds_util_xasprintf("--seed-filepaths '%s'", seeds);
		rc = seeds[0] == '/' ? fs_read(seeds, &f) : s->rev ? rev_read(s, seeds, subject, &f) : fs_read(path, &f);
		free(subject);
		free(path);
	}
	/* an unreadable list fails bds-hash, which says why; here it lists nothing */
	entries = rc == 0 && f.data ? bds_hash_seed_list_entries(f.data) : NULL;
	for (char **e = entries; e && *e && rc == 0; e++) {
		if ((*e)[0] == '/') {
			files = jv_array_append(files, named_digest("seed", *e));
		} else {
			char *subject = bds_util_xasprintf("seed '%s' (listed in '%s')", *e, seeds);
			rc = check_inside(s, subject, *e);
			free(subject);
		}
	}
	free(entries);
	free(f.data);
	free(seeds);
	jv_free(options);
	if (rc < 0) {
		jv_free(files);
		return recorded_error();
	}
	return files;
}

/* --- host and machine ---------------------------------------------------------------- */

/* Host identity for the local driver: its warm server lives on this machine only. */
static jv host_component(void)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	char *id = NULL;
	size_t len = 0;
	if (bds_fs_read_file("/etc/machine-id", 4096, &id, &len) < 0)
		id = NULL;
	char hex[33] = "none";
	if (id)
		bds_digest_xxh128(id, len, hex);
	free(id);
	return jv_string_fmt("%s machine-id:%s", host, hex);
}

/* The first line `binary flag` prints, or invalid with a message. */
static jv version_line(const char *binary, const char *flag)
{
	char *argv[] = {(char *)binary, (char *)flag, NULL};
	struct bds_exec_output o;
	int st = bds_exec_output(argv, NULL, BDS_EXEC_ERR_DROP, OUTPUT_MAX, CMD_TIMEOUT, &o);
	char *out = o.out;
	if (st != 0) {
		free(out);
		return jv_invalid_with_msg(jv_string_fmt("'%s %s' failed (is it installed?)", binary, flag));
	}
	out[strcspn(out, "\n")] = '\0';
	jv v = jv_string(out);
	free(out);
	return v;
}

static jv digest_component(const char *path, const char *cache)
{
	char hex[33];
	if (bds_vm_file_digest(path, cache, hex) < 0)
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	return jv_string_fmt("xxh3:%s", hex);
}

/* A VM snapshot restores only with the same VMM, guest image, machine shape and host
 * CPU model: all of them are part of the key. */
static jv vm_components(const char *driver, jv c)
{
	struct bds_vm_image img;
	if (bds_vm_image_load(&img) < 0) {
		jv_free(c);
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	}
	char *cache = bds_cache_dir(NULL);
	if (!cache) {
		bds_vm_image_free(&img);
		jv_free(c);
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	}
	int qemu = strcmp(driver, "qemu") == 0;
	jv parts[6];
	const char *names[6];
	int n = 0;
	if (qemu) {
		const char *accel = bds_driver_qemu_accel();
		names[n] = "accel", parts[n++] = accel ? jv_string(accel) : jv_invalid_with_msg(jv_string(bds_util_error()));
		const char *mode = bds_driver_qemu_snapshot_mode();
		names[n] = "snapshot_mode", parts[n++] = mode ? jv_string(mode) : jv_invalid_with_msg(jv_string(bds_util_error()));
		names[n] = "vmm", parts[n++] = version_line(bds_driver_qemu_binary(), "--version");
		names[n] = "kernel", parts[n++] = digest_component(img.bzimage, cache);
	} else {
		const char *bin = bds_driver_firecracker_binary();
		names[n] = "vmm", parts[n++] = version_line(bin, "--version");
		names[n] = "snapshot_version", parts[n++] = version_line(bin, "--snapshot-version");
		names[n] = "kernel", parts[n++] = digest_component(img.kernel, cache);
	}
	names[n] = "initrd", parts[n++] = digest_component(img.initrd, cache);
	names[n] = "rootfs", parts[n++] = digest_component(img.rootfs, cache);
	jv err = jv_null();
	for (int i = 0; i < n; i++) {
		if (jv_is_valid(parts[i]) && jv_get_kind(err) == JV_KIND_NULL)
			c = jv_object_set(c, jv_string(names[i]), parts[i]);
		else if (jv_get_kind(err) == JV_KIND_NULL)
			err = parts[i];
		else
			jv_free(parts[i]);
	}
	char *cpu = bds_vm_cpu_model();
	c = jv_object_set(c, jv_string("vm_shape"), jv_string_fmt("vcpus=%d mem_mib=%d cmdline=%s", img.vcpus, img.mem_mib, img.cmdline));
	c = jv_object_set(c, jv_string("host_cpu"), jv_string(cpu));
	free(cpu);
	free(cache);
	bds_vm_image_free(&img);
	if (jv_get_kind(err) != JV_KIND_NULL) {
		jv_free(c);
		return err;
	}
	return c;
}

/* --- Bazel's startup and command options --------------------------------------------- */

/* Startup options bds refuses: its own (the local driver's and bds-cold's --output_base),
 * and those that would move or replace the warm state under the key's feet: where the
 * server's files live (--output_user_root), which server runs (--install_base, which the
 * key reads from the rc files; --server_javabase, a host path that is not the guest's),
 * and --batch, which keeps no server warm at all. */
static const char *const refused_startup[] = {"--output_base", "--output_user_root", "--install_base",
                                              "--server_javabase", "--batch"};

/* Startup options that cannot change the query's answer (how long the server idles, how
 * the client waits and logs, the server's scheduling, the JVM's memory and GC tuning): left
 * out of the key, so changing them is no cold consume. Every other startup option is keyed,
 * conservatively: many change the graph (--bazelrc, --ignore_all_rc_files, --[no]home_rc,
 * --[no]workspace_rc, --[no]system_rc, --digest_function, --expand_configs_in_place ...).
 * `value`: the option takes a value (given as --opt=v or as --opt v). */
static const struct {
	const char *name;
	int value;
} harmless_startup[] = {
	{"--max_idle_secs", 1},          {"--client_debug", 0},       {"--noclient_debug", 0},
	{"--block_for_lock", 0},         {"--noblock_for_lock", 0},   {"--io_nice_level", 1},
	{"--batch_cpu_scheduling", 0},   {"--nobatch_cpu_scheduling", 0},
	{"--local_startup_timeout_secs", 1}, {"--host_jvm_debug", 0},
};

/* `word` is `name` or `name=...`. */
static const char *option_value(const char *word, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(word, name, n) != 0)
		return NULL;
	return word[n] == '=' ? word + n + 1 : word[n] == '\0' ? "" : NULL;
}

const char *bds_fingerprint_refused_startup(const char *word)
{
	for (size_t i = 0; i < sizeof refused_startup / sizeof *refused_startup; i++)
		if (option_value(word, refused_startup[i]))
			return refused_startup[i];
	return NULL;
}

/* --host_jvm_args values that only size and tune the JVM (heap, stack, GC): a -D property
 * may change what Bazel does, so the others are keyed. */
static int harmless_jvm_arg(const char *v)
{
	return strncmp(v, "-Xmx", 4) == 0 || strncmp(v, "-Xms", 4) == 0 || strncmp(v, "-Xss", 4) == 0 ||
	       strncmp(v, "-XX:", 4) == 0;
}

/* The keyed startup options, in their order (the last of two values wins in Bazel). */
static jv startup_component(char *const *w, size_t n)
{
	jv keyed = jv_array();
	for (size_t i = 0; i < n; i++) {
		const char *v = option_value(w[i], "--host_jvm_args");
		int skip = 0, two = 0;
		if (v) {
			two = !*v && !strchr(w[i], '=') && i + 1 < n;
			skip = harmless_jvm_arg(two ? w[i + 1] : v);
		}
		for (size_t k = 0; !skip && k < sizeof harmless_startup / sizeof *harmless_startup; k++) {
			const char *hv = option_value(w[i], harmless_startup[k].name);
			if (hv) {
				skip = 1;
				two = harmless_startup[k].value && !strchr(w[i], '=') && i + 1 < n;
			}
		}
		if (skip) {
			i += two; /* its value, given as a word of its own */
			continue;
		}
		keyed = jv_array_append(keyed, jv_string(w[i]));
	}
	return keyed;
}

/* The command options, all keyed, verbatim and in order: --config=X expands the rc files'
 * query:X lines where it stands, and the last of two values wins. */
static jv command_component(char *const *w, size_t n)
{
	jv all = jv_array();
	for (size_t i = 0; i < n; i++)
		all = jv_array_append(all, jv_string(w[i]));
	return all;
}

/* --- the key -------------------------------------------------------------------------- */

/* Resolves the revision once, so every file is read from the same commit, and finds the
 * workspace inside its repository: its files are read from there, not from the root. */
static int source_open(struct source *s)
{
	char *spec = bds_util_xasprintf("%s^{commit}", s->rev);
	char *verify[] = {"git", "-C", (char *)s->ws, "rev-parse", "--verify", "--quiet", spec, NULL};
	char *prefix[] = {"git", "-C", (char *)s->ws, "rev-parse", "--show-prefix", NULL};
	struct bds_exec_output o;
	int rc = bds_exec_output(prefix, NULL, BDS_EXEC_ERR_DROP, OUTPUT_MAX, CMD_TIMEOUT, &o);
	s->prefix = o.out;
	if (rc > 0)
		rc = bds_util_fail("--rev '%s': the workspace '%s' is not in a git repository", s->rev, s->ws);
	if (rc == 0) {
		s->prefix[strcspn(s->prefix, "\n")] = '\0';
		/* a bad revision must fail, not read every file as absent */
		rc = bds_exec_output(verify, NULL, BDS_EXEC_ERR_DROP, OUTPUT_MAX, CMD_TIMEOUT, &o);
		s->sha = o.out;
		if (rc > 0)
			rc = bds_util_fail("--rev '%s' is not a commit of '%s'", s->rev, s->ws);
		else if (rc == 0)
			s->sha[strcspn(s->sha, "\n")] = '\0';
	}
	free(spec);
	return rc;
}

jv bds_fingerprint_compute(const struct bds_fingerprint_input *in, jv hash_options)
{
	struct source s = {.ws = in->workspace, .rev = in->rev};
	char *install_base = NULL, *command_file = NULL;
	jv c = jv_object();
	if (in->rev && source_open(&s) < 0) {
		jv_free(c);
		c = recorded_error();
		goto out;
	}
	c = jv_object_set(c, jv_string("bds_version"), jv_string(BDS_VERSION));
	c = jv_object_set(c, jv_string("driver"), jv_string(in->driver));
	c = jv_object_set(c, jv_string("hash_options"), jv_dump_string(jv_copy(hash_options), 0));
	c = jv_object_set(c, jv_string("startup_options"), startup_component(in->startup, in->nstartup));
	c = jv_object_set(c, jv_string("command_options"), command_component(in->command, in->ncommand));
	c = set_or_fail(c, "bazelversion", ws_file_component(&s, ".bazelversion"));
	if (jv_is_valid(c))
		c = set_or_fail(c, "module_lock", ws_file_component(&s, "MODULE.bazel.lock"));
	if (jv_is_valid(c))
		c = set_or_fail(c, "option_files", option_files(&s, jv_copy(hash_options)));
	if (jv_is_valid(c) && strcmp(in->driver, "local") == 0) {
		/* the warm server lives on this host; not in the key: the workspace's path. The warm
		 * machine is a repository of its own that any clone feeds (driver-local.c), and the
		 * hashes do not depend on where a checkout is (bds-cold hashes a scratch worktree). */
		c = jv_object_set(c, jv_string("host"), host_component());
	} else if (jv_is_valid(c)) {
		c = vm_components(in->driver, c);
	}
	/* bazel_command: always the digest of the file the command resolves to (a wrapper script
	 * adds startup and command options of its own); first, so that a missing Bazel says so */
	if (jv_is_valid(c))
		c = set_or_fail(c, "bazel_command", command_digest(in->bazel, in->workspace, &command_file));
	if (jv_is_valid(c) && in->rev && wrapper_check(&s, in->bazel) < 0) {
		jv_free(c);
		c = recorded_error();
	}
	if (jv_is_valid(c))
		c = rc_components(&s, in, c, &install_base);
	if (jv_is_valid(c))
		c = bazel_components(&s, in->bazel, install_base, command_file, c);
	if (!jv_is_valid(c))
		goto out;
	/* The key: XXH3-128 of the components' canonical JSON (keys sorted, compact). */
	jv text = jv_dump_string(jv_copy(c), JV_PRINT_SORTED);
	char hex[33];
	bds_digest_xxh128(jv_string_value(text), (size_t)jv_string_length_bytes(jv_copy(text)), hex);
	jv_free(text);
	jv out = jv_object();
	out = jv_object_set(out, jv_string("key"), jv_string(hex));
	c = jv_object_set(out, jv_string("components"), c);
out:
	jv_free(hash_options);
	free(install_base);
	free(command_file);
	source_free(&s);
	return c;
}

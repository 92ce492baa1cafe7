/* fingerprint: the cache key of everything that can change the query graph or the
 * validity of a warm machine. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "fingerprint.h"

#include "driver.h"
#include "exec.h"
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
#include <xxhash.h>

#define MAX_RC_DEPTH 32
#define MAX_RC_FILES 256
#define MAX_LINKS 40                 /* symbolic links followed in one path, as Linux does */
#define FILE_MAX ((size_t)64 << 20)  /* a workspace or rc file read whole */
#define OUTPUT_MAX ((size_t)1 << 20) /* what a helper command prints */
#define CMD_TIMEOUT 60.0

static void canonical_hex(XXH128_hash_t h, char out[33])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[c.digest[i] >> 4];
		out[2 * i + 1] = hex[c.digest[i] & 15];
	}
	out[32] = '\0';
}

void bds_fingerprint_xxh128_hex(const void *data, size_t len, char out[33])
{
	canonical_hex(XXH3_128bits(data, len), out);
}

/* c with key set to v; when v is invalid, c is freed and v returned. */
static jv set_or_fail(jv c, const char *key, jv v)
{
	if (!jv_is_valid(v)) {
		jv_free(c);
		return v;
	}
	return jv_object_set(c, jv_string(key), v);
}

/* --- helper commands ------------------------------------------------------------------ */

/* Runs argv in cwd (NULL: ours) and keeps what it writes on stdout, or on stderr when
 * `want_stderr` (the other stream is discarded), at most `limit` bytes. Returns its exit
 * status, or -1 with the error recorded when it could not run, was killed or wrote more. */
static int run_capture(char *const argv[], const char *cwd, int want_stderr, size_t limit, char **out, size_t *len)
{
	const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path = bds_util_xasprintf("%s/bds-fingerprint.XXXXXX", dir);
	int fd = mkstemp(path), devnull = -1, rc = -1;
	struct bds_exec_result res;
	*out = NULL;
	*len = 0;
	if (fd < 0) {
		bds_util_fail("create a temporary file in '%s': %s", dir, strerror(errno));
		goto out;
	}
	unlink(path);
	if ((devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
		bds_util_fail("open '/dev/null': %s", strerror(errno));
		goto out;
	}
	if (bds_exec_run(argv, cwd, want_stderr ? devnull : fd, want_stderr ? fd : devnull,
	                 bds_util_now() + CMD_TIMEOUT, &res) < 0)
		goto out;
	if (res.timed_out || res.signal[0]) {
		char *why = bds_exec_describe_failure(&res, CMD_TIMEOUT);
		bds_util_fail("command '%s' failed: %s", argv[0], why ? why : "");
		free(why);
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		bds_util_fail("read the output of '%s': %s", argv[0], strerror(errno));
		goto out;
	}
	char *what = bds_util_xasprintf("output of %s", argv[0]);
	int r = bds_util_read_fd(fd, limit, what, out, len);
	free(what);
	if (r == 0)
		rc = res.status;
out:
	if (fd >= 0)
		close(fd);
	if (devnull >= 0)
		close(devnull);
	free(path);
	return rc;
}

/* --- files: on this machine, or in the workspace at the revision ---------------------- */

/* Where the workspace's own files are read: the commit (git) or the working tree. */
struct source {
	const char *ws;  /* absolute */
	const char *rev; /* as given, for messages; NULL: the working tree */
	char *sha;       /* the commit */
	char *prefix;    /* the workspace inside the repository: "" or "dir/" */
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

/* One entry of the revision's tree (`git ls-tree -l`): found is 0 when there is none. */
struct tree_entry {
	int found;
	unsigned mode; /* 0100644, 0100755, 0120000 (symbolic link), 040000, 0160000 */
	char oid[65];
	size_t size; /* blobs only */
};

static int ls_tree(const struct source *s, const char *path, struct tree_entry *e)
{
	/* --literal-pathspecs: a '*' or ':' in a name is that character, not a pattern */
	char *argv[] = {"git", "--literal-pathspecs", "-C", (char *)s->ws, "ls-tree", "-z", "-l", "--full-tree",
	                s->sha, "--", (char *)path, NULL};
	char *out = NULL;
	size_t len = 0;
	memset(e, 0, sizeof *e);
	int st = run_capture(argv, NULL, 0, OUTPUT_MAX, &out, &len);
	if (st != 0) {
		free(out);
		return st < 0 ? -1 : bds_util_fail("git ls-tree %s '%s' failed (exit %d)", s->sha, path, st);
	}
	char type[16], size[32];
	if (len > 0 && sscanf(out, "%o %15s %64s %31s", &e->mode, type, e->oid, size) == 4) {
		e->found = 1;
		e->size = (size_t)strtoull(size, NULL, 10); /* "-" for trees: 0 */
	}
	free(out);
	return 0;
}

static int cat_blob(const struct source *s, const struct tree_entry *e, const char *path, struct file *f)
{
	if (e->size > FILE_MAX)
		return bds_util_fail("read '%s:%s': larger than the limit of %zu MiB", s->rev, path, FILE_MAX >> 20);
	char *argv[] = {"git", "-C", (char *)s->ws, "cat-file", "blob", (char *)e->oid, NULL};
	int st = run_capture(argv, NULL, 0, FILE_MAX, &f->data, &f->len);
	if (st != 0) {
		free(f->data);
		f->data = NULL;
		return st < 0 ? -1 : bds_util_fail("git cat-file blob %s ('%s:%s') failed (exit %d)", e->oid, s->rev, path, st);
	}
	f->exec = e->mode == 0100755;
	return 0;
}

/* Reads `rel`, relative to the workspace, at the revision as a checkout of it shows it:
 * symbolic links are followed, a relative target in the revision's tree, an absolute one
 * on this machine. Returns as fs_read does; a path that leaves the repository is an error,
 * since what it reaches depends on where the checkout is. */
static int rev_read(const struct source *s, const char *rel, struct file *f)
{
	char *rest = bds_util_xasprintf("%s%s", s->prefix, rel); /* still to walk */
	char *done = bds_util_xstrdup("");                         /* directories walked */
	int links = 0, rc = 0;
	struct tree_entry e;
	for (;;) {
		char *p = rest;
		while (*p == '/')
			p++;
		if (!*p) { /* the path names a directory */
			f->err = EISDIR;
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
				rc = bds_util_fail("read '%s:%s%s': leads outside the repository, where what a checkout "
				                   "reads depends on where it is", s->rev, s->prefix, rel);
				break;
			}
			char *slash = strrchr(done, '/');
			*(slash ? slash : done) = '\0';
			continue;
		}
		char *path = *done ? bds_util_xasprintf("%s/%s", done, name) : bds_util_xstrdup(name);
		free(name);
		if (ls_tree(s, path, &e) < 0) {
			free(path);
			rc = -1;
			break;
		}
		int last = !*rest;
		if (!e.found) {
			f->err = ENOENT;
		} else if (e.mode == 0120000) {
			struct file link = {0};
			if (++links > MAX_LINKS) {
				f->err = ELOOP;
			} else if (cat_blob(s, &e, path, &link) < 0) {
				rc = -1;
			} else if (!link.data[0]) {
				f->err = ENOENT; /* an empty link leads nowhere */
			} else if (link.data[0] == '/') {
				char *target = bds_util_xasprintf("%.*s%s", (int)strnlen(link.data, link.len), link.data, rest);
				rc = fs_read(target, f);
				free(target);
			} else {
				char *next = bds_util_xasprintf("%.*s%s", (int)strnlen(link.data, link.len), link.data, rest);
				free(rest);
				rest = next;
				free(link.data);
				free(path);
				continue; /* from the link's directory, `done` */
			}
			free(link.data);
		} else if (e.mode == 040000 && !last) {
			free(done);
			done = path;
			continue;
		} else if (e.mode == 040000 || e.mode == 0160000) {
			/* a submodule is an empty directory in a checkout that does not clone it */
			f->err = last ? EISDIR : ENOENT;
		} else if (!last) {
			f->err = ENOTDIR;
		} else {
			rc = cat_blob(s, &e, path, f);
		}
		free(path);
		break;
	}
	free(rest);
	free(done);
	return rc;
}

/* A workspace file (`rel`) at the revision, or in the working tree without one. */
static int ws_read(const struct source *s, const char *rel, struct file *f)
{
	if (s->rev)
		return rev_read(s, rel, f);
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
	bds_fingerprint_xxh128_hex(f->data, f->len, hex);
	free(f->data);
	f->data = NULL;
	return jv_string_fmt("xxh3:%s", hex);
}

static jv ws_file_component(const struct source *s, const char *rel)
{
	struct file f = {0};
	if (ws_read(s, rel, &f) < 0)
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	return file_status(&f);
}

static int digest_chunk(void *state, const char *buf, size_t n)
{
	XXH3_128bits_update(state, buf, n);
	return 0;
}

/* The XXH3-128 of a file of this machine, read in chunks (option files can be large);
 * "absent" or "unreadable: <why>" when it cannot be read, as bds-hash will report. */
static jv fs_digest(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? jv_string("absent") : jv_string_fmt("unreadable: %s", strerror(errno));
	XXH3_state_t *state = XXH3_createState();
	XXH3_128bits_reset(state);
	int rc = bds_util_read_chunks(fd, path, (size_t)128 << 10, digest_chunk, state);
	close(fd);
	char hex[33];
	canonical_hex(XXH3_128bits_digest(state), hex);
	XXH3_freeState(state);
	if (rc < 0) /* a directory, an I/O error: bds-hash fails on it too */
		return jv_string_fmt("unreadable: %s", bds_util_error());
	return jv_string_fmt("xxh3:%s", hex);
}

/* --- rc files ------------------------------------------------------------------------- */

/* Bazel's rc syntax, as its client parses it (Bazel 4.2.3, src/main/cpp/rc_file.cc and
 * util/strings.cc): a backslash before a newline joins two lines; each line is stripped of
 * ASCII white space and split into words, where quotes group, a backslash escapes the next
 * character and an unquoted '#' ends the line; `import` and `try-import` take exactly one
 * word. Anything else about the options is the file's digest's business. */

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

/* Splits a stripped line into words as blaze_util::Tokenize(line, '#', ...) does. Returns
 * the number of words and keeps the first two (malloc'd, NUL-terminated) in w. */
static int tokenize(const char *s, size_t n, char *w[2])
{
	char *word = bds_util_xmalloc(n + 1);
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
			if (count < 2) {
				w[count] = bds_util_xmalloc(k + 1);
				memcpy(w[count], word, k);
				w[count][k] = '\0';
			}
			count++;
		}
	}
	free(word);
	return count;
}

/* The import closure of one rc file, in Bazel's reading order: one "NAME STATUS" string per
 * file read (a file imported twice is read twice, as Bazel does), NAME as Bazel names it
 * with the workspace shown as %workspace% for files read at the revision. */
struct rc_walk {
	const struct source *src;
	jv files;
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
 * workspace in every bds pipeline, so it is read at the revision like %workspace%/. */
static int rc_import(struct rc_walk *w, const char *shown, const char *line, size_t len, int try, char *words[2],
                     int nwords)
{
	static const char prefix[] = "%workspace%/";
	if (nwords != 2)
		return bds_util_fail("bazelrc '%s': invalid import declaration '%.*s'", shown, (int)len, line);
	const char *word = words[1];
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
		char *words[2] = {NULL, NULL};
		int n = tokenize(data + a, b - a, words);
		int imp = n > 0 && strcmp(words[0], "import") == 0, try = n > 0 && strcmp(words[0], "try-import") == 0;
		if (imp || try)
			rc = rc_import(w, shown, data + a, b - a, try, words, n);
		free(words[0]);
		free(words[1]);
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
	if (w->count >= MAX_RC_FILES || w->depth >= MAX_RC_DEPTH)
		return bds_util_fail("bazelrc '%s': more than %d rc files read, or imports nested deeper than %d",
		                     name, MAX_RC_FILES, MAX_RC_DEPTH);
	w->count++;
	struct file f = {0};
	if ((at_rev ? ws_read(w->src, path, &f) : fs_read(path, &f)) < 0)
		return -1;
	char *shown = rc_shown(w, name, at_rev);
	const char *where = at_rev && w->src->rev ? " at " : "", *rev = at_rev && w->src->rev ? w->src->rev : "";
	int rc = 0;
	if (f.data) {
		char hex[33];
		bds_fingerprint_xxh128_hex(f.data, f.len, hex);
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

/* The closure of one top-level rc file; an array of "NAME STATUS" or invalid. */
static jv rc_closure(const struct source *s, const char *name, const char *path, int at_rev, jv files)
{
	struct rc_walk w = {.src = s, .files = files};
	if (rc_visit(&w, name, path, at_rev, RC_TOP, NULL) < 0) {
		jv_free(w.files);
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	}
	return w.files;
}

/* The rc files Bazel's client looks for, in its order (system, workspace, home,
 * --bazelrc), after a wrapper's startup options: asked from the client, which logs them
 * with --client_debug and exits on the bad --max_idle_secs before any server is involved.
 * NULL when it does not say (another Bazel version, a wrapper that drops the flags). */
static char **client_rc_files(const char *bazel, const char *ws)
{
	static const char marker[] = "Looking for the following rc files: ";
	char *argv[] = {(char *)bazel, "--client_debug", "--max_idle_secs=bogus", "version", NULL};
	char *err = NULL;
	size_t len = 0;
	char **list = NULL;
	if (run_capture(argv, ws, 1, OUTPUT_MAX, &err, &len) >= 0) {
		char *line = strstr(err, marker);
		if (line) {
			line += sizeof marker - 1;
			line[strcspn(line, "\n")] = '\0';
			list = bds_util_split_list(line, NULL);
		}
	}
	free(err);
	return list;
}

/* Every rc file Bazel reads for the query, and what they import:
 *   bazelrc   the workspace's .bazelrc closure at the revision (always, even when a wrapper
 *             passes --noworkspace_rc: more in the key only means more cold consumes);
 *   rc_files  the other files of the client's list: the system rc, ~/.bazelrc, --bazelrc
 *             files, each with its closure, read on this machine, where the warm query and
 *             bds-cold read them too; a --bazelrc inside the workspace both at the
 *             revision (a tools/bazel names it relative to the checkout) and on disk;
 *   rc_list   "client", or "reproduced" when the client did not say and Bazel's rules were
 *             applied instead, over-including: both system rc paths (upstream's and
 *             Debian's) and ~/.bazelrc. */
static jv rc_components(const struct source *s, const char *bazel, jv c)
{
	char *ws_rc = bds_util_xasprintf("%s/.bazelrc", s->ws);
	c = set_or_fail(c, "bazelrc", rc_closure(s, ws_rc, ".bazelrc", 1, jv_array()));
	char **list = jv_is_valid(c) ? client_rc_files(bazel, s->ws) : NULL;
	if (jv_is_valid(c))
		c = jv_object_set(c, jv_string("rc_list"), jv_string(list ? "client" : "reproduced"));
	if (jv_is_valid(c) && !list) {
		const char *home = getenv("HOME");
		list = bds_util_xcalloc(5, sizeof *list);
		list[0] = bds_util_xstrdup("/etc/bazel.bazelrc");
		list[1] = bds_util_xstrdup("/etc/bazel/bazelrc");
		list[2] = bds_util_xstrdup(ws_rc);
		list[3] = home && *home ? bds_util_xasprintf("%s/.bazelrc", home) : NULL;
	}
	jv files = jv_array();
	size_t n = strlen(s->ws);
	for (char **p = list; p && *p && jv_is_valid(files); p++) {
		if (strcmp(*p, ws_rc) == 0) {
			files = jv_array_append(files, jv_string("%workspace%/.bazelrc: see bazelrc"));
			continue;
		}
		if (strncmp(*p, s->ws, n) == 0 && (*p)[n] == '/')
			files = rc_closure(s, *p, *p + n + 1, 1, files);
		if (jv_is_valid(files))
			files = rc_closure(s, *p, *p, 0, files);
	}
	bds_util_free_list(list);
	free(ws_rc);
	if (!jv_is_valid(c)) {
		jv_free(files);
		return c;
	}
	return set_or_fail(c, "rc_files", files);
}

/* --- the Bazel command ---------------------------------------------------------------- */

/* The file a command name resolves to through PATH and symlinks. */
static char *resolve_command(const char *cmd)
{
	char resolved[PATH_MAX];
	if (strchr(cmd, '/'))
		return realpath(cmd, resolved) ? bds_util_xstrdup(resolved) : NULL;
	const char *path = getenv("PATH");
	if (!path)
		return NULL;
	char *copy = bds_util_xstrdup(path), *save = NULL, *out = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !out; dir = strtok_r(NULL, ":", &save)) {
		char *candidate = bds_util_xasprintf("%s/%s", dir, cmd);
		if (access(candidate, X_OK) == 0 && realpath(candidate, resolved))
			out = bds_util_xstrdup(resolved);
		free(candidate);
	}
	free(copy);
	return out;
}

/* "xxh3:<hex> (<file>)" of the file a command resolves to, or invalid. */
static jv command_digest(const char *cmd)
{
	char *file = resolve_command(cmd);
	if (!file)
		return jv_invalid_with_msg(jv_string_fmt("bazel '%s': not found", cmd));
	char *data = NULL;
	size_t len = 0;
	if (bds_util_read_file(file, (size_t)1 << 30, &data, &len) < 0) {
		free(file);
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	}
	char hex[33];
	bds_fingerprint_xxh128_hex(data, len, hex);
	jv v = jv_string_fmt("xxh3:%s (%s)", hex, file);
	free(data);
	free(file);
	return v;
}

/* Bazel's version, asked in the workspace as the pipelines run it (a version-picking
 * wrapper reads its .bazelversion); Debian's 4.2.3 reports none ("bazel no_version"), so
 * the digest of the binary (BDS_REAL_BAZEL, else the command) stands in for it. */
static jv bazel_version(const char *bazel, const char *ws)
{
	char *argv[] = {(char *)bazel, "--version", NULL};
	char *out = NULL;
	size_t len = 0;
	if (run_capture(argv, ws, 0, OUTPUT_MAX, &out, &len) == 0) {
		out[strcspn(out, "\n")] = '\0';
		if (strncmp(out, "bazel ", 6) == 0 && strcmp(out, "bazel no_version") != 0) {
			jv v = jv_string(out);
			free(out);
			return v;
		}
	}
	free(out);
	const char *real = getenv("BDS_REAL_BAZEL");
	jv digest = command_digest(real && *real ? real : bazel);
	if (!jv_is_valid(digest))
		return digest;
	jv v = jv_string_fmt("no_version %s", jv_string_value(digest));
	jv_free(digest);
	return v;
}

/* bazel          the version, above;
 * bazel_command  always the digest of the file the command resolves to: a wrapper script
 *                adds startup and command options of its own;
 * tools_bazel    the workspace's tools/bazel at the revision, which Debian's bazel (and
 *                bazelisk) runs instead of Bazel when it is an executable file. */
static jv bazel_components(const struct source *s, const char *bazel, jv c)
{
	jv version = bazel_version(bazel, s->ws);
	if (!jv_is_valid(version)) {
		jv_free(c);
		return version;
	}
	c = jv_object_set(c, jv_string("bazel"), version);
	jv command = command_digest(bazel);
	if (!jv_is_valid(command)) {
		jv_free(c);
		return command;
	}
	c = jv_object_set(c, jv_string("bazel_command"), command);
	struct file f = {0};
	if (ws_read(s, "tools/bazel", &f) < 0) {
		jv_free(c);
		return jv_invalid_with_msg(jv_string(bds_util_error()));
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

/* --- bds-hash options ----------------------------------------------------------------- */

static int option_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Options as "--name value" pairs (or "--name"), sorted: order does not change hashes. */
static jv canonical_options(char **options)
{
	size_t n = 0;
	for (char **p = options; p && *p; p++)
		n++;
	char **pairs = bds_util_xcalloc(n + 1, sizeof *pairs);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *opt = options[i];
		int takes_value = strchr(opt, '=') == NULL && i + 1 < n && options[i + 1][0] != '-';
		pairs[k++] = takes_value ? bds_util_xasprintf("%s\n%s", opt, options[i + 1]) : bds_util_xstrdup(opt);
		if (takes_value)
			i++;
	}
	qsort(pairs, k, sizeof *pairs, option_cmp);
	jv list = jv_array();
	for (size_t i = 0; i < k; i++) {
		char *nl = strchr(pairs[i], '\n');
		if (nl) {
			*nl = '\0';
			list = jv_array_append(jv_array_append(list, jv_string(pairs[i])), jv_string(nl + 1));
		} else {
			list = jv_array_append(list, jv_string(pairs[i]));
		}
		free(pairs[i]);
	}
	free(pairs);
	return list;
}

/* The value of `name` in a bds-hash option list ("--name V" or "--name=V"; the last one
 * counts, as with getopt), or NULL. */
static const char *option_value(char **options, const char *name)
{
	const char *v = NULL;
	size_t n = strlen(name);
	for (char **p = options; p && *p; p++) {
		if (strncmp(*p, name, n) != 0)
			continue;
		if ((*p)[n] == '=')
			v = *p + n + 1;
		else if ((*p)[n] == '\0' && p[1])
			v = *++p;
	}
	return v;
}

static jv named_digest(const char *what, const char *path)
{
	jv st = fs_digest(path);
	jv v = jv_string_fmt("%s %s %s", what, path, jv_string_value(st));
	jv_free(st);
	return v;
}

/* option_files: what bds-hash reads as it is rather than per revision. A relative
 * --seed-filepaths, --content-hashes or --modified-filepaths, and a relative path listed in
 * a seed list, is read in each revision's tree (bds-hash resolves it against its workspace),
 * so the commit covers it. An absolute one is read wherever and whenever the hashing runs:
 * the contents that made the stored base hashes must be in the key. */
static jv option_files(const struct source *s, char **options)
{
	static const char *const names[] = {"--seed-filepaths", "--content-hashes", "--modified-filepaths"};
	jv files = jv_array();
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		const char *v = option_value(options, names[i]);
		if (v && v[0] == '/')
			files = jv_array_append(files, named_digest(names[i], v));
	}
	const char *seeds = option_value(options, "--seed-filepaths");
	struct file f = {0};
	if (seeds && (seeds[0] == '/' ? fs_read(seeds, &f) : ws_read(s, seeds, &f)) < 0) {
		jv_free(files);
		return jv_invalid_with_msg(jv_string(bds_util_error()));
	}
	/* an unreadable list fails bds-hash, which says why; here it lists nothing */
	for (size_t i = 0; f.data && i < f.len;) {
		const char *line = f.data + i, *nl = memchr(line, '\n', f.len - i);
		size_t n = nl ? (size_t)(nl - line) : f.len - i;
		i += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > 0 && line[0] == '/') {
			char *path = bds_util_xstrndup(line, n);
			files = jv_array_append(files, named_digest("seed", path));
			free(path);
		}
	}
	free(f.data);
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
	if (bds_util_read_file("/etc/machine-id", 4096, &id, &len) < 0)
		id = NULL;
	char hex[33] = "none";
	if (id)
		bds_fingerprint_xxh128_hex(id, len, hex);
	free(id);
	return jv_string_fmt("%s machine-id:%s", host, hex);
}

/* The first line `binary flag` prints, or invalid with a message. */
static jv version_line(const char *binary, const char *flag)
{
	char *argv[] = {(char *)binary, (char *)flag, NULL};
	char *out = NULL;
	size_t len = 0;
	if (run_capture(argv, NULL, 0, OUTPUT_MAX, &out, &len) != 0) {
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
	char *cache = bds_driver_cache_dir();
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

/* --- the key -------------------------------------------------------------------------- */

/* Resolves the revision once, so every file is read from the same commit, and finds the
 * workspace inside its repository: its files are read from there, not from the root. */
static int source_open(struct source *s)
{
	char *spec = bds_util_xasprintf("%s^{commit}", s->rev);
	char *verify[] = {"git", "-C", (char *)s->ws, "rev-parse", "--verify", "--quiet", spec, NULL};
	char *prefix[] = {"git", "-C", (char *)s->ws, "rev-parse", "--show-prefix", NULL};
	size_t len = 0;
	int rc = run_capture(verify, NULL, 0, OUTPUT_MAX, &s->sha, &len);
	free(spec);
	if (rc != 0) /* a bad revision must fail, not read every file as absent */
		return bds_util_fail("--rev '%s' is not a commit of '%s'", s->rev, s->ws);
	s->sha[strcspn(s->sha, "\n")] = '\0';
	if ((rc = run_capture(prefix, NULL, 0, OUTPUT_MAX, &s->prefix, &len)) != 0)
		return rc < 0 ? -1 : bds_util_fail("git rev-parse --show-prefix in '%s' failed (exit %d)", s->ws, rc);
	s->prefix[strcspn(s->prefix, "\n")] = '\0';
	return 0;
}

jv bds_fingerprint_compute(const struct bds_fingerprint_input *in, jv *hash_options)
{
	struct source s = {.ws = in->workspace, .rev = in->rev};
	jv options = canonical_options(in->hash_options);
	jv c = jv_object();
	*hash_options = jv_null();
	if (in->rev && source_open(&s) < 0) {
		jv_free(c);
		c = jv_invalid_with_msg(jv_string(bds_util_error()));
		goto out;
	}
	c = jv_object_set(c, jv_string("bds_version"), jv_string(BDS_VERSION));
	c = jv_object_set(c, jv_string("driver"), jv_string(in->driver));
	c = jv_object_set(c, jv_string("hash_options"), jv_dump_string(jv_copy(options), 0));
	c = set_or_fail(c, "bazelversion", ws_file_component(&s, ".bazelversion"));
	if (jv_is_valid(c))
		c = set_or_fail(c, "module_lock", ws_file_component(&s, "MODULE.bazel.lock"));
	if (jv_is_valid(c))
		c = set_or_fail(c, "option_files", option_files(&s, in->hash_options));
	if (jv_is_valid(c) && strcmp(in->driver, "local") == 0) {
		c = jv_object_set(c, jv_string("host"), host_component());
		c = jv_object_set(c, jv_string("workspace_path"), jv_string(in->workspace));
	} else if (jv_is_valid(c)) {
		c = vm_components(in->driver, c);
	}
	if (jv_is_valid(c))
		c = bazel_components(&s, in->bazel, c);
	if (jv_is_valid(c))
		c = rc_components(&s, in->bazel, c);
	if (!jv_is_valid(c))
		goto out;
	/* The key: XXH3-128 of the components' canonical JSON (keys sorted, compact). */
	jv text = jv_dump_string(jv_copy(c), JV_PRINT_SORTED);
	char hex[33];
	bds_fingerprint_xxh128_hex(jv_string_value(text), (size_t)jv_string_length_bytes(jv_copy(text)), hex);
	jv_free(text);
	jv out = jv_object();
	out = jv_object_set(out, jv_string("key"), jv_string(hex));
	c = jv_object_set(out, jv_string("components"), c);
	*hash_options = jv_copy(options);
out:
	jv_free(options);
	free(s.sha);
	free(s.prefix);
	return c;
}

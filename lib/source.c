/* source: source-file digests (docs/algorithm.md 2.2), read in parallel, and the seed (2.3). */
#include "hash.h"

#include "fs.h"
#include "label.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK ((size_t)128 << 10)

/* Java's Paths.get drops repeated and trailing slashes; mirror it so paths and
 * content-hash keys match bazel-diff's. Returns a malloc'd string. */
static char *collapse_slashes(const char *s, size_t n)
{
	char *out = bds_util_xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '/' && k > 0 && out[k - 1] == '/')
			continue;
		out[k++] = s[i];
	}
	if (k > 1 && out[k - 1] == '/')
		k--;
	out[k] = '\0';
	return out;
}

/* workspace.resolve(rel): rel itself when absolute. */
static char *resolve(const char *base, const char *rel)
{
	if (rel[0] == '/')
		return bds_util_xstrdup(rel);
	if (rel[0] == '\0')
		return bds_util_xstrdup(base);
	return bds_util_xasprintf("%s/%s", base, rel);
}

/* "pkg:a:b" with one leading ':' removed and every ':' made '/', as a collapsed path. */
static char *label_rel_path(const char *s, size_t n)
{
	if (n > 0 && s[0] == ':') {
		s++;
		n--;
	}
	char *tmp = bds_util_xstrndup(s, n);
	for (char *p = tmp; *p; p++)
		if (*p == ':')
			*p = '/';
	char *out = collapse_slashes(tmp, n);
	free(tmp);
	return out;
}

static int is_fine_grained_repo(const struct bds_hash_options *o, const char *repo, size_t n)
{
	for (char **f = o->fine_grained; f && *f; f++) {
		const char *name = *f;
		while (*name == '@')
			name++;
		if (strlen(name) == n && memcmp(name, repo, n) == 0)
			return 1;
	}
	return 0;
}

/* <output_base>/external/<repo>, or <repo>+ (Bazel 8 canonical names). */
static char *external_root(const struct bds_hash_options *o, const char *repo)
{
	const char *base = o->output_base ? o->output_base : "";
	char *root = bds_util_xasprintf("%s/external/%s", base, repo);
	struct stat st;
	if (stat(root, &st) == 0)
		return root;
	free(root);
	root = bds_util_xasprintf("%s/external/%s+", base, repo);
	if (stat(root, &st) == 0)
		return root;
	free(root);
	return bds_util_xasprintf("%s/external/%s", base, repo);
}

static int sha_chunk(void *h, const char *buf, size_t n)
{
	bds_sha256_update(h, buf, n);
	return 0;
}

/* Hashes the bytes of an open file into h. */
static int put_fd(struct bds_sha256 *h, int fd, const char *path)
{
	return bds_util_read_chunks(fd, path, READ_CHUNK, sha_chunk, h);
}

/* Hashes the file's bytes into h. A seed may be a device or a FIFO, as bazel-diff reads
 * it, but a FIFO nobody writes is refused rather than waited on. */
static int put_file(struct bds_sha256 *h, const char *path)
{
	int fd = bds_fs_open_input(path);
	if (fd == -1)
		return bds_util_fail("read '%s': %s", path, strerror(errno));
	if (fd < 0)
		return -1;
	int rc = put_fd(h, fd, path);
	close(fd);
	return rc;
}

/* The bytes of docs/algorithm.md 2.2 for the file at `abs` when no content hash replaces it:
 * [content] 0x01 exec for a regular file, nothing for a directory, 0x00 if missing.
 * One open + fstat instead of stat + open: on 50k files the path walks add up. */
static int put_source_file(const struct bds_hash_options *o, struct bds_sha256 *h, const char *abs)
{
	struct stat st;
	if (o->modified && !bds_strmap_has(o->modified, abs, strlen(abs))) {
		/* Not in --modified-filepaths: bazel-diff never opens it (exists/isFile only), so
		 * neither do we: opening it made an unreadable file fail the run and cost a
		 * syscall per file that the option exists to avoid. */
		if (stat(abs, &st) != 0) {
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
				bds_sha256_update(h, "\x00", 1);
				return 0;
			}
			return bds_util_fail("stat source file '%s': %s", abs, strerror(errno));
		}
		if (S_ISREG(st.st_mode)) {
			bds_sha256_update(h, "\x01", 1);
			bds_sha256_update(h, (st.st_mode & S_IXUSR) ? "\x01" : "\x00", 1);
		}
		return 0;
	}
	/* O_NONBLOCK: opening a FIFO must not hang; it changes nothing for regular files */
	int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
			bds_sha256_update(h, "\x00", 1); /* missing, as Java's File.exists() sees it */
			return 0;
		}
		/* Java would call this "missing"; an unreadable path must not pass as absent. */
		return bds_util_fail("open source file '%s': %s", abs, strerror(errno));
	}
	int rc = 0;
	if (fstat(fd, &st) != 0) {
		rc = bds_util_fail("stat source file '%s': %s", abs, strerror(errno));
	} else if (S_ISREG(st.st_mode)) {
		rc = put_fd(h, fd, abs); /* unlisted files under --modified-filepaths returned above */
		bds_sha256_update(h, "\x01", 1);
		bds_sha256_update(h, (st.st_mode & S_IXUSR) ? "\x01" : "\x00", 1);
	}
	/* a directory (or any other non-regular file) contributes nothing, as in bazel-diff */
	close(fd);
	return rc;
}

/* The raw source-file digest of docs/algorithm.md 2.2 for `label`, with `seed` (NULL: none). */
static int raw_source_digest(const struct bds_hash_options *o, struct bds_sha256 *h, const char *label,
                             size_t n, const unsigned char *seed, unsigned char out[BDS_SHA256_LEN])
{
	char *rel = NULL, *abs = NULL, *key = NULL;
	int rc = 0;
	int i = bds_label_main_repo_prefix(label, n);
	if (i >= 0) {
		rel = label_rel_path(label + i, n - (size_t)i);
		abs = resolve(o->workspace, rel);
		key = bds_util_xstrdup(rel);
	} else if (n > 0 && label[0] == '@') {
		const char *s = label, *end = label + n;
		while (s < end && *s == '@')
			s++;
		const char *sep = NULL;
		int parts = bds_label_split_repo(s, (size_t)(end - s), &sep);
		if (parts != 2 || !is_fine_grained_repo(o, s, (size_t)(sep - s))) {
			bds_sha256_final(h, out); /* SHA256(""): external, not fine-grained */
			return 0;
		}
		char *repo = bds_util_xstrndup(s, (size_t)(sep - s));
		char *root = external_root(o, repo);
		rel = label_rel_path(sep + 2, (size_t)(end - sep - 2));
		abs = resolve(root, rel);
		key = bds_util_xasprintf("external/%s/%s", repo, rel);
		free(root);
		free(repo);
	} else {
		bds_sha256_final(h, out);
		return 0;
	}

	struct stat st;
	const char *content = o->content_hashes ? bds_strmap_get(o->content_hashes, key, strlen(key)) : NULL;
	if (content) {
		int exec = stat(abs, &st) == 0 && (st.st_mode & S_IXUSR);
		bds_sha256_update(h, content, strlen(content));
		bds_sha256_update(h, "\x01", 1);
		bds_sha256_update(h, exec ? "\x01" : "\x00", 1);
	} else {
		rc = put_source_file(o, h, abs);
	}
	if (seed)
		bds_sha256_update(h, seed, BDS_SHA256_LEN);
	bds_sha256_update(h, label, n);
	bds_sha256_final(h, out);
	free(rel);
	free(abs);
	free(key);
	return rc;
}

char *bds_hash_label_path(const char *label, size_t n, int first_colon_only)
{
	int i = bds_label_main_repo_prefix(label, n);
	if (i < 0)
		return NULL;
	if (!first_colon_only)
		return label_rel_path(label + i, n - (size_t)i);
	char *tail = bds_util_xstrndup(label + i, n - (size_t)i);
	char *colon = strchr(tail, ':');
	if (colon)
		*colon = '/';
	char *out = collapse_slashes(tail, strlen(tail));
	free(tail);
	return out;
}

int bds_hash_soft_digest(const struct bds_hash_options *o, struct bds_sha256 *h, const char *label,
                         size_t n, unsigned char out[BDS_SHA256_LEN])
{
	int i = bds_label_main_repo_prefix(label, n);
	if (i < 0)
		return 0;
	/* softDigest replaces only the FIRST ':' (unlike digest), as bazel-diff does. */
	char *tail = bds_util_xstrndup(label + i, n - (size_t)i);
	char *colon = strchr(tail, ':');
	if (colon)
		*colon = '/';
	char *joined = bds_util_xasprintf("%s/%s", o->workspace, tail);
	char *path = collapse_slashes(joined, strlen(joined));
	struct stat st;
	int is_file = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(tail);
	free(joined);
	free(path);
	if (!is_file)
		return 0;
	return raw_source_digest(o, h, label, n, NULL, out) < 0 ? -1 : 1;
}

/* seed = SHA256(name || subinclude...) in proto order (SourceFile fields 1 and 3). */
static int source_seed(struct bds_sha256 *h, const struct bds_target *t, unsigned char seed[BDS_SHA256_LEN])
{
	struct bds_proto_reader r;
	struct bds_proto_field f;
	int rc;
	bds_sha256_update(h, t->name, t->name_len);
	bds_proto_reader_init(&r, t->msg, t->len, t->offset);
	while ((rc = bds_proto_next(&r, &f)) > 0)
		if (f.number == 3 && f.wire == BDS_PROTO_LEN)
			bds_sha256_update(h, f.data, f.len);
	bds_sha256_final(h, seed);
	return rc;
}

/* The source pool: worker threads hash source files while targets are still arriving,
 * so reading files overlaps the query that streams them. Jobs live in fixed chunks (never
 * moved), because the graph's target array grows under the workers' feet. */
#define JOB_CHUNK 4096
#define MAX_CHUNKS 16384 /* 67M source files */
#define MAX_WORKERS 32

struct source_job {
	struct bds_target t; /* a copy: name and message pointers into the stream's blocks */
	int32_t index;       /* the target in the graph */
};

struct bds_source_pool {
	const struct bds_hash_options *o;
	struct source_job *chunks[MAX_CHUNKS];
	size_t published, next; /* guarded by lock */
	int closed, failed;
	pthread_mutex_t lock;
	pthread_cond_t more;
	pthread_t tids[MAX_WORKERS];
	int workers;
	char error[1024];
};

static struct source_job *job_at(struct bds_source_pool *p, size_t i)
{
	return &p->chunks[i / JOB_CHUNK][i % JOB_CHUNK];
}

static void *source_worker(void *arg)
{
	struct bds_source_pool *p = arg;
	struct bds_sha256 h;
	int ok = bds_sha256_init(&h) == 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (ok && !p->failed && p->next >= p->published && !p->closed)
			pthread_cond_wait(&p->more, &p->lock);
		if (!ok || p->failed || p->next >= p->published)
			break;
		struct source_job *job = job_at(p, p->next++);
		pthread_mutex_unlock(&p->lock);
		unsigned char seed[BDS_SHA256_LEN];
		ok = source_seed(&h, &job->t, seed) == 0 &&
		     raw_source_digest(p->o, &h, job->t.name, job->t.name_len, seed, job->t.source_digest) == 0;
		pthread_mutex_lock(&p->lock);
	}
	if (!ok && !p->failed) {
		p->failed = 1;
		snprintf(p->error, sizeof p->error, "%s", bds_util_error());
		pthread_cond_broadcast(&p->more);
	}
	pthread_mutex_unlock(&p->lock);
	if (h.ctx)
		bds_sha256_free(&h);
	return NULL;
}

struct bds_source_pool *bds_source_pool_start(const struct bds_hash_options *o)
{
	struct bds_source_pool *p = bds_util_xcalloc(1, sizeof *p);
	p->o = o;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	/* Reads block on I/O more than on CPU, so a few threads per core pay off on a cold cache. */
	int n = o->threads > 0 ? o->threads : (int)(cpus > 0 ? cpus * 2 : 2);
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	for (; p->workers < n; p->workers++)
		if (pthread_create(&p->tids[p->workers], NULL, source_worker, p) != 0)
			break;
	return p;
}

void bds_source_pool_add(void *pool, const struct bds_graph *g, int32_t index)
{
	struct bds_source_pool *p = pool;
	const struct bds_target *t = &g->targets[index];
	if (t->type != BDS_TARGET_SOURCE_FILE)
		return;
	size_t i = p->published; /* only this (the producer) thread writes it */
	if (i / JOB_CHUNK >= MAX_CHUNKS)
		abort(); /* 67M source files: far beyond any query output that fits in memory */
	if (i % JOB_CHUNK == 0 && !p->chunks[i / JOB_CHUNK])
		p->chunks[i / JOB_CHUNK] = bds_util_xmalloc(JOB_CHUNK * sizeof(struct source_job));
	struct source_job *job = job_at(p, i);
	job->t = *t;
	job->index = index;
	pthread_mutex_lock(&p->lock);
	p->published++;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
}

int bds_source_pool_finish(struct bds_source_pool *p, struct bds_graph *g)
{
	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	p->closed = 1;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->workers; i++)
		pthread_join(p->tids[i], NULL);
	if (p->workers == 0) /* no threads could be started: do the work here */
		source_worker(p);
	int rc = 0;
	if (p->failed) {
		rc = bds_util_fail("%s", p->error);
	} else if (g) {
		for (size_t i = 0; i < p->published; i++) {
			struct source_job *job = job_at(p, i);
			memcpy(g->targets[job->index].source_digest, job->t.source_digest, BDS_SHA256_LEN);
		}
		g->sources_hashed = 1;
	}
	for (size_t c = 0; c < MAX_CHUNKS && p->chunks[c]; c++)
		free(p->chunks[c]);
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return rc;
}

int bds_hash_sources(struct bds_graph *g, const struct bds_hash_options *o)
{
	if (g->sources_hashed)
		return 0;
	struct bds_source_pool *p = bds_source_pool_start(o);
	for (size_t i = 0; i < g->count; i++)
		bds_source_pool_add(p, g, (int32_t)i);
	return bds_source_pool_finish(p, g);
}

char **bds_hash_seed_list_entries(char *text)
{
	size_t cap = 16, n = 0;
	char **out = bds_util_xcalloc(cap + 1, sizeof *out);
	struct bds_strmap *seen = bds_strmap_new(64);
	char *save = NULL;
	/* strtok_r: the list ends at its first NUL, and empty lines are no entries */
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0 || bds_strmap_has(seen, line, len))
			continue;
		bds_strmap_put(seen, line, len, NULL);
		if (n == cap) {
			cap *= 2;
			out = bds_util_xrealloc(out, (cap + 1) * sizeof *out);
		}
		out[n++] = line;
		out[n] = NULL;
	}
	bds_strmap_free(seen, NULL);
	return out;
}

int bds_hash_seed_from_list(const char *workspace, const char *list_path, unsigned char out[BDS_SHA256_LEN])
{
	char *list = NULL, *list_file = resolve(workspace, list_path), **entries = NULL;
	size_t len = 0;
	struct bds_sha256 h = {0};
	int rc = -1;
	if (bds_fs_read_file(list_file, (size_t)64 << 20, &list, &len) < 0 || bds_sha256_init(&h) < 0)
		goto out;
	entries = bds_hash_seed_list_entries(list);
	rc = 0;
	for (char **e = entries; *e; e++) {
		char *file = resolve(workspace, *e);
		rc = put_file(&h, file);
		free(file);
		if (rc < 0) {
			/* copy first: bds_util_fail formats into the buffer bds_util_error returns,
			 * so passing it as an argument garbled the message */
			char why[1024];
			snprintf(why, sizeof why, "%s", bds_util_error());
			bds_util_fail("seed file listed in '%s': %s", list_file, why);
			break;
		}
	}
	bds_sha256_final(&h, out);
out:
	bds_sha256_free(&h);
	free(entries);
	free(list);
	free(list_file);
	return rc;
}

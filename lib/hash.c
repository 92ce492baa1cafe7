/* hash: bazel-diff-compatible rule hashing (docs/algorithm.md 2) and the hashes JSON writers. */
#include "hash.h"

#include "json.h"
#include "label.h"
#include "proto.h"
#include "proto-canon.h"
#include "state.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { UNVISITED = 0, IN_PROGRESS = 1, DONE = 2 };

struct slice {
	const char *p;
	size_t n;
};

/* One rule input: its label (possibly synthetic "//external:repo") and its target. */
struct input {
	struct slice label;
	int32_t target; /* -1 when the label is not in the query output */
};

struct attr {
	struct slice name, raw;
	size_t seq;      /* its place in the rule: Kotlin's sortedBy is stable */
	size_t copy_off; /* its Java bytes in the worker's `canon_copies`, or NO_COPY */
};

#define NO_COPY ((size_t)-1)

/* Per-thread state of the direct phase: scratch arrays reused across rules, and caches
 * of soft digests (per thread, so no locks; a few duplicated file reads at most). */
struct worker {
	struct hasher *hs;
	struct bds_sha256 sha, direct;
	struct attr *attrs;
	size_t attrs_cap;
	struct bds_proto_canon canon; /* scratch of bds_proto_canon_attribute */
	char *canon_copies;           /* the rule's attributes whose Java bytes differ */
	size_t canon_copies_len, canon_copies_cap;
	struct input *inputs;
	size_t inputs_cap;
	char *synthetic; /* storage for "//external:repo" labels */
	size_t synthetic_cap;
	struct slice *paths;
	size_t paths_cap;
	struct bds_strmap *soft; /* label -> 32-byte digest, or the NOT_FOUND marker */
	struct bds_strmap *bzl;  /* .bzl path -> digest, or NOT_FOUND */
	size_t unresolved;       /* inputs with no digest ("Unable to calculate digest") */
	int failed;
	char error[1024];
};

struct hasher {
	struct bds_graph *g;
	const struct bds_hash_options *o;
	struct bds_strmap *pkg_seed; /* package -> seed (only without instantiation stacks) */
	char sentinel[37];           /* --always-affected-tags: one random UUID per run */
	atomic_size_t next;          /* next target index for the direct phase */
	atomic_int failed;
};

static char not_found_marker;
#define NOT_FOUND ((void *)&not_found_marker)

static int slice_java_cmp(const void *a, const void *b)
{
	const struct slice *x = a, *y = b;
	return bds_util_java_cmp(x->p, x->n, y->p, y->n);
}

static int input_cmp(const void *a, const void *b)
{
	return slice_java_cmp(&((const struct input *)a)->label, &((const struct input *)b)->label);
}

static int attr_cmp(const void *a, const void *b)
{
	const struct attr *x = a, *y = b;
	int c = slice_java_cmp(&x->name, &y->name);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* qsort only when needed: Bazel usually emits attributes and inputs already sorted. */
static void sort_if_needed(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	for (size_t i = 1; i < n; i++)
		if (cmp((char *)base + (i - 1) * size, (char *)base + i * size) > 0) {
			qsort(base, n, size, cmp);
			return;
		}
}

static int slice_starts(struct slice s, const char *prefix)
{
	size_t n = strlen(prefix);
	return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

static int slice_ends(struct slice s, const char *suffix)
{
	size_t n = strlen(suffix);
	return s.n >= n && memcmp(s.p + s.n - n, suffix, n) == 0;
}

static int in_list(char **list, const char *s, size_t n)
{
	for (char **p = list; p && *p; p++)
		if (strlen(*p) == n && memcmp(*p, s, n) == 0)
			return 1;
	return 0;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	*cap = c;
	return bds_util_xrealloc(p, c * size);
}

/* The bare label of a rule input: cquery inputs carry "|configuration". */
static struct slice bare_label(struct slice s)
{
	const char *bar = memchr(s.p, '|', s.n);
	if (bar)
		s.n = (size_t)(bar - s.p);
	return s;
}

/* transformRuleInput (docs/algorithm.md 2.7): "@repo//x" -> "//external:repo" unless fine-grained.
 * Writes the synthetic label to `buf` and returns its length, or 0 for no transform. */
static size_t external_alias(const struct bds_hash_options *o, struct slice in, char *buf)
{
	if (bds_label_main_repo_prefix(in.p, in.n) >= 0 || in.n == 0 || in.p[0] != '@')
		return 0;
	for (char **f = o->fine_grained; f && *f; f++) {
		size_t fn = strlen(*f);
		if (in.n >= fn && memcmp(in.p, *f, fn) == 0)
			return 0; /* a raw prefix match, as bazel-diff does (docs/algorithm.md 5.1) */
	}
	const char *sep;
	if (bds_label_split_repo(in.p, in.n, &sep) != 2)
		return 0;
	const char *repo = in.p;
	while (repo < sep && *repo == '@') /* replaceFirst("@+", "") */
		repo++;
	size_t rn = (size_t)(sep - repo);
	memcpy(buf, "//external:", 11);
	memcpy(buf + 11, repo, rn);
	return 11 + rn;
}

/* softDigest with a per-run cache (bazel-diff memoises it too). 1 found, 0 not, -1 error. */
static int soft_digest_cached(struct worker *w, struct bds_strmap *cache, const char *label, size_t n,
                              unsigned char out[BDS_SHA256_LEN])
{
	void *v = bds_strmap_get(cache, label, n);
	if (!v) {
		unsigned char d[BDS_SHA256_LEN];
		int rc = bds_hash_soft_digest(w->hs->o, &w->sha, label, n, d);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			v = NOT_FOUND;
		} else {
			v = bds_util_xmalloc(BDS_SHA256_LEN);
			memcpy(v, d, BDS_SHA256_LEN);
		}
		bds_strmap_put(cache, label, n, v);
	}
	if (v == NOT_FOUND)
		return 0;
	memcpy(out, v, BDS_SHA256_LEN);
	return 1;
}

/* ruleBzlSeed (docs/algorithm.md 2.4) over the .bzl paths collected from the instantiation stack. */
static int rule_bzl_seed(struct worker *w, size_t n, unsigned char out[BDS_SHA256_LEN])
{
	sort_if_needed(w->paths, n, sizeof *w->paths, slice_java_cmp);
	struct bds_sha256 seed;
	if (bds_sha256_init(&seed) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && slice_java_cmp(&w->paths[i - 1], &w->paths[i]) == 0)
			continue;
		char label[4096];
		if (w->paths[i].n + 3 > sizeof label)
			continue; /* no such file can exist: the path is longer than PATH_MAX */
		label[0] = label[1] = '/';
		memcpy(label + 2, w->paths[i].p, w->paths[i].n);
		unsigned char d[BDS_SHA256_LEN];
		int rc = soft_digest_cached(w, w->bzl, label, w->paths[i].n + 2, d);
		if (rc < 0) {
			bds_sha256_free(&seed);
			return -1;
		}
		if (rc == 1) {
			bds_sha256_update(&seed, w->paths[i].p, w->paths[i].n);
			bds_sha256_update(&seed, d, BDS_SHA256_LEN);
		}
	}
	bds_sha256_final(&seed, out);
	bds_sha256_free(&seed);
	return 0;
}

/* The fields of a Rule message the hash needs, read in one pass. */
struct rule_fields {
	struct slice rule_class, skylark;
	size_t n_attrs, n_inputs, n_paths;
	int has_stack;
};

static int read_rule(struct worker *w, const struct bds_target *t, struct rule_fields *rf)
{
	struct bds_proto_reader r;
	struct bds_proto_field f;
	int rc;
	size_t synthetic_need = 0;
	memset(rf, 0, sizeof *rf);
	w->canon_copies_len = 0;
	rf->rule_class = rf->skylark = (struct slice){"", 0};
	bds_proto_reader_init(&r, t->msg, t->len, t->offset);
	while ((rc = bds_proto_next(&r, &f)) > 0) {
		if (f.wire != BDS_PROTO_LEN)
			continue;
		struct slice v = {(const char *)f.data, f.len};
		switch (f.number) {
		case 2:
			rf->rule_class = v;
			break;
		case 12:
			rf->skylark = v;
			break;
		case 4: {
			/* the attribute as bazel-diff hashes it: its Java bytes (docs/algorithm.md 2.5.1) */
			const uint8_t *jb;
			size_t jn;
			if (bds_proto_canon_attribute(&w->canon, f.data, f.len, &jb, &jn) < 0) {
				char why[1024];
				snprintf(why, sizeof why, "%s", bds_util_error());
				return bds_util_fail("target '%.*s': an attribute at byte %llu: %s", (int)t->name_len, t->name,
				                     (unsigned long long)bds_proto_offset(&r, f.data), why);
			}
			struct attr a = {{"", 0}, {(const char *)jb, jn}, rf->n_attrs, NO_COPY};
			if (jb != f.data) {
				w->canon_copies = grow(w->canon_copies, &w->canon_copies_cap, w->canon_copies_len + jn, 1);
				memcpy(w->canon_copies + w->canon_copies_len, jb, jn);
				a.copy_off = w->canon_copies_len;
				w->canon_copies_len += jn;
			}
			w->attrs = grow(w->attrs, &w->attrs_cap, rf->n_attrs + 1, sizeof *w->attrs);
			w->attrs[rf->n_attrs++] = a;
			break;
		}
		case 5:
			/* Room for every input read so far and each one's possible //external alias:
			 * the aliases are appended after the last input, so 2N entries. (Reserving
			 * N + 1 overflowed the heap on a rule with more than 8 @repo inputs.) */
			w->inputs = grow(w->inputs, &w->inputs_cap, 2 * (rf->n_inputs + 1), sizeof *w->inputs);
			w->inputs[rf->n_inputs++].label = v;
			synthetic_need += v.n + 11;
			break;
		case 13: {
			rf->has_stack = 1;
			const char *colon = memchr(v.p, ':', v.n);
			if (colon)
				v.n = (size_t)(colon - v.p);
			if (!(slice_ends(v, ".bzl") || slice_ends(v, ".scl")) || slice_starts(v, "external/") ||
			    slice_starts(v, "@") || slice_starts(v, "../"))
				break;
			w->paths = grow(w->paths, &w->paths_cap, rf->n_paths + 1, sizeof *w->paths);
			w->paths[rf->n_paths++] = v;
			break;
		}
		}
	}
	if (rc < 0)
		return -1;
	/* the copies are placed now that their buffer no longer moves; the name is the Java
	 * bytes' first field (name = 1, required, so always there and always first) */
	for (size_t i = 0; i < rf->n_attrs; i++) {
		struct attr *a = &w->attrs[i];
		if (a->copy_off != NO_COPY)
			a->raw.p = w->canon_copies + a->copy_off;
		struct bds_proto_reader ar;
		struct bds_proto_field af;
		bds_proto_reader_init(&ar, (const uint8_t *)a->raw.p, a->raw.n, 0);
		if (bds_proto_next(&ar, &af) > 0 && af.number == 1 && af.wire == BDS_PROTO_LEN)
			a->name = (struct slice){(const char *)af.data, af.len};
	}
	/* //external aliases, then sort and deduplicate (BazelRule.ruleInputList) */
	w->synthetic = grow(w->synthetic, &w->synthetic_cap, synthetic_need + 1, 1);
	size_t raw = rf->n_inputs, k = raw, used = 0;
	for (size_t i = 0; i < raw; i++) {
		size_t an = external_alias(w->hs->o, w->inputs[i].label, w->synthetic + used);
		if (an) {
			w->inputs[k++].label = (struct slice){w->synthetic + used, an};
			used += an;
		}
	}
	sort_if_needed(w->inputs, k, sizeof *w->inputs, input_cmp);
	size_t out = 0;
	for (size_t i = 0; i < k; i++) {
		if (out > 0 && w->inputs[out - 1].label.n == w->inputs[i].label.n &&
		    memcmp(w->inputs[out - 1].label.p, w->inputs[i].label.p, w->inputs[i].label.n) == 0)
			continue;
		w->inputs[out] = w->inputs[i];
		struct slice bare = bare_label(w->inputs[out].label);
		w->inputs[out].target = bds_graph_find(w->hs->g, bare.p, bare.n);
		out++;
	}
	rf->n_inputs = out;
	return 0;
}

/* Does the rule's first "tags" attribute hold one of --always-affected-tags? */
static int always_affected(const struct worker *w, const struct rule_fields *rf)
{
	char **tags = w->hs->o->always_affected_tags;
	if (!tags || !tags[0])
		return 0;
	for (size_t i = 0; i < rf->n_attrs; i++) {
		if (w->attrs[i].name.n != 4 || memcmp(w->attrs[i].name.p, "tags", 4) != 0)
			continue;
		struct bds_proto_reader ar;
		struct bds_proto_field af;
		bds_proto_reader_init(&ar, (const uint8_t *)w->attrs[i].raw.p, w->attrs[i].raw.n, 0);
		while (bds_proto_next(&ar, &af) > 0)
			if (af.number == 6 && af.wire == BDS_PROTO_LEN && in_list(tags, (const char *)af.data, af.len))
				return 1;
		return 0;
	}
	return 0;
}

/* The direct digest of a rule (docs/algorithm.md 2.6) and its dependency list. The direct digest
 * does not depend on any other rule's hash, so rules are processed in parallel; only
 * `overall` needs the graph order (overall_phase). */
static int hash_rule_direct(struct worker *w, int32_t index)
{
	struct hasher *hs = w->hs;
	struct bds_target *t = &hs->g->targets[index];
	struct rule_fields rf;
	unsigned char d[BDS_SHA256_LEN];
	if (read_rule(w, t, &rf) < 0)
		return -1;
	int always = always_affected(w, &rf);

	/* ruleDigest (docs/algorithm.md 2.5): attributes sorted by name, generator_location skipped */
	sort_if_needed(w->attrs, rf.n_attrs, sizeof *w->attrs, attr_cmp);
	bds_sha256_update(&w->sha, rf.rule_class.p, rf.rule_class.n);
	bds_sha256_update(&w->sha, t->name, t->name_len);
	bds_sha256_update(&w->sha, rf.skylark.p, rf.skylark.n);
	for (size_t i = 0; i < rf.n_attrs; i++) {
		struct slice nm = w->attrs[i].name;
		if ((nm.n == 18 && memcmp(nm.p, "generator_location", 18) == 0) ||
		    in_list(hs->o->ignored_attrs, nm.p, nm.n))
			continue;
		bds_sha256_update(&w->sha, w->attrs[i].raw.p, w->attrs[i].raw.n);
	}
	bds_sha256_final(&w->sha, d);

	bds_sha256_update(&w->direct, d, sizeof d);
	bds_sha256_update(&w->direct, hs->o->seed, BDS_SHA256_LEN);
	if (rf.has_stack) {
		if (rule_bzl_seed(w, rf.n_paths, d) < 0)
			return -1;
		bds_sha256_update(&w->direct, d, sizeof d);
	} else if (hs->pkg_seed) {
		const unsigned char *ps = bds_strmap_get(hs->pkg_seed, t->name, bds_label_package_len(t->name, t->name_len));
		if (ps)
			bds_sha256_update(&w->direct, ps, BDS_SHA256_LEN);
	}
	if (always)
		bds_sha256_update(&w->direct, hs->sentinel, 36);

	t->deps = bds_util_xmalloc((rf.n_inputs ? rf.n_inputs : 1) * sizeof *t->deps);
	t->n_deps = 0;
	for (size_t i = 0; i < rf.n_inputs; i++) {
		struct input *in = &w->inputs[i];
		bds_sha256_update(&w->direct, in->label.p, in->label.n);
		int32_t dep = in->target >= 0 ? hs->g->targets[in->target].rule : -1;
		if (dep < 0 && in->target >= 0) { /* a source-file target: its raw digest */
			bds_sha256_update(&w->direct, hs->g->targets[in->target].source_digest, BDS_SHA256_LEN);
		} else if (dep >= 0 && dep != index) { /* folded into overall, in this order */
			t->deps[t->n_deps++] = in->target;
		} else { /* unknown label, or the rule's own output */
			struct slice bare = bare_label(in->label);
			int rc = soft_digest_cached(w, w->soft, bare.p, bare.n, d);
			if (rc < 0)
				return -1;
			if (rc == 1)
				bds_sha256_update(&w->direct, d, sizeof d);
			else
				w->unresolved++;
		}
	}
	bds_sha256_final(&w->direct, t->direct);
	return 0;
}

static void free_digest(void *v)
{
	if (v != NOT_FOUND)
		free(v);
}

#define CHUNK 64 /* rules claimed at once by a worker */

static void *direct_worker(void *arg)
{
	struct worker *w = arg;
	struct hasher *hs = w->hs;
	size_t n = hs->g->count;
	while (!atomic_load(&hs->failed)) {
		size_t start = atomic_fetch_add(&hs->next, CHUNK);
		if (start >= n)
			break;
		size_t end = start + CHUNK < n ? start + CHUNK : n;
		for (size_t i = start; i < end; i++) {
			if (hs->g->targets[i].type != BDS_TARGET_RULE || hs->g->targets[i].stub)
				continue; /* a stub's direct digest is the state's */
			if (hash_rule_direct(w, (int32_t)i) < 0) {
				w->failed = 1;
				snprintf(w->error, sizeof w->error, "%s", bds_util_error());
				atomic_store(&hs->failed, 1);
				return NULL;
			}
		}
	}
	return NULL;
}

static int worker_init(struct worker *w, struct hasher *hs)
{
	memset(w, 0, sizeof *w);
	w->hs = hs;
	if (bds_sha256_init(&w->sha) < 0)
		return -1;
	if (bds_sha256_init(&w->direct) < 0) {
		bds_sha256_free(&w->sha);
		return -1;
	}
	w->soft = bds_strmap_new(256);
	w->bzl = bds_strmap_new(64);
	return 0;
}

static void worker_free(struct worker *w)
{
	bds_sha256_free(&w->sha);
	bds_sha256_free(&w->direct);
	free(w->attrs);
	bds_proto_canon_free(&w->canon);
	free(w->canon_copies);
	free(w->inputs);
	free(w->synthetic);
	free(w->paths);
	bds_strmap_free(w->soft, free_digest);
	bds_strmap_free(w->bzl, free_digest);
}

#define MAX_THREADS 32

static int direct_phase(struct hasher *hs)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int n = hs->o->threads > 0 ? hs->o->threads : (int)(cpus > 0 ? cpus : 1);
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	struct worker workers[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	int ready = 0, started = 0, rc = 0;
	atomic_init(&hs->next, 0);
	atomic_init(&hs->failed, 0);
	for (; ready < n; ready++)
		if (worker_init(&workers[ready], hs) < 0)
			break;
	if (ready == 0)
		return -1;
	for (int i = 1; i < ready; i++) {
		if (pthread_create(&tids[i], NULL, direct_worker, &workers[i]) != 0)
			break;
		started = i;
	}
	direct_worker(&workers[0]); /* the calling thread works too */
	for (int i = 1; i <= started; i++)
		pthread_join(tids[i], NULL);
	for (int i = 0; i < ready; i++) {
		if (workers[i].failed && rc == 0)
			rc = bds_util_fail("%s", workers[i].error);
		worker_free(&workers[i]);
	}
	return rc;
}

/* "circular dependency detected: a -> b -> a" from the DFS stack. */
struct visit {
	int32_t rule;
	uint32_t next;
};

static int cycle_error(const struct bds_graph *g, const struct visit *stack, size_t depth, int32_t begin)
{
	char msg[4096];
	size_t len = (size_t)snprintf(msg, sizeof msg, "circular dependency detected: %.*s",
	                              (int)g->targets[begin].name_len, g->targets[begin].name);
	size_t from = 0;
	for (size_t i = 0; i < depth; i++)
		if (stack[i].rule == begin)
			from = i + 1;
	for (size_t i = from; i <= depth && len < sizeof msg; i++) {
		const struct bds_target *t = &g->targets[i < depth ? stack[i].rule : begin];
		len += (size_t)snprintf(msg + len, sizeof msg - len, " -> %.*s", (int)t->name_len, t->name);
	}
	return bds_util_fail("%s", msg);
}

/* overall = SHA256(overall of each dependency, in input order || direct), in dependency
 * order over an explicit stack (deep graphs must not overflow the C stack). A stub (a rule
 * of a graph state, docs/algorithm.md 6.3) keeps the state's overall unless one of its
 * dependencies changed: its direct digest and its dependency list are the state's. */
static int overall_phase(struct bds_graph *g)
{
	struct bds_sha256 sha;
	struct visit *stack = NULL;
	const unsigned char **dep_overall = NULL;
	size_t cap = 0, depth = 0, dep_cap = 0;
	int rc = 0;
	if (bds_sha256_init(&sha) < 0)
		return -1;
	for (size_t root = 0; root < g->count && rc == 0; root++) {
		if (g->targets[root].type != BDS_TARGET_RULE || g->targets[root].state == DONE)
			continue;
		stack = grow(stack, &cap, 1, sizeof *stack);
		stack[depth++] = (struct visit){(int32_t)root, 0};
		g->targets[root].state = IN_PROGRESS;
		while (depth > 0 && rc == 0) {
			struct visit *v = &stack[depth - 1];
			struct bds_target *t = &g->targets[v->rule];
			if (v->next < t->n_deps) {
				int32_t dep = g->targets[t->deps[v->next]].rule;
				if (g->targets[dep].state == DONE) {
					v->next++;
				} else if (g->targets[dep].state == IN_PROGRESS) {
					rc = cycle_error(g, stack, depth, dep);
				} else {
					stack = grow(stack, &cap, depth + 1, sizeof *stack);
					stack[depth++] = (struct visit){dep, 0};
					g->targets[dep].state = IN_PROGRESS;
				}
				continue;
			}
			int stale = !t->stub;
			for (uint32_t i = 0; i < t->n_deps && !stale; i++)
				stale = g->targets[g->targets[t->deps[i]].rule].changed;
			if (stale) {
				unsigned char before[BDS_SHA256_LEN];
				memcpy(before, t->overall, sizeof before);
				dep_overall = grow(dep_overall, &dep_cap, t->n_deps, sizeof *dep_overall);
				for (uint32_t i = 0; i < t->n_deps; i++)
					dep_overall[i] = g->targets[g->targets[t->deps[i]].rule].overall;
				bds_digest_overall(&sha, dep_overall, t->n_deps, t->direct, t->overall);
				t->changed = !t->stub || memcmp(before, t->overall, sizeof before) != 0;
				g->rehashed++;
			}
			t->state = DONE;
			depth--;
		}
	}
	free(stack);
	free(dep_overall);
	bds_sha256_free(&sha);
	return rc;
}

/* Package .bzl seeds (docs/algorithm.md 2.4, fallback), used only when no rule has a stack. */
struct pkg_label {
	struct slice pkg, label;
};

static int pkg_label_cmp(const void *a, const void *b)
{
	const struct pkg_label *x = a, *y = b;
	int c = slice_java_cmp(&x->pkg, &y->pkg);
	return c ? c : slice_java_cmp(&x->label, &y->label);
}

static int package_seeds(struct hasher *hs, struct worker *w)
{
	struct bds_graph *g = hs->g;
	struct pkg_label *pl = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (size_t i = 0; i < g->count; i++) {
		const struct bds_target *t = &g->targets[i];
		if (t->type != BDS_TARGET_SOURCE_FILE)
			continue;
		struct bds_proto_reader r;
		struct bds_proto_field f;
		bds_proto_reader_init(&r, t->msg, t->len, t->offset);
		while (bds_proto_next(&r, &f) > 0) {
			if (f.number != 3 || f.wire != BDS_PROTO_LEN)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				pl = bds_util_xrealloc(pl, cap * sizeof *pl);
			}
			pl[n++] = (struct pkg_label){{t->name, bds_label_package_len(t->name, t->name_len)},
			                             {(const char *)f.data, f.len}};
		}
	}
	if (n > 1) /* qsort(NULL, 0, ...) is undefined: no source file had a subinclude */
		qsort(pl, n, sizeof *pl, pkg_label_cmp);
	hs->pkg_seed = bds_strmap_new(64);
	struct bds_sha256 seed;
	if (bds_sha256_init(&seed) < 0) {
		free(pl);
		return -1;
	}
	for (size_t i = 0; i < n && rc == 0;) {
		size_t j = i, tracked = 0;
		for (; j < n && slice_java_cmp(&pl[j].pkg, &pl[i].pkg) == 0; j++) {
			if (j > i && slice_java_cmp(&pl[j].label, &pl[j - 1].label) == 0)
				continue;
			unsigned char d[BDS_SHA256_LEN];
			int found = soft_digest_cached(w, w->bzl, pl[j].label.p, pl[j].label.n, d);
			if (found < 0) {
				rc = -1;
				break;
			}
			if (found) {
				bds_sha256_update(&seed, pl[j].label.p, pl[j].label.n);
				bds_sha256_update(&seed, d, sizeof d);
				tracked++;
			}
		}
		unsigned char *out = bds_util_xmalloc(BDS_SHA256_LEN);
		bds_sha256_final(&seed, out);
		if (tracked && rc == 0)
			bds_strmap_put(hs->pkg_seed, pl[i].pkg.p, pl[i].pkg.n, out);
		else
			free(out);
		i = j;
	}
	bds_sha256_free(&seed);
	free(pl);
	return rc;
}

/* A random UUID string, as bazel-diff's UUID.randomUUID(): a per-run sentinel. */
static int random_uuid(char out[37])
{
	unsigned char b[16];
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(b, 1, sizeof b, f) != sizeof b) {
		if (f)
			fclose(f);
		return bds_util_fail("read '/dev/urandom': cannot draw the always-affected sentinel");
	}
	fclose(f);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	char hex[33];
	bds_digest_hex(b, 16, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return 0;
}

int bds_hash_graph(struct bds_graph *g, const struct bds_hash_options *o)
{
	struct hasher hs = {.g = g, .o = o};
	struct bds_sha256 sha;
	int rc = -1;
	if (bds_sha256_init(&sha) < 0)
		return -1;
	if (o->always_affected_tags && o->always_affected_tags[0] && random_uuid(hs.sentinel) < 0)
		goto out;
	if (bds_graph_link(g) < 0 || bds_hash_sources(g, o) < 0)
		goto out;
	if (!g->has_instantiation_stacks) {
		struct worker w;
		if (worker_init(&w, &hs) < 0)
			goto out;
		int prc = package_seeds(&hs, &w);
		worker_free(&w);
		if (prc < 0)
			goto out;
	}
	if (direct_phase(&hs) < 0 || overall_phase(g) < 0)
		goto out;
	/* Source files: SHA256(raw digest || seed || package seed); generated files: their rule. */
	for (size_t i = 0; i < g->count; i++) {
		struct bds_target *t = &g->targets[i];
		if (t->type == BDS_TARGET_SOURCE_FILE && !t->stub) {
			bds_sha256_update(&sha, t->source_digest, BDS_SHA256_LEN);
			bds_sha256_update(&sha, o->seed, BDS_SHA256_LEN);
			const unsigned char *ps =
				hs.pkg_seed ? bds_strmap_get(hs.pkg_seed, t->name, bds_label_package_len(t->name, t->name_len)) : NULL;
			if (ps)
				bds_sha256_update(&sha, ps, BDS_SHA256_LEN);
			bds_sha256_final(&sha, t->overall);
			memcpy(t->direct, t->overall, BDS_SHA256_LEN);
		} else if (t->type == BDS_TARGET_GENERATED_FILE) {
			memcpy(t->overall, g->targets[t->rule].overall, BDS_SHA256_LEN);
			memcpy(t->direct, g->targets[t->rule].direct, BDS_SHA256_LEN);
			if (!t->deps) /* a stub has the state's edge already */
				t->deps = bds_util_xmalloc(sizeof *t->deps);
			t->deps[0] = t->rule;
			t->n_deps = 1;
		}
	}
	rc = 0;
out:
	bds_strmap_free(hs.pkg_seed, free);
	bds_sha256_free(&sha);
	return rc;
}

/* Output: targets sorted by label bytes, filtered by type name. */
static const struct bds_graph *sort_graph; /* qsort has no context argument in C11 */

static int index_cmp(const void *a, const void *b)
{
	const struct bds_target *x = &sort_graph->targets[*(const int32_t *)a];
	const struct bds_target *y = &sort_graph->targets[*(const int32_t *)b];
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);
	return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static int32_t *sorted_targets(const struct bds_graph *g, char **types, int deps_only, size_t *count)
{
	int32_t *idx = bds_util_xmalloc((g->count ? g->count : 1) * sizeof *idx);
	size_t n = 0;
	for (size_t i = 0; i < g->count; i++) {
		const struct bds_target *t = &g->targets[i];
		const char *type = bds_target_type_name(t->type);
		if (types && !in_list(types, type, strlen(type)))
			continue;
		if (deps_only && t->type == BDS_TARGET_SOURCE_FILE)
			continue;
		idx[n++] = (int32_t)i;
	}
	sort_graph = g;
	qsort(idx, n, sizeof *idx, index_cmp);
	*count = n;
	return idx;
}

/* fwrite that also feeds the digest being taken of what is written */
static void put(FILE *out, struct bds_xxh128_stream *digest, const char *bytes, size_t n)
{
	fwrite(bytes, 1, n, out);
	if (digest)
		bds_digest_xxh128_add(digest, bytes, n);
}

int bds_hash_write_json(FILE *out, const struct bds_graph *g, struct bds_hash_json_out *how)
{
	size_t n;
	int32_t *idx = sorted_targets(g, how->types, 0, &n);
	how->of = n;
	if (how->only) {
		size_t kept = 0;
		for (size_t k = 0; k < n; k++)
			if (how->only[idx[k]])
				idx[kept++] = idx[k];
		n = kept;
	}
	how->written = n;
	struct bds_xxh128_stream *digest = how->xxh128 ? bds_digest_xxh128_start() : NULL;
	/* with a module graph the map is one level down: {"hashes": {...}, "metadata": ...} */
	size_t indent = how->module_graph ? 4 : 2;
	if (how->module_graph)
		put(out, digest, "{\n  \"hashes\": ", strlen("{\n  \"hashes\": "));
	put(out, digest, n ? "{\n" : "{", n ? 2 : 1);
	char small[8192];
	for (size_t k = 0; k < n; k++) {
		const struct bds_target *t = &g->targets[idx[k]];
		/* one fwrite per line: labels are short, and stdio per character is slow */
		size_t need = 6 * (size_t)t->name_len + 200;
		char *line = need <= sizeof small ? small : bds_util_xmalloc(need);
		char *p = line;
		memset(p, ' ', indent);
		p += indent;
		p += bds_json_escape_into(p, t->name, t->name_len);
		memcpy(p, ": \"", 3);
		p += 3;
		if (how->include_type) {
			const char *type = bds_target_type_name(t->type);
			size_t tn = strlen(type);
			memcpy(p, type, tn);
			p += tn;
			*p++ = '#';
		}
		bds_digest_hex(t->overall, BDS_SHA256_LEN, p);
		p += 64;
		*p++ = '~';
		bds_digest_hex(t->direct, BDS_SHA256_LEN, p);
		p += 64;
		*p++ = '"';
		if (k + 1 < n)
			*p++ = ',';
		*p++ = '\n';
		put(out, digest, line, (size_t)(p - line));
		if (line != small)
			free(line);
	}
	if (how->module_graph) {
		if (n)
			put(out, digest, "  ", 2);
		const char *meta = "},\n  \"metadata\": {\n    \"moduleGraphJson\": ";
		put(out, digest, meta, strlen(meta));
		char *s = bds_util_xmalloc(6 * how->module_graph_len + 2);
		put(out, digest, s, bds_json_escape_into(s, how->module_graph, how->module_graph_len));
		free(s);
		put(out, digest, "\n  }\n", strlen("\n  }\n"));
	}
	put(out, digest, "}", 1);
	free(idx);
	if (digest)
		bds_digest_xxh128_finish(digest, how->xxh128);
	if (fflush(out) != 0 || ferror(out))
		return bds_util_fail("write hashes: %s", strerror(errno ? errno : EIO));
	return 0;
}

/* Kotlin's Char.isWhitespace for the character at s (of `len` bytes): Java's
 * isWhitespace or isSpaceChar. */
static int kotlin_whitespace(const unsigned char *s, size_t len)
{
	if (len == 1)
		return s[0] == ' ' || (s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x1f);
	unsigned cp = len == 2 ? ((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu)
	            : len == 3 ? ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu)
	                       : 0x10000;
	return cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

char *bds_hash_module_graph_text(const char *raw, size_t n, size_t *len)
{
	const unsigned char *s = (const unsigned char *)raw;
	char *out = bds_util_xmalloc(n + 1);
	size_t o = 0, start = SIZE_MAX, end = 0; /* the trimmed text is out[start..end) */
	for (size_t i = 0; i < n;) {
		if (s[i] == '\r') { /* "\r\n" and "\r" end a line as "\n" does */
			i += i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
			out[o++] = '\n';
			continue;
		}
		size_t k = bds_util_utf8_sequence(s + i, n - i);
		if (k == 0) {
			free(out);
			bds_util_fail("the module graph is not UTF-8 (byte %zu)", i);
			return NULL;
		}
		if (!kotlin_whitespace(s + i, k)) {
			if (start == SIZE_MAX)
				start = o;
			end = o + k;
		}
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	if (start == SIZE_MAX)
		start = end = 0;
	memmove(out, out + start, end - start);
	out[end - start] = '\0';
	*len = end - start;
	return out;
}

int bds_hash_write_deps(FILE *out, const struct bds_graph *g, char **types)
{
	size_t n;
	int32_t *idx = sorted_targets(g, types, 1, &n);
	fputs(n ? "{\n" : "{", out);
	for (size_t k = 0; k < n; k++) {
		const struct bds_target *t = &g->targets[idx[k]];
		fputs("  ", out);
		bds_json_put_string(out, t->name, t->name_len);
		fputs(t->n_deps ? ": [\n" : ": []", out);
		for (uint32_t d = 0; d < t->n_deps; d++) {
			const struct bds_target *dep = &g->targets[t->deps[d]];
			fputs("    ", out);
			bds_json_put_string(out, dep->name, dep->name_len);
			fputs(d + 1 < t->n_deps ? ",\n" : "\n", out);
		}
		if (t->n_deps)
			fputs("  ]", out);
		fputs(k + 1 < n ? ",\n" : "\n", out);
	}
	fputs("}", out);
	free(idx);
	if (fflush(out) != 0 || ferror(out))
		return bds_util_fail("write dep edges: %s", strerror(errno ? errno : EIO));
	return 0;
}

/* --- the graph state (docs/algorithm.md 6.1) ------------------------------------------ */

/* A path read from the workspace can be matched against git's paths when it is relative
 * and has no "." or ".." segment; others may change without git seeing it. */
static int path_in_workspace(const char *p)
{
	if (p[0] == '/')
		return 0;
	for (const char *seg = p; *seg;) {
		size_t n = strcspn(seg, "/");
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		seg += n;
		if (*seg == '/')
			seg++;
	}
	return 1;
}

static void put_key(struct bds_state_writer *sw, const char *prefix, const char *s, size_t n, int32_t index)
{
	char small[4096];
	size_t pn = strlen(prefix);
	char *k = pn + n <= sizeof small ? small : bds_util_xmalloc(pn + n);
	memcpy(k, prefix, pn);
	memcpy(k + pn, s, n);
	bds_state_writer_key(sw, k, pn + n, index);
	if (k != small)
		free(k);
}

/* "r:<path>" for the file a source-file target's digest reads (2.2: every ':' made '/'):
 * target `index` reads it. BDS_STATE_OUTSIDE for a path git cannot see. */
static int source_keys(struct bds_state_writer *sw, const char *label, size_t n, int32_t index)
{
	char *path = bds_hash_label_path(label, n, 0);
	if (!path)
		return 0; /* another repository's file: not in the workspace */
	int flags = 0;
	if (!path_in_workspace(path))
		flags = BDS_STATE_OUTSIDE;
	else if (path[0])
		put_key(sw, "r:", path, strlen(path), index);
	free(path);
	return flags;
}

/* The same for a softDigest (2.2): it exists when <workspace>/<path with the first ':'
 * made '/'> is a regular file, and then reads the 2.2 path. A stack frame's absolute
 * path ("//" + "/abs/x.bzl") is looked for inside the workspace and is usually absent:
 * only the workspace path's appearance would change it. */
static int soft_keys(struct bds_state_writer *sw, const struct bds_hash_options *o, const char *label, size_t n,
                     int32_t index)
{
	char *exists = bds_hash_label_path(label, n, 1);
	if (!exists)
		return 0;
	const char *rel = exists;
	while (*rel == '/')
		rel++;
	int flags = 0;
	if (!path_in_workspace(rel)) {
		flags = BDS_STATE_OUTSIDE;
	} else if (rel[0]) {
		put_key(sw, "r:", rel, strlen(rel), index);
		char *content = bds_hash_label_path(label, n, 0);
		if (strcmp(content, rel) != 0) {
			char *abs = bds_util_xasprintf("%s/%s", o->workspace, rel);
			struct stat st;
			if (!path_in_workspace(content)) {
				if (stat(abs, &st) == 0 && S_ISREG(st.st_mode))
					flags = BDS_STATE_OUTSIDE; /* found here, read from there */
			} else if (content[0]) {
				put_key(sw, "r:", content, strlen(content), index);
			}
			free(abs);
		}
		free(content);
	}
	free(exists);
	return flags;
}

/* "k:<package>" for a main-repository input label: the rule must be hashed again when
 * that package's targets may have changed (appeared, gone, or changed kind). */
static void package_key(struct bds_state_writer *sw, struct slice label, int32_t index)
{
	int i = bds_label_main_repo_prefix(label.p, label.n);
	if (i < 0)
		return;
	size_t pkg = bds_label_package_len(label.p, label.n);
	if (pkg < (size_t)i)
		return;
	put_key(sw, "k:", label.p + i, pkg - (size_t)i, index);
}

/* The keys and flags of one target. */
static int state_keys(struct worker *w, struct bds_state_writer *sw, int32_t index, uint8_t *flags)
{
	struct bds_graph *g = w->hs->g;
	struct bds_target *t = &g->targets[index];
	if (t->type == BDS_TARGET_GENERATED_FILE)
		return 0; /* its rule's keys decide */
	if (t->type == BDS_TARGET_SOURCE_FILE) {
		*flags |= (uint8_t)source_keys(sw, t->name, t->name_len, index);
		/* a BUILD file's subincludes: the .bzl files its package loads, transitively */
		struct bds_proto_reader r;
		struct bds_proto_field f;
		bds_proto_reader_init(&r, t->msg, t->len, t->offset);
		while (bds_proto_next(&r, &f) > 0)
			if (f.number == 3 && f.wire == BDS_PROTO_LEN)
				*flags |= (uint8_t)soft_keys(sw, w->hs->o, (const char *)f.data, f.len, index);
		return 0;
	}
	struct rule_fields rf;
	if (read_rule(w, t, &rf) < 0)
		return -1;
	if (rf.has_stack)
		*flags |= BDS_STATE_HAS_STACK;
	if (always_affected(w, &rf))
		*flags |= BDS_STATE_ALWAYS;
	for (size_t i = 0; i < rf.n_inputs; i++) {
		struct input *in = &w->inputs[i];
		struct slice bare = bare_label(in->label);
		package_key(sw, bare, index);
		int32_t dep = in->target >= 0 ? g->targets[in->target].rule : -1;
		if (dep < 0 && in->target >= 0) /* a source file's raw digest */
			*flags |= (uint8_t)source_keys(sw, bare.p, bare.n, index);
		else if (dep < 0 || dep == index) /* a softDigest */
			*flags |= (uint8_t)soft_keys(sw, w->hs->o, bare.p, bare.n, index);
	}
	for (size_t i = 0; i < rf.n_paths; i++) { /* the stack's .bzl files (rule .bzl seed) */
		char label[4096];
		if (w->paths[i].n + 2 > sizeof label)
			continue;
		memcpy(label, "//", 2);
		memcpy(label + 2, w->paths[i].p, w->paths[i].n);
		*flags |= (uint8_t)soft_keys(sw, w->hs->o, label, w->paths[i].n + 2, index);
	}
	return 0;
}

/* One list into the state key's bytes: its words, each ended by a NUL, then an end mark. */
static void key_list(char **buf, size_t *len, char **list)
{
	for (char **w = list; w && *w; w++) {
		size_t n = strlen(*w) + 1;
		*buf = bds_util_xrealloc(*buf, *len + n);
		memcpy(*buf + *len, *w, n);
		*len += n;
	}
	*buf = bds_util_xrealloc(*buf, *len + 1);
	(*buf)[(*len)++] = '\x01';
}

void bds_hash_state_key(const struct bds_hash_options *o, unsigned char out[BDS_SHA256_LEN])
{
	/* -2: attributes hashed as their Java bytes (docs/algorithm.md 2.5.1); a state of an
	 * earlier bds may hold digests of the stream's bytes, so it does not stand */
	static const char tag[] = "bds-state-key-2";
	size_t len = sizeof tag + BDS_SHA256_LEN;
	char *buf = bds_util_xmalloc(len);
	memcpy(buf, tag, sizeof tag);
	memcpy(buf + sizeof tag, o->seed, BDS_SHA256_LEN);
	key_list(&buf, &len, o->ignored_attrs);
	key_list(&buf, &len, o->always_affected_tags);
	bds_sha256_buf(buf, len, out);
	free(buf);
}

char *bds_hash_output_key(const char xxh128[33], int include_type, char **types)
{
	char *key = bds_util_xasprintf("xxh3-128 %s, include-target-type %d, target-type%s", xxh128, include_type ? 1 : 0,
	                               types ? "" : " (all)");
	for (char **t = types; t && *t; t++) {
		char *longer = bds_util_xasprintf("%s %s", key, *t);
		free(key);
		key = longer;
	}
	return key;
}

int bds_hash_write_state(FILE *out, struct bds_graph *g, const struct bds_hash_options *o, const char *commit,
                         const char *output_key)
{
	unsigned char key[BDS_SHA256_LEN];
	bds_hash_state_key(o, key);
	struct hasher hs = {.g = g, .o = o};
	struct worker w;
	if (worker_init(&w, &hs) < 0)
		return -1;
	struct bds_state_writer *sw = bds_state_writer_new(g->count, g->has_instantiation_stacks, key, commit, output_key);
	int rc = 0;
	for (size_t i = 0; i < g->count && rc == 0; i++) {
		struct bds_target *t = &g->targets[i];
		struct bds_state_target st = {.name = t->name, .name_len = t->name_len, .type = t->type,
		                              .overall = t->overall, .direct = t->direct,
		                              .source = t->source_digest,
		                              .n_deps = t->type == BDS_TARGET_SOURCE_FILE ? 0 : t->n_deps};
		if (t->stub) {
			rc = bds_util_fail("internal: a state is written from a full hashing run only");
			break;
		}
		rc = state_keys(&w, sw, (int32_t)i, &st.flags);
		if (rc == 0)
			bds_state_writer_target(sw, &st, t->deps);
	}
	worker_free(&w);
	if (rc < 0) {
		bds_state_writer_free(sw);
		return -1;
	}
	return bds_state_writer_finish(sw, out);
}

/* hash: bazel-diff-compatible rule hashing (spec 2.4-2.8) and the hashes JSON writers. */
#include "hash.h"

#include "json.h"
#include "label.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
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

/* A rule on the explicit DFS stack (deep graphs must not overflow the C stack). */
struct frame {
	int32_t rule;
	struct input *inputs;
	size_t count, next;
	char *synthetic; /* storage for "//external:repo" labels */
};

struct attr {
	struct slice name, raw;
};

struct hasher {
	struct bds_graph *g;
	const struct bds_hash_options *o;
	struct bds_sha256 sha;
	struct bds_target_digest td;
	struct frame *stack;
	size_t depth, stack_cap;
	struct attr *attrs;
	size_t attrs_cap;
	struct slice *paths;
	size_t paths_cap;
	struct bds_strmap *soft;     /* label -> 32-byte digest, or the NOT_FOUND marker */
	struct bds_strmap *bzl;      /* .bzl path -> digest, or NOT_FOUND */
	struct bds_strmap *pkg_seed; /* package -> seed (only without instantiation stacks) */
	char sentinel[37];           /* --always-affected-tags: one random UUID per run */
	unsigned char empty_sha[BDS_SHA256_LEN];
	size_t unresolved; /* inputs with no digest ("Unable to calculate digest") */
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
	return slice_java_cmp(&((const struct attr *)a)->name, &((const struct attr *)b)->name);
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

/* The bare label of a rule input: cquery inputs carry "|configuration". */
static struct slice bare_label(struct slice s)
{
	const char *bar = memchr(s.p, '|', s.n);
	if (bar)
		s.n = (size_t)(bar - s.p);
	return s;
}

/* transformRuleInput (spec 1.5): "@repo//x" -> "//external:repo" unless fine-grained.
 * Writes the synthetic label to `buf` and returns its length, or 0 for no transform. */
static size_t external_alias(const struct bds_hash_options *o, struct slice in, char *buf)
{
	if (bds_label_main_repo_prefix(in.p, in.n) >= 0 || in.n == 0 || in.p[0] != '@')
		return 0;
	for (char **f = o->fine_grained; f && *f; f++) {
		size_t fn = strlen(*f);
		if (in.n >= fn && memcmp(in.p, *f, fn) == 0)
			return 0; /* a raw prefix match, as bazel-diff does (spec 6.2) */
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

/* Collects a rule's inputs: rule_input plus //external aliases, sorted and deduplicated. */
static int collect_inputs(struct hasher *hs, struct frame *fr)
{
	const struct bds_target *t = &hs->g->targets[fr->rule];
	struct bds_proto_reader r;
	struct bds_proto_field f;
	int rc;
	size_t count = 0, bytes = 0;
	bds_proto_reader_init(&r, t->msg, t->len, t->offset);
	while ((rc = bds_proto_next(&r, &f)) > 0)
		if (f.number == 5 && f.wire == BDS_PROTO_LEN) {
			count++;
			bytes += f.len + 11;
		}
	if (rc < 0)
		return -1;
	fr->inputs = bds_util_xmalloc(2 * count * sizeof *fr->inputs);
	fr->synthetic = bds_util_xmalloc(bytes + 1);
	size_t k = 0, used = 0;
	bds_proto_reader_init(&r, t->msg, t->len, t->offset);
	while (bds_proto_next(&r, &f) > 0) {
		if (f.number != 5 || f.wire != BDS_PROTO_LEN)
			continue;
		struct slice in = {(const char *)f.data, f.len};
		fr->inputs[k++].label = in;
		size_t an = external_alias(hs->o, in, fr->synthetic + used);
		if (an) {
			fr->inputs[k++].label = (struct slice){fr->synthetic + used, an};
			used += an;
		}
	}
	qsort(fr->inputs, k, sizeof *fr->inputs, input_cmp);
	size_t out = 0;
	for (size_t i = 0; i < k; i++) {
		if (out > 0 && fr->inputs[out - 1].label.n == fr->inputs[i].label.n &&
		    memcmp(fr->inputs[out - 1].label.p, fr->inputs[i].label.p, fr->inputs[i].label.n) == 0)
			continue;
		fr->inputs[out] = fr->inputs[i];
		struct slice bare = bare_label(fr->inputs[out].label);
		fr->inputs[out].target = bds_graph_find(hs->g, bare.p, bare.n);
		out++;
	}
	fr->count = out;
	fr->next = 0;
	return 0;
}

/* The rule whose hash an input folds in: a rule, or a generated file's rule; else -1. */
static int32_t input_rule(const struct hasher *hs, const struct input *in)
{
	return in->target >= 0 ? hs->g->targets[in->target].rule : -1;
}

/* softDigest with a per-run cache (bazel-diff memoises it too). 1 found, 0 not, -1 error. */
static int soft_digest_cached(struct hasher *hs, struct bds_strmap *cache, const char *label, size_t n,
                              unsigned char out[BDS_SHA256_LEN])
{
	void *v = bds_strmap_get(cache, label, n);
	if (!v) {
		unsigned char d[BDS_SHA256_LEN];
		int rc = bds_hash_soft_digest(hs->o, &hs->sha, label, n, d);
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

/* ruleBzlSeed (spec 2.4): digests of the main-repo .bzl files of the instantiation stack.
 * Returns 1 with `out` set, or 0 when the rule has no stack. */
static int rule_bzl_seed(struct hasher *hs, const struct bds_target *t, unsigned char out[BDS_SHA256_LEN])
{
	struct bds_proto_reader r;
	struct bds_proto_field f;
	size_t n = 0;
	int has_stack = 0;
	bds_proto_reader_init(&r, t->msg, t->len, t->offset);
	while (bds_proto_next(&r, &f) > 0) {
		if (f.number != 13 || f.wire != BDS_PROTO_LEN)
			continue;
		has_stack = 1;
		struct slice path = {(const char *)f.data, f.len};
		const char *colon = memchr(path.p, ':', path.n);
		if (colon)
			path.n = (size_t)(colon - path.p);
		if (!(slice_ends(path, ".bzl") || slice_ends(path, ".scl")) || slice_starts(path, "external/") ||
		    slice_starts(path, "@") || slice_starts(path, "../"))
			continue;
		if (n == hs->paths_cap) {
			hs->paths_cap = hs->paths_cap ? hs->paths_cap * 2 : 16;
			hs->paths = bds_util_xrealloc(hs->paths, hs->paths_cap * sizeof *hs->paths);
		}
		hs->paths[n++] = path;
	}
	if (!has_stack)
		return 0;
	qsort(hs->paths, n, sizeof *hs->paths, slice_java_cmp);
	struct bds_sha256 seed;
	if (bds_sha256_init(&seed) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && slice_java_cmp(&hs->paths[i - 1], &hs->paths[i]) == 0)
			continue;
		char *label = bds_util_xasprintf("//%.*s", (int)hs->paths[i].n, hs->paths[i].p);
		unsigned char d[BDS_SHA256_LEN];
		int rc = soft_digest_cached(hs, hs->bzl, label, strlen(label), d);
		free(label);
		if (rc < 0) {
			bds_sha256_free(&seed);
			return -1;
		}
		if (rc == 1) {
			bds_sha256_update(&seed, hs->paths[i].p, hs->paths[i].n);
			bds_sha256_update(&seed, d, BDS_SHA256_LEN);
		}
	}
	bds_sha256_final(&seed, out);
	bds_sha256_free(&seed);
	return 1;
}

/* ruleDigest (spec 2.5) and the tags check, in one pass over the rule's fields. */
static int rule_digest(struct hasher *hs, const struct bds_target *t, unsigned char out[BDS_SHA256_LEN],
                       int *always_affected)
{
	struct bds_proto_reader r;
	struct bds_proto_field f;
	struct slice rule_class = {"", 0}, skylark = {"", 0};
	size_t n = 0;
	int rc;
	bds_proto_reader_init(&r, t->msg, t->len, t->offset);
	while ((rc = bds_proto_next(&r, &f)) > 0) {
		if (f.wire != BDS_PROTO_LEN)
			continue;
		if (f.number == 2) {
			rule_class = (struct slice){(const char *)f.data, f.len};
		} else if (f.number == 12) {
			skylark = (struct slice){(const char *)f.data, f.len};
		} else if (f.number == 4) {
			struct bds_proto_reader ar;
			struct bds_proto_field af;
			struct slice name = {"", 0};
			bds_proto_reader_init(&ar, f.data, f.len, bds_proto_offset(&r, f.data));
			while ((rc = bds_proto_next(&ar, &af)) > 0)
				if (af.number == 1 && af.wire == BDS_PROTO_LEN) {
					name = (struct slice){(const char *)af.data, af.len};
					break;
				}
			if (rc < 0)
				return -1;
			if (n == hs->attrs_cap) {
				hs->attrs_cap = hs->attrs_cap ? hs->attrs_cap * 2 : 64;
				hs->attrs = bds_util_xrealloc(hs->attrs, hs->attrs_cap * sizeof *hs->attrs);
			}
			hs->attrs[n++] = (struct attr){name, {(const char *)f.data, f.len}};
		}
	}
	if (rc < 0)
		return -1;
	/* tags: the first attribute named "tags", its string_list_value entries */
	*always_affected = 0;
	if (hs->o->always_affected_tags && hs->o->always_affected_tags[0]) {
		for (size_t i = 0; i < n; i++) {
			if (hs->attrs[i].name.n != 4 || memcmp(hs->attrs[i].name.p, "tags", 4) != 0)
				continue;
			struct bds_proto_reader ar;
			struct bds_proto_field af;
			bds_proto_reader_init(&ar, (const uint8_t *)hs->attrs[i].raw.p, hs->attrs[i].raw.n, 0);
			while (bds_proto_next(&ar, &af) > 0)
				if (af.number == 6 && af.wire == BDS_PROTO_LEN &&
				    in_list(hs->o->always_affected_tags, (const char *)af.data, af.len))
					*always_affected = 1;
			break;
		}
	}
	qsort(hs->attrs, n, sizeof *hs->attrs, attr_cmp);
	bds_sha256_update(&hs->sha, rule_class.p, rule_class.n);
	bds_sha256_update(&hs->sha, t->name, t->name_len);
	bds_sha256_update(&hs->sha, skylark.p, skylark.n);
	for (size_t i = 0; i < n; i++) {
		struct slice nm = hs->attrs[i].name;
		if ((nm.n == 18 && memcmp(nm.p, "generator_location", 18) == 0) ||
		    in_list(hs->o->ignored_attrs, nm.p, nm.n))
			continue;
		bds_sha256_update(&hs->sha, hs->attrs[i].raw.p, hs->attrs[i].raw.n);
	}
	bds_sha256_final(&hs->sha, out);
	return 0;
}

/* RuleHasher.digest (spec 2.6) for a rule whose dependencies are all hashed. */
static int hash_rule(struct hasher *hs, struct frame *fr)
{
	struct bds_target *t = &hs->g->targets[fr->rule];
	unsigned char d[BDS_SHA256_LEN];
	int always;
	if (rule_digest(hs, t, d, &always) < 0)
		return -1;
	bds_target_digest_direct(&hs->td, d, sizeof d);
	bds_target_digest_direct(&hs->td, hs->o->seed, BDS_SHA256_LEN);
	int rc = rule_bzl_seed(hs, t, d);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		bds_target_digest_direct(&hs->td, d, sizeof d);
	} else if (hs->pkg_seed) {
		const unsigned char *ps = bds_strmap_get(hs->pkg_seed, t->name, bds_label_package_len(t->name, t->name_len));
		if (ps)
			bds_target_digest_direct(&hs->td, ps, BDS_SHA256_LEN);
	}
	if (always)
		bds_target_digest_direct(&hs->td, hs->sentinel, 36);
	if (hs->o->track_deps)
		t->deps = bds_util_xmalloc((fr->count ? fr->count : 1) * sizeof *t->deps);
	for (size_t i = 0; i < fr->count; i++) {
		struct input *in = &fr->inputs[i];
		struct slice bare = bare_label(in->label);
		bds_target_digest_direct(&hs->td, in->label.p, in->label.n);
		int32_t dep = input_rule(hs, in);
		if (dep < 0 && in->target >= 0) { /* a source-file target */
			bds_target_digest_direct(&hs->td, hs->g->targets[in->target].source_digest, BDS_SHA256_LEN);
		} else if (dep >= 0 && dep != fr->rule) {
			bds_target_digest_transitive(&hs->td, hs->g->targets[dep].overall);
			if (t->deps)
				t->deps[t->n_deps++] = in->target;
		} else { /* unknown label, or the rule's own output */
			rc = soft_digest_cached(hs, hs->soft, bare.p, bare.n, d);
			if (rc < 0)
				return -1;
			if (rc == 1)
				bds_target_digest_direct(&hs->td, d, sizeof d);
			else
				hs->unresolved++;
		}
	}
	bds_target_digest_finish(&hs->td, t->overall, t->direct);
	t->state = DONE;
	return 0;
}

static void pop_frame(struct hasher *hs)
{
	struct frame *fr = &hs->stack[--hs->depth];
	free(fr->inputs);
	free(fr->synthetic);
}

static int push_frame(struct hasher *hs, int32_t rule)
{
	if (hs->depth == hs->stack_cap) {
		hs->stack_cap = hs->stack_cap ? hs->stack_cap * 2 : 256;
		hs->stack = bds_util_xrealloc(hs->stack, hs->stack_cap * sizeof *hs->stack);
	}
	struct frame *fr = &hs->stack[hs->depth++];
	memset(fr, 0, sizeof *fr);
	fr->rule = rule;
	hs->g->targets[rule].state = IN_PROGRESS;
	return collect_inputs(hs, fr);
}

/* "Circular dependency detected: a -> b -> a" from the DFS stack. */
static int cycle_error(struct hasher *hs, int32_t begin)
{
	size_t cap = 4096, len = 0;
	char *msg = bds_util_xmalloc(cap);
	len += (size_t)snprintf(msg, cap, "circular dependency detected: %.*s",
	                        (int)hs->g->targets[begin].name_len, hs->g->targets[begin].name);
	size_t from = 0;
	for (size_t i = 0; i < hs->depth; i++)
		if (hs->stack[i].rule == begin)
			from = i + 1;
	for (size_t i = from; i <= hs->depth && len < cap; i++) {
		const struct bds_target *t = &hs->g->targets[i < hs->depth ? hs->stack[i].rule : begin];
		len += (size_t)snprintf(msg + len, cap - len, " -> %.*s", (int)t->name_len, t->name);
	}
	bds_util_fail("%s", msg);
	free(msg);
	return -1;
}

static int hash_from(struct hasher *hs, int32_t root)
{
	if (push_frame(hs, root) < 0)
		return -1;
	while (hs->depth > 0) {
		struct frame *fr = &hs->stack[hs->depth - 1];
		int pushed = 0;
		while (fr->next < fr->count) {
			int32_t dep = input_rule(hs, &fr->inputs[fr->next]);
			if (dep >= 0 && dep != fr->rule && hs->g->targets[dep].state != DONE) {
				if (hs->g->targets[dep].state == IN_PROGRESS)
					return cycle_error(hs, dep);
				if (push_frame(hs, dep) < 0)
					return -1;
				pushed = 1;
				break;
			}
			fr->next++;
		}
		if (pushed)
			continue;
		if (hash_rule(hs, fr) < 0)
			return -1;
		pop_frame(hs);
	}
	return 0;
}

/* Package .bzl seeds (spec 2.4 fallback), used only when no rule has a stack. */
struct pkg_label {
	struct slice pkg, label;
};

static int pkg_label_cmp(const void *a, const void *b)
{
	const struct pkg_label *x = a, *y = b;
	int c = slice_java_cmp(&x->pkg, &y->pkg);
	return c ? c : slice_java_cmp(&x->label, &y->label);
}

static int package_seeds(struct hasher *hs)
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
			int found = soft_digest_cached(hs, hs->bzl, pl[j].label.p, pl[j].label.n, d);
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

static void free_digest(void *v)
{
	if (v != NOT_FOUND)
		free(v);
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
	int rc = -1;
	int sha_ok = 0, td_ok = 0;
	hs.soft = bds_strmap_new(1024);
	hs.bzl = bds_strmap_new(256);
	if (bds_sha256_init(&hs.sha) < 0)
		goto out;
	sha_ok = 1;
	if (bds_target_digest_init(&hs.td) < 0)
		goto out;
	td_ok = 1;
	if (o->always_affected_tags && o->always_affected_tags[0] && random_uuid(hs.sentinel) < 0)
		goto out;
	if (bds_graph_link(g) < 0 || bds_hash_sources(g, o) < 0)
		goto out;
	if (!g->has_instantiation_stacks && package_seeds(&hs) < 0)
		goto out;
	for (size_t i = 0; i < g->count; i++)
		if (g->targets[i].type == BDS_TARGET_RULE && g->targets[i].state != DONE && hash_from(&hs, (int32_t)i) < 0)
			goto out;
	/* Source files: SHA256(raw digest || seed || package seed); generated files: their rule. */
	for (size_t i = 0; i < g->count; i++) {
		struct bds_target *t = &g->targets[i];
		if (t->type == BDS_TARGET_SOURCE_FILE) {
			bds_sha256_update(&hs.sha, t->source_digest, BDS_SHA256_LEN);
			bds_sha256_update(&hs.sha, o->seed, BDS_SHA256_LEN);
			const unsigned char *ps =
				hs.pkg_seed ? bds_strmap_get(hs.pkg_seed, t->name, bds_label_package_len(t->name, t->name_len)) : NULL;
			if (ps)
				bds_sha256_update(&hs.sha, ps, BDS_SHA256_LEN);
			bds_sha256_final(&hs.sha, t->overall);
			memcpy(t->direct, t->overall, BDS_SHA256_LEN);
		} else if (t->type == BDS_TARGET_GENERATED_FILE) {
			memcpy(t->overall, g->targets[t->rule].overall, BDS_SHA256_LEN);
			memcpy(t->direct, g->targets[t->rule].direct, BDS_SHA256_LEN);
			if (o->track_deps) {
				t->deps = bds_util_xmalloc(sizeof *t->deps);
				t->deps[0] = t->rule;
				t->n_deps = 1;
			}
		}
	}
	rc = 0;
out:
	while (hs.depth > 0)
		pop_frame(&hs);
	free(hs.stack);
	free(hs.attrs);
	free(hs.paths);
	bds_strmap_free(hs.soft, free_digest);
	bds_strmap_free(hs.bzl, free_digest);
	bds_strmap_free(hs.pkg_seed, free);
	if (td_ok)
		bds_target_digest_free(&hs.td);
	if (sha_ok)
		bds_sha256_free(&hs.sha);
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

int bds_hash_write_json(FILE *out, const struct bds_graph *g, int include_type, char **types)
{
	size_t n;
	int32_t *idx = sorted_targets(g, types, 0, &n);
	fputs(n ? "{\n" : "{", out);
	for (size_t k = 0; k < n; k++) {
		const struct bds_target *t = &g->targets[idx[k]];
		char overall[65], direct[65];
		bds_digest_hex(t->overall, BDS_SHA256_LEN, overall);
		bds_digest_hex(t->direct, BDS_SHA256_LEN, direct);
		fputs("  ", out);
		bds_json_put_string(out, t->name, t->name_len);
		fputs(": \"", out);
		if (include_type) {
			fputs(bds_target_type_name(t->type), out);
			putc('#', out);
		}
		fputs(overall, out);
		putc('~', out);
		fputs(direct, out);
		fputs(k + 1 < n ? "\",\n" : "\"\n", out);
	}
	fputs("}", out);
	free(idx);
	if (fflush(out) != 0 || ferror(out))
		return bds_util_fail("write hashes: %s", strerror(errno ? errno : EIO));
	return 0;
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

/* incremental: the stubs of a graph state merged under a partial query's targets
 * (docs/algorithm.md 6.3). */
#include "incremental.h"

#include "label.h"
#include "strmap.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* The package of a main-repository label ("//a/b:c" -> "a/b"), or NULL for another
 * repository's. */
static const char *label_package(const char *name, size_t n, size_t *len)
{
	int i = bds_label_main_repo_prefix(name, n);
	if (i < 0)
		return NULL;
	size_t pkg = bds_label_package_len(name, n);
	if (pkg < (size_t)i)
		return NULL;
	*len = pkg - (size_t)i;
	return name + i;
}

static int in_packages(const struct bds_strmap *packages, const struct bds_state_target *t)
{
	size_t n = 0;
	const char *p = label_package(t->name, t->name_len, &n);
	return p && bds_strmap_has(packages, p, n);
}

/* Why a stub cannot stand for a target of this revision, or NULL. */
static const char *stub_refused(const struct bds_state_target *t)
{
	if (t->flags & BDS_STATE_ALWAYS)
		return "has an always-affected tag and was not queried again";
	if (t->flags & BDS_STATE_OUTSIDE)
		return "reads a path outside the workspace and was not queried again";
	return NULL;
}

int bds_incremental_merge(struct bds_graph *g, const struct bds_state *s, char **packages,
                          const unsigned char seed[BDS_SHA256_LEN], int32_t **where)
{
	if (memcmp(seed, s->seed, BDS_SHA256_LEN) != 0)
		return bds_util_fail("the seed files (--seed-filepaths) or the hash options differ from the state's"), 1;
	struct bds_strmap *pkgs = bds_strmap_new(64);
	for (char **p = packages; p && *p; p++)
		bds_strmap_put(pkgs, *p, strlen(*p), NULL);
	int32_t *at = bds_util_xmalloc((s->count ? s->count : 1) * sizeof *at);
	size_t first_stub = g->count;
	bds_graph_reserve(g, g->count + s->count);
	int rc = 0;
	for (size_t i = 0; i < s->count && rc == 0; i++) {
		const struct bds_state_target *st = &s->targets[i];
		at[i] = bds_graph_find(g, st->name, st->name_len);
		if (at[i] >= 0)
			continue; /* queried again: this revision's own target */
		if (in_packages(pkgs, st))
			continue; /* its package was queried whole without it: deleted (or renamed) */
		const char *why = stub_refused(st);
		if (why) {
			rc = 1;
			bds_util_fail("target '%.*s' %s", (int)st->name_len, st->name, why);
			break;
		}
		at[i] = bds_graph_add_stub(g, st->type, st->name, st->name_len);
		struct bds_target *t = &g->targets[at[i]];
		t->flags = st->flags;
		memcpy(t->overall, st->overall, BDS_SHA256_LEN);
		memcpy(t->direct, st->direct, BDS_SHA256_LEN);
		if (st->source)
			memcpy(t->source_digest, st->source, BDS_SHA256_LEN);
		if (st->flags & BDS_STATE_HAS_STACK)
			g->has_instantiation_stacks = 1;
	}
	/* the stubs' edges, now that every state target has its index here */
	for (size_t i = 0; i < s->count && rc == 0; i++) {
		const struct bds_state_target *st = &s->targets[i];
		struct bds_target *t = &g->targets[at[i]];
		if (at[i] < 0 || (size_t)at[i] < first_stub || st->type == BDS_TARGET_SOURCE_FILE)
			continue;
		t->deps = bds_util_xmalloc((st->n_deps ? st->n_deps : 1) * sizeof *t->deps);
		t->n_deps = st->n_deps;
		for (uint32_t d = 0; d < st->n_deps && rc == 0; d++) {
			uint32_t dep = bds_state_u32(st->deps + 4 * d);
			t->deps[d] = at[dep];
			/* Every rule naming a label of a queried package is queried too (plan.c):
			 * a stub cannot depend on a deleted target unless the plan missed it. */
			if (at[dep] < 0) {
				rc = 1;
				bds_util_fail("target '%.*s' depends on '%.*s', which is gone", (int)st->name_len, st->name,
				              (int)s->targets[dep].name_len, s->targets[dep].name);
			}
		}
		if (rc != 0)
			break;
		if (st->type == BDS_TARGET_GENERATED_FILE) {
			if (st->n_deps != 1) {
				rc = bds_util_fail("state: generated file '%.*s' without its rule", (int)st->name_len, st->name);
				break;
			}
			t->generating_rule = g->targets[t->deps[0]].name;
			t->generating_rule_len = g->targets[t->deps[0]].name_len;
		}
	}
	if (rc == 0 && !g->has_instantiation_stacks) {
		rc = 1; /* package .bzl seeds (docs/algorithm.md 2.4) need every source file's subincludes */
		bds_util_fail("no rule has an instantiation stack (package seeds are not kept in a state)");
	}
	if (rc == 0)
		*where = at;
	else
		free(at);
	bds_strmap_free(pkgs, NULL);
	return rc;
}

uint8_t *bds_incremental_changed(const struct bds_graph *g, const struct bds_state *s, const int32_t *where)
{
	uint8_t *changed = bds_util_xmalloc(g->count ? g->count : 1);
	memset(changed, 1, g->count); /* a target the state lacks is new */
	for (size_t i = 0; i < s->count; i++) {
		if (where[i] < 0)
			continue; /* deleted: no line in this revision's hashes */
		const struct bds_state_target *st = &s->targets[i];
		const struct bds_target *t = &g->targets[where[i]];
		changed[where[i]] = t->type != st->type || memcmp(t->overall, st->overall, BDS_SHA256_LEN) != 0 ||
		                    memcmp(t->direct, st->direct, BDS_SHA256_LEN) != 0;
	}
	return changed;
}

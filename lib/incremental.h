/* incremental: hashing a revision from a graph state of another revision and a query of
 * only the targets whose hashes may differ (docs/algorithm.md 6.3). */
#ifndef BDS_INCREMENTAL_H
#define BDS_INCREMENTAL_H

#include "graph.h"
#include "state.h"

/* After the stream of re-queried targets is read into g: adds every target of the state
 * that the stream lacks as a stub (the state's hashes and dependency edges), once the
 * change is one the state can stand for. `packages` (NULL-terminated) are those the plan
 * queried whole: a state target of theirs missing from the stream was deleted. `seed` is this run's bds_hash_state_key
 * (seed and options). Returns 0; 1 when the answer could differ from a full hashing
 * run (the reason recorded: another seed, a stub that would depend on a deleted target, ...); -1 on an error. The
 * state must outlive g (stubs point into it). On 0, *where (malloc'd, s->count entries)
 * is each state target's index in g, or -1 when this revision has no such target. */
int bds_incremental_merge(struct bds_graph *g, const struct bds_state *s, char **packages,
                          const unsigned char seed[BDS_SHA256_LEN], int32_t **where);

/* After g is hashed: per target of g, 1 when its hashes line can differ from the one the
 * state's revision had (a new target, or another kind, overall or direct digest), else 0
 * (docs/algorithm.md 6.4). `where` is bds_incremental_merge's. Malloc'd, g->count bytes. */
uint8_t *bds_incremental_changed(const struct bds_graph *g, const struct bds_state *s, const int32_t *where);

#endif

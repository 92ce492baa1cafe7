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
 * state must outlive g (stubs point into it). */
int bds_incremental_merge(struct bds_graph *g, const struct bds_state *s, char **packages,
                          const unsigned char seed[BDS_SHA256_LEN]);

#endif

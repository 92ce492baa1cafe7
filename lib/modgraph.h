/* modgraph: bazel-diff's module-graph path of get-impacted-targets (docs/algorithm.md 4.5):
 * which modules changed between two `bazel mod graph --output=json` graphs, and which
 * canonical repositories of the final hashes bazel-diff then asks `rdeps` about. */
#ifndef BDS_MODGRAPH_H
#define BDS_MODGRAPH_H

#include "diff.h"

#include <jv.h>
#include <stdio.h>

enum bds_modgraph_path {
	BDS_MODGRAPH_ERROR = -1, /* bds cannot tell what bazel-diff would do (error recorded) */
	BDS_MODGRAPH_PLAIN = 0,  /* the plain diff (4.2) is bazel-diff's answer */
	BDS_MODGRAPH_QUERY = 1,  /* bazel-diff queries rdeps of *repos, then adds the plain diff */
};

/* Decides the path for `from` and `to`. On BDS_MODGRAPH_QUERY, *repos is a malloc'd,
 * NULL-terminated list of canonical repository names (no "@@"), sorted; free it with
 * bds_util_free_list. */
enum bds_modgraph_path bds_modgraph_decide(const struct bds_diff_hashes *from, const struct bds_diff_hashes *to,
                                           char ***repos);

/* bazel-diff's rdeps query for `repos`: "rdeps(//..., @@a//... + @@b//...)". Malloc'd. */
char *bds_modgraph_query(char **repos);

/* bazel-diff v37's expansion of --fineGrainedHashExternalRepos with Bzlmod (issue #197;
 * docs/algorithm.md 1.5): `repos` (the comma-separated values as given), then ",@name" for
 * each Bzlmod module that transitively depends on one of them, from `text` (the module
 * graph as bazel-diff reads `bazel mod graph --output=json`'s output: lines joined and
 * trimmed; `path` names it in errors). Malloc'd; NULL with the error recorded when bds
 * cannot read the graph as bazel-diff's Gson would. */
char *bds_modgraph_fine_grained(const char *text, size_t len, const char *path, const char *repos);

/* bazel-diff v37's Bzlmod repositories as synthetic //external targets (Bazel 8.6+ but
 * 9.0.0; BazelQueryService.queryBzlmodRepos, docs/algorithm.md 1.6). */

/* discoverRepoMapping: from the stdout of `bazel mod dump_repo_mapping ""` (`out`, `len`;
 * `path` names it in errors), *mapping a jv array of [apparent, canonical] pairs (empty
 * where bazel-diff's parse fails). 0, or -1 with the error recorded (*mapping invalid)
 * when bds cannot read it as Gson would. */
int bds_modgraph_repo_mapping(const char *out, size_t len, const char *path, jv *mapping);

/* The arguments of `bazel mod show_repo` for a mapping (consumed): "@@<canonical>" for each
 * Bzlmod canonical name, each once, in order. A malloc'd NULL-terminated list. */
char **bds_modgraph_show_repo_names(jv mapping);

/* The synthetic targets for the mapping (consumed), the show_repo output in `repos_path`
 * and the module graph text (as bazel-diff reads it; `graph_path` names it), written to
 * `out` as a varint-delimited stream of build.proto Targets. A local_repository's files
 * are read under `workspace`. 0, or -1 with the error recorded. */
int bds_modgraph_repo_targets(jv mapping, const char *repos_path, const char *graph_text, size_t graph_len,
                              const char *graph_path, const char *workspace, FILE *out);

#endif

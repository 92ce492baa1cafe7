#!/bin/sh
# The CI step of a pull (merge) request: the Bazel targets it impacts, into
# $BDS_OUT/impacted-targets.txt, warm when this runner holds the base's warm server, else by
# the cold path. Called by both CI examples (examples/github-actions/bds-consume.yml,
# examples/gitlab-ci.yml), which only set the environment; tests/examples.bats runs it as
# they do.
#
# Environment:
#   BDS_BASE_SHA  the base commit's full sha (github.event.pull_request.base.sha,
#                 CI_MERGE_REQUEST_DIFF_BASE_SHA); the clone may be depth 1 without it
#   BDS_STORE     the store, as for record.sh
#   BDS_OUT       directory for the answer and the timings (default bds-out)
#   BDS_OPTIONS   exactly as given to record.sh (default --include-target-type)
#   BDS_REMOTE    the remote to fetch the base from for the cold path (default origin)
set -eu
out=${BDS_OUT:-bds-out}
mkdir -p "$out"
# the checked-out commit is the target: the pull request's head, or its merge commit
rc=0
# shellcheck disable=SC2086 # BDS_OPTIONS is a list of words
bds consume -w . --target HEAD --base "$BDS_BASE_SHA" --store "$BDS_STORE" \
	--timings "$out/consume-timings.json" -o "$out/impacted-targets.txt" \
	${BDS_OPTIONS---include-target-type} || rc=$?
case $rc in
0) exit 0 ;;
2) ;;
*) exit "$rc" ;;
esac
# Exit 2: no warm server for the base on this runner. --cold takes the half-cold path when
# the store holds the base's entry (only the target is hashed; no base commit needed), else
# the full cold path, which needs the base commit itself: when a depth-1 clone lacks it,
# that fails, and the base (one commit) is fetched for a second try. Fetching only then
# matters on a large repository, where one commit is a whole tree.
echo "consume.sh: warm path unavailable: the cold path" >&2
cold() {
	# shellcheck disable=SC2086
	bds consume -w . --target HEAD --base "$BDS_BASE_SHA" --store "$BDS_STORE" --cold \
		--timings "$out/cold-timings.json" -o "$out/impacted-targets.txt" \
		${BDS_OPTIONS---include-target-type}
}
rc=0
cold || rc=$?
if [ "$rc" -ne 0 ] && [ "$(git rev-parse --is-shallow-repository)" = true ] &&
	! git rev-parse --verify --quiet "$BDS_BASE_SHA^{commit}" >/dev/null; then
	echo "consume.sh: the full cold path needs the base commit: fetching it" >&2
	git fetch -q --depth=1 "${BDS_REMOTE:-origin}" "$BDS_BASE_SHA"
	cold
else
	exit "$rc"
fi

#!/bin/sh
# bazel-asks.sh: what asking Bazel for its version and for Bzlmod (docs/algorithm.md 1.4)
# costs a full bds-generate-hashes on a warm server: this tree's against another's (an
# earlier commit's, which asks nothing), alternating in one run on one generated workspace
# and one server, so that the ratio is side by side; and the two asks alone. The answers of
# both trees are byte-compared (a difference is a loud failure: exit 1). A markdown table
# on stdout; every run in DIR/bazel-asks-runs.tsv.
#   bench/bazel-asks.sh --against TREE [--targets N] [--runs R] [--dir DIR]
# TREE: another source tree, built:
#   git worktree add /tmp/old COMMIT && make -C /tmp/old -j2 all
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=bazel-asks sizes=20000 runs=5 against=""
extra_usage='--against TREE'
extra_option() {
	case $1 in
	--against) [ $# -ge 2 ] && took=2 && against=$2 ;;
	esac
}
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"
[ -n "$against" ] || { echo "usage: bench/bazel-asks.sh $extra_usage [--targets N] [--runs R] [--dir DIR]" >&2; exit 64; }
against=$(cd "$against" && pwd)
if [ ! -x "$against/scripts/bds-generate-hashes" ] || [ ! -x "$against/build/bin/bds-hash" ]; then
	echo "bench/bazel-asks.sh: '$against' is not a built source tree" >&2
	exit 1
fi

n=${sizes%% *}
ws=$dir/ws-$n
[ -d "$ws/.git" ] || "$top/bench/gen-workspace" "$ws" --targets "$n" >/dev/null
git -C "$ws" checkout -q base
ob=$dir/output_base
trap 'bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true' EXIT
# one warm server for both trees: its first query loads the graph
bds-generate-hashes -w "$ws" -so "--output_base=$ob" "$dir/first.json" 2>/dev/null

runs_tsv=$dir/bazel-asks-runs.tsv
printf 'run\twhat\tseconds\n' > "$runs_tsv"
# timed WHAT CMD...: CMD's wall time into the runs file
timed() {
	what=$1
	shift
	t0=$(now)
	"$@" > /dev/null 2>&1 || { echo "bench/bazel-asks.sh: '$what' failed" >&2; exit 1; }
	t1=$(now)
	printf '%s\t%s\t%s\n' "$r" "$what" "$(echo "$t1 - $t0" | bc)" >> "$runs_tsv"
}
r=1
while [ "$r" -le "$runs" ]; do
	timed "this tree: generate-hashes" env BDS_HASH="$top/build/bin/bds-hash" \
		"$top/scripts/bds-generate-hashes" -w "$ws" -so "--output_base=$ob" "$dir/this.json"
	timed "other tree: generate-hashes" env BDS_HASH="$against/build/bin/bds-hash" \
		"$against/scripts/bds-generate-hashes" -w "$ws" -so "--output_base=$ob" "$dir/other.json"
	cmp -s "$dir/this.json" "$dir/other.json" ||
		{ echo "bench/bazel-asks.sh: ANSWERS DIFFER (run $r): $dir/this.json $dir/other.json" >&2; exit 1; }
	# the two asks alone (bazel version fails on Debian's 4.2.3: timed all the same)
	t0=$(now)
	(cd "$ws" && bazel --output_base="$ob" version) > /dev/null 2>&1 || true
	t1=$(now)
	printf '%s\t%s\t%s\n' "$r" "bazel version" "$(echo "$t1 - $t0" | bc)" >> "$runs_tsv"
	t0=$(now)
	(cd "$ws" && bazel --output_base="$ob" mod graph --output=json) > /dev/null 2>&1 || true
	t1=$(now)
	printf '%s\t%s\t%s\n' "$r" "bazel mod graph" "$(echo "$t1 - $t0" | bc)" >> "$runs_tsv"
	r=$((r + 1))
done

echo "| $n targets, warm server, median of $runs | seconds |"
echo "|---|---|"
for what in "this tree: generate-hashes" "other tree: generate-hashes" "bazel version" "bazel mod graph"; do
	m=$(awk -F '\t' -v w="$what" '$2 == w { print $3 }' "$runs_tsv" | median)
	echo "| $what | $m |"
done

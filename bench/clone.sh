#!/bin/sh
# clone.sh: one warm machine (local driver), consumed from the recording clone, from a
# second full clone at another path, and from a depth-1 clone of the change with --base,
# side by side in one run on a generated workspace; every answer byte-compared with
# bds-cold's.
#   bench/clone.sh [--targets N] [--runs R] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=clone sizes=20000
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"
n=$sizes

ws=$dir/ws-$n store=$dir/store-$n
[ -d "$ws/.git" ] || "$top/bench/gen-workspace" "$ws" --targets "$n" >/dev/null
base=$(git -C "$ws" rev-parse base) change=$(git -C "$ws" rev-parse change)
rm -rf "$store" "$dir/ws2" "$dir/shallow"
git clone -q "$ws" "$dir/ws2"
git -c advice.detachedHead=false clone -q --depth 1 --branch change "file://$ws" "$dir/shallow"
bds-record -w "$ws" --base "$base" --store "$store" 2>"$dir/record.log"
bds-cold -w "$ws" --base "$base" --target "$change" > "$dir/cold.out" 2>"$dir/cold.log"

echo "| consuming clone | consume (whole) | its checkout phase | answers equal to bds-cold |"
echo "|---|---|---|---|"
# kind NAME WS ARGS...: R consumes of change from that clone; every run starts from the
# base checked out (as after a record), so each one fetches and checks out the change.
kind() {
	name=$1 cws=$2
	shift 2
	: > "$dir/t"; : > "$dir/c"
	equal=yes i=0
	while [ "$i" -lt "$runs" ]; do
		wt=$(echo "$BDS_CACHE"/local/*/"$base"/worktree)
		git -C "$wt" checkout -q --force --detach "$base"
		t0=$(now)
		bds-consume -w "$cws" --target "$change" --store "$store" "$@" > "$dir/warm.out" 2>"$dir/consume.log"
		t1=$(now)
		cmp -s "$dir/cold.out" "$dir/warm.out" || equal=NO
		! grep -q cold "$dir/consume.log" || equal="NO (cold)"
		echo "$t1 - $t0" | bc >> "$dir/t"
		sed -n 's/^bds-consume: checkout \([0-9.]*\)s$/\1/p' "$dir/consume.log" | tail -n 1 >> "$dir/c"
		i=$((i + 1))
	done
	awk -v k="$name" -v t="$(median < "$dir/t")" -v c="$(median < "$dir/c")" -v e="$equal" \
		'BEGIN { printf "| %s | %.2f s | %.2f s | %s |\n", k, t, c, e }'
}
kind "recording clone" "$ws"
kind "second full clone (another path)" "$dir/ws2"
kind "depth-1 clone of the change, --base" "$dir/shallow" --base "$base"
echo "($n targets, median of $runs runs, $(nproc) cores)"

#!/bin/sh
# consume.sh: cold (bds-cold, fresh server) vs warm (bds-consume, local driver) side by
# side in one run, on generated workspaces, with a byte-equality check of every answer.
#   bench/consume.sh [--targets "20000 60000"] [--runs R] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=consume sizes="20000 60000"
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"

echo "| targets | cold (bds-cold) | warm (bds-consume) | speed-up | bare incremental query | bds's own phases (consume less its query) | answers equal |"
echo "|---|---|---|---|---|---|---|"
for n in $sizes; do
	record_base "$n"
	: > "$dir/cold-$n"; : > "$dir/warm-$n"; : > "$dir/query-$n"; : > "$dir/own-$n"
	ob=$(jq -r '.driver_state.output_base' "$store"/*/*/metadata.json)
	wt=$(dirname "$ob")/worktree
	printf '%s\n' "'//external:all-targets' + '//...:all-targets'" > "$dir/q.txt"
	# warm_query REV: the bare incremental query the warm server answers for REV (a name
	# of the workspace's repository: the warm worktree is a repository of its own, which
	# holds the commit once the consume fetched it)
	warm_query() {
		git -C "$wt" checkout -q --force --detach "$(git -C "$ws" rev-parse "$1^{commit}")"
		(cd "$wt" && bazel --output_base="$ob" query --output streamed_proto \
			--proto:instantiation_stack --order_output=no --query_file "$dir/q.txt" > /dev/null 2>&1)
	}
	equal=yes i=0
	while [ "$i" -lt "$runs" ]; do
		warm_query base # every consume starts from a server that holds the base graph
		t0=$(now)
		bds-cold -w "$ws" --base base --target change > "$dir/cold.out" 2>>"$dir/cold-$n.log"
		t1=$(now)
		bds-consume -w "$ws" --target change --store "$store" > "$dir/warm.out" 2>>"$dir/consume-$n.log"
		t2=$(now)
		cmp -s "$dir/cold.out" "$dir/warm.out" || equal=NO
		echo "$t1 - $t0" | bc >> "$dir/cold-$n"
		echo "$t2 - $t1" | bc >> "$dir/warm-$n"
		# bds's own share: the whole consume less the Bazel query inside it
		q_in=$(grep '^bds-consume: query ' "$dir/consume-$n.log" | tail -n 1 | sed 's/.* \([0-9.]*\)s$/\1/')
		echo "$t2 - $t1 - $q_in" | bc >> "$dir/own-$n"
		# the same incremental query (base graph -> change) on the bare warm server
		warm_query base
		t3=$(now)
		warm_query change
		t4=$(now)
		echo "$t4 - $t3" | bc >> "$dir/query-$n"
		i=$((i + 1))
	done
	c=$(median < "$dir/cold-$n"); w=$(median < "$dir/warm-$n"); q=$(median < "$dir/query-$n")
	o=$(median < "$dir/own-$n")
	awk -v n="$n" -v c="$c" -v w="$w" -v q="$q" -v o="$o" -v e="$equal" 'BEGIN {
		printf "| %d | %.2f s | %.2f s | %.1fx | %.2f s | %.2f s (%.0f %%) | %s |\n",
			n, c, w, c / w, q, o, 100 * o / w, e }'
	shutdown_all
done
echo "(median of $runs runs, $(nproc) cores; phase lines of the last consume:)"
for n in $sizes; do tail -n 9 "$dir/consume-$n.log" | sed "s/^/    $n: /"; done

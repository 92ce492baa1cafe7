#!/bin/sh
# phases.sh: bds's own phases of a warm consume (local driver) at each size, old and new
# side by side in one run: the checkout stage of a commit the warm repository lacks (a
# one-file leaf edit of the base), as bds-guest-checkout ran it before its fetch offered
# the warm repository's HEAD ("old": the clone sent the commit's whole tree) and as it
# runs now; bds-diff alone on the base and target hashes; and one whole consume's phases
# (its stderr's timing lines; not --timings, which reads both hashes files once more to
# count them), with bds's own share of its wall time (everything but the query).
#   bench/phases.sh [--targets "60000 150000"] [--runs R] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=phases sizes="60000 150000"
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"

# The old stage: today's, its fetch without the negotiation tip; beside it the shell
# library, where the stage looks for it in a source tree.
mkdir -p "$dir/old/lib"
cp "$top/scripts/lib/bds.sh" "$dir/old/lib/"
# shellcheck disable=SC2016 # $tip is the stage's
sed 's/--depth=1 \$tip /--depth=1 /' "$top/scripts/bds-guest-checkout" > "$dir/old/bds-guest-checkout"
chmod +x "$dir/old/bds-guest-checkout"
if cmp -s "$top/scripts/bds-guest-checkout" "$dir/old/bds-guest-checkout"; then
	echo "bench/phases.sh: the stage's fetch line changed: cannot make the old stage" >&2
	exit 1
fi

# leaf_commit WS TEXT: a new commit on base that appends TEXT to the source file the
# generated change edits (the warm repository never holds it before its checkout)
leaf_commit() {
	f=$(git -C "$1" diff --name-only base change -- '*.txt' | head -n 1)
	blob=$({ git -C "$1" show "base:$f" && echo "$2"; } | git -C "$1" hash-object -w --stdin)
	GIT_INDEX_FILE=$dir/index git -C "$1" read-tree base
	GIT_INDEX_FILE=$dir/index git -C "$1" update-index --cacheinfo "100644,$blob,$f"
	tree=$(GIT_INDEX_FILE=$dir/index git -C "$1" write-tree)
	rm -f "$dir/index"
	git -C "$1" commit-tree "$tree" -p base -m "$2"
}

# checkout_time STAGE REV: seconds STAGE takes to put the warm worktree, reset to the
# base first, at REV
checkout_time() {
	git -C "$wt" checkout -q --force --detach "$(git -C "$ws" rev-parse 'base^{commit}')"
	t0=$(now)
	"$1" -w "$ws" --rev "$2" < "$dir/env" > /dev/null
	t1=$(now)
	[ "$(git -C "$wt" rev-parse HEAD)" = "$2" ] || { echo "bench/phases.sh: $1 left the worktree elsewhere" >&2; exit 1; }
	echo "$t1 - $t0" | bc
}

echo "| targets | files | checkout, old | checkout, new | bds-diff | consume (new) | its query | bds's own phases | own share |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in $sizes; do
	record_base "$n"
	ob=$(jq -r '.driver_state.output_base' "$store"/*/*/metadata.json)
	wt=$(dirname "$ob")/worktree
	base_json=$(echo "$store"/*/*/base_hashes.json)
	jq -cn --arg wt "$wt" '{vm: {driver: "local", worktree: $wt}}' > "$dir/env"
	: > "$dir/old-$n"; : > "$dir/new-$n"; : > "$dir/diff-$n"
	i=0
	while [ "$i" -lt "$runs" ]; do
		checkout_time "$dir/old/bds-guest-checkout" "$(leaf_commit "$ws" "old $i $$")" >> "$dir/old-$n"
		checkout_time bds-guest-checkout "$(leaf_commit "$ws" "new $i $$")" >> "$dir/new-$n"
		i=$((i + 1))
	done
	# bds-diff alone: the base's hashes against the target's (the warm server hashes the
	# worktree, left at the last new commit)
	bds-generate-hashes -w "$wt" --startup-option "--output_base=$ob" > "$dir/target-$n.json" 2>/dev/null
	jq -cn --arg b "$base_json" --arg t "$dir/target-$n.json" '{hashes: {base: $b, target: $t}}' > "$dir/diff-env"
	i=0
	while [ "$i" -lt "$runs" ]; do
		t0=$(now)
		bds-diff < "$dir/diff-env" > /dev/null
		t1=$(now)
		echo "$t1 - $t0" | bc >> "$dir/diff-$n"
		i=$((i + 1))
	done
	# one whole consume of a fresh leaf edit, from a server that holds the base graph
	git -C "$wt" checkout -q --force --detach "$(git -C "$ws" rev-parse 'base^{commit}')"
	c=$(leaf_commit "$ws" "consume $$")
	t0=$(now)
	bds-consume -w "$ws" --target "$c" --store "$store" > "$dir/warm.out" 2>"$dir/consume-$n.log"
	t1=$(now)
	bds-cold -w "$ws" --base base --target "$c" > "$dir/cold.out" 2>"$dir/cold-$n.log"
	cmp -s "$dir/cold.out" "$dir/warm.out" || { echo "bench/phases.sh: consume and bds-cold differ at $n targets" >&2; exit 1; }
	files=$(git -C "$ws" ls-files | wc -l)
	awk -v n="$n" -v f="$files" -v o="$(median < "$dir/old-$n")" -v w="$(median < "$dir/new-$n")" \
		-v d="$(median < "$dir/diff-$n")" \
		-v all="$(echo "$t1 - $t0" | bc)" \
		-v q="$(sed -n 's/^bds-consume: query \([0-9.]*\)s$/\1/p' "$dir/consume-$n.log")" 'BEGIN {
		printf "| %d | %d | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.0f %% |\n",
			n, f, o, w, d, all, q, all - q, 100 * (all - q) / all }'
	shutdown_all
done
echo "(median of $runs runs, $(nproc) cores; the consume's phases, answers equal to bds-cold's:)"
for n in $sizes; do
	sed -n 's/^bds-consume: \([a-z+]*\) \([0-9.]*s\)$/\1 \2/p' "$dir/consume-$n.log" | paste -s -d, - | sed "s/^/    $n: /; s/,/, /g"
done

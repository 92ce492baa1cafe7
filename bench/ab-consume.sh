#!/bin/sh
# ab-consume.sh: one warm consume (local driver, the change-proportional path) by this
# tree's build and by another's, alternating in one run, so that their ratio is measured
# side by side on a shared, noisy machine. Per size: the generated workspace, its base
# recorded once by each tree (each build has a key of its own, so two warm machines), the
# edit (bench/incremental.sh's: leaf, deep, build or bzl), then R rounds of: each tree's
# server brought back to the base graph, then its consume of the edit, timed. Every answer
# is byte-compared with this tree's bds-cold's (a difference is a loud failure: exit 1).
# A markdown table on stdout: per tree, the median whole consume and the median of each
# phase its stderr's timing lines name; every run in DIR/ab-consume-runs.tsv.
#   bench/ab-consume.sh --against TREE [--targets "150000"] [--runs R] [--dir DIR]
#       [--edit leaf|deep|build|bzl]
# TREE: another source tree, built (TREE/build/bin) — an earlier commit's, say:
#   git worktree add /tmp/old COMMIT && make -C /tmp/old -j2 all
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=ab-consume sizes=150000 runs=5 against="" edit=leaf
extra_usage='--against TREE [--edit leaf|deep|build|bzl]'
extra_option() {
	case $1 in
	--against) [ $# -ge 2 ] && took=2 && against=$2 ;;
	--edit) [ $# -ge 2 ] && took=2 && edit=$2 ;;
	esac
}
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"
usage() { echo "usage: bench/ab-consume.sh $extra_usage [--targets \"N ...\"] [--runs R] [--dir DIR]" >&2; exit 64; }
[ -n "$against" ] || usage
against=$(cd "$against" && pwd) || usage
if [ ! -x "$against/build/bin/bds-hash" ] || [ ! -x "$against/scripts/bds-consume" ]; then
	echo "bench/ab-consume.sh: '$against' is not a built source tree (no build/bin/bds-hash)" >&2
	exit 1
fi
case $edit in leaf|deep|build|bzl) ;; *) usage ;; esac

# edit_commit and edit_rev: bench/incremental.sh's edits
# shellcheck source=bench/edits.sh
. "$top/bench/edits.sh"

# with_tree TREE CMD...: CMD with TREE's build and scripts first on PATH
with_tree() {
	t=$1
	shift
	PATH="$t/build/bin:$t/scripts:$PATH" "$@"
}
# record TREE N LABEL: TREE's record of the base of ws-N into store-N-LABEL; sets ob_LABEL
record() {
	st=$dir/store-$2-$3
	rm -rf "$st"
	with_tree "$1" bds-record -w "$dir/ws-$2" --base base --store "$st" 2>"$dir/record-$2-$3.log"
	eval "ob_$3=\$(jq -r '.driver_state.output_base' \"\$st\"/*/*/metadata.json)"
}
# consume TREE N LABEL RUN REV: TREE's server back at the base graph, then its consume
consume() {
	eval "ob=\$ob_$3"
	wt=$(dirname "$ob")/worktree
	git -C "$wt" checkout -q --force --detach "$(git -C "$dir/ws-$2" rev-parse 'base^{commit}')"
	(cd "$wt" && bazel --output_base="$ob" query --output streamed_proto \
		--proto:instantiation_stack --order_output=no --query_file "$dir/q.txt" > /dev/null 2>&1)
	log=$dir/log-$2-$3-$4
	t0=$(now)
	rc=0
	with_tree "$1" bds-consume -w "$dir/ws-$2" --target "$5" --store "$dir/store-$2-$3" > "$dir/warm.out" 2> "$log" || rc=$?
	t1=$(now)
	[ "$rc" -eq 0 ] || { echo "bench/ab-consume.sh: $3's bds-consume exited $rc:" >&2; tail -n 20 "$log" >&2; exit 1; }
	if ! cmp -s "$dir/cold-$2.out" "$dir/warm.out"; then
		cp "$dir/warm.out" "$dir/differ-$2-$3-$4.out"
		echo "bench/ab-consume.sh: ANSWERS DIFFER at $2 targets: $3 run $4 vs bds-cold ($dir/differ-$2-$3-$4.out)" >&2
		exit 1
	fi
	# the phases: "bds-consume: NAME S.SSs" lines, one row each
	printf '%s\t%s\t%s\ttotal\t%s\n' "$2" "$3" "$4" "$(echo "$t1 - $t0" | bc)" >> "$runs_tsv"
	sed -n 's/^bds-consume: \([a-z+ ]*\) \([0-9.]*\)s$/\1\t\2/p' "$log" |
		awk -F '\t' -v n="$2" -v l="$3" -v r="$4" '{ s[$1] += $2 } END { for (k in s) printf "%s\t%s\t%s\t%s\t%.3f\n", n, l, r, k, s[k] }' >> "$runs_tsv"
}

runs_tsv=$dir/ab-consume-runs.tsv
printf 'targets\ttree\trun\tphase\tseconds\n' > "$runs_tsv"
printf '%s\n' "'//external:all-targets' + '//...:all-targets'" > "$dir/q.txt"
here_id=$(git -C "$top" describe --always --dirty 2>/dev/null || echo this)
there_id=$(git -C "$against" describe --always --dirty 2>/dev/null || echo against)
echo "| targets | edit | tree | consume (median of $runs) | fingerprint | lookup | restore | checkout | query | hash | diff |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for n in $sizes; do
	ws=$dir/ws-$n
	[ -d "$ws/.git" ] || "$top/bench/gen-workspace" "$ws" --targets "$n" >/dev/null
	edit_rev "$edit" # sets rev

	bds-cold -w "$ws" --base base --target "$rev" > "$dir/cold-$n.out" 2> "$dir/cold-$n.log"
	record "$top" "$n" new
	record "$against" "$n" old
	i=0
	while [ "$i" -lt "$runs" ]; do
		consume "$against" "$n" old "$i" "$rev"
		consume "$top" "$n" new "$i" "$rev"
		i=$((i + 1))
	done
	for label in old new; do
		id=$here_id
		[ "$label" = new ] || id=$there_id
		row="| $n | $edit | $label ($id) |"
		for p in total fingerprint lookup restore checkout query hash diff; do
			m=$(awk -F '\t' -v n="$n" -v l="$label" -v p="$p" '$1 == n && $2 == l && $4 == p { print $5 }' "$runs_tsv" | median)
			row="$row ${m:-?} s |"
		done
		echo "$row"
	done
	shutdown_all
done
echo "(2 cores; the two trees' consumes alternate; phases from each consume's timing lines; every answer byte-compared with bds-cold's)"

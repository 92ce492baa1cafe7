#!/bin/sh
# half-cold.sh: the full cold path (bds-cold: base and target hashed) vs the half-cold path
# (bds-consume --cold with no warm machine, the base's hashes read from the store entry:
# only the target hashed), side by side in one run, on generated workspaces, with a
# byte-equality check of every answer.
#   bench/half-cold.sh [--targets "20000 60000"] [--runs R] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
sizes="20000 60000" runs=3 dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--targets) sizes=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	*) echo "usage: bench/half-cold.sh [--targets \"N ...\"] [--runs R] [--dir DIR]" >&2; exit 64 ;;
	esac
done
[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/bds-bench-half-cold
mkdir -p "$dir"
PATH="$top/build/bin:$top/scripts:$PATH"
export PATH
export BDS_CACHE="$dir/cache"
now() { date +%s.%N; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
shutdown_all() {
	for ob in "$BDS_CACHE"/local/*/*/output_base; do
		if [ -d "$ob" ]; then bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true; fi
	done
}
trap shutdown_all EXIT

echo "| targets | full cold (bds-cold) | half-cold (bds-consume --cold, no warm machine) | speed-up | answers equal |"
echo "|---|---|---|---|---|"
for n in $sizes; do
	ws=$dir/ws-$n store=$dir/store-$n
	[ -d "$ws/.git" ] || "$top/bench/gen-workspace" "$ws" --targets "$n" >/dev/null
	rm -rf "$store" "$BDS_CACHE"
	bds-record -w "$ws" --base base --store "$store" 2>"$dir/record-$n.log"
	# the warm machine is gone: its server shut down and its local state removed
	shutdown_all
	chmod -R u+w "$BDS_CACHE/local" && rm -rf "$BDS_CACHE/local"
	git -C "$ws" worktree prune
	: > "$dir/cold-$n"; : > "$dir/half-$n"; : > "$dir/cold-$n.log"; : > "$dir/half-$n.log"
	equal=yes i=0
	while [ "$i" -lt "$runs" ]; do
		t0=$(now)
		bds-cold -w "$ws" --base base --target change > "$dir/cold.out" 2>>"$dir/cold-$n.log"
		t1=$(now)
		bds-consume -w "$ws" --base base --target change --store "$store" --cold > "$dir/half.out" 2>>"$dir/half-$n.log"
		t2=$(now)
		cmp -s "$dir/cold.out" "$dir/half.out" || equal=NO
		[ -s "$dir/cold.out" ] || equal="NO (empty)"
		echo "$t1 - $t0" | bc >> "$dir/cold-$n"
		echo "$t2 - $t1" | bc >> "$dir/half-$n"
		i=$((i + 1))
	done
	# every half-cold run must really have been half-cold
	h=$(grep -c '^bds-consume: half-cold: base .* only the target is hashed' "$dir/half-$n.log") || h=0
	[ "$h" -eq "$runs" ] || equal="$equal (only $h of $runs runs half-cold)"
	c=$(median < "$dir/cold-$n"); hc=$(median < "$dir/half-$n")
	awk -v n="$n" -v c="$c" -v h="$hc" -v e="$equal" 'BEGIN {
		printf "| %d | %.2f s | %.2f s | %.2fx | %s |\n", n, c, h, c / h, e }'
done
echo "(median of $runs runs, $(nproc) cores; phase lines of the last runs:)"
for n in $sizes; do
	grep '^bds-cold: ' "$dir/cold-$n.log" | tail -n 6 | sed "s/^/    $n cold: /"
	grep '^bds-c[a-z]*: ' "$dir/half-$n.log" | grep -v 'cold: \|half-cold: ' | tail -n 7 | sed "s/^/    $n half: /"
done

#!/bin/sh
# half-cold.sh: the full cold path (bds-cold: base and target hashed) vs the half-cold path
# (bds-consume --cold with no warm machine, the base's hashes read from the store entry:
# only the target hashed), side by side in one run, on generated workspaces, with a
# byte-equality check of every answer.
#   bench/half-cold.sh [--targets "20000 60000"] [--runs R] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=half-cold sizes="20000 60000"
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"

echo "| targets | full cold (bds-cold) | half-cold (bds-consume --cold, no warm machine) | speed-up | Bazel+hash in full cold (base + target) | Bazel+hash in half-cold (target) | answers equal |"
echo "|---|---|---|---|---|---|---|"
for n in $sizes; do
	rm -rf "$BDS_CACHE"
	record_base "$n"
	# the warm machine is gone: its server shut down and its local state removed
	shutdown_all
	chmod -R u+w "$BDS_CACHE/local" && rm -rf "$BDS_CACHE/local"
	git -C "$ws" worktree prune
	for f in cold half cold-hash half-hash cold-$n.log half-$n.log; do : > "$dir/$f"; done
	# run_cold, run_half: one run each, its time and its hashing phases (bds-cold's "hash
	# base" and "hash target" lines: Bazel's query piped into bds-hash) appended
	run_cold() {
		t0=$(now)
		bds-cold -w "$ws" --base base --target change > "$dir/cold.out" 2>"$dir/run.log"
		t1=$(now)
		echo "$t1 - $t0" | bc >> "$dir/cold"
		awk '/^bds-cold: hash (base|target) / { sub(/s$/, "", $4); s += $4 } END { print s }' "$dir/run.log" >> "$dir/cold-hash"
		cat "$dir/run.log" >> "$dir/cold-$n.log"
	}
	run_half() {
		t0=$(now)
		bds-consume -w "$ws" --base base --target change --store "$store" --cold > "$dir/half.out" 2>"$dir/run.log"
		t1=$(now)
		echo "$t1 - $t0" | bc >> "$dir/half"
		awk '/^bds-cold: hash (base|target) / { sub(/s$/, "", $4); s += $4 } END { print s }' "$dir/run.log" >> "$dir/half-hash"
		cat "$dir/run.log" >> "$dir/half-$n.log"
	}
	equal=yes i=0
	while [ "$i" -lt "$runs" ]; do
		# the order alternates, so neither path always runs on a cache the other warmed
		if [ $((i % 2)) -eq 0 ]; then run_cold; run_half; else run_half; run_cold; fi
		cmp -s "$dir/cold.out" "$dir/half.out" || equal=NO
		[ -s "$dir/cold.out" ] || equal="NO (empty)"
		i=$((i + 1))
	done
	# every half-cold run must really have been half-cold
	h=$(grep -c '^bds-consume: half-cold: base .* only the target is hashed' "$dir/half-$n.log") || h=0
	[ "$h" -eq "$runs" ] || equal="$equal (only $h of $runs runs half-cold)"
	c=$(median < "$dir/cold"); hc=$(median < "$dir/half")
	ch=$(median < "$dir/cold-hash"); hh=$(median < "$dir/half-hash")
	awk -v n="$n" -v c="$c" -v h="$hc" -v ch="$ch" -v hh="$hh" -v e="$equal" 'BEGIN {
		printf "| %d | %.2f s | %.2f s | %.2fx | %.1f s | %.1f s | %s |\n", n, c, h, c / h, ch, hh, e }'
done
echo "(median of $runs runs, $(nproc) cores; phase lines of the last runs:)"
for n in $sizes; do
	grep '^bds-cold: ' "$dir/cold-$n.log" | tail -n 6 | sed "s/^/    $n cold: /"
	grep '^bds-c[a-z]*: ' "$dir/half-$n.log" | grep -v 'cold: \|half-cold: ' | tail -n 7 | sed "s/^/    $n half: /"
done

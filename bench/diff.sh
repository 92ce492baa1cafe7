#!/bin/sh
# diff.sh: bds-diff on two generated hashes files of N entries (default 200k): wall time and
# peak RSS, plain and with distances, next to libjq parsing one of the files (not part of
# `make check`).
#   bench/diff.sh [--entries N] [--runs R] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
entries=200000 runs=5 dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--entries) [ $# -ge 2 ] || exit 64; entries=$2; shift 2 ;;
	--runs) [ $# -ge 2 ] || exit 64; runs=$2; shift 2 ;;
	--dir) [ $# -ge 2 ] || exit 64; dir=$2; shift 2 ;;
	*) echo "usage: bench/diff.sh [--entries N] [--runs R] [--dir DIR]" >&2; exit 64 ;;
	esac
done
[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/bds-bench-diff-$entries
mkdir -p "$dir"
diff_bin=$top/build/bin/bds-diff
[ -x "$diff_bin" ] || { echo "bench/diff.sh: build $diff_bin first (make)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/diff.sh: /usr/bin/time is missing (scripts/install-deps)" >&2; exit 1; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

if [ ! -s "$dir/to.json" ]; then
	echo "bench/diff.sh: generating two hashes files of $entries entries in $dir" >&2
	"$top/bench/gen-hashes" "$dir/from.json" "$dir/to.json" --entries "$entries" --dep-edges "$dir/deps.json"
fi

# measure NAME COMMAND...: median wall seconds, CPU seconds (user + system) and peak RSS
# (KB) over the runs; CPU time is the steadier figure on a shared machine
measure() {
	name=$1; shift
	: > "$dir/t-$name"; : > "$dir/c-$name"; : > "$dir/m-$name"
	i=0
	while [ "$i" -lt "$runs" ]; do
		/usr/bin/time -f '%e %M %U %S' -o "$dir/time.out" "$@" > "$dir/out-$name" 2>"$dir/err-$name"
		cut -d' ' -f1 "$dir/time.out" >> "$dir/t-$name"
		cut -d' ' -f2 "$dir/time.out" >> "$dir/m-$name"
		awk '{ print $3 + $4 }' "$dir/time.out" >> "$dir/c-$name"
		i=$((i + 1))
	done
	echo "$name $(median < "$dir/t-$name") $(median < "$dir/c-$name") $(median < "$dir/m-$name")"
}

{
	measure plain "$diff_bin" "$dir/from.json" "$dir/to.json"
	measure distances "$diff_bin" --dep-edges "$dir/deps.json" "$dir/from.json" "$dir/to.json"
	measure jq-parse-one-file jq length "$dir/from.json"
} > "$dir/results"

size=$(wc -c < "$dir/from.json")
impacted=$(wc -l < "$dir/out-plain")
echo "bench/diff.sh: $entries entries per file ($(awk -v s="$size" 'BEGIN { printf "%.0f", s / 1e6 }') MB each), $impacted impacted, median of $runs runs"
echo "| run | wall | CPU | peak RSS |"
echo "|---|---|---|---|"
awk '{ printf "| %s | %.2f s | %.2f s | %.0f MB |\n", $1, $2, $3, $4 / 1024 }' "$dir/results"

#!/bin/sh
# hash.sh: bds-hash's cost next to the warm `bazel query` that feeds it, measured side by
# side in one run on a generated workspace (not part of `make check`).
#   bench/hash.sh [--targets N] [--runs R] [--dir DIR] [--against BDS-HASH]
# --against: another build's bds-hash (an earlier commit's, say), timed on the same stream
# in the same runs, alternating with this tree's, with its output compared.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=hash sizes=200000 runs=5 targets_usage=N against=""
extra_usage="[--against BDS-HASH]"
extra_option() {
	took=0
	if [ "$1" = --against ] && [ $# -ge 2 ]; then against=$2 took=2; fi
}
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"
targets=$sizes
# one workspace for each size, in one scratch directory (as clone.sh keeps them)
ws=$dir/ws-$targets
hash_bin=$top/build/bin/bds-hash
bazel() { command bazel --output_user_root="$dir/bazel-root" --nohome_rc "$@"; }

[ -d "$ws/.git" ] || "$top/bench/gen-workspace" "$ws" --targets "$targets" >/dev/null
printf '%s\n' "'//external:all-targets' + '//...:all-targets'" > "$dir/query.txt"
cd "$ws"
trap 'cd "$ws" && bazel shutdown >/dev/null 2>&1 || true' EXIT
query() {
	bazel query --output streamed_proto --proto:instantiation_stack --order_output=no \
		--query_file "$dir/query.txt" 2>>"$dir/query.log"
}
echo "bench/hash.sh: warming the Bazel server on $targets targets" >&2
query > "$dir/q.bin"
query > "$dir/q.bin"

: > "$dir/t-query"; : > "$dir/t-pipe"; : > "$dir/t-hash"; : > "$dir/rss"; : > "$dir/t-against"
i=0
while [ "$i" -lt "$runs" ]; do
	t0=$(now); query > "$dir/q.bin"; t1=$(now)
	echo "$t1 - $t0" | bc >> "$dir/t-query"
	t0=$(now); query | "$hash_bin" -w "$ws" > "$dir/h-pipe.json"; t1=$(now)
	echo "$t1 - $t0" | bc >> "$dir/t-pipe"
	/usr/bin/time -f '%e %M' -o "$dir/time.out" "$hash_bin" -w "$ws" < "$dir/q.bin" > "$dir/h.json"
	cut -d' ' -f1 "$dir/time.out" >> "$dir/t-hash"
	cut -d' ' -f2 "$dir/time.out" >> "$dir/rss"
	cmp -s "$dir/h.json" "$dir/h-pipe.json" || { echo "bench/hash.sh: piped and file hashes differ" >&2; exit 1; }
	if [ -n "$against" ]; then
		/usr/bin/time -f '%e' -o "$dir/time.out" "$against" -w "$ws" < "$dir/q.bin" > "$dir/h-against.json"
		cat "$dir/time.out" >> "$dir/t-against"
		cmp -s "$dir/h.json" "$dir/h-against.json" || echo "bench/hash.sh: $against's hashes differ from this tree's" >&2
	fi
	i=$((i + 1))
done

size=$(wc -c < "$dir/q.bin")
q=$(median < "$dir/t-query"); p=$(median < "$dir/t-pipe"); h=$(median < "$dir/t-hash")
rss=$(median < "$dir/rss")
count=$(jq length "$dir/h.json")
echo "| targets | query output | warm query | query \| bds-hash | bds-hash alone | bds-hash / query | peak RSS | RSS / output |"
echo "|---|---|---|---|---|---|---|---|"
awk -v n="$count" -v s="$size" -v q="$q" -v p="$p" -v h="$h" -v r="$rss" 'BEGIN {
	printf "| %d | %.0f MB | %.2f s | %.2f s | %.2f s | %.1f %% | %.0f MB | %.2fx |\n",
		n, s / 1e6, q, p, h, 100 * h / q, r / 1024, r * 1024 / s }'
"$top/build/bench/decode-bench" "$dir/q.bin" 5
if [ -n "$against" ]; then
	a=$(median < "$dir/t-against")
	awk -v h="$h" -v a="$a" -v b="$against" 'BEGIN { printf "bds-hash alone: this tree %.2f s, %s %.2f s (this tree / it: %.3f)\n", h, b, a, h / a }'
fi
echo "(median of $runs runs; $(nproc) cores)"

#!/bin/bash
# remote-consume: a qemu consume whose entry comes from a remote store (nginx on loopback,
# an empty cache: every chunk fetched, docs/store.md 4) against one whose cache already
# holds the entry (warm local cache), alternating, side by side. Real guest image (Bazel
# inside; software emulation unless BDS_VM_ACCEL says otherwise): the generated
# workspace's `base` recorded into the store, then `change` (one commit later) consumed.
# Every answer is compared with the first. Issue 16's goal: remote within 1.5x of local.
# bash: the server helpers it shares with the tests probe ports with bash's /dev/tcp.
#   bench/remote-consume.sh [--runs R] [--targets N] [--mem-mib M] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
runs=2 targets=150 mem=1536 dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--runs) [ $# -ge 2 ] || set -- --usage; runs=$2; shift 2 ;;
	--targets) [ $# -ge 2 ] || set -- --usage; targets=$2; shift 2 ;;
	--mem-mib) [ $# -ge 2 ] || set -- --usage; mem=$2; shift 2 ;;
	--dir) [ $# -ge 2 ] || set -- --usage; dir=$2; shift 2 ;;
	*) echo "usage: bench/remote-consume.sh [--runs R] [--targets N] [--mem-mib M] [--dir DIR]" >&2; exit 64 ;;
	esac
done
[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/bds-bench-remote-consume
rm -rf "$dir"
mkdir -p "$dir"
PATH="$top/build/bin:$top/scripts:$PATH"
export PATH
"$top/scripts/install-deps" --vm >/dev/null

BDS_TOP=$top BATS_FILE_TMPDIR=$dir
# shellcheck source=tests/store-helpers.bash
. "$top/tests/store-helpers.bash"
trap stop_store_servers EXIT
start_nginx
store="$NGINX_URL/dav/store"

# shellcheck source=bench/guest-image.sh
. "$top/bench/guest-image.sh"
guest_bench_image remote-consume
export BDS_VM_ACCEL="${BDS_VM_ACCEL:-tcg}"
BDS_CACHE="$dir/record-cache" bds-record --driver qemu -w "$dir/ws" --base "$base" --store "$store" \
	2> "$dir/record.log" || { cat "$dir/record.log" >&2; exit 1; }
git -C "$dir/ws" checkout -q "$change"

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# consume KIND CACHE: one consume with BDS_CACHE=CACHE; appends "KIND SECONDS" to times,
# and "KIND PHASE SECONDS" per phase (--timings) to phases
consume() {
	t0=$(now)
	BDS_CACHE=$2 bds-consume --driver qemu -w "$dir/ws" --store "$store" --target "$change" \
		-o "$dir/answer" --timings "$dir/timings.json" 2> "$dir/consume.log" ||
		{ cat "$dir/consume.log" >&2; exit 1; }
	echo "$1 $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')" >> "$dir/times"
	jq -r --arg k "$1" '.phases[] | "\($k) \(.name | gsub(" "; "_")) \(.seconds)"' "$dir/timings.json" >> "$dir/phases"
	if [ -f "$dir/first-answer" ]; then
		cmp -s "$dir/first-answer" "$dir/answer" || { echo "bench: the answers differ" >&2; exit 1; }
	else
		cp "$dir/answer" "$dir/first-answer"
	fi
}
# the local cache, warmed by one consume
consume warmup "$dir/local-cache"
: > "$dir/times"
: > "$dir/phases"
for run in $(seq "$runs"); do
	rm -rf "$dir/remote-cache"
	if [ $((run % 2)) = 1 ]; then
		consume remote "$dir/remote-cache"
		consume local "$dir/local-cache"
	else
		consume local "$dir/local-cache"
		consume remote "$dir/remote-cache"
	fi
done
r=$(awk '$1 == "remote" { print $2 }' "$dir/times" | median)
l=$(awk '$1 == "local" { print $2 }' "$dir/times" | median)
echo "qemu consume of $change ($(wc -l < "$dir/answer") impacted targets), medians of $runs:"
echo "  from nginx, empty cache: $r s"
echo "  warm local cache:        $l s"
echo "  ratio: $(awk -v r="$r" -v l="$l" 'BEGIN { printf "%.2f", r / l }')"
echo "  phases (median seconds, remote / local):"
awk '{ print $2 }' "$dir/phases" | awk '!seen[$0]++' | while read -r p; do
	pr=$(awk -v p="$p" '$1 == "remote" && $2 == p { print $3 }' "$dir/phases" | median)
	pl=$(awk -v p="$p" '$1 == "local" && $2 == p { print $3 }' "$dir/phases" | median)
	echo "    $p: $pr / $pl"
done

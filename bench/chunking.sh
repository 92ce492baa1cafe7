#!/bin/sh
# chunking: what the record of a second base, one commit after the first, uploads to a
# chunked store (docs/store.md 4) that holds the first, and what a consume of it fetches.
# Real guest image (Bazel inside; software emulation unless BDS_VM_ACCEL says otherwise),
# the generated workspace's `base`, then its `change` (one commit later), each recorded with
# the qemu driver, side by side:
#   from-previous: the second record starts from the first's machine (bds-record's default);
#   fresh: the second record boots afresh (--fresh-boot), into a copy of the same store.
# Prints each record's `bds-store-publish: uploaded ...` line, then the lookup of the second
# entry with a chunk cache holding the first's chunks and with an empty one. Needs root (the
# image is built from Debian packages, scripts/install-deps --vm).
#   bench/chunking.sh [--targets N] [--mem-mib M] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
targets=150 mem=1536 dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--targets) [ $# -ge 2 ] || set -- --usage; targets=$2; shift 2 ;;
	--mem-mib) [ $# -ge 2 ] || set -- --usage; mem=$2; shift 2 ;;
	--dir) [ $# -ge 2 ] || set -- --usage; dir=$2; shift 2 ;;
	*) echo "usage: bench/chunking.sh [--targets N] [--mem-mib M] [--dir DIR]" >&2; exit 64 ;;
	esac
done
[ -x "$top/build/bench/cdc-bench" ] || { echo "bench/chunking.sh: no build/bench/cdc-bench (run make)" >&2; exit 1; }
[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/bds-bench-chunking
rm -rf "$dir"
mkdir -p "$dir"
PATH="$top/build/bin:$top/scripts:$PATH"
export PATH
"$top/scripts/install-deps" --vm >/dev/null

# shellcheck source=bench/guest-image.sh
. "$top/bench/guest-image.sh"
guest_bench_image chunking
export BDS_CACHE="$dir/cache"
# software emulation unless told otherwise: "auto" takes KVM whenever /dev/kvm opens, and on
# machines where it opens but boots no guest the record would wait for the guest in vain
export BDS_VM_ACCEL="${BDS_VM_ACCEL:-tcg}"
# record STORE REV LOG [OPTIONS]: one record, its time and its upload line
record() {
	store=$1 rev=$2 log=$3
	shift 3
	t0=$(date +%s)
	bds-record --driver qemu -w "$dir/ws" --base "$rev" --store "$store" "$@" 2> "$log" ||
		{ cat "$log" >&2; exit 1; }
	echo "  recorded $rev in $(($(date +%s) - t0)) s: $(sed -n 's/^bds-store-publish: //p' "$log" | tail -n 1)"
	sed -n 's/^bds-record: \(started from\|booting a fresh\)/  \1/p' "$log"
}
echo "first record ($base):"
record "$dir/store" "$base" "$dir/record-base.log"
cp -a "$dir/store" "$dir/store-fresh"
echo "second record ($change), from the first's machine:"
record "$dir/store" "$change" "$dir/record-change.log"
echo "second record ($change), a fresh boot:"
BDS_CACHE="$dir/cache-fresh" record "$dir/store-fresh" "$change" "$dir/record-change-fresh.log" --fresh-boot

# lookup STORE CACHE: the second entry, fetched into CACHE
lookup() {
	fp=$(basename "$(dirname "$(echo "$1"/*/"$change")")")
	jq -nc --arg ws "$dir/ws" --arg fp "$fp" '{workspace: $ws, fingerprint: {key: $fp}, driver: "qemu"}' |
		BDS_CACHE=$2 bds-store-lookup --store "$1" --target "$change" --max-distance 0 2>&1 >/dev/null |
		sed -n 's/^bds-store-lookup: [^ ]*: /  /p'
}
# the chunk cache as the second record left it (the first entry's chunks), without copies
mkdir -p "$dir/cache-first"
cp -a "$dir/cache/chunks" "$dir/cache-first/"
echo "lookup of the second entry (from the first's machine), chunk cache holding the first's chunks:"
lookup "$dir/store" "$dir/cache"
echo "lookup of the second entry (from the first's machine), empty chunk cache:"
lookup "$dir/store" "$dir/cache-empty"
echo "lookup of the second entry (fresh boot), chunk cache holding the first's chunks:"
lookup "$dir/store-fresh" "$dir/cache-first"

#!/bin/sh
# chunking: what a record of a second base, one commit after the first, would upload to a
# store that already holds the first, if entries were chunked (docs/store.md 4): two qemu
# records of the real guest image (Bazel inside; software emulation unless KVM works) into
# one store, the generated workspace's `base` and then its `change` (one commit later), and
# then build/bench/cdc-bench on each VM file of the two entries: content-defined (FastCDC,
# lib/chunk.c) and fixed-size chunks of 256 KiB to 4 MiB on average. Needs root (the image
# is built from Debian packages, scripts/install-deps --vm).
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

"$top/bench/gen-workspace" "$dir/ws" --targets "$targets" > "$dir/shas"
base=$(awk '$1 == "base" { print $2 }' "$dir/shas")
change=$(awk '$1 == "change" { print $2 }' "$dir/shas")
git -C "$dir/ws" checkout -q "$base"
ssh-keygen -q -t ed25519 -N '' -C bds-bench-chunking -f "$dir/key"
"$top/guest/build-image" --out "$dir/img" --workspace "$dir/ws" --pubkey "$dir/key.pub" \
	--vcpus 1 --mem-mib "$mem" --disk-gib 3 > "$dir/image.log" 2>&1
export BDS_VM_IMAGE="$dir/img" BDS_VM_KEY="$dir/key" BDS_CACHE="$dir/cache"
# software emulation unless told otherwise: "auto" takes KVM whenever /dev/kvm opens, and on
# machines where it opens but boots no guest the record would wait for the guest in vain
export BDS_VM_ACCEL="${BDS_VM_ACCEL:-tcg}"
for rev in "$base" "$change"; do
	t0=$(date +%s)
	bds-record --driver qemu -w "$dir/ws" --base "$rev" --store "$dir/store" 2> "$dir/record-$rev.log"
	echo "recorded $rev in $(($(date +%s) - t0)) s"
done
first=$(echo "$dir"/store/*/"$base")
second=$(echo "$dir"/store/*/"$change")
for f in mem disk vmstate; do
	if [ ! -f "$first/$f" ] || [ ! -f "$second/$f" ]; then continue; fi
	echo "== $f: $(du -k --apparent-size "$second/$f" | cut -f1) KiB ($(du -k "$second/$f" | cut -f1) KiB allocated)"
	"$top/build/bench/cdc-bench" "$first/$f" "$second/$f"
done

#!/bin/sh
# qemu-restore: the qemu driver's restore-to-first-command latency (bds-vm-restore, then a
# command over ssh in the restored guest) and its snapshot size, as medians over RUNS
# restores, for both snapshot modes side by side: `shared` (guest RAM in a file mapped
# privately on restore, device state only in vmstate) and `stream` (all RAM in vmstate).
# The guest first dirties FILL_MIB of RAM so that the modes differ as they would with a warm
# Bazel server. Default guest: the tiny test guest; --image/--key use a real one.
# Usage: bench/qemu-restore.sh [--runs N] [--fill-mib M] [--image DIR --key KEY]
set -eu

runs=5 fill=128 image="" key=""
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--fill-mib) fill=$2; shift 2 ;;
	--image) image=$2; shift 2 ;;
	--key) key=$2; shift 2 ;;
	*) echo "usage: bench/qemu-restore.sh [--runs N] [--fill-mib M] [--image DIR --key KEY]" >&2; exit 64 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
PATH="${BDS_BUILD:-$top/build}/bin:$top/scripts:$PATH"
export PATH
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bds-qemu-bench.XXXXXX")
sleep 100000 &
owner=$!
cleanup() {
	kill "$owner" 2>/dev/null || true
	sleep 0.5 # the keepers notice their owner is gone and remove their VMs
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

if [ -z "$image" ]; then
	ssh-keygen -q -t ed25519 -N '' -f "$tmp/key"
	"$top/tests/tiny-guest/build" --out "$tmp/img" --pubkey "$tmp/key.pub" --mem-mib 512 >/dev/null 2>&1
	image=$tmp/img key=$tmp/key
fi
export BDS_VM_IMAGE="$image" BDS_VM_KEY="$key" BDS_CACHE="$tmp/cache"
export BDS_VM_ACCEL="${BDS_VM_ACCEL:-tcg}"
git init -q "$tmp/ws"
git -C "$tmp/ws" -c user.name=b -c user.email=b@b commit -q --allow-empty -m base
base=$(git -C "$tmp/ws" rev-parse HEAD)

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
stop_vm() {
	k=$(jq -r .vm.keeper_pid "$1")
	kill -TERM "$k"
	while kill -0 "$k" 2>/dev/null; do sleep 0.05; done
}

for mode in shared stream; do
	export BDS_QEMU_SNAPSHOT=$mode
	d=$tmp/$mode
	mkdir -p "$d"
	bds-fingerprint -w "$tmp/ws" --driver qemu > "$d/e1"
	bds-vm-restore --driver qemu --base "$base" --lock-owner "$owner" < "$d/e1" > "$d/e2"
	bds-guest-exec --ready-timeout 600 -- sh -c "head -c $((fill * 1024 * 1024)) /dev/urandom > /tmp/fill" \
		< "$d/e2" > "$d/e3"
	echo '{}' > "$d/h.json"
	t0=$(date +%s.%N)
	bds-vm-snapshot --driver qemu --base-hashes "$d/h.json" < "$d/e3" > "$d/e4"
	t1=$(date +%s.%N)
	stop_vm "$d/e2"
	bds-store-publish --store "$d/store" < "$d/e4" > /dev/null
	bds-store-lookup --store "$d/store" --target "$base" < "$d/e1" > "$d/lookup"
	entry=$(jq -r .snapshot.dir "$d/lookup")
	: > "$d/times"
	i=0
	while [ "$i" -lt "$runs" ]; do
		s=$(date +%s.%N)
		bds-vm-restore --driver qemu --lock-owner "$owner" < "$d/lookup" > "$d/r"
		bds-guest-exec -- true < "$d/r" > /dev/null
		e=$(date +%s.%N)
		echo "$e - $s" | bc >> "$d/times"
		stop_vm "$d/r"
		i=$((i + 1))
	done
	sizes=$(cd "$entry" && for f in vmstate mem disk; do
		[ -f "$f" ] && printf ' %s=%s/%s' "$f" "$(du -h --apparent-size "$f" | cut -f1)" "$(du -h "$f" | cut -f1)"
	done)
	printf 'qemu %s: restore to first command median %.2f s over %d runs; snapshot write %.2f s;' \
		"$mode" "$(median < "$d/times")" "$runs" "$(echo "$t1 - $t0" | bc)"
	echo " entry (apparent/allocated):$sizes"
done

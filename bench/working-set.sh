#!/bin/sh
# working-set: how much of a qemu entry's memory a consume touches, and when: what a lazy
# restore (docs/store.md 4.3) would have to fetch before the guest runs its first command,
# and by the end of a whole consume. Real guest image (Bazel inside; software emulation
# unless BDS_VM_ACCEL says otherwise): the generated workspace's `base` recorded with the
# qemu driver, its entry looked up; then (1) a restore and one command in the guest, (2) a
# whole consume of `change`, one commit later. A restore maps the cached copy's `mem`
# privately, so the pages of it mapped into QEMU (/proc/PID/pagemap, sampled every 0.2 s)
# are those the guest touched (give or take the kernel's fault-around). Reports them, and
# the chunks of `mem` that hold them (what a chunk-by-chunk lazy restore fetches), against
# mem's size and its non-zero part. Needs root (pagemap).
#   bench/working-set.sh [--targets N] [--mem-mib M] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
targets=150 mem=1536 dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--targets) [ $# -ge 2 ] || set -- --usage; targets=$2; shift 2 ;;
	--mem-mib) [ $# -ge 2 ] || set -- --usage; mem=$2; shift 2 ;;
	--dir) [ $# -ge 2 ] || set -- --usage; dir=$2; shift 2 ;;
	*) echo "usage: bench/working-set.sh [--targets N] [--mem-mib M] [--dir DIR]" >&2; exit 64 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "bench/working-set.sh: needs root (/proc/PID/pagemap)" >&2; exit 1; }
[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/bds-bench-working-set
rm -rf "$dir"
mkdir -p "$dir"
PATH="$top/build/bin:$top/scripts:$PATH"
export PATH
"$top/scripts/install-deps" --vm >/dev/null

# shellcheck source=bench/guest-image.sh
. "$top/bench/guest-image.sh"
guest_bench_image working-set
export BDS_CACHE="$dir/cache"
export BDS_VM_ACCEL="${BDS_VM_ACCEL:-tcg}"
bds-record --driver qemu -w "$dir/ws" --base "$base" --store "$dir/store" 2> "$dir/record.log" ||
	{ cat "$dir/record.log" >&2; exit 1; }
git -C "$dir/ws" checkout -q "$change"

sleep 100000 &
owner=$!
trap 'kill "$owner" 2>/dev/null || true' EXIT
bds-fingerprint -w "$dir/ws" --driver qemu |
	bds-store-lookup --store "$dir/store" --target "$change" > "$dir/lookup" 2> "$dir/lookup.log" ||
	{ cat "$dir/lookup.log" >&2; exit 1; }
copy=$(jq -r .snapshot.dir "$dir/lookup")

# measure WHAT COMMAND...: runs COMMAND with bench/touched-pages.py sampling beside it
measure() {
	what=$1
	shift
	rm -f "$dir/stop"
	python3 "$top/bench/touched-pages.py" "$copy" "$dir/stop" > "$dir/report" &
	sampler=$!
	t0=$(date +%s.%N)
	"$@"
	t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	touch "$dir/stop"
	wait "$sampler"
	echo "$what ($t s):"
	cat "$dir/report"
}
# restore_and_run: the entry restored, one command in the guest, the VM left running
restore_and_run() {
	bds-vm-restore --driver qemu --lock-owner "$owner" < "$dir/lookup" > "$dir/restored"
	bds-guest-exec -- true < "$dir/restored" > /dev/null
}
consume() {
	bds-consume --driver qemu -w "$dir/ws" --store "$dir/store" --target "$change" -o "$dir/impacted" \
		2> "$dir/consume.log" || { cat "$dir/consume.log" >&2; exit 1; }
}
measure "restore, then one command in the guest" restore_and_run
kill -TERM "$(jq -r .vm.keeper_pid "$dir/restored")"
sleep 2
measure "a whole consume of the next commit" consume
echo "  $(wc -l < "$dir/impacted") impacted targets"

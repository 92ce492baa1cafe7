#!/bin/bash
# lazy-mem: how soon a lazily restored Firecracker guest runs, against a restore that
# fetches all of its memory first (docs/store.md 4.3). A chunked entry shaped like a real
# guest's (1536 MiB `mem` holding --data-mib MiB of incompressible bytes, then zeros) is
# published to nginx on loopback (as the tests start it: tests/store-helpers.bash). Then,
# each from an empty chunk cache:
#   eager: bds-store-lookup fetches and verifies every file, mem included;
#   lazy:  bds-store-lookup --lazy-mem (mem left out), then bds-uffd-handler and
#          build/tests/fc-uffd-side, which plays Firecracker's side for real: the time to
#          the guest's first page, then to --touch-pct percent of its data pages (random,
#          seeded), with what had been fetched from the store by then; and with 8 fill
#          threads, the time until all of mem is present.
# bash: the server helpers it shares with the tests probe ports with bash's /dev/tcp.
#   bench/lazy-mem.sh [--runs R] [--data-mib N] [--touch-pct P] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
runs=3 data=400 pct=1 dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--runs) [ $# -ge 2 ] || set -- --usage; runs=$2; shift 2 ;;
	--data-mib) [ $# -ge 2 ] || set -- --usage; data=$2; shift 2 ;;
	--touch-pct) [ $# -ge 2 ] || set -- --usage; pct=$2; shift 2 ;;
	--dir) [ $# -ge 2 ] || set -- --usage; dir=$2; shift 2 ;;
	*) echo "usage: bench/lazy-mem.sh [--runs R] [--data-mib N] [--touch-pct P] [--dir DIR]" >&2; exit 64 ;;
	esac
done
side="$top/build/tests/fc-uffd-side"
[ -x "$side" ] || { echo "bench/lazy-mem.sh: no build (run make)" >&2; exit 1; }
[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/bds-bench-lazy-mem
rm -rf "$dir"
mkdir -p "$dir"
PATH="$top/build/bin:$top/scripts:$PATH"
export PATH

BDS_TOP=$top BATS_FILE_TMPDIR=$dir
# shellcheck source=tests/store-helpers.bash
. "$top/tests/store-helpers.bash"
trap stop_store_servers EXIT
start_nginx

FP=0123456789abcdef0123456789abcdef
REPO="$dir/repo"
git init -q "$REPO"
git -C "$REPO" -c user.name=b -c user.email=b@b commit -q --allow-empty -m base
BASE=$(git -C "$REPO" rev-parse HEAD)
entry="$dir/entry"
mkdir -p "$entry"
printf '{"//pkg:a":"v1"}\n' > "$entry/base_hashes.json"
head -c "$((data << 20))" /dev/urandom > "$entry/mem"
truncate -s 1536M "$entry/mem"
head -c 64K /dev/urandom > "$entry/vmstate"
store="$NGINX_URL/dav/lazy"
jq -nc --arg d "$entry" --arg fp "$FP" --arg b "$BASE" --arg ws "$REPO" \
	'{workspace: $ws, entry: {dir: $d, fingerprint: $fp, base: $b, driver: "local",
	  metadata: {pid: 42, output_base: "/x"}}}' | bds-store-publish --store "$store" > /dev/null 2>&1

# the data pages a guest touches: --touch-pct percent of them, seeded
pages=$(python3 -c 'import random, sys
n, pct = int(sys.argv[1]) * 256, float(sys.argv[2])
print(" ".join(str(p * 4096) for p in sorted(random.Random(1).sample(range(n), int(n * pct / 100)))))' "$data" "$pct")

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
envelope() {
	jq -nc --arg ws "$REPO" --arg fp "$FP" '{workspace: $ws, fingerprint: {key: $fp}, driver: "local"}'
}
# fetched LOG: "X MiB" the handler's last report line says it fetched
fetched() { sed -n 's/.*present, \([0-9.]*\) MiB of it fetched.*/\1/p' "$1" | tail -n 1; }

# lazy WHAT FILL OFFSETS...: lookup --lazy-mem, the handler, the guest's touches; prints
# "WHAT SECONDS FETCHED_MIB" (seconds from the lookup's start to the last touch; with FILL
# threads, to the whole of mem present)
lazy() {
	what=$1 fill=$2
	shift 2
	export BDS_CACHE="$dir/cache"
	rm -rf "$BDS_CACHE" "$dir/out" "$dir/s" "$dir/done"
	mkdir -p "$dir/out"
	t0=$(now)
	envelope | bds-store-lookup --store "$store" --target "$BASE" --lazy-mem > "$dir/lookup" 2>/dev/null
	md="$(jq -r .snapshot.dir "$dir/lookup")/metadata.json"
	mkfifo "$dir/ready"
	bds-uffd-handler --socket "$dir/s" --store "$store" --metadata "$md" --out "$dir/out/mem" --fill "$fill" \
		> "$dir/ready" 2> "$dir/handler.log" &
	handler=$!
	read -r _ < "$dir/ready"
	rm "$dir/ready"
	if [ "$fill" -gt 0 ]; then
		FC_SIDE_HOLD="$dir/done" "$side" "$dir/s" "$entry/mem" pages "$@" > /dev/null &
		guest=$!
		# written sparsely: all of mem is present once its data is allocated
		for _ in $(seq 6000); do
			[ "$(du -k "$dir/out/mem" | cut -f1)" -lt $((data * 1024)) ] || break
			sleep 0.05
		done
		t=$(since "$t0")
		touch "$dir/done"
		wait "$guest"
		cmp -s "$entry/mem" "$dir/out/mem" || { echo "bench: the lazily filled mem differs" >&2; exit 1; }
	else
		"$side" "$dir/s" "$entry/mem" pages "$@" > /dev/null
		t=$(since "$t0")
	fi
	wait "$handler"
	echo "$what $t $(fetched "$dir/handler.log")"
}

: > "$dir/times"
for _ in $(seq "$runs"); do
	export BDS_CACHE="$dir/cache"
	rm -rf "$BDS_CACHE"
	t0=$(now)
	envelope | bds-store-lookup --store "$store" --target "$BASE" > /dev/null 2>&1
	{
		echo "eager $(since "$t0") $(awk -v d="$data" 'BEGIN { print d + 1 }')"
		lazy first 0 0
		# shellcheck disable=SC2086 # one offset per word
		lazy touched 0 $pages
		lazy filled 8 0
	} >> "$dir/times"
done
echo "entry: 1536 MiB of mem, $data MiB of it data, on nginx (loopback); medians of $runs runs"
for what in eager first touched filled; do
	t=$(awk -v w="$what" '$1 == w { print $2 }' "$dir/times" | median)
	f=$(awk -v w="$what" '$1 == w { print $3 }' "$dir/times" | median)
	case $what in
	eager) label="eager: lookup of every file, mem whole" ;;
	first) label="lazy: to the guest's first page" ;;
	touched) label="lazy: to $pct % of its data pages touched" ;;
	filled) label="lazy, 8 fill threads: to all of mem present" ;;
	esac
	printf '%-48s %7.2f s  %7.1f MiB fetched (%.1f %% of mem)\n' "$label" "$t" "$f" "$(awk -v f="$f" 'BEGIN { print 100 * f / 1536 }')"
done

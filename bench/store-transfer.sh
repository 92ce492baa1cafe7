#!/bin/bash
# store-transfer: how long a chunked entry (docs/store.md 4) takes to publish to, and to be
# looked up from, a remote store on loopback (nginx WebDAV and s3rver, started as the tests
# start them: tests/store-helpers.bash), with chunks one request at a time
# (BDS_STORE_PARALLEL=1) and 8 at a time (the default), alternating, side by side.
# The entry is the shape of a real guest's: a 1536 MiB `mem` holding --data-mib MiB of
# incompressible bytes (the real guest image's about 420), then zeros; a 5 MiB sparse `disk`
# with 1 MiB of data; a 64 KiB `vmstate`. For each run, store and mode: the publish to an
# empty store, the lookup into an empty chunk cache (everything fetched), and the lookup with
# every chunk already cached (nothing fetched: the floor a fetch is compared with).
# Loopback has no round trip to speak of, so this measures what bds and the servers cost,
# not a network's latency, which parallel requests hide far better.
# bash, not sh: the server helpers it shares with the tests probe ports with bash's /dev/tcp.
#   bench/store-transfer.sh [--runs R] [--data-mib N] [--dir DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
runs=3 data=400 dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--runs) [ $# -ge 2 ] || set -- --usage; runs=$2; shift 2 ;;
	--data-mib) [ $# -ge 2 ] || set -- --usage; data=$2; shift 2 ;;
	--dir) [ $# -ge 2 ] || set -- --usage; dir=$2; shift 2 ;;
	*) echo "usage: bench/store-transfer.sh [--runs R] [--data-mib N] [--dir DIR]" >&2; exit 64 ;;
	esac
done
[ -x "$top/build/bin/bds-store-publish" ] || { echo "bench/store-transfer.sh: no build (run make)" >&2; exit 1; }
[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/bds-bench-store-transfer
rm -rf "$dir"
mkdir -p "$dir"
PATH="$top/build/bin:$top/scripts:$PATH"
export PATH

# the tests' server helpers want these two
BDS_TOP=$top BATS_FILE_TMPDIR=$dir
# shellcheck source=tests/store-helpers.bash
. "$top/tests/store-helpers.bash"
trap stop_store_servers EXIT
start_nginx
start_s3rver

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
head -c 1M /dev/urandom > "$entry/disk"
truncate -s 5M "$entry/disk"
head -c 64K /dev/urandom > "$entry/vmstate"

now() { date +%s.%N; }
# took T0: seconds since T0, two decimals
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# one KIND MODE RUN: publishes the entry to a fresh place in store KIND, then looks it up
# twice; appends "KIND MODE publish|fetch|cached SECONDS" to $dir/times.
one() {
	kind=$1 mode=$2 run=$3
	case $kind in
	http) store="$NGINX_URL/dav/r$run-p$mode" ;;
	s3) store="s3://$S3_BUCKET/r$run-p$mode" ;;
	esac
	export BDS_CACHE="$dir/cache-$kind-$mode"
	rm -rf "$BDS_CACHE"
	t0=$(now)
	jq -nc --arg d "$entry" --arg fp "$FP" --arg b "$BASE" --arg ws "$REPO" \
		'{workspace: $ws, entry: {dir: $d, fingerprint: $fp, base: $b, driver: "local",
		  metadata: {pid: 42, output_base: "/x"}}}' |
		BDS_STORE_PARALLEL=$mode bds-store-publish --store "$store" > /dev/null 2> "$dir/publish.log" ||
		{ cat "$dir/publish.log" >&2; exit 1; }
	echo "$kind $mode publish $(took "$t0")" >> "$dir/times"
	for what in fetch cached; do
		# "cached": the copy goes, the chunk cache stays
		[ "$what" = fetch ] || rm -rf "${BDS_CACHE:?}/$FP"
		t0=$(now)
		lookup_envelope | BDS_STORE_PARALLEL=$mode bds-store-lookup --store "$store" --target "$BASE" \
			> /dev/null 2> "$dir/lookup.log" || { cat "$dir/lookup.log" >&2; exit 1; }
		echo "$kind $mode $what $(took "$t0")" >> "$dir/times"
		cmp -s "$entry/mem" "$BDS_CACHE/$FP/$BASE/mem" || { echo "bench: the looked-up mem differs" >&2; exit 1; }
	done
	rm -rf "$BDS_CACHE"
	case $kind in
	http) rm -rf "$NGINX_ROOT/dav/r$run-p$mode" ;;
	esac
}

echo "entry: $(du -m --apparent-size "$entry" | cut -f1) MiB, $(du -m "$entry" | cut -f1) MiB of it allocated; $runs runs"
: > "$dir/times"
for run in $(seq "$runs"); do
	# alternate which mode goes first
	if [ $((run % 2)) = 1 ]; then modes="1 8"; else modes="8 1"; fi
	for kind in http s3; do
		for mode in $modes; do one "$kind" "$mode" "$run"; done
	done
done

printf '%-6s %-28s %12s %12s %8s\n' store step "1 at a time" "8 at a time" ratio
for kind in http s3; do
	for what in publish fetch cached; do
		a=$(awk -v k="$kind" -v w="$what" '$1 == k && $2 == 1 && $3 == w { print $4 }' "$dir/times" | median)
		b=$(awk -v k="$kind" -v w="$what" '$1 == k && $2 == 8 && $3 == w { print $4 }' "$dir/times" | median)
		case $what in
		publish) label="publish (every chunk new)" ;;
		fetch) label="lookup, empty chunk cache" ;;
		cached) label="lookup, chunks all cached" ;;
		esac
		printf '%-6s %-28s %10.2f s %10.2f s %8.2f\n' "$kind" "$label" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')"
	done
done

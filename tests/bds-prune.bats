# bds-prune against a local directory, nginx (WebDAV + autoindex) and s3rver, and the
# cache bound (BDS_CACHE_MAX) that bds-store-lookup and bds-prune --cache keep.

load helpers
load store-helpers

FP=0123456789abcdef0123456789abcdef
FP2=fedcba9876543210fedcba9876543210
B1=1111111111111111111111111111111111111111
B2=2222222222222222222222222222222222222222
B3=3333333333333333333333333333333333333333
B4=4444444444444444444444444444444444444444

setup_file() {
	REPO="$BATS_FILE_TMPDIR/repo"
	new_workspace "$REPO"
	C1=$(commit_all "$REPO" c1)
	echo 2 > "$REPO/f"
	C2=$(commit_all "$REPO" c2)
	echo 3 > "$REPO/f"
	C3=$(commit_all "$REPO" c3)
	echo 4 > "$REPO/f"
	C4=$(commit_all "$REPO" c4)
	# a month of bases, one a day
	MONTH=""
	for d in $(seq 30); do
		echo "day $d" > "$REPO/f"
		MONTH="$MONTH $(commit_all "$REPO" "day $d")"
	done
	export REPO C1 C2 C3 C4 MONTH
	start_nginx
	start_s3rver
}

teardown_file() {
	stop_store_servers
}

teardown() {
	if [ -s "$BATS_TEST_TMPDIR/user.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/user.pid")" 2>/dev/null || true
	fi
}

setup() {
	CACHE="$BATS_TEST_TMPDIR/cache"
	export BDS_CACHE="$CACHE"
	unset BDS_CACHE_MAX
	# entries of format 1 (whole files); store-chunks.bats prunes chunked ones
	export BDS_STORE_FORMAT=1
}

# publish STORE BASE VALUE [FP]: an entry whose base_hashes.json and disk both say VALUE.
publish() {
	local d="$BATS_TEST_TMPDIR/entry-$2"
	rm -rf "$d"
	mkdir -p "$d"
	printf '{"//pkg:a":"%s"}\n' "$3" > "$d/base_hashes.json"
	head -c 15000 /dev/urandom | base64 > "$d/disk"
	printf 'value=%s\n' "$3" >> "$d/disk"
	jq -nc --arg d "$d" --arg fp "${4:-$FP}" --arg b "$2" --arg ws "$REPO" \
		'{workspace: $ws, entry: {dir: $d, fingerprint: $fp, base: $b, driver: "local", metadata: {}}}' |
		bds-store-publish --store "$1" >/dev/null
}

# set_created KIND STORE BASE TIME [FP]: rewrites created_at in the entry's metadata.json
# (what a publish at TIME would have written; metadata.json itself is not hashed).
set_created() {
	local kind=$1 store=$2 base=$3 time=$4 fp=${5:-$FP} f="$BATS_TEST_TMPDIR/md.json"
	local url="$AWS_ENDPOINT_URL/$S3_BUCKET/p/t$BATS_TEST_NUMBER/$fp/$base/metadata.json"
	case $kind in
	file) cp "$store/$fp/$base/metadata.json" "$f" ;;
	http) cp "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$fp/$base/metadata.json" "$f" ;;
	s3) s3_curl -o "$f" "$url" ;;
	esac
	jq -c --arg t "$time" '.created_at = $t' "$f" > "$f.new"
	case $kind in
	file) cp "$f.new" "$store/$fp/$base/metadata.json" ;;
	http) cp "$f.new" "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$fp/$base/metadata.json" ;;
	s3) s3_curl -T "$f.new" "$url" >/dev/null ;;
	esac
}

# four entries of FP published on four days, one of FP2
four_entries() { # KIND STORE
	local b t
	for b in $B1 $B2 $B3 $B4; do publish "$2" "$b" "$b"; done
	publish "$2" "$B1" other "$FP2"
	set_created "$1" "$2" "$B1" 2026-01-01T00:00:00Z
	set_created "$1" "$2" "$B2" 2026-01-02T00:00:00Z
	set_created "$1" "$2" "$B3" 2026-01-03T00:00:00Z
	set_created "$1" "$2" "$B4" 2026-01-04T00:00:00Z
	set_created "$1" "$2" "$B1" 2026-01-01T00:00:00Z "$FP2"
}

# entries STORE: what the store holds, newest first per fingerprint (a dry run keeping none)
entries() {
	bds-prune --store "$1" --keep 0 --dry-run | sed '$d' | cut -d' ' -f3
}

check_keep() { # KIND
	local store
	store=$(store_of "$1")
	four_entries "$1" "$store"
	run -0 --separate-stderr bds-prune --store "$store" --keep 2
	[ "$output" = "removed $FP/$B2 2026-01-02T00:00:00Z
removed $FP/$B1 2026-01-01T00:00:00Z
store $store: removed 2, kept 3, skipped 0" ]
	[ "$stderr" = "" ]
	[ "$(entries "$store")" = "$FP/$B4
$FP/$B3
$FP2/$B1" ]
	# a removed entry is gone for lookups, a kept one still verifies
	jq -nc --arg ws "$REPO" --arg fp "$FP" \
		'{workspace: $ws, fingerprint: {key: $fp, components: {}}, driver: "local"}' > "$BATS_TEST_TMPDIR/env"
	run -0 bds-prune --store "$store" --keep 1 --fingerprint "$FP"
	[ "$output" = "removed $FP/$B3 2026-01-03T00:00:00Z
store $store: removed 1, kept 1, skipped 0" ]
	[ "$(entries "$store")" = "$FP/$B4
$FP2/$B1" ]
}

@test "file store: --keep 2 removes the older entries of each fingerprint, exact lines" {
	check_keep file
	store=$(store_of file)
	# nothing left behind: no directory, no hidden sibling
	[ "$(ls -A "$store/$FP")" = "$B4" ]
}

@test "http store (nginx): --keep 2 removes the older entries of each fingerprint, exact lines" {
	check_keep http
	[ "$(ls -A "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP")" = "$B4" ]
}

@test "s3 store (s3rver): --keep 2 removes the older entries, every object of them" {
	check_keep s3
	run -0 s3_curl "$AWS_ENDPOINT_URL/$S3_BUCKET?list-type=2&prefix=p/t$BATS_TEST_NUMBER/"
	keys=$(grep -o '<Key>[^<]*</Key>' <<<"$output" | sed 's/<[^>]*>//g')
	[ "$keys" = "p/t$BATS_TEST_NUMBER/$FP/$B4/base_hashes.json
p/t$BATS_TEST_NUMBER/$FP/$B4/disk
p/t$BATS_TEST_NUMBER/$FP/$B4/metadata.json
p/t$BATS_TEST_NUMBER/$FP2/$B1/base_hashes.json
p/t$BATS_TEST_NUMBER/$FP2/$B1/disk
p/t$BATS_TEST_NUMBER/$FP2/$B1/metadata.json" ]
}

@test "s3 store: listing follows continuation tokens (one key per page)" {
	store=$(store_of s3)
	four_entries s3 "$store"
	run -0 env BDS_TEST_S3_MAX_KEYS=1 bds-prune --store "$store" --keep 3 --dry-run
	[ "$output" = "would remove $FP/$B1 2026-01-01T00:00:00Z
store $store: would remove 1, kept 4, skipped 0" ]
	run -0 env BDS_TEST_S3_MAX_KEYS=2 bds-prune --store "$store" --keep=3
	[ "$output" = "removed $FP/$B1 2026-01-01T00:00:00Z
store $store: removed 1, kept 4, skipped 0" ]
}

check_age() { # KIND
	local store now old
	store=$(store_of "$1")
	four_entries "$1" "$store"
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	old=$(date -u -d '-2 days' +%Y-%m-%dT%H:%M:%SZ)
	set_created "$1" "$store" "$B3" "$old"
	set_created "$1" "$store" "$B4" "$now"
	# --dry-run changes nothing
	run -0 --separate-stderr bds-prune --store "$store" --max-age 7 --dry-run
	[ "$output" = "would remove $FP/$B2 2026-01-02T00:00:00Z
would remove $FP/$B1 2026-01-01T00:00:00Z
would remove $FP2/$B1 2026-01-01T00:00:00Z
store $store: would remove 3, kept 2, skipped 0" ]
	[ "$stderr" = "" ]
	[ "$(entries "$store" | wc -l)" = 5 ]
	# both: kept if among the newest 3 or younger than 1 day
	run -0 bds-prune --store="$store" --max-age=1 --keep=3
	[ "$output" = "removed $FP/$B1 2026-01-01T00:00:00Z
store $store: removed 1, kept 4, skipped 0" ]
	run -0 bds-prune --store "$store" --max-age 1.5
	[ "$output" = "removed $FP/$B3 $old
removed $FP/$B2 2026-01-02T00:00:00Z
removed $FP2/$B1 2026-01-01T00:00:00Z
store $store: removed 3, kept 1, skipped 0" ]
	[ "$(entries "$store")" = "$FP/$B4" ]
}

@test "file store: --max-age keeps the younger entries; with --keep, either keeps; --dry-run removes nothing" {
	check_age file
}

@test "http store: --max-age, --keep and --dry-run" {
	check_age http
}

@test "s3 store: --max-age, --keep and --dry-run" {
	check_age s3
}

@test "usage errors are 64 with one line and the usage" {
	usage="usage: bds-prune --store STORE [--keep N] [--max-age DAYS] [--fingerprint FP] [--dry-run]
       bds-prune --cache DIR [--cache-max SIZE] [--dry-run]
       (both in one run too); --keep or --max-age is needed with --store"
	run -64 --separate-stderr bds-prune
	[ "$stderr" = "bds-prune: missing --store STORE or --cache DIR
$usage" ]
	[ "$output" = "" ]
	run -64 --separate-stderr bds-prune --store /tmp/x
	[ "$stderr" = "bds-prune: --store needs --keep N or --max-age DAYS (or both): what to keep
$usage" ]
	run -64 --separate-stderr bds-prune --store /tmp/x --keep -1
	[ "${stderr%%$'\n'*}" = "bds-prune: --keep takes a number of entries from 0 to 1000000" ]
	run -64 --separate-stderr bds-prune --store /tmp/x --keep 2x
	[ "${stderr%%$'\n'*}" = "bds-prune: --keep takes a number of entries from 0 to 1000000" ]
	run -64 --separate-stderr bds-prune --store /tmp/x --max-age 1e3
	[ "${stderr%%$'\n'*}" = "bds-prune: --max-age takes a number of days from 0 to 100000 (e.g. 30 or 0.5)" ]
	run -64 --separate-stderr bds-prune --store /tmp/x --keep 1 --fingerprint ABC
	[ "${stderr%%$'\n'*}" = "bds-prune: --fingerprint takes a fingerprint key: 32 lowercase hex digits" ]
	run -64 --separate-stderr bds-prune --store relative/dir --keep 1
	[ "${stderr%%$'\n'*}" = "bds-prune: store 'relative/dir': unknown scheme (expected /abs/dir, file://, http://, https:// or s3://)" ]
	run -64 --separate-stderr bds-prune --store /tmp/x --keep 1 extra
	[ "${stderr%%$'\n'*}" = "bds-prune: unexpected argument" ]
	run -64 --separate-stderr bds-prune --keep 1
	[ "${stderr%%$'\n'*}" = "bds-prune: missing --store STORE or --cache DIR" ]
	run -64 --separate-stderr bds-prune --cache "$CACHE"
	[ "${stderr%%$'\n'*}" = "bds-prune: --cache needs --cache-max SIZE or BDS_CACHE_MAX" ]
	run -64 --separate-stderr bds-prune --cache "$CACHE" --cache-max 12X
	[ "${stderr%%$'\n'*}" = "bds-prune: --cache-max takes a size in bytes, with an optional K, M, G or T suffix" ]
	run -64 --separate-stderr bds-prune --cache rel --cache-max 1
	[ "${stderr%%$'\n'*}" = "bds-prune: --cache takes an absolute directory" ]
	run -64 --separate-stderr bds-prune --cache "$CACHE" --keep 1
	[ "${stderr%%$'\n'*}" = "bds-prune: --keep, --max-age and --fingerprint need --store STORE" ]
	run -64 --separate-stderr bds-prune --store /tmp/x --keep 1 --bogus
	[ "${stderr%%$'\n'*}" = "bds-prune: unknown option '--bogus'" ]
	run -0 bds-prune --help
	[ "$output" = "$usage" ]
}

@test "an unreachable store is 1 with one line, and nothing printed on stdout" {
	port=$(random_port)
	run -1 --separate-stderr bds-prune --store "http://127.0.0.1:$port/s" --keep 1
	[ "$output" = "" ]
	[[ "$stderr" =~ ^"bds-prune: GET http://127.0.0.1:$port/s/: "[^$'\n']+$ ]]
	run -1 --separate-stderr env AWS_ENDPOINT_URL="http://127.0.0.1:$port" bds-prune --store s3://b/p --keep 1
	[ "$output" = "" ]
	[[ "$stderr" =~ ^"bds-prune: GET http://127.0.0.1:$port/b?list-type=2&max-keys=1000&prefix=p%2F: "[^$'\n']+$ ]]
	# a server error is as unreachable
	run -1 --separate-stderr bds-prune --store "$NGINX_URL/broken/s" --keep 1
	[ "$stderr" = "bds-prune: GET $NGINX_URL/broken/s/: HTTP 503" ]
}

@test "http store: a server that does not list directories says what to configure (1)" {
	# /nodisk/ serves the same files as /dav/ without autoindex
	publish "$NGINX_URL/dav/t$BATS_TEST_NUMBER" "$B1" v
	run -1 --separate-stderr bds-prune --store "$NGINX_URL/nodisk/t$BATS_TEST_NUMBER" --keep 1
	[ "$stderr" = "bds-prune: list '$NGINX_URL/nodisk/t$BATS_TEST_NUMBER/' (does the server list directories? nginx: \`autoindex on; autoindex_format json;\`): GET $NGINX_URL/nodisk/t$BATS_TEST_NUMBER/: HTTP 403: access denied, check the credentials (~/.netrc)" ]
}

@test "file store: an empty or missing store prunes nothing; a bad entry is skipped with a line" {
	store=$(store_of file)
	run -0 bds-prune --store "$store" --keep 0
	[ "$output" = "store $store: removed 0, kept 0, skipped 0" ]
	publish "$store" "$B1" v
	publish "$store" "$B2" v
	echo '{"format": 3}' > "$store/$FP/$B2/metadata.json"
	# a directory without metadata.json (a publish under way) is no entry
	mkdir -p "$store/$FP/$B3"
	run -0 --separate-stderr bds-prune --store "$store" --keep 0
	[ "$output" = "removed $FP/$B1 ${output#*$FP/$B1 }" ]
	[ "$(sed -n 2p <<<"$output")" = "store $store: removed 1, kept 0, skipped 1" ]
	[ "$stderr" = "bds-prune: skipped $FP/$B2: entry $store/$FP/$B2: metadata.json: format is not 1 or 2 (an entry from a newer bds?)" ]
	[ -d "$store/$FP/$B2" ]
	[ -d "$store/$FP/$B3" ]
	[ ! -e "$store/$FP/$B1" ]
}

# check_race KIND ROUNDS: lookups of one base run while it is published and pruned again
# and again; every lookup verifies (and its copy is one publish's, never a mix) or is cold.
check_race() {
	local store=$(store_of "$1") rc n=0 ok=0 cold=0 v d
	local reason="no snapshot for fingerprint $FP within 0 first-parent ancestors of $C2"
	lookup_envelope > "$BATS_TEST_TMPDIR/env"
	(
		for r in $(seq "$2"); do
			publish "$store" "$C2" "r$r" || echo "publish $r failed" >> "$BATS_TEST_TMPDIR/errors"
			bds-prune --store "$store" --keep 0 >/dev/null || echo "prune $r: exit $?" >> "$BATS_TEST_TMPDIR/errors"
		done
		touch "$BATS_TEST_TMPDIR/done"
	) 3>&- &
	while [ ! -e "$BATS_TEST_TMPDIR/done" ]; do
		rc=0
		bds-store-lookup --store "$store" --target "$C2" --max-distance 0 < "$BATS_TEST_TMPDIR/env" \
			> "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" || rc=$?
		n=$((n + 1))
		case $rc in
		0)
			ok=$((ok + 1))
			d=$(jq -r .snapshot.dir "$BATS_TEST_TMPDIR/out")
			v=$(jq -r '."//pkg:a"' "$d/base_hashes.json")
			[ "$(tail -n 1 "$d/disk")" = "value=$v" ] ||
				echo "lookup $n: a mixed copy: base_hashes.json says $v, disk $(tail -n 1 "$d/disk")" >> "$BATS_TEST_TMPDIR/errors"
			;;
		2)
			cold=$((cold + 1))
			# absent, never "fails verification": metadata.json goes first, and a lookup that
			# read it before takes the entry as absent once it is gone
			[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-store-lookup: cold: $reason" ] ||
				echo "lookup $n: cold for another reason: $(cat "$BATS_TEST_TMPDIR/err")" >> "$BATS_TEST_TMPDIR/errors"
			;;
		*) echo "lookup $n: exit $rc: $(cat "$BATS_TEST_TMPDIR/err")" >> "$BATS_TEST_TMPDIR/errors" ;;
		esac
	done
	wait
	echo "# $1: $n lookups, $ok verified, $cold cold" >&3
	[ ! -e "$BATS_TEST_TMPDIR/errors" ] || { cat "$BATS_TEST_TMPDIR/errors"; false; }
	[ "$n" -gt 0 ]
}

@test "file store: lookups racing publish+prune rounds verify or go cold, never wrong" {
	check_race file 40
}

@test "http store: lookups racing publish+prune rounds verify or go cold, never wrong" {
	check_race http 25
}

@test "s3 store: lookups racing publish+prune rounds verify or go cold, never wrong" {
	check_race s3 15
}

# on_disk DIR: the bytes DIR and its files take on disk (as bds-prune counts them)
on_disk() {
	stat -c '%b %B' "$1" "$1"/* | awk '{ s += $1 * $2 } END { print s }'
}

# fetch STORE REV: a lookup whose user (its parent) has exited when it returns
fetch() {
	lookup_envelope > "$BATS_TEST_TMPDIR/env"
	sh -c 'bds-store-lookup --store "$1" --target "$2" --max-distance 0 < "$3" > /dev/null; exit $?' \
		_ "$1" "$2" "$BATS_TEST_TMPDIR/env"
}

three_cached() {
	store=$(store_of file)
	for c in "$C1" "$C2" "$C3"; do
		publish "$store" "$c" "$c"
		fetch "$store" "$c"
	done
	touch -d '2026-01-02 00:00:00 UTC' "$CACHE/$FP/$C1"
	touch -d '2026-01-01 00:00:00 UTC' "$CACHE/$FP/$C2"
	touch -d '2026-01-03 00:00:00 UTC' "$CACHE/$FP/$C3"
	s1=$(on_disk "$CACHE/$FP/$C1") s2=$(on_disk "$CACHE/$FP/$C2") s3=$(on_disk "$CACHE/$FP/$C3")
	total=$((s1 + s2 + s3))
	# the local driver's state is not the cache's to evict, nor counted
	mkdir -p "$CACHE/local/x"
	head -c 100000 /dev/urandom > "$CACHE/local/x/big"
}

@test "bds-prune --cache evicts least recently used copies first until under the cap, exact lines" {
	three_cached
	run -0 --separate-stderr bds-prune --cache "$CACHE" --cache-max "$total"
	[ "$output" = "cache $CACHE: $total bytes, cap $total" ]
	[ "$stderr" = "" ]
	run -0 bds-prune --cache "$CACHE" --cache-max 1 --dry-run
	[ "$output" = "would evict $CACHE/$FP/$C2 $s2 bytes, last used 2026-01-01T00:00:00Z
would evict $CACHE/$FP/$C1 $s1 bytes, last used 2026-01-02T00:00:00Z
would evict $CACHE/$FP/$C3 $s3 bytes, last used 2026-01-03T00:00:00Z
cache $CACHE: 0 bytes, cap 1" ]
	[ -d "$CACHE/$FP/$C2" ]
	run -0 env BDS_CACHE_MAX=$((total - s2)) bds-prune --cache "$CACHE"
	[ "$output" = "evicted $CACHE/$FP/$C2 $s2 bytes, last used 2026-01-01T00:00:00Z
cache $CACHE: $((s1 + s3)) bytes, cap $((total - s2))" ]
	[ ! -e "$CACHE/$FP/$C2" ]
	[ "$(ls -A "$CACHE/$FP")" = "$(printf '%s\n' "$C1" "$C3" | sort)" ]
	run -0 bds-prune --cache "$CACHE" --cache-max=0
	[ "$output" = "evicted $CACHE/$FP/$C1 $s1 bytes, last used 2026-01-02T00:00:00Z
evicted $CACHE/$FP/$C3 $s3 bytes, last used 2026-01-03T00:00:00Z
cache $CACHE: 0 bytes, cap 0" ]
	[ "$(ls -A "$CACHE/$FP")" = "" ]
	[ -f "$CACHE/local/x/big" ]
	# K, M, G, T are powers of 1024
	run -0 bds-prune --cache "$CACHE" --cache-max 2M
	[ "$output" = "cache $CACHE: 0 bytes, cap 2097152" ]
	run -0 bds-prune --cache "$BATS_TEST_TMPDIR/none" --cache-max 1k
	[ "$output" = "cache $BATS_TEST_TMPDIR/none: 0 bytes, cap 1024" ]
}

@test "a copy in use (its lookup's parent lives) is never evicted; once its user is gone it is" {
	three_cached
	# C2, the least recently used, is looked up again by a process that goes on using it
	lookup_envelope > "$BATS_TEST_TMPDIR/env"
	sh -c 'bds-store-lookup --store "$1" --target "$2" --max-distance 0 < "$3" > "$4.tmp" && mv "$4.tmp" "$4"; exec sleep 60' \
		_ "$store" "$C2" "$BATS_TEST_TMPDIR/env" "$BATS_TEST_TMPDIR/used" 3>&- &
	echo $! > "$BATS_TEST_TMPDIR/user.pid"
	for _ in $(seq 100); do [ -e "$BATS_TEST_TMPDIR/used" ] && break; sleep 0.1; done
	[ "$(jq -r .snapshot.dir "$BATS_TEST_TMPDIR/used")" = "$CACHE/$FP/$C2" ]
	touch -d '2026-01-01 00:00:00 UTC' "$CACHE/$FP/$C2"
	run -0 bds-prune --cache "$CACHE" --cache-max 0
	[ "$output" = "evicted $CACHE/$FP/$C1 $s1 bytes, last used 2026-01-02T00:00:00Z
evicted $CACHE/$FP/$C3 $s3 bytes, last used 2026-01-03T00:00:00Z
cache $CACHE: $s2 bytes, cap 0" ]
	kill "$(cat "$BATS_TEST_TMPDIR/user.pid")"
	wait
	run -0 bds-prune --cache "$CACHE" --cache-max 0
	[ "$output" = "evicted $CACHE/$FP/$C2 $s2 bytes, last used 2026-01-01T00:00:00Z
cache $CACHE: 0 bytes, cap 0" ]
	# its record went with its user
	[ "$(ls -A "$CACHE/$FP")" = "" ]
	[ "$(ls -A "$CACHE/.users")" = "" ]
}

@test "a lookup that adds to the cache evicts down to BDS_CACHE_MAX; a cache hit marks the copy used" {
	store=$(store_of file)
	for c in "$C1" "$C2" "$C3"; do publish "$store" "$c" "$c"; done
	fetch "$store" "$C1"
	one=$(on_disk "$CACHE/$FP/$C1")
	touch -d '2026-01-01 00:00:00 UTC' "$CACHE/$FP/$C1"
	# a hit: no copy added, none evicted, the copy's last use is now
	BDS_CACHE_MAX=1 fetch "$store" "$C1"
	[ "$(stat -c %Y "$CACHE/$FP/$C1")" -gt "$(date -d '2026-01-02 00:00:00 UTC' +%s)" ]
	fetch "$store" "$C2"
	touch -d '2026-01-01 00:00:00 UTC' "$CACHE/$FP/$C2"
	# room for two copies and a half: adding C3 evicts C2 (least recently used), not C1
	BDS_CACHE_MAX=$((one * 5 / 2)) fetch "$store" "$C3"
	[ "$(ls -A "$CACHE/$FP")" = "$(printf '%s\n' "$C1" "$C3" | sort)" ]
	# a cap below one copy keeps the copy just fetched: it is in use until its lookup returns
	BDS_CACHE_MAX=1 fetch "$store" "$C2"
	[ "$(ls -A "$CACHE/$FP")" = "$C2" ]
}

@test "a bad BDS_CACHE_MAX is 1 with one line, for lookups and for bds-prune" {
	store=$(store_of file)
	publish "$store" "$C1" v
	lookup_envelope > "$BATS_TEST_TMPDIR/env"
	run -1 --separate-stderr env BDS_CACHE_MAX=5X bds-store-lookup --store "$store" --target "$C1" < "$BATS_TEST_TMPDIR/env"
	[ "$stderr" = "bds-store-lookup: BDS_CACHE_MAX '5X': expected a size in bytes, with an optional K, M, G or T suffix" ]
	[ "$output" = "" ]
	run -1 --separate-stderr env BDS_CACHE_MAX=-1 bds-prune --cache "$CACHE"
	[ "$stderr" = "bds-prune: BDS_CACHE_MAX '-1': expected a size in bytes, with an optional K, M, G or T suffix" ]
}

# age_leftover KIND STORE BASE: makes what is left of entry BASE two days old, as the
# backend shows it (a directory's mtime; s3rver's LastModified is its files' mtime)
age_leftover() {
	local t='2026-01-05 06:07:08 UTC'
	case $1 in
	file) touch -d "$t" "$2/$FP/$3" ;;
	http) touch -d "$t" "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP/$3" ;;
	s3) find "$BATS_FILE_TMPDIR/s3rver/data/$S3_BUCKET/p/t$BATS_TEST_NUMBER/$FP/$3" -exec touch -d "$t" {} + ;;
	esac
}

check_leftover() { # KIND
	local store
	store=$(store_of "$1")
	publish "$store" "$C1" c1
	publish "$store" "$C2" c2
	# what a prune killed after its first step leaves: files without metadata.json
	case $1 in
	file) rm "$store/$FP/$C2/metadata.json" ;;
	http) rm "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP/$C2/metadata.json" ;;
	s3) s3_curl -X DELETE "$AWS_ENDPOINT_URL/$S3_BUCKET/p/t$BATS_TEST_NUMBER/$FP/$C2/metadata.json" ;;
	esac
	# no entry for a lookup: it goes on to the older one
	lookup_envelope > "$BATS_TEST_TMPDIR/env"
	run -0 bds-store-lookup --store "$store" --target "$C2" --max-distance 1 < "$BATS_TEST_TMPDIR/env"
	[ "$(jq -r .snapshot.base <<<"$output")" = "$C1" ]
	# fresh: maybe a publish under way, left alone
	run -0 --separate-stderr bds-prune --store "$store" --keep 5
	[ "$output" = "store $store: removed 0, kept 1, skipped 0" ]
	[ "$stderr" = "" ]
	age_leftover "$1" "$store" "$C2"
	run -0 bds-prune --store "$store" --keep 5 --dry-run
	[ "$output" = "would remove $FP/$C2 incomplete, last changed 2026-01-05T06:07:08Z
store $store: would remove 1, kept 1, skipped 0" ]
	run -0 bds-prune --store "$store" --keep 5
	[ "$output" = "removed $FP/$C2 incomplete, last changed 2026-01-05T06:07:08Z
store $store: removed 1, kept 1, skipped 0" ]
	run -0 bds-prune --store "$store" --keep 5
	[ "$output" = "store $store: removed 0, kept 1, skipped 0" ]
}

@test "file store: what a killed prune or publish left is no entry, and goes once a day old" {
	check_leftover file
	[ "$(ls -A "$(store_of file)/$FP")" = "$C1" ]
}

@test "http store: what a killed prune or publish left is no entry, and goes once a day old" {
	check_leftover http
	[ "$(ls -A "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP")" = "$C1" ]
}

@test "s3 store: what a killed prune or publish left is no entry, and goes once a day old" {
	check_leftover s3
}

@test "http store: a prune that fails after removing metadata.json is 1, and the entry is absent, not broken" {
	store=$NGINX_URL/dav/t$BATS_TEST_NUMBER
	publish "$store" "$C1" c1
	publish "$store" "$C2" c2
	set_created http "$store" "$C1" 2026-01-01T00:00:00Z
	run -1 --separate-stderr bds-prune --store "$NGINX_URL/halfdav/t$BATS_TEST_NUMBER" --keep 1
	[ "$output" = "" ]
	[ "$stderr" = "bds-prune: remove $FP/$C1: DELETE $NGINX_URL/halfdav/t$BATS_TEST_NUMBER/$FP/$C1/: HTTP 503" ]
	# the files are still there, the commit marker is not: a lookup takes the entry as absent
	[ -f "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP/$C1/disk" ]
	[ ! -e "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP/$C1/metadata.json" ]
	lookup_envelope > "$BATS_TEST_TMPDIR/env"
	run -2 --separate-stderr bds-store-lookup --store "$store" --target "$C1" --max-distance 0 < "$BATS_TEST_TMPDIR/env"
	[ "$stderr" = "bds-store-lookup: cold: no snapshot for fingerprint $FP within 0 first-parent ancestors of $C1" ]
}

# check_month KIND: a base published every day for a month, a prune keeping 3 after each,
# and a lookup of the day's base under a cache cap: 3 entries at the end, the cache never
# over its cap, every lookup the day's exact entry.
check_month() {
	local store d=0 c cap total
	store=$(store_of "$1")
	lookup_envelope > "$BATS_TEST_TMPDIR/env"
	for c in $MONTH; do
		d=$((d + 1))
		publish "$store" "$c" "day$d"
		set_created "$1" "$store" "$c" "$(printf '2026-01-%02dT00:00:00Z' "$d")"
		bds-prune --store "$store" --keep 3 > /dev/null
		if [ "$d" = 1 ]; then
			fetch "$store" "$c"
			# room for two copies and a half
			cap=$(($(on_disk "$CACHE/$FP/$c") * 5 / 2))
		fi
		BDS_CACHE_MAX=$cap sh -c 'bds-store-lookup --store "$1" --target "$2" --max-distance 0 < "$3" > "$4"; exit $?' \
			_ "$store" "$c" "$BATS_TEST_TMPDIR/env" "$BATS_TEST_TMPDIR/out"
		[ "$(jq -r .snapshot.base "$BATS_TEST_TMPDIR/out")" = "$c" ]
		[ "$(jq -r '."//pkg:a"' "$CACHE/$FP/$c/base_hashes.json")" = "day$d" ]
		total=0
		for e in "$CACHE/$FP"/*; do total=$((total + $(on_disk "$e"))); done
		[ "$total" -le "$cap" ]
	done
	# the three newest entries are left, and two copies in the cache
	[ "$(entries "$store")" = "$(for c in $MONTH; do echo "$FP/$c"; done | tail -n 3 | tac)" ]
	[ "$(ls "$CACHE/$FP" | wc -l)" = 2 ]
}

@test "file store: a month of daily bases pruned to 3 entries; the cache stays under its cap" {
	check_month file
}

@test "http store: a month of daily bases pruned to 3 entries; the cache stays under its cap" {
	check_month http
}

@test "s3 store: a month of daily bases pruned to 3 entries; the cache stays under its cap" {
	check_month s3
}

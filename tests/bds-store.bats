# bds-store-lookup and bds-store-publish against a local directory, nginx (WebDAV PUT) and
# s3rver (S3), the servers started on loopback for this file; entries of format 1.

load helpers
load store-helpers

FP=0123456789abcdef0123456789abcdef

setup_file() {
	REPO="$BATS_FILE_TMPDIR/repo"
	new_workspace "$REPO"
	ROOT=$(commit_all "$REPO" root)
	echo 1 > "$REPO/f"
	BASE=$(commit_all "$REPO" base)
	echo 2 > "$REPO/f"
	MID=$(commit_all "$REPO" mid)
	echo 3 > "$REPO/f"
	TARGET=$(commit_all "$REPO" target)
	# a branch from before the base: not a descendant of any entry
	git -C "$REPO" checkout -q -b other "$ROOT"
	echo other > "$REPO/g"
	OTHER=$(commit_all "$REPO" other)
	git -C "$REPO" checkout -q -
	export REPO ROOT BASE MID TARGET OTHER
	start_nginx
	start_s3rver
}

teardown_file() {
	stop_store_servers
}

# Servers a single test starts record their pid in $BATS_TEST_TMPDIR/server.pid.
teardown() {
	if [ -s "$BATS_TEST_TMPDIR/server.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/server.pid")" 2>/dev/null || true
	fi
}

setup() {
	CACHE="$BATS_TEST_TMPDIR/cache"
	ENTRY="$BATS_TEST_TMPDIR/entry"
	export BDS_CACHE="$CACHE"
	# This file covers entries of format 1 (whole files), which readers keep reading;
	# store-chunks.bats covers format 2 (chunked files), the default.
	export BDS_STORE_FORMAT=1
}

# The lookup output expected for ENTRY published as BASE, found at DISTANCE (created_at
# compared separately).
expected_lookup() { # STORE DISTANCE
	jq -nc --arg ws "$REPO" --arg fp "$FP" --arg b "$BASE" --arg t "$TARGET" --arg s "$1" \
		--argjson d "$2" --arg dir "$CACHE/$FP/$BASE" \
		--arg bh "$(xxh "$ENTRY/base_hashes.json")" --argjson bs "$(stat -c %s "$ENTRY/base_hashes.json")" \
		--arg dh "$(xxh "$ENTRY/disk")" --arg v "$(bds-store-publish --version | sed 's/^bds-store-publish //')" \
		'{workspace: $ws, fingerprint: {key: $fp, components: {bds: "0.1.0"}}, driver: "local",
		  target: $t,
		  snapshot: {store: $s, fingerprint: $fp, base: $b, distance: $d, dir: $dir,
		    metadata: {format: 1, fingerprint: $fp, base: $b, driver: "local", bds_version: $v,
		      files: {"base_hashes.json": {size: $bs, xxh3_128: $bh},
		              disk: {size: 5242880, xxh3_128: $dh}},
		      driver_state: {pid: 42, output_base: "/x"}}}}'
}

check_roundtrip() { # KIND
	local store
	store=$(store_of "$1")
	make_entry "$ENTRY" v1
	run -0 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
	[ "$output" = "$(publish_envelope "$ENTRY" "$BASE" | jq -cS --arg s "$store" --arg fp "$FP" \
		--arg b "$BASE" '. + {published: {store: $s, fingerprint: $fp, base: $b}}')" ]
	[ "$stderr" = "" ]

	run -0 --separate-stderr lookup "$store" "$TARGET"
	[ "$(jq -cS 'del(.snapshot.metadata.created_at)' <<<"$output")" = "$(expected_lookup "$store" 2 | jq -cS .)" ]
	[[ "$(jq -r .snapshot.metadata.created_at <<<"$output")" =~ ^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z$ ]]
	[ "$stderr" = "" ]
	cmp "$ENTRY/base_hashes.json" "$CACHE/$FP/$BASE/base_hashes.json"
	cmp "$ENTRY/disk" "$CACHE/$FP/$BASE/disk"
	# the metadata in the envelope is the cached metadata.json
	[ "$(jq -cS . "$CACHE/$FP/$BASE/metadata.json")" = "$(jq -cS .snapshot.metadata <<<"$output")" ]
	# sparse stays sparse in the cache (5 MB apparent, a few blocks allocated)
	[ "$(du -k "$CACHE/$FP/$BASE/disk" | cut -f1)" -lt 1024 ]
}

@test "file store: publish, then lookup at distance 2 gives the exact snapshot and identical files" {
	check_roundtrip file
	store=$(store_of file)
	[ "$(du -k "$store/$FP/$BASE/disk" | cut -f1)" -lt 1024 ]
	# nothing but the entry in the store
	[ "$(ls -A "$store/$FP")" = "$BASE" ]
}

@test "file:// store: publish and lookup" {
	make_entry "$ENTRY" v1
	publish "file://$BATS_TEST_TMPDIR/store" "$ENTRY" "$BASE"
	[ -f "$BATS_TEST_TMPDIR/store/$FP/$BASE/metadata.json" ]
	run -0 lookup "file://$BATS_TEST_TMPDIR/store" "$TARGET"
	[ "$(jq -c .snapshot.distance <<<"$output")" = 2 ]
}

@test "http store (nginx): publish, then lookup at distance 2 gives the exact snapshot and identical files" {
	check_roundtrip http
	cmp "$ENTRY/disk" "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP/$BASE/disk"
}

@test "s3 store (s3rver): publish, then lookup at distance 2 gives the exact snapshot and identical files" {
	check_roundtrip s3
}

check_empty() { # KIND
	local store
	store=$(store_of "$1")
	run -2 --separate-stderr lookup "$store" "$TARGET"
	local reason="no snapshot for fingerprint $FP within 64 first-parent ancestors of $TARGET"
	[ "$output" = "$(lookup_envelope | jq -cS --arg t "$TARGET" --arg r "$reason" \
		'. + {target: $t, cold: {stage: "bds-store-lookup", reason: $r}}')" ]
	[ "$stderr" = "bds-store-lookup: cold: $reason" ]
}

@test "file store: empty store is cold (2) with the exact envelope" {
	check_empty file
}

@test "a lookup without --cache, BDS_CACHE or HOME fails (1): the cache is never a shared /tmp directory" {
	mkdir "$BATS_TEST_TMPDIR/store"
	lookup_envelope > "$BATS_TEST_TMPDIR/env.json"
	run -1 --separate-stderr env -u BDS_CACHE -u HOME "$(command -v bds-store-lookup)" \
		--store "$BATS_TEST_TMPDIR/store" --target "$TARGET" < "$BATS_TEST_TMPDIR/env.json"
	[ "$stderr" = "bds-store-lookup: no cache directory: set BDS_CACHE or HOME, or give --cache" ]
	[ "$output" = "" ]
}

@test "http store: empty store is cold (2) with the exact envelope" {
	check_empty http
}

@test "s3 store: empty store is cold (2) with the exact envelope" {
	check_empty s3
}

check_not_descendant() { # KIND
	local store
	store=$(store_of "$1")
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	run -2 --separate-stderr lookup "$store" "$OTHER"
	[ "$(jq -r .cold.reason <<<"$output")" = "no snapshot for fingerprint $FP within 64 first-parent ancestors of $OTHER" ]
	[ "$(jq -r .target <<<"$output")" = "$OTHER" ]
	# the base itself is found at distance 0; an ancestor of the base is not a descendant
	run -0 lookup "$store" "$BASE"
	[ "$(jq -c .snapshot.distance <<<"$output")" = 0 ]
	run -2 lookup "$store" "$ROOT"
}

@test "file store: a target that descends from no entry is cold (2)" {
	check_not_descendant file
}

@test "http store: a target that descends from no entry is cold (2)" {
	check_not_descendant http
}

@test "s3 store: a target that descends from no entry is cold (2)" {
	check_not_descendant s3
}

check_corrupt() { # KIND
	local store
	store=$(store_of "$1")
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	flip_byte "$1" "$store" "$FP/$BASE/base_hashes.json"
	run -2 --separate-stderr lookup "$store" "$TARGET"
	reason=$(jq -r .cold.reason <<<"$output")
	[[ "$reason" == "entry "*"/$FP/$BASE failed verification: base_hashes.json: xxh3_128 "*", metadata.json lists $(xxh "$ENTRY/base_hashes.json")" ]]
	[ "$stderr" = "bds-store-lookup: cold: $reason" ]
	[ "$(jq -r .cold.stage <<<"$output")" = bds-store-lookup ]
	# never used: nothing in the cache, and not silently replaced by an older ancestor
	[ ! -e "$CACHE/$FP/$BASE" ]
	[ "$(jq 'has("snapshot")' <<<"$output")" = false ]
}

@test "file store: an entry with one byte flipped is cold (2), the reason names base_hashes.json" {
	check_corrupt file
}

@test "http store: an entry with one byte flipped is cold (2), the reason names base_hashes.json" {
	check_corrupt http
}

@test "s3 store: an entry with one byte flipped is cold (2), the reason names base_hashes.json" {
	check_corrupt s3
}

check_no_metadata() { # KIND
	local store
	store=$(store_of "$1")
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	delete_key "$1" "$store" "$FP/$BASE/metadata.json"
	run -2 lookup "$store" "$TARGET"
	[ "$(jq -r .cold.reason <<<"${lines[-1]}")" = "no snapshot for fingerprint $FP within 64 first-parent ancestors of $TARGET" ]
	[ ! -e "$CACHE/$FP/$BASE" ]
}

@test "file store: an entry without metadata.json does not exist (2)" {
	check_no_metadata file
}

@test "http store: an entry without metadata.json does not exist (2)" {
	check_no_metadata http
}

@test "s3 store: an entry without metadata.json does not exist (2)" {
	check_no_metadata s3
}

@test "file store: a publish killed half-way leaves nothing visible" {
	store=$(store_of file)
	mkdir -p "$ENTRY"
	echo '{}' > "$ENTRY/base_hashes.json"
	yes 0123456789abcdef | head -c 20000000 > "$ENTRY/disk"
	# RLIMIT_FSIZE kills the publisher (SIGXFSZ) in the middle of copying disk
	run -153 bash -c 'ulimit -f 2048; exec bds-store-publish --store "$1" < "$2"' _ "$store" \
		<(publish_envelope "$ENTRY" "$BASE")
	[ ! -e "$store/$FP/$BASE" ]
	tmp=$(echo "$store/$FP"/.tmp-"$BASE"-*)
	[ -d "$tmp" ]
	[ ! -e "$tmp/metadata.json" ]
	run -2 lookup "$store" "$TARGET"
	[ "$(jq -r .cold.reason <<<"${lines[-1]}")" = "no snapshot for fingerprint $FP within 64 first-parent ancestors of $TARGET" ]
	# a later publish succeeds beside the leftover
	rm "$ENTRY/disk"
	publish "$store" "$ENTRY" "$BASE"
	run -0 lookup "$store" "$TARGET"
}

check_republish() { # KIND
	local store
	store=$(store_of "$1")
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	run -0 lookup "$store" "$TARGET"
	[ "$(cat "$CACHE/$FP/$BASE/base_hashes.json")" = '{"//pkg:a":"v1"}' ]
	make_entry "$ENTRY" v2-longer
	publish "$store" "$ENTRY" "$BASE"
	run -0 lookup "$store" "$TARGET"
	# the republished entry replaces the cached one
	[ "$(cat "$CACHE/$FP/$BASE/base_hashes.json")" = '{"//pkg:a":"v2-longer"}' ]
	cmp "$ENTRY/disk" "$CACHE/$FP/$BASE/disk"
	[ "$(jq -r '.snapshot.metadata.files["base_hashes.json"].xxh3_128' <<<"$output")" = "$(xxh "$ENTRY/base_hashes.json")" ]
	[ "$(ls -A "$CACHE/$FP")" = "$BASE" ]
}

@test "file store: republishing the same (fingerprint, base) replaces the entry" {
	check_republish file
	store=$(store_of file)
	[ "$(ls -A "$store/$FP")" = "$BASE" ]
	[ "$(cat "$store/$FP/$BASE/base_hashes.json")" = '{"//pkg:a":"v2-longer"}' ]
}

@test "file store: republishing over an entry left read-only removes the old one whole" {
	[ "$(id -u)" = 0 ] || skip "needs root to become another user"
	local d left
	d=$(mktemp -d /tmp/bds-store-nobody.XXXXXX)
	make_entry "$d/e1" v1
	make_entry "$d/e2" v2-longer
	mkdir "$d/store"
	chown -R nobody "$d"
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	run -0 as_nobody "$BDS_BUILD/bin/bds-store-publish" --store "$d/store" < <(publish_envelope "$d/e1" "$BASE")
	# the old entry's directory read-only: it is made writable to be removed
	chmod a-w "$d/store/$FP/$BASE"
	run -0 as_nobody "$BDS_BUILD/bin/bds-store-publish" --store "$d/store" < <(publish_envelope "$d/e2" "$BASE")
	left=$(ls -A "$d/store/$FP")
	rm -rf "$d"
	[ "$left" = "$BASE" ]
}

@test "http store: republishing the same (fingerprint, base) replaces the entry" {
	check_republish http
}

@test "s3 store: republishing the same (fingerprint, base) replaces the entry" {
	check_republish s3
}

@test "file store: readers never see a missing or mixed entry while it is republished" {
	store=$(store_of file)
	make_entry "$BATS_TEST_TMPDIR/e1" v1
	make_entry "$BATS_TEST_TMPDIR/e2" v2-longer
	publish "$store" "$BATS_TEST_TMPDIR/e1" "$BASE"
	(
		for i in 1 2 3 4 5 6 7 8 9 10; do
			publish "$store" "$BATS_TEST_TMPDIR/e2" "$BASE"
			publish "$store" "$BATS_TEST_TMPDIR/e1" "$BASE"
		done
	) 3>&- &
	writer=$!
	for n in $(seq 15); do
		run -0 lookup "$store" "$TARGET" --cache "$BATS_TEST_TMPDIR/c$n"
		got=$(cat "$BATS_TEST_TMPDIR/c$n/$FP/$BASE/base_hashes.json")
		[ "$got" = '{"//pkg:a":"v1"}' ] || [ "$got" = '{"//pkg:a":"v2-longer"}' ]
	done
	wait "$writer"
	[ "$(ls -A "$store/$FP")" = "$BASE" ]
}

@test "concurrent lookups sharing one cache all succeed" {
	store=$(store_of http)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	pids=()
	for n in 1 2 3 4; do
		lookup "$store" "$TARGET" > "$BATS_TEST_TMPDIR/out$n" 3>&- &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	for n in 1 2 3 4; do
		[ "$(jq -r .snapshot.dir "$BATS_TEST_TMPDIR/out$n")" = "$CACHE/$FP/$BASE" ]
	done
	cmp "$ENTRY/disk" "$CACHE/$FP/$BASE/disk"
	[ "$(ls -A "$CACHE/$FP")" = "$BASE" ]
}

@test "leftovers of killed publishes older than a day are swept" {
	store=$(store_of file)
	mkdir -p "$store/$FP/.tmp-$BASE-old" "$store/$FP/.tmp-$BASE-new"
	touch -d '2 days ago' "$store/$FP/.tmp-$BASE-old"
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	[ "$(ls -A "$store/$FP" | sort | tr '\n' ' ')" = ".tmp-$BASE-new $BASE " ]
}

@test "a verified cache entry is reused; a damaged one is fetched again" {
	store=$(store_of http)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	run -0 lookup "$store" "$TARGET"
	# without the data file on the server, only the cache can answer
	mv "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP/$BASE/disk" "$BATS_TEST_TMPDIR/disk.saved"
	run -0 lookup "$store" "$TARGET"
	cmp "$ENTRY/disk" "$CACHE/$FP/$BASE/disk"
	# a damaged cache copy is not trusted: it is fetched again
	printf 'X' | dd of="$CACHE/$FP/$BASE/disk" bs=1 seek=10 conv=notrunc status=none
	run -2 lookup "$store" "$TARGET"
	[[ "$(jq -r .cold.reason <<<"${lines[-1]}")" == "entry $store/$FP/$BASE failed verification: disk: listed in metadata.json but missing" ]]
	mv "$BATS_TEST_TMPDIR/disk.saved" "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP/$BASE/disk"
	run -0 lookup "$store" "$TARGET"
	cmp "$ENTRY/disk" "$CACHE/$FP/$BASE/disk"
}

@test "--max-distance bounds the walk: 0 is the target itself" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	run -2 lookup "$store" "$TARGET" --max-distance 0
	[ "$(jq -r .cold.reason <<<"${lines[-1]}")" = "no snapshot for fingerprint $FP within 0 first-parent ancestors of $TARGET" ]
	run -2 lookup "$store" "$TARGET" --max-distance 1
	run -0 lookup "$store" "$TARGET" --max-distance 2
	[ "$(jq -c .snapshot.distance <<<"$output")" = 2 ]
	run -0 lookup "$store" "$BASE" --max-distance 0
	[ "$(jq -c .snapshot.distance <<<"$output")" = 0 ]
	run -0 lookup "$store" "$MID" --max-distance 1
	[ "$(jq -c .snapshot.distance <<<"$output")" = 1 ]
	local n
	for n in -1 x "" " 1" +1 1.0 100001 18446744073709551617; do
		run -64 --separate-stderr lookup "$store" "$TARGET" --max-distance "$n"
		[ "${stderr_lines[0]}" = "bds-store-lookup: --max-distance takes a number from 0 to 100000" ] || { echo "'$n'"; false; }
	done
}

# lookup_in WS STORE REV [options]: lookup with WS as the envelope's workspace.
lookup_in() {
	local ws=$1 store=$2 rev=$3
	shift 3
	lookup_envelope | jq -c --arg ws "$ws" '.workspace = $ws' | bds-store-lookup --store "$store" --target "$rev" "$@"
}

@test "--base: that entry exactly, without its commit (a depth-1 clone); absent: the walk if the clone holds the base, else cold" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	local sh=$BATS_TEST_TMPDIR/shallow upper
	git clone -q --depth 1 "file://$REPO" "$sh"
	[ "$(git -C "$sh" rev-parse HEAD)" = "$TARGET" ]
	run -128 git -C "$sh" cat-file -e "$BASE^{commit}"
	run -0 --separate-stderr lookup_in "$sh" "$store" HEAD --base "$BASE"
	[ "$stderr" = "" ]
	[ "$(jq -c '[.target, .snapshot.base, .snapshot.distance, .snapshot.dir]' <<<"$output")" = "[\"$TARGET\",\"$BASE\",null,\"$CACHE/$FP/$BASE\"]" ]
	cmp "$ENTRY/disk" "$CACHE/$FP/$BASE/disk"
	upper=$(printf '%s' "$BASE" | tr a-f A-F)
	run -0 lookup_in "$sh" "$store" HEAD --base "$upper"
	[ "$(jq -r .snapshot.base <<<"$output")" = "$BASE" ]
	# no entry at --base, and the clone lacks that commit: no other entry can serve it
	run -2 --separate-stderr lookup_in "$sh" "$store" HEAD --base "$MID"
	local reason="no snapshot for fingerprint $FP at --base $MID, and this clone does not hold that commit, so no other entry can serve it"
	[ "$output" = "$(lookup_envelope | jq -cS --arg ws "$sh" --arg t "$TARGET" --arg r "$reason" \
		'. + {workspace: $ws, target: $t, cold: {stage: "bds-store-lookup", reason: $r}}')" ]
	[ "$stderr" = "bds-store-lookup: cold: $reason" ]
	# ... and the clone holds it: the nearest ancestor's entry (the consume hashes the base)
	run -0 lookup "$store" "$TARGET" --base "$MID"
	[ "$(jq -r '.snapshot | "\(.base) \(.distance)"' <<<"$output")" = "$BASE 2" ]
	# a depth-2 clone holds MID but not the entry's commit: cold, saying where its history ends
	local sh2=$BATS_TEST_TMPDIR/shallow2
	git clone -q --depth 2 "file://$REPO" "$sh2"
	run -2 --separate-stderr lookup_in "$sh2" "$store" HEAD --base "$MID"
	[ "$stderr" = "bds-store-lookup: cold: no snapshot for fingerprint $FP at --base $MID nor within the 2 commit(s) of the first-parent history of $TARGET this shallow clone holds" ]
	# a revision name resolves in the clone; one it does not know is exit 1
	run -0 lookup "$store" "$TARGET" --base "$TARGET~2"
	[ "$(jq -c '[.snapshot.base, .snapshot.distance]' <<<"$output")" = "[\"$BASE\",null]" ]
	run -1 --separate-stderr lookup_in "$sh" "$store" HEAD --base "$TARGET~2"
	[ "$output" = "" ]
	[ "$stderr" = "bds-store-lookup: unknown revision '$TARGET~2' in '$sh'" ]
	run -64 --separate-stderr lookup "$store" "$TARGET" --base --max-distance
	[ "${stderr_lines[0]}" = "bds-store-lookup: --base takes a revision, not an option" ]
	run -64 --separate-stderr lookup "$store" "$TARGET" --base ""
	[ "${stderr_lines[0]}" = "bds-store-lookup: --base takes a revision, not an option" ]
}

@test "a shallow clone without --base whose history ends before an entry: exit 1, one line saying how deep to fetch" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	local sh=$BATS_TEST_TMPDIR/shallow
	git clone -q --depth 2 "file://$REPO" "$sh"
	run -1 --separate-stderr lookup_in "$sh" "$store" HEAD
	[ "$output" = "" ]
	[ "$stderr" = "bds-store-lookup: this shallow clone holds 2 commit(s) of the first-parent history of $TARGET, none with a snapshot: fetch 63 more (git fetch --deepen=63) to search --max-distance 64, or pass --base SHA" ]
	run -1 --separate-stderr lookup_in "$sh" "$store" HEAD --max-distance 5
	[ "$stderr" = "bds-store-lookup: this shallow clone holds 2 commit(s) of the first-parent history of $TARGET, none with a snapshot: fetch 4 more (git fetch --deepen=4) to search --max-distance 5, or pass --base SHA" ]
	# --max-distance within its depth: the store's answer (cold), not the clone's
	run -2 --separate-stderr lookup_in "$sh" "$store" HEAD --max-distance 1
	[ "$stderr" = "bds-store-lookup: cold: no snapshot for fingerprint $FP within 1 first-parent ancestors of $TARGET" ]
	# deepened as it says: found
	git -C "$sh" fetch -q --deepen=63
	run -0 lookup_in "$sh" "$store" HEAD
	[ "$(jq -r '.snapshot | "\(.base) \(.distance)"' <<<"$output")" = "$BASE 2" ]
	# a full clone's root commit ends the walk without a message: cold
	run -2 --separate-stderr lookup "$store" "$OTHER"
	[ "$stderr" = "bds-store-lookup: cold: no snapshot for fingerprint $FP within 64 first-parent ancestors of $OTHER" ]
}

@test "the nearest entry wins" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	publish "$store" "$ENTRY" "$MID"
	run -0 lookup "$store" "$TARGET"
	[ "$(jq -r '.snapshot | "\(.base) \(.distance)"' <<<"$output")" = "$MID 1" ]
}

@test "a cold envelope passes through both binaries byte-identical (2)" {
	cold='{"cold":{"reason":"upstream said so","stage":"bds-fingerprint"},"workspace":"/w","zz":[1,2]}'
	run -2 --separate-stderr bds-store-lookup --store "$(store_of file)" --target HEAD <<<"$cold"
	[ "$output" = "$cold" ]
	[ "$stderr" = "" ]
	run -2 --separate-stderr bds-store-publish --store "$(store_of http)" <<<"$cold"
	[ "$output" = "$cold" ]
	[ "$stderr" = "" ]
	[ ! -e "$(store_of file)" ]
}

@test "a \`cold\` that is not an object of strings stage and reason is 1, never 2, for both binaries" {
	check_bad_cold bds-store-lookup --store "$(store_of file)" --target HEAD
	check_bad_cold bds-store-publish --store "$(store_of file)"
	[ ! -e "$(store_of file)" ]
}

@test "empty or invalid input fails (1), never cold" {
	for cmd in "bds-store-lookup --target HEAD" bds-store-publish; do
		run -1 --separate-stderr $cmd --store "$(store_of file)" < /dev/null
		[ "$output" = "" ]
		[[ "$stderr" == *"empty input"* ]]
		run -1 --separate-stderr $cmd --store "$(store_of file)" <<<'{"workspace":'
		[ "$output" = "" ]
		[[ "$stderr" == *"read envelope"* ]]
		run -1 $cmd --store "$(store_of file)" <<<'[1]'
	done
}

@test "usage errors (64): missing --store or --target, unknown scheme, relative path" {
	run -64 bds-store-lookup --target HEAD < /dev/null
	[[ "$output" == *"missing --store STORE"* ]]
	run -64 bds-store-lookup --store /tmp/x < /dev/null
	[[ "$output" == *"missing --target REV"* ]]
	run -64 bds-store-publish < /dev/null
	[[ "$output" == *"missing --store STORE"* ]]
	run -64 bds-store-publish --store ftp://host/x < /dev/null
	[[ "$output" == *"store 'ftp://host/x': unknown scheme"* ]]
	run -64 bds-store-lookup --store relative/dir --target HEAD < /dev/null
	[[ "$output" == *"unknown scheme"* ]]
	run -64 bds-store-lookup --store http://user:pw@h/x --target HEAD < /dev/null
	[[ "$output" == *"without credentials"* ]]
	run -64 bds-store-lookup --store /tmp/x --target --all < /dev/null
	[[ "$output" == *"--target takes a revision"* ]]
	run -64 bds-store-publish --store s3:// < /dev/null
	run -64 bds-store-publish --store /x extra < /dev/null
	run -0 bds-store-lookup --help
	[[ "$output" == usage:* ]]
}

@test "bad envelopes fail (1): unknown target, missing keys" {
	store=$(store_of file)
	run -1 --separate-stderr bds-store-lookup --store "$store" --target no-such-rev < <(lookup_envelope)
	[ "$stderr" = "bds-store-lookup: unknown revision 'no-such-rev' in '$REPO'" ]
	run -1 --separate-stderr bds-store-lookup --store "$store" --target HEAD <<<'{"workspace":"/w","driver":"local"}'
	[[ "$stderr" == *"no \`fingerprint\` object"* ]]
	run -1 --separate-stderr bds-store-lookup --store "$store" --target HEAD <<<'{"workspace":"/w","driver":"local","fingerprint":{"key":"ABC"}}'
	[[ "$stderr" == *"32 lowercase hex"* ]]
	run -1 --separate-stderr bds-store-publish --store "$store" <<<'{"workspace":"/w"}'
	[[ "$stderr" == *"no \`entry\` object"* ]]
	mkdir -p "$ENTRY"
	run -1 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
	[ "$stderr" = "bds-store-publish: entry '$ENTRY': no base_hashes.json" ]
	echo '{}' > "$ENTRY/base_hashes.json"
	mkdir "$ENTRY/sub"
	run -1 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
	[[ "$stderr" == *"'$ENTRY/sub': not a regular file"* ]]
	[ ! -e "$store/$FP/$BASE" ]
}

@test "metadata.json naming another driver or base fails verification (2)" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	run -2 bds-store-lookup --store "$store" --target "$TARGET" \
		< <(lookup_envelope | jq -c '.driver = "qemu"')
	[[ "$(jq -r .cold.reason <<<"${lines[-1]}")" == "entry $store/$FP/$BASE: metadata.json: driver is not qemu" ]]
	mv "$store/$FP/$BASE" "$store/$FP/$MID"
	run -2 lookup "$store" "$TARGET"
	[[ "$(jq -r .cold.reason <<<"${lines[-1]}")" == "entry $store/$FP/$MID: metadata.json: base is not $MID" ]]
	echo 'not json' > "$store/$FP/$MID/metadata.json"
	run -2 lookup "$store" "$TARGET"
	[[ "$(jq -r .cold.reason <<<"${lines[-1]}")" == "entry $store/$FP/$MID: parse 'metadata.json': "* ]]
}

@test "unreachable http store is cold (2) with the URL in the message" {
	port=$(random_port)
	run -2 --separate-stderr lookup "http://127.0.0.1:$port/x" "$TARGET"
	url="http://127.0.0.1:$port/x/$FP/$TARGET/metadata.json"
	[[ "$stderr" == "bds-store-lookup: cold: GET $url: "*"onnect"* ]]
	[[ "$(jq -r .cold.reason <<<"$output")" == "GET $url: "* ]]
	# publishing there is a failure, not cold
	make_entry "$ENTRY" v1
	run -1 --separate-stderr bds-store-publish --store "http://127.0.0.1:$port/x" < <(publish_envelope "$ENTRY" "$BASE")
	[[ "$stderr" == "bds-store-publish: DELETE http://127.0.0.1:$port/x/$FP/$BASE/metadata.json: "* ]]
}

@test "unreachable s3 endpoint is cold (2) with the URL in the message" {
	port=$(random_port)
	AWS_ENDPOINT_URL="http://127.0.0.1:$port" run -2 --separate-stderr lookup "s3://$S3_BUCKET/p" "$TARGET"
	[[ "$stderr" == "bds-store-lookup: cold: GET http://127.0.0.1:$port/$S3_BUCKET/p/$FP/$TARGET/metadata.json: "* ]]
}

@test "a server error (503) is cold (2) with the URL" {
	run -2 --separate-stderr lookup "$NGINX_URL/broken/x" "$TARGET"
	[ "$stderr" = "bds-store-lookup: cold: GET $NGINX_URL/broken/x/$FP/$TARGET/metadata.json: HTTP 503" ]
}

@test "a 2xx other than 200 (204, 206) for a GET is a broken store: cold (2) naming the status" {
	local broken="not 200 with the whole file: the store (or a proxy before it) is broken"
	run -2 --separate-stderr lookup "$NGINX_URL/nocontent/x" "$TARGET"
	[ "$stderr" = "bds-store-lookup: cold: GET $NGINX_URL/nocontent/x/$FP/$TARGET/metadata.json: HTTP 204, $broken" ]
	[ "$(jq -r .cold.reason <<<"$output")" = "GET $NGINX_URL/nocontent/x/$FP/$TARGET/metadata.json: HTTP 204, $broken" ]
	run -2 --separate-stderr lookup "$NGINX_URL/partial/x" "$TARGET"
	[ "$stderr" = "bds-store-lookup: cold: GET $NGINX_URL/partial/x/$FP/$TARGET/metadata.json: HTTP 206, $broken" ]
	# metadata.json served, the disk answered with 204: not an entry that fails verification
	make_entry "$ENTRY" v1
	publish "$(store_of http)" "$ENTRY" "$BASE"
	run -2 --separate-stderr lookup "$NGINX_URL/nodisk/t$BATS_TEST_NUMBER" "$TARGET"
	[ "$stderr" = "bds-store-lookup: cold: GET $NGINX_URL/nodisk/t$BATS_TEST_NUMBER/$FP/$BASE/disk: HTTP 204, $broken" ]
	[ ! -e "$CACHE/$FP/$BASE" ]
	# the same entry through /dav/ is whole
	run -0 lookup "$(store_of http)" "$TARGET"
}

@test "a PUT answered 202 (accepted, not stored) fails the publish (1), never a publish that did not happen" {
	make_entry "$ENTRY" v1
	run -1 --separate-stderr bds-store-publish --store "$NGINX_URL/accepted/x" < <(publish_envelope "$ENTRY" "$BASE")
	[ "$output" = "" ]
	[ "$stderr" = "bds-store-publish: PUT $NGINX_URL/accepted/x/$FP/$BASE/base_hashes.json: HTTP 202, not 200, 201 or 204 (stored): the store (or a proxy before it) is broken" ]
}

@test "a store that never answers is cold (2) within BDS_STORE_TIMEOUT" {
	port=$(random_port)
	node -e 'require("net").createServer(() => {}).listen(+process.argv[1], "127.0.0.1")' "$port" 3>&- &
	pid=$!
	echo "$pid" > "$BATS_TEST_TMPDIR/server.pid"
	wait_port "$port" "$pid"
	start=$(date +%s)
	BDS_STORE_TIMEOUT=1 run -2 --separate-stderr lookup "http://127.0.0.1:$port/x" "$TARGET"
	kill "$pid"
	wait "$pid" || true
	[ $(($(date +%s) - start)) -le 5 ]
	[[ "$stderr" == "bds-store-lookup: cold: GET http://127.0.0.1:$port/x/$FP/$TARGET/metadata.json: "*"imed out"* ]]
	BDS_STORE_TIMEOUT=0 run -1 lookup "http://127.0.0.1:$port/x" "$TARGET"
	[[ "$output" == *"BDS_STORE_TIMEOUT '0'"* ]]
}

@test "HTTP 403 is a failure (1) with a clear message, not cold" {
	run -1 --separate-stderr lookup "$NGINX_URL/forbidden/x" "$TARGET"
	[ "$output" = "" ]
	[ "$stderr" = "bds-store-lookup: GET $NGINX_URL/forbidden/x/$FP/$TARGET/metadata.json: HTTP 403: access denied, check the credentials (~/.netrc)" ]
}

@test "bad S3 credentials are a failure (1) with a clear message, for lookup and publish" {
	# s3rver checks the access key id (not the SigV4 signature itself)
	AWS_ACCESS_KEY_ID=WRONG run -1 --separate-stderr lookup "s3://$S3_BUCKET/p" "$TARGET"
	[ "$output" = "" ]
	[ "$stderr" = "bds-store-lookup: GET $AWS_ENDPOINT_URL/$S3_BUCKET/p/$FP/$TARGET/metadata.json: HTTP 403 (InvalidAccessKeyId): access denied, check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)" ]
	make_entry "$ENTRY" v1
	AWS_ACCESS_KEY_ID=WRONG run -1 --separate-stderr bds-store-publish --store "s3://$S3_BUCKET/p" < <(publish_envelope "$ENTRY" "$BASE")
	[[ "$stderr" == *"HTTP 403 (InvalidAccessKeyId): access denied"* ]]
	AWS_SECRET_ACCESS_KEY= run -1 --separate-stderr lookup "s3://$S3_BUCKET/p" "$TARGET"
	[ "$stderr" = "bds-store-lookup: store 's3://$S3_BUCKET/p': AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not" ]
}

@test "S3 requests carry a valid SigV4 signature for the region, the session token and an unsigned payload" {
	port=$(random_port)
	node "$BDS_TOP/tests/fixtures/sigv4-check-server.js" "$port" sekr1t "$BATS_TEST_TMPDIR/requests" 3>&- &
	pid=$!
	echo "$pid" > "$BATS_TEST_TMPDIR/server.pid"
	wait_port "$port" "$pid"
	export AWS_ENDPOINT_URL="http://127.0.0.1:$port/" AWS_REGION=eu-west-3 AWS_SESSION_TOKEN=tok3n \
		AWS_SECRET_ACCESS_KEY=sekr1t
	run -2 lookup "s3://bkt/some/prefix" "$TARGET" --max-distance 0
	make_entry "$ENTRY" v1
	run -0 publish "s3://bkt/some/prefix" "$ENTRY" "$BASE"
	kill "$pid"
	wait "$pid" || true
	req=$(head -n 1 "$BATS_TEST_TMPDIR/requests")
	[ "$(jq -r '"\(.m) \(.u)"' <<<"$req")" = "GET /bkt/some/prefix/$FP/$TARGET/metadata.json" ]
	[ "$(jq -r '.h["x-amz-security-token"]' <<<"$req")" = tok3n ]
	[ "$(jq -r '.h["x-amz-content-sha256"]' <<<"$req")" = UNSIGNED-PAYLOAD ]
	[[ "$(jq -r .h.authorization <<<"$req")" == "AWS4-HMAC-SHA256 Credential=S3RVER/"*"/eu-west-3/s3/aws4_request, SignedHeaders="*"x-amz-security-token"* ]]
	# every request (GET, DELETE, PUT of data, PUT of metadata.json last) verifies
	[ "$(jq -r '"\(.m) \(.u | split("/") | last) \(.sig)"' "$BATS_TEST_TMPDIR/requests" | tr '\n' ,)" = \
		"GET metadata.json ok,DELETE metadata.json ok,PUT base_hashes.json ok,PUT disk ok,PUT metadata.json ok," ]
	# the secret never travels
	run -1 grep -c sekr1t "$BATS_TEST_TMPDIR/requests"
}

# ---------------------------------------------------------------- hostile stores and input

@test "an unknown, empty or non-string driver is bad input (1), never cold, never in metadata.json" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	names="local, qemu, firecracker"
	for d in '"xen"' '""' '"rel/path"'; do
		run -1 --separate-stderr bds-store-lookup --store "$store" --target "$TARGET" \
			< <(lookup_envelope | jq -c ".driver = $d")
		[ "$output" = "" ]
		[ "$stderr" = "bds-store-lookup: envelope: \`driver\` must be a driver name (one of $names)" ]
		run -1 --separate-stderr bds-store-publish --store "$store" \
			< <(publish_envelope "$ENTRY" "$MID" | jq -c ".entry.driver = $d")
		[ "$output" = "" ]
		[ "$stderr" = "bds-store-publish: envelope: \`entry.driver\` must be a driver name (one of $names)" ]
	done
	run -1 --separate-stderr bds-store-lookup --store "$store" --target "$TARGET" < <(lookup_envelope | jq -c '.driver = 1')
	[ "$stderr" = "bds-store-lookup: envelope: key 'driver': expected string, found number" ]
	run -1 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$MID" | jq -c '.entry.driver = ["local"]')
	[ "$stderr" = "bds-store-publish: envelope: \`entry\`: key 'driver': expected string, found array" ]
	[ "$(ls -A "$store/$FP")" = "$BASE" ]
}

@test "a NUL byte inside an envelope string is refused (1), never cut short" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	run -1 --separate-stderr bds-store-publish --store "$store" \
		< <(publish_envelope "$ENTRY" "$BASE" | jq -c '.entry.dir += "\u0000/elsewhere"')
	[ "$stderr" = "bds-store-publish: read envelope 'stdin': key 'entry.dir': the string holds a NUL byte" ]
	[ ! -e "$store" ]
	publish "$store" "$ENTRY" "$BASE"
	run -1 --separate-stderr bds-store-lookup --store "$store" --target "$TARGET" \
		< <(lookup_envelope | jq -c '.workspace += "\u0000/elsewhere"')
	[ "$stderr" = "bds-store-lookup: read envelope 'stdin': key 'workspace': the string holds a NUL byte" ]
	run -1 --separate-stderr bds-store-lookup --store "$store" --target "$TARGET" \
		< <(lookup_envelope | jq -c '.driver = "local\u0000"')
	[ "$stderr" = "bds-store-lookup: read envelope 'stdin': key 'driver': the string holds a NUL byte" ]
	[ "$output" = "" ]
	# in a key no stage reads, or in a key itself: the next stage might read it
	run -1 --separate-stderr bds-store-lookup --store "$store" --target "$TARGET" \
		< <(lookup_envelope | jq -c '.fingerprint.components.extra = ["ok", "x\u0000y"]')
	[ "$stderr" = "bds-store-lookup: read envelope 'stdin': key 'fingerprint.components.extra[1]': the string holds a NUL byte" ]
	run -1 --separate-stderr bds-store-publish --store "$store" \
		< <(publish_envelope "$ENTRY" "$BASE" | jq -c '.entry.metadata["a\u0000b"] = 1')
	[ "$stderr" = "bds-store-publish: read envelope 'stdin': a key in 'entry.metadata' holds a NUL byte" ]
	[ "$output" = "" ]
}

@test "binary input names the NUL byte, for both binaries (1)" {
	for cmd in "bds-store-lookup --target HEAD" bds-store-publish; do
		run -1 --separate-stderr $cmd --store "$(store_of file)" < <(head -c 64 /dev/zero)
		[ "$output" = "" ]
		[ "$stderr" = "${cmd%% *}: read envelope: parse 'stdin': not JSON (NUL byte at offset 0)" ]
		run -1 --separate-stderr $cmd --store "$(store_of file)" < <(printf '{"workspace": "/w"}\0')
		[ "$stderr" = "${cmd%% *}: read envelope: parse 'stdin': not JSON (NUL byte at offset 19)" ]
	done
}

@test "file store: a FIFO, directory, device or socket in an entry is cold (2) at once, never a hang" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	f="$store/$FP/$BASE/base_hashes.json"
	for kind in FIFO directory "character device" socket; do
		rm -rf "$f"
		case $kind in
		FIFO) mkfifo "$f" ;;
		directory) mkdir "$f" ;;
		"character device") mknod "$f" c 1 5 ;; # /dev/zero: endless reads if taken for a file
		socket) (cd "${f%/*}" && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("base_hashes.json")') ;;
		esac
		run -2 --separate-stderr timeout 20 bds-store-lookup --store "$store" --target "$TARGET" < <(lookup_envelope)
		[ "$stderr" = "bds-store-lookup: cold: entry $store/$FP/$BASE failed verification: '$f': not a regular file (a $kind)" ]
		[ "$(jq -r .cold.stage <<<"$output")" = bds-store-lookup ]
		[ ! -e "$CACHE/$FP/$BASE" ]
	done
	# the commit marker itself
	rm -rf "$f" "$store/$FP/$BASE/metadata.json"
	mkfifo "$store/$FP/$BASE/metadata.json"
	run -2 --separate-stderr timeout 20 bds-store-lookup --store "$store" --target "$TARGET" < <(lookup_envelope)
	[ "$stderr" = "bds-store-lookup: cold: '$store/$FP/$BASE/metadata.json': not a regular file (a FIFO)" ]
}

@test "a FIFO in the cache is never read: the entry is fetched again (0)" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	publish "$store" "$ENTRY" "$BASE"
	run -0 lookup "$store" "$TARGET"
	for name in metadata.json disk; do
		rm "$CACHE/$FP/$BASE/$name"
		mkfifo "$CACHE/$FP/$BASE/$name"
		run -0 --separate-stderr timeout 20 bds-store-lookup --store "$store" --target "$TARGET" < <(lookup_envelope)
		[ "$stderr" = "" ]
		[ -f "$CACHE/$FP/$BASE/$name" ]
		cmp "$ENTRY/disk" "$CACHE/$FP/$BASE/disk"
	done
}

@test "an envelope too large for the memory there is: 1 with a message, never an abort" {
	if grep -qa __asan_init "$BDS_BUILD/bin/bds-store-lookup"; then
		skip "AddressSanitizer (make asan) needs more address space than ulimit -v leaves"
	fi
	# 12 MB of JSON (under the 16 MiB limit) that libjq needs about 100 MB to parse
	python3 -c 'import json, sys; print(json.dumps({"workspace": sys.argv[1], "driver": "local",
		"fingerprint": {"key": sys.argv[2]}, "junk": list(range(1500000))}))' "$REPO" "$FP" > "$BATS_TEST_TMPDIR/big.json"
	for cmd in "bds-store-lookup --target $TARGET" bds-store-publish; do
		run -1 --separate-stderr bash -c 'ulimit -v 50000; exec $0 --store "$1" < "$2"' "$cmd" "$(store_of file)" "$BATS_TEST_TMPDIR/big.json"
		[ "$output" = "" ]
		[ "$stderr" = "${cmd%% *}: out of memory parsing JSON input" ]
	done
}

@test "a reply that is not HTTP (a broken proxy) is cold (2), like a reset connection" {
	# an ssh banner, binary zeros, a status line that is not HTTP's (hex)
	for reply in 5353482d322e302d4f70656e5353485f392e320d0a 0000000000000000 485454502f312e31206162630d0a0d0a; do
		port=$(random_port)
		node -e 'const r = Buffer.from(process.argv[2], "hex");
			require("net").createServer(s => s.once("data", () => s.end(r))).listen(+process.argv[1], "127.0.0.1")' \
			"$port" "$reply" 3>&- &
		pid=$!
		echo "$pid" > "$BATS_TEST_TMPDIR/server.pid"
		wait_port "$port" "$pid"
		run -2 --separate-stderr lookup "http://127.0.0.1:$port/x" "$TARGET"
		kill "$pid"
		wait "$pid" || true
		url="http://127.0.0.1:$port/x/$FP/$TARGET/metadata.json"
		case $reply in
		4854*) [ "$stderr" = "bds-store-lookup: cold: GET $url: Unsupported HTTP version in response" ] ;;
		*) [ "$stderr" = "bds-store-lookup: cold: GET $url: Received HTTP/0.9 when not allowed" ] ;;
		esac
		[ "$(jq -r .cold.reason <<<"$output")" = "${stderr#bds-store-lookup: cold: }" ]
	done
}

@test "git's own reason for refusing the workspace is shown (1), not \"unknown revision\"" {
	[ "$(id -u)" = 0 ] || skip "needs root to give the workspace to another user"
	dub="$BATS_TEST_TMPDIR/dubious"
	cp -a "$REPO" "$dub"
	chown -R nobody "$dub"
	GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 run -1 --separate-stderr \
		bds-store-lookup --store "$(store_of file)" --target "$TARGET" < <(lookup_envelope | jq -c --arg w "$dub" '.workspace = $w')
	[ "$output" = "" ]
	[ "$stderr" = "bds-store-lookup: resolve '$TARGET' in '$dub': git: fatal: detected dubious ownership in repository at '$dub'" ]
}

# ---------------------------------------------------------------- what killed processes leave

# big_entry DIR: base_hashes.json and a 200 MB "disk", sparse but with 190 MB of data, so
# that copying it takes long enough to be killed in the middle.
big_entry() {
	mkdir -p "$1"
	echo '{}' > "$1/base_hashes.json"
	truncate -s 200M "$1/disk"
	head -c 190M /dev/urandom | dd of="$1/disk" bs=1M seek=5 conv=notrunc status=none
}

# wait_glob PATTERN: until a path matches (0), or 60 s pass (1). No sleep: the window to
# catch is a copy in progress.
wait_glob() {
	local deadline=$((SECONDS + 60))
	until compgen -G "$1" > /dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
	done
}

@test "file store: a SIGKILLed publish's staging directory is swept by the next publish" {
	store=$(store_of file)
	big_entry "$ENTRY"
	# niced, so that the copy loses the CPU to the test that watches it, not the other way
	nice -n 19 bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE") > /dev/null 3>&- &
	pid=$!
	wait_glob "$store/$FP/.tmp-$BASE-*/disk"
	kill -KILL "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 137 ]
	# killed in the middle: nothing published, the staging directory left behind
	[ ! -e "$store/$FP/$BASE" ]
	[ -d "$(compgen -G "$store/$FP/.tmp-$BASE-*")" ]
	make_entry "$BATS_TEST_TMPDIR/small" v1
	run -0 publish "$store" "$BATS_TEST_TMPDIR/small" "$MID"
	[ "$(ls -A "$store/$FP")" = "$MID" ]
}

@test "a SIGKILLed lookup's cache copy is swept by the next lookup" {
	store=$(store_of file)
	big_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	# the binary itself, not a shell function's subshell, so that it is the one killed
	nice -n 19 bds-store-lookup --store "$store" --target "$TARGET" < <(lookup_envelope) > /dev/null 3>&- &
	pid=$!
	wait_glob "$CACHE/$FP/.tmp-$BASE-*/disk"
	kill -KILL "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 137 ]
	[ ! -e "$CACHE/$FP/$BASE" ]
	[ -d "$(compgen -G "$CACHE/$FP/.tmp-$BASE-*")" ]
	run -0 lookup "$store" "$TARGET"
	[ "$(ls -A "$CACHE/$FP")" = "$BASE" ]
	cmp "$ENTRY/disk" "$CACHE/$FP/$BASE/disk"
}

@test "a live publisher's staging directory is never swept, however old" {
	store=$(store_of file)
	big_entry "$ENTRY"
	nice -n 19 bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE") > "$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	wait_glob "$store/$FP/.tmp-$BASE-*/disk"
	kill -STOP "$pid"
	tmp=$(compgen -G "$store/$FP/.tmp-$BASE-*")
	touch -d '2 days ago' "$tmp"
	make_entry "$BATS_TEST_TMPDIR/small" v1
	publish "$store" "$BATS_TEST_TMPDIR/small" "$MID"
	[ -d "$tmp" ]
	kill -CONT "$pid"
	wait "$pid"
	[ "$(jq -r .published.base "$BATS_TEST_TMPDIR/out")" = "$BASE" ]
	run -0 lookup "$store" "$BASE"
	cmp "$ENTRY/disk" "$CACHE/$FP/$BASE/disk"
	[ "$(ls -A "$store/$FP")" = "$(printf '%s\n' "$BASE" "$MID" | sort)" ]
}

@test "unlocked leftovers (.tmp-*, .old-*) go after an hour; fresh ones, files and FIFOs stay" {
	store=$(store_of file)
	mkdir -p "$store/$FP/.tmp-$BASE-stale" "$store/$FP/.old-$BASE-stale" "$store/$FP/.tmp-$BASE-fresh"
	touch -d '2 hours ago' "$store/$FP/.tmp-$BASE-stale" "$store/$FP/.old-$BASE-stale"
	mkfifo "$store/$FP/.tmp-$BASE-fifo"
	touch -d '2 days ago' "$store/$FP/.tmp-$BASE-file"
	# a directory whose lock file is a FIFO: not a lock, and never opened
	mkdir "$store/$FP/.tmp-$BASE-fifolock"
	mkfifo "$store/$FP/.tmp-$BASE-fifolock/.lock"
	touch -d '2 days ago' "$store/$FP/.tmp-$BASE-fifolock"
	make_entry "$ENTRY" v1
	run -0 timeout 20 bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
	[ "$(ls -A "$store/$FP" | tr '\n' ' ')" = ".tmp-$BASE-fifo .tmp-$BASE-fifolock .tmp-$BASE-file .tmp-$BASE-fresh $BASE " ]
}

@test "an entry or cache copy never carries a lock file; an entry directory's own is skipped" {
	store=$(store_of file)
	make_entry "$ENTRY" v1
	# the staging entry of bds-vm-snapshot --owner holds its owner's lock and record
	: > "$ENTRY/.lock"
	echo "$$ 1 -" > "$ENTRY/.owner"
	publish "$store" "$ENTRY" "$BASE"
	[ "$(ls -A "$store/$FP/$BASE" | tr '\n' ' ')" = "base_hashes.json disk metadata.json " ]
	[ "$(jq -c '.files | keys' "$store/$FP/$BASE/metadata.json")" = '["base_hashes.json","disk"]' ]
	run -0 lookup "$store" "$TARGET"
	[ "$(ls -A "$CACHE/$FP/$BASE" | tr '\n' ' ')" = "base_hashes.json disk metadata.json " ]
}

# Entries of format 2 (store.md 4): VM files stored as content-defined chunks under
# <store>/chunks/, uploaded only when the store lacks them, fetched through the chunk cache
# and verified chunk by chunk; prune's collection of unreferenced chunks; the chunk cache's
# eviction. Against a local directory, nginx (WebDAV) and s3rver, started on loopback.

load helpers
load store-helpers

FP=0123456789abcdef0123456789abcdef

setup_file() {
	REPO="$BATS_FILE_TMPDIR/repo"
	new_workspace "$REPO"
	echo 1 > "$REPO/f"
	BASE=$(commit_all "$REPO" base)
	echo 2 > "$REPO/f"
	BASE2=$(commit_all "$REPO" base2)
	echo 3 > "$REPO/f"
	TARGET=$(commit_all "$REPO" target)
	export REPO BASE BASE2 TARGET
	start_nginx
	start_s3rver
}

teardown_file() {
	stop_store_servers
}

setup() {
	CACHE="$BATS_TEST_TMPDIR/cache"
	ENTRY="$BATS_TEST_TMPDIR/entry"
	export BDS_CACHE="$CACHE"
	unset BDS_STORE_FORMAT
}

# random_bytes SEED COUNT: the same COUNT bytes for the same SEED.
random_bytes() {
	python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$1" "$2"
}

# make_vm_entry DIR: base_hashes.json, a 24 MiB "mem" (12 MiB of data, then 12 MiB of
# zeros) and a 100 KiB "vmstate".
make_vm_entry() {
	mkdir -p "$1"
	printf '{"//pkg:a":"v1"}\n' > "$1/base_hashes.json"
	random_bytes 1 12582912 > "$1/mem"
	truncate -s 24M "$1/mem"
	random_bytes 2 102400 > "$1/vmstate"
}

# mib BYTES: BYTES in MiB as bds prints it (C's %.1f; awk's printf is C's).
mib() {
	awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'
}

# entry_url KIND STORE: where bds says the entry (FP, BASE) is.
entry_url() {
	case $1 in
	file | http) echo "$2/$FP/$BASE" ;;
	s3) echo "$AWS_ENDPOINT_URL/$S3_BUCKET/p/t$BATS_TEST_NUMBER/$FP/$BASE" ;;
	esac
}

# The chunk names (one per line, in file order) of FILE in a metadata.json.
chunk_names() { # METADATA FILE
	jq -r --arg f "$2" '.files[$f].chunks[][0]' "$1"
}

# stored_object KIND STORE KEY OUT: copies a stored object to OUT.
stored_object() {
	if [ "$1" = s3 ]; then
		s3_curl -o "$4" "$AWS_ENDPOINT_URL/$S3_BUCKET/p/t$BATS_TEST_NUMBER/$3"
	else
		cp "$(key_file "$1" "$2" "$3")" "$4"
	fi
}

check_roundtrip() { # KIND
	local store md n
	store=$(store_of "$1")
	make_vm_entry "$ENTRY"
	run -0 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
	stored_object "$1" "$store" "$FP/$BASE/metadata.json" "$BATS_TEST_TMPDIR/md.json"
	md="$BATS_TEST_TMPDIR/md.json"
	[ "$(jq -c '[.format, (.files | keys), (.files["base_hashes.json"] | has("chunks"))]' "$md")" = '[2,["base_hashes.json","mem","vmstate"],false]' ]
	n=$(chunk_names "$md" mem | wc -l)
	# 12 MiB of data in chunks of 64 KiB to 1 MiB, and the zeros in chunks of 1 MiB
	[ "$n" -ge 24 ]
	[ "$n" -le 204 ]
	# every chunk is stored under its XXH3-128, and they make the file, in order
	: > "$BATS_TEST_TMPDIR/joined"
	for h in $(chunk_names "$md" mem); do
		stored_object "$1" "$store" "chunks/${h:0:2}/$h" "$BATS_TEST_TMPDIR/chunk"
		[ "$(xxh "$BATS_TEST_TMPDIR/chunk")" = "$h" ]
		cat "$BATS_TEST_TMPDIR/chunk" >> "$BATS_TEST_TMPDIR/joined"
	done
	cmp "$BATS_TEST_TMPDIR/joined" "$ENTRY/mem"
	[ "$(jq '[.files.mem.chunks[][1]] | add' "$md")" = 25165824 ]
	[ "$(jq -r '.files.mem.xxh3_128' "$md")" = "$(xxh "$ENTRY/mem")" ]
	# the zeros are one chunk, uploaded once; the report's figures, as C's %.1f prints them
	local distinct vn up total
	distinct=$(chunk_names "$md" mem | sort -u | wc -l)
	[ "$distinct" -lt "$n" ]
	vn=$(chunk_names "$md" vmstate | wc -l)
	up=$(jq '[.files[].chunks // [] | unique[][1]] | add' "$md")
	total=$(jq '[.files.mem.size, .files.vmstate.size] | add' "$md")
	[ "$stderr" = "bds-store-publish: mem: $n chunks (24.0 MiB), $distinct uploaded ($(mib "$(jq '[.files.mem.chunks | unique[][1]] | add' "$md")") MiB), the rest already in the store
bds-store-publish: vmstate: $vn chunks (0.1 MiB), $vn uploaded (0.1 MiB), the rest already in the store
bds-store-publish: uploaded $(mib "$up") of $(mib "$total") MiB in chunks ($(awk -v u="$up" -v t="$total" 'BEGIN { printf "%.1f", 100 * u / t }') %)" ]

	run -0 --separate-stderr lookup "$store" "$TARGET"
	[ "$(jq -c '.snapshot | [.base, .distance, .dir]' <<<"$output")" = "[\"$BASE\",2,\"$CACHE/$FP/$BASE\"]" ]
	[ "$(jq -cS .snapshot.metadata <<<"$output")" = "$(jq -cS . "$md")" ]
	# the chunks the zeros repeat come from the chunk cache
	[ "$stderr" = "bds-store-lookup: $(entry_url "$1" "$store"): $((distinct + vn)) of $((n + vn)) chunks fetched ($(mib "$up") of $(mib "$total") MiB), the rest from the chunk cache" ]
	cmp "$ENTRY/mem" "$CACHE/$FP/$BASE/mem"
	cmp "$ENTRY/vmstate" "$CACHE/$FP/$BASE/vmstate"
	cmp "$ENTRY/base_hashes.json" "$CACHE/$FP/$BASE/base_hashes.json"
	# the zeros stay holes in the copy (24 MiB apparent, about 12 allocated)
	[ "$(du -k "$CACHE/$FP/$BASE/mem" | cut -f1)" -lt 14000 ]
	# every chunk is in the chunk cache, under its name
	for h in $(chunk_names "$md" mem) $(chunk_names "$md" vmstate); do
		[ "$(xxh "$CACHE/chunks/${h:0:2}/$h")" = "$h" ]
	done
}

@test "file store: a format-2 entry is its chunks, uploaded once each, and a lookup rebuilds every file exactly" {
	check_roundtrip file
}

@test "http store: a format-2 entry is its chunks, uploaded once each, and a lookup rebuilds every file exactly" {
	check_roundtrip http
}

@test "s3 store: a format-2 entry is its chunks, uploaded once each, and a lookup rebuilds every file exactly" {
	check_roundtrip s3
}

# insert_bytes FILE OFFSET COUNT: COUNT new bytes at OFFSET, the size kept (the end cut).
insert_bytes() {
	local size
	size=$(stat -c %s "$1")
	{ head -c "$2" "$1"; random_bytes 9 "$3"; tail -c +$(($2 + 1)) "$1"; } > "$1.new"
	truncate -s "$size" "$1.new"
	mv "$1.new" "$1"
}

@test "a second base one edit later uploads only the chunks around the edit, and a lookup fetches only those" {
	store=$(store_of http)
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	run -0 lookup "$store" "$BASE"
	cp "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP/$BASE/metadata.json" "$BATS_TEST_TMPDIR/md1.json"
	# 100 bytes inserted in the middle of the data: every later byte moves
	insert_bytes "$ENTRY/mem" 5000000 100
	run -0 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE2")
	md2="$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$FP/$BASE2/metadata.json"
	# the chunks of the second that the first lacks, found independently of bds
	new=$(comm -13 <(chunk_names "$BATS_TEST_TMPDIR/md1.json" mem | sort -u) <(chunk_names "$md2" mem | sort -u))
	count=$(grep -c . <<<"$new")
	[ "$count" -ge 1 ]
	[ "$count" -le 3 ]
	bytes=$(jq --arg new "$new" '[.files.mem.chunks[] | select(.[0] as $h | $new | split("\n") | index($h))] | unique | map(.[1]) | add' "$md2")
	[ "${stderr_lines[0]}" = "bds-store-publish: mem: $(chunk_names "$md2" mem | wc -l) chunks (24.0 MiB), $count uploaded ($(mib "$bytes") MiB), the rest already in the store" ]
	[ "${stderr_lines[1]}" = "bds-store-publish: vmstate: $(chunk_names "$md2" vmstate | wc -l) chunks (0.1 MiB), 0 uploaded (0.0 MiB), the rest already in the store" ]
	[ "$(find "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/chunks" -type f | wc -l)" -eq $(($(cat <(chunk_names "$BATS_TEST_TMPDIR/md1.json" mem) <(chunk_names "$BATS_TEST_TMPDIR/md1.json" vmstate) | sort -u | wc -l) + count)) ]
	# the first base's chunks are in the chunk cache: only the new ones travel
	run -0 --separate-stderr lookup "$store" "$TARGET"
	[ "$(jq -r .snapshot.base <<<"$output")" = "$BASE2" ]
	[ "$stderr" = "bds-store-lookup: $store/$FP/$BASE2: $count of $(jq '[.files[].chunks // [] | length] | add' "$md2") chunks fetched ($(mib "$bytes") of 24.1 MiB), the rest from the chunk cache" ]
	cmp "$ENTRY/mem" "$CACHE/$FP/$BASE2/mem"
}

check_corrupt_chunk() { # KIND
	local store h
	store=$(store_of "$1")
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	stored_object "$1" "$store" "$FP/$BASE/metadata.json" "$BATS_TEST_TMPDIR/md.json"
	h=$(chunk_names "$BATS_TEST_TMPDIR/md.json" mem | sed -n 2p)
	flip_byte "$1" "$store" "chunks/${h:0:2}/$h"
	stored_object "$1" "$store" "chunks/${h:0:2}/$h" "$BATS_TEST_TMPDIR/bad"
	run -2 --separate-stderr lookup "$store" "$TARGET"
	reason=$(jq -r .cold.reason <<<"$output")
	[ "$reason" = "entry $(entry_url "$1" "$store") failed verification: mem: chunk $h in the store has xxh3_128 $(xxh "$BATS_TEST_TMPDIR/bad")" ]
	[ "$stderr" = "bds-store-lookup: cold: $reason" ]
	# never used: no copy, and the bad chunk is not in the chunk cache
	[ ! -e "$CACHE/$FP/$BASE" ]
	[ ! -e "$CACHE/chunks/${h:0:2}/$h" ]
	[ "$(jq 'has("snapshot")' <<<"$output")" = false ]
}

@test "file store: a chunk with one byte flipped is cold (2), naming the chunk, and never cached" {
	check_corrupt_chunk file
}

@test "http store: a chunk with one byte flipped is cold (2), naming the chunk, and never cached" {
	check_corrupt_chunk http
}

@test "s3 store: a chunk with one byte flipped is cold (2), naming the chunk, and never cached" {
	check_corrupt_chunk s3
}

@test "a chunk missing from the store, or longer than listed, is cold (2)" {
	for kind in file s3; do
		store=$(store_of $kind)
		make_vm_entry "$ENTRY"
		publish "$store" "$ENTRY" "$BASE"
		stored_object $kind "$store" "$FP/$BASE/metadata.json" "$BATS_TEST_TMPDIR/md.json"
		h=$(chunk_names "$BATS_TEST_TMPDIR/md.json" vmstate | head -1)
		delete_key $kind "$store" "chunks/${h:0:2}/$h"
		run -2 lookup "$store" "$TARGET"
		[ "$(jq -r .cold.reason <<<"${lines[-1]}")" = "entry $(entry_url $kind "$store") failed verification: vmstate: chunk $h is missing from the store" ]
		[ ! -e "$CACHE/$FP/$BASE" ]
	done
	# one byte more than metadata.json lists (the chunk cache is shared by every store: the
	# lookup from s3 put the chunks of mem there)
	rm -r "$CACHE"
	h=$(chunk_names "$BATS_TEST_TMPDIR/md.json" mem | head -1)
	store=$(store_of file)
	printf 'X' >> "$store/chunks/${h:0:2}/$h"
	run -2 lookup "$store" "$TARGET"
	[ "$(jq -r .cold.reason <<<"${lines[-1]}")" = "entry $store/$FP/$BASE failed verification: mem: chunk $h is not the $(jq --arg h "$h" '[.files.mem.chunks[] | select(.[0] == $h)][0][1]' "$BATS_TEST_TMPDIR/md.json") bytes metadata.json lists" ]
}

@test "a chunk damaged in the chunk cache, or a FIFO there, is fetched again and never used" {
	store=$(store_of file)
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	run -0 lookup "$store" "$TARGET"
	md="$CACHE/$FP/$BASE/metadata.json"
	h1=$(chunk_names "$md" mem | sed -n 1p)
	h2=$(chunk_names "$md" vmstate | sed -n 1p)
	rm -r "${CACHE:?}/$FP"
	printf 'X' | dd of="$CACHE/chunks/${h1:0:2}/$h1" bs=1 seek=7 conv=notrunc status=none
	rm "$CACHE/chunks/${h2:0:2}/$h2"
	mkfifo "$CACHE/chunks/${h2:0:2}/$h2"
	run -0 --separate-stderr lookup "$store" "$TARGET"
	[[ "$stderr" == "bds-store-lookup: $store/$FP/$BASE: 2 of "*" chunks fetched ("*" MiB), the rest from the chunk cache" ]]
	cmp "$ENTRY/mem" "$CACHE/$FP/$BASE/mem"
	cmp "$ENTRY/vmstate" "$CACHE/$FP/$BASE/vmstate"
	[ "$(xxh "$CACHE/chunks/${h1:0:2}/$h1")" = "$h1" ]
	[ -f "$CACHE/chunks/${h2:0:2}/$h2" ]
}

# edit_metadata STORE JQ: rewrites the entry's metadata.json with a jq filter.
edit_metadata() {
	local f="$1/$FP/$BASE/metadata.json"
	jq -c "$2" "$f" > "$f.new"
	mv "$f.new" "$f"
}

# cold_with_metadata STORE JQ REASON: the entry (FP, BASE) with its metadata.json saved in
# md.json, rewritten by JQ, is cold for REASON.
cold_with_metadata() {
	cp "$BATS_TEST_TMPDIR/md.json" "$1/$FP/$BASE/metadata.json"
	edit_metadata "$1" "$2"
	run -2 lookup "$1" "$TARGET"
	[ "$(jq -r .cold.reason <<<"${lines[-1]}")" = "$3" ] || { echo "got: ${lines[-1]}" >&2; return 1; }
}

@test "a metadata.json whose chunks are malformed, do not add up, or make another file is cold (2)" {
	store=$(store_of file)
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	cp "$store/$FP/$BASE/metadata.json" "$BATS_TEST_TMPDIR/md.json"
	prefix="entry $store/$FP/$BASE: metadata.json: 'vmstate'"
	not_chunk="$prefix: chunk 0 is not [32 hex digits, a length from 1 to 67108864 within the size]"
	cold_with_metadata "$store" '.files.vmstate.chunks[0][1] += 1' "$not_chunk"
	cold_with_metadata "$store" '.files.vmstate.size += 1' "$prefix: its chunks add up to 102400 bytes, not its size 102401"
	cold_with_metadata "$store" '.files.vmstate.chunks[0][0] = "XYZ"' "$not_chunk"
	cold_with_metadata "$store" '.files.vmstate.chunks = 7' "$prefix: chunks is not an array"
	# a chunk that is not a pair (jq would abort on it): cold, never a crash
	for bad in 5 '"abc"' '{}' '[]'; do
		cold_with_metadata "$store" ".files.vmstate.chunks[0] = $bad" "$not_chunk"
	done
	# two sound chunks in the wrong order: each verifies, the whole does not
	cp "$BATS_TEST_TMPDIR/md.json" "$store/$FP/$BASE/metadata.json"
	edit_metadata "$store" '.files.mem.chunks |= ([.[1], .[0]] + .[2:])'
	run -2 lookup "$store" "$TARGET"
	[[ "$(jq -r .cold.reason <<<"${lines[-1]}")" == "entry $store/$FP/$BASE failed verification: mem: its chunks make xxh3_128 "*", metadata.json lists $(xxh "$ENTRY/mem")" ]]
	[ ! -e "$CACHE/$FP/$BASE" ]
	# a format this bds does not know
	cp "$BATS_TEST_TMPDIR/md.json" "$store/$FP/$BASE/metadata.json"
	edit_metadata "$store" '.format = 3'
	run -2 lookup "$store" "$TARGET"
	[ "$(jq -r .cold.reason <<<"${lines[-1]}")" = "entry $store/$FP/$BASE: metadata.json: format is not 1 or 2 (an entry from a newer bds?)" ]
}

@test "--format 1 (or BDS_STORE_FORMAT=1) publishes whole files; anything but 1 or 2 is a usage error (64)" {
	store=$(store_of file)
	make_vm_entry "$ENTRY"
	run -0 --separate-stderr bds-store-publish --store "$store" --format 1 < <(publish_envelope "$ENTRY" "$BASE")
	[ "$stderr" = "" ]
	[ "$(jq -c '[.format, [.files[] | has("chunks")]]' "$store/$FP/$BASE/metadata.json")" = '[1,[false,false,false]]' ]
	[ ! -e "$store/chunks" ]
	cmp "$ENTRY/mem" "$store/$FP/$BASE/mem"
	BDS_STORE_FORMAT=1 run -0 bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
	[ "$(jq .format "$store/$FP/$BASE/metadata.json")" = 1 ]
	# the option wins over the environment
	BDS_STORE_FORMAT=1 run -0 --separate-stderr bds-store-publish --store "$store" --format 2 < <(publish_envelope "$ENTRY" "$BASE")
	[ "$(jq .format "$store/$FP/$BASE/metadata.json")" = 2 ]
	run -64 --separate-stderr bds-store-publish --store "$store" --format 3 < /dev/null
	[ "${stderr_lines[0]}" = "bds-store-publish: --format '3': expected 1 or 2" ]
	run -64 --separate-stderr bds-store-publish --store "$store" --format '' < /dev/null
	[ "${stderr_lines[0]}" = "bds-store-publish: --format '': expected 1 or 2" ]
	# the environment counts only without --format
	BDS_STORE_FORMAT=7 run -0 bds-store-publish --store "$store" --format 1 < <(publish_envelope "$ENTRY" "$BASE")
	BDS_STORE_FORMAT=two run -64 --separate-stderr bds-store-publish --store "$store" < /dev/null
	[ "${stderr_lines[0]}" = "bds-store-publish: BDS_STORE_FORMAT 'two': expected 1 or 2" ]
}

FP2=fedcba9876543210fedcba9876543210

# chunk_files KIND STORE: the stored chunk objects, "<name>" per line, sorted.
chunk_files() {
	case $1 in
	file) find "$2/chunks" -type f -printf '%f\n' | sort ;;
	http) find "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/chunks" -type f -printf '%f\n' | sort ;;
	esac
}

# age_chunks KIND STORE WHEN: sets every stored chunk's modification time (touch -d).
age_chunks() {
	case $1 in
	file) find "$2/chunks" -type f -exec touch -d "$3" {} + ;;
	http) find "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/chunks" -type f -exec touch -d "$3" {} + ;;
	esac
}

check_collect() { # KIND
	local store md_a md_b
	store=$(store_of "$1")
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	insert_bytes "$ENTRY/mem" 5000000 100
	FP=$FP2 publish "$store" "$ENTRY" "$BASE2"
	md_a="$BATS_TEST_TMPDIR/a.json"
	md_b="$BATS_TEST_TMPDIR/b.json"
	stored_object "$1" "$store" "$FP/$BASE/metadata.json" "$md_a"
	stored_object "$1" "$store" "$FP2/$BASE2/metadata.json" "$md_b"
	jq -r '.files[].chunks // [] | .[][0]' "$md_a" | sort -u > "$BATS_TEST_TMPDIR/a"
	jq -r '.files[].chunks // [] | .[][0]' "$md_b" | sort -u > "$BATS_TEST_TMPDIR/b"
	only_a=$(comm -23 "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b" | wc -l)
	[ "$only_a" -ge 1 ]
	# a chunk no entry references yet, as a publish under way leaves it: young, so kept
	stray=0123456789abcdef0123456789abcdef
	case $1 in
	file) mkdir -p "$store/chunks/01" && echo x > "$store/chunks/01/$stray" ;;
	http) curl -sSf -T - "$store/chunks/01/$stray" <<<x ;;
	esac
	# the first entry goes; its own chunks are a day old, but young: all kept
	run -0 bds-prune --store "$store" --keep 0 --fingerprint "$FP"
	[ "${lines[1]}" = "store $store: removed 1, kept 0, skipped 0" ]
	[ "${lines[2]}" = "store $store: chunks: deleted 0 unreferenced for a day, kept $(($(sort -u "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b" | wc -l) + 1))" ]
	# a day later: what only the removed entry used goes, with the stray chunk
	age_chunks "$1" "$store" "2 days ago"
	run -0 bds-prune --store "$store" --keep 0 --fingerprint "$FP" --dry-run
	[ "${lines[1]}" = "store $store: chunks: would delete $((only_a + 1)) unreferenced for a day, kept $(wc -l < "$BATS_TEST_TMPDIR/b")" ]
	run -0 bds-prune --store "$store" --keep 0 --fingerprint "$FP"
	[ "$output" = "store $store: removed 0, kept 0, skipped 0
store $store: chunks: deleted $((only_a + 1)) unreferenced for a day, kept $(wc -l < "$BATS_TEST_TMPDIR/b")" ]
	[ "$(chunk_files "$1" "$store")" = "$(cat "$BATS_TEST_TMPDIR/b")" ]
	# the entry left is whole
	FP=$FP2 run -0 --separate-stderr lookup "$store" "$TARGET"
	[ "$(jq -r .snapshot.base <<<"$output")" = "$BASE2" ]
	cmp "$ENTRY/mem" "$CACHE/$FP2/$BASE2/mem"
}

@test "file store: prune deletes the chunks no entry references once a day old, and none an entry uses" {
	check_collect file
}

@test "http store: prune deletes the chunks no entry references once a day old, and none an entry uses" {
	check_collect http
}

@test "s3 store: prune lists every chunk (by continuation token) and keeps young ones" {
	store=$(store_of s3)
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	stored_object s3 "$store" "$FP/$BASE/metadata.json" "$BATS_TEST_TMPDIR/md.json"
	n=$(jq -r '.files[].chunks // [] | .[][0]' "$BATS_TEST_TMPDIR/md.json" | sort -u | wc -l)
	BDS_TEST_S3_MAX_KEYS=2 run -0 bds-prune --store "$store" --keep 0 --dry-run
	[ "${lines[-1]}" = "store $store: chunks: would delete 0 unreferenced for a day, kept $n" ]
	run -0 bds-prune --store "$store" --keep 0
	[ "${lines[-1]}" = "store $store: chunks: deleted 0 unreferenced for a day, kept $n" ]
}

@test "an entry prune cannot read stops the collection of chunks (1): nothing deleted" {
	store=$(store_of file)
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	FP=$FP2 publish "$store" "$ENTRY" "$BASE2"
	# a format this bds does not know may reference any chunk
	jq -c '.format = 3' "$store/$FP2/$BASE2/metadata.json" > "$BATS_TEST_TMPDIR/md"
	cp "$BATS_TEST_TMPDIR/md" "$store/$FP2/$BASE2/metadata.json"
	before=$(chunk_files file "$store")
	created=$(jq -r .created_at "$store/$FP/$BASE/metadata.json")
	age_chunks file "$store" "2 days ago"
	run -1 --separate-stderr bds-prune --store "$store" --keep 0 --fingerprint "$FP"
	[ "$output" = "removed $FP/$BASE $created
store $store: removed 1, kept 0, skipped 0" ]
	[ "$stderr" = "bds-prune: chunks not collected: entry $FP2/$BASE2 is unreadable: entry $store/$FP2/$BASE2: metadata.json: format is not 1 or 2 (an entry from a newer bds?)" ]
	[ "$(chunk_files file "$store")" = "$before" ]
}

@test "a publish writes again the chunks it reuses that are over 12 hours old, so a prune cannot take them" {
	store=$(store_of file)
	make_vm_entry "$ENTRY"
	run -0 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
	first=${stderr_lines[-1]}
	n=$(chunk_files file "$store" | wc -l)
	age_chunks file "$store" "11 hours ago"
	run -0 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE2")
	[ "${stderr_lines[-1]}" = "bds-store-publish: uploaded 0.0 of 24.1 MiB in chunks (0.0 %)" ]
	age_chunks file "$store" "13 hours ago"
	run -0 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE2")
	# every chunk again, as the first publish uploaded them into the empty store
	[ "${stderr_lines[-1]}" = "$first" ]
	# every chunk was written now
	[ "$(find "$store/chunks" -type f -mmin -5 | wc -l)" -eq "$n" ]
}

@test "the chunk cache counts toward BDS_CACHE_MAX: least recently used first, copies and chunks alike" {
	store=$(store_of file)
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	run -0 lookup "$store" "$TARGET"
	n=$(find "$CACHE/chunks" -type f | wc -l)
	[ "$n" -ge 6 ]
	# the chunks were last used an hour ago, the copy now: a cap of the copy's own size (its
	# directory and files, in blocks on disk) holds the copy alone
	find "$CACHE/chunks" -type f -exec touch -d "1 hour ago" {} +
	cap=$(( $(find "$CACHE/$FP/$BASE" -maxdepth 1 -printf '%b\n' | paste -sd+ | bc) * 512 ))
	run -0 bds-prune --cache "$CACHE" --cache-max "$cap"
	[ "$(grep -c "^evicted $CACHE/chunks/[0-9a-f][0-9a-f]/[0-9a-f]\{32\} [0-9]* bytes, last used " <<<"$output")" -eq "$n" ]
	[ "${lines[-1]}" = "cache $CACHE: $cap bytes, cap $cap" ]
	[ "${#lines[@]}" -eq $((n + 1)) ]
	[ "$(find "$CACHE/chunks" -type f | wc -l)" -eq 0 ]
	# the copy stays, whole, and is reused; a lookup without it fetches every chunk again
	run -0 --separate-stderr lookup "$store" "$TARGET"
	[ "$stderr" = "" ]
	rm -r "${CACHE:?}/$FP"
	run -0 --separate-stderr lookup "$store" "$TARGET"
	[[ "$stderr" == "bds-store-lookup: $store/$FP/$BASE: $n of "*" chunks fetched"* ]]
	cmp "$ENTRY/mem" "$CACHE/$FP/$BASE/mem"
}

@test "file store: a month of daily chunked bases pruned to 3: the store keeps exactly their chunks" {
	store=$(store_of file)
	make_vm_entry "$ENTRY"
	for d in $(seq 30); do
		base=$(printf '%040x' "$d")
		# each day's machine: the day before's, with a few bytes changed somewhere
		insert_bytes "$ENTRY/mem" $((d * 300000)) 64
		publish "$store" "$ENTRY" "$base"
		jq -c --arg t "$(printf '2026-01-%02dT00:00:00Z' "$d")" '.created_at = $t' "$store/$FP/$base/metadata.json" > "$BATS_TEST_TMPDIR/md"
		cp "$BATS_TEST_TMPDIR/md" "$store/$FP/$base/metadata.json"
		# a day passes between records
		age_chunks file "$store" "2 days ago"
		bds-prune --store "$store" --keep 3 > /dev/null
	done
	[ "$(ls "$store/$FP")" = "$(printf '%040x\n' 28 29 30)" ]
	for d in 28 29 30; do
		jq -r '.files[].chunks // [] | .[][0]' "$store/$FP/$(printf '%040x' "$d")/metadata.json"
	done | sort -u > "$BATS_TEST_TMPDIR/want"
	[ "$(chunk_files file "$store")" = "$(cat "$BATS_TEST_TMPDIR/want")" ]
	# far fewer than three whole copies: the days share most chunks
	one=$(jq -r '.files[].chunks // [] | .[][0]' "$store/$FP/$(printf '%040x' 30)/metadata.json" | sort -u | wc -l)
	[ "$(wc -l < "$BATS_TEST_TMPDIR/want")" -lt $((one * 3 / 2)) ]
}

@test "a damaged chunk in the store is uploaded again by the next publish that uses it" {
	store=$(store_of file)
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	h=$(chunk_names "$store/$FP/$BASE/metadata.json" mem | head -1)
	truncate -s 1000 "$store/chunks/${h:0:2}/$h"
	run -2 lookup "$store" "$TARGET"
	run -0 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
	[[ "${stderr_lines[0]}" == "bds-store-publish: mem: "*" chunks (24.0 MiB), 1 uploaded ("* ]]
	[ "$(xxh "$store/chunks/${h:0:2}/$h")" = "$h" ]
	run -0 lookup "$store" "$TARGET"
	cmp "$ENTRY/mem" "$CACHE/$FP/$BASE/mem"
}

@test "prune reads entries through a symbolic link, as lookups do: their chunks are kept" {
	store=$(store_of file)
	make_vm_entry "$ENTRY"
	publish "$store" "$ENTRY" "$BASE"
	mkdir "$BATS_TEST_TMPDIR/elsewhere"
	mv "$store/$FP" "$BATS_TEST_TMPDIR/elsewhere/"
	ln -s "$BATS_TEST_TMPDIR/elsewhere/$FP" "$store/$FP"
	age_chunks file "$store" "2 days ago"
	n=$(chunk_files file "$store" | wc -l)
	run -0 bds-prune --store "$store" --keep 5
	[ "$output" = "store $store: removed 0, kept 1, skipped 0
store $store: chunks: deleted 0 unreferenced for a day, kept $n" ]
	run -0 lookup "$store" "$TARGET"
	cmp "$ENTRY/mem" "$CACHE/$FP/$BASE/mem"
}

# chunk_connections METHOD FROM: how many connections served METHOD requests for chunks in
# $NGINX_LOG after its line FROM.
chunk_connections() {
	tail -n +"$(($2 + 1))" "$NGINX_LOG" | awk -v m="$1" '$2 == m && $3 ~ /\/chunks\// { print $1 }' | sort -u | wc -l
}

# chunk_overlap METHOD FROM: the most METHOD requests for chunks that nginx served at once,
# after line FROM of $NGINX_LOG (from each request's end and duration).
chunk_overlap() {
	tail -n +"$(($2 + 1))" "$NGINX_LOG" | awk -v m="$1" '$2 == m && $3 ~ /\/chunks\// {
			printf "%.0f 1\n%.0f -1\n", ($5 - $6) * 1000, $5 * 1000 }' |
		sort -k1,1n -k2,2n | awk '{ n += $2; if (n > max) max = n } END { print max + 0 }'
}

@test "over HTTP, chunks travel BDS_STORE_PARALLEL at a time (8 by default, each on its own connection); 1 is one connection" {
	make_vm_entry "$ENTRY"
	for parallel in '' 1; do
		store="$(store_of http)/p$parallel"
		rm -rf "$CACHE"
		from=$(wc -l < "$NGINX_LOG")
		BDS_STORE_PARALLEL=$parallel publish "$store" "$ENTRY" "$BASE"
		puts=$(chunk_connections PUT "$from")
		from=$(wc -l < "$NGINX_LOG")
		BDS_STORE_PARALLEL=$parallel run -0 lookup "$store" "$TARGET"
		gets=$(chunk_connections GET "$from")
		cmp "$ENTRY/mem" "$CACHE/$FP/$BASE/mem"
		cmp "$ENTRY/vmstate" "$CACHE/$FP/$BASE/vmstate"
		if [ -z "$parallel" ]; then
			# each of the two chunked files (mem, vmstate) has its own 8 workers
			[ "$puts" -ge 2 ]
			[ "$puts" -le 16 ]
			[ "$gets" -ge 2 ]
			[ "$gets" -le 16 ]
		else
			[ "$puts" = 1 ]
			[ "$gets" = 1 ]
		fi
	done
}

@test "over HTTP, a lookup's chunk requests are under way at once (8 by default), and one at a time with 1" {
	make_vm_entry "$ENTRY"
	publish "$(store_of http)" "$ENTRY" "$BASE"
	# nginx sends /slowdav/ at 1 MB/s: a chunk takes a quarter of a second or more
	store="$NGINX_URL/slowdav/t$BATS_TEST_NUMBER"
	for parallel in '' 1; do
		rm -rf "$CACHE"
		from=$(wc -l < "$NGINX_LOG")
		BDS_STORE_PARALLEL=$parallel run -0 lookup "$store" "$TARGET"
		cmp "$ENTRY/mem" "$CACHE/$FP/$BASE/mem"
		overlap=$(chunk_overlap GET "$from")
		if [ -z "$parallel" ]; then
			[ "$overlap" -ge 4 ]
			[ "$overlap" -le 8 ]
		else
			[ "$overlap" = 1 ]
		fi
	done
}

@test "a chunk upload that fails among parallel ones fails the publish (1), naming it, and publishes nothing" {
	make_vm_entry "$ENTRY"
	store="$NGINX_URL/nochunks/t$BATS_TEST_NUMBER"
	from=$(wc -l < "$NGINX_LOG")
	run -1 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
	# whichever failed first (the workers race), it is named, and it is one that fails
	[[ "$stderr" =~ ^bds-store-publish:\ publish\ \'$ENTRY/mem\':\ PUT\ $store/chunks/([0-9a-f]{2})/([0-7][0-9a-f]{31}):\ HTTP\ 503$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]:0:2}" ]
	# no entry
	[ "$(find "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER" -name metadata.json | wc -l)" = 0 ]
}

@test "BDS_STORE_PARALLEL other than 1 to 64 is refused with one line (1), by a publish and a lookup, on any store" {
	make_vm_entry "$ENTRY"
	for kind in file http; do
		store=$(store_of $kind)
		for v in 0 65 x 8x -1; do
			BDS_STORE_PARALLEL=$v run -1 --separate-stderr bds-store-publish --store "$store" < <(publish_envelope "$ENTRY" "$BASE")
			[ "$stderr" = "bds-store-publish: BDS_STORE_PARALLEL '$v': expected a number of requests from 1 to 64" ]
		done
		[ -z "$(find "$(key_file $kind "$store" .)" -name metadata.json 2>/dev/null)" ]
		publish "$store" "$ENTRY" "$BASE"
		BDS_STORE_PARALLEL=x run -1 --separate-stderr lookup "$store" "$TARGET"
		[ "$stderr" = "bds-store-lookup: BDS_STORE_PARALLEL 'x': expected a number of requests from 1 to 64" ]
		[ ! -e "$CACHE/$FP/$BASE" ]
	done
}

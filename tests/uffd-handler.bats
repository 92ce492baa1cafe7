# bds-uffd-handler, Firecracker's page-fault handler for mem_backend "Uffd", against
# build/tests/fc-uffd-side, which plays Firecracker's side of the documented handshake for
# real: a userfaultfd over two anonymous guest-memory regions, sent with their JSON over the
# handler's socket; then guest pages touched and compared with the snapshot's memory file.
# Lazily (--store --metadata --out) the pages come from a format-2 entry's chunks.

load helpers
load store-helpers

FP=0123456789abcdef0123456789abcdef
# fc-uffd-side runs under timeout: a handler that fails it must not hang the suite
SIDE="$BDS_BUILD/tests/fc-uffd-side"

setup_file() {
	# 8 MiB of memory: 3 MiB of data, zeros, 100 KB of data at 6000000, zeros
	MEM="$BATS_FILE_TMPDIR/mem"
	python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(7).randbytes(3 << 20))' > "$MEM"
	truncate -s 8M "$MEM"
	python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(8).randbytes(100000))' |
		dd of="$MEM" bs=1 seek=6000000 conv=notrunc status=none
	REPO="$BATS_FILE_TMPDIR/repo"
	new_workspace "$REPO"
	git -C "$REPO" commit -q --allow-empty -m base
	BASE=$(git -C "$REPO" rev-parse HEAD)
	export MEM REPO BASE
	start_nginx
}

teardown_file() {
	stop_store_servers
}

setup() {
	S="$BATS_TEST_TMPDIR/fc.sock"
	export BDS_CACHE="$BATS_TEST_TMPDIR/cache"
}

# publish_mem STORE: publishes an entry (format 2) whose mem is $MEM; sets MD to its
# metadata.json.
publish_mem() {
	mkdir -p "$BATS_TEST_TMPDIR/entry"
	cp "$MEM" "$BATS_TEST_TMPDIR/entry/mem"
	echo '{}' > "$BATS_TEST_TMPDIR/entry/base_hashes.json"
	jq -nc --arg d "$BATS_TEST_TMPDIR/entry" --arg fp "$FP" --arg b "$BASE" --arg ws "$REPO" \
		'{workspace: $ws, entry: {dir: $d, fingerprint: $fp, base: $b, driver: "local",
		  metadata: {pid: 42, output_base: "/x"}}}' | bds-store-publish --store "$1" > /dev/null 2>&1
	MD="$1/$FP/$BASE/metadata.json"
}

# handler ARGS...: starts bds-uffd-handler --socket $S ARGS in the background (stderr in
# $BATS_TEST_TMPDIR/handler.err, its status in handler.rc when it ends) and waits for its
# ready line.
handler() {
	rm -f "$BATS_TEST_TMPDIR/handler.rc"
	mkfifo "$BATS_TEST_TMPDIR/ready"
	(
		# errexit is on in here too: the status is taken with ||
		rc=0
		bds-uffd-handler --socket "$S" "$@" > "$BATS_TEST_TMPDIR/ready" 2> "$BATS_TEST_TMPDIR/handler.err" || rc=$?
		echo "$rc" > "$BATS_TEST_TMPDIR/handler.rc"
	) 3>&- &
	read -r line < "$BATS_TEST_TMPDIR/ready"
	rm "$BATS_TEST_TMPDIR/ready"
	[ "$line" = "$S" ]
}

# handler_end: waits (at most 10 s) for the handler to end; sets HRC and HERR.
handler_end() {
	for _ in $(seq 100); do
		[ -e "$BATS_TEST_TMPDIR/handler.rc" ] && break
		sleep 0.1
	done
	HRC=$(cat "$BATS_TEST_TMPDIR/handler.rc")
	HERR=$(cat "$BATS_TEST_TMPDIR/handler.err")
}

# chunks_over META LO HI...: the chunks of mem (as "hash length" lines, each once) that
# overlap any of the byte ranges [LO, HI).
chunks_over() {
	local md=$1
	shift
	jq -r --argjson r "$(printf '%s\n' "$@" | jq -sc '[range(0; length; 2) as $i | [.[$i], .[$i + 1]]]')" '
		[foreach .files.mem.chunks[] as $c ({end: 0}; {start: .end, end: (.end + $c[1]), c: $c})]
		| map(select(. as $k | any($r[]; .[0] < $k.end and .[1] > $k.start)) | .c)
		| unique_by(.[0]) | .[] | "\(.[0]) \(.[1])"' "$md"
}

# present_bytes META LO HI...: the bytes of mem's chunks made present for the byte ranges
# [LO, HI): the chunks overlapping them, and the first chunk with the same bytes as each
# (which a page source brings in first, pagesrc.c)
present_bytes() {
	local md=$1
	shift
	jq --argjson r "$(printf '%s\n' "$@" | jq -sc '[range(0; length; 2) as $i | [.[$i], .[$i + 1]]]')" '
		[foreach .files.mem.chunks[] as $c ({end: 0}; {start: .end, end: (.end + $c[1]), c: $c})] as $all
		| ($all | map(select(. as $k | any($r[]; .[0] < $k.end and .[1] > $k.start)))) as $t
		| ($t | map(.c[0]) | unique) as $hs
		| ($all | map(select(.c[0] as $h | $hs | index($h))) | group_by(.c[0]) | map(min_by(.start))) as $firsts
		| ($t + $firsts) | unique_by(.start) | map(.c[1]) | add' "$md"
}

@test "--mem: every page, touched in any order by two threads, is the memory file's; the handler ends with Firecracker (0)" {
	handler --mem "$MEM"
	run -0 timeout 60 "$SIDE" "$S" "$MEM" all
	[ "$output" = "ok: 2048 pages as in MEMFILE" ]
	handler_end
	[ "$HRC" = 0 ]
	# every page copied in exactly once, whatever the order
	[[ "$HERR" =~ ^bds-uffd-handler:\ [0-9]+\ faults\ \(8\.0\ MiB\ copied\ in,\ 0\ zero\ pages\)$ ]]
	[ ! -e "$S" ]
}

@test "lazy: the pages a VM touches come from the entry's chunks, and only the chunks holding their blocks are fetched" {
	publish_mem "$BATS_TEST_TMPDIR/store"
	handler --store "$BATS_TEST_TMPDIR/store" --metadata "$MD" --out "$BATS_TEST_TMPDIR/mem" --fill 0 \
		--record-working-set "$BATS_TEST_TMPDIR/ws"
	run -0 timeout 60 "$SIDE" "$S" "$MEM" pages 0 4096 5000000 7000000
	[ "$output" = "ok: 4 pages as in MEMFILE" ]
	handler_end
	[ "$HRC" = 0 ]
	# three faults (0 and 4096 share a 256 KiB block), each bringing in its block
	local blocks="0 262144 4980736 5242880 6815744 7077888"
	# shellcheck disable=SC2086
	present=$(present_bytes "$MD" $blocks)
	# shellcheck disable=SC2086
	fetched=$(chunks_over "$MD" $blocks | sort -u -k1,1 | awk '{ s += $2 } END { print s }')
	[ "$HERR" = "bds-uffd-handler: 3 faults (0.8 MiB copied in, 0 zero pages); $(awk -v b="$present" 'BEGIN { printf "%.1f", b / 1048576 }') of 8.0 MiB present, $(awk -v b="$fetched" 'BEGIN { printf "%.1f", b / 1048576 }') MiB of it fetched from the store" ]
	[ "$present" -lt $((8 << 20)) ]
	# exactly those chunks came into the chunk cache
	# shellcheck disable=SC2086
	[ "$(chunks_over "$MD" $blocks | cut -d' ' -f1 | sort -u)" = "$(find "$BDS_CACHE/chunks" -type f -printf '%f\n' | sort)" ]
	# the file offset of each fault's page, in order
	[ "$(cat "$BATS_TEST_TMPDIR/ws")" = "$(printf '0\n4997120\n6995968')" ]
	# what is present is the entry's memory
	for r in 0:262144 4980736:524288 6815744:262144; do
		cmp <(tail -c +$((${r%:*} + 1)) "$MEM" | head -c "${r#*:}") <(tail -c +$((${r%:*} + 1)) "$BATS_TEST_TMPDIR/mem" | head -c "${r#*:}")
	done
}

@test "lazy with --fill: the rest of the memory is filled in behind the VM, the working set first, and is the entry's" {
	publish_mem "$BATS_TEST_TMPDIR/store"
	printf '6000000\n2000000\n' > "$BATS_TEST_TMPDIR/ws"
	handler --store "$BATS_TEST_TMPDIR/store" --metadata "$MD" --out "$BATS_TEST_TMPDIR/mem" --fill 1 \
		--working-set "$BATS_TEST_TMPDIR/ws"
	# a VM that touches nothing while one thread fills its memory in
	FC_SIDE_HOLD="$BATS_TEST_TMPDIR/done" timeout 60 "$SIDE" "$S" "$MEM" pages > "$BATS_TEST_TMPDIR/side.out" &
	side=$!
	for _ in $(seq 100); do
		cmp -s "$MEM" "$BATS_TEST_TMPDIR/mem" && break
		sleep 0.1
	done
	touch "$BATS_TEST_TMPDIR/done"
	wait "$side"
	[ "$(cat "$BATS_TEST_TMPDIR/side.out")" = "ok: 0 pages as in MEMFILE" ]
	handler_end
	[ "$HRC" = 0 ]
	cmp "$MEM" "$BATS_TEST_TMPDIR/mem"
	[ "$HERR" = "bds-uffd-handler: 0 faults (0.0 MiB copied in, 0 zero pages); 8.0 of 8.0 MiB present, 7.0 MiB of it fetched from the store" ]
	# the chunks came into the chunk cache in the order asked: the working set's first (a
	# file's time has the kernel's tick as its grain, so chunks written in one tick tie)
	local a b
	a=$(chunks_over "$MD" 6000000 6000001 | cut -d' ' -f1)
	b=$(chunks_over "$MD" 2000000 2000001 | cut -d' ' -f1)
	find "$BDS_CACHE/chunks" -type f -printf '%T@ %f\n' > "$BATS_TEST_TMPDIR/times"
	run -0 awk -v a="$a" -v b="$b" '
		$2 == a { ta = $1 } $2 == b { tb = $1 } $2 != a && $2 != b { if (min == "" || $1 < min) min = $1 }
		END { if (ta == "" || tb == "" || min == "") print "missing"; else if (ta <= tb && tb <= min) print "in order"; else print "out of order: " ta " " tb " " min }' \
		"$BATS_TEST_TMPDIR/times"
	[ "$output" = "in order" ]
}

@test "lazy from nginx: two guest threads touching every page while two threads fill in the rest get the entry's memory" {
	publish_mem "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER"
	handler --store "$NGINX_URL/dav/t$BATS_TEST_NUMBER" --metadata "$MD" --out "$BATS_TEST_TMPDIR/mem" --fill 2
	run -0 timeout 60 "$SIDE" "$S" "$MEM" all
	[ "$output" = "ok: 2048 pages as in MEMFILE" ]
	handler_end
	[ "$HRC" = 0 ]
	cmp "$MEM" "$BATS_TEST_TMPDIR/mem"
	[[ "$HERR" =~ ^bds-uffd-handler:\ [0-9]+\ faults\ \(8\.0\ MiB\ copied\ in,\ 0\ zero\ pages\)\;\ 8\.0\ of\ 8\.0\ MiB\ present,\ 7\.0\ MiB\ of\ it\ fetched\ from\ the\ store$ ]]
}

@test "lazy: a chunk that fails its check kills the VM before it reads a byte of it, and is cold (2)" {
	publish_mem "$BATS_TEST_TMPDIR/store"
	h=$(chunks_over "$MD" 5000000 5000001 | cut -d' ' -f1)
	f="$BATS_TEST_TMPDIR/store/chunks/${h:0:2}/$h"
	printf 'X' | dd of="$f" bs=1 seek=10 conv=notrunc status=none
	got=$(xxh128sum "$f" | cut -d' ' -f1)
	handler --store "$BATS_TEST_TMPDIR/store" --metadata "$MD" --out "$BATS_TEST_TMPDIR/mem" --fill 0
	run -137 timeout 60 "$SIDE" "$S" "$MEM" pages 0 5000000
	[ "$output" = "" ]
	handler_end
	[ "$HRC" = 2 ]
	[[ "$HERR" =~ ^bds-uffd-handler:\ 1\ faults\ [^$'\n']*$'\n'bds-uffd-handler:\ cold:\ mem:\ chunk\ $h\ in\ the\ store\ has\ xxh3_128\ $got\;\ the\ VM\ was\ killed$ ]]
	# never kept in the chunk cache
	[ ! -e "$BDS_CACHE/chunks/${h:0:2}/$h" ]
}

@test "a run of pages that meets one already there: the guest still gets every page right" {
	handler --mem "$MEM"
	run -0 timeout 60 "$SIDE" "$S" "$MEM" prefilled
	[ "$output" = "ok: 4 pages as in MEMFILE" ]
	handler_end
	[ "$HRC" = 0 ]
}

@test "a removal while a fault waits for a slow chunk: the fault is served after the removal is read, no hang" {
	publish_mem "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER"
	handler --store "$NGINX_URL/slowdav/t$BATS_TEST_NUMBER" --metadata "$MD" --out "$BATS_TEST_TMPDIR/mem" --fill 0
	run -0 timeout 60 "$SIDE" "$S" "$MEM" remove-during 6000000
	[ "$output" = "ok: 33 pages as in MEMFILE" ]
	handler_end
	[ "$HRC" = 0 ]
	[[ "$HERR" =~ ^bds-uffd-handler:\ 18\ faults\ \([0-9.]+\ MiB\ copied\ in,\ 16\ zero\ pages\) ]]
}

@test "a Firecracker that closes the socket after the handshake (before 1.11) is still served, until it exits" {
	handler --mem "$MEM"
	FC_SIDE_CLOSE_EARLY=1 run -0 timeout 60 "$SIDE" "$S" "$MEM" pages 0 5000000
	[ "$output" = "ok: 2 pages as in MEMFILE" ]
	handler_end
	[ "$HRC" = 0 ]
	[ "$HERR" = "bds-uffd-handler: 2 faults (0.5 MiB copied in, 0 zero pages)" ]
}

@test "a failure after the handshake kills the VM (it would wait for its page for ever) and exits 1" {
	cp "$MEM" "$BATS_TEST_TMPDIR/mem"
	handler --mem "$BATS_TEST_TMPDIR/mem"
	truncate -s 0 "$BATS_TEST_TMPDIR/mem"
	run -137 timeout 60 "$SIDE" "$S" "$MEM" pages 0
	handler_end
	[ "$HRC" = 1 ]
	[ "$HERR" = "bds-uffd-handler: 0 faults (0.0 MiB copied in, 0 zero pages)
bds-uffd-handler: read the snapshot's memory at 0: short read; the VM was killed" ]
}

@test "pages the balloon removed are zeros when touched again (UFFD_EVENT_REMOVE)" {
	handler --mem "$MEM"
	run -0 timeout 60 "$SIDE" "$S" "$MEM" remove
	[ "$output" = "ok: 32 pages as in MEMFILE" ]
	handler_end
	[ "$HRC" = 0 ]
	[ "$HERR" = "bds-uffd-handler: 17 faults (0.2 MiB copied in, 16 zero pages)" ]
}

@test "a handshake that is not Firecracker's is refused with one line (1), the socket removed" {
	local big=$((8 << 20))
	for case in \
		'{"x":1}|the regions are not a non-empty JSON array' \
		'[]|the regions are not a non-empty JSON array' \
		'[{"base_host_virt_addr":4096,"size":4096,"offset":0}]|region 0: page_size is not a whole number' \
		'[{"base_host_virt_addr":4096,"size":4096,"offset":0,"page_size":1000}]|region 0: page_size 1000 does not divide its address, size and offset' \
		'[{"base_host_virt_addr":4096,"size":8192,"offset":'"$big"',"page_size":4096}]|region 0: bytes 8388608 to 8396800 of a memory file of 8388608' \
		'[{"base_host_virt_addr":-4096,"size":4096,"offset":0,"page_size_kib":4096}]|region 0: base_host_virt_addr is not a whole number'; do
		handler --mem "$MEM"
		run -0 timeout 60 "$SIDE" "$S" "$MEM" send "${case%%|*}"
		[ "$output" = "the handler closed the connection (end of file)" ]
		handler_end
		[ "$HRC" = 1 ]
		[ "$HERR" = "bds-uffd-handler: handshake: ${case#*|}" ]
		[ ! -e "$S" ]
	done
}

@test "no Firecracker within --timeout, a socket path in use, bad options: one line each, never a hang" {
	run -1 --separate-stderr timeout 10 bds-uffd-handler --socket "$S" --mem "$MEM" --timeout 0.5
	[ "$output" = "$S" ]
	[ "$stderr" = "bds-uffd-handler: no Firecracker connected to '$S' within 0.5 s" ]
	[ ! -e "$S" ]
	touch "$S"
	run -1 --separate-stderr bds-uffd-handler --socket "$S" --mem "$MEM"
	[ "$stderr" = "bds-uffd-handler: listen on '$S': Address already in use" ]
	[ -f "$S" ]
	run -1 --separate-stderr bds-uffd-handler --socket "$S.2" --mem "$BATS_TEST_TMPDIR/none"
	[ "${stderr_lines[0]}" = "bds-uffd-handler: open '$BATS_TEST_TMPDIR/none': No such file or directory" ]
	printf '12\nx\n' > "$BATS_TEST_TMPDIR/ws"
	publish_mem "$BATS_TEST_TMPDIR/store"
	run -1 --separate-stderr bds-uffd-handler --socket "$S.2" --store "$BATS_TEST_TMPDIR/store" --metadata "$MD" \
		--out "$BATS_TEST_TMPDIR/m" --working-set "$BATS_TEST_TMPDIR/ws"
	[ "$stderr" = "bds-uffd-handler: working set '$BATS_TEST_TMPDIR/ws': 'x' is not an offset" ]
	for args in "--mem $MEM" "--socket $S --mem $MEM --store x" "--socket $S --store x --metadata y" \
		"--socket $S --mem $MEM --fill 65" "--socket $S --mem $MEM --timeout 0" "--socket $S --mem $MEM --working-set x"; do
		# shellcheck disable=SC2086
		run -64 bds-uffd-handler $args
	done
}

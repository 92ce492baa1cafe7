#!/usr/bin/env bats
# The firecracker driver against tests/firecracker/firecracker-standin, which serves the
# Firecracker API, checks every request against the v1.16.1 OpenAPI spec and logs what it
# got (no KVM here, so no real Firecracker). Record and consume are driven through the
# pipeline's stages; the tests assert the exact call sequence, the disk redirection, the
# network override, entries never written, and what is left after each injected failure:
# nothing.

load helpers
load owner-helpers

setup_file() {
	local d=$BATS_FILE_TMPDIR
	ssh-keygen -q -t ed25519 -N '' -C bds-vm-fc -f "$d/key"
	"$BDS_TOP/tests/tiny-guest/build" --out "$d/img" --pubkey "$d/key.pub" >/dev/null 2>&1
	export BDS_VM_IMAGE="$d/img" BDS_VM_KEY="$d/key" BDS_CACHE="$d/cache" STORE="$d/store"
	export BDS_FIRECRACKER="$BDS_TOP/tests/firecracker/firecracker-standin"
	WS="$d/ws"
	new_workspace "$WS"
	printf 'genrule(name = "g", srcs = [], outs = ["g.out"], cmd = "echo > $@")\n' > "$WS/BUILD"
	BASE=$(commit_all "$WS" base)
	export WS BASE
	echo '{"//:g": "abc"}' > "$d/base_hashes.json"
}

setup() {
	# everything the driver makes goes below the test's own directories, to be checked
	export TMPDIR="$BATS_TEST_TMPDIR/tmp" BDS_FC_SLOTS="$BATS_TEST_TMPDIR/slots"
	export FC_STANDIN_LOG="$BATS_TEST_TMPDIR/fc.log"
	mkdir -p "$TMPDIR" "$BDS_FC_SLOTS"
	add_slot 0 lo
	start_owner
}

teardown() {
	stop_owner
	keepers_gone || true
}

# add_slot N TAP: a slot in the root namespace whose "TAP" is an existing interface.
add_slot() {
	printf '{"slot": %s, "netns": "", "tap": "%s", "guest_host": "127.0.0.1", "guest_port": 22}\n' \
		"$1" "$2" > "$BDS_FC_SLOTS/$1.json"
}

# calls: the API calls the stand-ins received, "METHOD PATH STATUS" per line
calls() {
	jq -r 'select(.method) | "\(.method) \(.path) \(.status)"' "$FC_STANDIN_LOG"
}

# record: boot + snapshot + publish with the stand-in; BOOTED and ENTRY envelopes.
record() {
	bds-fingerprint -w "$WS" --driver firecracker > "$BATS_TEST_TMPDIR/e1"
	bds-vm-restore --driver firecracker --base "$BASE" --lock-owner "$OWNER" \
		< "$BATS_TEST_TMPDIR/e1" > "$BATS_TEST_TMPDIR/booted"
	bds-vm-snapshot --driver firecracker --base-hashes "$BATS_FILE_TMPDIR/base_hashes.json" \
		< "$BATS_TEST_TMPDIR/booted" > "$BATS_TEST_TMPDIR/entry"
	stop_vm "$BATS_TEST_TMPDIR/booted"
	# MEM_DATA=FILE: the stand-in's memory (zeros) begins with FILE's bytes, as a guest's would
	if [ -n "${MEM_DATA:-}" ]; then
		dd if="$MEM_DATA" of="$(jq -r .entry.dir "$BATS_TEST_TMPDIR/entry")/mem" conv=notrunc status=none
	fi
	bds-store-publish --store "$STORE" < "$BATS_TEST_TMPDIR/entry" > /dev/null
	rm -rf "$(jq -r .entry.dir "$BATS_TEST_TMPDIR/entry")"
	bds-store-lookup --store "$STORE" --target "$BASE" < "$BATS_TEST_TMPDIR/e1" > "$BATS_TEST_TMPDIR/lookup"
	: > "$FC_STANDIN_LOG"
}

stop_vm() {
	local k
	k=$(jq -r .vm.keeper_pid "$1")
	kill -TERM "$k" 2>/dev/null || return 0
	for _ in $(seq 200); do kill -0 "$k" 2>/dev/null || return 0; sleep 0.05; done
	return 1
}

# keepers_gone: every keeper named in this test's envelopes has ended (10 s each at most).
keepers_gone() {
	local f k
	for f in "$BATS_TEST_TMPDIR"/*; do
		k=$(jq -r '.vm.keeper_pid // empty' "$f" 2>/dev/null) || continue
		[ -z "$k" ] || wait_gone "$k" 10 >/dev/null || { echo "keeper $k (of $f) still runs" >&2; return 1; }
	done
}

# nothing_left: no keeper, no process in this test's directories (a stand-in), no run
# directory, and no slot lock held.
nothing_left() {
	keepers_gone
	local p cwd
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $cwd in "$BATS_TEST_TMPDIR"/*) echo "process ${p#/proc/} left in $cwd" >&2; return 1 ;; esac
	done
	run -0 find "$TMPDIR" -mindepth 1
	[ "$output" = "" ] || { echo "left in TMPDIR: $output" >&2; return 1; }
	for p in "$BDS_FC_SLOTS"/*.lock; do
		[ -e "$p" ] || continue
		[ "$(lock_state "$p")" = free ] || { echo "slot lock held: $p" >&2; return 1; }
	done
}

# entry_listing DIR: every file of DIR with its mode, size and inode count, and its bytes' sha256.
entry_listing() {
	(cd "$1" && find . -print0 | sort -z | xargs -0 stat -c '%n %a %s %u:%g' && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

@test "fingerprint: Firecracker's version and snapshot format, the image and the host CPU" {
	run -0 bds-fingerprint -w "$WS" --driver firecracker
	run -0 jq -r '.fingerprint.components | [.vmm, .snapshot_version] | join(" / ")' <<< "$output"
	[ "$output" = "Firecracker v1.16.1 / v8.0.0" ]
	run -0 sh -c "bds-fingerprint -w '$WS' --driver firecracker | jq -r '.fingerprint.components | keys | join(\" \")'"
	[ "$output" = "bazel bazel_command bazelrc bazelversion bds_version command_options driver hash_options host_cpu initrd kernel module_lock option_files rc_files rc_list rootfs snapshot_version startup_options tools_bazel vm_shape vmm" ]
}

@test "record: the exact boot sequence, relative paths, then pause and a full snapshot" {
	bds-fingerprint -w "$WS" --driver firecracker > "$BATS_TEST_TMPDIR/e1"
	run -0 bds-vm-restore --driver firecracker --base "$BASE" --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/e1"
	echo "$output" > "$BATS_TEST_TMPDIR/booted"
	local root
	root=$(jq -r .vm.root "$BATS_TEST_TMPDIR/booted")
	run -0 calls
	[ "$output" = "PUT /machine-config 204
PUT /boot-source 204
PUT /drives/rootfs 204
PUT /network-interfaces/eth0 204
PUT /actions 204" ]
	run -0 jq -c 'select(.method) | .body' "$FC_STANDIN_LOG"
	[ "$output" = '{"vcpu_count":1,"mem_size_mib":256,"smt":false,"track_dirty_pages":false}
{"kernel_image_path":"vmlinux","initrd_path":"initrd.img","boot_args":"'"$(jq -r .cmdline "$BDS_VM_IMAGE/manifest.json")"'"}
{"drive_id":"rootfs","path_on_host":"rootfs.ext4","is_root_device":false,"is_read_only":false}
{"iface_id":"eth0","host_dev_name":"lo","guest_mac":"52:54:00:12:34:56"}
{"action_type":"InstanceStart"}' ]
	run -0 jq -r 'select(.event == "start") | "\(.cwd) \(.argv | join(" "))"' "$FC_STANDIN_LOG"
	[ "$output" = "$root --api-sock fc.sock --id $(jq -r .vm.id "$BATS_TEST_TMPDIR/booted")" ]
	run -0 jq -r 'select(.event == "opened_drive") | .path' "$FC_STANDIN_LOG"
	[ "$output" = "$root/rootfs.ext4" ]
	# the slot is held while the VM lives, by its keeper
	[ "$(lock_state "$BDS_FC_SLOTS/0.lock")" = held ]
	run -0 ls -l "/proc/$(jq -r .vm.keeper_pid "$BATS_TEST_TMPDIR/booted")/fd"
	[[ "$output" == *" -> $BDS_FC_SLOTS/0.lock"* ]]
	: > "$FC_STANDIN_LOG"
	run -0 bds-vm-snapshot --driver firecracker --base-hashes "$BATS_FILE_TMPDIR/base_hashes.json" \
		< "$BATS_TEST_TMPDIR/booted"
	local entry
	entry=$(jq -r .entry.dir <<< "$output")
	run -0 calls
	[ "$output" = "PATCH /vm 204
PUT /snapshot/create 204" ]
	run -0 jq -c 'select(.method) | .body' "$FC_STANDIN_LOG"
	[ "$output" = '{"state":"Paused"}
{"snapshot_type":"Full","snapshot_path":"vmstate","mem_file_path":"mem"}' ]
	run -0 ls "$entry"
	[ "$output" = "$(printf 'base_hashes.json\ndisk\nmem\nvmstate')" ]
	stop_vm "$BATS_TEST_TMPDIR/booted"
	rm -rf "$entry"
	nothing_left
}

@test "consume: load paused with the network override, the disk re-pointed at this restore's copy, resume" {
	record
	local sums=$BATS_TEST_TMPDIR/sums snap before
	snap=$(jq -r .snapshot.dir "$BATS_TEST_TMPDIR/lookup")
	(cd "$STORE" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$sums"
	before=$(entry_listing "$snap")
	for n in 1 2 3; do
		: > "$FC_STANDIN_LOG"
		run -0 bds-vm-restore --driver firecracker --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/lookup"
		echo "$output" > "$BATS_TEST_TMPDIR/r$n"
		local root
		root=$(jq -r .vm.root "$BATS_TEST_TMPDIR/r$n")
		run -0 calls
		[ "$output" = "PUT /snapshot/load 204
PATCH /drives/rootfs 204
PATCH /vm 204" ]
		run -0 jq -c 'select(.method) | .body' "$FC_STANDIN_LOG"
		[ "$output" = '{"snapshot_path":"vmstate","mem_backend":{"backend_type":"File","backend_path":"mem"},"resume_vm":false,"network_overrides":[{"iface_id":"eth0","host_dev_name":"lo"}],"clock_realtime":true}
{"drive_id":"rootfs","path_on_host":"'"$root"'/rootfs.ext4"}
{"state":"Resumed"}' ]
		# every drive Firecracker opened is this restore's own copy, never the entry's
		run -0 jq -r 'select(.event == "opened_drive") | .path' "$FC_STANDIN_LOG"
		[ "$output" = "$(printf '%s\n' "$root/rootfs.ext4" "$root/rootfs.ext4")" ]
		[[ "$root" != "$snap"* ]]
		# the snapshot files are the entry's own (links), only read; guest memory is private
		[ "$(stat -c %i "$root/mem" "$root/vmstate")" = "$(stat -c %i "$snap/mem" "$snap/vmstate")" ]
		[ "$(stat -c %i "$root/rootfs.ext4")" != "$(stat -c %i "$snap/disk")" ]
		run -0 jq -c 'select(.event == "mapped_memory") | [.path, .open, .map]' "$FC_STANDIN_LOG"
		[ "$output" = "[\"$root/mem\",\"O_RDONLY\",\"MAP_PRIVATE\"]" ]
		run -0 jq -c '.vm.guest | [.host, .port, .user, .key, .host_key_sha256]' "$BATS_TEST_TMPDIR/r$n"
		[ "$output" = "[\"127.0.0.1\",22,\"root\",\"$BDS_VM_KEY\",\"$(jq -r .host_key_sha256 "$BDS_VM_IMAGE/manifest.json")\"]" ]
		# the guest writes its disk: only the copy changes
		echo "written by restore $n" >> "$root/rootfs.ext4"
		stop_vm "$BATS_TEST_TMPDIR/r$n"
	done
	run -0 sh -c "cd '$STORE' && sha256sum --quiet -c '$sums'"
	[ "$output" = "" ]
	# the copy is the published entry's, byte for byte (its files are chunks in the store:
	# their digests, as metadata.json lists them)
	local md
	md="$STORE/$(jq -r '.snapshot.fingerprint + "/" + .snapshot.base' "$BATS_TEST_TMPDIR/lookup")/metadata.json"
	cmp "$snap/metadata.json" "$md"
	for f in disk mem vmstate; do
		[ "$(xxh128sum "$snap/$f" | cut -d' ' -f1)" = "$(jq -r --arg f "$f" '.files[$f].xxh3_128' "$md")" ]
	done
	# the consume-side entry: no byte, mode, owner or file changed
	[ "$(entry_listing "$snap")" = "$before" ]
	nothing_left
}

# lazy_record: a record whose memory starts with 4 MiB of data; LAZY is then the lookup
# with --lazy-mem into a cache of its own, and $BATS_TEST_TMPDIR/mem the entry's memory.
lazy_record() {
	head -c 4M /dev/urandom > "$BATS_TEST_TMPDIR/data"
	MEM_DATA="$BATS_TEST_TMPDIR/data" record
	cp "$BATS_TEST_TMPDIR/data" "$BATS_TEST_TMPDIR/mem"
	truncate -s "$(jq -r '.snapshot.metadata.files.mem.size' "$BATS_TEST_TMPDIR/lookup")" "$BATS_TEST_TMPDIR/mem"
	LAZY="$BATS_TEST_TMPDIR/lazy"
	BDS_CACHE="$BATS_TEST_TMPDIR/lazy-cache" bds-store-lookup --store "$STORE" --target "$BASE" --lazy-mem \
		< "$BATS_TEST_TMPDIR/e1" > "$LAZY"
}

# handler_gone ROOT: the restore's bds-uffd-handler has ended (10 s at most).
handler_gone() {
	for _ in $(seq 100); do
		pgrep -f "bds-uffd-handler --socket $1/" > /dev/null || return 0
		sleep 0.1
	done
	echo "bds-uffd-handler of $1 still runs" >&2
	return 1
}

@test "lazy (--lazy-mem): the load asks for the Uffd backend; guest memory comes from the store's chunks through bds-uffd-handler, and is the entry's" {
	lazy_record
	local snap md root
	snap=$(jq -r .snapshot.dir "$LAZY")
	md="$STORE/$(jq -r '.snapshot.fingerprint + "/" + .snapshot.base' "$LAZY")/metadata.json"
	# the lookup left mem out of its copy, and said so
	[ "$(jq -c .snapshot.lazy "$LAZY")" = '["mem"]' ]
	[ "$(cd "$snap" && ls)" = "$(printf '%s\n' base_hashes.json disk metadata.json vmstate)" ]
	# only the chunks of disk and vmstate came: none of mem's yet
	[ "$(find "$BATS_TEST_TMPDIR/lazy-cache/chunks" -type f -printf '%f\n' | sort)" = "$(jq -r '.files.disk.chunks[][0], .files.vmstate.chunks[][0]' "$md" | sort -u)" ]
	BDS_CACHE="$BATS_TEST_TMPDIR/lazy-cache" run -0 bds-vm-restore --driver firecracker --lock-owner "$OWNER" < "$LAZY"
	echo "$output" > "$BATS_TEST_TMPDIR/r"
	root=$(jq -r .vm.root "$BATS_TEST_TMPDIR/r")
	run -0 jq -c 'select(.method == "PUT") | .body.mem_backend' "$FC_STANDIN_LOG"
	[ "$output" = '{"backend_type":"Uffd","backend_path":"uffd.sock"}' ]
	# the guest read all of its memory: the entry's bytes
	run -0 jq -r 'select(.event == "mapped_memory") | [.backend, .socket, .sha256] | join(" ")' "$FC_STANDIN_LOG"
	[ "$output" = "Uffd $root/uffd.sock $(sha256sum < "$BATS_TEST_TMPDIR/mem" | cut -d' ' -f1)" ]
	cmp "$BATS_TEST_TMPDIR/mem" "$root/mem"
	# every chunk of mem came through the chunk cache, checked
	[ "$(find "$BATS_TEST_TMPDIR/lazy-cache/chunks" -type f -printf '%f\n' | sort)" = "$(jq -r '.files[].chunks // [] | .[][0]' "$md" | sort -u)" ]
	stop_vm "$BATS_TEST_TMPDIR/r"
	handler_gone "$root"
	# a lazy copy serves a lazy lookup again, and an eager one fetches mem
	BDS_CACHE="$BATS_TEST_TMPDIR/lazy-cache" run -0 --separate-stderr bds-store-lookup --store "$STORE" --target "$BASE" --lazy-mem < "$BATS_TEST_TMPDIR/e1"
	[ "$(jq -c .snapshot.lazy <<<"$output")" = '["mem"]' ]
	BDS_CACHE="$BATS_TEST_TMPDIR/lazy-cache" run -0 --separate-stderr bds-store-lookup --store "$STORE" --target "$BASE" < "$BATS_TEST_TMPDIR/e1"
	[ "$(jq -c .snapshot.lazy <<<"$output")" = null ]
	cmp "$BATS_TEST_TMPDIR/mem" "$snap/mem"
	nothing_left
}

@test "lazy: a chunk of mem that fails its check kills Firecracker during the load: cold, nothing left, never cached" {
	lazy_record
	local md h
	md="$STORE/$(jq -r '.snapshot.fingerprint + "/" + .snapshot.base' "$LAZY")/metadata.json"
	h=$(jq -r '.files.mem.chunks[2][0]' "$md")
	printf 'X' | dd of="$STORE/chunks/${h:0:2}/$h" bs=1 seek=100 conv=notrunc status=none
	BDS_CACHE="$BATS_TEST_TMPDIR/lazy-cache" run -2 --separate-stderr bds-vm-restore --driver firecracker \
		--lock-owner "$OWNER" < "$LAZY"
	[ "$(jq -r .cold.stage <<<"$output")" = bds-vm-restore ]
	# the handler killed the VM during the load, and its reason is the restore's
	[[ "$(jq -r .cold.reason <<<"$output")" =~ ^firecracker:\ .*\;\ page-fault\ handler:\ bds-uffd-handler:\ cold:\ mem:\ chunk\ $h\ in\ the\ store\ has\ xxh3_128\ [0-9a-f]{32}\;\ the\ VM\ was\ killed\)$ ]]
	[ ! -e "$BATS_TEST_TMPDIR/lazy-cache/chunks/${h:0:2}/$h" ]
	run -0 jq -r 'select(.event == "mapped_memory")' "$FC_STANDIN_LOG"
	[ "$output" = "" ]
	nothing_left
}

@test "lazy under the jailer: cold with the reason, before anything starts" {
	lazy_record
	run -2 --separate-stderr bds-vm-restore --driver firecracker --lock-owner "$OWNER" --jailer /nonexistent/jailer < "$LAZY"
	[ "$(jq -r .cold.reason <<<"$output")" = "a lazy restore (snapshot.lazy) does not run under the jailer yet: look the entry up without --lazy-mem" ]
	[ ! -s "$FC_STANDIN_LOG" ]
	nothing_left
}

@test "an entry whose files are not all there as recorded: cold before a slot is taken or Firecracker starts" {
	record
	local copy=$BATS_TEST_TMPDIR/entry-copy before
	cp -r "$(jq -r .snapshot.dir "$BATS_TEST_TMPDIR/lookup")" "$copy"
	rm "$copy/mem"
	before=$(entry_listing "$copy")
	jq --arg d "$copy" '.snapshot.dir = $d' "$BATS_TEST_TMPDIR/lookup" > "$BATS_TEST_TMPDIR/l"
	run -2 --separate-stderr bds-vm-restore --driver firecracker --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
	[ "$stderr" = "bds-vm-restore: cold: the entry's file '$copy/mem' is missing: No such file or directory" ]
	[ "$(jq -r .cold.stage <<<"$output")" = "bds-vm-restore" ]
	jq --arg d "$copy" '.snapshot.dir = $d | del(.snapshot.metadata.files.mem)' "$BATS_TEST_TMPDIR/lookup" > "$BATS_TEST_TMPDIR/l"
	run -2 --separate-stderr bds-vm-restore --driver firecracker --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
	[ "$stderr" = "bds-vm-restore: cold: the entry '$copy' has no 'mem' in its metadata" ]
	truncate -s 10 "$copy/disk"
	jq --arg d "$copy" '.snapshot.dir = $d' "$BATS_TEST_TMPDIR/lookup" > "$BATS_TEST_TMPDIR/l"
	before=$(entry_listing "$copy")
	run -2 --separate-stderr bds-vm-restore --driver firecracker --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
	[[ "$stderr" == "bds-vm-restore: cold: the entry's file '$copy/disk' has 10 bytes, its metadata says "* ]]
	[ "$(entry_listing "$copy")" = "$before" ]
	# Firecracker never started, no slot was ever taken
	[ ! -s "$FC_STANDIN_LOG" ]
	nothing_left
}

@test "two restores at once take two slots; a third waits, then is cold" {
	record
	add_slot 1 lo
	bds-vm-restore --driver firecracker --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/lookup" > "$BATS_TEST_TMPDIR/a" &
	local pa=$!
	bds-vm-restore --driver firecracker --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/lookup" > "$BATS_TEST_TMPDIR/b"
	wait "$pa"
	run -0 jq -s -c 'map(.vm.slot) | sort' "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$output" = "[0,1]" ]
	run -2 --separate-stderr bds-vm-restore --driver firecracker --lock-owner "$OWNER" --lock-timeout 1 \
		< "$BATS_TEST_TMPDIR/lookup"
	[ "$stderr" = "bds-vm-restore: cold: firecracker: every network slot in '$BDS_FC_SLOTS' stayed busy for 1s" ]
	stop_vm "$BATS_TEST_TMPDIR/a"
	stop_vm "$BATS_TEST_TMPDIR/b"
	nothing_left
}

# restore_fails KNOB CALL STATUS MESSAGE: with the stand-in told KNOB=CALL, a restore
# exits STATUS, says MESSAGE, and leaves nothing behind.
restore_fails() {
	record
	env "$1=$2" BDS_VM_TIMEOUT=3 bds-vm-restore --driver firecracker --lock-owner "$OWNER" \
		< "$BATS_TEST_TMPDIR/lookup" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" || echo "exit $?" > "$BATS_TEST_TMPDIR/rc"
	run -0 cat "$BATS_TEST_TMPDIR/rc"
	[ "$output" = "exit $3" ] || { cat "$BATS_TEST_TMPDIR/err" >&2; return 1; }
	run -0 cat "$BATS_TEST_TMPDIR/err"
	[[ "$output" == *"$4"* ]]
	[ "$(jq -r .cold.stage "$BATS_TEST_TMPDIR/out")" = "bds-vm-restore" ]
	nothing_left
}

@test "injected failure: the load is refused (400): cold, Firecracker's fault surfaced, nothing left" {
	restore_fails FC_STANDIN_FAIL "PUT /snapshot/load" 2 \
		"bds-vm-restore: cold: firecracker: firecracker API: PUT /snapshot/load: HTTP 400: injected failure: PUT /snapshot/load"
}

@test "injected failure: the drive redirection is refused: cold, nothing left" {
	restore_fails FC_STANDIN_FAIL "PATCH /drives/rootfs" 2 "PATCH /drives/rootfs: HTTP 400: injected failure"
}

@test "injected failure: the resume is refused: cold, nothing left" {
	restore_fails FC_STANDIN_FAIL "PATCH /vm" 2 "PATCH /vm: HTTP 400: injected failure: PATCH /vm"
}

@test "injected failure: Firecracker never answers the load: the deadline makes it cold" {
	restore_fails FC_STANDIN_HANG "PUT /snapshot/load" 2 "PUT /snapshot/load: no answer within"
}

@test "injected failure: Firecracker dies during the load: cold, nothing left" {
	restore_fails FC_STANDIN_DIE "PUT /snapshot/load" 2 "bds-vm-restore: cold: firecracker: firecracker API: PUT /snapshot/load"
}

@test "injected failure: no API socket ever: the deadline makes it cold" {
	restore_fails FC_STANDIN_NO_SOCKET 1 2 "bds-vm-restore: cold: firecracker: "
}

@test "record: a refused InstanceStart fails the boot (exit 1), nothing left" {
	bds-fingerprint -w "$WS" --driver firecracker > "$BATS_TEST_TMPDIR/e1"
	FC_STANDIN_FAIL="PUT /actions" run -1 --separate-stderr \
		bds-vm-restore --driver firecracker --base "$BASE" --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/e1"
	[[ "$stderr" == "bds-vm-restore: firecracker: firecracker API: PUT /actions: HTTP 400: injected failure: PUT /actions (console: "* ]]
	[ "$output" = "" ]
	nothing_left
}

@test "a snapshot refused by Firecracker: exit 1, no entry, the VM still stopped by its keeper" {
	bds-fingerprint -w "$WS" --driver firecracker > "$BATS_TEST_TMPDIR/e1"
	FC_STANDIN_FAIL="PUT /snapshot/create" bds-vm-restore --driver firecracker --base "$BASE" \
		--lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/e1" > "$BATS_TEST_TMPDIR/booted"
	run -1 --separate-stderr \
		bds-vm-snapshot --driver firecracker --base-hashes "$BATS_FILE_TMPDIR/base_hashes.json" < "$BATS_TEST_TMPDIR/booted"
	[ "$stderr" = "bds-vm-snapshot: firecracker API: PUT /snapshot/create: HTTP 400: injected failure: PUT /snapshot/create" ]
	[ "$output" = "" ]
	stop_vm "$BATS_TEST_TMPDIR/booted"
	nothing_left
}

@test "the pipeline dies: the keeper kills Firecracker and releases the slot" {
	record
	bds-vm-restore --driver firecracker --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/lookup" > "$BATS_TEST_TMPDIR/r"
	local pid
	pid=$(jq -r .vm.pid "$BATS_TEST_TMPDIR/r")
	kill -0 "$pid"
	[ "$(lock_state "$BDS_FC_SLOTS/0.lock")" = held ]
	kill -9 "$OWNER"
	run -0 wait_gone "$(jq -r .vm.keeper_pid "$BATS_TEST_TMPDIR/r")" 5
	run -1 kill -0 "$pid"
	[ "$(lock_state "$BDS_FC_SLOTS/0.lock")" = free ]
	nothing_left
}

@test "a slot whose TAP is missing: exit 1 saying how to create it" {
	add_slot 0 bds-no-such-tap
	bds-fingerprint -w "$WS" --driver firecracker > "$BATS_TEST_TMPDIR/e1"
	run -1 --separate-stderr bds-vm-restore --driver firecracker --base "$BASE" --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/e1"
	[ "$stderr" = "bds-vm-restore: firecracker: TAP 'bds-no-such-tap' does not exist: create the slots with \`scripts/bds-host-setup --slots N --dir $BDS_FC_SLOTS\` (as root)" ]
	nothing_left
}

@test "no slots at all: exit 1 saying how to create them" {
	rm "$BDS_FC_SLOTS/0.json"
	bds-fingerprint -w "$WS" --driver firecracker > "$BATS_TEST_TMPDIR/e1"
	run -1 --separate-stderr bds-vm-restore --driver firecracker --base "$BASE" --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/e1"
	[ "$stderr" = "bds-vm-restore: firecracker: no network slot in '$BDS_FC_SLOTS': create them with \`scripts/bds-host-setup --slots N --dir $BDS_FC_SLOTS\` (as root)" ]
	nothing_left
}

@test "--jailer: Firecracker runs in its chroot directory, owned by --uid/--gid; it goes with the VM" {
	record
	local jail=$BATS_TEST_TMPDIR/jail
	export JAILER_STANDIN_LOG=$BATS_TEST_TMPDIR/jailer.log
	run -0 bds-vm-restore --driver firecracker --lock-owner "$OWNER" --jailer "$BDS_TOP/tests/firecracker/jailer-standin" \
		--uid 1234 --gid 5678 --chroot-base "$jail" < "$BATS_TEST_TMPDIR/lookup"
	echo "$output" > "$BATS_TEST_TMPDIR/r"
	local id root
	id=$(jq -r .vm.id "$BATS_TEST_TMPDIR/r")
	root=$(jq -r .vm.root "$BATS_TEST_TMPDIR/r")
	[ "$root" = "$jail/firecracker-standin/$id/root" ]
	run -0 jq -c '[.id, .e, .u, .g, .b, .n, .owner, .rest]' "$JAILER_STANDIN_LOG"
	[ "$output" = "[\"$id\",\"$BDS_FIRECRACKER\",\"1234\",\"5678\",\"$jail\",\"\",\"1234:5678\",[\"--api-sock\",\"/run/firecracker.socket\"]]" ]
	run -0 calls
	[ "$output" = "PUT /snapshot/load 204
PATCH /drives/rootfs 204
PATCH /vm 204" ]
	# inside the jail every path is relative to its root
	run -0 jq -c 'select(.path == "/drives/rootfs") | .body.path_on_host' "$FC_STANDIN_LOG"
	[ "$output" = '"rootfs.ext4"' ]
	run -0 jq -r 'select(.event == "opened_drive") | .path' "$FC_STANDIN_LOG"
	[ "$output" = "$(printf '%s\n' "$root/rootfs.ext4" "$root/rootfs.ext4")" ]
	run -0 stat -c %u:%g "$root/rootfs.ext4"
	[ "$output" = "1234:5678" ]
	# the entry's files the jailed uid cannot write are linked, and keep their owner and mode
	local snap
	snap=$(jq -r .snapshot.dir "$BATS_TEST_TMPDIR/lookup")
	[ "$(stat -c '%i %u:%g %a' "$root/mem" "$root/vmstate")" = "$(stat -c '%i %u:%g %a' "$snap/mem" "$snap/vmstate")" ]
	[ "$(stat -c %u:%g "$snap/mem")" = "0:0" ]
	stop_vm "$BATS_TEST_TMPDIR/r"
	[ ! -e "$jail/firecracker-standin/$id" ]
	nothing_left
	# an entry file the jailed uid could write (group 5678 may write mem): a copy, never a link
	local copy=$BATS_TEST_TMPDIR/entry-copy
	cp -a "$snap" "$copy"
	chgrp 5678 "$copy/mem"
	chmod 0664 "$copy/mem"
	jq --arg d "$copy" '.snapshot.dir = $d' "$BATS_TEST_TMPDIR/lookup" > "$BATS_TEST_TMPDIR/l"
	run -0 bds-vm-restore --driver firecracker --lock-owner "$OWNER" --jailer "$BDS_TOP/tests/firecracker/jailer-standin" \
		--uid 1234 --gid 5678 --chroot-base "$jail" < "$BATS_TEST_TMPDIR/l"
	echo "$output" > "$BATS_TEST_TMPDIR/r2"
	root=$(jq -r .vm.root "$BATS_TEST_TMPDIR/r2")
	[ "$(stat -c %i "$root/mem")" != "$(stat -c %i "$copy/mem")" ]
	[ "$(stat -c %i "$root/vmstate")" = "$(stat -c %i "$copy/vmstate")" ]
	cmp "$root/mem" "$copy/mem"
	stop_vm "$BATS_TEST_TMPDIR/r2"
	nothing_left
}

@test "a slot made by bds-host-setup: Firecracker runs in the slot's network namespace, on its TAP" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
	rm "$BDS_FC_SLOTS/0.json"
	record_slots=$BDS_FC_SLOTS
	bds-host-setup --slots 1 --prefix bdsfct --net 10.213 --dir "$BDS_FC_SLOTS"
	export BDS_FC_SLOTS=$BATS_TEST_TMPDIR/lo-slots
	mkdir -p "$BDS_FC_SLOTS"
	add_slot 0 lo
	record
	export BDS_FC_SLOTS=$record_slots
	run -0 bds-vm-restore --driver firecracker --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/lookup"
	echo "$output" > "$BATS_TEST_TMPDIR/r"
	local pid
	pid=$(jq -r .vm.pid "$BATS_TEST_TMPDIR/r")
	run -0 ip netns identify "$pid"
	[ "$output" = "bdsfct0" ]
	run -0 jq -c '[.vm.netns, .vm.tap, .vm.guest.host, .vm.guest.port]' "$BATS_TEST_TMPDIR/r"
	[ "$output" = '["bdsfct0","bds-tap0","10.213.0.2",22]' ]
	run -0 jq -c 'select(.path == "/snapshot/load") | .body.network_overrides' "$FC_STANDIN_LOG"
	[ "$output" = '[{"iface_id":"eth0","host_dev_name":"bds-tap0"}]' ]
	stop_vm "$BATS_TEST_TMPDIR/r"
	nothing_left
	bds-host-setup --remove --prefix bdsfct --dir "$BDS_FC_SLOTS"
}

#!/usr/bin/env bats
# The qemu driver's control plane on a tiny guest (kernel + busybox/dropbear initramfs, no
# Bazel): boot, snapshot, publish, restore, state surviving, disk isolation, two restores
# at once, deadlines, cleanup, the owner killed or a zombie, entries never written, the
# fingerprint. KVM where it works (tests/vm-accel.bash), else software emulation;
# BDS_VM_ACCEL overrides.

load helpers
load owner-helpers
load vm-accel

setup_file() {
	local d=$BATS_FILE_TMPDIR
	ssh-keygen -q -t ed25519 -N '' -C bds-vm-qemu -f "$d/key"
	"$BDS_TOP/tests/tiny-guest/build" --out "$d/img" --pubkey "$d/key.pub" >&3 2>&1
	BDS_VM_ACCEL=$(pick_accel "$d/img")
	export BDS_VM_ACCEL
	echo "# accelerator: $BDS_VM_ACCEL" >&3
	export BDS_VM_IMAGE="$d/img" BDS_VM_KEY="$d/key" BDS_CACHE="$d/cache" STORE="$d/store"
	WS="$d/ws"
	new_workspace "$WS"
	printf 'genrule(name = "g", srcs = [], outs = ["g.out"], cmd = "echo > $@")\n' > "$WS/BUILD"
	BASE=$(commit_all "$WS" base)
	export WS BASE
	sleep 100000 &
	export FILE_OWNER=$!
	bds-fingerprint -w "$WS" --driver qemu > "$d/e1"
	local t0 t1
	t0=$(date +%s.%N)
	bds-vm-restore --driver qemu --base "$BASE" --lock-owner "$FILE_OWNER" < "$d/e1" > "$d/e2"
	# the guest's state before the snapshot: a file in RAM, a running process, a disk write
	bds-guest-exec --ready-timeout 300 -- sh -c \
		'echo in-memory > /tmp/state; (while :; do sleep 1; done) </dev/null >/dev/null 2>&1 & echo $! > /tmp/loop.pid
		 echo recorded > /data/recorded; sync' < "$d/e2" > "$d/e3"
	t1=$(date +%s.%N)
	echo "# tiny guest boot to first command: $(echo "$t1 - $t0" | bc) s" >&3
	echo '{"//:g": "abc"}' > "$d/base_hashes.json"
	bds-vm-snapshot --driver qemu --base-hashes "$d/base_hashes.json" < "$d/e3" > "$d/e4"
	bds-store-publish --store "$STORE" < "$d/e4" > "$d/e5"
	# the staging entry is the caller's to remove once published (a record's is)
	rm -rf "$(jq -r .entry.dir "$d/e4")"
	(cd "$STORE" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$d/published.sums"
	bds-store-lookup --store "$STORE" --target "$BASE" < "$d/e1" > "$d/lookup"
	export LOOKUP="$d/lookup" RECORD_VM="$d/e2"
}

teardown_file() {
	kill "$FILE_OWNER" 2>/dev/null || true
	# the keeper notices within a poll interval and removes its run directory
	wait_gone "$(jq -r .vm.keeper_pid "$RECORD_VM")" 10 >/dev/null || true
}

setup() {
	start_owner
}

teardown() {
	stop_owner
	zombie_done
	local k
	for k in $(cat "$BATS_TEST_TMPDIR"/*.keeper 2>/dev/null); do wait_gone "$k" 10 >/dev/null || true; done
}

# restore OUT [OWNER]: restores the published snapshot for OWNER, its envelope in OUT, its
# keeper's pid in OUT.keeper (for the teardown).
restore() {
	bds-vm-restore --driver qemu --lock-owner "${2:-$OWNER}" < "$LOOKUP" > "$1" || return
	jq -r .vm.keeper_pid "$1" > "$1.keeper"
}

# in_guest ENV CMD...: runs CMD in the guest of envelope ENV, prints its stdout.
in_guest() {
	local env=$1
	shift
	bds-guest-exec --stdout "$BATS_TEST_TMPDIR/out" -- "$@" < "$env" > /dev/null && cat "$BATS_TEST_TMPDIR/out"
}

# stop VM_ENV: stops a restored VM by its keeper, as the pipeline scripts do.
stop() {
	local k
	k=$(jq -r .vm.keeper_pid "$1")
	kill -TERM "$k"
	for _ in $(seq 200); do kill -0 "$k" 2>/dev/null || return 0; sleep 0.05; done
	return 1
}

@test "record: the entry holds the VM's files and the driver's state" {
	run -0 ls "$(jq -r .snapshot.dir "$LOOKUP")"
	[ "$output" = "$(printf 'base_hashes.json\ndisk\nmem\nmetadata.json\nvmstate')" ]
	run -0 jq -c '.snapshot.metadata.driver_state | {snapshot_mode, machine, vcpus, mem_mib, disk_format, accel}' "$LOOKUP"
	[ "$output" = "{\"snapshot_mode\":\"shared\",\"machine\":\"microvm\",\"vcpus\":1,\"mem_mib\":256,\"disk_format\":\"qcow2\",\"accel\":\"$BDS_VM_ACCEL\"}" ]
	# guest RAM is not in the migration stream: the device state is small
	[ "$(stat -c %s "$(jq -r .snapshot.dir "$LOOKUP")/vmstate")" -lt 1048576 ]
	# the record's VM is gone after its snapshot; its keeper waits for the pipeline
	run -1 kill -0 "$(jq -r .vm.pid "$RECORD_VM")"
}

@test "restore: memory, a running process and the disk survive" {
	restore "$BATS_TEST_TMPDIR/r"
	run -0 in_guest "$BATS_TEST_TMPDIR/r" cat /tmp/state
	[ "$output" = "in-memory" ]
	run -0 in_guest "$BATS_TEST_TMPDIR/r" sh -c 'kill -0 "$(cat /tmp/loop.pid)" && echo alive'
	[ "$output" = "alive" ]
	run -0 in_guest "$BATS_TEST_TMPDIR/r" cat /data/recorded /data/marker
	[ "$output" = "$(printf 'recorded\nbds-tiny-guest marker')" ]
	stop "$BATS_TEST_TMPDIR/r"
}

@test "three restores each write their own disk; the entry stays byte-identical" {
	for n in 1 2 3; do
		restore "$BATS_TEST_TMPDIR/r$n"
		run -0 in_guest "$BATS_TEST_TMPDIR/r$n" sh -c 'cat /data/w 2>/dev/null || echo none; echo '"$n"' > /data/w; sync; cat /data/w'
		[ "$output" = "$(printf 'none\n%s' "$n")" ]
		stop "$BATS_TEST_TMPDIR/r$n"
	done
	run -0 sh -c "cd '$STORE' && sha256sum --quiet -c '$BATS_FILE_TMPDIR/published.sums'"
	[ "$output" = "" ]
	# the consume-side copy the VMs ran on is the published one, byte for byte (its files are
	# chunks in the store: their digests, as metadata.json lists them)
	local snap entry f
	snap=$(jq -r .snapshot.dir "$LOOKUP")
	entry="$STORE/$(jq -r '.snapshot.fingerprint + "/" + .snapshot.base' "$LOOKUP")"
	cmp "$snap/metadata.json" "$entry/metadata.json"
	for f in base_hashes.json disk mem vmstate; do
		[ "$(xxh128sum "$snap/$f" | cut -d' ' -f1)" = "$(jq -r --arg f "$f" '.files[$f].xxh3_128' "$entry/metadata.json")" ]
	done
}

@test "a record from an entry goes on with its machine (memory, process, disk) and leaves the entry as it was" {
	local r=$BATS_TEST_TMPDIR/r snap before pid run_dir
	snap=$(jq -r .snapshot.dir "$LOOKUP")
	before=$(entry_listing "$snap")
	# --base with a snapshot in the envelope: a machine to record on, from that entry's
	bds-vm-restore --driver qemu --base "$BASE" --lock-owner "$OWNER" < "$LOOKUP" > "$r"
	jq -r .vm.keeper_pid "$r" > "$r.keeper"
	[ "$(jq .vm.generation "$r")" = 1 ]
	run -0 in_guest "$r" sh -c 'cat /tmp/state; kill -0 "$(cat /tmp/loop.pid)" && echo alive; cat /data/recorded'
	[ "$output" = "$(printf 'in-memory\nalive\nrecorded')" ]
	run -0 in_guest "$r" sh -c 'echo second > /tmp/state2; echo second > /data/second; sync'
	# its RAM is a copy in its own directory, shared with QEMU (written, then snapshotted)
	pid=$(jq -r .vm.pid "$r")
	run_dir=$(jq -r .vm.run_dir "$r")
	run -0 awk -v f="$run_dir/mem" '$6 == f { print $2 }' "/proc/$pid/maps"
	[ "$output" = "rw-s" ]
	echo '{"//:g": "def"}' > "$BATS_TEST_TMPDIR/bh.json"
	bds-vm-snapshot --driver qemu --base-hashes "$BATS_TEST_TMPDIR/bh.json" < "$r" > "$r.entry"
	[ "$(jq .entry.metadata.generation "$r.entry")" = 1 ]
	bds-store-publish --store "$BATS_TEST_TMPDIR/store2" < "$r.entry" > /dev/null
	rm -rf "$(jq -r .entry.dir "$r.entry")"
	# the second entry restores with both records' state (fetched into a cache of its own:
	# it has the first's fingerprint and base, and would replace its copy in this one)
	bds-fingerprint -w "$WS" --driver qemu > "$BATS_TEST_TMPDIR/e1"
	BDS_CACHE=$BATS_TEST_TMPDIR/cache2 bds-store-lookup --store "$BATS_TEST_TMPDIR/store2" --target "$BASE" \
		< "$BATS_TEST_TMPDIR/e1" > "$BATS_TEST_TMPDIR/l2"
	bds-vm-restore --driver qemu --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l2" > "$r.2"
	jq -r .vm.keeper_pid "$r.2" > "$r.2.keeper"
	run -0 in_guest "$r.2" sh -c 'cat /tmp/state /tmp/state2 /data/recorded /data/second'
	[ "$output" = "$(printf 'in-memory\nsecond\nrecorded\nsecond')" ]
	stop "$r.2"
	# the entry it started from is as it was
	[ "$(entry_listing "$snap")" = "$before" ]
	run -0 sh -c "cd '$STORE' && sha256sum --quiet -c '$BATS_FILE_TMPDIR/published.sums'"
}

@test "a record from an entry of another accelerator boots afresh, saying why" {
	local r=$BATS_TEST_TMPDIR/r other
	[ "$BDS_VM_ACCEL" = tcg ] && other=kvm || other=tcg
	jq --arg a "$other" '.snapshot.metadata.driver_state.accel = $a' "$LOOKUP" > "$BATS_TEST_TMPDIR/l"
	run -0 --separate-stderr bds-vm-restore --driver qemu --base "$BASE" --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
	echo "$output" > "$r"
	jq -r .vm.keeper_pid "$r" > "$r.keeper"
	[ "$stderr" = "bds-vm-restore: booting a fresh machine: the entry's machine ran under $other, this one would under $BDS_VM_ACCEL" ]
	[ "$(jq '.vm | has("generation")' "$r")" = false ]
	run -0 in_guest "$r" sh -c 'cat /tmp/state 2>/dev/null || echo fresh'
	[ "$output" = fresh ]
	stop "$r"
}

@test "two restores of one snapshot run at once and answer independently" {
	restore "$BATS_TEST_TMPDIR/a" &
	local pa=$!
	restore "$BATS_TEST_TMPDIR/b"
	wait "$pa"
	[ "$(jq .vm.guest.port "$BATS_TEST_TMPDIR/a")" != "$(jq .vm.guest.port "$BATS_TEST_TMPDIR/b")" ]
	in_guest "$BATS_TEST_TMPDIR/a" sh -c 'echo A > /tmp/who' &
	pa=$!
	in_guest "$BATS_TEST_TMPDIR/b" sh -c 'echo B > /tmp/who'
	wait "$pa"
	run -0 in_guest "$BATS_TEST_TMPDIR/a" cat /tmp/who /tmp/state
	[ "$output" = "$(printf 'A\nin-memory')" ]
	run -0 in_guest "$BATS_TEST_TMPDIR/b" cat /tmp/who /tmp/state
	[ "$output" = "$(printf 'B\nin-memory')" ]
	stop "$BATS_TEST_TMPDIR/a"
	stop "$BATS_TEST_TMPDIR/b"
}

@test "vm.guest.cwd: guest commands run in that directory" {
	restore "$BATS_TEST_TMPDIR/r"
	jq '.vm.guest.cwd = "/data"' "$BATS_TEST_TMPDIR/r" > "$BATS_TEST_TMPDIR/r-cwd"
	run -0 in_guest "$BATS_TEST_TMPDIR/r-cwd" sh -c 'pwd; cat marker'
	[ "$output" = "$(printf '/data\nbds-tiny-guest marker')" ]
	jq '.vm.guest.cwd = "/no such dir"' "$BATS_TEST_TMPDIR/r" > "$BATS_TEST_TMPDIR/r-bad"
	run -1 --separate-stderr bds-guest-exec -- true < "$BATS_TEST_TMPDIR/r-bad"
	[ "${stderr_lines[-1]}" = "bds-guest-exec: command 'true' failed: exit status 2" ]
	stop "$BATS_TEST_TMPDIR/r"
}

@test "restore without an image configured: exit 1 (a setup to fix), not cold" {
	BDS_VM_IMAGE= run -1 --separate-stderr bds-vm-restore --driver qemu --lock-owner "$OWNER" < "$LOOKUP"
	[ "$stderr" = "bds-vm-restore: BDS_VM_IMAGE is not set: it names the guest image directory (guest/build-image --out)" ]
	[ "$output" = "" ]
	BDS_VM_ACCEL=fast run -1 --separate-stderr bds-fingerprint -w "$WS" --driver qemu
	[ "$stderr" = "bds-fingerprint: BDS_VM_ACCEL must be auto, kvm or tcg, not 'fast'" ]
}

@test "stopping the keeper kills QEMU and removes the run directory" {
	restore "$BATS_TEST_TMPDIR/r"
	local pid dir
	pid=$(jq -r .vm.pid "$BATS_TEST_TMPDIR/r")
	dir=$(jq -r .vm.run_dir "$BATS_TEST_TMPDIR/r")
	[ -d "$dir" ]
	run -0 cat "/proc/$pid/comm"
	[ "$output" = "qemu-system-x86" ]
	stop "$BATS_TEST_TMPDIR/r"
	run -1 kill -0 "$pid"
	[ ! -e "$dir" ]
}

@test "when the pipeline dies, its VM dies with it" {
	restore "$BATS_TEST_TMPDIR/r"
	local pid dir
	pid=$(jq -r .vm.pid "$BATS_TEST_TMPDIR/r")
	dir=$(jq -r .vm.run_dir "$BATS_TEST_TMPDIR/r")
	kill -9 "$OWNER"
	wait "$OWNER" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	run -1 kill -0 "$pid"
	for _ in $(seq 100); do [ -e "$dir" ] || break; sleep 0.05; done
	[ ! -e "$dir" ]
}

@test "a VM that never answers: the deadline makes the restore cold and kills it" {
	printf '#!/bin/sh\necho $$ > "%s/fake.pid"\npwd > "%s/fake.dir"\nexec sleep 1000\n' \
		"$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR" > "$BATS_TEST_TMPDIR/qemu"
	chmod +x "$BATS_TEST_TMPDIR/qemu"
	BDS_QEMU="$BATS_TEST_TMPDIR/qemu" BDS_VM_TIMEOUT=2 run -2 --separate-stderr \
		bds-vm-restore --driver qemu --lock-owner "$OWNER" < "$LOOKUP"
	[[ "$stderr" == *"bds-vm-restore: cold: qemu: qmp: no monitor at '"*"/qmp.sock' in time"* ]]
	[ "$(jq -r '.cold.stage' <<< "$output")" = "bds-vm-restore" ]
	run -1 kill -0 "$(cat "$BATS_TEST_TMPDIR/fake.pid")"
	[ ! -e "$(cat "$BATS_TEST_TMPDIR/fake.dir")" ]
}

@test "a corrupt snapshot: cold, QEMU killed, nothing left" {
	local copy=$BATS_TEST_TMPDIR/entry
	cp -r "$(jq -r .snapshot.dir "$LOOKUP")" "$copy"
	# the recorded size, other bytes: QEMU starts, and fails to load it
	dd if=/dev/zero of="$copy/vmstate" bs=1 seek=100 count=1000 conv=notrunc status=none
	jq --arg d "$copy" '.snapshot.dir = $d' "$LOOKUP" > "$BATS_TEST_TMPDIR/l"
	local before
	before=$(pgrep -c -f 'qemu-system-x86_64 -M microvm,memory-backend=mem' || true)
	run -2 --separate-stderr bds-vm-restore --driver qemu --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
	[[ "$stderr" == "bds-vm-restore: cold: qemu: "* ]]
	[ "$(pgrep -c -f 'qemu-system-x86_64 -M microvm,memory-backend=mem' || true)" = "$before" ]
}

# fake_qemu: BDS_QEMU, a stand-in that only notes it was started (in $BATS_TEST_TMPDIR/started).
fake_qemu() {
	printf '#!/bin/sh\necho "$@" >> "%s/started"\nexit 1\n' "$BATS_TEST_TMPDIR" > "$BATS_TEST_TMPDIR/qemu"
	chmod +x "$BATS_TEST_TMPDIR/qemu"
	export BDS_QEMU=$BATS_TEST_TMPDIR/qemu
}

# entry_listing DIR: every file of DIR with its mode and size, and its bytes' sha256.
entry_listing() {
	(cd "$1" && find . -print0 | sort -z | xargs -0 stat -c '%n %a %s' && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

@test "an entry whose files are not all there as recorded: cold before QEMU starts, nothing written into it" {
	local copy=$BATS_TEST_TMPDIR/entry before
	cp -r "$(jq -r .snapshot.dir "$LOOKUP")" "$copy"
	fake_qemu
	# without mem: QEMU 7.2 would create a 256 MiB mem in the entry and run on zeroed RAM
	rm "$copy/mem"
	before=$(entry_listing "$copy")
	jq --arg d "$copy" '.snapshot.dir = $d' "$LOOKUP" > "$BATS_TEST_TMPDIR/l"
	run -2 --separate-stderr bds-vm-restore --driver qemu --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
	[ "$stderr" = "bds-vm-restore: cold: the entry's file '$copy/mem' is missing: No such file or directory" ]
	[ "$(jq -r .cold.stage <<<"$output")" = "bds-vm-restore" ]
	# nor named in its metadata
	jq --arg d "$copy" '.snapshot.dir = $d | del(.snapshot.metadata.files.mem)' "$LOOKUP" > "$BATS_TEST_TMPDIR/l"
	run -2 --separate-stderr bds-vm-restore --driver qemu --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
	[ "$stderr" = "bds-vm-restore: cold: the entry '$copy' has no 'mem' in its metadata" ]
	[ "$(entry_listing "$copy")" = "$before" ]
	# a mem as recorded but not the guest's RAM size (QEMU would size it up, or refuse)
	head -c 4096 /dev/zero > "$copy/mem"
	jq --arg d "$copy" '.snapshot.dir = $d | .snapshot.metadata.files.mem.size = 4096' "$LOOKUP" > "$BATS_TEST_TMPDIR/l"
	before=$(entry_listing "$copy")
	run -2 --separate-stderr bds-vm-restore --driver qemu --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
	[ "$stderr" = "bds-vm-restore: cold: the entry's RAM file '$copy/mem' has 4096 bytes, not the guest's 256 MiB" ]
	# a truncated disk or vmstate
	cp "$(jq -r .snapshot.dir "$LOOKUP")/mem" "$copy/mem"
	truncate -s 1000 "$copy/vmstate"
	jq --arg d "$copy" '.snapshot.dir = $d' "$LOOKUP" > "$BATS_TEST_TMPDIR/l"
	before=$(entry_listing "$copy")
	run -2 --separate-stderr bds-vm-restore --driver qemu --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
	[ "$stderr" = "bds-vm-restore: cold: the entry's file '$copy/vmstate' has 1000 bytes, its metadata says $(jq .snapshot.metadata.files.vmstate.size "$LOOKUP")" ]
	[ "$(entry_listing "$copy")" = "$before" ]
	# QEMU never ran
	[ ! -e "$BATS_TEST_TMPDIR/started" ]
}

@test "the entry's RAM: a read-only descriptor, mapped privately; opened read-only by QEMU 8.2 and later" {
	fake_qemu
	local v mem
	for v in "7.2.22 (Debian 1:7.2+dfsg-7)" "8.1.5" "8.2.2" "9.0.0"; do
		rm -f "$BATS_TEST_TMPDIR/started"
		jq --arg v "QEMU emulator version $v" '.fingerprint.components.vmm = $v' "$LOOKUP" > "$BATS_TEST_TMPDIR/l"
		BDS_VM_TIMEOUT=2 run -2 bds-vm-restore --driver qemu --lock-owner "$OWNER" < "$BATS_TEST_TMPDIR/l"
		mem=$(tr ' ' '\n' < "$BATS_TEST_TMPDIR/started" | grep '"qom-type":"memory-backend-file"' | jq -c 'del(.size)')
		case $v in
		7.*|8.1.*) [ "$mem" = '{"qom-type":"memory-backend-file","id":"mem","mem-path":"/proc/self/fd/3","share":false}' ] ;;
		*) [ "$mem" = '{"qom-type":"memory-backend-file","id":"mem","mem-path":"/proc/self/fd/3","share":false,"readonly":true,"rom":"off"}' ] ;;
		esac
	done
}

@test "a restore, a command, a stop: no byte, mode or file of the entry changes" {
	local snap before
	snap=$(jq -r .snapshot.dir "$LOOKUP")
	before=$(entry_listing "$snap")
	restore "$BATS_TEST_TMPDIR/r"
	# the guest writes RAM (tmpfs) and disk
	run -0 in_guest "$BATS_TEST_TMPDIR/r" sh -c 'head -c 8388608 /dev/urandom > /tmp/ram; echo x > /data/x; sync; cat /tmp/state'
	[ "$output" = "in-memory" ]
	# QEMU got the entry's RAM file by a read-only descriptor, and maps it privately
	local pid
	pid=$(jq -r .vm.pid "$BATS_TEST_TMPDIR/r")
	run -0 readlink "/proc/$pid/fd/3"
	[ "$output" = "$snap/mem" ]
	run -0 awk '$1 == "flags:" { print $2 }' "/proc/$pid/fdinfo/3"
	[ $((0$output & 3)) -eq 0 ]
	run -0 awk -v f="$snap/mem" '$6 == f { print $2 }' "/proc/$pid/maps"
	[ "$output" = "rw-p" ]
	stop "$BATS_TEST_TMPDIR/r"
	[ "$(entry_listing "$snap")" = "$before" ]
}

@test "a zombie owner (killed, never reaped) stops its VM: pidfd, and /proc without pidfds" {
	local mode pid dir
	for mode in 0 1; do
		zombie_start
		BDS_TEST_NO_PIDFD=$mode restore "$BATS_TEST_TMPDIR/z$mode" "$ZOWNER"
		pid=$(jq -r .vm.pid "$BATS_TEST_TMPDIR/z$mode")
		dir=$(jq -r .vm.run_dir "$BATS_TEST_TMPDIR/z$mode")
		kill -0 "$pid"
		zombie_kill
		[ "$(awk '{ print $3 }' "/proc/$ZOWNER/stat")" = Z ]
		run -0 wait_gone "$(cat "$BATS_TEST_TMPDIR/z$mode.keeper")" 5
		echo "# BDS_TEST_NO_PIDFD=$mode: VM keeper gone $output ms after its owner became a zombie" >&3
		run -1 kill -0 "$pid"
		[ ! -e "$dir" ]
		[ "$(awk '{ print $3 }' "/proc/$ZOWNER/stat")" = Z ]
		zombie_done
	done
}

@test "a keeper killed with SIGKILL: its VM dies with it; the next restore sweeps its run directory" {
	export TMPDIR=$BATS_TEST_TMPDIR/tmp
	mkdir -p "$TMPDIR"
	restore "$BATS_TEST_TMPDIR/r"
	local pid dir
	pid=$(jq -r .vm.pid "$BATS_TEST_TMPDIR/r")
	dir=$(jq -r .vm.run_dir "$BATS_TEST_TMPDIR/r")
	kill -KILL "$(cat "$BATS_TEST_TMPDIR/r.keeper")"
	run -0 wait_gone "$pid" 5
	# left behind, its lock free
	[ -d "$dir" ]
	[ "$(lock_state "$dir/.lock")" = free ]
	restore "$BATS_TEST_TMPDIR/r2"
	[ ! -e "$dir" ]
	run -0 ls "$TMPDIR"
	[ "$output" = "$(basename "$(jq -r .vm.run_dir "$BATS_TEST_TMPDIR/r2")")" ]
	[ "$(lock_state "$(jq -r .vm.run_dir "$BATS_TEST_TMPDIR/r2")/.lock")" = held ]
	stop "$BATS_TEST_TMPDIR/r2"
	run -0 ls -A "$TMPDIR"
	[ "$output" = "" ]
}

@test "the fingerprint: accelerator, QEMU, image and host CPU are part of the key" {
	run -0 jq -r '.fingerprint.components | keys | join(" ")' "$BATS_FILE_TMPDIR/e1"
	[ "$output" = "accel bazel bazel_command bazelrc bazelversion bds_version command_options driver hash_options host_cpu initrd kernel module_lock option_files rc_files rc_list rootfs snapshot_mode startup_options tools_bazel vm_shape vmm" ]
	run -0 jq -r '.fingerprint.components.vmm' "$BATS_FILE_TMPDIR/e1"
	[ "$output" = "$(qemu-system-x86_64 --version | head -n 1)" ]
	# each key from a fingerprint that succeeded: a failed one printing nothing would make
	# every "differs" below pass
	local recorded tcg kvm
	recorded=$(jq -er '.fingerprint.key | select(test("^[0-9a-f]{32}$"))' "$BATS_FILE_TMPDIR/e1")
	BDS_VM_ACCEL=tcg run -0 bds-fingerprint -w "$WS" --driver qemu
	tcg=$(jq -er '.fingerprint.key | select(test("^[0-9a-f]{32}$"))' <<<"$output")
	BDS_VM_ACCEL=kvm run -0 bds-fingerprint -w "$WS" --driver qemu
	kvm=$(jq -er '.fingerprint.key | select(test("^[0-9a-f]{32}$"))' <<<"$output")
	[ "$tcg" != "$kvm" ]
	printf '#!/bin/sh\necho "QEMU emulator version 99.0"\n' > "$BATS_TEST_TMPDIR/q"
	chmod +x "$BATS_TEST_TMPDIR/q"
	local other
	BDS_QEMU="$BATS_TEST_TMPDIR/q" run -0 bds-fingerprint -w "$WS" --driver qemu
	other=$(jq -er '.fingerprint.key | select(test("^[0-9a-f]{32}$"))' <<<"$output")
	[ "$other" != "$recorded" ]
	BDS_QEMU_SNAPSHOT=stream run -0 bds-fingerprint -w "$WS" --driver qemu
	other=$(jq -er '.fingerprint.key | select(test("^[0-9a-f]{32}$"))' <<<"$output")
	[ "$other" != "$recorded" ]
}

@test "configuration errors are exit 1 with what to set" {
	BDS_VM_IMAGE= run -1 --separate-stderr bds-fingerprint -w "$WS" --driver qemu
	[ "$stderr" = "bds-fingerprint: BDS_VM_IMAGE is not set: it names the guest image directory (guest/build-image --out)" ]
	BDS_VM_IMAGE= run -1 --separate-stderr bds-vm-restore --driver qemu --base "$BASE" --lock-owner "$OWNER" < "$BATS_FILE_TMPDIR/e1"
	[ "$stderr" = "bds-vm-restore: BDS_VM_IMAGE is not set: it names the guest image directory (guest/build-image --out)" ]
	BDS_VM_KEY=/nonexistent run -1 --separate-stderr bds-vm-restore --driver qemu --base "$BASE" --lock-owner "$OWNER" < "$BATS_FILE_TMPDIR/e1"
	[ "$stderr" = "bds-vm-restore: ssh key '/nonexistent' for the guest: No such file or directory (set BDS_VM_KEY)" ]
	run -64 --separate-stderr bds-vm-restore --driver xen < "$BATS_FILE_TMPDIR/e1"
	[ "${stderr%%$'\n'*}" = "bds-vm-restore: unknown --driver 'xen' (this build has: local, qemu, firecracker)" ]
}

@test "snapshot of a VM that is gone: exit 1, no entry left" {
	local dead=$BATS_TEST_TMPDIR/dead
	jq '.vm.run_dir = "/nonexistent/run" | .vm.pid = 999999999' "$BATS_FILE_TMPDIR/e3" > "$dead"
	local before
	before=$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'bds-entry.*' | wc -l)
	BDS_VM_TIMEOUT=2 run -1 --separate-stderr bds-vm-snapshot --driver qemu --base-hashes "$BATS_FILE_TMPDIR/base_hashes.json" < "$dead"
	[ "$stderr" = "bds-vm-snapshot: qmp: QEMU (pid 999999999) exited before its monitor '/nonexistent/run/qmp.sock' answered" ]
	[ "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'bds-entry.*' | wc -l)" = "$before" ]
}

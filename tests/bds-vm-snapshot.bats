# bds-vm-snapshot with the local driver: what it takes from the envelope, and the staged
# entry's life: held for its --owner by a keeper, removed when the owner dies, swept when
# its keeper died. bds-vm-local.bats has the entry's contents.

load helpers
load owner-helpers
load vm-local-helpers

setup() {
	vm_local_setup
	export TMPDIR="$STAGING"
	printf '{"//:g": "x~y"}' > "$BATS_TEST_TMPDIR/h.json"
}

teardown() {
	vm_local_teardown
}

# booted: the envelope of a booted local machine whose server runs (record mode).
booted() {
	boot "$OWNER" > "$BATS_TEST_TMPDIR/vm.json"
	start_server
}

# snapshot [OPTIONS]: bds-vm-snapshot of the booted machine.
snapshot() {
	bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" "$@" < "$BATS_TEST_TMPDIR/vm.json"
}

# gone PATH: PATH disappears within 10 s (0), or not (1).
gone() {
	local _
	for _ in $(seq 100); do
		[ -e "$1" ] || return 0
		sleep 0.1
	done
	return 1
}

@test "envelope keys are checked, not trusted: 1, nothing staged" {
	vm=$(jq -c --arg b "$BASE" '. + {vm: {base: $b, driver: "local"}}' "$FPJSON")
	names="local, qemu, firecracker"
	for d in 1 '"xen"' '""' '"local\u0000"'; do
		run -1 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" <<<"$(jq -c ".driver = $d" <<<"$vm")"
		[ "$output" = "" ]
		case $d in
		1) [ "$stderr" = "bds-vm-snapshot: envelope: key 'driver': expected string, found number" ] ;;
		'"local\u0000"') [ "$stderr" = "bds-vm-snapshot: read envelope 'stdin': key 'driver': the string holds a NUL byte" ] ;;
		*) [ "$stderr" = "bds-vm-snapshot: envelope: \`driver\` must be a driver name (one of $names)" ] ;;
		esac
	done
	run -1 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" <<<"$(jq -c '.vm.base = "../x"' <<<"$vm")"
	[ "$stderr" = "bds-vm-snapshot: envelope: \`vm.base\` must be a 40-hex commit sha" ]
	run -1 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" <<<"$(jq -c '.fingerprint.key = "k/../x"' <<<"$vm")"
	[ "$stderr" = "bds-vm-snapshot: envelope: \`fingerprint.key\` must be 32 lowercase hex digits" ]
	run -1 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" <<<"$(jq -c 'del(.vm)' <<<"$vm")"
	[ "$stderr" = "bds-vm-snapshot: envelope: \`vm.base\` must be a 40-hex commit sha" ]
	run -1 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" <<<"$(jq -c '.vm = "x"' <<<"$vm")"
	[ "$stderr" = "bds-vm-snapshot: envelope: key 'vm': expected object, found string" ]
	run -1 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" <<<"$(jq -c '.vm.base = 7' <<<"$vm")"
	[ "$stderr" = "bds-vm-snapshot: envelope: \`vm\`: key 'base': expected string, found number" ]
	TMPDIR=rel run -1 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" <<<"$vm"
	[ "$stderr" = "bds-vm-snapshot: TMPDIR 'rel': not an absolute path" ]
	local v
	# 4294967297 once wrapped to pid 1 (kept for ever); pid 1 itself never ends
	for v in x "" 0 1 -5 " +1234" +1234 1234x 1e3 0x10 4194305 4294967297 99999999999999999999; do
		run -64 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" --owner "$v" <<<"$vm"
		[ "${stderr_lines[0]}" = "bds-vm-snapshot: --owner takes a process id (2 to 4194304)" ] || { echo "'$v'"; false; }
	done
	[ "$(ls -A "$STAGING")" = "" ]
}

@test "--base-hashes: a FIFO or a directory is 1 at once, never a hang; nothing staged" {
	vm=$(jq -c --arg b "$BASE" '. + {vm: {base: $b, driver: "local"}}' "$FPJSON")
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run -1 --separate-stderr timeout 20 bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/fifo" <<<"$vm"
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-snapshot: read --base-hashes: '$BATS_TEST_TMPDIR/fifo': not a regular file (a FIFO)" ]
	run -1 --separate-stderr timeout 20 bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR" <<<"$vm"
	[ "$stderr" = "bds-vm-snapshot: read --base-hashes: '$BATS_TEST_TMPDIR': not a regular file (a directory)" ]
	[ "$(ls -A "$STAGING")" = "" ]
}

@test "--owner: a keeper holds the staged entry; a SIGKILLed owner's entry is removed" {
	booted
	run -0 --separate-stderr snapshot --owner "$OWNER"
	[ "$stderr" = "" ]
	entry=$output
	dir=$(jq -r .entry.dir <<<"$entry")
	keeper=$(jq -r .entry.keeper_pid <<<"$entry")
	[ "$(dirname "$dir")" = "$STAGING" ]
	# the lock is the keeper's, the owner record names the owner, and the entry publishes
	# without either
	[ "$(ls -A "$dir" | tr '\n' ' ')" = ".lock .owner base_hashes.json " ]
	[ "$(cat "$dir/.owner")" = "$OWNER $(awk '{ print $22 }' "/proc/$OWNER/stat") $(cat /proc/sys/kernel/random/boot_id)" ]
	run -1 flock -n "$dir/.lock" true
	[ "$(find "/proc/$keeper/fd" -lname "$dir/.lock" | wc -l)" = 1 ]
	bds-store-publish --store "$BATS_TEST_TMPDIR/store" <<<"$entry" > /dev/null
	[ "$(ls -A "$BATS_TEST_TMPDIR/store/$FP/$BASE" | tr '\n' ' ')" = "base_hashes.json metadata.json " ]
	kill -KILL "$OWNER"
	gone "$dir"
}

@test "a dead keeper's staged entry is kept while its owner lives, then swept by the next snapshot" {
	booted
	sleep 1000 3>&- &
	other=$!
	run -0 snapshot --owner "$other"
	live=$(jq -r .entry.dir <<<"$output")
	sleep 1000 3>&- &
	OTHER=$! # the teardown's to kill
	run -0 snapshot --owner "$OTHER"
	dead=$(jq -r .entry.dir <<<"$output")
	# SIGKILL: the keeper cannot clean up, but its lock goes with it
	kill -KILL "$(jq -r .entry.keeper_pid <<<"$output")"
	for _ in $(seq 100); do flock -n "$dead/.lock" true && break; sleep 0.1; done
	run -0 flock -n "$dead/.lock" true
	[ -d "$dead" ]
	# its owner lives (a record still running): the entry it will publish stays
	run -0 snapshot --owner "$OWNER"
	[ -d "$dead" ]
	# its owner dead too: the next snapshot sweeps it
	kill -KILL "$OTHER"
	wait "$OTHER" || true
	run -0 snapshot --owner "$OWNER"
	new=$(jq -r .entry.dir <<<"$output")
	[ ! -e "$dead" ]
	[ -d "$live" ]
	[ -d "$new" ]
	kill -KILL "$other"
	wait "$other" || true
	gone "$live"
}

@test "without --owner the staged entry is the caller's: no lock, no keeper, swept after a day" {
	booted
	mkdir "$STAGING/bds-entry.stale" "$STAGING/bds-entry.fresh"
	touch -d '2 days ago' "$STAGING/bds-entry.stale"
	run -0 --separate-stderr snapshot
	dir=$(jq -r .entry.dir <<<"$output")
	[ "$(jq -c '.entry | has("keeper_pid")' <<<"$output")" = false ]
	[ "$(ls -A "$dir")" = base_hashes.json ]
	[ "$(ls -A "$STAGING" | sort | tr '\n' ' ')" = "$(printf '%s\n' bds-entry.fresh "${dir##*/}" | sort | tr '\n' ' ')" ]
}

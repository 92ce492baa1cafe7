# bds-vm-restore and bds-vm-snapshot with the local driver: envelope rules, boot, locks,
# reattach or cold, and the staged entry.

load helpers
load vm-local-helpers

setup() {
	vm_local_setup
	COLD='{"cold":{"reason":"r","stage":"bds-store-lookup"},"driver":"local"}'
}

teardown() {
	vm_local_teardown
}

@test "cold envelopes pass through both filters byte for byte, exit 2" {
	run -2 --separate-stderr bds-vm-restore <<<"$COLD"
	[ "$output" = "$COLD" ]
	[ "$stderr" = "" ]
	run -2 --separate-stderr bds-vm-snapshot --base-hashes /nonexistent <<<"$COLD"
	[ "$output" = "$COLD" ]
	[ "$stderr" = "" ]
	[ ! -e "$BDS_CACHE" ]
}

@test "empty or invalid input exits 1, never 2" {
	for cmd in "bds-vm-restore --base $BASE" "bds-vm-snapshot --base-hashes x"; do
		name=${cmd%% *}
		run -1 --separate-stderr $cmd < /dev/null
		[ "$output" = "" ]
		[ "$stderr" = "$name: read envelope 'stdin': empty input (the upstream stage failed)" ]
		run -1 --separate-stderr $cmd <<<'{"a":'
		[ "$output" = "" ]
		[[ "$stderr" == "$name: read envelope: parse 'stdin': Unfinished JSON term"* ]]
		run -1 --separate-stderr $cmd <<<'[1]'
		[ "$output" = "" ]
		[ "$stderr" = "$name: read envelope 'stdin': expected an object, found array" ]
	done
}

@test "usage errors exit 64" {
	run -64 --separate-stderr bds-vm-restore --bogus < "$FPJSON"
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-vm-restore: unknown option or missing value" ]
	[ "${stderr_lines[1]}" = "usage: bds-vm-restore [--driver local|qemu|firecracker] [--base SHA] [--bazel CMD]" ]
	run -64 --separate-stderr bds-vm-restore --base "${BASE:0:39}" < "$FPJSON"
	[ "${stderr_lines[0]}" = "bds-vm-restore: --base takes a full 40-hex commit sha" ]
	run -64 --separate-stderr bds-vm-restore --base "${BASE:0:39}g" < "$FPJSON"
	[ "${stderr_lines[0]}" = "bds-vm-restore: --base takes a full 40-hex commit sha" ]
	run -64 --separate-stderr bds-vm-restore < "$FPJSON"
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-restore: no snapshot in the envelope and no --base: nothing to restore or boot" ]
	run -64 --separate-stderr bds-vm-restore --base "$BASE" --lock-timeout x < "$FPJSON"
	[ "${stderr_lines[0]}" = "bds-vm-restore: --lock-timeout takes seconds from 0 to 86400" ]
	run -64 --separate-stderr bds-vm-snapshot < "$FPJSON"
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-vm-snapshot: missing --base-hashes FILE" ]
	[ "${stderr_lines[1]}" = "usage: bds-vm-snapshot [--driver local|qemu|firecracker] --base-hashes FILE   < envelope" ]
	run -64 --separate-stderr bds-vm-snapshot --bogus --base-hashes x < "$FPJSON"
	[ "${stderr_lines[0]}" = "bds-vm-snapshot: unknown option or missing value" ]
	[ ! -e "$BDS_CACHE" ]
}

@test "boot: a worktree at the base commit, the lock held by the owner, the exact vm" {
	run -0 --separate-stderr boot 4242
	[ "$stderr" = "" ]
	[ "$(jq -cS 'del(.vm)' <<<"$output")" = "$(jq -cS . "$FPJSON")" ]
	run -0 jq -c .vm <<<"$output"
	[ "$output" = "$(expected_vm)" ]
	[ "$(git -C "$STATE/worktree" rev-parse HEAD)" = "$BASE" ]
	[ "$(git -C "$STATE/worktree" status --porcelain)" = "" ]
	[ "$(cat "$STATE/lock/owner")" = "4242" ]
	[ "$(ls -A "$STATE/lock")" = "owner" ]
}

@test "boot: a lock held by a live process makes it fail, a stale one is taken over" {
	sleep 30 &
	SLEEPER=$!
	run -0 boot "$SLEEPER"
	run -1 --separate-stderr boot "$$" 0.3
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-restore: the local warm state of $FP/$BASE is busy (lock '$STATE/lock')" ]
	[ "$(cat "$STATE/lock/owner")" = "$SLEEPER" ]
	kill "$SLEEPER"
	wait "$SLEEPER" 2>/dev/null || true
	SLEEPER=
	run -0 --separate-stderr boot "$$"
	[ "$(jq -c .vm <<<"$output")" = "$(expected_vm)" ]
	[ "$(cat "$STATE/lock/owner")" = "$$" ]
}

@test "restore: cold without its state or server, warm once it runs, cold while busy" {
	run -0 boot 1
	rm -rf "$STATE/lock"
	# booted but never warmed up: no output base at all
	run -2 --separate-stderr bds-vm-restore --lock-owner $$ < <(snapshot_envelope)
	reason="the local warm state of $FP/$BASE is gone (no '$STATE/output_base')"
	[ "$(jq -cS . <<<"$output")" = "$(expected_cold "$reason")" ]
	[ "$stderr" = "bds-vm-restore: cold: $reason" ]
	# the output base is there but its server was shut down
	start_server
	stop_server
	run -2 --separate-stderr bds-vm-restore --lock-owner $$ < <(snapshot_envelope)
	reason="the local warm Bazel server of $FP/$BASE is gone (output base '$STATE/output_base')"
	[ "$(jq -cS . <<<"$output")" = "$(expected_cold "$reason")" ]
	[ ! -e "$STATE/lock" ]
	# a live server: reattach, and the lock is ours
	start_server
	run -0 --separate-stderr bds-vm-restore --lock-owner $$ < <(snapshot_envelope)
	[ "$stderr" = "" ]
	[ "$(jq -c .vm <<<"$output")" = "$(expected_vm)" ]
	[ "$(jq -cS 'del(.vm)' <<<"$output")" = "$(snapshot_envelope | jq -cS .)" ]
	[ "$(cat "$STATE/lock/owner")" = "$$" ]
	# held by a live owner for longer than the timeout: cold, not a failure
	start=$(date +%s%N)
	run -2 --separate-stderr bds-vm-restore --lock-owner $$ --lock-timeout 0.3 < <(snapshot_envelope)
	elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$elapsed_ms" -ge 300 ]
	reason="the local warm state of $FP/$BASE stayed busy for 0.3s (lock '$STATE/lock')"
	[ "$(jq -cS . <<<"$output")" = "$(expected_cold "$reason")" ]
	# a stale lock (its owner is dead) is taken over
	printf '%s\n' 999999999 > "$STATE/lock/owner"
	run -0 bds-vm-restore --lock-owner $$ < <(snapshot_envelope)
	[ "$(cat "$STATE/lock/owner")" = "$$" ]
}

@test "restore: a snapshot that is not a local-driver entry exits 1" {
	run -1 --separate-stderr bds-vm-restore < <(jq -c '. + {snapshot: {base: "x"}}' "$FPJSON")
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-restore: envelope: needs snapshot.base, snapshot.fingerprint and snapshot.metadata.driver_state.state_dir (a local-driver entry)" ]
}

@test "snapshot: the staged entry holds exactly base_hashes.json and the live server" {
	boot 1 > "$BATS_TEST_TMPDIR/vm.json"
	printf '{"//:g": "x~y"}' > "$BATS_TEST_TMPDIR/h.json"
	run -1 --separate-stderr env TMPDIR="$STAGING" bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" < "$BATS_TEST_TMPDIR/vm.json"
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-snapshot: no live Bazel server for output base '$STATE/output_base': the warm-up query did not run" ]
	[ "$(ls -A "$STAGING")" = "" ]
	start_server
	run -0 --separate-stderr env TMPDIR="$STAGING" bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" < "$BATS_TEST_TMPDIR/vm.json"
	[ "$stderr" = "" ]
	dir=$(jq -r .entry.dir <<<"$output")
	[ "$(dirname "$dir")" = "$STAGING" ]
	[ "$(ls -A "$dir")" = "base_hashes.json" ]
	cmp "$BATS_TEST_TMPDIR/h.json" "$dir/base_hashes.json"
	[ "$(jq -cS 'del(.entry)' <<<"$output")" = "$(jq -cS . "$BATS_TEST_TMPDIR/vm.json")" ]
	pid=$(cat "$STATE/output_base/server/server.pid.txt")
	kill -0 "$pid"
	run -0 jq -c '.entry | del(.dir)' <<<"$output"
	expected=$(jq -ncS --arg b "$BASE" --arg fp "$FP" --arg s "$STATE" --arg h "$(hostname)" --argjson p "$pid" \
		'{base: $b, driver: "local", fingerprint: $fp,
		  metadata: {host: $h, output_base: ($s + "/output_base"), server_pid: $p, state_dir: $s}}')
	[ "$output" = "$expected" ]
	# a missing --base-hashes file fails and leaves no staging dir behind
	run -1 --separate-stderr env TMPDIR="$STAGING" bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/none.json" < "$BATS_TEST_TMPDIR/vm.json"
	[ "$output" = "" ]
	[ "$(ls -A "$STAGING")" = "$(basename "$dir")" ]
}

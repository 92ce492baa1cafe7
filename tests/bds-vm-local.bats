# bds-vm-restore and bds-vm-snapshot with the local driver: envelope rules, boot, the state
# lock and the keeper that holds it for its pipeline (killed, zombie), reattach or cold,
# the entry never touched, and the staged entry.

load helpers
load owner-helpers
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

@test "a \`cold\` that is not an object of strings stage and reason is 1, never 2, for both filters" {
	check_bad_cold bds-vm-restore --base "$BASE"
	check_bad_cold bds-vm-snapshot --base-hashes /nonexistent
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
	[ "${stderr_lines[0]}" = "bds-vm-restore: unknown option '--bogus'" ]
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
	[ "${stderr_lines[0]}" = "bds-vm-snapshot: unknown option '--bogus'" ]
	[ ! -e "$BDS_CACHE" ]
}

@test "numeric options: nan, inf, empty, signs, exponents, hex and overflow are usage errors" {
	local v
	for v in nan NaN inf -inf infinity "" -1 +1 " 1" 1e3 0x10 1.2.3 . 86400.5 99999999999999999999; do
		run -64 --separate-stderr bds-vm-restore --base "$BASE" --lock-timeout "$v" < "$FPJSON"
		[ "${stderr_lines[0]}" = "bds-vm-restore: --lock-timeout takes seconds from 0 to 86400" ] || { echo "'$v'"; false; }
	done
	# 4294967297 must not wrap to pid 1, and pid 1 itself never ends: kept for ever
	for v in 0 1 -5 "" 12a 1.5 4194305 4294967297 99999999999999999999 nan " +1234" +1234 1e3 0x10; do
		run -64 --separate-stderr bds-vm-restore --base "$BASE" --lock-owner "$v" < "$FPJSON"
		[ "${stderr_lines[0]}" = "bds-vm-restore: --lock-owner takes a pid (2 to 4194304)" ] || { echo "'$v'"; false; }
	done
	for v in root "" -1 1.5 4294967295 99999999999999999999 " 7"; do
		run -64 --separate-stderr bds-vm-restore --base "$BASE" --uid "$v" < "$FPJSON"
		[ "${stderr_lines[0]}" = "bds-vm-restore: --uid and --gid take numeric ids" ] || { echo "'$v'"; false; }
		run -64 --separate-stderr bds-vm-restore --base "$BASE" --gid "$v" < "$FPJSON"
		[ "${stderr_lines[0]}" = "bds-vm-restore: --uid and --gid take numeric ids" ]
	done
	[ ! -e "$BDS_CACHE" ]
}

@test "BDS_JAILER_UID and BDS_JAILER_GID that are not plain numbers exit 1: a typo never means root" {
	local v
	for v in roo 1000x -1 1e3 " 1000" 4294967295 nan; do
		BDS_JAILER_UID=$v run -1 --separate-stderr bds-vm-restore --base "$BASE" < "$FPJSON"
		[ "$output" = "" ]
		[ "$stderr" = "bds-vm-restore: BDS_JAILER_UID '$v': not a numeric id (0 to 4294967294)" ]
		BDS_JAILER_GID=$v run -1 --separate-stderr bds-vm-restore --base "$BASE" < "$FPJSON"
		[ "$stderr" = "bds-vm-restore: BDS_JAILER_GID '$v': not a numeric id (0 to 4294967294)" ]
	done
	[ ! -e "$BDS_CACHE" ]
	# plain numbers (and empty: unset) are fine
	BDS_JAILER_UID=1000 BDS_JAILER_GID= run -0 boot
	keeper_of "$output"
}

@test "no --lock-owner and a parent that is pid 1 (adopted by init, or a container's PID 1): exit 1, nothing held" {
	# a PID namespace whose init (pid 1) is the shell that runs bds-vm-restore
	unshare --user --pid --fork true 2>/dev/null || skip "no unprivileged PID namespaces here"
	run -1 --separate-stderr unshare --user --pid --fork sh -c 'bds-vm-restore --base "$1" < "$2"; exit $?' sh "$BASE" "$FPJSON"
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-restore: no --lock-owner, and the parent process is pid 1, which never ends" ]
	[ "$(lock_state "$STATE/state.lock")" = free ]
	[ ! -e "$STATE/worktree" ]
}

@test "boot: a worktree at the base commit, the lock held by the keeper, the exact vm" {
	run -0 --separate-stderr boot
	[ "$stderr" = "" ]
	keeper_of "$output"
	[ "$(jq -cS 'del(.vm)' <<<"$output")" = "$(jq -cS . "$FPJSON")" ]
	[ "$(vm_of "$output")" = "$(expected_vm)" ]
	[ "$(git -C "$STATE/worktree" rev-parse HEAD)" = "$BASE" ]
	[ "$(git -C "$STATE/worktree" status --porcelain)" = "" ]
	# the keeper holds the lock for the pipeline, detached from it
	[ "$(lock_state "$STATE/state.lock")" = held ]
	run -0 cat "/proc/$KEEPER/comm"
	[ "$output" = "bds-vm-restore" ]
	run -0 ls -l "/proc/$KEEPER/fd"
	[[ "$output" == *" -> $STATE/state.lock"* ]]
	# stopped by the pipeline (SIGTERM), it lets go
	kill -TERM "$KEEPER"
	run -0 wait_gone "$KEEPER" 5
	[ "$(lock_state "$STATE/state.lock")" = free ]
}

@test "boot: busy while another pipeline holds the state; once that one is killed (SIGKILL), free" {
	sleep 100000 &
	OTHER=$!
	run -0 boot "$OTHER"
	keeper_of "$output"
	local other_keeper=$KEEPER
	run -1 --separate-stderr boot "$OWNER" 0.3
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-restore: the local warm state of $FP/$BASE is busy (lock '$STATE/state.lock')" ]
	kill -KILL "$OTHER"
	wait "$OTHER" 2>/dev/null || true
	OTHER=
	run -0 wait_gone "$other_keeper" 5
	echo "# keeper gone $output ms after its owner was killed" >&3
	[ "$(lock_state "$STATE/state.lock")" = free ]
	run -0 --separate-stderr boot "$OWNER"
	keeper_of "$output"
	[ "$(vm_of "$output")" = "$(expected_vm)" ]
	[ "$(lock_state "$STATE/state.lock")" = held ]
}

@test "boot and restore: a FIFO at state.lock is 1 at once, never a hang" {
	mkdir -p "$STATE"
	mkfifo "$STATE/state.lock"
	run -1 --separate-stderr timeout 20 bds-vm-restore --base "$BASE" --lock-owner "$OWNER" --lock-timeout 0.3 < "$FPJSON"
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-restore: lock '$STATE/state.lock': not a regular file (a FIFO)" ]
	# a warm state whose lock file became a FIFO: the consume's restore
	rm "$STATE/state.lock"
	start_server_booted
	rm "$STATE/state.lock"
	mkfifo "$STATE/state.lock"
	run -1 --separate-stderr timeout 20 bds-vm-restore --lock-owner "$OWNER" --lock-timeout 0.3 < <(snapshot_envelope)
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-restore: lock '$STATE/state.lock': not a regular file (a FIFO)" ]
	[ -p "$STATE/state.lock" ]
}

@test "an owner that does not exist or has exited: exit 1, nothing held" {
	# a process that ended on its own and was reaped (one killed right after the fork may
	# still be a copy of this shell, which would report on the test itself)
	true &
	local gone=$!
	wait "$gone"
	run -1 --separate-stderr boot "$gone"
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-restore: the owner process $gone does not exist" ]
	[ "$(lock_state "$STATE/state.lock")" = free ]
	zombie_start
	zombie_kill
	local mode
	for mode in 0 1; do
		BDS_TEST_NO_PIDFD=$mode run -1 --separate-stderr boot "$ZOWNER"
		[ "$stderr" = "bds-vm-restore: the owner process $ZOWNER has exited" ]
		[ "$(lock_state "$STATE/state.lock")" = free ]
	done
}

@test "a zombie owner (killed, never reaped) ends its keeper: pidfd, and /proc without pidfds" {
	local mode
	for mode in 0 1; do
		zombie_start
		BDS_TEST_NO_PIDFD=$mode run -0 boot "$ZOWNER"
		keeper_of "$output"
		[ "$(lock_state "$STATE/state.lock")" = held ]
		zombie_kill
		[ "$(awk '{ print $3 }' "/proc/$ZOWNER/stat")" = Z ]
		run -0 wait_gone "$KEEPER" 5
		echo "# BDS_TEST_NO_PIDFD=$mode: keeper gone $output ms after its owner became a zombie" >&3
		[ "$(lock_state "$STATE/state.lock")" = free ]
		# still a zombie: nobody reaped it, and yet the lock is free
		[ "$(awk '{ print $3 }' "/proc/$ZOWNER/stat")" = Z ]
		zombie_done
	done
}

@test "restore: cold without its state or server, warm once it runs, cold while busy" {
	run -0 boot
	keeper_of "$output"
	kill -TERM "$KEEPER"
	run -0 wait_gone "$KEEPER" 5
	# booted but never warmed up: no output base at all; the dead state is removed
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	reason="the local warm state of $FP/$BASE is gone (no '$STATE/output_base'); the dead state was removed"
	[ "$(jq -cS . <<<"$output")" = "$(expected_cold "$reason")" ]
	[ "$stderr" = "bds-vm-restore: cold: $reason" ]
	[ ! -e "$STATE" ]
	[ ! -e "$BDS_CACHE/local/$FP" ]
	[ "$(git -C "$WS" worktree list | wc -l)" -eq 1 ]
	# now gone: cold, and nothing is made
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	[ "$stderr" = "bds-vm-restore: cold: the local warm state of $FP/$BASE is gone (no '$STATE/worktree')" ]
	[ ! -e "$STATE" ]
	# the output base is there but its server was shut down: removed too
	start_server_booted
	stop_server
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	reason="the local warm Bazel server of $FP/$BASE is gone (output base '$STATE/output_base'); the dead state was removed"
	[ "$(jq -cS . <<<"$output")" = "$(expected_cold "$reason")" ]
	[ ! -e "$STATE" ]
	# a live server: reattach, and the lock is held for this pipeline
	start_server_booted
	sleep 100000 &
	OTHER=$!
	run -0 --separate-stderr bds-vm-restore --lock-owner "$OTHER" < <(snapshot_envelope)
	[ "$stderr" = "" ]
	keeper_of "$output"
	local other_keeper=$KEEPER
	[ "$(vm_of "$output")" = "$(expected_vm)" ]
	[ "$(jq -cS 'del(.vm)' <<<"$output")" = "$(snapshot_envelope | jq -cS .)" ]
	[ "$(lock_state "$STATE/state.lock")" = held ]
	# held by a live pipeline for longer than the timeout: cold, not a failure
	start=$(date +%s%N)
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" --lock-timeout 0.3 < <(snapshot_envelope)
	elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$elapsed_ms" -ge 300 ]
	reason="the local warm state of $FP/$BASE stayed busy for 0.3s (lock '$STATE/state.lock')"
	[ "$(jq -cS . <<<"$output")" = "$(expected_cold "$reason")" ]
	# that pipeline killed: its keeper lets go, and the next restore (waiting) gets it
	bds-vm-restore --lock-owner "$OWNER" --lock-timeout 10 < <(snapshot_envelope) > "$BATS_TEST_TMPDIR/waited" &
	local waiter=$!
	sleep 0.2
	kill -KILL "$OTHER"
	wait "$OTHER" 2>/dev/null || true
	OTHER=
	wait "$waiter"
	keeper_of "$(cat "$BATS_TEST_TMPDIR/waited")"
	[ "$KEEPER" != "$other_keeper" ]
	run -0 wait_gone "$other_keeper" 5
	[ "$(vm_of "$(cat "$BATS_TEST_TMPDIR/waited")")" = "$(expected_vm)" ]
	[ "$(lock_state "$STATE/state.lock")" = held ]
}

@test "restore: an entry whose files are not all there as recorded is cold, and stays untouched" {
	start_server_booted
	local before reason
	before=$(entry_listing)
	# missing
	mv "$ENTRY/base_hashes.json" "$BATS_TEST_TMPDIR/saved"
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	reason="the entry's file '$ENTRY/base_hashes.json' is missing: No such file or directory"
	[ "$(jq -cS . <<<"$output")" = "$(expected_cold "$reason")" ]
	[ "$stderr" = "bds-vm-restore: cold: $reason" ]
	[ ! -e "$ENTRY/base_hashes.json" ]
	mv "$BATS_TEST_TMPDIR/saved" "$ENTRY/base_hashes.json"
	# another size than recorded
	cp "$ENTRY/metadata.json" "$BATS_TEST_TMPDIR/md"
	jq -c '.files["base_hashes.json"].size += 1' "$BATS_TEST_TMPDIR/md" > "$ENTRY/metadata.json"
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	[ "$stderr" = "bds-vm-restore: cold: the entry's file '$ENTRY/base_hashes.json' has 15 bytes, its metadata says 16" ]
	# not named in the metadata at all
	jq -c '.files = {}' "$BATS_TEST_TMPDIR/md" > "$ENTRY/metadata.json"
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	[ "$stderr" = "bds-vm-restore: cold: the entry '$ENTRY' has no 'base_hashes.json' in its metadata" ]
	# a name that leaves the entry
	jq -c '.files["../ws/BUILD"] = {size: 1, xxh3_128: "0"}' "$BATS_TEST_TMPDIR/md" > "$ENTRY/metadata.json"
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	[ "$stderr" = "bds-vm-restore: cold: the entry '$ENTRY' has a bad metadata record for '../ws/BUILD'" ]
	# a file where a directory is (not a regular file)
	jq -c '.files["sub"] = {size: 4096, xxh3_128: "0"}' "$BATS_TEST_TMPDIR/md" > "$ENTRY/metadata.json"
	mkdir "$ENTRY/sub"
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	[ "$stderr" = "bds-vm-restore: cold: the entry's file '$ENTRY/sub' is not a regular file" ]
	rmdir "$ENTRY/sub"
	# none of them took the lock; whole again, the restore is warm and the entry unchanged
	[ "$(lock_state "$STATE/state.lock")" = free ]
	cp "$BATS_TEST_TMPDIR/md" "$ENTRY/metadata.json"
	run -0 bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	keeper_of "$output"
	kill -TERM "$KEEPER"
	run -0 wait_gone "$KEEPER" 5
	[ "$(entry_listing)" = "$before" ]
}

@test "restore: the workspace re-cloned is still warm (the worktree is a repository of its own); a git worktree (an older bds's) is cold; boot replaces it" {
	start_server_booted
	# a fresh clone at the same path: the warm repository does not depend on the old one
	mv "$WS" "$BATS_TEST_TMPDIR/old-ws"
	git clone -q "$BATS_TEST_TMPDIR/old-ws" "$WS"
	rm -rf "$BATS_TEST_TMPDIR/old-ws"
	[ "$(git -C "$STATE/worktree" rev-parse --path-format=absolute --git-common-dir)" = "$STATE/worktree/.git" ]
	run -0 bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	keeper_of "$output"
	[ "$(vm_of "$output")" = "$(expected_vm)" ]
	kill -TERM "$KEEPER"
	run -0 wait_gone "$KEEPER" 5
	local server
	server=$(cat "$STATE/output_base/server/server.pid.txt")
	# what an older bds made: a `git worktree` of the recording clone
	rm -rf "$STATE/worktree"
	git -C "$WS" worktree add -q --detach "$STATE/worktree" "$BASE"
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	reason="the local warm worktree '$STATE/worktree' of $FP/$BASE is not a git repository of its own (recorded by an older bds?)"
	[ "$(jq -cS . <<<"$output")" = "$(expected_cold "$reason")" ]
	[ "$stderr" = "bds-vm-restore: cold: $reason" ]
	[ "$(lock_state "$STATE/state.lock")" = free ]
	# a record replaces the worktree, and stops the server that served the old one
	run -0 --separate-stderr boot
	keeper_of "$output"
	[ "$(git -C "$STATE/worktree" rev-parse --path-format=absolute --git-common-dir)" = "$STATE/worktree/.git" ]
	[ "$(git -C "$STATE/worktree" rev-parse HEAD)" = "$BASE" ]
	# gone, or a zombie nobody has reaped yet
	run -0 wait_gone "$server" 1
	kill -TERM "$KEEPER"
	run -0 wait_gone "$KEEPER" 5
	start_server
	run -0 bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	keeper_of "$output"
	[ "$(vm_of "$output")" = "$(expected_vm)" ]
}

@test "restore: what a dead pipeline left working in the worktree is stopped under the lock; the server and the rest are spared" {
	start_server_booted
	local server gitdir mode top sub elsewhere
	server=$(cat "$STATE/output_base/server/server.pid.txt")
	gitdir=$(git -C "$STATE/worktree" rev-parse --absolute-git-dir)
	mkdir -p "$STATE/worktree/sub"
	for mode in 0 1; do
		stray "$STATE/worktree"
		top=$STRAY
		stray "$STATE/worktree/sub"
		sub=$STRAY
		stray "$BATS_TEST_TMPDIR"
		elsewhere=$STRAY
		# what a git killed with SIGKILL leaves behind
		: > "$gitdir/index.lock"
		BDS_TEST_NO_PIDFD=$mode run -0 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
		[ "$stderr" = "" ]
		keeper_of "$output"
		[ "$(vm_of "$output")" = "$(expected_vm)" ]
		# gone by the time the restore returns
		run -0 wait_gone "$top" 0
		run -0 wait_gone "$sub" 0
		[ ! -e "$gitdir/index.lock" ]
		kill -0 "$server" "$elsewhere"
		[ "$(cat "$STATE/output_base/server/server.pid.txt")" = "$server" ]
		kill -TERM "$KEEPER"
		run -0 wait_gone "$KEEPER" 5
	done
	# boot (a re-record) too
	stray "$STATE/worktree"
	run -0 boot
	keeper_of "$output"
	run -0 wait_gone "$STRAY" 0
	kill -0 "$server"
}

@test "restore: a warm server that died while the lock was busy is cold, never restarted by the query" {
	start_server_booted
	sleep 100000 3>&- &
	OTHER=$!
	run -0 bds-vm-restore --lock-owner "$OTHER" < <(snapshot_envelope)
	keeper_of "$output"
	bds-vm-restore --lock-owner "$OWNER" --lock-timeout 30 < <(snapshot_envelope) \
		> "$BATS_TEST_TMPDIR/waited" 2> "$BATS_TEST_TMPDIR/waited.err" &
	local waiter=$! rc=0
	# the waiter has seen the server alive and waits for the lock; then the server goes
	sleep 1
	stop_server
	kill -KILL "$OTHER"
	wait "$OTHER" 2>/dev/null || true
	OTHER=
	wait "$waiter" || rc=$?
	[ "$rc" = 2 ]
	reason="the local warm Bazel server of $FP/$BASE is gone (output base '$STATE/output_base'); the dead state was removed"
	[ "$(jq -cS . "$BATS_TEST_TMPDIR/waited")" = "$(expected_cold "$reason")" ]
	[ "$(cat "$BATS_TEST_TMPDIR/waited.err")" = "bds-vm-restore: cold: $reason" ]
	# never restarted: the state, output base included, is gone
	[ ! -e "$STATE" ]
}

@test "a keeper whose owner died stops what the owner left in the worktree before the lock goes; a stopped one leaves it" {
	start_server_booted
	local server
	server=$(cat "$STATE/output_base/server/server.pid.txt")
	sleep 100000 3>&- &
	OTHER=$!
	run -0 bds-vm-restore --lock-owner "$OTHER" < <(snapshot_envelope)
	keeper_of "$output"
	stray "$STATE/worktree"
	kill -KILL "$OTHER"
	wait "$OTHER" 2>/dev/null || true
	OTHER=
	run -0 wait_gone "$KEEPER" 15
	# gone before the keeper was, so before the lock was free
	run -0 wait_gone "$STRAY" 0
	kill -0 "$server"
	# a keeper stopped by its pipeline (SIGTERM) has nothing to clean up there
	run -0 bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	keeper_of "$output"
	stray "$STATE/worktree"
	kill -TERM "$KEEPER"
	run -0 wait_gone "$KEEPER" 5
	kill -0 "$STRAY"
}

@test "bds-guest-exec: a pipeline whose keeper was killed has lost the worktree: cold, and its command never runs" {
	start_server_booted
	local env rc=0
	run -0 bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	keeper_of "$output"
	env=$output
	run -0 --separate-stderr bds-guest-exec -- touch ran <<<"$env"
	[ -e "$STATE/worktree/ran" ]
	# the keeper checked by the command's own process, in the worktree: a keeper killed
	# while a --put is still copying (its source a slow pipe) stops the command
	bds-guest-exec --put <(sleep 1; echo x):put.txt -- touch ran2 <<<"$env" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" &
	local slow=$!
	sleep 0.3
	kill -KILL "$KEEPER"
	run -0 wait_gone "$KEEPER" 5
	wait "$slow" || rc=$?
	reason="the warm state's lock '$STATE/state.lock' is no longer held for this pipeline (its keeper, pid $KEEPER, is gone): another pipeline may be using the worktree"
	[ "$rc" = 2 ]
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-guest-exec: cold: $reason" ]
	[ "$(jq -cS . "$BATS_TEST_TMPDIR/out")" = "$(jq -cS --arg r "$reason" '. + {cold: {stage: "bds-guest-exec", reason: $r}}' <<<"$env")" ]
	[ "$(cat "$STATE/worktree/put.txt")" = x ]
	[ ! -e "$STATE/worktree/ran2" ]
	# checked before anything is copied, too; and another pipeline holding the lock now
	# does not make it this one's
	run -0 bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	keeper_of "$output"
	run -2 --separate-stderr bds-guest-exec --put <(echo y):put2.txt -- touch ran3 <<<"$env"
	[ "$stderr" = "bds-guest-exec: cold: $reason" ]
	[ ! -e "$STATE/worktree/put2.txt" ]
	[ ! -e "$STATE/worktree/ran3" ]
	# a vm with one of keeper_pid and lock but not the other, or a keeper_pid that is no pid
	run -1 --separate-stderr bds-guest-exec -- true <<<"$(jq -c 'del(.vm.lock)' <<<"$env")"
	[ "$stderr" = "bds-guest-exec: envelope 'vm' has 'keeper_pid' without 'lock'" ]
	run -1 --separate-stderr bds-guest-exec -- true <<<"$(jq -c 'del(.vm.keeper_pid)' <<<"$env")"
	[ "$stderr" = "bds-guest-exec: envelope 'vm' has 'lock' without 'keeper_pid'" ]
	run -1 --separate-stderr bds-guest-exec -- true <<<"$(jq -c '.vm.keeper_pid = 1.5' <<<"$env")"
	[ "$stderr" = "bds-guest-exec: envelope 'vm.keeper_pid' is not a pid: 1.5" ]
	run -1 --separate-stderr bds-guest-exec -- true <<<"$(jq -c '.vm.keeper_pid = "7"' <<<"$env")"
	[ "$stderr" = "bds-guest-exec: envelope 'vm': key 'keeper_pid': expected number, found string" ]
}

@test "restore: a snapshot that is not a local-driver entry exits 1" {
	run -1 --separate-stderr bds-vm-restore < <(jq -c '. + {snapshot: {base: "x"}}' "$FPJSON")
	[ "$output" = "" ]
	[ "$stderr" = "bds-vm-restore: envelope: needs snapshot.base, snapshot.fingerprint and snapshot.metadata.driver_state.state_dir (a local-driver entry)" ]
}

@test "snapshot: the staged entry holds exactly base_hashes.json and the live server" {
	boot > "$BATS_TEST_TMPDIR/vm.json"
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

@test "restore: a dead state is removed only where this host's cache keeps it, never a directory an entry names elsewhere" {
	local elsewhere="$BATS_TEST_TMPDIR/elsewhere"
	mkdir -p "$elsewhere/worktree"
	printf 'keep\n' > "$elsewhere/precious"
	STATE=$elsewhere make_entry
	run -2 --separate-stderr bds-vm-restore --lock-owner "$OWNER" < <(snapshot_envelope)
	[ "$stderr" = "bds-vm-restore: cold: the local warm state of $FP/$BASE is gone (no '$elsewhere/output_base')" ]
	[ "$(cat "$elsewhere/precious")" = keep ]
	[ -d "$elsewhere/worktree" ]
}

@test "without BDS_CACHE or HOME a restore fails (1) and leaves nothing in a shared /tmp cache" {
	run -1 --separate-stderr env -u BDS_CACHE -u HOME TMPDIR="$BATS_TEST_TMPDIR" \
		"$(command -v bds-vm-restore)" --base "$BASE" --lock-owner "$OWNER" < "$FPJSON"
	[ "$stderr" = "bds-vm-restore: no cache directory: set BDS_CACHE or HOME" ]
	[ "$output" = "" ]
	[ ! -e "$BDS_CACHE" ]
}

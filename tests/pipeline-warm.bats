# The local driver's warm-state retention, end to end with real Bazel servers: a record
# keeps at most --keep-warm K warm states per fingerprint and BDS_MAX_WARM on the host,
# never retires a busy one, and removes dead ones; consumes stay exact (or cold).

load helpers
load warm-helpers

setup_file() {
	warm_setup
	# four merges, each recorded with --keep-warm 2
	for i in 1 2 3 4; do
		TIP=$(next_base "$i") || return 1
		export "B$i=$TIP"
		bds-record -w "$WS" --base "$TIP" --store "$STORE" --keep-warm 2 2> "$BATS_FILE_TMPDIR/record$i.err" ||
			{ cat "$BATS_FILE_TMPDIR/record$i.err" >&2; return 1; }
	done
	FP=$(cd "$BDS_CACHE/local" && echo *)
	export FP TIP
}

setup() {
	warm_path
}

teardown_file() {
	shutdown_all
}

# same_as_cold BASE TARGET [consume options]: bds-consume's answer is byte-identical to
# bds-cold's and not empty. Call it directly, never under `run`.
same_as_cold() {
	local base=$1 target=$2
	shift 2
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" "$@"
	local warm=$output
	run -0 --separate-stderr bds-cold -w "$WS" --base "$base" --target "$target"
	[ -n "$output" ]
	[ "$warm" = "$output" ]
}

# hold_lock STATE: a process that holds the lock of a warm state (as a consume would)
# until killed; its pid in $holder.
hold_lock() {
	local ready="$BATS_TEST_TMPDIR/held"
	# the lock is the open file's: flock(1) takes it on fd 9, which only sleep keeps open
	(exec 9< "$BDS_CACHE/local/$1/state.lock" && flock -n 9 && echo > "$ready" && exec sleep 600) 3>&- &
	holder=$!
	local i=0
	while [ ! -e "$ready" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$ready" ]
}

# kill_server STATE: kills the warm state's Bazel server (as the OOM killer would).
kill_server() {
	local pid
	pid=$(cat "$BDS_CACHE/local/$1/output_base/server/server.pid.txt")
	kill -KILL "$pid"
	local i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	! kill -0 "$pid" 2>/dev/null
}

@test "--keep-warm 2: four records leave exactly the two newest warm (servers, state dirs, worktrees)" {
	[ "$(states)" = "$(printf '%s\n' "$FP/$B3" "$FP/$B4" | sort)" ]
	[ "$(live_servers)" = "$(printf '%s\n' "$BDS_CACHE/local/$FP/$B3/output_base" "$BDS_CACHE/local/$FP/$B4/output_base" | sort)" ]
	# one server each, not two for one output base
	[ "$(server_processes | wc -l)" -eq 2 ]
	grep -qx "bds-vm-restore: retired the warm state $FP/$B1 (beyond --keep-warm 2)" "$BATS_FILE_TMPDIR/record3.err"
	grep -qx "bds-vm-restore: retired the warm state $FP/$B2 (beyond --keep-warm 2)" "$BATS_FILE_TMPDIR/record4.err"
	run -1 grep -c 'retired' "$BATS_FILE_TMPDIR/record2.err"
	# the kept states' worktrees are repositories of their own: the workspace's repository
	# knows no worktree but itself
	run -0 git -C "$WS" worktree list --porcelain
	[ "$(grep -c '^worktree ' <<<"$output")" -eq 1 ]
	[ "$(git -C "$BDS_CACHE/local/$FP/$B4/worktree" rev-parse --git-dir)" = .git ]
	# the record time orders them, not the directories' times
	[ -f "$BDS_CACHE/local/$FP/$B4/recorded" ]
}

@test "consume of a retired base is cold (2), and with --cold exact" {
	t=$(pr_of "$B1")
	run -2 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE"
	[[ "$stderr" == *"the local warm state of $FP/$B1 is gone"* ]]
	same_as_cold "$B1" "$t" --cold
	[[ "$output" == *"//lib:c"* ]]
}

@test "consume of a kept base is warm and equals bds-cold" {
	t=$(pr_of "$B4")
	same_as_cold "$B4" "$t"
	[[ "$output" == *"//lib:c"* ]]
	# the consume used a kept server; it started none of its own
	[ "$(states)" = "$(printf '%s\n' "$FP/$B3" "$FP/$B4" | sort)" ]
	[ "$(live_servers | wc -l)" -eq 2 ]
}

@test "a busy state is not retired (said so), and goes at the next record once free" {
	hold_lock "$FP/$B3"
	TIP=$(next_base 5)
	B5=$TIP
	run -0 --separate-stderr bds-record -w "$WS" --base "$B5" --store "$STORE" --keep-warm 2
	kill "$holder"
	wait "$holder" || true
	grep -qx "bds-vm-restore: kept the warm state $FP/$B3 beyond --keep-warm 2: busy (a pipeline holds its lock)" <<<"$stderr"
	[ "$(states)" = "$(printf '%s\n' "$FP/$B3" "$FP/$B4" "$FP/$B5" | sort)" ]
	[ "$(live_servers | wc -l)" -eq 3 ]
	TIP=$(next_base 6)
	B6=$TIP
	run -0 --separate-stderr bds-record -w "$WS" --base "$B6" --store "$STORE" --keep-warm 2
	grep -qx "bds-vm-restore: retired the warm state $FP/$B3 (beyond --keep-warm 2)" <<<"$stderr"
	grep -qx "bds-vm-restore: retired the warm state $FP/$B4 (beyond --keep-warm 2)" <<<"$stderr"
	[ "$(states)" = "$(printf '%s\n' "$FP/$B5" "$FP/$B6" | sort)" ]
	[ "$(live_servers)" = "$(printf '%s\n' "$BDS_CACHE/local/$FP/$B5/output_base" "$BDS_CACHE/local/$FP/$B6/output_base" | sort)" ]
	printf '%s\n' "$B5" > "$BATS_FILE_TMPDIR/b5"
	printf '%s\n' "$B6" > "$BATS_FILE_TMPDIR/b6"
}

@test "BDS_MAX_WARM caps the warm servers of all fingerprints together, oldest first" {
	B5=$(cat "$BATS_FILE_TMPDIR/b5") B6=$(cat "$BATS_FILE_TMPDIR/b6")
	# another fingerprint (other hash options) of the same base
	BDS_MAX_WARM=2 run -0 --separate-stderr bds-record -w "$WS" --base "$B6" --store "$STORE" --keep-warm 2 \
		--include-target-type
	fp2=$(cd "$BDS_CACHE/local" && ls | grep -vx "$FP")
	[ -n "$fp2" ]
	grep -qx "bds-vm-restore: retired the warm state $FP/$B5 (beyond BDS_MAX_WARM 2)" <<<"$stderr"
	[ "$(states)" = "$(printf '%s\n' "$FP/$B6" "$fp2/$B6" | sort)" ]
	[ "$(live_servers)" = "$(printf '%s\n' "$BDS_CACHE/local/$FP/$B6/output_base" "$BDS_CACHE/local/$fp2/$B6/output_base" | sort)" ]
	printf '%s\n' "$fp2" > "$BATS_FILE_TMPDIR/fp2"
}

@test "a state whose server died is removed: by the consume that finds it (cold), and by a record" {
	B6=$(cat "$BATS_FILE_TMPDIR/b6") fp2=$(cat "$BATS_FILE_TMPDIR/fp2")
	kill_server "$FP/$B6"
	t=$(pr_of "$B6")
	run -2 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE"
	[[ "$stderr" == *"the local warm Bazel server of $FP/$B6 is gone"*"; the dead state was removed"* ]]
	[ ! -e "$BDS_CACHE/local/$FP/$B6" ]
	# a killed server, and a directory half there (a record killed before it was warm)
	kill_server "$fp2/$B6"
	mkdir -p "$BDS_CACHE/local/$FP/$B2/worktree"
	run -0 --separate-stderr bds-record -w "$WS" --base "$B6" --store "$STORE"
	grep -qx "bds-vm-restore: removed the dead warm state $fp2/$B6 (its server or its files are gone)" <<<"$stderr"
	grep -qx "bds-vm-restore: removed the dead warm state $FP/$B2 (its server or its files are gone)" <<<"$stderr"
	[ "$(states)" = "$FP/$B6" ]
	[ "$(ls "$BDS_CACHE/local")" = "$FP" ]
	[ "$(live_servers)" = "$BDS_CACHE/local/$FP/$B6/output_base" ]
	# warm again, and exact
	same_as_cold "$B6" "$t"
}

@test "--keep-warm and BDS_MAX_WARM: bad values are refused before anything starts" {
	for k in 0 01 -1 x '' 1001 99999; do
		run -64 --separate-stderr bds-record -w "$WS" --base "$TIP" --store "$STORE" --keep-warm "$k"
		[ "${stderr%%$'\n'*}" = "bds-record: --keep-warm takes a whole number from 1 to 1000, not '$k'" ]
	done
	run -64 --separate-stderr bds-record -w "$WS" --base "$TIP" --store "$STORE" --driver qemu --keep-warm 2
	[ "${stderr%%$'\n'*}" = "bds-record: --keep-warm is for the local driver only (the qemu driver keeps no warm server on this host)" ]
	run -64 --separate-stderr bds-record -w "$WS" --base "$TIP" --store "$STORE" --fresh-boot
	[ "${stderr%%$'\n'*}" = "bds-record: --fresh-boot is for the qemu driver only (the local driver never starts from an earlier entry's machine)" ]
	run -64 --separate-stderr bds-vm-restore --keep-warm 0 <<<'{}'
	[ "${stderr%%$'\n'*}" = "bds-vm-restore: --keep-warm takes a whole number from 1 to 1000" ]
	run -64 --separate-stderr bds-vm-restore --driver qemu --base "$TIP" --keep-warm 2 <<<'{}'
	[ "$stderr" = "bds-vm-restore: --keep-warm is for the local driver only (the qemu driver keeps no warm server on this host)" ]
	before=$(states)
	BDS_MAX_WARM=0 run -1 --separate-stderr bds-record -w "$WS" --base "$TIP" --store "$STORE"
	[[ "$stderr" == *"bds-vm-restore: BDS_MAX_WARM '0': not a whole number from 1 to 100000"* ]]
	[ "$(states)" = "$before" ]
}

@test "no Bazel server of this file is left once its states are shut down" {
	shutdown_all
	[ "$(live_servers)" = "" ]
	# nor a cold path's own server (bds-cold shuts it down), nor anything else of the file
	[ "$(server_processes "$BATS_FILE_TMPDIR")" = "" ]
}

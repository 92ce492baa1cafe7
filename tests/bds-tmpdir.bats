# bds-tmpdir: an owned temporary directory for a script, removed when its owner dies, and
# what dead owners left swept; the owners are real processes killed by the tests.

load helpers
load owner-helpers

setup() {
	export TMPDIR="$BATS_TEST_TMPDIR/tmp"
	mkdir -p "$TMPDIR"
	OWNERS=""
}

teardown() {
	local pid
	for pid in $OWNERS; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	zombie_done
}

# new_owner: a live process to own directories (its pid in $OWNER).
new_owner() {
	sleep 1000 3>&- &
	OWNER=$!
	OWNERS="$OWNERS $OWNER"
}

# keeper_of DIR: the pid of the bds-tmpdir keeper holding DIR/.lock ("" if none).
keeper_of() {
	local p fd
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = bds-tmpdir ] || continue
		for fd in "$p"/fd/*; do
			if [ "$(readlink "$fd" 2>/dev/null)" = "$1/.lock" ]; then
				echo "${p#/proc/}"
				return
			fi
		done
	done
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

# freed PATH: the flock of PATH is free within 10 s (0), or still held (1). A dead
# process's locks go as it exits, even while it waits as a zombie for its reaper.
freed() {
	local _
	for _ in $(seq 100); do
		flock -n -E 3 "$1" true && return 0
		sleep 0.1
	done
	return 1
}

@test "usage errors exit 64; --help exits 0" {
	run -64 --separate-stderr bds-tmpdir x
	[ "$stderr" = "bds-tmpdir: missing --owner PID (the script's \$\$)
usage: bds-tmpdir --owner PID PREFIX
       prints a new directory \${TMPDIR:-/tmp}/PREFIX.XXXXXX, removed when PID dies" ]
	run -64 --separate-stderr bds-tmpdir --owner $$
	[ "${stderr_lines[0]}" = "bds-tmpdir: missing PREFIX" ]
	run -64 --separate-stderr bds-tmpdir --owner $$ a b
	[ "${stderr_lines[0]}" = "bds-tmpdir: unexpected argument" ]
	# 4294967297 once wrapped to pid 1 (kept for ever); pid 1 itself never ends
	for bad in x "" 0 1 -5 " +1234" +1234 1234x 1e3 0x10 4194305 4294967297 99999999999999999999; do
		run -64 --separate-stderr bds-tmpdir --owner "$bad" p
		[ "${stderr_lines[0]}" = "bds-tmpdir: --owner takes a process id (2 to 4194304)" ] || { echo "'$bad'"; false; }
	done
	for bad in a/b .hidden '' "$(printf 'a%.0s' $(seq 65))" 'sp ace'; do
		run -64 --separate-stderr bds-tmpdir --owner $$ "$bad"
		[ "${stderr_lines[0]}" = "bds-tmpdir: PREFIX takes letters, digits, '.', '_' and '-' (at most 64, not starting with '.')" ]
	done
	run -64 --separate-stderr bds-tmpdir --bogus
	[ "${stderr_lines[0]}" = "bds-tmpdir: unknown option '--bogus'" ]
	[ "$(ls -A "$TMPDIR")" = "" ]
	run -0 --separate-stderr bds-tmpdir --help
	[ "${lines[0]}" = "usage: bds-tmpdir --owner PID PREFIX" ]
	[ "$stderr" = "" ]
}

@test "a relative or missing TMPDIR, or an owner that is gone, is 1 and leaves nothing" {
	new_owner
	TMPDIR=rel/tmp run -1 --separate-stderr bds-tmpdir --owner "$OWNER" p
	[ "$output" = "" ]
	[ "$stderr" = "bds-tmpdir: TMPDIR 'rel/tmp': not an absolute path" ]
	TMPDIR="$BATS_TEST_TMPDIR/none" run -1 --separate-stderr bds-tmpdir --owner "$OWNER" p
	[ "$output" = "" ]
	[ "$stderr" = "bds-tmpdir: create a directory '$BATS_TEST_TMPDIR/none/p.XXXXXX': No such file or directory" ]
	kill -KILL "$OWNER"
	wait "$OWNER" || true
	run -1 --separate-stderr bds-tmpdir --owner "$OWNER" p
	[ "$output" = "" ]
	[ "$stderr" = "bds-tmpdir: the owner process $OWNER does not exist" ]
	[ "$(ls -A "$TMPDIR")" = "" ]
}

@test "prints a new owned directory at once, its lock held by a keeper after it exits" {
	new_owner
	# a command substitution returns only when every writer of its pipe is gone: the pipe
	# must reach its end at once, not when the keeper ends (read: 1 at the end, >128 at
	# the 10 s deadline)
	exec {fd}< <(bds-tmpdir --owner "$OWNER" bds-consume)
	read -t 10 -r dir <&"$fd"
	rc=0
	read -t 10 -r extra <&"$fd" || rc=$?
	exec {fd}<&-
	[ "$rc" = 1 ]
	[[ "$dir" == "$TMPDIR/bds-consume."?????? ]]
	[ "$(stat -c '%F %a' "$dir")" = "directory 700" ]
	[ "$(ls -A "$dir" | tr '\n' ' ')" = ".lock .owner " ]
	# the owner record: pid, start time and boot, against a reused pid
	[ "$(cat "$dir/.owner")" = "$OWNER $(awk '{ print $22 }' "/proc/$OWNER/stat") $(cat /proc/sys/kernel/random/boot_id)" ]
	run -3 flock -n -E 3 "$dir/.lock" true
	keeper=$(keeper_of "$dir")
	[ -n "$keeper" ]
	# every call makes another one
	dir2=$(bds-tmpdir --owner "$OWNER" bds-consume)
	[ "$dir2" != "$dir" ]
	[ -d "$dir" ]
	[ -d "$dir2" ]
}

@test "the keeper is the caller's in nothing: no blocked signal, no ignored one, not its directory nor its descriptors" {
	new_owner
	exec {fd}> "$BATS_TEST_TMPDIR/callers-file"
	# a caller with SIGTERM, SIGINT and SIGHUP blocked and SIGUSR1 ignored
	dir=$(cd "$BATS_TEST_TMPDIR" && "$BDS_TOP/tests/fixtures/blocked-signals" bds-tmpdir --owner "$OWNER" p)
	exec {fd}>&-
	keeper=$(keeper_of "$dir")
	[ -n "$keeper" ]
	[ "$(sed -n 's/^SigBlk:\t//p' "/proc/$keeper/status")" = 0000000000000000 ]
	# SIGPIPE only (bit 13): a start report nobody reads must fail, not kill it
	# (signals 32 and 33 are the C library's own, which it lets nobody set: make, for
	# one, leaves them ignored)
	[ "$(printf '%016x' $((0x$(sed -n 's/^SigIgn:\t//p' "/proc/$keeper/status") & ~0x180000000)))" = 0000000000001000 ]
	[ "$(readlink "/proc/$keeper/cwd")" = / ]
	run -0 find "/proc/$keeper/fd" -mindepth 1 -printf '%l\n'
	[ "$(sort <<<"$output")" = "$(printf '%s\n' /dev/null /dev/null /dev/null "$dir/.lock" 'anon_inode:[pidfd]' | sort)" ]
	# so SIGTERM stops it at once
	kill -TERM "$keeper"
	gone "$dir"
}

@test "a SIGKILLed owner's directory is removed by its keeper" {
	new_owner
	dir=$(bds-tmpdir --owner "$OWNER" p)
	echo data > "$dir/file"
	mkdir -p "$dir/sub/deeper"
	chmod 500 "$dir/sub"
	kill -KILL "$OWNER"
	gone "$dir"
}

@test "SIGTERM to the keeper removes the directory" {
	new_owner
	dir=$(bds-tmpdir --owner "$OWNER" p)
	keeper=$(keeper_of "$dir")
	kill -TERM "$keeper"
	gone "$dir"
	kill -0 "$OWNER"
}

@test "a dead keeper's directory is kept while its owner lives, swept by the next call once it is dead; other prefixes are not" {
	new_owner
	local owner=$OWNER
	dir=$(bds-tmpdir --owner "$owner" p)
	other=$(bds-tmpdir --owner "$owner" q)
	echo data > "$dir/file"
	# SIGKILL: the keeper cannot clean up, but the kernel releases its lock
	kill -KILL "$(keeper_of "$dir")" "$(keeper_of "$other")"
	freed "$dir/.lock"
	freed "$other/.lock"
	[ -d "$dir" ]
	[ -d "$other" ]
	# its owner lives (a bds-cold mid-query: its worktree and output base are there)
	new_owner
	new=$(bds-tmpdir --owner "$OWNER" p)
	[ "$(cat "$dir/file")" = data ]
	# its owner dead too: swept by the next call
	kill -KILL "$owner"
	wait "$owner" || true
	new2=$(bds-tmpdir --owner "$OWNER" p)
	[ ! -e "$dir" ]
	[ -d "$other" ]
	[ "$(ls -A "$TMPDIR" | sort)" = "$(printf '%s\n' "${new##*/}" "${new2##*/}" "${other##*/}" | sort)" ]
}

@test "an owner record spares a directory only while the very process it names lives" {
	new_owner
	local start boot d
	start=$(awk '{ print $22 }' "/proc/$OWNER/stat")
	boot=$(cat /proc/sys/kernel/random/boot_id)
	# directories whose lock is free (a killed keeper), each with another record
	for d in live reused other-boot garbage trailing fifo none zombie; do
		mkdir "$TMPDIR/p.$d"
		: > "$TMPDIR/p.$d/.lock"
	done
	echo "$OWNER $start $boot" > "$TMPDIR/p.live/.owner"
	echo "$OWNER $((start + 1)) $boot" > "$TMPDIR/p.reused/.owner"
	echo "$OWNER $start 00000000-0000-0000-0000-000000000000" > "$TMPDIR/p.other-boot/.owner"
	echo "x" > "$TMPDIR/p.garbage/.owner"
	echo "$OWNER $start $boot x" > "$TMPDIR/p.trailing/.owner"
	mkfifo "$TMPDIR/p.fifo/.owner"
	zombie_start
	echo "$ZOWNER $(awk '{ print $22 }' "/proc/$ZOWNER/stat") $boot" > "$TMPDIR/p.zombie/.owner"
	zombie_kill
	# one without a lock file, older than a day, named by a live owner: spared as well
	mkdir "$TMPDIR/p.unlocked"
	echo "$OWNER $start $boot" > "$TMPDIR/p.unlocked/.owner"
	touch -d '2 days ago' "$TMPDIR/p.unlocked"
	run -0 timeout 20 bds-tmpdir --owner "$OWNER" p
	zombie_done
	[ "$(ls -A "$TMPDIR" | tr '\n' ' ')" = "$(printf '%s\n' p.live p.unlocked "${output##*/}" | sort | tr '\n' ' ')" ]
}

@test "a live owner's directory is never swept, however old" {
	new_owner
	dir=$(bds-tmpdir --owner "$OWNER" p)
	touch -d '3 days ago' "$dir" "$dir/.lock"
	new=$(bds-tmpdir --owner "$OWNER" p)
	[ -d "$dir" ]
	[ -d "$new" ]
	run -3 flock -n -E 3 "$dir/.lock" true
}

@test "files, FIFOs, links and unlocked directories named like one are left alone (unlocked: a day)" {
	new_owner
	mkfifo "$TMPDIR/p.fifo"
	echo x > "$TMPDIR/p.file"
	mkdir "$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" "$TMPDIR/p.link"
	mkdir "$TMPDIR/p.fifolock" "$TMPDIR/p.fresh" "$TMPDIR/p.stale"
	mkfifo "$TMPDIR/p.fifolock/.lock"
	touch -d '2 days ago' "$TMPDIR/p.fifolock" "$TMPDIR/p.stale" "$TMPDIR/p.file"
	run -0 timeout 20 bds-tmpdir --owner "$OWNER" p
	new=${output##*/}
	[ "$(ls -A "$TMPDIR" | tr '\n' ' ')" = "$(printf '%s\n' p.fifo p.fifolock p.file p.fresh p.link "$new" | sort | tr '\n' ' ')" ]
	[ -d "$BATS_TEST_TMPDIR/target" ]
}

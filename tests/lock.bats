# lib/lock.c under stress (tests/unit/lock-stress.c): a holder killed with SIGKILL, then
# contenders all at once, 200 rounds, never two holders; and the same test catching three
# broken locks, built here: one that skips the re-check of the locked file, one that skips
# the lock itself, and the mkdir/owner-pid lock bds had before (tests/fixtures/lock-mkdir-owner.c).

load helpers

# build_variant NAME SOURCES...: the stress test linked with SOURCES instead of lib/lock.c
# (util.c opens files through fs.c)
build_variant() {
	local out=$BATS_TEST_TMPDIR/$1
	shift
	"${CC:-cc}" -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -I"$BDS_TOP/lib" -o "$out" \
		"$BDS_TOP/tests/unit/lock-stress.c" "$@" "$BDS_TOP/lib/util.c" "$BDS_TOP/lib/proc.c" "$BDS_TOP/lib/fs.c"
}

# numbers LINE: "rounds contenders acquisitions double-holders rounds-failed" of a result line
numbers() {
	sed -E 's/^lock-stress: ([0-9]+) rounds, ([0-9]+) contenders, ([0-9]+) acquisitions, ([0-9]+) double holders, [0-9]+ lock files removed by their holder, ([0-9]+) rounds failed, [0-9.]+ s$/\1 \2 \3 \4 \5/' <<<"$1"
}

@test "a killed holder, then 8 contenders at once, 200 rounds: never two holders" {
	run -0 --separate-stderr "$BDS_BUILD/tests/lock-stress" --rounds 200 --contenders 8
	echo "# $output" >&3
	[ "$stderr" = "" ]
	[ "$(numbers "$output")" = "200 8 1600 0 0" ]
}

@test "usage: exit 64" {
	run -64 --separate-stderr "$BDS_BUILD/tests/lock-stress" --contenders 65
	[ "$stderr" = "usage: lock-stress [--rounds N] [--contenders N (at most 64)]" ]
	run -64 "$BDS_BUILD/tests/lock-stress" --rounds
	run -64 "$BDS_BUILD/tests/lock-stress" --bogus 1
}

@test "the stress test catches a lock that skips the re-check of the locked file" {
	build_variant no-recheck -DBDS_LOCK_MUTANT=1 "$BDS_TOP/lib/lock.c"
	run -1 "$BATS_TEST_TMPDIR/no-recheck"
	echo "# ${lines[-1]}" >&3
	read -r rounds contenders _ doubles _ <<<"$(numbers "${lines[-1]}")"
	[ "$rounds $contenders" = "200 8" ]
	[ "$doubles" -gt 0 ]
}

@test "the stress test catches a lock that skips the lock" {
	build_variant no-flock -DBDS_LOCK_MUTANT=2 "$BDS_TOP/lib/lock.c"
	run -1 "$BATS_TEST_TMPDIR/no-flock"
	echo "# ${lines[-1]}" >&3
	read -r _ _ _ doubles _ <<<"$(numbers "${lines[-1]}")"
	[ "$doubles" -gt 0 ]
}

@test "the stress test catches the old mkdir/owner-pid lock" {
	build_variant mkdir-owner "$BDS_TOP/tests/fixtures/lock-mkdir-owner.c"
	run -1 "$BATS_TEST_TMPDIR/mkdir-owner"
	echo "# ${lines[-1]}" >&3
	read -r _ _ _ doubles _ <<<"$(numbers "${lines[-1]}")"
	[ "$doubles" -gt 0 ]
}

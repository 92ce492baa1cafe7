# lib/lock.c under stress (tests/unit/lock-stress.c): a holder killed with SIGKILL, then
# contenders all at once, 200 rounds, never two holders; and the same test catching three
# broken locks, built here: one that skips the re-check of the locked file, one that skips
# the lock itself (lib/lock.c with tests/fixtures/lock-mutants/*.patch applied to a copy),
# and the mkdir/owner-pid lock bds had before (tests/fixtures/lock-mkdir-owner.c).

load helpers

# build_variant NAME SOURCES...: the stress test linked with SOURCES instead of lib/lock.c
# (util.c opens files through fs.c)
build_variant() {
	local out=$BATS_TEST_TMPDIR/$1
	shift
	"${CC:-cc}" -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -I"$BDS_TOP/lib" -o "$out" \
		"$BDS_TOP/tests/unit/lock-stress.c" "$@" "$BDS_TOP/lib/util.c" "$BDS_TOP/lib/proc.c" "$BDS_TOP/lib/fs.c"
}

# mutant_lock NAME: a copy of lib/lock.c with tests/fixtures/lock-mutants/NAME.patch
# applied; prints its path. The patch must apply: a lock.c it no longer fits fails here.
mutant_lock() {
	local dir=$BATS_TEST_TMPDIR/mutant-$1
	mkdir -p "$dir/lib"
	cp "$BDS_TOP/lib/lock.c" "$dir/lib/lock.c"
	patch -s -d "$dir" -p1 < "$BDS_TOP/tests/fixtures/lock-mutants/$1.patch" >&2 || return 1
	echo "$dir/lib/lock.c"
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
	local src
	src=$(mutant_lock no-recheck)
	build_variant no-recheck "$src"
	run -1 "$BATS_TEST_TMPDIR/no-recheck"
	echo "# ${lines[-1]}" >&3
	read -r rounds contenders _ doubles _ <<<"$(numbers "${lines[-1]}")"
	[ "$rounds $contenders" = "200 8" ]
	[ "$doubles" -gt 0 ]
}

@test "the stress test catches a lock that skips the lock" {
	local src
	src=$(mutant_lock no-flock)
	build_variant no-flock "$src"
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

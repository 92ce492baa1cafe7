# Runs the C unit tests (tests/unit/*.c): golden vectors (docs/algorithm.md 2.10) and helpers.

load helpers

@test "unit-golden: bazel-diff golden vectors and label helpers" {
	run -0 "$BDS_BUILD/tests/unit-golden"
	[ "${lines[${#lines[@]}-1]}" = "0 failed" ]
	[[ "$output" == *"ok rule3b-overall 2c424742eaeedfecd438042735f97922e87d73aaabfa28bb2e7a97665f3cb4df"* ]]
}

@test "transport-test: the local transport puts, runs, gets back, fails and goes cold as it should" {
	run -0 "$BDS_BUILD/tests/transport-test" "$BATS_TEST_TMPDIR"
	[ "$output" = "upcase: opened local
upcase: ok, exit status 0
wt/copy.txt: hello
wt/copy.txt mode: 640
back.txt: HELLO
stdout.txt: out
stderr.txt: err
failing: opened local
failing: ok, exit status 3
half-back.txt: (absent)
stdout-fail.txt: (absent)
missing put: opened local
fail: put 'missing.txt': read 'missing.txt': No such file or directory
wt/ran.txt: (absent)
missing get: opened local
fail: get 'none.txt': read '\$T/wt/none.txt': No such file or directory
cold: the warm state's lock '/nonexistent/state.lock' is no longer held for this pipeline (its keeper, pid PID, is gone): another pipeline may be using the worktree
wt/ran.txt: (absent)" ]
}

@test "fs-test: sparse copy, directory swap, mkdir -p" {
	run -0 "$BDS_BUILD/tests/fs-test" "$BATS_TEST_TMPDIR"
	[ "$output" = "$(cat <<'OUT'
ok copy_sparse returns 0
ok copy_sparse keeps the size
ok copy_sparse keeps the bytes
ok copy_sparse keeps the holes
ok copy_sparse makes holes of zero blocks
ok copy_sparse gives the source's mode less the umask
ok copy_sparse over an existing file
ok copy_sparse past its deadline fails
copy_sparse past its deadline: copy 'T/sparse' to 'T/copy': timed out
ok copy_sparse that fails leaves no half-written target
ok copy_sparse onto its source is refused
copy_sparse onto its source: copy 'T/sparse' to 'T/hardlink': they are the same file
ok copy_sparse onto its source keeps it
ok copy_sparse of a missing source fails
copy_sparse of a missing source: open 'T/missing': No such file or directory
ok copy_sparse into a missing directory fails
copy_sparse into a missing directory: create 'T/no/such/dir': No such file or directory
ok replace_dir onto nothing
ok replace_dir replaces
ok replace_dir leaves no old directory
ok replace_dir of a missing directory fails
replace_dir of a missing directory: rename 'T/tmp' to 'T/final': No such file or directory
ok rename_away takes it to a hidden sibling
ok rename_away of a missing directory is 1
ok rename_away leaves no old directory
ok mkdirs makes the parents
ok mkdirs of an existing directory
ok mkdirs under a file fails
mkdirs under a file: create 'T/file': exists and is not a directory
0 failed
OUT
)" ]
}

@test "unit-golden: one hex check for bds's names (lowercase) and a pasted digest (any case)" {
	run -0 "$BDS_BUILD/tests/unit-golden"
	hex=$(printf '%s\n' "${lines[@]}" | grep '^[a-zA-Z]* hex ')
	[ "$hex" = "ok hex 32 lowercase 1
ok hex upper case refused 0
ok hex upper case any case 1
ok hex one short 0
ok hex one long 0
ok hex g 0
ok hex G any case 0
ok hex NULL 0
ok hex empty 1" ]
}

@test "exec-test: captured output, its limits, and the deadline kills the command's process group" {
	run -0 "$BDS_BUILD/tests/exec-test" "$BATS_TEST_TMPDIR"
	[ "$output" = "ok a failing status is an answer: status 3 out 'out
' err 'err
' (4 bytes)
ok stderr dropped: status 0 out 'out
' err '' (0 bytes)
ok stderr merged: status 0 out 'err
' err '' (0 bytes)
ok stdout exactly at the limit: status 0 out '12345' err '' (0 bytes)
ok stdout over the limit: -1 command 'sh' failed: output larger than 5 bytes (killed)
ok only the start of stderr kept: status 0 out 'done
' err 'xxxxxxxxxxxxxxxx' (1023 bytes)
ok killed by a signal: -1 command 'sh' failed: killed by signal SIGTERM
ok a command that cannot run: run '/nonexistent/bds-no-such-command': No such file or directory
ok deadline: -1 command 'sh' failed: timed out after 0.5 s (killed)
ok the command's child is killed at the deadline too: its background sleep is gone
ok TERM ends a program that runs a command as TERM would: killed by SIGTERM
ok and its command's group goes with it: its background sleep is gone
0 failed" ]
}

# lib/cli: what every program's main() shares, each with its exact words.

@test "cli-test: an empty environment variable is not set" {
	run -0 env BDS_X= "$BDS_BUILD/tests/cli-test" env BDS_X fallback
	[ "$output" = "fallback" ]
	run -0 env BDS_X=value "$BDS_BUILD/tests/cli-test" env BDS_X fallback
	[ "$output" = "value" ]
	run -0 env -u BDS_X "$BDS_BUILD/tests/cli-test" env BDS_X fallback
	[ "$output" = "fallback" ]
}

@test "cli-test: TMPDIR defaults to /tmp and must be absolute" {
	run -0 env TMPDIR= "$BDS_BUILD/tests/cli-test" tmpdir
	[ "$output" = "/tmp" ]
	run -0 env TMPDIR=/var/tmp "$BDS_BUILD/tests/cli-test" tmpdir
	[ "$output" = "/var/tmp" ]
	run -1 --separate-stderr env TMPDIR=tmp "$BDS_BUILD/tests/cli-test" tmpdir
	[ "$output" = "" ]
	[ "$stderr" = "cli-test: TMPDIR 'tmp': not an absolute path" ]
}

@test "cli-test: an unknown --driver is a usage error naming the known ones" {
	run -0 "$BDS_BUILD/tests/cli-test" driver firecracker
	[ "$output" = "" ]
	run -64 --separate-stderr "$BDS_BUILD/tests/cli-test" driver vmware
	[ "$output" = "" ]
	[ "$stderr" = "cli-test: unknown --driver 'vmware' (this build has: local, qemu, firecracker)
usage: cli-test env|tmpdir|driver|stage ..." ]
}

@test "cli-test: a stage's envelope in and out: proceed, cold, empty, unwritable" {
	run -0 --separate-stderr sh -c 'printf "{\"b\":1}\n" | "$1" stage' _ "$BDS_BUILD/tests/cli-test"
	[ "$output" = '{"b":1,"seen":true}' ]
	[ "$stderr" = "" ]
	run -2 --separate-stderr sh -c 'printf "{\"cold\":{\"stage\":\"s\",\"reason\":\"r\"}}\n" | "$1" stage' _ \
		"$BDS_BUILD/tests/cli-test"
	[ "$output" = '{"cold":{"reason":"r","stage":"s"}}' ]
	[ "$stderr" = "" ]
	run -1 --separate-stderr sh -c '"$1" stage < /dev/null' _ "$BDS_BUILD/tests/cli-test"
	[ "$output" = "" ]
	[[ "$stderr" == "cli-test: "* ]]
	[ "${#stderr_lines[@]}" = 1 ]
	run -1 --separate-stderr sh -c 'printf "{\"b\":1}\n" | "$1" stage > /dev/full' _ "$BDS_BUILD/tests/cli-test"
	[ "$stderr" = "cli-test: write JSON: No space left on device" ]
	run -1 --separate-stderr sh -c 'printf "{\"cold\":{\"stage\":\"s\",\"reason\":\"r\"}}\n" | "$1" stage > /dev/full' _ \
		"$BDS_BUILD/tests/cli-test"
	[ "$stderr" = "cli-test: write JSON: No space left on device" ]
}

@test "chunk-test: FastCDC cut points (coverage, bounds, the golden cuts, shift resistance)" {
	run -0 "$BDS_BUILD/tests/chunk-test"
	[ "${lines[${#lines[@]}-1]}" = "0 failed" ]
	# the cut points of a fixed buffer are part of the chunk format (lib/chunk.c)
	[[ "$output" == *$'\ncuts 53 chunks, first 72995 93522 41110, lengths xxh3-128 1356364e5831b56efebb2cabe327496b\n'* ]]
	[[ "$output" == *$'\nshift: 52 of 53 chunks end the same\n'* ]]
	[[ "$output" == *$'\nzeros: 16 chunks of 262144 bytes\n'* ]]
}

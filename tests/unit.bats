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
0 failed" ]
}

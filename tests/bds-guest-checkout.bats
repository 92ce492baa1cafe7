#!/usr/bin/env bats
# scripts/bds-guest-checkout: usage, bad revisions, cold pass-through and the local
# driver's checkout. Its VM path (bundle + bds-guest-sync over ssh) runs in the real guest
# under `make check-vm` (tests/vm/pipeline-qemu.bats).

load helpers

setup() {
	WS="$BATS_TEST_TMPDIR/ws"
	new_workspace "$WS"
	echo one > "$WS/f"
	A=$(commit_all "$WS" one)
	echo two > "$WS/f"
	B=$(commit_all "$WS" two)
	git -C "$WS" worktree add -q --detach "$BATS_TEST_TMPDIR/wt" "$A"
	printf '{"vm": {"driver": "local", "worktree": "%s"}}\n' "$BATS_TEST_TMPDIR/wt" > "$BATS_TEST_TMPDIR/env"
}

@test "usage errors exit 64" {
	run -64 --separate-stderr bds-guest-checkout -w "$WS" < "$BATS_TEST_TMPDIR/env"
	[ "${stderr_lines[0]}" = "bds-guest-checkout: -w and --rev are required" ]
	[ "${stderr_lines[1]}" = "usage: bds-guest-checkout -w WORKSPACE --rev SHA [--have SHA]   < envelope > envelope" ]
	run -64 --separate-stderr bds-guest-checkout --bogus < "$BATS_TEST_TMPDIR/env"
	[ "${stderr_lines[0]}" = "bds-guest-checkout: unknown argument '--bogus'" ]
}

@test "a revision that is not a commit: exit 1 naming it" {
	run -1 --separate-stderr bds-guest-checkout -w "$WS" --rev nope < "$BATS_TEST_TMPDIR/env"
	[ "$stderr" = "bds-guest-checkout: revision 'nope': not a commit of '$WS'" ]
	[ "$output" = "" ]
}

@test "a cold envelope passes through: exit 2, unchanged" {
	echo '{"cold": {"stage": "x", "reason": "y"}}' > "$BATS_TEST_TMPDIR/cold"
	run -2 bds-guest-checkout -w "$WS" --rev "$B" < "$BATS_TEST_TMPDIR/cold"
	[ "$output" = '{"cold": {"stage": "x", "reason": "y"}}' ]
}

@test "a 'cold' that is not an object with a string stage and reason, or a NUL byte anywhere: exit 1, as every stage" {
	local e
	for e in '{"cold":null}' '{"cold":false}' '{"cold":"x"}' '{"cold":{"stage":"x"}}' '{"cold":{"stage":1,"reason":"y"}}'; do
		run -1 --separate-stderr bds-guest-checkout -w "$WS" --rev "$B" <<<"$e"
		[ "$output" = "" ]
		[ "$stderr" = "bds-guest-checkout: the envelope on stdin has a 'cold' that is not an object with a string stage and reason" ]
		# the stages agree
		run -1 bds-guest-exec -- true <<<"$e"
	done
	for e in '{"cold":{"stage":"x","reason":"y"},"z":"a\u0000b"}' '{"vm":{"k\u0000":1}}'; do
		run -1 --separate-stderr bds-guest-checkout -w "$WS" --rev "$B" <<<"$e"
		[ "$output" = "" ]
		[ "$stderr" = "bds-guest-checkout: the envelope on stdin has a string holding a NUL byte" ]
		run -1 bds-guest-exec -- true <<<"$e"
	done
	[ "$(git -C "$BATS_TEST_TMPDIR/wt" rev-parse HEAD)" = "$A" ]
}

@test "input that is not JSON, or empty, or not one object: exit 1" {
	run -1 --separate-stderr bds-guest-checkout -w "$WS" --rev "$B" <<< 'not json'
	[ "${stderr_lines[-1]}" = "bds-guest-checkout: the envelope on stdin is not JSON" ]
	run -1 --separate-stderr bds-guest-checkout -w "$WS" --rev "$B" < /dev/null
	[ "$stderr" = "bds-guest-checkout: no envelope on stdin" ]
	[ "$output" = "" ]
	run -1 --separate-stderr bds-guest-checkout -w "$WS" --rev "$B" <<< '{} {}'
	[ "$stderr" = "bds-guest-checkout: the envelope on stdin is not one JSON object" ]
}

@test "local driver: the worktree is checked out at the revision and cleaned" {
	echo junk > "$BATS_TEST_TMPDIR/wt/untracked"
	run -0 bds-guest-checkout -w "$WS" --rev "$B" < "$BATS_TEST_TMPDIR/env"
	[ "$(jq -r .exec.status <<< "$output")" = "0" ]
	[ "$(git -C "$BATS_TEST_TMPDIR/wt" rev-parse HEAD)" = "$B" ]
	[ "$(cat "$BATS_TEST_TMPDIR/wt/f")" = "two" ]
	[ ! -e "$BATS_TEST_TMPDIR/wt/untracked" ]
}

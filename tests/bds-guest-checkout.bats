#!/usr/bin/env bats
# scripts/bds-guest-checkout: usage, bad revisions, cold pass-through and the local
# driver's checkout (a commit the warm repository lacks is fetched from the consuming
# clone). Its VM path (bundle + bds-guest-sync over ssh) runs in the real guest under `make
# check-vm` (tests/vm/pipeline-qemu.bats); here, from a depth-1 clone, against a real sshd on
# loopback and the real bds-guest-sync (which never sets this host's clock or ARP cache).

load helpers
load ssh-helpers

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

teardown() {
	ssh_stop
}

# clone_state DIR: every file of a clone with its size and modification time, and its refs.
clone_state() {
	find "$1" -printf '%P %y %s %T@\n' | LC_ALL=C sort
	git -C "$1" for-each-ref
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

@test "local driver: a commit that changes only .gitattributes converts every file as a fresh checkout would" {
	run -0 bds-guest-checkout -w "$WS" --rev "$B" < "$BATS_TEST_TMPDIR/env"
	[ "$(od -An -c "$BATS_TEST_TMPDIR/wt/f" | tr -s ' ')" = " t w o \n" ]
	printf 'f text eol=crlf\n' > "$WS/.gitattributes"
	C=$(commit_all "$WS" crlf)
	run -0 bds-guest-checkout -w "$WS" --rev "$C" < "$BATS_TEST_TMPDIR/env"
	[ "$(git -C "$BATS_TEST_TMPDIR/wt" rev-parse HEAD)" = "$C" ]
	# f's blob did not change; its checked-out form did, as in a clone of C
	git clone -q "$WS" "$BATS_TEST_TMPDIR/fresh"
	[ "$(od -An -c "$BATS_TEST_TMPDIR/fresh/f" | tr -s ' ')" = " t w o \r \n" ]
	cmp "$BATS_TEST_TMPDIR/fresh/f" "$BATS_TEST_TMPDIR/wt/f"
	[ "$(git -C "$BATS_TEST_TMPDIR/wt" status --porcelain)" = "" ]
}

@test "local driver: a commit the warm repository lacks is fetched from a depth-1 clone, which is not written" {
	# the warm repository as bds-vm-restore makes it: a repository of its own at A
	local warm=$BATS_TEST_TMPDIR/warm sh=$BATS_TEST_TMPDIR/shallow before
	git init -q "$warm"
	git -C "$warm" config protocol.version 2
	git -C "$warm" fetch -q --depth=1 "$WS" "$A"
	git -C "$warm" checkout -q --detach "$A"
	echo three > "$WS/f"
	local c
	c=$(commit_all "$WS" three)
	git clone -q --depth 1 "file://$WS" "$sh"
	before=$(clone_state "$sh")
	printf '{"vm": {"driver": "local", "worktree": "%s"}}\n' "$warm" > "$BATS_TEST_TMPDIR/env2"
	run -0 --separate-stderr bds-guest-checkout -w "$sh/." --rev HEAD < "$BATS_TEST_TMPDIR/env2"
	[ "$(git -C "$warm" rev-parse HEAD)" = "$c" ]
	[ "$(cat "$warm/f")" = three ]
	[ "$(clone_state "$sh")" = "$before" ]
	# what the warm repository already holds is checked out as it is
	run -0 --separate-stderr bds-guest-checkout -w "$WS" --rev "$A" < "$BATS_TEST_TMPDIR/env2"
	[ "$(git -C "$warm" rev-parse HEAD)" = "$A" ]
}

# objects DIR: how many objects the repository at DIR holds, loose and packed.
objects() {
	git -C "$1" count-objects -v | awk '$1 == "count:" || $1 == "in-pack:" { n += $2 } END { print n }'
}

@test "local driver: a commit the warm repository lacks brings only what changed since its HEAD, not its whole tree" {
	# the warm repository has no refs: unless its HEAD is offered to the clone, the clone
	# sends the commit's whole tree (every consume paid 1.3 s for that at 150k targets)
	local warm=$BATS_TEST_TMPDIR/warm i before
	mkdir -p "$WS/d"
	for i in $(seq 1 40); do echo "$i" > "$WS/d/$i"; done
	A=$(commit_all "$WS" many)
	echo changed > "$WS/d/7"
	B=$(commit_all "$WS" one-changed)
	git init -q "$warm"
	git -C "$warm" config protocol.version 2
	# every fetch kept as a pack: git would drop the objects it has when unpacking a small
	# one, which hides how many were sent
	git -C "$warm" config fetch.unpackLimit 1
	git -C "$warm" fetch -q --depth=1 "$WS" "$A"
	git -C "$warm" checkout -q --detach "$A"
	before=$(objects "$warm")
	printf '{"vm": {"driver": "local", "worktree": "%s"}}\n' "$warm" > "$BATS_TEST_TMPDIR/env2"
	run -0 --separate-stderr bds-guest-checkout -w "$WS" --rev "$B" < "$BATS_TEST_TMPDIR/env2"
	[ "$(git -C "$warm" rev-parse HEAD)" = "$B" ]
	[ "$(cat "$warm/d/7")" = changed ]
	[ "$(git -C "$warm" status --porcelain --ignored)" = "" ]
	# sent: the commit, the root tree, d's tree and d/7's blob (and the base of a delta
	# the thin pack leaves out, which the fetch appends), never A's 40-odd objects again
	[ "$before" -gt 40 ]
	[ "$(objects "$warm")" -le $((before + 6)) ]
}

@test "VM driver, a depth-1 clone of a two-commit change: the bundle carries its shallow history and boundary; the guest, at the base, imports it" {
	# the real bds-guest-sync, but never on this host's clock or ARP cache
	mkdir -p "$BATS_TEST_TMPDIR/guestbin"
	cat > "$BATS_TEST_TMPDIR/guestbin/bds-guest-sync" <<-EOF
		#!/bin/sh
		n=\$#
		while [ "\$n" -gt 0 ]; do
			a=\$1; shift; n=\$((n - 1))
			if [ "\$a" = --clock ]; then shift; n=\$((n - 1)); continue; fi
			set -- "\$@" "\$a"
		done
		exec "$BDS_TOP/guest/bds-guest-sync" --no-arp "\$@"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/guestbin/bds-guest-sync"
	SSH_SETENV="PATH=$BATS_TEST_TMPDIR/guestbin:/usr/bin:/bin" ssh_start "$BATS_TEST_TMPDIR/ssh"
	# the guest holds A only; the change is B and C on it
	local guest=$BATS_TEST_TMPDIR/guest sh=$BATS_TEST_TMPDIR/shallow before c
	git init -q "$guest"
	git -C "$guest" fetch -q "file://$WS" "$A"
	git -C "$guest" checkout -q --detach "$A"
	echo three > "$WS/f"
	c=$(commit_all "$WS" three)
	git clone -q --depth 1 "file://$WS" "$sh"
	run -128 git -C "$sh" cat-file -e "$A^{commit}"
	before=$(clone_state "$sh")
	guest_envelope | jq -c --arg g "$guest" '.vm.guest.cwd = $g' > "$BATS_TEST_TMPDIR/venv"
	run -0 --separate-stderr bds-guest-checkout -w "$sh" --rev HEAD --have "$A" < "$BATS_TEST_TMPDIR/venv"
	[ "$(jq -r .exec.status <<<"$output")" = 0 ]
	[ "$(git -C "$guest" rev-parse HEAD)" = "$c" ]
	[ "$(cat "$guest/f")" = three ]
	[ "$(cat "$guest/.git/shallow")" = "$c" ]
	[ ! -e /tmp/bds-sync.bundle ]
	[ ! -e /tmp/bds-sync.shallow ]
	[ "$(clone_state "$sh")" = "$before" ]
}

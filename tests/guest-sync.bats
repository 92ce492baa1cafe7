# guest/bds-guest-sync, run on the host against throwaway repositories (the clock is never
# set here: only its argument checking is tested).

load helpers

SYNC="$BDS_TOP/guest/bds-guest-sync"

setup() {
	HOSTREPO="$BATS_TEST_TMPDIR/host"
	new_workspace "$HOSTREPO"
	printf 'one\n' > "$HOSTREPO/f"
	C1=$(commit_all "$HOSTREPO" one)
	git clone -q "$HOSTREPO" "$BATS_TEST_TMPDIR/guest"
	GUEST="$BATS_TEST_TMPDIR/guest"
	printf 'two\n' > "$HOSTREPO/f"
	C2=$(commit_all "$HOSTREPO" two)
	git -C "$HOSTREPO" bundle create -q "$BATS_TEST_TMPDIR/c2.bundle" "$C1..HEAD" 2>/dev/null
}

@test "imports the bundle, checks out the revision, cleans but keeps bazel-* links" {
	printf 'junk\n' > "$GUEST/untracked"
	ln -s /tmp "$GUEST/bazel-out"
	printf 'dirty\n' > "$GUEST/f"
	run -0 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --bundle "$BATS_TEST_TMPDIR/c2.bundle" --rev "$C2"
	[ "$output" = "" ]
	[ "$(git -C "$GUEST" rev-parse HEAD)" = "$C2" ]
	[ "$(cat "$GUEST/f")" = "two" ]
	[ ! -e "$GUEST/untracked" ]
	[ -L "$GUEST/bazel-out" ]
}

@test "a revision the guest lacks, without its bundle, exits 1" {
	run -1 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --rev "$C2"
	[ "$stderr" = "bds-guest-sync: revision $C2 is not in the guest's repository (missing bundle?)" ]
	[ "$(git -C "$GUEST" rev-parse HEAD)" = "$C1" ]
}

@test "a bundle that does not apply, or is missing, exits 1" {
	other="$BATS_TEST_TMPDIR/other"
	new_workspace "$other"
	commit_all "$other" x >/dev/null
	printf 'y\n' > "$other/y"
	commit_all "$other" y >/dev/null
	git -C "$other" bundle create -q "$BATS_TEST_TMPDIR/other.bundle" HEAD~1..HEAD 2>/dev/null
	run -1 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --bundle "$BATS_TEST_TMPDIR/other.bundle" --rev "$C2"
	[[ "$stderr" == "bds-guest-sync: bundle '$BATS_TEST_TMPDIR/other.bundle': does not apply to this repository" ]]
	run -1 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --bundle "$BATS_TEST_TMPDIR/none" --rev "$C2"
	[ "$stderr" = "bds-guest-sync: bundle '$BATS_TEST_TMPDIR/none': not readable" ]
}

@test "usage: revisions and clock values are validated before any use (64)" {
	run -64 "$SYNC" --no-arp --workspace "$GUEST"
	run -64 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --rev 'HEAD; rm -rf /'
	[[ "$stderr" == *"--rev must be a full lowercase commit sha"* ]]
	run -64 "$SYNC" --no-arp --workspace "$GUEST" --rev "${C2:0:12}"
	run -64 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --rev "$C2" --clock '1$(id)'
	[[ "$stderr" == *"--clock takes seconds since the epoch"* ]]
	run -64 "$SYNC" --bogus
	run -1 "$SYNC" --no-arp --workspace "$BATS_TEST_TMPDIR/nope" --rev "$C2"
}

@test "--shallow: a bundle of a depth-1 clone's history imports where the guest lacks the boundary's parent" {
	# C3 on C2 on C1: the guest holds C1 only; a depth-1 clone of C3 holds C3 alone
	printf 'three\n' > "$HOSTREPO/f"
	local c3 sh=$BATS_TEST_TMPDIR/shallow scratch=$BATS_TEST_TMPDIR/scratch.git
	c3=$(commit_all "$HOSTREPO" three)
	git clone -q --depth 1 "file://$HOSTREPO" "$sh"
	# the bundle as bds-guest-checkout makes it: a scratch repository with the clone's
	# objects and shallow boundary
	git init -q --bare "$scratch"
	echo "$sh/.git/objects" > "$scratch/objects/info/alternates"
	cp "$sh/.git/shallow" "$scratch/shallow"
	git -C "$scratch" update-ref refs/heads/bds-sync "$c3"
	git -C "$scratch" bundle create -q "$BATS_TEST_TMPDIR/c3.bundle" refs/heads/bds-sync
	# without the boundary the guest cannot import it: C2 is in neither
	run -1 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --bundle "$BATS_TEST_TMPDIR/c3.bundle" --rev "$c3"
	[ "${stderr_lines[-1]}" = "bds-guest-sync: importing 'refs/heads/bds-sync' from bundle '$BATS_TEST_TMPDIR/c3.bundle' failed" ]
	run -0 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --bundle "$BATS_TEST_TMPDIR/c3.bundle" \
		--shallow "$scratch/shallow" --rev "$c3"
	[ "$output" = "" ]
	[ "$(git -C "$GUEST" rev-parse HEAD)" = "$c3" ]
	[ "$(cat "$GUEST/f")" = "three" ]
	[ "$(cat "$GUEST/.git/shallow")" = "$c3" ]
	# the guest's own history is intact
	[ "$(git -C "$GUEST" log --format=%H "$C1")" = "$C1" ]
}

@test "--shallow: only with --bundle (64); unreadable, or not one full sha a line (1), before anything is marked" {
	printf '%s\n' "$C2" > "$BATS_TEST_TMPDIR/list"
	run -64 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --shallow "$BATS_TEST_TMPDIR/list" --rev "$C2"
	[ "${stderr_lines[0]}" = "bds-guest-sync: --shallow goes with --bundle" ]
	run -1 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --bundle "$BATS_TEST_TMPDIR/c2.bundle" \
		--shallow "$BATS_TEST_TMPDIR/none" --rev "$C2"
	[ "$stderr" = "bds-guest-sync: shallow list '$BATS_TEST_TMPDIR/none': not readable" ]
	printf '%s\nHEAD\n' "$C2" > "$BATS_TEST_TMPDIR/bad"
	run -1 --separate-stderr "$SYNC" --no-arp --workspace "$GUEST" --bundle "$BATS_TEST_TMPDIR/c2.bundle" \
		--shallow "$BATS_TEST_TMPDIR/bad" --rev "$C2"
	[ "$stderr" = "bds-guest-sync: shallow list '$BATS_TEST_TMPDIR/bad': not one full lowercase commit sha a line" ]
	[ ! -e "$GUEST/.git/shallow" ]
	[ "$(git -C "$GUEST" rev-parse HEAD)" = "$C1" ]
}

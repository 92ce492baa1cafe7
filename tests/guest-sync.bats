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

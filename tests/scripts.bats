# What every pipeline script promises, beyond its own pipeline: options are checked
# before anything starts (64); a helper tool's status never leaves as 2, which means
# "cold"; outputs are written where cp and `>` would write them (a device or FIFO in
# place, a symlink followed); white space in a path never splits it; git's own reason
# is shown when it refuses a repository. End-to-end answers are in pipeline-local.bats.

load helpers

setup_file() {
	export WS="$BATS_FILE_TMPDIR/ws"
	new_workspace "$WS"
	mkdir -p "$WS/p"
	printf 'p\n' > "$WS/p/p.txt"
	printf 'filegroup(name = "p", srcs = ["p.txt"])\n' > "$WS/p/BUILD"
	BASE=$(commit_all "$WS" base)
	printf 'p2\n' > "$WS/p/p.txt"
	TARGET=$(commit_all "$WS" target)
	export BASE TARGET
	# A store with an entry for BASE under this workspace's key whose warm machine does
	# not exist: consume finds it (and reads it with jq), then restore is cold.
	export STORE="$BATS_FILE_TMPDIR/store"
	local fp entry="$BATS_FILE_TMPDIR/entry"
	fp=$(bds-fingerprint -w "$WS" --rev "$BASE" --driver local | jq -er .fingerprint.key)
	mkdir -p "$entry"
	printf '{}\n' > "$entry/base_hashes.json"
	jq -nc --arg d "$entry" --arg fp "$fp" --arg b "$BASE" --arg ws "$WS" --arg s "$BATS_FILE_TMPDIR/gone" \
		'{workspace: $ws, entry: {dir: $d, fingerprint: $fp, base: $b, driver: "local",
		  metadata: {state_dir: $s, worktree: ($s + "/worktree"), output_base: ($s + "/output_base")}}}' |
		bds-store-publish --store "$STORE" > /dev/null
}

teardown_file() {
	stop_bazel "$WS"
}

setup() {
	T=$BATS_TEST_TMPDIR
	export TMPDIR="$T/tmp" BDS_CACHE="$T/cache"
	mkdir -p "$TMPDIR"
	WORKTREES=$(git -C "$WS" worktree list --porcelain | grep -c '^worktree ')
}

teardown() {
	# a server a failed test may have left, whatever its output base
	for ob in "$T"/*/output_base "$T/o b/ob"; do
		[ -d "$ob" ] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
}

# nothing_started: no temporary file, cache, worktree or Bazel server of this test exists.
nothing_started() {
	[ -z "$(ls -A "$TMPDIR")" ]
	[ ! -e "$BDS_CACHE" ]
	[ "$(git -C "$WS" worktree list --porcelain | grep -c '^worktree ')" -eq "$WORKTREES" ]
	[ -z "$(ps -eo args | grep -F -- "$T" | grep -v grep || true)" ]
}

# ------------------------------------------------------- a helper tool's status is never 2

@test "control: consume finds the entry, then its machine is gone: exit 2" {
	run -2 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE"
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-consume: cold: the local warm state of "*" is gone (no '$BATS_FILE_TMPDIR/gone/worktree')" ]]
}

@test "jq exiting 2 or 5: bds-consume, bds-canary and bds-record exit 1, never 2" {
	for st in 2 5; do
		broken jq "$st"
		run -1 --separate-stderr with_broken bds-consume -w "$WS" --target "$TARGET" --store "$STORE"
		[ "$output" = "" ]
		[ "${stderr_lines[-1]}" = "bds-consume: reading '.snapshot.base' from the envelope of the last phase failed" ]
		run -1 --separate-stderr with_broken bds-canary -w "$WS" --base "$BASE" --target "$TARGET" --store "$STORE"
		[ "${stderr_lines[-1]}" = "bds-canary: bds-consume failed (exit 1)" ]
		run -1 --separate-stderr with_broken bds-record -w "$WS" --base "$BASE" --store "$T/store"
		[ "${stderr_lines[-1]}" = "bds-record: reading '.vm.keeper_pid // empty' from the envelope of the last phase failed" ]
		[ ! -e "$T/store" ]
	done
}

@test "jq exiting 2 or 5: bds-guest-checkout exits 1, never 2, on its local and VM paths" {
	local env='{"vm": {"driver": "qemu", "guest": {"host": "127.0.0.1", "port": 9}}}'
	for st in 2 5; do
		broken jq "$st"
		run -1 --separate-stderr with_broken bds-guest-checkout -w "$WS" --rev "$BASE" <<<'{"vm": {}}'
		[ "$stderr" = "bds-guest-checkout: the envelope on stdin is not JSON" ]
		# the VM path's second jq
		broken jq "$st" cwd
		run -1 --separate-stderr with_broken bds-guest-checkout -w "$WS" --rev "$BASE" <<<"$env"
		[ "$stderr" = "bds-guest-checkout: the envelope on stdin is not JSON" ]
	done
}

@test "no temporary directory: every script exits 1, never 2" {
	local s missing="$T/missing"
	for s in bds-record bds-consume bds-canary bds-cold bds-guest-checkout bds-generate-hashes; do
		case $s in
		bds-record) set -- -w "$WS" --base "$BASE" --store "$T/store" ;;
		bds-consume) set -- -w "$WS" --target "$TARGET" --store "$STORE" ;;
		bds-canary) set -- -w "$WS" --base "$BASE" --target "$TARGET" --store "$STORE" ;;
		bds-cold) set -- -w "$WS" --base "$BASE" --target "$TARGET" ;;
		bds-guest-checkout) set -- -w "$WS" --rev "$BASE" ;;
		bds-generate-hashes) set -- -w "$WS" "$T/out.json" ;;
		esac
		run -1 --separate-stderr env TMPDIR="$missing" "$s" "$@" <<<'{}'
		[ "$output" = "" ]
		[ "$stderr" = "bds-tmpdir: create a directory '$missing/$s.XXXXXX': No such file or directory
$s: cannot create a temporary directory in '$missing'" ]
	done
	nothing_started
}

@test "no shell library (scripts/lib/bds.sh, installed in share/bds/lib): every script that sources it says so in one line, exit 1" {
	local s d="$T/alone"
	mkdir "$d"
	for s in bds-record bds-consume bds-canary bds-cold bds-guest-checkout bds-generate-hashes bds-bazel-diff; do
		cp "$BDS_TOP/scripts/$s" "$d/"
		run -1 --separate-stderr "$d/$s" --version
		[ "$output" = "" ]
		[ "$stderr" = "$s: cannot find the shell library: neither '$d/../share/bds/lib/bds.sh' nor '$d/lib/bds.sh'" ]
	done
	# installed beside the bin directory, it is found
	mkdir -p "$T/share/bds/lib"
	cp "$BDS_TOP/scripts/lib/bds.sh" "$T/share/bds/lib/"
	run -0 --separate-stderr "$d/bds-cold" --help
	[ "${lines[0]}" = "usage: bds-cold -w WORKSPACE --base REV --target REV [-b BAZEL] [-so 'STARTUP OPTIONS' ...]" ]
	# one that cannot be parsed (or read) is 1, never the shell's own 2 (cold)
	echo 'if then fi (' > "$T/share/bds/lib/bds.sh"
	for s in bds-record bds-consume bds-canary bds-cold bds-guest-checkout bds-generate-hashes bds-bazel-diff; do
		run -1 --separate-stderr "$d/$s" --version
		[ "$output" = "" ]
		[[ "$stderr" == *"bds.sh"* ]]
	done
}

# ------------------------------------------------------- options, before anything starts

@test "bds-record: a bad hash option, driver or lock timeout is 64 before anything starts" {
	local opt
	for opt in "--target-type Foo" "--target-type ''" "--target-type ," "--driver vmware" \
		"--lock-timeout x" "--lock-timeout 86401" "--lock-timeout -1" "--lock-timeout 1e3"; do
		run -64 --separate-stderr sh -c "bds-record -w \"\$1\" --base \"\$2\" --store \"\$3\" $opt" _ "$WS" "$BASE" "$T/store"
		[ "$output" = "" ]
		[[ "${stderr_lines[1]}" == "usage: bds-record -w WORKSPACE "* ]]
	done
	run -64 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store" --target-type Foo
	[ "${stderr_lines[0]}" = "bds-record: unknown target type 'Foo' (expected Rule, SourceFile or GeneratedFile)" ]
	run -64 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store" --target-type ''
	[ "${stderr_lines[0]}" = "bds-record: --target-type needs at least one of Rule, SourceFile or GeneratedFile" ]
	run -64 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store" --lock-timeout 1e3
	[ "${stderr_lines[0]}" = "bds-record: --lock-timeout takes seconds from 0 to 86400, not '1e3'" ]
	[ ! -e "$T/store" ]
	nothing_started
}

@test "bds-consume, bds-canary, bds-cold: a bad option value is 64 before anything starts" {
	local opt
	for opt in "--target-type ''" "--target-type ," "--target-type Foo" "--max-distance -1" \
		"--max-distance 100001" "--max-distance x" "--lock-timeout x" "--driver vmware"; do
		run -64 --separate-stderr sh -c "bds-consume -w \"\$1\" --target \"\$2\" --store \"\$3\" $opt" _ "$WS" "$TARGET" "$STORE"
		[ "$output" = "" ]
		[[ "$stderr" == *"usage: bds-consume -w WORKSPACE "* ]]
		[[ "$stderr" != *"bds-consume: fingerprint "* ]]
		run -64 --separate-stderr sh -c "bds-canary -w \"\$1\" --base \"\$2\" --target \"\$3\" --store \"\$4\" $opt" _ \
			"$WS" "$BASE" "$TARGET" "$STORE"
		[ "${stderr_lines[-1]}" = "bds-canary: bds-consume refused the options (exit 64)" ]
	done
	run -64 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE" --max-distance x
	[ "${stderr_lines[0]}" = "bds-consume: --max-distance takes a number from 0 to 100000, not 'x'" ]
	for opt in "''" "," "Foo"; do
		run -64 --separate-stderr sh -c "bds-cold -w \"\$1\" --base \"\$2\" --target \"\$3\" --target-type $opt" _ \
			"$WS" "$BASE" "$TARGET"
		[[ "${stderr_lines[1]}" == "usage: bds-cold -w WORKSPACE "* ]]
	done
	nothing_started
}

# ------------------------------------------------------- white space and relative paths

@test "bds-record: white space in BDS_CACHE is 64 before anything starts" {
	mkdir -p "$T/ca"
	BDS_CACHE="$T/ca che" run -64 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store"
	[ "${stderr_lines[0]}" = "bds-record: BDS_CACHE '$T/ca che' has white space: the local driver's Bazel workspace and output base live there, and Bazel cannot work in such a path" ]
	# nothing was written where a split path would point, and no server runs
	[ -z "$(ls -A "$T/ca")" ]
	[ ! -e "$T/ca che" ]
	nothing_started
}

@test "bds-record: a relative BDS_CACHE is the current directory's, never the workspace's" {
	local state
	cd "$T"
	BDS_CACHE=relcache run -0 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store"
	# the warm state is under the current directory, and the workspace holds no worktree
	run -0 find "$T/relcache/local" -mindepth 2 -maxdepth 2 -type d -name "$BASE"
	[ "${#lines[@]}" -eq 1 ]
	state=${lines[0]}
	bazel --output_base="$state/output_base" shutdown >/dev/null 2>&1 || true
	# the warm worktree is a repository of its own there, at the base
	[ "$(git -C "$state/worktree" rev-parse --path-format=absolute --git-common-dir)" = "$state/worktree/.git" ]
	[ "$(git -C "$state/worktree" rev-parse HEAD)" = "$BASE" ]
	run -0 git -C "$WS" worktree list --porcelain
	[ "${#lines[@]}" -eq 3 ]
	run -0 git -C "$WS" status --porcelain
	[ "$output" = "" ]
}

@test "bds-cold: white space in TMPDIR is 64 before anything starts; a relative TMPDIR works" {
	mkdir -p "$T/t"
	TMPDIR="$T/t mp" run -64 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$TARGET"
	[ "${stderr_lines[0]}" = "bds-cold: TMPDIR '$T/t mp' has white space: the cold path's Bazel workspace and output base live there, and Bazel cannot work in such a path" ]
	[ -z "$(ls -A "$T/t")" ]
	nothing_started
	# relative to the current directory, not to the repository git works in
	cd "$T"
	TMPDIR=tmp run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$TARGET"
	[ "$output" = "//p:p
//p:p.txt" ]
	nothing_started
}

@test "bds-generate-hashes: a --startup-option is one word: an output base with a space" {
	run -0 bds-generate-hashes -w "$WS" --startup-option "--output_base=$T/o b/ob" "$T/spaced.json"
	[ -d "$T/o b/ob/execroot" ]
	[ ! -e "$T/o" ]
	(cd "$WS" && bazel --output_base="$T/o b/ob" shutdown)
	run -0 bds-generate-hashes -w "$WS" "$T/plain.json"
	cmp "$T/spaced.json" "$T/plain.json"
}

# ------------------------------------------------------- outputs: devices, FIFOs, symlinks

@test "bds-cold -o: a device is written in place, a symlink followed" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (mknod)"
	mknod "$T/null" c 1 3
	chmod 666 "$T/null"
	run -0 bds-cold -w "$WS" --base "$BASE" --target "$TARGET" -o "$T/null"
	[ -c "$T/null" ]
	[ "$(stat -c %t:%T "$T/null")" = 1:3 ]
	printf 'old\n' > "$T/answer"
	ln -s answer "$T/link"
	run -0 bds-cold -w "$WS" --base "$BASE" --target "$TARGET" -o "$T/link"
	[ -L "$T/link" ]
	[ "$(cat "$T/answer")" = "//p:p
//p:p.txt" ]
	nothing_started
}

# ------------------------------------------------------- git's reasons

@test "a repository git refuses (dubious ownership): every script shows git's reason, exit 1" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (a repository owned by another user)"
	cp -a "$WS" "$T/theirs"
	chown -R nobody: "$T/theirs"
	local why="detected dubious ownership in repository at '$T/theirs'"
	run -1 --separate-stderr bds-consume -w "$T/theirs" --target HEAD --store "$STORE"
	[ "$stderr" = "bds-consume: workspace '$T/theirs': $why" ]
	run -1 --separate-stderr bds-record -w "$T/theirs" --base HEAD --store "$T/store"
	[ "$stderr" = "bds-record: workspace '$T/theirs': $why" ]
	run -1 --separate-stderr bds-cold -w "$T/theirs" --base HEAD --target HEAD
	[ "$stderr" = "bds-cold: workspace '$T/theirs': $why" ]
	run -1 --separate-stderr bds-guest-checkout -w "$T/theirs" --rev HEAD <<<'{}'
	[ "$stderr" = "bds-guest-checkout: revision 'HEAD': $why" ]
	# the canary's consume says it first
	run -1 --separate-stderr bds-canary -w "$T/theirs" --base HEAD --target HEAD --store "$STORE"
	[ "${stderr_lines[0]}" = "bds-consume: workspace '$T/theirs': $why" ]
	nothing_started
}

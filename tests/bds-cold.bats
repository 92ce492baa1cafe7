# Tests scripts/bds-cold on a real Bazel workspace: one repository, one commit per kind of
# edit, one cold run per edit, each checked against the exact label list.

load helpers

setup_file() {
	T="$BATS_FILE_TMPDIR"
	W="$T/ws"
	# two identical local repositories: moving `path` from one to the other changes only
	# the attribute of //external:r
	for r in r1 r2; do
		mkdir -p "$T/repos/$r"
		printf 'workspace(name = "r")\n' > "$T/repos/$r/WORKSPACE"
		printf 'filegroup(name = "f", srcs = ["f.txt"], visibility = ["//visibility:public"])\n' > "$T/repos/$r/BUILD"
		echo same > "$T/repos/$r/f.txt"
	done
	new_workspace "$W"
	(
		cd "$W"
		printf 'workspace(name = "t")\n\nlocal_repository(name = "r", path = "%s")\n' "$T/repos/r1" > WORKSPACE
		mkdir lib app
		cat > lib/defs.bzl <<'EOF'
def mini(name):
    native.genrule(name = name, srcs = [], outs = [name + ".out"], cmd = "echo v1 > $@")
EOF
		cat > lib/BUILD <<'EOF'
load(":defs.bzl", "mini")

genrule(name = "gen", srcs = ["a.txt"], outs = ["gen.out"], cmd = "cp $< $@")

mini(name = "m")

filegroup(name = "fg", srcs = ["b.txt", ":gen"], visibility = ["//visibility:public"])
EOF
		echo a > lib/a.txt
		echo b > lib/b.txt
		cat > app/BUILD <<'EOF'
filegroup(name = "app", srcs = ["//lib:fg"])

filegroup(name = "uses_r", srcs = ["@r//:f"])
EOF
		commit_all . base >/dev/null && git tag c0
		echo a2 > lib/a.txt
		commit_all . "source edit" >/dev/null && git tag source-edit
		sed -i 's/cp \$< \$@/cat \$< > \$@/' lib/BUILD
		commit_all . "BUILD edit" >/dev/null && git tag build-edit
		sed -i 's/echo v1/echo v2/' lib/defs.bzl
		commit_all . "macro edit" >/dev/null && git tag macro-edit
		mkdir new
		printf 'filegroup(name = "n", srcs = ["n.txt"])\n' > new/BUILD
		echo n > new/n.txt
		sed -i '/^mini(name = "m")$/d' lib/BUILD
		commit_all . "new package, deleted macro target" >/dev/null && git tag new-and-deleted
		sed -i 's|repos/r1|repos/r2|' WORKSPACE
		commit_all . "local_repository path" >/dev/null && git tag repo-path
		# the user's checkout has work in progress that the cold path must not touch
		echo dirty > lib/a.txt
		echo untracked > scratch.txt
	)
	export T W
}

setup() {
	# bds-cold's scratch directory (worktree and Bazel output base) lands here
	export TMPDIR="$BATS_FILE_TMPDIR/tmp"
	mkdir -p "$TMPDIR"
	HEAD_BEFORE=$(git -C "$W" rev-parse HEAD)
	STATUS_BEFORE=$(git -C "$W" status --porcelain)
}

teardown() {
	# only if a run failed half-way: its server must not outlive the test
	for ob in "$TMPDIR"/bds-cold.*/output_base; do
		[ -d "$ob" ] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
}

# The user's checkout, the worktree list and the scratch space are as before the run,
# and no Bazel server of the run is left.
assert_clean() {
	[ -z "$(ls -A "$TMPDIR")" ]
	[ "$(git -C "$W" worktree list --porcelain | grep -c '^worktree ')" -eq 1 ]
	[ "$(git -C "$W" rev-parse HEAD)" = "$HEAD_BEFORE" ]
	[ "$(git -C "$W" status --porcelain)" = "$STATUS_BEFORE" ]
	[ "$(cat "$W/lib/a.txt")" = dirty ]
	[ -z "$(ps -eo args | grep -F "$TMPDIR/bds-cold" | grep -v grep || true)" ]
}

@test "usage: missing or unknown options exit 64" {
	run -64 --separate-stderr bds-cold
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-cold: missing -w WORKSPACE" ]
	[ "${stderr_lines[1]}" = "usage: bds-cold -w WORKSPACE --base REV --target REV [-b BAZEL] [-so 'STARTUP OPTIONS' ...]" ]
	run -64 --separate-stderr bds-cold -w "$W" --base c0
	[ "${stderr_lines[0]}" = "bds-cold: missing --target REV" ]
	run -64 --separate-stderr bds-cold -w "$W" --base c0 --target c0 --depEdgesFile x.json
	[ "${stderr_lines[0]}" = "bds-cold: unknown option '--depEdgesFile'" ]
	run -64 bds-cold -w "$W" --base c0 --target c0 extra
	run -64 bds-cold -w "$W" --base c0 --target
}

@test "a bad revision or workspace exits 1 before anything is checked out" {
	run -1 --separate-stderr bds-cold -w "$W" --base c0 --target no-such-rev
	[ "$output" = "" ]
	[ "$stderr" = "bds-cold: revision 'no-such-rev': not a commit in '$W'" ]
	run -1 --separate-stderr bds-cold -w "$W" --base "$(git -C "$W" rev-parse c0^{tree})" --target c0
	[[ "$stderr" == "bds-cold: revision '"*"': not a commit in '$W'" ]]
	mkdir -p "$BATS_TEST_TMPDIR/plain"
	run -1 --separate-stderr bds-cold -w "$BATS_TEST_TMPDIR/plain" --base c0 --target c0
	[ "$stderr" = "bds-cold: workspace '$BATS_TEST_TMPDIR/plain': not inside a git repository" ]
	run -1 --separate-stderr bds-cold -w "$BATS_TEST_TMPDIR/none" --base c0 --target c0
	[ "$stderr" = "bds-cold: workspace '$BATS_TEST_TMPDIR/none': not a directory" ]
	assert_clean
}

@test "source edit: the file, its generating rule and outputs, their dependants, by kind" {
	run -0 --separate-stderr bds-cold -w "$W" --base c0 --target source-edit --include-target-type
	[ "$output" = '//lib:a.txt
//lib:gen.out
//app:app
//lib:fg
//lib:gen' ]
	# one timing line per phase
	[[ "$stderr" =~ bds-cold:\ worktree\ [0-9]+\.[0-9]s ]]
	[[ "$stderr" =~ bds-cold:\ hash\ base\ [0-9]+\.[0-9]s ]]
	[[ "$stderr" =~ bds-cold:\ checkout\ target\ [0-9]+\.[0-9]s ]]
	[[ "$stderr" =~ bds-cold:\ hash\ target\ [0-9]+\.[0-9]s ]]
	[[ "$stderr" =~ bds-cold:\ shutdown\ [0-9]+\.[0-9]s ]]
	[[ "$stderr" =~ bds-cold:\ diff\ [0-9]+\.[0-9]s ]]
	assert_clean
}

@test "BUILD edit: the BUILD file and the edited rule with its dependants" {
	run -0 --separate-stderr bds-cold -w "$W" --base source-edit --target build-edit
	[ "$output" = '//app:app
//lib:BUILD
//lib:fg
//lib:gen
//lib:gen.out' ]
	assert_clean
}

@test ".bzl macro edit: only the targets the macro produced" {
	run -0 --separate-stderr bds-cold -w "$W" --base build-edit --target macro-edit
	[ "$output" = '//lib:m
//lib:m.out' ]
	assert_clean
}

@test "new and deleted targets: the new ones and the edited BUILD file; deleted ones never" {
	run -0 --separate-stderr bds-cold -w "$W" --base macro-edit --target new-and-deleted
	[ "$output" = '//lib:BUILD
//new:BUILD
//new:n
//new:n.txt' ]
	assert_clean
}

@test "local_repository path change: //external:r and its dependants; -o writes the answer" {
	run -0 --separate-stderr bds-cold -w "$W" --base new-and-deleted --target repo-path \
		-o "$BATS_TEST_TMPDIR/impacted.txt"
	[ "$output" = "" ]
	[ "$(cat "$BATS_TEST_TMPDIR/impacted.txt")" = '//app:uses_r
//external:r' ]
	assert_clean
}

@test "-o: a FIFO with no reader is 1 at once, never a hang, and still cleans up" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run -1 --separate-stderr timeout 300 bds-cold -w "$W" --base new-and-deleted --target repo-path \
		-o "$BATS_TEST_TMPDIR/fifo"
	[ "$output" = "" ]
	[ "${stderr_lines[-2]}" = "bds-diff: open '$BATS_TEST_TMPDIR/fifo': a FIFO with no reader" ]
	[ "${stderr_lines[-1]}" = "bds-cold: bds-diff failed with exit 1" ]
	[ -p "$BATS_TEST_TMPDIR/fifo" ]
	assert_clean
}

# A repository whose Bazel workspace is a subdirectory: s0, s1 (one source edit), s2 (a BUILD
# file that does not parse).
make_subdir_repo() {
	R="$BATS_TEST_TMPDIR/repo"
	new_workspace "$R/ws"
	(
		cd "$R/ws"
		mv .git ..
		printf 'filegroup(name = "x", srcs = ["x.txt"])\n' > BUILD
		echo 1 > x.txt
		cd ..
		git add -A && git commit -q -m s0 && git tag s0
		echo 2 > ws/x.txt
		git commit -q -am s1 && git tag s1
		echo 'filegroup(name = ' > ws/BUILD
		git commit -q -am s2 && git tag s2
	)
}

@test "a workspace in a subdirectory of the repository, with startup options of the user's" {
	make_subdir_repo
	run -0 --separate-stderr bds-cold -w "$R/ws" --base s0 --target s1 -so "--max_idle_secs=60 --nohome_rc"
	[ "$output" = '//:x
//:x.txt' ]
	# its own output base's server was shut down, its own idle time replaced by the user's
	[ -z "$(ps -eo args | grep -F "$TMPDIR/bds-cold" | grep -v grep || true)" ]
	[ -z "$(ls -A "$TMPDIR")" ]
	[ "$(git -C "$R" worktree list --porcelain | grep -c '^worktree ')" -eq 1 ]
	# the output base is bds-cold's own: the user's is refused (more in bazel-options.bats)
	run -64 --separate-stderr bds-cold -w "$R/ws" --base s0 --target s1 -so "--output_base=$BATS_TEST_TMPDIR/ob"
	[ "${stderr_lines[0]}" = "bds-cold: startup option '--output_base=$BATS_TEST_TMPDIR/ob' is refused: bds keeps a warm Bazel server and its output base, which --output_base would move or replace" ]
	[ ! -e "$BATS_TEST_TMPDIR/ob" ]
}

@test "a failed hashing run exits 1 and still cleans up" {
	make_subdir_repo
	run -1 --separate-stderr bds-cold -w "$R/ws" --base s1 --target s2
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-cold: hashing target ($(git -C "$R" rev-parse s2)) failed"* ]]
	[[ "$stderr" == *"bds-cold: hash base "* ]]
	[ -z "$(ls -A "$TMPDIR")" ]
	[ "$(git -C "$R" worktree list --porcelain | grep -c '^worktree ')" -eq 1 ]
	[ -z "$(ps -eo args | grep -F "$TMPDIR/bds-cold" | grep -v grep || true)" ]
}

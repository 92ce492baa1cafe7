# The change-proportional path (docs/algorithm.md 6): bds-generate-hashes --record-state
# writes the graph state of a revision, --incremental hashes a later revision from it and
# git's diff. For every kind of edit, the partial answer is byte for byte the full query's
# (hashed by the same server) and the stderr line says which path answered and why; bds-plan
# alone: usage, its fallbacks, its plan.

load helpers
load bds-hash-helpers

setup_file() {
	export WS="$BATS_FILE_TMPDIR/ws"
	hash_fixture_ws "$WS" "$BATS_FILE_TMPDIR/ext"
}

teardown_file() {
	stop_bazel "$WS"
}

setup() {
	reset_ws "$WS"
	rm -f "$WS/.git/bds-graph.state" "$WS/.git/bds-graph.state.query" "$WS/.git/info/exclude"
}

# record: the graph state of the base, written by a full run
record() {
	bds-generate-hashes -w "$WS" --record-state "$BATS_TEST_TMPDIR/base.json"
	[ -f "$WS/.git/bds-graph.state" ]
}

# edit_commit MESSAGE: commits the worktree's changes (the revision to hash)
edit_commit() {
	commit_all "$WS" "$1" >/dev/null
}

# partial_equals_full LINE: the incremental answer of HEAD is the full one, byte for byte,
# and its stderr is exactly LINE ("partial: ..." or "full path: ...", after the prefix)
partial_equals_full() {
	bds-generate-hashes -w "$WS" --incremental "$BATS_TEST_TMPDIR/partial.json" 2> "$BATS_TEST_TMPDIR/partial.err"
	bds-generate-hashes -w "$WS" "$BATS_TEST_TMPDIR/full.json"
	cmp "$BATS_TEST_TMPDIR/full.json" "$BATS_TEST_TMPDIR/partial.json"
	if [ "$(cat "$BATS_TEST_TMPDIR/partial.err")" != "bds-generate-hashes: $1" ]; then
		printf 'stderr differs\n--- expected\nbds-generate-hashes: %s\n--- actual\n%s\n' "$1" "$(cat "$BATS_TEST_TMPDIR/partial.err")" >&2
		return 1
	fi
	# the edit is seen at all: some hash moved
	! cmp -s "$BATS_TEST_TMPDIR/base.json" "$BATS_TEST_TMPDIR/full.json"
}

@test "a source file edit: partial, only its readers re-hashed" {
	record
	printf 'a2\n' > "$WS/a/a.txt"
	edit_commit "edit a.txt"
	partial_equals_full "partial: re-hashed 4 of 57 targets (queried 2, packages 0)"
	expect_changed "$BATS_TEST_TMPDIR/base.json" "$BATS_TEST_TMPDIR/partial.json" //a:a.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out
}

@test "a BUILD edit, a new target and a deleted one: the package is queried again" {
	record
	sed -i 's/cmd = "cp \$< \$@")$/cmd = "cp $< $@ \&\& true")/; /name = "other"/d' "$WS/a/BUILD"
	printf 'filegroup(name = "new", srcs = ["c.txt"])\n' >> "$WS/a/BUILD"
	edit_commit "edit a/BUILD"
	partial_equals_full "partial: re-hashed 12 of 57 targets (queried 12, packages 1)"
}

@test "a .bzl edit: the packages that load it are queried again" {
	record
	sed -i 's/cmd = "cp \$< \$@")/cmd = "cat $< > $@")/' "$WS/m/macros.bzl"
	edit_commit "edit macros.bzl"
	partial_equals_full "partial: re-hashed 6 of 57 targets (queried 6, packages 1)"
	printf 'def unused():\n    pass\n' >> "$WS/r/rules.bzl"
	edit_commit "edit rules.bzl"
	partial_equals_full "partial: re-hashed 12 of 57 targets (queried 12, packages 2)"
}

@test "a new file, a deleted file, an exec bit, a new package: partial" {
	record
	printf 'n\n' > "$WS/a/n.txt"
	sed -i 's/srcs = \["a.txt", "b.txt"\]/srcs = ["a.txt", "n.txt"]/' "$WS/a/BUILD"
	git -C "$WS" rm -q a/b.txt
	chmod 755 "$WS/m/x.txt"
	mkdir -p "$WS/a/sub"
	printf 'filegroup(name = "s", srcs = ["//a:c.txt"])\n' > "$WS/a/sub/BUILD"
	sed -i 's/name = "other", srcs = \["c.txt"\]/name = "other", srcs = ["c.txt"], visibility = ["\/\/a\/sub:__pkg__"]/' "$WS/a/BUILD"
	edit_commit "files"
	partial_equals_full "partial: re-hashed 18 of 59 targets (queried 18, packages 2)"
}

@test "--delta-from: only the lines that can differ from the base's hashes; bds-diff answers as against the whole" {
	local T=$BATS_TEST_TMPDIR xxh
	record
	xxh=$(xxh128sum < "$T/base.json" | cut -d' ' -f1)
	# a source file edit, a BUILD edit, a new target and a deleted one
	printf 'a2\n' > "$WS/a/a.txt"
	sed -i 's/cmd = "cp \$< \$@")$/cmd = "cp $< $@ \&\& true")/; /name = "other"/d' "$WS/a/BUILD"
	printf 'filegroup(name = "new", srcs = ["c.txt"])\n' >> "$WS/a/BUILD"
	edit_commit "edits"
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental --delta-from "$xxh" "$T/delta.json"
	[ "$stderr" = "bds-hash: delta: wrote 10 of 57 targets (the others' lines are those of the hashes $xxh)
bds-generate-hashes: partial: re-hashed 12 of 57 targets (queried 12, packages 1)" ]
	bds-generate-hashes -w "$WS" "$T/full.json"
	# exactly the full file's lines that differ from the base's, the base's others
	jq -S --slurpfile b "$T/base.json" 'with_entries(select(.value != $b[0][.key]))' "$T/full.json" > "$T/want.json"
	[ "$(jq length "$T/want.json")" -eq 10 ]
	[ "$(jq -S . "$T/delta.json")" = "$(cat "$T/want.json")" ]
	# written as every hashes file is (two-space pretty print, sorted, no final newline)
	[ "$(jq --indent 2 . "$T/delta.json" | head -c -1 | cmp - "$T/delta.json" && echo same)" = same ]
	run -0 bds-diff "$T/base.json" "$T/full.json"
	local whole=$output
	[ -n "$whole" ]
	run -0 bds-diff "$T/base.json" "$T/delta.json"
	[ "$output" = "$whole" ]
	# another file than the state's, or other output options: every line, said so
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental --delta-from 0123456789abcdef0123456789abcdef "$T/x.json"
	[ "$stderr" = "bds-hash: delta: the state was written with other hashes or output options (xxh3-128 $xxh, include-target-type 0, target-type (all)): every target written
bds-generate-hashes: partial: re-hashed 12 of 57 targets (queried 12, packages 1)" ]
	cmp "$T/full.json" "$T/x.json"
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental --delta-from "$xxh" --target-type Rule "$T/x.json"
	[ "${stderr%%$'\n'*}" = "bds-hash: delta: the state was written with other hashes or output options (xxh3-128 $xxh, include-target-type 0, target-type (all)): every target written" ]
	bds-generate-hashes -w "$WS" --target-type Rule "$T/full-rules.json"
	cmp "$T/full-rules.json" "$T/x.json"
	# a state written with types and a filter names them
	record_typed() { bds-generate-hashes -w "$WS" --record-state --include-target-type --target-type Rule,SourceFile "$T/base-typed.json"; }
	git -C "$WS" checkout -q base
	record_typed
	git -C "$WS" checkout -q -
	xxh=$(xxh128sum < "$T/base-typed.json" | cut -d' ' -f1)
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental --delta-from "$xxh" --include-target-type "$T/x.json"
	[ "${stderr%%$'\n'*}" = "bds-hash: delta: the state was written with other hashes or output options (xxh3-128 $xxh, include-target-type 1, target-type Rule SourceFile): every target written" ]
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental --delta-from "$xxh" --include-target-type --target-type Rule,SourceFile "$T/x.json"
	[[ "${stderr%%$'\n'*}" == "bds-hash: delta: wrote "*" targets (the others' lines are those of the hashes $xxh)" ]]
	bds-generate-hashes -w "$WS" --include-target-type --target-type Rule,SourceFile "$T/full-typed.json"
	run -0 bds-diff "$T/base-typed.json" "$T/full-typed.json"
	whole=$output
	[ -n "$whole" ]
	run -0 bds-diff "$T/base-typed.json" "$T/x.json"
	[ "$output" = "$whole" ]
	# usage
	run -64 --separate-stderr bds-generate-hashes -w "$WS" --delta-from "$xxh"
	[[ "$stderr" == "bds-generate-hashes: --delta-from needs --incremental"* ]]
	run -64 --separate-stderr bds-generate-hashes -w "$WS" --incremental --delta-from "${xxh^^}"
	[[ "$stderr" == "bds-generate-hashes: --delta-from takes an XXH3-128 in hex (32 lowercase hex digits)"* ]]
	run -64 --separate-stderr bds-hash -w "$WS" --delta-from "$xxh" < /dev/null
	[[ "$stderr" == "bds-hash: --delta-from needs --from-state"* ]]
	run -64 --separate-stderr bds-hash -w "$WS" --from-state "$WS/.git/bds-graph.state" --packages /dev/null --delta-from "${xxh}0" < /dev/null
	[[ "$stderr" == "bds-hash: --delta-from takes an XXH3-128 in hex"* ]]
}

@test "WORKSPACE, .bazelrc, a deleted package, no state, --keep_going: the full path says why" {
	bds-generate-hashes -w "$WS" --incremental "$BATS_TEST_TMPDIR/x.json" 2> "$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-generate-hashes: full path: no recorded graph state" ]
	record
	sed -i 's|/ext1|/ext2|' "$WS/WORKSPACE"
	edit_commit "workspace"
	partial_equals_full "full path: 'WORKSPACE' changed"
	reset_ws "$WS"
	printf 'build --jobs=1\n' > "$WS/.bazelrc"
	edit_commit "bazelrc"
	bds-generate-hashes -w "$WS" --incremental "$BATS_TEST_TMPDIR/x.json" 2> "$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-generate-hashes: full path: '.bazelrc' changed" ]
	reset_ws "$WS"
	reset_ws "$WS"
	git -C "$WS" rm -q -r r
	sed -i '/uses_one/d' "$WS/a/BUILD"
	edit_commit "no r"
	partial_equals_full "full path: package '//r' was deleted"
	reset_ws "$WS"
	printf 'z\n' > "$WS/a/c.txt"
	edit_commit "c"
	bds-generate-hashes -w "$WS" --incremental --keep_going "$BATS_TEST_TMPDIR/x.json" 2> "$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-generate-hashes: full path: --keep_going may leave packages out" ]
	# a state recorded with other hash options (the seed) is not used
	printf 'seed\n' > "$BATS_TEST_TMPDIR/seed.txt"
	printf '%s\n' "$BATS_TEST_TMPDIR/seed.txt" > "$BATS_TEST_TMPDIR/seeds"
	bds-generate-hashes -w "$WS" --incremental --seed-filepaths "$BATS_TEST_TMPDIR/seeds" "$BATS_TEST_TMPDIR/x.json" 2> "$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-generate-hashes: full path: the seed files (--seed-filepaths) or the hash options differ from the state's" ]
	bds-generate-hashes -w "$WS" --incremental --ignored-attrs tags "$BATS_TEST_TMPDIR/x.json" 2> "$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-generate-hashes: full path: the seed files (--seed-filepaths) or the hash options differ from the state's" ]
	printf '{}\n' > "$BATS_TEST_TMPDIR/content.json"
	bds-generate-hashes -w "$WS" --incremental --content-hashes "$BATS_TEST_TMPDIR/content.json" "$BATS_TEST_TMPDIR/x.json" 2> "$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-generate-hashes: full path: --content-hashes reads what git's diff does not show" ]
	# a checkout converts files by it (eol, filters) with no change of theirs in the diff
	printf '*.txt text eol=crlf\n' > "$WS/.gitattributes"
	edit_commit "gitattributes" 2>/dev/null
	# the worktree as a fresh checkout of that commit has it
	rm "$WS/.git/index" && git -C "$WS" reset -q --hard
	bds-generate-hashes -w "$WS" --incremental "$BATS_TEST_TMPDIR/x.json" 2> "$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-generate-hashes: full path: '.gitattributes' changed" ]
	# LF files again for the next test: without the attributes, every file written anew
	git -C "$WS" rm -q .gitattributes
	rm "$WS/.git/index" && git -C "$WS" reset -q --hard base
}

# full_path_says REASON: the incremental answer of the worktree is the full one, and its
# stderr is exactly "full path: REASON"
full_path_says() {
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental "$BATS_TEST_TMPDIR/x.json"
	[ "$stderr" = "bds-generate-hashes: full path: $1" ] ||
		{ printf 'expected: full path: %s\nactual: %s\n' "$1" "$stderr" >&2; return 1; }
	bds-generate-hashes -w "$WS" "$BATS_TEST_TMPDIR/full.json"
	cmp "$BATS_TEST_TMPDIR/full.json" "$BATS_TEST_TMPDIR/x.json"
}

@test "a worktree that is not its commit's tree, other Bazel options: the full path; a dirty record keeps no state" {
	record
	# git's diff of two commits sees none of these: a change not committed, an untracked
	# file, an ignored one
	printf 'a2\n' > "$WS/a/a.txt"
	full_path_says "the worktree differs from HEAD at 'a/a.txt'"
	# (unless the caller vouches for it: no git status then)
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental --worktree-is-clean "$BATS_TEST_TMPDIR/x.json"
	[ "$stderr" = "bds-generate-hashes: partial: re-hashed 0 of 57 targets (queried 0, packages 0)" ]
	git -C "$WS" checkout -q a/a.txt
	printf 'n\n' > "$WS/a/new.txt"
	full_path_says "the worktree differs from HEAD at 'a/new.txt'"
	rm "$WS/a/new.txt"
	printf '*.local\nbazel-*\n' > "$WS/.git/info/exclude"
	printf 'n\n' > "$WS/a/x.local"
	full_path_says "the worktree differs from HEAD at 'a/x.local'"
	rm "$WS/a/x.local"
	# Bazel's own output links, ignored, do not count
	mkdir "$BATS_TEST_TMPDIR/out"
	ln -s "$BATS_TEST_TMPDIR/out" "$WS/bazel-ws"
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental "$BATS_TEST_TMPDIR/x.json"
	[ "$stderr" = "bds-generate-hashes: partial: re-hashed 0 of 57 targets (queried 0, packages 0)" ]
	# the state was recorded with other Bazel options
	full_path_says_co() {
		run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental "$@" "$BATS_TEST_TMPDIR/x.json"
		[ "$stderr" = "bds-generate-hashes: full path: the Bazel options or --exclude-external-targets differ from the state's" ]
	}
	full_path_says_co -co --noimplicit_deps
	full_path_says_co --exclude-external-targets
	# the output base is not an option that changes the answer (here: the one in use)
	ob=$(cd "$WS" && bazel info output_base 2>/dev/null)
	[ -d "$ob" ]
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental --startup-option "--output_base=$ob" "$BATS_TEST_TMPDIR/x.json"
	[ "$stderr" = "bds-generate-hashes: partial: re-hashed 0 of 57 targets (queried 0, packages 0)" ]
	# a record in a dirty worktree writes no state (the last one stays, with its options)
	printf 'a3\n' > "$WS/a/a.txt"
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --record-state -co --noimplicit_deps "$BATS_TEST_TMPDIR/y.json"
	[ "$stderr" = "bds-generate-hashes: no graph state recorded: the worktree differs from HEAD at 'a/a.txt'" ]
	git -C "$WS" checkout -q a/a.txt
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --incremental "$BATS_TEST_TMPDIR/x.json"
	[ "$stderr" = "bds-generate-hashes: partial: re-hashed 0 of 57 targets (queried 0, packages 0)" ]
	cmp "$BATS_TEST_TMPDIR/base.json" "$BATS_TEST_TMPDIR/x.json"
	# without the options beside the state: the full path
	rm "$WS/.git/bds-graph.state.query"
	full_path_says "the Bazel options or --exclude-external-targets differ from the state's"
}

@test "an unchanged revision: nothing queried, the base hashes exactly" {
	record
	bds-generate-hashes -w "$WS" --incremental "$BATS_TEST_TMPDIR/same.json" 2> "$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bds-generate-hashes: partial: re-hashed 0 of 57 targets (queried 0, packages 0)" ]
	cmp "$BATS_TEST_TMPDIR/base.json" "$BATS_TEST_TMPDIR/same.json"
}

@test "--record-state and --incremental exclude each other; bds-plan: usage 64, a bad state is the full path" {
	run -64 --separate-stderr bds-generate-hashes -w "$WS" --record-state --incremental
	[[ "$stderr" == "bds-generate-hashes: --record-state and --incremental exclude each other"* ]]
	run -64 --separate-stderr bds-plan
	[[ "$stderr" == *"-w, --state, --query-out and --packages-out are required"* ]]
	run -64 bds-plan -w "$WS" --state x --query-out q --packages-out p extra
	run -64 bds-plan --bogus
	run -0 bds-plan --help
	[[ "${lines[0]}" == "usage: bds-plan -w WORKSPACE"* ]]
	printf 'not a state\n' > "$BATS_TEST_TMPDIR/bad.state"
	run -3 --separate-stderr bds-plan -w "$WS" --state "$BATS_TEST_TMPDIR/bad.state" \
		--query-out "$BATS_TEST_TMPDIR/q" --packages-out "$BATS_TEST_TMPDIR/p"
	[[ "$stderr" == "bds-plan: full path: "* ]]
	[ ! -e "$BATS_TEST_TMPDIR/q" ]
	[ ! -e "$BATS_TEST_TMPDIR/p" ]
}

@test "bds-plan: the packages and labels to query for a BUILD edit and a source edit" {
	record
	printf 'filegroup(name = "more", srcs = ["x.txt"])\n' >> "$WS/m/BUILD"
	printf 'b2\n' > "$WS/a/b.txt"
	edit_commit "plan"
	run -0 bds-plan -w "$WS" --state "$WS/.git/bds-graph.state" --query-out "$BATS_TEST_TMPDIR/q" --packages-out "$BATS_TEST_TMPDIR/p"
	[ "$output" = "bds-plan: 2 changed paths since $(git -C "$WS" rev-parse base): 1 packages and 2 targets to query" ]
	[ "$(cat "$BATS_TEST_TMPDIR/p")" = "m" ]
	# the package whose BUILD changed, whole; the edited file and the rule that reads it
	# (//a:gen and the rest take their new hashes from these and the state's edges)
	[ "$(cat "$BATS_TEST_TMPDIR/q")" = "'//m:all-targets' + '//a:b.txt' + '//a:srcs'" ]
}

# Tests bench/gen-workspace: usage, output shape, determinism, failures, and a real Bazel query.

bats_require_minimum_version 1.5.0

setup() {
	GEN="$BATS_TEST_DIRNAME/../bench/gen-workspace"
	OUT="$BATS_TEST_TMPDIR/ws"
}

# Stops the Bazel server even when the test failed half-way.
teardown() {
	if [ -n "${BAZEL_WS:-}" ]; then
		cd "$BAZEL_WS" && bazel_run shutdown
	fi
}

bazel_run() {
	bazel --output_user_root="$BATS_RUN_TMPDIR/bazel-root" --max_idle_secs=30 "$@"
}

@test "usage: no arguments exits 64 with a usage line" {
	run -64 --separate-stderr "$GEN"
	[ "$output" = "" ]
	[[ "$stderr" == *"usage: gen-workspace OUT --targets N"* ]]
}

@test "usage: missing --targets exits 64" {
	run -64 --separate-stderr "$GEN" "$OUT"
	[ "$output" = "" ]
	[[ "$stderr" == *"gen-workspace: --targets is required"* ]]
	[[ "$stderr" == *"usage: gen-workspace "* ]]
	[ ! -e "$OUT" ]
}

@test "usage: bad values and unknown options exit 64" {
	run -64 "$GEN" "$OUT" --targets
	run -64 "$GEN" "$OUT" --targets abc
	run -64 "$GEN" "$OUT" --targets 1e3
	run -64 "$GEN" "$OUT" --targets 300 --layers 0
	run -64 "$GEN" "$OUT" --targets 300 --fanout -1
	run -64 "$GEN" "$OUT" --targets 300 --bogus
	run -64 "$GEN" "$OUT" "$OUT.2" --targets 300
	run -64 "$GEN" "$OUT" --targets 12
	[ ! -e "$OUT" ]
}

@test "--help prints the usage on stdout and exits 0" {
	run -0 --separate-stderr "$GEN" --help
	[ "$output" = "usage: gen-workspace OUT --targets N [--layers L] [--fanout F] [--seed S]" ]
	[ "$stderr" = "" ]
}

@test "generates a repository and prints exactly the base and change commits" {
	run -0 --separate-stderr "$GEN" "$OUT" --targets 300
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" =~ ^base\ [0-9a-f]{40}$ ]]
	[[ "${lines[1]}" =~ ^change\ [0-9a-f]{40}$ ]]
	[ "${lines[0]#base }" = "$(git -C "$OUT" rev-parse base)" ]
	[ "${lines[1]#change }" = "$(git -C "$OUT" rev-parse change)" ]
	[ "$(git -C "$OUT" rev-parse HEAD)" = "${lines[1]#change }" ]
	[ "$(git -C "$OUT" rev-parse change~1)" = "${lines[0]#base }" ]
	[ "$(git -C "$OUT" status --porcelain)" = "" ]
	[ "$(cat "$OUT/WORKSPACE")" = 'workspace(name = "bench")' ]
	[ "$(cat "$OUT/.bazelignore")" = ".git" ]
	[ "$(git -C "$OUT" config gc.auto)" = "0" ]
	[ "$(git -C "$OUT" config core.autocrlf)" = "false" ]
	[ -x "$OUT/tools/stamp.sh" ]
	git -C "$OUT" ls-files -s tools/stamp.sh | grep -q '^100755 '
}

@test "the change commit edits a source file and BUILD files but no .bzl file" {
	run -0 "$GEN" "$OUT" --targets 300
	run -0 git -C "$OUT" diff --name-only base change
	[[ "$output" == *"/unit0.txt"* ]]
	[[ "$output" == *"/BUILD"* ]]
	[[ "$output" != *".bzl"* ]]
	run -0 git -C "$OUT" diff base change
	[[ "$output" == *'+    name = "extra",'* ]]
	[[ "$output" == *'+    cmd = "cat $(SRCS) > $@ && echo changed >> $@",'* ]]
}

@test "the same arguments give the same commits, another seed different ones" {
	run -0 "$GEN" "$OUT.a" --targets 300 --seed 7
	first=$output
	run -0 "$GEN" "$OUT.b" --targets 300 --seed 7
	[ "$output" = "$first" ]
	run -0 "$GEN" "$OUT.c" --targets 300 --seed 8
	[ "$output" != "$first" ]
}

@test "an existing empty directory is accepted" {
	mkdir "$OUT"
	run -0 "$GEN" "$OUT" --targets 100
	[ "${#lines[@]}" -eq 2 ]
}

@test "a non-empty OUT exits 1 and is left alone" {
	mkdir "$OUT"
	echo keep >"$OUT/file"
	run -1 --separate-stderr "$GEN" "$OUT" --targets 300
	[ "$output" = "" ]
	[[ "$stderr" == "gen-workspace: "*"directory not empty"* ]]
	[ "$(ls -A "$OUT")" = "file" ]
	[ "$(cat "$OUT/file")" = "keep" ]
}

@test "an OUT that is a file exits 1" {
	echo keep >"$OUT"
	run -1 --separate-stderr "$GEN" "$OUT" --targets 300
	[ "$output" = "" ]
	[[ "$stderr" == "gen-workspace: "*"not a directory"* ]]
	[ "$(cat "$OUT")" = "keep" ]
}

@test "bazel query finds the requested number of targets and sees the change" {
	n=300
	run -0 "$GEN" "$OUT" --targets "$n"
	BAZEL_WS=$OUT
	cd "$OUT"
	git checkout -q base
	bazel_run query '//...:all-targets' --output=label >"$BATS_TEST_TMPDIR/base.txt"
	git checkout -q change
	bazel_run query '//...:all-targets' --output=label >"$BATS_TEST_TMPDIR/change.txt"

	count=$(wc -l <"$BATS_TEST_TMPDIR/base.txt")
	echo "bazel found $count targets, asked for $n"
	[ "$count" -ge $((n * 9 / 10)) ]
	[ "$count" -le $((n * 11 / 10)) ]
	grep -qx '//tools:stamp.sh' "$BATS_TEST_TMPDIR/base.txt"
	run -1 cmp -s "$BATS_TEST_TMPDIR/base.txt" "$BATS_TEST_TMPDIR/change.txt"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/change.txt")" -eq $((count + 1)) ]
	grep -q ':extra$' "$BATS_TEST_TMPDIR/change.txt"
}

# bds-generate-hashes: bazel-diff's query (docs/algorithm.md 1.1) piped into bds-hash, on a real Bazel
# workspace: usage, the exact pipeline, failures, --keep_going, atomic OUT.

load helpers
load bds-hash-helpers

setup_file() {
	export WS="$BATS_FILE_TMPDIR/ws"
	new_workspace "$WS"
	mkdir -p "$WS/p" "$WS/q"
	printf 'p\n' > "$WS/p/p.txt"
	printf 'genrule(name = "g", srcs = ["p.txt"], outs = ["g.out"], cmd = "cp $< $@")\n' > "$WS/p/BUILD"
	printf 'filegroup(name = "q", srcs = ["//p:g.out"])\n' > "$WS/q/BUILD"
	commit_all "$WS" base >/dev/null
	git -C "$WS" tag base
}

teardown_file() {
	stop_bazel "$WS"
}

setup() {
	reset_ws "$WS"
	OUT="$BATS_TEST_TMPDIR/out.json"
}

@test "the output is bazel-diff's query piped into bds-hash, byte for byte" {
	run -0 --separate-stderr bds-generate-hashes -w "$WS" "$OUT"
	[ "$output" = "" ]
	query_stream "$WS" "$BATS_TEST_TMPDIR/stream.bin"
	bds-hash -w "$WS" < "$BATS_TEST_TMPDIR/stream.bin" > "$BATS_TEST_TMPDIR/manual.json"
	cmp "$BATS_TEST_TMPDIR/manual.json" "$OUT"
	run -0 jq -r 'keys[] | select(startswith("//external:") | not)' "$OUT"
	[ "$output" = "//p:BUILD
//p:g
//p:g.out
//p:p.txt
//q:BUILD
//q:q" ]
	# without OUT the hashes go to stdout, unchanged
	bds-generate-hashes -w "$WS" > "$BATS_TEST_TMPDIR/stdout.json"
	cmp "$OUT" "$BATS_TEST_TMPDIR/stdout.json"
	# a relative workspace path works the same
	cd "$WS/.."
	bds-generate-hashes -w ws > "$BATS_TEST_TMPDIR/rel.json"
	cmp "$OUT" "$BATS_TEST_TMPDIR/rel.json"
}

@test "bds-hash options pass through; --exclude-external-targets drops //external" {
	bds-generate-hashes -w "$WS" --include-target-type --target-type Rule,GeneratedFile \
		--dep-edges "$BATS_TEST_TMPDIR/deps.json" "$OUT"
	run -0 jq -r '.["//p:g.out"], .["//q:q"] | split("#")[0]' "$OUT"
	[ "$output" = "GeneratedFile
Rule" ]
	run -0 jq 'has("//p:p.txt")' "$OUT"
	[ "$output" = false ]
	run -0 jq -c '.["//q:q"]' "$BATS_TEST_TMPDIR/deps.json"
	[ "$output" = '["//p:g.out"]' ]
	printf 'x\n' > "$BATS_TEST_TMPDIR/seed"
	printf '%s\n' "$BATS_TEST_TMPDIR/seed" > "$BATS_TEST_TMPDIR/seeds"
	bds-generate-hashes -w "$WS" --seed-filepaths "$BATS_TEST_TMPDIR/seeds" --ignored-attrs "cmd,it's" "$OUT"
	run -0 jq -r 'length' "$OUT"
	[ "$output" -gt 6 ]
	bds-generate-hashes -w "$WS" --exclude-external-targets "$OUT"
	run -0 jq -r 'keys | join(" ")' "$OUT"
	[ "$output" = "//p:BUILD //p:g //p:g.out //p:p.txt //q:BUILD //q:q" ]
}

@test "usage errors exit 64" {
	run -64 --separate-stderr bds-generate-hashes
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-generate-hashes: missing -w WORKSPACE" ]
	[[ "${stderr_lines[1]}" == "usage: bds-generate-hashes -w WORKSPACE "* ]]
	run -64 --separate-stderr bds-generate-hashes -w "$WS" --bogus "$OUT"
	[ "${stderr_lines[0]}" = "bds-generate-hashes: unknown option '--bogus'" ]
	run -64 bds-generate-hashes -w "$WS" "$OUT" "$OUT.2"
	run -64 bds-generate-hashes -w
	run -64 bds-generate-hashes -w "$WS" --target-type
	run -64 --separate-stderr bds-generate-hashes -w "$WS" --target-type Foo "$OUT"
	[[ "$stderr" == *"bds-hash: unknown target type 'Foo'"* ]]
	# no type at all would hash nothing: an answer of "nothing impacted"
	run -64 --separate-stderr bds-generate-hashes -w "$WS" --target-type "" "$OUT"
	[ "${stderr_lines[0]}" = "bds-hash: --target-type needs at least one of Rule, SourceFile or GeneratedFile" ]
	run -64 --separate-stderr bds-hash -w "$WS" --target-type , < /dev/null
	[ "${stderr_lines[0]}" = "bds-hash: --target-type needs at least one of Rule, SourceFile or GeneratedFile" ]
	[ ! -e "$OUT" ]
}

@test "a missing workspace or Bazel exits 1" {
	run -1 --separate-stderr bds-generate-hashes -w "$BATS_TEST_TMPDIR/none" "$OUT"
	[ "$stderr" = "bds-generate-hashes: workspace '$BATS_TEST_TMPDIR/none': not a directory" ]
	run -1 --separate-stderr bds-generate-hashes -w "$WS" -b "$BATS_TEST_TMPDIR/no-bazel" "$OUT"
	[ "$stderr" = "bds-generate-hashes: bazel '$BATS_TEST_TMPDIR/no-bazel': not found" ]
	[ ! -e "$OUT" ]
}

@test "a BUILD syntax error exits 1 with Bazel's message; OUT is neither created nor touched" {
	printf 'filegroup(name = "q", srcs = [\n' > "$WS/q/BUILD"
	run -1 --separate-stderr bds-generate-hashes -w "$WS" "$OUT"
	[ "$output" = "" ]
	[[ "$stderr" == *"ERROR: "*"q/BUILD"* ]]
	[[ "$stderr" == *"bds-generate-hashes: bazel query failed with exit 7 in '$WS'"* ]]
	[ ! -e "$OUT" ]
	# an existing OUT keeps its old content, and no temporary file is left beside it
	printf 'old' > "$OUT"
	run -1 bds-generate-hashes -w "$WS" "$OUT"
	[ "$(cat "$OUT")" = old ]
	[ "$(ls "$BATS_TEST_TMPDIR" | grep -c 'out.json')" = 1 ]
}

@test "--keep_going with a broken package: exit 0, a warning, the other packages hashed" {
	printf 'filegroup(name = "q", srcs = [\n' > "$WS/q/BUILD"
	run -0 --separate-stderr bds-generate-hashes -w "$WS" --keep_going "$OUT"
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-generate-hashes: warning: bazel query exit 3 with --keep_going: some packages are missing"* ]]
	run -0 jq -r 'keys[] | select(startswith("//external:") | not)' "$OUT"
	# the broken package keeps only its BUILD file target; //q:q is missing
	[ "$output" = "//p:BUILD
//p:g
//p:g.out
//p:p.txt
//q:BUILD" ]
}

@test "OUT is replaced atomically: a failed hash step leaves the old file, success replaces it" {
	printf 'old' > "$OUT"
	# a cycle makes bds-hash fail after a successful query
	printf 'filegroup(name = "q", srcs = [":r"])\n\nfilegroup(name = "r", srcs = [":q"])\n' > "$WS/q/BUILD"
	run -1 --separate-stderr bds-generate-hashes -w "$WS" "$OUT"
	[[ "$stderr" == *"bds-hash: circular dependency detected: "* ]]
	[ "$(cat "$OUT")" = old ]
	reset_ws "$WS"
	ln "$OUT" "$BATS_TEST_TMPDIR/link"
	run -0 bds-generate-hashes -w "$WS" "$OUT"
	# renamed over, not rewritten in place: the old inode (still linked) keeps "old"
	[ "$(cat "$BATS_TEST_TMPDIR/link")" = old ]
	run -0 jq -r '.["//q:q"] | test("^[0-9a-f]{64}~[0-9a-f]{64}$")' "$OUT"
	[ "$output" = true ]
	[ "$(ls -a "$BATS_TEST_TMPDIR" | grep -c '^out.json')" = 1 ]
}

@test "OUT and --dep-edges as cp and > write them: a device or FIFO in place, a symlink followed" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (mknod)"
	local T=$BATS_TEST_TMPDIR
	# a copy of /dev/null, never the real one: renaming over it would replace the node
	mknod "$T/null" c 1 3
	chmod 666 "$T/null"
	run -0 bds-generate-hashes -w "$WS" --dep-edges "$T/null" "$T/null"
	[ -c "$T/null" ]
	[ "$(stat -c %t:%T:%a "$T/null")" = 1:3:666 ]
	mkfifo "$T/fifo"
	cat "$T/fifo" > "$OUT" &
	run -0 bds-generate-hashes -w "$WS" "$T/fifo"
	wait
	[ -p "$T/fifo" ]
	run -0 jq -r '.["//q:q"] | test("^[0-9a-f]{64}~[0-9a-f]{64}$")' "$OUT"
	[ "$output" = true ]
	# a symlink's target is replaced beside it; the link stays
	printf 'old' > "$T/target"
	ln -s target "$T/link"
	run -0 bds-generate-hashes -w "$WS" "$T/link"
	[ -L "$T/link" ]
	cmp "$T/target" "$OUT"
	ln -s made "$T/dangling"
	run -0 bds-generate-hashes -w "$WS" "$T/dangling"
	cmp "$T/made" "$OUT"
	mkdir "$T/dir"
	run -1 --separate-stderr bds-generate-hashes -w "$WS" "$T/dir"
	[ "$stderr" = "bds-generate-hashes: open '$T/dir': Is a directory" ]
	[ -z "$(find "$T" -name '*.tmp.*')" ]
}

@test "OUT: a FIFO with no reader is 1 at once, never a hang; /dev/stdout reaches a pipe or a file" {
	local T=$BATS_TEST_TMPDIR
	mkfifo "$T/fifo"
	run -1 --separate-stderr timeout 300 bds-generate-hashes -w "$WS" "$T/fifo"
	[ "$output" = "" ]
	[ "$stderr" = "bds-generate-hashes: open '$T/fifo': a FIFO with no reader" ]
	run -0 bds-generate-hashes -w "$WS" "$OUT"
	run -0 --separate-stderr bash -c 'bds-generate-hashes -w "$1" /dev/stdout | cat' _ "$WS"
	[ "$output" = "$(cat "$OUT")" ]
	[ "$stderr" = "" ]
	run -0 bash -c 'bds-generate-hashes -w "$1" /dev/stdout > "$2"' _ "$WS" "$T/file"
	cmp "$OUT" "$T/file"
	# a dangling link into a missing directory: the message names OUT
	ln -s nodir/x "$T/into-nothing"
	run -1 --separate-stderr bds-generate-hashes -w "$WS" "$T/into-nothing"
	[ "$stderr" = "bds-generate-hashes: create '$T/into-nothing': No such file or directory" ]
	[ -z "$(find "$T" -name '*.tmp.*')" ]
}

# bds-hash: bazel-diff-compatible hashes from streamed_proto. Edits on one real Bazel
# workspace, each checked against the exact set of changed labels (docs/algorithm.md 2),
# the options, the output format, and bad input.

load helpers
load bds-hash-helpers

setup_file() {
	export WS="$BATS_FILE_TMPDIR/ws" EXT="$BATS_FILE_TMPDIR/ext"
	export BASE="$BATS_FILE_TMPDIR/base.json" STREAM="$BATS_FILE_TMPDIR/base.bin"
	hash_fixture_ws "$WS" "$EXT"
	hash_workspace "$WS" "$BASE"
	BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR query_stream "$WS" "$STREAM"
}

teardown_file() {
	stop_bazel "$WS"
}

setup() {
	reset_ws "$WS"
	AFTER="$BATS_TEST_TMPDIR/after.json"
}

# --- the workspace and the edits ----------------------------------------------------------

@test "base: every main-repo target is hashed, the package group is not" {
	run -0 jq -r 'keys[] | select(startswith("//external:") | not)' "$BASE"
	[ "$output" = "//a:BUILD
//a:a.txt
//a:b.txt
//a:c.txt
//a:gen
//a:gen.out
//a:gen2
//a:gen2.out
//a:other
//a:srcs
//a:uses_ext
//a:uses_ext.out
//m:BUILD
//m:d_a
//m:d_a.out
//m:d_fg
//m:plain
//m:x.txt
//r:BUILD
//r:one
//r:two
//r:unrelated
//r:uses_one
//r:y.txt" ]
	run -0 jq -r '.["//external:extrepo"], .["//external:WORKSPACE"] | test("^[0-9a-f]{64}~[0-9a-f]{64}$")' "$BASE"
	[ "$output" = "true
true" ]
}

@test "hashes equal an independent model of the spec on the real query output" {
	python3 "$HASH_FIXTURES/model.py" "$WS" --include-target-type < "$STREAM" > "$BATS_TEST_TMPDIR/model.json"
	bds-hash -w "$WS" --include-target-type < "$STREAM" | jq -cS . > "$BATS_TEST_TMPDIR/bds.json"
	cmp "$BATS_TEST_TMPDIR/model.json" "$BATS_TEST_TMPDIR/bds.json"
	printf 'seed one\n' > "$BATS_TEST_TMPDIR/seed.txt"
	printf '%s\n' "$BATS_TEST_TMPDIR/seed.txt" > "$BATS_TEST_TMPDIR/seeds"
	python3 "$HASH_FIXTURES/model.py" "$WS" --seed-filepaths "$BATS_TEST_TMPDIR/seeds" < "$STREAM" \
		> "$BATS_TEST_TMPDIR/model.json"
	bds-hash -w "$WS" --seed-filepaths "$BATS_TEST_TMPDIR/seeds" < "$STREAM" | jq -cS . > "$BATS_TEST_TMPDIR/bds.json"
	cmp "$BATS_TEST_TMPDIR/model.json" "$BATS_TEST_TMPDIR/bds.json"
}

@test "hashing the same tree again changes nothing" {
	hash_workspace "$WS" "$AFTER"
	cmp "$BASE" "$AFTER"
}

@test "genrules and filegroups: content and attribute edits change exactly their dependants" {
	printf 'c2\n' > "$WS/a/c.txt"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //a:c.txt //a:other

	reset_ws "$WS"
	printf 'a2\n' > "$WS/a/a.txt"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //a:a.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out

	reset_ws "$WS"
	sed -i '/name = "gen2"/s/cmd = "cp \$< \$@"/cmd = "cp -f $< $@"/' "$WS/a/BUILD"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //a:BUILD //a:gen2 //a:gen2.out

	reset_ws "$WS"
	printf 'd\n' > "$WS/a/d.txt"
	sed -i 's/srcs = \["c.txt"\]/srcs = ["c.txt", "d.txt"]/' "$WS/a/BUILD"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //a:BUILD //a:d.txt //a:other
}

@test "macro in a .bzl file: a body edit changes only the rules it produced" {
	printf '    # edited\n' >> "$WS/m/macros.bzl"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //m:d_a //m:d_a.out //m:d_fg

	reset_ws "$WS"
	printf 'def unused():\n    pass\n' > "$WS/m/unused.bzl"
	printf 'def unused():\n    pass\n' > "$WS/unrelated.bzl"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER"
}

@test "rule defined in a .bzl file: an implementation edit changes its instances and their dependants" {
	sed -i 's/"hello"/"bye"/' "$WS/r/rules.bzl"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //r:one //r:two //r:uses_one
	# through $rule_implementation_hash alone: the instances' .bzl seed is constant
	run -0 jq -r '.["//r:one"] | split("~")[1]' "$BASE"
	old=$output
	run -0 jq -r '.["//r:one"] | split("~")[1]' "$AFTER"
	[ "$output" != "$old" ]
}

@test "local_repository: an attribute change changes //external:<name> and its dependants" {
	sed -i "s|$EXT/ext1|$EXT/ext2|" "$WS/WORKSPACE"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //a:uses_ext //a:uses_ext.out //external:extrepo

	# a WORKSPACE comment and the repository's contents are not seen (docs/algorithm.md 5.2)
	reset_ws "$WS"
	printf '# a comment\n' >> "$WS/WORKSPACE"
	printf 'changed\n' > "$EXT/ext1/f.txt"
	run hash_workspace "$WS" "$AFTER"
	printf 'external\n' > "$EXT/ext1/f.txt"
	[ "$status" -eq 0 ]
	expect_changed "$BASE" "$AFTER"
}

@test "exec bit: the owner bit changes the file and its dependants, group and other bits nothing" {
	chmod u+x "$WS/a/a.txt"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //a:a.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out

	chmod 644 "$WS/a/a.txt"
	chmod g+x,o+x "$WS/a/a.txt"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER"

	# the bit is read through a symlink
	chmod 644 "$WS/a/a.txt"
	printf 'a\n' > "$BATS_TEST_TMPDIR/real.txt"
	chmod 755 "$BATS_TEST_TMPDIR/real.txt"
	ln -sf "$BATS_TEST_TMPDIR/real.txt" "$WS/a/a.txt"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //a:a.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out
	chmod 644 "$BATS_TEST_TMPDIR/real.txt"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER"
}

@test "empty and missing source files hash differently from each other and from the original" {
	: > "$WS/a/b.txt"
	hash_workspace "$WS" "$BATS_TEST_TMPDIR/empty.json"
	expect_changed "$BASE" "$BATS_TEST_TMPDIR/empty.json" //a:b.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out
	rm "$WS/a/b.txt"
	hash_workspace "$WS" "$BATS_TEST_TMPDIR/missing.json"
	expect_changed "$BASE" "$BATS_TEST_TMPDIR/missing.json" //a:b.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out
	expect_changed "$BATS_TEST_TMPDIR/empty.json" "$BATS_TEST_TMPDIR/missing.json" \
		//a:b.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out

	# a directory in place of the file contributes nothing at all: neither bytes nor markers
	mkdir "$WS/a/b.txt"
	hash_workspace "$WS" "$BATS_TEST_TMPDIR/dir.json"
	printf 'inside\n' > "$WS/a/b.txt/f"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BATS_TEST_TMPDIR/dir.json" "$AFTER"
	expect_changed "$BATS_TEST_TMPDIR/empty.json" "$AFTER" //a:b.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out
}

@test "package_group: in the query output, not in the hashes; changing it changes nothing (known false negative)" {
	cd "$WS"
	run -0 --separate-stderr bazel query --output label_kind "//a:*"
	[[ "$output" == *"package group //a:friends"* ]]
	run -0 jq 'has("//a:friends")' "$BASE"
	[ "$output" = false ]
	sed -i 's|packages = \["//a/..."\]|packages = ["//a/...", "//m/..."]|' "$WS/a/BUILD"
	hash_workspace "$WS" "$AFTER"
	# only the BUILD file's own content hash moves
	expect_changed "$BASE" "$AFTER" //a:BUILD
}

@test "cycle: exit 1 naming the cycle, no output file" {
	mkdir "$WS/cyc"
	printf 'filegroup(name = "x", srcs = [":y"])\n\nfilegroup(name = "y", srcs = [":x"])\n' > "$WS/cyc/BUILD"
	run -1 --separate-stderr hash_workspace "$WS" "$AFTER"
	[ "$output" = "" ]
	# --order_output=no: the cycle may be entered from either rule
	[[ "$stderr" == *"bds-hash: circular dependency detected: //cyc:x -> //cyc:y -> //cyc:x"* ||
	   "$stderr" == *"bds-hash: circular dependency detected: //cyc:y -> //cyc:x -> //cyc:y"* ]]
	[ ! -e "$AFTER" ]
}

@test "self-input is not a cycle (hand-made stream: Bazel rejects it)" {
	printf '[{"rule": "//:r", "inputs": ["//:r.out"]}, {"generated": "//:r.out", "by": "//:r"}]' |
		make_proto > "$BATS_TEST_TMPDIR/self.bin"
	run -0 bds-hash -w "$BATS_TEST_TMPDIR" < "$BATS_TEST_TMPDIR/self.bin"
	[[ "$output" == *'"//:r.out": '* ]]
	# a two-rule cycle in the same form is one
	printf '[{"rule": "//:a", "inputs": ["//:b.out"]}, {"generated": "//:b.out", "by": "//:b"},
	         {"rule": "//:b", "inputs": ["//:a"]}]' | make_proto > "$BATS_TEST_TMPDIR/cyc.bin"
	run -1 --separate-stderr bds-hash -w "$BATS_TEST_TMPDIR" < "$BATS_TEST_TMPDIR/cyc.bin"
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: circular dependency detected: //:a -> //:b -> //:a" ]
}

# --- options ------------------------------------------------------------------------------

@test "--include-target-type: Type#<64hex>~<64hex>; SourceFile overall==direct; GeneratedFile == its rule" {
	run -0 bds-hash -w "$WS" --include-target-type -o "$AFTER" < "$STREAM"
	[ "$output" = "" ]
	run -0 jq -r 'to_entries[] | select(.value | test("^(Rule|SourceFile|GeneratedFile)#[0-9a-f]{64}~[0-9a-f]{64}$") | not) | .key' "$AFTER"
	[ "$output" = "" ]
	run -0 jq -r '.["//a:a.txt"], .["//a:gen"], .["//a:gen.out"], .["//m:d_a.out"], .["//m:d_a"]' "$AFTER"
	src=${lines[0]} rule=${lines[1]} gen=${lines[2]} mgen=${lines[3]} mrule=${lines[4]}
	[[ "$src" == SourceFile#* ]]
	s=${src#SourceFile#}
	[ "${s%~*}" = "${s#*~}" ]
	[ "$gen" = "GeneratedFile#${rule#Rule#}" ]
	[ "$mgen" = "GeneratedFile#${mrule#Rule#}" ]
	# without the prefix the values are the untyped ones
	run -0 jq -r 'to_entries | map(.key + " " + (.value | sub("^[A-Za-z]+#"; ""))) | .[]' "$AFTER"
	typed=$output
	run -0 jq -r 'to_entries | map(.key + " " + .value) | .[]' "$BASE"
	[ "$typed" = "$output" ]
	# every source file is SourceFile, every generated file GeneratedFile
	run -0 jq -r '[.[] | split("#")[0]] | group_by(.) | map("\(.[0]) \(length)") | .[]' "$AFTER"
	[ "${lines[0]}" = "GeneratedFile 4" ]
}

@test "--target-type keeps only the listed types, values unchanged" {
	run -0 bds-hash -w "$WS" --target-type Rule,GeneratedFile --include-target-type -o "$AFTER" < "$STREAM"
	run -0 jq -r '[.[] | split("#")[0]] | unique | .[]' "$AFTER"
	[ "$output" = "GeneratedFile
Rule" ]
	run -0 jq -r '.["//a:gen"]' "$AFTER"
	[ "$output" = "Rule#$(jq -r '.["//a:gen"]' "$BASE")" ]
	run -0 --separate-stderr bds-hash -w "$WS" --target-type SourceFile < "$STREAM"
	[ "$(printf '%s' "$output" | jq -r 'keys | map(select(startswith("//a:"))) | join(" ")')" = "//a:BUILD //a:a.txt //a:b.txt //a:c.txt" ]
	# the filter applies to the dep edges too: source files have none, so nothing is left
	run -0 bds-hash -w "$WS" --target-type SourceFile --dep-edges "$BATS_TEST_TMPDIR/deps.json" -o "$AFTER" < "$STREAM"
	[ "$(cat "$BATS_TEST_TMPDIR/deps.json")" = "{}" ]
}

@test "--dep-edges: exact JSON on a small graph; on the workspace, rule and generated-file inputs only" {
	printf '[{"rule": "//:a", "inputs": ["//:b.out", "//:s.txt", "//:c", "//:zz_unknown"]},
	         {"generated": "//:b.out", "by": "//:b"}, {"rule": "//:b"}, {"rule": "//:c"},
	         {"source": "//:s.txt"}, {"package_group": "//:pg"}]' | make_proto > "$BATS_TEST_TMPDIR/g.bin"
	run -0 bds-hash -w "$BATS_TEST_TMPDIR" --dep-edges "$BATS_TEST_TMPDIR/deps.json" -o "$AFTER" < "$BATS_TEST_TMPDIR/g.bin"
	printf '{\n  "//:a": [\n    "//:b.out",\n    "//:c"\n  ],\n  "//:b": [],\n  "//:b.out": [\n    "//:b"\n  ],\n  "//:c": []\n}' \
		> "$BATS_TEST_TMPDIR/expected.json"
	cmp "$BATS_TEST_TMPDIR/expected.json" "$BATS_TEST_TMPDIR/deps.json"
	# the hashes do not depend on whether edges are tracked
	run -0 bds-hash -w "$BATS_TEST_TMPDIR" < "$BATS_TEST_TMPDIR/g.bin"
	[ "$output" = "$(cat "$AFTER")" ]

	run -0 bds-hash -w "$WS" --dep-edges "$BATS_TEST_TMPDIR/deps.json" -o "$AFTER" < "$STREAM"
	cmp "$BASE" "$AFTER"
	run -0 jq -c '{"//a:gen2", "//a:gen", "//a:gen.out", "//a:srcs", "//a:uses_ext", "//r:uses_one", "//m:d_a"}' \
		"$BATS_TEST_TMPDIR/deps.json"
	[ "$output" = '{"//a:gen2":["//a:gen.out","//external:bazel_tools"],"//a:gen":["//a:srcs","//external:bazel_tools"],"//a:gen.out":["//a:gen"],"//a:srcs":[],"//a:uses_ext":["//external:bazel_tools","//external:extrepo"],"//r:uses_one":["//r:one"],"//m:d_a":["//external:bazel_tools"]}' ]
	run -0 jq -r 'keys - ($hashes[0] | to_entries | map(select(.value | startswith("SourceFile") | not)) | map(.key)) | length' \
		--slurpfile hashes <(bds-hash -w "$WS" --include-target-type < "$STREAM") "$BATS_TEST_TMPDIR/deps.json"
	[ "$output" = 0 ]
	run -0 jq 'has("//a:a.txt")' "$BATS_TEST_TMPDIR/deps.json"
	[ "$output" = false ]
}

@test "--seed-filepaths: the seed changes every hash; relative paths are the workspace's, from any directory" {
	ws=$(cd "$WS" && pwd -P)
	cd "$BATS_TEST_TMPDIR"
	printf 'one\n' > "$WS/seed.txt"
	printf 'seed.txt\n\nseed.txt\n' > "$WS/seeds"
	# decoys in the current directory: a relative name never means them
	printf 'decoy\n' > seed.txt
	printf 'seed.txt\n' > seeds
	run -0 bds-hash -w "$WS" --seed-filepaths seeds -o one.json < "$STREAM"
	printf 'two\n' > "$WS/seed.txt"
	run -0 bds-hash -w "$WS" --seed-filepaths seeds -o two.json < "$STREAM"
	all=$(jq -r 'keys[]' "$BASE")
	[ "$(changed_keys "$BASE" one.json)" = "$all" ]
	[ "$(changed_keys one.json two.json)" = "$all" ]
	# the same file named absolutely, and the same names from inside the workspace
	printf '%s/seed.txt\n' "$ws" > abs-seeds
	run -0 bds-hash -w "$WS" --seed-filepaths "$PWD/abs-seeds" -o abs.json < "$STREAM"
	cmp two.json abs.json
	(cd "$WS/a" && bds-hash -w "$WS" --seed-filepaths seeds -o "$BATS_TEST_TMPDIR/sub.json" < "$STREAM")
	cmp two.json sub.json
	# a duplicate line is read once: the seed of "one" listed twice is the seed of "one"
	printf 'one\n' > "$WS/seed.txt"
	printf 'seed.txt\n' > "$WS/seeds1"
	run -0 bds-hash -w "$WS" --seed-filepaths seeds1 -o again.json < "$STREAM"
	cmp one.json again.json
	# an empty list hashes as no seed at all
	: > "$WS/empty"
	run -0 bds-hash -w "$WS" --seed-filepaths empty -o none.json < "$STREAM"
	cmp "$BASE" none.json
	run -1 --separate-stderr bds-hash -w "$WS" --seed-filepaths missing-list < "$STREAM"
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: open '$ws/missing-list': No such file or directory" ]
	printf 'no-such-seed\n' > "$WS/bad"
	run -1 --separate-stderr bds-hash -w "$WS" --seed-filepaths bad < "$STREAM"
	[ "$stderr" = "bds-hash: seed file listed in '$ws/bad': read '$ws/no-such-seed': No such file or directory" ]
}

@test "option files and seeds: a FIFO nobody writes is 1 at once, never a hang; <(...) is read" {
	local f=$BATS_TEST_TMPDIR/fifo
	mkfifo "$f"
	for opt in --content-hashes --modified-filepaths --seed-filepaths; do
		run -1 --separate-stderr timeout 20 bds-hash -w "$WS" "$opt" "$f" -o "$AFTER" < "$STREAM"
		[ "$output" = "" ]
		[ "$stderr" = "bds-hash: read '$f': a FIFO with no writer and nothing to read" ]
		[ ! -e "$AFTER" ]
	done
	printf '%s\n' "$f" > "$BATS_TEST_TMPDIR/seeds"
	run -1 --separate-stderr timeout 20 bds-hash -w "$WS" --seed-filepaths "$BATS_TEST_TMPDIR/seeds" < "$STREAM"
	[ "$stderr" = "bds-hash: seed file listed in '$BATS_TEST_TMPDIR/seeds': read '$f': a FIFO with no writer and nothing to read" ]
	# a pipe with a writer is the file it carries
	printf '{}' > "$BATS_TEST_TMPDIR/ch.json"
	run -0 bds-hash -w "$WS" --content-hashes <(cat "$BATS_TEST_TMPDIR/ch.json") -o "$AFTER" < "$STREAM"
	cmp "$BASE" "$AFTER"
}

@test "options as bds-fingerprint reads them: the last of two values, abbreviations, the seed list's lines" {
	cd "$BATS_TEST_TMPDIR"
	printf 'one\n' > "$WS/seed1.txt"
	printf 'two\n' > "$WS/seed2.txt"
	printf 'seed1.txt\n' > "$WS/s1"
	printf 'seed2.txt\n' > "$WS/s2"
	run -0 bds-hash -w "$WS" --seed-filepaths s1 -o one.json < "$STREAM"
	run -0 bds-hash -w "$WS" --seed-filepaths s2 -o two.json < "$STREAM"
	# the last value counts, whatever came before
	run -0 bds-hash -w "$WS" --seed-filepaths s2 --seed-filepaths s1 -o last.json < "$STREAM"
	cmp one.json last.json
	# an unambiguous prefix is the option, with = or a separate value
	run -0 bds-hash -w "$WS" --seed=s2 -o abbrev.json < "$STREAM"
	cmp two.json abbrev.json
	run -0 bds-hash -w "$WS" --se s2 -o abbrev2.json < "$STREAM"
	cmp two.json abbrev2.json
	# the list ends at its first NUL; a CR before the newline is no part of a name
	printf 'seed1.txt\r\n\0seed2.txt\n' > "$WS/s3"
	run -0 bds-hash -w "$WS" --seed-filepaths s3 -o nul.json < "$STREAM"
	cmp one.json nul.json
	# what getopt_long refuses, said precisely
	run -64 --separate-stderr bds-hash -w "$WS" --o x < "$STREAM"
	[ "${stderr_lines[0]}" = "bds-hash: ambiguous option '--o'" ]
	run -64 --separate-stderr bds-hash -w "$WS" --progress=1 < "$STREAM"
	[ "${stderr_lines[0]}" = "bds-hash: option '--progress' takes no value" ]
}

@test "--ignored-attrs: an ignored attribute's edit changes nothing else" {
	sed -i '/name = "gen2"/s/cmd = "cp \$< \$@"/cmd = "cp -f $< $@"/' "$WS/a/BUILD"
	query_stream "$WS" "$BATS_TEST_TMPDIR/edited.bin"
	bds-hash -w "$WS" --ignored-attrs cmd -o "$BATS_TEST_TMPDIR/ign-base.json" < "$STREAM"
	bds-hash -w "$WS" --ignored-attrs cmd -o "$BATS_TEST_TMPDIR/ign-after.json" < "$BATS_TEST_TMPDIR/edited.bin"
	bds-hash -w "$WS" -o "$AFTER" < "$BATS_TEST_TMPDIR/edited.bin"
	# both runs read the edited a/BUILD: with cmd ignored the two streams hash the same;
	# without the option gen2 moves
	expect_changed "$BATS_TEST_TMPDIR/ign-base.json" "$BATS_TEST_TMPDIR/ign-after.json"
	expect_changed "$BASE" "$AFTER" //a:BUILD //a:gen2 //a:gen2.out
	# ignoring an attribute changes the rule digests, not the source files
	run -0 changed_keys "$BASE" "$BATS_TEST_TMPDIR/ign-base.json"
	[[ "$output" == *"//a:gen2"* ]]
	[[ "$output" != *"//a:a.txt"* ]]
	# generator_location is always ignored: a macro call moved down a line changes nothing
	reset_ws "$WS"
	sed -i 's/^double(/\n&/' "$WS/m/BUILD"
	hash_workspace "$WS" "$AFTER"
	expect_changed "$BASE" "$AFTER" //m:BUILD
}

@test "--content-hashes: the given string replaces the file's content" {
	printf '{"a/a.txt": "v1"}' > "$BATS_TEST_TMPDIR/ch.json"
	run -0 bds-hash -w "$WS" --content-hashes "$BATS_TEST_TMPDIR/ch.json" -o "$BATS_TEST_TMPDIR/v1.json" < "$STREAM"
	expect_changed "$BASE" "$BATS_TEST_TMPDIR/v1.json" //a:a.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out
	# the file's bytes are not read: editing it changes nothing
	printf 'a2\n' > "$WS/a/a.txt"
	run -0 bds-hash -w "$WS" --content-hashes "$BATS_TEST_TMPDIR/ch.json" -o "$AFTER" < "$STREAM"
	cmp "$BATS_TEST_TMPDIR/v1.json" "$AFTER"
	# but its owner exec bit is
	chmod u+x "$WS/a/a.txt"
	run -0 bds-hash -w "$WS" --content-hashes "$BATS_TEST_TMPDIR/ch.json" -o "$AFTER" < "$STREAM"
	expect_changed "$BATS_TEST_TMPDIR/v1.json" "$AFTER" //a:a.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out
	# a content string equal to the file's bytes hashes as the file itself
	reset_ws "$WS"
	printf '{"a/a.txt": "a\\n"}' > "$BATS_TEST_TMPDIR/same.json"
	run -0 bds-hash -w "$WS" --content-hashes "$BATS_TEST_TMPDIR/same.json" -o "$AFTER" < "$STREAM"
	cmp "$BASE" "$AFTER"
	# bad files
	printf '["a"]' > "$BATS_TEST_TMPDIR/bad.json"
	run -1 --separate-stderr bds-hash -w "$WS" --content-hashes "$BATS_TEST_TMPDIR/bad.json" < "$STREAM"
	[[ "$stderr" == *"expected an object"* ]]
	printf '{"a/a.txt": 1}' > "$BATS_TEST_TMPDIR/bad.json"
	run -1 --separate-stderr bds-hash -w "$WS" --content-hashes "$BATS_TEST_TMPDIR/bad.json" < "$STREAM"
	[[ "$stderr" == *"key 'a/a.txt': expected string"* ]]
	run -1 --separate-stderr bds-hash -w "$WS" --content-hashes "$BATS_TEST_TMPDIR/none.json" < "$STREAM"
	[[ "$stderr" == *"none.json"* ]]
	# a relative name is the workspace's, whatever the current directory
	reset_ws "$WS"
	cp "$BATS_TEST_TMPDIR/ch.json" "$WS/ch.json"
	printf '{}' > "$BATS_TEST_TMPDIR/ch.json"
	cd "$BATS_TEST_TMPDIR"
	run -0 bds-hash -w "$WS" --content-hashes ch.json -o "$AFTER" < "$STREAM"
	cmp "$BATS_TEST_TMPDIR/v1.json" "$AFTER"
}

@test "--modified-filepaths: only the listed files' contents are read" {
	printf 'a/a.txt\n' > "$BATS_TEST_TMPDIR/modified"
	run -0 bds-hash -w "$WS" --modified-filepaths "$BATS_TEST_TMPDIR/modified" -o "$BATS_TEST_TMPDIR/m0.json" < "$STREAM"
	# every other source file hashes without its bytes
	run -0 changed_keys "$BASE" "$BATS_TEST_TMPDIR/m0.json"
	[[ "$output" == *"//a:b.txt"* ]]
	[[ "$output" != *"//a:a.txt"* ]]
	printf 'b2\n' > "$WS/a/b.txt"
	run -0 bds-hash -w "$WS" --modified-filepaths "$BATS_TEST_TMPDIR/modified" -o "$AFTER" < "$STREAM"
	expect_changed "$BATS_TEST_TMPDIR/m0.json" "$AFTER"
	printf 'a2\n' > "$WS/a/a.txt"
	run -0 bds-hash -w "$WS" --modified-filepaths "$BATS_TEST_TMPDIR/modified" -o "$AFTER" < "$STREAM"
	expect_changed "$BATS_TEST_TMPDIR/m0.json" "$AFTER" //a:a.txt //a:srcs //a:gen //a:gen.out //a:gen2 //a:gen2.out
	# absolute paths work too; an empty list means "read everything"
	printf '%s/a/a.txt\n' "$WS" > "$BATS_TEST_TMPDIR/modified-abs"
	run -0 bds-hash -w "$WS" --modified-filepaths "$BATS_TEST_TMPDIR/modified-abs" -o "$BATS_TEST_TMPDIR/abs.json" < "$STREAM"
	cmp "$AFTER" "$BATS_TEST_TMPDIR/abs.json"
	reset_ws "$WS"
	: > "$BATS_TEST_TMPDIR/empty"
	run -0 bds-hash -w "$WS" --modified-filepaths "$BATS_TEST_TMPDIR/empty" -o "$AFTER" < "$STREAM"
	cmp "$BASE" "$AFTER"
	# a relative name is the workspace's, whatever the current directory
	cp "$BATS_TEST_TMPDIR/modified" "$WS/modified"
	: > "$BATS_TEST_TMPDIR/modified"
	cd "$BATS_TEST_TMPDIR"
	run -0 bds-hash -w "$WS" --modified-filepaths modified -o "$AFTER" < "$STREAM"
	cmp "$BATS_TEST_TMPDIR/m0.json" "$AFTER"
}

@test "--always-affected-tags: two runs differ only for the tagged rule and its dependants" {
	bds-hash -w "$WS" --always-affected-tags scan,other -o "$BATS_TEST_TMPDIR/r1.json" < "$STREAM"
	bds-hash -w "$WS" --always-affected-tags scan,other -o "$BATS_TEST_TMPDIR/r2.json" < "$STREAM"
	expect_changed "$BATS_TEST_TMPDIR/r1.json" "$BATS_TEST_TMPDIR/r2.json" //a:gen //a:gen.out //a:gen2 //a:gen2.out
	expect_changed "$BASE" "$BATS_TEST_TMPDIR/r1.json" //a:gen //a:gen.out //a:gen2 //a:gen2.out
	# a tag nobody carries mixes in nothing
	bds-hash -w "$WS" --always-affected-tags nobody -o "$AFTER" < "$STREAM"
	cmp "$BASE" "$AFTER"
}

@test "determinism: repeated runs and any thread count give byte-identical output" {
	bds-hash -w "$WS" -o "$BATS_TEST_TMPDIR/1.json" < "$STREAM"
	bds-hash -w "$WS" --threads 1 -o "$BATS_TEST_TMPDIR/2.json" < "$STREAM"
	bds-hash -w "$WS" --threads 32 < "$STREAM" > "$BATS_TEST_TMPDIR/3.json"
	cmp "$BASE" "$BATS_TEST_TMPDIR/1.json"
	cmp "$BASE" "$BATS_TEST_TMPDIR/2.json"
	cmp "$BASE" "$BATS_TEST_TMPDIR/3.json"
	# the workspace may be given relative, with a trailing slash
	cd "$WS/.."
	bds-hash -w "ws/" < "$STREAM" > "$BATS_TEST_TMPDIR/4.json"
	cmp "$BASE" "$BATS_TEST_TMPDIR/4.json"
}

# --- output format ------------------------------------------------------------------------

@test "format: a hand-checked graph, Gson pretty print, no trailing newline" {
	printf '[{"rule": "//:r"}, {"source": "//:s.txt"}, {"rule": "//:u", "inputs": ["//:s.txt", "//:r"]}]' |
		make_proto > "$BATS_TEST_TMPDIR/tiny.bin"
	mkdir "$BATS_TEST_TMPDIR/empty-ws"
	run -0 bds-hash -w "$BATS_TEST_TMPDIR/empty-ws" -o "$AFTER" < "$BATS_TEST_TMPDIR/tiny.bin"
	# the spec's formulas written out (sections 2.2, 2.5, 2.6): no stack, no seed files
	python3 - "$BATS_TEST_TMPDIR/expected" <<-'PY'
	import hashlib, sys
	def H(*p): return hashlib.sha256(b"".join(p)).digest()
	E = H()
	direct_r = H(H(b"genrule", b"//:r"), E)
	overall_r = H(direct_r)
	src = H(b"\x00", H(b"//:s.txt"), b"//:s.txt")  # missing file: 0x00 marker
	s = H(src, E)
	direct_u = H(H(b"genrule", b"//:u"), E, b"//:r", b"//:s.txt", src)
	overall_u = H(overall_r, direct_u)
	v = lambda o, d: o.hex() + "~" + d.hex()
	open(sys.argv[1], "w").write('{\n  "//:r": "%s",\n  "//:s.txt": "%s",\n  "//:u": "%s"\n}'
	                             % (v(overall_r, direct_r), v(s, s), v(overall_u, direct_u)))
	PY
	cmp "$BATS_TEST_TMPDIR/expected" "$AFTER"
	# stdout carries the same bytes
	bds-hash -w "$BATS_TEST_TMPDIR/empty-ws" < "$BATS_TEST_TMPDIR/tiny.bin" > "$BATS_TEST_TMPDIR/stdout.json"
	cmp "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/stdout.json"
	# the file now exists and is empty: 0x01 marker, owner exec bit 0x00
	: > "$BATS_TEST_TMPDIR/empty-ws/s.txt"
	run -0 bds-hash -w "$BATS_TEST_TMPDIR/empty-ws" --include-target-type < "$BATS_TEST_TMPDIR/tiny.bin"
	s=$(python3 -c 'import hashlib as h; E=h.sha256().digest(); d=h.sha256(b"\x01\x00"+h.sha256(b"//:s.txt").digest()+b"//:s.txt").digest(); x=h.sha256(d+E).hexdigest(); print(x+"~"+x)')
	[ "${lines[2]}" = "  \"//:s.txt\": \"SourceFile#$s\"," ]
}

@test "format: only package groups gives {} exactly; labels are JSON-escaped" {
	printf '[{"package_group": "//:pg"}]' | make_proto > "$BATS_TEST_TMPDIR/pg.bin"
	bds-hash -w "$BATS_TEST_TMPDIR" < "$BATS_TEST_TMPDIR/pg.bin" > "$AFTER"
	[ "$(od -An -c "$AFTER" | tr -d ' ')" = "{}" ]
	printf '[{"rule": "//:q\\"b\\\\s"}]' | make_proto > "$BATS_TEST_TMPDIR/q.bin"
	run -0 bds-hash -w "$BATS_TEST_TMPDIR" < "$BATS_TEST_TMPDIR/q.bin"
	[[ "${lines[1]}" == '  "//:q\"b\\s": "'* ]]
}

# --- bad input ----------------------------------------------------------------------------

@test "garbage on stdin: exit 1 with the byte offset" {
	run -1 --separate-stderr bds-hash -w "$WS" <<< "hello world, this is not a protobuf stream at all; it runs long enough to fill the 104 bytes its first byte announces. yes."
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: malformed protobuf at byte 6: unknown wire type" ]
	run -1 --separate-stderr bds-hash -w "$WS" < <(printf '\003\377\377\377')
	[ "$stderr" = "bds-hash: malformed protobuf at byte 1: truncated field key" ]
	run -1 --separate-stderr bds-hash -w "$WS" < <(printf '\002\013\000')
	[ "$stderr" = "bds-hash: malformed protobuf at byte 1: group wire type (not used by build.proto)" ]
	# a Target whose rule runs past its end, inside an otherwise valid stream
	head -c 200 "$STREAM" > "$BATS_TEST_TMPDIR/s.bin"
	run -1 --separate-stderr bds-hash -w "$WS" < <(cat "$STREAM"; printf '\004\022\010\012\001')
	[[ "$stderr" == "bds-hash: malformed protobuf at byte "*": length runs past the end of the message" ]]
	# an unknown target type, and a rule without its message
	run -1 --separate-stderr bds-hash -w "$WS" < <(printf '\002\010\011')
	[ "$stderr" = "bds-hash: malformed target at byte 1: unknown target type 9" ]
	run -1 --separate-stderr bds-hash -w "$WS" < <(printf '\002\010\001')
	[ "$stderr" = "bds-hash: malformed target at byte 1: Rule without its message" ]
	# a generated file whose rule is not in the stream
	printf '[{"generated": "//:o", "by": "//:gone"}]' | make_proto > "$BATS_TEST_TMPDIR/orphan.bin"
	run -1 --separate-stderr bds-hash -w "$WS" < "$BATS_TEST_TMPDIR/orphan.bin"
	[ "$stderr" = "bds-hash: not possible to traverse the build graph: generated file '//:o' has no generating rule '//:gone' in the query output" ]
}

@test "truncated stream: exit 1 naming the byte offset of the cut message" {
	size=$(stat -c %s "$STREAM")
	cut=$((size / 2))
	# the offset of the length prefix of the message the cut falls in, and its sizes
	read -r start announced present < <(python3 -c '
import sys
data, cut = open(sys.argv[1], "rb").read(), int(sys.argv[2])
i = 0
while True:
    n = s = 0; j = i
    while True:
        b = data[j]; j += 1; n |= (b & 0x7f) << s; s += 7
        if not b & 0x80: break
    if j + n > cut: print(i, n, cut - j); break
    i = j + n' "$STREAM" "$cut")
	run -1 --separate-stderr bds-hash -w "$WS" < <(head -c "$cut" "$STREAM")
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: read 'stdin': truncated message at byte $start ($announced bytes announced, $present bytes present)" ] ||
		[ "$stderr" = "bds-hash: read 'stdin': truncated message at byte $start ($announced bytes announced, $present present)" ]
	# cut inside a two-byte length prefix
	run -1 --separate-stderr bds-hash -w "$WS" < <(head -c "$start" "$STREAM"; printf '\377')
	[ "$stderr" = "bds-hash: read 'stdin': truncated length prefix at byte $start" ]
	# a length prefix over 10 bytes, and one announcing more than the 256 MiB limit
	run -1 --separate-stderr bds-hash -w "$WS" < <(printf '\377\377\377\377\377\377\377\377\377\377\377')
	[ "$stderr" = "bds-hash: read 'stdin': bad length prefix at byte 0" ]
	run -1 --separate-stderr bds-hash -w "$WS" < <(printf '\377\377\377\377\177')
	[ "$stderr" = "bds-hash: read 'stdin': message of 34359738367 bytes at byte 0 exceeds the limit of 268435456" ]
}

@test "empty stdin: exit 1" {
	run -1 --separate-stderr bds-hash -w "$WS" < /dev/null
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: read 'stdin': empty input (did the bazel query fail?)" ]
	[ ! -e "$AFTER" ]
	run -1 bds-hash -w "$WS" -o "$AFTER" < /dev/null
	[ ! -e "$AFTER" ]
}

@test "missing or wrong workspace: exit 1 before reading stdin" {
	run -1 --separate-stderr bds-hash -w "$BATS_TEST_TMPDIR/nonexistent" < "$STREAM"
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: workspace '$BATS_TEST_TMPDIR/nonexistent': No such file or directory" ]
	run -1 --separate-stderr bds-hash -w "$STREAM" < "$STREAM"
	[ "$stderr" = "bds-hash: workspace '$STREAM': not a directory" ]
}

@test "unreadable source file: exit 1 naming the file, no output file (run as nobody)" {
	copy=$(mktemp -d /tmp/bds-hash-nobody.XXXXXX)
	cp -r "$WS" "$copy/ws"
	cp "$STREAM" "$copy/stream.bin"
	chmod -R a+rX "$copy"
	chmod 1777 "$copy"
	chmod 000 "$copy/ws/a/b.txt"
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	run -1 --separate-stderr as_nobody "$BDS_BUILD/bin/bds-hash" -w "$copy/ws" -o "$copy/out.json" < "$copy/stream.bin"
	status_copy=$status stderr_copy=$stderr
	[ ! -e "$copy/out.json" ]
	# --modified-filepaths without it: like bazel-diff, the file is not opened, only stat'ed
	printf 'a/a.txt\n' > "$copy/modified"
	chmod 644 "$copy/modified"
	run -0 as_nobody "$BDS_BUILD/bin/bds-hash" -w "$copy/ws" --modified-filepaths "$copy/modified" \
		-o "$copy/m-unreadable.json" < "$copy/stream.bin"
	# readable again: the copy hashes as the original
	chmod 644 "$copy/ws/a/b.txt"
	run -0 as_nobody "$BDS_BUILD/bin/bds-hash" -w "$copy/ws" --modified-filepaths "$copy/modified" \
		-o "$copy/m-readable.json" < "$copy/stream.bin"
	run -0 cmp "$copy/m-unreadable.json" "$copy/m-readable.json"
	run -0 as_nobody "$BDS_BUILD/bin/bds-hash" -w "$copy/ws" -o "$copy/out.json" < "$copy/stream.bin"
	run -0 changed_keys "$BASE" "$copy/out.json"
	rm -rf "$copy"
	[ "$status_copy" -eq 1 ]
	[ "$stderr_copy" = "bds-hash: open source file '$copy/ws/a/b.txt': Permission denied" ]
	[ "$output" = "" ]
}

@test "usage errors exit 64, --help exits 0" {
	run -64 --separate-stderr bds-hash < "$STREAM"
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-hash: missing -w WORKSPACE" ]
	[[ "${stderr_lines[1]}" == "usage: bds-hash -w WORKSPACE "* ]]
	run -64 --separate-stderr bds-hash -w "$WS" --bogus < "$STREAM"
	[ "${stderr_lines[0]}" = "bds-hash: unknown option '--bogus'" ]
	run -64 --separate-stderr bds-hash -w "$WS" --seed-filepaths
	[ "${stderr_lines[0]}" = "bds-hash: option '--seed-filepaths' needs an argument" ]
	for n in 0 33 -1 abc 4x "" " 4" +4 4294967297 1e1 0x10; do
		run -64 --separate-stderr bds-hash -w "$WS" --threads "$n" < "$STREAM"
		[ "${stderr_lines[0]}" = "bds-hash: --threads takes a number from 1 to 32" ]
	done
	run -64 --separate-stderr bds-hash -w "$WS" --target-type Rule,Foo < "$STREAM"
	[ "${stderr_lines[0]}" = "bds-hash: unknown target type 'Foo' (expected Rule, SourceFile or GeneratedFile)" ]
	run -64 --separate-stderr bds-hash -w "$WS" extra < "$STREAM"
	[ "${stderr_lines[0]}" = "bds-hash: unexpected argument" ]
	run -64 --separate-stderr bds-hash -w "$WS" --fine-grained-repos @extrepo < "$STREAM"
	[ "${stderr_lines[0]}" = "bds-hash: --fine-grained-repos needs --output-base (from \`bazel info output_base\`)" ]
	run -0 --separate-stderr bds-hash --help
	[[ "${lines[0]}" == "usage: bds-hash -w WORKSPACE "* ]]
	[ "$stderr" = "" ]
}

@test "a failed write is exit 1; a device given as -o is written, never replaced" {
	run -1 --separate-stderr bds-hash -w "$WS" -o /dev/full < "$STREAM"
	[[ "$stderr" == "bds-hash: write hashes: No space left on device" ]]
	[ -c /dev/full ]
	run -0 bds-hash -w "$WS" -o /dev/null --dep-edges /dev/null < "$STREAM"
	[ -c /dev/null ]
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	cat "$BATS_TEST_TMPDIR/fifo" > "$AFTER" &
	run -0 bds-hash -w "$WS" -o "$BATS_TEST_TMPDIR/fifo" < "$STREAM"
	wait
	[ -p "$BATS_TEST_TMPDIR/fifo" ]
	cmp "$BASE" "$AFTER"
	run -1 --separate-stderr bds-hash -w "$WS" -o "$BATS_TEST_TMPDIR/no/such/dir/out.json" < "$STREAM"
	[[ "$stderr" == "bds-hash: "*"no/such/dir"* ]]
	run -1 --separate-stderr bash -c 'bds-hash -w "$1" < "$2" > /dev/full' _ "$WS" "$STREAM"
	[[ "$stderr" == "bds-hash: "* ]]
}

@test "-o and --dep-edges: a FIFO with no reader is 1 at once; /dev/stdout reaches a pipe" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run -1 --separate-stderr timeout 20 bds-hash -w "$WS" -o "$BATS_TEST_TMPDIR/fifo" < "$STREAM"
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: open '$BATS_TEST_TMPDIR/fifo': a FIFO with no reader" ]
	run -1 --separate-stderr timeout 20 bds-hash -w "$WS" --dep-edges "$BATS_TEST_TMPDIR/fifo" -o "$AFTER" < "$STREAM"
	[ "$stderr" = "bds-hash: open '$BATS_TEST_TMPDIR/fifo': a FIFO with no reader" ]
	[ ! -e "$AFTER" ]
	run -0 --separate-stderr bash -c 'bds-hash -w "$1" -o /dev/stdout < "$2" | cat' _ "$WS" "$STREAM"
	[ "$output" = "$(cat "$BASE")" ]
	[ "$stderr" = "" ]
}

@test "--fine-grained-repos: a repository's files are hashed by content (through bds-generate-hashes)" {
	hash_workspace "$WS" "$BATS_TEST_TMPDIR/fg0.json" --fine-grained-repos @extrepo
	run -0 jq -r 'keys[] | select(startswith("@"))' "$BATS_TEST_TMPDIR/fg0.json"
	[ "$output" = "@extrepo//:BUILD
@extrepo//:f.txt" ]
	printf 'changed\n' > "$EXT/ext1/f.txt"
	run hash_workspace "$WS" "$AFTER" --fine-grained-repos @extrepo
	printf 'external\n' > "$EXT/ext1/f.txt"
	[ "$status" -eq 0 ]
	# not collapsed to //external:extrepo any more: the file's digest reaches its dependant
	expect_changed "$BATS_TEST_TMPDIR/fg0.json" "$AFTER" //a:uses_ext //a:uses_ext.out @extrepo//:f.txt
}

@test "a rule with many external inputs: every //external alias is kept (agrees with the model)" {
	# each @repo input adds a //external:repo alias before deduplication: 2N entries
	python3 -c '
import json
ins = ["@r%d//pkg:f%d" % (i % 3, i) for i in range(40)] + ["//:s.txt"]
print(json.dumps([{"rule": "//:many", "inputs": ins, "stack": ["BUILD:1:1: <toplevel>"]},
                  {"rule": "//external:r1", "class": "local_repository"},
                  {"source": "//:s.txt"}]))' | make_proto > "$BATS_TEST_TMPDIR/many.bin"
	mkdir "$BATS_TEST_TMPDIR/w"
	printf 's\n' > "$BATS_TEST_TMPDIR/w/s.txt"
	run -0 bds-hash -w "$BATS_TEST_TMPDIR/w" --include-target-type --dep-edges "$BATS_TEST_TMPDIR/deps.json" \
		-o "$AFTER" < "$BATS_TEST_TMPDIR/many.bin"
	python3 "$HASH_FIXTURES/model.py" "$BATS_TEST_TMPDIR/w" --include-target-type < "$BATS_TEST_TMPDIR/many.bin" \
		> "$BATS_TEST_TMPDIR/model.json"
	run -0 jq -cS . "$AFTER"
	[ "$output" = "$(cat "$BATS_TEST_TMPDIR/model.json")" ]
	run -0 jq -c '.["//:many"]' "$BATS_TEST_TMPDIR/deps.json"
	[ "$output" = '["//external:r1"]' ]
}

@test "a message too large for the memory there is: exit 1 naming it, never an abort" {
	if grep -qa __asan_init "$BDS_BUILD/bin/bds-hash"; then
		skip "AddressSanitizer (make asan) needs more address space than ulimit -v leaves"
	fi
	# 200 MiB announced (under the 256 MiB limit) with 150 MiB of address space
	run -1 --separate-stderr bash -c 'ulimit -v 153600; exec bds-hash -w "$1"' _ "$WS" < <(printf '\200\200\200\144')
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: read 'stdin': out of memory: cannot allocate 209715204 bytes at byte 0" ]
	# with the memory, the same stream is only truncated
	run -1 --separate-stderr bds-hash -w "$WS" < <(printf '\200\200\200\144')
	[ "$stderr" = "bds-hash: read 'stdin': truncated message at byte 0 (209715200 bytes announced, 0 present)" ]
}

# Tests bds-diff against JSON fixtures: order, filters, formats, distances, envelope mode, failures.

load helpers

setup() {
	F="$BATS_TEST_DIRNAME/fixtures/diff"
	cd "$F"
}

# The answer of fixtures from.json -> to.json: SourceFile, GeneratedFile, then Rule, each in
# Java String order; //gone:x (deleted) and the unchanged //B:* are not reported.
EXPECTED_TYPED='//A:one.sh
//a:x
//A:two.sh
//:lib
//A:Z
//A:new
//A:one
//external:r
//kind:flip'

@test "usage: wrong argument counts and unknown options exit 64" {
	run -64 --separate-stderr bds-diff from.json
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-diff: expected two hashes files, or none to read the envelope" ]
	[ "${stderr_lines[1]}" = "usage: bds-diff [--target-type T,...] [--dep-edges DEPS.json] [--exclude-external]" ]
	run -64 bds-diff from.json to.json to.json
	run -64 --separate-stderr bds-diff --bogus from.json to.json
	[ "${stderr_lines[0]}" = "bds-diff: unknown option '--bogus'" ]
	run -64 --separate-stderr bds-diff from.json to.json --dep-edges
	[ "${stderr_lines[0]}" = "bds-diff: option '--dep-edges' needs an argument" ]
	run -64 bds-diff -o
}

@test "--help prints the usage on stdout and exits 0" {
	run -0 --separate-stderr bds-diff --help
	[ "${lines[0]}" = "usage: bds-diff [--target-type T,...] [--dep-edges DEPS.json] [--exclude-external]" ]
	[ "$stderr" = "" ]
}

@test "typed hashes: new and changed labels by kind, then label; deleted ones never" {
	run -0 --separate-stderr bds-diff from.json to.json
	[ "$output" = "$EXPECTED_TYPED" ]
	[ "$stderr" = "" ]
	# one label per line, each followed by a newline
	bds-diff from.json to.json > "$BATS_TEST_TMPDIR/out"
	[ "$(tail -c 1 "$BATS_TEST_TMPDIR/out" | od -An -c | tr -d ' ')" = '\n' ]
	[ "$(wc -l < "$BATS_TEST_TMPDIR/out")" -eq 9 ]
}

@test "the {hashes, metadata} format gives the same answer, on either side" {
	run -0 bds-diff from-hashes.json to-hashes.json
	[ "$output" = "$EXPECTED_TYPED" ]
	run -0 bds-diff from.json to-hashes.json
	[ "$output" = "$EXPECTED_TYPED" ]
	run -0 bds-diff from-hashes.json to.json
	[ "$output" = "$EXPECTED_TYPED" ]
}

@test "different module graphs with no module in them: the plain diff, as bazel-diff's module path finds no change" {
	# (tests/modgraph.bats has the module path itself)
	run -0 --separate-stderr bds-diff from-hashes.json to-other-graph.json
	[ "$output" = "$EXPECTED_TYPED" ]
	[ "$stderr" = "" ]
	# a graph on one side only: bazel-diff falls back to the plain diff
	run -0 bds-diff from.json to-other-graph.json
	[ "$output" = "$EXPECTED_TYPED" ]
}

@test "untyped hashes: plain Java String order" {
	run -0 --separate-stderr bds-diff from-untyped.json to-untyped.json
	[ "$output" = '//:lib
//A:Z
//A:new
//A:one
//A:one.sh
//A:two.sh
//a:x
//external:r' ]
	[ "$stderr" = "" ]
}

@test "kind rank: other types 3, untyped 4, the type taken from FROM when TO has none" {
	run -0 bds-diff kinds-from.json kinds-to.json
	[ "$output" = '//k:src
//k:typed-in-from
//k:other
//k:empty-type
//k:untyped' ]
}

@test "typed against untyped: every label differs, with a warning" {
	run -0 --separate-stderr bds-diff from.json to-untyped.json
	[ "$output" = '//A:one.sh
//B:stay.txt
//A:two.sh
//kind:flip
//:lib
//A:one
//B:b
//external:r
//A:Z
//A:new
//a:x' ]
	[ "$stderr" = "bds-diff: warning: 'from.json' has target types and 'to-untyped.json' has none: every target compares as changed (hash both with the same --include-target-type)" ]
	run -0 --separate-stderr bds-diff to-untyped.json from.json
	[ "$stderr" = "bds-diff: warning: 'from.json' has target types and 'to-untyped.json' has none: every target compares as changed (hash both with the same --include-target-type)" ]
}

@test "nothing impacted: empty output, exit 0" {
	run -0 --separate-stderr bds-diff from.json from.json
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	bds-diff to.json to-hashes.json > "$BATS_TEST_TMPDIR/out"
	[ ! -s "$BATS_TEST_TMPDIR/out" ]
}

@test "--target-type keeps the listed types of TO" {
	run -0 bds-diff --target-type Rule,SourceFile from.json to.json
	[ "$output" = '//A:one.sh
//a:x
//:lib
//A:Z
//A:new
//A:one
//external:r
//kind:flip' ]
	run -0 bds-diff --target-type GeneratedFile from.json to.json
	[ "$output" = "//A:two.sh" ]
	# //kind:flip was a GeneratedFile and is now a Rule: TO's type decides
	run -0 bds-diff --target-type GeneratedFile,Package from.json to.json
	[ "$output" = "//A:two.sh" ]
}

@test "--target-type without types in TO: exit 1, unless nothing is impacted" {
	run -1 --separate-stderr bds-diff --target-type Rule from-untyped.json to-untyped.json
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: no target type info found for '//:lib' in 'to-untyped.json': re-generate the hashes with --include-target-type" ]
	run -1 bds-diff --target-type Rule kinds-from.json kinds-to.json
	run -0 --separate-stderr bds-diff --target-type Rule from-untyped.json from-untyped.json
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "--exclude-external drops //external: labels" {
	run -0 bds-diff --exclude-external from.json to.json
	[ "$output" = '//A:one.sh
//a:x
//A:two.sh
//:lib
//A:Z
//A:new
//A:one
//kind:flip' ]
}

@test "-o writes the answer to a file, stdout stays empty" {
	run -0 --separate-stderr bds-diff -o "$BATS_TEST_TMPDIR/out.txt" from.json to.json
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ "$(cat "$BATS_TEST_TMPDIR/out.txt")" = "$EXPECTED_TYPED" ]
	run -0 bds-diff --output "$BATS_TEST_TMPDIR/empty.txt" from.json from.json
	[ -f "$BATS_TEST_TMPDIR/empty.txt" ]
	[ ! -s "$BATS_TEST_TMPDIR/empty.txt" ]
	# the message names the user's path, never the temporary
	run -1 --separate-stderr bds-diff -o "$BATS_TEST_TMPDIR/no/such/dir/out" from.json to.json
	[ "$stderr" = "bds-diff: create '$BATS_TEST_TMPDIR/no/such/dir/out': No such file or directory" ]
	ln -s no/such/dir/out "$BATS_TEST_TMPDIR/into-nothing"
	run -1 --separate-stderr bds-diff -o "$BATS_TEST_TMPDIR/into-nothing" from.json to.json
	[ "$stderr" = "bds-diff: create '$BATS_TEST_TMPDIR/into-nothing': No such file or directory" ]
	# nothing left behind next to the output
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '*.tmp.*')" ]
}

@test "-o: a FIFO with no reader is 1 at once, never a hang" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run -1 --separate-stderr timeout 10 bds-diff -o "$BATS_TEST_TMPDIR/fifo" from.json to.json
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: open '$BATS_TEST_TMPDIR/fifo': a FIFO with no reader" ]
	[ -p "$BATS_TEST_TMPDIR/fifo" ]
	# through a symbolic link too
	ln -s fifo "$BATS_TEST_TMPDIR/link"
	run -1 --separate-stderr timeout 10 bds-diff -o "$BATS_TEST_TMPDIR/link" from.json to.json
	[ "$stderr" = "bds-diff: open '$BATS_TEST_TMPDIR/link': a FIFO with no reader" ]
	# a socket is no file to write
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$BATS_TEST_TMPDIR/sock"
	run -1 --separate-stderr timeout 10 bds-diff -o "$BATS_TEST_TMPDIR/sock" from.json to.json
	[ "$stderr" = "bds-diff: open '$BATS_TEST_TMPDIR/sock': a socket, not a file, device or FIFO" ]
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '*.tmp.*')" ]
}

@test "-o /dev/stdout (/proc/self/fd/N) reaches a pipe in place, a regular file at its real path" {
	# a pipe: written in place (its /proc link names no file to create)
	run -0 --separate-stderr bash -c 'bds-diff -o /dev/stdout from.json to.json | cat'
	[ "$output" = "$EXPECTED_TYPED" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr bash -c 'bds-diff -o /proc/self/fd/3 from.json to.json 3>&1 | cat'
	[ "$output" = "$EXPECTED_TYPED" ]
	# a regular file: replaced atomically where it is
	printf 'old\n' > "$BATS_TEST_TMPDIR/out"
	run -0 --separate-stderr bash -c 'bds-diff -o /dev/stdout from.json to.json > "$1"' sh "$BATS_TEST_TMPDIR/out"
	[ "$stderr" = "" ]
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = "$EXPECTED_TYPED" ]
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '*.tmp.*')" ]
}

@test "-o: a dangling link of 4000 bytes of text is followed to its end" {
	mkdir "$BATS_TEST_TMPDIR/d"
	# "./" 1999 times then the name: near the longest link text Linux stores
	ln -s "$(printf './%.0s' $(seq 1999))made" "$BATS_TEST_TMPDIR/d/link"
	[ "$(readlink "$BATS_TEST_TMPDIR/d/link" | wc -c)" -eq 4003 ]
	run -0 bds-diff -o "$BATS_TEST_TMPDIR/d/link" from.json to.json
	[ "$(cat "$BATS_TEST_TMPDIR/d/made")" = "$EXPECTED_TYPED" ]
	[ -L "$BATS_TEST_TMPDIR/d/link" ]
}

@test "-o: a device or FIFO is written in place, a symlink followed, as cp and > do" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (mknod)"
	local T=$BATS_TEST_TMPDIR
	# a copy of /dev/null: renaming over it would replace the node with a regular file
	mknod "$T/null" c 1 3
	chmod 666 "$T/null"
	run -0 bds-diff -o "$T/null" from.json to.json
	[ -c "$T/null" ]
	[ "$(stat -c %t:%T:%a "$T/null")" = 1:3:666 ]
	mkfifo "$T/fifo"
	cat "$T/fifo" > "$T/from-fifo" &
	run -0 bds-diff -o "$T/fifo" from.json to.json
	wait
	[ -p "$T/fifo" ]
	[ "$(cat "$T/from-fifo")" = "$EXPECTED_TYPED" ]
	# a symlink: its target is replaced (atomically, beside it), the link stays
	printf 'old\n' > "$T/target"
	ln "$T/target" "$T/old-inode"
	ln -s target "$T/link"
	run -0 bds-diff -o "$T/link" from.json to.json
	[ -L "$T/link" ]
	[ "$(readlink "$T/link")" = target ]
	[ "$(cat "$T/target")" = "$EXPECTED_TYPED" ]
	[ "$(cat "$T/old-inode")" = old ]
	# a dangling symlink: its target is created
	ln -s made "$T/dangling"
	run -0 bds-diff -o "$T/dangling" from.json to.json
	[ "$(cat "$T/made")" = "$EXPECTED_TYPED" ]
	# a directory or a symlink loop is refused, and nothing is left beside them
	mkdir "$T/dir"
	run -1 --separate-stderr bds-diff -o "$T/dir" from.json to.json
	[ "$stderr" = "bds-diff: open '$T/dir': Is a directory" ]
	ln -s loop2 "$T/loop1"
	ln -s loop1 "$T/loop2"
	run -1 --separate-stderr bds-diff -o "$T/loop1" from.json to.json
	[ "$stderr" = "bds-diff: open '$T/loop1': Too many levels of symbolic links" ]
	[ -z "$(find "$T" -name '*.tmp.*')" ]
}

@test "--target-type with no type (\"\" or \",\") is a usage error, not an empty answer" {
	run -64 --separate-stderr bds-diff --target-type "" from.json to.json
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-diff: --target-type needs at least one target type" ]
	run -64 --separate-stderr bds-diff --target-type , from.json to.json
	[ "${stderr_lines[0]}" = "bds-diff: --target-type needs at least one target type" ]
}

@test "a failed write to stdout exits 1" {
	run -1 --separate-stderr bash -c 'bds-diff from.json to.json > /dev/full'
	[ "$stderr" = "bds-diff: write output: No space left on device" ]
}

@test "--dep-edges: distances with independent minima, and the issue-268 fallbacks" {
	run -0 --separate-stderr bds-diff --dep-edges dist-deps.json dist-from.json dist-to.json
	[ "$output" = '[
  {
    "label": "//new:t",
    "targetDistance": 0,
    "packageDistance": 0
  },
  {
    "label": "//A:target_1",
    "targetDistance": 1,
    "packageDistance": 1
  },
  {
    "label": "//A:target_2",
    "targetDistance": 2,
    "packageDistance": 1
  },
  {
    "label": "//A:target_3",
    "targetDistance": 3,
    "packageDistance": 1
  },
  {
    "label": "//A:target_4",
    "targetDistance": 4,
    "packageDistance": 1
  },
  {
    "label": "//B:target",
    "targetDistance": 1,
    "packageDistance": 1
  },
  {
    "label": "//C:target",
    "targetDistance": 2,
    "packageDistance": 2
  },
  {
    "label": "//D:target",
    "targetDistance": 3,
    "packageDistance": 3
  },
  {
    "label": "//changed:target",
    "targetDistance": 0,
    "packageDistance": 0
  },
  {
    "label": "//external:dep",
    "targetDistance": 5,
    "packageDistance": 3
  },
  {
    "label": "//final:final",
    "targetDistance": 4,
    "packageDistance": 2
  },
  {
    "label": "//lonely:y",
    "targetDistance": 0,
    "packageDistance": 0
  },
  {
    "label": "//orphan:x",
    "targetDistance": 0,
    "packageDistance": 0
  }
]' ]
	[ "${stderr_lines[0]}" = "bds-diff: warning: '//lonely:y' was indirectly impacted, but none of its deps in the dep-edges file is impacted: distance 0 (see bazel-diff issue #268)" ]
	[ "${stderr_lines[1]}" = "bds-diff: warning: '//orphan:x' was indirectly impacted, but has no entry in the dep-edges file: distance 0 (see bazel-diff issue #268)" ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	# Gson writes no final newline
	bds-diff --dep-edges dist-deps.json dist-from.json dist-to.json 2>/dev/null > "$BATS_TEST_TMPDIR/d.json"
	[ "$(tail -c 1 "$BATS_TEST_TMPDIR/d.json")" = "]" ]
}

@test "--dep-edges: distances are computed before the filters" {
	run -0 --separate-stderr bds-diff --dep-edges dist-deps.json --exclude-external --target-type Rule \
		dist-from.json dist-to.json
	[ "$(printf '%s\n' "$output" | jq -c '.[] | [.label, .targetDistance, .packageDistance]')" = '["//A:target_1",1,1]
["//A:target_2",2,1]
["//A:target_3",3,1]
["//A:target_4",4,1]
["//B:target",1,1]
["//C:target",2,2]
["//D:target",3,3]
["//changed:target",0,0]
["//final:final",4,2]
["//lonely:y",0,0]
["//orphan:x",0,0]' ]
}

@test "--dep-edges with nothing impacted prints []" {
	run -0 bds-diff --dep-edges dist-deps.json dist-from.json dist-from.json
	[ "$output" = "[]" ]
}

@test "JSON string escapes are decoded; labels sort in Java String (UTF-16) order" {
	run -0 bds-diff empty-bom.json escapes-to.json
	[ "$output" = "$(printf '//e:q"uote\n//e:slash/\n//e:tab\t\n//e:\303\251\n//e:\360\237\230\200\n//e:\357\277\277')" ]
	run -0 --separate-stderr bds-diff --dep-edges dist-deps.json empty-bom.json escapes-to.json
	[ "$(printf '%s' "$output" | jq -r '.[0].label, .[2].label')" = "$(printf '//e:q"uote\n//e:tab\t')" ]
	[[ "$output" == *'"label": "//e:q\"uote",'* ]]
	[[ "$output" == *'"label": "//e:tab\t",'* ]]
}

@test "malformed JSON: exit 1 naming the file" {
	run -1 --separate-stderr bds-diff from.json truncated.json
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: parse 'truncated.json': expected a value at end of input" ]
	run -1 --separate-stderr bds-diff trailing.json to.json
	[ "$stderr" = "bds-diff: parse 'trailing.json': trailing data after the JSON value at byte 45" ]
	run -1 --separate-stderr bds-diff from.json not-object.json
	[ "$stderr" = "bds-diff: hashes 'not-object.json': expected an object, found array" ]
	printf '' > "$BATS_TEST_TMPDIR/empty.json"
	run -1 --separate-stderr bds-diff from.json "$BATS_TEST_TMPDIR/empty.json"
	[ "$stderr" = "bds-diff: parse '$BATS_TEST_TMPDIR/empty.json': empty file" ]
	printf '{"//a:b": "Rule#a~b\\x"}' > "$BATS_TEST_TMPDIR/esc.json"
	run -1 --separate-stderr bds-diff from.json "$BATS_TEST_TMPDIR/esc.json"
	[ "$stderr" = "bds-diff: parse '$BATS_TEST_TMPDIR/esc.json': bad escape in string at byte 19" ]
}

@test "a value that is not [Type#]hash~direct: exit 1 naming the file and the key" {
	run -1 --separate-stderr bds-diff from.json bad-value.json
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: hashes 'bad-value.json': key '//A:bad': value 'Rule#abc' is not [Type#]hash~direct" ]
	run -1 --separate-stderr bds-diff bad-sharp.json to.json
	[ "$stderr" = "bds-diff: hashes 'bad-sharp.json': key '//A:two-types': value 'Rule#Generated#a~b' is not [Type#]hash~direct" ]
	run -1 --separate-stderr bds-diff from.json bad-tilde.json
	[ "$stderr" = "bds-diff: hashes 'bad-tilde.json': key '//A:x': value 'Rule#a~b~c' is not [Type#]hash~direct" ]
	run -1 --separate-stderr bds-diff from.json bad-kind.json
	[ "$stderr" = "bds-diff: hashes 'bad-kind.json': key '//A:num': expected a string, found number" ]
	# the value format is checked in both files, even for labels that are not compared
	printf '{"//A:x": "Rule#a~b", "//A:only-here": "Rule#"}' > "$BATS_TEST_TMPDIR/from.json"
	run -1 --separate-stderr bds-diff "$BATS_TEST_TMPDIR/from.json" to.json
	[ "$stderr" = "bds-diff: hashes '$BATS_TEST_TMPDIR/from.json': key '//A:only-here': value 'Rule#' is not [Type#]hash~direct" ]
	# a "hashes" object without "metadata" is a flat file with a bad member
	printf '{"hashes": {"//A:x": "Rule#a~b"}}' > "$BATS_TEST_TMPDIR/half.json"
	run -1 --separate-stderr bds-diff from.json "$BATS_TEST_TMPDIR/half.json"
	[ "$stderr" = "bds-diff: hashes '$BATS_TEST_TMPDIR/half.json': key 'hashes': expected a string, found object" ]
}

@test "missing and unreadable files: exit 1 naming the file" {
	run -1 --separate-stderr bds-diff from.json missing.json
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: open 'missing.json': No such file or directory" ]
	run -1 --separate-stderr bds-diff "$BATS_TEST_TMPDIR" to.json
	[ "$stderr" = "bds-diff: read '$BATS_TEST_TMPDIR': Is a directory" ]
}

@test "unreadable or malformed dep-edges: exit 1 naming the file and key" {
	run -1 --separate-stderr bds-diff --dep-edges missing-deps.json from.json to.json
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: open 'missing-deps.json': No such file or directory" ]
	run -1 --separate-stderr bds-diff --dep-edges bad-deps.json from.json to.json
	[ "$stderr" = "bds-diff: dep-edges 'bad-deps.json': key '//A:y': expected an array, found string" ]
	run -1 --separate-stderr bds-diff --dep-edges truncated-deps.json from.json to.json
	[ "$stderr" = "bds-diff: dep-edges 'truncated-deps.json': key '//A:one': expected an array of strings, found the end in it" ]
	run -1 --separate-stderr bds-diff --dep-edges cycle-deps.json cycle-from.json cycle-to.json
	[ "$stderr" = "bds-diff: dep-edges 'cycle-deps.json': dependency cycle through '//a:y'" ]
}

@test "envelope mode: the base and target hashes of the envelope, options still apply" {
	printf '{"hashes":{"base":"%s","target":"%s"},"workspace":"/w"}\n' "$F/from.json" "$F/to.json" > "$BATS_TEST_TMPDIR/env"
	run -0 --separate-stderr bds-diff < "$BATS_TEST_TMPDIR/env"
	[ "$output" = "$EXPECTED_TYPED" ]
	[ "$stderr" = "" ]
	run -0 bds-diff --exclude-external --target-type GeneratedFile,Rule < "$BATS_TEST_TMPDIR/env"
	[ "$output" = '//A:two.sh
//:lib
//A:Z
//A:new
//A:one
//kind:flip' ]
}

@test "envelope mode: a \`cold\` that is not an object of strings stage and reason is 1, never 2" {
	check_bad_cold bds-diff
}

@test "envelope mode: a cold envelope passes through unchanged with exit 2" {
	env='{"cold":{"reason":"no snapshot for this fingerprint","stage":"bds-store-lookup"},"fingerprint":{"key":"00112233445566778899aabbccddeeff"},"workspace":"/w"}'
	run -2 --separate-stderr bds-diff <<<"$env"
	[ "$output" = "$env" ]
	[ "$stderr" = "" ]
	# even with files that do not exist in it
	run -2 bds-diff --dep-edges /nonexistent <<<'{"cold":{"reason":"r","stage":"s"},"hashes":{"base":"/no","target":"/no"}}'
	[ "$output" = '{"cold":{"reason":"r","stage":"s"},"hashes":{"base":"/no","target":"/no"}}' ]
}

@test "envelope mode: empty, invalid or incomplete envelopes exit 1" {
	run -1 --separate-stderr bds-diff < /dev/null
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: read envelope 'stdin': empty input (the upstream stage failed)" ]
	run -1 --separate-stderr bds-diff <<<'{"hashes":'
	[ "$output" = "" ]
	[[ "$stderr" == "bds-diff: read envelope: parse 'stdin': "* ]]
	run -1 --separate-stderr bds-diff <<<'{"workspace":"/w"}'
	[ "$stderr" = "bds-diff: envelope: key 'hashes' is missing (no stage hashed the target)" ]
	run -1 --separate-stderr bds-diff <<<"{\"hashes\":{\"base\":\"$F/from.json\"}}"
	[ "$stderr" = "bds-diff: envelope: key 'hashes.target' is missing" ]
	run -1 --separate-stderr bds-diff <<<'{"hashes":{"base":"from.json","target":"to.json"}}'
	[ "$stderr" = "bds-diff: envelope: key 'hashes.base': 'from.json' is not an absolute path" ]
	run -1 --separate-stderr bds-diff <<<'{"hashes":{"base":1,"target":"/t"}}'
	[ "$stderr" = "bds-diff: envelope 'hashes': key 'base': expected string, found number" ]
	run -1 --separate-stderr bds-diff <<<'[]'
	[ "$output" = "" ]
	run -1 --separate-stderr bds-diff <<<"{\"hashes\":{\"base\":\"$F/from.json\",\"target\":\"$F/missing.json\"}}"
	[ "$stderr" = "bds-diff: open '$F/missing.json': No such file or directory" ]
}

@test "envelope mode: a FIFO named by the envelope is 1 at once; FIFOs given as arguments are read" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run -1 --separate-stderr timeout 20 bds-diff <<<"{\"hashes\":{\"base\":\"$BATS_TEST_TMPDIR/fifo\",\"target\":\"$F/to.json\"}}"
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: envelope: key 'hashes.base': '$BATS_TEST_TMPDIR/fifo': not a regular file (a FIFO)" ]
	run -1 --separate-stderr bds-diff <<<"{\"hashes\":{\"base\":\"$F/from.json\",\"target\":\"$F/to.json\u0000x\"}}"
	[ "$stderr" = "bds-diff: read envelope 'stdin': key 'hashes.target': the string holds a NUL byte" ]
	run -0 --separate-stderr bds-diff <(cat "$F/from.json") <(cat "$F/to.json")
	[ "$output" = "$EXPECTED_TYPED" ]
}

@test "a FIFO argument nobody writes is 1 at once, never a hang; one with a writer is read" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run -1 --separate-stderr timeout 20 bds-diff "$BATS_TEST_TMPDIR/fifo" to.json
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: read '$BATS_TEST_TMPDIR/fifo': a FIFO with no writer and nothing to read" ]
	run -1 --separate-stderr timeout 20 bds-diff --dep-edges "$BATS_TEST_TMPDIR/fifo" dist-from.json dist-to.json
	[ "$stderr" = "bds-diff: read '$BATS_TEST_TMPDIR/fifo': a FIFO with no writer and nothing to read" ]
	# a writer that is slow to write is waited on, as standard input would be
	{ sleep 1; cat from.json; } > "$BATS_TEST_TMPDIR/fifo" &
	sleep 0.2
	run -0 --separate-stderr timeout 20 bds-diff "$BATS_TEST_TMPDIR/fifo" to.json
	[ "$output" = "$EXPECTED_TYPED" ]
	wait
}

@test "a hashes file too large for the memory there is: exit 1 naming it, never an abort" {
	if grep -qa __asan_init "$BDS_BUILD/bin/bds-diff"; then
		skip "AddressSanitizer (make asan) needs more address space than ulimit -v leaves"
	fi
	truncate -s 1000M "$BATS_TEST_TMPDIR/big.json"
	run -1 --separate-stderr bash -c 'ulimit -v 400000; exec bds-diff "$1" "$2"' _ "$BATS_TEST_TMPDIR/big.json" "$F/to.json"
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: read '$BATS_TEST_TMPDIR/big.json': out of memory: cannot allocate 1048576001 bytes" ]
}

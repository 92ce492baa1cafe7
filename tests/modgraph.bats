# Modern Bazel as bazel-diff v37 meets it (docs/algorithm.md 1.2, 1.4, 3.1, 4.5): the
# version that gates --output_file and `bazel mod show_repo`; Bzlmod's module graph in the
# hashes' metadata; get-impacted-targets' module path (changed modules -> an rdeps query).
# Bazel 4.2.3 has none of these, so they are tested by contract: tests/bin/modern-bazel
# answers `version` and `mod graph` with recorded output in Bazel's documented formats and
# passes the rest to the real Bazel 4.2.3; tests/modgraph/ModGraph.java is bazel-diff's
# logic again over Debian's Gson, the oracle for the bytes and the decisions.

load helpers
load bds-hash-helpers

MG="$BDS_TOP/tests/fixtures/modgraph"

setup_file() {
	export J="$BATS_FILE_TMPDIR/java"
	mkdir -p "$J"
	javac -nowarn -cp /usr/share/java/gson.jar -d "$J" "$BDS_TOP/tests/modgraph/ModGraph.java"
	# a workspace whose //:a depends on the local repository @ext, //:b on nothing
	export WS="$BATS_FILE_TMPDIR/ws"
	new_workspace "$WS"
	mkdir -p "$WS/ext"
	touch "$WS/ext/WORKSPACE"
	printf 'sh_library(name = "e", visibility = ["//visibility:public"])\n' > "$WS/ext/BUILD"
	printf 'workspace(name = "t")\n\nlocal_repository(name = "ext", path = "ext")\n' > "$WS/WORKSPACE"
	printf 'ext\n' >> "$WS/.bazelignore"
	printf 'sh_library(name = "a", deps = ["@ext//:e"])\nsh_library(name = "b")\n' > "$WS/BUILD"
	# the hashes as Bazel 4.2.3 gives them, the baseline of every contract run
	bds-generate-hashes -w "$WS" "$BATS_FILE_TMPDIR/plain.json"
}

teardown_file() {
	stop_bazel "$WS"
}

# oracle ARGS...: ModGraph.java
oracle() {
	java -cp "$J:/usr/share/java/gson.jar" ModGraph "$@"
}

# modern VERSION GRAPH ARGS...: bds-generate-hashes through the modern-bazel fixture, as
# Bazel VERSION ("" for the real 4.2.3's none) with module graph GRAPH ("" for no Bzlmod);
# the fixture's log of Bazel commands in $BATS_TEST_TMPDIR/log
modern() {
	local version=$1 graph=$2
	shift 2
	: > "$BATS_TEST_TMPDIR/log"
	MODERN_BAZEL_LOG="$BATS_TEST_TMPDIR/log" MODERN_BAZEL_VERSION=$version MODERN_BAZEL_MOD_GRAPH=$graph \
		bds-generate-hashes -w "$WS" -b modern-bazel "$@"
}

# modern_ws WS VERSION ARGS...: bds-generate-hashes in WS through the modern-bazel fixture
# as Bazel VERSION, with the module graph in $MODERN_BAZEL_MOD_GRAPH; its log as modern's
modern_ws() {
	local w=$1 version=$2
	shift 2
	: > "$BATS_TEST_TMPDIR/log"
	MODERN_BAZEL_LOG="$BATS_TEST_TMPDIR/log" MODERN_BAZEL_VERSION=$version bds-generate-hashes -w "$w" -b modern-bazel "$@"
}

# --- the hashes' module graph ---------------------------------------------------------------

@test "bds-hash --module-graph: the hashes in bazel-diff's metadata shape, byte for byte Gson's, for odd graph texts" {
	printf '[{"rule": "//:a", "inputs": ["//:s.txt"]}, {"source": "//:s.txt"}, {"rule": "//:\\u00e9<&=>"}]' |
		make_proto > "$BATS_TEST_TMPDIR/g.bin"
	echo s > "$BATS_TEST_TMPDIR/s.txt"
	run -0 bds-hash -w "$BATS_TEST_TMPDIR" -o "$BATS_TEST_TMPDIR/flat.json" < "$BATS_TEST_TMPDIR/g.bin"
	# texts: Bazel's own; CRLF lines; whitespace Kotlin's trim() drops at both ends (tabs,
	# U+001C, NBSP, U+3000) and keeps inside; quotes, backslashes, control characters,
	# U+2028, a character beyond the BMP, HTML characters Gson would escape by default
	cp "$MG/base.json" "$BATS_TEST_TMPDIR/raw.0"
	printf '{"a": 1}\r\n{"b": "c"}\r\n' > "$BATS_TEST_TMPDIR/raw.1"
	printf '\t\034\302\240\343\200\200 {"k": "in\302\240side"} \t\n\n' > "$BATS_TEST_TMPDIR/raw.2"
	printf 'q"b\\\\c\001\037\342\200\250\360\237\230\200 <root> & = \047\r' > "$BATS_TEST_TMPDIR/raw.3"
	printf '' > "$BATS_TEST_TMPDIR/raw.4"
	printf '\n\r\n  \n' > "$BATS_TEST_TMPDIR/raw.5"
	for text in 0 1 2 3 4 5; do
		run -0 bds-hash -w "$BATS_TEST_TMPDIR" --module-graph "$BATS_TEST_TMPDIR/raw.$text" -o "$BATS_TEST_TMPDIR/bds.$text" \
			< "$BATS_TEST_TMPDIR/g.bin"
		oracle format "$BATS_TEST_TMPDIR/flat.json" "$BATS_TEST_TMPDIR/raw.$text" > "$BATS_TEST_TMPDIR/java.$text"
		cmp "$BATS_TEST_TMPDIR/java.$text" "$BATS_TEST_TMPDIR/bds.$text"
	done
	# the shape itself, by hand, for the empty text
	run -0 jq -r '.metadata.moduleGraphJson' "$BATS_TEST_TMPDIR/bds.4"
	[ "$output" = "" ]
	run -0 jq -c '.hashes == input' "$BATS_TEST_TMPDIR/bds.4" "$BATS_TEST_TMPDIR/flat.json"
	[ "$output" = true ]
	[[ "$(cat "$BATS_TEST_TMPDIR/bds.4")" == *$'"\n  },\n  "metadata": {\n    "moduleGraphJson": ""\n  }\n}' ]]
}

@test "bds-hash --module-graph: a graph that is not UTF-8 is refused; a delta has no metadata shape" {
	printf '[{"rule": "//:a"}]' | make_proto > "$BATS_TEST_TMPDIR/g.bin"
	printf '{"k": "\377"}' > "$BATS_TEST_TMPDIR/bad"
	run -1 --separate-stderr bds-hash -w "$BATS_TEST_TMPDIR" --module-graph "$BATS_TEST_TMPDIR/bad" < "$BATS_TEST_TMPDIR/g.bin"
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: the module graph is not UTF-8 (byte 7)" ]
	run -1 --separate-stderr bds-hash -w "$BATS_TEST_TMPDIR" --module-graph "$BATS_TEST_TMPDIR/none" < "$BATS_TEST_TMPDIR/g.bin"
	[[ "$stderr" == "bds-hash: "*"none"* ]]
	[ "${#stderr_lines[@]}" -eq 1 ]
	run -64 --separate-stderr bds-hash -w "$BATS_TEST_TMPDIR" --module-graph "$MG/base.json" --from-state x --packages y \
		--delta-from 0123456789abcdef0123456789abcdef < /dev/null
	[ "${stderr_lines[0]}" = "bds-hash: --delta-from and --module-graph exclude each other" ]
}

# --- get-impacted-targets' module path ------------------------------------------------------

@test "bds-diff takes bazel-diff v37's module path exactly where it does: 1000 random graph pairs against the Java oracle" {
	python3 "$BDS_TOP/tests/modgraph/cases.py" gen 7 1000 > "$BATS_TEST_TMPDIR/cases"
	oracle decide < "$BATS_TEST_TMPDIR/cases" > "$BATS_TEST_TMPDIR/java"
	python3 "$BDS_TOP/tests/modgraph/cases.py" run "$BDS_BUILD/bin/bds-diff" "$BATS_TEST_TMPDIR/cases" > "$BATS_TEST_TMPDIR/bds"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/java")" -eq 1000 ]
	[ "$(wc -l < "$BATS_TEST_TMPDIR/bds")" -eq 1000 ]
	# every answer equal; a refusal only where the case holds what bds cannot read as
	# Gson does (cases.py's "unsure")
	jq -r '.unsure' "$BATS_TEST_TMPDIR/cases" > "$BATS_TEST_TMPDIR/unsure"
	paste -d '|' "$BATS_TEST_TMPDIR/bds" "$BATS_TEST_TMPDIR/java" "$BATS_TEST_TMPDIR/unsure" |
		awk -F '|' '!($1 == $2 || ($1 == "REFUSED" && $3 == "true")) { print "case " NR ": bds " $1 ", java " $2 }' \
		> "$BATS_TEST_TMPDIR/diffs"
	[ ! -s "$BATS_TEST_TMPDIR/diffs" ] || { head -20 "$BATS_TEST_TMPDIR/diffs"; false; }
	# the corpus reaches each answer: the plain diff, an rdeps query, a refusal
	read -r plain query refused < <(paste -d '|' "$BATS_TEST_TMPDIR/bds" "$BATS_TEST_TMPDIR/java" | awk -F '|' '
		$1 == "REFUSED" { r++; next } $1 == "PLAIN" { p++; next } { q++ } END { print p + 0, q + 0, r + 0 }')
	echo "plain $plain, query $query, refused $refused"
	[ "$plain" -ge 500 ]
	[ "$query" -ge 30 ]
	[ "$refused" -le 250 ]
}

# hashes FILE GRAPH LABEL=VALUE...: a hashes file in the metadata shape (GRAPH "": none)
hashes() {
	local file=$1 graph=$2
	shift 2
	printf '%s\n' "$@" | jq -R 'split("=") | {(.[0]): .[1]}' | jq -s --arg g "$graph" \
		'{hashes: add, metadata: (if $g == "" then {} else {moduleGraphJson: $g} end)}' > "$file"
}

@test "bds-diff's module path: the rdeps labels join the plain answer, ordered and filtered as bazel-diff's" {
	cd "$BATS_TEST_TMPDIR"
	hashes from.json "$(cat "$MG/base.json")" '//:a=Rule#a~a' '//:b=Rule#b~b' '//:s=SourceFile#s~s' '//external:x=Rule#x~x' \
		'@@ext+//:e=Rule#e~e'
	hashes to.json "$(cat "$MG/ext-2.0.json")" '//:a=Rule#a~a' '//:b=Rule#b2~b' '//:s=SourceFile#s~s' '//external:x=Rule#x~x' \
		'@@ext+//:e=Rule#e~e' '//:new=Rule#n~n'
	# plain: //:b changed (INDIRECT), //:new is new
	run -0 bds-diff --module-query from.json to.json
	[ "$output" = "rdeps(//..., @@ext+//...)" ]
	# what the rdeps query answered: //:a and the unchanged //:s, a package group (dropped,
	# as bazel-diff drops every kind but rules and files), //:gone (not in to.json), a
	# canonical label (left out), //:b (impacted already)
	printf '[{"rule": "//:a"}, {"source": "//:s"}, {"package_group": "//:pg"}, {"rule": "//:gone"},
	         {"rule": "@@ext+//:e"}, {"rule": "//:b"}]' | make_proto > rdeps.pb
	run -0 --separate-stderr bds-diff --module-rdeps rdeps.pb from.json to.json
	# ranks: SourceFile, then Rule, then //:gone (no type anywhere: last)
	[ "$output" = $'//:s\n//:a\n//:b\n//:new\n//:gone' ]
	# distances: every label DIRECT, (0, 0); one missing from to.json is left out
	printf '{"//:a": ["//:s"], "//:b": [], "//:new": []}' > deps.json
	run -0 bds-diff --module-rdeps rdeps.pb --dep-edges deps.json from.json to.json
	[ "$(jq -c '[.[] | [.label, .targetDistance, .packageDistance]]' <<<"$output")" = \
		'[["//:s",0,0],["//:a",0,0],["//:b",0,0],["//:new",0,0]]' ]
	# a type filter meets //:gone, which has no hash: bazel-diff fails there too
	run -1 --separate-stderr bds-diff --module-rdeps rdeps.pb --target-type Rule from.json to.json
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: '//:gone', named by the module path's rdeps query, has no hash in 'to.json': a type filter cannot apply to it" ]
	printf '[{"rule": "//:a"}]' | make_proto > rdeps2.pb
	run -0 bds-diff --module-rdeps rdeps2.pb --target-type Rule from.json to.json
	[ "$output" = $'//:a\n//:b\n//:new' ]
	# the query failed: every buildable label of to.json (not //external:, not @@)
	run -0 bds-diff --module-rdeps-failed from.json to.json
	[ "$output" = $'//:s\n//:a\n//:b\n//:new' ]
	# ... or every label, where none is buildable
	hashes from2.json "$(cat "$MG/base.json")" '//external:x=Rule#x~x'
	hashes to2.json "$(cat "$MG/ext-2.0.json")" '//external:x=Rule#x~x' '@@ext+//:e=Rule#e~e'
	run -0 bds-diff --module-rdeps-failed from2.json to2.json
	[ "$output" = $'//external:x\n@@ext+//:e' ]
	# without the query's answer, bds-diff says what it needs
	run -1 --separate-stderr bds-diff from.json to.json
	[ "$output" = "" ]
	[ "$stderr" = "bds-diff: the module graphs of 'from.json' and 'to.json' differ in modules whose repositories 'to.json' hashes: bazel-diff's answer needs Bazel's \`rdeps(//..., @@ext+//...)\` (docs/algorithm.md 4.5); run \`bds bazel-diff get-impacted-targets -w WORKSPACE\`, or pass its output as --module-rdeps" ]
	# a changed module with no repository in to.json (other), equal graphs, a graph on one
	# side only: the plain answer, and --module-rdeps is not read
	hashes to3.json "$(cat "$MG/other-3.2.json")" '//:a=Rule#a~a' '//:b=Rule#b2~b' '@@ext+//:e=Rule#e~e'
	hashes to4.json "$(cat "$MG/base.json")" '//:a=Rule#a~a' '//:b=Rule#b2~b' '@@ext+//:e=Rule#e~e'
	hashes to5.json "" '//:a=Rule#a~a' '//:b=Rule#b2~b' '@@ext+//:e=Rule#e~e'
	for t in to3.json to4.json to5.json; do
		run -0 bds-diff --module-query from.json "$t"
		[ "$output" = "" ]
		run -0 bds-diff --module-rdeps /nonexistent from.json "$t"
		[ "$output" = "//:b" ]
	done
}

@test "bds-diff refuses a module graph it cannot read as Gson does, with one line: never a guess" {
	cd "$BATS_TEST_TMPDIR"
	hashes base.json "$(cat "$MG/base.json")" '//:a=a~a'
	# a lone UTF-16 surrogate as a version: Gson keeps it, libjq would read U+FFFD
	hashes surrogate.json "$(sed 's/"version": "1.0"/"version": "\\ud800"/' "$MG/base.json")" '//:a=a~a'
	# a number where a string belongs: Gson reads its literal text, which libjq loses
	hashes number.json "$(sed 's/"version": "1.0"/"version": 1.0/' "$MG/base.json")" '//:a=a~a'
	# text around the graph that is not JSON
	hashes junk.json "{junk $(cat "$MG/base.json")" '//:a=a~a'
	run -1 --separate-stderr bds-diff --module-query base.json surrogate.json
	[ "$stderr" = "bds-diff: 'surrogate.json': its moduleGraphJson escapes a UTF-16 surrogate, which bds cannot compare as bazel-diff's Gson does" ]
	run -1 --separate-stderr bds-diff base.json number.json
	[ "$stderr" = "bds-diff: 'number.json': a module's \"version\" in its moduleGraphJson is not a string: bds cannot read it as bazel-diff's Gson would" ]
	run -1 --separate-stderr bds-diff junk.json base.json
	[ "$stderr" = "bds-diff: 'junk.json': its moduleGraphJson is not a JSON object that bds can read as bazel-diff's lenient parser would" ]
	[ "$output" = "" ]
	# where Gson throws (JSON null), bazel-diff reads no modules at all: the plain diff
	hashes null.json "$(sed 's/"version": "1.0"/"version": null/' "$MG/base.json")" '//:a=a~b'
	run -0 --separate-stderr bds-diff base.json null.json
	[ "$output" = "//:a" ]
}

# --- version gates and Bzlmod in bds-generate-hashes (contract) --------------------------------

@test "generate-hashes: Bazel's version, read as bazel-diff reads it, sends the query through --output_file from 8.2 on" {
	for v in "" 8.1.9 7.6.1 8.2.0 8.2.0-rc1 9.0.0 10.1.2; do
		run -0 --separate-stderr modern "$v" "" "$BATS_TEST_TMPDIR/h.json"
		# the answer is Bazel 4.2.3's, whichever way it travelled
		cmp "$BATS_FILE_TMPDIR/plain.json" "$BATS_TEST_TMPDIR/h.json"
		run -0 grep -c -- '--output_file' "$BATS_TEST_TMPDIR/log" || true
		case $v in 8.2.0*|9.*|10.*) [ "$output" = 1 ] ;; *) [ "$output" = 0 ] ;; esac
		# bazel version, the Bzlmod probe, the query
		run -0 sed 's/ --query_file .*//' "$BATS_TEST_TMPDIR/log"
		[ "${lines[0]}" = "version" ]
		[ "${lines[1]}" = "mod graph --output=json" ]
		[ "${lines[2]}" = "query --output streamed_proto --proto:instantiation_stack --order_output=no" ]
		[ "${#lines[@]}" -eq 3 ]
	done
	# a Bazel before 8.2 refuses --output_file (the fixture, as Bazel): so a wrong gate fails
	run -2 env MODERN_BAZEL_VERSION=8.1.0 modern-bazel query --output_file /dev/null //:a
}

@test "generate-hashes with Bzlmod: bazel mod graph's JSON in the metadata, as bazel-diff writes it; the hashes are the same" {
	run -0 --separate-stderr modern 7.4.1 "$MG/base.json" "$BATS_TEST_TMPDIR/h.json"
	oracle format "$BATS_FILE_TMPDIR/plain.json" "$MG/base.json" > "$BATS_TEST_TMPDIR/java.json"
	cmp "$BATS_TEST_TMPDIR/java.json" "$BATS_TEST_TMPDIR/h.json"
	run -0 jq -r .metadata.moduleGraphJson "$BATS_TEST_TMPDIR/h.json"
	[ "$output" = "$(cat "$MG/base.json")" ]
	# the same through bds bazel-diff, with --output_file on 8.2
	MODERN_BAZEL_VERSION=8.2.1 MODERN_BAZEL_MOD_GRAPH="$MG/base.json" \
		bds-bazel-diff generate-hashes -w "$WS" -b modern-bazel "$BATS_TEST_TMPDIR/h2.json"
	cmp "$BATS_TEST_TMPDIR/java.json" "$BATS_TEST_TMPDIR/h2.json"
}

# repository_stream OUT CANONICAL:RULE:PATH...: a recorded `bazel mod show_repo
# --output=streamed_proto`: one Build.Repository each, its canonical name, repository rule
# and (when PATH is not empty) a STRING attribute "path"
repository_stream() {
	local out=$1
	shift
	python3 - "$out" "$@" <<-'PY'
		import sys
		def varint(n):
		    b = b""
		    while True:
		        x = n & 0x7f
		        n >>= 7
		        b += bytes([x | (0x80 if n else 0)])
		        if not n:
		            return b
		def field(k, data):
		    return varint(k << 3 | 2) + varint(len(data)) + data
		out = b""
		for spec in sys.argv[2:]:
		    canonical, rule, path = spec.split(":")
		    m = field(1, canonical.encode()) + field(2, rule.encode())
		    if path:
		        m += field(7, field(1, b"path") + varint(2 << 3) + varint(2) + field(5, path.encode()))
		    out += varint(len(m)) + m
		open(sys.argv[1], "wb").write(out)
	PY
}

@test "bds-modgraph makes bazel-diff v37's synthetic targets of Bzlmod repositories: 300 random cases against the Java oracle" {
	local j=$BATS_TEST_TMPDIR/jr c
	mkdir -p "$j/classes"
	protoc -I"$BDS_TOP/tests/proto-canon" -I"$BDS_TOP/tests/modgraph" --java_out="$j" \
		"$BDS_TOP/tests/proto-canon/attribute.proto" "$BDS_TOP/tests/modgraph/repos.proto"
	javac -nowarn -cp /usr/share/java/protobuf.jar:/usr/share/java/gson.jar -d "$j/classes" \
		"$BDS_TOP/tests/modgraph/ShowRepo.java" "$BDS_TOP/tests/modgraph/ModGraph.java" "$j"/bds/protocanon/*.java
	show_repo() { java -cp "$j/classes:/usr/share/java/protobuf.jar:/usr/share/java/gson.jar" ShowRepo "$@"; }
	show_repo gen 1 300 "$BATS_TEST_TMPDIR/cases"
	local made=0 hashed=0 inputs=0 k
	for k in $(seq 0 299); do
		c=$BATS_TEST_TMPDIR/cases/$k
		bds-modgraph --show-repo-names "$c/mapping.txt" > "$c/bds.names"
		bds-modgraph --repo-targets -w "$c/ws" "$c/mapping.txt" "$c/repos.pb" "$c/graph.json" > "$c/bds.pb"
		[ ! -s "$c/bds.pb" ] || made=$((made + 1))
		! grep -q _bazel_diff_content_hash "$c/bds.pb" || hashed=$((hashed + 1))
		! grep -qa //external: <(tr -d '\0' < "$c/bds.pb" | grep -ao '\*.//external:') || inputs=$((inputs + 1))
	done
	show_repo names "$BATS_TEST_TMPDIR/cases" 300
	for k in $(seq 0 299); do
		cmp "$BATS_TEST_TMPDIR/cases/$k/bds.names" "$BATS_TEST_TMPDIR/cases/$k/java.names"
	done
	run -0 show_repo check "$BATS_TEST_TMPDIR/cases" 300
	[ "$output" = "" ]
	# the corpus reaches what matters: targets, local repositories' content hashes, and
	# inputs from the module graph's edges
	echo "targets in $made cases, content hashes in $hashed, inputs in $inputs"
	[ "$made" -ge 150 ]
	[ "$hashed" -ge 50 ]
	[ "$inputs" -ge 10 ]
}

@test "bds-modgraph --repo-targets refuses what a warm machine may not see as bazel-diff did: a local repository outside the workspace, a link out of it" {
	cd "$BATS_TEST_TMPDIR"
	mkdir -p ws/loc outside
	printf 'x\n' > outside/f
	printf '{"loc":"loc+"}\n' > mapping.txt
	printf '{"name":"main","dependencies":[]}\n' > graph.json
	repository_stream repos.pb "loc+:local_repository:$BATS_TEST_TMPDIR/outside"
	run -1 --separate-stderr bds-modgraph --repo-targets -w ws mapping.txt repos.pb graph.json
	[ "$stderr" = "bds-modgraph: local repository 'loc+': its directory '$BATS_TEST_TMPDIR/outside' is outside the workspace: bazel-diff hashes its files, which bds cannot prove a warm machine has" ]
	repository_stream repos.pb "loc+:local_repository:loc"
	ln -s "$BATS_TEST_TMPDIR/outside/f" ws/loc/link
	run -1 --separate-stderr bds-modgraph --repo-targets -w ws mapping.txt repos.pb graph.json
	[ "$stderr" = "bds-modgraph: local repository 'loc+': 'ws/loc/link' is a symbolic link out of the workspace, which bds does not follow (bazel-diff hashes what it finds there, which a warm machine may not have)" ]
	# a link inside the workspace is read through, as Java reads it
	rm ws/loc/link
	printf 'y\n' > ws/target
	ln -s ../target ws/loc/link
	run -0 --separate-stderr bds-modgraph --repo-targets -w ws mapping.txt repos.pb graph.json
	[ -n "$output" ]
	# a truncated stream
	head -c 5 repos.pb > cut.pb
	run -1 --separate-stderr bds-modgraph --repo-targets -w ws mapping.txt cut.pb graph.json
	[ "$stderr" = "bds-modgraph: 'cut.pb': a repository message at byte 0 is truncated" ]
}

@test "generate-hashes on Bazel 8.6+ with Bzlmod hashes each Bzlmod repository as bazel-diff does, through mod show_repo (contract)" {
	local ws=$BATS_TEST_TMPDIR/repos
	new_workspace "$ws"
	mkdir -p "$ws/inner" "$ws/middle"
	touch "$ws/inner/WORKSPACE" "$ws/middle/WORKSPACE"
	printf 'sh_library(name = "i", visibility = ["//visibility:public"])\n' > "$ws/inner/BUILD"
	printf 'sh_library(name = "m", visibility = ["//visibility:public"])\n' > "$ws/middle/BUILD"
	printf 'sh_library(name = "a", deps = ["@middle//:m"])\nsh_library(name = "b")\n' > "$ws/BUILD"
	printf 'workspace(name = "t")\nlocal_repository(name = "inner", path = "inner")\nlocal_repository(name = "middle", path = "middle")\n' \
		> "$ws/WORKSPACE"
	printf 'inner\nmiddle\n' >> "$ws/.bazelignore"
	commit_all "$ws" base >/dev/null
	cd "$BATS_TEST_TMPDIR"
	# the root depends on middle, middle on inner; both local_path_override'd
	cat > graph.json <<-'EOF2'
		{"key": "<root>", "name": "t", "version": "", "apparentName": "t", "dependencies": [
		  {"key": "middle@_", "name": "middle", "version": "", "apparentName": "middle", "dependencies": [
		    {"key": "inner@_", "name": "inner", "version": "", "apparentName": "inner", "dependencies": []}]}]}
	EOF2
	printf '{"":"","bazel_tools":"bazel_tools","middle":"middle+","inner":"inner+","t":""}\n' > mapping.txt
	repository_stream repos.pb "middle+:local_repository:middle" "inner+:local_repository:inner"
	export MODERN_BAZEL_MOD_GRAPH=$BATS_TEST_TMPDIR/graph.json MODERN_BAZEL_REPO_MAPPING=$BATS_TEST_TMPDIR/mapping.txt
	export MODERN_BAZEL_SHOW_REPO=$BATS_TEST_TMPDIR/repos.pb
	# (//external:all-targets left out: Bazel 4.2.3's WORKSPACE repositories would take the
	# synthetic targets' names first, as bazel-diff's distinctBy keeps the query's)
	run -0 --separate-stderr modern_ws "$ws" 8.6.0 --exclude-external-targets h1.json
	run -0 grep -c -e '^mod dump_repo_mapping $' -e '^mod show_repo @@middle+ @@inner+ --output=streamed_proto$' "$BATS_TEST_TMPDIR/log"
	[ "$output" = 2 ]
	# the synthetic targets are hashed (middle's rule input //external:inner), and //:a
	# (whose @middle input is //external:middle) takes middle's hash in
	run -0 jq -r '.hashes | keys | map(select(startswith("//external:"))) | join(" ")' h1.json
	[ "$output" = "//external:inner //external:middle" ]
	run -0 --separate-stderr modern_ws "$ws" 8.5.0 --exclude-external-targets h0.json
	run -0 jq -r '.hashes | keys | map(select(startswith("//external:"))) | length' h0.json
	[ "$output" = 0 ]
	# a file of inner's changes inner's content hash, then middle's and //:a's; not //:b's
	printf '# edited\n' >> "$ws/inner/BUILD"
	run -0 --separate-stderr modern_ws "$ws" 8.6.0 --exclude-external-targets h2.json
	run -0 jq -r --slurpfile old h1.json '.hashes | to_entries | map(select($old[0].hashes[.key] != .value) | .key) | join(" ")' h2.json
	[ "$output" = "//:a //external:inner //external:middle" ]
	# MODULE.bazel.lock is no content
	printf 'lock\n' > "$ws/inner/MODULE.bazel.lock"
	run -0 --separate-stderr modern_ws "$ws" 8.6.0 --exclude-external-targets h3.json
	cmp h2.json h3.json
	# 9.0.0 lacks show_repo's proto output: bazel-diff does not ask, nor does bds
	run -0 --separate-stderr modern_ws "$ws" 9.0.0 --exclude-external-targets h4.json
	run -1 grep -c '^mod show_repo' "$BATS_TEST_TMPDIR/log"
	# show_repo failing: bazel-diff goes on without the repositories, with a warning
	MODERN_BAZEL_SHOW_REPO="" run -0 --separate-stderr modern_ws "$ws" 9.0.1 --exclude-external-targets h5.json
	[[ "$stderr" == *"bds-generate-hashes: warning: bazel mod show_repo failed (exit 2): no Bzlmod repository is hashed, as bazel-diff goes on"* ]]
	run -0 jq -r '.hashes | keys | map(select(startswith("//external:"))) | length' h5.json
	[ "$output" = 0 ]
	# the partial path never answers with them
	git -C "$ws" add -A && git -C "$ws" commit -q -m edit
	run -0 --separate-stderr modern_ws "$ws" 8.6.0 --exclude-external-targets --record-state h6.json
	printf '# again\n' >> "$ws/BUILD"
	git -C "$ws" commit -q -am again
	run -0 --separate-stderr modern_ws "$ws" 8.6.0 --exclude-external-targets --incremental h7.json
	[[ "$stderr" == *"bds-generate-hashes: full path: Bazel 8.6.0 with Bzlmod: every Bzlmod repository is hashed again (bazel mod show_repo)"* ]]
	stop_bazel "$ws"
}

@test "bds bazel-diff get-impacted-targets: a module's new version queries Bazel for its repository's rdeps (contract)" {
	cd "$BATS_TEST_TMPDIR"
	export MODERN_BAZEL_VERSION=8.2.0
	MODERN_BAZEL_MOD_GRAPH="$MG/base.json" bds-bazel-diff generate-hashes -w "$WS" -b modern-bazel from.json
	MODERN_BAZEL_MOD_GRAPH="$MG/ext-2.0.json" bds-bazel-diff generate-hashes -w "$WS" -b modern-bazel to.json
	# Bazel 4.2.3 names the repository @ext; a Bazel with Bzlmod names its module's
	# repository @@ext+: the final hashes as that Bazel would write them
	jq '.hashes["@@ext+//:e"] = "e~e"' to.json > to-bzlmod.json
	export MODERN_BAZEL_MOD_GRAPH="$MG/ext-2.0.json" MODERN_BAZEL_LOG="$BATS_TEST_TMPDIR/log"
	run -0 --separate-stderr bds-bazel-diff get-impacted-targets -w "$WS" -b modern-bazel -sh from.json -fh to-bzlmod.json
	# //:a depends on the repository, //:b does not; @ext//:e is rdeps' own answer (Bazel
	# 4.2.3's name for it, in no hashes); @@ext+//:e is new in the final hashes
	[ "$output" = $'//:a\n@@ext+//:e\n@ext//:e' ]
	run -0 grep -c '^query .*--query_file .*rdeps.txt --output_file ' log
	[ "$output" = 1 ]
	# the same from pipes, which can be read once
	run -0 --separate-stderr bds-bazel-diff get-impacted-targets -w "$WS" -b modern-bazel -sh <(cat from.json) \
		-fh <(cat to-bzlmod.json)
	[ "$output" = $'//:a\n@@ext+//:e\n@ext//:e' ]
	# the plain diff where the changed module has no repository in the hashes: no query
	: > log
	run -0 --separate-stderr bds-bazel-diff get-impacted-targets -w "$WS" -b modern-bazel -sh from.json -fh to.json
	[ "$output" = "" ]
	run -0 grep -c '^query ' log || true
	[ "$output" = 0 ]
	# a failing query (no repository @nosuch): bazel-diff's fallback, every buildable label
	sed 's/"ext/"nosuch/g' "$MG/ext-2.0.json" > nosuch.json
	jq --rawfile g nosuch.json '.metadata.moduleGraphJson = $g | .hashes["@@nosuch+//:e"] = "e~e"' to.json > to-nosuch.json
	MODERN_BAZEL_MOD_GRAPH="$BATS_TEST_TMPDIR/nosuch.json" \
		run -0 --separate-stderr bds-bazel-diff get-impacted-targets -w "$WS" -b modern-bazel -sh from.json -fh to-nosuch.json
	[ "$output" = "$(jq -r '.hashes | keys[] | select(startswith("//") and (startswith("//external:") | not))' to.json)"$'\n@@nosuch+//:e' ]
	[[ "${stderr_lines[0]}" == "bds-bazel-diff get-impacted-targets: warning: the module graphs differ and 'rdeps(//..., @@nosuch+//...)' failed (exit "* ]]
	# no rdeps query answer without -w's Bazel: bds diff itself says so
	run -1 --separate-stderr bds diff from.json to-bzlmod.json
	[[ "$stderr" == *"bazel-diff's answer needs Bazel's \`rdeps(//..., @@ext+//...)\`"* ]]
}

@test "generate-hashes --incremental takes Bazel's version and Bzlmod from its state; the full path asks again" {
	local ws=$BATS_TEST_TMPDIR/inc
	new_lib_app "$ws"
	commit_all "$ws" base >/dev/null
	# modern_in WS VERSION GRAPH ARGS...: as modern, in another workspace
	modern_in() {
		local w=$1 version=$2 graph=$3
		shift 3
		: > "$BATS_TEST_TMPDIR/log"
		MODERN_BAZEL_LOG="$BATS_TEST_TMPDIR/log" MODERN_BAZEL_VERSION=$version MODERN_BAZEL_MOD_GRAPH=$graph \
			bds-generate-hashes -w "$w" -b modern-bazel "$@"
	}
	commands() { sed 's/ --query_file .*//; s/^query .*/query/' "$BATS_TEST_TMPDIR/log" | paste -sd, -; }
	run -0 --separate-stderr modern_in "$ws" 8.2.0 "" --record-state "$BATS_TEST_TMPDIR/base.json"
	[ "$(commands)" = "version,mod graph --output=json,query" ]
	run -0 cat "$ws/.git/bds-graph.state.bazel"
	[ "$output" = $'version 8 2 0\nbzlmod 0' ]
	# a leaf edit: the partial path asks Bazel nothing but the query, which still goes
	# through --output_file (the state's 8.2.0)
	printf 'a2\n' > "$ws/lib/a.txt"
	commit_all "$ws" leaf >/dev/null
	run -0 --separate-stderr modern_in "$ws" 8.2.0 "" --incremental "$BATS_TEST_TMPDIR/leaf.json"
	[[ "$stderr" == *"bds-generate-hashes: partial: re-hashed "* ]]
	[ "$(commands)" = "query" ]
	run -0 grep -c -- '--output_file' "$BATS_TEST_TMPDIR/log"
	run -0 --separate-stderr modern_in "$ws" 8.2.0 "" "$BATS_TEST_TMPDIR/leaf-full.json"
	cmp "$BATS_TEST_TMPDIR/leaf-full.json" "$BATS_TEST_TMPDIR/leaf.json"
	# with Bzlmod in the state, the graph is asked again (it is the answer's), the version not
	run -0 --separate-stderr modern_in "$ws" 7.4.1 "$MG/base.json" --record-state "$BATS_TEST_TMPDIR/base2.json"
	[ "$(cat "$ws/.git/bds-graph.state.bazel")" = $'version 7 4 1\nbzlmod 1' ]
	printf 'a3\n' > "$ws/lib/a.txt"
	commit_all "$ws" leaf2 >/dev/null
	run -0 --separate-stderr modern_in "$ws" 7.4.1 "$MG/ext-2.0.json" --incremental "$BATS_TEST_TMPDIR/leaf2.json"
	[[ "$stderr" == *"bds-generate-hashes: partial: re-hashed "* ]]
	[ "$(commands)" = "mod graph --output=json,query" ]
	run -0 jq -r .metadata.moduleGraphJson "$BATS_TEST_TMPDIR/leaf2.json"
	[ "$output" = "$(cat "$MG/ext-2.0.json")" ]
	run -0 --separate-stderr modern_in "$ws" 7.4.1 "$MG/ext-2.0.json" "$BATS_TEST_TMPDIR/leaf2-full.json"
	cmp "$BATS_TEST_TMPDIR/leaf2-full.json" "$BATS_TEST_TMPDIR/leaf2.json"
	# a .bazelrc edit takes the full path, which asks the version again; the graph was
	# asked of this worktree already
	printf '# nothing\n' > "$ws/.bazelrc"
	commit_all "$ws" rc >/dev/null
	run -0 --separate-stderr modern_in "$ws" 7.4.1 "$MG/ext-2.0.json" --incremental "$BATS_TEST_TMPDIR/rc.json"
	[[ "$stderr" == *"bds-generate-hashes: full path: "* ]]
	[ "$(commands)" = "mod graph --output=json,version,query" ]
	run -0 jq -r .metadata.moduleGraphJson "$BATS_TEST_TMPDIR/rc.json"
	[ "$output" = "$(cat "$MG/ext-2.0.json")" ]
	# a state without Bzlmod whose full path meets it: both asked on that path, and 8.6's
	# show_repo path follows what was asked, not what the state said
	run -0 --separate-stderr modern_in "$ws" 8.5.0 "" --record-state "$BATS_TEST_TMPDIR/base3.json"
	[ "$(cat "$ws/.git/bds-graph.state.bazel")" = $'version 8 5 0\nbzlmod 0' ]
	printf '# still nothing\n' > "$ws/.bazelrc"
	commit_all "$ws" rc2 >/dev/null
	run -0 --separate-stderr modern_in "$ws" 8.6.0 "$MG/base.json" --incremental "$BATS_TEST_TMPDIR/rc2.json"
	[ "$(commands)" = "version,mod graph --output=json,mod dump_repo_mapping ,query" ]
	[[ "$stderr" == *"bds-generate-hashes: warning: bazel mod dump_repo_mapping failed (exit 2): no Bzlmod repository is hashed, as bazel-diff goes on"* ]]
	stop_bazel "$ws"
}

@test "bds-cold asks its own server for the module path's rdeps; bds-consume goes cold for them, and --cold answers (contract)" {
	local ws=$BATS_TEST_TMPDIR/ws
	cd "$BATS_TEST_TMPDIR"
	# WS's graph (//:a depends on the local repository @ext), each revision with its own
	# module graph: the target's has a new version of ext
	new_workspace "$ws"
	cp -R "$WS/ext" "$WS/BUILD" "$WS/WORKSPACE" "$WS/.bazelignore" "$ws/"
	cp "$MG/base.json" "$ws/modgraph.json"
	local base target
	base=$(commit_all "$ws" base)
	cp "$MG/ext-2.0.json" "$ws/modgraph.json"
	target=$(commit_all "$ws" target)
	# Bazel 8.2 with Bzlmod, whose hashes name the repository @@ext+ (bzlmod-names-diff)
	export MODERN_BAZEL_VERSION=8.2.0 MODERN_BAZEL_MOD_GRAPH=modgraph.json MODERN_BAZEL_LOG=$BATS_TEST_TMPDIR/log
	export BDS_DIFF=bzlmod-names-diff BZLMOD_NAMES_DIR=$BATS_TEST_TMPDIR
	# the plain diff is empty (only the module graph changed): the answer is the rdeps of
	# @@ext+, the query's own @ext//:e last (no final hash names it)
	run -0 --separate-stderr bds-cold -w "$ws" --base "$base" --target "$target" -b modern-bazel --fine-grained-repos @ext
	[ "$output" = $'//:a\n@ext//:e' ]
	[[ "$stderr" == *$'\nbds-cold: module rdeps '* ]]
	# asked once, of the cold path's own server (its output base), through --output_file
	run -0 grep -c -e '--output_base=.* query .*--query_file .*/rdeps.txt --output_file ' log
	[ "$output" = 1 ]
	# without the graph change there is no query
	: > log
	run -0 --separate-stderr bds-cold -w "$ws" --base "$target" --target "$target" -b modern-bazel --fine-grained-repos @ext
	[ "$output" = "" ]
	run -1 grep -c -e ' query .*rdeps.txt' log
	[ "$output" = 0 ]

	# a consume: the warm machine is released before the diff, so the rdeps query is the
	# cold path's: exit 2, saying why; with --cold the half-cold path answers as bds-cold
	export BDS_CACHE=$BATS_TEST_TMPDIR/cache
	bds-record -w "$ws" --base "$base" --store "$BATS_TEST_TMPDIR/store" -b modern-bazel --fine-grained-repos @ext 2> record.err
	run -2 --separate-stderr bds-consume -w "$ws" --target "$target" --store "$BATS_TEST_TMPDIR/store" -b modern-bazel \
		--fine-grained-repos @ext
	[ "$output" = "" ]
	[[ "$stderr" == *$'\nbds-consume: cold: the module graphs differ in modules whose repositories the target\'s hashes name: bazel-diff\'s answer needs Bazel\'s `rdeps(//..., @@ext+//...)` (docs/algorithm.md 4.5), which the cold path runs' ]]
	run -0 --separate-stderr bds-consume -w "$ws" --target "$target" --store "$BATS_TEST_TMPDIR/store" -b modern-bazel \
		--fine-grained-repos @ext --cold
	[ "$output" = $'//:a\n@ext//:e' ]
	[[ "$stderr" == *"bds-cold: half-cold: "* ]]
	stop_warm_servers
}

@test "bds-diff in a pipeline: a module path that needs Bazel's rdeps query is cold (2), the envelope saying why" {
	cd "$BATS_TEST_TMPDIR"
	jq '.hashes["@@ext+//:e"] = "e~e"' <(MODERN_BAZEL_VERSION=7.4.1 MODERN_BAZEL_MOD_GRAPH="$MG/ext-2.0.json" \
		bds-generate-hashes -w "$WS" -b modern-bazel /dev/stdout) > to.json
	MODERN_BAZEL_VERSION=7.4.1 MODERN_BAZEL_MOD_GRAPH="$MG/base.json" bds-generate-hashes -w "$WS" -b modern-bazel from.json
	printf '{"hashes": {"base": "%s", "target": "%s"}, "kept": 1}\n' "$PWD/from.json" "$PWD/to.json" > env.json
	run -2 --separate-stderr bds-diff -o answer < env.json
	[ "$stderr" = "" ]
	[ ! -e answer ]
	# (one line, the keys sorted)
	[ "$output" = '{"cold":{"reason":"the module graphs differ in modules whose repositories the target'\''s hashes name: bazel-diff'\''s answer needs Bazel'\''s `rdeps(//..., @@ext+//...)` (docs/algorithm.md 4.5), which the cold path runs","stage":"bds-diff"},"hashes":{"base":"'"$PWD"'/from.json","target":"'"$PWD"'/to.json"},"kept":1}' ]
	# the same graphs: the plain answer
	cp from.json same.json
	printf '{"hashes": {"base": "%s", "target": "%s"}}\n' "$PWD/from.json" "$PWD/same.json" > env.json
	run -0 --separate-stderr bds-diff < env.json
	[ "$output" = "" ]
}

# --- --fine-grained-repos with Bzlmod ---------------------------------------------------------

@test "bds-modgraph expands --fine-grained-repos as bazel-diff v37 does with Bzlmod: 1000 random cases against the Java oracle" {
	python3 "$BDS_TOP/tests/modgraph/cases.py" gen-expand 7 1000 > "$BATS_TEST_TMPDIR/cases"
	oracle expand < "$BATS_TEST_TMPDIR/cases" > "$BATS_TEST_TMPDIR/java"
	python3 "$BDS_TOP/tests/modgraph/cases.py" run-expand "$BDS_BUILD/bin/bds-modgraph" "$BATS_TEST_TMPDIR/cases" \
		> "$BATS_TEST_TMPDIR/bds"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/java")" -eq 1000 ]
	[ "$(wc -l < "$BATS_TEST_TMPDIR/bds")" -eq 1000 ]
	# every answer equal, the order too; a refusal only where the case holds what bds
	# cannot read as Gson does
	jq -r '.unsure' "$BATS_TEST_TMPDIR/cases" > "$BATS_TEST_TMPDIR/unsure"
	paste -d '|' "$BATS_TEST_TMPDIR/bds" "$BATS_TEST_TMPDIR/java" "$BATS_TEST_TMPDIR/unsure" |
		awk -F '|' '!($1 == $2 || ($1 == "REFUSED" && $3 == "true")) { print "case " NR ": bds " $1 ", java " $2 }' \
		> "$BATS_TEST_TMPDIR/diffs"
	[ ! -s "$BATS_TEST_TMPDIR/diffs" ] || { head -20 "$BATS_TEST_TMPDIR/diffs"; false; }
	# the corpus reaches each answer: expanded, as given, refused
	jq -r '.repos | join(",")' "$BATS_TEST_TMPDIR/cases" > "$BATS_TEST_TMPDIR/given"
	read -r expanded given refused < <(paste -d '|' "$BATS_TEST_TMPDIR/bds" "$BATS_TEST_TMPDIR/given" | awk -F '|' '
		$1 == "REFUSED" { r++; next } $1 != $2 { x++; next } { g++ } END { print x + 0, g + 0, r + 0 }')
	echo "expanded $expanded, as given $given, refused $refused"
	[ "$expanded" -ge 80 ]
	[ "$given" -ge 500 ]
	[ "$refused" -le 250 ]
}

@test "bds-modgraph: usage, an unreadable graph, a value bds cannot read as Gson" {
	cd "$BATS_TEST_TMPDIR"
	run -64 --separate-stderr bds-modgraph graph.json
	[ "${stderr_lines[0]}" = "bds-modgraph: expected one of --fine-grained-repos, --show-repo-names, --repo-targets" ]
	run -64 --separate-stderr bds-modgraph --fine-grained-repos @a
	[ "${stderr_lines[0]}" = "bds-modgraph: expected one file" ]
	run -1 --separate-stderr bds-modgraph --fine-grained-repos @a nosuch.json
	[[ "$stderr" == "bds-modgraph: "*"nosuch.json"* ]]
	[ "${#stderr_lines[@]}" -eq 1 ]
	printf '{"apparentName": "", "dependencies": [{"apparentName": "x", "unexpanded": [true]}]}\n' > bent.json
	run -1 --separate-stderr bds-modgraph --fine-grained-repos @a bent.json
	[ "$stderr" = "bds-modgraph: 'bent.json': an \"unexpanded\" in the module graph is not a string or a boolean: bds cannot read it as bazel-diff's Gson would" ]
	# Gson throws on a JSON null there: bazel-diff expands nothing
	printf '{"apparentName": "", "dependencies": [{"apparentName": "x", "unexpanded": null}]}\n' > null.json
	run -0 --separate-stderr bds-modgraph --fine-grained-repos @x null.json
	[ "$output" = "@x" ]
	printf '{"apparentName": "", "dependencies": [{"apparentName": "y", "dependencies": [{"apparentName": "x"}]}]}\n' > ok.json
	run -0 --separate-stderr bds-modgraph --fine-grained-repos @x, ok.json
	[ "$output" = "@x,@y" ]
}

@test "generate-hashes with Bzlmod hashes the modules that wrap a --fine-grained-repos repository too (bazel-diff issue #197, contract)" {
	local ws=$BATS_TEST_TMPDIR/wrap
	new_workspace "$ws"
	mkdir -p "$ws/inner" "$ws/middle"
	touch "$ws/inner/WORKSPACE" "$ws/middle/WORKSPACE"
	printf 'sh_library(name = "i", visibility = ["//visibility:public"])\n' > "$ws/inner/BUILD"
	printf 'sh_library(name = "m", deps = ["@inner//:i"], visibility = ["//visibility:public"])\n' > "$ws/middle/BUILD"
	printf 'sh_library(name = "a", deps = ["@middle//:m"])\n' > "$ws/BUILD"
	printf 'workspace(name = "t")\nlocal_repository(name = "inner", path = "inner")\nlocal_repository(name = "middle", path = "middle")\n' \
		> "$ws/WORKSPACE"
	printf 'inner\nmiddle\n' >> "$ws/.bazelignore"
	# the root depends on middle, middle on inner
	cat > "$BATS_TEST_TMPDIR/graph.json" <<-'EOF2'
		{"key": "<root>", "name": "t", "version": "", "apparentName": "t", "dependencies": [
		  {"key": "middle@1.0", "name": "middle", "version": "1.0", "apparentName": "middle", "dependencies": [
		    {"key": "inner@1.0", "name": "inner", "version": "1.0", "apparentName": "inner", "dependencies": []}]}]}
	EOF2
	cd "$BATS_TEST_TMPDIR"
	MODERN_BAZEL_VERSION=7.4.1 MODERN_BAZEL_MOD_GRAPH="$BATS_TEST_TMPDIR/graph.json" \
		bds-generate-hashes -w "$ws" -b modern-bazel --fine-grained-repos @inner bzlmod.json
	bds-generate-hashes -w "$ws" --fine-grained-repos @inner plain.json
	bds-generate-hashes -w "$ws" --fine-grained-repos @inner,@middle both.json
	# with Bzlmod, @middle's targets are hashed as bazel-diff hashes them: as if given
	run -0 jq -S .hashes bzlmod.json
	[ "$output" = "$(jq -S . both.json)" ]
	run -0 jq -r '.hashes | keys[]' bzlmod.json
	[[ "$output" == *"@middle//:m"* ]]
	# without it, only what was given
	run -0 jq -r 'keys[]' plain.json
	[[ "$output" != *"@middle//:m"* ]]
	stop_bazel "$ws"
}

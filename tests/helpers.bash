# Shared test setup: paths to the build, a Bazel wrapper, and workspace helpers.
# Load with `load helpers` at the top of a .bats file.

bats_require_minimum_version 1.5.0

BDS_TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
: "${BDS_BUILD:=$BDS_TOP/build}"
export BDS_BUILD
export PATH="$BDS_TOP/tests/bin:$BDS_BUILD/bin:$BDS_TOP/scripts:$PATH"
export BDS_TEST_BAZEL_ROOT="${BDS_TEST_BAZEL_ROOT:-$BATS_RUN_TMPDIR/bazel-root}"
export BDS_HASH="$BDS_BUILD/bin/bds-hash"

# new_workspace DIR: an empty WORKSPACE-mode git repository, ready for commits.
new_workspace() {
	mkdir -p "$1"
	(
		cd "$1"
		git init -q
		git config user.name bds-test
		git config user.email test@bds.invalid
		git config gc.auto 0
		printf 'workspace(name = "t")\n' > WORKSPACE
		printf '.git\n' > .bazelignore
		printf 'bazel-*\n' > .gitignore
	)
}

# new_lib_app DIR: new_workspace DIR with two packages, uncommitted: lib (a.txt and
# b.txt in the filegroup :fg, and the genrule :gen over it) and app (the genrule :app over
# //lib:gen), the smallest graph where an edit in lib reaches another package.
new_lib_app() {
	new_workspace "$1"
	mkdir -p "$1/lib" "$1/app"
	printf 'a\n' > "$1/lib/a.txt"
	printf 'b\n' > "$1/lib/b.txt"
	cat > "$1/lib/BUILD" <<-'EOF2'
		filegroup(name = "fg", srcs = ["a.txt", "b.txt"], visibility = ["//visibility:public"])
		genrule(name = "gen", srcs = [":fg"], outs = ["gen.out"], cmd = "cat $(SRCS) > $@",
		        visibility = ["//visibility:public"])
	EOF2
	printf 'genrule(name = "app", srcs = ["//lib:gen"], outs = ["app.out"], cmd = "cp $< $@")\n' > "$1/app/BUILD"
}

# commit_all DIR MESSAGE: commits everything and prints the new sha.
commit_all() {
	(cd "$1" && git add -A && git commit -q -m "$2" && git rev-parse HEAD)
}

# hash_workspace DIR OUT [bds-hash options]: the full bazel-diff query piped into bds-hash.
hash_workspace() {
	ws=$1 out=$2
	shift 2
	bds-generate-hashes -w "$ws" "$@" "$out"
}

# stop_bazel DIR: shuts down the workspace's Bazel server (safe if none runs).
stop_bazel() {
	[ -d "$1" ] && (cd "$1" && bazel shutdown >/dev/null 2>&1) || true
}

# stop_warm_servers: shuts down the Bazel server of every local warm state in $BDS_CACHE
# (safe if none runs): a file's teardown, or a test that takes the warm machines away.
stop_warm_servers() {
	local ob
	for ob in "$BDS_CACHE"/local/*/*/output_base; do
		[ -d "$ob" ] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
}

# change NAME [FROM]: a commit in $WS on top of FROM (default $BASE), made by the commands
# on stdin, run in the workspace; prints its sha and leaves the workspace checked out
# there. Every step is chained: `t=$(change ...)` runs with errexit off (a command
# substitution), so only the status of the whole chain can fail the test.
change() {
	(
		cd "$WS" &&
		git checkout -q --detach "${2:-$BASE}" &&
		sh -e &&
		git add -A &&
		git commit -q -m "$1" &&
		git rev-parse HEAD
	)
}

# same_answer GOT COLD: the two answers are byte-identical and not empty (two empty
# answers would compare nothing). Call it directly, never under `run`: `run` turns errexit
# off inside the function it runs, so its checks could never fail the test.
same_answer() {
	if [ "$1" != "$2" ]; then
		printf 'the answers differ\n--- cold\n%s\n--- got\n%s\n' "$2" "$1" >&2
		return 1
	fi
	if [ -z "$2" ]; then
		echo "the cold answer is empty: nothing was compared" >&2
		return 1
	fi
}

# stop_background: kills and reaps every process a test started in the background (their
# pids in BG_PIDS): a teardown, so that none outlives its test, whatever the outcome.
stop_background() {
	local pid
	for pid in ${BG_PIDS:-}; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

# changed_keys A.json B.json: keys whose values differ or that exist in only one file.
changed_keys() {
	jq -r -n --slurpfile a "$1" --slurpfile b "$2" \
		'($a[0] | keys) + ($b[0] | keys) | unique[] as $k
		 | select($a[0][$k] != $b[0][$k]) | $k'
}

# broken TOOL STATUS [WHEN]: a TOOL that exits STATUS when its arguments contain WHEN
# (always without WHEN) and runs the real one otherwise, in $BATS_TEST_TMPDIR/broken.
# with_broken puts it first on PATH: the scripts put their own directory and the
# build's before it, but no helper tool lives there.
broken() {
	mkdir -p "$BATS_TEST_TMPDIR/broken"
	local real
	real=$(command -v "$1")
	local q="'\\''"
	cat > "$BATS_TEST_TMPDIR/broken/$1" <<-EOF
		#!/bin/sh
		when='${3//\'/$q}'
		case "\$*" in
		*"\$when"*) echo "$1: broken for the test" >&2; exit $2 ;;
		esac
		exec $real "\$@"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/broken/$1"
}

# with_broken CMD...: CMD with $BATS_TEST_TMPDIR/broken first on PATH.
with_broken() {
	env PATH="$BATS_TEST_TMPDIR/broken:$PATH" "$@"
}

# check_bad_cold CMD...: the stage CMD refuses (1, nothing on stdout, the exact message)
# every envelope whose `cold` is not an object with a string `stage` and `reason`, and
# writes a cold one with more keys through unchanged (2). Call it directly, never under
# `run`.
check_bad_cold() {
	local name=${1##*/} e found
	while IFS='|' read -r e found; do
		run -1 --separate-stderr "$@" <<<"$e"
		[ "$output" = "" ]
		[ "$stderr" = "$name: read envelope 'stdin': key 'cold': expected an object with a string 'stage' and 'reason', found $found" ]
	done <<-'EOF2'
		{"cold":null}|null
		{"cold":false}|boolean
		{"cold":true}|boolean
		{"cold":"x"}|string
		{"cold":0}|number
		{"cold":[]}|array
		{"cold":{}}|an object without a string 'stage'
		{"cold":{"stage":"s"}}|an object without a string 'reason'
		{"cold":{"reason":"r","stage":1}}|an object without a string 'stage'
		{"cold":{"reason":null,"stage":"s"}}|an object without a string 'reason'
	EOF2
	e='{"cold":{"extra":[1],"reason":"r","stage":"s"},"z":1}'
	run -2 --separate-stderr "$@" <<<"$e"
	[ "$output" = "$e" ]
	[ "$stderr" = "" ]
}

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

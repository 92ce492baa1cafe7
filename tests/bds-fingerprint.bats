# bds-fingerprint: usage, envelope shape, determinism, and which changes change the key.

load helpers

setup() {
	WS="$BATS_TEST_TMPDIR/ws"
	new_workspace "$WS"
	printf 'build --jobs=2\n' > "$WS/.bazelrc"
	HEAD=$(commit_all "$WS" base)
}

key() {
	bds-fingerprint -w "$WS" "$@" | jq -r .fingerprint.key
}

@test "usage: no -w, unknown driver, option without value exit 64" {
	usage='usage: bds-fingerprint -w WORKSPACE [--rev REV] [--driver local|qemu|firecracker] [--bazel CMD]'
	run -64 --separate-stderr bds-fingerprint
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-fingerprint: missing -w WORKSPACE" ]
	[ "${stderr_lines[1]}" = "$usage" ]
	run -64 --separate-stderr bds-fingerprint -w "$WS" --driver xen
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-fingerprint: unknown --driver 'xen' (this build has: local, qemu, firecracker)" ]
	run -64 --separate-stderr bds-fingerprint -w "$WS" --rev
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-fingerprint: option needs a value" ]
	run -64 --separate-stderr bds-fingerprint --include-target-type -w
	[ "${stderr_lines[0]}" = "bds-fingerprint: option needs a value" ]
}

@test "a missing workspace exits 1" {
	run -1 --separate-stderr bds-fingerprint -w "$BATS_TEST_TMPDIR/nope"
	[ "$output" = "" ]
	[ "$stderr" = "bds-fingerprint: workspace '$BATS_TEST_TMPDIR/nope': No such file or directory" ]
}

@test "the envelope: workspace, driver, fingerprint key and components, hash options" {
	run -0 bds-fingerprint -w "$WS" --include-target-type
	run -0 jq -c --arg ws "$(cd "$WS" && pwd -P)" '[.workspace == $ws, .driver, (.fingerprint.key | test("^[0-9a-f]{32}$")),
		(.fingerprint.components | keys), .hash_options]' <<<"$output"
	[ "$output" = '[true,"local",true,["bazel","bazelrc","bazelversion","bds_version","driver","hash_options","host","module_lock","workspace_path"],["--include-target-type"]]' ]
	run -0 bds-fingerprint -w "$WS" --target-type Rule
	run -0 jq -c --arg ws "$(cd "$WS" && pwd -P)" '(keys), (.fingerprint | keys), (.fingerprint.components
		| [.driver, .hash_options, .workspace_path == $ws, .bazelversion, .module_lock]), .hash_options' <<<"$output"
	[ "$output" = '["driver","fingerprint","hash_options","workspace"]
["components","key"]
["local","[\"--target-type\",\"Rule\"]",true,"absent","absent"]
["--target-type","Rule"]' ]
}

@test "the key is deterministic and insensitive to the order of hash options" {
	a=$(key --target-type Rule --include-target-type)
	b=$(key --include-target-type --target-type Rule)
	[ "$a" = "$b" ]
	c=$(key --include-target-type --target-type SourceFile)
	[ "$a" != "$c" ]
	[ "$(key)" = "$(key)" ]
}

@test "bazelrc, its imports, .bazelversion and MODULE.bazel.lock change the key" {
	k0=$(key)
	printf 'build --jobs=3\n' > "$WS/.bazelrc"
	k1=$(key)
	[ "$k0" != "$k1" ]
	printf 'import %%workspace%%/ci.rc\n' >> "$WS/.bazelrc"
	printf 'build --jobs=4\n' > "$WS/ci.rc"
	k2=$(key)
	printf 'build --jobs=5\n' > "$WS/ci.rc"
	k3=$(key)
	[ "$k2" != "$k1" ] && [ "$k3" != "$k2" ]
	# recursive: a file imported by an imported file
	printf 'import %%workspace%%/rc/deep.rc\n' >> "$WS/ci.rc"
	mkdir "$WS/rc"
	printf 'build --jobs=6\n' > "$WS/rc/deep.rc"
	k3a=$(key)
	printf 'build --jobs=7\n' > "$WS/rc/deep.rc"
	k3=$(key)
	[ "$k3a" != "$k3" ]
	printf 'try-import %%workspace%%/user.rc\n' >> "$WS/.bazelrc"
	k4=$(key)
	: > "$WS/user.rc"
	k5=$(key)
	[ "$k4" != "$k3" ] && [ "$k5" != "$k4" ]
	printf '4.2.3\n' > "$WS/.bazelversion"
	k6=$(key)
	[ "$k6" != "$k5" ]
	: > "$WS/MODULE.bazel.lock"
	k7=$(key)
	[ "$k7" != "$k6" ]
	printf '{}' > "$WS/MODULE.bazel.lock"
	[ "$(key)" != "$k7" ]
	# every key differs from every other one
	[ "$(printf '%s\n' "$k0" "$k1" "$k2" "$k3a" "$k3" "$k4" "$k5" "$k6" "$k7" | sort -u | wc -l)" = 9 ]
	# undoing the changes gives the first key back
	rm -r "$WS/.bazelversion" "$WS/MODULE.bazel.lock" "$WS/ci.rc" "$WS/user.rc" "$WS/rc"
	printf 'build --jobs=2\n' > "$WS/.bazelrc"
	[ "$(key)" = "$k0" ]
}

@test "MODULE.bazel.lock absent vs empty also differ at a --rev" {
	k_absent=$(key --rev "$HEAD")
	: > "$WS/MODULE.bazel.lock"
	tree=$(bds-fingerprint -w "$WS" | jq -r .fingerprint.components.module_lock)
	[[ "$tree" == xxh3:* ]]
	empty=$(commit_all "$WS" lock)
	run -0 bds-fingerprint -w "$WS" --rev "$empty"
	[ "$(jq -r .fingerprint.components.module_lock <<<"$output")" = "$tree" ]
	[ "$(jq -r .fingerprint.key <<<"$output")" != "$k_absent" ]
	run -0 bds-fingerprint -w "$WS" --rev "$HEAD"
	[ "$(jq -r .fingerprint.components.module_lock <<<"$output")" = absent ]
	[ "$(jq -r .fingerprint.key <<<"$output")" = "$k_absent" ]
}

@test "a --rev that is not a commit exits 1" {
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev nonexistent
	[ "$output" = "" ]
	[ "$stderr" = "bds-fingerprint: --rev 'nonexistent' is not a commit of '$(cd "$WS" && pwd -P)'" ]
}

@test "a missing import (not try-import) exits 1 naming it" {
	printf 'import %%workspace%%/missing.rc\n' >> "$WS/.bazelrc"
	run -1 --separate-stderr bds-fingerprint -w "$WS"
	[ "$stderr" = "bds-fingerprint: bazelrc import 'missing.rc' does not exist" ]
}

@test "--rev reads the files of that commit, not the working tree" {
	k_rev=$(key --rev "$HEAD")
	k_tree=$(key)
	[ "$k_rev" = "$k_tree" ]
	printf 'build --jobs=9\n' > "$WS/.bazelrc"
	[ "$(key --rev "$HEAD")" = "$k_rev" ]
	[ "$(key)" != "$k_tree" ]
}

@test "another Bazel binary is another key" {
	a=$(key)
	printf '#!/bin/sh\necho other\n' > "$BATS_TEST_TMPDIR/bazel-other"
	chmod +x "$BATS_TEST_TMPDIR/bazel-other"
	b=$(BDS_REAL_BAZEL="$BATS_TEST_TMPDIR/bazel-other" key)
	[ "$a" != "$b" ]
}

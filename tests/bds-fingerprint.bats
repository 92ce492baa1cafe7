# bds-fingerprint: usage, envelope shape, determinism, and which changes change the key: rc
# files read as Bazel's client reads them (checked against the client), at the revision as a
# checkout shows them, the rc files outside the workspace, the Bazel command, option files.

load helpers

setup() {
	WS="$BATS_TEST_TMPDIR/ws"
	new_workspace "$WS"
	printf 'build --jobs=2\n' > "$WS/.bazelrc"
	HEAD=$(commit_all "$WS" base)
}

# key [options]: the key, or a failed test when bds-fingerprint fails
key() {
	local out
	out=$(bds-fingerprint -w "$WS" "$@") || return 1
	jq -r .fingerprint.key <<<"$out"
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
	[ "$output" = '[true,"local",true,["bazel","bazel_command","bazelrc","bazelversion","bds_version","command_options","driver","hash_options","host","module_lock","option_files","rc_files","rc_list","startup_options","tools_bazel"],["--include-target-type"]]' ]
	run -0 bds-fingerprint -w "$WS" --target-type Rule
	run -0 jq -c --arg ws "$(cd "$WS" && pwd -P)" '(keys), (.fingerprint | keys), (.fingerprint.components
		| [.driver, .hash_options, has("workspace_path"), .bazelversion, .module_lock]), .hash_options' <<<"$output"
	[ "$output" = '["driver","fingerprint","hash_options","workspace"]
["components","key"]
["local","[\"--target-type\",\"Rule\"]",false,"absent","absent"]
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
	[ "$k2" != "$k1" ]
	[ "$k3" != "$k2" ]
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
	[ "$k4" != "$k3" ]
	[ "$k5" != "$k4" ]
	printf '4\n' > "$WS/.bazelversion" # a version Debian's /usr/bin/bazel has
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
	[ "$stderr" = "bds-fingerprint: bazelrc import '%workspace%/missing.rc' (in '%workspace%/.bazelrc'): No such file or directory" ]
	rev=$(commit_all "$WS" missing)
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$stderr" = "bds-fingerprint: bazelrc import '%workspace%/missing.rc' at $rev (in '%workspace%/.bazelrc'): No such file or directory" ]
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
	printf '#!/bin/sh\n# another Bazel\nexec /usr/bin/bazel "$@"\n' > "$BATS_TEST_TMPDIR/bazel-other"
	chmod +x "$BATS_TEST_TMPDIR/bazel-other"
	b=$(BDS_REAL_BAZEL="$BATS_TEST_TMPDIR/bazel-other" key)
	[ "$a" != "$b" ]
}

# --- rc files, read as Bazel's client reads them ------------------------------------------

# xxh FILE: the file's digest as components write it
xxh() {
	echo "xxh3:$(xxh128sum < "$1" | cut -d' ' -f1)"
}

# rc_read [bds-fingerprint options]: the workspace rc closure bds-fingerprint read, one file
# a line: NAME, or NAME skipped for a try-import that could not be read
rc_read() {
	bds-fingerprint -w "$WS" "$@" |
		jq -r '.fingerprint.components.bazelrc[] | sub(" (xxh3:[0-9a-f]{32}|absent)$"; "") | sub(" skipped: .*"; " skipped")'
}

# client_read: the same, from Bazel's client itself (--client_debug logs every file it
# parses; --nohome_rc from tests/bin/bazel keeps the workspace rc's closure last)
client_read() {
	(cd "$WS" && bazel --client_debug --max_idle_secs=bogus version 2>&1 >/dev/null) |
		awk -v rc="$(cd "$WS" && pwd -P)/.bazelrc" '
			/ Parsing the RcFile / { sub(/.* Parsing the RcFile /, ""); on = on || $0 == rc
				if (on) { if (f != "") print f; f = $0 }; next }
			on && / Skipped optional import of / { f = f " skipped" }
			END { if (f != "") print f }' | sed "s|^$(cd "$WS" && pwd -P)/|%workspace%/|"
}

# client_fatal: the client's FATAL message (it exits on the first error it meets)
client_fatal() {
	(cd "$WS" && bazel --client_debug --max_idle_secs=bogus version 2>&1 >/dev/null) | sed -n 's/^\[FATAL [^]]*\] //p'
}

@test "rc syntax: bds-fingerprint reads exactly the files Bazel's client reads, in its order" {
	cd "$WS"
	{
		printf '%s\n' '# a comment line' 'build --jobs=2 # a trailing comment' \
			'import %workspace%/a.rc # a comment is no part of the name' \
			'try-import %workspace%/missing.rc # nor here' \
			'import "%workspace%/with space.rc"' 'import %workspace%/esc\ aped.rc' \
			'import \' '    %workspace%/continued.rc' "try-import '%workspace%/quoted.rc'" \
			'build --x#import %workspace%/never.rc' 'import rel.rc' 'import %workspace%/a.rc'
		printf '\t import\t%%workspace%%/tabs.rc \r\nimport \\\r\n%%workspace%%/crlf.rc\r\n'
		printf 'build --a\0b\n' # to the tokenizer a NUL is white space
		printf "import'\\0' %%workspace%%/never.rc\n" # but a quoted one is part of a word: no import
	} > .bazelrc
	for f in "with space" "esc aped" continued quoted rel tabs crlf; do
		printf 'build --%s\n' "$f" > "$f.rc"
	done
	printf 'try-import %%workspace%%/quoted.rc\n' > a.rc # imported twice: read twice
	expected='%workspace%/.bazelrc
%workspace%/a.rc
%workspace%/quoted.rc
%workspace%/missing.rc skipped
%workspace%/with space.rc
%workspace%/esc aped.rc
%workspace%/continued.rc
%workspace%/quoted.rc
rel.rc
%workspace%/a.rc
%workspace%/quoted.rc
%workspace%/tabs.rc
%workspace%/crlf.rc'
	run -0 client_read
	[ "$output" = "$expected" ]
	run -0 rc_read
	[ "$output" = "$expected" ]
	rev=$(commit_all "$WS" syntax)
	run -0 rc_read --rev "$rev"
	[ "$output" = "$expected" ]
	# each file's own bytes
	run -0 bds-fingerprint -w "$WS" --rev "$rev"
	run -0 jq -r '.fingerprint.components.bazelrc[0:3] | join("\n")' <<<"$output"
	[ "$output" = "%workspace%/.bazelrc $(xxh .bazelrc)
%workspace%/a.rc $(xxh a.rc)
%workspace%/quoted.rc $(xxh quoted.rc)" ]
}

@test "rc errors: where Bazel's client stops, bds-fingerprint exits 1 with the real reason" {
	cd "$WS"
	ws=$(pwd -P)
	# check RC CLIENT_FATAL OURS: .bazelrc is RC; the client fails with CLIENT_FATAL, we with OURS
	check() {
		printf '%s\n' "$1" > .bazelrc
		[ "$(client_fatal)" = "$2" ]
		run -1 --separate-stderr bds-fingerprint -w "$WS"
		[ "$output" = "" ]
		[ "$stderr" = "bds-fingerprint: $3" ]
	}
	check 'import a b' "Invalid import declaration in .blazerc file '$ws/.bazelrc': 'import a b' (are you in your source checkout/WORKSPACE?)" \
		"bazelrc '%workspace%/.bazelrc': invalid import declaration 'import a b'"
	check 'try-import' "Invalid import declaration in .blazerc file '$ws/.bazelrc': 'try-import' (are you in your source checkout/WORKSPACE?)" \
		"bazelrc '%workspace%/.bazelrc': invalid import declaration 'try-import'"
	printf 'import %%workspace%%/.bazelrc\n' > a.rc
	check 'import %workspace%/a.rc' "Import loop detected:" \
		"bazelrc '%workspace%/a.rc': import loop: '%workspace%/.bazelrc' is already being read"
	check 'import %workspace%/missing.rc' "Unexpected error reading .blazerc file '$ws/missing.rc'" \
		"bazelrc import '%workspace%/missing.rc' (in '%workspace%/.bazelrc'): No such file or directory"
	# an import that exists but cannot be read says why, not "does not exist"
	mkdir d
	check 'import %workspace%/d' "Unexpected error reading .blazerc file '$ws/d'" \
		"bazelrc import '%workspace%/d' (in '%workspace%/.bazelrc'): Is a directory"
	check 'import /etc/passwd/x' "Unexpected error reading .blazerc file '/etc/passwd/x'" \
		"bazelrc import '/etc/passwd/x' (in '%workspace%/.bazelrc'): Not a directory"
	# a try-import of a directory is skipped, by both
	printf 'try-import %%workspace%%/d\n' > .bazelrc
	run -0 client_read
	[ "$output" = $'%workspace%/.bazelrc\n%workspace%/d skipped' ]
	run -0 rc_read
	[ "$output" = $'%workspace%/.bazelrc\n%workspace%/d skipped' ]
	rm .bazelrc
	mkdir .bazelrc
	[ "$(client_fatal)" = "Unexpected error reading .blazerc file '$ws/.bazelrc'" ]
	run -1 --separate-stderr bds-fingerprint -w "$WS"
	[ "$stderr" = "bds-fingerprint: bazelrc '%workspace%/.bazelrc': Is a directory" ]
}

@test "at --rev: large files, NUL bytes and symbolic links read as a checkout shows them" {
	cd "$WS"
	head -c 2200000 /dev/urandom > MODULE.bazel.lock
	yes '# a comment line, 2 MiB of them' | head -c 2200000 > big.rc
	printf '4\n' > .bazelversion
	mkdir config
	printf 'build --linked\n' > config/real.rc
	ln -s config/real.rc linked.rc
	ln -s config cfg
	printf 'build --outside\n' > "$BATS_TEST_TMPDIR/outside.rc"
	ln -s "$BATS_TEST_TMPDIR/outside.rc" abs.rc
	printf 'import %%workspace%%/%s\n' big.rc linked.rc cfg/real.rc abs.rc > config/top.rc
	rm .bazelrc
	ln -s config/top.rc .bazelrc
	rev=$(commit_all "$WS" links)
	run -0 bds-fingerprint -w "$WS" --rev "$rev"
	at_rev=$(jq -c .fingerprint.components <<<"$output")
	run -0 jq -r '.module_lock, .bazelversion, (.bazelrc | join("\n"))' <<<"$at_rev"
	[ "$output" = "$(xxh MODULE.bazel.lock)
$(xxh .bazelversion)
%workspace%/.bazelrc $(xxh config/top.rc)
%workspace%/big.rc $(xxh big.rc)
%workspace%/linked.rc $(xxh config/real.rc)
%workspace%/cfg/real.rc $(xxh config/real.rc)
%workspace%/abs.rc $(xxh "$BATS_TEST_TMPDIR/outside.rc")" ]
	# the working tree, where the system follows the links, gives the same components
	run -0 bds-fingerprint -w "$WS"
	[ "$(jq -c .fingerprint.components <<<"$output")" = "$at_rev" ]
	# an absolute link's target is read on this machine, as a checkout would: its edit counts
	k=$(key --rev "$rev")
	printf 'build --outside=2\n' > "$BATS_TEST_TMPDIR/outside.rc"
	[ "$(key --rev "$rev")" != "$k" ]
}

@test "at --rev: a workspace in a subdirectory reads its own files, not the repository root's" {
	repo="$BATS_TEST_TMPDIR/repo"
	new_workspace "$repo"
	printf 'root\n' > "$repo/.bazelversion"
	printf 'build --root\n' > "$repo/.bazelrc"
	mkdir -p "$repo/sub/ws/tools"
	sub="$repo/sub/ws"
	printf 'workspace(name = "s")\n' > "$sub/WORKSPACE"
	printf '4\n' > "$sub/.bazelversion"
	printf 'build --sub\n' > "$sub/.bazelrc"
	printf '{}' > "$sub/MODULE.bazel.lock"
	printf '#!/bin/sh\nexec "$BAZEL_REAL" "$@"\n' > "$sub/tools/bazel"
	chmod +x "$sub/tools/bazel"
	rev=$(commit_all "$repo" sub)
	run -0 bds-fingerprint -w "$sub" --rev "$rev"
	at_rev=$(jq -c '.fingerprint.components | [.bazelversion, .module_lock, .bazelrc, .tools_bazel]' <<<"$output")
	[ "$at_rev" = "[\"$(xxh "$sub/.bazelversion")\",\"$(xxh "$sub/MODULE.bazel.lock")\",[\"%workspace%/.bazelrc $(xxh "$sub/.bazelrc")\"],\"$(xxh "$sub/tools/bazel") executable\"]" ]
	run -0 bds-fingerprint -w "$sub"
	[ "$(jq -c '.fingerprint.components | [.bazelversion, .module_lock, .bazelrc, .tools_bazel]' <<<"$output")" = "$at_rev" ]
}

@test "at --rev: a file over the limit, a link loop or a link out of the repository is never 'absent'" {
	cd "$WS"
	head -c $((65 << 20)) /dev/zero > MODULE.bazel.lock
	rev=$(commit_all "$WS" huge)
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$output" = "" ]
	[ "$stderr" = "bds-fingerprint: read '$rev:MODULE.bazel.lock': larger than the limit of 64 MiB" ]
	run -1 --separate-stderr bds-fingerprint -w "$WS"
	[ "$stderr" = "bds-fingerprint: read '$(pwd -P)/MODULE.bazel.lock': larger than the limit of 64 MiB" ]
	git rm -q MODULE.bazel.lock
	# a loop: skipped by a try-import, as Bazel does; an error for an import
	ln -s loop.rc loop.rc
	printf 'try-import %%workspace%%/loop.rc\n' > .bazelrc
	rev=$(commit_all "$WS" loop)
	run -0 bds-fingerprint -w "$WS" --rev "$rev"
	run -0 jq -r '.fingerprint.components.bazelrc[1]' <<<"$output"
	[ "$output" = "%workspace%/loop.rc skipped: Too many levels of symbolic links" ]
	printf 'import %%workspace%%/loop.rc\n' > .bazelrc
	rev=$(commit_all "$WS" loop2)
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$stderr" = "bds-fingerprint: bazelrc import '%workspace%/loop.rc' at $rev (in '%workspace%/.bazelrc'): Too many levels of symbolic links" ]
	# out of the repository: what it reaches depends on where the checkout is
	ln -s ../elsewhere.rc out.rc
	printf 'try-import %%workspace%%/out.rc\n' > .bazelrc
	rev=$(commit_all "$WS" out)
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$stderr" = "bds-fingerprint: read '$rev:out.rc': leads outside the repository, where what a checkout reads depends on where it is" ]
	# a directory where Bazel wants a file
	rm .bazelrc
	mkdir .bazelrc
	touch .bazelrc/x
	rev=$(commit_all "$WS" dir)
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$stderr" = "bds-fingerprint: bazelrc '%workspace%/.bazelrc' at $rev: Is a directory" ]
}

# --- rc files outside the workspace, and the Bazel command -------------------------------

# wrapper FLAGS...: a bazel first on PATH that runs the real one with these startup flags
# and without tests/bin/bazel's --nohome_rc, in a private HOME
wrapper() {
	mkdir -p "$BATS_TEST_TMPDIR/bin" "$BATS_TEST_TMPDIR/home"
	{
		printf '#!/bin/sh\nexec "${BDS_REAL_BAZEL:-/usr/bin/bazel}" --output_user_root="$BDS_TEST_BAZEL_ROOT"'
		printf ' %s' "$@"
		printf ' "$@"\n'
	} > "$BATS_TEST_TMPDIR/bin/bazel"
	chmod +x "$BATS_TEST_TMPDIR/bin/bazel"
	export HOME="$BATS_TEST_TMPDIR/home"
	PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

@test "the rc files Bazel's client looks for are in the key: \$HOME/.bazelrc and its imports" {
	wrapper
	rev=$HEAD
	run -0 bds-fingerprint -w "$WS" --rev "$rev"
	run -0 jq -r '.fingerprint.components | .rc_list[-2:][], .rc_files[-2:][]' <<<"$output"
	[ "$output" = "%workspace%/.bazelrc
$HOME/.bazelrc
%workspace%/.bazelrc: see bazelrc
$HOME/.bazelrc absent" ]
	# the client's own list, in its order
	looking=$(cd "$WS" && bazel --client_debug --max_idle_secs=bogus query 2>&1 |
		sed -n 's/.*Looking for the following rc files: //p' | tr , '\n' | sed "s|^$(cd "$WS" && pwd -P)/|%workspace%/|")
	run -0 bds-fingerprint -w "$WS"
	run -0 jq -r '.fingerprint.components.rc_list | join("\n")' <<<"$output"
	[ "$output" = "$looking" ]
	k0=$(key --rev "$rev")
	printf 'query --noimplicit_deps\n' > "$HOME/.bazelrc"
	k1=$(key --rev "$rev")
	[ "$k1" != "$k0" ]
	run -0 bds-fingerprint -w "$WS" --rev "$rev"
	run -0 jq -r '.fingerprint.components.rc_files[-1]' <<<"$output"
	[ "$output" = "$HOME/.bazelrc $(xxh "$HOME/.bazelrc")" ]
	# what it imports from this machine counts
	printf 'build --team\n' > "$BATS_TEST_TMPDIR/team.rc"
	printf 'import %s\n' "$BATS_TEST_TMPDIR/team.rc" >> "$HOME/.bazelrc"
	k2=$(key --rev "$rev")
	printf 'build --team=2\n' > "$BATS_TEST_TMPDIR/team.rc"
	k3=$(key --rev "$rev")
	# what it imports from the workspace is the revision's: the working tree does not count
	printf 'try-import %%workspace%%/user.rc\n' >> "$HOME/.bazelrc"
	k4=$(key --rev "$rev")
	printf 'build --user\n' > "$WS/user.rc"
	[ "$(key --rev "$rev")" = "$k4" ]
	rev2=$(commit_all "$WS" user)
	k5=$(key --rev "$rev2")
	[ "$(printf '%s\n' "$k0" "$k1" "$k2" "$k3" "$k4" "$k5" | sort -u | wc -l)" = 6 ]
	run -0 bds-fingerprint -w "$WS" --rev "$rev2"
	run -0 jq -r '.fingerprint.components.rc_files[-3:][]' <<<"$output"
	[ "$output" = "$HOME/.bazelrc $(xxh "$HOME/.bazelrc")
$BATS_TEST_TMPDIR/team.rc $(xxh "$BATS_TEST_TMPDIR/team.rc")
%workspace%/user.rc $(xxh "$WS/user.rc")" ]
	# a Bazel run with --nohome_rc (tests/bin/bazel) does not read it: not in its key
	PATH="$BDS_TOP/tests/bin:$PATH"
	k6=$(key --rev "$rev")
	printf 'build --other\n' > "$HOME/.bazelrc"
	[ "$(key --rev "$rev")" = "$k6" ]
}

@test "a wrapper's --bazelrc is in the key; inside the workspace both at the revision and on disk" {
	printf 'build --extra\n' > "$BATS_TEST_TMPDIR/extra.rc"
	wrapper "--bazelrc=$BATS_TEST_TMPDIR/extra.rc"
	run -0 bds-fingerprint -w "$WS" --rev "$HEAD"
	run -0 jq -r '.fingerprint.components.rc_files[-1]' <<<"$output"
	[ "$output" = "$BATS_TEST_TMPDIR/extra.rc $(xxh "$BATS_TEST_TMPDIR/extra.rc")" ]
	k=$(key --rev "$HEAD")
	printf 'build --extra=2\n' > "$BATS_TEST_TMPDIR/extra.rc"
	[ "$(key --rev "$HEAD")" != "$k" ]
	ws=$(cd "$WS" && pwd -P)
	mkdir "$WS/tools"
	printf 'build --ci\n' > "$WS/tools/ci.rc"
	rev=$(commit_all "$WS" ci)
	printf 'build --ci=uncommitted\n' > "$WS/tools/ci.rc"
	wrapper "--bazelrc=$ws/tools/ci.rc"
	run -0 bds-fingerprint -w "$WS" --rev "$rev"
	run -0 jq -r '.fingerprint.components.rc_files[-2:][]' <<<"$output"
	[ "$output" = "%workspace%/tools/ci.rc $(git -C "$WS" show "$rev:tools/ci.rc" | xxh /dev/stdin)
$ws/tools/ci.rc $(xxh "$WS/tools/ci.rc")" ]
}

# fake_bazel SCRIPT: a bazel first on PATH that runs SCRIPT (sh)
fake_bazel() {
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	printf '#!/bin/sh\n%s\n' "$1" > "$BATS_TEST_TMPDIR/bin/bazel"
	chmod +x "$BATS_TEST_TMPDIR/bin/bazel"
	PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

@test "the client is asked with the pipelines' command (query): a wrapper's query-only --bazelrc is in the key" {
	printf 'query --noimplicit_deps\n' > "$BATS_TEST_TMPDIR/q.rc"
	# a CI wrapper tuning queries only
	fake_bazel 'for a; do case $a in query) set -- --bazelrc="'"$BATS_TEST_TMPDIR"'/q.rc" "$@"; break;; -*) ;; *) break;; esac; done
exec "'"$BDS_TOP"'/tests/bin/bazel" "$@"'
	run -0 bds-fingerprint -w "$WS" --rev "$HEAD"
	run -0 jq -r '.fingerprint.components.rc_files[-1]' <<<"$output"
	[ "$output" = "$BATS_TEST_TMPDIR/q.rc $(xxh "$BATS_TEST_TMPDIR/q.rc")" ]
	k=$(key --rev "$HEAD")
	printf 'query --output=label\n' >> "$BATS_TEST_TMPDIR/q.rc"
	[ "$(key --rev "$HEAD")" != "$k" ]
}

@test "no answer from the client is exit 1, never a guess, and no Bazel server is left behind" {
	ws=$(cd "$WS" && pwd -P)
	# a Bazel that does not say
	fake_bazel '[ "$1" != --version ] || exec echo "bazel 9.9.9"
echo "no rc files here" >&2; exit 2'
	run -1 --separate-stderr bds-fingerprint -w "$WS"
	[ "$output" = "" ]
	[ "$stderr" = "bds-fingerprint: Bazel's client did not say which rc files it reads: 'bazel --client_debug --max_idle_secs=bogus ... query' in '$ws' printed no \"Looking for the following rc files\" line (exit 2: 'no rc files here'); a wrapper must pass its startup options on to Bazel" ]
	# a wrapper that drops --client_debug and --max_idle_secs, and would start a server of
	# its own (with its own team rc): our unusable output root stops the client first
	root="$BATS_TEST_TMPDIR/root"
	fake_bazel 'n=$#; i=0
while [ $i -lt $n ]; do a=$1; shift; i=$((i+1)); case $a in --max_idle_secs=*|--client_debug) ;; *) set -- "$@" "$a";; esac; done
exec "${BDS_REAL_BAZEL:-/usr/bin/bazel}" --output_user_root="'"$root"'" --nohome_rc --max_idle_secs=30 "$@"'
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$HEAD"
	[ "$output" = "" ]
	[ "$stderr" = "bds-fingerprint: Bazel's client did not say which rc files it reads: 'bazel --client_debug --max_idle_secs=bogus ... query' in '$ws' printed no \"Looking for the following rc files\" line (exit 36: 'FATAL: mkdir('/dev/null/bds'): (error: 20): Not a directory'); a wrapper must pass its startup options on to Bazel" ]
	[ ! -e "$root" ]
	# a wrapper that hangs (a download, a server start): killed after 5 s, with its children
	fake_bazel '[ "$1" != --version ] || exec echo "bazel 9.9.9"
sleep 60 & echo $! > "'"$BATS_TEST_TMPDIR"'/child"; wait'
	SECONDS=0
	run -1 --separate-stderr bds-fingerprint -w "$WS"
	[ "$SECONDS" -ge 5 ]
	[ "$SECONDS" -le 15 ]
	[ "$stderr" = "bds-fingerprint: ask Bazel's client which rc files it reads: command 'bazel' failed: timed out after 5 s (killed)" ]
	# gone, or a zombie left to an init that has not reaped it yet
	state=$(ps -o stat= -p "$(cat "$BATS_TEST_TMPDIR/child")" || true)
	[[ -z "$state" || "$state" == Z* ]]
}

@test "the Bazel command's file is in the key even when Bazel has a version; so is tools/bazel" {
	fake_bazel '[ "$1" != --version ] || exec echo "bazel 9.9.9"
exec "'"$BDS_TOP"'/tests/bin/bazel" "$@"'
	run -0 bds-fingerprint -w "$WS"
	run -0 jq -r '.fingerprint.components | .bazel, .bazel_command, .tools_bazel' <<<"$output"
	[ "$output" = "bazel 9.9.9
$(xxh "$BATS_TEST_TMPDIR/bin/bazel") ($BATS_TEST_TMPDIR/bin/bazel)
absent" ]
	k0=$(key --rev "$HEAD")
	printf '# the same Bazel with other flags\n' >> "$BATS_TEST_TMPDIR/bin/bazel"
	k1=$(key --rev "$HEAD")
	mkdir "$WS/tools"
	printf '#!/bin/sh\nexec "$BAZEL_REAL" "$@"\n' > "$WS/tools/bazel"
	chmod +x "$WS/tools/bazel"
	r1=$(commit_all "$WS" tools-bazel)
	k2=$(key --rev "$r1")
	chmod -x "$WS/tools/bazel"
	r2=$(commit_all "$WS" tools-bazel-not-executable)
	k3=$(key --rev "$r2")
	[ "$(printf '%s\n' "$k0" "$k1" "$k2" "$k3" | sort -u | wc -l)" = 4 ]
	git -C "$WS" checkout -q "$r1" # the client is asked in the working tree: it must be r1's
	run -0 bds-fingerprint -w "$WS" --rev "$r1"
	run -0 jq -r '.fingerprint.components.tools_bazel' <<<"$output"
	[ "$output" = "$(xxh "$WS/tools/bazel") executable" ]
	git -C "$WS" checkout -q "$r2"
	run -0 bds-fingerprint -w "$WS" --rev "$r2"
	run -0 jq -r '.fingerprint.components.tools_bazel' <<<"$output"
	[ "$output" = "$(xxh "$WS/tools/bazel") not executable" ]
	run -1 --separate-stderr bds-fingerprint -w "$WS" --bazel no-such-bazel
	[ "$output" = "" ]
	[ "$stderr" = "bds-fingerprint: bazel 'no-such-bazel': not found" ]
}

# --- bds-hash's option files ---------------------------------------------------------------

@test "option files read as they are (absolute) are in the key; per-revision (relative) ones are not" {
	t=$BATS_TEST_TMPDIR
	printf 'v1\n' > "$t/seed.dat"
	printf 'rel.dat\n%s\r\n\n' "$t/seed.dat" > "$WS/seeds.txt"
	printf 'r1\n' > "$WS/rel.dat"
	rev=$(commit_all "$WS" seeds)
	run -0 bds-fingerprint -w "$WS" --rev "$rev" --seed-filepaths seeds.txt
	run -0 jq -c '.fingerprint.components.option_files' <<<"$output"
	[ "$output" = "[\"seed $t/seed.dat $(xxh "$t/seed.dat")\"]" ]
	k=$(key --rev "$rev" --seed-filepaths seeds.txt)
	# a relative seed file is the revision's: the working tree's edit does not count
	printf 'r2\n' > "$WS/rel.dat"
	[ "$(key --rev "$rev" --seed-filepaths seeds.txt)" = "$k" ]
	# an absolute one is read as it is: its edit does
	printf 'v2\n' > "$t/seed.dat"
	[ "$(key --rev "$rev" --seed-filepaths seeds.txt)" != "$k" ]
	printf '%s\n' "$t/seed.dat" > "$t/seeds.abs"
	printf '{}' > "$t/ch.json"
	run -0 bds-fingerprint -w "$WS" --rev "$rev" --seed-filepaths="$t/seeds.abs" --content-hashes "$t/ch.json" \
		--modified-filepaths "$t/none"
	run -0 jq -r '.fingerprint.components.option_files[]' <<<"$output"
	[ "$output" = "--seed-filepaths $t/seeds.abs $(xxh "$t/seeds.abs")
--content-hashes $t/ch.json $(xxh "$t/ch.json")
--modified-filepaths $t/none absent
seed $t/seed.dat $(xxh "$t/seed.dat")" ]
	k=$(key --rev "$rev" --content-hashes "$t/ch.json")
	printf '{"a": "b"}' > "$t/ch.json"
	[ "$(key --rev "$rev" --content-hashes "$t/ch.json")" != "$k" ]
	run -0 bds-fingerprint -w "$WS" --rev "$rev" --content-hashes ch.json
	run -0 jq -c '.fingerprint.components.option_files' <<<"$output"
	[ "$output" = "[]" ]
}

@test "a relative option file or seed entry that leads out of the repository is exit 1: the commit holds only the link" {
	t=$BATS_TEST_TMPDIR
	mkdir "$t/outside"
	printf 'v1\n' > "$t/outside/seed.dat"
	printf 'seed.dat\n' > "$t/outside/list.txt"
	printf '{}' > "$t/outside/ch.json"
	cd "$WS"
	mkdir -p lib sub
	printf 'in\n' > lib/in.dat
	ln -s "$t/outside/seed.dat" seed.dat
	ln -s "$t/outside/list.txt" list.txt
	ln -s "$t/outside/ch.json" ch.json
	ln -s "$t/outside" out
	ln -s ../../elsewhere.dat sub/up.dat
	ln -s ../lib sub/lib # a link that stays inside is fine
	printf 'lib/in.dat\nsub/lib/in.dat\n' > inside.txt
	printf 'lib/in.dat\nseed.dat\n' > seeds.txt
	rev=$(commit_all "$WS" links)
	fix="name that file by its absolute path instead, whose contents then go in the key"
	run -0 bds-fingerprint -w "$WS" --rev "$rev" --seed-filepaths inside.txt --content-hashes sub/lib/in.dat
	# check OPTIONS... MESSAGE: exit 1 with MESSAGE, at the revision
	check() {
		local msg=${*: -1}
		run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev" "${@:1:$#-1}"
		[ "$output" = "" ]
		[ "$stderr" = "bds-fingerprint: $msg" ]
	}
	check --seed-filepaths seeds.txt "seed 'seed.dat' (listed in 'seeds.txt') at $rev leads out of the repository, through the symbolic link 'seed.dat' -> '$t/outside/seed.dat', which is all the commit holds of it: $fix"
	check --seed-filepaths list.txt "--seed-filepaths 'list.txt' at $rev leads out of the repository, through the symbolic link 'list.txt' -> '$t/outside/list.txt', which is all the commit holds of it: $fix"
	check --content-hashes ch.json "--content-hashes 'ch.json' at $rev leads out of the repository, through the symbolic link 'ch.json' -> '$t/outside/ch.json', which is all the commit holds of it: $fix"
	check --modified-filepaths=out/list.txt "--modified-filepaths 'out/list.txt' at $rev leads out of the repository, through the symbolic link 'out' -> '$t/outside', which is all the commit holds of it: $fix"
	check --seed-filepaths sub/up.dat "--seed-filepaths 'sub/up.dat' at $rev leads out of the repository, through the symbolic link 'sub/up.dat' -> '../../elsewhere.dat', which is all the commit holds of it: $fix"
	check --seed-filepaths ../x.txt "--seed-filepaths '../x.txt' at $rev leads out of the repository: $fix"
	# a seed list out of the repository named by its absolute path lists its own relative
	# entries, which are the revision's again
	check --seed-filepaths "$t/outside/list.txt" "seed 'seed.dat' (listed in '$t/outside/list.txt') at $rev leads out of the repository, through the symbolic link 'seed.dat' -> '$t/outside/seed.dat', which is all the commit holds of it: $fix"
	# the working tree, without --rev, follows the same rule
	run -1 --separate-stderr bds-fingerprint -w "$WS" --seed-filepaths list.txt
	[ "$stderr" = "bds-fingerprint: --seed-filepaths 'list.txt' leads out of the repository, to '$t/outside/list.txt': $fix" ]
	# named by their absolute paths, their contents are in the key
	printf '%s\n' lib/in.dat "$t/outside/seed.dat" > abs.txt
	rev=$(commit_all "$WS" absolute)
	k=$(key --rev "$rev" --seed-filepaths abs.txt --content-hashes "$t/outside/ch.json")
	printf 'v2\n' > "$t/outside/seed.dat"
	k2=$(key --rev "$rev" --seed-filepaths abs.txt --content-hashes "$t/outside/ch.json")
	printf '{"a": "b"}' > "$t/outside/ch.json"
	k3=$(key --rev "$rev" --seed-filepaths abs.txt --content-hashes "$t/outside/ch.json")
	[ "$(printf '%s\n' "$k" "$k2" "$k3" | sort -u | wc -l)" = 3 ]
}

@test "hash options are read with bds-hash's own table: the last of two values counts, abbreviations resolve" {
	t=$BATS_TEST_TMPDIR
	printf 'a\n' > "$t/a.dat"
	printf 'b\n' > "$t/b.dat"
	# bds-hash keeps the last --seed-filepaths: so does the key, whatever the order
	run -0 bds-fingerprint -w "$WS" --seed-filepaths "$t/a.dat" --seed-filepaths "$t/b.dat" --include-target-type
	run -0 jq -c '.hash_options, .fingerprint.components.option_files' <<<"$output"
	[ "$output" = "[\"--include-target-type\",\"--seed-filepaths\",\"$t/b.dat\"]
[\"--seed-filepaths $t/b.dat $(xxh "$t/b.dat")\"]" ]
	ab=$(key --seed-filepaths "$t/a.dat" --seed-filepaths "$t/b.dat")
	ba=$(key --seed-filepaths "$t/b.dat" --seed-filepaths "$t/a.dat")
	[ "$ab" != "$ba" ]
	[ "$ba" = "$(key --seed-filepaths "$t/a.dat")" ]
	# getopt_long's abbreviations and = forms mean the full option
	run -0 bds-fingerprint -w "$WS" --seed="$t/a.dat" --incl --target-t Rule --keep -k --keep-going \
		--exclude-targets-query='//x'
	run -0 jq -c '.hash_options, .fingerprint.components.option_files' <<<"$output"
	[ "$output" = "[\"--exclude-targets-query\",\"//x\",\"--include-target-type\",\"--keep_going\",\"--seed-filepaths\",\"$t/a.dat\",\"--target-type\",\"Rule\"]
[\"--seed-filepaths $t/a.dat $(xxh "$t/a.dat")\"]" ]
	[ "$(key --seed="$t/a.dat")" = "$(key --seed-filepaths "$t/a.dat")" ]
	# a value that looks like an option is still a value
	run -0 bds-fingerprint -w "$WS" --content-hashes --seed-filepaths
	run -0 jq -c '.hash_options, .fingerprint.components.option_files' <<<"$output"
	[ "$output" = '["--content-hashes","--seed-filepaths"]
[]' ]
	# what bds-hash would refuse is a usage error
	usage='usage: bds-fingerprint -w WORKSPACE [--rev REV] [--driver local|qemu|firecracker] [--bazel CMD]'
	for case in "--ex|ambiguous hash option '--ex'" "--seeds=x|unknown hash option '--seeds=x'" \
		"-x|unknown hash option '-x'" "--incl=1|hash option '--include-target-type' takes no value" \
		"--seed|hash option '--seed' needs a value" "out.json|hash options: unexpected argument 'out.json'"; do
		run -64 --separate-stderr bds-fingerprint -w "$WS" "${case%%|*}"
		[ "$output" = "" ]
		[ "${stderr_lines[0]}" = "bds-fingerprint: ${case#*|}" ]
		[ "${stderr_lines[1]}" = "$usage" ]
	done
}

@test "the client's rc list is split where Bazel joined it: commas in HOME, a relative HOME, an ambiguous list" {
	wrapper
	ws=$(cd "$WS" && pwd -P)
	for home in "$BATS_TEST_TMPDIR/h,ome" "$BATS_TEST_TMPDIR/h, ome" "$BATS_TEST_TMPDIR/h,$BATS_TEST_TMPDIR/x"; do
		export HOME=$home
		mkdir -p "$HOME"
		printf 'query --noimplicit_deps\n' > "$HOME/.bazelrc"
		run -0 bds-fingerprint -w "$WS" --rev "$HEAD"
		run -0 jq -r '.fingerprint.components | .rc_list[-1], .rc_files[-1]' <<<"$output"
		[ "$output" = "$HOME/.bazelrc
$HOME/.bazelrc $(xxh "$HOME/.bazelrc")" ]
		k=$(key --rev "$HEAD")
		printf 'build --x\n' >> "$HOME/.bazelrc"
		[ "$(key --rev "$HEAD")" != "$k" ]
	done
	# a relative HOME makes a relative rc file, read from wherever Bazel runs
	mkdir -p "$WS/rel"
	run -1 --separate-stderr env HOME=rel bds-fingerprint -w "$WS" --rev "$HEAD"
	[ "$stderr" = "bds-fingerprint: Bazel's client looks for the rc file 'rel/.bazelrc', relative to wherever it runs (is HOME absolute?): the key cannot follow it" ]
	# a --bazelrc whose name could be two: refused rather than guessed
	export HOME=$BATS_TEST_TMPDIR/home
	t=$BATS_TEST_TMPDIR
	mkdir -p "$t/a,$t"
	printf 'build --b\n' > "$t/a,$t/b.rc"
	wrapper "--bazelrc=$t/a,$t/b.rc"
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$HEAD"
	[ "$stderr" = "bds-fingerprint: Bazel's client's rc list '/etc/bazel/bazelrc,$ws/.bazelrc,$HOME/.bazelrc,$t/a,$t/b.rc' reads two ways: '$t/a,$t/b.rc' is a file, and '$t/a' ... '$t/b.rc' may be names of their own; rename it without \",/\"" ]
}

@test "Debian's Bazel, which has no version: the install base its rc files name is in the key" {
	run -0 bds-fingerprint -w "$WS"
	run -0 jq -r .fingerprint.components.bazel <<<"$output"
	[ "$output" = "no_version install_base_key $(xxh /usr/share/bazel/install_base_key) (/usr/share/bazel/install_base_key)" ]
	k0=$(key)
	# another install base (a package upgrade changes its key), named last: it counts
	ib="$BATS_TEST_TMPDIR/ib"
	mkdir "$ib"
	printf 'key-1' > "$ib/install_base_key"
	printf 'startup --install_base %s\n' "$ib" >> "$WS/.bazelrc"
	run -0 bds-fingerprint -w "$WS"
	run -0 jq -r .fingerprint.components.bazel <<<"$output"
	[ "$output" = "no_version install_base_key $(xxh "$ib/install_base_key") ($ib/install_base_key)" ]
	k1=$(key)
	printf 'key-2' > "$ib/install_base_key"
	k2=$(key)
	rm "$ib/install_base_key"
	run -0 bds-fingerprint -w "$WS"
	run -0 jq -r .fingerprint.components.bazel <<<"$output"
	[ "$output" = "no_version install_base_key absent ($ib/install_base_key)" ]
	k3=$(key)
	[ "$(printf '%s\n' "$k0" "$k1" "$k2" "$k3" | sort -u | wc -l)" = 4 ]
	# BDS_REAL_BAZEL names the client behind the wrapper
	run -0 env BDS_REAL_BAZEL=/usr/bin/bazel bds-fingerprint -w "$WS"
	run -0 jq -r .fingerprint.components.bazel <<<"$output"
	[ "$output" = "no_version install_base_key absent ($ib/install_base_key) client $(xxh /usr/bin/bazel) (/usr/bin/bazel)" ]
}

@test "at --rev, what a wrapper reads must be the revision's in the working tree, where the client is asked" {
	mkdir "$WS/tools"
	printf '#!/bin/sh\nexec "$BAZEL_REAL" "$@"\n' > "$WS/tools/bazel"
	chmod +x "$WS/tools/bazel"
	printf '4\n' > "$WS/.bazelversion"
	rev=$(commit_all "$WS" wrapper)
	run -0 bds-fingerprint -w "$WS" --rev "$rev"
	why="Bazel's client, asked which rc files the query reads, runs the working tree's, the pipelines the revision's; check $rev out first"
	chmod -x "$WS/tools/bazel"
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$output" = "" ]
	[ "$stderr" = "bds-fingerprint: 'tools/bazel' differs between the working tree and $rev: $why" ]
	chmod +x "$WS/tools/bazel"
	git -C "$WS" checkout -q "$HEAD" # none at all
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$stderr" = "bds-fingerprint: 'tools/bazel' differs between the working tree and $rev: $why" ]
	git -C "$WS" checkout -q "$rev"
	printf 'latest\n' > "$WS/.bazelversion"
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$stderr" = "bds-fingerprint: '.bazelversion' differs between the working tree and $rev: $why" ]
	git -C "$WS" checkout -q .bazelversion
	printf 'USE_BAZEL_VERSION=4\n' > "$WS/.bazeliskrc"
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$stderr" = "bds-fingerprint: '.bazeliskrc' differs between the working tree and $rev: $why" ]
	rm "$WS/.bazeliskrc"
	mv "$WS/WORKSPACE" "$WS/WORKSPACE.bazel"
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev"
	[ "$stderr" = "bds-fingerprint: 'WORKSPACE' is in $rev but not in the working tree: Bazel's client, asked which rc files the query reads, runs in the working tree, the pipelines in $rev; check $rev out first" ]
	mv "$WS/WORKSPACE.bazel" "$WS/WORKSPACE"
	# a relative Bazel command is a workspace file too
	printf '#!/bin/sh\nexec bazel "$@"\n' > "$WS/bazelw"
	chmod +x "$WS/bazelw"
	rev2=$(commit_all "$WS" bazelw)
	run -0 bds-fingerprint -w "$WS" --rev "$rev2" --bazel ./bazelw
	run -1 --separate-stderr bds-fingerprint -w "$WS" --rev "$rev" --bazel ./bazelw
	[ "$stderr" = "bds-fingerprint: './bazelw' differs between the working tree and $rev: $why" ]
}

@test "the Bazel command resolves where the pipelines run it: a relative name and an empty PATH entry mean the workspace" {
	ws=$(cd "$WS" && pwd -P)
	mkdir "$WS/tools"
	printf '#!/bin/sh\nexec "%s/tests/bin/bazel" "$@"\n' "$BDS_TOP" > "$WS/tools/bazelw"
	chmod +x "$WS/tools/bazelw"
	cp "$WS/tools/bazelw" "$WS/bazel"
	printf '# the workspace own\n' >> "$WS/bazel"
	cd "$BATS_TEST_TMPDIR"
	run -0 env BAZEL=tools/bazelw bds-fingerprint -w "$WS"
	run -0 jq -r .fingerprint.components.bazel_command <<<"$output"
	[ "$output" = "$(xxh "$WS/tools/bazelw") ($ws/tools/bazelw)" ]
	# execvp in the workspace runs its ./bazel for an empty PATH entry
	run -0 env PATH=":$PATH" bds-fingerprint -w "$WS"
	run -0 jq -r .fingerprint.components.bazel_command <<<"$output"
	[ "$output" = "$(xxh "$WS/bazel") ($ws/bazel)" ]
}

@test "--rev outside a git repository, and the rc limits, say what is wrong" {
	plain="$BATS_TEST_TMPDIR/plain"
	mkdir "$plain"
	printf 'workspace(name = "p")\n' > "$plain/WORKSPACE"
	run -1 --separate-stderr bds-fingerprint -w "$plain" --rev HEAD
	[ "$stderr" = "bds-fingerprint: --rev 'HEAD': the workspace '$plain' is not in a git repository" ]
	cd "$WS"
	# imports 33 deep
	printf 'import %%workspace%%/d1.rc\n' > .bazelrc
	for i in $(seq 1 32); do printf 'import %%workspace%%/d%d.rc\n' $((i + 1)) > "d$i.rc"; done
	: > d33.rc
	run -1 --separate-stderr bds-fingerprint -w "$WS"
	[ "$stderr" = "bds-fingerprint: bazelrc '%workspace%/d32.rc' (in '%workspace%/d31.rc'): imports nested deeper than 32, the most bds follows" ]
	# more than 256 files
	: > a.rc
	for i in $(seq 1 256); do printf 'try-import %%workspace%%/a.rc\n'; done > .bazelrc
	run -1 --separate-stderr bds-fingerprint -w "$WS"
	[ "$stderr" = "bds-fingerprint: bazelrc '%workspace%/a.rc' (in '%workspace%/.bazelrc'): more than 256 rc files to read, the most bds reads" ]
}

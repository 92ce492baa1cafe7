# bds, the front command (bds COMMAND runs bds-COMMAND; help; version), and the --version
# and --help every C program answers the same way.

load helpers

setup() {
	BDS="$BDS_TOP/scripts/bds"
	V=$(bds-tmpdir --version)
	V=${V#bds-tmpdir }
}

@test "every C program: --version prints '<prog> <version>' on stdout, exit 0, wherever it stands" {
	n=0
	for bin in "$BDS_BUILD"/bin/bds-*; do
		p=${bin##*/}
		run -0 --separate-stderr "$bin" --version
		[ "$output" = "$p $V" ]
		[ "$stderr" = "" ]
		# after other options too, as getopt_long takes options anywhere
		run -0 --separate-stderr "$bin" -w /nonexistent --version
		[ "$output" = "$p $V" ]
		n=$((n + 1))
	done
	[ "$n" -ge 10 ]
	# the one version the build wrote (build/gen/bds-version.h)
	[ "$(sed -n 's/^#define BDS_VERSION "\(.*\)"$/\1/p' "$BDS_BUILD/gen/bds-version.h")" = "$V" ]
	# after `--`, --version is an argument like any other: here bds-output's OUT
	cd "$BATS_TEST_TMPDIR"
	run -0 --separate-stderr bds-output -- --version < /dev/null
	[ "$output" = "" ]
	[ -f ./--version ]
	# a full stdout is a failure, not a version
	run -1 --separate-stderr sh -c 'bds-diff --version > /dev/full'
	[ "$stderr" = "bds-diff: write 'stdout': No space left on device" ]
}

@test "every C program: --help prints the usage on stdout, exit 0; a usage error goes to stderr, 64" {
	for bin in "$BDS_BUILD"/bin/bds-*; do
		p=${bin##*/}
		run -0 --separate-stderr "$bin" --help
		[[ "$output" == "usage: $p"* ]]
		[ "$stderr" = "" ]
		run -0 --separate-stderr "$bin" -h
		[[ "$output" == "usage: $p"* ]]
		run -64 --separate-stderr "$bin" --no-such-option
		[ "$output" = "" ]
		[[ "$stderr" == *"usage: $p"* ]]
	done
}

@test "every C program: a usage error names the option as written, even inside a cluster" {
	for bin in "$BDS_BUILD"/bin/bds-*; do
		p=${bin##*/}
		# bds-fingerprint hands unknown options to bds-hash's table, and bds-store-lookup
		# is being reworked elsewhere: their own tests say what they print
		case $p in bds-fingerprint|bds-store-lookup) continue ;; esac
		run -64 --separate-stderr "$bin" --no-such-option
		[ "${stderr_lines[0]}" = "$p: unknown option '--no-such-option'" ]
		# -sh is -s then -h: the -s is unknown (it used to be named after argv[0])
		run -64 --separate-stderr "$bin" -sh
		[ "${stderr_lines[0]}" = "$p: unknown option '-s'" ]
		run -64 --separate-stderr "$bin" --help=yes
		[ "${stderr_lines[0]}" = "$p: option '--help' takes no value" ]
	done
	run -64 --separate-stderr bds-tmpdir --owner
	[ "${stderr_lines[0]}" = "bds-tmpdir: option '--owner' needs a value" ]
	run -64 --separate-stderr bds-guest-exec --put
	[ "${stderr_lines[0]}" = "bds-guest-exec: option '--put' needs a value" ]
	run -64 --separate-stderr bds-hash -w . --o x
	[ "${stderr_lines[0]}" = "bds-hash: ambiguous option '--o'" ]
}

@test "bds COMMAND runs bds-COMMAND with its arguments and status, untouched" {
	run -0 --separate-stderr "$BDS" diff --version
	[ "$output" = "bds-diff $V" ]
	# arguments pass through as given, spaces and all; the status is the command's
	printf '{"//a":"1~1"}' > "$BATS_TEST_TMPDIR/a b.json"
	printf '{"//a":"2~2","//b":"3~3"}' > "$BATS_TEST_TMPDIR/c.json"
	run -0 --separate-stderr "$BDS" diff "$BATS_TEST_TMPDIR/a b.json" "$BATS_TEST_TMPDIR/c.json"
	[ "$output" = "//a
//b" ]
	run -64 --separate-stderr "$BDS" diff --bogus
	[ "${stderr%%$'\n'*}" = "bds-diff: unknown option '--bogus'" ]
	echo '{' > "$BATS_TEST_TMPDIR/bad.json"
	run -1 --separate-stderr "$BDS" diff "$BATS_TEST_TMPDIR/bad.json" "$BATS_TEST_TMPDIR/c.json"
	# scripts too (they live beside bds; the C programs in the build tree)
	run -64 --separate-stderr "$BDS" generate-hashes
	[ "${stderr%%$'\n'*}" = "bds-generate-hashes: missing -w WORKSPACE" ]
}

@test "bds: an unknown command is one line naming it, exit 64" {
	run -64 --separate-stderr "$BDS" frobnicate
	[ "$output" = "" ]
	[ "$stderr" = "bds: 'frobnicate' is not a bds command (see 'bds --help')" ]
	run -64 --separate-stderr "$BDS" ../bin/sh
	[ "$stderr" = "bds: '../bin/sh' is not a bds command (see 'bds --help')" ]
	run -64 --separate-stderr "$BDS" help frobnicate
	[ "$stderr" = "bds: 'frobnicate' is not a bds command (see 'bds --help')" ]
	run -64 --separate-stderr "$BDS" --frobnicate
	[ "${stderr%%$'\n'*}" = "bds: unknown option '--frobnicate'" ]
	run -64 --separate-stderr "$BDS"
	[ "${stderr%%$'\n'*}" = "usage: bds COMMAND [ARGS]" ]
}

@test "bds --version and bds version print 'bds <version>'" {
	run -0 --separate-stderr "$BDS" --version
	[ "$output" = "bds $V" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr "$BDS" version
	[ "$output" = "bds $V" ]
}

@test "bds --help lists what is installed beside it, one line each, from the man pages' NAME" {
	run -0 --separate-stderr "$BDS" --help
	[ "$stderr" = "" ]
	[[ "$output" == *"
   diff                 bazel-diff-compatible impacted targets between two hashes files
"* ]]
	[[ "$output" == *"
   bazel-diff           "* ]]
	# one line a command: every bds-* program beside bds and in the build tree
	want=$( (cd "$BDS_TOP/scripts" && ls bds-*; cd "$BDS_BUILD/bin" && ls bds-*) | sed 's/^bds-//' | LC_ALL=C sort -u)
	got=$(printf '%s\n' "$output" | sed -n 's/^   \([a-z0-9-]*\).*/\1/p')
	[ "$got" = "$want" ]
	run -0 "$BDS" help
	[[ "$output" == "usage: bds COMMAND"* ]]
	# an installed tree: the commands beside bds, descriptions from share/man, a command
	# without a page listed by its name alone
	P="$BATS_TEST_TMPDIR/prefix"
	mkdir -p "$P/bin" "$P/share/man/man1"
	cp "$BDS" "$BDS_BUILD/bin/bds-tmpdir" "$BDS_BUILD/bin/bds-diff" "$P/bin/"
	gzip -c "$BDS_TOP/man/bds-diff.1" > "$P/share/man/man1/bds-diff.1.gz"
	printf '#!/bin/sh\necho mine "$@"\n' > "$P/bin/bds-mine"
	chmod +x "$P/bin/bds-mine"
	run -0 --separate-stderr env MANPATH=/nonexistent "$P/bin/bds" --help
	[ "$(printf '%s\n' "$output" | grep '^   ')" = "   diff                 bazel-diff-compatible impacted targets between two hashes files
   mine
   tmpdir" ]
	run -0 "$P/bin/bds" mine a 'b c'
	[ "$output" = "mine a b c" ]
	run -0 "$P/bin/bds" --version
	[ "$output" = "bds $V" ]
}

@test "bds help COMMAND: the man page when man has it, else the command's --help" {
	# without man: the usage
	mkdir -p "$BATS_TEST_TMPDIR/noman"
	for t in sh dirname sed head cat; do ln -s "$(command -v "$t")" "$BATS_TEST_TMPDIR/noman/$t"; done
	run -0 --separate-stderr env PATH="$BATS_TEST_TMPDIR/noman" "$BDS" help diff
	[[ "$output" == "usage: bds-diff"* ]]
	# with man: the source tree's page (development), rendered
	command -v man >/dev/null || skip "no man here"
	run -0 --separate-stderr env MANPAGER=cat PAGER=cat MANWIDTH=80 "$BDS" help diff
	[[ "$output" == *"bds-diff — bazel-diff-compatible impacted targets"* ]]
	run -0 --separate-stderr env MANPAGER=cat PAGER=cat MANWIDTH=80 "$BDS" help bazel-diff
	[[ "$output" == *"bds-bazel-diff — "* ]]
}

@test "every script: --version prints '<prog> <version>', --help the usage on stdout with 0; a usage error is stderr and 64" {
	for s in "$BDS_TOP"/scripts/bds-*; do
		p=${s##*/}
		run -0 --separate-stderr "$s" --version
		[ "$output" = "$p ${V#bds-tmpdir }" ]
		[ "$stderr" = "" ]
		run -0 --separate-stderr "$s" --help
		[ "${lines[0]%% *}" = "usage:" ]
		[ "$stderr" = "" ]
		help=$output
		# bazel-diff's own usage errors are 2 (bds-bazel-diff.bats); bds-canary hands the
		# options it does not know to bds-consume
		case $p in bds-bazel-diff|bds-canary) continue ;; esac
		run -64 --separate-stderr "$s" --no-such-option-here
		[ "$output" = "" ]
		[[ "${stderr_lines[0]}" == "$p: "*"'--no-such-option-here'"* ]]
		# the usage error ends with the same usage --help prints
		[ "${stderr#*$'\n'}" = "$help" ]
	done
}

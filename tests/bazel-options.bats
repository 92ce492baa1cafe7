# Bazel's command and options on every path: -b, repeatable -so and -co reach every Bazel
# invocation of record, consume (warm), bds-cold and the canary; what changes the graph is
# in the key; startup options that would break the warm state are refused; every script
# reads --opt=value as --opt value.

load helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export WS="$BATS_FILE_TMPDIR/ws"
	new_workspace "$WS"
	# config "ci" changes the query's answer: without implicit dependencies, a genrule's
	# inputs lose the genrule setup script (proved by the first test)
	printf 'query:ci --noimplicit_deps\n' > "$WS/.bazelrc"
	printf 'a\n' > "$WS/a.txt"
	printf 'genrule(name = "g", srcs = ["a.txt"], outs = ["g.out"], cmd = "cp $< $@")\n' > "$WS/BUILD"
	BASE=$(commit_all "$WS" base)
	# the target adds a package that nothing of the base depends on: //:g is not impacted,
	# unless the base and the target are hashed with different options
	mkdir -p "$WS/p"
	printf 'b\n' > "$WS/p/b.txt"
	printf 'filegroup(name = "f", srcs = ["b.txt"])\n' > "$WS/p/BUILD"
	TARGET=$(commit_all "$WS" target)
	export BASE TARGET
	# -b's Bazel: a wrapper that logs every invocation's arguments, one line each
	export BAZEL_LOG="$BATS_FILE_TMPDIR/bazel.log"
	export LOGBAZEL="$BATS_FILE_TMPDIR/bin/logbazel"
	mkdir -p "${LOGBAZEL%/*}"
	printf '#!/bin/sh\nprintf "%%s\\n" "$*" >> "$BAZEL_LOG"\nexec bazel "$@"\n' > "$LOGBAZEL"
	chmod +x "$LOGBAZEL"
}

teardown_file() {
	stop_warm_servers
	stop_bazel "$WS"
}

setup() {
	T=$BATS_TEST_TMPDIR
	export TMPDIR="$T/tmp"
	mkdir -p "$TMPDIR"
	: > "$BAZEL_LOG"
}

key() {
	bds-fingerprint -w "$WS" "$@" | jq -er .fingerprint.key
}

# queries: the logged Bazel invocations that ran bds' query (one line each).
queries() {
	grep -e '--query_file' "$BAZEL_LOG" || true
}

@test "config ci really changes bds-generate-hashes' answer; a second -co adds" {
	run -0 bds-generate-hashes -w "$WS" "$T/plain.json"
	run -0 bds-generate-hashes -w "$WS" -co --config=ci "$T/ci.json"
	plain=$(jq -r '."//:g"' "$T/plain.json")
	ci=$(jq -r '."//:g"' "$T/ci.json")
	[ -n "$plain" ]
	[ "$plain" != null ]
	[ "$plain" != "$ci" ]
	# the source file is hashed alike either way: only the graph differs
	[ "$(jq -r '."//:a.txt"' "$T/plain.json")" = "$(jq -r '."//:a.txt"' "$T/ci.json")" ]
	# -co twice (and --opt=value): both reach the query, in their order
	run -0 bds-generate-hashes --workspace="$WS" --bazel="$LOGBAZEL" --command-options=--config=ci \
		-co '--keep_going  --nohost_deps' -so --io_nice_level=3 "$T/two.json"
	[ "$(jq -r '."//:g"' "$T/two.json")" = "$ci" ]
	run -0 queries
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "--io_nice_level=3 query --output streamed_proto --proto:instantiation_stack --order_output=no --config=ci --keep_going --nohost_deps --query_file "* ]]
}

@test "bds-fingerprint: -so and -co are keyed in order, a second one adds; harmless startup options are not keyed" {
	run -0 bds-fingerprint -w "$WS" -so '--nohome_rc --max_idle_secs=5' \
		-so '--host_jvm_args=-Xmx1g --host_jvm_args -Dfoo=bar --io_nice_level 3 --noblock_for_lock' \
		-co --config=ci -co '--keep_going --nohost_deps'
	run -0 jq -c '.fingerprint.components | .startup_options, .command_options' <<<"$output"
	[ "$output" = '["--nohome_rc","--host_jvm_args","-Dfoo=bar"]
["--config=ci","--keep_going","--nohost_deps"]' ]
	none=$(key)
	[ "$(key -so '--max_idle_secs=7 --host_jvm_args=-Xmx2g --client_debug')" = "$none" ]
	[ "$(key -so --nohome_rc)" != "$none" ]
	[ "$(key -so --host_jvm_args=-Dfoo=bar)" != "$none" ]
	ci=$(key -co --config=ci)
	[ "$ci" != "$none" ]
	[ "$(key -co '--config=ci')" = "$ci" ]
	[ "$(key -co --config=ci -co --keep_going)" != "$(key -co --keep_going -co --config=ci)" ]
	[ "$(key -co --config=ci -co --keep_going)" = "$(key -co '--config=ci --keep_going')" ]
	# -b names another Bazel: another key, the wrapper's digest
	[ "$(key --bazel "$LOGBAZEL")" != "$none" ]
	run -0 bds-fingerprint -w "$WS" --bazel "$LOGBAZEL"
	[[ "$(jq -r .fingerprint.components.bazel_command <<<"$output")" == *" ($LOGBAZEL)" ]]
	# a startup option that changes which rc files Bazel reads changes what the key reads
	run -0 bds-fingerprint -w "$WS"
	[ "$(jq -c .fingerprint.components.rc_list <<<"$output")" = '["/etc/bazel/bazelrc","%workspace%/.bazelrc"]' ]
	run -0 bds-fingerprint -w "$WS" -so --noworkspace_rc
	[ "$(jq -c .fingerprint.components.rc_list <<<"$output")" = '["/etc/bazel/bazelrc"]' ]
}

@test "refused startup options: 64 with one clear line from record, consume, cold and canary, before anything starts" {
	local so name why
	why="bds keeps a warm Bazel server and its output base, which"
	for so in "--output_base=$T/ob" "--output_user_root $T/our" "--install_base=$T/ib" \
		"--server_javabase=/usr/lib/jvm/x" "--batch" "--nohome_rc --batch"; do
		word=${so#--nohome_rc }
		word=${word%% *}
		name=${word%%=*}
		run -64 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store" -so "$so"
		[ "$output" = "" ]
		[ "${stderr_lines[0]}" = "bds-fingerprint: startup option '$word' is refused: $why $name would move or replace" ]
		run -64 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$T/store" -so "$so"
		[ "${stderr_lines[0]}" = "bds-fingerprint: startup option '$word' is refused: $why $name would move or replace" ]
		run -64 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$TARGET" -so "$so"
		[ "${stderr_lines[0]}" = "bds-cold: startup option '$word' is refused: $why $name would move or replace" ]
		run -64 --separate-stderr bds-canary -w "$WS" --base "$BASE" --target "$TARGET" --store "$T/store" -so "$so"
		[ "${stderr_lines[0]}" = "bds-fingerprint: startup option '$word' is refused: $why $name would move or replace" ]
		[ "${stderr_lines[-1]}" = "bds-canary: bds-consume refused the options (exit 64)" ]
	done
	[ ! -e "$T/store" ]
	[ ! -e "$T/ob" ]
	[ ! -e "$T/our" ]
	[ ! -e "$T/ib" ]
	[ ! -e "$BDS_CACHE" ]
	[ -z "$(ls -A "$TMPDIR")" ]
	[ ! -s "$BAZEL_LOG" ]
	# bds-fingerprint itself, and bds-generate-hashes (bazel-diff's, which bds-cold gives
	# its own output base) takes it
	run -64 --separate-stderr bds-fingerprint -w "$WS" -so --output_base=/x
	run -0 bds-generate-hashes -w "$WS" -so "--output_base=$T/ob" "$T/h.json"
	bazel --output_base="$T/ob" shutdown
}

@test "-b is for the local driver" {
	run -64 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store" --driver qemu -b "$LOGBAZEL"
	[ "${stderr_lines[0]}" = "bds-record: -b is for the local driver: a qemu guest runs its image's Bazel" ]
	run -64 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$T/store" --driver=firecracker --bazel="$LOGBAZEL"
	[ "${stderr_lines[0]}" = "bds-consume: -b is for the local driver: a firecracker guest runs its image's Bazel" ]
}

@test "record and consume with -b, -so, -co (spelled --opt=value): warm == cold, and the options reached every Bazel run" {
	opts=(--bazel="$LOGBAZEL" --startup-options=--io_nice_level=3 -co --config=ci --command-options=--nohost_deps)
	run -0 --separate-stderr bds-record --workspace="$WS" --base="$BASE" --store="$T/store" "${opts[@]}"
	run -0 --separate-stderr bds-consume --workspace="$WS" --target="$TARGET" --store="$T/store" "${opts[@]}"
	[[ "$stderr" != *"cold"* ]]
	warm=$output
	run -0 --separate-stderr bds-cold --workspace="$WS" --base="$BASE" --target="$TARGET" "${opts[@]}"
	# exactly the new package: //:g would be here if one side had been hashed without -co
	[ "$output" = '//p:BUILD
//p:b.txt
//p:f' ]
	[ "$warm" = "$output" ]
	# every query (record's, consume's, the cold path's two) ran through -b with -so and -co
	run -0 queries
	[ "${#lines[@]}" -eq 4 ]
	local q
	for q in "${lines[@]}"; do
		[[ "$q" == *"--io_nice_level=3 "*"query --output streamed_proto --proto:instantiation_stack --order_output=no --config=ci --nohost_deps --query_file "* ]]
	done
	# the warm ones in the local driver's output base, the cold ones in bds-cold's own
	[ "$(grep -c -e "--output_base=$BDS_CACHE/local/.* --io_nice_level=3 query " "$BAZEL_LOG")" -eq 2 ]
	[ "$(grep -c -e "--io_nice_level=3 --output_base=$TMPDIR/bds-cold[^ ]*/output_base --max_idle_secs=900 query " "$BAZEL_LOG")" -eq 2 ]
	# bds-fingerprint asked the same Bazel, with the same startup options, which rc files it reads
	[ "$(grep -c -e "^--io_nice_level=3 --client_debug " "$BAZEL_LOG")" -eq 4 ]
	# the canary: both paths with the options, warm again
	: > "$BAZEL_LOG"
	run -0 --separate-stderr bds-canary --workspace="$WS" --base="$BASE" --target="$TARGET" --store="$T/store" "${opts[@]}"
	[ "$output" = "canary: identical (3 labels)" ]
	[ "$(queries | grep -c -e '--config=ci --nohost_deps --query_file')" -eq 3 ]
	# without the options, consume is another key: no entry, cold (2), never the -co graph
	run -2 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$T/store" -b "$LOGBAZEL"
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-consume: cold: "* ]]
}

@test "recorded without -co, consumed with -co: another key, so cold, and --cold answers for -co" {
	run -0 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store"
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$T/store"
	[ "$output" = '//p:BUILD
//p:b.txt
//p:f' ]
	: > "$BAZEL_LOG"
	run -2 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$T/store" -b "$LOGBAZEL" -co --config=ci
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-consume: cold: "* ]]
	[ -z "$(queries)" ]
	# --cold: the cold path, with the options
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --base "$BASE" --store "$T/store" --cold \
		-b "$LOGBAZEL" -co --config=ci
	[ "$output" = '//p:BUILD
//p:b.txt
//p:f' ]
	[ "$(queries | grep -c -e "--output_base=$TMPDIR/bds-cold[^ ]*/output_base --max_idle_secs=900 query .* --config=ci --query_file")" -eq 2 ]
}

@test "every script reads --opt=value as --opt value" {
	run -64 --separate-stderr bds-record --workspace="$WS" --base="$BASE" --store="$T/store" --lock-timeout=1e3
	[ "${stderr_lines[0]}" = "bds-record: --lock-timeout takes seconds from 0 to 86400, not '1e3'" ]
	run -64 --separate-stderr bds-consume --workspace="$WS" --target="$TARGET" --store="$T/store" --max-distance=x
	[ "${stderr_lines[0]}" = "bds-consume: --max-distance takes a number from 0 to 100000, not 'x'" ]
	run -64 --separate-stderr bds-canary --workspace="$WS" --base="$BASE" --target="$TARGET" --store="$T/store" --max-distance=x
	[ "${stderr_lines[0]}" = "bds-consume: --max-distance takes a number from 0 to 100000, not 'x'" ]
	run -64 --separate-stderr bds-canary --workspace="$WS" --base="$BASE" --target="$TARGET" --store="$T/store" --target-type=Foo
	[ "${stderr_lines[0]}" = "bds-consume: unknown target type 'Foo' (expected Rule, SourceFile or GeneratedFile)" ]
	run -64 --separate-stderr bds-cold --workspace="$WS" --base="$BASE" --target="$TARGET" --target-type=Foo
	[ "${stderr_lines[0]}" = "bds-cold: unknown target type 'Foo' (expected Rule, SourceFile or GeneratedFile)" ]
	run -64 --separate-stderr bds-generate-hashes --workspace="$WS" --target-type=Foo
	[ "${stderr_lines[0]}" = "bds-hash: unknown target type 'Foo' (expected Rule, SourceFile or GeneratedFile)" ]
	run -1 --separate-stderr bds-guest-checkout --workspace="$WS" --rev=no-such-rev < /dev/null
	[ "$stderr" = "bds-guest-checkout: revision 'no-such-rev': not a commit of '$WS'" ]
	run -64 --separate-stderr bds-host-setup --check --slots=x
	[ "${stderr_lines[0]}" = "bds-host-setup: --slots 'x': not a number from 1 to 256" ]
	BDS_KVM_DEVICE=/dev/null run -1 --separate-stderr bds-kvm-e2e --firecracker="$T/none"
	[ "$stderr" = "bds-kvm-e2e: FAILED: firecracker '$T/none' (from --firecracker): not an executable file" ]
	# a value may hold '=' and look like an option
	run -0 bds-generate-hashes --workspace="$WS" --exclude-targets-query='attr(name, "x=y", //...) + //p/...' "$T/q.json"
	run -0 bds-generate-hashes -w "$WS" --exclude-targets-query '//p/...' "$T/p.json"
	cmp "$T/q.json" "$T/p.json"
	[ "$(jq -r '."//:g"' "$T/q.json")" != null ]
	[ "$(jq -r '."//p:f"' "$T/q.json")" = null ]
	[ -z "$(ls -A "$TMPDIR")" ]
}

@test "a flag given a value, and an unknown option, are usage errors naming it" {
	local base=(--workspace="$WS" --base="$BASE" --target="$TARGET")
	run -64 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store" --include-target-type=1
	[ "${stderr_lines[0]}" = "bds-record: option '--include-target-type' takes no value" ]
	run -64 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$T/store" --cold=1
	[ "${stderr_lines[0]}" = "bds-consume: option '--cold' takes no value" ]
	run -64 --separate-stderr bds-canary "${base[@]}" --store "$T/store" --include-target-type=yes
	[ "${stderr_lines[0]}" = "bds-consume: option '--include-target-type' takes no value" ]
	run -64 --separate-stderr bds-canary "${base[@]}" --store "$T/store" --cold=1
	[ "${stderr_lines[0]}" = "bds-canary: '--cold' is not for the canary" ]
	run -64 --separate-stderr bds-cold "${base[@]}" --exclude-external=1
	[ "${stderr_lines[0]}" = "bds-cold: option '--exclude-external' takes no value" ]
	run -64 --separate-stderr bds-generate-hashes -w "$WS" --keep_going=1
	[ "${stderr_lines[0]}" = "bds-generate-hashes: option '--keep_going' takes no value" ]
	run -64 --separate-stderr bds-host-setup --check=1
	[ "${stderr_lines[0]}" = "bds-host-setup: option '--check' takes no value" ]
	run -64 --separate-stderr bds-kvm-e2e --keep=1
	[ "${stderr_lines[0]}" = "bds-kvm-e2e: option '--keep' takes no value" ]
	# the last argument too; and a flag followed by an ordinary word is still that word's
	run -64 --separate-stderr bds-cold "${base[@]}" --include-target-type=
	[ "${stderr_lines[0]}" = "bds-cold: option '--include-target-type' takes no value" ]
	run -64 --separate-stderr bds-cold "${base[@]}" --include-target-type extra
	[ "${stderr_lines[0]}" = "bds-cold: unexpected argument 'extra'" ]
	run -64 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$T/store" --no-such=1
	[ "${stderr_lines[0]}" = "bds-record: unknown argument '--no-such'" ]
	run -64 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$T/store" --no-such
	[ "${stderr_lines[0]}" = "bds-consume: unknown argument '--no-such'" ]
	run -64 --separate-stderr bds-guest-checkout --no-such=2
	[ "${stderr_lines[0]}" = "bds-guest-checkout: unknown argument '--no-such'" ]
	[ -z "$(ls -A "$TMPDIR")" ]
	[ ! -e "$T/store" ]
}

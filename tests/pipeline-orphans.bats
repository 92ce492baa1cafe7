# Killed pipelines and the warm machine they leave behind, local driver, real Bazel and git:
# a consume killed with SIGKILL (its whole process group), or whose keeper alone is, must
# leave nothing working in the warm worktree once the next pipeline has the lock, and that
# next consume prints exactly bds-cold's answer (or exits 2). And the warm server a record
# starts holds none of the record's caller's descriptors.

load helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export WS="$BATS_FILE_TMPDIR/ws"
	export STORE="$BATS_FILE_TMPDIR/store"
	# wrappers that hold a pipeline up where a killed one does its damage: git before a
	# checkout (BDS_TEST_CHECKOUT_DELAY, only first on PATH for the pipeline to kill), Bazel
	# before the query (BDS_TEST_QUERY_DELAY); each touches $BDS_TEST_REACHED when it starts
	# waiting, so a test kills at the right moment
	mkdir -p "$BATS_FILE_TMPDIR/bin" "$BATS_FILE_TMPDIR/slowgit"
	cat > "$BATS_FILE_TMPDIR/bin/bazel" <<-EOF
		#!/bin/sh
		case " \$* " in
		*" streamed_proto "*)
			if [ -n "\${BDS_TEST_QUERY_DELAY:-}" ]; then
				: > "\$BDS_TEST_REACHED"
				sleep "\$BDS_TEST_QUERY_DELAY"
			fi ;;
		esac
		exec "$BDS_TOP/tests/bin/bazel" "\$@"
	EOF
	cat > "$BATS_FILE_TMPDIR/slowgit/git" <<-EOF
		#!/bin/sh
		case " \$* " in
		*" checkout "*)
			: > "\$BDS_TEST_REACHED"
			sleep "\$BDS_TEST_CHECKOUT_DELAY" ;;
		esac
		exec "$(command -v git)" "\$@"
	EOF
	chmod +x "$BATS_FILE_TMPDIR/bin/bazel" "$BATS_FILE_TMPDIR/slowgit/git"
	new_workspace "$WS"
	mkdir -p "$WS/lib" "$WS/app"
	printf 'a\n' > "$WS/lib/a.txt"
	cat > "$WS/lib/BUILD" <<-'EOF'
		genrule(name = "gen", srcs = ["a.txt"], outs = ["gen.out"], cmd = "cp $< $@",
		        visibility = ["//visibility:public"])
	EOF
	printf 'genrule(name = "app", srcs = ["//lib:gen"], outs = ["app.out"], cmd = "cp $< $@")\n' > "$WS/app/BUILD"
	BASE=$(commit_all "$WS" base)
	printf 'a2\n' > "$WS/lib/a.txt"
	printf 'x\n' > "$WS/lib/new.txt"
	TARGET=$(commit_all "$WS" target)
	git -C "$WS" checkout -q --detach "$BASE"
	export BASE TARGET
	PATH="$BATS_FILE_TMPDIR/bin:$PATH" bds-record -w "$WS" --base "$BASE" --store "$STORE" 2>"$BATS_FILE_TMPDIR/record.err"
	# the right answer for (base, base), which a killed consume of TARGET must not change
	PATH="$BATS_FILE_TMPDIR/bin:$PATH" bds-cold -w "$WS" --base "$BASE" --target "$BASE" \
		> "$BATS_FILE_TMPDIR/cold-base-base" 2>"$BATS_FILE_TMPDIR/cold.err"
	# and for (base, target), which it would print instead
	PATH="$BATS_FILE_TMPDIR/bin:$PATH" bds-cold -w "$WS" --base "$BASE" --target "$TARGET" \
		> "$BATS_FILE_TMPDIR/cold-base-target" 2>>"$BATS_FILE_TMPDIR/cold.err"
}

setup() {
	# after `load helpers`, which puts tests/bin first again for every test
	PATH="$BATS_FILE_TMPDIR/bin:$PATH"
	[ "$(command -v bazel)" = "$BATS_FILE_TMPDIR/bin/bazel" ]
	[ "$(cat "$BATS_FILE_TMPDIR/cold-base-base")" = "" ]
	[ "$(cat "$BATS_FILE_TMPDIR/cold-base-target")" != "" ]
	MARK="bds-test-killed-$BATS_TEST_NUMBER-$$"
	KILLED=""
}

teardown() {
	# whatever a failing test left of the killed pipeline
	local p ob
	for p in $(marked); do kill -KILL "$p" 2>/dev/null || true; done
	[ -z "$KILLED" ] || wait "$KILLED" 2>/dev/null || true
	for ob in "$BATS_TEST_TMPDIR"/cache/local/*/*/output_base; do
		[ -d "$ob" ] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
}

teardown_file() {
	for ob in "$BATS_FILE_TMPDIR"/*/local/*/*/output_base; do
		[ -d "$ob" ] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
}

# marked: the live processes (not zombies) that carry this test's MARK in their
# environment: the pipeline to kill and everything it started (a Bazel client too).
marked() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '{ print $3 }' "$p/stat" 2>/dev/null)" != Z ] || continue
		tr '\0' '\n' 2>/dev/null < "$p/environ" | grep -qx "BDS_TEST_MARK=$MARK" && echo "${p#/proc/}"
	done
	return 0
}

# start_killed [VAR=VALUE...]: KILLED, a consume of TARGET in a session (and process
# group) of its own, carrying MARK, with VAR=VALUE in its environment; returns once it
# reached the wrapper that holds it up (60 s at most).
start_killed() {
	REACHED="$BATS_TEST_TMPDIR/reached"
	env BDS_TEST_MARK="$MARK" BDS_TEST_REACHED="$REACHED" "$@" \
		setsid bds-consume -w "$WS" --target "$TARGET" --store "$STORE" \
		> "$BATS_TEST_TMPDIR/killed.out" 2> "$BATS_TEST_TMPDIR/killed.err" &
	KILLED=$!
	local _
	for _ in $(seq 600); do
		[ -e "$REACHED" ] && return 0
		sleep 0.1
	done
	return 1
}

# keeper_of_state: the pid of the keeper holding the warm state's lock ("" if none).
keeper_of_state() {
	local lock p fd
	lock=$(echo "$BDS_CACHE"/local/*/"$BASE"/state.lock)
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = bds-vm-restore ] || continue
		for fd in "$p"/fd/*; do
			[ "$(readlink "$fd" 2>/dev/null)" = "$lock" ] && { echo "${p#/proc/}"; return 0; }
		done
	done
	return 0
}

# next_consume: the consume right after, of (base, base), its query held up 4 s: long
# enough for what the killed one left to land in the worktree meanwhile. Its answer must
# be bds-cold's, or a refusal (exit 2); $status and $output as `run` sets them.
next_consume() {
	run --separate-stderr env BDS_TEST_QUERY_DELAY=4 BDS_TEST_REACHED="$BATS_TEST_TMPDIR/next" \
		bds-consume -w "$WS" --base "$BASE" --target "$BASE" --store "$STORE"
	echo "# next consume: exit $status" >&3
	[ "$status" = 0 ] || [ "$status" = 2 ]
	[ "$status" = 2 ] || [ "$output" = "$(cat "$BATS_FILE_TMPDIR/cold-base-base")" ]
}

@test "a consume killed (its whole process group) during its checkout: the next one answers as bds-cold, nothing of it is left" {
	start_killed PATH="$BATS_FILE_TMPDIR/slowgit:$PATH" BDS_TEST_CHECKOUT_DELAY=3
	# the whole pipeline, as a CI runner cancelling a job does; its checkout runs in a
	# process group of its own
	kill -KILL -- "-$KILLED"
	wait "$KILLED" || true
	KILLED=
	next_consume
	[ "$(marked)" = "" ]
}

@test "a consume killed (its whole process group) during its query: the next one answers as bds-cold, nothing of it is left" {
	start_killed BDS_TEST_QUERY_DELAY=60
	kill -KILL -- "-$KILLED"
	wait "$KILLED" || true
	KILLED=
	next_consume
	[ "$(marked)" = "" ]
}

@test "a consume whose keeper alone is killed during its checkout: the next one answers as bds-cold, the first one fails" {
	start_killed PATH="$BATS_FILE_TMPDIR/slowgit:$PATH" BDS_TEST_CHECKOUT_DELAY=3
	local keeper rc=0
	keeper=$(keeper_of_state)
	[ -n "$keeper" ]
	kill -KILL "$keeper"
	next_consume
	# its checkout was stopped under it (1), or its next stage found the lock lost (2):
	# never an answer
	wait "$KILLED" || rc=$?
	KILLED=
	echo "# the first consume: exit $rc" >&3
	[ "$rc" = 1 ] || [ "$rc" = 2 ]
	[ ! -s "$BATS_TEST_TMPDIR/killed.out" ]
	[ "$(marked)" = "" ]
}

@test "the warm server a record starts holds no descriptor of the record's caller" {
	export BDS_CACHE="$BATS_TEST_TMPDIR/cache"
	local ob server pipe
	# the caller: a CI job holding a lock of its own on fd 9, and a pipe on fd 8
	exec 9> "$BATS_TEST_TMPDIR/ci.lock"
	flock 9
	exec 8> >(cat > /dev/null)
	run -0 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$BATS_TEST_TMPDIR/store"
	pipe=$(readlink /proc/self/fd/8)
	exec 8>&- 9>&-
	ob=$(echo "$BDS_CACHE"/local/*/"$BASE"/output_base)
	server=$(cat "$ob/server/server.pid.txt")
	kill -0 "$server"
	run -0 find "/proc/$server/fd" -mindepth 1 -printf '%f %l\n'
	echo "$output"
	# its own: its output base, the install base, the JDK and Bazel's jar, devices,
	# sockets and event descriptors; anything else (a pipe, a file of the caller's or of
	# the record's temporary directory) is the caller's
	local fd target
	while read -r fd target; do
		case $target in
		"$ob"/* | "$BDS_TEST_BAZEL_ROOT"/* | /usr/* | /dev/null | /dev/random | /dev/urandom) ;;
		socket:* | anon_inode:*) ;;
		*) echo "fd $fd -> $target is not the server's own"; false ;;
		esac
	done <<<"$output"
	[[ "$output" != *"$pipe"* ]]
	# the caller's lock is free once the record is done: nobody inherited it
	run -0 flock -n "$BATS_TEST_TMPDIR/ci.lock" true
}

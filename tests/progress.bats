# Heartbeats (bds-heartbeat, every script's long phases) and --timings FILE: a 60 s record
# with stderr a pipe beats at least every 10 s, --quiet silences only that, no heartbeat
# outlives its script (SIGTERM, SIGKILL), and the timings object has exact keys and the
# real counts, on warm, cold and failed runs.

load helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export WS="$BATS_FILE_TMPDIR/ws"
	export STORE="$BATS_FILE_TMPDIR/store"
	new_lib_app "$WS"
	BASE=$(commit_all "$WS" base)
	export BASE
	printf 'a2\n' > "$WS/lib/a.txt"
	TARGET=$(commit_all "$WS" target)
	export TARGET
	# the warm server stops after 120 s idle (tests/bin/bazel): the tests that consume it
	# come first
	bds-record -w "$WS" --base "$BASE" --store "$STORE" --quiet 2>"$BATS_FILE_TMPDIR/record.err"
	# A Bazel whose real query (bds-generate-hashes', never bds-fingerprint's rc probe)
	# first prints a progress line as Bazel does, then sleeps SLOW_QUERY seconds.
	mkdir -p "$BATS_FILE_TMPDIR/slow"
	cat > "$BATS_FILE_TMPDIR/slow/bazel" <<-EOF2
		#!/bin/sh
		case " \$* " in *" query "*" --query_file "*)
		        echo "Loading: 0 packages loaded" >&2
		        sleep "\${SLOW_QUERY:-0}" ;;
		esac
		exec "$BDS_TOP/tests/bin/bazel" "\$@"
	EOF2
	chmod +x "$BATS_FILE_TMPDIR/slow/bazel"
}

teardown_file() {
	stop_bazel "$WS"
	stop_warm_servers
}

# A heartbeat a broken build leaves running (tests/mutants/heartbeat-ignores-parent) would
# hold bats' descriptors and hang the run instead of failing one test: those the test
# left are killed (they are this build's, started by the test's scripts).
teardown() {
	local p
	for p in $(live_heartbeats); do kill -KILL "$p" 2>/dev/null || true; done
}

# live_heartbeats: the pids of this build's bds-heartbeat processes that still run (a
# zombie, waiting for an init that does not reap, has ended).
live_heartbeats() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[ "$exe" = "$BDS_BUILD/bin/bds-heartbeat" ] || continue
		case $(sed -n 's/.*) \(.\).*/\1/p' "$p/stat" 2>/dev/null) in Z|X|'') continue ;; esac
		echo "${p#/proc/}"
	done
}

# child_of PID EXE: the pid of PID's child that runs $BDS_BUILD/bin/EXE, if any.
child_of() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '{ print $4 }' "$p/stat" 2>/dev/null)" = "$1" ] || continue
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$BDS_BUILD/bin/$2" ] && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}

# wait_for CMD...: until CMD succeeds, at most 90 s (the slow query is 60 s).
wait_for() {
	for _ in $(seq 900); do
		"$@" && return 0
		sleep 0.1
	done
	echo "gave up waiting for: $*" >&2
	return 1
}

# stamp: every line of standard input with the time it came (seconds since the epoch).
stamp() {
	local l
	while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done
}

# check_gaps FILE START END: FILE's lines (stamped) come at most 10 s apart, the first at
# most 10 s after START, END at most 10 s after the last.
check_gaps() {
	awk -v s="$2" -v e="$3" '
		{ if ($1 - s > 10) { printf "%.1f s without a line before: %s\n", $1 - s, $0; bad = 1 } s = $1 }
		END { if (e - s > 10) { printf "%.1f s without a line at the end\n", e - s; bad = 1 } exit bad }' "$1" >&2
}

# timings_keys FILE: FILE is one JSON object with exactly the documented keys and types.
timings_keys() {
	jq -e '(keys == ["cold_reason", "counts", "exit_status", "phases", "program"])
		and (.counts | keys == ["base_targets", "impacted", "target_targets"])
		and (.phases | type == "array" and all(.[]; (keys == ["name", "seconds"]) and (.seconds | type == "number")
		                                           and .seconds >= 0 and (.name | type == "string")))
		and (.exit_status | type == "number")' "$1" >/dev/null || { echo "bad timings object: $(cat "$1")" >&2; return 1; }
}

# hashes_of REV FILE: the hashes of REV from the cold path's own stage, for the counts.
hashes_of() {
	git -C "$WS" checkout -q --detach "$1" &&
	bds-generate-hashes -w "$WS" --quiet "$2" &&
	git -C "$WS" checkout -q --detach "$TARGET"
}

@test "bds-heartbeat: usage is 64; a line every interval with the exact format" {
	run -64 --separate-stderr bds-heartbeat prog
	[ "${stderr_lines[0]}" = "bds-heartbeat: PROG and PHASE are required" ]
	run -64 --separate-stderr bds-heartbeat --interval 0 prog phase
	[ "${stderr_lines[0]}" = "bds-heartbeat: --interval takes seconds from 0.05 to 3600" ]
	run -64 --separate-stderr bds-heartbeat prog $'two\nlines'
	[ "${stderr_lines[0]}" = "bds-heartbeat: PROG and PHASE are 1 to 64 printable characters" ]
	run -0 --separate-stderr bds-heartbeat --help
	[ "${lines[0]}" = "usage: bds-heartbeat [--interval SEC] [--progress FILE] PROG PHASE" ]
	# killed after 1.1 s of 0.5 s beats: exactly two lines
	run -124 --separate-stderr timeout 1.1 bds-heartbeat --interval 0.5 bds-x "some phase"
	[ "$output" = "" ]
	[ "$stderr" = $'bds-x: heartbeat: some phase 0s\nbds-x: heartbeat: some phase 1s' ]
}

@test "bds-heartbeat: the newest Bazel progress line, or a nested heartbeat's, from FILE" {
	f=$BATS_TEST_TMPDIR/progress
	printf 'INFO: Invocation ID: x\nLoading: 3 packages loaded\n    currently loading: lib\nsome error\n' > "$f"
	run -124 --separate-stderr timeout 0.4 bds-heartbeat --interval 0.3 --progress "$f" bds-x q
	[ "$stderr" = "bds-x: heartbeat: q 0s | Loading: 3 packages loaded" ]
	printf 'Loading: 3 packages loaded\nbds-generate-hashes: heartbeat: query+hash 8s | Loading: 9 packages loaded\n' > "$f"
	run -124 --separate-stderr timeout 0.4 bds-heartbeat --interval 0.3 --progress "$f" bds-x q
	[ "$stderr" = "bds-x: heartbeat: q 0s | Loading: 9 packages loaded" ]
	# a terminal's carriage returns: the text after the last one; a long line is cut to 160 bytes
	prefix="bds-x: heartbeat: q 0s | "
	{ printf 'Loading: 1 packages loaded\rAnalyzing: 2 targets '; printf 'x%.0s' $(seq 300); printf '\n'; } > "$f"
	run -124 --separate-stderr timeout 0.4 bds-heartbeat --interval 0.3 --progress "$f" bds-x q
	[ "${#stderr}" -eq $((${#prefix} + 160)) ]
	[[ "$stderr" == "bds-x: heartbeat: q 0s | Analyzing: 2 targets xxx"* ]]
	# no progress line, or no file: the bare heartbeat
	printf 'nothing here\n' > "$f"
	run -124 --separate-stderr timeout 0.4 bds-heartbeat --interval 0.3 --progress "$f" bds-x q
	[ "$stderr" = "bds-x: heartbeat: q 0s" ]
	run -124 --separate-stderr timeout 0.4 bds-heartbeat --interval 0.3 --progress "$BATS_TEST_TMPDIR/none" bds-x q
	[ "$stderr" = "bds-x: heartbeat: q 0s" ]
}

@test "bds-heartbeat: gone within a second of its parent's SIGKILL" {
	sh -c 'bds-heartbeat --interval 0.2 bds-x q 2>/dev/null & echo $! > "$0"; exec sleep 30' "$BATS_TEST_TMPDIR/hb" \
		>/dev/null 2>&1 3>&- &
	parent=$!
	wait_for test -s "$BATS_TEST_TMPDIR/hb"
	hb=$(cat "$BATS_TEST_TMPDIR/hb")
	[ "$(live_heartbeats)" = "$hb" ]
	kill -KILL "$parent"
	sleep 1
	[ "$(live_heartbeats)" = "" ]
}

@test "--timings: a warm consume: exact keys, its phases, the counts of the real output" {
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE" -o "$BATS_TEST_TMPDIR/out" \
		--timings "$BATS_TEST_TMPDIR/t.json"
	[ "$output" = "" ]
	timings_keys "$BATS_TEST_TMPDIR/t.json"
	run -0 jq -c '[.program, [.phases[].name], .cold_reason, .exit_status]' "$BATS_TEST_TMPDIR/t.json"
	[ "$output" = '["bds-consume",["fingerprint","lookup","restore","checkout","query","hash","diff"],null,0]' ]
	hashes_of "$BASE" "$BATS_TEST_TMPDIR/base.json"
	hashes_of "$TARGET" "$BATS_TEST_TMPDIR/target.json"
	n=$(wc -l < "$BATS_TEST_TMPDIR/out")
	[ "$n" -gt 2 ]
	run -0 jq -c '.counts' "$BATS_TEST_TMPDIR/t.json"
	[ "$output" = "{\"base_targets\":$(jq length "$BATS_TEST_TMPDIR/base.json"),\"target_targets\":$(jq length "$BATS_TEST_TMPDIR/target.json"),\"impacted\":$n}" ]
	# the answer itself is unchanged by --timings: on standard output too
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE" --timings "$BATS_TEST_TMPDIR/t2.json"
	[ "$output" = "$(cat "$BATS_TEST_TMPDIR/out")" ]
	run -0 jq .counts.impacted "$BATS_TEST_TMPDIR/t2.json"
	[ "$output" = "$n" ]
}

@test "--timings: a cold consume has its reason; with --cold the cold path's counts" {
	mkdir "$BATS_TEST_TMPDIR/empty"
	run -2 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$BATS_TEST_TMPDIR/empty" \
		--timings "$BATS_TEST_TMPDIR/t.json"
	timings_keys "$BATS_TEST_TMPDIR/t.json"
	reason=$(sed -n 's/^bds-consume: cold: //p' <<<"$stderr")
	[ -n "$reason" ]
	run -0 jq -c --arg r "$reason" '[[.phases[].name], .cold_reason == $r, .exit_status, .counts]' "$BATS_TEST_TMPDIR/t.json"
	[ "$output" = '[["fingerprint","lookup"],true,2,{"base_targets":null,"target_targets":null,"impacted":null}]' ]

	# a cache of its own: the shared one holds the base's entry, which would make it half-cold
	run -0 --separate-stderr env BDS_CACHE="$BATS_TEST_TMPDIR/cache" bds-consume -w "$WS" --target "$TARGET" \
		--base "$BASE" --store "$BATS_TEST_TMPDIR/empty" --cold --quiet --timings "$BATS_TEST_TMPDIR/t.json"
	answer=$output
	timings_keys "$BATS_TEST_TMPDIR/t.json"
	run -0 jq -c --arg r "$reason" '[[.phases[].name], .cold_reason == $r, .exit_status]' "$BATS_TEST_TMPDIR/t.json"
	[ "$output" = '[["fingerprint","lookup","cold path"],true,0]' ]
	hashes_of "$BASE" "$BATS_TEST_TMPDIR/base.json"
	hashes_of "$TARGET" "$BATS_TEST_TMPDIR/target.json"
	run -0 jq -c '.counts' "$BATS_TEST_TMPDIR/t.json"
	[ "$output" = "{\"base_targets\":$(jq length "$BATS_TEST_TMPDIR/base.json"),\"target_targets\":$(jq length "$BATS_TEST_TMPDIR/target.json"),\"impacted\":$(printf '%s\n' "$answer" | wc -l)}" ]
}

@test "--timings: bds-cold and bds-canary; a failed bds-cold still writes it" {
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$TARGET" --quiet --timings "$BATS_TEST_TMPDIR/c.json"
	answer=$output
	# --quiet drops no timing line
	[ "$(printf '%s\n' "$stderr" | sed 's/ [0-9.]*s$//' | tr '\n' ,)" = "bds-cold: worktree,bds-cold: hash base,bds-cold: checkout target,bds-cold: hash target,bds-cold: shutdown,bds-cold: diff," ]
	timings_keys "$BATS_TEST_TMPDIR/c.json"
	hashes_of "$BASE" "$BATS_TEST_TMPDIR/base.json"
	hashes_of "$TARGET" "$BATS_TEST_TMPDIR/target.json"
	counts="{\"base_targets\":$(jq length "$BATS_TEST_TMPDIR/base.json"),\"target_targets\":$(jq length "$BATS_TEST_TMPDIR/target.json"),\"impacted\":$(printf '%s\n' "$answer" | wc -l)}"
	run -0 jq -c '[.program, [.phases[].name], .cold_reason, .exit_status, .counts]' "$BATS_TEST_TMPDIR/c.json"
	[ "$output" = "[\"bds-cold\",[\"worktree\",\"hash base\",\"checkout target\",\"hash target\",\"shutdown\",\"diff\"],null,0,$counts]" ]

	run -0 --separate-stderr bds-canary -w "$WS" --base "$BASE" --target "$TARGET" --store "$STORE" --quiet --timings "$BATS_TEST_TMPDIR/k.json"
	[ "$output" = "canary: identical ($(printf '%s\n' "$answer" | wc -l) labels)" ]
	[[ "$stderr" != *heartbeat* ]]
	timings_keys "$BATS_TEST_TMPDIR/k.json"
	run -0 jq -c '[.program, [.phases[].name], .cold_reason, .exit_status, .counts]' "$BATS_TEST_TMPDIR/k.json"
	[ "$output" = "[\"bds-canary\",[\"warm\",\"cold\",\"compare\"],null,0,$counts]" ]

	# a target whose BUILD file does not parse: hashing fails, exit 1, the timings say so
	bad=$( (cd "$WS" && git checkout -q --detach "$BASE" && printf 'filegroup(\n' > app/BUILD && git commit -qam bad && git rev-parse HEAD) )
	git -C "$WS" checkout -q --detach "$TARGET"
	run -1 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$bad" --quiet --timings "$BATS_TEST_TMPDIR/f.json"
	timings_keys "$BATS_TEST_TMPDIR/f.json"
	run -0 jq -c '[[.phases[].name], .cold_reason, .exit_status, .counts.impacted]' "$BATS_TEST_TMPDIR/f.json"
	[ "$output" = '[["worktree","hash base","checkout target"],null,1,null]' ]
}

@test "--timings: a file that cannot be written is exit 1 after the answer; a missing value is 64" {
	run -1 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE" --timings "$BATS_TEST_TMPDIR/no/dir/t.json"
	[ -n "$output" ]
	[ "${stderr_lines[${#stderr_lines[@]}-1]}" = "bds-consume: --timings '$BATS_TEST_TMPDIR/no/dir/t.json': not written" ]
	for s in bds-record bds-consume bds-cold bds-canary; do
		run -64 --separate-stderr "$s" --timings
	done
}

@test "a 32 s record, stderr a pipe: a heartbeat at least every 10 s with Bazel's progress; --timings; none left" {
	b=$( (cd "$WS" && git checkout -q --detach "$BASE" && printf 'b60\n' > lib/b.txt && git commit -qam b60 && git rev-parse HEAD) )
	start=$(date +%s.%N)
	PATH="$BATS_FILE_TMPDIR/slow:$PATH" SLOW_QUERY=32 \
		bds-record -w "$WS" --base "$b" --store "$STORE" --timings "$BATS_TEST_TMPDIR/t.json" 2>&1 >/dev/null |
		stamp > "$BATS_TEST_TMPDIR/err"
	end=$(date +%s.%N)
	# the pipe ended with the record: nothing held it open
	[ "$(live_heartbeats)" = "" ]
	cat "$BATS_TEST_TMPDIR/err"
	check_gaps "$BATS_TEST_TMPDIR/err" "$start" "$end"
	cut -d' ' -f2- "$BATS_TEST_TMPDIR/err" > "$BATS_TEST_TMPDIR/lines"
	beats=$(grep -c ': heartbeat: ' "$BATS_TEST_TMPDIR/lines")
	[ "$beats" -ge 3 ]
	# every heartbeat line in the exact format; Bazel's progress reached the outermost script
	[ "$(grep -c -E '^bds-record: heartbeat: query\+hash [0-9]+s( \| Loading: 0 packages loaded)?$' "$BATS_TEST_TMPDIR/lines")" -eq "$beats" ]
	grep -q -x -E 'bds-record: heartbeat: query\+hash [0-9]+s \| Loading: 0 packages loaded' "$BATS_TEST_TMPDIR/lines"
	# bds-generate-hashes' own heartbeats are read, never shown
	run -1 grep '^bds-generate-hashes' "$BATS_TEST_TMPDIR/lines"
	[[ "$(tail -n 1 "$BATS_TEST_TMPDIR/lines")" =~ ^"bds-record: recorded "[0-9a-f]{32}/"$b in $STORE"$ ]]
	timings_keys "$BATS_TEST_TMPDIR/t.json"
	run -0 jq -c '[.program, [.phases[].name], .cold_reason, .exit_status, .counts.target_targets, .counts.impacted]' "$BATS_TEST_TMPDIR/t.json"
	[ "$output" = '["bds-record",["fingerprint","boot","checkout","query+hash","snapshot","publish"],null,0,null,null]' ]
	run -0 jq '.phases[3].seconds >= 32' "$BATS_TEST_TMPDIR/t.json"
	[ "$output" = true ]
	run -0 jq -n --slurpfile t "$BATS_TEST_TMPDIR/t.json" --slurpfile h "$(echo "$STORE"/*/"$b"/base_hashes.json)" \
		'$t[0].counts.base_targets == ($h[0] | length) and ($h[0] | length) > 5'
	[ "$output" = true ]
}

@test "--quiet: no heartbeat in a 13 s record (the first is due at 10 s), every other line kept" {
	b=$( (cd "$WS" && git checkout -q --detach "$BASE" && printf 'bq\n' > lib/b.txt && git commit -qam bq && git rev-parse HEAD) )
	PATH="$BATS_FILE_TMPDIR/slow:$PATH" SLOW_QUERY=13 \
		bds-record -w "$WS" --base "$b" --store "$STORE" --quiet 2>&1 >/dev/null | cat > "$BATS_TEST_TMPDIR/err"
	cat "$BATS_TEST_TMPDIR/err"
	run -0 sed -e 's/ [0-9.]*s$//' -e 's/recorded [0-9a-f]*\//recorded FP\//' "$BATS_TEST_TMPDIR/err"
	[ "$output" = "bds-record: fingerprint
bds-record: boot
bds-record: checkout
bds-record: query+hash
bds-record: snapshot
bds-record: publish
bds-record: recorded FP/$b in $STORE" ]
	# and errors still print: a bad revision under --quiet
	run -1 --separate-stderr bds-record -w "$WS" --base nosuchrev --store "$STORE" --quiet
	[ "$stderr" = "bds-record: revision 'nosuchrev': not a commit" ]
}

@test "SIGTERM during a long phase: the EXIT trap ends the heartbeat before the script, timings written" {
	b=$( (cd "$WS" && git checkout -q --detach "$BASE" && printf 'bt\n' > lib/b.txt && git commit -qam bt && git rev-parse HEAD) )
	PATH="$BATS_FILE_TMPDIR/slow:$PATH" SLOW_QUERY=60 \
		bds-record -w "$WS" --base "$b" --store "$STORE" --timings "$BATS_TEST_TMPDIR/t.json" >/dev/null 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	rec=$!
	wait_for grep -q 'heartbeat: query+hash' "$BATS_TEST_TMPDIR/err"
	hb=$(child_of "$rec" bds-heartbeat)
	gx=$(child_of "$rec" bds-guest-exec)
	# what a CI runner's cancel does to the script and the stage it waits for (not to
	# the heartbeat: the script's own EXIT trap must end it)
	kill -TERM "$rec" "$gx"
	rc=0
	wait "$rec" || rc=$?
	[ "$rc" -eq 1 ]
	# gone before the script's exit, not a quarter second later on its own
	[ ! -e "/proc/$hb" ] || [ "$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$hb/stat")" = Z ]
	run -0 jq -c '[.exit_status, [.phases[].name], .cold_reason]' "$BATS_TEST_TMPDIR/t.json"
	# the phases that ended (query+hash was cut short)
	[ "$output" = '[1,["fingerprint","boot","checkout"],null]' ]
	sleep 1
	[ "$(live_heartbeats)" = "" ]
}

@test "SIGKILL during a long phase: the script's heartbeat ends by itself within a second" {
	b=$( (cd "$WS" && git checkout -q --detach "$BASE" && printf 'bk\n' > lib/b.txt && git commit -qam bk && git rev-parse HEAD) )
	PATH="$BATS_FILE_TMPDIR/slow:$PATH" SLOW_QUERY=60 \
		bds-record -w "$WS" --base "$b" --store "$STORE" >/dev/null 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	rec=$!
	wait_for grep -q 'heartbeat: query+hash' "$BATS_TEST_TMPDIR/err"
	hb=$(child_of "$rec" bds-heartbeat)
	gx=$(child_of "$rec" bds-guest-exec)
	kill -KILL "$rec"
	sleep 1
	# nobody else stops it: the script is gone, its stage (and the stage's own heartbeat)
	# may still run
	[ -n "$hb" ]
	run -0 live_heartbeats
	[[ " $(echo $output) " != *" $hb "* ]]
	# the stage, stopped as a runner would if still there; then nothing is left
	kill -TERM "$gx" 2>/dev/null || true
	wait_for sh -c '[ -z "$(ls -d /proc/'"$gx"' 2>/dev/null)" ] || grep -q "^State:.*Z" /proc/'"$gx"'/status'
	sleep 1
	[ "$(live_heartbeats)" = "" ]
}

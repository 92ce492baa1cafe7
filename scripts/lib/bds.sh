# scripts/lib/bds.sh: what the bds shell scripts share, sourced (never run): version,
# usage and failure messages, quoting for `eval`, finding sibling programs, the owned
# temporary directory, option values, git's reasons, phase timings, envelope fields,
# heartbeats, --timings, and stopping a warm machine's keeper.
# Installed as PREFIX/share/bds/lib/bds.sh; each script finds it there (beside its bin),
# else in its source tree (scripts/lib), and refuses to start without it (exit 1).
# The sourcing script owns the state these functions read and set: prog, here,
# deliberate, tmp, quiet, timings, deps, hb_pid, heartbeat_bin, output_bin and tm_*.
# It also keeps its own EXIT trap, which decides the exit status: these functions only
# `exit` as the script itself would (fail: 1, usage: 64 through `deliberate`).
# shellcheck shell=sh
# shellcheck disable=SC2154 # prog, here, tmp, ... are set by the sourcing script
# shellcheck disable=SC2034 # hb_pid, bindir, TMPDIR, ... are read by the sourcing script

# fail MESSAGE: one line on stderr, exit 1.
fail() { echo "$prog: $*" >&2; exit 1; }

# usage [WHY]: WHY and the usage (the script's usage_text) on stderr, exit 64.
usage() {
	[ -z "${1:-}" ] || echo "$prog: $1" >&2
	usage_text >&2
	deliberate=64
	exit 64
}

# version: the build's one version, as every C program prints it: asked of bds-tmpdir
# beside this script (installed) or in the build tree.
version() {
	d=$(dirname "$0")
	v=$("$d/bds-tmpdir" --version 2>/dev/null || "$d/../build/bin/bds-tmpdir" --version 2>/dev/null) ||
		{ echo "$prog: cannot ask bds-tmpdir (beside '$d' or in its build tree) for the version" >&2; exit 1; }
	echo "$prog ${v#bds-tmpdir }"
}

# quote ARG: ARG quoted for a later `eval`, so option values may hold any character.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# words OPTION STRING: OPTION and one word of STRING, quoted for `eval`, for each word of
# STRING split on spaces, as bazel-diff splits -so and -co (never globbed: the script's
# set -f). One word each, they mean the same to bds-fingerprint, bds-generate-hashes and
# bds-cold.
words() {
	# shellcheck disable=SC2086 # split on spaces on purpose
	for w in $2; do printf ' %s %s' "$1" "$(quote "$w")"; done
}

# bazel_version_of: "MAJOR MINOR PATCH" from `bazel version`'s output on stdin, read as
# bazel-diff v37 reads it (docs/algorithm.md 1.4): the first "Build label: " line, else the
# first "bazel " line; a pre-release suffix after '-' dropped; each part its leading digits.
# Nothing where bazel-diff finds no version (Debian's Bazel 4.2.3 reports none): then no
# version-gated behaviour applies.
bazel_version_of() {
	awk '
		/^Build label: / && !hb { hb = 1; b = substr($0, 14) }
		/^bazel / && !hl { hl = 1; l = substr($0, 7) }
		END {
			v = hb ? b : l
			gsub(/^[ \t]+|[ \t]+$/, "", v)
			sub(/-.*/, "", v)
			n = split(v, p, ".")
			if (n < 3) exit
			for (i = 1; i <= n; i++) {
				if (!match(p[i], /^[0-9]+/)) exit
				p[i] = substr(p[i], 1, RLENGTH) + 0
			}
			printf "%d %d %d\n", p[1], p[2], p[3]
		}'
}

# version_at_least "MAJOR MINOR PATCH" MAJOR MINOR PATCH: is the version (from
# bazel_version_of; empty: unknown, never) at least the other?
version_at_least() {
	[ -n "$1" ] || return 1
	# shellcheck disable=SC2086 # three numbers
	set -- $1 "$2" "$3" "$4"
	[ "$1" -gt "$4" ] || { [ "$1" -eq "$4" ] && { [ "$2" -gt "$5" ] || { [ "$2" -eq "$5" ] && [ "$3" -ge "$6" ]; }; }; }
}

# module_rdeps WHO DIFF FROM TO WS BAZEL: bazel-diff's module path (docs/algorithm.md 4.5)
# for bds-diff's answer from hashes FROM to TO. When the module graphs differ in a module
# whose own repository TO names, the answer holds Bazel's rdeps of that repository: the
# query runs in WS as bazel-diff's get-impacted-targets runs it (BAZEL: the Bazel command
# and its startup options, words quoted for `eval`; no command options, no --keep_going;
# --output_file from Bazel 8.2), its output kept in $tmp/rdeps.pb (make_tmp makes $tmp if
# there is none yet). Sets module_arg to bds-diff's option for it: nothing (no query
# needed), --module-rdeps FILE, or --module-rdeps-failed (the query failed: bazel-diff's
# fallback, with a warning from WHO). FROM and TO are read twice, so they must be files.
# Returns 1 on a failure it has reported.
module_rdeps() {
	module_arg=""
	# (the files are read twice only when both may carry a graph)
	grep -q moduleGraphJson "$3" && grep -q moduleGraphJson "$4" || return 0
	mr_query=$("$2" --module-query "$3" "$4") || return 1
	[ -n "$mr_query" ] || return 0
	[ -n "$tmp" ] || make_tmp "$prog"
	printf '%s' "$mr_query" > "$tmp/rdeps.txt" || { echo "$1: cannot write '$tmp/rdeps.txt'" >&2; return 1; }
	mr_version=$(eval "(cd $(quote "$5") && $6 version)" </dev/null 2>/dev/null | bazel_version_of) || mr_version=""
	mr_of=""
	! version_at_least "$mr_version" 8 2 0 || mr_of="--output_file $(quote "$tmp/rdeps.pb")"
	mr_rc=0
	eval "(cd $(quote "$5") && $6 query --output streamed_proto \
		--proto:instantiation_stack --order_output=no --query_file $(quote "$tmp/rdeps.txt") $mr_of)" \
		</dev/null >"$tmp/rdeps.out" 2>"$tmp/rdeps.err" || mr_rc=$?
	if [ "$mr_rc" -eq 0 ]; then
		[ -n "$mr_of" ] || mv "$tmp/rdeps.out" "$tmp/rdeps.pb" || { echo "$1: cannot write '$tmp/rdeps.pb'" >&2; return 1; }
		module_arg="--module-rdeps $(quote "$tmp/rdeps.pb")"
	else
		echo "$1: warning: the module graphs differ and '$mr_query' failed (exit $mr_rc): every buildable target of '$4' is impacted, as bazel-diff answers" >&2
		sed 's/^/  /' "$tmp/rdeps.err" >&2 || :
		module_arg=--module-rdeps-failed
	fi
}

# find_bin NAME: a sibling program: beside this script (installed), else the build tree
# (development), else NAME itself, for PATH to find.
find_bin() {
	if [ -x "$here/$1" ]; then echo "$here/$1"
	elif [ -x "$here/../build/bin/$1" ]; then echo "$here/../build/bin/$1"
	else echo "$1"; fi
}

# stages_on_path: the sibling programs first on PATH, for the stages run by name: beside
# this script (installed), else the build tree (development); sets bindir.
stages_on_path() {
	if [ -x "$here/bds-hash" ]; then bindir=$here; else bindir=$(cd "$here/../build/bin" 2>/dev/null && pwd) || bindir=$here; fi
	PATH="$bindir:$here:$PATH"
	export PATH
}

# make_tmp NAME: tmp, the script's temporary directory, owned (bds-tmpdir): removed by a
# keeper if this script is killed, swept by the next run if the keeper is killed too.
# bds-tmpdir takes an absolute TMPDIR only, and paths in it go into envelopes, which hold
# absolute paths only: a relative TMPDIR is made absolute (exported) first.
make_tmp() {
	case ${TMPDIR:-/tmp} in
	/*) ;;
	*) abs=$(cd "$TMPDIR" 2>/dev/null && pwd) || fail "TMPDIR '$TMPDIR': not a directory"
	   TMPDIR=$abs; export TMPDIR ;;
	esac
	[ "$$" -ne 1 ] || fail "this script runs as process 1 (a container without an init), which cannot own what it leaves to its keepers: run it under an init (e.g. docker run --init)"
	tmp=$("$(find_bin bds-tmpdir)" --owner $$ "$1") || fail "cannot create a temporary directory in '${TMPDIR:-/tmp}'"
}

# seconds VALUE: VALUE is a number of seconds from 0 to 86400 (digits, a fraction).
seconds() {
	case $1 in ''|.*|*.|*[!0-9.]*|*.*.*) return 1 ;; esac
	whole=${1%%.*}
	[ "${#whole}" -le 5 ] || return 1
	[ "$whole" -lt 86400 ] && return 0
	[ "$whole" -eq 86400 ] && case ${1#"$whole"} in *[1-9]*) return 1 ;; esac
}

now() { date +%s.%N; }
# timing NAME START: the phase's timing line on stderr, and the phase kept for --timings.
timing() {
	secs=$(awk -v s="$2" -v e="$(now)" 'BEGIN { printf "%.3f", e - s }') || secs=0
	printf '%s: %s %.2fs\n' "$prog" "$1" "$secs" >&2 || :
	tm_add "$1" "$secs"
}
# field FILE FILTER: one value from an envelope (jq -r); a jq failure is this script's.
field() {
	jq -r "$2" "$1" 2>"$tmp/jq.err" || { cat "$tmp/jq.err" >&2; fail "reading '$2' from the envelope of the last phase failed"; }
}

# git_reason DEFAULT: git's own reason for its last failure (its first "fatal:" line in
# $tmp/git.err, such as "detected dubious ownership in repository at ..."), else DEFAULT,
# which also stands for git's "not a git repository".
git_reason() {
	why=$(sed -n '/^fatal: not a git repository/q; /^fatal: /{s///p;q;}' "$tmp/git.err" 2>/dev/null) || why=""
	printf '%s\n' "${why:-$1}"
}

# stop_vm PID: the keeper (any driver) releases the warm machine's lock, and a VM
# driver's also kills its VM and removes its files, on SIGTERM; wait for it (10 s at
# most), so nothing of the machine outlives this script. A keeper that has exited but
# is not reaped (a zombie under an init that never reaps) is gone.
# A local keeper is gone within milliseconds: the first polls come every 5 ms (a consume
# waits for it before its diff), later ones every 50 ms.
stop_vm() {
	kill -TERM "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null && [ "$i" -lt 220 ]; do
		# the state letter follows the last ") " of /proc/PID/stat (read by the shell:
		# no process per poll)
		st=""
		{ read -r st < "/proc/$1/stat"; } 2>/dev/null || st=""
		st=${st##*) }
		case ${st%% *} in Z|X|'') break ;; esac
		if [ "$i" -lt 20 ]; then sleep 0.005; else sleep 0.05; fi
		i=$((i + 1))
	done
}

# Progress and timings. hb_start PHASE [FILE]: a heartbeat line on stderr every 8 s while
# PHASE runs (bds-heartbeat), with Bazel's newest progress line from FILE (the stage's
# stderr), so that a CI no-output watchdog sees a live job; none with --quiet. It ends
# with the phase (hb_stop), with this script (the EXIT trap, SIGTERM included), or by
# itself within a quarter second once this script is gone (SIGKILL): it never holds this
# script's stderr open after it. None either without a heartbeat_bin (a guest image built
# before bds-heartbeat existed has none).
hb_start() {
	[ "$quiet" -eq 0 ] && [ -n "$heartbeat_bin" ] || return 0
	if [ -n "${2:-}" ]; then
		"$heartbeat_bin" --progress "$2" "$prog" "$1" </dev/null >/dev/null &
	else
		"$heartbeat_bin" "$prog" "$1" </dev/null >/dev/null &
	fi
	hb_pid=$!
}
# hb_stop: the phase's heartbeat is gone when this returns; never changes a status.
# SIGKILL, not SIGTERM: a SIGTERM that comes before the forked shell has executed
# bds-heartbeat is caught by this script's own trap there and lost at the exec, and the
# wait would never end.
hb_stop() {
	[ -n "$hb_pid" ] || return 0
	kill -KILL "$hb_pid" 2>/dev/null || :
	wait "$hb_pid" 2>/dev/null || :
	hb_pid=""
}
# tm_add NAME SECONDS: one finished phase, in order, for --timings.
tm_add() {
	tm_phases="$tm_phases${tm_phases:+,}{\"name\":\"$1\",\"seconds\":$2}"
}
# tm_targets FILE: how many targets a hashes file holds (for --timings only: it reads
# the whole file), or null.
tm_targets() {
	if [ -n "$timings" ] && [ -s "$1" ]; then jq length "$1" 2>/dev/null || echo null; else echo null; fi
}
# tm_count ANSWER: how many labels the answer holds: one a line, or the distance JSON's
# objects (--dep-edges, when the script's deps is 1).
tm_count() {
	if [ "$deps" -eq 1 ]; then jq length "$1"; else wc -l < "$1" | tr -d ' '; fi
}
# tm_write STATUS: with --timings FILE, one JSON object (its keys: bds(7), "Progress and
# timings") to FILE through bds-output: atomically, never half-written. 0, or 1 with a
# message. Run by the EXIT trap (the script's tm_finish), so a cold or failed run writes
# it too.
tm_write() {
	[ -n "$timings" ] || return 0
	if obj=$(jq -cn --arg program "$prog" --argjson phases "[$tm_phases]" --arg reason "$tm_reason" \
		--argjson base "$tm_base" --argjson target "$tm_target" --argjson impacted "$tm_impacted" \
		--argjson status "$1" \
		'{program: $program, phases: $phases, cold_reason: (if $reason == "" then null else $reason end),
		  counts: {base_targets: $base, target_targets: $target, impacted: $impacted}, exit_status: $status}') &&
		printf '%s\n' "$obj" | "$output_bin" "$timings"; then
		return 0
	fi
	echo "$prog: --timings '$timings': not written" >&2
	return 1
}

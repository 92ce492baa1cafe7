# Helpers for the local driver's retention tests (pipeline-warm.bats, pipeline-month.bats):
# a tiny linear history of bases, and the Bazel servers that really run.

# warm_setup: BDS_CACHE, the store, a tiny workspace $WS with one commit on its branch
# (its sha in $TIP), and a Bazel wrapper first on PATH whose servers outlive the file's
# pauses (tests/bin/bazel's 120 s idle limit would end a kept server between records,
# and a server that ends on its own is what the tests must tell from a retired one).
warm_setup() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export STORE="$BATS_FILE_TMPDIR/store"
	export WS="$BATS_FILE_TMPDIR/ws"
	# bds-cold's own output bases too are the file's, for the last check
	export TMPDIR="$BATS_FILE_TMPDIR/tmp"
	mkdir -p "$TMPDIR"
	mkdir -p "$BATS_FILE_TMPDIR/bin"
	printf '#!/bin/sh\nexec "%s/tests/bin/bazel" --max_idle_secs=1800 "$@"\n' "$BDS_TOP" > "$BATS_FILE_TMPDIR/bin/bazel"
	chmod +x "$BATS_FILE_TMPDIR/bin/bazel"
	export PATH="$BATS_FILE_TMPDIR/bin:$PATH"
	new_workspace "$WS"
	mkdir -p "$WS/lib" "$WS/app"
	printf 'a0\n' > "$WS/lib/a.txt"
	printf 'b\n' > "$WS/lib/b.txt"
	printf 'filegroup(name = "a", srcs = ["a.txt"], visibility = ["//visibility:public"])\nfilegroup(name = "b", srcs = ["b.txt"])\n' > "$WS/lib/BUILD"
	printf 'filegroup(name = "app", srcs = ["//lib:a"])\n' > "$WS/app/BUILD"
	TIP=$(commit_all "$WS" base0)
	export TIP
}

# warm_path: the wrapper first on PATH again (helpers.bash, loaded anew for every test,
# puts tests/bin first: another Bazel command is another fingerprint). Every test's setup.
warm_path() {
	PATH="$BATS_FILE_TMPDIR/bin:$PATH"
}

# next_base N: a new commit on top of $TIP (a merge of the day N); prints its sha. Call it
# as TIP=$(next_base N) and check its status.
next_base() {
	(
		cd "$WS" &&
		git checkout -q --detach "$TIP" &&
		printf 'a%s\n' "$1" > lib/a.txt &&
		git commit -q -am "base $1" &&
		git rev-parse HEAD
	)
}

# pr_of BASE: a pull request on BASE (a new file in lib, a changed BUILD); prints its sha.
pr_of() {
	(
		cd "$WS" &&
		git checkout -q --detach "$1" &&
		printf 'c\n' > lib/c.txt &&
		printf 'filegroup(name = "c", srcs = ["c.txt"])\n' >> lib/BUILD &&
		git add -A &&
		git commit -q -m "pr on $1" &&
		git rev-parse HEAD
	)
}

# server_processes [DIR]: "PID OUTPUT_BASE" for every live process whose command line
# names an output base under DIR (default: the warm states'; a Bazel server, its clients
# are short-lived), read from the processes' command lines, not from bds's own files.
server_processes() {
	local f pid dir=${1:-$BDS_CACHE/local}
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		{ tr '\0' '\n' < "$f"; } 2>/dev/null | sed -n "s|^--output_base=\\($dir/.*\\)|$pid \\1|p"
	done
}

# live_servers: the output bases served by a live Bazel server, one a line, sorted.
live_servers() {
	server_processes | sed 's/^[0-9]* //' | sort -u
}

# states: the warm state directories, as FINGERPRINT/BASE, one a line, sorted.
states() {
	(cd "$BDS_CACHE/local" 2>/dev/null && for d in */*/; do [ -d "$d" ] && echo "${d%/}"; done) | sort
}

# shutdown_all: shuts every warm server of the file down (teardown).
shutdown_all() {
	local ob pid
	for ob in "$BDS_CACHE"/local/*/*/output_base; do
		[ -d "$ob" ] && (cd / && bazel --output_base="$ob" shutdown >/dev/null 2>&1) || true
	done
	# what did not stop (by pid: only the processes of this file's output bases)
	for pid in $(server_processes | sed 's/ .*//'); do
		kill -KILL "$pid" 2>/dev/null || true
	done
}

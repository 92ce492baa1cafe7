# Killed pipelines and the warm machine they leave behind, local driver, real Bazel and git.
# The warm server a record starts holds none of the record's caller's descriptors.

load helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export WS="$BATS_FILE_TMPDIR/ws"
	new_workspace "$WS"
	mkdir -p "$WS/lib"
	printf 'a\n' > "$WS/lib/a.txt"
	printf 'genrule(name = "gen", srcs = ["a.txt"], outs = ["gen.out"], cmd = "cp $< $@")\n' > "$WS/lib/BUILD"
	BASE=$(commit_all "$WS" base)
	export BASE
}

teardown() {
	local ob
	for ob in "$BATS_TEST_TMPDIR"/cache/local/*/*/output_base; do
		[ -d "$ob" ] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
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

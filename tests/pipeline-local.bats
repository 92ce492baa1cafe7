# Record and consume end to end with the local driver, on a real Bazel workspace and real
# git: every warm answer must be byte-identical to the cold path's (bds-cold).

load helpers
load store-helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export WS="$BATS_FILE_TMPDIR/ws"
	export STORE="$BATS_FILE_TMPDIR/store"
	new_workspace "$WS"
	mkdir -p "$WS/lib" "$WS/app" "$WS/tools" "$WS/old"
	cat > "$WS/tools/defs.bzl" <<-'EOF2'
		def twice(name, src):
		    native.genrule(name = name, srcs = [src], outs = [name + ".out"], cmd = "cat $< $< > $@")
	EOF2
	printf '' > "$WS/tools/BUILD"
	printf 'a\n' > "$WS/lib/a.txt"
	printf 'b\n' > "$WS/lib/b.txt"
	cat > "$WS/lib/BUILD" <<-'EOF2'
		load("//tools:defs.bzl", "twice")
		filegroup(name = "fg", srcs = ["a.txt", "b.txt"], visibility = ["//visibility:public"])
		genrule(name = "gen", srcs = [":fg"], outs = ["gen.out"], cmd = "cat $(SRCS) > $@",
		        visibility = ["//visibility:public"])
		twice(name = "tw", src = "a.txt")
	EOF2
	cat > "$WS/app/BUILD" <<-'EOF2'
		genrule(name = "app", srcs = ["//lib:gen"], outs = ["app.out"], cmd = "cp $< $@")
	EOF2
	printf 'o\n' > "$WS/old/o.txt"
	printf 'filegroup(name = "old", srcs = ["o.txt"])\nfilegroup(name = "gone", srcs = ["o.txt"])\n' > "$WS/old/BUILD"
	BASE=$(commit_all "$WS" base)
	export BASE
	bds-record -w "$WS" --base "$BASE" --store "$STORE" --include-target-type 2>"$BATS_FILE_TMPDIR/record.err"
}

teardown_file() {
	stop_warm_servers
	stop_store_servers
}

# same_as_cold BASE TARGET [consume options]: consume's answer is byte-identical to
# bds-cold's and not empty; the cold answer is left in $output and $lines, the consume's
# stderr in $warm_stderr. Call it
# directly, never under `run`: `run` turns errexit off inside the function it runs, so
# its checks could never fail the test.
same_as_cold() {
	local base=$1 target=$2
	shift 2
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type "$@"
	local warm=$output
	warm_stderr=$stderr
	run -0 --separate-stderr bds-cold -w "$WS" --base "$base" --target "$target" --include-target-type
	same_answer "$warm" "$output"
}

@test "record: the entry holds base_hashes.json and the local driver state" {
	entry=$(echo "$STORE"/*/"$BASE")
	[ -f "$entry/metadata.json" ]
	[ -f "$entry/base_hashes.json" ]
	run -0 jq -r '.driver + " " + .base + " " + (.driver_state.server_pid | type)' "$entry/metadata.json"
	[ "$output" = "local $BASE number" ]
	run -0 grep -c '^bds-record: ' "$BATS_FILE_TMPDIR/record.err"
	[ "$output" -ge 7 ]
}

@test "consume: a source edit gives exactly the cold answer" {
	t=$(change source <<<'printf "a2\n" > lib/a.txt')
	same_as_cold "$BASE" "$t"
	[ "${lines[0]}" = "//lib:a.txt" ]
	[[ "$output" == *"//app:app"* ]]
	# the target's hashes were a delta of the base's (docs/algorithm.md 6.4)
	[[ "$warm_stderr" == *$'\nbds-consume: hashes: the 8 of 48 targets whose lines can differ from the base\'s\n'* ]]
}

@test "consume: BUILD, .bzl, new package and deleted target edits equal the cold answers" {
	t=$(change build <<<'sed -i "s/cat \$(SRCS)/cat \$(SRCS) \$(SRCS)/" lib/BUILD')
	same_as_cold "$BASE" "$t"
	[[ "$output" == *"//lib:gen"* ]]
	t=$(change bzl <<<'sed -i "s/cat \$< \$</cat \$</" tools/defs.bzl')
	same_as_cold "$BASE" "$t"
	[ "$output" = $'//lib:tw.out\n//lib:tw' ]
	t=$(change newpkg <<<'mkdir -p new && printf "filegroup(name = \"n\", srcs = [\"//lib:a.txt\"])\n" > new/BUILD')
	same_as_cold "$BASE" "$t"
	[ "$output" = $'//new:BUILD\n//new:n' ]
	t=$(change delete <<<'printf "filegroup(name = \"old\", srcs = [\"o.txt\"])\n" > old/BUILD')
	same_as_cold "$BASE" "$t"
	[ "$output" = "//old:BUILD" ]
}

# exactly_at T: the warm worktree holds exactly T's tree: HEAD is T, and git sees no
# changed, missing or untracked file, ignored ones included (Bazel's bazel-* links aside),
# nor a changed exec bit or file type (core.fileMode is on).
exactly_at() {
	local wt
	wt=$(echo "$BDS_CACHE"/local/*/"$BASE"/worktree)
	[ "$(git -C "$wt" rev-parse HEAD)" = "$1" ]
	[ "$(git -C "$wt" config --bool core.fileMode)" = true ]
	[ "$(git -C "$wt" status --porcelain --ignored --untracked-files=all | grep -v ' bazel-' || true)" = "" ]
	[ "$(git -C "$wt" ls-files -s | sort)" = "$(git -C "$WS" ls-tree -r "$1" | awk '{ print $1, $3, 0 "\t" $4 }' FS='[ \t]' | sort)" ]
}

@test "consume: the warm worktree holds exactly each target's tree (files deleted, added, made executable, made symlinks, a directory renamed); each answer is cold's" {
	local t wt
	wt=$(echo "$BDS_CACHE"/local/*/"$BASE"/worktree)
	# each target is consumed after the other, so the worktree goes from one to the next
	# (each with a source edit too where the change alone may impact nothing: an empty
	# answer compares nothing)
	t=$(change rm-dir <<<'git rm -rq old && printf "a3\n" > lib/a.txt')
	same_as_cold "$BASE" "$t"
	exactly_at "$t"
	[ ! -e "$wt/old" ]
	t=$(change add <<<'printf "c\n" > lib/c.txt && sed -i "s/\"b.txt\"]/\"b.txt\", \"c.txt\"]/" lib/BUILD')
	same_as_cold "$BASE" "$t"
	exactly_at "$t"
	[ "$(cat "$wt/lib/c.txt")" = c ]
	[ -d "$wt/old" ]
	t=$(change exec <<<'chmod +x lib/a.txt && printf "b3\n" > lib/b.txt')
	same_as_cold "$BASE" "$t"
	exactly_at "$t"
	[ -x "$wt/lib/a.txt" ]
	[ ! -e "$wt/lib/c.txt" ]
	t=$(change symlink <<<'rm lib/b.txt && ln -s a.txt lib/b.txt')
	same_as_cold "$BASE" "$t"
	exactly_at "$t"
	[ -L "$wt/lib/b.txt" ]
	[ ! -x "$wt/lib/a.txt" ]
	t=$(change rename-dir <<<'git mv old older')
	same_as_cold "$BASE" "$t"
	exactly_at "$t"
	[ ! -e "$wt/old" ]
	[ -f "$wt/older/o.txt" ]
	[ ! -L "$wt/lib/b.txt" ]
	# and back to the base: nothing of the targets is left (cold's answer is empty)
	run -0 --separate-stderr bds-consume -w "$WS" --target "$BASE" --store "$STORE" --include-target-type
	[ "$output" = "" ]
	exactly_at "$BASE"
	[ ! -e "$wt/older" ]
}

@test "consume --base: another base commit is hashed warm and still equals cold" {
	b2=$(change b2 <<<'printf "b2\n" > lib/b.txt')
	t=$( (cd "$WS" && git checkout -q --detach "$b2" && printf 'a3\n' > lib/a.txt && git commit -qam t && git rev-parse HEAD) )
	run -0 --separate-stderr bds-consume -w "$WS" --base "$b2" --target "$t" --store "$STORE" --include-target-type
	warm=$output
	run -0 --separate-stderr bds-cold -w "$WS" --base "$b2" --target "$t" --include-target-type
	same_answer "$warm" "$output"
	[[ "$output" != *"//lib:b.txt"* ]]
	[[ "$output" == *"//lib:a.txt"* ]]
}

@test "consume: a .bazelrc or MODULE.bazel.lock change is another fingerprint: exit 2" {
	t=$(change rc <<<'printf "query --keep_going\n" > .bazelrc')
	run -2 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-consume: cold: no snapshot for fingerprint"* ]]
	t=$(change lock <<<': > MODULE.bazel.lock')
	run -2 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type
	[[ "$stderr" == *"no snapshot for fingerprint"* ]]
}

@test "consume --cold: exit 2 runs the cold path and prints its answer" {
	t=$(change rc2 <<<'printf "# comment\n" > .bazelrc && printf "a4\n" > lib/a.txt')
	run -0 --separate-stderr bds-consume -w "$WS" --base "$BASE" --target "$t" --store "$STORE" --cold --include-target-type
	warm=$output
	[[ "$stderr" == *"bds-consume: cold: "* ]]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type
	same_answer "$warm" "$output"
}

@test "consume: an empty store, a foreign commit and other hash options are cold" {
	run -2 --separate-stderr bds-consume -w "$WS" --target "$BASE" --store "$BATS_TEST_TMPDIR/empty" --include-target-type
	[ "$output" = "" ]
	orphan=$( (cd "$WS" && git checkout -q --orphan lonely && git commit -q -m lonely && git rev-parse HEAD) )
	run -2 --separate-stderr bds-consume -w "$WS" --target "$orphan" --store "$STORE" --include-target-type
	[[ "$stderr" == *"within 64 first-parent ancestors of $orphan"* ]]
	run -2 --separate-stderr bds-consume -w "$WS" --target "$BASE" --store "$STORE"
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-consume: cold: no snapshot for fingerprint"* ]]
}

@test "consume: a corrupted entry is cold and never used" {
	hashes=$(echo "$STORE"/*/"$BASE"/base_hashes.json)
	cp "$hashes" "$BATS_TEST_TMPDIR/saved"
	# flip one byte of one hash
	python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); i=b.index(b"~")+1; b[i]^=1; open(p,"wb").write(b)' "$hashes"
	t=$(change corrupt <<<'printf "a5\n" > lib/a.txt')
	# the verified copy in the cache would be reused (rightly): make lookup fetch again
	rm -rf "${BDS_CACHE:?}/$(basename "$(dirname "$(dirname "$hashes")")")"
	run -2 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type
	cp "$BATS_TEST_TMPDIR/saved" "$hashes"
	[ "$output" = "" ]
	[[ "$stderr" == *"base_hashes.json"* ]]
	same_as_cold "$BASE" "$t"
}

@test "consume: two consumes of one entry at once both give the cold answer" {
	t1=$(change c1 <<<'printf "x\n" > lib/a.txt')
	t2=$(change c2 <<<'printf "y\n" > lib/b.txt')
	bds-consume -w "$WS" --target "$t1" --store "$STORE" --include-target-type > "$BATS_TEST_TMPDIR/w1" 2>/dev/null &
	p1=$!
	bds-consume -w "$WS" --target "$t2" --store "$STORE" --include-target-type > "$BATS_TEST_TMPDIR/w2" 2>/dev/null &
	p2=$!
	wait "$p1"
	wait "$p2"
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t1" --include-target-type
	same_answer "$(cat "$BATS_TEST_TMPDIR/w1")" "$output"
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t2" --include-target-type
	same_answer "$(cat "$BATS_TEST_TMPDIR/w2")" "$output"
}

@test "consume -o: a device is written in place, a symlink followed; the answer is cold's" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (mknod)"
	local T=$BATS_TEST_TMPDIR
	t=$(change out <<<'printf "o\n" > lib/b.txt')
	mknod "$T/null" c 1 3
	chmod 666 "$T/null"
	run -0 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type -o "$T/null"
	[ "$output" = "" ]
	[ "$(stat -c %F:%t:%T:%a "$T/null")" = "character special file:1:3:666" ]
	printf 'old\n' > "$T/answer"
	ln -s answer "$T/link"
	run -0 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type -o "$T/link"
	[ -L "$T/link" ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type
	same_answer "$(cat "$T/answer")" "$output"
}

@test "consume: the warm machine is free again before the diff writes the answer" {
	local T=$BATS_TEST_TMPDIR state
	t=$(change free <<<'printf "f\n" > lib/b.txt')
	state=$(jq -r '.driver_state.state_dir' "$STORE"/*/"$BASE"/metadata.json)
	mkfifo "$T/answer"
	# the reader looks at the lock once the diff has opened the answer for writing
	( exec 4<"$T/answer"
	  if flock -n -o "$state/state.lock" true; then echo free; else echo held; fi > "$T/lock"
	  cat <&4 > "$T/got" ) 3>&- &
	run -0 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type -o "$T/answer"
	wait "$!"
	[ "$(cat "$T/lock")" = free ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type
	same_answer "$(cat "$T/got")" "$output"
}

@test "consume -o: a FIFO with no reader is 1 at once; /dev/stdout into a pipe is cold's answer" {
	local T=$BATS_TEST_TMPDIR
	t=$(change out-fifo <<<'printf "f\n" > lib/b.txt')
	mkfifo "$T/fifo"
	run -1 --separate-stderr timeout 300 bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type -o "$T/fifo"
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-output: open '$T/fifo': a FIFO with no reader"* ]]
	# the answer through /dev/stdout into a pipe: the warm machine was let go meanwhile
	run -0 --separate-stderr bash -c 'bds-consume -w "$1" --target "$2" --store "$3" --include-target-type -o /dev/stdout | cat' \
		_ "$WS" "$t" "$STORE"
	local warm=$output
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type
	same_answer "$warm" "$output"
}

@test "a jq failing once the warm machine is up is exit 1, never 2 (cold)" {
	t=$(change jq <<<'printf "j\n" > lib/a.txt')
	local st
	for st in 2 5; do
		# after restore: the envelope's snapshot, lock and startup options
		broken jq "$st" @sh
		run -1 --separate-stderr with_broken bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type
		[ "$output" = "" ]
		[[ "$stderr" == *"bds-consume: reading '@sh "* ]]
		# after hashing the target: the hashes put into the envelope
		broken jq "$st" "{hashes:"
		run -1 --separate-stderr with_broken bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type
		[ "${stderr_lines[-1]}" = "bds-consume: adding the hashes to the envelope failed" ]
		# record, after its query: the guest's type, then the published entry's name
		broken jq "$st" '.vm.guest | type'
		run -1 --separate-stderr with_broken bds-record -w "$WS" --base "$BASE" --store "$BATS_TEST_TMPDIR/s" --include-target-type
		[ "${stderr_lines[-1]}" = "bds-record: reading '.vm.guest | type' from the envelope of the last phase failed" ]
		broken jq "$st" .published
		run -1 --separate-stderr with_broken bds-record -w "$WS" --base "$BASE" --store "$BATS_TEST_TMPDIR/s" --include-target-type
		[ "${stderr_lines[-1]}" = "bds-record: reading '.published.fingerprint + \"/\" + .published.base' from the envelope of the last phase failed" ]
	done
}

@test "canary: identical answers exit 0" {
	t=$(change canary <<<'printf "z\n" > lib/b.txt')
	run -0 --separate-stderr bds-canary -w "$WS" --base "$BASE" --target "$t" --store "$STORE" --include-target-type
	[[ "$output" =~ ^canary:\ identical\ \([0-9]+\ labels\)$ ]]
}

@test "record and consume through an HTTP store (nginx) and an S3 store (s3rver)" {
	start_nginx
	start_s3rver
	t=$(change remote <<<'printf "r\n" > lib/a.txt')
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type
	cold=$output
	for store in "$NGINX_URL/dav/bds" "s3://$S3_BUCKET/bds"; do
		run -0 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$store" --include-target-type
		run -0 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$store" --include-target-type
		same_answer "$output" "$cold"
	done
	run -2 --separate-stderr bds-consume -w "$WS" --target "$t" --store "http://127.0.0.1:9/closed" --include-target-type
	[[ "$stderr" == *"http://127.0.0.1:9/closed"* ]]
}

@test "consume: the warm server gone is cold (exit 2)" {
	for ob in "$BDS_CACHE"/local/*/*/output_base; do
		bazel --output_base="$ob" shutdown >/dev/null 2>&1
	done
	run -2 --separate-stderr bds-consume -w "$WS" --target "$BASE" --store "$STORE" --include-target-type
	echo "$stderr"
	[[ "$stderr" == *"bds-vm-restore: cold: the local warm Bazel server of "*" is gone"* ]]
}

# The half-cold path of bds-consume --cold: no warm machine, but the store holds the exact
# base's verified base_hashes.json for this fingerprint: only the target is hashed, and the
# answer is byte-identical to the full cold path's (bds-cold). Every other case (an
# ancestor's entry only, a corrupted entry, other hash options) must take the full cold path.

load helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export WS="$BATS_FILE_TMPDIR/ws"
	export STORE="$BATS_FILE_TMPDIR/store"
	# Every bds-generate-hashes run of bds-cold leaves one line in GH_LOG: a half-cold
	# answer comes from one run (the target), a full cold one from two.
	export GH_LOG="$BATS_FILE_TMPDIR/generate.log"
	local real
	real=$(command -v bds-generate-hashes)
	cat > "$BATS_FILE_TMPDIR/count-generate" <<-EOF2
		#!/bin/sh
		echo "\$*" >> "\$GH_LOG"
		exec '$real' "\$@"
	EOF2
	chmod +x "$BATS_FILE_TMPDIR/count-generate"
	export BDS_GENERATE_HASHES="$BATS_FILE_TMPDIR/count-generate"

	new_lib_app "$WS"
	mkdir -p "$WS/old"
	printf 'o\n' > "$WS/old/o.txt"
	printf 'filegroup(name = "old", srcs = ["o.txt"])\n' > "$WS/old/BUILD"
	# config "ci" changes the hashes: without implicit dependencies, a genrule's inputs
	# lose the genrule setup script (tests/bazel-options.bats)
	printf 'query:ci --noimplicit_deps\n' > "$WS/.bazelrc"
	# A (recorded) <- B (recorded) <- C (recorded) <- D (not recorded), first parents
	A=$(commit_all "$WS" A)
	printf 'b2\n' > "$WS/lib/b.txt"
	B=$(commit_all "$WS" B)
	printf 'o2\n' > "$WS/old/o.txt"
	C=$(commit_all "$WS" C)
	printf 'filegroup(name = "old", srcs = ["o.txt"])\nfilegroup(name = "d", srcs = ["o.txt"])\n' > "$WS/old/BUILD"
	D=$(commit_all "$WS" D)
	export A B C D
	KEY=$(bds-fingerprint -w "$WS" --rev "$B" --driver local --include-target-type | jq -r .fingerprint.key)
	export KEY
	for rev in "$A" "$B" "$C"; do
		bds-record -w "$WS" --base "$rev" --store "$STORE" --include-target-type 2>>"$BATS_FILE_TMPDIR/record.err"
	done
	# B once more with -co --config=ci: another fingerprint, another entry
	bds-record -w "$WS" --base "$B" --store "$STORE" --include-target-type -co --config=ci 2>>"$BATS_FILE_TMPDIR/record.err"
	# The warm machines are gone: servers shut down, the local warm state removed.
	stop_warm_servers
	chmod -R u+w "$BDS_CACHE/local"
	rm -rf "$BDS_CACHE/local"
	git -C "$WS" worktree prune
}

teardown_file() {
	stop_warm_servers
}

# generate_runs: the bds-generate-hashes runs of bds-cold since the last call.
generate_runs() {
	if [ -f "$GH_LOG" ]; then wc -l < "$GH_LOG" | tr -d ' '; else echo 0; fi
	rm -f "$GH_LOG"
}

# entry_of REV: the store entry of REV recorded without -co (B has another, --config=ci's).
entry_of() {
	echo "$STORE/$KEY/$1"
}

@test "half-cold: the warm machine gone, the exact base's entry used: one hashing, cold's answer" {
	t=$(change t1 "$B" <<<'printf "a1\n" > lib/a.txt')
	rm -f "$GH_LOG"
	run -0 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --cold --include-target-type
	half=$output
	echo "$stderr"
	[[ "$stderr" == *"bds-vm-restore: cold: the local warm state of "*" is gone"* ]]
	[[ "$stderr" == *"bds-consume: half-cold: base $B's hashes from the store entry, only the target is hashed"* ]]
	[[ "$stderr" == *"bds-cold: half-cold: "* ]]
	[[ "$stderr" != *"bds-cold: hash base"* ]]
	[ "$(generate_runs)" = 1 ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t" --include-target-type
	[ "$(generate_runs)" = 2 ]
	same_answer "$half" "$output"
	[ "$output" = $'//lib:a.txt\n//app:app.out\n//lib:gen.out\n//app:app\n//lib:fg\n//lib:gen' ]
	# with --base named and -o: the same bytes in the file
	run -0 --separate-stderr bds-consume -w "$WS" --base "$B" --target "$t" --store "$STORE" --cold \
		--include-target-type -o "$BATS_TEST_TMPDIR/answer"
	[ "$output" = "" ]
	[ "$(generate_runs)" = 1 ]
	same_answer "$(cat "$BATS_TEST_TMPDIR/answer")" "$half"
	# bds-cold --base-hashes with the entry's file: the same answer, one hashing
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t" --include-target-type \
		--base-hashes "$(entry_of "$B")/base_hashes.json"
	[ "$(generate_runs)" = 1 ]
	same_answer "$output" "$half"
}

@test "half-cold: with C nearer to the target than the base B, B's entry is used, never C's" {
	t=$(change t3 "$C" <<<'printf "a3\n" > lib/a.txt')
	rm -f "$GH_LOG"
	run -0 --separate-stderr bds-consume -w "$WS" --base "$B" --target "$t" --store "$STORE" --cold --include-target-type
	half=$output
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: half-cold: base $B's hashes"* ]]
	[ "$(generate_runs)" = 1 ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t" --include-target-type
	cold=$output
	same_answer "$half" "$cold"
	# C changed old/o.txt since B: the answer names it
	[[ "$cold" == *"//old:o.txt"* ]]
	# The check bites: diffed against C's hashes (the wrong base), the answer differs.
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t" --include-target-type \
		--base-hashes "$(entry_of "$C")/base_hashes.json"
	[ "$output" != "$cold" ]
	[[ "$output" != *"//old:o.txt"* ]]
}

@test "half-cold: an entry for an ancestor of the base only: the full cold path, exact" {
	t=$(change t2 "$D" <<<'printf "a2\n" > lib/a.txt')
	rm -f "$GH_LOG"
	run -0 --separate-stderr bds-consume -w "$WS" --base "$D" --target "$t" --store "$STORE" --cold --include-target-type
	got=$output
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: half-cold: no verified entry for the base $D: "*"full cold path"* ]]
	[[ "$stderr" != *"bds-cold: half-cold"* ]]
	[ "$(generate_runs)" = 2 ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$D" --target "$t" --include-target-type
	same_answer "$got" "$output"
	# D's new target is not in the answer: it is in both revisions
	[[ "$output" != *"//old:d"* ]]
}

@test "half-cold: a corrupted base_hashes.json in the entry is never used: the full cold path, exact" {
	hashes=$(entry_of "$B")/base_hashes.json
	cp "$hashes" "$BATS_TEST_TMPDIR/saved"
	# flip one byte of one hash, and drop the verified copies in the cache
	python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); i=b.index(b"~")+1; b[i]^=1; open(p,"wb").write(b)' "$hashes"
	rm -rf "${BDS_CACHE:?}/$(basename "$(dirname "$(dirname "$hashes")")")"
	t=$(change t4 "$B" <<<'printf "a4\n" > lib/a.txt')
	rm -f "$GH_LOG"
	run -0 --separate-stderr bds-consume -w "$WS" --base "$B" --target "$t" --store "$STORE" --cold --include-target-type
	got=$output
	cp "$BATS_TEST_TMPDIR/saved" "$hashes"
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: half-cold: no verified entry for the base $B: "*"base_hashes.json"*"full cold path"* ]]
	[[ "$stderr" != *"bds-cold: half-cold"* ]]
	[ "$(generate_runs)" = 2 ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t" --include-target-type
	same_answer "$got" "$output"
}

@test "half-cold: the store unreachable, the cache's verified copy of the base's entry is used; a damaged one is not" {
	t=$(change t6 "$B" <<<'printf "a6\n" > lib/a.txt')
	# fill the cache with B's entry (a lookup of B itself; its warm machine is gone)
	run -2 --separate-stderr bds-consume -w "$WS" --target "$B" --store "$STORE" --include-target-type
	cached=$BDS_CACHE/$KEY/$B
	[ -f "$cached/base_hashes.json" ]
	mv "$STORE" "$STORE.away"
	rm -f "$GH_LOG"
	run -0 --separate-stderr bds-consume -w "$WS" --base "$B" --target "$t" --store "$STORE" --cold --include-target-type
	half=$output
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: half-cold: the store has no verified entry for the base $B ("*"): the cache's copy is used"* ]]
	[[ "$stderr" == *"bds-consume: half-cold: base $B's hashes from the store entry, only the target is hashed"* ]]
	[ "$(generate_runs)" = 1 ]
	# the cache's copy damaged (one byte of one hash): never used
	cp "$cached/base_hashes.json" "$BATS_TEST_TMPDIR/saved"
	chmod u+w "$cached" "$cached/base_hashes.json"
	python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); i=b.index(b"~")+1; b[i]^=1; open(p,"wb").write(b)' "$cached/base_hashes.json"
	run -0 --separate-stderr bds-consume -w "$WS" --base "$B" --target "$t" --store "$STORE" --cold --include-target-type
	got=$output
	cp "$BATS_TEST_TMPDIR/saved" "$cached/base_hashes.json"
	mv "$STORE.away" "$STORE"
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: half-cold: base_hashes.json in '$cached' has xxh3_128 '"*"', metadata.json lists '"*"': full cold path"* ]]
	[ "$(generate_runs)" = 2 ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t" --include-target-type
	same_answer "$half" "$output"
	same_answer "$got" "$output"
}

@test "half-cold: other hash options are another fingerprint: the full cold path, exact" {
	# recorded with --include-target-type (option A); consumed without it (option B)
	t=$(change t5 "$B" <<<'printf "a5\n" > lib/a.txt')
	rm -f "$GH_LOG"
	run -0 --separate-stderr bds-consume -w "$WS" --base "$B" --target "$t" --store "$STORE" --cold
	got=$output
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: cold: no snapshot for fingerprint"* ]]
	[[ "$stderr" == *"bds-consume: half-cold: no verified entry for the base $B: "*"full cold path"* ]]
	[ "$(generate_runs)" = 2 ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t"
	same_answer "$got" "$output"
	# the options change the answer's hashes: with A's stored hashes it would differ
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t" \
		--base-hashes "$(entry_of "$B")/base_hashes.json"
	[ "$output" != "$got" ]
}

@test "half-cold: -co options reach the target's hashing: --config=ci recorded and consumed, cold's answer" {
	# a package nothing depends on: with both sides hashed under --config=ci only it is
	# impacted; a target hashed without the option would make every genrule differ
	t=$(change t7 "$B" <<<'mkdir -p p && printf "b\n" > p/b.txt && printf "filegroup(name = \"f\", srcs = [\"b.txt\"])\n" > p/BUILD')
	rm -f "$GH_LOG"
	run -0 --separate-stderr bds-consume -w "$WS" --base "$B" --target "$t" --store "$STORE" --cold \
		--include-target-type -co --config=ci
	half=$output
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: half-cold: base $B's hashes from the store entry, only the target is hashed"* ]]
	[ "$(generate_runs)" = 1 ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t" --include-target-type -co --config=ci
	same_answer "$half" "$output"
	[ "$output" = $'//p:BUILD\n//p:b.txt\n//p:f' ]
}

@test "half-cold: a depth-1 clone of the target with --base SHA answers half-cold, as cold in the full clone" {
	t=$(change t8 "$B" <<<'printf "a8\n" > lib/a.txt')
	git -C "$WS" tag -f t8 "$t" >/dev/null
	git clone -q --depth 1 --branch t8 "file://$WS" "$BATS_TEST_TMPDIR/shallow" 2>/dev/null
	[ "$(git -C "$BATS_TEST_TMPDIR/shallow" rev-parse --is-shallow-repository)" = true ]
	run -128 git -C "$BATS_TEST_TMPDIR/shallow" cat-file -e "$B^{commit}"
	rm -f "$GH_LOG"
	run -0 --separate-stderr bds-consume -w "$BATS_TEST_TMPDIR/shallow" --base "$B" --target HEAD --store "$STORE" \
		--cold --include-target-type
	half=$output
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: half-cold: base $B's hashes from the store entry, only the target is hashed"* ]]
	[ "$(generate_runs)" = 1 ]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$t" --include-target-type
	same_answer "$half" "$output"
}

@test "bds-cold --base-hashes: not a readable regular file is 1 with one line, before any query" {
	rm -f "$GH_LOG"
	run -1 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$C" --base-hashes "$BATS_TEST_TMPDIR"
	[ "$stderr" = "bds-cold: --base-hashes '$BATS_TEST_TMPDIR': not a readable regular file" ]
	run -1 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$C" --base-hashes "$BATS_TEST_TMPDIR/none"
	[ "$stderr" = "bds-cold: --base-hashes '$BATS_TEST_TMPDIR/none': not a readable regular file" ]
	run -64 --separate-stderr bds-cold -w "$WS" --base "$B" --target "$C" --base-hashes
	[ "$(generate_runs)" = 0 ]
}

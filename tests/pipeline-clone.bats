# Where CI actually is, end to end with the local driver: a depth-1 clone of the target
# with --base (the base commit is not in that clone), a second clone of the repository at
# another path, and a third one after the recording clone is deleted, all consume warm,
# byte-identical to bds-cold, and no consume writes the user's clone.

load helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export STORE="$BATS_FILE_TMPDIR/store"
	export ORIGIN="$BATS_FILE_TMPDIR/origin.git"
	export WS="$BATS_FILE_TMPDIR/ws"
	local src=$BATS_FILE_TMPDIR/src
	new_workspace "$src"
	mkdir -p "$src/lib" "$src/app"
	printf 'a\n' > "$src/lib/a.txt"
	printf 'b\n' > "$src/lib/b.txt"
	printf 'genrule(name = "gen", srcs = ["a.txt"], outs = ["gen.out"], cmd = "cat $< > $@", visibility = ["//visibility:public"])\nfilegroup(name = "b", srcs = ["b.txt"])\n' > "$src/lib/BUILD"
	printf 'genrule(name = "app", srcs = ["//lib:gen"], outs = ["app.out"], cmd = "cp $< $@")\n' > "$src/app/BUILD"
	BASE=$(commit_all "$src" base)
	# pr: one commit on BASE; pr2: two, so a depth-1 clone of it lacks its parent too
	git -C "$src" checkout -q -b pr
	printf 'a2\n' > "$src/lib/a.txt"
	TARGET=$(commit_all "$src" change)
	git -C "$src" checkout -q -b pr2 "$BASE"
	printf 'b2\n' > "$src/lib/b.txt"
	commit_all "$src" first >/dev/null
	printf 'filegroup(name = "c", srcs = ["a.txt"])\n' >> "$src/lib/BUILD"
	TARGET2=$(commit_all "$src" second)
	git -C "$src" checkout -q master 2>/dev/null || git -C "$src" checkout -q main
	export BASE TARGET TARGET2
	git clone -q --bare "$src" "$ORIGIN"
	git clone -q "$ORIGIN" "$WS"
	bds-record -w "$WS" --base "$BASE" --store "$STORE" 2>"$BATS_FILE_TMPDIR/record.err"
	bds-cold -w "$WS" --base "$BASE" --target "$TARGET" > "$BATS_FILE_TMPDIR/cold.txt" 2>/dev/null
	bds-cold -w "$WS" --base "$BASE" --target "$TARGET2" > "$BATS_FILE_TMPDIR/cold2.txt" 2>/dev/null
}

teardown_file() {
	stop_warm_servers
}

# shallow BRANCH DIR: a depth-1 clone of BRANCH's tip (file://: a local path ignores --depth)
shallow() {
	git clone -q --depth 1 --branch "$1" "file://$ORIGIN" "$2"
}

# clone_state DIR: every file of a clone (its .git too) with its size and modification
# time, and its refs: what a consume must leave as it was.
clone_state() {
	find "$1" -printf '%P %y %s %T@\n' | LC_ALL=C sort
	git -C "$1" for-each-ref
}

# warm_answer COLD: the last `run` consumed warm (its phase lines, no cold line) and
# printed exactly COLD, not empty. Call it directly, never under `run`.
warm_answer() {
	[ -n "$1" ]
	[ "$output" = "$1" ]
	[[ "$stderr" == *"bds-consume: restore "* ]]
	[[ "$stderr" == *"bds-consume: query "* ]]
	[[ "$stderr" != *"cold"* ]]
}

@test "depth-1 clone of the target with --base: warm, equal to bds-cold of the full clone, the clone not written" {
	local sh=$BATS_TEST_TMPDIR/shallow before
	shallow pr "$sh"
	[ "$(git -C "$sh" rev-parse HEAD)" = "$TARGET" ]
	run -128 git -C "$sh" cat-file -e "$BASE^{commit}"
	before=$(clone_state "$sh")
	run -0 --separate-stderr bds-consume -w "$sh" --target HEAD --base "$BASE" --store "$STORE"
	warm_answer "$(cat "$BATS_FILE_TMPDIR/cold.txt")"
	[ "$(clone_state "$sh")" = "$before" ]
	# an upper-case sha is the same commit
	run -0 --separate-stderr bds-consume -w "$sh" --target HEAD --base "$(printf '%s' "$BASE" | tr a-f A-F)" --store "$STORE"
	warm_answer "$(cat "$BATS_FILE_TMPDIR/cold.txt")"
	[ "$(clone_state "$sh")" = "$before" ]
}

@test "depth-1 clone of a two-commit change with --base: its parent is in no clone the warm machine saw; warm and exact" {
	local sh=$BATS_TEST_TMPDIR/shallow2 before
	shallow pr2 "$sh"
	run -128 git -C "$sh" cat-file -e "$TARGET2^"
	before=$(clone_state "$sh")
	run -0 --separate-stderr bds-consume -w "$sh" --target "$TARGET2" --base "$BASE" --store "$STORE"
	warm_answer "$(cat "$BATS_FILE_TMPDIR/cold2.txt")"
	[ "$(clone_state "$sh")" = "$before" ]
}

@test "depth-1 clone without --base: one line says the clone is shallow and how deep to fetch (exit 1); deepened, warm" {
	local sh=$BATS_TEST_TMPDIR/shallow
	shallow pr "$sh"
	run -1 --separate-stderr bds-consume -w "$sh" --target HEAD --store "$STORE"
	[ "$output" = "" ]
	[ "$(grep -v '^bds-consume: [a-z+]* [0-9.]*s$' <<<"$stderr")" = "bds-store-lookup: this shallow clone holds 1 commit(s) of the first-parent history of $TARGET, none with a snapshot: fetch 64 more (git fetch --deepen=64) to search --max-distance 64, or pass --base SHA
bds-consume: phase 'lookup' failed (exit 1)" ]
	# --max-distance sets how deep
	run -1 --separate-stderr bds-consume -w "$sh" --target HEAD --store "$STORE" --max-distance 3
	[[ "$stderr" == *"fetch 3 more (git fetch --deepen=3) to search --max-distance 3, or pass --base SHA"* ]]
	# what the line says works
	git -C "$sh" fetch -q --deepen=64
	run -0 --separate-stderr bds-consume -w "$sh" --target HEAD --store "$STORE"
	warm_answer "$(cat "$BATS_FILE_TMPDIR/cold.txt")"
}

@test "depth-1 clone, --base with no entry: cold in one line, and --cold says exactly which commit the clone lacks" {
	local sh=$BATS_TEST_TMPDIR/shallow key
	shallow pr2 "$sh"
	local other
	other=$(git -C "$WS" rev-parse "$TARGET2^")
	run -2 --separate-stderr bds-consume -w "$sh" --target HEAD --base "$other" --store "$STORE"
	[ "$output" = "" ]
	key=$(ls "$STORE")
	[[ "$stderr" == *"bds-store-lookup: cold: no snapshot for fingerprint $key at --base $other, and this clone does not hold that commit, so no other entry can serve it"* ]]
	run -1 --separate-stderr bds-consume -w "$sh" --target HEAD --base "$other" --store "$STORE" --cold
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-cold: revision '$other': not in this shallow clone: fetch it (e.g. git fetch --depth=1 origin $other)"* ]]
}

@test "a second clone at another path consumes warm, equal to bds-cold run in that clone, and is not written" {
	local ws2=$BATS_FILE_TMPDIR/ws@2 before
	git clone -q "$ORIGIN" "$ws2"
	git -C "$ws2" checkout -q --detach "$TARGET"
	before=$(clone_state "$ws2")
	run -0 --separate-stderr bds-consume -w "$ws2" --target "$TARGET" --store "$STORE"
	warm_answer "$(cat "$BATS_FILE_TMPDIR/cold.txt")"
	[ "$(clone_state "$ws2")" = "$before" ]
	# the same key from both clones: one warm machine for the repository
	[ "$(bds-fingerprint -w "$ws2" --rev "$TARGET" | jq -r .fingerprint.key)" = "$(ls "$STORE")" ]
	run -0 --separate-stderr bds-cold -w "$ws2" --base "$BASE" --target "$TARGET"
	[ "$output" = "$(cat "$BATS_FILE_TMPDIR/cold.txt")" ]
	# a base other than the entry's, hashed warm from this clone's objects
	run -0 --separate-stderr bds-consume -w "$ws2" --target "$TARGET2" --base "$TARGET" --store "$STORE"
	local expect
	expect=$(bds-cold -w "$ws2" --base "$TARGET" --target "$TARGET2" 2>/dev/null)
	warm_answer "$expect"
}

@test "the recording clone deleted: a third clone consumes warm and exact" {
	rm -rf "$WS"
	local ws3=$BATS_FILE_TMPDIR/ws3
	git clone -q "$ORIGIN" "$ws3"
	run -0 --separate-stderr bds-consume -w "$ws3" --target "$TARGET" --store "$STORE"
	warm_answer "$(cat "$BATS_FILE_TMPDIR/cold.txt")"
	run -0 --separate-stderr bds-consume -w "$ws3" --target "$TARGET2" --base "$BASE" --store "$STORE"
	warm_answer "$(cat "$BATS_FILE_TMPDIR/cold2.txt")"
}

# A fresh clone at the same path after a record (a common CI pattern), end to end with the
# local driver: the warm worktree is a repository of its own, fed from whichever clone
# consumes, so the new clone consumes warm, and a re-record of the same base from it
# reuses the warm machine; every answer is the cold one. (Other paths, shallow clones:
# tests/pipeline-clone.bats.)

load helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export WS="$BATS_FILE_TMPDIR/ws"
	export STORE="$BATS_FILE_TMPDIR/store"
	export ORIGIN="$BATS_FILE_TMPDIR/origin.git"
	local src=$BATS_FILE_TMPDIR/src
	new_workspace "$src"
	mkdir -p "$src/lib" "$src/app"
	printf 'a\n' > "$src/lib/a.txt"
	printf 'genrule(name = "gen", srcs = ["a.txt"], outs = ["gen.out"], cmd = "cat $< > $@", visibility = ["//visibility:public"])\n' > "$src/lib/BUILD"
	printf 'genrule(name = "app", srcs = ["//lib:gen"], outs = ["app.out"], cmd = "cp $< $@")\n' > "$src/app/BUILD"
	BASE=$(commit_all "$src" base)
	printf 'a2\n' > "$src/lib/a.txt"
	TARGET=$(commit_all "$src" change)
	export BASE TARGET
	git clone -q --bare "$src" "$ORIGIN"
	git clone -q "$ORIGIN" "$WS"
	bds-record -w "$WS" --base "$BASE" --store "$STORE" 2>"$BATS_FILE_TMPDIR/record.err"
	bds-cold -w "$WS" --base "$BASE" --target "$TARGET" > "$BATS_FILE_TMPDIR/cold.txt" 2>/dev/null
}

teardown_file() {
	stop_warm_servers
}

# reclone: the workspace removed and cloned again at the same path
reclone() {
	rm -rf "$WS"
	git clone -q "$ORIGIN" "$WS"
}

@test "re-cloned at the same path: consume stays warm, a record from the new clone reuses the warm machine, warm == cold" {
	local cold
	cold=$(cat "$BATS_FILE_TMPDIR/cold.txt")
	[ -n "$cold" ]
	# the warm path works before
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE"
	[ "$output" = "$cold" ]
	local state server
	state=$(echo "$BDS_CACHE"/local/*/"$BASE")
	server=$(cat "$state/output_base/server/server.pid.txt")
	reclone
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE"
	[ "$output" = "$cold" ]
	[[ "$stderr" == *"bds-consume: query "* ]]
	[[ "$stderr" != *"cold"* ]]
	run -0 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$STORE"
	[ "$(git -C "$state/worktree" rev-parse --path-format=absolute --git-common-dir)" = "$state/worktree/.git" ]
	# the same server: the warm machine was reused, not replaced
	[ "$(cat "$state/output_base/server/server.pid.txt")" = "$server" ]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE"
	[ "$output" = "$cold" ]
	[[ "$stderr" != *"cold"* ]]
	# and what the cold path says now, in the new clone
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$TARGET"
	[ "$output" = "$cold" ]
}

# A fresh clone at the same path after a record (a common CI pattern), end to end with the
# local driver: the warm worktree left by the old clone is not a checkout of the new one, so
# consume is cold (and --cold answers), and a record replaces it; the warm answer after
# that is the cold one.

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
	for ob in "$BDS_CACHE"/local/*/*/output_base; do
		[ -d "$ob" ] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
}

# reclone: the workspace removed and cloned again at the same path
reclone() {
	rm -rf "$WS"
	git clone -q "$ORIGIN" "$WS"
}

@test "re-cloned at the same path: consume is cold, --cold answers, a record replaces the worktree, then warm == cold" {
	local cold
	cold=$(cat "$BATS_FILE_TMPDIR/cold.txt")
	[ -n "$cold" ]
	# the warm path works before
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE"
	[ "$output" = "$cold" ]
	local state
	state=$(echo "$BDS_CACHE"/local/*/"$BASE")
	reclone
	run -2 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE"
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-vm-restore: cold: the local warm worktree '$state/worktree' of "*"/$BASE is not a checkout of '$WS' any more (re-cloned?)"* ]]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE" --cold
	[ "$output" = "$cold" ]
	[[ "$stderr" == *"bds-consume: cold: "* ]]
	run -0 --separate-stderr bds-record -w "$WS" --base "$BASE" --store "$STORE"
	[ "$(git -C "$state/worktree" rev-parse --path-format=absolute --git-common-dir)" = "$WS/.git" ]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$TARGET" --store "$STORE"
	[ "$output" = "$cold" ]
	[[ "$stderr" != *"cold"* ]]
	# and what the cold path says now, in the new clone
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$TARGET"
	[ "$output" = "$cold" ]
}

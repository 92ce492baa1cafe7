# --dep-edges through every path: bds-consume's warm answer, its half-cold and full cold
# fallbacks and bds-cold print bazel-diff's distance JSON (get-impacted-targets -d with the
# target's dep edges), byte for byte the same, on edits that change distances.

load helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export WS="$BATS_FILE_TMPDIR/ws"
	export STORE="$BATS_FILE_TMPDIR/store"
	new_workspace "$WS"
	mkdir -p "$WS/a" "$WS/b" "$WS/c" "$WS/x"
	# A deep chain across three packages: a/s.txt <- a:c0 <- a:c1 <- b:c2 <- b:c3 <- c:c4,
	# and x:x beside it.
	printf 's\n' > "$WS/a/s.txt"
	printf 't\n' > "$WS/a/t.txt"
	cat > "$WS/a/BUILD" <<-'EOF2'
		filegroup(name = "c0", srcs = ["s.txt"], visibility = ["//visibility:public"])
		genrule(name = "c1", srcs = [":c0"], outs = ["c1.out"], cmd = "cp $< $@", visibility = ["//visibility:public"])
		exports_files(["t.txt"])
	EOF2
	cat > "$WS/b/BUILD" <<-'EOF2'
		genrule(name = "c2", srcs = ["//a:c1"], outs = ["c2.out"], cmd = "cp $< $@")
		genrule(name = "c3", srcs = [":c2"], outs = ["c3.out"], cmd = "cp $< $@", visibility = ["//visibility:public"])
	EOF2
	printf 'genrule(name = "c4", srcs = ["//b:c3"], outs = ["c4.out"], cmd = "cp $< $@")\n' > "$WS/c/BUILD"
	printf 'genrule(name = "x", srcs = ["//a:t.txt"], outs = ["x.out"], cmd = "cp $< $@")\n' > "$WS/x/BUILD"
	BASE=$(commit_all "$WS" base)
	export BASE
	bds-record -w "$WS" --base "$BASE" --store "$STORE" --include-target-type 2>"$BATS_FILE_TMPDIR/record.err"
}

teardown_file() {
	stop_warm_servers
}

# distances JSON: "label t p" per line, in the answer's order.
distances() {
	printf '%s\n' "$1" | jq -r '.[] | "\(.label) \(.targetDistance) \(.packageDistance)"'
}

@test "consume --dep-edges: a deep chain, warm (the entry recorded without edges) == bds-cold --dep-edges" {
	t=$(change deep <<<'printf "s2\n" > a/s.txt')
	run -0 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type --dep-edges
	warm=$output
	echo "$stderr"
	# warm: no fallback of any kind
	[[ "$stderr" != *"cold"* ]]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type --dep-edges
	same_answer "$warm" "$output"
	# bazel-diff's pretty JSON, as bds-diff --dep-edges prints it
	[ "${lines[0]}" = "[" ]
	[ "${lines[1]}" = "  {" ]
	[ "${lines[2]}" = '    "label": "//a:s.txt",' ]
	run -0 distances "$warm"
	# one step per rule, one package step per package boundary
	[ "$output" = "//a:s.txt 0 0
//a:c1.out 2 0
//b:c2.out 3 1
//b:c3.out 4 1
//c:c4.out 5 2
//a:c0 0 0
//a:c1 1 0
//b:c2 2 1
//b:c3 3 1
//c:c4 4 2" ]
	# the plain answer lists the same labels in the same order
	run -0 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type
	[ "$output" = "$(printf '%s\n' "$warm" | jq -r '.[].label')" ]
}

@test "consume --dep-edges: a new dependency shortens the distances, warm == cold" {
	t=$(change newdep <<-'EOF'
		printf "s2\n" > a/s.txt
		sed -i 's|srcs = \["//b:c3"\]|srcs = ["//b:c3", "//a:c0"]|' c/BUILD
	EOF
	)
	grep -q '"//a:c0"' <(git -C "$WS" show "$t:c/BUILD")
	run -0 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type --dep-edges
	warm=$output
	[[ "$stderr" != *"cold"* ]]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type --dep-edges -o "$BATS_TEST_TMPDIR/cold.json"
	[ "$output" = "" ]
	same_answer "$warm" "$(cat "$BATS_TEST_TMPDIR/cold.json")"
	# //c:c4's inputs changed: direct, distance 0 where the deep chain gave it 4 2
	run -0 distances "$warm"
	[ "$output" = "//a:s.txt 0 0
//c:BUILD 0 0
//a:c1.out 2 0
//b:c2.out 3 1
//b:c3.out 4 1
//c:c4.out 0 0
//a:c0 0 0
//a:c1 1 0
//b:c2 2 1
//b:c3 3 1
//c:c4 0 0" ]
	# warm -o writes the same bytes
	run -0 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type --dep-edges -o "$BATS_TEST_TMPDIR/warm.json"
	[ "$output" = "" ]
	cmp "$BATS_TEST_TMPDIR/warm.json" "$BATS_TEST_TMPDIR/cold.json"
}

@test "--dep-edges changes the output, not the hashes: one fingerprint, identical hashes files" {
	k1=$(bds-fingerprint -w "$WS" --rev "$BASE" --driver local --include-target-type | jq -r .fingerprint.key)
	[ -n "$k1" ]
	# bds-consume never passes --dep-edges to bds-fingerprint; bds-generate-hashes with and
	# without edges writes the same hashes
	(cd "$WS" && git checkout -q --detach "$BASE")
	bds-generate-hashes -w "$WS" --include-target-type "$BATS_TEST_TMPDIR/plain.json"
	bds-generate-hashes -w "$WS" --include-target-type --dep-edges "$BATS_TEST_TMPDIR/deps.json" "$BATS_TEST_TMPDIR/with.json"
	cmp "$BATS_TEST_TMPDIR/plain.json" "$BATS_TEST_TMPDIR/with.json"
	run -0 jq -c '.["//b:c3"]' "$BATS_TEST_TMPDIR/deps.json"
	[ "$output" = '["//b:c2","//external:bazel_tools"]' ]
	stop_bazel "$WS"
}

@test "consume --cold --dep-edges: a fingerprint change falls back to the full cold path, cold's answer" {
	t=$(change rc <<-'EOF'
		printf "s3\n" > a/s.txt
		printf 'query --noimplicit_deps\n' > .bazelrc
	EOF
	)
	run -2 --separate-stderr bds-consume -w "$WS" --target "$t" --store "$STORE" --include-target-type --dep-edges
	[ "$output" = "" ]
	run -0 --separate-stderr bds-consume -w "$WS" --base "$BASE" --target "$t" --store "$STORE" --include-target-type --dep-edges --cold
	got=$output
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: cold: "* ]]
	[[ "$stderr" == *"full cold path"* ]]
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type --dep-edges
	same_answer "$got" "$output"
	[ "$(printf '%s\n' "$output" | jq -r '.[0].label')" = "//a:s.txt" ]
}

@test "--dep-edges usage: no value, and a VM driver is refused (64)" {
	run -64 --separate-stderr bds-consume -w "$WS" --target "$BASE" --store "$STORE" --dep-edges=x.json
	[ "${stderr_lines[0]}" = "bds-consume: option '--dep-edges' takes no value" ]
	run -64 --separate-stderr bds-consume -w "$WS" --target "$BASE" --store "$STORE" --dep-edges --driver qemu
	[ "${stderr_lines[0]}" = "bds-consume: --dep-edges is for the local driver: a qemu guest's dep edges are not fetched yet" ]
	run -64 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$BASE" --dep-edges=x.json
	[ "${stderr_lines[0]}" = "bds-cold: option '--dep-edges' takes no value" ]
	run -64 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$BASE" --dep-edges x.json
	[ "${stderr_lines[0]}" = "bds-cold: unexpected argument 'x.json'" ]
}

# Last: it removes the warm machine.
@test "half-cold --dep-edges: the warm machine gone, consume --cold == bds-cold --base-hashes == bds-cold" {
	stop_warm_servers
	chmod -R u+w "$BDS_CACHE/local"
	rm -rf "$BDS_CACHE/local"
	git -C "$WS" worktree prune
	t=$(change half <<-'EOF'
		printf "s4\n" > a/s.txt
		sed -i 's|srcs = \[":c2"\]|srcs = [":c2", "//a:c1"]|' b/BUILD
	EOF
	)
	run -0 --separate-stderr bds-consume -w "$WS" --base "$BASE" --target "$t" --store "$STORE" --include-target-type \
		--dep-edges --cold --timings "$BATS_TEST_TMPDIR/t.json"
	half=$output
	echo "$stderr"
	[[ "$stderr" == *"bds-consume: half-cold: base $BASE's hashes from the store entry, only the target is hashed"* ]]
	entry=$(echo "$STORE"/*/"$BASE")
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type --dep-edges \
		--base-hashes "$entry/base_hashes.json"
	same_answer "$output" "$half"
	run -0 --separate-stderr bds-cold -w "$WS" --base "$BASE" --target "$t" --include-target-type --dep-edges
	same_answer "$half" "$output"
	# //b:c3 gained a dep: direct; //c:c4 is one step from it (4 2 in the deep chain)
	run -0 distances "$half"
	[ "$output" = "//a:s.txt 0 0
//b:BUILD 0 0
//a:c1.out 2 0
//b:c2.out 3 1
//b:c3.out 0 0
//c:c4.out 2 1
//a:c0 0 0
//a:c1 1 0
//b:c2 2 1
//b:c3 0 0
//c:c4 1 1" ]
	# --timings counts the distance JSON's labels, not its lines
	[ "$(jq .counts.impacted "$BATS_TEST_TMPDIR/t.json")" = "$(printf '%s\n' "$half" | jq length)" ]
}

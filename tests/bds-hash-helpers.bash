# Helpers for tests/bds-hash.bats and tests/bds-generate-hashes.bats: the fixture
# workspace, the raw query stream, and hand-made streams.

HASH_FIXTURES="$BDS_TOP/tests/fixtures/hash"

# make_proto < spec.json > stream.bin: a hand-made streamed_proto stream.
make_proto() {
	python3 "$HASH_FIXTURES/make-proto.py"
}

# query_stream WS OUT: bazel-diff's exact query (docs/algorithm.md 1.1), raw stream into OUT.
query_stream() {
	printf "%s\n" "'//external:all-targets' + '//...:all-targets'" > "$BATS_TEST_TMPDIR/query.txt"
	(cd "$1" && bazel query --output streamed_proto --proto:instantiation_stack --order_output=no \
		--query_file "$BATS_TEST_TMPDIR/query.txt" > "$2" 2>"$BATS_TEST_TMPDIR/query.err")
}

# hash_fixture_ws DIR EXTDIR: the edit-test workspace. Packages:
#   a/  filegroups and genrules over plain files, a package_group, a tagged genrule and
#       a genrule over @extrepo (a local_repository at EXTDIR/ext1; EXTDIR/ext2 is a copy)
#   m/  a macro in m/macros.bzl and a plain filegroup beside it
#   r/  a rule defined in r/rules.bzl, two instances and a filegroup over one of them
hash_fixture_ws() {
	ws=$1 ext=$2
	for d in ext1 ext2; do
		mkdir -p "$ext/$d"
		printf 'workspace(name = "extrepo")\n' > "$ext/$d/WORKSPACE"
		printf 'exports_files(["f.txt"])\n' > "$ext/$d/BUILD"
		printf 'external\n' > "$ext/$d/f.txt"
	done
	new_workspace "$ws"
	cat >> "$ws/WORKSPACE" <<-WS

	local_repository(
	    name = "extrepo",
	    path = "$ext/ext1",
	)
	WS
	mkdir -p "$ws/a" "$ws/m" "$ws/r"
	printf 'a\n' > "$ws/a/a.txt"
	printf 'b\n' > "$ws/a/b.txt"
	printf 'c\n' > "$ws/a/c.txt"
	cat > "$ws/a/BUILD" <<-'BUILD'
	package_group(name = "friends", packages = ["//a/..."])

	filegroup(name = "srcs", srcs = ["a.txt", "b.txt"], visibility = [":friends"])

	genrule(name = "gen", srcs = [":srcs"], outs = ["gen.out"], cmd = "cat $(SRCS) > $@", tags = ["scan"])

	genrule(name = "gen2", srcs = [":gen.out"], outs = ["gen2.out"], cmd = "cp $< $@")

	filegroup(name = "other", srcs = ["c.txt"])

	genrule(name = "uses_ext", srcs = ["@extrepo//:f.txt"], outs = ["uses_ext.out"], cmd = "cp $< $@")
	BUILD
	cat > "$ws/m/macros.bzl" <<-'BZL'
	def double(name, src):
	    native.genrule(name = name + "_a", srcs = [src], outs = [name + "_a.out"], cmd = "cp $< $@")
	    native.filegroup(name = name + "_fg", srcs = [src])
	BZL
	printf 'x\n' > "$ws/m/x.txt"
	cat > "$ws/m/BUILD" <<-'BUILD'
	load(":macros.bzl", "double")

	double(name = "d", src = "x.txt")

	filegroup(name = "plain", srcs = ["x.txt"])
	BUILD
	cat > "$ws/r/rules.bzl" <<-'BZL'
	def _impl(ctx):
	    out = ctx.actions.declare_file(ctx.label.name + ".txt")
	    ctx.actions.write(out, "hello")
	    return [DefaultInfo(files = depset([out]))]

	myrule = rule(implementation = _impl, attrs = {"dep": attr.label(allow_files = True)})
	BZL
	printf 'y\n' > "$ws/r/y.txt"
	cat > "$ws/r/BUILD" <<-'BUILD'
	load(":rules.bzl", "myrule")

	myrule(name = "one")

	myrule(name = "two")

	filegroup(name = "uses_one", srcs = [":one"])

	filegroup(name = "unrelated", srcs = ["y.txt"])
	BUILD
	commit_all "$ws" base >/dev/null
	git -C "$ws" tag base
}

# reset_ws WS: back to the base commit, untracked files and mode bits included.
reset_ws() {
	git -C "$1" reset -q --hard base
	git -C "$1" clean -q -fd
	find "$1" -path "$1/.git" -prune -o -type f -exec chmod 644 {} +
}

# expect_changed A.json B.json LABEL...: the changed keys are exactly the labels given.
expect_changed() {
	a=$1 b=$2
	shift 2
	actual=$(changed_keys "$a" "$b")
	expected=$(if [ $# -gt 0 ]; then printf '%s\n' "$@" | LC_ALL=C sort; fi)
	if [ "$actual" != "$expected" ]; then
		printf 'changed keys differ\n--- expected\n%s\n--- actual\n%s\n' "$expected" "$actual" >&2
		return 1
	fi
}

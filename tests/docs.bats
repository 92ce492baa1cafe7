# docs/: every "<page>.md N.N" citation in the tree names a section of that page (so that
# renumbering a section fails here until its citations follow), every page is listed in
# docs/README.md, and no comment cites the external spec the pages replaced.

load helpers

setup() {
	cd "$BDS_TOP"
}

# grep_tree ARGS...: grep -r over the source tree (not .git, not a build tree); its status
# 1 (nothing found) is no error, 2 is.
grep_tree() {
	local rc=0
	grep -r --exclude-dir=.git --exclude-dir=build "$@" . || rc=$?
	[ "$rc" -le 1 ]
}

# The pages a citation may name: docs/*.md but the index, as "algorithm|envelope|...".
pages() {
	local p list=""
	for p in docs/*.md; do
		p=${p#docs/}
		p=${p%.md}
		[ "$p" = README ] || list="$list${list:+|}$p"
	done
	printf '%s\n' "$list"
}

@test "every citation of a docs page names a section that exists" {
	list=$(pages)
	[ -n "$list" ]
	grep_tree -noE "\\b($list)\\.md [0-9]+(\\.[0-9]+)*" > "$BATS_TEST_TMPDIR/cites"
	# the code cites the pages (lib/, cmd/, scripts/, tests/): not a test that passes on none
	[ "$(wc -l < "$BATS_TEST_TMPDIR/cites")" -ge 30 ]
	bad=""
	while IFS= read -r line; do
		cite=${line#*:*:}
		page=${cite%%.md *}
		section=${cite#*.md }
		re="^#{2,} $(printf '%s' "$section" | sed 's/\./\\./g')\\.? "
		grep -qE "$re" "docs/$page.md" || bad="$bad${line%:"$cite"}: $cite
"
	done < "$BATS_TEST_TMPDIR/cites"
	[ -z "$bad" ] || { printf 'no such section:\n%s' "$bad"; false; }
}

@test "every docs page is listed in docs/README.md, and every docs/ path named exists" {
	for p in docs/*.md; do
		[ "$p" = docs/README.md ] && continue
		grep -qF "(${p#docs/})" docs/README.md || { echo "not in docs/README.md: $p"; false; }
	done
	grep_tree -ohE "\\bdocs/[A-Za-z0-9_-]+\\.md" > "$BATS_TEST_TMPDIR/paths"
	[ -s "$BATS_TEST_TMPDIR/paths" ]
	while IFS= read -r p; do
		[ -f "$p" ] || { echo "named but missing: $p"; false; }
	done < "$BATS_TEST_TMPDIR/paths"
}

@test "no citation of the external bazel-diff spec is left" {
	grep_tree -nE "\\bspec (section |sections )?[0-9]|spec/bazel-diff-compat" --exclude=docs.bats > "$BATS_TEST_TMPDIR/spec"
	[ ! -s "$BATS_TEST_TMPDIR/spec" ] || { cat "$BATS_TEST_TMPDIR/spec"; false; }
}

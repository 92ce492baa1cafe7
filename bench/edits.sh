# bench/edits.sh: the edits bench/incremental.sh and bench/ab-consume.sh time, as commits on
# a generated workspace's base (their kinds: bench/incremental.sh's header). Sourced with
# `ws` (the workspace) and `dir` (a scratch directory) set; defines edit_commit and edit_rev.
# shellcheck shell=sh disable=SC2154,SC2034 # ws and dir come from, rev and what go to, the sourcing script
# edit_commit NAME PATH SED: the commit (tagged bench-NAME) on base that passes PATH
# through sed's script SED; the same every time (fixed dates).
edit_commit() {
	blob=$(git -C "$ws" show "base:$2" | sed "$3" | git -C "$ws" hash-object -w --stdin)
	[ "$blob" != "$(git -C "$ws" rev-parse "base:$2")" ] || { echo "bench: edit $1 left $2 as it was" >&2; exit 1; }
	GIT_INDEX_FILE=$dir/index git -C "$ws" read-tree base
	GIT_INDEX_FILE=$dir/index git -C "$ws" update-index --cacheinfo "100644,$blob,$2"
	tree=$(GIT_INDEX_FILE=$dir/index git -C "$ws" write-tree)
	rm -f "$dir/index"
	c=$(GIT_AUTHOR_NAME=bds-bench GIT_AUTHOR_EMAIL=bench@bds.invalid GIT_COMMITTER_NAME=bds-bench \
		GIT_COMMITTER_EMAIL=bench@bds.invalid GIT_AUTHOR_DATE=2024-01-03T00:00:00+0000 \
		GIT_COMMITTER_DATE=2024-01-03T00:00:00+0000 git -C "$ws" commit-tree "$tree" -p base -m "bench: $1 edit of $2")
	git -C "$ws" tag -f "bench-$1" "$c" > /dev/null
	echo "$c"
}
# edit_rev EDIT: sets rev to the commit of EDIT in $ws and what to what it edits
edit_rev() {
	lt=$(git -C "$ws" ls-tree --name-only base | sed -n 's/^layer\([0-9]*\)$/\1/p' | sort -n | tail -n 1)
	mid=$((lt / 2)) # gen-workspace's middle layer: its change's source file is there
	deep_src=$(git -C "$ws" diff --name-only base change -- '*.txt' | head -n 1)
	case $1 in
	leaf)
		pkg=$(git -C "$ws" ls-tree --name-only "base:layer$lt" | sort | tail -n 1)
		u=$(git -C "$ws" ls-tree --name-only "base:layer$lt/$pkg" | sed -n 's/^unit\([0-9]*\)\.txt$/\1/p' | sort -n | tail -n 1)
		what=layer$lt/$pkg/unit$u.txt
		# shellcheck disable=SC2016 # sed's $ (the last line)
		rev=$(edit_commit leaf "$what" '$a\
leaf edit') ;;
	deep)
		what="the generated change: $deep_src, and BUILD files"
		rev=$(git -C "$ws" rev-parse 'change^{commit}') ;;
	deepsrc)
		what=$deep_src
		# shellcheck disable=SC2016
		rev=$(edit_commit deepsrc "$what" '$a\
changed') ;;
	build)
		# the middle layer's last package that the deep change's source is not in
		pkg=$(git -C "$ws" ls-tree --name-only "base:layer$mid" | sort | grep -v -x "$(basename "$(dirname "$deep_src")")" | tail -n 1)
		what="layer$mid/$pkg/BUILD: gen0's cmd"
		# shellcheck disable=SC2016 # Bazel's $(SRCS) and $@
		rev=$(edit_commit build "layer$mid/$pkg/BUILD" '0,/cmd = "cat $(SRCS) > $@",/s//cmd = "cat $(SRCS) > $@ \&\& echo build-edit >> $@",/') ;;
	bzl)
		what="tools/defs.bzl (loaded by every package): the macro's genrule cmd"
		# shellcheck disable=SC2016
		rev=$(edit_commit bzl tools/defs.bzl 's/cmd = "cat $(SRCS) > $@",/cmd = "cat $(SRCS) > $@ \&\& echo bzl-edit >> $@",/') ;;
	esac
}


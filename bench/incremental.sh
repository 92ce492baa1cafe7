#!/bin/sh
# incremental.sh: the change-proportional consume next to the full warm one and to cold,
# per kind of edit, on generated workspaces (local driver). Four edit commits on the base:
#   leaf   a source file no rule's output depends on much: the last unit of the last
#          package of the top layer (nothing depends on that layer)
#   deep   the generated "change" commit: a source file of a middle layer (the seed's
#          deep change), a genrule's cmd edited and a new target in other packages
#   build  a BUILD edit: one attribute (gen0's cmd) of a middle-layer package
#   bzl    a .bzl edit: the macro every package loads (tools/defs.bzl): its genrule's
#          cmd, so every package is re-queried and every macro target re-hashed
# (and, by --edits only, deepsrc: the deep change's source file alone). Per edit: bds-cold
# (fresh server), bds-consume --full (today's full warm query) and bds-consume (partial
# when provably exact), each answer byte-compared with bds-cold's (a difference is a loud
# failure: exit 1 at the end, the answers kept); every warm consume starts from a server
# that holds the base graph. Times are medians; the re-hashed count is the consume's
# "partial: re-hashed R of T targets" line (else its "full path: REASON"); bds's own phases
# are the consume less its query, from its stderr's timing lines (the phases --timings
# writes, without the count --timings adds: it reads both hashes files once more).
# A markdown table on stdout; every run in DIR/incremental-runs.tsv, the table's rows in
# DIR/incremental.tsv.
#   bench/incremental.sh [--targets "60000 150000 200000"] [--runs R] [--dir DIR]
#       [--cold-runs C] [--edits "leaf deep build bzl"] [--no-partial]
# --no-partial: the full warm column only (a bds-consume without --full is today's full
# path: it runs as the full column).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=incremental sizes="60000 150000 200000"
cold_runs=1 edits="leaf deep build bzl" partial=1
extra_usage='[--cold-runs C] [--edits "leaf deep deepsrc build bzl"] [--no-partial]'
extra_option() {
	case $1 in
	--cold-runs) [ $# -ge 2 ] && took=2 && cold_runs=$2 ;;
	--edits) [ $# -ge 2 ] && took=2 && edits=$2 ;;
	--no-partial) took=1 partial=0 ;;
	esac
}
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"
case $cold_runs in ''|*[!0-9]*|0) echo "bench/incremental.sh: --cold-runs takes a number from 1" >&2; exit 64 ;; esac
for e in $edits; do
	case $e in leaf|deep|deepsrc|build|bzl) ;; *) echo "bench/incremental.sh: unknown edit '$e' (leaf, deep, deepsrc, build, bzl)" >&2; exit 64 ;; esac
done

# today's bds-consume has no --full: its only warm path is the full one
full_opt=""
! bds-consume --help | grep -q -e '--full' || full_opt=--full
[ -n "$full_opt" ] || [ "$partial" -eq 0 ] || {
	echo "bench/incremental.sh: this bds-consume has no --full (no partial path): use --no-partial" >&2
	exit 64
}

# edit_commit and edit_rev (the edits above, as commits)
# shellcheck source=bench/edits.sh
. "$top/bench/edits.sh"

# warm_query REV: the warm server's bare full query of REV (a consume's starting point:
# a server that holds REV's graph)
warm_query() {
	git -C "$wt" checkout -q --force --detach "$(git -C "$ws" rev-parse "$1^{commit}")"
	(cd "$wt" && bazel --output_base="$ob" query --output streamed_proto \
		--proto:instantiation_stack --order_output=no --query_file "$dir/q.txt" > /dev/null 2>&1)
}
fails=0
# check N EDIT MODE RUN OUT: OUT must equal bds-cold's answer, byte for byte; a difference
# is kept and shown, and fails the run (at its end)
check() {
	if cmp -s "$dir/cold-$1-$2.out" "$5"; then return 0; fi
	kept=$dir/differ-$1-$2-$3-$4.out
	cp "$5" "$kept"
	fails=$((fails + 1))
	{
		echo "bench/incremental.sh: ANSWERS DIFFER at $1 targets, edit $2 ($what): $3 run $4 vs bds-cold"
		echo "    bds-cold's answer: $dir/cold-$1-$2.out ($(wc -l < "$dir/cold-$1-$2.out") lines), $3's: $kept ($(wc -l < "$kept") lines); diff, first lines:"
		diff "$dir/cold-$1-$2.out" "$kept" | head -n 20 | sed 's/^/    /'
	} >&2
	return 1
}
# consume N EDIT MODE RUN REV: one warm consume of REV from the base graph, timed; its
# row in the runs file
consume() {
	log=$dir/log-$1-$2-$3-$4
	warm_query base
	opt=""
	[ "$3" = partial ] || opt=$full_opt
	t0=$(now)
	rc=0
	# shellcheck disable=SC2086 # no option, or one
	bds-consume -w "$ws" --target "$5" --store "$store" $opt > "$dir/warm.out" 2> "$log" || rc=$?
	t1=$(now)
	[ "$rc" -eq 0 ] || { echo "bench/incremental.sh: bds-consume $opt exited $rc at $1 targets, edit $2:" >&2; tail -n 20 "$log" >&2; exit 1; }
	eq=yes
	check "$1" "$2" "$3" "$4" "$dir/warm.out" || eq=NO
	q=$(sed -n 's/^bds-consume: query \([0-9.]*\)s$/\1/p' "$log" | awk '{ s += $1 } END { printf "%.3f", s }')
	p=$(sed -n 's/^bds-generate-hashes: partial: re-hashed \([0-9]*\) of \([0-9]*\) targets (queried \([0-9]*\), packages \([0-9]*\))$/partial	\1	\2	\3	\4/p' "$log" | tail -n 1)
	if [ -z "$p" ]; then
		r=$(sed -n 's/^bds-generate-hashes: full path: //p' "$log" | tail -n 1)
		p=$(printf 'full%s\t\t\t\t' "${r:+: $r}")
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$(echo "$t1 - $t0" | bc)" "$q" "$p" "$eq" >> "$runs_tsv"
}
# col N EDIT MODE FIELD: the median of FIELD (of the runs file) over the runs of MODE
col() {
	awk -F '\t' -v n="$1" -v e="$2" -v m="$3" -v f="$4" '$1 == n && $2 == e && $3 == m { print $f }' "$runs_tsv" | median
}

runs_tsv=$dir/incremental-runs.tsv rows_tsv=$dir/incremental.tsv
printf 'targets\tedit\tmode\trun\tseconds\tquery\tpath\trehashed\tof\tqueried\tpackages\tequal\n' > "$runs_tsv"
printf 'targets\tedit\tpath_edited\timpacted\tcold\tfull\tpartial\tpath\trehashed\tof\tqueried\tpackages\tpartial_query\tpartial_own\tfull_own\tequal\n' > "$rows_tsv"
printf '%s\n' "'//external:all-targets' + '//...:all-targets'" > "$dir/q.txt"
: > "$dir/notes"
echo "| targets | edit | impacted | cold | full warm | partial warm | partial / full | path: re-hashed of targets | queried, packages | partial: its query | partial: bds's own phases | full: bds's own phases | answers equal |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in $sizes; do
	t0=$(now)
	record_base "$n"
	echo "$n: recorded in $(echo "$(now) - $t0" | bc | xargs printf '%.1f') s" >> "$dir/notes"
	ob=$(jq -r '.driver_state.output_base' "$store"/*/*/metadata.json)
	wt=$(dirname "$ob")/worktree
	for e in $edits; do
		edit_rev "$e"
		echo "$n $e: $what ($rev)" >> "$dir/notes"
		i=0
		while [ "$i" -lt "$cold_runs" ]; do
			t0=$(now)
			bds-cold -w "$ws" --base base --target "$rev" > "$dir/cold.out" 2> "$dir/log-$n-$e-cold-$i"
			t1=$(now)
			# the first cold answer is the one every other is compared with
			[ "$i" -gt 0 ] || cp "$dir/cold.out" "$dir/cold-$n-$e.out"
			eq=yes
			check "$n" "$e" cold "$i" "$dir/cold.out" || eq=NO
			printf '%s\t%s\tcold\t%s\t%s\t\t\t\t\t\t\t%s\n' "$n" "$e" "$i" "$(echo "$t1 - $t0" | bc)" "$eq" >> "$runs_tsv"
			i=$((i + 1))
		done
		i=0
		while [ "$i" -lt "$runs" ]; do
			consume "$n" "$e" full "$i" "$rev"
			[ "$partial" -eq 0 ] || consume "$n" "$e" partial "$i" "$rev"
			i=$((i + 1))
		done
		imp=$(wc -l < "$dir/cold-$n-$e.out" | tr -d ' ')
		equal=yes
		! awk -F '\t' -v n="$n" -v e="$e" '$1 == n && $2 == e && $12 != "yes" { bad = 1 } END { exit !bad }' "$runs_tsv" || equal=NO
		c=$(col "$n" "$e" cold 5) f=$(col "$n" "$e" full 5)
		fo=$(awk -F '\t' -v n="$n" -v e="$e" '$1 == n && $2 == e && $3 == "full" { print $5 - $6 }' "$runs_tsv" | median)
		if [ "$partial" -eq 1 ]; then
			p=$(col "$n" "$e" partial 5) pq=$(col "$n" "$e" partial 6)
			po=$(awk -F '\t' -v n="$n" -v e="$e" '$1 == n && $2 == e && $3 == "partial" { print $5 - $6 }' "$runs_tsv" | median)
			# the path of the last partial run (every run's is in the runs file)
			path=$(awk -F '\t' -v n="$n" -v e="$e" '$1 == n && $2 == e && $3 == "partial" { l = $7 "\t" $8 "\t" $9 "\t" $10 "\t" $11 } END { print l }' "$runs_tsv")
		else
			p="" pq="" po="" path=$(printf 'skipped\t\t\t\t')
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$e" "$what" "$imp" "$c" "$f" "$p" "$path" "$pq" "$po" "$fo" "$equal" >> "$rows_tsv"
		tail -n 1 "$rows_tsv" | awk -F '\t' '{
			p = ($7 == "") ? "-" : sprintf("%.2f s", $7)
			ratio = ($7 == "") ? "-" : sprintf("%.2f", $7 / $6)
			rh = ($8 == "partial") ? sprintf("partial: %d of %d", $9, $10) : $8
			qp = ($8 == "partial") ? sprintf("%d, %d", $11, $12) : "-"
			pq = ($7 == "") ? "-" : sprintf("%.2f s", $13)
			po = ($7 == "") ? "-" : sprintf("%.2f s (%.0f %%)", $14, 100 * $14 / $7)
			printf "| %d | %s | %d | %.2f s | %.2f s | %s | %s | %s | %s | %s | %s | %.2f s (%.0f %%) | %s |\n",
				$1, $2, $4, $5, $6, p, ratio, rh, qp, pq, po, $15, 100 * $15 / $6, $16 }'
	done
	shutdown_all
done
echo "(median of $runs warm runs and $cold_runs cold, $(nproc) cores; every warm consume from a server holding the base graph; the edits:)"
sed 's/^/    /' "$dir/notes"
[ "$fails" -eq 0 ] || { echo "bench/incremental.sh: $fails answers differed from bds-cold's (above)" >&2; exit 1; }

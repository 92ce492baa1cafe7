# bench/common.sh: what the benchmarks (consume.sh, clone.sh, half-cold.sh, hash.sh) share.
# Sourced with `top` (the source tree), `bench` (the script's name) and `sizes` (its
# default --targets) set, and optionally `runs` (the default --runs, else 3) and
# `targets_usage` (how the usage names --targets' value, else a list), and for options of
# its own `extra_usage` (their usage) and a function `extra_option "$@"` that sets `took`
# to how many arguments it read (0: not its option): reads the options --targets, --runs
# and --dir (and the script's own); makes the scratch directory; puts this tree's build first
# on PATH; gives the run a BDS_CACHE of its own; defines now, median, record_base and
# shutdown_all, which runs on exit so no warm server outlives it.
# shellcheck shell=sh disable=SC2034,SC2154 # runs and dir are for, top and bench from, the sourcing script
runs=${runs:-3} dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--targets) sizes=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	*)
		took=0
		[ -z "${extra_usage:-}" ] || extra_option "$@"
		if [ "$took" -eq 0 ] || [ "$took" -gt $# ]; then
			echo "usage: bench/$bench.sh [--targets ${targets_usage:-\"N ...\"}] [--runs R] [--dir DIR]${extra_usage:+ $extra_usage}" >&2
			exit 64
		fi
		shift "$took" ;;
	esac
done
[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/bds-bench-$bench
mkdir -p "$dir"
PATH="$top/build/bin:$top/scripts:$PATH"
export PATH
export BDS_CACHE="$dir/cache"
now() { date +%s.%N; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
# record_base N: ws and store for N targets: the generated workspace (made once), and a
# fresh store with its base recorded (bds-record's stderr in record-N.log).
record_base() {
	ws=$dir/ws-$1 store=$dir/store-$1
	[ -d "$ws/.git" ] || "$top/bench/gen-workspace" "$ws" --targets "$1" >/dev/null
	rm -rf "$store"
	bds-record -w "$ws" --base base --store "$store" 2>"$dir/record-$1.log"
}
shutdown_all() {
	for ob in "$BDS_CACHE"/local/*/*/output_base; do
		if [ -d "$ob" ]; then bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true; fi
	done
}
trap shutdown_all EXIT

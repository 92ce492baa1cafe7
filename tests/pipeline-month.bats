# A month of merges on one CI runner, simulated: every day a new base is recorded with
# --keep-warm 2 and a pull request on it is consumed. The runner never holds more than two
# warm Bazel servers, and every consume stays warm and exact.
#
# BDS_MONTH_DAYS sets the number of days. The default, 10, keeps the file within about
# 4 minutes on a loaded 2-core runner (each day records, consumes and runs bds-cold, which
# starts a Bazel server of its own); BDS_MONTH_DAYS=30 is the whole month (12 minutes on
# the same runner).

load helpers
load warm-helpers

setup_file() {
	warm_setup
}

setup() {
	warm_path
}

teardown_file() {
	shutdown_all
}

@test "a month simulated: a record a day with --keep-warm 2, at most 2 live servers, every consume warm and exact" {
	days=${BDS_MONTH_DAYS:-10}
	echo "# $days days" >&3
	for day in $(seq 1 "$days"); do
		TIP=$(next_base "$day")
		run -0 --separate-stderr bds-record -w "$WS" --base "$TIP" --store "$STORE" --keep-warm 2
		fp=$(cd "$BDS_CACHE/local" && echo *)
		# after every record: the newest two are warm, the rest retired
		want=2
		[ "$day" -ge 2 ] || want=1
		[ "$(live_servers | wc -l)" -eq "$want" ]
		[ "$(server_processes | wc -l)" -eq "$want" ]
		[ "$(states | wc -l)" -eq "$want" ]
		[ -d "$BDS_CACHE/local/$fp/$TIP/worktree" ]
		[ "$(git -C "$WS" worktree list | wc -l)" -eq $((want + 1)) ]

		# PRUNE: fleet-prune's `bds-prune --keep 3` step per store backend goes here,
		# followed by its check of at most 3 entries per backend.

		pr=$(pr_of "$TIP")
		run -0 --separate-stderr bds-consume -w "$WS" --target "$pr" --store "$STORE"
		warm=$output
		run -0 --separate-stderr bds-cold -w "$WS" --base "$TIP" --target "$pr"
		[ -n "$output" ]
		if [ "$warm" != "$output" ]; then
			printf 'day %s: warm and cold answers differ\n--- cold\n%s\n--- warm\n%s\n' "$day" "$output" "$warm" >&2
			false
		fi
	done
	# nothing of the month outlives it once its warm servers are shut down
	shutdown_all
	[ "$(server_processes "$BATS_FILE_TMPDIR")" = "" ]
}

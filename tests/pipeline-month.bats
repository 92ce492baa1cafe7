# A month of merges on one CI runner, simulated: every day a new base is recorded with
# --keep-warm 2, the store is pruned to 3 entries (bds-prune --keep 3), and a pull request
# on the new base is consumed with the cache capped (BDS_CACHE_MAX). The runner never
# holds more than two warm Bazel servers, the store more than 3 entries, the cache more
# than its cap, and every consume stays warm and exact. (tests/bds-prune.bats runs the
# same month on all three store backends, without Bazel.)
#
# BDS_MONTH_DAYS sets the number of days. The default, 4, is the shortest month that
# retires warm servers (from day 3) and prunes the store (from day 4), and keeps `make
# check` short: each day records, consumes and runs bds-cold, which starts a Bazel server
# of its own. `make check-month` runs the whole month, 30 days (8 minutes here).

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
	days=${BDS_MONTH_DAYS:-4}
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
		# the warm states' worktrees are repositories of their own
		[ "$(git -C "$WS" worktree list | wc -l)" -eq 1 ]

		# the store keeps the newest 3 entries, today's among them
		run -0 bds-prune --store "$STORE" --keep 3
		kept=3
		[ "$day" -ge 3 ] || kept=$day
		[ "$(ls "$STORE/$fp" | wc -l)" -eq "$kept" ]
		[ -f "$STORE/$fp/$TIP/metadata.json" ]

		pr=$(pr_of "$TIP")
		run -0 --separate-stderr bds-consume -w "$WS" --target "$pr" --store "$STORE"
		warm=$output
		# the cache: capped from day 2 at twice the first day's copy; never over its cap
		if [ "$day" -eq 1 ]; then
			first=$(bds-prune --cache "$BDS_CACHE" --cache-max 1T --dry-run | sed -n 's/^cache .*: \([0-9]*\) bytes, cap .*/\1/p')
			[ "$first" -gt 0 ]
			BDS_CACHE_MAX=$((first * 2))
			export BDS_CACHE_MAX
		fi
		run -0 bds-prune --cache "$BDS_CACHE" --cache-max "$BDS_CACHE_MAX" --dry-run
		[[ "${lines[${#lines[@]} - 1]}" =~ ^"cache $BDS_CACHE: "[0-9]+" bytes, cap $BDS_CACHE_MAX"$ ]]
		bytes=$(sed -n 's/^cache .*: \([0-9]*\) bytes, cap .*/\1/p' <<<"$output")
		[ "$bytes" -le "$BDS_CACHE_MAX" ]
		[[ "$output" != *"would evict"* ]]
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

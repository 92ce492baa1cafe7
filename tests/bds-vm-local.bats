# bds-vm-restore and bds-vm-snapshot with the local driver: envelope rules, boot, locks,
# reattach or cold, and the staged entry.

load helpers

setup() {
	export BDS_CACHE="$BATS_TEST_TMPDIR/cache"
	WS="$BATS_TEST_TMPDIR/ws"
	new_workspace "$WS"
	printf 'genrule(name = "g", srcs = [], outs = ["g.out"], cmd = "echo > $@")\n' > "$WS/BUILD"
	BASE=$(commit_all "$WS" base)
	bds-fingerprint -w "$WS" > "$BATS_TEST_TMPDIR/fp.json"
	FP=$(jq -r .fingerprint.key "$BATS_TEST_TMPDIR/fp.json")
	STATE="$BDS_CACHE/local/$FP/$BASE"
	COLD='{"cold":{"reason":"r","stage":"bds-store-lookup"},"driver":"local"}'
}

teardown() {
	[ -d "$STATE/output_base" ] && bazel --output_base="$STATE/output_base" shutdown >/dev/null 2>&1 || true
	[ -z "${SLEEPER:-}" ] || kill "$SLEEPER" 2>/dev/null || true
}

boot() {
	bds-vm-restore --base "$BASE" --lock-owner "${1:-$$}" --lock-timeout "${2:-0.3}" < "$BATS_TEST_TMPDIR/fp.json"
}

# a consume-mode envelope whose snapshot points at the local state
snapshot_envelope() {
	jq -c --arg b "$BASE" --arg s "$STATE" --arg fp "$FP" \
		'. + {snapshot: {base: $b, fingerprint: $fp, dir: "/nonexistent",
		       metadata: {driver_state: {state_dir: $s}}}}' "$BATS_TEST_TMPDIR/fp.json"
}

@test "cold envelopes pass through both filters byte for byte, exit 2" {
	run -2 --separate-stderr bds-vm-restore <<<"$COLD"
	[ "$output" = "$COLD" ]
	run -2 --separate-stderr bds-vm-snapshot --base-hashes /nonexistent <<<"$COLD"
	[ "$output" = "$COLD" ]
}

@test "empty or invalid input exits 1, never 2" {
	run -1 --separate-stderr bds-vm-restore --base "$BASE" < /dev/null
	[[ "$stderr" == *"empty input (the upstream stage failed)"* ]]
	run -1 --separate-stderr bds-vm-snapshot --base-hashes x <<<'{"a":'
	[ "$output" = "" ]
}

@test "usage errors exit 64" {
	run -64 bds-vm-restore --bogus < "$BATS_TEST_TMPDIR/fp.json"
	run -64 bds-vm-restore --base abc < "$BATS_TEST_TMPDIR/fp.json"
	run -64 --separate-stderr bds-vm-restore < "$BATS_TEST_TMPDIR/fp.json"
	[[ "$stderr" == *"no snapshot in the envelope and no --base"* ]]
	run -64 bds-vm-snapshot < "$BATS_TEST_TMPDIR/fp.json"
}

@test "boot: a worktree at the base commit, the lock held by the owner, the exact vm" {
	run -0 --separate-stderr boot 4242
	run -0 jq -c .vm <<<"$output"
	expected=$(jq -ncS --arg b "$BASE" --arg s "$STATE" '{bazel: "bazel", base: $b, driver: "local",
		lock: ($s + "/lock"), output_base: ($s + "/output_base"), startup_options: ["--output_base=" + $s + "/output_base"],
		state_dir: $s, worktree: ($s + "/worktree")}')
	[ "$output" = "$expected" ]
	[ "$(git -C "$STATE/worktree" rev-parse HEAD)" = "$BASE" ]
	[ "$(cat "$STATE/lock/owner")" = "4242" ]
}

@test "boot: a lock held by a live process makes it fail, a stale one is taken over" {
	sleep 30 &
	SLEEPER=$!
	run -0 boot "$SLEEPER"
	run -1 --separate-stderr boot "$$"
	[[ "$stderr" == *"is busy (lock '$STATE/lock')"* ]]
	kill "$SLEEPER"
	wait "$SLEEPER" 2>/dev/null || true
	run -0 boot "$$"
	[ "$(cat "$STATE/lock/owner")" = "$$" ]
}

@test "restore: cold without its state or server, warm once it runs, cold while busy" {
	run -0 boot 1
	rm -rf "$STATE/lock"
	run -2 --separate-stderr bds-vm-restore --lock-owner $$ < <(snapshot_envelope)
	[ "$(jq -r .cold.reason <<<"$output")" = "the local warm state of $FP/$BASE is gone (no '$STATE/output_base')" ]
	(cd "$STATE/worktree" && bazel --output_base="$STATE/output_base" query //... >/dev/null 2>&1)
	bazel --output_base="$STATE/output_base" shutdown >/dev/null 2>&1
	run -2 --separate-stderr bds-vm-restore --lock-owner $$ < <(snapshot_envelope)
	run -0 jq -r '.cold.stage + ": " + .cold.reason' <<<"$output"
	[ "$output" = "bds-vm-restore: the local warm Bazel server of $FP/$BASE is gone (output base '$STATE/output_base')" ]
	(cd "$STATE/worktree" && bazel --output_base="$STATE/output_base" query //... >/dev/null 2>&1)
	run -0 --separate-stderr bds-vm-restore --lock-owner $$ < <(snapshot_envelope)
	[ "$(jq -r .vm.worktree <<<"$output")" = "$STATE/worktree" ]
	run -2 --separate-stderr bds-vm-restore --lock-owner $$ --lock-timeout 0.2 < <(snapshot_envelope)
	[[ "$(jq -r .cold.reason <<<"$output")" == *"stayed busy for 0s (lock '$STATE/lock')" ]]
}

@test "snapshot: the staged entry holds exactly base_hashes.json and the live server" {
	boot 1 > "$BATS_TEST_TMPDIR/vm.json"
	printf '{"//:g": "x~y"}' > "$BATS_TEST_TMPDIR/h.json"
	run -1 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" < "$BATS_TEST_TMPDIR/vm.json"
	[ "$stderr" = "bds-vm-snapshot: no live Bazel server for output base '$STATE/output_base': the warm-up query did not run" ]
	(cd "$STATE/worktree" && bazel --output_base="$STATE/output_base" query //... >/dev/null 2>&1)
	run -0 --separate-stderr bds-vm-snapshot --base-hashes "$BATS_TEST_TMPDIR/h.json" < "$BATS_TEST_TMPDIR/vm.json"
	dir=$(jq -r .entry.dir <<<"$output")
	[ "$(ls -A "$dir")" = "base_hashes.json" ]
	cmp "$BATS_TEST_TMPDIR/h.json" "$dir/base_hashes.json"
	rm -rf "$dir"
	pid=$(cat "$STATE/output_base/server/server.pid.txt")
	run -0 jq -c '.entry | del(.dir)' <<<"$output"
	expected=$(jq -ncS --arg b "$BASE" --arg fp "$FP" --arg s "$STATE" --arg h "$(hostname)" --argjson p "$pid" \
		'{base: $b, driver: "local", fingerprint: $fp,
		  metadata: {host: $h, output_base: ($s + "/output_base"), server_pid: $p, state_dir: $s}}')
	[ "$output" = "$expected" ]
}

# Helpers for tests/bds-vm-local.bats: a tiny workspace, its fingerprint envelope and the
# local driver's state directory under a per-test BDS_CACHE.

# vm_local_setup: WS (one genrule, committed as BASE), FPJSON (its envelope), FP, STATE.
vm_local_setup() {
	export BDS_CACHE="$BATS_TEST_TMPDIR/cache"
	WS="$BATS_TEST_TMPDIR/ws"
	new_workspace "$WS"
	printf 'genrule(name = "g", srcs = [], outs = ["g.out"], cmd = "echo > $@")\n' > "$WS/BUILD"
	BASE=$(commit_all "$WS" base)
	FPJSON="$BATS_TEST_TMPDIR/fp.json"
	bds-fingerprint -w "$WS" > "$FPJSON"
	FP=$(jq -r .fingerprint.key "$FPJSON")
	STATE="$BDS_CACHE/local/$FP/$BASE"
	STAGING="$BATS_TEST_TMPDIR/staging"
	mkdir -p "$STAGING"
}

# vm_local_teardown: the state's Bazel server, a background sleeper, staging dirs.
vm_local_teardown() {
	if [ -d "$STATE/output_base" ]; then
		(cd "${STATE}/worktree" 2>/dev/null || cd "$WS"
		 bazel --output_base="$STATE/output_base" shutdown >/dev/null 2>&1) || true
	fi
	if [ -n "${SLEEPER:-}" ]; then
		kill "$SLEEPER" 2>/dev/null || true
		wait "$SLEEPER" 2>/dev/null || true
	fi
	rm -rf "$STAGING"
}

# start_server: the warm-up query that starts the state's Bazel server.
start_server() {
	(cd "$STATE/worktree" && bazel --output_base="$STATE/output_base" query //... >/dev/null 2>&1)
}

stop_server() {
	(cd "$STATE/worktree" && bazel --output_base="$STATE/output_base" shutdown >/dev/null 2>&1)
}

# boot [OWNER [TIMEOUT]]: record-mode bds-vm-restore of BASE.
boot() {
	bds-vm-restore --base "$BASE" --lock-owner "${1:-$$}" --lock-timeout "${2:-0.3}" < "$FPJSON"
}

# snapshot_envelope: a consume-mode envelope whose snapshot points at the local state.
snapshot_envelope() {
	jq -c --arg b "$BASE" --arg s "$STATE" --arg fp "$FP" \
		'. + {snapshot: {base: $b, fingerprint: $fp, dir: "/nonexistent",
		       metadata: {driver_state: {state_dir: $s}}}}' "$FPJSON"
}

# expected_vm: the exact vm object for STATE (sorted keys, one line).
expected_vm() {
	jq -ncS --arg b "$BASE" --arg s "$STATE" '{bazel: "bazel", base: $b, driver: "local",
		lock: ($s + "/lock"), output_base: ($s + "/output_base"),
		startup_options: ["--output_base=" + $s + "/output_base"],
		state_dir: $s, worktree: ($s + "/worktree")}'
}

# expected_cold REASON: the snapshot envelope plus the cold object of bds-vm-restore.
expected_cold() {
	snapshot_envelope | jq -cS --arg r "$1" '. + {cold: {stage: "bds-vm-restore", reason: $r}}'
}

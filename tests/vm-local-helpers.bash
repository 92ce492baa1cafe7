# Helpers for tests/bds-vm-local.bats: a tiny workspace, its fingerprint envelope, the
# local driver's state directory under a per-test BDS_CACHE, and a store entry of it.

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
	make_entry
	start_owner
	KEEPERS=""
	STRAYS=""
}

# vm_local_teardown: the pipeline owners, then their keepers (which follow them within a
# poll interval), the state's Bazel server, staging dirs.
vm_local_teardown() {
	stop_owner
	zombie_done
	if [ -n "${OTHER:-}" ]; then
		kill "$OTHER" 2>/dev/null || true
		wait "$OTHER" 2>/dev/null || true
	fi
	local k
	for k in $STRAYS; do
		kill -KILL "$k" 2>/dev/null || true
		wait "$k" 2>/dev/null || true
	done
	for k in $KEEPERS; do wait_gone "$k" 10 >/dev/null || true; done
	if [ -d "$STATE/output_base" ]; then
		(cd "${STATE}/worktree" 2>/dev/null || cd "$WS"
		 bazel --output_base="$STATE/output_base" shutdown >/dev/null 2>&1) || true
	fi
	rm -rf "$STAGING"
}

# start_server: the warm-up query that starts the state's Bazel server.
start_server() {
	(cd "$STATE/worktree" && bazel --output_base="$STATE/output_base" query //... >/dev/null 2>&1)
}

# start_server_booted: a booted state whose server runs, its keeper stopped (the lock free).
start_server_booted() {
	local k
	k=$(boot | jq -r .vm.keeper_pid) || return 1
	kill -TERM "$k"
	wait_gone "$k" 5 >/dev/null || return 1
	start_server
}

stop_server() {
	(cd "$STATE/worktree" && bazel --output_base="$STATE/output_base" shutdown >/dev/null 2>&1)
}

# stray DIR: STRAY, a process working in DIR (as a killed pipeline's checkout would be),
# killed by the teardown if it is still there. Status 1 unless it is there within 2 s.
stray() {
	local dir _
	dir=$(cd "$1" && pwd -P) || return 1
	(cd "$dir" && exec sleep 100000) 3>&- &
	STRAY=$!
	STRAYS="$STRAYS $STRAY"
	for _ in $(seq 100); do
		[ "$(readlink "/proc/$STRAY/cwd")" = "$dir" ] && return 0
		sleep 0.02
	done
	return 1
}

# boot [OWNER [TIMEOUT]]: record-mode bds-vm-restore of BASE for pipeline OWNER.
boot() {
	bds-vm-restore --base "$BASE" --lock-owner "${1:-$OWNER}" --lock-timeout "${2:-0.3}" < "$FPJSON"
}

# make_entry: ENTRY, a store entry of the local state as bds-store-lookup leaves it in the
# cache: base_hashes.json and its metadata (files: name -> size, xxh3_128).
make_entry() {
	ENTRY=$BATS_TEST_TMPDIR/entry
	mkdir -p "$ENTRY"
	printf '{"//:g": "x~y"}' > "$ENTRY/base_hashes.json"
	jq -cn --arg b "$BASE" --arg s "$STATE" --arg fp "$FP" --argjson n "$(stat -c %s "$ENTRY/base_hashes.json")" \
		'{base: $b, fingerprint: $fp, driver: "local", format: 1, driver_state: {state_dir: $s},
		  files: {"base_hashes.json": {size: $n, xxh3_128: "5d34f543a5a36c499b56ecf85b757ce4"}}}' \
		> "$ENTRY/metadata.json"
}

# snapshot_envelope: a consume-mode envelope whose snapshot is ENTRY, of the local state.
snapshot_envelope() {
	jq -c --arg b "$BASE" --arg fp "$FP" --arg d "$ENTRY" --slurpfile m "$ENTRY/metadata.json" \
		'. + {snapshot: {base: $b, fingerprint: $fp, dir: $d, metadata: $m[0]}}' "$FPJSON"
}

# expected_vm: the exact vm object for STATE but its keeper_pid (sorted keys, one line).
expected_vm() {
	jq -ncS --arg b "$BASE" --arg s "$STATE" '{bazel: "bazel", base: $b, driver: "local",
		lock: ($s + "/state.lock"), output_base: ($s + "/output_base"),
		startup_options: ["--output_base=" + $s + "/output_base"],
		state_dir: $s, worktree: ($s + "/worktree")}'
}

# keeper_of ENVELOPE: KEEPER, its vm.keeper_pid, remembered for the teardown.
keeper_of() {
	KEEPER=$(jq -r '.vm.keeper_pid' <<<"$1")
	KEEPERS="$KEEPERS $KEEPER"
}

# vm_of ENVELOPE: its vm without keeper_pid (sorted keys, one line).
vm_of() {
	jq -cS '.vm | del(.keeper_pid)' <<<"$1"
}

# expected_cold REASON: the snapshot envelope plus the cold object of bds-vm-restore.
expected_cold() {
	snapshot_envelope | jq -cS --arg r "$1" '. + {cold: {stage: "bds-vm-restore", reason: $r}}'
}

# entry_listing: every file of ENTRY with its mode, size and sha256, to compare before and after.
entry_listing() {
	(cd "$ENTRY" && find . -print0 | sort -z | xargs -0 stat -c '%n %a %s' && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

# tests/firecracker/firecracker-standin: the stand-in for the firecracker binary that the
# Firecracker driver's tests run (no KVM here). These tests pin its contract: what it
# accepts, what it refuses and why, what it logs, and its failure-injection knobs.

load helpers

FC=$BDS_TOP/tests/firecracker/firecracker-standin

setup() {
	T=$(cd "$BATS_TEST_TMPDIR" && pwd -P)
	cd "$T"
	BG_PIDS=
	: > rootfs.ext4
	: > vmlinux
}

teardown() {
	stop_background
}

# start_fc NAME [firecracker arguments]: the stand-in on NAME.sock, logging to NAME.log, in
# the background (pid in PID_<NAME>); returns once the socket exists.
start_fc() {
	local name=$1 _
	shift
	FC_STANDIN_LOG=$T/$name.log "$FC" --api-sock "$name.sock" "$@" 2> "$name.err" &
	eval "PID_$name=$!"
	BG_PIDS="$BG_PIDS $!"
	for _ in $(seq 100); do
		[ -S "$name.sock" ] && return 0
		sleep 0.05
	done
	echo "the stand-in did not create $name.sock" >&2
	return 1
}

# api SOCK METHOD PATH [BODY]: one request; prints the status, then the reply body if any.
api() {
	local status
	status=$(curl -sS --max-time 5 --unix-socket "$1" -X "$2" "http://localhost$3" \
		-H 'Content-Type: application/json' -H 'Expect:' ${4+--data-binary "$4"} \
		-o "$T/reply" -w '%{http_code}') || return
	if [ -s "$T/reply" ]; then
		printf '%s %s\n' "$status" "$(cat "$T/reply")"
	else
		printf '%s\n' "$status"
	fi
}

# ok SOCK METHOD PATH [BODY]: a request that must answer 204.
ok() {
	local got
	got=$(api "$@")
	[ "$got" = 204 ] || { echo "$2 $3: $got" >&2; return 1; }
}

# req METHOD PATH BODY STATUS [FAULT]: the log line of a request.
req() {
	if [ $# = 5 ]; then
		printf '{"method":"%s","path":"%s","body":%s,"status":%s,"fault":"%s"}\n' "$@"
	else
		printf '{"method":"%s","path":"%s","body":%s,"status":%s}\n' "$@"
	fi
}

# fault MESSAGE: a 400 answer as the stand-in prints it through api.
fault() {
	printf '400 {"fault_message": "%s"}\n' "$1"
}

# reap PID: waits for PID (a child of this shell, so not in a $(...)); its status in RC.
reap() {
	RC=0
	wait "$1" || RC=$?
}

MC='{"vcpu_count":2,"mem_size_mib":8}'
BOOT='{"kernel_image_path":"vmlinux","boot_args":"console=ttyS0 reboot=k"}'
ROOTFS='{"drive_id":"rootfs","path_on_host":"rootfs.ext4","is_root_device":true,"is_read_only":false}'
ETH0='{"iface_id":"eth0","host_dev_name":"bds-tap0","guest_mac":"06:00:0a:00:02:0f"}'
START='{"action_type":"InstanceStart"}'
DESER="An error occurred when deserializing the json body of a request"

# boot NAME: a configured and started microVM.
boot() {
	ok "$1.sock" PUT /machine-config "$MC"
	ok "$1.sock" PUT /boot-source "$BOOT"
	ok "$1.sock" PUT /drives/rootfs "$ROOTFS"
	ok "$1.sock" PUT /actions "$START"
}

# ---------------------------------------------------------------- the command line

@test "--version and --snapshot-version print what Firecracker v1.16.1 prints" {
	run -0 "$FC" --version
	[ "$output" = "Firecracker v1.16.1" ]
	"$FC" --version > got
	printf 'Firecracker v1.16.1\n\n' > want
	cmp want got
	run -0 "$FC" --snapshot-version
	[ "$output" = v8.0.0 ]
}

@test "an argument firecracker does not know: 153, as Firecracker's argument parser" {
	run -153 "$FC" --api-sock x.sock --bogus
	[ "${lines[0]}" = "Error: Arguments parsing error: Found argument '--bogus' which wasn't expected, or isn't valid in this context." ]
	[ ! -e x.sock ]
}

@test "an existing socket path is refused: exit 1, the path stays as it was" {
	: > api.sock
	FC_STANDIN_LOG=$T/fc.log run -1 "$FC" --api-sock api.sock --id vm1
	[ "$output" = "Error: RunWithApi(FailedToBindSocket): Failed to open the API socket at: api.sock. Check that it is not already used." ]
	[ -f api.sock ]
	cat > want <<-EOF
		{"event":"start","argv":["--api-sock","api.sock","--id","vm1"],"cwd":"$T"}
		{"event":"exit","code":1,"reason":"the API socket path exists"}
	EOF
	diff want fc.log
}

@test "a socket left by a killed stand-in is refused too" {
	start_fc a
	kill "$PID_a"
	reap "$PID_a"
	[ "$RC" = 143 ]
	run -1 "$FC" --api-sock a.sock
	[ "$output" = "Error: RunWithApi(FailedToBindSocket): Failed to open the API socket at: a.sock. Check that it is not already used." ]
	[ -S a.sock ]
}

# ---------------------------------------------------------------- the normal path

@test "a full boot, snapshot and restore, logged exactly" {
	start_fc a --id vm-a --boot-timer
	ok a.sock PUT /machine-config "$MC"
	ok a.sock PUT /boot-source "$BOOT"
	ok a.sock PUT /drives/rootfs "$ROOTFS"
	ok a.sock PUT /network-interfaces/eth0 "$ETH0"
	run -0 api a.sock GET /
	[ "$output" = '200 {"id": "vm-a", "state": "Not started", "vmm_version": "1.16.1", "app_name": "Firecracker"}' ]
	ok a.sock PUT /actions "$START"
	ok a.sock PATCH /vm '{"state":"Paused"}'
	mkdir snap
	ok a.sock PUT /snapshot/create '{"snapshot_path":"snap/state","mem_file_path":"snap/mem"}'
	run -0 api a.sock GET /
	[ "$output" = '200 {"id": "vm-a", "state": "Paused", "vmm_version": "1.16.1", "app_name": "Firecracker"}' ]
	kill "$PID_a"
	reap "$PID_a"
	[ "$RC" = 143 ]
	# the guest memory: a sparse file of mem_size_mib MiB
	[ "$(stat -c %s snap/mem)" = 8388608 ]
	[ "$(stat -c %b snap/mem)" = 0 ]

	cp rootfs.ext4 restore-1.ext4
	start_fc b --id vm-b
	ok b.sock PUT /metrics '{"metrics_path":"metrics.fifo"}'
	LOAD='{"snapshot_path":"snap/state","mem_backend":{"backend_type":"File","backend_path":"snap/mem"},"network_overrides":[{"iface_id":"eth0","host_dev_name":"bds-tap1"}],"resume_vm":false}'
	ok b.sock PUT /snapshot/load "$LOAD"
	run -0 api b.sock GET /
	[ "$output" = '200 {"id": "vm-b", "state": "Paused", "vmm_version": "1.16.1", "app_name": "Firecracker"}' ]
	ok b.sock PATCH /drives/rootfs '{"drive_id":"rootfs","path_on_host":"restore-1.ext4"}'
	ok b.sock PATCH /vm '{"state":"Resumed"}'
	run -0 api b.sock GET /vm/config
	[ "$output" = '200 {"machine-config": {"vcpu_count": 2, "mem_size_mib": 8, "smt": false, "track_dirty_pages": false, "huge_pages": "None"}, "drives": [{"drive_id": "rootfs", "path_on_host": "restore-1.ext4", "is_root_device": true, "is_read_only": false}], "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "bds-tap1", "guest_mac": "06:00:0a:00:02:0f"}], "metrics": {"metrics_path": "metrics.fifo"}}' ]
	kill "$PID_b"
	reap "$PID_b"
	[ "$RC" = 143 ]
	# the memory the restored guest wrote was a private mapping: the file is as it was
	[ "$(stat -c %b snap/mem)" = 0 ]
	cmp snap/mem <(head -c 8388608 /dev/zero)

	{
		echo "{\"event\":\"start\",\"argv\":[\"--api-sock\",\"a.sock\",\"--id\",\"vm-a\",\"--boot-timer\"],\"cwd\":\"$T\"}"
		req PUT /machine-config "$MC" 204
		req PUT /boot-source "$BOOT" 204
		req PUT /drives/rootfs "$ROOTFS" 204
		req PUT /network-interfaces/eth0 "$ETH0" 204
		req GET / null 200
		echo "{\"event\":\"opened_drive\",\"drive_id\":\"rootfs\",\"path\":\"$T/rootfs.ext4\"}"
		req PUT /actions "$START" 204
		req PATCH /vm '{"state":"Paused"}' 204
		req PUT /snapshot/create '{"snapshot_path":"snap/state","mem_file_path":"snap/mem"}' 204
		req GET / null 200
		echo '{"event":"exit","signal":"SIGTERM"}'
	} > want
	diff want a.log
	{
		echo "{\"event\":\"start\",\"argv\":[\"--api-sock\",\"b.sock\",\"--id\",\"vm-b\"],\"cwd\":\"$T\"}"
		req PUT /metrics '{"metrics_path":"metrics.fifo"}' 204
		echo "{\"event\":\"mapped_memory\",\"path\":\"$T/snap/mem\",\"open\":\"O_RDONLY\",\"map\":\"MAP_PRIVATE\"}"
		echo "{\"event\":\"opened_drive\",\"drive_id\":\"rootfs\",\"path\":\"$T/rootfs.ext4\"}"
		req PUT /snapshot/load "$LOAD" 204
		req GET / null 200
		echo "{\"event\":\"opened_drive\",\"drive_id\":\"rootfs\",\"path\":\"$T/restore-1.ext4\"}"
		req PATCH /drives/rootfs '{"drive_id":"rootfs","path_on_host":"restore-1.ext4"}' 204
		req PATCH /vm '{"state":"Resumed"}' 204
		req GET /vm/config null 200
		echo '{"event":"exit","signal":"SIGTERM"}'
	} > want
	diff want b.log
}

@test "resume_vm true: Running at once; a restored VM snapshots again, with its patched drive" {
	start_fc a
	boot a
	ok a.sock PATCH /vm '{"state":"Paused"}'
	ok a.sock PUT /snapshot/create '{"snapshot_path":"s1","mem_file_path":"m1"}'
	cp rootfs.ext4 copy.ext4
	start_fc b
	ok b.sock PUT /snapshot/load '{"snapshot_path":"s1","mem_backend":{"backend_type":"File","backend_path":"m1"},"resume_vm":true}'
	run -0 api b.sock GET /
	[ "$output" = '200 {"id": "anonymous-instance", "state": "Running", "vmm_version": "1.16.1", "app_name": "Firecracker"}' ]
	ok b.sock PATCH /drives/rootfs '{"drive_id":"rootfs","path_on_host":"copy.ext4"}'
	ok b.sock PATCH /vm '{"state":"Paused"}'
	ok b.sock PUT /snapshot/create '{"snapshot_path":"s2","mem_file_path":"m2"}'
	run -0 jq -c '.drives' s2
	[ "$output" = '[{"drive_id":"rootfs","path_on_host":"copy.ext4","is_root_device":true,"is_read_only":false}]' ]
}

@test "HTTP/1.1 keep-alive: one connection serves many requests" {
	start_fc a
	curl -sSv --unix-socket a.sock -H 'Expect:' -H 'Content-Type: application/json' \
		http://localhost/version \
		--next --unix-socket a.sock -H 'Expect:' -X PUT -d "$MC" http://localhost/machine-config \
		--next --unix-socket a.sock http://localhost/machine-config > out 2> verbose
	[ "$(grep -c 'Re-using existing connection' verbose)" = 2 ]
	[ "$(cat out)" = '{"firecracker_version": "1.16.1"}{"vcpu_count": 2, "mem_size_mib": 8, "smt": false, "track_dirty_pages": false, "huge_pages": "None"}' ]
	[ "$(wc -l < a.log)" = 4 ]
}

@test "the logger level is case-insensitive, as the spec says; logger and metrics still allow a load" {
	start_fc a
	ok a.sock PUT /logger '{"level":"debug","log_path":"fc.log"}'
	run -0 api a.sock PUT /logger '{"level":"Loud"}'
	[ "$output" = "$(fault "$DESER: body.level: \\\"Loud\\\" is not one of: Error, Warning, Info, Debug, Trace, Off.")" ]
	run -0 api a.sock PUT /snapshot/load '{"snapshot_path":"none","mem_backend":{"backend_type":"File","backend_path":"none"}}'
	[ "$output" = "$(fault "Load snapshot error: Failed to restore from snapshot: cannot read the snapshot state file 'none': No such file or directory")" ]
}

# ---------------------------------------------------------------- refused by the spec

@test "unknown field, also nested: 400 naming it" {
	start_fc a
	run -0 api a.sock PUT /machine-config '{"vcpu_count":2,"mem_size_mib":8,"ht_enabled":true}'
	[ "$output" = "$(fault "$DESER: body: unknown field \`ht_enabled\`, expected one of: \`cpu_template\`, \`smt\`, \`mem_size_mib\`, \`track_dirty_pages\`, \`vcpu_count\`, \`huge_pages\`.")" ]
	run -0 api a.sock PUT /drives/rootfs '{"drive_id":"rootfs","path_on_host":"rootfs.ext4","is_root_device":true,"rate_limiter":{"bandwidth":{"size":1,"refill_time":1,"burst":2}}}'
	[ "$output" = "$(fault "$DESER: body.rate_limiter.bandwidth: unknown field \`burst\`, expected one of: \`one_time_burst\`, \`refill_time\`, \`size\`.")" ]
	[ "$(sed -n 2p a.log)" = "$(req PUT /machine-config '{"vcpu_count":2,"mem_size_mib":8,"ht_enabled":true}' 400 "$DESER: body: unknown field \`ht_enabled\`, expected one of: \`cpu_template\`, \`smt\`, \`mem_size_mib\`, \`track_dirty_pages\`, \`vcpu_count\`, \`huge_pages\`.")" ]
}

@test "wrong types: string for integer, number for integer, null, nested" {
	start_fc a
	run -0 api a.sock PUT /machine-config '{"vcpu_count":"2","mem_size_mib":8}'
	[ "$output" = "$(fault "$DESER: body.vcpu_count: expected integer, got string \\\"2\\\".")" ]
	run -0 api a.sock PUT /machine-config '{"vcpu_count":2,"mem_size_mib":8.0}'
	[ "$output" = "$(fault "$DESER: body.mem_size_mib: expected integer, got number 8.0.")" ]
	run -0 api a.sock PUT /machine-config '{"vcpu_count":2,"mem_size_mib":8,"smt":null}'
	[ "$output" = "$(fault "$DESER: body.smt: null is not accepted (leave the field out).")" ]
	run -0 api a.sock PUT /network-interfaces/eth0 '{"iface_id":"eth0","host_dev_name":"t","rx_rate_limiter":{"ops":{"size":"1","refill_time":1}}}'
	[ "$output" = "$(fault "$DESER: body.rx_rate_limiter.ops.size: expected integer, got string \\\"1\\\".")" ]
	run -0 api a.sock PUT /snapshot/load '{"snapshot_path":"s","network_overrides":{"iface_id":"eth0"}}'
	[ "$output" = "$(fault "$DESER: body.network_overrides: expected array, got object.")" ]
}

@test "missing required field, also inside an array" {
	start_fc a
	run -0 api a.sock PUT /boot-source '{"boot_args":"quiet"}'
	[ "$output" = "$(fault "$DESER: body: missing required field \`kernel_image_path\`.")" ]
	run -0 api a.sock PUT /snapshot/load '{"snapshot_path":"s","network_overrides":[{"iface_id":"eth0"}]}'
	[ "$output" = "$(fault "$DESER: body.network_overrides[0]: missing required field \`host_dev_name\`.")" ]
}

@test "bad enum, minimum, maximum, negative" {
	start_fc a
	run -0 api a.sock PATCH /vm '{"state":"Stopped"}'
	[ "$output" = "$(fault "$DESER: body.state: \\\"Stopped\\\" is not one of: Paused, Resumed.")" ]
	run -0 api a.sock PUT /actions '{"action_type":"instancestart"}'
	[ "$output" = "$(fault "$DESER: body.action_type: \\\"instancestart\\\" is not one of: FlushMetrics, InstanceStart, SendCtrlAltDel.")" ]
	run -0 api a.sock PUT /vsock '{"guest_cid":2,"uds_path":"v.sock"}'
	[ "$output" = "$(fault "$DESER: body.guest_cid: 2 is below the minimum 3.")" ]
	run -0 api a.sock PUT /machine-config '{"vcpu_count":33,"mem_size_mib":8}'
	[ "$output" = "$(fault "$DESER: body.vcpu_count: 33 is above the maximum 32.")" ]
	run -0 api a.sock PUT /balloon '{"amount_mib":-1,"deflate_on_oom":true}'
	[ "$output" = "$(fault "$DESER: body.amount_mib: -1 is negative; Firecracker reads an unsigned integer.")" ]
}

@test "unknown path or method, a path id unlike the body's, a body where none belongs, bad JSON" {
	start_fc a
	run -0 api a.sock GET /nothing
	[ "$output" = "$(fault "Invalid request method and/or path: GET /nothing.")" ]
	run -0 api a.sock DELETE /drives/rootfs
	[ "$output" = "$(fault "Invalid request method and/or path: DELETE /drives/rootfs.")" ]
	run -0 api a.sock PUT /drives/ '{}'
	[ "$output" = "$(fault "Invalid request method and/or path: PUT /drives/.")" ]
	run -0 api a.sock PUT /drives/root '{"drive_id":"rootfs","path_on_host":"rootfs.ext4","is_root_device":true}'
	[ "$output" = "$(fault "The id from the path does not match the id from the body! (path: 'root', body: 'rootfs')")" ]
	run -0 api a.sock GET /machine-config '{}'
	[ "$output" = "$(fault "GET /machine-config takes no body")" ]
	run -0 api a.sock PUT /boot-source
	[ "$output" = "$(fault "PUT /boot-source needs a JSON body")" ]
	run -0 api a.sock PUT /boot-source '{"kernel_image_path":"vmlinux","kernel_image_path":"x"}'
	[ "$output" = "$(fault "$DESER: duplicate field \`kernel_image_path\`.")" ]
	run -0 api a.sock PUT /boot-source '{"kernel_image_path":'
	[ "$output" = "$(fault "$DESER: Expecting value: line 1 column 22 (char 21).")" ]
}

@test "mem_file_path and enable_diff_snapshots are refused on purpose, and so is a load without mem_backend" {
	start_fc a
	run -0 api a.sock PUT /snapshot/load '{"snapshot_path":"s","mem_file_path":"m"}'
	[ "$output" = "$(fault "\`mem_file_path\` is deprecated: use mem_backend {\\\"backend_type\\\": \\\"File\\\", \\\"backend_path\\\": ...} (rejected by the stand-in on purpose)")" ]
	run -0 api a.sock PUT /snapshot/load '{"snapshot_path":"s","mem_backend":{"backend_type":"File","backend_path":"m"},"enable_diff_snapshots":true}'
	[ "$output" = "$(fault "\`enable_diff_snapshots\` is deprecated: use track_dirty_pages (rejected by the stand-in on purpose)")" ]
	run -0 api a.sock PUT /snapshot/load '{"snapshot_path":"s"}'
	[ "$output" = "$(fault "Load snapshot error: missing field \`mem_backend\` (the stand-in takes only mem_backend; mem_file_path is deprecated)")" ]
	# none of these was fatal: the process still answers
	run -0 api a.sock GET /version
	[ "$output" = '200 {"firecracker_version": "1.16.1"}' ]
}

@test "Expect: 100-continue is a contract violation: 417, logged, connection closed" {
	start_fc a
	run -0 curl -sS --unix-socket a.sock -X PUT -H 'Expect: 100-continue' -H 'Content-Type: application/json' \
		-d "$MC" -w ' %{http_code}' http://localhost/machine-config
	msg="Expect: 100-continue is a contract violation: Firecracker never answers it and the request stalls; send the body without waiting"
	[ "$output" = "{\"fault_message\": \"$msg\"} 417" ]
	[ "$(sed -n 2p a.log)" = "$(req PUT /machine-config null 417 "$msg")" ]
	[ "$(wc -l < a.log)" = 2 ]
}

# ---------------------------------------------------------------- refused by the state machine

@test "snapshot load after a configuration call: refused, naming what was configured" {
	start_fc a
	ok a.sock PUT /logger '{"level":"Info"}'
	ok a.sock PUT /machine-config "$MC"
	ok a.sock PUT /network-interfaces/eth0 "$ETH0"
	run -0 api a.sock PUT /snapshot/load '{"snapshot_path":"s","mem_backend":{"backend_type":"File","backend_path":"m"}}'
	[ "$output" = "$(fault "Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources. (configured: /machine-config, /network-interfaces/{iface_id})")" ]
	run -0 api a.sock GET /
	[ "$output" = '200 {"id": "anonymous-instance", "state": "Not started", "vmm_version": "1.16.1", "app_name": "Firecracker"}' ]
}

@test "snapshot create while running, pre-boot calls after start, post-boot calls before" {
	start_fc a
	run -0 api a.sock PATCH /vm '{"state":"Paused"}'
	[ "$output" = "$(fault "The requested operation is not supported before starting the microVM.")" ]
	run -0 api a.sock PATCH /drives/rootfs '{"drive_id":"rootfs","path_on_host":"rootfs.ext4"}'
	[ "$output" = "$(fault "The requested operation is not supported before starting the microVM.")" ]
	run -0 api a.sock PUT /actions "$START"
	[ "$output" = "$(fault "Start microvm error: Cannot start microvm without kernel configuration.")" ]
	ok a.sock PUT /boot-source "$BOOT"
	run -0 api a.sock PUT /actions "$START"
	[ "$output" = "$(fault "Start microvm error: PUT /machine-config first (the stand-in wants the machine configuration set explicitly)")" ]
	ok a.sock PUT /machine-config "$MC"
	ok a.sock PUT /actions "$START"
	run -0 api a.sock PUT /snapshot/create '{"snapshot_path":"s","mem_file_path":"m"}'
	[ "$output" = "$(fault "Create snapshot error: Cannot save the microVM state: the microVM is not paused (state: Running).")" ]
	[ ! -e s ]
	[ ! -e m ]
	run -0 api a.sock PUT /drives/data '{"drive_id":"data","path_on_host":"rootfs.ext4","is_root_device":false}'
	[ "$output" = "$(fault "The requested operation is not supported after starting the microVM.")" ]
	run -0 api a.sock PUT /actions "$START"
	[ "$output" = "$(fault "The requested operation is not supported after starting the microVM.")" ]
	run -0 api a.sock PUT /snapshot/load '{"snapshot_path":"s","mem_backend":{"backend_type":"File","backend_path":"m"}}'
	[ "$output" = "$(fault "The requested operation is not supported after starting the microVM.")" ]
}

@test "drive file missing: at PUT, at InstanceStart, at PATCH" {
	start_fc a
	run -0 api a.sock PUT /drives/rootfs '{"drive_id":"rootfs","path_on_host":"gone.ext4","is_root_device":true}'
	[ "$output" = "$(fault "Drive config error: drive 'rootfs': cannot open 'gone.ext4': No such file or directory")" ]
	ok a.sock PUT /machine-config "$MC"
	ok a.sock PUT /boot-source "$BOOT"
	ok a.sock PUT /drives/rootfs "$ROOTFS"
	rm rootfs.ext4
	run -0 api a.sock PUT /actions "$START"
	[ "$output" = "$(fault "Start microvm error: drive 'rootfs': cannot open 'rootfs.ext4': No such file or directory")" ]
	: > rootfs.ext4
	ok a.sock PUT /actions "$START"
	run -0 api a.sock PATCH /drives/rootfs '{"drive_id":"rootfs","path_on_host":"gone.ext4"}'
	[ "$output" = "$(fault "Drive config error: drive 'rootfs': cannot open 'gone.ext4': No such file or directory")" ]
	run -0 api a.sock PATCH /drives/data '{"drive_id":"data","path_on_host":"rootfs.ext4"}'
	[ "$output" = "$(fault "Drive config error: no drive with id 'data'")" ]
	[ "$(grep -c opened_drive a.log)" = 1 ]
}

@test "PATCH /network-interfaces: post-boot, a known interface, rate limiters only" {
	start_fc a
	ok a.sock PUT /network-interfaces/eth0 "$ETH0"
	RL='{"iface_id":"eth0","rx_rate_limiter":{"bandwidth":{"size":1000,"refill_time":100}}}'
	run -0 api a.sock PATCH /network-interfaces/eth0 "$RL"
	[ "$output" = "$(fault "The requested operation is not supported before starting the microVM.")" ]
	boot a
	ok a.sock PATCH /network-interfaces/eth0 "$RL"
	run -0 api a.sock PATCH /network-interfaces/eth1 '{"iface_id":"eth1"}'
	[ "$output" = "$(fault "Network config error: no network interface with id 'eth1'")" ]
	run -0 api a.sock PATCH /network-interfaces/eth0 '{"iface_id":"eth0","host_dev_name":"tap9"}'
	[ "$output" = "$(fault "$DESER: body: unknown field \`host_dev_name\`, expected one of: \`iface_id\`, \`rx_rate_limiter\`, \`tx_rate_limiter\`.")" ]
	run -0 api a.sock PUT /network-interfaces/eth1 '{"iface_id":"eth1","host_dev_name":"bds-tap0"}'
	[ "$output" = "$(fault "The requested operation is not supported after starting the microVM.")" ]
}

@test "PUT /network-interfaces: host device name and MAC checked, neither shared" {
	start_fc a
	ok a.sock PUT /network-interfaces/eth0 "$ETH0"
	run -0 api a.sock PUT /network-interfaces/eth1 '{"iface_id":"eth1","host_dev_name":"bds-tap0"}'
	[ "$output" = "$(fault "Network config error: The host device name bds-tap0 is already in use.")" ]
	run -0 api a.sock PUT /network-interfaces/eth1 '{"iface_id":"eth1","host_dev_name":"tap1","guest_mac":"06:00:0A:00:02:0F"}'
	[ "$output" = "$(fault "Network config error: The MAC address is already in use: 06:00:0A:00:02:0F")" ]
	run -0 api a.sock PUT /network-interfaces/eth1 '{"iface_id":"eth1","host_dev_name":"a-name-over-15-bytes"}'
	[ "$output" = "$(fault "Network config error: invalid host device name 'a-name-over-15-bytes'")" ]
	run -0 api a.sock PUT /network-interfaces/eth1 '{"iface_id":"eth1","host_dev_name":"tap1","guest_mac":"06:00:0a:00:02"}'
	[ "$output" = "$(fault "Network config error: invalid MAC address '06:00:0a:00:02'")" ]
	ok a.sock PUT /network-interfaces/eth0 '{"iface_id":"eth0","host_dev_name":"bds-tap0"}'
}

@test "a failed restore ends the process, as in Firecracker: missing drive" {
	start_fc a
	boot a
	ok a.sock PATCH /vm '{"state":"Paused"}'
	ok a.sock PUT /snapshot/create '{"snapshot_path":"s","mem_file_path":"m"}'
	rm rootfs.ext4
	start_fc b
	run -0 api b.sock PUT /snapshot/load '{"snapshot_path":"s","mem_backend":{"backend_type":"File","backend_path":"m"}}'
	msg="Load snapshot error: Failed to restore from snapshot: drive 'rootfs': cannot open 'rootfs.ext4': No such file or directory"
	[ "$output" = "$(fault "$msg")" ]
	reap "$PID_b"
	[ "$RC" = 1 ]
	{
		echo "{\"event\":\"start\",\"argv\":[\"--api-sock\",\"b.sock\"],\"cwd\":\"$T\"}"
		req PUT /snapshot/load '{"snapshot_path":"s","mem_backend":{"backend_type":"File","backend_path":"m"}}' 400 "$msg"
		echo '{"event":"exit","code":1,"reason":"snapshot load failed"}'
	} > want
	diff want b.log
}

@test "a failed restore: unknown network override, memory file missing or of the wrong size, foreign state file" {
	start_fc a
	boot a
	ok a.sock PATCH /vm '{"state":"Paused"}'
	ok a.sock PUT /snapshot/create '{"snapshot_path":"s","mem_file_path":"m"}'
	load() { # load SOCKNAME MEMFILE [more fields]
		api "$1.sock" PUT /snapshot/load "{\"snapshot_path\":\"s\",\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"$2\"}${3:-}}"
	}
	pre="Load snapshot error: Failed to restore from snapshot"
	start_fc b
	run -0 load b m ',"network_overrides":[{"iface_id":"eth1","host_dev_name":"tap1"}]'
	[ "$output" = "$(fault "$pre: Unknown Network Device: 'eth1'")" ]
	start_fc c
	run -0 load c nomem
	[ "$output" = "$(fault "$pre: guest memory: cannot open 'nomem': No such file or directory")" ]
	truncate -s 1M small
	start_fc d
	run -0 load d small
	[ "$output" = "$(fault "$pre: guest memory file 'small' is not 8 MiB")" ]
	echo '{}' > s
	start_fc e
	run -0 load e m
	[ "$output" = "$(fault "$pre: 's' is not a snapshot state file written by this stand-in")" ]
	for p in $PID_b $PID_c $PID_d $PID_e; do
		reap "$p"
	[ "$RC" = 1 ]
	done
}

@test "vsock: its socket is bound at PUT; a restore beside the live one needs vsock_override" {
	start_fc a
	ok a.sock PUT /vsock '{"guest_cid":3,"uds_path":"v.sock"}'
	[ -S v.sock ]
	boot a
	ok a.sock PATCH /vm '{"state":"Paused"}'
	ok a.sock PUT /snapshot/create '{"snapshot_path":"s","mem_file_path":"m"}'
	start_fc b
	run -0 api b.sock PUT /snapshot/load '{"snapshot_path":"s","mem_backend":{"backend_type":"File","backend_path":"m"}}'
	[ "$output" = "$(fault "Load snapshot error: Failed to restore from snapshot: Vsock config error: Cannot create backend for vsock device: binding 'v.sock': Address already in use")" ]
	start_fc c
	ok c.sock PUT /snapshot/load '{"snapshot_path":"s","mem_backend":{"backend_type":"File","backend_path":"m"},"vsock_override":{"uds_path":"v2.sock"}}'
	[ -S v2.sock ]
}

# ---------------------------------------------------------------- failure injection

@test "FC_STANDIN_FAIL: the named requests answer 400, by path or by template" {
	FC_STANDIN_FAIL='PUT /drives/rootfs; PATCH /vm' start_fc a
	run -0 api a.sock PUT /drives/rootfs "$ROOTFS"
	[ "$output" = "$(fault "injected failure: PUT /drives/rootfs")" ]
	ok a.sock PUT /drives/data '{"drive_id":"data","path_on_host":"rootfs.ext4","is_root_device":false}'
	run -0 api a.sock PATCH /vm '{"state":"Paused"}'
	[ "$output" = "$(fault "injected failure: PATCH /vm")" ]
	# a request the spec refuses is refused for that, injection or not
	run -0 api a.sock PATCH /vm '{"state":"Gone"}'
	[ "$output" = "$(fault "$DESER: body.state: \\\"Gone\\\" is not one of: Paused, Resumed.")" ]
	FC_STANDIN_FAIL='PUT /drives/{drive_id}' start_fc b
	run -0 api b.sock PUT /drives/data '{"drive_id":"data","path_on_host":"rootfs.ext4","is_root_device":false}'
	[ "$output" = "$(fault "injected failure: PUT /drives/data")" ]
	[ "$(sed -n 2p b.log)" = "$(req PUT /drives/data '{"drive_id":"data","path_on_host":"rootfs.ext4","is_root_device":false}' 400 "injected failure: PUT /drives/data")" ]
}

@test "FC_STANDIN_HANG: no answer, so the client times out; nothing is answered after it" {
	FC_STANDIN_HANG='PUT /snapshot/create' start_fc a
	boot a
	ok a.sock PATCH /vm '{"state":"Paused"}'
	run -28 curl -sS --max-time 0.5 --unix-socket a.sock -X PUT -H 'Expect:' \
		-d '{"snapshot_path":"s","mem_file_path":"m"}' http://localhost/snapshot/create
	run -28 curl -sS --max-time 0.5 --unix-socket a.sock http://localhost/
	[ ! -e s ]
	[ "$(tail -n 1 a.log)" = "$(req PUT /snapshot/create '{"snapshot_path":"s","mem_file_path":"m"}' null)" ]
	kill "$PID_a"
	reap "$PID_a"
	[ "$RC" = 143 ]
	[ "$(tail -n 1 a.log)" = '{"event":"exit","signal":"SIGTERM"}' ]
}

@test "FC_STANDIN_DIE: exit 1 on the request, no answer" {
	FC_STANDIN_DIE='PUT /actions' start_fc a
	ok a.sock PUT /machine-config "$MC"
	run -52 curl -sS --unix-socket a.sock -X PUT -H 'Expect:' -d "$START" http://localhost/actions
	reap "$PID_a"
	[ "$RC" = 1 ]
	{
		req PUT /actions "$START" null
		echo '{"event":"exit","code":1,"reason":"FC_STANDIN_DIE: PUT /actions"}'
	} > want
	tail -n 2 a.log > got
	diff want got
}

@test "FC_STANDIN_START_DELAY: the socket appears only after the delay" {
	t0=$(date +%s%N)
	FC_STANDIN_START_DELAY=1 start_fc a
	elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$elapsed_ms" -ge 1000 ]
	run -0 api a.sock GET /version
}

@test "FC_STANDIN_NO_SOCKET=1: never a socket; the process lives until SIGTERM" {
	FC_STANDIN_NO_SOCKET=1 FC_STANDIN_LOG=$T/a.log "$FC" --api-sock a.sock &
	pid=$!
	BG_PIDS=$pid
	for _ in $(seq 20); do
		[ ! -e a.sock ] || break
		sleep 0.05
	done
	[ ! -e a.sock ]
	kill -0 "$pid"
	kill "$pid"
	reap "$pid"
	[ "$RC" = 143 ]
	[ ! -e a.sock ]
	[ "$(tail -n 1 a.log)" = '{"event":"exit","signal":"SIGTERM"}' ]
}

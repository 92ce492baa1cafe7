#!/usr/bin/env bats
# guest/build-image end to end: build a small image (tiny workspace), boot it under QEMU
# (-M microvm, software emulation unless BDS_VM_ACCEL=kvm), wait for its sshd, and run
# commands over ssh pinned to the image's host key, then with bds-guest-exec when it has
# the ssh transport. Slow: run by `make check-vm`, never by `make check`.
# BDS_VM_BOOT_DEADLINE (seconds, default 600) bounds the wait for ssh.

load ../helpers

top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

guest_ssh() {
	ssh -i "$VMDIR/key" -p "$VM_PORT" -o BatchMode=yes -o ConnectTimeout=5 \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$VMDIR/known_hosts" \
		-o LogLevel=ERROR root@127.0.0.1 "$@"
}

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap)"
	"$top/scripts/install-deps" --vm
	export VMDIR="$BATS_FILE_TMPDIR/vm"
	mkdir -p "$VMDIR/ws"
	# The tiny workspace: a WORKSPACE and one genrule.
	printf 'workspace(name = "tiny")\n' > "$VMDIR/ws/WORKSPACE"
	printf 'genrule(name = "hello", outs = ["hello.txt"], cmd = "echo hello > $@")\n' > "$VMDIR/ws/BUILD"
	git -C "$VMDIR/ws" init -q
	git -C "$VMDIR/ws" add -A
	git -C "$VMDIR/ws" -c user.name=t -c user.email=t@t commit -q -m tiny
	ssh-keygen -q -t ed25519 -N '' -C bds-vm-test -f "$VMDIR/key"
	local t0 t1
	t0=$(date +%s)
	"$top/guest/build-image" --out "$VMDIR/out" --workspace "$VMDIR/ws" --pubkey "$VMDIR/key.pub" \
		--vcpus 1 --mem-mib 1024 --disk-gib 3 >&3 2>&1
	t1=$(date +%s)
	echo "# build-image: $((t1 - t0)) s" >&3
	printf '[127.0.0.1]:%s ssh-ed25519 %s\n' PORT \
		"$(awk '{print $2}' "$VMDIR/out/host_key.pub")" > "$VMDIR/known_hosts.in"
	local accel=${BDS_VM_ACCEL:-tcg} try
	for try in 1 2 3 4 5 6 7 8; do
		VM_PORT=$((20000 + RANDOM % 40000))
		: > "$VMDIR/console.log"
		nice -n 10 qemu-system-x86_64 -M microvm -accel "$accel" -m 1024 -smp 1 \
			-nographic -no-reboot -kernel "$VMDIR/out/bzImage" -initrd "$VMDIR/out/initrd.img" \
			-append "$(jq -r .cmdline "$VMDIR/out/manifest.json")" \
			-drive id=root,file="$VMDIR/out/rootfs.ext4",format=raw,if=none \
			-device virtio-blk-device,drive=root \
			-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$VM_PORT-:22 -device virtio-net-device,netdev=n0 \
			</dev/null >"$VMDIR/console.log" 2>&1 3>&- &
		VM_PID=$!
		sleep 1
		kill -0 "$VM_PID" 2>/dev/null && break
		grep -q 'Could not set up host forwarding' "$VMDIR/console.log" || break
	done
	export VM_PORT VM_PID
	sed "s/PORT/$VM_PORT/" "$VMDIR/known_hosts.in" > "$VMDIR/known_hosts"
	local deadline=$(( $(date +%s) + ${BDS_VM_BOOT_DEADLINE:-600} ))
	t0=$(date +%s)
	until guest_ssh true 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ] || ! kill -0 "$VM_PID" 2>/dev/null; then
			tail -n 30 "$VMDIR/console.log" >&3
			echo "# guest did not answer ssh" >&3
			return 1
		fi
		sleep 1
	done
	t1=$(date +%s)
	echo "# boot to ssh ($accel): $((t1 - t0)) s" >&3
}

teardown_file() {
	if [ -n "${VM_PID:-}" ]; then
		kill "$VM_PID" 2>/dev/null || true
		wait "$VM_PID" 2>/dev/null || true
	fi
}

@test "the image's files and manifest" {
	run -0 jq -r '[.kernel, .bzimage, .initrd, .rootfs, .vcpus, .mem_mib, .debian_suite] | map(tostring) | join(" ")' "$VMDIR/out/manifest.json"
	[ "$output" = "vmlinux bzImage initrd.img rootfs.ext4 1 1024 bookworm" ]
	run -0 head -c 4 "$VMDIR/out/vmlinux"
	[ "$output" = $'\x7fELF' ]
	run -0 cat "$VMDIR/out/host_key_sha256"
	[ "$output" = "$(jq -r .host_key_sha256 "$VMDIR/out/manifest.json")" ]
	[[ "$output" =~ ^[0-9a-f]{64}$ ]]
}

@test "ssh pinned to the host key: the workspace is at the host's commit" {
	run -0 guest_ssh git -C /workspace rev-parse HEAD
	[ "$output" = "$(git -C "$VMDIR/ws" rev-parse HEAD)" ]
	run -0 guest_ssh cat /workspace/.bazelignore
	[ "$output" = ".git" ]
	run -0 guest_ssh git -C /workspace config gc.auto
	[ "$output" = "0" ]
	run -0 guest_ssh 'command -v bazel bds-hash bds-plan bds-modgraph bds-guest-sync'
	[ "$output" = $'/usr/bin/bazel\n/usr/local/bin/bds-hash\n/usr/local/bin/bds-plan\n/usr/local/bin/bds-modgraph\n/usr/local/bin/bds-guest-sync' ]
}

@test "a wrong pinned key is refused" {
	ssh-keygen -q -t ed25519 -N '' -f "$BATS_TEST_TMPDIR/other"
	printf '[127.0.0.1]:%s ssh-ed25519 %s\n' "$VM_PORT" "$(awk '{print $2}' "$BATS_TEST_TMPDIR/other.pub")" \
		> "$BATS_TEST_TMPDIR/kh"
	run -255 ssh -i "$VMDIR/key" -p "$VM_PORT" -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$BATS_TEST_TMPDIR/kh" root@127.0.0.1 true
}

@test "bds-guest-sync in the guest: bundle import and checkout" {
	git -C "$VMDIR/ws" -c user.name=t -c user.email=t@t commit -q --allow-empty -m two
	local sha
	sha=$(git -C "$VMDIR/ws" rev-parse HEAD)
	git -C "$VMDIR/ws" bundle create -q "$BATS_TEST_TMPDIR/b.bundle" HEAD 2>/dev/null
	guest_ssh 'cat > /tmp/b.bundle' < "$BATS_TEST_TMPDIR/b.bundle"
	run -0 guest_ssh bds-guest-sync --clock "$(date +%s)" --bundle /tmp/b.bundle --rev "$sha"
	run -0 guest_ssh git -C /workspace rev-parse HEAD
	[ "$output" = "$sha" ]
}

@test "bds-guest-exec over ssh, when built with the ssh transport" {
	[ -x "$top/build/bin/bds-guest-exec" ] || skip "no build/bin/bds-guest-exec"
	local env
	env=$(jq -cn --arg k "$VMDIR/key" --argjson p "$VM_PORT" --arg h "$(cat "$VMDIR/out/host_key_sha256")" \
		'{workspace: "/tmp", vm: {driver: "qemu", guest: {host: "127.0.0.1", port: $p, user: "root", key: $k, host_key_sha256: $h}}}')
	run -0 sh -c 'printf "%s\n" "$1" | "$2" --stdout "$3" -- git -C /workspace rev-parse HEAD >/dev/null' \
		sh "$env" "$top/build/bin/bds-guest-exec" "$BATS_TEST_TMPDIR/out"
	run -0 cat "$BATS_TEST_TMPDIR/out"
	[ "$output" = "$(guest_ssh git -C /workspace rev-parse HEAD)" ]
}

@test "bazel runs inside the guest" {
	[ -n "${BDS_VM_BAZEL:-}" ] || skip "set BDS_VM_BAZEL=1 (minutes under emulation)"
	run -0 guest_ssh 'cd /workspace && timeout 1200 bazel query //...'
	[[ "$output" == *"//:hello"* ]]
}

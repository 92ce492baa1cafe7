#!/usr/bin/env bats
# tests/tiny-guest/build: builds the tiny guest, boots it the way the qemu driver does
# (QEMU -M microvm, software emulation) and talks to its dropbear with OpenSSH pinned to the
# manifest's host key. BDS_TINY_BOOT_DEADLINE (seconds, default 60) bounds the boot.

load helpers

BUILD_TINY="$BDS_TOP/tests/tiny-guest/build"
MARKER="bds-tiny-guest marker"

guest_ssh() {
	ssh -i "$TG/key" -p "$TG_PORT" -o BatchMode=yes -o ConnectTimeout=5 \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$TG/known_hosts" \
		-o LogLevel=ERROR root@127.0.0.1 "$@"
}

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

setup_file() {
	export TG="$BATS_FILE_TMPDIR/tg"
	mkdir -p "$TG"
	ssh-keygen -q -t ed25519 -N '' -C bds-tiny-test -f "$TG/key"
	local t0 t1 try deadline
	t0=$(now_ms)
	"$BUILD_TINY" --out "$TG/img" --pubkey "$TG/key.pub" >&3 2>&1
	t1=$(now_ms)
	echo "# tiny-guest/build: $((t1 - t0)) ms" >&3
	# QEMU exits at once when another process holds the forwarded port: try another one.
	for try in 1 2 3 4 5 6 7 8; do
		TG_PORT=$((20000 + RANDOM % 12700))
		: > "$TG/console.log"
		t0=$(now_ms)
		qemu-system-x86_64 -M microvm -accel tcg -m 256 -smp 1 -nographic -no-reboot \
			-kernel "$TG/img/bzImage" -initrd "$TG/img/initrd.img" \
			-append "$(jq -r .cmdline "$TG/img/manifest.json")" \
			-drive id=root,file="$TG/img/rootfs.img",format=raw,if=none \
			-device virtio-blk-device,drive=root \
			-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$TG_PORT-:22 \
			-device virtio-net-device,netdev=n0 \
			</dev/null >"$TG/console.log" 2>&1 3>&- &
		TG_PID=$!
		export TG_PORT TG_PID
		deadline=$(( $(date +%s) + ${BDS_TINY_BOOT_DEADLINE:-60} ))
		until grep -q 'bds-tiny-guest: ready' "$TG/console.log"; do
			alive "$TG_PID" || break
			if [ "$(date +%s)" -ge "$deadline" ]; then
				tail -n 30 "$TG/console.log" >&3
				echo "# the tiny guest was not ready in time" >&3
				return 1
			fi
			sleep 0.1
		done
		alive "$TG_PID" && break
		wait "$TG_PID" || true
		if ! grep -q 'Could not set up host forwarding' "$TG/console.log" || [ "$try" -eq 8 ]; then
			tail -n 30 "$TG/console.log" >&3
			echo "# QEMU exited before the tiny guest was ready" >&3
			return 1
		fi
	done
	printf '[127.0.0.1]:%s %s\n' "$TG_PORT" "$(cut -d' ' -f1,2 "$TG/img/host_key.pub")" > "$TG/known_hosts"
	until guest_ssh true 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ] || ! alive "$TG_PID"; then
			tail -n 30 "$TG/console.log" >&3
			echo "# the tiny guest did not answer ssh" >&3
			return 1
		fi
		sleep 0.1
	done
	t1=$(now_ms)
	echo "# tiny guest: boot to ssh $((t1 - t0)) ms (tcg)" >&3
}

teardown_file() {
	[ -n "${TG_PID:-}" ] || return 0
	kill "$TG_PID" 2>/dev/null || true
	local deadline=$(( $(date +%s) + 10 ))
	while alive "$TG_PID" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
	if alive "$TG_PID"; then kill -KILL "$TG_PID" 2>/dev/null || true; fi
	wait "$TG_PID" 2>/dev/null || true
}

@test "usage: --out and --pubkey are required, sizes are whole numbers, exit 64" {
	run -64 "$BUILD_TINY" --out "$BATS_TEST_TMPDIR/o"
	[ "${lines[0]}" = "tiny-guest/build: --out and --pubkey are required" ]
	[ "${lines[1]}" = "usage: tiny-guest/build --out DIR --pubkey KEY.pub [--cache DIR] [--mem-mib 256] [--vcpus 1]" ]
	run -64 "$BUILD_TINY" --out "$BATS_TEST_TMPDIR/o" --pubkey "$TG/key.pub" --vcpus two
	[ "${lines[0]}" = "tiny-guest/build: --mem-mib and --vcpus are positive whole numbers" ]
	run -64 "$BUILD_TINY" --frobnicate
	[ "${lines[0]}" = "tiny-guest/build: unknown argument '--frobnicate'" ]
	[ ! -e "$BATS_TEST_TMPDIR/o" ]
}

@test "an unreadable public key exits 1" {
	run -1 "$BUILD_TINY" --out "$BATS_TEST_TMPDIR/o" --pubkey "$BATS_TEST_TMPDIR/none.pub"
	[ "$output" = "tiny-guest/build: public key '$BATS_TEST_TMPDIR/none.pub': not readable" ]
}

@test "the manifest, exactly" {
	local khz hk
	khz=$(awk -F': *' '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
	hk=$(awk '{ print $2 }' "$TG/img/host_key.pub" | base64 -d | sha256sum | cut -d' ' -f1)
	run -0 jq -S . "$TG/img/manifest.json"
	[ "$output" = "$(jq -nS --arg cl "console=ttyS0 panic=-1 tsc_early_khz=$khz quiet" --arg h "$hk" \
		'{kernel: "vmlinux", bzimage: "bzImage", initrd: "initrd.img", rootfs: "rootfs.img",
		  vcpus: 1, mem_mib: 256, cmdline: $cl, host_key_sha256: $h, ssh_user: "root",
		  workspace: null}')" ]
	[[ "$hk" =~ ^[0-9a-f]{64}$ ]]
	[[ "$khz" =~ ^[1-9][0-9]*$ ]]
}

@test "host_key_sha256 is the SHA-256 OpenSSH prints for host_key.pub" {
	local hex b64
	hex=$(jq -r .host_key_sha256 "$TG/img/manifest.json")
	b64=$(printf '%b' "$(printf '%s' "$hex" | sed 's/../\\x&/g')" | base64 | tr -d '=')
	run -0 ssh-keygen -l -f "$TG/img/host_key.pub"
	[ "$output" = "256 SHA256:$b64 bds-tiny-guest (ED25519)" ]
}

@test "the image's files: ELF vmlinux, bzImage, gzip initrd, ext4 disk of 16 MiB" {
	run -0 od -An -tx1 -N4 "$TG/img/vmlinux"
	[ "$output" = " 7f 45 4c 46" ]
	run -0 od -An -c -j 514 -N4 "$TG/img/bzImage"
	[ "$output" = "   H   d   r   S" ]
	run -0 od -An -tx1 -N2 "$TG/img/initrd.img"
	[ "$output" = " 1f 8b" ]
	run -0 od -An -tx1 -j 1080 -N2 "$TG/img/rootfs.img"
	[ "$output" = " 53 ef" ]
	[ "$(stat -c %s "$TG/img/rootfs.img")" -eq $((16 * 1024 * 1024)) ]
}

@test "--mem-mib and --vcpus go into the manifest" {
	"$BUILD_TINY" --out "$BATS_TEST_TMPDIR/o" --pubkey "$TG/key.pub" --mem-mib 128 --vcpus 2
	run -0 jq -c '[.vcpus, .mem_mib]' "$BATS_TEST_TMPDIR/o/manifest.json"
	[ "$output" = "[2,128]" ]
	# A fresh host key per build.
	local new old
	new=$(cat "$BATS_TEST_TMPDIR/o/host_key.pub")
	old=$(cat "$TG/img/host_key.pub")
	[ -n "$new" ]
	[ "$new" != "$old" ]
}

@test "ssh pinned to the host key: /data/marker, the disk, the network" {
	run -0 guest_ssh cat /data/marker
	[ "$output" = "$MARKER" ]
	run -0 guest_ssh 'grep " /data " /proc/mounts'
	[ "$output" = "/dev/vda /data ext4 rw,relatime 0 0" ]
	run -0 guest_ssh 'ip -o -4 addr show dev eth0 | awk "{ print \$4 }"; ip route show default'
	[ "${lines[0]}" = "10.0.2.15/24" ]
	[ "${lines[1]}" = "default via 10.0.2.2 dev eth0 " ]
}

@test "the guest presents the key the manifest pins" {
	run -0 --separate-stderr ssh-keyscan -p "$TG_PORT" -t ed25519 127.0.0.1
	[ "$output" = "[127.0.0.1]:$TG_PORT $(cut -d' ' -f1,2 "$TG/img/host_key.pub")" ]
}

@test "sftp round trip" {
	head -c 100000 /dev/urandom > "$BATS_TEST_TMPDIR/blob"
	printf 'put %s /data/blob\nget /data/blob %s\n' "$BATS_TEST_TMPDIR/blob" "$BATS_TEST_TMPDIR/back" \
		> "$BATS_TEST_TMPDIR/batch"
	run -0 sftp -i "$TG/key" -P "$TG_PORT" -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$TG/known_hosts" -o LogLevel=ERROR -b "$BATS_TEST_TMPDIR/batch" root@127.0.0.1
	cmp "$BATS_TEST_TMPDIR/blob" "$BATS_TEST_TMPDIR/back"
	run -0 guest_ssh sha256sum /data/blob
	[ "$output" = "$(sha256sum < "$BATS_TEST_TMPDIR/blob" | cut -d' ' -f1)  /data/blob" ]
}

@test "a wrong pinned key is refused" {
	ssh-keygen -q -t ed25519 -N '' -f "$BATS_TEST_TMPDIR/other"
	printf '[127.0.0.1]:%s %s\n' "$TG_PORT" "$(cut -d' ' -f1,2 "$BATS_TEST_TMPDIR/other.pub")" \
		> "$BATS_TEST_TMPDIR/kh"
	run -255 ssh -i "$TG/key" -p "$TG_PORT" -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$BATS_TEST_TMPDIR/kh" root@127.0.0.1 true
	# OpenSSH ends its own messages with \r\n.
	[ "${lines[-1]}" = $'Host key verification failed.\r' ]
}

@test "a client key the image does not trust is refused" {
	ssh-keygen -q -t ed25519 -N '' -f "$BATS_TEST_TMPDIR/stranger"
	run -255 ssh -i "$BATS_TEST_TMPDIR/stranger" -p "$TG_PORT" -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$TG/known_hosts" -o LogLevel=ERROR root@127.0.0.1 true
	[ "$output" = $'root@127.0.0.1: Permission denied (publickey).\r' ]
}

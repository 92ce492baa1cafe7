# pick_accel IMAGE_DIR: the accelerator the VM tests use. BDS_VM_ACCEL when set; else kvm
# when /dev/kvm exists and the tiny guest (tests/tiny-guest/build) in IMAGE_DIR boots to
# its ready line under KVM within 10 s (several times what KVM needs); else tcg (software
# emulation). A /dev/kvm that opens is not always one that runs a guest: a nested or
# software KVM can triple-fault, which ends QEMU at once, or hang it, which costs the 10 s.
pick_accel() {
	if [ -n "${BDS_VM_ACCEL:-}" ]; then
		echo "$BDS_VM_ACCEL"
		return 0
	fi
	if [ ! -c /dev/kvm ]; then
		echo tcg
		return 0
	fi
	local img=$1 log pid verdict=tcg _
	log=$(mktemp)
	qemu-system-x86_64 -M microvm -accel kvm -cpu host -m 256 -smp 1 -display none -monitor none \
		-serial "file:$log" -no-reboot -kernel "$img/bzImage" -initrd "$img/initrd.img" \
		-append "$(jq -r .cmdline "$img/manifest.json")" \
		-drive "id=root,file=$img/rootfs.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=root \
		-netdev user,id=n0 -device virtio-net-device,netdev=n0 </dev/null >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		if grep -q 'bds-tiny-guest: ready' "$log"; then
			verdict=kvm
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$log"
	echo "$verdict"
}

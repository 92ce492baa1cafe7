#!/usr/bin/env bats
# Tests what of scripts/bds-kvm-e2e runs without Firecracker: usage errors, every skip (77)
# with its exact message, and the failures that come before the first real step. The end
# to end run itself needs KVM and a firecracker binary (man/bds-kvm-e2e.1).

load helpers

E2E="$BDS_TOP/scripts/bds-kvm-e2e"

setup() {
	# a PATH without firecracker, whatever the machine has: only a shell
	BIN="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$BIN"
	ln -sf "$(command -v sh)" "$BIN/sh"
	unset BDS_FIRECRACKER
}

usage_text='usage: bds-kvm-e2e [--workdir DIR] [--firecracker PATH] [--keep]'

@test "usage errors exit 64, before KVM is looked at" {
	export BDS_KVM_DEVICE=/nonexistent
	run -64 "$E2E" --bogus
	[ "$output" = "bds-kvm-e2e: unknown argument '--bogus'
$usage_text" ]
	run -64 "$E2E" --workdir
	[ "$output" = "$usage_text" ]
	run -64 "$E2E" --firecracker
	[ "$output" = "$usage_text" ]
	run -64 "$E2E" --keep extra
	[ "$output" = "bds-kvm-e2e: unknown argument 'extra'
$usage_text" ]
	# -h asks for the usage: on stdout, exit 0
	run -0 --separate-stderr "$E2E" -h
	[ "$output" = "$usage_text" ]
	[ "$stderr" = "" ]
}

@test "no KVM device: skipped, exit 77" {
	BDS_KVM_DEVICE=/nonexistent run -77 "$E2E"
	[ "$output" = "bds-kvm-e2e: skipped: /nonexistent is absent (Firecracker needs KVM)" ]
	# even with a firecracker named: KVM is looked at first
	BDS_KVM_DEVICE=/nonexistent run -77 "$E2E" --firecracker /bin/true --keep
	[ "$output" = "bds-kvm-e2e: skipped: /nonexistent is absent (Firecracker needs KVM)" ]
}

@test "a KVM device that is not one: skipped, exit 77" {
	touch "$BATS_TEST_TMPDIR/kvm"
	BDS_KVM_DEVICE=$BATS_TEST_TMPDIR/kvm run -77 "$E2E"
	[ "$output" = "bds-kvm-e2e: skipped: $BATS_TEST_TMPDIR/kvm is not a character device (Firecracker needs KVM)" ]
	# a device node no driver answers (major 240 is for local use): open fails with ENXIO
	mknod "$BATS_TEST_TMPDIR/kvm2" c 240 0 || skip "cannot make a device node here"
	BDS_KVM_DEVICE=$BATS_TEST_TMPDIR/kvm2 run -77 "$E2E"
	[ "$output" = "bds-kvm-e2e: skipped: $BATS_TEST_TMPDIR/kvm2 cannot be opened read-write (Firecracker needs KVM)" ]
}

@test "no firecracker binary anywhere: skipped, exit 77" {
	# /dev/null stands in for a usable KVM device
	BDS_KVM_DEVICE=/dev/null PATH=$BIN run -77 "$BIN/sh" "$E2E"
	[ "$output" = "bds-kvm-e2e: skipped: no firecracker binary (--firecracker PATH, BDS_FIRECRACKER or PATH; v1.16.1 from github.com/firecracker-microvm/firecracker/releases)" ]
	BDS_KVM_DEVICE=/dev/null BDS_FIRECRACKER= PATH=$BIN run -77 "$BIN/sh" "$E2E"
	[ "$output" = "bds-kvm-e2e: skipped: no firecracker binary (--firecracker PATH, BDS_FIRECRACKER or PATH; v1.16.1 from github.com/firecracker-microvm/firecracker/releases)" ]
}

@test "a firecracker named but missing is a failure, exit 1" {
	BDS_KVM_DEVICE=/dev/null PATH=$BIN run -1 "$BIN/sh" "$E2E" --firecracker /nonexistent/firecracker
	[ "$output" = "bds-kvm-e2e: FAILED: firecracker '/nonexistent/firecracker' (from --firecracker): not an executable file" ]
	local plain="$BATS_TEST_TMPDIR/firecracker"
	printf 'not a program\n' > "$plain"
	chmod 644 "$plain"
	BDS_KVM_DEVICE=/dev/null BDS_FIRECRACKER=$plain PATH=$BIN run -1 "$BIN/sh" "$E2E"
	[ "$output" = "bds-kvm-e2e: FAILED: firecracker '$plain' (from BDS_FIRECRACKER): not an executable file" ]
	# a directory is executable, but no program
	BDS_KVM_DEVICE=/dev/null BDS_FIRECRACKER=$BIN PATH=$BIN run -1 "$BIN/sh" "$E2E"
	[ "$output" = "bds-kvm-e2e: FAILED: firecracker '$BIN' (from BDS_FIRECRACKER): not an executable file" ]
	# --firecracker wins over BDS_FIRECRACKER
	BDS_KVM_DEVICE=/dev/null BDS_FIRECRACKER=/bin/true PATH=$BIN run -1 "$BIN/sh" "$E2E" --firecracker /nonexistent
	[ "$output" = "bds-kvm-e2e: FAILED: firecracker '/nonexistent' (from --firecracker): not an executable file" ]
}

@test "KVM and firecracker present but not root: exit 1 before anything runs" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to become another user"
	# a copy the unprivileged user can read (test directories are private to root)
	local d
	d=$(mktemp -d /tmp/bds-kvm-e2e-test.XXXXXX)
	chmod 755 "$d"
	cp "$E2E" "$d/"
	BDS_KVM_DEVICE=/dev/null run -1 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$d/bds-kvm-e2e" --firecracker /bin/true
	rm -rf "$d"
	[ "$output" = "bds-kvm-e2e: FAILED: run as root (bds-host-setup, guest/build-image)" ]
}

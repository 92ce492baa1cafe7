#!/usr/bin/env bats
# Tests scripts/bds-host-setup for real: network namespaces, a TAP, veths and iptables rules,
# under a prefix and an address range of this file's own (never a real setup's), and the data
# path from the host through the DNAT to a stand-in guest that holds the TAP as firecracker
# would. Needs root.

load helpers

HS="$BDS_TOP/scripts/bds-host-setup"

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
	# "bt<pid>-veth1" stays within the 15 characters of an interface name
	export P="bt$$" NET=10.199
	# The stand-in guest: answers ARP for 10.0.2.15 and the first SYN to port 22 with a
	# SYN-ACK (so the host's connect() completes), then prints where the SYN came from.
	cat > "$BATS_FILE_TMPDIR/guest.py" <<'EOF'
import fcntl, os, select, socket, struct, sys, time

TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
GUEST_MAC, GUEST_IP = bytes.fromhex("02000a00020f"), socket.inet_aton("10.0.2.15")

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", sys.argv[1].encode(), IFF_TAP | IFF_NO_PI))
print("ready", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    if not select.select([fd], [], [], 0.2)[0]:
        continue
    f = os.read(fd, 65536)
    src, etype = f[6:12], struct.unpack("!H", f[12:14])[0]
    if etype == 0x0806 and f[20:22] == b"\0\1" and f[38:42] == GUEST_IP:
        arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + GUEST_MAC + GUEST_IP + f[22:32]
        os.write(fd, src + GUEST_MAC + b"\x08\x06" + arp)
    elif etype == 0x0800 and f[23] == 6 and f[30:34] == GUEST_IP:
        ip = f[14:14 + (f[14] & 15) * 4]
        tcp = f[14 + len(ip):]
        sport, dport, seq = struct.unpack("!HHI", tcp[:8])
        if dport != 22 or tcp[13] != 0x02:
            continue
        hdr = struct.pack("!HHIIBBHHH", 22, sport, 1000, seq + 1, 5 << 4, 0x12, 65535, 0, 0)
        pseudo = GUEST_IP + ip[12:16] + struct.pack("!BBH", 0, 6, len(hdr))
        hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(hdr), 1, 0, 64, 6, 0, GUEST_IP, ip[12:16])
        iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
        os.write(fd, src + GUEST_MAC + b"\x08\x00" + iph + hdr)
        print(f"syn from {socket.inet_ntoa(ip[12:16])} to {socket.inet_ntoa(ip[16:20])}:{dport}", flush=True)
        sys.exit(0)
print("no syn before the deadline", flush=True)
sys.exit(1)
EOF
}

setup() {
	D="$BATS_TEST_TMPDIR/slots"
}

# Removes this file's namespaces and veths with plain ip, whatever the script under test did.
teardown() {
	local l n
	for l in $(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -E "^$P-veth[0-9]+\$"); do
		ip link del dev "$l" || true
	done
	for n in $(ip netns list | awk '{ print $1 }' | grep -E "^$P[0-9]+\$"); do
		ip netns del "$n" || true
	done
	if [ -n "${GUEST_PID:-}" ]; then
		kill "$GUEST_PID" 2>/dev/null || true
		wait "$GUEST_PID" 2>/dev/null || true
	fi
}

hs() { "$HS" --prefix "$P" --net "$NET" --dir "$D" "$@"; }

usage_text='usage: bds-host-setup [--slots N] [--dir DIR] [--prefix NAME] [--net A.B] [--tap-user UID]
       bds-host-setup --check [--slots N] [--dir DIR] [--prefix NAME] [--net A.B]
       bds-host-setup --remove [--dir DIR] [--prefix NAME] [--wait SEC]'

@test "usage errors exit 64 with the reason and the usage" {
	run -64 "$HS" --bogus
	[ "$output" = "bds-host-setup: unknown argument '--bogus'
$usage_text" ]
	run -64 "$HS" --slots
	[ "$output" = "$usage_text" ]
	run -64 "$HS" --slots 0
	[ "$output" = "bds-host-setup: --slots '0': not a number from 1 to 256
$usage_text" ]
	run -64 "$HS" --slots 257
	[ "${lines[0]}" = "bds-host-setup: --slots '257': not a number from 1 to 256" ]
	run -64 "$HS" --slots 2x
	[ "${lines[0]}" = "bds-host-setup: --slots '2x': not a number from 1 to 256" ]
	run -64 "$HS" --prefix Bds
	[ "${lines[0]}" = "bds-host-setup: --prefix 'Bds': lower-case letters and digits, starting with a letter" ]
	run -64 "$HS" --prefix 1bds
	[ "${lines[0]}" = "bds-host-setup: --prefix '1bds': lower-case letters and digits, starting with a letter" ]
	run -64 "$HS" --prefix abcdefghi --slots 11
	[ "${lines[0]}" = "bds-host-setup: --prefix 'abcdefghi': too long ('abcdefghi-veth10' exceeds 15 characters)" ]
	run -64 "$HS" --net 10.256
	[ "${lines[0]}" = "bds-host-setup: --net '10.256': not two octets like 10.201" ]
	run -64 "$HS" --net 10
	[ "${lines[0]}" = "bds-host-setup: --net '10': not two octets like 10.201" ]
	run -64 "$HS" --net 10.1.2
	[ "${lines[0]}" = "bds-host-setup: --net '10.1.2': not two octets like 10.201" ]
	for w in "" . 1.2.3 -1 1e3 nan inf 5s; do
		run -64 "$HS" --remove --wait "$w"
		[ "${lines[0]}" = "bds-host-setup: --wait '$w': seconds, like 10 or 0.5" ]
	done
	# -h asks for the usage: on stdout, exit 0
	run -0 --separate-stderr "$HS" -h
	[ "$output" = "$usage_text" ]
	[ "$stderr" = "" ]
}

@test "not root: exit 1 and says so" {
	# a copy that the unprivileged user can read (test directories are private to root)
	local d
	d=$(mktemp -d /tmp/bds-host-setup-test.XXXXXX)
	chmod 755 "$d"
	cp "$HS" "$d/"
	run -1 setpriv --reuid=65534 --regid=65534 --clear-groups "$d/bds-host-setup" --check
	rm -rf "$d"
	[ "$output" = "bds-host-setup: run as root (network namespaces, TAP devices, iptables)" ]
}

@test "ip or iptables missing: exit 1 naming the Debian package" {
	local bin="$BATS_TEST_TMPDIR/bin" t
	mkdir "$bin"
	for t in sh id awk grep cat; do ln -s "$(command -v "$t")" "$bin/$t"; done
	PATH=$bin run -1 "$bin/sh" "$HS" --check
	[ "$output" = "bds-host-setup: 'ip' not found: install the Debian package iproute2" ]
	ln -s "$(command -v ip)" "$bin/ip"
	PATH=$bin run -1 "$bin/sh" "$HS" --check
	[ "$output" = "bds-host-setup: 'iptables' not found: install the Debian package iptables" ]
}

@test "two slots: namespaces, the TAP, the veths, forwarding, the NAT rules, the slot files" {
	run -0 hs --slots 2
	[ "$output" = "bds-host-setup: 2 slots ready in $D (${P}0..${P}1)" ]
	local n
	for n in 0 1; do
		run -0 sh -c "ip netns list | awk '{ print \$1 }' | grep -x '$P$n'"
		run -0 ip -n "$P$n" -d -o link show dev bds-tap0
		[[ "$output" == *"<NO-CARRIER,BROADCAST,MULTICAST,UP>"* ]]
		[[ "$output" == *" tun type tap "* ]]
		run -0 sh -c "ip -n '$P$n' -o -4 addr show | awk '{ print \$2, \$4 }'"
		[ "$output" = "lo 127.0.0.1/8
bds-tap0 10.0.2.2/24
veth0 $NET.$n.2/30" ]
		run -0 sh -c "ip -o -4 addr show dev '$P-veth$n' | awk '{ print \$4 }'"
		[ "$output" = "$NET.$n.1/30" ]
		run -0 ip -o link show dev "$P-veth$n"
		[[ "$output" == *",UP,LOWER_UP>"* ]]
		run -0 ip netns exec "$P$n" cat /proc/sys/net/ipv4/ip_forward
		[ "$output" = 1 ]
		run -0 ip netns exec "$P$n" iptables -t nat -S
		[ "$output" = "-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-A PREROUTING -d $NET.$n.2/32 -i veth0 -p tcp -m tcp --dport 22 -j DNAT --to-destination 10.0.2.15:22
-A POSTROUTING -o bds-tap0 -j MASQUERADE" ]
		run -0 cat "$D/$n.json"
		[ "$output" = "{\"slot\": $n, \"netns\": \"$P$n\", \"tap\": \"bds-tap0\", \"guest_host\": \"$NET.$n.2\", \"guest_port\": 22}" ]
		run -0 jq -c . "$D/$n.json"
		[ "$output" = "{\"slot\":$n,\"netns\":\"$P$n\",\"tap\":\"bds-tap0\",\"guest_host\":\"$NET.$n.2\",\"guest_port\":22}" ]
	done
	# nothing else: no slot 2, no temporary files
	run -0 ls -A "$D"
	[ "$output" = "0.json
1.json" ]
	run -0 hs --slots 2 --check
	[ "$output" = "bds-host-setup: 2 slots ready in $D (${P}0..${P}1)" ]
}

@test "running it again changes nothing and duplicates nothing" {
	run -0 hs --slots 2
	local before after
	before=$(ip netns exec "${P}1" iptables -t nat -S; ip -n "${P}1" -o -4 addr show; ip -o -4 addr show dev "$P-veth1"; stat -c %i "$D/1.json")
	run -0 hs --slots 2
	[ "$output" = "bds-host-setup: 2 slots ready in $D (${P}0..${P}1)" ]
	after=$(ip netns exec "${P}1" iptables -t nat -S; ip -n "${P}1" -o -4 addr show; ip -o -4 addr show dev "$P-veth1"; stat -c %i "$D/1.json")
	[ "$after" = "$before" ]
	run -0 sh -c "ip netns exec '${P}0' iptables -t nat -S | grep -c '^-A'"
	[ "$output" = 2 ]
}

@test "--check lists exactly what is missing and exits 1; setup repairs it" {
	run -1 hs --slots 2 --check
	[ "$output" = "missing: netns ${P}0
missing: netns ${P}1
bds-host-setup: 2 missing (run bds-host-setup to set them up)" ]
	run -0 hs --slots 2
	ip -n "${P}0" link del dev bds-tap0
	ip link del dev "$P-veth1"
	ip netns exec "${P}1" iptables -t nat -D POSTROUTING -o bds-tap0 -j MASQUERADE
	ip netns exec "${P}1" sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'
	printf '{"slot": 0}\n' > "$D/0.json"
	run -1 hs --slots 3 --check
	[ "$output" = "missing: ${P}0: tap bds-tap0
missing: slot file $D/0.json
missing: veth $P-veth1 <-> ${P}1: veth0
missing: ${P}1: net.ipv4.ip_forward=1
missing: ${P}1: iptables -t nat -A POSTROUTING -o bds-tap0 -j MASQUERADE
missing: netns ${P}2
bds-host-setup: 6 missing (run bds-host-setup to set them up)" ]
	# --check changed nothing
	run -1 ip -n "${P}0" link show dev bds-tap0
	run -0 hs --slots 3
	run -0 hs --slots 3 --check
	[ "$output" = "bds-host-setup: 3 slots ready in $D (${P}0..${P}2)" ]
}

@test "the host reaches each slot's guest at guest_host:22 through the DNAT and the TAP" {
	run -0 hs --slots 2
	local n deadline rc
	for n in 0 1; do
		ip netns exec "$P$n" /usr/bin/python3 "$BATS_FILE_TMPDIR/guest.py" bds-tap0 20 \
			> "$BATS_TEST_TMPDIR/guest$n.out" 2>&1 3>&- &
		GUEST_PID=$!
		deadline=$((SECONDS + 20))
		until grep -qx ready "$BATS_TEST_TMPDIR/guest$n.out"; do
			[ "$SECONDS" -lt "$deadline" ] && kill -0 "$GUEST_PID" || { cat "$BATS_TEST_TMPDIR/guest$n.out"; return 1; }
			sleep 0.1
		done
		run -0 /usr/bin/python3 -c 'import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print("connected to %s:%d" % s.getpeername())' \
			"$(jq -r .guest_host "$D/$n.json")" "$(jq -r .guest_port "$D/$n.json")"
		[ "$output" = "connected to $NET.$n.2:22" ]
		rc=0
		wait "$GUEST_PID" || rc=$?
		GUEST_PID=
		[ "$rc" -eq 0 ]
		run -0 cat "$BATS_TEST_TMPDIR/guest$n.out"
		# the guest sees the TAP's address (masquerade) and its own, as in every restore
		[ "$output" = "ready
syn from 10.0.2.2 to 10.0.2.15:22" ]
	done
}

@test "--remove takes down this prefix's namespaces, veths, slot files and locks, nothing else" {
	run -0 hs --slots 2
	: > "$D/0.lock"
	mkdir "$D/1.lock" # a lock directory of the model before kernel locks
	printf '{"slot": 5, "netns": "other5", "tap": "bds-tap0", "guest_host": "10.201.5.2", "guest_port": 22}\n' > "$D/5.json"
	run -0 hs --remove
	[ "$output" = "bds-host-setup: removed 2 namespaces named $P<n> and their slot files in $D" ]
	run -0 sh -c "ip netns list | awk '{ print \$1 }' | grep -E '^$P[0-9]+\$' || echo none"
	[ "$output" = none ]
	run -1 ip link show dev "$P-veth0"
	run -1 ip link show dev "$P-veth1"
	run -0 ls -A "$D"
	[ "$output" = 5.json ]
	# again: nothing left to remove, still fine
	run -0 hs --remove
	[ "$output" = "bds-host-setup: removed 0 namespaces named $P<n> and their slot files in $D" ]
	run -1 hs --slots 2 --check
}

@test "--remove refuses while a VM holds a slot (its kernel lock), and removes nothing" {
	run -0 hs --slots 2
	# a keeper holding slot 1, as the firecracker driver's does while its VM runs
	(exec 9<>"$D/1.lock" && flock 9 && exec sleep 100000) </dev/null >/dev/null 2>&1 3>&- &
	local holder=$!
	for _ in $(seq 100); do [ "$(flock -n -o "$D/1.lock" true && echo free || echo held)" = held ] && break; sleep 0.05; done
	run -1 hs --remove --wait 0.3
	[ "$output" = "bds-host-setup: slot 1 is in use by a VM (its lock '$D/1.lock' is held): stop the VM, then remove" ]
	run -0 hs --slots 2 --check
	[ -f "$D/0.json" ]
	[ -f "$D/1.json" ]
	[ -f "$D/1.lock" ]
	# the VM gone (its keeper let go), the slot goes too
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	run -0 hs --remove --wait 0.3
	[ "$output" = "bds-host-setup: removed 2 namespaces named $P<n> and their slot files in $D" ]
	[ ! -e "$D" ]
}

@test "--tap-user: the TAPs belong to the uid the jailer runs Firecracker as" {
	run -64 "$HS" --tap-user root
	[ "${lines[0]}" = "bds-host-setup: --tap-user 'root': a numeric uid" ]
	run -0 hs --slots 1 --tap-user 4321
	run -0 ip -n "${P}0" -d link show dev bds-tap0
	[[ "$output" == *" user 4321 "* ]]
}

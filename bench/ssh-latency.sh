#!/bin/sh
# ssh-latency: per-command cost of bds-guest-exec's ssh transport against a real sshd on
# loopback: the whole process (connect, key exchange, auth, command) and the command alone
# on the open session (exec.seconds). Usage: bench/ssh-latency.sh [RUNS] (default 50).
set -eu

runs=${1:-50}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${BDS_BUILD:-$top/build}/bin/bds-guest-exec
[ -x "$bin" ] || { echo "ssh-latency: build first (make): no $bin" >&2; exit 1; }

tmp=$(mktemp -d)
sshd_pid=
cleanup() {
	if [ -n "$sshd_pid" ]; then
		kill "$sshd_pid" 2>/dev/null || true
		wait "$sshd_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/client_key"
cp "$tmp/client_key.pub" "$tmp/authorized_keys"
host_sha=$(awk '{print $2}' "$tmp/host_key.pub" | base64 -d | sha256sum | cut -d' ' -f1)

tries=0
while :; do
	port=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 40000) }')
	cat > "$tmp/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $tmp/host_key
PidFile $tmp/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
SetEnv SHLVL=1
Subsystem sftp internal-sftp
EOF
	: > "$tmp/sshd.log"
	/usr/sbin/sshd -f "$tmp/sshd_config" -D -e 2>> "$tmp/sshd.log" &
	sshd_pid=$!
	i=0
	while [ $i -lt 100 ] && ! grep -q 'Server listening' "$tmp/sshd.log"; do
		kill -0 "$sshd_pid" 2>/dev/null || break
		sleep 0.05
		i=$((i + 1))
	done
	grep -q 'Server listening' "$tmp/sshd.log" && break
	kill "$sshd_pid" 2>/dev/null || true
	wait "$sshd_pid" 2>/dev/null || true
	sshd_pid=
	tries=$((tries + 1))
	[ $tries -lt 5 ] || { cat "$tmp/sshd.log" >&2; exit 1; }
done

jq -cn --argjson port "$port" --arg key "$tmp/client_key" --arg sha "$host_sha" \
	'{vm: {driver: "qemu", guest: {host: "127.0.0.1", port: $port, user: "root", key: $key,
	       host_key_sha256: $sha}}}' > "$tmp/env.json"

"$bin" -- true < "$tmp/env.json" > /dev/null # warm the page cache
i=0
while [ $i -lt "$runs" ]; do
	t0=$(date +%s%N)
	"$bin" -- true < "$tmp/env.json" > "$tmp/out.json"
	t1=$(date +%s%N)
	jq -c --argjson ms "$(((t1 - t0) / 1000))" '{process: ($ms / 1000), command: (.exec.seconds * 1000)}' \
		"$tmp/out.json" >> "$tmp/times"
	i=$((i + 1))
done

jq -rs '
	def stats(f): map(f) | sort | {median: .[length / 2 | floor], p90: .[length * 0.9 | floor],
	                                min: .[0], max: .[-1]};
	"bds-guest-exec -- true over ssh, \(length) runs (ms)",
	"  whole process (connect+kex+auth+command): \(stats(.process))",
	"  command on the open session (exec.seconds): \(stats(.command))"' "$tmp/times"

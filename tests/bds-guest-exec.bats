# bds-guest-exec: the local transport on the host, the ssh transport against a real OpenSSH
# sshd started on loopback by setup_file.

load helpers
load ssh-helpers

setup_file() {
	ssh_start "$BATS_FILE_TMPDIR/sshd"
}

teardown_file() {
	ssh_stop
}

setup() {
	T=$BATS_TEST_TMPDIR
	WT=$T/worktree
	mkdir -p "$WT"
	LOCAL_ENV=$(jq -cn --arg wt "$WT" '{vm: {driver: "local", worktree: $wt}, workspace: "/ws"}')
	GUEST_ENV=$(guest_envelope)
}

# Servers a test starts in the background, stopped whatever the test's outcome.
teardown() {
	stop_background
}

# canon JSON: the envelope line with the value of exec.seconds replaced by S, after
# checking that it is a number.
canon() {
	jq -e '.exec.seconds | type == "number"' <<<"$1" >/dev/null
	sed -E 's/"seconds":[0-9.eE+-]+/"seconds":S/' <<<"$1"
}

# no_temporaries: no atomic-write temporary (NAME.tmp.XXXXXX) is left anywhere under $T.
no_temporaries() {
	[ "$(find "$T" -name '*.tmp.*')" = "" ]
}

# process_gone PID: the process is dead (a zombie waiting for its reaper counts) within 2 s.
process_gone() {
	local _
	for _ in $(seq 20); do
		if ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "process $1 still alive: $(cat "/proc/$1/stat" 2>/dev/null)" >&2
	return 1
}

# ---------------------------------------------------------------- usage and input

@test "usage: no -- before the command is 64" {
	run -64 bds-guest-exec true <<<"$LOCAL_ENV"
	[ "${lines[0]}" = "bds-guest-exec: missing -- before the command" ]
}

@test "usage: nothing after -- is 64" {
	run -64 bds-guest-exec -- <<<"$LOCAL_ENV"
	[ "${lines[0]}" = "bds-guest-exec: missing command after --" ]
}

@test "usage: bad --timeout, --ready-timeout, --put and --get are 64" {
	run -64 bds-guest-exec --timeout abc -- true <<<"$LOCAL_ENV"
	[ "${lines[0]}" = "bds-guest-exec: --timeout takes a number of seconds greater than 0" ]
	run -64 bds-guest-exec --timeout 0 -- true <<<"$LOCAL_ENV"
	run -64 bds-guest-exec --timeout -3 -- true <<<"$LOCAL_ENV"
	run -64 bds-guest-exec --ready-timeout 1x -- true <<<"$LOCAL_ENV"
	run -64 bds-guest-exec --put nocolon -- true <<<"$LOCAL_ENV"
	[ "${lines[0]}" = "bds-guest-exec: --put takes LOCAL:REMOTE" ]
	run -64 bds-guest-exec --get :x -- true <<<"$LOCAL_ENV"
	run -64 bds-guest-exec --bogus -- true <<<"$LOCAL_ENV"
}

@test "input: a cold envelope passes through byte for byte, exit 2, command not run" {
	cold='{"cold":{"reason":"no snapshot","stage":"bds-store-lookup"},"vm":{"driver":"local","worktree":"'$WT'"}}'
	run -2 --separate-stderr bds-guest-exec -- touch "$T/ran" <<<"$cold"
	[ "$output" = "$cold" ]
	[ "$stderr" = "" ]
	[ ! -e "$T/ran" ]
}

@test "input: a \`cold\` that is not an object of strings stage and reason is 1, never 2, command not run" {
	check_bad_cold bds-guest-exec -- touch "$T/ran"
	[ ! -e "$T/ran" ]
}

@test "input: empty stdin is 1, never cold" {
	run -1 --separate-stderr bds-guest-exec -- true </dev/null
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: read envelope 'stdin': empty input (the upstream stage failed)" ]
}

@test "input: invalid JSON and a non-object are 1" {
	run -1 --separate-stderr bds-guest-exec -- true <<<'{"vm": '
	[ "$output" = "" ]
	run -1 --separate-stderr bds-guest-exec -- true <<<'[1]'
	[ "$stderr" = "bds-guest-exec: read envelope 'stdin': expected an object, found array" ]
}

@test "input: no vm is 1" {
	run -1 --separate-stderr bds-guest-exec -- true <<<'{"workspace":"/ws"}'
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: envelope has no object 'vm' (run bds-vm-restore first)" ]
}

@test "local: no vm.worktree is 1" {
	run -1 --separate-stderr bds-guest-exec -- touch "$T/ran" <<<'{"vm":{"driver":"local"}}'
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: envelope has no string 'vm.worktree' (the local transport runs commands there)" ]
	[ ! -e "$T/ran" ]
}

# ---------------------------------------------------------------- local transport

@test "local: runs in the worktree, stdout to our stderr, envelope gets exec" {
	run -0 --separate-stderr bds-guest-exec -- sh -c 'pwd; echo "$0"' 'x y' <<<"$LOCAL_ENV"
	[ "$(canon "$output")" = '{"exec":{"command":["sh","-c","pwd; echo \"$0\"","x y"],"seconds":S,"status":0},"vm":{"driver":"local","worktree":"'$WT'"},"workspace":"/ws"}' ]
	[ "$stderr" = "$WT
x y" ]
}

@test "local: the command's stderr goes to our stderr" {
	run -0 --separate-stderr bds-guest-exec -- sh -c 'echo oops >&2' <<<"$LOCAL_ENV"
	[ "$stderr" = "oops" ]
}

@test "local: --stdout FILE gets the command's stdout, envelope names it absolutely" {
	cd "$T"
	run -0 --separate-stderr bds-guest-exec --stdout out.txt -- sh -c 'echo one; echo two; echo e >&2' <<<"$LOCAL_ENV"
	[ "$(canon "$output")" = '{"exec":{"command":["sh","-c","echo one; echo two; echo e >&2"],"seconds":S,"status":0,"stdout":"'$T'/out.txt"},"vm":{"driver":"local","worktree":"'$WT'"},"workspace":"/ws"}' ]
	[ "$stderr" = "e" ]
	[ "$(cat "$T/out.txt")" = "one
two" ]
	no_temporaries
}

@test "local: --stdout and --get write a device in place (never chmod it) and follow a symlink" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (mknod)"
	# a copy of /dev/null: renaming over it would replace the node with a regular file
	mknod "$T/null" c 1 3
	chmod 666 "$T/null"
	printf 'x\n' > "$WT/f"
	chmod 700 "$WT/f"
	run -0 bds-guest-exec --stdout "$T/null" --get "f:$T/null" -- echo hello <<<"$LOCAL_ENV"
	[ -c "$T/null" ]
	[ "$(stat -c %t:%T:%a "$T/null")" = 1:3:666 ]
	printf 'old\n' > "$T/target"
	ln -s target "$T/link"
	run -0 bds-guest-exec --stdout "$T/link" -- echo hello <<<"$LOCAL_ENV"
	[ -L "$T/link" ]
	[ "$(cat "$T/target")" = hello ]
	no_temporaries
}

@test "local: exit status 3 is 1 with the status, no envelope, no --stdout file" {
	run -1 --separate-stderr bds-guest-exec --stdout "$T/out" -- sh -c 'echo partial; exit 3' <<<"$LOCAL_ENV"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: command 'sh -c echo partial; exit 3' failed: exit status 3" ]
	[ ! -e "$T/out" ]
	no_temporaries
}

@test "local: a command killed by a signal is 1" {
	run -1 --separate-stderr bds-guest-exec -- sh -c 'kill -TERM $$' <<<"$LOCAL_ENV"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: command 'sh -c kill -TERM \$\$' failed: killed by signal SIGTERM" ]
}

@test "local: a command that cannot be run is 1" {
	run -1 --separate-stderr bds-guest-exec -- no-such-command-bds <<<"$LOCAL_ENV"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: run 'no-such-command-bds' in $WT: No such file or directory" ]
}

@test "local: --timeout kills the whole process group and is 1 within seconds" {
	start=$(date +%s)
	run -1 --separate-stderr bds-guest-exec --timeout 1 -- sh -c 'sleep 30 & echo $! > "$0"; wait' "$T/pid" <<<"$LOCAL_ENV"
	elapsed=$(($(date +%s) - start))
	[ "$elapsed" -le 4 ]
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: command 'sh -c sleep 30 & echo \$! > \"\$0\"; wait $T/pid' failed: timed out after 1 s (killed)" ]
	process_gone "$(cat "$T/pid")"
}

# interrupt_test ENVELOPE: SIGTERM to a running bds-guest-exec kills the command's whole
# process group (which does not get the signal itself) and fails with 1.
interrupt_test() {
	bds-guest-exec -- sh -c 'sleep 30 & echo $! > "$0.tmp" && mv "$0.tmp" "$0"; wait' "$T/pid" \
		<<<"$1" >"$T/out" 2>"$T/err" 3>&- &
	local gx=$! rc=0 _
	for _ in $(seq 100); do [ -e "$T/pid" ] && break; sleep 0.05; done
	kill -TERM "$gx"
	wait "$gx" || rc=$?
	[ "$rc" = 1 ]
	[ "$(cat "$T/out")" = "" ]
	[ "$(cat "$T/err")" = "bds-guest-exec: command 'sh -c sleep 30 & echo \$! > \"\$0.tmp\" && mv \"\$0.tmp\" \"\$0\"; wait $T/pid' failed: interrupted by SIGTERM (killed)" ]
	process_gone "$(cat "$T/pid")"
}

@test "local: SIGTERM kills the command's process group and is 1" {
	interrupt_test "$LOCAL_ENV"
}

@test "local: --put and --get copy atomically, relative to the worktree, modes kept" {
	printf 'payload\n' > "$T/in"
	chmod 750 "$T/in"
	run -0 --separate-stderr bds-guest-exec --put "$T/in:sub-in" --get "sub-in:$T/back" -- sh -c 'cat sub-in' <<<"$LOCAL_ENV"
	[ "$stderr" = "payload" ]
	cmp "$T/in" "$WT/sub-in"
	cmp "$T/in" "$T/back"
	[ "$(stat -c %a "$WT/sub-in")" = 750 ]
	[ "$(ls "$WT")" = "sub-in" ]
}

@test "local: a missing --put source is 1 and the command does not run" {
	run -1 --separate-stderr bds-guest-exec --put "$T/missing:x" -- touch "$T/ran" <<<"$LOCAL_ENV"
	[ "$stderr" = "bds-guest-exec: put '$T/missing': read '$T/missing': No such file or directory" ]
	[ ! -e "$T/ran" ]
}

@test "local: a --put FIFO nobody writes is 1 at once, never a hang; <(...) is copied" {
	mkfifo "$T/fifo"
	run -1 --separate-stderr timeout 20 bds-guest-exec --put "$T/fifo:x" -- touch "$T/ran" <<<"$LOCAL_ENV"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: put '$T/fifo': read '$T/fifo': a FIFO with no writer and nothing to read" ]
	[ ! -e "$T/ran" ]
	[ ! -e "$WT/x" ]
	run -0 bds-guest-exec --put <(printf 'piped\n'):x -- true <<<"$LOCAL_ENV"
	[ "$(cat "$WT/x")" = piped ]
	no_temporaries
}

# ---------------------------------------------------------------- ssh transport

@test "ssh: runs in the guest, stdout to our stderr, envelope gets exec" {
	run -0 --separate-stderr bds-guest-exec -- sh -c 'echo out; echo err >&2' <<<"$GUEST_ENV"
	expected=$(jq -cS '.exec = {command: ["sh", "-c", "echo out; echo err >&2"], seconds: "S", status: 0}' <<<"$GUEST_ENV" | sed 's/"S"/S/')
	[ "$(canon "$output")" = "$expected" ]
	# the order between the two streams is not defined
	[ "$(sort <<<"$stderr")" = "err
out" ]
}

@test "ssh: argv arrives literally: spaces, quotes, \$(...), globs, backslashes" {
	run -0 --separate-stderr bds-guest-exec --stdout "$T/out" -- printf '[%s]\n' 'a b' "it's" "\$(touch $T/pwned)" '"q"' '*' ';' 'x\y' '' <<<"$GUEST_ENV"
	[ "$(cat "$T/out")" = "[a b]
[it's]
[\$(touch $T/pwned)]
[\"q\"]
[*]
[;]
[x\\y]
[]" ]
	[ ! -e "$T/pwned" ]
	[ "$stderr" = "" ]
}

@test "ssh: both streams over 5 MB each arrive complete" {
	a=$(head -c 6000000 /dev/zero | tr '\0' a | sha256sum)
	b=$(head -c 6500000 /dev/zero | tr '\0' b | sha256sum)
	run -0 sh -c 'bds-guest-exec --stdout "$1" -- sh -c "$2" 2>"$3"' _ "$T/out" \
		"head -c 6500000 /dev/zero | tr '\\0' b >&2 & head -c 6000000 /dev/zero | tr '\\0' a; wait" \
		"$T/err" <<<"$GUEST_ENV"
	[ "$(stat -c %s "$T/out")" = 6000000 ]
	[ "$(stat -c %s "$T/err")" = 6500000 ]
	[ "$(sha256sum < "$T/out")" = "$a" ]
	[ "$(sha256sum < "$T/err")" = "$b" ]
}

@test "ssh: stderr first then stdout, 6 MB each, does not deadlock" {
	run -0 sh -c 'bds-guest-exec --timeout 60 --stdout "$1" -- sh -c "$2" 2>"$3"' _ "$T/out" \
		"head -c 6000000 /dev/zero >&2; head -c 6000000 /dev/zero" "$T/err" <<<"$GUEST_ENV"
	[ "$(stat -c %s "$T/out")" = 6000000 ]
	[ "$(stat -c %s "$T/err")" = 6000000 ]
}

@test "ssh: remote exit status 3 is 1 with the status, no --stdout file" {
	run -1 --separate-stderr bds-guest-exec --stdout "$T/out" -- sh -c 'echo partial; exit 3' <<<"$GUEST_ENV"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: command 'sh -c echo partial; exit 3' failed: exit status 3" ]
	[ ! -e "$T/out" ]
	no_temporaries
}

@test "ssh: remote command killed by a signal is 1 with the signal" {
	run -1 --separate-stderr bds-guest-exec -- sh -c 'kill -KILL $$' <<<"$GUEST_ENV"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: command 'sh -c kill -KILL \$\$' failed: killed by signal SIGKILL" ]
	run -1 --separate-stderr bds-guest-exec -- sh -c 'kill -TERM $$' <<<"$GUEST_ENV"
	[ "$stderr" = "bds-guest-exec: command 'sh -c kill -TERM \$\$' failed: killed by signal SIGTERM" ]
}

@test "ssh: a remote command that cannot be run is 1 with status 127" {
	run -1 --separate-stderr bds-guest-exec -- no-such-command-bds <<<"$GUEST_ENV"
	[ "${stderr##*$'\n'}" = "bds-guest-exec: command 'no-such-command-bds' failed: exit status 127" ]
}

@test "ssh: the remote command reads end of file on stdin" {
	run -0 --separate-stderr bds-guest-exec --timeout 10 -- cat <<<"$GUEST_ENV"
	[ "$stderr" = "" ]
}

@test "ssh: --timeout kills the remote process group and is 1 within seconds" {
	start=$(date +%s)
	run -1 --separate-stderr bds-guest-exec --timeout 1 -- sh -c 'sleep 30 & echo $! > "$0"; wait' "$T/pid" <<<"$GUEST_ENV"
	elapsed=$(($(date +%s) - start))
	[ "$elapsed" -le 5 ]
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: command 'sh -c sleep 30 & echo \$! > \"\$0\"; wait $T/pid' failed: timed out after 1 s (killed)" ]
	process_gone "$(cat "$T/pid")"
}

@test "ssh: --timeout stops a command that never stops writing" {
	start=$(date +%s)
	run -1 --separate-stderr bds-guest-exec --timeout 1 --stdout "$T/out" -- sh -c 'while :; do echo y; done' <<<"$GUEST_ENV"
	[ "$(($(date +%s) - start))" -le 5 ]
	[ "$stderr" = "bds-guest-exec: command 'sh -c while :; do echo y; done' failed: timed out after 1 s (killed)" ]
	[ ! -e "$T/out" ]
}

@test "ssh: --timeout stops a command that closed its output but keeps running" {
	start=$(date +%s)
	run -1 --separate-stderr bds-guest-exec --timeout 1 -- sh -c 'echo $$ > "$0"; exec >/dev/null 2>&1; sleep 30' "$T/pid" <<<"$GUEST_ENV"
	[ "$(($(date +%s) - start))" -le 5 ]
	[ "$stderr" = "bds-guest-exec: command 'sh -c echo \$\$ > \"\$0\"; exec >/dev/null 2>&1; sleep 30 $T/pid' failed: timed out after 1 s (killed)" ]
	process_gone "$(cat "$T/pid")"
}

@test "local: --timeout stops a command that closed its output but keeps running" {
	run -1 --separate-stderr bds-guest-exec --timeout 1 -- sh -c 'echo $$ > "$0"; exec >/dev/null 2>&1; sleep 30' "$T/pid" <<<"$LOCAL_ENV"
	[ "$stderr" = "bds-guest-exec: command 'sh -c echo \$\$ > \"\$0\"; exec >/dev/null 2>&1; sleep 30 $T/pid' failed: timed out after 1 s (killed)" ]
	process_gone "$(cat "$T/pid")"
}

@test "ssh: SIGTERM kills the remote process group and is 1" {
	interrupt_test "$GUEST_ENV"
}

@test "ssh: put and get of a 50 MB file over sftp, atomic, replacing existing files" {
	head -c 50000000 /dev/urandom > "$T/big"
	chmod 640 "$T/big"
	mkdir "$T/remote"
	run -0 --separate-stderr bds-guest-exec --put "$T/big:$T/remote/big" --get "$T/remote/big:$T/back" \
		-- cmp "$T/big" "$T/remote/big" <<<"$GUEST_ENV"
	[ "$stderr" = "" ]
	cmp "$T/big" "$T/back"
	[ "$(stat -c %a "$T/remote/big")" = 640 ]
	[ "$(stat -c %a "$T/back")" = 640 ]
	# again, over existing files: replaced, and no temporary left on either side
	printf 'small\n' > "$T/small"
	run -0 --separate-stderr bds-guest-exec --put "$T/small:$T/remote/big" --get "$T/remote/big:$T/back" \
		-- true <<<"$GUEST_ENV"
	cmp "$T/small" "$T/remote/big"
	cmp "$T/small" "$T/back"
	[ "$(ls "$T/remote")" = "big" ]
	no_temporaries
}

@test "ssh: a missing remote --get source is 1 and leaves no local file" {
	run -1 --separate-stderr bds-guest-exec --get "$T/nothing:$T/back" -- true <<<"$GUEST_ENV"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: get '$T/nothing': open '$T/nothing' on 127.0.0.1:$SSH_PORT: no such file" ]
	[ ! -e "$T/back" ]
	no_temporaries
}

@test "ssh: a wrong host key is 1, host key mismatch, nothing run" {
	wrong=$(printf '%064d' 0)
	run -1 --separate-stderr bds-guest-exec -- touch "$T/ran" <<<"$(guest_envelope "$SSH_PORT" "$SSH_KEY" "$wrong")"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: host key mismatch for 127.0.0.1:$SSH_PORT: expected sha256 $wrong, the guest presented $SSH_HOST_SHA" ]
	[ ! -e "$T/ran" ]
}

@test "ssh: an unreachable guest is cold (2) with the reason, within the readiness deadline" {
	port=$(free_port)
	start=$(date +%s)
	run -2 --separate-stderr bds-guest-exec --ready-timeout 1 -- touch "$T/ran" <<<"$(guest_envelope "$port")"
	elapsed=$(($(date +%s) - start))
	[ "$elapsed" -le 3 ]
	[ "$(jq -c 'del(.cold)' <<<"$output")" = "$(guest_envelope "$port" | jq -cS .)" ]
	[ "$(jq -r .cold.stage <<<"$output")" = bds-guest-exec ]
	reason=$(jq -r .cold.reason <<<"$output")
	[[ "$reason" =~ ^"guest 127.0.0.1:$port unreachable after "[0-9.]+"s: connect: Connection refused"$ ]]
	[ "$stderr" = "bds-guest-exec: cold: $reason" ]
	[ ! -e "$T/ran" ]
}

@test "ssh: a guest that accepts but never speaks SSH is cold (2)" {
	port=$(free_port)
	# a listener that never writes a banner
	perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
		Listen => 16, ReuseAddr => 1) or die; sleep 20' "$port" 3>&- &
	BG_PIDS=$!
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
	run -2 --separate-stderr bds-guest-exec --ready-timeout 1 -- true <<<"$(guest_envelope "$port")"
	[[ "$(jq -r .cold.reason <<<"$output")" == "guest 127.0.0.1:$port unreachable after "*"s: no SSH banner or key exchange within the deadline" ]]
}

@test "ssh: a guest that comes up during the readiness deadline is used" {
	port=$(free_port)
	env=$(guest_envelope "$port")
	# a second sshd (same keys) on the new port, started after bds-guest-exec begins polling
	sed "s/^Port .*/Port $port/; s|^PidFile .*|PidFile $T/late.pid|" "$SSH_DIR/sshd_config" > "$T/late_config"
	(sleep 1; exec /usr/sbin/sshd -f "$T/late_config" -D -e 2>"$T/late.log") 3>&- &
	BG_PIDS=$!
	run -0 --separate-stderr bds-guest-exec --ready-timeout 15 -- echo up <<<"$env"
	[ "$stderr" = "up" ]
}

@test "ssh: a bad key file is 1 and names ed25519" {
	printf 'not a key\n' > "$T/garbage"
	run -1 --separate-stderr bds-guest-exec -- true <<<"$(guest_envelope "$SSH_PORT" "$T/garbage")"
	[ "$output" = "" ]
	[[ "$stderr" == "bds-guest-exec: authenticate as 'root' to 127.0.0.1:$SSH_PORT with key '$T/garbage': "*"(the key must be an unencrypted ed25519 key: libssh2 1.10 cannot sign RSA with SHA-2, which OpenSSH 9 requires)" ]]
	run -1 --separate-stderr bds-guest-exec -- true <<<"$(guest_envelope "$SSH_PORT" "$T/missing")"
	[ "$stderr" = "bds-guest-exec: read key '$T/missing': No such file or directory (the key must be an unencrypted ed25519 key: libssh2 1.10 cannot sign RSA with SHA-2, which OpenSSH 9 requires)" ]
}

@test "ssh: an RSA key, even one the guest trusts, is 1 with the ed25519 hint" {
	ssh-keygen -q -t rsa -b 2048 -N '' -f "$T/rsa"
	cat "$T/rsa.pub" >> "$SSH_DIR/authorized_keys"
	run -1 --separate-stderr bds-guest-exec -- true <<<"$(guest_envelope "$SSH_PORT" "$T/rsa")"
	[ "$output" = "" ]
	[[ "$stderr" == "bds-guest-exec: authenticate as 'root' to 127.0.0.1:$SSH_PORT with key '$T/rsa': "*"libssh2 1.10 cannot sign RSA with SHA-2, which OpenSSH 9 requires)" ]]
}

@test "ssh: a key the guest does not trust is 1" {
	ssh-keygen -q -t ed25519 -N '' -f "$T/other"
	run -1 --separate-stderr bds-guest-exec -- true <<<"$(guest_envelope "$SSH_PORT" "$T/other")"
	[ "$output" = "" ]
	[[ "$stderr" == "bds-guest-exec: authenticate as 'root' to 127.0.0.1:$SSH_PORT with key '$T/other': "* ]]
}

@test "ssh: a malformed vm.guest is 1" {
	run -1 --separate-stderr bds-guest-exec -- true <<<'{"vm":{"guest":{"host":"127.0.0.1"}}}'
	[ "$stderr" = "bds-guest-exec: envelope 'vm.guest' needs strings host, user, key, host_key_sha256 and a number port" ]
	run -1 --separate-stderr bds-guest-exec -- true <<<"$(guest_envelope "$SSH_PORT" "$SSH_KEY" abc)"
	[ "$stderr" = "bds-guest-exec: envelope 'vm.guest.host_key_sha256' is not 64 hex digits: 'abc'" ]
	run -1 --separate-stderr bds-guest-exec -- true <<<'{"vm":{"guest":"x"}}'
	[ "$stderr" = "bds-guest-exec: envelope 'vm.guest' is not an object" ]
}

# ---------------------------------------------------------------- hostile envelopes, long commands

@test "input: relative, NUL-holding or empty envelope paths and names are 1, nothing run" {
	run -1 --separate-stderr bds-guest-exec -- touch "$T/ran" <<<'{"vm":{"driver":"local","worktree":"rel/wt"}}'
	[ "$stderr" = "bds-guest-exec: envelope 'vm.worktree' is not an absolute path: 'rel/wt'" ]
	run -1 --separate-stderr bds-guest-exec -- touch "$T/ran" <<<"$(jq -c '.vm.worktree += "\u0000/x"' <<<"$LOCAL_ENV")"
	[ "$stderr" = "bds-guest-exec: read envelope 'stdin': key 'vm.worktree': the string holds a NUL byte" ]
	run -1 --separate-stderr bds-guest-exec -- touch "$T/ran" <<<"$(guest_envelope "$SSH_PORT" client_key)"
	[ "$stderr" = "bds-guest-exec: envelope 'vm.guest.key' is not an absolute path: 'client_key'" ]
	run -1 --separate-stderr bds-guest-exec -- touch "$T/ran" <<<"$(jq -c '.vm.guest.cwd = "ws"' <<<"$GUEST_ENV")"
	[ "$stderr" = "bds-guest-exec: envelope 'vm.guest.cwd' is not an absolute path: 'ws'" ]
	run -1 --separate-stderr bds-guest-exec -- touch "$T/ran" <<<"$(jq -c '.vm.guest.cwd = 7' <<<"$GUEST_ENV")"
	[ "$stderr" = "bds-guest-exec: envelope 'vm.guest': key 'cwd': expected string, found number" ]
	run -1 --separate-stderr bds-guest-exec -- touch "$T/ran" <<<"$(jq -c '.vm.guest.host = ""' <<<"$GUEST_ENV")"
	[ "$stderr" = "bds-guest-exec: envelope 'vm.guest.host' is empty" ]
	[ ! -e "$T/ran" ]
}

@test "ssh: a FIFO as the key file is 1 at once, never a hang" {
	mkfifo "$T/key"
	run -1 --separate-stderr timeout 20 bds-guest-exec -- true <<<"$(guest_envelope "$SSH_PORT" "$T/key")"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: read key: '$T/key': not a regular file (a FIFO)" ]
}

@test "ssh: a command longer than an exec request can carry (3 x 100 KB) arrives whole, stdin at its end" {
	a=$(head -c 100000 /dev/zero | tr '\0' a)
	b="it's \$(touch $T/pwned) \"q\" * ; x\\y $(head -c 100000 /dev/zero | tr '\0' b)"
	c=$(printf 'line1\nline2\n\n')
	run -0 --separate-stderr bds-guest-exec --stdout "$T/out" -- \
		sh -c 'printf "[%s]\n" "$@"; cat; echo "$#"' sh "$a" "$b" "$c" <<<"$GUEST_ENV"
	[ "$stderr" = "" ]
	[ "$(cat "$T/out")" = "$(printf '[%s]\n' "$a" "$b" "$c"; echo 3)" ]
	[ ! -e "$T/pwned" ]
	[ "$(jq -c '.exec.command[4:] | map(length)' <<<"$output")" = "[100000,${#b},${#c}]" ]
	# the same with the guest's working directory, and the remote exit status kept
	run -0 --separate-stderr bds-guest-exec --stdout "$T/pwd" -- sh -c 'pwd' sh "$a" \
		<<<"$(jq -c '.vm.guest.cwd = "/tmp"' <<<"$GUEST_ENV")"
	[ "$(cat "$T/pwd")" = /tmp ]
	run -1 --separate-stderr bds-guest-exec -- sh -c 'exit 7' sh "$a" <<<"$GUEST_ENV"
	[ "$stderr" = "bds-guest-exec: command 'sh -c exit 7 sh ${a:0:1008}...' (100016 bytes) failed: exit status 7" ]
}

@test "local: a FIFO as a --get source in the worktree is 1 at once; a pipe as a --put source is read" {
	mkfifo "$WT/fifo"
	run -1 --separate-stderr timeout 20 bds-guest-exec --get "fifo:$T/back" -- true <<<"$LOCAL_ENV"
	[ "$output" = "" ]
	[ "$stderr" = "bds-guest-exec: get 'fifo': '$WT/fifo': not a regular file (a FIFO)" ]
	[ ! -e "$T/back" ]
	run -0 --separate-stderr bds-guest-exec --put <(echo piped):in -- cat in <<<"$LOCAL_ENV"
	[ "$stderr" = "piped" ]
}

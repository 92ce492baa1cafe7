# A real OpenSSH sshd on a random loopback port, for the ssh transport's tests.
# Load with `load ssh-helpers`; call ssh_start DIR in setup_file and ssh_stop in teardown_file.

# ssh_start DIR: host key, client key (ed25519), authorized_keys, sshd_config and log in DIR;
# sshd listening on 127.0.0.1:$SSH_PORT. Exports SSH_DIR SSH_PORT SSH_PID SSH_KEY SSH_HOST_SHA.
# SSH_SETENV (NAME=VALUE ...) adds to the sessions' environment (e.g. a PATH).
ssh_start() {
	SSH_DIR=$1
	mkdir -p "$SSH_DIR" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -C bds-test-host -f "$SSH_DIR/host_key"
	ssh-keygen -q -t ed25519 -N '' -C bds-test-client -f "$SSH_DIR/client_key"
	cp "$SSH_DIR/client_key.pub" "$SSH_DIR/authorized_keys"
	chmod 600 "$SSH_DIR/authorized_keys"
	SSH_KEY=$SSH_DIR/client_key
	SSH_HOST_SHA=$(awk '{print $2}' "$SSH_DIR/host_key.pub" | base64 -d | sha256sum | cut -d' ' -f1)
	local try
	for try in 1 2 3 4 5 6 7 8; do
		SSH_PORT=$((20000 + RANDOM % 12700))
		# SetEnv SHLVL: bash, root's login shell here, sources ~/.bashrc for commands run by
		# sshd only at shell level 1; the tests must not depend on what that file does.
		cat > "$SSH_DIR/sshd_config" <<-EOF
			Port $SSH_PORT
			ListenAddress 127.0.0.1
			HostKey $SSH_DIR/host_key
			PidFile $SSH_DIR/sshd.pid
			AuthorizedKeysFile $SSH_DIR/authorized_keys
			PermitRootLogin prohibit-password
			PubkeyAuthentication yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			UsePAM no
			StrictModes no
			UseDNS no
			PrintMotd no
			MaxStartups 100:30:200
			SetEnv SHLVL=1 ${SSH_SETENV:-}
			Subsystem sftp internal-sftp
			LogLevel INFO
		EOF
		: > "$SSH_DIR/sshd.log"
		/usr/sbin/sshd -f "$SSH_DIR/sshd_config" -D -e 2>> "$SSH_DIR/sshd.log" 3>&- &
		SSH_PID=$!
		local i
		for i in $(seq 1 200); do
			if grep -q 'Server listening' "$SSH_DIR/sshd.log"; then
				export SSH_DIR SSH_PORT SSH_PID SSH_KEY SSH_HOST_SHA
				return 0
			fi
			kill -0 "$SSH_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$SSH_PID" 2>/dev/null || true
		wait "$SSH_PID" 2>/dev/null || true
	done
	echo "ssh_start: sshd did not start:" >&2
	cat "$SSH_DIR/sshd.log" >&2
	return 1
}

# ssh_stop: stops the sshd started by ssh_start (safe when none runs).
ssh_stop() {
	if [ -n "${SSH_PID:-}" ]; then
		kill "$SSH_PID" 2>/dev/null || true
		wait "$SSH_PID" 2>/dev/null || true
		SSH_PID=
	fi
}

# guest_envelope [PORT [KEY [HOST_SHA]]]: an envelope whose vm.guest names the test sshd.
guest_envelope() {
	jq -cn --argjson port "${1:-$SSH_PORT}" --arg key "${2:-$SSH_KEY}" --arg sha "${3:-$SSH_HOST_SHA}" \
		'{vm: {driver: "qemu", guest: {host: "127.0.0.1", port: $port, user: "root", key: $key,
		       host_key_sha256: $sha}}}'
}

# free_port: a loopback port nobody listens on right now.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12700))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# The pipeline a keeper watches (its --lock-owner), played by processes the tests control:
# a live owner, an owner killed with SIGKILL, a zombie owner; and how to look at what a
# keeper holds. Helpers return a status of their own: none asserts inside.

# start_owner: OWNER, a process standing for the pipeline script.
start_owner() {
	sleep 100000 &
	OWNER=$!
}

# stop_owner [SIGNAL]: ends OWNER (SIGTERM by default) and reaps it.
stop_owner() {
	[ -n "${OWNER:-}" ] || return 0
	kill "-${1:-TERM}" "$OWNER" 2>/dev/null || true
	wait "$OWNER" 2>/dev/null || true
	OWNER=
}

# lock_state FILE: "held" while a process holds FILE's kernel lock, else "free" (also when
# there is no such file).
lock_state() {
	if [ -e "$1" ] && ! flock -n -o "$1" true; then echo held; else echo free; fi
}

# wait_gone PID SECONDS: waits until process PID is gone (or a zombie); prints the
# milliseconds it took. Status 1 when it is still there after SECONDS.
wait_gone() {
	local pid=$1 start now
	start=$(date +%s%N)
	while kill -0 "$pid" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
		now=$(date +%s%N)
		if [ $(((now - start) / 1000000)) -ge $(($2 * 1000)) ]; then
			echo "still there after $2 s"
			return 1
		fi
		sleep 0.02
	done
	echo $((($(date +%s%N) - start) / 1000000))
}

# wait_for_file PATH SECONDS: status 1 when PATH does not appear within SECONDS.
wait_for_file() {
	local i
	for i in $(seq $(($2 * 50))); do
		[ -e "$1" ] && return 0
		sleep 0.02
	done
	[ -e "$1" ]
}

# zombie_start: ZDIR and ZOWNER, the child of tests/fixtures/zombie-owner (a parent that
# never reaps it), alive; ZPARENT its parent.
zombie_start() {
	ZDIR=$(mktemp -d "$BATS_TEST_TMPDIR/zombie.XXXXXX")
	"$BDS_TOP/tests/fixtures/zombie-owner" "$ZDIR" &
	ZPARENT=$!
	wait_for_file "$ZDIR/pid" 10 || return 1
	ZOWNER=$(cat "$ZDIR/pid")
}

# zombie_kill: SIGKILLs ZOWNER, which stays a zombie (never reaped) until zombie_done.
zombie_kill() {
	touch "$ZDIR/kill"
	wait_for_file "$ZDIR/killed" 10
}

# zombie_done: the parent reaps its zombie and exits.
zombie_done() {
	[ -n "${ZPARENT:-}" ] || return 0
	touch "$ZDIR/done"
	wait "$ZPARENT" 2>/dev/null || true
	ZPARENT=
}

# lib/fc-api (Firecracker's REST API over a unix socket) through build/tests/fc-api-test,
# against tests/fixtures/fc-api-server, a small HTTP/1.1 server that answers as
# Firecracker does and reports what it received.

load helpers

setup() {
	T=$BATS_TEST_TMPDIR
	SOCK=$T/api.sock
	FC=$BDS_BUILD/tests/fc-api-test
	BG_PIDS=
}

teardown() {
	stop_background
}

# start_server [options]: the test server on $SOCK, in the background (its pid in
# SERVER_PID); returns once it listens, unless --listen-after delays that.
start_server() {
	local _
	rm -f "$SOCK.ready"
	"$BDS_TOP/tests/fixtures/fc-api-server" --sock "$SOCK" --ready "$SOCK.ready" "$@" 3>&- &
	SERVER_PID=$!
	BG_PIDS="$BG_PIDS $SERVER_PID"
	case " $* " in *" --listen-after "*) return 0 ;; esac
	for _ in $(seq 200); do
		[ -e "$SOCK.ready" ] && return 0
		sleep 0.05
	done
	echo "fc-api-server did not start" >&2
	return 1
}

# echo_reply CONN METHOD BODY_LEN DATA_LEN CONTENT_LENGTH: what /echo answers for a request
# with our headers and no Expect.
echo_reply() {
	printf '{"accept":"application/json","body_len":%s,"conn":%s,"content_length":%s,' "$3" "$1" "$5"
	printf '"content_type":"application/json","data_len":%s,"expect":null,"method":"%s",' "$4" "$2"
	printf '"path":"/echo","transfer_encoding":null}'
}

# ---------------------------------------------------------------- answers

@test "204 without a body: 0 and null" {
	start_server
	run -0 "$FC" call "$SOCK" 5 PUT /empty '{"action_type":"InstanceStart"}'
	[ "$output" = "PUT /empty -> 0 null" ]
}

@test "200 with JSON: the parsed reply" {
	start_server
	run -0 "$FC" call "$SOCK" 5 GET /json -
	[ "$output" = 'GET /json -> 0 {"id":"bds-test","state":"Running"}' ]
}

@test "400 with a fault_message: -1 naming the request, the status and the fault" {
	start_server
	run -1 "$FC" call "$SOCK" 5 PUT /fault '{"mem_file_path":"/x"}'
	[ "$output" = "PUT /fault -> -1 firecracker API: PUT /fault: HTTP 400: The requested operation is not supported" ]
}

@test "an error status without a fault_message shows the body" {
	start_server
	run -1 "$FC" call "$SOCK" 5 PUT /text-error -
	[ "$output" = "PUT /text-error -> -1 firecracker API: PUT /text-error: HTTP 500: internal trouble" ]
}

@test "a 2xx reply that is not JSON is an error" {
	start_server
	run -1 "$FC" call "$SOCK" 5 GET /not-json -
	[ "$output" = "GET /not-json -> -1 firecracker API: GET /not-json: HTTP 200: parse 'reply': Invalid numeric literal at EOF at line 1, column 5 (while parsing 'hello')" ]
}

@test "a reply over 1 MiB is refused, and the client goes on with a new connection" {
	start_server
	run -1 "$FC" call "$SOCK" 5 GET /big-reply - GET /echo -
	[ "${lines[0]}" = "GET /big-reply -> -1 firecracker API: GET /big-reply: the reply is larger than 1048576 bytes" ]
	[ "${lines[1]}" = "GET /echo -> 0 $(echo_reply 2 GET 0 null null)" ]
	[ "${#lines[@]}" = 2 ]
}

# ---------------------------------------------------------------- requests

@test "headers: JSON content type and accept, no Expect; one connection for all calls" {
	start_server
	run -0 "$FC" call "$SOCK" 5 GET /echo - PUT /echo '{"vcpu_count":2}' PATCH /echo - DELETE /echo -
	[ "${lines[0]}" = "GET /echo -> 0 $(echo_reply 1 GET 0 null null)" ]
	[ "${lines[1]}" = "PUT /echo -> 0 $(echo_reply 1 PUT 16 null '"16"')" ]
	[ "${lines[2]}" = "PATCH /echo -> 0 $(echo_reply 1 PATCH 0 null '"0"')" ]
	[ "${lines[3]}" = "DELETE /echo -> 0 $(echo_reply 1 DELETE 0 null '"0"')" ]
	[ "${#lines[@]}" = 4 ]
}

@test "a body over 1 MB arrives whole, without Expect: 100-continue and without a stall" {
	start_server
	# The server never sends "100 Continue" (nor does Firecracker): with Expect, libcurl
	# would wait a full second before sending the body.
	run -0 "$FC" -t 0.9 call "$SOCK" 5 PUT /echo big:2000000
	[ "$output" = "PUT /echo -> 0 $(echo_reply 1 PUT 2000000 1999989 '"2000000"')" ]
}

@test "an invalid request body is refused before sending" {
	start_server
	run -1 "$FC" call "$SOCK" 5 PUT /echo '{bad' GET /echo -
	[ "${lines[0]}" = "PUT /echo -> -1 firecracker API: PUT /echo: invalid request body: parse 'BODY': Invalid numeric literal at EOF at line 1, column 4 (while parsing '{bad')" ]
	[ "${lines[1]}" = "GET /echo -> 0 $(echo_reply 1 GET 0 null null)" ]
}

# ---------------------------------------------------------------- deadlines and transport

@test "a server that never answers: -1 at the deadline, and the next call works" {
	start_server
	run -1 "$FC" -t 1.5 call "$SOCK" 0.5 PUT /hang '{}' GET /echo -
	[ "${lines[0]}" = "PUT /hang -> -1 firecracker API: PUT /hang: no answer within 0.5s" ]
	[ "${lines[1]}" = "GET /echo -> 0 $(echo_reply 2 GET 0 null null)" ]
	[ "${#lines[@]}" = 2 ]
}

@test "a deadline already passed fails at once" {
	start_server
	run -1 "$FC" -t 0.2 call "$SOCK" -1 GET /json -
	[ "$output" = "GET /json -> -1 firecracker API: GET /json: no answer within 0s (the deadline had passed)" ]
}

@test "no server: the transport error names the socket" {
	run -1 "$FC" call "$SOCK" 5 GET /json -
	[ "$output" = "GET /json -> -1 firecracker API: GET /json: cannot connect to '$SOCK': No such file or directory" ]
	: > "$T/plain"
	run -1 "$FC" call "$T/plain" 5 GET /json -
	[ "$output" = "GET /json -> -1 firecracker API: GET /json: cannot connect to '$T/plain': Connection refused" ]
}

@test "a socket path longer than sun_path is refused by open and wait" {
	long=/tmp/$(printf 'x%.0s' $(seq 104))
	run -1 "$FC" open "$long"
	[ "$output" = "open -> firecracker API: socket path '$long' is 109 bytes, longer than the 107 a unix socket address holds" ]
	run -1 "$FC" wait "$long" 0 5
	[ "$output" = "wait -> -1 firecracker API: socket path '$long' is 109 bytes, longer than the 107 a unix socket address holds" ]
	run -0 "$FC" open "/tmp/$(printf 'x%.0s' $(seq 102))"
	[ "$output" = "open -> 0" ]
}

# ---------------------------------------------------------------- wait

@test "wait: succeeds when the socket appears later" {
	start_server --listen-after 0.5
	run -0 "$FC" -t 8 wait "$SOCK" "$SERVER_PID" 10
	[ "$output" = "wait -> 0" ]
	run -0 "$FC" call "$SOCK" 5 GET /json -
}

@test "wait: -1 at once when the process has exited (an unreaped child of the caller)" {
	run -1 "$FC" -t 0.5 wait "$SOCK" zombie 10
	[[ "$output" =~ ^"wait -> -1 firecracker API: firecracker (pid "[0-9]+") exited before its socket '$SOCK' accepted connections"$ ]]
}

@test "wait: -1 at once when the process has exited (not a child)" {
	true &
	pid=$!
	wait "$pid"
	run -1 "$FC" -t 0.5 wait "$SOCK" "$pid" 10
	[ "$output" = "wait -> -1 firecracker API: firecracker (pid $pid) exited before its socket '$SOCK' accepted connections" ]
}

@test "wait: -1 at the deadline when nothing listens" {
	run -1 "$FC" -t 1.3 wait "$SOCK" 0 0.3
	[ "$output" = "wait -> -1 firecracker API: socket '$SOCK' accepted no connection within 0.3s: No such file or directory" ]
}

# Store test servers: nginx (WebDAV PUT/DELETE) and s3rver on random loopback ports.
# Load after helpers. start_* run in setup_file and record their state under
# $BATS_FILE_TMPDIR; stop_store_servers (teardown_file) stops them.

S3RVER="$BDS_TOP/build/npm/node_modules/.bin/s3rver"
S3_BUCKET=bds

# port_in_use PORT: does something accept connections on 127.0.0.1:PORT?
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# random_port: a port nothing listens on now (a start retries if it loses a race), below
# Linux's ephemeral range (32768 and up), where the outgoing connections of the tests and
# of anything else on the machine take their local ports.
random_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12700))
		port_in_use "$p" || break
	done
	echo "$p"
}

# wait_port PORT PID: until PORT accepts (0) or PID dies / 10 s pass (1).
wait_port() {
	for _ in $(seq 100); do
		port_in_use "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_nginx: sets NGINX_PORT, NGINX_ROOT (the served directory), NGINX_URL and NGINX_LOG.
# /dav/ accepts PUT and DELETE and lists directories in JSON (autoindex, for bds-prune); /broken/ answers 503 and /forbidden/ 403. Successes that
# are not: /nocontent/ answers 204, /partial/ 206 with a part of a metadata.json,
# /accepted/ 202 (to every method); /nodisk/ serves /dav/ but answers 204 for a "disk";
# /halfdav/ is /dav/ whose DELETE of a directory (a collection) fails with 503; /nochunks/
# is /dav/ whose PUT of about half the chunks fails with 503; /slowdav/ is /dav/ sending
# 1 MB/s. $NGINX_LOG has one line per request: "CONNECTION METHOD URI STATUS END DURATION"
# (END in seconds since the epoch, DURATION in seconds, both to the millisecond).
start_nginx() {
	local dir="$BATS_FILE_TMPDIR/nginx"
	mkdir -p "$dir/root/dav" "$dir/tmp"
	NGINX_ROOT="$dir/root"
	for _ in 1 2 3 4 5; do
		NGINX_PORT=$(random_port)
		cat > "$dir/nginx.conf" <<-EOF
			daemon on;
			master_process off;
			pid $dir/nginx.pid;
			error_log $dir/error.log warn;
			events { worker_connections 64; }
			http {
			    # which connection served each request: the parallel transfers' test
			    log_format conns '\$connection \$request_method \$uri \$status \$msec \$request_time';
			    access_log $dir/access.log conns;
			    client_body_temp_path $dir/tmp/body;
			    proxy_temp_path $dir/tmp/proxy;
			    fastcgi_temp_path $dir/tmp/fastcgi;
			    client_max_body_size 0;
			    server {
			        listen 127.0.0.1:$NGINX_PORT;
			        root $dir/root;
			        location /dav/ {
			            dav_methods PUT DELETE MOVE;
			            create_full_put_path on;
			            # bds-prune lists directories through the autoindex in JSON
			            autoindex on;
			            autoindex_format json;
			            dav_access user:rw group:r all:r;
			        }
			        location /broken/ { return 503; }
			        location /forbidden/ { return 403; }
			        location /nocontent/ { return 204; }
			        location /partial/ { return 206 '{"format": 1, "fi'; }
			        location /accepted/ { return 202; }
			        location ~ ^/nodisk/.*/disk\$ { return 204; }
			        location /nodisk/ { alias $dir/root/dav/; }
			        # /dav/ answering at 1 MB/s: a chunk takes a while on the wire
			        location /slowdav/ { alias $dir/root/dav/; limit_rate 1m; }
			        # /dav/ whose PUT of a chunk named 0 to 7... fails with 503
			        location /nochunks/ {
			            alias $dir/root/dav/;
			            dav_methods PUT DELETE;
			            create_full_put_path on;
			            set \$deny "";
			            if (\$request_method = PUT) { set \$deny P; }
			            if (\$uri ~ /chunks/../[0-7]) { set \$deny "\${deny}C"; }
			            if (\$deny = PC) { return 503; }
			        }
			        location /halfdav/ {
			            alias $dir/root/dav/;
			            dav_methods PUT DELETE;
			            autoindex on;
			            autoindex_format json;
			            set \$deny "";
			            if (\$request_method = DELETE) { set \$deny D; }
			            if (\$uri ~ /\$) { set \$deny "\${deny}C"; }
			            if (\$deny = DC) { return 503; }
			        }
			    }
			}
		EOF
		rm -f "$dir/nginx.pid"
		if nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" 2>>"$dir/start.log" &&
			wait_port "$NGINX_PORT" "$(cat "$dir/nginx.pid")"; then
			NGINX_URL="http://127.0.0.1:$NGINX_PORT"
			NGINX_LOG="$dir/access.log"
			export NGINX_PORT NGINX_ROOT NGINX_URL NGINX_LOG
			return 0
		fi
	done
	cat "$dir/start.log" "$dir/error.log" >&2
	return 1
}

# start_s3rver: sets S3_PORT and the AWS_* environment for bucket $S3_BUCKET.
start_s3rver() {
	local dir="$BATS_FILE_TMPDIR/s3rver" pid
	mkdir -p "$dir/data"
	for _ in 1 2 3 4 5; do
		S3_PORT=$(random_port)
		# s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps
		# in its legacy provider
		NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--openssl-legacy-provider" \
		"$S3RVER" -d "$dir/data" -a 127.0.0.1 -p "$S3_PORT" --silent \
			--configure-bucket "$S3_BUCKET" >"$dir/log" 2>&1 3>&- &
		pid=$!
		echo "$pid" > "$dir/pid"
		if wait_port "$S3_PORT" "$pid"; then
			export S3_PORT
			export AWS_ENDPOINT_URL="http://127.0.0.1:$S3_PORT"
			export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
			unset AWS_SESSION_TOKEN AWS_DEFAULT_REGION
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	cat "$dir/log" >&2
	return 1
}

stop_store_servers() {
	local f pid
	f="$BATS_FILE_TMPDIR/nginx/nginx.pid"
	if [ -s "$f" ]; then
		pid=$(cat "$f")
		kill -QUIT "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$f"
	fi
	f="$BATS_FILE_TMPDIR/s3rver/pid"
	if [ -s "$f" ]; then
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$f"
	fi
}

# store_of KIND: a fresh store location of this test for backend file, http or s3.
store_of() {
	case $1 in
	file) echo "$BATS_TEST_TMPDIR/store" ;;
	http) echo "$NGINX_URL/dav/t$BATS_TEST_NUMBER" ;;
	s3) echo "s3://$S3_BUCKET/p/t$BATS_TEST_NUMBER" ;;
	esac
}

# lookup_envelope: the envelope bds-store-lookup reads: the workspace $REPO under the
# fingerprint key $FP (both the test file's), local driver.
lookup_envelope() {
	jq -nc --arg ws "$REPO" --arg fp "$FP" \
		'{workspace: $ws, fingerprint: {key: $fp, components: {bds: "0.1.0"}}, driver: "local"}'
}

# s3_curl ARGS...: curl signed for s3rver (to tamper with objects behind bds's back).
s3_curl() {
	curl -sS -f --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# ---- entries for bds-store.bats and store-chunks.bats (FP, REPO, CACHE set by the file) ----

# make_entry DIR VALUE: base_hashes.json plus a 5 MB mostly-sparse "disk".
make_entry() {
	mkdir -p "$1"
	printf '{"//pkg:a":"%s"}\n' "$2" > "$1/base_hashes.json"
	rm -f "$1/disk"
	truncate -s 5M "$1/disk"
	printf 'head' | dd of="$1/disk" conv=notrunc status=none
	printf '%s' "$2" | dd of="$1/disk" bs=1 seek=3000000 conv=notrunc status=none
}

publish_envelope() { # DIR BASE
	jq -nc --arg d "$1" --arg fp "$FP" --arg b "$2" --arg ws "$REPO" \
		'{workspace: $ws, entry: {dir: $d, fingerprint: $fp, base: $b, driver: "local",
		  metadata: {pid: 42, output_base: "/x"}}}'
}

publish() { # STORE DIR BASE
	publish_envelope "$2" "$3" | bds-store-publish --store "$1" >/dev/null
}

lookup() { # STORE REV [options]
	local store=$1 rev=$2
	shift 2
	lookup_envelope | bds-store-lookup --store "$store" --target "$rev" "$@"
}

# key_file KIND STORE KEY: the server-side file of KEY (file and http backends).
key_file() {
	case $1 in
	file) echo "$2/$3" ;;
	http) echo "$NGINX_ROOT/dav/t$BATS_TEST_NUMBER/$3" ;;
	esac
}

# flip_byte KIND STORE KEY: changes one byte of a stored object, size unchanged.
flip_byte() {
	local f
	if [ "$1" = s3 ]; then
		f="$BATS_TEST_TMPDIR/obj"
		s3_curl -o "$f" "$AWS_ENDPOINT_URL/$S3_BUCKET/p/t$BATS_TEST_NUMBER/$3"
	else
		f=$(key_file "$1" "$2" "$3")
	fi
	printf 'X' | dd of="$f" bs=1 seek=3 conv=notrunc status=none
	if [ "$1" = s3 ]; then
		s3_curl -T "$f" "$AWS_ENDPOINT_URL/$S3_BUCKET/p/t$BATS_TEST_NUMBER/$3" >/dev/null
	fi
}

delete_key() { # KIND STORE KEY
	if [ "$1" = s3 ]; then
		s3_curl -X DELETE "$AWS_ENDPOINT_URL/$S3_BUCKET/p/t$BATS_TEST_NUMBER/$3"
	else
		rm "$(key_file "$1" "$2" "$3")"
	fi
}

xxh() { xxh128sum "$1" | cut -d' ' -f1; }

#!/usr/bin/env bats
# A workspace with an external dependency in the real guest image: an http_archive served
# by nginx on the host's loopback, which the guest cannot reach (its loopback is its own).
# The image is built with the repository's own Bazel (guest/build-image --bazel: here a
# wrapper in front of Debian's) and the host's repository cache baked in
# (--repository-cache): record and consume hash the archive's files in the guest
# (--fine-grained-repos) with no network, and the warm answer is the cold one. Run by
# `make check-vm`.

load ../helpers
load ../store-helpers
load ../vm-accel

top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BDS_TOP=$top
export PATH="$top/tests/bin:$BDS_BUILD/bin:$top/scripts:$PATH"

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap)"
	"$BDS_TOP/scripts/install-deps" --vm
	local d=$BATS_FILE_TMPDIR
	start_nginx
	# the archive: one package with a file and a filegroup
	mkdir -p "$d/arch/arch-1"
	printf 'filegroup(name = "all", srcs = ["data.txt"], visibility = ["//visibility:public"])\n' > "$d/arch/arch-1/BUILD"
	printf 'archive data\n' > "$d/arch/arch-1/data.txt"
	tar -C "$d/arch" -czf "$NGINX_ROOT/arch.tar.gz" arch-1
	ARCH_SHA=$(sha256sum "$NGINX_ROOT/arch.tar.gz" | cut -d' ' -f1)
	export WS="$d/ws" ARCH_SHA
	new_workspace "$WS"
	cat >> "$WS/WORKSPACE" <<-EOF

		load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")

		http_archive(
		    name = "arch",
		    urls = ["$NGINX_URL/arch.tar.gz"],
		    sha256 = "$ARCH_SHA",
		    strip_prefix = "arch-1",
		)
	EOF
	mkdir -p "$WS/app" "$WS/other"
	printf 'genrule(name = "app", srcs = ["@arch//:all", "app.txt"], outs = ["app.out"], cmd = "cat $(SRCS) > $@")\n' > "$WS/app/BUILD"
	printf 'app\n' > "$WS/app/app.txt"
	printf 'genrule(name = "other", srcs = ["other.txt"], outs = ["other.out"], cmd = "cp $< $@")\n' > "$WS/other/BUILD"
	printf 'other\n' > "$WS/other/other.txt"
	export BASE TARGET
	BASE=$(commit_all "$WS" base)
	printf 'app 2\n' > "$WS/app/app.txt"
	TARGET=$(commit_all "$WS" "change app")
	git -C "$WS" checkout -q "$BASE"
	# the host's repository cache, filled by one fetch from nginx
	(cd "$WS" && bazel fetch --repository_cache="$d/repository-cache" @arch//... >/dev/null 2>&1)
	# the repository's own Bazel: a wrapper in front of Debian's, as a user's would be
	printf '#!/bin/sh\n# bds test: the repository'"'"'s own Bazel\nexec /usr/bin/bazel "$@"\n' > "$d/user-bazel"
	chmod 755 "$d/user-bazel"
	ssh-keygen -q -t ed25519 -N '' -C bds-vm-external -f "$d/key"
	"$BDS_TOP/guest/build-image" --out "$d/img" --workspace "$WS" --pubkey "$d/key.pub" \
		--vcpus 1 --mem-mib 1536 --disk-gib 3 --bazel "$d/user-bazel" --repository-cache "$d/repository-cache" >&3 2>&1
	ssh-keygen -q -t ed25519 -N '' -f "$d/probe-key"
	"$top/tests/tiny-guest/build" --out "$d/probe" --pubkey "$d/probe-key.pub" >/dev/null 2>&1
	BDS_VM_ACCEL=$(pick_accel "$d/probe")
	echo "# accelerator: $BDS_VM_ACCEL" >&3
	export BDS_VM_IMAGE="$d/img" BDS_VM_KEY="$d/key" BDS_VM_ACCEL
	export BDS_CACHE="$d/cache" STORE="$d/store"
}

teardown_file() {
	stop_bazel "$WS"
	stop_store_servers
}

@test "the image holds the repository's Bazel first on PATH and the repository cache, named in its system rc" {
	local img=$BATS_FILE_TMPDIR/img
	run -0 --separate-stderr debugfs -R "cat /usr/local/bin/bazel" "$img/rootfs.ext4"
	[ "$output" = "$(cat "$BATS_FILE_TMPDIR/user-bazel")" ]
	run -0 --separate-stderr debugfs -R "cat /etc/bazel.bazelrc" "$img/rootfs.ext4"
	[ "$output" = "build --repository_cache=/var/cache/bds/repository-cache
query --repository_cache=/var/cache/bds/repository-cache
fetch --repository_cache=/var/cache/bds/repository-cache
sync --repository_cache=/var/cache/bds/repository-cache" ]
	debugfs -R "dump /var/cache/bds/repository-cache/content_addressable/sha256/$ARCH_SHA/file $BATS_TEST_TMPDIR/a.tgz" \
		"$img/rootfs.ext4" 2>/dev/null
	[ "$(sha256sum < "$BATS_TEST_TMPDIR/a.tgz" | cut -d' ' -f1)" = "$ARCH_SHA" ]
	run -0 jq -c '[.bazel, .repository_cache]' "$img/manifest.json"
	[ "$output" = "[\"sha256:$(sha256sum < "$BATS_FILE_TMPDIR/user-bazel" | cut -d' ' -f1)\",\"/var/cache/bds/repository-cache\"]" ]
	# bad options: one line, exit 1, before anything is built
	run -1 --separate-stderr "$BDS_TOP/guest/build-image" --out "$BATS_TEST_TMPDIR/x" --workspace "$WS" \
		--pubkey "$BATS_FILE_TMPDIR/key.pub" --repository-cache "$BATS_TEST_TMPDIR"
	[ "$stderr" = "build-image: --repository-cache '$BATS_TEST_TMPDIR': not a Bazel repository cache (no content_addressable/ in it)" ]
	run -1 --separate-stderr "$BDS_TOP/guest/build-image" --out "$BATS_TEST_TMPDIR/x" --workspace "$WS" \
		--pubkey "$BATS_FILE_TMPDIR/key.pub" --bazel "$BATS_TEST_TMPDIR/none"
	[ "$stderr" = "build-image: --bazel '$BATS_TEST_TMPDIR/none': not an executable file" ]
}

@test "record and consume hash the http_archive's files in the guest, with no network: the warm answer is the cold one" {
	run -0 --separate-stderr bds-record --driver qemu -w "$WS" --base "$BASE" --store "$STORE" --fine-grained-repos @arch
	printf '# %s\n' "${stderr_lines[@]}" >&3
	[[ "${stderr_lines[-1]}" == "bds-record: recorded "*"/$BASE in $STORE" ]]
	run -0 --separate-stderr bds-consume --driver qemu -w "$WS" --target "$TARGET" --store "$STORE" \
		--fine-grained-repos @arch -o "$BATS_FILE_TMPDIR/warm.txt"
	printf '# %s\n' "${stderr_lines[@]}" >&3
	run -0 bds-cold -w "$WS" --base "$BASE" --target "$TARGET" --fine-grained-repos @arch -o "$BATS_FILE_TMPDIR/cold.txt"
	cmp "$BATS_FILE_TMPDIR/warm.txt" "$BATS_FILE_TMPDIR/cold.txt"
	# the change reaches the genrule over the archive's files, not the other package; the
	# archive's own targets are hashed (fine-grained) and unchanged
	[ "$(cat "$BATS_FILE_TMPDIR/cold.txt")" = "//app:app
//app:app.out
//app:app.txt" ]
	# the guest hashed the archive's file: the entry's base hashes name it
	find "$BDS_CACHE" -name base_hashes.json > "$BATS_TEST_TMPDIR/bases"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/bases")" -ge 1 ]
	run -0 grep -l '"@arch//:data.txt"' $(cat "$BATS_TEST_TMPDIR/bases")
	run -1 pgrep -f "$BDS_VM_IMAGE/bzImage"
}

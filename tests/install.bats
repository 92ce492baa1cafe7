# `make install`, `make uninstall` and `make dist`: what is installed, that the installed
# scripts find their sibling programs with only the system directories on PATH, and that a
# source tarball builds out of its own directory.

load helpers

setup_file() {
	export ROOT="$BATS_FILE_TMPDIR/root"
	make -s -C "$BDS_TOP" BUILD="$BDS_BUILD" install DESTDIR="$ROOT" PREFIX=/usr > "$BATS_FILE_TMPDIR/install.log" 2>&1
}

teardown_file() {
	for ob in "$BATS_FILE_TMPDIR"/cache/local/*/*/output_base; do
		[ -d "$ob" ] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
}

# expected_files: what `make install` must install, from the source tree.
expected_files() {
	(
		cd "$BDS_TOP"
		for c in cmd/bds-*.c; do c=${c#cmd/}; echo "usr/bin/${c%.c}"; done
		for s in scripts/bds scripts/bds-*; do
			case $s in
			scripts/bds-host-setup) echo usr/sbin/bds-host-setup ;;
			scripts/bds-kvm-e2e) ;;
			*) echo "usr/bin/${s#scripts/}" ;;
			esac
		done
		for g in bds-guest-sync build-image fetch-kernel; do echo "usr/share/bds/guest/$g"; done
		echo usr/share/bds/lib/bds.sh
		for m in man/*.[1-9]; do
			[ "$m" = man/bds-kvm-e2e.1 ] || echo "usr/share/man/man${m##*.}/${m#man/}"
		done
	) | LC_ALL=C sort
}

@test "make install: the programs, bds-host-setup in sbin, the guest tools, the man pages; nothing test-only" {
	expected_files > "$BATS_TEST_TMPDIR/expected"
	(cd "$ROOT" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) > "$BATS_TEST_TMPDIR/installed"
	diff -u "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/installed"
	# the list is not empty, and has what a reader would look for
	grep -qx usr/bin/bds-consume "$BATS_TEST_TMPDIR/installed"
	grep -qx usr/sbin/bds-host-setup "$BATS_TEST_TMPDIR/installed"
	run -1 grep -E 'kvm-e2e|lock-stress|unit-golden|decode-bench|/bin/bazel$' "$BATS_TEST_TMPDIR/installed"
	[ "$(stat -c %a "$ROOT/usr/bin/bds-hash")" = 755 ]
	[ "$(stat -c %a "$ROOT/usr/share/man/man1/bds-hash.1")" = 644 ]
	[ "$(stat -c %a "$ROOT/usr/share/bds/lib/bds.sh")" = 644 ]
}

@test "installed scripts find their siblings with only the system directories on PATH: record, consume and cold" {
	ws="$BATS_TEST_TMPDIR/ws"
	new_workspace "$ws"
	mkdir "$ws/lib"
	echo a > "$ws/lib/a.txt"
	printf 'filegroup(name = "a", srcs = ["a.txt"])\nfilegroup(name = "b", srcs = [":a"])\n' > "$ws/lib/BUILD"
	base=$(commit_all "$ws" base)
	echo a2 > "$ws/lib/a.txt"
	target=$(commit_all "$ws" target)
	# tests/bin holds only the Bazel test wrapper; the source tree and the build are not
	# on PATH
	p="$BDS_TOP/tests/bin:/usr/bin:/bin"
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	run -127 env PATH="$p" sh -c 'command -v bds-hash'
	run -0 env PATH="$p" "$ROOT/usr/bin/bds-record" -w "$ws" --base "$base" --store "$BATS_TEST_TMPDIR/store"
	run -0 --separate-stderr env PATH="$p" "$ROOT/usr/bin/bds-consume" -w "$ws" --base "$base" --target "$target" --store "$BATS_TEST_TMPDIR/store"
	warm=$output
	run -0 --separate-stderr env PATH="$p" "$ROOT/usr/bin/bds-cold" -w "$ws" --base "$base" --target "$target"
	[ "$output" = "$warm" ]
	[ "$output" = "$(printf '//lib:a\n//lib:a.txt\n//lib:b')" ]
}

@test "make uninstall removes every file make install put there" {
	cp -a "$ROOT" "$BATS_TEST_TMPDIR/root"
	run -0 make -s -C "$BDS_TOP" BUILD="$BDS_BUILD" uninstall DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
	run -0 find "$BATS_TEST_TMPDIR/root" -type f
	[ "$output" = "" ]
	[ ! -e "$BATS_TEST_TMPDIR/root/usr/share/bds" ]
}

@test "make dist: a tarball named by the version, with its VERSION, LICENSE and CHANGELOG, that builds and runs its unit tests out of its own directory" {
	[ -e "$BDS_TOP/.git" ] || skip "make dist archives a git checkout"
	version=$("$BDS_TOP/scripts/version")
	cd "$BATS_TEST_TMPDIR"
	run -0 make -s -C "$BDS_TOP" BUILD="$BATS_TEST_TMPDIR/distbuild" dist
	[ "$output" = "bds-$version.tar.gz" ]
	mv "$BDS_TOP/bds-$version.tar.gz" .
	tar -xzf "bds-$version.tar.gz"
	d=bds-$version
	[ "$(cat "$d/VERSION")" = "$version" ]
	[ -f "$d/LICENSE" ]
	[ -f "$d/CHANGELOG.md" ]
	[ -f "$d/debian/control" ]
	[ ! -e "$d/.git" ]
	# its version is its VERSION file's, exactly, with no git around
	[ "$(cd "$d" && scripts/version)" = "$version" ]
	run -0 make -s -C "$d" all
	run -0 env BDS_BUILD="$PWD/$d/build" bats --formatter tap "$d/tests/unit.bats"
	[[ "$output" != *"not ok"* ]]
	grep -qx "#define BDS_VERSION \"$version\"" "$d/build/gen/bds-version.h"
}

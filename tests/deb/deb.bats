# The Debian package end to end (`make check-deb`): dpkg-buildpackage on a copy of the
# committed tree, lintian at error level, apt installs it, the installed programs answer a
# consume with only the system directories on PATH, apt removes it.

bats_require_minimum_version 1.5.0

setup_file() {
	BDS_TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	export BDS_TOP
	[ "$(id -u)" -eq 0 ] || skip "installs a package: run as root"
}

teardown_file() {
	for ob in "$BATS_FILE_TMPDIR"/cache/local/*/*/output_base; do
		[ -d "$ob" ] && /usr/bin/bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
	dpkg -s bds >/dev/null 2>&1 && apt-get remove -y -qq bds >/dev/null 2>&1 || true
}

@test "dpkg-buildpackage builds bds_<version>_amd64.deb, lintian finds no error, apt installs it, a consume runs from it, apt removes it" {
	dpkg -s bds >/dev/null 2>&1 && skip "a bds package is installed already: not touching it"
	src=$BATS_FILE_TMPDIR/src
	mkdir -p "$src"
	git -C "$BDS_TOP" archive --format=tar --prefix=bds/ HEAD | tar -x -C "$src"
	version=$(sed -n '1s/^bds (\([^)]*\)).*/\1/p' "$src/bds/debian/changelog")
	[ -n "$version" ]
	(cd "$src/bds" && dpkg-buildpackage -us -uc -b) > "$BATS_FILE_TMPDIR/build.log" 2>&1 ||
		{ tail -30 "$BATS_FILE_TMPDIR/build.log"; false; }
	deb=$src/bds_${version}_amd64.deb
	[ -f "$deb" ]
	run -0 lintian --fail-on error "$src/bds_${version}_amd64.changes"
	run -0 apt-get install -y -qq "$deb"
	[ -x /usr/bin/bds-consume ] && [ -x /usr/sbin/bds-host-setup ] && [ -x /usr/share/bds/guest/build-image ]
	[ -f /usr/share/doc/bds/copyright ]

	ws=$BATS_FILE_TMPDIR/ws
	mkdir -p "$ws/lib"
	cd "$ws"
	git init -q && git config user.name t && git config user.email t@bds.invalid
	printf 'workspace(name = "t")\n' > WORKSPACE
	printf 'bazel-*\n' > .gitignore
	echo a > lib/a.txt
	printf 'filegroup(name = "a", srcs = ["a.txt"])\nfilegroup(name = "b", srcs = [":a"])\n' > lib/BUILD
	git add -A && git commit -qm base && base=$(git rev-parse HEAD)
	echo a2 > lib/a.txt
	git commit -qam target && target=$(git rev-parse HEAD)
	export BDS_CACHE=$BATS_FILE_TMPDIR/cache
	p=/usr/sbin:/usr/bin:/sbin:/bin
	run -0 env PATH="$p" bds-record -w "$ws" --base "$base" --store "$BATS_FILE_TMPDIR/store"
	run -0 --separate-stderr env PATH="$p" bds-consume -w "$ws" --base "$base" --target "$target" --store "$BATS_FILE_TMPDIR/store"
	[ "$output" = "$(printf '//lib:a\n//lib:a.txt\n//lib:b')" ]
	run -0 --separate-stderr env PATH="$p" bds-cold -w "$ws" --base "$base" --target "$target"
	[ "$output" = "$(printf '//lib:a\n//lib:a.txt\n//lib:b')" ]

	run -0 apt-get remove -y -qq bds
	[ ! -e /usr/bin/bds-consume ]
	[ ! -e /usr/share/bds ]
}

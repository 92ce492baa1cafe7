# Warm == cold for the inputs that live outside the commit being answered: rc files that
# Bazel reads from outside the workspace (here $HOME/.bazelrc) and seed files, relative
# (read in each revision's tree) and absolute (read as they are). Each test records, makes
# the edit, and shows that consume is either cold (exit 2 with its reason) or prints
# exactly bds-cold's answer, and that bds-canary passes where a warm machine exists.

load helpers

setup_file() {
	export BDS_CACHE="$BATS_FILE_TMPDIR/cache"
	export WS="$BATS_FILE_TMPDIR/ws"
	export STORE="$BATS_FILE_TMPDIR/store"
	# A private home whose .bazelrc Bazel reads: tests/bin/bazel passes --nohome_rc, so a
	# wrapper of our own, without it, comes first on PATH for every stage.
	export HOME="$BATS_FILE_TMPDIR/home"
	mkdir -p "$HOME" "$BATS_FILE_TMPDIR/bin"
	cat > "$BATS_FILE_TMPDIR/bin/bazel" <<-'EOF'
		#!/bin/sh
		# tests/bin/bazel with the user rc file read, as Bazel does by default
		exec "${BDS_REAL_BAZEL:-/usr/bin/bazel}" --output_user_root="$BDS_TEST_BAZEL_ROOT" --max_idle_secs=120 "$@"
	EOF
	chmod +x "$BATS_FILE_TMPDIR/bin/bazel"
	new_lib_app "$WS"
	ROOT=$(commit_all "$WS" root)
	export ROOT
}

setup() {
	# after `load helpers`, which puts tests/bin first again for every test
	PATH="$BATS_FILE_TMPDIR/bin:$PATH"
	[ "$(command -v bazel)" = "$BATS_FILE_TMPDIR/bin/bazel" ]
}

teardown() {
	# a test that failed before removing the home rc it wrote leaves it to none after it
	rm -f "$HOME/.bazelrc"
}

teardown_file() {
	stop_warm_servers
}

# change NAME [FROM]: a commit from FROM (default the root commit) made by the commands on
# stdin, run in the workspace; prints its sha and leaves the workspace checked out there.
change() {
	(
		cd "$WS"
		git checkout -q --detach "${2:-$ROOT}"
		sh -e
		git add -A
		git commit -q -m "$1"
		git rev-parse HEAD
	)
}

# cold BASE TARGET [hash options]: bds-cold's answer, into $cold (asserted to exit 0).
cold() {
	local base=$1 target=$2
	shift 2
	run -0 --separate-stderr bds-cold -w "$WS" --base "$base" --target "$target" --include-target-type "$@"
	cold=$output
}

@test "an rc file outside the workspace (\$HOME/.bazelrc) changed after a record: cold, then warm == cold again" {
	cd "$WS"
	base=$(change base-rc <<<'printf "c\n" > lib/c.txt')
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type
	target=$(change target-rc "$base" <<<'printf "a2\n" > lib/a.txt')
	cold "$base" "$target"
	nohome=$cold
	# without the edit the warm answer is the cold one
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type
	[ "$output" = "$nohome" ]

	printf 'query --noimplicit_deps\n' > "$HOME/.bazelrc"
	cold "$base" "$target"
	run -2 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-consume: cold: no snapshot for fingerprint "* ]]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type --cold --base "$base"
	[ "$output" = "$cold" ]
	# recorded under the new rc, the warm machine answers exactly as cold does
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type
	run -0 --separate-stderr bds-canary -w "$WS" --base "$base" --target "$target" --store "$STORE" --include-target-type
	[[ "$output" =~ ^canary:\ identical\ \([0-9]+\ labels\)$ ]]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type
	[ "$output" = "$cold" ]

	# and the rc removed again finds the first record's machine, still the cold answer
	rm "$HOME/.bazelrc"
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type
	[ "$output" = "$nohome" ]
}

@test "the home rc edited while a consume queries: cold, as the fingerprint taken again after the queries differs" {
	cd "$WS"
	rm -f "$HOME/.bazelrc"
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	# this file's wrapper, which edits the home rc when a query file is queried while
	# armed: the consume's warm query (full or partial), never its fingerprint's client
	cat > "$BATS_TEST_TMPDIR/bin/bazel" <<-EOF
		#!/bin/sh
		case " \$* " in
		*" --query_file "*) if rm "$BATS_TEST_TMPDIR/armed" 2>/dev/null; then printf 'query --noimplicit_deps\\n' > "$HOME/.bazelrc"; fi ;;
		esac
		exec "$BATS_FILE_TMPDIR/bin/bazel" "\$@"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/bin/bazel"
	PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	base=$(change base-mid-rc <<<'printf "c8\n" > lib/c.txt')
	target=$(change target-mid-rc "$base" <<<'printf "a8\n" > lib/a.txt')
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type
	: > "$BATS_TEST_TMPDIR/armed"
	run -2 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
		--timings "$BATS_TEST_TMPDIR/timings.json"
	[ "$output" = "" ]
	[ ! -e "$BATS_TEST_TMPDIR/armed" ]
	# the answer the diff wrote beside the fingerprint was never delivered: not counted
	[ "$(jq -c '[.exit_status, .counts.impacted]' "$BATS_TEST_TMPDIR/timings.json")" = "[2,null]" ]
	[ "$(cat "$HOME/.bazelrc")" = "query --noimplicit_deps" ]
	[[ "$stderr" == *"bds-consume: cold: the fingerprint changed while consuming ("*"): a file it covers was edited"* ]]
	# with --cold, the answer is the cold path's, under the rc as it is now
	cold "$base" "$target"
	rm "$HOME/.bazelrc"
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type
	: > "$BATS_TEST_TMPDIR/armed"
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
		--cold --base "$base"
	[ "$output" = "$cold" ]
	[[ "$stderr" == *"bds-consume: cold: the fingerprint changed while consuming ("* ]]
	rm "$HOME/.bazelrc"
}

@test "a target that changes only .gitattributes: warm and cold hash the files as a fresh checkout has them" {
	cd "$WS"
	base=$(change base-attr <<<'printf "c\n" > lib/c.txt')
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type
	target=$(change target-attr "$base" <<<'printf "lib/a.txt text eol=crlf\n" > .gitattributes')
	cold "$base" "$target"
	# lib/a.txt's blob did not change; its checked-out bytes did (CRLF): it is impacted
	[[ "$cold" == *"//lib:a.txt"* ]]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type
	[ "$output" = "$cold" ]
	[[ "$stderr" == *"bds-generate-hashes: full path: '.gitattributes' changed"* ]]
	# the delta was asked for, and the consume says why every line was written
	[[ "$stderr" == *$'\nbds-consume: hashes: every target\'s line (the full query ran)\n'* ]]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type --full
	[ "$output" = "$cold" ]
}

@test "relative seed files are read in each revision's tree, warm and cold alike" {
	cd "$WS"
	base=$(change base-seed <<<'printf "seed.dat\n" > seeds.txt && printf "v1\n" > seed.dat')
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type \
		--seed-filepaths seeds.txt
	target=$(change target-seed "$base" <<<'printf "v2\n" > seed.dat')
	cold "$base" "$target" --seed-filepaths seeds.txt
	# the seed moved between the revisions: every target is impacted, external ones too
	[[ "$cold" == *"//external:bazel_tools"* ]]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
		--seed-filepaths seeds.txt
	[ "$output" = "$cold" ]
	run -0 --separate-stderr bds-canary -w "$WS" --base "$base" --target "$target" --store "$STORE" \
		--include-target-type --seed-filepaths seeds.txt
	[[ "$output" =~ ^canary:\ identical\ \([0-9]+\ labels\)$ ]]
	# from another directory the relative names still mean the workspace's files
	cd "$BATS_TEST_TMPDIR"
	run -0 --separate-stderr bds-canary -w "$WS" --base "$base" --target "$target" --store "$STORE" \
		--include-target-type --seed-filepaths seeds.txt
	[[ "$output" =~ ^canary:\ identical\ \([0-9]+\ labels\)$ ]]
}

@test "an absolute seed file changed after a record: cold, then warm == cold again" {
	cd "$WS"
	outside="$BATS_TEST_TMPDIR/outside"
	mkdir "$outside"
	printf 'v1\n' > "$outside/seed.dat"
	printf '%s\n' "$outside/seed.dat" > "$outside/seeds.txt"
	# the same absolute file listed in a relative seed list of the commit
	base=$(change base-abs <<<"printf '%s\n' '$outside/seed.dat' > seeds.txt")
	target=$(change target-abs "$base" <<<'printf "a3\n" > lib/a.txt')
	for list in "$outside/seeds.txt" seeds.txt; do
		printf 'v1\n' > "$outside/seed.dat"
		run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type \
			--seed-filepaths "$list"
		run -0 --separate-stderr bds-canary -w "$WS" --base "$base" --target "$target" --store "$STORE" \
			--include-target-type --seed-filepaths "$list"
		[[ "$output" =~ ^canary:\ identical\ \([0-9]+\ labels\)$ ]]

		printf 'v2\n' > "$outside/seed.dat"
		cold "$base" "$target" --seed-filepaths "$list"
		run -2 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
			--seed-filepaths "$list"
		[ "$output" = "" ]
		[[ "$stderr" == *"bds-consume: cold: no snapshot for fingerprint "* ]]
		run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
			--seed-filepaths "$list" --cold --base "$base"
		[ "$output" = "$cold" ]
		run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type \
			--seed-filepaths "$list"
		run -0 --separate-stderr bds-canary -w "$WS" --base "$base" --target "$target" --store "$STORE" \
			--include-target-type --seed-filepaths "$list"
		[[ "$output" =~ ^canary:\ identical\ \([0-9]+\ labels\)$ ]]
	done
}

@test "a relative seed entry that is a symbolic link out of the repository: record and consume refuse it" {
	cd "$WS"
	outside="$BATS_TEST_TMPDIR/outside"
	mkdir "$outside"
	printf 'v1\n' > "$outside/seed.dat"
	base=$(change base-link <<<"ln -s '$outside/seed.dat' seed.dat && printf 'seed.dat\n' > seeds.txt")
	target=$(change target-link "$base" <<<'printf "a5\n" > lib/a.txt')
	# the commit holds only the link: an edit of what it reaches would change no key
	why="leads out of the repository, through the symbolic link 'seed.dat' -> '$outside/seed.dat', which is all the commit holds of it: name that file by its absolute path instead, whose contents then go in the key"
	run -1 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type \
		--seed-filepaths seeds.txt
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-fingerprint: seed 'seed.dat' (listed in 'seeds.txt') at $base $why" ]
	[ "${stderr_lines[2]}" = "bds-record: phase 'fingerprint' failed (exit 1)" ]
	run -1 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
		--seed-filepaths seeds.txt
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-fingerprint: seed 'seed.dat' (listed in 'seeds.txt') at $target $why" ]
}

@test "a tools/bazel at the base that the working tree lacks: record refuses; from the base's tree, warm == cold" {
	cd "$WS"
	outside="$BATS_TEST_TMPDIR/outside"
	mkdir "$outside"
	: > "$outside/q.rc"
	# Debian's /usr/bin/bazel runs the workspace's executable tools/bazel, here adding an rc file
	base=$(change base-tools <<-EOF
		mkdir -p tools
		printf '#!/bin/sh\nexec "\$BAZEL_REAL" --bazelrc=$outside/q.rc "\$@"\n' > tools/bazel
		chmod +x tools/bazel
	EOF
	)
	target=$(change target-tools "$base" <<<'printf "a6\n" > lib/a.txt')
	git checkout -q "$ROOT"
	run -1 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-fingerprint: 'tools/bazel' differs between the working tree and $base: Bazel's client, asked which rc files the query reads, runs the working tree's, the pipelines the revision's; check $base out first" ]
	git checkout -q "$target"
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type
	printf 'query --noimplicit_deps\n' > "$outside/q.rc"
	cold "$base" "$target"
	run -2 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-consume: cold: no snapshot for fingerprint "* ]]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
		--cold --base "$base"
	[ "$output" = "$cold" ]
}

@test "a wrapper's rc file for queries only: in the key, so its edit is cold, then warm == cold" {
	cd "$WS"
	outside="$BATS_TEST_TMPDIR/outside"
	mkdir -p "$outside" "$BATS_TEST_TMPDIR/bin"
	: > "$outside/q.rc"
	# a CI wrapper tuning queries only, in front of this file's own
	cat > "$BATS_TEST_TMPDIR/bin/bazel" <<-EOF
		#!/bin/sh
		for a; do case \$a in query) set -- --bazelrc=$outside/q.rc "\$@"; break;; -*) ;; *) break;; esac; done
		exec "$BATS_FILE_TMPDIR/bin/bazel" "\$@"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/bin/bazel"
	PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	base=$(change base-query-rc <<<'printf "c7\n" > lib/c.txt')
	target=$(change target-query-rc "$base" <<<'printf "a7\n" > lib/a.txt')
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type
	printf 'query --noimplicit_deps\n' > "$outside/q.rc"
	cold "$base" "$target"
	run -2 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-consume: cold: no snapshot for fingerprint "* ]]
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type
	[ "$output" = "$cold" ]
}

@test "a hash option given twice: the last counts, so the other order is another key, not a wrong answer" {
	cd "$WS"
	base=$(change base-two-seeds <<<'printf "s1\n" > s1.dat && printf "s1.dat\n" > s1.txt && printf "s2.dat\n" > s2.txt && printf "s2\n" > s2.dat')
	target=$(change target-two-seeds "$base" <<<'printf "a8\n" > lib/a.txt')
	run -0 --separate-stderr bds-record -w "$WS" --base "$base" --store "$STORE" --include-target-type \
		--seed-filepaths s1.txt --seed-filepaths s2.txt
	cold "$base" "$target" --seed-filepaths s2.txt --seed-filepaths s1.txt
	run -2 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
		--seed-filepaths s2.txt --seed-filepaths s1.txt
	[ "$output" = "" ]
	[[ "$stderr" == *"bds-consume: cold: no snapshot for fingerprint "* ]]
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
		--seed-filepaths s2.txt --seed-filepaths s1.txt --cold --base "$base"
	[ "$output" = "$cold" ]
	# the recorded order finds its machine, and answers as cold does
	cold "$base" "$target" --seed-filepaths s1.txt --seed-filepaths s2.txt
	run -0 --separate-stderr bds-consume -w "$WS" --target "$target" --store "$STORE" --include-target-type \
		--seed-filepaths s1.txt --seed-filepaths s2.txt
	[ "$output" = "$cold" ]
}

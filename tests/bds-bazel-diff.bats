# bds-bazel-diff: every bazel-diff v37 option spelling gives exactly what the bds-native
# command line gives (same bytes, same status), on a real Bazel workspace; refusals;
# bazel-diff's example flow through `bds bazel-diff` equals `bds cold`.

load helpers

setup_file() {
	export WS="$BATS_FILE_TMPDIR/ws" F="$BATS_FILE_TMPDIR/files"
	mkdir -p "$F" "$BATS_FILE_TMPDIR/repo-r"
	printf 'workspace(name = "r")\n' > "$BATS_FILE_TMPDIR/repo-r/WORKSPACE"
	printf 'filegroup(name = "f", srcs = ["f.txt"], visibility = ["//visibility:public"])\n' > "$BATS_FILE_TMPDIR/repo-r/BUILD"
	echo r > "$BATS_FILE_TMPDIR/repo-r/f.txt"
	new_workspace "$WS"
	printf 'workspace(name = "t")\n\nlocal_repository(name = "r", path = "%s")\n' "$BATS_FILE_TMPDIR/repo-r" > "$WS/WORKSPACE"
	mkdir -p "$WS/p" "$WS/q"
	printf 'p\n' > "$WS/p/p.txt"
	printf 'genrule(name = "g", srcs = ["p.txt"], outs = ["g.out"], cmd = "cp $< $@", tags = ["lint"])\n' > "$WS/p/BUILD"
	printf 'filegroup(name = "q", srcs = ["//p:g.out", "@r//:f"])\n' > "$WS/q/BUILD"
	git -C "$WS" add -A && git -C "$WS" commit -qm base && git -C "$WS" tag base
	printf 'p2\n' > "$WS/p/p.txt"
	git -C "$WS" commit -qam change && git -C "$WS" tag change
	git -C "$WS" checkout -q base
	# the inputs of the file options
	printf 'p/p.txt\n' > "$F/seeds.txt"
	printf 'q/BUILD\n' > "$F/modified.txt"
	printf '{"p/p.txt": "fixed"}\n' > "$F/content.json"
	printf '\n@r\n\n' > "$F/repos.txt"
	# a workspace with one package that fails to load: only --keep_going hashes it
	export BROKEN="$BATS_FILE_TMPDIR/broken"
	new_workspace "$BROKEN"
	mkdir -p "$BROKEN/ok" "$BROKEN/bad"
	printf 'filegroup(name = "ok")\n' > "$BROKEN/ok/BUILD"
	printf 'filegroup(name = "bad", srcs = [":missing_rule_attr"], bogus = 1)\n' > "$BROKEN/bad/BUILD"
	export BD="$BDS_TOP/scripts/bds-bazel-diff"
}

teardown_file() {
	stop_bazel "$WS"
	stop_bazel "$BROKEN"
	stop_bazel "$BATS_FILE_TMPDIR/gen"
}

# same_hashes "BAZEL-DIFF ARGS" "NATIVE ARGS" [differs]: generate-hashes with bazel-diff's
# spelling and bds-generate-hashes with bds's (both eval'd, OUT appended to the native
# one; $O in the bazel-diff one) exit with the same status and write the same bytes (and
# the same dep edges, $D/$DN). With `differs`, the answer must also differ from the plain
# one, so an option that the front end dropped cannot pass. Call directly, not under run.
same_hashes() {
	O="$BATS_TEST_TMPDIR/bd.json" D="$BATS_TEST_TMPDIR/bd-deps.json"
	ON="$BATS_TEST_TMPDIR/native.json" DN="$BATS_TEST_TMPDIR/native-deps.json"
	rm -f "$O" "$D" "$ON" "$DN"
	eval "run --separate-stderr \"\$BD\" generate-hashes $1"
	local bd_status=$status bd_out=$output bd_err=$stderr
	eval "run --separate-stderr bds-generate-hashes $2 \"\$ON\""
	if [ "$bd_status" != "$status" ]; then
		echo "status: bazel-diff spelling $bd_status ($bd_err), native $status ($stderr)" >&2
		return 1
	fi
	[ "$bd_out" = "$output" ]
	if [ -e "$ON" ]; then cmp "$O" "$ON"; else [ ! -e "$O" ]; fi
	if [ -e "$DN" ]; then cmp "$D" "$DN"; else [ ! -e "$D" ]; fi
	if [ "${3:-}" = differs ]; then
		[ "$status" -eq 0 ]
		! cmp -s "$ON" "$PLAIN"
	fi
}

plain() {
	export PLAIN="$BATS_FILE_TMPDIR/plain.json"
	[ -e "$PLAIN" ] || bds-generate-hashes -w "$WS" "$PLAIN"
}

@test "generate-hashes: -w in every spelling, OUTPUT anywhere, after --" {
	plain
	same_hashes '-w "$WS" "$O"' '-w "$WS"'
	cmp "$O" "$PLAIN"
	same_hashes '-w="$WS" "$O"' '-w "$WS"'
	same_hashes '--workspacePath "$WS" "$O"' '-w "$WS"'
	same_hashes '--workspacePath="$WS" "$O"' '-w "$WS"'
	same_hashes '-w"$WS" "$O"' '-w "$WS"'
	same_hashes '"$O" -w "$WS"' '-w "$WS"'
	same_hashes '-w "$WS" -- "$O"' '-w "$WS"'
	# -v belongs to bazel-diff itself and is inherited: before the command too
	run -0 --separate-stderr "$BD" -v generate-hashes -w "$WS" "$O"
	cmp "$O" "$PLAIN"
	run -0 --separate-stderr "$BD" --verbose=false generate-hashes -w "$WS" "$O"
	cmp "$O" "$PLAIN"
	# without OUTPUT the hashes go to standard output
	run -0 --separate-stderr "$BD" generate-hashes -w "$WS"
	[ "$output" = "$(cat "$PLAIN")" ]
}

@test "generate-hashes: negatable booleans --[no-]includeTargetType, --[no-]excludeExternalTargets" {
	plain
	same_hashes '--includeTargetType -w "$WS" "$O"' '-w "$WS" --include-target-type' differs
	same_hashes '--includeTargetType=true -w "$WS" "$O"' '-w "$WS" --include-target-type' differs
	same_hashes '--includeTargetType=TRUE -w "$WS" "$O"' '-w "$WS" --include-target-type' differs
	same_hashes '--includeTargetType --no-includeTargetType -w "$WS" "$O"' '-w "$WS"'
	same_hashes '--includeTargetType=false -w "$WS" "$O"' '-w "$WS"'
	same_hashes '--no-includeTargetType=false -w "$WS" "$O"' '-w "$WS" --include-target-type' differs
	same_hashes '--excludeExternalTargets -w "$WS" "$O"' '-w "$WS" --exclude-external-targets' differs
	same_hashes '--excludeExternalTargets=true -w "$WS" "$O"' '-w "$WS" --exclude-external-targets' differs
	same_hashes '--no-excludeExternalTargets -w "$WS" "$O"' '-w "$WS"'
	cmp "$O" "$PLAIN"
	# a boolean's value is true or false, nothing else: a parameter error, 2
	run -2 --separate-stderr "$BD" generate-hashes --includeTargetType=yes -w "$WS"
	[ "$stderr" = "bds-bazel-diff generate-hashes: invalid value for option '--includeTargetType': 'yes' is not a boolean
usage: bds-bazel-diff generate-hashes --help" ]
}

@test "generate-hashes: -tt (split on commas, repeatable), -s, -m, -d, --contentHashPath, --ignoredRuleHashingAttributes" {
	plain
	same_hashes '-tt Rule,SourceFile -w "$WS" "$O"' '-w "$WS" --target-type Rule,SourceFile' differs
	same_hashes '-tt Rule -tt SourceFile, -w "$WS" "$O"' '-w "$WS" --target-type Rule,SourceFile' differs
	same_hashes '--targetType=GeneratedFile -w "$WS" "$O"' '-w "$WS" --target-type GeneratedFile' differs
	same_hashes '-s "$F/seeds.txt" -w "$WS" "$O"' '-w "$WS" --seed-filepaths "$F/seeds.txt"' differs
	same_hashes '--seed-filepaths="$F/seeds.txt" -w "$WS" "$O"' '-w "$WS" --seed-filepaths "$F/seeds.txt"' differs
	same_hashes '-m "$F/modified.txt" -w "$WS" "$O"' '-w "$WS" --modified-filepaths "$F/modified.txt"' differs
	same_hashes '--modified-filepaths "$F/modified.txt" -w "$WS" "$O"' '-w "$WS" --modified-filepaths "$F/modified.txt"' differs
	same_hashes '-d "$D" -w "$WS" "$O"' '-w "$WS" --dep-edges "$DN"'
	[ -s "$D" ]
	same_hashes '--depEdgesFile="$D" -w "$WS" "$O"' '-w "$WS" --dep-edges "$DN"'
	same_hashes '--contentHashPath "$F/content.json" -w "$WS" "$O"' '-w "$WS" --content-hashes "$F/content.json"' differs
	same_hashes '--contentHashPath="$F/content.json" -w "$WS" "$O"' '-w "$WS" --content-hashes "$F/content.json"' differs
	same_hashes '--ignoredRuleHashingAttributes cmd -w "$WS" "$O"' '-w "$WS" --ignored-attrs cmd' differs
	same_hashes '--ignoredRuleHashingAttributes=cmd,tags, -w "$WS" "$O"' '-w "$WS" --ignored-attrs cmd,tags' differs
	same_hashes '--ignoredRuleHashingAttributes cmd --ignoredRuleHashingAttributes tags -w "$WS" "$O"' '-w "$WS" --ignored-attrs cmd,tags' differs
}

@test "generate-hashes: query options: fine-grained repos, --excludeTargetsQuery, --alwaysAffectedTags, -co, -so, -b" {
	plain
	same_hashes '--fineGrainedHashExternalRepos @r -w "$WS" "$O"' '-w "$WS" --fine-grained-repos @r' differs
	same_hashes '--fineGrainedHashExternalRepos=@r, -w "$WS" "$O"' '-w "$WS" --fine-grained-repos @r' differs
	# the file form: one repo a line, blank lines dropped
	same_hashes '--fineGrainedHashExternalReposFile "$F/repos.txt" -w "$WS" "$O"' '-w "$WS" --fine-grained-repos @r' differs
	same_hashes '--excludeTargetsQuery //q:all -w "$WS" "$O"' '-w "$WS" --exclude-targets-query //q:all' differs
	same_hashes '--excludeTargetsQuery="//q:all" -w "$WS" "$O"' '-w "$WS" --exclude-targets-query //q:all' differs
	# a tag no target has changes nothing, and maps all the same
	same_hashes '--alwaysAffectedTags nosuchtag -w "$WS" "$O"' '-w "$WS" --always-affected-tags nosuchtag'
	cmp "$O" "$PLAIN"
	# a tag a target has gives it a fresh sentinel each run: only its hash differs
	"$BD" generate-hashes --alwaysAffectedTags=lint -w "$WS" "$O"
	run -0 changed_keys "$PLAIN" "$O"
	[ "$output" = "//p:g
//p:g.out
//q:q" ]
	# -co: split on spaces, repeated options append
	same_hashes '-co "--noimplicit_deps --order_output=no" -w "$WS" "$O"' '-w "$WS" -co "--noimplicit_deps --order_output=no"'
	same_hashes '-co --noimplicit_deps -co=--order_output=no -w "$WS" "$O"' '-w "$WS" -co "--noimplicit_deps --order_output=no"'
	same_hashes '--bazelCommandOptions=--bogus_query_flag -w "$WS" "$O"' '-w "$WS" -co --bogus_query_flag'
	[ "$status" -eq 1 ]
	# -so: each word a startup option (the wrapper's own value again: no restart)
	same_hashes '-so --max_idle_secs=120 -w "$WS" "$O"' '-w "$WS" --startup-option --max_idle_secs=120'
	same_hashes '-so "--max_idle_secs=120 --nohome_rc" -w "$WS" "$O"' '-w "$WS" --startup-option --max_idle_secs=120 --startup-option --nohome_rc'
	same_hashes '--bazelStartupOptions=--bogus_startup -w "$WS" "$O"' '-w "$WS" --startup-option --bogus_startup'
	[ "$status" -eq 1 ]
	same_hashes '-b "$BDS_TOP/tests/bin/bazel" -w "$WS" "$O"' '-w "$WS" -b "$BDS_TOP/tests/bin/bazel"'
	same_hashes '--bazelPath=/nonexistent/bazel -w "$WS" "$O"' '-w "$WS" -b /nonexistent/bazel'
	[ "$status" -eq 1 ]
	# -v is --progress: the same hashes
	same_hashes '-v -w "$WS" "$O"' '-w "$WS"'
	same_hashes '--verbose -w "$WS" "$O"' '-w "$WS"'
}

@test "generate-hashes: -k/--keep_going, negatable, =true/=false, +k" {
	run -1 --separate-stderr bds-generate-hashes -w "$BROKEN"
	bds-generate-hashes -w "$BROKEN" -k "$BATS_TEST_TMPDIR/kept.json" 2>/dev/null
	for spelling in -k --keep_going -k=true --keep_going=TRUE "+k -k" "--no-keep_going --keep_going" -kv; do
		rm -f "$BATS_TEST_TMPDIR/bd.json"
		# shellcheck disable=SC2086
		run -0 --separate-stderr "$BD" generate-hashes $spelling -w "$BROKEN" "$BATS_TEST_TMPDIR/bd.json"
		cmp "$BATS_TEST_TMPDIR/kept.json" "$BATS_TEST_TMPDIR/bd.json"
	done
	for spelling in "" -k=false "-k +k" "-k --no-keep_going" --keep_going=false; do
		# shellcheck disable=SC2086
		run -1 --separate-stderr "$BD" generate-hashes $spelling -w "$BROKEN"
		[ "$output" = "" ]
		[[ "$stderr" == *"bds-generate-hashes: bazel query failed with exit"* ]]
	done
	# -k's value is attached (-k=false), never the next word: `-k false` makes "false" OUTPUT
	cd "$BATS_TEST_TMPDIR"
	run -0 --separate-stderr "$BD" generate-hashes -w "$BROKEN" -k false
	cmp "$BATS_TEST_TMPDIR/kept.json" "$BATS_TEST_TMPDIR/false"
}

@test "generate-hashes: cquery options are refused with one line, exit 1, before any query" {
	run -1 --separate-stderr "$BD" generate-hashes -w "$WS" --useCquery
	[ "$output" = "" ]
	[ "$stderr" = "bds-bazel-diff generate-hashes: --useCquery is not supported: bds hashes bazel query's graph; bazel-diff v37's cquery passes --consistent_labels and --query_file, which Bazel 4.2.3, the only Bazel bds is tested with, lacks; use bazel-diff itself for cquery" ]
	run -1 --separate-stderr "$BD" generate-hashes -w "$WS" --useCquery=true
	run -1 --separate-stderr "$BD" generate-hashes --cqueryCommandOptions --platforms=//x -w "$WS"
	[ "$stderr" = "bds-bazel-diff generate-hashes: --cqueryCommandOptions is not supported: bds hashes bazel query's graph, never cquery's" ]
	run -1 --separate-stderr "$BD" generate-hashes --cqueryExpression='deps(//...)' -w "$WS"
	[ "$stderr" = "bds-bazel-diff generate-hashes: --cqueryExpression is not supported: bds hashes bazel query's graph, never cquery's" ]
	# query mode said explicitly is query mode
	plain
	same_hashes '--no-useCquery -w "$WS" "$O"' '-w "$WS"'
	same_hashes '--useCquery=false -w "$WS" "$O"' '-w "$WS"'
	run -1 --separate-stderr "$BD" warmup
	[ "$stderr" = "bds-bazel-diff: 'warmup' is not supported: bds answers generate-hashes and get-impacted-targets (bds-record and bds-consume keep Bazel warm)" ]
	run -1 --separate-stderr "$BD" generate-hashes --debug -w "$WS"
	# picocli's argument files (@FILE, when FILE exists) are refused, as a value too; an
	# @name with no such file is the plain string, as in picocli (e.g. a repository @r)
	cd "$BATS_TEST_TMPDIR"
	printf -- '-w %s\n' "$WS" > args
	run -1 --separate-stderr "$BD" generate-hashes @args
	[ "$stderr" = "bds-bazel-diff generate-hashes: argument files are not supported: '@args' (picocli would read the arguments in 'args'); write them on the command line" ]
	touch r
	run -1 --separate-stderr "$BD" generate-hashes -w "$WS" --fineGrainedHashExternalRepos @r
	[ "$stderr" = "bds-bazel-diff generate-hashes: argument files are not supported: '@r' (picocli would read the arguments in 'r'); write them on the command line" ]
}

@test "generate-hashes: parameter errors exit 2 and name the option; both fine-grained forms exit 1" {
	u="usage: bds-bazel-diff generate-hashes --help"
	run -2 --separate-stderr "$BD" generate-hashes -w "$WS" --bogus
	[ "$output" = "" ]
	[ "$stderr" = "bds-bazel-diff generate-hashes: unknown option '--bogus'
$u" ]
	run -2 --separate-stderr "$BD" generate-hashes -w "$WS" --workspacepath "$WS"
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff generate-hashes: unknown option '--workspacepath'" ]
	run -2 --separate-stderr "$BD" generate-hashes
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff generate-hashes: missing required option '--workspacePath'" ]
	run -2 --separate-stderr "$BD" generate-hashes -w
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff generate-hashes: missing required parameter for option '-w'" ]
	run -2 --separate-stderr "$BD" generate-hashes -w --includeTargetType
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff generate-hashes: expected parameter for option '-w' but found '--includeTargetType'" ]
	run -2 --separate-stderr "$BD" generate-hashes -w "$WS" -w "$WS"
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff generate-hashes: option '-w' should be specified only once" ]
	run -2 --separate-stderr "$BD" generate-hashes -w "$WS" a b
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff generate-hashes: unmatched argument 'b' (OUTPUT is already 'a')" ]
	run -2 --separate-stderr "$BD" generate-hashes -w "$WS" --contentHashPath /nonexistent.json
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff generate-hashes: incorrect contentHashFilePath: file doesn't exist or can't be read: '/nonexistent.json'" ]
	# a bds usage error downstream (a target type bds-hash does not know) is a parameter error
	run -2 --separate-stderr "$BD" generate-hashes -w "$WS" -tt Bogus
	[[ "$stderr" == *"unknown target type 'Bogus'"* ]]
	run -1 --separate-stderr "$BD" generate-hashes -w "$WS" --fineGrainedHashExternalRepos @r --fineGrainedHashExternalReposFile "$F/repos.txt"
	[ "$stderr" = "bds-bazel-diff generate-hashes: --fineGrainedHashExternalRepos and --fineGrainedHashExternalReposFile are mutually exclusive" ]
	run -1 --separate-stderr "$BD" generate-hashes -w "$WS" --fineGrainedHashExternalReposFile /nonexistent.txt
	[ "$stderr" = "bds-bazel-diff generate-hashes: --fineGrainedHashExternalReposFile '/nonexistent.txt': cannot read it" ]
	# the command: missing, unknown
	run -2 --separate-stderr "$BD"
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff: missing required command (generate-hashes, get-impacted-targets)" ]
	run -2 --separate-stderr "$BD" -w "$WS" generate-hashes
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff: unknown option '-w'" ]
	run -2 --separate-stderr "$BD" gen-hashes
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff: unmatched argument 'gen-hashes': not a command (generate-hashes, get-impacted-targets)" ]
}

@test "get-impacted-targets: every spelling gives bds-diff's answer" {
	G="$BATS_FILE_TMPDIR/git"
	mkdir -p "$G"
	git -C "$WS" checkout -q base
	bds-generate-hashes -w "$WS" --include-target-type --dep-edges "$G/deps.json" "$G/base.json"
	git -C "$WS" checkout -q change
	bds-generate-hashes -w "$WS" --include-target-type "$G/change.json"
	git -C "$WS" checkout -q base
	A="$G/base.json" B="$G/change.json"
	bds-diff "$A" "$B" > "$G/plain.txt"
	[ "$(cat "$G/plain.txt")" = "//p:p.txt
//p:g.out
//p:g
//q:q" ]
	# same_answer "BAZEL-DIFF ARGS" "BDS-DIFF ARGS": the same stdout, -o file and status
	same_answer() {
		rm -f "$G/bd.txt" "$G/native.txt"
		eval "run --separate-stderr \"\$BD\" get-impacted-targets $1"
		local s=$status o=$output
		eval "run --separate-stderr bds-diff $2"
		[ "$s" = "$status" ]
		[ "$o" = "$output" ]
		if [ -e "$G/native.txt" ]; then cmp "$G/bd.txt" "$G/native.txt"; else [ ! -e "$G/bd.txt" ]; fi
	}
	same_answer '-sh "$A" -fh "$B" -w "$WS"' '"$A" "$B"'
	[ "$output" = "$(cat "$G/plain.txt")" ]
	same_answer '-sh="$A" -fh="$B" -w="$WS" -o "$G/bd.txt"' '-o "$G/native.txt" "$A" "$B"'
	same_answer '--startingHashes "$A" --finalHashes "$B" --workspacePath "$WS" --output="$G/bd.txt"' '-o "$G/native.txt" "$A" "$B"'
	same_answer '--startingHashes="$A" --finalHashes="$B" --workspacePath="$WS"' '"$A" "$B"'
	same_answer '-w "$WS" -sh "$A" -fh "$B" -tt Rule' '--target-type Rule "$A" "$B"'
	[ "$output" = "//p:g
//q:q" ]
	same_answer '-w "$WS" -sh "$A" -fh "$B" --targetType=SourceFile,GeneratedFile' '--target-type SourceFile,GeneratedFile "$A" "$B"'
	same_answer '-w "$WS" -sh "$A" -fh "$B" -tt SourceFile -tt GeneratedFile' '--target-type SourceFile,GeneratedFile "$A" "$B"'
	same_answer '-w "$WS" -sh "$A" -fh "$B" -d "$G/deps.json"' '--dep-edges "$G/deps.json" "$A" "$B"'
	[[ "$output" == "["* ]]
	same_answer '-w "$WS" -sh "$A" -fh "$B" --depEdgesFile="$G/deps.json" -o "$G/bd.txt"' '--dep-edges "$G/deps.json" -o "$G/native.txt" "$A" "$B"'
	same_answer '-w "$WS" -sh "$A" -fh "$B" --excludeExternalTargets' '--exclude-external "$A" "$B"'
	same_answer '-w "$WS" -sh "$A" -fh "$B" --excludeExternalTargets=false' '"$A" "$B"'
	same_answer '-w "$WS" -sh "$A" -fh "$B" --no-excludeExternalTargets' '"$A" "$B"'
	same_answer '-w "$WS" -sh "$A" -fh "$B" -b "$BDS_TOP/tests/bin/bazel" -so --max_idle_secs=120 --noBazelrc' '"$A" "$B"'
	same_answer '-w "$WS" -sh "$A" -fh "$B" --bazelPath="$BDS_TOP/tests/bin/bazel" --bazelStartupOptions=--max_idle_secs=120 --no-noBazelrc -v' '"$A" "$B"'
	# hashes from the other revision first: the change's targets are what differ
	same_answer '-w "$WS" -sh "$B" -fh "$A"' '"$B" "$A"'
	# failures: bds-diff's own (bad JSON: 1), parameter errors (2)
	echo '{' > "$G/bad.json"
	same_answer '-w "$WS" -sh "$G/bad.json" -fh "$B"' '"$G/bad.json" "$B"'
	[ "$status" -eq 1 ]
	run -2 --separate-stderr "$BD" get-impacted-targets -w "$WS" -sh /nonexistent.json -fh "$B"
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff get-impacted-targets: incorrect starting hashes: file doesn't exist or can't be read: '/nonexistent.json'" ]
	run -2 --separate-stderr "$BD" get-impacted-targets -w "$WS" -sh "$A" -fh /nonexistent.json
	run -2 --separate-stderr "$BD" get-impacted-targets -w "$WS" -sh "$A" -fh "$B" -d /nonexistent.json
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff get-impacted-targets: incorrect dep edges file: file doesn't exist or can't be read: '/nonexistent.json'" ]
	run -2 --separate-stderr "$BD" get-impacted-targets -sh "$A" -fh "$B"
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff get-impacted-targets: missing required option '--workspacePath'" ]
	run -2 --separate-stderr "$BD" get-impacted-targets -w "$WS" -fh "$B"
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff get-impacted-targets: missing required option '--startingHashes'" ]
	run -2 --separate-stderr "$BD" get-impacted-targets -w "$WS" -sh "$A" -fh "$B" -k
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff get-impacted-targets: unknown option '-k'" ]
	run -2 --separate-stderr "$BD" get-impacted-targets -w "$WS" -sh "$A" -fh "$B" extra
	[ "${stderr%%$'\n'*}" = "bds-bazel-diff get-impacted-targets: unmatched argument 'extra'" ]
}

@test "--help and --version: stdout, exit 0, at every level" {
	run -0 --separate-stderr "$BD" --help
	[[ "$output" == "usage: bds-bazel-diff [-hvV] COMMAND [OPTIONS]"* ]]
	[ "$stderr" = "" ]
	run -0 --separate-stderr "$BD" generate-hashes -h
	[[ "$output" == "usage: bds-bazel-diff generate-hashes -w DIR"* ]]
	run -0 --separate-stderr "$BD" get-impacted-targets --help
	[[ "$output" == "usage: bds-bazel-diff get-impacted-targets -sh FILE"* ]]
	v=$(bds-tmpdir --version)
	run -0 --separate-stderr "$BD" -V
	[ "$output" = "bds-bazel-diff ${v#bds-tmpdir }" ]
	run -0 --separate-stderr "$BD" generate-hashes --version
	[ "$output" = "bds-bazel-diff ${v#bds-tmpdir }" ]
	# `bds bazel-diff` is the same program
	run -0 --separate-stderr "$BDS_TOP/scripts/bds" bazel-diff --version
	[ "$output" = "bds-bazel-diff ${v#bds-tmpdir }" ]
}

@test "bazel-diff's example flow through 'bds bazel-diff' gives bds cold's answer (generated workspace)" {
	W="$BATS_FILE_TMPDIR/gen"
	run -0 "$BDS_TOP/bench/gen-workspace" "$W" --targets 300 --seed 7
	base=$(printf '%s\n' "$output" | sed -n 's/^base //p')
	change=$(printf '%s\n' "$output" | sed -n 's/^change //p')
	[ -n "$base" ]
	[ -n "$change" ]
	mkdir -p "$BATS_TEST_TMPDIR/example"
	BAZEL_DIFF="$BDS_TOP/scripts/bds bazel-diff" run -0 --separate-stderr \
		"$BDS_TOP/tests/fixtures/bazel-diff-example/run.sh" "$W" "$BDS_TOP/tests/bin/bazel" "$base" "$change" "$BATS_TEST_TMPDIR/example"
	example=$output
	[ -n "$example" ]
	run -0 --separate-stderr bds-cold -w "$W" --base "$base" --target "$change"
	[ "$example" = "$output" ]
	# with typed hashes (a flag the example passes through to generate-hashes) too
	BAZEL_DIFF_EXTRA_FLAGS=--includeTargetType BAZEL_DIFF="$BDS_TOP/scripts/bds bazel-diff" run -0 --separate-stderr \
		"$BDS_TOP/tests/fixtures/bazel-diff-example/run.sh" "$W" "$BDS_TOP/tests/bin/bazel" "$base" "$change" "$BATS_TEST_TMPDIR/example"
	typed=$output
	run -0 --separate-stderr bds-cold -w "$W" --base "$base" --target "$change" --include-target-type
	[ "$typed" = "$output" ]
	[ "$(printf '%s\n' "$typed" | sort)" = "$(printf '%s\n' "$example" | sort)" ]
}

# The CI recipes in examples/ stay true: the shell steps of each job, extracted from the YAML
# (tests/examples-steps.py) and run in order with the environment the CI gives them, against
# a local origin repository, its depth-1 clones and a directory store, as the S3 store in
# the YAML. Record on the main branch, then the pull (merge) request's job: the impacted
# list equals bds-cold's; with the warm state gone, the fallback gives the same list.

load helpers

setup_file() {
	export ORIGIN="$BATS_FILE_TMPDIR/origin.git"
	local src=$BATS_FILE_TMPDIR/src
	new_workspace "$src"
	mkdir -p "$src/lib" "$src/app"
	printf 'a\n' > "$src/lib/a.txt"
	printf 'b\n' > "$src/lib/b.txt"
	printf 'genrule(name = "gen", srcs = ["a.txt"], outs = ["gen.out"], cmd = "cat $< > $@", visibility = ["//visibility:public"])\nfilegroup(name = "b", srcs = ["b.txt"])\n' > "$src/lib/BUILD"
	printf 'genrule(name = "app", srcs = ["//lib:gen"], outs = ["app.out"], cmd = "cp $< $@")\n' > "$src/app/BUILD"
	git -C "$src" checkout -q -b main
	BASE=$(commit_all "$src" base)
	git -C "$src" checkout -q -b pr
	printf 'a2\n' > "$src/lib/a.txt"
	printf 'filegroup(name = "c", srcs = ["b.txt"])\n' >> "$src/lib/BUILD"
	TARGET=$(commit_all "$src" change)
	export BASE TARGET
	git clone -q --bare "$src" "$ORIGIN"
	BDS_CACHE="$BATS_FILE_TMPDIR/cold-cache" bds-cold -w "$src" --base "$BASE" --target "$TARGET" \
		--include-target-type > "$BATS_FILE_TMPDIR/cold.txt" 2>"$BATS_FILE_TMPDIR/cold.err"
}

teardown_file() {
	for ob in "$BATS_FILE_TMPDIR"/*/cache/local/*/*/output_base; do
		[ -d "$ob" ] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
	done
}

# clone BRANCH DIR: the CI's depth-1 clone of BRANCH's tip (file://: a plain path ignores
# --depth)
clone() {
	git clone -q --depth 1 --branch "$1" "file://$ORIGIN" "$2"
}

# steps KIND FILE JOB OUT [examples-steps.py options]: JOB's steps into OUT, the store
# variable set to the runner's directory store and the bds checkout to this tree.
steps() {
	local kind=$1 file=$2 job=$3 out=$4
	shift 4
	python3 "$BDS_TOP/tests/examples-steps.py" "$kind" "$BDS_TOP/$file" "$job" "$out" \
		--set BDS_STORE="$RUNNER/store" --set BDS_SRC="$BDS_TOP" "$@"
}

# run_steps DIR CLONE: the steps in DIR in order in CLONE, as the runner runs them: bash -e
# with pipefail, only the system directories and the Bazel wrapper on PATH (the install
# step adds bds), GITHUB_PATH's lines added to PATH for the later steps. Stderr of all
# in $RUNNER/steps.err. Returns the first failing step's status.
run_steps() {
	local dir=$1 clone=$2 path=$BDS_TOP/tests/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	local f p rc
	: > "$RUNNER/github_path"
	for f in "$dir"/steps/*.sh; do
		rc=0
		(cd "$clone" && env -u BDS_HASH PATH="$path" GITHUB_PATH="$RUNNER/github_path" \
			bash --noprofile --norc -eo pipefail "$f") >>"$RUNNER/steps.out" 2>>"$RUNNER/steps.err" || rc=$?
		[ "$rc" -eq 0 ] || { echo "step $f failed ($rc)" >&2; cat "$RUNNER/steps.err" >&2; return "$rc"; }
		while read -r p; do path=$p:$path; done < "$RUNNER/github_path"
		: > "$RUNNER/github_path"
	done
}

# runner NAME: a fresh runner: its home for bds (BDS_CACHE), its temp directory, its store;
# the build directory make install uses (make takes BUILD from the environment).
runner() {
	export RUNNER="$BATS_FILE_TMPDIR/$1"
	mkdir -p "$RUNNER/tmp" "$RUNNER/store"
	export BDS_CACHE="$RUNNER/cache" RUNNER_TEMP="$RUNNER/tmp" BUILD="$BDS_BUILD"
}

# warm_gone: the runner's warm Bazel servers shut down and their state removed, as on a
# replaced runner; the store keeps its entries.
warm_gone() {
	stop_warm_servers
	rm -rf "$BDS_CACHE"
}

# same_as_cold FILE: FILE holds exactly bds-cold's answer, which is not empty.
same_as_cold() {
	[ -s "$BATS_FILE_TMPDIR/cold.txt" ]
	diff -u "$BATS_FILE_TMPDIR/cold.txt" "$1"
}

# github_jobs: the record workflow on a push of BASE to main, then the consume workflow on
# the pull request whose checkout (depth 1) is TARGET.
github_record() {
	clone main "$RUNNER/push"
	steps github examples/github-actions/bds-record.yml record "$RUNNER/record" \
		--expr github.sha="$BASE"
	run_steps "$RUNNER/record" "$RUNNER/push"
}
github_consume() {
	rm -rf "$RUNNER/pr" "$RUNNER/consume"
	clone pr "$RUNNER/pr"
	[ "$(git -C "$RUNNER/pr" rev-parse --is-shallow-repository)" = true ]
	run -128 git -C "$RUNNER/pr" cat-file -e "$BASE^{commit}"
	steps github examples/github-actions/bds-consume.yml impacted "$RUNNER/consume" \
		--expr github.event.pull_request.base.sha="$BASE"
	: > "$RUNNER/steps.err"
	run_steps "$RUNNER/consume" "$RUNNER/pr"
}

@test "the examples: triggers, depth-1 checkouts, the S3 store, the artifact" {
	local d=$BATS_TEST_TMPDIR
	python3 -c 'import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], "w"))' \
		"$BDS_TOP/examples/github-actions/bds-record.yml" "$d/record.json"
	python3 -c 'import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], "w"))' \
		"$BDS_TOP/examples/github-actions/bds-consume.yml" "$d/consume.json"
	python3 -c 'import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], "w"))' \
		"$BDS_TOP/examples/gitlab-ci.yml" "$d/gitlab.json"
	# PyYAML reads the key `on` as true
	[ "$(jq -c '.["true"]' "$d/record.json")" = '{"push":{"branches":["main"]}}' ]
	[ "$(jq -c '.["true"]' "$d/consume.json")" = '{"pull_request":null}' ]
	[ "$(jq -r '.env.BDS_STORE' "$d/record.json")" = s3://ci-cache/bds ]
	[ "$(jq -r '.env.BDS_STORE' "$d/consume.json")" = s3://ci-cache/bds ]
	[ "$(jq -r '.variables.BDS_STORE' "$d/gitlab.json")" = s3://ci-cache/bds ]
	[ "$(jq -c '[.jobs.record.steps[] | select(.uses == "actions/checkout@v4") | .with]' "$d/record.json")" = '[{"fetch-depth":1}]' ]
	[ "$(jq -c '[.jobs.impacted.steps[] | select(.uses == "actions/checkout@v4") | .with]' "$d/consume.json")" = '[{"fetch-depth":1}]' ]
	[ "$(jq -r '.jobs.impacted.steps[] | select(.uses == "actions/upload-artifact@v4") | .with.path' "$d/consume.json")" = \
		"$(printf 'bds-out/impacted-targets.txt\nbds-out/*-timings.json')" ]
	[ "$(jq -r '.variables.GIT_DEPTH' "$d/gitlab.json")" = 1 ]
	[ "$(jq -c '.["bds-record"].rules' "$d/gitlab.json")" = '[{"if":"$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_PIPELINE_SOURCE == \"push\""}]' ]
	[ "$(jq -c '.["bds-impacted"].rules' "$d/gitlab.json")" = '[{"if":"$CI_PIPELINE_SOURCE == \"merge_request_event\""}]' ]
	[ "$(jq -c '.["bds-impacted"].artifacts' "$d/gitlab.json")" = '{"paths":["bds-out/"]}' ]
}

@test "github-actions: record on push, the pull request's depth-1 clone consumes warm: bds-cold's answer" {
	runner gh
	github_record
	[ -n "$(ls "$RUNNER/store")" ]
	[ "$(jq -r .exit_status "$RUNNER/push/bds-out/record-timings.json")" = 0 ]
	github_consume
	same_as_cold "$RUNNER/pr/bds-out/impacted-targets.txt"
	# warm: no fallback, and the timings say so
	run -1 grep -F 'warm path unavailable' "$RUNNER/steps.err"
	[ "$(jq -r '.exit_status' "$RUNNER/pr/bds-out/consume-timings.json")" = 0 ]
	[ "$(jq -r '.cold_reason' "$RUNNER/pr/bds-out/consume-timings.json")" = null ]
	[ ! -e "$RUNNER/pr/bds-out/cold-timings.json" ]
}

@test "github-actions: the warm state gone, exit 2 takes the cold path: half-cold, then with the store empty the full cold path; both bds-cold's answer" {
	runner gh-fallback
	github_record
	warm_gone
	github_consume
	same_as_cold "$RUNNER/pr/bds-out/impacted-targets.txt"
	[ "$(grep -cx 'consume.sh: warm path unavailable: the cold path' "$RUNNER/steps.err")" = 1 ]
	[ "$(jq -r '.exit_status' "$RUNNER/pr/bds-out/consume-timings.json")" = 2 ]
	[ "$(jq -r '.exit_status' "$RUNNER/pr/bds-out/cold-timings.json")" = 0 ]
	grep -q 'half-cold' "$RUNNER/steps.err"
	# the half-cold path needs no base commit: the clone still lacks it
	run -1 grep -F 'fetching it' "$RUNNER/steps.err"
	run -128 git -C "$RUNNER/pr" cat-file -e "$BASE^{commit}"

	warm_gone
	rm -rf "$RUNNER/store"
	mkdir "$RUNNER/store"
	github_consume
	same_as_cold "$RUNNER/pr/bds-out/impacted-targets.txt"
	[ "$(grep -cx 'consume.sh: warm path unavailable: the cold path' "$RUNNER/steps.err")" = 1 ]
	[ "$(jq -r '.exit_status' "$RUNNER/pr/bds-out/cold-timings.json")" = 0 ]
	# the full cold path fetched the base commit into the depth-1 clone
	[ "$(grep -cx 'consume.sh: the full cold path needs the base commit: fetching it' "$RUNNER/steps.err")" = 1 ]
	git -C "$RUNNER/pr" cat-file -e "$BASE^{commit}"
}

@test "gitlab-ci: record on the default branch, the merge request's depth-1 clone consumes warm, then cold with the warm state gone: bds-cold's answer" {
	runner gl
	clone main "$RUNNER/push"
	steps gitlab examples/gitlab-ci.yml bds-record "$RUNNER/record"
	CI_COMMIT_SHA=$BASE CI_PROJECT_DIR=$RUNNER/push run_steps "$RUNNER/record" "$RUNNER/push"
	[ "$(jq -r .exit_status "$RUNNER/push/bds-out/record-timings.json")" = 0 ]

	clone pr "$RUNNER/mr"
	steps gitlab examples/gitlab-ci.yml bds-impacted "$RUNNER/consume"
	: > "$RUNNER/steps.err"
	CI_COMMIT_SHA=$TARGET CI_MERGE_REQUEST_DIFF_BASE_SHA=$BASE CI_PROJECT_DIR=$RUNNER/mr \
		run_steps "$RUNNER/consume" "$RUNNER/mr"
	same_as_cold "$RUNNER/mr/bds-out/impacted-targets.txt"
	run -1 grep -F 'warm path unavailable' "$RUNNER/steps.err"

	warm_gone
	rm -rf "$RUNNER/mr"
	clone pr "$RUNNER/mr"
	: > "$RUNNER/steps.err"
	CI_COMMIT_SHA=$TARGET CI_MERGE_REQUEST_DIFF_BASE_SHA=$BASE CI_PROJECT_DIR=$RUNNER/mr \
		run_steps "$RUNNER/consume" "$RUNNER/mr"
	same_as_cold "$RUNNER/mr/bds-out/impacted-targets.txt"
	[ "$(grep -cx 'consume.sh: warm path unavailable: the cold path' "$RUNNER/steps.err")" = 1 ]
}

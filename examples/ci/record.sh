#!/bin/sh
# The CI step of a push to the main branch: record the pushed commit (warm its Bazel server
# on this runner, hash it and publish the store entry). Called by both CI examples
# (examples/github-actions/bds-record.yml, examples/gitlab-ci.yml), which only set the
# environment; tests/examples.bats runs it as they do.
#
# Environment:
#   BDS_SHA      the pushed commit (GITHUB_SHA, CI_COMMIT_SHA); a depth-1 clone is enough
#   BDS_STORE    the store: s3://bucket/prefix (credentials in AWS_*), https://..., or a directory
#   BDS_OUT      directory for the timings (default bds-out)
#   BDS_OPTIONS  options for both record and consume, split on spaces: Bazel's (-b, -co,
#                -so) and the hash options; they are part of the key, so the consume
#                must be given the same (default --include-target-type)
set -eu
out=${BDS_OUT:-bds-out}
mkdir -p "$out"
# shellcheck disable=SC2086 # BDS_OPTIONS is a list of words
bds record -w . --base "$BDS_SHA" --store "$BDS_STORE" --timings "$out/record-timings.json" \
	${BDS_OPTIONS---include-target-type}

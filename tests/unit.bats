# Runs the C unit tests (tests/unit/*.c): golden vectors (docs/algorithm.md 2.10) and helpers.

load helpers

@test "unit-golden: bazel-diff golden vectors and label helpers" {
	run -0 "$BDS_BUILD/tests/unit-golden"
	[ "${lines[${#lines[@]}-1]}" = "0 failed" ]
	[[ "$output" == *"ok rule3b-overall 2c424742eaeedfecd438042735f97922e87d73aaabfa28bb2e7a97665f3cb4df"* ]]
}

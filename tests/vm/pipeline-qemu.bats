#!/usr/bin/env bats
# The qemu driver end to end in the real guest image (Bazel inside): record a base commit,
# consume a change, run the canary; the answer must be byte-identical to bds-cold's, and
# the entry must not change. KVM where it works (tests/vm-accel.bash probes it with the
# tiny guest), else software emulation, where Bazel is 15 to 25 times slower, so the
# workspace is small. Run by `make check-vm`.

load ../helpers
load ../vm-accel

# helpers.bash assumes tests/ is the test directory: set the paths from the top here
top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BDS_TOP=$top
export PATH="$top/tests/bin:$BDS_BUILD/bin:$top/scripts:$PATH"

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap)"
	"$BDS_TOP/scripts/install-deps" --vm
	local d=$BATS_FILE_TMPDIR
	"$BDS_TOP/bench/gen-workspace" "$d/ws" --targets 150 > "$d/shas"
	export WS="$d/ws" BASE TARGET
	BASE=$(awk '$1 == "base" { print $2 }' "$d/shas")
	TARGET=$(awk '$1 == "change" { print $2 }' "$d/shas")
	git -C "$WS" checkout -q "$BASE"
	ssh-keygen -q -t ed25519 -N '' -C bds-vm-pipeline -f "$d/key"
	"$BDS_TOP/guest/build-image" --out "$d/img" --workspace "$WS" --pubkey "$d/key.pub" \
		--vcpus 1 --mem-mib 1536 --disk-gib 3 >&3 2>&1
	ssh-keygen -q -t ed25519 -N '' -f "$d/probe-key"
	"$top/tests/tiny-guest/build" --out "$d/probe" --pubkey "$d/probe-key.pub" >/dev/null 2>&1
	BDS_VM_ACCEL=$(pick_accel "$d/probe")
	echo "# accelerator: $BDS_VM_ACCEL" >&3
	export BDS_VM_IMAGE="$d/img" BDS_VM_KEY="$d/key" BDS_VM_ACCEL
	export BDS_CACHE="$d/cache" STORE="$d/store"
}

@test "record: base commit warmed in the guest and published" {
	run -0 --separate-stderr bds-record --driver qemu -w "$WS" --base "$BASE" --store "$STORE"
	printf '# %s\n' "${stderr_lines[@]}" >&3
	[[ "${stderr_lines[-1]}" == "bds-record: recorded "*"/$BASE in $STORE" ]]
	# an empty store: nothing earlier to start from
	[[ "$stderr" == *"bds-record: booting a fresh machine: no snapshot for fingerprint "*" within 64 first-parent ancestors of $BASE"* ]]
	(cd "$STORE" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$BATS_FILE_TMPDIR/published.sums"
	# the record's VM is gone with its pipeline
	run -1 pgrep -f "$BDS_VM_IMAGE/bzImage"
}

@test "consume: the warm answer is byte-identical to the cold one" {
	run -0 --separate-stderr bds-consume --driver qemu -w "$WS" --target "$TARGET" --store "$STORE" \
		-o "$BATS_FILE_TMPDIR/warm.txt"
	printf '# %s\n' "${stderr_lines[@]}" >&3
	run -0 bds-cold -w "$WS" --base "$BASE" --target "$TARGET" -o "$BATS_FILE_TMPDIR/cold.txt"
	[ -s "$BATS_FILE_TMPDIR/cold.txt" ]
	cmp "$BATS_FILE_TMPDIR/warm.txt" "$BATS_FILE_TMPDIR/cold.txt"
	# no QEMU of this image outlives its pipeline
	run -1 pgrep -f "$BDS_VM_IMAGE/bzImage"
}

@test "canary: warm and cold agree" {
	run -0 bds-canary -w "$WS" --base "$BASE" --target "$TARGET" --store "$STORE" --driver qemu
	[ "${lines[-1]}" = "canary: identical ($(wc -l < "$BATS_FILE_TMPDIR/cold.txt") labels)" ]
}

@test "two consumes of one snapshot at once: both answers are the cold one" {
	bds-consume --driver qemu -w "$WS" --target "$TARGET" --store "$STORE" \
		-o "$BATS_TEST_TMPDIR/a.txt" 2> "$BATS_TEST_TMPDIR/a.err" &
	local pa=$!
	run -0 bds-consume --driver qemu -w "$WS" --target "$TARGET" --store "$STORE" -o "$BATS_TEST_TMPDIR/b.txt"
	wait "$pa" || { cat "$BATS_TEST_TMPDIR/a.err" >&2; return 1; }
	cmp "$BATS_TEST_TMPDIR/a.txt" "$BATS_FILE_TMPDIR/cold.txt"
	cmp "$BATS_TEST_TMPDIR/b.txt" "$BATS_FILE_TMPDIR/cold.txt"
	run -1 pgrep -f "$BDS_VM_IMAGE/bzImage"
}

@test "the entry is byte-identical after the consumes" {
	run -0 sh -c "cd '$STORE' && sha256sum --quiet -c '$BATS_FILE_TMPDIR/published.sums'"
	[ "$output" = "" ]
	run -1 pgrep -f "$BDS_VM_IMAGE/bzImage"
}

@test "a second record starts from the first's machine and uploads a fraction of it; a consume from it is exact" {
	# the second base is the target; one commit after it is the next change
	git -C "$WS" checkout -q "$TARGET"
	echo "next" >> "$WS/layer0/pkg0000/src/unit0.in"
	git -C "$WS" commit -q -am next
	NEXT=$(git -C "$WS" rev-parse HEAD)
	git -C "$WS" checkout -q "$BASE"
	run -0 --separate-stderr bds-record --driver qemu -w "$WS" --base "$TARGET" --store "$STORE"
	printf '# %s\n' "${stderr_lines[@]}" >&3
	[[ "$stderr" == *"bds-record: started from the machine of $BASE (record 1 in a row)"* ]]
	[[ "${stderr_lines[-1]}" == "bds-record: recorded "*"/$TARGET in $STORE" ]]
	# one line says how much of the entry was new to the store
	uploaded=$(grep '^bds-store-publish: uploaded ' <<<"$stderr")
	[[ "$uploaded" =~ ^"bds-store-publish: uploaded "[0-9.]+" of "[0-9.]+" MiB in chunks ("[0-9.]+" %)"$ ]]
	echo "# second record: ${uploaded#bds-store-publish: }" >&3
	md=$(ls "$STORE"/*/"$TARGET"/metadata.json)
	[ "$(jq -c '[.format, .driver_state.generation]' "$md")" = '[2,1]' ]
	[ "$(jq -c '.driver_state.generation' "$(ls "$STORE"/*/"$BASE"/metadata.json)")" = 0 ]
	# a consume from the second entry answers as the cold path does
	run -0 --separate-stderr bds-consume --driver qemu -w "$WS" --target "$NEXT" --store "$STORE" \
		-o "$BATS_TEST_TMPDIR/warm.txt"
	printf '# %s\n' "${stderr_lines[@]}" >&3
	# from the second entry, most of its chunks in the chunk cache already
	[[ "$stderr" == *"bds-store-lookup: $STORE/"*"/$TARGET: "*" chunks fetched ("*" MiB), the rest from the chunk cache"* ]]
	run -0 bds-cold -w "$WS" --base "$TARGET" --target "$NEXT" -o "$BATS_TEST_TMPDIR/cold.txt"
	[ -s "$BATS_TEST_TMPDIR/cold.txt" ]
	cmp "$BATS_TEST_TMPDIR/warm.txt" "$BATS_TEST_TMPDIR/cold.txt"
	run -1 pgrep -f "$BDS_VM_IMAGE/bzImage"
}

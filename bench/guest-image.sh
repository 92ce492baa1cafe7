# bench/guest-image.sh: what the benchmarks on the real guest image share (chunking.sh,
# remote-consume.sh, working-set.sh). Sourced with `top`, `dir`, `targets` and `mem` set.
# shellcheck shell=sh disable=SC2154,SC2034 # top, dir, targets and mem come from, base and change go to, the sourcing script

# guest_bench_image NAME: the generated workspace of $targets targets in $dir/ws, checked
# out at its `base`, and the guest image of it in $dir/img with $mem MiB of RAM (its log in
# $dir/image.log); sets base and change (the commit one later) and exports BDS_VM_IMAGE and
# BDS_VM_KEY (an ssh key made for it, commented bds-bench-NAME).
guest_bench_image() {
	"$top/bench/gen-workspace" "$dir/ws" --targets "$targets" > "$dir/shas"
	base=$(awk '$1 == "base" { print $2 }' "$dir/shas")
	change=$(awk '$1 == "change" { print $2 }' "$dir/shas")
	git -C "$dir/ws" checkout -q "$base"
	ssh-keygen -q -t ed25519 -N '' -C "bds-bench-$1" -f "$dir/key"
	"$top/guest/build-image" --out "$dir/img" --workspace "$dir/ws" --pubkey "$dir/key.pub" \
		--vcpus 1 --mem-mib "$mem" --disk-gib 3 > "$dir/image.log" 2>&1
	export BDS_VM_IMAGE="$dir/img" BDS_VM_KEY="$dir/key"
}

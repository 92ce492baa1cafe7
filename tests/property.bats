# The exactness property on many edits (tests/property/run): on workspaces from
# bench/gen-edits, every warm answer (bds-consume) equals the cold one (bds-cold). A small
# fixed set of seeds here; `make soak SEED=N COUNT=M` runs it at length.

load helpers

GEN="$BDS_TOP/bench/gen-edits"
RUN="$BDS_TOP/tests/property/run"

@test "gen-edits: usage errors exit 64 and write nothing" {
	run -64 --separate-stderr "$GEN"
	[ "$output" = "" ]
	[ "$stderr" = $'gen-edits: expected exactly one OUT directory\nusage: gen-edits OUT --seed N [--scripts M] [--max-edits E]' ]
	run -64 --separate-stderr "$GEN" "$BATS_TEST_TMPDIR/ws"
	[ "$stderr" = $'gen-edits: --seed is required\nusage: gen-edits OUT --seed N [--scripts M] [--max-edits E]' ]
	run -64 "$GEN" "$BATS_TEST_TMPDIR/ws" --seed x
	run -64 "$GEN" "$BATS_TEST_TMPDIR/ws" --seed 1 --scripts 0
	run -64 "$GEN" "$BATS_TEST_TMPDIR/ws" --seed 1 --max-edits 21
	run -64 "$GEN" "$BATS_TEST_TMPDIR/ws" --seed 1 --bogus
	[ ! -e "$BATS_TEST_TMPDIR/ws" ]
	mkdir -p "$BATS_TEST_TMPDIR/full" && touch "$BATS_TEST_TMPDIR/full/x"
	run -1 --separate-stderr "$GEN" "$BATS_TEST_TMPDIR/full" --seed 1
	[ "$stderr" = "gen-edits: cannot use '$BATS_TEST_TMPDIR/full': not an empty directory" ]
}

@test "gen-edits: a seed gives the same commits; script K does not depend on the count" {
	run -0 "$GEN" "$BATS_TEST_TMPDIR/a" --seed 5 --scripts 3
	a=$output
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[0]}" =~ ^base\ [0-9a-f]{40}$ ]]
	[[ "${lines[3]}" =~ ^edit\ 3\ [0-9a-f]{40}$ ]]
	run -0 "$GEN" "$BATS_TEST_TMPDIR/b" --seed 5 --scripts 2
	[ "$output" = "$(sed -n 1,3p <<<"$a")" ]
	run -0 "$GEN" "$BATS_TEST_TMPDIR/c" --seed 6 --scripts 1
	[ "${lines[0]}" != "$(sed -n 1p <<<"$a")" ]
	# every edit commit is on top of the base and lists 1-20 edits
	for k in 1 2 3; do
		[ "$(git -C "$BATS_TEST_TMPDIR/a" rev-parse "edit-$k^")" = "$(git -C "$BATS_TEST_TMPDIR/a" rev-parse base)" ]
		n=$(git -C "$BATS_TEST_TMPDIR/a" log -1 --format=%b "edit-$k" | grep -c .)
		[ "$n" -ge 1 ]
		[ "$n" -le 20 ]
	done
}

@test "gen-edits: the base has macros, a custom rule, sh_binary, visibility, an exec bit, a symlink, nested packages" {
	run -0 "$GEN" "$BATS_TEST_TMPDIR/ws" --seed 1 --scripts 1
	cd "$BATS_TEST_TMPDIR/ws"
	git grep -q 'layer_gen(' -- '*/BUILD'
	git grep -q 'bench_rule(' -- '*/BUILD'
	git grep -q 'sh_binary(' -- '*/BUILD'
	git grep -q 'load("//tools:defs.bzl", "layer_gen")' -- '*/BUILD'
	git grep -q 'visibility = \[' -- '*/BUILD'
	git ls-files -s | grep -q '^100755 '
	git ls-files -s | grep -q '^120000 '
	git ls-files | grep -q '^base/util/BUILD$'
	git grep -q '"//base:' -- '*/BUILD'
}

# BDS_PROPERTY_SCRIPTS: scripts a seed (default 75: 300 in all); BDS_PROPERTY_SEEDS: the
# seeds (default "1 2 3 4"); tests/mutants/run uses fewer of both. Two seeds at a time: the
# two cores stay busy to the end.
@test "property: 300 edit scripts, each hashed three ways (partial, full warm, cold); every 25th consumed three ways" {
	n=${BDS_PROPERTY_SCRIPTS:-75}
	seeds=${BDS_PROPERTY_SEEDS:-1 2 3 4}
	k=$(wc -w <<<"$seeds")
	consumed=$(( (n + 24) / 25 * k ))
	run -0 "$RUN" --seeds "$seeds" --count "$n" --jobs 2 --consume-every 25 --dir "$BATS_TEST_TMPDIR/p"
	printf '%s\n' "$output" | sed 's/^/# /' >&3
	[[ "${lines[-1]}" =~ ^property:\ $((k * n))\ scripts\ \(([0-9]+)\ partial\),\ $consumed\ consumed\ \($consumed\ warm,\ 0\ not\ warm\),\ 0\ mismatches,\ 0\ errors, ]]
	# most scripts must take the partial path, or the property compares little of it
	[ "${BASH_REMATCH[1]}" -ge $((k * n / 2)) ]
	# every consumed script says which path its default consume took
	[ "$(grep -c '^ok seed [0-9]* edit [0-9]* (.*): [0-9]* impacted, \(partial\|full path: .*\), [34] answers equal' <<<"$output")" -eq "$consumed" ]
	[ ! -e "$BATS_TEST_TMPDIR/p" ]
}

@test "property: a wrong warm answer is a mismatch with its seed, script and diff; a cold consume is 'not warm'" {
	# a build whose bds-consume goes cold on edit-1 and drops its last label elsewhere
	tree=$BATS_TEST_TMPDIR/tree
	# (copies: an install tree's scripts look for their library beside their own path)
	mkdir -p "$tree"
	cp -R "$BDS_BUILD/bin" "$tree/"
	[ ! -d "$BDS_BUILD/share" ] || cp -R "$BDS_BUILD/share" "$tree/"
	real=$(command -v bds-consume)
	rm -f "$tree/bin/bds-consume"
	cat > "$tree/bin/bds-consume" <<-EOF
		#!/bin/sh
		case " \$* " in *" edit-1 "*) echo "bds-consume: cold: broken for the test" >&2; exit 2 ;; esac
		out=\$("$real" "\$@") || exit \$?
		printf '%s\n' "\$out" | sed '\$d'
	EOF
	chmod +x "$tree/bin/bds-consume"
	run -1 env BDS_BUILD="$tree" "$RUN" --seeds 3 --count 2 --dir "$BATS_TEST_TMPDIR/p"
	printf '%s\n' "$output" | sed 's/^/# /' >&3
	[[ "${lines[0]}" == "seed 3: cold pass "* ]]
	[[ "${lines[1]}" == "ok seed 3 edit 1 ("*"): hashes equal, "* ]]
	[[ "${lines[2]}" == "not warm seed 3 edit 1 ("*"): consume: bds-consume: cold: broken for the test; consume --full: bds-consume: cold: broken for the test ("* ]]
	[[ "${lines[3]}" == "ok seed 3 edit 2 ("*"): hashes equal, "* ]]
	[[ "${lines[4]}" == "MISMATCH seed 3 edit 2 ("*"): answers differ: cold vs consume ("*"), cold vs consume --full ("* ]]
	[ "${lines[5]}" = "  reproduce: bench/gen-edits OUT --seed 3 --scripts 2 --max-edits 20; base -> edit-2" ]
	[ "${lines[6]}" = "  the edit script:" ]
	[[ "$output" == *$'\n  diff cold consume --full:\n    '[0-9]*d[0-9]*$'\n    < //'* ]]
	[[ "${lines[-2]}" == "property: 2 scripts ("*" partial), 2 consumed (0 warm, 1 not warm), 1 mismatches, 0 errors, "* ]]
	[ "${lines[-1]}" = "tests/property/run: kept '$BATS_TEST_TMPDIR/p' for reproduction" ]
	[ -d "$BATS_TEST_TMPDIR/p/seed-3/ws/.git" ]
}

@test "property: a wrong partial hash is a mismatch naming the targets" {
	# a build whose bds-generate-hashes, on the partial path into a file, changes the last hash
	tree=$BATS_TEST_TMPDIR/tree
	mkdir -p "$tree"
	cp -R "$BDS_BUILD/bin" "$tree/"
	[ ! -d "$BDS_BUILD/share" ] || cp -R "$BDS_BUILD/share" "$tree/"
	real=$(command -v bds-generate-hashes)
	rm -f "$tree/bin/bds-generate-hashes"
	cat > "$tree/bin/bds-generate-hashes" <<-EOF
		#!/bin/sh
		"$real" "\$@" || exit \$?
		case " \$* " in *" --incremental "*) ;; *) exit 0 ;; esac
		for out; do :; done
		# only where the hashes go to a file (the property's hashing clone); a consume's
		# bds-generate-hashes writes them to stdout and stays right
		[ -f "\$out" ] || exit 0
		jq -c 'to_entries | (.[-1].value |= (if startswith("0") then "1" else "0" end) + .[1:]) | from_entries' "\$out" > "\$out.t" && mv "\$out.t" "\$out"
	EOF
	chmod +x "$tree/bin/bds-generate-hashes"
	run -1 env BDS_BUILD="$tree" "$RUN" --seeds 3 --count 1 --dir "$BATS_TEST_TMPDIR/p"
	printf '%s\n' "$output" | sed 's/^/# /' >&3
	[[ "${lines[1]}" == "MISMATCH seed 3 edit 1 ("*"): hashes differ: partial (partial) != cold, full warm = cold ("* ]]
	[[ "$output" == *$'\n  targets whose hash differs, partial vs cold:\n    //'* ]]
	[[ "${lines[-2]}" == "property: 1 scripts (0 partial), 1 consumed ("*", 1 mismatches, 0 errors, "* ]]
}

# lib/proto-canon.c: each Attribute is hashed as the bytes bazel-diff's Java code writes
# for it (docs/algorithm.md 2.5.1), not as the stream holds it. Hand-made cases; random
# messages against Java's own protobuf runtime (Debian's protobuf-java, with the code protoc
# generates from tests/proto-canon/attribute.proto, bazel-diff v37's messages); and
# bds-hash on hand-made streams whose attributes carry fields Bazel 4.2.3 does not write.

load helpers
load bds-hash-helpers

CANON_TEST="$BDS_BUILD/tests/proto-canon-test"

@test "hand-made attributes: Java's bytes, and a refusal wherever Java's parser refuses" {
	run -0 "$CANON_TEST" cases
	[ "${lines[-1]}" = "0 failed" ]
	[ "$(grep -c '^ok ' <<<"$output")" -eq 28 ]
}

# Java as the oracle: Canon.java parses each message with the generated code and writes it
# again (toByteArray), as bazel-diff does before hashing.
@test "20000 random attributes: byte for byte what Java's protobuf runtime writes, or refused where Java refuses" {
	j=$BATS_TEST_TMPDIR/java
	mkdir -p "$j"
	protoc -I"$BDS_TOP/tests/proto-canon" --java_out="$j" "$BDS_TOP/tests/proto-canon/attribute.proto"
	javac -nowarn -cp /usr/share/java/protobuf.jar -d "$j/classes" "$BDS_TOP/tests/proto-canon/Canon.java" \
		"$j/bds/protocanon/Build.java"
	"$CANON_TEST" gen 1 20000 > "$j/in.hex"
	java -cp "$j/classes:/usr/share/java/protobuf.jar" Canon < "$j/in.hex" > "$j/java.out"
	"$CANON_TEST" canon < "$j/in.hex" > "$j/bds.out"
	[ "$(wc -l < "$j/java.out")" -eq 20000 ]
	[ "$(wc -l < "$j/bds.out")" -eq 20000 ]
	# every answer equal, except where bds refuses what Java reads two ways
	# (tab-separated: an empty message is an empty first column)
	paste "$j/in.hex" "$j/bds.out" "$j/java.out" |
		awk -F '\t' '$2 != "AMBIGUOUS" && $2 != $3 { print "message " NR ": " $1 "\n  bds  " $2 "\n  java " $3 }' > "$j/diffs"
	[ ! -s "$j/diffs" ] || { head -30 "$j/diffs"; false; }
	# the corpus covers each kind of answer: refused by both, ambiguous, rewritten by
	# Java, and kept as it came
	read -r refused ambiguous rewritten kept < <(paste "$j/in.hex" "$j/bds.out" | awk -F '\t' '
		$2 == "ERR" { r++; next } $2 == "AMBIGUOUS" { a++; next } $1 != $2 { w++; next } { k++ }
		END { print r + 0, a + 0, w + 0, k + 0 }')
	echo "# refused $refused, ambiguous $ambiguous, rewritten $rewritten, kept $kept" >&3
	[ "$refused" -ge 1000 ]
	[ "$ambiguous" -ge 10 ]
	[ "$ambiguous" -le 200 ]
	[ "$rewritten" -ge 5000 ]
	[ "$kept" -ge 100 ]
}

# hand_stream HEX...: rule //:r (genrule) with these attributes given as bytes, in this
# order, and a source file it reads
hand_stream() {
	attrs=$(printf '{"hex": "%s"},' "$@")
	printf '[{"rule": "//:r", "inputs": ["//:s.txt"], "attrs": [%s]}, {"source": "//:s.txt"}]' "${attrs%,}" |
		make_proto
}

@test "bds-hash: an attribute with unknown and out-of-order fields hashes as its Java bytes" {
	cd "$BATS_TEST_TMPDIR"
	printf 's\n' > s.txt
	# name "cmd", type STRING, string_value "true", then field 30 (unknown): Java's order
	hand_stream 0a03636d6410022a0474727565f2010179 > java-order.bin
	# the same fields as a newer Bazel might write them: the unknown one first, the rest
	# out of order, the type twice
	hand_stream f20101792a04747275650a03636d6410051002 > scrambled.bin
	# a different value, and the same without the unknown field: both must differ
	hand_stream 0a03636d6410022a0466616c7365f2010179 > other.bin
	hand_stream 0a03636d6410022a0474727565 > known-only.bin
	for f in java-order scrambled other known-only; do
		run -0 bds-hash -w "$BATS_TEST_TMPDIR" -o "$f.json" < "$f.bin"
	done
	cmp java-order.json scrambled.json
	run -1 cmp -s java-order.json other.json
	run -1 cmp -s java-order.json known-only.json
	# only the rule changes between them, the source file not
	[ "$(jq -r '."//:s.txt"' java-order.json)" = "$(jq -r '."//:s.txt"' other.json)" ]
	[ "$(jq -r '."//:r"' java-order.json)" != "$(jq -r '."//:r"' other.json)" ]
}

@test "bds-hash: fields a newer Bazel adds to Target, Rule, SourceFile and GeneratedFile change no hash" {
	cd "$BATS_TEST_TMPDIR"
	printf 's\n' > s.txt
	local graph='[{"rule": "//:a", "inputs": ["//:s.txt", "//:g.out"], "stack": ["BUILD:1:1"]XA},
	              {"source": "//:s.txt", "subincludes": ["//:d.bzl"]XS}, {"generated": "//:g.out", "by": "//:g"XG},
	              {"rule": "//:g"XG}]'
	# unknown field numbers of each wire type: 20 varint, 21 fixed64, 22 length-delimited,
	# 23 fixed32; and known numbers with another wire type (Rule 2, SourceFile 1 as
	# varints), which Java's parser keeps as unknown fields too
	local x=a00101a9010102030405060708b2010378797abd0101020304
	sed 's/X[ASG]//g' <<<"$graph" | make_proto > plain.bin
	sed "s/XA/, \"extra\": \"${x}1005\", \"target_extra\": \"$x\"/; s/XS/, \"extra\": \"${x}0801\", \"target_extra\": \"$x\"/;
	     s/XG/, \"extra\": \"$x\"/g" <<<"$graph" | make_proto > newer.bin
	run -1 cmp -s plain.bin newer.bin
	run -0 bds-hash -w "$BATS_TEST_TMPDIR" --include-target-type --dep-edges plain-deps.json -o plain.json < plain.bin
	run -0 bds-hash -w "$BATS_TEST_TMPDIR" --include-target-type --dep-edges newer-deps.json -o newer.json < newer.bin
	cmp plain.json newer.json
	cmp plain-deps.json newer-deps.json
	[ "$(jq length plain.json)" -eq 4 ]
}

@test "bds-hash: an attribute Java's parser refuses is exit 1 naming the target, no output" {
	cd "$BATS_TEST_TMPDIR"
	printf 's\n' > s.txt
	# type 99: no Discriminator, so the required type is missing
	hand_stream 0a03636d6410632a0474727565 > bad.bin
	run -1 --separate-stderr bds-hash -w "$BATS_TEST_TMPDIR" -o out.json < bad.bin
	[ "$output" = "" ]
	[ "$stderr" = "bds-hash: target '//:r': an attribute at byte 22: protobuf Attribute: the required field 'type' (2) is missing (bazel-diff's Java parser refuses the message)" ]
	[ ! -e out.json ]
}

@test "bds-hash: attributes sorted by name as Kotlin's stable sortedBy: two of one name keep their order" {
	cd "$BATS_TEST_TMPDIR"
	printf 's\n' > s.txt
	# b = "1"; a = "x"; a = "y" (each: name, type STRING, string_value)
	b=0a016210022a0131 ax=0a016110022a0178 ay=0a016110022a0179
	hand_stream "$b" "$ax" "$ay" > b-ax-ay.bin
	hand_stream "$ax" "$ay" "$b" > ax-ay-b.bin
	hand_stream "$b" "$ay" "$ax" > b-ay-ax.bin
	for f in b-ax-ay ax-ay-b b-ay-ax; do
		run -0 bds-hash -w "$BATS_TEST_TMPDIR" -o "$f.json" < "$f.bin"
	done
	# sorting moves b after the two a's and keeps them as they came
	cmp b-ax-ay.json ax-ay-b.json
	run -1 cmp -s b-ax-ay.json b-ay-ax.json
}

# bds-output: standard input to OUT as every bds -o writes it (bds_util_atomic_open): a
# regular file replaced atomically at its real path, a device, FIFO or pipe written in
# place, a FIFO with no reader refused at once, never a half-written file.

load helpers

setup() {
	T=$BATS_TEST_TMPDIR
	printf 'line one\nline two\n' > "$T/data"
}

@test "usage: no OUT, two OUTs, an empty OUT or an unknown option is 64; --help is 0" {
	run -64 --separate-stderr bds-output < "$T/data"
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bds-output: missing OUT" ]
	[ "${stderr_lines[1]}" = "usage: bds-output OUT < DATA" ]
	run -64 --separate-stderr bds-output "$T/a" "$T/b" < "$T/data"
	[ "${stderr_lines[0]}" = "bds-output: unexpected argument" ]
	run -64 --separate-stderr bds-output "" < "$T/data"
	[ "${stderr_lines[0]}" = "bds-output: OUT is an empty name" ]
	run -64 --separate-stderr bds-output --bogus "$T/a" < "$T/data"
	[ "${stderr_lines[0]}" = "bds-output: unknown option '--bogus'" ]
	run -0 --separate-stderr bds-output --help
	[ "${lines[0]}" = "usage: bds-output OUT < DATA" ]
	[ "$stderr" = "" ]
	[ ! -e "$T/a" ]
}

@test "a regular file is replaced atomically; a new one created; a symlink followed" {
	printf 'old\n' > "$T/out"
	ln "$T/out" "$T/old-inode"
	run -0 --separate-stderr bds-output "$T/out" < "$T/data"
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	cmp "$T/data" "$T/out"
	[ "$(cat "$T/old-inode")" = old ]
	run -0 bds-output "$T/new" < "$T/data"
	cmp "$T/data" "$T/new"
	ln -s made "$T/dangling"
	run -0 bds-output "$T/dangling" < "$T/data"
	[ -L "$T/dangling" ]
	cmp "$T/data" "$T/made"
	# an empty input is an empty file
	run -0 bds-output "$T/empty" < /dev/null
	[ -f "$T/empty" ]
	[ ! -s "$T/empty" ]
	[ -z "$(find "$T" -name '*.tmp.*')" ]
}

@test "/dev/stdout reaches the pipe or the file behind it; /dev/null stays a device" {
	run -0 --separate-stderr bash -c 'bds-output /dev/stdout < "$1" | cat' _ "$T/data"
	[ "$output" = "$(cat "$T/data")" ]
	[ "$stderr" = "" ]
	run -0 bash -c 'bds-output /dev/stdout < "$1" > "$2"' _ "$T/data" "$T/file"
	cmp "$T/data" "$T/file"
	run -0 bds-output /dev/null < "$T/data"
	[ -c /dev/null ]
}

@test "a FIFO with a reader gets the data; one with none is 1 at once, never a hang" {
	mkfifo "$T/fifo"
	run -1 --separate-stderr timeout 10 bds-output "$T/fifo" < "$T/data"
	[ "$output" = "" ]
	[ "$stderr" = "bds-output: open '$T/fifo': a FIFO with no reader" ]
	cat "$T/fifo" > "$T/from-fifo" &
	run -0 timeout 10 bds-output "$T/fifo" < "$T/data"
	wait
	cmp "$T/data" "$T/from-fifo"
	[ -p "$T/fifo" ]
}

@test "failures are 1 naming OUT, and leave it as it was: a directory, a missing directory, a read error" {
	mkdir "$T/dir"
	run -1 --separate-stderr bds-output "$T/dir" < "$T/data"
	[ "$stderr" = "bds-output: open '$T/dir': Is a directory" ]
	run -1 --separate-stderr bds-output "$T/no/such/out" < "$T/data"
	[ "$stderr" = "bds-output: create '$T/no/such/out': No such file or directory" ]
	# standard input that cannot be read: OUT keeps its old contents
	printf 'old\n' > "$T/out"
	run -1 --separate-stderr bds-output "$T/out" < "$T/dir"
	[ "$stderr" = "bds-output: read 'stdin': Is a directory" ]
	[ "$(cat "$T/out")" = old ]
	run -1 --separate-stderr bds-output /dev/full < "$T/data"
	[ "$stderr" = "bds-output: write '/dev/full': No space left on device" ]
	[ -z "$(find "$T" -name '*.tmp.*')" ]
}

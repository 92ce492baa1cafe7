# bds: build, test and install. Plain GNU make; dependencies through pkg-config.
# Every cmd/bds-*.c is one binary linked against every lib/*.c, so a new binary or
# library module needs no edit here.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKGS    := libcurl libssh2 libcrypto libxxhash
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wvla
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) \
             $(shell pkg-config --cflags $(PKGS)) -Ilib
ALL_LDLIBS = -ljq $(shell pkg-config --libs $(PKGS)) -lpthread $(LDLIBS)

BUILD   ?= build
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
CMD_SRC := $(wildcard cmd/bds-*.c)
BINS    := $(CMD_SRC:cmd/%.c=$(BUILD)/bin/%)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNITS   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
SCRIPTS := $(wildcard scripts/bds-*)
MANS    := $(wildcard man/*.[1-9])
HEADERS := $(wildcard lib/*.h)

.PHONY: all check check-unit check-vm asan lint demo deps install bench fuzz clean

all: $(BINS) $(UNITS) $(BENCHES)

$(BUILD)/lib/%.o: lib/%.c $(HEADERS) | $(BUILD)/lib
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/lib/libbds.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: cmd/%.c $(BUILD)/lib/libbds.a $(HEADERS) | $(BUILD)/bin
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/lib/libbds.a $(ALL_LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/lib/libbds.a $(HEADERS) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/lib/libbds.a $(ALL_LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/lib/libbds.a $(HEADERS) | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/lib/libbds.a $(ALL_LDLIBS)

$(BUILD)/lib $(BUILD)/bin $(BUILD)/tests $(BUILD)/bench:
	mkdir -p $@

# deps installs what a fresh Debian 12 machine lacks; both README commands run it.
deps:
	scripts/install-deps

# BATS_JOBS>1 needs GNU parallel; the default keeps one Bazel at a time on small machines.
check: deps
	$(MAKE) all
	BDS_BUILD=$(CURDIR)/$(BUILD) bats --formatter tap --print-output-on-failure tests/
	@echo "# bds-check: done"

# The guest image tests (QEMU, software emulation): slow, so not part of `make check`.
check-vm: all
	scripts/install-deps --vm
	BDS_BUILD=$(CURDIR)/$(BUILD) bats --formatter tap --print-output-on-failure tests/vm/
	@echo "# bds-check-vm: done"

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" check

lint:
	shellcheck -s sh $(SCRIPTS) scripts/install-deps scripts/demo $(wildcard bench/*.sh) bench/run-all \
		$(wildcard guest/bds-* guest/build-image guest/fetch-kernel tests/tiny-guest/build) tests/bin/bazel tests/fuzz/run
	mandoc -Tlint -W warning $(MANS)

demo: deps all
	scripts/demo

bench: all
	bench/run-all

fuzz:
	tests/fuzz/run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	           $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(BINS) $(SCRIPTS) $(DESTDIR)$(PREFIX)/bin/
	for m in $(MANS); do install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/; done

clean:
	rm -rf build build-asan

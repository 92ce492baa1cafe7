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
             $(shell pkg-config --cflags $(PKGS)) -Ilib -I$(BUILD)/gen
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
SCRIPTS := scripts/bds $(wildcard scripts/bds-*)
SH_LIB  := scripts/lib/bds.sh
MANS    := $(wildcard man/*.[1-9])
HEADERS := $(wildcard lib/*.h) $(BUILD)/gen/bds-version.h

.PHONY: all check check-unit check-vm check-deb check-month check-mutants soak asan lint demo deps install uninstall dist bench fuzz clean FORCE

all: $(BINS) $(UNITS) $(BENCHES)

$(BUILD)/lib/%.o: lib/%.c $(HEADERS) | $(BUILD)/lib
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/lib/libbds.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: cmd/%.c $(BUILD)/lib/libbds.a $(HEADERS) | $(BUILD)/bin
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/lib/libbds.a $(ALL_LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/lib/libbds.a $(HEADERS) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/lib/libbds.a $(ALL_LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/lib/libbds.a $(HEADERS) | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/lib/libbds.a $(ALL_LDLIBS)

$(BUILD)/lib $(BUILD)/bin $(BUILD)/tests $(BUILD)/bench $(BUILD)/gen:
	mkdir -p $@

# The version header is rewritten only when the version changes, so an unchanged tree is
# not rebuilt. BDS_VERSION=... builds another tree as this one's version (the mutants).
BDS_VERSION ?= $(shell scripts/version)
$(BUILD)/gen/bds-version.h: FORCE | $(BUILD)/gen
	@v='$(BDS_VERSION)' && [ -n "$$v" ] && printf '#define BDS_VERSION "%s"\n' "$$v" > $@.tmp && \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# deps installs what a fresh Debian 12 machine lacks; both README commands run it.
deps:
	scripts/install-deps

# BATS_JOBS>1 needs GNU parallel; the default keeps one Bazel at a time on small machines.
# TESTS picks test files (e.g. `make check TESTS=tests/bds-diff.bats`); the default is all.
TESTS ?= tests/
check: deps
	$(MAKE) all
	BDS_BUILD=$(CURDIR)/$(BUILD) bats --formatter tap --print-output-on-failure $(TESTS)
	@echo "# bds-check: done"

# Deliberately broken stages (tests/mutants/*.patch) that the tests must catch, each run
# in an install tree of its own; prints which tests caught each mutant.
check-mutants: deps
	$(MAKE) all
	CC="$(CC)" CFLAGS="$(CFLAGS)" EXTRA_CFLAGS="$(EXTRA_CFLAGS)" BDS_BUILD=$(CURDIR)/$(BUILD) tests/mutants/run
	@echo "# bds-check-mutants: done"

# A month of daily records, prunes and consumes (tests/pipeline-month.bats, 30 days; `make
# check` runs 4 of them).
check-month: deps
	$(MAKE) all
	BDS_MONTH_DAYS=30 BDS_BUILD=$(CURDIR)/$(BUILD) bats --formatter tap --print-output-on-failure tests/pipeline-month.bats
	@echo "# bds-check-month: done"

# The exactness property at length (tests/property/run): for each seed of SEED (a list),
# a workspace from bench/gen-edits and COUNT random edit scripts, each answered warm
# (bds-consume) and cold (bds-cold), byte-identical. `make check` runs a few
# (tests/property.bats); this is long: about 7 s a script on 2 cores.
SEED  ?= 1
COUNT ?= 60
soak: all
	BDS_BUILD=$(CURDIR)/$(BUILD) tests/property/run --seeds "$(SEED)" --count "$(COUNT)"
	@echo "# bds-soak: done"

# The Debian package: built with dpkg-buildpackage from the committed tree, lintian-clean
# at error level, installed with apt and used with the source tree out of PATH, then
# removed. It installs into the system, so it is not part of `make check`.
check-deb: deps
	apt-get install -y -qq --no-install-recommends debhelper lintian >/dev/null
	BDS_BUILD=$(CURDIR)/$(BUILD) bats --formatter tap --print-output-on-failure tests/deb/
	@echo "# bds-check-deb: done"

# The guest image tests (QEMU, software emulation): slow, so not part of `make check`.
check-vm: all
	scripts/install-deps --vm
	BDS_BUILD=$(CURDIR)/$(BUILD) bats --formatter tap --print-output-on-failure tests/vm/
	@echo "# bds-check-vm: done"

# A sanitizer report exits 86, which no test expects (a `run -1` must not accept it), and
# is also written to build-asan/sanitizer-logs (ASan's and LeakSanitizer's by log_path,
# UBSan's by the hook in tests/sanitizer/ubsan-report.c): a report whose status a script
# or a pipeline swallowed still fails the run.
SAN_LOGS := $(CURDIR)/build-asan/sanitizer-logs
asan:
	rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS) && chmod 1777 $(SAN_LOGS)
	$(CC) -O1 -g -c -o build-asan/ubsan-report.o tests/sanitizer/ubsan-report.c
	rm -f build-asan/bin/* build-asan/tests/* build-asan/bench/*
	rc=0; BDS_SANITIZER_LOGS=$(SAN_LOGS) ASAN_OPTIONS=exitcode=86:log_path=$(SAN_LOGS)/asan \
	UBSAN_OPTIONS=halt_on_error=1:exitcode=86:print_stacktrace=1 \
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		LDLIBS=$(CURDIR)/build-asan/ubsan-report.o check || rc=$$?; \
	if [ -n "$$(ls -A $(SAN_LOGS))" ]; then \
		for f in $(SAN_LOGS)/*; do echo "== $$f"; cat "$$f"; done; \
		echo "make asan: sanitizer reports in $(SAN_LOGS)" >&2; exit 1; \
	fi; \
	exit $$rc

lint:
	shellcheck -s sh -x $(SCRIPTS) $(SH_LIB) scripts/install-deps scripts/demo $(wildcard bench/*.sh) bench/run-all \
		$(wildcard guest/bds-* guest/build-image guest/fetch-kernel tests/tiny-guest/build) tests/bin/bazel tests/bin/modern-bazel tests/fuzz/run tests/mutants/run tests/property/run
	mandoc -Tlint -W warning $(MANS)

demo: deps all
	scripts/demo

bench: all
	bench/run-all

fuzz:
	tests/fuzz/run

# What is installed: the programs and scripts (bds-host-setup, which sets up root's
# network slots, in sbin), the scripts' shell library (in share/bds/lib, where they look
# for it beside their bin directory), the guest tools the VM drivers' images are built
# with (in share/bds/guest), the man pages. bds-kvm-e2e needs the source tree and is not
# installed.
BIN_SCRIPTS  := $(filter-out scripts/bds-host-setup scripts/bds-kvm-e2e,$(SCRIPTS))
SBIN_SCRIPTS := scripts/bds-host-setup
GUEST_TOOLS  := guest/bds-guest-sync guest/build-image guest/fetch-kernel
INST_MANS    := $(filter-out man/bds-kvm-e2e.1,$(MANS))
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/bds/guest $(DESTDIR)$(PREFIX)/share/bds/lib \
	           $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	           $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(BINS) $(BIN_SCRIPTS) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(SBIN_SCRIPTS) $(DESTDIR)$(PREFIX)/sbin/
	install -m 644 $(SH_LIB) $(DESTDIR)$(PREFIX)/share/bds/lib/
	install -m 755 $(GUEST_TOOLS) $(DESTDIR)$(PREFIX)/share/bds/guest/
	for m in $(INST_MANS); do install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/; done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(BINS) $(BIN_SCRIPTS)))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/sbin/,$(notdir $(SBIN_SCRIPTS)))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/bds/guest/,$(notdir $(GUEST_TOOLS)))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/bds/lib/,$(notdir $(SH_LIB)))
	-rmdir $(DESTDIR)$(PREFIX)/share/bds/guest $(DESTDIR)$(PREFIX)/share/bds/lib $(DESTDIR)$(PREFIX)/share/bds 2>/dev/null
	for m in $(INST_MANS); do rm -f $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/$${m##*/}; done

# A source tarball of the committed tree, its VERSION file holding this build's exact
# version: bds-<version>.tar.gz builds and passes `make check` out of its own directory.
dist:
	@v=$$(scripts/version) && case $$v in *.dirty) echo "make dist: the tree has uncommitted changes; a tarball holds commits only" >&2; exit 1 ;; esac && d=bds-$$v && rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist/$$d && \
	git archive --format=tar HEAD | tar -x -C $(BUILD)/dist/$$d && \
	printf '%s\n' "$$v" > $(BUILD)/dist/$$d/VERSION && \
	tar -C $(BUILD)/dist --owner=0 --group=0 --sort=name -czf $$d.tar.gz $$d && \
	rm -rf $(BUILD)/dist && echo "$$d.tar.gz"

clean:
	rm -rf build build-asan

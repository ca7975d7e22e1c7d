# Makefile for the suspicious-activity detector.
#
#   make              build build/detector
#   make deps         install missing Debian packages (as root) or print the apt-get line
#   make test         unit tests, rule-pack golden tests, integration tests with real servers
#   make demo         a realistic stream through the daemon, with its own Redis and Kafka
#   make bench        throughput, CPU, memory, latency on 1,000,000 events (~3 min; build/bench.json)
#   make SANITIZER=address|undefined test-unit
#
# CI sets WERROR=1 (warnings are errors).

CC       ?= cc
BUILD    ?= build
PKGS      = rdkafka hiredis jansson libpcre2-8 libcrypto libmicrohttpd libsystemd
DEB_PKGS  = build-essential pkg-config librdkafka-dev libhiredis-dev libjansson-dev \
            libpcre2-dev libcmocka-dev libssl-dev redis-server redis-tools time \
            clang libclang-rt-14-dev libmicrohttpd-dev libsystemd-dev curl groff-base \
            libjemalloc-dev

WARN      = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual -Wwrite-strings
ifeq ($(WERROR),1)
WARN     += -Werror
endif
OPT      ?= -O2 -g
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) $(WARN) -Iinclude \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

# jemalloc instead of glibc's malloc in the programs (not under a
# sanitizer, which brings its own): the daemon allocates and frees per event
# (Jansson's documents, the batch cache) on two threads, and glibc's malloc
# and free were a quarter of its CPU (make bench; README, Performance).
MALLOC_LIBS = $(if $(SANITIZER),,$(shell pkg-config --libs jemalloc 2>/dev/null))

ifneq ($(SANITIZER),)
CFLAGS   += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZER)
BUILD    := build-$(SANITIZER)
endif

LIB_SRC   = $(filter-out detector/main.c,$(wildcard detector/*.c)) $(wildcard rules/*.c)
LIB_OBJ   = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB       = $(BUILD)/libdetector.a
SUPPORT_SRC = $(wildcard tests/support/*.c)
SUPPORT_OBJ = $(SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC  = $(wildcard tests/unit/test_*.c)
TEST_BIN  = $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC  = $(wildcard tests/tools/*.c)
TOOL_BIN  = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.SECONDARY:

.PHONY: all deps test test-unit test-rules test-integration demo bench clean format fuzz fuzz-clean

all: $(BUILD)/detector $(TOOL_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/detector: $(BUILD)/obj/detector/main.o $(LIB)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_LIBS) -lcmocka

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_LIBS)

deps:
	@sh tests/deps.sh $(DEB_PKGS)

test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@sh tests/run-all.sh $(BUILD)

test-unit: $(TEST_BIN)
	@sh tests/run-unit.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory all
	@bash demo/run.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@bash tests/bench/run.sh $(BUILD)

# make test-faults [FAULTS="kill9 redis ..."]: the fault-injection suite at full
# size (tests/faults/; about 15 minutes; figures in build/faults.txt). make test
# runs each at a smaller size (tests/integration/test_{kill9,redis_faults,...}.sh).
.PHONY: test-faults
test-faults: deps
	@$(MAKE) --no-print-directory all
	@bash tests/faults/run.sh $(BUILD) $(FAULTS)

clean:
	rm -rf build build-address build-undefined

format:
	clang-format -i include/*.h detector/*.c detector/*.h rules/*.c rules/*.h tests/unit/*.c tests/tools/*.c tests/support/*.c tests/support/*.h

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- Fuzzing: libFuzzer with AddressSanitizer and UndefinedBehaviorSanitizer
#
#   make fuzz [FUZZ_SECONDS=60]   builds build-fuzz/fuzz_{event,rules,eval} with
#                                 clang and runs each for FUZZ_SECONDS (tests/fuzz/run.sh)
#   make fuzz-clean               removes build-fuzz/ (corpora included)
#
# The library is compiled again with clang into build-fuzz/ (never build/).
FUZZ_CC      ?= clang
FUZZ_BUILD    = build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g $(WARN) -Iinclude \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
# Not run.c, the Kafka loop: nothing in it parses input, and clang warns about
# librdkafka's RD_KAFKA_V_* macros casting away const.
FUZZ_LIB_OBJ  = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out detector/run.c,$(LIB_SRC)))
FUZZ_LIB      = $(FUZZ_BUILD)/libdetector.a
FUZZ_BIN      = $(FUZZ_BUILD)/fuzz_event $(FUZZ_BUILD)/fuzz_rules $(FUZZ_BUILD)/fuzz_eval

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (fuzz)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(FUZZ_BIN): $(FUZZ_BUILD)/%: $(FUZZ_BUILD)/obj/tests/fuzz/%.o $(FUZZ_LIB)
	@echo "  LD      $@"
	@$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)

# ---- Installation
#
#   make install   [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=] [UNITDIR=] ...
#   make uninstall (with the same variables)
#   make man       build/detector.8 for these paths (man -l build/detector.8)
#
# PREFIX is /usr/local unless given. SYSCONFDIR is PREFIX/etc, except /etc
# when PREFIX is /usr (as CMake's GNUInstallDirs does: there is no /usr/etc).
# UNITDIR is PREFIX/lib/systemd/system (systemd reads /usr/lib/systemd/system
# and /usr/local/lib/systemd/system). DESTDIR goes in front of every path
# written to (a staged install, a package), and into none of the files.
#
#   BINDIR/detector                    the program (bin, not sbin: analysts
#                                      run check, replay and test too)
#   SYSCONFDIR/detector/detector.conf  config/detector.conf (rules.dir = rules
#   SYSCONFDIR/detector/rules/*.rules  is relative to it) and the rule pack
#   UNITDIR/detector.service           config/detector.service, its paths
#                                      rewritten to BINDIR and SYSCONFDIR
#   MANDIR/man8/detector.8             doc/detector.8.in with these paths and
#                                      the directives of `detector config-reference`
#   PKGDATADIR/                        the configuration and rules as shipped
#
# A file of SYSCONFDIR/detector that is neither the new one nor the one
# shipped last time (PKGDATADIR) was edited: it is kept, and the new one is
# installed beside it as FILE.new. Uninstall removes them only if unedited.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
PKGDATADIR ?= $(DATADIR)/detector
CONFDIR     = $(SYSCONFDIR)/detector
INSTALL    ?= install
SHIPPED     = $(patsubst config/%,%,$(wildcard config/detector.conf config/rules/*.rules))

.PHONY: install uninstall man

man: $(BUILD)/detector
	@echo "  MAN     $(BUILD)/detector.8"
	@sh doc/man.sh $(BUILD)/detector doc/detector.8.in '$(BINDIR)' '$(SYSCONFDIR)' '$(UNITDIR)' \
	    '$(PKGDATADIR)' >$(BUILD)/detector.8.tmp
	@mv $(BUILD)/detector.8.tmp $(BUILD)/detector.8

install: man
	@sed -e 's|/usr/bin/detector|$(BINDIR)/detector|g' -e 's|/etc/detector|$(CONFDIR)|g' \
	    config/detector.service >$(BUILD)/detector.service
	@set -e; d='$(DESTDIR)'; \
	$(INSTALL) -d -m 0755 "$$d$(BINDIR)" "$$d$(UNITDIR)" "$$d$(MANDIR)/man8" \
	    "$$d$(CONFDIR)/rules" "$$d$(PKGDATADIR)/rules"; \
	echo "  INSTALL $$d$(BINDIR)/detector"; \
	$(INSTALL) -m 0755 $(BUILD)/detector "$$d$(BINDIR)/detector"; \
	echo "  INSTALL $$d$(UNITDIR)/detector.service"; \
	$(INSTALL) -m 0644 $(BUILD)/detector.service "$$d$(UNITDIR)/detector.service"; \
	echo "  INSTALL $$d$(MANDIR)/man8/detector.8"; \
	$(INSTALL) -m 0644 $(BUILD)/detector.8 "$$d$(MANDIR)/man8/detector.8"; \
	for f in $(SHIPPED); do \
	    live="$$d$(CONFDIR)/$$f"; old="$$d$(PKGDATADIR)/$$f"; \
	    if [ -e "$$live" ] && ! cmp -s "$$live" "config/$$f" && ! cmp -s "$$live" "$$old"; then \
	        echo "  KEEP    $$live (edited; the new one is $$live.new)"; \
	        $(INSTALL) -m 0644 "config/$$f" "$$live.new"; \
	    else \
	        echo "  INSTALL $$live"; \
	        $(INSTALL) -m 0644 "config/$$f" "$$live"; rm -f "$$live.new"; \
	    fi; \
	done; \
	for old in "$$d$(PKGDATADIR)"/rules/*.rules; do \
	    f="rules/$${old##*/}"; live="$$d$(CONFDIR)/$$f"; \
	    [ -e "$$old" ] && [ ! -e "config/$$f" ] || continue; \
	    if cmp -s "$$live" "$$old"; then echo "  REMOVE  $$live (no longer shipped)"; rm -f "$$live"; \
	    elif [ -e "$$live" ]; then echo "  KEEP    $$live (edited; no longer shipped)"; fi; \
	    rm -f "$$old"; \
	done; \
	for f in $(SHIPPED); do $(INSTALL) -m 0644 "config/$$f" "$$d$(PKGDATADIR)/$$f"; done; \
	if [ -z "$$d" ]; then echo "then: systemctl daemon-reload; systemctl enable --now detector"; fi

uninstall:
	@set -e; d='$(DESTDIR)'; \
	for p in "$$d$(BINDIR)/detector" "$$d$(UNITDIR)/detector.service" "$$d$(MANDIR)/man8/detector.8"; do \
	    if [ -e "$$p" ]; then echo "  REMOVE  $$p"; rm -f "$$p"; fi; \
	done; \
	for old in "$$d$(PKGDATADIR)/detector.conf" "$$d$(PKGDATADIR)"/rules/*.rules; do \
	    [ -e "$$old" ] || continue; \
	    live="$$d$(CONFDIR)/$${old#"$$d$(PKGDATADIR)/"}"; \
	    if [ -e "$$live" ] && ! cmp -s "$$live" "$$old"; then echo "  KEEP    $$live (edited)"; \
	    elif [ -e "$$live" ]; then echo "  REMOVE  $$live"; rm -f "$$live"; fi; \
	    if cmp -s "$$live.new" "$$old"; then rm -f "$$live.new"; fi; \
	    rm -f "$$old"; \
	done; \
	for dir in "$$d$(PKGDATADIR)/rules" "$$d$(PKGDATADIR)" "$$d$(CONFDIR)/rules" "$$d$(CONFDIR)"; do \
	    rmdir "$$dir" 2>/dev/null || true; \
	done

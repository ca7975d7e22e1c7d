# Makefile for the suspicious-activity detector.
#
#   make              build build/detector
#   make deps         install missing Debian packages (as root) or print the apt-get line
#   make test         unit tests, rule-pack golden tests, integration tests with real servers
#   make demo         a realistic stream through the daemon, with its own Redis and Kafka
#   make bench        throughput, CPU, memory, latency on 1,000,000 events (~4 min; build/bench.json)
#   make SANITIZER=address|undefined test-unit
#
# CI sets WERROR=1 (warnings are errors).

CC       ?= cc
BUILD    ?= build
PKGS      = rdkafka hiredis jansson libpcre2-8 libcrypto
DEB_PKGS  = build-essential pkg-config librdkafka-dev libhiredis-dev libjansson-dev \
            libpcre2-dev libcmocka-dev libssl-dev redis-server redis-tools time

WARN      = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual -Wwrite-strings
ifeq ($(WERROR),1)
WARN     += -Werror
endif
OPT      ?= -O2 -g
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) $(WARN) -Iinclude \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

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

.PHONY: all deps test test-unit test-rules test-integration demo bench clean format

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
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

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

clean:
	rm -rf build build-address build-undefined

format:
	clang-format -i include/*.h detector/*.c detector/*.h rules/*.c rules/*.h tests/unit/*.c tests/tools/*.c tests/support/*.c tests/support/*.h

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

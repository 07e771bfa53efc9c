# pgsluice build. `make` builds the proxy and tools; `make check` installs
# what the tests need, builds with ASan+UBSan and runs every test.
# BUILD selects the object directory so several builds can share a tree.

CC      ?= cc
BUILD   ?= build
SAN     ?= 0
PKGS    := libuv libssl libcrypto inih libpq libmicrohttpd
VERSION := 0.1.0
# Debian's interpreter: psycopg2 and pytest come from Debian packages.
PYTHON  ?= /usr/bin/python3

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
               -g -O2 -I. -DPGSLUICE_VERSION=\"$(VERSION)\" \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS_BASE := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpg_query -lm

ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
endif

CFLAGS  += $(CFLAGS_BASE) $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(LDLIBS_BASE)

PROTO_SRC := $(wildcard protocol/*.c)
PROXY_SRC := $(filter-out proxy/main.c,$(wildcard proxy/*.c))
LIB_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(PROTO_SRC) $(PROXY_SRC))
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_SRC := $(wildcard bench/pgsluice-bench/*.c)
BENCH_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(BENCH_SRC))

.PHONY: all deps run check check-build unit integration fuzz bench demo \
        clean format
all: $(BUILD)/pgsluice $(BUILD)/pgsluice-bench $(BUILD)/classify-bench \
     $(BUILD)/tests/libpq_client

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/pgsluice: $(BUILD)/proxy/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/pgsluice-bench: $(BENCH_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/classify-bench: $(BUILD)/bench/classify_bench.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/libpq_client: $(BUILD)/tests/integration/libpq_client.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The benchmark's data check is pure code; its unit test links it alone.
$(BUILD)/tests/test_benchcheck: $(BUILD)/bench/pgsluice-bench/check.o

# Installs the Debian packages the build, tests and benchmark use.
deps:
	@sh scripts/install-deps.sh

# Starts a throwaway PostgreSQL 15 and pgsluice in front of it.
run: deps
	$(MAKE) all
	sh scripts/run-local.sh $(BUILD)/pgsluice

check: deps
	$(MAKE) check-build
	$(MAKE) unit BUILD=build/san SAN=1
	$(MAKE) fuzz-smoke
	sh bench/smoke.sh build/san
	$(MAKE) integration BUILD=build/san SAN=1

check-build:
	$(MAKE) all BUILD=build/san SAN=1
	$(MAKE) $(UNIT_BIN:$(BUILD)/%=build/san/%) BUILD=build/san SAN=1

unit: $(UNIT_BIN)
	@sh tests/run-unit.sh $(UNIT_BIN)

integration: all
	PGSLUICE_BUILD=$(BUILD) $(PYTHON) -m pytest -x -q tests/integration

fuzz:
	sh tests/fuzz/run.sh 60

fuzz-smoke:
	sh tests/fuzz/run.sh 10

bench: deps all
	sh bench/run-bench.sh $(BUILD)

demo: deps all
	sh bench/run-demo.sh $(BUILD)

format:
	clang-format -i proxy/*.[ch] protocol/*.[ch] tests/unit/*.c \
	    bench/*.c bench/pgsluice-bench/*.[ch]

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

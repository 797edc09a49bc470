# kernelfarm build.
#
#   make            build bin/kf-server, bin/kf-worker, bin/kf
#   make test       install missing packages, build, run every CPU test
#   make test-gpu   GPU suite (needs an NVIDIA GPU; fails loudly without one)
#   make run        the embedded default service (redis + server + workers)
#   make asan       build and test with ASan/UBSan into build-asan/
#   make dataset    synthesize the contest dataset into var/dataset
#   make bench      build the benchmarks in bench/
#   make fuzz       libFuzzer targets (clang) per parser, FUZZ_SECONDS each (tests/fuzz/)
#   make deps       install missing Debian/Python packages (called by test/run)
#
# Sources are picked up by directory, so adding a file needs no Makefile edit:
#   lib/*.c            -> libkf.a          (shared by every program)
#   worker/*.c         -> libkfeval.a      (the evaluation engine), except
#   worker/main.c      -> bin/kf-worker
#   server/*.c         -> libkfserver.a, except server/main.c -> bin/kf-server
#   cli/*.c            -> bin/kf
#   tests/unit/test_*.c -> one Check program each
#   bench/*.c          -> one program each

CUDA_HOME ?= /usr/local/cuda
BUILD     ?= build
BIN       ?= bin
CC        ?= cc
PKGS      := libmicrohttpd jansson hiredis
SANITIZE  ?=

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

CUPTI_INC := $(firstword $(wildcard $(CUDA_HOME)/extras/CUPTI/include) $(CUDA_HOME)/include)
CUPTI_LIB := $(firstword $(wildcard $(CUDA_HOME)/extras/CUPTI/lib64) $(CUDA_HOME)/lib64)

CPPFLAGS += -D_GNU_SOURCE -Ilib -Iworker -Iserver -I$(CUDA_HOME)/include -I$(CUPTI_INC) \
            -DKF_SOURCE_DIR='"$(CURDIR)"'
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Werror -pthread $(PKG_CFLAGS) $(SANITIZE)
LDFLAGS  += -pthread -Wl,--as-needed $(SANITIZE)
CUDA_LIBS := -L$(CUDA_HOME)/lib64/stubs -lcuda -L$(CUDA_HOME)/lib64 -lnvrtc \
             -L$(CUPTI_LIB) -lcupti -Wl,-rpath,$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUPTI_LIB)
LIBS     := $(PKG_LIBS) -lm

LIB_SRC    := $(wildcard lib/*.c)
EVAL_SRC   := $(filter-out worker/main.c,$(wildcard worker/*.c))
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
CLI_SRC    := $(wildcard cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
BENCH_SRC  := $(wildcard bench/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBKF     := $(BUILD)/libkf.a
LIBEVAL   := $(BUILD)/libkfeval.a
LIBSERVER := $(BUILD)/libkfserver.a
PROGS     := $(BIN)/kf-server $(BIN)/kf-worker $(BIN)/kf
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60

.PHONY: all deps test test-unit test-integration test-gpu run asan dataset bench clean examples \
        fuzz fuzz-bins
all: $(PROGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBKF): $(call obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBEVAL): $(call obj,$(EVAL_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBSERVER): $(call obj,$(SERVER_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BIN)/kf-server: $(call obj,server/main.c) $(LIBSERVER) $(LIBKF)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LIBS) -o $@
$(BIN)/kf-worker: $(call obj,worker/main.c) $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LIBS) $(CUDA_LIBS) -o $@
$(BIN)/kf: $(call obj,$(CLI_SRC)) $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LIBS) $(CUDA_LIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBSERVER) $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(CHECK_LIBS) $(LIBS) $(CUDA_LIBS) -o $@
$(BUILD)/tests/unit/%.o: CFLAGS += $(CHECK_CFLAGS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBSERVER) $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LIBS) $(CUDA_LIBS) -o $@

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(LIBSERVER) $(LIBKF)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LIBS) -o $@

deps:
	@tools/deps.sh

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@$(MAKE) --no-print-directory dataset
	@tests/run.sh $(BUILD)

test-unit: all $(UNIT_BINS)
	@tests/run.sh $(BUILD) unit

test-integration: all
	@tests/run.sh $(BUILD) integration

test-gpu: all
	@tests/gpu/run.sh

var/dataset/.complete: $(BIN)/kf
	$(BIN)/kf synth --out var/dataset --seed 1
	@touch $@
dataset: var/dataset/.complete

run: deps
	@$(MAKE) --no-print-directory all dataset
	@deploy/run-local.sh

asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/bin CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

bench: all $(BENCH_BINS)

# libFuzzer needs clang (tools/deps.sh fuzz installs it); the libraries are
# rebuilt into build-fuzz/ with ASan/UBSan and fuzzer coverage. CFLAGS goes
# through the environment so that the Makefile's CFLAGS += still applies.
fuzz:
	@tools/deps.sh fuzz
	CFLAGS="-O1 -g -fno-omit-frame-pointer" $(MAKE) --no-print-directory BUILD=build-fuzz \
	  BIN=build-fuzz/bin CC=clang \
	  SANITIZE="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined" \
	  fuzz-bins
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

fuzz-bins: $(FUZZ_BINS)

examples: $(BIN)/kf
	@for d in kernels/examples/*; do $(BIN)/kf pack "$$d" -o "$$d/solution.json" || exit 1; done

clean:
	rm -rf $(BUILD) build-asan build-fuzz $(BIN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

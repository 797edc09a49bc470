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
#   make test-browser  the web board in headless Chromium (tests/browser/)
#
# Output is one short line per step; V=1 shows the full commands.
#
# Sources are picked up by directory, so adding a file needs no Makefile edit:
#   lib/*.c            -> libkf.a          (shared by every program)
#   worker/*.c         -> libkfeval.a      (the evaluation engine), except
#   worker/main.c      -> bin/kf-worker
#   worker/runner_main.c -> bin/kf-runner (the untrusted runner, docs/runner.md)
#   lib/*.c worker/*.c + worker/pyrunner_api.c -> bin/libkfrunner.so (the Python lane's runner code)
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

# kf's HTTP client (cli/http.c)
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CLI_LIBS    := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)

CUPTI_INC := $(firstword $(wildcard $(CUDA_HOME)/extras/CUPTI/include) $(CUDA_HOME)/include)
CUPTI_LIB := $(firstword $(wildcard $(CUDA_HOME)/extras/CUPTI/lib64) $(CUDA_HOME)/lib64)

CPPFLAGS += -D_GNU_SOURCE -Ilib -Iworker -Iserver -I$(CUDA_HOME)/include -I$(CUPTI_INC) \
            -DKF_SOURCE_DIR='"$(CURDIR)"'
CFLAGS   ?= -O2 -g
# override: a CFLAGS given on the command line (make asan) keeps these
override CFLAGS += -std=c11 -Wall -Wextra -Werror -pthread $(PKG_CFLAGS) $(SANITIZE)
LDFLAGS  += -pthread -Wl,--as-needed $(SANITIZE)
CUDA_LIBS := -L$(CUDA_HOME)/lib64/stubs -lcuda -L$(CUDA_HOME)/lib64 -lnvrtc \
             -L$(CUPTI_LIB) -lcupti -Wl,-rpath,$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUPTI_LIB)
LIBS     := $(PKG_LIBS) -lm

LIB_SRC    := $(wildcard lib/*.c)
EVAL_SRC   := $(filter-out worker/main.c worker/runner_main.c worker/pyrunner_api.c,$(wildcard worker/*.c))
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
CLI_SRC    := $(wildcard cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
BENCH_SRC  := $(wildcard bench/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

# one short line per step unless V=1
ifeq ($(V),1)
say :=
SUBMAKE := $(MAKE) --no-print-directory
else
say = @printf '  %-6s %s\n' $(1) $(2);
SUBMAKE := $(MAKE) -s --no-print-directory
endif

LIBKF     := $(BUILD)/libkf.a
LIBEVAL   := $(BUILD)/libkfeval.a
LIBSERVER := $(BUILD)/libkfserver.a
PROGS     := $(BIN)/kf-server $(BIN)/kf-worker $(BIN)/kf-runner $(BIN)/kf $(BIN)/libkfrunner.so
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60

.PHONY: all deps test test-unit test-integration test-gpu test-browser run asan dataset bench \
        clean examples fuzz fuzz-bins
all: $(PROGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# the web board and the OpenAPI document are embedded by server/web.c (.incbin)
$(BUILD)/server/web.o: server/web/index.html schemas/openapi.json

$(LIBKF): $(call obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^
$(LIBEVAL): $(call obj,$(EVAL_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^
$(LIBSERVER): $(call obj,$(SERVER_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(BIN)/kf-server: $(call obj,server/main.c) $(LIBSERVER) $(LIBKF)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) $^ $(LIBS) -o $@
$(BIN)/kf-worker: $(call obj,worker/main.c) $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) $^ $(LIBS) $(CUDA_LIBS) -o $@
$(BIN)/kf-runner: $(call obj,worker/runner_main.c) $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) $^ $(LIBS) $(CUDA_LIBS) -o $@
# The Python lane's runner reaches the runner code through ctypes: the same
# sources, compiled position-independent into one shared library.
pic = $(patsubst %.c,$(BUILD)/pic/%.o,$(1))
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@
$(BIN)/libkfrunner.so: $(call pic,$(LIB_SRC) $(EVAL_SRC) worker/pyrunner_api.c)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) -shared $(LDFLAGS) $^ $(LIBS) $(CUDA_LIBS) -o $@
$(BIN)/kf: $(call obj,$(CLI_SRC)) $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) $^ $(LIBS) $(CLI_LIBS) $(CUDA_LIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBSERVER) $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) $^ $(CHECK_LIBS) $(LIBS) $(CUDA_LIBS) -o $@
$(BUILD)/tests/unit/%.o: CFLAGS += $(CHECK_CFLAGS)
# tests/unit/sandbox_probe.c: the stand-in runner that test_sandbox starts
$(BUILD)/tests/test_sandbox: | $(BUILD)/tests/sandbox_probe
$(BUILD)/cli/%.o: CFLAGS += $(CURL_CFLAGS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBSERVER) $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) $^ $(LIBS) $(CUDA_LIBS) -o $@

# keep the test and bench objects (else make deletes them as intermediates
# and rebuilds every test program on the next run)
.SECONDARY: $(call obj,$(UNIT_SRC) $(BENCH_SRC) tests/browser/seed_worker.c tests/unit/sandbox_probe.c)

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(LIBSERVER) $(LIBKF)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LIBS) -o $@

deps:
	@tools/deps.sh

# the inner makes are silent about targets already up to date (-s); each
# step still prints its own short line through $(say)
test: deps
	@$(SUBMAKE) all $(UNIT_BINS) $(BENCH_BINS)
	@$(SUBMAKE) dataset
	@tests/run.sh $(BUILD)

test-unit: all $(UNIT_BINS)
	@tests/run.sh $(BUILD) unit

test-integration: all
	@tests/run.sh $(BUILD) integration

test-gpu: all
	@tests/gpu/run.sh

# one dataset per KF_VAR (deploy/run-local.sh uses the same path), written
# once: a newer bin/kf does not redo it (rm -r it to regenerate)
KF_VAR  ?= var
DATASET := $(KF_VAR)/dataset
$(DATASET)/.complete: | $(BIN)/kf
	$(call say,SYNTH,$(DATASET))$(BIN)/kf synth --out $(DATASET) --seed 1
	@touch $@
dataset: $(DATASET)/.complete

run: deps
	@$(SUBMAKE) all dataset
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

# the web board in headless Chromium against redis + kf-server seeded by a
# stand-in worker (tests/browser/); screenshots go to docs/img/
SEED_WORKER := $(BUILD)/tests/seed_worker
$(SEED_WORKER): $(BUILD)/tests/browser/seed_worker.o $(LIBEVAL) $(LIBKF)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) $^ $(LIBS) $(CUDA_LIBS) -o $@

test-browser: deps
	@$(SUBMAKE) all dataset $(SEED_WORKER)
	@tests/run.sh $(BUILD) browser

# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make            build BPF objects, skeletons and build/nexus-agent
# make test       unit tests (no root) and integration tests (root, real redis-server and postgres)
# make demo       a throwaway Redis and PostgreSQL with load, and the agent watching them
# make bench      overhead against the floor (a bare bpftrace probe); BENCH_ONLY=redis|pg,
#                 BENCH_ROUNDS, BENCH_SECONDS shorten it (tests/bench/lib.sh)
# make vmlinux    regenerate vmlinux/$(ARCH)/vmlinux.h from this kernel's BTF (committed on purpose)
# V=1 shows full commands.

OUTPUT := build
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH := $(shell uname -m)-linux-gnu
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
VERSION := 0.1.0

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

INCLUDES := -Iinclude -Iagent -I$(OUTPUT)
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror -Wno-gnu-variable-sized-type-not-at-end \
	-Ivmlinux/$(ARCH) -Iinclude -I/usr/include/$(MULTIARCH)
CFLAGS ?= -g -O2
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
	-DNX_VERSION='"$(VERSION)"' $(INCLUDES)
PKG_LIBS := libbpf libelf libmicrohttpd jansson yaml-0.1 libcurl ncursesw zlib
# --pg-catalog: libpq (its headers live in /usr/include/postgresql)
INCLUDES += $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
LDLIBS_PQ := $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)
LDLIBS := $(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null || echo -lbpf -lelf -lz -lmicrohttpd -ljansson -lyaml -lcurl -lncursesw -ltinfo) $(LDLIBS_PQ) -lpthread -lm

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

AGENT_SRCS := $(wildcard agent/*.c agent/*/*.c)
AGENT_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(AGENT_SRCS))
# Everything but main.c, so unit tests link the modules they test.
LIB_OBJS := $(filter-out $(OUTPUT)/agent/main.o,$(AGENT_OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/unit/%,$(UNIT_SRCS))

.DELETE_ON_ERROR:
# BPF objects and skeletons are intermediate files to make; keep them, or every build rebuilds all.
.SECONDARY: $(BPF_OBJS) $(SKELS)
.PHONY: all deps run-deps test unit demo bench eval fuzz vmlinux clean

all: deps $(OUTPUT)/nexus-agent

# Building needs the build packages only; what runs servers installs the rest (run-deps).
deps:
	$(Q)bash deploy/install-deps.sh build

run-deps: deps
	$(Q)bash deploy/install-deps.sh all

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h) $(wildcard include/*.h) | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# Agent objects depend on the skeletons (capture includes them) and on their own headers.
$(OUTPUT)/agent/%.o: agent/%.c $(SKELS) $(wildcard agent/*.h agent/*/*.h include/*.h)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/nexus-agent: $(AGENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/unit/%: tests/unit/%.c $(LIB_OBJS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/bpf:
	$(Q)mkdir -p $@

unit: all $(UNIT_BINS)

test: run-deps unit
	$(Q)bash tests/run.sh

demo: run-deps all
	$(Q)bash deploy/demo.sh

# Micro-benchmarks of user-space hot paths, built against the agent's objects.
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(OUTPUT)/bench/%,$(BENCH_SRCS))

$(OUTPUT)/bench/%: tests/bench/%.c $(LIB_OBJS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) $(LDLIBS) -o $@

bench: run-deps all $(BENCH_BINS)
	$(Q)for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done
	$(Q)bash tests/bench/bench_replay.sh
	$(Q)bash tests/bench/bench_all.sh

# Fault injection against real servers under load: detection and resolution times, false alerts
# (EVAL_QUIET_SECONDS, default 600; about 15-20 minutes in all). See tests/bench/eval.py.
eval: run-deps all
	$(Q)python3 tests/bench/eval.py

# libFuzzer + ASan/UBSan over everything that reads records; FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_SRCS := $(filter-out agent/main.c,$(AGENT_SRCS))

$(OUTPUT)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS) $(SKELS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -DNX_VERSION='"fuzz"' $(INCLUDES) $< $(FUZZ_LIB_SRCS) $(LDLIBS) -o $@

fuzz: run-deps $(FUZZ_BINS)
	$(Q)cd $(OUTPUT)/fuzz && for f in $(notdir $(FUZZ_BINS)); do \
		mkdir -p corpus-$$f; \
		./$$f -max_total_time=$(FUZZ_SECONDS) -max_len=20000 corpus-$$f \
			|| exit 1; \
	done

vmlinux:
	$(Q)mkdir -p vmlinux/$(ARCH)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h

clean:
	$(Q)rm -rf $(OUTPUT)

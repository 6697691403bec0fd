# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make            build BPF objects, skeletons and build/nexus-agent
# make test       unit tests (no root) and integration tests (root, real redis-server and postgres)
# make demo       a throwaway Redis and PostgreSQL with load, and the agent watching them
# make bench      overhead against the floor (a bare bpftrace probe); BENCH_ONLY=redis|pg,
#                 BENCH_ROUNDS, BENCH_SECONDS shorten it (tests/bench/lib.sh)
# make soak       the agent over SOAK_MINUTES (default 30) of mixed load and connection churn:
#                 RSS, tracked vs live connections, events/s, lost events (tests/bench/soak.py)
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

INCLUDES := -Iinclude -Iagent -I$(OUTPUT) -I$(OUTPUT)/otlp-gen
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror -Wno-gnu-variable-sized-type-not-at-end \
	-Ivmlinux/$(ARCH) -Iinclude -I/usr/include/$(MULTIARCH)
CFLAGS ?= -g -O2
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
	-DNX_VERSION='"$(VERSION)"' $(INCLUDES)
PKG_LIBS := libbpf libelf libmicrohttpd gnutls jansson yaml-0.1 libcurl ncursesw zlib libprotobuf-c
# --pg-catalog: libpq (its headers live in /usr/include/postgresql)
INCLUDES += $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
LDLIBS_PQ := $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)
LDLIBS := $(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null || echo -lbpf -lelf -lz -lmicrohttpd -lgnutls -ljansson -lyaml -lcurl -lncursesw -ltinfo -lprotobuf-c) $(LDLIBS_PQ) -lpthread -lm

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

# OTLP messages: protobuf-c code generated at build time from the vendored .proto files
# (agent/export/otlp/proto). protoc-c 1.4 predates proto3 `optional`, so the copy it reads turns
# each `optional T x = N;` into `oneof _x { T x = N; }`: what protoc itself does (a synthetic
# oneof), the same field numbers and wire format, and the same presence (a sum of 0 is sent).
OTLP_PROTO_DIR := agent/export/otlp/proto
OTLP_PROTOS := common/v1/common resource/v1/resource metrics/v1/metrics logs/v1/logs \
	collector/metrics/v1/metrics_service collector/logs/v1/logs_service
OTLP_GEN := $(OUTPUT)/otlp-gen
OTLP_GEN_SRCS := $(patsubst %,$(OTLP_GEN)/opentelemetry/proto/%.pb-c.c,$(OTLP_PROTOS))
OTLP_GEN_OBJS := $(patsubst %.c,%.o,$(OTLP_GEN_SRCS))
OTLP_STAMP := $(OTLP_GEN)/.stamp

AGENT_SRCS := $(wildcard agent/*.c agent/*/*.c)
AGENT_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(AGENT_SRCS)) $(OTLP_GEN_OBJS)
# Everything but main.c, so unit tests link the modules they test.
LIB_OBJS := $(filter-out $(OUTPUT)/agent/main.o,$(AGENT_OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/unit/%,$(UNIT_SRCS))

.DELETE_ON_ERROR:
# BPF objects and skeletons are intermediate files to make; keep them, or every build rebuilds all.
.SECONDARY: $(BPF_OBJS) $(SKELS) $(OTLP_GEN_SRCS)
.PHONY: all deps run-deps test unit unit-san fuzz-build lint demo bench eval soak fuzz vmlinux clean

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

$(OTLP_STAMP): $(patsubst %,$(OTLP_PROTO_DIR)/opentelemetry/proto/%.proto,$(OTLP_PROTOS))
	$(call msg,PROTOC-C,$(OTLP_GEN))
	$(Q)rm -rf $(OTLP_GEN) && mkdir -p $(OTLP_GEN)/src
	$(Q)for p in $(OTLP_PROTOS); do \
		mkdir -p $(OTLP_GEN)/src/opentelemetry/proto/$$(dirname $$p) && \
		sed -E 's/^([[:space:]]*)optional[[:space:]]+([A-Za-z0-9_.]+)[[:space:]]+([a-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*;/\1oneof _\3 { \2 \3 = \4; }/' \
			$(OTLP_PROTO_DIR)/opentelemetry/proto/$$p.proto \
			> $(OTLP_GEN)/src/opentelemetry/proto/$$p.proto || exit 1; \
	done
	$(Q)protoc-c --c_out=$(OTLP_GEN) -I$(OTLP_GEN)/src \
		$(patsubst %,$(OTLP_GEN)/src/opentelemetry/proto/%.proto,$(OTLP_PROTOS))
	$(Q)touch $@

$(OTLP_GEN_SRCS): $(OTLP_STAMP)

# Generated code: not ours to keep warning-free.
$(OTLP_GEN)/%.pb-c.o: $(OTLP_GEN)/%.pb-c.c
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 -I$(OTLP_GEN) -c $< -o $@

# Agent objects depend on the skeletons (capture includes them) and on their own headers.
$(OUTPUT)/agent/%.o: agent/%.c $(SKELS) $(OTLP_STAMP) $(wildcard agent/*.h agent/*/*.h include/*.h)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The status page (GET /): agent/export/status_page.html as a C array, so the binary serves it
# with no file beside it. xxd -i reads stdin to print only the bytes.
$(OUTPUT)/status_page_html.h: agent/export/status_page.html
	$(call msg,EMBED,$@)
	$(Q)mkdir -p $(@D)
	$(Q){ echo '/* generated from $< by the Makefile: do not edit */'; \
		echo 'static const unsigned char status_page_html[] = {'; xxd -i < $<; echo '};'; } > $@

$(OUTPUT)/agent/export/status_page.o: $(OUTPUT)/status_page_html.h

$(OUTPUT)/nexus-agent: $(AGENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/unit/%: tests/unit/%.c $(LIB_OBJS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/bpf:
	$(Q)mkdir -p $@

# test_ringbuf drives the ring buffer consumer with a BPF program of its own (root only).
$(OUTPUT)/tests/bpf/%.skel.h: tests/unit/bpf/%.bpf.c
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $(@D)/$*.bpf.o
	$(Q)$(BPFTOOL) gen skeleton $(@D)/$*.bpf.o name $*_bpf > $@

$(OUTPUT)/tests/unit/test_ringbuf $(OUTPUT)/san/tests/unit/test_ringbuf: \
	$(OUTPUT)/tests/bpf/ringbuf_writer.skel.h

unit: all $(UNIT_BINS)

# The unit tests again, built with AddressSanitizer and UndefinedBehaviorSanitizer: any report
# fails the test (halt_on_error, no recovery). Objects live apart in build/san/. At -O1 gcc 12
# warns that strnlen's bound exceeds a string literal's size (nx_strlcpy of "(other)"): strnlen
# stops at the NUL, so that warning is off here.
SAN_FLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
	-Wno-stringop-overread
SAN_LIB_OBJS := $(patsubst $(OUTPUT)/%,$(OUTPUT)/san/%,$(LIB_OBJS))
SAN_UNIT_BINS := $(patsubst $(OUTPUT)/%,$(OUTPUT)/san/%,$(UNIT_BINS))

$(OUTPUT)/san/agent/%.o: agent/%.c $(SKELS) $(OTLP_STAMP) $(wildcard agent/*.h agent/*/*.h include/*.h)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(OUTPUT)/san/otlp-gen/%.pb-c.o: $(OTLP_GEN)/%.pb-c.c
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -g $(SAN_FLAGS) -I$(OTLP_GEN) -c $< -o $@

$(OUTPUT)/san/tests/unit/%: tests/unit/%.c $(SAN_LIB_OBJS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $< $(SAN_LIB_OBJS) $(LDLIBS) -lcmocka -o $@

.SECONDARY: $(SAN_LIB_OBJS)

unit-san: all $(SAN_UNIT_BINS)

test: run-deps unit unit-san fuzz-build
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
	$(Q)python3 tests/bench/bench_memory.py
	$(Q)bash tests/bench/bench_all.sh

# Fault injection against real servers under load: detection and resolution times, false alerts
# (EVAL_QUIET_SECONDS, default 600; about 15-20 minutes in all). See tests/bench/eval.py.
eval: run-deps all
	$(Q)python3 tests/bench/eval.py

# The agent over time under mixed Redis/pgbench load and >= 100,000 short connections: RSS growth,
# connections tracked vs live, lost events, one table row a minute. See tests/bench/soak.py.
soak: run-deps all
	$(Q)python3 tests/bench/soak.py

# libFuzzer + ASan/UBSan over everything that reads bytes or records; FUZZ_SECONDS per target.
# The agent's modules are compiled once (fuzzer-instrumented) and linked into every target.
# Seed corpora come from tests/fuzz/seeds.py; `make test` runs each target for FUZZ_CI_SECONDS
# (tests/fuzz/run_ci.sh), `make fuzz` for FUZZ_SECONDS and keeps what it found in build/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_SRCS := $(filter-out agent/main.c,$(AGENT_SRCS)) $(OTLP_GEN_SRCS)
FUZZ_LIB_OBJS := $(patsubst %.c,$(OUTPUT)/fuzz/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -DNX_VERSION='"fuzz"' $(INCLUDES)

$(OUTPUT)/fuzz/obj/%.o: %.c $(SKELS) $(OTLP_STAMP) $(OUTPUT)/status_page_html.h $(wildcard agent/*.h agent/*/*.h include/*.h)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -c $< -o $@

$(OUTPUT)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_records.h $(FUZZ_LIB_OBJS)
	$(call msg,FUZZ-LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB_OBJS) $(LDLIBS) -o $@

.SECONDARY: $(FUZZ_LIB_OBJS)

fuzz-build: run-deps $(FUZZ_BINS)

fuzz: run-deps $(FUZZ_BINS)
	$(Q)python3 tests/fuzz/seeds.py $(OUTPUT)/fuzz
	$(Q)cd $(OUTPUT)/fuzz && for f in $(notdir $(FUZZ_BINS)); do \
		mkdir -p corpus-$$f; \
		./$$f -max_total_time=$(FUZZ_SECONDS) -max_len=20000 corpus-$$f seeds-$$f \
			|| exit 1; \
	done

# clang-tidy and cppcheck over agent/ (tests/lint/lint.sh: the check sets and why) and the include
# rule between its folders (tests/lint/layers.sh); clean = none.
lint: deps $(SKELS) $(OTLP_STAMP)
	$(Q)bash tests/lint/lint.sh

vmlinux:
	$(Q)mkdir -p vmlinux/$(ARCH)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h

clean:
	$(Q)rm -rf $(OUTPUT)

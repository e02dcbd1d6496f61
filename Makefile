# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# pyleak-bpf: bpf/*.bpf.c -> .output/*.bpf.o -> .output/*.skel.h -> user/*.c -> pyleak-bpf
OUTPUT    := .output
CLANG     ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL   ?= bpftool
CC        ?= cc
PYTHON    ?= python3
ARCH      := x86

CFLAGS    ?= -g -O2
CFLAGS    += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -std=gnu11
CPPFLAGS  += -I$(OUTPUT) -Ibpf -Iuser -D_GNU_SOURCE
LDLIBS    += -lbpf -lelf -lz -ljansson -lZydis
TEST_LDLIBS := -ldw -lcmocka -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux -Ibpf -Wall -Wno-unused-function

# Debian packages the build, the tests and the demo need (make deps).
DEB_DEPS  := make clang llvm gcc pkg-config bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev \
             libjansson-dev libzydis-dev libzycore-dev libcmocka-dev python3

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
USER_SRCS := $(wildcard user/*.c user/*/*.c)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
LIB_OBJS  := $(filter-out $(OUTPUT)/user/pyleak.o,$(USER_OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all clean deps deps-check test unit e2e demo bench bench-fds lint
.SECONDARY:
# A failed recipe leaves no half-written output (an empty skeleton header
# would otherwise look current to the next make).
.DELETE_ON_ERROR:
all: pyleak-bpf

$(OUTPUT) $(OUTPUT)/user $(OUTPUT)/tests:
	$(Q)mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o | $(OUTPUT)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# User objects depend on the skeleton so it exists before any include.
$(OUTPUT)/user/%.o: user/%.c $(SKELS) | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) -MMD -MP -c $< -o $@

$(OUTPUT)/libpyleak.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

pyleak-bpf: $(OUTPUT)/user/pyleak.o $(OUTPUT)/libpyleak.a
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(OUTPUT)/libpyleak.a | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) -MMD -MP $< $(OUTPUT)/libpyleak.a $(LDLIBS) $(TEST_LDLIBS) -o $@

deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_DEPS)

# Install what is missing (fresh machines), say nothing otherwise.
deps-check:
	$(Q)missing=$$(for p in $(DEB_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root, or: sudo make deps" >&2; exit 1; fi; \
		$(MAKE) --no-print-directory deps; \
	fi

# Unit tests (cmocka), then end-to-end tests against every interpreter present.
test: deps-check
	$(Q)$(MAKE) --no-print-directory lint unit e2e

unit: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

e2e: pyleak-bpf
	$(Q)$(PYTHON) tests/e2e/run.py $(E2E_ARGS)

# Trace the bundled leaking demo service for 30 seconds.
demo: deps-check
	$(Q)$(MAKE) --no-print-directory pyleak-bpf
	./pyleak-bpf --duration 30 5 -- $(PYTHON) demo/leaky_service.py

bench: pyleak-bpf
	$(PYTHON) bench/run.py

# What fd tracking costs the traced program and the processes beside it.
bench-fds: pyleak-bpf
	$(PYTHON) bench/fd_bench.py

clean:
	$(call msg,CLEAN)
	$(Q)rm -rf $(OUTPUT) pyleak-bpf

-include $(wildcard $(OUTPUT)/user/*.d $(OUTPUT)/user/*/*.d $(OUTPUT)/tests/*.d)

# Static checks: every C file with warnings as errors (userspace, BPF, tests),
# the Python harness and fixtures byte-compiled, the shell scripts parsed.
lint: $(SKELS)
	$(call msg,LINT,user bpf tests)
	$(Q)set -e; for f in $(USER_SRCS) $(UNIT_SRCS); do \
		$(CC) $(CFLAGS) $(CPPFLAGS) -Werror -fsyntax-only $$f; done
	$(Q)for f in $(BPF_SRCS); do $(CLANG) $(BPF_CFLAGS) -Werror -fsyntax-only $$f || exit 1; done
	$(Q)$(PYTHON) -m py_compile tests/e2e/*.py tests/fixtures/*.py bench/*.py demo/*.py tools/*.py
	$(Q)for f in .ci/run tools/*.sh; do bash -n $$f || exit 1; done

# SPDX-License-Identifier: MIT
#
# gcheap front door.  The kernel module is built through the top-level Kbuild
# (`make -C $(KDIR) M=$(CURDIR)`, the out-of-tree convention); libgcheap/ and
# selftests/ have their own Makefiles and are skipped while they do not exist.
#
#   make              module + library + selftests + bpf
#   make bpf          BPF programs + gcheap-trace (build/bpf), VM tests in build/vmtests-bpf
#   make module       kmod/gcheap.ko against KDIR
#   make lib          libgcheap (into build/libgcheap, VM tests into build/vmtests-lib)
#   make selftests    static kselftest binaries into build/selftests
#   make bench        build and run the allocation benchmarks (not part of check)
#   make vmtest       boot the VM: insmod, every test in VM_TESTDIRS, rmmod, verdict
#   make check        static checks + host tests + runner self-tests + VM run
#   make stress       the long stress_test run alone in the VM (STRESS_SECONDS=600)
#   make demo         boot the VM with the module loaded and show it working
#   make shell        like vmtest, then an interactive shell in the guest
#   make clean
#   make install      library, headers, gcheap.pc, gcheap-trace, DKMS sources
#                     (PREFIX=/usr/local, DESTDIR; packaging/install.mk)
#   make install-test the install path's test (tests/install/install-run)
#
# Variables:
#   VM_KERNEL=debian  (default) Debian's packaged kernel, KDIR = its headers
#   VM_KERNEL=debug   the KASAN/lockdep/kmemleak kit in $(DEBUG_KIT); the module
#                     is built in a copy under build/mod-debug
#   KDIR=...          build against another kernel tree in place, e.g. the
#                     running kernel: KDIR=/lib/modules/$(uname -r)/build
#   BTF=1             module with BTF (for tp_btf/fentry): build/kdir-btf is a
#                     copy of the headers plus a vmlinux extracted from /boot
#   VM_TESTDIRS       directories whose executables run in the VM (default:
#                     build/selftests, every build/vmtests-* and build/demo,
#                     those that exist when make starts)
# scripts/vm documents its own VM_* variables (timeouts, memory, ...).

SHELL := /bin/bash
ROOT := $(CURDIR)
BUILD := $(ROOT)/build
BITS := $(ROOT)/.cache/kernel-bits

VM_KERNEL ?= debian
export VM_KERNEL
KVER := $(shell $(ROOT)/scripts/kver 2>/dev/null)
DEBUG_KIT ?= $(or $(GCHEAP_DEBUG_KIT),$(HOME)/.cache/gcheap-debug-kernel/kit)
export GCHEAP_DEBUG_KIT := $(DEBUG_KIT)

# Where the module is built.  Kbuild (6.1) writes its objects next to the
# sources, so a second kernel gets its own copy of the sources (MODSRC) instead
# of fighting over kmod/*.o with the default build.
ifeq ($(VM_KERNEL),debug)
KDIR ?= $(DEBUG_KIT)
MODSRC := $(BUILD)/mod-debug
else ifeq ($(BTF),1)
KDIR ?= $(BUILD)/kdir-btf
MODSRC := $(BUILD)/mod-btf
KBUILD_EXTRA := RESOLVE_BTFIDS=true
else
KDIR ?= /lib/modules/$(KVER)/build
MODSRC := $(ROOT)
endif
MODULE := $(MODSRC)/kmod/gcheap.ko
# Not exported: a make nested in `make check` may build another flavour.
VM_MODULE ?= $(MODULE)

HAVE_KMOD := $(wildcard $(ROOT)/Kbuild)
HAVE_LIB := $(wildcard $(ROOT)/libgcheap/Makefile)
HAVE_BPF := $(wildcard $(ROOT)/bpf/Makefile)
HAVE_SELFTESTS := $(wildcard $(ROOT)/selftests/Makefile)
HAVE_BENCH := $(wildcard $(ROOT)/bench/Makefile)

# Test directories are looked up when the VM starts, not when make parses
# this file, so that directories the prerequisites just built are included.
VM_TESTDIRS ?=
vm_testdirs = $(or $(VM_TESTDIRS),$$(for d in $(BUILD)/selftests $(BUILD)/vmtests-* \
	$(BUILD)/demo; do [ -d $$d ] && echo $$d; done))

.PHONY: all module module-check lib selftests bpf bench vmtest check demo demo-bin demo-picture shell \
	rig-test kernel-bits btf-kdir clean stress

all: module lib selftests bpf

# ---------------------------------------------------------------- module
# Only kbuild's sources are copied, so stale objects of another kernel never
# reach the copy; cp -p keeps mtimes so the copy rebuilds incrementally.
define copy_module_sources
	mkdir -p $(1)
	cd $(ROOT) && find Kbuild kmod uapi -type f \( -name Kbuild -o -name Makefile \
		-o -name '*.[chS]' \) -print0 | xargs -0 cp -p --parents -t $(1)
endef

module: $(if $(filter $(BUILD)/kdir-btf,$(KDIR)),btf-kdir)
ifeq ($(HAVE_KMOD),)
	@echo "module: no top-level Kbuild yet, nothing to build"
else
	@test -d $(KDIR) || { echo "module: no kernel tree at $(KDIR) (run scripts/deps)"; exit 1; }
	$(if $(filter-out $(ROOT),$(MODSRC)),$(call copy_module_sources,$(MODSRC)))
	$(MAKE) -C $(KDIR) M=$(MODSRC) $(KBUILD_EXTRA) modules
endif

# W=1 and sparse (C=2) over a fresh copy, so every file is compiled and every
# warning shows up again even when the in-place build is up to date.  Any
# "warning"/"error" line fails; kbuild's note about skipping BTF is not one.
module-check: $(if $(filter $(BUILD)/kdir-btf,$(KDIR)),btf-kdir)
ifeq ($(HAVE_KMOD),)
	@echo "module-check: no top-level Kbuild yet, nothing to check"
else
	@rm -rf $(BUILD)/mod-check
	@$(call copy_module_sources,$(BUILD)/mod-check)
	@set -o pipefail; $(MAKE) -C $(KDIR) M=$(BUILD)/mod-check $(KBUILD_EXTRA) W=1 C=2 modules 2>&1 | \
		tee $(BUILD)/mod-check/build.log
	@if grep -Ei 'warning|error' $(BUILD)/mod-check/build.log | grep -v 'Skipping BTF'; then \
		echo "module-check: the lines above are warnings: W=1/sparse must be clean"; exit 1; \
	fi
	@echo "module-check: W=1 and sparse C=2 clean"
endif

# ---------------------------------------------------------------- userspace
lib:
ifeq ($(HAVE_LIB),)
	@echo "lib: no libgcheap/Makefile yet, nothing to build"
else
	$(MAKE) -C libgcheap all $(if $(shell grep -s '^vmtests:' libgcheap/Makefile),vmtests)
endif

# Benchmarks are run by hand (they need a quiet machine), never by check:
# bench/setup installs what is missing, bench/report runs every benchmark
# and writes build/bench/report/report.md (QUICK=1: a glance in minutes,
# BENCH_VM=0: without the VM part).
bench:
ifeq ($(HAVE_BENCH),)
	@echo "bench: no bench/Makefile yet, nothing to run"
else
	VM_MODULE=$(VM_MODULE) BENCH_COMMAND='make bench$(if $(QUICK), QUICK=$(QUICK))$(if $(BENCH_VM), BENCH_VM=$(BENCH_VM))' \
		$(MAKE) -C bench report
endif

# BPF programs, gcheap-trace (build/bpf) and their VM tests (build/vmtests-bpf).
# After lib: bpf/'s prof_target links libgcheap.a and makes it itself, and
# under make -j two makes in libgcheap/ at once would write the same objects.
bpf: kernel-bits lib
ifeq ($(HAVE_BPF),)
	@echo "bpf: no bpf/Makefile yet, nothing to build"
else
	$(MAKE) -C bpf
endif

selftests: kernel-bits
ifeq ($(HAVE_SELFTESTS),)
	@echo "selftests: no selftests/Makefile yet, nothing to build"
else
	$(MAKE) -C selftests OUT=$(BUILD)/selftests
endif

kernel-bits:
	@test -f $(BITS)/kselftest_harness.h -a -f $(BITS)/kselftest.h -a -f $(BITS)/extract-vmlinux || \
		{ echo "kernel-bits: $(BITS) is incomplete: run scripts/deps"; exit 1; }

# ---------------------------------------------------------------- BTF
# Debian's headers skip module BTF because they ship no vmlinux.  A copy of
# the headers directory with a vmlinux extracted from the packaged bzImage
# (which keeps .BTF) and absolute links to the shared kbuild scripts/tools
# makes kbuild run pahole; resolve_btfids is not packaged, hence
# RESOLVE_BTFIDS=true above.
btf-kdir: $(BUILD)/kdir-btf/vmlinux

$(BUILD)/kdir-btf/vmlinux: | kernel-bits
	@test -n "$(KVER)" || { echo "btf-kdir: no Debian kernel (run scripts/deps)"; exit 1; }
	rm -rf $(BUILD)/kdir-btf.tmp && mkdir -p $(BUILD)
	cp -a /usr/src/linux-headers-$(KVER) $(BUILD)/kdir-btf.tmp
	for l in scripts tools; do \
		ln -sfn $$(readlink -f /usr/src/linux-headers-$(KVER)/$$l) $(BUILD)/kdir-btf.tmp/$$l; done
	sh $(BITS)/extract-vmlinux /boot/vmlinuz-$(KVER) > $(BUILD)/kdir-btf.tmp/vmlinux
	rm -rf $(BUILD)/kdir-btf && mv $(BUILD)/kdir-btf.tmp $(BUILD)/kdir-btf

# ---------------------------------------------------------------- VM
vmtest: module selftests lib bpf demo-bin
	VM_MODULE=$(VM_MODULE) $(ROOT)/scripts/vm $(vm_testdirs)

shell: module selftests lib bpf demo-bin
	VM_MODULE=$(VM_MODULE) $(ROOT)/scripts/vm --shell $(vm_testdirs)

# The demo (scripts/demo).  gcheap-demo, gcheap-hog and a copy of
# gcheap-trace go to build/demo/bin, the guest's PATH; build/demo/demo_test,
# the short run with its assertions, is a VM test like any other (vmtest,
# check).  `make demo` boots a guest of DEMO_VM_MEM MiB (unless VM_MEM says
# otherwise) with build/demo/show alone: the full run, whose picture and
# samples scripts/demo/extract takes out of the output into build/demo
# (demo.svg, demo.csv; everything in demo.log).  gcheap-trace is optional for
# demo-bin: without it the demo says so and skips its part.
DEMO := $(BUILD)/demo
DEMO_SRC := $(ROOT)/scripts/demo
DEMO_VM_MEM ?= 1024
DEMO_CFLAGS := -static -O2 -Wall -Wextra -Werror -pthread -I$(ROOT)/libgcheap/include \
	-I$(ROOT)/uapi

demo: module demo-bin
	@set -o pipefail; VM_MODULE=$(VM_MODULE) VM_MEM=$${VM_MEM:-$(DEMO_VM_MEM)} \
		$(ROOT)/scripts/vm $(DEMO)/show | $(DEMO_SRC)/extract $(DEMO)

# The README's example picture: a fresh `make demo`, its picture committed
# as docs/demo.svg (the README says to run this after changing the demo).
demo-picture: demo
	install -D -m 644 $(DEMO)/demo.svg $(ROOT)/docs/demo.svg

demo-bin:
	$(MAKE) -C libgcheap all
ifneq ($(HAVE_BPF),)
	@$(MAKE) -C bpf tool || echo "demo-bin: gcheap-trace did not build: the demo runs without it"
endif
	@$(MAKE) --no-print-directory demo-files

.PHONY: demo-files
demo-files: $(DEMO)/bin/gcheap-demo $(DEMO)/bin/gcheap-hog $(DEMO)/demo_test \
		$(DEMO)/show/gcheap-demo
	@rm -f $(DEMO)/gcheap-demo	# the old demo's place: it would run as a test
	@if [ -x $(BUILD)/bpf/gcheap-trace ]; then cp -p $(BUILD)/bpf/gcheap-trace $(DEMO)/bin/; fi
	@mkdir -p $(DEMO)/show/bin && ln -f $(DEMO)/bin/* $(DEMO)/show/bin/

$(DEMO)/bin/gcheap-demo: $(DEMO_SRC)/gcheap-demo.c $(DEMO_SRC)/demo-plot.c $(DEMO_SRC)/demo.h \
		$(ROOT)/libgcheap/include/gcheap.h $(ROOT)/uapi/linux/gcheap.h \
		$(BUILD)/libgcheap/libgcheap.a
	@mkdir -p $(@D)
	$(CC) $(DEMO_CFLAGS) -o $@ $(DEMO_SRC)/gcheap-demo.c $(DEMO_SRC)/demo-plot.c \
		$(BUILD)/libgcheap/libgcheap.a -lm

$(DEMO)/bin/gcheap-hog: $(DEMO_SRC)/gcheap-hog.c $(DEMO_SRC)/demo.h
	@mkdir -p $(@D)
	$(CC) $(DEMO_CFLAGS) -o $@ $<

$(DEMO)/demo_test: $(DEMO_SRC)/demo_test
	install -D -m 755 $< $@

$(DEMO)/show/gcheap-demo: $(DEMO_SRC)/show
	install -D -m 755 $< $@

rig-test:
	$(ROOT)/tests/rig/rig-run

# The long run of selftests/stress_test, alone in the VM; GCH_SEED=<seed>
# replays a seed, STRESS_OPS=<n> runs n operations per worker instead.  The
# VM passes tests no environment, so a wrapper in build/stress-long sets it;
# the binary sits in its bin/ (the guest's PATH, never run by itself).  Not
# a build/vmtests-* directory, so vmtest and check leave it alone.
STRESS_SECONDS ?= 600
stress: module selftests
	rm -rf $(BUILD)/stress-long && mkdir -p $(BUILD)/stress-long/bin
	cp $(BUILD)/selftests/stress_test $(BUILD)/stress-long/bin/
	printf '#!/bin/sh\nexport GCH_STRESS_SECONDS=%s%s\nexec stress_test\n' '$(STRESS_SECONDS)' \
		'$(if $(GCH_SEED), GCH_SEED=$(GCH_SEED))$(if $(STRESS_OPS), GCH_STRESS_OPS=$(STRESS_OPS))' \
		> $(BUILD)/stress-long/stress_test_long
	chmod +x $(BUILD)/stress-long/stress_test_long
	VM_MODULE=$(VM_MODULE) VM_TEST_TIMEOUT=$${VM_TEST_TIMEOUT:-$$(( $(STRESS_SECONDS) * 2 + 300 ))} \
		$(ROOT)/scripts/vm $(BUILD)/stress-long

check:
	@MAKE="$(MAKE)" $(ROOT)/scripts/check

clean:
ifneq ($(HAVE_KMOD),)
	-test -d $(KDIR) && $(MAKE) -C $(KDIR) M=$(ROOT) clean
endif
ifneq ($(HAVE_LIB),)
	-$(MAKE) -C libgcheap clean
endif
ifneq ($(HAVE_SELFTESTS),)
	-$(MAKE) -C selftests clean OUT=$(BUILD)/selftests
endif
ifneq ($(HAVE_BPF),)
	-$(MAKE) -C bpf clean
endif
ifneq ($(HAVE_BENCH),)
	-$(MAKE) -C bench clean
endif
	rm -rf $(BUILD)

# ---------------------------------------------------------------- install
include $(ROOT)/packaging/install.mk

# SPDX-License-Identifier: MIT
# The collector's benchmarks (included by bench/Makefile):
#   gcbench   build gcbench, binarytrees and churn for every allocator plus
#             the Go 1.19 counterparts into $(OUT)/gc
#   gcrun     build, then ./gcrun: all benchmarks x allocators, one report
#   curves    build, then ./curves: time against peak RSS over each
#             collector's memory knob, SVGs and curves.md in $(OUT)/curves
#             (QUICK=1 for small inputs, REPS=n rounds)
#   gcvm      the same programs linked statically into $(VMOUT)/gc for
#             scripts/vm, where gcheap runs on gcheap.ko (kernel backend):
#               make -C bench gcvm && scripts/vm -T 3600 build/vmbench/gc
#             (mimalloc is left out: Debian ships no static library)
#   report-vm the static gcheap, bdwgc and Go builds bench/report's VM part
#             runs (it copies them into its own test directory)
GC_BENCHES := gcbench binarytrees churn
GC_ALLOCS  := gcheap bdwgc bdwgc-par bdwgc-inc glibc jemalloc mimalloc
GC_OUT     := $(OUT)/gc
GO         ?= go

GC_BINS := $(foreach b,$(GC_BENCHES),$(foreach a,$(GC_ALLOCS),$(GC_OUT)/$(b)_$(a))) \
           $(GC_BENCHES:%=$(GC_OUT)/%_go)

.PHONY: gcbench gcrun gcvm
gcbench: $(GC_BINS)

define gc_bench_rule
$(GC_OUT)/$(1)_%: $(1).c gcbench_alloc.h $(LIB)
	@mkdir -p $(GC_OUT)
	$$(CC) $$(CFLAGS) $$(WARN) $$(INC) $$(DEF_$$*) -pthread $$< $$(LIBS_$$*) -o $$@
$(GC_OUT)/$(1)_go: go/$(1).go go/report.go
	@mkdir -p $(GC_OUT)
	cd go && GOFLAGS=-mod=mod GOCACHE=$(GC_OUT)/.gocache $(GO) build -o $$@ $(1).go report.go
endef
$(foreach b,$(GC_BENCHES),$(eval $(call gc_bench_rule,$(b))))

gcrun: gcbench
	./gcrun $(GC_OUT)

.PHONY: curves
curves: gcbench
	./curves $(GC_OUT) $(OUT)/curves

# Static, for the busybox guest; gc_bench_vm runs gcrun on smaller inputs by
# default, as TCG runs these 15-30 times slower than the host.
GC_VMOUT    := $(VMOUT)/gc
GC_VMALLOCS := gcheap bdwgc bdwgc-par glibc jemalloc
# what a static link needs beyond LIBS_<alloc>
GC_STATIC_EXTRA_jemalloc := -lm -ldl
GC_VMBINS := $(foreach b,$(GC_BENCHES),$(foreach a,$(GC_VMALLOCS) go,$(GC_VMOUT)/bin/$(b)_$(a)))

define gc_vm_rule
$(GC_VMOUT)/bin/$(1)_go: $(GC_OUT)/$(1)_go
	@mkdir -p $(GC_VMOUT)/bin
	cp $$< $$@
$(GC_VMOUT)/bin/$(1)_%: $(1).c gcbench_alloc.h $(LIB)
	@mkdir -p $(GC_VMOUT)/bin
	$$(CC) $$(CFLAGS) $$(WARN) $$(INC) -static $$(DEF_$$*) -pthread $$< $$(LIBS_$$*) \
	    $$(GC_STATIC_EXTRA_$$*) -o $$@
endef
$(foreach b,$(GC_BENCHES),$(eval $(call gc_vm_rule,$(b))))

gcvm: $(GC_VMBINS)
	cp gcrun $(GC_VMOUT)/bin/gcrun
	printf '#!/bin/sh\nREPS=$${REPS:-1} DEPTH=$${DEPTH:-18} STEPS=$${STEPS:-2000000} exec /usr/bin/gcrun /usr/bin\n' \
	    > $(GC_VMOUT)/gc_bench_vm
	chmod +x $(GC_VMOUT)/gc_bench_vm

# bench/report's VM part: gcheap (kernel and host backend, one binary), bdwgc
# and Go; bench/report writes the guest's tests around them.
REPORT_VMBINS := $(foreach b,$(GC_BENCHES),$(foreach a,gcheap bdwgc go,$(GC_VMOUT)/bin/$(b)_$(a)))
.PHONY: report-vm
report-vm: $(REPORT_VMBINS)

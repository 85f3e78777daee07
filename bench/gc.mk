# SPDX-License-Identifier: MIT
# The collector's benchmarks (included by bench/Makefile):
#   gcbench   build gcbench, binarytrees and churn for every allocator plus
#             the Go 1.19 counterparts into $(OUT)/gc
#   gcrun     build, then ./gcrun: all benchmarks x allocators, one report
GC_BENCHES := gcbench binarytrees churn
GC_ALLOCS  := gcheap bdwgc bdwgc-par glibc jemalloc mimalloc
GC_OUT     := $(OUT)/gc
GO         ?= go

GC_BINS := $(foreach b,$(GC_BENCHES),$(foreach a,$(GC_ALLOCS),$(GC_OUT)/$(b)_$(a))) \
           $(GC_BENCHES:%=$(GC_OUT)/%_go)

.PHONY: gcbench gcrun
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

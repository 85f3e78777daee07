# SPDX-License-Identifier: MIT
# The big-heap pause benchmark (included by bench/Makefile): a hash table of
# ENTRIES small linked objects, then DURATION seconds of value replacements,
# timing every operation and every pause (see bigheap.c for the design).
#   bigheap      bigheap.c for gcheap, bdwgc, bdwgc-par and bdwgc-inc, and
#                go/bigheap.go, into $(OUT)/bigheap
#   bigheap-run  build, then ./bigheap-run: every variant, host scale
#                (ENTRIES=1000000 unless set; REPS, DURATION, VARIANTS)
#   bigheap-vm   the same linked statically into $(VMOUT)/bigheap for
#                scripts/vm, full size (10 million entries, ~3 GB a run):
#                  make -C bench bigheap-vm
#                  VM_MEM=8192 scripts/vm -T 3600 build/vmbench/bigheap
#                BIGHEAP_VM_ENTRIES, _DURATION, _REPS, _VARIANTS change what
#                the guest runs.  The guest churns 180 s, not 10: at full
#                size a cycle comes about every 1.1 GiB allocated, and under
#                TCG the churn allocates ~17 MB/s, so 10 s ends no cycle.
BH_ALLOCS := gcheap gcheap-plain bdwgc bdwgc-par bdwgc-inc
BH_OUT    := $(OUT)/bigheap
BH_VMOUT  := $(VMOUT)/bigheap
GO        ?= go

BH_DEF_gcheap     := -DBH_GCHEAP
BH_DEF_gcheap-plain := -DBH_GCHEAP -DBH_PLAIN
BH_DEF_bdwgc      := -DBH_BDWGC
BH_DEF_bdwgc-par  := -DBH_BDWGC -DBH_BDWGC_PAR
BH_DEF_bdwgc-inc  := -DBH_BDWGC -DBH_BDWGC_INC
BH_LIBS_gcheap    := $(LIB)
BH_LIBS_gcheap-plain := $(LIB)
BH_LIBS_bdwgc     := -lgc
BH_LIBS_bdwgc-par := -lgc
BH_LIBS_bdwgc-inc := -lgc

BIGHEAP_VM_ENTRIES  ?= 10000000
BIGHEAP_VM_DURATION ?= 180
BIGHEAP_VM_REPS     ?= 1
BIGHEAP_VM_VARIANTS ?=

BH_BINS   := $(BH_ALLOCS:%=$(BH_OUT)/bigheap_%) $(BH_OUT)/bigheap_go
BH_VMBINS := $(BH_ALLOCS:%=$(BH_VMOUT)/bin/bigheap_%) $(BH_VMOUT)/bin/bigheap_go

.PHONY: bigheap bigheap-run bigheap-vm
bigheap: $(BH_BINS)

$(BH_OUT)/bigheap_go: go/bigheap.go
	@mkdir -p $(BH_OUT)
	cd go && GOFLAGS=-mod=mod GOCACHE=$(BH_OUT)/.gocache $(GO) build -o $@ bigheap.go

$(BH_OUT)/bigheap_%: bigheap.c $(LIB)
	@mkdir -p $(BH_OUT)
	$(CC) $(CFLAGS) $(WARN) $(INC) $(BH_DEF_$*) -pthread $< $(BH_LIBS_$*) -lm -o $@

bigheap-run: bigheap
	./bigheap-run $(BH_OUT)

# Static, for the busybox guest (Go's binary is static already).
$(BH_VMOUT)/bin/bigheap_go: $(BH_OUT)/bigheap_go
	@mkdir -p $(BH_VMOUT)/bin
	cp $< $@

$(BH_VMOUT)/bin/bigheap_%: bigheap.c $(LIB)
	@mkdir -p $(BH_VMOUT)/bin
	$(CC) $(CFLAGS) $(WARN) $(INC) -static $(BH_DEF_$*) -pthread $< $(BH_LIBS_$*) -lm -o $@

bigheap-vm: $(BH_VMBINS)
	cp bigheap-run $(BH_VMOUT)/bin/bigheap-run
	printf '#!/bin/sh\nENTRIES=$${ENTRIES:-%s} DURATION=$${DURATION:-%s} REPS=$${REPS:-%s} VARIANTS="$${VARIANTS:-%s}" exec /usr/bin/bigheap-run /usr/bin\n' \
	    '$(BIGHEAP_VM_ENTRIES)' '$(BIGHEAP_VM_DURATION)' '$(BIGHEAP_VM_REPS)' '$(BIGHEAP_VM_VARIANTS)' \
	    > $(BH_VMOUT)/bigheap_vm
	chmod +x $(BH_VMOUT)/bigheap_vm

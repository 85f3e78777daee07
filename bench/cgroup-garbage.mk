# SPDX-License-Identifier: MIT
#
# cgroup-garbage: issue 15's benchmark row, in the VM (see cgroup-garbage-run):
# a live heap a quarter of a cgroup's memory.max, garbage at GC percent 400,
# for gcheap (with and without its cgroup limit and pressure answer), bdwgc
# and Go 1.19.  Self-contained:
#
#   make -f cgroup-garbage.mk        static binaries into ../build/vmbench-cgroup
#   make -f cgroup-garbage.mk run    build them and run them in the VM (module
#                                    from VM_MODULE, as scripts/vm)
#
# All run in the same TCG guest: their times compare with each other only.

TOP    := $(abspath ..)
OUT    ?= $(TOP)/build/vmbench-cgroup
CC     ?= cc
CFLAGS := -O2 -static -Wall -Wextra -Werror -Wno-unused-function \
	  -I$(TOP)/libgcheap/include
LIB    := $(TOP)/build/libgcheap/libgcheap.a
GO     ?= go

BINS := $(OUT)/bin/cgroup-garbage-gcheap $(OUT)/bin/cgroup-garbage-bdwgc \
	$(OUT)/bin/cgroup-garbage-go
all: $(OUT)/cgroup-garbage-run $(BINS)

$(OUT)/bin:
	mkdir -p $@

$(LIB):
	$(MAKE) -C $(TOP)/libgcheap all

$(OUT)/cgroup-garbage-run: cgroup-garbage-run | $(OUT)/bin
	cp $< $@

$(OUT)/bin/cgroup-garbage-gcheap: cgroup-garbage.c gcbench_alloc.h $(LIB) | $(OUT)/bin
	$(CC) $(CFLAGS) -DUSE_GCHEAP -pthread -o $@ $< $(LIB)

$(OUT)/bin/cgroup-garbage-bdwgc: cgroup-garbage.c gcbench_alloc.h | $(OUT)/bin
	$(CC) $(CFLAGS) -DUSE_BDWGC -pthread -o $@ $< -lgc -lpthread

$(OUT)/bin/cgroup-garbage-go: cgroup-garbage-go/cgroup_garbage.go | $(OUT)/bin
	cd cgroup-garbage-go && CGO_ENABLED=0 GO111MODULE=off \
		GOCACHE=$(TOP)/build/.gocache $(GO) build -o $@ cgroup_garbage.go

run: all
	VM_TEST_TIMEOUT=900 $(TOP)/scripts/vm $(OUT)

clean:
	rm -rf $(OUT)

.PHONY: all run clean

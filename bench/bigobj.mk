# SPDX-License-Identifier: MIT
#
# bigobj: issue 14's large-object row, in the VM (see bigobj-run): rounds of
# one 1 GiB object allocated, used, dropped and collected, for gcheap (both
# backends in the same guest), bdwgc and Go 1.19.  Self-contained:
#
#   make -f bigobj.mk        static binaries into ../build/vmbench-bigobj
#   make -f bigobj.mk run    build them and run them in the VM (module from
#                            VM_MODULE, as scripts/vm; a 4 GiB guest)
#
# All run in the same TCG guest: their times compare with each other only.

TOP    := $(abspath ..)
OUT    ?= $(TOP)/build/vmbench-bigobj
CC     ?= cc
CFLAGS := -O2 -static -Wall -Wextra -Werror -I$(TOP)/libgcheap/include
LIB    := $(TOP)/build/libgcheap/libgcheap.a
GO     ?= go

BINS := $(OUT)/bin/bigobj-gcheap $(OUT)/bin/bigobj-bdwgc $(OUT)/bin/bigobj-go
all: $(OUT)/bigobj-run $(BINS)

$(OUT)/bin:
	mkdir -p $@

$(LIB):
	$(MAKE) -C $(TOP)/libgcheap all

$(OUT)/bigobj-run: bigobj-run | $(OUT)/bin
	cp $< $@

$(OUT)/bin/bigobj-gcheap: bigobj.c $(LIB) | $(OUT)/bin
	$(CC) $(CFLAGS) -DUSE_GCHEAP -pthread -o $@ $< $(LIB)

$(OUT)/bin/bigobj-bdwgc: bigobj.c | $(OUT)/bin
	$(CC) $(CFLAGS) -DUSE_BDWGC -pthread -o $@ $< -lgc -lpthread

$(OUT)/bin/bigobj-go: bigobj-go/bigobj.go | $(OUT)/bin
	cd bigobj-go && CGO_ENABLED=0 GO111MODULE=off \
		GOCACHE=$(TOP)/build/.gocache $(GO) build -o $@ bigobj.go

run: all
	VM_MEM=$${VM_MEM:-4096} VM_TEST_TIMEOUT=1200 $(TOP)/scripts/vm $(OUT)

clean:
	rm -rf $(OUT)

.PHONY: all run clean

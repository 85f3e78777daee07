# SPDX-License-Identifier: MIT
#
# kmod-scavenge: time from "256 MiB of spans freed" to "resident at budget"
# and the scavenger's CPU, for every gcheap release path, beside the same
# scenario under Go's runtime and bdwgc.  Self-contained (bench/Makefile is
# the allocation benchmark's):
#
#   make -f kmod-scavenge.mk          static binaries into ../build/vmbench-scavenge
#   make -f kmod-scavenge.mk run      build them and run them in the VM (scripts/vm,
#                                     module from ../kmod/gcheap.ko or VM_MODULE)
#   make -f kmod-scavenge.mk compare  the default pacing beside Go, interleaved, 3
#                                     rounds, then the unpaced paths
#                                     (kmod-scavenge-compare; kmod-scavenge.md)
#
# All three run in the same TCG guest, so their times compare with each other,
# not with bare metal.

TOP    := $(abspath ..)
OUT    ?= $(TOP)/build/vmbench-scavenge
CC     ?= cc
CFLAGS := -O2 -static -Wall -Wextra -Werror
GO     ?= go

all: $(OUT)/1-kmod-scavenge $(OUT)/2-kmod-scavenge-go $(OUT)/3-kmod-scavenge-bdwgc

$(OUT):
	mkdir -p $@

$(OUT)/1-kmod-scavenge: kmod-scavenge.c $(TOP)/uapi/linux/gcheap.h | $(OUT)
	$(CC) $(CFLAGS) -I$(TOP)/uapi -o $@ $<

$(OUT)/2-kmod-scavenge-go: kmod-scavenge-go/kmod_scavenge.go | $(OUT)
	cd kmod-scavenge-go && CGO_ENABLED=0 GO111MODULE=off \
		GOCACHE=$(TOP)/build/.gocache $(GO) build -o $@ kmod_scavenge.go

$(OUT)/3-kmod-scavenge-bdwgc: kmod-scavenge-bdwgc.c | $(OUT)
	$(CC) $(CFLAGS) -o $@ $< -lgc -lpthread

run: all
	VM_TEST_TIMEOUT=900 $(TOP)/scripts/vm $(OUT)

# The binaries go to the guest's PATH (a bin/ subdirectory), the script runs.
CMP := $(OUT)-compare
compare: all
	mkdir -p $(CMP)/bin
	cp $(OUT)/1-kmod-scavenge $(CMP)/bin/kmod-scavenge
	cp $(OUT)/2-kmod-scavenge-go $(CMP)/bin/kmod-scavenge-go
	cp kmod-scavenge-compare $(CMP)/1-compare
	VM_TEST_TIMEOUT=2400 $(TOP)/scripts/vm $(CMP)

clean:
	rm -rf $(OUT) $(CMP)

.PHONY: all run compare clean

# SPDX-License-Identifier: MIT
# The collector's part of the libgcheap build (included by ../Makefile).
GC_SRCS := $(addprefix gc/,stw.c barrier.c assist.c roots.c mark.c sweep.c \
	   pacer.c finalizer.c gctrace.c pauses.c verify.c limiter.c cgroup.c \
	   pressure_answer.c dirtyscan.c bgmark.c gc.c)
GC_HDRS := gc/gc_internal.h
GC_TESTS := gc_stw_test gc_basic_test gc_model_test gc_threads_test gc_pacer_test \
	    gc_barrier_test gc_pause_test gc_verify_test gc_limiter_test \
	    gc_concurrent_test gc_trace_test gc_cgroup_test gc_wslot_test \
	    gc_dirty_test gc_wbverify_test gc_signal_test
# ThreadSanitizer holds asynchronous signals back from a thread blocked in
# pthread_mutex_lock() until the call returns; the library's own waits are
# "blocked" waits that a stop of the world needs no signal for (stw.c), so
# the collector's tests run under it too -- all but two, about stopping
# threads where TSan cannot interrupt them: gc_stw_test's threads spin
# outside the library (TSan delivers a signal at an interceptor or an
# atomic it instruments), and gc_threads_test's sit in usleep() and
# pthread_join().  Both run natively, under ASan and in the VM.
ifneq (,$(findstring -fsanitize=thread,$(CFLAGS)))
GC_TESTS := $(filter-out gc_stw_test gc_threads_test,$(GC_TESTS))
endif

# The barrier's proof (gc_concurrent_test's comment): built without the
# deletion half the test must fail (a loss needs a cycle's timing to line
# up, so up to eight runs get the chance: since the worker keeps to its
# share of the CPU, four were once not enough in CI).  Run before `test`'s
# own suites, in objects of its own.  That the insertion half is redundant, and the
# full barrier's long run, are concurrent-soak's.
BARRIER_PROOF := $(TOP)/build/libgcheap-proof
.PHONY: barrier-proof concurrent-soak
barrier-proof:
	$(MAKE) --no-print-directory OUT=$(BARRIER_PROOF)/nodel \
		CFLAGS="$(CFLAGS) -DGC_BARRIER_TEST_NO_DELETION" \
		$(BARRIER_PROOF)/nodel/tests/gc_concurrent_test >/dev/null
	@for try in 1 2 3 4 5 6 7 8; do \
		GCHEAP_GCMODE=concurrent $(BARRIER_PROOF)/nodel/tests/gc_concurrent_test 5 || exit 0; \
	done; echo "barrier-proof: no deletion half, and nothing was lost in 8 runs"; exit 1

# Minutes of gc_concurrent_test with the full barrier, and without the
# insertion half; SOAK_RUNS runs of SOAK_SECONDS each.
SOAK_RUNS ?= 20
SOAK_SECONDS ?= 6
concurrent-soak: $(OUT)/tests/gc_concurrent_test
	$(MAKE) --no-print-directory OUT=$(BARRIER_PROOF)/noins \
		CFLAGS="$(CFLAGS) -DGC_BARRIER_TEST_NO_INSERTION" \
		$(BARRIER_PROOF)/noins/tests/gc_concurrent_test >/dev/null
	@fail=0; for i in $$(seq $(SOAK_RUNS)); do \
		$(OUT)/tests/gc_concurrent_test $(SOAK_SECONDS) | tail -1 | grep -q ' 0 failed' || fail=$$((fail + 1)); \
		$(BARRIER_PROOF)/noins/tests/gc_concurrent_test $(SOAK_SECONDS) | tail -1 | grep -q ' 0 failed' || fail=$$((fail + 1)); \
	done; echo "concurrent-soak: $$((2 * $(SOAK_RUNS) - fail)) passed, $$fail failed"; [ $$fail -eq 0 ]
ifeq (,$(findstring -fsanitize,$(CFLAGS)))
test: barrier-proof
endif

# gc_dirty_test is gc_concurrent_test.c built another way.
$(OUT)/tests/gc_dirty_test: tests/gc_concurrent_test.c

# The proof for marking without a barrier (tests/gc_dirty_test.c), in the
# VM, where the module tracks dirty pages: a library whose pause 2 skips
# the last dirty set must lose items in one of eight runs.  The binary
# goes to the guest's PATH (bin/); gc_dirty_proof_test runs it.
DIRTY_PROOF := $(BARRIER_PROOF)/nofinal
vmtests: $(VMOUT)/bin/gc_dirty_nofinal $(VMOUT)/gc_dirty_proof_test \
	 $(VMOUT)/gc_model_dirty_test $(VMOUT)/gc_dirty_growth_test \
	 $(VMOUT)/bin/bigheap_plain
$(VMOUT)/bin/gc_dirty_nofinal: tests/gc_dirty_test.c tests/gc_concurrent_test.c $(SRCS) $(GC_SRCS) $(HDRS) $(GC_HDRS)
	$(MAKE) --no-print-directory OUT=$(DIRTY_PROOF) \
		CFLAGS="$(CFLAGS) -DGC_DIRTY_TEST_NO_FINAL_RESCAN" $(DIRTY_PROOF)/libgcheap.a >/dev/null
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -pthread -static \
		tests/gc_dirty_test.c $(DIRTY_PROOF)/libgcheap.a -o $@
# gc_dirty_growth_test runs the big-heap benchmark's plain-store build.
$(VMOUT)/bin/bigheap_plain: ../bench/bigheap.c $(OUT)/libgcheap.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -pthread -static \
		-DBH_GCHEAP -DBH_PLAIN $< $(OUT)/libgcheap.a -lm -o $@
$(VMOUT)/gc_dirty_proof_test $(VMOUT)/gc_model_dirty_test \
$(VMOUT)/gc_dirty_growth_test: $(VMOUT)/%: tests/%
	@mkdir -p $(dir $@)
	install -m 755 $< $@

# Minutes of gc_dirty_test's mutators in dirty mode, in the VM (thousands
# of cycles; not part of check):  make -C libgcheap dirty-soak-vm, then
#   VM_MODULE=kmod/gcheap.ko scripts/vm -T 1800 build/dirty-soak
# DIRTY_SOAK_SECONDS per run (600).
DIRTY_SOAK_SECONDS ?= 600
.PHONY: dirty-soak-vm
dirty-soak-vm: vmtests
	rm -rf $(TOP)/build/dirty-soak && mkdir -p $(TOP)/build/dirty-soak/bin
	cp $(VMOUT)/gc_dirty_test $(TOP)/build/dirty-soak/bin/
	printf '#!/bin/sh\nexec gc_dirty_test %s\n' '$(DIRTY_SOAK_SECONDS)' \
		> $(TOP)/build/dirty-soak/gc_dirty_soak
	chmod +x $(TOP)/build/dirty-soak/gc_dirty_soak

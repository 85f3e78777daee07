# SPDX-License-Identifier: MIT
# The collector's part of the libgcheap build (included by Makefile).
GC_SRCS := stw.c barrier.c assist.c roots.c mark.c sweep.c pacer.c finalizer.c gctrace.c \
	   pauses.c verify.c gc.c
GC_HDRS := gc_internal.h
GC_TESTS := gc_stw_test gc_basic_test gc_model_test gc_threads_test gc_pacer_test \
	    gc_barrier_test gc_concurrent_test gc_pause_test gc_verify_test
# ThreadSanitizer holds asynchronous signals back from a thread blocked in
# pthread_cond_wait(), read() and the like until the call returns, so the
# signal-based stop-the-world can never stop such a thread under it: the
# collector's tests run natively, under ASan/UBSan and in the VM instead.
ifneq (,$(findstring -fsanitize=thread,$(CFLAGS)))
GC_TESTS :=
endif

# The barrier's proof (gc_concurrent_test's comment): built without the
# deletion half the test must fail (a loss needs a cycle's timing to line
# up, so up to four runs get the chance); without the insertion half it
# passes.  Run before `test`'s own suites, in objects of their own.
BARRIER_PROOF := $(TOP)/build/libgcheap-proof
.PHONY: barrier-proof
barrier-proof:
	$(MAKE) --no-print-directory OUT=$(BARRIER_PROOF)/nodel \
		CFLAGS="$(CFLAGS) -DGC_BARRIER_TEST_NO_DELETION" \
		$(BARRIER_PROOF)/nodel/tests/gc_concurrent_test >/dev/null
	$(MAKE) --no-print-directory OUT=$(BARRIER_PROOF)/noins \
		CFLAGS="$(CFLAGS) -DGC_BARRIER_TEST_NO_INSERTION" \
		$(BARRIER_PROOF)/noins/tests/gc_concurrent_test >/dev/null
	@for try in 1 2 3 4; do \
		GCHEAP_GCMODE=concurrent $(BARRIER_PROOF)/nodel/tests/gc_concurrent_test 5 || exit 0; \
	done; echo "barrier-proof: no deletion half, and nothing was lost in 4 runs"; exit 1
	@GCHEAP_GCMODE=concurrent $(BARRIER_PROOF)/noins/tests/gc_concurrent_test 4
	@echo "barrier-proof: the deletion half is needed, the insertion half redundant"
ifeq (,$(findstring -fsanitize,$(CFLAGS)))
test: barrier-proof
endif

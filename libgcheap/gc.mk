# SPDX-License-Identifier: MIT
# The collector's part of the libgcheap build (included by Makefile).
GC_SRCS := stw.c barrier.c roots.c mark.c sweep.c pacer.c finalizer.c gctrace.c gc.c
GC_HDRS := gc_internal.h
GC_TESTS := gc_stw_test gc_basic_test gc_model_test gc_threads_test gc_pacer_test \
	    gc_barrier_test
# ThreadSanitizer holds asynchronous signals back from a thread blocked in
# pthread_cond_wait(), read() and the like until the call returns, so the
# signal-based stop-the-world can never stop such a thread under it: the
# collector's tests run natively, under ASan/UBSan and in the VM instead.
ifneq (,$(findstring -fsanitize=thread,$(CFLAGS)))
GC_TESTS :=
endif

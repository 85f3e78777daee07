// SPDX-License-Identifier: MIT
/*
 * compat_core.h - the glue between libgc.so.1 and libgcheap's internals
 * (core_glue.c).  Kept apart from compat.h so that <gc.h> and libgcheap's
 * internal headers never meet in one translation unit.
 */
#ifndef GCHEAP_COMPAT_CORE_H
#define GCHEAP_COMPAT_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include "gcheap.h"

/* Latch the collector without a barrier for this process (before
 * gch_open): concurrent with the module's dirty bits, else stop-the-world. */
void compat_force_nobarrier(void);
/* Before gch_open: heap-profile sampling off unless GCHEAP_PROFILE is set
 * (GCHEAP_PROFILE_RATE still wins). */
void compat_profile_default(void);
/* Stop-the-world cycles from now on (mark procedures); waits for a
 * concurrent cycle to end. */
void compat_procs_stw(void);
/* Up to @want objects of @size bytes (a multiple of 16, small) into @out,
 * which must be on the caller's stack; how many (alloc.c's
 * gch_malloc_many). */
size_t compat_malloc_many(gch_heap *h, size_t size, bool noscan, void **out,
			  size_t want);
/* Whether the object starting at @p was allocated noscan. */
bool compat_is_noscan(gch_heap *h, const void *p);

/* gch_set_finalizer() in one of bdwgc's orders (finalize.c). */
enum compat_fin_order {
	COMPAT_FIN_ORDERED,	/* GC_register_finalizer */
	COMPAT_FIN_NO_ORDER,	/* GC_register_finalizer_no_order */
	COMPAT_FIN_IGNORE_SELF,	/* GC_register_finalizer_ignore_self */
};
int compat_set_finalizer(gch_heap *h, void *obj, gch_finalizer_fn fn,
			 void *arg, enum compat_fin_order order);

/* libgcheap's weak slots, for disappearing links (links.c); return values
 * as gc_wslot_register/_unregister/_move in gc_internal.h. */
int compat_link_register(gch_heap *h, void **link, const void *obj);
bool compat_link_unregister(gch_heap *h, void **link);
int compat_link_move(gch_heap *h, void **link, void **new_link);

/* GC_call_with_alloc_lock: a section no collection can stop (a stop of
 * the world waits for its end); nests.  collect.c. */
void compat_nocollect_enter(void);
void compat_nocollect_exit(void);
/* Sweep a batch of the last cycle's spans; true while some are left. */
bool compat_sweep_some(gch_heap *h);
/* Raise the collector's goal floor by @bytes (GC_expand_hp); 0 or -1. */
int compat_expand(gch_heap *h, uint64_t bytes);
/*
 * bdwgc's counters, read without the collector's lock: its getters are
 * lock-free, and programs call them inside GC_call_with_alloc_lock and
 * from the start callback, where waiting for a collection would never
 * end.  Each figure is a snapshot; they need not agree with each other.
 */
struct compat_counters {
	uint64_t gc_no;		/* collections completed */
	uint64_t span_bytes;	/* bytes in spans (heap size) */
	uint64_t alloc_bytes;	/* allocated since the heap opened */
	uint64_t free_bytes;	/* freed by sweeping since then */
	uint64_t since_gc;	/* allocated since the last cycle began */
};
void compat_counters(gch_heap *h, struct compat_counters *c);
/* bdwgc's start callback, called as each collection starts. */
void compat_set_start_callback(void (*fn)(void));
void (*compat_get_start_callback(void))(void);
/* Objects of a GC_DS_PROC kind (kinds.c): allocate one, scanned through
 * compat_proc_scan(); mark a pointer with the collector's @work while a
 * mark procedure runs; install the hook (before the heap opens). */
void *compat_malloc_proc(gch_heap *h, size_t size, uint64_t descr);
void compat_mark_ptr(void *work, uintptr_t p);
void compat_set_proc_hook(void);
/* The collector's callback for procedure-scanned objects (kinds.c). */
void compat_proc_scan(void *work, uintptr_t base, uint64_t descr);
/* The heap's address reservation [*lo, *hi): no object lies outside it. */
void compat_heap_range(gch_heap *h, uintptr_t *lo, uintptr_t *hi);

#endif

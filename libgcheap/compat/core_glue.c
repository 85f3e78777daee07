// SPDX-License-Identifier: MIT
/*
 * core_glue.c - the only file of libgc.so.1 that reads libgcheap's
 * internals (internal.h, gc_internal.h).  It is linked into the same
 * shared object as a static copy of libgcheap built from the same tree, so
 * the layouts always agree.  Two things have no public API yet:
 *
 *  - the collector mode: bdwgc programs never call gch_store(), so the
 *    concurrent collector with its write barrier would free reachable
 *    objects.  gc_mode_force_nobarrier() fixes the process's mode to the
 *    one without a barrier whatever GCHEAP_BARRIER says: concurrent with
 *    the module's dirty bits where it tracks them, stop-the-world
 *    elsewhere (the environment is left alone: child processes see what
 *    the user set).  A program that registers a mark procedure is
 *    collected stop-the-world from then on (compat_procs_stw()): bdwgc
 *    runs mark procedures only with the world stopped.
 *  - an object's kind: GC_realloc must keep an atomic object atomic (and a
 *    pointerful one pointerful), and GC_free clears pointerful objects.
 *    The span class's low bit is "noscan".
 *  - the finalizer flags (no order, ignore self) and the weak slots under
 *    bdwgc's disappearing links: libgcheap keeps them internal
 *    (gc_internal.h) until a public API needs them.
 *  - objects scanned by a procedure (custom kinds, kinds.c): allocation
 *    with a descriptor, the collector's scan hook, marking a pointer.
 *  - the heap profile's default rate: off unless GCHEAP_PROFILE names a
 *    file for it (init.c).
 *  - bdwgc's collector controls: a section no stop of the world enters
 *    (GC_call_with_alloc_lock, the allocator's no-preemption section), a
 *    sweep step (GC_collect_a_little), a floor under the goal
 *    (GC_expand_hp), the start callback, the heap's address range (the
 *    plausible-heap-address bounds).
 *
 * No locking: compat_force_nobarrier() runs inside GC_init's pthread_once, before
 * the heap exists; compat_is_noscan() reads span metadata that stays put
 * while the object is allocated (the caller holds a pointer to it).
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "internal.h"
#include "gc_internal.h"
#include "compat_core.h"

void compat_force_nobarrier(void)
{
	gc_mode_force_nobarrier();
}

void compat_profile_default(void)
{
	const char *e = getenv("GCHEAP_PROFILE");

	if (!e || !*e)
		gch_profile_default_rate = 0;
}

void compat_procs_stw(void)
{
	gc_mode_stw_from_now();
}

bool compat_is_noscan(gch_heap *h, const void *p)
{
	struct gch_span *s = gch_span_of(h, (uintptr_t)p);

	return s && (s->spanclass & 1);
}

size_t compat_malloc_many(gch_heap *h, size_t size, bool noscan, void **out,
			  size_t want)
{
	if (size < 16 || size > GCH_MAX_SMALL)
		return 0;
	return gch_malloc_many(h, size, noscan, out, want);
}

int compat_set_finalizer(gch_heap *h, void *obj, gch_finalizer_fn fn,
			 void *arg, enum compat_fin_order order)
{
	unsigned flags = order == COMPAT_FIN_NO_ORDER ? GC_FIN_NO_ORDER :
			 order == COMPAT_FIN_IGNORE_SELF ? GC_FIN_IGNORE_SELF :
			 0;

	return gc_set_finalizer_flags(h, obj, fn, arg, flags);
}

int compat_link_register(gch_heap *h, void **link, const void *obj)
{
	return gc_wslot_register(h, link, obj);
}

bool compat_link_unregister(gch_heap *h, void **link)
{
	return gc_wslot_unregister(h, link);
}

int compat_link_move(gch_heap *h, void **link, void **new_link)
{
	return gc_wslot_move(h, link, new_link);
}

void compat_nocollect_enter(void)
{
	gc_nopreempt_enter();
}

void compat_nocollect_exit(void)
{
	gc_nopreempt_exit();
}

/* About 1 ms of sweeping in the test VM; bdwgc's step is GC_rate pages. */
#define COMPAT_SWEEP_BATCH	64

bool compat_sweep_some(gch_heap *h)
{
	return gc_sweep_some(h, COMPAT_SWEEP_BATCH);
}

int compat_expand(gch_heap *h, uint64_t bytes)
{
	return gc_pacer_expand(h, bytes);
}

void compat_counters(gch_heap *h, struct compat_counters *c)
{
	struct gc_heap *g = gc_of(h);
	struct gch_heap_stats hs;

	gch_stats(h, &hs);	/* h->lock only, which no stop waits under */
	c->gc_no = g ? __atomic_load_n(&g->cycle, __ATOMIC_RELAXED) : 0;
	c->span_bytes = hs.span_bytes;
	c->alloc_bytes = hs.alloc_bytes;
	c->free_bytes = g ? gch_load(&g->free_bytes) : 0;
	c->since_gc = gch_load(&h->alloc_since_cycle);
}

void compat_set_start_callback(void (*fn)(void))
{
	gc_set_start_callback(fn);
}

void (*compat_get_start_callback(void))(void)
{
	return gc_get_start_callback();
}

void compat_heap_range(gch_heap *h, uintptr_t *lo, uintptr_t *hi)
{
	*lo = h->base;
	*hi = h->base + (uintptr_t)h->max_arenas * GCH_ARENA_SIZE;
}

void *compat_malloc_proc(gch_heap *h, size_t size, uint64_t descr)
{
	return gch_malloc_proc(h, size, descr);
}

void compat_mark_ptr(void *work, uintptr_t p)
{
	gc_mark_ptr(work, p);
}

static void proc_scan(struct gc_work *w, uintptr_t base, size_t size,
		      uint64_t descr)
{
	(void)size;
	compat_proc_scan(w, base, descr);
}

void compat_set_proc_hook(void)
{
	gc_set_proc_scan(proc_scan);
}

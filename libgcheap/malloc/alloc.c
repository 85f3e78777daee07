// SPDX-License-Identifier: MIT
/*
 * The public allocation entry points and object lookups.
 *
 * Dispatch: size 1..15 noscan -> tiny block; size <= 32 KiB -> one table
 * load for the size class, then the span-window fast path (below); larger
 * -> large.c.  All of it runs in a no-preemption section (gc_internal.h),
 * the fast path in its cheaper form (gc_alloc_fast).  Everything that can
 * fail ends in gch_alloc_failed(), which runs the out-of-memory handler
 * (no lock held) and retries once.
 *
 * Lookups go address -> page map -> span slot -> span, then divide by
 * multiplication to the slot index, and check the slot is allocated: O(1)
 * and safe on any address (nothing outside created arenas is read).
 */
#include "internal.h"
#include "gc_internal.h"

void *gch_alloc_failed(struct gch_heap *h, size_t size, unsigned spanclass)
{
	gch_oom_fn fn = gch_load(&h->oom_fn);
	void *arg = gch_load(&h->oom_arg);

	if (fn && fn(h, size, arg)) {
		void *p = spanclass >> 1 ?
			gch_mcache_refill_try(h, spanclass) :
			gch_large_try(h, size, spanclass & 1);

		if (p)
			return p;
	}
	gch_add(&h->oom_count, 1);
	errno = ENOMEM;
	return NULL;
}

static inline unsigned small_class(size_t size)
{
	return gch_size_to_class[(size + 7) >> 3];
}

/*
 * The public entry points' fast path: the lowest free slot of the window of
 * span class @sc in this thread's cache, or NULL when the window is empty.
 * A stop of the world must not park a thread between its load of the
 * window and its store of the window's new bits (the collector takes the
 * span from the cache while the thread is stopped, and the store would
 * then land in a span that is no longer the thread's), so the thread is in
 * a no-preemption section for that long -- marked by gc_tls.in_fast, two
 * stores of constants, rather than by the nesting counter: incrementing
 * and decrementing that in every allocation chained each allocation to the
 * last through memory, and cost 2.5 ns of 16 (alloc_bench, 16 B objects;
 * 15% of binary-trees).  The allocation entry points are never nested in
 * one another's fast paths, and a section around one (gch_malloc_typed)
 * keeps its counter.  A stop request that arrived meanwhile is honoured on
 * the way out, as gc_alloc_exit() does.  (A restartable sequence -- the
 * suspend handler moving an interrupted thread back to the start, as for
 * gch_store() -- saved another nanosecond, but a program's own signal
 * handler that interrupted the sequence and was itself interrupted by the
 * stop would hide the interrupted address from the suspend handler.)
 */
static inline __attribute__((always_inline)) void *
gc_alloc_fast(gch_heap *h, unsigned sc)
{
	struct gch_mcache *c = gch_mcache_of(h);
	struct gch_span *s;
	uint64_t bits;
	void *p = NULL;

	gc_tls.in_fast = 1;
	atomic_signal_fence(memory_order_seq_cst);
	s = c->alloc[sc];
	bits = s->cache;
	if (likely(bits != 0)) {
		gch_store_rlx(&s->cache, bits & (bits - 1));
		p = (void *)(s->win_addr +
			     (uintptr_t)__builtin_ctzll(bits) * s->elemsize);
	}
	atomic_signal_fence(memory_order_seq_cst);
	gc_tls.in_fast = 0;
	return p;
}

/*
 * Everything else, in a no-preemption section (gc_internal.h): an empty
 * window, tiny and large objects -- or @p, an object the fast path took
 * while a stop request or a collection became pending, handled here so
 * that the fast path keeps no register across a call.
 */
static __attribute__((noinline)) void *gch_malloc_slow(gch_heap *h,
						       size_t size,
						       unsigned noscan,
						       void *p)
{
	if (p)
		return gc_pending_slow(p);
	gc_alloc_enter();
	if (noscan && size - 1 < GCH_TINY_SIZE - 1)
		p = gch_alloc_tiny(h, size);
	else if (likely(size <= GCH_MAX_SMALL))
		p = gch_alloc_small(h, gch_spanclass(small_class(size),
						     noscan));
	else
		p = gch_large_alloc(h, size, noscan);
	return gc_alloc_exit(p);
}

void *gch_malloc(gch_heap *h, size_t size)
{
	void *p = NULL;

	if (likely(size <= GCH_MAX_SMALL)) {
		p = gc_alloc_fast(h, gch_spanclass(small_class(size), 0));
		if (likely(p && !gc_tls.pending.any))
			return p;
	}
	return gch_malloc_slow(h, size, 0, p);
}

void *gch_malloc_noscan(gch_heap *h, size_t size)
{
	void *p = NULL;

	if (likely(size - GCH_TINY_SIZE <= GCH_MAX_SMALL - GCH_TINY_SIZE)) {
		p = gc_alloc_fast(h, gch_spanclass(small_class(size), 1));
		if (likely(p && !gc_tls.pending.any))
			return p;
	}
	return gch_malloc_slow(h, size, 1, p);
}

/*
 * Up to @want zeroed objects of @size bytes (16 B to GCH_MAX_SMALL) of span
 * class pointerful or @noscan into @out; how many (0 when not even one).
 * gch_alloc_small() in a loop: one no-preemption section and one mcache
 * lookup for the batch, a window's free bits taken together, a refill
 * when they run out (a plain loop over gch_alloc_small(), which loads and
 * stores the window per object, spent 40% more here).  libgc.so.1's GC_generic_malloc_many (Guile's
 * allocation, a free list per call) spent 4% of Guile's time calling
 * gch_malloc() once per object.  The objects are only in @out until the
 * caller links them: @out must be where the collector scans (its stack),
 * for the exit from the section may collect.
 */
size_t gch_malloc_many(struct gch_heap *h, size_t size, unsigned noscan,
		       void **out, size_t want)
{
	unsigned sc = gch_spanclass(small_class(size), noscan);
	struct gch_mcache *c;
	size_t n = 0;

	gc_alloc_enter();
	c = gch_mcache_of(h);
	while (n < want) {
		struct gch_span *s = c->alloc[sc];
		uint64_t bits = s->cache;
		uintptr_t base;
		size_t esize;

		if (!bits) {
			void *p = gch_mcache_refill(h, c, sc);

			if (!p)
				break;
			out[n++] = p;
			c = gch_mcache_of(h);	/* the refill may attach */
			continue;
		}
		base = s->win_addr;
		esize = s->elemsize;
		do {
			out[n++] = (void *)(base + (uintptr_t)
					    __builtin_ctzll(bits) * esize);
			bits &= bits - 1;
		} while (bits && n < want);
		gch_store_rlx(&s->cache, bits);
	}
	gc_alloc_exit(NULL);
	return n;
}

static bool layout_has_pointers(const uint64_t *ptrmap, size_t nwords)
{
	size_t full = nwords / 64;

	for (size_t i = 0; i < full; i++)
		if (ptrmap[i])
			return true;
	return nwords % 64 && (ptrmap[full] & ((1ULL << (nwords % 64)) - 1));
}

void *gch_malloc_typed(gch_heap *h, size_t size, const uint64_t *ptrmap,
		       size_t nwords)
{
	struct gch_span *s;
	void *p;

	if (!ptrmap || !nwords) {
		errno = EINVAL;
		return NULL;
	}
	if (!layout_has_pointers(ptrmap, nwords))
		return gch_malloc_noscan(h, size);
	gc_alloc_enter();	/* collector: no collection before the layout */
	p = gch_malloc(h, size);
	if (!p)
		return gc_alloc_exit(NULL);
	s = gch_span_of(h, (uintptr_t)p);
	if (gch_span_set_ptrbits(s, (uintptr_t)p, ptrmap, nwords)) {
		/* the slot stays unreachable garbage for the collector */
		gch_add(&h->oom_count, 1);
		p = gc_alloc_exit(NULL);
		errno = ENOMEM;
		return p;
	}
	return gc_alloc_exit(p);
}

/*
 * An object the collector scans by calling gc_set_proc_scan()'s hook with
 * @descr (libgc.so.1's custom kinds), as gch_malloc otherwise.  Internal:
 * the descriptor's meaning belongs to whoever set the hook.
 */
void *gch_malloc_proc(gch_heap *h, size_t size, uint64_t descr)
{
	struct gch_span *s;
	void *p;

	gc_alloc_enter();	/* collector: no collection before the descriptor */
	p = gch_malloc(h, size);
	if (!p)
		return gc_alloc_exit(NULL);
	s = gch_span_of(h, (uintptr_t)p);
	if (gch_span_set_proc(s, (uintptr_t)p, descr)) {
		gch_add(&h->oom_count, 1);	/* the slot stays garbage */
		p = gc_alloc_exit(NULL);
		errno = ENOMEM;
		return p;
	}
	return gc_alloc_exit(p);
}

/* The slot containing @p, or NULL. */
static struct gch_span *find_object(struct gch_heap *h, const void *p,
				    uintptr_t *base)
{
	uintptr_t a = (uintptr_t)p;
	struct gch_span *s = gch_span_of(h, a);
	uint32_t idx;

	if (!s || gch_load(&s->state) != GCH_SPAN_INUSE)
		return NULL;
	idx = gch_span_index(s, a);
	if (idx >= s->nelems || !gch_span_slot_allocated(s, idx))
		return NULL;
	*base = s->base + idx * s->elemsize;
	return s;
}

void *gch_base(gch_heap *h, const void *p)
{
	uintptr_t base;

	return find_object(h, p, &base) ? (void *)base : NULL;
}

size_t gch_size(gch_heap *h, const void *p)
{
	uintptr_t base;
	struct gch_span *s = find_object(h, p, &base);

	return s ? s->elemsize : 0;
}

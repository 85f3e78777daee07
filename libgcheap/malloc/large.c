// SPDX-License-Identifier: MIT
/*
 * Large objects (over 32 KiB): each gets a span of its own straight from the
 * page layer, rounded up to whole 8 KiB pages, as Go's largeAlloc does.
 *
 * The span is a one-slot span of size class 0 (span class 0 or 1 for
 * noscan), already full when handed out, and goes on its central's full
 * swept list so that the sweeper finds it like any other span; freeing a
 * dead large object gives its span straight back to the page layer.
 *
 * Size: anything the heap's address space holds (h->max_arenas arenas, 64
 * GiB at most; GCH_MAX_OBJECT is that most).  A span longer than an arena
 * runs over consecutive arenas (the page layers' top comments); nothing
 * here or in the collector depends on where arenas begin: the span's base,
 * length and the page map are all it uses.
 *
 * Reclaim first (gc_sweep_reclaim, Go's mheap.reclaim): while the last
 * cycle's sweep is pending, dead objects may be waiting for the sweeper
 * (20 ms after the cycle, or for the allocations that sweep), so before a
 * span is asked for, a batch of unswept spans is swept.  An object over an
 * arena asks for a run that only coalesced free pages give: for it the
 * sweep goes on until as many bytes went back to the page layer as the
 * object needs, or none is left.  Taking new arenas while a dead gigabyte
 * waits would double the footprint of a program that drops one huge
 * buffer and makes the next.
 *
 * Zeroing: the page layer says whether the span is known to be zero (never
 * touched since the kernel got the pages); only otherwise is it cleared.
 *
 * No lock of ours is taken except the central's, for the list push; the
 * page layer serialises itself.
 */
#include <string.h>

#include "internal.h"
#include "gc_internal.h"

void *gch_large_try(struct gch_heap *h, size_t size, unsigned noscan)
{
	struct gch_mcache *c = gch_mcache_attach(h);
	unsigned sc = gch_spanclass(0, noscan);
	struct gch_span *s;
	uint32_t npages;

	if (!c)
		return NULL;
	/* also keeps the page count below from overflowing */
	if (size > GCH_MAX_OBJECT ||
	    size > (size_t)h->max_arenas << GCH_ARENA_SHIFT) {
		errno = ENOMEM;
		return NULL;
	}
	npages = (uint32_t)((size + GCH_PAGE_SIZE - 1) >> GCH_PAGE_SHIFT);
	gc_sweep_reclaim(h, npages);
	s = gch_span_new(h, sc, npages);
	if (!s)
		return NULL;
	if (s->needzero) {
		memset((void *)s->base, 0, s->elemsize);
		s->needzero = 0;
	}
	/* the one slot is taken: close the window over it */
	gch_store_rlx(&s->cache, 0);
	gch_span_close_window(s);
	/* sampled before the span is on a list the sweeper walks */
	if (h->prof_rate)
		gch_profile_large(h, c, s);
	gch_mcentral_push_full(h, &h->central[sc], s);

	gch_store_rlx(&c->large_bytes, c->large_bytes + s->elemsize);
	gch_store_rlx(&c->large_objects, c->large_objects + 1);
	gch_mcache_account(h, c, s->elemsize, 1);
	return (void *)s->base;
}

void *gch_large_alloc(struct gch_heap *h, size_t size, unsigned noscan)
{
	void *p = gch_large_try(h, size, noscan);

	if (unlikely(!p))
		return gch_alloc_failed(h, size, gch_spanclass(0, noscan));
	return p;
}

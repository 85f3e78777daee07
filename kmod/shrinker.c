// SPDX-License-Identifier: GPL-2.0
/*
 * The shrinker: under memory pressure, reclaim takes the memory of free heap
 * pages from every heap at once.
 *
 * Objects are system pages backing free heap pages (heap->free_resident_pages
 * summed over the registry, scavenger.c).  They hold no data anybody may
 * read: the next touch of a free page gets a zero page.  So they cost nothing
 * to "recreate" and seeks is 0, which makes reclaim ask for half of them per
 * pass instead of a priority-scaled sliver.  Live spans are never touched:
 * the walk only visits pages whose used bit is clear, under heap->lock.
 *
 * A scan splits nr_to_scan over the heaps in proportion to their free
 * resident memory and releases each share highest-address first (the same
 * clock-hand walk as the scavenger: the coldest free pages go first).
 *
 * Reclaim safety: scan may run inside any allocation, including the fault
 * handler's page allocation in one of our heaps, and a task that waits for
 * heap->lock may itself be in reclaim.  So it only mutex_trylock()s
 * heap->lock (a busy heap is skipped; SHRINK_STOP if nothing could be done),
 * and under it the release path only trylocks pages, takes the spinning
 * res_lock and, to zap PTEs, i_mmap_rwsem for read, which no path holds for
 * write while allocating memory.  Nothing here allocates memory.  Heaps are
 * pinned, never freed under us, and teardown waits for the pin.
 */
#include <linux/mm.h>
#include <linux/shrinker.h>
#include <linux/math64.h>
#include "gcheap.h"
#include "gcheap_trace.h"

static unsigned long gch_shrink_count(struct shrinker *s,
				      struct shrink_control *sc)
{
	unsigned long n = gch_heaps_free_resident();

	return n ? n : SHRINK_EMPTY;
}

/* Release up to @want system pages of @heap's free memory, if it is not busy. */
static unsigned long gch_shrink_heap(struct gch_heap *heap, unsigned long want)
{
	unsigned long got;
	u64 ns;

	if (!mutex_trylock(&heap->lock))
		return 0;
	got = gch_release_free(heap, want, GCH_RELEASE_SHRINK, &ns);
	mutex_unlock(&heap->lock);
	if (got)
		trace_gcheap_pages_release(heap, (u64)got << PAGE_SHIFT, ns,
					   GCH_RELEASE_SHRINK);
	return got;
}

static unsigned long gch_shrink_scan(struct shrinker *s,
				     struct shrink_control *sc)
{
	unsigned long total = gch_heaps_free_resident();
	unsigned long want = sc->nr_to_scan, freed = 0, free, share, got;
	unsigned int i, n = gch_heaps_count();
	struct gch_heap *heap;

	for (i = 0; i < n && freed < want && total; i++) {
		heap = gch_heap_pin_next();
		if (!heap)
			break;
		free = READ_ONCE(heap->free_resident_pages);
		share = 0;
		got = 0;
		if (free) {
			share = mul_u64_u64_div_u64(want, free, total);
			share = clamp(share, 1UL, want - freed);
			got = gch_shrink_heap(heap, share);
		}
		trace_gcheap_shrink_scan(heap, share, got);
		gch_heap_unpin(heap);
		freed += got;
	}
	/* nothing freed: every heap was busy or empty, stop asking this round */
	return freed ? freed : SHRINK_STOP;
}

static struct shrinker gch_shrinker = {
	.count_objects = gch_shrink_count,
	.scan_objects = gch_shrink_scan,
	.seeks = 0,
};

int gch_shrinker_init(void)
{
	return register_shrinker(&gch_shrinker, "gcheap");
}

void gch_shrinker_exit(void)
{
	unregister_shrinker(&gch_shrinker);
}

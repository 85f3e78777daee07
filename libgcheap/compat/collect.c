// SPDX-License-Identifier: MIT
/*
 * collect.c - explicit collection and the heap statistics bdwgc reports.
 *
 * Maps onto gch_gc(), gch_wait_finalizers() and the counters of
 * gch_stats()/gch_gc_stats().  bdwgc's figures, in libgcheap's terms:
 *   heap size      bytes in spans (pages holding objects, free slots
 *                  included); pages the page layer holds free or gave back
 *                  are not in it, so GC_get_unmapped_bytes() is 0
 *   free bytes     heap size minus bytes in allocated slots (garbage not
 *                  yet swept counts as allocated, as in bdwgc between
 *                  collections)
 *   total bytes    bytes allocated since the heap opened (by slot size)
 *   gc_no          collections completed
 * Locking: none of its own; the queries are snapshots.
 */
#include "compat.h"

/*
 * bdwgc's GC_gcollect: a full collection, unless collections are
 * disabled, then the finalizers it found run on this thread (or the
 * notifier hears of them under finalize_on_demand).
 */
void GC_gcollect(void)
{
	gch_heap *h = compat_heap();

	if (GC_is_disabled())
		return;
	gch_gc(h);
	gch_wait_finalizers(h);	/* they are queued for us when it returns */
	compat_fin_poll();
}

/* Pages are handed back by libgcheap's scavenger (kernel backend) on its
 * own; a full collection is what this can add. */
void GC_gcollect_and_unmap(void)
{
	GC_gcollect();
}

static struct gch_gc_stats gc_stats(void)
{
	struct gch_gc_stats st = { 0 };

	gch_gc_stats(compat_heap(), &st);
	return st;
}

GC_word GC_get_gc_no(void)
{
	return gc_stats().cycles;
}

size_t GC_get_heap_size(void)
{
	struct gch_heap_stats st;

	gch_stats(compat_heap(), &st);
	return st.span_bytes;
}

size_t GC_get_free_bytes(void)
{
	struct gch_gc_stats st = gc_stats();
	uint64_t in_use = st.alloc_bytes - st.free_bytes;

	return in_use < st.heap_span_bytes ? st.heap_span_bytes - in_use : 0;
}

size_t GC_get_unmapped_bytes(void)
{
	return 0;
}

size_t GC_get_total_bytes(void)
{
	return gc_stats().alloc_bytes;
}

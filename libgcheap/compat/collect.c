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
 * Locking: none of its own; the queries are snapshots, taken without the
 * collector's lock (compat_counters), so they may be called inside
 * GC_call_with_alloc_lock and from the start callback, as bdwgc allows.
 */
#include <stdio.h>

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

/* The getters below are lock-free, as bdwgc's are (compat_counters). */
static struct compat_counters counters(void)
{
	struct compat_counters c;

	compat_counters(compat_heap(), &c);
	return c;
}

GC_word GC_get_gc_no(void)
{
	return counters().gc_no;
}

size_t GC_get_heap_size(void)
{
	return counters().span_bytes;
}

static size_t free_of(const struct compat_counters *c)
{
	uint64_t in_use = c->alloc_bytes - c->free_bytes;

	return in_use < c->span_bytes ? c->span_bytes - in_use : 0;
}

size_t GC_get_free_bytes(void)
{
	struct compat_counters c = counters();

	return free_of(&c);
}

size_t GC_get_unmapped_bytes(void)
{
	return 0;
}

size_t GC_get_total_bytes(void)
{
	return counters().alloc_bytes;
}

/*
 * bdwgc's incremental step: some of the collector's pending work, 1 while
 * more is left.  Marking is never the caller's to do here (a cycle marks
 * on the library's worker, or stops the world: README.md), so the pending
 * work is the last cycle's sweep, done a batch at a time.
 */
int GC_collect_a_little(void)
{
	return compat_sweep_some(compat_heap()) ? 1 : 0;
}

/*
 * bdwgc grows its heap by @bytes, so that collections wait until the
 * program has used that room.  libgcheap's heap grows on demand; what the
 * call changes is the collector's goal, which will not fall below the sum
 * of all expansions (4 MiB when none).  0 when the room would pass the
 * maximum heap size (GC_set_max_heap_size), as bdwgc fails to expand.
 */
int GC_expand_hp(size_t bytes)
{
	gch_heap *h = compat_heap();
	GC_word max = compat_max_heap();

	if (max && (bytes > max || GC_get_heap_size() > max - bytes))
		return 0;
	return compat_expand(h, bytes) ? 0 : 1;
}

void GC_get_heap_usage_safe(GC_word *heap_size, GC_word *free_bytes,
			    GC_word *unmapped_bytes, GC_word *since_gc,
			    GC_word *total_bytes)
{
	struct compat_counters c = counters();

	if (heap_size)
		*heap_size = c.span_bytes;
	if (free_bytes)
		*free_bytes = free_of(&c);
	if (unmapped_bytes)
		*unmapped_bytes = 0;
	if (since_gc)
		*since_gc = c.since_gc;
	if (total_bytes)
		*total_bytes = c.alloc_bytes;
}

/*
 * A collection's start, told to the program: fn runs on the collecting
 * thread before any other thread is stopped, with the collector's lock
 * held; like bdwgc's it must not allocate or call into the collector.
 */
void GC_set_start_callback(GC_start_callback_proc fn)
{
	compat_set_start_callback(fn);
}

GC_start_callback_proc GC_get_start_callback(void)
{
	return compat_get_start_callback();
}

/*
 * @fn runs while no collection can run: a collection that starts on
 * another thread waits for it to return before it stops this one (bdwgc
 * holds its allocation lock).  As in bdwgc, @fn must not allocate.
 */
void *GC_call_with_alloc_lock(GC_fn_type fn, void *cd)
{
	void *r;

	compat_heap();
	compat_nocollect_enter();
	r = fn(cd);
	compat_nocollect_exit();
	return r;
}

/* bdwgc's GC_dump: the heap's state on stdout, for a person to read. */
void GC_dump(void)
{
	gch_heap *h = compat_heap();
	struct gch_heap_stats hs;
	struct gch_gc_stats gs = gc_stats();
	uintptr_t lo, hi;

	gch_stats(h, &hs);
	compat_heap_range(h, &lo, &hi);
	printf("***Heap (gcheap, %s backend): reservation %#lx-%#lx\n",
	       gch_backend_name(h), (unsigned long)lo, (unsigned long)hi);
	printf("  bytes in spans %lu, resident %lu, free in spans %lu\n",
	       (unsigned long)hs.span_bytes, (unsigned long)gs.resident_bytes,
	       (unsigned long)GC_get_free_bytes());
	printf("  objects %lu, allocated %lu bytes in total\n",
	       (unsigned long)gs.heap_objects, (unsigned long)gs.alloc_bytes);
	printf("***Collections: %lu, goal %lu bytes, live after the last %lu\n",
	       (unsigned long)gs.cycles, (unsigned long)gs.heap_goal_bytes,
	       (unsigned long)gs.heap_live_bytes);
	printf("  pauses: %lu, longest %lu ns, total %lu ns\n",
	       (unsigned long)gs.pauses, (unsigned long)gs.pause_max_ns,
	       (unsigned long)gs.pause_total_ns);
	fflush(stdout);
}

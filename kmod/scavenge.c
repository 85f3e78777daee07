// SPDX-License-Identifier: GPL-2.0
/*
 * Scavenging: giving the memory of free heap pages back to the system while
 * their address space stays mapped (the next touch faults in a zero page).
 *
 * Policy: a heap may keep free resident memory up to a retained budget so
 * that the allocator is not starved: like Go, the heap retains about 10% over
 * its goal, budget = goal * 110% - bytes in spans (never negative).  The goal
 * is the one userspace set (GCH_IOC_LIMITS goal_bytes or GCH_IOC_GC_PHASE
 * heap_goal) or GCH_DEFAULT_GOAL_BYTES.  GCH_SCAVENGE_ALL ignores the budget.
 *
 * Order: arenas from the highest down.  Allocation is address-ordered first
 * fit, so high free pages are the ones least likely to be reused soon.
 *
 * Locking: the whole pass runs under heap->lock, which keeps every free run
 * it walks free while gch_release_range() takes its memory; faults are not
 * blocked (they never take heap->lock).
 */
#include <linux/bitmap.h>
#include <linux/ktime.h>
#include "gcheap.h"
#include "gcheap_trace.h"

/* The goal when userspace gave none: Go's minimum heap goal. */
#define GCH_DEFAULT_GOAL_BYTES	(4ULL << 20)

u64 gch_goal_bytes(const struct gch_heap *heap)
{
	return heap->goal_bytes ? heap->goal_bytes : GCH_DEFAULT_GOAL_BYTES;
}

/*
 * Bytes of free resident memory the heap may keep.  Without a goal from
 * userspace, what the spans use now stands in for it (at least the default
 * goal), so a heap whose program never talks to us keeps 10% slack.
 */
u64 gch_retained_budget(struct gch_heap *heap)
{
	u64 used = heap->span_pages * GCH_PAGE_SIZE;
	u64 goal = heap->goal_bytes ? heap->goal_bytes :
				      max(GCH_DEFAULT_GOAL_BYTES, used);
	u64 keep = goal / 10 * 11;

	lockdep_assert_held(&heap->lock);
	return keep > used ? keep - used : 0;
}

/* Release free pages of @arena, up to @max_sys system pages. */
static unsigned long gch_scavenge_arena(struct gch_heap *heap,
					struct gch_arena *arena,
					unsigned long max_sys)
{
	unsigned long done = 0, start, end = 0;

	lockdep_assert_held(&heap->lock);
	while (done < max_sys && READ_ONCE(arena->resident)) {
		start = find_next_zero_bit(arena->used, GCH_PAGES_PER_ARENA,
					   end);
		if (start >= GCH_PAGES_PER_ARENA)
			break;
		end = find_next_bit(arena->used, GCH_PAGES_PER_ARENA, start);
		done += gch_release_range(heap, arena, start, end - start,
					  max_sys - done);
	}
	return done;
}

/*
 * Release free resident memory of @heap now: at most @max_bytes (0: no cap),
 * keeping the retained budget unless @all.  Returns the bytes released.
 */
u64 gch_scavenge(struct gch_heap *heap, u64 max_bytes, bool all,
		 enum gch_release_reason reason)
{
	unsigned long target, done = 0;
	u64 free_res, budget, ns;
	int i;

	ns = ktime_get_ns();
	mutex_lock(&heap->lock);
	spin_lock(&heap->res_lock);
	free_res = heap->free_resident_pages << PAGE_SHIFT;
	spin_unlock(&heap->res_lock);

	budget = all ? 0 : gch_retained_budget(heap);
	/* round up: what stays resident is at most the budget */
	target = free_res > budget ? DIV_ROUND_UP(free_res - budget, PAGE_SIZE) :
				     0;
	if (max_bytes)
		target = min_t(u64, target, max_bytes >> PAGE_SHIFT);

	for (i = GCH_MAX_ARENAS - 1; i >= 0 && done < target; i--)
		if (heap->arenas[i])
			done += gch_scavenge_arena(heap, heap->arenas[i],
						   target - done);

	ns = ktime_get_ns() - ns;
	heap->scavenge_ns += ns;
	if (reason == GCH_RELEASE_IOCTL)
		heap->released_ioctl_bytes += (u64)done << PAGE_SHIFT;
	mutex_unlock(&heap->lock);

	if (done)
		trace_gcheap_pages_release(heap, (u64)done << PAGE_SHIFT, ns,
					   reason);
	return (u64)done << PAGE_SHIFT;
}

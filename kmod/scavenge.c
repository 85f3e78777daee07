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
 * Order: the scavenger's walk (scavenger.c), from the highest free page
 * down.  Allocation is address-ordered first fit, so high free pages are the
 * ones least likely to be reused soon.
 *
 * Locking: each step runs under heap->lock, which keeps every free run it
 * walks free while gch_release_range() takes its memory; faults are not
 * blocked (they never take heap->lock).
 */
#include <linux/overflow.h>
#include <linux/sched.h>
#include "gcheap_priv.h"
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
 * goal), so a heap whose program never talks to us keeps 10% slack.  Goals
 * are any u64 userspace chose: goal + goal / 10 saturates, so a larger goal
 * never keeps less.
 */
u64 gch_retained_budget(struct gch_heap *heap)
{
	u64 used = heap->span_pages * GCH_PAGE_SIZE;
	u64 goal = heap->goal_bytes ? heap->goal_bytes :
				      max(GCH_DEFAULT_GOAL_BYTES, used);
	u64 keep;

	lockdep_assert_held(&heap->lock);
	if (check_add_overflow(goal, goal / 10, &keep))
		keep = U64_MAX;
	return keep > used ? keep - used : 0;
}

/* System pages above the retained budget (all free ones with @all). */
static unsigned long gch_scavenge_target(struct gch_heap *heap, bool all)
{
	u64 free_res, budget;

	lockdep_assert_held(&heap->lock);
	spin_lock(&heap->res_lock);
	free_res = heap->free_resident_pages << PAGE_SHIFT;
	spin_unlock(&heap->res_lock);
	budget = all ? 0 : gch_retained_budget(heap);
	/* round up: what stays resident is at most the budget */
	return free_res > budget ? DIV_ROUND_UP(free_res - budget, PAGE_SIZE) :
				   0;
}

/*
 * Release free resident memory of @heap now: at most @max_bytes (0: no cap),
 * keeping the retained budget unless @all.  Returns the bytes released.
 *
 * The target is fixed at the start; the work goes in steps of at most
 * GCH_SCAV_CHUNK system pages, each under heap->lock, along the scavenger's
 * clock-hand walk, so a whole-heap pass never holds the lock for long (the
 * shrinker sleeps on it) and no step walks what an earlier one released.
 */
u64 gch_scavenge(struct gch_heap *heap, u64 max_bytes, bool all,
		 enum gch_release_reason reason)
{
	unsigned long target, done = 0, got;
	u64 ns, total_ns = 0;

	mutex_lock(&heap->lock);
	target = gch_scavenge_target(heap, all);
	if (max_bytes)
		target = min_t(u64, target, max_bytes >> PAGE_SHIFT);
	while (done < target) {
		got = gch_release_free(heap, min_t(unsigned long, target - done,
						   GCH_SCAV_CHUNK),
				       NULL, reason, &ns);
		total_ns += ns;
		done += got;
		if (!got || done >= target)
			break;
		mutex_unlock(&heap->lock);
		cond_resched();
		mutex_lock(&heap->lock);
	}
	mutex_unlock(&heap->lock);

	if (done)
		trace_gcheap_pages_release(heap, (u64)done << PAGE_SHIFT,
					   total_ns, reason);
	return (u64)done << PAGE_SHIFT;
}

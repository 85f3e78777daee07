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
 * walks free while gch_release_down() takes its memory; faults are not
 * blocked (they never take heap->lock).
 *
 * The release primitive: one zap per run
 * --------------------------------------
 * gch_release_down() gives back the memory of a free run from its top down,
 * in two moves:
 *
 *  1. take: under res_lock, each page is trylocked, cleared from the table
 *     and uncounted, a batch at a time (a heap page left with no resident
 *     system page holds zeroes: its dirty bit is cleared, dirty.c); after
 *     res_lock is dropped each is unlocked and the table's reference
 *     dropped with one release_pages() per batch (a page nobody maps is
 *     freed there, batched);
 *  2. zap: one unmap_mapping_range() over everything taken in the run (at
 *     most the caller's chunk), whose mmu_gather drops the mapping's
 *     reference and frees the pages in batches after the TLB flush.
 *
 * Measured in the TCG guest (bench/kmod-scavenge.md), the zaps were 88-97%
 * of the scavenger's release time when the release (then in arena.c) zapped
 * each 16-heap-page window on its own: eight TLB flushes per MiB, and when
 * the releasing thread is not the owner (the scavenger thread), a flush is
 * an IPI to every CPU running the owner's threads, which costs milliseconds
 * there when the target vCPU is not running.  One zap per step makes that
 * one flush per MiB for the ioctl and the shrinker (GCH_SCAV_CHUNK) and one
 * per 4 MiB for the thread.
 *
 * Why the page lock need not be held across the zap (the old release held
 * it; arena.c's "Fault vs. release" has the fault's side): a
 * fault keeps the page locked from its check that the table still holds the
 * page until its PTE is in.  A page we could trylock is therefore in no
 * fault's window: a fault that looked it up before we cleared the entry
 * finds the entry changed once it gets the lock and retries, one that looks
 * later finds the entry empty.  So every PTE of a taken page was installed
 * before it left the table, and the zap (still under heap->lock, which
 * keeps the range free) removes them all.  A fresh page a racing fault
 * installs meanwhile may lose its PTE to the zap too; it stays in the table
 * and faults back in.  Until the zap, a taken page is kept alive by its
 * mapping's reference alone, and only userspace touching free heap memory
 * can see it.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include "gcheap_priv.h"
#include "gcheap_trace.h"

/* Pages taken per res_lock hold (and per release_pages()); on the stack. */
#define GCH_TAKE_BATCH		64

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

/* Whether release may take @page: charged to @only's cgroup, if given. */
static bool gch_take_wanted(struct page *page, struct gch_mcg *only)
{
	if (only && gch_page_objcg(page) != only->objcg)
		return false;
	/*
	 * A pinned page (O_DIRECT, io_uring) would not be freed by dropping
	 * it, only hidden from the pin's holder: it stays until unpinned.
	 */
	return !folio_maybe_dma_pinned(page_folio(page));
}

/*
 * Move 1: take up to @max pages of system pages [lo, *pos) of @arena out of
 * the table, from the top down, into @batch.  *pos becomes the lowest index
 * looked at (lo once the range or the arena is done); *@top is one above
 * the highest page taken, *@low the lowest.  A page whose lock is held (a
 * fault is installing it) stays in the table.
 */
static unsigned int gch_take_down(struct gch_heap *heap,
				  struct gch_arena *arena, unsigned int lo,
				  unsigned int *pos, unsigned int *top,
				  unsigned int *low, struct page **batch,
				  unsigned int max, struct gch_mcg *only)
{
	unsigned int n = 0, i = *pos;
	struct page *page;

	spin_lock(&heap->res_lock);
	while (i > lo && n < max && arena->resident) {
		page = arena->pages[--i];
		if (!page || !gch_take_wanted(page, only) || !trylock_page(page))
			continue;
		arena->pages[i] = NULL;
		gch_dirty_page_gone(heap, arena, i);
		arena->resident--;
		gch_mcg_account(heap, page, -1);
		if (!n)
			*top = i + 1;
		batch[n++] = page;
		*low = i;
	}
	heap->resident_pages -= n;
	*pos = arena->resident ? i : lo;
	spin_unlock(&heap->res_lock);
	return n;
}

/*
 * Release the memory of system pages [lo, *hi) of @arena, from the top
 * down, at most @max_sys pages, only those charged to @only's cgroup if
 * given, with one zap for all of them (see the top comment).  The caller
 * holds heap->lock and the range is in no span.  Returns the pages
 * released; *@hi becomes where the walk stopped (@lo when it is done).
 */
unsigned long gch_release_down(struct gch_heap *heap, struct gch_arena *arena,
			       unsigned int lo, unsigned int *hi,
			       unsigned long max_sys, struct gch_mcg *only)
{
	loff_t base = (loff_t)arena->index << GCH_ARENA_SHIFT;
	unsigned int pos = *hi, top = 0, first_top = 0, low = 0, i, n;
	struct page *batch[GCH_TAKE_BATCH];
	unsigned long done = 0;

	lockdep_assert_held(&heap->lock);
	while (pos > lo && done < max_sys) {
		n = gch_take_down(heap, arena, lo, &pos, &top, &low, batch,
				  min_t(unsigned long, GCH_TAKE_BATCH,
					max_sys - done), only);
		if (!n)
			continue;	/* pos is lo now: the range is done */
		if (!done)
			first_top = top;
		for (i = 0; i < n; i++)
			unlock_page(batch[i]);
		/* the table's references; mapped pages live on until the zap */
		release_pages(batch, n);
		done += n;
	}
	/* move 2: [low, first_top) holds every page taken */
	if (done)
		unmap_mapping_range(heap->inode->i_mapping,
				    base + ((loff_t)low << PAGE_SHIFT),
				    (loff_t)(first_top - low) << PAGE_SHIFT, 1);
	*hi = pos;
	return done;
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

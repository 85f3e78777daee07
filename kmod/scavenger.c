// SPDX-License-Identifier: GPL-2.0
/*
 * The background scavenger: one kernel thread ("gcheap_scavd") that gives the
 * memory of free heap pages back to the system, for every heap, paced.
 *
 * Heap registry
 * -------------
 * Every heap is on gch_heaps from open() until ->release(); the list and
 * each heap->heaps_node are protected by gch_heaps_lock (a spinlock: the
 * shrinker walks the list from reclaim).  The scavenger and the shrinker
 * never keep the lock while they work: they pin a heap (heap->heaps_pins,
 * taken under the lock, so only while the heap is listed), drop the lock,
 * work, and unpin.  Teardown unlinks the heap and then waits for its pins to
 * reach zero, so a pinned heap is never freed, and a heap being destroyed is
 * never pinned again.  Visiting moves the heap to the list's tail: the list
 * is a round-robin queue shared by both users.
 *
 * Policy
 * ------
 * A heap may keep free resident memory up to its retained budget
 * (gch_retained_budget(): goal + 10% - bytes in spans, Go's rule).  Above
 * it the thread releases in steps of at most GCH_SCAV_STEP system pages
 * (4 MiB), each under heap->lock and with one zap per free run
 * (gch_release_down(), scavenge.c), and paces itself: it measures the time
 * its steps take and, once a period's quantum is spent, sleeps
 * time * (100 - cpu_pct) / cpu_pct, so it uses about cpu_pct percent of one
 * CPU.  The quantum is interval * cpu_pct / 100, but at least
 * GCH_SCAV_MIN_WORK_NS (20 ms): each wake-up has a fixed cost, and at 1% of
 * 10 ms (0.1 ms) a wake-up per step made a paced MiB cost several times an
 * unpaced one (bench/kmod-scavenge.md).  Bigger bursts with longer sleeps
 * keep the share and the rate, and cut the wake-ups, TLB flushes and their
 * IPIs per MiB.  A heap whose resident memory is above its soft limit is
 * worked eagerly instead: step after step, with no sleep and ignoring the
 * budget, until it is under the limit or has no free resident memory left
 * (taking turns with other heaps every GCH_SCAV_EAGER_STEPS steps).  Between
 * GCH_GC_MARK_START and GCH_GC_SWEEP_END a heap is left alone (both modes),
 * as the uAPI promises, so the collector's view of the heap stays still.
 * With nothing to do the thread sleeps until kicked (span frees, limits and
 * GC phases kick it) or for GCH_SCAV_IDLE, which catches budgets that shrink
 * as spans grow.
 *
 * Order: from the highest heap page down, with a per-heap cursor that wraps
 * (a clock hand).  Allocation is address-ordered first fit, so the highest
 * free pages are the ones the allocator will reuse last; the shrinker uses
 * the same walk, so under pressure the coldest free memory goes first.
 *
 * Locking: the walk runs under heap->lock, which keeps every free run it
 * sees free while gch_release_down() takes its memory (see scavenge.c for
 * release against faults).  heap->scav_cursor and the released_* counters
 * are heap->lock's.
 */
#include <linux/kthread.h>
#include <linux/freezer.h>
#include <linux/moduleparam.h>
#include <linux/wait.h>
#include <linux/wait_bit.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/bitmap.h>
#include <linux/list.h>
#include "gcheap_priv.h"
#include "gcheap_trace.h"

/*
 * GCH_SCAV_CHUNK (gcheap_priv.h): system pages one step of the ioctl and the
 * shrinker may release (1 MiB); reclaim waits for the lock at most one step.
 */
/*
 * System pages one step of the thread may release: one heap->lock hold and
 * one zap (TLB flush) per free run.  Measured in the TCG guest
 * (bench/kmod-scavenge.md), a flush issued from this thread costs an IPI to
 * every CPU running the owner's threads (0.25-2 ms there), and waking up
 * costs about 0.3 ms: both are per step, so a paced step that released 1 MiB
 * (GCH_SCAV_CHUNK) paid several times what the same MiB costs inside a long
 * unpaced pass.  4 MiB per step makes them a quarter; the hold stays bounded
 * (the longest measured is in the bench notes).
 */
#define GCH_SCAV_STEP		(4 * GCH_SCAV_CHUNK)
/*
 * The least work a paced wake-up does (if there is that much to do) before
 * it sleeps work * (100 - pct) / pct, in steps with heap->lock dropped and
 * cond_resched() in between.  The first step after a sleep runs cold: in
 * the TCG guest a paced MiB cost 1.3-2.4x an unpaced one with 4 ms bursts,
 * about the same with 40 ms (bench/kmod-scavenge.md).  20 ms: at the
 * default 1% the thread sleeps about 2 s between bursts.  Go's scavenger
 * does the same with 1 ms (minScavWorkTime).
 */
#define GCH_SCAV_MIN_WORK_NS	(20 * NSEC_PER_MSEC)
/*
 * A paced sleep is cut into slices this long, and ends early when a heap is
 * above its soft limit: eager work never waits for the pacing of the rest
 * (before the 20 ms bursts it waited about 70 ms; now at most this).
 */
#define GCH_SCAV_EAGER_POLL_NS	(100 * NSEC_PER_MSEC)
/* Eager steps on one heap per visit, so other heaps get their turn. */
#define GCH_SCAV_EAGER_STEPS	64
/* Sleep with nothing to do, unless kicked. */
#define GCH_SCAV_IDLE		HZ

static LIST_HEAD(gch_heaps);
static DEFINE_SPINLOCK(gch_heaps_lock);
static unsigned int gch_nheaps;		/* gch_heaps_lock */

static struct task_struct *gch_scavd;
static DECLARE_WAIT_QUEUE_HEAD(gch_scav_wq);
static bool gch_scav_kicked;

/* ---- module parameters: /sys/module/gcheap/parameters/scavenger* ---- */

static bool gch_scav_on = true;
static unsigned int gch_scav_cpu_pct = 1;
static unsigned int gch_scav_interval_ms = 10;

static int gch_scav_set_bool(const char *val, const struct kernel_param *kp)
{
	int err = param_set_bool(val, kp);

	if (!err)
		gch_scavenger_kick();
	return err;
}

static int gch_scav_set_pct(const char *val, const struct kernel_param *kp)
{
	int err = param_set_uint_minmax(val, kp, 1, 100);

	if (!err)
		gch_scavenger_kick();
	return err;
}

static int gch_scav_set_interval(const char *val, const struct kernel_param *kp)
{
	int err = param_set_uint_minmax(val, kp, 1, 1000);

	if (!err)
		gch_scavenger_kick();
	return err;
}

static const struct kernel_param_ops gch_scav_bool_ops = {
	.set = gch_scav_set_bool,
	.get = param_get_bool,
};

static const struct kernel_param_ops gch_scav_pct_ops = {
	.set = gch_scav_set_pct,
	.get = param_get_uint,
};

static const struct kernel_param_ops gch_scav_interval_ops = {
	.set = gch_scav_set_interval,
	.get = param_get_uint,
};

module_param_cb(scavenger, &gch_scav_bool_ops, &gch_scav_on, 0644);
MODULE_PARM_DESC(scavenger, "Run the background scavenger (default Y)");
module_param_cb(scavenger_cpu_pct, &gch_scav_pct_ops, &gch_scav_cpu_pct, 0644);
MODULE_PARM_DESC(scavenger_cpu_pct,
		 "Percent of one CPU the paced scavenger may use, 1..100 (default 1)");
module_param_cb(scavenger_interval_ms, &gch_scav_interval_ops,
		&gch_scav_interval_ms, 0644);
MODULE_PARM_DESC(scavenger_interval_ms,
		 "Pacing period in ms, 1..1000 (default 10)");

/* ---- heap registry ---- */

void gch_heap_register(struct gch_heap *heap)
{
	atomic_set(&heap->heaps_pins, 0);
	spin_lock(&gch_heaps_lock);
	list_add_tail(&heap->heaps_node, &gch_heaps);
	gch_nheaps++;
	spin_unlock(&gch_heaps_lock);
}

/* Unlink @heap and wait until neither the scavenger nor the shrinker uses it. */
void gch_heap_unregister(struct gch_heap *heap)
{
	/* a heap torn down before gch_heap_register() was never listed */
	if (!heap->heaps_node.next)
		return;
	spin_lock(&gch_heaps_lock);
	list_del_init(&heap->heaps_node);
	gch_nheaps--;
	spin_unlock(&gch_heaps_lock);
	wait_var_event(&heap->heaps_pins, !atomic_read(&heap->heaps_pins));
}

unsigned int gch_heaps_count(void)
{
	return READ_ONCE(gch_nheaps);
}

/* Pin the heap visited longest ago and move it to the tail, or NULL. */
struct gch_heap *gch_heap_pin_next(void)
{
	struct gch_heap *heap = NULL;

	spin_lock(&gch_heaps_lock);
	if (!list_empty(&gch_heaps)) {
		heap = list_first_entry(&gch_heaps, struct gch_heap, heaps_node);
		list_move_tail(&heap->heaps_node, &gch_heaps);
		atomic_inc(&heap->heaps_pins);
	}
	spin_unlock(&gch_heaps_lock);
	return heap;
}

/*
 * wake_up_var() only hashes the address, so it is fine even if the waiter
 * has already seen zero and freed the heap.
 */
void gch_heap_unpin(struct gch_heap *heap)
{
	if (atomic_dec_and_test(&heap->heaps_pins))
		wake_up_var(&heap->heaps_pins);
}

/* ---- the downward walk ---- */

/* Highest bit below @end of @map that is set (@set) or clear, or -1. */
static long gch_prev_bit(const unsigned long *map, long end, bool set)
{
	long w;
	unsigned long word;

	if (end <= 0)
		return -1;
	w = (end - 1) / BITS_PER_LONG;
	word = (set ? map[w] : ~map[w]) & BITMAP_LAST_WORD_MASK(end);
	while (!word) {
		if (--w < 0)
			return -1;
		word = set ? map[w] : ~map[w];
	}
	return w * BITS_PER_LONG + __fls(word);
}

/*
 * Release free memory of @arena below arena page *@end, from the top down,
 * at most @max_sys system pages, each free run (or the part of it the
 * budget reaches) with one zap.  *@end becomes where the walk stopped: 0
 * when the arena is done, else a point at or above the memory not yet seen.
 */
static unsigned long gch_scav_arena(struct gch_heap *heap,
				    struct gch_arena *arena, u32 *end,
				    unsigned long max_sys, struct gch_mcg *only)
{
	unsigned long done = 0;
	long e = *end, s, f;
	unsigned int hi;

	lockdep_assert_held(&heap->lock);
	while (done < max_sys && e > 0 && READ_ONCE(arena->resident)) {
		f = gch_prev_bit(arena->used, e, false);
		if (f < 0) {
			e = 0;
			break;
		}
		s = gch_prev_bit(arena->used, f, true) + 1;
		/* the free run is [s, f + 1), in system pages: */
		hi = (f + 1) * GCH_SYS_PER_HEAP_PAGE;
		done += gch_release_down(heap, arena, s * GCH_SYS_PER_HEAP_PAGE,
					 &hi, max_sys - done, only);
		/* stopped inside the run: resume at the heap page it was in */
		e = DIV_ROUND_UP(hi, GCH_SYS_PER_HEAP_PAGE);
		if (e > s)
			break;
		e = s;
	}
	if (!READ_ONCE(arena->resident))
		e = 0;
	*end = e;
	return done;
}

/* Walk the heap down from its cursor, wrapping once; see the top comment. */
static unsigned long gch_scav_walk(struct gch_heap *heap, unsigned long max_sys,
				   struct gch_mcg *only)
{
	u64 pos = heap->scav_cursor ? heap->scav_cursor : GCH_MAX_PAGES;
	bool wrapped = !heap->scav_cursor;
	unsigned long done = 0;
	struct gch_arena *arena;
	u64 base;
	u32 end;

	lockdep_assert_held(&heap->lock);
	while (done < max_sys) {
		if (!pos) {
			if (wrapped)
				break;
			wrapped = true;
			pos = GCH_MAX_PAGES;
		}
		base = (pos - 1) & ~(u64)(GCH_PAGES_PER_ARENA - 1);
		arena = heap->arenas[base / GCH_PAGES_PER_ARENA];
		if (!arena || !READ_ONCE(arena->resident)) {
			pos = base;
			continue;
		}
		end = pos - base;
		done += gch_scav_arena(heap, arena, &end, max_sys - done, only);
		pos = base + end;
	}
	heap->scav_cursor = pos;
	return done;
}

/*
 * Release up to @max_sys system pages of @heap's free memory, highest first
 * (only pages charged to @only's cgroup, if given), and account them to
 * @reason: the bytes to released_<reason>_bytes and the time to
 * scavenge_ns.  *@ns gets the time, for pacing and the tracepoint the caller
 * fires once heap->lock is dropped.
 */
unsigned long gch_release_free(struct gch_heap *heap, unsigned long max_sys,
			       struct gch_mcg *only,
			       enum gch_release_reason reason, u64 *ns)
{
	u64 t0 = ktime_get_ns(), bytes;
	unsigned long done;

	lockdep_assert_held(&heap->lock);
	done = gch_scav_walk(heap, max_sys, only);
	*ns = ktime_get_ns() - t0;
	bytes = (u64)done << PAGE_SHIFT;
	heap->scavenge_ns += *ns;
	switch (reason) {
	case GCH_RELEASE_BG:
		heap->released_bg_bytes += bytes;
		break;
	case GCH_RELEASE_EAGER:
		heap->released_eager_bytes += bytes;
		break;
	case GCH_RELEASE_SHRINK:
		heap->released_shrink_bytes += bytes;
		break;
	case GCH_RELEASE_MEMCG:
		heap->released_memcg_bytes += bytes;
		break;
	case GCH_RELEASE_IOCTL:
		heap->released_ioctl_bytes += bytes;
		break;
	}
	return done;
}

/* ---- the thread ---- */

void gch_scavenger_kick(void)
{
	if (!READ_ONCE(gch_scav_kicked)) {
		WRITE_ONCE(gch_scav_kicked, true);
		wake_up(&gch_scav_wq);
	}
}

static bool gch_in_gc(const struct gch_heap *heap)
{
	return heap->gc_phase == GCH_GC_MARK_START ||
	       heap->gc_phase == GCH_GC_MARK_END;
}

/*
 * System pages the thread should release from @heap now, and whether that
 * is eager (soft limit) work.  0 while the collector runs.
 */
static unsigned long gch_scav_excess(struct gch_heap *heap, bool *eager)
{
	u64 res, free, soft, budget;

	lockdep_assert_held(&heap->lock);
	*eager = false;
	if (gch_in_gc(heap))
		return 0;
	spin_lock(&heap->res_lock);
	res = heap->resident_pages;
	free = heap->free_resident_pages;
	spin_unlock(&heap->res_lock);
	if (!free)
		return 0;

	soft = heap->soft_bytes >> PAGE_SHIFT;
	if (heap->soft_bytes && res > soft) {
		*eager = true;
		return min(free, res - soft);
	}
	budget = gch_retained_budget(heap) >> PAGE_SHIFT;
	return free > budget ? free - budget : 0;
}

/*
 * One step on @heap: eager work until the soft limit holds (at most
 * GCH_SCAV_EAGER_STEPS chunks), then one chunk of paced work.  Adds the
 * paced time to *@paced_ns; returns true if work is left that the next step
 * can make progress on.
 */
static bool gch_scav_step(struct gch_heap *heap, u64 *paced_ns)
{
	unsigned long excess, got;
	unsigned int steps = 0;
	bool eager;
	u64 t0, ns;

	/* cheap racy test first: most heaps need nothing */
	if (!READ_ONCE(heap->free_resident_pages))
		return false;
	for (;;) {
		t0 = ktime_get_ns();
		mutex_lock(&heap->lock);
		excess = gch_scav_excess(heap, &eager);
		got = excess ? gch_release_free(heap,
						min_t(unsigned long, excess,
						      GCH_SCAV_STEP), NULL,
						eager ? GCH_RELEASE_EAGER :
							GCH_RELEASE_BG, &ns) : 0;
		mutex_unlock(&heap->lock);
		if (got)
			trace_gcheap_pages_release(heap, (u64)got << PAGE_SHIFT,
						   ns, eager ? GCH_RELEASE_EAGER :
							       GCH_RELEASE_BG);
		if (!eager) {
			/* pacing counts the whole step, not just the release */
			if (got)
				*paced_ns += ktime_get_ns() - t0;
			/* nothing freed: the rest is pages locked by faults */
			return got && got < excess;
		}
		/*
		 * Eager until under the limit, then one paced step; a heap
		 * being torn down (unlisted, waiting for our pin) is let go.
		 */
		if (!got || kthread_should_stop() ||
		    list_empty_careful(&heap->heaps_node))
			return false;
		if (++steps == GCH_SCAV_EAGER_STEPS)
			return true;	/* come back after the others */
		cond_resched();
	}
}

/*
 * Whether some heap is above its soft limit with free memory to give back
 * (racy reads: a wrong answer costs one early wake-up or one slice).
 */
static bool gch_scav_eager_due(void)
{
	struct gch_heap *heap;
	bool due = false;
	u64 soft;

	spin_lock(&gch_heaps_lock);
	list_for_each_entry(heap, &gch_heaps, heaps_node) {
		soft = READ_ONCE(heap->soft_bytes) >> PAGE_SHIFT;
		if (soft && READ_ONCE(heap->free_resident_pages) &&
		    READ_ONCE(heap->resident_pages) > soft) {
			due = true;
			break;
		}
	}
	spin_unlock(&gch_heaps_lock);
	return due;
}

/*
 * Sleep @ns in slices of GCH_SCAV_EAGER_POLL_NS, unless asked to stop (the
 * thread is woken by kthread_stop()) or eager work appears.
 */
static void gch_scav_sleep(u64 ns)
{
	u64 slice;
	ktime_t t;

	while (ns && !kthread_should_stop()) {
		slice = min_t(u64, ns, GCH_SCAV_EAGER_POLL_NS);
		t = ns_to_ktime(slice);
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule_hrtimeout_range(&t, slice / 8,
						 HRTIMER_MODE_REL);
		__set_current_state(TASK_RUNNING);
		ns -= slice;
		if (gch_scav_eager_due())
			break;
	}
}

/*
 * One pacing period: steps over the heaps round-robin until the quantum is
 * spent or nothing is left to do.  Returns the paced time spent; *@more
 * says whether work is left (else the thread waits for a kick).
 */
static u64 gch_scav_period(bool *more)
{
	u64 quantum = max_t(u64, GCH_SCAV_MIN_WORK_NS,
			    (u64)READ_ONCE(gch_scav_interval_ms) *
			    NSEC_PER_MSEC * READ_ONCE(gch_scav_cpu_pct) / 100);
	u64 work = 0;
	unsigned int i, n;
	struct gch_heap *heap;

	do {
		*more = false;
		n = gch_heaps_count();
		for (i = 0; i < n && !kthread_should_stop(); i++) {
			heap = gch_heap_pin_next();
			if (!heap)
				break;
			if (gch_scav_step(heap, &work))
				*more = true;
			gch_heap_unpin(heap);
			if (work >= quantum)
				break;
			cond_resched();
		}
	} while (*more && work < quantum && !kthread_should_stop());
	return work;
}

static int gch_scavd_fn(void *unused)
{
	unsigned int pct;
	bool more;
	u64 work;

	set_freezable();
	while (!kthread_should_stop()) {
		try_to_freeze();
		/* consume kicks before looking, so none is lost */
		xchg(&gch_scav_kicked, false);
		more = false;
		work = READ_ONCE(gch_scav_on) ? gch_scav_period(&more) : 0;
		if (more) {
			pct = READ_ONCE(gch_scav_cpu_pct);
			if (pct < 100)
				gch_scav_sleep(work * (100 - pct) / pct);
			else
				cond_resched();
			continue;
		}
		wait_event_freezable_timeout(gch_scav_wq,
					     READ_ONCE(gch_scav_kicked) ||
					     kthread_should_stop(),
					     GCH_SCAV_IDLE);
	}
	return 0;
}

int gch_scavenger_init(void)
{
	gch_scavd = kthread_run(gch_scavd_fn, NULL, "gcheap_scavd");
	return PTR_ERR_OR_ZERO(gch_scavd);
}

/* Module exit: no heap exists any more (each open file pins the module). */
void gch_scavenger_exit(void)
{
	kthread_stop(gch_scavd);
	WARN_ON_ONCE(!list_empty(&gch_heaps));
}

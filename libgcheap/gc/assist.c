// SPDX-License-Identifier: MIT
/*
 * assist.c - mark assists: a thread that allocates while a cycle marks pays
 * for its allocation in mark work, so it cannot outrun marking.
 *
 * Go's scheme.  When the cycle starts, the work ahead is estimated as what
 * the last cycle scanned (bytes; gc.c) and the runway as the bytes the
 * program may still allocate before the goal; their ratio is the assist
 * ratio: scan work owed per byte allocated.  Mark work is counted in bytes
 * scanned.  The background worker's work is credit (gc_assist_credit);
 * every GCH_PACER_FLUSH bytes a thread allocates, it compares what all
 * allocation so far owes with all work done so far, and, if the debt is
 * over a small slack, drains that much gray work itself (its own
 * gc_work, inside a no-preemption section so that mark termination never
 * finds gray objects in a parked thread's hands).  A thread that reaches
 * the heap goal while the cycle marks takes all the gray work it can find
 * and then waits for the cycle to end (gc_assist_all, gc.c).  While the GC CPU
 * limiter is on (limiter.c) nobody assists.
 *
 * State is per cycle and process-wide (one cycle marks at a time): written
 * with the world stopped at mark start before the heap is published
 * (release), read lock-free; scan_done and the CPU counters are atomics.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>

#include "internal.h"
#include "gc_internal.h"

/* Debt tolerated before a thread assists, and the least it then does. */
#define ASSIST_SLACK	(256 * 1024)
#define ASSIST_MIN	(64 * 1024)
/*
 * Scanning per no-preemption section of an assist: a stop of the world
 * waits for the section to end, so this bounds what an assist adds to a
 * pause (about 0.1-0.3 ms).  A bigger debt is paid over several sections.
 */
#define ASSIST_STEP	(256 * 1024)
/*
 * A thread at the goal that finds no gray work yields this many times, then
 * naps between looks until marking ends: ASSIST_NAP_NS, doubled after each
 * dry look up to ASSIST_NAP_MAX_NS.
 */
#define ASSIST_DRY_TRIES	64
#define ASSIST_NAP_NS		20000
#define ASSIST_NAP_MAX_NS	640000
/* Fixed point of the ratio. */
#define RATIO_SHIFT	16

static struct {
	struct gch_heap *_Atomic h;	/* heap being marked, NULL: none */
	uint64_t ratio;			/* scan bytes per alloc byte << 16 */
	uint64_t alloc_base;		/* h->alloc_since_cycle at start */
	_Atomic uint64_t scan_done;	/* bytes scanned this cycle */
	_Atomic uint64_t scan_assists;	/* of which by assists */
	_Atomic uint64_t assist_ns;	/* thread CPU spent assisting */
	_Atomic unsigned draining;	/* assist steps under way */
} as;

void gc_assist_start(struct gch_heap *h, uint64_t scan_expected,
		     uint64_t runway)
{
	const uint64_t min_runway = 1 << 20;

	if (runway < min_runway)
		runway = min_runway;
	/* the ratio saturates rather than overflow for absurd estimates */
	as.ratio = scan_expected > (UINT64_MAX >> RATIO_SHIFT) ? UINT64_MAX :
		   (scan_expected << RATIO_SHIFT) / runway;
	as.alloc_base = gch_load(&h->alloc_since_cycle);
	atomic_store(&as.scan_done, 0);
	atomic_store(&as.scan_assists, 0);
	atomic_store_explicit(&as.h, h, memory_order_release);
}

/* Mark termination, world stopped: returns the CPU assists used. */
uint64_t gc_assist_stop(void)
{
	atomic_store_explicit(&as.h, NULL, memory_order_release);
	return atomic_exchange(&as.assist_ns, 0);
}

bool gc_assist_active(struct gch_heap *h)
{
	return atomic_load_explicit(&as.h, memory_order_acquire) == h;
}

/*
 * The background worker ran dry: wait for the assist steps under way, whose
 * gray work is in their own buffers until they end, and say whether any
 * came back to the pool.  Without it the worker stopped the world while
 * an assist held the rest of the mark (a large object's next oblet, say):
 * the stop found it in the pool, the world restarted, and after
 * GC_TERM_RETRIES such tries the pause marked it all (churn: 9 ms pauses
 * 2, most of its marking).  A step ends within ASSIST_STEP of scanning,
 * and while the worker waits it hands out half its gray work.
 */
bool gc_assist_wait(void)
{
	if (atomic_load_explicit(&as.draining, memory_order_acquire)) {
		gc_work_hungry(true);	/* the assists share half their work */
		while (atomic_load_explicit(&as.draining,
					    memory_order_acquire) &&
		       !gc_pool_has_work())
			sched_yield();
		gc_work_hungry(false);
	}
	return gc_pool_has_work();
}

/*
 * Drain about @budget bytes of gray work beside the worker's own: with a
 * gc_work of its own, which starts empty and so pops from the shared pool;
 * the scan is credit, its marks live bytes (as the barrier's), what is
 * left goes back to the pool.  An assist step's, and the worker's when the
 * pool backs up (bgmark.c).  Returns the bytes scanned.
 */
uint64_t gc_drain_apart(struct gch_heap *h, uint64_t budget)
{
	struct gc_work w;

	gc_work_init(&w, h);
	gc_drain_budget(&w, budget);
	gc_assist_credit(w.bytes_scanned);
	gc_work_dispose(&w);
	gc_barrier_marked(w.bytes_marked);
	return w.bytes_scanned;
}

void gc_assist_credit(uint64_t scanned)
{
	atomic_fetch_add_explicit(&as.scan_done, scanned,
				  memory_order_relaxed);
}

uint64_t gc_assist_scan_done(void)
{
	return atomic_load_explicit(&as.scan_done, memory_order_relaxed);
}

uint64_t gc_assist_scan_assists(void)
{
	return atomic_load_explicit(&as.scan_assists, memory_order_relaxed);
}

uint64_t gc_assist_alloc_base(void)
{
	return as.alloc_base;
}

/* Scan work the allocation so far owes beyond what has been done. */
static uint64_t debt(struct gch_heap *h)
{
	uint64_t alloc = gch_load(&h->alloc_since_cycle) - as.alloc_base;
	uint64_t owed, done;

	owed = as.ratio && alloc > (UINT64_MAX / as.ratio) ? UINT64_MAX :
	       (alloc * as.ratio) >> RATIO_SHIFT;
	done = atomic_load_explicit(&as.scan_done, memory_order_relaxed);
	return owed > done + ASSIST_SLACK ? owed - done : 0;
}

/* One assist of about @owe bytes of scanning; false if none was done. */
static bool assist_step(struct gch_heap *h, uint64_t owe)
{
	int64_t c0 = gc_thread_cpu_ns();
	uint64_t scanned;

	gc_nopreempt_enter();
	/* the cycle may have ended between the check and the section */
	if (atomic_load_explicit(&as.h, memory_order_acquire) != h) {
		gc_nopreempt_exit();
		return false;
	}
	atomic_fetch_add_explicit(&as.draining, 1, memory_order_acq_rel);
	scanned = gc_drain_apart(h, owe);
	/* after the pool has what is left: gc_assist_wait() sees one or
	 * the other */
	atomic_fetch_sub_explicit(&as.draining, 1, memory_order_acq_rel);
	atomic_fetch_add_explicit(&as.scan_assists, scanned,
				  memory_order_relaxed);
	gc_nopreempt_exit();
	c0 = gc_thread_cpu_ns() - c0;
	atomic_fetch_add_explicit(&as.assist_ns, (uint64_t)c0,
				  memory_order_relaxed);
	gc_limiter_account((uint64_t)c0);
	return scanned > 0;
}

/*
 * From the allocation path (outside the allocator) of a thread whose heap
 * @h is being marked, below its goal: pay the debt, in sections, until it
 * is paid or no gray work is left to take.
 */
void gc_assist(struct gch_heap *h)
{
	uint64_t owe;

	if (atomic_load_explicit(&as.h, memory_order_acquire) != h)
		return;
	/* the GC CPU limiter: the program's CPU is not the collector's now */
	if (gc_limiter_on())
		return;
	owe = debt(h);
	if (!owe)
		return;
	if (owe < ASSIST_MIN)
		owe = ASSIST_MIN;
	while (owe > ASSIST_STEP) {
		if (!assist_step(h, ASSIST_STEP))
			return;
		owe -= ASSIST_STEP;
	}
	assist_step(h, owe);
}

/*
 * The same for a thread that has reached the goal while @h is marked: the
 * program must not outrun marking, so it does whatever gray work it can
 * find (in steps, each one no-preemption section, so that mark
 * termination can come in between) until the cycle ends.  Go's assists
 * get the same effect from a ratio that grows without bound as the heap
 * nears the goal.
 *
 * When the pool is dry the worker may still hold plenty: the thread asks
 * it to share (hungry: mark.c's balance() then hands out half a buffer)
 * and keeps looking -- at once for a few tries, then after naps growing
 * from 20 us, so that threads waiting here do not take the worker's CPU.
 * A nap is a blocked wait (gc_nap_blocking): a stop of the world takes
 * the thread as parked without a signal, which ThreadSanitizer would hold
 * back in nanosleep().  It used to give up after the tries and sleep
 * until marking ended: on a cycle that started late, the program then
 * idled a CPU through most of the mark while the worker marked alone
 * (churn: 40% slower than stop-the-world with the trigger at 95% of the
 * runway; now at its time).
 */
void gc_assist_all(struct gch_heap *h)
{
	struct timespec nap = { 0, ASSIST_NAP_NS };
	unsigned dry = 0;
	bool hungry = false;

	while (atomic_load_explicit(&as.h, memory_order_acquire) == h &&
	       !gc_limiter_on()) {
		if (assist_step(h, ASSIST_STEP)) {
			dry = 0;
			nap.tv_nsec = ASSIST_NAP_NS;
			continue;
		}
		if (!hungry) {
			gc_work_hungry(true);
			hungry = true;
		}
		if (++dry <= ASSIST_DRY_TRIES) {
			sched_yield();
			continue;
		}
		gc_nap_blocking(&nap);
		if (nap.tv_nsec < ASSIST_NAP_MAX_NS)
			nap.tv_nsec *= 2;
	}
	if (hungry)
		gc_work_hungry(false);
}

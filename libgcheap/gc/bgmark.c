// SPDX-License-Identifier: MIT
/*
 * bgmark.c - the background mark worker's share of the machine: how much
 * it marks between credits to the assists, how long it rests, and when it
 * takes an idle CPU.  gc.c's mark_background() drives the cycle's phases
 * and calls gc_bg_drain() for each stretch of marking beside the program.
 *
 * Locking: none of its own.  What it writes of struct gc_heap
 * (cycle_gc_cpu_ns, cycle_idle_cpu_ns) is the worker's alone while a cycle
 * marks (gc_internal.h).
 */
#define _GNU_SOURCE
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "gc_internal.h"

/*
 * Bytes the background worker scans between credits to the assists; a
 * quarter of that while it works a fraction of the time, for it rests as
 * long as a step takes, and in a long rest the program's allocation would
 * run up a debt past the assists' slack (an assist in the program's path,
 * where the worker would have paid it a moment later).
 */
#define GC_BG_STEP		(1 << 20)
#define GC_BG_STEP_FRAC		(GC_BG_STEP / 4)
/* Its rest after each step while the GC CPU limiter is on, bounds. */
#define GC_BG_REST_MIN_NS	1000000L
#define GC_BG_REST_MAX_NS	50000000L

/*
 * The background worker's share of the machine while a cycle marks: Go's
 * 25% of the CPUs.  Below one whole CPU (fewer than four) it is a
 * fractional worker, which rests after each step to stay within its share;
 * assists make up what it leaves.
 *
 * Idle-time marking: while fewer threads are attached than there are
 * CPUs, the program leaves a CPU idle whatever it does, and the worker
 * takes it -- it marks without resting, as Go's idle mark workers run on
 * every processor that has no goroutine to run.  Of what it uses then, its
 * share counts as the fractional worker's (GC CPU) and the rest as
 * idle-time marking (gc_idle_cpu_ns).  Marking sooner means less is
 * allocated (black) while it marks: less floating garbage, a lower peak.
 * (Before, the worker took the idle CPU only when marking at its share
 * would have ended after the goal; the big-heap benchmark then peaked 9%
 * higher and marked half as long again.)
 */
long gc_ncpu(void)
{
	static long cached;	/* racy first reads all compute the same */
	long n = __atomic_load_n(&cached, __ATOMIC_RELAXED);

	if (!n) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1)
			n = 1;
		__atomic_store_n(&cached, n, __ATOMIC_RELAXED);
	}
	return n;
}

/* Fewer attached threads than CPUs: a CPU is idle for the worker. */
static bool bg_idle(void)
{
	return (long)gc_thread_count() < gc_ncpu();
}

static double bg_share(void)
{
	double share = 0.25 * (double)gc_ncpu();

	return share > 1.0 ? 1.0 : share;
}

/* Mark without resting: a CPU is idle, and the worker has less than one. */
static bool bg_boost(void)
{
	return bg_idle() && bg_share() < 1.0;
}

/*
 * Rest after a step of @step_ns CPU so that the worker stays within its
 * share (none when boosted, or with a whole CPU).  While the GC CPU
 * limiter is on: as long as the step took.  The gray work it holds goes to
 * the pool first, within the assists' reach.
 */
static void bg_pace(struct gc_work *w, int64_t step_ns, bool boosted)
{
	double share = bg_share();
	int64_t rest;
	struct timespec ts;

	if (gc_limiter_on()) {
		/*
		 * The collector has had its half: rest as long as the step
		 * took (at most half a CPU), but never until the limiter is
		 * off, for threads may be waiting for this cycle to end, and
		 * then nothing would drain the bucket.
		 */
		rest = step_ns < GC_BG_REST_MIN_NS ? GC_BG_REST_MIN_NS :
		       step_ns > GC_BG_REST_MAX_NS ? GC_BG_REST_MAX_NS :
		       step_ns;
	} else {
		if (boosted || share >= 1.0)
			return;
		rest = (int64_t)((double)step_ns * (1.0 - share) / share);
		if (rest > 10000000)	/* never more than 10 ms at a time */
			rest = 10000000;
		if (rest <= 0)
			return;
	}
	gc_work_publish(w);
	ts.tv_sec = rest / 1000000000;
	ts.tv_nsec = rest % 1000000000;
	nanosleep(&ts, NULL);
}

/*
 * A step of background marking done, its CPU since *@last: GC CPU for the
 * limiter and the pacer -- but for a step on an idle CPU (@idle: the step
 * was boosted), only the worker's share of it, the rest being idle-time
 * marking.
 */
static int64_t bg_step_done(struct gc_heap *g, int64_t *last, bool idle)
{
	int64_t now = gc_thread_cpu_ns(), step = now - *last;
	uint64_t gc = (uint64_t)step;

	if (idle) {
		gc = (uint64_t)((double)step * bg_share());
		g->cycle_idle_cpu_ns += (uint64_t)step - gc;
	}
	gc_limiter_account(gc);
	g->cycle_gc_cpu_ns += gc;
	*last = now;
	return step;
}

/*
 * The worker drains its own buffers first (the heap it is walking) and
 * reaches the shared pool only when they run dry, at the end of the
 * mark; meanwhile barrier flushes and assists publish their gray objects
 * there.  In the big-heap benchmark's churn the objects the deletion
 * barrier shaded piled up so: 145 buffers (1.2 MiB) at host scale, more
 * the longer the mark.  Past GC_BG_BACKLOG buffers a step drains the
 * pool's first (gc_drain_apart), before going on with the heap.
 */
#define GC_BG_BACKLOG		8

/*
 * Drain beside the program, in steps, so that assisting threads see the
 * credit, and resting between them to keep to the worker's share.
 */
void gc_bg_drain(struct gc_heap *g, struct gc_work *w, void *arg)
{
	struct gc_bg_clock *clk = arg;
	uint64_t scanned = w->bytes_scanned;
	bool boost = bg_boost();
	uint64_t budget;
	int64_t step;

	for (;;) {
		budget = boost || bg_share() >= 1.0 ? GC_BG_STEP :
			 GC_BG_STEP_FRAC;
		if (gc_pool_buffers() >= GC_BG_BACKLOG)
			gc_drain_apart(g->h, budget);
		if (!gc_drain_budget(w, budget))
			break;
		gc_assist_credit(w->bytes_scanned - scanned);
		scanned = w->bytes_scanned;
		step = bg_step_done(g, &clk->cs, boost);
		bg_pace(w, step, boost);
		boost = bg_boost();
	}
	gc_assist_credit(w->bytes_scanned - scanned);
	bg_step_done(g, &clk->cs, boost);
}

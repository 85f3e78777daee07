// SPDX-License-Identifier: MIT
/*
 * limiter.c - the GC CPU limiter: when the soft memory limit drives
 * collection, the collector's CPU is held to half of the machine.
 *
 * Why: with a memory limit, a live heap that grows past the limit makes
 * the pacer collect back to back, and every allocation pays assists.  A
 * program would then spend nearly all its time collecting and make no
 * progress (livelock), where it should degrade: run at least at half
 * speed and let the heap exceed a limit it cannot meet.  Go's limiter
 * (1.19) does this, and so does this one.
 *
 * Algorithm: a leaky bucket of CPU time, as Go's.  Its capacity is a
 * quarter CPU-second per CPU (Go's is one second: but a process that gets
 * a fraction of a busy machine's CPU would take seconds to fill that).  GC CPU time (the background worker's marking,
 * assists, and each pause times the CPUs it stops) fills it; the program's
 * CPU time drains it: over an interval in which the process used p ns of
 * CPU, g of them collecting, the fill changes by g - (p - g).  Go measures
 * p as wall time times GOMAXPROCS; this library shares its machine with
 * whatever else runs there, so it counts the CPU the process actually got
 * (CLOCK_PROCESS_CPUTIME_ID, plus for each pause the CPUs it kept idle).
 * The fill rises only while the collector uses more than half of the
 * process's CPU; when it is full the limiter is on, and then
 *  - mutators do no mark assists (assist.c), and
 *  - a thread that reaches the heap goal does not wait for marking to end
 *    (gc.c): the heap grows past the goal instead,
 *  - the trigger does not start a new cycle (gc.c): with a live heap over
 *    the limit cycles would otherwise follow each other at once, and on a
 *    busy machine their pauses alone take half of the process's time,
 * until the program has drained a 20th of the bucket.  The background
 * worker rests after each step as long as the step took (its 25% is of the
 * machine's CPUs, which on a busy machine is more than half of what the
 * process gets); it never stops, for threads may be waiting for its
 * cycle to end.  Idle-time marking (the worker using a
 * CPU the program leaves idle) is not GC CPU here: it takes nothing from
 * the program.  The limiter is active only while a memory limit is set,
 * for without one the GC percent bounds the collector's work by itself.
 *
 * Updates come from the allocation path when a thread would assist, from
 * the background worker between steps and at mark termination; each is an
 * atomic add of GC CPU and, at most every 1 ms, one update of the bucket
 * under lim.lock (a spin on a try lock is never needed: whoever holds it
 * does the update for everyone).
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <unistd.h>

#include "internal.h"
#include "gc_internal.h"

#define LIMIT_UPDATE_NS	1000000LL	/* at most one bucket update per ms */
#define LIMIT_CAPACITY_NS 250000000LL	/* bucket: CPU time per CPU */

static struct {
	pthread_mutex_t lock;
	_Atomic uint64_t gc_ns;		/* GC CPU reported, ever */
	_Atomic bool on;		/* the bucket is full */
	_Atomic bool armed;		/* a memory limit is set somewhere */
	_Atomic int64_t next_ns;	/* no update before (racy hint) */
	_Atomic uint64_t idle_ns;	/* CPU time pauses kept idle, ever */
	/* under lock */
	int64_t last_ns;		/* wall clock of the last update */
	uint64_t last_gc_ns;		/* gc_ns then */
	uint64_t last_cpu_ns;		/* process CPU + idle_ns then */
	int64_t fill;			/* ns of CPU in the bucket */
	uint64_t enabled_ns;		/* ns spent on, ever */
} lim = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t process_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec +
	       atomic_load_explicit(&lim.idle_ns, memory_order_relaxed);
}

static void update_locked(int64_t now)
{
	uint64_t gc = atomic_load(&lim.gc_ns), cpu = process_cpu_ns();
	int64_t cap = gc_ncpu() * LIMIT_CAPACITY_NS;
	int64_t dt = now - lim.last_ns, dgc = (int64_t)(gc - lim.last_gc_ns);
	int64_t dcpu = (int64_t)(cpu - lim.last_cpu_ns);

	if (!lim.last_ns || dt <= 0) {
		lim.last_ns = now;
		lim.last_gc_ns = gc;
		lim.last_cpu_ns = cpu;
		return;
	}
	if (atomic_load_explicit(&lim.on, memory_order_relaxed))
		lim.enabled_ns += (uint64_t)dt;
	lim.fill += dgc - (dcpu - dgc);
	if (lim.fill < 0)
		lim.fill = 0;
	if (lim.fill > cap)
		lim.fill = cap;
	lim.last_ns = now;
	lim.last_gc_ns = gc;
	lim.last_cpu_ns = cpu;
	atomic_store_explicit(&lim.next_ns, now + LIMIT_UPDATE_NS,
			      memory_order_relaxed);
	/*
	 * On when full; off again only once the program has drained a 20th
	 * of it: flipping at every update would let a cycle start in each
	 * gap, and on a busy machine its pauses alone keep the bucket full.
	 */
	if (lim.fill >= cap)
		atomic_store_explicit(&lim.on, true, memory_order_relaxed);
	else if (lim.fill <= cap - cap / 20)
		atomic_store_explicit(&lim.on, false, memory_order_relaxed);
}

/* @ns more CPU time spent collecting; refresh the bucket now and then. */
void gc_limiter_account(uint64_t ns)
{
	int64_t now;

	atomic_fetch_add_explicit(&lim.gc_ns, ns, memory_order_relaxed);
	if (!atomic_load_explicit(&lim.armed, memory_order_relaxed))
		return;
	now = gc_now_ns();
	if (now < atomic_load_explicit(&lim.next_ns, memory_order_relaxed))
		return;
	if (pthread_mutex_trylock(&lim.lock))
		return;
	update_locked(now);
	pthread_mutex_unlock(&lim.lock);
}

/*
 * A pause of @wall_ns stopped the program: the CPUs it kept idle count as
 * the collector's (the collecting thread's own CPU is in @cpu_ns, and in
 * the process's already).
 */
void gc_limiter_pause(uint64_t wall_ns, uint64_t cpu_ns)
{
	uint64_t all = wall_ns * (uint64_t)gc_ncpu();
	uint64_t idle = all > cpu_ns ? all - cpu_ns : 0;

	atomic_fetch_add_explicit(&lim.idle_ns, idle, memory_order_relaxed);
	gc_limiter_account(all);
}

/*
 * Whether GC CPU is capped now (assists off, no waiting at the goal, the
 * worker holds back).  Refreshes the bucket when an update is due, for
 * while the limiter is on little GC CPU is reported to do it.
 */
bool gc_limiter_on(void)
{
	if (!atomic_load_explicit(&lim.on, memory_order_relaxed))
		return false;
	gc_limiter_account(0);
	return atomic_load_explicit(&lim.on, memory_order_relaxed);
}

/*
 * The pacer: whether any heap has a memory limit (gc_lock held by the
 * caller).  Disarming empties the bucket.
 */
void gc_limiter_arm(bool armed)
{
	pthread_mutex_lock(&lim.lock);
	if (armed != atomic_load(&lim.armed)) {
		lim.fill = 0;
		lim.last_ns = 0;
		atomic_store(&lim.on, false);
		atomic_store(&lim.armed, armed);
	}
	pthread_mutex_unlock(&lim.lock);
}

/* Time the limiter has been on, ever (ns), for the statistics. */
uint64_t gc_limiter_enabled_ns(void)
{
	uint64_t ns;

	pthread_mutex_lock(&lim.lock);
	if (atomic_load(&lim.armed))
		update_locked(gc_now_ns());
	ns = lim.enabled_ns;
	pthread_mutex_unlock(&lim.lock);
	return ns;
}

static void any_limit(struct gc_heap *g, void *arg)
{
	if (g->mem_limit)
		*(bool *)arg = true;
}

/* gc_lock held: arm the limiter iff some open heap has a memory limit. */
void gc_limiter_rearm(void)
{
	bool any = false;

	gc_for_each_heap(any_limit, &any);
	gc_limiter_arm(any);
}

// SPDX-License-Identifier: MIT
/*
 * gc.c - the collection cycle.
 *
 * Concurrent cycle (the default), as Go's mgc.go runs it, all of it on the
 * library's background mark worker (the allocation that crossed the
 * trigger only hands the cycle over):
 *
 *   sweep termination    finish the last cycle's sweep, beside the program
 *                        (mark bits are reused)
 *   mark start (pause 1) take gc_lock, roots.lock, the finalizer lock; stop
 *                        the world; release every mcache; gray the roots
 *                        (ranges, data segments, every stack and register
 *                        set, finalizer roots) into the pool; turn on the
 *                        write barrier, black allocation and atomic mark
 *                        bits; start the world; announce GCH_GC_MARK_START
 *   concurrent mark      the background mark worker (mark_background) drains
 *                        the pool beside the program; mutators' barrier
 *                        buffers feed it as they fill
 *   mark termination     the worker stops the world and flushes every
 *   (pause 2)            thread's barrier buffer; if that found work it
 *                        starts the world and marks again (at most
 *                        GC_TERM_RETRIES times), else releases every mcache
 *                        (allocating the last windows black), drains what
 *                        is left, turns the barrier off, clears weak refs,
 *                        queues finalizers, sweepgen += 2, paces the next
 *                        cycle, announces GCH_GC_MARK_END, starts the world
 *   sweep                lazily, by allocation and the background sweeper
 *
 * Neither pause walks the heap: pause 1 costs the threads and roots, pause
 * 2 the barrier buffers and what they hold.  Why no stack is scanned twice:
 * every stack is scanned in pause 1, objects allocated after it are black,
 * and every reference removed from the heap while marking is shaded by the
 * barrier (gcheap.h), so whatever a thread can reach at pause 2 was either
 * reachable at pause 1 -- and is marked -- or allocated since.
 *
 * Why every stack is scanned in pause 1, not one thread at a time as Go
 * does: once one thread's stack is scanned (black) while another's is not,
 * a pointer can travel from the unscanned stack to the scanned one without
 * ever being stored into a heap object -- through a global, a registered
 * root range or a data segment, which gch_store() need not guard
 * (gcheap.h) because they are scanned in pause 1 -- and the unscanned
 * thread may then drop it: the object is reachable only from a black
 * stack, and is freed.  Go closes that path because its compiler
 * barriers every heap and global write; C code stores into globals
 * freely.  So pause 1 stays one stop whose cost is the threads' stack
 * depth and the registered roots, never the heap; a thread waiting in the
 * library is not even signalled (stw.c).  gch_store()'s insertion half,
 * redundant under this scheme, is kept for a future mode that scans
 * stacks one at a time and barriers globals.
 *
 * Stop-the-world cycle (GCHEAP_GCMODE=stw, for debugging and comparison,
 * and the fallback when the worker thread cannot be started), on the
 * thread that asked for it:
 *
 *   take gc_lock, roots.lock, the finalizer lock, h->lock  (nobody parked
 *                                 can hold them: see gc_internal.h)
 *   announce GCH_GC_MARK_START to the kernel
 *   stop the world                (stw.c)
 *   sweep termination: finish last cycle's sweep, release every mcache
 *   mark: roots (ranges, data segments, stacks + registers, finalizer
 *         roots), drain
 *   mark termination: clear weak refs, queue finalizers, sweepgen += 2,
 *         pacer computes the next goal, announce GCH_GC_MARK_END
 *   start the world, drop the locks, kick the sweeper and finalizer threads
 *   (the sweeper announces GCH_GC_SWEEP_END when the last span is swept)
 *
 * Collections are serialised process-wide by gc_lock (one stop-the-world at
 * a time).  Future concurrent marking splits "mark" out of the stopped
 * section: roots are still scanned with the world stopped, the drain runs
 * alongside mutators with a write barrier feeding gc_work, and mark
 * termination re-stops the world; the phases below are already separate
 * functions for that reason.
 *
 * The per-heap state (struct gc_heap) is found by heap slot; gc_lock
 * protects the table and every gc_heap's pacer fields.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "gc_internal.h"

pthread_mutex_t gc_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The concurrent cycle in progress, under gc_lock: the heap marking beside
 * the program (NULL: none), the job handed to the worker, and cycle_cv,
 * broadcast when a cycle ends (gch_gc() and gch_close() wait on it).
 * gc_marking is also read without the lock, as a hint, by an allocating
 * thread (cycle_starting()); it is written with atomic stores for that.
 */
static struct gc_heap *gc_marking;
static struct gc_heap *bg_job;
static pthread_cond_t bg_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cycle_cv = PTHREAD_COND_INITIALIZER;
static bool bg_started;

/* Pauses at mark termination that found more barrier work, at most. */
#define GC_TERM_RETRIES		4
/* Live heap (at the last cycle) from which marking uses helper threads. */
#define GC_PARALLEL_MIN		(4ULL << 20)
/*
 * The same for a stop-the-world cycle's mark: the program cannot run, so
 * a helper's wake-up (tens of microseconds) is repaid from a smaller heap.
 * Guile on libgc.so.1 (live heap 1-8 MiB, hundreds of cycles) runs 11%
 * faster in wall time with 1 MiB than with 4 (bench/compat.md).
 */
#define GC_PARALLEL_MIN_STW	(1ULL << 20)

static struct gc_heap *gc_slots[GCH_MAX_HEAPS];	/* under gc_lock */
static int64_t gc_epoch_ns;

struct gc_heap *gc_of(struct gch_heap *h)
{
	return __atomic_load_n(&gc_slots[h->slot], __ATOMIC_ACQUIRE);
}

int64_t gc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t gc_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void gc_for_each_heap(void (*fn)(struct gc_heap *g, void *arg), void *arg)
{
	for (unsigned i = 0; i < GCH_MAX_HEAPS; i++)
		if (gc_slots[i])
			fn(gc_slots[i], arg);
}

/*
 * Tell the kernel where the cycle is.  Best effort: the host page layer has
 * no kernel, and an older module may not know the ioctl (then the goal is
 * given through GCH_IOC_LIMITS instead).
 */
void gc_announce(struct gch_heap *h, unsigned phase, uint64_t live)
{
	struct gc_heap *g = gc_of(h);
	int fd = gch_heap_kernel_fd(h);
	struct gch_gc_phase ph = {
		.size = sizeof(ph),
		.phase = phase,
		/* g->cycle counts finished cycles: MARK_START opens the next */
		.cycle = g ? g->cycle + (phase == GCH_GC_MARK_START) : 0,
		.heap_live = live,
		.heap_goal = g ? g->heap_goal : 0,
	};

	/*
	 * The sweep is done: spans the page layer keeps for later allocations
	 * go back first, so the scavenger this announcement resumes can give
	 * their memory back if the heap does not need it.
	 */
	if (phase == GCH_GC_SWEEP_END)
		gch_pl_trim(h);
	if (fd < 0)
		return;
	if (ioctl(fd, GCH_IOC_GC_PHASE, &ph) && phase == GCH_GC_MARK_END) {
		struct gch_limits l = {
			.size = sizeof(l),
			.flags = GCH_LIMIT_GOAL,
			.goal_bytes = ph.heap_goal,
		};

		ioctl(fd, GCH_IOC_LIMITS, &l);
	}
}

/*
 * Tell the kernel that a stop-the-world pause of @kind (GCH_PAUSE_*) in
 * @cycle just ended after @ns, so eBPF tracing sees it (gcheap_gc_pause).
 * Call it once the world runs again: the ioctl is a system call the
 * stopped threads need not wait for.  Best effort like gc_announce(): no
 * kernel on the host backend, and an older module refuses GCH_GC_PAUSE
 * with -EINVAL, which changes nothing there.
 */
void gc_announce_pause(struct gch_heap *h, unsigned kind, uint64_t cycle,
		       uint64_t ns)
{
	int fd = gch_heap_kernel_fd(h);
	struct gch_gc_phase ph = {
		.size = sizeof(ph),
		.phase = GCH_GC_PAUSE,
		.cycle = cycle,
		.pause_kind = kind,
		.pause_ns = ns,
	};

	if (fd >= 0)
		(void)ioctl(fd, GCH_IOC_GC_PHASE, &ph);
}

/* The pacer hook, from the allocation slow path: flag, never collect here. */
static void pacer_hook(struct gch_heap *h, uint64_t since)
{
	(void)since;
	gc_tls.collect_heap = h;
	gc_tls.pending.b.collect = 1;
}

/*
 * Has the worker been handed a cycle of @h that has not begun to mark
 * (sweep termination and pause 1 to come), with the heap below its goal?
 * Then the cycle this thread's allocation would ask for is on its way.
 * Taking gc_lock only to find that out would wait, idle, until the worker
 * had finished the last cycle's sweep, which holds the lock for
 * milliseconds (churn: a second in four); instead the thread sweeps a
 * batch beside the worker (Go's triggering goroutine finishes the sweep
 * too), which ends the wait sooner and still paces its allocation.  When
 * nothing is left to sweep it goes on to collect_locked() and waits for
 * pause 1 as before.  Lock-free, hence a hint; a stale answer costs one
 * batch or one trip to collect_locked().
 */
#define SWEEP_HELP_SPANS	64

/* @g (NULL: none) has a goal and its live heap has reached it. */
static bool at_goal(struct gc_heap *g)
{
	return g && g->heap_goal && gc_heap_live(g) >= g->heap_goal;
}

static bool cycle_starting(struct gch_heap *h)
{
	struct gc_heap *g = __atomic_load_n(&gc_marking, __ATOMIC_ACQUIRE);

	/* only @h's own state is read: another heap's may be freed by now */
	return g && g == gc_of(h) && !gc_assist_active(h) && !at_goal(g);
}

/*
 * Leaving the allocator with something pending (gc_nopreempt_exit_p).  @p
 * is the new object: it lives in this frame while we collect, and the
 * collector scans this thread's stack and registers.
 */
void *gc_pending_slow(void *p)
{
	void *volatile keep = p;

	if (gc_tls.nopreempt)
		return p;	/* an outer section will come back here */
	if (gc_tls.pending.b.preempt)
		gc_park_self();
	if (gc_tls.pending.b.collect) {
		struct gch_heap *h = gc_tls.collect_heap;

		gc_tls.pending.b.collect = 0;
		gc_tls.collect_heap = NULL;
		/*
		 * While @h is marked: below the goal, pay the assist debt; at
		 * the goal, mark whatever can be had and go on to gc_collect(),
		 * which waits for the cycle to end -- unless the GC CPU
		 * limiter is on: then the heap grows past the goal.
		 */
		if (h && gc_assist_active(h)) {
			if (gc_limiter_on() || !at_goal(gc_of(h))) {
				gc_assist(h);
				return keep;
			}
			gc_assist_all(h);
		}
		/*
		 * The limiter holds the next cycle back too (limiter.c).  A
		 * cycle on its way: help the worker finish the last sweep.
		 * At the goal before the cycle's mark start, gc_collect()
		 * returns once its assists are on: mark, then wait for the end.
		 */
		if (h && !gc_limiter_on() &&
		    !(cycle_starting(h) && gc_sweep_some(h, SWEEP_HELP_SPANS))) {
			gc_collect(h, GC_REASON_HEAP);
			if (gc_assist_active(h) && !gc_limiter_on() &&
			    at_goal(gc_of(h))) {
				gc_assist_all(h);
				gc_collect(h, GC_REASON_HEAP);
			}
		}
	}
	return keep;
}

struct mark_ctx {
	struct gc_work *w;
};

static void mark_range_cb(uintptr_t lo, uintptr_t hi, const uint64_t *ptrmap,
			  void *arg)
{
	struct mark_ctx *m = arg;

	gc_mark_range(m->w, lo, hi, ptrmap);
}

/* World stopped: gray every root (ranges, data, stacks, finalizer roots). */
static void mark_roots(struct gc_heap *g, struct gc_work *w)
{
	struct mark_ctx m = { .w = w };

	gc_roots_for_each(mark_range_cb, &m);
	g->last.global_bytes = gc_roots_bytes();
	gc_roots_for_each_stack(mark_range_cb, &m);
	g->last.stack_bytes = gc_roots_bytes() - g->last.global_bytes;
	gc_fin_mark_roots(w);
}

/* Mark phase: everything reachable from the roots becomes black. */
static void mark_phase(struct gc_heap *g, struct gc_work *w)
{
	mark_roots(g, w);
	/* helpers only repay their wake-up on a heap of some size */
	gc_mark_parallel(w, g->heap_marked >= GC_PARALLEL_MIN_STW);
}

/*
 * Sweep termination, world stopped: every cache back to the centrals and
 * the last cycle's sweep finished (the mark bits are about to be reused).
 */
static void sweep_termination(struct gc_heap *g)
{
	struct gch_heap *h = g->h;

	gc_release_caches(h);
	gc_sweep_finish(h);
	if (atomic_exchange(&g->sweep_pending, false))
		gc_announce(h, GCH_GC_SWEEP_END, gc_heap_live(g));
	g->last.heap_before = gc_heap_live(g);
}

/*
 * The end of mark termination, world stopped and g->heap_marked known: the
 * marked spans become unswept, the next goal is set and announced.
 */
static void cycle_end(struct gc_heap *g)
{
	struct gch_heap *h = g->h;

	gch_store_rlx(&h->sweepgen, h->sweepgen + 2);
	g->cycle++;
	gc_pacer_cycle_done(g);
	gc_announce(h, GCH_GC_MARK_END, g->heap_marked);
	atomic_store(&g->sweep_pending, true);
	g->sweep_at_ns = gc_now_ns() + GC_SWEEP_DELAY_NS;
}

/* The helper markers' CPU is the mark's too (gctrace, gc_cpu_ns). */
static void record_times(struct gc_heap *g, int64_t t[4], int64_t c[4],
			 uint64_t helper_cpu_ns)
{
	struct gc_cycle_times *l = &g->last;
	uint64_t pause = (uint64_t)(t[3] - t[0]);

	l->stopped = true;
	l->stw_ns = t[1] - t[0];
	l->mark_ns = t[2] - t[1];
	l->term_ns = t[3] - t[2];
	l->cpu_stw_ns = c[1] - c[0];
	l->cpu_mark_ns = c[2] - c[1] + (int64_t)helper_cpu_ns;
	l->cpu_term_ns = c[3] - c[2];
	l->cpu_assist_ns = l->cpu_idle_ns = 0;
	l->heap_end = l->heap_before;
	gc_pause_record(g, pause, (uint64_t)(c[3] - c[0]) + helper_cpu_ns);
	gch_add(&g->gc_cpu_ns, (uint64_t)(c[3] - c[0]) + helper_cpu_ns);
}

/* The stopped part of a cycle; the caller holds every lock. */
static void cycle_stopped(struct gc_heap *g, struct gc_work *w)
{
	struct gch_heap *h = g->h;
	int64_t t[4], c[4];

	t[0] = gc_now_ns();
	c[0] = gc_thread_cpu_ns();
	g->last.threads = gc_stop_world() + (gc_tls.self != NULL);
	gc_work_init(w, h);	/* the heap's extent now that it is still */
	sweep_termination(g);
	t[1] = gc_now_ns();
	c[1] = gc_thread_cpu_ns();

	mark_phase(g, w);
	t[2] = gc_now_ns();
	c[2] = gc_thread_cpu_ns();

	/* mark termination */
	gc_fin_after_mark(w);
	g->heap_marked = g->heap_traced = w->bytes_marked;
	cycle_end(g);
	gc_start_world();
	t[3] = gc_now_ns();
	c[3] = gc_thread_cpu_ns();
	record_times(g, t, c, w->helper_cpu_ns);
	gc_announce_pause(h, GCH_PAUSE_STW, g->cycle, (uint64_t)(t[3] - t[0]));
}

/* ---- the concurrent cycle ------------------------------------------------ */

/*
 * The process's collector mode: -1 until decided; read racily after that,
 * and it never changes again.
 *   GC_MODE_BARRIER  concurrent, the program calls gch_store() (default)
 *   GC_MODE_DIRTY    concurrent without a barrier, the module's dirty bits
 *                    in its place (GCHEAP_BARRIER=dirty; dirtyscan.c); a heap
 *                    whose module cannot track (or the host backend) is
 *                    collected with the world stopped
 *   GC_MODE_STW      stop-the-world (GCHEAP_GCMODE=stw)
 */
enum { GC_MODE_STW, GC_MODE_BARRIER, GC_MODE_DIRTY };
static int gc_mode = -1;
/* Every cycle from now on stops the world (gc_mode_stw_from_now()). */
static atomic_bool stw_only;

static int mode_get(void)
{
	if (gc_mode < 0) {
		const char *e = getenv("GCHEAP_GCMODE");
		const char *b = getenv("GCHEAP_BARRIER");

		/* GCHEAP_GCMODE=stw: the stop-the-world collector, for
		 * debugging and comparison */
		gc_mode = e && !strcmp(e, "stw") ? GC_MODE_STW :
			  b && !strcmp(b, "dirty") ? GC_MODE_DIRTY :
			  GC_MODE_BARRIER;
	}
	return gc_mode;
}

bool gc_mode_concurrent(void)
{
	return mode_get() != GC_MODE_STW;
}

/*
 * No barrier for the life of the process, whatever GCHEAP_BARRIER says:
 * for a library whose callers store pointers without it (libgc.so.1,
 * compat/).  Cycles then mark beside the program where the module tracks
 * dirty pages, and stop the world elsewhere, or everywhere with
 * GCHEAP_GCMODE=stw.  Before the first heap opens.
 */
void gc_mode_force_nobarrier(void)
{
	gc_mode = mode_get() == GC_MODE_STW ? GC_MODE_STW : GC_MODE_DIRTY;
}

/*
 * Do @g's cycles mark beside the program?  Not in stop-the-world mode, nor
 * without a barrier where the module cannot track dirty pages (the pacer
 * then triggers at the goal, as for a stop-the-world cycle).
 */
bool gc_heap_concurrent(struct gc_heap *g)
{
	int mode = atomic_load(&stw_only) ? GC_MODE_STW : mode_get();

	return mode == GC_MODE_BARRIER ||
	       (mode == GC_MODE_DIRTY && gc_dirty_usable(g->h));
}

/*
 * Under gc_lock, a cycle of @g about to start: may it mark beside the
 * program, and how does it learn of the program's stores?  Sets
 * g->cycle_dirty (no barrier: dirty tracking instead) and g->cycle_verify
 * (barrier and, to check it, dirty tracking: GCHEAP_GCVERIFY=barrier).
 */
static bool cycle_concurrent(struct gc_heap *g)
{
	bool conc = gc_heap_concurrent(g);

	g->cycle_dirty = conc && mode_get() == GC_MODE_DIRTY;
	g->cycle_verify = conc && mode_get() == GC_MODE_BARRIER &&
			  gc_dirty_usable(g->h) && gc_dirty_verify_enabled();
	return conc;
}

/* A pause ended: recorded, and it stopped every CPU's program. */
static void pause_done(struct gc_heap *g, int64_t t0, int64_t c0)
{
	uint64_t ns = (uint64_t)(gc_now_ns() - t0);
	uint64_t cpu = (uint64_t)(gc_thread_cpu_ns() - c0);

	gc_pause_record(g, ns, cpu);
	gc_limiter_pause(ns, cpu);
}

/*
 * Sweep termination and pause 1, on the worker with gc_lock held: gray the
 * roots and turn marking on.  The worker is not attached: every attached
 * thread is stopped and scanned alike.
 */
static void mark_start(struct gc_heap *g)
{
	struct gch_heap *h = g->h;
	int64_t t0, c0 = gc_thread_cpu_ns();
	struct gc_work w;

	/* sweep termination, with the program running: GC CPU too */
	gc_sweep_finish(h);
	/*
	 * Dirty tracking from before the pause: a write between arming and
	 * the pause is seen as any later one, and arming (a walk of the
	 * heap's page tables) stays out of the pause.  If it fails, pause 2
	 * of a cycle without a barrier rescans every marked object.
	 */
	if ((g->cycle_dirty || g->cycle_verify) && gc_dirty_arm(g))
		g->cycle_verify = false;
	gc_limiter_account((uint64_t)(gc_thread_cpu_ns() - c0));
	gc_roots_lock();
	gc_fin_lock();
	t0 = gc_now_ns();
	g->last.threads = gc_stop_world() + (gc_tls.self != NULL);
	/*
	 * The heap's extent only once the world is stopped: an arena made
	 * meanwhile holds objects allocated before the pause, not black,
	 * which the roots may point at.
	 */
	gc_work_init(&w, h);
	sweep_termination(g);	/* again: what a refill claimed meanwhile */
	if (gc_verify_enabled())
		gc_verify_start(g);
	mark_roots(g, &w);
	gch_black_bytes = 0;
	gch_black_lo = h->base;
	gch_black_hi = h->base + ((uintptr_t)h->max_arenas << GCH_ARENA_SHIFT);
	gc_mark_set_concurrent(true);
	if (!g->cycle_dirty)
		gc_barrier_enable(h);
	/*
	 * The work ahead is about what the last mark scanned (Go's heapScan:
	 * pointer-free objects are marked but never scanned, and counting
	 * them, as the live heap does, doubled the assists of a program
	 * with half its heap pointer-free), before any mark the live heap;
	 * the runway is what is left before the goal.
	 */
	g->cycle_scan_expected = g->last_scan_work ? g->last_scan_work :
				 g->heap_marked ? g->heap_marked :
				 g->last.heap_before;
	gc_assist_start(h, g->cycle_scan_expected,
			g->heap_goal > g->last.heap_before ?
			g->heap_goal - g->last.heap_before : 0);
	gc_work_dispose(&w);	/* the gray roots go to the pool */
	g->cycle_marked = w.bytes_marked;
	gc_start_world();
	g->last.stopped = false;
	g->last.stw_ns = gc_now_ns() - t0;
	g->last.cpu_stw_ns = gc_thread_cpu_ns() - c0;
	pause_done(g, t0, c0);
	gc_announce_pause(h, GCH_PAUSE_MARK_START, g->cycle + 1,
			  (uint64_t)g->last.stw_ns);
	gc_fin_unlock();
	gc_roots_unlock();
	g->mark_started_ns = gc_now_ns();
}

static void flush_thread_cb(struct gc_thread *t, bool is_self, void *arg)
{
	(void)is_self;
	(void)arg;
	gc_barrier_flush_thread(t);
}

/*
 * Pause 2, the world stopped and gc_lock and the finalizer lock held:
 * finish marking and the cycle.  @w is the worker's, drained.
 */
static void mark_termination(struct gc_heap *g, struct gc_work *w)
{
	struct gch_heap *h = g->h;

	gc_release_caches(h);	/* the last windows, allocated black */
	gc_mark_parallel(w, gc_pool_has_work() &&
			 g->heap_marked >= GC_PARALLEL_MIN);
	if (gc_verify_enabled())
		gc_verify_mark(g);	/* GCHEAP_GCVERIFY=1 (verify.c) */
	if (g->cycle_verify && !g->dirty_lost)
		gc_dirty_verify(g);	/* GCHEAP_GCVERIFY=barrier (dirtyscan.c) */
	gc_barrier_disable();
	g->last_scan_work = gc_assist_scan_done();
	if (g->cycle_reason == GC_REASON_HEAP) {
		struct gc_mark_sample m = {
			.run_ns = g->mark_started_ns - g->last_gc_ns,
			.run_alloc = gc_assist_alloc_base(),
			.mark_ns = gc_now_ns() - g->mark_started_ns,
			.scanned = g->last_scan_work,
			.assist_scanned = gc_assist_scan_assists(),
		};

		gc_pacer_adapt(g, &m);
	}
	g->last.cpu_assist_ns = (int64_t)gc_assist_stop();
	g->last.heap_end = gc_heap_live(g);
	gch_black_lo = gch_black_hi = 0;
	gc_fin_after_mark(w);
	gc_mark_set_concurrent(false);
	g->heap_marked = g->cycle_marked + w->bytes_marked +
			 gc_barrier_take_marked() + gch_black_bytes;
	g->heap_traced = g->heap_marked - gch_black_bytes;
	cycle_end(g);
}

/* What pause 2 of a cycle without a barrier may scan before it gives up. */
#define GC_DIRTY_PAUSE_BUDGET	(1 << 20)

/*
 * Pause 2 of a cycle without a barrier (dirtyscan.c), the world stopped:
 * close the allocation windows (what they handed out turns black), rescan
 * the marked objects on the last dirty set and every root, and drain up
 * to the pause's budget.  True when gray work is left, which marking
 * beside the program may take.
 */
static bool dirty_term(struct gc_heap *g, struct gc_work *w)
{
	int64_t n = -1;

	gc_release_caches(g->h);
#ifdef GC_DIRTY_TEST_NO_FINAL_RESCAN
	n = 0;	/* the proof build (tests/gc_dirty_test.c) forgets them */
#else
	if (g->dirty_armed && !g->dirty_lost)
		n = gc_dirty_rescan(g, w, false);
#endif
	if (n < 0) {
		g->dirty_lost = true;
		gc_dirty_rescan_all(g, w);
	} else {
		g->dirty.final_pages += (uint64_t)n;
	}
	mark_roots(g, w);
	return gc_drain_budget(w, GC_DIRTY_PAUSE_BUDGET) ||
	       gc_pool_has_work();
}

/*
 * The background mark worker's part of a cycle: drain beside the program
 * (without a barrier: then rescan the dirty pages, in rounds), then stop
 * the world to see whether the barrier buffers (or the last dirty pages
 * and the roots) held more; end the cycle when they did not (or after
 * GC_TERM_RETRIES tries).
 */
static void mark_background(struct gc_heap *g)
{
	struct gc_bg_clock clk = { .c0 = gc_thread_cpu_ns() };
	int64_t t0, term_ns = 0, tc = 0, cp;
	struct gc_work w;
	bool more;
	/* pause 2 scans the roots again: without a barrier, and to verify */
	bool roots = gc_verify_enabled() || g->cycle_dirty;

	clk.cs = clk.c0;
	g->dirty_lost = (g->cycle_dirty || g->cycle_verify) && !g->dirty_armed;
	gc_work_init(&w, g->h);
	for (unsigned tries = 0;; tries++) {
		do
			gc_bg_drain(g, &w, &clk);
		while (gc_assist_wait());
		if (g->cycle_dirty && !g->dirty_lost &&
		    !gc_dirty_rounds(g, &w, gc_bg_drain, &clk))
			g->dirty_lost = true;
		pthread_mutex_lock(&gc_lock);
		if (roots)
			gc_roots_lock();
		gc_fin_lock();
		t0 = gc_now_ns();
		cp = gc_thread_cpu_ns();
		gc_stop_world();
		gc_for_each_thread(flush_thread_cb, NULL);
		more = g->cycle_dirty ? dirty_term(g, &w) : gc_pool_has_work();
		more = more && tries < GC_TERM_RETRIES;
		if (!more) {
			g->last.mark_ns = t0 - g->mark_started_ns;
			g->last.cpu_mark_ns = (int64_t)g->cycle_gc_cpu_ns;
			g->last.cpu_idle_ns = (int64_t)g->cycle_idle_cpu_ns;
			tc = gc_thread_cpu_ns();
			mark_termination(g, &w);
		}
		gc_start_world();
		term_ns += gc_now_ns() - t0;
		pause_done(g, t0, cp);
		/* the last pause has counted its cycle as done already */
		gc_announce_pause(g->h, GCH_PAUSE_MARK_TERM,
				  more ? g->cycle + 1 : g->cycle,
				  (uint64_t)(gc_now_ns() - t0));
		gc_fin_unlock();
		if (roots)
			gc_roots_unlock();
		if (!more)
			break;
		pthread_mutex_unlock(&gc_lock);
	}
	gc_dirty_disarm(g);	/* the program runs: not in a pause */
	g->last.term_ns = term_ns;
	g->last.cpu_term_ns = gc_thread_cpu_ns() - tc;
	gch_add(&g->bg_cpu_ns, (uint64_t)g->last.cpu_mark_ns);
	gch_add(&g->idle_cpu_ns, (uint64_t)g->last.cpu_idle_ns);
	gch_add(&g->assist_cpu_ns, (uint64_t)g->last.cpu_assist_ns);
	g->last.cpu_term_ns += (int64_t)w.helper_cpu_ns;
	gch_add(&g->gc_cpu_ns, (uint64_t)(gc_thread_cpu_ns() - clk.c0) +
				(uint64_t)g->last.cpu_stw_ns +
				(uint64_t)g->last.cpu_assist_ns +
				w.helper_cpu_ns);
	gc_work_dispose(&w);
	__atomic_store_n(&gc_marking, NULL, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&cycle_cv);
	if (gc_trace_enabled())
		gc_trace_cycle(g);
	pthread_mutex_unlock(&gc_lock);
	gc_sweeper_start();
	gc_fin_wake();
}

/* The worker: unattached, every signal blocked, one cycle at a time. */
static void *bg_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gc_lock);
	for (;;) {
		struct gc_heap *g;

		while (!bg_job)
			pthread_cond_wait(&bg_wake, &gc_lock);
		g = bg_job;
		bg_job = NULL;
		mark_start(g);
		gc_pacer_mark_started(g);
		/* assists are on: for allocations at the goal that waited */
		pthread_cond_broadcast(&cycle_cv);
		pthread_mutex_unlock(&gc_lock);
		mark_background(g);
		pthread_mutex_lock(&gc_lock);
	}
	return NULL;
}

/* Under gc_lock: start the worker once; false if it cannot be. */
static bool bg_start(void)
{
	if (!bg_started)
		bg_started = !gc_spawn(bg_main, NULL);
	return bg_started;
}

/* Under gc_lock: wait until no cycle marks beside the program. */
static void wait_marking_done(void)
{
	while (gc_marking)
		gc_cond_wait_blocking(&cycle_cv, &gc_lock);
}

/*
 * Under gc_lock, for an allocation at @h's goal while a cycle is on its
 * way: wait until the cycle's assists are on -- the caller then marks
 * (gc_pending_slow) -- or until it has ended.  Waiting for the end idled
 * the program through whole marks when it reached the goal before the
 * worker's mark start (the worker first finishes the last sweep): the
 * worker then marked alone.  Churn at GC percent 25 spent half its wall
 * time there, and took 1.5 times the stop-the-world mode's.
 */
static void wait_assists_or_done(struct gch_heap *h)
{
	while (gc_marking && !gc_assist_active(h))
		gc_cond_wait_blocking(&cycle_cv, &gc_lock);
}

/*
 * From now on every cycle stops the world, whatever the mode: libgc.so.1
 * calls it when the program registers a mark procedure (GC_new_proc),
 * which bdwgc only ever runs with the world stopped and which may walk
 * structures the program is changing -- a cycle without a barrier would
 * run it beside the program.  Returns once no cycle marks concurrently.
 */
void gc_mode_stw_from_now(void)
{
	gc_lock_blocking(&gc_lock);
	atomic_store(&stw_only, true);
	wait_marking_done();
	pthread_mutex_unlock(&gc_lock);
}

/* bdwgc's start callback (libgc.so.1); set and read under no lock: a
 * cycle sees the old or the new one. */
static void (*_Atomic start_cb)(void);

void gc_set_start_callback(void (*fn)(void))
{
	start_cb = fn;
}

void (*gc_get_start_callback(void))(void)
{
	return start_cb;
}

static __attribute__((noinline)) int collect_locked(struct gch_heap *h,
						    enum gc_reason why)
{
	struct gc_heap *g;
	struct gc_work w;
	void (*start_fn)(void);

	gc_lock_blocking(&gc_lock);
	if (gc_marking) {
		/*
		 * A cycle is marking.  An allocation that reached its heap's
		 * goal meanwhile waits for its assists to start, or for it to
		 * end (the program must not outrun marking); gch_gc() waits
		 * for the end, then runs its own.
		 */
		g = gc_marking;
		if (why == GC_REASON_FORCED || why == GC_REASON_PRESSURE)
			wait_marking_done();
		else if (why == GC_REASON_HEAP && g->h == h && at_goal(g) &&
			 !gc_limiter_on())
			wait_assists_or_done(h);
		if (why != GC_REASON_FORCED && why != GC_REASON_PRESSURE) {
			pthread_mutex_unlock(&gc_lock);
			return 0;
		}
	}
	g = gc_of(h);
	/* The heap closed, or another thread just collected it. */
	if (!g || g->h != h || (why == GC_REASON_HEAP &&
		   (!gch_load(&h->pacer_trigger) ||
		    gch_load(&h->alloc_since_cycle) <
		    gch_load(&h->pacer_trigger))) ||
	    (why == GC_REASON_TIME && !gc_pacer_periodic_due(g, gc_now_ns())) ||
	    (why == GC_REASON_HEAP && gc_pacer_defer(g))) {
		pthread_mutex_unlock(&gc_lock);
		return 0;
	}
	g->last.start_ns = gc_now_ns();
	start_fn = start_cb;
	if (start_fn)
		start_fn();
	gc_pacer_cgroup_poll(g, g->last.start_ns);
	if (why == GC_REASON_PRESSURE)
		gch_add(&g->pressure_cycles, 1);
	else if (why != GC_REASON_HEAP)
		gch_add(&g->forced, 1);
	gc_announce(h, GCH_GC_MARK_START, gc_heap_live(g));

	if (cycle_concurrent(g) && bg_start()) {
		/*
		 * The worker runs the whole cycle, sweep termination and pause
		 * 1 included: the allocation that crossed the trigger returns
		 * at once instead of finishing the last cycle's sweep.
		 */
		g->cycle_reason = why;
		g->cycle_gc_cpu_ns = g->cycle_idle_cpu_ns = 0;
		__atomic_store_n(&gc_marking, g, __ATOMIC_RELEASE);
		bg_job = g;
		pthread_cond_signal(&bg_wake);
		/* gch_gc() returns once marking is done, as it always did */
		if (why == GC_REASON_FORCED || why == GC_REASON_PRESSURE)
			wait_marking_done();
		pthread_mutex_unlock(&gc_lock);
		return 0;
	}

	gc_work_init(&w, h);
	gc_roots_lock();
	gc_fin_lock();
	cycle_stopped(g, &w);
	gc_fin_unlock();
	gc_roots_unlock();
	gc_work_dispose(&w);

	if (gc_trace_enabled())
		gc_trace_cycle(g);
	pthread_mutex_unlock(&gc_lock);
	gc_sweeper_start();
	gc_fin_wake();
	return 0;
}

/*
 * Entry to a collection.  Only the mutator's frames of this thread are
 * roots: the collector's own frames below hold stale words (span bases,
 * objects just swept...) that would keep garbage alive.  So gc_collect is a
 * small x86-64 trampoline: it pushes the callee-saved registers (the only
 * ones that can hold the caller's live values across a call) and passes
 * the address of the lowest one on; the stack scan of this thread starts
 * exactly there -- saved registers, return address, the caller's frames --
 * with no padding slot of a C frame in between.
 */
__attribute__((used, visibility("hidden")))
int gc_collect_from(struct gch_heap *h, enum gc_reason why, uintptr_t sp)
{
	int err;

	err = gc_thread_register();
	if (err)
		return err;
	gc_tls.collect_sp = sp;
	gc_tls.self->collect_sp = sp;
	err = collect_locked(h, why);
	gc_tls.self->collect_sp = 0;
	gc_tls.collect_sp = 0;
	return err;
}

/*
 * A collection started by the library's unattached sweeper thread (the
 * periodic one): it has no stack of its own to scan and is no mutator to
 * leave running.
 */
int gc_collect_unattached(struct gch_heap *h, enum gc_reason why)
{
	assert(!gc_tls.self);
	return collect_locked(h, why);
}

#if !defined(__x86_64__)
#error "gc_collect's register spill is written for x86-64"
#endif
__asm__(".text\n"
	".globl gc_collect\n"
	".type gc_collect, @function\n"
	"gc_collect:\n"
	"	.cfi_startproc\n"
	"	push %rbp\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	push %rbx\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	push %r12\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	push %r13\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	push %r14\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	push %r15\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	mov %rsp, %rdx\n"
	"	sub $8, %rsp\n"		/* 16-byte alignment for the call */
	"	.cfi_adjust_cfa_offset 8\n"
	"	call gc_collect_from\n"
	"	add $8, %rsp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %r15\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %r14\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %r13\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %r12\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %rbx\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %rbp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size gc_collect, .-gc_collect\n");

int gc_heap_init(struct gch_heap *h, const struct gch_options *o)
{
	struct gc_heap *g;
	int err;

	err = gc_stw_init();
	if (err)
		return err;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->h = h;
	gc_trace_init();
	gc_pacer_init(g, o ? o->gc_percent : 0, o ? o->memory_limit_bytes : 0);
	gc_lock_blocking(&gc_lock);
	if (!gc_epoch_ns)
		gc_epoch_ns = gc_now_ns();
	g->last_gc_ns = gc_now_ns();
	__atomic_store_n(&gc_slots[h->slot], g, __ATOMIC_RELEASE);
	h->pacer_hook = pacer_hook;
	pthread_mutex_unlock(&gc_lock);
	gc_pressure_add(h);
	return 0;
}


void gc_heap_destroy(struct gch_heap *h)
{
	struct gc_heap *g;

	gc_pressure_remove(h);		/* before gc_lock: pressure_answer.c */
	gc_lock_blocking(&gc_lock);
	while (gc_marking && gc_marking->h == h)
		gc_cond_wait_blocking(&cycle_cv, &gc_lock);
	g = gc_slots[h->slot];
	if (g && g->h == h)
		__atomic_store_n(&gc_slots[h->slot], NULL, __ATOMIC_RELEASE);
	else
		g = NULL;
	h->pacer_hook = NULL;
	gc_limiter_rearm();
	pthread_mutex_unlock(&gc_lock);
	gc_fin_heap_destroy(h);
	if (g && g->dirty_bits)
		munmap(g->dirty_bits, g->dirty_bytes);
	free(g);
}

int64_t gc_since_start_ns(void)
{
	return gc_now_ns() - gc_epoch_ns;
}

/* ---- public API ---------------------------------------------------------- */

int gch_gc(gch_heap *h)
{
	int err = gc_collect(h, GC_REASON_FORCED);

	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}

int gch_gc_stats(gch_heap *h, struct gch_gc_stats *st)
{
	struct gc_heap *g = gc_of(h);
	struct gch_heap_stats hs;
	struct gch_stats ks = { .size = sizeof(ks) };

	if (!g || !st) {
		errno = EINVAL;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	if (gch_stats(h, &hs))
		return -1;
	gc_lock_blocking(&gc_lock);
	st->cycles = g->cycle;
	st->forced_cycles = gch_load(&g->forced);
	st->pressure_cycles = gch_load(&g->pressure_cycles);
	gc_pause_fill(g, st);
	st->gc_assist_cpu_ns = gch_load(&g->assist_cpu_ns);
	st->gc_dedicated_cpu_ns = gch_load(&g->bg_cpu_ns);
	st->gc_idle_cpu_ns = gch_load(&g->idle_cpu_ns);
	st->gc_limiter_ns = gc_limiter_enabled_ns();
	st->heap_live_bytes = g->heap_traced;
	st->heap_goal_bytes = g->heap_goal;
	st->heap_trigger_bytes = g->heap_goal ?
				 g->heap_marked + g->heap_trigger : 0;
	st->gc_percent = g->gc_percent;
	st->memory_limit_bytes = g->mem_limit;
	st->memory_limit_source = (uint32_t)g->limit_source;
	st->gc_cpu_ns = gch_load(&g->gc_cpu_ns);
	pthread_mutex_unlock(&gc_lock);
	st->alloc_bytes = hs.alloc_bytes;
	st->alloc_objects = hs.alloc_objects;
	st->free_bytes = gch_load(&g->free_bytes);
	st->free_objects = gch_load(&g->free_objects);
	st->heap_objects = st->alloc_objects > st->free_objects ?
			   st->alloc_objects - st->free_objects : 0;
	st->heap_span_bytes = hs.span_bytes;
	st->resident_bytes = hs.resident_bytes;
	st->finalizers_run = gch_load(&g->finalizers_run);
	st->weak_cleared = gch_load(&g->weak_cleared);
	if (!h->pl->stats(h, &ks))
		st->released_bytes = ks.released_bg_bytes +
				     ks.released_eager_bytes +
				     ks.released_shrink_bytes +
				     ks.released_memcg_bytes +
				     ks.released_ioctl_bytes;
	return 0;
}

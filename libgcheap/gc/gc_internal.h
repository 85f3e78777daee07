/* SPDX-License-Identifier: MIT */
/*
 * gc_internal.h - the collector's internals, shared by roots.c, stw.c,
 * mark.c, sweep.c, pacer.c, finalizer.c, gctrace.c and gc.c.
 *
 * The allocator's internals (spans, mcache, mcentral) live in internal.h and
 * are owned by the allocator; this header only adds what the collector needs.
 *
 * Locking, outermost first (never take an earlier one while holding a later):
 *   gc_lock          (gc.c)        one collection at a time; the collector
 *                                   holds it across the whole stopped world
 *   stw.lock         (stw.c)       the thread registry
 *   roots.lock       (roots.c)     registered root ranges
 *   fin.lock         (finalizer.c) finalizer table, weak handles, queue
 *   allocator locks  (mcentral, page layer)
 * The collector takes gc_lock, stw.lock, roots.lock and fin.lock BEFORE it
 * stops the world, so no parked thread can be holding one of them (a thread
 * blocked on one of them is parked inside pthread_mutex_lock, which is fine).
 * Allocator locks are never held by a parked thread because allocation runs
 * with gc_tls.nopreempt set (see stw.c).
 */
#ifndef GCHEAP_GC_INTERNAL_H
#define GCHEAP_GC_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gcheap.h"

#define GC_WORD		sizeof(uintptr_t)

/*
 * Conservative scanning reads whole stacks and data segments, redzones and
 * all, and other threads' stacks without any synchronisation the
 * sanitizers could see (the threads are parked by a signal): these reads
 * are the collector's business, not bugs.
 */
#define GC_NO_SANITIZE \
	__attribute__((no_sanitize_address, no_sanitize_thread))

/* ------------------------------------------------------------------ */
/* Threads and stopping the world (stw.c)                              */
/* ------------------------------------------------------------------ */

/* Saved general-purpose registers of a parked thread (x86-64: 23 gregs). */
#define GC_NSAVED_REGS	32

struct gc_thread {
	struct gc_thread *next;		/* registry list, under stw.lock */
	struct gc_thread *prev;
	pthread_t pthread;
	pid_t tid;
	uintptr_t stack_lo;		/* lowest usable stack address */
	uintptr_t stack_hi;		/* one past the highest */
	/*
	 * Written by the thread itself in the suspend handler before it
	 * acknowledges; read by the collector only after the acknowledgement
	 * (release/acquire through parked_gen).
	 */
	uintptr_t saved_sp;
	uintptr_t regs[GC_NSAVED_REGS];
	/* its own gc_tls.collect_sp, for the collector to see (gc.c) */
	uintptr_t collect_sp;
	_Atomic unsigned parked_gen;	/* stw generation it parked for */
	_Atomic unsigned blocked;	/* GC_RUNNING, GC_BLOCKED... (stw.c) */
	unsigned signals_sent;		/* collector side: retries */
	/* barrier.c: pointers this thread shaded, not yet marked */
	uintptr_t *wb_buf;		/* GC_WB_ENTRIES, mmap'ed */
	unsigned wb_n;
	uint64_t wb_shaded;		/* pointers it ever shaded */
};

/*
 * Per-thread state read by the suspend signal handler.  nopreempt is
 * non-zero while the thread is inside the allocator (or any other code that
 * must not be parked half-way).  pending.any is non-zero when the thread has
 * something to do on leaving such a section: park (the handler came while
 * nopreempt was set) or collect (its allocation passed a heap's trigger).
 * Everything here is touched only by its own thread and that thread's
 * signal handler; pending is two separate bytes so that neither side ever
 * does a read-modify-write of the other's flag.  Plain accesses with a
 * compiler (signal) fence are therefore enough.
 */
struct gc_tls {
	volatile sig_atomic_t nopreempt;
	/*
	 * Set (to 1, never counted) for the length of the allocation fast
	 * path (gc_alloc_fast): the section without its counter.  A counter
	 * incremented and decremented in every allocation chains each
	 * allocation to the last through memory (two store-to-load
	 * forwards); two stores of constants do not.
	 */
	volatile uint8_t in_fast;
	union {
		struct {
			volatile uint8_t preempt;	/* set by the handler */
			volatile uint8_t collect;	/* set by the pacer */
		} b;
		volatile uint16_t any;
	} pending;
	struct gch_heap *collect_heap;	/* the heap whose trigger we passed */
	struct gc_thread *self;		/* NULL: not attached */
	/*
	 * While this thread collects: the stack pointer where it entered the
	 * collector.  Only [collect_sp, stack top) is its mutator stack; the
	 * collector's own frames below hold no roots, only stale words.
	 */
	uintptr_t collect_sp;
};
extern __thread struct gc_tls gc_tls
	__attribute__((tls_model("initial-exec")));

struct gch_heap;
void *gc_pending_slow(void *p);
void gc_park_self(void);

static inline void gc_nopreempt_enter(void)
{
	gc_tls.nopreempt++;
	atomic_signal_fence(memory_order_seq_cst);
}

/*
 * Leave a no-preemption section.  One unlikely branch: if a stop request
 * arrived meanwhile, park now rather than at the collector's next retry (a
 * thread that is almost always allocating would otherwise be hard to catch);
 * if this thread's allocation passed the GC trigger, collect now -- outside
 * the allocator, where every cache and lock is consistent.  @p (the object
 * just allocated, or NULL) is returned; it stays in a local meanwhile, so a
 * collection keeps it alive.
 */
static inline void *gc_nopreempt_exit_p(void *p)
{
	atomic_signal_fence(memory_order_seq_cst);
	gc_tls.nopreempt--;
	if (__builtin_expect(gc_tls.pending.any, 0))
		return gc_pending_slow(p);
	return p;
}

static inline void gc_nopreempt_exit(void)
{
	(void)gc_nopreempt_exit_p(NULL);
}

/*
 * The allocator's public entry points: gc_alloc_enter(); ...; return
 * gc_alloc_exit(p); except the small-object fast path (gc_alloc_fast).
 */
#define gc_alloc_enter()	gc_nopreempt_enter()
#define gc_alloc_exit(p)	gc_nopreempt_exit_p(p)

int gc_thread_register(void);	/* 0 or -errno; idempotent */
/*
 * Wait for a lock or a condition of the library's own (gc_lock, roots,
 * finalizers, the registry) as a blocked thread, which a stop of the
 * world counts as parked without signalling it (stw.c).  From outside
 * no-preemption sections; inside one they are plain waits.
 */
void gc_lock_blocking(pthread_mutex_t *m);
void gc_cond_wait_blocking(pthread_cond_t *cv, pthread_mutex_t *m);
/* Sleep @ts the same way (a nap between looks for work). */
void gc_nap_blocking(const struct timespec *ts);
/* Start a detached library thread with every signal blocked; 0 or errno. */
int gc_spawn(void *(*fn)(void *), void *arg);
void gc_thread_unregister(void);
int gc_stw_init(void);
/*
 * Stop every attached thread but the caller.  The caller must hold
 * gc_lock.  On return each other thread is parked in the suspend handler
 * with its registers on its own stack.  Returns the number of threads
 * stopped.
 */
unsigned gc_stop_world(void);
void gc_start_world(void);
/* With the world stopped: visit each attached thread (the caller too). */
void gc_for_each_thread(void (*fn)(struct gc_thread *t, bool is_self,
				   void *arg), void *arg);
unsigned gc_thread_count(void);

/* ------------------------------------------------------------------ */
/* The write barrier (barrier.c)                                       */
/* ------------------------------------------------------------------ */

/*
 * Entries of a thread's barrier buffer (2 KiB).  A full buffer is marked in
 * the path of the store that filled it; at 256 entries that takes a few
 * microseconds (gc_mark_ptrs), once per 128 barriered stores.
 */
#define GC_WB_ENTRIES	256

/* World stopped: shade from now on for a cycle marking @h; or stop. */
void gc_barrier_enable(struct gch_heap *h);
void gc_barrier_disable(void);
struct gch_heap *gc_barrier_heap(void);	/* NULL while off */
/* Gray @n shaded pointers into the work pool. */
void gc_barrier_flush(const uintptr_t *buf, unsigned n);
/* Shade @p while a cycle marks (library barriers; no lock held). */
void gc_shade(uintptr_t p);
/* Bytes marked by flushes and assists since the last call (world stopped). */
uint64_t gc_barrier_take_marked(void);
void gc_barrier_marked(uint64_t bytes);

/* ------------------------------------------------------------------ */
/* Mark assists (assist.c)                                             */
/* ------------------------------------------------------------------ */

/* World stopped, mark start: @scan_expected bytes of work, @runway bytes
 * the program may allocate before the goal. */
void gc_assist_start(struct gch_heap *h, uint64_t scan_expected,
		     uint64_t runway);
/* World stopped, mark termination: assists end; their CPU ns. */
uint64_t gc_assist_stop(void);
/* Background mark work done: credit against the mutators' debt. */
void gc_assist_credit(uint64_t scanned);
/* The worker ran dry: wait for assists under way; true if they left work. */
bool gc_assist_wait(void);
/* Drain about @budget bytes from the shared pool, apart from any marker's
 * own buffers, as credit; the bytes scanned. */
uint64_t gc_drain_apart(struct gch_heap *h, uint64_t budget);
/* Bytes scanned so far this cycle, by every marker (the credit). */
uint64_t gc_assist_scan_done(void);
/* Of them, by assists. */
uint64_t gc_assist_scan_assists(void);
/* The heap's allocation since its last cycle when this one's marking began. */
uint64_t gc_assist_alloc_base(void);
/* A thread allocating into @h while it is marked, below the goal, pays
 * its debt (as far as there is gray work to take). */
void gc_assist(struct gch_heap *h);
/* At the goal: do all the gray work there is to take. */
void gc_assist_all(struct gch_heap *h);
bool gc_assist_active(struct gch_heap *h);
/* The thread's own buffer: from itself, or with the world stopped. */
void gc_barrier_flush_thread(struct gc_thread *t);
int gc_barrier_thread_init(struct gc_thread *t);
void gc_barrier_thread_fini(struct gc_thread *t);
/* Suspend handler: move a thread interrupted inside a gch_store() fast
 * path back to its start (@uctx: the handler's ucontext_t). */
void gc_barrier_rewind(void *uctx);
/* The start of the barrier site strictly containing @pc, or 0. */
uintptr_t gc_barrier_site_start(uintptr_t pc);

/* ------------------------------------------------------------------ */
/* Roots (roots.c)                                                     */
/* ------------------------------------------------------------------ */

/*
 * A root range to scan: [lo, hi) word aligned.  ptrmap == NULL means
 * conservative; otherwise bit i of ptrmap says word i holds a pointer.
 */
typedef void (*gc_range_fn)(uintptr_t lo, uintptr_t hi,
			    const uint64_t *ptrmap, void *arg);

int gc_roots_init(void);
/* Hold roots.lock across a collection (taken before the world stops). */
void gc_roots_lock(void);
void gc_roots_unlock(void);
/* With roots.lock held: every registered range and, if enabled, data segments. */
void gc_roots_for_each(gc_range_fn fn, void *arg);
/*
 * With the world stopped: stack and saved registers of every attached
 * thread; for the calling thread, from gc_tls.collect_sp up.
 */
void gc_roots_for_each_stack(gc_range_fn fn, void *arg);
size_t gc_roots_bytes(void);	/* bytes scanned by the last walk, for gctrace */
/* An address just below the caller's frame. */
uintptr_t gc_current_sp(void) __attribute__((noinline));

/* ------------------------------------------------------------------ */
/* Marking (mark.c): Go's gcWork                                        */
/* ------------------------------------------------------------------ */

/* A work buffer of gray objects; 8 KiB. */
#define GC_WBUF_OBJS	1022
struct gc_wbuf {
	struct gc_wbuf *next;
	size_t n;
	uintptr_t obj[GC_WBUF_OBJS];
};

/*
 * One marker's view of the gray set: two private buffers (so that a push
 * right after a pop never ping-pongs with the shared pool) and the shared
 * pool of full buffers behind them.  Every marker has one: the background
 * worker, the helper markers, each assisting thread and each barrier-buffer
 * flush; while more than one can run, a mark bit is set with an atomic OR.
 */
struct gc_work {
	struct gch_heap *h;
	/* the heap's geometry, read once per drain: base, bytes of created
	 * arenas (a concurrent marker will also see arenas created later only
	 * through objects allocated black) and span slots */
	uintptr_t heap_base, heap_limit;
	const uint64_t *spanslots;
	struct gc_wbuf *cur, *alt;
	uint64_t bytes_marked;
	uint64_t bytes_scanned;
	uint64_t helper_cpu_ns;		/* CPU of helper markers it used */
};

void gc_work_init(struct gc_work *w, struct gch_heap *h);
void gc_work_extend(struct gc_work *w);
void gc_work_dispose(struct gc_work *w);	/* buffers back to the pool */
/* Gray buffers to the pool (the worker, before it sleeps). */
void gc_work_publish(struct gc_work *w);
/* Mark the object containing @p if it is an allocated object of w->h. */
void gc_mark_ptr(struct gc_work *w, uintptr_t p);
/* The same for @n of them, their cache misses overlapped (barrier flush). */
void gc_mark_ptrs(struct gc_work *w, const uintptr_t *ptrs, unsigned n);
/* Scan [lo, hi): conservatively, or precisely by @ptrmap. */
void gc_mark_range(struct gc_work *w, uintptr_t lo, uintptr_t hi,
		   const uint64_t *ptrmap);
/* Gray the children of the object at @base without marking it. */
void gc_scan_object(struct gc_work *w, uintptr_t base);
/*
 * Objects allocated by gch_malloc_proc() are scanned by this hook instead
 * of word by word: @fn(w, base, size, descr) shades their children with
 * gc_mark_ptr()/gc_mark_range() on @w.  Set once, before such objects
 * exist (libgc.so.1's custom kinds: compat/kinds.c); it runs wherever
 * marking runs (a mark worker, an assist, a stopped world) and must not
 * allocate or take a lock of the library's.
 */
typedef void (*gc_proc_scan_fn)(struct gc_work *w, uintptr_t base,
				size_t size, uint64_t descr);
void gc_set_proc_scan(gc_proc_scan_fn fn);
/* Mark everything reachable from the gray set. */
void gc_drain(struct gc_work *w);
/* The same, stopping after about @budget bytes scanned (true: work left). */
bool gc_drain_budget(struct gc_work *w, uint64_t budget);
/* The same, with helper markers when @want_parallel. */
void gc_mark_parallel(struct gc_work *w, bool want_parallel);
/* Mark bits atomic for a whole concurrent cycle (set with the world stopped). */
void gc_mark_set_concurrent(bool on);
/* The shared pool has gray buffers (exact only with the world stopped). */
bool gc_pool_has_work(void);
/* How many (racy). */
size_t gc_pool_buffers(void);
/* A thread wants gray work during a concurrent mark (on), or no longer. */
void gc_work_hungry(bool on);
/* Is the object containing @p marked?  (with the world stopped) */
bool gc_is_marked(struct gch_heap *h, uintptr_t p);
/* Set the mark bit of the object at @base; true if it was newly marked. */
bool gc_mark_only(struct gc_work *w, uintptr_t base);

/* ------------------------------------------------------------------ */
/* Sweeping (sweep.c)                                                   */
/* ------------------------------------------------------------------ */

/*
 * The background sweeper leaves a cycle's spans alone this long after the
 * cycle ends.  A program that keeps allocating sweeps the classes it uses
 * on its own, in its refills, where an empty span is reused on the spot;
 * a sweeper racing it on the other core only moves those spans through the
 * page layer, fights it for the central locks and, by emptying the lists
 * it would have refilled from, makes it grow the heap.  What the program
 * does not sweep within the delay -- classes it stopped using, an idle
 * heap -- the sweeper still returns, and a class that runs out of spans
 * meanwhile sweeps the others before it takes new pages
 * (gc_sweep_reclaim).
 */
#define GC_SWEEP_DELAY_NS	(20 * 1000000LL)

struct gch_mcentral;
struct gch_span;
/* Lazy sweep for an mcache refill (Go's cacheSpan), or NULL. */
struct gch_span *gc_sweep_for_cache(struct gch_heap *h,
				    struct gch_mcentral *c);
/* Before the heap grows by @npages: sweep some first (sweep.c). */
void gc_sweep_reclaim(struct gch_heap *h, uint32_t npages);
/* With the world stopped: sweep everything still unswept. */
void gc_sweep_finish(struct gch_heap *h);
/* Background: sweep up to @max spans; false when nothing is left. */
bool gc_sweep_some(struct gch_heap *h, unsigned max);
/* With the world stopped: every thread's cache back to the centrals. */
void gc_release_caches(struct gch_heap *h);
int gc_sweeper_start(void);

/* ------------------------------------------------------------------ */
/* The per-heap collector state (gc.c, pacer.c)                        */
/* ------------------------------------------------------------------ */

enum gc_reason {
	GC_REASON_HEAP,		/* the pacer's trigger */
	GC_REASON_FORCED,	/* gch_gc() */
	GC_REASON_TIME,		/* no cycle for 2 minutes */
	GC_REASON_PRESSURE,	/* the module's pressure event (pressure_answer.c) */
};

struct gc_cycle_times {
	int64_t start_ns;	/* wall clock, CLOCK_MONOTONIC */
	int64_t stw_ns;		/* stop + finish sweep + release caches */
	int64_t mark_ns;
	int64_t term_ns;	/* weak refs, finalizers, restart */
	int64_t cpu_stw_ns, cpu_mark_ns, cpu_term_ns;
	int64_t cpu_assist_ns;	/* concurrent cycles: mutators' assists */
	int64_t cpu_idle_ns;	/* the worker's marking on idle CPUs */
	uint64_t heap_before;	/* heap live at the start */
	uint64_t heap_end;	/* heap live when marking ended */
	uint64_t heap_marked;
	uint64_t goal;
	uint64_t stack_bytes, global_bytes;
	unsigned threads;
	bool stopped;		/* a stop-the-world cycle: one pause, all of it */
};

/* The pause record (pauses.c), under gc_lock. */
#define GC_PAUSE_RING	256
struct gc_pauses {
	uint64_t count, total_ns, max_ns, cpu_ns;
	uint64_t hist[GCH_PAUSE_BUCKETS];
	uint64_t ring[GC_PAUSE_RING];	/* the last ones, by count */
};

struct gc_heap {
	struct gch_heap *h;
	struct gc_heap *next;		/* all heaps, under gc_lock */
	/* pacer (pacer.c); under gc_lock unless noted */
	int gc_percent;			/* < 0: off */
	uint64_t mem_limit;		/* 0: none */
	uint64_t min_heap;		/* goal floor over GC_MIN_HEAP
					 * (gc_pacer_expand) */
	int limit_source;		/* enum gch_memlimit_source */
	bool limit_auto;		/* no limit given: follow the cgroup */
	int64_t cgroup_read_ns;		/* when the cgroup was last read */
	uint64_t heap_marked;		/* all the last mark left marked */
	uint64_t heap_traced;		/* of which found by tracing: not
					 * what was allocated black */
	uint64_t heap_goal;
	uint64_t heap_trigger;		/* bytes of allocation that start one */
	/*
	 * The concurrent trigger (pacer.c): the background worker's scan
	 * rate while each of the last GC_MARK_RATES cycles marked (ring,
	 * next at mark_rate_at) and the program's allocation rate before the
	 * last one, bytes per ns (0: not measured); whether this run's
	 * trigger was looked at again (gc_pacer_defer).
	 */
#define GC_MARK_RATES	4
	double mark_rates[GC_MARK_RATES], alloc_rate;
	unsigned mark_rate_at;
	bool trigger_checked;
	int64_t last_gc_ns;
	/* sweep progress */
	_Atomic bool sweep_pending;	/* a cycle's sweep is not done yet */
	int64_t sweep_at_ns;		/* background sweep not before (gc_lock) */
	uint64_t cycle;			/* cycles completed */
	/* statistics, atomics */
	uint64_t pressure_cycles;	/* cycles run for a pressure event */
	uint64_t forced;
	struct gc_pauses pause;		/* under gc_lock */
	uint64_t free_bytes, free_objects;
	uint64_t gc_cpu_ns;
	uint64_t assist_cpu_ns, bg_cpu_ns;	/* concurrent marking */
	uint64_t idle_cpu_ns;			/* its idle-time marking */
	uint64_t finalizers_run, weak_cleared;
	struct gc_cycle_times last;
	/* the concurrent cycle (gc.c), under gc_lock */
	uint64_t cycle_marked;		/* bytes the roots marked in pause 1 */
	int64_t mark_started_ns;
	enum gc_reason cycle_reason;	/* what started the marking cycle */
	uint64_t cycle_gc_cpu_ns;	/* its worker's CPU within its share */
	uint64_t cycle_idle_cpu_ns;	/* its worker's beyond it, on a CPU
					 * the program left idle */
	uint64_t cycle_scan_expected;	/* the assists' estimate of its work */
	uint64_t last_scan_work;	/* bytes the last concurrent mark
					 * scanned, all markers (0: none) */
	/*
	 * Marking without a barrier (dirtyscan.c): whether this cycle tracks
	 * dirty pages instead (set when it starts, under gc_lock), whether
	 * the kernel's tracking is armed, the collected bitmap, and what
	 * the cycle's tracking cost (gctrace).  The worker's alone.
	 */
	bool cycle_dirty, cycle_verify;
	bool dirty_armed;
	bool dirty_lost;		/* a collect failed: pause 2 rescans all */
	uint64_t *dirty_bits;
	size_t dirty_bytes, dirty_words;
	struct {
		uint64_t arm_ns, arm_wp_pages;	/* arming */
		uint64_t rounds, pages;		/* concurrent rescans */
		uint64_t final_pages;		/* rescanned in pause 2 */
		uint64_t faults_seen;		/* the module's dirty_faults
						 * at the last trace line */
	} dirty;
};

extern pthread_mutex_t gc_lock;
struct gch_options;
/* gch_open / gch_close: the collector's per-heap state. */
int gc_heap_init(struct gch_heap *h, const struct gch_options *o);
void gc_heap_destroy(struct gch_heap *h);
struct gc_heap *gc_of(struct gch_heap *h);
int64_t gc_now_ns(void);
int64_t gc_thread_cpu_ns(void);
long gc_ncpu(void);		/* online CPUs, read once */
int gc_collect(struct gch_heap *h, enum gc_reason why);
/* The same from the sweeper thread, which is not attached. */
int gc_collect_unattached(struct gch_heap *h, enum gc_reason why);
void gc_announce(struct gch_heap *h, unsigned phase, uint64_t live);
/* A stop-the-world pause ended: GCH_GC_PAUSE, kind GCH_PAUSE_*. */
void gc_announce_pause(struct gch_heap *h, unsigned kind, uint64_t cycle,
		       uint64_t ns);
/* Visit each live heap's collector state (under gc_lock). */
void gc_for_each_heap(void (*fn)(struct gc_heap *g, void *arg), void *arg);

/*
 * dirtyscan.c: marking beside a program without a write barrier, the kernel's
 * dirty bits in its place (GCHEAP_BARRIER=dirty, libgc.so.1), and the
 * barrier verifier on the same bits (GCHEAP_GCVERIFY=barrier).
 */
bool gc_dirty_usable(struct gch_heap *h);	/* module has GCH_FEAT_DIRTY */
bool gc_dirty_verify_enabled(void);
int gc_dirty_arm(struct gc_heap *g);		/* 0 or -errno */
void gc_dirty_disarm(struct gc_heap *g);
/* Collect the dirty set and rescan it into @w (gc_rescan_page's @all):
 * pages, or -errno. */
int64_t gc_dirty_rescan(struct gc_heap *g, struct gc_work *w, bool all);
/* Pause 2 when the bits were lost: rescan every marked object. */
void gc_dirty_rescan_all(struct gc_heap *g, struct gc_work *w);
bool gc_dirty_rounds(struct gc_heap *g, struct gc_work *w,
		     void (*drain)(struct gc_heap *g, struct gc_work *w,
				   void *arg), void *arg);
void gc_dirty_verify(struct gc_heap *g);
/* Scan again the marked (@all: allocated) objects' words on heap page
 * @page (mark.c). */
void gc_rescan_page(struct gc_work *w, uintptr_t page, bool all);

/* bgmark.c: the worker's CPU clocks across a cycle (since it began, since
 * its last step), and a stretch of marking beside the program, paced. */
struct gc_bg_clock {
	int64_t c0, cs;
};
void gc_bg_drain(struct gc_heap *g, struct gc_work *w, void *arg);

/* verify.c: GCHEAP_GCVERIFY=1; world stopped, gc/roots/fin locks held */
bool gc_verify_enabled(void);
void gc_verify_start(struct gc_heap *g);
void gc_verify_mark(struct gc_heap *g);

/* pauses.c: gc_lock held */
void gc_pause_record(struct gc_heap *g, uint64_t ns, uint64_t cpu_ns);
void gc_pause_fill(struct gc_heap *g, struct gch_gc_stats *st);

/* pacer.c */
void gc_pacer_init(struct gc_heap *g, int percent, uint64_t limit);
void gc_pacer_cycle_done(struct gc_heap *g);
/* A concurrent cycle began: the hook runs at every flush (assists). */
void gc_pacer_mark_started(struct gc_heap *g);
/*
 * What a triggered concurrent cycle's marking measured, for the next
 * trigger: gc_pacer_adapt() at mark termination.
 */
struct gc_mark_sample {
	int64_t run_ns;		/* last cycle's end to this one's pause 1 */
	uint64_t run_alloc;	/* bytes the program allocated meanwhile */
	int64_t mark_ns;	/* pause 1 to mark termination */
	uint64_t scanned;	/* bytes scanned by all markers */
	uint64_t assist_scanned;	/* of which by assists */
};
void gc_pacer_adapt(struct gc_heap *g, const struct gc_mark_sample *m);
/* The concurrent trigger's rule (pacer.c's top), pure: bytes of @runway. */
uint64_t gc_pacer_trigger(const double rates[GC_MARK_RATES],
			  uint64_t scan_work, uint64_t runway,
			  double alloc_rate, bool early);
/*
 * The allocation that crossed a concurrent cycle's trigger: true if the
 * program's allocation rate since the last cycle puts the trigger later
 * (then moved there, and no cycle starts now).  gc_lock held.
 */
bool gc_pacer_defer(struct gc_heap *g);
/* Concurrent cycles (the default) or stop-the-world (GCHEAP_GCMODE=stw). */
bool gc_mode_concurrent(void);
bool gc_heap_concurrent(struct gc_heap *g);	/* this heap's cycles */
void gc_mode_force_nobarrier(void);	/* before any heap opens (compat/) */
void gc_mode_stw_from_now(void);	/* mark procedures (compat/) */
bool gc_pacer_periodic_due(struct gc_heap *g, int64_t now);
/* A collection starts: re-read the cgroup's limit (at most once a second). */
void gc_pacer_cgroup_poll(struct gc_heap *g, int64_t now);
/* Raise the goal's floor by @bytes (bdwgc's GC_expand_hp, compat/); 0, or
 * -1 when @h is not open.  Takes gc_lock. */
int gc_pacer_expand(struct gch_heap *h, uint64_t bytes);
/* bdwgc's start callback (compat/): called with gc_lock held as each
 * collection starts, before anything is stopped; it must not allocate or
 * take a lock of the library's.  NULL: none. */
void gc_set_start_callback(void (*fn)(void));
void (*gc_get_start_callback(void))(void);

/* pressure_answer.c: answering the module's pressure events; not under gc_lock */
void gc_pressure_add(struct gch_heap *h);
void gc_pressure_remove(struct gch_heap *h);

/* cgroup.c: the limit the memory cgroup implies (0: none); GCHEAP_CGROUP */
uint64_t gc_cgroup_limit(void);
bool gc_cgroup_enabled(void);
uint64_t gc_heap_live(struct gc_heap *g);

/* ------------------------------------------------------------------ */
/* Finalizers and weak references (finalizer.c)                        */
/* ------------------------------------------------------------------ */

void gc_fin_lock(void);
void gc_fin_unlock(void);
/* World stopped, fin lock held: gray the finalizer roots of h. */
void gc_fin_mark_roots(struct gc_work *w);
/* World stopped, after the drain: clear weak refs, queue finalizers. */
void gc_fin_after_mark(struct gc_work *w);
void gc_fin_wake(void);
void gc_fin_heap_destroy(struct gch_heap *h);
/*
 * gch_set_finalizer() with flags (for libgc.so.1's bdwgc variants; the
 * top of finalizer.c has the rules).  GC_FIN_NO_ORDER: nothing is kept
 * alive through the object, objects in cycles are finalized, no order
 * among objects that reach each other.  GC_FIN_IGNORE_SELF: as the
 * default, but pointers from the object into itself do not count.
 * Re-registering replaces fn, arg and flags.  Errors as gch_set_finalizer
 * (EINVAL for unknown flags).
 */
#define GC_FIN_NO_ORDER		1u
#define GC_FIN_IGNORE_SELF	2u
int gc_set_finalizer_flags(gch_heap *h, void *obj, gch_finalizer_fn fn,
			   void *arg, unsigned flags);
/*
 * Weak slots (bdwgc's disappearing links): the collector sets the
 * program's word *@link to NULL, with the world stopped, in the mark
 * termination of the first cycle that finds @obj's object unreachable --
 * before finalizers are queued -- and forgets the slot; also when the heap
 * object holding @link is found unreachable (without writing it).  The
 * collector never treats *link as a reference nor reads it to find the
 * target: hiding the pointer from the scan is the program's business.
 * @obj outside the heap: never cleared.  While a concurrent cycle marks,
 * read the word with gc_wslot_load(), which needs it to hold the target's
 * address undisguised (plain loads are safe under the stop-the-world
 * collector only).
 * register: 0 new; 1 link already registered (now with @obj); -EINVAL
 *   (link NULL or not word-aligned); -ENOMEM.
 * unregister: whether it was registered.
 * move: 0 moved (or @new_link == @link and registered); 1 another slot at
 *   @new_link; -ENOENT @link not registered; -EINVAL bad @new_link.
 */
int gc_wslot_register(gch_heap *h, void **link, const void *obj);
bool gc_wslot_unregister(gch_heap *h, void **link);
int gc_wslot_move(gch_heap *h, void **link, void **new_link);
void *gc_wslot_load(gch_heap *h, void **link);

/* limiter.c: the GC CPU limiter */
void gc_limiter_account(uint64_t ns);	/* GC CPU spent (ns) */
void gc_limiter_pause(uint64_t wall_ns, uint64_t cpu_ns);
bool gc_limiter_on(void);
void gc_limiter_arm(bool armed);
void gc_limiter_rearm(void);		/* gc_lock held */
uint64_t gc_limiter_enabled_ns(void);

/* gctrace.c */
void gc_trace_init(void);
void gc_trace_cycle(struct gc_heap *g);
bool gc_trace_enabled(void);

#endif /* GCHEAP_GC_INTERNAL_H */

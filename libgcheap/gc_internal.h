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
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GC_WORD		sizeof(uintptr_t)

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
	_Atomic unsigned parked_gen;	/* stw generation it parked for */
	unsigned signals_sent;		/* collector side: retries */
};

/*
 * Per-thread state read by the suspend signal handler.  nopreempt is
 * non-zero while the thread is inside the allocator (or any other code that
 * must not be parked half-way); preempt_pending is set by the handler when
 * it had to return without parking.  Both are only touched by their own
 * thread and its signal handler, so plain accesses with a compiler (signal)
 * fence are enough.
 */
struct gc_tls {
	volatile sig_atomic_t nopreempt;
	volatile sig_atomic_t preempt_pending;
	struct gc_thread *self;		/* NULL: not attached */
};
extern __thread struct gc_tls gc_tls;

void gc_park_self(void);

static inline void gc_nopreempt_enter(void)
{
	gc_tls.nopreempt++;
	atomic_signal_fence(memory_order_seq_cst);
}

/*
 * Leave a no-preemption section; if a stop request arrived meanwhile, park
 * now instead of waiting for the collector's next retry (a thread that is
 * almost always inside such sections would otherwise be hard to catch).
 */
static inline void gc_nopreempt_exit(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	if (--gc_tls.nopreempt == 0 &&
	    __builtin_expect(gc_tls.preempt_pending, 0))
		gc_park_self();
}

int gc_thread_register(void);	/* 0 or -errno; idempotent */
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
/* With the world stopped: stack and saved registers of every attached thread. */
void gc_roots_for_each_stack(gc_range_fn fn, void *arg);
size_t gc_roots_bytes(void);	/* bytes scanned by the last walk, for gctrace */

#endif /* GCHEAP_GC_INTERNAL_H */

// SPDX-License-Identifier: MIT
/*
 * barrier.c - the write barrier behind gch_store() and gch_memmove().
 *
 * Algorithm: Go's hybrid barrier.  While gch__wb_on is set (a cycle of the
 * heap gc_barrier_heap() marks beside the program), a pointer store shades
 * the value it overwrites (Yuasa's deletion half) and the value it writes
 * (Dijkstra's insertion half) before storing.  Shading a pointer means
 * putting it in the storing thread's barrier buffer; a full buffer is
 * marked into the collector's work pool (gc_barrier_flush), and mark
 * termination flushes every thread's buffer with the world stopped.  While
 * the flag is clear a store is one load, one branch and the store.
 *
 * Atomicity against stopping the world.  The collector turns the barrier on
 * and off with the world stopped, and the world is stopped by a signal that
 * may land between any two instructions.  A thread that had read the flag
 * clear just before mark start and stored just after would skip the
 * barrier for a store the cycle needs to see.  So the inline fast path is a
 * restartable sequence, as rseq is: gch_store() emits "test the flag,
 * branch, store" as one asm block and records its start and end in the
 * section gch_barrier_sites of the module it is compiled into; each module
 * registers its section from a constructor (gch__barrier_sites()).  When
 * the suspend handler parks a thread whose interrupted instruction lies
 * strictly inside a site, it moves the thread back to the site's start:
 * nothing in the sequence before the store has a side effect, so the
 * thread re-reads the flag when it resumes.  The slow path and
 * gch_memmove() run as no-preemption sections instead (stw.c), which the
 * world never stops in the middle of.
 *
 * Locking: sites.lock serialises registration; the handler reads the table
 * without it (entries are published with a release store of the count and
 * never change).  A barrier buffer belongs to its thread; the collector
 * reads it only with the world stopped or from that thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "internal.h"
#include "gc_internal.h"

/* Read by gch_store()'s inline fast path in every module. */
uint8_t gch__wb_on;

static struct gch_heap *_Atomic wb_heap;	/* heap being marked */
/* Bytes the flushes marked this cycle: part of the live heap. */
static _Atomic uint64_t wb_marked_bytes;

/* Modules (the program and its libraries) with barrier sites. */
#define GC_SITE_MODULES	128

struct site_module {
	const uintptr_t *lo, *hi;	/* pairs (start, end) */
	uintptr_t min, max;		/* bounds of all its sites */
};

static struct {
	pthread_mutex_t lock;
	struct site_module mod[GC_SITE_MODULES];
	_Atomic unsigned n;
} sites = { .lock = PTHREAD_MUTEX_INITIALIZER };

void gch__barrier_sites(const uintptr_t *lo, const uintptr_t *hi)
{
	struct site_module m = { lo, hi, UINTPTR_MAX, 0 };
	unsigned n;

	if (!lo || hi <= lo)
		return;
	for (const uintptr_t *p = lo; p + 1 < hi; p += 2) {
		if (p[0] < m.min)
			m.min = p[0];
		if (p[1] > m.max)
			m.max = p[1];
	}
	pthread_mutex_lock(&sites.lock);
	n = atomic_load_explicit(&sites.n, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++) {
		if (sites.mod[i].lo == lo) {	/* another unit of that module */
			pthread_mutex_unlock(&sites.lock);
			return;
		}
	}
	if (n == GC_SITE_MODULES) {
		/* an unregistered site could skip the barrier: refuse to run */
		fprintf(stderr, "libgcheap: more than %d modules use gch_store\n",
			GC_SITE_MODULES);
		abort();
	}
	sites.mod[n] = m;
	atomic_store_explicit(&sites.n, n + 1, memory_order_release);
	pthread_mutex_unlock(&sites.lock);
}

/* The site strictly containing @pc, or 0. */
uintptr_t gc_barrier_site_start(uintptr_t pc)
{
	unsigned n = atomic_load_explicit(&sites.n, memory_order_acquire);

	for (unsigned i = 0; i < n; i++) {
		const struct site_module *m = &sites.mod[i];

		if (pc <= m->min || pc >= m->max)
			continue;
		for (const uintptr_t *p = m->lo; p + 1 < m->hi; p += 2)
			if (pc > p[0] && pc < p[1])
				return p[0];
	}
	return 0;
}

/* From the suspend handler: restart an interrupted fast path. */
void gc_barrier_rewind(void *uctx)
{
	ucontext_t *uc = uctx;
	uintptr_t start;

	start = gc_barrier_site_start((uintptr_t)uc->uc_mcontext.gregs[REG_RIP]);
	if (start)
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)start;
}

/* ---- turning it on and off (the collector, world stopped) ---- */

void gc_barrier_enable(struct gch_heap *h)
{
	atomic_store_explicit(&wb_heap, h, memory_order_release);
	__atomic_store_n(&gch__wb_on, 1, __ATOMIC_RELEASE);
}

void gc_barrier_disable(void)
{
	__atomic_store_n(&gch__wb_on, 0, __ATOMIC_RELEASE);
	atomic_store_explicit(&wb_heap, NULL, memory_order_release);
}

struct gch_heap *gc_barrier_heap(void)
{
	return atomic_load_explicit(&wb_heap, memory_order_acquire);
}

/* ---- buffers ---- */

/* Mark @n shaded pointers into the work pool: they become gray. */
void gc_barrier_flush(const uintptr_t *buf, unsigned n)
{
	struct gch_heap *h = gc_barrier_heap();
	struct gc_work w;

	if (!h || !n)
		return;
	gc_work_init(&w, h);
	gc_mark_ptrs(&w, buf, n);
	gc_work_dispose(&w);
	atomic_fetch_add_explicit(&wb_marked_bytes, w.bytes_marked,
				  memory_order_relaxed);
}

/* Marks made outside the worker's gc_work (assists): live bytes too. */
void gc_barrier_marked(uint64_t bytes)
{
	atomic_fetch_add_explicit(&wb_marked_bytes, bytes,
				  memory_order_relaxed);
}

/* Bytes marked by flushes since the last call (world stopped). */
uint64_t gc_barrier_take_marked(void)
{
	return atomic_exchange(&wb_marked_bytes, 0);
}

/* Flush thread @t's buffer; its own thread, or the world is stopped. */
void gc_barrier_flush_thread(struct gc_thread *t)
{
	unsigned n = t->wb_n;

	t->wb_n = 0;
	gc_barrier_flush(t->wb_buf, n);
}

int gc_barrier_thread_init(struct gc_thread *t)
{
	t->wb_buf = mmap(NULL, GC_WB_ENTRIES * sizeof(uintptr_t),
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	if (t->wb_buf == MAP_FAILED) {
		t->wb_buf = NULL;
		return -ENOMEM;
	}
	t->wb_n = 0;
	return 0;
}

void gc_barrier_thread_fini(struct gc_thread *t)
{
	if (!t->wb_buf)
		return;
	gc_barrier_flush_thread(t);
	munmap(t->wb_buf, GC_WB_ENTRIES * sizeof(uintptr_t));
	t->wb_buf = NULL;
}

/* Shade @p into the calling thread's buffer (no-preemption section). */
static void shade(uintptr_t p)
{
	struct gc_thread *t = gc_tls.self;

	if (!p)
		return;
	if (!t || !t->wb_buf) {		/* not attached: mark it at once */
		gc_barrier_flush(&p, 1);
		return;
	}
	t->wb_shaded++;
	t->wb_buf[t->wb_n++] = p;
	if (t->wb_n == GC_WB_ENTRIES)
		gc_barrier_flush_thread(t);
}

/*
 * Shade @p if a cycle marks beside the program: for the library's own
 * barriers (a weak reference read, a finalizer set).  The caller is not in
 * a no-preemption section and holds no collector lock.
 */
void gc_shade(uintptr_t p)
{
	gc_nopreempt_enter();
	if (__atomic_load_n(&gch__wb_on, __ATOMIC_ACQUIRE))
		shade(p);
	gc_nopreempt_exit();
}

/* ---- the public entry points ---- */

void gch__store_slow(void **slot, void *val)
{
	gc_nopreempt_enter();
	if (__atomic_load_n(&gch__wb_on, __ATOMIC_ACQUIRE)) {
		/* the test-only builds of gc_concurrent_test's proof */
#ifndef GC_BARRIER_TEST_NO_DELETION
		shade((uintptr_t)__atomic_load_n(slot, __ATOMIC_RELAXED));
#endif
#ifndef GC_BARRIER_TEST_NO_INSERTION
		shade((uintptr_t)val);
#endif
	}
	__atomic_store_n(slot, val, __ATOMIC_RELAXED);
	gc_nopreempt_exit();
}

/* Shade every aligned word of [p, p + n) that could be a pointer. */
static GC_NO_SANITIZE void shade_words(const void *p, size_t n)
{
	uintptr_t a = ((uintptr_t)p + GC_WORD - 1) & ~(GC_WORD - 1);
	uintptr_t end = ((uintptr_t)p + n) & ~(GC_WORD - 1);

	for (; a < end; a += GC_WORD)
		shade(__atomic_load_n((const uintptr_t *)a, __ATOMIC_RELAXED));
}

void *gch_memmove(void *dst, const void *src, size_t n)
{
	gc_nopreempt_enter();
	if (__atomic_load_n(&gch__wb_on, __ATOMIC_ACQUIRE)) {
		shade_words(dst, n);	/* what is overwritten */
		shade_words(src, n);	/* what is written */
	}
	memmove(dst, src, n);
	gc_nopreempt_exit();
	return dst;
}

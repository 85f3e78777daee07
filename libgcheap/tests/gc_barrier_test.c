// SPDX-License-Identifier: MIT
/*
 * gc_barrier_test - the write barrier's mechanics (barrier.c).
 *
 * With the barrier off, gch_store() and gch_memmove() are plain stores and
 * copies.  With it on, the overwritten and the written pointer are shaded
 * into the thread's buffer, and flushing marks exactly the heap objects
 * among them.  The fast path is restartable: a thread the world stops
 * strictly inside a site is moved back to the site's start.  A single-
 * stepped store proves it at the one instant that matters (flag tested,
 * store not done), with and without the rewind; a stress case then flips
 * the barrier thousands of times by really stopping the world around a
 * thread storing flat out and checks that every store made after a flip
 * shaded (the stop signal lands inside a site only now and then, so this
 * one is about the whole protocol, not the window).
 *
 * The barrier is forced on by hand here, on heaps that never collect:
 * whatever it marks is drained and the heap closed before anything else
 * runs.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"
#include "gc_internal.h"
#include "gc_test.h"

static gch_heap *open_nogc(void)
{
	struct gch_options o = { .size = sizeof(o), .gc_percent = -1 };
	gch_heap *h = gch_open(&o);

	if (!h) {
		perror("gch_open");
		exit(1);
	}
	return h;
}

/* Mark what the flushes grayed, and switch the barrier off. */
static void finish(struct gch_heap *h)
{
	struct gc_work w;

	gc_barrier_flush_thread(gc_tls.self);
	gc_work_init(&w, h);
	gc_drain(&w);
	gc_work_dispose(&w);
	gc_barrier_disable();
}

static bool in_buffer(uintptr_t p)
{
	struct gc_thread *t = gc_tls.self;

	for (unsigned i = 0; i < t->wb_n; i++)
		if (t->wb_buf[i] == p)
			return true;
	return false;
}

static void test_off(void)
{
	gch_heap *h = open_nogc();
	void **o = gch_malloc(h, 64), *a = gch_malloc(h, 16);
	uintptr_t src[4] = { 1, (uintptr_t)a, 3, 0 };
	uint64_t shaded = gc_tls.self->wb_shaded;

	gch_store(&o[0], a);
	CHECK(o[0] == a, "plain store");
	gch_store(&o[0], NULL);
	CHECK(o[0] == NULL, "store of NULL");
	CHECK(gch_memmove(&o[1], src, sizeof(src)) == &o[1], "returns dst");
	CHECK(!memcmp(&o[1], src, sizeof(src)), "copied");
	CHECK(gc_tls.self->wb_n == 0 && gc_tls.self->wb_shaded == shaded,
	      "nothing shaded while off");
	CHECK(!gc_is_marked(h, (uintptr_t)a), "nothing marked");
	gch_close(h);
}

static void test_on_shades_both(void)
{
	gch_heap *h = open_nogc();
	void **o = gch_malloc(h, 64);
	void *a = gch_malloc(h, 32), *b = gch_malloc(h, 32);
	void *c = gch_malloc(h, 48), *m = malloc(16);

	o[0] = a;	/* an initialising store: nothing to shade */
	gc_barrier_enable(h);
	gch_store(&o[0], b);
	CHECK(o[0] == b, "stored");
	CHECK(in_buffer((uintptr_t)a), "old value shaded (deletion half)");
	CHECK(in_buffer((uintptr_t)b), "new value shaded (insertion half)");
	gch_store(&o[0], NULL);
	CHECK(o[0] == NULL, "NULL stored");
	gch_store(&o[1], m);	/* not a heap pointer: shaded, then ignored */
	finish(h);
	CHECK(gc_is_marked(h, (uintptr_t)a), "a marked");
	CHECK(gc_is_marked(h, (uintptr_t)b), "b marked");
	CHECK(!gc_is_marked(h, (uintptr_t)o), "the object stored into: white");
	CHECK(!gc_is_marked(h, (uintptr_t)c), "an untouched object: white");
	free(m);
	gch_close(h);
}

static void test_memmove(void)
{
	gch_heap *h = open_nogc();
	void **dst = gch_malloc(h, 64), **src = gch_malloc(h, 64);
	void *a = gch_malloc(h, 16), *b = gch_malloc(h, 16);
	void *c = gch_malloc(h, 16), *d = gch_malloc(h, 16);
	void *e = gch_malloc(h, 16);

	src[0] = a;
	src[1] = (void *)0x1234;
	src[2] = b;
	dst[0] = c;
	dst[1] = d;
	dst[3] = e;	/* outside the copy: stays white */
	gc_barrier_enable(h);
	gch_memmove(dst, src, 3 * sizeof(void *));
	CHECK(dst[0] == a && dst[1] == (void *)0x1234 && dst[2] == b,
	      "copied");
	finish(h);
	CHECK(gc_is_marked(h, (uintptr_t)a) && gc_is_marked(h, (uintptr_t)b),
	      "written pointers marked");
	CHECK(gc_is_marked(h, (uintptr_t)c) && gc_is_marked(h, (uintptr_t)d),
	      "overwritten pointers marked");
	CHECK(!gc_is_marked(h, (uintptr_t)e), "a word outside the copy: white");
	gch_close(h);
}

static void test_full_buffer(void)
{
	enum { N = 3 * GC_WB_ENTRIES + 7 };
	gch_heap *h = open_nogc();
	void **o = gch_malloc(h, 8);
	void **objs = malloc(N * sizeof(*objs));
	unsigned unmarked = 0;

	for (int i = 0; i < N; i++)
		objs[i] = gch_malloc(h, 16);
	gc_barrier_enable(h);
	for (int i = 0; i < N; i++)
		gch_store(&o[0], objs[i]);
	CHECK(gc_tls.self->wb_n < GC_WB_ENTRIES, "flushed when full");
	finish(h);
	for (int i = 0; i < N; i++)
		unmarked += !gc_is_marked(h, (uintptr_t)objs[i]);
	CHECK(unmarked == 0, "%u of %d shaded objects unmarked", unmarked, N);
	free(objs);
	gch_close(h);
}

static void __attribute__((noinline)) one_store(void **slot, void *v)
{
	gch_store(slot, v);
}

static void test_sites(void)
{
	const uintptr_t *p = __start_gch_barrier_sites;
	unsigned n = 0, bad = 0;
	ucontext_t uc;

	CHECK(p && __stop_gch_barrier_sites > p, "this module has sites");
	if (!p)
		return;
	for (; p + 1 < __stop_gch_barrier_sites; p += 2, n++) {
		bad += gc_barrier_site_start(p[0]) != 0;	/* not begun */
		bad += gc_barrier_site_start(p[0] + 1) != p[0];
		bad += gc_barrier_site_start(p[1] - 1) != p[0];
		bad += gc_barrier_site_start(p[1]) != 0;	/* committed */
	}
	CHECK(bad == 0, "%u wrong answers over %u sites", bad, n);
	p = __start_gch_barrier_sites;
	memset(&uc, 0, sizeof(uc));
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(p[0] + 2);
	gc_barrier_rewind(&uc);
	CHECK((uintptr_t)uc.uc_mcontext.gregs[REG_RIP] == p[0], "rewound");
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)p[1];
	gc_barrier_rewind(&uc);
	CHECK((uintptr_t)uc.uc_mcontext.gregs[REG_RIP] == p[1],
	      "a finished store is left alone");
}

/*
 * ---- the flip landing inside a site, deterministically ----
 *
 * Single-step one gch_store() (EFLAGS.TF, set from a signal handler) and,
 * at the first trap strictly inside its site -- the flag has been tested,
 * the store not done -- do what stopping the world for mark start does:
 * turn the barrier on and, as the suspend handler does, rewind.  The store
 * must then be barriered.  The same run without the rewind must not be:
 * that proves the case reaches the window it is about.
 */
#define TF_FLAG	0x100

static struct gch_heap *step_heap;
static void **step_slot;
static void *step_val;
static bool step_rewind, step_flipped;

static void trap_handler(int sig, siginfo_t *si, void *uctx)
{
	ucontext_t *uc = uctx;
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];

	(void)sig;
	(void)si;
	if (!step_flipped && gc_barrier_site_start(pc)) {
		step_flipped = true;
		gc_barrier_enable(step_heap);
		if (step_rewind)
			gc_barrier_rewind(uc);
	}
	if (__atomic_load_n(step_slot, __ATOMIC_RELAXED) == step_val)
		uc->uc_mcontext.gregs[REG_EFL] &= ~TF_FLAG;	/* done */
}

static void step_on(int sig, siginfo_t *si, void *uctx)
{
	(void)sig;
	(void)si;
	((ucontext_t *)uctx)->uc_mcontext.gregs[REG_EFL] |= TF_FLAG;
}

/* Shaded pointers of one single-stepped store that flips the barrier. */
static uint64_t stepped_store(gch_heap *h, void **slot, void *v, bool rewind)
{
	struct sigaction sa = { .sa_flags = SA_SIGINFO }, old_trap, old_usr;
	uint64_t s0 = gc_tls.self->wb_shaded;

	step_heap = h;
	step_slot = slot;
	step_val = v;
	step_rewind = rewind;
	step_flipped = false;
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = trap_handler;
	sigaction(SIGTRAP, &sa, &old_trap);
	sa.sa_sigaction = step_on;
	sigaction(SIGUSR1, &sa, &old_usr);
	raise(SIGUSR1);			/* trap after every instruction */
	one_store(slot, v);
	sigaction(SIGUSR1, &old_usr, NULL);
	sigaction(SIGTRAP, &old_trap, NULL);
	CHECK(step_flipped, "the flip landed inside the site");
	return gc_tls.self->wb_shaded - s0;
}

static void test_flip_inside_site(void)
{
	gch_heap *h = open_nogc();
	void **o = gch_malloc(h, 16);
	void *a = gch_malloc(h, 16), *b = gch_malloc(h, 16);
	uint64_t n;

	o[0] = a;
	n = stepped_store(h, &o[0], b, true);
	CHECK(o[0] == b, "stored");
	CHECK(n == 2, "with the rewind: old and new shaded (%llu)",
	      (unsigned long long)n);
	finish(h);
	o[0] = a;
	n = stepped_store(h, &o[0], b, false);
	CHECK(o[0] == b, "stored");
	CHECK(n == 0, "without it the store escapes the barrier (%llu)",
	      (unsigned long long)n);
	finish(h);
	gch_close(h);
}

/* ---- flips of the barrier while a thread stores flat out ---- */

static _Atomic unsigned long done_stores;
static _Atomic int stop_storing;
static void *store_slot;
static _Atomic(struct gc_thread *) storer;

/*
 * Nothing but stores in the loop: a write to a line the main thread reads
 * would stall, and the stop signal would nearly always land on that stall
 * instead of inside the barrier sites.
 */
static void *storer_main(void *arg)
{
	unsigned long i = 0;

	(void)arg;
	gc_thread_register();
	atomic_store(&storer, gc_tls.self);
	while (!atomic_load_explicit(&stop_storing, memory_order_relaxed)) {
		/* values are never heap pointers: shading counts, marks don't */
		for (int j = 0; j < 4096; j++)
			one_store(&store_slot, (void *)((++i << 4) | 8));
		atomic_store_explicit(&done_stores, i, memory_order_relaxed);
	}
	gc_thread_unregister();
	return NULL;
}

static void spin_us(long us)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000L +
	       (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

static __attribute__((unused)) void test_flips(void)
{
	gch_heap *h = open_nogc();
	unsigned long k0, k1, low = 0, high = 0, rounds = 3000;
	struct gc_thread *t;
	uint64_t s0, s1;
	pthread_t th;

	store_slot = (void *)8;
	pthread_create(&th, NULL, storer_main, NULL);
	while (!(t = atomic_load(&storer)))
		usleep(100);
	while (atomic_load(&done_stores) < 4096)
		usleep(100);
	for (unsigned long r = 0; r < rounds; r++) {
		gc_stop_world();
		/* the last store done: what the slot holds, whether or not
		 * the storer counted it yet */
		k0 = (uintptr_t)store_slot >> 4;
		s0 = t->wb_shaded;
		gc_barrier_enable(h);
		gc_start_world();
		spin_us(20);
		gc_stop_world();
		k1 = (uintptr_t)store_slot >> 4;
		s1 = t->wb_shaded;
		t->wb_n = 0;	/* nothing in it is a heap pointer */
		gc_barrier_disable();
		gc_start_world();
		/*
		 * Stores k0 + 1 .. k1 stored after the flip and must each have
		 * shaded two values, even one whose flag test ran before it
		 * (the slot holds the last value stored, counted or not).  The
		 * slow path stores inside a section, so no store has shaded
		 * without storing when the world stops.
		 */
		if (s1 - s0 != 2 * (k1 - k0) && low + high < 4)
			printf("# round %lu: %lu stores after the flip, %llu "
			       "shaded\n", r, k1 - k0,
			       (unsigned long long)(s1 - s0));
		low += s1 - s0 < 2 * (k1 - k0);
		high += s1 - s0 > 2 * (k1 - k0);
	}
	atomic_store(&stop_storing, 1);
	pthread_join(th, NULL);
	CHECK(low == 0, "%lu of %lu rounds lost barriered stores", low,
	      rounds);
	CHECK(high == 0, "%lu of %lu rounds shaded too much", high, rounds);
	gch_close(h);
}

int main(void)
{
	CHECK(gc_thread_register() == 0, "register");
	test_off();
	test_on_shades_both();
	test_memmove();
	test_full_buffer();
	test_sites();
	test_flip_inside_site();
#ifndef __SANITIZE_THREAD__
	/*
	 * Not under TSan: it lets the stop signal into a thread only at an
	 * interceptor or an instrumented atomic, never inside a site, and a
	 * thread that parks on leaving a no-preemption section signals
	 * itself -- which TSan holds back until the storer's next section,
	 * so the stop never completes.  Natively and in ASan it runs.
	 */
	test_flips();
#endif
	return gct_summary();
}

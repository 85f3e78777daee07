// SPDX-License-Identifier: MIT
/*
 * finalizer.c - finalizers and weak references.
 *
 * Finalizers (Go's runtime.SetFinalizer semantics):
 *  - A record (heap, object, fn, arg) lives in a hash table outside the heap,
 *    with the object's address stored complemented so that nothing that
 *    scans memory conservatively can mistake it for a reference.
 *  - Every cycle, before draining, the collector grays the CHILDREN of every
 *    finalizable object (not the object itself) and the record's arg.  So
 *    whatever a finalizable object references stays alive until its
 *    finalizer has run and it has been reclaimed.
 *  - After the drain, a finalizable object still white is unreachable: its
 *    record moves to the run queue and the object is marked (resurrected
 *    until the finalizer runs).  Queued objects are roots in later cycles.
 *  - The finalizer thread (attached, so its stack is scanned) pops records
 *    and calls fn(obj, arg), once, never during a collection (it is stopped
 *    with the world like any thread).  If fn stores obj somewhere reachable,
 *    the object lives on (resurrection); it has no finalizer any more unless
 *    fn sets one again.  Otherwise the next cycle reclaims it.
 * Ordering rules that follow (documented in gcheap.h):
 *  - If finalizable A references finalizable B, A's finalizer runs first and
 *    B's only in a later cycle, after A is gone (topological order).
 *  - Finalizable objects in a cycle keep each other alive and are never
 *    finalized or reclaimed (as in Go; break the cycle or use weak refs).
 *  - Finalizers run one at a time, in the order their objects were found
 *    unreachable within a cycle; no order across heaps is promised.
 *
 * Weak references: a handle outside the heap holding the complemented
 * target.  After the drain, every handle whose target is white is cleared
 * -- before finalizers are queued, so a weak reference never hands out an
 * object whose finalizer is pending or running (Go's and Java's choice);
 * resurrection does not bring it back.  gch_weak_get() is one load: a
 * thread that got the pointer holds it in a register or on its stack,
 * which the next collection scans; while a cycle marks, it also shades the
 * target (Go's weak-pointer barrier), since that cycle scanned the stacks
 * before the load.
 *
 * Locking: fin.lock protects the table, the queue, the weak list and
 * fin.running.  The collector takes it before stopping the world.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "gc_internal.h"

struct fin_rec {
	struct fin_rec *next;		/* hash chain or run queue */
	struct gch_heap *h;
	uintptr_t hidden;		/* ~object */
	gch_finalizer_fn fn;
	void *arg;
};

struct gch_weak {
	struct gch_weak *next, *prev;	/* under fin.lock */
	struct gch_heap *h;		/* NULL once its heap closed */
	uintptr_t hidden;		/* ~target, 0 when cleared */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* queue non-empty */
	pthread_cond_t idle;		/* queue drained, nothing running */
	struct fin_rec **buckets;
	size_t nbuckets, count;
	struct fin_rec *qhead, *qtail;
	unsigned running;
	struct gch_weak *weak;
	pthread_once_t once;
	int thread_err;
	pthread_t thread;
} fin = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
	.once = PTHREAD_ONCE_INIT,
};

static inline uintptr_t hide(const void *p)
{
	return ~(uintptr_t)p;
}

static inline void *reveal(uintptr_t v)
{
	return (void *)~v;
}

static size_t bucket_of(struct gch_heap *h, uintptr_t hidden, size_t n)
{
	uint64_t k = (hidden ^ (uintptr_t)h) * 0x9E3779B97F4A7C15ULL;

	return (size_t)(k >> 20) & (n - 1);
}

static int table_grow(void)
{
	size_t n = fin.nbuckets ? fin.nbuckets * 2 : 64;
	struct fin_rec **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < fin.nbuckets; i++) {
		struct fin_rec *r = fin.buckets[i], *next;

		for (; r; r = next) {
			size_t j = bucket_of(r->h, r->hidden, n);

			next = r->next;
			r->next = b[j];
			b[j] = r;
		}
	}
	free(fin.buckets);
	fin.buckets = b;
	fin.nbuckets = n;
	return 0;
}

static struct fin_rec **table_find(struct gch_heap *h, uintptr_t hidden)
{
	struct fin_rec **pp;

	if (!fin.nbuckets)
		return NULL;
	pp = &fin.buckets[bucket_of(h, hidden, fin.nbuckets)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h && (*pp)->hidden == hidden)
			return pp;
	return NULL;
}

static void *finalizer_main(void *arg);

static void fin_thread_create(void)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	fin.thread_err = pthread_create(&fin.thread, NULL, finalizer_main,
					NULL);
	if (!fin.thread_err)
		pthread_detach(fin.thread);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int gch_set_finalizer(gch_heap *h, void *obj, gch_finalizer_fn fn, void *arg)
{
	uintptr_t hidden = hide(obj);
	struct fin_rec **pp, *r;

	if (!obj || gch_base(h, obj) != obj) {
		errno = EINVAL;
		return -1;
	}
	pthread_once(&fin.once, fin_thread_create);
	if (fin.thread_err) {
		errno = fin.thread_err;
		return -1;
	}
	/*
	 * A cycle marking now scanned the finalizer roots (the children of
	 * finalizable objects) when it began: shade a newly finalizable
	 * object, before it is in the table, so that this cycle scans it.
	 */
	if (fn) {
		gc_shade((uintptr_t)obj);
		gc_shade((uintptr_t)arg);
	}
	gc_lock_blocking(&fin.lock);
	pp = table_find(h, hidden);
	if (!fn) {
		if (pp) {
			r = *pp;
			*pp = r->next;
			fin.count--;
			free(r);
		}
		pthread_mutex_unlock(&fin.lock);
		return 0;
	}
	if (pp) {
		(*pp)->fn = fn;
		(*pp)->arg = arg;
		pthread_mutex_unlock(&fin.lock);
		return 0;
	}
	if ((fin.count >= fin.nbuckets * 2 && table_grow()) ||
	    !(r = malloc(sizeof(*r)))) {
		pthread_mutex_unlock(&fin.lock);
		errno = ENOMEM;
		return -1;
	}
	r->h = h;
	r->hidden = hidden;
	r->fn = fn;
	r->arg = arg;
	pp = &fin.buckets[bucket_of(h, hidden, fin.nbuckets)];
	r->next = *pp;
	*pp = r;
	fin.count++;
	pthread_mutex_unlock(&fin.lock);
	return 0;
}

void gc_fin_lock(void)
{
	pthread_mutex_lock(&fin.lock);
}

void gc_fin_unlock(void)
{
	pthread_mutex_unlock(&fin.lock);
}

void gc_fin_mark_roots(struct gc_work *w)
{
	for (size_t i = 0; i < fin.nbuckets; i++) {
		for (struct fin_rec *r = fin.buckets[i]; r; r = r->next) {
			if (r->h != w->h)
				continue;
			gc_scan_object(w, (uintptr_t)reveal(r->hidden));
			gc_mark_ptr(w, (uintptr_t)r->arg);
		}
	}
	for (struct fin_rec *r = fin.qhead; r; r = r->next) {
		if (r->h != w->h)
			continue;
		gc_mark_ptr(w, (uintptr_t)reveal(r->hidden));
		gc_mark_ptr(w, (uintptr_t)r->arg);
	}
}

static void queue_push(struct fin_rec *r)
{
	r->next = NULL;
	if (fin.qtail)
		fin.qtail->next = r;
	else
		fin.qhead = r;
	fin.qtail = r;
}

void gc_fin_after_mark(struct gc_work *w)
{
	struct gch_heap *h = w->h;
	struct gc_heap *g = gc_of(h);
	uint64_t cleared = 0;

	for (struct gch_weak *k = fin.weak; k; k = k->next) {
		if (k->h == h && k->hidden &&
		    !gc_is_marked(h, (uintptr_t)reveal(k->hidden))) {
			k->hidden = 0;
			cleared++;
		}
	}
	if (g)
		gch_add(&g->weak_cleared, cleared);

	for (size_t i = 0; i < fin.nbuckets; i++) {
		struct fin_rec **pp = &fin.buckets[i];

		while (*pp) {
			struct fin_rec *r = *pp;
			uintptr_t obj = (uintptr_t)reveal(r->hidden);

			if (r->h != h || gc_is_marked(h, obj)) {
				pp = &r->next;
				continue;
			}
			*pp = r->next;
			fin.count--;
			/* its children are black already: just keep it */
			gc_mark_only(w, obj);
			queue_push(r);
		}
	}
}

void gc_fin_wake(void)
{
	gc_lock_blocking(&fin.lock);
	if (fin.qhead)
		pthread_cond_signal(&fin.work);
	pthread_mutex_unlock(&fin.lock);
}

/*
 * Run one finalizer.  The object's address exists only in this frame (and
 * in the finalizer's), never in finalizer_main's, so once this returns no
 * register of the finalizer thread still holds it.
 */
static __attribute__((noinline)) void run_one(struct fin_rec *r)
{
	void *volatile obj = reveal(r->hidden);
	struct gc_heap *g;

	r->fn(obj, r->arg);
	obj = NULL;
	g = gc_of(r->h);
	if (g)
		gch_add(&g->finalizers_run, 1);
}

/*
 * Dead frames of run_one and the finalizer lie below finalizer_main's frame,
 * where the frames of pthread_cond_wait() will sit while this thread is
 * parked, and would be scanned as part of them: wipe them, so a finalized
 * object that was not resurrected is not kept alive by a stale copy (bdwgc
 * clears its stack for the same reason).
 */
static __attribute__((noinline)) void wipe_stack_below(void)
{
	volatile char buf[4096];

	memset((char *)buf, 0, sizeof(buf));
}

static void *finalizer_main(void *arg)
{
	(void)arg;
	gc_thread_register();
	gc_lock_blocking(&fin.lock);
	for (;;) {
		struct fin_rec *r;

		while (!fin.qhead)
			gc_cond_wait_blocking(&fin.work, &fin.lock);
		r = fin.qhead;
		fin.qhead = r->next;
		if (!fin.qhead)
			fin.qtail = NULL;
		fin.running++;
		pthread_mutex_unlock(&fin.lock);

		run_one(r);
		free(r);
		wipe_stack_below();

		gc_lock_blocking(&fin.lock);
		fin.running--;
		if (!fin.qhead && !fin.running)
			pthread_cond_broadcast(&fin.idle);
	}
	return NULL;
}

int gch_wait_finalizers(gch_heap *h)
{
	(void)h;
	if (fin.thread_err == 0 && fin.thread &&
	    pthread_equal(pthread_self(), fin.thread)) {
		errno = EDEADLK;
		return -1;
	}
	gc_lock_blocking(&fin.lock);
	while (fin.qhead || fin.running)
		gc_cond_wait_blocking(&fin.idle, &fin.lock);
	pthread_mutex_unlock(&fin.lock);
	return 0;
}

gch_weak *gch_weak_new(gch_heap *h, void *obj)
{
	struct gch_weak *k;

	if (!obj || !gch_base(h, obj)) {
		errno = EINVAL;
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->h = h;
	k->hidden = hide(obj);
	gc_lock_blocking(&fin.lock);
	k->next = fin.weak;
	if (fin.weak)
		fin.weak->prev = k;
	fin.weak = k;
	pthread_mutex_unlock(&fin.lock);
	return k;
}

void *gch_weak_get(gch_weak *k)
{
	uintptr_t v;

	/* Only attached threads are stopped, so only they may hold the result. */
	if (!gc_tls.self)
		gc_thread_register();
	/*
	 * Go's weak-pointer barrier: a target read while a cycle marks is
	 * shaded, or the cycle could clear and free what the caller now
	 * holds.  Read and shade in one section, so mark termination sees
	 * either the shade or a reference already cleared.
	 */
	gc_nopreempt_enter();
	v = __atomic_load_n(&k->hidden, __ATOMIC_RELAXED);
	if (v && __atomic_load_n(&gch__wb_on, __ATOMIC_ACQUIRE))
		gc_shade((uintptr_t)reveal(v));
	gc_nopreempt_exit();
	return v ? reveal(v) : NULL;
}

void gch_weak_free(gch_weak *k)
{
	if (!k)
		return;
	gc_lock_blocking(&fin.lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		fin.weak = k->next;
	if (k->next)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&fin.lock);
	free(k);
}

/* The heap is closing: its finalizers never run, its weak refs read NULL. */
void gc_fin_heap_destroy(struct gch_heap *h)
{
	struct fin_rec **pp;

	gc_lock_blocking(&fin.lock);
	for (size_t i = 0; i < fin.nbuckets; i++) {
		pp = &fin.buckets[i];
		while (*pp) {
			struct fin_rec *r = *pp;

			if (r->h == h) {
				*pp = r->next;
				fin.count--;
				free(r);
			} else {
				pp = &r->next;
			}
		}
	}
	pp = &fin.qhead;
	fin.qtail = NULL;
	while (*pp) {
		struct fin_rec *r = *pp;

		if (r->h == h) {
			*pp = r->next;
			free(r);
		} else {
			fin.qtail = r;
			pp = &r->next;
		}
	}
	for (struct gch_weak *k = fin.weak; k; k = k->next) {
		if (k->h == h) {
			k->h = NULL;
			k->hidden = 0;
		}
	}
	pthread_mutex_unlock(&fin.lock);
}

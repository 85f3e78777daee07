// SPDX-License-Identifier: MIT
/*
 * finalizer.c - finalizers, weak references and weak slots.
 *
 * Finalizers (Go's runtime.SetFinalizer semantics):
 *  - A record (heap, object, fn, arg, flags) lives in a hash table outside
 *    the heap, with the object's address stored complemented so that
 *    nothing that scans memory conservatively can mistake it for a
 *    reference.
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
 * Two flags (gc_set_finalizer_flags, for libgc.so.1's bdwgc variants):
 *  - GC_FIN_NO_ORDER: the object's children are not grayed at mark start,
 *    so nothing is kept alive through it and objects in cycles are
 *    finalized.  When it is found white, it and everything it reaches are
 *    marked (scanned and drained in mark termination, after every white
 *    record of the cycle was queued, so what it references is finalized in
 *    the same cycle if finalizable too: no order among them, bdwgc's rule).
 *  - GC_FIN_IGNORE_SELF: children grayed, except words pointing back into
 *    the object itself (a self-reference does not keep it from being
 *    finalized; longer cycles still do).
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
 * Weak slots (bdwgc's disappearing links, gc_wslot_*): the program's own
 * word @link, set to NULL by the collector, with the world stopped in mark
 * termination, when its target is white -- before any finalizer is
 * queued and before finalization order is decided (below).  The collector never reads
 * the word to find the target (the record holds it, complemented) and
 * never makes it a root: whether *link keeps the target alive is up to
 * where the program keeps the word and how it stores it (bdwgc's contract:
 * a disguised pointer, or one in pointer-free memory).  Records live in a
 * hash table keyed by link, outside the heap.  A slot whose link lies in a
 * heap object (its container) that is itself found unreachable is dropped
 * after finalizers are queued (bdwgc: a link disappears with its object).
 * Finalization order: bdwgc clears links "before any decisions about
 * finalization order are made", i.e. after marking from the roots alone
 * and before marking from finalizable objects, so that a link inside a
 * finalizable object (GC_register_disappearing_link's "link inside obj")
 * does not keep its target alive through it, and a finalizable cycle one
 * of whose edges is such a link is finalized.  So in a cycle that begins
 * with any slot registered, the children of finalizable objects are not
 * grayed at mark start: mark termination clears the slots whose targets
 * are white, then grays the children of the finalizable objects still
 * white and drains (world stopped: it lengthens the pause by what only
 * finalizable objects reach), then clears weak references and queues, as
 * above.  Without slots, nothing changes: children are grayed at
 * mark start.  Reading a slot while a cycle marks (the concurrent
 * collector) must go through gc_wslot_load(), which shades what it read
 * (as gch_weak_get() does): a plain load could hand out a target the
 * cycle is about to clear and free.  For that the word must hold the
 * target's address as it is (in memory the collector does not scan).
 * libgc.so.1 runs the stop-the-world collector only, where a plain load
 * is safe: the world is stopped for the whole mark, and the registers of
 * the reader are roots.
 * Records dropped with the world stopped go to a dead list, freed once the
 * world runs again (malloc's locks may be held by a stopped thread).
 *
 * Locking: fin.lock protects the table, the queue, the weak list, the
 * slot table and fin.running.  The collector takes it before stopping the
 * world.
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
	unsigned flags;			/* GC_FIN_* */
};

struct gch_weak {
	struct gch_weak *next, *prev;	/* under fin.lock */
	struct gch_heap *h;		/* NULL once its heap closed */
	uintptr_t hidden;		/* ~target, 0 when cleared */
};

/* A weak slot (see the top): everything complemented, like the rest. */
struct wslot {
	struct wslot *next;		/* hash chain, or the dead list */
	struct gch_heap *h;
	uintptr_t hlink;		/* ~link */
	uintptr_t htarget;		/* ~target; 0: not in the heap, kept */
	uintptr_t hcont;		/* ~object holding link; 0: none */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* queue non-empty */
	pthread_cond_t idle;		/* queue drained, nothing running */
	struct fin_rec **buckets;
	size_t nbuckets, count;
	struct fin_rec *qhead, *qtail;
	unsigned running;
	/*
	 * The record the finalizer thread took off the queue and runs: its
	 * object and arg stay roots until the finalizer has them (between
	 * the dequeue and the call they are only in this malloc()ed record,
	 * which nothing scans).
	 */
	struct fin_rec *current;
	struct gch_weak *weak;
	struct wslot **wbuckets;
	size_t nwbuckets, nwslots;
	struct wslot *wdead;		/* dropped with the world stopped */
	bool defer;			/* this cycle: children at termination */
	struct gch_heap *defer_h;	/* ...decided for this heap's */
	uint64_t defer_cycle;		/* ...cycle (gc_heap.cycle + 1) */
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
	return gc_set_finalizer_flags(h, obj, fn, arg, 0);
}

int gc_set_finalizer_flags(gch_heap *h, void *obj, gch_finalizer_fn fn,
			   void *arg, unsigned flags)
{
	uintptr_t hidden = hide(obj);
	struct fin_rec **pp, *r;

	if (!obj || gch_base(h, obj) != obj ||
	    (flags & ~(GC_FIN_NO_ORDER | GC_FIN_IGNORE_SELF))) {
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
		(*pp)->flags = flags;
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
	r->flags = flags;
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

/* ---- weak slots: the table ----------------------------------------------- */

static size_t wbucket_of(uintptr_t hlink, size_t n)
{
	return (size_t)((hlink * 0x9E3779B97F4A7C15ULL) >> 20) & (n - 1);
}

/* The record of @link (of any heap), or NULL.  fin.lock held. */
static struct wslot **wslot_find(uintptr_t hlink)
{
	struct wslot **pp;

	if (!fin.nwbuckets)
		return NULL;
	pp = &fin.wbuckets[wbucket_of(hlink, fin.nwbuckets)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hlink == hlink)
			return pp;
	return NULL;
}

static void wslot_insert(struct wslot *k)
{
	struct wslot **pp = &fin.wbuckets[wbucket_of(k->hlink, fin.nwbuckets)];

	k->next = *pp;
	*pp = k;
}

/* World running, fin.lock held: at most two slots per bucket on average. */
static int wtable_grow(void)
{
	size_t n = fin.nwbuckets ? fin.nwbuckets * 2 : 64;
	struct wslot **old = fin.wbuckets, *k, *next;
	size_t oldn = fin.nwbuckets;

	if (fin.nwslots < fin.nwbuckets * 2)
		return 0;
	fin.wbuckets = calloc(n, sizeof(*fin.wbuckets));
	if (!fin.wbuckets) {
		fin.wbuckets = old;
		return -ENOMEM;
	}
	fin.nwbuckets = n;
	for (size_t i = 0; i < oldn; i++)
		for (k = old[i]; k; k = next) {
			next = k->next;
			wslot_insert(k);
		}
	free(old);
	return 0;
}

/* World running, fin.lock held: free what mark termination dropped. */
static void wslot_free_dead(void)
{
	while (fin.wdead) {
		struct wslot *k = fin.wdead;

		fin.wdead = k->next;
		free(k);
	}
}

/* The target's base, hidden; 0 (never cleared) outside the heap. */
static uintptr_t wslot_target(struct gch_heap *h, const void *obj)
{
	void *base = gch_base(h, obj);

	return base ? hide(base) : 0;
}

static uintptr_t wslot_container(struct gch_heap *h, void **link)
{
	void *base = gch_base(h, link);

	return base ? hide(base) : 0;
}

int gc_wslot_register(gch_heap *h, void **link, const void *obj)
{
	struct wslot **pp, *k;

	if (!link || ((uintptr_t)link & (GC_WORD - 1)))
		return -EINVAL;
	gc_lock_blocking(&fin.lock);
	wslot_free_dead();
	pp = wslot_find(hide(link));
	if (pp) {
		/* bdwgc: the last object a link was registered with counts */
		(*pp)->htarget = wslot_target(h, obj);
		pthread_mutex_unlock(&fin.lock);
		return 1;
	}
	if (wtable_grow() || !(k = malloc(sizeof(*k)))) {
		pthread_mutex_unlock(&fin.lock);
		return -ENOMEM;
	}
	k->h = h;
	k->hlink = hide(link);
	k->htarget = wslot_target(h, obj);
	k->hcont = wslot_container(h, link);
	wslot_insert(k);
	fin.nwslots++;
	pthread_mutex_unlock(&fin.lock);
	return 0;
}

bool gc_wslot_unregister(gch_heap *h, void **link)
{
	struct wslot **pp, *k = NULL;

	(void)h;
	gc_lock_blocking(&fin.lock);
	wslot_free_dead();
	pp = wslot_find(hide(link));
	if (pp) {
		k = *pp;
		*pp = k->next;
		fin.nwslots--;
	}
	pthread_mutex_unlock(&fin.lock);
	free(k);
	return k != NULL;
}

int gc_wslot_move(gch_heap *h, void **link, void **new_link)
{
	struct wslot **pp, *k;
	int ret = 0;

	if (!new_link || ((uintptr_t)new_link & (GC_WORD - 1)))
		return -EINVAL;
	gc_lock_blocking(&fin.lock);
	pp = wslot_find(hide(link));
	if (!pp) {
		ret = -ENOENT;
	} else if (new_link != link) {
		if (wslot_find(hide(new_link))) {
			ret = 1;
		} else {
			k = *pp;
			*pp = k->next;
			k->hlink = hide(new_link);
			k->hcont = wslot_container(h, new_link);
			wslot_insert(k);
		}
	}
	pthread_mutex_unlock(&fin.lock);
	return ret;
}

void *gc_wslot_load(gch_heap *h, void **link)
{
	void *v;

	(void)h;
	/* Only attached threads are stopped, so only they may hold the result. */
	if (!gc_tls.self)
		gc_thread_register();
	/*
	 * As gch_weak_get(): read and shade in one section, which no stop of
	 * the world splits, so mark termination sees either the shade (in this
	 * thread's barrier buffer, which it flushes before deciding) or a word
	 * it already cleared.  No lock: a reader taking fin.lock per load
	 * could starve the collector, which needs it to stop the world.
	 */
	gc_nopreempt_enter();
	v = __atomic_load_n(link, __ATOMIC_RELAXED);
	if (v && __atomic_load_n(&gch__wb_on, __ATOMIC_ACQUIRE))
		gc_shade((uintptr_t)v);
	gc_nopreempt_exit();
	return v;
}

/* ---- weak slots: the collector's side ------------------------------------ */

/*
 * World stopped: gray the children of finalizable @obj, leaving out words
 * that point back into it (GC_FIN_IGNORE_SELF), word by word.
 * Conservatively, whatever the object's layout: a typed object's
 * non-pointer words may keep more alive, never less.
 */
static void scan_children_not_self(struct gc_work *w, struct gch_heap *h,
				   uintptr_t obj)
{
	struct gch_span *s = gch_span_of(h, obj);
	size_t len = gch_size(h, (void *)obj);

	if (!s || (s->spanclass & 1))
		return;		/* noscan: no children */
	for (uintptr_t a = obj; a + GC_WORD <= obj + len; a += GC_WORD) {
		uintptr_t v = *(const uintptr_t *)a;

		if (v < obj || v >= obj + len)
			gc_mark_ptr(w, v);
	}
}

/* Gray what finalizable @r keeps alive: its children, unless no-order. */
static void scan_children(struct gc_work *w, struct fin_rec *r)
{
	uintptr_t obj = (uintptr_t)reveal(r->hidden);

	if (r->flags & GC_FIN_NO_ORDER)
		return;
	if (r->flags & GC_FIN_IGNORE_SELF)
		scan_children_not_self(w, r->h, obj);
	else
		gc_scan_object(w, obj);
}

void gc_fin_mark_roots(struct gc_work *w)
{
	struct gc_heap *g = gc_of(w->h);
	uint64_t cycle = g ? g->cycle + 1 : 0;

	/*
	 * With weak slots, children wait for the slots (see the top).  Once
	 * per cycle: GCHEAP_GCVERIFY calls this again at termination, when
	 * a changed decision would leave the children unmarked.
	 */
	if (fin.defer_h != w->h || fin.defer_cycle != cycle) {
		fin.defer = fin.nwslots != 0;
		fin.defer_h = w->h;
		fin.defer_cycle = cycle;
	}
	for (size_t i = 0; i < fin.nbuckets; i++) {
		for (struct fin_rec *r = fin.buckets[i]; r; r = r->next) {
			if (r->h != w->h)
				continue;
			if (!fin.defer)
				scan_children(w, r);
			gc_mark_ptr(w, (uintptr_t)r->arg);
		}
	}
	for (struct fin_rec *r = fin.qhead; r; r = r->next) {
		if (r->h != w->h)
			continue;
		gc_mark_ptr(w, (uintptr_t)reveal(r->hidden));
		gc_mark_ptr(w, (uintptr_t)r->arg);
	}
	if (fin.current && fin.current->h == w->h) {
		gc_mark_ptr(w, (uintptr_t)reveal(fin.current->hidden));
		gc_mark_ptr(w, (uintptr_t)fin.current->arg);
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

static uint64_t clear_weak_refs(struct gch_heap *h)
{
	uint64_t cleared = 0;

	for (struct gch_weak *k = fin.weak; k; k = k->next) {
		if (k->h == h && k->hidden &&
		    !gc_is_marked(h, (uintptr_t)reveal(k->hidden))) {
			k->hidden = 0;
			cleared++;
		}
	}
	return cleared;
}

/*
 * World stopped: drop the slots of @h for which @dead says so onto the
 * dead list; with @clear, NULL their words first.  Returns how many.
 */
static uint64_t wslots_sweep(struct gch_heap *h, bool clear)
{
	uint64_t n = 0;

	for (size_t i = 0; i < fin.nwbuckets; i++) {
		struct wslot **pp = &fin.wbuckets[i];

		while (*pp) {
			struct wslot *k = *pp;
			uintptr_t hx = clear ? k->htarget : k->hcont;

			if (k->h != h || !hx ||
			    gc_is_marked(h, (uintptr_t)reveal(hx))) {
				pp = &k->next;
				continue;
			}
			if (clear)
				__atomic_store_n((void **)reveal(k->hlink),
						 NULL, __ATOMIC_RELAXED);
			*pp = k->next;
			k->next = fin.wdead;
			fin.wdead = k;
			fin.nwslots--;
			n++;
		}
	}
	return n;
}

/* World stopped: queue every white finalizable object of @h and mark it;
 * the no-order ones are scanned too, after all are queued (see the top). */
static void queue_unreachable(struct gc_work *w)
{
	struct gch_heap *h = w->h;
	struct fin_rec *before = fin.qtail;
	bool any_no_order = false;

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
			/* ordered: its children are black already */
			gc_mark_only(w, obj);
			any_no_order |= (r->flags & GC_FIN_NO_ORDER) != 0;
			queue_push(r);
		}
	}
	if (!any_no_order)
		return;
	for (struct fin_rec *r = before ? before->next : fin.qhead; r;
	     r = r->next)
		if (r->h == h && (r->flags & GC_FIN_NO_ORDER))
			gc_scan_object(w, (uintptr_t)reveal(r->hidden));
	gc_drain(w);
}

/* World stopped, deferred cycle: gray and drain the children of every
 * white finalizable object, now that the slots are cleared. */
static void mark_deferred_children(struct gc_work *w)
{
	for (size_t i = 0; i < fin.nbuckets; i++)
		for (struct fin_rec *r = fin.buckets[i]; r; r = r->next)
			if (r->h == w->h &&
			    !gc_is_marked(w->h, (uintptr_t)reveal(r->hidden)))
				scan_children(w, r);
	gc_drain(w);
}

void gc_fin_after_mark(struct gc_work *w)
{
	struct gch_heap *h = w->h;
	struct gc_heap *g = gc_of(h);
	uint64_t cleared = 0;

	if (fin.defer) {
		cleared += wslots_sweep(h, true);
		mark_deferred_children(w);
	}
	cleared += clear_weak_refs(h);
	/* slots registered since mark start, in a cycle that did not wait */
	if (fin.nwslots)
		cleared += wslots_sweep(h, true);
	if (g)
		gch_add(&g->weak_cleared, cleared);
	queue_unreachable(w);
	/* slots inside objects that stay dead go with them */
	if (fin.nwslots)
		wslots_sweep(h, false);
}

void gc_fin_wake(void)
{
	gc_lock_blocking(&fin.lock);
	wslot_free_dead();
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
		fin.current = r;
		pthread_mutex_unlock(&fin.lock);

		run_one(r);
		wipe_stack_below();

		gc_lock_blocking(&fin.lock);
		fin.current = NULL;
		free(r);
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

/* World running, fin.lock held: forget the weak slots of @h (their words
 * are left as they are: the heap is gone, nothing will clear them). */
static void wslots_heap_destroy(struct gch_heap *h)
{
	wslot_free_dead();
	for (size_t i = 0; i < fin.nwbuckets; i++) {
		struct wslot **pp = &fin.wbuckets[i];

		while (*pp) {
			struct wslot *k = *pp;

			if (k->h == h) {
				*pp = k->next;
				fin.nwslots--;
				free(k);
			} else {
				pp = &k->next;
			}
		}
	}
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
	wslots_heap_destroy(h);
	if (fin.defer_h == h)
		fin.defer_h = NULL;	/* a new heap here decides afresh */
	pthread_mutex_unlock(&fin.lock);
}

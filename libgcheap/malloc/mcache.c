// SPDX-License-Identifier: MIT
/*
 * Per-thread caches (Go's mcache): one span per span class from which the
 * thread allocates without locks or atomics, plus the tiny block.
 *
 * Reaching the cache: gch_tls_mcache[h->slot] in initial-exec TLS.  Slots a
 * thread has not attached to point at gch_mcache_none, whose spans are all
 * gch_span_empty, so the first allocation from a heap takes the slow path
 * (gch_mcache_refill) and attaches there.  A thread-exit destructor (a
 * pthread key whose value is non-NULL while the thread is attached anywhere)
 * detaches the thread from every heap.
 *
 * Accounting: when a cache claims a window it counts all the window's free
 * slots as allocated (alloc_bytes, and pacer_pending for the collector's
 * pacer); when it gives a span back, the unclaimed rest is subtracted.  So
 * the fast path counts nothing, and the totals run ahead by at most one
 * window per cached span, as Go's heapLive does with whole spans.
 *
 * Ownership: everything in a cache is written by its thread only; gch_stats
 * reads the counters with relaxed atomics under h->lock, which also
 * protects the heap's list of caches.
 */
#define _GNU_SOURCE		/* pthread_getattr_np */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "gc_internal.h"

struct gch_mcache gch_mcache_none = {
	.alloc = { [0 ... GCH_NUM_SPANCLASSES - 1] = &gch_span_empty },
	.tinyoffset = GCH_TINY_SIZE,
};

__thread struct gch_mcache *gch_tls_mcache[GCH_MAX_HEAPS]
	__attribute__((tls_model("initial-exec"))) = {
	[0 ... GCH_MAX_HEAPS - 1] = &gch_mcache_none,
};

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < GCH_MAX_HEAPS; i++) {
		struct gch_mcache *c = gch_tls_mcache[i];

		if (c != &gch_mcache_none) {
			gc_nopreempt_enter();	/* collector */
			gch_mcache_detach(c->heap, c);
			gc_nopreempt_exit();
		}
	}
	gc_thread_unregister();		/* collector */
}

static void exit_key_create(void)
{
	pthread_key_create(&exit_key, thread_exit);
}

static void record_stack(struct gch_mcache *c)
{
	pthread_attr_t attr;
	void *lo;
	size_t len;

	if (pthread_getattr_np(pthread_self(), &attr))
		return;
	if (!pthread_attr_getstack(&attr, &lo, &len)) {
		c->stack_lo = (uintptr_t)lo;
		c->stack_hi = (uintptr_t)lo + len;
	}
	pthread_attr_destroy(&attr);
}

/* Attach the calling thread to @h; returns its cache (existing or new), or
 * NULL with errno ENOMEM. */
struct gch_mcache *gch_mcache_attach(struct gch_heap *h)
{
	struct gch_mcache *c = gch_tls_mcache[h->slot];

	if (c != &gch_mcache_none)
		return c;
	/* collector: the stack must be known before the cache is visible */
	if (gc_thread_register()) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_once(&exit_key_once, exit_key_create);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	for (unsigned i = 0; i < GCH_NUM_SPANCLASSES; i++)
		c->alloc[i] = &gch_span_empty;
	c->tinyoffset = GCH_TINY_SIZE;
	c->heap = h;
	c->thread = pthread_self();
	record_stack(c);
	if (pthread_setspecific(exit_key, c)) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}

	gch_lock(&h->lock);
	c->next = h->caches;
	if (h->caches)
		h->caches->prev = c;
	h->caches = c;
	h->nthreads++;
	gch_unlock(&h->lock);
	gch_tls_mcache[h->slot] = c;
	return c;
}

static bool attached_anywhere(void)
{
	for (unsigned i = 0; i < GCH_MAX_HEAPS; i++)
		if (gch_tls_mcache[i] != &gch_mcache_none)
			return true;
	return false;
}

/* Give every span of @c back to its central (unclaimed slots uncounted) and
 * drop the tiny block.  The cache's owner runs this, or is parked. */
static void release_spans(struct gch_heap *h, struct gch_mcache *c)
{
	for (unsigned sc = 0; sc < GCH_NUM_SPANCLASSES; sc++) {
		struct gch_span *s = c->alloc[sc];
		uint64_t left;

		if (s == &gch_span_empty)
			continue;
		c->alloc[sc] = &gch_span_empty;
		if (h->prof_rate)	/* sampled slots back in the window */
			gch_profile_unstash(c, s);
		left = (uint64_t)gch_popcount64(s->cache);
		gch_mcache_account(h, c, -(left * s->elemsize), -left);
		gch_mcentral_uncache_span(h, &h->central[sc], s);
	}
	c->tiny = 0;
	c->tinyoffset = GCH_TINY_SIZE;
}

void gch_heap_release_all_caches(struct gch_heap *h)
{
	gch_lock(&h->lock);
	for (struct gch_mcache *c = h->caches; c; c = c->next)
		release_spans(h, c);
	gch_unlock(&h->lock);
}

/* Give every cached span back, fold the counters into the heap, unlink and
 * free the cache.  Runs on the cache's own thread. */
void gch_mcache_detach(struct gch_heap *h, struct gch_mcache *c)
{
	release_spans(h, c);
	gch_add(&h->alloc_since_cycle, (uint64_t)c->pacer_pending);

	gch_lock(&h->lock);
	h->done_alloc_bytes += c->alloc_bytes;
	h->done_alloc_objects += c->alloc_objects;
	h->done_large_bytes += c->large_bytes;
	h->done_large_objects += c->large_objects;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->caches = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nthreads--;
	gch_unlock(&h->lock);

	gch_tls_mcache[h->slot] = &gch_mcache_none;
	free(c);
	if (!attached_anywhere())
		pthread_setspecific(exit_key, NULL);
}

/*
 * Count claimed (or, negative, unclaimed) slots.  Every GCH_PACER_FLUSH bytes
 * the claim is published to the heap's pacer counter, and the pacer hook
 * runs when the counter passes the trigger.
 */
void gch_mcache_account(struct gch_heap *h, struct gch_mcache *c,
			uint64_t bytes, uint64_t objects)
{
	int64_t pending;

	gch_store_rlx(&c->alloc_bytes, c->alloc_bytes + bytes);
	gch_store_rlx(&c->alloc_objects, c->alloc_objects + objects);
	pending = c->pacer_pending + (int64_t)bytes;
	if (pending >= GCH_PACER_FLUSH) {
		uint64_t since = gch_add(&h->alloc_since_cycle,
					 (uint64_t)pending);
		uint64_t trigger = gch_load(&h->pacer_trigger);
		void (*hook)(struct gch_heap *, uint64_t) =
			gch_load(&h->pacer_hook);

		pending = 0;
		c->pacer_pending = 0;
		if (trigger && since >= trigger && hook)
			hook(h, since);
		return;
	}
	c->pacer_pending = pending;
}

/* Take the lowest free slot of @s's window (which has one). */
static void *take_slot(struct gch_span *s)
{
	uint64_t bits = s->cache;

	gch_store_rlx(&s->cache, bits & (bits - 1));
	return (void *)(s->win_addr +
			(uintptr_t)__builtin_ctzll(bits) * s->elemsize);
}

/*
 * A window of @n free slots was just opened: with the heap profile on,
 * charge it to the sample countdown (which may stash the slots from the
 * sampled one on), then take a slot -- the sampled one if it comes first.
 */
static void *take_opened(struct gch_heap *h, struct gch_mcache *c,
			 struct gch_span *s, uint32_t n)
{
	if (h->prof_rate) {
		gch_profile_charge_window(h, c, s, n);
		if (!s->cache)
			return gch_profile_take_sampled(h, c, s);
	}
	return take_slot(s);
}

/*
 * The fast path found the window of span class @sc empty: open the span's
 * next window, or swap the span for one with free slots.  NULL (errno
 * ENOMEM) when no span can be had; the caller decides about the OOM handler.
 */
void *gch_mcache_refill_try(struct gch_heap *h, unsigned sc)
{
	struct gch_mcache *c = gch_mcache_attach(h);
	struct gch_span *s;
	uint32_t n;

	if (!c)
		return NULL;
	s = c->alloc[sc];
	if (s->cache)		/* another path refilled it (OOM retry) */
		return take_slot(s);
	if (s->sample_stash)	/* ran dry at the heap profile's sample */
		return gch_profile_take_sampled(h, c, s);
	if (s != &gch_span_empty) {
		n = gch_span_next_window(s);
		if (n) {
			gch_mcache_account(h, c, n * s->elemsize, n);
			return take_opened(h, c, s, n);
		}
		c->alloc[sc] = &gch_span_empty;
		gch_mcentral_uncache_span(h, &h->central[sc], s);
	}

	s = gch_mcentral_cache_span(h, &h->central[sc]);
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	c->alloc[sc] = s;
	s->black_from = s->cache;	/* what is taken from now on is ours */
	n = s->win_free;
	if (!n)
		n = gch_span_next_window(s);
	/* a span on a partial list always has a free slot */
	assert(n);
	gch_mcache_account(h, c, n * s->elemsize, n);
	return take_opened(h, c, s, n);
}

void *gch_mcache_refill(struct gch_heap *h, struct gch_mcache *c,
			unsigned sc)
{
	void *p;

	(void)c;
	p = gch_mcache_refill_try(h, sc);
	if (unlikely(!p))
		return gch_alloc_failed(h, gch_classes[sc >> 1].size, sc);
	return p;
}

/*
 * The tiny block cannot fit @size more bytes: allocate a fresh 16 B block
 * and keep whichever of the old and new block has more room left (Go's rule).
 */
void *gch_mcache_tiny_slow(struct gch_heap *h, struct gch_mcache *c,
			   size_t size)
{
	void *blk = gch_alloc_small(h, gch_spanclass(GCH_TINY_CLASS, 1));

	if (!blk)
		return NULL;
	c = gch_mcache_of(h);	/* the allocation may have attached us */
	if (!c->tiny || size < c->tinyoffset) {
		c->tiny = (uintptr_t)blk;
		c->tinyoffset = size;
	}
	return blk;
}

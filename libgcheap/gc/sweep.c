// SPDX-License-Identifier: MIT
/*
 * sweep.c - giving unmarked objects back.
 *
 * When marking ends the collector advances h->sweepgen by 2: every span on a
 * central list is then in its central's "unswept" sets (mcentral.c indexes
 * the sets by sweepgen parity, so nothing is walked).  A span is swept
 * exactly once per cycle, by whoever claims it first:
 *  - an mcache refill (gc_sweep_for_cache, Go's cacheSpan): unswept partial
 *    spans first, then unswept full ones, until one has a free slot -- an
 *    empty span is kept and reused on the spot, saving a page-layer trip;
 *  - a span allocation that would grow the heap (gc_sweep_reclaim, Go's
 *    mheap.reclaim): a batch of any class first;
 *  - the background sweeper thread, a bounded batch at a time;
 *  - the next collection, which finishes whatever is left with the world
 *    stopped before it marks (the mark bits are about to be reused).
 * Claiming = popping the span off an unswept list under its central's lock
 * (sweepgen = h - 1 while it is swept, h when done, as in Go).
 *
 * Sweeping a small span is Go's swap: the mark bits become the alloc bits,
 * the old alloc bits are cleared to become the next cycle's mark bits, the
 * count of allocated slots is the popcount, and the allocation window
 * rewinds to slot 0.  Freed slots are not touched here: needzero makes the
 * allocator clear them when their window opens.  Typed bits of freed slots
 * are dropped.  Spans left empty and dead large objects go back to the page
 * layer in batches (one GCH_IOC_SPAN_FREE for up to 256 spans).
 *
 * Concurrency: every sweep runs inside a no-preemption section, so a thread
 * is never parked holding a claimed span or a central lock; the collector
 * can therefore finish the sweep with the world stopped.  Locks: central
 * locks (list moves), h->lock inside gch_span_release; gc_lock is held by the
 * background sweeper around each batch so a collection never races it (and
 * so the sweeper thread need not be attached and stopped).  The sweeper
 * claims and files spans in batches of CLAIM_BATCH per central lock hold.
 */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "internal.h"
#include "gc_internal.h"

#define SWEEP_BATCH	256

static inline struct gch_span_list *unswept_partial(struct gch_mcentral *c,
						    uint32_t sg)
{
	return &c->partial[1 - sg / 2 % 2];
}

static inline struct gch_span_list *unswept_full(struct gch_mcentral *c,
						 uint32_t sg)
{
	return &c->full[1 - sg / 2 % 2];
}

/*
 * Pop up to @max unswept spans of @c (partial ones first) and claim them.
 * The background sweeper takes them in batches: one lock round trip per
 * batch instead of two per span keeps it off the central lock that the
 * mutator's refills take.
 */
static unsigned claim_batch(struct gch_mcentral *c, uint32_t sg,
			    struct gch_span **out, unsigned max)
{
	unsigned n = 0;

	gch_lock(&c->lock);
	while (n < max) {
		struct gch_span_list *l = unswept_partial(c, sg);
		struct gch_span *s;

		if (!l->first)
			l = unswept_full(c, sg);
		s = gch_span_list_pop(l);
		if (!s)
			break;
		s->sweepgen = sg - 1;
		out[n++] = s;
	}
	gch_unlock(&c->lock);
	return n;
}

static void count_freed(struct gch_heap *h, uint64_t objs, uint64_t bytes)
{
	struct gc_heap *g = gc_of(h);

	if (objs && g) {
		gch_add(&g->free_objects, objs);
		gch_add(&g->free_bytes, bytes);
	}
}

/*
 * Sweep a claimed span.  Returns the slots still allocated: 0 means the
 * span is empty (a large object is then dead).
 */
static uint32_t sweep_span(struct gch_heap *h, struct gch_span *s)
{
	uint32_t words = (s->nelems + 63) / 64, live = 0;
	uint64_t *mark = s->markbits, *old = s->allocbits;

	assert(!s->incache && s->state == GCH_SPAN_INUSE);
	if (unlikely(s->samples))	/* heap profile: frees of samples */
		gch_profile_sweep(h, s);
	for (uint32_t i = 0; i < words; i++) {
		live += gch_popcount64(mark[i]);
		s->typedbits[i] &= mark[i];
	}
	if (s->nalloc > live)
		count_freed(h, s->nalloc - live,
			    (uint64_t)(s->nalloc - live) * s->elemsize);
	if ((s->spanclass >> 1) == 0) {
		/* a large object: live or dead, nothing in between */
		mark[0] = 0;
		return live;
	}
	if (s->nalloc > live)
		s->needzero = 1;
	s->allocbits = mark;
	s->markbits = old;
	memset(old, 0, words * sizeof(uint64_t));
	s->nalloc = live;
	gch_store_rlx(&s->cache, 0);
	s->win_free = 0;
	gch_span_rewind(s);
	return live;
}

static void file_swept_locked(struct gch_mcentral *c, struct gch_span *s,
			      uint32_t sg)
{
	gch_assert_held(&c->lock);
	if (gch_span_full(s))
		gch_span_list_push(gch_full_swept(c, sg), s);
	else
		gch_span_list_push(gch_partial_swept(c, sg), s);
	s->sweepgen = sg;
}

/* File a swept span that is not empty on its swept list. */
static void file_swept(struct gch_mcentral *c, struct gch_span *s,
		       uint32_t sg)
{
	gch_lock(&c->lock);
	file_swept_locked(c, s, sg);
	gch_unlock(&c->lock);
}

struct gch_span *gc_sweep_for_cache(struct gch_heap *h,
				    struct gch_mcentral *c)
{
	uint32_t sg = gch_load(&h->sweepgen);
	struct gch_span *s;

	/* Go bounds the full-span search the same way: it is allocation time. */
	for (unsigned budget = 100; budget; budget--) {
		if (!claim_batch(c, sg, &s, 1))
			return NULL;
		sweep_span(h, s);
		if (!gch_span_full(s)) {
			s->sweepgen = sg;
			return s;
		}
		file_swept(c, s, sg);
	}
	return NULL;
}

#define CLAIM_BATCH	16

/*
 * Sweep up to @max spans of @h, freeing empty ones in batches.  Returns the
 * number swept; fewer than @max means nothing unswept is left.
 */
static unsigned sweep_batch(struct gch_heap *h, unsigned max)
{
	uint32_t sg = gch_load(&h->sweepgen);
	struct gch_span *dead[SWEEP_BATCH], *got[CLAIM_BATCH];
	unsigned ndead = 0, done = 0;

	for (unsigned sc = 0; sc < GCH_NUM_SPANCLASSES && done < max; sc++) {
		struct gch_mcentral *c = &h->central[sc];
		unsigned n, nlive;

		while (done < max) {
			n = claim_batch(c, sg, got, CLAIM_BATCH < max - done ?
					CLAIM_BATCH : max - done);
			if (!n)
				break;
			done += n;
			nlive = 0;
			for (unsigned i = 0; i < n; i++) {
				if (sweep_span(h, got[i])) {
					got[nlive++] = got[i];
					continue;
				}
				dead[ndead++] = got[i];
				if (ndead == SWEEP_BATCH) {
					gch_span_release(h, dead, ndead);
					ndead = 0;
				}
			}
			if (!nlive)
				continue;
			gch_lock(&c->lock);
			for (unsigned i = 0; i < nlive; i++)
				file_swept_locked(c, got[i], sg);
			gch_unlock(&c->lock);
		}
	}
	if (ndead)
		gch_span_release(h, dead, ndead);
	return done;
}

bool gc_sweep_some(struct gch_heap *h, unsigned max)
{
	unsigned done;

	gc_nopreempt_enter();
	done = sweep_batch(h, max);
	gc_nopreempt_exit();
	return done == max;
}

/*
 * Before the heap grows by @npages for a new span (Go's mheap.reclaim,
 * which every span allocation runs): while a cycle's sweep is pending,
 * sweep, RECLAIM_STEP spans at a time, until as many pages went back to
 * the page layer, or RECLAIM_SPANS spans are swept, or nothing is left.
 * Without it a class whose own unswept spans ran out took fresh pages
 * while other classes' dead spans waited for the background sweeper
 * (GC_SWEEP_DELAY_NS), and the heap's pages outgrew its goal, by a
 * different amount each run.  With it, peak RSS (medians of interleaved
 * runs on the host): binary-trees 220 -> 211 MB, GCBench 25.0 -> 23.3 MB,
 * Guile's arena 17.0 MB every run where it was 17.0 to 18.8
 * (bench/gc-results.md, sixth session).  Bounded, because it runs in the
 * allocating thread: a heap whose unswept spans are all partly live would
 * otherwise sweep all of them in one allocation; and in small steps, so
 * that an allocation stops sweeping once its pages are back (one batch of
 * 64 cost GCBench 5% of its time, steps of 8 about 2%).  A span longer
 * than an arena needs a run that only coalesced free pages give, so for
 * it the sweep goes on until enough went back or nothing is left
 * (large.c).  No sweep is wasted: every span is swept once a cycle,
 * whoever does it.
 */
#define RECLAIM_SPANS	64
#define RECLAIM_STEP	8

void gc_sweep_reclaim(struct gch_heap *h, uint32_t npages)
{
	struct gc_heap *g = gc_of(h);
	uint64_t start, need = (uint64_t)npages << GCH_PAGE_SHIFT;
	unsigned left = npages <= GCH_MAX_SPAN_PAGES ?
			RECLAIM_SPANS / RECLAIM_STEP : UINT32_MAX;

	if (!g || !atomic_load_explicit(&g->sweep_pending,
					memory_order_relaxed))
		return;
	start = gch_load(&h->span_bytes);
	while (left-- && gc_sweep_some(h, RECLAIM_STEP)) {
		uint64_t now = gch_load(&h->span_bytes);

		if (now < start && start - now >= need)
			break;
	}
}

void gc_sweep_finish(struct gch_heap *h)
{
	while (sweep_batch(h, SWEEP_BATCH) == SWEEP_BATCH)
		;
	gch_profile_swept(h);	/* the cycle's frees are all known */
}

/*
 * World stopped: take every span out of every thread's cache of @h (Go's
 * mcache.releaseAll at mark termination), so that sweeping sees all spans
 * on the central lists, and drop the tiny blocks (their slots are live only
 * if something points at them).  The owners are parked outside the
 * allocator, so their caches are consistent and nobody else writes them.
 */
void gc_release_caches(struct gch_heap *h)
{
	gch_heap_release_all_caches(h);
}

/* ---- the background sweeper thread --------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kick;			/* under lock */
	pthread_once_t once;
	int err;
} sweeper = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.once = PTHREAD_ONCE_INIT,
};

struct sweep_pass {
	bool more;
	struct gch_heap *due;
	int64_t now;
	int64_t wake;		/* earliest sweep_at_ns still ahead */
};

static void sweep_heap_step(struct gc_heap *g, void *arg)
{
	struct sweep_pass *p = arg;

	if (atomic_load(&g->sweep_pending)) {
		if (p->now < g->sweep_at_ns) {
			if (!p->wake || g->sweep_at_ns < p->wake)
				p->wake = g->sweep_at_ns;
		} else if (gc_sweep_some(g->h, 64)) {
			p->more = true;
		} else {
			atomic_store(&g->sweep_pending, false);
			gch_profile_swept(g->h);
			gc_announce(g->h, GCH_GC_SWEEP_END, gc_heap_live(g));
		}
	}
	if (!p->due && gc_pacer_periodic_due(g, p->now))
		p->due = g->h;
}

/* Sleep until kicked, until @wake (gc_now_ns time; 0: none), or 1 s. */
static void sweeper_wait(int64_t wake)
{
	int64_t delay = 1000000000LL;
	struct timespec ts;

	if (wake) {
		delay = wake - gc_now_ns();
		if (delay <= 0)
			return;
	}
	pthread_mutex_lock(&sweeper.lock);
	if (!sweeper.kick) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += delay / 1000000000LL;
		ts.tv_nsec += delay % 1000000000LL;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sweeper.cond, &sweeper.lock, &ts);
	}
	sweeper.kick = false;
	pthread_mutex_unlock(&sweeper.lock);
}

static void *sweeper_main(void *arg)
{
	int64_t wake = 0;

	/*
	 * Not attached: this thread holds no heap pointers, and it sweeps only
	 * with gc_lock held, so no collection can find it mid-batch.  Leaving
	 * it out of the registry spares every stop-the-world a signal round
	 * trip to it.
	 */
	(void)arg;
	for (;;) {
		struct sweep_pass p;

		sweeper_wait(wake);
		do {
			p = (struct sweep_pass){ .now = gc_now_ns() };
			pthread_mutex_lock(&gc_lock);
			gc_for_each_heap(sweep_heap_step, &p);
			pthread_mutex_unlock(&gc_lock);
			/* the collection re-checks that the heap still exists */
			if (p.due)
				gc_collect_unattached(p.due, GC_REASON_TIME);
		} while (p.more);
		wake = p.wake;
	}
	return NULL;
}

static void sweeper_create(void)
{
	sweeper.err = -gc_spawn(sweeper_main, NULL);
}

int gc_sweeper_start(void)
{
	pthread_once(&sweeper.once, sweeper_create);
	if (sweeper.err)
		return sweeper.err;
	pthread_mutex_lock(&sweeper.lock);
	sweeper.kick = true;
	pthread_cond_signal(&sweeper.cond);
	pthread_mutex_unlock(&sweeper.lock);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * The heap object: opening a backend, the span-metadata pool, creating and
 * releasing spans (page layer + metadata + span slot), limits, statistics.
 *
 * Backend choice: GCHEAP_BACKEND=kernel|host in the environment wins, then
 * gch_options.backend; AUTO tries /dev/gcheap and falls back to the
 * in-process page layer only when the device does not exist.
 *
 * Span metadata lives in mmap'ed chunks owned by the heap, never in the heap
 * itself (the collector must be able to walk it without finding it as an
 * object) and never freed before gch_close(), so a stale struct gch_span
 * pointer read racily from a span slot is always readable memory.
 *
 * Locking: h->lock protects the span pool, the cache list, the done_*
 * counters and h->nthreads; the heap slot table has its own lock.  Span
 * counters (span_bytes, nspans, oom_count) are atomics.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "gc_internal.h"

static struct gch_heap *heap_slots[GCH_MAX_HEAPS];
static pthread_mutex_t heap_slots_lock = PTHREAD_MUTEX_INITIALIZER;

#define SPAN_CHUNK_BYTES	(256 * 1024)

struct span_chunk {
	struct span_chunk *next;
	size_t nspans;
	struct gch_span spans[];
};

/*
 * Take a span struct from the pool, growing it by a chunk when empty, with a
 * bitmap block of @words words per bitmap.
 */
static struct gch_span *span_pool_get(struct gch_heap *h, uint32_t words)
{
	struct gch_span *s;
	uint64_t *bits;

	gch_lock(&h->lock);
	bits = gch_bits_alloc(h, words);
	if (!bits) {
		gch_unlock(&h->lock);
		return NULL;
	}
	if (!h->span_pool && h->span_fresh == h->span_fresh_end) {
		struct span_chunk *ch = mmap(NULL, SPAN_CHUNK_BYTES,
					     PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (ch == MAP_FAILED) {
			gch_bits_free(h, bits, words);
			gch_unlock(&h->lock);
			return NULL;
		}
		ch->nspans = (SPAN_CHUNK_BYTES - sizeof(*ch)) / sizeof(ch->spans[0]);
		ch->next = h->span_chunks;
		h->span_chunks = ch;
		/*
		 * Handed out in order, not threaded onto span_pool: linking
		 * them all wrote to every record, and a small heap kept the
		 * whole 256 KiB chunk resident for a few spans.
		 */
		h->span_fresh = ch->spans;
		h->span_fresh_end = ch->spans + ch->nspans;
	}
	if (h->span_pool) {
		s = h->span_pool;
		h->span_pool = s->next;
	} else {
		s = h->span_fresh++;
	}
	s->bitmem = bits;
	s->bitwords = words;
	gch_unlock(&h->lock);
	return s;
}

static void span_pool_put(struct gch_heap *h, struct gch_span *s)
{
	gch_assert_held(&h->lock);
	/* swept empty, or dead: the sweeper took its samples */
	assert(!s->samples && !s->sample_stash);
	gch_bits_free(h, s->bitmem, s->bitwords);
	s->bitmem = s->allocbits = s->markbits = s->typedbits = NULL;
	gch_store_rlx(&s->state, (uint8_t)GCH_SPAN_DEAD);
	s->next = h->span_pool;
	h->span_pool = s;
}

/*
 * A new span of @npages for span class @spanclass: pages from the page layer,
 * metadata from the pool, published in the span slot of each of its pages
 * last (release) so that whoever finds it there sees it initialised.  One
 * store per page (Go's mheap.setSpans): a pointer's span is then one load
 * away, where the page map's entry and the first page's slot were two
 * dependent ones, and every candidate pointer the collector marks pays it.
 * NULL with errno ENOMEM when either runs out.
 */
struct gch_span *gch_span_new(struct gch_heap *h, unsigned spanclass,
			      uint32_t npages)
{
	uint32_t bitwords = (gch_classes[spanclass >> 1].nelems + 63) / 64;
	struct gch_span_ref ref;
	struct gch_span *s;
	uint32_t page;
	bool zeroed;

	if (h->pl->span_alloc(h, npages, &page, &zeroed)) {
		errno = ENOMEM;
		return NULL;
	}
	/* a large object (class 0) has one slot: one word per bitmap */
	s = span_pool_get(h, bitwords ? bitwords : 1);
	if (!s) {
		ref.page = page;
		ref.npages = npages;
		h->pl->span_free(h, &ref, 1);
		errno = ENOMEM;
		return NULL;
	}
	gch_span_init(s, spanclass, page, npages,
		      h->base + ((uintptr_t)page << GCH_PAGE_SHIFT), zeroed);
	s->sweepgen = gch_load(&h->sweepgen);
	gch_add(&h->span_bytes, (uint64_t)npages << GCH_PAGE_SHIFT);
	gch_add(&h->nspans, 1);
	for (uint32_t i = 0; i < npages; i++)
		gch_store_rel(&h->spanslots[page + i], (uint64_t)(uintptr_t)s);
	return s;
}

/*
 * Give @n spans back to the page layer in one batch (the sweeper's path).
 * The spans must be off every list and cache.  The slots of all their pages
 * are cleared before the pages go, so no later lookup finds the dead
 * metadata.
 */
void gch_span_release(struct gch_heap *h, struct gch_span **spans,
		      uint32_t n)
{
	struct gch_span_ref refs[256];
	uint32_t done = 0;

	while (done < n) {
		uint32_t m = n - done < 256 ? n - done : 256;
		uint64_t bytes = 0;

		for (uint32_t i = 0; i < m; i++) {
			struct gch_span *s = spans[done + i];

			assert(!s->incache && s->state == GCH_SPAN_INUSE);
			for (uint32_t k = 0; k < s->npages; k++)
				gch_store_rel(&h->spanslots[s->page + k], 0);
			refs[i].page = s->page;
			refs[i].npages = s->npages;
			bytes += (uint64_t)s->npages << GCH_PAGE_SHIFT;
		}
		/* The refs name spans we allocated and hold: only a broken
		 * page layer can refuse them, and then the pages stay lost
		 * to this heap rather than reused under live metadata. */
		h->pl->span_free(h, refs, m);
		gch_lock(&h->lock);
		for (uint32_t i = 0; i < m; i++) {
			struct gch_span *s = spans[done + i];

			free(s->ptrbits);
			free(s->procdescr);
			s->ptrbits = NULL;
			s->procdescr = NULL;
			span_pool_put(h, s);
		}
		gch_unlock(&h->lock);
		gch_add(&h->span_bytes, -bytes);
		gch_add(&h->nspans, -(uint64_t)m);
		done += m;
	}
}

static int backend_from_env(enum gch_backend *b)
{
	const char *e = getenv("GCHEAP_BACKEND");

	if (!e || !*e)
		return 0;
	if (!strcmp(e, "kernel"))
		*b = GCH_BACKEND_KERNEL;
	else if (!strcmp(e, "host"))
		*b = GCH_BACKEND_HOST;
	else
		return -EINVAL;
	return 0;
}

/* Copy the caller's options, accepting older (shorter) structs whose
 * missing fields default to 0 and rejecting unknown non-zero tails. */
static int read_options(struct gch_options *o, const struct gch_options *u)
{
	const size_t v1 = offsetof(struct gch_options, oom_arg) +
			  sizeof(u->oom_arg);

	memset(o, 0, sizeof(*o));
	if (!u)
		return 0;
	if (u->size < v1)
		return -EINVAL;
	if (u->size > sizeof(*o)) {
		const unsigned char *tail = (const unsigned char *)u;

		for (size_t i = sizeof(*o); i < u->size; i++)
			if (tail[i])
				return -E2BIG;
	}
	memcpy(o, u, sizeof(*o));
	if (o->reserved || o->gc_reserved || o->backend > GCH_BACKEND_HOST)
		return -EINVAL;
	return 0;
}

static int open_backend(struct gch_heap *h, struct gch_options *o)
{
	enum gch_backend b = (enum gch_backend)o->backend;
	int r = backend_from_env(&b);

	if (r)
		return r;
	if (b != GCH_BACKEND_HOST) {
		r = gch_pl_kernel_open(h, o);
		if (!r || b == GCH_BACKEND_KERNEL ||
		    (r != -ENOENT && r != -ENODEV && r != -ENXIO))
			return r;
	}
	return gch_pl_host_open(h, o);
}

static int take_slot(struct gch_heap *h)
{
	int r = -EMFILE;

	pthread_mutex_lock(&heap_slots_lock);
	for (unsigned i = 0; i < GCH_MAX_HEAPS; i++) {
		if (!heap_slots[i]) {
			heap_slots[i] = h;
			h->slot = i;
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&heap_slots_lock);
	return r;
}

static void drop_slot(struct gch_heap *h)
{
	pthread_mutex_lock(&heap_slots_lock);
	heap_slots[h->slot] = NULL;
	pthread_mutex_unlock(&heap_slots_lock);
}

gch_heap *gch_open(const struct gch_options *opt)
{
	struct gch_options o;
	struct gch_heap *h;
	int r = read_options(&o, opt);

	if (r) {
		errno = -r;
		return NULL;
	}
	gch_sizeclass_init();
	h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return NULL;
	gch_lock_init(&h->lock);
	for (unsigned sc = 0; sc < GCH_NUM_SPANCLASSES; sc++) {
		gch_lock_init(&h->central[sc].lock);
		h->central[sc].spanclass = sc;
	}
	h->oom_fn = o.oom_handler;
	h->oom_arg = o.oom_arg;

	r = take_slot(h);
	if (r)
		goto err_unmap_heap;
	r = open_backend(h, &o);
	if (r)
		goto err_drop_slot;
	if (o.hard_limit_bytes) {
		r = gch_set_hard_limit(h, o.hard_limit_bytes) ? -errno : 0;
		if (r)
			goto err_close_backend;
	}
	r = gch_profile_open(h);
	if (r)
		goto err_close_backend;
	r = gc_heap_init(h, &o);	/* collector */
	if (r)
		goto err_profile;
	return h;

err_profile:
	gch_profile_destroy(h);
err_close_backend:
	h->pl->close(h);
err_drop_slot:
	drop_slot(h);
err_unmap_heap:
	munmap(h, sizeof(*h));
	errno = -r;
	return NULL;
}

int gch_close(gch_heap *h)
{
	struct gch_mcache *self = gch_tls_mcache[h->slot];
	uint32_t others;

	gch_lock(&h->lock);
	others = h->nthreads - (self != &gch_mcache_none);
	gch_unlock(&h->lock);
	if (others) {
		errno = EBUSY;
		return -1;
	}
	gch_profile_at_close(h);	/* GCHEAP_PROFILE, swept by the collector */
	gc_heap_destroy(h);		/* collector */
	gc_nopreempt_enter();
	if (self != &gch_mcache_none)
		gch_mcache_detach(h, self);
	gc_nopreempt_exit();

	h->pl->close(h);
	while (h->span_chunks) {
		struct span_chunk *ch = h->span_chunks;

		h->span_chunks = ch->next;
		for (size_t i = 0; i < ch->nspans; i++) {
			free(ch->spans[i].ptrbits);
			free(ch->spans[i].procdescr);
			gch_profile_drop_span(h, &ch->spans[i]);
		}
		munmap(ch, SPAN_CHUNK_BYTES);
	}
	gch_bits_destroy(h);
	gch_profile_destroy(h);
	drop_slot(h);
	munmap(h, sizeof(*h));
	return 0;
}

int gch_thread_attach(gch_heap *h)
{
	struct gch_mcache *c;

	gc_nopreempt_enter();		/* collector */
	c = gch_mcache_attach(h);
	gc_nopreempt_exit();
	return c ? 0 : -1;
}

int gch_thread_detach(gch_heap *h)
{
	struct gch_mcache *c = gch_tls_mcache[h->slot];
	bool anywhere = false;

	if (c != &gch_mcache_none) {
		gc_nopreempt_enter();	/* collector */
		gch_mcache_detach(h, c);
		gc_nopreempt_exit();
	}
	for (unsigned i = 0; i < GCH_MAX_HEAPS; i++)
		anywhere |= gch_tls_mcache[i] != &gch_mcache_none;
	if (!anywhere)
		gc_thread_unregister();	/* collector: outside the section */
	return 0;
}

int gch_set_hard_limit(gch_heap *h, uint64_t bytes)
{
	struct gch_limits l = {
		.size = sizeof(l),
		.flags = GCH_LIMIT_HARD,
		.hard_pages = (bytes + GCH_PAGE_SIZE - 1) >> GCH_PAGE_SHIFT,
	};
	int r;

	gc_nopreempt_enter();		/* collector: the page layer locks */
	r = h->pl->limits(h, &l);
	gc_nopreempt_exit();
	if (r) {
		errno = -r;
		return -1;
	}
	return 0;
}

void gch_set_oom_handler(gch_heap *h, gch_oom_fn fn, void *arg)
{
	gc_nopreempt_enter();		/* collector */
	gch_lock(&h->lock);
	gch_store_rlx(&h->oom_arg, arg);
	gch_store_rlx(&h->oom_fn, fn);
	gch_unlock(&h->lock);
	gc_nopreempt_exit();
}

int gch_stats(gch_heap *h, struct gch_heap_stats *st)
{
	struct gch_stats ks = { .size = sizeof(ks) };
	int r;

	memset(st, 0, sizeof(*st));
	gc_nopreempt_enter();		/* collector: no parking under h->lock */
	gch_lock(&h->lock);
	st->alloc_bytes = h->done_alloc_bytes;
	st->alloc_objects = h->done_alloc_objects;
	st->large_bytes = h->done_large_bytes;
	st->large_objects = h->done_large_objects;
	for (struct gch_mcache *c = h->caches; c; c = c->next) {
		st->alloc_bytes += gch_load(&c->alloc_bytes);
		st->alloc_objects += gch_load(&c->alloc_objects);
		st->large_bytes += gch_load(&c->large_bytes);
		st->large_objects += gch_load(&c->large_objects);
	}
	st->threads = h->nthreads;
	gch_unlock(&h->lock);
	st->span_bytes = gch_load(&h->span_bytes);
	st->spans = gch_load(&h->nspans);
	st->oom_count = gch_load(&h->oom_count);
	st->backend = h->pl->kind;

	r = h->pl->stats(h, &ks);
	gc_nopreempt_exit();
	if (r) {
		errno = -r;
		return -1;
	}
	st->arenas = ks.arenas;
	st->mapped_bytes = ks.mapped_bytes;
	st->resident_bytes = ks.resident_bytes;
	st->hard_limit_bytes = ks.hard_limit_pages << GCH_PAGE_SHIFT;
	st->limit_hits = ks.limit_hits;
	return 0;
}

const char *gch_backend_name(gch_heap *h)
{
	return h->pl->name;
}

// SPDX-License-Identifier: MIT
/*
 * The in-process page layer: the kernel's contract (uapi/linux/gcheap.h)
 * implemented inside the process, for machines without gcheap.ko.
 *
 * Same layout as the kernel backend: one 64 MiB-aligned PROT_NONE
 * reservation, arena i made read-write (mprotect) at base + i * 64 MiB when
 * it is created; a page map with GCH_PME_* entries and a span-slot array of
 * one __u64 per page (anonymous NORESERVE mappings, touched only as used).
 *
 * Allocation: address-ordered first fit over a list of maximal free runs
 * (a run goes on over the boundary between two created arenas); a new arena
 * is created when no run fits.  As with the kernel backend, a span of at
 * most an arena (GCH_MAX_SPAN_PAGES) stays inside one arena: it takes the
 * lowest place in a run that does not cross a boundary, splitting the run if
 * that place is not at its start.  A longer span, for an object over 64 MiB,
 * is the kernel's GCH_SPAN_ALLOC_CROSS: the lowest run that holds it,
 * across as many consecutive arenas as it needs (the heap grows an arena at
 * a time until the run at the top is long enough).  Freed runs coalesce with
 * their neighbours, across boundaries too.  No arena is created for a
 * request that the rest of the reservation could not hold anyway.  As in
 * the kernel, the page-map entries of a span change only inside alloc/free,
 * with single 64-bit stores, and the slots of a new span's pages are set to
 * 0.
 *
 * Zeroed flag: a byte per page records whether the page was ever part of a
 * span.  Freed pages keep their contents (as the kernel keeps them resident
 * until it scavenges), so a span is reported zeroed only if none of its pages
 * was used before.  This layer has no scavenger: soft limit and goal are
 * stored and reported but release nothing.
 *
 * Prefaulting: first touch of fresh memory costs one page fault per 4 KiB,
 * and the exception entry, not the zeroing, is most of it (~13 us on
 * virtual machines with shadow paging, so that a thread allocating small
 * objects spends most of its time faulting and two threads fault no faster
 * than one).  When a small span takes a page that was never touched, the
 * whole PREFAULT_PAGES-aligned chunk around it is populated with one
 * madvise(MADV_POPULATE_WRITE): the pages of small spans are all written
 * before the span is given up, and first fit hands out fresh pages in
 * address order, so the chunk's other pages are the next spans'.  Large
 * spans are left to fault on demand (the program may touch them sparsely).
 * The madvise runs after the lock is dropped; a thread that meanwhile writes
 * a page of the chunk just faults it itself.  Prefaulted pages are zero, so
 * they still count as never used for the zeroed flag, but they count as
 * resident.
 *
 * Locking: one mutex, hpl->lock, protects everything here.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23	/* Linux 5.14 */
#endif

#define PREFAULT_PAGES		16	/* 128 KiB; divides an arena */

/* used[] per page */
enum page_use {
	PAGE_FRESH = 0,		/* never touched: zero and not resident */
	PAGE_USED,		/* was in a span: resident, contents stale */
	PAGE_PREFAULTED,	/* resident but never in a span: still zero */
};

struct free_run {
	uint32_t start, npages;
	struct free_run *next;
};

struct host_pl {
	struct gch_lock lock;
	uint64_t *pagemap;
	uint64_t *spanslots;
	uint8_t *used;			/* enum page_use, per page */
	struct free_run *runs;		/* address-ordered */
	uint32_t narenas;
	struct gch_limits limits;
	/* used_pages: resident (not fresh); used_free_pages: resident, free */
	uint64_t span_pages, spans, used_pages, used_free_pages;
	bool prefault_off;		/* madvise refused: fault on demand */
	uint64_t alloc_calls, free_calls, spans_freed, limit_hits;
};

static struct host_pl *hpl(struct gch_heap *h)
{
	return h->pl_priv;
}

static size_t map_bytes(uint32_t max_arenas)
{
	return (size_t)max_arenas * GCH_PAGES_PER_ARENA * sizeof(uint64_t);
}

/* Create the next arena: make it accessible, add its free run at the end. */
static int new_arena(struct gch_heap *h)
{
	struct host_pl *p = hpl(h);
	struct free_run *r, **tail;
	uint32_t a = p->narenas;

	gch_assert_held(&p->lock);
	if (a >= h->max_arenas)
		return -ENOMEM;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (mprotect((void *)(h->base + ((uintptr_t)a << GCH_ARENA_SHIFT)),
		     GCH_ARENA_SIZE, PROT_READ | PROT_WRITE)) {
		free(r);
		return -ENOMEM;
	}
	r->start = a * GCH_PAGES_PER_ARENA;
	r->npages = GCH_PAGES_PER_ARENA;
	r->next = NULL;
	for (tail = &p->runs; *tail && (*tail)->next; tail = &(*tail)->next)
		;
	if (*tail && (*tail)->start + (*tail)->npages == r->start) {
		/* the top run reaches the new arena: it just grows */
		(*tail)->npages += r->npages;
		free(r);
	} else if (*tail) {
		(*tail)->next = r;
	} else {
		*tail = r;
	}
	p->narenas = a + 1;
	gch_store_rel(&h->mapped_pages,
		      (uint64_t)p->narenas * GCH_PAGES_PER_ARENA);
	return 0;
}

/*
 * Lowest page of run @r where @n pages fit, inside one arena unless @n is
 * more than an arena; UINT32_MAX if none.  A place inside one arena is the
 * run's start or, if that crosses a boundary, the boundary after it.
 */
static uint32_t run_fit(const struct free_run *r, uint32_t n)
{
	uint64_t end = (uint64_t)r->start + r->npages;
	uint32_t st = r->start;

	if (r->npages < n)
		return UINT32_MAX;
	if (n <= GCH_MAX_SPAN_PAGES &&
	    st / GCH_PAGES_PER_ARENA != (st + n - 1) / GCH_PAGES_PER_ARENA)
		st = (st / GCH_PAGES_PER_ARENA + 1) * GCH_PAGES_PER_ARENA;
	return st + (uint64_t)n <= end ? st : UINT32_MAX;
}

/*
 * First fit: carve @n pages out of the first run that holds them (see
 * run_fit()).  Carving from a run's middle splits it, using *@spare.
 */
static int take_run(struct host_pl *p, uint32_t n, uint32_t *start,
		    struct free_run **spare)
{
	for (struct free_run **rp = &p->runs; *rp; rp = &(*rp)->next) {
		struct free_run *r = *rp, *hi;
		uint32_t st = run_fit(r, n), end = r->start + r->npages;

		if (st == UINT32_MAX)
			continue;
		if (st != r->start && st + n != end) {
			if (!*spare)
				return -ENOMEM;
			hi = *spare;
			*spare = NULL;
			hi->start = st + n;
			hi->npages = end - (st + n);
			hi->next = r->next;
			r->next = hi;
		}
		*start = st;
		if (st == r->start) {
			r->start += n;
			r->npages -= n;
		} else {
			r->npages = st - r->start;
		}
		if (!r->npages) {
			*rp = r->next;
			free(r);
		}
		return 0;
	}
	return -ENOMEM;
}

/*
 * A small span is about to take fresh page @pg: mark the fresh pages of its
 * chunk prefaulted and return the chunk's first page, for prefault() to
 * populate once the lock is dropped.
 */
static uint32_t claim_chunk(struct host_pl *p, uint32_t pg)
{
	uint32_t first = pg / PREFAULT_PAGES * PREFAULT_PAGES;

	gch_assert_held(&p->lock);
	for (uint32_t i = first; i < first + PREFAULT_PAGES; i++) {
		if (p->used[i] != PAGE_FRESH)
			continue;
		p->used[i] = PAGE_PREFAULTED;
		p->used_pages++;
		p->used_free_pages++;
	}
	return first;
}

/* Populate the chunk at @first (no lock held).  Failure costs nothing but
 * the faults it would have saved. */
static void prefault(struct gch_heap *h, uint32_t first)
{
	struct host_pl *p = hpl(h);
	void *addr = (void *)(h->base + ((uintptr_t)first << GCH_PAGE_SHIFT));
	int saved = errno;

	if (madvise(addr, (size_t)PREFAULT_PAGES << GCH_PAGE_SHIFT,
		    MADV_POPULATE_WRITE) && errno == EINVAL)
		gch_store_rlx(&p->prefault_off, true);	/* kernel < 5.14 */
	errno = saved;
}

/* Pages [start, start + n) go into a span; true if all of them are zero. */
static bool take_pages(struct host_pl *p, uint32_t start, uint32_t n)
{
	bool zero = true;

	gch_assert_held(&p->lock);
	for (uint32_t i = start; i < start + n; i++) {
		if (p->used[i] == PAGE_FRESH) {
			p->used_pages++;
		} else {
			zero &= p->used[i] == PAGE_PREFAULTED;
			p->used_free_pages--;
		}
		p->used[i] = PAGE_USED;
		gch_store_rlx(&p->spanslots[i], 0);
	}
	return zero;
}

/*
 * Whether new arenas could make room for @npages: the free run at the top
 * of the created arenas (the last run, if it reaches the top) plus every
 * arena the reservation has left.  No arena is created for a request that
 * can never fit.
 */
static bool can_grow_for(struct gch_heap *h, uint32_t npages)
{
	struct host_pl *p = hpl(h);
	uint64_t top = (uint64_t)p->narenas * GCH_PAGES_PER_ARENA, free = 0;
	const struct free_run *r = p->runs;

	gch_assert_held(&p->lock);
	while (r && r->next)
		r = r->next;
	if (r && r->start + (uint64_t)r->npages == top)
		free = r->npages;
	if (npages <= GCH_MAX_SPAN_PAGES)
		return p->narenas < h->max_arenas;
	return free + (uint64_t)(h->max_arenas - p->narenas) *
		      GCH_PAGES_PER_ARENA >= npages;
}

static int host_span_alloc(struct gch_heap *h, uint32_t npages,
			   uint32_t *page, bool *zeroed)
{
	struct host_pl *p = hpl(h);
	struct free_run *spare;
	uint32_t start, chunk[2];
	unsigned nchunks = 0;
	bool zero;
	int r = 0;

	if (!npages)
		return -EINVAL;
	if (npages > (uint64_t)h->max_arenas * GCH_PAGES_PER_ARENA)
		return -ENOMEM;
	/* a run split in two needs a node: had before the lock */
	spare = malloc(sizeof(*spare));
	gch_lock(&p->lock);
	if (p->limits.hard_pages &&
	    p->span_pages + npages > p->limits.hard_pages) {
		p->limit_hits++;
		gch_unlock(&p->lock);
		free(spare);
		return -ENOMEM;
	}
	while (take_run(p, npages, &start, &spare)) {
		r = can_grow_for(h, npages) ? new_arena(h) : -ENOMEM;
		if (r) {
			gch_unlock(&p->lock);
			free(spare);
			return r;
		}
	}
	free(spare);
	/* a small span spans at most two chunks */
	if (npages <= PREFAULT_PAGES && !gch_load(&p->prefault_off)) {
		uint32_t last = start + npages - 1;

		if (p->used[start] == PAGE_FRESH)
			chunk[nchunks++] = claim_chunk(p, start);
		if (last / PREFAULT_PAGES != start / PREFAULT_PAGES &&
		    p->used[last] == PAGE_FRESH)
			chunk[nchunks++] = claim_chunk(p, last);
	}
	zero = take_pages(p, start, npages);
	for (uint32_t i = start; i < start + npages; i++)
		gch_store_rlx(&p->pagemap[i], GCH_PME_MAKE(start, npages));
	p->span_pages += npages;
	p->spans++;
	p->alloc_calls++;
	gch_unlock(&p->lock);
	for (unsigned i = 0; i < nchunks; i++)
		prefault(h, chunk[i]);
	*page = start;
	*zeroed = zero;
	return 0;
}

/* Put [start, start + n) back in the run list, merging with its neighbours
 * (in whichever arena).  Returns -ENOMEM only if a new node cannot be had. */
static int insert_run(struct host_pl *p, uint32_t start, uint32_t n)
{
	struct free_run **rp = &p->runs, *prev = NULL, *r;

	while (*rp && (*rp)->start < start) {
		prev = *rp;
		rp = &(*rp)->next;
	}
	if (prev && prev->start + prev->npages == start) {
		prev->npages += n;
		r = prev->next;
		if (r && prev->start + prev->npages == r->start) {
			prev->npages += r->npages;
			prev->next = r->next;
			free(r);
		}
		return 0;
	}
	r = *rp;
	if (r && start + n == r->start) {
		r->start = start;
		r->npages += n;
		return 0;
	}
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->start = start;
	r->npages = n;
	r->next = *rp;
	*rp = r;
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct gch_span_ref *x = a, *y = b;

	return (x->page > y->page) - (x->page < y->page);
}

/* All or nothing: every ref names an allocated span exactly, once. */
static int check_refs(struct host_pl *p, const struct gch_span_ref *refs,
		      uint32_t n)
{
	struct gch_span_ref *sorted = malloc(n * sizeof(*sorted));
	int r = 0;

	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, refs, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_ref);
	for (uint32_t i = 0; i < n && !r; i++) {
		const struct gch_span_ref *s = &sorted[i];

		if (s->page >= p->narenas * GCH_PAGES_PER_ARENA ||
		    p->pagemap[s->page] != GCH_PME_MAKE(s->page, s->npages) ||
		    (i && sorted[i - 1].page == s->page))
			r = -EINVAL;
	}
	free(sorted);
	return r;
}

static int host_span_free_batch(struct gch_heap *h,
				const struct gch_span_ref *refs, uint32_t n)
{
	struct host_pl *p = hpl(h);
	int r;

	if (!n || n > GCH_SPAN_FREE_MAX)
		return -EINVAL;
	gch_lock(&p->lock);
	r = check_refs(p, refs, n);
	for (uint32_t i = 0; i < n && !r; i++) {
		uint32_t start = refs[i].page, np = refs[i].npages;

		for (uint32_t j = start; j < start + np; j++)
			gch_store_rlx(&p->pagemap[j], 0);
		/* a node allocation failure leaks the run, never a page
		 * twice: the map already says free, first fit skips it */
		insert_run(p, start, np);
		p->span_pages -= np;
		p->used_free_pages += np;
		p->spans--;
		p->spans_freed++;
	}
	if (!r)
		p->free_calls++;
	gch_unlock(&p->lock);
	return r;
}

static int host_span_free(struct gch_heap *h, const struct gch_span_ref *refs,
			  uint32_t n)
{
	while (n) {
		uint32_t m = n < GCH_SPAN_FREE_MAX ? n : GCH_SPAN_FREE_MAX;
		int r = host_span_free_batch(h, refs, m);

		if (r)
			return r;
		refs += m;
		n -= m;
	}
	return 0;
}

static int host_limits(struct gch_heap *h, struct gch_limits *l)
{
	struct host_pl *p = hpl(h);

	if (l->flags & ~(GCH_LIMIT_HARD | GCH_LIMIT_SOFT | GCH_LIMIT_GOAL))
		return -EINVAL;
	gch_lock(&p->lock);
	if (l->flags & GCH_LIMIT_HARD)
		p->limits.hard_pages = l->hard_pages;
	if (l->flags & GCH_LIMIT_SOFT)
		p->limits.soft_bytes = l->soft_bytes;
	if (l->flags & GCH_LIMIT_GOAL)
		p->limits.goal_bytes = l->goal_bytes;
	l->hard_pages = p->limits.hard_pages;
	l->soft_bytes = p->limits.soft_bytes;
	l->goal_bytes = p->limits.goal_bytes;
	gch_unlock(&p->lock);
	return 0;
}

static int host_stats(struct gch_heap *h, struct gch_stats *st)
{
	struct host_pl *p = hpl(h);

	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	gch_lock(&p->lock);
	st->arenas = p->narenas;
	st->mapped_bytes = (uint64_t)p->narenas << GCH_ARENA_SHIFT;
	st->span_pages = p->span_pages;
	st->spans = p->spans;
	st->free_pages = (uint64_t)p->narenas * GCH_PAGES_PER_ARENA -
			 p->span_pages;
	/* upper bound: every page ever used or prefaulted counts as fully
	 * resident */
	st->resident_bytes = p->used_pages << GCH_PAGE_SHIFT;
	st->free_resident_bytes = p->used_free_pages << GCH_PAGE_SHIFT;
	st->hard_limit_pages = p->limits.hard_pages;
	st->alloc_calls = p->alloc_calls;
	st->free_calls = p->free_calls;
	st->spans_freed = p->spans_freed;
	st->limit_hits = p->limit_hits;
	st->heap_goal = p->limits.goal_bytes;
	gch_unlock(&p->lock);
	return 0;
}

static void host_close(struct gch_heap *h)
{
	struct host_pl *p = hpl(h);
	size_t mb = map_bytes(h->max_arenas);

	while (p->runs) {
		struct free_run *r = p->runs;

		p->runs = r->next;
		free(r);
	}
	munmap((void *)h->base, (size_t)h->max_arenas << GCH_ARENA_SHIFT);
	munmap(p->pagemap, mb);
	munmap(p->spanslots, mb);
	munmap(p->used, (size_t)h->max_arenas * GCH_PAGES_PER_ARENA);
	free(p);
	h->pl_priv = NULL;
}

static const struct gch_pagelayer host_ops = {
	.name = "host",
	.kind = GCH_BACKEND_HOST,
	.span_alloc = host_span_alloc,
	.span_free = host_span_free,
	.limits = host_limits,
	.stats = host_stats,
	.close = host_close,
};

static void *map_anon(size_t len)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

int gch_pl_host_open(struct gch_heap *h, const struct gch_options *o)
{
	struct host_pl *p = calloc(1, sizeof(*p));
	size_t mb;
	int r;

	if (!p)
		return -ENOMEM;
	gch_lock_init(&p->lock);
	h->max_arenas = o->max_arenas && o->max_arenas < GCH_MAX_ARENAS ?
			o->max_arenas : GCH_MAX_ARENAS;
	mb = map_bytes(h->max_arenas);
	p->pagemap = map_anon(mb);
	p->spanslots = map_anon(mb);
	p->used = map_anon((size_t)h->max_arenas * GCH_PAGES_PER_ARENA);
	h->base = gch_reserve_arenas(h->max_arenas);
	if (!p->pagemap || !p->spanslots || !p->used || !h->base)
		goto err_unmap;
	h->pagemap = p->pagemap;
	h->spanslots = p->spanslots;
	h->pl = &host_ops;
	h->pl_priv = p;
	h->backend = GCH_BACKEND_HOST;

	gch_lock(&p->lock);
	r = new_arena(h);
	gch_unlock(&p->lock);
	if (r)
		goto err_unmap;
	return 0;

err_unmap:
	if (h->base)
		munmap((void *)h->base,
		       (size_t)h->max_arenas << GCH_ARENA_SHIFT);
	if (p->pagemap)
		munmap(p->pagemap, mb);
	if (p->spanslots)
		munmap(p->spanslots, mb);
	if (p->used)
		munmap(p->used, (size_t)h->max_arenas * GCH_PAGES_PER_ARENA);
	free(p);
	h->base = 0;
	h->pl_priv = NULL;
	return -ENOMEM;
}

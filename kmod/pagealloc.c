// SPDX-License-Identifier: GPL-2.0
/*
 * The page allocator: spans of contiguous heap pages, address-ordered first
 * fit, coalescing for free, O(log heap) per call plus O(span length) for the
 * span's own page-map entries.
 *
 * Structure
 * ---------
 * Per arena, a bitmap used[] with one bit per heap page (set: in a span) and
 * an implicit segment tree tree[] over its 128 64-bit words.  Node k (root 1,
 * children 2k and 2k+1, leaves GCH_WORDS_PER_ARENA + word) summarises its
 * block by the free run at its low end (pre), at its high end (suf) and the
 * longest free run inside (max), the summary Go's page allocator keeps in its
 * radix tree.  Over the arenas, heap->arena_tree[] is a max-tree of the
 * arenas' longest free runs (0 for arenas not created), and
 * heap->arena_sum[] the same pre/suf/max summary one level up, with arenas
 * as leaves (an arena not created is a leaf of all-used pages), for spans
 * across arenas.
 *
 * First fit descends the arena tree to the lowest arena whose longest run
 * fits, then that arena's tree to the lowest run that fits: at each node the
 * left child if its max fits, else the run crossing the middle (left.suf +
 * right.pre) if it fits, else the right child.  Without
 * GCH_SPAN_ALLOC_CROSS a span never crosses an arena, matching the uAPI.
 *
 * Spans across arenas (GCH_SPAN_ALLOC_CROSS): first fit descends
 * heap->arena_sum[] the same way, with blocks of arenas instead of words: a
 * run crossing the middle of a block is the left half's suffix plus the
 * right half's prefix, so runs over any number of consecutive created arenas
 * are found in O(log arenas); at a leaf the run lies inside one arena and
 * that arena's tree finds it.  The span is then claimed arena by arena: each
 * piece is an ordinary range of its arena's bitmap, page map and span slots,
 * every page getting the one entry GCH_PME_MAKE(first, npages), so
 * userspace finds the head of the span from any page in O(1) and the rest of
 * the module (faults, residency, memcg, the scavenger's per-arena walk of
 * free runs, the shrinker, stats) never needs to know that a span crossed a
 * boundary: to all of them it is a set of per-arena ranges.  Free is the
 * same in reverse, and coalescing across a boundary comes from the summaries
 * as inside an arena.  The summaries use u32: a run may be the whole heap.
 *
 * Allocation and free set or clear bits and then
 * recompute only the leaves they touched and the nodes above them, level by
 * level, so coalescing costs nothing extra: free runs are implicit in the
 * bitmap and the summaries merge neighbours automatically.
 *
 * Batched allocation (GCH_SPAN_ALLOC_BATCH) is the single allocation in a
 * loop under one lock hold (gch_span_take()), so each span of a batch is
 * exactly the span a call of its own would have got at that moment; only a
 * limit refusal of the first span counts as one (see the uAPI).
 *
 * Free is batched and all-or-nothing: the batch is sorted by page, checked
 * for duplicates and validated against the page map (each entry must be the
 * head of a live span with exactly that length) before anything changes.
 *
 * Locking: heap->lock (one mutex per heap) protects all of it; callers pass
 * kernel copies of user data, since no user copy may happen under the lock.
 */
#include <linux/bitmap.h>
#include <linux/sort.h>
#include <linux/minmax.h>
#include "gcheap_priv.h"
#include "gcheap_trace.h"

#define GCH_LEAF0	GCH_WORDS_PER_ARENA

static struct gch_sum gch_word_sum(unsigned long used)
{
	unsigned long free = ~used;
	struct gch_sum s;
	u16 run = 0;

	if (!used)
		return (struct gch_sum){ BITS_PER_LONG, BITS_PER_LONG,
					 BITS_PER_LONG };
	s.pre = __ffs(used);
	s.suf = BITS_PER_LONG - 1 - __fls(used);
	/* each step shortens every run of ones by one */
	while (free) {
		free &= free >> 1;
		run++;
	}
	s.max = run;
	return s;
}

static struct gch_sum gch_sum_join(struct gch_sum l, struct gch_sum r,
				   u16 half)
{
	struct gch_sum s;

	s.pre = l.pre == half ? half + r.pre : l.pre;
	s.suf = r.suf == half ? half + l.suf : r.suf;
	s.max = max3(l.max, r.max, (u16)(l.suf + r.pre));
	return s;
}

/* Lowest bit index starting @n clear bits in @used; @n fits by the caller. */
static unsigned int gch_word_find(unsigned long used, unsigned int n)
{
	unsigned long free = ~used, rest;
	unsigned int pos = 0, start, len;

	while (pos < BITS_PER_LONG) {
		rest = free >> pos;
		if (!rest)
			break;
		start = pos + __ffs(rest);
		rest = ~(free >> start);
		len = rest ? __ffs(rest) : BITS_PER_LONG - start;
		if (len >= n)
			return start;
		pos = start + len;
	}
	WARN_ON_ONCE(1);	/* the tree said this word fits */
	return 0;
}

static struct gch_hsum gch_hsum_join(struct gch_hsum l, struct gch_hsum r,
				     u32 half)
{
	struct gch_hsum s;

	s.pre = l.pre == half ? half + r.pre : l.pre;
	s.suf = r.suf == half ? half + l.suf : r.suf;
	s.max = max3(l.max, r.max, l.suf + r.pre);
	return s;
}

static void gch_arena_tree_update(struct gch_heap *heap,
				  struct gch_arena *arena)
{
	unsigned int k = GCH_MAX_ARENAS + arena->index;
	struct gch_hsum *hs = heap->arena_sum;
	u32 half = GCH_PAGES_PER_ARENA;

	lockdep_assert_held(&heap->lock);
	heap->arena_tree[k] = arena->tree[1].max;
	hs[k] = (struct gch_hsum){ arena->tree[1].pre, arena->tree[1].suf,
				   arena->tree[1].max };
	for (k >>= 1; k; k >>= 1) {
		heap->arena_tree[k] = max(heap->arena_tree[2 * k],
					  heap->arena_tree[2 * k + 1]);
		hs[k] = gch_hsum_join(hs[2 * k], hs[2 * k + 1], half);
		half <<= 1;
	}
}

/* Recompute the summaries above words [lo, hi] of @arena. */
static void gch_tree_update(struct gch_heap *heap, struct gch_arena *arena,
			    unsigned int lo, unsigned int hi)
{
	struct gch_sum *t = arena->tree;
	unsigned int k, half = BITS_PER_LONG;

	lockdep_assert_held(&heap->lock);
	for (k = lo; k <= hi; k++)
		t[GCH_LEAF0 + k] = gch_word_sum(arena->used[k]);
	lo += GCH_LEAF0;
	hi += GCH_LEAF0;
	while (lo > 1) {
		lo >>= 1;
		hi >>= 1;
		for (k = lo; k <= hi; k++)
			t[k] = gch_sum_join(t[2 * k], t[2 * k + 1], half);
		half <<= 1;
	}
	gch_arena_tree_update(heap, arena);
}

void gch_pagealloc_arena_init(struct gch_heap *heap, struct gch_arena *arena)
{
	bitmap_zero(arena->used, GCH_PAGES_PER_ARENA);
	gch_tree_update(heap, arena, 0, GCH_WORDS_PER_ARENA - 1);
}

/* Lowest page of @arena starting a free run of @n pages; tree[1] fits. */
static u32 gch_arena_find(struct gch_arena *arena, u32 n)
{
	const struct gch_sum *t = arena->tree;
	unsigned int k = 1, half = GCH_PAGES_PER_ARENA / 2;
	u32 base = 0;

	while (k < GCH_LEAF0) {
		const struct gch_sum *l = &t[2 * k], *r = &t[2 * k + 1];

		/* a run crossing the middle starts before anything in r */
		if (l->max < n && l->suf + r->pre >= n)
			return base + half - l->suf;
		if (l->max >= n) {
			k = 2 * k;
		} else {
			k = 2 * k + 1;
			base += half;
		}
		half >>= 1;
	}
	return base + gch_word_find(arena->used[k - GCH_LEAF0], n);
}

/* Lowest created arena with a free run of @n pages, or NULL. */
static struct gch_arena *gch_find_arena(struct gch_heap *heap, u32 n)
{
	unsigned int k = 1;

	lockdep_assert_held(&heap->lock);
	if (heap->arena_tree[1] < n)
		return NULL;
	while (k < GCH_MAX_ARENAS)
		k = heap->arena_tree[2 * k] >= n ? 2 * k : 2 * k + 1;
	return heap->arenas[k - GCH_MAX_ARENAS];
}

/*
 * Lowest heap page starting a free run of @n pages read across arena
 * boundaries (GCH_SPAN_ALLOC_CROSS), or U64_MAX.
 */
static u64 gch_cross_find(struct gch_heap *heap, u32 n)
{
	const struct gch_hsum *t = heap->arena_sum;
	u64 half = GCH_MAX_PAGES / 2, base = 0;
	unsigned int k = 1;

	lockdep_assert_held(&heap->lock);
	if (t[1].max < n)
		return U64_MAX;
	while (k < GCH_MAX_ARENAS) {
		const struct gch_hsum *l = &t[2 * k], *r = &t[2 * k + 1];

		/* as in gch_arena_find(): a left run starts lowest */
		if (l->max >= n) {
			k = 2 * k;
		} else if (l->suf + r->pre >= n) {
			return base + half - l->suf;
		} else {
			k = 2 * k + 1;
			base += half;
		}
		half >>= 1;
	}
	/* a leaf that fits is a created arena with the run inside it */
	return base + gch_arena_find(heap->arenas[k - GCH_MAX_ARENAS], n);
}

static void gch_mark(struct gch_heap *heap, struct gch_arena *arena, u32 first,
		     u32 n, bool used)
{
	if (used)
		bitmap_set(arena->used, first, n);
	else
		bitmap_clear(arena->used, first, n);
	gch_tree_update(heap, arena, first / BITS_PER_LONG,
			(first + n - 1) / BITS_PER_LONG);
}

/*
 * Claim heap pages [first, first + n), free and in created arenas, for the
 * span @entry, arena by arena; returns how many system pages back them.
 */
static unsigned long gch_range_claim(struct gch_heap *heap, u64 first, u32 n,
				     u64 entry)
{
	unsigned long nres = 0;
	struct gch_arena *arena;
	u32 idx, len;

	lockdep_assert_held(&heap->lock);
	for (;;) {
		arena = heap->arenas[first / GCH_PAGES_PER_ARENA];
		idx = first % GCH_PAGES_PER_ARENA;
		len = min_t(u32, n, GCH_PAGES_PER_ARENA - idx);
		gch_mark(heap, arena, idx, len, true);
		gch_slots_clear(arena, idx, len);
		nres += gch_span_publish(heap, arena, idx, len, entry);
		first += len;
		n -= len;
		if (!n)
			return nres;
		/* an arena's worth of entries per step: let others run */
		cond_resched();
	}
}

/* Give the pages of a validated span back to their arenas' free pools. */
static void gch_range_put(struct gch_heap *heap, u64 first, u32 n)
{
	struct gch_arena *arena;
	u32 idx, len;

	lockdep_assert_held(&heap->lock);
	for (;;) {
		arena = heap->arenas[first / GCH_PAGES_PER_ARENA];
		idx = first % GCH_PAGES_PER_ARENA;
		len = min_t(u32, n, GCH_PAGES_PER_ARENA - idx);
		gch_span_publish(heap, arena, idx, len, 0);
		gch_mark(heap, arena, idx, len, false);
		first += len;
		n -= len;
		if (!n)
			return;
		cond_resched();
	}
}

/* Refuse an allocation by a limit: counted, traced, nothing changes. */
static int gch_limit_hit(struct gch_heap *heap, u32 npages, bool total)
{
	heap->limit_hits++;
	trace_gcheap_limit_hit(heap, npages, heap->span_pages,
			       total ? READ_ONCE(gch_max_total_pages) :
				       heap->hard_pages, total);
	return -ENOMEM;
}

/* Lowest fit for @npages, inside one arena unless @cross; U64_MAX: none. */
static u64 gch_find(struct gch_heap *heap, u32 npages, bool cross)
{
	struct gch_arena *arena;

	if (cross)
		return gch_cross_find(heap, npages);
	arena = gch_find_arena(heap, npages);
	if (!arena)
		return U64_MAX;
	return (u64)arena->index * GCH_PAGES_PER_ARENA +
	       gch_arena_find(arena, npages);
}

/*
 * One span under heap->lock: the limits, first fit, the claim and the
 * counters.  A limit refusal is counted (limit_hits, traced) only if
 * @refusal: a batch that stops at a limit after its first span was not
 * refused (see GCH_SPAN_ALLOC_BATCH in the uAPI).
 */
static int gch_span_take(struct gch_heap *heap, u32 npages, bool cross,
			 bool refusal, u64 *page, bool *zeroed)
{
	u64 first;

	lockdep_assert_held(&heap->lock);
	if (heap->hard_pages && heap->span_pages + npages > heap->hard_pages) {
		if (refusal)
			gch_limit_hit(heap, npages, false);
		return -ENOMEM;
	}
	if (atomic_long_add_return(npages, &gch_total_span_pages) >
	    READ_ONCE(gch_max_total_pages)) {
		if (refusal)
			gch_limit_hit(heap, npages, true);
		goto err_unreserve;
	}
	first = gch_find(heap, npages, cross);
	if (first == U64_MAX)
		goto err_unreserve;

	*zeroed = !gch_range_claim(heap, first, npages,
				   GCH_PME_MAKE(first, npages));
	*page = first;
	heap->span_pages += npages;
	heap->spans++;
	heap->alloc_calls++;
	return 0;

err_unreserve:
	atomic_long_sub(npages, &gch_total_span_pages);
	return -ENOMEM;
}

int gch_span_alloc(struct gch_heap *heap, u32 npages, bool cross, u64 *page,
		   bool *zeroed)
{
	int err;

	mutex_lock(&heap->lock);
	err = gch_span_take(heap, npages, cross, true, page, zeroed);
	mutex_unlock(&heap->lock);
	if (!err)
		trace_gcheap_span_alloc(heap, *page, npages, *zeroed);
	return err;
}

/*
 * GCH_SPAN_ALLOC_BATCH: up to @count spans of @npages (a small span: no
 * crossing), each allocated as gch_span_alloc() would, one after the other
 * under one hold of heap->lock so that the batch costs one lock round trip.
 * Fills @out[0..n) and returns n >= 1, or -ENOMEM if not even the first
 * span fits; a limit or the arenas running out later only ends the batch.
 */
int gch_spans_alloc(struct gch_heap *heap, u32 npages, u32 count,
		    struct gch_span_out *out)
{
	bool zeroed;
	u32 n, i;

	mutex_lock(&heap->lock);
	for (n = 0; n < count; n++) {
		if (gch_span_take(heap, npages, false, n == 0, &out[n].page,
				  &zeroed))
			break;
		out[n].out_flags = zeroed ? GCH_SPAN_ZEROED : 0;
		out[n].reserved = 0;
	}
	mutex_unlock(&heap->lock);
	/* traced outside the lock, as a single allocation is */
	for (i = 0; i < n; i++)
		trace_gcheap_span_alloc(heap, out[i].page, npages,
					out[i].out_flags & GCH_SPAN_ZEROED);
	return n ? n : -ENOMEM;
}

static int gch_ref_cmp(const void *a, const void *b)
{
	const struct gch_span_ref *x = a, *y = b;

	return x->page < y->page ? -1 : x->page > y->page;
}

/*
 * The arena holding the head of span @ref if @ref names a live span exactly,
 * or NULL.  The head's entry says the span's length, so a matching entry is
 * a live span with all its pages, in whichever arenas, allocated.
 */
static struct gch_arena *gch_span_lookup(struct gch_heap *heap,
					 const struct gch_span_ref *ref)
{
	struct gch_arena *arena;
	u32 idx = ref->page % GCH_PAGES_PER_ARENA;

	lockdep_assert_held(&heap->lock);
	if (ref->page >= GCH_MAX_PAGES || !ref->npages)
		return NULL;
	arena = heap->arenas[ref->page / GCH_PAGES_PER_ARENA];
	if (!arena)
		return NULL;
	if (READ_ONCE(arena->pagemap[idx]) !=
	    GCH_PME_MAKE(ref->page, ref->npages))
		return NULL;
	return arena;
}

/* Return span @ref's pages to the free pool; it was validated. */
static void gch_span_put(struct gch_heap *heap, const struct gch_span_ref *ref)
{
	lockdep_assert_held(&heap->lock);
	gch_range_put(heap, ref->page, ref->npages);
	heap->span_pages -= ref->npages;
	heap->spans--;
	atomic_long_sub(ref->npages, &gch_total_span_pages);
}

int gch_spans_free(struct gch_heap *heap, struct gch_span_ref *refs,
		   u32 count)
{
	u64 pages = 0;
	u32 i;

	sort(refs, count, sizeof(*refs), gch_ref_cmp, NULL);
	mutex_lock(&heap->lock);
	for (i = 0; i < count; i++) {
		if ((i && refs[i].page == refs[i - 1].page) ||
		    !gch_span_lookup(heap, &refs[i])) {
			mutex_unlock(&heap->lock);
			return -EINVAL;
		}
	}
	for (i = 0; i < count; i++) {
		gch_span_put(heap, &refs[i]);
		pages += refs[i].npages;
	}
	heap->free_calls++;
	heap->spans_freed += count;
	mutex_unlock(&heap->lock);
	trace_gcheap_spans_free(heap, count, pages);
	return 0;
}

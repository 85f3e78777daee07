// SPDX-License-Identifier: MIT
/*
 * Span metadata: which slots of a span are free, through Go's alloc bits and
 * a 64-slot window (Go's allocCache) that the fast path consumes.
 *
 * Invariants (slot i of a small span)
 *  - i < win_index: allocated.
 *  - win_index <= i < win_index + 64: free iff bit i - win_index of cache.
 *  - i >= win_index + 64: free iff bit i of allocbits is clear.
 *  - nalloc counts allocated slots, except those taken from the current
 *    window since it was opened (win_free - popcount(cache) of them); it is
 *    brought up to date whenever the window closes (refill or uncache).
 *  - allocbits only change when the collector sweeps (mark bits become alloc
 *    bits and win_index goes back to the first window with a free slot, past
 *    the end when there is none); until then a fresh span's alloc bits are
 *    all zero and its windows simply walk the span.
 *  - needzero: free slots may hold stale bytes (the page layer did not say
 *    zeroed, or the sweeper freed objects).  Such slots are cleared when
 *    their window opens, on the slow path, so the fast path never zeroes.
 *  - typedbits: slot i was allocated with a pointer layout, recorded in
 *    ptrbits (one bit per 8-byte word of the span).  The sweeper clears the
 *    typed bits of freed slots.  A typed slot whose words have no bit set
 *    is scanned by a procedure instead: procdescr[i] holds its descriptor
 *    (libgc.so.1's custom kinds; gc/mark.c calls the hook).
 *
 * Concurrency: the span's owner (an mcache, or the mcentral under its lock)
 * writes the window.  Readers on other threads (gch_base) use
 * gch_span_slot_allocated(), which re-reads win_index to detect a window
 * move: the owner stores win_index before it publishes the new cache with a
 * release store.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct gch_span gch_span_empty;
uintptr_t gch_black_lo, gch_black_hi;
uint64_t gch_black_bytes;

/* Free bits of the 64 slots from @idx (a multiple of 64). */
static uint64_t window_bits(const struct gch_span *s, uint32_t idx)
{
	uint64_t w = ~s->allocbits[idx / 64];
	uint32_t left = s->nelems - idx;

	if (left < 64)
		w &= (1ULL << left) - 1;
	return w;
}

static void zero_free_slots(struct gch_span *s, uintptr_t addr, uint64_t w)
{
	while (w) {
		unsigned i = (unsigned)__builtin_ctzll(w);
		uint64_t rest = ~(w >> i);
		unsigned run = rest ? (unsigned)__builtin_ctzll(rest) : 64 - i;

		/* clear a run of adjacent free slots with one memset */
		memset((void *)(addr + i * s->elemsize), 0, run * s->elemsize);
		w = i + run >= 64 ? 0 : w & ~((1ULL << (i + run)) - 1);
	}
}

static void open_window(struct gch_span *s, uint32_t idx, uint64_t w)
{
	uintptr_t addr = s->base + (uintptr_t)idx * s->elemsize;

	if (s->needzero && w)
		zero_free_slots(s, addr, w);
	gch_store_rlx(&s->win_index, idx);
	s->win_addr = addr;
	s->win_free = (uint32_t)gch_popcount64(w);
	s->black_from = w;
	gch_store_rel(&s->cache, w);
}

/*
 * Allocate black: mark the slots taken from the window since its owner got
 * it.  Marking beside the program needs every object allocated meanwhile
 * marked, or sweeping would free it; marking them here, once per window,
 * keeps the allocation fast path unchanged.  Only slots taken while the
 * collector marks: every cache is emptied in the pause that starts the
 * cycle, and black_from is reset when a span enters a cache.
 */
static void blacken_window(struct gch_span *s)
{
	uint64_t taken = s->black_from & ~gch_load(&s->cache), old;

	s->black_from = gch_load(&s->cache);
	if (!taken || s->base < gch_black_lo || s->base >= gch_black_hi)
		return;
	old = __atomic_fetch_or(&s->markbits[s->win_index / 64], taken,
				__ATOMIC_RELAXED);
	/* a marker may have found some of them first: count each once */
	gch_add(&gch_black_bytes,
		(uint64_t)gch_popcount64(taken & ~old) * s->elemsize);
}

void gch_span_init(struct gch_span *s, unsigned spanclass, uint32_t page,
		   uint32_t npages, uintptr_t base, bool zeroed)
{
	const struct gch_class *cl = &gch_classes[spanclass >> 1];

	s->spanclass = (uint8_t)spanclass;
	s->state = GCH_SPAN_INUSE;
	s->incache = 0;
	s->base = base;
	s->page = page;
	s->npages = npages;
	s->nalloc = 0;
	s->next = NULL;
	s->ptrbits = NULL;
	s->procdescr = NULL;
	if (cl->size) {
		s->elemsize = cl->size;
		s->nelems = cl->nelems;
		s->divmul = cl->divmul;
	} else {
		/* large object: one slot covering the span; index always 0 */
		s->elemsize = (uintptr_t)npages << GCH_PAGE_SHIFT;
		s->nelems = 1;
		s->divmul = 0;
	}
	assert(s->bitmem && s->bitwords == (s->nelems + 63) / 64);
	s->allocbits = s->bitmem;
	s->markbits = s->bitmem + s->bitwords;
	s->typedbits = s->bitmem + 2 * s->bitwords;
	memset(s->bitmem, 0, 3 * s->bitwords * sizeof(uint64_t));
	/* A small span zeroes per window when it must; a large object is
	 * handed out whole and large.c clears it if needzero. */
	s->needzero = cl->size ? !zeroed : 0;
	open_window(s, 0, window_bits(s, 0));
	s->needzero = !zeroed;
}

/*
 * Open the first window from slot @idx (a multiple of 64) that has a free
 * slot, or an empty one past the end when none has; its free slots.
 */
static uint32_t open_first_window(struct gch_span *s, uint32_t idx)
{
	uint64_t w = 0;

	for (; idx < s->nelems; idx += 64) {
		w = window_bits(s, idx);
		if (w)
			break;
	}
	open_window(s, idx, w);
	return s->win_free;
}

/*
 * Start handing out slots from the beginning again: the sweeper calls this
 * after swapping mark bits into alloc bits and recounting nalloc.  The
 * window opens at the first 64 slots with a free one, past the end when
 * the span is full, not at slot 0: every slot below the window is then
 * allocated by the first invariant, which is what a marker asks first
 * (gch_span_slot_allocated).  A span that survives a cycle whole -- a
 * long-lived tree's, the common case for the spans a mark visits -- is so
 * answered from the span's first cache line, without its alloc bits'
 * line: marking a binary tree of 16-byte nodes took 6-10% less time per
 * node and binary-trees 10% less CPU (bench/gc-results.md).
 */
void gch_span_rewind(struct gch_span *s)
{
	open_first_window(s, 0);
}

uint32_t gch_span_close_window(struct gch_span *s)
{
	uint32_t left = (uint32_t)gch_popcount64(s->cache);

	if (unlikely(gch_load(&gch_black_hi)))
		blacken_window(s);

	s->nalloc += s->win_free - left;
	s->win_free = left;
	return left;
}

/*
 * The window is used up: account it and open the next one that has a free
 * slot.  Returns the free slots of the new window, 0 when the span is full.
 */
uint32_t gch_span_next_window(struct gch_span *s)
{
	gch_span_close_window(s);
	return open_first_window(s, s->win_index + 64);
}

/* The typed bit of @obj's slot and its words in ptrbits (see below). */
static int set_layout(struct gch_span *s, uintptr_t obj,
		      const uint64_t *ptrmap, size_t nwords)
{
	uint32_t idx = gch_span_index(s, obj);
	size_t w0 = (obj - s->base) / 8, objwords = s->elemsize / 8;

	uint64_t *bits = s->ptrbits;

	if (!bits) {
		size_t words = ((size_t)s->npages << GCH_PAGE_SHIFT) / 8 / 64;

		bits = calloc(words, sizeof(uint64_t));
		if (!bits)
			return -ENOMEM;
		/* a concurrent marker reads it (mark.c): publish it whole */
		gch_store_rel(&s->ptrbits, bits);
	}
	/*
	 * Only the owner writes these words, but a marker may be reading a
	 * neighbour's bits in the same word meanwhile: relaxed atomics, one
	 * word at a time.
	 */
	for (size_t j = 0, k = 0; j < objwords; j++) {
		size_t bit = w0 + j;
		uint64_t m = 1ULL << (bit % 64), v = gch_load(&bits[bit / 64]);

		if ((ptrmap[k / 64] >> (k % 64)) & 1)
			v |= m;
		else
			v &= ~m;
		gch_store_rlx(&bits[bit / 64], v);
		if (++k == nwords)
			k = 0;
	}
	gch_store_rel(&s->typedbits[idx / 64],
		      gch_load(&s->typedbits[idx / 64]) | 1ULL << (idx % 64));
	return 0;
}

/*
 * Record the pointer layout of the object at @obj: typed bit of its slot,
 * and its words in ptrbits (the @nwords pattern repeated over the slot).
 * Called by the span's owner right after allocating the slot.
 */
int gch_span_set_ptrbits(struct gch_span *s, uintptr_t obj,
			 const uint64_t *ptrmap, size_t nwords)
{
	if (s->procdescr)	/* a procedure's object may have been here */
		gch_store_rlx(&s->procdescr[gch_span_index(s, obj)], 0);
	return set_layout(s, obj, ptrmap, nwords);
}

/*
 * Make the object at @obj one the collector scans by calling its scan
 * hook with @descr (non-zero): a typed slot with no pointer word.  The
 * descriptor is stored before set_layout publishes the typed bit
 * (release), so a marker that sees the bit sees the descriptor.  Called
 * by the span's owner right after allocating the slot.
 */
int gch_span_set_proc(struct gch_span *s, uintptr_t obj, uint64_t descr)
{
	static const uint64_t no_pointers;
	uint64_t *d = s->procdescr;

	if (!d) {
		d = calloc(s->nelems, sizeof(*d));
		if (!d)
			return -ENOMEM;
		gch_store_rel(&s->procdescr, d);
	}
	gch_store_rlx(&d[gch_span_index(s, obj)], descr);
	return set_layout(s, obj, &no_pointers, 1);
}

// SPDX-License-Identifier: MIT
/*
 * The page layer under the allocator, through the internal API, on whichever
 * backend the heap got: page-map entries and span slots of new spans, the
 * zeroed flag, batched frees (more than one kernel batch), all-or-nothing
 * refusal of bad frees, address-ordered first fit with coalescing, and the
 * allocator clearing recycled (not zeroed) memory.
 */
#include "internal.h"
#include "harness.h"

static gch_heap *h;

static void check_span_map(struct gch_span *s)
{
	for (uint32_t i = 0; i < s->npages; i++)
		EXPECTF(h->pagemap[s->page + i] ==
			GCH_PME_MAKE(s->page, s->npages), "page %u",
			s->page + i);
	EXPECT(gch_span_of(h, s->base) == s);
	EXPECT(gch_span_of(h, s->base + s->npages * GCH_PAGE_SIZE - 1) == s);
}

static void t_new_release(void)
{
	struct gch_span *s = gch_span_new(h, gch_spanclass(0, 1), 3);
	uint32_t page;

	EXPECT(s);
	if (!s)
		return;
	check_span_map(s);
	EXPECT(s->base == h->base + ((uintptr_t)s->page << GCH_PAGE_SHIFT));
	memset((void *)s->base, 0xa5, 3 * GCH_PAGE_SIZE);
	page = s->page;
	gch_span_release(h, &s, 1);
	EXPECT(h->pagemap[page] == 0 && h->spanslots[page] == 0);
	EXPECT(gch_span_of(h, h->base + ((uintptr_t)page << GCH_PAGE_SHIFT))
	       == NULL);
}

/* Thousands of one-page spans freed in one call: the kernel's batch limit
 * is GCH_SPAN_FREE_MAX, so this takes two ioctls. */
static void t_batch_free_coalesce(void)
{
	enum { N = GCH_SPAN_FREE_MAX + 904 };
	static struct gch_span *spans[N];
	struct gch_span *big;
	int ok = 1;

	for (int i = 0; i < N && ok; i++) {
		spans[i] = gch_span_new(h, gch_spanclass(0, 1), 1);
		ok = spans[i] != NULL;
	}
	EXPECT(ok);
	if (!ok)
		return;
	gch_span_release(h, spans, N);
	for (int i = 0; i < N; i++)
		ok &= h->pagemap[spans[i]->page] == 0;
	EXPECT(ok);
	/* everything in arena 0 is free again and coalesced: a whole-arena
	 * span lands at page 0 by first fit */
	big = gch_span_new(h, gch_spanclass(0, 1), GCH_PAGES_PER_ARENA);
	EXPECT(big && big->page == 0);
	if (big)
		gch_span_release(h, &big, 1);
}

static void t_bad_free(void)
{
	struct gch_span *a = gch_span_new(h, gch_spanclass(0, 1), 2);
	struct gch_span_ref refs[2];

	EXPECT(a);
	if (!a)
		return;
	refs[0].page = a->page;
	refs[0].npages = 2;
	refs[1] = refs[0];
	EXPECT(h->pl->span_free(h, refs, 2) == -EINVAL);	/* twice */
	refs[0].npages = 1;
	EXPECT(h->pl->span_free(h, refs, 1) == -EINVAL);	/* wrong length */
	refs[0].page = a->page + 1;
	refs[0].npages = 1;
	EXPECT(h->pl->span_free(h, refs, 1) == -EINVAL);	/* not first */
	check_span_map(a);					/* untouched */
	{
		uint32_t page;
		bool z;

		EXPECT(h->pl->span_alloc(h, 0, &page, &z) == -EINVAL);
		/* longer than the heap's address space: spans may cross
		 * arenas (huge_test), but not go past the last one */
		EXPECT(h->pl->span_alloc(h, h->max_arenas * GCH_PAGES_PER_ARENA
					 + 1, &page, &z) == -ENOMEM);
	}
	gch_span_release(h, &a, 1);
}

/* A span rebuilt on dirty pages must hand out zeroed slots anyway. */
static void t_recycled_zeroing(void)
{
	struct gch_span *s = gch_span_new(h, gch_spanclass(4, 0), 1); /* 32 B */
	uint32_t page;
	int ok = 1;

	EXPECT(s);
	if (!s)
		return;
	page = s->page;
	memset((void *)s->base, 0x5a, GCH_PAGE_SIZE);
	gch_span_release(h, &s, 1);
	/* spans the kernel layer stashed would come first, fresh: give them
	 * back so that first fit hands out the page just released */
	gch_pl_trim(h);
	s = gch_span_new(h, gch_spanclass(4, 0), 1);
	EXPECT(s && s->page == page);
	if (!s)
		return;
	/* walk every window as the mcache would; each opened window's free
	 * slots must read zero */
	do {
		uint64_t w = s->cache;

		while (w) {
			unsigned i = (unsigned)__builtin_ctzll(w);
			const unsigned char *o = (const unsigned char *)
				(s->win_addr + i * s->elemsize);

			for (unsigned j = 0; j < s->elemsize; j++)
				ok &= o[j] == 0;
			w &= w - 1;
		}
		gch_store_rlx(&s->cache, 0);
	} while (gch_span_next_window(s));
	EXPECT(ok);
	EXPECT(s->nalloc == s->nelems);
	gch_span_release(h, &s, 1);
}

static void t_fresh_zeroed(void)
{
	gch_heap *fresh = open_heap(0);
	struct gch_span *s = gch_span_new(fresh, gch_spanclass(0, 1), 4);

	/* pages never used before: the layer says zeroed */
	EXPECT(s && !s->needzero);
	if (s)
		gch_span_release(fresh, &s, 1);
	EXPECT(gch_close(fresh) == 0);
}

int main(void)
{
	static const struct tcase cases[] = {
		{ "new span: page map entries, span slot, release clears", t_new_release },
		{ "batched free of 5000 spans, then first fit at page 0", t_batch_free_coalesce },
		{ "bad frees refused all-or-nothing, bad lengths EINVAL", t_bad_free },
		{ "recycled pages are cleared window by window", t_recycled_zeroing },
		{ "fresh pages come zeroed", t_fresh_zeroed },
	};
	int r;

	h = open_heap(0);
	printf("# backend %s\n", gch_backend_name(h));
	r = RUN("pagelayer", cases);
	gch_close(h);
	return r;
}

// SPDX-License-Identifier: MIT
/*
 * pagealloc_test: the kernel's span allocator.
 *
 * Directed tests pin down address-ordered first fit, coalescing, the arena
 * boundary and every refused free.  The model test then drives 100k random
 * operations and compares each answer, the stats and the page map with a
 * userspace model of first fit.
 *
 * The model keeps, per page, the page-map entry the kernel should publish
 * (so the page map can be compared word for word) and a sorted array of free
 * runs, split at arena boundaries, for first fit.  It starts with arenas 0
 * and 2 and creates arena 1 halfway, so first fit must also skip a gap in
 * the row of arenas and later fill it.  The free-run array stays
 * short (hundreds of runs), so a linear first-fit scan and memmove on insert
 * are cheap enough under TCG.
 */
#include "gch_test.h"

#define NARENAS 4

FIXTURE(pa) {
	int fd;
	char *base;
	volatile const __u64 *pm;
};

FIXTURE_SETUP(pa)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(NARENAS);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	self->pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, self->pm) TH_LOG("pagemap: %s", strerror(errno));
}

FIXTURE_TEARDOWN(pa)
{
	gch_heap_teardown(self->fd, self->base, NARENAS, self->pm, NULL);
}

static __u64 A(int fd, __u32 n)
{
	__u64 page = ~0ULL;

	if (gch_alloc(fd, n, &page, NULL))
		return ~0ULL;
	return page;
}

TEST_F(pa, first_fit_address_order)
{
	ASSERT_EQ(0, A(self->fd, 1));
	ASSERT_EQ(1, A(self->fd, 1));
	ASSERT_EQ(2, A(self->fd, 3));
	ASSERT_EQ(5, A(self->fd, 8));
	ASSERT_EQ(13, A(self->fd, 1));
	/* hole of 1 at page 1 */
	ASSERT_EQ(0, gch_free1(self->fd, 1, 1));
	ASSERT_EQ(14, A(self->fd, 2));		/* too small: skipped */
	ASSERT_EQ(1, A(self->fd, 1));		/* exact fit: taken */
	/* hole of 8 at page 5: a 3 goes in its low end, then a 5 fills it */
	ASSERT_EQ(0, gch_free1(self->fd, 5, 8));
	ASSERT_EQ(5, A(self->fd, 3));
	ASSERT_EQ(8, A(self->fd, 5));
	ASSERT_EQ(16, A(self->fd, 1));
}

TEST_F(pa, lowest_hole_wins)
{
	/* holes at 10 (len 4) and 2 (len 4): a 4 goes to 2, the next to 10 */
	for (int i = 0; i < 20; i++) {
		ASSERT_EQ((__u64)i, A(self->fd, 1));
	}
	for (int p = 10; p < 14; p++) {
		ASSERT_EQ(0, gch_free1(self->fd, p, 1));
	}
	for (int p = 2; p < 6; p++) {
		ASSERT_EQ(0, gch_free1(self->fd, p, 1));
	}
	ASSERT_EQ(2, A(self->fd, 4));
	ASSERT_EQ(10, A(self->fd, 4));
	ASSERT_EQ(20, A(self->fd, 4));
}

static void check_free_run(struct __test_metadata *_metadata, int fd,
			   __u64 start, __u32 len)
{
	/* the lowest free run that holds @len pages starts at @start */
	ASSERT_EQ(start, A(fd, len));
	ASSERT_EQ(0, gch_free1(fd, start, len));
}

TEST_F(pa, coalescing)
{
	struct gch_span_ref refs[3];
	struct gch_stats st;

	/* A B C D at 0, 4, 8, 12; D keeps the tail from joining */
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ((__u64)i * 4, A(self->fd, 4));
	}
	/* free left then right then middle */
	ASSERT_EQ(0, gch_free1(self->fd, 0, 4));
	ASSERT_EQ(0, gch_free1(self->fd, 8, 4));
	ASSERT_EQ(0, gch_free1(self->fd, 4, 4));
	check_free_run(_metadata, self->fd, 0, 12);
	/* middle first then the neighbours, in one batch */
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ((__u64)i * 4, A(self->fd, 4));
	}
	refs[0] = (struct gch_span_ref){ 4, 4 };
	refs[1] = (struct gch_span_ref){ 8, 4 };
	refs[2] = (struct gch_span_ref){ 0, 4 };
	ASSERT_EQ(0, gch_free(self->fd, refs, 3));
	check_free_run(_metadata, self->fd, 0, 12);
	/* free the last span: everything joins into one arena-sized run */
	ASSERT_EQ(0, gch_free1(self->fd, 12, 4));
	check_free_run(_metadata, self->fd, 0, GCH_PAGES_PER_ARENA);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.spans);
	EXPECT_EQ(0, st.span_pages);
	EXPECT_EQ(GCH_PAGES_PER_ARENA, st.free_pages);
}

TEST_F(pa, coalesce_1_page_spans_by_batch)
{
	static struct gch_span_ref refs[GCH_SPAN_FREE_MAX];
	struct gch_stats st;

	for (__u32 i = 0; i < GCH_SPAN_FREE_MAX; i++) {
		ASSERT_EQ(i, A(self->fd, 1));
		/* freed in a scrambled order */
		refs[(i * 7) % GCH_SPAN_FREE_MAX] = (struct gch_span_ref){ i, 1 };
	}
	ASSERT_EQ(0, gch_free(self->fd, refs, GCH_SPAN_FREE_MAX));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.spans);
	EXPECT_EQ(GCH_SPAN_FREE_MAX, st.spans_freed);
	EXPECT_EQ(1, st.free_calls);
	EXPECT_EQ(GCH_SPAN_FREE_MAX, st.alloc_calls);
	check_free_run(_metadata, self->fd, 0, GCH_PAGES_PER_ARENA);
}

TEST_F(pa, spans_never_cross_arenas)
{
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
	ASSERT_EQ(0, A(self->fd, GCH_PAGES_PER_ARENA - 2));
	/* 2 pages left at the end of arena 0 */
	ASSERT_EQ(GCH_PAGES_PER_ARENA, A(self->fd, 4));
	ASSERT_EQ(GCH_PAGES_PER_ARENA - 2, A(self->fd, 2));
	ASSERT_EQ(GCH_PAGES_PER_ARENA + 4, A(self->fd, 1));
	/* a whole arena only fits in a whole empty arena */
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, NULL, NULL));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 2));
	ASSERT_EQ(2ULL * GCH_PAGES_PER_ARENA, A(self->fd, GCH_PAGES_PER_ARENA));
}

TEST_F(pa, enomem_then_new_arena)
{
	struct gch_stats before, after;

	ASSERT_EQ(0, A(self->fd, GCH_PAGES_PER_ARENA));
	ASSERT_EQ(0, gch_stats(self->fd, &before));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 1, NULL, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &after));
	EXPECT_HEAP_UNCHANGED(&before, &after);
	EXPECT_EQ(0, after.limit_hits) TH_LOG("no room is not a limit hit");
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
	EXPECT_EQ(GCH_PAGES_PER_ARENA, A(self->fd, 1));
}

TEST_F(pa, arenas_out_of_order)
{
	/* arena 3 exists before 1 and 2: first fit goes 0, then 3 */
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 3));
	ASSERT_EQ(0, A(self->fd, GCH_PAGES_PER_ARENA));
	ASSERT_EQ(3ULL * GCH_PAGES_PER_ARENA, A(self->fd, 16));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
	ASSERT_EQ(1ULL * GCH_PAGES_PER_ARENA, A(self->fd, 16));
	/* freeing into an uncreated arena is refused */
	EXPECT_EQ(-EINVAL, gch_free1(self->fd, 2ULL * GCH_PAGES_PER_ARENA, 1));
}

/* Each bad free: -EINVAL, and stats and page map exactly as before. */
static void bad_free(struct __test_metadata *_metadata,
		     FIXTURE_DATA(pa) *self, const struct gch_span_ref *refs,
		     __u32 count, const char *what)
{
	struct gch_stats before, after;
	static __u64 snap[64];

	ASSERT_EQ(0, gch_stats(self->fd, &before));
	for (int i = 0; i < 64; i++)
		snap[i] = self->pm[i];
	EXPECT_EQ(-EINVAL, gch_free(self->fd, refs, count)) TH_LOG("%s", what);
	ASSERT_EQ(0, gch_stats(self->fd, &after));
	EXPECT_HEAP_UNCHANGED(&before, &after);
	for (int i = 0; i < 64; i++) {
		EXPECT_EQ(snap[i], self->pm[i]) TH_LOG("%s: page %d", what, i);
	}
}

TEST_F(pa, bad_frees_einval)
{
	struct gch_span_ref r[4];

	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
	ASSERT_EQ(0, A(self->fd, 4));		/* S0 = 0..3 */
	ASSERT_EQ(4, A(self->fd, 4));		/* S1 = 4..7 */
	ASSERT_EQ(8, A(self->fd, 1));		/* freed below */
	ASSERT_EQ(0, gch_free1(self->fd, 8, 1));

#define BAD(what, n, ...) do {						\
		struct gch_span_ref tmp[] = { __VA_ARGS__ };		\
		memcpy(r, tmp, sizeof(tmp));				\
		bad_free(_metadata, self, r, n, what);			\
	} while (0)

	BAD("double free", 1, { 8, 1 });
	BAD("never allocated", 1, { 100, 1 });
	BAD("never allocated, other arena", 1, { GCH_PAGES_PER_ARENA, 1 });
	BAD("length too short", 1, { 0, 3 });
	BAD("length too long", 1, { 0, 5 });
	BAD("length covering two spans", 1, { 0, 8 });
	BAD("interior start", 1, { 1, 3 });
	BAD("interior start, right end", 1, { 2, 2 });
	BAD("zero length", 1, { 0, 0 });
	BAD("duplicate in batch", 2, { 0, 4 }, { 0, 4 });
	BAD("duplicate, not adjacent", 3, { 0, 4 }, { 4, 4 }, { 0, 4 });
	BAD("one bad entry spoils the batch", 2, { 0, 4 }, { 8, 1 });
	BAD("bad entry first", 2, { 9, 1 }, { 4, 4 });
	BAD("overlapping entries", 2, { 0, 4 }, { 2, 2 });
	BAD("crossing the arena end", 1, { GCH_PAGES_PER_ARENA - 2, 4 });
	BAD("uncreated arena", 1, { 3 * GCH_PAGES_PER_ARENA, 1 });
	BAD("past the last arena", 1, { GCH_MAX_PAGES, 1 });
	BAD("huge page number", 1, { ~0U, 1 });
	BAD("length wraps around", 1, { 1, ~0U });
	BAD("length past max span", 1, { 0, GCH_MAX_SPAN_PAGES + 1 });
#undef BAD
	/* and the two spans are still there, once */
	r[0] = (struct gch_span_ref){ 0, 4 };
	r[1] = (struct gch_span_ref){ 4, 4 };
	EXPECT_EQ(0, gch_free(self->fd, r, 2));
	check_free_run(_metadata, self->fd, 0, GCH_PAGES_PER_ARENA);
}

TEST_F(pa, absurd_counts_einval)
{
	static struct gch_span_ref refs[GCH_SPAN_FREE_MAX + 1];

	for (__u32 i = 0; i <= GCH_SPAN_FREE_MAX; i++) {
		ASSERT_EQ(i, A(self->fd, 1));
		refs[i] = (struct gch_span_ref){ i, 1 };
	}
	bad_free(_metadata, self, refs, 0, "count 0");
	bad_free(_metadata, self, refs, GCH_SPAN_FREE_MAX + 1, "count max+1");
	bad_free(_metadata, self, refs, ~0U, "count ~0");
	bad_free(_metadata, self, refs, 1U << 31, "count 2^31");
	EXPECT_EQ(0, gch_free(self->fd, refs, GCH_SPAN_FREE_MAX));
	EXPECT_EQ(0, gch_free(self->fd, refs + GCH_SPAN_FREE_MAX, 1));
}

/* ---------------------------------------------------------------- model */

#define M_ARENAS 3		/* arena 1 is created halfway through */
#define M_PAGES (M_ARENAS * GCH_PAGES_PER_ARENA)
#define M_OPS 100000
#define M_MAXLIVE 2048

struct run { __u32 start, len; };

struct model {
	__u64 pme[M_PAGES];		/* expected page-map entry per page */
	struct run runs[M_PAGES];	/* free runs, sorted, split at arenas */
	__u32 nruns;
	struct gch_span_ref live[M_MAXLIVE];
	__u32 nlive;
	bool created[M_ARENAS];
	__u32 narenas;
	__u64 span_pages, alloc_calls, free_calls, spans_freed;
	__u64 enomem, poisoned;		/* for the summary line */
};

/* A new arena is one free run of its own: runs never join across arenas. */
static void model_add_arena(struct model *m, __u32 a)
{
	__u32 start = a * GCH_PAGES_PER_ARENA, i = 0;

	while (i < m->nruns && m->runs[i].start < start)
		i++;
	memmove(&m->runs[i + 1], &m->runs[i], (m->nruns - i) * sizeof(m->runs[0]));
	m->runs[i] = (struct run){ start, GCH_PAGES_PER_ARENA };
	m->nruns++;
	m->created[a] = true;
	m->narenas++;
}

/* First fit; returns the page or ~0 when nothing fits. */
static __u32 model_alloc(struct model *m, __u32 n)
{
	for (__u32 i = 0; i < m->nruns; i++) {
		struct run *r = &m->runs[i];
		__u32 start = r->start;

		if (r->len < n)
			continue;
		r->start += n;
		r->len -= n;
		if (!r->len) {
			memmove(r, r + 1, (m->nruns - i - 1) * sizeof(*r));
			m->nruns--;
		}
		for (__u32 p = start; p < start + n; p++)
			m->pme[p] = GCH_PME_MAKE(start, n);
		m->span_pages += n;
		m->alloc_calls++;
		return start;
	}
	return ~0U;
}

static bool same_arena(__u32 a, __u32 b)
{
	return a / GCH_PAGES_PER_ARENA == b / GCH_PAGES_PER_ARENA;
}

static void model_free_one(struct model *m, __u32 start, __u32 n)
{
	__u32 lo = 0, hi = m->nruns, i;
	struct run *r;

	for (__u32 p = start; p < start + n; p++)
		m->pme[p] = 0;
	m->span_pages -= n;
	m->spans_freed++;
	while (lo < hi) {		/* first run after start */
		__u32 mid = (lo + hi) / 2;

		if (m->runs[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	i = lo;
	/* join the left neighbour? */
	if (i > 0 && m->runs[i - 1].start + m->runs[i - 1].len == start &&
	    same_arena(m->runs[i - 1].start, start)) {
		r = &m->runs[i - 1];
		r->len += n;
		if (i < m->nruns && r->start + r->len == m->runs[i].start &&
		    same_arena(r->start, m->runs[i].start)) {
			r->len += m->runs[i].len;
			memmove(&m->runs[i], &m->runs[i + 1],
				(m->nruns - i - 1) * sizeof(*r));
			m->nruns--;
		}
		return;
	}
	if (i < m->nruns && start + n == m->runs[i].start &&
	    same_arena(start, m->runs[i].start)) {
		m->runs[i].start = start;
		m->runs[i].len += n;
		return;
	}
	memmove(&m->runs[i + 1], &m->runs[i], (m->nruns - i) * sizeof(*r));
	m->runs[i] = (struct run){ start, n };
	m->nruns++;
}

static __u32 model_free_pages(const struct model *m)
{
	__u32 sum = 0;

	for (__u32 i = 0; i < m->nruns; i++)
		sum += m->runs[i].len;
	return sum;
}

static __u32 pick_npages(__u64 *rs)
{
	__u32 r = rnd_range(rs, 0, 999);

	if (r < 650)
		return rnd_range(rs, 1, 4);
	if (r < 900)
		return rnd_range(rs, 5, 64);
	if (r < 995)
		return rnd_range(rs, 65, 1024);
	return rnd_range(rs, 1025, GCH_PAGES_PER_ARENA);
}

static void check_stats(struct __test_metadata *_metadata, int fd,
			const struct model *m, int op)
{
	struct gch_stats st;

	ASSERT_EQ(0, gch_stats(fd, &st));
	ASSERT_EQ(m->nlive, st.spans) TH_LOG("op %d", op);
	ASSERT_EQ(m->span_pages, st.span_pages) TH_LOG("op %d", op);
	ASSERT_EQ(model_free_pages(m), st.free_pages) TH_LOG("op %d", op);
	ASSERT_EQ(m->alloc_calls, st.alloc_calls) TH_LOG("op %d", op);
	ASSERT_EQ(m->free_calls, st.free_calls) TH_LOG("op %d", op);
	ASSERT_EQ(m->spans_freed, st.spans_freed) TH_LOG("op %d", op);
	ASSERT_EQ(m->narenas, st.arenas);
}

static void check_pagemap(struct __test_metadata *_metadata,
			  volatile const __u64 *pm, const struct model *m, int op)
{
	for (__u32 p = 0; p < M_PAGES; p++) {
		if (!m->created[p / GCH_PAGES_PER_ARENA])
			continue;	/* its page-map entries would SIGBUS */
		if (pm[p] != m->pme[p]) {
			ASSERT_EQ(m->pme[p], pm[p])
				TH_LOG("op %d: page map entry of page %u", op, p);
		}
	}
}

/* Free 1..8 random live spans in one call, sometimes with a poisoned entry. */
static void model_step_free(struct __test_metadata *_metadata, int fd,
			    struct model *m, __u64 *rs, int op)
{
	struct gch_span_ref refs[9];
	__u32 count = rnd_range(rs, 0, 3) ? 1 :
		      rnd_range(rs, 1, m->nlive < 8 ? m->nlive : 8);
	bool poison = rnd_range(rs, 0, 49) == 0;

	/* pick @count distinct live spans by moving them to the end */
	for (__u32 i = 0; i < count; i++) {
		__u32 j = rnd_range(rs, 0, m->nlive - 1 - i);
		struct gch_span_ref t = m->live[j];

		m->live[j] = m->live[m->nlive - 1 - i];
		m->live[m->nlive - 1 - i] = t;
		refs[i] = t;
	}
	if (poison) {
		/* a duplicate, or a wrong length: the whole batch must fail */
		refs[count] = refs[rnd_range(rs, 0, count - 1)];
		if (rnd_range(rs, 0, 1))
			refs[count].npages++;
		ASSERT_EQ(-EINVAL, gch_free(fd, refs, count + 1))
			TH_LOG("op %d: poisoned batch of %u", op, count + 1);
		m->poisoned++;
		return;
	}
	ASSERT_EQ(0, gch_free(fd, refs, count)) TH_LOG("op %d", op);
	for (__u32 i = 0; i < count; i++)
		model_free_one(m, refs[i].page, refs[i].npages);
	m->nlive -= count;
	m->free_calls++;
}

static void model_step_alloc(struct __test_metadata *_metadata, int fd,
			     struct model *m, __u64 *rs, int op)
{
	__u32 n = pick_npages(rs);
	__u32 want = model_alloc(m, n);
	__u64 page = ~0ULL;
	int ret = gch_alloc(fd, n, &page, NULL);

	if (want == ~0U) {
		m->enomem++;
		ASSERT_EQ(-ENOMEM, ret) TH_LOG("op %d: %u pages, model: no fit", op, n);
		return;
	}
	ASSERT_EQ(0, ret) TH_LOG("op %d: %u pages, model: page %u", op, n, want);
	ASSERT_EQ(want, page) TH_LOG("op %d: %u pages", op, n);
	m->live[m->nlive++] = (struct gch_span_ref){ want, n };
}

TEST_F_TIMEOUT(pa, random_model_100k, 300)
{
	static struct model m;
	__u64 seed = gch_seed(), rs = seed | 1;

	TH_LOG("seed %#llx (rerun with GCH_SEED=%#llx)",
	       (unsigned long long)seed, (unsigned long long)seed);
	memset(&m, 0, sizeof(m));
	model_add_arena(&m, 0);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 2));
	model_add_arena(&m, 2);
	for (int op = 0; op < M_OPS; op++) {
		if (op == M_OPS / 2) {
			/* a hole in the row of arenas gets filled */
			ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
			model_add_arena(&m, 1);
		}
		/*
		 * Alternate between filling the heap until first fit runs out
		 * of room (-ENOMEM, fragmentation) and draining it to a few
		 * dozen spans.  Frees average 2 spans a call, so 80% allocs
		 * grow the heap and 50% shrink it.
		 */
		__u32 target = (op / 5000) % 2 ? 48 : M_MAXLIVE - 64;
		bool do_alloc = m.nlive == 0 ||
			(m.nlive < M_MAXLIVE - 1 &&
			 rnd_range(&rs, 0, 99) < (m.nlive < target ? 80 : 50));

		if (do_alloc)
			model_step_alloc(_metadata, self->fd, &m, &rs, op);
		else
			model_step_free(_metadata, self->fd, &m, &rs, op);
		if ((op & 63) == 0)
			check_stats(_metadata, self->fd, &m, op);
		if (op % 10000 == 0)
			check_pagemap(_metadata, self->pm, &m, op);
	}
	check_stats(_metadata, self->fd, &m, M_OPS);
	check_pagemap(_metadata, self->pm, &m, M_OPS);
	TH_LOG("%llu allocs, %llu frees in %llu calls, %llu -ENOMEM, %llu poisoned batches, %u free runs",
	       (unsigned long long)m.alloc_calls,
	       (unsigned long long)m.spans_freed,
	       (unsigned long long)m.free_calls,
	       (unsigned long long)m.enomem, (unsigned long long)m.poisoned,
	       m.nruns);
	/* free everything: every arena must be whole again */
	while (m.nlive)
		model_step_free(_metadata, self->fd, &m, &rs, M_OPS);
	check_stats(_metadata, self->fd, &m, M_OPS);
	for (__u32 a = 0; a < M_ARENAS; a++) {
		ASSERT_EQ((__u64)a * GCH_PAGES_PER_ARENA,
			  A(self->fd, GCH_PAGES_PER_ARENA));
	}
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * cross_test: spans across arenas (GCH_SPAN_ALLOC_CROSS,
 * GCH_FEAT_CROSS_SPANS), the page allocator's contract for objects larger
 * than an arena.
 *
 *  - flags: the flag is the only new input; without it nothing changed (a
 *    span longer than an arena is still -EINVAL, spans stay in one arena);
 *    with it lengths up to GCH_MAX_CROSS_SPAN_PAGES; other bits -EINVAL.
 *  - first fit across a boundary: the lowest free run, read across the
 *    boundary between two created arenas, is taken, even for a short span.
 *  - the page map: every page of a span over three arenas holds the head and
 *    length; neighbours are untouched; the span slots of its pages are 0.
 *  - free and coalescing: a crossing span is freed by its head and length
 *    only; its pages coalesce across the boundaries with what is free around
 *    them, up to a span of the whole heap.
 *  - a gap: an arena that does not exist ends every run.
 *  - GCH_SPAN_ZEROED, GCH_IOC_SCAVENGE, the background scavenger and the
 *    shrinker on the free memory of such a span, with the stats balance
 *    (resident == faulted - released) after each.
 *  - the hard limit: refused before anything changes, counted.
 *  - populating: a small span that crosses a boundary is not populated.
 */
#include "gch_test.h"
#include "scav_test.h"

#define NARENAS		4	/* 256 MiB of address space */
#define PPA		GCH_PAGES_PER_ARENA

FIXTURE(cx) {
	int fd;
	char *base;
	volatile const __u64 *pm;
	__u64 *slots;
	long spg;
	struct scav_params saved;
};

FIXTURE_SETUP(cx)
{
	self->spg = sysconf(_SC_PAGESIZE);
	self->pm = NULL;
	self->slots = NULL;
	self->base = MAP_FAILED;
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	if (!gch_has_feature(self->fd, GCH_FEAT_CROSS_SPANS))
		SKIP(return, "module without GCH_FEAT_CROSS_SPANS");
	ASSERT_EQ(0, scav_params_save(&self->saved));
	self->base = gch_reserve(NARENAS);
	ASSERT_NE(MAP_FAILED, self->base);
	self->pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, self->pm);
	self->slots = gch_map_slots(self->fd);
	ASSERT_NE(NULL, self->slots);
}

FIXTURE_TEARDOWN(cx)
{
	if (self->base != MAP_FAILED)
		scav_params_restore(&self->saved);
	gch_heap_teardown(self->fd, self->base, NARENAS, self->pm, self->slots);
}

static int xalloc(int fd, __u32 flags, __u32 npages, __u64 *page,
		  __u32 *out_flags)
{
	struct gch_span_alloc a = {
		.size = sizeof(a), .flags = flags, .npages = npages,
	};
	int ret = gch_ioctl(fd, GCH_IOC_SPAN_ALLOC, &a);

	if (!ret) {
		*page = a.page;
		if (out_flags)
			*out_flags = a.out_flags;
	}
	return ret;
}

#define CROSS	GCH_SPAN_ALLOC_CROSS

/* Pages [first, first + n) all hold @entry; returns the first that does not. */
static long map_differs(volatile const __u64 *pm, __u64 first, __u64 n,
			__u64 entry)
{
	for (__u64 p = first; p < first + n; p++)
		if (pm[p] != entry)
			return (long)p;
	return -1;
}

TEST_F(cx, flags_and_sizes)
{
	struct gch_span_alloc a = { .size = sizeof(a) };
	struct gch_version v;
	struct gch_stats st;
	__u64 page;

	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, gch_version(self->fd, &v));
	EXPECT_EQ(GCH_MAX_SPAN_PAGES, v.max_span_pages);
	EXPECT_EQ(-EINVAL, xalloc(self->fd, 0, PPA + 1, &page, NULL));
	EXPECT_EQ(-EINVAL, xalloc(self->fd, CROSS, 0, &page, NULL));
	EXPECT_EQ(-EINVAL, xalloc(self->fd, CROSS, GCH_MAX_CROSS_SPAN_PAGES + 1,
				  &page, NULL));
	EXPECT_EQ(-EINVAL, xalloc(self->fd, CROSS, 1U << 31, &page, NULL));
	EXPECT_EQ(-EINVAL, xalloc(self->fd, 2, 1, &page, NULL));
	EXPECT_EQ(-EINVAL, xalloc(self->fd, CROSS | 2, 1, &page, NULL));
	EXPECT_EQ(-EINVAL, xalloc(self->fd, 1U << 31, 1, &page, NULL));
	a.flags = CROSS;
	a.npages = 1;
	a.reserved = 1;
	EXPECT_EQ(-EINVAL, gch_ioctl(self->fd, GCH_IOC_SPAN_ALLOC, &a));
	/* one arena cannot hold more than an arena, crossing or not */
	EXPECT_EQ(-ENOMEM, xalloc(self->fd, CROSS, PPA + 1, &page, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.alloc_calls);
	EXPECT_EQ(0, st.span_pages);
	EXPECT_EQ(0, st.limit_hits);
	/* the whole arena with the flag, then nothing is left */
	ASSERT_EQ(0, xalloc(self->fd, CROSS, PPA, &page, NULL));
	EXPECT_EQ(0, page);
	EXPECT_EQ(0, gch_free1(self->fd, page, PPA));
}

TEST_F(cx, first_fit_across_boundary)
{
	__u64 a, b, c, d;
	char *p;

	for (unsigned int i = 0; i < 3; i++)
		ASSERT_EQ(0, gch_map_arena(self->fd, self->base, i));
	ASSERT_EQ(0, xalloc(self->fd, 0, PPA - 10, &a, NULL));
	ASSERT_EQ(0, a);
	/* without the flag: the next arena, as always */
	ASSERT_EQ(0, xalloc(self->fd, 0, 20, &b, NULL));
	EXPECT_EQ(PPA, b);
	ASSERT_EQ(0, gch_free1(self->fd, b, 20));
	/* with it: the run over the boundary, which starts lower */
	ASSERT_EQ(0, xalloc(self->fd, CROSS, 20, &c, NULL));
	EXPECT_EQ(PPA - 10, c);
	EXPECT_EQ(-1, map_differs(self->pm, c, 20, GCH_PME_MAKE(c, 20)));
	EXPECT_EQ(GCH_PME_MAKE(0, PPA - 10), self->pm[PPA - 11]);
	EXPECT_EQ(0, self->pm[PPA + 10]);
	for (__u64 i = c; i < c + 20; i++)
		EXPECT_EQ(0, self->slots[i]);
	/* the next lowest place follows it */
	ASSERT_EQ(0, xalloc(self->fd, CROSS, 5, &d, NULL));
	EXPECT_EQ(PPA + 10, d);
	/* one flat span in memory: write over the boundary, read it back */
	p = gch_page_addr(self->base, c);
	pattern_fill(p, 20 * GCH_PAGE_SIZE, c);
	EXPECT_EQ(-1, pattern_check(p, 20 * GCH_PAGE_SIZE, c));
	ASSERT_EQ(0, xalloc(self->fd, 0, 10, &b, NULL));
	EXPECT_EQ(PPA + 15, b);
	/* the span slots of the head are userspace's, the kernel keeps off */
	self->slots[c] = 0x1234;
	EXPECT_EQ(0, gch_free1(self->fd, c, 20));
	EXPECT_EQ(0, self->pm[PPA - 1]);
	EXPECT_EQ(0, self->pm[PPA]);
}

TEST_F(cx, three_arenas_map_free_coalesce)
{
	const __u32 n = 2 * PPA + 100;
	struct gch_span_ref bad;
	struct gch_stats st;
	__u64 one, big, whole;
	char *p;

	for (unsigned int i = 0; i < NARENAS; i++)
		ASSERT_EQ(0, gch_map_arena(self->fd, self->base, i));
	ASSERT_EQ(0, xalloc(self->fd, 0, 1, &one, NULL));
	ASSERT_EQ(0, one);
	ASSERT_EQ(0, xalloc(self->fd, CROSS, n, &big, NULL));
	ASSERT_EQ(1, big);
	EXPECT_EQ(-1, map_differs(self->pm, big, n, GCH_PME_MAKE(big, n)));
	EXPECT_EQ(GCH_PME_MAKE(0, 1), self->pm[0]);
	EXPECT_EQ(0, self->pm[big + n]);
	/* O(1) from any page: the entry names the head and the length */
	EXPECT_EQ(big, GCH_PME_START(self->pm[2 * PPA + 7]));
	EXPECT_EQ(n, GCH_PME_NPAGES(self->pm[PPA]));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(n + 1, st.span_pages);
	EXPECT_EQ(2, st.spans);
	EXPECT_EQ((__u64)NARENAS * PPA - n - 1, st.free_pages);
	/* one flat object: its ends and both sides of each boundary */
	p = gch_page_addr(self->base, big);
	p[0] = 1;
	p[(size_t)n * GCH_PAGE_SIZE - 1] = 3;
	for (unsigned int a = 1; a < 3; a++) {
		char *b = self->base + (size_t)a * GCH_ARENA_SIZE;

		b[-1] = 2;
		b[0] = 2;
	}
	EXPECT_EQ(2, p[(size_t)(PPA - 1) * GCH_PAGE_SIZE - 1]);

	/* freed only by its head and exact length */
	bad = (struct gch_span_ref){ (__u32)big, n - 1 };
	EXPECT_EQ(-EINVAL, gch_free(self->fd, &bad, 1));
	bad = (struct gch_span_ref){ PPA, n - (PPA - 1) };
	EXPECT_EQ(-EINVAL, gch_free(self->fd, &bad, 1));
	bad = (struct gch_span_ref){ PPA, n };
	EXPECT_EQ(-EINVAL, gch_free(self->fd, &bad, 1));
	EXPECT_EQ(-1, map_differs(self->pm, big, n, GCH_PME_MAKE(big, n)));
	ASSERT_EQ(0, gch_free1(self->fd, big, n));
	EXPECT_EQ(-1, map_differs(self->pm, big, n, 0));
	EXPECT_EQ(-EINVAL, gch_free1(self->fd, big, n));	/* twice */
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(1, st.span_pages);
	EXPECT_EQ(1, st.spans);

	/* coalesced over both boundaries and up to the top */
	ASSERT_EQ(0, xalloc(self->fd, CROSS, NARENAS * PPA - 1, &whole, NULL));
	EXPECT_EQ(1, whole);
	ASSERT_EQ(0, gch_free1(self->fd, whole, NARENAS * PPA - 1));
	ASSERT_EQ(0, gch_free1(self->fd, one, 1));
	ASSERT_EQ(0, xalloc(self->fd, CROSS, NARENAS * PPA, &whole, NULL));
	EXPECT_EQ(0, whole);
	EXPECT_EQ(GCH_PME_MAKE(0, NARENAS * PPA),
		  self->pm[NARENAS * PPA - 1]);
	EXPECT_EQ(-ENOMEM, xalloc(self->fd, CROSS, 1, &one, NULL));
	ASSERT_EQ(0, gch_free1(self->fd, whole, NARENAS * PPA));
	EXPECT_EQ(-ENOMEM, xalloc(self->fd, CROSS, NARENAS * PPA + 1, &one,
				  NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.limit_hits);
	EXPECT_EQ(0, st.span_pages);
}

TEST_F(cx, missing_arena_ends_runs)
{
	__u64 page;

	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 2));
	EXPECT_EQ(-ENOMEM, xalloc(self->fd, CROSS, PPA + 1, &page, NULL));
	ASSERT_EQ(0, xalloc(self->fd, 0, PPA / 2, &page, NULL));
	EXPECT_EQ(0, page);
	/* the top half of arena 0 and arena 2 are not one run */
	ASSERT_EQ(0, xalloc(self->fd, CROSS, PPA / 2 + 1, &page, NULL));
	EXPECT_EQ(2 * PPA, page);
	ASSERT_EQ(0, gch_free1(self->fd, page, PPA / 2 + 1));
	/* arena 1 joins them */
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
	ASSERT_EQ(0, xalloc(self->fd, CROSS, 2 * PPA + PPA / 2, &page, NULL));
	EXPECT_EQ(PPA / 2, page);
	EXPECT_EQ(GCH_PME_MAKE(PPA / 2, 2 * PPA + PPA / 2),
		  self->pm[3 * PPA - 1]);
}

TEST_F(cx, zeroed_and_scavenge_ioctl)
{
	const __u32 n = 2 * PPA;
	__u64 page, rel = 0;
	struct gch_stats st;
	__u32 of = 0;
	char *p;

	for (unsigned int i = 0; i < 3; i++)
		ASSERT_EQ(0, gch_map_arena(self->fd, self->base, i));
	/* the background scavenger keeps it all: only the ioctl releases */
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, 16384ULL << 20));
	ASSERT_EQ(0, xalloc(self->fd, CROSS, n, &page, &of));
	ASSERT_EQ(0, page);
	EXPECT_EQ(GCH_SPAN_ZEROED, of);
	/* one system page in the second arena's part */
	p = gch_page_addr(self->base, PPA + 5);
	p[100] = 7;
	ASSERT_EQ(0, gch_free1(self->fd, page, n));
	ASSERT_EQ(0, xalloc(self->fd, CROSS, n, &page, &of));
	EXPECT_EQ(0, page);
	EXPECT_EQ(0, of) TH_LOG("a touched page anywhere: not zeroed");
	/* touch all of it: 128 MiB, resident */
	touch(gch_page_addr(self->base, 0), (size_t)n * GCH_PAGE_SIZE,
	      self->spg, 1);
	ASSERT_EQ(0, gch_free1(self->fd, page, n));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ((__u64)n * GCH_PAGE_SIZE, st.free_resident_bytes);
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, &rel));
	EXPECT_EQ((__u64)n * GCH_PAGE_SIZE, rel);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.resident_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
	ASSERT_EQ(0, xalloc(self->fd, CROSS, n, &page, &of));
	EXPECT_EQ(0, page);
	EXPECT_EQ(GCH_SPAN_ZEROED, of);
	EXPECT_EQ(0, p[100]);
	EXPECT_TRUE(span_zero(gch_page_addr(self->base, PPA - 1),
			      2 * GCH_PAGE_SIZE));
}

/* A touched, freed span over two arenas, with goal @goal. */
static void free_touched(struct __test_metadata *_metadata,
			 FIXTURE_DATA(cx) *self, __u64 goal, __u32 n)
{
	__u64 page;

	for (unsigned int i = 0; i < 3; i++)
		ASSERT_EQ(0, gch_map_arena(self->fd, self->base, i));
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, goal));
	ASSERT_EQ(0, xalloc(self->fd, CROSS, n, &page, NULL));
	touch(gch_page_addr(self->base, page), (size_t)n * GCH_PAGE_SIZE,
	      self->spg, 1);
	ASSERT_EQ(0, gch_free1(self->fd, page, n));
}

TEST_F_TIMEOUT(cx, background_scavenger, 180)
{
	const __u32 n = PPA + PPA / 2;	/* 96 MiB over two arenas */
	struct gch_stats st;
	double t0;

	/* unpaced: this is about reaching the pages, not the pace */
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "100"));
	free_touched(_metadata, self, 1 << 20, n);
	t0 = now_s();
	for (;;) {
		ASSERT_EQ(0, gch_stats(self->fd, &st));
		if (st.free_resident_bytes <= budget_of(&st, 1 << 20) ||
		    now_s() - t0 > 150)
			break;
		sleep_ms(50);
	}
	TH_LOG("free resident %llu after %.1f s, released %llu",
	       (unsigned long long)st.free_resident_bytes, now_s() - t0,
	       (unsigned long long)st.released_bg_bytes);
	EXPECT_LE(st.free_resident_bytes, budget_of(&st, 1 << 20));
	EXPECT_LE((__u64)n * GCH_PAGE_SIZE - budget_of(&st, 1 << 20),
		  st.released_bg_bytes + st.released_eager_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
}

TEST_F_TIMEOUT(cx, shrinker, 120)
{
	const __u32 n = PPA + PPA / 2;
	struct gch_stats st;

	if (!gch_has_feature(self->fd, GCH_FEAT_SHRINKER))
		SKIP(return, "no shrinker");
	/* a goal so large that the scavenger keeps everything */
	free_touched(_metadata, self, 16384ULL << 20, n);
	ASSERT_EQ(0, drop_slab());
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.free_resident_bytes);
	EXPECT_EQ((__u64)n * GCH_PAGE_SIZE, st.released_shrink_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
}

TEST_F(cx, hard_limit)
{
	struct gch_stats st;
	__u64 page, p2;

	for (unsigned int i = 0; i < 3; i++)
		ASSERT_EQ(0, gch_map_arena(self->fd, self->base, i));
	ASSERT_EQ(0, gch_set_hard(self->fd, PPA + 100));
	EXPECT_EQ(-ENOMEM, xalloc(self->fd, CROSS, PPA + 101, &page, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(1, st.limit_hits);
	EXPECT_EQ(0, st.span_pages);
	EXPECT_EQ(0, st.alloc_calls);
	EXPECT_EQ(0, self->pm[0]);
	EXPECT_EQ(0, self->pm[PPA]);
	ASSERT_EQ(0, xalloc(self->fd, CROSS, PPA + 100, &page, NULL));
	EXPECT_EQ(0, page);
	EXPECT_EQ(-ENOMEM, xalloc(self->fd, CROSS, 1, &p2, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(2, st.limit_hits);
	EXPECT_EQ(PPA + 100, st.span_pages);
	ASSERT_EQ(0, gch_free1(self->fd, page, PPA + 100));
	ASSERT_EQ(0, xalloc(self->fd, CROSS, 1, &p2, NULL));
}

TEST_F(cx, small_crossing_span_not_populated)
{
	struct gch_stats st0, st;
	__u64 a, page;
	char *p;

	for (unsigned int i = 0; i < 2; i++) {
		ASSERT_EQ(0, gch_map_arena(self->fd, self->base, i));
		ASSERT_EQ(0, madvise(self->base + (size_t)i * GCH_ARENA_SIZE,
				     GCH_ARENA_SIZE, MADV_SEQUENTIAL));
	}
	ASSERT_EQ(0, xalloc(self->fd, 0, PPA - 2, &a, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	ASSERT_EQ(0, xalloc(self->fd, CROSS, 4, &page, NULL));
	EXPECT_EQ(PPA - 2, page);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(st0.populated, st.populated);
	EXPECT_EQ(st0.resident_bytes, st.resident_bytes);
	p = gch_page_addr(self->base, page);
	memset(p, 0x5a, 4 * GCH_PAGE_SIZE);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(st0.resident_bytes + 4 * GCH_PAGE_SIZE, st.resident_bytes);
	EXPECT_EQ(st0.faults + 4 * GCH_PAGE_SIZE / self->spg, st.faults);
}

TEST_HARNESS_MAIN

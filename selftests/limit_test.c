// SPDX-License-Identifier: MIT
/*
 * limit_test: GCH_IOC_LIMITS and the per-heap hard limit.
 *
 * The hard limit counts heap pages in spans.  An allocation that would pass
 * it fails with -ENOMEM, bumps limit_hits and changes nothing else; lowering
 * the limit below what is in use keeps every span and only refuses further
 * allocations until frees bring the heap under it.
 */
#include <pthread.h>

#include "gch_test.h"

FIXTURE(lim) {
	int fd;
	char *base;
	volatile const __u64 *pm;
	char saved_cap[32];	/* module cap to restore, "" if untouched */
};

#define CAP_PARAM "/sys/module/gcheap/parameters/max_total_pages"

static int cap_rw(const char *val, char *old, size_t oldlen)
{
	int fd = open(CAP_PARAM, O_RDWR);
	ssize_t n = 0;

	if (fd < 0)
		return -errno;
	if (old) {
		n = read(fd, old, oldlen - 1);
		old[n > 0 ? n : 0] = 0;
	}
	if (val && pwrite(fd, val, strlen(val), 0) < 0)
		n = -1;
	close(fd);
	return n < 0 ? -EIO : 0;
}

FIXTURE_SETUP(lim)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(2);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
	self->pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, self->pm);
}

FIXTURE_TEARDOWN(lim)
{
	if (self->saved_cap[0])
		cap_rw(self->saved_cap, NULL, 0);
	gch_heap_teardown(self->fd, self->base, 2, self->pm, NULL);
}

static __u64 hits(int fd)
{
	struct gch_stats st;

	return gch_stats(fd, &st) ? ~0ULL : st.limit_hits;
}

TEST_F(lim, defaults)
{
	struct gch_limits l;
	struct gch_stats st;

	memset(&l, 0, sizeof(l));
	ASSERT_EQ(0, gch_limits(self->fd, 0, &l));
	EXPECT_EQ(sizeof(l), l.size);
	EXPECT_EQ(0, l.hard_pages) TH_LOG("a new heap has no per-heap limit");
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.hard_limit_pages);
	EXPECT_EQ(0, st.limit_hits);
}

TEST_F(lim, set_reports_value_in_force)
{
	struct gch_limits l = { .hard_pages = 16, .soft_bytes = 777,
				.goal_bytes = 999 };
	struct gch_stats st;

	ASSERT_EQ(0, gch_limits(self->fd, GCH_LIMIT_HARD, &l));
	EXPECT_EQ(16, l.hard_pages);
	/* only the flagged field was applied; the others report what holds */
	EXPECT_NE(777, l.soft_bytes);
	EXPECT_NE(999, l.goal_bytes);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(16, st.hard_limit_pages);
	/* flags 0 reads, ignoring the input values */
	l = (struct gch_limits){ .hard_pages = 5 };
	ASSERT_EQ(0, gch_limits(self->fd, 0, &l));
	EXPECT_EQ(16, l.hard_pages);
	/* soft and goal */
	l = (struct gch_limits){ .hard_pages = 3, .soft_bytes = 1 << 20,
				 .goal_bytes = 4 << 20 };
	ASSERT_EQ(0, gch_limits(self->fd, GCH_LIMIT_SOFT | GCH_LIMIT_GOAL, &l));
	EXPECT_EQ(16, l.hard_pages);
	EXPECT_EQ(1 << 20, l.soft_bytes);
	EXPECT_EQ(4 << 20, l.goal_bytes);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(4 << 20, st.heap_goal);
	/* all three at once */
	l = (struct gch_limits){ .hard_pages = 100, .soft_bytes = 2 << 20,
				 .goal_bytes = 8 << 20 };
	ASSERT_EQ(0, gch_limits(self->fd, GCH_LIMIT_HARD | GCH_LIMIT_SOFT |
					  GCH_LIMIT_GOAL, &l));
	memset(&l, 0, sizeof(l));
	ASSERT_EQ(0, gch_limits(self->fd, 0, &l));
	EXPECT_EQ(100, l.hard_pages);
	EXPECT_EQ(2 << 20, l.soft_bytes);
	EXPECT_EQ(8 << 20, l.goal_bytes);
}

TEST_F(lim, hard_limit_enomem)
{
	struct gch_stats before, after;
	__u64 a, b, c;

	ASSERT_EQ(0, gch_set_hard(self->fd, 16));
	ASSERT_EQ(0, gch_alloc(self->fd, 10, &a, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &before));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 7, NULL, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &after));
	EXPECT_EQ(before.limit_hits + 1, after.limit_hits);
	after.limit_hits = before.limit_hits;
	EXPECT_HEAP_UNCHANGED(&before, &after);
	/* the page map did not see the refused span */
	EXPECT_EQ(0, self->pm[10]);
	/* exactly up to the limit is fine */
	ASSERT_EQ(0, gch_alloc(self->fd, 6, &b, NULL));
	EXPECT_EQ(10, b);
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 1, NULL, NULL));
	EXPECT_EQ(2, hits(self->fd));
	/* the heap works: frees make room again */
	ASSERT_EQ(0, gch_free1(self->fd, a, 10));
	ASSERT_EQ(0, gch_alloc(self->fd, 10, &c, NULL));
	EXPECT_EQ(0, c);
	ASSERT_EQ(0, gch_free1(self->fd, b, 6));
	ASSERT_EQ(0, gch_alloc(self->fd, 3, &b, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, 3, &c, NULL));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 1, NULL, NULL));
	EXPECT_EQ(3, hits(self->fd));
}

TEST_F(lim, no_room_is_not_a_limit_hit)
{
	ASSERT_EQ(0, gch_set_hard(self->fd, 3 * GCH_PAGES_PER_ARENA));
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, NULL, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, NULL, NULL));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 1, NULL, NULL));
	EXPECT_EQ(0, hits(self->fd));
}

TEST_F(lim, lowering_below_use_keeps_spans)
{
	struct gch_stats st;
	__u64 a, b, c;
	char *p;

	ASSERT_EQ(0, gch_alloc(self->fd, 10, &a, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, 6, &b, NULL));
	p = gch_page_addr(self->base, a);
	memset(p, 0x42, 10 * GCH_PAGE_SIZE);
	ASSERT_EQ(0, gch_set_hard(self->fd, 8));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(16, st.span_pages);
	EXPECT_EQ(2, st.spans);
	EXPECT_EQ(8, st.hard_limit_pages);
	EXPECT_EQ(GCH_PME_MAKE(a, 10), self->pm[a]);
	EXPECT_EQ(0x42, p[10 * GCH_PAGE_SIZE - 1]);
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 1, NULL, NULL));
	/* 6 in use after this free: 2 more fit, 3 do not */
	ASSERT_EQ(0, gch_free1(self->fd, a, 10));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 3, NULL, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, 2, &c, NULL));
	EXPECT_EQ(0, c);
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 1, NULL, NULL));
	EXPECT_EQ(3, hits(self->fd));
}

TEST_F(lim, zero_removes_the_limit)
{
	ASSERT_EQ(0, gch_set_hard(self->fd, 1));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 2, NULL, NULL));
	ASSERT_EQ(0, gch_set_hard(self->fd, 0));
	EXPECT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, NULL, NULL));
	EXPECT_EQ(0, gch_alloc(self->fd, 100, NULL, NULL));
}

TEST_F(lim, limit_is_per_heap)
{
	int fd2 = gch_open();
	void *a2;

	ASSERT_LE(0, fd2);
	a2 = gch_mmap(fd2, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, a2);
	ASSERT_EQ(0, gch_set_hard(self->fd, 4));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 5, NULL, NULL));
	EXPECT_EQ(0, gch_alloc(fd2, 5, NULL, NULL));
	EXPECT_EQ(0, hits(fd2));
	munmap(a2, GCH_ARENA_SIZE);
	close(fd2);
}

TEST_F(lim, bad_limit_calls_einval)
{
	struct gch_limits l = { .hard_pages = 7 };

	ASSERT_EQ(0, gch_set_hard(self->fd, 9));
	EXPECT_EQ(-EINVAL, gch_limits(self->fd, GCH_LIMIT_GOAL << 1, &l));
	EXPECT_EQ(-EINVAL, gch_limits(self->fd, GCH_LIMIT_HARD | (1U << 31), &l));
	memset(&l, 0, sizeof(l));
	ASSERT_EQ(0, gch_limits(self->fd, 0, &l));
	EXPECT_EQ(9, l.hard_pages) TH_LOG("a refused call changed the limit");
}

static int phase(int fd, __u32 ph, __u64 cycle, __u64 live, __u64 goal)
{
	struct gch_gc_phase g = { .size = sizeof(g), .phase = ph,
				  .cycle = cycle, .heap_live = live,
				  .heap_goal = goal };

	return gch_ioctl(fd, GCH_IOC_GC_PHASE, &g);
}

/* The collector's announcements and GCH_LIMIT_GOAL feed one heap goal. */
TEST_F(lim, gc_phase_and_goal)
{
	struct gch_limits l;
	struct gch_stats st;

	if (!gch_has_feature(self->fd, GCH_FEAT_GC_PHASE))
		SKIP(return, "no GCH_IOC_GC_PHASE");
	ASSERT_EQ(0, phase(self->fd, GCH_GC_MARK_START, 5, 0, 0));
	ASSERT_EQ(0, phase(self->fd, GCH_GC_MARK_END, 5, 1000, 8 << 20));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(5, st.gc_cycle);
	EXPECT_EQ(1000, st.heap_live);
	EXPECT_EQ(8 << 20, st.heap_goal);
	memset(&l, 0, sizeof(l));
	ASSERT_EQ(0, gch_limits(self->fd, 0, &l));
	EXPECT_EQ(8 << 20, l.goal_bytes);
	/* a zero goal in an announcement keeps the goal in force */
	ASSERT_EQ(0, phase(self->fd, GCH_GC_SWEEP_END, 5, 900, 0));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(900, st.heap_live);
	EXPECT_EQ(8 << 20, st.heap_goal);
	/* GCH_LIMIT_GOAL replaces it too */
	l = (struct gch_limits){ .goal_bytes = 16 << 20 };
	ASSERT_EQ(0, gch_limits(self->fd, GCH_LIMIT_GOAL, &l));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(16 << 20, st.heap_goal);
	ASSERT_EQ(0, phase(self->fd, GCH_GC_MARK_START, 6, 0, 0));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(6, st.gc_cycle);
	EXPECT_EQ(16 << 20, st.heap_goal);
	ASSERT_EQ(0, phase(self->fd, GCH_GC_SWEEP_END, 6, 0, 0));
}

/*
 * The module-wide cap (a module parameter of this implementation, not part
 * of the uAPI, hence the skip) refuses like the hard limit and counts in
 * limit_hits, across heaps.
 */
TEST_F(lim, module_cap)
{
	int fd2 = gch_open();
	struct gch_stats st;
	void *a2;

	if (cap_rw(NULL, self->saved_cap, sizeof(self->saved_cap)))
		SKIP(return, "no %s", CAP_PARAM);
	ASSERT_LE(0, fd2);
	a2 = gch_mmap(fd2, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, a2);
	ASSERT_EQ(0, cap_rw("40", NULL, 0));
	ASSERT_EQ(0, gch_alloc(self->fd, 30, NULL, NULL));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 11, NULL, NULL));
	EXPECT_EQ(-ENOMEM, gch_alloc(fd2, 11, NULL, NULL));
	EXPECT_EQ(0, gch_alloc(fd2, 10, NULL, NULL));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 1, NULL, NULL));
	EXPECT_EQ(2, hits(self->fd));
	EXPECT_EQ(1, hits(fd2));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(30, st.span_pages);
	/* closing the other heap gives its pages back to the cap */
	munmap(a2, GCH_ARENA_SIZE);
	close(fd2);
	EXPECT_EQ(0, gch_alloc(self->fd, 10, NULL, NULL));
	ASSERT_EQ(0, cap_rw(self->saved_cap, NULL, 0));
	self->saved_cap[0] = 0;
	EXPECT_EQ(0, gch_alloc(self->fd, 100, NULL, NULL));
}

/* Many small allocations race the limit from threads: never one page over. */

struct lim_worker {
	pthread_t tid;
	int fd;
	unsigned long ok, refused;
};

static void *lim_worker_main(void *arg)
{
	struct lim_worker *w = arg;

	for (int i = 0; i < 400; i++) {
		int ret = gch_alloc(w->fd, 1 + i % 3, NULL, NULL);

		if (ret == 0)
			w->ok++;
		else if (ret == -ENOMEM)
			w->refused++;
	}
	return NULL;
}

TEST_F_TIMEOUT(lim, threads_never_pass_the_limit, 120)
{
	struct lim_worker w[4];
	struct gch_stats st;
	unsigned long refused = 0;

	ASSERT_EQ(0, gch_set_hard(self->fd, 1000));
	for (int i = 0; i < 4; i++) {
		w[i] = (struct lim_worker){ .fd = self->fd };
		ASSERT_EQ(0, pthread_create(&w[i].tid, NULL, lim_worker_main, &w[i]));
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(w[i].tid, NULL);
		refused += w[i].refused;
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_LE(st.span_pages, 1000);
	EXPECT_LT(997, st.span_pages) TH_LOG("refused while 3+ pages were left");
	EXPECT_EQ(refused, st.limit_hits);
	EXPECT_EQ(4 * 400 - refused, st.spans);
}

TEST_HARNESS_MAIN

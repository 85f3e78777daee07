// SPDX-License-Identifier: MIT
/*
 * scavenge_test: the background scavenger kthread (kmod/scavenger.c).
 *
 * What it must do: bring a heap's free resident memory down to the retained
 * budget (goal + 10% - bytes in spans) within bounded time, paced; release
 * eagerly above the soft limit; leave a heap alone between GC MARK_START and
 * SWEEP_END and while switched off; never touch a live span; and leave
 * released pages reading zero with GCH_SPAN_ZEROED exact.  Every test ends
 * by checking the stats balance: resident == faulted - released, summed over
 * the four release paths, which catches a page released twice or counted on
 * the wrong path.
 *
 * Times printed as "# ..." lines are measured in the (TCG) VM; the bounds
 * asserted are generous because the VM is slow, the speed figures live in
 * bench/kmod-scavenge.
 */
#include "gch_test.h"
#include "scav_test.h"

#define NARENAS		5	/* 320 MiB of address space */

FIXTURE(sc) {
	int fd;
	char *base;
	long spg;
	struct scav_params saved;
};

FIXTURE_SETUP(sc)
{
	self->spg = sysconf(_SC_PAGESIZE);
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	ASSERT_TRUE(gch_has_feature(self->fd, GCH_FEAT_SCAVENGER));
	ASSERT_EQ(0, scav_params_save(&self->saved));
	self->base = gch_reserve(NARENAS);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, map_arenas(self->fd, self->base, NARENAS));
}

FIXTURE_TEARDOWN(sc)
{
	scav_params_restore(&self->saved);
	gch_heap_teardown(self->fd, self->base, NARENAS, NULL, NULL);
}

/* Wait until the heap's free resident memory is at most @limit; seconds or -1. */
static double wait_free_resident(int fd, __u64 limit, double max_s,
				 struct gch_stats *st)
{
	double t0 = now_s();

	for (;;) {
		if (gch_stats(fd, st))
			return -1;
		if (st->free_resident_bytes <= limit)
			return now_s() - t0;
		if (now_s() - t0 > max_s)
			return -1;
		sleep_ms(20);
	}
}

static double wait_resident(int fd, __u64 limit, double max_s,
			    struct gch_stats *st)
{
	double t0 = now_s();

	for (;;) {
		if (gch_stats(fd, st))
			return -1;
		if (st->resident_bytes <= limit)
			return now_s() - t0;
		if (now_s() - t0 > max_s)
			return -1;
		sleep_ms(20);
	}
}

/* Allocate @n spans of @npages, touch them, and return them in @refs. */
static int alloc_touched(FIXTURE_DATA(sc) *self, struct gch_span_ref *refs,
			 unsigned int n, __u32 npages)
{
	for (unsigned int i = 0; i < n; i++) {
		__u64 page;
		int err = gch_alloc(self->fd, npages, &page, NULL);

		if (err)
			return err;
		refs[i].page = (__u32)page;
		refs[i].npages = npages;
		touch(gch_page_addr(self->base, page),
		      (size_t)npages * GCH_PAGE_SIZE, self->spg, 1);
	}
	return 0;
}

TEST_F(sc, params)
{
	char buf[16];

	EXPECT_TRUE(gch_has_feature(self->fd, GCH_FEAT_SHRINKER));
	EXPECT_EQ(-EINVAL, param_write("scavenger_cpu_pct", "0"));
	EXPECT_EQ(-EINVAL, param_write("scavenger_cpu_pct", "101"));
	EXPECT_EQ(-EINVAL, param_write("scavenger_interval_ms", "0"));
	EXPECT_EQ(-EINVAL, param_write("scavenger_interval_ms", "1001"));
	EXPECT_EQ(-EINVAL, param_write("scavenger", "maybe"));
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "7"));
	ASSERT_EQ(0, param_read("scavenger_cpu_pct", buf, sizeof(buf)));
	EXPECT_STREQ("7", buf);
	ASSERT_EQ(0, param_write("scavenger", "0"));
	ASSERT_EQ(0, param_read("scavenger", buf, sizeof(buf)));
	EXPECT_STREQ("N", buf);
}

/*
 * The test: 256 MiB of spans freed among live ones; resident memory
 * falls to the budget (module stats and smaps_rollup agree), live data is
 * intact, and the released pages come back zeroed.  Paced at 20% of a CPU
 * so the slow VM (and the debug kernel, ~15x slower again) finish in bounded
 * time; the pacing itself is checked: the scavenger's time over the wall
 * time stays near the share.  The default 1% figure is bench/kmod-scavenge's.
 */
TEST_F_TIMEOUT(sc, freed_256m_falls_to_budget, 280)
{
	const unsigned int pct = 20;
	double share;
	enum { NBIG = 64, BIG = 512, NLIVE = 32, LIVE = 32 };
	const __u64 goal = 16 * MIB;
	struct gch_span_ref big[NBIG], live[NLIVE];
	struct gch_stats st, st0;
	long rss0, rss1;
	double t;

	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "20"));
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, goal));
	/* interleave: every free run released lies between live spans */
	for (int i = 0; i < NBIG; i++) {
		ASSERT_EQ(0, alloc_touched(self, &big[i], 1, BIG));
		if (i % 2 == 0) {
			__u64 page;

			ASSERT_EQ(0, gch_alloc(self->fd, LIVE, &page, NULL));
			live[i / 2].page = (__u32)page;
			live[i / 2].npages = LIVE;
			pattern_fill(gch_page_addr(self->base, page),
				     LIVE * GCH_PAGE_SIZE, page);
		}
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	rss0 = rss_kb();
	ASSERT_EQ(0, gch_free(self->fd, big, NBIG));
	/* after the free, the spans hold only the live data */
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	t = wait_free_resident(self->fd, budget_of(&st, goal), 240, &st);
	ASSERT_LE(0, t)
		TH_LOG("free resident %llu > budget %llu after 240 s",
		       (unsigned long long)st.free_resident_bytes,
		       (unsigned long long)budget_of(&st, goal));
	rss1 = rss_kb();
	ksft_print_msg("256 MiB freed -> at budget in %.2f s: resident %llu -> %llu KiB, budget %llu KiB, Rss %ld -> %ld KiB, bg %llu eager %llu, scavenge_ns %llu\n",
		       t, (unsigned long long)st0.resident_bytes >> 10,
		       (unsigned long long)st.resident_bytes >> 10,
		       (unsigned long long)budget_of(&st, goal) >> 10, rss0,
		       rss1, (unsigned long long)st.released_bg_bytes,
		       (unsigned long long)st.released_eager_bytes,
		       (unsigned long long)st.scavenge_ns);
	/* the scavenger's share of the wall time while it worked */
	share = t > 0.5 ? (st.scavenge_ns - st0.scavenge_ns) / 1e9 / t : 0;
	ksft_print_msg("paced at %u%%: scavenger busy %.2f%% of the time\n",
		       pct, share * 100);
	EXPECT_GE(pct * 2.0, share * 100);
	EXPECT_LE(st.resident_bytes, (__u64)NLIVE * LIVE * GCH_PAGE_SIZE +
					     budget_of(&st, goal));
	EXPECT_LE(256 * MIB - budget_of(&st, goal), st.released_bg_bytes);
	EXPECT_EQ(0, st.released_eager_bytes);
	EXPECT_EQ(0, st.released_shrink_bytes);
	/* smaps_rollup sees the memory go too */
	EXPECT_LE(rss1, rss0 - (long)((256 * MIB - budget_of(&st, goal)) >> 10) +
				    1024);
	EXPECT_TRUE(stats_balance(&st, self->spg));

	for (int i = 0; i < NLIVE; i++) {
		EXPECT_EQ(-1, pattern_check(gch_page_addr(self->base,
							  live[i].page),
					    LIVE * GCH_PAGE_SIZE, live[i].page))
			TH_LOG("live span %u corrupted", live[i].page);
	}

	/* the retained memory is the lowest (reused first); the rest is zero */
	{
		unsigned int zeroed = 0;

		for (int i = 0; i < NBIG; i++) {
			__u64 page;
			__u32 of;

			ASSERT_EQ(0, gch_alloc(self->fd, BIG, &page, &of));
			if (!(of & GCH_SPAN_ZEROED))
				continue;
			zeroed++;
			EXPECT_TRUE(span_zero(gch_page_addr(self->base, page),
					      BIG * GCH_PAGE_SIZE))
				TH_LOG("span %llu flagged zeroed holds data",
				       (unsigned long long)page);
		}
		EXPECT_LE(NBIG - 1 - budget_of(&st, goal) / (BIG * GCH_PAGE_SIZE),
			  zeroed);
	}
}

/* Above the soft limit the scavenger works eagerly, ignoring the budget. */
TEST_F_TIMEOUT(sc, soft_limit_released_promptly, 120)
{
	enum { N = 32, NP = 512 };	/* 128 MiB */
	struct gch_span_ref r[N];
	struct gch_stats st;
	double t;

	/* a goal so large the paced budget would keep everything */
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, 1024 * MIB));
	ASSERT_EQ(0, alloc_touched(self, r, N, NP));
	for (int i = 0; i < 4; i++)
		pattern_fill(gch_page_addr(self->base, r[i].page),
			     NP * GCH_PAGE_SIZE, r[i].page);
	ASSERT_EQ(0, gch_free(self->fd, r + 4, N - 4));	/* 16 MiB stays live */
	sleep_ms(300);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.released_bg_bytes) TH_LOG("budget not honoured");
	EXPECT_EQ(128 * MIB, st.resident_bytes);

	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_SOFT, 48 * MIB, 0));
	t = wait_resident(self->fd, 48 * MIB, 60, &st);
	ASSERT_LE(0, t) TH_LOG("resident %llu still above the soft limit",
			       (unsigned long long)st.resident_bytes);
	ksft_print_msg("soft limit 48 MiB: 128 -> %llu MiB resident in %.2f s (eager %llu bytes)\n",
		       (unsigned long long)(st.resident_bytes / MIB), t,
		       (unsigned long long)st.released_eager_bytes);
	EXPECT_GE(st.resident_bytes, 16 * MIB);
	EXPECT_EQ(80 * MIB, st.released_eager_bytes);
	EXPECT_EQ(0, st.released_bg_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
	for (int i = 0; i < 4; i++) {
		EXPECT_EQ(-1, pattern_check(gch_page_addr(self->base, r[i].page),
					    NP * GCH_PAGE_SIZE, r[i].page));
	}
}

/* Between MARK_START and SWEEP_END the heap is left alone. */
TEST_F_TIMEOUT(sc, gc_phase_holds_off, 120)
{
	enum { N = 8, NP = 512 };	/* 32 MiB */
	struct gch_span_ref r[N];
	struct gch_stats st;

	ASSERT_EQ(0, gch_phase(self->fd, GCH_GC_MARK_START, 1, 4 * MIB));
	ASSERT_EQ(0, alloc_touched(self, r, N, NP));
	ASSERT_EQ(0, gch_free(self->fd, r, N));
	/* both the paced (goal) and the eager (soft limit) mode must wait */
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_SOFT, 1 * MIB, 0));
	ASSERT_EQ(0, gch_phase(self->fd, GCH_GC_MARK_END, 1, 0));
	sleep_ms(1500);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(32 * MIB, st.free_resident_bytes);
	EXPECT_EQ(0, st.released_bg_bytes + st.released_eager_bytes);

	ASSERT_EQ(0, gch_phase(self->fd, GCH_GC_SWEEP_END, 1, 0));
	/* eager down to the soft limit, below the 4.4 MiB paced budget */
	ASSERT_LE(0, wait_resident(self->fd, 1 * MIB, 60, &st));
	EXPECT_EQ(31 * MIB, st.released_eager_bytes);
	EXPECT_EQ(0, st.released_bg_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
}

/* The switch: off means no background release at all; on resumes it. */
TEST_F_TIMEOUT(sc, switch_off_and_on, 120)
{
	enum { N = 8, NP = 512 };
	struct gch_span_ref r[N];
	struct gch_stats st;
	__u64 budget;

	ASSERT_EQ(0, param_write("scavenger", "0"));
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, 4 * MIB));
	ASSERT_EQ(0, alloc_touched(self, r, N, NP));
	ASSERT_EQ(0, gch_free(self->fd, r, N));
	sleep_ms(1500);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(32 * MIB, st.free_resident_bytes);
	EXPECT_EQ(0, st.released_bg_bytes);

	/* full speed: this is about the switch, not the pacing */
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "100"));
	ASSERT_EQ(0, param_write("scavenger", "1"));
	budget = budget_of(&st, 4 * MIB);
	ASSERT_LE(0, wait_free_resident(self->fd, budget, 60, &st));
	EXPECT_EQ(32 * MIB - st.free_resident_bytes, st.released_bg_bytes);
	/* and it stops at the budget rather than taking everything */
	sleep_ms(500);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_LE(budget - 2 * (__u64)self->spg * 64, st.free_resident_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
}

/*
 * Without a goal the heap keeps 10% over what its spans use (at least
 * Go's 4 MiB minimum goal), so a program that never talks to us is not
 * starved.
 */
TEST_F_TIMEOUT(sc, default_budget, 120)
{
	enum { N = 16, NP = 512 };	/* 64 MiB */
	struct gch_span_ref r[N];
	struct gch_stats st;

	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "50"));
	ASSERT_EQ(0, alloc_touched(self, r, N, NP));
	ASSERT_EQ(0, gch_free(self->fd, r + 8, N - 8));	/* 32 MiB stay */
	/* budget: 32 MiB * 1.1 - 32 MiB = 3.2 MiB of free memory */
	ASSERT_LE(0, wait_free_resident(self->fd, 32 * MIB / 10 * 11 - 32 * MIB,
					60, &st));
	sleep_ms(300);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_LE(32 * MIB / 10 * 11 - 32 * MIB - 64 * (__u64)self->spg,
		  st.free_resident_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
}

static int churn_and_exit(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	struct gch_span_ref r[16];
	int fd = gch_open();
	char *a;

	if (fd < 0)
		return 1;
	a = gch_mmap(fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_ARENA(0));
	if (!a)
		return 2;
	for (int i = 0; i < 16; i++) {
		__u64 page;

		if (gch_alloc(fd, 256, &page, NULL))
			return 3;
		r[i].page = (__u32)page;
		r[i].npages = 256;
		memset(a + page * GCH_PAGE_SIZE, 0x5a, 256 * GCH_PAGE_SIZE);
	}
	if (gch_free(fd, r, 16))
		return 4;
	/* exit (or unmap) while the scavenger is in the middle of the heap */
	usleep(rand_r(&seed) % 20000);
	if (seed & 1)
		munmap(a, GCH_ARENA_SIZE);
	return 0;
}

/* Process exit and munmap race with the scavenger at full speed. */
TEST_F_TIMEOUT(sc, exit_races_scavenger, 200)
{
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "100"));
	ASSERT_EQ(0, param_write("scavenger_interval_ms", "1"));
	for (unsigned int i = 0; i < 24; i++) {
		int status = run_child(churn_and_exit, (void *)(uintptr_t)(i * 7919 + 1));

		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("child %u: status %#x", i, status);
	}
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * scavenge_batch_test: the scavenger's batched release (kmod/scavenge.c,
 * gch_release_down(): pages taken out of the table a batch at a time, one
 * zap per free run, the table's references dropped before the zap).
 *
 * What must hold: every free run, of any length and wherever it lies
 * (arena edges, runs shorter than a batch, runs longer than a step), is
 * released exactly -- the counters balance, live spans keep their data,
 * released pages come back zeroed; faults racing the release (userspace
 * touching free pages while they are taken and zapped) neither leak a page
 * nor leave one mapped outside the table (the resident counters reach
 * exactly zero at the end); and the paced thread, with its bigger steps,
 * still keeps to its share of a CPU.
 */
#include <dirent.h>
#include <pthread.h>

#include "gch_test.h"
#include "scav_test.h"

#define NARENAS		2
#define NSPANS		72	/* 8 times len[]: 97 MiB */

FIXTURE(sb) {
	int fd;
	char *base;
	long spg;
	struct scav_params saved;
	volatile int stop;
};

FIXTURE_SETUP(sb)
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

FIXTURE_TEARDOWN(sb)
{
	scav_params_restore(&self->saved);
	gch_heap_teardown(self->fd, self->base, NARENAS, NULL, NULL);
}

/* Wait until free resident memory is at most @limit; false on timeout. */
static bool wait_free_res(int fd, __u64 limit, double max_s,
			  struct gch_stats *st)
{
	double t0 = now_s();

	while (!gch_stats(fd, st)) {
		if (st->free_resident_bytes <= limit)
			return true;
		if (now_s() - t0 > max_s)
			return false;
		sleep_ms(20);
	}
	return false;
}

/*
 * Spans of 1 to 700 heap pages (a run of one heap page is two system
 * pages; 700 is longer than a 4 MiB step) over both arenas, every other one
 * freed: free runs of every length, some ending at the arena boundary.
 */
TEST_F_TIMEOUT(sb, runs_of_every_length, 240)
{
	static const __u32 len[] = { 1, 2, 3, 17, 64, 255, 256, 257, 700 };
	struct gch_span_ref refs[NSPANS], freed[NSPANS];
	unsigned int nfreed = 0;
	struct gch_stats st;
	__u64 live = 0;

	ASSERT_EQ(0, param_write("scavenger", "0"));
	for (unsigned int i = 0; i < NSPANS; i++) {
		__u64 page;

		ASSERT_EQ(0, gch_alloc(self->fd, len[i % 9], &page, NULL));
		refs[i].page = (__u32)page;
		refs[i].npages = len[i % 9];
		pattern_fill(gch_page_addr(self->base, page),
			     (size_t)refs[i].npages * GCH_PAGE_SIZE, i);
	}
	for (unsigned int i = 0; i < NSPANS; i += 2)
		freed[nfreed++] = refs[i];
	for (unsigned int i = 1; i < NSPANS; i += 2)
		live += (__u64)refs[i].npages * GCH_PAGE_SIZE;
	ASSERT_EQ(0, gch_free(self->fd, freed, nfreed));

	/* goal 1 byte: the budget is 0, the thread takes every free page */
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, 1));
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "100"));
	ASSERT_EQ(0, param_write("scavenger", "1"));
	ASSERT_TRUE(wait_free_res(self->fd, 0, 200, &st))
		TH_LOG("free resident %llu", st.free_resident_bytes);
	EXPECT_EQ(live, st.resident_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
	EXPECT_LT(0, st.released_bg_bytes);

	for (unsigned int i = 1; i < NSPANS; i += 2) {
		char *p = gch_page_addr(self->base, refs[i].page);

		EXPECT_EQ(-1, pattern_check(p, (size_t)refs[i].npages *
					    GCH_PAGE_SIZE, i))
			TH_LOG("span %u", i);
	}
	/* first fit gives the freed runs back: zeroed, and flagged so */
	for (unsigned int i = 0; i < nfreed; i++) {
		__u32 flags = 0;
		__u64 page;

		ASSERT_EQ(0, gch_alloc(self->fd, freed[i].npages, &page,
				       &flags));
		EXPECT_TRUE(span_zero(gch_page_addr(self->base, page),
				      (size_t)freed[i].npages * GCH_PAGE_SIZE));
		EXPECT_TRUE(flags & GCH_SPAN_ZEROED) TH_LOG("span of %u",
							  freed[i].npages);
	}
}

/* Write one byte into every system page of the free region, over and over. */
static void *toucher(void *arg)
{
	FIXTURE_DATA(sb) *self = arg;
	char *free_area = self->base + GCH_ARENA_SIZE;
	unsigned long n = 0;

	while (!self->stop) {
		((volatile char *)free_area)[(n * 7919 % 4096) * self->spg] = 1;
		n++;
	}
	return NULL;
}

/* Allocate, fill, check and free small spans in arena 0. */
static void *churner(void *arg)
{
	FIXTURE_DATA(sb) *self = arg;
	__u64 rs = gch_seed();
	long bad = 0;

	while (!self->stop) {
		__u32 n = rnd_range(&rs, 1, 16), flags = 0;
		__u64 page;
		char *p;

		if (gch_alloc(self->fd, n, &page, &flags))
			continue;
		p = gch_page_addr(self->base, page);
		if ((flags & GCH_SPAN_ZEROED) &&
		    !span_zero(p, (size_t)n * GCH_PAGE_SIZE))
			bad++;
		pattern_fill(p, (size_t)n * GCH_PAGE_SIZE, page);
		if (pattern_check(p, (size_t)n * GCH_PAGE_SIZE, page) >= 0)
			bad++;
		gch_free1(self->fd, page, n);
	}
	return (void *)bad;
}

/*
 * The thread releases at full speed (budget 0) while one thread faults free
 * pages of arena 1 back in (so pages come and go under every take and zap)
 * and another churns spans in arena 0.  Live data never changes, ZEROED is
 * exact, and once everything is freed and scavenged nothing is resident.
 */
TEST_F_TIMEOUT(sb, release_races_faults, 120)
{
	pthread_t t1, t2;
	struct gch_stats st;
	void *bad = NULL;

	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, 1));
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "100"));
	ASSERT_EQ(0, param_write("scavenger", "1"));
	ASSERT_EQ(0, pthread_create(&t1, NULL, toucher, self));
	ASSERT_EQ(0, pthread_create(&t2, NULL, churner, self));
	sleep(6);
	self->stop = 1;
	pthread_join(t1, NULL);
	pthread_join(t2, &bad);
	EXPECT_EQ(NULL, bad);

	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_LT(0, st.released_bg_bytes);
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.span_pages);
	EXPECT_EQ(0, st.resident_bytes);
	EXPECT_EQ(0, st.free_resident_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
}

/* pid of the scavenger thread, by name, or -1. */
static int scavd_pid(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int pid = -1;

	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "gcheap_scavd\n", 13))
			pid = atoi(e->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return pid;
}

/* CPU time of @pid in ns (schedstat's first field), or 0. */
static __u64 cpu_ns(int pid)
{
	unsigned long long ns = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	return ns;
}

/*
 * At the default 1% the thread works in 4 MiB steps and at least 20 ms per
 * wake-up, then sleeps 99 times that; over a 12 s window of the paced
 * release its CPU share stays near 1% and it makes progress.  Under 5% is
 * asserted: a window holds only a few bursts (one 4 MiB step can take
 * 100 ms under the debug kernel), but a thread that stopped sleeping would
 * show tens of percent.
 */
TEST_F_TIMEOUT(sb, paced_share_holds, 120)
{
	struct gch_span_ref ref;
	struct gch_stats st0, st;
	int pid = scavd_pid();
	__u64 page, c0, c1;
	double t0, t1;

	ASSERT_LT(0, pid);
	ASSERT_EQ(0, param_write("scavenger", "0"));
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, &page, NULL));
	touch(gch_page_addr(self->base, page), GCH_ARENA_SIZE, self->spg, 1);
	ref.page = (__u32)page;
	ref.npages = GCH_PAGES_PER_ARENA;
	ASSERT_EQ(0, gch_free(self->fd, &ref, 1));
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, 1));
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "1"));
	ASSERT_EQ(0, param_write("scavenger_interval_ms", "10"));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	c0 = cpu_ns(pid);
	t0 = now_s();
	ASSERT_EQ(0, param_write("scavenger", "1"));
	sleep(12);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	c1 = cpu_ns(pid);
	t1 = now_s();
	TH_LOG("1%%: %.1f MiB in %.1f s, thread %.1f ms = %.2f%% of a CPU",
	       (st.released_bg_bytes - st0.released_bg_bytes) / (double)MIB,
	       t1 - t0, (c1 - c0) / 1e6, (c1 - c0) / 1e7 / (t1 - t0));
	EXPECT_LT(st0.released_bg_bytes, st.released_bg_bytes);
	EXPECT_GT(5.0, (c1 - c0) / 1e7 / (t1 - t0));
	EXPECT_TRUE(stats_balance(&st, self->spg));
}

TEST_HARNESS_MAIN

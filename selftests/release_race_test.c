// SPDX-License-Identifier: MIT
/*
 * release_race_test: memory release (GCH_IOC_SCAVENGE, the shrinker via
 * drop_caches, the background scavenger) racing with faults, allocation and
 * arena unmap/remap by other threads of the owner.
 *
 * What must hold whatever the interleaving: a live span never loses data;
 * a span flagged GCH_SPAN_ZEROED reads zero; and once the threads stop, every
 * span is freed and everything is scavenged, the resident counters are back
 * to exactly zero (a release racing a fault that double-counts or forgets a
 * page shows up here).  Splats are caught by the VM runner's dmesg scan.
 */
#include <pthread.h>

#include "gch_test.h"

#define NARENAS 2
#define SECONDS 6

FIXTURE(rr) {
	int fd;
	char *base;
	volatile int stop;
};

FIXTURE_SETUP(rr)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(NARENAS);
	ASSERT_NE(MAP_FAILED, self->base);
	for (int a = 0; a < NARENAS; a++) {
		ASSERT_EQ(0, gch_map_arena(self->fd, self->base, a));
	}
}

FIXTURE_TEARDOWN(rr)
{
	gch_heap_teardown(self->fd, self->base, NARENAS, NULL, NULL);
}

static void *scavenger_thread(void *arg)
{
	FIXTURE_DATA(rr) *self = arg;

	while (!self->stop)
		gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, NULL);
	return NULL;
}

static void *shrinker_thread(void *arg)
{
	FIXTURE_DATA(rr) *self = arg;
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	while (fd >= 0 && !self->stop) {
		/* 2: slab objects, which runs every shrinker */
		if (pwrite(fd, "2\n", 2, 0) < 0)
			break;
		usleep(1000);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/*
 * Arena 1 is unmapped and mapped again over and over, with writes into its
 * (free) pages in between, so releases keep finding pages of a mapping that
 * is coming or going.
 */
static void *remapper_thread(void *arg)
{
	FIXTURE_DATA(rr) *self = arg;
	char *a1 = self->base + GCH_ARENA_SIZE;
	unsigned long n = 0;

	while (!self->stop) {
		if (munmap(a1, GCH_ARENA_SIZE) ||
		    mmap(a1, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, self->fd,
			 GCH_MMAP_ARENA(1)) != a1)
			break;
		for (int i = 0; i < 16; i++)
			a1[((n * 16 + i) % 2048) * GCH_PAGE_SIZE] = 1;
		n++;
	}
	return NULL;
}

/* Allocate, fill, verify, free in arena 0 until told to stop. */
static int churn(FIXTURE_DATA(rr) *self, __u64 *rs, unsigned long *rounds)
{
	time_t end = time(NULL) + SECONDS;

	while (time(NULL) < end) {
		__u32 n = rnd_range(rs, 1, 8);
		__u32 oflags;
		__u64 page;
		char *p;

		if (gch_alloc(self->fd, n, &page, &oflags))
			return 1;
		if (page >= GCH_PAGES_PER_ARENA)
			return 2;	/* arena 0 never fills up here */
		p = gch_page_addr(self->base, page);
		for (size_t off = 0; off < n * GCH_PAGE_SIZE; off += 1024) {
			if ((oflags & GCH_SPAN_ZEROED) && p[off])
				return 3;
			p[off] = (char)(*rounds | 1);
		}
		sched_yield();
		for (size_t off = 0; off < n * GCH_PAGE_SIZE; off += 1024) {
			if (p[off] != (char)(*rounds | 1))
				return 4;
		}
		if (gch_free1(self->fd, page, n))
			return 5;
		(*rounds)++;
	}
	return 0;
}

static void race(struct __test_metadata *_metadata, FIXTURE_DATA(rr) *self,
		 void *(*fns[])(void *), int nfns)
{
	static const char *what[] = {
		"", "alloc failed", "span outside arena 0",
		"ZEROED span held data", "live span lost data", "free failed",
	};
	pthread_t t[4];
	__u64 rs = gch_seed() | 1;
	unsigned long rounds = 0;
	struct gch_stats st;
	int ret;

	for (int i = 0; i < nfns; i++) {
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fns[i], self));
	}
	ret = churn(self, &rs, &rounds);
	self->stop = 1;
	for (int i = 0; i < nfns; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, ret) TH_LOG("round %lu: %s", rounds, what[ret]);
	TH_LOG("%lu rounds", rounds);
	/* everything free and released: the counters must be exactly zero */
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.spans);
	EXPECT_EQ(0, st.resident_bytes);
	EXPECT_EQ(0, st.free_resident_bytes);
	/* and the heap still works */
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, NULL, NULL));
}

TEST_F_TIMEOUT(rr, scavenge_vs_alloc, 120)
{
	void *(*fns[])(void *) = { scavenger_thread };
	struct gch_stats st;

	race(_metadata, self, fns, 1);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_LT(0, st.released_ioctl_bytes) TH_LOG("the race never happened");
}

TEST_F_TIMEOUT(rr, shrinker_vs_alloc, 120)
{
	void *(*fns[])(void *) = { shrinker_thread };
	struct gch_stats st;

	if (!gch_has_feature(self->fd, GCH_FEAT_SHRINKER))
		SKIP(return, "no shrinker");
	race(_metadata, self, fns, 1);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_LT(0, st.released_shrink_bytes) TH_LOG("the race never happened");
}

TEST_F_TIMEOUT(rr, release_vs_remap, 120)
{
	void *(*fns[])(void *) = { scavenger_thread, shrinker_thread,
				   remapper_thread };

	race(_metadata, self, fns, 3);
}

TEST_HARNESS_MAIN

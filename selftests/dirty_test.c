// SPDX-License-Identifier: MIT
/*
 * GCH_IOC_DIRTY: per-heap dirty-page tracking (uapi/linux/gcheap.h,
 * struct gch_dirty).
 *
 *  - every bad argument refused with its errno, and a failed call changes
 *    nothing (the dirty set, the counters);
 *  - every written page is reported exactly once per arm or collect, reads
 *    never dirty, a range reports only its pages, bits land where the
 *    contract says for any first_page;
 *  - a write racing with collect-and-rearm is never lost: writer threads
 *    bump per-page counters while the main thread collects and reads them;
 *    a counter that moved while its page was not reported must be reported
 *    by the next collect;
 *  - fork children get -EPERM; scavenged and shrunk pages come back clean
 *    and dirty again on their first write; populate while armed maps
 *    read-only; an arena unmapped and mapped again, or created while armed,
 *    is tracked; mprotect() cannot sneak a write past tracking; disarm
 *    makes pages writable with no fault at all; closing an armed heap
 *    leaks nothing; the counters and tracepoints fire;
 *  - arming cost per resident page, next to mprotect(PROT_READ).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include "gch_test.h"
#include "scav_test.h"

#define NPAGES		64	/* heap pages of the fixture's span */
#define WORDS(n)	(((n) + 63) / 64)

static int dirty_ioc(int fd, __u32 flags, __u64 first, __u64 npages,
		     __u64 *bitmap, struct gch_dirty *out)
{
	struct gch_dirty d = {
		.size = sizeof(d), .flags = flags, .first_page = first,
		.npages = npages, .bitmap = (__u64)(uintptr_t)bitmap,
	};
	int ret = gch_ioctl(fd, GCH_IOC_DIRTY, &d);

	if (out)
		*out = d;
	return ret;
}

static int arm(int fd)
{
	return dirty_ioc(fd, GCH_DIRTY_ARM, 0, 0, NULL, NULL);
}

static int disarm(int fd)
{
	return dirty_ioc(fd, GCH_DIRTY_DISARM, 0, 0, NULL, NULL);
}

static int collect(int fd, __u64 first, __u64 npages, __u64 *bm,
		   struct gch_dirty *out)
{
	return dirty_ioc(fd, GCH_DIRTY_COLLECT, first, npages, bm, out);
}

static bool bit(const __u64 *bm, __u64 i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

static unsigned int popcount(const __u64 *bm, __u64 npages)
{
	unsigned int n = 0;

	for (__u64 i = 0; i < WORDS(npages); i++)
		n += __builtin_popcountll(bm[i]);
	return n;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

FIXTURE(dt) {
	int fd;
	char *base;
	__u64 span;	/* first heap page of the NPAGES span */
	long spg;
};

FIXTURE_SETUP(dt)
{
	self->spg = sysconf(_SC_PAGESIZE);
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	ASSERT_TRUE(gch_has_feature(self->fd, GCH_FEAT_DIRTY));
	self->base = gch_reserve(2);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, gch_alloc(self->fd, NPAGES, &self->span, NULL));
	/* every system page resident and writable before any arm */
	memset(gch_page_addr(self->base, self->span), 1,
	       NPAGES * GCH_PAGE_SIZE);
	/* no background release: the scavenger leaves a marking heap alone */
	ASSERT_EQ(0, gch_phase(self->fd, GCH_GC_MARK_START, 1, 0));
}

FIXTURE_TEARDOWN(dt)
{
	gch_heap_teardown(self->fd, self->base, 2, NULL, NULL);
}

static char *pg(FIXTURE_DATA(dt) *self, __u64 i)
{
	return gch_page_addr(self->base, self->span + i);
}

TEST_F(dt, bad_arguments)
{
	__u64 bm[WORDS(NPAGES)], tail[2] = { 0, 0 };
	struct gch_stats st0, st;
	struct gch_dirty d;
	char big[sizeof(d) + 16];
	void *ro, *hole;

	/* flags: none, two, unknown */
	EXPECT_EQ(-EINVAL, dirty_ioc(self->fd, 0, 0, 0, NULL, NULL));
	EXPECT_EQ(-EINVAL, dirty_ioc(self->fd, GCH_DIRTY_ARM |
				     GCH_DIRTY_DISARM, 0, 0, NULL, NULL));
	EXPECT_EQ(-EINVAL, dirty_ioc(self->fd, GCH_DIRTY_ARM | 8, 0, 0, NULL,
				     NULL));
	EXPECT_EQ(-EINVAL, dirty_ioc(self->fd, 8, 0, 0, NULL, NULL));
	/* range fields with ARM and DISARM */
	EXPECT_EQ(-EINVAL, dirty_ioc(self->fd, GCH_DIRTY_ARM, 1, 0, NULL, NULL));
	EXPECT_EQ(-EINVAL, dirty_ioc(self->fd, GCH_DIRTY_ARM, 0, 1, NULL, NULL));
	EXPECT_EQ(-EINVAL, dirty_ioc(self->fd, GCH_DIRTY_ARM, 0, 0, bm, NULL));
	/* not armed */
	EXPECT_EQ(-EINVAL, collect(self->fd, 0, NPAGES, bm, NULL));
	EXPECT_EQ(-EINVAL, disarm(self->fd));
	/* size: short, and a non-zero tail */
	memset(&d, 0, sizeof(d));
	d.size = sizeof(d) - 8;
	d.flags = GCH_DIRTY_ARM;
	EXPECT_EQ(-EINVAL, gch_ioctl(self->fd, GCH_IOC_DIRTY, &d));
	memset(big, 0, sizeof(big));
	d.size = sizeof(big);
	memcpy(big, &d, sizeof(d));
	big[sizeof(d) + 3] = 1;
	EXPECT_EQ(-E2BIG, gch_ioctl(self->fd, GCH_IOC_DIRTY, big));
	/* a read-only struct: nothing armed */
	ro = mmap(NULL, self->spg, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	d.size = sizeof(d);
	memcpy(ro, &d, sizeof(d));
	ASSERT_EQ(0, mprotect(ro, self->spg, PROT_READ));
	EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, GCH_IOC_DIRTY, ro));
	EXPECT_EQ(-EINVAL, disarm(self->fd));	/* still not armed */

	ASSERT_EQ(0, arm(self->fd));
	EXPECT_EQ(-EBUSY, arm(self->fd));
	pg(self, 5)[0] = 2;
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	/* COLLECT: npages 0, past the end, bad bitmaps */
	EXPECT_EQ(-EINVAL, collect(self->fd, 0, 0, bm, NULL));
	EXPECT_EQ(-EINVAL, collect(self->fd, GCH_MAX_PAGES, 1, bm, NULL));
	EXPECT_EQ(-EINVAL, collect(self->fd, GCH_MAX_PAGES - 1, 2, bm, NULL));
	EXPECT_EQ(-EINVAL, collect(self->fd, 1, GCH_MAX_PAGES, bm, NULL));
	EXPECT_EQ(-EINVAL, collect(self->fd, ~0ULL, 2, bm, NULL));
	EXPECT_EQ(-EFAULT, collect(self->fd, 0, NPAGES, NULL, NULL));
	EXPECT_EQ(-EFAULT, collect(self->fd, 0, NPAGES, ro, NULL));
	/* a bitmap whose second word is on a PROT_NONE page */
	hole = mmap(NULL, 2 * self->spg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_EQ(0, mprotect((char *)hole + self->spg, self->spg, PROT_NONE));
	EXPECT_EQ(-EFAULT, collect(self->fd, 0, 128,
				   (__u64 *)((char *)hole + self->spg - 8),
				   NULL));
	/* the whole range with a bitmap of 1 MiB that is not there */
	EXPECT_EQ(-EFAULT, collect(self->fd, 0, GCH_MAX_PAGES,
				   (__u64 *)((char *)hole + self->spg - 8),
				   NULL));
	/* nothing changed: no collect counted, page 5 still dirty */
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(st0.dirty_collects, st.dirty_collects);
	EXPECT_EQ(st0.dirty_wp_pages, st.dirty_wp_pages);
	EXPECT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 5));
	/* a failed ARM (-EBUSY) re-armed nothing either */
	pg(self, 6)[0] = 2;
	EXPECT_EQ(-EBUSY, arm(self->fd));
	EXPECT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 6));
	/* read-only struct for COLLECT: -EFAULT, page 7 stays dirty */
	pg(self, 7)[0] = 2;
	ASSERT_EQ(0, mprotect(ro, self->spg, PROT_READ | PROT_WRITE));
	d = (struct gch_dirty){ .size = sizeof(d), .flags = GCH_DIRTY_COLLECT,
				.first_page = self->span, .npages = NPAGES,
				.bitmap = (__u64)(uintptr_t)tail };
	memcpy(ro, &d, sizeof(d));
	ASSERT_EQ(0, mprotect(ro, self->spg, PROT_READ));
	EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, GCH_IOC_DIRTY, ro));
	EXPECT_EQ(0, tail[0]);	/* the bitmap was not written */
	EXPECT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 7));
	EXPECT_EQ(0, disarm(self->fd));
	EXPECT_EQ(-EINVAL, disarm(self->fd));
	EXPECT_EQ(-EINVAL, collect(self->fd, 0, NPAGES, bm, NULL));
	munmap(ro, self->spg);
	munmap(hole, 2 * self->spg);
}

TEST_F(dt, exact_set_once_per_arm)
{
	static const unsigned int set[] = { 0, 3, 7, 31, 32, 33, 62, 63 };
	const unsigned int nset = sizeof(set) / sizeof(set[0]);
	__u64 bm[WORDS(NPAGES) + 1];
	volatile char sink = 0;
	struct gch_stats st0, st;
	struct gch_dirty d;

	ASSERT_EQ(0, dirty_ioc(self->fd, GCH_DIRTY_ARM, 0, 0, NULL, &d));
	/* every system page of the span was resident and writable */
	EXPECT_LE(NPAGES * GCH_PAGE_SIZE / self->spg, d.wp_pages);
	EXPECT_EQ(0, d.dirty_pages);
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	/* reads dirty nothing */
	for (unsigned int i = 0; i < NPAGES; i++)
		sink += pg(self, i)[0] + pg(self, i)[self->spg];
	memset(bm, 0xff, sizeof(bm));
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(0, d.dirty_pages);
	EXPECT_EQ(0, popcount(bm, NPAGES));
	EXPECT_EQ(~0ULL, bm[WORDS(NPAGES)]);	/* past the bitmap: untouched */
	/* many writes to each page of the set, to either system page */
	for (int r = 0; r < 50; r++)
		for (unsigned int k = 0; k < nset; k++)
			pg(self, set[k])[(r & 1) * self->spg + r] = (char)r;
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(nset, d.dirty_pages);
	EXPECT_EQ(nset, popcount(bm, NPAGES));
	for (unsigned int k = 0; k < nset; k++) {
		EXPECT_TRUE(bit(bm, set[k])) TH_LOG("page %u", set[k]);
	}
	/* both halves were written: both write-protected again */
	EXPECT_EQ(2 * nset, d.wp_pages);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	/* one fault per system page written, not per write */
	EXPECT_EQ(2 * nset, st.dirty_faults - st0.dirty_faults);
	/* nothing written since: nothing reported */
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(0, d.dirty_pages);
	EXPECT_EQ(0, d.wp_pages);
	EXPECT_EQ(0, popcount(bm, NPAGES));
	/* written again: reported again, once */
	pg(self, 9)[100] = 1;
	pg(self, 9)[200] = 1;
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 9));
	(void)sink;
}

TEST_F(dt, ranges_and_bit_positions)
{
	__u64 bm[WORDS(NPAGES) + 1];
	struct gch_dirty d;

	ASSERT_EQ(0, arm(self->fd));
	pg(self, 2)[0] = 1;
	pg(self, 40)[0] = 1;
	pg(self, 63)[0] = 1;
	/* a range that starts off a word boundary: bit i is page first + i */
	memset(bm, 0xff, sizeof(bm));
	ASSERT_EQ(0, collect(self->fd, self->span + 1, 39, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 1));
	EXPECT_EQ(1, popcount(bm, 64));	/* bits past npages are written 0 */
	/* the pages past the range kept their bits */
	ASSERT_EQ(0, collect(self->fd, self->span + 3, 61, bm, &d));
	EXPECT_EQ(2, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 37));
	EXPECT_TRUE(bit(bm, 60));
	/* uncreated arenas read clean; the whole heap in one call */
	pg(self, 10)[0] = 1;
	{
		size_t len = WORDS(GCH_MAX_PAGES) * 8;
		__u64 *all = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		ASSERT_NE(MAP_FAILED, all);
		memset(all, 0xff, len);
		ASSERT_EQ(0, collect(self->fd, GCH_PAGES_PER_ARENA,
				     3 * GCH_PAGES_PER_ARENA, all, &d));
		EXPECT_EQ(0, d.dirty_pages);
		EXPECT_EQ(0, popcount(all, 3 * GCH_PAGES_PER_ARENA));
		memset(all, 0xff, len);
		ASSERT_EQ(0, collect(self->fd, 0, GCH_MAX_PAGES, all, &d));
		EXPECT_EQ(1, d.dirty_pages);
		EXPECT_EQ(1, popcount(all, GCH_MAX_PAGES));
		EXPECT_TRUE(bit(all, self->span + 10));
		munmap(all, len);
	}
}

/*
 * The bitmap may live in the heap, even in a page of the range: pinning it
 * for writing is a write by the program (it dirties its page), the kernel's
 * write of the result is not, and nothing deadlocks on the page's lock.
 */
TEST_F(dt, bitmap_inside_the_heap)
{
	__u64 *bm = (__u64 *)(pg(self, 50) + 64);
	struct gch_dirty d;

	ASSERT_EQ(0, arm(self->fd));
	pg(self, 3)[0] = 1;
	for (int round = 0; round < 3; round++) {
		ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
		EXPECT_EQ(round ? 1 : 2, d.dirty_pages);
		EXPECT_TRUE(bit(bm, 50));
		EXPECT_EQ(!round, bit(bm, 3));
	}
}

/* ---- the race: writers bump per-page counters, the collector checks ---- */

#define RACE_PAGES	32
#define RACE_WRITERS	2

struct race {
	FIXTURE_DATA(dt) *self;
	atomic_bool stop;
	unsigned int seed;
};

/* both system pages of a heap page hold a counter; their sum is the page's */
static __u64 page_count(FIXTURE_DATA(dt) *self, unsigned int i)
{
	return __atomic_load_n((__u64 *)pg(self, i), __ATOMIC_ACQUIRE) +
	       __atomic_load_n((__u64 *)(pg(self, i) + self->spg),
			       __ATOMIC_ACQUIRE);
}

static void *race_writer(void *arg)
{
	struct race *r = arg;
	__u64 s = 0x9e3779b97f4a7c15ULL * (r->seed + 1);

	while (!atomic_load(&r->stop)) {
		__u64 x = rnd_next(&s);
		unsigned int i = x % RACE_PAGES;
		char *p = pg(r->self, i) + ((x >> 32) & 1) * r->self->spg;

		__atomic_fetch_add((__u64 *)p, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

TEST_F_TIMEOUT(dt, race_never_loses_a_write, 300)
{
	struct race r[RACE_WRITERS];
	pthread_t th[RACE_WRITERS];
	__u64 seen[RACE_PAGES], bm[WORDS(RACE_PAGES)], c;
	bool pending[RACE_PAGES] = { false };
	unsigned int rounds = 0, lost = 0, reported = 0;
	struct gch_dirty d;
	__u64 t_end;

	for (unsigned int i = 0; i < RACE_PAGES; i++) {
		memset(pg(self, i), 0, 2 * self->spg);
		seen[i] = 0;
	}
	ASSERT_EQ(0, arm(self->fd));
	for (int t = 0; t < RACE_WRITERS; t++) {
		r[t].self = self;
		r[t].seed = t;
		atomic_init(&r[t].stop, false);
		ASSERT_EQ(0, pthread_create(&th[t], NULL, race_writer, &r[t]));
	}
	t_end = now_ns() + 4000000000ULL;
	while (now_ns() < t_end || rounds < 50) {
		ASSERT_EQ(0, collect(self->fd, self->span, RACE_PAGES, bm, &d));
		rounds++;
		reported += d.dirty_pages;
		for (unsigned int i = 0; i < RACE_PAGES; i++) {
			bool rep = bit(bm, i);

			/* moved after the last re-arm, yet not reported */
			if (pending[i] && !rep)
				lost++;
			pending[i] = false;
			c = page_count(self, i);
			/*
			 * Not reported: no write between the previous re-arm
			 * and this one, so a change since the previous read
			 * came after this re-arm and the next must show it.
			 */
			if (c != seen[i] && !rep)
				pending[i] = true;
			seen[i] = c;
		}
	}
	for (int t = 0; t < RACE_WRITERS; t++)
		atomic_store(&r[t].stop, true);
	for (int t = 0; t < RACE_WRITERS; t++)
		pthread_join(th[t], NULL);
	/* every page that moved since its last read must be in the last one */
	ASSERT_EQ(0, collect(self->fd, self->span, RACE_PAGES, bm, &d));
	for (unsigned int i = 0; i < RACE_PAGES; i++) {
		if ((pending[i] || page_count(self, i) != seen[i]) &&
		    !bit(bm, i)) {
			lost++;
			TH_LOG("page %u: write lost", i);
		}
	}
	TH_LOG("%u collects, %u pages reported", rounds, reported);
	EXPECT_EQ(0, lost);
	EXPECT_LT(0, reported);
	/* quiet now: nothing more */
	ASSERT_EQ(0, collect(self->fd, self->span, RACE_PAGES, bm, &d));
	EXPECT_EQ(0, d.dirty_pages);
}

/* ---- ownership ---- */

static int child_tries(void *arg)
{
	int fd = *(int *)arg;
	__u64 bm[WORDS(NPAGES)];

	if (arm(fd) != -EPERM || disarm(fd) != -EPERM ||
	    collect(fd, 0, NPAGES, bm, NULL) != -EPERM)
		return 1;
	return 0;
}

TEST_F(dt, fork_child_is_refused)
{
	__u64 bm[WORDS(NPAGES)];
	struct gch_dirty d;
	int status;

	status = run_child(child_tries, &self->fd);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(0, arm(self->fd));
	pg(self, 1)[0] = 3;
	status = run_child(child_tries, &self->fd);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the child changed nothing: still armed, page 1 still dirty */
	EXPECT_EQ(-EBUSY, arm(self->fd));
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 1));
}

/* ---- release ---- */

#define REL_PAGES	2048	/* 16 MiB: drop_caches may leave a few pages */

/* Heap page @p has no system page mapped (mincore: released and zapped). */
static bool released(FIXTURE_DATA(dt) *self, __u64 p)
{
	unsigned char vec[GCH_PAGE_SIZE / 4096 + 1];

	if (mincore(gch_page_addr(self->base, p), GCH_PAGE_SIZE, vec))
		return false;
	for (unsigned long i = 0; i < GCH_PAGE_SIZE / self->spg; i++)
		if (vec[i] & 1)
			return false;
	return true;
}

static void released_pages_are_clean(struct __test_metadata *_metadata,
				     FIXTURE_DATA(dt) *self, bool shrink)
{
	__u64 *bm = calloc(WORDS(REL_PAGES), 8), page, again, nrel = 0;
	size_t len = (size_t)REL_PAGES * GCH_PAGE_SIZE;
	struct gch_stats st0, st;
	struct gch_dirty d;

	ASSERT_NE(NULL, bm);
	ASSERT_EQ(0, gch_alloc(self->fd, REL_PAGES, &page, NULL));
	memset(gch_page_addr(self->base, page), 1, len);
	ASSERT_EQ(0, arm(self->fd));
	memset(gch_page_addr(self->base, page), 2, len);
	/* every page of the span is dirty; free it and release its memory */
	ASSERT_EQ(0, gch_free1(self->fd, page, REL_PAGES));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	if (shrink) {
		ASSERT_EQ(0, drop_slab());
	} else {
		ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, NULL));
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	if (shrink) {
		EXPECT_LT(st0.released_shrink_bytes, st.released_shrink_bytes);
	} else {
		EXPECT_EQ(len, st.released_ioctl_bytes -
			       st0.released_ioctl_bytes);
	}
	/* a heap page with nothing left mapped was released: it is clean */
	ASSERT_EQ(0, collect(self->fd, page, REL_PAGES, bm, &d));
	for (__u64 i = 0; i < REL_PAGES; i++) {
		if (!released(self, page + i))
			continue;
		nrel++;
		EXPECT_FALSE(bit(bm, i)) TH_LOG("released page %llu dirty",
						(unsigned long long)i);
	}
	EXPECT_LT(REL_PAGES * 3 / 4, nrel);
	if (!shrink) {
		EXPECT_EQ(0, d.dirty_pages);
	}
	/* the same pages again: read zero, clean; the first write dirties */
	ASSERT_EQ(0, gch_alloc(self->fd, REL_PAGES, &again, NULL));
	ASSERT_EQ(page, again);
	for (__u64 i = 0; i < REL_PAGES; i++) {
		if (released(self, page + i)) {
			EXPECT_EQ(0, gch_page_addr(self->base, page + i)[0]);
		}
	}
	gch_page_addr(self->base, page + 4)[1] = 1;
	ASSERT_EQ(0, collect(self->fd, page, REL_PAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 4));
	free(bm);
}

TEST_F_TIMEOUT(dt, scavenged_pages_come_back_clean, 300)
{
	released_pages_are_clean(_metadata, self, false);
}

TEST_F_TIMEOUT(dt, shrunk_pages_come_back_clean, 300)
{
	released_pages_are_clean(_metadata, self, true);
}

/* ---- mappings ---- */

TEST_F(dt, populate_while_armed_maps_read_only)
{
	__u64 bm[WORDS(NPAGES)], page;
	struct gch_stats st0, st;
	struct gch_dirty d;

	ASSERT_EQ(0, madvise(self->base, GCH_ARENA_SIZE, MADV_SEQUENTIAL));
	ASSERT_EQ(0, arm(self->fd));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	ASSERT_EQ(0, gch_alloc(self->fd, 4, &page, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(4 * GCH_PAGE_SIZE / self->spg,
		  st.populated - st0.populated);
	EXPECT_EQ(st0.dirty_faults, st.dirty_faults);
	/* populated, not written: clean */
	ASSERT_EQ(0, collect(self->fd, page, 4, bm, &d));
	EXPECT_EQ(0, d.dirty_pages);
	EXPECT_EQ(0, d.wp_pages);	/* mapped read-only already */
	gch_page_addr(self->base, page + 2)[0] = 1;
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(st0.faults, st.faults);	/* no page was missing */
	EXPECT_EQ(st0.dirty_faults + 1, st.dirty_faults);
	ASSERT_EQ(0, collect(self->fd, page, 4, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 2));
}

TEST_F(dt, remap_and_new_arena_while_armed)
{
	__u64 bm[WORDS(NPAGES)], page;
	struct gch_dirty d;

	ASSERT_EQ(0, arm(self->fd));
	pg(self, 8)[0] = 9;
	ASSERT_EQ(0, munmap(self->base, GCH_ARENA_SIZE));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	EXPECT_EQ(9, pg(self, 8)[0]);
	/* the bit survived the unmap; a read of the new mapping adds none */
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 8));
	/* the new mapping is tracked: read first, then write */
	EXPECT_EQ(1, pg(self, 11)[0]);
	pg(self, 11)[0] = 2;
	pg(self, 12)[0] = 2;
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(2, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 11));
	EXPECT_TRUE(bit(bm, 12));
	/* an arena created while armed starts armed */
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
	page = GCH_PAGES_PER_ARENA + 5;
	EXPECT_EQ(0, gch_page_addr(self->base, page)[0]);
	ASSERT_EQ(0, collect(self->fd, GCH_PAGES_PER_ARENA, NPAGES, bm, &d));
	EXPECT_EQ(0, d.dirty_pages);
	gch_page_addr(self->base, page)[0] = 1;
	ASSERT_EQ(0, collect(self->fd, GCH_PAGES_PER_ARENA, NPAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 5));
}

TEST_F(dt, mprotect_cannot_skip_tracking)
{
	__u64 bm[WORDS(NPAGES)];
	struct gch_dirty d;

	ASSERT_EQ(0, arm(self->fd));
	pg(self, 20)[0] = 1;	/* dirty, writable, PTE dirty */
	ASSERT_EQ(0, mprotect(self->base, GCH_ARENA_SIZE, PROT_READ));
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	ASSERT_EQ(0, mprotect(self->base, GCH_ARENA_SIZE,
			      PROT_READ | PROT_WRITE));
	/* a write after the collect must fault and be seen */
	pg(self, 20)[0] = 2;
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &d));
	EXPECT_EQ(1, d.dirty_pages);
	EXPECT_TRUE(bit(bm, 20));
}

TEST_F(dt, disarm_leaves_no_fault)
{
	__u64 bm[WORDS(NPAGES)];
	struct gch_stats st0, st;
	long flt0, flt;

	ASSERT_EQ(0, arm(self->fd));
	for (unsigned int i = 0; i < 4; i++)
		pg(self, i)[0] = 1;
	ASSERT_EQ(0, disarm(self->fd));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	flt0 = minflt();
	/* every resident page of the span, both halves */
	for (unsigned int i = 0; i < NPAGES; i++) {
		pg(self, i)[0] = 7;
		pg(self, i)[self->spg] = 7;
	}
	flt = minflt();
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(st0.dirty_faults, st.dirty_faults);
	EXPECT_EQ(st0.faults, st.faults);
	EXPECT_EQ(flt0, flt) TH_LOG("writes after disarm faulted");
	EXPECT_EQ(-EINVAL, collect(self->fd, self->span, NPAGES, bm, NULL));
	/* arm again: the earlier dirt is forgotten */
	ASSERT_EQ(0, arm(self->fd));
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, NULL));
	EXPECT_EQ(0, popcount(bm, NPAGES));
}

TEST(close_while_armed_leaks_nothing)
{
	long ref0 = gch_module_refcnt(), free0, free1;

	for (int round = 0; round < 3; round++) {
		int fd = gch_open();
		char *base = gch_reserve(2);
		__u64 page;

		ASSERT_LE(0, fd);
		ASSERT_NE(MAP_FAILED, base);
		ASSERT_EQ(0, gch_map_arena(fd, base, 0));
		ASSERT_EQ(0, gch_map_arena(fd, base, 1));
		ASSERT_EQ(0, gch_alloc(fd, 512, &page, NULL));
		memset(gch_page_addr(base, page), 1, 512 * GCH_PAGE_SIZE);
		ASSERT_EQ(0, arm(fd));
		memset(gch_page_addr(base, page), 2, 256 * GCH_PAGE_SIZE);
		/* the fd first, the mappings keep the heap until they go */
		if (round & 1) {
			close(fd);
			munmap(base, 2 * GCH_ARENA_SIZE);
		} else {
			gch_heap_teardown(fd, base, 2, NULL, NULL);
		}
	}
	EXPECT_EQ(ref0, gch_module_refcnt());
	/* 3 rounds of 4 MiB: the memory came back (allow for noise) */
	free0 = meminfo_kb("MemFree");
	{
		int fd = gch_open();
		char *base = gch_reserve(1);
		__u64 page;

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, gch_map_arena(fd, base, 0));
		ASSERT_EQ(0, gch_alloc(fd, 1024, &page, NULL));
		memset(gch_page_addr(base, page), 1, 1024 * GCH_PAGE_SIZE);
		ASSERT_EQ(0, arm(fd));
		gch_heap_teardown(fd, base, 1, NULL, NULL);
	}
	free1 = meminfo_kb("MemFree");
	EXPECT_LT(free0 - free1, 6144) TH_LOG("MemFree %ld -> %ld KiB", free0,
					      free1);
	EXPECT_EQ(ref0, gch_module_refcnt());
}

/* ---- counters and tracepoints ---- */

#define TRACING "/sys/kernel/tracing"

static bool trace_enable(const char *event, bool on)
{
	char path[256];

	snprintf(path, sizeof(path), TRACING "/events/gcheap/%s/enable", event);
	return !gch_write_file(path, on ? "1" : "0");
}

/* How many lines of the trace buffer name @event for heap @id. */
static int trace_count(const char *event, __u64 id)
{
	char line[512], want[64], heap[48];
	int n = 0;
	FILE *f = fopen(TRACING "/trace", "r");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), " %s: ", event);
	snprintf(heap, sizeof(heap), "heap=%llu ", (unsigned long long)id);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, want) && strstr(line, heap))
			n++;
	fclose(f);
	return n;
}

TEST_F(dt, counters_and_tracepoints)
{
	static const char *const events[] = {
		"gcheap_dirty_arm", "gcheap_dirty_collect",
		"gcheap_dirty_disarm", "gcheap_dirty_fault",
	};
	__u64 bm[WORDS(NPAGES)];
	struct gch_dirty da, dc1, dc2;
	struct gch_stats st, old;
	struct gch_version v;
	bool tracing;

	ASSERT_EQ(0, gch_version(self->fd, &v));
	tracing = !access(TRACING "/events/gcheap/gcheap_dirty_arm/enable",
			  W_OK);
	if (tracing) {
		gch_write_file(TRACING "/trace", "");
		for (int i = 0; i < 4; i++) {
			EXPECT_TRUE(trace_enable(events[i], true));
		}
	} else {
		TH_LOG("no tracefs: tracepoints not checked");
	}
	ASSERT_EQ(0, dirty_ioc(self->fd, GCH_DIRTY_ARM, 0, 0, NULL, &da));
	for (unsigned int i = 0; i < 3; i++)
		pg(self, i)[0] = 1;
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &dc1));
	pg(self, 9)[0] = 1;
	ASSERT_EQ(0, collect(self->fd, self->span, NPAGES, bm, &dc2));
	ASSERT_EQ(0, disarm(self->fd));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(1, st.dirty_arms);
	EXPECT_EQ(2, st.dirty_collects);
	EXPECT_EQ(4, st.dirty_faults);
	EXPECT_EQ(3, dc1.dirty_pages);
	EXPECT_EQ(1, dc2.dirty_pages);
	EXPECT_EQ(da.wp_pages + dc1.wp_pages + dc2.wp_pages,
		  st.dirty_wp_pages);
	EXPECT_EQ(4, dc1.wp_pages + dc2.wp_pages);
	/* an older caller's size still works and stops before the new fields */
	memset(&old, 0xee, sizeof(old));
	old.size = offsetof(struct gch_stats, dirty_faults);
	old.flags = 0;
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_STATS, &old));
	EXPECT_EQ(st.populated, old.populated);
	EXPECT_EQ(0xeeeeeeeeeeeeeeeeULL, old.dirty_faults);
	/* the new fields are output: ignored on input */
	memset(&old, 0, sizeof(old));
	old.size = sizeof(old);
	old.dirty_wp_pages = 1;
	EXPECT_EQ(0, gch_ioctl(self->fd, GCH_IOC_STATS, &old));
	if (!tracing)
		return;
	for (int i = 0; i < 4; i++)
		trace_enable(events[i], false);
	EXPECT_EQ(1, trace_count("gcheap_dirty_arm", v.heap_id));
	EXPECT_EQ(2, trace_count("gcheap_dirty_collect", v.heap_id));
	EXPECT_EQ(1, trace_count("gcheap_dirty_disarm", v.heap_id));
	EXPECT_EQ(4, trace_count("gcheap_dirty_fault", v.heap_id));
}

/* ---- cost: arming against mprotect(PROT_READ) of the same pages ---- */

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Median of @n samples (sorts them). */
static __u64 median(__u64 *t, unsigned int n)
{
	qsort(t, n, sizeof(*t), cmp_u64);
	return t[n / 2];
}

/*
 * Not a timed assertion: the numbers go to the log (and bench/dirty.md).
 * Each round dirties every page, then times mprotect(PROT_READ) of the
 * arena, ARM (after making it writable again), COLLECT of every page
 * dirtied once more, and COLLECT of the same range with nothing written
 * (what copying the bitmap out costs: uAPI, "copied out, not mapped"); the
 * median of the rounds is reported per system page.
 */
TEST_F_TIMEOUT(dt, arm_cost_vs_mprotect, 300)
{
	enum { ROUNDS = 7 };
	const unsigned int npages = 2048;	/* 16 MiB, 4096 system pages */
	unsigned long sys = npages * GCH_PAGE_SIZE / self->spg;
	__u64 *bm = calloc(WORDS(npages), 8);
	__u64 page, t0, t_mprot[ROUNDS], t_arm[ROUNDS], t_coll[ROUNDS];
	__u64 t_clean[ROUNDS], mprot, armed, coll, clean;
	struct gch_dirty d;
	char *p;

	ASSERT_NE(NULL, bm);
	ASSERT_EQ(0, gch_alloc(self->fd, npages, &page, NULL));
	p = gch_page_addr(self->base, page);
	for (unsigned int r = 0; r < ROUNDS; r++) {
		memset(p, 1, npages * GCH_PAGE_SIZE);
		t0 = now_ns();
		ASSERT_EQ(0, mprotect(self->base, GCH_ARENA_SIZE, PROT_READ));
		t_mprot[r] = now_ns() - t0;
		ASSERT_EQ(0, mprotect(self->base, GCH_ARENA_SIZE,
				      PROT_READ | PROT_WRITE));
		memset(p, 2, npages * GCH_PAGE_SIZE);
		t0 = now_ns();
		ASSERT_EQ(0, dirty_ioc(self->fd, GCH_DIRTY_ARM, 0, 0, NULL,
				       &d));
		t_arm[r] = now_ns() - t0;
		EXPECT_LE(sys, d.wp_pages);
		memset(p, 3, npages * GCH_PAGE_SIZE);
		t0 = now_ns();
		ASSERT_EQ(0, collect(self->fd, page, npages, bm, &d));
		t_coll[r] = now_ns() - t0;
		EXPECT_EQ(npages, d.dirty_pages);
		EXPECT_EQ(sys, d.wp_pages);
		/* nothing written since: the cost of reading the range */
		t0 = now_ns();
		ASSERT_EQ(0, collect(self->fd, page, npages, bm, &d));
		t_clean[r] = now_ns() - t0;
		EXPECT_EQ(0, d.dirty_pages);
		ASSERT_EQ(0, disarm(self->fd));
	}
	mprot = median(t_mprot, ROUNDS);
	armed = median(t_arm, ROUNDS);
	coll = median(t_coll, ROUNDS);
	clean = median(t_clean, ROUNDS);
	TH_LOG("%lu resident system pages, median of %d: mprotect(PROT_READ) %llu ns (%llu ns/page), ARM %llu ns (%llu ns/page, %.2fx mprotect), COLLECT all dirty %llu ns (%llu ns/page), COLLECT none dirty %llu ns (%llu ns per heap page of range)",
	       sys, ROUNDS, (unsigned long long)mprot,
	       (unsigned long long)(mprot / sys), (unsigned long long)armed,
	       (unsigned long long)(armed / sys), (double)armed / mprot,
	       (unsigned long long)coll, (unsigned long long)(coll / sys),
	       (unsigned long long)clean,
	       (unsigned long long)(clean / npages));
	free(bm);
}

TEST_HARNESS_MAIN

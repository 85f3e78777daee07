// SPDX-License-Identifier: MIT
/*
 * zero_test: GCH_SPAN_ZEROED, scavenging and resident accounting.
 *
 * GCH_SPAN_ZEROED has two sides.  Safety: when the flag is set every byte of
 * the span reads zero (checked on every allocation here).  Exactness: the
 * flag is set exactly when each page was never written since the kernel gave
 * it or was released since; a span with a written page lacks it.
 *
 * A background scavenger (GCH_FEAT_SCAVENGER) may release free pages at any
 * moment, which legitimately turns a dirty page clean.  Tests that assert a
 * dirty page stays dirty first announce GCH_GC_MARK_START, which keeps the
 * scavenger off the heap; without GCH_IOC_GC_PHASE they only check safety.
 */
#include <pthread.h>

#include "gch_test.h"

FIXTURE(z) {
	int fd;
	char *base;
	long spg;		/* system page size */
	bool exact;		/* nothing can release pages behind our back */
};

FIXTURE_SETUP(z)
{
	self->spg = sysconf(_SC_PAGESIZE);
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(1);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	self->exact = !gch_has_feature(self->fd, GCH_FEAT_SCAVENGER);
	if (gch_has_feature(self->fd, GCH_FEAT_GC_PHASE)) {
		struct gch_gc_phase g = { .size = sizeof(g),
					  .phase = GCH_GC_MARK_START,
					  .cycle = 1 };

		ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, &g));
		self->exact = true;
	}
}

FIXTURE_TEARDOWN(z)
{
	gch_heap_teardown(self->fd, self->base, 1, NULL, NULL);
}

static bool all_zero(const char *p, size_t len)
{
	const unsigned long *w = (const unsigned long *)p;

	for (size_t i = 0; i < len / sizeof(*w); i++) {
		if (w[i])
			return false;
	}
	return true;
}

/*
 * Allocate; with @verify, check the safety side of the flag by reading the
 * span.  Reading populates pages, so a test that later needs the pages to be
 * untouched passes verify=false.  Returns the out flags.
 */
static __u32 alloc_checked(struct __test_metadata *_metadata,
			   FIXTURE_DATA(z) *self, __u32 n, __u64 *page,
			   bool verify)
{
	__u32 oflags = ~0U;

	ASSERT_EQ(0, gch_alloc(self->fd, n, page, &oflags));
	EXPECT_EQ(0, oflags & ~GCH_SPAN_ZEROED) TH_LOG("unknown out_flags");
	if (verify && (oflags & GCH_SPAN_ZEROED)) {
		EXPECT_TRUE(all_zero(gch_page_addr(self->base, *page),
				     (size_t)n * GCH_PAGE_SIZE))
			TH_LOG("span %llu+%u flagged ZEROED holds data",
			       (unsigned long long)*page, n);
	}
	return oflags;
}

TEST_F(z, fresh_spans_zeroed)
{
	static const __u32 sizes[] = { 1, 2, 3, 8, 100, 1000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		__u64 page;
		__u32 f = alloc_checked(_metadata, self, sizes[i], &page, true);

		EXPECT_EQ(GCH_SPAN_ZEROED, f) TH_LOG("%u pages", sizes[i]);
	}
}

TEST_F(z, untouched_free_stays_zeroed)
{
	__u64 a, b;

	EXPECT_EQ(GCH_SPAN_ZEROED, alloc_checked(_metadata, self, 8, &a, false));
	ASSERT_EQ(0, gch_free1(self->fd, a, 8));
	EXPECT_EQ(GCH_SPAN_ZEROED, alloc_checked(_metadata, self, 8, &b, true));
	EXPECT_EQ(a, b);
}

TEST_F(z, written_then_freed_not_zeroed)
{
	__u64 a, b;
	char *p;

	alloc_checked(_metadata, self, 4, &a, true);
	p = gch_page_addr(self->base, a);
	memset(p, 0x77, 4 * GCH_PAGE_SIZE);
	ASSERT_EQ(0, gch_free1(self->fd, a, 4));
	b = ~0ULL;
	if (self->exact) {
		EXPECT_EQ(0, alloc_checked(_metadata, self, 4, &b, true));
	} else {
		alloc_checked(_metadata, self, 4, &b, true);
	}
	EXPECT_EQ(a, b);
}

TEST_F(z, one_dirty_byte_spoils_the_span)
{
	__u64 a, b;

	alloc_checked(_metadata, self, 16, &a, true);
	gch_page_addr(self->base, a + 9)[GCH_PAGE_SIZE - 1] = 1;
	ASSERT_EQ(0, gch_free1(self->fd, a, 16));
	if (!self->exact)
		SKIP(return, "background scavenger cannot be held off");
	EXPECT_EQ(0, alloc_checked(_metadata, self, 16, &b, true));
}

/* Zeroed-ness is tracked per page: clean pages of a dirty span stay clean. */
TEST_F(z, tracked_per_page)
{
	__u64 a, p0, p12, p3;

	alloc_checked(_metadata, self, 4, &a, false);
	ASSERT_EQ(0, a);
	gch_page_addr(self->base, 3)[100] = 1;
	ASSERT_EQ(0, gch_free1(self->fd, a, 4));
	EXPECT_EQ(GCH_SPAN_ZEROED, alloc_checked(_metadata, self, 1, &p0, true));
	EXPECT_EQ(GCH_SPAN_ZEROED, alloc_checked(_metadata, self, 2, &p12, true));
	ASSERT_EQ(0, p0);
	ASSERT_EQ(1, p12);
	if (!self->exact)
		SKIP(return, "background scavenger cannot be held off");
	EXPECT_EQ(0, alloc_checked(_metadata, self, 1, &p3, true));
	EXPECT_EQ(3, p3);
}

TEST_F(z, read_touch_is_safe)
{
	__u64 a, b;
	volatile char *p;

	alloc_checked(_metadata, self, 2, &a, true);
	p = gch_page_addr(self->base, a);
	for (size_t off = 0; off < 2 * GCH_PAGE_SIZE; off += self->spg) {
		EXPECT_EQ(0, p[off]);
	}
	ASSERT_EQ(0, gch_free1(self->fd, a, 2));
	/* reading populated zero memory: the flag may go either way */
	alloc_checked(_metadata, self, 2, &b, true);
	EXPECT_EQ(a, b);
}

TEST_F(z, scavenge_all_zeroes_again)
{
	struct gch_stats st0, st;
	__u64 a, b, released = ~0ULL;
	char *p;

	alloc_checked(_metadata, self, 4, &a, true);
	p = gch_page_addr(self->base, a);
	memset(p, 0x3c, 4 * GCH_PAGE_SIZE);
	ASSERT_EQ(0, gch_free1(self->fd, a, 4));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	EXPECT_EQ(4 * GCH_PAGE_SIZE, st0.free_resident_bytes);
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, &released));
	EXPECT_EQ(st0.free_resident_bytes, released);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.free_resident_bytes);
	EXPECT_EQ(0, st.resident_bytes);
	EXPECT_EQ(st0.released_ioctl_bytes + released, st.released_ioctl_bytes);
	/* released pages are clean again and read zero through the mapping */
	EXPECT_EQ(GCH_SPAN_ZEROED, alloc_checked(_metadata, self, 4, &b, true));
	EXPECT_EQ(a, b);
	EXPECT_TRUE(all_zero(p, 4 * GCH_PAGE_SIZE));
	/* nothing left to release */
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, &released));
	EXPECT_EQ(0, released);
}

TEST_F(z, scavenge_spares_live_spans)
{
	struct gch_stats st;
	__u64 live, dead, released;
	char *lp;

	alloc_checked(_metadata, self, 2, &live, true);
	alloc_checked(_metadata, self, 2, &dead, true);
	lp = gch_page_addr(self->base, live);
	memset(lp, 0x11, 2 * GCH_PAGE_SIZE);
	memset(gch_page_addr(self->base, dead), 0x22, 2 * GCH_PAGE_SIZE);
	ASSERT_EQ(0, gch_free1(self->fd, dead, 2));
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, &released));
	EXPECT_EQ(2 * GCH_PAGE_SIZE, released);
	for (size_t i = 0; i < 2 * GCH_PAGE_SIZE; i++) {
		if (lp[i] != 0x11) {
			ASSERT_EQ(0x11, lp[i]) TH_LOG("live byte %zu", i);
		}
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(2 * GCH_PAGE_SIZE, st.resident_bytes);
	EXPECT_EQ(0, st.free_resident_bytes);
}

TEST_F(z, scavenge_max_bytes_caps)
{
	struct gch_stats st0, st;
	__u64 a, r1 = ~0ULL, r2 = ~0ULL;

	alloc_checked(_metadata, self, 16, &a, true);
	memset(gch_page_addr(self->base, a), 0x5, 16 * GCH_PAGE_SIZE);
	ASSERT_EQ(0, gch_free1(self->fd, a, 16));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	ASSERT_EQ(16 * GCH_PAGE_SIZE, st0.free_resident_bytes);
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL,
				  4 * GCH_PAGE_SIZE, &r1));
	EXPECT_LE(r1, 4 * GCH_PAGE_SIZE);
	EXPECT_LT(0, r1);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(st0.free_resident_bytes - r1, st.free_resident_bytes);
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, &r2));
	EXPECT_EQ(16 * GCH_PAGE_SIZE, r1 + r2);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.free_resident_bytes);
}

TEST_F(z, scavenge_with_budget_is_consistent)
{
	struct gch_stats st0, st;
	__u64 a, released = ~0ULL;

	alloc_checked(_metadata, self, 8, &a, true);
	memset(gch_page_addr(self->base, a), 0x9, 8 * GCH_PAGE_SIZE);
	ASSERT_EQ(0, gch_free1(self->fd, a, 8));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	ASSERT_EQ(0, gch_scavenge(self->fd, 0, 0, &released));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_LE(released, st0.free_resident_bytes);
	EXPECT_EQ(st0.free_resident_bytes - released, st.free_resident_bytes);
	EXPECT_EQ(st0.released_ioctl_bytes + released, st.released_ioctl_bytes);
}

TEST_F(z, resident_counts_system_pages)
{
	struct gch_stats st0, st;
	__u64 a;
	char *p;

	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	EXPECT_EQ(0, st0.resident_bytes);
	alloc_checked(_metadata, self, 4, &a, false);
	p = gch_page_addr(self->base, a);
	/* one byte: one system page populated */
	p[0] = 1;
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(self->spg, st.resident_bytes);
	EXPECT_EQ(st0.faults + 1, st.faults);
	/* every system page of the span */
	for (size_t off = 0; off < 4 * GCH_PAGE_SIZE; off += self->spg)
		p[off] = 1;
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(4 * GCH_PAGE_SIZE, st.resident_bytes);
	EXPECT_EQ(st0.faults + 4 * GCH_PAGE_SIZE / self->spg, st.faults);
	EXPECT_EQ(0, st.free_resident_bytes);
	/* freeing keeps the memory: it becomes free resident */
	ASSERT_EQ(0, gch_free1(self->fd, a, 4));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(4 * GCH_PAGE_SIZE, st.resident_bytes);
	EXPECT_EQ(4 * GCH_PAGE_SIZE, st.free_resident_bytes);
}

/*
 * GCH_IOC_SCAVENGE's own struct sits in a free page it would release: the
 * call pins that page for its write-back, and a pinned page is never
 * released (dropping it would free nothing and hide the result), so the
 * result is seen, the page stays resident and dirty, and the span holding it
 * must not come back flagged ZEROED.
 */
TEST_F(z, scavenge_writes_back_into_released_page)
{
	struct gch_scavenge *sc;
	struct gch_stats st;
	__u64 a, b;
	__u32 f;

	alloc_checked(_metadata, self, 2, &a, false);
	memset(gch_page_addr(self->base, a), 0x21, 2 * GCH_PAGE_SIZE);
	ASSERT_EQ(0, gch_free1(self->fd, a, 2));
	sc = (void *)gch_page_addr(self->base, a);
	*sc = (struct gch_scavenge){ .size = sizeof(*sc),
				     .flags = GCH_SCAVENGE_ALL };
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_SCAVENGE, sc));
	EXPECT_EQ(2 * GCH_PAGE_SIZE - self->spg, sc->released_bytes);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(self->spg, st.resident_bytes) TH_LOG("the written-back page");
	EXPECT_EQ(self->spg, st.free_resident_bytes);
	f = alloc_checked(_metadata, self, 2, &b, true);
	EXPECT_EQ(a, b);
	EXPECT_EQ(0, f) TH_LOG("a page holding the ioctl's result is not zero");
}

TEST_F(z, scavenge_refuses_bad_flags)
{
	__u64 released;

	EXPECT_EQ(-EINVAL, gch_scavenge(self->fd, GCH_SCAVENGE_ALL << 1, 0,
					&released));
}

/* ---- scavenging racing with the owner's threads ---- */

struct scav_racer {
	pthread_t tid;
	int fd;
	volatile int stop;
	unsigned long calls;
};

static void *scav_racer_main(void *arg)
{
	struct scav_racer *r = arg;

	while (!r->stop) {
		gch_scavenge(r->fd, GCH_SCAVENGE_ALL, 0, NULL);
		r->calls++;
	}
	return NULL;
}

/*
 * Spans are allocated, filled, checked and freed while another thread
 * scavenges everything free, over and over.  A release that raced with an
 * allocation would zap a live page and lose the pattern; a ZEROED flag that
 * raced with a release would promise zeroes over old data.
 */
TEST_F_TIMEOUT(z, scavenge_races_alloc, 120)
{
	struct scav_racer r = { .fd = self->fd };
	__u64 rs = gch_seed() | 1;

	ASSERT_EQ(0, pthread_create(&r.tid, NULL, scav_racer_main, &r));
	for (int i = 0; i < 1500; i++) {
		__u32 n = rnd_range(&rs, 1, 6);
		__u64 page;
		__u32 oflags;
		char *p;
		bool ok = true;

		ASSERT_EQ(0, gch_alloc(self->fd, n, &page, &oflags));
		p = gch_page_addr(self->base, page);
		for (size_t off = 0; off < n * GCH_PAGE_SIZE; off += 512) {
			if ((oflags & GCH_SPAN_ZEROED) && p[off])
				ok = false;
			p[off] = (char)(i | 1);
		}
		ASSERT_TRUE(ok) TH_LOG("round %d: ZEROED span held data", i);
		for (size_t off = 0; off < n * GCH_PAGE_SIZE; off += 512) {
			if (p[off] != (char)(i | 1)) {
				ASSERT_EQ((char)(i | 1), p[off])
					TH_LOG("round %d: live page lost its data", i);
			}
		}
		/* keep a few spans live across rounds so first fit moves */
		if (i % 4) {
			ASSERT_EQ(0, gch_free1(self->fd, page, n));
		}
	}
	r.stop = 1;
	pthread_join(r.tid, NULL);
	TH_LOG("%lu racing scavenges", r.calls);
}

struct dirty_writer {
	pthread_t tid;
	volatile char *p;
	size_t len;
	volatile int stop;
};

static void *dirty_writer_main(void *arg)
{
	struct dirty_writer *w = arg;
	size_t off = 0;

	while (!w->stop) {
		w->p[off] = 0x55;
		off = (off + 4096 + 8) % w->len;
	}
	return NULL;
}

/*
 * A (buggy) program keeps writing into a freed span while the heap is being
 * scavenged.  The kernel cannot stop it, but must never call those pages
 * zeroed afterwards: every write lands in a page that is then resident.
 */
TEST_F_TIMEOUT(z, writes_to_free_pages_vs_scavenge, 120)
{
	for (int round = 0; round < 20; round++) {
		struct dirty_writer w;
		__u64 page, again;

		ASSERT_EQ(0, gch_alloc(self->fd, 4, &page, NULL));
		ASSERT_EQ(0, gch_free1(self->fd, page, 4));
		w = (struct dirty_writer){ .p = gch_page_addr(self->base, page),
					   .len = 4 * GCH_PAGE_SIZE };
		ASSERT_EQ(0, pthread_create(&w.tid, NULL, dirty_writer_main, &w));
		for (int i = 0; i < 50; i++) {
			ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, NULL));
		}
		w.stop = 1;
		pthread_join(w.tid, NULL);
		/* safety check of the flag happens inside alloc_checked */
		alloc_checked(_metadata, self, 4, &again, true);
		ASSERT_EQ(page, again);
		ASSERT_EQ(0, gch_free1(self->fd, again, 4));
		ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, NULL));
	}
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * populate_test: batched first touch.  GCH_IOC_SPAN_ALLOC populates a span
 * of at most GCH_POPULATE_MAX_PAGES heap pages when the owner's mapping of
 * its arena is marked madvise(MADV_SEQUENTIAL) (uapi "Populating").
 *
 *  - fault counts: a span written page by page costs one fault per system
 *    page (256 per MiB with 4 KiB pages) on a mapping without the advice and
 *    none with it, in the kernel's counters (faults, populated) and in the
 *    process's own minor faults; both figures are printed per MiB;
 *  - when: only spans up to GCH_POPULATE_MAX_PAGES, only on the writable,
 *    advised mapping the arena was mmap()ed at last (MADV_NORMAL/RANDOM,
 *    read-only, unmapped, another or a new mapping: nothing), already
 *    resident pages skipped; STATS with and without the populated field;
 *  - GCH_SPAN_ZEROED stays exact: fresh populated spans read zero and are
 *    ZEROED, their pages count as touched once freed, and after a release
 *    they are ZEROED and populated again; resident memory always equals
 *    (faults + populated) pages minus every release;
 *  - the hard limit refuses a small span like any other, nothing populated;
 *  - fork: a child of an arena VMA let through by MADV_DOFORK gets none of
 *    the populated pages;
 *  - memory cgroups: populated pages are charged to the caller's group
 *    before any touch; with memory.max reached in the middle of populating,
 *    every call still succeeds, populating stops part-way without the OOM
 *    killer, the pages it got are resident, counted and charged, and
 *    freeing, scavenging and closing give every one back (memory.current);
 *  - races: populating allocations against a thread scavenging everything
 *    free and one reading free pages (faults competing for the same
 *    entries): live data survives, ZEROED spans read zero, counters balance.
 *
 * The background scavenger is held off with GCH_GC_MARK_START wherever a
 * test counts resident memory exactly.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include "gch_test.h"
#include "scav_test.h"

#ifndef offsetofend
#define offsetofend(T, m)	(offsetof(T, m) + sizeof(((T *)0)->m))
#endif
#define SPAN_BYTES(n)	((__u64)(n) * GCH_PAGE_SIZE)
#define MIB_F		(1024.0 * 1024.0)

/* A span and what its allocation populated (from the stats' counter). */
struct pop_span {
	__u64 page;
	__u32 npages, out_flags;
	__u64 populated_bytes;
};

static int alloc_pop(int fd, __u32 npages, struct pop_span *out)
{
	struct gch_stats s0, s1;
	int ret;

	if (gch_stats(fd, &s0))
		return -EIO;
	ret = gch_alloc(fd, npages, &out->page, &out->out_flags);
	if (ret)
		return ret;
	if (gch_stats(fd, &s1))
		return -EIO;
	out->npages = npages;
	out->populated_bytes = (s1.populated - s0.populated) *
			       (__u64)sysconf(_SC_PAGESIZE);
	return 0;
}

/* Turn populating on or off for the mapping of an arena at @addr. */
static int advise(void *addr, int advice)
{
	return madvise(addr, GCH_ARENA_SIZE, advice) ? -errno : 0;
}

static bool all_zero(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i])
			return false;
	}
	return true;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

FIXTURE(pop) {
	int fd;
	char *base;
	long spg;
};

FIXTURE_SETUP(pop)
{
	struct gch_stats probe;

	self->spg = sysconf(_SC_PAGESIZE);
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(2);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	/* a module that knows populating takes a STATS struct holding it */
	memset(&probe, 0, sizeof(probe));
	probe.size = sizeof(probe);
	probe.populated = 1;	/* output: ignored on input */
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_STATS, &probe));
	/* populate small spans of arena 0 */
	ASSERT_EQ(0, advise(self->base, MADV_SEQUENTIAL));
	/* no background release: resident memory is ours to count */
	ASSERT_EQ(0, gch_phase(self->fd, GCH_GC_MARK_START, 1, 0));
}

FIXTURE_TEARDOWN(pop)
{
	gch_heap_teardown(self->fd, self->base, 2, NULL, NULL);
}

static __u64 released_all(const struct gch_stats *st)
{
	return st->released_bg_bytes + st->released_eager_bytes +
	       st->released_shrink_bytes + st->released_memcg_bytes +
	       st->released_ioctl_bytes;
}

/* resident = (faults + populated) pages - every release */
#define EXPECT_BALANCED(st, spg)					\
	EXPECT_EQ(((st)->faults + (st)->populated) * (__u64)(spg),	\
		  (st)->resident_bytes + released_all(st))		\
		TH_LOG("faults %llu populated %llu resident %llu",	\
		       (unsigned long long)(st)->faults,		\
		       (unsigned long long)(st)->populated,		\
		       (unsigned long long)(st)->resident_bytes)

/* Write one byte per system page of heap pages [page, page + n). */
static void touch_pages(char *base, __u64 page, __u32 n, long spg, char val)
{
	char *p = gch_page_addr(base, page);

	for (size_t off = 0; off < SPAN_BYTES(n); off += spg)
		p[off] = val;
}

#define NSPANS	512	/* one-page spans: 4 MiB, the allocator's common case */

TEST_F(pop, faults_per_mib)
{
	struct gch_stats st0, st1, st2;
	struct pop_span a;
	long f0, f1, f2;
	double mib = SPAN_BYTES(NSPANS) / MIB_F;

	/* before: no advice, the first touch of every system page faults */
	ASSERT_EQ(0, advise(self->base, MADV_NORMAL));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	f0 = minflt();
	for (int i = 0; i < NSPANS; i++) {
		ASSERT_EQ(0, alloc_pop(self->fd, 1, &a));
		EXPECT_EQ(0, a.populated_bytes);
		touch_pages(self->base, a.page, 1, self->spg, 1);
	}
	f1 = minflt();
	ASSERT_EQ(0, gch_stats(self->fd, &st1));
	EXPECT_EQ(SPAN_BYTES(NSPANS) / self->spg, st1.faults - st0.faults);
	EXPECT_EQ(0, st1.populated - st0.populated);

	/* after: populated in the allocation, no fault at all */
	ASSERT_EQ(0, advise(self->base, MADV_SEQUENTIAL));
	for (int i = 0; i < NSPANS; i++) {
		ASSERT_EQ(0, alloc_pop(self->fd, 1, &a));
		EXPECT_EQ(GCH_SPAN_ZEROED, a.out_flags);
		EXPECT_EQ(SPAN_BYTES(1), a.populated_bytes);
		touch_pages(self->base, a.page, 1, self->spg, 2);
	}
	f2 = minflt();
	ASSERT_EQ(0, gch_stats(self->fd, &st2));
	EXPECT_EQ(0, st2.faults - st1.faults);
	EXPECT_EQ(SPAN_BYTES(NSPANS) / self->spg, st2.populated - st1.populated);
	EXPECT_EQ(2 * SPAN_BYTES(NSPANS), st2.resident_bytes);
	/* the loop's own stack and libc may fault a little, never per page */
	EXPECT_LT(f2 - f1, 16);
	EXPECT_BALANCED(&st2, self->spg);
	ksft_print_msg("faults per MiB written: %.1f kernel, %.1f process "
		       "without the advice; %.1f kernel, %.1f process with "
		       "MADV_SEQUENTIAL\n",
		       (st1.faults - st0.faults) / mib, (f1 - f0) / mib,
		       (st2.faults - st1.faults) / mib, (f2 - f1) / mib);
}

TEST_F(pop, populated_pages_are_mapped_zero_and_writable)
{
	struct pop_span a;
	struct gch_stats st;
	char *p;

	ASSERT_EQ(0, alloc_pop(self->fd, GCH_POPULATE_MAX_PAGES, &a));
	EXPECT_EQ(GCH_SPAN_ZEROED, a.out_flags);
	EXPECT_EQ(SPAN_BYTES(GCH_POPULATE_MAX_PAGES), a.populated_bytes);
	p = gch_page_addr(self->base, a.page);
	EXPECT_TRUE(all_zero(p, SPAN_BYTES(GCH_POPULATE_MAX_PAGES)));
	memset(p, 0x5a, SPAN_BYTES(GCH_POPULATE_MAX_PAGES));
	for (size_t i = 0; i < SPAN_BYTES(GCH_POPULATE_MAX_PAGES); i += 999) {
		if (p[i] != 0x5a) {
			ASSERT_EQ(0x5a, p[i]) TH_LOG("byte %zu", i);
		}
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.faults);
	EXPECT_EQ(SPAN_BYTES(GCH_POPULATE_MAX_PAGES) / self->spg, st.populated);
	EXPECT_EQ(SPAN_BYTES(GCH_POPULATE_MAX_PAGES), st.resident_bytes);
	EXPECT_EQ(0, st.free_resident_bytes);
}

/* Small spans on an advised mapping only; the advice can be taken back. */
TEST_F(pop, only_small_spans_when_asked)
{
	static const struct { int advice; __u32 npages; bool pop; } c[] = {
		{ MADV_SEQUENTIAL, 1, true },
		{ MADV_SEQUENTIAL, GCH_POPULATE_MAX_PAGES, true },
		{ MADV_SEQUENTIAL, GCH_POPULATE_MAX_PAGES + 1, false },
		{ MADV_SEQUENTIAL, 1000, false },
		{ MADV_RANDOM, 1, false },
		{ MADV_NORMAL, 3, false },
		{ MADV_SEQUENTIAL, 3, true },
	};
	struct gch_stats st0, st;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct pop_span a;

		ASSERT_EQ(0, advise(self->base, c[i].advice));
		ASSERT_EQ(0, gch_stats(self->fd, &st0));
		ASSERT_EQ(0, alloc_pop(self->fd, c[i].npages, &a));
		EXPECT_EQ(c[i].pop ? SPAN_BYTES(c[i].npages) : 0,
			  a.populated_bytes) TH_LOG("case %zu", i);
		ASSERT_EQ(0, gch_stats(self->fd, &st));
		EXPECT_EQ(a.populated_bytes,
			  st.resident_bytes - st0.resident_bytes);
		EXPECT_EQ(st0.faults, st.faults);
	}
}

/* A STATS struct of the version before populated stops short of it. */
TEST_F(pop, stats_struct_versions)
{
	struct pop_span a;
	struct gch_stats old, st;

	ASSERT_EQ(0, alloc_pop(self->fd, 2, &a));
	memset(&old, 0x66, sizeof(old));
	old.size = offsetof(struct gch_stats, populated);
	old.flags = 0;
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_STATS, &old));
	EXPECT_EQ(0x6666666666666666ULL, old.populated);
	EXPECT_EQ(SPAN_BYTES(2), old.resident_bytes);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(SPAN_BYTES(2) / self->spg, st.populated);
	EXPECT_EQ(sizeof(st), st.size);
}

TEST_F(pop, resident_pages_skipped)
{
	struct pop_span a;
	struct gch_stats st;
	char *p = gch_page_addr(self->base, 0);

	/* a (buggy) write into free page 1 makes its first system page resident */
	p[GCH_PAGE_SIZE] = 1;
	ASSERT_EQ(0, alloc_pop(self->fd, 4, &a));
	ASSERT_EQ(0, a.page);
	EXPECT_EQ(0, a.out_flags) TH_LOG("a resident page: not ZEROED");
	EXPECT_EQ(SPAN_BYTES(4) - self->spg, a.populated_bytes);
	EXPECT_EQ(1, p[GCH_PAGE_SIZE]) TH_LOG("the resident page was replaced");
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(1, st.faults);
	EXPECT_EQ(SPAN_BYTES(4), st.resident_bytes);
	EXPECT_BALANCED(&st, self->spg);
}

TEST_F(pop, needs_the_advised_writable_mapping)
{
	struct pop_span a;
	struct gch_stats st, st2;
	__u64 whole;
	char *other;

	/* arena 1 is created by its mmap and unmapped at once: no mapping */
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
	ASSERT_EQ(0, advise(self->base + GCH_ARENA_SIZE, MADV_SEQUENTIAL));
	ASSERT_EQ(0, munmap(self->base + GCH_ARENA_SIZE, GCH_ARENA_SIZE));
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, &whole, NULL));
	ASSERT_EQ(0, whole);
	ASSERT_EQ(0, alloc_pop(self->fd, 8, &a));
	EXPECT_EQ(GCH_PAGES_PER_ARENA, a.page);
	EXPECT_EQ(0, a.populated_bytes);
	ASSERT_EQ(0, gch_free1(self->fd, whole, GCH_PAGES_PER_ARENA));
	/* arena 0 read-only: nothing either */
	ASSERT_EQ(0, mprotect(self->base, GCH_ARENA_SIZE, PROT_READ));
	ASSERT_EQ(0, alloc_pop(self->fd, 8, &a));
	EXPECT_EQ(0, a.populated_bytes);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.populated);
	EXPECT_EQ(0, st.resident_bytes);
	/* writable again: populated, and readable through the mapping */
	ASSERT_EQ(0, mprotect(self->base, GCH_ARENA_SIZE,
			      PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, alloc_pop(self->fd, 8, &a));
	EXPECT_EQ(SPAN_BYTES(8), a.populated_bytes);
	EXPECT_TRUE(all_zero(gch_page_addr(self->base, a.page), SPAN_BYTES(8)));
	/* mapped again elsewhere: that mapping is the one, once advised */
	other = gch_mmap(self->fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, other);
	ASSERT_EQ(0, alloc_pop(self->fd, 2, &a));
	EXPECT_EQ(0, a.populated_bytes) TH_LOG("the new mapping has no advice");
	ASSERT_EQ(0, advise(other, MADV_SEQUENTIAL));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	ASSERT_EQ(0, alloc_pop(self->fd, 2, &a));
	EXPECT_EQ(SPAN_BYTES(2), a.populated_bytes);
	other[a.page * GCH_PAGE_SIZE] = 9;
	other[a.page * GCH_PAGE_SIZE + self->spg] = 9;
	ASSERT_EQ(0, gch_stats(self->fd, &st2));
	EXPECT_EQ(st.faults, st2.faults) TH_LOG("writes through it faulted");
	/* the first mapping shares the pages (its touch faults, installs none) */
	EXPECT_EQ(9, gch_page_addr(self->base, a.page)[0]);
	munmap(other, GCH_ARENA_SIZE);
	/* that mapping gone, nothing is populated until the arena is mapped */
	ASSERT_EQ(0, alloc_pop(self->fd, 2, &a));
	EXPECT_EQ(0, a.populated_bytes);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, alloc_pop(self->fd, 2, &a));
	EXPECT_EQ(0, a.populated_bytes) TH_LOG("a new mapping has no advice");
	ASSERT_EQ(0, advise(self->base, MADV_SEQUENTIAL));
	ASSERT_EQ(0, alloc_pop(self->fd, 2, &a));
	EXPECT_EQ(SPAN_BYTES(2), a.populated_bytes);
	EXPECT_TRUE(all_zero(gch_page_addr(self->base, a.page), SPAN_BYTES(2)));
}

TEST_F(pop, zeroed_after_release_and_repopulation)
{
	struct pop_span a, b, c, d;
	struct gch_stats st;
	__u64 released = 0;
	char *p;

	ASSERT_EQ(0, alloc_pop(self->fd, 8, &a));
	EXPECT_EQ(GCH_SPAN_ZEROED, a.out_flags);
	EXPECT_EQ(SPAN_BYTES(8), a.populated_bytes);
	p = gch_page_addr(self->base, a.page);
	EXPECT_TRUE(all_zero(p, SPAN_BYTES(8)));
	memset(p, 0xc3, SPAN_BYTES(8));
	ASSERT_EQ(0, gch_free1(self->fd, a.page, 8));

	/* resident again, dirty: not ZEROED, nothing to populate */
	ASSERT_EQ(0, alloc_pop(self->fd, 8, &b));
	EXPECT_EQ(a.page, b.page);
	EXPECT_EQ(0, b.out_flags);
	EXPECT_EQ(0, b.populated_bytes);
	EXPECT_EQ((char)0xc3, p[SPAN_BYTES(8) - 1]);
	ASSERT_EQ(0, gch_free1(self->fd, b.page, 8));

	/* released: zero again, ZEROED, populated again, reads zero */
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, &released));
	EXPECT_EQ(SPAN_BYTES(8), released);
	ASSERT_EQ(0, alloc_pop(self->fd, 8, &c));
	EXPECT_EQ(a.page, c.page);
	EXPECT_EQ(GCH_SPAN_ZEROED, c.out_flags);
	EXPECT_EQ(SPAN_BYTES(8), c.populated_bytes);
	EXPECT_TRUE(all_zero(p, SPAN_BYTES(8)));

	/* populated but never written: it counts as touched once freed */
	ASSERT_EQ(0, gch_free1(self->fd, c.page, 8));
	ASSERT_EQ(0, alloc_pop(self->fd, 8, &d));
	EXPECT_EQ(0, d.out_flags);
	EXPECT_TRUE(all_zero(p, SPAN_BYTES(8)));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.faults);
	EXPECT_EQ(2 * SPAN_BYTES(8) / self->spg, st.populated);
	EXPECT_EQ(SPAN_BYTES(8), st.resident_bytes);
	EXPECT_BALANCED(&st, self->spg);
}

/*
 * The module takes a populated run's pages as one block where it can
 * (kmod/arena.c, GCH_POPULATE_ORDER) and splits it: every page must still
 * be released on its own.  A 16-page span populated at once, then half of
 * its pages freed and released while the other half stays in a span: the
 * released half reads zero when populated again, the kept half keeps its
 * bytes, and the counters balance.
 */
TEST_F(pop, half_a_populated_run_released)
{
	struct pop_span a, b, c, d;
	struct gch_stats st;
	__u64 released = 0;
	char *p;

	ASSERT_EQ(0, alloc_pop(self->fd, GCH_POPULATE_MAX_PAGES, &a));
	ASSERT_EQ(SPAN_BYTES(GCH_POPULATE_MAX_PAGES), a.populated_bytes);
	p = gch_page_addr(self->base, a.page);
	for (size_t off = 0; off < SPAN_BYTES(GCH_POPULATE_MAX_PAGES);
	     off += self->spg)
		p[off] = (char)(1 + off / self->spg);
	ASSERT_EQ(0, gch_free1(self->fd, a.page, GCH_POPULATE_MAX_PAGES));

	/* the same pages again, as two spans: resident, nothing populated */
	ASSERT_EQ(0, alloc_pop(self->fd, GCH_POPULATE_MAX_PAGES / 2, &b));
	ASSERT_EQ(0, alloc_pop(self->fd, GCH_POPULATE_MAX_PAGES / 2, &c));
	ASSERT_EQ(a.page, b.page);
	ASSERT_EQ(a.page + GCH_POPULATE_MAX_PAGES / 2, c.page);
	EXPECT_EQ(0, b.populated_bytes + c.populated_bytes);

	/* release the first half only */
	ASSERT_EQ(0, gch_free1(self->fd, b.page, GCH_POPULATE_MAX_PAGES / 2));
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, &released));
	EXPECT_EQ(SPAN_BYTES(GCH_POPULATE_MAX_PAGES / 2), released);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(SPAN_BYTES(GCH_POPULATE_MAX_PAGES / 2), st.resident_bytes);
	EXPECT_BALANCED(&st, self->spg);
	for (size_t off = SPAN_BYTES(GCH_POPULATE_MAX_PAGES / 2);
	     off < SPAN_BYTES(GCH_POPULATE_MAX_PAGES); off += self->spg)
		EXPECT_EQ((char)(1 + off / self->spg), p[off]);

	/* the released half comes back populated and zero */
	ASSERT_EQ(0, alloc_pop(self->fd, GCH_POPULATE_MAX_PAGES / 2, &d));
	EXPECT_EQ(b.page, d.page);
	EXPECT_EQ(GCH_SPAN_ZEROED, d.out_flags);
	EXPECT_EQ(SPAN_BYTES(GCH_POPULATE_MAX_PAGES / 2), d.populated_bytes);
	EXPECT_TRUE(all_zero(p, SPAN_BYTES(GCH_POPULATE_MAX_PAGES / 2)));

	/* and everything goes back */
	ASSERT_EQ(0, gch_free1(self->fd, c.page, GCH_POPULATE_MAX_PAGES / 2));
	ASSERT_EQ(0, gch_free1(self->fd, d.page, GCH_POPULATE_MAX_PAGES / 2));
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, &released));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.resident_bytes);
	EXPECT_BALANCED(&st, self->spg);
}

TEST_F(pop, hard_limit_refuses_before_populating)
{
	struct pop_span a;
	struct gch_stats st0, st;

	ASSERT_EQ(0, gch_set_hard(self->fd, 6));
	ASSERT_EQ(0, alloc_pop(self->fd, 4, &a));
	EXPECT_EQ(SPAN_BYTES(4), a.populated_bytes);
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	EXPECT_EQ(-ENOMEM, alloc_pop(self->fd, 4, &a));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_HEAP_UNCHANGED(&st0, &st);
	EXPECT_EQ(st0.limit_hits + 1, st.limit_hits);
	EXPECT_EQ(st0.populated, st.populated);
	EXPECT_EQ(st0.resident_bytes, st.resident_bytes);
	ASSERT_EQ(0, alloc_pop(self->fd, 2, &a));
	EXPECT_EQ(SPAN_BYTES(2), a.populated_bytes);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(6, st.span_pages);
	EXPECT_EQ(SPAN_BYTES(6), st.resident_bytes);
}

TEST_F(pop, debugfs_counts_populated)
{
	struct pop_span a;
	struct gch_version v;
	char path[160], line[128];
	long val = -1;
	FILE *f;

	if (!gch_debugfs_ready())
		SKIP(return, "no debugfs");
	ASSERT_EQ(0, alloc_pop(self->fd, 3, &a));
	ASSERT_EQ(0, gch_version(self->fd, &v));
	snprintf(path, sizeof(path), "/sys/kernel/debug/gcheap/%d-%llu/stats",
		 getpid(), (unsigned long long)v.heap_id);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f) TH_LOG("%s", path);
	while (fgets(line, sizeof(line), f))
		sscanf(line, "populated %ld", &val);
	fclose(f);
	EXPECT_EQ((long)(SPAN_BYTES(3) / self->spg), val);
}

static int child_reads(void *arg)
{
	volatile char *p = arg;

	return p[0] == 0x42 ? 0 : 1;	/* any access should kill it */
}

/*
 * Populated PTEs are ordinary ones: a fork child of a VMA let through by
 * MADV_DOFORK still gets none of them (VM_MIXEDMAP makes fork copy PTEs,
 * which the module undoes), and the owner keeps its data.
 */
TEST_F(pop, fork_child_gets_no_populated_page)
{
	struct pop_span a;
	struct gch_stats st0, st;
	int status;
	char *p;

	ASSERT_EQ(0, alloc_pop(self->fd, 4, &a));
	ASSERT_EQ(SPAN_BYTES(4), a.populated_bytes);
	p = gch_page_addr(self->base, a.page);
	memset(p, 0x42, SPAN_BYTES(4));
	ASSERT_EQ(0, madvise(self->base, GCH_ARENA_SIZE, MADV_DOFORK));
	madvise(self->base, GCH_ARENA_SIZE, MADV_KEEPONFORK);
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	status = run_child(child_reads, p);
	EXPECT_TRUE(WIFSIGNALED(status) && (WTERMSIG(status) == SIGBUS ||
					    WTERMSIG(status) == SIGSEGV))
		TH_LOG("child status %#x", status);
	for (size_t i = 0; i < SPAN_BYTES(4); i += 511) {
		if (p[i] != 0x42) {
			ASSERT_EQ(0x42, p[i]) TH_LOG("byte %zu", i);
		}
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(st0.faults, st.faults) TH_LOG("refaults install nothing");
	EXPECT_EQ(SPAN_BYTES(4), st.resident_bytes);
}

/* ---- memory cgroups ---- */

FIXTURE(cg) {
	char dir[128];
	const char *unready;
};

FIXTURE_SETUP(cg)
{
	char path[192];

	if (!gch_cgroup2_ready()) {
		self->unready = "no cgroup v2";
		return;
	}
	snprintf(self->dir, sizeof(self->dir), GCH_CG_ROOT "/gcheap-pop-%d",
		 getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755)) TH_LOG("%s: %s", self->dir,
						    strerror(errno));
	snprintf(path, sizeof(path), "%s/memory.current", self->dir);
	if (gch_read_long(path) < 0)
		self->unready = "memory controller not available";
}

FIXTURE_TEARDOWN(cg)
{
	if (self->dir[0])
		rmdir(self->dir);
}

static long cg_long(const char *dir, const char *file)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return gch_read_long(path);
}

static int cg_write(const char *dir, const char *file, const char *val)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return gch_write_file(path, val);
}

/* "key value" from @dir/memory.events, or -1 */
static long cg_event(const char *dir, const char *key)
{
	char path[192], k[64];
	long v, found = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.events", dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", k, &v) == 2) {
		if (!strcmp(k, key))
			found = v;
	}
	fclose(f);
	return found;
}

#define SLACK	(2L << 20)	/* per-CPU charge stock, the heap's metadata */
#define CG_SPANS 128		/* small spans of GCH_POPULATE_MAX_PAGES: */
#define CG_BYTES ((__u64)CG_SPANS * SPAN_BYTES(GCH_POPULATE_MAX_PAGES))
#define CG_ROOM	(4L << 20)	/* memory.max above the group's usage */

/*
 * Between the child in the group and the parent outside it, in shared
 * memory the child touches before the limit is set.  Once populating has
 * run the group up to memory.max, any kernel allocation the child makes
 * (opening a file, a pipe buffer, a page table) would find the group full
 * and call the OOM killer; so the parent, charged elsewhere, reads the
 * group's files and lifts the limit while the child waits without
 * allocating anything.
 */
struct cg_shared {
	volatile int stage;	/* child: 1 populated */
	volatile int go;	/* parent: limit lifted, go on */
	long c0;		/* memory.current before populating */
	__u64 populated;	/* bytes the allocations populated */
	unsigned int partial;	/* spans populated only in part */
};

struct cg_child {
	const char *dir;
	bool limit;		/* memory.max reached while populating */
	struct cg_shared *sh;
};

/*
 * Child side, in the group: returns the number of the first failed check
 * (printed by the parent), 0 if all passed.
 */
static int cg_child_main(void *arg)
{
	struct cg_child *c = arg;
	struct cg_shared *sh = c->sh;
	long spg = sysconf(_SC_PAGESIZE), c2, c3;
	struct gch_stats st0, st;
	struct gch_span_ref refs[CG_SPANS];
	__u64 page, released = 0, last = 0;
	char buf[32], *base;
	int fd;

	sh->stage = 0;		/* maps the shared page while there is room */
	memset(refs, 0, sizeof(refs));
	if (cg_write(c->dir, "cgroup.procs", "0"))
		return 1;
	fd = gch_open();
	base = gch_reserve(1);
	if (fd < 0 || base == MAP_FAILED || gch_map_arena(fd, base, 0) ||
	    advise(base, MADV_SEQUENTIAL) ||
	    gch_phase(fd, GCH_GC_MARK_START, 1, 0))
		return 2;
	/*
	 * Build the page tables of the spans' range first (a byte per 2 MiB
	 * of a large span, which is not populated), then release the pages, so
	 * populating needs no page table: this tests populating at the limit,
	 * not a page-table allocation there (which, like any, could only end
	 * in the OOM killer).
	 */
	if (gch_alloc(fd, CG_BYTES / GCH_PAGE_SIZE, &page, NULL) || page)
		return 3;
	for (size_t off = 0; off < CG_BYTES; off += 2 << 20)
		base[off] = 1;
	if (gch_free1(fd, 0, CG_BYTES / GCH_PAGE_SIZE) ||
	    gch_scavenge(fd, GCH_SCAVENGE_ALL, 0, NULL) || gch_stats(fd, &st0))
		return 4;

	sh->c0 = cg_long(c->dir, "memory.current");
	if (c->limit) {
		snprintf(buf, sizeof(buf), "%ld", sh->c0 + CG_ROOM);
		if (cg_write(c->dir, "memory.max", buf))
			return 5;
	}
	/* from here to the parent's go: no allocation at all */
	for (int i = 0; i < CG_SPANS; i++) {
		__u64 now;

		if (gch_alloc(fd, GCH_POPULATE_MAX_PAGES, &page, NULL) ||
		    gch_stats(fd, &st))
			return 6;
		refs[i].page = (__u32)page;
		refs[i].npages = GCH_POPULATE_MAX_PAGES;
		now = st.populated - st0.populated;
		if (now - last && now - last <
		    SPAN_BYTES(GCH_POPULATE_MAX_PAGES) / spg)
			sh->partial++;
		last = now;
	}
	sh->populated = last * spg;
	sh->stage = 1;
	while (!sh->go)
		sched_yield();

	/* what the counters say is what is resident */
	if (st.resident_bytes != sh->populated || st.faults != st0.faults)
		return 7;
	if (!c->limit && sh->populated != CG_BYTES)
		return 8;
	/* the populated part reads zero, the rest faults in as usual */
	for (size_t off = 0; off < CG_BYTES; off += spg) {
		if (base[off])
			return 9;
	}
	/* every page comes back: free, release, close */
	if (gch_free(fd, refs, CG_SPANS) ||
	    gch_scavenge(fd, GCH_SCAVENGE_ALL, 0, &released) ||
	    gch_stats(fd, &st))
		return 10;
	if (st.resident_bytes != 0 ||
	    (st.faults + st.populated) * spg != released_all(&st))
		return 11;
	c2 = cg_long(c->dir, "memory.current");
	munmap(base, GCH_ARENA_SIZE);
	close(fd);
	usleep(100 * 1000);
	c3 = cg_long(c->dir, "memory.current");
	fprintf(stderr, "# charge after release %ld kB, after close %ld kB "
		"(%ld kB before populating)\n", c2 / 1024, c3 / 1024,
		sh->c0 / 1024);
	if (c2 - sh->c0 > SLACK || c3 - sh->c0 > SLACK)
		return 12;
	return 0;
}

static void run_cg(struct __test_metadata *_metadata, const char *dir,
		   bool limit)
{
	struct cg_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct cg_child c = { .dir = dir, .limit = limit, .sh = sh };
	long c1, max_ev, oom_kill;
	int status = -1;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, sh);
	memset(sh, 0, sizeof(*sh));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(cg_child_main(&c));
	for (int i = 0; i < 6000 && !sh->stage; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(10 * 1000);
	}
	if (!sh->stage && waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);	/* stuck before the populate */
		waitpid(pid, &status, 0);
	}
	if (sh->stage == 1) {
		c1 = cg_long(dir, "memory.current");
		max_ev = cg_event(dir, "max");
		oom_kill = cg_event(dir, "oom_kill");
		ksft_print_msg("%s: populated %llu of %llu bytes (%u spans in "
			       "part); charge %ld -> %ld kB; max events %ld, "
			       "oom_kill %ld\n",
			       limit ? "memory.max 4 MiB above usage" :
				       "no limit",
			       (unsigned long long)sh->populated,
			       (unsigned long long)CG_BYTES, sh->partial,
			       sh->c0 / 1024, c1 / 1024, max_ev, oom_kill);
		/* the populated pages are charged to the group */
		EXPECT_LE((long)sh->populated - SLACK, c1 - sh->c0);
		EXPECT_EQ(0, oom_kill);
		if (limit) {
			/* stopped part-way, by the limit */
			EXPECT_LT(0, sh->populated);
			EXPECT_GT(CG_BYTES, sh->populated);
			EXPECT_GE((__u64)CG_ROOM + SLACK, sh->populated);
			EXPECT_LE(1, max_ev);
			EXPECT_EQ(0, cg_write(dir, "memory.max", "max"));
		}
		sh->go = 1;
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
	}
	munmap(sh, sizeof(*sh));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("failed check %d",
						 WEXITSTATUS(status));
}

TEST_F(cg, populated_pages_charged)
{
	if (self->unready)
		SKIP(return, "%s", self->unready);
	run_cg(_metadata, self->dir, false);
}

TEST_F(cg, limit_mid_populate_leaks_nothing)
{
	if (self->unready)
		SKIP(return, "%s", self->unready);
	run_cg(_metadata, self->dir, true);
}

/* ---- races ---- */

struct racer {
	pthread_t tid;
	int fd;
	char *base;
	volatile int stop;
	unsigned long rounds;
	__u64 seed;
};

static void *scavenger_main(void *arg)
{
	struct racer *r = arg;

	while (!r->stop) {
		gch_scavenge(r->fd, GCH_SCAVENGE_ALL, 0, NULL);
		r->rounds++;
	}
	return NULL;
}

/* Reads of the first 256 heap pages: faults fighting over the entries. */
static void *reader_main(void *arg)
{
	struct racer *r = arg;
	volatile char *p = (volatile char *)r->base;
	unsigned long sum = 0;

	while (!r->stop) {
		sum += p[(size_t)rnd_range(&r->seed, 0, 256 * 2 - 1) * 4096];
		r->rounds++;
	}
	return (void *)sum;
}

TEST_F_TIMEOUT(pop, races_with_release_and_faults, 180)
{
	struct racer s = { .fd = self->fd }, rd = { .fd = self->fd };
	__u64 rs = gch_seed() | 1;
	struct gch_stats st;
	struct { __u64 page; __u32 n; char tag; } live[16] = {};

	ksft_print_msg("seed %llu\n", (unsigned long long)rs);
	rd.base = self->base;
	rd.seed = rs ^ 0x9e3779b97f4a7c15ULL;
	ASSERT_EQ(0, pthread_create(&s.tid, NULL, scavenger_main, &s));
	ASSERT_EQ(0, pthread_create(&rd.tid, NULL, reader_main, &rd));
	for (int i = 0; i < 2000; i++) {
		int slot = (int)rnd_range(&rs, 0, 15);
		struct pop_span a;
		bool ok = true;
		char *p;

		if (live[slot].n) {
			p = gch_page_addr(self->base, live[slot].page);
			for (size_t off = 0; off < SPAN_BYTES(live[slot].n);
			     off += 512)
				ok &= p[off] == live[slot].tag;
			ASSERT_TRUE(ok) TH_LOG("round %d: live span lost data", i);
			ASSERT_EQ(0, gch_free1(self->fd, live[slot].page,
					       live[slot].n));
		}
		/* now and then without the advice, so faults fill spans too */
		if (i % 64 == 0) {
			ASSERT_EQ(0, advise(self->base, i % 128 ?
					    MADV_NORMAL : MADV_SEQUENTIAL));
		}
		ASSERT_EQ(0, alloc_pop(self->fd, rnd_range(&rs, 1, 20), &a));
		p = gch_page_addr(self->base, a.page);
		if (a.out_flags & GCH_SPAN_ZEROED) {
			ASSERT_TRUE(all_zero(p, SPAN_BYTES(a.npages)))
				TH_LOG("round %d: ZEROED span held data", i);
		}
		live[slot].page = a.page;
		live[slot].n = a.npages;
		live[slot].tag = (char)(i | 1);
		memset(p, live[slot].tag, SPAN_BYTES(a.npages));
	}
	s.stop = rd.stop = 1;
	pthread_join(s.tid, NULL);
	pthread_join(rd.tid, NULL);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_BALANCED(&st, self->spg);
	ksft_print_msg("%lu scavenges, %lu reads; faults %llu populated %llu\n",
		       s.rounds, rd.rounds, (unsigned long long)st.faults,
		       (unsigned long long)st.populated);
}

TEST_HARNESS_MAIN

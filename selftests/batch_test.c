// SPDX-License-Identifier: MIT
/*
 * batch_test: GCH_SPAN_ALLOC_BATCH, several small spans per GCH_IOC_SPAN_ALLOC
 * (uapi "Batches" at GCH_IOC_SPAN_ALLOC; module has GCH_FEAT_SPAN_BATCH).
 *
 *  - the happy path: @done spans in ascending order, each with its page-map
 *    entries, its own GCH_SPAN_ZEROED (a reused, written page is not zeroed
 *    while its fresh neighbours in the same batch are), populated on an
 *    advised mapping, counted per span in alloc_calls, freed like any span;
 *  - partial success: at the hard limit and at the end of the arenas' free
 *    runs the call returns 0 with done < count, does not count a limit hit,
 *    leaves the entries past done untouched; the next batch gets -ENOMEM
 *    (one limit hit); freeing and scavenging give every page back;
 *  - -EFAULT before anything is allocated: an out array that is read-only,
 *    unmapped, NULL or runs into a PROT_NONE page, and a read-only struct;
 *  - -EINVAL for every bad combination, nothing changed;
 *  - an old binary's struct (size up to @reserved) allocates one span as
 *    before and gets no byte written past its size; @done is output only.
 *
 * The background scavenger is held off with GCH_GC_MARK_START so that
 * resident memory is ours to count.
 */
#include <pthread.h>

#include "gch_test.h"
#include "scav_test.h"

#ifndef offsetofend
#define offsetofend(T, m)	(offsetof(T, m) + sizeof(((T *)0)->m))
#endif
#define V1_SIZE		offsetofend(struct gch_span_alloc, reserved)

static int batch(int fd, __u32 npages, __u32 count, struct gch_span_out *out,
		 struct gch_span_alloc *res)
{
	struct gch_span_alloc a = {
		.size = sizeof(a), .flags = GCH_SPAN_ALLOC_BATCH,
		.npages = npages, .count = count,
		.spans = (__u64)(uintptr_t)out,
	};
	int ret = gch_ioctl(fd, GCH_IOC_SPAN_ALLOC, &a);

	if (res)
		*res = a;
	return ret;
}

/* Free the @n spans of @out, @npages each, in one call. */
static int free_out(int fd, const struct gch_span_out *out, __u32 n,
		    __u32 npages)
{
	struct gch_span_ref refs[GCH_SPAN_BATCH_MAX];

	for (__u32 i = 0; i < n; i++) {
		refs[i].page = (__u32)out[i].page;
		refs[i].npages = npages;
	}
	return gch_free(fd, refs, n);
}

FIXTURE(batch) {
	int fd;
	char *base;
	volatile const __u64 *pm;
	long spg;
};

FIXTURE_SETUP(batch)
{
	self->spg = sysconf(_SC_PAGESIZE);
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	if (!gch_has_feature(self->fd, GCH_FEAT_SPAN_BATCH))
		SKIP(return, "module without GCH_FEAT_SPAN_BATCH");
	self->base = gch_reserve(1);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	self->pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, self->pm);
	ASSERT_EQ(0, madvise(self->base, GCH_ARENA_SIZE, MADV_SEQUENTIAL));
	ASSERT_EQ(0, gch_phase(self->fd, GCH_GC_MARK_START, 1, 0));
}

FIXTURE_TEARDOWN(batch)
{
	gch_heap_teardown(self->fd, self->base, 1, self->pm, NULL);
}

TEST(feature_advertised)
{
	struct gch_version v;
	int fd = gch_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gch_version(fd, &v));
	EXPECT_NE(0, v.features & GCH_FEAT_SPAN_BATCH);
	EXPECT_EQ(1ULL << 10, GCH_FEAT_SPAN_BATCH);
	close(fd);
}

/* Check the @n entries of a batch of @npages spans against the page map. */
static void check_spans(struct __test_metadata *_metadata,
			FIXTURE_DATA(batch) *self,
			const struct gch_span_out *out, __u32 n, __u32 npages)
{
	for (__u32 i = 0; i < n; i++) {
		EXPECT_EQ(0, out[i].reserved);
		if (i) {
			EXPECT_LT(out[i - 1].page, out[i].page);
		}
		for (__u32 j = 0; j < npages; j++) {
			EXPECT_EQ(GCH_PME_MAKE(out[i].page, npages),
				  self->pm[out[i].page + j]);
		}
	}
}

TEST_F(batch, happy_path)
{
	struct gch_span_out out[GCH_SPAN_BATCH_MAX], two[8], again[4];
	struct gch_span_ref r[2];
	const __u32 sys_per = GCH_PAGE_SIZE / self->spg;
	struct gch_stats st0, st1, st2;
	struct gch_span_alloc a;
	char *p;

	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	memset(out, 0xa5, sizeof(out));
	ASSERT_EQ(0, batch(self->fd, 1, 16, out, &a));
	EXPECT_EQ(16, a.done);
	EXPECT_EQ(out[0].page, a.page);
	EXPECT_EQ(GCH_SPAN_ZEROED, a.out_flags);
	check_spans(_metadata, self, out, 16, 1);
	for (int i = 0; i < 16; i++) {
		EXPECT_EQ(GCH_SPAN_ZEROED, out[i].out_flags);
		/* entries past done are untouched: here, none */
	}
	EXPECT_EQ((char)0xa5, ((char *)&out[16])[0]);
	ASSERT_EQ(0, gch_stats(self->fd, &st1));
	EXPECT_EQ(st0.alloc_calls + 16, st1.alloc_calls);
	EXPECT_EQ(st0.spans + 16, st1.spans);
	EXPECT_EQ(st0.span_pages + 16, st1.span_pages);
	EXPECT_EQ(st0.populated + 16 * sys_per, st1.populated);
	EXPECT_EQ(st0.faults, st1.faults);
	EXPECT_EQ(st0.limit_hits, st1.limit_hits);

	/* populated: written without a fault, and zero */
	for (int i = 0; i < 16; i++) {
		p = gch_page_addr(self->base, out[i].page);
		EXPECT_EQ(0, p[0]);
		EXPECT_EQ(0, p[GCH_PAGE_SIZE - 1]);
		p[0] = 1;
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st2));
	EXPECT_EQ(st1.faults, st2.faults);

	/*
	 * ZEROED per span: free spans 3 and 7 (written above) and take a
	 * batch: first fit reuses them, not zeroed, the rest fresh and zeroed
	 * (pages 16 and 17, which the two-page batch below then reuses).
	 */
	r[0] = (struct gch_span_ref){ (__u32)out[3].page, 1 };
	r[1] = (struct gch_span_ref){ (__u32)out[7].page, 1 };
	ASSERT_EQ(0, gch_free(self->fd, r, 2));
	ASSERT_EQ(0, batch(self->fd, 1, 4, again, &a));
	EXPECT_EQ(4, a.done);
	EXPECT_EQ(out[3].page, again[0].page);
	EXPECT_EQ(out[7].page, again[1].page);
	EXPECT_EQ(0, again[0].out_flags);
	EXPECT_EQ(0, again[1].out_flags);
	EXPECT_EQ(GCH_SPAN_ZEROED, again[2].out_flags);
	EXPECT_EQ(GCH_SPAN_ZEROED, again[3].out_flags);
	EXPECT_EQ(0, a.out_flags);
	out[3] = again[0];
	out[7] = again[1];
	ASSERT_EQ(0, free_out(self->fd, again + 2, 2, 1));

	/* two-page spans after the first batch: the first on pages 16, 17 */
	ASSERT_EQ(0, batch(self->fd, 2, 8, two, &a));
	EXPECT_EQ(8, a.done);
	check_spans(_metadata, self, two, 8, 2);
	EXPECT_EQ(16, two[0].page);
	EXPECT_EQ(0, two[0].out_flags);
	EXPECT_EQ(GCH_SPAN_ZEROED, two[1].out_flags);
	EXPECT_EQ(GCH_SPAN_ZEROED, two[7].out_flags);
	ASSERT_EQ(0, free_out(self->fd, two, 8, 2));

	ASSERT_EQ(0, free_out(self->fd, out, 16, 1));
	ASSERT_EQ(0, gch_stats(self->fd, &st2));
	EXPECT_EQ(0, st2.spans);
	EXPECT_EQ(0, st2.span_pages);
	for (int i = 0; i < 64; i++) {
		EXPECT_EQ(0, self->pm[i]);
	}
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st2));
	EXPECT_EQ(0, st2.resident_bytes);
}

/* The largest batch, of the largest spans a batch may hold. */
TEST_F(batch, max_batch_max_pages)
{
	struct gch_span_out out[GCH_SPAN_BATCH_MAX];
	const __u32 n = GCH_SPAN_BATCH_MAX, np = GCH_SPAN_BATCH_MAX_PAGES;
	struct gch_span_alloc a;
	struct gch_stats st;

	ASSERT_EQ(0, batch(self->fd, np, n, out, &a));
	EXPECT_EQ(n, a.done);
	check_spans(_metadata, self, out, n, np);
	for (__u32 i = 0; i < n; i++) {
		EXPECT_EQ((__u64)i * np, out[i].page);
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ((__u64)n * np, st.span_pages);
	EXPECT_EQ(n, st.alloc_calls);
	ASSERT_EQ(0, free_out(self->fd, out, n, np));
}

TEST_F(batch, partial_at_hard_limit)
{
	struct gch_span_out out[16], more[4];
	struct gch_stats st0, st1;
	struct gch_span_alloc a;

	ASSERT_EQ(0, gch_set_hard(self->fd, 10));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	memset(out, 0xa5, sizeof(out));
	ASSERT_EQ(0, batch(self->fd, 1, 16, out, &a));
	EXPECT_EQ(10, a.done);
	check_spans(_metadata, self, out, 10, 1);
	for (size_t b = 10 * sizeof(out[0]); b < sizeof(out); b++) {
		ASSERT_EQ((char)0xa5, ((char *)out)[b]) TH_LOG("byte %zu", b);
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st1));
	EXPECT_EQ(st0.limit_hits, st1.limit_hits) TH_LOG("a stop, no refusal");
	EXPECT_EQ(st0.alloc_calls + 10, st1.alloc_calls);
	EXPECT_EQ(10, st1.span_pages);

	/* nothing fits now: refused, one limit hit, nothing else changes */
	EXPECT_EQ(-ENOMEM, batch(self->fd, 1, 4, more, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	EXPECT_EQ(st1.limit_hits + 1, st0.limit_hits);
	EXPECT_HEAP_UNCHANGED(&st1, &st0);
	EXPECT_EQ(st1.populated, st0.populated);

	/* everything back: spans, then memory */
	ASSERT_EQ(0, free_out(self->fd, out, 10, 1));
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	EXPECT_EQ(0, st0.spans);
	EXPECT_EQ(0, st0.span_pages);
	EXPECT_EQ(0, st0.resident_bytes);
	EXPECT_EQ(0, st0.free_resident_bytes);
	EXPECT_EQ(GCH_PAGES_PER_ARENA, st0.free_pages);
}

/* The arena's free runs end the batch the same way: no limit involved. */
TEST_F(batch, partial_at_arena_end)
{
	const __u32 big = GCH_PAGES_PER_ARENA - 5;
	struct gch_span_out out[8];
	struct gch_stats st0, st1;
	struct gch_span_alloc a;
	__u64 page;

	ASSERT_EQ(0, gch_alloc(self->fd, big, &page, NULL));
	ASSERT_EQ(0, page);
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	ASSERT_EQ(0, batch(self->fd, 1, 8, out, &a));
	EXPECT_EQ(5, a.done);
	for (int i = 0; i < 5; i++) {
		EXPECT_EQ(big + i, out[i].page);
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st1));
	EXPECT_EQ(st0.limit_hits, st1.limit_hits);
	EXPECT_EQ(-ENOMEM, batch(self->fd, 1, 8, out + 5, NULL));
	ASSERT_EQ(0, free_out(self->fd, out, 5, 1));
	ASSERT_EQ(0, gch_free1(self->fd, 0, big));
	ASSERT_EQ(0, gch_stats(self->fd, &st1));
	EXPECT_EQ(0, st1.spans);
	EXPECT_EQ(st0.limit_hits, st1.limit_hits);
}

/* An out array the kernel cannot write: -EFAULT, nothing allocated. */
TEST_F(batch, efault_allocates_nothing)
{
	const long pg = self->spg;
	struct gch_span_out good[4];
	struct gch_stats st0, st1;
	struct gch_span_alloc *ro;
	char *m;

	m = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	memset(m, 0, 3 * pg);
	ASSERT_EQ(0, gch_stats(self->fd, &st0));

	/* read-only */
	ASSERT_EQ(0, mprotect(m, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, batch(self->fd, 1, 16, (void *)m, NULL));
	/* the last entry's bytes run into a PROT_NONE page */
	ASSERT_EQ(0, mprotect(m + 2 * pg, pg, PROT_NONE));
	EXPECT_EQ(-EFAULT, batch(self->fd, 1, 4, (void *)(m + 2 * pg -
				 3 * sizeof(struct gch_span_out) - 8), NULL));
	/* NULL, and unmapped */
	EXPECT_EQ(-EFAULT, batch(self->fd, 1, 4, NULL, NULL));
	ASSERT_EQ(0, munmap(m + pg, pg));
	EXPECT_EQ(-EFAULT, batch(self->fd, 1, 4, (void *)(m + pg), NULL));
	/* the struct itself read-only, with a good array */
	ro = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	*ro = (struct gch_span_alloc){
		.size = sizeof(*ro), .flags = GCH_SPAN_ALLOC_BATCH,
		.npages = 1, .count = 4, .spans = (__u64)(uintptr_t)good,
	};
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, GCH_IOC_SPAN_ALLOC, ro));
	munmap(ro, pg);

	ASSERT_EQ(0, gch_stats(self->fd, &st1));
	EXPECT_HEAP_UNCHANGED(&st0, &st1);
	EXPECT_EQ(st0.populated, st1.populated);
	EXPECT_EQ(st0.resident_bytes, st1.resident_bytes);
	EXPECT_EQ(st0.limit_hits, st1.limit_hits);
	for (int i = 0; i < 64; i++) {
		EXPECT_EQ(0, self->pm[i]);
	}
	munmap(m, pg);
	munmap(m + 2 * pg, pg);
}

/* A struct @mod changes from a valid batch call must fail with -EINVAL. */
static void expect_einval(struct __test_metadata *_metadata, int fd,
			  void (*mod)(struct gch_span_alloc *a), const char *what)
{
	struct gch_span_out out[GCH_SPAN_BATCH_MAX + 1];
	struct gch_stats st0, st1;
	struct gch_span_alloc a = {
		.size = sizeof(a), .flags = GCH_SPAN_ALLOC_BATCH, .npages = 1,
		.count = 4, .spans = (__u64)(uintptr_t)out,
	};

	mod(&a);
	ASSERT_EQ(0, gch_stats(fd, &st0));
	EXPECT_EQ(-EINVAL, gch_ioctl(fd, GCH_IOC_SPAN_ALLOC, &a))
		TH_LOG("%s", what);
	ASSERT_EQ(0, gch_stats(fd, &st1));
	EXPECT_HEAP_UNCHANGED(&st0, &st1);
	EXPECT_EQ(st0.limit_hits, st1.limit_hits);
}

static void m_count0(struct gch_span_alloc *a) { a->count = 0; }
static void m_count_big(struct gch_span_alloc *a)
{
	a->count = GCH_SPAN_BATCH_MAX + 1;
}
static void m_npages0(struct gch_span_alloc *a) { a->npages = 0; }
static void m_npages_big(struct gch_span_alloc *a)
{
	a->npages = GCH_SPAN_BATCH_MAX_PAGES + 1;
}
static void m_cross(struct gch_span_alloc *a)
{
	a->flags |= GCH_SPAN_ALLOC_CROSS;
}
static void m_reserved(struct gch_span_alloc *a) { a->reserved = 1; }
static void m_unknown(struct gch_span_alloc *a) { a->flags |= 1U << 2; }
static void m_count_noflag(struct gch_span_alloc *a)
{
	a->flags = 0;
	a->spans = 0;
}
static void m_spans_noflag(struct gch_span_alloc *a)
{
	a->flags = 0;
	a->count = 0;
}
static void m_old_size(struct gch_span_alloc *a)
{
	/* the batch fields are past an old struct: count reads as 0 */
	a->size = V1_SIZE;
}

TEST_F(batch, einval_cases)
{
	expect_einval(_metadata, self->fd, m_count0, "count 0");
	expect_einval(_metadata, self->fd, m_count_big, "count > max");
	expect_einval(_metadata, self->fd, m_npages0, "npages 0");
	expect_einval(_metadata, self->fd, m_npages_big, "npages > max");
	expect_einval(_metadata, self->fd, m_cross, "BATCH | CROSS");
	expect_einval(_metadata, self->fd, m_reserved, "reserved");
	expect_einval(_metadata, self->fd, m_unknown, "unknown flag");
	expect_einval(_metadata, self->fd, m_count_noflag, "count, no flag");
	expect_einval(_metadata, self->fd, m_spans_noflag, "spans, no flag");
	expect_einval(_metadata, self->fd, m_old_size, "BATCH in old size");
}

/* An old binary's struct: one span, no byte written past its size. */
TEST_F(batch, old_size_struct)
{
	char buf[sizeof(struct gch_span_alloc) + 16];
	struct gch_span_alloc *a = (void *)buf;
	struct gch_span_alloc full = { .size = sizeof(full), .npages = 1,
				       .done = 77 };
	struct gch_stats st0, st1;

	memset(buf, 0xa5, sizeof(buf));
	memset(buf, 0, V1_SIZE);
	a->size = V1_SIZE;
	a->npages = 3;
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_SPAN_ALLOC, a));
	EXPECT_EQ(GCH_PME_MAKE(a->page, 3), self->pm[a->page]);
	EXPECT_EQ(GCH_SPAN_ZEROED, a->out_flags);
	for (size_t b = V1_SIZE; b < sizeof(buf); b++) {
		ASSERT_EQ((char)0xa5, buf[b]) TH_LOG("byte %zu written", b);
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st1));
	EXPECT_EQ(st0.alloc_calls + 1, st1.alloc_calls);
	ASSERT_EQ(0, gch_free1(self->fd, a->page, 3));

	/* the full struct without the flag: @done is output, ignored, 0 */
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_SPAN_ALLOC, &full));
	EXPECT_EQ(0, full.done);
	ASSERT_EQ(0, gch_free1(self->fd, full.page, 1));
}

/* Batch against single allocations from other threads: no page twice. */
struct race_arg {
	int fd;
	int rounds;
	int err;
};

static void *single_main(void *p)
{
	struct race_arg *r = p;
	__u64 page;

	for (int i = 0; i < r->rounds && !r->err; i++) {
		r->err = gch_alloc(r->fd, 1, &page, NULL);
		if (!r->err)
			r->err = gch_free1(r->fd, page, 1);
	}
	return NULL;
}

TEST_F(batch, races_with_single_allocations)
{
	struct race_arg r = { .fd = self->fd, .rounds = 2000 };
	struct gch_span_out out[32];
	struct gch_stats st;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, single_main, &r));
	for (int i = 0; i < 200; i++) {
		struct gch_span_alloc a;

		ASSERT_EQ(0, batch(self->fd, 1, 32, out, &a));
		ASSERT_EQ(32, a.done);
		check_spans(_metadata, self, out, 32, 1);
		ASSERT_EQ(0, free_out(self->fd, out, 32, 1));
	}
	pthread_join(t, NULL);
	EXPECT_EQ(0, r.err);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.spans);
	EXPECT_EQ(200 * 32 + r.rounds, st.alloc_calls);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * pagemap_test: the page-to-span map and the span slots.
 *
 * The page map must name, for every page of every allocated span, the span's
 * first page and length, and 0 for free pages; span slots are writable and
 * zeroed by the kernel on allocation.  A reader thread racing with
 * allocations checks that every entry it ever sees is well formed (the
 * kernel promises single 64-bit stores).
 */
#include <pthread.h>

#include "gch_test.h"

#define NARENAS 3

FIXTURE(pm) {
	int fd;
	char *base;
	volatile const __u64 *pm;
	__u64 *slots;
};

FIXTURE_SETUP(pm)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(NARENAS);
	ASSERT_NE(MAP_FAILED, self->base);
	self->pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, self->pm) TH_LOG("pagemap: %s", strerror(errno));
	self->slots = gch_map_slots(self->fd);
	ASSERT_NE(NULL, self->slots) TH_LOG("span slots: %s", strerror(errno));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 1));
}

FIXTURE_TEARDOWN(pm)
{
	gch_heap_teardown(self->fd, self->base, NARENAS, self->pm, self->slots);
}

static void expect_span(struct __test_metadata *_metadata,
			volatile const __u64 *pm, __u64 start, __u32 n)
{
	for (__u64 p = start; p < start + n; p++) {
		__u64 e = pm[p];

		ASSERT_EQ(GCH_PME_MAKE(start, n), e)
			TH_LOG("page %llu of span %llu+%u", (unsigned long long)p,
			       (unsigned long long)start, n);
		ASSERT_EQ(start, GCH_PME_START(e));
		ASSERT_EQ(n, GCH_PME_NPAGES(e));
	}
}

static void expect_free(struct __test_metadata *_metadata,
			volatile const __u64 *pm, __u64 start, __u32 n)
{
	for (__u64 p = start; p < start + n; p++) {
		ASSERT_EQ(0, pm[p]) TH_LOG("page %llu", (unsigned long long)p);
	}
}

TEST_F(pm, fresh_arenas_all_free)
{
	expect_free(_metadata, self->pm, 0, 2 * GCH_PAGES_PER_ARENA);
}

TEST_F(pm, entries_follow_alloc_and_free)
{
	__u64 a, b, c, d;

	ASSERT_EQ(0, gch_alloc(self->fd, 1, &a, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, 7, &b, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, 300, &c, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, &d, NULL));
	ASSERT_EQ(GCH_PAGES_PER_ARENA, d);
	expect_span(_metadata, self->pm, a, 1);
	expect_span(_metadata, self->pm, b, 7);
	expect_span(_metadata, self->pm, c, 300);
	expect_span(_metadata, self->pm, d, GCH_PAGES_PER_ARENA);
	expect_free(_metadata, self->pm, c + 300, GCH_PAGES_PER_ARENA - c - 300);
	ASSERT_EQ(0, gch_free1(self->fd, b, 7));
	expect_free(_metadata, self->pm, b, 7);
	expect_span(_metadata, self->pm, a, 1);
	expect_span(_metadata, self->pm, c, 300);
	ASSERT_EQ(0, gch_free1(self->fd, d, GCH_PAGES_PER_ARENA));
	expect_free(_metadata, self->pm, d, GCH_PAGES_PER_ARENA);
	/* a span reusing freed pages gets fresh entries */
	ASSERT_EQ(0, gch_alloc(self->fd, 3, &b, NULL));
	ASSERT_EQ(1, b);
	expect_span(_metadata, self->pm, 1, 3);
	expect_free(_metadata, self->pm, 4, 4);
}

/* The O(1) lookup libgcheap does: heap address -> span start and length. */
TEST_F(pm, interior_pointer_lookup)
{
	__u64 s;
	char *p;

	ASSERT_EQ(0, gch_alloc(self->fd, 5, &s, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, 9, &s, NULL));
	p = gch_page_addr(self->base, s);
	for (size_t off = 0; off < 9 * GCH_PAGE_SIZE; off += 1000) {
		__u64 e = self->pm[(p + off - self->base) >> GCH_PAGE_SHIFT];

		ASSERT_EQ(s, GCH_PME_START(e));
		ASSERT_EQ(9, GCH_PME_NPAGES(e));
	}
}

TEST_F(pm, pagemap_of_uncreated_arena_sigbus)
{
	volatile const __u64 *e = self->pm + 2 * GCH_PAGES_PER_ARENA;
	__u64 page;

	EXPECT_EQ(SIGBUS, probe_read(e));
	EXPECT_EQ(SIGBUS, probe_read(self->pm + GCH_MAX_PAGES - 1));
	/* creating the arena makes the same mapping readable */
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 2));
	EXPECT_EQ(0, probe_read(e));
	EXPECT_EQ(0, *e);
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, &page, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, &page, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, 2, &page, NULL));
	ASSERT_EQ(2ULL * GCH_PAGES_PER_ARENA, page);
	EXPECT_EQ(GCH_PME_MAKE(page, 2), *e);
}

/* Slots of an arena not created yet: refused or harmless, never a crash. */
TEST_F(pm, span_slots_of_uncreated_arena)
{
	__u64 *slot = self->slots + 2 * GCH_PAGES_PER_ARENA;
	int sig = probe_read(slot);
	__u64 page;

	EXPECT_TRUE(sig == 0 || sig == SIGBUS) TH_LOG("signal %d", sig);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 2));
	EXPECT_EQ(0, probe_write(slot));
	*slot = 0x77;
	EXPECT_EQ(0x77, *slot);
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, &page, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, &page, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, 1, &page, NULL));
	ASSERT_EQ(2ULL * GCH_PAGES_PER_ARENA, page);
	EXPECT_EQ(0, *slot) TH_LOG("allocation zeroes the span's slots");
}

TEST_F(pm, pagemap_not_writable)
{
	EXPECT_EQ(SIGSEGV, probe_write((void *)self->pm));
	EXPECT_EQ(-1, mprotect((void *)self->pm, GCH_PAGEMAP_SIZE,
			       PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, self->pm[0]);
}

TEST_F(pm, second_pagemap_mapping_agrees)
{
	volatile const __u64 *pm2 = gch_map_pagemap(self->fd);
	__u64 s;

	ASSERT_NE(NULL, pm2);
	ASSERT_EQ(0, gch_alloc(self->fd, 11, &s, NULL));
	for (__u64 p = 0; p < 32; p++) {
		ASSERT_EQ(self->pm[p], pm2[p]);
	}
	munmap((void *)pm2, GCH_PAGEMAP_SIZE);
}

TEST_F(pm, heaps_have_separate_maps)
{
	int fd2 = gch_open();
	volatile const __u64 *pm2;
	void *a2;
	__u64 s;

	ASSERT_LE(0, fd2);
	a2 = gch_mmap(fd2, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, a2);
	pm2 = gch_map_pagemap(fd2);
	ASSERT_NE(NULL, pm2);
	ASSERT_EQ(0, gch_alloc(self->fd, 4, &s, NULL));
	EXPECT_EQ(GCH_PME_MAKE(0, 4), self->pm[0]);
	EXPECT_EQ(0, pm2[0]);
	ASSERT_EQ(0, gch_alloc(fd2, 2, &s, NULL));
	EXPECT_EQ(GCH_PME_MAKE(0, 2), pm2[0]);
	EXPECT_EQ(GCH_PME_MAKE(0, 4), self->pm[0]);
	munmap((void *)pm2, GCH_PAGEMAP_SIZE);
	munmap(a2, GCH_ARENA_SIZE);
	close(fd2);
}

TEST_F(pm, span_slots_zeroed_on_alloc)
{
	__u64 s;

	/* scribble over the slots of free pages */
	for (__u64 p = 0; p < 64; p++)
		self->slots[p] = 0xdead0000 + p;
	ASSERT_EQ(0, gch_alloc(self->fd, 16, &s, NULL));
	ASSERT_EQ(0, s);
	for (__u64 p = 0; p < 16; p++) {
		ASSERT_EQ(0, self->slots[p]) TH_LOG("slot of page %llu",
						    (unsigned long long)p);
	}
	/* pages outside the span: the kernel never touches them */
	for (__u64 p = 16; p < 64; p++) {
		ASSERT_EQ(0xdead0000 + p, self->slots[p]);
	}
}

TEST_F(pm, span_slots_are_userspace_words)
{
	__u64 a, b, *s2;

	ASSERT_EQ(0, gch_alloc(self->fd, 3, &a, NULL));
	self->slots[a] = 0x1111;
	ASSERT_EQ(0, gch_alloc(self->fd, 3, &b, NULL));
	self->slots[b] = 0x2222;
	/* other allocations and frees leave a live span's slot alone */
	for (int i = 0; i < 50; i++) {
		__u64 t;

		ASSERT_EQ(0, gch_alloc(self->fd, 1 + i % 5, &t, NULL));
		ASSERT_EQ(0, gch_free1(self->fd, t, 1 + i % 5));
	}
	ASSERT_EQ(0, gch_free1(self->fd, a, 3));
	EXPECT_EQ(0x2222, self->slots[b]);
	/* reallocation zeroes the slot userspace left behind */
	ASSERT_EQ(0, gch_alloc(self->fd, 3, &a, NULL));
	EXPECT_EQ(0, self->slots[a]);
	/* the slots mapping is shared with a second mapping */
	s2 = gch_map_slots(self->fd);
	ASSERT_NE(NULL, s2);
	EXPECT_EQ(0x2222, s2[b]);
	s2[b] = 0x3333;
	EXPECT_EQ(0x3333, self->slots[b]);
	munmap(s2, GCH_PAGEMAP_SIZE);
}

struct race {
	volatile const __u64 *pm;
	__u32 npages;			/* pages watched: arena 0 */
	volatile int stop;
	unsigned long reads, bad;
	__u64 bad_entry;
	__u32 bad_page;
};

static void *race_reader(void *arg)
{
	struct race *r = arg;

	while (!r->stop) {
		for (__u32 p = 0; p < r->npages; p++) {
			__u64 e = r->pm[p];
			__u32 s = GCH_PME_START(e), n = GCH_PME_NPAGES(e);

			r->reads++;
			if (!e)
				continue;
			/* well formed: covers p, length >= 1, inside one arena */
			if (n < 1 || s > p || p >= (__u64)s + n ||
			    s / GCH_PAGES_PER_ARENA !=
			    ((__u64)s + n - 1) / GCH_PAGES_PER_ARENA) {
				r->bad++;
				r->bad_entry = e;
				r->bad_page = p;
			}
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(pm, racing_reader_sees_whole_entries, 120)
{
	struct race r = { .pm = self->pm, .npages = 1024 };
	__u64 rs = gch_seed() | 1;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, race_reader, &r));
	for (int i = 0; i < 4000; i++) {
		__u32 n = rnd_range(&rs, 1, 64);
		__u64 s;

		if (gch_alloc(self->fd, n, &s, NULL) == 0) {
			if (i % 3) {
				ASSERT_EQ(0, gch_free1(self->fd, s, n));
			}
		}
		if (i % 500 == 499) {
			/* start over so the watched range keeps churning */
			struct gch_stats st;

			ASSERT_EQ(0, gch_stats(self->fd, &st));
			while (st.spans) {
				__u64 e = 0;

				for (__u32 p = 0; p < 2 * GCH_PAGES_PER_ARENA; p++) {
					e = self->pm[p];
					if (e)
						break;
				}
				ASSERT_NE(0, e);
				ASSERT_EQ(0, gch_free1(self->fd, GCH_PME_START(e),
						       GCH_PME_NPAGES(e)));
				st.spans--;
			}
		}
	}
	r.stop = 1;
	pthread_join(t, NULL);
	EXPECT_EQ(0, r.bad) TH_LOG("bad entry %#llx at page %u",
				   (unsigned long long)r.bad_entry, r.bad_page);
	TH_LOG("%lu racing reads", r.reads);
}

TEST_HARNESS_MAIN

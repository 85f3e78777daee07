// SPDX-License-Identifier: MIT
/*
 * mmap_test: the arena, page-map and span-slot mapping rules.
 *
 * Bad mappings are attempted without MAP_FIXED so a refusal cannot punch a
 * hole in the test's own reservation.  Split attempts (partial munmap,
 * mprotect, mremap) are followed by a read of data written before, which
 * proves the mapping survived intact.
 */
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include "gch_test.h"

FIXTURE(map) {
	int fd;
	char *base;		/* reservation of NARENAS arenas */
};

#define NARENAS 4

FIXTURE_SETUP(map)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(NARENAS);
	ASSERT_NE(MAP_FAILED, self->base);
}

FIXTURE_TEARDOWN(map)
{
	gch_heap_teardown(self->fd, self->base, NARENAS, NULL, NULL);
}

static int try_map(int fd, size_t len, int prot, int flags, __u64 off)
{
	void *p = mmap(NULL, len, prot, flags, fd, (off_t)off);

	if (p == MAP_FAILED)
		return -errno;
	munmap(p, len);
	return 0;
}

/* /dev on a noexec mount refuses PROT_EXEC before the driver sees it. */
static bool dev_noexec(void)
{
	struct statvfs sv;

	return !statvfs(GCH_DEV, &sv) && (sv.f_flag & ST_NOEXEC);
}

TEST_F(map, arena_map_shared_ok)
{
	struct gch_stats st;
	char *a;

	a = gch_mmap(self->fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
		     MAP_SHARED, GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, a) TH_LOG("mmap arena 0: %s", strerror(errno));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(1, st.arenas);
	EXPECT_EQ(GCH_ARENA_SIZE, st.mapped_bytes);
	EXPECT_EQ(GCH_PAGES_PER_ARENA, st.free_pages);
	/* the last arena exists too */
	EXPECT_EQ(0, try_map(self->fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
			     MAP_SHARED, GCH_MMAP_ARENA(GCH_MAX_ARENAS - 1)));
	ASSERT_EQ(0, munmap(a, GCH_ARENA_SIZE));
}

TEST_F(map, map_private_einval)
{
	struct gch_stats st;

	EXPECT_EQ(-EINVAL, try_map(self->fd, GCH_ARENA_SIZE,
				   PROT_READ | PROT_WRITE, MAP_PRIVATE,
				   GCH_MMAP_ARENA(0)));
	EXPECT_EQ(-EINVAL, try_map(self->fd, GCH_ARENA_SIZE, PROT_READ,
				   MAP_PRIVATE, GCH_MMAP_ARENA(1)));
	EXPECT_EQ(-EINVAL, try_map(self->fd, GCH_PAGEMAP_SIZE, PROT_READ,
				   MAP_PRIVATE, GCH_MMAP_PAGEMAP));
	EXPECT_EQ(-EINVAL, try_map(self->fd, GCH_PAGEMAP_SIZE,
				   PROT_READ | PROT_WRITE, MAP_PRIVATE,
				   GCH_MMAP_SPANSLOTS));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.arenas) TH_LOG("a refused mmap created an arena");
}

TEST_F(map, bad_offsets_einval)
{
	static const __u64 offs[] = {
		GCH_MMAP_ARENA(0) + GCH_PAGE_SIZE,
		GCH_MMAP_ARENA(0) + 4096,
		GCH_MMAP_ARENA(1) + GCH_ARENA_SIZE / 2,
		GCH_MMAP_ARENA(GCH_MAX_ARENAS),
		GCH_MMAP_ARENA(GCH_MAX_ARENAS + 1),
		GCH_MMAP_PAGEMAP - GCH_ARENA_SIZE,
		GCH_MMAP_PAGEMAP + 4096,
		GCH_MMAP_PAGEMAP + GCH_PAGEMAP_SIZE,
		GCH_MMAP_SPANSLOTS + GCH_PAGE_SIZE,
		GCH_MMAP_SPANSLOTS + GCH_PAGEMAP_SIZE,
		3ULL << 40,
		1ULL << 46,
	};
	struct gch_stats st;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		EXPECT_EQ(-EINVAL, try_map(self->fd, GCH_ARENA_SIZE,
					   PROT_READ, MAP_SHARED, offs[i]))
			TH_LOG("offset %#llx", (unsigned long long)offs[i]);
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.arenas);
}

TEST_F(map, bad_lengths_einval)
{
	static const size_t lens[] = {
		4096, GCH_PAGE_SIZE, GCH_ARENA_SIZE / 2, GCH_ARENA_SIZE - 4096,
		GCH_ARENA_SIZE + 4096, 2 * GCH_ARENA_SIZE,
	};
	struct gch_stats st;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		EXPECT_EQ(-EINVAL, try_map(self->fd, lens[i],
					   PROT_READ | PROT_WRITE, MAP_SHARED,
					   GCH_MMAP_ARENA(0)))
			TH_LOG("arena length %#zx", lens[i]);
		if (lens[i] == GCH_ARENA_SIZE / 2 || lens[i] == 2 * GCH_ARENA_SIZE) {
			/* the page map is exactly GCH_PAGEMAP_SIZE, 64 MiB too */
			EXPECT_EQ(-EINVAL, try_map(self->fd, lens[i], PROT_READ,
						   MAP_SHARED, GCH_MMAP_PAGEMAP))
				TH_LOG("pagemap length %#zx", lens[i]);
			EXPECT_EQ(-EINVAL, try_map(self->fd, lens[i],
						   PROT_READ | PROT_WRITE,
						   MAP_SHARED, GCH_MMAP_SPANSLOTS))
				TH_LOG("slots length %#zx", lens[i]);
		}
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.arenas);
}

TEST_F(map, prot_exec_einval)
{
	int want = dev_noexec() ? -EPERM : -EINVAL;

	EXPECT_EQ(want, try_map(self->fd, GCH_ARENA_SIZE,
				PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED,
				GCH_MMAP_ARENA(0)));
	EXPECT_EQ(want, try_map(self->fd, GCH_ARENA_SIZE, PROT_EXEC,
				MAP_SHARED, GCH_MMAP_ARENA(0)));
	EXPECT_EQ(want, try_map(self->fd, GCH_PAGEMAP_SIZE,
				PROT_READ | PROT_EXEC, MAP_SHARED,
				GCH_MMAP_PAGEMAP));
	EXPECT_EQ(want, try_map(self->fd, GCH_PAGEMAP_SIZE,
				PROT_READ | PROT_EXEC, MAP_SHARED,
				GCH_MMAP_SPANSLOTS));
}

TEST_F(map, mprotect_exec_refused)
{
	char *a;

	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	a = self->base;
	EXPECT_NE(0, mprotect(a, GCH_ARENA_SIZE,
			      PROT_READ | PROT_WRITE | PROT_EXEC));
	a[0] = 1;
	EXPECT_EQ(1, a[0]);
}

TEST_F(map, pagemap_read_only)
{
	volatile const __u64 *pm;
	int ret;

	ret = try_map(self->fd, GCH_PAGEMAP_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED, GCH_MMAP_PAGEMAP);
	EXPECT_TRUE(ret == -EPERM || ret == -EACCES) TH_LOG("got %d", ret);
	ret = try_map(self->fd, GCH_PAGEMAP_SIZE, PROT_WRITE, MAP_SHARED,
		      GCH_MMAP_PAGEMAP);
	EXPECT_TRUE(ret == -EPERM || ret == -EACCES) TH_LOG("got %d", ret);
	pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, pm) TH_LOG("read-only pagemap: %s", strerror(errno));
	ret = mprotect((void *)pm, GCH_PAGEMAP_SIZE, PROT_READ | PROT_WRITE);
	EXPECT_EQ(-1, ret);
	EXPECT_TRUE(errno == EPERM || errno == EACCES) TH_LOG("errno %d", errno);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	EXPECT_EQ(SIGSEGV, probe_write((void *)pm));
	EXPECT_EQ(0, munmap((void *)pm, GCH_PAGEMAP_SIZE));
}

TEST_F(map, spanslots_map_rw)
{
	__u64 *slots = gch_map_slots(self->fd);

	ASSERT_NE(NULL, slots) TH_LOG("slots: %s", strerror(errno));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	slots[5] = 0x1234;
	EXPECT_EQ(0x1234, slots[5]);
	EXPECT_EQ(0, munmap(slots, GCH_PAGEMAP_SIZE));
}

/* Write a pattern in a span of arena 0 so later checks can see it survive. */
static char *arena_with_data(FIXTURE_DATA(map) *self, __u64 *page)
{
	char *p;

	if (gch_map_arena(self->fd, self->base, 0))
		return NULL;
	if (gch_alloc(self->fd, 4, page, NULL))
		return NULL;
	p = gch_page_addr(self->base, *page);
	memset(p, 0x5a, 4 * GCH_PAGE_SIZE);
	return p;
}

static bool pattern_intact(const char *p, size_t len, char c)
{
	for (size_t i = 0; i < len; i += 512) {
		if (p[i] != c)
			return false;
	}
	return p[len - 1] == c;
}

TEST_F(map, partial_munmap_einval)
{
	char *a = self->base;
	__u64 page;
	char *p = arena_with_data(self, &page);

	ASSERT_NE(NULL, p);
	EXPECT_EQ(-1, munmap(a + GCH_PAGE_SIZE, GCH_PAGE_SIZE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, munmap(a, GCH_ARENA_SIZE / 2));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, munmap(a + GCH_ARENA_SIZE / 2, GCH_ARENA_SIZE / 2));
	EXPECT_EQ(EINVAL, errno);
	/* reaching in from the reservation next door is a split too */
	EXPECT_EQ(-1, munmap(a + GCH_ARENA_SIZE - 4096, 2 * 4096));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_TRUE(pattern_intact(p, 4 * GCH_PAGE_SIZE, 0x5a));
	EXPECT_EQ(0, probe_read(a + GCH_ARENA_SIZE - 1));
	/* the whole mapping goes fine */
	EXPECT_EQ(0, munmap(a, GCH_ARENA_SIZE));
	EXPECT_EQ(SIGSEGV, probe_read(p));
}

TEST_F(map, partial_mprotect_einval)
{
	char *a = self->base;
	__u64 page;
	char *p = arena_with_data(self, &page);

	ASSERT_NE(NULL, p);
	EXPECT_EQ(-1, mprotect(a, GCH_PAGE_SIZE, PROT_READ));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, mprotect(a + GCH_PAGE_SIZE, GCH_PAGE_SIZE, PROT_NONE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, mprotect(a + GCH_ARENA_SIZE / 2, GCH_ARENA_SIZE / 2,
			       PROT_READ));
	EXPECT_EQ(EINVAL, errno);
	/* still writable everywhere */
	EXPECT_EQ(0, probe_write(a));
	EXPECT_EQ(0, probe_write(a + GCH_ARENA_SIZE - 1));
	EXPECT_TRUE(pattern_intact(p, 4 * GCH_PAGE_SIZE, 0x5a));
}

TEST_F(map, mremap_refused)
{
	char *a = self->base;
	__u64 page;
	char *p = arena_with_data(self, &page);
	char *dst, *r;

	ASSERT_NE(NULL, p);
	dst = gch_reserve(2);
	ASSERT_NE(MAP_FAILED, dst);
	/* grow in place (into the reservation) and grow anywhere */
	r = mremap(a, GCH_ARENA_SIZE, 2 * GCH_ARENA_SIZE, 0);
	EXPECT_EQ(MAP_FAILED, r);
	EXPECT_TRUE(errno == EINVAL || errno == EFAULT || errno == ENOMEM)
		TH_LOG("grow: errno %d", errno);
	r = mremap(a, GCH_ARENA_SIZE, 2 * GCH_ARENA_SIZE, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, r);
	EXPECT_TRUE(errno == EINVAL || errno == EFAULT) TH_LOG("errno %d", errno);
	/* move */
	r = mremap(a, GCH_ARENA_SIZE, GCH_ARENA_SIZE,
		   MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	EXPECT_EQ(MAP_FAILED, r);
	EXPECT_TRUE(errno == EINVAL || errno == EFAULT) TH_LOG("errno %d", errno);
	/* shrink is a split */
	r = mremap(a, GCH_ARENA_SIZE, GCH_ARENA_SIZE / 2, 0);
	EXPECT_EQ(MAP_FAILED, r);
	EXPECT_TRUE(errno == EINVAL || errno == EFAULT) TH_LOG("errno %d", errno);
	EXPECT_TRUE(pattern_intact(p, 4 * GCH_PAGE_SIZE, 0x5a));
	EXPECT_EQ(0, probe_write(a + GCH_ARENA_SIZE - 1));
	munmap(dst, 2 * GCH_ARENA_SIZE);
}

/* The page map and span slots cannot be split or moved either. */
TEST_F(map, pagemap_and_slots_not_split)
{
	volatile const __u64 *pm = gch_map_pagemap(self->fd);
	__u64 *slots = gch_map_slots(self->fd);
	void *maps[2] = { (void *)pm, slots };
	char *dst = gch_reserve(1);
	__u64 page;

	ASSERT_NE(NULL, pm);
	ASSERT_NE(NULL, slots);
	ASSERT_NE(MAP_FAILED, dst);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, gch_alloc(self->fd, 3, &page, NULL));
	slots[page] = 77;
	for (int i = 0; i < 2; i++) {
		char *m = maps[i];

		EXPECT_EQ(-1, munmap(m + GCH_PAGE_SIZE, GCH_PAGE_SIZE));
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(-1, munmap(m, GCH_PAGEMAP_SIZE / 2));
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(-1, mprotect(m, GCH_PAGE_SIZE, PROT_NONE));
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(MAP_FAILED, mremap(m, GCH_PAGEMAP_SIZE, GCH_PAGEMAP_SIZE,
					     MREMAP_MAYMOVE | MREMAP_FIXED, dst));
		EXPECT_EQ(MAP_FAILED, mremap(m, GCH_PAGEMAP_SIZE,
					     2 * GCH_PAGEMAP_SIZE, MREMAP_MAYMOVE));
	}
	EXPECT_EQ(GCH_PME_MAKE(page, 3), pm[page]);
	EXPECT_EQ(77, slots[page]);
	munmap(dst, GCH_ARENA_SIZE);
}

/*
 * MADV_DONTNEED only drops this mapping's page-table entries: the heap owns
 * the memory, so (as with unmap + remap) the data is still there after the
 * next fault and the heap's resident memory is unchanged.
 */
TEST_F(map, madv_dontneed_keeps_data)
{
	struct gch_stats st0, st;
	__u64 page;
	char *p = arena_with_data(self, &page);
	int ret;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	ret = madvise(p, 4 * GCH_PAGE_SIZE, MADV_DONTNEED);
	if (ret) {
		/* refusing is safe too */
		EXPECT_EQ(EINVAL, errno);
	}
	EXPECT_TRUE(pattern_intact(p, 4 * GCH_PAGE_SIZE, 0x5a));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(st0.resident_bytes, st.resident_bytes);
	/* the whole arena, free pages included */
	ret = madvise(self->base, GCH_ARENA_SIZE, MADV_DONTNEED);
	EXPECT_TRUE(pattern_intact(p, 4 * GCH_PAGE_SIZE, 0x5a));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(st0.resident_bytes, st.resident_bytes);
	EXPECT_EQ(0, gch_free1(self->fd, page, 4));
}

TEST_F(map, first_touch_zero_filled)
{
	long spg = sysconf(_SC_PAGESIZE);
	__u64 page;
	__u32 oflags;
	char *p;

	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, gch_alloc(self->fd, 64, &page, &oflags));
	EXPECT_EQ(GCH_SPAN_ZEROED, oflags & GCH_SPAN_ZEROED);
	p = gch_page_addr(self->base, page);
	for (size_t off = 0; off < 64 * GCH_PAGE_SIZE; off += sizeof(long)) {
		if (*(long *)(p + off)) {
			ASSERT_EQ(0, *(long *)(p + off)) TH_LOG("offset %zu", off);
		}
	}
	/* writes land and stay */
	for (size_t off = 0; off < 64 * GCH_PAGE_SIZE; off += spg)
		p[off] = (char)(off / spg);
	for (size_t off = 0; off < 64 * GCH_PAGE_SIZE; off += spg) {
		ASSERT_EQ((char)(off / spg), p[off]);
	}
}

TEST_F(map, unmap_remap_keeps_data)
{
	struct gch_stats st;
	__u64 page;
	char *p = arena_with_data(self, &page);
	char *again;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, munmap(self->base, GCH_ARENA_SIZE));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(1, st.spans);
	EXPECT_EQ(4, st.span_pages);
	EXPECT_EQ(1, st.arenas);
	/* somewhere else this time */
	again = gch_mmap(self->fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, again);
	EXPECT_TRUE(pattern_intact(again + page * GCH_PAGE_SIZE,
				   4 * GCH_PAGE_SIZE, 0x5a));
	/* and in place again */
	ASSERT_EQ(0, munmap(again, GCH_ARENA_SIZE));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	EXPECT_TRUE(pattern_intact(p, 4 * GCH_PAGE_SIZE, 0x5a));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(1, st.arenas) TH_LOG("remapping created another arena");
	EXPECT_EQ(0, gch_free1(self->fd, page, 4));
}

TEST_F(map, unmap_remap_other_heap_isolated)
{
	__u64 page;
	char *p = arena_with_data(self, &page);
	int fd2 = gch_open();
	char *q;

	ASSERT_NE(NULL, p);
	ASSERT_LE(0, fd2);
	q = gch_mmap(fd2, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, q);
	/* heap 2's arena 0 is fresh zero memory, not heap 1's */
	EXPECT_EQ(0, q[page * GCH_PAGE_SIZE]);
	EXPECT_EQ(0x5a, p[0]);
	munmap(q, GCH_ARENA_SIZE);
	close(fd2);
}

/*
 * 256 arenas = 16 GiB of heap address space, mapped one by one into one
 * reservation the way libgcheap grows.  A marker written in each arena (in
 * free pages: spans of that size would run into the module's total cap)
 * must stay where it was as later arenas are added.
 */
TEST_F_TIMEOUT(map, grow_to_16g, 120)
{
	const unsigned int n = 256;
	struct gch_stats st;
	__u64 page;
	char *base;

	base = gch_reserve(n);
	ASSERT_NE(MAP_FAILED, base);
	for (unsigned int i = 0; i < n; i++) {
		ASSERT_EQ(0, gch_map_arena(self->fd, base, i)) TH_LOG("arena %u", i);
		*(volatile unsigned int *)(base + (size_t)i * GCH_ARENA_SIZE +
					   GCH_ARENA_SIZE / 2) = i + 1;
		if ((i & 31) == 31) {
			for (unsigned int j = 0; j <= i; j++) {
				ASSERT_EQ(j + 1, *(unsigned int *)(base + (size_t)j * GCH_ARENA_SIZE + GCH_ARENA_SIZE / 2))
					TH_LOG("arena %u after mapping %u", j, i);
			}
		}
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(n, st.arenas);
	EXPECT_EQ((__u64)n * GCH_ARENA_SIZE, st.mapped_bytes);
	EXPECT_EQ((__u64)n * GCH_PAGES_PER_ARENA, st.free_pages);
	/* the allocator still works over the grown heap */
	ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, &page, NULL));
	ASSERT_EQ(0, page);
	ASSERT_EQ(0, gch_free1(self->fd, page, GCH_PAGES_PER_ARENA));
	munmap(base, (size_t)n * GCH_ARENA_SIZE);
}

/*
 * Every arena the ABI allows: the last heap page (GCH_MAX_PAGES - 1) is
 * reachable, spans fill each arena exactly, and nothing lies beyond.
 */
TEST_F_TIMEOUT(map, all_arenas, 240)
{
	static struct gch_span_ref refs[GCH_MAX_ARENAS];
	volatile const __u64 *pm = gch_map_pagemap(self->fd);
	const __u64 last = GCH_MAX_PAGES - 1;
	struct gch_stats st;
	char *base;

	ASSERT_NE(NULL, pm);
	base = gch_reserve(GCH_MAX_ARENAS);
	ASSERT_NE(MAP_FAILED, base);
	for (unsigned int i = 0; i < GCH_MAX_ARENAS; i++) {
		__u64 page;

		ASSERT_EQ(0, gch_map_arena(self->fd, base, i)) TH_LOG("arena %u", i);
		ASSERT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, &page, NULL))
			TH_LOG("arena %u", i);
		ASSERT_EQ((__u64)i * GCH_PAGES_PER_ARENA, page);
		refs[i] = (struct gch_span_ref){ (__u32)page, GCH_PAGES_PER_ARENA };
	}
	EXPECT_EQ(-EINVAL, try_map(self->fd, GCH_ARENA_SIZE,
				   PROT_READ | PROT_WRITE, MAP_SHARED,
				   GCH_MMAP_ARENA(GCH_MAX_ARENAS)));
	EXPECT_EQ(-ENOMEM, gch_alloc(self->fd, 1, NULL, NULL));
	EXPECT_EQ(GCH_PME_MAKE(last + 1 - GCH_PAGES_PER_ARENA,
			       GCH_PAGES_PER_ARENA), pm[last]);
	gch_page_addr(base, last)[GCH_PAGE_SIZE - 1] = 9;
	EXPECT_EQ(9, gch_page_addr(base, last)[GCH_PAGE_SIZE - 1]);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(GCH_MAX_ARENAS, st.arenas);
	EXPECT_EQ((__u64)GCH_MAX_PAGES, st.span_pages);
	EXPECT_EQ(0, st.free_pages);
	ASSERT_EQ(0, gch_free(self->fd, refs, GCH_MAX_ARENAS));
	EXPECT_EQ(0, pm[last]);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ((__u64)GCH_MAX_PAGES, st.free_pages);
	munmap(base, (size_t)GCH_MAX_ARENAS * GCH_ARENA_SIZE);
	munmap((void *)pm, GCH_PAGEMAP_SIZE);
}

TEST_F(map, mmap_after_close_of_other_fd)
{
	/* an arena mapped then the fd closed: the mapping keeps the heap */
	__u64 page;
	char *p = arena_with_data(self, &page);

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_TRUE(pattern_intact(p, 4 * GCH_PAGE_SIZE, 0x5a));
	p[1] = 7;
	EXPECT_EQ(7, p[1]);
	/* a page never touched before still faults in, zeroed */
	EXPECT_EQ(0, self->base[GCH_ARENA_SIZE - 1]);
	self->base[GCH_ARENA_SIZE - 1] = 3;
	EXPECT_EQ(3, self->base[GCH_ARENA_SIZE - 1]);
}

TEST_HARNESS_MAIN

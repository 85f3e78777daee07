// SPDX-License-Identifier: MIT
/*
 * leak_test: a heap's pages all go back to the system when it dies.
 *
 * Measured with MemFree from /proc/meminfo plus the pages sitting on the
 * per-CPU free lists (the "count:" of every pageset in /proc/zoneinfo):
 * freed pages land there first, MemFree does not count them, and on a 2 GiB
 * guest they hold up to ~14 MiB.  Slab caches keep some freed objects too, so
 * each measurement runs the same scenario once first (to bring caches to
 * their working level), drops the page cache, waits for the number to stop
 * moving, and compares with a tolerance of TOLERANCE_KB.  Each scenario
 * touches many times that much, so a leaked heap (or a leak per iteration of
 * the stress loop) stands far above the noise.  Dropping caches also runs
 * the heap's shrinker, which may release free pages mid-test; the checks
 * allow for that.  Under KASAN freed slab objects wait in a quarantine of
 * up to 1/32 of RAM, so the tolerance grows by that much there (kmemleak is
 * the leak detector on that kernel).
 *
 * Also here: the heap lives exactly as long as its last fd or mapping (the
 * debugfs directory shows it), and the module cannot be unloaded under a
 * live heap.
 */
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "gch_test.h"

#define TOLERANCE_KB	tolerance_kb()
#ifndef STRESS_ROUNDS
#define STRESS_ROUNDS	400
#endif
#ifndef STRESS_SECONDS
#define STRESS_SECONDS	20
#endif
#ifndef LEAK_TRACE
#define LEAK_TRACE	0
#endif
#define BIG_PAGES	GCH_PAGES_PER_ARENA	/* 64 MiB touched */

/* Only for the longer timeout: TEST() has no timeout variant in 6.1. */
FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

/* 2 MiB of noise measured on Debian's kernel, plus KASAN's quarantine. */
static long tolerance_kb(void)
{
	static long tol;

	if (!tol) {
		tol = 2 * 1024;
		if (gch_kernel_has_kasan())
			tol += meminfo_kb("MemTotal") / 32;
	}
	return tol;
}

/* Pages on the per-CPU free lists, in KiB. */
static long pcp_kb(void)
{
	char line[256];
	long pages = 0;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		const char *t = line + strspn(line, " \t");

		if (!strncmp(t, "count:", 6))
			pages += strtol(t + 6, NULL, 10);
	}
	fclose(f);
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

static long free_kb(void)
{
	long mf = meminfo_kb("MemFree");

	return mf < 0 ? -1 : mf + pcp_kb();
}

static void drop_caches(void)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "3\n", 2) < 0)
			perror("drop_caches");
		close(fd);
	}
}

/* Free memory once it stops moving (deferred frees have run), in KiB. */
static long memfree_settled(void)
{
	long prev = -1, cur = -1;

	drop_caches();
	for (int i = 0; i < 30; i++) {
		usleep(100 * 1000);
		cur = free_kb();
		if (prev >= 0 && labs(cur - prev) < 256)
			break;
		prev = cur;
	}
	return cur;
}

/*
 * How much less free memory there is than @before.  Teardown may finish a
 * little after close() returns, so a shortfall is measured again for a few
 * seconds before it counts.
 */
static long shortfall_kb(long before)
{
	long worst = before - memfree_settled();

	for (int i = 0; i < 10 && worst >= TOLERANCE_KB; i++) {
		usleep(300 * 1000);
		worst = before - memfree_settled();
	}
	return worst;
}

/*
 * Open a heap, map @narenas arenas, allocate @npages in spans of up to 128,
 * touch every system page, then free every other span (so the heap dies
 * holding both live and freed-but-resident pages), and return the fd with
 * the arenas mapped at *@base.
 */
static int fill_heap(unsigned int narenas, __u32 npages, char **base)
{
	static struct gch_span_ref refs[GCH_SPAN_FREE_MAX];
	long spg = sysconf(_SC_PAGESIZE);
	int fd = gch_open();
	__u32 done = 0, nrefs = 0, nfree = 0;

	if (fd < 0)
		return -1;
	/* keep a background scavenger off, so resident bytes stay exact */
	if (gch_has_feature(fd, GCH_FEAT_GC_PHASE)) {
		struct gch_gc_phase g = { .size = sizeof(g),
					  .phase = GCH_GC_MARK_START };

		if (gch_ioctl(fd, GCH_IOC_GC_PHASE, &g))
			return -1;
	}
	*base = gch_reserve(narenas);
	if (*base == MAP_FAILED)
		return -1;
	for (unsigned int a = 0; a < narenas; a++) {
		if (gch_map_arena(fd, *base, a))
			return -1;
	}
	while (done < npages && nrefs < GCH_SPAN_FREE_MAX) {
		__u32 n = npages - done < 128 ? npages - done : 128;
		__u64 page;
		char *p;

		if (gch_alloc(fd, n, &page, NULL))
			return -1;
		p = gch_page_addr(*base, page);
		for (size_t off = 0; off < (size_t)n * GCH_PAGE_SIZE; off += spg)
			p[off] = (char)off | 1;
		if (nrefs & 1)
			refs[nfree++] = (struct gch_span_ref){ (__u32)page, n };
		nrefs++;
		done += n;
	}
	if (nfree && gch_free(fd, refs, nfree))
		return -1;
	return fd;
}

TEST_F_TIMEOUT(slow, close_with_live_spans_frees_every_page, 120)
{
	struct gch_stats st;
	long before, during, after;
	char *base;
	int fd;

	/* warm-up round */
	fd = fill_heap(1, 512, &base);
	ASSERT_LE(0, fd);
	munmap(base, GCH_ARENA_SIZE);
	close(fd);

	before = memfree_settled();
	ASSERT_LT(0, before);
	fd = fill_heap(1, BIG_PAGES, &base);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gch_stats(fd, &st));
	EXPECT_EQ((__u64)BIG_PAGES * GCH_PAGE_SIZE, st.resident_bytes);
	EXPECT_EQ((__u64)BIG_PAGES * GCH_PAGE_SIZE / 2, st.free_resident_bytes);
	EXPECT_EQ(BIG_PAGES / 2, st.span_pages);
	EXPECT_EQ(BIG_PAGES / 2, st.free_pages);
	during = memfree_settled();
	/*
	 * The measurement sees the heap at all.  drop_caches runs the
	 * shrinkers, which may release the freed half, so compare with what
	 * the heap holds after settling; the live half always stays.
	 */
	ASSERT_EQ(0, gch_stats(fd, &st));
	EXPECT_LE((__u64)BIG_PAGES * GCH_PAGE_SIZE / 2, st.resident_bytes);
	EXPECT_LT((long)(st.resident_bytes / 1024) - TOLERANCE_KB,
		  before - during)
		TH_LOG("before %ld during %ld resident %llu", before, during,
		       (unsigned long long)st.resident_bytes);
	ASSERT_EQ(0, munmap(base, GCH_ARENA_SIZE));
	ASSERT_EQ(0, close(fd));
	after = shortfall_kb(before);
	EXPECT_LT(after, TOLERANCE_KB)
		TH_LOG("free before %ld kB, with heap %ld kB, short after close %ld kB",
		       before, during, after);
}

/* The mapping outlives the fd; the heap dies with the mapping. */
TEST_F_TIMEOUT(slow, last_mapping_frees_the_heap, 120)
{
	long before, after;
	char *base;
	int fd;

	fd = fill_heap(1, 512, &base);
	ASSERT_LE(0, fd);
	close(fd);
	munmap(base, GCH_ARENA_SIZE);

	before = memfree_settled();
	fd = fill_heap(1, BIG_PAGES, &base);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
	/* still usable through the mapping */
	base[0] = 0x7e;
	EXPECT_EQ(0x7e, base[0]);
	/* at least the live half is still held (shrinkers may take the rest) */
	EXPECT_LT((long)(BIG_PAGES / 2 * (GCH_PAGE_SIZE / 1024)) - TOLERANCE_KB,
		  before - memfree_settled());
	ASSERT_EQ(0, munmap(base, GCH_ARENA_SIZE));
	after = shortfall_kb(before);
	EXPECT_LT(after, TOLERANCE_KB) TH_LOG("short %ld kB", after);
}

TEST(scavenged_then_closed)
{
	long before, after;
	__u64 released;
	char *base;
	int fd;

	fd = fill_heap(1, 512, &base);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gch_scavenge(fd, GCH_SCAVENGE_ALL, 0, &released));
	munmap(base, GCH_ARENA_SIZE);
	close(fd);

	before = memfree_settled();
	fd = fill_heap(1, 2048, &base);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gch_scavenge(fd, GCH_SCAVENGE_ALL, 0, &released));
	EXPECT_EQ(1024 * GCH_PAGE_SIZE, released);
	munmap(base, GCH_ARENA_SIZE);
	close(fd);
	after = shortfall_kb(before);
	EXPECT_LT(after, TOLERANCE_KB) TH_LOG("short %ld kB", after);
}

static int child_heap_and_exit(void *arg)
{
	char *base;
	int fd = fill_heap(2, 1024, &base);

	(void)arg;
	/* dies holding the fd and the mappings */
	return fd < 0;
}

/* One round of the stress loop: a heap in every state it can die in. */
static int stress_round(__u64 *rs)
{
	char *base;
	int fd = fill_heap(2, rnd_range(rs, 1, 512), &base);
	volatile const __u64 *pm;
	__u64 *slots;

	if (fd < 0)
		return -1;
	pm = gch_map_pagemap(fd);
	slots = gch_map_slots(fd);
	if (!pm || !slots)
		return -2;
	slots[0] = pm[0];
	switch (rnd_range(rs, 0, 3)) {
	case 0:		/* fd first, then the mappings */
		close(fd);
		munmap(base, 2 * GCH_ARENA_SIZE);
		munmap((void *)pm, GCH_PAGEMAP_SIZE);
		munmap(slots, GCH_PAGEMAP_SIZE);
		break;
	case 1:		/* page tables dropped, then mappings first */
		madvise(base, 2 * GCH_ARENA_SIZE, MADV_DONTNEED);
		base[0] = 1;
		munmap(slots, GCH_PAGEMAP_SIZE);
		munmap((void *)pm, GCH_PAGEMAP_SIZE);
		munmap(base, 2 * GCH_ARENA_SIZE);
		close(fd);
		break;
	case 2:		/* a dup outlives the original */
	{
		int fd2 = dup(fd);

		close(fd);
		munmap(base, 2 * GCH_ARENA_SIZE);
		munmap((void *)pm, GCH_PAGEMAP_SIZE);
		munmap(slots, GCH_PAGEMAP_SIZE);
		if (gch_alloc(fd2, 1, NULL, NULL))
			return -3;
		close(fd2);
		break;
	}
	default:	/* a child inherits the fd and dies with it */
		if (run_child(child_heap_and_exit, NULL) != 0)
			return -4;
		munmap((void *)pm, GCH_PAGEMAP_SIZE);
		munmap(slots, GCH_PAGEMAP_SIZE);
		close(fd);
		munmap(base, 2 * GCH_ARENA_SIZE);
		break;
	}
	return 0;
}

TEST_F_TIMEOUT(slow, stress_open_alloc_close_no_leak, 240)
{
	__u64 seed = gch_seed(), rs = seed | 1;
	long before, after;
	time_t end;
	int rounds = 0;

	TH_LOG("seed %#llx", (unsigned long long)seed);
	for (int i = 0; i < 8; i++) {
		ASSERT_EQ(0, stress_round(&rs));
	}
	before = memfree_settled();
	end = time(NULL) + STRESS_SECONDS;
	while (rounds < STRESS_ROUNDS && (rounds < 50 || time(NULL) < end)) {
		int ret = stress_round(&rs);

		ASSERT_EQ(0, ret) TH_LOG("round %d", rounds);
		rounds++;
		if (LEAK_TRACE && rounds % 100 == 0)
			TH_LOG("round %d free %ld kB", rounds, memfree_settled());
	}
	after = shortfall_kb(before);
	TH_LOG("%d rounds; free before %ld kB, short after %ld kB", rounds,
	       before, after);
	EXPECT_LT(after, TOLERANCE_KB);
}

/* ---- heap lifetime as the operator sees it (debugfs) ---- */

TEST(debugfs_dir_lives_with_the_heap)
{
	struct gch_version v;
	char *a;
	int fd;

	if (!gch_debugfs_ready())
		SKIP(return, "no debugfs");
	fd = gch_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gch_version(fd, &v));
	ASSERT_TRUE(gch_heap_dir_exists(v.heap_id))
		TH_LOG("no /sys/kernel/debug/gcheap/%d-%llu", getpid(),
		       (unsigned long long)v.heap_id);
	a = gch_mmap(fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, a);
	close(fd);
	EXPECT_TRUE(gch_heap_dir_exists(v.heap_id)) TH_LOG("mapping keeps it");
	munmap(a, GCH_ARENA_SIZE);
	usleep(100 * 1000);
	EXPECT_FALSE(gch_heap_dir_exists(v.heap_id)) TH_LOG("heap outlived its last reference");
}

/* Value of "@key <n>" in a debugfs stats file, or -1. */
static long long stats_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *l = text;

	while (l && *l) {
		if (!strncmp(l, key, klen) && l[klen] == ' ')
			return strtoll(l + klen + 1, NULL, 10);
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return -1;
}

TEST(debugfs_stats_match_ioctl)
{
	static const char *keys[] = {
		"heap_id", "arenas", "mapped_bytes", "span_pages", "spans",
		"free_pages", "hard_limit_pages", "alloc_calls", "free_calls",
		"spans_freed", "limit_hits",
	};
	char path[128], text[4096];
	struct gch_stats st;
	__u64 page;
	char *base;
	ssize_t n;
	int fd, sfd;

	if (!gch_debugfs_ready())
		SKIP(return, "no debugfs");
	fd = fill_heap(2, 300, &base);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gch_set_hard(fd, 5000));
	ASSERT_EQ(0, gch_alloc(fd, 7, &page, NULL));
	ASSERT_EQ(0, gch_stats(fd, &st));
	snprintf(path, sizeof(path), "/sys/kernel/debug/gcheap/%d-%llu/stats",
		 getpid(), (unsigned long long)st.heap_id);
	sfd = open(path, O_RDONLY);
	ASSERT_LE(0, sfd) TH_LOG("%s: %s", path, strerror(errno));
	n = read(sfd, text, sizeof(text) - 1);
	ASSERT_LT(0, n);
	text[n] = 0;
	close(sfd);
	{
		const __u64 want[] = {
			st.heap_id, st.arenas, st.mapped_bytes, st.span_pages,
			st.spans, st.free_pages, st.hard_limit_pages,
			st.alloc_calls, st.free_calls, st.spans_freed,
			st.limit_hits,
		};

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			EXPECT_EQ((long long)want[i], stats_field(text, keys[i]))
				TH_LOG("debugfs %s", keys[i]);
		}
	}
	munmap(base, 2 * GCH_ARENA_SIZE);
	close(fd);
}

/* A stats file held open across the heap's death must not reach freed memory. */
TEST(debugfs_read_after_heap_death)
{
	char path[128], text[4096];
	struct gch_version v;
	ssize_t n;
	int fd, sfd;

	if (!gch_debugfs_ready())
		SKIP(return, "no debugfs");
	fd = gch_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gch_version(fd, &v));
	snprintf(path, sizeof(path), "/sys/kernel/debug/gcheap/%d-%llu/stats",
		 getpid(), (unsigned long long)v.heap_id);
	sfd = open(path, O_RDONLY);
	ASSERT_LE(0, sfd) TH_LOG("%s: %s", path, strerror(errno));
	close(fd);
	/* an error is fine, stale numbers are fine, a splat is not */
	n = read(sfd, text, sizeof(text) - 1);
	TH_LOG("read after death: %zd (%s)", n, n < 0 ? strerror(errno) : "data");
	close(sfd);
	/* the heap is really gone */
	EXPECT_FALSE(gch_heap_dir_exists(v.heap_id));
}

/* ---- the module is pinned by live heaps ---- */

static int try_unload(void)
{
	return syscall(SYS_delete_module, "gcheap", O_NONBLOCK) ? -errno : 0;
}

static bool module_loaded(void)
{
	struct stat sb;

	return !stat("/sys/module/gcheap", &sb);
}

TEST(module_pinned_by_live_heap)
{
	int fd, ret;
	char *a;

	if (!module_loaded())
		SKIP(return, "gcheap is not a loadable module here");
	fd = gch_open();
	ASSERT_LE(0, fd);
	ret = try_unload();
	EXPECT_TRUE(ret == -EWOULDBLOCK || ret == -EBUSY) TH_LOG("got %d", ret);
	a = gch_mmap(fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, a);
	close(fd);
	/* only a mapping left: still pinned */
	ret = try_unload();
	EXPECT_TRUE(ret == -EWOULDBLOCK || ret == -EBUSY) TH_LOG("got %d", ret);
	a[0] = 1;
	munmap(a, GCH_ARENA_SIZE);
	EXPECT_TRUE(module_loaded());
}

/*
 * Once every heap in the system is gone, nothing may hold the module (the
 * VM runs one test at a time, so no heap but ours ever exists).  A reference
 * leaked anywhere would make the final rmmod fail; this says where.
 */
TEST(no_module_reference_left)
{
	char *base;
	int fd, fd2;

	if (!module_loaded())
		SKIP(return, "gcheap is not a loadable module here");
	fd = fill_heap(2, 600, &base);
	ASSERT_LE(0, fd);
	fd2 = dup(fd);
	ASSERT_LE(0, fd2);
	close(fd);
	ASSERT_EQ(0, run_child(child_heap_and_exit, NULL));
	munmap(base, 2 * GCH_ARENA_SIZE);
	close(fd2);
	EXPECT_EQ(0, gch_module_refcnt()) TH_LOG("module references left");
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * shrinker_test: memory pressure takes free heap memory (kmod/shrinker.c),
 * and every release path races safely with the heap's users.
 *
 *  - drop_caches: "echo 2 > drop_caches" runs every shrinker to exhaustion:
 *    all free resident memory goes, counted as released_shrink_bytes, live
 *    spans keep their data, released pages come back zeroed.
 *  - pressure: a child allocates more anonymous memory than MemAvailable by
 *    half the heap's free resident memory.  Only the shrinker can make room;
 *    the child must finish without an OOM kill (an OOM would also print a
 *    Call Trace the VM runner fails on).
 *  - race: threads allocate, write patterns, verify and free spans while the
 *    scavenger runs flat out, GCH_IOC_SCAVENGE and drop_caches poke, one
 *    thread munmaps and remaps an arena of a second heap, and one writes to
 *    free pages of a third heap (which release may take at any moment).
 *    Every live span keeps its pattern, every GCH_SPAN_ZEROED span reads
 *    zero, and the stats balance (resident == faulted - released) holds for
 *    every heap afterwards: no page released twice, none lost.
 */
#include <pthread.h>
#include <stdatomic.h>
#include "gch_test.h"
#include "scav_test.h"

#define NARENAS		12	/* 768 MiB of address space */

FIXTURE(sh) {
	int fd;
	char *base;
	long spg;
	struct scav_params saved;
};

FIXTURE_SETUP(sh)
{
	self->spg = sysconf(_SC_PAGESIZE);
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	ASSERT_TRUE(gch_has_feature(self->fd, GCH_FEAT_SHRINKER));
	ASSERT_EQ(0, scav_params_save(&self->saved));
	self->base = gch_reserve(NARENAS);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, map_arenas(self->fd, self->base, NARENAS));
}

FIXTURE_TEARDOWN(sh)
{
	scav_params_restore(&self->saved);
	gch_heap_teardown(self->fd, self->base, NARENAS, NULL, NULL);
}

/*
 * Give the heap @live_mib of patterned live spans and @free_mib of touched
 * free memory, with a goal so large that the scavenger keeps all of it.
 */
static void setup_free(struct __test_metadata *_metadata, FIXTURE_DATA(sh) *self,
		       struct gch_span_ref *live, unsigned int live_mib,
		       unsigned int free_mib)
{
	enum { NP = 512 };	/* 4 MiB spans */
	unsigned int nfree = free_mib / 4, nlive = live_mib / 4;
	struct gch_span_ref *fr = calloc(nfree, sizeof(*fr));

	ASSERT_NE(NULL, fr);
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, 16384 * MIB));
	unsigned int nl = 0, nf = 0;

	for (unsigned int i = 0; i < nfree + nlive; i++) {
		__u64 page;
		char *p;

		ASSERT_EQ(0, gch_alloc(self->fd, NP, &page, NULL));
		p = gch_page_addr(self->base, page);
		/* live spans spread among the free ones */
		if ((i % 4 == 0 && nl < nlive) || nf == nfree) {
			live[nl++] = (struct gch_span_ref){ (__u32)page, NP };
			pattern_fill(p, NP * GCH_PAGE_SIZE, page);
		} else {
			fr[nf++] = (struct gch_span_ref){ (__u32)page, NP };
			touch(p, NP * GCH_PAGE_SIZE, self->spg, 9);
		}
	}
	ASSERT_EQ(0, gch_free(self->fd, fr, nfree));
	free(fr);
}

static void check_live(struct __test_metadata *_metadata,
		       FIXTURE_DATA(sh) *self, const struct gch_span_ref *live,
		       unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		EXPECT_EQ(-1, pattern_check(gch_page_addr(self->base, live[i].page),
					    (size_t)live[i].npages * GCH_PAGE_SIZE,
					    live[i].page))
			TH_LOG("live span %u corrupted", live[i].page);
	}
}

TEST_F_TIMEOUT(sh, drop_caches_takes_free_memory, 120)
{
	struct gch_span_ref live[4];
	struct gch_stats st0, st;

	/*
	 * Only the shrinker may release here: the frees below kick the
	 * scavenger, which would otherwise be counted in released_bg_bytes.
	 */
	ASSERT_EQ(0, param_write("scavenger", "0"));
	setup_free(_metadata, self, live, 16, 64);
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	EXPECT_EQ(64 * MIB, st0.free_resident_bytes);
	ASSERT_EQ(0, drop_slab());
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	/*
	 * drop_caches repeats shrink_slab() until a round frees 10 objects or
	 * fewer, and reclaim stops asking below one batch (16 pages) of its
	 * target, half the count: a few pages may stay.
	 */
	EXPECT_GE(128 * (__u64)self->spg, st.free_resident_bytes);
	EXPECT_EQ(16 * MIB, st.resident_bytes - st.free_resident_bytes);
	EXPECT_EQ(64 * MIB - st.free_resident_bytes, st.released_shrink_bytes);
	EXPECT_EQ(0, st.released_bg_bytes);
	EXPECT_LT(st0.scavenge_ns, st.scavenge_ns);
	EXPECT_TRUE(stats_balance(&st, self->spg));
	check_live(_metadata, self, live, 4);

	/*
	 * What the shrinker took comes back as zeroed memory; it took the
	 * highest first, so only the lowest free span may still be dirty.
	 */
	for (int i = 0, zeroed = 0; i < 16; i++) {
		__u64 page;
		__u32 of = 0;

		ASSERT_EQ(0, gch_alloc(self->fd, 512, &page, &of));
		if (of & GCH_SPAN_ZEROED) {
			zeroed++;
			EXPECT_TRUE(span_zero(gch_page_addr(self->base, page),
					      512 * GCH_PAGE_SIZE));
		}
		if (i == 15)
			EXPECT_LE(15, zeroed);
	}
}

/* Child: allocate and touch @mib MiB of anonymous memory, then exit 0. */
static int hog(void *arg)
{
	size_t mib = (size_t)(uintptr_t)arg, spg = sysconf(_SC_PAGESIZE);
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);

	/* if anything is killed, let it be the hog, so the test sees it */
	if (fd >= 0) {
		if (write(fd, "1000", 4) != 4)
			return 5;
		close(fd);
	}
	for (size_t i = 0; i < mib; i++) {
		char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return 6;
		for (size_t off = 0; off < MIB; off += spg)
			p[off] = 1;
	}
	return 0;
}

TEST_F_TIMEOUT(sh, pressure_no_oom, 240)
{
	struct gch_span_ref live[8];
	struct gch_stats st0, st;
	long avail_kb, total_kb;
	unsigned int free_mib, hog_mib;
	int status;

	total_kb = meminfo_kb("MemTotal");
	ASSERT_LT(0, total_kb);
	free_mib = (unsigned int)(total_kb / 1024 / 3) & ~3U;
	if (free_mib > 512)
		free_mib = 512;
	setup_free(_metadata, self, live, 32, free_mib);
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	avail_kb = meminfo_kb("MemAvailable");
	ASSERT_LT(0, avail_kb);
	/* more than is available by half the heap's free memory */
	hog_mib = (unsigned int)(avail_kb / 1024) - 32 + free_mib / 2;
	ksft_print_msg("MemTotal %ld MiB, MemAvailable %ld MiB, heap free resident %u MiB, hog %u MiB\n",
		       total_kb / 1024, avail_kb / 1024, free_mib, hog_mib);
	status = run_child(hog, (void *)(uintptr_t)hog_mib);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("hog: status %#x (killed by %d)", status,
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	ksft_print_msg("shrinker released %llu MiB in %.1f ms\n",
		       (unsigned long long)(st.released_shrink_bytes / MIB),
		       (st.scavenge_ns - st0.scavenge_ns) / 1e6);
	EXPECT_LE((__u64)(free_mib / 2 - 32) * MIB, st.released_shrink_bytes);
	EXPECT_EQ(32 * MIB, st.resident_bytes - st.free_resident_bytes);
	EXPECT_TRUE(stats_balance(&st, self->spg));
	check_live(_metadata, self, live, 8);
}

/* ---- the race ---- */

#define RACE_WORKERS	4
#define RACE_LIVE	24

struct race {
	int fd, fd2, fd3;
	char *base, *base2, *base3;
	long spg;
	atomic_bool stop;
	atomic_uint errors;
	atomic_ulong ops, zeroed;
};

struct worker {
	struct race *r;
	unsigned int id;
	pthread_t tid;
};

static void race_err(struct race *r, const char *what, __u64 page, long off)
{
	atomic_fetch_add(&r->errors, 1);
	fprintf(stderr, "# race: %s: span %llu offset %ld\n", what,
		(unsigned long long)page, off);
}

static void *race_worker(void *arg)
{
	struct worker *w = arg;
	struct race *r = w->r;
	struct gch_span_ref live[RACE_LIVE];
	__u64 seeds[RACE_LIVE], seq = 0, rnd = w->id * 0x9E3779B97F4A7C15ULL + 1;
	unsigned int n = 0;

	while (!atomic_load(&r->stop)) {
		bool do_alloc = n < RACE_LIVE && (n < RACE_LIVE / 2 ||
						  rnd_next(&rnd) & 1);

		if (do_alloc) {
			__u32 np = rnd_range(&rnd, 1, 64), of = 0;
			__u64 page;
			char *p;

			if (gch_alloc(r->fd, np, &page, &of))
				continue;	/* heap full for now */
			p = gch_page_addr(r->base, page);
			if (of & GCH_SPAN_ZEROED) {
				atomic_fetch_add(&r->zeroed, 1);
				if (!span_zero(p, (size_t)np * GCH_PAGE_SIZE))
					race_err(r, "zeroed span holds data", page, 0);
			}
			seeds[n] = page ^ (++seq << 32) ^ ((__u64)w->id << 56);
			pattern_fill(p, (size_t)np * GCH_PAGE_SIZE, seeds[n]);
			live[n].page = (__u32)page;
			live[n++].npages = np;
		} else {
			unsigned int k = rnd_range(&rnd, 0, n - 1);
			long off = pattern_check(gch_page_addr(r->base, live[k].page),
						 (size_t)live[k].npages * GCH_PAGE_SIZE,
						 seeds[k]);

			if (off >= 0)
				race_err(r, "live span lost its pattern", live[k].page, off);
			if (gch_free1(r->fd, live[k].page, live[k].npages))
				race_err(r, "free failed", live[k].page, 0);
			live[k] = live[--n];
			seeds[k] = seeds[n];
		}
		atomic_fetch_add(&r->ops, 1);
	}
	for (unsigned int k = 0; k < n; k++) {
		long off = pattern_check(gch_page_addr(r->base, live[k].page),
					 (size_t)live[k].npages * GCH_PAGE_SIZE,
					 seeds[k]);

		if (off >= 0)
			race_err(r, "live span lost its pattern at the end",
				 live[k].page, off);
	}
	return NULL;
}

static void *race_poker(void *arg)
{
	struct race *r = arg;
	unsigned int i = 0;

	while (!atomic_load(&r->stop)) {
		if (++i % 4 == 0)
			drop_slab();
		else
			gch_scavenge(r->fd, GCH_SCAVENGE_ALL, 1 * MIB, NULL);
		sleep_ms(5);
	}
	return NULL;
}

/* Heap 2: unmap and map its arena again and again; spans must survive it. */
static void *race_remapper(void *arg)
{
	struct race *r = arg;
	struct gch_span_ref live[8];
	__u64 page;

	for (int i = 0; i < 8; i++) {
		if (gch_alloc(r->fd2, 16, &page, NULL)) {
			race_err(r, "heap 2 alloc", 0, 0);
			return NULL;
		}
		live[i] = (struct gch_span_ref){ (__u32)page, 16 };
		pattern_fill(gch_page_addr(r->base2, page), 16 * GCH_PAGE_SIZE, page);
	}
	while (!atomic_load(&r->stop)) {
		/* some touched free memory for the releasers to find */
		if (!gch_alloc(r->fd2, 32, &page, NULL)) {
			touch(gch_page_addr(r->base2, page), 32 * GCH_PAGE_SIZE,
			      r->spg, 3);
			gch_free1(r->fd2, page, 32);
		}
		if (munmap(r->base2, GCH_ARENA_SIZE) ||
		    gch_map_arena(r->fd2, r->base2, 0)) {
			race_err(r, "heap 2 remap", 0, 0);
			return NULL;
		}
		for (int i = 0; i < 8; i++) {
			long off = pattern_check(gch_page_addr(r->base2, live[i].page),
						 16 * GCH_PAGE_SIZE, live[i].page);

			if (off >= 0)
				race_err(r, "heap 2 span lost its pattern",
					 live[i].page, off);
		}
	}
	return NULL;
}

/* Heap 3: keep writing into free pages that release keeps taking. */
static void *race_free_writer(void *arg)
{
	struct race *r = arg;
	__u64 page, i = 0;
	char *p;

	if (gch_alloc(r->fd3, 64, &page, NULL) || gch_free1(r->fd3, page, 64)) {
		race_err(r, "heap 3 setup", 0, 0);
		return NULL;
	}
	p = gch_page_addr(r->base3, page);
	while (!atomic_load(&r->stop)) {
		((volatile char *)p)[(i * r->spg) % (64 * GCH_PAGE_SIZE)] = (char)i;
		i++;
	}
	return NULL;
}

TEST_F_TIMEOUT(sh, race_everything, 200)
{
	struct race r = { .fd = self->fd, .base = self->base, .spg = self->spg };
	struct worker w[RACE_WORKERS];
	pthread_t poker, remapper, writer;
	struct gch_stats st;
	int secs = 20;
	const char *env = getenv("GCH_RACE_SECS");

	if (env && *env)
		secs = atoi(env);
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "100"));
	ASSERT_EQ(0, param_write("scavenger_interval_ms", "1"));
	/* goal 0-ish: the budget is nothing, every free page is fair game */
	ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, GCH_PAGE_SIZE));
	r.fd2 = gch_open();
	r.fd3 = gch_open();
	ASSERT_LE(0, r.fd2);
	ASSERT_LE(0, r.fd3);
	r.base2 = gch_reserve(1);
	r.base3 = gch_reserve(1);
	ASSERT_EQ(0, gch_map_arena(r.fd2, r.base2, 0));
	ASSERT_EQ(0, gch_map_arena(r.fd3, r.base3, 0));
	ASSERT_EQ(0, gch_set_limits(r.fd2, GCH_LIMIT_GOAL, 0, GCH_PAGE_SIZE));
	ASSERT_EQ(0, gch_set_limits(r.fd3, GCH_LIMIT_GOAL, 0, GCH_PAGE_SIZE));

	for (unsigned int i = 0; i < RACE_WORKERS; i++) {
		w[i] = (struct worker){ .r = &r, .id = i + 1 };
		ASSERT_EQ(0, pthread_create(&w[i].tid, NULL, race_worker, &w[i]));
	}
	ASSERT_EQ(0, pthread_create(&poker, NULL, race_poker, &r));
	ASSERT_EQ(0, pthread_create(&remapper, NULL, race_remapper, &r));
	ASSERT_EQ(0, pthread_create(&writer, NULL, race_free_writer, &r));
	sleep(secs);
	atomic_store(&r.stop, true);
	for (unsigned int i = 0; i < RACE_WORKERS; i++)
		pthread_join(w[i].tid, NULL);
	pthread_join(poker, NULL);
	pthread_join(remapper, NULL);
	pthread_join(writer, NULL);

	EXPECT_EQ(0, atomic_load(&r.errors));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	ksft_print_msg("race %d s: %lu ops, %lu zeroed spans; released bg %llu eager %llu shrink %llu ioctl %llu KiB\n",
		       secs, atomic_load(&r.ops), atomic_load(&r.zeroed),
		       (unsigned long long)st.released_bg_bytes >> 10,
		       (unsigned long long)st.released_eager_bytes >> 10,
		       (unsigned long long)st.released_shrink_bytes >> 10,
		       (unsigned long long)st.released_ioctl_bytes >> 10);
	EXPECT_LT(0, atomic_load(&r.ops));
	EXPECT_TRUE(stats_balance(&st, self->spg));
	ASSERT_EQ(0, gch_stats(r.fd2, &st));
	EXPECT_TRUE(stats_balance(&st, self->spg));
	ASSERT_EQ(0, gch_stats(r.fd3, &st));
	EXPECT_TRUE(stats_balance(&st, self->spg))
		TH_LOG("heap 3: faults %llu resident %llu released %llu+%llu+%llu",
		       (unsigned long long)st.faults,
		       (unsigned long long)st.resident_bytes,
		       (unsigned long long)st.released_bg_bytes,
		       (unsigned long long)st.released_shrink_bytes,
		       (unsigned long long)st.released_ioctl_bytes);
	/* and the heap is still whole: a full release leaves only live spans */
	ASSERT_EQ(0, gch_scavenge(r.fd3, GCH_SCAVENGE_ALL, 0, NULL));
	ASSERT_EQ(0, gch_stats(r.fd3, &st));
	EXPECT_EQ(0, st.resident_bytes);
	close(r.fd2);
	close(r.fd3);
	munmap(r.base2, GCH_ARENA_SIZE);
	munmap(r.base3, GCH_ARENA_SIZE);
}

TEST_HARNESS_MAIN

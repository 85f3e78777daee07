// SPDX-License-Identifier: MIT
/*
 * threads_test: the ioctls and mappings under concurrent use by threads of
 * the owning process.
 *
 * Workers allocate and free spans at random and stamp each heap page they own
 * with (thread, sequence) words; before freeing a span they check every stamp
 * is still theirs.  Two spans handed out overlapping would make some stamp
 * change, so overlap shows up as a wrong stamp, and the page map must agree
 * with each span too.  Other tests race frees of the same span (exactly one
 * may win) and arena creation against allocation.
 */
#include <pthread.h>

#include "gch_test.h"

#define NTHREADS 4
#define NARENAS 4
#define ITERS 6000
#define MAXLIVE 48

FIXTURE(th) {
	int fd;
	char *base;
	volatile const __u64 *pm;
};

FIXTURE_SETUP(th)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(NARENAS);
	ASSERT_NE(MAP_FAILED, self->base);
	self->pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, self->pm);
}

FIXTURE_TEARDOWN(th)
{
	gch_heap_teardown(self->fd, self->base, NARENAS, self->pm, NULL);
}

struct worker {
	pthread_t tid;
	int id, fd;
	char *base;
	volatile const __u64 *pm;
	__u64 seed;
	struct gch_span_ref live[MAXLIVE];
	__u32 seq[MAXLIVE];
	int nlive;
	unsigned long allocs, frees, enomem;
	char err[160];		/* first failure, empty if none */
};

static __u64 stamp(int id, __u32 seq, __u64 page)
{
	return ((__u64)(id + 1) << 56) | ((__u64)seq << 24) | page;
}

static void fail(struct worker *w, const char *what, __u64 a, __u64 b)
{
	if (!w->err[0])
		snprintf(w->err, sizeof(w->err), "thread %d: %s (%#llx, %#llx)",
			 w->id, what, (unsigned long long)a,
			 (unsigned long long)b);
}

/* Stamp the first and last word of every heap page of the span. */
static void write_stamps(struct worker *w, struct gch_span_ref r, __u32 seq)
{
	for (__u64 p = r.page; p < (__u64)r.page + r.npages; p++) {
		__u64 *first = (__u64 *)gch_page_addr(w->base, p);

		first[0] = stamp(w->id, seq, p);
		first[GCH_PAGE_SIZE / 8 - 1] = stamp(w->id, seq, p);
	}
}

static bool check_span(struct worker *w, struct gch_span_ref r, __u32 seq)
{
	for (__u64 p = r.page; p < (__u64)r.page + r.npages; p++) {
		__u64 *first = (__u64 *)gch_page_addr(w->base, p);
		__u64 want = stamp(w->id, seq, p);

		if (first[0] != want || first[GCH_PAGE_SIZE / 8 - 1] != want) {
			fail(w, "stamp overwritten: span shared", p, first[0]);
			return false;
		}
		if (w->pm[p] != GCH_PME_MAKE(r.page, r.npages)) {
			fail(w, "page map disagrees", p, w->pm[p]);
			return false;
		}
	}
	return true;
}

static void worker_free(struct worker *w, int nfree)
{
	struct gch_span_ref refs[8];
	int ret;

	for (int i = 0; i < nfree; i++) {
		int j = (int)rnd_range(&w->seed, 0, w->nlive - 1);

		if (!check_span(w, w->live[j], w->seq[j]))
			return;
		refs[i] = w->live[j];
		w->live[j] = w->live[w->nlive - 1];
		w->seq[j] = w->seq[w->nlive - 1];
		w->nlive--;
	}
	ret = gch_free(w->fd, refs, nfree);
	if (ret)
		fail(w, "free failed", refs[0].page, -ret);
	w->frees += nfree;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (__u32 it = 0; it < ITERS && !w->err[0]; it++) {
		bool alloc = w->nlive == 0 ||
			(w->nlive < MAXLIVE && rnd_range(&w->seed, 0, 1));

		if (alloc) {
			__u32 n = rnd_range(&w->seed, 0, 9) ? rnd_range(&w->seed, 1, 8)
							    : rnd_range(&w->seed, 9, 200);
			__u64 page;
			int ret = gch_alloc(w->fd, n, &page, NULL);

			if (ret == -ENOMEM) {
				w->enomem++;
				continue;
			}
			if (ret) {
				fail(w, "alloc failed", n, -ret);
				break;
			}
			w->live[w->nlive] = (struct gch_span_ref){ (__u32)page, n };
			w->seq[w->nlive] = it;
			write_stamps(w, w->live[w->nlive], it);
			w->nlive++;
			w->allocs++;
		} else {
			int n = (int)rnd_range(&w->seed, 1, w->nlive < 8 ? w->nlive : 8);

			worker_free(w, n);
		}
	}
	while (w->nlive && !w->err[0])
		worker_free(w, 1);
	return NULL;
}

TEST_F_TIMEOUT(th, four_threads_no_overlap, 240)
{
	static struct worker w[NTHREADS];
	__u64 seed = gch_seed();
	unsigned long allocs = 0, frees = 0;
	struct gch_stats st;

	TH_LOG("seed %#llx", (unsigned long long)seed);
	for (int a = 0; a < 2; a++) {
		ASSERT_EQ(0, gch_map_arena(self->fd, self->base, a));
	}
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .id = i, .fd = self->fd,
					.base = self->base, .pm = self->pm,
					.seed = (seed + i * 0x9e3779b97f4a7c15ULL) | 1 };
		ASSERT_EQ(0, pthread_create(&w[i].tid, NULL, worker_main, &w[i]));
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(w[i].tid, NULL);
		EXPECT_EQ(0, w[i].err[0]) TH_LOG("%s", w[i].err);
		allocs += w[i].allocs;
		frees += w[i].frees;
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.spans);
	EXPECT_EQ(0, st.span_pages);
	EXPECT_EQ(allocs, st.alloc_calls);
	EXPECT_EQ(frees, st.spans_freed);
	EXPECT_EQ(allocs, frees);
	EXPECT_EQ(2 * GCH_PAGES_PER_ARENA, st.free_pages);
	/* all coalesced back: two whole arenas */
	EXPECT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, NULL, NULL));
	EXPECT_EQ(0, gch_alloc(self->fd, GCH_PAGES_PER_ARENA, NULL, NULL));
	TH_LOG("%lu allocations", allocs);
}

struct racer {
	pthread_t tid;
	int fd;
	struct gch_span_ref ref;
	pthread_barrier_t *bar;
	int ret;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->bar);
	r->ret = gch_free(r->fd, &r->ref, 1);
	return NULL;
}

TEST_F_TIMEOUT(th, racing_frees_one_winner, 120)
{
	struct racer r[NTHREADS];
	pthread_barrier_t bar;
	struct gch_stats st;

	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	pthread_barrier_init(&bar, NULL, NTHREADS);
	for (int round = 0; round < 300; round++) {
		__u64 page;
		int wins = 0;

		ASSERT_EQ(0, gch_alloc(self->fd, 1 + round % 7, &page, NULL));
		for (int i = 0; i < NTHREADS; i++) {
			r[i] = (struct racer){ .fd = self->fd, .bar = &bar,
					       .ref = { (__u32)page, 1 + round % 7 } };
			ASSERT_EQ(0, pthread_create(&r[i].tid, NULL, racer_main, &r[i]));
		}
		for (int i = 0; i < NTHREADS; i++) {
			pthread_join(r[i].tid, NULL);
			if (r[i].ret == 0) {
				wins++;
			} else {
				EXPECT_EQ(-EINVAL, r[i].ret);
			}
		}
		ASSERT_EQ(1, wins) TH_LOG("round %d", round);
	}
	pthread_barrier_destroy(&bar);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.spans);
	EXPECT_EQ(300, st.spans_freed);
}

struct grower {
	pthread_t tid;
	int fd, arena;
	char *base;
	pthread_barrier_t *bar;
	int map_ret;
	unsigned long allocs;
};

static void *grower_main(void *arg)
{
	struct grower *g = arg;

	g->map_ret = gch_map_arena(g->fd, g->base, g->arena);
	/* all arenas exist before anyone allocates, so nothing is refused */
	pthread_barrier_wait(g->bar);
	for (int i = 0; i < 2000; i++) {
		__u64 page;

		if (gch_alloc(g->fd, 3, &page, NULL) == 0) {
			g->allocs++;
			*(volatile char *)gch_page_addr(g->base, page) = 1;
		}
	}
	return NULL;
}

/* Arenas created by four threads at once while all allocate. */
TEST_F_TIMEOUT(th, concurrent_arena_creation, 120)
{
	struct grower g[NTHREADS];
	pthread_barrier_t bar;
	struct gch_stats st;
	unsigned long allocs = 0;

	pthread_barrier_init(&bar, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		g[i] = (struct grower){ .fd = self->fd, .arena = i,
					.base = self->base, .bar = &bar };
		ASSERT_EQ(0, pthread_create(&g[i].tid, NULL, grower_main, &g[i]));
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(g[i].tid, NULL);
		EXPECT_EQ(0, g[i].map_ret) TH_LOG("arena %d", i);
		allocs += g[i].allocs;
	}
	pthread_barrier_destroy(&bar);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(NTHREADS, st.arenas);
	EXPECT_EQ(allocs, st.spans);
	EXPECT_EQ(allocs * 3, st.span_pages);
	EXPECT_EQ((__u64)NTHREADS * GCH_PAGES_PER_ARENA - allocs * 3,
		  st.free_pages);
	/* 8000 * 3 pages fit in 4 arenas: nobody was refused */
	EXPECT_EQ(NTHREADS * 2000, allocs);
}

TEST_HARNESS_MAIN

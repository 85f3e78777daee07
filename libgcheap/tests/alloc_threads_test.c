// SPDX-License-Identifier: MIT
/*
 * Four threads allocating at once (tiny, small scan/noscan, large), each
 * filling its objects with its own pattern; afterwards every object is
 * intact and no two overlap.  Thread exit detaches; gch_close refuses while
 * another thread is attached.
 */
#include <pthread.h>
#include <semaphore.h>

#include "internal.h"
#include "harness.h"

#define NTHREADS	4
#define PER_THREAD	100000

struct rec {
	unsigned char *p;
	uint32_t size;
	uint8_t pat;
};

static gch_heap *h;
static struct rec recs[NTHREADS][PER_THREAD];
static pthread_barrier_t start;

static void *worker(void *arg)
{
	long id = (long)arg;
	unsigned seed = (unsigned)id * 7919 + 1;

	pthread_barrier_wait(&start);
	for (int i = 0; i < PER_THREAD; i++) {
		struct rec *r = &recs[id][i];
		unsigned kind;
		size_t size;

		seed = seed * 1103515245 + 12345;
		kind = (seed >> 8) % 1000;
		size = kind < 300 ? 1 + (seed >> 16) % 15 :
		       kind < 997 ? 16 + (seed >> 16) % 500 :
				    GCH_MAX_SMALL + 1 + (seed >> 12) % 100000;
		r->p = kind % 2 ? gch_malloc(h, size) :
				  gch_malloc_noscan(h, size);
		r->size = (uint32_t)size;
		r->pat = (uint8_t)(id * 50 + i % 50 + 1);
		if (!r->p)
			continue;
		for (size_t j = 0; j < size; j += size > 4096 ? 4096 : 1)
			if (r->p[j])
				r->p = NULL;	/* flagged below */
		if (r->p)
			memset(r->p, r->pat, size);
	}
	return NULL;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return (x->p > y->p) - (x->p < y->p);
}

static void t_concurrent(void)
{
	pthread_t t[NTHREADS];
	struct gch_heap_stats st;
	struct rec *all = &recs[0][0];
	size_t n = (size_t)NTHREADS * PER_THREAD;

	pthread_barrier_init(&start, NULL, NTHREADS);
	for (long i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (size_t i = 0; i < n; i++) {
		EXPECTF(all[i].p, "object %zu null or not zeroed", i);
		if (!all[i].p)
			return;
		for (size_t j = 0; j < all[i].size; j++)
			if (all[i].p[j] != all[i].pat) {
				EXPECTF(0, "object %zu byte %zu", i, j);
				break;
			}
		EXPECT(gch_base(h, all[i].p + all[i].size - 1) != NULL);
	}
	qsort(all, n, sizeof(*all), cmp_rec);
	for (size_t i = 1; i < n; i++)
		EXPECTF(all[i - 1].p + all[i - 1].size <= all[i].p,
			"%p+%u > %p", (void *)all[i - 1].p, all[i - 1].size,
			(void *)all[i].p);
	EXPECT(gch_stats(h, &st) == 0);
	EXPECTF(st.threads == 0, "%u threads still attached", st.threads);
}

static sem_t attached, release;

static void *holder(void *arg)
{
	(void)arg;
	gch_malloc(h, 10);
	sem_post(&attached);
	sem_wait(&release);
	gch_thread_detach(h);
	return NULL;
}

static void t_close_busy(void)
{
	gch_heap *old = h;
	pthread_t t;

	h = open_heap(0);
	sem_init(&attached, 0, 0);
	sem_init(&release, 0, 0);
	pthread_create(&t, NULL, holder, NULL);
	sem_wait(&attached);
	errno = 0;
	EXPECT(gch_close(h) == -1 && errno == EBUSY);
	EXPECT(gch_malloc(h, 100) != NULL);	/* still intact */
	sem_post(&release);
	pthread_join(t, NULL);
	EXPECT(gch_close(h) == 0);
	h = old;
}

int main(void)
{
	static const struct tcase cases[] = {
		{ "4 threads allocate concurrently: zeroed, intact, disjoint", t_concurrent },
		{ "close is EBUSY while another thread is attached", t_close_busy },
	};
	int r;

	h = open_heap(0);
	printf("# backend %s\n", gch_backend_name(h));
	r = RUN("threads", cases);
	gch_close(h);
	return r;
}

// SPDX-License-Identifier: MIT
/*
 * Small-object allocation throughput, allocation only (nothing is freed),
 * for one allocator chosen at build time (-DUSE_GCHEAP, -DUSE_GCHEAP_GC,
 * -DUSE_MIMALLOC, -DUSE_JEMALLOC, -DUSE_GLIBC, -DUSE_BDWGC,
 * -DUSE_BDWGC_NOGC).  gcheap and bdwgc-nogc run with their collectors off
 * (allocation alone, the comparison with the malloc family); gcheap-gc and
 * bdwgc run with them on, so the garbage the loop leaves is collected and
 * its memory reused -- the comparison between the two collectors.  Each
 * allocator gets its own executable because jemalloc and mimalloc replace
 * malloc for the whole process; bench/alloc-run runs them all in one go.
 *
 * Usage: alloc_bench THREADS WORKLOAD COUNT
 *   WORKLOAD  16      16 B objects
 *             64      64 B objects
 *             mixed   sizes 8..128 B from a fixed pseudo-random sequence
 *             tiny    8 B noscan objects (gcheap's tiny allocator; plain
 *                     8 B malloc elsewhere)
 *   COUNT     objects per thread
 * Every object's first word is written, as a program initialising what it
 * allocates would; without that an allocator that never touches fresh
 * memory (gcheap gets it zeroed from the kernel) would skip the page faults
 * every other allocator pays.
 *
 * Output, one line:
 *   ALLOC WORKLOAD THREADS wall_ns user_ns sys_ns faults Mallocs/s [info]
 * wall_ns: wall-clock time per allocation per thread, from the barrier that
 *          releases the threads to the last thread's end;
 * user_ns, sys_ns: process CPU time in user and kernel mode per allocation
 *          (all threads summed, divided by all allocations);
 * faults:  minor page faults per 1000 allocations.
 * First-touch page faults are the same work for every allocator but cost
 * ~15 us each on some virtual machines; user_ns is the allocator's own work.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#if defined(USE_GCHEAP) || defined(USE_GCHEAP_GC)
#include "gcheap.h"
#ifdef USE_GCHEAP
#define NAME "gcheap"		/* collector off: allocation alone */
#else
#define NAME "gcheap-gc"	/* collector on: garbage is reclaimed */
#endif
static gch_heap *heap;
#define ALLOC(n) gch_malloc(heap, (n))
#define ALLOC_NOSCAN(n) gch_malloc_noscan(heap, (n))
#elif defined(USE_MIMALLOC)
#include <mimalloc.h>
#define NAME "mimalloc"
#define ALLOC(n) mi_malloc(n)
#elif defined(USE_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define NAME "jemalloc"
#define ALLOC(n) malloc(n)
#elif defined(USE_GLIBC)
#define NAME "glibc"
#define ALLOC(n) malloc(n)
#elif defined(USE_BDWGC) || defined(USE_BDWGC_NOGC)
#define GC_THREADS
#include <gc/gc.h>
#ifdef USE_BDWGC
#define NAME "bdwgc"
#else
#define NAME "bdwgc-nogc"
#endif
#define ALLOC(n) GC_MALLOC(n)
#define ALLOC_NOSCAN(n) GC_MALLOC_ATOMIC(n)
#else
#error "pick an allocator with -DUSE_..."
#endif

#ifndef ALLOC_NOSCAN
#define ALLOC_NOSCAN(n) ALLOC(n)
#endif

enum workload { W16, W64, WMIXED, WTINY };

static enum workload work;
static long count;
static pthread_barrier_t barrier;
static uint8_t mixed_sizes[4096];
static volatile uintptr_t sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_ns(const struct timeval *a, const struct timeval *b)
{
	return ((double)(a->tv_sec - b->tv_sec) * 1e6 +
		(double)(a->tv_usec - b->tv_usec)) * 1e3;
}

static void die(const char *what)
{
	fprintf(stderr, "alloc_bench: %s failed\n", what);
	exit(1);
}

/* The loops are kept separate so each is as tight as the allocator allows. */
static uintptr_t run_fixed(size_t size)
{
	uintptr_t acc = 0;

	for (long i = 0; i < count; i++) {
		void **p = ALLOC(size);

		if (__builtin_expect(!p, 0))
			die("allocation");
		*p = (void *)acc;
		acc ^= (uintptr_t)p;
	}
	return acc;
}

static uintptr_t run_mixed(void)
{
	uintptr_t acc = 0;

	for (long i = 0; i < count; i++) {
		void **p = ALLOC(mixed_sizes[i & 4095]);

		if (__builtin_expect(!p, 0))
			die("allocation");
		*p = (void *)acc;
		acc ^= (uintptr_t)p;
	}
	return acc;
}

static uintptr_t run_tiny(void)
{
	uintptr_t acc = 0;

	for (long i = 0; i < count; i++) {
		uint64_t *p = ALLOC_NOSCAN(8);

		if (__builtin_expect(!p, 0))
			die("allocation");
		*p = acc;
		acc ^= (uintptr_t)p;
	}
	return acc;
}

static void *worker(void *arg)
{
	uintptr_t acc;

	(void)arg;
	pthread_barrier_wait(&barrier);
	switch (work) {
	case W16:
		acc = run_fixed(16);
		break;
	case W64:
		acc = run_fixed(64);
		break;
	case WMIXED:
		acc = run_mixed();
		break;
	default:
		acc = run_tiny();
		break;
	}
	sink ^= acc;
	pthread_barrier_wait(&barrier);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[64];
	unsigned seed = 12345;
	struct rusage r0, r1;
	double t0, t1, total;
	int nthreads;

	if (argc != 4)
		die("usage: alloc_bench THREADS 16|64|mixed|tiny COUNT;");
	nthreads = atoi(argv[1]);
	count = atol(argv[3]);
	if (nthreads < 1 || nthreads > 63 || count < 1)
		die("argument check");
	if (!strcmp(argv[2], "16"))
		work = W16;
	else if (!strcmp(argv[2], "64"))
		work = W64;
	else if (!strcmp(argv[2], "mixed"))
		work = WMIXED;
	else if (!strcmp(argv[2], "tiny"))
		work = WTINY;
	else
		die("workload");
	for (int i = 0; i < 4096; i++) {
		seed = seed * 1103515245 + 12345;
		mixed_sizes[i] = (uint8_t)(8 + (seed >> 16) % 121);
	}

#if defined(USE_GCHEAP) || defined(USE_GCHEAP_GC)
	{
		struct gch_options o = { .size = sizeof(o) };

#ifdef USE_GCHEAP
		o.gc_percent = -1;
#endif
		heap = gch_open(&o);
		if (!heap)
			die("gch_open");
	}
#elif defined(USE_BDWGC) || defined(USE_BDWGC_NOGC)
	GC_INIT();
#ifdef USE_BDWGC_NOGC
	GC_disable();
#endif
#endif
	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, worker, NULL))
			die("pthread_create");
	getrusage(RUSAGE_SELF, &r0);
	t0 = now();
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	t1 = now();
	getrusage(RUSAGE_SELF, &r1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);

	total = (double)count * nthreads;
	printf("%s %s %d %.3f %.3f %.3f %.2f %.1f", NAME, argv[2], nthreads,
	       (t1 - t0) * 1e9 / (double)count,
	       tv_ns(&r1.ru_utime, &r0.ru_utime) / total,
	       tv_ns(&r1.ru_stime, &r0.ru_stime) / total,
	       (double)(r1.ru_minflt - r0.ru_minflt) * 1000 / total,
	       total / (t1 - t0) / 1e6);
#if defined(USE_GCHEAP) || defined(USE_GCHEAP_GC)
	printf(" backend=%s", gch_backend_name(heap));
#elif defined(USE_JEMALLOC)
	{
		const char *v;
		size_t len = sizeof(v);

		if (mallctl("version", &v, &len, NULL, 0))
			die("jemalloc is not the malloc in use;");
		printf(" version=%s", v);
	}
#elif defined(USE_MIMALLOC)
	printf(" version=%d", mi_version());
#elif defined(USE_BDWGC) || defined(USE_BDWGC_NOGC)
	printf(" gcs=%lu", (unsigned long)GC_get_gc_no());
#endif
	printf("\n");
	return 0;
}

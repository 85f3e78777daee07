/* SPDX-License-Identifier: MIT */
/*
 * gcbench_alloc.h - one allocator per build for the collector benchmarks
 * (gcbench.c, binarytrees.c, churn.c), and the one-line report they share.
 *
 *   -DUSE_GCHEAP     gch_malloc / gch_malloc_noscan, no frees (collected)
 *   -DUSE_BDWGC      GC_MALLOC / GC_MALLOC_ATOMIC, no frees (collected);
 *                    with -DBDWGC_PARALLEL its parallel marker threads run
 *                    (bdwgc-par); with -DBDWGC_INCREMENTAL after
 *                    GC_enable_incremental() (bdwgc-inc, like bigheap.c's
 *                    BH_BDWGC_INC)
 *   -DUSE_GLIBC, -DUSE_JEMALLOC, -DUSE_MIMALLOC
 *                    malloc/calloc + explicit free() where the program
 *                    knows an object died (jemalloc and mimalloc replace
 *                    malloc when linked, as Debian ships them)
 *
 * FREE(p) is a no-op for the collected allocators; FREE_TREE walks only
 * when freeing explicitly.  Every run ends with one line:
 *   bench=<name> alloc=<allocator> wall_s= cpu_s= maxrss_mb= gcs=
 *   pause_total_ms= pause_max_ms= pause_p99_ms= variant="..." <extra>
 * pause_p99_ms is the 99th percentile of the pauses ("-" where the
 * collector gives none, 0 for malloc): gcheap's gch_gc_stats().pause_p99_ns
 * (over its last pauses), bdwgc's from every pause timed below.
 *
 * bdwgc's pauses: a collection without incremental mode stops the world
 * (and holds the allocation lock, which a single-threaded program waits
 * on) from GC_EVENT_START to GC_EVENT_END; in incremental mode the program
 * runs between the increments, so a pause is one stopped-world window,
 * GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD (bigheap.c's
 * measure), and a cycle has several.
 */
#ifndef GCBENCH_ALLOC_H
#define GCBENCH_ALLOC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#if defined(USE_GCHEAP)
#include "gcheap.h"
static gch_heap *bench_heap;
#define ALLOC_NAME		"gcheap"
#define ALLOC(n)		gch_malloc(bench_heap, (n))
#define ALLOC_NOSCAN(n)		gch_malloc_noscan(bench_heap, (n))
#define FREE(p)			((void)(p))
#define EXPLICIT_FREE		0
static void alloc_init(void)
{
	bench_heap = gch_open(NULL);
	if (!bench_heap) {
		perror("gch_open");
		exit(1);
	}
}
static void gc_numbers(uint64_t *n, double *total_ms, double *max_ms,
		       double *p99_ms)
{
	struct gch_gc_stats st;

	gch_gc_stats(bench_heap, &st);
	*n = st.cycles;
	*total_ms = st.pause_total_ns / 1e6;
	*max_ms = st.pause_max_ns / 1e6;
	*p99_ms = st.pause_p99_ns / 1e6;
}
static const char *alloc_variant(void)
{
	return gch_backend_name(bench_heap);
}
#elif defined(USE_BDWGC)
#define GC_THREADS
#include <gc.h>
#include <sys/mman.h>
#if defined(BDWGC_PARALLEL)
#define ALLOC_NAME		"bdwgc-par"
#elif defined(BDWGC_INCREMENTAL)
#define ALLOC_NAME		"bdwgc-inc"
#else
#define ALLOC_NAME		"bdwgc"
#endif
#define ALLOC(n)		GC_MALLOC(n)
#define ALLOC_NOSCAN(n)		GC_MALLOC_ATOMIC(n)
#define FREE(p)			((void)(p))
#define EXPLICIT_FREE		0
#ifdef BDWGC_INCREMENTAL
#define BDW_PAUSE_BEGIN		GC_EVENT_PRE_STOP_WORLD
#define BDW_PAUSE_END		GC_EVENT_POST_START_WORLD
#else
#define BDW_PAUSE_BEGIN		GC_EVENT_START
#define BDW_PAUSE_END		GC_EVENT_END
#endif
/*
 * Every pause's length in ns, for the p99: in an anonymous mapping, which
 * bdwgc does not scan (the data segment it would scan as roots), touched
 * only as far as it is used; the pauses beyond BDW_MAX_PAUSES are left out
 * of the p99 (counted in the total and max all the same).
 */
#define BDW_MAX_PAUSES		(1 << 20)
static uint64_t *bdw_pauses;
static size_t bdw_npauses;
static struct timespec bdw_t0;
static double bdw_total_ms, bdw_max_ms;
static void bdw_event(GC_EventType e)
{
	struct timespec t;
	double ms;

	if (e == BDW_PAUSE_BEGIN) {
		clock_gettime(CLOCK_MONOTONIC, &bdw_t0);
	} else if (e == BDW_PAUSE_END) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - bdw_t0.tv_sec) * 1e3 +
		     (t.tv_nsec - bdw_t0.tv_nsec) / 1e6;
		bdw_total_ms += ms;
		if (ms > bdw_max_ms)
			bdw_max_ms = ms;
		if (bdw_pauses && bdw_npauses < BDW_MAX_PAUSES)
			bdw_pauses[bdw_npauses++] = (uint64_t)(ms * 1e6);
	}
}
static void alloc_init(void)
{
	void *p = mmap(NULL, BDW_MAX_PAUSES * sizeof(uint64_t),
		       PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	bdw_pauses = p == MAP_FAILED ? NULL : p;
#ifdef BDWGC_INCREMENTAL
	GC_enable_incremental();
#endif
	GC_INIT();
#ifdef BDWGC_PARALLEL
	/* bdwgc starts its marker threads with the program's first thread;
	 * these programs have none, so ask for them (the "with
	 * parallel marking" figure) */
	GC_start_mark_threads();
#endif
#ifdef BDWGC_INCREMENTAL
	if (!GC_is_incremental_mode())
		fprintf(stderr, "gcbench: GC_enable_incremental() did not "
			"enable incremental mode\n");
#endif
	GC_set_on_collection_event(bdw_event);
}
static int bdw_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}
static void gc_numbers(uint64_t *n, double *total_ms, double *max_ms,
		       double *p99_ms)
{
	*n = GC_get_gc_no();
	*total_ms = bdw_total_ms;
	*max_ms = bdw_max_ms;
	*p99_ms = -1;
	if (bdw_pauses && bdw_npauses) {
		/* nearest rank: the smallest pause >= 99% of them */
		size_t k = (bdw_npauses * 99 + 99) / 100;

		qsort(bdw_pauses, bdw_npauses, sizeof(*bdw_pauses), bdw_cmp);
		*p99_ms = bdw_pauses[k - 1] / 1e6;
	} else if (bdw_pauses) {
		*p99_ms = 0;
	}
}
static const char *alloc_variant(void)
{
	static char v[48];

	snprintf(v, sizeof(v), "%d.%d.%d markers=%d%s", GC_VERSION_MAJOR,
		 GC_VERSION_MINOR, GC_VERSION_MICRO, GC_get_parallel() + 1,
		 GC_is_incremental_mode() ? " incremental" : "");
	return v;
}
#else
#if defined(USE_JEMALLOC)
#define ALLOC_NAME		"jemalloc"
#elif defined(USE_MIMALLOC)
#define ALLOC_NAME		"mimalloc"
#else
#define ALLOC_NAME		"glibc"
#endif
#define ALLOC(n)		malloc(n)
#define ALLOC_NOSCAN(n)		malloc(n)
#define FREE(p)			free(p)
#define EXPLICIT_FREE		1
static void alloc_init(void)
{
}
static void gc_numbers(uint64_t *n, double *total_ms, double *max_ms,
		       double *p99_ms)
{
	*n = 0;
	*total_ms = *max_ms = *p99_ms = 0;
}
static const char *alloc_variant(void)
{
	return "explicit-free";
}
#endif

static struct timespec bench_t0;

static void bench_start(void)
{
	alloc_init();
	clock_gettime(CLOCK_MONOTONIC, &bench_t0);
}

static void bench_report(const char *bench, const char *extra)
{
	struct timespec t;
	struct rusage ru;
	uint64_t n;
	double total, max, p99, wall;
	char p99s[32];

	clock_gettime(CLOCK_MONOTONIC, &t);
	getrusage(RUSAGE_SELF, &ru);
	gc_numbers(&n, &total, &max, &p99);
	if (p99 < 0)
		snprintf(p99s, sizeof(p99s), "-");
	else
		snprintf(p99s, sizeof(p99s), "%.2f", p99);
	wall = (t.tv_sec - bench_t0.tv_sec) + (t.tv_nsec - bench_t0.tv_nsec) / 1e9;
	printf("bench=%s alloc=%s wall_s=%.2f cpu_s=%.2f maxrss_mb=%.1f gcs=%llu "
	       "pause_total_ms=%.1f pause_max_ms=%.2f pause_p99_ms=%s "
	       "variant=\"%s\" %s\n",
	       bench, ALLOC_NAME, wall,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
	       ru.ru_maxrss / 1024.0, (unsigned long long)n, total, max,
	       p99s, alloc_variant(), extra ? extra : "");
	fflush(stdout);
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * gcbench_alloc.h - one allocator per build for the collector benchmarks
 * (gcbench.c, binarytrees.c, churn.c), and the one-line report they share.
 *
 *   -DUSE_GCHEAP     gch_malloc / gch_malloc_noscan, no frees (collected)
 *   -DUSE_BDWGC      GC_MALLOC / GC_MALLOC_ATOMIC, no frees (collected);
 *                    with -DBDWGC_PARALLEL its parallel marker threads run
 *                    (bdwgc-par)
 *   -DUSE_GLIBC, -DUSE_JEMALLOC, -DUSE_MIMALLOC
 *                    malloc/calloc + explicit free() where the program
 *                    knows an object died (jemalloc and mimalloc replace
 *                    malloc when linked, as Debian ships them)
 *
 * FREE(p) is a no-op for the collected allocators; FREE_TREE walks only
 * when freeing explicitly.  Every run ends with one line:
 *   bench=<name> alloc=<allocator> wall_s= cpu_s= maxrss_mb= gcs=
 *   pause_total_ms= pause_max_ms= <extra>
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
static void gc_numbers(uint64_t *n, double *total_ms, double *max_ms)
{
	struct gch_gc_stats st;

	gch_gc_stats(bench_heap, &st);
	*n = st.cycles;
	*total_ms = st.pause_total_ns / 1e6;
	*max_ms = st.pause_max_ns / 1e6;
}
static const char *alloc_variant(void)
{
	return gch_backend_name(bench_heap);
}
#elif defined(USE_BDWGC)
#define GC_THREADS
#include <gc.h>
#ifdef BDWGC_PARALLEL
#define ALLOC_NAME		"bdwgc-par"
#else
#define ALLOC_NAME		"bdwgc"
#endif
#define ALLOC(n)		GC_MALLOC(n)
#define ALLOC_NOSCAN(n)		GC_MALLOC_ATOMIC(n)
#define FREE(p)			((void)(p))
#define EXPLICIT_FREE		0
static struct timespec bdw_t0;
static double bdw_total_ms, bdw_max_ms;
static void bdw_event(GC_EventType e)
{
	struct timespec t;
	double ms;

	/* the world is stopped from START to END for a full collection */
	if (e == GC_EVENT_START) {
		clock_gettime(CLOCK_MONOTONIC, &bdw_t0);
	} else if (e == GC_EVENT_END) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - bdw_t0.tv_sec) * 1e3 +
		     (t.tv_nsec - bdw_t0.tv_nsec) / 1e6;
		bdw_total_ms += ms;
		if (ms > bdw_max_ms)
			bdw_max_ms = ms;
	}
}
static void alloc_init(void)
{
	GC_INIT();
#ifdef BDWGC_PARALLEL
	/* bdwgc starts its marker threads with the program's first thread;
	 * these programs have none, so ask for them (the "with
	 * parallel marking" figure) */
	GC_start_mark_threads();
#endif
	GC_set_on_collection_event(bdw_event);
}
static void gc_numbers(uint64_t *n, double *total_ms, double *max_ms)
{
	*n = GC_get_gc_no();
	*total_ms = bdw_total_ms;
	*max_ms = bdw_max_ms;
}
static const char *alloc_variant(void)
{
	static char v[32];

	snprintf(v, sizeof(v), "%d.%d.%d markers=%d", GC_VERSION_MAJOR,
		 GC_VERSION_MINOR, GC_VERSION_MICRO, GC_get_parallel() + 1);
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
static void gc_numbers(uint64_t *n, double *total_ms, double *max_ms)
{
	*n = 0;
	*total_ms = *max_ms = 0;
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
	double total, max, wall;

	clock_gettime(CLOCK_MONOTONIC, &t);
	getrusage(RUSAGE_SELF, &ru);
	gc_numbers(&n, &total, &max);
	wall = (t.tv_sec - bench_t0.tv_sec) + (t.tv_nsec - bench_t0.tv_nsec) / 1e9;
	printf("bench=%s alloc=%s wall_s=%.2f cpu_s=%.2f maxrss_mb=%.1f gcs=%llu "
	       "pause_total_ms=%.1f pause_max_ms=%.2f variant=\"%s\" %s\n",
	       bench, ALLOC_NAME, wall,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
	       ru.ru_maxrss / 1024.0, (unsigned long long)n, total, max,
	       alloc_variant(), extra ? extra : "");
	fflush(stdout);
}

#endif

// SPDX-License-Identifier: MIT
/*
 * cgroup-garbage - issue 15's benchmark row: a program whose live heap is
 * a quarter of its cgroup's memory.max allocates garbage fast, with no
 * memory limit set.  Run by cgroup-garbage-run in the VM, inside a cgroup,
 * for gcheap (GC percent 400, the cgroup-derived limit and the pressure
 * answer on, by default), bdwgc at its defaults, and Go (cgroup-garbage-go,
 * GOGC=400, GOMEMLIMIT unset).
 *
 * usage: cgroup-garbage-<alloc> LIVE_MiB GARBAGE_MiB
 * prints: bench=cgroup alloc= variant= live_mb= garbage_mb= wall_s= gcs=
 *         pressure_cycles= limit_mb=
 * and nothing if the OOM killer takes it first.
 */
#include "gcbench_alloc.h"

#define OBJ	1024

int main(int argc, char **argv)
{
	long live_mb = argc > 1 ? atol(argv[1]) : 24;
	long garbage_mb = argc > 2 ? atol(argv[2]) : 512;
	size_t n = (size_t)live_mb * 1024 * 1024 / OBJ;
	struct timespec t0, t1;
	uint64_t gcs = 0, pressure = 0, limit = 0;
	double total, max, p99;
	void **live;

	bench_start();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	live = ALLOC(n * sizeof(void *));
	for (size_t i = 0; i < n; i++)
		live[i] = ALLOC(OBJ);
	for (long done = 0; done < garbage_mb * 1024L; done++) {
		char *g = ALLOC(OBJ);

		g[0] = (char)done;	/* touched: charged to the cgroup */
	}
	for (size_t i = 0; i < n; i++)
		if (!live[i])
			return 2;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	gc_numbers(&gcs, &total, &max, &p99);
#ifdef USE_GCHEAP
	{
		struct gch_gc_stats st;

		gch_gc_stats(bench_heap, &st);
		pressure = st.pressure_cycles;
		limit = st.memory_limit_bytes;
	}
#endif
	printf("bench=cgroup alloc=%s variant=\"%s\" live_mb=%ld garbage_mb=%ld "
	       "wall_s=%.2f gcs=%llu pressure_cycles=%llu limit_mb=%llu\n",
	       ALLOC_NAME, alloc_variant(), live_mb, garbage_mb,
	       (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)gcs, (unsigned long long)pressure,
	       (unsigned long long)(limit >> 20));
	return 0;
}

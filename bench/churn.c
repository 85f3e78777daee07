// SPDX-License-Identifier: MIT
/*
 * churn - allocation churn at a steady live heap: a table of 2^17 slots
 * each holding an object of 16..512 bytes (half of them pointer-free);
 * every step replaces a random slot's object with a new one (the old one
 * dies; explicit-free allocators free it).  Reports ns per allocation.
 * Usage: churn [steps]   (default 20 million)
 */
#include "gcbench_alloc.h"

#define SLOTS	(1u << 17)

int main(int argc, char **argv)
{
	long steps = argc > 1 ? atol(argv[1]) : 20000000L;
	uint64_t rng = 88172645463325252ULL;
	void **table;
	struct timespec t0, t1;
	char extra[64];
	double ns;

	bench_start();
	/* the table itself lives in the heap being measured (a root via the
	 * stack for the collectors) */
	table = ALLOC(SLOTS * sizeof(void *));
	memset(table, 0, SLOTS * sizeof(void *));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < steps; i++) {
		uint32_t slot, size;
		void *p;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		slot = (uint32_t)(rng & (SLOTS - 1));
		size = 16 + (uint32_t)((rng >> 32) % 497);
		p = (rng >> 60) & 1 ? ALLOC(size) : ALLOC_NOSCAN(size);
		*(uint64_t *)p = (uint64_t)i;
		FREE(table[slot]);
		table[slot] = p;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / steps;
	snprintf(extra, sizeof(extra), "ns_per_alloc=%.1f steps=%ld", ns, steps);
	bench_report("churn", extra);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * profile_cost - the heap profile's cost on the allocation path, measured
 * so that a noisy shared machine hurts both sides alike: three heaps in one
 * process, GCHEAP_PROFILE_RATE 0 (off), the default (512 KiB) and 1 (every
 * object sampled), take turns in short timed rounds (the order rotating
 * each round), each round allocating the same mix of sizes; the time is the
 * thread's CPU time, the result the median over rounds of ns per
 * allocation.  Garbage is collected between rounds (gch_gc, untimed); the
 * sweeping the rounds do in their refills is timed, as the sweeper's frees
 * of sampled objects belong to the cost.
 *   default - off: what sampling costs an allocation on average;
 *   every   - off: the cost of one sample (stack, record, free).
 *   usage: profile_cost [ROUNDS] [ALLOCS_PER_ROUND]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcheap.h"

#define NHEAPS	3

static const char *rates[NHEAPS] = { "0", NULL, "1" };
static const char *const names[NHEAPS] = { "off", "default", "every" };

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static gch_heap *open_rate(const char *rate)
{
	struct gch_options o = { .size = sizeof(o), .gc_percent = -1 };
	gch_heap *h;

	if (rate)
		setenv("GCHEAP_PROFILE_RATE", rate, 1);
	else
		unsetenv("GCHEAP_PROFILE_RATE");
	h = gch_open(&o);
	if (!h) {
		perror("gch_open");
		exit(1);
	}
	return h;
}

/* One round: @n objects, sizes 8..520 B cycling (tiny ones included). */
static __attribute__((noinline)) void round_allocs(gch_heap *h, long n,
						   void *volatile *sink)
{
	for (long i = 0; i < n; i++) {
		size_t size = 8 + (size_t)(i * 40 % 513);

		*sink = i & 3 ? gch_malloc(h, size) : gch_malloc_noscan(h, size);
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 101;
	long n = argc > 2 ? atol(argv[2]) : 200000;
	double *t[NHEAPS], med[NHEAPS];
	gch_heap *h[NHEAPS];
	void *volatile sink;

	if (getenv("PC_MIDDLE"))	/* another rate for the middle heap */
		rates[1] = getenv("PC_MIDDLE");
	for (int k = 0; k < NHEAPS; k++) {
		h[k] = open_rate(rates[k]);
		t[k] = calloc((size_t)rounds, sizeof(double));
		round_allocs(h[k], n, &sink);	/* warm up */
	}
	for (int r = 0; r < rounds; r++) {
		for (int j = 0; j < NHEAPS; j++) {
			int k = (r + j) % NHEAPS;
			double t0 = cpu_ns();

			round_allocs(h[k], n, &sink);
			t[k][r] = (cpu_ns() - t0) / (double)n;
		}
		sink = NULL;
		for (int k = 0; k < NHEAPS; k++)
			gch_gc(h[k]);
	}
	for (int k = 0; k < NHEAPS; k++) {
		qsort(t[k], (size_t)rounds, sizeof(double), cmp);
		med[k] = t[k][rounds / 2];
		printf("rate=%-7s ns_per_alloc=%.2f (quartiles %.2f %.2f)\n",
		       names[k], med[k], t[k][rounds / 4], t[k][3 * rounds / 4]);
	}
	printf("default_vs_off=%+.2f%% ns_per_sample=%.0f "
	       "(mean object %.0f B: one sample per %.0f allocations)\n",
	       100 * (med[1] - med[0]) / med[0], med[2] - med[0], 8 + 256.0,
	       512 * 1024 / 264.0);
	return 0;
}

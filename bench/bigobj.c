// SPDX-License-Identifier: MIT
/*
 * bigobj - issue 14's large-object row: ROUNDS rounds of one OBJ_MiB object
 * (1 GiB by default), allocated, used (a byte written in every 4 KiB page,
 * the first touch of a fresh buffer, then every page read back), and
 * dropped; the program keeps no other data.  Built for gcheap (noscan:
 * gch_malloc_noscan, zeroed) and bdwgc (GC_MALLOC_ATOMIC, its pointer-free
 * kind, which bdwgc does not clear); bigobj-go/bigobj.go is the Go 1.19
 * counterpart (make([]byte, n), zeroed, noscan).
 *
 * Modes (argv[1]):
 *   gc    after each round the object is dropped and a collection asked for
 *         (gch_gc, GC_gcollect, runtime.GC): the cost of allocating and
 *         collecting one huge object, round after round;
 *   auto  no explicit collection: the collector decides when the dropped
 *         object goes, and peak RSS shows what that costs in memory.
 *
 * One line per run:
 *   bench=bigobj alloc=<name> variant=<backend/version> mode= obj_mb=
 *   rounds= wall_s= first_round_s= round_s=<median of the others> gcs=
 *   maxrss_mb= ok=1
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#if defined(USE_GCHEAP)
#include "gcheap.h"
static gch_heap *heap;
#define NAME		"gcheap"
static void init(void)
{
	heap = gch_open(NULL);
	if (!heap) {
		perror("gch_open");
		exit(1);
	}
}
static void *alloc(size_t n) { return gch_malloc_noscan(heap, n); }
static void collect(void) { gch_gc(heap); }
static unsigned long ncollections(void)
{
	struct gch_gc_stats st;

	gch_gc_stats(heap, &st);
	return (unsigned long)st.cycles;
}
static const char *variant(void) { return gch_backend_name(heap); }
#elif defined(USE_BDWGC)
#include <gc.h>
#define NAME		"bdwgc"
static void init(void) { GC_INIT(); }
static void *alloc(size_t n) { return GC_MALLOC_ATOMIC(n); }
static void collect(void) { GC_gcollect(); }
static unsigned long ncollections(void)
{
	return (unsigned long)GC_get_gc_no();
}
static const char *variant(void)
{
	static char v[32];

	snprintf(v, sizeof(v), "%u.%u.%u", GC_VERSION_MAJOR, GC_VERSION_MINOR,
		 GC_VERSION_MICRO);
	return v;
}
#else
#error "build with -DUSE_GCHEAP or -DUSE_BDWGC"
#endif

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One round: the object's life.  Returns 0 if it read back wrong. */
static __attribute__((noinline)) int round_once(size_t bytes, unsigned r)
{
	volatile unsigned char *p = alloc(bytes);
	unsigned long sum = 0;

	if (!p) {
		fprintf(stderr, "bigobj: allocating %zu bytes failed\n", bytes);
		exit(1);
	}
	for (size_t i = 0; i < bytes; i += 4096)
		p[i] = (unsigned char)(r + i / 4096);
	for (size_t i = 0; i < bytes; i += 4096)
		sum += p[i] == (unsigned char)(r + i / 4096);
	return sum == (bytes + 4095) / 4096;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "gc";
	size_t mb = argc > 2 ? strtoul(argv[2], NULL, 0) : 1024;
	unsigned rounds = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 6;
	int explicit_gc = !strcmp(mode, "gc"), ok = 1;
	double t0, t, *times = calloc(rounds, sizeof(double));
	struct rusage ru;

	if (!times || rounds < 2)
		return 1;
	init();
	t0 = now();
	for (unsigned r = 0; r < rounds; r++) {
		t = now();
		ok &= round_once(mb << 20, r);
		if (explicit_gc)
			collect();
		times[r] = now() - t;
	}
	t = now() - t0;
	getrusage(RUSAGE_SELF, &ru);
	qsort(times + 1, rounds - 1, sizeof(double), cmp_double);
	printf("bench=bigobj alloc=%s variant=%s mode=%s obj_mb=%zu rounds=%u "
	       "wall_s=%.2f first_round_s=%.2f round_s=%.2f gcs=%lu "
	       "maxrss_mb=%ld ok=%d\n", NAME, variant(), mode, mb, rounds, t,
	       times[0], times[1 + (rounds - 1) / 2], ncollections(),
	       ru.ru_maxrss / 1024, ok);
	return ok ? 0 : 1;
}

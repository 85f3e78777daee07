// SPDX-License-Identifier: MIT
/*
 * heapshape - a heap of known shape over time, for bench/tests/heapplot_test.
 *
 * Three phases on one gcheap heap:
 *   grow   keep LIVE_MIB MiB of 4 KiB noscan chunks (pointers to them in a
 *          table, itself a heap object reached from a registered root),
 *          allocating as much garbage beside them, so that cycles run as
 *          the live heap rises;
 *   drop   clear all but DROP_MIB MiB of the table (gch_store NULL);
 *   churn  allocate GARBAGE_MIB MiB of garbage chunks, so cycles keep
 *          coming with a small live heap.
 * A forced collection ends the growth (so one cycle marks all of it) and
 * one ends the run (so that no cycle is still marking).  It prints one line:
 *
 *   heapshape cycles=N drop_cycle=M live_mib=64 drop_mib=4 garbage_mib=256
 *
 * cycles is gch_gc_stats().cycles at the end (the test compares it with the
 * number of gcheap-heap lines), drop_cycle the count when the table was
 * cleared, with no cycle marking: cycle M marked the whole live set, every
 * cycle after M began after the drop and marks a small heap.
 *
 * usage: heapshape [LIVE_MIB [DROP_MIB [GARBAGE_MIB]]]  (64 4 256)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcheap.h"

#define CHUNK	4096

static void **table;		/* a registered root */

static void *chunk(gch_heap *h)
{
	void *p = gch_malloc_noscan(h, CHUNK);

	if (!p) {
		perror("heapshape: gch_malloc_noscan");
		exit(1);
	}
	/* touch it, as a program would */
	memset(p, 0x5a, 64);
	return p;
}

static uint64_t cycles(gch_heap *h)
{
	struct gch_gc_stats st;

	if (gch_gc_stats(h, &st)) {
		perror("heapshape: gch_gc_stats");
		exit(1);
	}
	return st.cycles;
}

int main(int argc, char **argv)
{
	size_t live_mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	size_t drop_mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 4;
	size_t garbage_mib = argc > 3 ? strtoul(argv[3], NULL, 0) : 256;
	size_t n = live_mib * (1 << 20) / CHUNK;
	size_t keep = drop_mib * (1 << 20) / CHUNK;
	size_t churn = garbage_mib * (1 << 20) / CHUNK;
	uint64_t drop_cycle;
	gch_heap *h;

	if (!n || keep > n) {
		fprintf(stderr, "usage: heapshape [LIVE_MIB [DROP_MIB [GARBAGE_MIB]]]"
			" (DROP_MIB <= LIVE_MIB, LIVE_MIB > 0)\n");
		return 2;
	}
	h = gch_open(NULL);
	if (!h) {
		perror("heapshape: gch_open");
		return 1;
	}
	if (gch_add_roots(&table, sizeof(table), NULL)) {
		perror("heapshape: gch_add_roots");
		return 1;
	}
	table = gch_malloc(h, n * sizeof(void *));
	if (!table) {
		perror("heapshape: gch_malloc");
		return 1;
	}

	/* grow: one kept chunk, one garbage chunk */
	for (size_t i = 0; i < n; i++) {
		gch_store(&table[i], chunk(h));
		(void)chunk(h);
	}
	/* a cycle that marks the whole live set, then the drop */
	if (gch_gc(h)) {
		perror("heapshape: gch_gc");
		return 1;
	}
	drop_cycle = cycles(h);
	for (size_t i = keep; i < n; i++)
		gch_store(&table[i], NULL);
	/* churn */
	for (size_t i = 0; i < churn; i++)
		(void)chunk(h);

	if (gch_gc(h)) {
		perror("heapshape: gch_gc");
		return 1;
	}
	printf("heapshape cycles=%llu drop_cycle=%llu live_mib=%zu drop_mib=%zu "
	       "garbage_mib=%zu\n", (unsigned long long)cycles(h),
	       (unsigned long long)drop_cycle, live_mib, drop_mib, garbage_mib);
	fflush(stdout);
	gch_remove_roots(&table, sizeof(table));
	table = NULL;
	if (gch_close(h)) {
		perror("heapshape: gch_close");
		return 1;
	}
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * gc_pause_test - pauses are counted once each, and they do not grow with
 * the heap.
 *
 * A heap with 16 MiB live runs forced cycles: a concurrent cycle pauses
 * twice (once more per mark termination that found barrier work, at most
 * four), a GCHEAP_GCMODE=stw cycle once; the histogram holds every pause;
 * p50 <= p99 <= max.  Then, where the kernel backend is in use (the VM:
 * a big heap never runs on the build host) or GCH_PAUSE_BIG=1 asks for it,
 * a second heap with 512 MiB live does the same, and in concurrent mode
 * its pauses must stay within a small factor of the small heap's: what a
 * pause does depends on threads and roots, not on the live heap.  (In stop-
 * the-world mode they grow with it, by design, and are only reported.)
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gcheap.h"
#include "gc_test.h"

#define OBJ		4096			/* bytes per object */
#define CYCLES		12

struct big {
	struct big *next;
	uint64_t pad[OBJ / 8 - 1];
};

struct run {
	uint64_t pauses, cycles, max, p50, p99;
};

static bool concurrent_mode(void)
{
	const char *e = getenv("GCHEAP_GCMODE");

	return e && !strcmp(e, "concurrent");
}

/* @mib MiB live in a chain of typed objects (one pointer word each). */
static struct big *build(gch_heap *h, unsigned mib)
{
	static const uint64_t map[OBJ / 64 / 8] = { 1 };
	struct big *head = NULL;

	for (size_t i = 0; i < ((size_t)mib << 20) / OBJ; i++) {
		struct big *b = gch_malloc_typed(h, sizeof(*b), map,
						 OBJ / 8);

		if (!b)
			return NULL;
		b->next = head;		/* initialising store */
		head = b;
	}
	return head;
}

static void measure(unsigned mib, int percent, struct run *r)
{
	struct gch_options o = { .size = sizeof(o), .gc_percent = percent };
	gch_heap *h = gch_open(&o);
	struct big *volatile live;
	struct gch_gc_stats s0, s1;
	uint64_t hsum = 0;

	CHECK(h != NULL, "open");
	if (!h)
		return;
	live = build(h, mib);
	CHECK(live != NULL, "%u MiB built", mib);
	CHECK(gch_gc(h) == 0, "first cycle");
	CHECK(gch_gc_stats(h, &s0) == 0, "stats");
	for (int i = 0; i < CYCLES; i++)
		gch_gc(h);
	CHECK(gch_gc_stats(h, &s1) == 0, "stats");
	r->cycles = s1.cycles - s0.cycles;
	r->pauses = s1.pauses - s0.pauses;
	r->max = s1.pause_max_ns;
	r->p50 = s1.pause_p50_ns;
	r->p99 = s1.pause_p99_ns;
	for (int i = 0; i < GCH_PAUSE_BUCKETS; i++)
		hsum += s1.pause_hist[i];
	CHECK(hsum == s1.pauses, "%u MiB: histogram holds every pause "
	      "(%llu of %llu)", mib, (unsigned long long)hsum,
	      (unsigned long long)s1.pauses);
	CHECK(r->p50 <= r->p99 && r->p99 <= r->max, "p50 <= p99 <= max");
	CHECK(s1.heap_live_bytes >= ((uint64_t)mib << 20),
	      "%u MiB live, marked %llu", mib,
	      (unsigned long long)s1.heap_live_bytes);
	if (concurrent_mode())
		CHECK(r->pauses >= 2 * r->cycles && r->pauses <= 6 * r->cycles,
		      "%u MiB: %llu pauses in %llu cycles", mib,
		      (unsigned long long)r->pauses,
		      (unsigned long long)r->cycles);
	else
		CHECK(r->pauses == r->cycles, "stw: one pause a cycle");
	printf("# %4u MiB live: %llu cycles, %llu pauses, p50 %.3f ms, "
	       "p99 %.3f ms, max %.3f ms\n", mib,
	       (unsigned long long)r->cycles, (unsigned long long)r->pauses,
	       r->p50 / 1e6, r->p99 / 1e6, r->max / 1e6);
	live = NULL;
	CHECK(gch_close(h) == 0, "close");
}

int main(void)
{
	const char *big;

	/* the pauses under test are the concurrent collector's, unless
	 * GCHEAP_GCMODE=stw asks for the other's */
	setenv("GCHEAP_GCMODE", "concurrent", 0);
	big = getenv("GCH_PAUSE_BIG");
	bool run_big = (big && *big == '1');
	struct run small = { 0 }, large = { 0 };
	gch_heap *probe = gch_open(NULL);

	if (probe) {
		run_big |= !strcmp(gch_backend_name(probe), "kernel");
		gch_close(probe);
	}
	measure(16, 100, &small);
	if (!run_big) {
		printf("# 512 MiB part: only on the kernel backend (the VM)\n");
		return gct_summary();
	}
	measure(512, 25, &large);
	if (concurrent_mode()) {
		CHECK(large.p50 <= 3 * small.p50 + 5000000,
		      "p50 pause %.3f ms at 512 MiB vs %.3f ms at 16 MiB",
		      large.p50 / 1e6, small.p50 / 1e6);
		CHECK(large.max <= 4 * small.max + 20000000,
		      "longest pause %.3f ms at 512 MiB vs %.3f ms at 16 MiB",
		      large.max / 1e6, small.max / 1e6);
	}
	return gct_summary();
}

// SPDX-License-Identifier: MIT
/*
 * pauses.c - the record of stop-the-world pauses: count, total, longest,
 * a power-of-two histogram over all of them (Go's /gc/pauses:seconds) and
 * a ring of the last GC_PAUSE_RING for percentiles.
 *
 * Every pause is recorded once, by the thread that stopped the world,
 * right after it started it again: pause 1 and each mark-termination pause
 * of a concurrent cycle, the single pause of a stop-the-world one.
 * Locking: gc_lock, held by every caller (the collector holds it across
 * each pause, gch_gc_stats() to read).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "gc_internal.h"

void gc_pause_record(struct gc_heap *g, uint64_t ns, uint64_t cpu_ns)
{
	struct gc_pauses *p = &g->pause;
	unsigned b = ns < 2 ? 0 : 63 - (unsigned)__builtin_clzll(ns);

	if (b >= GCH_PAUSE_BUCKETS)
		b = GCH_PAUSE_BUCKETS - 1;
	p->hist[b]++;
	p->ring[p->count % GC_PAUSE_RING] = ns;
	p->count++;
	p->total_ns += ns;
	p->cpu_ns += cpu_ns;
	if (ns > p->max_ns)
		p->max_ns = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The pause fields of @st. */
void gc_pause_fill(struct gc_heap *g, struct gch_gc_stats *st)
{
	const struct gc_pauses *p = &g->pause;
	uint64_t last[GC_PAUSE_RING];
	size_t n = p->count < GC_PAUSE_RING ? p->count : GC_PAUSE_RING;

	st->pauses = p->count;
	st->pause_total_ns = p->total_ns;
	st->pause_max_ns = p->max_ns;
	st->gc_pause_cpu_ns = p->cpu_ns;
	memcpy(st->pause_hist, p->hist, sizeof(st->pause_hist));
	if (!n)
		return;
	memcpy(last, p->ring, n * sizeof(*last));
	qsort(last, n, sizeof(*last), cmp_u64);
	st->pause_p50_ns = last[(n - 1) / 2];
	st->pause_p99_ns = last[(n - 1) * 99 / 100];
}

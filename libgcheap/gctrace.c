// SPDX-License-Identifier: MIT
/*
 * gctrace.c - GCHEAP_TRACE=gc: one line per cycle on stderr, shaped like
 * Go's GODEBUG=gctrace=1, followed by a scavenger line from the kernel's
 * counters (GCH_IOC_STATS, or the host page layer's equivalent):
 *
 *   gc 7 @2.104s 3%: 0.021+1.8+0.012 ms clock, 0.020+0.3/1.1/0.4+0.011 ms
 *      cpu, 9->10->4 MB, 8 MB goal, 0 MB stacks, 0 MB globals, 3 threads
 *   scvg: inuse: 6, idle: 1, sys: 7, released: 12, consumed: 7 (MB)
 *
 * Fields: cycle number; time since the first heap opened; share of process
 * CPU time spent collecting since then; wall time of the three phases: in
 * a concurrent cycle, pause 1 (stop the world, release caches, gray the
 * roots), concurrent mark, and pause 2 (every mark-termination pause of
 * the cycle added up); in a stop-the-world cycle, sweep termination, mark
 * and mark termination.  Then the same as CPU time, the mark split as Go's
 * assist/background/idle: mutators' assists, the background worker (or the
 * collecting thread) within its 25%, and the worker marking on CPUs the
 * program left idle; heap live at the start, when marking ended, and
 * marked live; the next goal; stack and global root bytes scanned;
 * attached threads.
 * scvg: inuse = bytes in spans, idle = free pages still resident, sys =
 * resident, released = bytes given back so far (all paths), consumed =
 * resident memory of the heap.
 *
 * GCHEAP_TRACE is a comma-separated list; "gc" is the only word this file
 * knows.  Locking: called under gc_lock.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "gc_internal.h"

static int trace_gc = -1;

void gc_trace_init(void)
{
	const char *e = getenv("GCHEAP_TRACE");
	int on = 0;

	if (e) {
		char buf[128], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", e);
		for (char *t = strtok_r(buf, ",", &save); t;
		     t = strtok_r(NULL, ",", &save))
			if (!strcmp(t, "gc"))
				on = 1;
	}
	__atomic_store_n(&trace_gc, on, __ATOMIC_RELAXED);
}

bool gc_trace_enabled(void)
{
	return __atomic_load_n(&trace_gc, __ATOMIC_RELAXED) > 0;
}

static double ms(int64_t ns)
{
	return (double)ns / 1e6;
}

static unsigned long long mb(uint64_t b)
{
	return (unsigned long long)(b >> 20);
}

static int64_t process_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t gc_since_start_ns(void);

void gc_trace_cycle(struct gc_heap *g)
{
	const struct gc_cycle_times *l = &g->last;
	struct gch_stats ks = { .size = sizeof(ks) };
	int64_t cpu = process_cpu_ns();
	unsigned pct = cpu ? (unsigned)(gch_load(&g->gc_cpu_ns) * 100 /
					(uint64_t)cpu) : 0;

	fprintf(stderr,
		"gc %llu @%.3fs %u%%: %.3f+%.3f+%.3f ms clock, "
		"%.3f+%.3f/%.3f/%.3f+%.3f ms cpu, %llu->%llu->%llu MB, %llu MB goal, "
		"%llu MB stacks, %llu MB globals, %u threads\n",
		(unsigned long long)g->cycle,
		(double)gc_since_start_ns() / 1e9, pct,
		ms(l->stw_ns), ms(l->mark_ns), ms(l->term_ns),
		ms(l->cpu_stw_ns), ms(l->cpu_assist_ns), ms(l->cpu_mark_ns),
		ms(l->cpu_idle_ns), ms(l->cpu_term_ns),
		mb(l->heap_before), mb(l->heap_end), mb(g->heap_traced),
		mb(l->goal), mb(l->stack_bytes), mb(l->global_bytes),
		l->threads);
	if (g->h->pl->stats(g->h, &ks))
		return;
	fprintf(stderr,
		"scvg: inuse: %llu, idle: %llu, sys: %llu, released: %llu, "
		"consumed: %llu (MB)\n",
		mb(ks.span_pages << GCH_PAGE_SHIFT),
		mb(ks.free_resident_bytes), mb(ks.resident_bytes),
		mb(ks.released_bg_bytes + ks.released_eager_bytes +
		   ks.released_shrink_bytes + ks.released_memcg_bytes +
		   ks.released_ioctl_bytes),
		mb(ks.resident_bytes));
}

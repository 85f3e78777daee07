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
 * GCHEAP_TRACE=heap prints, at the same moment, one line of exact numbers
 * for programs to read (bench/heapplot draws a run's heap from them):
 *
 *   gcheap-heap cycle=7 t_start_ns=2100123000 t_end_ns=2104321000
 *      pause1_ns=21000 pause2_ns=12000 live_start=9437184 live_end=10485760
 *      marked=4194304 goal=8388608 trigger=7340032 span=7340032
 *      resident=7340032 free_resident=1048576 rel_bg=0 rel_eager=0
 *      rel_shrink=0 rel_memcg=0 rel_ioctl=0
 *
 * Times in ns since the first heap opened; sizes in bytes.  pause1_ns is
 * the pause that starts a concurrent cycle, pause2_ns its mark
 * terminations added up; a stop-the-world cycle (GCHEAP_GCMODE=stw) is one
 * pause from start to end, all in pause1_ns.  live_start,
 * live_end and marked are the gc line's three heap figures; goal and
 * trigger are the next cycle's; span, resident and free_resident are the
 * heap now (bytes in spans, memory backing the heap, free pages still
 * resident); rel_* are the bytes given back so far, by cause.  The page
 * layer's counters are read without the heap's lock (gc_lock is held, and
 * h->lock nests inside it elsewhere), so they are a moment's snapshot.
 *
 * GCHEAP_TRACE is a comma-separated list of "gc" and "heap"; both may be
 * given.  Locking: called under gc_lock.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "gc_internal.h"

/* Bit 0: "gc", bit 1: "heap"; -1 until gc_trace_init() has run. */
#define TRACE_GC	1
#define TRACE_HEAP	2
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
				on |= TRACE_GC;
			else if (!strcmp(t, "heap"))
				on |= TRACE_HEAP;
	}
	__atomic_store_n(&trace_gc, on, __ATOMIC_RELAXED);
}

bool gc_trace_enabled(void)
{
	return __atomic_load_n(&trace_gc, __ATOMIC_RELAXED) > 0;
}

static bool trace_on(int word)
{
	return __atomic_load_n(&trace_gc, __ATOMIC_RELAXED) & word;
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

static void trace_heap_line(struct gc_heap *g, const struct gch_stats *ks)
{
	const struct gc_cycle_times *l = &g->last;
	int64_t end = gc_since_start_ns();
	int64_t start = end - (l->stw_ns + l->mark_ns + l->term_ns);
	/* a stop-the-world cycle is one pause, its mark included */
	int64_t p1 = l->stopped ? end - start : l->stw_ns;
	int64_t p2 = l->stopped ? 0 : l->term_ns;

	fprintf(stderr,
		"gcheap-heap cycle=%llu t_start_ns=%lld t_end_ns=%lld "
		"pause1_ns=%lld pause2_ns=%lld live_start=%llu live_end=%llu "
		"marked=%llu goal=%llu trigger=%llu span=%llu resident=%llu "
		"free_resident=%llu rel_bg=%llu rel_eager=%llu rel_shrink=%llu "
		"rel_memcg=%llu rel_ioctl=%llu\n",
		(unsigned long long)g->cycle, (long long)(start > 0 ? start : 0),
		(long long)end, (long long)p1, (long long)p2,
		(unsigned long long)l->heap_before,
		(unsigned long long)l->heap_end,
		(unsigned long long)g->heap_traced,
		(unsigned long long)g->heap_goal,
		(unsigned long long)(g->heap_goal ?
				     g->heap_marked + g->heap_trigger : 0),
		(unsigned long long)gch_load(&g->h->span_bytes),
		(unsigned long long)ks->resident_bytes,
		(unsigned long long)ks->free_resident_bytes,
		(unsigned long long)ks->released_bg_bytes,
		(unsigned long long)ks->released_eager_bytes,
		(unsigned long long)ks->released_shrink_bytes,
		(unsigned long long)ks->released_memcg_bytes,
		(unsigned long long)ks->released_ioctl_bytes);
}

/* @ks: the page layer's counters, NULL when it could not give them. */
static void trace_gc_line(struct gc_heap *g, const struct gch_stats *ks)
{
	const struct gc_cycle_times *l = &g->last;
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
	if (g->cycle_dirty || g->cycle_verify) {
		uint64_t faults = ks ? ks->dirty_faults : 0;

		fprintf(stderr,
			"dirty: %s, armed %.3f ms (%llu pages write-protected), "
			"%llu faults, %llu rounds rescanned %llu pages, pause 2 "
			"%llu pages%s\n",
			g->cycle_dirty ? "no barrier" : "verifying the barrier",
			(double)g->dirty.arm_ns / 1e6,
			(unsigned long long)g->dirty.arm_wp_pages,
			(unsigned long long)(faults - g->dirty.faults_seen),
			(unsigned long long)g->dirty.rounds,
			(unsigned long long)g->dirty.pages,
			(unsigned long long)g->dirty.final_pages,
			g->dirty_lost ? ", bits lost: every marked object rescanned" : "");
		g->dirty.faults_seen = faults;
	}
	if (!ks)
		return;
	fprintf(stderr,
		"scvg: inuse: %llu, idle: %llu, sys: %llu, released: %llu, "
		"consumed: %llu (MB)\n",
		mb(ks->span_pages << GCH_PAGE_SHIFT),
		mb(ks->free_resident_bytes), mb(ks->resident_bytes),
		mb(ks->released_bg_bytes + ks->released_eager_bytes +
		   ks->released_shrink_bytes + ks->released_memcg_bytes +
		   ks->released_ioctl_bytes),
		mb(ks->resident_bytes));
}

/* The page layer's counters are read once for both lines. */
void gc_trace_cycle(struct gc_heap *g)
{
	struct gch_stats ks = { .size = sizeof(ks) };
	bool have = !g->h->pl->stats(g->h, &ks);

	if (trace_on(TRACE_GC))
		trace_gc_line(g, have ? &ks : NULL);
	if (trace_on(TRACE_HEAP)) {
		if (!have)	/* the heap line always has every key */
			memset(&ks, 0, sizeof(ks));
		trace_heap_line(g, &ks);
	}
}

// SPDX-License-Identifier: MIT
/*
 * pacer.c - when to collect.
 *
 * heap_live is Go's: the bytes marked by the last cycle plus everything
 * allocated since (counted when a thread's cache claims slots, see
 * mcache.c), i.e. heap_marked + h->alloc_since_cycle.
 *
 * After each cycle the goal is
 *     goal = max(heap_traced + (heap_traced + roots) * gc_percent / 100,
 *                4 MiB, min_heap)
 * (min_heap: 0 unless libgc.so.1's GC_expand_hp asked for room), where
 * roots are the bytes of root ranges, data segments and stacks the cycle
 * scanned -- Go's rule since 1.18: they are marking work as the heap is,
 * and a program with big roots (Guile's 0.9 MB of data segments beside a
 * 3 MB heap) would otherwise collect more often for the same work per
 * byte allocated than Go or bdwgc (whose trigger counts its roots too) --
 * and heap_traced is what the mark found by tracing: heap_marked less the
 * objects allocated (black) while it marked.  Those survive one cycle
 * whether or not they are live -- floating garbage -- and counting them as
 * live would grow the goal by what the program allocates during a mark,
 * cycle after cycle (a third more heap at GC percent 100 with an early
 * trigger).  They count in heap_live instead: they shorten the runway to
 * the next cycle, which frees them.
 * (GC percent 100 by default: collect when the heap has grown by the last
 * live heap and the roots), and with a soft memory limit L
 *     goal = min(goal, 95% of L)
 * so that collections come more often as the heap approaches the limit (the
 * 5% is headroom for span fragmentation and metadata).  The limit is soft:
 * the goal never drops below heap_marked + 1/16 of it (+ 1 MiB), otherwise a
 * live heap above the limit would collect continuously (Go bounds that case
 * with a CPU limiter instead).  With the GC percent off (< 0) only the limit
 * sets a goal; with both off nothing triggers a collection but gch_gc().
 * A cycle also runs when none has for 2 minutes (Go's forced periodic GC),
 * unless the GC percent is off.
 *
 * A stop-the-world cycle (GCHEAP_GCMODE=stw) has no reason to start before
 * the goal, so its trigger is exactly the runway, goal - heap_marked bytes
 * of allocation.  A concurrent cycle must start earlier, for the program
 * allocates while it marks.  How much earlier comes from the cons/mark
 * ratio (Go 1.18's pacer): bytes the program allocates per byte the
 * background worker scans, each at its own pace -- the program's
 * allocation rate A since the last cycle ended, the worker's scan rate w
 * while it marked (idle-time marking included; the slowest of the last 4
 * cycles, as Go takes the largest ratio of its last 4: a worker slower
 * than measured makes the program assist).  Marking a cycle's work (what
 * the last one scanned, S) with the worker alone lets the program
 * allocate need = A / w * S * 5/4 meanwhile (a quarter of margin); with R
 * the runway:
 *  - need <= 40% of R: the trigger is R - need (at most 95% of R).  The
 *    worker alone ends marking near the goal, assists are rare and GC CPU
 *    while marking is the worker's 25% (and idle time).  Starting later
 *    would make the program assist; earlier would only make more
 *    floating garbage (what is allocated while marking is black and
 *    survives one cycle) and so more cycles.
 *  - need <= R: at 60% of R, the earliest; assists make up the rest.
 *  - need > R: the program outruns the worker whenever the cycle starts,
 *    and marking is the assists' work.  Then the trigger is at 95% of R:
 *    an earlier one only adds floating garbage, which shortens the next
 *    runway by as much -- more cycles, more marking in all.  Binary-trees,
 *    churn and GCBench (need 2-3 R) made 30-40% more cycles than the
 *    stop-the-world mode and took 11-21% longer with Go's 1.5 pacer
 *    (trigger fraction adapted to GC CPU utilisation, which assists made
 *    always too high); at 95% they make as many cycles and take its time,
 *    at up to 15% less memory.  While the GC CPU limiter is on nobody
 *    assists, and the trigger stays at 60%.
 * A is measured again when the allocation crosses the trigger
 * (gc_pacer_defer): a trigger set from the last cycle's rate moves later
 * if the program has slowed down since -- which is why one whose program
 * outran the worker is set at 60% first and moved to 95% only then: the
 * program may have left the phase that outran it (the big heap's build
 * for its churn).  Before the first measure the trigger is at 7/8 of R.
 * Allocation while a cycle marks pays in mark assists (assist.c); a thread
 * that reaches the goal takes gray work as it finds it until marking
 * ends -- unless the GC CPU limiter is on (limiter.c).
 * The kernel is told the goal at every mark termination (gc.c announces it
 * with GCH_IOC_GC_PHASE) and the memory limit as the heap's soft limit
 * (GCH_LIMIT_SOFT), so the scavenger keeps free memory within budget and
 * releases eagerly above the limit.
 *
 * Settings come from gch_options (gc_percent, memory_limit_bytes) and are
 * overridden by the environment: GCHEAP_GC=<percent>|off (GOGC) and
 * GCHEAP_MEMLIMIT=<bytes>[KiB|MiB|GiB|TiB|k|m|g]|off (GOMEMLIMIT).  With
 * neither a limit given nor GCHEAP_MEMLIMIT=off, the limit is the memory
 * cgroup's (cgroup.c), read again when a collection starts at most once a
 * second and followed until gch_set_memory_limit() sets one.
 *
 * Locking: everything here runs under gc_lock.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "gc_internal.h"

#define GC_PERCENT_DEFAULT	100
#define GC_MIN_HEAP		(4ULL << 20)
#define GC_PERIOD_NS		(120LL * 1000000000LL)
/* The concurrent trigger, as fractions of the runway (see the top). */
#define TRIGGER_INIT		0.875
#define TRIGGER_MIN		0.6
#define TRIGGER_MAX		0.95
/*
 * A worker that scanned less than this share of a cycle's work did not
 * mark at its own pace (assists took the rest as fast as it was queued):
 * the program outran it.
 */
#define WORKER_SHARE_MIN	(1.0 / 64)

static int parse_percent(const char *e, int *out)
{
	char *end;
	long v;

	if (!strcmp(e, "off")) {
		*out = -1;
		return 0;
	}
	v = strtol(e, &end, 10);
	if (end == e || *end || v < 0 || v > 1000000)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int parse_bytes(const char *e, uint64_t *out)
{
	static const struct { const char *sfx; unsigned shift; } units[] = {
		{ "", 0 }, { "B", 0 }, { "KiB", 10 }, { "MiB", 20 },
		{ "GiB", 30 }, { "TiB", 40 }, { "k", 10 }, { "K", 10 },
		{ "m", 20 }, { "M", 20 }, { "g", 30 }, { "G", 30 },
	};
	char *end;
	unsigned long long v;

	if (!strcmp(e, "off")) {
		*out = 0;
		return 0;
	}
	if (!isdigit((unsigned char)*e))
		return -EINVAL;
	v = strtoull(e, &end, 10);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(end, units[i].sfx)) {
			if (units[i].shift && v > (~0ULL >> units[i].shift))
				return -EINVAL;
			*out = v << units[i].shift;
			return 0;
		}
	}
	return -EINVAL;
}

uint64_t gc_heap_live(struct gc_heap *g)
{
	return g->heap_marked + gch_load(&g->h->alloc_since_cycle);
}

static uint64_t compute_goal(struct gc_heap *g)
{
	uint64_t marked = g->heap_marked, goal = UINT64_MAX;
	uint64_t live = g->heap_traced;
	uint64_t work = live + g->last.global_bytes + g->last.stack_bytes;

	if (g->gc_percent >= 0) {
		goal = live + work / 100 * (uint64_t)g->gc_percent +
		       work % 100 * (uint64_t)g->gc_percent / 100;
		if (goal < GC_MIN_HEAP)
			goal = GC_MIN_HEAP;
		if (goal < g->min_heap)
			goal = g->min_heap;
		/* floating garbage over the goal: the next cycle, soon */
		if (goal <= marked)
			goal = marked + marked / 16;
	}
	if (g->mem_limit) {
		uint64_t lim = g->mem_limit - g->mem_limit / 20;
		uint64_t floor = marked + marked / 16 + (1ULL << 20);

		if (lim < floor)
			lim = floor;
		if (lim < goal)
			goal = lim;
	}
	return goal;
}

/*
 * The rule at the top, apart from the heap so that a test can hold it to
 * its numbers: bytes of @runway (> 8) a concurrent cycle lets pass before
 * it starts, given the last cycles' worker scan rates @rates (bytes/ns, 0:
 * not measured), the last cycle's scan work @scan_work and the program's
 * allocation rate @alloc_rate (bytes/ns).  @early: a program that outruns
 * the worker gets the earliest trigger instead of the latest -- the
 * trigger will be looked at again when crossed (gc_pacer_defer), where a
 * program that has slowed down gets a cycle without assists; or the GC CPU
 * limiter is on, and nobody assists.
 */
uint64_t gc_pacer_trigger(const double rates[GC_MARK_RATES],
			  uint64_t scan_work, uint64_t runway,
			  double alloc_rate, bool early)
{
	double r = (double)runway, need, w = 0;

	/* the slowest of the last cycles' workers: Go 1.19 takes the
	 * largest cons/mark ratio of its last four for the same reason */
	for (unsigned i = 0; i < GC_MARK_RATES; i++)
		if (rates[i] > 0 && (w <= 0 || rates[i] < w))
			w = rates[i];
	if (w <= 0 || alloc_rate <= 0)
		return (uint64_t)(r * TRIGGER_INIT);
	need = alloc_rate / w * (double)scan_work * 1.25;
	if (need <= r * (1.0 - TRIGGER_MIN))
		return need >= r * (1.0 - TRIGGER_MAX) ?
		       (uint64_t)(r - need) : (uint64_t)(r * TRIGGER_MAX);
	if (need <= r || early)
		return (uint64_t)(r * TRIGGER_MIN);
	return (uint64_t)(r * TRIGGER_MAX);
}

/* @tentative: the trigger will be looked at again when crossed. */
static uint64_t concurrent_trigger(struct gc_heap *g, uint64_t runway,
				   double alloc_rate, bool tentative)
{
	return gc_pacer_trigger(g->mark_rates, g->last_scan_work, runway,
				alloc_rate, tentative || gc_limiter_on());
}

/*
 * Program the allocator's trigger for the current goal: the whole runway
 * for a stop-the-world cycle, less for a concurrent one (see the top).
 * While a cycle marks, the hook runs at every allocation flush so that
 * each thread checks its assist debt (gc_pacer_mark_started).
 */
static void set_trigger(struct gc_heap *g)
{
	uint64_t goal = compute_goal(g);
	uint64_t trig = 0;

	g->heap_goal = goal == UINT64_MAX ? 0 : goal;
	if (goal != UINT64_MAX) {
		trig = goal > g->heap_marked ? goal - g->heap_marked : 1;
		if (gc_heap_concurrent(g) && trig > 8)
			trig = concurrent_trigger(g, trig, g->alloc_rate,
						  !g->trigger_checked);
		if (!trig)
			trig = 1;
	}
	g->heap_trigger = trig;
	gch_store_rlx(&g->h->pacer_trigger, trig);
}

/*
 * Mark termination of a concurrent cycle that the trigger started, before
 * gc_pacer_cycle_done() sets the next trigger: take in the rates the cycle
 * measured (see the top).
 */
void gc_pacer_adapt(struct gc_heap *g, const struct gc_mark_sample *m)
{
	uint64_t worker;

	if (m->run_ns <= 0 || m->mark_ns <= 0 || !m->run_alloc || !m->scanned)
		return;
	worker = m->scanned > m->assist_scanned ?
		 m->scanned - m->assist_scanned : 0;
	if ((double)worker < (double)m->scanned * WORKER_SHARE_MIN)
		worker = (uint64_t)((double)m->scanned * WORKER_SHARE_MIN);
	g->mark_rates[g->mark_rate_at] = (double)worker / (double)m->mark_ns;
	g->mark_rate_at = (g->mark_rate_at + 1) % GC_MARK_RATES;
	g->alloc_rate = (double)m->run_alloc / (double)m->run_ns;
}

void gc_pacer_mark_started(struct gc_heap *g)
{
	/* every allocation flush checks its assist debt (gc_pending_slow) */
	if (g->heap_goal)
		gch_store_rlx(&g->h->pacer_trigger, 1);
}

static void push_soft_limit(struct gc_heap *g)
{
	struct gch_limits l = {
		.size = sizeof(l),
		.flags = GCH_LIMIT_SOFT,
		.soft_bytes = g->mem_limit,
	};

	/* Best effort: the heap works without the kernel's help. */
	g->h->pl->limits(g->h, &l);
}

/* Where the limit comes from when the heap opens (see the top). */
static void init_limit(struct gc_heap *g, uint64_t limit)
{
	const char *e = getenv("GCHEAP_MEMLIMIT");

	g->mem_limit = limit;
	g->limit_source = limit ? GCH_MEMLIMIT_OPTIONS : GCH_MEMLIMIT_NONE;
	if (e && *e) {
		if (!parse_bytes(e, &g->mem_limit))
			g->limit_source = GCH_MEMLIMIT_ENV;
		else
			fprintf(stderr,
				"gcheap: ignoring bad GCHEAP_MEMLIMIT=%s\n", e);
	}
	g->limit_auto = g->limit_source == GCH_MEMLIMIT_NONE &&
			gc_cgroup_enabled();
	if (g->limit_auto) {
		g->mem_limit = gc_cgroup_limit();
		g->cgroup_read_ns = gc_now_ns();
		if (g->mem_limit)
			g->limit_source = GCH_MEMLIMIT_CGROUP;
	}
}

void gc_pacer_init(struct gc_heap *g, int percent, uint64_t limit)
{
	const char *e;

	g->gc_percent = percent ? (percent < 0 ? -1 : percent) :
			GC_PERCENT_DEFAULT;
	e = getenv("GCHEAP_GC");
	if (e && *e && parse_percent(e, &g->gc_percent))
		fprintf(stderr, "gcheap: ignoring bad GCHEAP_GC=%s\n", e);
	init_limit(g, limit);
	g->heap_marked = 0;
	memset(g->mark_rates, 0, sizeof(g->mark_rates));
	g->mark_rate_at = 0;
	g->alloc_rate = 0;
	g->trigger_checked = false;
	set_trigger(g);
	if (g->mem_limit) {
		push_soft_limit(g);
		gc_limiter_arm(true);
	}
}

/*
 * gc_lock held, a collection about to start: a heap that follows its
 * cgroup takes the cgroup's limit as it is now.  Once a second at most:
 * reading it costs a few file reads per level of the hierarchy.
 */
void gc_pacer_cgroup_poll(struct gc_heap *g, int64_t now)
{
	uint64_t limit;

	if (!g->limit_auto || now - g->cgroup_read_ns < 1000000000LL)
		return;
	g->cgroup_read_ns = now;
	limit = gc_cgroup_limit();
	if (limit == g->mem_limit)
		return;
	g->mem_limit = limit;
	g->limit_source = limit ? GCH_MEMLIMIT_CGROUP : GCH_MEMLIMIT_NONE;
	set_trigger(g);
	push_soft_limit(g);
	gc_limiter_rearm();
}

bool gc_pacer_defer(struct gc_heap *g)
{
	uint64_t alloc = gch_load(&g->h->alloc_since_cycle), runway, trig;
	int64_t run = gc_now_ns() - g->last_gc_ns;

	if (!gc_heap_concurrent(g) || g->trigger_checked || !g->heap_goal ||
	    g->heap_goal <= g->heap_marked || run <= 0 || !alloc)
		return false;
	g->trigger_checked = true;
	runway = g->heap_goal - g->heap_marked;
	if (runway <= 8)
		return false;
	trig = concurrent_trigger(g, runway, (double)alloc / (double)run,
				  false);
	/* not for less than 1/64 of the runway: start now */
	if (trig <= alloc + runway / 64)
		return false;
	g->heap_trigger = trig;
	gch_store_rlx(&g->h->pacer_trigger, trig);
	return true;
}

/* Mark termination: the next cycle's goal; allocation counting restarts. */
void gc_pacer_cycle_done(struct gc_heap *g)
{
	gch_store_rlx(&g->h->alloc_since_cycle, 0);
	g->trigger_checked = false;
	set_trigger(g);
	g->last.heap_marked = g->heap_marked;
	g->last.goal = g->heap_goal;
	g->last_gc_ns = gc_now_ns();
}

bool gc_pacer_periodic_due(struct gc_heap *g, int64_t now)
{
	return g->gc_percent >= 0 && now - g->last_gc_ns >= GC_PERIOD_NS;
}

/*
 * The collector state of @h with gc_lock held, for a setter; NULL with
 * errno EINVAL and the lock released if @h has none.
 */
static struct gc_heap *gc_of_locked(gch_heap *h)
{
	struct gc_heap *g;

	gc_lock_blocking(&gc_lock);
	g = gc_of(h);
	if (!g) {
		pthread_mutex_unlock(&gc_lock);
		errno = EINVAL;
	}
	return g;
}

int gch_set_gc_percent(gch_heap *h, int percent)
{
	struct gc_heap *g = gc_of_locked(h);
	int old;

	if (!g)
		return -1;
	old = g->gc_percent;
	g->gc_percent = percent < 0 ? -1 : percent;
	set_trigger(g);
	pthread_mutex_unlock(&gc_lock);
	return old;
}

int gc_pacer_expand(gch_heap *h, uint64_t bytes)
{
	struct gc_heap *g = gc_of_locked(h);

	if (!g)
		return -1;
	g->min_heap = g->min_heap + bytes < g->min_heap ? UINT64_MAX :
		      g->min_heap + bytes;
	set_trigger(g);
	pthread_mutex_unlock(&gc_lock);
	return 0;
}

int64_t gch_set_memory_limit(gch_heap *h, uint64_t bytes)
{
	struct gc_heap *g = gc_of_locked(h);
	uint64_t old;

	if (!g)
		return -1;
	old = g->mem_limit;
	g->mem_limit = bytes;
	g->limit_source = bytes ? GCH_MEMLIMIT_API : GCH_MEMLIMIT_NONE;
	g->limit_auto = false;
	set_trigger(g);
	push_soft_limit(g);
	gc_limiter_rearm();
	pthread_mutex_unlock(&gc_lock);
	return (int64_t)old;
}

// SPDX-License-Identifier: MIT
/*
 * gc_pacer_test - heap growth follows the GC percent and the memory limit.
 *
 * A live set of L bytes stays reachable from a registered root array while
 * garbage is churned through the heap.  The heap's span bytes are sampled
 * after every allocation batch; their peak must stay near the goal:
 *   GC percent 100: goal 2L;  GC percent 50: goal 1.5L;
 *   GC percent off + memory limit 1.4L: goal 95% of the limit.
 * The bound allowed is the goal the pacer computed + 25% (span rounding,
 * the sweeper's lag, the allocation run-ahead of thread caches), below the
 * next setting's goal, so a pacer ignoring the setting fails; that goal
 * is checked against the live heap and the roots (the root array counts,
 * as Go's GOGC counts globals), and the live heap (which includes
 * what was allocated while the last cycle marked) against the live set.
 * The limit's bound holds unless the GC CPU limiter engaged.  Also: the environment
 * variables override the options, and cycles scale with the churn.
 *
 * Floating garbage: the churn allocates as fast as it can, far faster than
 * the background worker marks, so the pacer starts each cycle late (95% of
 * the runway) and the program assists: what it allocates while marking
 * (black, kept to the next cycle) is then a small part of the runway, and
 * the cycles are about as many as the runway allows, churn / (goal - live),
 * as in the stop-the-world mode (a tenth more on this kind of machine) --
 * not the quarter more that an early trigger made.  Whether the program
 * outruns the worker depends on the machine, so the end-to-end bound
 * follows the regime the rule chose for what the pacer measured
 * (check_outrun), and the rule itself is checked on made-up measures
 * (check_rule).  Not in sanitizer builds: there the program's allocation
 * is instrumented and the marking not, so the worker may keep up.
 *
 * Idle-time marking: this program has one thread, so on a machine of two or
 * three CPUs the background worker marks on the CPU it leaves idle, and
 * its CPU splits between its 25% share (dedicated) and idle-time marking
 * in proportion; on one CPU, or on four and more (where the share is a
 * whole CPU), there is no idle-time marking.  Either way the kinds of GC
 * CPU add up to no more than the total.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcheap.h"
#include "gc_internal.h"
#include "gc_test.h"

#define OBJ		256
#define LIVE		(24u << 20)
#define NLIVE		(LIVE / OBJ)
#define ROOTS		(NLIVE * sizeof(void *))	/* the root array */
#define CHURN		(400u << 20)

struct run {
	uint64_t peak;
	uint64_t cycles;
	uint64_t goal;
	uint64_t live;
	uint64_t limiter_ns;	/* time the GC CPU limiter was on */
	uint64_t cpu, dedicated, idle, assist, pause_cpu;	/* GC CPU, ns */
	/* cycles per runway the trigger rule allows, summed over the cycles
	 * (regime()), and how many were summed */
	double per_runway;
	unsigned regimes;
};

/*
 * Cycles per runway that the trigger rule (pacer.c's top) allows for the
 * rates the pacer measured so far: 1 where it starts the cycle at 95% of
 * the runway (the program outran the worker), 1 / f where it starts at a
 * fraction f of it (the worker alone can end the mark near the goal, and
 * what the program allocates meanwhile, black, shortens the next runway
 * by up to 1 - f).  A stop-the-world cycle starts at the whole runway.
 */
static double regime(gch_heap *h)
{
	struct gc_heap *g = gc_of(h);
	double f = 1;

	gc_lock_blocking(&gc_lock);	/* the library's rule for its locks */
	if (gc_heap_concurrent(g) && g->heap_goal > g->heap_marked + 8) {
		uint64_t runway = g->heap_goal - g->heap_marked;

		f = (double)gc_pacer_trigger(g->mark_rates, g->last_scan_work,
					     runway, g->alloc_rate, false) /
		    (double)runway;
	}
	pthread_mutex_unlock(&gc_lock);
	return f >= 0.95 - 1e-6 ? 1 : 1 / f;
}

static struct run churn(int percent, uint64_t limit)
{
	struct gch_options o = {
		.size = sizeof(o),
		.gc_percent = percent,
		.memory_limit_bytes = limit,
	};
	gch_heap *h = gch_open(&o);
	void **live = calloc(NLIVE, sizeof(void *));
	struct gch_gc_stats st;
	struct run r = { 0 };

	if (!h || !live) {
		CHECK(0, "gch_open: %s", strerror(errno));
		return r;
	}
	gch_add_roots(live, NLIVE * sizeof(void *), NULL);
	for (unsigned i = 0; i < NLIVE; i++)
		live[i] = gch_malloc(h, OBJ);
	gch_gc(h);
	gch_gc_stats(h, &st);
	r.cycles = st.cycles;
	for (uint64_t done = 0, seen = st.cycles; done < CHURN;
	     done += 64 * OBJ) {
		for (int k = 0; k < 64; k++)
			gch_malloc_noscan(h, OBJ);
		/* replace a few live objects so the live set keeps moving */
		live[(done / OBJ) % NLIVE] = gch_malloc(h, OBJ);
		gch_gc_stats(h, &st);
		if (st.heap_span_bytes > r.peak)
			r.peak = st.heap_span_bytes;
		if (st.cycles != seen) {
			seen = st.cycles;
			r.per_runway += regime(h);
			r.regimes++;
		}
	}
	r.cycles = st.cycles - r.cycles;
	r.goal = st.heap_goal_bytes;
	r.live = st.heap_live_bytes;
	r.limiter_ns = st.gc_limiter_ns;
	r.cpu = st.gc_cpu_ns;
	r.dedicated = st.gc_dedicated_cpu_ns;
	r.idle = st.gc_idle_cpu_ns;
	r.assist = st.gc_assist_cpu_ns;
	r.pause_cpu = st.gc_pause_cpu_ns;
	gch_remove_roots(live, NLIVE * sizeof(void *));
	free(live);
	gch_close(h);
	return r;
}

static void report(const char *what, const struct run *r)
{
	printf("# %-22s peak %6.1f MiB, goal %6.1f MiB, live %5.1f MiB, %llu cycles\n",
	       what, r->peak / 1048576.0, r->goal / 1048576.0,
	       r->live / 1048576.0, (unsigned long long)r->cycles);
}

/* The worker's CPU split (see the top) over the run at GC percent 100. */
static void check_idle_marking(const struct run *r)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	const char *mode = getenv("GCHEAP_GCMODE");
	double share = 0.25 * (double)ncpu, want;

	printf("# GC CPU %.3f s: dedicated %.3f, idle %.3f, assists %.3f, "
	       "pauses %.3f (%ld CPUs)\n", r->cpu / 1e9, r->dedicated / 1e9,
	       r->idle / 1e9, r->assist / 1e9, r->pause_cpu / 1e9, ncpu);
	CHECK(r->dedicated + r->idle + r->assist <= r->cpu + r->cpu / 100,
	      "the kinds of GC CPU add up to no more than the total");
	if (mode && !strcmp(mode, "stw")) {
		CHECK(r->idle == 0 && r->dedicated == 0,
		      "stop-the-world: no background marking");
		return;
	}
	if (ncpu < 2 || ncpu >= 4) {
		CHECK(r->idle == 0, "%ld CPUs: no idle-time marking", ncpu);
		return;
	}
	CHECK(r->idle > 0, "one thread on %ld CPUs: idle-time marking", ncpu);
	/* every step is on the idle CPU: share / (1 - share) of it dedicated */
	want = (double)r->idle * share / (1.0 - share);
	CHECK(r->dedicated >= want * 0.8 && r->dedicated <= want * 1.2 + 2e6,
	      "dedicated %.3f s is the share of the worker's %.3f s",
	      r->dedicated / 1e9, (r->dedicated + r->idle) / 1e9);
}

/*
 * Floating garbage (see the top): about as many cycles as runways when the
 * program outran the worker, give or take a quarter.  Whether it does
 * depends on the machine: where the program is the slower one (the debug
 * kernel's VM, whose KASAN slows every span the program takes from the
 * module, while the worker marks in user space), the rule starts cycles
 * as early as 60% of the runway so that the worker alone ends them near
 * the goal, and what the program allocates meanwhile shortens the next
 * runway: up to 1 / 0.6 cycles per runway.  So the bound is the rule's own
 * (regime(), for the rates the pacer measured as the run went) with a
 * quarter of slack; it catches a pacer that starts cycles earlier than its
 * rule says, and check_rule() holds the rule to its numbers.  Not checked
 * in sanitizer builds.
 */
static void check_outrun(const char *what, const struct run *r)
{
	double runways = r->goal > r->live ?
			 (double)CHURN / (double)(r->goal - r->live) : 0;
	double per_runway = r->regimes ? r->per_runway / r->regimes : 1;

	printf("# outrun at %s: %llu cycles for %.1f runways, the rule's "
	       "%.2f cycles per runway\n", what,
	       (unsigned long long)r->cycles, runways, per_runway);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	CHECK(r->goal > r->live &&
	      (double)r->cycles <= runways * per_runway * 1.25 + 2,
	      "outrun at %s: %llu cycles for %.1f runways of churn, the "
	      "rule's %.2f per runway", what, (unsigned long long)r->cycles,
	      runways, per_runway);
#endif
}

/*
 * The concurrent trigger's rule (pacer.c's top) on made-up measures: a
 * runway R of 100 MiB; the worker scans 1 byte/ns, the last cycle's scan
 * work is 10 MiB, so the program's allocation rate a gives need =
 * a * 10 MiB * 5/4.
 */
static void check_rule(void)
{
	const uint64_t R = 100u << 20, S = 10u << 20;
	double one[GC_MARK_RATES] = { 1.0 }, none[GC_MARK_RATES] = { 0 };
	double mixed[GC_MARK_RATES] = { 4.0, 0.5, 2.0, 0 };
	struct gc_mark_sample m = {
		.run_ns = 1000000, .run_alloc = 4u << 20,
		.mark_ns = 1000000, .scanned = 64u << 20,
	};
	struct gc_heap g;

#define TRIG(rates, a, early) \
	((double)gc_pacer_trigger(rates, S, R, a, early) / (double)R)
#define NEAR(x, want) ((x) > (want) - 0.001 && (x) < (want) + 0.001)
	CHECK(NEAR(TRIG(none, 1.0, false), 0.875) &&
	      NEAR(TRIG(one, 0, false), 0.875),
	      "nothing measured: 7/8 of the runway");
	/* need 20% of R: the worker alone ends marking at the goal */
	CHECK(NEAR(TRIG(one, 1.6, false), 0.8) &&
	      NEAR(TRIG(one, 1.6, true), 0.8), "need 0.2 R: at R - need");
	CHECK(NEAR(TRIG(one, 0.08, false), 0.95), "need 0.01 R: at 0.95 R");
	CHECK(NEAR(TRIG(one, 4.0, false), 0.6), "need 0.5 R: at 0.6 R");
	/* need 2 R: the program outruns the worker; assists mark */
	CHECK(NEAR(TRIG(one, 16.0, false), 0.95), "need 2 R: at 0.95 R");
	CHECK(NEAR(TRIG(one, 16.0, true), 0.6),
	      "need 2 R, tentative or limiter on: at 0.6 R");
	/* the slowest worker of the last cycles: 0.5 byte/ns, need 0.2 R */
	CHECK(NEAR(TRIG(mixed, 0.8, false), 0.8),
	      "the slowest measured worker counts: %.3f",
	      TRIG(mixed, 0.8, false));

	/* a cycle whose worker scanned nothing counts it at 1/64: 1 MiB */
	memset(&g, 0, sizeof(g));
	m.assist_scanned = m.scanned;
	gc_pacer_adapt(&g, &m);
	CHECK(NEAR(g.mark_rates[0], 1.048576) && NEAR(g.alloc_rate, 4.194304),
	      "adapt: worker %.3f bytes/ns, program %.3f",
	      g.mark_rates[0], g.alloc_rate);
	m.assist_scanned = m.scanned / 2;
	gc_pacer_adapt(&g, &m);
	CHECK(NEAR(g.mark_rates[1], 32.0 * 1048576 / 1e6),
	      "adapt: the worker's half at %.3f bytes/ns", g.mark_rates[1]);
#undef TRIG
#undef NEAR
}

int main(void)
{
	struct run r100, r50, rlim;
	uint64_t limit = LIVE + LIVE / 2 - LIVE / 10;	/* 1.4 L */
	struct gch_gc_stats st;
	gch_heap *h;

	unsetenv("GCHEAP_GC");
	unsetenv("GCHEAP_MEMLIMIT");
	r100 = churn(0, 0);
	report("GC percent 100", &r100);
	r50 = churn(50, 0);
	report("GC percent 50", &r50);
	rlim = churn(-1, limit);
	report("off + limit 1.4L", &rlim);
	check_idle_marking(&r100);

	/* live + (live + roots): the root array (768 KiB) counts, as in Go
	 * since 1.18; this thread's stack is the little rest */
	CHECK(r100.goal >= 2 * r100.live + ROOTS - r100.live / 50 &&
	      r100.goal <= 2 * r100.live + ROOTS + r100.live / 50,
	      "goal is twice the live heap and the roots: %llu vs %llu",
	      (unsigned long long)r100.goal, (unsigned long long)r100.live);
	/* objects allocated while a cycle marks float to the next one */
	CHECK(r100.live <= LIVE + LIVE / 4 && r50.live <= LIVE + LIVE / 4,
	      "live heap near the live set: %.1f, %.1f MiB",
	      r100.live / 1048576.0, r50.live / 1048576.0);
	CHECK(r100.peak <= r100.goal + r100.goal / 4, "100%%: peak %.1f MiB",
	      r100.peak / 1048576.0);
	CHECK(r100.peak >= LIVE + LIVE / 2, "100%%: the heap does grow: %.1f MiB",
	      r100.peak / 1048576.0);
	CHECK(r50.peak <= r50.goal + r50.goal / 4, "50%%: peak %.1f MiB",
	      r50.peak / 1048576.0);
	CHECK(r50.cycles > r100.cycles * 3 / 2,
	      "50%% collects about twice as often: %llu vs %llu",
	      (unsigned long long)r50.cycles, (unsigned long long)r100.cycles);
	/* churn / (goal - live) cycles, give or take */
	CHECK(r100.cycles >= CHURN / (2 * LIVE) && r100.cycles <= CHURN / LIVE * 2,
	      "100%%: %llu cycles for %u MiB of churn",
	      (unsigned long long)r100.cycles, CHURN >> 20);
	check_outrun("100%", &r100);
	check_outrun("50%", &r50);
	check_rule();
	/*
	 * The limit holds -- unless collecting at that pace would take more
	 * than half of the CPU (slow marking: a sanitizer build, a busy
	 * machine), when the GC CPU limiter lets the heap pass it.
	 */
	if (!rlim.limiter_ns)
		CHECK(rlim.peak <= limit + limit / 8,
		      "limit: peak %.1f MiB vs %.1f",
		      rlim.peak / 1048576.0, limit / 1048576.0);
	else
		printf("# limit: the GC CPU limiter was on %.2f s\n",
		       rlim.limiter_ns / 1e9);
	CHECK(rlim.cycles > 0, "the limit alone triggers collections");

	setenv("GCHEAP_GC", "off", 1);
	setenv("GCHEAP_MEMLIMIT", "64MiB", 1);
	h = gch_open(NULL);
	CHECK(h != NULL, "open with env");
	if (h) {
		gch_gc_stats(h, &st);
		CHECK(st.gc_percent == -1, "GCHEAP_GC=off: %lld",
		      (long long)st.gc_percent);
		CHECK(st.memory_limit_bytes == 64u << 20,
		      "GCHEAP_MEMLIMIT=64MiB: %llu",
		      (unsigned long long)st.memory_limit_bytes);
		CHECK(gch_set_gc_percent(h, 70) == -1, "set returns old");
		CHECK(gch_set_memory_limit(h, 0) == 64 << 20, "set returns old");
		gch_gc_stats(h, &st);
		CHECK(st.gc_percent == 70 && st.memory_limit_bytes == 0,
		      "setters applied");
		gch_close(h);
	}
	setenv("GCHEAP_GC", "200", 1);
	unsetenv("GCHEAP_MEMLIMIT");
	h = gch_open(NULL);
	if (h) {
		gch_gc_stats(h, &st);
		CHECK(st.gc_percent == 200, "GCHEAP_GC=200");
		gch_close(h);
	}
	return gct_summary();
}

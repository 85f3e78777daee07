// SPDX-License-Identifier: MIT
/*
 * bigheap - pauses and per-operation latency on a big, pointer-rich heap.
 *
 * What it measures: how long the program stops, and how slow its own
 * operations get, while a collector looks after a heap of many small
 * objects that point at each other -- the case a stop-the-world mark costs
 * most in.  One executable per collector, from this one source:
 *
 *   -DBH_GCHEAP              libgcheap; GCHEAP_GCMODE=stw|concurrent (read
 *                            by the library) picks its mode at run time;
 *                            the mode reported is the one the heap's pause
 *                            count shows (1 a cycle: stw; 2 or more: conc)
 *   -DBH_GCHEAP -DBH_PLAIN   the same with plain stores, no barrier, as a
 *                            program written for bdwgc stores: run with
 *                            GCHEAP_BARRIER=dirty (gcheap-dirty), the
 *                            module's dirty bits stand in for the barrier;
 *                            its trace's "dirty:" lines give the tracking's
 *                            cost: arming time per GiB write-protected,
 *                            write faults, rescan rounds and the pages the
 *                            last pause rescanned (dirty_* in the output)
 *   -DBH_BDWGC               bdwgc as a single-threaded program gets it
 *   -DBH_BDWGC -DBH_BDWGC_PAR  after GC_start_mark_threads()
 *   -DBH_BDWGC -DBH_BDWGC_INC  after GC_enable_incremental()
 *
 * How: a chained hash table of ENTRIES entries (default 10 million; argv[1]
 * or env ENTRIES).  Each entry is three heap objects: the entry record
 * {next, key, val, hash} (32 B), its key, a string object {len, hash,
 * text[16]} of 24 B with no pointers (noscan / atomic), and its value, a
 * 48-byte record pointing back at the key and the entry.  The buckets are
 * 512 KiB heap chunks of 64 Ki pointers, found through a heap-allocated
 * directory held in a global.  At 10 million entries that is about 1.1 GiB
 * of objects.  Then, for DURATION seconds (argv[2] or env DURATION,
 * default 10), operations run back to back: pick a random index, rebuild
 * its key text, look the entry up by hash and text, check that its value
 * still points back at it, allocate a new value (and, one time in eight, a
 * new key object with the same text) and store it into the entry.  Every
 * store of a pointer into a published heap object goes through the write
 * barrier (gch_store for gcheap; bdwgc needs none).
 *
 * Each operation's latency is the CLOCK_MONOTONIC time from the end of the
 * previous one to its own end (one clock read per operation, so no wall
 * time falls between operations), kept in a log-linear histogram (16
 * sub-buckets per power of two: about 6% resolution; max exact).
 *
 * Pauses over the churn: gcheap's from its own GCHEAP_TRACE=gc lines (the
 * program turns the trace on and a forked reader process parses stderr,
 * forwarding every other line, so a crash message is never lost): per
 * cycle, the stop-the-world cycle in stw mode, pause 1 and mark
 * termination in concurrent mode (the trace adds up a cycle's
 * mark-termination pauses if there were several).  bdwgc's from
 * GC_set_on_collection_event: GC_EVENT_PRE_STOP_WORLD to
 * GC_EVENT_POST_START_WORLD.  Reported: count, p50, p99, max of the pauses
 * of the cycles that ended during the churn, and as all_pause* count, p99
 * and max over build and churn (at full size the heap's growth during the
 * build brings the biggest marks, and a 10 s churn may end no cycle).  lib_pause_* are gcheap's own
 * gch_gc_stats() figures (max over the whole run, p99 over its last 256
 * pauses) as a cross-check.
 *
 * GC CPU over the churn: gcheap, gch_gc_stats().gc_cpu_ns; bdwgc, the
 * collecting thread's CPU inside stopped-world windows plus the CPU of
 * every other thread (its markers).  bg_cpu_s is the CPU of every thread
 * but the program's one thread.  mark_wall_s is the wall time during which
 * a cycle was marking (gcheap: its trace's three clock phases per cycle;
 * bdwgc: from a cycle's first GC_EVENT_MARK_START to its
 * GC_EVENT_RECLAIM_START).  gc_cpu_share_wall = gc_cpu / (churn wall x
 * ncpu); gc_cpu_share_mark = gc_cpu / (mark_wall x ncpu), and
 * gc_cpu_share_mark_noidle the same without idle-time marking (gcheap's
 * gc_idle_cpu_ns, Go's idle workers; bdwgc has none), the share Go's 25%
 * goal counts.  Known gaps,
 * named in bench/gc-results.md: gcheap's gc_cpu_ns leaves out its helper
 * markers (bg_cpu_s has them), and bdwgc-inc's marking steps run inside
 * allocations outside any event window, so its gc_cpu is a lower bound.
 *
 * At the end the whole table is walked and checked (every entry's key and
 * value consistent): check=ok, or check=bad:N for N broken entries -- a
 * collector that freed a live object shows here or in the per-operation
 * check.
 *
 * Output, one line ("-" where a collector has no such figure):
 *   bench=bigheap alloc=<variant> entries= duration_s= build_s= churn_s=
 *   wall_s= cpu_s= maxrss_mb= build_maxrss_mb= table_mb= live_mb= ops=
 *   mops= op_p50_us= op_p99_us= op_p999_us= op_max_us= gcs= gcs_total=
 *   pauses=
 *   pause_p50_ms= pause_p99_ms= pause_max_ms= all_pauses=
 *   all_pause_p99_ms= all_pause_max_ms= lib_pause_p99_ms=
 *   lib_pause_max_ms= gc_cpu_s= bg_cpu_s= mark_wall_s= mark_cycles=
 *   gc_cpu_share_wall= gc_cpu_share_mark= gc_cpu_share_mark_noidle= maps=
 *   max_map_count= check=
 *   variant="..."
 * build_maxrss_mb is the peak RSS when the table is built: every
 * collector has done the same work by then, where the peak over the churn
 * grows with the operations a collector gets through (at full size under
 * TCG a 30 s churn ends no cycle, and the faster program's garbage is
 * simply more).  table_mb is what the table's objects take as requested
 * (104 B an entry plus the buckets); live_mb the collector's live heap
 * after its last mark; maps the process's mappings at the end (bdwgc-inc's
 * page protection multiplies them, and vm.max_map_count bounds them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time ---------------------------------------------------------------- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* ---- log-linear histogram ------------------------------------------------ */

/*
 * Values below 16 have a bucket each; above, each range [2^e, 2^(e+1)) is
 * cut into 16 equal buckets.  65 x 16 buckets cover every uint64_t.
 */
#define HIST_BUCKETS	1040

struct hist {
	uint64_t n, max, sum;
	uint64_t b[HIST_BUCKETS];
};

static inline unsigned hist_index(uint64_t v)
{
	unsigned e;

	if (v < 16)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return (e - 3u) * 16u + (unsigned)((v >> (e - 4u)) & 15u);
}

static uint64_t hist_upper(unsigned i)
{
	unsigned e, sub;

	if (i < 16)
		return i;
	e = i / 16u + 3u;
	sub = i % 16u;
	return ((16ull + sub) << (e - 4u)) + ((1ull << (e - 4u)) - 1u);
}

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* The q-quantile, as the upper bound of its bucket (never above the max). */
static uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t u = hist_upper(i);

			return u < h->max ? u : h->max;
		}
	}
	return h->max;
}

/* ---- the collector under test -------------------------------------------- */

static void fail(const char *what);
static struct hist pause_h;		/* pauses of the churn */
static struct hist pause_all_h;		/* pauses of build and churn */
static uint64_t mark_wall_ns;		/* marking wall time of the churn */
static uint64_t churn_cycles;		/* cycles that ended in the churn */

#if defined(BH_GCHEAP)
#include "gcheap.h"

static gch_heap *heap;
static struct gch_gc_stats st0, st1;
#define BH_ALLOC(n)		gch_malloc(heap, (n))
#define BH_ALLOC_NOSCAN(n)	gch_malloc_noscan(heap, (n))
#ifdef BH_PLAIN
#define BH_STORE(slot, v)	(*(slot) = (v))
#else
#define BH_STORE(slot, v)	gch_store((void **)(slot), (v))
#endif

/*
 * The trace reader: a child process forked before the heap opens, reading
 * the pipe that is now our stderr.  It parses "gc N @..." lines into this
 * shared record and forwards every other line (all of them if the user
 * asked for GCHEAP_TRACE=gc too) to the real stderr.  Being a process of
 * its own, it outlives a crash of ours and still forwards the message.
 */
#define TRACE_MAX	65536
struct trace_rec {
	uint64_t cycle;
	double stw_ms, mark_ms, term_ms;
	uint64_t live_mb;
};
struct trace_shm {
	uint64_t seen;			/* last cycle parsed (release) */
	uint64_t n, dropped;
	/* the "dirty:" lines (GCHEAP_BARRIER=dirty), summed */
	uint64_t dirty_lines, dirty_wp_pages, dirty_faults, dirty_rounds;
	uint64_t dirty_final_max;
	double dirty_arm_ms;
	struct trace_rec r[TRACE_MAX];
};
static struct trace_shm *trace;
static pid_t trace_pid = -1;
static int real_stderr = -1;
static int concurrent;

static void trace_line(char *line, int fwd_gc, int out)
{
	unsigned long long cyc, a, b, c;
	double at, stw, mark, term;
	unsigned pct;
	int gc_line = 0;

	if (!strncmp(line, "gc ", 3) &&
	    sscanf(line, "gc %llu @%lfs %u%%: %lf+%lf+%lf ms clock, "
		   "%*f+%*f/%*f/%*f+%*f ms cpu, %llu->%llu->%llu MB",
		   &cyc, &at, &pct, &stw, &mark, &term, &a, &b, &c) == 9) {
		gc_line = 1;
		if (trace->n < TRACE_MAX) {
			struct trace_rec *r = &trace->r[trace->n];

			r->cycle = cyc;
			r->stw_ms = stw;
			r->mark_ms = mark;
			r->term_ms = term;
			r->live_mb = c;
			__atomic_store_n(&trace->n, trace->n + 1,
					 __ATOMIC_RELEASE);
		} else {
			trace->dropped++;
		}
		__atomic_store_n(&trace->seen, (uint64_t)cyc,
				 __ATOMIC_RELEASE);
	} else if (!strncmp(line, "scvg: ", 6)) {
		gc_line = 1;
	} else if (!strncmp(line, "dirty: ", 7)) {
		unsigned long long wp, faults, rounds, pages, final;
		const char *p = strstr(line, "armed ");
		double arm;

		gc_line = 1;
		if (p && sscanf(p, "armed %lf ms (%llu pages write-protected), "
				"%llu faults, %llu rounds rescanned %llu pages, "
				"pause 2 %llu pages", &arm, &wp, &faults, &rounds,
				&pages, &final) == 6) {
			trace->dirty_lines++;
			trace->dirty_arm_ms += arm;
			trace->dirty_wp_pages += wp;
			trace->dirty_faults += faults;
			trace->dirty_rounds += rounds;
			if (final > trace->dirty_final_max)
				trace->dirty_final_max = final;
		}
	}
	if (!gc_line || fwd_gc) {
		size_t len = strlen(line), off = 0;

		line[len++] = '\n';
		while (off < len) {
			ssize_t w = write(out, line + off, len - off);

			if (w <= 0 && errno != EINTR)
				break;
			if (w > 0)
				off += (size_t)w;
		}
	}
}

static void trace_reader(int in, int out, int fwd_gc)
{
	static char buf[1 << 16];
	size_t have = 0;

	for (;;) {
		ssize_t r = read(in, buf + have, sizeof(buf) - 1 - have);
		char *p, *nl;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		p = buf;
		while ((nl = memchr(p, '\n', have - (size_t)(p - buf)))) {
			*nl = 0;
			trace_line(p, fwd_gc, out);
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		if (have == sizeof(buf) - 1) {	/* a line too long: pass it on */
			buf[have] = 0;
			trace_line(buf, 1, out);
			have = 0;
		}
	}
	if (have) {
		buf[have] = 0;
		trace_line(buf, fwd_gc, out);
	}
	_exit(0);
}

static void trace_start(void)
{
	const char *e = getenv("GCHEAP_TRACE");
	int fwd_gc = 0, fds[2];
	char *v;

	if (e && *e) {
		char tmp[256], *save = NULL;

		snprintf(tmp, sizeof(tmp), "%s", e);
		for (char *t = strtok_r(tmp, ",", &save); t;
		     t = strtok_r(NULL, ",", &save))
			if (!strcmp(t, "gc"))
				fwd_gc = 1;
		if (asprintf(&v, "%s,gc", e) < 0)
			fail("asprintf");
	} else {
		v = strdup("gc");
	}
	setenv("GCHEAP_TRACE", v, 1);
	free(v);

	trace = mmap(NULL, sizeof(*trace), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (trace == MAP_FAILED)
		fail("mmap");
	if (pipe(fds))
		fail("pipe");
	fflush(NULL);
	real_stderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (real_stderr < 0)
		fail("dup");
	trace_pid = fork();
	if (trace_pid < 0)
		fail("fork");
	if (trace_pid == 0) {
		close(fds[1]);
		/* not killed by a signal meant for the benchmark's group */
		signal(SIGINT, SIG_IGN);
		trace_reader(fds[0], real_stderr, fwd_gc);
	}
	close(fds[0]);
	if (dup2(fds[1], 2) < 0)
		fail("dup2");
	close(fds[1]);
}

/* Close our end of the pipe and let the reader finish forwarding. */
static void trace_stop(void)
{
	int st;

	if (trace_pid <= 0)
		return;
	fflush(stderr);
	dup2(real_stderr, 2);
	waitpid(trace_pid, &st, 0);
	trace_pid = -1;
}

static const char *variant_name(void)
{
	const char *b = getenv("GCHEAP_BARRIER");

	if (concurrent && b && !strcmp(b, "dirty"))
		return "gcheap-dirty";
	return concurrent ? "gcheap-conc" : "gcheap-stw";
}

static void gc_init(void)
{
	const char *m = getenv("GCHEAP_GCMODE");

	/*
	 * A first guess from the environment (the library has changed its
	 * default before: trust GCHEAP_GCMODE only when it names a mode);
	 * gc_churn_end() settles it from the pauses the heap counted.
	 */
	concurrent = !(m && !strcmp(m, "stw"));
	trace_start();
	heap = gch_open(NULL);
	if (!heap)
		fail("gch_open");
	if (gch_thread_attach(heap))
		fail("gch_thread_attach");
}

static void gc_add_root(void *p, size_t len)
{
	if (gch_add_roots(p, len, NULL))
		fail("gch_add_roots");
}

static void gc_churn_start(void)
{
	gch_gc_stats(heap, &st0);
}

/* The cycles that ended during the churn: (st0.cycles, st1.cycles]. */
static void gc_churn_end(void)
{
	uint64_t t0;

	gch_gc_stats(heap, &st1);
	/* one pause per stop-the-world cycle, two or more per concurrent one */
	if (st1.cycles)
		concurrent = st1.pauses > st1.cycles;
	/* the trace line of a cycle is written before its count shows; let
	 * the reader catch up */
	t0 = now_ns();
	while (__atomic_load_n(&trace->seen, __ATOMIC_ACQUIRE) < st1.cycles &&
	       now_ns() - t0 < 2000000000ull) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	uint64_t n = __atomic_load_n(&trace->n, __ATOMIC_ACQUIRE);
	for (uint64_t i = 0; i < n; i++) {
		const struct trace_rec *r = &trace->r[i];
		uint64_t p1, p2 = 0;
		int churn = r->cycle > st0.cycles;

		if (r->cycle > st1.cycles)
			continue;
		if (concurrent) {
			p1 = (uint64_t)(r->stw_ms * 1e6);
			p2 = (uint64_t)(r->term_ms * 1e6);
		} else {
			p1 = (uint64_t)((r->stw_ms + r->mark_ms + r->term_ms) *
					1e6);
		}
		hist_add(&pause_all_h, p1);
		if (concurrent)
			hist_add(&pause_all_h, p2);
		if (!churn)
			continue;
		churn_cycles++;
		mark_wall_ns += (uint64_t)((r->stw_ms + r->mark_ms +
					    r->term_ms) * 1e6);
		hist_add(&pause_h, p1);
		if (concurrent)
			hist_add(&pause_h, p2);
	}
}

static uint64_t gc_cycles_churn(void)
{
	return st1.cycles - st0.cycles;
}

static uint64_t gc_cycles_total(void)
{
	return st1.cycles;
}

/* The library's own figure; the caller adds nothing. */
static uint64_t gc_cpu_churn(uint64_t bg_cpu)
{
	(void)bg_cpu;
	return st1.gc_cpu_ns - st0.gc_cpu_ns;
}

/* Of which idle-time marking: the worker beyond its share on an idle CPU. */
static uint64_t gc_idle_churn(void)
{
	return st1.gc_idle_cpu_ns - st0.gc_idle_cpu_ns;
}

static double gc_live_mb(void)
{
	return st1.heap_live_bytes / 1048576.0;
}

static void gc_lib_pauses(char *buf, size_t len)
{
	uint64_t n = trace->dirty_lines;
	double gib = (double)trace->dirty_wp_pages * 4096 / 1073741824.0;

	snprintf(buf, len, "lib_pause_p99_ms=%.3f lib_pause_max_ms=%.3f "
		 "dirty_cycles=%llu dirty_arm_ms_per_gib=%.1f "
		 "dirty_faults_per_cycle=%.0f dirty_rounds_per_cycle=%.1f "
		 "dirty_pause2_pages_max=%llu",
		 st1.pause_p99_ns / 1e6, st1.pause_max_ns / 1e6,
		 (unsigned long long)n, gib > 0 ? trace->dirty_arm_ms / gib : 0,
		 n ? (double)trace->dirty_faults / n : 0,
		 n ? (double)trace->dirty_rounds / n : 0,
		 (unsigned long long)trace->dirty_final_max);
}

static void gc_variant(char *buf, size_t len)
{
	snprintf(buf, len, "backend=%s mode=%s lib_pauses=%llu trace_dropped=%llu",
		 gch_backend_name(heap), concurrent ? "concurrent" : "stw",
		 (unsigned long long)(st1.pauses - st0.pauses),
		 (unsigned long long)trace->dropped);
}

#elif defined(BH_BDWGC)
#define GC_THREADS
#include <gc.h>

#define BH_ALLOC(n)		GC_MALLOC(n)
#define BH_ALLOC_NOSCAN(n)	GC_MALLOC_ATOMIC(n)
#define BH_STORE(slot, v)	(*(slot) = (v))

/*
 * The collection events arrive on the collecting thread, which in this
 * single-threaded program is the program's thread: no locking needed.
 */
static int in_churn, churn_done, stop_in_churn, marking, mark_in_churn;
static uint64_t stop_t0, stop_c0, mark_t0, stw_cpu_ns, gc0, gc1;

static void bdw_event(GC_EventType e)
{
	switch (e) {
	case GC_EVENT_PRE_STOP_WORLD:
		stop_t0 = now_ns();
		stop_c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		stop_in_churn = in_churn;
		break;
	case GC_EVENT_POST_START_WORLD:
		if (!churn_done)
			hist_add(&pause_all_h, now_ns() - stop_t0);
		if (stop_in_churn) {
			hist_add(&pause_h, now_ns() - stop_t0);
			stw_cpu_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) -
				      stop_c0;
		}
		break;
	case GC_EVENT_MARK_START:
		if (!marking) {
			marking = 1;
			mark_t0 = now_ns();
			mark_in_churn = in_churn;
		}
		break;
	case GC_EVENT_RECLAIM_START:
		/* the cycle's marking is complete */
		if (marking && mark_in_churn) {
			mark_wall_ns += now_ns() - mark_t0;
			churn_cycles++;
		}
		marking = 0;
		break;
	default:
		break;
	}
}

static const char *variant_name(void)
{
#if defined(BH_BDWGC_PAR)
	return "bdwgc-par";
#elif defined(BH_BDWGC_INC)
	return "bdwgc-inc";
#else
	return "bdwgc";
#endif
}

static void gc_init(void)
{
#ifdef BH_BDWGC_INC
	GC_enable_incremental();
#endif
	GC_INIT();
#ifdef BH_BDWGC_PAR
	GC_start_mark_threads();
#endif
#ifdef BH_BDWGC_INC
	if (!GC_is_incremental_mode())
		fprintf(stderr, "bigheap: GC_enable_incremental() did not "
			"enable incremental mode\n");
#endif
	GC_set_on_collection_event(bdw_event);
}

static void gc_add_root(void *p, size_t len)
{
	(void)p;	/* the data segment is scanned */
	(void)len;
}

static void gc_churn_start(void)
{
	gc0 = GC_get_gc_no();
	in_churn = 1;
}

static void gc_churn_end(void)
{
	in_churn = 0;
	churn_done = 1;
	gc1 = GC_get_gc_no();
}

static uint64_t gc_cycles_churn(void)
{
	return gc1 - gc0;
}

static uint64_t gc_cycles_total(void)
{
	return gc1;
}

/* Stopped-world CPU of the collecting thread plus the markers' CPU. */
static uint64_t gc_cpu_churn(uint64_t bg_cpu)
{
	return stw_cpu_ns + bg_cpu;
}

/* bdwgc has no idle-time marking. */
static uint64_t gc_idle_churn(void)
{
	return 0;
}

static double gc_live_mb(void)
{
	return -1;	/* bdwgc publishes no live-heap figure */
}

static void gc_lib_pauses(char *buf, size_t len)
{
	snprintf(buf, len, "lib_pause_p99_ms=- lib_pause_max_ms=-");
}

static void gc_variant(char *buf, size_t len)
{
	snprintf(buf, len, "%d.%d.%d markers=%d incremental=%d protects=%d",
		 GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO,
		 GC_get_parallel() + 1, GC_is_incremental_mode(),
		 GC_incremental_protection_needs());
}

static void trace_stop(void)
{
}
#else
#error "build with -DBH_GCHEAP or -DBH_BDWGC"
#endif

/* ---- the table ----------------------------------------------------------- */

struct key {
	uint32_t len;
	uint32_t hash;
	char text[16];
};

struct entry;

struct val {
	struct key *key;
	struct entry *entry;
	uint64_t seq;
	uint64_t stamp;
	uint64_t data[2];
};

struct entry {
	struct entry *next;
	struct key *key;
	struct val *val;
	uint64_t hash;
};

_Static_assert(sizeof(struct key) == 24, "key is 24 bytes");
_Static_assert(sizeof(struct val) == 48, "value is 48 bytes");
_Static_assert(sizeof(struct entry) == 32, "entry is 32 bytes");

#define CHUNK_SHIFT	16		/* 64 Ki buckets, 512 KiB, per chunk */

/* the directory of bucket chunks: a heap object; this global is a root */
static struct entry ***dir;
static uint64_t nbuckets, bucket_mask, chunk_len;
static uint64_t entries;

static int max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	int n = -1;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

static long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = getc_unlocked(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void fail(const char *what)
{
	int e = errno;

	fprintf(stderr, "bigheap %s: %s failed: %s (maps=%ld vm.max_map_count=%d)\n",
		variant_name(), what, strerror(e), count_maps(), max_map_count());
	trace_stop();
	exit(3);
}

static void *alloc_ptrs(size_t n)
{
	void *p = BH_ALLOC(n);

	if (!p)
		fail("allocation");
	return p;
}

static void *alloc_noscan(size_t n)
{
	void *p = BH_ALLOC_NOSCAN(n);

	if (!p)
		fail("allocation (no pointers)");
	return p;
}

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * The key text of index i: 8 to 16 characters, the first 8 spelling i in
 * base 32 (so keys are unique up to 2^40), the rest derived from a hash.
 */
static const char digits32[] = "0123456789abcdefghijklmnopqrstuv";

static inline unsigned key_text(uint64_t i, char *out)
{
	uint64_t x = mix64(i);
	unsigned len = 8u + (unsigned)(x % 9u), k;

	for (k = 0; k < 8; k++)
		out[k] = digits32[(i >> (5 * k)) & 31];
	for (; k < len; k++) {
		x >>= 5;
		out[k] = digits32[x & 31];
	}
	return len;
}

static inline uint64_t text_hash(const char *s, unsigned len)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (unsigned k = 0; k < len; k++) {
		h ^= (unsigned char)s[k];
		h *= 0x100000001b3ull;
	}
	return h;
}

static inline struct entry **bucket_slot(uint64_t hash)
{
	uint64_t b = hash & bucket_mask;

	return &dir[b >> CHUNK_SHIFT][b & (chunk_len - 1)];
}

static struct key *new_key(const char *text, unsigned len, uint64_t hash)
{
	struct key *k = alloc_noscan(sizeof(*k));

	k->len = len;
	k->hash = (uint32_t)hash;
	memcpy(k->text, text, len);
	return k;
}

static void table_build(void)
{
	uint64_t nchunks;

	nbuckets = 1;
	while (nbuckets < entries)
		nbuckets <<= 1;
	bucket_mask = nbuckets - 1;
	chunk_len = nbuckets < (1ull << CHUNK_SHIFT) ? nbuckets :
		    (1ull << CHUNK_SHIFT);
	nchunks = nbuckets / chunk_len;
	dir = alloc_ptrs(nchunks * sizeof(*dir));
	/* initialising stores into a fresh object: no barrier needed */
	for (uint64_t c = 0; c < nchunks; c++)
		dir[c] = alloc_ptrs(chunk_len * sizeof(**dir));

	for (uint64_t i = 0; i < entries; i++) {
		char text[16];
		unsigned len = key_text(i, text);
		uint64_t h = text_hash(text, len);
		struct entry **slot = bucket_slot(h);
		struct entry *e = alloc_ptrs(sizeof(*e));
		struct key *k = new_key(text, len, h);
		struct val *v = alloc_ptrs(sizeof(*v));

		v->key = k;
		v->entry = e;
		v->seq = i;
		e->key = k;
		e->val = v;
		e->hash = h;
		e->next = *slot;
		BH_STORE(slot, e);	/* publishes e */
	}
}

static inline struct entry *lookup(const char *text, unsigned len,
				   uint64_t h)
{
	for (struct entry *e = *bucket_slot(h); e; e = e->next)
		if (e->hash == h && e->key->len == len &&
		    !memcmp(e->key->text, text, len))
			return e;
	return NULL;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static inline uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t bad_ops;

static inline void churn_op(uint64_t seq)
{
	uint64_t r = rnd();
	uint64_t i = r % entries;
	char text[16];
	unsigned len = key_text(i, text);
	uint64_t h = text_hash(text, len);
	struct entry *e = lookup(text, len, h);
	struct key *k;
	struct val *v;

	if (!e) {
		bad_ops++;
		return;
	}
	k = e->key;
	if (e->val->entry != e || e->val->key != k ||
	    k->hash != (uint32_t)h)
		bad_ops++;
	v = alloc_ptrs(sizeof(*v));
	if ((r >> 61) == 0) {		/* one time in eight: a new key too */
		k = new_key(text, len, h);
		BH_STORE(&e->key, k);
	}
	v->key = k;
	v->entry = e;
	v->seq = seq;
	v->stamp = r;
	v->data[0] = i;
	BH_STORE(&e->val, v);
}

/* Every entry reachable, consistent, and entries of them in all. */
static uint64_t table_check(void)
{
	uint64_t bad = 0, seen = 0;

	for (uint64_t b = 0; b < nbuckets; b++) {
		for (struct entry *e = dir[b >> CHUNK_SHIFT][b & (chunk_len - 1)];
		     e; e = e->next) {
			struct key *k = e->key;
			struct val *v = e->val;

			seen++;
			if ((e->hash & bucket_mask) != b || !k || !v ||
			    k->len < 8 || k->len > 16 ||
			    k->hash != (uint32_t)e->hash ||
			    text_hash(k->text, k->len) != e->hash ||
			    v->entry != e || v->key != k)
				bad++;
		}
	}
	return bad + (seen > entries ? seen - entries : entries - seen);
}

/* ---- main ---------------------------------------------------------------- */

static uint64_t arg_u64(int argc, char **argv, int i, const char *env,
			uint64_t def)
{
	const char *s = i < argc ? argv[i] : getenv(env);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !v) {
		fprintf(stderr, "bigheap: bad %s '%s'\n", env, s);
		exit(2);
	}
	return v;
}

static struct hist op_h;

int main(int argc, char **argv)
{
	uint64_t duration, t_start, t_built, t_churn0, t_end, t_prev, ops = 0;
	uint64_t p0, p1, m0, m1, bg_cpu, gc_cpu, check_bad;
	double churn_s, ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
	char lib[512], var[160], live[32], share_mark[32], share_noidle[32];
	char check[32];
	struct rusage ru;
	long build_rss_kb;

	entries = arg_u64(argc, argv, 1, "ENTRIES", 10000000);
	duration = arg_u64(argc, argv, 2, "DURATION", 10);
	if (entries >= (1ull << 40)) {
		fprintf(stderr, "bigheap: at most 2^40 entries\n");
		return 2;
	}

	gc_init();
	gc_add_root(&dir, sizeof(dir));
	t_start = now_ns();
	table_build();
	t_built = now_ns();
	getrusage(RUSAGE_SELF, &ru);
	build_rss_kb = ru.ru_maxrss;

	gc_churn_start();
	/* process clock first at the start, last at the end: the other
	 * threads' share (process - this thread) cannot come out negative */
	p0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	m0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t_churn0 = t_prev = now_ns();
	t_end = t_churn0 + duration * 1000000000ull;
	for (;;) {
		uint64_t t;

		churn_op(ops);
		t = now_ns();
		hist_add(&op_h, t - t_prev);
		t_prev = t;
		ops++;
		if (t >= t_end)
			break;
	}
	m1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	p1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	churn_s = (double)(t_prev - t_churn0) / 1e9;
	gc_churn_end();
	bg_cpu = p1 - p0 > m1 - m0 ? (p1 - p0) - (m1 - m0) : 0;
	gc_cpu = gc_cpu_churn(bg_cpu);

	check_bad = table_check() + bad_ops;
	getrusage(RUSAGE_SELF, &ru);
	gc_lib_pauses(lib, sizeof(lib));
	gc_variant(var, sizeof(var));
	if (gc_live_mb() < 0)
		snprintf(live, sizeof(live), "-");
	else
		snprintf(live, sizeof(live), "%.1f", gc_live_mb());
	if (mark_wall_ns) {
		snprintf(share_mark, sizeof(share_mark), "%.3f",
			 (double)gc_cpu / ((double)mark_wall_ns * ncpu));
		snprintf(share_noidle, sizeof(share_noidle), "%.3f",
			 (double)(gc_cpu - gc_idle_churn()) /
			 ((double)mark_wall_ns * ncpu));
	} else {
		snprintf(share_mark, sizeof(share_mark), "-");
		snprintf(share_noidle, sizeof(share_noidle), "-");
	}
	if (check_bad)
		snprintf(check, sizeof(check), "bad:%llu",
			 (unsigned long long)check_bad);
	else
		snprintf(check, sizeof(check), "ok");

	printf("bench=bigheap alloc=%s entries=%llu duration_s=%llu "
	       "build_s=%.2f churn_s=%.2f wall_s=%.2f cpu_s=%.2f "
	       "maxrss_mb=%.1f build_maxrss_mb=%.1f table_mb=%.1f live_mb=%s "
	       "ops=%llu mops=%.3f "
	       "op_p50_us=%.3f op_p99_us=%.3f op_p999_us=%.3f op_max_us=%.1f "
	       "gcs=%llu gcs_total=%llu pauses=%llu pause_p50_ms=%.3f "
	       "pause_p99_ms=%.3f pause_max_ms=%.3f all_pauses=%llu "
	       "all_pause_p99_ms=%.3f all_pause_max_ms=%.3f %s gc_cpu_s=%.3f "
	       "bg_cpu_s=%.3f mark_wall_s=%.3f mark_cycles=%llu "
	       "gc_cpu_share_wall=%.3f gc_cpu_share_mark=%s "
	       "gc_cpu_share_mark_noidle=%s maps=%ld "
	       "max_map_count=%d check=%s variant=\"%s ncpu=%.0f\"\n",
	       variant_name(), (unsigned long long)entries,
	       (unsigned long long)duration,
	       (double)(t_built - t_start) / 1e9, churn_s,
	       (double)(now_ns() - t_start) / 1e9,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
	       ru.ru_maxrss / 1024.0, build_rss_kb / 1024.0,
	       (double)entries * (sizeof(struct entry) + sizeof(struct key) +
				  sizeof(struct val)) / 1048576.0 +
	       (double)nbuckets * sizeof(void *) / 1048576.0,
	       live, (unsigned long long)ops, (double)ops / churn_s / 1e6,
	       hist_quantile(&op_h, 0.5) / 1e3,
	       hist_quantile(&op_h, 0.99) / 1e3,
	       hist_quantile(&op_h, 0.999) / 1e3, op_h.max / 1e3,
	       (unsigned long long)gc_cycles_churn(),
	       (unsigned long long)gc_cycles_total(),
	       (unsigned long long)pause_h.n,
	       hist_quantile(&pause_h, 0.5) / 1e6,
	       hist_quantile(&pause_h, 0.99) / 1e6, pause_h.max / 1e6,
	       (unsigned long long)pause_all_h.n,
	       hist_quantile(&pause_all_h, 0.99) / 1e6, pause_all_h.max / 1e6,
	       lib,
	       gc_cpu / 1e9, bg_cpu / 1e9, mark_wall_ns / 1e9,
	       (unsigned long long)churn_cycles,
	       (double)gc_cpu / ((double)(t_prev - t_churn0) * ncpu),
	       share_mark, share_noidle, count_maps(), max_map_count(), check,
	       var, ncpu);
	trace_stop();
	return check_bad ? 1 : 0;
}

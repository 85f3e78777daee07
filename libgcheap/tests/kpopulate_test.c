// SPDX-License-Identifier: MIT
/*
 * The kernel page layer has the module populate small spans as they are
 * allocated (arena mappings marked MADV_SEQUENTIAL, uapi "Populating"):
 * small objects are allocated, read zero and are written without one heap
 * page fault, the kernel counting their pages as populated; large spans
 * are left to fault on demand.  On the host backend (or a module that
 * predates populating) only the part that holds everywhere runs: fresh
 * objects read zero.  With GCH_FEAT_SPAN_BATCH, small spans come from the
 * kernel in batches: the page layer's stash is visible as kernel spans the
 * library does not count, and a trim, or a collection's sweep, gives it
 * back.
 */
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "harness.h"

static gch_heap *h;

/* The kernel's counters, or false on the host backend. */
static bool kstats(struct gch_stats *st)
{
	int fd = gch_heap_kernel_fd(h);

	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return fd >= 0 && ioctl(fd, GCH_IOC_STATS, st) == 0;
}

/* A module that populates takes a STATS struct holding populated != 0. */
static bool kernel_populates(void)
{
	struct gch_stats st = { .size = sizeof(st), .populated = 1 };
	int fd = gch_heap_kernel_fd(h);

	return fd >= 0 && ioctl(fd, GCH_IOC_STATS, &st) == 0;
}

enum { NOBJ = 100000, OBJ = 64 };	/* 6.4 MB of small objects */

/*
 * Allocate @n objects of OBJ bytes into @objs (stopping at the first
 * failure), fill each with @fill after counting its non-zero bytes: fresh
 * objects must read as zeroes.  Returns that count.
 */
static int alloc_fresh(char **objs, int n, int fill)
{
	int nonzero = 0;

	for (int i = 0; i < n; i++) {
		objs[i] = gch_malloc(h, OBJ);
		if (!objs[i])
			break;
		for (int j = 0; j < OBJ; j++)
			nonzero += objs[i][j] != 0;
		memset(objs[i], fill, OBJ);
	}
	return nonzero;
}

static void t_small_objects_take_no_fault(void)
{
	static char *objs[NOBJ];
	struct gch_stats s0, s1;
	bool k = kernel_populates();
	int nonzero;
	double mib = (double)NOBJ * OBJ / (1 << 20);

	if (k)
		EXPECT(kstats(&s0));
	nonzero = alloc_fresh(objs, NOBJ, 0x3c);
	EXPECT(objs[NOBJ - 1] != NULL);
	EXPECTF(nonzero == 0, "%d non-zero bytes in fresh objects", nonzero);
	if (!k) {
		printf("# %s backend, no kernel populating: zero check only\n",
		       gch_backend_name(h));
		return;
	}
	EXPECT(kstats(&s1));
	printf("# %.1f MiB of %d B objects: %.1f faults and %.1f populated "
	       "pages per MiB\n", mib, OBJ, (s1.faults - s0.faults) / mib,
	       (s1.populated - s0.populated) / mib);
	/* every system page of the new spans came populated, none faulted */
	EXPECTF(s1.faults == s0.faults, "%llu faults",
		(unsigned long long)(s1.faults - s0.faults));
	EXPECT((s1.populated - s0.populated) * 4096 >= (uint64_t)NOBJ * OBJ);
	EXPECT(s1.resident_bytes - s0.resident_bytes ==
	       (s1.populated - s0.populated) * 4096);
}

static void t_large_spans_fault_on_demand(void)
{
	enum { BIG = 1 << 20 };
	struct gch_stats s0, s1, s2;
	char *p;

	if (!kernel_populates()) {
		printf("# no kernel populate: nothing to check\n");
		return;
	}
	EXPECT(kstats(&s0));
	p = gch_malloc_noscan(h, BIG);
	EXPECT(p != NULL);
	if (!p)
		return;
	EXPECT(kstats(&s1));
	EXPECT(s1.populated == s0.populated);
	for (size_t off = 0; off < BIG; off += 4096)
		p[off] = 1;
	EXPECT(kstats(&s2));
	EXPECTF(s2.faults - s1.faults == BIG / 4096, "%llu faults",
		(unsigned long long)(s2.faults - s1.faults));
	EXPECT(s2.populated == s1.populated);
}

static bool has_batch(gch_heap *hh)
{
	return gch_heap_kernel_features(hh) & GCH_FEAT_SPAN_BATCH;
}

/* Kernel spans minus the library's: the spans the page layer stashes. */
static int64_t stashed(gch_heap *hh)
{
	struct gch_stats ks = { .size = sizeof(ks) };
	struct gch_heap_stats ls;

	if (gch_stats(hh, &ls) ||
	    ioctl(gch_heap_kernel_fd(hh), GCH_IOC_STATS, &ks))
		return -1;
	return (int64_t)ks.spans - (int64_t)ls.spans;
}

/*
 * Small spans come from the kernel in batches (GCH_SPAN_ALLOC_BATCH): the
 * kernel holds more spans than the library counts, each stashed span goes
 * out zeroed as the kernel said, and a trim gives every one back.
 */
static void t_small_spans_come_in_batches(void)
{
	enum { N = 3 * 128 + 1 };	/* 64 B objects: four 8 KiB spans */
	static char *objs[N];
	struct gch_stats s0, s1;
	int nonzero;
	int64_t st;

	if (!has_batch(h)) {
		printf("# no GCH_FEAT_SPAN_BATCH: one call per span\n");
		return;
	}
	gch_pl_trim(h);
	EXPECTF(stashed(h) == 0, "%lld stashed after a trim",
		(long long)stashed(h));
	EXPECT(kstats(&s0));
	nonzero = alloc_fresh(objs, N, 0x5a);
	EXPECT(objs[N - 1] != NULL);
	EXPECTF(nonzero == 0, "%d non-zero bytes in fresh objects", nonzero);
	st = stashed(h);
	EXPECTF(st > 0 && st < 64, "%lld spans stashed", (long long)st);
	gch_pl_trim(h);
	EXPECT(kstats(&s1));
	EXPECT(stashed(h) == 0);
	EXPECTF(s1.spans_freed - s0.spans_freed == (uint64_t)st,
		"%llu freed, %lld stashed",
		(unsigned long long)(s1.spans_freed - s0.spans_freed),
		(long long)st);
}

/* A collection's sweep gives the stash back (gc_announce SWEEP_END). */
static void t_stash_returned_at_cycle_end(void)
{
	struct gch_options o = { .size = sizeof(o) };
	gch_heap *g = gch_open(&o);
	int64_t st = -1;
	volatile char *keep = NULL;

	EXPECT(g != NULL);
	if (!g)
		return;
	if (!has_batch(g)) {
		printf("# no GCH_FEAT_SPAN_BATCH: nothing stashed\n");
		gch_close(g);
		return;
	}
	for (int i = 0; i < 1000; i++)
		keep = gch_malloc(g, OBJ);
	(void)keep;
	EXPECTF(stashed(g) > 0, "%lld stashed", (long long)stashed(g));
	/* the second cycle's sweep termination ends the first's sweep */
	EXPECT(gch_gc(g) == 0);
	EXPECT(gch_gc(g) == 0);
	/* the background sweeper may still be releasing spans: settle */
	for (int i = 0; i < 100 && (st = stashed(g)) != 0; i++)
		usleep(20000);
	EXPECTF(st == 0, "%lld spans stashed after two cycles", (long long)st);
	EXPECT(gch_close(g) == 0);
}

static const struct tcase cases[] = {
	{ "small objects take no fault", t_small_objects_take_no_fault },
	{ "large spans fault on demand", t_large_spans_fault_on_demand },
	{ "small spans come in batches", t_small_spans_come_in_batches },
	{ "stash returned at cycle end", t_stash_returned_at_cycle_end },
};

int main(void)
{
	int r;

	h = open_heap(0);
	printf("# backend %s\n", gch_backend_name(h));
	r = RUN("kpopulate", cases);
	gch_close(h);
	return r;
}

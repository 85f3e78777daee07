// SPDX-License-Identifier: MIT
/*
 * The kernel page layer has the module populate small spans as they are
 * allocated (arena mappings marked MADV_SEQUENTIAL, uapi "Populating"):
 * small objects are allocated, read zero and are written without one heap
 * page fault, the kernel counting their pages as populated; large spans
 * are left to fault on demand.  On the host backend (or a module that
 * predates populating) only the part that holds everywhere runs: fresh
 * objects read zero.
 */
#include <sys/ioctl.h>

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

static void t_small_objects_take_no_fault(void)
{
	static char *objs[NOBJ];
	struct gch_stats s0, s1;
	bool k = kernel_populates();
	int nonzero = 0;
	double mib = (double)NOBJ * OBJ / (1 << 20);

	if (k)
		EXPECT(kstats(&s0));
	for (int i = 0; i < NOBJ; i++) {
		objs[i] = gch_malloc(h, OBJ);
		if (!objs[i])
			break;
		for (int j = 0; j < OBJ; j++)
			nonzero += objs[i][j] != 0;
		memset(objs[i], 0x3c, OBJ);
	}
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

static const struct tcase cases[] = {
	{ "small objects take no fault", t_small_objects_take_no_fault },
	{ "large spans fault on demand", t_large_spans_fault_on_demand },
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

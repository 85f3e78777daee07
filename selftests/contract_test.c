// SPDX-License-Identifier: MIT
/*
 * contract_test: the promises of uapi/linux/gcheap.h that earlier modules
 * broke, pinned so they stay kept.
 *
 *  - A failing ioctl changes nothing.  LIMITS, SCAVENGE and GC_PHASE used to
 *    apply their change and only then fail to write the struct back, and
 *    SPAN_ALLOC allocated and then took the span back; now the output bytes
 *    are pinned for writing first.  A struct that is read-only or PROT_NONE
 *    (or straddles into such a page) must leave every stat, every limit and
 *    the page map exactly as they were.
 *  - Counters in struct gch_stats only grow, also seen from another thread
 *    while failing calls run (the old undo decremented alloc_calls).
 *  - The retained budget is goal + goal / 10 saturating at U64_MAX.  The old
 *    goal / 10 * 11 wrapped, so goal 16769767339735956020 kept nothing while
 *    1 TiB kept everything.  Checked for the ioctl scavenge and the
 *    background scavenger, with goals from LIMITS and from GC_PHASE.
 *  - SPAN_ALLOC has no undo: a thread held (by userfaultfd write protection)
 *    while the kernel pins its struct owns no span yet, so other threads'
 *    spans can never be taken back from under them.  This is the race that
 *    freed another thread's live span, made deterministic.
 *  - An arena mmap length is compared after mmap() rounds it up to a page.
 */
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

#include "gch_test.h"
#include "scav_test.h"

/* ---- whole-heap snapshots ---- */

struct stat_field {
	const char *name;
	size_t off;
	bool counter;	/* "counters only grow" */
};

#define SF(f, c) { #f, offsetof(struct gch_stats, f), c }
static const struct stat_field stat_fields[] = {
	SF(heap_id, false), SF(arenas, false), SF(mapped_bytes, false),
	SF(span_pages, false), SF(spans, false), SF(free_pages, false),
	SF(resident_bytes, false), SF(free_resident_bytes, false),
	SF(hard_limit_pages, false), SF(alloc_calls, true),
	SF(free_calls, true), SF(spans_freed, true), SF(faults, true),
	SF(limit_hits, true), SF(released_bg_bytes, true),
	SF(released_eager_bytes, true), SF(released_shrink_bytes, true),
	SF(released_ioctl_bytes, true), SF(scavenge_ns, true),
	SF(gc_cycle, false), SF(heap_live, false), SF(heap_goal, false),
	SF(released_memcg_bytes, true),
};
#define NSTAT_FIELDS (sizeof(stat_fields) / sizeof(stat_fields[0]))

static __u64 sfield(const struct gch_stats *st, const struct stat_field *f)
{
	return *(const __u64 *)((const char *)st + f->off);
}

/* Name of the first counter lower in @b than in @a, or NULL. */
static const char *counter_went_down(const struct gch_stats *a,
				     const struct gch_stats *b)
{
	for (size_t i = 0; i < NSTAT_FIELDS; i++) {
		if (stat_fields[i].counter &&
		    sfield(b, &stat_fields[i]) < sfield(a, &stat_fields[i]))
			return stat_fields[i].name;
	}
	return NULL;
}

/* Everything a failing call could have touched: stats, limits, page map. */
struct heap_snap {
	struct gch_stats st;
	struct gch_limits lim;
	__u64 pm[GCH_PAGES_PER_ARENA];	/* arena 0 */
};

static int snap_take(int fd, volatile const __u64 *pm, struct heap_snap *s)
{
	int err = gch_stats(fd, &s->st);

	memset(&s->lim, 0, sizeof(s->lim));
	err = err ?: gch_limits(fd, 0, &s->lim);
	for (unsigned int p = 0; p < GCH_PAGES_PER_ARENA; p++)
		s->pm[p] = pm[p];
	return err;
}

/*
 * scavenge_ns is left out: the background scavenger may spend time looking
 * at the heap without releasing anything, and that is not the failing call.
 */
static void expect_snap_equal(struct __test_metadata *_metadata,
			      const struct heap_snap *a,
			      const struct heap_snap *b, const char *what)
{
	for (size_t i = 0; i < NSTAT_FIELDS; i++) {
		const struct stat_field *f = &stat_fields[i];

		if (f->off == offsetof(struct gch_stats, scavenge_ns))
			continue;
		EXPECT_EQ(sfield(&a->st, f), sfield(&b->st, f))
			TH_LOG("%s changed stats.%s", what, f->name);
	}
	EXPECT_EQ(a->lim.hard_pages, b->lim.hard_pages)
		TH_LOG("%s changed hard_pages", what);
	EXPECT_EQ(a->lim.soft_bytes, b->lim.soft_bytes)
		TH_LOG("%s changed soft_bytes", what);
	EXPECT_EQ(a->lim.goal_bytes, b->lim.goal_bytes)
		TH_LOG("%s changed goal_bytes", what);
	for (unsigned int p = 0; p < GCH_PAGES_PER_ARENA; p++) {
		if (a->pm[p] != b->pm[p]) {
			EXPECT_EQ(a->pm[p], b->pm[p])
				TH_LOG("%s changed page map entry %u", what, p);
			break;
		}
	}
}

/* Allocate @n spans of @npages and write to every system page of each. */
static int alloc_touched(int fd, char *base, long spg,
			 struct gch_span_ref *refs, unsigned int n,
			 __u32 npages)
{
	for (unsigned int i = 0; i < n; i++) {
		__u64 page;
		int err = gch_alloc(fd, npages, &page, NULL);

		if (err)
			return err;
		refs[i] = (struct gch_span_ref){ .page = (__u32)page,
						 .npages = npages };
		touch(gch_page_addr(base, page), (size_t)npages * GCH_PAGE_SIZE,
		      spg, 1);
	}
	return 0;
}

static bool overlap(__u64 a, __u32 na, __u64 b, __u32 nb)
{
	return a < b + nb && b < a + na;
}

/*
 * Three system pages: read-write | read-only | PROT_NONE.  A struct can sit
 * wholly on the read-only or the PROT_NONE page, or start 8 bytes before one
 * so that size and flags are readable while the rest is not writable
 * (read-only) or not even readable (PROT_NONE).
 */
struct fault_area {
	char *p;
	long pg;
};

static int fault_area_make(struct fault_area *fa)
{
	fa->pg = sysconf(_SC_PAGESIZE);
	fa->p = mmap(NULL, 3 * fa->pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fa->p == MAP_FAILED)
		return -errno;
	return mprotect(fa->p + fa->pg, fa->pg, PROT_READ) ||
	       mprotect(fa->p + 2 * fa->pg, fa->pg, PROT_NONE) ? -errno : 0;
}

/* Put @len bytes of @buf at offset @off, then restore the protections. */
static void *fault_area_place(struct fault_area *fa, long off,
			      const void *buf, size_t len)
{
	mprotect(fa->p, 3 * fa->pg, PROT_READ | PROT_WRITE);
	memset(fa->p, 0, 3 * fa->pg);
	memcpy(fa->p + off, buf, len);
	mprotect(fa->p + fa->pg, fa->pg, PROT_READ);
	mprotect(fa->p + 2 * fa->pg, fa->pg, PROT_NONE);
	return fa->p + off;
}

struct placement {
	const char *name;
	int page;	/* 1: read-only, 2: PROT_NONE */
	int back;	/* bytes before that page the struct starts */
};

static const struct placement placements[] = {
	{ "read-only", 1, 0 },
	{ "header writable, rest read-only", 1, 8 },
	{ "PROT_NONE", 2, 0 },
	{ "header read-only, rest PROT_NONE", 2, 8 },
};
#define NPLACEMENTS (sizeof(placements) / sizeof(placements[0]))

/* ---- a plain heap; arena mmap lengths ---- */

FIXTURE(ct) {
	int fd;
	char *base;
	volatile const __u64 *pm;
	long spg;
	struct scav_params saved;
	bool params_saved;
};

FIXTURE_SETUP(ct)
{
	self->spg = sysconf(_SC_PAGESIZE);
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(1);
	ASSERT_NE(MAP_FAILED, self->base);
}

FIXTURE_TEARDOWN(ct)
{
	if (self->params_saved)
		scav_params_restore(&self->saved);
	gch_heap_teardown(self->fd, self->base, 1, self->pm, NULL);
}

static int try_map(int fd, size_t len, int prot, __u64 off)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)off);

	if (p == MAP_FAILED)
		return -errno;
	munmap(p, len);
	return 0;
}

/*
 * mmap() rounds the length up to a system page before the driver sees it,
 * so the driver cannot refuse GCH_ARENA_SIZE - 1; the header promises that
 * such a mapping is the whole arena, which the last byte proves.
 */
TEST_F(ct, arena_length_rounds_up_to_a_page)
{
	const long pg = self->spg;
	const size_t ok[] = { GCH_ARENA_SIZE - 1, GCH_ARENA_SIZE - pg + 1 };
	const size_t bad[] = { GCH_ARENA_SIZE - pg, GCH_ARENA_SIZE + 1,
			       GCH_ARENA_SIZE + pg };
	struct gch_stats st;
	char *a, *full;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		a = gch_mmap(self->fd, ok[i], PROT_READ | PROT_WRITE,
			     MAP_SHARED, GCH_MMAP_ARENA(0));
		ASSERT_NE(NULL, a) TH_LOG("length %#zx: %s", ok[i],
					  strerror(errno));
		EXPECT_EQ(0, probe_write(a + GCH_ARENA_SIZE - 1))
			TH_LOG("length %#zx: last byte of the arena", ok[i]);
		a[GCH_ARENA_SIZE - 1] = (char)(0x40 + i);
		ASSERT_EQ(0, gch_stats(self->fd, &st));
		EXPECT_EQ(1, st.arenas);
		EXPECT_EQ(GCH_ARENA_SIZE, st.mapped_bytes);
		/* munmap() rounds the same way: the whole mapping goes */
		EXPECT_EQ(0, munmap(a, ok[i])) TH_LOG("munmap %#zx", ok[i]);
		/* it was the arena's own last page, not some other memory */
		full = gch_mmap(self->fd, GCH_ARENA_SIZE, PROT_READ, MAP_SHARED,
				GCH_MMAP_ARENA(0));
		ASSERT_NE(NULL, full);
		EXPECT_EQ((char)(0x40 + i), full[GCH_ARENA_SIZE - 1]);
		munmap(full, GCH_ARENA_SIZE);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-EINVAL, try_map(self->fd, bad[i],
					   PROT_READ | PROT_WRITE,
					   GCH_MMAP_ARENA(1)))
			TH_LOG("arena length %#zx", bad[i]);
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(1, st.arenas) TH_LOG("a refused length created arena 1");
	/* the page map and span slots round the same way */
	EXPECT_EQ(0, try_map(self->fd, GCH_PAGEMAP_SIZE - 1, PROT_READ,
			     GCH_MMAP_PAGEMAP));
	EXPECT_EQ(-EINVAL, try_map(self->fd, GCH_PAGEMAP_SIZE + 1, PROT_READ,
				   GCH_MMAP_PAGEMAP));
	EXPECT_EQ(0, try_map(self->fd, GCH_PAGEMAP_SIZE - 1,
			     PROT_READ | PROT_WRITE, GCH_MMAP_SPANSLOTS));
	EXPECT_EQ(-EINVAL, try_map(self->fd, GCH_PAGEMAP_SIZE - pg,
				   PROT_READ | PROT_WRITE, GCH_MMAP_SPANSLOTS));
}

/* ---- a struct that cannot be written back ---- */

enum wb_kind { WB_SPAN_ALLOC, WB_LIMITS, WB_SCAVENGE, WB_GC_PHASE };

FIXTURE(wb) {
	int fd;
	char *base;
	volatile const __u64 *pm;
	long spg;
	struct fault_area fa;
	struct heap_snap before, after;
};

FIXTURE_VARIANT(wb) {
	enum wb_kind kind;
	const char *name;
	unsigned long cmd;
};

FIXTURE_VARIANT_ADD(wb, span_alloc) {
	.kind = WB_SPAN_ALLOC, .name = "SPAN_ALLOC",
	.cmd = GCH_IOC_SPAN_ALLOC,
};
FIXTURE_VARIANT_ADD(wb, limits) {
	.kind = WB_LIMITS, .name = "LIMITS", .cmd = GCH_IOC_LIMITS,
};
FIXTURE_VARIANT_ADD(wb, scavenge) {
	.kind = WB_SCAVENGE, .name = "SCAVENGE", .cmd = GCH_IOC_SCAVENGE,
};
FIXTURE_VARIANT_ADD(wb, gc_phase) {
	.kind = WB_GC_PHASE, .name = "GC_PHASE", .cmd = GCH_IOC_GC_PHASE,
};

#define WB_GOAL		(1ULL << 30)
#define WB_HARD		5000
#define WB_CYCLE	3
#define WB_LIVE		1000

/*
 * A heap where every one of the four calls would visibly change something:
 * 2 MiB of free resident memory for SCAVENGE, limits and a GC cycle that the
 * fillers below replace, free runs for SPAN_ALLOC.  The 1 GiB goal keeps the
 * background scavenger off the free memory so the heap stays still.
 */
FIXTURE_SETUP(wb)
{
	struct gch_span_ref r[8];
	struct gch_limits l = { .hard_pages = WB_HARD, .goal_bytes = WB_GOAL };

	self->spg = sysconf(_SC_PAGESIZE);
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(1);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	self->pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, self->pm);
	ASSERT_EQ(0, fault_area_make(&self->fa));
	ASSERT_EQ(0, gch_limits(self->fd, GCH_LIMIT_HARD | GCH_LIMIT_GOAL, &l));
	if (gch_has_feature(self->fd, GCH_FEAT_GC_PHASE)) {
		struct gch_gc_phase g = {
			.size = sizeof(g), .phase = GCH_GC_SWEEP_END,
			.cycle = WB_CYCLE, .heap_live = WB_LIVE,
			.heap_goal = WB_GOAL,
		};

		ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, &g));
	}
	ASSERT_EQ(0, alloc_touched(self->fd, self->base, self->spg, r, 8, 64));
	for (int i = 1; i < 8; i += 2) {
		ASSERT_EQ(0, gch_free1(self->fd, r[i].page, r[i].npages));
	}
}

FIXTURE_TEARDOWN(wb)
{
	if (self->fa.p && self->fa.p != MAP_FAILED)
		munmap(self->fa.p, 3 * self->fa.pg);
	gch_heap_teardown(self->fd, self->base, 1, self->pm, NULL);
}

/*
 * A valid argument whose call would change the heap.  @salt makes each
 * call's values differ, so a change leaked by one call is not hidden by the
 * next one writing the same value; SCAVENGE takes a quarter of the free
 * memory per call for the same reason.
 */
static size_t wb_fill(enum wb_kind kind, void *buf, unsigned int salt)
{
	switch (kind) {
	case WB_SPAN_ALLOC:
		*(struct gch_span_alloc *)buf = (struct gch_span_alloc){
			.size = sizeof(struct gch_span_alloc), .npages = 3,
		};
		return sizeof(struct gch_span_alloc);
	case WB_LIMITS:
		*(struct gch_limits *)buf = (struct gch_limits){
			.size = sizeof(struct gch_limits),
			.flags = GCH_LIMIT_HARD | GCH_LIMIT_SOFT |
				 GCH_LIMIT_GOAL,
			.hard_pages = 1234 + salt, .soft_bytes = 5 * MIB + salt,
			.goal_bytes = 7 * MIB + salt,
		};
		return sizeof(struct gch_limits);
	case WB_SCAVENGE:
		*(struct gch_scavenge *)buf = (struct gch_scavenge){
			.size = sizeof(struct gch_scavenge),
			.flags = GCH_SCAVENGE_ALL, .max_bytes = MIB / 2,
		};
		return sizeof(struct gch_scavenge);
	case WB_GC_PHASE:
		*(struct gch_gc_phase *)buf = (struct gch_gc_phase){
			.size = sizeof(struct gch_gc_phase),
			.phase = GCH_GC_MARK_START, .cycle = 99 + salt,
			.heap_live = 12345 + salt, .heap_goal = 9 * MIB + salt,
		};
		return sizeof(struct gch_gc_phase);
	}
	return 0;
}

TEST_F(wb, unwritable_struct_changes_nothing)
{
	char buf[64];
	size_t len;

	if (variant->kind == WB_GC_PHASE &&
	    !gch_has_feature(self->fd, GCH_FEAT_GC_PHASE))
		SKIP(return, "no GCH_IOC_GC_PHASE");
	ASSERT_EQ(0, gch_stats(self->fd, &self->before.st));
	ASSERT_EQ(2 * MIB, self->before.st.free_resident_bytes);

	for (size_t i = 0; i < NPLACEMENTS; i++) {
		const struct placement *pl = &placements[i];
		char what[128];
		void *arg;

		/* afresh each time, so one leaked change is not blamed on all */
		ASSERT_EQ(0, snap_take(self->fd, self->pm, &self->before));
		len = wb_fill(variant->kind, buf, i);
		arg = fault_area_place(&self->fa,
				       pl->page * self->fa.pg - pl->back,
				       buf, len);
		snprintf(what, sizeof(what), "%s with its struct %s",
			 variant->name, pl->name);
		EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, variant->cmd, arg))
			TH_LOG("%s", what);
		ASSERT_EQ(0, snap_take(self->fd, self->pm, &self->after));
		expect_snap_equal(_metadata, &self->before, &self->after, what);
	}

	/*
	 * The same argument from writable memory does change the heap, so
	 * the refusals above were not checked against a call that is a no-op.
	 */
	ASSERT_EQ(0, snap_take(self->fd, self->pm, &self->before));
	len = wb_fill(variant->kind, buf, NPLACEMENTS);
	ASSERT_EQ(0, gch_ioctl(self->fd, variant->cmd, buf));
	ASSERT_EQ(0, snap_take(self->fd, self->pm, &self->after));
	switch (variant->kind) {
	case WB_SPAN_ALLOC:
		EXPECT_EQ(self->before.st.alloc_calls + 1,
			  self->after.st.alloc_calls);
		EXPECT_EQ(self->before.st.spans + 1, self->after.st.spans);
		break;
	case WB_LIMITS:
		EXPECT_EQ(1234 + NPLACEMENTS, self->after.lim.hard_pages);
		EXPECT_EQ(5 * MIB + NPLACEMENTS, self->after.lim.soft_bytes);
		EXPECT_EQ(7 * MIB + NPLACEMENTS, self->after.lim.goal_bytes);
		break;
	case WB_SCAVENGE:
		EXPECT_EQ(MIB / 2, ((struct gch_scavenge *)buf)->released_bytes);
		EXPECT_EQ(self->before.st.free_resident_bytes - MIB / 2,
			  self->after.st.free_resident_bytes);
		break;
	case WB_GC_PHASE:
		EXPECT_EQ(99 + NPLACEMENTS, self->after.st.gc_cycle);
		EXPECT_EQ(9 * MIB + NPLACEMENTS, self->after.st.heap_goal);
		break;
	}
}

/* ---- counters only grow ---- */

struct watcher {
	pthread_t tid;
	int fd;
	atomic_bool stop;
	unsigned long snaps;
	const char *down;	/* first counter seen going down */
	__u64 down_from, down_to;
};

/*
 * Polls stats while the main thread makes failing calls: an implementation
 * that counts and then uncounts (the old SPAN_ALLOC undo) is caught in the
 * act even though the counter looks the same before and after.
 */
static void *watcher_main(void *arg)
{
	struct watcher *w = arg;
	struct gch_stats prev, cur;

	if (gch_stats(w->fd, &prev))
		return NULL;
	while (!atomic_load(&w->stop) && !w->down) {
		if (gch_stats(w->fd, &cur))
			break;
		w->snaps++;
		for (size_t i = 0; i < NSTAT_FIELDS; i++) {
			const struct stat_field *f = &stat_fields[i];

			if (f->counter && sfield(&cur, f) < sfield(&prev, f)) {
				w->down = f->name;
				w->down_from = sfield(&prev, f);
				w->down_to = sfield(&cur, f);
				break;
			}
		}
		prev = cur;
	}
	return NULL;
}

struct bad_call {
	const char *name;
	unsigned long cmd;
	int place;	/* 1: read-only page, 2: PROT_NONE page, 0: writable */
	__u32 flags;	/* or'ed into the struct's flags */
	int err;
};

TEST_F_TIMEOUT(ct, failed_calls_never_lower_counters, 120)
{
	static const struct bad_call calls[] = {
		{ "SPAN_ALLOC read-only", GCH_IOC_SPAN_ALLOC, 1, 0, -EFAULT },
		{ "SPAN_ALLOC PROT_NONE", GCH_IOC_SPAN_ALLOC, 2, 0, -EFAULT },
		{ "SPAN_ALLOC bad flags", GCH_IOC_SPAN_ALLOC, 0, 1U << 7, -EINVAL },
		/* no write-back: read-only only fails on its bad span */
		{ "SPAN_FREE read-only", GCH_IOC_SPAN_FREE, 1, 0, -EINVAL },
		{ "SPAN_FREE PROT_NONE", GCH_IOC_SPAN_FREE, 2, 0, -EFAULT },
		{ "SPAN_FREE bad flags", GCH_IOC_SPAN_FREE, 0, 1U << 7, -EINVAL },
		{ "LIMITS read-only", GCH_IOC_LIMITS, 1, 0, -EFAULT },
		{ "LIMITS PROT_NONE", GCH_IOC_LIMITS, 2, 0, -EFAULT },
		{ "LIMITS bad flags", GCH_IOC_LIMITS, 0, 1U << 7, -EINVAL },
		{ "SCAVENGE read-only", GCH_IOC_SCAVENGE, 1, 0, -EFAULT },
		{ "SCAVENGE PROT_NONE", GCH_IOC_SCAVENGE, 2, 0, -EFAULT },
		{ "SCAVENGE bad flags", GCH_IOC_SCAVENGE, 0, 1U << 7, -EINVAL },
		{ "GC_PHASE read-only", GCH_IOC_GC_PHASE, 1, 0, -EFAULT },
		{ "GC_PHASE PROT_NONE", GCH_IOC_GC_PHASE, 2, 0, -EFAULT },
		{ "GC_PHASE bad flags", GCH_IOC_GC_PHASE, 0, 1U << 7, -EINVAL },
	};
	const bool gc_phase = gch_has_feature(self->fd, GCH_FEAT_GC_PHASE);
	struct gch_span_ref r[8], gone;
	struct gch_stats prev, cur;
	struct fault_area fa;
	struct watcher w = { .fd = self->fd };
	char buf[64];
	__u64 page;

	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, fault_area_make(&fa));
	/* every counter the calls could lower starts above zero */
	ASSERT_EQ(0, alloc_touched(self->fd, self->base, self->spg, r, 8, 64));
	ASSERT_EQ(0, gch_free(self->fd, r + 4, 4));
	ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, MIB, NULL));
	ASSERT_EQ(0, gch_set_hard(self->fd, 1));
	ASSERT_EQ(-ENOMEM, gch_alloc(self->fd, 1, NULL, NULL));
	ASSERT_EQ(0, gch_set_hard(self->fd, 0));
	ASSERT_EQ(0, gch_alloc(self->fd, 2, &page, NULL));
	ASSERT_EQ(0, gch_free1(self->fd, page, 2));
	gone = (struct gch_span_ref){ .page = (__u32)page, .npages = 2 };
	ASSERT_EQ(0, gch_stats(self->fd, &prev));
	EXPECT_NE(0, prev.alloc_calls);
	EXPECT_NE(0, prev.free_calls);
	EXPECT_NE(0, prev.released_ioctl_bytes);
	EXPECT_NE(0, prev.limit_hits);

	ASSERT_EQ(0, pthread_create(&w.tid, NULL, watcher_main, &w));
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
			const struct bad_call *c = &calls[i];
			void *arg;
			int ret;

			if (c->cmd == GCH_IOC_GC_PHASE && !gc_phase)
				continue;
			memset(buf, 0, sizeof(buf));
			switch (c->cmd) {
			case GCH_IOC_SPAN_ALLOC:
				wb_fill(WB_SPAN_ALLOC, buf, 0);
				break;
			case GCH_IOC_SPAN_FREE:
				*(struct gch_span_free *)buf = (struct gch_span_free){
					.size = sizeof(struct gch_span_free),
					.count = 1,
					.spans = (__u64)(uintptr_t)&gone,
				};
				break;
			case GCH_IOC_LIMITS:
				wb_fill(WB_LIMITS, buf, 0);
				break;
			case GCH_IOC_SCAVENGE:
				wb_fill(WB_SCAVENGE, buf, 0);
				break;
			case GCH_IOC_GC_PHASE:
				wb_fill(WB_GC_PHASE, buf, 0);
				break;
			}
			((__u32 *)buf)[1] |= c->flags;
			arg = c->place ? fault_area_place(&fa, c->place * fa.pg,
							  buf, sizeof(buf))
				       : buf;
			ret = gch_ioctl(self->fd, c->cmd, arg);
			ASSERT_EQ(0, gch_stats(self->fd, &cur));
			if (ret != c->err || counter_went_down(&prev, &cur)) {
				EXPECT_EQ(c->err, ret) TH_LOG("%s", c->name);
				EXPECT_EQ(NULL, counter_went_down(&prev, &cur))
					TH_LOG("%s lowered %s", c->name,
					       counter_went_down(&prev, &cur));
				round = 1000;
				break;
			}
			prev = cur;
		}
	}
	atomic_store(&w.stop, true);
	pthread_join(w.tid, NULL);
	ksft_print_msg("watcher took %lu snapshots\n", w.snaps);
	EXPECT_EQ(NULL, w.down)
		TH_LOG("another thread saw %s go from %llu to %llu", w.down,
		       (unsigned long long)w.down_from,
		       (unsigned long long)w.down_to);
	munmap(fa.p, 3 * fa.pg);
}

/* ---- the retained budget saturates ---- */

#define GOAL_WRAP	16769767339735956020ULL	/* first goal / 10 * 11 wraps */

static __u64 budget_sat(__u64 goal, __u64 used)
{
	__u64 keep = goal + goal / 10;

	if (keep < goal)
		keep = UINT64_MAX;
	return keep > used ? keep - used : 0;
}

static int set_goal(int fd, bool via_phase, __u64 goal)
{
	struct gch_gc_phase g = {
		.size = sizeof(g), .phase = GCH_GC_SWEEP_END, .cycle = 1,
		.heap_goal = goal,
	};

	/* SWEEP_END: a heap between MARK_START and SWEEP_END is left alone */
	if (via_phase)
		return gch_ioctl(fd, GCH_IOC_GC_PHASE, &g);
	return gch_set_limits(fd, GCH_LIMIT_GOAL, 0, goal);
}

FIXTURE(goal) {
	int fd;
	char *base;
	long spg;
	struct scav_params saved;
	bool params_saved;
};

FIXTURE_VARIANT(goal) {
	__u64 goal;
	bool via_phase;
};

FIXTURE_VARIANT_ADD(goal, limits_1tib) { .goal = 1ULL << 40 };
FIXTURE_VARIANT_ADD(goal, limits_wrap) { .goal = GOAL_WRAP };
FIXTURE_VARIANT_ADD(goal, limits_max) { .goal = UINT64_MAX };
FIXTURE_VARIANT_ADD(goal, phase_1tib) { .goal = 1ULL << 40, .via_phase = true };
FIXTURE_VARIANT_ADD(goal, phase_wrap) { .goal = GOAL_WRAP, .via_phase = true };
FIXTURE_VARIANT_ADD(goal, phase_max) { .goal = UINT64_MAX, .via_phase = true };

FIXTURE_SETUP(goal)
{
	self->spg = sysconf(_SC_PAGESIZE);
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(1);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	ASSERT_EQ(0, scav_params_save(&self->saved));
	self->params_saved = true;
}

FIXTURE_TEARDOWN(goal)
{
	if (self->params_saved)
		scav_params_restore(&self->saved);
	gch_heap_teardown(self->fd, self->base, 1, NULL, NULL);
}

/*
 * With any goal of 1 TiB or more the budget exceeds what the heap can hold,
 * so neither the background scavenger nor a budget-keeping GCH_IOC_SCAVENGE
 * may release a byte.  A small goal afterwards shows the scavenger was
 * awake and able to release all along.
 */
TEST_F_TIMEOUT(goal, huge_goal_keeps_free_memory, 120)
{
	enum { N = 16, NP = 64 };	/* 8 MiB touched, 4 MiB freed */
	struct gch_span_ref r[N], freed[N / 2];
	struct gch_limits l;
	struct gch_stats st0, st;
	__u64 released = ~0ULL, budget;
	double t0;

	if (!gch_has_feature(self->fd, GCH_FEAT_SCAVENGER))
		SKIP(return, "no background scavenger");
	if (variant->via_phase && !gch_has_feature(self->fd, GCH_FEAT_GC_PHASE))
		SKIP(return, "no GCH_IOC_GC_PHASE");
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "100"));
	ASSERT_EQ(0, param_write("scavenger", "1"));

	ASSERT_EQ(0, set_goal(self->fd, variant->via_phase, variant->goal));
	memset(&l, 0, sizeof(l));
	ASSERT_EQ(0, gch_limits(self->fd, 0, &l));
	EXPECT_EQ(variant->goal, l.goal_bytes);
	ASSERT_EQ(0, alloc_touched(self->fd, self->base, self->spg, r, N, NP));
	/* every other span: the free runs lie between live spans */
	for (int i = 0; i < N / 2; i++)
		freed[i] = r[2 * i + 1];
	ASSERT_EQ(0, gch_free(self->fd, freed, N / 2));	/* kicks the scavenger */
	/* a scavenger that ignores the budget may act before this returns */
	ASSERT_EQ(0, gch_stats(self->fd, &st0));
	EXPECT_EQ(variant->goal, st0.heap_goal);
	EXPECT_EQ(4 * MIB, st0.free_resident_bytes);

	t0 = now_s();
	do {
		sleep_ms(100);
		ASSERT_EQ(0, gch_stats(self->fd, &st));
	} while (st.free_resident_bytes == 4 * MIB && now_s() - t0 < 3.0);
	EXPECT_EQ(4 * MIB, st.free_resident_bytes)
		TH_LOG("goal %llu: the scavenger released down to %llu bytes after %.2f s",
		       (unsigned long long)variant->goal,
		       (unsigned long long)st.free_resident_bytes, now_s() - t0);
	EXPECT_EQ(0, st.released_bg_bytes + st.released_eager_bytes);

	ASSERT_EQ(0, gch_scavenge(self->fd, 0, 0, &released));
	EXPECT_EQ(0, released) TH_LOG("goal %llu: GCH_IOC_SCAVENGE ignored the budget",
				      (unsigned long long)variant->goal);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.released_ioctl_bytes);

	/* control: with a 4 MiB goal the budget is 0.4 MiB */
	ASSERT_EQ(0, set_goal(self->fd, variant->via_phase, 4 * MIB));
	budget = budget_sat(4 * MIB, st.span_pages * GCH_PAGE_SIZE);
	t0 = now_s();
	do {
		sleep_ms(50);
		ASSERT_EQ(0, gch_stats(self->fd, &st));
	} while (st.free_resident_bytes > budget && now_s() - t0 < 60);
	EXPECT_GE(budget, st.free_resident_bytes)
		TH_LOG("the scavenger never released down to a 4 MiB goal's budget");
	EXPECT_TRUE(stats_balance(&st, self->spg));
}

/*
 * Budget-keeping scavenges over goals from small to U64_MAX: the memory
 * kept never shrinks as the goal grows (it did right at GOAL_WRAP).  The
 * background scavenger is off so each figure is the ioctl's alone.
 */
TEST_F_TIMEOUT(ct, larger_goal_never_keeps_less, 240)
{
	enum { NR = 8, NP = 64, NGOALS = 40 };	/* 4 MiB freed per round */
	const __u64 fixed[] = {
		1 * MIB, 2 * MIB, 3 * MIB, 4 * MIB, 5 * MIB, 8 * MIB,
		1ULL << 40, 1ULL << 50, 1ULL << 63, GOAL_WRAP - 10,
		GOAL_WRAP - 1, GOAL_WRAP, GOAL_WRAP + 1, GOAL_WRAP + 9,
		UINT64_MAX / 11 * 10 + 5, UINT64_MAX / 10 * 9,
		UINT64_MAX - 1, UINT64_MAX,
	};
	__u64 goals[NGOALS], seed = gch_seed(), rs = seed | 1;
	__u64 kept_prev = 0, goal_prev = 0, used;
	struct gch_span_ref live, r[NR];
	size_t n = 0;

	TH_LOG("seed %#llx (rerun with GCH_SEED=%#llx)",
	       (unsigned long long)seed, (unsigned long long)seed);
	ASSERT_EQ(0, scav_params_save(&self->saved));
	self->params_saved = true;
	ASSERT_EQ(0, param_write("scavenger", "0"));
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		goals[n++] = fixed[i];
	/* random magnitudes from a few MiB up to the whole __u64 range */
	while (n < NGOALS) {
		__u64 g = rnd_next(&rs) >> rnd_range(&rs, 0, 42);

		if (g)
			goals[n++] = g;
	}
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && goals[j - 1] > goals[j]; j--) {
			__u64 t = goals[j];

			goals[j] = goals[j - 1];
			goals[j - 1] = t;
		}
	}

	ASSERT_EQ(0, alloc_touched(self->fd, self->base, self->spg, &live, 1, 128));
	used = 128 * GCH_PAGE_SIZE;
	for (size_t i = 0; i < n; i++) {
		struct gch_stats st;
		__u64 released, kept;

		ASSERT_EQ(0, gch_set_limits(self->fd, GCH_LIMIT_GOAL, 0, goals[i]));
		ASSERT_EQ(0, alloc_touched(self->fd, self->base, self->spg, r,
					   NR, NP));
		ASSERT_EQ(0, gch_free(self->fd, r, NR));
		ASSERT_EQ(0, gch_stats(self->fd, &st));
		ASSERT_EQ(4 * MIB, st.free_resident_bytes);
		ASSERT_EQ(goals[i], st.heap_goal);
		ASSERT_EQ(0, gch_scavenge(self->fd, 0, 0, &released));
		ASSERT_EQ(0, gch_stats(self->fd, &st));
		kept = st.free_resident_bytes;
		EXPECT_EQ(4 * MIB, kept + released);
		EXPECT_GE(budget_sat(goals[i], used), kept)
			TH_LOG("goal %llu kept more than its budget",
			       (unsigned long long)goals[i]);
		if (goals[i] >= 1ULL << 40) {
			EXPECT_EQ(4 * MIB, kept)
				TH_LOG("goal %llu released %llu bytes",
				       (unsigned long long)goals[i],
				       (unsigned long long)released);
		}
		EXPECT_LE(kept_prev, kept)
			TH_LOG("goal %llu keeps %llu bytes, less than goal %llu's %llu",
			       (unsigned long long)goals[i],
			       (unsigned long long)kept,
			       (unsigned long long)goal_prev,
			       (unsigned long long)kept_prev);
		kept_prev = kept;
		goal_prev = goals[i];
		/* start the next round from nothing resident but the live span */
		ASSERT_EQ(0, gch_scavenge(self->fd, GCH_SCAVENGE_ALL, 0, NULL));
	}
}

/* ---- no undo in SPAN_ALLOC, made deterministic with uffd-wp ---- */

enum { HELD_NPAGES = 4 };

struct held {
	/* thread A: SPAN_ALLOC with its struct on the write-protected page */
	pthread_t a_tid;
	int fd;
	bool unmap;		/* variant: the page goes away instead */
	struct gch_span_alloc *arg;
	int a_ret;
	__u64 a_page;
	atomic_bool a_done;

	/* the handler */
	pthread_t h_tid;
	int uffd;
	char *page;
	long pg;
	sem_t held, go;
	bool got_msg;
	struct uffd_msg msg;
	int h_err;		/* errno of a failed resolve, or ETIMEDOUT */
};

static void *held_alloc_main(void *arg)
{
	struct held *h = arg;

	h->a_ret = gch_ioctl(h->fd, GCH_IOC_SPAN_ALLOC, h->arg);
	/* after the unmap variant the struct is gone; nothing to read */
	if (!h->a_ret && !h->unmap)
		h->a_page = h->arg->page;
	atomic_store(&h->a_done, true);
	return NULL;
}

static void *held_handler_main(void *arg)
{
	struct held *h = arg;
	struct uffdio_range range = {
		.start = (__u64)(uintptr_t)h->page, .len = (__u64)h->pg,
	};
	int waited_ms = 0;

	for (;;) {
		struct pollfd p = { .fd = h->uffd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			break;
		waited_ms += 100;
		/* A came back without faulting, or never got anywhere */
		if (atomic_load(&h->a_done) || waited_ms >= 20000) {
			h->h_err = ETIMEDOUT;
			sem_post(&h->held);
			return NULL;
		}
	}
	if (read(h->uffd, &h->msg, sizeof(h->msg)) != sizeof(h->msg)) {
		h->h_err = errno;
		sem_post(&h->held);
		return NULL;
	}
	h->got_msg = true;
	sem_post(&h->held);
	sem_wait(&h->go);

	if (h->unmap) {
		/* UFFDIO_WAKE needs no mapping: it wakes by address */
		if (munmap(h->page, h->pg) ||
		    ioctl(h->uffd, UFFDIO_WAKE, &range))
			h->h_err = errno;
	} else {
		struct uffdio_writeprotect wp = { .range = range, .mode = 0 };

		/* clearing the protection wakes the faulting thread */
		if (ioctl(h->uffd, UFFDIO_WRITEPROTECT, &wp))
			h->h_err = errno;
	}
	return NULL;
}

FIXTURE(uf) {
	int fd;
	char *base;
	volatile const __u64 *pm;
	struct held h;
};

FIXTURE_VARIANT(uf) {
	bool unmap;
};

/* The handler lifts the protection: A goes on and gets a span of its own. */
FIXTURE_VARIANT_ADD(uf, unprotect) { .unmap = false };
/* The handler unmaps A's struct: A fails with nothing allocated. */
FIXTURE_VARIANT_ADD(uf, unmap) { .unmap = true };

FIXTURE_SETUP(uf)
{
	self->h.uffd = -1;
	self->h.page = MAP_FAILED;
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(1);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	self->pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, self->pm);
}

FIXTURE_TEARDOWN(uf)
{
	/* closing the uffd releases a thread still held in a fault */
	if (self->h.uffd >= 0)
		close(self->h.uffd);
	if (self->h.page != MAP_FAILED && !self->h.unmap)
		munmap(self->h.page, self->h.pg);
	gch_heap_teardown(self->fd, self->base, 1, self->pm, NULL);
}

/*
 * One anonymous private page holding A's struct, registered with a uffd
 * for write protection and protected.  Faults from the kernel must reach
 * the handler, so no UFFD_USER_MODE_ONLY (this needs root, as in the VM).
 * Returns NULL or why userfaultfd write protection is unavailable.
 */
static const char *held_setup(struct held *h, int fd, bool unmap)
{
	struct uffdio_api api = {
		.api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP,
	};
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };

	h->fd = fd;
	h->unmap = unmap;
	h->pg = sysconf(_SC_PAGESIZE);
	h->uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (h->uffd < 0)
		return errno == EPERM ? "userfaultfd(): EPERM (not root?)"
				      : "no userfaultfd()";
	if (ioctl(h->uffd, UFFDIO_API, &api))
		return "UFFDIO_API refused UFFD_FEATURE_PAGEFAULT_FLAG_WP";
	if (!(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		return "no UFFD_FEATURE_PAGEFAULT_FLAG_WP";
	h->page = mmap(NULL, h->pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->page == MAP_FAILED)
		return "mmap";
	/* present before protecting: 6.1 protects only populated anon ptes */
	memset(h->page, 0, h->pg);
	h->arg = (struct gch_span_alloc *)(h->page + 256);
	*h->arg = (struct gch_span_alloc){ .size = sizeof(*h->arg),
					   .npages = HELD_NPAGES };
	reg.range.start = (__u64)(uintptr_t)h->page;
	reg.range.len = (__u64)h->pg;
	if (ioctl(h->uffd, UFFDIO_REGISTER, &reg))
		return "UFFDIO_REGISTER_MODE_WP refused on anonymous memory";
	if (!(reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT)))
		return "no UFFDIO_WRITEPROTECT on the range";
	wp.range = reg.range;
	if (ioctl(h->uffd, UFFDIO_WRITEPROTECT, &wp))
		return "UFFDIO_WRITEPROTECT failed";
	return NULL;
}

/* Every non-zero page-map entry of arena 0, checked to be span @b's. */
static unsigned int foreign_entries(volatile const __u64 *pm, __u64 b,
				    __u32 nb, __u64 *first)
{
	unsigned int n = 0;

	for (__u64 p = 0; p < GCH_PAGES_PER_ARENA; p++) {
		__u64 e = pm[p];

		if (!e || (nb && e == GCH_PME_MAKE(b, nb) &&
			   p >= b && p < b + nb))
			continue;
		if (!n++)
			*first = e;
	}
	return n;
}

TEST_F_TIMEOUT(uf, alloc_held_in_pin_owns_nothing, 90)
{
	struct held *h = &self->h;
	struct gch_stats st;
	const char *why;
	__u64 b, c, e = 0;
	bool held_ok;

	why = held_setup(h, self->fd, variant->unmap);
	if (why)
		SKIP(return, "userfaultfd write protection unavailable: %s", why);
	ASSERT_EQ(0, sem_init(&h->held, 0, 0));
	ASSERT_EQ(0, sem_init(&h->go, 0, 0));
	ASSERT_EQ(0, pthread_create(&h->h_tid, NULL, held_handler_main, h));
	ASSERT_EQ(0, pthread_create(&h->a_tid, NULL, held_alloc_main, h));
	sem_wait(&h->held);

	held_ok = h->got_msg && !atomic_load(&h->a_done);
	EXPECT_TRUE(held_ok)
		TH_LOG("A was never held in the kernel (handler: %s, A returned %d): a pin that does not wait for userfaultfd refuses writable memory",
		       h->got_msg ? "message" : strerror(h->h_err),
		       atomic_load(&h->a_done) ? h->a_ret : 1);
	if (!held_ok) {
		/* let everyone go before failing */
		close(h->uffd);
		h->uffd = -1;
		sem_post(&h->go);
		pthread_join(h->h_tid, NULL);
		pthread_join(h->a_tid, NULL);
		return;
	}
	EXPECT_EQ(UFFD_EVENT_PAGEFAULT, h->msg.event);
	EXPECT_TRUE(h->msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP);
	EXPECT_TRUE(h->msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE);
	EXPECT_EQ((__u64)(uintptr_t)h->page,
		  h->msg.arg.pagefault.address & ~((__u64)h->pg - 1));

	/* A is held: it must not own a span yet */
	if (foreign_entries(self->pm, 0, 0, &e)) {
		EXPECT_EQ(0, e) TH_LOG("A holds span %u+%u while blocked",
				       GCH_PME_START(e), GCH_PME_NPAGES(e));
		/*
		 * Allocated before the pin (the old design): play the other
		 * thread of the bug report, which freed that span and got its
		 * pages again as B, so the checks below see the double
		 * ownership itself and not only the early span.
		 */
		gch_free1(self->fd, GCH_PME_START(e), GCH_PME_NPAGES(e));
	}
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.alloc_calls);
	ASSERT_EQ(0, gch_alloc(self->fd, HELD_NPAGES, &b, NULL));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(1, st.alloc_calls);
	EXPECT_EQ(1, st.spans);
	EXPECT_EQ(HELD_NPAGES, st.span_pages);
	EXPECT_EQ(0, foreign_entries(self->pm, b, HELD_NPAGES, &e))
		TH_LOG("page map entry %#llx besides B's while A is held",
		       (unsigned long long)e);
	EXPECT_FALSE(atomic_load(&h->a_done)) TH_LOG("A returned %d while held",
						     h->a_ret);

	sem_post(&h->go);
	pthread_join(h->h_tid, NULL);
	pthread_join(h->a_tid, NULL);
	EXPECT_EQ(0, h->h_err) TH_LOG("resolving the fault: %s",
				      strerror(h->h_err));
	ASSERT_EQ(0, gch_stats(self->fd, &st));

	if (!variant->unmap) {
		ASSERT_EQ(0, h->a_ret);
		EXPECT_FALSE(overlap(h->a_page, HELD_NPAGES, b, HELD_NPAGES))
			TH_LOG("A got %llu, B holds %llu",
			       (unsigned long long)h->a_page,
			       (unsigned long long)b);
		EXPECT_EQ(2, st.alloc_calls);
		EXPECT_EQ(2, st.spans);
		EXPECT_EQ(GCH_PME_MAKE(h->a_page, HELD_NPAGES),
			  self->pm[h->a_page]);
		EXPECT_EQ(GCH_PME_MAKE(b, HELD_NPAGES), self->pm[b]);
		EXPECT_EQ(0, gch_free1(self->fd, h->a_page, HELD_NPAGES));
		EXPECT_EQ(-EINVAL, gch_free1(self->fd, h->a_page, HELD_NPAGES));
	} else {
		EXPECT_EQ(-EFAULT, h->a_ret);
		EXPECT_EQ(1, st.alloc_calls);
		EXPECT_EQ(1, st.spans);
		EXPECT_EQ(GCH_PME_MAKE(b, HELD_NPAGES), self->pm[b])
			TH_LOG("B's span is gone after A failed");
		EXPECT_EQ(0, foreign_entries(self->pm, b, HELD_NPAGES, &e));
		ASSERT_EQ(0, gch_alloc(self->fd, HELD_NPAGES, &c, NULL));
		EXPECT_FALSE(overlap(c, HELD_NPAGES, b, HELD_NPAGES))
			TH_LOG("a third allocation got B's pages (%llu)",
			       (unsigned long long)c);
		EXPECT_EQ(0, gch_free1(self->fd, c, HELD_NPAGES));
	}
	EXPECT_EQ(0, gch_free1(self->fd, b, HELD_NPAGES));
	EXPECT_EQ(-EINVAL, gch_free1(self->fd, b, HELD_NPAGES));
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(0, st.spans);
}

TEST_HARNESS_MAIN

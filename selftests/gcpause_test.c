// SPDX-License-Identifier: MIT
/*
 * gcpause_test: GCH_GC_PAUSE, the collector's stop-the-world pauses as
 * GCH_IOC_GC_PHASE announces them (uapi/linux/gcheap.h, struct gch_gc_phase).
 *
 * What it must do: accept each pause kind with any pause_ns and count it in
 * gc_pauses / gc_pause_ns (saturating, never going down); refuse a bad kind,
 * a non-zero reserved field, the cycle fields on a pause and the pause
 * fields on the other phases with -EINVAL; still take the first version of
 * the struct for MARK_START, MARK_END and SWEEP_END; change nothing but the
 * two counters, so the phase, cycle, live and goal stay the cycle's and the
 * background scavenger's hold-off between MARK_START and SWEEP_END neither
 * ends nor starts on a pause; and keep the ioctl conventions: a struct that
 * cannot be written back fails with -EFAULT before anything is counted, a
 * watcher gets -EPERM, nothing but the struct as passed is written back.
 */
#include <sys/mount.h>
#include "gch_test.h"
#include "scav_test.h"

/* the first version of struct gch_gc_phase ends after heap_goal */
#define V1_SIZE		(offsetof(struct gch_gc_phase, heap_goal) + sizeof(__u64))

static int pause_ioc(int fd, __u32 kind, __u64 cycle, __u64 ns)
{
	struct gch_gc_phase g = {
		.size = sizeof(g), .phase = GCH_GC_PAUSE, .cycle = cycle,
		.pause_kind = kind, .pause_ns = ns,
	};

	return gch_ioctl(fd, GCH_IOC_GC_PHASE, &g);
}

/* The fields a pause must leave alone, and the ones it moves. */
struct snap {
	__u64 gc_cycle, heap_live, heap_goal, gc_pauses, gc_pause_ns;
};

static int snap(int fd, struct snap *s)
{
	struct gch_stats st;
	int ret = gch_stats(fd, &st);

	s->gc_cycle = st.gc_cycle;
	s->heap_live = st.heap_live;
	s->heap_goal = st.heap_goal;
	s->gc_pauses = st.gc_pauses;
	s->gc_pause_ns = st.gc_pause_ns;
	return ret;
}

FIXTURE(gp) {
	int fd;
};

FIXTURE_SETUP(gp)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	if (!gch_has_feature(self->fd, GCH_FEAT_GC_PAUSE))
		SKIP(return, "module without GCH_FEAT_GC_PAUSE");
}

FIXTURE_TEARDOWN(gp)
{
	close(self->fd);
}

TEST_F(gp, advertised)
{
	EXPECT_TRUE(gch_has_feature(self->fd, GCH_FEAT_GC_PHASE));
	EXPECT_TRUE(gch_has_feature(self->fd, GCH_FEAT_TRACEPOINTS));
}

/* Every kind, any ns; the counters add up; the rest stays the cycle's. */
TEST_F(gp, kinds_are_counted)
{
	struct gch_gc_phase g = {
		.size = sizeof(g), .phase = GCH_GC_MARK_START, .cycle = 7,
		.heap_live = 3 * MIB, .heap_goal = 12 * MIB,
	};
	static const __u64 ns[] = { 0, 1, 999999, 1ULL << 40 };
	__u64 sum = 0, n = 0;
	struct snap a, b;

	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, &g));
	ASSERT_EQ(0, snap(self->fd, &a));
	EXPECT_EQ(0, a.gc_pauses);
	EXPECT_EQ(0, a.gc_pause_ns);
	for (__u32 k = GCH_PAUSE_MARK_START; k <= GCH_PAUSE_STW; k++) {
		for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
			/* the cycle of a pause is not the heap's: any value */
			ASSERT_EQ(0, pause_ioc(self->fd, k, 100 + k, ns[i]));
			sum += ns[i];
			n++;
			ASSERT_EQ(0, snap(self->fd, &b));
			EXPECT_EQ(n, b.gc_pauses);
			EXPECT_EQ(sum, b.gc_pause_ns);
			EXPECT_EQ(7, b.gc_cycle);
			EXPECT_EQ(3 * MIB, b.heap_live);
			EXPECT_EQ(12 * MIB, b.heap_goal);
		}
	}
}

/* pause_ns is any u64: the total saturates at U64_MAX and stays there. */
TEST_F(gp, total_saturates)
{
	struct snap s;

	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_STW, 1, 5));
	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_STW, 1, UINT64_MAX - 1));
	ASSERT_EQ(0, snap(self->fd, &s));
	EXPECT_EQ(UINT64_MAX, s.gc_pause_ns);
	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_MARK_TERM, 2, UINT64_MAX));
	ASSERT_EQ(0, snap(self->fd, &s));
	EXPECT_EQ(UINT64_MAX, s.gc_pause_ns);
	EXPECT_EQ(3, s.gc_pauses);
}

/* Written back exactly as passed, even past what the kernel reads. */
TEST_F(gp, write_back_unchanged)
{
	union {
		struct gch_gc_phase g;
		char raw[sizeof(struct gch_gc_phase) + 16];
	} u, in;

	memset(&u, 0, sizeof(u));
	u.g = (struct gch_gc_phase){
		.size = sizeof(u.g) + 16, .phase = GCH_GC_PAUSE, .cycle = 9,
		.pause_kind = GCH_PAUSE_MARK_START, .pause_ns = 12345,
	};
	in = u;
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, &u));
	EXPECT_EQ(0, memcmp(&u, &in, sizeof(u)));
}

struct bad {
	const char *what;
	__u32 size;		/* 0: sizeof */
	__u32 phase, kind, reserved, reserved2, flags;
	__u64 live, goal, ns;
	char tail;		/* a byte past the struct */
	int err;
};

static const struct bad bads[] = {
	{ "kind 0", 0, GCH_GC_PAUSE, 0, .err = -EINVAL },
	{ "kind 4", 0, GCH_GC_PAUSE, 4, .err = -EINVAL },
	{ "kind ~0", 0, GCH_GC_PAUSE, ~0U, .err = -EINVAL },
	{ "first version size (no kind)", V1_SIZE, GCH_GC_PAUSE,
	  GCH_PAUSE_STW, .err = -EINVAL },
	{ "reserved", 0, GCH_GC_PAUSE, 1, .reserved = 1, .err = -EINVAL },
	{ "reserved2", 0, GCH_GC_PAUSE, 1, .reserved2 = 1, .err = -EINVAL },
	{ "reserved2 top bit", 0, GCH_GC_PAUSE, 2, .reserved2 = 1U << 31,
	  .err = -EINVAL },
	{ "flags", 0, GCH_GC_PAUSE, 1, .flags = 1, .err = -EINVAL },
	{ "heap_live on a pause", 0, GCH_GC_PAUSE, 1, .live = 1,
	  .err = -EINVAL },
	{ "heap_goal on a pause", 0, GCH_GC_PAUSE, 3, .goal = 1 << 20,
	  .err = -EINVAL },
	{ "pause_kind on MARK_START", 0, GCH_GC_MARK_START, 1,
	  .err = -EINVAL },
	{ "pause_ns on SWEEP_END", 0, GCH_GC_SWEEP_END, 0, .ns = 1,
	  .err = -EINVAL },
	{ "reserved2 on MARK_END", 0, GCH_GC_MARK_END, 0, .reserved2 = 1,
	  .err = -EINVAL },
	{ "phase 5", 0, 5, 1, .err = -EINVAL },
	{ "phase 0", 0, 0, 1, .err = -EINVAL },
	{ "size below the first version", V1_SIZE - 1, GCH_GC_MARK_START,
	  .err = -EINVAL },
	{ "non-zero byte past the struct", sizeof(struct gch_gc_phase) + 8,
	  GCH_GC_PAUSE, 1, .tail = 1, .err = -E2BIG },
};

/* Each refusal changes nothing: no count, no phase state. */
TEST_F(gp, refused)
{
	struct gch_gc_phase g = {
		.size = sizeof(g), .phase = GCH_GC_MARK_END, .cycle = 4,
		.heap_live = 5 * MIB, .heap_goal = 9 * MIB,
	};
	union {
		struct gch_gc_phase g;
		char raw[sizeof(struct gch_gc_phase) + 16];
	} u;
	struct snap a, b;

	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, &g));
	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_MARK_TERM, 4, 777));
	ASSERT_EQ(0, snap(self->fd, &a));
	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		const struct bad *c = &bads[i];

		memset(&u, 0, sizeof(u));
		u.g.size = c->size ? c->size : sizeof(u.g);
		u.g.flags = c->flags;
		u.g.phase = c->phase;
		u.g.reserved = c->reserved;
		u.g.cycle = 99;
		u.g.heap_live = c->live;
		u.g.heap_goal = c->goal;
		u.g.pause_kind = c->kind;
		u.g.reserved2 = c->reserved2;
		u.g.pause_ns = c->ns;
		u.raw[sizeof(u.g) + 3] = c->tail;
		EXPECT_EQ(c->err, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, &u))
			TH_LOG("%s", c->what);
		ASSERT_EQ(0, snap(self->fd, &b));
		EXPECT_EQ(0, memcmp(&a, &b, sizeof(a))) TH_LOG("%s", c->what);
	}
}

/* Callers built against the first header keep working, and get no pause. */
TEST_F(gp, first_version_phases)
{
	struct gch_gc_phase g;
	struct snap s;

	for (__u32 ph = GCH_GC_MARK_START; ph <= GCH_GC_SWEEP_END; ph++) {
		memset(&g, 0, sizeof(g));
		g.size = V1_SIZE;
		g.phase = ph;
		g.cycle = 20 + ph;
		g.heap_live = ph * MIB;
		g.heap_goal = 8 * MIB + ph;
		ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, &g));
		ASSERT_EQ(0, snap(self->fd, &s));
		EXPECT_EQ(20 + ph, s.gc_cycle);
		EXPECT_EQ(ph * MIB, s.heap_live);
		EXPECT_EQ(8 * MIB + ph, s.heap_goal);
		EXPECT_EQ(0, s.gc_pauses);
	}
	/* a size cutting the new fields: what is there is read, the rest 0 */
	memset(&g, 0, sizeof(g));
	g.size = V1_SIZE + 4;
	g.phase = GCH_GC_PAUSE;
	g.pause_kind = GCH_PAUSE_MARK_START;
	g.pause_ns = 55;	/* past size: not read */
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, &g));
	ASSERT_EQ(0, snap(self->fd, &s));
	EXPECT_EQ(1, s.gc_pauses);
	EXPECT_EQ(0, s.gc_pause_ns);
}

/*
 * A struct that cannot be written back: read-only, PROT_NONE, or with its
 * new tail on a read-only page.  -EFAULT and nothing counted; a first-version
 * struct that ends where the read-only page begins is written back whole.
 */
TEST_F(gp, unwritable_struct)
{
	long ps = sysconf(_SC_PAGESIZE);
	struct gch_gc_phase g = {
		.size = sizeof(g), .phase = GCH_GC_PAUSE, .cycle = 3,
		.pause_kind = GCH_PAUSE_MARK_TERM, .pause_ns = 4242,
	};
	struct gch_gc_phase *p;
	struct snap a, b;
	char *m;

	m = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, snap(self->fd, &a));

	memcpy(m, &g, sizeof(g));
	ASSERT_EQ(0, mprotect(m, ps, PROT_READ));
	EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, m));
	ASSERT_EQ(0, mprotect(m, ps, PROT_NONE));
	EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, m));
	ASSERT_EQ(0, snap(self->fd, &b));
	EXPECT_EQ(0, memcmp(&a, &b, sizeof(a)));

	/* the first version in the writable page, the new tail read-only */
	ASSERT_EQ(0, mprotect(m, 2 * ps, PROT_READ | PROT_WRITE));
	p = (struct gch_gc_phase *)(m + ps - V1_SIZE);
	memcpy(p, &g, sizeof(g));
	ASSERT_EQ(0, mprotect(m + ps, ps, PROT_READ));
	EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, p));
	ASSERT_EQ(0, snap(self->fd, &b));
	EXPECT_EQ(0, memcmp(&a, &b, sizeof(a)));

	/* the same place, first version size: pins and writes 40 bytes */
	p->size = V1_SIZE;
	p->phase = GCH_GC_MARK_START;	/* the tail, not read, says PAUSE */
	EXPECT_EQ(0, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, p));
	ASSERT_EQ(0, snap(self->fd, &b));
	EXPECT_EQ(3, b.gc_cycle);
	EXPECT_EQ(a.gc_pauses, b.gc_pauses);
	munmap(m, 2 * ps);
}

static int child_pause(void *arg)
{
	int fd = *(int *)arg;

	return pause_ioc(fd, GCH_PAUSE_STW, 1, 10) == -EPERM ? 0 : 1;
}

/* A fork child watches: it may not announce, and nothing is counted. */
TEST_F(gp, watcher_refused)
{
	struct snap s;
	int status;

	status = run_child(child_pause, &self->fd);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, snap(self->fd, &s));
	EXPECT_EQ(0, s.gc_pauses);
}

/* The operator's view: debugfs stats has the two counters. */
TEST_F(gp, debugfs_counts)
{
	struct gch_version v;
	char path[128], line[128];
	__u64 n = ~0ULL, ns = ~0ULL;
	FILE *f;

	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_MARK_START, 1, 300));
	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_MARK_TERM, 1, 40));
	ASSERT_EQ(0, gch_version(self->fd, &v));
	if (access("/sys/kernel/debug/gcheap", F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	snprintf(path, sizeof(path), "/sys/kernel/debug/gcheap/%d-%llu/stats",
		 getpid(), (unsigned long long)v.heap_id);
	f = fopen(path, "r");
	if (!f)
		SKIP(return, "no %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "gc_pauses %llu", (unsigned long long *)&n);
		sscanf(line, "gc_pause_ns %llu", (unsigned long long *)&ns);
	}
	fclose(f);
	EXPECT_EQ(2, n);
	EXPECT_EQ(340, ns);
}

/* ---- the scavenger goes by the cycle's phases, never by a pause ---- */

#define NARENAS		1

FIXTURE(hold) {
	int fd;
	char *base;
	struct scav_params saved;
};

FIXTURE_SETUP(hold)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd);
	if (!gch_has_feature(self->fd, GCH_FEAT_GC_PAUSE) ||
	    !gch_has_feature(self->fd, GCH_FEAT_SCAVENGER))
		SKIP(return, "no GCH_FEAT_GC_PAUSE or no scavenger");
	ASSERT_EQ(0, scav_params_save(&self->saved));
	/* full speed: this is about when it works, not how fast */
	ASSERT_EQ(0, param_write("scavenger_cpu_pct", "100"));
	ASSERT_EQ(0, param_write("scavenger", "1"));
	self->base = gch_reserve(NARENAS);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
}

FIXTURE_TEARDOWN(hold)
{
	/* base is set once the parameters are saved */
	if (self->base)
		scav_params_restore(&self->saved);
	gch_heap_teardown(self->fd, self->base, NARENAS, NULL, NULL);
}

/* Allocate @n spans of @np pages, touch every system page, free them. */
static int churn(int fd, char *base, unsigned int n, unsigned int np)
{
	long ps = sysconf(_SC_PAGESIZE);
	struct gch_span_ref r[8];
	__u64 page;
	int ret;

	for (unsigned int i = 0; i < n; i++) {
		ret = gch_alloc(fd, np, &page, NULL);
		if (ret)
			return ret;
		r[i] = (struct gch_span_ref){ (__u32)page, np };
		for (size_t off = 0; off < np * GCH_PAGE_SIZE; off += ps)
			gch_page_addr(base, page)[off] = 1;
	}
	return gch_free(fd, r, n);
}

static double wait_free_res(int fd, __u64 limit, double max_s,
			    struct gch_stats *st)
{
	double t0 = now_s();

	while (!gch_stats(fd, st)) {
		if (st->free_resident_bytes <= limit)
			return now_s() - t0;
		if (now_s() - t0 > max_s)
			break;
		sleep_ms(50);
	}
	return -1;
}

TEST_F_TIMEOUT(hold, pauses_keep_the_hold_off, 180)
{
	enum { N = 4, NP = 512 };	/* 16 MiB free, the budget 4.4 MiB */
	const __u64 goal = 4 * MIB, budget = goal + goal / 10;
	struct gch_stats st;

	ASSERT_EQ(0, gch_phase(self->fd, GCH_GC_MARK_START, 1, goal));
	ASSERT_EQ(0, churn(self->fd, self->base, N, NP));
	/* the pauses of a concurrent cycle: none may end the hold-off */
	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_MARK_START, 1, 80000));
	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_MARK_TERM, 1, 90000));
	sleep_ms(1500);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(16 * MIB, st.free_resident_bytes);
	EXPECT_EQ(0, st.released_bg_bytes + st.released_eager_bytes);
	EXPECT_EQ(1, st.gc_cycle);

	ASSERT_EQ(0, gch_phase(self->fd, GCH_GC_MARK_END, 1, 0));
	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_MARK_TERM, 1, 95000));
	sleep_ms(1500);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(16 * MIB, st.free_resident_bytes);
	EXPECT_EQ(0, st.released_bg_bytes + st.released_eager_bytes);

	ASSERT_EQ(0, gch_phase(self->fd, GCH_GC_SWEEP_END, 1, 0));
	ASSERT_LE(0, wait_free_res(self->fd, budget, 60, &st));
	EXPECT_LT(0, st.released_bg_bytes);

	/* a pause outside a cycle (a STW collector's) starts no hold-off */
	ASSERT_EQ(0, pause_ioc(self->fd, GCH_PAUSE_STW, 2, 1000000));
	ASSERT_EQ(0, churn(self->fd, self->base, N, NP));
	ASSERT_LE(0, wait_free_res(self->fd, budget, 60, &st));
	EXPECT_EQ(4, st.gc_pauses);
	EXPECT_EQ(80000 + 90000 + 95000 + 1000000, st.gc_pause_ns);
	EXPECT_EQ(1, st.gc_cycle);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * version_test: the handshake and the ioctl conventions every gcheap ioctl
 * shares (uapi/linux/gcheap.h, "ioctl conventions").
 *
 * The conventions are checked table-driven: each ioctl has a filler that
 * builds a valid argument, and every test starts from that valid argument and
 * breaks exactly one thing (size, a flag bit, a reserved field, the pointer),
 * then checks the errno and that the heap's counters did not move.  A valid
 * call after the bad ones proves the heap still works.
 */
#include "gch_test.h"

#define BUF_SIZE 4096

struct ioc_desc;

FIXTURE(ioc) {
	int fd;
	void *arena;
	struct gch_span_ref ref;	/* target of the SPAN_FREE filler */
	bool gc_phase;
	const struct ioc_desc *descs[8];
	int ndescs;
};

struct ioc_desc {
	const char *name;
	unsigned long cmd;
	__u32 size;
	__u32 known_flags;
	int reserved_off;	/* offset of a __u32/__u64 reserved field, or -1 */
	int reserved_len;
	bool has_output;	/* the kernel writes the struct back */
	/* Fill @buf with a valid argument; may allocate a span to free. */
	void (*fill)(FIXTURE_DATA(ioc) *self, void *buf);
};

static void fill_version(FIXTURE_DATA(ioc) *self, void *buf)
{
	struct gch_version *v = buf;

	(void)self;
	v->size = sizeof(*v);
}

static void fill_alloc(FIXTURE_DATA(ioc) *self, void *buf)
{
	struct gch_span_alloc *a = buf;

	(void)self;
	a->size = sizeof(*a);
	a->npages = 1;
}

static void fill_free(FIXTURE_DATA(ioc) *self, void *buf)
{
	struct gch_span_free *f = buf;
	__u64 page = 0;

	if (gch_alloc(self->fd, 2, &page, NULL) == 0) {
		self->ref.page = (__u32)page;
		self->ref.npages = 2;
	}
	f->size = sizeof(*f);
	f->count = 1;
	f->spans = (__u64)(uintptr_t)&self->ref;
}

static void fill_limits(FIXTURE_DATA(ioc) *self, void *buf)
{
	struct gch_limits *l = buf;

	(void)self;
	l->size = sizeof(*l);
}

static void fill_stats(FIXTURE_DATA(ioc) *self, void *buf)
{
	struct gch_stats *s = buf;

	(void)self;
	s->size = sizeof(*s);
}

static void fill_scavenge(FIXTURE_DATA(ioc) *self, void *buf)
{
	struct gch_scavenge *s = buf;

	(void)self;
	s->size = sizeof(*s);
}

static void fill_gc_phase(FIXTURE_DATA(ioc) *self, void *buf)
{
	struct gch_gc_phase *g = buf;

	(void)self;
	g->size = sizeof(*g);
	g->phase = GCH_GC_SWEEP_END;
	g->cycle = 1;
}

static const struct ioc_desc descs[] = {
	{ "VERSION", GCH_IOC_VERSION, sizeof(struct gch_version), 0, -1, 0,
	  true, fill_version },
	{ "SPAN_ALLOC", GCH_IOC_SPAN_ALLOC, sizeof(struct gch_span_alloc),
	  GCH_SPAN_ALLOC_CROSS, offsetof(struct gch_span_alloc, reserved), 8,
	  true, fill_alloc },
	{ "SPAN_FREE", GCH_IOC_SPAN_FREE, sizeof(struct gch_span_free), 0,
	  offsetof(struct gch_span_free, reserved), 4, false, fill_free },
	{ "LIMITS", GCH_IOC_LIMITS, sizeof(struct gch_limits),
	  GCH_LIMIT_HARD | GCH_LIMIT_SOFT | GCH_LIMIT_GOAL, -1, 0, true,
	  fill_limits },
	{ "STATS", GCH_IOC_STATS, sizeof(struct gch_stats), 0, -1, 0, true,
	  fill_stats },
	{ "SCAVENGE", GCH_IOC_SCAVENGE, sizeof(struct gch_scavenge),
	  GCH_SCAVENGE_ALL, -1, 0, true, fill_scavenge },
	{ "GC_PHASE", GCH_IOC_GC_PHASE, sizeof(struct gch_gc_phase), 0,
	  offsetof(struct gch_gc_phase, reserved), 4, false, fill_gc_phase },
};

FIXTURE_SETUP(ioc)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->arena = gch_mmap(self->fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
			       MAP_SHARED, GCH_MMAP_ARENA(0));
	ASSERT_NE(NULL, self->arena) TH_LOG("mmap arena 0: %s", strerror(errno));
	self->gc_phase = gch_has_feature(self->fd, GCH_FEAT_GC_PHASE);
	for (size_t i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
		if (descs[i].cmd == GCH_IOC_GC_PHASE && !self->gc_phase)
			continue;
		self->descs[self->ndescs++] = &descs[i];
	}
}

FIXTURE_TEARDOWN(ioc)
{
	gch_heap_teardown(self->fd, self->arena, 1, NULL, NULL);
}

static int call(FIXTURE_DATA(ioc) *self, const struct ioc_desc *d, void *buf)
{
	return gch_ioctl(self->fd, d->cmd, buf);
}

static void fill(FIXTURE_DATA(ioc) *self, const struct ioc_desc *d, void *buf)
{
	memset(buf, 0, BUF_SIZE);
	d->fill(self, buf);
}

TEST_F(ioc, handshake)
{
	struct gch_version v;
	struct gch_stats st;

	ASSERT_EQ(0, gch_version(self->fd, &v));
	EXPECT_EQ(sizeof(v), v.size);
	EXPECT_EQ(GCH_ABI_VERSION, v.abi_version);
	EXPECT_EQ(GCH_PAGE_SHIFT, v.page_shift);
	EXPECT_EQ(GCH_ARENA_SHIFT, v.arena_shift);
	EXPECT_EQ(GCH_MAX_ARENAS, v.max_arenas);
	EXPECT_EQ(GCH_MMAP_PAGEMAP, v.pagemap_offset);
	EXPECT_EQ(GCH_MMAP_SPANSLOTS, v.spanslot_offset);
	EXPECT_EQ(GCH_MAX_SPAN_PAGES, v.max_span_pages);
	/* The page map and span slots are what this ABI is built on. */
	EXPECT_EQ(GCH_FEAT_PAGEMAP | GCH_FEAT_SPANSLOTS,
		  v.features & (GCH_FEAT_PAGEMAP | GCH_FEAT_SPANSLOTS));
	EXPECT_EQ(0, v.features & ~((GCH_FEAT_SPAN_BATCH << 1) - 1))
		TH_LOG("unknown feature bits %#llx", (unsigned long long)v.features);
	ASSERT_EQ(0, gch_stats(self->fd, &st));
	EXPECT_EQ(v.heap_id, st.heap_id);
	EXPECT_EQ(1, st.arenas);
	EXPECT_EQ(GCH_ARENA_SIZE, st.mapped_bytes);
	EXPECT_EQ(GCH_PAGES_PER_ARENA, st.free_pages);
	TH_LOG("abi %u features %#llx heap_id %llu", v.abi_version,
	       (unsigned long long)v.features, (unsigned long long)v.heap_id);
}

TEST_F(ioc, heap_ids_differ)
{
	struct gch_version a, b;
	int fd2 = gch_open();

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, gch_version(self->fd, &a));
	ASSERT_EQ(0, gch_version(fd2, &b));
	EXPECT_NE(a.heap_id, b.heap_id);
	close(fd2);
}

TEST_F(ioc, valid_calls_succeed)
{
	char buf[BUF_SIZE];

	for (int i = 0; i < self->ndescs; i++) {
		const struct ioc_desc *d = self->descs[i];

		fill(self, d, buf);
		EXPECT_EQ(0, call(self, d, buf))
			TH_LOG("%s", d->name);
	}
}

TEST_F(ioc, unknown_ioctl_enotty)
{
	static const unsigned long bad[] = {
		_IO(GCH_IOC_MAGIC, 0),
		_IO(GCH_IOC_MAGIC, GCH_CMD_VERSION - 1),
		_IO(GCH_IOC_MAGIC, GCH_CMD_DIRTY + 1),
		_IO(GCH_IOC_MAGIC, 0xff),
		_IO(GCH_IOC_MAGIC + 1, GCH_CMD_VERSION),
		_IO('T', GCH_CMD_VERSION),
		/* The numbers encode no size and no direction: these differ. */
		_IOWR(GCH_IOC_MAGIC, GCH_CMD_VERSION, struct gch_version),
		_IOR(GCH_IOC_MAGIC, GCH_CMD_STATS, struct gch_stats),
		_IOW(GCH_IOC_MAGIC, GCH_CMD_SPAN_ALLOC, struct gch_span_alloc),
		TCGETS,
	};
	struct gch_stats before, after;
	char buf[BUF_SIZE];

	ASSERT_EQ(0, gch_stats(self->fd, &before));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fill(self, &descs[0], buf);
		EXPECT_EQ(-ENOTTY, gch_ioctl(self->fd, bad[i], buf))
			TH_LOG("cmd %#lx", bad[i]);
	}
	if (!self->gc_phase) {
		struct gch_gc_phase g = { .size = sizeof(g),
					  .phase = GCH_GC_MARK_START };

		EXPECT_EQ(-ENOTTY, gch_ioctl(self->fd, GCH_IOC_GC_PHASE, &g))
			TH_LOG("GC_PHASE without GCH_FEAT_GC_PHASE");
	}
	ASSERT_EQ(0, gch_stats(self->fd, &after));
	EXPECT_HEAP_UNCHANGED(&before, &after);
}

/*
 * The size of a struct's first published version: anything shorter is
 * refused.  gch_stats grew released_memcg_bytes after heap_goal,
 * gch_gc_phase the pause fields after its heap_goal, and gch_span_alloc the
 * batch fields after its reserved; a caller built against
 * the first version must keep working.
 */
static __u32 first_size(const struct ioc_desc *d)
{
	if (d->cmd == GCH_IOC_STATS)
		return offsetof(struct gch_stats, heap_goal) + 8;
	if (d->cmd == GCH_IOC_GC_PHASE)
		return offsetof(struct gch_gc_phase, heap_goal) + 8;
	if (d->cmd == GCH_IOC_SPAN_ALLOC)	/* batch fields came later */
		return offsetof(struct gch_span_alloc, reserved) + 8;
	return d->size;
}

TEST_F(ioc, short_size_einval)
{
	char buf[BUF_SIZE];

	for (int i = 0; i < self->ndescs; i++) {
		const struct ioc_desc *d = self->descs[i];
		const __u32 v1 = first_size(d);
		const __u32 sizes[] = { 0, 4, 8, v1 - 8, v1 - 1 };
		struct gch_stats before, after;

		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			fill(self, d, buf);
			ASSERT_EQ(0, gch_stats(self->fd, &before));
			((__u32 *)buf)[0] = sizes[j];
			EXPECT_EQ(-EINVAL, call(self, d, buf))
				TH_LOG("%s size %u", d->name, sizes[j]);
			ASSERT_EQ(0, gch_stats(self->fd, &after));
			EXPECT_HEAP_UNCHANGED(&before, &after);
		}
	}
}

TEST_F(ioc, long_size_zero_tail_ok)
{
	char buf[BUF_SIZE];

	for (int i = 0; i < self->ndescs; i++) {
		const struct ioc_desc *d = self->descs[i];
		const __u32 sizes[] = { d->size + 1, d->size + 8, d->size + 64 };

		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			fill(self, d, buf);
			((__u32 *)buf)[0] = sizes[j];
			EXPECT_EQ(0, call(self, d, buf))
				TH_LOG("%s size %u", d->name, sizes[j]);
			/* Write-back is min(size, sizeof): the tail stays 0. */
			for (__u32 k = d->size; k < sizes[j]; k++) {
				ASSERT_EQ(0, buf[k])
					TH_LOG("%s wrote tail byte %u", d->name, k);
			}
		}
	}
}

TEST_F(ioc, writeback_stays_inside_size)
{
	char buf[BUF_SIZE];

	for (int i = 0; i < self->ndescs; i++) {
		const struct ioc_desc *d = self->descs[i];

		fill(self, d, buf);
		memset(buf + d->size, 0xa5, 64);
		EXPECT_EQ(0, call(self, d, buf)) TH_LOG("%s", d->name);
		for (__u32 k = d->size; k < d->size + 64; k++) {
			ASSERT_EQ((char)0xa5, buf[k])
				TH_LOG("%s wrote byte %u past size", d->name, k);
		}
		/* size is written back as what the caller passed, not changed */
		EXPECT_EQ(d->size, ((__u32 *)buf)[0]) TH_LOG("%s", d->name);
	}
}

TEST_F(ioc, nonzero_tail_e2big)
{
	char buf[BUF_SIZE];

	for (int i = 0; i < self->ndescs; i++) {
		const struct ioc_desc *d = self->descs[i];
		const __u32 sizes[] = { d->size + 1, d->size + 8, d->size + 64,
					BUF_SIZE };

		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			struct gch_stats before, after;

			fill(self, d, buf);
			((__u32 *)buf)[0] = sizes[j];
			buf[sizes[j] - 1] = 1;
			ASSERT_EQ(0, gch_stats(self->fd, &before));
			EXPECT_EQ(-E2BIG, call(self, d, buf))
				TH_LOG("%s size %u", d->name, sizes[j]);
			ASSERT_EQ(0, gch_stats(self->fd, &after));
			EXPECT_HEAP_UNCHANGED(&before, &after);
		}
		/* the first tail byte counts too */
		fill(self, d, buf);
		((__u32 *)buf)[0] = d->size + 16;
		buf[d->size] = 0x80;
		EXPECT_EQ(-E2BIG, call(self, d, buf))
			TH_LOG("%s first tail byte", d->name);
	}
}

TEST_F(ioc, unknown_flags_einval)
{
	char buf[BUF_SIZE];

	for (int i = 0; i < self->ndescs; i++) {
		const struct ioc_desc *d = self->descs[i];

		for (int bit = 0; bit < 32; bit++) {
			struct gch_stats before, after;

			if (d->known_flags & (1U << bit))
				continue;
			fill(self, d, buf);
			((__u32 *)buf)[1] |= 1U << bit;
			ASSERT_EQ(0, gch_stats(self->fd, &before));
			EXPECT_EQ(-EINVAL, call(self, d, buf))
				TH_LOG("%s flag bit %d", d->name, bit);
			ASSERT_EQ(0, gch_stats(self->fd, &after));
			EXPECT_HEAP_UNCHANGED(&before, &after);
		}
	}
}

TEST_F(ioc, reserved_nonzero_einval)
{
	char buf[BUF_SIZE];

	for (int i = 0; i < self->ndescs; i++) {
		const struct ioc_desc *d = self->descs[i];

		if (d->reserved_off < 0)
			continue;
		for (int byte = 0; byte < d->reserved_len; byte++) {
			struct gch_stats before, after;

			fill(self, d, buf);
			buf[d->reserved_off + byte] = 0x40;
			ASSERT_EQ(0, gch_stats(self->fd, &before));
			EXPECT_EQ(-EINVAL, call(self, d, buf))
				TH_LOG("%s reserved byte %d", d->name, byte);
			ASSERT_EQ(0, gch_stats(self->fd, &after));
			EXPECT_HEAP_UNCHANGED(&before, &after);
		}
	}
}

TEST_F(ioc, output_fields_ignored_on_input)
{
	struct gch_span_alloc a = { .size = sizeof(a), .npages = 1,
				    .out_flags = ~0U, .page = ~0ULL };
	struct gch_version v;
	struct gch_stats s;
	struct gch_scavenge sc = { .size = sizeof(sc), .released_bytes = ~0ULL };
	struct gch_limits l = { .hard_pages = 12345, .soft_bytes = 1,
				.goal_bytes = 2 };

	memset(&v, 0xff, sizeof(v));
	v.size = sizeof(v);
	v.flags = 0;
	EXPECT_EQ(0, gch_ioctl(self->fd, GCH_IOC_VERSION, &v));
	EXPECT_EQ(GCH_ABI_VERSION, v.abi_version);

	memset(&s, 0xff, sizeof(s));
	s.size = sizeof(s);
	s.flags = 0;
	EXPECT_EQ(0, gch_ioctl(self->fd, GCH_IOC_STATS, &s));
	EXPECT_EQ(v.heap_id, s.heap_id);
	EXPECT_EQ(0, s.spans);

	EXPECT_EQ(0, gch_ioctl(self->fd, GCH_IOC_SPAN_ALLOC, &a));
	EXPECT_EQ(0, a.page);
	EXPECT_EQ(GCH_SPAN_ZEROED, a.out_flags);

	EXPECT_EQ(0, gch_ioctl(self->fd, GCH_IOC_SCAVENGE, &sc));
	EXPECT_EQ(0, sc.released_bytes);

	/* flags 0 only reads: the values passed in are ignored */
	EXPECT_EQ(0, gch_limits(self->fd, 0, &l));
	EXPECT_EQ(0, l.hard_pages);
	ASSERT_EQ(0, gch_stats(self->fd, &s));
	EXPECT_EQ(0, s.hard_limit_pages);
}

/* A 3-page area: RW | PROT_NONE | read-only. */
static char *fault_area(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	mprotect(p + pg, pg, PROT_NONE);
	return p;
}

TEST_F(ioc, bad_struct_pointer_efault)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *area = fault_area();
	char buf[BUF_SIZE];

	ASSERT_NE(NULL, area);
	for (int i = 0; i < self->ndescs; i++) {
		const struct ioc_desc *d = self->descs[i];
		struct gch_stats before, after;
		char *straddle = area + pg - 8;

		ASSERT_EQ(0, gch_stats(self->fd, &before));
		EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, d->cmd, NULL))
			TH_LOG("%s NULL", d->name);
		EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, d->cmd, area + pg))
			TH_LOG("%s PROT_NONE", d->name);
		EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, d->cmd,
					     (void *)(uintptr_t)-4096L))
			TH_LOG("%s kernel address", d->name);
		/* size and flags readable, the rest not */
		fill(self, d, buf);
		memcpy(straddle, buf, 8);
		EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, d->cmd, straddle))
			TH_LOG("%s straddling a hole", d->name);
		ASSERT_EQ(0, gch_stats(self->fd, &after));
		if (d->cmd != GCH_IOC_SPAN_FREE) /* its filler allocates */
			EXPECT_HEAP_UNCHANGED(&before, &after);
	}
	munmap(area, 3 * pg);
}

TEST_F(ioc, readonly_struct_efault)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *area = fault_area();
	char *ro = area + 2 * pg;
	char buf[BUF_SIZE];
	__u64 page;

	ASSERT_NE(NULL, area);
	for (int i = 0; i < self->ndescs; i++) {
		const struct ioc_desc *d = self->descs[i];
		struct gch_stats before, after;

		if (!d->has_output)
			continue;
		fill(self, d, buf);
		mprotect(ro, pg, PROT_READ | PROT_WRITE);
		memcpy(ro, buf, d->size);
		mprotect(ro, pg, PROT_READ);
		ASSERT_EQ(0, gch_stats(self->fd, &before));
		EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, d->cmd, ro))
			TH_LOG("%s in read-only memory", d->name);
		ASSERT_EQ(0, gch_stats(self->fd, &after));
		/* A span the caller never learned of must not stay allocated. */
		EXPECT_HEAP_UNCHANGED(&before, &after);
	}
	ASSERT_EQ(0, gch_alloc(self->fd, 1, &page, NULL));
	EXPECT_EQ(0, page);
	munmap(area, 3 * pg);
}

TEST_F(ioc, bad_spans_pointer_efault)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *area = fault_area();
	struct gch_span_ref *refs;
	struct gch_stats before, after;
	__u64 p0, p1;

	ASSERT_NE(NULL, area);
	ASSERT_EQ(0, gch_alloc(self->fd, 1, &p0, NULL));
	ASSERT_EQ(0, gch_alloc(self->fd, 1, &p1, NULL));
	/* first entry readable, second in the hole */
	refs = (struct gch_span_ref *)(area + pg) - 1;
	refs[0] = (struct gch_span_ref){ .page = (__u32)p0, .npages = 1 };
	ASSERT_EQ(0, gch_stats(self->fd, &before));
	EXPECT_EQ(-EFAULT, gch_free(self->fd, NULL, 1));
	EXPECT_EQ(-EFAULT, gch_free(self->fd, (void *)(area + pg), 1));
	EXPECT_EQ(-EFAULT, gch_free(self->fd, (void *)(uintptr_t)-4096L, 1));
	EXPECT_EQ(-EFAULT, gch_free(self->fd, refs, 2));
	ASSERT_EQ(0, gch_stats(self->fd, &after));
	EXPECT_HEAP_UNCHANGED(&before, &after);
	/* nothing was freed: both spans still free exactly once */
	EXPECT_EQ(0, gch_free1(self->fd, p0, 1));
	EXPECT_EQ(0, gch_free1(self->fd, p1, 1));
	munmap(area, 3 * pg);
}

TEST_F(ioc, bad_values_einval)
{
	static const __u32 npages[] = { 0, GCH_MAX_SPAN_PAGES + 1, 1U << 31,
					~0U };
	static const __u32 counts[] = { 0, GCH_SPAN_FREE_MAX + 1, 1U << 31, ~0U };
	struct gch_span_ref refs[2];
	struct gch_stats before, after;
	__u64 page;

	ASSERT_EQ(0, gch_alloc(self->fd, 1, &page, NULL));
	refs[0] = (struct gch_span_ref){ .page = (__u32)page, .npages = 1 };
	refs[1] = refs[0];
	ASSERT_EQ(0, gch_stats(self->fd, &before));
	for (size_t i = 0; i < sizeof(npages) / sizeof(npages[0]); i++) {
		EXPECT_EQ(-EINVAL, gch_alloc(self->fd, npages[i], NULL, NULL))
			TH_LOG("npages %u", npages[i]);
	}
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		EXPECT_EQ(-EINVAL, gch_free(self->fd, refs, counts[i]))
			TH_LOG("count %u", counts[i]);
	}
	if (self->gc_phase) {
		static const __u32 phases[] = { 0, GCH_GC_SWEEP_END + 1, ~0U };

		for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
			struct gch_gc_phase g = { .size = sizeof(g),
						  .phase = phases[i] };

			EXPECT_EQ(-EINVAL, gch_ioctl(self->fd, GCH_IOC_GC_PHASE,
						     &g))
				TH_LOG("phase %u", phases[i]);
		}
	}
	ASSERT_EQ(0, gch_stats(self->fd, &after));
	EXPECT_HEAP_UNCHANGED(&before, &after);
	EXPECT_EQ(0, gch_free1(self->fd, page, 1));
}

/*
 * Arguments may live in the heap's own mappings: in free or unpopulated heap
 * pages (the copy faults them in, which must not deadlock against the
 * allocator), in the span being freed, in the read-only page map, or over
 * page-map entries of an arena that does not exist (the read faults).
 */
TEST_F(ioc, args_in_heap_memory)
{
	volatile const __u64 *pm = gch_map_pagemap(self->fd);
	char *a = self->arena;
	struct gch_span_alloc *sa;
	struct gch_span_free *sf;
	struct gch_span_ref *ref;
	struct gch_stats *st;
	__u64 span;

	ASSERT_NE(NULL, pm);
	/* in a free, never touched page */
	sa = (void *)(a + 100 * GCH_PAGE_SIZE);
	*sa = (struct gch_span_alloc){ .size = sizeof(*sa), .npages = 4 };
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_SPAN_ALLOC, sa));
	span = sa->page;
	EXPECT_EQ(0, span);
	/* in the span's own unpopulated last page */
	sa = (void *)(a + (span + 3) * GCH_PAGE_SIZE + 64);
	*sa = (struct gch_span_alloc){ .size = sizeof(*sa), .npages = 1 };
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_SPAN_ALLOC, sa));
	EXPECT_EQ(4, sa->page);
	/* the batch names the span it lives in */
	ref = (void *)(a + span * GCH_PAGE_SIZE + 256);
	*ref = (struct gch_span_ref){ (__u32)span, 4 };
	sf = (void *)(a + span * GCH_PAGE_SIZE);
	*sf = (struct gch_span_free){ .size = sizeof(*sf), .count = 1,
				      .spans = (__u64)(uintptr_t)ref };
	EXPECT_EQ(0, gch_ioctl(self->fd, GCH_IOC_SPAN_FREE, sf));
	EXPECT_EQ(0, pm[span]);
	/* stats into the freed span */
	st = (void *)(a + (span + 1) * GCH_PAGE_SIZE);
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	ASSERT_EQ(0, gch_ioctl(self->fd, GCH_IOC_STATS, st));
	EXPECT_EQ(1, st->spans);
	/* in the page map, a free page's entry reads as size 0 */
	EXPECT_EQ(-EINVAL, gch_ioctl(self->fd, GCH_IOC_VERSION,
				     (void *)(uintptr_t)(pm + 200)));
	/* over the entries of arena 5, which does not exist */
	EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, GCH_IOC_SPAN_ALLOC,
				     (void *)(uintptr_t)(pm + 5 * GCH_PAGES_PER_ARENA)));
	/* and the heap still works */
	EXPECT_EQ(0, gch_alloc(self->fd, 4, &span, NULL));
	EXPECT_EQ(0, span);
	munmap((void *)pm, GCH_PAGEMAP_SIZE);
}

TEST(alloc_without_arena_enomem)
{
	struct gch_stats st;
	int fd = gch_open();

	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOMEM, gch_alloc(fd, 1, NULL, NULL));
	ASSERT_EQ(0, gch_stats(fd, &st));
	EXPECT_EQ(0, st.arenas);
	EXPECT_EQ(0, st.spans);
	EXPECT_EQ(0, st.limit_hits);
	close(fd);
}

TEST(open_many_heaps)
{
	int fds[64];
	struct gch_version v;

	for (int i = 0; i < 64; i++) {
		fds[i] = gch_open();
		ASSERT_LE(0, fds[i]);
	}
	for (int i = 0; i < 64; i++) {
		EXPECT_EQ(0, gch_version(fds[i], &v));
		close(fds[i]);
	}
}

TEST_HARNESS_MAIN

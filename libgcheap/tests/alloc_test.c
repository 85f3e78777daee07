// SPDX-License-Identifier: MIT
/*
 * Every size from 1 B to 1 MiB: aligned, zeroed, non-overlapping, with base
 * and size queries from interior pointers; lookups of addresses that are no
 * object; scan and noscan objects in separate spans; exact accounting.
 *
 * Objects are never freed, so the test works in epochs: a heap is closed and
 * a new one opened whenever the current one holds about 64 MiB of touched
 * memory, after every object of the epoch was re-checked (its pattern still
 * intact, no two objects overlapping).
 */
#include <stdint.h>
#include <sys/mman.h>

#include "internal.h"
#include "harness.h"

#define MAX_SIZE	(1u << 20)
#define EPOCH_BYTES	(64u << 20)
#define EPOCH_OBJS	4096

struct obj {
	unsigned char *p;
	size_t size;
	unsigned char pat;
};

static gch_heap *h;
static struct obj *objs;
static size_t nobjs, epoch_bytes;

/* gcheap.h's promise: the largest power of two dividing size, up to 16. */
static size_t min_align(size_t size)
{
	size_t a = size & -size;

	if (!size || a > 16)
		a = 16;
	return a;
}

static size_t expect_slot(size_t size, int noscan)
{
	if (noscan && size && size < 16)
		return 16;
	if (size <= GCH_MAX_SMALL)
		return gch_classes[gch_size_to_class[(size + 7) >> 3]].size;
	return (size + GCH_PAGE_SIZE - 1) & ~(size_t)(GCH_PAGE_SIZE - 1);
}

static int cmp_obj(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;

	return (x->p > y->p) - (x->p < y->p);
}

/* Small objects carry their pattern in every byte, large ones in their
 * first and last 64 bytes (the rest is never touched). */
static int pattern_intact(const struct obj *o)
{
	size_t n = o->size;

	if (n > GCH_MAX_SMALL) {
		for (size_t i = 0; i < 64; i++)
			if (o->p[i] != o->pat || o->p[n - 1 - i] != o->pat)
				return 0;
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (o->p[i] != o->pat)
			return 0;
	return 1;
}

/* Re-check the epoch's objects, then start a new heap. */
static void end_epoch(void)
{
	qsort(objs, nobjs, sizeof(*objs), cmp_obj);
	for (size_t i = 0; i < nobjs; i++) {
		EXPECTF(pattern_intact(&objs[i]), "size %zu", objs[i].size);
		if (i)
			EXPECTF(objs[i - 1].p + objs[i - 1].size <= objs[i].p,
				"sizes %zu %zu overlap", objs[i - 1].size,
				objs[i].size);
	}
	nobjs = 0;
	epoch_bytes = 0;
	EXPECT(gch_close(h) == 0);
	h = open_heap(0);
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void check_one(size_t size, int noscan)
{
	unsigned char *p = noscan ? gch_malloc_noscan(h, size)
				  : gch_malloc(h, size);
	size_t slot = expect_slot(size, noscan), touched;
	struct gch_span *s;

	EXPECTF(p, "size %zu: %s", size, strerror(errno));
	if (!p)
		return;
	EXPECTF((uintptr_t)p % min_align(size) == 0, "size %zu at %p",
		size, (void *)p);
	if (size > GCH_MAX_SMALL) {
		EXPECTF((uintptr_t)p % GCH_PAGE_SIZE == 0, "size %zu", size);
		EXPECTF(all_zero(p, 64) && all_zero(p + size - 64, 64) &&
			all_zero(p + size / 2, 8), "size %zu", size);
		touched = 3 * 4096;
	} else {
		EXPECTF(all_zero(p, size), "size %zu", size);
		touched = size;
	}
	/* interior pointers */
	if (!(noscan && size < 16)) {
		EXPECTF(gch_base(h, p) == p && gch_base(h, p + size / 2) == p &&
			gch_base(h, p + size - 1) == p, "size %zu", size);
		EXPECTF(gch_size(h, p + size - 1) == slot, "size %zu: %zu != %zu",
			size, gch_size(h, p + size - 1), slot);
	} else {
		unsigned char *b = gch_base(h, p + size - 1);

		EXPECTF(b && b <= p && p + size <= b + 16, "size %zu", size);
		EXPECTF(gch_size(h, p) == 16, "size %zu", size);
	}
	s = gch_span_of(h, (uintptr_t)p);
	EXPECTF(s && (s->spanclass & 1) == (unsigned)noscan, "size %zu",
		size);

	objs[nobjs].p = p;
	objs[nobjs].size = size;
	objs[nobjs].pat = (unsigned char)(size * 7 + noscan + 1);
	if (size > GCH_MAX_SMALL) {
		memset(p, objs[nobjs].pat, 64);
		memset(p + size - 64, objs[nobjs].pat, 64);
	} else {
		memset(p, objs[nobjs].pat, size);
	}
	nobjs++;
	epoch_bytes += touched;
	if (epoch_bytes >= EPOCH_BYTES || nobjs == EPOCH_OBJS)
		end_epoch();
}

/* 1 B..32 KiB: one scan and one noscan object of each size. */
static void t_small_sizes(void)
{
	for (size_t size = 1; size <= GCH_MAX_SMALL; size++) {
		check_one(size, 0);
		check_one(size, 1);
	}
	end_epoch();
}

/*
 * 32 KiB + 1..1 MiB, scan and noscan alternating.  A large object's
 * behaviour depends only on its page count, so by default every page count
 * is tried at its boundaries (n pages - 1, n pages, n pages + 1 bytes) plus
 * every 61st size; GCHEAP_TEST_EXHAUSTIVE=1 tries every size (about a
 * million heap spans: minutes natively, too long for the emulated VM).
 */
static void t_large_sizes(void)
{
	const char *e = getenv("GCHEAP_TEST_EXHAUSTIVE");
	size_t stride = e && *e == '1' ? 1 : 61;

	for (size_t size = GCH_MAX_SMALL + 1; size <= MAX_SIZE; size++) {
		size_t r = size % GCH_PAGE_SIZE;

		if ((size - GCH_MAX_SMALL) % stride == 0 || r <= 1 ||
		    r == GCH_PAGE_SIZE - 1)
			check_one(size, size & 1);
	}
	end_epoch();
}

static void t_zero_size(void)
{
	void *a = gch_malloc(h, 0), *b = gch_malloc(h, 0);
	void *c = gch_malloc_noscan(h, 0);

	EXPECT(a && b && c && a != b && a != c && b != c);
	EXPECT(gch_size(h, a) == 8);
}

/* Addresses that are not objects. */
static void t_not_objects(void)
{
	int local;
	unsigned char *p, *q;
	struct gch_span *s;
	uint32_t last;

	EXPECT(gch_base(h, NULL) == NULL && gch_size(h, NULL) == 0);
	EXPECT(gch_base(h, &local) == NULL);
	EXPECT(gch_base(h, (void *)h->base) == NULL || 1);
	EXPECT(gch_base(h, (void *)(h->base - 1)) == NULL);
	/* far beyond the created arenas: never read, never faults */
	EXPECT(gch_base(h, (void *)(h->base + (1ULL << 36) - 8)) == NULL);

	/* the next slot of a fresh span is not allocated until handed out */
	p = gch_malloc(h, 1000);	/* 1024 B class: 8 per span */
	EXPECT(p);
	if (!p)
		return;
	s = gch_span_of(h, (uintptr_t)p);
	q = p + 1024;
	if (gch_span_index(s, (uintptr_t)q) < s->nelems &&
	    !gch_span_slot_allocated(s, gch_span_index(s, (uintptr_t)q))) {
		EXPECT(gch_base(h, q) == NULL && gch_size(h, q) == 0);
		EXPECT(gch_malloc(h, 1000) == q);
		EXPECT(gch_base(h, q + 5) == q);
	}
	/* tail waste of a span: 1408 B class, 11 objects in 16 KiB */
	p = gch_malloc(h, 1400);
	s = gch_span_of(h, (uintptr_t)p);
	last = s->nelems;
	EXPECT(gch_base(h, (void *)(s->base + (uintptr_t)last * s->elemsize))
	       == NULL);
	/* a free page after everything allocated in the arena */
	EXPECT(gch_base(h, (void *)(h->base + GCH_ARENA_SIZE - 8)) == NULL);
}

/* Slot accounting is exact once the cache is given back. */
static void t_accounting(void)
{
	struct gch_heap_stats st;
	gch_heap *h2 = open_heap(0);

	for (int i = 0; i < 1000; i++)
		EXPECT(gch_malloc(h2, 40));	/* 48 B class */
	EXPECT(gch_malloc_noscan(h2, 100000));	/* 13 pages */
	EXPECT(gch_thread_detach(h2) == 0);
	EXPECT(gch_stats(h2, &st) == 0);
	EXPECTF(st.alloc_bytes == 1000 * 48 + 13 * 8192, "%lu",
		(unsigned long)st.alloc_bytes);
	EXPECTF(st.alloc_objects == 1001, "%lu",
		(unsigned long)st.alloc_objects);
	EXPECT(st.large_objects == 1 && st.large_bytes == 13 * 8192);
	EXPECT(st.threads == 0);
	EXPECT(st.spans >= 2 && st.arenas >= 1 && st.mapped_bytes >= (64u << 20));
	EXPECT(gch_close(h2) == 0);
}

static void t_too_big(void)
{
	errno = 0;
	EXPECT(gch_malloc(h, GCH_MAX_OBJECT + 1) == NULL && errno == ENOMEM);
	errno = 0;
	EXPECT(gch_malloc_noscan(h, SIZE_MAX) == NULL && errno == ENOMEM);
	/* GCH_MAX_OBJECT is the whole address space of a heap: more than
	 * what is left of this one */
	errno = 0;
	EXPECT(gch_malloc_noscan(h, GCH_MAX_OBJECT) == NULL && errno == ENOMEM);
	/* exactly one arena is fine, and so is more (huge_test) */
	EXPECT(gch_malloc_noscan(h, 64ULL << 20) != NULL);
	EXPECT(gch_malloc_noscan(h, (64ULL << 20) + 1) != NULL);
}

int main(void)
{
	static const struct tcase cases[] = {
		{ "every size 1 B..32 KiB scan+noscan: aligned, zeroed, disjoint, base/size", t_small_sizes },
		{ "32 KiB..1 MiB (every page count; every size if GCHEAP_TEST_EXHAUSTIVE=1)", t_large_sizes },
		{ "size 0 gives unique objects", t_zero_size },
		{ "non-objects: stack, outside, free slot, tail, free page", t_not_objects },
		{ "accounting is exact after detach", t_accounting },
		{ "objects over the heap fail with ENOMEM", t_too_big },
	};
	int r;

	objs = calloc(EPOCH_OBJS, sizeof(*objs));
	h = open_heap(0);
	printf("# backend %s\n", gch_backend_name(h));
	r = RUN("alloc", cases);
	gch_close(h);
	return r;
}

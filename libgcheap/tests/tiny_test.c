// SPDX-License-Identifier: MIT
/*
 * The tiny allocator: noscan objects under 16 B share 16 B blocks, aligned
 * to their natural alignment, zeroed, disjoint; blocks come from the 16 B
 * noscan class and only noscan allocations use them.
 */
#include "internal.h"
#include "harness.h"

static gch_heap *h;

/* Sixteen 1 B objects fill exactly one block. */
static void t_packing(void)
{
	unsigned char *first, *p;

	gch_thread_detach(h);		/* start from an empty tiny block */
	first = gch_malloc_noscan(h, 1);
	EXPECT(first && gch_base(h, first) == first);
	for (int i = 1; i < 16; i++) {
		p = gch_malloc_noscan(h, 1);
		EXPECTF(p == first + i, "i %d", i);
	}
	p = gch_malloc_noscan(h, 1);
	EXPECT(p && gch_base(h, p) == p && p != first);
	EXPECT(gch_size(h, first + 3) == 16);
}

/* Alignment is the lowest set bit of the size; 8 B objects pair up. */
static void t_alignment(void)
{
	for (size_t size = 1; size < 16; size++) {
		for (int i = 0; i < 40; i++) {
			unsigned char *p = gch_malloc_noscan(h, size);
			size_t a = size & -size;

			EXPECTF(p && (uintptr_t)p % a == 0, "size %zu", size);
			EXPECTF(p && (uintptr_t)p / 16 ==
				(uintptr_t)(p + size - 1) / 16,
				"size %zu crosses a block", size);
		}
	}
	gch_thread_detach(h);
	{
		unsigned char *a = gch_malloc_noscan(h, 8);
		unsigned char *b = gch_malloc_noscan(h, 8);

		EXPECT(b == a + 8);
	}
}

/* Mixed sizes: zeroed, disjoint, 16 B blocks from the noscan 16 B class. */
static void t_disjoint(void)
{
	enum { N = 20000 };
	static unsigned char *ptr[N];
	static unsigned char len[N];
	struct gch_heap_stats st0, st1;
	unsigned seed = 1;
	size_t bytes = 0;

	gch_thread_detach(h);
	gch_stats(h, &st0);
	for (int i = 0; i < N; i++) {
		size_t size;

		seed = seed * 1103515245 + 12345;
		size = 1 + (seed >> 16) % 15;
		ptr[i] = gch_malloc_noscan(h, size);
		len[i] = (unsigned char)size;
		bytes += size;
		for (size_t j = 0; j < size; j++)
			EXPECTF(ptr[i][j] == 0, "i %d", i);
		memset(ptr[i], i % 251 + 1, size);
		{
			struct gch_span *s = gch_span_of(h, (uintptr_t)ptr[i]);

			EXPECT(s && s->spanclass ==
			       gch_spanclass(GCH_TINY_CLASS, 1));
		}
	}
	for (int i = 0; i < N; i++)
		for (size_t j = 0; j < len[i]; j++)
			EXPECTF(ptr[i][j] == i % 251 + 1, "i %d", i);
	gch_thread_detach(h);
	gch_stats(h, &st1);
	/* packing: far fewer 16 B blocks than objects */
	EXPECTF((st1.alloc_objects - st0.alloc_objects) * 16 < bytes * 2,
		"%lu blocks for %zu bytes",
		(unsigned long)(st1.alloc_objects - st0.alloc_objects), bytes);
}

/* Scan allocations never use the tiny blocks. */
static void t_scan_not_tiny(void)
{
	unsigned char *a = gch_malloc(h, 1), *b = gch_malloc(h, 1);
	struct gch_span *s = gch_span_of(h, (uintptr_t)a);

	EXPECT(a && b && gch_base(h, a) == a && gch_base(h, b) == b);
	EXPECT(s && s->spanclass == gch_spanclass(1, 0));
	EXPECT(gch_size(h, a) == 8);
}

int main(void)
{
	static const struct tcase cases[] = {
		{ "16 one-byte objects pack into one block", t_packing },
		{ "natural alignment, never crossing a block", t_alignment },
		{ "mixed tiny sizes zeroed and disjoint, packed", t_disjoint },
		{ "scan objects are not tiny", t_scan_not_tiny },
	};
	int r;

	h = open_heap(0);
	printf("# backend %s\n", gch_backend_name(h));
	r = RUN("tiny", cases);
	gch_close(h);
	return r;
}

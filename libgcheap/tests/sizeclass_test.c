// SPDX-License-Identifier: MIT
/*
 * Size-class table invariants: Go's 67 classes, span sizes, waste bounds,
 * the size -> class table, and the divide-by-multiply index.
 */
#include "internal.h"
#include "harness.h"

static void t_table_shape(void)
{
	EXPECT(GCH_NUM_CLASSES - 1 == 67);
	EXPECT(gch_classes[1].size == 8);
	EXPECT(gch_classes[67].size == GCH_MAX_SMALL);
	for (unsigned c = 1; c < GCH_NUM_CLASSES; c++) {
		const struct gch_class *k = &gch_classes[c];
		size_t span = (size_t)k->npages * GCH_PAGE_SIZE;

		EXPECTF(k->size % 8 == 0, "class %u", c);
		EXPECTF(c == 1 || k->size > gch_classes[c - 1].size,
			"class %u", c);
		/* every class from 16 B up but Go's 24 B one is a multiple of
		 * 16: its slots are 16 B aligned (alloc_test checks objects) */
		EXPECTF(k->size < 16 || k->size == 24 || k->size % 16 == 0,
			"class %u", c);
		EXPECTF(k->npages >= 1 && k->npages <= 10, "class %u", c);
		EXPECTF(k->nelems >= 1 && k->nelems <= GCH_MAX_SPAN_OBJS,
			"class %u", c);
		EXPECTF(k->nelems == span / k->size, "class %u", c);
	}
}

/* Go's bounds: the tail after the last object is at most 1/8 of the span;
 * the worst waste (objects one byte over the previous class, plus tail)
 * is under 87.5% (8 B class), and under 20% from 80 B up. */
static void t_waste(void)
{
	for (unsigned c = 1; c < GCH_NUM_CLASSES; c++) {
		const struct gch_class *k = &gch_classes[c];
		size_t span = (size_t)k->npages * GCH_PAGE_SIZE;
		size_t tail = span - (size_t)k->nelems * k->size;
		size_t prev = gch_classes[c - 1].size;
		double maxw = (double)((k->size - prev - 1) * k->nelems + tail) /
			      (double)span;

		EXPECTF(tail * 8 <= span, "class %u tail %zu", c, tail);
		EXPECTF(maxw <= 0.875, "class %u %.3f", c, maxw);
		EXPECTF(k->size < 80 || maxw < 0.20, "class %u %.3f", c, maxw);
	}
	/* spot checks against Go's published table */
	EXPECT(gch_classes[3].nelems == 341);
	EXPECT(gch_classes[35].size == 1408 && gch_classes[35].npages == 2);
	EXPECT(gch_classes[60].size == 18432 && gch_classes[60].npages == 9);
	EXPECT(gch_classes[65].nelems == 3);
}

/* Every size maps to the smallest class that holds it (17..24 B to Go's
 * 24 B class, whose 8 B alignment is all a 24 B object can need). */
static void t_lookup(void)
{
	EXPECT(gch_size_to_class[0] == 1);
	for (size_t size = 1; size <= GCH_MAX_SMALL; size++) {
		unsigned c = gch_size_to_class[(size + 7) >> 3];
		unsigned below = c - 1;

		EXPECTF(c >= 1 && c < GCH_NUM_CLASSES, "size %zu", size);
		EXPECTF(gch_classes[c].size >= size, "size %zu", size);
		EXPECTF(c == 1 || gch_classes[below].size < size,
			"size %zu -> %u", size, c);
	}
	EXPECT(gch_classes[gch_size_to_class[3]].size == 24);
	EXPECT(gch_classes[gch_size_to_class[2]].size == 16);
	EXPECT(gch_classes[gch_size_to_class[4]].size == 32);
}

/* (off * divmul) >> 32 == off / size for every offset of every span. */
static void t_divmagic(void)
{
	for (unsigned c = 1; c < GCH_NUM_CLASSES; c++) {
		const struct gch_class *k = &gch_classes[c];
		uint64_t span = (uint64_t)k->npages * GCH_PAGE_SIZE;

		for (uint64_t off = 0; off < span; off++) {
			uint32_t q = (uint32_t)((off * k->divmul) >> 32);

			if (q != off / k->size) {
				EXPECTF(0, "class %u off %lu", c,
					(unsigned long)off);
				break;
			}
		}
	}
}

int main(void)
{
	static const struct tcase cases[] = {
		{ "table shape: 67 classes, 8 B..32 KiB, span sizes", t_table_shape },
		{ "waste bounds (tail <= 1/8, max waste)", t_waste },
		{ "size -> class lookup for 0..32768", t_lookup },
		{ "divide-by-multiply object index", t_divmagic },
	};

	gch_sizeclass_init();
	return RUN("sizeclass", cases);
}

// SPDX-License-Identifier: MIT
/*
 * Size classes: Go's 67 classes (runtime/sizeclasses.go), kept as facts: the
 * object size and the pages per span of each.  Everything else is derived
 * here: objects per span, the divide-by-multiply constant, and the size to
 * class lookup table.
 *
 * Go picks the classes so that the worst waste of a span (every object one
 * byte over the previous class, plus the tail after the last object) stays
 * near 12.5% (under 20% from 80 B up), and each span size so that the tail
 * is at most 1/8 of the span; tests/sizeclass_test.c checks both bounds.
 *
 * Alignment: an object of n bytes is aligned to the largest power of two
 * dividing n, up to 16 B -- what any C object of n bytes can require, for
 * a type's size is a multiple of its alignment (C23's rule for malloc,
 * from DR 445: aligned for any object that fits in the request).  Slots
 * sit at multiples of their class size from an 8 KiB boundary, and every
 * class is a multiple of 16 but the 8 B and 24 B ones, so every class
 * keeps that promise for every request it serves: sizes 17..24 take Go's
 * 24 B class, 8 B aligned, as Go's do.  (They took the 32 B class until
 * 2026-12: a third more memory for every 24 B object, the big heap's keys
 * among them, and the whole of its peak RSS over Go's.)
 *
 * Lookup is one load: gch_size_to_class[(size + 7) / 8] for sizes up to
 * 32 KiB (4 KiB of uint8_t).  Go splits the table in two (8 B steps up to
 * 1 KiB, 128 B steps beyond) to save space; one table avoids a branch in the
 * fast path, and it is exact because every class size is a multiple of 8.
 *
 * Object index from an offset: off / size == (off * divmul) >> 32 with
 * divmul = 2^32 / size rounded up, exact for every offset inside a span of
 * its class (checked by the test for every object of every class).
 */
#include <assert.h>
#include <pthread.h>

#include "internal.h"

#define C(sz, np) { (sz), (np), (np) * GCH_PAGE_SIZE / (sz), \
		    (uint32_t)(0xffffffffU / (sz) + 1) }

const struct gch_class gch_classes[GCH_NUM_CLASSES] = {
	{ 0, 0, 0, 0 },		/* class 0: large objects, own span */
	C(8, 1), C(16, 1), C(24, 1), C(32, 1),
	C(48, 1), C(64, 1), C(80, 1), C(96, 1),
	C(112, 1), C(128, 1), C(144, 1), C(160, 1),
	C(176, 1), C(192, 1), C(208, 1), C(224, 1),
	C(240, 1), C(256, 1), C(288, 1), C(320, 1),
	C(352, 1), C(384, 1), C(416, 1), C(448, 1),
	C(480, 1), C(512, 1), C(576, 1), C(640, 1),
	C(704, 1), C(768, 1), C(896, 1), C(1024, 1),
	C(1152, 1), C(1280, 1), C(1408, 2), C(1536, 1),
	C(1792, 2), C(2048, 1), C(2304, 2), C(2688, 1),
	C(3072, 3), C(3200, 2), C(3456, 3), C(4096, 1),
	C(4864, 3), C(5376, 2), C(6144, 3), C(6528, 4),
	C(6784, 5), C(6912, 6), C(8192, 1), C(9472, 7),
	C(9728, 6), C(10240, 5), C(10880, 4), C(12288, 3),
	C(13568, 5), C(14336, 7), C(16384, 2), C(18432, 9),
	C(19072, 7), C(20480, 5), C(21760, 8), C(24576, 3),
	C(27264, 10), C(28672, 7), C(32768, 4),
};

uint8_t gch_size_to_class[GCH_MAX_SMALL / 8 + 1];

static pthread_once_t sizeclass_once = PTHREAD_ONCE_INIT;

/* Entry i serves sizes 8i-7..8i: the smallest class of at least 8i bytes
 * (entry 0, size 0, gets the 8 B class so gch_malloc(0) is an object). */
static void sizeclass_build(void)
{
	unsigned cls = 1;

	assert(gch_classes[GCH_CLASS_16B].size == 16 &&
	       gch_classes[GCH_CLASS_24B].size == 24 &&
	       gch_classes[GCH_CLASS_32B].size == 32 &&
	       gch_classes[GCH_CLASS_64B].size == 64);
	for (unsigned i = 0; i <= GCH_MAX_SMALL / 8; i++) {
		while (gch_classes[cls].size < i * 8)
			cls++;
		gch_size_to_class[i] = (uint8_t)cls;
	}
}

void gch_sizeclass_init(void)
{
	pthread_once(&sizeclass_once, sizeclass_build);
}

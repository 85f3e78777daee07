// SPDX-License-Identifier: MIT
/*
 * static_roots.c - GC_add_roots and GC_remove_roots.
 *
 * Maps onto gch_add_roots (conservative: every aligned word of the range)
 * and gch_remove_roots (every range lying wholly inside the given one is
 * forgotten: bdwgc's rule).  bdwgc's data segments need no call: GC_init
 * registers them (init.c).  bdwgc aborts when it cannot record a root
 * range ("Too many root sets"); so does this, since going on would let
 * the collector free objects the range references.
 * Locking: libgcheap's roots lock.
 */
#include <stdio.h>
#include <stdlib.h>

#include "compat.h"

void GC_add_roots(void *lo, void *hi)
{
	compat_heap();		/* bdwgc initialises here too */
	if ((char *)hi <= (char *)lo)
		return;
	if (gch_add_roots(lo, (size_t)((char *)hi - (char *)lo), NULL)) {
		fprintf(stderr, "GC Error: GC_add_roots(%p, %p): cannot record"
			" the range\n", lo, hi);
		abort();
	}
}

void GC_remove_roots(void *lo, void *hi)
{
	if ((char *)hi > (char *)lo)
		gch_remove_roots(lo, (size_t)((char *)hi - (char *)lo));
}

// SPDX-License-Identifier: MIT
/*
 * compat_core.h - the glue between libgc.so.1 and libgcheap's internals
 * (core_glue.c).  Kept apart from compat.h so that <gc.h> and libgcheap's
 * internal headers never meet in one translation unit.
 */
#ifndef GCHEAP_COMPAT_CORE_H
#define GCHEAP_COMPAT_CORE_H

#include <stdbool.h>
#include "gcheap.h"

/* Latch the stop-the-world collector for this process (before gch_open). */
void compat_force_stw(void);
/* True once the latch holds (the tests check it). */
bool compat_mode_is_stw(void);
/* Whether the object starting at @p was allocated noscan. */
bool compat_is_noscan(gch_heap *h, const void *p);

/* gch_set_finalizer() in one of bdwgc's orders (finalize.c). */
enum compat_fin_order {
	COMPAT_FIN_ORDERED,	/* GC_register_finalizer */
	COMPAT_FIN_NO_ORDER,	/* GC_register_finalizer_no_order */
	COMPAT_FIN_IGNORE_SELF,	/* GC_register_finalizer_ignore_self */
};
int compat_set_finalizer(gch_heap *h, void *obj, gch_finalizer_fn fn,
			 void *arg, enum compat_fin_order order);

/* libgcheap's weak slots, for disappearing links (links.c); return values
 * as gc_wslot_register/_unregister/_move in gc_internal.h. */
int compat_link_register(gch_heap *h, void **link, const void *obj);
bool compat_link_unregister(gch_heap *h, void **link);
int compat_link_move(gch_heap *h, void **link, void **new_link);

#endif

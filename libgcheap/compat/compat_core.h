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

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * Instantiates the gcheap tracepoints declared in gcheap_trace.h.  This is
 * the one translation unit that defines CREATE_TRACE_POINTS; every other
 * file only includes the header to fire them.
 */
#define CREATE_TRACE_POINTS
#include "gcheap_trace.h"

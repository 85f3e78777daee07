// SPDX-License-Identifier: MIT
/*
 * compat.h - what the files of libgc.so.1 (bdwgc's ABI over libgcheap)
 * share.
 *
 * The library is compiled against Debian's own <gc.h> (libgc-dev), never a
 * copy, so every definition here is checked against bdwgc 8.2.2's
 * prototypes.  Objects are built with -fvisibility=hidden; <gc.h> is
 * included inside "visibility push(default)", so a function is exported
 * only if gc.h declares it, and libgc.map (the version script) narrows
 * the exports to exactly the GC_ names implemented.  libgcheap is linked
 * in statically and none of its names leave the library.
 *
 * One heap: every GC_ call works on a single gch_heap, opened on first use
 * (compat_heap()), as bdwgc has one heap per process.
 */
#ifndef GCHEAP_COMPAT_H
#define GCHEAP_COMPAT_H

#define GC_THREADS		/* declare the thread entry points */
#define GC_NO_THREAD_REDIRECTS	/* ...without renaming pthread_create here */
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#pragma GCC visibility push(default)
#include <gc.h>
#include <gc/gc_mark.h>	/* the kinds' and callbacks' part of the ABI */
#pragma GCC visibility pop
#include "gcheap.h"

/* The process's heap; opened (GC_init) on first need.  Never NULL: a heap
 * that cannot be opened aborts, as bdwgc aborts when it cannot get its
 * first heap section. */
gch_heap *compat_heap(void);

/* The heap, or NULL before GC_init ran: for queries that must not open it. */
gch_heap *compat_heap_if_open(void);

/* A message through the warn proc (GC_set_warn_proc), bdwgc-style: @msg is
 * a printf format with at most one conversion of an unsigned long (@arg). */
void compat_warn(const char *msg, GC_word arg);

/*
 * bdwgc's granules: its objects are whole 16 B granules, 16 B aligned,
 * and clients may count on it (tag bits, SSE copies).  libgcheap alone
 * gives sizes up to 24 B less (8 B objects, 24 B ones 8 B aligned), so
 * every client-sized request is rounded here first (saturating: a request
 * too big still fails).
 */
static inline size_t compat_granules(size_t n)
{
	if (n > SIZE_MAX - 15)
		return SIZE_MAX;	/* fails as too big, never wraps */
	return n <= 16 ? 16 : (n + 15) & ~(size_t)15;
}

/* Pending finalizers run on the allocating thread, as bdwgc runs them:
 * one relaxed load when none is pending. */
extern atomic_int compat_fin_pending;
void compat_fin_run_pending(void);
static inline void compat_fin_poll(void)
{
	if (atomic_load_explicit(&compat_fin_pending, memory_order_relaxed))
		compat_fin_run_pending();
}

/* Uncollectable objects: a set of pointers the collector scans as a root
 * (uncollectable.c).  add: 0 or -1 (ENOMEM); del: true if it was there. */
int compat_uncoll_add(void *p);
bool compat_uncoll_del(void *p);
bool compat_uncoll_has(const void *p);

#include "compat_core.h"	/* compat_force_nobarrier(), compat_is_noscan() */

/* The oom fn's answer to a failed allocation of @bytes (malloc.c). */
void *compat_oom(size_t bytes);
/*
 * bdwgc's allocation policy, for every allocator of the library: pending
 * finalizers run first, a failed try collects once (unless collections
 * are disabled) and tries again, then the oom fn answers.  @try_fn makes
 * one try at an object of the @n bytes the program asked for, as @arg
 * says (malloc.c).
 */
typedef void *(*compat_try_fn)(gch_heap *h, size_t n, const void *arg);
void *compat_alloc_retry(compat_try_fn try_fn, size_t n, const void *arg);
/* 1, or 0 when the program turned all-interior-pointers off before
 * GC_init: the byte every object gets past its end (malloc.c). */
size_t compat_extra_bytes(void);
void compat_latch_extra_bytes(void);	/* at GC_init */
/* GC_set_max_heap_size's limit (0: none), init.c. */
GC_word compat_max_heap(void);

/* Initialisation steps of the other files, called once from GC_init. */
int compat_fin_init(void);
int compat_uncoll_init(void);
void compat_thread_init(void);

#endif

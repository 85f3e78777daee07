// SPDX-License-Identifier: MIT
/*
 * kinds.c - bdwgc's object kinds and mark procedures (gc_mark.h,
 * gc_inline.h): GC_new_kind, GC_new_proc, GC_new_free_list,
 * GC_generic_malloc(_ignore_off_page), GC_generic_malloc_many and
 * GC_mark_and_push, as language runtimes (Guile) use them.
 *
 * Kinds 0-3 are bdwgc's predefined ones (PTRFREE, NORMAL, UNCOLLECTABLE,
 * AUNCOLLECTABLE) and map onto malloc.c's allocators.  A kind made by
 * GC_new_kind is a mark descriptor template, applied per object:
 *   GC_DS_LENGTH   the first <length> bytes (plus the object's size when
 *                  add_size) hold pointers: a conservative object, or a
 *                  typed one whose layout is those words;
 *   GC_DS_BITMAP   a typed object, the bitmap's words (msb = word 0);
 *   GC_DS_PROC     an object libgcheap's collector scans by calling back
 *                  here (gch_malloc_proc, scan hook in core_glue.c): the
 *                  kind's mark procedure runs with the object's address
 *                  and the descriptor's env, and what it passes to
 *                  GC_mark_and_push is marked;
 *   GC_DS_PER_OBJECT  scanned conservatively, every word (a superset of
 *                  any layout the object names: nothing is lost).
 * Kinds' objects are zeroed whatever clear_new_objects says.  The free
 * list GC_new_kind takes is never used: libgcheap keeps its own (bdwgc's
 * inline allocation, gc_inline.h, keeps thread-local lists filled by
 * GC_generic_malloc_many, which work here).
 *
 * GC_mark_and_push marks through the thread's current mark work, set for
 * the duration of a procedure's call; struct GC_ms_entry is opaque to
 * programs (gc_mark.h), so a procedure pushes nothing itself and the mark
 * stack pointer it gets back is the one it passed.  A procedure that
 * returns another one has pushed entries of bdwgc's internal layout,
 * which cannot be honoured: that aborts with a message.
 *
 * Locking: kinds_lock serialises registration; the tables are only
 * appended to, and an index is returned after its entry is written
 * (release), so readers take no lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#pragma GCC visibility push(default)
#include <gc/gc_inline.h>	/* GC_generic_malloc_many */
#pragma GCC visibility pop

#define PREDEFINED_KINDS	4	/* PTRFREE, NORMAL, (A)UNCOLLECTABLE */
#define MAX_KINDS		16	/* bdwgc's MAXOBJKINDS */
#define FREE_LIST_SLOTS		(128 + 1)	/* bdwgc: MAXOBJGRANULES + 1 */
#define MARK_STACK_SLOTS	64
#define MANY_BYTES		4096	/* about a page per GC_generic_malloc_many */
#define MANY_MAX		256

struct kind {
	GC_word descr;
	bool add_size;
};

static pthread_mutex_t kinds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kind kinds[MAX_KINDS];
static _Atomic unsigned nkinds = PREDEFINED_KINDS;
static GC_mark_proc procs[GC_MAX_MARK_PROCS];
static _Atomic unsigned nprocs;

static __attribute__((noreturn)) void kinds_abort(const char *msg)
{
	fprintf(stderr, "GC Error: libgc.so.1 (gcheap): %s\n", msg);
	abort();
}

void **GC_new_free_list(void)
{
	return calloc(FREE_LIST_SLOTS, sizeof(void *));
}

unsigned GC_new_kind(void **free_list, GC_word descr, int add_size,
		     int clear)
{
	unsigned k;

	(void)free_list;
	(void)clear;		/* objects are always zeroed */
	pthread_mutex_lock(&kinds_lock);
	k = atomic_load(&nkinds);
	if (k == MAX_KINDS)
		kinds_abort("GC_new_kind: too many kinds");
	kinds[k] = (struct kind){ .descr = descr, .add_size = add_size != 0 };
	atomic_store_explicit(&nkinds, k + 1, memory_order_release);
	pthread_mutex_unlock(&kinds_lock);
	return k;
}

unsigned GC_new_proc(GC_mark_proc proc)
{
	unsigned i;

	/* bdwgc runs them with the world stopped: so do we from now on */
	compat_procs_stw();
	pthread_mutex_lock(&kinds_lock);
	i = atomic_load(&nprocs);
	if (i == GC_MAX_MARK_PROCS)
		kinds_abort("GC_new_proc: too many mark procedures");
	procs[i] = proc;
	atomic_store_explicit(&nprocs, i + 1, memory_order_release);
	pthread_mutex_unlock(&kinds_lock);
	return i;
}

static const struct kind *kind_of(int k)
{
	if (k < PREDEFINED_KINDS ||
	    (unsigned)k >= atomic_load_explicit(&nkinds, memory_order_acquire))
		kinds_abort("GC_generic_malloc: no such kind");
	return &kinds[k];
}

/* GC_DS_BITMAP's words (msb = word 0) as libgcheap's pointer map. */
static uint64_t bitmap_map(GC_word descr, size_t *nwords)
{
	uint64_t map = 0;
	size_t n = 0;

	for (int b = 63; b >= GC_DS_TAG_BITS; b--, n++)
		if ((descr >> b) & 1) {
			map |= 1ULL << n;
			*nwords = n + 1;
		}
	return map;
}

/* One try at an object of custom kind @k, @n bytes in all (before
 * rounding to granules: a descriptor that adds the object's size adds
 * bdwgc's, which is whole granules). */
static void *custom_try(gch_heap *h, const struct kind *k, size_t n)
{
	GC_word d = k->descr, len;
	uint64_t map[4] = { 0 };
	size_t nwords = 0;

	n = compat_granules(n);
	switch (d & GC_DS_TAGS) {
	case GC_DS_LENGTH:	/* the first len bytes hold pointers */
		len = d + (k->add_size ? n : 0);
		nwords = (n + 7) / 8;	/* the layout covers the whole object */
		if (len >= n || nwords > 4 * 64)
			return gch_malloc(h, n);	/* conservative: superset */
		if (len < 8)
			return gch_malloc_noscan(h, n);
		for (size_t i = 0; i < len / 8; i++)
			map[i / 64] |= 1ULL << (i % 64);
		return gch_malloc_typed(h, n, map, nwords);
	case GC_DS_BITMAP:
		map[0] = bitmap_map(d, &nwords);
		if (!nwords)
			return gch_malloc_noscan(h, n);
		if ((n + 7) / 8 > 64)
			return gch_malloc(h, n);	/* conservative: superset */
		return gch_malloc_typed(h, n, map, (n + 7) / 8);
	case GC_DS_PROC:
		return compat_malloc_proc(h, n, d);
	default:	/* GC_DS_PER_OBJECT */
		return gch_malloc(h, n);
	}
}

/* compat_alloc_retry()'s try: @lb bytes asked, plus the extra byte. */
static void *custom_try_asked(gch_heap *h, size_t lb, const void *k)
{
	return custom_try(h, k, lb + compat_extra_bytes());
}

void *GC_generic_malloc(size_t lb, int k)
{
	switch (k) {
	case 0:
		return GC_malloc_atomic(lb);
	case 1:
		return GC_malloc(lb);
	case 2:
		return GC_malloc_uncollectable(lb);
	case 3:
		return GC_malloc_atomic_uncollectable(lb);
	}
	if (lb > SIZE_MAX - 16)
		return compat_oom(lb);
	return compat_alloc_retry(custom_try_asked, lb, kind_of(k));
}

/* Every interior pointer counts here (malloc.c): the hint changes nothing. */
void *GC_generic_malloc_ignore_off_page(size_t lb, int k)
{
	return GC_generic_malloc(lb, k);
}

/* One object of exactly @lb bytes (no extra byte: gc_inline.h's sizes are
 * whole granules) of kind @k, or NULL. */
static void *many_one(gch_heap *h, size_t lb, int k)
{
	switch (k) {
	case 0:
	case 3:
		return gch_malloc_noscan(h, compat_granules(lb));
	case 1:
	case 2:
		return gch_malloc(h, compat_granules(lb));
	}
	return custom_try(h, kind_of(k), lb);
}

/*
 * Several objects of @lb bytes, linked through their first word, the list
 * in *@result (NULL when none could be had).  The objects are allocated
 * (the caller must keep the list reachable: for pointer-free kinds the
 * links are not traced, gc_inline.h's rule); until they are linked and
 * stored in *@result they sit in a local array on this stack, which the
 * collector scans, so a collection meanwhile loses none.  Uncollectable
 * kinds get collectable objects: bdwgc does not hand those out in bulk.
 */
void GC_generic_malloc_many(size_t lb, int k, void **result)
{
	gch_heap *h = compat_heap();
	void *objs[MANY_MAX];
	size_t n = 0, want;

	if (lb == 0)
		lb = 16;
	want = MANY_BYTES / lb;
	want = want < 1 ? 1 : want > MANY_MAX ? MANY_MAX : want;
	compat_fin_poll();
	/* the built-in kinds (many_one's 0-3) in bulk, then one at a time */
	if (k >= 0 && k <= 3)
		n = compat_malloc_many(h, compat_granules(lb), k == 0 || k == 3,
				       objs, want);
	while (n < want && (objs[n] = many_one(h, lb, k)))
		n++;
	if (!n && !GC_is_disabled()) {
		gch_gc(h);
		n = (objs[0] = many_one(h, lb, k)) != NULL;
	}
	for (size_t i = 0; i + 1 < n; i++)
		*(void **)objs[i] = objs[i + 1];
	*result = n ? objs[0] : NULL;
	__asm__ volatile("" : : "r"(objs) : "memory");	/* live until here */
}

/* ---- marking ----------------------------------------------------------- */

/* The mark work of this thread while a procedure runs (compat_proc_scan). */
static __thread void *cur_work;

/*
 * bdwgc's contract: mark @obj if it is an object and push its contents;
 * here it is marked through the collector's own work, gray until scanned.
 * Outside a mark procedure's call there is nothing to mark with.
 */
struct GC_ms_entry *GC_mark_and_push(void *obj, struct GC_ms_entry *msp,
				     struct GC_ms_entry *msl, void **src)
{
	(void)msl;
	(void)src;
	if (cur_work)
		compat_mark_ptr(cur_work, (uintptr_t)obj);
	return msp;
}

/* The collector's hook for GC_DS_PROC objects (core_glue.c). */
void compat_proc_scan(void *work, uintptr_t base, uint64_t descr)
{
	struct GC_ms_entry stack[MARK_STACK_SLOTS];
	unsigned idx = (unsigned)(descr >> GC_DS_TAG_BITS) &
		       (GC_MAX_MARK_PROCS - 1);
	GC_word env = descr >> (GC_DS_TAG_BITS + GC_LOG_MAX_MARK_PROCS);
	void *saved = cur_work;
	struct GC_ms_entry *top;

	if (idx >= atomic_load_explicit(&nprocs, memory_order_acquire))
		kinds_abort("object with an unregistered mark procedure");
	cur_work = work;
	top = procs[idx]((GC_word *)base, stack, stack + MARK_STACK_SLOTS,
			 env);
	cur_work = saved;
	if (top != stack)
		kinds_abort("a mark procedure pushed mark stack entries itself;"
			    " only GC_mark_and_push is supported");
}

// SPDX-License-Identifier: MIT
/*
 * malloc.c - bdwgc's malloc family over libgcheap.
 *
 * Maps onto:
 *   GC_malloc, _ignore_off_page            gch_malloc (conservative scan)
 *   GC_malloc_atomic, _ignore_off_page     gch_malloc_noscan
 *   GC_malloc_uncollectable                gch_malloc + the uncollectable set
 *   GC_malloc_atomic_uncollectable         gch_malloc_noscan + the set
 *   GC_free                                the set (uncollectable objects);
 *                                          clearing pointerful objects
 *   GC_realloc                             same kind, bdwgc's in-place rules
 *
 * Invariants:
 *  - every object is one byte longer than asked, as bdwgc's objects are
 *    when all interior pointers are recognised (its default): a pointer
 *    just past the end of an object still points into it.  A program
 *    that turns all-interior-pointers off before GC_init gets no extra
 *    byte, as in bdwgc (Guile does: pairs stay 16 bytes);
 *  - every object is whole 16 B granules, 16 B aligned, as bdwgc's are
 *    (compat_granules); so atomic ones never share libgcheap's 16 B tiny
 *    blocks and GC_base is exact for them;
 *  - an allocation that fails collects once and retries (bdwgc collects
 *    before it gives up), then returns what the oom fn returns.
 * Pending finalizers run at allocation time (compat_fin_poll), as bdwgc
 * runs them.  Locking: none here beyond libgcheap's and the set's own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"

enum kind { K_NORMAL, K_ATOMIC };

static void *GC_CALLBACK default_oom_fn(size_t bytes)
{
	(void)bytes;
	return NULL;	/* bdwgc's default: the allocation returns NULL */
}

static _Atomic(GC_oom_func) oom_fn = default_oom_fn;

void GC_set_oom_fn(GC_oom_func fn)
{
	atomic_store(&oom_fn, fn);
}

GC_oom_func GC_get_oom_fn(void)
{
	return atomic_load(&oom_fn);
}

void *compat_oom(size_t bytes)
{
	return atomic_load(&oom_fn)(bytes);
}

/* Latched when the heap opens (GC_init), as bdwgc fixes EXTRA_BYTES. */
static size_t extra_bytes = 1;
static atomic_int all_interior = 1;

void compat_latch_extra_bytes(void)
{
	extra_bytes = atomic_load(&all_interior) ? 1 : 0;
}

size_t compat_extra_bytes(void)
{
	return extra_bytes;
}

void *compat_alloc_retry(compat_try_fn try_fn, size_t n, const void *arg)
{
	gch_heap *h = compat_heap();
	void *p;

	compat_fin_poll();
	p = try_fn(h, n, arg);
	if (__builtin_expect(!p, 0)) {
		if (!GC_is_disabled()) {
			gch_gc(h);
			p = try_fn(h, n, arg);
		}
		if (!p)
			p = compat_oom(n);
	}
	return p;
}

/* One try at the heap for kind *@arg; NULL on failure. */
static void *raw_alloc(gch_heap *h, size_t n, const void *arg)
{
	if (n >= GCH_MAX_OBJECT)
		return NULL;	/* n + 1 would not fit either */
	n = compat_granules(n + extra_bytes);
	if (*(const enum kind *)arg == K_ATOMIC)
		return gch_malloc_noscan(h, n);
	return gch_malloc(h, n);
}

static void *alloc_kind(enum kind k, size_t n)
{
	return compat_alloc_retry(raw_alloc, n, &k);
}

void *GC_malloc(size_t n)
{
	return alloc_kind(K_NORMAL, n);
}

void *GC_malloc_atomic(size_t n)
{
	return alloc_kind(K_ATOMIC, n);
}

/* A hint that the program keeps a pointer to the start: every interior
 * pointer counts here anyway, so the hint changes nothing. */
void *GC_malloc_ignore_off_page(size_t n)
{
	return alloc_kind(K_NORMAL, n);
}

void *GC_malloc_atomic_ignore_off_page(size_t n)
{
	return alloc_kind(K_ATOMIC, n);
}

static void *alloc_uncollectable(enum kind k, size_t n)
{
	void *p = alloc_kind(k, n);

	/* The oom fn may hand back memory of its own: not ours to track. */
	if (p && gch_base(compat_heap(), p) == p && compat_uncoll_add(p))
		return compat_oom(n);
	return p;
}

void *GC_malloc_uncollectable(size_t n)
{
	return alloc_uncollectable(K_NORMAL, n);
}

void *GC_malloc_atomic_uncollectable(size_t n)
{
	return alloc_uncollectable(K_ATOMIC, n);
}

char *GC_strdup(const char *s)
{
	return s ? GC_strndup(s, strlen(s)) : NULL;
}

char *GC_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = alloc_kind(K_ATOMIC, len + 1);

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/*
 * There is no gch_free: the collector reclaims the object once nothing
 * references it.  An uncollectable object becomes collectable.  A
 * pointerful object is cleared, so that stale references to it (which
 * bdwgc would see reused) do not keep what it pointed to alive.
 */
void GC_free(void *p)
{
	gch_heap *h;

	if (!p)
		return;
	h = compat_heap();
	if (gch_base(h, p) != p) {
		compat_warn("GC Warning: GC_free(0x%lx): not a heap object\n",
			    (GC_word)p);
		return;
	}
	compat_uncoll_del(p);
	if (!compat_is_noscan(h, p))
		memset(p, 0, gch_size(h, p));
}

/* Same kind as @p: atomic or not, uncollectable or not. */
static void *alloc_like(gch_heap *h, void *p, size_t n)
{
	enum kind k = compat_is_noscan(h, p) ? K_ATOMIC : K_NORMAL;

	return compat_uncoll_has(p) ? alloc_uncollectable(k, n) :
				      alloc_kind(k, n);
}

/*
 * bdwgc's rules: NULL reallocates from nothing, size 0 frees; a size that
 * fits and is at least half the object stays in place (its tail cleared);
 * otherwise a new object of the same kind gets the contents and the old
 * one is freed.
 */
void *GC_realloc(void *p, size_t n)
{
	gch_heap *h;
	size_t cap;
	void *q;

	if (!p)
		return GC_malloc(n);
	if (!n) {
		GC_free(p);
		return NULL;
	}
	h = compat_heap();
	if (gch_base(h, p) != p) {
		compat_warn("GC Warning: GC_realloc(0x%lx): not a heap"
			    " object\n", (GC_word)p);
		abort();	/* bdwgc would read a header that is not one */
	}
	cap = gch_size(h, p) - extra_bytes;
	if (n <= cap && n >= cap / 2) {
		memset((char *)p + n, 0, cap + extra_bytes - n);
		return p;
	}
	q = alloc_like(h, p, n);
	if (!q)
		return NULL;	/* the old object stays as it was */
	memcpy(q, p, n < cap ? n : cap);
	GC_free(p);
	return q;
}

void *GC_base(void *p)
{
	gch_heap *h = compat_heap_if_open();

	return h ? gch_base(h, p) : NULL;
}

int GC_is_heap_ptr(const void *p)
{
	gch_heap *h = compat_heap_if_open();

	return h && gch_base(h, p) != NULL;
}

size_t GC_size(const void *p)
{
	gch_heap *h = compat_heap_if_open();

	return h ? gch_size(h, p) : 0;
}

/*
 * bdwgc's pointer check, as its threaded build does it: @p may be a place
 * a pointer is kept if it is word-aligned and not inside the heap's range
 * without being inside an object (a thread stack or the data segment
 * cannot be told apart from other memory cheaply, so those pass).  A
 * failure is reported and aborts, as bdwgc's default print proc does.
 */
void *GC_is_visible(void *p)
{
	gch_heap *h = compat_heap();
	uintptr_t lo, hi, a = (uintptr_t)p;

	compat_heap_range(h, &lo, &hi);
	if ((a & (sizeof(void *) - 1)) ||
	    (a >= lo && a < hi && !gch_base(h, p))) {
		fprintf(stderr, "%p is not a GC visible pointer location\n", p);
		abort();
	}
	return p;
}

/*
 * Interior pointers: libgcheap recognises every pointer into an object,
 * always.  A program that asks bdwgc for fewer (GC_set_all_interior_
 * pointers(0) plus registered displacements) gets a superset of what it
 * asked for: objects are kept at least as long, never freed earlier.  The
 * setting is remembered for the getter and, made before GC_init, drops the
 * extra byte (compat_latch_extra_bytes), as bdwgc's does.
 */

void GC_set_all_interior_pointers(int v)
{
	atomic_store(&all_interior, v != 0);
}

int GC_get_all_interior_pointers(void)
{
	return atomic_load(&all_interior);
}

void GC_register_displacement(size_t offset)
{
	(void)offset;	/* already recognised: any offset counts */
}

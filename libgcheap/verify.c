// SPDX-License-Identifier: MIT
/*
 * verify.c - GCHEAP_GCVERIFY=1: check each concurrent mark for the damage a
 * pointer store that skipped gch_store() does.
 *
 * What is checked: the tri-colour invariant at its end.  At mark
 * termination, with the world stopped and no gray object left, every
 * marked object is scanned again, and so are the registered root ranges,
 * the data segments and the finalizer roots.  An object they point to
 * that is still white would be freed by this cycle while a live object or
 * a global still points at it: a pointer moved between heap objects (or
 * from a global into one) without the barrier -- "B->f = A->f; A->f =
 * NULL" with B already scanned -- or a collector bug.  Each is reported on
 * stderr and the process aborts: a debug mode must not let the program go
 * on into a use-after-free.  (The objects the re-scan marks stay marked.)
 *
 * What is not: references held only in thread stacks and registers.  They
 * are scanned conservatively, and a stack scanned at termination shows
 * dead slots of frames that were not there when the cycle began, holding
 * addresses of objects that were garbage then; a re-scan of stacks would
 * report them.  A pointer that lives only on a stack after an unbarriered
 * overwrite is therefore not caught here.
 *
 * The cost is a scan of the whole live heap in the second pause of every
 * cycle: debugging only.  Called from gc.c with gc_lock, roots.lock and
 * the finalizer lock held.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "gc_internal.h"

bool gc_verify_enabled(void)
{
	static int on = -1;

	if (on < 0) {
		const char *e = getenv("GCHEAP_GCVERIFY");

		on = e && *e == '1';
	}
	return on;
}

/* Call @fn for every span of @h in use (world stopped). */
static void for_each_span(struct gch_heap *h,
			  void (*fn)(struct gch_span *s, void *arg), void *arg)
{
	uint64_t npages = gch_load_acq(&h->mapped_pages), p = 0;

	while (p < npages) {
		uint64_t pme = h->pagemap[p];
		struct gch_span *s;

		if (!pme) {
			p++;
			continue;
		}
		s = (struct gch_span *)(uintptr_t)h->spanslots[GCH_PME_START(pme)];
		if (GCH_PME_START(pme) == p && s && s->state == GCH_SPAN_INUSE)
			fn(s, arg);
		p = GCH_PME_START(pme) + GCH_PME_NPAGES(pme);
	}
}

struct saved {
	struct gch_span *s;
	uint64_t *bits;
	struct saved *next;
};

/* Keep a copy of the span's mark bits: what the cycle marked. */
static void save_span(struct gch_span *s, void *arg)
{
	struct saved **list = arg, *e = malloc(sizeof(*e));
	size_t n = s->bitwords * sizeof(uint64_t);

	e->bits = e ? malloc(n) : NULL;
	if (!e || !e->bits) {
		fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY: out of memory\n");
		abort();
	}
	memcpy(e->bits, s->markbits, n);
	e->s = s;
	e->next = *list;
	*list = e;
}

/* Scan the children of every object the cycle marked (black objects). */
static void rescan(struct saved *list, struct gc_work *w)
{
	for (struct saved *e = list; e; e = e->next) {
		struct gch_span *s = e->s;

		if (s->spanclass & 1)	/* noscan */
			continue;
		for (uint32_t i = 0; i < s->bitwords; i++)
			for (uint64_t b = e->bits[i]; b; b &= b - 1)
				gc_scan_object(w, s->base +
					       (i * 64 + (uint32_t)__builtin_ctzll(b)) *
					       s->elemsize);
	}
}

static void mark_range_cb(uintptr_t lo, uintptr_t hi, const uint64_t *ptrmap,
			  void *arg)
{
	gc_mark_range(arg, lo, hi, ptrmap);
}

/* Report what the re-scan marked that the cycle had left white. */
static uint64_t compare(struct saved *list)
{
	uint64_t missed = 0;

	for (struct saved *e = list, *next; e; e = next) {
		struct gch_span *s = e->s;

		next = e->next;
		for (uint32_t i = 0; i < s->bitwords; i++) {
			for (uint64_t lost = s->markbits[i] & ~e->bits[i]; lost;
			     lost &= lost - 1) {
				uint32_t idx = i * 64 +
					       (uint32_t)__builtin_ctzll(lost);

				if (missed++ < 16)
					fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY: "
						"object %#lx (%lu bytes) is "
						"referenced but was not marked\n",
						(unsigned long)(s->base +
								idx * s->elemsize),
						(unsigned long)s->elemsize);
			}
		}
		free(e->bits);
		free(e);
	}
	return missed;
}

void gc_verify_mark(struct gc_heap *g)
{
	struct saved *list = NULL;
	struct gc_work w;
	uint64_t missed;

	for_each_span(g->h, save_span, &list);
	gc_work_init(&w, g->h);
	rescan(list, &w);
	gc_roots_for_each(mark_range_cb, &w);
	gc_fin_mark_roots(&w);
	gc_mark_parallel(&w, true);
	gc_work_dispose(&w);
	missed = compare(list);
	if (missed) {
		fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY: cycle %llu left "
			"%llu referenced objects white: a pointer was stored "
			"into the heap without gch_store()\n",
			(unsigned long long)g->cycle + 1,
			(unsigned long long)missed);
		abort();
	}
}

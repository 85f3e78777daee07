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

/*
 * The slots allocated when the cycle began (gc_verify_start), so that a
 * report can say whether the referrer and the lost object are old
 * (reachable at the snapshot, the barrier's business) or were allocated
 * while marking (black allocation's).  One cycle marks at a time.
 */
static struct saved *at_start;

static void free_list(struct saved *list)
{
	for (struct saved *e = list, *next; e; e = next) {
		next = e->next;
		free(e->bits);
		free(e);
	}
}

static struct saved *save_new(struct gch_span *s, struct saved **list)
{
	struct saved *e = malloc(sizeof(*e));

	e->bits = e ? calloc(s->bitwords, sizeof(uint64_t)) : NULL;
	if (!e || !e->bits) {
		fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY: out of memory\n");
		abort();
	}
	e->s = s;
	e->next = *list;
	*list = e;
	return e;
}

static void save_allocated(struct gch_span *s, void *arg)
{
	struct saved *e = save_new(s, arg);

	for (uint32_t i = 0; i < s->nelems; i++)
		if (gch_span_slot_allocated(s, i))
			e->bits[i / 64] |= 1ULL << (i % 64);
}

/* Keep a copy of the span's mark bits: what the cycle marked. */
static void save_span(struct gch_span *s, void *arg)
{
	struct saved *e = save_new(s, arg);

	memcpy(e->bits, s->markbits, s->bitwords * sizeof(uint64_t));
}

/* World stopped at mark start: remember which slots are old. */
void gc_verify_start(struct gc_heap *g)
{
	free_list(at_start);
	at_start = NULL;
	for_each_span(g->h, save_allocated, &at_start);
}

/* Whether @p's slot in @s was allocated when the cycle began. */
static const char *age(struct gch_span *s, uint32_t idx)
{
	for (struct saved *e = at_start; e; e = e->next)
		if (e->s == s)
			return (e->bits[idx / 64] >> (idx % 64)) & 1 ?
			       "old" : "new";
	return "new span";
}

/* The first missed objects, sorted, for report_referrers(). */
#define MISSED_KEPT	64
static uintptr_t missed_obj[MISSED_KEPT];
static unsigned nmissed;

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Name the black objects that point at missed ones (up to 16 edges): the
 * referrer's and the target's age say which mechanism failed.
 */
static void report_referrers(struct gch_heap *h, struct saved *list)
{
	unsigned shown = 0;

	qsort(missed_obj, nmissed, sizeof(missed_obj[0]), cmp_addr);
	for (struct saved *e = list; e && shown < 16; e = e->next) {
		struct gch_span *s = e->s;

		if (s->spanclass & 1)
			continue;
		for (uint32_t i = 0; i < s->nelems && shown < 16; i++) {
			uintptr_t r = s->base + i * s->elemsize;

			if (!((e->bits[i / 64] >> (i % 64)) & 1))
				continue;
			for (uintptr_t a = r; a < r + s->elemsize; a += 8) {
				uintptr_t p = *(const uintptr_t *)a;
				struct gch_span *t = gch_span_of(h, p);
				uint32_t j;

				if (!t || t->state != GCH_SPAN_INUSE)
					continue;
				j = gch_span_index(t, p);
				if (j >= t->nelems)
					continue;
				p = t->base + j * t->elemsize;
				if (!bsearch(&p, missed_obj, nmissed,
					     sizeof(p), cmp_addr))
					continue;
				fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY: "
					"%s %lu-byte object %#lx (+%lu) -> %s "
					"%lu-byte object %#lx (span %#lx "
					"incache %u)\n", age(s, i),
					(unsigned long)s->elemsize,
					(unsigned long)r, (unsigned long)(a - r),
					age(t, j), (unsigned long)t->elemsize,
					(unsigned long)p, (unsigned long)t->base,
					(unsigned)t->incache);
				shown++;
			}
		}
	}
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

	nmissed = 0;
	for (struct saved *e = list; e; e = e->next) {
		struct gch_span *s = e->s;

		for (uint32_t i = 0; i < s->bitwords; i++) {
			for (uint64_t lost = s->markbits[i] & ~e->bits[i]; lost;
			     lost &= lost - 1) {
				uint32_t idx = i * 64 +
					       (uint32_t)__builtin_ctzll(lost);

				if (nmissed < MISSED_KEPT)
					missed_obj[nmissed++] = s->base +
								idx * s->elemsize;
				if (missed++ < 16)
					fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY: "
						"%s object %#lx (%lu bytes) is "
						"referenced but was not marked\n",
						age(s, idx),
						(unsigned long)(s->base +
								idx * s->elemsize),
						(unsigned long)s->elemsize);
			}
		}
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
	if (missed)
		report_referrers(g->h, list);
	free_list(list);
	free_list(at_start);
	at_start = NULL;
	if (missed) {
		fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY: cycle %llu left "
			"%llu referenced objects white: a pointer was stored "
			"into the heap without gch_store()\n",
			(unsigned long long)g->cycle + 1,
			(unsigned long long)missed);
		abort();
	}
}

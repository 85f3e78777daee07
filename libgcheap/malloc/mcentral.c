// SPDX-License-Identifier: MIT
/*
 * Central span lists, one per span class (Go's mcentral).
 *
 * partial: spans with free slots that no mcache holds; full: spans without
 * free slots (and every large object's span, in the class-0 centrals, as Go
 * keeps them), so that the sweeper finds all spans through the centrals.
 * Each kind is a pair of sets indexed by sweepgen parity: [sweepgen/2 % 2] is
 * "swept in this cycle", the other "not yet swept".  When the collector
 * advances h->sweepgen by 2, every swept set becomes unswept at once, with no
 * list walk; the sweeper drains the unswept sets.  Until a collection runs
 * nothing is ever unswept and allocation uses the swept sets only.
 *
 * Locking: c->lock protects the four lists and the list links of the spans
 * on them.  A span taken off a list (cached) belongs to its mcache; growing
 * the heap (gch_span_new) happens without c->lock, so two threads may grow
 * one class at once, as in Go.
 */
#include "internal.h"
#include "gc_internal.h"

/*
 * The lists are LIFO stacks, singly linked: pushing and popping touch only
 * the span moved, never a neighbour's metadata (a cold cache line, and one
 * the other end of a refill or sweep may be writing).
 */
void gch_span_list_push(struct gch_span_list *l, struct gch_span *s)
{
	s->next = l->first;
	l->first = s;
	l->count++;
}

struct gch_span *gch_span_list_pop(struct gch_span_list *l)
{
	struct gch_span *s = l->first;

	if (s) {
		l->first = s->next;
		s->next = NULL;
		l->count--;
		/* the next pop reads the new head's link, out of the line
		 * the fast path and the marker keep warm: load it early */
		if (l->first)
			__builtin_prefetch(&l->first->next);
	}
	return s;
}

/*
 * A span with a free slot for an mcache: a swept partial span if there is
 * one, else a new span from the page layer.  NULL (errno ENOMEM) when the
 * page layer is out of pages.  The returned span has incache set.
 */
struct gch_span *gch_mcentral_cache_span(struct gch_heap *h,
					 struct gch_mcentral *c)
{
	uint32_t sg = gch_load(&h->sweepgen);
	struct gch_span_list *l;
	struct gch_span *s;
	unsigned cls = c->spanclass >> 1;

	gch_lock(&c->lock);
	l = gch_partial_swept(c, sg);
	s = gch_span_list_pop(l);
	if (s) {
		s->incache = 1;
		gch_unlock(&c->lock);
		return s;
	}
	gch_unlock(&c->lock);

	/* collector: sweep an unswept span of this class before growing */
	s = gc_sweep_for_cache(h, c);
	if (s) {
		s->incache = 1;
		return s;
	}
	/* and other classes' spans before growing the heap */
	gc_sweep_reclaim(h, gch_classes[cls].npages);
	s = gch_span_new(h, c->spanclass, gch_classes[cls].npages);
	if (!s)
		return NULL;
	s->incache = 1;
	return s;
}

/* The mcache gives @s back: close its window and file it by fullness. */
void gch_mcentral_uncache_span(struct gch_heap *h, struct gch_mcentral *c,
			       struct gch_span *s)
{
	uint32_t sg = gch_load(&h->sweepgen);

	assert(s->incache && s->spanclass == c->spanclass);
	gch_span_close_window(s);
	gch_lock(&c->lock);
	s->incache = 0;
	if (gch_span_full(s))
		gch_span_list_push(gch_full_swept(c, sg), s);
	else
		gch_span_list_push(gch_partial_swept(c, sg), s);
	gch_unlock(&c->lock);
}

/* File a span nobody caches (a large object) among the full swept ones. */
void gch_mcentral_push_full(struct gch_heap *h, struct gch_mcentral *c,
			    struct gch_span *s)
{
	uint32_t sg = gch_load(&h->sweepgen);

	gch_lock(&c->lock);
	gch_span_list_push(gch_full_swept(c, sg), s);
	gch_unlock(&c->lock);
}

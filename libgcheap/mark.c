// SPDX-License-Identifier: MIT
/*
 * mark.c - tri-colour marking.
 *
 * White: mark bit clear.  Gray: mark bit set, object queued in some marker's
 * work buffers.  Black: mark bit set, children scanned.  Invariant at the
 * end of gc_drain(): no gray object is left, so every object reachable from
 * the roots is black and every white object is garbage.
 *
 * Work queues follow Go's gcWork: each marker owns two buffers (cur, alt);
 * pushes and pops go to cur; when cur is full it swaps with alt if alt is
 * empty, otherwise the full buffer is published to the shared pool and an
 * empty one taken; pops fall back to alt and then to the pool.  Buffers live
 * outside the heap (mmap'ed chunks), never freed, recycled through the pool.
 *
 * What counts as a pointer: a word whose value lies inside an allocated
 * object of the heap being collected (interior pointers included).  The
 * span comes from the kernel's page map (gch_span_of), the slot from the
 * span's reciprocal division, "allocated" from the window / alloc bits.
 * Objects are scanned:
 *  - noscan spans: never (pointers stored in noscan objects do not keep
 *    their targets alive -- documented in gcheap.h);
 *  - slots allocated with a pointer layout: only the words whose bit is set
 *    in the span's ptrbits;
 *  - everything else: every aligned word, conservatively.
 *
 * Concurrency: today marking runs with the world stopped, one marker.  Mark
 * bits are set with an atomic OR as soon as markers_concurrent is set, and
 * the pool is locked, so more markers (parallel marking, mutator assists, a
 * write barrier shading into a per-thread gc_work) can be added without
 * touching this file's algorithm.  Locking: pool.lock protects the pool's
 * two lists only.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "gc_internal.h"

#define WBUF_CHUNK	(64 * sizeof(struct gc_wbuf))

static struct {
	pthread_mutex_t lock;
	struct gc_wbuf *full;		/* under lock */
	struct gc_wbuf *empty;		/* under lock */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct gc_wbuf *pool_get_empty(void)
{
	struct gc_wbuf *b;

	pthread_mutex_lock(&pool.lock);
	if (!pool.empty) {
		struct gc_wbuf *chunk = mmap(NULL, WBUF_CHUNK,
					     PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (chunk == MAP_FAILED) {
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
		for (size_t i = 0; i < WBUF_CHUNK / sizeof(*chunk); i++) {
			chunk[i].next = pool.empty;
			pool.empty = &chunk[i];
		}
	}
	b = pool.empty;
	pool.empty = b->next;
	pthread_mutex_unlock(&pool.lock);
	b->n = 0;
	b->next = NULL;
	return b;
}

static void pool_put(struct gc_wbuf *b)
{
	pthread_mutex_lock(&pool.lock);
	if (b->n) {
		b->next = pool.full;
		pool.full = b;
	} else {
		b->next = pool.empty;
		pool.empty = b;
	}
	pthread_mutex_unlock(&pool.lock);
}

static struct gc_wbuf *pool_get_full(void)
{
	struct gc_wbuf *b;

	pthread_mutex_lock(&pool.lock);
	b = pool.full;
	if (b)
		pool.full = b->next;
	pthread_mutex_unlock(&pool.lock);
	return b;
}

void gc_work_init(struct gc_work *w, struct gch_heap *h)
{
	memset(w, 0, sizeof(*w));
	w->h = h;
}

void gc_work_dispose(struct gc_work *w)
{
	if (w->cur)
		pool_put(w->cur);
	if (w->alt)
		pool_put(w->alt);
	w->cur = w->alt = NULL;
}

/*
 * Out of memory for work buffers (mmap failed): mark the object's children
 * recursively instead of queueing it.  Deep recursion is bounded by the
 * stack, so this is a last resort, and the only one: losing a gray object
 * would free a live one.
 */
static void scan_now(struct gc_work *w, uintptr_t obj);

static void work_push_slow(struct gc_work *w, uintptr_t obj)
{
	struct gc_wbuf *b;

	if (w->alt && w->alt->n == 0) {
		b = w->alt;
		w->alt = w->cur;
		w->cur = b;
	} else {
		if (w->cur) {
			if (!w->alt) {
				w->alt = w->cur;
			} else {
				pool_put(w->cur);
			}
		}
		w->cur = pool_get_empty();
		if (!w->cur) {
			scan_now(w, obj);
			return;
		}
	}
	w->cur->obj[w->cur->n++] = obj;
}

static inline void work_push(struct gc_work *w, uintptr_t obj)
{
	struct gc_wbuf *b = w->cur;

	if (__builtin_expect(b && b->n < GC_WBUF_OBJS, 1)) {
		b->obj[b->n++] = obj;
		return;
	}
	work_push_slow(w, obj);
}

static bool work_pop(struct gc_work *w, uintptr_t *obj)
{
	struct gc_wbuf *b = w->cur;

	if (b && b->n) {
		*obj = b->obj[--b->n];
		return true;
	}
	if (w->alt && w->alt->n) {
		w->cur = w->alt;
		w->alt = b;
		*obj = w->cur->obj[--w->cur->n];
		return true;
	}
	b = pool_get_full();
	if (!b)
		return false;
	if (w->cur)
		pool_put(w->cur);
	w->cur = b;
	*obj = b->obj[--b->n];
	return true;
}

/* Is slot @idx of @s allocated?  World stopped, so the window is stable. */
static inline bool slot_allocated(const struct gch_span *s, uint32_t idx)
{
	uint32_t win = s->win_index;

	if (idx < win)
		return true;
	if (idx - win < 64)
		return !((s->cache >> (idx - win)) & 1);
	return (s->allocbits[idx / 64] >> (idx % 64)) & 1;
}

/*
 * More than one marker at a time (parallel marking, assists) needs atomic
 * mark-bit updates; the stop-the-world collector marks alone and saves the
 * locked instruction on every newly marked object.
 */
static bool markers_concurrent;

/* Set the mark bit; true when this call set it. */
static inline bool set_mark(struct gch_span *s, uint32_t idx)
{
	uint64_t *word = &s->markbits[idx / 64];
	uint64_t bit = 1ULL << (idx % 64), old;

	old = __atomic_load_n(word, __ATOMIC_RELAXED);
	if (old & bit)
		return false;
	if (!markers_concurrent) {
		__atomic_store_n(word, old | bit, __ATOMIC_RELAXED);
		return true;
	}
	return !(__atomic_fetch_or(word, bit, __ATOMIC_RELAXED) & bit);
}

/* The allocated object containing @p, or NULL; *idx its slot. */
static inline struct gch_span *find_object(struct gch_heap *h, uintptr_t p,
					   uint32_t *idx)
{
	struct gch_span *s = gch_span_of(h, p);
	uint32_t i;

	if (!s || s->state != GCH_SPAN_INUSE)
		return NULL;
	i = gch_span_index(s, p);
	if (i >= s->nelems || !slot_allocated(s, i))
		return NULL;
	*idx = i;
	return s;
}

void gc_mark_ptr(struct gc_work *w, uintptr_t p)
{
	struct gch_span *s;
	uint32_t idx;

	s = find_object(w->h, p, &idx);
	if (!s || !set_mark(s, idx))
		return;
	w->bytes_marked += s->elemsize;
	w->objs_marked++;
	if (!(s->spanclass & 1))
		work_push(w, s->base + (uintptr_t)idx * s->elemsize);
}

bool gc_mark_only(struct gc_work *w, uintptr_t base)
{
	struct gch_span *s;
	uint32_t idx;

	s = find_object(w->h, base, &idx);
	if (!s || !set_mark(s, idx))
		return false;
	w->bytes_marked += s->elemsize;
	w->objs_marked++;
	return true;
}

bool gc_is_marked(struct gch_heap *h, uintptr_t p)
{
	struct gch_span *s = gch_span_of(h, p);
	uint32_t idx;

	if (!s || s->state != GCH_SPAN_INUSE)
		return false;
	idx = gch_span_index(s, p);
	if (idx >= s->nelems)
		return false;
	return (s->markbits[idx / 64] >> (idx % 64)) & 1;
}

/*
 * A cheap filter before the page-map lookup: the heap is one reservation,
 * so anything outside [base, base + mapped) is not a heap pointer.
 */
static inline bool in_heap(struct gch_heap *h, uintptr_t p, uintptr_t limit)
{
	return p - h->base < limit;
}

static GC_NO_SANITIZE void scan_conservative(struct gc_work *w, uintptr_t lo,
					     uintptr_t hi)
{
	struct gch_heap *h = w->h;
	uintptr_t limit = gch_load_acq(&h->mapped_pages) << GCH_PAGE_SHIFT;

	for (uintptr_t a = lo; a < hi; a += GC_WORD) {
		uintptr_t p = *(const uintptr_t *)a;

		if (in_heap(h, p, limit))
			gc_mark_ptr(w, p);
	}
	w->bytes_scanned += hi - lo;
}

/* Words [lo, hi) where bit (first_bit + i) of @bits marks word i. */
static GC_NO_SANITIZE void scan_bitmap(struct gc_work *w, uintptr_t lo,
				       uintptr_t hi, const uint64_t *bits,
				       size_t first_bit)
{
	struct gch_heap *h = w->h;
	uintptr_t limit = gch_load_acq(&h->mapped_pages) << GCH_PAGE_SHIFT;
	size_t nwords = (hi - lo) / GC_WORD;

	for (size_t i = 0; i < nwords;) {
		size_t b = first_bit + i;
		uint64_t word = bits[b / 64] >> (b % 64);

		if (!word) {
			i += 64 - b % 64;
			continue;
		}
		i += (size_t)__builtin_ctzll(word);
		if (i >= nwords)
			break;
		uintptr_t p = ((const uintptr_t *)lo)[i];

		if (in_heap(h, p, limit))
			gc_mark_ptr(w, p);
		i++;
	}
	w->bytes_scanned += hi - lo;
}

void gc_mark_range(struct gc_work *w, uintptr_t lo, uintptr_t hi,
		   const uint64_t *ptrmap)
{
	if (ptrmap)
		scan_bitmap(w, lo, hi, ptrmap, 0);
	else
		scan_conservative(w, lo, hi);
}

void gc_scan_object(struct gc_work *w, uintptr_t base)
{
	struct gch_span *s = gch_span_of(w->h, base);
	uint32_t idx;

	if (!s || (s->spanclass & 1))
		return;
	idx = gch_span_index(s, base);
	base = s->base + (uintptr_t)idx * s->elemsize;
	if ((s->typedbits[idx / 64] >> (idx % 64)) & 1 && s->ptrbits)
		scan_bitmap(w, base, base + s->elemsize, s->ptrbits,
			    (base - s->base) / GC_WORD);
	else
		scan_conservative(w, base, base + s->elemsize);
}

static void scan_now(struct gc_work *w, uintptr_t obj)
{
	gc_scan_object(w, obj);
}

/*
 * Drain the gray set.  Popped objects pass through a small FIFO before they
 * are scanned, and are prefetched on entry: the work buffers are LIFO, so
 * without it the object scanned next is the one just pushed, whose memory
 * is almost never in cache yet.
 */
#define PREFETCH_RING	16

void gc_drain(struct gc_work *w)
{
	uintptr_t ring[PREFETCH_RING], obj;
	unsigned head = 0, n = 0;

	for (;;) {
		while (n < PREFETCH_RING && work_pop(w, &obj)) {
			__builtin_prefetch((const void *)obj);
			ring[(head + n) % PREFETCH_RING] = obj;
			n++;
		}
		if (!n)
			break;
		obj = ring[head];
		head = (head + 1) % PREFETCH_RING;
		n--;
		gc_scan_object(w, obj);
	}
}

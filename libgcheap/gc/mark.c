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
 * A work-buffer entry is the object's base; an untyped small object's entry
 * also carries its size class in the top byte, so scanning it touches only
 * the object (gray_entry).  The drain keeps the heap geometry and its
 * counters in a local struct mark_view, out of reach of the aliasing that
 * every store into a work buffer would otherwise imply.
 *
 * Parallel marking: with the world stopped, helper threads (one per extra
 * CPU, GCHEAP_MARKERS to change) drain alongside the collecting thread when
 * the heap is large enough; idle markers are fed by balance() splitting a
 * busy marker's buffer into the pool, and marking ends when all are idle
 * with the pool empty.  Mark bits are set with an atomic OR while more than
 * one marker runs (plain store otherwise).  The same pieces -- gc_work per
 * marker, shared pool, atomic shading -- are what a concurrent collector's
 * background markers, mutator assists and write barrier need.
 *
 * Locking: pool.lock protects the pool's two lists only.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "gc_internal.h"

#define WBUF_CHUNK	(64 * sizeof(struct gc_wbuf))

static struct {
	pthread_mutex_t lock;
	struct gc_wbuf *full;		/* under lock */
	struct gc_wbuf *empty;		/* under lock */
	/* under lock: never used buffers of the newest chunk, in order (so
	 * that a chunk's pages are touched only as its buffers are needed) */
	struct gc_wbuf *fresh, *fresh_end;
	_Atomic size_t nfull;		/* written under lock, read racily */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * Parallel marking state (see gc_mark_parallel): markers taking part in
 * the current drain and how many of them are idle, looking for work.
 */
static unsigned nmarkers = 1;
static _Atomic unsigned nidle;
/*
 * Threads that want gray work during a concurrent mark and found the pool
 * empty: mutators that reached the heap goal (assist.c).  While there are
 * any, a draining marker shares half of its buffer as an idle parallel
 * marker would get it.
 */
static _Atomic unsigned hungry;

void gc_work_hungry(bool on)
{
	if (on)
		atomic_fetch_add_explicit(&hungry, 1, memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(&hungry, 1, memory_order_relaxed);
}

static struct gc_wbuf *pool_get_empty(void)
{
	struct gc_wbuf *b;

	pthread_mutex_lock(&pool.lock);
	if (!pool.empty && pool.fresh == pool.fresh_end) {
		struct gc_wbuf *chunk = mmap(NULL, WBUF_CHUNK,
					     PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (chunk == MAP_FAILED) {
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
		pool.fresh = chunk;
		pool.fresh_end = chunk + WBUF_CHUNK / sizeof(*chunk);
	}
	if (pool.empty) {
		b = pool.empty;
		pool.empty = b->next;
	} else {
		b = pool.fresh++;
	}
	pthread_mutex_unlock(&pool.lock);
	b->n = 0;
	b->next = NULL;
	return b;
}

/*
 * Publish @b (or recycle it, empty).  A buffer that fits into the last one
 * published is copied there: barrier flushes (up to GC_WB_ENTRIES each) and
 * assists publish a few entries at a time, and while the background worker
 * rests they piled up one 8 KiB buffer each -- 187 buffers, 1.5 MiB, for
 * the big-heap benchmark's churn at host scale.
 */
static void pool_put(struct gc_wbuf *b)
{
	struct gc_wbuf *f;

	pthread_mutex_lock(&pool.lock);
	f = pool.full;
	if (b->n && f && f->n + b->n <= GC_WBUF_OBJS) {
		memcpy(f->obj + f->n, b->obj, b->n * sizeof(b->obj[0]));
		f->n += b->n;
		b->n = 0;
	}
	if (b->n) {
		b->next = pool.full;
		pool.full = b;
		atomic_fetch_add_explicit(&pool.nfull, 1, memory_order_release);
	} else {
		b->next = pool.empty;
		pool.empty = b;
	}
	pthread_mutex_unlock(&pool.lock);
}

static struct gc_wbuf *pool_get_full(void)
{
	struct gc_wbuf *b;

	if (!atomic_load_explicit(&pool.nfull, memory_order_acquire))
		return NULL;
	pthread_mutex_lock(&pool.lock);
	b = pool.full;
	if (b) {
		pool.full = b->next;
		atomic_fetch_sub_explicit(&pool.nfull, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&pool.lock);
	return b;
}

void gc_work_init(struct gc_work *w, struct gch_heap *h)
{
	memset(w, 0, sizeof(*w));
	w->h = h;
	w->heap_base = h->base;
	w->heap_limit = gch_load_acq(&h->mapped_pages) << GCH_PAGE_SHIFT;
	w->spanslots = h->spanslots;
}

/*
 * Take in the arenas mapped since gc_work_init(w).  Marking may leave them
 * out (everything in them was allocated since the cycle began: black), but
 * a rescan of dirty pages may not: without a barrier, the objects on a new
 * arena's pages hold pointers no scan has seen (dirtyscan.c).
 */
void gc_work_extend(struct gc_work *w)
{
	uintptr_t limit = gch_load_acq(&w->h->mapped_pages) << GCH_PAGE_SHIFT;

	if (limit > w->heap_limit)
		w->heap_limit = limit;
}

/* Hand w's gray buffers to the pool, where assists can take them. */
void gc_work_publish(struct gc_work *w)
{
	if (w->cur && w->cur->n) {
		pool_put(w->cur);
		w->cur = NULL;
	}
	if (w->alt && w->alt->n) {
		pool_put(w->alt);
		w->alt = NULL;
	}
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

/*
 * What the per-word marking reads and counts, copied out of the gc_work
 * into a local for the length of a drain or a scan: the compiler must
 * assume that every store into a work buffer may change fields reached
 * through the gc_work pointer, so these would otherwise be reloaded and
 * stored back around every push.
 */
struct mark_view {
	uintptr_t heap_base, heap_limit;
	const uint64_t *spanslots;
	uint64_t bytes_marked, bytes_scanned;
};

static inline void view_init(struct mark_view *v, const struct gc_work *w)
{
	v->heap_base = w->heap_base;
	v->heap_limit = w->heap_limit;
	v->spanslots = w->spanslots;
	v->bytes_marked = v->bytes_scanned = 0;
}

static inline void view_flush(struct mark_view *v, struct gc_work *w)
{
	w->bytes_marked += v->bytes_marked;
	w->bytes_scanned += v->bytes_scanned;
	v->bytes_marked = v->bytes_scanned = 0;
}

/*
 * The span holding @p, or NULL: gch_span_of with the geometry cached in the
 * view (arenas mapped since are left out until gc_work_extend()).  The
 * slot may read 0 for a span being created or released.  A concurrent
 * marker runs while the program creates spans, so the slot is read as
 * gch_span_of reads it, with acquire: a span is initialised before its
 * slots are published (release, mheap.c), and its fields must be seen so.
 * (On x86 the load is a plain move; the atomic only keeps the compiler
 * from reordering.)  The page's own slot, not the page map's entry and
 * then the slot of the span's first page: one dependent load less for
 * every candidate pointer, a fifth of the time per object when marking a
 * tree (bench/markbench.c).
 */
static inline struct gch_span *span_slot(const struct mark_view *v,
					 uintptr_t p)
{
	uintptr_t off = p - v->heap_base;

	if (off >= v->heap_limit)
		return NULL;
	return (struct gch_span *)(uintptr_t)
		gch_load_acq(&v->spanslots[off >> GCH_PAGE_SHIFT]);
}

/* span_slot(), and the span's base in *@span_base. */
static inline struct gch_span *lookup(const struct mark_view *v, uintptr_t p,
				      uintptr_t *span_base)
{
	struct gch_span *s = span_slot(v, p);

	if (s)
		*span_base = s->base;
	return s;
}

/* The allocated object containing @p, or NULL; *idx its slot. */
static inline struct gch_span *find_object(const struct mark_view *v,
					   uintptr_t p, uint32_t *idx,
					   uintptr_t *span_base)
{
	struct gch_span *s = lookup(v, p, span_base);
	uint32_t i;

	if (!s)
		return NULL;
	i = (uint32_t)(((uint64_t)(p - *span_base) * s->divmul) >> 32);
	if (i >= s->nelems || !gch_span_slot_allocated(s, i))
		return NULL;
	*idx = i;
	return s;
}

/*
 * A work-buffer entry is an object's base address.  An untyped small object
 * carries its size class in the top byte (heap addresses stay below 2^56,
 * even with 5-level paging), so that scanning it needs neither the page map
 * nor the span again: every field the scan needs is then in the entry.
 * Large and typed objects go untagged and are looked up when scanned.
 */
/*
 * Was slot @idx allocated with a pointer layout?  Its owner may be setting
 * one for a new object beside it while a concurrent mark reads: the typed
 * bit is published (release) after the layout (span.c).
 */
static inline bool typed_slot(const struct gch_span *s, uint32_t idx)
{
	return gch_load_acq(&s->ptrbits) &&
	       ((gch_load_acq(&s->typedbits[idx / 64]) >> (idx % 64)) & 1);
}

#define GRAY_CLASS_SHIFT	56
#define GRAY_ADDR_MASK		((1ULL << GRAY_CLASS_SHIFT) - 1)
/*
 * An object over OBLET_BYTES is scanned in oblets (Go's maxObletBytes, 128
 * KiB there, for large objects only): its first scan covers the first
 * oblet and queues one entry per further oblet, tagged GRAY_OBLET in the
 * class byte (no size class has it).  Whole, an 8 MiB array of pointers
 * was one unit of work: an assist or a worker step could not stop inside
 * it (a pause waited for it, an operation that assisted took
 * milliseconds), no idle marker could take half of it, and all its
 * children were queued at once -- a million entries, 8 MiB of work buffers
 * that stay mapped.
 *
 * The drain scans an oblet entry as soon as it pops it, not through the
 * prefetch ring (gc_drain_budget): the ring takes up to PREFETCH_RING
 * entries before it scans the first, so with a run of oblet entries on top
 * of the gray set it scanned that many oblets back to back and queued all
 * their children.  The big-heap benchmark's bucket array (8 MiB, 128 KiB
 * oblets) had 422 work buffers (3.4 MiB, never unmapped) in use at its
 * worst that way, and with 32 KiB objects scanned whole still 100.  Now an
 * oblet's children lie over the next oblet's entry and are drained first,
 * and every oblet entry stays in the gray set for other markers to take.
 * 4 KiB oblets, small objects over that included, bound what one scan
 * queues to 512 entries.
 *
 * An oblet entry is not an object: it is never marked, only scanned, and
 * its object is already marked (black once all its oblets are done).
 */
#define OBLET_BYTES		((uintptr_t)4 << 10)
#define GRAY_OBLET		0xffu

static inline uintptr_t gray_entry(const struct gch_span *s, uint32_t idx,
				   uintptr_t base)
{
	unsigned cls = s->spanclass >> 1;

	if (s->elemsize > OBLET_BYTES || typed_slot(s, idx))
		return base;
	return base | (uintptr_t)cls << GRAY_CLASS_SHIFT;
}

/*
 * Always inlined, mark_word into the scan loops and these into the drain: a
 * call would cost as much as the work, and the view must stay in registers.
 *
 * Not in sanitizer builds.  The scan loops read roots too (stacks and data
 * segments, with redzones and other threads' racy words), so they must not
 * be instrumented, and an inlined body takes its caller's attributes; and
 * GCC emits use-after-scope poisoning for the address-taken locals of a
 * body inlined into an uninstrumented function without the unpoisoning,
 * leaving stale poison on the stack.  There everything stays out of line
 * (GCC does not inline across a sanitizer-attribute mismatch).
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GC_INLINE	static inline
#define GC_SCAN_INLINE	static GC_NO_SANITIZE
#else
#define GC_INLINE	static inline __attribute__((always_inline))
#define GC_SCAN_INLINE	GC_INLINE
#endif

GC_INLINE void mark_word(struct gc_work *w, struct mark_view *v, uintptr_t p)
{
	struct gch_span *s;
	uintptr_t sbase;
	uint32_t idx;

	s = find_object(v, p, &idx, &sbase);
	if (!s || !set_mark(s, idx))
		return;
	v->bytes_marked += s->elemsize;
	if (!(s->spanclass & 1))
		work_push(w, gray_entry(s, idx,
					sbase + (uintptr_t)idx * s->elemsize));
}

void gc_mark_ptr(struct gc_work *w, uintptr_t p)
{
	struct mark_view v;

	view_init(&v, w);
	mark_word(w, &v, p);
	view_flush(&v, w);
}

/*
 * Mark @n candidate pointers read from @words (a write barrier buffer, or
 * a long range being scanned: scan_batched), SCAN_BATCH at a time in three
 * passes: find each one's span and prefetch its first two lines, keeping
 * the candidates that have one; find their slots and prefetch their mark
 * and alloc words; mark them.  One at a time, each costs two dependent
 * cache misses -- its span, then its slot's bit words -- paid in series:
 * a full barrier buffer took tens of microseconds in the program's path,
 * and churn's 1 MiB table of pointers to objects all over the heap was a
 * fifth of its run.  In passes the misses of a batch overlap.  A word
 * that is not a candidate (most of a data segment's) leaves the first
 * pass, which costs it what the plain loop does.  Each word is read once
 * (uninstrumented, as every scan loop: see GC_SCAN_INLINE).
 */
#define SCAN_BATCH		16

GC_SCAN_INLINE void mark_batch(struct gc_work *w, struct mark_view *v,
			       const uintptr_t *words, size_t n)
{
	for (size_t at = 0; at < n; at += SCAN_BATCH) {
		size_t m = n - at < SCAN_BATCH ? n - at : SCAN_BATCH, k = 0;
		struct gch_span *sp[SCAN_BATCH];
		uintptr_t c[SCAN_BATCH];

		for (size_t i = 0; i < m; i++) {
			uintptr_t x = words[at + i];
			struct gch_span *s = span_slot(v, x);

			if (s) {
				__builtin_prefetch(s);
				__builtin_prefetch((const char *)s +
						   GCH_CACHELINE);
				c[k] = x;
				sp[k++] = s;
			}
		}
		for (size_t j = 0; j < k; j++) {
			const struct gch_span *s = sp[j];
			uint32_t idx = (uint32_t)(((uint64_t)(c[j] - s->base) *
						   s->divmul) >> 32);

			if (idx >= s->nelems)
				continue;
			__builtin_prefetch(&s->markbits[idx / 64]);
			__builtin_prefetch(&s->allocbits[idx / 64]);
		}
		for (size_t j = 0; j < k; j++)
			mark_word(w, v, c[j]);
	}
}

void gc_mark_ptrs(struct gc_work *w, const uintptr_t *ptrs, unsigned n)
{
	struct mark_view v;

	view_init(&v, w);
	mark_batch(w, &v, ptrs, n);
	view_flush(&v, w);
}

bool gc_mark_only(struct gc_work *w, uintptr_t base)
{
	struct mark_view v;
	struct gch_span *s;
	uintptr_t sbase;
	uint32_t idx;

	view_init(&v, w);
	s = find_object(&v, base, &idx, &sbase);
	if (!s || !set_mark(s, idx))
		return false;
	w->bytes_marked += s->elemsize;
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

GC_SCAN_INLINE void scan_conservative(struct gc_work *w, struct mark_view *v,
				      uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t a = lo; a < hi; a += GC_WORD)
		mark_word(w, v, *(const uintptr_t *)a);
	v->bytes_scanned += hi - lo;
}

/*
 * A long range conservatively (an oblet, a large object's part, a stack, a
 * data segment), its words marked in batches (mark_batch).  Short objects
 * keep the plain loop: their words are mostly not pointers.
 */
#define SCAN_BATCH_MIN_BYTES	512

GC_SCAN_INLINE void scan_batched(struct gc_work *w, struct mark_view *v,
				 uintptr_t lo, uintptr_t hi)
{
	mark_batch(w, v, (const uintptr_t *)lo, (hi - lo) / GC_WORD);
	v->bytes_scanned += hi - lo;
}

/* Words [lo, hi) where bit (first_bit + i) of @bits marks word i. */
GC_SCAN_INLINE void scan_bitmap(struct gc_work *w, struct mark_view *v,
				uintptr_t lo, uintptr_t hi,
				const uint64_t *bits, size_t first_bit)
{
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
		mark_word(w, v, ((const uintptr_t *)lo)[i]);
		i++;
	}
	v->bytes_scanned += hi - lo;
}

void gc_mark_range(struct gc_work *w, uintptr_t lo, uintptr_t hi,
		   const uint64_t *ptrmap)
{
	struct mark_view v;

	view_init(&v, w);
	if (ptrmap)
		scan_bitmap(w, &v, lo, hi, ptrmap, 0);
	else
		scan_batched(w, &v, lo, hi);
	view_flush(&v, w);
}

/* Words [lo, hi) of object @idx of @s, by its layout or conservatively. */
GC_SCAN_INLINE void scan_part(struct gc_work *w, struct mark_view *v,
			      const struct gch_span *s, uint32_t idx,
			      uintptr_t sbase, uintptr_t lo, uintptr_t hi)
{
	if (typed_slot(s, idx))
		scan_bitmap(w, v, lo, hi, gch_load_acq(&s->ptrbits),
			    (lo - sbase) / GC_WORD);
	else if (hi - lo >= SCAN_BATCH_MIN_BYTES)
		scan_batched(w, v, lo, hi);
	else
		scan_conservative(w, v, lo, hi);
}

/*
 * The oblet at @lo of object @idx of @s, which ends at @end; with @first,
 * the object's first, whose scan queues the entries of the others (last
 * first, so that they are popped in address order).
 */
static void scan_oblet_at(struct gc_work *w, struct mark_view *v,
			  const struct gch_span *s, uint32_t idx,
			  uintptr_t sbase, uintptr_t lo, uintptr_t end,
			  bool first)
{
	uintptr_t hi = end - lo > OBLET_BYTES ? lo + OBLET_BYTES : end;

	if (first && hi < end) {
		uintptr_t a = lo + (end - lo - 1) / OBLET_BYTES * OBLET_BYTES;

		for (; a >= hi; a -= OBLET_BYTES)
			work_push(w, a | (uintptr_t)GRAY_OBLET <<
				     GRAY_CLASS_SHIFT);
	}
	scan_part(w, v, s, idx, sbase, lo, hi);
}

/* The slot of @s holding @p; a large object's span has one. */
static inline uint32_t slot_of(const struct gch_span *s, uintptr_t sbase,
			       uintptr_t p)
{
	if (!(s->spanclass >> 1))
		return 0;
	return (uint32_t)(((uint64_t)(p - sbase) * s->divmul) >> 32);
}

/* Oblet entry @lo (see above). */
static void scan_oblet(struct gc_work *w, struct mark_view *v, uintptr_t lo)
{
	uintptr_t sbase;
	struct gch_span *s = lookup(v, lo, &sbase);
	uint32_t idx;

	/* its object is marked: the span stays in use until the next sweep */
	if (!s)
		return;
	idx = slot_of(s, sbase, lo);
	scan_oblet_at(w, v, s, idx, sbase, lo,
		      sbase + (uintptr_t)(idx + 1) * s->elemsize, false);
}

/* gc_set_proc_scan()'s hook; NULL until libgc.so.1 sets it. */
static gc_proc_scan_fn proc_scan;

void gc_set_proc_scan(gc_proc_scan_fn fn)
{
	proc_scan = fn;
}

/* The descriptor of a procedure-scanned typed slot (span.c), or 0. */
static inline uint64_t proc_descr(const struct gch_span *s, uint32_t idx)
{
	const uint64_t *d = gch_load_acq(&s->procdescr);

	return d ? gch_load(&d[idx]) : 0;
}

/* An object found through its span (large, typed, or from outside). */
static void scan_looked_up(struct gc_work *w, struct mark_view *v,
			   uintptr_t obj)
{
	uintptr_t sbase, base;
	struct gch_span *s = lookup(v, obj, &sbase);
	uint64_t d;
	uint32_t idx;

	if (!s || (s->spanclass & 1))
		return;
	idx = slot_of(s, sbase, obj);
	base = sbase + (uintptr_t)idx * s->elemsize;
	if (typed_slot(s, idx) && (d = proc_descr(s, idx)) && proc_scan) {
		v->bytes_scanned += s->elemsize;
		proc_scan(w, base, s->elemsize, d);
		return;
	}
	if (s->elemsize > OBLET_BYTES)
		scan_oblet_at(w, v, s, idx, sbase, base, base + s->elemsize,
			      true);
	else
		scan_part(w, v, s, idx, sbase, base, base + s->elemsize);
}

void gc_scan_object(struct gc_work *w, uintptr_t obj)
{
	struct mark_view v;

	view_init(&v, w);
	scan_looked_up(w, &v, obj);
	view_flush(&v, w);
}

/*
 * Heap page @page was written since dirty tracking last reported it
 * (dirtyscan.c): scan again the part of every marked object that lies on
 * the page -- or, with @all, of every allocated one, for while the program
 * runs an object allocated since pause 1 is marked only when its window
 * closes.  Only the page's part, even of a large object: its other pages
 * are rescanned when they are dirty.  Objects scanned by a procedure are
 * scanned whole (it takes no range).
 */
void gc_rescan_page(struct gc_work *w, uintptr_t page, bool all)
{
	uintptr_t sbase, end = page + GCH_PAGE_SIZE;
	struct mark_view v;
	struct gch_span *s;
	uint32_t idx;
	uint64_t d;

	view_init(&v, w);
	s = lookup(&v, page, &sbase);
	if (!s || (s->spanclass & 1))
		goto out;
	idx = (uint32_t)(((uint64_t)(page - sbase) * s->divmul) >> 32);
	for (; idx < s->nelems; idx++) {
		uintptr_t base = sbase + (uintptr_t)idx * s->elemsize;
		uintptr_t lo = base > page ? base : page;
		uintptr_t hi = base + s->elemsize < end ? base + s->elemsize :
			       end;

		if (base >= end)
			break;
		if (all ? !gch_span_slot_allocated(s, idx) :
			  !((gch_load(&s->markbits[idx / 64]) >> (idx % 64)) & 1))
			continue;
		if (typed_slot(s, idx) && (d = proc_descr(s, idx)) &&
		    proc_scan) {
			v.bytes_scanned += s->elemsize;
			proc_scan(w, base, s->elemsize, d);
			continue;
		}
		scan_part(w, &v, s, idx, sbase, lo, hi);
	}
out:
	view_flush(&v, w);
}

/*
 * An untyped small object, conservatively.  The commonest sizes -- pairs,
 * list cells and tree nodes of two to four words -- get straight-line
 * code: the loop's exit after two or four iterations was mispredicted
 * about once per object (cachegrind's branch simulation: 0.56
 * mispredictions per node of a binary tree, 0.07 without the loop),
 * and marking such a tree with one marker took 5-9% less time.
 */
GC_SCAN_INLINE void scan_small(struct gc_work *w, struct mark_view *v,
			       uintptr_t base, unsigned cls)
{
	const uintptr_t *o = (const uintptr_t *)base;

	if (cls == GCH_CLASS_16B) {
		mark_word(w, v, o[0]);
		mark_word(w, v, o[1]);
		v->bytes_scanned += 16;
	} else if (cls == GCH_CLASS_32B) {
		mark_word(w, v, o[0]);
		mark_word(w, v, o[1]);
		mark_word(w, v, o[2]);
		mark_word(w, v, o[3]);
		v->bytes_scanned += 32;
	} else if (cls == GCH_CLASS_24B) {
		mark_word(w, v, o[0]);
		mark_word(w, v, o[1]);
		mark_word(w, v, o[2]);
		v->bytes_scanned += 24;
	} else {
		scan_conservative(w, v, base, base + gch_classes[cls].size);
	}
}

/* Scan the object of work-buffer entry @e (see gray_entry). */
GC_INLINE void scan_gray(struct gc_work *w, struct mark_view *v, uintptr_t e)
{
	unsigned cls = (unsigned)(e >> GRAY_CLASS_SHIFT);
	uintptr_t base = e & GRAY_ADDR_MASK;

	if (cls == GRAY_OBLET)
		scan_oblet(w, v, base);
	else if (cls)
		scan_small(w, v, base, cls);
	else
		scan_looked_up(w, v, base);
}

static void scan_now(struct gc_work *w, uintptr_t e)
{
	struct mark_view v;

	view_init(&v, w);
	scan_gray(w, &v, e);
	view_flush(&v, w);
}

/*
 * Another marker is idle and the pool is empty: hand it the older half of
 * our current buffer (in a depth-first drain the oldest gray objects head
 * the largest unexplored parts of the graph).  Go's gcWork.balance.
 */
static void balance(struct gc_work *w)
{
	struct gc_wbuf *cur = w->cur, *b;
	size_t half;

	if (!cur || cur->n < 8 ||
	    atomic_load_explicit(&pool.nfull, memory_order_relaxed) ||
	    (!atomic_load_explicit(&nidle, memory_order_relaxed) &&
	     !atomic_load_explicit(&hungry, memory_order_relaxed)))
		return;
	b = pool_get_empty();
	if (!b)
		return;
	half = cur->n / 2;
	memcpy(b->obj, cur->obj, half * sizeof(b->obj[0]));
	memmove(cur->obj, cur->obj + half, (cur->n - half) * sizeof(cur->obj[0]));
	b->n = half;
	cur->n -= half;
	pool_put(b);
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
	gc_drain_budget(w, UINT64_MAX);
}

/*
 * Prefetch what the scan of entry @e reads first: its object's first line,
 * and for a small object over a line up to PREFETCH_LINES more.  Objects
 * of 80 to 512 bytes scattered over the heap (churn's) missed on every
 * line: the first line's prefetch hid the first miss only, and the lines
 * after it were too few for the hardware's stream prefetcher to start.
 * Prefetching them too took 3-7% off churn's run; more than four lines
 * gained nothing (larger objects' later lines stream well), and objects of
 * a line or less pay one compare (markbench's 16-byte nodes).  Oblet
 * entries never come here: the drain scans them as it pops them.
 */
#define PREFETCH_LINES	3

static inline void prefetch_gray(uintptr_t e)
{
	unsigned cls = (unsigned)(e >> GRAY_CLASS_SHIFT);
	uintptr_t p = e & GRAY_ADDR_MASK;

	__builtin_prefetch((const void *)p);
	if (cls > GCH_CLASS_64B) {
		uintptr_t end = p + gch_classes[cls].size;
		uintptr_t a = (p | (GCH_CACHELINE - 1)) + 1;

		for (unsigned k = 0; k < PREFETCH_LINES && a < end;
		     k++, a += GCH_CACHELINE)
			__builtin_prefetch((const void *)a);
	}
}

/*
 * Drain until about @budget bytes have been scanned; true when it stopped
 * for the budget (work may be left: the prefetch ring goes back into w's
 * buffers), false when the gray set ran dry.  Assists and the background
 * worker drain in such steps to account their work as they go.
 */
bool gc_drain_budget(struct gc_work *w, uint64_t budget)
{
	uintptr_t ring[PREFETCH_RING], obj;
	unsigned head = 0, n = 0, tick = 0;
	struct mark_view v;
	bool oblet;

	view_init(&v, w);
	for (;;) {
		/*
		 * A mutator's assist drains in a no-preemption section, and a
		 * stop of the world waits for that to end: when one has asked
		 * (the suspend handler left pending.b.preempt), the assist
		 * stops here, as if its budget were spent, and parks on the
		 * way out.  Unattached markers are never asked, and a drain
		 * without a budget (gc_drain) must finish whatever is pending.
		 */
		if (__builtin_expect(v.bytes_scanned >= budget ||
				     (gc_tls.pending.b.preempt &&
				      budget != UINT64_MAX), 0)) {
			while (n--) {
				work_push(w, ring[head]);
				head = (head + 1) % PREFETCH_RING;
			}
			view_flush(&v, w);
			return true;
		}
		oblet = false;
		while (n < PREFETCH_RING && work_pop(w, &obj)) {
			/* at once, not through the ring: see OBLET_BYTES */
			if (obj >> GRAY_CLASS_SHIFT == GRAY_OBLET) {
				scan_oblet(w, &v, obj & GRAY_ADDR_MASK);
				oblet = true;
				break;
			}
			prefetch_gray(obj);
			ring[(head + n) % PREFETCH_RING] = obj;
			n++;
		}
		if (!n) {
			if (oblet)
				continue;	/* it may have queued more */
			break;
		}
		obj = ring[head];
		head = (head + 1) % PREFETCH_RING;
		n--;
		scan_gray(w, &v, obj);
		if ((nmarkers > 1 ||
		     atomic_load_explicit(&hungry, memory_order_relaxed)) &&
		    !(++tick % 64))
			balance(w);
	}
	view_flush(&v, w);
	return false;
}

/* ---- parallel marking ----------------------------------------------------- */

/*
 * Termination: a marker whose buffers are empty counts itself idle and
 * waits for a full buffer in the pool; marking is over when every marker
 * is idle and the pool is empty (no marker can then produce work).
 */
static void drain_until_done(struct gc_work *w)
{
	for (;;) {
		struct gc_wbuf *b;

		gc_drain(w);
		atomic_fetch_add(&nidle, 1);
		for (unsigned spins = 0;; spins++) {
			b = pool_get_full();
			if (b) {
				atomic_fetch_sub(&nidle, 1);
				break;
			}
			if (atomic_load(&nidle) == nmarkers &&
			    !atomic_load(&pool.nfull))
				return;
			if (spins > 64)
				sched_yield();
			else
				__builtin_ia32_pause();
		}
		if (w->cur)
			pool_put(w->cur);
		w->cur = b;
	}
}

/*
 * Helper markers: threads outside the thread registry (the world stops
 * without them), started on the first parallel mark, each draining with a
 * gc_work of its own.  Locking: helpers.lock protects the phase counter,
 * the heap and the sums.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t start, done;
	unsigned created, wanted;	/* threads; helpers per phase */
	uint64_t phase;
	unsigned running;		/* helpers still in this phase */
	struct gch_heap *h;
	uint64_t bytes, scanned, cpu_ns;
} helpers = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.start = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static void *helper_main(void *arg)
{
	uint64_t seen = 0;

	(void)arg;
	pthread_mutex_lock(&helpers.lock);
	for (;;) {
		struct gc_work w;

		while (helpers.phase == seen)
			pthread_cond_wait(&helpers.start, &helpers.lock);
		int64_t c0;

		seen = helpers.phase;
		gc_work_init(&w, helpers.h);
		pthread_mutex_unlock(&helpers.lock);

		c0 = gc_thread_cpu_ns();
		drain_until_done(&w);
		gc_work_dispose(&w);
		c0 = gc_thread_cpu_ns() - c0;

		pthread_mutex_lock(&helpers.lock);
		helpers.cpu_ns += (uint64_t)c0;
		helpers.bytes += w.bytes_marked;
		helpers.scanned += w.bytes_scanned;
		if (--helpers.running == 0)
			pthread_cond_signal(&helpers.done);
	}
	return NULL;
}

/* Helper threads to use: GCHEAP_MARKERS - 1, default one per extra CPU. */
static unsigned helpers_wanted(void)
{
	static int wanted = -1;

	if (wanted < 0) {
		const char *e = getenv("GCHEAP_MARKERS");
		long n = e && *e ? strtol(e, NULL, 10) :
			 sysconf(_SC_NPROCESSORS_ONLN);

		if (n < 1)
			n = 1;
		if (n > 8)
			n = 8;
		wanted = (int)n - 1;
	}
	return (unsigned)wanted;
}

static unsigned start_helpers(void)
{
	unsigned want = helpers_wanted();

	while (helpers.created < want && !gc_spawn(helper_main, NULL))
		helpers.created++;
	return helpers.created;
}

/*
 * Marking beside the program: mutators' barrier flushes set mark bits while
 * the collector's markers do, so mark bits go atomic for the whole cycle.
 */
void gc_mark_set_concurrent(bool on)
{
	markers_concurrent = on;
}

/* Whether the shared pool holds gray work (racy unless the world is stopped). */
bool gc_pool_has_work(void)
{
	return atomic_load(&pool.nfull) != 0;
}

/* Buffers of gray work in the shared pool (racy). */
size_t gc_pool_buffers(void)
{
	return atomic_load_explicit(&pool.nfull, memory_order_relaxed);
}

/*
 * Mark everything reachable from w's gray objects with @want_parallel
 * deciding whether helpers join (the caller knows whether the heap is big
 * enough to repay waking them).  Mark bits go atomic while they run.
 */
void gc_mark_parallel(struct gc_work *w, bool want_parallel)
{
	bool was_concurrent = markers_concurrent;
	unsigned nh;

	if (!want_parallel) {
		gc_drain(w);
		return;
	}
	pthread_mutex_lock(&helpers.lock);
	nh = start_helpers();
	if (!nh) {
		pthread_mutex_unlock(&helpers.lock);
		gc_drain(w);
		return;
	}
	markers_concurrent = true;
	nmarkers = nh + 1;
	atomic_store(&nidle, 0);
	helpers.h = w->h;
	helpers.bytes = helpers.scanned = helpers.cpu_ns = 0;
	helpers.running = nh;
	helpers.phase++;
	pthread_cond_broadcast(&helpers.start);
	pthread_mutex_unlock(&helpers.lock);

	drain_until_done(w);

	pthread_mutex_lock(&helpers.lock);
	while (helpers.running)
		pthread_cond_wait(&helpers.done, &helpers.lock);
	w->bytes_marked += helpers.bytes;
	w->bytes_scanned += helpers.scanned;
	w->helper_cpu_ns += helpers.cpu_ns;
	nmarkers = 1;
	markers_concurrent = was_concurrent;
	pthread_mutex_unlock(&helpers.lock);
}

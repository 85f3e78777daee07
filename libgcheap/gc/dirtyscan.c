// SPDX-License-Identifier: MIT
/*
 * dirtyscan.c - marking beside a program that calls no write barrier,
 * with the kernel's dirty bits (GCH_IOC_DIRTY) in its place; and the
 * barrier verifier built on the same bits.
 *
 * Mostly-concurrent marking (Boehm, Demers and Shenker, 1991)
 * ----------------------------------------------------------
 * A program that stores pointers with plain stores (libgc.so.1's callers,
 * or any program run with GCHEAP_BARRIER=dirty) tells the collector nothing
 * when it changes the graph.  The module can: armed, it write-protects the
 * heap's pages and sets a page's bit on the first write after that
 * (kmod/dirty.c), and a collect returns the bits and re-arms those pages
 * atomically, so that no write is ever missed.  The cycle (gc.c):
 *
 *   arm           before pause 1, with the program running: every write
 *                 from here on is in some collect's answer
 *   pause 1       as in barrier mode, without the barrier: roots gray,
 *                 allocation black
 *   mark          beside the program, no barrier
 *   rescan        collect the dirty pages and scan the objects on them
 *                 again, beside the program; repeat while the dirty set
 *                 shrinks by a quarter a round and is above
 *                 GC_DIRTY_FINAL_PAGES (at most GC_DIRTY_ROUNDS rounds,
 *                 or GCHEAP_DIRTY_ROUNDS)
 *   pause 2       close every allocation window, collect the last dirty
 *                 set and rescan it, rescan every stack, register set and
 *                 global root, drain; when that finds more than a pause's
 *                 worth of work, restart the world, drain, and try again
 *                 (as barrier mode retries its termination)
 *   disarm        after the world runs again
 *
 * Why it is correct: an object that marking missed is white and reachable
 * at pause 2, so some path from a root reaches it through a pointer that
 * no scan saw: written after the scan of the slot holding it.  If that
 * slot is in the heap, the write dirtied its page after arming, so the
 * page is in some collect's answer after the write (a collect reports and
 * re-arms atomically), and the rescan that answer caused read the slot
 * after the write -- or a later write dirtied it again, for a later round
 * or for pause 2's collect, which sees every write before the world
 * stopped.  If the slot is a root (stack, register, global), pause 2 scans
 * it again.  Which objects on a dirty page are scanned again: every
 * allocated one, not only the marked ones, because an object allocated
 * since pause 1 is marked only when its allocation window closes
 * (span.c), and the dirty bit its initialising stores set must not be
 * spent on a scan that skipped it.  Garbage among them keeps what it
 * points to until the next cycle, as floating garbage always does.  The
 * same goes for arenas mapped while the cycle marks: everything on them is
 * new, but their dirty pages are rescanned like any other (the worker's
 * view of the heap grows to them first, gc_work_extend()); leaving them
 * out lost old objects whose last pointer had moved into a new one.
 *
 * Keeping pause 2 short: its cost is the threads' stacks and the global
 * roots, as pause 1's is, plus the last dirty set.  The concurrent rounds
 * exist to make that set small: each rescans what the program wrote while
 * the round before ran, which is usually far less.  A program that writes
 * everywhere all the time defeats them (each round's set is as large as
 * the last); then the rounds stop as soon as a set fails to shrink, pause
 * 2 rescans one round's worth of writes (the pages written in about one
 * round's time), and when that marks much, the world restarts and the
 * termination is tried again, at most GC_TERM_RETRIES times; the last try
 * finishes whatever is left with the world stopped.
 *
 * The barrier verifier (GCHEAP_GCVERIFY=barrier)
 * ----------------------------------------------
 * A program that does call gch_store() has bugs where it forgot to.  With
 * both the barrier and dirty tracking on, pause 2 knows, after the last
 * drain, every page written during the cycle.  A marked object is black
 * then: its words were scanned after it was marked, so a word that points
 * at a white allocated object was written after that scan -- and a
 * barriered store would have shaded the target.  So every pointer word of
 * a marked object on a dirty page is checked; the first that points at a
 * white object is reported with its address (the slot the unbarriered
 * store wrote), the object that holds it, and the target, and the process
 * aborts before the sweep frees the target.  Clean pages cannot hold such
 * a word: nothing wrote them since arming.
 *
 * Locking: the bitmap and the armed flag are the worker's (gc_lock held
 * around arm and pause 2; the rounds run on the worker alone).  The
 * kernel serialises the ioctls of a heap against its faults.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "internal.h"
#include "gc_internal.h"

/* Stop the concurrent rounds at this many dirty pages (1 MiB)... */
#define GC_DIRTY_FINAL_PAGES	128
/* ...or after this many rounds (GCHEAP_DIRTY_ROUNDS: 0 to 64). */
#define GC_DIRTY_ROUNDS		8

/*
 * The most concurrent rounds a cycle runs: GCHEAP_DIRTY_ROUNDS, or
 * GC_DIRTY_ROUNDS.  0 leaves every rescan to pause 2 (shorter marking,
 * longer pause; the tests use it to put all of the rescan in one place).
 * -1 until read; racy first reads all compute the same.
 */
static int max_rounds = -1;

static unsigned rounds_max(void)
{
	if (max_rounds < 0) {
		const char *e = getenv("GCHEAP_DIRTY_ROUNDS");
		char *end;
		long v = e ? strtol(e, &end, 10) : -1;

		max_rounds = e && *e && !*end && v >= 0 && v <= 64 ?
			     (int)v : GC_DIRTY_ROUNDS;
	}
	return (unsigned)max_rounds;
}

/* -1 undecided; read racily after that (it never changes again). */
static int verify_on = -1;

bool gc_dirty_verify_enabled(void)
{
	if (verify_on < 0) {
		const char *e = getenv("GCHEAP_GCVERIFY");

		verify_on = e && !strcmp(e, "barrier");
	}
	return verify_on;
}

bool gc_dirty_usable(struct gch_heap *h)
{
	return gch_heap_kernel_fd(h) >= 0 &&
	       (gch_heap_kernel_features(h) & GCH_FEAT_DIRTY);
}

static int dirty_ioctl(struct gch_heap *h, struct gch_dirty *d)
{
	d->size = sizeof(*d);
	return ioctl(gch_heap_kernel_fd(h), GCH_IOC_DIRTY, d) ? -errno : 0;
}

/* A bitmap for every page mapped so far (the heap only grows). */
static int bitmap_fit(struct gc_heap *g, uint64_t npages)
{
	size_t words = (size_t)((npages + 63) / 64), bytes;
	void *p;

	if (words <= g->dirty_words)
		return 0;
	bytes = (words * sizeof(uint64_t) + 4095) & ~(size_t)4095;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	if (g->dirty_bits)
		munmap(g->dirty_bits, g->dirty_bytes);
	g->dirty_bits = p;
	g->dirty_bytes = bytes;
	g->dirty_words = bytes / sizeof(uint64_t);
	return 0;
}

int gc_dirty_arm(struct gc_heap *g)
{
	struct gch_dirty d = { .flags = GCH_DIRTY_ARM };
	int64_t t0 = gc_now_ns();
	int err;

	err = bitmap_fit(g, gch_load_acq(&g->h->mapped_pages));
	if (!err)
		err = dirty_ioctl(g->h, &d);
	if (err)
		return err;
	g->dirty_armed = true;
	g->dirty.arm_ns = (uint64_t)(gc_now_ns() - t0);
	g->dirty.arm_wp_pages = d.wp_pages;
	g->dirty.rounds = g->dirty.pages = g->dirty.final_pages = 0;
	return 0;
}

void gc_dirty_disarm(struct gc_heap *g)
{
	struct gch_dirty d = { .flags = GCH_DIRTY_DISARM };

	if (!g->dirty_armed)
		return;
	(void)dirty_ioctl(g->h, &d);
	g->dirty_armed = false;
}

/*
 * Take the dirty set: the bits of every mapped page, re-armed.  The number
 * of dirty pages, or -errno (then the caller must treat every page as
 * dirty: gc.c finishes the cycle with the world stopped).
 */
static int64_t collect(struct gc_heap *g, uint64_t *npages)
{
	struct gch_dirty d = { .flags = GCH_DIRTY_COLLECT };
	int err;

	*npages = gch_load_acq(&g->h->mapped_pages);
	err = bitmap_fit(g, *npages);
	if (err)
		return err;
	d.first_page = 0;
	d.npages = *npages;
	d.bitmap = (uintptr_t)g->dirty_bits;
	err = dirty_ioctl(g->h, &d);
	return err ? err : (int64_t)d.dirty_pages;
}

/* Call @fn on every page whose bit is set in the collected bitmap. */
static void for_each_dirty(struct gc_heap *g, uint64_t npages,
			   void (*fn)(struct gc_heap *g, uintptr_t page,
				      void *arg), void *arg)
{
	uintptr_t base = g->h->base;

	for (uint64_t i = 0; i < (npages + 63) / 64; i++) {
		uint64_t word = g->dirty_bits[i];

		while (word) {
			uint64_t p = i * 64 + (uint64_t)__builtin_ctzll(word);

			word &= word - 1;
			if (p < npages)
				fn(g, base + (uintptr_t)p * GCH_PAGE_SIZE, arg);
		}
	}
}

struct rescan_ctx {
	struct gc_work *w;
	bool all;
};

static void rescan_cb(struct gc_heap *g, uintptr_t page, void *arg)
{
	struct rescan_ctx *c = arg;

	(void)g;
	gc_rescan_page(c->w, page, c->all);
}

int64_t gc_dirty_rescan(struct gc_heap *g, struct gc_work *w, bool all)
{
	struct rescan_ctx c = { .w = w, .all = all };
	uint64_t npages;
	int64_t n = collect(g, &npages);

	/* pages of arenas mapped since the worker's gc_work_init() */
	gc_work_extend(w);
	if (n <= 0)
		return n;
	for_each_dirty(g, npages, rescan_cb, &c);
	return n;
}

/*
 * Pause 2 of a cycle whose dirty bits were lost (arming or a collect
 * failed): every page of every span is dirty as far as anyone knows.  A
 * walk of the heap in the pause -- only ever on that failure.
 */
void gc_dirty_rescan_all(struct gc_heap *g, struct gc_work *w)
{
	struct gch_heap *h = g->h;
	uint64_t npages = gch_load_acq(&h->mapped_pages);

	gc_work_extend(w);
	for (uint64_t p = 0; p < npages; p++)
		if (h->pagemap[p])
			gc_rescan_page(w, h->base + (uintptr_t)p * GCH_PAGE_SIZE,
				       false);
}

/*
 * The concurrent rounds, on the worker after its first drain: rescan
 * while the dirty set is worth a round.  @drain drains @w as the worker
 * does (paced, crediting the assists).  False if a collect failed: then
 * pause 2 must not trust the bits (gc.c marks the rest stopped).
 */
bool gc_dirty_rounds(struct gc_heap *g, struct gc_work *w,
		     void (*drain)(struct gc_heap *g, struct gc_work *w,
				   void *arg), void *arg)
{
	uint64_t prev = UINT64_MAX;

	for (unsigned r = 0; r < rounds_max(); r++) {
		int64_t n = gc_dirty_rescan(g, w, true);

		if (n < 0)
			return false;
		g->dirty.rounds++;
		g->dirty.pages += (uint64_t)n;
		drain(g, w, arg);
		if ((uint64_t)n <= GC_DIRTY_FINAL_PAGES ||
		    (uint64_t)n * 4 > prev * 3)
			break;
		prev = (uint64_t)n;
	}
	return true;
}

/* ---- the barrier verifier --------------------------------------------- */

struct verify_ctx {
	struct gch_heap *h;
	uint64_t bad;
};

/* Is @p inside an allocated object of @h that is not marked? */
static bool points_white(struct gch_heap *h, uintptr_t p, uintptr_t *obj,
			 size_t *size)
{
	struct gch_span *s = gch_span_of(h, p);
	uint32_t idx;

	if (!s || s->state != GCH_SPAN_INUSE)
		return false;
	idx = gch_span_index(s, p);
	if (idx >= s->nelems || !gch_span_slot_allocated(s, idx) ||
	    ((s->markbits[idx / 64] >> (idx % 64)) & 1))
		return false;
	*obj = s->base + (uintptr_t)idx * s->elemsize;
	*size = s->elemsize;
	return true;
}

/* Is word @i of slot @idx of @s a pointer slot (by layout, if it has one)? */
static bool pointer_word(const struct gch_span *s, uint32_t idx, size_t i)
{
	const uint64_t *bits = gch_load_acq(&s->ptrbits);

	if (!bits || !((gch_load_acq(&s->typedbits[idx / 64]) >> (idx % 64)) & 1))
		return true;
	return (bits[i / 64] >> (i % 64)) & 1;
}

static void verify_page(struct gc_heap *g, uintptr_t page, void *arg)
{
	struct verify_ctx *c = arg;
	struct gch_span *s = gch_span_of(c->h, page);
	uintptr_t end = page + GCH_PAGE_SIZE;
	uint32_t idx;

	(void)g;
	if (!s || s->state != GCH_SPAN_INUSE || (s->spanclass & 1))
		return;
	for (idx = gch_span_index(s, page); idx < s->nelems; idx++) {
		uintptr_t base = s->base + (uintptr_t)idx * s->elemsize;
		uintptr_t lo = base > page ? base : page, a, obj;
		uintptr_t hi = base + s->elemsize < end ? base + s->elemsize : end;
		size_t size;

		if (base >= end)
			break;
		if (!((s->markbits[idx / 64] >> (idx % 64)) & 1))
			continue;	/* white: freed by this cycle */
		for (a = lo; a < hi; a += GC_WORD) {
			uintptr_t v = *(const uintptr_t *)a;

			if (!pointer_word(s, idx, (a - s->base) / GC_WORD) ||
			    !points_white(c->h, v, &obj, &size))
				continue;
			if (!c->bad++)
				fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY=barrier: "
					"a pointer store skipped gch_store(): slot %p "
					"(offset %zu of the marked object %p, %zu bytes) "
					"holds %p, inside the unmarked object %p (%zu "
					"bytes), which this cycle would free\n",
					(void *)a, (size_t)(a - base), (void *)base,
					(size_t)s->elemsize, (void *)v, (void *)obj,
					size);
		}
	}
}

/*
 * Pause 2 of a barrier-mode cycle, no gray object left and the barrier
 * still on: report the first black-to-white pointer on the pages written
 * during the cycle, and abort if there is one (see the top of the file).
 */
void gc_dirty_verify(struct gc_heap *g)
{
	struct verify_ctx c = { .h = g->h };
	uint64_t npages;
	int64_t n = collect(g, &npages);

	if (n < 0) {
		fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY=barrier: collecting "
			"the dirty pages failed: %s\n", strerror((int)-n));
		return;
	}
	g->dirty.final_pages = (uint64_t)n;
	for_each_dirty(g, npages, verify_page, &c);
	if (c.bad) {
		fprintf(stderr, "libgcheap: GCHEAP_GCVERIFY=barrier: cycle %llu: "
			"%llu pointer(s) to unmarked objects in marked objects "
			"on pages written during the cycle\n",
			(unsigned long long)g->cycle + 1,
			(unsigned long long)c.bad);
		abort();
	}
}

// SPDX-License-Identifier: MIT
/*
 * profile.c - heap profile sampling and records (Go's mprof.go, in C).
 *
 * Sampling.  Each thread's cache counts bytes down to its next sample
 * (c->next_sample), drawn from an exponential distribution of mean
 * h->prof_rate bytes (GCHEAP_PROFILE_RATE, default 512 KiB as Go's
 * MemProfileRate; 0: off; 1: every object).  The count is charged a window
 * at a time, when the slow path opens a span window of n free slots: if the
 * sample falls beyond the window, next_sample -= n * elemsize and the fast
 * path runs as ever (no extra instruction at all); if it falls on the k-th
 * free slot, the slots from the k-th on are moved out of the window's cache
 * word into span->sample_stash, so the fast path runs dry exactly at the
 * sampled slot and its one existing unlikely branch takes the slow path,
 * where gch_profile_take_sampled() hands the slot out, records it and
 * charges the rest of the window.  The next countdown is drawn when the
 * sample is stashed, so that windows of other size classes opened
 * meanwhile are charged to it; a stash still pending when its cache lets
 * the span go (every cycle does) becomes a sample owed (sample_debt),
 * taken from the next window the cache opens, so that the rate stays
 * unbiased.  Readers of the window
 * (gch_span_slot_allocated) count stashed slots free; the owner stores the
 * stash before the cache word and readers load them in the other order, so
 * a slot in transit is at worst seen allocated for a moment, the direction
 * the window's readers already tolerate.  Every path that lets a cached span
 * go merges the stash back first (gch_profile_unstash), so mcentral, black
 * allocation and sweeping never see one.  Large objects charge their size
 * and are sampled when it reaches the countdown, as Go's mallocgc does.
 * Tiny objects are sampled as the 16 B blocks they are packed in.
 *
 * Records.  A sampled object gets a "special" (Go's word) on its span's
 * samples list: slot index and bucket.  Buckets are keyed by (call stack,
 * object size) in a hash table.  The sweeper, which owns a claimed span,
 * walks its samples before the mark bits become alloc bits: an unmarked
 * slot is a free, charged to the bucket.  Spans with no sample cost the
 * sweeper one load.
 *
 * Cycles (Go's three-stage scheme).  A bucket has an active count (what the
 * writer publishes) and three future counts.  With C = h->sweepgen / 2 (the
 * number of finished mark terminations), an allocation is charged to
 * future[(C+2)%3] and a sweeper free to future[(C+1)%3]; when C advances,
 * future[C%3] is folded into active (the snapshot as of the previous mark
 * termination, all its frees known); when a cycle's sweep is complete
 * (gch_profile_swept) future[(C+1)%3] is folded too, publishing the
 * snapshot as of the last mark termination.  So the in-use figures are
 * always those of a finished cycle: an object allocated since is not in
 * them yet, and an object found dead by it is out of them even before the
 * writer sees it swept (the writer finishes the sweep first, pprof.c).
 * C advances only with the world stopped, and every path that records runs
 * in a no-preemption section (allocation) or is the sweeper, so folding is
 * done lazily, under the lock, by whoever records or publishes next.
 *
 * USDT probes (<sys/sdt.h>, provider "gcheap"), for gcheap-trace profile
 * (bpf/trace_profile.c), which attaches to a running program:
 *   sample_alloc(heap, addr, size, stack, pcs, npc, rate)  a sampled
 *       allocation, after it is recorded: the object's address and size,
 *       the stack id (the address of its bucket: one per (call stack,
 *       object size), never freed before the heap is), the address of the
 *       bucket's return addresses (GCH_PROF_MAXPC words, npc of them used,
 *       innermost first, the library's own frames included) and the rate;
 *   sample_free(heap, addr, size, stack)  a sampled object freed by the
 *       sweeper (fired under p->lock, as the free is recorded).
 * The stack is the one the profile records (backtrace(), .eh_frame), read
 * by the BPF program with bpf_probe_read_user() the first time it sees a
 * stack id, rather than taken again with bpf_get_stack(): that walks frame
 * pointers, which neither this library nor Debian's libc keeps, so it would
 * stop after a frame or two.  A probe is one nop where the arguments are
 * already in registers or memory (the .note.stapsdt says where); nothing
 * is computed for it when no tracer is attached (bench/profile.md; a
 * build with -DGCH_NO_USDT has none, for comparison).
 *
 * Locking: p->lock guards the buckets, the counts and the special free
 * list.  It is taken only inside a no-preemption section or with the world
 * stopped (or by threads the collector never stops), so a stopped thread
 * never holds it.  Specials on a span belong to the span's owner (the cache
 * caching it, or the sweeper that claimed it).  The sweeper never calls
 * malloc or free (it may run with the world stopped, beside threads parked
 * inside malloc): freed specials go to a free list.  Allocating threads
 * malloc outside the lock, except when the bucket table doubles (log n
 * times), inside a no-preemption section as the cache's own attach does.
 */
#define _GNU_SOURCE
#include <execinfo.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/sdt.h>
#ifdef GCH_NO_USDT	/* bench/profile-bench: the same code, no probes */
#undef DTRACE_PROBE4
#undef DTRACE_PROBE7
#define DTRACE_PROBE4(...)	do { } while (0)
#define DTRACE_PROBE7(...)	do { } while (0)
#endif

#include "internal.h"
#include "gc_internal.h"
#include "profile.h"

#define PROF_DEFAULT_RATE	(512 * 1024)
#define PROF_MAX_NEXT		(1ULL << 40)

/*
 * The rate a heap opens with when GCHEAP_PROFILE_RATE is not set:
 * libgc.so.1 makes it 0 unless GCHEAP_PROFILE is set (compat/init.c), for
 * its callers cannot read a profile any other way, and a sample costs a
 * backtrace() whose unwinder reads every library's unwind tables (0.3-0.5
 * MB of Guile's peak RSS).  Written before the first heap opens.
 */
uint64_t gch_profile_default_rate GCH_HIDDEN = PROF_DEFAULT_RATE;

struct gch_prof_special {
	struct gch_prof_special *next;
	struct prof_bucket *b;
	uint32_t slot;
};

/* ---- random countdowns --------------------------------------------------- */

/* ln(u) for u in (0, 1], without libm: u = m * 2^e with m in [1, 2),
 * ln m = 2 atanh(z), z = (m - 1) / (m + 1) <= 1/3; eight terms of the
 * series leave an error under 1e-9, far below the sampler's noise. */
static double prof_ln(double u)
{
	union { double d; uint64_t u; } v = { .d = u };
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	double z, z2, sum = 0, term;

	v.u = (v.u & ((1ULL << 52) - 1)) | (1023ULL << 52);
	z = (v.d - 1) / (v.d + 1);
	z2 = z * z;
	term = z;
	for (int k = 1; k <= 15; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return e * 0.69314718055994530942 + 2 * sum;
}

static uint64_t prof_rand(struct gch_mcache *c)
{
	uint64_t x = c->sample_rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	c->sample_rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Bytes to the next sample: exponential with mean @rate (Go's
 * fastexprand), so that samples form a Poisson process over bytes. */
static uint64_t prof_draw(struct gch_mcache *c, uint64_t rate)
{
	double u, v;

	if (rate == 1)
		return 1;
	u = (double)((prof_rand(c) >> 11) + 1) * 0x1p-53;	/* (0, 1] */
	v = -prof_ln(u) * (double)rate;
	if (v < 1)
		return 1;
	return v > (double)PROF_MAX_NEXT ? PROF_MAX_NEXT : (uint64_t)v;
}

static void prof_seed(struct gch_heap *h, struct gch_mcache *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	c->sample_rng = ((uint64_t)(uintptr_t)c * 0x9e3779b97f4a7c15ULL) ^
			((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
	if (!c->sample_rng)
		c->sample_rng = 1;
	c->next_sample = prof_draw(c, h->prof_rate);
}

/* ---- buckets --------------------------------------------------------------- */

static uint64_t stack_hash(const uintptr_t *pc, unsigned n, uint64_t size)
{
	uint64_t x = size * 0x9e3779b97f4a7c15ULL;

	for (unsigned i = 0; i < n; i++) {
		x ^= pc[i];
		x *= 0xff51afd7ed558ccdULL;
		x ^= x >> 33;
	}
	return x;
}

static int prof_grow(struct gch_profile *p)
{
	size_t n = p->ntab ? p->ntab * 2 : 256;
	struct prof_bucket **t = calloc(n, sizeof(*t));

	if (!t)
		return -1;
	for (struct prof_bucket *b = p->all; b; b = b->all) {
		b->next = t[b->hash & (n - 1)];
		t[b->hash & (n - 1)] = b;
	}
	free(p->tab);
	p->tab = t;
	p->ntab = n;
	return 0;
}

/* The bucket of (@pc, @size), made if new; NULL when out of memory.
 * Under p->lock; @fresh is a bucket allocated beforehand (or NULL). */
static struct prof_bucket *prof_bucket(struct gch_profile *p,
				       const uintptr_t *pc, unsigned n,
				       uint64_t size, struct prof_bucket **fresh)
{
	uint64_t hash = stack_hash(pc, n, size);
	struct prof_bucket *b;

	gch_assert_held(&p->lock);
	if (p->ntab)
		for (b = p->tab[hash & (p->ntab - 1)]; b; b = b->next)
			if (b->hash == hash && b->size == size && b->npc == n &&
			    !memcmp(b->pc, pc, n * sizeof(*pc)))
				return b;
	b = *fresh;
	if (!b || (p->nbuckets >= p->ntab && prof_grow(p)))
		return NULL;
	*fresh = NULL;
	memset(b, 0, sizeof(*b));
	b->hash = hash;
	b->size = size;
	b->npc = n;
	memcpy(b->pc, pc, n * sizeof(*pc));
	b->all = p->all;
	p->all = b;
	b->next = p->tab[hash & (p->ntab - 1)];
	p->tab[hash & (p->ntab - 1)] = b;
	p->nbuckets++;
	return b;
}

static void fold(struct gch_profile *p, unsigned idx)
{
	for (struct prof_bucket *b = p->all; b; b = b->all) {
		struct prof_counts *f = &b->future[idx];

		b->active.allocs += f->allocs;
		b->active.alloc_bytes += f->alloc_bytes;
		b->active.frees += f->frees;
		b->active.free_bytes += f->free_bytes;
		memset(f, 0, sizeof(*f));
	}
}

/* Publish every cycle finished since the last look (Go's mProf_Flush,
 * done lazily); returns the current cycle. */
uint32_t gch_prof_catch_up(struct gch_heap *h, struct gch_profile *p)
{
	uint32_t cyc = gch_load(&h->sweepgen) / 2;

	gch_assert_held(&p->lock);
	if (cyc - p->flushed > 3)
		p->flushed = cyc - 3;
	while (p->flushed != cyc) {
		p->flushed++;
		fold(p, p->flushed % 3);
	}
	return cyc;
}

/* ---- recording ------------------------------------------------------------- */

/*
 * Under p->lock: charge the sampled object to the bucket of its stack and
 * hang a special on its span; returns the bucket.  NULL when a bucket or
 * special is needed and *fresh / *sp (allocated by the caller, outside the
 * lock) is NULL.
 */
static struct prof_bucket *
record_locked(struct gch_heap *h, struct gch_span *s, uint32_t slot,
	      uint64_t size, const uintptr_t *pc, unsigned n,
	      struct prof_bucket **fresh, struct gch_prof_special **sp)
{
	struct gch_profile *p = h->prof;
	uint32_t cyc = gch_prof_catch_up(h, p);
	struct gch_prof_special *x = *sp ? *sp : p->free_specials;
	struct prof_bucket *b;

	if (!x)
		return NULL;
	b = prof_bucket(p, pc, n, size, fresh);
	if (!b)
		return NULL;
	if (x == p->free_specials)
		p->free_specials = x->next;
	else
		*sp = NULL;
	b->future[(cyc + 2) % 3].allocs++;
	b->future[(cyc + 2) % 3].alloc_bytes += size;
	x->b = b;
	x->slot = slot;
	x->next = s->samples;
	s->samples = x;
	return b;
}

/*
 * Record the object at slot @slot of @s, of @size bytes, as sampled.  Not
 * inlined: frame 0 of the stack is this function, dropped here; the
 * library's other frames (named gch_*) are dropped when the profile is
 * written, where names are known.  One lock round trip and no malloc when
 * the stack's bucket exists and a special is free (the common case); else
 * the memory is allocated outside the lock and the record retried once.
 */
static __attribute__((noinline)) void
prof_record(struct gch_heap *h, struct gch_span *s, uint32_t slot,
	    uint64_t size)
{
	struct gch_profile *p = h->prof;
	void *frames[GCH_PROF_MAXPC + 1];
	struct prof_bucket *fresh = NULL;
	struct gch_prof_special *sp = NULL;
	int n = backtrace(frames, GCH_PROF_MAXPC + 1);
	const uintptr_t *pc = (const uintptr_t *)(frames + 1);
	struct prof_bucket *b;

	n = n > 1 ? n - 1 : 0;
	gch_lock(&p->lock);
	b = record_locked(h, s, slot, size, pc, (unsigned)n, &fresh, &sp);
	gch_unlock(&p->lock);
	if (!b) {
		fresh = malloc(sizeof(*fresh));
		sp = malloc(sizeof(*sp));
		gch_lock(&p->lock);
		b = record_locked(h, s, slot, size, pc, (unsigned)n, &fresh,
				  &sp);
		if (!b)
			p->lost++;	/* out of memory: the sample is dropped */
		gch_unlock(&p->lock);
		free(fresh);
		free(sp);
	}
	/* the bucket outlives the lock: it is freed only with the heap */
	if (b)
		DTRACE_PROBE7(gcheap, sample_alloc, h,
			      s->base + (uintptr_t)slot * s->elemsize, size, b,
			      b->pc, b->npc, p->rate);
}

/* Move the free slots of @s's window from the @k-th on into the stash:
 * stash first, then the cache word (readers load the cache first). */
static void stash_from(struct gch_span *s, uint64_t w, uint32_t k)
{
	uint64_t lo = 0;

	for (uint32_t i = 0; i < k; i++) {
		lo |= w & -w;
		w &= w - 1;
	}
	gch_store_rlx(&s->sample_stash, w);
	gch_store_rel(&s->cache, lo);
}

/*
 * Charge the free slots @w of @s's window to @c's countdown.  When the
 * countdown ends inside them, the slot where it ends is the sample: it and
 * the slots above it go to the stash, and the next countdown starts at
 * once, so that other size classes' windows, opened before this one runs
 * dry, are charged to it (each byte is charged once: the stashed slots
 * after the sample are charged when it is taken).
 */
static void charge(struct gch_heap *h, struct gch_mcache *c,
		   struct gch_span *s, uint64_t w)
{
	uint64_t bytes = (uint64_t)gch_popcount64(w) * s->elemsize;
	uint32_t k;

	if (c->next_sample > bytes) {
		c->next_sample -= bytes;
		gch_store_rlx(&s->sample_stash, 0);
		gch_store_rel(&s->cache, w);
		return;
	}
	/* the sample is the object whose bytes reach the countdown */
	k = (uint32_t)((c->next_sample - 1) / s->elemsize);
	stash_from(s, w, k);
	c->next_sample = prof_draw(c, h->prof_rate);
}

void gch_profile_charge_window(struct gch_heap *h, struct gch_mcache *c,
			       struct gch_span *s, uint32_t n)
{
	if (unlikely(!c->sample_rng))
		prof_seed(h, c);
	if (c->sample_debt) {	/* take it now, from this window */
		c->sample_debt--;
		stash_from(s, s->cache, 0);
		return;
	}
	if (c->next_sample > (uint64_t)n * s->elemsize) {
		c->next_sample -= (uint64_t)n * s->elemsize;
		return;
	}
	charge(h, c, s, s->cache);
}

void *gch_profile_take_sampled(struct gch_heap *h, struct gch_mcache *c,
			       struct gch_span *s)
{
	uint64_t st = s->sample_stash;
	uint32_t bit = (uint32_t)__builtin_ctzll(st);
	uintptr_t p = s->win_addr + (uintptr_t)bit * s->elemsize;

	assert(st && !s->cache);
	charge(h, c, s, st & (st - 1));		/* the slots after it */
	prof_record(h, s, s->win_index + bit, s->elemsize);
	return (void *)p;
}

/*
 * A cache lets @s go: the window's unallocated slots below the stash were
 * charged and are credited back; a pending sample (a stash) is owed, and
 * taken from the next window the cache opens, so letting windows go at
 * every cycle does not bias the rate.
 */
void gch_profile_unstash(struct gch_mcache *c, struct gch_span *s)
{
	uint64_t st = s->sample_stash;

	c->next_sample += (uint64_t)gch_popcount64(s->cache) * s->elemsize;
	if (!st)
		return;
	gch_store_rel(&s->cache, s->cache | st);
	gch_store_rel(&s->sample_stash, 0);
	c->sample_debt++;
}

void gch_profile_large(struct gch_heap *h, struct gch_mcache *c,
		       struct gch_span *s)
{
	if (unlikely(!c->sample_rng))
		prof_seed(h, c);
	if (c->next_sample > s->elemsize) {
		c->next_sample -= s->elemsize;
		return;
	}
	c->next_sample = prof_draw(c, h->prof_rate);
	prof_record(h, s, 0, s->elemsize);
}

void gch_profile_sweep(struct gch_heap *h, struct gch_span *s)
{
	struct gch_profile *p = h->prof;
	struct gch_prof_special **pp = &s->samples, *sp;
	unsigned idx;

	gch_lock(&p->lock);
	idx = (gch_prof_catch_up(h, p) + 1) % 3;
	while ((sp = *pp)) {
		if ((s->markbits[sp->slot / 64] >> (sp->slot % 64)) & 1) {
			pp = &sp->next;
			continue;
		}
		*pp = sp->next;
		DTRACE_PROBE4(gcheap, sample_free, h,
			      s->base + (uintptr_t)sp->slot * s->elemsize,
			      sp->b->size, sp->b);
		sp->b->future[idx].frees++;
		sp->b->future[idx].free_bytes += sp->b->size;
		sp->next = p->free_specials;
		p->free_specials = sp;
	}
	gch_unlock(&p->lock);
}

void gch_profile_swept(struct gch_heap *h)
{
	struct gch_profile *p = h->prof;

	if (!p)
		return;
	gch_lock(&p->lock);
	fold(p, (gch_prof_catch_up(h, p) + 1) % 3);
	gch_unlock(&p->lock);
}

/* ---- environment, open and close ----------------------------------------- */

/* A byte count: decimal digits only (no sign, no suffix); -1 if bad. */
static int parse_rate(const char *e, uint64_t *out)
{
	uint64_t v = 0;

	if (!*e)
		return -1;
	for (const char *q = e; *q; q++) {
		if (*q < '0' || *q > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*q - '0');
	}
	if (v > PROF_MAX_NEXT)
		return -1;
	*out = v;
	return 0;
}

static void prof_env(struct gch_profile *p)
{
	const char *e = getenv("GCHEAP_PROFILE_RATE");
	int fd;

	p->rate = gch_profile_default_rate;
	if (e && *e && parse_rate(e, &p->rate)) {
		fprintf(stderr, "libgcheap: ignoring bad GCHEAP_PROFILE_RATE=%s "
			"(want bytes per sample: 0 (off) to 2^40); sampling "
			"every %llu bytes on average (0: off)\n", e,
			(unsigned long long)p->rate);
	}
	e = getenv("GCHEAP_PROFILE");
	if (!e || !*e)
		return;
	/* find out now, not at exit, that the file cannot be written */
	fd = open(e, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		fprintf(stderr, "libgcheap: GCHEAP_PROFILE=%s: %s; no heap "
			"profile will be written\n", e, strerror(errno));
		return;
	}
	close(fd);
	p->path = strdup(e);
}

int gch_profile_open(struct gch_heap *h)
{
	struct gch_profile *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	gch_lock_init(&p->lock);
	prof_env(p);
	p->flushed = gch_load(&h->sweepgen) / 2;
	if (p->rate) {
		void *warm[2];

		/* the first backtrace() loads libgcc_s: not on a sampled
		 * allocation, where the thread must not wait for the loader */
		backtrace(warm, 2);
	}
	h->prof = p;
	h->prof_rate = p->rate;
	if (p->path)
		gch_prof_exit_register(h);
	return 0;
}

void gch_profile_destroy(struct gch_heap *h)
{
	struct gch_profile *p = h->prof;

	if (!p)
		return;
	if (p->path)	/* a heap that failed to open was registered */
		gch_prof_exit_unregister(h);
	h->prof = NULL;
	h->prof_rate = 0;
	while (p->all) {
		struct prof_bucket *b = p->all;

		p->all = b->all;
		free(b);
	}
	while (p->free_specials) {
		struct gch_prof_special *sp = p->free_specials;

		p->free_specials = sp->next;
		free(sp);
	}
	free(p->tab);
	free(p->path);
	free(p);
}

/* Close: the specials of spans still in the heap go with it. */
void gch_profile_drop_span(struct gch_heap *h, struct gch_span *s)
{
	struct gch_profile *p = h->prof;

	while (s->samples) {
		struct gch_prof_special *sp = s->samples;

		s->samples = sp->next;
		if (p) {
			sp->next = p->free_specials;
			p->free_specials = sp;
		} else {
			free(sp);
		}
	}
}

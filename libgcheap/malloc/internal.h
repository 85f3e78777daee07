/* SPDX-License-Identifier: MIT */
/*
 * libgcheap internals shared by the allocator's files (and by the collector,
 * which builds on them).
 *
 * Layout of a heap
 * ----------------
 * One PROT_NONE reservation of max_arenas * 64 MiB at h->base; arena i is
 * mapped (kernel) or made accessible (host) at base + i * 64 MiB, so heap
 * page p is at base + p * 8 KiB.  h->pagemap[p] is the kernel's page-map
 * entry (GCH_PME_*); h->spanslots[p] holds the address of the struct
 * gch_span of the span that page p is in, 0 for a free page (written for
 * every page of a span when it is created, cleared for every page when it
 * is released), so any address reaches its span in one load.  Entries are
 * only read for pages below h->mapped_pages (the kernel's maps raise SIGBUS
 * past the created arenas).
 *
 * Allocation path (Go's mcache -> mcentral -> page heap)
 * ------------------------------------------------------
 * Each thread owns one struct gch_mcache per heap, reached through the TLS
 * array gch_tls_mcache[h->slot].  Unattached slots point at gch_mcache_none,
 * whose every span class points at gch_span_empty (an empty window), so the
 * fast path needs no NULL or heap check: an empty window sends it to the
 * slow path, which attaches the thread.
 *
 * A span hands out slots through a 64-slot window: win_addr is the address of
 * slot win_index (a multiple of 64) and bit i of cache set means slot
 * win_index + i is free.  The fast path takes the lowest set bit and clears
 * it; bits are consumed in ascending order, so everything below the lowest
 * set bit is allocated (Go's freeindex).  Whoever owns the span (the mcache
 * that caches it, or its mcentral under the lock) is the only writer of the
 * window; others read it with relaxed atomics.
 *
 * Heap profile sampling (profile.c) costs the fast path nothing: the sample
 * countdown is charged when the slow path opens a window, and when the
 * sample falls inside it, the free slots from the sampled one on wait in
 * span->sample_stash, so the window runs dry there and the one unlikely
 * branch above takes the slow path, which records the sample.
 *
 * Locking
 * -------
 *  h->lock            attached mcache list, slot table, span pool, close.
 *  mcentral.lock      that span class's lists and the spans on them.
 *  page layer         its own locks (host) or the kernel's.
 * Lock order: h->lock before mcentral.lock before page-layer locks.
 * No lock is held while calling the out-of-memory handler or the pacer hook.
 */
#ifndef GCHEAP_INTERNAL_H
#define GCHEAP_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/gcheap.h>

#include "gcheap.h"

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define GCH_HIDDEN	__attribute__((visibility("hidden")))
#define GCH_CACHELINE	64

#define gch_load(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define gch_store_rlx(p, v)		__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define gch_load_acq(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define gch_store_rel(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define gch_add(p, v)		__atomic_add_fetch((p), (v), __ATOMIC_RELAXED)

/*
 * A mutex that knows its owner, so functions that need a lock held can
 * assert it (gch_assert_held).  Adaptive (spins briefly before sleeping):
 * every critical section under these locks is a few list or field updates,
 * and a refill meeting the background sweeper on a central lock would
 * otherwise pay a futex sleep and wake-up for a wait of nanoseconds.
 */
struct gch_lock {
	pthread_mutex_t mu;
	pthread_t owner;
};

static inline void gch_lock_init(struct gch_lock *l)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&l->mu, &a);
	pthread_mutexattr_destroy(&a);
	l->owner = 0;
}

static inline void gch_lock(struct gch_lock *l)
{
	pthread_mutex_lock(&l->mu);
	gch_store_rlx(&l->owner, pthread_self());
}

static inline void gch_unlock(struct gch_lock *l)
{
	gch_store_rlx(&l->owner, (pthread_t)0);
	pthread_mutex_unlock(&l->mu);
}

#define gch_assert_held(l) \
	assert(pthread_equal(gch_load(&(l)->owner), pthread_self()))

/*
 * Population count.  Without -mpopcnt (Debian's x86-64 baseline has no
 * POPCNT) __builtin_popcountll is a libgcc call; the bit-sliced sum below
 * is a dozen inline instructions.
 */
static inline unsigned gch_popcount64(uint64_t x)
{
#ifdef __POPCNT__
	return (unsigned)__builtin_popcountll(x);
#else
	x -= (x >> 1) & 0x5555555555555555ULL;
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (unsigned)((x * 0x0101010101010101ULL) >> 56);
#endif
}

/* ---- size classes (sizeclass.c) ---------------------------------------- */

#define GCH_NUM_CLASSES		68	/* class 0 is "large", 1..67 small */
#define GCH_NUM_SPANCLASSES	(GCH_NUM_CLASSES * 2)
/* Classes of the commonest small objects, which the marker scans with
 * straight-line code (gc/mark.c); sizeclass.c checks them at start-up. */
#define GCH_CLASS_16B		2
#define GCH_CLASS_24B		3
#define GCH_CLASS_32B		4
/* The largest class whose objects fit one cache line when aligned; the
 * marker prefetches the further lines of larger ones (gc/mark.c). */
#define GCH_CLASS_64B		6
#define GCH_MAX_SMALL		32768
#define GCH_TINY_SIZE		16
#define GCH_TINY_CLASS		GCH_CLASS_16B	/* backs tiny blocks */
#define GCH_MAX_SPAN_OBJS	1024	/* 8 B objects in one 8 KiB page */
#define GCH_BITMAP_WORDS	(GCH_MAX_SPAN_OBJS / 64)

struct gch_class {
	uint32_t size;		/* bytes per object */
	uint32_t npages;	/* pages per span */
	uint32_t nelems;	/* objects per span */
	uint32_t divmul;	/* (off * divmul) >> 32 == off / size */
};

extern const struct gch_class gch_classes[GCH_NUM_CLASSES] GCH_HIDDEN;
/* size_to_class[(size + 7) >> 3] for 0 <= size <= GCH_MAX_SMALL; filled by
 * gch_sizeclass_init() (idempotent, thread-safe) before any heap opens. */
extern uint8_t gch_size_to_class[GCH_MAX_SMALL / 8 + 1] GCH_HIDDEN;
void gch_sizeclass_init(void) GCH_HIDDEN;

/* A span class: size class << 1 | noscan. */
static inline unsigned gch_spanclass(unsigned sizeclass, unsigned noscan)
{
	return sizeclass << 1 | noscan;
}

/* ---- spans (span.c) ----------------------------------------------------- */

enum gch_span_state {
	GCH_SPAN_DEAD = 0,	/* in the span pool */
	GCH_SPAN_INUSE,		/* small span or large object */
};

struct gch_span_list {
	struct gch_span *first;
	uint64_t count;
};

/*
 * Span metadata.  The first cache line is the fast path's.  Fields below it
 * belong to the span's owner: the mcache caching it (incache set) or else
 * its mcentral (under mcentral.lock); the collector changes them with the
 * world stopped or the span claimed through sweepgen.
 */
struct gch_span {
	/*
	 * First line: what the allocation fast path reads (cache, win_addr,
	 * elemsize) and what the marker reads for every candidate pointer
	 * (base, divmul, nelems, win_index, spanclass, markbits, ptrbits):
	 * one line of the span per pointer marked, where markbits and
	 * ptrbits on the second line made it two (cachegrind: 2.0 -> 1.45
	 * first-level misses per node marking a binary tree).
	 */
	uint64_t cache;		/* free bits of the window; relaxed atomics */
	uintptr_t win_addr;	/* address of slot win_index */
	uintptr_t elemsize;
	uint32_t win_index;	/* first slot of the window (multiple of 64) */
	uint32_t nelems;
	uint32_t divmul;
	uint8_t spanclass;
	uint8_t state;		/* enum gch_span_state */
	uint8_t incache;	/* owned by an mcache */
	uint8_t needzero;	/* free slots may hold garbage (Go's needzero) */
	uintptr_t base;		/* address of page */
	/*
	 * Alloc, mark and typed bits (one per slot each) live in one block
	 * from gcbits.c; allocbits and markbits point at its first two thirds
	 * and sweeping swaps them as Go does (mark bits become alloc bits).
	 */
	uint64_t *markbits;
	uint64_t *ptrbits;	/* typed objects: one bit per word of the span,
				 * allocated on the first typed object */

	uint32_t win_free;	/* popcount(cache) when the window was taken */
	uint32_t sweepgen;	/* Go's: h->sweepgen - 2 needs sweeping, - 1
				 * being swept, == swept */
	/*
	 * Free slots of the window held back from cache because the heap
	 * profile's next sample falls among them (profile.c): the fast path
	 * runs dry at the sampled slot and the slow path takes it.  Counted
	 * as free by every reader of the window; 0 outside an mcache.
	 */
	uint64_t sample_stash;
	uint32_t page;		/* first heap page */
	uint32_t npages;
	uint32_t nalloc;	/* slots allocated, windows counted when left */
	uint32_t pad;
	struct gch_span *next;	/* mcentral list or span pool */
	/* sampled objects of the span (profile.c), written by its owner or
	 * by the sweeper that claimed it; on the line sweeping reads anyway */
	struct gch_prof_special *samples;
	uint64_t *allocbits;
	uint64_t *typedbits;	/* slot has a pointer layout */
	uint64_t *bitmem;	/* the block of all three (gcbits.c) */
	uint32_t bitwords;	/* words per bitmap: ceil(nelems / 64) */
	/*
	 * Free bits of the window when its current owner got it (window
	 * opened, or span cached): what is free there and no longer in
	 * cache at close was allocated meanwhile (black allocation, span.c).
	 */
	uint64_t black_from;
	/*
	 * Objects scanned by a procedure (libgc.so.1's custom kinds): per
	 * slot, the descriptor the collector's scan hook gets (gc/mark.c);
	 * allocated on the first such object.  A slot's entry means something
	 * only while its typed bit is set: such a slot's ptrbits are all
	 * clear, and a slot given a pointer layout has its entry cleared.
	 */
	uint64_t *procdescr;
} __attribute__((aligned(GCH_CACHELINE)));	/* fast path in one line */
_Static_assert(offsetof(struct gch_span, ptrbits) + sizeof(uint64_t *) <=
	       GCH_CACHELINE, "the fast path's and the marker's fields share a line");
_Static_assert(offsetof(struct gch_span, samples) / GCH_CACHELINE == 1 &&
	       offsetof(struct gch_span, typedbits) / GCH_CACHELINE == 1,
	       "what sweeping reads past the first line is on the second");

/*
 * While a cycle marks beside the program: the address range of the heap it
 * marks (0, 0 otherwise).  Slots allocated in it then are allocated black:
 * gch_span_close_window() sets their mark bits and counts their bytes in
 * gch_black_bytes.  Written by the collector with the world stopped.
 */
extern uintptr_t gch_black_lo GCH_HIDDEN, gch_black_hi GCH_HIDDEN;
extern uint64_t gch_black_bytes GCH_HIDDEN;

/* The window everyone starts from: no free slot, so the fast path falls
 * through to the slow path. */
extern struct gch_span gch_span_empty GCH_HIDDEN;

void gch_span_init(struct gch_span *s, unsigned spanclass, uint32_t page,
		   uint32_t npages, uintptr_t base, bool zeroed) GCH_HIDDEN;
uint32_t gch_span_next_window(struct gch_span *s) GCH_HIDDEN;
uint32_t gch_span_close_window(struct gch_span *s) GCH_HIDDEN;
void gch_span_rewind(struct gch_span *s) GCH_HIDDEN;
int gch_span_set_proc(struct gch_span *s, uintptr_t obj, uint64_t descr)
	GCH_HIDDEN;
void *gch_malloc_proc(struct gch_heap *h, size_t size, uint64_t descr)
	GCH_HIDDEN;
int gch_span_set_ptrbits(struct gch_span *s, uintptr_t obj,
			 const uint64_t *ptrmap, size_t nwords) GCH_HIDDEN;

/*
 * Is slot @idx of @s allocated?  For any thread, while the span's owner may
 * be opening its next window: the owner stores win_index before it
 * publishes the new cache (release, span.c), so an index read before the
 * move with a cache read after it -- which would test an old object's slot
 * against the next window's free bits and call a live object free -- is
 * caught by reading the index again.  The other order (new index, old
 * cache) only errs towards "allocated": a used-up window's cache is empty.
 * The concurrent marker calls this for every candidate pointer; with the
 * world stopped the retry costs one load.
 */
static inline bool gch_span_slot_allocated(const struct gch_span *s,
					   uint32_t idx)
{
	/*
	 * Below the window a slot is allocated until the next sweep, and a
	 * window only moves up between sweeps: one load answers, without
	 * the loop's second look -- nothing else is read that the window's
	 * move could make stale.  The common case for a marker: a span that
	 * was swept full has its window past the end (span.c).
	 */
	if (idx < gch_load_acq(&s->win_index))
		return true;
	for (;;) {
		uint32_t win = gch_load_acq(&s->win_index);
		/* cache before stash: the owner stores them in the other
		 * order (profile.c), so a slot moving between them is seen */
		uint64_t cache = gch_load_acq(&s->cache);
		uint64_t stash = gch_load_acq(&s->sample_stash);
		bool alloc;

		if (idx < win)
			alloc = true;
		else if (idx - win < 64)
			alloc = !(((cache | stash) >> (idx - win)) & 1);
		else
			alloc = (gch_load(&s->allocbits[idx / 64]) >>
				 (idx % 64)) & 1;
		if (likely(gch_load(&s->win_index) == win))
			return alloc;
	}
}

static inline uint32_t gch_span_index(const struct gch_span *s, uintptr_t p)
{
	return (uint32_t)(((uint64_t)(p - s->base) * s->divmul) >> 32);
}

static inline bool gch_span_full(const struct gch_span *s)
{
	return s->nalloc == s->nelems;
}

/* ---- span bitmaps (gcbits.c); callers hold h->lock ------------------------ */

struct gch_heap;
uint64_t *gch_bits_alloc(struct gch_heap *h, uint32_t words) GCH_HIDDEN;
void gch_bits_free(struct gch_heap *h, uint64_t *p, uint32_t words) GCH_HIDDEN;
void gch_bits_destroy(struct gch_heap *h) GCH_HIDDEN;

/* ---- page layer (pagelayer_kernel.c, pagelayer_host.c) ------------------ */

struct gch_heap;

struct gch_pagelayer {
	const char *name;
	enum gch_backend kind;
	/* Allocate @npages contiguous pages; 0 or -ENOMEM.  Thread-safe. */
	int (*span_alloc)(struct gch_heap *h, uint32_t npages, uint32_t *page,
			  bool *zeroed);
	/* Free @n spans (any n; batched); 0 or -errno, all or nothing per
	 * batch of GCH_SPAN_FREE_MAX.  Thread-safe. */
	int (*span_free)(struct gch_heap *h, const struct gch_span_ref *refs,
			 uint32_t n);
	int (*limits)(struct gch_heap *h, struct gch_limits *l);
	int (*stats)(struct gch_heap *h, struct gch_stats *st);
	void (*close)(struct gch_heap *h);
	/* Give back pages the layer holds for later spans (none: NULL);
	 * returns how many spans it gave back.  Thread-safe. */
	uint32_t (*trim)(struct gch_heap *h);
};

int gch_pl_kernel_open(struct gch_heap *h, const struct gch_options *o)
	GCH_HIDDEN;
/* The /dev/gcheap descriptor of @h, or -1 for the host backend. */
int gch_heap_kernel_fd(struct gch_heap *h) GCH_HIDDEN;
/* The module's GCH_FEAT_* from the open's handshake; 0 for the host. */
uint64_t gch_heap_kernel_features(struct gch_heap *h) GCH_HIDDEN;
/* One PROT_NONE reservation of @n arenas, 64 MiB aligned; 0 on failure. */
uintptr_t gch_reserve_arenas(uint32_t n) GCH_HIDDEN;
int gch_pl_host_open(struct gch_heap *h, const struct gch_options *o)
	GCH_HIDDEN;

/* ---- central lists (mcentral.c) ----------------------------------------- */

/*
 * Per span class, Go's mcentral: spans with free slots (partial) and without
 * (full), each in a swept and an unswept set picked by sweepgen parity as in
 * Go (the swept set is [sweepgen / 2 % 2]).  lock protects the lists and the
 * spans on them.
 */
struct gch_mcentral {
	struct gch_lock lock;
	unsigned spanclass;
	struct gch_span_list partial[2];
	struct gch_span_list full[2];
} __attribute__((aligned(GCH_CACHELINE)));

struct gch_span *gch_mcentral_cache_span(struct gch_heap *h,
					 struct gch_mcentral *c) GCH_HIDDEN;
void gch_mcentral_uncache_span(struct gch_heap *h, struct gch_mcentral *c,
			       struct gch_span *s) GCH_HIDDEN;
void gch_mcentral_push_full(struct gch_heap *h, struct gch_mcentral *c,
			    struct gch_span *s) GCH_HIDDEN;
void gch_span_list_push(struct gch_span_list *l, struct gch_span *s) GCH_HIDDEN;
struct gch_span *gch_span_list_pop(struct gch_span_list *l) GCH_HIDDEN;

static inline struct gch_span_list *
gch_partial_swept(struct gch_mcentral *c, uint32_t sweepgen)
{
	return &c->partial[sweepgen / 2 % 2];
}

static inline struct gch_span_list *
gch_full_swept(struct gch_mcentral *c, uint32_t sweepgen)
{
	return &c->full[sweepgen / 2 % 2];
}

/* ---- per-thread caches (mcache.c) --------------------------------------- */

struct gch_mcache {
	struct gch_span *alloc[GCH_NUM_SPANCLASSES];
	uintptr_t tiny;		/* current tiny block, 0: none */
	uintptr_t tinyoffset;	/* bytes of it used; 16 when there is none */
	struct gch_heap *heap;
	/* counters written by the owner only, read by gch_stats() */
	uint64_t alloc_bytes;
	uint64_t alloc_objects;
	uint64_t large_bytes;
	uint64_t large_objects;
	int64_t pacer_pending;	/* bytes not yet added to the heap's pacer */
	/* heap profile (profile.c): bytes to allocate before the next sample
	 * (charged a window at a time), and the sampler's random state */
	uint64_t next_sample;
	uint64_t sample_rng;
	uint64_t sample_debt;	/* samples due whose window was let go */
	/* for the collector: who owns this cache and where its stack is */
	pthread_t thread;
	uintptr_t stack_lo, stack_hi;
	struct gch_mcache *next, *prev;	/* h->caches, under h->lock */
};

extern __thread struct gch_mcache *gch_tls_mcache[GCH_MAX_HEAPS]
	__attribute__((tls_model("initial-exec"))) GCH_HIDDEN;
extern struct gch_mcache gch_mcache_none GCH_HIDDEN;

struct gch_mcache *gch_mcache_attach(struct gch_heap *h) GCH_HIDDEN;
void gch_mcache_detach(struct gch_heap *h, struct gch_mcache *c) GCH_HIDDEN;
/* World stopped (owners parked): every attached cache of @h gives back its
 * spans and drops its tiny block; the caches stay attached. */
void gch_heap_release_all_caches(struct gch_heap *h) GCH_HIDDEN;
void *gch_mcache_refill(struct gch_heap *h, struct gch_mcache *c,
			unsigned spanclass) GCH_HIDDEN;
void *gch_mcache_tiny_slow(struct gch_heap *h, struct gch_mcache *c,
			   size_t size) GCH_HIDDEN;
void gch_mcache_account(struct gch_heap *h, struct gch_mcache *c,
			uint64_t bytes, uint64_t objects) GCH_HIDDEN;

/* ---- large objects (large.c) -------------------------------------------- */

void *gch_large_alloc(struct gch_heap *h, size_t size, unsigned noscan)
	GCH_HIDDEN;

/* ---- heap profile (profile.c, pprof.c) ------------------------------------ */

struct gch_profile;
struct gch_prof_special;

/* The rate without GCHEAP_PROFILE_RATE (profile.c; libgc.so.1 may set 0
 * before the first gch_open). */
extern uint64_t gch_profile_default_rate GCH_HIDDEN;
/* gch_open: read GCHEAP_PROFILE_RATE and GCHEAP_PROFILE, set h->prof and
 * h->prof_rate (0: sampling off).  0 or -ENOMEM. */
int gch_profile_open(struct gch_heap *h) GCH_HIDDEN;
/* gch_close, before the collector goes: write GCHEAP_PROFILE's file if
 * asked (pprof.c). */
void gch_profile_at_close(struct gch_heap *h) GCH_HIDDEN;
/* gch_close, at the end: drop a span's samples, then free the profile. */
void gch_profile_drop_span(struct gch_heap *h, struct gch_span *s) GCH_HIDDEN;
void gch_profile_destroy(struct gch_heap *h) GCH_HIDDEN;
/* A cache's span window was just opened with @n free slots: charge them
 * to the cache's sample countdown, stashing the slots from the sampled one
 * on when it falls inside. */
void gch_profile_charge_window(struct gch_heap *h, struct gch_mcache *c,
			       struct gch_span *s, uint32_t n) GCH_HIDDEN;
/* The window ran dry at a stashed (sampled) slot: take it and record it. */
void *gch_profile_take_sampled(struct gch_heap *h, struct gch_mcache *c,
			       struct gch_span *s) GCH_HIDDEN;
/* Before a cache lets go of @s: stashed slots back into the window and the
 * unallocated rest credited back to the countdown. */
void gch_profile_unstash(struct gch_mcache *c, struct gch_span *s) GCH_HIDDEN;
/* A large object of @s was allocated: charge it, sample it if due. */
void gch_profile_large(struct gch_heap *h, struct gch_mcache *c,
		       struct gch_span *s) GCH_HIDDEN;
/* Sweeper, span claimed, before the mark bits become alloc bits: record
 * the frees of the span's unmarked sampled objects. */
void gch_profile_sweep(struct gch_heap *h, struct gch_span *s) GCH_HIDDEN;
/* Sweeper: the cycle's last span is swept (Go's mProf_PostSweep). */
void gch_profile_swept(struct gch_heap *h) GCH_HIDDEN;

/* ---- the heap (mheap.c) ------------------------------------------------- */

#define GCH_PACER_FLUSH		(64 * 1024)

struct gch_heap {
	/* read-mostly, hot */
	uintptr_t base;
	const uint64_t *pagemap;
	uint64_t *spanslots;
	uint64_t mapped_pages;		/* relaxed/acquire loads */
	unsigned slot;			/* index into gch_tls_mcache */
	uint32_t sweepgen;		/* Go's mheap.sweepgen */
	const struct gch_pagelayer *pl;
	void *pl_priv;
	uint32_t max_arenas;
	enum gch_backend backend;

	gch_oom_fn oom_fn;		/* written under h->lock, read racily */
	void *oom_arg;

	/* pacer hook: the collector sets trigger and hook; allocation adds to
	 * alloc_since_cycle in steps of GCH_PACER_FLUSH and calls hook when it
	 * passes trigger (0: never). */
	uint64_t alloc_since_cycle;
	uint64_t pacer_trigger;
	void (*pacer_hook)(struct gch_heap *h, uint64_t since_cycle);

	struct gch_lock lock;
	struct gch_mcache *caches;
	uint32_t nthreads;
	struct gch_span *span_pool;	/* free struct gch_span, via next */
	/* never used records of the newest chunk, handed out in order */
	struct gch_span *span_fresh, *span_fresh_end;
	void *span_chunks;		/* mmap'ed chunks, for close */
	uint64_t *bits_free[GCH_BITMAP_WORDS + 1];	/* gcbits.c */
	void *bits_chunks;
	char *bits_bump;
	size_t bits_left;

	/* totals of detached caches and counters kept outside caches */
	uint64_t done_alloc_bytes, done_alloc_objects;
	uint64_t done_large_bytes, done_large_objects;
	uint64_t span_bytes, nspans, oom_count;

	/* heap profile (profile.c): bytes per sample (0: off) and records */
	uint64_t prof_rate;
	struct gch_profile *prof;

	struct gch_mcentral central[GCH_NUM_SPANCLASSES];
};

/* The collector's hook: a cycle swept, or memory is short. */
static inline void gch_pl_trim(struct gch_heap *h)
{
	if (h->pl->trim)
		h->pl->trim(h);
}

struct gch_span *gch_span_new(struct gch_heap *h, unsigned spanclass,
			      uint32_t npages) GCH_HIDDEN;
void gch_span_release(struct gch_heap *h, struct gch_span **spans,
		      uint32_t n) GCH_HIDDEN;
void *gch_alloc_failed(struct gch_heap *h, size_t size, unsigned spanclass)
	GCH_HIDDEN;
void *gch_mcache_refill_try(struct gch_heap *h, unsigned spanclass)
	GCH_HIDDEN;
void *gch_large_try(struct gch_heap *h, size_t size, unsigned noscan)
	GCH_HIDDEN;
/* Several small objects of one size at once (alloc.c; libgc.so.1). */
size_t gch_malloc_many(struct gch_heap *h, size_t size, unsigned noscan,
		       void **out, size_t want) GCH_HIDDEN;

/* The span holding address @p, or NULL: its page's span slot. */
static inline struct gch_span *gch_span_of(struct gch_heap *h, uintptr_t p)
{
	uintptr_t off = p - h->base;

	if (off >= gch_load_acq(&h->mapped_pages) << GCH_PAGE_SHIFT)
		return NULL;
	return (struct gch_span *)(uintptr_t)
		gch_load_acq(&h->spanslots[off >> GCH_PAGE_SHIFT]);
}

/* ---- fast paths ----------------------------------------------------------- */

static inline struct gch_mcache *gch_mcache_of(struct gch_heap *h)
{
	return gch_tls_mcache[h->slot];
}

/* Small object of span class @sc: take the lowest free bit of the window. */
static inline void *gch_alloc_small(struct gch_heap *h, unsigned sc)
{
	struct gch_mcache *c = gch_mcache_of(h);
	struct gch_span *s = c->alloc[sc];
	uint64_t bits = s->cache;

	if (unlikely(bits == 0))
		return gch_mcache_refill(h, c, sc);
	gch_store_rlx(&s->cache, bits & (bits - 1));
	return (void *)(s->win_addr +
			(uintptr_t)__builtin_ctzll(bits) * s->elemsize);
}

/* Tiny noscan object, 1 <= size < 16: bump inside the thread's 16 B block,
 * aligned to the lowest set bit of size (its natural alignment). */
static inline void *gch_alloc_tiny(struct gch_heap *h, size_t size)
{
	struct gch_mcache *c = gch_mcache_of(h);
	uintptr_t align = size & -size;
	uintptr_t off = (c->tinyoffset + align - 1) & ~(align - 1);

	if (unlikely(off + size > GCH_TINY_SIZE))
		return gch_mcache_tiny_slow(h, c, size);
	c->tinyoffset = off + size;
	return (void *)(c->tiny + off);
}

#endif /* GCHEAP_INTERNAL_H */

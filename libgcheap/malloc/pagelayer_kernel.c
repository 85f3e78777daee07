// SPDX-License-Identifier: MIT
/*
 * The kernel page layer: /dev/gcheap (uapi/linux/gcheap.h).
 *
 * Open: GCH_IOC_VERSION handshake (ABI, page and arena shifts, page map and
 * span slots must be offered), one PROT_NONE reservation of max_arenas
 * arenas aligned to 64 MiB, the page map mapped read-only and the span slots
 * read-write, and arena 0 mapped MAP_FIXED at the reservation's start.
 *
 * Spans: GCH_IOC_SPAN_ALLOC.  Its -ENOMEM means either "no created arena has
 * room" (map the next arena and retry) or "the hard limit / module cap" (give
 * up).  The kernel counts limit refusals in limit_hits, so after an -ENOMEM
 * we read GCH_IOC_STATS: a limit_hits above the last value we saw means a
 * limit refused someone; we fail then rather than map arenas that could not
 * be used.  (Racing threads can make one of them fail spuriously right at
 * the limit; never the other way round.)
 *
 * Populating: a first touch of heap memory is a page fault per 4 KiB system
 * page, and where faults are dear (~13 us under qemu's TCG) they dominated
 * allocation on this backend.  Every arena mapping is marked
 * madvise(MADV_SEQUENTIAL), which asks the module to populate the small
 * spans it hands out in that arena (at most GCH_POPULATE_MAX_PAGES heap
 * pages, the host backend's prefault chunk) inside the SPAN_ALLOC call this
 * layer makes anyway: no fault and no extra syscall per span.  The
 * allocator writes a small span whole before giving it up, so nothing is
 * populated in vain; larger spans fault on demand (the program may touch
 * them sparsely).  Only the span itself is populated, so GCH_SPAN_ZEROED
 * stays exact for the spans that follow.  A module without it ignores the
 * advice; a failing madvise() only costs the faults it would have saved.
 *
 * Objects larger than an arena: a span of more than GCH_PAGES_PER_ARENA
 * pages is asked for with GCH_SPAN_ALLOC_CROSS (module has
 * GCH_FEAT_CROSS_SPANS), which lets it run over the boundaries of
 * consecutive created arenas.  That is sound here because every arena is
 * mapped at base + i * 64 MiB in one reservation, so consecutive arenas are
 * contiguous memory, and the page map gives every page of such a span its
 * head and length as for any span.  On -ENOMEM the heap grows by as many
 * arenas as the free run at the top of the created ones (read from the page
 * map) lacks, all at once, and not at all if the reservation cannot hold
 * them: a request the heap can never satisfy must not create (and have the
 * kernel allocate tables for) every arena first.  Smaller spans never ask
 * to cross: they stay inside one arena as before (and small ones keep being
 * populated).  A module without the feature cannot hold such a span:
 * ENOMEM, as the library always said.
 *
 * Batches: one GCH_IOC_SPAN_ALLOC per small span was most of what a small
 * object cost beyond the in-process backend (about 3 to 7 us per call under
 * TCG, bench/kmod-populate.md).  With GCH_FEAT_SPAN_BATCH, a request for a
 * span of 1 or 2 pages (the small size classes) that finds the per-heap
 * stash empty asks the kernel for STASH_BATCH_PAGES worth of such spans in
 * one call (GCH_SPAN_ALLOC_BATCH), keeps the first and stashes the rest,
 * each with its own GCH_SPAN_ZEROED.  The kernel populates the whole batch
 * at once; the allocator would have written those spans soon anyway.
 * Stashed spans are allocated as far as the kernel is concerned but are no
 * object's: mheap never saw them, so the library's span and object counts
 * leave them out.  So that they never hold memory the scavenger could give
 * back, the stash goes back to the kernel (GCH_IOC_SPAN_FREE, pl->trim) at
 * the end of every GC cycle's sweep (gc_announce(GCH_GC_SWEEP_END), which
 * also lets the kernel's scavenger resume), before answering a memory
 * pressure event, when any allocation gets -ENOMEM (before the limit
 * check or a new arena: the allocation is retried, since stashed pages must
 * neither make it fail nor make the heap grow around them), and when the
 * heap closes.  A module without the feature gets one call per span.
 *
 * Locking: grow_lock serialises arena creation and limit_hits bookkeeping;
 * stash_lock guards the stash and is never held across a system call (a
 * batch is made into a local array, then stashed); everything else is the
 * kernel's to serialise.  h->mapped_pages is
 * published with a release store after the arena's mmap() succeeded, so a
 * reader that sees the page count can read those page-map entries.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* Spans of at most this many pages are batched and stashed. */
#define STASH_NPAGES		2
/* Pages one batch asks for: 128 KiB, the populate chunk of both backends. */
#define STASH_BATCH_PAGES	16
/* Room per length: two racing refills never have to free what they got. */
#define STASH_CAP		(2 * STASH_BATCH_PAGES)

/* Spans of one length, allocated from the kernel and not yet handed out. */
struct stash {
	uint32_t n;
	struct gch_span_out spans[STASH_CAP];
};

struct kernel_pl {
	int fd;
	struct gch_version ver;
	uint32_t narenas;		/* under grow_lock, read relaxed */
	uint64_t seen_limit_hits;	/* under grow_lock */
	struct gch_lock grow_lock;
	bool batch;			/* module has GCH_FEAT_SPAN_BATCH */
	struct gch_lock stash_lock;
	struct stash stash[STASH_NPAGES];	/* [npages - 1], stash_lock */
	void *pagemap;
	void *spanslots;
};

static struct kernel_pl *kpl(struct gch_heap *h)
{
	return h->pl_priv;
}

static int kioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* Map arena @i into the reservation.  Caller holds grow_lock. */
static int map_arena(struct gch_heap *h, uint32_t i)
{
	struct kernel_pl *k = kpl(h);
	void *want = (void *)(h->base + ((uintptr_t)i << GCH_ARENA_SHIFT));
	int saved;
	void *p;

	gch_assert_held(&k->grow_lock);
	p = mmap(want, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, k->fd, GCH_MMAP_ARENA(i));
	if (p == MAP_FAILED)
		return -errno;
	/* populate small spans as they are allocated (see the top) */
	saved = errno;
	madvise(p, GCH_ARENA_SIZE, MADV_SEQUENTIAL);
	errno = saved;
	gch_store_rlx(&k->narenas, i + 1);
	gch_store_rel(&h->mapped_pages,
		      (uint64_t)(i + 1) * GCH_PAGES_PER_ARENA);
	return 0;
}

/*
 * Arenas to add so that a span of @npages fits: 1 for a span inside one
 * arena; for a longer one, enough to extend the free run at the top of the
 * created arenas (the page map says where it starts; a racing allocation
 * may shorten it, and the caller's loop then grows again).
 */
static uint32_t arenas_needed(struct gch_heap *h, uint32_t narenas,
			      uint32_t npages)
{
	uint64_t top = (uint64_t)narenas * GCH_PAGES_PER_ARENA, p = top;

	if (npages <= GCH_MAX_SPAN_PAGES)
		return 1;
	while (p > 0 && !gch_load(&h->pagemap[p - 1]))
		p--;
	if (top - p >= npages)
		return 1;	/* it fits, but another thread took it */
	return (uint32_t)((npages - (top - p) + GCH_PAGES_PER_ARENA - 1) /
			  GCH_PAGES_PER_ARENA);
}

/*
 * SPAN_ALLOC of @npages said -ENOMEM while @seen arenas existed: retry (0)
 * if another thread mapped one meanwhile or we could map what it needs,
 * -ENOMEM if a limit is the reason or the reservation cannot hold it.
 */
static int grow(struct gch_heap *h, uint32_t seen, uint32_t npages)
{
	struct kernel_pl *k = kpl(h);
	struct gch_stats st = { .size = sizeof(st) };
	uint32_t add;
	int r;

	gch_lock(&k->grow_lock);
	if (k->narenas != seen) {
		gch_unlock(&k->grow_lock);
		return 0;
	}
	r = kioctl(k->fd, GCH_IOC_STATS, &st);
	if (!r && st.limit_hits != k->seen_limit_hits) {
		k->seen_limit_hits = st.limit_hits;
		r = -ENOMEM;
	} else if (!r) {
		add = arenas_needed(h, k->narenas, npages);
		r = add <= h->max_arenas - k->narenas ? 0 : -ENOMEM;
		while (!r && add--)
			r = map_arena(h, k->narenas);
	}
	gch_unlock(&k->grow_lock);
	return r ? -ENOMEM : 0;
}

static int kernel_span_free(struct gch_heap *h,
			    const struct gch_span_ref *refs, uint32_t n);

/* A stashed span of @npages, or false. */
static bool stash_take(struct kernel_pl *k, uint32_t npages, uint32_t *page,
		       bool *zeroed)
{
	struct stash *st = &k->stash[npages - 1];
	bool got = false;

	gch_lock(&k->stash_lock);
	/* the lowest first: spans go out in address order, as unbatched */
	if (st->n) {
		struct gch_span_out *o = &st->spans[0];

		*page = (uint32_t)o->page;
		*zeroed = o->out_flags & GCH_SPAN_ZEROED;
		memmove(st->spans, st->spans + 1, --st->n * sizeof(*o));
		got = true;
	}
	gch_unlock(&k->stash_lock);
	return got;
}

/* Stash the spans @o[0..n) of @npages; free those that find no room. */
static void stash_put(struct gch_heap *h, uint32_t npages,
		      const struct gch_span_out *o, uint32_t n)
{
	struct kernel_pl *k = kpl(h);
	struct stash *st = &k->stash[npages - 1];
	struct gch_span_ref over[STASH_BATCH_PAGES];
	uint32_t nover = 0;

	gch_lock(&k->stash_lock);
	for (uint32_t i = 0; i < n; i++) {
		if (st->n < STASH_CAP) {
			st->spans[st->n++] = o[i];
		} else {
			over[nover].page = (uint32_t)o[i].page;
			over[nover++].npages = npages;
		}
	}
	gch_unlock(&k->stash_lock);
	if (nover)
		kernel_span_free(h, over, nover);
}

/*
 * Give every stashed span back to the kernel; returns how many.  The
 * pagelayer's trim op: see "Batches" at the top for who calls it.
 */
static uint32_t kernel_trim(struct gch_heap *h)
{
	struct kernel_pl *k = kpl(h);
	struct gch_span_ref refs[STASH_NPAGES * STASH_CAP];
	uint32_t n = 0;

	if (!k->batch)
		return 0;
	gch_lock(&k->stash_lock);
	for (uint32_t len = 1; len <= STASH_NPAGES; len++) {
		struct stash *st = &k->stash[len - 1];

		for (uint32_t i = 0; i < st->n; i++) {
			refs[n].page = (uint32_t)st->spans[i].page;
			refs[n++].npages = len;
		}
		st->n = 0;
	}
	gch_unlock(&k->stash_lock);
	/* spans we allocated and hold: only a broken module refuses them */
	if (n)
		kernel_span_free(h, refs, n);
	return n;
}

/*
 * One SPAN_ALLOC call for @npages: a batch when @batch (the first span is
 * the caller's, the rest go to the stash), else a single span.
 */
static int span_alloc_call(struct gch_heap *h, uint32_t npages,
			   uint32_t flags, bool batch, uint32_t *page,
			   bool *zeroed)
{
	struct gch_span_out out[STASH_BATCH_PAGES];
	struct gch_span_alloc a = {
		.size = sizeof(a),
		.flags = flags,
		.npages = npages,
	};
	int r;

	if (batch) {
		a.flags |= GCH_SPAN_ALLOC_BATCH;
		a.count = STASH_BATCH_PAGES / npages;
		a.spans = (uint64_t)(uintptr_t)out;
	}
	r = kioctl(kpl(h)->fd, GCH_IOC_SPAN_ALLOC, &a);
	if (r)
		return r;
	*page = (uint32_t)a.page;
	*zeroed = a.out_flags & GCH_SPAN_ZEROED;
	if (batch && a.done > 1)
		stash_put(h, npages, out + 1, a.done - 1);
	return 0;
}

/*
 * A trim made room after an -ENOMEM: if a limit caused it, the kernel counted
 * a limit hit that the retry overcame, and grow() must not take it for a new
 * one later.  (Another thread's hit read here too only costs that thread an
 * arena mapped in vain before it sees the next one.)
 */
static void limit_hits_seen(struct gch_heap *h)
{
	struct kernel_pl *k = kpl(h);
	struct gch_stats st = { .size = sizeof(st) };

	gch_lock(&k->grow_lock);
	if (!kioctl(k->fd, GCH_IOC_STATS, &st))
		k->seen_limit_hits = st.limit_hits;
	gch_unlock(&k->grow_lock);
}

static int kernel_span_alloc(struct gch_heap *h, uint32_t npages,
			     uint32_t *page, bool *zeroed)
{
	struct kernel_pl *k = kpl(h);
	bool batch = k->batch && npages && npages <= STASH_NPAGES;
	uint32_t flags = 0;

	if (batch && stash_take(k, npages, page, zeroed))
		return 0;
	if (npages > GCH_MAX_SPAN_PAGES) {
		if (!(k->ver.features & GCH_FEAT_CROSS_SPANS) ||
		    npages > (uint64_t)h->max_arenas * GCH_PAGES_PER_ARENA)
			return -ENOMEM;
		flags = GCH_SPAN_ALLOC_CROSS;
	}
	for (;;) {
		uint32_t seen = gch_load(&k->narenas);
		int r = span_alloc_call(h, npages, flags, batch, page, zeroed);

		if (r != -ENOMEM)
			return r;
		/* stashed spans first: they may be what the limit or the
		 * arena lacks, and the heap should not grow around them */
		if (kernel_trim(h)) {
			limit_hits_seen(h);
			continue;
		}
		r = grow(h, seen, npages);
		if (r)
			return r;
	}
}

static int kernel_span_free(struct gch_heap *h,
			    const struct gch_span_ref *refs, uint32_t n)
{
	struct kernel_pl *k = kpl(h);

	while (n) {
		uint32_t m = n < GCH_SPAN_FREE_MAX ? n : GCH_SPAN_FREE_MAX;
		struct gch_span_free f = {
			.size = sizeof(f),
			.count = m,
			.spans = (uint64_t)(uintptr_t)refs,
		};
		int r = kioctl(k->fd, GCH_IOC_SPAN_FREE, &f);

		if (r)
			return r;
		refs += m;
		n -= m;
	}
	return 0;
}

static int kernel_limits(struct gch_heap *h, struct gch_limits *l)
{
	l->size = sizeof(*l);
	return kioctl(kpl(h)->fd, GCH_IOC_LIMITS, l);
}

static int kernel_stats(struct gch_heap *h, struct gch_stats *st)
{
	st->size = sizeof(*st);
	st->flags = 0;
	return kioctl(kpl(h)->fd, GCH_IOC_STATS, st);
}

static void kernel_close(struct gch_heap *h)
{
	struct kernel_pl *k = kpl(h);

	kernel_trim(h);		/* the heap dies with them anyway; be exact */
	munmap((void *)h->base, (size_t)h->max_arenas << GCH_ARENA_SHIFT);
	munmap(k->pagemap, GCH_PAGEMAP_SIZE);
	munmap(k->spanslots, GCH_PAGEMAP_SIZE);
	close(k->fd);
	free(k);
	h->pl_priv = NULL;
}

static const struct gch_pagelayer kernel_ops = {
	.name = "kernel",
	.kind = GCH_BACKEND_KERNEL,
	.span_alloc = kernel_span_alloc,
	.span_free = kernel_span_free,
	.limits = kernel_limits,
	.stats = kernel_stats,
	.close = kernel_close,
	.trim = kernel_trim,
};

int gch_heap_kernel_fd(struct gch_heap *h)
{
	return h->pl == &kernel_ops ? kpl(h)->fd : -1;
}

uint64_t gch_heap_kernel_features(struct gch_heap *h)
{
	return h->pl == &kernel_ops ? kpl(h)->ver.features : 0;
}

static int handshake(struct kernel_pl *k)
{
	const uint64_t need = GCH_FEAT_PAGEMAP | GCH_FEAT_SPANSLOTS;
	int r;

	k->ver.size = sizeof(k->ver);
	r = kioctl(k->fd, GCH_IOC_VERSION, &k->ver);
	if (r)
		return r == -ENOTTY ? -EPROTO : r;
	if (k->ver.abi_version != GCH_ABI_VERSION ||
	    k->ver.page_shift != GCH_PAGE_SHIFT ||
	    k->ver.arena_shift != GCH_ARENA_SHIFT ||
	    (k->ver.features & need) != need ||
	    k->ver.pagemap_offset != GCH_MMAP_PAGEMAP ||
	    k->ver.spanslot_offset != GCH_MMAP_SPANSLOTS ||
	    !k->ver.max_arenas || k->ver.max_arenas > GCH_MAX_ARENAS)
		return -EPROTO;
	return 0;
}

/* Reserve @n arenas of address space aligned to the arena size. */
uintptr_t gch_reserve_arenas(uint32_t n)
{
	size_t len = (size_t)n << GCH_ARENA_SHIFT;
	char *p = mmap(NULL, len + GCH_ARENA_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t base, end;

	if (p == MAP_FAILED)
		return 0;
	base = ((uintptr_t)p + GCH_ARENA_SIZE - 1) & ~(uintptr_t)(GCH_ARENA_SIZE - 1);
	end = (uintptr_t)p + len + GCH_ARENA_SIZE;
	if (base > (uintptr_t)p)
		munmap(p, base - (uintptr_t)p);
	if (end > base + len)
		munmap((void *)(base + len), end - (base + len));
	return base;
}

/* The page map, read-only, and the span slots, read-write. */
static int map_tables(struct kernel_pl *k)
{
	int r;

	k->pagemap = mmap(NULL, GCH_PAGEMAP_SIZE, PROT_READ, MAP_SHARED,
			  k->fd, (off_t)k->ver.pagemap_offset);
	if (k->pagemap == MAP_FAILED)
		return -errno;
	k->spanslots = mmap(NULL, GCH_PAGEMAP_SIZE, PROT_READ | PROT_WRITE,
			    MAP_SHARED, k->fd, (off_t)k->ver.spanslot_offset);
	if (k->spanslots == MAP_FAILED) {
		r = -errno;
		munmap(k->pagemap, GCH_PAGEMAP_SIZE);
		return r;
	}
	return 0;
}

int gch_pl_kernel_open(struct gch_heap *h, const struct gch_options *o)
{
	const char *dev = o->device ? o->device : "/dev/gcheap";
	struct kernel_pl *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	gch_lock_init(&k->grow_lock);
	gch_lock_init(&k->stash_lock);
	k->fd = open(dev, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		r = -errno;
		goto err_free;
	}
	r = handshake(k);
	if (r)
		goto err_close;
	k->batch = k->ver.features & GCH_FEAT_SPAN_BATCH;
	h->max_arenas = k->ver.max_arenas;
	if (o->max_arenas && o->max_arenas < h->max_arenas)
		h->max_arenas = o->max_arenas;

	r = -ENOMEM;
	h->base = gch_reserve_arenas(h->max_arenas);
	if (!h->base)
		goto err_close;
	r = map_tables(k);
	if (r)
		goto err_unreserve;
	h->pagemap = k->pagemap;
	h->spanslots = k->spanslots;
	h->pl = &kernel_ops;
	h->pl_priv = k;
	h->backend = GCH_BACKEND_KERNEL;

	gch_lock(&k->grow_lock);
	r = map_arena(h, 0);
	gch_unlock(&k->grow_lock);
	if (r)
		goto err_unmap_slots;
	return 0;

err_unmap_slots:
	munmap(k->spanslots, GCH_PAGEMAP_SIZE);
	munmap(k->pagemap, GCH_PAGEMAP_SIZE);
err_unreserve:
	munmap((void *)h->base, (size_t)h->max_arenas << GCH_ARENA_SHIFT);
	h->base = 0;
err_close:
	close(k->fd);
err_free:
	free(k);
	h->pl_priv = NULL;
	return r;
}

/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * gcheap: a garbage-collected heap whose pages are owned by the kernel.
 *
 * This header is the whole contract between gcheap.ko and userspace.
 *
 * Model
 * -----
 * Every open() of /dev/gcheap creates one heap.  The heap's address space is
 * a row of up to GCH_MAX_ARENAS arenas of GCH_ARENA_SIZE (64 MiB) each, cut
 * into heap pages of GCH_PAGE_SIZE (8 KiB).  Heap pages are numbered from 0
 * across the whole heap: page p lives in arena p / GCH_PAGES_PER_ARENA.
 * A span is a run of contiguous heap pages inside one arena; the kernel's
 * page allocator hands out and takes back spans.  A span allocated with
 * GCH_SPAN_ALLOC_CROSS (module has GCH_FEAT_CROSS_SPANS) may instead run on
 * over the boundaries between consecutive created arenas, up to the whole
 * heap: see "Spans across arenas" at GCH_IOC_SPAN_ALLOC.
 *
 * mmap() offsets
 * --------------
 *  GCH_MMAP_ARENA(i)   arena i: exactly GCH_ARENA_SIZE bytes, MAP_SHARED,
 *                      PROT_READ|PROT_WRITE allowed.  The first mmap() of an
 *                      arena creates it; from then on its pages may be
 *                      allocated.  Pages are populated with zeroed memory on
 *                      first touch, or when a span is allocated if the
 *                      mapping asks for it (see "Populating" at
 *                      GCH_IOC_SPAN_ALLOC).  Mapping the arenas at
 *                      base + i * GCH_ARENA_SIZE (MAP_FIXED inside one
 *                      PROT_NONE reservation) gives one flat heap where
 *                      page p is at base + p * GCH_PAGE_SIZE; libgcheap does so.
 *  GCH_MMAP_PAGEMAP    the page-to-span map: GCH_PAGEMAP_SIZE bytes, MAP_SHARED,
 *                      PROT_READ only (PROT_WRITE or a later mprotect() to
 *                      write gives -EPERM/-EACCES).  One __u64 entry per heap
 *                      page (see GCH_PME_*).  The entries of an arena become
 *                      readable when the arena is created; touching the entries
 *                      of an arena that does not exist yet raises SIGBUS.
 *  GCH_MMAP_SPANSLOTS  the span slots: same size and layout as the page map,
 *                      PROT_READ|PROT_WRITE.  One __u64 per heap page that the
 *                      kernel never reads; the slots of a span's pages belong
 *                      to userspace while the span is allocated (libgcheap
 *                      stores its span-metadata address in every one of them,
 *                      so that any address finds its span in one load).  The
 *                      kernel sets the slots of a span's pages to 0 when it
 *                      allocates the span, and touches no other slot.
 *
 * Any other offset (one inside a region, or past the last arena), a length
 * that is not exactly the region's size, MAP_PRIVATE, or PROT_EXEC gives
 * -EINVAL.  The length is compared after mmap() has rounded it up to a whole
 * system page, as it does for every mapping before the driver sees it: a
 * length of GCH_ARENA_SIZE - 1 (or anything above GCH_ARENA_SIZE - PAGE_SIZE)
 * therefore maps the whole arena and succeeds, while GCH_ARENA_SIZE -
 * PAGE_SIZE or less, or more than GCH_ARENA_SIZE, gives -EINVAL.  munmap()
 * rounds the same way.
 * Mappings are never copied into a child by fork() (VM_DONTCOPY), cannot be
 * grown or moved by mremap() (-EINVAL / -EFAULT as mm reports it), and cannot
 * be split: munmap() or mprotect() of part of a mapping fails with -EINVAL.
 * Unmapping a whole arena keeps its spans; mapping it again shows them.
 *
 * Ownership, fork() and file descriptors
 * --------------------------------------
 * A heap belongs to the address space (mm) that opened it.  dup() and
 * threads share it freely.  In any other process (a fork() child, or a
 * process that received the fd over a socket) every ioctl except
 * GCH_IOC_VERSION and GCH_IOC_STATS, and every mmap(), fails with -EPERM:
 * such a process can watch the heap but can never change or map it.  The heap,
 * with every page it holds, is destroyed when the last reference goes: the
 * last file descriptor and the last mapping.
 *
 * ioctl conventions (as iommufd)
 * ------------------------------
 * Every ioctl takes a pointer to a struct that starts with
 * "__u32 size; __u32 flags;".  size is sizeof() the struct as userspace knows
 * it; the ioctl numbers do not encode a size, so structs grow at the tail.
 *  - size smaller than the struct's first version: -EINVAL.
 *  - size larger than the kernel knows and any byte past the kernel's struct
 *    non-zero: -E2BIG.
 *  - an unknown flag, or a non-zero reserved field: -EINVAL.
 *  - an unknown ioctl number: -ENOTTY.
 *  - a bad user pointer (the struct itself or one it points to): -EFAULT.
 *  - output fields are ignored on input; on success the kernel writes back
 *    min(size, its own sizeof) bytes.
 * A failing ioctl changes nothing in the heap: no span, limit, goal, phase,
 * counter or resident page.  In particular the ioctls that change the heap
 * and write a struct back (GCH_IOC_SPAN_ALLOC, GCH_IOC_LIMITS,
 * GCH_IOC_SCAVENGE, GCH_IOC_GC_PHASE, GCH_IOC_DIRTY) first pin the bytes
 * they will write (get_user_pages for writing; for GCH_IOC_DIRTY also the
 * whole bitmap) and only then change the heap, so the
 * write-back cannot fail: a struct that is not writable (read-only,
 * PROT_NONE, unmapped, or in a mapping that cannot be pinned such as
 * VM_IO/VM_PFNMAP memory) gives -EFAULT before anything happens.  A struct
 * that another thread unmaps or write-protects while the call runs is
 * either refused the same way or fully written, to the pages as they were
 * when pinned; such a call is never half done.  No ioctl ever undoes work.
 *
 * Values from userspace never overflow the module's arithmetic: the byte
 * counts of GCH_IOC_LIMITS and GCH_IOC_GC_PHASE accept any __u64, and
 * everything derived from them saturates at U64_MAX (a larger goal never
 * keeps less memory).  Counters in struct gch_stats only grow.
 * All ioctls may be called from any number of threads at once.
 */
#ifndef _UAPI_LINUX_GCHEAP_H
#define _UAPI_LINUX_GCHEAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define GCH_ABI_VERSION		1

#define GCH_PAGE_SHIFT		13
#define GCH_PAGE_SIZE		(1UL << GCH_PAGE_SHIFT)		/* 8 KiB */
#define GCH_ARENA_SHIFT		26
#define GCH_ARENA_SIZE		(1ULL << GCH_ARENA_SHIFT)	/* 64 MiB */
#define GCH_PAGES_PER_ARENA	(1U << (GCH_ARENA_SHIFT - GCH_PAGE_SHIFT))
#define GCH_MAX_ARENAS		1024U				/* 64 GiB */
#define GCH_MAX_PAGES		(GCH_MAX_ARENAS * GCH_PAGES_PER_ARENA)
/* The largest span without GCH_SPAN_ALLOC_CROSS: one arena. */
#define GCH_MAX_SPAN_PAGES	GCH_PAGES_PER_ARENA
/* The largest span with GCH_SPAN_ALLOC_CROSS: the whole heap. */
#define GCH_MAX_CROSS_SPAN_PAGES	GCH_MAX_PAGES

#define GCH_MMAP_ARENA(i)	((__u64)(i) << GCH_ARENA_SHIFT)
#define GCH_MMAP_PAGEMAP	(1ULL << 40)
#define GCH_MMAP_SPANSLOTS	(2ULL << 40)
#define GCH_PAGEMAP_SIZE	((__u64)GCH_MAX_PAGES * sizeof(__u64))	/* 64 MiB */

/*
 * Page-map entry, one per heap page.  0: the page is in no span (free).
 * Otherwise bits 0..31 hold the heap page number of the span's first page and
 * bits 32..63 the span's length in pages (>= 1).  Every page of a span has
 * the same entry, so any interior page gives the span's head and length in
 * one read, also for a span across arenas (whose length is then above
 * GCH_PAGES_PER_ARENA, or whose head lies in an earlier arena).  The kernel
 * changes the entries of a span's pages only inside GCH_IOC_SPAN_ALLOC and
 * GCH_IOC_SPAN_FREE of that span, with single 64-bit stores: a reader racing
 * with them sees the old or the new entry, never a mix.  The map says what the
 * kernel allocated; whether an object inside is live is userspace's business.
 */
#define GCH_PME_START(e)	((__u32)(e))
#define GCH_PME_NPAGES(e)	((__u32)((e) >> 32))
#define GCH_PME_MAKE(start, n)	((__u64)(start) | ((__u64)(n) << 32))

/* Feature bits reported by GCH_IOC_VERSION. */
#define GCH_FEAT_PAGEMAP	(1ULL << 0)	/* GCH_MMAP_PAGEMAP */
#define GCH_FEAT_SPANSLOTS	(1ULL << 1)	/* GCH_MMAP_SPANSLOTS */
#define GCH_FEAT_SCAVENGER	(1ULL << 2)	/* background scavenger kthread */
#define GCH_FEAT_SHRINKER	(1ULL << 3)	/* memory-pressure shrinker */
#define GCH_FEAT_TRACEPOINTS	(1ULL << 4)	/* gcheap:* tracepoints */
#define GCH_FEAT_GC_PHASE	(1ULL << 5)	/* GCH_IOC_GC_PHASE */
#define GCH_FEAT_GC_PAUSE	(1ULL << 6)	/* GCH_GC_PAUSE, gcheap_gc_pause */
#define GCH_FEAT_PRESSURE	(1ULL << 7)	/* GCH_IOC_PRESSURE, poll() */
#define GCH_FEAT_CROSS_SPANS	(1ULL << 8)	/* GCH_SPAN_ALLOC_CROSS */
#define GCH_FEAT_DIRTY		(1ULL << 9)	/* GCH_IOC_DIRTY */
#define GCH_FEAT_SPAN_BATCH	(1ULL << 10)	/* GCH_SPAN_ALLOC_BATCH */

#define GCH_IOC_MAGIC		0xB6

enum {
	GCH_CMD_VERSION = 0x80,
	GCH_CMD_SPAN_ALLOC,
	GCH_CMD_SPAN_FREE,
	GCH_CMD_LIMITS,
	GCH_CMD_STATS,
	GCH_CMD_SCAVENGE,
	GCH_CMD_GC_PHASE,
	GCH_CMD_PRESSURE,
	GCH_CMD_DIRTY,
};

/**
 * struct gch_version - GCH_IOC_VERSION: the handshake
 * @size: sizeof(struct gch_version)
 * @flags: must be 0
 * @abi_version: out, GCH_ABI_VERSION of the running module
 * @page_shift: out, GCH_PAGE_SHIFT
 * @features: out, GCH_FEAT_* the module implements
 * @arena_shift: out, GCH_ARENA_SHIFT
 * @max_arenas: out, arenas this heap may create (GCH_MAX_ARENAS)
 * @pagemap_offset: out, GCH_MMAP_PAGEMAP
 * @spanslot_offset: out, GCH_MMAP_SPANSLOTS
 * @max_span_pages: out, GCH_MAX_SPAN_PAGES (the limit without
 *                  GCH_SPAN_ALLOC_CROSS; with it, GCH_MAX_CROSS_SPAN_PAGES)
 * @heap_id: out, this heap's id (the name of its debugfs directory is
 *           "<pid>-<heap_id>")
 *
 * Allowed from any process that holds the fd.
 */
struct gch_version {
	__u32 size;
	__u32 flags;
	__u32 abi_version;
	__u32 page_shift;
	__aligned_u64 features;
	__u32 arena_shift;
	__u32 max_arenas;
	__aligned_u64 pagemap_offset;
	__aligned_u64 spanslot_offset;
	__aligned_u64 max_span_pages;
	__aligned_u64 heap_id;
};
#define GCH_IOC_VERSION		_IO(GCH_IOC_MAGIC, GCH_CMD_VERSION)

/**
 * struct gch_span_alloc - GCH_IOC_SPAN_ALLOC: allocate one span, or a batch
 * @size: sizeof(struct gch_span_alloc)
 * @flags: in, 0, GCH_SPAN_ALLOC_CROSS (module has GCH_FEAT_CROSS_SPANS;
 *         an older one refuses the flag with -EINVAL) or GCH_SPAN_ALLOC_BATCH
 *         (module has GCH_FEAT_SPAN_BATCH; an older one: -EINVAL); both
 *         together, or any other bit: -EINVAL
 * @npages: in, the span's length in heap pages, 1..GCH_MAX_SPAN_PAGES, or
 *          1..GCH_MAX_CROSS_SPAN_PAGES with GCH_SPAN_ALLOC_CROSS, or
 *          1..GCH_SPAN_BATCH_MAX_PAGES with GCH_SPAN_ALLOC_BATCH, where it
 *          is the length of every span of the batch (0 or more: -EINVAL)
 * @out_flags: out, GCH_SPAN_ZEROED when every byte of the span is known to
 *             be zero (its pages were never touched since the kernel gave
 *             them, or were released since), so userspace need not clear it;
 *             with GCH_SPAN_ALLOC_BATCH, the first span's
 * @page: out, heap page number of the span's first page; with
 *        GCH_SPAN_ALLOC_BATCH, the first span's
 * @reserved: must be 0
 * @count: in, with GCH_SPAN_ALLOC_BATCH the number of spans wanted,
 *         1..GCH_SPAN_BATCH_MAX (0 or more: -EINVAL); without it must be 0
 *         (-EINVAL).  Not in the first version of the struct, nor are @done
 *         and @spans: a caller whose size stops before them (an older binary)
 *         allocates one span exactly as before.
 * @done: out, with GCH_SPAN_ALLOC_BATCH the number of spans allocated,
 *        1..@count, which are entries 0..@done - 1 of @spans; without it 0
 * @spans: in, with GCH_SPAN_ALLOC_BATCH a user pointer to @count
 *         struct gch_span_out that the kernel fills; without it must be 0
 *         (-EINVAL)
 *
 * Address-ordered first fit over the arenas created so far: the span is the
 * lowest-addressed free run that fits.  The page map entries of the span's
 * pages and their span slots are set before the ioctl returns.
 * Errors: -ENOMEM when no created arena has a free run that long (map another
 * arena and retry; with GCH_SPAN_ALLOC_CROSS: no free run of the created
 * arenas, read across their boundaries, is that long), or when the heap's
 * hard limit or the module's total cap would be passed (counted in
 * limit_hits; nothing changes).  -EFAULT when the struct cannot be written
 * back: checked before the span is allocated, so the call allocates nothing
 * and alloc_calls does not move.
 *
 * Populating: the first touch of each system page of the heap is a page
 * fault, which on some machines (virtual machines with shadow or emulated
 * paging: about 13 us each under qemu's TCG) costs far more than the page.
 * A program that writes its small spans whole as soon as it gets them can
 * have the kernel do that work inside this call instead: when the owner's
 * mapping of the span's arena (the one it mmap()ed last) is writable and
 * marked madvise(MADV_SEQUENTIAL) over its whole length ("expect references
 * in order, read ahead"), a span of at most GCH_POPULATE_MAX_PAGES heap
 * pages comes back populated: each of its system pages that has no memory
 * yet is allocated zeroed, charged to the caller's memory cgroup exactly as
 * a fault would charge it, and mapped writable there, so the program's first
 * writes take no fault.  MADV_NORMAL or MADV_RANDOM on the mapping turns
 * it off again; larger spans, other mappings and heaps that never ask fault
 * on demand as before.  A module that predates this ignores the advice (the
 * madvise() still succeeds) and refuses a struct gch_stats whose populated
 * field is non-zero on input with -E2BIG, which tells the two apart.
 *  - GCH_SPAN_ZEROED is decided before populating and stays exact:
 *    populated pages are fresh zeroed memory.  Afterwards a populated page
 *    counts as touched, like one that faulted in: once the span is freed, a
 *    span that reuses the page is not ZEROED until it has been released.
 *  - Only the span's own pages are populated, so the hard limit and the
 *    module's cap (which count span pages) hold as for any allocation.
 *  - Best effort, never an error: populating stops at the first page the
 *    kernel cannot get without the OOM killer (the cgroup at memory.max, a
 *    machine short of memory: one light reclaim attempt only) or on a fatal
 *    signal.  What it populated so far stays (resident, charged, counted in
 *    @populated of struct gch_stats); the rest is populated on first touch as
 *    usual.  A page that a racing fault or release holds at that moment is
 *    left to it.
 *  - Populated memory is ordinary heap memory afterwards: it stays with the
 *    span, is kept when the span is freed and is given back by the
 *    scavenger, the shrinker and GCH_IOC_SCAVENGE like any other.
 *  - A span across arenas (below) is never populated.
 *
 * Spans across arenas: an object larger than an arena (a 1 GiB buffer) needs
 * a span that no single arena holds.  With GCH_SPAN_ALLOC_CROSS in @flags the
 * heap's created arenas are read as one row of pages: a free run at the top
 * of arena i continues into a free run at the bottom of arena i + 1 when
 * arena i + 1 is created too (an arena not created ends every run), and the
 * span is the lowest-addressed such run that fits (still first fit, and it
 * may cross a boundary even when it would fit inside one arena).  Use it only
 * if every arena is mapped at base + i * GCH_ARENA_SIZE (one flat heap, as
 * libgcheap maps it): the kernel does not look at where arenas are mapped,
 * and elsewhere the span's pages are not contiguous in the address space.
 * Such a span is an ordinary span otherwise:
 *  - the page map: each of its pages, in every arena it covers, holds
 *    GCH_PME_MAKE(first page, npages) (npages may exceed an arena), written
 *    arena by arena before the ioctl returns; the span slots of all its pages
 *    are set to 0;
 *  - GCH_IOC_SPAN_FREE takes it back by its first page and exact length like
 *    any span; its pages coalesce with the free pages on both sides of every
 *    boundary (a later span, crossing or not, may reuse any part of them);
 *  - GCH_SPAN_ZEROED, the hard limit, the module's cap, memcg charging and
 *    every counter of struct gch_stats treat its pages exactly as they treat
 *    the pages of a span inside one arena: it holds @npages span pages, its
 *    memory is charged page by page on first touch, and once freed its pages
 *    are free pages of their own arenas, which the scavenger, the shrinker
 *    and GCH_IOC_SCAVENGE release arena by arena;
 *  - allocating or freeing it costs O(npages) (its page-map entries) and holds
 *    the heap's lock throughout, as for any span.
 *
 * Batches (GCH_SPAN_ALLOC_BATCH, module has GCH_FEAT_SPAN_BATCH): one call
 * allocates up to @count small spans of @npages pages each, so that a program
 * that uses many of them (an allocator's small size classes) pays one system
 * call per batch instead of one per span, which under qemu's TCG is most of
 * what a span costs (about 3 to 7 us per call, bench/kmod-populate.md).
 * Span i of the batch is allocated exactly as a call without the flag made
 * right after span i - 1 would allocate it: address-ordered first fit, its
 * page-map entries and span slots set, GCH_SPAN_ZEROED decided for it alone
 * (in its entry's out_flags), the hard limit and the module's cap checked
 * for it, populated under the same rules ("Populating" above: the batch is
 * small spans only), counted in alloc_calls and traced (gcheap_span_alloc)
 * one span at a time.  The spans are allocated under one hold of the heap's
 * lock, so no other thread's span comes between them.  Results:
 *  - @done spans allocated, written to entries 0..@done - 1 of @spans in the
 *    order of allocation, which is ascending page order (no run below a
 *    span that fitted first can fit the next span of the same length).
 *    Entries from @done on are not written.
 *  - Partial success: when the hard limit, the module's cap or the created
 *    arenas' free runs run out after the first span, the call returns 0 with
 *    @done < @count, and the spans it got are the caller's as usual.  Such a
 *    stop is no refusal: limit_hits does not move and no gcheap_limit_hit is
 *    traced.  Only when not even the first span fits does the call fail with
 *    -ENOMEM, exactly as a call without the flag (limit_hits moves once when
 *    a limit is the reason; nothing else changes).  -ENOMEM also when the
 *    module cannot get the few bytes it keeps the entries in (nothing
 *    changes then either).
 *  - Populating is best effort for the batch as for one span: where it
 *    stops (see "Populating"), the batch's later spans fault on demand.
 *  - -EFAULT when the struct or any byte of the @count entries at @spans
 *    cannot be written (read-only, PROT_NONE, unmapped): both are pinned for
 *    writing before anything is allocated, so such a call allocates nothing
 *    and changes no counter.
 * Freeing is as for any span: GCH_IOC_SPAN_FREE, one entry per span (spans
 * of a batch are separate spans, even when adjacent).
 */
#define GCH_POPULATE_MAX_PAGES	16U	/* 128 KiB */
/* Most spans one GCH_SPAN_ALLOC_BATCH call may ask for. */
#define GCH_SPAN_BATCH_MAX	64U
/* The longest span a batch may hold: the small spans populating covers. */
#define GCH_SPAN_BATCH_MAX_PAGES	GCH_POPULATE_MAX_PAGES

struct gch_span_alloc {
	__u32 size;
	__u32 flags;
	__u32 npages;
	__u32 out_flags;
	__aligned_u64 page;
	__aligned_u64 reserved;
	__u32 count;
	__u32 done;
	__aligned_u64 spans;
};
#define GCH_SPAN_ZEROED		(1U << 0)	/* out_flags */
#define GCH_SPAN_ALLOC_CROSS	(1U << 0)	/* flags: may cross arenas */
#define GCH_SPAN_ALLOC_BATCH	(1U << 1)	/* flags: @count spans */

/**
 * struct gch_span_out - one span of a GCH_SPAN_ALLOC_BATCH call; all out
 * @page: heap page number of the span's first page
 * @out_flags: GCH_SPAN_ZEROED as for a single span, decided for this one
 * @reserved: written as 0
 */
struct gch_span_out {
	__aligned_u64 page;
	__u32 out_flags;
	__u32 reserved;
};
#define GCH_IOC_SPAN_ALLOC	_IO(GCH_IOC_MAGIC, GCH_CMD_SPAN_ALLOC)

/* One span to free: exactly what GCH_IOC_SPAN_ALLOC returned. */
struct gch_span_ref {
	__u32 page;
	__u32 npages;
};

/**
 * struct gch_span_free - GCH_IOC_SPAN_FREE: free a batch of spans
 * @size: sizeof(struct gch_span_free)
 * @flags: must be 0
 * @count: in, number of entries at @spans, 1..GCH_SPAN_FREE_MAX
 * @reserved: must be 0
 * @spans: in, user pointer to @count struct gch_span_ref
 *
 * All or nothing: every entry must name a span that is allocated now, by its
 * first page and exact length, and no span may appear twice; otherwise the
 * ioctl fails with -EINVAL and frees nothing.  A span across arenas is named
 * the same way (its first page and its whole length).  Freed pages keep
 * their memory (it still counts as resident) until the scavenger, the
 * shrinker or GCH_IOC_SCAVENGE releases it; adjacent free runs coalesce.
 */
struct gch_span_free {
	__u32 size;
	__u32 flags;
	__u32 count;
	__u32 reserved;
	__aligned_u64 spans;
};
#define GCH_SPAN_FREE_MAX	4096U
#define GCH_IOC_SPAN_FREE	_IO(GCH_IOC_MAGIC, GCH_CMD_SPAN_FREE)

/**
 * struct gch_limits - GCH_IOC_LIMITS: set and read the heap's limits
 * @size: sizeof(struct gch_limits)
 * @flags: in, which fields to apply: GCH_LIMIT_HARD, GCH_LIMIT_SOFT,
 *         GCH_LIMIT_GOAL; 0 only reads
 * @hard_pages: in/out, most heap pages the heap may hold in spans; 0 means
 *              no per-heap limit (the module's total cap still holds).
 *              Lowering it below what is in use keeps the spans and makes
 *              allocations fail until frees bring the heap under it.
 * @soft_bytes: in/out, soft limit on the heap's resident memory; while above
 *              it the scavenger releases free pages eagerly. 0: none.
 * @goal_bytes: in/out, the collector's heap goal; the scavenger retains
 *              free memory up to about 10% over it (goal + goal / 10,
 *              saturating at U64_MAX).  0: the kernel's default.
 *
 * Every __u64 is accepted for each field.  On success every field holds the
 * value now in force.
 */
struct gch_limits {
	__u32 size;
	__u32 flags;
	__aligned_u64 hard_pages;
	__aligned_u64 soft_bytes;
	__aligned_u64 goal_bytes;
};
#define GCH_LIMIT_HARD		(1U << 0)
#define GCH_LIMIT_SOFT		(1U << 1)
#define GCH_LIMIT_GOAL		(1U << 2)
#define GCH_IOC_LIMITS		_IO(GCH_IOC_MAGIC, GCH_CMD_LIMITS)

/**
 * struct gch_stats - GCH_IOC_STATS: the heap's counters
 * @size: sizeof(struct gch_stats)
 * @flags: must be 0
 * All other fields are out.  Gauges are a snapshot; counters only grow.
 * Resident memory is counted in bytes because a heap page is backed by
 * several system pages that are populated one at a time.
 * @heap_id: this heap's id
 * @arenas: arenas created
 * @mapped_bytes: address space of the created arenas
 * @span_pages: heap pages in allocated spans
 * @spans: allocated spans
 * @free_pages: heap pages of created arenas in no span
 * @resident_bytes: memory backing the heap's arenas now
 * @free_resident_bytes: part of @resident_bytes backing free pages
 * @hard_limit_pages: the hard limit in force (0: none)
 * @alloc_calls: successful span allocations: a GCH_SPAN_ALLOC_BATCH call
 *               counts each span it allocated (its @done), not one call
 * @free_calls: successful GCH_IOC_SPAN_FREE calls
 * @spans_freed: spans freed by them
 * @faults: system pages populated by page faults (a user access, or
 *          get_user_pages and MADV_POPULATE_*, which run the same handler)
 * @limit_hits: allocations refused by the hard limit or the module cap
 * @released_bg_bytes: memory released by the background scavenger, paced
 * @released_eager_bytes: ... by the scavenger working above the soft limit
 * @released_shrink_bytes: ... by the shrinker under global memory
 *                         pressure (no memory cgroup of the heap at its limit)
 * @released_ioctl_bytes: ... by GCH_IOC_SCAVENGE
 * @scavenge_ns: time spent releasing this heap's memory, all paths
 * @gc_cycle: last cycle announced by GCH_IOC_GC_PHASE (an announcement, not a
 *            counter: it holds what the collector said)
 * @heap_live: heap_live of the last announcement
 * @heap_goal: heap goal in force (announced or set by GCH_IOC_LIMITS)
 * @released_memcg_bytes: memory released by the shrinker for reclaim inside
 *                        a memory cgroup: the cgroup the pages are charged to,
 *                        or one of its ancestors, was at its memory.max or
 *                        above its memory.high.  Reclaim in a cgroup takes
 *                        only free pages charged to that cgroup or below it.
 *                        Not in the first version of the struct: a caller
 *                        whose size stops before it does not get it.
 * @gc_pauses: stop-the-world pauses announced (GCH_GC_PAUSE); a counter.
 *             0 with a module without GCH_FEAT_GC_PAUSE, and, like
 *             @gc_pause_ns, not in the first version of the struct.
 * @gc_pause_ns: sum of the announced pauses' pause_ns, saturating at
 *               U64_MAX (pause_ns is whatever the collector says)
 * @populated: system pages GCH_IOC_SPAN_ALLOC populated (allocated, zeroed,
 *             charged and mapped with no fault; see "Populating" there); a
 *             counter.  @faults + @populated is every system page that ever
 *             came to back the heap: resident_bytes plus every released_*
 *             counter is that many pages.  Not in the first version of the
 *             struct, nor in the one that ended at @gc_pause_ns: a module
 *             that predates it refuses a struct with @populated non-zero
 *             on input with -E2BIG.
 * @dirty_faults: write faults that marked a heap page dirty while tracking
 *                was armed (see GCH_IOC_DIRTY); a counter
 * @dirty_arms: successful GCH_DIRTY_ARM calls
 * @dirty_collects: successful GCH_DIRTY_COLLECT calls
 * @dirty_wp_pages: system pages (PTEs) write-protected by GCH_DIRTY_ARM and
 *                  GCH_DIRTY_COLLECT together, the sum of their wp_pages.
 *                  The four dirty_* counters are not in any earlier version
 *                  of the struct (the one that ended at @populated
 *                  included): a module that predates them (no
 *                  GCH_FEAT_DIRTY) refuses a struct with any of them
 *                  non-zero on input with -E2BIG, and a caller whose size
 *                  stops before them gets the older fields only.
 *
 * Allowed from any process that holds the fd.
 */
struct gch_stats {
	__u32 size;
	__u32 flags;
	__aligned_u64 heap_id;
	__aligned_u64 arenas;
	__aligned_u64 mapped_bytes;
	__aligned_u64 span_pages;
	__aligned_u64 spans;
	__aligned_u64 free_pages;
	__aligned_u64 resident_bytes;
	__aligned_u64 free_resident_bytes;
	__aligned_u64 hard_limit_pages;
	__aligned_u64 alloc_calls;
	__aligned_u64 free_calls;
	__aligned_u64 spans_freed;
	__aligned_u64 faults;
	__aligned_u64 limit_hits;
	__aligned_u64 released_bg_bytes;
	__aligned_u64 released_eager_bytes;
	__aligned_u64 released_shrink_bytes;
	__aligned_u64 released_ioctl_bytes;
	__aligned_u64 scavenge_ns;
	__aligned_u64 gc_cycle;
	__aligned_u64 heap_live;
	__aligned_u64 heap_goal;
	__aligned_u64 released_memcg_bytes;
	__aligned_u64 gc_pauses;
	__aligned_u64 gc_pause_ns;
	__aligned_u64 populated;
	__aligned_u64 dirty_faults;
	__aligned_u64 dirty_arms;
	__aligned_u64 dirty_collects;
	__aligned_u64 dirty_wp_pages;
};
#define GCH_IOC_STATS		_IO(GCH_IOC_MAGIC, GCH_CMD_STATS)

/**
 * struct gch_scavenge - GCH_IOC_SCAVENGE: release free memory now
 * @size: sizeof(struct gch_scavenge)
 * @flags: GCH_SCAVENGE_ALL releases every free page, ignoring the
 *         retained budget; without it the budget is kept
 * @max_bytes: in, release at most this much; 0: no cap
 * @released_bytes: out, memory released by this call
 *
 * Released pages keep their address space; the next touch gets a zero page.
 * A system page whose memory is pinned (get_user_pages: O_DIRECT, io_uring,
 * or a gcheap ioctl's own struct placed in a free heap page) is not released
 * by any path while pinned, since dropping it would free nothing.
 * The pass takes heap->lock in steps of at most 1 MiB, so allocation and
 * reclaim on the same heap are never held up behind a whole-heap pass.
 */
struct gch_scavenge {
	__u32 size;
	__u32 flags;
	__aligned_u64 max_bytes;
	__aligned_u64 released_bytes;
};
#define GCH_SCAVENGE_ALL	(1U << 0)
#define GCH_IOC_SCAVENGE	_IO(GCH_IOC_MAGIC, GCH_CMD_SCAVENGE)

/**
 * struct gch_gc_phase - GCH_IOC_GC_PHASE: the collector announces a phase
 * @size: sizeof(struct gch_gc_phase).  The first version ends at @heap_goal
 *        (40 bytes) and is still accepted: its missing fields read as 0.
 * @flags: must be 0
 * @phase: GCH_GC_MARK_START, GCH_GC_MARK_END, GCH_GC_SWEEP_END or
 *         GCH_GC_PAUSE (anything else: -EINVAL)
 * @reserved: must be 0
 * @cycle: the collector's cycle number (for GCH_GC_PAUSE: the cycle the
 *         pause belongs to)
 * @heap_live: bytes the collector found live (at MARK_END) or holds now;
 *             must be 0 with GCH_GC_PAUSE
 * @heap_goal: the heap goal for the next cycle; non-zero replaces the goal
 *             the scavenger keeps its budget by (any __u64; see
 *             struct gch_limits); must be 0 with GCH_GC_PAUSE
 * @pause_kind: GCH_GC_PAUSE only (with any other phase: must be 0): which
 *              stop-the-world pause just ended, GCH_PAUSE_MARK_START,
 *              GCH_PAUSE_MARK_TERM or GCH_PAUSE_STW; anything else,
 *              including 0 (a struct of the first version), is -EINVAL
 * @reserved2: must be 0
 * @pause_ns: GCH_GC_PAUSE only (with any other phase: must be 0): how long
 *            the world was stopped, in ns as the collector measured it
 *            (any __u64)
 *
 * Nothing is written back but the struct as it was passed in; it must still
 * be writable (see "ioctl conventions").
 * MARK_START, MARK_END and SWEEP_END record @cycle, @heap_live and the goal
 * in the heap (struct gch_stats), and fire the gcheap_gc_phase tracepoint;
 * between MARK_START and SWEEP_END the background scavenger leaves this heap
 * alone.
 * GCH_GC_PAUSE (module has GCH_FEAT_GC_PAUSE; an older one gives -EINVAL)
 * is announced after each stop-the-world pause, once the world runs again:
 * a concurrent collector's pause at mark start and its mark termination
 * pauses (several per cycle if termination is retried), or one whole cycle
 * of a stop-the-world collector.  It adds 1 to gc_pauses and @pause_ns to
 * gc_pause_ns and fires the gcheap_gc_pause tracepoint; nothing else
 * changes: the phase the scavenger goes by, gc_cycle, heap_live and the
 * goal stay what the last other phase said, so a pause inside a cycle
 * neither ends nor starts the scavenger's hold-off.
 */
struct gch_gc_phase {
	__u32 size;
	__u32 flags;
	__u32 phase;
	__u32 reserved;
	__aligned_u64 cycle;
	__aligned_u64 heap_live;
	__aligned_u64 heap_goal;
	__u32 pause_kind;
	__u32 reserved2;
	__aligned_u64 pause_ns;
};
#define GCH_GC_MARK_START	1U
#define GCH_GC_MARK_END		2U
#define GCH_GC_SWEEP_END	3U
#define GCH_GC_PAUSE		4U
/* struct gch_gc_phase.pause_kind */
#define GCH_PAUSE_MARK_START	1U	/* concurrent cycle: marking begins */
#define GCH_PAUSE_MARK_TERM	2U	/* concurrent cycle: mark termination */
#define GCH_PAUSE_STW		3U	/* a whole stop-the-world cycle */
#define GCH_IOC_GC_PHASE	_IO(GCH_IOC_MAGIC, GCH_CMD_GC_PHASE)

/**
 * struct gch_pressure - GCH_IOC_PRESSURE: take the heap's pending memory
 * pressure event, or report the answer to one
 * @size: sizeof(struct gch_pressure)
 * @flags: 0 to take the pending event; GCH_PRESSURE_ANSWER to report that
 *         the collector answered the last one taken (anything else: -EINVAL)
 * @reasons: out, the pending event's causes, GCH_PRESSURE_*; 0 if none was
 *           pending (the call then still succeeds).  Ignored on input.
 * @reserved: must be 0
 * @asked_bytes: out, the most memory that one of the event's causes asked
 *               for beyond what the free pages of the cgroup's heaps held
 *               (reclaim repeats its passes while an event waits: the
 *               largest shortfall, not their sum)
 * @events: out, events raised on this heap since it was opened
 * @suppressed: out, causes that came while the heap was answering or
 *              within GCH_PRESSURE_QUIET_MS of its last answer, and raised
 *              no event (rate limiting)
 * @answered_bytes: in with GCH_PRESSURE_ANSWER (must be 0 otherwise): the
 *                  memory the answer gave back (for the tracepoint; any
 *                  __u64)
 *
 * The module raises a pressure event on a heap when it sees memory that
 * the heap cannot give without a collection:
 *  - GCH_PRESSURE_RECLAIM: a reclaim pass (global, or a memory cgroup's)
 *    asked the module's shrinker for more pages than the free pages it
 *    found held, and this heap holds pages charged to the cgroup being
 *    reclaimed;
 *  - GCH_PRESSURE_LIMIT: reclaim ran for a memory cgroup that is at its
 *    memory.max or above its memory.high (or has an ancestor that is), and
 *    this heap holds pages charged to it.
 * The heap's file descriptor then polls readable with priority: poll()
 * and epoll report POLLPRI | POLLIN until the event is taken with this
 * ioctl (flags 0), which returns its causes and clears it.
 *
 * Rate limiting: causes that come while an event is pending fold into it.
 * Once an event has been taken, no new one is raised until the heap
 * reports its answer (GCH_PRESSURE_ANSWER, which fires the
 * gcheap_pressure_answer tracepoint) and GCH_PRESSURE_QUIET_MS more have
 * passed, so a heap under steady pressure is not collected back to back;
 * causes in between only count in @suppressed.  A heap that takes events
 * and never answers gets no more.  GCH_PRESSURE_ANSWER with no event taken
 * is -EINVAL.  Every event raised fires the gcheap_pressure tracepoint.
 *
 * Taking and answering are the heap owner's (others: -EPERM).  Pressure
 * raised on a heap with no reader costs nothing but the flag; closing a
 * heap with an event pending leaks nothing.
 */
struct gch_pressure {
	__u32 size;
	__u32 flags;
	__u32 reasons;
	__u32 reserved;
	__aligned_u64 asked_bytes;
	__aligned_u64 events;
	__aligned_u64 suppressed;
	__aligned_u64 answered_bytes;
};
#define GCH_PRESSURE_ANSWER	(1U << 0)	/* flags */
#define GCH_PRESSURE_RECLAIM	(1U << 0)	/* reasons */
#define GCH_PRESSURE_LIMIT	(1U << 1)	/* reasons */
#define GCH_PRESSURE_QUIET_MS	100
#define GCH_IOC_PRESSURE	_IO(GCH_IOC_MAGIC, GCH_CMD_PRESSURE)

/**
 * struct gch_dirty - GCH_IOC_DIRTY: which heap pages were written since a
 * point in time (module has GCH_FEAT_DIRTY)
 * @size: sizeof(struct gch_dirty)
 * @flags: exactly one of GCH_DIRTY_ARM, GCH_DIRTY_COLLECT, GCH_DIRTY_DISARM
 *         (none, two, or an unknown bit: -EINVAL)
 * @first_page: COLLECT: the first heap page of the range; must be 0 with
 *              ARM and DISARM
 * @npages: COLLECT: heap pages in the range, 1..GCH_MAX_PAGES - @first_page
 *          (0, or a range past GCH_MAX_PAGES: -EINVAL); must be 0 with ARM
 *          and DISARM
 * @bitmap: COLLECT: user pointer to (@npages + 63) / 64 __u64 words, all
 *          written (no alignment needed): bit i % 64 of word i / 64 is set
 *          when heap page @first_page + i was written since it was last
 *          armed or collected, and clear otherwise (the bits past @npages
 *          in the last word too).  Must be 0 with ARM and DISARM.
 * @dirty_pages: out, the bits this call set in @bitmap (0 for ARM, DISARM)
 * @wp_pages: out, system pages (PTEs) this call write-protected
 *
 * For a mostly-concurrent collector (Boehm-Demers-Shenker) that wants no
 * write barrier: the kernel tells it which heap pages the program wrote
 * while it marked, atomically with re-arming them.
 *  - GCH_DIRTY_ARM write-protects every resident page of the heap (every
 *    arena, and every arena created later while armed), forgets every dirty
 *    bit, and starts tracking: from its return, the first write to each
 *    heap page takes one fault that marks the page dirty.  Already armed:
 *    -EBUSY.
 *  - GCH_DIRTY_COLLECT, for each dirty heap page of the range, re-arms it
 *    (write-protects it and has every CPU that may hold a writable
 *    translation drop it)
 *    and only then reports it and clears its bit, atomically for each page
 *    with respect to writers: a write is reported by the first COLLECT of
 *    its page that re-arms the page after the write; one racing with a
 *    call is reported by that call or by the next (at worst by both, never
 *    by neither).  Pages outside the range are left as they are; pages of
 *    arenas not created read 0.  Not armed: -EINVAL.
 *  - GCH_DIRTY_DISARM stops tracking: the pages are made writable again
 *    where their mapping allows it, with no further fault for their next
 *    write, and every dirty bit is forgotten (collect first to see them).
 *    Not armed: -EINVAL.
 * Reads never dirty a page; a write dirties it once per arm or collect, so
 * writing a page many times between two collects costs one fault (one per
 * system page written).  ARM, and a COLLECT that write-protects anything,
 * flush the TLB of the CPUs running the owner's threads (one IPI round per
 * 512 heap pages re-armed; a single-threaded owner pays a local flush, as
 * for mprotect(), and costs about what mprotect() does per page);
 * COLLECT holds the owner's mmap lock for reading while it works, so
 * mmap() and munmap() in other threads wait for it.  Successful calls fire
 * the gcheap_dirty_arm, gcheap_dirty_collect and gcheap_dirty_disarm
 * tracepoints and each tracking write fault gcheap_dirty_fault; struct
 * gch_stats counts them (dirty_*).
 *
 * Granularity: one bit per heap page (GCH_PAGE_SIZE, two 4 KiB system
 * pages), because the collector scans per heap page and span, never per
 * system page, and the bitmap is half the size.  A write to either system
 * page dirties the heap page; re-arming write-protects both.
 *
 * Copied out, not mapped: COLLECT writes the bits it took into the caller's
 * @bitmap instead of the program reading a bitmap the kernel maps (as it
 * does the page map), because its answer must be exactly the set this call
 * re-armed.  A mapped bitmap is live -- a fault sets a bit in it at any
 * moment -- so the program could not tell which of the bits it read had
 * been re-armed without a second call and a snapshot anyway.  The copy is
 * not what a call costs: in the VM (selftests/dirty_test.c, bench/dirty.md)
 * a COLLECT over 16 MiB that finds nothing takes 38-45 us in all (the call,
 * pinning and zeroing the bitmap, reading the bits), against about 350 ns
 * per dirty system page re-armed.
 *
 * The write-back follows "ioctl conventions": the struct and, for COLLECT,
 * the whole bitmap are pinned for writing before anything changes, so a bad
 * @bitmap (unmapped, read-only, PROT_NONE) gives -EFAULT and leaves every
 * bit and write protection as it was.  A bitmap inside the heap is allowed:
 * pinning it for writing is the program's write (it dirties its pages
 * before the call re-arms anything); the kernel's own write of the result
 * is not a write by the program and dirties nothing.
 *
 * Interactions:
 *  - Scavenging, the scavenger, the shrinker: a released heap page is clean
 *    (its bit is cleared once no system page of it is resident: it holds
 *    zeroes).  Touched again, its first write marks it dirty.
 *  - munmap() and mmap() of an arena while armed: the bits stay; a new
 *    mapping is tracked like the others (its first write to each clean page
 *    faults).  mprotect() never makes a tracked page writable without the
 *    fault.
 *  - Populating (MADV_SEQUENTIAL, see GCH_IOC_SPAN_ALLOC) while armed maps
 *    the new pages read-only, so their first write is seen.
 *  - fork(): the child cannot arm, collect or disarm (-EPERM, like every
 *    mutating ioctl) and maps no heap page; only the owner's writes exist
 *    and are tracked, whatever the child does.
 *  - Writes by the kernel through a pin the program took before the arm or
 *    collect (O_DIRECT, io_uring fixed buffers, vmsplice) are not faults and
 *    are not seen; taking a pin for writing while armed dirties the page.
 *  - Closing the heap while armed (last fd and last mapping gone) frees
 *    everything tracking used; nothing needs disarming first.
 */
struct gch_dirty {
	__u32 size;
	__u32 flags;
	__aligned_u64 first_page;
	__aligned_u64 npages;
	__aligned_u64 bitmap;
	__aligned_u64 dirty_pages;
	__aligned_u64 wp_pages;
};
#define GCH_DIRTY_ARM		(1U << 0)
#define GCH_DIRTY_COLLECT	(1U << 1)
#define GCH_DIRTY_DISARM	(1U << 2)
#define GCH_IOC_DIRTY		_IO(GCH_IOC_MAGIC, GCH_CMD_DIRTY)

#endif /* _UAPI_LINUX_GCHEAP_H */

/* SPDX-License-Identifier: MIT */
/*
 * libgcheap public API: a Go-style size-class allocator whose pages come from
 * the gcheap kernel module (/dev/gcheap), or from an in-process page layer
 * with the same contract when the module is absent.
 *
 * Model
 * -----
 * A heap (gch_heap) is one open of /dev/gcheap: up to 64 GiB of address space
 * in 64 MiB arenas, cut into 8 KiB pages and spans.  Objects up to 32 KiB are
 * carved from spans of one of Go's 67 size classes; larger objects get a span
 * of their own.  Every allocating thread has a private cache per heap, so the
 * common allocation takes no lock and no atomic instruction.
 *
 * Objects are never freed by the program: there is no gch_free().  Memory is
 * reclaimed by the collector (the next layer of this library), exactly as in
 * Go.  Until a collection runs, everything allocated stays allocated.
 *
 * Objects come in three kinds, which the collector treats differently:
 *  - gch_malloc():        may hold pointers anywhere; scanned conservatively.
 *  - gch_malloc_noscan(): holds no pointers the collector must follow; a
 *                         pointer stored in such an object does not keep its
 *                         target alive.  Sizes under 16 B are packed together
 *                         into 16 B blocks (the tiny allocator).
 *  - gch_malloc_typed():  a pointer bitmap says which words are pointers;
 *                         scanned precisely.
 *
 * Guarantees for every successful allocation of n bytes
 *  - the memory is zeroed;
 *  - it does not overlap any other live object;
 *  - alignment: at least the largest power of two dividing n, capped at 16
 *    (what any C object of n bytes can require); objects of 25 B or more
 *    and objects whose size is a multiple of 16 are 16 B aligned.  The
 *    17..24 B range is served by Go's 24 B class and is 8 B aligned, as in
 *    Go; objects over 32 KiB are 8 KiB aligned.
 *
 * Threads
 * -------
 * All functions may be called from any number of threads at once unless a
 * function says otherwise.  A thread attaches itself to a heap on its first
 * allocation from it (or explicitly with gch_thread_attach()); it detaches
 * with gch_thread_detach() or automatically when it exits.  gch_close()
 * requires that no thread other than the caller is attached.  At most
 * GCH_MAX_HEAPS heaps may be open in one process at a time.
 *
 * Errors
 * ------
 * Functions returning int return 0 on success and -1 with errno set on
 * failure; functions returning pointers return NULL with errno set.
 */
#ifndef GCHEAP_H
#define GCHEAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Heaps open at once in one process. */
#define GCH_MAX_HEAPS		16

/* The largest object: a span never crosses a 64 MiB arena. */
#define GCH_MAX_OBJECT		(64ULL << 20)

typedef struct gch_heap gch_heap;

enum gch_backend {
	GCH_BACKEND_AUTO = 0,	/* /dev/gcheap if it exists, else in-process */
	GCH_BACKEND_KERNEL,	/* /dev/gcheap or fail */
	GCH_BACKEND_HOST,	/* the in-process page layer */
};

/*
 * Out-of-memory handler.  Called (on the allocating thread, with no library
 * lock held) when an allocation of @size bytes cannot be satisfied: the hard
 * limit is reached, the arenas are exhausted, or metadata memory ran out.
 * Return non-zero to retry the allocation once (after raising the limit or
 * releasing memory, say); return 0 to make the allocation fail with ENOMEM.
 * The handler may also abort() or longjmp() out.  It may allocate from the
 * heap; a nested failure calls it again, so it must not loop forever.
 */
typedef int (*gch_oom_fn)(gch_heap *h, size_t size, void *arg);

/*
 * Options for gch_open().  Zero-initialise it, set .size = sizeof(it), fill
 * the fields you care about; zero means "default" for every field.  Fields are
 * only ever added at the end; a caller compiled against an older header
 * passes a smaller size and gets defaults for the newer fields.
 */
struct gch_options {
	uint32_t size;			/* sizeof(struct gch_options) */
	uint32_t backend;		/* enum gch_backend; the environment
					 * variable GCHEAP_BACKEND=kernel|host
					 * overrides it */
	uint64_t hard_limit_bytes;	/* most bytes of spans the heap may hold
					 * (rounded up to 8 KiB pages); 0: none */
	uint32_t max_arenas;		/* 64 MiB arenas to reserve address space
					 * for; 0: as many as the backend allows
					 * (1024, 64 GiB) */
	uint32_t reserved;		/* must be 0 */
	const char *device;		/* NULL: "/dev/gcheap" */
	gch_oom_fn oom_handler;		/* NULL: fail with ENOMEM */
	void *oom_arg;
};

/*
 * gch_open - create a heap.  @opt may be NULL for all defaults.
 * Errors: EINVAL (bad options: size too small or a non-zero reserved
 * field), ENOENT/EACCES/ENODEV (backend kernel forced and the device cannot
 * be opened), EPROTO (the module speaks another ABI or lacks the page map or
 * span slots), EMFILE (GCH_MAX_HEAPS heaps already open), ENOMEM (no
 * address space or memory for the heap).
 */
gch_heap *gch_open(const struct gch_options *opt);

/*
 * gch_close - destroy @h and every object in it.  The calling thread is
 * detached first.  Errors: EBUSY when another thread is still attached (the
 * heap is left intact).  After success @h and all its objects are invalid.
 */
int gch_close(gch_heap *h);

/*
 * gch_malloc - allocate @size zeroed bytes that may hold pointers (scanned
 * conservatively by the collector).  size 0 gives a unique 8 B object.
 * Errors: ENOMEM (after the out-of-memory handler, if any, declined), also
 * for size > GCH_MAX_OBJECT.  Attaches the calling thread if needed.
 */
void *gch_malloc(gch_heap *h, size_t size);

/* gch_malloc_noscan - as gch_malloc for memory that holds no pointers. */
void *gch_malloc_noscan(gch_heap *h, size_t size);

/*
 * gch_malloc_typed - as gch_malloc with a precise pointer layout.  Bit i of
 * @ptrmap (bit i % 64 of word i / 64) set means the 8-byte word at offset
 * 8 * i holds a pointer.  The @nwords-word pattern repeats over the whole
 * object (an array of a type of nwords words).  A pattern with no bit set
 * allocates a noscan object.
 * Errors: EINVAL (ptrmap NULL or nwords 0), ENOMEM as gch_malloc.
 */
void *gch_malloc_typed(gch_heap *h, size_t size, const uint64_t *ptrmap,
		       size_t nwords);

/*
 * gch_base - the start of the object that contains @p (any interior
 * address), or NULL when @p is not inside an allocated object of @h.
 * Objects under 16 B from gch_malloc_noscan() share 16 B blocks: for them
 * the block's start is returned.  O(1); never faults; any thread.
 */
void *gch_base(gch_heap *h, const void *p);

/*
 * gch_size - the usable size of the object containing @p (its size class,
 * or its span's length for objects over 32 KiB; 16 for a tiny block), or 0
 * when @p is not inside an allocated object.  Same rules as gch_base().
 */
size_t gch_size(gch_heap *h, const void *p);

/*
 * gch_thread_attach - attach the calling thread to @h now (allocation does
 * it implicitly).  The collector scans attached threads' stacks.  Attaching
 * twice is a no-op.  Errors: ENOMEM.
 */
int gch_thread_attach(gch_heap *h);

/*
 * gch_thread_detach - give the calling thread's cached spans back to @h and
 * detach it.  Detaching an unattached thread is a no-op.  A thread that exits
 * attached is detached by the library.
 */
int gch_thread_detach(gch_heap *h);

/*
 * gch_set_hard_limit - change the hard limit (bytes of spans; 0: none).
 * Lowering it below what is in use keeps every object and makes
 * allocations that need a new span fail.  Errors: whatever the backend
 * reports (EINVAL, EIO).
 */
int gch_set_hard_limit(gch_heap *h, uint64_t bytes);

/* gch_set_oom_handler - replace the out-of-memory handler (NULL: none). */
void gch_set_oom_handler(gch_heap *h, gch_oom_fn fn, void *arg);

struct gch_heap_stats {
	uint64_t alloc_bytes;		/* bytes of objects allocated, by slot
					 * size; counted when a thread's cache
					 * claims a run of slots, so it runs
					 * ahead by at most 64 slots per size
					 * class and thread */
	uint64_t alloc_objects;		/* objects allocated, same rule; tiny
					 * objects count as their 16 B blocks */
	uint64_t large_objects;		/* objects over 32 KiB */
	uint64_t large_bytes;		/* bytes of their spans */
	uint64_t span_bytes;		/* bytes in spans (small and large) */
	uint64_t spans;			/* spans in use */
	uint64_t arenas;		/* arenas created */
	uint64_t mapped_bytes;		/* address space of those arenas */
	uint64_t resident_bytes;	/* memory backing the arenas */
	uint64_t hard_limit_bytes;	/* hard limit in force, 0: none */
	uint64_t limit_hits;		/* span allocations refused by it */
	uint64_t oom_count;		/* allocations that failed with ENOMEM */
	uint32_t threads;		/* threads attached now */
	uint32_t backend;		/* GCH_BACKEND_KERNEL or _HOST */
};

/*
 * gch_stats - fill @st.  Counters are a consistent-enough snapshot: each
 * field is read atomically, not all of them together.
 */
int gch_stats(gch_heap *h, struct gch_heap_stats *st);

/* gch_backend_name - "kernel" or "host". */
const char *gch_backend_name(gch_heap *h);

#ifdef __cplusplus
}
#endif
#endif /* GCHEAP_H */

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
 *  - alignment: to the largest power of two dividing n, up to 16 B: what
 *    any C object of n bytes can require (a type's size is a multiple of
 *    its alignment; C23 asks malloc for no more).  So 16 B for every
 *    multiple of 16, 8 B for 24 B (17..24 B share Go's 24 B class), 4 B
 *    for 12 B; objects over 32 KiB are 8 KiB aligned.  A program that
 *    wants 16 B for a 24 B object asks for 32 B.
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

/*
 * libgcheap.so is built with -fvisibility=hidden: the names this header
 * declares are its exports (and libgcheap/libgcheap.map lists them).
 */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* Heaps open at once in one process. */
#define GCH_MAX_HEAPS		16

/*
 * The largest object any heap can hold: its whole address space, 1024
 * arenas of 64 MiB (64 GiB).  A heap opened with a smaller max_arenas holds
 * up to max_arenas * 64 MiB, less what is in use, and its hard limit bounds
 * it further.  Objects larger than one arena (64 MiB) are spans across
 * arenas: on the kernel backend they need a gcheap.ko with
 * GCH_FEAT_CROSS_SPANS; an older module refuses them (ENOMEM).
 */
#define GCH_MAX_OBJECT		(64ULL << 30)

typedef struct gch_heap gch_heap;

enum gch_backend {
	GCH_BACKEND_AUTO = 0,	/* /dev/gcheap if it exists, else in-process */
	GCH_BACKEND_KERNEL,	/* /dev/gcheap or fail */
	GCH_BACKEND_HOST,	/* the in-process page layer */
};

/*
 * Out-of-memory handler.  Called (on the allocating thread, with no library
 * lock held) when an allocation of @size bytes (rounded up to its size class
 * for objects up to 32 KiB) cannot be satisfied: the hard
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
	/* collector: (fields added by the collector engineer) */
	int32_t gc_percent;		/* collect when the heap grew by this %
					 * of the live heap and the roots (see
					 * "Collections aim"); 0: 100, < 0:
					 * off.  GCHEAP_GC=<n>|off overrides */
	uint32_t gc_reserved;		/* must be 0 */
	uint64_t memory_limit_bytes;	/* soft memory limit; 0: none given
					 * (then the cgroup's, see below).
					 * GCHEAP_MEMLIMIT=<n>[KiB|MiB|GiB]|off
					 * overrides */
};

/*
 * The memory cgroup's limit.  A heap given no soft memory limit (neither
 * memory_limit_bytes nor GCHEAP_MEMLIMIT, which "off" sets to none) takes
 * one from the memory cgroup the program runs in, so that a program whose
 * live heap fits its cgroup is collected before its garbage gets it
 * OOM-killed: with C the least of memory.high and memory.max over the
 * program's cgroup and all its ancestors (cgroup v2; v1: the memory
 * controller's memory.limit_in_bytes), the limit is
 *     C - max(C / 8, 16 MiB)   (the margin at most C / 2),
 * the margin being room for what the cgroup counts besides the heap (the
 * program's malloc memory, stacks, page tables, page cache).  No cap ("max"),
 * the root cgroup, or no cgroup file system: no limit.  The cgroup is read
 * again, at most once a second, when a collection starts, so a limit
 * changed while the program runs is followed; gch_set_memory_limit() ends
 * that for its heap.  GCHEAP_CGROUP=off turns it off (and the answer to
 * memory pressure, below).  What the heap
 * uses, and where it came from, is in gch_gc_stats (memory_limit_bytes,
 * memory_limit_source).
 */
/*
 * Memory pressure.  On the kernel backend, when reclaim (the machine's, or
 * the memory cgroup's at memory.max or above memory.high) asks the heap for
 * memory its free pages cannot give, the module tells the library, and a
 * thread of the library answers at once: a full collection of the heap, its
 * sweep finished, and every free page given back to the system (the
 * retained budget ignored), so a program whose live heap fits is not
 * OOM-killed for its garbage.  The module rate-limits the events (at most
 * one per answer plus 100 ms).  Counted in gch_gc_stats.pressure_cycles;
 * GCHEAP_CGROUP=off turns the answer off with the cgroup's limit.
 */
enum gch_memlimit_source {
	GCH_MEMLIMIT_NONE = 0,		/* no limit */
	GCH_MEMLIMIT_OPTIONS = 1,	/* gch_options.memory_limit_bytes */
	GCH_MEMLIMIT_ENV = 2,		/* GCHEAP_MEMLIMIT */
	GCH_MEMLIMIT_API = 3,		/* gch_set_memory_limit() */
	GCH_MEMLIMIT_CGROUP = 4,	/* derived from the memory cgroup */
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
 * for size > GCH_MAX_OBJECT, for a size beyond the heap's address space
 * (max_arenas * 64 MiB) or its hard limit, and for size > 64 MiB on the
 * kernel backend when the module lacks GCH_FEAT_CROSS_SPANS.  Objects of
 * any size are scanned, collected and freed like small ones.  Attaches the
 * calling thread if needed.
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

/* ==== collector (section maintained by the collector engineer) ========== */
/*
 * Garbage collection.  Objects nothing reaches are reclaimed.  A cycle
 * marks beside the running program, as Go's does: it stops every attached
 * thread twice, briefly -- to scan the roots and turn the write barrier
 * on, and to finish marking -- while the library's background mark worker
 * marks in between, then sweeps lazily.  Stores of heap pointers into heap
 * objects must therefore go through gch_store() (see "Write barrier"
 * below).  GCHEAP_GCMODE=stw selects the stop-the-world collector instead
 * (every attached thread stopped for the whole mark), for debugging and
 * comparison.  To stop a
 * thread, a signal (SIGPWR) parks it wherever it is -- even blocked in a
 * system call; sleeps and polls may then return EINTR, as with any signal;
 * SIGXCPU restarts it, so a program must leave both signals to the
 * library.  The program's own signal handlers need not block them: a
 * thread that a handler interrupted inside an allocation, stopped while
 * the handler runs, parks only once that allocation has finished
 * (tests/gc_signal_test.c); gch_store() asks more (see "Write barrier").
 * An allocation that reaches the heap goal while a cycle still
 * marks does not return before the cycle ends (it marks whatever gray
 * work it can take meanwhile), so the program cannot outrun it (unless
 * the GC CPU limiter is on: see below).
 *
 * Roots: the stacks and registers of attached threads (conservatively:
 * any word that points into or at an object keeps it alive, interior
 * pointers included), ranges registered with gch_add_roots(), and -- after
 * gch_register_data_segments() -- the data and bss of the program and of
 * every loaded library.  NOT roots: memory from malloc() and other
 * allocators, thread-local (__thread) variables, stacks the thread library
 * does not know (register those ranges), and pointers stored inside
 * gch_malloc_noscan() objects: an object referenced only from noscan
 * memory is reclaimed.  Pointer-hiding tricks (XOR lists, pointers kept
 * only in files) hide objects from the collector, as in any C collector.
 *
 * Collections aim to end when the heap has grown by gc_percent of the live
 * heap and the roots the last cycle scanned (root ranges, data segments,
 * thread stacks), as Go's GOGC since 1.18 -- the goal: live + (live +
 * roots) x gc_percent / 100, default 100, minimum heap 4 MiB -- sooner as
 * the memory limit nears, and run every 2 minutes if none ran; gch_gc()
 * forces one.  Big roots are marking work as the heap is: registering a
 * large root range makes collections rarer, not more costly each.
 * A cycle starts before the goal, at a point the pacer computes from how
 * fast the program allocates and the background worker marks, so that
 * marking ends near the goal (Go's pacer), and a thread that allocates
 * while it marks does mark work in proportion (mark assists).  A program
 * that allocates faster than the worker marks has its cycles start late
 * (95% of the way to the goal) and does most of their marking in assists:
 * starting early would only grow the garbage allocated during marking,
 * which survives to the next cycle.
 * The background mark worker uses 25% of the CPUs while a cycle marks (on
 * fewer than four CPUs, by resting between steps), and a whole CPU while
 * the program has fewer threads than there are CPUs: it leaves one idle
 * (idle-time marking, as Go's idle mark workers).
 * With a memory limit set, the GC CPU limiter holds the collector to about
 * half of the process's CPU: a live heap the limit cannot hold makes the
 * heap grow past the limit (and the goal), not the program stall.
 *
 * The library's own threads, started on first need, take none of the
 * program's signals: the background mark worker; marker helpers (one per
 * extra CPU; GCHEAP_MARKERS=<n> sets the total number of markers, 1 to 8)
 * that join it on big heaps; a background sweeper that returns, 20 ms after a cycle, the
 * spans the program's own allocations did not sweep meanwhile, and runs
 * the 2-minute collection; on the kernel backend, the pressure thread that
 * answers the module's memory pressure events (see "Memory pressure");
 * and the finalizer thread, the only one of them
 * that is attached (it runs program code), and so takes the collector's
 * two signals.  GCHEAP_TRACE=gc prints a line per cycle to stderr, as
 * Go's gctrace does; GCHEAP_TRACE=heap prints, per cycle, one line of
 * key=value pairs in bytes and ns ("gcheap-heap cycle=... t_end_ns=...
 * live_start=... goal=... span=... resident=... rel_bg=..."; libgcheap's
 * gctrace.c gives every key) for tools to read; "gc,heap" prints both.
 */

/* gch_gc - collect @h now (blocks until marking is done). */
int gch_gc(gch_heap *h);

/*
 * gch_add_roots - scan [start, start + len) at every collection of every
 * heap.  @ptrmap NULL: conservatively, each aligned word.  Otherwise bit i
 * (bit i % 64 of ptrmap[i / 64]) set means word i holds a pointer; then
 * start and len must be multiples of 8 (EINVAL).  The bitmap is copied.
 * gch_remove_roots - forget every registered range lying wholly inside
 * [start, start + len); returns how many were removed.
 */
int gch_add_roots(void *start, size_t len, const uint64_t *ptrmap);
int gch_remove_roots(void *start, size_t len);

/* gch_register_data_segments - make the writable segments of the program
 * and every loaded library (re-read at each collection) roots. */
int gch_register_data_segments(void);

/*
 * Finalizers: fn(obj, arg) runs once, on the library's finalizer thread,
 * some time after @obj (the start of an object) became unreachable -- never
 * during a collection.  fn may store obj somewhere reachable again
 * (resurrection); it then lives on, without a finalizer unless fn sets one.
 * Whatever a finalizable object references stays alive until it has been
 * finalized and reclaimed, hence: if finalizable A references finalizable
 * B, A is finalized first and B in a later cycle; finalizable objects in a
 * reference cycle are never finalized nor reclaimed.  @arg is a root while
 * the finalizer is registered.  fn NULL removes the finalizer.  Errors:
 * EINVAL (obj is not the start of an object of @h), ENOMEM.
 */
typedef void (*gch_finalizer_fn)(void *obj, void *arg);
int gch_set_finalizer(gch_heap *h, void *obj, gch_finalizer_fn fn, void *arg);

/* gch_wait_finalizers - wait until every queued finalizer has run (not
 * from a finalizer: EDEADLK). */
int gch_wait_finalizers(gch_heap *h);

/*
 * Weak references: gch_weak_get() returns the target, or NULL once a
 * collection found it unreachable (cleared before its finalizer, if any,
 * runs: resurrection does not restore it).  The handle lives outside the
 * heap until gch_weak_free().
 */
typedef struct gch_weak gch_weak;
gch_weak *gch_weak_new(gch_heap *h, void *obj);
void *gch_weak_get(gch_weak *w);
void gch_weak_free(gch_weak *w);

/* gch_set_gc_percent - set the GC percent (< 0: off); returns the old
 * value.  gch_set_memory_limit - set the soft memory limit in bytes (0:
 * none); returns the old value.  From then on the heap no longer follows
 * its memory cgroup's limit (see enum gch_memlimit_source). */
int gch_set_gc_percent(gch_heap *h, int percent);
int64_t gch_set_memory_limit(gch_heap *h, uint64_t bytes);

/* Buckets of gch_gc_stats.pause_hist: powers of two of nanoseconds. */
#define GCH_PAUSE_BUCKETS	40

/* Collector statistics; names follow Go's runtime/metrics where one fits. */
struct gch_gc_stats {
	uint64_t cycles;		/* /gc/cycles/total:gc-cycles */
	uint64_t forced_cycles;		/* /gc/cycles/forced:gc-cycles */
	uint64_t pause_total_ns;	/* sum of stop-the-world pauses */
	uint64_t pause_max_ns;		/* longest pause */
	uint64_t gc_cpu_ns;		/* /cpu/classes/gc/total:cpu-seconds */
	uint64_t alloc_bytes;		/* /gc/heap/allocs:bytes */
	uint64_t alloc_objects;		/* /gc/heap/allocs:objects */
	uint64_t free_bytes;		/* /gc/heap/frees:bytes */
	uint64_t free_objects;		/* /gc/heap/frees:objects */
	uint64_t heap_objects;		/* /gc/heap/objects:objects */
	uint64_t heap_live_bytes;	/* /gc/heap/live:bytes: what the last
					 * mark found reachable (objects
					 * allocated while it marked are
					 * kept but not counted: the goal is
					 * this + (this + roots) x
					 * gc_percent / 100) */
	uint64_t heap_goal_bytes;	/* /gc/heap/goal:bytes (0: none) */
	uint64_t heap_span_bytes;	/* bytes in spans now */
	uint64_t resident_bytes;	/* memory backing the heap now */
	uint64_t released_bytes;	/* /memory/classes/heap/released, total
					 * given back by the kernel so far */
	uint64_t finalizers_run;
	uint64_t weak_cleared;
	int64_t gc_percent;		/* /gc/gogc:percent (-1: off) */
	uint64_t memory_limit_bytes;	/* /gc/gomemlimit:bytes (0: none) */
	/*
	 * Pauses and the collector's CPU by kind, as runtime/metrics has
	 * them (added with concurrent marking; the struct grows only at its
	 * end, and the library fills all of it: build against the header of
	 * the library you run with).
	 */
	uint64_t pauses;		/* stop-the-world pauses: two per
					 * concurrent cycle (one more per mark
					 * termination that found work), one
					 * per GCHEAP_GCMODE=stw cycle */
	uint64_t pause_p50_ns;		/* median of the last 256 pauses */
	uint64_t pause_p99_ns;		/* 99th percentile of the same */
	uint64_t pause_hist[GCH_PAUSE_BUCKETS];	/* /gc/pauses:seconds:
					 * [i] counts pauses of 2^i to
					 * 2^(i+1) - 1 ns ([0]: under 2 ns) */
	uint64_t gc_pause_cpu_ns;	/* /cpu/classes/gc/pause:cpu-seconds */
	uint64_t gc_assist_cpu_ns;	/* /cpu/classes/gc/mark/assist */
	uint64_t gc_dedicated_cpu_ns;	/* /cpu/classes/gc/mark/dedicated:
					 * the background mark worker */
	uint64_t heap_trigger_bytes;	/* heap live at which the next cycle
					 * starts (0: none); concurrent
					 * cycles start before the goal, at
					 * a point the pacer adapts */
	uint64_t gc_idle_cpu_ns;	/* /cpu/classes/gc/mark/idle: the
					 * worker marking beyond its 25% on
					 * a CPU the program leaves idle
					 * (fewer attached threads than
					 * CPUs); part of gc_cpu_ns, not of
					 * gc_dedicated_cpu_ns */
	uint64_t gc_limiter_ns;		/* time the GC CPU limiter has been
					 * on: with a memory limit set, the
					 * collector (assists, worker,
					 * pauses) is held to half the CPUs,
					 * and the heap may pass its goal */
	uint32_t memory_limit_source;	/* enum gch_memlimit_source of
					 * memory_limit_bytes */
	uint32_t reserved0;
	uint64_t pressure_cycles;	/* cycles run to answer the module's
					 * memory pressure events (kernel
					 * backend; see "Memory pressure") */
};
int gch_gc_stats(gch_heap *h, struct gch_gc_stats *st);

/*
 * Write barrier
 * -------------
 * Store a pointer into a heap object with gch_store(), and copy memory that
 * may hold pointers into a heap object with gch_memmove().  The collector
 * needs to see such stores while a cycle marks beside the running program:
 * the barrier then shades the pointer being overwritten and the pointer
 * being written (Go's hybrid barrier: Yuasa's deletion half, Dijkstra's
 * insertion half) into the calling thread's barrier buffer, whose contents
 * the collector marks.  While no cycle marks concurrently the barrier is one
 * load of a global flag, one well-predicted branch and the store.  In the
 * stop-the-world mode (GCHEAP_GCMODE=stw) the flag is never set.
 *
 * Which stores need it: every store of a pointer (to an object of any open
 * heap) into an object allocated by gch_malloc() or gch_malloc_typed(),
 * including stores of NULL over a pointer (the overwritten pointer must be
 * shaded).  Which do not: stores into stacks, registers and thread-local
 * variables (every stack is scanned, with the world stopped, when a cycle
 * begins, and an object a thread can still reach from its stack was
 * reachable then, so it is marked: no stack is ever scanned twice);
 * stores into gch_malloc_noscan() objects (never scanned) and into malloc()
 * memory (not a root); stores of values that are not heap pointers
 * (integers, pointers to malloc memory); and initialising stores into a
 * slot that holds no heap pointer yet, e.g. the fields of an object fresh
 * from gch_malloc() (zeroed): there is nothing to shade on the deletion
 * side, and the insertion side is not needed -- see the invariant.  Nor do
 * stores into registered root ranges (gch_add_roots()) and data segments:
 * like stacks, they are scanned in the pause that begins the cycle, so
 * what they held then is marked, and what they receive later was either
 * reachable then or allocated since.
 *
 * The invariant (snapshot at the beginning, Go's weak tri-colour form):
 * every object reachable when a cycle begins is marked by its end, because
 * a reference can only disappear from the heap through a barriered store,
 * which shades its target first; objects allocated while the cycle marks
 * are allocated black (marked); so no white object the program can still
 * reach is ever freed.  The insertion half is redundant under this scheme
 * (every stack is scanned in the pause that starts the cycle) and is kept
 * so that stacks can later be scanned one thread at a time.
 *
 * A store that skips the barrier while a cycle marks can make the collector
 * free a reachable object: a use-after-free in the program.  To find such
 * stores, run with GCHEAP_GCVERIFY=1: every cycle then re-scans, in its
 * last pause, each marked object, the root ranges and the data segments,
 * and aborts with the address of any object one of them references that
 * the cycle left unmarked.  It cannot check references held only in
 * stacks (scanned conservatively, a stack shows dead slots too), and it
 * costs a scan of the live heap per cycle.  On the kernel backend, with a
 * module that tracks dirty pages (GCH_FEAT_DIRTY), GCHEAP_GCVERIFY=barrier
 * finds the store itself and costs only the pages the program wrote: each
 * cycle arms the module's dirty tracking when it begins, and its last
 * pause checks every pointer word of each marked object on a page written
 * during the cycle; one that points into an allocated, unmarked object was
 * written after the object was scanned and was not shaded, so it came
 * from a store that skipped gch_store().  The first such slot is reported
 * on stderr with its address, its object and the target, and the process
 * aborts before the cycle frees the target.  (A conservatively scanned
 * word that only looks like a pointer, written during the cycle, would be
 * reported too; typed objects have no such words.)
 *
 * Programs without the barrier (GCHEAP_BARRIER=dirty).  A program that
 * stores pointers with plain stores -- written for bdwgc, say -- may run
 * with GCHEAP_BARRIER=dirty (libgc.so.1 may choose it for its callers):
 * gch_store() is then an ordinary store, and on the kernel backend with a
 * module that tracks dirty pages the collector still marks beside the
 * program.  It arms the module's dirty tracking before the first pause,
 * marks with no barrier, then scans the objects on the pages written
 * meanwhile again, in rounds, beside the program, while that set shrinks;
 * the last pause rescans the last dirty set, every stack, register set and
 * root range, and finishes marking (Boehm, Demers and Shenker's
 * mostly-parallel collection).  Its cost is the stacks, the roots and the
 * pages written since the last round: a program that writes everywhere
 * all the time keeps that set large, and the pause grows with it.  Where
 * the module cannot track dirty pages (the host backend, an older module)
 * the heap is collected with the world stopped instead.  Every store rule
 * above is void in this mode: no store needs the barrier.
 * GCHEAP_DIRTY_ROUNDS=<0..64> sets the most concurrent rescan rounds a
 * cycle runs (default 8); 0 leaves every rescan to the last pause.
 *
 * gch_store() is restartable: the library may move a thread that it stops
 * half-way through the inline sequence back to its start, so the flag test
 * and the store take effect as one step (the sequence's bounds are recorded
 * in the section gch_barrier_sites of the module, registered by a
 * constructor this header defines).  The library cannot see through a
 * signal handler of the program that interrupted the sequence: a handler
 * that may run over gch_store() calls (any handler of a thread that stores
 * pointers) must be installed with SIGPWR in its sa_mask, so that the
 * library's stop waits until the handler has returned.  Any thread may
 * call these functions;
 * the calling thread should be attached (gch_thread_attach) as every thread
 * holding heap pointers must be, and an unattached one is served more
 * slowly.  x86-64 only, as the rest of the collector.
 */
extern uint8_t gch__wb_on;
void gch__store_slow(void **slot, void *val);
void gch__barrier_sites(const uintptr_t *lo, const uintptr_t *hi);

/* The bounds of this module's barrier sites, and their registration. */
extern const uintptr_t __start_gch_barrier_sites[]
	__attribute__((weak, visibility("hidden")));
extern const uintptr_t __stop_gch_barrier_sites[]
	__attribute__((weak, visibility("hidden")));
static void __attribute__((constructor, used)) gch__register_sites(void)
{
	gch__barrier_sites(__start_gch_barrier_sites, __stop_gch_barrier_sites);
}

/* gch_store - *slot = val, with the write barrier. */
static inline __attribute__((always_inline)) void gch_store(void **slot,
							    void *val)
{
#if defined(__x86_64__)
	__asm__ goto("0:	cmpb $0, %[on]\n"
		     "	jne %l[slow]\n"
		     "	movq %[val], (%[slot])\n"
		     "1:\n"
		     "	.pushsection gch_barrier_sites, \"aw\"\n"
		     "	.balign 8\n"
		     "	.quad 0b, 1b\n"
		     "	.popsection\n"
		     : /* asm goto has no outputs */
		     : [on] "m" (gch__wb_on), [val] "r" (val),
		       [slot] "r" (slot)
		     : "memory", "cc"
		     : slow);
	return;
slow:
#endif
	gch__store_slow(slot, val);
}

/*
 * gch_memmove - memmove() for memory that may hold pointers, into a heap
 * object; while a cycle marks, every aligned word of both ranges is shaded
 * first (conservatively: words that are not heap pointers are ignored).
 * Returns @dst.
 */
void *gch_memmove(void *dst, const void *src, size_t n);
/* ==== end of collector section ========================================== */

/*
 * Heap profile (Go's heap profile, in pprof's format)
 * ----------------------------------------------------
 * Sampling is on by default: on average one sample per 512 KiB allocated
 * (per heap, each thread counting its own allocations; the distance to the
 * next sample is exponentially distributed, so every byte is equally likely
 * to be sampled, as in Go).  A sampled object's call stack (up to 32 frames
 * of the program's, unwound with glibc's backtrace()) is recorded; when the
 * collector's sweeper frees it, the free is recorded against that stack.
 * Objects of every kind are sampled (typed, noscan, large; objects under
 * 16 B from gch_malloc_noscan() as the 16 B blocks they share).
 *
 * Environment (read by gch_open(), for that heap):
 *   GCHEAP_PROFILE_RATE=<bytes>  mean bytes between samples: decimal digits,
 *                    0 to 2^40; 0 turns sampling off; 1 samples every
 *                    object (exact figures, for tests).  Default 524288.  A
 *                    bad value (negative, not a number, too big) is
 *                    reported on stderr and the default is used.
 *   GCHEAP_PROFILE=<path>  write the heap's profile to <path> when the heap
 *                    is closed (gch_close()) or, if it is still open, when
 *                    the program exits (atexit; not on _exit() or a
 *                    crash).  The heap in slot N > 0 (opened while N others
 *                    were open) writes <path>.N.  The file is created when
 *                    the heap opens, to report an unwritable path at once
 *                    (on stderr; the heap then opens as usual and writes
 *                    no profile).
 *
 * To write one on demand, e.g. from a signal-driven maintenance thread:
 *     int fd = open("heap.pb.gz", O_WRONLY | O_CREAT | O_TRUNC, 0644);
 *     gch_gc(h);                 (optional: makes the profile current)
 *     gch_heap_profile_write(h, fd);
 *     close(fd);
 * and read it with `go tool pprof -top prog heap.pb.gz` (or any pprof).
 */

/*
 * gch_heap_profile_write - write @h's heap profile to @fd: a gzipped
 * profile.proto (pprof's format) with sample types alloc_objects/count,
 * alloc_space/bytes, inuse_objects/count, inuse_space/bytes (the default),
 * period_type space/bytes and period the sampling rate; one sample per
 * call stack and object size, labelled "bytes" with the object size;
 * function names and source lines from the program's symbols and DWARF
 * line tables (elfutils' libdw.so.1, loaded on first use; without it,
 * names of exported functions only); a mapping per loaded object.
 *
 * Values are scaled for sampling as Go's runtime/pprof does: n samples of
 * b bytes in all count as n * k objects and b * k bytes, where
 * k = 1 / (1 - exp(-(b / n) / rate)); at rate 1 they are exact.
 *
 * What it shows: the allocation figures (alloc_*) cover objects allocated
 * up to the end of the last finished collection cycle, the in-use figures
 * (inuse_*) those of them not freed by that cycle -- as in Go, so that
 * garbage the sweeper has not reached yet is never shown as in use, and
 * objects allocated since the last cycle appear after the next one.  The
 * call finishes the last cycle's sweep first (a thread attached to @h does
 * it as its allocations would; another waits for a running collection).
 * With sampling off (GCHEAP_PROFILE_RATE=0) the profile has no samples.
 *
 * Threads: any thread, concurrently with allocation, collection and other
 * writers; not from a signal handler, an out-of-memory handler or a
 * finalizer.  Allocates with malloc() and writes with write(2) (EINTR
 * retried); @fd's offset moves as write(2) moves it.
 *
 * Errors: EINVAL (@h NULL), EBADF (@fd not an open descriptor), ENOMEM,
 * or whatever write(2) reports (ENOSPC, EPIPE, ...: part of the profile
 * may have been written).
 */
int gch_heap_profile_write(gch_heap *h, int fd);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* GCHEAP_H */

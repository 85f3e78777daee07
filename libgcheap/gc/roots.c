// SPDX-License-Identifier: MIT
/*
 * roots.c - where marking starts.
 *
 * Three kinds of roots:
 *  - registered ranges (gch_add_roots): scanned precisely when the caller
 *    gives a pointer bitmap (bit i set: word i holds a pointer), otherwise
 *    conservatively, every aligned word;
 *  - with gch_register_data_segments(): the writable PT_LOAD segments (data
 *    and bss) of the program and of every loaded library, re-read at every
 *    collection so dlopen()ed libraries are seen;
 *  - the stack of every attached thread from its stack pointer up, and its
 *    saved registers (stw.c parks threads with both on hand).  The collecting
 *    thread spills its own callee-saved registers with setjmp().
 * Every non-precise root is conservative: a word counts only if it points
 * into an allocated heap object (interior pointers included, mark.c checks).
 *
 * Thread-local variables (__thread) of other threads are not roots: keep
 * heap pointers that only live in TLS in a registered range.  Code running on
 * a stack the thread library does not know (coroutines, sigaltstack) must
 * register that stack with gch_add_roots.
 *
 * Data segments and dlclose(): dl_iterate_phdr() takes the loader lock, which
 * a parked thread could hold (inside dlopen), so the segment list is read in
 * gc_roots_lock(), before the world stops.  A library closed between that and
 * the scan would leave a stale range, so each segment is checked to be still
 * mapped (msync() fails with ENOMEM on an unmapped range) before scanning.
 *
 * Locking: roots.lock protects the registered ranges and the segment
 * snapshot.  The collector holds it from before stopping the world until
 * the world restarts (see gc_internal.h for the order).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "gc_internal.h"
#include "gcheap.h"	/* the prototypes, and their default visibility */

struct root_range {
	uintptr_t lo, hi;
	uint64_t *ptrmap;	/* NULL: conservative; owned copy */
};

struct seg {
	uintptr_t lo, hi;
};

static struct {
	pthread_mutex_t lock;
	struct root_range *ranges;	/* under lock */
	size_t nranges, cap;
	bool data_segments;		/* under lock */
	struct seg *segs;		/* snapshot, under lock */
	size_t nsegs, segcap;
	bool locked;
	size_t scanned_bytes;
} roots = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

int gc_roots_init(void)
{
	return 0;
}

static uintptr_t align_up(uintptr_t x)
{
	return (x + GC_WORD - 1) & ~(uintptr_t)(GC_WORD - 1);
}

static uintptr_t align_down(uintptr_t x)
{
	return x & ~(uintptr_t)(GC_WORD - 1);
}

int gch_add_roots(void *start, size_t len, const uint64_t *ptrmap)
{
	uintptr_t lo = (uintptr_t)start, hi = lo + len;
	struct root_range r = { 0 };

	if (!start || !len || hi < lo) {
		errno = EINVAL;
		return -1;
	}
	if (ptrmap) {
		size_t words = len / GC_WORD, bytes = (words + 63) / 64 * 8;

		/* A precise layout is word by word: the range must be words. */
		if ((lo | len) & (GC_WORD - 1)) {
			errno = EINVAL;
			return -1;
		}
		r.ptrmap = malloc(bytes);
		if (!r.ptrmap)
			return -1;
		memcpy(r.ptrmap, ptrmap, bytes);
	} else {
		lo = align_up(lo);
		hi = align_down(hi);
		if (hi <= lo) {
			errno = EINVAL;
			return -1;
		}
	}
	r.lo = lo;
	r.hi = hi;

	gc_lock_blocking(&roots.lock);
	if (roots.nranges == roots.cap) {
		size_t ncap = roots.cap ? roots.cap * 2 : 16;
		struct root_range *n = realloc(roots.ranges, ncap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&roots.lock);
			free(r.ptrmap);
			errno = ENOMEM;
			return -1;
		}
		roots.ranges = n;
		roots.cap = ncap;
	}
	roots.ranges[roots.nranges++] = r;
	pthread_mutex_unlock(&roots.lock);
	return 0;
}

/* Remove every registered range lying wholly inside [start, start+len). */
int gch_remove_roots(void *start, size_t len)
{
	uintptr_t lo = (uintptr_t)start, hi = lo + len;
	size_t i = 0;
	int removed = 0;

	gc_lock_blocking(&roots.lock);
	while (i < roots.nranges) {
		struct root_range *r = &roots.ranges[i];

		if (r->lo >= lo && r->hi <= hi) {
			free(r->ptrmap);
			*r = roots.ranges[--roots.nranges];
			removed++;
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&roots.lock);
	return removed;
}

int gch_register_data_segments(void)
{
	gc_lock_blocking(&roots.lock);
	roots.data_segments = true;
	pthread_mutex_unlock(&roots.lock);
	return 0;
}

static int seg_push(uintptr_t lo, uintptr_t hi)
{
	if (roots.nsegs == roots.segcap) {
		size_t ncap = roots.segcap ? roots.segcap * 2 : 32;
		struct seg *n = realloc(roots.segs, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		roots.segs = n;
		roots.segcap = ncap;
	}
	roots.segs[roots.nsegs].lo = lo;
	roots.segs[roots.nsegs].hi = hi;
	roots.nsegs++;
	return 0;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo, hi;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		lo = align_up(info->dlpi_addr + ph->p_vaddr);
		hi = align_down(info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
		if (hi > lo && seg_push(lo, hi))
			return 1;
	}
	return 0;
}

void gc_roots_lock(void)
{
	pthread_mutex_lock(&roots.lock);
	roots.locked = true;
	roots.nsegs = 0;
	if (roots.data_segments)
		dl_iterate_phdr(phdr_cb, NULL);
}

void gc_roots_unlock(void)
{
	roots.locked = false;
	pthread_mutex_unlock(&roots.lock);
}

static bool range_mapped(uintptr_t lo, uintptr_t hi)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t plo = lo & ~(uintptr_t)(pg - 1);

	return msync((void *)plo, hi - plo, MS_ASYNC) == 0 || errno != ENOMEM;
}

void gc_roots_for_each(gc_range_fn fn, void *arg)
{
	assert(roots.locked);
	roots.scanned_bytes = 0;
	for (size_t i = 0; i < roots.nranges; i++) {
		struct root_range *r = &roots.ranges[i];

		fn(r->lo, r->hi, r->ptrmap, arg);
		roots.scanned_bytes += r->hi - r->lo;
	}
	for (size_t i = 0; i < roots.nsegs; i++) {
		struct seg *s = &roots.segs[i];

		if (!range_mapped(s->lo, s->hi))
			continue;
		fn(s->lo, s->hi, NULL, arg);
		roots.scanned_bytes += s->hi - s->lo;
	}
}

struct stack_walk {
	gc_range_fn fn;
	void *arg;
	uintptr_t self_sp;
};

static void scan_thread(struct gc_thread *t, bool is_self, void *arg)
{
	struct stack_walk *w = arg;
	uintptr_t sp;

	if (is_self) {
		sp = w->self_sp;
	} else if (t->collect_sp) {
		/*
		 * Parked inside the collector (waiting for a concurrent cycle
		 * in gch_gc() or at the goal): its mutator frames start where
		 * it entered, registers spilled there; the collector's frames
		 * and registers below hold only stale words.
		 */
		sp = t->collect_sp;
	} else {
		sp = t->saved_sp;
		w->fn((uintptr_t)t->regs, (uintptr_t)(t->regs + GC_NSAVED_REGS),
		      NULL, w->arg);
	}
	/* Off its known stack (coroutine, alternate stack): registers only. */
	if (sp < t->stack_lo || sp >= t->stack_hi)
		return;
	sp = align_down(sp);
	w->fn(sp, t->stack_hi, NULL, w->arg);
	roots.scanned_bytes += t->stack_hi - sp;
}

uintptr_t gc_current_sp(void)
{
	volatile uintptr_t here = 0;

	return (uintptr_t)&here;
}

/*
 * The collecting thread's callee-saved registers were spilled where it
 * entered the collector (gc_collect), and its stack is scanned from there
 * up; without an entry point (tests calling this directly) spill and scan
 * from here.
 */
__attribute__((noinline))
void gc_roots_for_each_stack(gc_range_fn fn, void *arg)
{
	struct stack_walk w = { .fn = fn, .arg = arg };

	__builtin_unwind_init();
	w.self_sp = gc_tls.collect_sp ? gc_tls.collect_sp : gc_current_sp();
	gc_for_each_thread(scan_thread, &w);
}

size_t gc_roots_bytes(void)
{
	return roots.scanned_bytes;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty-page tracking (GCH_IOC_DIRTY): which heap pages the program wrote
 * since a point in time, for a mostly-concurrent collector without write
 * barriers.
 *
 * Algorithm
 * ---------
 * Write protection and a write fault, per heap page (two system pages).
 *  - ARM (under the owner's write mmap_lock, so no fault runs): each of the
 *    heap's arena VMAs in the owner's mm gets gch_arena_dirty_vm_ops, which
 *    adds ->page_mkwrite, and the read-only vm_page_prot the core gives a
 *    write-notify shared mapping (vm_get_page_prot() without VM_SHARED, as
 *    vma_set_page_prot() would); then every present PTE is write-protected
 *    and cleaned (gch_vma_walk(), under the PTE lock), the owner's TLB
 *    entries are flushed wherever they are (gch_flush_mm()), and the bits
 *    are cleared.
 *    Why switch the ops instead of always having ->page_mkwrite: the core
 *    decides write-notify once, after ->mmap (vma_set_page_prot()), so a
 *    permanent ->page_mkwrite would make every untracked mapping pay a
 *    second fault for a page read before it is written, and populate
 *    (vm_insert_pages()) would map read-only.  An arena mmap()ed while
 *    armed takes the tracking ops at once (gch_arena_mmap()), and the core
 *    then gives it the read-only protection itself.
 *  - The write fault (gch_dirty_page_mkwrite()): the page is locked and
 *    still the table's (else released meanwhile: VM_FAULT_NOPAGE, the
 *    access retries), its heap page's bit is set, and it returns
 *    VM_FAULT_LOCKED; the core makes the PTE writable before it unlocks the
 *    page.  A not-present page written goes .fault then ->page_mkwrite the
 *    same way (do_shared_fault()); read faults and populate map read-only
 *    because vm_page_prot is.
 *  - COLLECT, per batch of up to GCH_DIRTY_BATCH dirty heap pages of one
 *    arena: lock their resident system pages (ascending), write-protect
 *    their PTEs in every owner VMA of the arena, flush the owner's TLB
 *    entries (gch_flush_mm()), and only then, under res_lock, test-and-clear
 *    the bits and report them; unlock.
 *  - DISARM (write mmap_lock): the plain ops and protection come back, the
 *    present PTEs of writable VMAs are made writable (so no write faults
 *    again), TLBs are flushed, the bits are cleared.
 *  - Release (scavenge.c, gch_take_down()) clears a heap page's bit when
 *    its last resident system page leaves the table: it holds zeroes now.
 *
 * The bits live in struct gch_arena (1 KiB per 64 MiB arena, next to the
 * allocator's own bitmap): ARM allocates nothing and cannot fail for memory,
 * an arena created while armed has its (clear) bits from birth, and
 * teardown frees them with the arena whatever the tracking state.
 *
 * Invariant: while armed, a PTE of the owner's arena VMAs that is writable
 * (or a TLB entry allowing a write) maps a page whose heap page's bit is
 * set.  It holds because a PTE becomes writable only in the write fault,
 * which sets the bit first with the page locked and keeps it locked until
 * the PTE is in; and a bit is cleared only (a) by COLLECT, which holds the
 * page locks and has write-protected and flushed every PTE of those pages,
 * (b) by ARM and DISARM, under the write mmap_lock after protecting or
 * unprotecting everything, or (c) by release, once no page of the heap page
 * is in the table (then every PTE of it is zapped before the range can be
 * allocated again: scavenge.c).
 *
 * Why COLLECT loses no write:
 *  - a write through a writable PTE or a stale TLB entry before the flush
 *    finished happened before the bit was read (the flush waits for every
 *    CPU, and a CPU takes the IPI between instructions): it is set, we
 *    report it;
 *  - a write after the flush faults; its ->page_mkwrite waits for our page
 *    lock and sets the bit after we cleared it: the next COLLECT reports it;
 *  - a system page that was not resident (or released) when we locked the
 *    batch may be faulted in meanwhile by another thread, mapped writable
 *    and its bit set before our test-and-clear; so after clearing, a heap
 *    page whose table entries are no longer the pages we locked keeps its
 *    bit (reported now and again next time: at worst twice, never lost).
 * A write through a pin (O_DIRECT) is not a fault and is not seen; taking
 * the pin for writing is (uAPI).
 *
 * TLB flush: flush_tlb_mm_range() is not exported, so the module does what
 * it does for a whole mm, with what the headers give it.  x86 keeps a CPU
 * that ran the owner earlier holding TLB entries under the mm's PCID
 * without being in mm_cpumask(); when it switches the mm in again it
 * flushes only if the mm's TLB generation moved (switch_mm_irqs_off()).
 * So gch_flush_mm() first moves the generation (what inc_mm_tlb_gen() does;
 * the header hides it from modules), a full barrier: a CPU that sets its
 * mm_cpumask() bit after we read the mask reads the new generation after
 * setting it, and flushes.  Then it flushes, by IPI, only the CPUs in
 * mm_cpumask() (__flush_tlb_all(): the one exported flush that covers the
 * user PCID).  A single-threaded owner pays
 * a local flush and no IPI, as mprotect() does; it flushes only when some
 * PTE lost its write bit: a PTE that was already read-only can have no
 * writable TLB entry (whoever protected it flushed).
 * The PTEs are cleaned as well as protected because mprotect() upgrades a
 * dirty PTE of a write-notify mapping to writable without a fault
 * (can_change_pte_writable()).
 *
 * Locking
 * -------
 * heap->dirty_lock (mutex) serialises the three commands and is taken
 * before mmap_lock (nothing takes it under mmap_lock; mmap() reads
 * dirty_armed under its write mmap_lock, which ARM and DISARM hold while
 * they change it).  ARM and DISARM switch vm_ops and vm_page_prot under the
 * write mmap_lock, so no fault or GUP of the owner's mm sees a half switch.
 * COLLECT holds the read mmap_lock for its whole range (VMAs and page
 * tables stay; mmap() and munmap() wait for it) and page locks; the bits
 * are changed under res_lock everywhere.  A COLLECT cannot be interrupted:
 * the bits it cleared must reach the bitmap, so it runs to the end of its
 * range (cond_resched() between batches).
 * Page-lock order: COLLECT locks up to 2 * GCH_DIRTY_BATCH pages of one
 * arena in ascending order and waits for nothing else while holding them
 * but PTE locks and the flush IPIs.  It cannot deadlock: the fault handlers
 * hold one page lock at a time, release only trylocks, populate holds locks
 * of fresh pages it just installed and never waits for another page lock,
 * and no other kernel code locks these pages (not in the page cache, not
 * on the LRU).  Its user bitmap is pinned beforehand, so it takes no fault
 * of its own while it holds them.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/highmem.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/ktime.h>
#include <linux/bitops.h>
#include <asm/tlbflush.h>
#include "gcheap_priv.h"
#include "gcheap_trace.h"

/* Heap pages re-armed per TLB flush (and per set of page locks). */
#define GCH_DIRTY_BATCH		512
#define GCH_DIRTY_CMDS		(GCH_DIRTY_ARM | GCH_DIRTY_COLLECT | \
				 GCH_DIRTY_DISARM)

vm_fault_t gch_dirty_page_mkwrite(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct gch_heap *heap = vma->vm_private_data;
	unsigned long ai = vmf->pgoff >> GCH_ARENA_SYS_SHIFT;
	unsigned int idx = vmf->pgoff & (GCH_SYS_PER_ARENA - 1);
	struct page *page = vmf->page;
	struct gch_arena *arena;
	bool current_entry;
	u64 faults = 0;

	if (ai >= GCH_MAX_ARENAS || vma->vm_mm != heap->mm)
		return VM_FAULT_SIGBUS;
	/* pairs with the release in gch_arena_get() */
	arena = smp_load_acquire(&heap->arenas[ai]);
	if (!arena)
		return VM_FAULT_SIGBUS;

	lock_page(page);
	spin_lock(&heap->res_lock);
	current_entry = arena->pages[idx] == page;
	if (current_entry) {
		set_bit(idx / GCH_SYS_PER_HEAP_PAGE, arena->dirty);
		faults = ++heap->dirty_faults;
	}
	spin_unlock(&heap->res_lock);
	if (!current_entry) {
		/* released since the PTE was read: the access retries */
		unlock_page(page);
		return VM_FAULT_NOPAGE;
	}
	trace_gcheap_dirty_fault(heap, (u64)ai * GCH_PAGES_PER_ARENA +
				 idx / GCH_SYS_PER_HEAP_PAGE, faults);
	/* the core makes the PTE writable before it unlocks the page */
	return VM_FAULT_LOCKED;
}

/*
 * Release took system page @idx out of @arena's table: once no system page
 * of its heap page is left, the heap page holds zeroes and is clean.
 */
void gch_dirty_page_gone(struct gch_heap *heap, struct gch_arena *arena,
			 unsigned int idx)
{
	unsigned int first = round_down(idx, GCH_SYS_PER_HEAP_PAGE), i;

	lockdep_assert_held(&heap->res_lock);
	for (i = first; i < first + GCH_SYS_PER_HEAP_PAGE; i++)
		if (arena->pages[i])
			return;
	clear_bit(idx / GCH_SYS_PER_HEAP_PAGE, arena->dirty);
}

bool gch_dirty_valid(const struct gch_dirty *d)
{
	if ((d->flags & ~GCH_DIRTY_CMDS) || hweight32(d->flags) != 1)
		return false;
	if (d->flags != GCH_DIRTY_COLLECT)
		return !d->first_page && !d->npages && !d->bitmap;
	return d->npages && d->first_page < GCH_MAX_PAGES &&
	       d->npages <= GCH_MAX_PAGES - d->first_page;
}

/* ---- PTEs and TLBs ---- */

/*
 * The module's own page-table walk, as mprotect()'s change_pte_range() is
 * one loop per PTE table: apply_to_existing_page_range() would cost an
 * indirect call per PTE, which made arming slower per page than mprotect().
 * The caller holds the mmap_lock (the tables stay) and the walk takes each
 * PTE table's lock.  These mappings never have a huge PMD or PUD: the arena
 * fault handler and populate map system pages.
 */
enum gch_pte_op { GCH_PTE_PROTECT, GCH_PTE_UNPROTECT };

struct gch_pte_walk {
	struct vm_area_struct *vma;
	enum gch_pte_op op;
	/* system pages of the arena to visit; NULL: every one */
	const unsigned long *want;
	unsigned long changed;	/* PTEs whose write bit changed */
};

/* One PTE, under its table's lock: true if its write bit changed. */
static bool gch_pte_apply(struct vm_area_struct *vma, enum gch_pte_op op,
			  pte_t *ptep, unsigned long addr)
{
	pte_t old = ptep_get(ptep);

	if (!pte_present(old))
		return false;
	if (op == GCH_PTE_PROTECT) {
		if (!pte_write(old) && !pte_dirty(old))
			return false;
		old = ptep_modify_prot_start(vma, addr, ptep);
		ptep_modify_prot_commit(vma, addr, ptep, old,
					pte_mkclean(pte_wrprotect(old)));
		return pte_write(old);
	}
	if (pte_write(old))
		return false;
	/* soft-dirty tracking (clear_refs) still wants this PTE's write fault */
	if (IS_ENABLED(CONFIG_MEM_SOFT_DIRTY) &&
	    !(vma->vm_flags & VM_SOFTDIRTY) && !pte_soft_dirty(old))
		return false;
	old = ptep_modify_prot_start(vma, addr, ptep);
	ptep_modify_prot_commit(vma, addr, ptep, old, pte_mkwrite(old));
	return true;
}

static void gch_walk_ptes(struct gch_pte_walk *w, pmd_t *pmd,
			  unsigned long addr, unsigned long end)
{
	unsigned long idx = (addr - w->vma->vm_start) >> PAGE_SHIFT;
	spinlock_t *ptl;
	pte_t *start, *ptep;

	start = pte_offset_map_lock(w->vma->vm_mm, pmd, addr, &ptl);
	ptep = start;
	arch_enter_lazy_mmu_mode();
	for (; addr != end; addr += PAGE_SIZE, ptep++, idx++) {
		if (w->want && !test_bit(idx, w->want))
			continue;
		w->changed += gch_pte_apply(w->vma, w->op, ptep, addr);
	}
	arch_leave_lazy_mmu_mode();
	pte_unmap_unlock(start, ptl);
}

static void gch_walk_pmds(struct gch_pte_walk *w, pud_t *pud,
			  unsigned long addr, unsigned long end)
{
	pmd_t *pmd = pmd_offset(pud, addr);
	unsigned long next;
	pmd_t val;

	do {
		next = pmd_addr_end(addr, end);
		val = READ_ONCE(*pmd);
		if (pmd_none(val) || pmd_bad(val))
			continue;
		gch_walk_ptes(w, pmd, addr, next);
		cond_resched();
	} while (pmd++, addr = next, addr != end);
}

static void gch_walk_puds(struct gch_pte_walk *w, p4d_t *p4d,
			  unsigned long addr, unsigned long end)
{
	pud_t *pud = pud_offset(p4d, addr);
	unsigned long next;

	do {
		next = pud_addr_end(addr, end);
		if (!pud_none(*pud) && !pud_bad(*pud))
			gch_walk_pmds(w, pud, addr, next);
	} while (pud++, addr = next, addr != end);
}

/* System pages [lo, hi) of @vma's arena: PTEs whose write bit @op changed. */
static unsigned long gch_vma_walk(struct vm_area_struct *vma,
				  enum gch_pte_op op, const unsigned long *want,
				  unsigned int lo, unsigned int hi)
{
	struct gch_pte_walk w = { .vma = vma, .op = op, .want = want };
	unsigned long addr = vma->vm_start + ((unsigned long)lo << PAGE_SHIFT);
	unsigned long end = vma->vm_start + ((unsigned long)hi << PAGE_SHIFT);
	unsigned long next, p4d_next;
	pgd_t *pgd;
	p4d_t *p4d;

	lockdep_assert_held(&vma->vm_mm->mmap_lock);
	if (addr >= end)
		return 0;
	pgd = pgd_offset(vma->vm_mm, addr);
	do {
		next = pgd_addr_end(addr, end);
		if (pgd_none(*pgd) || pgd_bad(*pgd))
			continue;
		p4d = p4d_offset(pgd, addr);
		do {
			p4d_next = p4d_addr_end(addr, next);
			if (!p4d_none(*p4d) && !p4d_bad(*p4d))
				gch_walk_puds(&w, p4d, addr, p4d_next);
		} while (p4d++, addr = p4d_next, addr != next);
	} while (pgd++, addr = next, addr != end);
	return w.changed;
}

static void gch_flush_local(void *unused)
{
	__flush_tlb_all();
}

/* Every TLB entry of @mm, wherever it is: see "TLB flush" above. */
static void gch_flush_mm(struct mm_struct *mm)
{
	atomic64_inc_return(&mm->context.tlb_gen);
	on_each_cpu_mask(mm_cpumask(mm), gch_flush_local, NULL, true);
}

static bool gch_dirty_vma(struct gch_heap *heap, struct vm_area_struct *vma)
{
	return vma->vm_private_data == heap && gch_is_arena_vma(vma);
}

/* Clear the bits of every created arena (under the write mmap_lock). */
static void gch_dirty_clear_all(struct gch_heap *heap)
{
	struct gch_arena *arena;
	unsigned int i;

	for (i = 0; i < GCH_MAX_ARENAS; i++) {
		/* pairs with the release in gch_arena_get() */
		arena = smp_load_acquire(&heap->arenas[i]);
		if (!arena)
			continue;
		spin_lock(&heap->res_lock);
		bitmap_zero(arena->dirty, GCH_PAGES_PER_ARENA);
		spin_unlock(&heap->res_lock);
	}
}

/*
 * Switch every arena VMA of @heap in @mm to the tracking ops (@on) or back,
 * with the matching protection, and protect or unprotect its present PTEs.
 * Returns the PTEs changed.
 */
static unsigned long gch_dirty_switch(struct gch_heap *heap,
				      struct mm_struct *mm, bool on)
{
	struct vm_area_struct *vma;
	unsigned long changed = 0;
	vm_flags_t flags;
	VMA_ITERATOR(vmi, mm, 0);

	lockdep_assert_held_write(&mm->mmap_lock);
	for_each_vma(vmi, vma) {
		if (!gch_dirty_vma(heap, vma))
			continue;
		flags = on ? vma->vm_flags & ~VM_SHARED : vma->vm_flags;
		vma->vm_ops = on ? &gch_arena_dirty_vm_ops : &gch_arena_vm_ops;
		/*
		 * What vma_set_page_prot() gives a write-notify mapping; no
		 * caching bits to keep (pgprot_modify() would need the
		 * unexported cc_mask): gch_mmap() never sets any.
		 */
		WRITE_ONCE(vma->vm_page_prot, vm_get_page_prot(flags));
		if (on)
			changed += gch_vma_walk(vma, GCH_PTE_PROTECT, NULL, 0,
						GCH_SYS_PER_ARENA);
		else if (vma->vm_flags & VM_WRITE)
			changed += gch_vma_walk(vma, GCH_PTE_UNPROTECT, NULL,
						0, GCH_SYS_PER_ARENA);
	}
	return changed;
}

static int gch_dirty_arm(struct gch_heap *heap, struct gch_dirty *d)
{
	struct mm_struct *mm = current->mm;
	u64 t0 = ktime_get_ns();
	unsigned long wp;

	lockdep_assert_held(&heap->dirty_lock);
	if (heap->dirty_armed)
		return -EBUSY;
	mmap_write_lock(mm);
	wp = gch_dirty_switch(heap, mm, true);
	if (wp)
		gch_flush_mm(mm);
	/* no fault can run: nothing marks a page until we unlock */
	gch_dirty_clear_all(heap);
	WRITE_ONCE(heap->dirty_armed, true);
	mmap_write_unlock(mm);

	spin_lock(&heap->res_lock);
	heap->dirty_arms++;
	heap->dirty_wp_pages += wp;
	spin_unlock(&heap->res_lock);
	d->dirty_pages = 0;
	d->wp_pages = wp;
	trace_gcheap_dirty_arm(heap, wp, ktime_get_ns() - t0);
	return 0;
}

static int gch_dirty_disarm(struct gch_heap *heap, struct gch_dirty *d)
{
	struct mm_struct *mm = current->mm;
	u64 t0 = ktime_get_ns();
	unsigned long n;

	lockdep_assert_held(&heap->dirty_lock);
	if (!heap->dirty_armed)
		return -EINVAL;
	mmap_write_lock(mm);
	n = gch_dirty_switch(heap, mm, false);
	/* an upgrade needs no flush, but a stale entry would fault once */
	if (n)
		gch_flush_mm(mm);
	gch_dirty_clear_all(heap);
	WRITE_ONCE(heap->dirty_armed, false);
	mmap_write_unlock(mm);

	d->dirty_pages = 0;
	d->wp_pages = 0;
	trace_gcheap_dirty_disarm(heap, n, ktime_get_ns() - t0);
	return 0;
}

/* ---- COLLECT: the user bitmap ---- */

/* The pinned bitmap of a COLLECT: written through the kernel's mapping. */
struct gch_ubits {
	struct page **pages;
	unsigned int npages;
	unsigned long off;	/* of the bitmap in pages[0] */
	size_t len;
};

/* Pin the bitmap for @npages bits at @uptr for writing, or -errno. */
static int gch_ubits_pin(struct gch_ubits *ub, u64 uptr, u64 npages)
{
	void __user *uarg = u64_to_user_ptr(uptr);
	unsigned long addr = (unsigned long)uptr;
	int got;

	ub->len = DIV_ROUND_UP(npages, 64) * sizeof(u64);
	if (!access_ok(uarg, ub->len))
		return -EFAULT;
	ub->off = offset_in_page(addr);
	ub->npages = DIV_ROUND_UP(ub->off + ub->len, PAGE_SIZE);
	ub->pages = kvmalloc_array(ub->npages, sizeof(*ub->pages), GFP_KERNEL);
	if (!ub->pages)
		return -ENOMEM;
	got = pin_user_pages_fast(addr & PAGE_MASK, ub->npages, FOLL_WRITE,
				  ub->pages);
	if (got == ub->npages)
		return 0;
	if (got > 0)
		unpin_user_pages(ub->pages, got);
	kvfree(ub->pages);
	return -EFAULT;
}

static void gch_ubits_release(struct gch_ubits *ub, bool written)
{
	if (written)
		unpin_user_pages_dirty_lock(ub->pages, ub->npages, true);
	else
		unpin_user_pages(ub->pages, ub->npages);
	kvfree(ub->pages);
}

/* Every byte of the bitmap to 0: it is written whole. */
static void gch_ubits_zero(struct gch_ubits *ub)
{
	size_t done = 0, chunk, off = ub->off;
	unsigned int i;

	for (i = 0; i < ub->npages; i++, off = 0) {
		chunk = min_t(size_t, ub->len - done, PAGE_SIZE - off);
		memzero_page(ub->pages[i], off, chunk);
		done += chunk;
	}
}

/* Set bit @bit (bit % 64 of __u64 word bit / 64), any alignment. */
static void gch_ubits_set(struct gch_ubits *ub, u64 bit)
{
	unsigned int byte = (bit % 64) / 8;
	unsigned long pos;
	u8 *p;

	if (IS_ENABLED(CONFIG_CPU_BIG_ENDIAN))
		byte = 7 - byte;
	pos = ub->off + (bit / 64) * sizeof(u64) + byte;
	p = kmap_local_page(ub->pages[pos >> PAGE_SHIFT]);
	p[offset_in_page(pos)] |= 1U << (bit % 8);
	kunmap_local(p);
}

/* ---- COLLECT: one batch ---- */

struct gch_collect {
	struct gch_heap *heap;
	struct mm_struct *mm;
	struct gch_arena *arena;
	struct gch_ubits ub;
	u64 first;		/* the range's first heap page */
	unsigned int n;		/* heap pages in the batch */
	u32 hp[GCH_DIRTY_BATCH];	/* heap pages, in the arena, ascending */
	/* the locked page of each system page of hp[], or NULL */
	struct page *pages[GCH_DIRTY_BATCH * GCH_SYS_PER_HEAP_PAGE];
	DECLARE_BITMAP(locked, GCH_SYS_PER_ARENA);
	u64 dirty;
	unsigned long wp;
};

/* Lock the page backing system page @idx if it is resident; else NULL. */
static struct page *gch_lock_sys(struct gch_heap *heap,
				 struct gch_arena *arena, unsigned int idx)
{
	struct page *page;
	bool current_entry;

	spin_lock(&heap->res_lock);
	page = arena->pages[idx];
	if (page)
		get_page(page);
	spin_unlock(&heap->res_lock);
	if (!page)
		return NULL;
	lock_page(page);
	spin_lock(&heap->res_lock);
	current_entry = arena->pages[idx] == page;
	spin_unlock(&heap->res_lock);
	if (current_entry)
		return page;
	unlock_page(page);	/* released meanwhile */
	put_page(page);
	return NULL;
}

/* Lock the batch's pages, ascending; returns the locked range [*lo, *hi). */
static void gch_collect_lock(struct gch_collect *c, unsigned int *lo,
			     unsigned int *hi)
{
	unsigned int i, s, idx;
	struct page *page;

	*lo = UINT_MAX;
	*hi = 0;
	for (i = 0; i < c->n; i++) {
		for (s = 0; s < GCH_SYS_PER_HEAP_PAGE; s++) {
			idx = c->hp[i] * GCH_SYS_PER_HEAP_PAGE + s;
			page = gch_lock_sys(c->heap, c->arena, idx);
			c->pages[i * GCH_SYS_PER_HEAP_PAGE + s] = page;
			if (!page)
				continue;
			__set_bit(idx, c->locked);
			*lo = min(*lo, idx);
			*hi = idx + 1;
		}
	}
}

/* Write-protect the locked pages in every owner VMA of the arena. */
static void gch_collect_protect(struct gch_collect *c, unsigned int lo,
				unsigned int hi)
{
	unsigned long pgoff = (unsigned long)c->arena->index <<
			      GCH_ARENA_SYS_SHIFT;
	struct vm_area_struct *vma;
	VMA_ITERATOR(vmi, c->mm, 0);

	if (lo >= hi)
		return;
	for_each_vma(vmi, vma) {
		if (gch_dirty_vma(c->heap, vma) && vma->vm_pgoff == pgoff)
			c->wp += gch_vma_walk(vma, GCH_PTE_PROTECT, c->locked,
					      lo, hi);
	}
}

/*
 * After the flush: take the batch's bits and report the set ones.  A heap
 * page whose table entries are not the pages we locked any more (a fault
 * filled an empty one) keeps its bit: see "Why COLLECT loses no write".
 */
static void gch_collect_take(struct gch_collect *c, u64 wp_before)
{
	u64 base = (u64)c->arena->index * GCH_PAGES_PER_ARENA;
	struct gch_heap *heap = c->heap;
	unsigned int i, s, idx;
	bool moved;

	spin_lock(&heap->res_lock);
	for (i = 0; i < c->n; i++) {
		if (!test_and_clear_bit(c->hp[i], c->arena->dirty))
			continue;
		moved = false;
		for (s = 0; s < GCH_SYS_PER_HEAP_PAGE; s++) {
			idx = c->hp[i] * GCH_SYS_PER_HEAP_PAGE + s;
			moved |= c->arena->pages[idx] !=
				 c->pages[i * GCH_SYS_PER_HEAP_PAGE + s];
		}
		if (moved)
			set_bit(c->hp[i], c->arena->dirty);
		gch_ubits_set(&c->ub, base + c->hp[i] - c->first);
		c->dirty++;
	}
	heap->dirty_wp_pages += c->wp - wp_before;
	spin_unlock(&heap->res_lock);
}

static void gch_collect_unlock(struct gch_collect *c)
{
	unsigned int i;
	struct page *page;

	for (i = 0; i < c->n * GCH_SYS_PER_HEAP_PAGE; i++) {
		page = c->pages[i];
		if (!page)
			continue;
		__clear_bit(c->hp[i / GCH_SYS_PER_HEAP_PAGE] *
			    GCH_SYS_PER_HEAP_PAGE + i % GCH_SYS_PER_HEAP_PAGE,
			    c->locked);
		unlock_page(page);
		put_page(page);
	}
}

/* Re-arm and report the batch c->hp[0 .. c->n) of c->arena. */
static void gch_collect_batch(struct gch_collect *c)
{
	unsigned long wp_before = c->wp;
	unsigned int lo, hi;

	gch_collect_lock(c, &lo, &hi);
	gch_collect_protect(c, lo, hi);
	/* only a PTE that lost its write bit can have a writable TLB entry */
	if (c->wp != wp_before)
		gch_flush_mm(c->mm);
	gch_collect_take(c, wp_before);
	gch_collect_unlock(c);
	c->n = 0;
}

/* Heap pages [lo, hi) of arena @ai that are dirty, in batches. */
static void gch_collect_arena(struct gch_collect *c, unsigned int ai,
			      unsigned int lo, unsigned int hi)
{
	unsigned int h;

	/* pairs with the release in gch_arena_get() */
	c->arena = smp_load_acquire(&c->heap->arenas[ai]);
	if (!c->arena)
		return;
	for (h = find_next_bit(c->arena->dirty, hi, lo); h < hi;
	     h = find_next_bit(c->arena->dirty, hi, h + 1)) {
		c->hp[c->n++] = h;
		if (c->n == GCH_DIRTY_BATCH) {
			gch_collect_batch(c);
			cond_resched();
		}
	}
	if (c->n)
		gch_collect_batch(c);
}

static int gch_dirty_collect(struct gch_heap *heap, struct gch_dirty *d,
			     struct gch_collect *c)
{
	u64 end = d->first_page + d->npages, t0 = ktime_get_ns(), faults;
	unsigned int ai, lo, hi;

	lockdep_assert_held(&heap->dirty_lock);
	if (!heap->dirty_armed)
		return -EINVAL;
	gch_ubits_zero(&c->ub);
	c->heap = heap;
	c->mm = current->mm;
	c->first = d->first_page;
	mmap_read_lock(c->mm);
	for (ai = d->first_page / GCH_PAGES_PER_ARENA;
	     (u64)ai * GCH_PAGES_PER_ARENA < end; ai++) {
		lo = max_t(u64, d->first_page, (u64)ai * GCH_PAGES_PER_ARENA) -
		     (u64)ai * GCH_PAGES_PER_ARENA;
		hi = min_t(u64, end, (u64)(ai + 1) * GCH_PAGES_PER_ARENA) -
		     (u64)ai * GCH_PAGES_PER_ARENA;
		gch_collect_arena(c, ai, lo, hi);
	}
	mmap_read_unlock(c->mm);

	spin_lock(&heap->res_lock);
	heap->dirty_collects++;
	faults = heap->dirty_faults;
	spin_unlock(&heap->res_lock);
	d->dirty_pages = c->dirty;
	d->wp_pages = c->wp;
	trace_gcheap_dirty_collect(heap, d->first_page, d->npages, c->dirty,
				   c->wp, faults, ktime_get_ns() - t0);
	return 0;
}

/*
 * GCH_IOC_DIRTY, called by the owner with @d validated (gch_dirty_valid())
 * and its write-back pinned.  COLLECT pins the bitmap before anything
 * changes; every error leaves the heap as it was.
 */
int gch_dirty_ioctl(struct gch_heap *heap, struct gch_dirty *d)
{
	struct gch_collect *c = NULL;
	int err;

	if (d->flags == GCH_DIRTY_COLLECT) {
		c = kvzalloc(sizeof(*c), GFP_KERNEL);
		if (!c)
			return -ENOMEM;
		err = gch_ubits_pin(&c->ub, d->bitmap, d->npages);
		if (err)
			goto out_free;
	}

	mutex_lock(&heap->dirty_lock);
	if (d->flags == GCH_DIRTY_ARM)
		err = gch_dirty_arm(heap, d);
	else if (d->flags == GCH_DIRTY_DISARM)
		err = gch_dirty_disarm(heap, d);
	else
		err = gch_dirty_collect(heap, d, c);
	mutex_unlock(&heap->dirty_lock);

	if (c)
		gch_ubits_release(&c->ub, !err);
out_free:
	kvfree(c);
	return err;
}

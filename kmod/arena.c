// SPDX-License-Identifier: GPL-2.0
/*
 * Arenas: mmap() of the device, the fault handler that backs heap memory
 * with the module's own pages, and the release primitive that takes that
 * memory back.
 *
 * Backing memory
 * --------------
 * Each arena keeps a table pages[] with one entry per PAGE_SIZE of its 64 MiB
 * (the file offset of arena i is i * 64 MiB, so a VMA's pgoff indexes the
 * table directly).  A fault looks the entry up; if it is empty it allocates a
 * zeroed page charged to the faulting task's memory cgroup (__GFP_ACCOUNT)
 * and installs it.  The table holds one page reference; the fault returns
 * another in vmf->page.  Pages are not in the page cache and not on the LRU:
 * nothing but this module can free them, reclaim included (issue 4 adds a
 * shrinker that calls the release primitive).
 *
 * Fault vs. release
 * -----------------
 * Release (scavenge.c, gch_release_down()) trylocks a page while it is still
 * in the table (a locked page is being faulted: it is skipped) and clears the
 * table entry, both under res_lock; it never puts a page back, which could
 * overwrite a page a racing fault installed in the emptied entry.  The fault
 * returns the page locked (VM_FAULT_LOCKED) after re-checking, with the page
 * lock held, that the table still holds it; the core installs the PTE before
 * unlocking.  So a fault either saw the entry cleared and retries, or its
 * PTE existed before the page could be trylocked, and release's zap
 * (unmap_mapping_range() on the heap's private mapping, after the pages
 * left the table) removes it: a released page is never left mapped.
 * Release runs under heap->lock, which keeps the released range free (no
 * span allocation can hand it out meanwhile); the fault never takes
 * heap->lock, so the two cannot deadlock.
 *
 * Residency bookkeeping (res_lock): arena->resident, heap->resident_pages and
 * heap->free_resident_pages.  A fault classifies a new page as free or
 * in-span by the page-map entry, which the allocator writes under res_lock
 * while it also counts the span's resident pages (gch_span_publish()), so
 * the two views agree exactly.
 *
 * Populating in batches
 * ---------------------
 * A first touch is a page fault per system page, and where a fault is dear
 * (about 13 us under qemu's TCG) that dominates allocation.  When the owner
 * has marked its mapping of an arena madvise(MADV_SEQUENTIAL), a small span
 * (at most GCH_POPULATE_MAX_PAGES heap pages) allocated there has the faults'
 * work done inside GCH_IOC_SPAN_ALLOC (gch_span_populate()): per step of up
 * to GCH_POPULATE_BATCH system pages it allocates zeroed, __GFP_ACCOUNT
 * pages for the empty table entries, installs them in the table under one
 * res_lock hold (the same bookkeeping as a fault, counted in heap->populated
 * instead of heap->faults), and maps them with one vm_insert_pages() call per
 * contiguous run.  Measured under TCG (bench/kmod-populate.md), an 8 KiB
 * span's two first-touch faults cost about 14 us, running the same handler
 * through MADV_POPULATE_WRITE from the library about 12 us (in a syscall of
 * its own: populating ahead of the span would make the next spans
 * non-ZEROED), populating here about 5.5 us, inside a syscall the library
 * makes anyway.  A run of empty entries takes its pages as one block of up
 * to 2^GCH_POPULATE_ORDER (128 KiB) split into single pages, when the page
 * allocator has one free without reclaim or compaction: one allocation, one
 * memory cgroup charge and one pass of zeroing per block instead of per
 * page, the first-touch costs that transparent huge pages spare anonymous
 * memory (the arenas' mapping cannot have huge pages: VM_MIXEDMAP and
 * VM_DONTEXPAND are in VM_NO_KHUGEPAGED).  That took a populated span in a
 * batch of 16 from 7.8 to 6.1 us, under anonymous memory with huge pages
 * (6.6).  Fault-around in the handler would still take one fault per
 * span (a small span is one heap page, two system pages: it saves half), and
 * populating untouched pages on an ordinary fault would make residency, and
 * with it GCH_SPAN_ZEROED, coarser for every user.  It is opt-in because only
 * the program knows that it writes its small spans whole.  The request is
 * madvise() advice on the mapping rather than a new field or flag of the
 * ioctl: it needs no new uAPI (madvise() already means "read ahead" for any
 * mapping), old binaries never give it, old modules ignore it, and it is
 * set once per arena instead of passed with every span.
 *
 * The populate follows the fault-vs-release protocol: each fresh page is
 * locked (__SetPageLocked: nobody can see it yet) before it enters the table
 * and stays locked until its PTE is in, so release, which only trylocks,
 * cannot take it out of the table in between, and a racing fault on it waits
 * for the lock and then finds the PTE present.  An entry a fault filled
 * first keeps its page, and ours is freed unseen.  Allocation uses
 * __GFP_NORETRY: populating is speculative, so at a memory cgroup's limit
 * (or under global pressure) it stops after one light reclaim attempt
 * instead of invoking the OOM killer, keeping what it populated so far
 * (resident and counted, so nothing leaks and the counters stay exact) and
 * leaving the rest to faults.  The span is inside the hard limit and the
 * module cap already, so populating it cannot pass either.  The mapping used
 * is the one the owner mmap()ed the arena at last (arena->uaddr), re-checked
 * under mmap_lock before each step.  VM_MIXEDMAP is set at mmap() time
 * because vm_insert_pages() may not set it under a read mmap_lock; it also
 * makes fork() copy the PTEs of a VMA that MADV_DOFORK let through, which
 * gch_arena_vm_open() undoes.
 *
 * Spans across arenas (GCH_SPAN_ALLOC_CROSS, pagealloc.c) need nothing here:
 * the allocator publishes such a span arena by arena, so every function
 * below sees a range inside one arena, and populating, which only small
 * spans ask for, leaves a span that crosses a boundary to faults
 * (gch_span_populate() checks).  Each arena stays its own mapping: one flat
 * span over several is contiguous only because the owner maps the arenas
 * side by side, which GCH_SPAN_ALLOC_CROSS requires of it.
 *
 * Dirty tracking (dirty.c) swaps the owner's arena VMAs to
 * gch_arena_dirty_vm_ops, the same handlers plus ->page_mkwrite, while it is
 * armed; an arena mmap()ed meanwhile gets them at once.
 *
 * VMA rules: exact arena size, MAP_SHARED only, never executable, not copied
 * on fork, not expandable, not splittable (may_split) and not movable
 * (mremap), which keeps "one VMA == one whole arena" true for its lifetime.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include "gcheap_priv.h"

/*
 * System pages one populate step allocates and maps (256 KiB): the step's
 * arrays live on the stack, and mmap_lock is dropped between steps.
 */
#define GCH_POPULATE_BATCH	64
/*
 * Largest block a populate step allocates at once: 2^5 system pages, 128
 * KiB, what libgcheap's batch of small spans asks for (see the top).
 */
#define GCH_POPULATE_ORDER	5

int gch_vma_no_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

int gch_vma_no_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

/*
 * Put @page into the empty entry @idx: the residency bookkeeping the fault
 * and populate paths share (each counts its own installs).
 */
static void gch_table_install(struct gch_heap *heap, struct gch_arena *arena,
			      unsigned int idx, struct page *page)
{
	lockdep_assert_held(&heap->res_lock);
	arena->pages[idx] = page;
	arena->resident++;
	heap->resident_pages++;
	if (!READ_ONCE(arena->pagemap[idx / GCH_SYS_PER_HEAP_PAGE]))
		gch_mcg_account(heap, page, 1);
}

/* Take a page for @idx from the table, installing @fresh if it is empty. */
static struct page *gch_table_get(struct gch_heap *heap,
				  struct gch_arena *arena, unsigned int idx,
				  struct page **fresh)
{
	struct page *page;

	spin_lock(&heap->res_lock);
	page = arena->pages[idx];
	if (!page && *fresh) {
		page = *fresh;
		*fresh = NULL;
		gch_table_install(heap, arena, idx, page);
		heap->faults++;
	}
	if (page)
		get_page(page);
	spin_unlock(&heap->res_lock);
	return page;
}

static vm_fault_t gch_arena_fault(struct vm_fault *vmf)
{
	struct gch_heap *heap = vmf->vma->vm_private_data;
	unsigned long ai = vmf->pgoff >> GCH_ARENA_SYS_SHIFT;
	unsigned int idx = vmf->pgoff & (GCH_SYS_PER_ARENA - 1);
	struct page *page, *fresh = NULL;
	struct gch_arena *arena;
	bool current_entry;

	/* MADV_DOFORK can carry a VMA into a child: it must not touch the heap */
	if (ai >= GCH_MAX_ARENAS || vmf->vma->vm_mm != heap->mm)
		return VM_FAULT_SIGBUS;
	/* pairs with the release in gch_arena_get(): the arena is complete */
	arena = smp_load_acquire(&heap->arenas[ai]);
	if (!arena)
		return VM_FAULT_SIGBUS;

	for (;;) {
		page = gch_table_get(heap, arena, idx, &fresh);
		if (!page) {
			fresh = alloc_page(GFP_HIGHUSER | __GFP_ZERO |
					   __GFP_ACCOUNT);
			if (!fresh)
				return VM_FAULT_OOM;
			/* the shrinker must be able to count it per cgroup */
			if (gch_mcg_ensure(heap, fresh)) {
				put_page(fresh);
				return VM_FAULT_OOM;
			}
			continue;
		}
		lock_page(page);
		spin_lock(&heap->res_lock);
		current_entry = arena->pages[idx] == page;
		spin_unlock(&heap->res_lock);
		if (likely(current_entry))
			break;
		/* released between lookup and lock: look again */
		unlock_page(page);
		put_page(page);
	}
	if (fresh)
		put_page(fresh);	/* another fault installed one first */
	vmf->page = page;
	return VM_FAULT_LOCKED;
}

/*
 * A VMA copied into another mm: fork() after MADV_DOFORK cleared
 * VM_DONTCOPY.  Because of VM_MIXEDMAP, fork copied the parent's PTEs
 * (copy_page_range() skips only plain shared file mappings), which would
 * hand the child the heap's pages, where the contract lets it map nothing.
 * The child cannot run before this is called, so zapping here leaves it
 * nothing but faults, which gch_arena_fault() refuses.  The zap covers every
 * mapping of the arena, the owner's too, which simply faults its pages back
 * in from the table.  (mremap() also calls ->open on its copy, in the same
 * mm, before gch_vma_no_mremap() refuses the move: nothing to do then.)
 */
static void gch_arena_vm_open(struct vm_area_struct *vma)
{
	struct gch_heap *heap = vma->vm_private_data;

	if (vma->vm_mm == heap->mm)
		return;
	unmap_mapping_range(heap->inode->i_mapping,
			    (loff_t)vma->vm_pgoff << PAGE_SHIFT,
			    vma->vm_end - vma->vm_start, 1);
}

const struct vm_operations_struct gch_arena_vm_ops = {
	.open = gch_arena_vm_open,
	.fault = gch_arena_fault,
	.may_split = gch_vma_no_split,
	.mremap = gch_vma_no_mremap,
};

/*
 * The same, plus write notification, for the owner's arena mappings while
 * dirty tracking is armed (dirty.c).  A separate table because a
 * ->page_mkwrite makes the core map a shared VMA read-only: every first
 * write would fault, populating would map read-only, so the plain table
 * is used whenever tracking is off.
 */
const struct vm_operations_struct gch_arena_dirty_vm_ops = {
	.open = gch_arena_vm_open,
	.fault = gch_arena_fault,
	.page_mkwrite = gch_dirty_page_mkwrite,
	.may_split = gch_vma_no_split,
	.mremap = gch_vma_no_mremap,
};

bool gch_is_arena_vma(const struct vm_area_struct *vma)
{
	return vma->vm_ops == &gch_arena_vm_ops ||
	       vma->vm_ops == &gch_arena_dirty_vm_ops;
}

static struct gch_arena *gch_arena_alloc(unsigned int index)
{
	struct gch_arena *arena;

	arena = kzalloc(sizeof(*arena), GFP_KERNEL_ACCOUNT);
	if (!arena)
		return NULL;
	arena->index = index;
	arena->pages = kvcalloc(GCH_SYS_PER_ARENA, sizeof(*arena->pages),
				GFP_KERNEL_ACCOUNT);
	if (!arena->pages)
		goto err_free_arena;
	if (gch_pagemap_alloc(arena))
		goto err_free_pages;
	return arena;

err_free_pages:
	kvfree(arena->pages);
err_free_arena:
	kfree(arena);
	return NULL;
}

static void gch_arena_free(struct gch_arena *arena)
{
	unsigned int i;

	for (i = 0; i < GCH_SYS_PER_ARENA; i++)
		if (arena->pages[i])
			put_page(arena->pages[i]);
	gch_pagemap_free(arena);
	kvfree(arena->pages);
	kfree(arena);
}

/*
 * Return arena @i, creating it on first use.  The memory is allocated before
 * heap->lock is taken so that reclaim entered from the allocation (and a
 * future shrinker walking heaps) never waits for a lock we hold.
 */
struct gch_arena *gch_arena_get(struct gch_heap *heap, unsigned int i)
{
	struct gch_arena *arena, *fresh;

	/* pairs with the release below */
	arena = smp_load_acquire(&heap->arenas[i]);
	if (arena)
		return arena;

	fresh = gch_arena_alloc(i);
	if (!fresh)
		return ERR_PTR(-ENOMEM);

	mutex_lock(&heap->lock);
	arena = heap->arenas[i];
	if (!arena) {
		gch_pagealloc_arena_init(heap, fresh);
		heap->narenas++;
		/* lockless readers (faults) see a fully built arena */
		smp_store_release(&heap->arenas[i], fresh);
		arena = fresh;
		fresh = NULL;
	}
	mutex_unlock(&heap->lock);

	if (fresh)
		gch_arena_free(fresh);
	return arena;
}

/* Teardown: no VMA exists any more, so pages are just dropped. */
void gch_arenas_destroy(struct gch_heap *heap)
{
	unsigned int i;

	for (i = 0; i < GCH_MAX_ARENAS; i++)
		if (heap->arenas[i])
			gch_arena_free(heap->arenas[i]);
}

static int gch_arena_mmap(struct gch_heap *heap, struct vm_area_struct *vma,
			  u64 off)
{
	struct gch_arena *arena;

	if (off & (GCH_ARENA_SIZE - 1) || off >= GCH_MMAP_ARENA(GCH_MAX_ARENAS))
		return -EINVAL;
	if (vma->vm_end - vma->vm_start != GCH_ARENA_SIZE)
		return -EINVAL;

	arena = gch_arena_get(heap, off >> GCH_ARENA_SHIFT);
	if (IS_ERR(arena))
		return PTR_ERR(arena);

	/*
	 * An arena mapped while tracking is armed is tracked from the start:
	 * mmap_region() then derives a read-only vm_page_prot from the
	 * ->page_mkwrite.  dirty_armed changes under this write mmap_lock.
	 */
	vma->vm_ops = READ_ONCE(heap->dirty_armed) ? &gch_arena_dirty_vm_ops :
						     &gch_arena_vm_ops;
	/*
	 * vm_insert_pages() (populate) needs it, and may only set it itself
	 * under a write mmap_lock; all our pages are normal struct pages.
	 */
	vma->vm_flags |= VM_MIXEDMAP;
	/* we run under the write mmap_lock, populate reads under the read one */
	arena->uaddr = vma->vm_start;
	return 0;
}

int gch_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct gch_heap *heap = file->private_data;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	int err;

	if (!gch_is_owner(heap))
		return -EPERM;
	/* VM_MAYSHARE: a MAP_SHARED mapping of an O_RDONLY fd lacks VM_SHARED */
	if (!(vma->vm_flags & VM_MAYSHARE) || (vma->vm_flags & VM_EXEC))
		return -EINVAL;

	if (off == GCH_MMAP_PAGEMAP || off == GCH_MMAP_SPANSLOTS)
		err = gch_pagemap_mmap(heap, vma, off == GCH_MMAP_SPANSLOTS);
	else
		err = gch_arena_mmap(heap, vma, off);
	if (err)
		return err;

	vma->vm_flags |= VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_flags &= ~VM_MAYEXEC;
	vma->vm_private_data = heap;
	return 0;
}

/*
 * Write @entry into the page-map entries of heap pages [first, first + n) of
 * @arena and return how many system pages back them now.  Done under
 * res_lock so a concurrent fault classifies its page consistently.  A span
 * across arenas is published one call per arena: res_lock is held for at
 * most one arena's entries at a time.
 */
unsigned long gch_span_publish(struct gch_heap *heap, struct gch_arena *arena,
			       u32 first, u32 n, u64 entry)
{
	unsigned int i, end = (first + n) * GCH_SYS_PER_HEAP_PAGE;
	unsigned long nres = 0;

	lockdep_assert_held(&heap->lock);
	spin_lock(&heap->res_lock);
	gch_pagemap_set(arena, first, n, entry);
	if (arena->resident) {
		for (i = first * GCH_SYS_PER_HEAP_PAGE; i < end; i++) {
			if (!arena->pages[i])
				continue;
			gch_mcg_account(heap, arena->pages[i], entry ? -1 : 1);
			nres++;
		}
	}
	spin_unlock(&heap->res_lock);
	return nres;
}

/*
 * The owner's mapping of @arena for populating: the VMA it mmap()ed the arena
 * at last, if that is still there, writable and marked MADV_SEQUENTIAL, else
 * NULL.  An arena's VMA is never split or moved, so a VMA at that address
 * with our ops, heap and offset maps the whole arena.
 */
static struct vm_area_struct *gch_populate_vma(struct gch_heap *heap,
					       struct gch_arena *arena)
{
	struct mm_struct *mm = current->mm;
	unsigned long addr = arena->uaddr;
	struct vm_area_struct *vma;

	/* not mmap_assert_locked(): under DEBUG_VM it calls unexported dump_mm() */
	lockdep_assert_held(&mm->mmap_lock);
	vma = find_vma(mm, addr);
	if (!vma || vma->vm_start != addr ||
	    !gch_is_arena_vma(vma) || vma->vm_private_data != heap ||
	    vma->vm_pgoff != (unsigned long)arena->index << GCH_ARENA_SYS_SHIFT ||
	    (vma->vm_flags & (VM_WRITE | VM_MIXEDMAP | VM_SEQ_READ)) !=
	    (VM_WRITE | VM_MIXEDMAP | VM_SEQ_READ))
		return NULL;
	return vma;
}

/*
 * Map @n pages of the table, from system page @idx of @vma's arena on.  The
 * caller holds their page locks and has just installed them, so no fault can
 * have mapped them; -EBUSY (a PTE already there) is skipped all the same
 * rather than trusted never to happen.  Other errors (page tables could not
 * be allocated) end the populate: the pages stay in the table, resident, and
 * their first touch maps them through the fault handler.
 */
static int gch_populate_map(struct vm_area_struct *vma, unsigned int idx,
			    struct page **pages, unsigned long n)
{
	unsigned long addr = vma->vm_start + ((unsigned long)idx << PAGE_SHIFT);
	unsigned long left, skip;
	int ret;

	lockdep_assert_held(&vma->vm_mm->mmap_lock);
	while (n) {
		left = n;
		ret = vm_insert_pages(vma, addr, pages, &left);
		if (!ret)
			break;
		if (ret != -EBUSY)
			return ret;
		/* left counts the page that failed: step over it */
		skip = n - left + 1;
		addr += skip << PAGE_SHIFT;
		pages += skip;
		n -= skip;
	}
	return 0;
}

/*
 * Fresh pages for @want (>= 1) consecutive empty entries into @pages, locked
 * (nobody can see them yet: no atomic op needed) and accounted for the
 * shrinker; returns how many, 0 when not even one could be had.  Up to
 * 2^GCH_POPULATE_ORDER pages come as one block, split into independent
 * pages (split_page(): each has its own reference and its own share of the
 * block's memory cgroup charge, so release frees them one by one as it
 * frees any other).  The block is taken only if it is there for the
 * asking, without reclaim or compaction (*@blocks goes false for the rest
 * of the step once it is not); otherwise one page, with the step's usual
 * flags.
 */
static unsigned int gch_populate_alloc(struct gch_heap *heap,
				       struct page **pages, unsigned int want,
				       bool *blocks)
{
	/* speculative: never the OOM killer, never a warning (see above) */
	const gfp_t gfp = GFP_HIGHUSER | __GFP_ZERO | __GFP_ACCOUNT |
			  __GFP_NORETRY | __GFP_NOWARN;
	unsigned int order = 0, k;
	struct page *page = NULL;

	if (*blocks && want > 1) {
		order = min_t(unsigned int, ilog2(want), GCH_POPULATE_ORDER);
		/* no kswapd either: a missing block wakes no one to make it */
		page = alloc_pages(gfp & ~__GFP_RECLAIM, order);
		if (page)
			split_page(page, order);
		else
			*blocks = false;
	}
	if (!page) {
		order = 0;
		page = alloc_page(gfp);
		if (!page)
			return 0;
	}
	/* one cgroup for the whole block: the charge was taken at once */
	if (gch_mcg_ensure(heap, page)) {
		for (k = 0; k < (1U << order); k++)
			put_page(nth_page(page, k));
		return 0;
	}
	for (k = 0; k < (1U << order); k++) {
		pages[k] = nth_page(page, k);
		__SetPageLocked(pages[k]);
	}
	return 1U << order;
}

/*
 * One populate step over system pages [pos, pos + n) of @arena, n at most
 * GCH_POPULATE_BATCH.  *installed counts the pages it put in the table.
 * Returns 0 to go on, -errno to stop populating.
 */
static int gch_populate_step(struct gch_heap *heap, struct gch_arena *arena,
			     struct vm_area_struct *vma, unsigned int pos,
			     unsigned int n, unsigned long *installed)
{
	struct page *pages[GCH_POPULATE_BATCH];
	DECLARE_BITMAP(mine, GCH_POPULATE_BATCH);
	unsigned int i, run, got = 0;
	int err = 0, map_err = 0;
	bool blocks = true;

	lockdep_assert_held(&vma->vm_mm->mmap_lock);
	bitmap_zero(mine, GCH_POPULATE_BATCH);
	/* memory for the entries that look empty; the table decides below */
	for (i = 0; i < n;) {
		/* a run no longer than one allocation can take */
		unsigned int most = blocks ? 1U << GCH_POPULATE_ORDER : 1;
		unsigned int len = 1, taken;

		if (READ_ONCE(arena->pages[pos + i])) {
			pages[i++] = NULL;
			continue;
		}
		while (len < most && i + len < n &&
		       !READ_ONCE(arena->pages[pos + i + len]))
			len++;
		taken = gch_populate_alloc(heap, pages + i, len, &blocks);
		if (!taken) {
			err = -ENOMEM;
			break;
		}
		i += taken;
	}
	n = i;

	spin_lock(&heap->res_lock);
	for (i = 0; i < n; i++) {
		if (!pages[i] || arena->pages[pos + i])
			continue;	/* resident, or a fault was first */
		gch_table_install(heap, arena, pos + i, pages[i]);
		heap->populated++;
		__set_bit(i, mine);
		got++;
	}
	spin_unlock(&heap->res_lock);
	*installed = got;

	for (i = 0; i < n; i = run) {
		if (!test_bit(i, mine)) {
			if (pages[i]) {	/* lost the entry: never seen */
				__ClearPageLocked(pages[i]);
				put_page(pages[i]);
			}
			run = i + 1;
			continue;
		}
		for (run = i; run < n && test_bit(run, mine); run++)
			;
		if (!map_err)
			map_err = gch_populate_map(vma, pos + i, pages + i,
						   run - i);
	}
	/* mapped (or left to faults): release and faults may have them now */
	for_each_set_bit(i, mine, n)
		unlock_page(pages[i]);
	return err ? err : map_err;
}

/*
 * GCH_IOC_SPAN_ALLOC on a mapping marked MADV_SEQUENTIAL: back the system
 * pages of the span at heap page @first (@npages long) that have no memory
 * yet with fresh zeroed pages, and map them into the owner's mapping of the
 * arena.  Called by the owner after the span was allocated, with no lock
 * held.  Best effort: returns the system pages it installed.
 */
unsigned long gch_span_populate(struct gch_heap *heap, u64 first, u32 npages)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct gch_arena *arena;
	unsigned long done = 0, got;
	unsigned int pos, end, n;
	int err;

	if (!mm || first >= GCH_MAX_PAGES ||
	    npages > GCH_PAGES_PER_ARENA - first % GCH_PAGES_PER_ARENA)
		return 0;
	/* pairs with the release in gch_arena_get(): the arena is complete */
	arena = smp_load_acquire(&heap->arenas[first / GCH_PAGES_PER_ARENA]);
	if (!arena)
		return 0;
	pos = (first % GCH_PAGES_PER_ARENA) * GCH_SYS_PER_HEAP_PAGE;
	end = pos + npages * GCH_SYS_PER_HEAP_PAGE;

	while (pos < end) {
		n = min_t(unsigned int, end - pos, GCH_POPULATE_BATCH);
		/* the lock is dropped between steps: mmap() need not wait long */
		if (fatal_signal_pending(current) || mmap_read_lock_killable(mm))
			break;
		vma = gch_populate_vma(heap, arena);
		got = 0;
		err = vma ? gch_populate_step(heap, arena, vma, pos, n, &got) :
			    -EFAULT;
		mmap_read_unlock(mm);
		done += got;
		if (err)
			break;
		pos += n;
		cond_resched();
	}
	return done;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The page-to-span map and the span slots: two 64 MiB regions of the
 * device's offset space (GCH_MMAP_PAGEMAP, GCH_MMAP_SPANSLOTS), one __u64 per
 * heap page of the whole possible heap.
 *
 * Backing: each arena owns 64 KiB of each region (its 8192 entries), a
 * vmalloc'ed, zeroed, memcg-charged buffer allocated with the arena.  The
 * kernel writes through the vmalloc address; userspace maps the same pages
 * through the fault handler below, which hands out the buffer's pages for
 * arenas that exist and SIGBUS for the rest.  Buffers are freed only at heap
 * teardown, when no VMA is left, so a PTE can never outlive its page.
 *
 * Page-map entries are written with WRITE_ONCE() of the whole u64 (a single
 * 64-bit store on every 64-bit architecture this builds for), under
 * heap->lock and res_lock; userspace reads them racily and sees the old or
 * the new entry.  A span across arenas (GCH_SPAN_ALLOC_CROSS) has the same
 * entry, head and length, in every page of every arena it covers: its
 * entries live in several arenas' buffers, each written by its own
 * gch_pagemap_set() call, and a reader still needs one load for any page.
 * The page map is mapped read-only: PROT_WRITE is refused and
 * VM_MAYWRITE cleared so mprotect() cannot add it later.  The slots are
 * userspace's, except that allocation zeroes a new span's slots.
 */
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include "gcheap_priv.h"

static_assert(sizeof(unsigned long) == sizeof(u64),
	      "page-map entries rely on single 64-bit stores");

int gch_pagemap_alloc(struct gch_arena *arena)
{
	const gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO;

	arena->pagemap = __vmalloc(GCH_MAP_BYTES_PER_ARENA, gfp);
	if (!arena->pagemap)
		return -ENOMEM;
	arena->slots = __vmalloc(GCH_MAP_BYTES_PER_ARENA, gfp);
	if (!arena->slots) {
		vfree(arena->pagemap);
		return -ENOMEM;
	}
	return 0;
}

void gch_pagemap_free(struct gch_arena *arena)
{
	vfree(arena->slots);
	vfree(arena->pagemap);
}

/* Entries of heap pages [first, first + n) of @arena become @entry. */
void gch_pagemap_set(struct gch_arena *arena, u32 first, u32 n, u64 entry)
{
	u32 i;

	for (i = first; i < first + n; i++)
		WRITE_ONCE(arena->pagemap[i], entry);
}

void gch_slots_clear(struct gch_arena *arena, u32 first, u32 n)
{
	u32 i;

	for (i = first; i < first + n; i++)
		WRITE_ONCE(arena->slots[i], 0);
}

static vm_fault_t gch_map_fault(struct vm_fault *vmf, u64 region, bool slots)
{
	struct gch_heap *heap = vmf->vma->vm_private_data;
	pgoff_t rel = vmf->pgoff - (pgoff_t)(region >> PAGE_SHIFT);
	unsigned long ai = rel / GCH_MAP_SYS_PER_ARENA;
	struct gch_arena *arena;
	struct page *page;
	void *buf;

	/* not from a VMA that MADV_DOFORK carried into another mm */
	if (ai >= GCH_MAX_ARENAS || vmf->vma->vm_mm != heap->mm)
		return VM_FAULT_SIGBUS;
	/* pairs with the release in gch_arena_get(): buffers are allocated */
	arena = smp_load_acquire(&heap->arenas[ai]);
	if (!arena)
		return VM_FAULT_SIGBUS;

	buf = slots ? (void *)arena->slots : (void *)arena->pagemap;
	page = vmalloc_to_page(buf + (rel % GCH_MAP_SYS_PER_ARENA) * PAGE_SIZE);
	get_page(page);
	vmf->page = page;
	return 0;
}

static vm_fault_t gch_pagemap_fault(struct vm_fault *vmf)
{
	return gch_map_fault(vmf, GCH_MMAP_PAGEMAP, false);
}

static vm_fault_t gch_slots_fault(struct vm_fault *vmf)
{
	return gch_map_fault(vmf, GCH_MMAP_SPANSLOTS, true);
}

static const struct vm_operations_struct gch_pagemap_vm_ops = {
	.fault = gch_pagemap_fault,
	.may_split = gch_vma_no_split,
	.mremap = gch_vma_no_mremap,
};

static const struct vm_operations_struct gch_slots_vm_ops = {
	.fault = gch_slots_fault,
	.may_split = gch_vma_no_split,
	.mremap = gch_vma_no_mremap,
};

int gch_pagemap_mmap(struct gch_heap *heap, struct vm_area_struct *vma,
		     bool slots)
{
	if (vma->vm_end - vma->vm_start != GCH_PAGEMAP_SIZE)
		return -EINVAL;
	if (slots) {
		vma->vm_ops = &gch_slots_vm_ops;
		return 0;
	}
	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	vma->vm_flags &= ~VM_MAYWRITE;
	vma->vm_ops = &gch_pagemap_vm_ops;
	return 0;
}

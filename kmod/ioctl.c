// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl dispatch and the struct copy-in/copy-out convention of the uAPI.
 *
 * Every command's struct starts with "__u32 size; __u32 flags;".  The size
 * is read first; copy_struct_from_user() then gives -E2BIG for a larger
 * struct with non-zero bytes past ours and zero-fills a shorter one (which we
 * refuse below the first version's size).  On success min(size, ours) bytes
 * are written back.  Arguments are validated completely before anything in
 * the heap changes, so a failing ioctl changes nothing.
 *
 * No heap lock is ever held across copy_{to,from}_user(): see gcheap.h.
 */
#include <linux/uaccess.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include "gcheap.h"

/* The size of each struct's first published version. */
#define GCH_V1_VERSION		sizeof(struct gch_version)

static int gch_copy_in(void *karg, size_t ksize, size_t minsize,
		       void __user *uarg, u32 *usize)
{
	if (get_user(*usize, (u32 __user *)uarg))
		return -EFAULT;
	if (*usize < minsize)
		return -EINVAL;
	return copy_struct_from_user(karg, ksize, uarg, *usize);
}

static int gch_copy_out(void __user *uarg, const void *karg, size_t ksize,
			u32 usize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, ksize, usize)))
		return -EFAULT;
	return 0;
}

static u64 gch_features(void)
{
	return GCH_FEAT_PAGEMAP | GCH_FEAT_SPANSLOTS;
}

static int gch_ioc_version(struct gch_heap *heap, void __user *uarg)
{
	struct gch_version v;
	u32 usize;
	int err;

	err = gch_copy_in(&v, sizeof(v), GCH_V1_VERSION, uarg, &usize);
	if (err)
		return err;
	if (v.flags)
		return -EINVAL;

	v.abi_version = GCH_ABI_VERSION;
	v.page_shift = GCH_PAGE_SHIFT;
	v.features = gch_features();
	v.arena_shift = GCH_ARENA_SHIFT;
	v.max_arenas = GCH_MAX_ARENAS;
	v.pagemap_offset = GCH_MMAP_PAGEMAP;
	v.spanslot_offset = GCH_MMAP_SPANSLOTS;
	v.max_span_pages = GCH_MAX_SPAN_PAGES;
	v.heap_id = heap->id;
	return gch_copy_out(uarg, &v, sizeof(v), usize);
}

long gch_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct gch_heap *heap = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case GCH_IOC_VERSION:
		return gch_ioc_version(heap, uarg);
	default:
		return -ENOTTY;
	}
}

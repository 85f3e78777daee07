// SPDX-License-Identifier: GPL-2.0
/*
 * Heap lifetime: open() creates a heap, the last fput() destroys it.
 *
 * Every heap gets an anonymous inode on gcheap's own pseudo filesystem and
 * points file->f_mapping at that inode's address_space before any mmap() can
 * happen.  All opens share the misc device's inode, so without this every
 * heap's VMAs would share one i_mmap tree and unmap_mapping_range() in one
 * heap would walk (and could zap) another heap's mappings.
 *
 * Ownership: the heap belongs to the mm that opened it.  The mm_struct is
 * pinned with mmgrab() (not mmget(): the address space itself may go away,
 * only the pointer must never be recycled for another process while we
 * compare against it).  dup() and threads share the file and the mm; a
 * fork() child or a process receiving the fd has another mm and is refused
 * every mutating ioctl and mmap() (see gch_is_owner()).  Mappings carry
 * VM_DONTCOPY, so a child never inherits them; and should the owner undo
 * that with MADV_DOFORK, the fault handlers refuse any mm but the owner's
 * (SIGBUS), and fork never copies PTEs of a shared file mapping.  The child
 * can therefore watch the heap (VERSION, STATS) but never read or write it,
 * and its fd reference just delays the teardown to its close or exit.
 * execve() gives the process a new mm, so an fd kept across exec only
 * watches as well (open /dev/gcheap with O_CLOEXEC).
 *
 * Teardown happens in ->release(), which the VFS calls only after the last
 * file reference is gone; each VMA holds one, so by then no PTE maps a heap
 * page and all backing pages can be freed without any zapping.
 */
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/pseudo_fs.h>
#include <linux/mount.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include "gcheap_priv.h"
#include "gcheap_trace.h"

#define GCHEAP_FS_MAGIC	0x67636870	/* "gchp" */

static struct vfsmount *gch_mnt;
static atomic64_t gch_next_heap_id = ATOMIC64_INIT(0);

static int gch_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, GCHEAP_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type gch_fs_type = {
	.name = "gcheap",
	.init_fs_context = gch_init_fs_context,
	.kill_sb = kill_anon_super,
};

int gch_fs_init(void)
{
	gch_mnt = kern_mount(&gch_fs_type);
	return PTR_ERR_OR_ZERO(gch_mnt);
}

void gch_fs_exit(void)
{
	kern_unmount(gch_mnt);
}

bool gch_is_owner(const struct gch_heap *heap)
{
	return current->mm == heap->mm;
}

static struct gch_heap *gch_heap_create(void)
{
	struct gch_heap *heap;
	struct inode *inode;

	heap = kvzalloc(sizeof(*heap), GFP_KERNEL_ACCOUNT);
	if (!heap)
		return ERR_PTR(-ENOMEM);

	inode = alloc_anon_inode(gch_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		kvfree(heap);
		return ERR_CAST(inode);
	}
	heap->inode = inode;
	heap->id = atomic64_inc_return(&gch_next_heap_id);
	heap->pid = task_tgid_nr(current);
	heap->mm = current->mm;
	mmgrab(heap->mm);
	mutex_init(&heap->lock);
	spin_lock_init(&heap->res_lock);
	mutex_init(&heap->dirty_lock);
	gch_mcg_heap_init(heap);
	gch_pressure_heap_init(heap);
	return heap;
}

static void gch_heap_destroy(struct gch_heap *heap)
{
	trace_gcheap_heap_destroy(heap);
	gch_mcg_heap_unlink(heap);	/* the shrinker can no longer pin it */
	gch_heap_unregister(heap);	/* waits out the scavenger and shrinker */
	gch_debugfs_heap_del(heap);
	gch_arenas_destroy(heap);
	gch_mcg_heap_free(heap);
	atomic_long_sub(heap->span_pages, &gch_total_span_pages);
	iput(heap->inode);
	mmdrop(heap->mm);
	mutex_destroy(&heap->dirty_lock);
	mutex_destroy(&heap->lock);
	kvfree(heap);
}

static int gch_open(struct inode *inode, struct file *file)
{
	struct gch_heap *heap;

	/* a kernel thread has no mm to own the heap */
	if (!current->mm)
		return -EINVAL;

	heap = gch_heap_create();
	if (IS_ERR(heap))
		return PTR_ERR(heap);

	file->private_data = heap;
	file->f_mapping = heap->inode->i_mapping;
	gch_debugfs_heap_add(heap);
	gch_heap_register(heap);
	trace_gcheap_heap_create(heap);
	return 0;
}

static int gch_release(struct inode *inode, struct file *file)
{
	gch_heap_destroy(file->private_data);
	return 0;
}

const struct file_operations gch_fops = {
	.owner = THIS_MODULE,
	.open = gch_open,
	.release = gch_release,
	.unlocked_ioctl = gch_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = gch_mmap,
	.poll = gch_pressure_poll,
	.llseek = noop_llseek,
};

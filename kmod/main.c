// SPDX-License-Identifier: GPL-2.0
/*
 * gcheap module entry: parameters, the /dev/gcheap misc device and the
 * ordered init/exit of the module-wide pieces (pseudo filesystem for the
 * per-heap address spaces, debugfs root, misc device).
 *
 * The misc device is registered last: once it exists, open() may create
 * heaps, so everything a heap needs must already be in place.  Exit runs the
 * inverse order.  Module unload cannot race with an open heap: every open
 * file pins the module through gch_fops.owner.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/miscdevice.h>
#include <linux/debugfs.h>
#include <linux/mm.h>
#include "gcheap_priv.h"

/*
 * Cap on heap pages held in spans by all heaps together.  A span is address
 * space: its memory is populated, and charged to the toucher's memory cgroup,
 * only on first touch, and that charge is what bounds real memory.  The cap
 * bounds span address space, so its default (0 at load) is generous:
 * 16 x RAM, and never less than one full heap (GCH_MAX_PAGES, 64 GiB), so a
 * heap can always grow to 16 GiB as the uAPI promises.  The resolved value
 * is visible and writable in /sys/module/gcheap/parameters/max_total_pages.
 */
unsigned long gch_max_total_pages;
module_param_named(max_total_pages, gch_max_total_pages, ulong, 0644);
MODULE_PARM_DESC(max_total_pages,
		 "Max heap pages (8 KiB) in spans over all heaps (0 at load: max(16 x RAM, 64 GiB))");

atomic_long_t gch_total_span_pages = ATOMIC_LONG_INIT(0);
struct dentry *gch_debugfs_root;

static struct miscdevice gch_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gcheap",
	.fops = &gch_fops,
	.mode = 0666,
};

static int __init gch_init(void)
{
	int err;

	if (!gch_max_total_pages)
		gch_max_total_pages = max_t(unsigned long, GCH_MAX_PAGES,
					    totalram_pages() * 16 /
					    GCH_SYS_PER_HEAP_PAGE);

	err = gch_fs_init();
	if (err)
		return err;

	/* debugfs is optional: without it the heaps just have no directory */
	gch_debugfs_root = debugfs_create_dir("gcheap", NULL);

	err = gch_scavenger_init();
	if (err)
		goto err_remove_debugfs;
	err = gch_shrinker_init();
	if (err)
		goto err_stop_scavenger;

	err = misc_register(&gch_misc);
	if (err)
		goto err_unregister_shrinker;

	pr_info("gcheap: abi %u, /dev/gcheap ready, max_total_pages=%lu\n",
		GCH_ABI_VERSION, gch_max_total_pages);
	return 0;

err_unregister_shrinker:
	gch_shrinker_exit();
err_stop_scavenger:
	gch_scavenger_exit();
err_remove_debugfs:
	debugfs_remove(gch_debugfs_root);
	gch_fs_exit();
	return err;
}

static void __exit gch_exit(void)
{
	misc_deregister(&gch_misc);
	gch_shrinker_exit();
	gch_scavenger_exit();
	debugfs_remove(gch_debugfs_root);
	gch_fs_exit();
}

module_init(gch_init);
module_exit(gch_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gcheap: garbage-collected heap pages owned by the kernel");
MODULE_AUTHOR("gcheap team");

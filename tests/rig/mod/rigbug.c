// SPDX-License-Identifier: GPL-2.0
/*
 * rigbug: a module that misbehaves on request, so that the VM runner's
 * self-tests can prove the runner notices.  It is never part of gcheap.
 *
 * The "action" parameter picks what module_init does:
 *   none  - load cleanly (the positive control: a clean run must pass)
 *   warn  - WARN() once and still load, as a real bug in a code path would;
 *           only the runner's dmesg/console scan can catch it
 *   panic - panic(), which under "panic=-1 -no-reboot" ends qemu with exit 0
 * Anything else is refused with -EINVAL so a typo cannot pass as "none".
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/bug.h>

static char *action = "none";
module_param(action, charp, 0444);
MODULE_PARM_DESC(action, "none, warn or panic at load");

static int __init rigbug_init(void)
{
	if (!strcmp(action, "none"))
		return 0;
	if (!strcmp(action, "warn")) {
		WARN(1, "rigbug: deliberate warning for the runner self-test\n");
		return 0;
	}
	if (!strcmp(action, "panic"))
		panic("rigbug: deliberate panic for the runner self-test\n");
	return -EINVAL;
}

static void __exit rigbug_exit(void)
{
}

module_init(rigbug_init);
module_exit(rigbug_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gcheap VM runner self-test helper");

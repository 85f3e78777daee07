// SPDX-License-Identifier: MIT
/*
 * Counts the gcheap ioctls a static alloc_bench makes, by command, and
 * prints them at exit: link with -Wl,--wrap=ioctl (bench/kmod-populate.md,
 * "several spans per ioctl").  A wrapper rather than strace: the guest has
 * none, and the count must not slow the library's own calls much.
 */
#include <stdarg.h>
#include <stdio.h>
#include <linux/gcheap.h>

int __real_ioctl(int fd, unsigned long cmd, void *arg);
static unsigned long counts[16];

int __wrap_ioctl(int fd, unsigned long cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (((cmd >> 8) & 0xff) == GCH_IOC_MAGIC)
		__atomic_add_fetch(&counts[(cmd & 0xff) - GCH_CMD_VERSION], 1,
				   __ATOMIC_RELAXED);
	return __real_ioctl(fd, cmd, arg);
}

__attribute__((destructor)) static void report(void)
{
	fprintf(stderr, "ioctls span_alloc=%lu span_free=%lu stats=%lu gc_phase=%lu\n",
		counts[GCH_CMD_SPAN_ALLOC - GCH_CMD_VERSION],
		counts[GCH_CMD_SPAN_FREE - GCH_CMD_VERSION],
		counts[GCH_CMD_STATS - GCH_CMD_VERSION],
		counts[GCH_CMD_GC_PHASE - GCH_CMD_VERSION]);
}

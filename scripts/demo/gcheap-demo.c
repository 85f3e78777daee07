// SPDX-License-Identifier: MIT
/*
 * gcheap-demo: what `make demo` runs inside the VM after insmod.  It shows a
 * person that the module is alive: /dev/gcheap exists, open() gives a heap,
 * and the version handshake answers with the constants of uapi/linux/gcheap.h.
 * It also shows the module refusing what the contract says it must refuse.
 * Exit status is non-zero when the module disagrees with the header, so the
 * VM verdict of the demo means something.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/gcheap.h>

static const char *const feature_names[] = {
	"pagemap", "spanslots", "scavenger", "shrinker", "tracepoints", "gc_phase",
	"gc_pause",
};

static int failures;

static void expect(int ok, const char *what)
{
	printf("  %-52s %s\n", what, ok ? "ok" : "MISMATCH");
	if (!ok)
		failures++;
}

static void print_features(__u64 features)
{
	unsigned int i;

	printf("  features: 0x%llx", (unsigned long long)features);
	for (i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
		if (features & (1ULL << i))
			printf(" %s", feature_names[i]);
	printf("\n");
}

static int show_version(int fd, __u64 *heap_id)
{
	struct gch_version v;

	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	if (ioctl(fd, GCH_IOC_VERSION, &v)) {
		printf("GCH_IOC_VERSION failed: %s\n", strerror(errno));
		return -1;
	}
	printf("GCH_IOC_VERSION:\n");
	printf("  abi %u, heap id %llu, page 2^%u, arena 2^%u, up to %u arenas\n",
	       v.abi_version, (unsigned long long)v.heap_id, v.page_shift,
	       v.arena_shift, v.max_arenas);
	print_features(v.features);
	expect(v.abi_version == GCH_ABI_VERSION, "abi_version == GCH_ABI_VERSION");
	expect(v.page_shift == GCH_PAGE_SHIFT, "page_shift == GCH_PAGE_SHIFT");
	expect(v.arena_shift == GCH_ARENA_SHIFT, "arena_shift == GCH_ARENA_SHIFT");
	expect(v.pagemap_offset == GCH_MMAP_PAGEMAP, "pagemap_offset == GCH_MMAP_PAGEMAP");
	expect(v.spanslot_offset == GCH_MMAP_SPANSLOTS, "spanslot_offset == GCH_MMAP_SPANSLOTS");
	expect(v.max_span_pages == GCH_MAX_SPAN_PAGES, "max_span_pages == GCH_MAX_SPAN_PAGES");
	*heap_id = v.heap_id;
	return 0;
}

static void show_refusals(int fd)
{
	struct gch_version v;
	int rc;

	printf("the contract's refusals:\n");
	rc = ioctl(fd, _IO(GCH_IOC_MAGIC, 0x7f), &v);
	expect(rc == -1 && errno == ENOTTY, "unknown ioctl -> ENOTTY");

	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	v.flags = 1;
	rc = ioctl(fd, GCH_IOC_VERSION, &v);
	expect(rc == -1 && errno == EINVAL, "GCH_IOC_VERSION with flags=1 -> EINVAL");

	memset(&v, 0, sizeof(v));
	v.size = 4;
	rc = ioctl(fd, GCH_IOC_VERSION, &v);
	expect(rc == -1 && errno == EINVAL, "GCH_IOC_VERSION with size=4 -> EINVAL");

	rc = ioctl(fd, GCH_IOC_VERSION, (void *)8);
	expect(rc == -1 && errno == EFAULT, "GCH_IOC_VERSION with a bad pointer -> EFAULT");
}

int main(void)
{
	__u64 id1, id2;
	struct stat st;
	int fd, fd2;

	if (stat("/dev/gcheap", &st)) {
		printf("/dev/gcheap: %s\n", strerror(errno));
		return 1;
	}
	printf("/dev/gcheap: char device %u:%u, mode %o\n",
	       major(st.st_rdev), minor(st.st_rdev), st.st_mode & 07777);

	fd = open("/dev/gcheap", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("open /dev/gcheap: %s\n", strerror(errno));
		return 1;
	}
	if (show_version(fd, &id1))
		return 1;
	show_refusals(fd);

	printf("a second open() is a second heap:\n");
	fd2 = open("/dev/gcheap", O_RDWR | O_CLOEXEC);
	if (fd2 < 0 || show_version(fd2, &id2))
		failures++;
	else
		expect(id1 != id2, "its heap_id differs from the first heap's");
	if (fd2 >= 0)
		close(fd2);
	close(fd);

	printf("%s\n", failures ? "gcheap-demo: the module disagrees with the header"
				: "gcheap-demo: the module answers as uapi/linux/gcheap.h says");
	return failures ? 1 : 0;
}

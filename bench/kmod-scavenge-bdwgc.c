// SPDX-License-Identifier: MIT
/*
 * kmod-scavenge-bdwgc: the kmod-scavenge scenario under bdwgc's policy, for
 * comparison.  bdwgc (built with munmap, as Debian's is) returns a free heap
 * block to the system only after it stayed free for GC_unmap_threshold (7)
 * collections, and collections only happen when the program allocates.
 * So: 8 MiB live, 256 MiB allocated, touched and dropped; then collect
 * (GC_gcollect) every 10 ms -- a program allocating steadily -- until the
 * Rss is at the same 17.6 MiB target.  Prints the collections and the time.
 */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024UL * 1024)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Rss:", 4))
			v = strtol(line + 4, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void *live[8];

int main(void)
{
	void **big;
	long base, peak, rss, target;
	double t0;
	int n = 0;

	GC_INIT();
	GC_gcollect();
	base = rss_kb();
	for (int i = 0; i < 8; i++) {
		live[i] = GC_MALLOC_ATOMIC(MIB);
		memset(live[i], 7, MIB);
	}
	big = GC_MALLOC(256 * sizeof(void *));
	for (int i = 0; i < 256; i++) {
		big[i] = GC_MALLOC_ATOMIC(MIB);
		for (size_t off = 0; off < MIB; off += 4096)
			((char *)big[i])[off] = 1;
	}
	peak = rss_kb();
	memset(big, 0, 256 * sizeof(void *));
	big = NULL;
	target = base + 17 * 1024 + 600;
	t0 = now_s();
	for (;;) {
		GC_gcollect();
		n++;
		rss = rss_kb();
		if (rss <= target || n >= 200)
			break;
		usleep(10000);
	}
	printf("bdwgc-%d.%d.%d-unmap               %9.3f s  Rss %ld -> %ld KiB (target %ld) after %d collections (GC_UNMAP_THRESHOLD default 7)\n",
	       GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO,
	       now_s() - t0, peak, rss, target, n);
	return live[0] ? 0 : 1;
}

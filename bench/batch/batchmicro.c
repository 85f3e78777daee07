// SPDX-License-Identifier: MIT
/*
 * Per-span costs of GCH_IOC_SPAN_ALLOC one span at a time and in batches
 * of 16, populated or not, against anonymous memory populated 128 KiB at a
 * time as the in-process backend does, with and without huge pages
 * (bench/kmod-populate.md, "several spans per ioctl").  Static:
 * cc -O2 -static -Iuapi bench/batch/batchmicro.c -o DIR/bin/batchmicro
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <linux/gcheap.h>

#define K 256
#define ROUNDS 24
static int fd;
static char *base;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* 0 single+pop+writes 1 batch+pop+writes 2 batch+pop 3 batch only 4 single only */
static double heap_round(int mode)
{
	struct gch_span_ref refs[K];
	struct gch_span_out out[16];
	struct gch_scavenge sc = { .size = sizeof(sc), .flags = GCH_SCAVENGE_ALL };
	struct gch_span_free f = { .size = sizeof(f), .count = K,
				   .spans = (uintptr_t)refs };
	double t0, t;
	int n = 0;

	madvise(base, GCH_ARENA_SIZE, mode <= 2 ? MADV_SEQUENTIAL : MADV_NORMAL);
	t0 = now();
	while (n < K) {
		struct gch_span_alloc a = { .size = sizeof(a), .npages = 1 };
		int got = 1;

		if (mode >= 1 && mode <= 3) {
			a.flags = GCH_SPAN_ALLOC_BATCH;
			a.count = 16;
			a.spans = (uintptr_t)out;
		}
		ioctl(fd, GCH_IOC_SPAN_ALLOC, &a);
		if (a.flags) {
			got = a.done;
		} else {
			out[0].page = a.page;
		}
		for (int i = 0; i < got; i++) {
			char *p = base + out[i].page * GCH_PAGE_SIZE;

			if (mode <= 1) {
				p[0] = 1;
				p[4096] = 1;
			}
			refs[n].page = out[i].page;
			refs[n++].npages = 1;
		}
	}
	t = now() - t0;
	ioctl(fd, GCH_IOC_SPAN_FREE, &f);
	ioctl(fd, GCH_IOC_SCAVENGE, &sc);
	return t;
}

/* 0 POPULATE_WRITE 128K + writes; 1 same with MADV_NOHUGEPAGE */
static double anon_round(int mode)
{
	char *r = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p = (char *)(((uintptr_t)r + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
	double t0, t;

	if (mode == 1)
		madvise(p, K * 8192, MADV_NOHUGEPAGE);
	t0 = now();
	for (int i = 0; i < K; i++) {
		if (i % 16 == 0)
			madvise(p + (size_t)i * 8192, 16 * 8192, MADV_POPULATE_WRITE);
		p[(size_t)i * 8192] = 1;
		p[(size_t)i * 8192 + 4096] = 1;
	}
	t = now() - t0;
	munmap(r, 4 << 20);
	return t;
}

int main(void)
{
	static const char *names[] = {
		"single ioctl, populated + 2 writes",
		"batch 16, populated + 2 writes",
		"batch 16, populated, no writes",
		"batch 16, not populated, no writes",
		"single ioctl, not populated, no writes",
		"anon: POPULATE_WRITE 128K + 2 writes",
		"anon: same, MADV_NOHUGEPAGE",
	};
	struct gch_gc_phase g = { .size = sizeof(g),
				  .phase = GCH_GC_MARK_START, .cycle = 1 };
	double best[7], sum[7] = { 0 };
	char *r;

	fd = open("/dev/gcheap", O_RDWR);
	r = mmap(NULL, 2 * GCH_ARENA_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	base = (char *)(((uintptr_t)r + GCH_ARENA_SIZE - 1) &
			~(uintptr_t)(GCH_ARENA_SIZE - 1));
	mmap(base, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
	     MAP_SHARED | MAP_FIXED, fd, GCH_MMAP_ARENA(0));
	ioctl(fd, GCH_IOC_GC_PHASE, &g);
	for (int m = 0; m < 7; m++)
		best[m] = 1e9;
	for (int round = 0; round < ROUNDS; round++) {
		for (int m = 0; m < 7; m++) {
			double t = m < 5 ? heap_round(m) : anon_round(m - 5);

			if (round < 4)
				continue;
			if (t < best[m])
				best[m] = t;
			sum[m] += t;
		}
	}
	for (int m = 0; m < 7; m++)
		printf("%-40s best %6.2f us  mean %6.2f us per 8 KiB span\n",
		       names[m], best[m] / K * 1e6,
		       sum[m] / (ROUNDS - 4) / K * 1e6);
	return 0;
}

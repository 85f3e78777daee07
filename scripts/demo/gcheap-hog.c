// SPDX-License-Identifier: MIT
/*
 * gcheap-hog: squeeze the machine's memory until the kernel starts to
 * reclaim, then hold it, so that gcheap-demo can show the gcheap shrinker
 * giving free heap pages back.
 *
 * Design
 * ------
 * Reclaim starts when a zone's free pages fall below its low watermark:
 * the next allocation that finds no zone above its low watermark takes the
 * slow path and wakes kswapd, which reclaims (page cache, and every
 * shrinker, gcheap's among them) until the zone is back above its high
 * watermark.  Below the min watermark allocations reclaim directly, and
 * when nothing is left to reclaim the OOM killer runs (and prints a Call
 * Trace that the VM runner counts as a kernel splat).  So the hog aims
 * between the two, in the largest zone (whose watermarks it reads from
 * /proc/zoneinfo): big steps while free memory is far above low, then small
 * ones ("nudges").  Below low the nudges are first served by a lower zone
 * (in a small guest, the 16 MiB DMA zone, down to its own low watermark plus
 * its reserve) without waking anybody; the one after that wakes kswapd.  So
 * it nudges until kswapd is seen at work (/proc/vmstat pageoutrun or
 * slabs_scanned moved), never further than halfway from low down to min,
 * and then holds what it took.  While it holds it keeps the pressure on:
 * when reclaim has brought free memory back above low, it takes it again,
 * the same way, as a program that keeps growing would, and SIGUSR1 makes
 * it squeeze again at once (the caller's "the reclaim I wanted did not
 * happen yet"), still never past halfway from low to min.
 *
 * kswapd may not wake at all: after it failed to balance a node
 * MAX_RECLAIM_RETRIES (16) times in a row, as it does when an earlier
 * program took memory that nothing could reclaim, the node is "hopeless"
 * and only a direct reclaim that makes progress brings kswapd back (a
 * watermark boost left behind then stays too, which /proc/zoneinfo
 * includes in min, low and high).  Then, once, and only when the caller
 * vouches with --reclaimable that at least 1 MiB can be reclaimed (the
 * free pages of a gcheap heap), the hog goes on in 64 KiB steps below the
 * floor until direct reclaim is seen (/proc/vmstat allocstall_*), at most
 * 32 MiB more, and stops at once: the reclaim that stalled it took the
 * pages it needed, and asking for more could leave nothing to reclaim but
 * the OOM killer.

 * The memory is populated with MADV_POPULATE_WRITE where the kernel has it
 * (5.14): one system call per step instead of a page fault per 4 KiB, which
 * matters in an emulated guest.  Transparent huge pages are refused, so a
 * step takes exactly what it asks for.  The hog's oom_score_adj is 1000: if
 * anything is ever killed, it is the hog, not the program it squeezes.
 *
 * Protocol with the caller: progress lines on stdout; when it holds its
 * memory it writes "ready <MiB>\n" to the file descriptor given with
 * --notify FD (if any), then waits for SIGTERM or SIGINT (or --hold SECS),
 * and exits 0, which gives the memory back.  --max-mib caps what it takes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

#define MIB		(1024UL * 1024)
#define NUDGE		(256 * 1024UL)	/* a small step near the watermarks */
#define MAX_NUDGES	256		/* 64 MiB of them at most per squeeze */
#define DEEP_STEP	(64 * 1024UL)	/* a step below the floor */
#define DEEP_MAX	(32 * MIB)	/* at most this much below the floor */

static volatile sig_atomic_t stop, more;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		more = 1;
	else
		stop = 1;
}

struct zone {
	char name[32];
	long free, min, low, high, managed;	/* system pages */
};

/* The zone with the most managed pages, where anonymous memory comes from. */
static int read_zone(const char *want, struct zone *out)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	struct zone cur, best;
	char line[256], name[32];
	bool in = false, found = false;
	long v;

	if (!f)
		return -1;
	memset(&best, 0, sizeof(best));
	memset(&cur, 0, sizeof(cur));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Node %*d, zone %31s", name) == 1) {
			if (in && (want ? !strcmp(cur.name, want) :
				   cur.managed > best.managed))
				best = cur, found = true;
			memset(&cur, 0, sizeof(cur));
			snprintf(cur.name, sizeof(cur.name), "%s", name);
			in = true;
			continue;
		}
		if (!in)
			continue;
		if (sscanf(line, " pages free %ld", &v) == 1)
			cur.free = v;
		else if (sscanf(line, " min %ld", &v) == 1)
			cur.min = v;
		else if (sscanf(line, " low %ld", &v) == 1)
			cur.low = v;
		else if (sscanf(line, " high %ld", &v) == 1)
			cur.high = v;
		else if (sscanf(line, " managed %ld", &v) == 1)
			cur.managed = v;
	}
	fclose(f);
	if (in && (want ? !strcmp(cur.name, want) : cur.managed > best.managed))
		best = cur, found = true;
	if (!found || !best.managed)
		return -1;
	*out = best;
	return 0;
}

/* A /proc/vmstat counter, or -1. */
static long long vmstat(const char *key)
{
	return proc_value("/proc/vmstat", key, ' ');
}

/* Map and populate @len bytes of anonymous memory; false if it failed. */
static bool take(size_t len, long spg)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return false;
	madvise(p, len, MADV_NOHUGEPAGE);
	if (madvise(p, len, MADV_POPULATE_WRITE)) {
		for (size_t off = 0; off < len; off += spg)
			p[off] = 1;
	}
	return true;
}

static long long scan0, run0, stall0;

static bool kswapd_seen(void)
{
	return vmstat("slabs_scanned") != scan0 || vmstat("pageoutrun") != run0;
}

/* Direct reclaims so far: the allocstall_<zone> counters summed. */
static long long allocstalls(void)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char line[128];
	long long n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "allocstall_", 11))
			n += atoll(strchr(line, ' ') ? strchr(line, ' ') + 1 : "0");
	fclose(f);
	return n;
}

static void baseline(void)
{
	scan0 = vmstat("slabs_scanned");
	run0 = vmstat("pageoutrun");
	stall0 = allocstalls();
}

/*
 * Below the floor, kswapd asleep for good: small steps until a direct
 * reclaim is seen (true), at most DEEP_MAX.
 */
static bool squeeze_deep(size_t *taken, long spg, const char **why)
{
	for (size_t deep = 0; !stop && deep < DEEP_MAX; deep += DEEP_STEP) {
		if (allocstalls() != stall0) {
			*why = "direct reclaim ran";
			return true;
		}
		if (kswapd_seen()) {
			*why = "kswapd is reclaiming";
			return true;
		}
		if (!take(DEEP_STEP, spg)) {
			*why = "mmap failed";
			return false;
		}
		*taken += DEEP_STEP;
	}
	*why = stop ? "told to stop" : "no reclaim 32 MiB below the floor";
	return false;
}

/*
 * Take memory until kswapd is seen at work (true) or free memory is halfway
 * from low to min, or @cap is reached (false); *why says which.
 */
static bool squeeze(struct zone *z, size_t *taken, size_t cap, long spg,
		    const char **why)
{
	unsigned int nudges = 0;

	while (!stop && *taken < cap) {
		long floor;
		size_t step;

		if (read_zone(z->name, z)) {
			*why = "/proc/zoneinfo went away";
			return false;
		}
		if (kswapd_seen()) {
			*why = "kswapd is reclaiming";
			return true;
		}
		if (allocstalls() != stall0) {
			*why = "direct reclaim ran";
			return true;
		}
		floor = z->min + (z->low - z->min) / 2;
		if (z->free <= floor) {
			*why = "free memory is halfway from low to min";
			return false;
		}
		if ((z->free - z->low) * spg > (long)(4 * MIB)) {
			/* a quarter of the way down to low, at most 64 MiB */
			step = (size_t)((z->free - z->low) * spg / 4);
			if (step > 64 * MIB)
				step = 64 * MIB;
			step &= ~(NUDGE - 1);
		} else {
			if (nudges++ >= MAX_NUDGES) {
				*why = "kswapd never woke";
				return false;
			}
			step = NUDGE;
		}
		if (!take(step, spg)) {
			*why = "mmap failed";
			return false;
		}
		*taken += step;
	}
	*why = stop ? "told to stop" : "its cap";
	return false;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gcheap-hog [--max-mib N] [--notify FD] [--hold SECS] [--reclaimable KIB]\n"
		"Takes anonymous memory until kswapd wakes (the largest zone's free memory\n"
		"below its low watermark, never halfway to min), holds it and keeps the\n"
		"pressure on until SIGTERM/SIGINT (or --hold SECS); SIGUSR1: squeeze\n"
		"again now.  --notify FD gets \"ready <MiB>\" once it holds; --max-mib\n"
		"caps what it takes.  If kswapd will not wake, --reclaimable KIB (at\n"
		"least 1024, vouched for by the caller) lets it go on, once, until a\n"
		"direct reclaim.\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "max-mib", required_argument, NULL, 'm' },
		{ "notify", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, 'H' },
		{ "reclaimable", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	long spg = sysconf(_SC_PAGESIZE), max_mib = 0, hold = 0, reclaimable_kib = 0;
	bool woke;
	long long runs0, stalls0;
	int notify = -1, c;
	unsigned int again = 0;
	size_t taken = 0, cap;
	struct zone z;
	FILE *adj;
	const char *why = "the cap";
	struct sigaction sa;

	while ((c = getopt_long(argc, argv, "m:n:H:r:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			max_mib = atol(optarg);
			break;
		case 'n':
			notify = atoi(optarg);
			break;
		case 'H':
			hold = atol(optarg);
			break;
		case 'r':
			reclaimable_kib = atol(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	adj = fopen("/proc/self/oom_score_adj", "w");
	if (adj) {
		fputs("1000", adj);
		fclose(adj);
	}
	if (read_zone(NULL, &z)) {
		fprintf(stderr, "gcheap-hog: cannot read /proc/zoneinfo\n");
		return 1;
	}
	if (max_mib <= 0)
		max_mib = meminfo_kb("MemTotal") / 1024;
	baseline();
	runs0 = run0;
	stalls0 = stall0;
	printf("gcheap-hog: zone %s: free %ld MiB, watermarks min %ld / low %ld / high %ld MiB;"
	       " MemAvailable %ld MiB; taking memory until kswapd wakes\n",
	       z.name, z.free * spg / (long)MIB, z.min * spg / (long)MIB,
	       z.low * spg / (long)MIB, z.high * spg / (long)MIB,
	       meminfo_kb("MemAvailable") / 1024);
	cap = (size_t)max_mib * MIB;
	woke = squeeze(&z, &taken, cap, spg, &why);
	if (!woke && !stop && taken < cap && reclaimable_kib >= 1024) {
		printf("gcheap-hog: kswapd did not wake (%s); %ld KiB are reclaimable:"
		       " on to direct reclaim\n", why, reclaimable_kib);
		squeeze_deep(&taken, spg, &why);
	}
	read_zone(z.name, &z);
	printf("gcheap-hog: holding %zu MiB (%s); zone %s free %ld MiB\n",
	       taken / MIB, why, z.name, z.free * spg / (long)MIB);
	if (notify >= 0) {
		dprintf(notify, "ready %zu\n", taken / MIB);
		close(notify);
	}
	for (long waited = 0; !stop && (!hold || waited < hold * 5); waited++) {
		usleep(200 * 1000);
		/* reclaim gave memory back, or we are asked for more: squeeze */
		if (!stop && !read_zone(z.name, &z) && (z.free >= z.low || more)) {
			more = 0;
			baseline();
			squeeze(&z, &taken, cap, spg, &why);
			again++;
		}
	}
	printf("gcheap-hog: exiting after %lld kswapd runs and %lld direct reclaims (took"
	       " memory again %u times); %zu MiB go back\n", vmstat("pageoutrun") - runs0,
	       allocstalls() - stalls0, again, taken / MIB);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * What gcheap-demo records while it runs, shared by the program
 * (gcheap-demo.c) and its writers of the record (demo-plot.c: the SVG
 * picture and the CSV table).
 *
 * The record is a time series of samples taken every ~50 ms by a thread of
 * the demo (library statistics from gch_gc_stats(), the kernel's counters
 * from GCH_IOC_STATS on the heap's descriptor), the phases with their start
 * and end times, and the memory hog's interval.  Times are seconds since
 * the demo started (CLOCK_MONOTONIC).
 */
#ifndef GCHEAP_DEMO_H
#define GCHEAP_DEMO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The number after "@key@sep" at the start of a line of @path (/proc/meminfo
 * separates with ':', /proc/vmstat with ' '), or -1.  Shared with the
 * memory hog, which needs nothing else from here.
 */
static inline long long proc_value(const char *path, const char *key,
				   char sep)
{
	FILE *f = fopen(path, "r");
	char line[128];
	size_t n = strlen(key);
	long long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == sep) {
			v = atoll(line + n + 1);
			break;
		}
	fclose(f);
	return v;
}

/* A /proc/meminfo field in KiB ("MemTotal"...), or -1. */
static inline long meminfo_kb(const char *key)
{
	return (long)proc_value("/proc/meminfo", key, ':');
}

/* Who gave memory back: the order of struct gch_stats' released_* fields
 * as the summary lists them. */
enum { REL_BG, REL_EAGER, REL_SHRINK, REL_MEMCG, REL_IOCTL, NREL };

extern const char *const rel_names[NREL];

struct sample {
	double t;
	int phase;			/* index into run.phases, -1 before */
	uint64_t entries;		/* cache entries */
	uint64_t live;			/* gch_gc_stats.heap_live_bytes */
	uint64_t goal;			/* heap_goal_bytes */
	uint64_t spans;			/* heap_span_bytes */
	uint64_t resident;		/* resident_bytes */
	uint64_t free_resident;		/* GCH_IOC_STATS free_resident_bytes */
	uint64_t released[NREL];	/* cumulative bytes by cause */
	uint64_t cycles;		/* GC cycles finished */
	uint64_t pauses;		/* stop-the-world pauses */
	uint64_t pause_total_ns;
	uint64_t pause_max_ns;
	uint64_t alloc_bytes;		/* allocated so far */
};

#define MAX_PHASES	8

struct phase {
	const char *name;
	double t0, t1;			/* t1 < t0: still running */
};

struct run {
	struct sample *s;
	size_t n;
	struct phase phases[MAX_PHASES];
	int nphases;
	double hog_t0, hog_t1;		/* hog_t0 < 0: no hog */
	const char *title;		/* one line: backend, machine */
	const char *subtitle;		/* one line: the summary */
};

/* The picture: memory over time, GC marks, releases by cause. */
void plot_svg(FILE *f, const struct run *r);

/* Every sample as a CSV row, with a header row naming the columns. */
void write_csv(FILE *f, const struct run *r);

#endif /* GCHEAP_DEMO_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A gcheap workload for the bpf tests: drives one heap through every action
 * that fires a gcheap tracepoint (wl_run(); the pressure events, which need
 * a cgroup and a child, wl_pressure()), and the module control the tests
 * need (insmod/rmmod of the guest's /gcheap.ko).  Plus a tiny TAP reporter.
 */
#ifndef GCHEAP_BPF_WORKLOAD_H
#define GCHEAP_BPF_WORKLOAD_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/gcheap.h>

struct wl_heap {
	int fd;
	void *arena0;		/* arena 0 mapped */
	unsigned long long id;
	unsigned long long features;
};

/* What wl_run() did, as the module must have seen it. */
struct wl_done {
	unsigned long long allocs;	/* successful GCH_IOC_SPAN_ALLOC */
	unsigned long long alloc_pages;
	unsigned long long free_calls;	/* successful GCH_IOC_SPAN_FREE */
	unsigned long long spans_freed;
	unsigned long long freed_pages;
	unsigned long long limit_hits;	/* allocations refused by the limit */
	unsigned long long ioctl_released;	/* bytes, by GCH_IOC_SCAVENGE */
	unsigned long long gc_cycles;	/* cycles announced */
	unsigned long long last_cycle;
	unsigned long long gc_phases;
	/* GCH_GC_PAUSE announcements (module with GCH_FEAT_GC_PAUSE) */
	unsigned long long gc_pauses;
	unsigned long long gc_pause_ns;
	unsigned long long gc_pause_max_ns;
};

int wl_open(struct wl_heap *h);
void wl_close(struct wl_heap *h);
int wl_stats(struct wl_heap *h, struct gch_stats *st);
/*
 * Allocate, touch, free (in batches), hit the hard limit, announce GC
 * cycles with their stop-the-world pauses, scavenge part by ioctl, shrink through drop_caches, and finally
 * scavenge everything so that no free resident memory is left for the
 * background scavenger to change the counters behind the test's back.
 * Returns 0 or -errno.
 */
int wl_run(struct wl_heap *h, struct wl_done *d);

/*
 * What wl_pressure() did, from the heap owner's side: the figures the BPF
 * counts of its heap must match.
 */
struct wl_pressure {
	unsigned long long id;		/* the heap's id */
	int pid;			/* its owner: a child, gone by now */
	unsigned int reasons;		/* GCH_PRESSURE_* of the event taken */
	unsigned long long asked;	/* its asked_bytes */
	unsigned long long events;	/* events on the heap, at the end */
	unsigned long long answers;	/* GCH_PRESSURE_ANSWER calls */
	unsigned long long answered;	/* bytes they reported */
	/* from the first charge to the answer's return: bounds its latency */
	unsigned long long elapsed_ns;
	char why[96];			/* why it did not run, if it did not */
};

/*
 * A child in a new cgroup v2 just over its memory.high, holding a heap with
 * no free pages, so that reclaim raises a pressure event on the heap; the
 * child takes it, frees and scavenges its spans, answers with the bytes
 * that gave back, reads the heap's event count and closes the heap.
 * Returns 0; -EOPNOTSUPP (with @p->why) when the module or the kernel
 * cannot (no GCH_FEAT_PRESSURE, no cgroup v2 memory controller); another
 * -errno (and @p->why) when a step failed.
 */
int wl_pressure(struct wl_pressure *p);

/* Module control; the module file is the only *.ko in / (scripts/vm). */
bool wl_module_loaded(void);
int wl_rmmod(void);
int wl_insmod(void);

/* TAP */
void tap_ok(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tap_done(void);
/* Exit status of child @pid within @ms (128 + signal); killed after: -1. */
int wl_wait_exit(pid_t pid, unsigned int ms);	/* prints the totals; exit status */

#endif /* GCHEAP_BPF_WORKLOAD_H */

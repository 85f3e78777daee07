/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared between the gcheap BPF programs and their userspace (gcheap-trace,
 * bpf/tests): the ring-buffer event record, the per-heap counter record of
 * the `heaps` hash map, and the histogram layout of the `hists` array map.
 *
 * Design: the BPF side counts every event exactly in maps (the ring buffer
 * only feeds the live stream and may drop under load; drops are counted in
 * `counters`[GTR_CNT_LOST]).  Counters only grow; userspace computes
 * per-interval deltas and deletes a heap's entry once it has reported its
 * destruction.  Updates are atomic adds, so several CPUs may hit one heap.
 *
 * Kept free of kernel and libc headers so both sides can include it after
 * their own type definitions (vmlinux.h or <linux/types.h>).
 */
#ifndef GCHEAP_BPF_H
#define GCHEAP_BPF_H

/* Event types, one per gcheap tracepoint. */
enum gtr_type {
	GTR_HEAP_CREATE,
	GTR_HEAP_DESTROY,
	GTR_SPAN_ALLOC,
	GTR_SPANS_FREE,
	GTR_LIMIT_HIT,
	GTR_PAGES_RELEASE,
	GTR_SHRINK_SCAN,
	GTR_GC_PHASE,
	GTR_GC_PAUSE,
	GTR_PRESSURE,
	GTR_PRESSURE_ANSWER,
	GTR_NTYPES,
};

/*
 * Release reasons as gcheap-trace numbers them.  The module's own enum values
 * are mapped onto these through the rodata table reason_slot[], which
 * userspace fills from the tracepoint's print format, so a renumbering in the
 * module does not silently swap columns.
 */
enum gtr_reason {
	GTR_REL_IOCTL,
	GTR_REL_BG,
	GTR_REL_EAGER,
	GTR_REL_SHRINK,
	GTR_REL_MEMCG,
	GTR_REL_OTHER,
	GTR_NREASONS,
};
#define GTR_MAX_KREASON		8	/* module reason values understood */

/* uAPI values of struct gch_gc_phase.phase (linux/gcheap.h). */
#define GTR_GC_MARK_START	1
#define GTR_GC_MARK_END		2
#define GTR_GC_SWEEP_END	3
/* uAPI values of struct gch_gc_phase.pause_kind (GCH_PAUSE_*). */
#define GTR_PAUSE_MARK_START	1
#define GTR_PAUSE_MARK_TERM	2
#define GTR_PAUSE_STW		3
/*
 * uAPI values of the causes of a pressure event (GCH_PRESSURE_*): bits, and
 * part of the ABI, so unlike the release reasons they need no mapping.
 */
#define GTR_PRESSURE_RECLAIM	(1U << 0)
#define GTR_PRESSURE_LIMIT	(1U << 1)

#define GTR_COMM_LEN		16

/*
 * One ring-buffer record.  a..d are the tracepoint's own arguments:
 *  SPAN_ALLOC     a=page b=npages c=zeroed
 *  SPANS_FREE     a=count b=npages
 *  LIMIT_HIT      a=npages b=span_pages c=limit d=total (module cap)
 *  PAGES_RELEASE  a=bytes b=ns c=gtr_reason d=module reason
 *  SHRINK_SCAN    a=asked b=freed
 *  GC_PHASE       a=phase b=cycle c=live d=goal
 *  GC_PAUSE       a=kind b=cycle c=ns
 *  PRESSURE       a=reason (GCH_PRESSURE_*) b=bytes c=events (the heap's
 *                 count of events so far)
 *  PRESSURE_ANSWER a=bytes (given back) b=latency_ns (event to answer)
 */
struct gtr_event {
	__u64 ts;		/* bpf_ktime_get_ns() */
	__u64 heap;		/* heap id */
	__u32 pid;		/* tgid of the heap's owner */
	__u32 type;		/* enum gtr_type */
	__u32 tid;		/* the task that fired the event */
	__u32 pad;
	char comm[GTR_COMM_LEN];
	__u64 a, b, c, d;
};

/* Value of the `heaps` map, key: heap id. */
struct gtr_heap_stats {
	__u32 pid;
	__u32 pad;
	__u64 created;
	__u64 destroyed;
	__u64 spans_alloc;
	__u64 pages_alloc;
	__u64 free_calls;
	__u64 spans_freed;
	__u64 pages_freed;
	__u64 limit_hits;
	__u64 releases[GTR_NREASONS];		/* release events */
	__u64 released_bytes[GTR_NREASONS];
	__u64 release_ns;
	__u64 shrink_scans;
	__u64 shrink_asked;
	__u64 shrink_freed;
	__u64 gc_phases;
	__u64 gc_cycles;			/* MARK_START announcements */
	__u64 gc_last_cycle;			/* a gauge, not a counter */
	__u64 gc_pauses;			/* gcheap_gc_pause events */
	__u64 gc_pause_ns;			/* their ns, summed */
	__u64 gc_pause_max_ns;			/* the longest; only grows */
	__u64 pressure_events;			/* gcheap_pressure events */
	__u64 pressure_asked_bytes;		/* their bytes, summed */
	__u64 pressure_answers;			/* gcheap_pressure_answer */
	__u64 pressure_answered_bytes;		/* their bytes, summed */
	__u64 answer_max_ns;			/* longest latency; only grows */
};

/*
 * `hists`: array map, key = kind * GTR_NREASONS + reason, value = log2
 * buckets: slot 0 counts values 0 and 1, slot i > 0 values 2^i .. 2^(i+1)-1
 * (libbpf-tools' convention).  Latency is in microseconds, pages are system
 * pages.
 */
enum gtr_hist_kind {
	GTR_HIST_LAT_US,
	GTR_HIST_PAGES,
	GTR_NHISTKINDS,
};
#define GTR_HIST_SLOTS		32
#define GTR_NHISTS		(GTR_NHISTKINDS * GTR_NREASONS)

struct gtr_hist {
	__u64 slots[GTR_HIST_SLOTS];
};

/* `counters`: array map of global counters. */
enum gtr_counter {
	GTR_CNT_LOST,		/* ring-buffer records dropped */
	GTR_CNT_FILTERED,	/* events of heaps outside -p */
	GTR_NCOUNTERS,
};

#endif /* GCHEAP_BPF_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every gcheap BPF program does with an event, whichever way it was
 * attached: filter by the heap owner's pid, count into the `heaps` map, feed
 * the histograms, and (when the live stream is on) copy the event into the
 * ring buffer.
 *
 * Included by gcheap_btf.bpf.c (tp_btf, reads the heap through module BTF
 * with CO-RE) and gcheap_raw.bpf.c (raw_tp, no BTF at all); they differ only
 * in how they get the heap's id and pid.  Two objects instead of one with
 * alternative programs, because libbpf refuses to open an object carrying
 * any CO-RE relocation on a kernel without vmlinux BTF (the debug kernel),
 * even when the programs needing it are not loaded.
 *
 * Maps, programs and rodata have the same names in both objects so one
 * userspace loader (trace_load.c) drives either.
 */
#ifndef GCHEAP_EVENTS_BPF_H
#define GCHEAP_EVENTS_BPF_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "gcheap_bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by userspace before load. */
const volatile __u32 targ_pid;		/* 0: every heap */
const volatile bool stream;		/* feed the ring buffer */
const volatile __u32 page_shift = 12;	/* the target's PAGE_SHIFT */
const volatile __u8 reason_slot[GTR_MAX_KREASON] = {
	GTR_REL_IOCTL, GTR_REL_BG, GTR_REL_EAGER, GTR_REL_SHRINK,
	GTR_REL_OTHER, GTR_REL_OTHER, GTR_REL_OTHER, GTR_REL_OTHER,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct gtr_heap_stats);
} heaps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GTR_NHISTS);
	__type(key, __u32);
	__type(value, struct gtr_hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GTR_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/*
 * clang turns range checks on an index into tests on a copy of it, which
 * teach the verifier nothing about the register actually used; masking that
 * very register (the bound is a power of two) gives the verifier its bound.
 */
#define gtr_bound(idx, pow2) \
	asm volatile("%0 &= %1" : "+r"(idx) : "i"((pow2) - 1))

static __always_inline void gtr_count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* floor(log2(v)) for v >= 1, 0 for v == 0; branch-free halving steps */
static __always_inline __u32 gtr_log2(__u64 v)
{
	__u32 r = 0, s;

	s = (v > 0xFFFFFFFFULL) << 5; v >>= s; r |= s;
	s = (v > 0xFFFF) << 4; v >>= s; r |= s;
	s = (v > 0xFF) << 3; v >>= s; r |= s;
	s = (v > 0xF) << 2; v >>= s; r |= s;
	s = (v > 0x3) << 1; v >>= s; r |= s;
	return r | (__u32)(v >> 1);
}

static __always_inline void gtr_hist_add(__u32 kind, __u32 reason, __u64 v)
{
	__u32 key = kind * GTR_NREASONS + reason;
	struct gtr_hist *h = bpf_map_lookup_elem(&hists, &key);
	__u32 slot = gtr_log2(v);

	if (!h)
		return;
	if (slot >= GTR_HIST_SLOTS)
		slot = GTR_HIST_SLOTS - 1;
	gtr_bound(slot, GTR_HIST_SLOTS);
	__sync_fetch_and_add(&h->slots[slot], 1);
}

/*
 * The heap's counter record, created on first sight.  A heap seen first in
 * the middle of its life (the tool started late) gets a record too; only its
 * `created` stays 0.
 */
static __always_inline struct gtr_heap_stats *gtr_heap(__u64 id, __u32 pid)
{
	struct gtr_heap_stats *st, zero = { .pid = pid };

	st = bpf_map_lookup_elem(&heaps, &id);
	if (st)
		return st;
	bpf_map_update_elem(&heaps, &id, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&heaps, &id);
}

static __always_inline bool gtr_filtered(__u32 pid)
{
	if (!targ_pid || targ_pid == pid)
		return false;
	gtr_count(GTR_CNT_FILTERED);
	return true;
}

static __always_inline void gtr_emit(__u32 type, __u64 id, __u32 pid, __u64 a,
				     __u64 b, __u64 c, __u64 d)
{
	struct gtr_event *e;

	if (!stream)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		gtr_count(GTR_CNT_LOST);
		return;
	}
	e->ts = bpf_ktime_get_ns();
	e->heap = id;
	e->pid = pid;
	e->type = type;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->a = a;
	e->b = b;
	e->c = c;
	e->d = d;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline int on_heap_life(__u64 id, __u32 pid, bool create)
{
	struct gtr_heap_stats *st;

	if (gtr_filtered(pid))
		return 0;
	st = gtr_heap(id, pid);
	if (st)
		__sync_fetch_and_add(create ? &st->created : &st->destroyed, 1);
	gtr_emit(create ? GTR_HEAP_CREATE : GTR_HEAP_DESTROY, id, pid,
		 0, 0, 0, 0);
	return 0;
}

static __always_inline int on_span_alloc(__u64 id, __u32 pid, __u64 page,
					 __u32 npages, bool zeroed)
{
	struct gtr_heap_stats *st;

	if (gtr_filtered(pid))
		return 0;
	st = gtr_heap(id, pid);
	if (st) {
		__sync_fetch_and_add(&st->spans_alloc, 1);
		__sync_fetch_and_add(&st->pages_alloc, npages);
	}
	gtr_emit(GTR_SPAN_ALLOC, id, pid, page, npages, zeroed, 0);
	return 0;
}

static __always_inline int on_spans_free(__u64 id, __u32 pid, __u32 count,
					 __u64 npages)
{
	struct gtr_heap_stats *st;

	if (gtr_filtered(pid))
		return 0;
	st = gtr_heap(id, pid);
	if (st) {
		__sync_fetch_and_add(&st->free_calls, 1);
		__sync_fetch_and_add(&st->spans_freed, count);
		__sync_fetch_and_add(&st->pages_freed, npages);
	}
	gtr_emit(GTR_SPANS_FREE, id, pid, count, npages, 0, 0);
	return 0;
}

static __always_inline int on_limit_hit(__u64 id, __u32 pid, __u32 npages,
					__u64 span_pages, __u64 limit,
					bool total)
{
	struct gtr_heap_stats *st;

	if (gtr_filtered(pid))
		return 0;
	st = gtr_heap(id, pid);
	if (st)
		__sync_fetch_and_add(&st->limit_hits, 1);
	gtr_emit(GTR_LIMIT_HIT, id, pid, npages, span_pages, limit, total);
	return 0;
}

static __always_inline int on_pages_release(__u64 id, __u32 pid, __u64 bytes,
					    __u64 ns, int kreason)
{
	struct gtr_heap_stats *st;
	__u32 r = GTR_REL_OTHER;

	if (gtr_filtered(pid))
		return 0;
	if ((__u32)kreason < GTR_MAX_KREASON) {
		__u32 k = kreason;

		gtr_bound(k, GTR_MAX_KREASON);
		r = reason_slot[k];
	}
	if (r >= GTR_NREASONS)
		r = GTR_REL_OTHER;
	st = gtr_heap(id, pid);
	if (st) {
		__sync_fetch_and_add(&st->releases[r], 1);
		__sync_fetch_and_add(&st->released_bytes[r], bytes);
		__sync_fetch_and_add(&st->release_ns, ns);
	}
	gtr_hist_add(GTR_HIST_LAT_US, r, ns / 1000);
	gtr_hist_add(GTR_HIST_PAGES, r, bytes >> page_shift);
	gtr_emit(GTR_PAGES_RELEASE, id, pid, bytes, ns, r, kreason);
	return 0;
}

static __always_inline int on_shrink_scan(__u64 id, __u32 pid, __u64 asked,
					  __u64 freed)
{
	struct gtr_heap_stats *st;

	if (gtr_filtered(pid))
		return 0;
	st = gtr_heap(id, pid);
	if (st) {
		__sync_fetch_and_add(&st->shrink_scans, 1);
		__sync_fetch_and_add(&st->shrink_asked, asked);
		__sync_fetch_and_add(&st->shrink_freed, freed);
	}
	gtr_emit(GTR_SHRINK_SCAN, id, pid, asked, freed, 0, 0);
	return 0;
}

static __always_inline int on_gc_phase(__u64 id, __u32 pid, __u32 phase,
				       __u64 cycle, __u64 live, __u64 goal)
{
	struct gtr_heap_stats *st;

	if (gtr_filtered(pid))
		return 0;
	st = gtr_heap(id, pid);
	if (st) {
		__sync_fetch_and_add(&st->gc_phases, 1);
		if (phase == GTR_GC_MARK_START)
			__sync_fetch_and_add(&st->gc_cycles, 1);
		st->gc_last_cycle = cycle;
	}
	gtr_emit(GTR_GC_PHASE, id, pid, phase, cycle, live, goal);
	return 0;
}

static __always_inline int on_gc_pause(__u64 id, __u32 pid, __u64 cycle,
				       __u32 kind, __u64 ns)
{
	struct gtr_heap_stats *st;

	if (gtr_filtered(pid))
		return 0;
	st = gtr_heap(id, pid);
	if (st) {
		__sync_fetch_and_add(&st->gc_pauses, 1);
		__sync_fetch_and_add(&st->gc_pause_ns, ns);
		/*
		 * A plain max, not a compare-and-swap loop (which would need
		 * -mcpu=v3): a heap's pauses stop its whole process, so its
		 * collector announces them one at a time and two CPUs do not
		 * race here for the same heap.
		 */
		if (ns > st->gc_pause_max_ns)
			st->gc_pause_max_ns = ns;
	}
	gtr_emit(GTR_GC_PAUSE, id, pid, kind, cycle, ns, 0);
	return 0;
}

/*
 * A pressure event raised on the heap.  @bytes is what the cause that raised
 * it asked for; causes that fold into a pending event fire nothing, so the
 * sum is a lower bound of the asked_bytes GCH_IOC_PRESSURE hands out.
 */
static __always_inline int on_pressure(__u64 id, __u32 pid, __u32 reason,
				       __u64 bytes, __u64 events)
{
	struct gtr_heap_stats *st;

	if (gtr_filtered(pid))
		return 0;
	st = gtr_heap(id, pid);
	if (st) {
		__sync_fetch_and_add(&st->pressure_events, 1);
		__sync_fetch_and_add(&st->pressure_asked_bytes, bytes);
	}
	gtr_emit(GTR_PRESSURE, id, pid, reason, bytes, events, 0);
	return 0;
}

static __always_inline int on_pressure_answer(__u64 id, __u32 pid,
					      __u64 bytes, __u64 latency_ns)
{
	struct gtr_heap_stats *st;

	if (gtr_filtered(pid))
		return 0;
	st = gtr_heap(id, pid);
	if (st) {
		__sync_fetch_and_add(&st->pressure_answers, 1);
		__sync_fetch_and_add(&st->pressure_answered_bytes, bytes);
		/*
		 * A plain max, as for pauses: a heap has at most one event
		 * taken at a time, and the next cannot be raised before
		 * GCH_PRESSURE_QUIET_MS after this answer, so one heap's
		 * answers never race here.
		 */
		if (latency_ns > st->answer_max_ns)
			st->answer_max_ns = latency_ns;
	}
	gtr_emit(GTR_PRESSURE_ANSWER, id, pid, bytes, latency_ns, 0, 0);
	return 0;
}

#endif /* GCHEAP_EVENTS_BPF_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * gcheap tracepoints through tp_btf: the programs get the tracepoint's typed
 * arguments, and read the heap's id and pid with CO-RE relocations resolved
 * against gcheap.ko's own BTF (/sys/kernel/btf/gcheap), so they follow the
 * module's struct gch_heap wherever its fields move.  Needs a module built
 * with BTF (make module BTF=1); gcheap_raw.bpf.c covers modules without.
 *
 * Each program is loaded only if its tracepoint exists in the running module
 * (the loader turns autoload off for the others).
 */
#include "vmlinux.h"
#include "gcheap_events.bpf.h"

/* The part of the module's heap object we read; CO-RE finds the rest. */
struct gch_heap {
	__u64 id;
	pid_t pid;
} __attribute__((preserve_access_index));

#define HEAP_ID(h)	((h)->id)
#define HEAP_PID(h)	((__u32)(h)->pid)

SEC("tp_btf/gcheap_heap_create")
int BPF_PROG(heap_create, const struct gch_heap *heap)
{
	return on_heap_life(HEAP_ID(heap), HEAP_PID(heap), true);
}

SEC("tp_btf/gcheap_heap_destroy")
int BPF_PROG(heap_destroy, const struct gch_heap *heap)
{
	return on_heap_life(HEAP_ID(heap), HEAP_PID(heap), false);
}

SEC("tp_btf/gcheap_span_alloc")
int BPF_PROG(span_alloc, const struct gch_heap *heap, u64 page, u32 npages,
	     bool zeroed)
{
	return on_span_alloc(HEAP_ID(heap), HEAP_PID(heap), page, npages,
			     zeroed);
}

SEC("tp_btf/gcheap_spans_free")
int BPF_PROG(spans_free, const struct gch_heap *heap, u32 count, u64 npages)
{
	return on_spans_free(HEAP_ID(heap), HEAP_PID(heap), count, npages);
}

SEC("tp_btf/gcheap_limit_hit")
int BPF_PROG(limit_hit, const struct gch_heap *heap, u32 npages,
	     u64 span_pages, u64 limit, bool total)
{
	return on_limit_hit(HEAP_ID(heap), HEAP_PID(heap), npages, span_pages,
			    limit, total);
}

SEC("tp_btf/gcheap_pages_release")
int BPF_PROG(pages_release, const struct gch_heap *heap, u64 bytes, u64 ns,
	     int reason)
{
	return on_pages_release(HEAP_ID(heap), HEAP_PID(heap), bytes, ns,
				reason);
}

SEC("tp_btf/gcheap_shrink_scan")
int BPF_PROG(shrink_scan, const struct gch_heap *heap, u64 asked, u64 freed)
{
	return on_shrink_scan(HEAP_ID(heap), HEAP_PID(heap), asked, freed);
}

SEC("tp_btf/gcheap_gc_phase")
int BPF_PROG(gc_phase, const struct gch_heap *heap, u32 phase, u64 cycle,
	     u64 live, u64 goal)
{
	return on_gc_phase(HEAP_ID(heap), HEAP_PID(heap), phase, cycle, live,
			   goal);
}

SEC("tp_btf/gcheap_gc_pause")
int BPF_PROG(gc_pause, const struct gch_heap *heap, u64 cycle, u32 kind,
	     u64 ns)
{
	return on_gc_pause(HEAP_ID(heap), HEAP_PID(heap), cycle, kind, ns);
}

SEC("tp_btf/gcheap_pressure")
int BPF_PROG(pressure, const struct gch_heap *heap, u32 reason, u64 bytes,
	     u64 events)
{
	return on_pressure(HEAP_ID(heap), HEAP_PID(heap), reason, bytes,
			   events);
}

SEC("tp_btf/gcheap_pressure_answer")
int BPF_PROG(pressure_answer, const struct gch_heap *heap, u64 bytes,
	     u64 latency_ns)
{
	return on_pressure_answer(HEAP_ID(heap), HEAP_PID(heap), bytes,
				  latency_ns);
}

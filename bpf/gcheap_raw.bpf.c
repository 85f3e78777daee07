// SPDX-License-Identifier: GPL-2.0
/*
 * gcheap tracepoints through raw_tp, for modules without BTF (the default
 * build, and any module on the debug kernel, which has no BTF at all).  The
 * arguments arrive untyped; the heap's id and pid are read from the heap
 * object with bpf_probe_read_kernel() at the offsets in heap_id_off and
 * heap_pid_off: the module keeps `u64 id; pid_t pid;` as the first members
 * of struct gch_heap (it asserts so), and the loader may override them.
 *
 * This object must carry no CO-RE relocation, or libbpf would demand
 * vmlinux BTF to open it: it touches no kernel struct directly.
 */
#include "vmlinux.h"
#include "gcheap_events.bpf.h"

const volatile __u32 heap_id_off = 0;
const volatile __u32 heap_pid_off = 8;

static __always_inline __u64 heap_id(const void *heap)
{
	__u64 id = 0;

	bpf_probe_read_kernel(&id, sizeof(id), heap + heap_id_off);
	return id;
}

static __always_inline __u32 heap_pid(const void *heap)
{
	__s32 pid = 0;

	bpf_probe_read_kernel(&pid, sizeof(pid), heap + heap_pid_off);
	return pid;
}

SEC("raw_tp/gcheap_heap_create")
int BPF_PROG(heap_create, const void *heap)
{
	return on_heap_life(heap_id(heap), heap_pid(heap), true);
}

SEC("raw_tp/gcheap_heap_destroy")
int BPF_PROG(heap_destroy, const void *heap)
{
	return on_heap_life(heap_id(heap), heap_pid(heap), false);
}

SEC("raw_tp/gcheap_span_alloc")
int BPF_PROG(span_alloc, const void *heap, u64 page, u32 npages, bool zeroed)
{
	return on_span_alloc(heap_id(heap), heap_pid(heap), page, npages,
			     zeroed);
}

SEC("raw_tp/gcheap_spans_free")
int BPF_PROG(spans_free, const void *heap, u32 count, u64 npages)
{
	return on_spans_free(heap_id(heap), heap_pid(heap), count, npages);
}

SEC("raw_tp/gcheap_limit_hit")
int BPF_PROG(limit_hit, const void *heap, u32 npages, u64 span_pages,
	     u64 limit, bool total)
{
	return on_limit_hit(heap_id(heap), heap_pid(heap), npages, span_pages,
			    limit, total);
}

SEC("raw_tp/gcheap_pages_release")
int BPF_PROG(pages_release, const void *heap, u64 bytes, u64 ns, int reason)
{
	return on_pages_release(heap_id(heap), heap_pid(heap), bytes, ns,
				reason);
}

SEC("raw_tp/gcheap_shrink_scan")
int BPF_PROG(shrink_scan, const void *heap, u64 asked, u64 freed)
{
	return on_shrink_scan(heap_id(heap), heap_pid(heap), asked, freed);
}

SEC("raw_tp/gcheap_gc_phase")
int BPF_PROG(gc_phase, const void *heap, u32 phase, u64 cycle, u64 live,
	     u64 goal)
{
	return on_gc_phase(heap_id(heap), heap_pid(heap), phase, cycle, live,
			   goal);
}

SEC("raw_tp/gcheap_gc_pause")
int BPF_PROG(gc_pause, const void *heap, u64 cycle, u32 kind, u64 ns)
{
	return on_gc_pause(heap_id(heap), heap_pid(heap), cycle, kind, ns);
}

SEC("raw_tp/gcheap_pressure")
int BPF_PROG(pressure, const void *heap, u32 reason, u64 bytes, u64 events)
{
	return on_pressure(heap_id(heap), heap_pid(heap), reason, bytes,
			   events);
}

SEC("raw_tp/gcheap_pressure_answer")
int BPF_PROG(pressure_answer, const void *heap, u64 bytes, u64 latency_ns)
{
	return on_pressure_answer(heap_id(heap), heap_pid(heap), bytes,
				  latency_ns);
}

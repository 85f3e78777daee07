// SPDX-License-Identifier: GPL-2.0
/*
 * `gcheap-trace profile`: the USDT programs on libgcheap's sampled
 * allocations and frees (gcheap_prof.h says what the probes carry and what
 * the maps hold).  Attached per process by libbpf's USDT support, which
 * reads the probes' argument specs from the target's .note.stapsdt and
 * hands them to these programs through BPF_USDT().
 *
 * Everything is counted in maps, exactly: nothing goes through a ring
 * buffer.  A stack's return addresses are read from the target once, when
 * its id is first seen (the library never frees a bucket while its heap
 * lives, so the id names one stack for the whole run).  Counts are atomic
 * adds: several threads of the target may fire at once.
 *
 * No vmlinux.h: with it, usdt.bpf.h's reads of struct pt_regs would be
 * CO-RE relocations, and libbpf would refuse to load the object on a
 * kernel without vmlinux BTF (the debug kernel).  The UAPI's pt_regs are
 * all it needs; `make -C bpf test` checks there is no relocation.
 */
#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>
#include "gcheap_prof.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GPR_MAX_STACKS);
	__type(key, __u64);
	__type(value, struct gpr_stack);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GPR_MAX_LIVE);
	__type(key, __u64);		/* object address */
	__type(value, __u64);		/* its stack id */
} live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gpr_stack);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GPR_NCNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The target's sampling rate, as its last sample_alloc said (each stack
 * keeps its own heap's: a program's heaps may sample at other rates). */
__u64 rate;

static __always_inline void count(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &slot);

	if (c)
		__sync_fetch_and_add(c, 1);
}

/* The entry of @id, made (with the stack read from @pcs) if new. */
static __always_inline struct gpr_stack *stack_of(__u64 id, __u64 size,
						  __u64 pcs, __u32 npc,
						  __u64 r)
{
	struct gpr_stack *st = bpf_map_lookup_elem(&stacks, &id);
	__u32 zero = 0;

	if (st)
		return st;
	st = bpf_map_lookup_elem(&scratch, &zero);
	if (!st)
		return 0;
	st->allocs = st->alloc_bytes = st->frees = st->free_bytes = 0;
	st->size = size;
	st->rate = r;		/* a stack id belongs to one heap */
	st->npc = npc < GPR_MAXPC ? npc : GPR_MAXPC;
	st->read_err = 0;
	if (bpf_probe_read_user(st->pc, sizeof(st->pc), (void *)pcs)) {
		st->read_err = 1;
		st->npc = 0;
		count(GPR_CNT_READ_ERR);
	}
	/* another CPU may have made it meanwhile: fine, look it up again */
	bpf_map_update_elem(&stacks, &id, st, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stacks, &id);
}

SEC("usdt")
int BPF_USDT(sample_alloc, void *heap, __u64 addr, __u64 size, __u64 id,
	     __u64 pcs, __u32 npc, __u64 r)
{
	struct gpr_stack *st = stack_of(id, size, pcs, npc, r);

	count(GPR_CNT_ALLOCS);
	if (!st) {
		count(GPR_CNT_STACKS_FULL);
		return 0;
	}
	__sync_fetch_and_add(&st->allocs, 1);
	__sync_fetch_and_add(&st->alloc_bytes, size);
	rate = r;
	if (bpf_map_update_elem(&live, &addr, &id, BPF_ANY))
		count(GPR_CNT_LIVE_FULL);
	return 0;
}

SEC("usdt")
int BPF_USDT(sample_free, void *heap, __u64 addr, __u64 size, __u64 id)
{
	__u64 *seen = bpf_map_lookup_elem(&live, &addr);
	struct gpr_stack *st;

	if (!seen || *seen != id) {
		count(GPR_CNT_FREES_OLD);
		return 0;
	}
	bpf_map_delete_elem(&live, &addr);
	st = bpf_map_lookup_elem(&stacks, &id);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->frees, 1);
	__sync_fetch_and_add(&st->free_bytes, size);
	count(GPR_CNT_FREES);
	return 0;
}

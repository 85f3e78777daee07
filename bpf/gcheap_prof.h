/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared between gcheap_prof.bpf.c (the USDT programs of `gcheap-trace
 * profile`) and its userspace (trace_profile.c, the tests).
 *
 * libgcheap fires gcheap:sample_alloc(heap, addr, size, stack, pcs, npc,
 * rate) at each sampled allocation and gcheap:sample_free(heap, addr, size,
 * stack) when the sweeper frees a sampled object (libgcheap/malloc/
 * profile.c).  The stack id is the address of the library's bucket for that
 * (call stack, object size); pcs the address of its return addresses,
 * GPR_MAXPC words of which npc are used.  The BPF side keeps one gpr_stack
 * per stack id (the return addresses copied with bpf_probe_read_user() the
 * first time it is seen) and the address of every sampled object it saw
 * allocated, so that a free is counted only against an allocation seen
 * during the run: the in-use figures are those of the objects allocated
 * since the tool attached and not yet freed.
 *
 * Kept free of kernel and libc headers, as gcheap_bpf.h is.
 */
#ifndef GCHEAP_PROF_H
#define GCHEAP_PROF_H

/* = GCH_PROF_MAXPC of libgcheap (pprof_enc.h; trace_profile.c asserts) */
#define GPR_MAXPC	40
#define GPR_MAX_STACKS	16384		/* distinct stack ids */
#define GPR_MAX_LIVE	(1 << 17)	/* sampled objects seen, not freed */

/* Value of the `stacks` hash map, keyed by stack id. */
struct gpr_stack {
	__u64 allocs, alloc_bytes;	/* sampled, seen */
	__u64 frees, free_bytes;	/* of those, freed */
	__u64 size;			/* bytes per object */
	__u64 rate;			/* its heap's sampling rate */
	__u32 npc, read_err;
	__u64 pc[GPR_MAXPC];		/* innermost first */
};

/* Slots of the `counters` array map. */
enum gpr_counter {
	GPR_CNT_ALLOCS,		/* sample_alloc fired */
	GPR_CNT_FREES,		/* sample_free of an object seen allocated */
	GPR_CNT_FREES_OLD,	/* sample_free of one allocated before */
	GPR_CNT_STACKS_FULL,	/* allocations dropped: `stacks` full */
	GPR_CNT_LIVE_FULL,	/* objects whose free cannot be matched: the
				 * `live` map full, or busy (-EBUSY: the
				 * program was preempted inside a map update
				 * on this CPU) */
	GPR_CNT_READ_ERR,	/* stacks whose pcs could not be read */
	GPR_NCNT,
};

#endif /* GCHEAP_PROF_H */

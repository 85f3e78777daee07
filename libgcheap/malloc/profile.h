/* SPDX-License-Identifier: MIT */
/*
 * profile.h - what profile.c (sampling, records) and pprof.c (the writer)
 * share.  See profile.c for the design.  The USDT probes' sample_alloc
 * hands out a bucket's address and its pc[]: gcheap-trace profile reads
 * GCH_PROF_MAXPC words there (bpf/gcheap_prof.bpf.c), so pc[] must stay an
 * array of that many words inside the bucket.
 */
#ifndef GCHEAP_PROFILE_H
#define GCHEAP_PROFILE_H

#include "internal.h"
#include "pprof_enc.h"	/* GCH_PROF_DEPTH, GCH_PROF_MAXPC, prof_counts */

/* One call stack and object size (Go's bucket). */
struct prof_bucket {
	struct prof_bucket *next;	/* hash chain */
	struct prof_bucket *all;	/* every bucket, newest first */
	uint64_t hash;
	uint64_t size;			/* bytes per object */
	struct prof_counts active;	/* published */
	struct prof_counts future[3];	/* by cycle, not yet published */
	uint32_t npc;
	uintptr_t pc[GCH_PROF_MAXPC];	/* return addresses, innermost first */
};

struct gch_profile {
	struct gch_lock lock;
	uint64_t rate;			/* bytes per sample on average; 0: off */
	uint32_t flushed;		/* last cycle folded into active */
	struct prof_bucket **tab;	/* hash table of ntab chains */
	size_t ntab, nbuckets;
	struct prof_bucket *all;
	struct gch_prof_special *free_specials;
	uint64_t lost;			/* samples dropped for want of memory */
	char *path;			/* GCHEAP_PROFILE, or NULL */
};

uint32_t gch_prof_catch_up(struct gch_heap *h, struct gch_profile *p)
	GCH_HIDDEN;
/* pprof.c: write GCHEAP_PROFILE's file for @h at exit if still open. */
void gch_prof_exit_register(struct gch_heap *h) GCH_HIDDEN;
bool gch_prof_exit_unregister(struct gch_heap *h) GCH_HIDDEN;

#endif /* GCHEAP_PROFILE_H */

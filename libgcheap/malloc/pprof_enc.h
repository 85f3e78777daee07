/* SPDX-License-Identifier: MIT */
/*
 * pprof_enc.h - a heap profile encoded as pprof's profile.proto, from call
 * stacks and their counts, independent of where they come from.  Two
 * builds use it: libgcheap (pprof.c: the heap's own buckets, symbols of the
 * process itself) and gcheap-trace profile (bpf/trace_profile.c: buckets
 * read by BPF from another process through USDT probes, symbols of that
 * process).
 * So it includes nothing of the library: no lock, no heap, only libc and
 * zlib's types (zlib itself is reached through pointers the caller gives).
 */
#ifndef GCHEAP_PPROF_ENC_H
#define GCHEAP_PPROF_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* Frames kept per sample: 32 of the program's plus room for the library's
 * own (dropped by name when the profile is written). */
#define GCH_PROF_DEPTH		32
#define GCH_PROF_MAXPC		(GCH_PROF_DEPTH + 8)

struct prof_counts {
	uint64_t allocs, alloc_bytes;
	uint64_t frees, free_bytes;
};

/* One bucket as written: counts, object size, return addresses. */
struct pprof_stack {
	struct prof_counts c;
	uint64_t size;
	uint64_t rate;			/* its heap's rate; 0: pprof_input's */
	uint32_t npc;
	uintptr_t pc[GCH_PROF_MAXPC];	/* innermost first */
};

/* A distinct call address and what it resolves to. */
struct pprof_frame {
	uintptr_t addr;		/* return address - 1 */
	const char *name;	/* NULL: unknown */
	const char *file;
	int line;
	uint64_t loc_id;
};

struct pprof_mapping {
	uintptr_t start, limit, offset;
	char file[256];
	char build_id[41];
};

struct pprof_input {
	const struct pprof_stack *s;
	size_t n;
	uint64_t rate;			/* bytes per sample; <= 1: unscaled */
	const struct pprof_mapping *maps;
	size_t nmaps;
	bool has_functions, has_lines;	/* the mappings' flags */
	/* fill f->name, f->file, f->line; the strings must stay valid until
	 * pprof_encode() returns (they are copied) */
	void (*resolve)(void *arg, struct pprof_frame *f);
	void *arg;
};

struct pb {
	uint8_t *p;
	size_t n, cap;
	int err;		/* out of memory: the buffer is unusable */
};

/* zlib's entry points (deflateInit2_, deflate, deflateEnd); NULL init2:
 * the profile is written uncompressed (pprof reads both). */
struct pprof_zlib {
	int (*init2)(z_streamp, int, int, int, int, int, const char *, int);
	int (*deflate)(z_streamp, int);
	int (*end)(z_streamp);
};

/* The whole Profile message of @in into @out (freed by the caller with
 * free(out->p)); -1 (errno ENOMEM) when memory ran out. */
int pprof_encode(const struct pprof_input *in, struct pb *out);

/* gzip @in with @z (or not, see above) and write it to @fd; -1, errno. */
int pprof_write(int fd, const struct pb *in, const struct pprof_zlib *z);

/* Go's scaleHeapSample: @count objects of @bytes, sampled every @rate
 * bytes on average, as the counts they stand for. */
void pprof_scale(uint64_t count, uint64_t bytes, uint64_t rate,
		 int64_t *out_count, int64_t *out_bytes);

/* Every distinct call address (return address - 1) of in->s, sorted and
 * resolved with in->resolve; free() it.  NULL if out of memory. */
struct pprof_frame *pprof_frames(const struct pprof_input *in, size_t *nf);
const struct pprof_frame *pprof_find_frame(const struct pprof_frame *f,
					   size_t nf, uintptr_t addr);

/* The index of the program's first frame in @s (past the library's). */
uint32_t pprof_first_user_frame(const struct pprof_stack *s,
				const struct pprof_frame *f, size_t nf);

#endif /* GCHEAP_PPROF_ENC_H */

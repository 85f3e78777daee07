// SPDX-License-Identifier: GPL-2.0
/*
 * prof_target: a program with known allocation sites, for `gcheap-trace
 * profile` to attach to (profile_tool_test in the VM, bench/profile-bench
 * on the host).  Not a test itself: it lives in the guest's /usr/bin.
 *
 *   prof_target [SECS]   allocate until SIGUSR1, SIGTERM or SECS (default
 *                        600) have passed, then print the in-process
 *                        profile's sites and exit 0
 *
 * Each round, site_a allocates three objects of OBJ bytes and drops every
 * other one, site_b one object, kept: A allocates three times B's bytes.
 * The kept objects go to rings of roots, so the live heap stays bounded
 * (an object leaves the heap when the ring comes round).  It prints
 * "ready PID" once the heap is open, and at the end one line per function
 * that is a sample's first frame of the program in the in-process profile:
 *   inproc NAME alloc_space=N inuse_space=N
 * (values scaled as the written profile's are), read from the library's
 * own buckets with the frames named by prof_sym and cut by pprof_enc, as
 * gch_heap_profile_write() and gcheap-trace profile both do.  With
 * PROF_TARGET_OUT=path it also writes the profile there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "gc_internal.h"
#include "profile.h"
#include "prof_sym.h"

#define OBJ	256
#define RING	(1 << 15)

static volatile sig_atomic_t done;
static void *ring_a[RING], *ring_b[RING];

static void on_sig(int sig)
{
	(void)sig;
	done = 1;
}

static __attribute__((noinline)) void site_a(gch_heap *h, size_t at)
{
	for (int i = 0; i < 3; i++) {
		void *p = gch_malloc(h, OBJ);

		if (i != 1)
			ring_a[(at * 2 + (i != 0)) % RING] = p;
	}
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void site_b(gch_heap *h, size_t at)
{
	ring_b[at % RING] = gch_malloc(h, OBJ);
	__asm__ volatile("" ::: "memory");
}

static void resolve_cb(void *arg, struct pprof_frame *f)
{
	psym_resolve(arg, f->addr, &f->name, &f->file, &f->line);
}

/* The library's buckets as pprof_enc's input (allocation has stopped). */
static struct pprof_stack *buckets(gch_heap *h, size_t *n)
{
	struct gch_profile *p = h->prof;
	struct pprof_stack *s = calloc(p->nbuckets + 1, sizeof(*s));

	*n = 0;
	gc_nopreempt_enter();
	gch_lock(&p->lock);
	gch_prof_catch_up(h, p);
	for (struct prof_bucket *b = p->all; s && b; b = b->all) {
		s[*n].c = b->active;
		s[*n].size = b->size;
		s[*n].npc = b->npc;
		memcpy(s[*n].pc, b->pc, sizeof(b->pc));
		(*n)++;
	}
	gch_unlock(&p->lock);
	gc_nopreempt_exit();
	return s;
}

/* One "inproc" line per first frame of the program, summed. */
static void print_sites(gch_heap *h)
{
	struct psym *ps = psym_open(getpid());
	struct pprof_input in = { .rate = h->prof_rate, .resolve = resolve_cb,
				  .arg = ps };
	struct pprof_stack *s = buckets(h, &in.n);
	struct pprof_frame *f;
	size_t nf;

	in.s = s;
	f = ps && s ? pprof_frames(&in, &nf) : NULL;
	for (size_t i = 0; f && i < in.n; i++) {
		uint32_t j = pprof_first_user_frame(&s[i], f, nf);
		const struct pprof_frame *fr = j < s[i].npc ?
			pprof_find_frame(f, nf, s[i].pc[j] - 1) : NULL;
		int64_t v[4];

		pprof_scale(s[i].c.allocs, s[i].c.alloc_bytes, in.rate, &v[0],
			    &v[1]);
		pprof_scale(s[i].c.allocs - s[i].c.frees,
			    s[i].c.alloc_bytes - s[i].c.free_bytes, in.rate,
			    &v[2], &v[3]);
		printf("inproc %s alloc_space=%lld inuse_space=%lld\n",
		       fr && fr->name ? fr->name : "?", (long long)v[1],
		       (long long)v[3]);
	}
	free(f);
	free(s);
	psym_close(ps);
}

static void write_profile(gch_heap *h)
{
	const char *path = getenv("PROF_TARGET_OUT");
	int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;

	if (fd >= 0 && gch_heap_profile_write(h, fd))
		fprintf(stderr, "prof_target: %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	unsigned secs = argc > 1 ? (unsigned)atoi(argv[1]) : 600;
	time_t end = time(NULL) + secs;
	gch_heap *h = gch_open(NULL);

	if (!h) {
		fprintf(stderr, "prof_target: gch_open: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGUSR1, on_sig);
	signal(SIGTERM, on_sig);
	gch_add_roots(ring_a, sizeof(ring_a), NULL);
	gch_add_roots(ring_b, sizeof(ring_b), NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (size_t i = 0; !done; i++) {
		site_a(h, i);
		site_b(h, i);
		if (!(i & 1023) && time(NULL) >= end)
			break;
	}
	gch_gc(h);
	gch_gc(h);
	write_profile(h);
	print_sites(h);
	gch_close(h);
	return 0;
}

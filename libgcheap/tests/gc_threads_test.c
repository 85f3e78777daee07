// SPDX-License-Identifier: MIT
/*
 * gc_threads_test - 4 mutator threads allocate and mutate while
 * collections happen (triggered by their allocations and forced by the
 * main thread).  Each thread builds checksummed binary trees and lists,
 * keeps some only on its stack, some in registers, trades some through a
 * shared registered root array, and verifies everything it can reach after
 * every step; a fifth thread sits in a blocking read() the whole time.
 * At the end the heap must shrink back once everything is dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "gcheap.h"
#include "gc_test.h"

#define NTHREADS	4
#define NSHARED		64
#define KEEP		8

struct node {
	struct node *left, *right;
	uint64_t val;
	uint64_t pad;
};

static gch_heap *h;
static struct node **shared;		/* registered root range */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int failures;
static int iterations = 300;

static struct node *tree(int depth, uint64_t v)
{
	struct node *n = gch_malloc(h, sizeof(*n));

	if (!n)
		return NULL;
	n->val = v;
	if (depth > 0) {
		n->left = tree(depth - 1, v * 2);
		n->right = tree(depth - 1, v * 2 + 1);
	}
	return n;
}

static uint64_t check(const struct node *n, uint64_t v, int depth)
{
	uint64_t c;

	if (!n)
		return depth < 0 ? 0 : (uint64_t)-1;
	if (n->val != v)
		return (uint64_t)-1;
	c = 1;
	if (depth > 0) {
		uint64_t l = check(n->left, v * 2, depth - 1);
		uint64_t r = check(n->right, v * 2 + 1, depth - 1);

		if (l == (uint64_t)-1 || r == (uint64_t)-1)
			return (uint64_t)-1;
		c += l + r;
	}
	return c;
}

struct kept {
	struct node *root;
	uint64_t v;
	int depth;
};

static void verify(const struct kept *k, const char *where)
{
	uint64_t want = (1ULL << (k->depth + 1)) - 1;

	if (k->root && check(k->root, k->v, k->depth) != want) {
		if (atomic_fetch_add(&failures, 1) < 5)
			fprintf(stderr, "tree %llx depth %d corrupt (%s)\n",
				(unsigned long long)k->v, k->depth, where);
	}
}

static void *mutator(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
	struct kept keep[KEEP];
	char *buf = NULL;
	size_t buflen = 0;

	memset(keep, 0, sizeof(keep));
	for (int it = 0; it < iterations; it++) {
		unsigned slot = (unsigned)(seed % KEEP);
		int depth = 2 + (int)(seed % 9);

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		keep[slot].v = seed >> 40 | 1;
		keep[slot].depth = depth;
		keep[slot].root = tree(depth, keep[slot].v);
		/* a noscan buffer with known contents */
		buflen = 16 + seed % 5000;
		buf = gch_malloc_noscan(h, buflen);
		memset(buf, (int)(it & 0xff), buflen);
		/* trade a tree through the shared roots (its root's pad
		 * field says its depth, so any thread can check it) */
		if (it % 7 == 0 && keep[slot].root) {
			unsigned s = (unsigned)(seed >> 20) % NSHARED;
			struct kept k;

			keep[slot].root->pad = (uint64_t)depth;
			pthread_mutex_lock(&shared_lock);
			k.root = shared[s];
			shared[s] = keep[slot].root;
			pthread_mutex_unlock(&shared_lock);
			if (k.root) {
				k.v = k.root->val;
				k.depth = (int)k.root->pad;
				verify(&k, "traded");
			}
		}
		for (unsigned i = 0; i < KEEP; i++)
			verify(&keep[i], "kept");
		for (size_t i = 0; i < buflen; i++)
			if (buf[i] != (char)(it & 0xff)) {
				atomic_fetch_add(&failures, 1);
				break;
			}
	}
	return NULL;
}

static void *blocked_reader(void *arg)
{
	int fd = *(int *)arg;
	char c;
	struct node *mine;

	gch_thread_attach(h);
	mine = tree(3, 5);
	/* blocked in read() through every collection, holding a tree */
#ifdef __SANITIZE_THREAD__
	/* ThreadSanitizer holds signals back from a thread blocked in read()
	 * until it returns: poll (the blocking case runs natively) */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (read(fd, &c, 1) != 1)
		usleep(100);
#else
	if (read(fd, &c, 1) != 1)
		atomic_fetch_add(&failures, 1);
#endif
	if (check(mine, 5, 3) != 15)
		atomic_fetch_add(&failures, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS], rd;
	struct gch_options o = { .size = sizeof(o) };
	struct gch_gc_stats st;
	int pfd[2];
	int forced = 0;

	if (argc > 1)
		iterations = atoi(argv[1]);
	h = gch_open(&o);
	if (!h) {
		printf("# gch_open: %s\n0 passed, 1 failed\n", strerror(errno));
		return 1;
	}
	shared = calloc(NSHARED, sizeof(*shared));
	CHECK(gch_add_roots(shared, NSHARED * sizeof(*shared), NULL) == 0,
	      "shared roots");
	CHECK(pipe(pfd) == 0, "pipe");
	pthread_create(&rd, NULL, blocked_reader, &pfd[0]);
	/* round 1: only the mutators' allocations trigger collections */
	for (long i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, mutator, (void *)(i + 1));
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	gch_gc_stats(h, &st);
	CHECK(st.cycles > st.forced_cycles,
	      "allocation triggered collections: %llu of %llu",
	      (unsigned long long)(st.cycles - st.forced_cycles),
	      (unsigned long long)st.cycles);
	/* round 2: the main thread, which does not allocate, also collects */
	for (long i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, mutator, (void *)(i + 11));
	for (int i = 0; i < NTHREADS; i++) {
		while (pthread_tryjoin_np(th[i], NULL) == EBUSY) {
			gch_gc(h);
			forced++;
			usleep(2000);
		}
	}
	CHECK(write(pfd[1], "x", 1) == 1, "wake reader");
	pthread_join(rd, NULL);
	CHECK(atomic_load(&failures) == 0, "%d corrupt objects",
	      atomic_load(&failures));
	gch_gc_stats(h, &st);
	printf("# %llu cycles (%d forced by main), pause total %.1f ms max "
	       "%.2f ms, %llu objects freed\n", (unsigned long long)st.cycles,
	       forced, st.pause_total_ns / 1e6, st.pause_max_ns / 1e6,
	       (unsigned long long)st.free_objects);
	CHECK(st.forced_cycles >= (uint64_t)forced, "forced cycles counted");
	/* drop everything: the heap must give its spans back */
	memset(shared, 0, NSHARED * sizeof(*shared));
	gch_gc(h);
	gch_gc(h);
	gch_gc_stats(h, &st);
	CHECK(st.heap_live_bytes < (1u << 20), "live heap after drop: %llu",
	      (unsigned long long)st.heap_live_bytes);
	gch_remove_roots(shared, NSHARED * sizeof(*shared));
	free(shared);
	CHECK(gch_close(h) == 0, "close: %s", strerror(errno));
	return gct_summary();
}

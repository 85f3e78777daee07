// SPDX-License-Identifier: MIT
/*
 * markbench - how fast a full collection marks: a binary tree of 16-byte
 * nodes (binary-trees' shape) rooted in one global, collected REPS times
 * with nothing else in the heap; prints the best collection's time per
 * node.  Two layouts: "preorder" (nodes allocated in the order a recursive
 * build visits them, as most programs build trees and lists) and "shuffled"
 * (every node linked to children allocated anywhere in the heap: each
 * pointer followed is a cache miss).
 *
 *   markbench_gcheap [DEPTH [REPS [preorder|shuffled]]]
 *   GCHEAP_GCMODE=stw GCHEAP_MARKERS=1   one marker, the world stopped
 *   markbench_bdwgc ...   GC_MARKERS=1   the same tree on bdwgc
 *   MARKBENCH_ARENAS=n    gcheap reserves n 64 MiB arenas, not the
 *                         default 64 GiB of address space, which
 *                         valgrind cannot map (markbench-cg, Makefile)
 *
 * The collection includes what each collector does besides marking (roots,
 * the stop and, for bdwgc, its start of the lazy sweep); with a 64 MiB tree
 * marking is nearly all of it.  Compare variants of one run only.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef USE_GCHEAP
#include <gcheap.h>
static gch_heap *heap;
#define ALLOC(n)	gch_malloc(heap, n)
#define COLLECT()	gch_gc(heap)
#define NAME		"gcheap"
#else
#include <gc.h>
#define ALLOC(n)	GC_MALLOC(n)
#define COLLECT()	GC_gcollect()
#define NAME		"bdwgc"
#endif

struct node {
	struct node *l, *r;
};

static struct node *root;
static struct node **order;	/* while building the shuffled tree */

static struct node *build(int d)
{
	struct node *n = ALLOC(sizeof(*n));

	if (n && d > 0) {
		n->l = build(d - 1);
		n->r = build(d - 1);
	}
	return n;
}

/*
 * Node i's children are 2i+1 and 2i+2 of a random order of the nodes.  The
 * order is a heap object reached from a global, so that collections while
 * building keep every node.
 */
static struct node *build_shuffled(long nodes)
{
	struct node **v = ALLOC(nodes * sizeof(*v));
	struct node *r;

	if (!v)
		return NULL;
	order = v;
	for (long i = 0; i < nodes; i++)
		v[i] = ALLOC(sizeof(struct node));
	srand(1);
	for (long i = nodes - 1; i > 0; i--) {
		long j = (long)(((unsigned long)rand() << 16 ^ rand()) %
				(unsigned long)(i + 1));
		struct node *t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
	for (long i = 0; i < nodes; i++) {
		v[i]->l = 2 * i + 1 < nodes ? v[2 * i + 1] : NULL;
		v[i]->r = 2 * i + 2 < nodes ? v[2 * i + 2] : NULL;
	}
	r = v[0];
	order = NULL;	/* garbage from here: the tree's only root is root */
	memset(v, 0, nodes * sizeof(*v));
	return r;
}

/* Nodes still in the tree, after the collections: a lost one breaks it. */
static long count(const struct node *n)
{
	long c = 0;

	while (n) {
		c += 1 + count(n->l);
		n = n->r;
	}
	return c;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	int depth = argc > 1 ? atoi(argv[1]) : 21;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	const char *layout = argc > 3 ? argv[3] : "preorder";
	long nodes = (2L << depth) - 1;
	double best = 1e30;

	if (depth < 1 || depth > 26 || reps < 1 ||
	    (strcmp(layout, "preorder") && strcmp(layout, "shuffled"))) {
		fprintf(stderr, "usage: %s [DEPTH 1..26 [REPS [preorder|shuffled]]]\n",
			argv[0]);
		return 2;
	}
#ifdef USE_GCHEAP
	struct gch_options o = { .size = sizeof(o) };
	const char *arenas = getenv("MARKBENCH_ARENAS");

	if (arenas)
		o.max_arenas = (uint32_t)atoi(arenas);
	heap = gch_open(&o);
	if (!heap || gch_add_roots(&root, sizeof(root), NULL) ||
	    gch_add_roots(&order, sizeof(order), NULL)) {
		perror("gcheap");
		return 1;
	}
#else
	GC_INIT();
#endif
	root = strcmp(layout, "shuffled") ? build(depth) :
					    build_shuffled(nodes);
	if (!root) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	COLLECT();	/* the first one also sweeps what building left */
	for (int i = 0; i < reps; i++) {
		double t0 = now(), t;

		COLLECT();
		t = now() - t0;
		if (t < best)
			best = t;
	}
	/* a node freed by mistake is handed out again, and cleared */
	for (long i = 0; i < nodes; i++)
		if (!ALLOC(sizeof(struct node)))
			break;
	if (count(root) != nodes) {
		fprintf(stderr, "the tree lost nodes: %ld of %ld\n",
			count(root), nodes);
		return 1;
	}
	printf("bench=markbench alloc=%s layout=%s depth=%d nodes=%ld "
	       "best_ms=%.2f ns_per_node=%.2f\n", NAME, layout, depth, nodes,
	       best * 1e3, best * 1e9 / (double)nodes);
	return 0;
}

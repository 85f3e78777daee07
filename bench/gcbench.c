// SPDX-License-Identifier: MIT
/*
 * gcbench - the Ellis/Kovac/Boehm GCBench shape: a stretch tree of depth
 * 18; a long-lived tree of depth 16 and a long-lived array of 500000
 * doubles (pointer-free); then, for depths 4..16 step 2, as many trees as
 * make 2 * size(stretch tree) nodes, built top-down (Populate) and then
 * bottom-up (MakeTree).  Nodes are 4 words: left, right, i, j.
 * Collected allocators drop trees; the others free them explicitly.
 */
#include "gcbench_alloc.h"

#define STRETCH_DEPTH	18
#define LONG_DEPTH	16
#define ARRAY_SIZE	500000
#define MIN_DEPTH	4
#define MAX_DEPTH	16

struct node {
	struct node *left, *right;
	long i, j;
};

static struct node *new_node(struct node *l, struct node *r)
{
	struct node *n = ALLOC(sizeof(*n));

	n->left = l;
	n->right = r;
	n->i = n->j = 0;
	return n;
}

static long tree_size(int i)
{
	return (1L << (i + 1)) - 1;
}

static long num_iters(int i)
{
	return 2 * tree_size(STRETCH_DEPTH) / tree_size(i);
}

static void populate(int depth, struct node *n)
{
	if (depth <= 0)
		return;
	n->left = new_node(NULL, NULL);
	n->right = new_node(NULL, NULL);
	populate(depth - 1, n->left);
	populate(depth - 1, n->right);
}

static struct node *make_tree(int depth)
{
	if (depth <= 0)
		return new_node(NULL, NULL);
	return new_node(make_tree(depth - 1), make_tree(depth - 1));
}

static long count(const struct node *n)
{
	return n ? 1 + count(n->left) + count(n->right) : 0;
}

static void free_tree(struct node *n)
{
	if (!EXPLICIT_FREE || !n)
		return;
	free_tree(n->left);
	free_tree(n->right);
	FREE(n);
}

static void time_construction(int depth)
{
	long iters = num_iters(depth);

	for (long i = 0; i < iters; i++) {
		struct node *t = new_node(NULL, NULL);

		populate(depth, t);
		free_tree(t);
	}
	for (long i = 0; i < iters; i++)
		free_tree(make_tree(depth));
}

int main(void)
{
	struct node *longlived;
	double *array;

	bench_start();
	free_tree(make_tree(STRETCH_DEPTH));
	longlived = new_node(NULL, NULL);
	populate(LONG_DEPTH, longlived);
	array = ALLOC_NOSCAN(ARRAY_SIZE * sizeof(double));
	for (int i = 0; i < ARRAY_SIZE / 2; i++)
		array[i] = 1.0 / i;
	for (int d = MIN_DEPTH; d <= MAX_DEPTH; d += 2)
		time_construction(d);
	/* walk the long-lived tree: it must be intact (and so stays live) */
	if (count(longlived) != tree_size(LONG_DEPTH) ||
	    array[1000] != 1.0 / 1000) {
		fprintf(stderr, "gcbench: long-lived data lost\n");
		return 1;
	}
	free_tree(longlived);
	FREE(array);
	bench_report("gcbench", "");
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * binarytrees - the Computer Language Benchmarks Game's binary-trees,
 * single-threaded: a stretch tree of depth max+1, a long-lived tree of
 * depth max, then 2^(max - d + 4) trees of each depth d = 4, 6, .., max,
 * each built bottom-up and checked.  Default depth 21 (as in the issue).
 * Collected allocators drop trees; the others free them explicitly.
 */
#include "gcbench_alloc.h"

struct node {
	struct node *left, *right;
};

static struct node *bottom_up(int depth)
{
	struct node *n = ALLOC(sizeof(*n));

	if (depth > 0) {
		n->left = bottom_up(depth - 1);
		n->right = bottom_up(depth - 1);
	} else {
		n->left = n->right = NULL;
	}
	return n;
}

static long check(const struct node *n)
{
	return n->left ? 1 + check(n->left) + check(n->right) : 1;
}

static void free_tree(struct node *n)
{
	if (!EXPLICIT_FREE)
		return;
	if (n->left) {
		free_tree(n->left);
		free_tree(n->right);
	}
	FREE(n);
}

int main(int argc, char **argv)
{
	int max = argc > 1 ? atoi(argv[1]) : 21, min = 4;
	struct node *stretch, *longlived;
	long total = 0;
	char extra[64];

	bench_start();
	stretch = bottom_up(max + 1);
	printf("stretch tree of depth %d\t check: %ld\n", max + 1, check(stretch));
	free_tree(stretch);
	longlived = bottom_up(max);
	for (int d = min; d <= max; d += 2) {
		long iters = 1L << (max - d + min), c = 0;

		for (long i = 0; i < iters; i++) {
			struct node *t = bottom_up(d);

			c += check(t);
			free_tree(t);
		}
		total += c;
		printf("%ld\t trees of depth %d\t check: %ld\n", iters, d, c);
	}
	printf("long lived tree of depth %d\t check: %ld\n", max, check(longlived));
	free_tree(longlived);
	snprintf(extra, sizeof(extra), "depth=%d check=%ld", max, total);
	bench_report("binarytrees", extra);
	return 0;
}

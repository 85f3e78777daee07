// SPDX-License-Identifier: MIT
/*
 * hello - a program written the way a user of the installed library writes
 * one: <gcheap.h> and <linux/gcheap.h> from the include directory and the
 * flags from `pkg-config --cflags --libs gcheap`, nothing from the source
 * tree.  tests/install/install-run builds it against a staged `make install`, links
 * it dynamically and statically, runs both on the host (in-process backend)
 * and in the VM on the DKMS-built module (kernel backend).
 *
 * It builds a linked list, unlinks every other node (with the write barrier
 * where the header has one: HELLO_BARRIER), collects, and checks that the
 * list is intact and that the unlinked nodes were freed.  The backend it
 * expects: GCHEAP_BACKEND if set, else "kernel" when /dev/gcheap exists.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gcheap.h>
#include <linux/gcheap.h>

#define NODES 20000

struct node {
	struct node *next;
	uint64_t val;
};

static int passed, failed;

static void check(int ok, const char *what)
{
	printf("%sok %d - %s\n", ok ? "" : "not ", passed + failed + 1, what);
	if (ok)
		passed++;
	else
		failed++;
}

/* Wipe the stack below the caller, so stale copies of pointers there do not
 * keep unlinked nodes alive (the stack is scanned conservatively). */
static __attribute__((noinline)) void clear_stack(void)
{
	volatile char buf[16384];

	memset((char *)buf, 0, sizeof(buf));
}

static __attribute__((noinline)) struct node *build(gch_heap *h)
{
	struct node *head = NULL;

	for (uint64_t i = 0; i < NODES; i++) {
		struct node *n = gch_malloc(h, sizeof(*n));

		if (!n)
			return NULL;
		n->val = i;
		n->next = head;		/* initialising store: no barrier */
		head = n;
	}
	return head;
}

/* Unlink every other node: stores over heap pointers, so barriered. */
static __attribute__((noinline)) void unlink_odd(struct node *head)
{
	for (struct node *p = head; p && p->next; p = p->next) {
#ifdef HELLO_BARRIER
		gch_store((void **)&p->next, p->next->next);
#else
		p->next = p->next->next;
#endif
	}
}

int main(void)
{
	const char *want = getenv("GCHEAP_BACKEND");
	struct gch_gc_stats before, after;
	char what[128];
	struct node *head;
	uint64_t count = 0, sum = 0;
	gch_heap *h;

	if (!want)
		want = access("/dev/gcheap", F_OK) == 0 ? "kernel" : "host";
	printf("# hello: uAPI %d, expecting the %s backend\n", GCH_ABI_VERSION, want);

	h = gch_open(NULL);
	if (!h) {
		printf("# gch_open: %s\n", strerror(errno));
		check(0, "gch_open");
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	check(1, "gch_open");
	snprintf(what, sizeof(what), "backend is %s (got %s)", want, gch_backend_name(h));
	check(strcmp(gch_backend_name(h), want) == 0, what);

	head = build(h);
	check(head != NULL, "20000 nodes allocated");
	unlink_odd(head);
	clear_stack();
	gch_gc_stats(h, &before);
	/* the second cycle sweeps what the first found dead */
	check(gch_gc(h) == 0 && gch_gc(h) == 0, "gch_gc");
	gch_gc_stats(h, &after);

	for (struct node *p = head; p; p = p->next) {
		count++;
		sum += p->val;
	}
	/* the head is NODES - 1: the odd values NODES - 1, ..., 3, 1 remain */
	check(count == NODES / 2 && sum == (uint64_t)(NODES / 2) * (NODES / 2),
	      "the list survived the collections intact");
	snprintf(what, sizeof(what), "unlinked nodes freed (%llu of %d)",
		 (unsigned long long)(after.free_objects - before.free_objects), NODES / 2);
	check(after.free_objects - before.free_objects >= NODES / 4, what);
	check(after.cycles >= before.cycles + 2, "cycles counted");

	check(gch_close(h) == 0, "gch_close");
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

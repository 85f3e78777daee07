// SPDX-License-Identifier: MIT
/*
 * gc_verify_test - GCHEAP_GCVERIFY=1 catches a program that skips the
 * write barrier, and passes one that does not.
 *
 * Two child processes run the same mutators under GCHEAP_GCVERIFY=1 while
 * a thread forces cycles: each mutator moves objects between the cells of
 * a table in the heap.  One child moves them with gch_store(), the other
 * with plain stores.  The plain one leaves an object white that a marked
 * cell points at; the verifier's re-scan of the marked objects finds it,
 * reports it and aborts.  The child that uses the barrier must run to the
 * end with every cycle verified.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcheap.h"
#include "gc_test.h"

#define NTHREADS	2
#define NCELLS		128

static gch_heap *h;
static bool use_barrier;
static atomic_int stop;
static atomic_ulong cycles_done;

/*
 * Move items between cells: read the item of cell i, store it into the
 * empty cell j, clear cell i.  Done with plain stores while a cycle marks,
 * an item whose new cell was scanned before the move and whose old cell
 * after it is never marked, though cell j points at it.
 */
static void *mutator(void *arg)
{
	void ***cells = gch_malloc(h, NCELLS * sizeof(*cells));
	uint64_t rng = (uintptr_t)arg * 7919 + 1;
	unsigned empty = 0;

	for (unsigned i = 0; i < NCELLS; i++) {
		cells[i] = gch_malloc(h, sizeof(void *));
		if (i)
			cells[i][0] = gch_malloc(h, 64);
	}
	while (!atomic_load(&stop)) {
		unsigned i;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		i = (unsigned)(rng >> 33) % NCELLS;
		if (i == empty)
			continue;
		if (use_barrier) {
			gch_store(&cells[empty][0], cells[i][0]);
			gch_store(&cells[i][0], NULL);
		} else {
			cells[empty][0] = cells[i][0];	/* the bug under test */
			cells[i][0] = NULL;
		}
		empty = i;
		for (int k = 0; k < 8; k++)
			gch_malloc(h, 64);	/* keep cycles coming */
	}
	return NULL;
}

static void *collector(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		gch_gc(h);
		atomic_fetch_add(&cycles_done, 1);
	}
	return NULL;
}

/* The child: mutate for @secs seconds; exit 0 if the verifier let it. */
static void child(bool barrier, unsigned secs)
{
	pthread_t th[NTHREADS + 1];

	setenv("GCHEAP_GCVERIFY", "1", 1);
	setenv("GCHEAP_GCMODE", "concurrent", 1);
	use_barrier = barrier;
	h = gch_open(NULL);
	if (!h)
		_exit(3);
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, mutator, (void *)i);
	pthread_create(&th[NTHREADS], NULL, collector, NULL);
	sleep(secs);
	atomic_store(&stop, 1);
	for (int i = 0; i <= NTHREADS; i++)
		pthread_join(th[i], NULL);
	_exit(atomic_load(&cycles_done) > 10 ? 0 : 4);
}

static int run_child(bool barrier, unsigned secs)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0)
		child(barrier, secs);
	waitpid(pid, &status, 0);
	return status;
}

int main(void)
{
	int st = run_child(true, 3);

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "with gch_store every cycle verifies (status %#x)", st);
	st = run_child(false, 20);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
	      "a plain store is caught: the child aborts (status %#x)", st);
	return gct_summary();
}

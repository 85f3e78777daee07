// SPDX-License-Identifier: MIT
/*
 * gc_signal_test - allocation survives the program's own signal handlers
 * while cycles stop the world.
 *
 * A stop of the world must never park a thread between its fast path's
 * load of its span window and its store of the new free bits: the
 * collector takes the span from the thread's cache while it is stopped,
 * and the late store would hand a slot that another thread or the sweeper
 * owns.  The suspend handler knows a thread is inside that window only
 * from the thread's own state (gc_tls.in_fast, alloc.c), never from the
 * address it interrupted: when a program's handler has interrupted the
 * fast path and the stop lands inside that handler, the interrupted
 * address is in the program handler's frame, out of the suspend handler's
 * sight.  (A restartable sequence that the suspend handler rewinds by
 * address, tried in dfb20ab, fails this test.)
 *
 * Three mutator threads build short chains of small objects, each word
 * holding a value derived from its chain's id, and check every chain they
 * replace; a timer of each mutator's own (timer_create, SIGEV_THREAD_ID,
 * every 50 us) interrupts it with SIGPROF, and the handler -- installed
 * with an empty sa_mask, as most programs' are -- spins for about 20 us,
 * so that many stops land inside it.  A fourth thread collects back to
 * back.
 * A slot handed out twice shows as a chain whose words another chain
 * overwrote.
 *
 * Usage: gc_signal_test [seconds]   (default 3)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gcheap.h"
#include "gc_test.h"

#define NTHREADS	3
#define NCHAINS		512
#define CHAIN_LEN	8

struct node {
	uint64_t id, check;
	struct node *next;
	uint64_t pad;		/* 32 B: a class the churn shares */
};

static gch_heap *h;
static atomic_int stop;
static atomic_ulong corrupt, replaced, handled;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* The program's handler: busy for a while, allocating nothing. */
static void on_prof(int sig)
{
	struct timespec t0, t;

	(void)sig;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000L +
	       (t.tv_nsec - t0.tv_nsec) < 20000);
	atomic_fetch_add_explicit(&handled, 1, memory_order_relaxed);
}

static struct node *chain(uint64_t id)
{
	struct node *head = NULL;

	for (unsigned i = 0; i < CHAIN_LEN; i++) {
		struct node *n = gch_malloc(h, sizeof(*n));

		if (!n)
			return head;
		n->id = id;
		n->check = mix(id + i);
		n->next = head;		/* initialising stores */
		n->pad = ~id;
		head = n;
	}
	return head;
}

static bool chain_ok(const struct node *n, uint64_t id)
{
	for (unsigned i = CHAIN_LEN; i-- > 0; n = n->next)
		if (!n || n->id != id || n->check != mix(id + i) ||
		    n->pad != ~id)
			return false;
	return n == NULL;
}

/* A timer that signals this thread every 50 us; false if refused. */
static bool own_timer(timer_t *t)
{
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID,
			       .sigev_signo = SIGPROF };
	struct itimerspec its = { { 0, 50000 }, { 0, 50000 } };

	ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &ev, t))
		return false;
	if (timer_settime(*t, 0, &its, NULL)) {
		timer_delete(*t);
		return false;
	}
	return true;
}

static atomic_ulong timers;

static void *mutator(void *arg)
{
	struct node **chains = gch_malloc(h, NCHAINS * sizeof(*chains));
	uint64_t ids[NCHAINS], next_id = (uint64_t)(uintptr_t)arg << 48;
	uint64_t rng = mix((uintptr_t)arg + 7);
	bool timed;
	timer_t t;

	if (!chains)
		return NULL;
	timed = own_timer(&t);
	atomic_fetch_add(&timers, timed);
	for (unsigned i = 0; i < NCHAINS; i++) {
		ids[i] = next_id++;
		gch_store((void **)&chains[i], chain(ids[i]));
	}
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned i = (unsigned)(rng % NCHAINS);

		rng = mix(rng);
		if (!chain_ok(chains[i], ids[i]))
			atomic_fetch_add(&corrupt, 1);
		ids[i] = next_id++;
		gch_store((void **)&chains[i], chain(ids[i]));
		/* garbage of the same class, written over */
		for (unsigned k = 0; k < 4; k++) {
			uint64_t *g = gch_malloc(h, sizeof(struct node));

			if (g)
				memset(g, 0x5a, sizeof(struct node));
		}
		atomic_fetch_add_explicit(&replaced, 1, memory_order_relaxed);
	}
	if (timed)
		timer_delete(t);
	for (unsigned i = 0; i < NCHAINS; i++)
		if (!chain_ok(chains[i], ids[i]))
			atomic_fetch_add(&corrupt, 1);
	return NULL;
}

static void *collector(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		gch_gc(h);
	return NULL;
}

/* 20 cycles and 1000 handler runs beside the mutators */
static bool enough_seen(void)
{
	struct gch_gc_stats st;

	return gch_gc_stats(h, &st) ||
	       (st.cycles >= 20 && atomic_load(&handled) >= 1000);
}

int main(int argc, char **argv)
{
	struct gch_options o = { .size = sizeof(o), .gc_percent = 25 };
	int seconds = argc > 1 ? atoi(argv[1]) : 3;
	struct sigaction sa;
	pthread_t th[NTHREADS + 1];
	struct gch_gc_stats st;

	h = gch_open(&o);
	CHECK(h != NULL, "gch_open");
	if (!h)
		return gct_summary();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prof;
	sigemptyset(&sa.sa_mask);	/* SIGPWR not blocked: the hazard */
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGPROF, &sa, NULL) == 0, "sigaction");
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, mutator, (void *)(i + 1));
	pthread_create(&th[NTHREADS], NULL, collector, NULL);
	/* a debug kernel under TCG gives 3 s about 23 cycles */
	gct_run_until(seconds, enough_seen);
	atomic_store(&stop, 1);
	for (int i = 0; i <= NTHREADS; i++)
		pthread_join(th[i], NULL);
	CHECK(gch_gc_stats(h, &st) == 0, "stats");
	printf("# %lu chains replaced, %llu cycles, %lu handler runs\n",
	       atomic_load(&replaced), (unsigned long long)st.cycles,
	       atomic_load(&handled));
	CHECK(st.cycles >= 20, "cycles: %llu", (unsigned long long)st.cycles);
	CHECK(atomic_load(&timers) == NTHREADS, "%lu timers of %d",
	      atomic_load(&timers), NTHREADS);
	CHECK(atomic_load(&handled) >= 1000, "handler ran %lu times",
	      atomic_load(&handled));
	CHECK(atomic_load(&corrupt) == 0, "%lu chains overwritten",
	      atomic_load(&corrupt));
	CHECK(gch_close(h) == 0, "close");
	return gct_summary();
}

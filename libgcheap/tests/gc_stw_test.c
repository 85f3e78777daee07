// SPDX-License-Identifier: MIT
/*
 * gc_stw - stopping the world, without the allocator.
 *
 * Threads in the states the collector must cope with: a tight loop holding
 * a value only in a register, a read() blocked on a pipe holding it on the
 * stack, a nanosleep() loop, a thread that keeps entering "allocator"
 * sections (nopreempt) and threads that attach, run and exit attached.
 * The main thread stops and restarts the world many times; each time every
 * parked thread's secret must be found by the conservative stack and
 * register walk, no thread may be parked inside a nopreempt section, and
 * the blocked read() must complete normally afterwards (SA_RESTART).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gc_internal.h"
#include "gc_test.h"

#define NSECRETS	5
static uintptr_t key;
static _Atomic int stop_all;
static _Atomic unsigned long loop_progress;
static volatile int in_section;
static _Atomic int ready;
static int pipefd[2];
static _Atomic long read_result = -2;
static _Atomic unsigned long churn_threads;

static void *loop_thread(void *arg)
{
	(void)arg;
	gc_thread_register();
	register uintptr_t secret __asm__("r12") = key ^ 1;
	atomic_fetch_add(&ready, 1);
	while (!atomic_load_explicit(&stop_all, memory_order_relaxed)) {
		__asm__ volatile("" : "+r"(secret));
		atomic_fetch_add_explicit(&loop_progress, 1,
					  memory_order_relaxed);
#ifdef __SANITIZE_THREAD__
		/* ThreadSanitizer delivers asynchronous signals only when the
		 * thread enters an intercepted function: give it one. */
		sched_yield();
#endif
	}
	__asm__ volatile("" : : "r"(secret));
	return NULL;
}

static void *reader_thread(void *arg)
{
	volatile uintptr_t secret = key ^ 2;
	char c;
	ssize_t n;

	(void)arg;
	gc_thread_register();
	atomic_fetch_add(&ready, 1);
#ifdef __SANITIZE_THREAD__
	/* ThreadSanitizer defers signals to a thread blocked in read() until
	 * the call returns, so it could never be stopped there: poll instead
	 * (the blocked case is covered by the native and ASan builds). */
	while ((n = read(pipefd[0], &c, 1)) < 0 && errno == EAGAIN)
		usleep(100);
#else
	n = read(pipefd[0], &c, 1);
#endif
	atomic_store(&read_result, n < 0 ? -errno : n);
	(void)secret;
	return NULL;
}

static void *sleeper_thread(void *arg)
{
	volatile uintptr_t secret = key ^ 3;
	struct timespec ts = { 0, 100000 };

	(void)arg;
	gc_thread_register();
	atomic_fetch_add(&ready, 1);
	while (!atomic_load(&stop_all))
		nanosleep(&ts, NULL);	/* EINTR is fine */
	(void)secret;
	return NULL;
}

static void *section_thread(void *arg)
{
	volatile uintptr_t secret = key ^ 4;

	(void)arg;
	gc_thread_register();
	atomic_fetch_add(&ready, 1);
	while (!atomic_load(&stop_all)) {
		gc_nopreempt_enter();
		in_section = 1;
		for (volatile int i = 0; i < 20000; i++)
			;
		in_section = 0;
		gc_nopreempt_exit();
	}
	(void)secret;
	return NULL;
}

static void *short_thread(void *arg)
{
	(void)arg;
	gc_thread_register();
	for (volatile int i = 0; i < 1000; i++)
		;
	atomic_fetch_add(&churn_threads, 1);
	return NULL;	/* exits attached: the destructor must clean up */
}

static void *churn_thread(void *arg)
{
	volatile uintptr_t secret = key ^ 5;

	(void)arg;
	gc_thread_register();
	atomic_fetch_add(&ready, 1);
	while (!atomic_load(&stop_all)) {
		pthread_t t;

		if (pthread_create(&t, NULL, short_thread, NULL) == 0)
			pthread_join(t, NULL);
	}
	(void)secret;
	return NULL;
}

static GC_NO_SANITIZE void find_secrets(uintptr_t lo, uintptr_t hi,
					const uint64_t *ptrmap, void *arg)
{
	int *found = arg;

	(void)ptrmap;
	for (uintptr_t p = lo; p < hi; p += sizeof(uintptr_t)) {
		uintptr_t v = *(uintptr_t *)p ^ key;

		if (v >= 1 && v <= NSECRETS)
			found[v] = 1;
	}
}

int main(int argc, char **argv)
{
	void *(*fns[NSECRETS])(void *) = { loop_thread, reader_thread,
		sleeper_thread, section_thread, churn_thread };
	pthread_t th[NSECRETS];
	int rounds = argc > 1 ? atoi(argv[1]) : 2000;
	unsigned long progressed = 0, last = 0;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	key = ((uintptr_t)t0.tv_nsec << 20) ^ 0x5a5a5a5a00000000ULL ^ getpid();
	CHECK(pipe(pipefd) == 0, "pipe");
#ifdef __SANITIZE_THREAD__
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
#endif
	CHECK(gc_thread_register() == 0, "register main");
	CHECK(gc_thread_register() == 0, "register twice is a no-op");
	for (int i = 0; i < NSECRETS; i++)
		pthread_create(&th[i], NULL, fns[i], NULL);
	while (atomic_load(&ready) < NSECRETS)
		usleep(1000);
	usleep(20000);	/* let the reader block in read() */

	for (int r = 0; r < rounds; r++) {
		int found[NSECRETS + 1] = { 0 };
		unsigned stopped = gc_stop_world();

		CHECK_QUIET(stopped >= NSECRETS, "round %d stopped %u", r,
			    stopped);
		CHECK_QUIET(!in_section, "round %d: parked inside a section",
			    r);
		gc_roots_for_each_stack(find_secrets, found);
		for (int i = 1; i <= NSECRETS; i++)
			CHECK_QUIET(found[i], "round %d: secret %d not found",
				    r, i);
		gc_start_world();
		if (atomic_load(&loop_progress) != last)
			progressed++;
		last = atomic_load(&loop_progress);
		if (r % 16 == 0)
			usleep(100);
	}
	gct_pass++;
	CHECK(progressed > (unsigned long)rounds / 100,
	      "tight loop ran between stops (%lu of %d)", progressed, rounds);
	CHECK(atomic_load(&read_result) == -2,
	      "read() still blocked, not failed with EINTR (%ld)",
	      atomic_load(&read_result));
	CHECK(write(pipefd[1], "x", 1) == 1, "write");
	atomic_store(&stop_all, 1);
	for (int i = 0; i < NSECRETS; i++)
		pthread_join(th[i], NULL);
	CHECK(atomic_load(&read_result) == 1, "read() completed: %ld",
	      atomic_load(&read_result));
	CHECK(atomic_load(&churn_threads) > 0, "short threads ran");
	CHECK(gc_thread_count() == 1, "exited threads unregistered: %u",
	      gc_thread_count());
	gc_thread_unregister();
	CHECK(gc_thread_count() == 0, "main unregistered");
	printf("stw: %d rounds, %lu short-lived threads\n", rounds,
	       atomic_load(&churn_threads));
	return gct_summary();
}

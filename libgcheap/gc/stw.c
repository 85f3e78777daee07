// SPDX-License-Identifier: MIT
/*
 * stw.c - the registry of attached threads and stopping the world.
 *
 * Every thread that allocates from or holds pointers into the heap is
 * attached: it has a struct gc_thread in the registry with its stack bounds.
 * To collect, the collector stops every other attached thread.
 *
 * Why signals (as bdwgc does on Linux) and not cooperative safepoints:
 * a thread that never calls into the library (a tight loop over heap data,
 * a read() blocked for an hour) would never reach a safepoint and would stall
 * the collector forever.  A signal is delivered whatever the thread is doing:
 * in user code the handler runs at the next instruction; in a blocking
 * system call the kernel interrupts it, runs the handler and then restarts
 * it (SA_RESTART) or returns EINTR (calls that never restart: nanosleep,
 * poll, epoll_wait...; programs must already handle EINTR).
 *
 * Protocol.  stw_gen is odd while the world is stopped.  The collector bumps
 * it to odd and sends GC_SIG_SUSPEND to every other attached thread.  The
 * handler, running on the thread's own stack, stores the interrupted
 * registers (from the ucontext the kernel pushed) into the thread record,
 * records its stack pointer, publishes parked_gen = gen (release) and posts
 * the ack semaphore (sem_post is async-signal-safe).  It then waits in
 * sigsuspend() with everything but GC_SIG_RESTART blocked until stw_gen
 * changes.  GC_SIG_RESTART is blocked for the whole handler (sa_mask), so a
 * restart sent between the gen check and sigsuspend() stays pending and ends
 * the sigsuspend() at once: no lost wakeup.  A parked thread's stack from
 * saved_sp up, and its saved registers, are then scanned conservatively.
 *
 * Safe points.  A thread interrupted inside the allocator may be half-way
 * through updating its cache or may hold a central lock the collector needs.
 * The allocator therefore runs with gc_tls.nopreempt set (its fast path
 * with gc_tls.in_fast, the same without a counter); the handler then
 * returns at once without parking, leaving pending.b.preempt set, and the
 * thread parks itself when it leaves the section (gc_nopreempt_exit); the
 * collector also re-sends the signal after a growing delay, in case a
 * section was left without the check (Go's asynchronous preemption retries
 * the same way when the interrupted PC is not at a safe point).  Code
 * running with nopreempt set must never wait for the collector (gc_lock).
 *
 * Blocked threads.  A thread waiting for one of the library's locks or
 * conditions (gc_lock, a cycle's end, the finalizer or root lock, the
 * registry) does so through gc_lock_blocking() / gc_cond_wait_blocking():
 * it spills its callee-saved registers into its frame, records the stack
 * pointer above which its program frames lie (collect_sp, kept if the
 * collector already set it), and publishes blocked = GC_BLOCKED.  The
 * stopper takes such a thread as parked by moving it to
 * GC_BLOCKED_STOPPED with a compare-and-swap, without a signal; the thread
 * returns to GC_RUNNING only by the opposite swap, which fails -- and it
 * waits -- while the world is stopped.  Every lock it can be waiting for
 * is held by the stopper across the stop, so it rarely has to.  This
 * spares a signal round trip per waiting thread, and makes the stop work
 * where signals cannot reach a blocked thread (ThreadSanitizer holds them
 * back inside pthread_mutex_lock() until it returns).
 *
 * Thread exit: a thread-specific key's destructor unregisters a thread that
 * exits while attached, so the collector never signals a dead thread or
 * scans a freed stack.
 *
 * Locking: stw.lock protects the registry list and each record's links
 * and stack bounds.  The collector holds it from gc_stop_world() to
 * gc_start_world(), so threads cannot attach or detach while the world is
 * stopped; a thread trying to is simply parked while waiting for the lock.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "internal.h"
#include "gc_internal.h"

#ifndef GC_SIG_SUSPEND
#define GC_SIG_SUSPEND	SIGPWR
#endif
#ifndef GC_SIG_RESTART
#define GC_SIG_RESTART	SIGXCPU
#endif

/* Retry interval for threads that did not park yet (inside the allocator). */
#define STW_RETRY_NS_MIN	50000L		/* 50 us */
#define STW_RETRY_NS_MAX	2000000L	/* 2 ms */
#define STW_WARN_NS		5000000000LL	/* complain after 5 s */

__thread struct gc_tls gc_tls __attribute__((tls_model("initial-exec")));

static struct {
	pthread_mutex_t lock;
	struct gc_thread *head;		/* under lock */
	unsigned count;			/* under lock */
	sem_t ack;
	pthread_key_t exit_key;
	pthread_once_t once;
	int init_err;
	bool locked_by_stop;		/* lock held from stop to start */
} stw = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.once = PTHREAD_ONCE_INIT,
};

/* Odd while the world is stopped (or being stopped). */
static _Atomic unsigned stw_gen;

static void suspend_handler(int sig, siginfo_t *si, void *uctx_v)
{
	int saved_errno = errno;
	struct gc_thread *t = gc_tls.self;
	unsigned gen = atomic_load_explicit(&stw_gen, memory_order_acquire);
	ucontext_t *uc = uctx_v;
	sigset_t wait_mask;
	volatile uintptr_t here = 0;

	(void)sig;
	(void)si;
	/* Not ours, world running, or already parked for this stop. */
	if (!t || !(gen & 1) ||
	    atomic_load_explicit(&t->parked_gen, memory_order_relaxed) == gen) {
		errno = saved_errno;
		return;
	}
	if (gc_tls.nopreempt || gc_tls.in_fast) {
		/* Not at a safe point: park on leaving the section. */
		gc_tls.pending.b.preempt = 1;
		errno = saved_errno;
		return;
	}
	gc_tls.pending.b.preempt = 0;
	/* half-way through a gch_store() fast path: redo it on resuming */
	gc_barrier_rewind(uc);
	_Static_assert(NGREG <= GC_NSAVED_REGS, "saved register area too small");
	memcpy(t->regs, uc->uc_mcontext.gregs, sizeof(uc->uc_mcontext.gregs));
	t->saved_sp = (uintptr_t)&here;
	atomic_store_explicit(&t->parked_gen, gen, memory_order_release);
	sem_post(&stw.ack);

	sigfillset(&wait_mask);
	sigdelset(&wait_mask, GC_SIG_RESTART);
	/* Let fatal signals through: a crash while parked must still kill us. */
	sigdelset(&wait_mask, SIGSEGV);
	sigdelset(&wait_mask, SIGBUS);
	sigdelset(&wait_mask, SIGILL);
	sigdelset(&wait_mask, SIGFPE);
	sigdelset(&wait_mask, SIGKILL);
	sigdelset(&wait_mask, SIGSTOP);
	while (atomic_load_explicit(&stw_gen, memory_order_acquire) == gen)
		sigsuspend(&wait_mask);
	errno = saved_errno;
}

/*
 * Start one of the library's own threads (marker, sweeper, finalizer):
 * detached, and with every signal blocked, so that it never takes the
 * program's signals nor the collector's (it is not stopped; the finalizer
 * thread unblocks the two it needs when it attaches).  0 or an errno.
 */
int gc_spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return err;
}

enum { GC_RUNNING, GC_BLOCKED, GC_BLOCKED_STOPPED };

/* Back from a blocking wait: leave it only while the world runs. */
static void unblock(struct gc_thread *t)
{
	unsigned expect = GC_BLOCKED;

	while (!atomic_compare_exchange_weak_explicit(&t->blocked, &expect,
						      GC_RUNNING,
						      memory_order_acq_rel,
						      memory_order_acquire)) {
		expect = GC_BLOCKED;
		sched_yield();	/* stopped meanwhile: until the start */
	}
}

typedef void (*block_fn)(void *a, void *b);

/*
 * Run @fn blocked.  Not inlined, and every callee-saved register is saved
 * in this frame (__builtin_unwind_init): the caller's values live in
 * memory from gc_current_sp() up, which is what the collector scans.
 */
static __attribute__((noinline)) void block_call(block_fn fn, void *a,
						 void *b)
{
	struct gc_thread *t = gc_tls.self;
	uintptr_t outer;

	__builtin_unwind_init();
	if (!t || gc_tls.nopreempt) {
		fn(a, b);
		return;
	}
	outer = t->collect_sp;
	if (!outer)
		t->collect_sp = gc_current_sp();
	atomic_store_explicit(&t->blocked, GC_BLOCKED, memory_order_release);
	fn(a, b);
	unblock(t);
	t->collect_sp = outer;
}

static void lock_fn(void *m, void *unused)
{
	(void)unused;
	pthread_mutex_lock(m);
}

static void wait_fn(void *cv, void *m)
{
	pthread_cond_wait(cv, m);
}

void gc_lock_blocking(pthread_mutex_t *m)
{
	block_call(lock_fn, m, NULL);
}

void gc_cond_wait_blocking(pthread_cond_t *cv, pthread_mutex_t *m)
{
	block_call(wait_fn, cv, m);
}

static void nap_fn(void *ts, void *unused)
{
	(void)unused;
	nanosleep(ts, NULL);
}

void gc_nap_blocking(const struct timespec *ts)
{
	block_call(nap_fn, (void *)ts, NULL);
}

/* A stop request arrived inside a no-preemption section: honour it now. */
void gc_park_self(void)
{
	gc_tls.pending.b.preempt = 0;
	pthread_kill(pthread_self(), GC_SIG_SUSPEND);
}

static void restart_handler(int sig)
{
	/* Only here to make sigsuspend() return. */
	(void)sig;
}

/*
 * Thread exit.  While the thread is still attached to a heap, the
 * allocator's own destructor has yet to give its caches back (and will
 * unregister the thread itself); it must do so as a registered thread, so
 * defer: setting the key again makes glibc call us in its next round.
 */
static void thread_exit_destructor(void *arg)
{
	struct gc_thread *t = arg;

	for (unsigned i = 0; i < GCH_MAX_HEAPS; i++) {
		if (gch_tls_mcache[i] != &gch_mcache_none) {
			pthread_setspecific(stw.exit_key, t);
			return;
		}
	}
	if (gc_tls.self)
		gc_thread_unregister();
}

static void stw_init_once(void)
{
	struct sigaction sa;

	if (sem_init(&stw.ack, 0, 0) ||
	    pthread_key_create(&stw.exit_key, thread_exit_destructor)) {
		stw.init_err = -errno;
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = suspend_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, GC_SIG_RESTART);
	if (sigaction(GC_SIG_SUSPEND, &sa, NULL)) {
		stw.init_err = -errno;
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restart_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	/*
	 * A restart signal can arrive outside sigsuspend() (the thread saw the
	 * generation change first) and run over user code half-way through a
	 * gch_store() site.  A stop arriving in that handler would see the
	 * handler's context, not the site's, and could not rewind it: so the
	 * stop waits until this handler has returned to the user code.
	 */
	sigaddset(&sa.sa_mask, GC_SIG_SUSPEND);
	if (sigaction(GC_SIG_RESTART, &sa, NULL))
		stw.init_err = -errno;
}

int gc_stw_init(void)
{
	pthread_once(&stw.once, stw_init_once);
	return stw.init_err;
}

static int thread_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;
	int err;

	err = pthread_getattr_np(pthread_self(), &attr);
	if (err)
		return -err;
	err = pthread_attr_getstack(&attr, &addr, &size);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
	*lo = (uintptr_t)addr;
	*hi = (uintptr_t)addr + size;
	return 0;
}

/*
 * Attach the calling thread.  Idempotent.  The two signals are unblocked in
 * an attached thread: a thread that blocks them could never be stopped.
 */
int gc_thread_register(void)
{
	struct gc_thread *t;
	sigset_t cur;
	int err;

	err = gc_stw_init();
	if (err)
		return err;
	if (gc_tls.self)
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	err = thread_stack_bounds(&t->stack_lo, &t->stack_hi);
	if (!err)
		err = gc_barrier_thread_init(t);
	if (err) {
		free(t);
		return err;
	}
	t->pthread = pthread_self();
	t->tid = (pid_t)syscall(SYS_gettid);
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	if (sigismember(&cur, GC_SIG_SUSPEND) ||
	    sigismember(&cur, GC_SIG_RESTART)) {
		sigset_t unblock;

		sigemptyset(&unblock);
		sigaddset(&unblock, GC_SIG_SUSPEND);
		sigaddset(&unblock, GC_SIG_RESTART);
		pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
	}

	pthread_mutex_lock(&stw.lock);
	t->next = stw.head;
	if (stw.head)
		stw.head->prev = t;
	stw.head = t;
	stw.count++;
	gc_tls.self = t;
	pthread_mutex_unlock(&stw.lock);
	pthread_setspecific(stw.exit_key, t);
	return 0;
}

void gc_thread_unregister(void)
{
	struct gc_thread *t = gc_tls.self;

	if (!t)
		return;
	/* Waiting for stw.lock inside a section could deadlock a stop. */
	assert(gc_tls.nopreempt == 0);
	/*
	 * What it shaded must reach the marker before it leaves the registry
	 * (mark termination flushes only registered threads), and within a
	 * section, so that termination cannot come in between.
	 */
	gc_nopreempt_enter();
	gc_barrier_thread_fini(t);
	gc_nopreempt_exit();
	gc_lock_blocking(&stw.lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		stw.head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	stw.count--;
	gc_tls.self = NULL;
	pthread_mutex_unlock(&stw.lock);
	pthread_setspecific(stw.exit_key, NULL);
	free(t);
}

unsigned gc_thread_count(void)
{
	unsigned n;

	pthread_mutex_lock(&stw.lock);
	n = stw.count;
	pthread_mutex_unlock(&stw.lock);
	return n;
}

static void add_ns(struct timespec *ts, long ns)
{
	ts->tv_nsec += ns;
	while (ts->tv_nsec >= 1000000000L) {
		ts->tv_nsec -= 1000000000L;
		ts->tv_sec++;
	}
}

static long long elapsed_ns(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000000000LL + (b.tv_nsec - a->tv_nsec);
}

/* Signal every thread not yet parked for gen; return how many are left. */
static unsigned signal_unparked(unsigned gen, bool resend)
{
	unsigned left = 0;

	for (struct gc_thread *t = stw.head; t; t = t->next) {
		unsigned blocked = GC_BLOCKED;

		if (t == gc_tls.self ||
		    atomic_load_explicit(&t->parked_gen,
					 memory_order_acquire) == gen)
			continue;
		/* waiting in the library: parked as it is (see the top) */
		if (atomic_load_explicit(&t->blocked, memory_order_relaxed) ==
		    GC_BLOCKED &&
		    atomic_compare_exchange_strong_explicit(&t->blocked,
							    &blocked,
							    GC_BLOCKED_STOPPED,
							    memory_order_acq_rel,
							    memory_order_relaxed)) {
			atomic_store_explicit(&t->parked_gen, gen,
					      memory_order_relaxed);
			continue;
		}
		left++;
		if (resend || !t->signals_sent) {
			t->signals_sent++;
			pthread_kill(t->pthread, GC_SIG_SUSPEND);
		}
	}
	return left;
}

static void warn_stuck(unsigned gen)
{
	for (struct gc_thread *t = stw.head; t; t = t->next)
		if (t != gc_tls.self &&
		    atomic_load_explicit(&t->parked_gen,
					 memory_order_acquire) != gen)
			fprintf(stderr,
				"gcheap: thread %d has not stopped after %u signals (signal %d blocked?)\n",
				(int)t->tid, t->signals_sent, GC_SIG_SUSPEND);
}

unsigned gc_stop_world(void)
{
	struct timespec start, deadline;
	long retry = STW_RETRY_NS_MIN;
	unsigned gen, left, stopped;
	bool warned = false, resend = false;

	pthread_mutex_lock(&stw.lock);
	stw.locked_by_stop = true;
	while (sem_trywait(&stw.ack) == 0)
		;
	gen = atomic_fetch_add_explicit(&stw_gen, 1, memory_order_acq_rel) + 1;
	assert(gen & 1);
	for (struct gc_thread *t = stw.head; t; t = t->next)
		t->signals_sent = 0;
	stopped = stw.count - (gc_tls.self ? 1 : 0);

	clock_gettime(CLOCK_MONOTONIC, &start);
	while ((left = signal_unparked(gen, resend)) != 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		add_ns(&deadline, retry);
		resend = false;
		if (sem_clockwait(&stw.ack, CLOCK_MONOTONIC, &deadline) &&
		    errno == ETIMEDOUT) {
			/* Somebody is inside the allocator: try again. */
			resend = true;
			if (retry < STW_RETRY_NS_MAX)
				retry *= 2;
			if (!warned && elapsed_ns(&start) > STW_WARN_NS) {
				warn_stuck(gen);
				warned = true;
			}
		}
	}
	return stopped;
}

void gc_start_world(void)
{
	unsigned gen;

	assert(stw.locked_by_stop);
	gen = atomic_fetch_add_explicit(&stw_gen, 1, memory_order_acq_rel) + 1;
	assert(!(gen & 1));
	(void)gen;
	for (struct gc_thread *t = stw.head; t; t = t->next) {
		unsigned stopped = GC_BLOCKED_STOPPED;

		if (t == gc_tls.self)
			continue;
		atomic_compare_exchange_strong_explicit(&t->blocked, &stopped,
							GC_BLOCKED,
							memory_order_release,
							memory_order_relaxed);
		/*
		 * Even so: a signal sent while it still ran may have parked
		 * it in the handler after all, where only this ends the wait.
		 */
		pthread_kill(t->pthread, GC_SIG_RESTART);
	}
	stw.locked_by_stop = false;
	pthread_mutex_unlock(&stw.lock);
}

void gc_for_each_thread(void (*fn)(struct gc_thread *t, bool is_self,
				   void *arg), void *arg)
{
	assert(stw.locked_by_stop);
	for (struct gc_thread *t = stw.head; t; t = t->next)
		fn(t, t == gc_tls.self, arg);
}

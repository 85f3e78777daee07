// SPDX-License-Identifier: MIT
/*
 * threads.c - bdwgc's thread entry points.
 *
 * Maps onto gch_thread_attach/gch_thread_detach: an attached thread's
 * stack and registers are roots and it is stopped (SIGPWR, restarted by
 * SIGXCPU: the same signals bdwgc uses on Linux) for each collection.
 * libgcheap also attaches a thread on its first allocation, so a thread
 * bdwgc would require to be registered is never missed if it allocates;
 * GC_allow_register_threads is accepted at any time.
 *
 * GC_pthread_create: the start routine and its argument travel in a heap
 * record held in the uncollectable set until the new thread has attached
 * and copied them onto its stack, so a collection in between cannot free
 * what the argument points to.  The thread stays attached until it exits
 * (libgcheap detaches exiting threads itself).
 *
 * "registered" (a thread-local flag) is what GC_register_my_thread and
 * GC_thread_is_registered report: set by GC_init for the main thread,
 * by GC_pthread_create's threads and by GC_register_my_thread.
 * Locking: none of its own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "compat.h"

static __thread bool registered;

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void attach_or_die(gch_heap *h)
{
	if (gch_thread_attach(h)) {
		fprintf(stderr, "GC Error: cannot register a thread\n");
		abort();
	}
	registered = true;
}

static void *thread_main(void *p)
{
	struct start *s = p;
	void *(*fn)(void *) = s->fn;
	void *arg = s->arg;

	attach_or_die(compat_heap());
	compat_uncoll_del(s);
	return fn(arg);
}

int GC_pthread_create(pthread_t *t, const pthread_attr_t *attr,
		      void *(*fn)(void *), void *arg)
{
	gch_heap *h = compat_heap();
	struct start *s = gch_malloc(h, sizeof(*s));
	int r;

	if (!s || compat_uncoll_add(s))
		return EAGAIN;	/* pthread_create's "no resources" */
	s->fn = fn;
	s->arg = arg;
	r = pthread_create(t, attr, thread_main, s);
	if (r)
		compat_uncoll_del(s);
	return r;
}

int GC_pthread_join(pthread_t t, void **ret)
{
	return pthread_join(t, ret);
}

int GC_pthread_detach(pthread_t t)
{
	return pthread_detach(t);
}

int GC_pthread_cancel(pthread_t t)
{
	return pthread_cancel(t);
}

void GC_pthread_exit(void *ret)
{
	pthread_exit(ret);
}

/* bdwgc keeps its suspend signal deliverable whatever the program blocks;
 * both of libgcheap's signals must stay so here. */
int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t s;

	if (!set || how == SIG_UNBLOCK)
		return pthread_sigmask(how, set, old);
	s = *set;
	sigdelset(&s, SIGPWR);
	sigdelset(&s, SIGXCPU);
	return pthread_sigmask(how, &s, old);
}

/* Data segments are re-read at every collection (dl_iterate_phdr, outside
 * the stopped world), so a plain dlopen is safe here. */
void *GC_dlopen(const char *path, int mode)
{
	compat_heap();
	return dlopen(path, mode);
}

void GC_allow_register_threads(void)
{
	compat_heap();
	registered = true;	/* bdwgc: called from a registered thread */
}

int GC_register_my_thread(const struct GC_stack_base *sb)
{
	(void)sb;	/* libgcheap finds the thread's stack itself */
	if (registered)
		return GC_DUPLICATE;
	attach_or_die(compat_heap());
	return GC_SUCCESS;
}

int GC_unregister_my_thread(void)
{
	gch_thread_detach(compat_heap());
	registered = false;
	return GC_SUCCESS;
}

int GC_thread_is_registered(void)
{
	return registered;
}

int GC_get_suspend_signal(void)
{
	return SIGPWR;
}

int GC_get_thr_restart_signal(void)
{
	return SIGXCPU;
}

int GC_get_stack_base(struct GC_stack_base *sb)
{
	pthread_attr_t a;
	void *lo;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &a))
		return GC_UNIMPLEMENTED;
	pthread_attr_getstack(&a, &lo, &size);
	pthread_attr_destroy(&a);
	sb->mem_base = (char *)lo + size;	/* the stack grows down */
	return GC_SUCCESS;
}

void *GC_call_with_stack_base(GC_stack_base_func fn, void *arg)
{
	struct GC_stack_base sb;

	if (GC_get_stack_base(&sb) != GC_SUCCESS)
		sb.mem_base = __builtin_frame_address(0);
	return fn(&sb, arg);
}

/* GC_init's thread is registered implicitly, as bdwgc's main thread. */
void compat_thread_init(void)
{
	attach_or_die(compat_heap_if_open());
}

/*
 * bdwgc stops scanning the caller's newer frames while fn blocks and does
 * not suspend it.  Here the thread stays attached: its whole stack stays a
 * root (more is kept, nothing is lost) and a collection stops it with a
 * signal, which a blocking call either restarts (SA_RESTART) or returns
 * EINTR from -- the case bdwgc's wrapper exists to avoid.
 */
void *GC_do_blocking(GC_fn_type fn, void *cd)
{
	return fn(cd);
}

void *GC_call_with_gc_active(GC_fn_type fn, void *cd)
{
	return fn(cd);
}

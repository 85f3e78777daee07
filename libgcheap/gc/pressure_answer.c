// SPDX-License-Identifier: MIT
/*
 * pressure_answer.c - the collector's answer to the module's memory pressure
 * events (GCH_IOC_PRESSURE in the uAPI).
 *
 * When reclaim asks a kernel-backed heap for memory its free pages cannot
 * give, the module raises an event on the heap's fd.  Only a collection can
 * turn the heap's garbage into free pages, so one thread of the library
 * ("pressure thread": unattached, every signal blocked, started with the
 * first heap that can have events) poll()s the fds of all such heaps and,
 * for each event:
 *   1. takes it (GCH_IOC_PRESSURE),
 *   2. runs a full collection of the heap (as gch_gc() would),
 *   3. finishes the sweep, so that emptied spans go back to the module now
 *      rather than when the program next allocates,
 *   4. releases every free page at once, ignoring the retained budget
 *      (GCH_IOC_SCAVENGE with GCH_SCAVENGE_ALL),
 *   5. answers (GCH_PRESSURE_ANSWER with the bytes released), which lets
 *      the module raise the next event after its quiet time.
 * The module rate-limits events, so steady pressure does not collect back
 * to back.  GCHEAP_CGROUP=off turns the answer off (with the
 * cgroup-derived limit, cgroup.c): the events then go unread.
 *
 * Heaps come and go while the thread polls: the list of heaps has a
 * generation, bumped (and the thread woken through an eventfd) by every
 * change; results of a poll over an older generation are dropped, so the
 * thread never acts on a descriptor that a closed heap's number now names.
 * gc_pressure_remove() waits while the thread is answering that heap.
 *
 * Locking: prs.lock guards the list and the generation; the thread holds
 * it while it answers, never while it polls.  It is taken before gc_lock,
 * never inside it.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "gc_internal.h"

static struct {
	pthread_mutex_t lock;
	struct gch_heap *heaps[GCH_MAX_HEAPS];
	int fds[GCH_MAX_HEAPS];
	unsigned n;
	uint64_t gen;
	int wake;			/* eventfd; -1 until the thread runs */
	bool started, failed;
} prs = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = -1 };

/* Pages released by GCH_IOC_SCAVENGE ALL on @fd, in bytes (0 on error). */
static uint64_t release_all(int fd)
{
	struct gch_scavenge s = { .size = sizeof(s),
				  .flags = GCH_SCAVENGE_ALL };

	return ioctl(fd, GCH_IOC_SCAVENGE, &s) ? 0 : s.released_bytes;
}

/* prs.lock held: the event of heap @i, taken, collected, answered. */
static void answer(unsigned i)
{
	struct gch_pressure p = { .size = sizeof(p) };
	struct gch_heap *h = prs.heaps[i];
	int fd = prs.fds[i];

	if (ioctl(fd, GCH_IOC_PRESSURE, &p) || !p.reasons)
		return;
	gc_collect_unattached(h, GC_REASON_PRESSURE);
	/* as the background sweeper: a batch at a time, under gc_lock, so
	 * that no collection starts while this unattached thread sweeps */
	for (bool more = true; more;) {
		pthread_mutex_lock(&gc_lock);
		more = gc_sweep_some(h, 64);
		pthread_mutex_unlock(&gc_lock);
	}
	p = (struct gch_pressure){ .size = sizeof(p),
				   .flags = GCH_PRESSURE_ANSWER };
	gch_pl_trim(h);		/* stashed spans: free, then released */
	p.answered_bytes = release_all(fd);
	ioctl(fd, GCH_IOC_PRESSURE, &p);
}

/* Poll the heaps of one generation; answer what fired if it still holds. */
static void poll_once(void)
{
	struct pollfd pfd[GCH_MAX_HEAPS + 1];
	uint64_t gen, junk;
	unsigned n;

	pthread_mutex_lock(&prs.lock);
	gen = prs.gen;
	n = prs.n;
	for (unsigned i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = prs.fds[i], .events = POLLPRI };
	pfd[n] = (struct pollfd){ .fd = prs.wake, .events = POLLIN };
	pthread_mutex_unlock(&prs.lock);

	if (poll(pfd, n + 1, -1) <= 0)
		return;
	if (pfd[n].revents & POLLIN)
		(void)!read(prs.wake, &junk, sizeof(junk));
	pthread_mutex_lock(&prs.lock);
	for (unsigned i = 0; prs.gen == gen && i < n; i++)
		if (pfd[i].revents & POLLPRI)
			answer(i);
	pthread_mutex_unlock(&prs.lock);
}

static void *pressure_main(void *arg)
{
	(void)arg;
	for (;;)
		poll_once();
	return NULL;
}

/* prs.lock held: the thread and its eventfd, once; false if impossible. */
static bool start_locked(void)
{
	if (prs.started || prs.failed)
		return prs.started;
	prs.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (prs.wake < 0 || gc_spawn(pressure_main, NULL)) {
		if (prs.wake >= 0)
			close(prs.wake);
		prs.wake = -1;
		prs.failed = true;
		return false;
	}
	prs.started = true;
	return true;
}

static void wake_thread(void)
{
	uint64_t one = 1;

	if (prs.wake >= 0)
		(void)!write(prs.wake, &one, sizeof(one));
}

/* A kernel-backed heap opened: answer its events (unless turned off). */
void gc_pressure_add(struct gch_heap *h)
{
	int fd = gch_heap_kernel_fd(h);

	/* the handshake at open has the module's features already */
	if (fd < 0 || !gc_cgroup_enabled() ||
	    !(gch_heap_kernel_features(h) & GCH_FEAT_PRESSURE))
		return;
	pthread_mutex_lock(&prs.lock);
	if (prs.n < GCH_MAX_HEAPS && start_locked()) {
		prs.heaps[prs.n] = h;
		prs.fds[prs.n++] = fd;
		prs.gen++;
		wake_thread();
	}
	pthread_mutex_unlock(&prs.lock);
}

/* @h closes: off the list, once the thread is not answering it. */
void gc_pressure_remove(struct gch_heap *h)
{
	gc_lock_blocking(&prs.lock);	/* a stop of the world may come */
	for (unsigned i = 0; i < prs.n; i++) {
		if (prs.heaps[i] != h)
			continue;
		prs.heaps[i] = prs.heaps[--prs.n];
		prs.fds[i] = prs.fds[prs.n];
		prs.gen++;
		wake_thread();
		break;
	}
	pthread_mutex_unlock(&prs.lock);
}

// SPDX-License-Identifier: MIT
/*
 * gc_wbverify_test - the barrier verifier (GCHEAP_GCVERIFY=barrier,
 * gc/dirtyscan.c): with the barrier and the module's dirty tracking both on,
 * pause 2 finds a pointer from a marked object on a page written during
 * the cycle to an unmarked object, names the slot, and aborts.
 *
 * A child process moves one object T from the field of object A to the
 * field of object B ("B->f = A->f; A->f = NULL") while cycles run back to
 * back beside it.  B is a root (the child's stack holds it), so a cycle
 * scans it right after its first pause; A hangs at the end of a long
 * chain of ballast (the stack holds A's address disguised), so the cycle
 * scans it much later.  The child waits until a cycle marks (the barrier
 * flag is up), gives the marker a millisecond to scan B, moves T, and
 * moves it back once the cycle has ended.  Then nothing the marker looked
 * at reached T: with plain stores the verifier must report slot &B->f and
 * abort; with gch_store() (the deletion half shades T) it must never
 * report, however many cycles run.
 *
 * Needs the kernel backend with GCH_FEAT_DIRTY (the VM); elsewhere it
 * says so and checks that the verifier stays quiet and the program runs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcheap.h"
#include "gc_test.h"
#include "internal.h"
#include "gc_internal.h"

#define BALLAST		(256 * 1024)	/* nodes: a mark takes a while */
#define RUN_SECONDS	15
#define HIDE		0x5a5a5a5a5a5a5a5aULL	/* no heap address is this */

struct node {
	struct node *f;
	uint64_t pad[3];
};

static gch_heap *h;
static atomic_int stop;

static atomic_int collector_done;

static void *collector(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		gch_gc(h);
	atomic_store(&collector_done, 1);
	return NULL;
}

/*
 * Move T from A's field to B's (@to_b) or back, as the program was
 * written.  A's address is made from its disguise here, never in the
 * caller, and every scratch register is wiped before returning: a
 * register holding A or T when the next cycle's first pause stops this
 * thread would make them roots.
 */
static __attribute__((noinline)) void move(uintptr_t a_hidden, struct node *b,
					   bool to_b, bool barrier)
{
	struct node *a = (struct node *)(a_hidden ^ HIDE);
	struct node *from = to_b ? a : b, *to = to_b ? b : a;

	if (barrier) {
		gch_store((void **)&to->f, from->f);
		gch_store((void **)&from->f, NULL);
	} else {
		*(struct node *volatile *)&to->f = from->f;
		*(struct node *volatile *)&from->f = NULL;
	}
	__asm__ volatile("xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\t"
			 "xor %%edx, %%edx\n\txor %%esi, %%esi\n\t"
			 "xor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"
			 "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\t"
			 "xor %%r11d, %%r11d"
			 ::: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9",
			   "r10", "r11", "memory");
}

/*
 * The graph: the ballast chain, held by the global chain, ends at A; A->f
 * holds T.  Returns B; *a_hidden gets A's address disguised.  Its own
 * frame, wiped after it returns, so that no stale word of the stack points
 * at A.
 */
static struct node *chain;

static __attribute__((noinline)) struct node *setup(volatile uintptr_t *a_hidden)
{
	struct node *a, *n;

	/*
	 * Not where an allocation window starts (a slot index that is a
	 * multiple of 64, the heap's base among them): the allocator keeps
	 * such addresses where the collector finds them as roots, and a root
	 * that points at A lets the cycle scan it at once.
	 */
	for (int i = 0; i < 65; i++)
		gch_malloc(h, sizeof(struct node));
	a = gch_malloc(h, sizeof(struct node));

	if (!a)
		return NULL;
	a->f = gch_malloc(h, sizeof(struct node));
	chain = a;
	for (int i = 0; i < BALLAST; i++) {
		n = gch_malloc(h, sizeof(*n));
		if (!n)
			return NULL;
		n->f = chain;
		chain = n;
	}
	*a_hidden = (uintptr_t)a ^ HIDE;
	return gch_malloc(h, sizeof(struct node));
}

/*
 * Sleep @us as a blocked thread, as the library's own waits do: a stop of
 * the world takes the thread as parked without a signal.  A plain usleep()
 * works natively, but under ThreadSanitizer the stop signal was at times
 * held back for good (one run in three hung with the collector resending
 * it) -- TSan delivers signals to a thread in a blocking call itself.
 */
static void nap_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	gc_nap_blocking(&ts);
}

/* The child: 0 after RUN_SECONDS with nothing reported. */
static int child(bool barrier, int out)
{
	struct node *volatile b;
	volatile uintptr_t a_hidden;	/* A's address, not a pointer */
	struct gch_gc_stats st;
	pthread_t th;
	time_t end;
	bool tracked;

	setenv("GCHEAP_GCVERIFY", "barrier", 1);
	setenv("GCHEAP_GCMODE", "concurrent", 1);
	h = gch_open(NULL);
	if (!h || gch_add_roots(&chain, sizeof(chain), NULL))
		return 2;
	/*
	 * The collecting thread first: a new thread starts with copies of
	 * this one's registers, and later ones could hold A.
	 */
	pthread_create(&th, NULL, collector, NULL);
	b = setup(&a_hidden);
	gct_clear_stack();
	if (!b)
		return 2;
	tracked = gch_heap_kernel_fd(h) >= 0 &&
		  (gch_heap_kernel_features(h) & GCH_FEAT_DIRTY);
	/* A's slot, disguised too: the parent undoes it */
	dprintf(out, "slots %lx %p %d\n", (unsigned long)a_hidden,
		(void *)&b->f, tracked);
	/* without tracking there is nothing to catch: a short run */
	end = time(NULL) + (RUN_SECONDS);
	/* asleep while the cycle's first pause scans the stacks: A's
	 * address is then in no register */
	while (time(NULL) < end) {
		while (!__atomic_load_n(&gch__wb_on, __ATOMIC_ACQUIRE) &&
		       time(NULL) < end)
			nap_us(100);
		nap_us(1000);
		move(a_hidden, b, true, barrier);
		while (__atomic_load_n(&gch__wb_on, __ATOMIC_ACQUIRE))
			nap_us(100);
		move(a_hidden, b, false, barrier);
	}
	atomic_store(&stop, 1);
	/*
	 * Blocking naps, not pthread_join() alone: this thread is attached,
	 * and under ThreadSanitizer a thread blocked in pthread_join() never
	 * took the stop signal of the collector's last cycle (it hung for
	 * minutes); a stop takes a napping thread as parked.
	 */
	while (!atomic_load(&collector_done))
		nap_us(1000);
	pthread_join(th, NULL);
	gch_gc_stats(h, &st);
	dprintf(out, "cycles %llu\n", (unsigned long long)st.cycles);
	return 0;
}

struct result {
	int status;
	char out[256];
	char err[1 << 16];
};

/* Read @fd to its end into @buf (NUL-terminated; what does not fit in
 * @cap is read and dropped, so that the writer never blocks). */
static void read_all(int fd, char *buf, size_t cap)
{
	char sink[4096];
	size_t n = 0;
	ssize_t m;

	while ((m = read(fd, n < cap - 1 ? buf + n : sink,
			 n < cap - 1 ? cap - 1 - n : sizeof(sink))) > 0)
		if (n < cap - 1)
			n += (size_t)m;
	buf[n] = 0;
}

static void run(bool barrier, struct result *r)
{
	int po[2], pe[2];
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe(po) || pipe(pe))
		return;
	pid = fork();
	if (!pid) {
		close(po[0]);
		close(pe[0]);
		dup2(pe[1], 2);
		_exit(child(barrier, po[1]));
	}
	close(po[1]);
	close(pe[1]);
	read_all(pe[0], r->err, sizeof(r->err));
	read_all(po[0], r->out, sizeof(r->out));
	waitpid(pid, &r->status, 0);
	close(po[0]);
	close(pe[0]);
}

int main(void)
{
	struct result r;
	void *sa = NULL, *sb = NULL, *slot = NULL;
	int tracked = 0;
	char *rep;

	run(true, &r);
	sscanf(r.out, "slots %p %p %d", &sa, &sb, &tracked);
	printf("# with gch_store(): %s", strstr(r.out, "cycles") ?
	       strstr(r.out, "cycles") : "(no cycle count)\n");
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 &&
	      !strstr(r.err, "GCVERIFY"),
	      "barriered moves: the verifier stays quiet (status %#x%s%.200s)",
	      r.status, *r.err ? ", stderr: " : "", r.err);
	if (!tracked) {
		printf("# no dirty tracking here (host backend or an old module):"
		       " the verifier is off\n");
		return gct_summary();
	}
	/*
	 * The lost object needs the cycle to scan A late, and a conservative
	 * root that happens to hold A (a stale word of a stack, a register
	 * of a thread stopped at the wrong moment) makes a whole run scan it
	 * early; a fresh process lays out its stacks anew.  So up to three
	 * runs, until one exits other than cleanly: whatever ended it is
	 * what is checked.
	 */
	for (int try = 0; try < 3; try++) {
		run(false, &r);
		if (!WIFEXITED(r.status) || WEXITSTATUS(r.status))
			break;
		printf("# run %d: no cycle scanned A after the move\n", try + 1);
	}
	sscanf(r.out, "slots %p %p", &sa, &sb);
	rep = strstr(r.err, "skipped gch_store(): slot ");
	if (rep)
		sscanf(rep + strlen("skipped gch_store(): slot "), "%p", &slot);
	/* the report's first line, whole, and nothing that could run into
	 * the summary line */
	printf("# %.*s\n", (int)strcspn(r.err, "\n"), r.err);
	CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT,
	      "unbarriered moves: the verifier aborts the program (status %#x)",
	      r.status);
	CHECK(slot && slot == sb,
	      "it names the slot of the unbarriered store (%p; B->f %p)",
	      slot, sb);
	return gct_summary();
}

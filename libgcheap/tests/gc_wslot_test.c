// SPDX-License-Identifier: MIT
/*
 * gc_wslot_test - weak slots and finalizer flags (finalizer.c), the core
 * under libgc.so.1's disappearing links and no-order finalizers:
 *  - a slot is cleared by the first cycle that finds its target dead, and
 *    not before; before that target's finalizer runs; its count is in
 *    weak_cleared;
 *  - an unregistered slot is left alone; a moved slot is cleared at its new
 *    place only; registering twice re-targets; bad arguments;
 *  - a slot inside a finalizable object pointing at its target does not
 *    keep the target alive through the finalizer roots; a slot whose
 *    holder dies is forgotten (the collector never writes into the reused
 *    memory);
 *  - GC_FIN_NO_ORDER: a ring of such objects is finalized, all in one
 *    cycle, and what they reference is intact when their finalizers run;
 *    GC_FIN_IGNORE_SELF: a self-reference does not block finalization, a
 *    two-object cycle still does;
 *  - under the concurrent collector, readers going through gc_wslot_load()
 *    while cycles mark never get an object that is then freed.
 * The whole suite runs twice, in child processes: the concurrent collector
 * (the default) and GCHEAP_GCMODE=stw.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "gc_internal.h"
#include "gc_test.h"

#define NOINLINE __attribute__((noinline))
#define HIDE(p) (~(uintptr_t)(p))

static gch_heap *h;
static void *roots[8];		/* registered: what the tests keep alive */

static void collect(int n)
{
	for (int i = 0; i < n; i++) {
		gct_clear_stack();
		CHECK(gch_gc(h) == 0, "gch_gc: %s", strerror(errno));
		gch_wait_finalizers(h);
	}
}

/*
 * Run @fn on a thread of its own: objects it made leave no stale copies
 * in this thread's registers or stack (scanned conservatively), and its
 * stack is gone once it is joined.
 */
static void *thread_tramp(void *arg)
{
	((void (*)(void))arg)();
	return NULL;
}

static void on_thread(void (*fn)(void))
{
	pthread_t t;

	pthread_create(&t, NULL, thread_tramp, (void *)fn);
	pthread_join(t, NULL);
}

/* ---- slots --------------------------------------------------------------- */

static void **slots;		/* malloc memory: never scanned */
static _Atomic(void *) seen_at_fin;
static atomic_int fins;

static void fin_look(void *obj, void *arg)
{
	(void)obj;
	atomic_store(&seen_at_fin, *(void **)arg);
	atomic_fetch_add(&fins, 1);
}

static NOINLINE void make_target(int root, int slot, bool finalizable)
{
	void *t = gch_malloc(h, 64);

	roots[root] = t;
	slots[slot] = t;
	CHECK(gc_wslot_register(h, &slots[slot], t) == 0, "register");
	if (finalizable)
		gch_set_finalizer(h, t, fin_look, &slots[slot]);
}

static void test_cleared_when_dead(void)
{
	struct gch_gc_stats a, b;

	atomic_store(&fins, 0);
	make_target(0, 0, true);
	collect(2);
	CHECK(slots[0] == roots[0], "slot cleared while its target lives");
	CHECK(atomic_load(&fins) == 0, "finalizer of a live object ran");
	gch_gc_stats(h, &a);
	roots[0] = NULL;
	collect(1);
	gch_gc_stats(h, &b);
	CHECK(slots[0] == NULL, "slot not cleared when its target died");
	CHECK(b.weak_cleared > a.weak_cleared, "weak_cleared not counted");
	CHECK(atomic_load(&fins) == 1, "finalizer did not run");
	CHECK(atomic_load(&seen_at_fin) == NULL,
	      "finalizer ran before the slot was cleared");
	CHECK(!gc_wslot_unregister(h, &slots[0]), "cleared slot still known");
}

static uintptr_t old1, old2;

static void registrations(void)
{
	void *t;

	make_target(1, 1, false);
	t = slots[1];
	old1 = HIDE(t);
	CHECK(gc_wslot_unregister(h, &slots[1]), "unregister");
	CHECK(!gc_wslot_unregister(h, &slots[1]), "unregister twice");
	make_target(2, 2, false);
	old2 = HIDE(slots[2]);	/* hidden: a stack copy would keep it */
	CHECK(gc_wslot_move(h, &slots[2], &slots[3]) == 0, "move");
	CHECK(gc_wslot_move(h, &slots[2], &slots[3]) == -ENOENT,
	      "move from an unregistered slot");
	CHECK(gc_wslot_move(h, &slots[3], &slots[3]) == 0, "move onto itself");
	CHECK(gc_wslot_register(h, &slots[4], roots[2]) == 0, "register 4");
	CHECK(gc_wslot_register(h, &slots[4], roots[2]) == 1, "duplicate");
	CHECK(gc_wslot_move(h, &slots[3], &slots[4]) == 1, "move onto another");
	CHECK(gc_wslot_register(h, NULL, t) == -EINVAL, "NULL slot");
	CHECK(gc_wslot_register(h, (void **)((char *)slots + 3), t) == -EINVAL,
	      "misaligned slot");
	slots[4] = slots[3] = roots[2];
	roots[1] = roots[2] = NULL;
}

static void test_unregister_move(void)
{
	on_thread(registrations);
	collect(2);
	CHECK(HIDE(slots[1]) == old1, "unregistered slot written");
	CHECK(HIDE(slots[2]) == old2, "old place of a moved slot written");
	CHECK(slots[3] == NULL && slots[4] == NULL, "moved slot not cleared");
	gc_wslot_unregister(h, &slots[3]);
	gc_wslot_unregister(h, &slots[4]);
}

/* A: finalizable, slot A->p registered with A itself, A->p = B; B -> A. */
struct pair {
	void *p;
	long tag;
};
static atomic_long fin_tags[4];

static void fin_tag(void *obj, void *arg)
{
	struct pair *o = obj;

	(void)arg;
	atomic_store(&fin_tags[o->tag], o->p ? 2 : 1);
}

static NOINLINE void make_linked_cycle(void)
{
	struct pair *a = gch_malloc(h, sizeof(*a)), *b = gch_malloc(h, sizeof(*b));

	a->tag = 0;
	b->tag = 1;
	a->p = b;
	b->p = a;
	CHECK(gc_wslot_register(h, &a->p, a) == 0, "register inside");
	gch_set_finalizer(h, a, fin_tag, NULL);
	gch_set_finalizer(h, b, fin_tag, NULL);
}

static void test_slot_breaks_cycle(void)
{
	on_thread(make_linked_cycle);
	collect(4);
	/* B is finalized first (it holds A), then A, whose slot was cleared */
	CHECK(atomic_load(&fin_tags[1]) != 0, "cycle broken by a slot: B");
	CHECK(atomic_load(&fin_tags[0]) == 1,
	      "A finalized with its slot cleared (%ld)",
	      atomic_load(&fin_tags[0]));
}

/* A slot in a holder that dies is forgotten: reused memory is not cleared. */
static NOINLINE void make_dying_holder(void)
{
	void **holder = gch_malloc_noscan(h, 16);

	roots[3] = gch_malloc(h, 32);
	holder[0] = roots[3];
	CHECK(gc_wslot_register(h, &holder[0], roots[3]) == 0, "register");
}

static void test_holder_dies(void)
{
	uintptr_t *fill[2000];
	int zero = 0;

	make_dying_holder();
	collect(2);
	for (int i = 0; i < 2000; i++) {
		fill[i] = gch_malloc_noscan(h, 16);
		fill[i][0] = fill[i][1] = 0x5a5a5a5a;
	}
	roots[4] = fill;	/* keeps nothing: fill is on the stack */
	roots[3] = NULL;
	collect(2);
	for (int i = 0; i < 2000; i++)
		zero += fill[i][0] != 0x5a5a5a5a;
	CHECK(zero == 0, "%d words of reused memory cleared by a dead slot",
	      zero);
	roots[4] = NULL;
}

/* ---- finalizer flags ----------------------------------------------------- */

#define RING 10
struct ring {
	struct ring *next;
	long tag;
	char *text;
};
static atomic_int ring_fins, ring_bad;
static atomic_uint ring_cycle[RING];

static void fin_ring(void *obj, void *arg)
{
	struct ring *r = obj;

	(void)arg;
	if (r->tag < 0 || r->tag >= RING || !r->next ||
	    strcmp(r->text, "ring text") || r->next->tag != (r->tag + 1) % RING)
		atomic_fetch_add(&ring_bad, 1);
	else
		atomic_store(&ring_cycle[r->tag], 1);
	atomic_fetch_add(&ring_fins, 1);
}

static NOINLINE void make_ring(unsigned flags)
{
	struct ring *first = NULL, *prev = NULL;

	for (long i = 0; i < RING; i++) {
		struct ring *r = gch_malloc(h, sizeof(*r));

		r->tag = i;
		r->text = gch_malloc_noscan(h, 16);
		strcpy(r->text, "ring text");
		if (prev)
			prev->next = r;
		else
			first = r;
		prev = r;
		CHECK(gc_set_finalizer_flags(h, r, fin_ring, NULL, flags) == 0,
		      "set flags");
	}
	prev->next = first;
}

static void test_no_order_ring(void)
{
	make_ring(GC_FIN_NO_ORDER);
	collect(1);
	CHECK(atomic_load(&ring_fins) == RING,
	      "%d of %d no-order ring members finalized in one cycle",
	      atomic_load(&ring_fins), RING);
	CHECK(atomic_load(&ring_bad) == 0,
	      "%d finalizers saw freed referents", atomic_load(&ring_bad));
	collect(2);
	atomic_store(&ring_fins, 0);
	make_ring(0);
	collect(3);
	CHECK(atomic_load(&ring_fins) == 0, "an ordered ring finalized");
	CHECK(gc_set_finalizer_flags(h, gch_malloc(h, 16), fin_ring, NULL,
				     8) == -1 && errno == EINVAL,
	      "unknown flag accepted");
}

static atomic_int self_fins;

static void fin_self(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	atomic_fetch_add(&self_fins, 1);
}

static NOINLINE void make_selfish(unsigned flags, bool pair)
{
	void **a = gch_malloc(h, 32), **b = gch_malloc(h, 32);

	a[0] = a;
	a[1] = (char *)a + 8;	/* interior self-pointer */
	if (pair) {
		a[2] = b;
		b[0] = a;
	}
	gc_set_finalizer_flags(h, a, fin_self, NULL, flags);
	if (pair)
		gc_set_finalizer_flags(h, b, fin_self, NULL, flags);
}

static void test_ignore_self(void)
{
	make_selfish(GC_FIN_IGNORE_SELF, false);
	collect(2);
	CHECK(atomic_load(&self_fins) == 1, "ignore_self: self-cycle (%d)",
	      atomic_load(&self_fins));
	atomic_store(&self_fins, 0);
	make_selfish(0, false);
	collect(2);
	CHECK(atomic_load(&self_fins) == 0, "ordered self-cycle finalized");
	make_selfish(GC_FIN_IGNORE_SELF, true);
	collect(2);
	CHECK(atomic_load(&self_fins) == 0, "ignore_self: 2-cycle finalized");
}

/* ---- concurrent readers -------------------------------------------------- */

#define NREAD 64
static void **rslots;		/* malloc memory: never scanned */
static atomic_bool stop;
static atomic_long reads, bad_reads;

static void *churn(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		char *p = gch_malloc_noscan(h, 48);

		memset(p, 0x77, 48);
	}
	return NULL;
}

static NOINLINE void refill(int i)
{
	uint64_t *o = gch_malloc_noscan(h, 48);

	for (int k = 0; k < 6; k++)
		o[k] = 0x1234567800000000ull | (unsigned)i;
	rslots[i] = o;
	gc_wslot_register(h, &rslots[i], o);
}

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		for (int i = 0; i < NREAD; i++) {
			uint64_t *o = gc_wslot_load(h, &rslots[i]);

			if (!o) {
				refill(i);
				continue;
			}
			/* hold it across a little allocation, then check */
			gch_malloc_noscan(h, 48);
			for (int k = 0; k < 6; k++)
				if (o[k] != (0x1234567800000000ull |
					     (unsigned)i))
					atomic_fetch_add(&bad_reads, 1);
			atomic_fetch_add(&reads, 1);
		}
	}
	return NULL;
}

static void test_readers(void)
{
	pthread_t c, r;
	struct gch_gc_stats a, b;

	rslots = calloc(NREAD, sizeof(void *));
	gch_gc_stats(h, &a);
	pthread_create(&c, NULL, churn, NULL);
	pthread_create(&r, NULL, reader, NULL);
	/*
	 * Detached while it only waits: ThreadSanitizer holds the stop
	 * signal back from a thread in usleep() or pthread_join(), and a
	 * collection would wait for it for ever (it holds no heap pointer).
	 */
	gch_thread_detach(h);
	for (time_t end = time(NULL) + 2; time(NULL) < end;)
		usleep(10000);
	atomic_store(&stop, true);
	pthread_join(c, NULL);
	pthread_join(r, NULL);
	gch_thread_attach(h);
	gch_gc_stats(h, &b);
	CHECK(atomic_load(&bad_reads) == 0,
	      "%ld reads of %ld saw a freed object", atomic_load(&bad_reads),
	      atomic_load(&reads));
	CHECK(b.cycles > a.cycles + 2 && b.weak_cleared > a.weak_cleared,
	      "readers ran beside collections (%llu cycles, %llu cleared)",
	      (unsigned long long)(b.cycles - a.cycles),
	      (unsigned long long)(b.weak_cleared - a.weak_cleared));
	for (int i = 0; i < NREAD; i++)
		gc_wslot_unregister(h, &rslots[i]);
}

/* ---- one mode; both in children ------------------------------------------ */

static int run_mode(void)
{
	struct gch_options o = { .size = sizeof(o) };

	h = gch_open(&o);
	if (!h) {
		printf("# gch_open: %s\n", strerror(errno));
		return 1;
	}
	printf("# gc_wslot: %s collector, %s backend\n",
	       gc_mode_concurrent() ? "concurrent" : "stop-the-world",
	       gch_backend_name(h));
	slots = calloc(8, sizeof(void *));
	CHECK(gch_add_roots(roots, sizeof(roots), NULL) == 0, "roots");
	test_cleared_when_dead();
	test_unregister_move();
	test_slot_breaks_cycle();
	test_holder_dies();
	test_no_order_ring();
	test_ignore_self();
	test_readers();
	CHECK(gch_close(h) == 0, "close: %s", strerror(errno));
	return 0;
}

int main(void)
{
	static const char *modes[] = { "concurrent", "stw" };
	int *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int m = 0; m < 2; m++) {
		pid_t pid;
		int st;

		counts[0] = 0;
		counts[1] = 1;	/* a child that dies counts one failure */
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			gct_pass = gct_fail = 0;
			setenv("GCHEAP_GCMODE", modes[m], 1);
			run_mode();
			counts[0] = gct_pass;
			counts[1] = gct_fail;
			printf("# %s: %d passed, %d failed\n", modes[m],
			       gct_pass, gct_fail);
			_exit(0);
		}
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			counts[1]++;
		gct_pass += counts[0];
		gct_fail += counts[1];
	}
	return gct_summary();
}

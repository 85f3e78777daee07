// SPDX-License-Identifier: MIT
/*
 * gc_basic_test - the collector's promises one at a time: unreachable
 * objects are reclaimed; objects reachable from registered roots (precise
 * and conservative), data segments, stacks, registers only, and through
 * interior pointers survive; pointers stored in noscan objects do not keep
 * their targets; large objects; weak references are cleared; finalizers run
 * exactly once, after unreachability, in topological order; resurrection;
 * an idle heap's garbage is swept in the background.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/ioctl.h>

#include "internal.h"
#include "gc_test.h"

static gch_heap *h;

/* Allocate n objects reachable from nothing; return a weak ref to the last. */
static __attribute__((noinline)) gch_weak *garbage(size_t n, size_t size)
{
	void *p = NULL;

	for (size_t i = 0; i < n; i++)
		p = gch_malloc(h, size);
	return gch_weak_new(h, p);
}

#define collect()	gct_collect(h)

static void test_reclaim(void)
{
	struct gch_gc_stats a, b;
	gch_weak *w;

	collect();
	gch_gc_stats(h, &a);
	w = garbage(100000, 48);
	CHECK(gch_weak_get(w) != NULL, "weak target alive before gc");
	collect();
	collect();	/* the second cycle sweeps what the first found dead */
	gch_gc_stats(h, &b);
	CHECK(gch_weak_get(w) == NULL, "garbage weak ref cleared");
	CHECK(b.free_objects - a.free_objects >= 100000,
	      "100000 dead objects freed (%llu)",
	      (unsigned long long)(b.free_objects - a.free_objects));
	CHECK(b.cycles >= a.cycles + 2, "cycles counted");
	gch_weak_free(w);
}

static void *global_root;		/* data segment */
static void **registered;		/* malloc'ed, registered, conservative */
static void **precise;			/* malloc'ed, registered, precise: 0, 2 */

static void test_roots(void)
{
	uint64_t map = 0x5;
	gch_weak *wg, *wr, *wp0, *wp1, *wp2;
	void *p;

	registered = calloc(4, sizeof(void *));
	precise = calloc(4, sizeof(void *));
	CHECK(gch_register_data_segments() == 0, "data segments");
	CHECK(gch_add_roots(registered, 4 * sizeof(void *), NULL) == 0, "add");
	CHECK(gch_add_roots(precise, 4 * sizeof(void *), &map) == 0,
	      "add precise");
	CHECK(gch_add_roots(precise, 3, &map) == -1 && errno == EINVAL,
	      "precise range must be whole words");
	global_root = gch_malloc(h, 100);
	memset(global_root, 0x11, 100);
	registered[3] = gch_malloc(h, 200);
	precise[0] = gch_malloc(h, 64);
	precise[1] = gch_malloc(h, 64);	/* not a pointer word: dies */
	precise[2] = gch_malloc(h, 64);
	wg = gch_weak_new(h, global_root);
	wr = gch_weak_new(h, registered[3]);
	wp0 = gch_weak_new(h, precise[0]);
	wp1 = gch_weak_new(h, precise[1]);
	wp2 = gch_weak_new(h, precise[2]);
	collect();
	CHECK(gch_weak_get(wg) == global_root, "global survives");
	CHECK(((unsigned char *)global_root)[99] == 0x11, "contents kept");
	CHECK(gch_weak_get(wr) == registered[3], "registered root survives");
	CHECK(gch_weak_get(wp0) == precise[0], "precise word 0 survives");
	CHECK(gch_weak_get(wp2) == precise[2], "precise word 2 survives");
	CHECK(gch_weak_get(wp1) == NULL, "non-pointer word of precise range ignored");
	p = registered[3];
	registered[3] = NULL;
	CHECK(gch_remove_roots(precise, 4 * sizeof(void *)) == 1,
	      "remove precise");
	precise[0] = NULL;
	precise[2] = NULL;
	p = NULL;
	collect();
	CHECK(gch_weak_get(wr) == NULL, "dropped root reclaimed");
	(void)p;
	gch_weak_free(wg);
	gch_weak_free(wr);
	gch_weak_free(wp0);
	gch_weak_free(wp1);
	gch_weak_free(wp2);
}

static gch_weak *w_obj, *w_hidden;

static __attribute__((noinline)) char *make_interior(void)
{
	char *obj = gch_malloc(h, 1000);
	uintptr_t *holder = gch_malloc_noscan(h, 64);
	void *hidden = gch_malloc(h, 32);

	holder[0] = (uintptr_t)hidden;	/* a pointer in a noscan object */
	w_obj = gch_weak_new(h, obj);
	w_hidden = gch_weak_new(h, hidden);
	return obj + 777;
}

static void test_interior_and_noscan(void)
{
	char *volatile interior = make_interior();

	collect();
	CHECK(gch_weak_get(w_obj) != NULL, "interior pointer keeps object");
	CHECK(gch_base(h, interior) == gch_weak_get(w_obj), "base from interior");
	CHECK(gch_weak_get(w_hidden) == NULL,
	      "pointer stored in noscan object does not keep target");
	interior = NULL;
	gch_weak_free(w_obj);
	gch_weak_free(w_hidden);
}

/* A pointer that exists only in a callee-saved register during gch_gc(). */
static __attribute__((noinline)) int register_only(void)
{
	register uintptr_t r __asm__("rbx");
	gch_weak *w;
	int ok;

	r = (uintptr_t)gch_malloc(h, 24) ^ 0;
	__asm__ volatile("" : "+r"(r));
	w = gch_weak_new(h, (void *)r);
	/* from here the only copy is rbx (the weak ref hides its target) */
	r = ~r;
	__asm__ volatile("" : "+r"(r));
	r = ~r;
	__asm__ volatile("" : "+r"(r));
	gct_clear_stack();
	gch_gc(h);
	__asm__ volatile("" : "+r"(r));
	ok = gch_weak_get(w) == (void *)r;
	gch_weak_free(w);
	return ok;
}

static void test_registers(void)
{
	CHECK(register_only(), "pointer held only in a register survives");
}

static __attribute__((noinline)) gch_weak *make_large(unsigned char **keep)
{
	unsigned char *big = gch_malloc(h, 1 << 20);

	memset(big, 0x5a, 1 << 20);
	*keep = big;
	return gch_weak_new(h, big);
}

static void test_large(void)
{
	unsigned char **keep = calloc(1, sizeof(*keep));
	volatile uintptr_t hidden;	/* ~address: no pointer on the stack */
	gch_weak *w, *wd;
	struct gch_gc_stats a, b;
	bool ok = true;

	gch_add_roots(keep, sizeof(*keep), NULL);
	w = make_large(keep);
	wd = garbage(8, 200000);
	collect();
	collect();
	CHECK(gch_weak_get(w) == *keep, "live large object kept");
	CHECK((*keep)[(1 << 20) - 1] == 0x5a, "large contents");
	CHECK(gch_weak_get(wd) == NULL, "dead large object reclaimed");
	/*
	 * Every page of a span finds it (mark.c looks a pointer's span up
	 * in its own page's slot): a pointer into the last page alone keeps
	 * the object, and once it is gone no page of it finds a span.
	 */
	hidden = ~(uintptr_t)*keep;
	*keep += (1 << 20) - 1;
#define BIG	((uintptr_t)~hidden)
	for (size_t off = 0; off < (1 << 20); off += GCH_PAGE_SIZE)
		ok &= gch_span_of(h, BIG + off) == gch_span_of(h, BIG);
	CHECK(ok && gch_span_of(h, BIG), "every page finds the span");
	collect();
	collect();
	CHECK((uintptr_t)gch_weak_get(w) == BIG,
	      "a pointer into its last page keeps it");
	CHECK((uintptr_t)gch_base(h, *keep) == BIG, "base from its last page");
	gch_gc_stats(h, &a);
	*keep = NULL;
	collect();
	collect();
	gch_gc_stats(h, &b);
	CHECK(gch_weak_get(w) == NULL, "large object reclaimed once dropped");
	for (size_t off = 0; off < (1 << 20); off += GCH_PAGE_SIZE) {
		struct gch_span *s = gch_span_of(h, BIG + off);

		/* 0, or a new span that took the page since */
		ok &= !s || (s->state == GCH_SPAN_INUSE &&
			     s->base <= BIG + off &&
			     BIG + off < s->base +
			     ((uintptr_t)s->npages << GCH_PAGE_SHIFT));
	}
#undef BIG
	CHECK(ok, "no page of it finds the dead span");
	CHECK(b.heap_span_bytes < a.heap_span_bytes,
	      "its span went back (%llu -> %llu)",
	      (unsigned long long)a.heap_span_bytes,
	      (unsigned long long)b.heap_span_bytes);
	gch_remove_roots(keep, sizeof(*keep));
	free(keep);
	gch_weak_free(w);
	gch_weak_free(wd);
}

static atomic_int fin_calls[8];
static void *resurrected;	/* points at a registered malloc'ed word */

static void fin_count(void *obj, void *arg)
{
	(void)obj;
	atomic_fetch_add(&fin_calls[(uintptr_t)arg], 1);
}

static void fin_resurrect(void *obj, void *arg)
{
	*(void **)resurrected = obj;
	atomic_fetch_add(&fin_calls[(uintptr_t)arg], 1);
}

struct node {
	struct node *next;
	uint64_t payload;
};

static __attribute__((noinline)) void make_finalizable(void)
{
	struct node *a = gch_malloc(h, sizeof(*a));
	struct node *b = gch_malloc(h, sizeof(*b));
	struct node *r = gch_malloc(h, sizeof(*r));

	a->next = b;	/* a -> b: a must be finalized first */
	b->payload = 42;
	r->payload = 7;
	gch_set_finalizer(h, a, fin_count, (void *)1);
	gch_set_finalizer(h, b, fin_count, (void *)2);
	gch_set_finalizer(h, r, fin_resurrect, (void *)3);
	CHECK(gch_set_finalizer(h, (char *)a + 1, fin_count, NULL) == -1 &&
	      errno == EINVAL, "finalizer needs the object's start");
}

/* The pointers below pass through these frames only, never the test's,
 * whose registers would otherwise keep a stale copy for the collector. */
static __attribute__((noinline)) uint64_t payload_of(void **slot)
{
	return *slot ? ((struct node *)*slot)->payload : 0;
}

static __attribute__((noinline)) gch_weak *weak_and_clear(void **slot)
{
	gch_weak *w = gch_weak_new(h, *slot);

	*slot = NULL;
	return w;
}

static void test_finalizers(void)
{
	gch_weak *w;

	void **slot = calloc(1, sizeof(void *));

	gch_add_roots(slot, sizeof(*slot), NULL);
	resurrected = slot;
	make_finalizable();
	collect();
	gch_wait_finalizers(h);
	CHECK(fin_calls[1] == 1, "a finalized after one cycle (%d)", fin_calls[1]);
	CHECK(fin_calls[2] == 0, "b waits while a references it (%d)",
	      fin_calls[2]);
	CHECK(fin_calls[3] == 1, "r finalized (%d)", fin_calls[3]);
	CHECK(payload_of(slot) == 7, "resurrected object intact");
	collect();
	gch_wait_finalizers(h);
	CHECK(fin_calls[2] == 1, "b finalized once a is gone (%d)", fin_calls[2]);
	collect();
	collect();
	gch_wait_finalizers(h);
	CHECK(fin_calls[1] == 1 && fin_calls[2] == 1 && fin_calls[3] == 1,
	      "every finalizer ran exactly once (%d %d %d)", fin_calls[1],
	      fin_calls[2], fin_calls[3]);
	CHECK(payload_of(slot) == 7, "resurrected object survives later cycles");
	w = weak_and_clear(slot);
	collect();
	collect();
	CHECK(gch_weak_get(w) == NULL, "resurrected object reclaimed when dropped");
	gch_weak_free(w);
	gch_remove_roots(slot, sizeof(*slot));
	free(slot);
}

static gch_weak *w1, *w0;

static __attribute__((noinline)) uintptr_t *make_typed(void)
{
	uint64_t map = 0x2;	/* word 1 of each 2-word element */
	uintptr_t *arr = gch_malloc_typed(h, 64 * 16, &map, 2);
	void *t1 = gch_malloc(h, 40), *t0 = gch_malloc(h, 40);

	arr[63 * 2 + 1] = (uintptr_t)t1;	/* a pointer word */
	arr[63 * 2] = (uintptr_t)t0;		/* a data word: ignored */
	w1 = gch_weak_new(h, t1);
	w0 = gch_weak_new(h, t0);
	return arr;
}

static void test_typed(void)
{
	uintptr_t *volatile arr = make_typed();

	collect();
	CHECK(gch_weak_get(w1) != NULL, "typed pointer word keeps target");
	CHECK(gch_weak_get(w0) == NULL, "typed data word does not");
	arr[1] = 0;
	gch_weak_free(w1);
	gch_weak_free(w0);
}

/*
 * Objects over 4 KiB are scanned in 4 KiB oblets (mark.c), small and large
 * objects alike: a pointer in any oblet of a big array -- either side of
 * each oblet boundary, and the last word of a partial last oblet -- keeps
 * its target; in a typed array only the pointer words do, in every oblet.
 * Run on an array of a size class (3 oblets and a bit, about 12 KiB) and
 * on a large one (40 oblets and a bit, about 160 KiB).
 */
#define OBLET_WORDS	((4u << 10) / sizeof(void *))
#define BIG_SAMPLES	8
static gch_weak *big_live[2][BIG_SAMPLES], *big_dead[BIG_SAMPLES];

static size_t big_sample(unsigned i, size_t oblets, size_t words)
{
	const size_t at[BIG_SAMPLES] = {
		0, 2, OBLET_WORDS - 1, OBLET_WORDS, 2 * OBLET_WORDS - 2,
		2 * OBLET_WORDS, oblets * OBLET_WORDS, words - 1,
	};

	return at[i];
}

static __attribute__((noinline)) void *target(gch_weak **w, uintptr_t tag)
{
	uintptr_t *t = gch_malloc(h, 32);

	t[0] = tag;
	*w = gch_weak_new(h, t);
	return t;
}

static __attribute__((noinline)) void fill_big(void **conservative,
					       uintptr_t *typed, size_t oblets,
					       size_t words)
{
	for (unsigned i = 0; i < BIG_SAMPLES; i++) {
		size_t at = big_sample(i, oblets, words);

		/* typed: even words are data, odd words pointers */
		conservative[at] = target(&big_live[0][i], 0xb10 + i);
		typed[(at & ~(size_t)1) + 1] = (uintptr_t)target(
				&big_live[1][i], 0xb20 + i);
		typed[at & ~(size_t)1] = (uintptr_t)target(&big_dead[i], 0);
	}
}

static void test_large_pointers(size_t oblets)
{
	const size_t words = oblets * OBLET_WORDS + 5;
	uint64_t map = 0x2;
	void **volatile big = gch_malloc(h, words * sizeof(void *));
	uintptr_t *volatile typed = gch_malloc_typed(
			h, (words + 1) * sizeof(void *), &map, 2);
	unsigned kept = 0, dropped = 0;

	CHECK(big && typed, "large arrays: %s", strerror(errno));
	if (!big || !typed)
		return;
	fill_big(big, typed, oblets, words);
	collect();
	collect();
	for (unsigned i = 0; i < BIG_SAMPLES; i++) {
		uintptr_t *a = gch_weak_get(big_live[0][i]);
		uintptr_t *b = gch_weak_get(big_live[1][i]);

		kept += a && a[0] == 0xb10 + i && b && b[0] == 0xb20 + i;
		dropped += gch_weak_get(big_dead[i]) == NULL;
	}
	CHECK(kept == BIG_SAMPLES,
	      "%zu oblets: targets in every oblet kept: %u of %u", oblets,
	      kept, BIG_SAMPLES);
	CHECK(dropped >= BIG_SAMPLES - 1,	/* one may be a stale stack copy */
	      "%zu oblets: typed data words keep nothing: %u of %u freed",
	      oblets, dropped, BIG_SAMPLES);
	for (unsigned i = 0; i < BIG_SAMPLES; i++) {
		gch_weak_free(big_live[0][i]);
		gch_weak_free(big_live[1][i]);
		gch_weak_free(big_dead[i]);
	}
	big = NULL;
	typed = NULL;
}

/* Kernel backend: the phases reached the kernel (GCH_IOC_GC_PHASE). */
/*
 * The background sweeper leaves a cycle to the program's own allocations
 * for GC_SWEEP_DELAY_NS, then sweeps what is left: a heap that stops
 * allocating gets its dead spans back without another collection.  The
 * deadline is well under the sweeper's 1 s idle wait, so a sweeper that
 * missed its timed wake-up fails here.
 */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void *volatile chain;		/* data segment root; volatile, as
					 * nothing reads it */

/* n objects linked through their first word, reachable from chain. */
static __attribute__((noinline)) void build_chain(size_t n, size_t size)
{
	void *prev = NULL;

	for (size_t i = 0; i < n; i++) {
		void **p = gch_malloc(h, size);

		*p = prev;
		prev = p;
	}
	chain = prev;
}

/*
 * A stale word in a scanned frame (a dead slot, a spilled register) can
 * keep a few of the dead objects for one more cycle: conservative
 * scanning may retain, never free early.  The frames at hand shift with
 * the build (sanitizers) and the collector's own code.
 */
#define SLACK	8

static void test_background_sweep(void)
{
	struct gch_gc_stats a, b, c;
	int64_t t0, waited_ms;

	/* test_roots registered the data segments */
	build_chain(200000, 48);	/* 9.6 MB that survives the cycles it
					 * triggers, then dies all at once */
	collect();
	gch_gc_stats(h, &a);
	chain = NULL;
	collect();
	gch_gc_stats(h, &b);
	t0 = now_ms();
	do {
		usleep(5000);
		gch_gc_stats(h, &c);
		waited_ms = now_ms() - t0;
	} while (c.free_objects - a.free_objects < 200000 - SLACK &&
		 waited_ms < 900);
	printf("# background sweep: dead objects freed %lld ms after the cycle\n",
	       (long long)waited_ms);
	CHECK(c.free_objects - a.free_objects >= 200000 - SLACK,
	      "idle heap swept in the background (%llu freed after %lld ms)",
	      (unsigned long long)(c.free_objects - a.free_objects),
	      (long long)waited_ms);
	CHECK(c.cycles == b.cycles, "without another cycle (%llu, %llu)",
	      (unsigned long long)b.cycles, (unsigned long long)c.cycles);
	for (; c.heap_span_bytes + (8u << 20) > b.heap_span_bytes &&
	       waited_ms < 900; waited_ms = now_ms() - t0) {
		usleep(5000);
		gch_gc_stats(h, &c);
	}
	CHECK(c.heap_span_bytes + (8u << 20) <= b.heap_span_bytes,
	      "its empty spans returned (%llu -> %llu bytes in spans)",
	      (unsigned long long)b.heap_span_bytes,
	      (unsigned long long)c.heap_span_bytes);
}

static void test_kernel_phase(void)
{
	struct gch_stats ks = { .size = sizeof(ks) };
	struct gch_gc_stats st;
	int fd = gch_heap_kernel_fd(h);

	if (fd < 0) {
		printf("# host backend: no kernel to tell the phases\n");
		return;
	}
	collect();
	gch_gc_stats(h, &st);
	CHECK(ioctl(fd, GCH_IOC_STATS, &ks) == 0, "GCH_IOC_STATS");
	CHECK(ks.gc_cycle == st.cycles, "kernel saw cycle %llu of %llu",
	      (unsigned long long)ks.gc_cycle, (unsigned long long)st.cycles);
	CHECK(ks.heap_goal == st.heap_goal_bytes, "kernel goal %llu vs %llu",
	      (unsigned long long)ks.heap_goal,
	      (unsigned long long)st.heap_goal_bytes);
}

int main(void)
{
	struct gch_options o = { .size = sizeof(o) };

	h = gch_open(&o);
	if (!h) {
		printf("# gch_open: %s\n0 passed, 1 failed\n", strerror(errno));
		return 1;
	}
	printf("# gc_basic on the %s backend\n", gch_backend_name(h));
	test_reclaim();
	test_roots();
	test_interior_and_noscan();
	test_registers();
	test_large();
	test_large_pointers(3);
	test_large_pointers(40);
	test_finalizers();
	test_typed();
	test_background_sweep();
	test_kernel_phase();
	CHECK(gch_close(h) == 0, "close: %s", strerror(errno));
	return gct_summary();
}

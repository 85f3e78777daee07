// SPDX-License-Identifier: MIT
/*
 * compat_api_test - every entry point libgc.so.1 (gcheap) exports, called
 * as a bdwgc program calls it: compiled against Debian's <gc.h>, linked to
 * our libgc.so.1 (found through the runpath; the first check proves it is
 * ours and not Debian's).
 *
 * Whether an object was reclaimed is observed through finalizers (an
 * object whose finalizer ran was found unreachable) and through hidden
 * pointers (~p) that keep nothing alive.  Objects are made in noinline
 * helpers and the stack below is wiped before collecting, so that stale
 * copies on the stack (scanned conservatively, as bdwgc does) do not keep
 * them alive by accident.
 */
#define _GNU_SOURCE
#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat_test.h"

#define HIDE(p) (~(uintptr_t)(p))
/* gc.h declares the allocators malloc-like, so the compiler may assume
 * their result equals no existing object: compare through this. */
static NOINLINE uintptr_t addr(const void *p)
{
	uintptr_t v;

	__asm__("" : "=r"(v) : "0"(p));
	return v;
}
#define REVEAL(v) ((void *)~(v))

/* Finalizer bookkeeping: which objects (by tag) ran, in which GC_gcollect
 * round. */
#define MAXTAG 1024
static int fin_round[MAXTAG];
static int round_no = 1;
static int fin_count;

struct tagged {
	long tag;
	void *link;
};

static void GC_CALLBACK fin_record(void *obj, void *cd)
{
	struct tagged *t = obj;

	(void)cd;
	if (t->tag >= 0 && t->tag < MAXTAG)
		fin_round[t->tag] = round_no;
	fin_count++;
}

static NOINLINE uintptr_t make_finalizable(long tag, int atomic)
{
	struct tagged *t = atomic ? GC_malloc_atomic(sizeof(*t)) :
				    GC_malloc(sizeof(*t));

	t->tag = tag;
	GC_register_finalizer(t, fin_record, NULL, NULL, NULL);
	return HIDE(t);
}

static void rounds(int n)
{
	for (int i = 0; i < n; i++) {
		collect(1);
		round_no++;
	}
}

static void reset_fin(void)
{
	memset(fin_round, 0, sizeof(fin_round));
	fin_count = 0;
}

/* ---- init, version, the library loaded ----------------------------------- */

static void test_init(void)
{
	Dl_info info;
	const char *dir = getenv("GCH_COMPAT_DIR");
	const char *mode0 = getenv("GCHEAP_GCMODE");

	CHECK(!GC_is_init_called(), "initialised before GC_init");
	GC_init();
	GC_init();	/* idempotent */
	CHECK(GC_is_init_called(), "GC_init did not initialise");
	CHECK(GC_get_version() == (8u << 16 | 2u << 8 | 2u),
	      "version %#x", GC_get_version());
	CHECK(dladdr((void *)GC_malloc, &info) && info.dli_fname,
	      "dladdr(GC_malloc)");
	if (dir)
		CHECK(strstr(info.dli_fname, dir) != NULL,
		      "GC_malloc from %s, not %s", info.dli_fname, dir);
	/* the library latches its mode without a barrier, leaving ours be */
	CHECK((!mode0 && !getenv("GCHEAP_GCMODE")) ||
	      (mode0 && getenv("GCHEAP_GCMODE") &&
	       !strcmp(mode0, getenv("GCHEAP_GCMODE"))),
	      "GCHEAP_GCMODE changed in the program's environment");
	CHECK(GC_thread_is_registered(), "main thread not registered");
}

/* ---- the malloc family ------------------------------------------------- */

static int all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

static void test_malloc(void)
{
	char *p = GC_malloc(100), *q = GC_malloc(100);
	char *a = GC_malloc_atomic(1), *b = GC_malloc_atomic(5000);
	char *big = GC_malloc(1 << 20);
	int local;

	CHECK(p && q && p != q, "GC_malloc");
	CHECK(all_zero(p, 100) && all_zero(big, 1 << 20), "not zeroed");
	CHECK(GC_size(p) >= 101, "GC_size %zu: no extra byte", GC_size(p));
	CHECK(GC_base(p + 50) == p, "interior pointer");
	CHECK(GC_base(p + 100) == p, "one past the end must stay in it");
	CHECK(GC_base(&local) == NULL, "GC_base of the stack");
	CHECK(GC_is_heap_ptr(p) && !GC_is_heap_ptr(&local), "GC_is_heap_ptr");
	CHECK(a && GC_size(a) >= 16 && GC_base(a) == a, "atomic 1 byte");
	CHECK(b && GC_size(b) >= 5001, "atomic 5000");
	CHECK(GC_malloc(0) != NULL, "GC_malloc(0)");
	CHECK(GC_get_all_interior_pointers() == 1, "interior pointers off");
	GC_set_all_interior_pointers(0);	/* a superset stays known */
	GC_register_displacement(8);
	CHECK(GC_get_all_interior_pointers() == 0, "setting not kept");
	CHECK(GC_base(p + 8) == p, "interior pointer after displacement");
	GC_set_all_interior_pointers(1);
	CHECK(GC_malloc_atomic(0) != NULL, "GC_malloc_atomic(0)");

	char *s = GC_strdup("hello, world");
	CHECK(s && !strcmp(s, "hello, world"), "GC_strdup");
	CHECK(GC_strdup(NULL) == NULL, "GC_strdup(NULL)");
	s = GC_strndup("hello, world", 5);
	CHECK(s && !strcmp(s, "hello"), "GC_strndup");
	s = GC_strndup("hi", 50);
	CHECK(s && !strcmp(s, "hi"), "GC_strndup short");
}

/* Objects reached only through an interior pointer stay alive. */
static NOINLINE char *make_offpage(size_t n, int atomic, long mark)
{
	char *p = atomic ? GC_malloc_atomic_ignore_off_page(n) :
			   GC_malloc_ignore_off_page(n);

	memcpy(p, &mark, sizeof(mark));
	return p + n / 2;
}

static void test_ignore_off_page(void)
{
	char *in1 = make_offpage(200000, 0, 0x1111);
	char *in2 = make_offpage(100000, 1, 0x2222);
	long m1, m2;

	CHECK(all_zero(in1, 1000), "ignore_off_page not zeroed");
	for (int i = 0; i < 8; i++)	/* churn over the same memory */
		GC_malloc(1 << 20);
	collect(2);
	memcpy(&m1, in1 - 100000, sizeof(m1));
	memcpy(&m2, in2 - 50000, sizeof(m2));
	CHECK(m1 == 0x1111 && m2 == 0x2222, "interior-only object lost");
	CHECK(GC_base(in1) == in1 - 100000, "GC_base of a large object");
}

/* ---- collection, finalizers, kinds -------------------------------------- */

static void test_collect_reclaims(void)
{
	uintptr_t h[100];
	int n = 0;

	reset_fin();
	for (int i = 0; i < 100; i++)
		h[i] = make_finalizable(i, i & 1);
	rounds(3);
	for (int i = 0; i < 100; i++)
		n += fin_round[i] != 0;
	CHECK(n >= 90, "only %d of 100 unreachable objects finalized", n);
	(void)h;
}

/* A -> B, both finalizable: A's finalizer first, B's in a later round. */
static NOINLINE void make_pair(long ta, long tb, int cycle)
{
	struct tagged *a = GC_malloc(sizeof(*a)), *b = GC_malloc(sizeof(*b));

	a->tag = ta;
	b->tag = tb;
	a->link = b;
	if (cycle)
		b->link = a;
	GC_register_finalizer(a, fin_record, NULL, NULL, NULL);
	GC_register_finalizer(b, fin_record, NULL, NULL, NULL);
}

static void test_finalizer_order(void)
{
	int complete = 0, wrong = 0, cyc = 0;

	reset_fin();
	for (int i = 0; i < 50; i++)
		make_pair(100 + 2 * i, 101 + 2 * i, 0);
	for (int i = 0; i < 20; i++)
		make_pair(300 + 2 * i, 301 + 2 * i, 1);
	rounds(5);
	for (int i = 0; i < 50; i++) {
		int ra = fin_round[100 + 2 * i], rb = fin_round[101 + 2 * i];

		complete += ra && rb;
		wrong += rb && (!ra || rb <= ra);
	}
	for (int i = 0; i < 40; i++)
		cyc += fin_round[300 + i] != 0;
	CHECK(complete >= 40, "only %d of 50 chains finalized", complete);
	CHECK(wrong == 0, "%d referents finalized before their referrer",
	      wrong);
	CHECK(cyc == 0, "%d objects of finalizable cycles finalized", cyc);
}

/* Old fn/cd handed back; fn NULL unregisters. */
static void GC_CALLBACK fin_other(void *obj, void *cd)
{
	(void)obj;
	(void)cd;
	fin_count += 1000;
}

static NOINLINE uintptr_t make_reregistered(void)
{
	struct tagged *t = GC_malloc(sizeof(*t));
	GC_finalization_proc ofn = fin_other;
	void *ocd = (void *)1;
	int cd;

	t->tag = 600;
	GC_register_finalizer(t, fin_record, &cd, &ofn, &ocd);
	CHECK(ofn == NULL && ocd == NULL, "old values of a first registration");
	GC_register_finalizer(t, fin_other, NULL, &ofn, &ocd);
	CHECK(ofn == fin_record && ocd == &cd, "old fn/cd not handed back");
	GC_register_finalizer(t, NULL, NULL, &ofn, &ocd);
	CHECK(ofn == fin_other, "old fn on removal");
	return HIDE(t);
}

static void test_finalizer_unregister(void)
{
	int local;
	GC_finalization_proc ofn = fin_other;
	void *ocd = (void *)1;

	reset_fin();
	make_reregistered();
	rounds(3);
	CHECK(fin_count == 0, "unregistered finalizer ran (%d)", fin_count);
	GC_register_finalizer(&local, fin_record, NULL, &ofn, &ocd);
	CHECK(ofn == NULL && ocd == NULL, "non-heap object: old values");
}

/* The client data stays alive while the finalizer is registered. */
static void *resurrected;
static int cd_ok;

static void GC_CALLBACK fin_resurrect(void *obj, void *cd)
{
	cd_ok = cd && !strcmp(cd, "client data");
	resurrected = obj;
}

static NOINLINE void make_resurrecting(void)
{
	struct tagged *t = GC_malloc(sizeof(*t));
	char *cd = GC_malloc(64);

	t->tag = 4242;
	strcpy(cd, "client data");
	GC_register_finalizer(t, fin_resurrect, cd, NULL, NULL);
}

static void test_resurrection(void)
{
	make_resurrecting();
	for (int i = 0; i < 10; i++)	/* garbage over cd's old slot */
		memset(GC_malloc(64), 0x5a, 64);
	collect(3);
	CHECK(resurrected != NULL, "finalizer did not run");
	CHECK(cd_ok, "client data lost before the finalizer ran");
	collect(2);
	CHECK(resurrected && ((struct tagged *)resurrected)->tag == 4242 &&
	      GC_base(resurrected) == resurrected, "resurrected object freed");
	resurrected = NULL;
}

/* ---- disappearing links ---------------------------------------------- */

/*
 * Run @fn on a thread of its own, so that the objects it makes leave no
 * stale copies in this thread's registers or stack (scanned
 * conservatively): its stack is gone once it is joined.
 */
static void *thread_tramp(void *arg)
{
	((void (*)(void))arg)();
	return NULL;
}

static void on_thread(void (*fn)(void))
{
	pthread_t t;

	GC_pthread_create(&t, NULL, thread_tramp, (void *)fn);
	GC_pthread_join(t, NULL);
}

static void *keep[4];			/* data segment: a root */
static void **links;			/* atomic object: never scanned */
static uintptr_t hidden_link;		/* a disguised pointer, in .bss */
static void *link_at_fin = (void *)1;
static uintptr_t old_unreg, old_moved;

static void GC_CALLBACK fin_see_link(void *obj, void *cd)
{
	(void)obj;
	(void)cd;
	link_at_fin = links[0];
}

static void make_linked(void)
{
	struct tagged *t = GC_malloc(sizeof(*t));

	keep[0] = t;
	links[0] = t;
	hidden_link = HIDE(t);
	CHECK(GC_general_register_disappearing_link(&links[0], t) ==
	      GC_SUCCESS, "register");
	CHECK(GC_general_register_disappearing_link(&links[0], t) ==
	      GC_DUPLICATE, "register twice");
	CHECK(GC_general_register_disappearing_link((void **)&hidden_link,
						    t) == GC_SUCCESS,
	      "register a disguised link in .bss");
	GC_register_finalizer(t, fin_see_link, NULL, NULL, NULL);
}

static void test_link_cleared(void)
{
	links = GC_malloc_atomic(8 * sizeof(void *));
	on_thread(make_linked);
	collect(3);
	CHECK(links[0] == keep[0] && hidden_link == HIDE(keep[0]),
	      "link cleared while its object lives");
	CHECK(link_at_fin == (void *)1, "finalizer of a live object ran");
	keep[0] = NULL;
	collect(2);
	CHECK(links[0] == NULL, "link not cleared when its object died");
	CHECK(hidden_link == 0, "disguised link not cleared");
	CHECK(link_at_fin == NULL, "finalizer ran before the link was cleared"
	      " (%p)", link_at_fin);
	CHECK(GC_unregister_disappearing_link(&links[0]) == 0,
	      "a cleared link stays registered");
}

static void make_moved(void)
{
	struct tagged *t = GC_malloc(sizeof(*t)), *u = GC_malloc(sizeof(*u));

	keep[1] = t;
	links[1] = links[2] = u;
	old_unreg = HIDE(u);
	GC_general_register_disappearing_link(&links[1], u);
	CHECK(GC_unregister_disappearing_link(&links[1]) == 1, "unregister");
	CHECK(GC_unregister_disappearing_link(&links[1]) == 0,
	      "unregister twice");
	links[3] = links[5] = t;
	old_moved = HIDE(t);
	GC_general_register_disappearing_link(&links[3], t);
	CHECK(GC_move_disappearing_link(&links[3], &links[4]) == GC_SUCCESS,
	      "move");
	CHECK(GC_move_disappearing_link(&links[3], &links[4]) == GC_NOT_FOUND,
	      "move from an unregistered link");
	CHECK(GC_move_disappearing_link(&links[4], &links[4]) == GC_SUCCESS,
	      "move onto itself: registered");
	CHECK(GC_move_disappearing_link(&links[6], &links[6]) == GC_NOT_FOUND,
	      "move onto itself: not registered");
	GC_general_register_disappearing_link(&links[5], t);
	CHECK(GC_move_disappearing_link(&links[4], &links[5]) == GC_DUPLICATE,
	      "move onto another link");
	links[4] = t;
}

static void test_link_moved(void)
{
	on_thread(make_moved);
	keep[1] = NULL;
	collect(3);
	CHECK(HIDE(links[1]) == old_unreg && HIDE(links[2]) == old_unreg,
	      "unregistered link written");
	CHECK(HIDE(links[3]) == old_moved, "old place of a moved link written");
	CHECK(links[4] == NULL && links[5] == NULL, "moved link not cleared");
	CHECK(GC_unregister_disappearing_link(&links[4]) == 0 &&
	      GC_unregister_disappearing_link(&links[5]) == 0,
	      "cleared links forgotten");
}

/*
 * GC_register_disappearing_link(&a->p): a link inside a, cleared when a
 * is found unreachable, before finalization order is decided.  So a
 * finalizable cycle a <-> b whose a->p is such a link is finalized: b
 * first (it holds a), a a collection later, with a->p NULL.
 */
static int a_link_null = -1;

static void GC_CALLBACK fin_link_null(void *obj, void *cd)
{
	a_link_null = ((struct tagged *)obj)->link == NULL;
	fin_record(obj, cd);
}

static void make_link_cycle(void)
{
	struct tagged *a = GC_malloc(sizeof(*a)), *b = GC_malloc(sizeof(*b));

	a->tag = 700;
	b->tag = 701;
	a->link = b;
	b->link = a;
	CHECK(GC_register_disappearing_link(&a->link) == GC_SUCCESS,
	      "register inside");
	GC_register_finalizer(a, fin_link_null, NULL, NULL, NULL);
	GC_register_finalizer(b, fin_record, NULL, NULL, NULL);
}

static void test_link_breaks_cycle(void)
{
	reset_fin();
	on_thread(make_link_cycle);
	rounds(5);
	CHECK(fin_round[701] && fin_round[700] > fin_round[701],
	      "cycle with a link: b in round %d, a in round %d",
	      fin_round[701], fin_round[700]);
	CHECK(a_link_null == 1, "a finalized with its link not cleared (%d)",
	      a_link_null);
}

/* A link in an object that dies is dropped: its memory, reused, is not
 * written when the link's target dies later. */
static void make_dying_container(void)
{
	void **c = GC_malloc_atomic(16);

	keep[2] = GC_malloc(32);
	c[0] = keep[2];
	GC_general_register_disappearing_link(&c[0], keep[2]);
}

static void test_link_container_dies(void)
{
	uintptr_t **fill = GC_malloc_uncollectable(4000 * sizeof(*fill));
	int bad = 0;

	on_thread(make_dying_container);
	collect(2);
	for (int i = 0; i < 4000; i++) {
		fill[i] = GC_malloc_atomic(16);
		fill[i][0] = fill[i][1] = 0x5a5a5a5a;
	}
	keep[2] = NULL;
	collect(2);
	for (int i = 0; i < 4000; i++)
		bad += fill[i][0] != 0x5a5a5a5a;
	CHECK(bad == 0, "%d reused words cleared by a dead link", bad);
	GC_free(fill);
}

static void test_links(void)
{
	test_link_cleared();
	test_link_moved();
	test_link_breaks_cycle();
	test_link_container_dies();
}

/* ---- no-order and ignore-self finalizers -------------------------------- */

#define RING 10
static int ring_bad;

static void GC_CALLBACK fin_ring(void *obj, void *cd)
{
	struct tagged *t = obj, *next = t->link;

	(void)cd;
	/* its referent, finalized too, is still intact */
	if (!next || next->tag != 800 + (t->tag - 800 + 1) % RING)
		ring_bad++;
	fin_record(obj, cd);
}

static void make_ring(void)
{
	struct tagged *first = NULL, *prev = NULL;
	GC_finalization_proc ofn = fin_other;
	void *ocd = (void *)1;

	for (int i = 0; i < RING; i++) {
		struct tagged *t = GC_malloc(sizeof(*t));

		t->tag = 800 + i;
		if (prev)
			prev->link = t;
		else
			first = t;
		prev = t;
		GC_register_finalizer_no_order(t, fin_ring, NULL, &ofn, &ocd);
	}
	prev->link = first;
	CHECK(ofn == NULL && ocd == NULL, "old values, first no_order");
	GC_register_finalizer_no_order(first, fin_ring, (void *)2, &ofn,
				       &ocd);
	CHECK(ofn == fin_ring && ocd == NULL, "old values, no_order again");
	GC_register_finalizer_no_order(first, fin_ring, NULL, &ofn, &ocd);
}

/* self: a -> a (ignore_self: finalized); pair: a <-> b (never) */
static void make_selfish(void)
{
	struct tagged *a = GC_malloc(sizeof(*a)), *b = GC_malloc(sizeof(*b));
	struct tagged *c = GC_malloc(sizeof(*c));

	a->tag = 900;
	a->link = a;
	GC_register_finalizer_ignore_self(a, fin_record, NULL, NULL, NULL);
	b->tag = 901;
	c->tag = 902;
	b->link = c;
	c->link = b;
	GC_register_finalizer_ignore_self(b, fin_record, NULL, NULL, NULL);
	GC_register_finalizer_ignore_self(c, fin_record, NULL, NULL, NULL);
}

static void test_no_order(void)
{
	int n = 0, first = 0;

	reset_fin();
	on_thread(make_ring);
	on_thread(make_selfish);
	rounds(3);
	for (int i = 0; i < RING; i++) {
		n += fin_round[800 + i] != 0;
		first += fin_round[800 + i] == fin_round[800];
	}
	CHECK(n == RING, "%d of %d no-order ring members finalized", n, RING);
	CHECK(first == RING, "no-order ring finalized over several rounds");
	CHECK(ring_bad == 0, "%d no-order finalizers saw a lost referent",
	      ring_bad);
	CHECK(fin_round[900] != 0, "ignore_self: self-cycle not finalized");
	CHECK(!fin_round[901] && !fin_round[902],
	      "ignore_self: a two-object cycle finalized");
}

static int notified;
static void GC_CALLBACK notify(void)
{
	notified++;
}

static void test_on_demand(void)
{
	int n;

	reset_fin();
	GC_set_finalize_on_demand(1);
	GC_set_finalizer_notifier(notify);
	CHECK(GC_get_finalize_on_demand() == 1, "get_finalize_on_demand");
	CHECK(GC_get_finalizer_notifier() == notify, "get notifier");
	for (int i = 0; i < 20; i++)
		make_finalizable(700 + i, 0);
	rounds(2);
	CHECK(fin_count == 0, "finalizers ran on their own on demand");
	CHECK(notified > 0, "notifier not called");
	CHECK(GC_should_invoke_finalizers(), "nothing pending");
	n = GC_invoke_finalizers();
	CHECK(n >= 15 && fin_count == n, "invoked %d, ran %d", n, fin_count);
	CHECK(!GC_should_invoke_finalizers(), "still pending");
	GC_set_finalize_on_demand(0);
	GC_set_finalizer_notifier(NULL);
}

/* ---- uncollectable ------------------------------------------------------ */

static NOINLINE uintptr_t make_uncoll_holder(int atomic, long tag)
{
	void **u = atomic ? GC_malloc_atomic_uncollectable(64) :
			    GC_malloc_uncollectable(64);

	u[0] = REVEAL(make_finalizable(tag, 0));
	return HIDE(u);
}

static void test_uncollectable(void)
{
	uintptr_t u, ua;

	reset_fin();
	u = make_uncoll_holder(0, 800);
	ua = make_uncoll_holder(1, 801);
	rounds(3);
	CHECK(!fin_round[800], "referent of an uncollectable object freed");
	CHECK(fin_round[801], "atomic uncollectable object was scanned");
	CHECK(GC_base(REVEAL(u)) == REVEAL(u), "uncollectable object freed");
	CHECK(GC_base(REVEAL(ua)) == REVEAL(ua), "atomic uncollectable freed");
	GC_free(REVEAL(u));
	GC_free(REVEAL(ua));
	rounds(3);
	CHECK(fin_round[800], "GC_free(uncollectable) did not release it");
}

/* ---- GC_free and GC_realloc --------------------------------------------- */

static char *warned;
static void GC_CALLBACK warn_capture(char *msg, GC_word arg)
{
	(void)arg;
	warned = msg;
}

static void test_free(void)
{
	GC_warn_proc old = GC_get_warn_proc();
	void **p = GC_malloc(64);
	int local;

	GC_free(NULL);
	p[0] = p;
	GC_free(p);
	CHECK(p[0] == NULL, "a freed pointerful object keeps its pointers");
	GC_set_warn_proc(warn_capture);
	CHECK(GC_get_warn_proc() == warn_capture, "GC_get_warn_proc");
	GC_free(&local);
	CHECK(warned && strstr(warned, "GC Warning"), "no warning");
	GC_set_warn_proc(GC_ignore_warn_proc);
	GC_free(&local);	/* quietly */
	GC_set_warn_proc(old);
}

static void test_realloc(void)
{
	char *p = GC_realloc(NULL, 40), *q;
	size_t cap;

	CHECK(p != NULL, "GC_realloc(NULL)");
	strcpy(p, "0123456789");
	q = GC_realloc(p, 100000);
	CHECK(q && !strcmp(q, "0123456789"), "grown contents");
	CHECK(all_zero(q + 11, 100000 - 11), "grown tail not zero");
	cap = GC_size(q) - 1;
	CHECK(GC_realloc(q, cap - 10) == q, "in-place shrink moved");
	p = GC_realloc(q, 5);
	CHECK(p && p != q && !memcmp(p, "01234", 5), "small shrink");
	CHECK(GC_realloc(p, 0) == NULL, "GC_realloc(p, 0)");
}

/* Kinds survive GC_realloc: an atomic object's words keep nothing alive. */
static NOINLINE uintptr_t make_realloced(int atomic, long tag)
{
	void **p = atomic ? GC_malloc_atomic(16) : GC_malloc(16);

	p = GC_realloc(p, 4096);
	p[100] = REVEAL(make_finalizable(tag, 0));
	return HIDE(p);
}

static NOINLINE uintptr_t make_uncoll_realloced(long tag)
{
	void **p = GC_malloc_uncollectable(16);

	p = GC_realloc(p, 8192);
	p[200] = REVEAL(make_finalizable(tag, 0));
	return HIDE(p);
}

/* Globals the compiler must keep (static ones never read would go). */
void *volatile keep_normal;

static void test_realloc_kinds(void)
{
	uintptr_t n, u;

	reset_fin();
	n = make_realloced(0, 900);
	keep_normal = REVEAL(n);	/* a root: the data segment */
	make_realloced(1, 901);
	u = make_uncoll_realloced(902);
	rounds(3);
	CHECK(!fin_round[900], "pointerful object became atomic in realloc");
	CHECK(fin_round[901], "atomic object became pointerful in realloc");
	CHECK(!fin_round[902], "uncollectable lost in realloc");
	GC_free(REVEAL(u));
	keep_normal = NULL;
}

/* ---- out of memory, heap limits ----------------------------------------- */

static size_t oom_asked;
static char oom_block[64];
static void *GC_CALLBACK oom_handler(size_t n)
{
	oom_asked = n;
	return oom_block;
}

static void test_oom(void)
{
	GC_oom_func def = GC_get_oom_fn();

	CHECK(def != NULL, "no default oom fn");
	CHECK(GC_malloc((size_t)-1 / 2) == NULL, "huge malloc succeeded");
	GC_set_oom_fn(oom_handler);
	CHECK(GC_get_oom_fn() == oom_handler, "GC_get_oom_fn");
	CHECK(addr(GC_malloc((size_t)1 << 40)) == addr(oom_block),
	      "oom fn not used");
	CHECK(oom_asked == (size_t)1 << 40, "oom fn asked %zu", oom_asked);

	GC_set_max_heap_size(GC_get_heap_size() + (8 << 20));
	oom_asked = 0;
	CHECK(addr(GC_malloc(32 << 20)) == addr(oom_block),
	      "max heap size not enforced");
	CHECK(oom_asked == 32 << 20, "oom fn asked %zu", oom_asked);
	GC_set_max_heap_size(0);
	CHECK(addr(GC_malloc(32 << 20)) != addr(oom_block), "limit not lifted");
	GC_set_oom_fn(def);
}

/* ---- statistics, tuning -------------------------------------------------- */

static void test_stats(void)
{
	size_t total = GC_get_total_bytes();
	GC_word gc_no = GC_get_gc_no();

	for (int i = 0; i < 64; i++)
		GC_malloc_atomic(16384);
	CHECK(GC_get_total_bytes() >= total + 64 * 16384, "total bytes");
	CHECK(GC_get_heap_size() > 0, "heap size");
	CHECK(GC_get_free_bytes() <= GC_get_heap_size(), "free > heap");
	CHECK(GC_get_unmapped_bytes() == 0, "unmapped");
	GC_gcollect();
	CHECK(GC_get_gc_no() > gc_no, "gc_no did not move");
	GC_gcollect_and_unmap();
	CHECK(GC_get_gc_no() > gc_no + 1, "gcollect_and_unmap");
}

static void test_tuning(void)
{
	GC_word gc_no;

	GC_enable_incremental();
	CHECK(!GC_is_incremental_mode(), "incremental mode claimed");
	CHECK(GC_get_free_space_divisor() == 3, "default divisor");
	GC_set_free_space_divisor(4);
	CHECK(GC_get_free_space_divisor() == 4, "divisor");
	GC_disable();
	GC_disable();
	CHECK(GC_is_disabled(), "GC_is_disabled");
	gc_no = GC_get_gc_no();
	GC_gcollect();
	GC_enable();
	GC_gcollect();
	CHECK(GC_get_gc_no() == gc_no, "collected while disabled");
	GC_enable();
	CHECK(!GC_is_disabled(), "still disabled");
	GC_gcollect();
	CHECK(GC_get_gc_no() > gc_no, "not collecting after GC_enable");
	GC_set_free_space_divisor(3);
}

/* ---- roots --------------------------------------------------------------- */

void *volatile data_root;

static void test_roots(void)
{
	void **block = malloc(4096);	/* not scanned unless registered */

	reset_fin();
	memset(block, 0, 4096);
	GC_add_roots(block, block + 512);
	block[100] = REVEAL(make_finalizable(1000, 0));
	data_root = REVEAL(make_finalizable(1001, 0));
	rounds(3);
	CHECK(!fin_round[1000], "object referenced from added roots freed");
	CHECK(!fin_round[1001], "object referenced from a data root freed");
	GC_remove_roots(block, block + 512);
	data_root = NULL;
	rounds(3);
	CHECK(fin_round[1000], "removed roots still scanned");
	CHECK(fin_round[1001], "cleared data root still keeps it");
	free(block);
}

/* ---- threads ------------------------------------------------------------- */

static void *child(void *arg)
{
	long *v = arg;

	collect(2);	/* the argument must survive */
	return (void *)(intptr_t)(GC_thread_is_registered() && *v == 77 &&
				  GC_base(v) == v);
}

static NOINLINE int start_child(pthread_t *t)
{
	long *v = GC_malloc(sizeof(*v));

	*v = 77;
	return GC_pthread_create(t, NULL, child, v);
}

static void *exiting(void *arg)
{
	(void)arg;
	GC_pthread_exit((void *)42);
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(1000);
		pthread_testcancel();
	}
	return NULL;
}

static void *plain_thread(void *arg)
{
	struct GC_stack_base sb;
	int ok = 1;

	(void)arg;
	ok &= !GC_thread_is_registered();
	ok &= GC_get_stack_base(&sb) == GC_SUCCESS;
	ok &= GC_register_my_thread(&sb) == GC_SUCCESS;
	ok &= GC_register_my_thread(&sb) == GC_DUPLICATE;
	ok &= GC_thread_is_registered();
	ok &= GC_malloc(100) != NULL;
	ok &= GC_unregister_my_thread() == GC_SUCCESS;
	ok &= !GC_thread_is_registered();
	return (void *)(intptr_t)ok;
}

static void *with_sb(struct GC_stack_base *sb, void *arg)
{
	int local;

	return sb && (char *)sb->mem_base > (char *)&local ? arg : NULL;
}

static void *ident(void *x)
{
	return x;
}

static void test_threads(void)
{
	pthread_t t;
	void *ret = NULL;
	sigset_t set, cur;
	struct GC_stack_base sb;
	int local;

	GC_allow_register_threads();
	CHECK(start_child(&t) == 0, "GC_pthread_create");
	CHECK(GC_pthread_join(t, &ret) == 0 && ret == (void *)1,
	      "child lost its argument or was not registered");
	CHECK(GC_pthread_create(&t, NULL, exiting, NULL) == 0 &&
	      GC_pthread_join(t, &ret) == 0 && ret == (void *)42,
	      "GC_pthread_exit");
	CHECK(GC_pthread_create(&t, NULL, sleeper, NULL) == 0 &&
	      GC_pthread_cancel(t) == 0 && GC_pthread_join(t, &ret) == 0 &&
	      ret == PTHREAD_CANCELED, "GC_pthread_cancel");
	CHECK(GC_pthread_create(&t, NULL, ident, NULL) == 0 &&
	      GC_pthread_detach(t) == 0, "GC_pthread_detach");
	CHECK(pthread_create(&t, NULL, plain_thread, NULL) == 0 &&
	      pthread_join(t, &ret) == 0 && ret == (void *)1,
	      "register/unregister of a foreign thread");

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, GC_get_suspend_signal());
	sigaddset(&set, GC_get_thr_restart_signal());
	CHECK(GC_pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, "sigmask");
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	CHECK(sigismember(&cur, SIGUSR1) && !sigismember(&cur, SIGPWR) &&
	      !sigismember(&cur, SIGXCPU), "collector signals blocked");
	GC_pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	CHECK(GC_get_suspend_signal() == SIGPWR &&
	      GC_get_thr_restart_signal() == SIGXCPU, "signals");

	CHECK(GC_get_stack_base(&sb) == GC_SUCCESS &&
	      (char *)sb.mem_base > (char *)&local, "stack base");
	CHECK(GC_call_with_stack_base(with_sb, &local) == &local,
	      "GC_call_with_stack_base");
	CHECK(GC_do_blocking(ident, &local) == &local, "GC_do_blocking");
	CHECK(GC_call_with_gc_active(ident, &local) == &local,
	      "GC_call_with_gc_active");
	void *dl = GC_dlopen("libm.so.6", RTLD_NOW);
	CHECK(dl != NULL, "GC_dlopen");
	if (dl)
		dlclose(dl);
}

/* Four threads allocate, churn, realloc, use the uncollectable set and
 * register finalizers while the main thread collects: lists intact. */
static void GC_CALLBACK fin_count_only(void *obj, void *cd)
{
	(void)obj;
	(void)cd;
	__atomic_fetch_add(&fin_count, 1, __ATOMIC_RELAXED);
}

static void *churner(void *arg)
{
	struct tagged *head = NULL;
	long sum = 0, want = 0;

	(void)arg;
	for (long i = 0; i < 100000; i++) {
		struct tagged *t = GC_malloc(sizeof(*t));
		char *s = GC_malloc_atomic(40);

		t->tag = i;
		t->link = head;
		head = t;
		want += i;
		s = GC_realloc(s, 200);
		if (i % 500 == 0) {
			GC_free(GC_malloc_uncollectable(64));
			GC_register_finalizer(GC_malloc(32), fin_count_only,
					      NULL, NULL, NULL);
		}
		if (i % 25000 == 0) {
			head = NULL;
			want = 0;
		}
	}
	for (struct tagged *t = head; t; t = t->link)
		sum += t->tag;
	return (void *)(intptr_t)(sum == want ? 1 : 0);
}

static void test_threads_churn(void)
{
	pthread_t t[4];
	void *ret;
	int good = 0;

	reset_fin();
	for (int i = 0; i < 4; i++)
		GC_pthread_create(&t[i], NULL, churner, NULL);
	for (int i = 0; i < 10; i++)
		GC_gcollect();
	for (int i = 0; i < 4; i++)
		good += GC_pthread_join(t[i], &ret) == 0 && ret == (void *)1;
	collect(2);
	CHECK(good == 4, "%d of 4 threads' lists intact", good);
	CHECK(fin_count > 600, "only %d of 800 finalizers ran", fin_count);
}

/* ---- a model: a live list survives churn, and the heap stays bounded ---- */

struct node {
	struct node *next;
	long value;
	char *text;
};

static void test_model(void)
{
	struct node *head = NULL;
	long sum = 0, want = 0;
	int bad = 0;

	for (long i = 0; i < 20000; i++) {
		struct node *n = GC_malloc(sizeof(*n));

		n->value = i;
		n->text = GC_malloc_atomic(24);
		snprintf(n->text, 24, "node %ld", i);
		n->next = head;
		head = n;
		want += i;
		for (int j = 0; j < 8; j++)	/* garbage: ~150 MB */
			GC_malloc(j & 1 ? 1500 : 300);
	}
	GC_gcollect();
	for (struct node *n = head; n; n = n->next) {
		char buf[24];

		snprintf(buf, sizeof(buf), "node %ld", n->value);
		bad += strcmp(buf, n->text) != 0;
		sum += n->value;
	}
	CHECK(sum == want && bad == 0, "list damaged: sum %ld, %d bad", sum,
	      bad);
	CHECK(GC_get_heap_size() < (64u << 20), "heap %zu after churn",
	      GC_get_heap_size());
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_init();
	test_malloc();
	test_ignore_off_page();
	test_collect_reclaims();
	test_finalizer_order();
	test_finalizer_unregister();
	test_resurrection();
	test_links();
	test_no_order();
	test_on_demand();
	test_uncollectable();
	test_free();
	test_realloc();
	test_realloc_kinds();
	test_oom();
	test_stats();
	test_tuning();
	test_roots();
	test_threads();
	test_threads_churn();
	test_model();
	return report("compat_api_test");
}

// SPDX-License-Identifier: MIT
/*
 * compat_kinds_test - libgc.so.1's kinds and mark procedures, used as
 * Guile uses them: GC_new_kind with a GC_MAKE_PROC descriptor, the
 * procedure marking through GC_MARK_AND_PUSH, GC_generic_malloc for
 * predefined and custom kinds (length, bitmap and procedure
 * descriptors), GC_generic_malloc_many for gc_inline.h's free lists (a
 * pointer-free chain kept alive only by a procedure walking it), and
 * all-interior-pointers turned off before GC_init, as Guile does.
 * Compiled against Debian's <gc.h> and linked to our libgc.so.1;
 * reclamation is seen through finalizers, as in compat_api_test.
 */
#define _GNU_SOURCE
#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include <gc/gc_mark.h>
#include <gc/gc_inline.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat_test.h"


#define MAXTAG 512
static int fin_ran[MAXTAG];

static void GC_CALLBACK fin_tag(void *obj, void *cd)
{
	(void)obj;
	fin_ran[(intptr_t)cd] = 1;
}

/* A finalizable leaf of 16 bytes; fin_ran[tag] once it is reclaimed. */
static NOINLINE void *leaf(int tag)
{
	void *p = GC_malloc_atomic(16);

	fin_ran[tag] = 0;
	GC_register_finalizer(p, fin_tag, (void *)(intptr_t)tag, NULL, NULL);
	return p;
}

/* ---- a kind with a mark procedure -------------------------------------- */

static int proc_calls;
static GC_word proc_env;
static int walk_chain;		/* mark_pick also walks a chain from word 3 */

/* Marks word 1 only (not 2), as a precise procedure for a layout would. */
static struct GC_ms_entry *mark_pick(GC_word *addr, struct GC_ms_entry *msp,
				     struct GC_ms_entry *msl, GC_word env)
{
	proc_calls++;
	proc_env = env;
	msp = GC_MARK_AND_PUSH((void *)addr[1], msp, msl, NULL);
	if (walk_chain)
		for (void *c = (void *)addr[3]; c; c = *(void **)c)
			msp = GC_mark_and_push(c, msp, msl, NULL);
	else
		msp = GC_MARK_AND_PUSH((void *)addr[3], msp, msl, NULL);
	return msp;
}

static unsigned proc_kind;
GC_word *volatile keep;	/* the root the tests hang objects on */

/* Made and filled here, so that no register of the caller keeps it. */
static NOINLINE int make_pick(void)
{
	GC_word *o = GC_generic_malloc(4 * sizeof(GC_word), (int)proc_kind);

	if (!o)
		return 0;
	keep = o;
	o[1] = (GC_word)leaf(1);
	o[2] = (GC_word)leaf(2);
	return !o[0] && !o[3];
}

static void test_proc_kind(void)
{
	CHECK(make_pick(), "proc object not allocated or not zeroed");
	proc_calls = 0;
	collect(3);
	CHECK(proc_calls == 3, "procedure called %d times in 3 collections",
	      proc_calls);
	CHECK(proc_env == 42, "env %lu", (unsigned long)proc_env);
	CHECK(!fin_ran[1], "what the procedure marked was reclaimed");
	CHECK(fin_ran[2], "a word the procedure skipped kept its object");
	keep = NULL;
	collect(3);
	CHECK(fin_ran[1], "the procedure's object, unreachable, still marked");
}

static NOINLINE void make_big_proc(void)
{
	GC_word *o = GC_generic_malloc(300 << 10, (int)proc_kind);

	keep = o;
	o[1] = (GC_word)leaf(3);
	o[30000] = (GC_word)leaf(4);	/* past the first 128 KiB */
}

/* A large object is one procedure call, not one per 128 KiB piece. */
static void test_proc_large(void)
{
	make_big_proc();
	proc_calls = 0;
	collect(2);
	CHECK(proc_calls == 2, "%d calls for 2 collections", proc_calls);
	CHECK(!fin_ran[3], "the large object's marked word lost its object");
	CHECK(fin_ran[4], "an unmarked word of it kept its object");
	keep = NULL;
}

/* ---- layouts by descriptor, predefined kinds ----------------------------- */

static NOINLINE void fill_words(GC_word *o, int tag0, int n)
{
	for (int i = 0; i < n; i++)
		o[i] = (GC_word)leaf(tag0 + i);
}

static void check_layout(int k, const char *what, const int *kept, int n,
			 int tag0)
{
	GC_word *o = GC_generic_malloc((size_t)n * sizeof(GC_word), k);

	CHECK(o != NULL, "%s", what);
	if (!o)
		return;
	keep = o;
	fill_words(o, tag0, n);
	collect(3);
	for (int i = 0; i < n; i++)
		CHECK(fin_ran[tag0 + i] == !kept[i], "%s: word %d %s", what,
		      i, kept[i] ? "lost its object" : "kept its object");
	keep = NULL;
}

static void test_layouts(void)
{
	static const int all[4] = { 1, 1, 1, 1 }, none[4] = { 0 },
			 two[4] = { 1, 1, 0, 0 }, bm[4] = { 1, 0, 1, 0 };
	unsigned k_len = GC_new_kind(GC_new_free_list(), 16, 0, 1);
	unsigned k_all = GC_new_kind(GC_new_free_list(), 0, 1, 1);
	unsigned k_bm = GC_new_kind(GC_new_free_list(),
				    (GC_word)1 << 63 | (GC_word)1 << 61 |
				    GC_DS_BITMAP, 0, 1);

	check_layout(GC_I_NORMAL, "NORMAL", all, 4, 10);
	check_layout(GC_I_PTRFREE, "PTRFREE", none, 4, 20);
	check_layout((int)k_len, "length 16", two, 4, 30);
	check_layout((int)k_all, "length 0 + size", all, 4, 40);
	check_layout((int)k_bm, "bitmap 101", bm, 4, 50);
}

static NOINLINE uintptr_t make_uncollectable(void)
{
	void *p = GC_generic_malloc(32, 2);

	GC_register_finalizer(p, fin_tag, (void *)(intptr_t)60, NULL, NULL);
	return ~(uintptr_t)p;
}

static void test_uncollectable_kind(void)
{
	uintptr_t hidden = make_uncollectable();

	fin_ran[60] = 0;
	collect(3);
	CHECK(!fin_ran[60], "an uncollectable object was reclaimed");
	GC_free((void *)~hidden);
}

/* ---- GC_generic_malloc_many ---------------------------------------------- */

static NOINLINE int tag_chain(void *list, int tag0)
{
	int n = 0;

	for (void *c = list; c; c = *(void **)c, n++) {
		fin_ran[tag0 + n] = 0;
		GC_register_finalizer_no_order(c, fin_tag,
				      (void *)(intptr_t)(tag0 + n),
				      NULL, NULL);
	}
	return n;
}

static int count_ran(int tag0, int n)
{
	int r = 0;

	for (int i = 0; i < n; i++)
		r += fin_ran[tag0 + i];
	return r;
}

void *normal_list;	/* global: a root the compiler keeps stores to */

static void test_many_normal(void)
{
	int n, bad = 0;

	GC_generic_malloc_many(16, GC_I_NORMAL, &normal_list);
	CHECK(normal_list != NULL, "no objects");
	n = tag_chain(normal_list, 100);
	CHECK(n >= 2 && n <= 256, "%d objects", n);
	for (void *c = normal_list; c; c = *(void **)c)
		bad += GC_size(c) < 16 || ((void **)c)[1] != NULL;
	CHECK(!bad, "%d objects too small or not zeroed", bad);
	collect(2);
	CHECK(count_ran(100, n) == 0, "%d of a traced chain reclaimed",
	      count_ran(100, n));
	normal_list = NULL;
	collect(2);
	CHECK(count_ran(100, n) == n, "%d of %d of a dropped chain reclaimed",
	      count_ran(100, n), n);
}

/*
 * gc_inline.h's rule for pointer-free kinds: the links are not traced, so
 * whoever holds the list marks it (Guile's thread_mark).  A procedure
 * object walking the chain keeps all of it; without the walk only the
 * head (marked as word 3) survives.
 */
static void test_many_ptrfree(void)
{
	GC_word *holder = GC_generic_malloc(4 * sizeof(GC_word),
					    (int)proc_kind);
	void *list = NULL;
	int n;

	keep = holder;
	GC_generic_malloc_many(32, GC_I_PTRFREE, &list);
	holder[3] = (GC_word)list;
	n = tag_chain(list, 300);
	list = NULL;
	CHECK(n >= 2, "%d objects", n);
	walk_chain = 1;
	collect(2);
	CHECK(count_ran(300, n) == 0, "%d of a walked chain reclaimed",
	      count_ran(300, n));
	walk_chain = 0;
	collect(2);
	CHECK(!fin_ran[300] && count_ran(300, n) == n - 1,
	      "head %s, %d of %d reclaimed without the walk",
	      fin_ran[300] ? "reclaimed" : "kept", count_ran(300, n), n);
	keep = NULL;
}

/*
 * Batches past a window (a span's 64 slots) and a span: every object of
 * every call distinct, of at least the size asked, zeroed but for the
 * link.  The pointerful chains are kept in a traced array, so that
 * collections in between lose none; the pointer-free ones are made with
 * no collection in between (their links are not traced).
 */
#define MANY_CALLS	40
static void *chains[2][MANY_CALLS];

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return (x > y) - (x < y);
}

static void test_many_batches(void)
{
	static uintptr_t all[2 * MANY_CALLS * 256];
	size_t n = 0, bad = 0, dup = 0;

	for (int k = 0; k < 2; k++)
		for (int i = 0; i < MANY_CALLS; i++) {
			size_t lb = k ? 48 : 80;

			GC_generic_malloc_many(lb, k ? GC_I_PTRFREE :
					       GC_I_NORMAL, &chains[k][i]);
			for (void *c = chains[k][i]; c; c = *(void **)c) {
				bad += GC_size(c) < lb ||
				       !GC_is_heap_ptr(c) ||
				       ((char *)c)[lb - 1] != 0;
				if (n < sizeof(all) / sizeof(all[0]))
					all[n++] = (uintptr_t)c;
			}
			/* a pointer-free chain's links keep nothing */
			if (!k && i % 8 == 0)
				collect(1);
		}
	qsort(all, n, sizeof(all[0]), cmp_ptr);
	for (size_t i = 1; i < n; i++)
		dup += all[i] < all[i - 1] + 48;
	CHECK(n >= 2 * MANY_CALLS * 2, "%zu objects in %d calls", n,
	      2 * MANY_CALLS);
	CHECK(!bad, "%zu objects too small, outside the heap or not zeroed",
	      bad);
	CHECK(!dup, "%zu objects overlap", dup);
	memset(chains, 0, sizeof(chains));
}

static void test_misc(void)
{
	void **fl = GC_new_free_list();
	struct GC_ms_entry *msp = (struct GC_ms_entry *)&fl;
	char *o = GC_malloc(16);

	CHECK(fl && !fl[0] && !fl[128], "free list not zeroed");
	CHECK(GC_mark_and_push(o, msp, msp + 1, NULL) == msp,
	      "outside marking it must change nothing");
	CHECK(GC_size(o) == 16, "GC_size %zu: an extra byte with interior"
	      " pointers off", GC_size(o));
	CHECK(GC_base(o + 15) == o, "interior pointer");
	CHECK(GC_generic_malloc_ignore_off_page(64, (int)proc_kind) != NULL,
	      "ignore_off_page");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	GC_set_all_interior_pointers(0);	/* as Guile, before init */
	GC_INIT();
	proc_kind = GC_new_kind(GC_new_free_list(),
				GC_MAKE_PROC(GC_new_proc(mark_pick), 42), 0, 1);
	test_proc_kind();
	test_proc_large();
	test_layouts();
	test_uncollectable_kind();
	test_many_normal();
	test_many_ptrfree();
	test_many_batches();
	test_misc();
	return report("compat_kinds_test");
}

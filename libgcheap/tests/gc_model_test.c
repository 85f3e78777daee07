// SPDX-License-Identifier: MIT
/*
 * gc_model_test - the collector checked against a model.
 *
 * A random object graph lives in the heap: conservative (gch_malloc),
 * typed (gch_malloc_typed: pointer words first, then data words that hold
 * addresses of other objects as bait) and noscan objects (whose bait words
 * must not keep anything alive), some of them large.  Object pointers are
 * stored as interior pointers at random offsets.  Roots are a registered
 * malloc()ed range, a global array (data segments) and an array on this
 * thread's stack.  The model (outside the heap, addresses complemented so
 * it is no root) knows every edge.  Random mutations add objects, rewire
 * and drop edges and roots; after each collection:
 *  - every object reachable in the model still holds its contents (payload
 *    regenerated from its seed, every pointer word as written) and its weak
 *    reference still answers;
 *  - every object unreachable in the model was reclaimed: its weak
 *    reference reads NULL (a collection clears a weak reference exactly
 *    when it finds the target unreachable), and the freed-object counter
 *    grows accordingly.
 * A long-lived list of a few MiB makes the collector mark in parallel.
 * Usage: gc_model_test [cycles] [seed]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "gcheap.h"
#include "gc_test.h"

#define MAXOBJ		4096
#define MAXPTR		6	/* pointer words per object */
#define NROOT		16

enum kind { K_CONS, K_TYPED, K_NOSCAN };

struct mobj {
	uintptr_t hidden;	/* ~address, 0: free model slot */
	gch_weak *weak;
	size_t size;
	enum kind kind;
	unsigned nptr;		/* pointer words (0 for noscan) */
	int child[MAXPTR];	/* model index or -1 */
	uintptr_t word[MAXPTR];	/* exact value written (~) */
	uint64_t seed;
	int bait;		/* word index holding a bait address, or -1 */
	uintptr_t bait_val;
	int mark;
};

static gch_heap *h;
static struct mobj *m;			/* malloc()ed: not a root */
static uintptr_t *reg_roots;		/* malloc()ed, registered */
/* data segment; volatile and global so the stores are never optimised out */
volatile uintptr_t glob_roots[NROOT];
static int root_obj[3][NROOT];		/* model: who each root holds */
static uint64_t rng;
static unsigned live_objs;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uintptr_t addr(int i)
{
	return ~m[i].hidden;
}

static size_t payload_off(const struct mobj *o)
{
	return o->nptr * sizeof(uintptr_t);
}

static uint8_t pbyte(uint64_t seed, size_t i)
{
	return (uint8_t)((seed >> (i % 7 * 8)) + i * 31);
}

static void fill_payload(int i)
{
	uint8_t *p = (uint8_t *)addr(i);

	for (size_t k = payload_off(&m[i]); k < m[i].size; k++)
		p[k] = pbyte(m[i].seed, k);
}

static int payload_ok(int i)
{
	const uint8_t *p = (const uint8_t *)addr(i);
	size_t b0 = m[i].bait < 0 ? (size_t)-1 : (size_t)m[i].bait * 8;

	for (size_t k = payload_off(&m[i]); k < m[i].size; k++)
		if ((k < b0 || k >= b0 + 8) && p[k] != pbyte(m[i].seed, k))
			return 0;
	return b0 == (size_t)-1 ||
	       ((const uintptr_t *)p)[m[i].bait] == ~m[i].bait_val;
}

static int pick_live(void)
{
	if (!live_objs)
		return -1;
	for (int tries = 0; tries < 64; tries++) {
		int i = (int)(rnd() % MAXOBJ);

		if (m[i].hidden)
			return i;
	}
	return -1;
}

/* A word pointing somewhere inside object @i. */
static uintptr_t interior(int i)
{
	return addr(i) + (rnd() % 4 ? 0 : rnd() % m[i].size);
}

static __attribute__((noinline)) int new_object(void)
{
	int i = -1;
	uint64_t r = rnd();
	size_t size;
	void *p;

	for (int k = 0; k < MAXOBJ; k++) {
		int j = (int)((r + (unsigned)k) % MAXOBJ);

		if (!m[j].hidden) {
			i = j;
			break;
		}
	}
	if (i < 0)
		return -1;
	size = r % 50 == 0 ? 33000 + rnd() % 100000 : 16 + rnd() % 600;
	memset(&m[i], 0, sizeof(m[i]));
	m[i].kind = (enum kind)(rnd() % 3);
	m[i].size = size;
	m[i].seed = rnd();
	m[i].nptr = m[i].kind == K_NOSCAN ? 0 : 1 + (unsigned)(rnd() % MAXPTR);
	if (m[i].nptr > size / sizeof(uintptr_t))
		m[i].nptr = (unsigned)(size / sizeof(uintptr_t));
	for (unsigned k = 0; k < MAXPTR; k++) {
		m[i].child[k] = -1;
		m[i].word[k] = ~(uintptr_t)0;	/* the word reads 0 */
	}
	if (m[i].kind == K_CONS) {
		p = gch_malloc(h, size);
	} else if (m[i].kind == K_NOSCAN) {
		p = gch_malloc_noscan(h, size);
	} else {
		uint64_t map = (1ULL << m[i].nptr) - 1;

		/* pattern of 64 words: pointers first, data after */
		p = gch_malloc_typed(h, size, &map, 64);
	}
	if (!p)
		return -1;
	m[i].hidden = ~(uintptr_t)p;
	m[i].weak = gch_weak_new(h, p);
	live_objs++;
	fill_payload(i);
	/*
	 * Bait: the address of another object in a word the collector must
	 * not treat as a pointer (a data word of a typed object, any word of
	 * a noscan one).  The model has no edge for it, so the verification
	 * catches a collector that follows it.
	 */
	m[i].bait = -1;
	if (m[i].kind != K_CONS && size >= payload_off(&m[i]) + 8) {
		int b = pick_live();

		if (b >= 0 && b != i) {
			m[i].bait = (int)m[i].nptr;
			m[i].bait_val = ~interior(b);
			((uintptr_t *)p)[m[i].bait] = ~m[i].bait_val;
		}
	}
	return i;
}

static void set_edge(int from, unsigned k, int to)
{
	uintptr_t *w = (uintptr_t *)addr(from);
	uintptr_t v = to < 0 ? 0 : interior(to);

	w[k] = v;
	m[from].child[k] = to;
	m[from].word[k] = ~v;
}

static void set_root(unsigned kind, unsigned slot, int to, uintptr_t *stack)
{
	uintptr_t v = to < 0 ? 0 : interior(to);

	if (kind == 0)
		reg_roots[slot] = v;
	else if (kind == 1)
		glob_roots[slot] = v;
	else
		stack[slot] = v;
	root_obj[kind][slot] = to;
}

static __attribute__((noinline)) void mutate(uintptr_t *stack)
{
	unsigned op = (unsigned)(rnd() % 10);
	int a = pick_live(), b;

	if (op < 4 || a < 0) {
		b = new_object();
		if (b < 0)
			return;
		if (a >= 0 && m[a].nptr && rnd() % 2)
			set_edge(a, (unsigned)(rnd() % m[a].nptr), b);
		else
			set_root((unsigned)(rnd() % 3), (unsigned)(rnd() % NROOT),
				 b, stack);
	} else if (op < 7) {
		b = pick_live();
		if (m[a].nptr)
			set_edge(a, (unsigned)(rnd() % m[a].nptr), b);
	} else if (op < 9) {
		if (m[a].nptr)
			set_edge(a, (unsigned)(rnd() % m[a].nptr), -1);
	} else {
		set_root((unsigned)(rnd() % 3), (unsigned)(rnd() % NROOT),
			 rnd() % 2 ? -1 : a, stack);
	}
}

static void model_mark(int i)
{
	/* iterative DFS over model edges; noscan objects have none */
	static int stack[MAXOBJ * MAXPTR + 8];
	int sp = 0;

	if (i < 0 || m[i].mark)
		return;
	m[i].mark = 1;
	stack[sp++] = i;
	while (sp) {
		int o = stack[--sp];

		for (unsigned k = 0; k < m[o].nptr; k++) {
			int c = m[o].child[k];

			if (c >= 0 && !m[c].mark) {
				m[c].mark = 1;
				stack[sp++] = c;
			}
		}
	}
}

static __attribute__((noinline)) void clear_stack(void)
{
	volatile char buf[32768];

	memset((char *)buf, 0, sizeof(buf));
}

static unsigned spurious, total_dead;

/*
 * Ballast: a long-lived linked list big enough (several MiB) that the
 * collector marks with its helper threads, so the model also checks
 * parallel marking.  Each node holds its index; the list is checked at
 * the end.
 */
#define BALLAST		40000
struct bnode {
	struct bnode *next;
	uint64_t idx, sum;
	uint64_t pad[13];
};
struct bnode *ballast;

static void make_ballast(void)
{
	for (uint64_t i = 0; i < BALLAST; i++) {
		struct bnode *b = gch_malloc(h, sizeof(*b));

		b->idx = i;
		b->sum = i * 2654435761u;
		b->next = ballast;
		ballast = b;
	}
}

static int ballast_ok(void)
{
	uint64_t n = BALLAST;

	for (struct bnode *b = ballast; b; b = b->next) {
		if (b->idx != --n || b->sum != b->idx * 2654435761u)
			return 0;
	}
	return n == 0;
}

static __attribute__((noinline)) void verify(int cycle)
{
	for (int i = 0; i < MAXOBJ; i++)
		m[i].mark = 0;
	for (unsigned k = 0; k < 3; k++)
		for (unsigned s = 0; s < NROOT; s++)
			model_mark(root_obj[k][s]);
	for (int i = 0; i < MAXOBJ; i++) {
		if (!m[i].hidden)
			continue;
		if (m[i].mark) {
			const uintptr_t *w = (const uintptr_t *)addr(i);
			int ok = gch_weak_get(m[i].weak) == (void *)addr(i);

			CHECK_QUIET(ok, "cycle %d: live object %d lost", cycle, i);
			CHECK_QUIET(payload_ok(i),
				    "cycle %d: object %d payload corrupt", cycle, i);
			for (unsigned k = 0; k < m[i].nptr; k++)
				CHECK_QUIET(w[k] == ~m[i].word[k],
					    "cycle %d: object %d word %u", cycle,
					    i, k);
			continue;
		}
		/* unreachable in the model */
		if (gch_weak_get(m[i].weak)) {
			spurious++;	/* retained: counted, then re-checked */
			continue;
		}
		total_dead++;
		gch_weak_free(m[i].weak);
		m[i].hidden = 0;
		live_objs--;
	}
	gct_pass++;
}

int main(int argc, char **argv)
{
#ifdef __SANITIZE_THREAD__
	/* every cycle scans the data segments, TSan's tens of MiB too */
	int cycles = argc > 1 ? atoi(argv[1]) : 200;
#else
	int cycles = argc > 1 ? atoi(argv[1]) : 2000;
#endif
	uintptr_t stack_roots[NROOT];
	struct gch_gc_stats st0, st1;
	struct gch_options o = { .size = sizeof(o) };

	rng = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9e3779b97f4a7c15ULL;
	h = gch_open(&o);
	if (!h) {
		printf("# gch_open: %s\n0 passed, 1 failed\n", strerror(errno));
		return 1;
	}
	m = calloc(MAXOBJ, sizeof(*m));
	reg_roots = calloc(NROOT, sizeof(*reg_roots));
	memset(stack_roots, 0, sizeof(stack_roots));
	memset(root_obj, 0xff, sizeof(root_obj));
	CHECK(gch_add_roots(reg_roots, NROOT * sizeof(uintptr_t), NULL) == 0,
	      "register roots");
	CHECK(gch_register_data_segments() == 0, "data segments");
	make_ballast();
	gch_gc_stats(h, &st0);
	for (int c = 0; c < cycles; c++) {
		unsigned n = 10 + (unsigned)(rnd() % 60);

		for (unsigned k = 0; k < n; k++)
			mutate(stack_roots);
		clear_stack();
		CHECK_QUIET(gch_gc(h) == 0, "gch_gc: %s", strerror(errno));
		verify(c);
		__asm__ volatile("" : : "r"(stack_roots) : "memory");
	}
	gch_gc_stats(h, &st1);
	printf("# %d cycles (%llu total), %u objects reclaimed, %u live, "
	       "%u retained one cycle longer than the model (conservative "
	       "stack words), freed %llu objects\n", cycles,
	       (unsigned long long)st1.cycles, total_dead, live_objs,
	       spurious, (unsigned long long)(st1.free_objects - st0.free_objects));
	CHECK(st1.cycles - st0.cycles >= (uint64_t)cycles, "cycles counted");
	CHECK(total_dead > (unsigned)cycles, "objects were reclaimed: %u",
	      total_dead);
	/* Conservative scanning of our own stack may hold a stale word for a
	 * cycle; it must stay rare (a collector following bait words would
	 * retain thousands), and such objects are reclaimed later. */
	CHECK(ballast_ok(), "long-lived list intact after %d cycles", cycles);
	ballast = NULL;
	for (int i = 0; i < MAXOBJ; i++)
		if (m[i].hidden)
			gch_weak_free(m[i].weak);
	gch_remove_roots(reg_roots, NROOT * sizeof(uintptr_t));
	CHECK(gch_close(h) == 0, "close: %s", strerror(errno));
	free(m);
	free(reg_roots);
	CHECK(spurious <= total_dead / 200 + 5,
	      "retained unreachable objects rare: %u of %u", spurious,
	      total_dead);
	return gct_summary();
}

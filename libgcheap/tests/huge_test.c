// SPDX-License-Identifier: MIT
/*
 * Objects larger than an arena (64 MiB): spans across arenas, on both
 * backends in the same run (the in-process one always, the kernel one when
 * /dev/gcheap exists, i.e. in the VM).
 *
 * Per backend: the page map of such a span (every page, on both sides of
 * every arena boundary, names the head and the length; gch_span_of from any
 * page finds the span), first fit and coalescing across boundaries (a span
 * freed and asked for again, or a longer one, lands at the same page), and
 * objects allocated, written, read, collected and allocated again (the
 * recycled memory reads zero), scanned objects whose pointers in far arenas
 * keep their targets alive, interior pointers into far arenas keeping the
 * whole object alive, and the hard limit refusing an object over it.
 *
 * Sizes: 100 MiB objects everywhere (freed as soon as checked); 1 GiB ones
 * only in the project's VM (hostname gcheap-vm, 2 GiB guest): on a shared
 * host a test does not take a gigabyte.
 */
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "gc_test.h"

#define MiB	(1024ULL * 1024)

static gch_heap *h;

/* The guest scripts/vm boots names itself gcheap-vm. */
static bool in_project_vm(void)
{
	char name[64] = "";

	return !gethostname(name, sizeof(name) - 1) &&
	       !strcmp(name, "gcheap-vm");
}

#define collect()	gct_collect(h)

/* Every page's entry is the span's; the span is found from any page. */
static void check_map(const struct gch_span *s)
{
	uint64_t want = GCH_PME_MAKE(s->page, s->npages);
	bool ok = true;

	for (uint32_t i = 0; i < s->npages; i++)
		ok &= h->pagemap[s->page + i] == want;
	CHECK(ok, "all %u entries of span at page %u", s->npages, s->page);
	for (uint32_t i = 0; i < s->npages; i += 1 + i % 4093) {
		uintptr_t a = s->base + ((uintptr_t)i << GCH_PAGE_SHIFT);

		CHECK_QUIET(gch_span_of(h, a) == s, "gch_span_of page +%u", i);
	}
	/* the pages on both sides of the first boundary it crosses */
	uint32_t b = (s->page / GCH_PAGES_PER_ARENA + 1) * GCH_PAGES_PER_ARENA;

	CHECK(b < s->page + s->npages, "the span crosses a boundary");
	CHECK(gch_span_of(h, h->base + ((uintptr_t)b << GCH_PAGE_SHIFT) - 1) ==
	      s && gch_span_of(h, h->base + ((uintptr_t)b << GCH_PAGE_SHIFT)) ==
	      s, "found on both sides of the boundary at page %u", b);
	CHECK(gch_span_of(h, s->base + ((uintptr_t)s->npages << GCH_PAGE_SHIFT)
			  - 1) == s, "found from its last byte");
}

/* Spans through the internal API: map, first fit, coalescing. */
static void test_span(uint64_t bytes)
{
	uint32_t n = (uint32_t)(bytes >> GCH_PAGE_SHIFT), page;
	struct gch_span *s, *small;

	s = gch_span_new(h, gch_spanclass(0, 1), n);
	CHECK(s != NULL, "span of %u pages: %s", n, strerror(errno));
	if (!s)
		return;
	page = s->page;
	check_map(s);
	CHECK(s->base == h->base + ((uintptr_t)page << GCH_PAGE_SHIFT),
	      "flat address");
	((volatile char *)s->base)[0] = 1;
	((volatile char *)s->base)[bytes - 1] = 1;
	gch_span_release(h, &s, 1);
	CHECK(h->pagemap[page] == 0 && h->pagemap[page + n - 1] == 0,
	      "entries cleared on free");

	/* freed, coalesced across the boundaries: first fit finds it again */
	s = gch_span_new(h, gch_spanclass(0, 1), n);
	CHECK(s && s->page == page, "same span again (%u, want %u)",
	      s ? s->page : 0, page);
	if (s)
		gch_span_release(h, &s, 1);
	/* a longer one too: the run goes on to the top of the heap */
	s = gch_span_new(h, gch_spanclass(0, 1), n + GCH_PAGES_PER_ARENA / 2);
	CHECK(s && s->page == page, "longer span at the same page (%u)",
	      s ? s->page : 0);
	if (s) {
		check_map(s);
		gch_span_release(h, &s, 1);
	}
	/* a small span never crosses a boundary on its own */
	small = gch_span_new(h, gch_spanclass(0, 1), GCH_PAGES_PER_ARENA);
	CHECK(small && small->page % GCH_PAGES_PER_ARENA == 0,
	      "arena-sized span starts an arena (%u)", small ? small->page : 1);
	if (small)
		gch_span_release(h, &small, 1);
}

/* Touch every 4 KiB of [p, p + n) with @v, or check it reads @v. */
static bool fill(unsigned char *p, uint64_t n, unsigned char v, bool check)
{
	bool ok = true;

	for (uint64_t i = 0; i < n; i += 4096) {
		if (check)
			ok &= p[i] == v;
		else
			p[i] = v;
	}
	if (check)
		ok &= p[n - 1] == v;
	else
		p[n - 1] = v;
	return ok;
}

static __attribute__((noinline)) gch_weak *make_garbage(uint64_t bytes,
							uintptr_t *addr)
{
	unsigned char *p = gch_malloc_noscan(h, bytes);

	CHECK(p != NULL, "%llu MiB noscan: %s",
	      (unsigned long long)(bytes / MiB), strerror(errno));
	if (!p)
		return NULL;
	CHECK(gch_size(h, p) >= bytes && gch_base(h, p + bytes - 1) == p,
	      "size and base from the last byte");
	CHECK(fill(p, bytes, 0, true), "new object reads zero");
	fill(p, bytes, 0xa5, false);
	CHECK(fill(p, bytes, 0xa5, true), "contents kept");
	*addr = ~(uintptr_t)p;	/* hidden from the conservative scan */
	return gch_weak_new(h, p);
}

/* The object again where the dead one was; its pointer dies with the frame. */
static __attribute__((noinline)) void make_again(uint64_t bytes,
						 uintptr_t addr)
{
	unsigned char *q = gch_malloc_noscan(h, bytes);

	CHECK(q != NULL, "allocated again: %s", strerror(errno));
	if (!q)
		return;
	/* its old place is free again: first fit goes no higher */
	CHECK((uintptr_t)q <= ~addr, "first fit reuses the place (%p, %#lx)",
	      (void *)q, (unsigned long)~addr);
	CHECK(fill(q, bytes, 0, true), "recycled memory reads zero");
}

/* Allocate, use, collect and allocate again. */
static void test_object(uint64_t bytes)
{
	struct gch_heap_stats a, b;
	uintptr_t addr = 0;
	gch_weak *w;

	collect();
	gch_stats(h, &a);
	w = make_garbage(bytes, &addr);
	if (!w)
		return;
	collect();
	collect();
	gch_stats(h, &b);
	CHECK(gch_weak_get(w) == NULL, "dead huge object collected");
	CHECK(b.span_bytes < a.span_bytes + bytes,
	      "its span went back (%llu -> %llu)",
	      (unsigned long long)a.span_bytes,
	      (unsigned long long)b.span_bytes);
	gch_weak_free(w);

	make_again(bytes, addr);
	collect();
	collect();
}

static void **volatile root;	/* data segment; volatile: only written */
static gch_weak *w_lo, *w_mid, *w_hi, *w_big;

static __attribute__((noinline)) void make_scanned(uint64_t bytes)
{
	void **big = gch_malloc(h, bytes);
	size_t n = bytes / sizeof(void *);

	CHECK(big != NULL, "scanned %llu MiB: %s",
	      (unsigned long long)(bytes / MiB), strerror(errno));
	if (!big)
		return;
	big[0] = gch_malloc(h, 64);
	big[n / 2] = gch_malloc(h, 64);
	big[n - 1] = gch_malloc(h, 64);
	w_lo = gch_weak_new(h, big[0]);
	w_mid = gch_weak_new(h, big[n / 2]);
	w_hi = gch_weak_new(h, big[n - 1]);
	w_big = gch_weak_new(h, big);
	/* an interior pointer into the last arena is the only root */
	root = (void **)((char *)big + bytes - 40);
}

/*
 * Drop the huge object's last pointer.  Out of line, so that the caller's
 * frame and callee-saved registers never hold the object's address: the
 * caller's "big = NULL" was a dead store the compiler dropped, and a
 * conservative scan of the register it stayed in kept the whole object
 * (and what it points to) alive in one run under the debug kernel.
 */
static __attribute__((noinline)) void drop_last(uint64_t bytes)
{
	void **big = gch_weak_get(w_big);

	if (big)
		big[bytes / sizeof(void *) - 1] = NULL;
}

/* Pointers anywhere in a huge object are found; interior pointers hold it. */
static void test_scanned(uint64_t bytes)
{
	make_scanned(bytes);
	if (!w_big)
		return;
	collect();
	CHECK(gch_weak_get(w_big) != NULL, "interior pointer holds it");
	CHECK(gch_weak_get(w_lo) && gch_weak_get(w_mid) && gch_weak_get(w_hi),
	      "its targets in every arena survive");
	drop_last(bytes);
	collect();
	collect();
	CHECK(gch_weak_get(w_hi) == NULL, "a dropped pointer's target dies");
	CHECK(gch_weak_get(w_mid) != NULL, "the others stay");
	root = NULL;
	collect();
	collect();
	CHECK(gch_weak_get(w_big) == NULL && gch_weak_get(w_lo) == NULL &&
	      gch_weak_get(w_mid) == NULL, "all of it dies with its root");
	gch_weak_free(w_lo);
	gch_weak_free(w_mid);
	gch_weak_free(w_hi);
	gch_weak_free(w_big);
	w_big = NULL;
}

/* The hard limit refuses an object over it and nothing else. */
static void test_limit(enum gch_backend b)
{
	struct gch_options o = { .size = sizeof(o), .backend = b,
				 .hard_limit_bytes = 96 * MiB };
	struct gch_heap_stats st;
	gch_heap *l = gch_open(&o);
	void *p;

	CHECK(l != NULL, "heap with a limit: %s", strerror(errno));
	if (!l)
		return;
	errno = 0;
	p = gch_malloc_noscan(l, 100 * MiB);
	CHECK(p == NULL && errno == ENOMEM, "100 MiB over a 96 MiB limit");
	gch_stats(l, &st);
	CHECK(st.limit_hits > 0 && st.arenas < 3,
	      "refused by the limit (%llu hits), no arena grown for it (%llu)",
	      (unsigned long long)st.limit_hits,
	      (unsigned long long)st.arenas);
	p = gch_malloc_noscan(l, 80 * MiB);
	CHECK(p != NULL, "80 MiB under it: %s", strerror(errno));
	p = NULL;
	(void)p;
	CHECK(gch_close(l) == 0, "close");
	/* a heap of 2 arenas holds no object over 128 MiB */
	o.hard_limit_bytes = 0;
	o.max_arenas = 2;
	l = gch_open(&o);
	CHECK(l != NULL, "heap of 2 arenas");
	if (!l)
		return;
	errno = 0;
	CHECK(gch_malloc_noscan(l, 129 * MiB) == NULL && errno == ENOMEM,
	      "beyond the heap's address space");
	CHECK(gch_malloc_noscan(l, 120 * MiB) != NULL, "within it: %s",
	      strerror(errno));
	CHECK(gch_close(l) == 0, "close");
	/* a request that can never fit creates no arena on its way to fail */
	o.max_arenas = 0;
	l = gch_open(&o);
	CHECK(l != NULL, "default heap");
	if (!l)
		return;
	CHECK(gch_malloc_noscan(l, 1) != NULL, "a small object first");
	errno = 0;
	CHECK(gch_malloc_noscan(l, GCH_MAX_OBJECT) == NULL && errno == ENOMEM,
	      "the whole address space, with a page of it in use");
	gch_stats(l, &st);
	CHECK(st.arenas == 1, "no arena made for it (%llu)",
	      (unsigned long long)st.arenas);
	CHECK(gch_close(l) == 0, "close");
}

/*
 * A fresh heap of backend @b in h; false (and why) if
 * the backend cannot be tested here.
 */
static bool open_for(enum gch_backend b, const char *name)
{
	struct gch_options o = { .size = sizeof(o), .backend = b };

	h = gch_open(&o);
	if (!h) {
		if (b == GCH_BACKEND_KERNEL && errno == ENOENT) {
			printf("# %s backend: no /dev/gcheap, skipped\n", name);
			return false;
		}
		CHECK(h != NULL, "open %s: %s", name, strerror(errno));
		return false;
	}
	if (b == GCH_BACKEND_KERNEL &&
	    !(gch_heap_kernel_features(h) & GCH_FEAT_CROSS_SPANS)) {
		printf("# %s backend: module without GCH_FEAT_CROSS_SPANS\n",
		       name);
		CHECK(gch_malloc_noscan(h, 65 * MiB) == NULL && errno == ENOMEM,
		      "an old module refuses objects over an arena");
		gch_close(h);
		return false;
	}
	return true;
}

static void run(enum gch_backend b, const char *name, bool big)
{
	uint64_t sizes[2] = { 100 * MiB, 1024 * MiB };

	/* a heap per size: closing it gives all its memory back (the 2 GiB
	 * guest holds one touched gigabyte at a time, not two) */
	for (unsigned i = 0; i < (big ? 2u : 1u); i++) {
		if (!open_for(b, name))
			return;
		printf("# %s backend, %llu MiB\n", name,
		       (unsigned long long)(sizes[i] / MiB));
		test_span(sizes[i]);
		test_object(sizes[i]);
		test_scanned(sizes[i]);
		CHECK(gch_close(h) == 0, "close: %s", strerror(errno));
	}
	test_limit(b);
}

int main(void)
{
	bool big = in_project_vm();

	/* both backends, whatever the environment asks for */
	unsetenv("GCHEAP_BACKEND");
	CHECK(gch_register_data_segments() == 0, "data segments");
	if (!big)
		printf("# not in the project VM: 1 GiB objects skipped\n");
	run(GCH_BACKEND_HOST, "host", big);
	run(GCH_BACKEND_KERNEL, "kernel", big);
	return gct_summary();
}

// SPDX-License-Identifier: MIT
/*
 * Typed allocation: the pointer bitmap is recorded per word (pattern
 * repeated over the object), the slot is marked typed, pointer-free layouts
 * become noscan objects, bad arguments are EINVAL.
 */
#include "internal.h"
#include "harness.h"

static gch_heap *h;

static int ptrbit(struct gch_span *s, uintptr_t addr)
{
	size_t w = (addr - s->base) / 8;

	return (int)((s->ptrbits[w / 64] >> (w % 64)) & 1);
}

static int typedbit(struct gch_span *s, uintptr_t addr)
{
	uint32_t i = gch_span_index(s, addr);

	return (int)((s->typedbits[i / 64] >> (i % 64)) & 1);
}

static void t_small_typed(void)
{
	const uint64_t map = 0x5;	/* words 0 and 2 of 3 are pointers */
	unsigned char *p = gch_malloc_typed(h, 3 * 8 * 4, &map, 3); /* 4 elems */
	unsigned char *q = gch_malloc(h, 96);
	struct gch_span *s;

	EXPECT(p && q);
	if (!p || !q)
		return;
	s = gch_span_of(h, (uintptr_t)p);
	EXPECT(s && !(s->spanclass & 1) && s->ptrbits);
	for (int w = 0; w < 12; w++)
		EXPECTF(ptrbit(s, (uintptr_t)p + 8 * w) == (w % 3 != 1),
			"word %d", w);
	EXPECT(typedbit(s, (uintptr_t)p));
	EXPECT(gch_span_of(h, (uintptr_t)q) != s || !typedbit(s, (uintptr_t)q));
	for (int i = 0; i < 96; i++)
		EXPECT(p[i] == 0);
}

static void t_large_typed(void)
{
	uint64_t map[2] = { ~0ULL, 0x1 };	/* 65-word type, all but... */
	size_t n = 65 * 8 * 100;		/* 52000 B: large */
	unsigned char *p = gch_malloc_typed(h, n, map, 65);
	struct gch_span *s;
	int ok = 1;

	EXPECT(p);
	if (!p)
		return;
	s = gch_span_of(h, (uintptr_t)p);
	EXPECT(s && s->nelems == 1 && s->ptrbits && typedbit(s, (uintptr_t)p));
	for (size_t w = 0; w < n / 8; w++)
		ok &= ptrbit(s, (uintptr_t)p + 8 * w) == 1;
	EXPECT(ok);
	map[0] = 0x2;
	map[1] = 0;
	p = gch_malloc_typed(h, n, map, 65);
	s = gch_span_of(h, (uintptr_t)p);
	ok = 1;
	for (size_t w = 0; w < n / 8; w++)
		ok &= ptrbit(s, (uintptr_t)p + 8 * w) == (w % 65 == 1);
	EXPECT(ok);
}

static void t_pointer_free(void)
{
	const uint64_t none = 0xf0;	/* bits past nwords do not count */
	void *p = gch_malloc_typed(h, 64, &none, 4);
	struct gch_span *s = p ? gch_span_of(h, (uintptr_t)p) : NULL;

	EXPECT(s && (s->spanclass & 1));
	errno = 0;
	EXPECT(gch_malloc_typed(h, 64, NULL, 4) == NULL && errno == EINVAL);
	errno = 0;
	EXPECT(gch_malloc_typed(h, 64, &none, 0) == NULL && errno == EINVAL);
}

int main(void)
{
	static const struct tcase cases[] = {
		{ "small typed object: per-word bits repeat, typed bit", t_small_typed },
		{ "large typed object with a 65-word pattern", t_large_typed },
		{ "pointer-free layout is noscan; bad args EINVAL", t_pointer_free },
	};
	int r;

	h = open_heap(0);
	printf("# backend %s\n", gch_backend_name(h));
	r = RUN("typed", cases);
	gch_close(h);
	return r;
}

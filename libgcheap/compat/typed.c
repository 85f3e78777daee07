// SPDX-License-Identifier: MIT
/*
 * typed.c - bdwgc's typed allocation (gc_typed.h) over gch_malloc_typed.
 *
 * A bdwgc descriptor is a bitmap of the words of an object that may hold
 * pointers, over its first len words; words past len hold none.  libgcheap
 * takes the same thing (a pointer bitmap) but repeats it over the object,
 * so an allocation passes a bitmap as long as the object itself, the
 * descriptor's bits followed by zeroes.  GC_calloc_explicitly_typed is an
 * array of elements of the descriptor's type, which is exactly libgcheap's
 * repeating pattern (when the element size is a whole number of words).
 *
 * Descriptors: one word, as bdwgc's.  Bit 0 set: the bitmap is inline in
 * bits 1..63 (layouts whose last pointer word is below 63, nearly all of
 * them).  Bit 0 clear: a pointer to an immutable record {len, bits[]} kept
 * for the life of the process (bdwgc's extended descriptors are never freed
 * either; the header asks for one descriptor per type, not per object).
 * Descriptor 0, which GC_make_descriptor never returns, and records that
 * could not be allocated (bdwgc's "conservative approximation") scan every
 * word, as GC_malloc does.
 *
 * As GC_malloc's, typed objects are one byte longer than asked unless the
 * program turned all-interior-pointers off (malloc.c), and zeroed.  Locking: none; descriptors are immutable once made.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#pragma GCC visibility push(default)
#include <gc/gc_typed.h>
#pragma GCC visibility pop

#define INLINE_BITS	63	/* bitmap words an inline descriptor holds */
#define STACK_WORDS	64	/* bitmaps up to 4096 object words on the stack */

struct descr_rec {
	size_t len;		/* words described; the last one is a pointer */
	uint64_t bits[];
};

/* The number of meaningful words: the last set bit + 1 (0: no pointers). */
static size_t trimmed_len(const GC_word *bm, size_t len)
{
	while (len && !((bm[(len - 1) / 64] >> ((len - 1) % 64)) & 1))
		len--;
	return len;
}

GC_descr GC_make_descriptor(const GC_word *bm, size_t len)
{
	struct descr_rec *r;
	size_t n = trimmed_len(bm, len);

	if (n < INLINE_BITS)
		return (GC_descr)((n ? bm[0] & ((1ULL << n) - 1) : 0) << 1 | 1);
	r = malloc(sizeof(*r) + (n + 63) / 64 * sizeof(uint64_t));
	if (!r)
		return 0;	/* every word a pointer: conservative */
	r->len = n;
	memcpy(r->bits, bm, (n + 63) / 64 * sizeof(uint64_t));
	if (n % 64)
		r->bits[n / 64] &= (1ULL << (n % 64)) - 1;
	return (GC_descr)r;
}

/*
 * Fill @map (@nwords bits, zeroed by the caller) with @d's layout: the
 * descriptor's words, then no pointers.  False for the conservative
 * descriptor 0.
 */
static bool descr_fill(GC_descr d, uint64_t *map, size_t nwords)
{
	const struct descr_rec *r = (const struct descr_rec *)d;
	size_t n;

	if (!d)
		return false;
	if (d & 1) {
		map[0] = (uint64_t)d >> 1;
		if (nwords < 64)
			map[0] &= (1ULL << nwords) - 1;
		return true;
	}
	n = r->len < nwords ? r->len : nwords;
	memcpy(map, r->bits, n / 64 * sizeof(uint64_t));
	if (n % 64)
		map[n / 64] = r->bits[n / 64] & ((1ULL << (n % 64)) - 1);
	return true;
}

/* A typed allocation: the descriptor and the words it repeats over. */
struct typed_req {
	GC_descr d;
	size_t elem_words;	/* 0: the whole object is one element */
};

/* One try at @asked bytes (plus the extra byte) laid out by *@arg. */
static void *typed_try(gch_heap *h, size_t asked, const void *arg)
{
	const struct typed_req *r = arg;
	uint64_t stack_map[STACK_WORDS] = { 0 };
	size_t bytes = compat_granules(asked + compat_extra_bytes());
	size_t nwords = r->elem_words ? r->elem_words : (bytes + 7) / 8;
	uint64_t *map = stack_map;
	void *p;

	if (nwords > STACK_WORDS * 64) {
		map = calloc((nwords + 63) / 64, sizeof(uint64_t));
		if (!map)
			return NULL;
	}
	if (descr_fill(r->d, map, nwords))
		p = gch_malloc_typed(h, bytes, map, nwords);
	else
		p = gch_malloc(h, bytes);
	if (map != stack_map)
		free(map);
	return p;
}

static void *typed_alloc(size_t bytes, GC_descr d, size_t elem_words)
{
	struct typed_req r = { .d = d, .elem_words = elem_words };

	if (bytes >= SIZE_MAX - 8)
		return compat_oom(bytes);
	return compat_alloc_retry(typed_try, bytes, &r);
}

void *GC_malloc_explicitly_typed(size_t bytes, GC_descr d)
{
	return typed_alloc(bytes, d, 0);
}

/* Every interior pointer counts here (malloc.c): the hint changes nothing. */
void *GC_malloc_explicitly_typed_ignore_off_page(size_t bytes, GC_descr d)
{
	return typed_alloc(bytes, d, 0);
}

/*
 * An array of @n elements of @size bytes laid out by @d.  An element size
 * that is not a whole number of words cannot repeat a word bitmap: such
 * an array is scanned conservatively, every word, which keeps at least
 * what the layout would.  Overflow of n * size fails as bdwgc's does,
 * through the oom fn.
 */
void *GC_calloc_explicitly_typed(size_t n, size_t size, GC_descr d)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes))
		return compat_oom(SIZE_MAX);
	if (!bytes)
		return typed_alloc(0, d, 0);
	if (size % 8)
		return typed_alloc(bytes, 0, 0);
	return typed_alloc(bytes, d, size / 8);
}

// SPDX-License-Identifier: MIT
/*
 * Span bitmaps (Go's gcBits): each span gets one block holding its alloc,
 * mark and typed bits, ceil(nelems / 64) words each, so a span's metadata is
 * as small as its object count allows (a 16 B-class span needs 3 x 64 B of
 * bits, a large object's 3 x 8 B) instead of room for 1024 objects.
 *
 * Blocks are bumped out of 64 KiB mmap'ed chunks owned by the heap and
 * recycled through one free list per block size (1..16 words per bitmap);
 * chunks go back to the system only at gch_close().  Keeping them out of
 * the heap's arenas means the collector never finds them as objects.
 *
 * Locking: h->lock protects the chunk list, the bump pointer and the free
 * lists (callers hold it: span creation and release already do).
 */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define BITS_CHUNK_BYTES	(64 * 1024)

/* A block for a span of @w words per bitmap (3 * w words), or NULL. */
uint64_t *gch_bits_alloc(struct gch_heap *h, uint32_t w)
{
	size_t bytes = 3 * (size_t)w * sizeof(uint64_t);
	uint64_t *p;

	gch_assert_held(&h->lock);
	assert(w >= 1 && w <= GCH_BITMAP_WORDS);
	p = h->bits_free[w];
	if (p) {
		h->bits_free[w] = *(uint64_t **)p;
		return p;
	}
	if (h->bits_left < bytes) {
		void **ch = mmap(NULL, BITS_CHUNK_BYTES, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (ch == MAP_FAILED)
			return NULL;
		/* the chunk's first word links the chunks for gch_close */
		ch[0] = h->bits_chunks;
		h->bits_chunks = ch;
		h->bits_bump = (char *)ch + sizeof(uint64_t);
		h->bits_left = BITS_CHUNK_BYTES - sizeof(uint64_t);
	}
	p = (uint64_t *)h->bits_bump;
	h->bits_bump += bytes;
	h->bits_left -= bytes;
	return p;
}

void gch_bits_free(struct gch_heap *h, uint64_t *p, uint32_t w)
{
	gch_assert_held(&h->lock);
	*(uint64_t **)p = h->bits_free[w];
	h->bits_free[w] = p;
}

/* At gch_close: every chunk back to the system. */
void gch_bits_destroy(struct gch_heap *h)
{
	while (h->bits_chunks) {
		void **ch = h->bits_chunks;

		h->bits_chunks = ch[0];
		munmap(ch, BITS_CHUNK_BYTES);
	}
	memset(h->bits_free, 0, sizeof(h->bits_free));
	h->bits_bump = NULL;
	h->bits_left = 0;
}

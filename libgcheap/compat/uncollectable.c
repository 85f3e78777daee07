// SPDX-License-Identifier: MIT
/*
 * uncollectable.c - the set of uncollectable objects
 * (GC_malloc_uncollectable and friends, and thread start records).
 *
 * bdwgc never reclaims these and scans them like roots; GC_free makes them
 * ordinary.  Here the set is an open-addressing table of plain pointers
 * that is itself a pointerful heap object (gch_malloc), reached from one
 * static word registered with gch_add_roots.  A collection therefore marks
 * every member, and scans it as its kind says (pointerful members
 * conservatively, atomic ones not at all) -- exactly bdwgc's treatment.
 *
 * Invariants: slots hold NULL (never used), TOMB (deleted) or a member;
 * used + tombs stays under half the capacity (a power of two), so probes
 * end.  count mirrors the number of members for lock-free "empty" checks
 * on the GC_free/GC_realloc paths.  The table is replaced, never resized
 * in place.  No store needs a barrier: libgc.so.1's collector has none
 * (core_glue.c); the root is a registered range, scanned again in a
 * concurrent cycle's last pause, and stores into the table dirty its
 * pages, which that cycle scans again.
 *
 * Locking: set_lock serialises every access; a growth allocates under it
 * (a collection that starts then only waits for this thread to park).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "compat.h"

#define TOMB ((void *)1)

static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static void **table;		/* the root: a heap object */
static size_t cap, used, tombs;
static atomic_size_t count;

int compat_uncoll_init(void)
{
	return gch_add_roots(&table, sizeof(table), NULL);
}

static size_t slot_of(const void *p, size_t n)
{
	uint64_t k = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL;

	return (size_t)(k >> 32) & (n - 1);
}

/* The slot holding @p, or the first free slot of its probe (NULL or TOMB
 * seen first), or SIZE_MAX for a full probe (cannot happen: load < 1/2). */
static size_t probe(void **t, size_t n, const void *p, bool for_insert)
{
	size_t i = slot_of(p, n), first_free = SIZE_MAX;

	for (size_t step = 0; step < n; step++, i = (i + 1) & (n - 1)) {
		if (t[i] == p)
			return i;
		if (t[i] == TOMB && first_free == SIZE_MAX)
			first_free = i;
		if (!t[i])
			return for_insert && first_free != SIZE_MAX ?
			       first_free : i;
	}
	return first_free;
}

/* A fresh table of @n slots holding the members; drops the tombs. */
static int rebuild(size_t n)
{
	void **t = gch_malloc(compat_heap(), n * sizeof(*t));

	if (!t)
		return -1;
	for (size_t i = 0; i < cap; i++)
		if (table[i] && table[i] != TOMB)
			t[probe(t, n, table[i], true)] = table[i];
	table = t;
	cap = n;
	tombs = 0;
	return 0;
}

int compat_uncoll_add(void *p)
{
	size_t i;
	int r = 0;

	pthread_mutex_lock(&set_lock);
	if (2 * (used + tombs + 1) > cap)
		r = rebuild(cap && 4 * used < cap ? cap : (cap ? 2 * cap : 64));
	if (!r) {
		i = probe(table, cap, p, true);
		if (table[i] != p) {
			tombs -= table[i] == TOMB;
			table[i] = p;
			used++;
			atomic_fetch_add(&count, 1);
		}
	}
	pthread_mutex_unlock(&set_lock);
	if (r)
		errno = ENOMEM;
	return r;
}

/* set_lock held: @p's index in the table, or SIZE_MAX if it is not in. */
static size_t find_locked(const void *p)
{
	size_t i;

	if (!cap)
		return SIZE_MAX;
	i = probe(table, cap, p, false);
	return i != SIZE_MAX && table[i] == p ? i : SIZE_MAX;
}

bool compat_uncoll_del(void *p)
{
	size_t i;

	if (!atomic_load_explicit(&count, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&set_lock);
	i = find_locked(p);
	if (i != SIZE_MAX) {
		table[i] = TOMB;
		used--;
		tombs++;
		atomic_fetch_sub(&count, 1);
	}
	pthread_mutex_unlock(&set_lock);
	return i != SIZE_MAX;
}

bool compat_uncoll_has(const void *p)
{
	size_t i;

	if (!atomic_load_explicit(&count, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&set_lock);
	i = find_locked(p);
	pthread_mutex_unlock(&set_lock);
	return i != SIZE_MAX;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Free resident memory per memory cgroup: what the shrinker needs to answer
 * reclaim inside a cgroup (memory.max, memory.high) with that cgroup's free
 * heap pages and nobody else's.
 *
 * Model
 * -----
 * A system page backing the heap is charged, at its first touch, to the
 * memory cgroup of the task that touched it (__GFP_ACCOUNT in the fault
 * handler), which for kernel-accounted pages means to an obj_cgroup.  The
 * page keeps that obj_cgroup for life; when its cgroup is removed the kernel
 * reparents the obj_cgroup, so it then belongs to the parent.  Each heap
 * keeps one struct gch_mcg per obj_cgroup its resident pages are charged to
 * (objcg NULL: pages charged to no cgroup, i.e. the root), created by the
 * fault that first installs such a page and kept until the heap dies.  Its
 * free_pages counts the resident system pages of free heap pages (in no
 * span) charged to it; summed over a heap's parts it is
 * heap->free_resident_pages.
 *
 * Every part is an item of gch_lru, a memcg-aware list_lru registered with
 * the shrinker.  list_lru files an item under the memory cgroup that the
 * item's own memory is charged to, so a part is allocated with that cgroup
 * active; the kernel then calls the shrinker for that cgroup, moves the item
 * to the parent when the cgroup goes away (as it moves the obj_cgroup), and
 * walks exactly that cgroup's parts when its reclaim asks.
 *
 * Invariant: every resident page's obj_cgroup has a part in its heap
 * (gch_mcg_ensure() runs before a page enters the table), so the counters
 * never miss a page.
 *
 * Locking: heap->mcgs, heap->mcg_last and every part's free_pages are
 * res_lock's; free_pages is read racily (READ_ONCE) by the shrinker's count,
 * which runs under the list_lru lock and must not take res_lock (res_lock ->
 * list_lru lock would be the other order; list_lru_add() is called with no
 * lock of ours held).  Parts are unlinked from gch_lru before the heap's
 * pins are waited out and freed after, see gch_heap_destroy().
 */
#include <linux/list_lru.h>
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "gcheap_priv.h"

struct list_lru gch_lru;
static struct kmem_cache *gch_mcg_cache;

/* The obj_cgroup @page is charged to, or NULL for none. */
struct obj_cgroup *gch_page_objcg(struct page *page)
{
#ifdef CONFIG_MEMCG_KMEM
	struct folio *folio = page_folio(page);

	if (folio_memcg_kmem(folio))
		return __folio_objcg(folio);
#endif
	return NULL;
}

/* @heap's part for @objcg, or NULL. */
struct gch_mcg *gch_mcg_find(struct gch_heap *heap, struct obj_cgroup *objcg)
{
	struct gch_mcg *m = heap->mcg_last;

	lockdep_assert_held(&heap->res_lock);
	if (likely(m && m->objcg == objcg))
		return m;
	list_for_each_entry(m, &heap->mcgs, node) {
		if (m->objcg == objcg) {
			heap->mcg_last = m;
			return m;
		}
	}
	return NULL;
}

/*
 * A new part for @objcg, allocated in the memory cgroup @objcg belongs to
 * now, so that gch_lru files it under that cgroup.
 */
static struct gch_mcg *gch_mcg_alloc(struct gch_heap *heap,
				     struct obj_cgroup *objcg)
{
	struct mem_cgroup *memcg = NULL, *old;
	struct gch_mcg *m;

	if (objcg)
		memcg = get_mem_cgroup_from_objcg(objcg);
	old = set_active_memcg(memcg);
	m = kmem_cache_alloc_lru(gch_mcg_cache, &gch_lru,
				 objcg ? GFP_KERNEL_ACCOUNT : GFP_KERNEL);
	set_active_memcg(old);
	if (memcg)
		css_put(&memcg->css);
	if (!m)
		return NULL;
	INIT_LIST_HEAD(&m->lru);
	m->heap = heap;
	m->objcg = objcg;
	m->free_pages = 0;
	m->limit_events = 0;
	m->limit_reclaim = false;
	if (objcg)
		obj_cgroup_get(objcg);
	return m;
}

static void gch_mcg_free(struct gch_mcg *m)
{
	if (m->objcg)
		obj_cgroup_put(m->objcg);
	kmem_cache_free(gch_mcg_cache, m);
}

/*
 * Make sure @heap has a part for the cgroup @page is charged to, before the
 * page goes into the heap's table.  Called by the fault handler with no lock
 * held; -ENOMEM fails the fault.
 */
int gch_mcg_ensure(struct gch_heap *heap, struct page *page)
{
	struct obj_cgroup *objcg = gch_page_objcg(page);
	struct gch_mcg *m, *fresh;

	spin_lock(&heap->res_lock);
	m = gch_mcg_find(heap, objcg);
	spin_unlock(&heap->res_lock);
	if (m)
		return 0;

	fresh = gch_mcg_alloc(heap, objcg);
	if (!fresh)
		return -ENOMEM;
	spin_lock(&heap->res_lock);
	m = gch_mcg_find(heap, objcg);
	if (!m)
		list_add(&fresh->node, &heap->mcgs);
	spin_unlock(&heap->res_lock);
	if (m) {		/* another fault of the same cgroup was first */
		gch_mcg_free(fresh);
		return 0;
	}
	list_lru_add(&gch_lru, &fresh->lru);
	return 0;
}

/* Count one resident page of @heap as free (+1) or not (-1). */
void gch_mcg_account(struct gch_heap *heap, struct page *page, long delta)
{
	struct gch_mcg *m = gch_mcg_find(heap, gch_page_objcg(page));

	lockdep_assert_held(&heap->res_lock);
	heap->free_resident_pages += delta;
	if (m)
		m->free_pages += delta;
}

void gch_mcg_heap_init(struct gch_heap *heap)
{
	INIT_LIST_HEAD(&heap->mcgs);
	heap->mcg_last = NULL;
}

/* Teardown, step 1: reclaim can no longer find (and pin) the heap. */
void gch_mcg_heap_unlink(struct gch_heap *heap)
{
	struct gch_mcg *m;

	list_for_each_entry(m, &heap->mcgs, node)
		list_lru_del(&gch_lru, &m->lru);
}

/* Teardown, step 2: after the pins are gone. */
void gch_mcg_heap_free(struct gch_heap *heap)
{
	struct gch_mcg *m, *tmp;

	list_for_each_entry_safe(m, tmp, &heap->mcgs, node)
		gch_mcg_free(m);
	INIT_LIST_HEAD(&heap->mcgs);
}

/*
 * Telling reclaim inside a cgroup from global reclaim, for the statistics:
 * global reclaim visits every cgroup too, with the same sc->memcg.  A
 * cgroup's own reclaim is always preceded by a "max" or "high" event on the
 * cgroup at its limit (@memcg or an ancestor: memory.events), and starts
 * while its usage is at that limit.  gch_memcg_events() sums those events;
 * the shrinker's count compares the sum with what each part saw last, so a
 * pass that begins right after an event is the cgroup's, even once its own
 * releases have brought the usage under the limit.
 */
unsigned long gch_memcg_events(struct mem_cgroup *memcg)
{
	unsigned long sum = 0;

#ifdef CONFIG_MEMCG
	for (; memcg; memcg = parent_mem_cgroup(memcg))
		sum += atomic_long_read(&memcg->memory_events[MEMCG_MAX]) +
		       atomic_long_read(&memcg->memory_events[MEMCG_HIGH]);
#endif
	return sum;
}

/*
 * Whether @memcg or an ancestor is at its memory.max or above its
 * memory.high now (within two charge batches, the distance at which a
 * charge starts reclaiming).
 */
bool gch_memcg_limited(struct mem_cgroup *memcg)
{
#ifdef CONFIG_MEMCG
	unsigned long usage;

	for (; memcg; memcg = parent_mem_cgroup(memcg)) {
		usage = page_counter_read(&memcg->memory) +
			2 * MEMCG_CHARGE_BATCH;
		if (usage >= READ_ONCE(memcg->memory.max) ||
		    usage > READ_ONCE(memcg->memory.high))
			return true;
	}
#endif
	return false;
}

/*
 * Pages by which @memcg or an ancestor is over its memory.high, or, at its
 * memory.max (within two charge batches, as gch_memcg_limited()), the two
 * batches' worth a charge would reclaim: the most of these, 0 if none is
 * limited.  What the shrinker's free pages would have to cover.
 */
unsigned long gch_memcg_over(struct mem_cgroup *memcg)
{
	unsigned long over = 0;
#ifdef CONFIG_MEMCG
	unsigned long usage, high, max;

	for (; memcg; memcg = parent_mem_cgroup(memcg)) {
		usage = page_counter_read(&memcg->memory);
		high = READ_ONCE(memcg->memory.high);
		max = READ_ONCE(memcg->memory.max);
		if (usage > high)
			over = max(over, usage - high);
		if (usage + 2 * MEMCG_CHARGE_BATCH >= max)
			over = max(over, usage + 2 * MEMCG_CHARGE_BATCH -
					 min(usage, max));
	}
#endif
	return over;
}

int gch_mcg_init(struct shrinker *shrinker)
{
	int err;

	gch_mcg_cache = KMEM_CACHE(gch_mcg, 0);
	if (!gch_mcg_cache)
		return -ENOMEM;
	err = list_lru_init_memcg(&gch_lru, shrinker);
	if (err)
		kmem_cache_destroy(gch_mcg_cache);
	return err;
}

void gch_mcg_exit(void)
{
	list_lru_destroy(&gch_lru);
	kmem_cache_destroy(gch_mcg_cache);
}

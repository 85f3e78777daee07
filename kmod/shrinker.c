// SPDX-License-Identifier: GPL-2.0
/*
 * The shrinker: reclaim, global or inside a memory cgroup, takes the memory
 * of free heap pages.
 *
 * Objects are system pages backing free heap pages.  They hold no data
 * anybody may read: the next touch of a free page gets a zero page.  So they
 * cost nothing to "recreate" and seeks is 0, which makes reclaim ask for half
 * of them per pass instead of a priority-scaled sliver.  Live spans are never
 * touched: the walk only visits pages whose used bit is clear, under
 * heap->lock.
 *
 * Per memory cgroup
 * -----------------
 * The shrinker is SHRINKER_MEMCG_AWARE: in 6.1, reclaim driven by a cgroup's
 * memory.max or memory.high calls only such shrinkers, once per cgroup of
 * the subtree it reclaims, with sc->memcg set; global reclaim does the same
 * over every cgroup.  Our objects are counted per (heap, obj_cgroup) part
 * (memcg.c), and the parts sit on gch_lru under the cgroup their pages are
 * charged to, so count and scan for a cgroup see only the free pages charged
 * to it, and a sibling cgroup's heaps keep theirs.  A page is charged to the
 * cgroup of the thread whose touch populated it, so when a program's threads
 * sit in different cgroups, each cgroup's reclaim takes the free pages its
 * own threads populated, from any heap, and leaves the others' alone, even
 * when the heap's owner is elsewhere.
 *
 * Counting walks the cgroup's parts under the list_lru lock, reading each
 * part's counter without res_lock: O(heaps with pages in that cgroup), no
 * heap lock, nothing sleeps.  A part stays on the list while its count is 0,
 * and count then answers 0 (not SHRINK_EMPTY), so the cgroup's shrinker bit
 * stays set and pages freed later are found at once.
 *
 * Scan picks parts round-robin (LRU_ROTATE), pins each part's heap while the
 * list_lru lock still guarantees it is alive (teardown unlinks the parts
 * before it waits out the pins), then releases outside that lock, sleeping
 * on heap->lock: every holder of heap->lock keeps it for one short step and
 * never allocates memory or waits for reclaim (gcheap_priv.h), so reclaim never
 * deadlocks and never skips a busy heap: while free pages are resident and
 * not being faulted at that very moment, a scan frees some.
 *
 * The releases are counted as released_memcg_bytes when the pass is the
 * cgroup's own (a limit event on it or an ancestor preceded the pass, or it
 * is at its limit now: gch_memcg_events(), gch_memcg_limited()), else as
 * released_shrink_bytes, and credited to the reclaiming task's
 * reclaim_state so reclaim sees the progress.
 */
#include <linux/mm.h>
#include <linux/list_lru.h>
#include <linux/memcontrol.h>
#include <linux/nodemask.h>
#include <linux/shrinker.h>
#include <linux/swap.h>
#include <linux/sched.h>
#include "gcheap_priv.h"
#include "gcheap_trace.h"

/* Parts pinned per walk of the list. */
#define GCH_SHRINK_PICK		16

/* Set once gch_lru is ready; the shrinker is registered before it. */
static bool gch_lru_ready;

struct gch_count {
	unsigned long sum;
	unsigned long events;	/* gch_memcg_events() of the cgroup */
};

/*
 * Under the list_lru lock.  A count starts every reclaim pass over a cgroup,
 * so this is where a pass learns whether a limit event preceded it.
 */
static enum lru_status gch_count_part(struct list_head *item,
				      struct list_lru_one *list,
				      spinlock_t *lock, void *arg)
{
	struct gch_mcg *m = container_of(item, struct gch_mcg, lru);
	struct gch_count *c = arg;

	WRITE_ONCE(m->limit_reclaim, m->limit_events != c->events);
	m->limit_events = c->events;
	c->sum += READ_ONCE(m->free_pages);
	return LRU_SKIP;
}

struct gch_raise {
	u32 reason;
	u64 bytes;
};

/* Under the list_lru lock: the part's heap is alive (pressure.c). */
static enum lru_status gch_raise_part(struct list_head *item,
				      struct list_lru_one *list,
				      spinlock_t *lock, void *arg)
{
	struct gch_mcg *m = container_of(item, struct gch_mcg, lru);
	struct gch_raise *r = arg;

	gch_pressure_raise(m->heap, r->reason, r->bytes);
	return LRU_SKIP;
}

/*
 * Raise a pressure event on every heap with pages charged to @memcg: the
 * free pages reclaim can take fall @pages short of what it needs.
 */
static void gch_raise_cgroup(struct mem_cgroup *memcg, u32 reason,
			     unsigned long pages)
{
	struct gch_raise r = { reason, (u64)pages << PAGE_SHIFT };
	unsigned long walk;
	int nid;

	for (nid = 0; nid < nr_node_ids; nid++) {
		walk = ULONG_MAX;
		list_lru_walk_one(&gch_lru, nid, memcg, gch_raise_part, &r,
				  &walk);
	}
}

static unsigned long gch_shrink_count(struct shrinker *s,
				      struct shrink_control *sc)
{
	struct gch_count c = { .events = gch_memcg_events(sc->memcg) };
	unsigned long items = 0, walk, over;
	int nid;

	if (!smp_load_acquire(&gch_lru_ready))
		return SHRINK_EMPTY;
	/* not NUMA-aware: a part sits on the node of its own memory */
	for (nid = 0; nid < nr_node_ids; nid++) {
		walk = ULONG_MAX;
		list_lru_walk_one(&gch_lru, nid, sc->memcg, gch_count_part,
				  &c, &walk);
		items += list_lru_count_one(&gch_lru, nid, sc->memcg);
	}
	/*
	 * A cgroup at its limit whose heaps' free pages cannot cover what
	 * it is over by: only their collectors can help (pressure.c).  With
	 * no free pages the count is 0 and no scan ever comes, so here.
	 */
	over = items ? gch_memcg_over(sc->memcg) : 0;
	if (over > c.sum)
		gch_raise_cgroup(sc->memcg, GCH_PRESSURE_LIMIT, over - c.sum);
	if (c.sum)
		return c.sum;
	return items ? 0 : SHRINK_EMPTY;
}

struct gch_pick {
	struct gch_mcg *parts[GCH_SHRINK_PICK];
	unsigned int n;
};

/* Under the list_lru lock: the part, and so its heap, is alive. */
static enum lru_status gch_pick_part(struct list_head *item,
				     struct list_lru_one *list,
				     spinlock_t *lock, void *arg)
{
	struct gch_mcg *m = container_of(item, struct gch_mcg, lru);
	struct gch_pick *pick = arg;

	if (!READ_ONCE(m->free_pages) || pick->n == GCH_SHRINK_PICK)
		return LRU_SKIP;
	atomic_inc(&m->heap->heaps_pins);
	pick->parts[pick->n++] = m;
	return LRU_ROTATE;
}

/* Release up to @want system pages of part @m, a step at a time. */
static unsigned long gch_shrink_part(struct gch_mcg *m, unsigned long want,
				     bool limited)
{
	struct gch_heap *heap = m->heap;
	enum gch_release_reason reason = GCH_RELEASE_SHRINK;
	unsigned long done = 0, got;
	u64 ns, total_ns = 0;

	if (limited || READ_ONCE(m->limit_reclaim))
		reason = GCH_RELEASE_MEMCG;

	while (done < want) {
		mutex_lock(&heap->lock);
		got = gch_release_free(heap, min_t(unsigned long, want - done,
						   GCH_SCAV_CHUNK),
				       m, reason, &ns);
		mutex_unlock(&heap->lock);
		total_ns += ns;
		done += got;
		if (!got)
			break;
	}
	trace_gcheap_shrink_scan(heap, want, done);
	if (done)
		trace_gcheap_pages_release(heap, (u64)done << PAGE_SHIFT,
					   total_ns, reason);
	return done;
}

/*
 * Scan the parts of @sc's cgroup on node @nid; adds to *@freed.  @limited:
 * the cgroup or an ancestor is at its limit now.
 */
static void gch_shrink_node(struct shrink_control *sc, int nid, bool limited,
			    unsigned long *freed)
{
	unsigned long left = list_lru_count_one(&gch_lru, nid, sc->memcg);
	unsigned long walk;
	struct gch_pick pick;
	unsigned int i;

	while (left && *freed < sc->nr_to_scan) {
		pick.n = 0;
		walk = min_t(unsigned long, left, GCH_SHRINK_PICK);
		left -= walk;
		list_lru_walk_one(&gch_lru, nid, sc->memcg, gch_pick_part,
				  &pick, &walk);
		for (i = 0; i < pick.n; i++) {
			if (*freed < sc->nr_to_scan)
				*freed += gch_shrink_part(pick.parts[i],
							  sc->nr_to_scan - *freed,
							  limited);
			gch_heap_unpin(pick.parts[i]->heap);
		}
	}
}

/*
 * Reclaim asks in batches of GCH_SHRINK_BATCH and stops asking once what is
 * left of its target is below one batch: a small batch means even a few free
 * pages are asked for.  A call then takes at least GCH_SHRINK_MIN (so a big
 * target costs few calls) and reports what it took in nr_scanned.
 */
#define GCH_SHRINK_BATCH	16
#define GCH_SHRINK_MIN		(4 * GCH_SCAV_CHUNK)

static unsigned long gch_shrink_scan(struct shrinker *s,
				     struct shrink_control *sc)
{
	struct shrink_control want = *sc;
	unsigned long freed = 0;
	bool limited;
	int nid;

	if (!smp_load_acquire(&gch_lru_ready))
		return SHRINK_STOP;
	limited = gch_memcg_limited(sc->memcg);
	want.nr_to_scan = max_t(unsigned long, sc->nr_to_scan, GCH_SHRINK_MIN);
	for (nid = 0; nid < nr_node_ids && freed < want.nr_to_scan; nid++)
		gch_shrink_node(&want, nid, limited, &freed);
	/* short of what reclaim asked: the collectors' turn (pressure.c) */
	if (freed < sc->nr_to_scan)
		gch_raise_cgroup(sc->memcg, GCH_PRESSURE_RECLAIM,
				 sc->nr_to_scan - freed);
	/* what is left is pinned or being faulted: stop this round */
	if (!freed)
		return SHRINK_STOP;
	sc->nr_scanned = max(sc->nr_to_scan, freed);
	/* our pages are freed by put_page(), which reclaim does not see */
	if (current->reclaim_state)
		current->reclaim_state->reclaimed_slab += freed;
	return freed;
}

static struct shrinker gch_shrinker = {
	.count_objects = gch_shrink_count,
	.scan_objects = gch_shrink_scan,
	.seeks = 0,
	.batch = GCH_SHRINK_BATCH,
	.flags = SHRINKER_MEMCG_AWARE,
};

int gch_shrinker_init(void)
{
	int err;

	/* registering assigns the id the memcg-aware list_lru needs */
	err = register_shrinker(&gch_shrinker, "gcheap");
	if (err)
		return err;
	err = gch_mcg_init(&gch_shrinker);
	if (err) {
		unregister_shrinker(&gch_shrinker);
		return err;
	}
	smp_store_release(&gch_lru_ready, true);
	return 0;
}

void gch_shrinker_exit(void)
{
	unregister_shrinker(&gch_shrinker);
	gch_mcg_exit();
}

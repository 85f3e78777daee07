// SPDX-License-Identifier: GPL-2.0
/*
 * Heap statistics: the GCH_IOC_STATS snapshot and the same counters in
 * debugfs, /sys/kernel/debug/gcheap/<pid>-<heap id>/stats, one "key value"
 * line each, for operators who cannot ask the program.
 *
 * A snapshot takes heap->lock and then res_lock, so gauges that depend on
 * each other (span_pages vs. free_pages, resident vs. free resident) are
 * mutually consistent.  debugfs_remove() waits for readers in progress, so
 * the heap is removed from debugfs before it is freed (heap.c).
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include "gcheap_priv.h"

void gch_stats_fill(struct gch_heap *heap, struct gch_stats *st)
{
	mutex_lock(&heap->lock);
	st->heap_id = heap->id;
	st->arenas = heap->narenas;
	st->mapped_bytes = (u64)heap->narenas * GCH_ARENA_SIZE;
	st->span_pages = heap->span_pages;
	st->spans = heap->spans;
	st->free_pages = (u64)heap->narenas * GCH_PAGES_PER_ARENA -
			 heap->span_pages;
	st->hard_limit_pages = heap->hard_pages;
	st->alloc_calls = heap->alloc_calls;
	st->free_calls = heap->free_calls;
	st->spans_freed = heap->spans_freed;
	st->limit_hits = heap->limit_hits;
	st->released_bg_bytes = heap->released_bg_bytes;
	st->released_eager_bytes = heap->released_eager_bytes;
	st->released_shrink_bytes = heap->released_shrink_bytes;
	st->released_ioctl_bytes = heap->released_ioctl_bytes;
	st->released_memcg_bytes = heap->released_memcg_bytes;
	st->scavenge_ns = heap->scavenge_ns;
	st->gc_cycle = heap->gc_cycle;
	st->heap_live = heap->heap_live;
	st->heap_goal = gch_goal_bytes(heap);
	st->gc_pauses = heap->gc_pauses;
	st->gc_pause_ns = heap->gc_pause_ns;

	spin_lock(&heap->res_lock);
	st->resident_bytes = heap->resident_pages << PAGE_SHIFT;
	st->free_resident_bytes = heap->free_resident_pages << PAGE_SHIFT;
	st->faults = heap->faults;
	st->populated = heap->populated;
	st->dirty_faults = heap->dirty_faults;
	st->dirty_arms = heap->dirty_arms;
	st->dirty_collects = heap->dirty_collects;
	st->dirty_wp_pages = heap->dirty_wp_pages;
	spin_unlock(&heap->res_lock);
	mutex_unlock(&heap->lock);
}

static int gch_stats_show(struct seq_file *m, void *unused)
{
	struct gch_heap *heap = m->private;
	struct gch_stats st = {};

	gch_stats_fill(heap, &st);
	seq_printf(m, "pid %d\n", heap->pid);
	seq_printf(m, "heap_id %llu\n", st.heap_id);
	seq_printf(m, "arenas %llu\n", st.arenas);
	seq_printf(m, "mapped_bytes %llu\n", st.mapped_bytes);
	seq_printf(m, "span_pages %llu\n", st.span_pages);
	seq_printf(m, "spans %llu\n", st.spans);
	seq_printf(m, "free_pages %llu\n", st.free_pages);
	seq_printf(m, "resident_bytes %llu\n", st.resident_bytes);
	seq_printf(m, "free_resident_bytes %llu\n", st.free_resident_bytes);
	seq_printf(m, "hard_limit_pages %llu\n", st.hard_limit_pages);
	seq_printf(m, "alloc_calls %llu\n", st.alloc_calls);
	seq_printf(m, "free_calls %llu\n", st.free_calls);
	seq_printf(m, "spans_freed %llu\n", st.spans_freed);
	seq_printf(m, "faults %llu\n", st.faults);
	seq_printf(m, "limit_hits %llu\n", st.limit_hits);
	seq_printf(m, "released_bg_bytes %llu\n", st.released_bg_bytes);
	seq_printf(m, "released_eager_bytes %llu\n", st.released_eager_bytes);
	seq_printf(m, "released_shrink_bytes %llu\n", st.released_shrink_bytes);
	seq_printf(m, "released_ioctl_bytes %llu\n", st.released_ioctl_bytes);
	seq_printf(m, "released_memcg_bytes %llu\n", st.released_memcg_bytes);
	seq_printf(m, "scavenge_ns %llu\n", st.scavenge_ns);
	seq_printf(m, "gc_cycle %llu\n", st.gc_cycle);
	seq_printf(m, "heap_live %llu\n", st.heap_live);
	seq_printf(m, "heap_goal %llu\n", st.heap_goal);
	seq_printf(m, "gc_pauses %llu\n", st.gc_pauses);
	seq_printf(m, "gc_pause_ns %llu\n", st.gc_pause_ns);
	seq_printf(m, "populated %llu\n", st.populated);
	seq_printf(m, "dirty_faults %llu\n", st.dirty_faults);
	seq_printf(m, "dirty_arms %llu\n", st.dirty_arms);
	seq_printf(m, "dirty_collects %llu\n", st.dirty_collects);
	seq_printf(m, "dirty_wp_pages %llu\n", st.dirty_wp_pages);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gch_stats);

void gch_debugfs_heap_add(struct gch_heap *heap)
{
	char name[48];

	if (IS_ERR_OR_NULL(gch_debugfs_root))
		return;
	snprintf(name, sizeof(name), "%d-%llu", heap->pid, heap->id);
	heap->debugfs = debugfs_create_dir(name, gch_debugfs_root);
	debugfs_create_file("stats", 0444, heap->debugfs, heap,
			    &gch_stats_fops);
}

void gch_debugfs_heap_del(struct gch_heap *heap)
{
	debugfs_remove(heap->debugfs);
}

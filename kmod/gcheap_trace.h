/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gcheap tracepoints (trace system "gcheap"), named gcheap_<object>_<verb>.
 * Every event carries the heap id and the pid (tgid) of the heap's owner,
 * and prints key=value pairs.  Families share an event class.  Fired after
 * the heap's locks are dropped where possible, with values captured under
 * them.  trace.c instantiates them (CREATE_TRACE_POINTS).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM gcheap

#if !defined(_GCHEAP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _GCHEAP_TRACE_H

#include <linux/tracepoint.h>
#include "gcheap_priv.h"

TRACE_DEFINE_ENUM(GCH_RELEASE_IOCTL);
TRACE_DEFINE_ENUM(GCH_RELEASE_BG);
TRACE_DEFINE_ENUM(GCH_RELEASE_EAGER);
TRACE_DEFINE_ENUM(GCH_RELEASE_SHRINK);
TRACE_DEFINE_ENUM(GCH_RELEASE_MEMCG);

#define show_gch_release_reason(r)				\
	__print_symbolic(r,					\
			 { GCH_RELEASE_IOCTL, "ioctl" },	\
			 { GCH_RELEASE_BG, "bg" },		\
			 { GCH_RELEASE_EAGER, "eager" },	\
			 { GCH_RELEASE_SHRINK, "shrink" },	\
			 { GCH_RELEASE_MEMCG, "memcg" })

DECLARE_EVENT_CLASS(gcheap_heap_class,
	TP_PROTO(const struct gch_heap *heap),
	TP_ARGS(heap),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
	),
	TP_printk("heap=%llu pid=%d", __entry->heap, __entry->pid)
);

DEFINE_EVENT(gcheap_heap_class, gcheap_heap_create,
	TP_PROTO(const struct gch_heap *heap),
	TP_ARGS(heap));

DEFINE_EVENT(gcheap_heap_class, gcheap_heap_destroy,
	TP_PROTO(const struct gch_heap *heap),
	TP_ARGS(heap));

TRACE_EVENT(gcheap_span_alloc,
	TP_PROTO(const struct gch_heap *heap, u64 page, u32 npages,
		 bool zeroed),
	TP_ARGS(heap, page, npages, zeroed),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u32, npages)
		__field(u64, page)
		__field(bool, zeroed)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->npages = npages;
		__entry->page = page;
		__entry->zeroed = zeroed;
	),
	TP_printk("heap=%llu pid=%d page=%llu npages=%u zeroed=%d",
		  __entry->heap, __entry->pid, __entry->page, __entry->npages,
		  __entry->zeroed)
);

TRACE_EVENT(gcheap_spans_free,
	TP_PROTO(const struct gch_heap *heap, u32 count, u64 npages),
	TP_ARGS(heap, count, npages),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u32, count)
		__field(u64, npages)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->count = count;
		__entry->npages = npages;
	),
	TP_printk("heap=%llu pid=%d count=%u npages=%llu",
		  __entry->heap, __entry->pid, __entry->count, __entry->npages)
);

TRACE_EVENT(gcheap_limit_hit,
	TP_PROTO(const struct gch_heap *heap, u32 npages, u64 span_pages,
		 u64 limit, bool total),
	TP_ARGS(heap, npages, span_pages, limit, total),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u32, npages)
		__field(u64, span_pages)
		__field(u64, limit)
		__field(bool, total)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->npages = npages;
		__entry->span_pages = span_pages;
		__entry->limit = limit;
		__entry->total = total;
	),
	TP_printk("heap=%llu pid=%d npages=%u span_pages=%llu limit=%llu which=%s",
		  __entry->heap, __entry->pid, __entry->npages,
		  __entry->span_pages, __entry->limit,
		  __entry->total ? "module" : "heap")
);

TRACE_EVENT(gcheap_pages_release,
	TP_PROTO(const struct gch_heap *heap, u64 bytes, u64 ns, int reason),
	TP_ARGS(heap, bytes, ns, reason),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(int, reason)
		__field(u64, bytes)
		__field(u64, ns)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->reason = reason;
		__entry->bytes = bytes;
		__entry->ns = ns;
	),
	TP_printk("heap=%llu pid=%d bytes=%llu ns=%llu reason=%s",
		  __entry->heap, __entry->pid, __entry->bytes, __entry->ns,
		  show_gch_release_reason(__entry->reason))
);

/* One heap visited by a shrinker scan: system pages asked of it and freed. */
TRACE_EVENT(gcheap_shrink_scan,
	TP_PROTO(const struct gch_heap *heap, u64 asked, u64 freed),
	TP_ARGS(heap, asked, freed),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u64, asked)
		__field(u64, freed)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->asked = asked;
		__entry->freed = freed;
	),
	TP_printk("heap=%llu pid=%d asked=%llu freed=%llu",
		  __entry->heap, __entry->pid, __entry->asked, __entry->freed)
);

TRACE_EVENT(gcheap_gc_phase,
	TP_PROTO(const struct gch_heap *heap, u32 phase, u64 cycle, u64 live,
		 u64 goal),
	TP_ARGS(heap, phase, cycle, live, goal),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u32, phase)
		__field(u64, cycle)
		__field(u64, live)
		__field(u64, goal)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->phase = phase;
		__entry->cycle = cycle;
		__entry->live = live;
		__entry->goal = goal;
	),
	TP_printk("heap=%llu pid=%d cycle=%llu phase=%s live=%llu goal=%llu",
		  __entry->heap, __entry->pid, __entry->cycle,
		  __print_symbolic(__entry->phase,
				   { GCH_GC_MARK_START, "mark_start" },
				   { GCH_GC_MARK_END, "mark_end" },
				   { GCH_GC_SWEEP_END, "sweep_end" }),
		  __entry->live, __entry->goal)
);

/*
 * A stop-the-world pause of the collector, announced by GCH_GC_PAUSE once it
 * ended: which one (kind), the cycle it belongs to and how long it was (ns).
 * Separate from gcheap_gc_phase because a pause carries a duration and no
 * heap sizes, and a cycle has a varying number of them.
 */
TRACE_EVENT(gcheap_gc_pause,
	TP_PROTO(const struct gch_heap *heap, u64 cycle, u32 kind, u64 ns),
	TP_ARGS(heap, cycle, kind, ns),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u32, kind)
		__field(u64, cycle)
		__field(u64, ns)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->kind = kind;
		__entry->cycle = cycle;
		__entry->ns = ns;
	),
	TP_printk("heap=%llu pid=%d cycle=%llu kind=%s ns=%llu",
		  __entry->heap, __entry->pid, __entry->cycle,
		  __print_symbolic(__entry->kind,
				   { GCH_PAUSE_MARK_START, "mark_start" },
				   { GCH_PAUSE_MARK_TERM, "mark_term" },
				   { GCH_PAUSE_STW, "stw" }),
		  __entry->ns)
);

/*
 * A memory pressure event raised on a heap (pressure.c): @reason is the
 * cause that raised it (GCH_PRESSURE_*; later causes fold into it
 * silently), @bytes what that cause asked for beyond the free pages,
 * @events the heap's count of events so far.
 */
TRACE_EVENT(gcheap_pressure,
	TP_PROTO(const struct gch_heap *heap, u32 reason, u64 bytes,
		 u64 events),
	TP_ARGS(heap, reason, bytes, events),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u32, reason)
		__field(u64, bytes)
		__field(u64, events)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->reason = reason;
		__entry->bytes = bytes;
		__entry->events = events;
	),
	TP_printk("heap=%llu pid=%d reason=%s bytes=%llu events=%llu",
		  __entry->heap, __entry->pid,
		  __print_symbolic(__entry->reason,
				   { GCH_PRESSURE_RECLAIM, "reclaim" },
				   { GCH_PRESSURE_LIMIT, "limit" }),
		  __entry->bytes, __entry->events)
);

/*
 * The heap's collector answered its pressure event (GCH_PRESSURE_ANSWER):
 * @bytes it says it gave back, @latency_ns from the event to the answer.
 */
TRACE_EVENT(gcheap_pressure_answer,
	TP_PROTO(const struct gch_heap *heap, u64 bytes, u64 latency_ns),
	TP_ARGS(heap, bytes, latency_ns),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u64, bytes)
		__field(u64, latency_ns)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->bytes = bytes;
		__entry->latency_ns = latency_ns;
	),
	TP_printk("heap=%llu pid=%d bytes=%llu latency_ns=%llu",
		  __entry->heap, __entry->pid, __entry->bytes,
		  __entry->latency_ns)
);

/*
 * Dirty tracking (dirty.c, GCH_IOC_DIRTY).  gcheap_dirty_arm: tracking
 * armed, @wp PTEs write-protected, in @ns.  gcheap_dirty_disarm: tracking
 * off, @writable PTEs made writable again, in @ns.
 */
DECLARE_EVENT_CLASS(gcheap_dirty_class,
	TP_PROTO(const struct gch_heap *heap, u64 pages, u64 ns),
	TP_ARGS(heap, pages, ns),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u64, pages)
		__field(u64, ns)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->pages = pages;
		__entry->ns = ns;
	),
	TP_printk("heap=%llu pid=%d pages=%llu ns=%llu",
		  __entry->heap, __entry->pid, __entry->pages, __entry->ns)
);

DEFINE_EVENT(gcheap_dirty_class, gcheap_dirty_arm,
	TP_PROTO(const struct gch_heap *heap, u64 pages, u64 ns),
	TP_ARGS(heap, pages, ns));

DEFINE_EVENT(gcheap_dirty_class, gcheap_dirty_disarm,
	TP_PROTO(const struct gch_heap *heap, u64 pages, u64 ns),
	TP_ARGS(heap, pages, ns));

/*
 * One GCH_DIRTY_COLLECT over heap pages [first, first + npages): @dirty
 * pages reported and re-armed, @wp PTEs write-protected for it, @faults the
 * heap's tracking write faults so far, @ns the call's time.
 */
TRACE_EVENT(gcheap_dirty_collect,
	TP_PROTO(const struct gch_heap *heap, u64 first, u64 npages,
		 u64 dirty, u64 wp, u64 faults, u64 ns),
	TP_ARGS(heap, first, npages, dirty, wp, faults, ns),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u64, first)
		__field(u64, npages)
		__field(u64, dirty)
		__field(u64, wp)
		__field(u64, faults)
		__field(u64, ns)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->first = first;
		__entry->npages = npages;
		__entry->dirty = dirty;
		__entry->wp = wp;
		__entry->faults = faults;
		__entry->ns = ns;
	),
	TP_printk("heap=%llu pid=%d first=%llu npages=%llu dirty=%llu wp=%llu faults=%llu ns=%llu",
		  __entry->heap, __entry->pid, __entry->first,
		  __entry->npages, __entry->dirty, __entry->wp,
		  __entry->faults, __entry->ns)
);

/* A tracking write fault marked heap page @page dirty (@faults so far). */
TRACE_EVENT(gcheap_dirty_fault,
	TP_PROTO(const struct gch_heap *heap, u64 page, u64 faults),
	TP_ARGS(heap, page, faults),
	TP_STRUCT__entry(
		__field(u64, heap)
		__field(pid_t, pid)
		__field(u64, page)
		__field(u64, faults)
	),
	TP_fast_assign(
		__entry->heap = heap->id;
		__entry->pid = heap->pid;
		__entry->page = page;
		__entry->faults = faults;
	),
	TP_printk("heap=%llu pid=%d page=%llu faults=%llu",
		  __entry->heap, __entry->pid, __entry->page, __entry->faults)
);

#endif /* _GCHEAP_TRACE_H */

/* out-of-tree: trace.o is built with -I$(src), so "." finds this file */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE gcheap_trace
#include <trace/define_trace.h>

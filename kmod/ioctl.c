// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl dispatch and the struct copy-in/copy-out convention of the uAPI.
 *
 * Every command's struct starts with "__u32 size; __u32 flags;".  The size
 * is read first; copy_struct_from_user() then gives -E2BIG for a larger
 * struct with non-zero bytes past ours and zero-fills a shorter one (which we
 * refuse below the first version's size).  On success min(size, ours) bytes
 * are written back.  Arguments are validated completely before anything in
 * the heap changes, so a failing ioctl changes nothing.
 *
 * Write-back that cannot fail: an ioctl that changes the heap and then
 * reports (SPAN_ALLOC, LIMITS, SCAVENGE, GC_PHASE, PRESSURE, DIRTY) pins
 * the user pages it will write, for writing, before it changes anything
 * (struct gch_uout; DIRTY's bitmap too, dirty.c), and
 * writes the result through the kernel's mapping of those pages.  So a
 * struct that is read-only or unmapped fails the call before the heap
 * changes, and once the heap has changed nothing can make the call fail: no
 * undo is ever needed.  An undo could not be made safe anyway: once a span
 * is in the page map, another thread may free it and get its pages back
 * before the undo runs (the bug this replaced).  Read-only ioctls (VERSION,
 * STATS) use copy_to_user(): their failure changes nothing.
 *
 * GCH_SPAN_ALLOC_BATCH pins its out array the same way, next to the struct
 * (both fit the two pages a struct gch_uout holds), so a batch either fails
 * before anything is allocated or writes every span it allocated.
 *
 * No heap lock is ever held across copy_{to,from}_user() or a pin: see
 * gcheap_priv.h.
 */
#include <linux/uaccess.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/highmem.h>
#include <linux/overflow.h>
#include "gcheap_priv.h"
#include "gcheap_trace.h"

/* The size of each struct's first published version. */
#define GCH_V1_VERSION		sizeof(struct gch_version)
#define GCH_V1_SPAN_ALLOC	offsetofend(struct gch_span_alloc, reserved)
#define GCH_V1_SPAN_FREE	sizeof(struct gch_span_free)
#define GCH_V1_LIMITS		sizeof(struct gch_limits)
#define GCH_V1_STATS		offsetofend(struct gch_stats, heap_goal)
#define GCH_V1_SCAVENGE		sizeof(struct gch_scavenge)
#define GCH_V1_GC_PHASE		offsetofend(struct gch_gc_phase, heap_goal)
#define GCH_V1_PRESSURE		sizeof(struct gch_pressure)
#define GCH_V1_DIRTY		sizeof(struct gch_dirty)

#define GCH_LIMIT_ALL		(GCH_LIMIT_HARD | GCH_LIMIT_SOFT | GCH_LIMIT_GOAL)

static int gch_copy_in(void *karg, size_t ksize, size_t minsize,
		       void __user *uarg, u32 *usize)
{
	if (get_user(*usize, (u32 __user *)uarg))
		return -EFAULT;
	if (*usize < minsize)
		return -EINVAL;
	return copy_struct_from_user(karg, ksize, uarg, *usize);
}

static int gch_copy_out(void __user *uarg, const void *karg, size_t ksize,
			u32 usize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, ksize, usize)))
		return -EFAULT;
	return 0;
}

/* The pinned destination of a mutating ioctl's write-back. */
struct gch_uout {
	struct page *pages[2];	/* a struct is far smaller than a page */
	unsigned int npages;
	unsigned long addr;
	size_t len;
};

static_assert(sizeof(struct gch_stats) <= PAGE_SIZE);

/* Pin the @len bytes at @uarg for writing, or -EFAULT. */
static int gch_uout_pin(struct gch_uout *o, void __user *uarg, size_t len)
{
	unsigned long addr = (unsigned long)uarg;
	unsigned long first = addr & PAGE_MASK;
	int n, got;

	if (!len || !access_ok(uarg, len))
		return -EFAULT;
	n = (((addr + len - 1) & PAGE_MASK) - first) / PAGE_SIZE + 1;
	got = pin_user_pages_fast(first, n, FOLL_WRITE, o->pages);
	if (got != n) {
		if (got > 0)
			unpin_user_pages(o->pages, got);
		return -EFAULT;
	}
	o->npages = n;
	o->addr = addr;
	o->len = len;
	return 0;
}

/* Write @karg (o->len bytes of it) to the pinned pages and unpin them. */
static void gch_uout_write(struct gch_uout *o, const void *karg)
{
	size_t off = offset_in_page(o->addr), done = 0, chunk;
	unsigned int i;
	void *dst;

	for (i = 0; i < o->npages && done < o->len; i++, off = 0) {
		chunk = min_t(size_t, o->len - done, PAGE_SIZE - off);
		dst = kmap_local_page(o->pages[i]);
		memcpy(dst + off, karg + done, chunk);
		kunmap_local(dst);
		flush_dcache_page(o->pages[i]);
		done += chunk;
	}
	unpin_user_pages_dirty_lock(o->pages, o->npages, true);
}

/* The call failed after pinning: nothing is written. */
static void gch_uout_drop(struct gch_uout *o)
{
	unpin_user_pages(o->pages, o->npages);
}

static u64 gch_features(void)
{
	return GCH_FEAT_PAGEMAP | GCH_FEAT_SPANSLOTS | GCH_FEAT_TRACEPOINTS |
	       GCH_FEAT_GC_PHASE | GCH_FEAT_SCAVENGER | GCH_FEAT_SHRINKER |
	       GCH_FEAT_GC_PAUSE | GCH_FEAT_PRESSURE | GCH_FEAT_CROSS_SPANS |
	       GCH_FEAT_DIRTY | GCH_FEAT_SPAN_BATCH;
}

static int gch_ioc_version(struct gch_heap *heap, void __user *uarg)
{
	struct gch_version v;
	u32 usize;
	int err;

	err = gch_copy_in(&v, sizeof(v), GCH_V1_VERSION, uarg, &usize);
	if (err)
		return err;
	if (v.flags)
		return -EINVAL;

	v.abi_version = GCH_ABI_VERSION;
	v.page_shift = GCH_PAGE_SHIFT;
	v.features = gch_features();
	v.arena_shift = GCH_ARENA_SHIFT;
	v.max_arenas = GCH_MAX_ARENAS;
	v.pagemap_offset = GCH_MMAP_PAGEMAP;
	v.spanslot_offset = GCH_MMAP_SPANSLOTS;
	v.max_span_pages = GCH_MAX_SPAN_PAGES;
	v.heap_id = heap->id;
	return gch_copy_out(uarg, &v, sizeof(v), usize);
}

/* A batch's entries fit the two pages struct gch_uout can pin. */
static_assert(GCH_SPAN_BATCH_MAX * sizeof(struct gch_span_out) <= PAGE_SIZE);

/*
 * Populate the spans of a batch as single calls would, but a run of spans
 * adjacent in one arena in one go: first fit hands out fresh pages in
 * address order, so a batch is usually one run and one mmap_lock round trip.
 */
static void gch_batch_populate(struct gch_heap *heap,
			       const struct gch_span_out *out, u32 n,
			       u32 npages)
{
	u64 start = out[0].page;
	u32 i, len = npages;

	for (i = 1; i <= n; i++) {
		if (i < n && out[i].page == start + len &&
		    out[i].page / GCH_PAGES_PER_ARENA ==
		    start / GCH_PAGES_PER_ARENA) {
			len += npages;
			continue;
		}
		gch_span_populate(heap, start, len);
		if (i < n) {
			start = out[i].page;
			len = npages;
		}
	}
}

/*
 * GCH_SPAN_ALLOC_BATCH: pin the struct and the whole out array for writing
 * before allocating, so that an unwritable one allocates nothing and the
 * write-back of what was allocated cannot fail.
 */
static int gch_ioc_span_batch(struct gch_heap *heap, void __user *uarg,
			      struct gch_span_alloc *a, u32 usize)
{
	size_t len = (size_t)a->count * sizeof(struct gch_span_out);
	struct gch_uout out, arr;
	struct gch_span_out *spans;
	int n, err;

	spans = kmalloc_array(a->count, sizeof(*spans), GFP_KERNEL);
	if (!spans)
		return -ENOMEM;
	err = gch_uout_pin(&out, uarg, min_t(size_t, sizeof(*a), usize));
	if (err)
		goto err_free;
	err = gch_uout_pin(&arr, u64_to_user_ptr(a->spans), len);
	if (err)
		goto err_drop_out;
	n = gch_spans_alloc(heap, a->npages, a->count, spans);
	if (n < 0) {
		err = n;
		goto err_drop_arr;
	}
	/* after heap->lock is dropped, best effort, as for one span */
	gch_batch_populate(heap, spans, n, a->npages);
	a->done = n;
	a->page = spans[0].page;
	a->out_flags = spans[0].out_flags;
	arr.len = (size_t)n * sizeof(*spans);	/* entries past done: untouched */
	gch_uout_write(&arr, spans);
	gch_uout_write(&out, a);
	kfree(spans);
	return 0;

err_drop_arr:
	gch_uout_drop(&arr);
err_drop_out:
	gch_uout_drop(&out);
err_free:
	kfree(spans);
	return err;
}

/* Are @a's flags and lengths a call this module takes? */
static bool gch_span_alloc_valid(const struct gch_span_alloc *a)
{
	bool cross = a->flags & GCH_SPAN_ALLOC_CROSS;

	if ((a->flags & ~(GCH_SPAN_ALLOC_CROSS | GCH_SPAN_ALLOC_BATCH)) ||
	    a->reserved || !a->npages)
		return false;
	if (a->flags & GCH_SPAN_ALLOC_BATCH)
		return !cross && a->npages <= GCH_SPAN_BATCH_MAX_PAGES &&
		       a->count && a->count <= GCH_SPAN_BATCH_MAX;
	/* the batch fields belong to the flag (@done is out: ignored) */
	if (a->count || a->spans)
		return false;
	return a->npages <= (cross ? GCH_MAX_CROSS_SPAN_PAGES :
				     GCH_MAX_SPAN_PAGES);
}

static int gch_ioc_span_alloc(struct gch_heap *heap, void __user *uarg)
{
	struct gch_span_alloc a;
	struct gch_uout out;
	bool zeroed;
	u32 usize;
	int err;

	err = gch_copy_in(&a, sizeof(a), GCH_V1_SPAN_ALLOC, uarg, &usize);
	if (err)
		return err;
	if (!gch_span_alloc_valid(&a))
		return -EINVAL;
	if (a.flags & GCH_SPAN_ALLOC_BATCH)
		return gch_ioc_span_batch(heap, uarg, &a, usize);

	err = gch_uout_pin(&out, uarg, min_t(size_t, sizeof(a), usize));
	if (err)
		return err;
	err = gch_span_alloc(heap, a.npages, a.flags & GCH_SPAN_ALLOC_CROSS,
			     &a.page, &zeroed);
	if (err) {
		gch_uout_drop(&out);
		return err;
	}
	a.out_flags = zeroed ? GCH_SPAN_ZEROED : 0;
	a.done = 0;
	/*
	 * After heap->lock is dropped (it allocates memory), and best effort:
	 * the span is the caller's whatever populating achieves.
	 */
	if (a.npages <= GCH_POPULATE_MAX_PAGES)
		gch_span_populate(heap, a.page, a.npages);
	gch_uout_write(&out, &a);
	return 0;
}

static int gch_ioc_span_free(struct gch_heap *heap, void __user *uarg)
{
	struct gch_span_ref *refs;
	struct gch_span_free f;
	u32 usize;
	int err;

	err = gch_copy_in(&f, sizeof(f), GCH_V1_SPAN_FREE, uarg, &usize);
	if (err)
		return err;
	if (f.flags || f.reserved || !f.count || f.count > GCH_SPAN_FREE_MAX)
		return -EINVAL;

	refs = kvmalloc_array(f.count, sizeof(*refs), GFP_KERNEL);
	if (!refs)
		return -ENOMEM;
	if (copy_from_user(refs, u64_to_user_ptr(f.spans),
			   (size_t)f.count * sizeof(*refs)))
		err = -EFAULT;
	else
		err = gch_spans_free(heap, refs, f.count);
	kvfree(refs);
	if (!err)	/* new free memory: let the scavenger look */
		gch_scavenger_kick();
	return err;
}

static int gch_ioc_limits(struct gch_heap *heap, void __user *uarg)
{
	struct gch_limits l;
	struct gch_uout out;
	u32 usize;
	int err;

	err = gch_copy_in(&l, sizeof(l), GCH_V1_LIMITS, uarg, &usize);
	if (err)
		return err;
	if (l.flags & ~GCH_LIMIT_ALL)
		return -EINVAL;
	err = gch_uout_pin(&out, uarg, min_t(size_t, sizeof(l), usize));
	if (err)
		return err;

	mutex_lock(&heap->lock);
	if (l.flags & GCH_LIMIT_HARD)
		heap->hard_pages = l.hard_pages;
	if (l.flags & GCH_LIMIT_SOFT)
		heap->soft_bytes = l.soft_bytes;
	if (l.flags & GCH_LIMIT_GOAL)
		heap->goal_bytes = l.goal_bytes;
	l.hard_pages = heap->hard_pages;
	l.soft_bytes = heap->soft_bytes;
	l.goal_bytes = gch_goal_bytes(heap);
	mutex_unlock(&heap->lock);
	if (l.flags)	/* a new soft limit or goal may mean work now */
		gch_scavenger_kick();
	gch_uout_write(&out, &l);
	return 0;
}

static int gch_ioc_stats(struct gch_heap *heap, void __user *uarg)
{
	struct gch_stats st;
	u32 usize;
	int err;

	err = gch_copy_in(&st, sizeof(st), GCH_V1_STATS, uarg, &usize);
	if (err)
		return err;
	if (st.flags)
		return -EINVAL;
	gch_stats_fill(heap, &st);
	return gch_copy_out(uarg, &st, sizeof(st), usize);
}

static int gch_ioc_scavenge(struct gch_heap *heap, void __user *uarg)
{
	struct gch_scavenge sc;
	struct gch_uout out;
	u32 usize;
	int err;

	err = gch_copy_in(&sc, sizeof(sc), GCH_V1_SCAVENGE, uarg, &usize);
	if (err)
		return err;
	if (sc.flags & ~GCH_SCAVENGE_ALL)
		return -EINVAL;
	err = gch_uout_pin(&out, uarg, min_t(size_t, sizeof(sc), usize));
	if (err)
		return err;
	sc.released_bytes = gch_scavenge(heap, sc.max_bytes,
					 sc.flags & GCH_SCAVENGE_ALL,
					 GCH_RELEASE_IOCTL);
	gch_uout_write(&out, &sc);
	return 0;
}

/*
 * Is @p a well-formed announcement?  The pause fields belong to GCH_GC_PAUSE
 * alone and the cycle fields (live, goal) to the other phases; the unused
 * ones must be 0 so that they can be given a meaning later.
 */
static bool gch_gc_phase_valid(const struct gch_gc_phase *p)
{
	if (p->flags || p->reserved || p->reserved2)
		return false;
	switch (p->phase) {
	case GCH_GC_MARK_START:
	case GCH_GC_MARK_END:
	case GCH_GC_SWEEP_END:
		return !p->pause_kind && !p->pause_ns;
	case GCH_GC_PAUSE:
		return p->pause_kind >= GCH_PAUSE_MARK_START &&
		       p->pause_kind <= GCH_PAUSE_STW &&
		       !p->heap_live && !p->heap_goal;
	default:
		return false;
	}
}

static int gch_ioc_gc_phase(struct gch_heap *heap, void __user *uarg)
{
	struct gch_gc_phase p;
	struct gch_uout out;
	u32 usize;
	u64 goal;
	int err;

	err = gch_copy_in(&p, sizeof(p), GCH_V1_GC_PHASE, uarg, &usize);
	if (err)
		return err;
	if (!gch_gc_phase_valid(&p))
		return -EINVAL;
	err = gch_uout_pin(&out, uarg, min_t(size_t, sizeof(p), usize));
	if (err)
		return err;

	if (p.phase == GCH_GC_PAUSE) {
		/*
		 * Counted only: the phase, cycle, live and goal the scavenger
		 * and the stats go by are the cycle's, which a pause inside it
		 * does not change.
		 */
		mutex_lock(&heap->lock);
		heap->gc_pauses++;
		/* pause_ns is any u64: the sum saturates, never wraps */
		if (check_add_overflow(heap->gc_pause_ns, p.pause_ns,
				       &heap->gc_pause_ns))
			heap->gc_pause_ns = U64_MAX;
		mutex_unlock(&heap->lock);
		trace_gcheap_gc_pause(heap, p.cycle, p.pause_kind, p.pause_ns);
		gch_uout_write(&out, &p);
		return 0;
	}

	mutex_lock(&heap->lock);
	heap->gc_phase = p.phase;
	heap->gc_cycle = p.cycle;
	heap->heap_live = p.heap_live;
	if (p.heap_goal)
		heap->goal_bytes = p.heap_goal;
	goal = gch_goal_bytes(heap);
	mutex_unlock(&heap->lock);
	trace_gcheap_gc_phase(heap, p.phase, p.cycle, p.heap_live, goal);
	if (p.phase == GCH_GC_SWEEP_END)	/* the scavenger may resume */
		gch_scavenger_kick();
	gch_uout_write(&out, &p);
	return 0;
}

/* Taking an event changes the heap: the write-back is pinned first. */
static int gch_ioc_pressure(struct gch_heap *heap, void __user *uarg)
{
	struct gch_pressure p;
	struct gch_uout out;
	u32 usize;
	int err;

	err = gch_copy_in(&p, sizeof(p), GCH_V1_PRESSURE, uarg, &usize);
	if (err)
		return err;
	if (!gch_pressure_valid(&p))
		return -EINVAL;
	err = gch_uout_pin(&out, uarg, min_t(size_t, sizeof(p), usize));
	if (err)
		return err;
	err = gch_pressure_ioctl(heap, &p);
	if (err) {
		gch_uout_drop(&out);
		return err;
	}
	gch_uout_write(&out, &p);
	return 0;
}

/* Arming, collecting and disarming change the heap: write-back pinned first. */
static int gch_ioc_dirty(struct gch_heap *heap, void __user *uarg)
{
	struct gch_dirty d;
	struct gch_uout out;
	u32 usize;
	int err;

	err = gch_copy_in(&d, sizeof(d), GCH_V1_DIRTY, uarg, &usize);
	if (err)
		return err;
	if (!gch_dirty_valid(&d))
		return -EINVAL;
	err = gch_uout_pin(&out, uarg, min_t(size_t, sizeof(d), usize));
	if (err)
		return err;
	err = gch_dirty_ioctl(heap, &d);
	if (err) {
		gch_uout_drop(&out);
		return err;
	}
	gch_uout_write(&out, &d);
	return 0;
}

long gch_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct gch_heap *heap = file->private_data;
	void __user *uarg = (void __user *)arg;

	/* watchers (fork children, fd receivers) may only look */
	switch (cmd) {
	case GCH_IOC_VERSION:
		return gch_ioc_version(heap, uarg);
	case GCH_IOC_STATS:
		return gch_ioc_stats(heap, uarg);
	case GCH_IOC_SPAN_ALLOC:
	case GCH_IOC_SPAN_FREE:
	case GCH_IOC_LIMITS:
	case GCH_IOC_SCAVENGE:
	case GCH_IOC_GC_PHASE:
	case GCH_IOC_PRESSURE:
	case GCH_IOC_DIRTY:
		if (!gch_is_owner(heap))
			return -EPERM;
		break;
	default:
		return -ENOTTY;
	}

	switch (cmd) {
	case GCH_IOC_SPAN_ALLOC:
		return gch_ioc_span_alloc(heap, uarg);
	case GCH_IOC_SPAN_FREE:
		return gch_ioc_span_free(heap, uarg);
	case GCH_IOC_LIMITS:
		return gch_ioc_limits(heap, uarg);
	case GCH_IOC_SCAVENGE:
		return gch_ioc_scavenge(heap, uarg);
	case GCH_IOC_PRESSURE:
		return gch_ioc_pressure(heap, uarg);
	case GCH_IOC_DIRTY:
		return gch_ioc_dirty(heap, uarg);
	default:
		return gch_ioc_gc_phase(heap, uarg);
	}
}

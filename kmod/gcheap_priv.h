/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gcheap internal header: the heap object and the interfaces between the
 * module's mechanisms (one .c file each).
 *
 * Object model
 * ------------
 * One struct gch_heap per open() of /dev/gcheap (file->private_data).  It owns
 * an anonymous inode on gcheap's pseudo filesystem whose address_space is the
 * file's f_mapping, so every VMA of this heap sits in that mapping's i_mmap
 * tree and unmap_mapping_range() zaps this heap's PTEs and no other heap's.
 * The heap is destroyed by ->release(), i.e. when the last file reference
 * goes; every VMA holds a file reference, so at that point no user PTE can
 * point at a heap page any more.
 *
 * Arenas (struct gch_arena) are created by the first mmap() of their offset
 * and live until the heap dies.  Each holds the page allocator's state for
 * its 8192 heap pages, its slice of the page map and of the span slots
 * (vmalloc'ed, mapped to userspace by fault) and the table of system pages
 * that back its address space.
 *
 * Locking (outermost first)
 * -------------------------
 *  heap->dirty_lock (GCH_IOC_DIRTY only, dirty.c)
 *  mmap_lock (mmap(), faults)
 *    -> heap->lock (mutex): arena creation and heap->arenas[] writes, the
 *       allocator state (bitmaps, summary trees, arena tree), page-map and
 *       span-slot writes, limits, span counters.  Never held across
 *       copy_{to,from}_user (a copy may fault on mmap_lock, and mmap() takes
 *       heap->lock under mmap_lock).
 *      -> page lock, trylock only (release path, on pages it took out of
 *         the table; a fault holding a page lock may enter reclaim)
 *        -> i_mmap_rwsem, PTE locks (unmap_mapping_range)
 *      -> heap->res_lock (spinlock): arena->pages[], arena->resident,
 *         arena->dirty[] writes, the
 *         heap's residency counters and its per-memcg parts (memcg.c);
 *         page-map entries are also written under it so that a fault
 *         classifies a page as free/in-span consistently with the
 *         allocator's residency bookkeeping.
 *  The fault handler takes only res_lock and then one page lock, never
 *  heap->lock, so faults cannot deadlock against ioctls.  Populating
 *  (GCH_IOC_SPAN_ALLOC on a mapping marked MADV_SEQUENTIAL, arena.c) runs
 *  after the span is allocated and heap->lock dropped, like a fault:
 *  mmap_lock (read), then res_lock briefly, page locks on its own fresh
 *  pages, PTE locks.  Memory is never allocated under heap->lock (nor any
 *  user memory touched) and release only trylocks pages, so reclaim (the
 *  shrinker) may sleep on heap->lock: its holder never waits for reclaim.
 *  Every holder keeps it briefly (release passes go in steps of at most
 *  GCH_SCAV_CHUNK system pages, the scavenger thread's of four), so reclaim
 *  waits at most one step and never skips a busy heap.
 *
 * heap->arenas[i] is published with smp_store_release() once the arena is
 * complete and never cleared before teardown, so faults read it with
 * smp_load_acquire() and no lock.
 */
#ifndef _GCHEAP_INTERNAL_H
#define _GCHEAP_INTERNAL_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/mm_types.h>
#include <linux/gcheap.h>	/* the uAPI, from ../uapi */

#define GCH_SYS_PER_HEAP_PAGE	(GCH_PAGE_SIZE / PAGE_SIZE)
#define GCH_SYS_PER_ARENA	(GCH_ARENA_SIZE >> PAGE_SHIFT)
#define GCH_ARENA_SYS_SHIFT	(GCH_ARENA_SHIFT - PAGE_SHIFT)
/* Bytes of page map (and of span slots) that describe one arena. */
#define GCH_MAP_BYTES_PER_ARENA	(GCH_PAGES_PER_ARENA * sizeof(u64))
#define GCH_MAP_SYS_PER_ARENA	(GCH_MAP_BYTES_PER_ARENA >> PAGE_SHIFT)

/* Allocator bitmap words per arena, and the summary tree over them. */
#define GCH_WORDS_PER_ARENA	(GCH_PAGES_PER_ARENA / BITS_PER_LONG)
#define GCH_TREE_NODES		(2 * GCH_WORDS_PER_ARENA)

/* Free-run summary of a power-of-two block of heap pages. */
struct gch_sum {
	u16 pre;	/* free pages at the block's low end */
	u16 suf;	/* free pages at the block's high end */
	u16 max;	/* longest free run inside the block */
};

/*
 * The same summary for a block of whole arenas (pagealloc.c): runs that
 * cross arena boundaries, for GCH_SPAN_ALLOC_CROSS, need more than 16 bits.
 */
struct gch_hsum {
	u32 pre;
	u32 suf;
	u32 max;
};

struct gch_arena {
	unsigned int index;
	/* heap->lock: one bit per heap page, set while the page is in a span */
	unsigned long used[GCH_WORDS_PER_ARENA];
	/* heap->lock: implicit segment tree, leaves are used[] words */
	struct gch_sum tree[GCH_TREE_NODES];
	/* written under heap->lock + res_lock, read by userspace and faults */
	u64 *pagemap;
	/* written by the kernel under heap->lock at allocation, else userspace's */
	u64 *slots;
	/* res_lock: system page backing each PAGE_SIZE of the arena, or NULL */
	struct page **pages;
	/* res_lock: number of non-NULL pages[] */
	unsigned int resident;
	/*
	 * Dirty tracking (dirty.c): one bit per heap page, written since the
	 * last GCH_DIRTY_ARM or COLLECT of it.  Set by the write fault and
	 * cleared by collect and release, each under res_lock with the page
	 * lock of a resident system page of it held (release: none left).
	 */
	unsigned long dirty[GCH_WORDS_PER_ARENA];
	/*
	 * mmap_lock: where the owner last mmap()ed this arena, for populating
	 * (arena.c); checked against the VMA found there before each use.
	 */
	unsigned long uaddr;
};

/*
 * A heap's free resident memory charged to one obj_cgroup (memcg.c): the
 * shrinker's object, one item of gch_lru.  Lives as long as its heap.
 */
struct gch_mcg {
	struct list_head lru;		/* gch_lru, under the charged memcg */
	struct list_head node;		/* heap->mcgs, res_lock */
	struct gch_heap *heap;
	struct obj_cgroup *objcg;	/* referenced; NULL: no cgroup */
	unsigned long free_pages;	/* res_lock; read racily */
	/* gch_lru's lock: the shrinker's view of the cgroup's limit events */
	unsigned long limit_events;
	bool limit_reclaim;
};

struct gch_heap {
	u64 id;
	pid_t pid;			/* tgid of the opener, for names/traces */
	struct mm_struct *mm;		/* owner; mmgrab()ed so never reused */
	struct inode *inode;		/* private address_space for the VMAs */
	struct dentry *debugfs;

	struct mutex lock;
	/* heap->lock */
	struct gch_arena *arenas[GCH_MAX_ARENAS];
	/* heap->lock: max-tree of arena longest free runs, leaves = arenas */
	u16 arena_tree[2 * GCH_MAX_ARENAS];
	/* heap->lock: summary tree of free runs read across arenas (absent: 0) */
	struct gch_hsum arena_sum[2 * GCH_MAX_ARENAS];
	unsigned int narenas;
	u64 span_pages;
	u64 spans;
	u64 hard_pages;
	u64 soft_bytes;
	u64 goal_bytes;
	u64 gc_cycle;
	u64 heap_live;
	u32 gc_phase;
	/* heap->lock: GCH_GC_PAUSE announcements and their summed ns */
	u64 gc_pauses;
	u64 gc_pause_ns;
	u64 alloc_calls;
	u64 free_calls;
	u64 spans_freed;
	u64 limit_hits;
	u64 released_ioctl_bytes;
	u64 scavenge_ns;
	/* heap->lock: the other release paths (scavenger.c, shrinker.c) */
	u64 released_bg_bytes;
	u64 released_eager_bytes;
	u64 released_shrink_bytes;
	u64 released_memcg_bytes;
	/* heap->lock: heap page the next scavenger walk starts below (0: top) */
	u64 scav_cursor;

	/* gch_heaps_lock (scavenger.c): the registry of all heaps */
	struct list_head heaps_node;
	/* scavenger/shrinker users of a listed heap; teardown waits for 0 */
	atomic_t heaps_pins;

	spinlock_t res_lock;
	/* res_lock: system pages backing the heap, and those of free pages */
	u64 resident_pages;
	u64 free_resident_pages;
	/* res_lock: system pages installed by the fault handler, by populate */
	u64 faults;
	u64 populated;
	/* res_lock: one part per obj_cgroup pages are charged to (memcg.c) */
	struct list_head mcgs;
	struct gch_mcg *mcg_last;

	/*
	 * dirty.c: dirty_lock serialises GCH_IOC_DIRTY and is taken before
	 * mmap_lock.  dirty_armed is written under dirty_lock and the owner's
	 * write mmap_lock, so mmap() reads it under the latter alone.
	 */
	struct mutex dirty_lock;
	bool dirty_armed;
	/* res_lock: tracking write faults; arm, collect, write-protect counts */
	u64 dirty_faults;
	u64 dirty_arms;
	u64 dirty_collects;
	u64 dirty_wp_pages;

	/* pressure.c: pressure_lock guards the event and its counters */
	spinlock_t pressure_lock;
	wait_queue_head_t pressure_wq;	/* poll() waiters */
	u32 pressure_state;		/* enum gch_pressure_state */
	u32 pressure_reasons;		/* GCH_PRESSURE_* of the event */
	u64 pressure_asked;		/* bytes asked, of the event */
	u64 pressure_raised_ns;		/* when the event was raised */
	u64 pressure_quiet_until;	/* ktime ns: no event before */
	u64 pressure_events;
	u64 pressure_suppressed;
};

/*
 * bpf/gcheap_raw.bpf.c (raw_tp, for modules without BTF) reads the heap id and
 * owner pid of a tracepoint's heap argument at these fixed offsets.
 */
static_assert(offsetof(struct gch_heap, id) == 0 &&
	      offsetof(struct gch_heap, pid) == 8);

/* main.c */
extern unsigned long gch_max_total_pages;
extern atomic_long_t gch_total_span_pages;
extern struct dentry *gch_debugfs_root;

/* heap.c */
int gch_fs_init(void);
void gch_fs_exit(void);
extern const struct file_operations gch_fops;
bool gch_is_owner(const struct gch_heap *heap);

/* ioctl.c */
long gch_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* arena.c */
int gch_mmap(struct file *file, struct vm_area_struct *vma);
int gch_vma_no_split(struct vm_area_struct *vma, unsigned long addr);
int gch_vma_no_mremap(struct vm_area_struct *vma);
extern const struct vm_operations_struct gch_arena_vm_ops;
extern const struct vm_operations_struct gch_arena_dirty_vm_ops;
bool gch_is_arena_vma(const struct vm_area_struct *vma);
struct gch_arena *gch_arena_get(struct gch_heap *heap, unsigned int i);
void gch_arenas_destroy(struct gch_heap *heap);
unsigned long gch_span_publish(struct gch_heap *heap, struct gch_arena *arena,
			       u32 first, u32 n, u64 entry);
unsigned long gch_span_populate(struct gch_heap *heap, u64 first, u32 npages);

/* pagemap.c */
int gch_pagemap_alloc(struct gch_arena *arena);
void gch_pagemap_free(struct gch_arena *arena);
int gch_pagemap_mmap(struct gch_heap *heap, struct vm_area_struct *vma,
		     bool slots);
void gch_pagemap_set(struct gch_arena *arena, u32 first, u32 n, u64 entry);
void gch_slots_clear(struct gch_arena *arena, u32 first, u32 n);

/* pagealloc.c */
void gch_pagealloc_arena_init(struct gch_heap *heap, struct gch_arena *arena);
int gch_span_alloc(struct gch_heap *heap, u32 npages, bool cross, u64 *page,
		   bool *zeroed);
int gch_spans_alloc(struct gch_heap *heap, u32 npages, u32 count,
		    struct gch_span_out *out);
int gch_spans_free(struct gch_heap *heap, struct gch_span_ref *refs,
		   u32 count);

/* scavenge.c */
enum gch_release_reason {
	GCH_RELEASE_IOCTL,
	GCH_RELEASE_BG,
	GCH_RELEASE_EAGER,
	GCH_RELEASE_SHRINK,
	GCH_RELEASE_MEMCG,
};
/* System pages one release step may take under heap->lock (1 MiB). */
#define GCH_SCAV_CHUNK		256
u64 gch_goal_bytes(const struct gch_heap *heap);
u64 gch_retained_budget(struct gch_heap *heap);
unsigned long gch_release_down(struct gch_heap *heap, struct gch_arena *arena,
			       unsigned int lo, unsigned int *hi,
			       unsigned long max_sys, struct gch_mcg *only);
u64 gch_scavenge(struct gch_heap *heap, u64 max_bytes, bool all,
		 enum gch_release_reason reason);

/* scavenger.c: heap registry, the walk every path but the ioctl uses, kthread */
void gch_heap_register(struct gch_heap *heap);
void gch_heap_unregister(struct gch_heap *heap);
unsigned int gch_heaps_count(void);
struct gch_heap *gch_heap_pin_next(void);
void gch_heap_unpin(struct gch_heap *heap);
unsigned long gch_release_free(struct gch_heap *heap, unsigned long max_sys,
			       struct gch_mcg *only,
			       enum gch_release_reason reason, u64 *ns);
void gch_scavenger_kick(void);
int gch_scavenger_init(void);
void gch_scavenger_exit(void);

/* shrinker.c */
int gch_shrinker_init(void);
void gch_shrinker_exit(void);

/* memcg.c */
struct shrinker;
struct obj_cgroup;
struct mem_cgroup;
extern struct list_lru gch_lru;
struct obj_cgroup *gch_page_objcg(struct page *page);
struct gch_mcg *gch_mcg_find(struct gch_heap *heap, struct obj_cgroup *objcg);
int gch_mcg_ensure(struct gch_heap *heap, struct page *page);
void gch_mcg_account(struct gch_heap *heap, struct page *page, long delta);
void gch_mcg_heap_init(struct gch_heap *heap);
void gch_mcg_heap_unlink(struct gch_heap *heap);
void gch_mcg_heap_free(struct gch_heap *heap);
unsigned long gch_memcg_events(struct mem_cgroup *memcg);
bool gch_memcg_limited(struct mem_cgroup *memcg);
unsigned long gch_memcg_over(struct mem_cgroup *memcg);
int gch_mcg_init(struct shrinker *shrinker);
void gch_mcg_exit(void);

/* pressure.c */
struct poll_table_struct;
void gch_pressure_heap_init(struct gch_heap *heap);
void gch_pressure_raise(struct gch_heap *heap, u32 reason, u64 bytes);
__poll_t gch_pressure_poll(struct file *file, struct poll_table_struct *pt);
bool gch_pressure_valid(const struct gch_pressure *p);
int gch_pressure_ioctl(struct gch_heap *heap, struct gch_pressure *p);

/* dirty.c */
vm_fault_t gch_dirty_page_mkwrite(struct vm_fault *vmf);
void gch_dirty_page_gone(struct gch_heap *heap, struct gch_arena *arena,
			 unsigned int idx);
bool gch_dirty_valid(const struct gch_dirty *d);
int gch_dirty_ioctl(struct gch_heap *heap, struct gch_dirty *d);

/* stats.c */
void gch_stats_fill(struct gch_heap *heap, struct gch_stats *st);
void gch_debugfs_heap_add(struct gch_heap *heap);
void gch_debugfs_heap_del(struct gch_heap *heap);

#endif /* _GCHEAP_INTERNAL_H */

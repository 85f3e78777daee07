// SPDX-License-Identifier: MIT
/*
 * stress_test: the whole uAPI at once, from several threads, seeded.
 *
 * NTHREADS workers share NSHARED heaps (one fd each) and own one private heap
 * each.  Every worker runs a random mix of valid and invalid operations on
 * them: span allocation and (batched) free; free batches with a duplicate,
 * a wrong length or a page that heads no span; LIMITS (hard limits down to 0
 * and 1 page, goals and soft limits up to U64_MAX); SCAVENGE; GC_PHASE;
 * STATS and VERSION with short, long and first-version sizes; ioctls with a
 * bad size, flag, reserved field, value or number, or a struct on a
 * read-only or PROT_NONE page; arena munmap and mmap again, in place and
 * elsewhere; extra page-map mappings; refused mmaps; partial munmap and
 * mprotect, mremap and madvise on arenas; fork() children, which may only
 * watch; close and reopen of the private heap; drop_caches for the shrinker.
 *
 * Invariants, as it runs:
 *  - every heap page of a span a worker holds carries the worker's stamp
 *    (worker, heap, span id, page) in its first and last word, the page-map
 *    entries name the span and its first span slot holds the stamp, checked
 *    before every free and after every remap: a span handed to two owners,
 *    or data lost by a scavenge, remap or madvise, shows as a wrong stamp;
 *  - a new span's slots are 0, and it reads zero when flagged ZEROED;
 *  - each call succeeds or fails with exactly the errno the header gives
 *    for what was broken (a valid SPAN_ALLOC may get -ENOMEM);
 *  - a private heap has one user, so a model predicts its stats exactly
 *    (spans, calls, limit hits, bytes the ioctl released, limits, GC
 *    announcements): a failing call must change none of them;
 *  - every stats snapshot is consistent in itself and no counter goes down.
 * At the end: each heap's page map and stats hold exactly the spans the
 * workers hold; after closing them no heap of this process is left in
 * debugfs, the module's refcount is back, free memory is back (as in
 * leak_test), and kmemleak, if the kernel has it, blames nothing on gcheap.
 *
 * Reproducing: the seed is printed, and GCH_SEED=<seed> gives every worker
 * the same random choices again; what depends on the other workers (an
 * -ENOMEM, the interleaving) can still differ, so a race may take a few
 * runs.  GCH_STRESS_SECONDS sets the duration (DEFAULT_SECONDS);
 * GCH_STRESS_OPS=<n> runs n operations per worker instead, whatever the
 * speed.  The VM passes no environment: `make stress` runs it long through a
 * wrapper (STRESS_SECONDS=, GCH_SEED=).
 *
 * Memory: at most MAXLIVE_PAGES heap pages per worker and heap are live
 * (96 MiB in all), and scavenging keeps the free part bounded.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "gch_test.h"

#define NTHREADS	4
#define NSHARED		2
#define NHEAPS		(NSHARED + 1)	/* a worker's: the shared ones, then its own */
#define PRIV		NSHARED
#define RES_ARENAS	3		/* arenas each heap may grow to */
#define MAXLIVE		96		/* spans a worker holds per heap */
#define MAXLIVE_PAGES	1024		/* and heap pages (8 MiB) */
#define MAX_BATCH	16
#define BUFSZ		512
#define DEFAULT_SECONDS	20
#define WARMUP_SECONDS	2
#define NOPS_MAX	32
#define ARENA		((size_t)GCH_ARENA_SIZE)
#define PMSIZE		((size_t)GCH_PAGEMAP_SIZE)
#define PPA		GCH_PAGES_PER_ARENA
#define LASTW		(GCH_PAGE_SIZE / 8 - 1)
/* A heap's address space: its arenas, then its page map and span slots. */
#define REGION		(RES_ARENAS * ARENA + 2 * PMSIZE)
/*
 * The smallest goal for which both goal / 10 * 11 and goal + goal / 10 pass
 * U64_MAX (by 6): a budget that wrapped instead of saturating would keep
 * almost nothing.
 */
#define WRAP_GOAL	16769767339735956020ULL
#define offsetofend(T, m)	(offsetof(T, m) + sizeof(((T *)0)->m))

typedef unsigned long long ull;

struct heap {
	int fd;
	__u64 id;
	char *base;			/* REGION bytes */
	volatile const __u64 *pm;
	__u64 *slots;
	int narenas;			/* [0, narenas) exist and are mapped */
	/* span readers and writers hold it for reading, remappers for writing */
	pthread_rwlock_t lock;
	/* successful calls by all workers since open, for the final count */
	atomic_ulong allocs, spans_freed, free_calls;
};

struct span {
	__u32 page, npages, id;
};

struct owned {				/* a worker's spans in one heap */
	struct span s[MAXLIVE];
	int n;
	__u32 pages;
};

/* What the private heap must report: nobody else changes it. */
struct model {
	__u64 allocs, spans_freed, free_calls, limit_hits, released;
	__u64 hard, soft, goal;		/* goal 0: the kernel's default */
	__u64 gc_cycle, heap_live;
	struct gch_span_ref stale;	/* a span freed before (npages 0: none) */
};

struct worker {
	pthread_t tid;
	int id;
	__u64 rs;
	unsigned long ops, nops[NOPS_MAX], enomem, forks, reopens;
	struct heap *heaps[NHEAPS];
	struct heap priv;
	struct owned own[NHEAPS];
	struct model m;
	struct gch_stats last[NHEAPS];	/* counters must only grow */
	struct gch_span_ref refs[2];	/* the SPAN_FREE filler's batch */
	__u32 next_id;
	char *fa;			/* system pages: RW | PROT_NONE | read-only */
	char *scratch;			/* one arena of reservation */
	pid_t child;			/* a fork child not reaped yet */
	char err[512];
};

static struct {
	struct heap shared[NSHARED];
	struct worker w[NTHREADS];
	atomic_int children;		/* fork children not reaped yet */
	atomic_bool failed;
	time_t end;
	unsigned long max_ops;		/* per worker; 0: until end */
	long pg;
	unsigned int total_weight;	/* of ops[] */
	bool noexec, gc_phase, debugfs;
} S;

/* ---- failures: the first one per worker, printed at once ---- */

static bool __attribute__((format(printf, 3, 4)))
fail_at(struct worker *w, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!w->err[0]) {
		n = snprintf(w->err, sizeof(w->err), "worker %d, op %lu, line %d: ",
			     w->id, w->ops, line);
		va_start(ap, fmt);
		vsnprintf(w->err + n, sizeof(w->err) - n, fmt, ap);
		va_end(ap);
		/* a broken mapping may crash another worker before the report */
		fprintf(stderr, "# FAIL %s\n", w->err);
	}
	atomic_store(&S.failed, true);
	return false;
}

#define FAIL(w, ...)		fail_at((w), __LINE__, __VA_ARGS__)
#define CHECK(w, cond, ...)	((cond) || FAIL((w), __VA_ARGS__))

static __u32 rnd(struct worker *w, __u32 lo, __u32 hi)
{
	return rnd_range(&w->rs, lo, hi);
}

static bool chance(struct worker *w, __u32 pct)
{
	return rnd(w, 0, 99) < pct;
}

static const char *err_str(int err)
{
	return err ? strerror(err < 0 ? -err : err) : "success";
}

/* ---- address space ---- */

static char *arena_at(const struct heap *h, int i)
{
	return h->base + (size_t)i * ARENA;
}

static char *reserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* mmap @fd at exactly @addr; 0 or -errno. */
static int map_at(int fd, void *addr, size_t len, int prot, __u64 off, int how)
{
	void *p = mmap(addr, len, prot, MAP_SHARED | how, fd, (off_t)off);

	if (p == MAP_FAILED)
		return -errno;
	if (p == addr)
		return 0;
	munmap(p, len);
	return -EADDRNOTAVAIL;
}

/*
 * Fill a hole that munmap() left with PROT_NONE again.  Workers never map
 * at an address of the kernel's choosing (no malloc, no new threads while
 * they run), so the hole is still there; NOREPLACE proves it.
 */
static int placeholder(void *addr, size_t len)
{
	void *p = mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		       MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	return p == addr ? 0 : -EADDRNOTAVAIL;
}

/* A fresh heap in @h's region: arena 0, page map and slots mapped. */
static int heap_open(struct heap *h)
{
	char *maps = arena_at(h, RES_ARENAS);
	struct gch_version v;
	int ret;

	h->narenas = 0;
	atomic_store(&h->allocs, 0);
	atomic_store(&h->spans_freed, 0);
	atomic_store(&h->free_calls, 0);
	h->fd = gch_open();
	if (h->fd < 0)
		return -errno;
	ret = gch_version(h->fd, &v);
	if (ret)
		return ret;
	h->id = v.heap_id;
	ret = map_at(h->fd, h->base, ARENA, PROT_READ | PROT_WRITE,
		     GCH_MMAP_ARENA(0), MAP_FIXED);
	if (!ret)
		ret = map_at(h->fd, maps, PMSIZE, PROT_READ, GCH_MMAP_PAGEMAP,
			     MAP_FIXED);
	if (!ret)
		ret = map_at(h->fd, maps + PMSIZE, PMSIZE,
			     PROT_READ | PROT_WRITE, GCH_MMAP_SPANSLOTS,
			     MAP_FIXED);
	h->narenas = 1;
	h->pm = (volatile const __u64 *)maps;
	h->slots = (__u64 *)(maps + PMSIZE);
	return ret;
}

static int unmap_range(void *addr, size_t len)
{
	return munmap(addr, len) ? -errno : placeholder(addr, len);
}

/* Unmap what is mapped of @h (not its fd), leaving placeholders. */
static int heap_unmap(struct heap *h)
{
	int ret = 0, r;

	/* whole mappings only, so nothing is split */
	if (h->narenas)
		ret = unmap_range(h->base, (size_t)h->narenas * ARENA);
	if (h->pm) {
		r = unmap_range(arena_at(h, RES_ARENAS), 2 * PMSIZE);
		ret = ret ?: r;
	}
	h->narenas = 0;
	h->pm = NULL;
	h->slots = NULL;
	return ret;
}

static void rd(struct heap *h)
{
	pthread_rwlock_rdlock(&h->lock);
}

static void wr(struct heap *h)
{
	pthread_rwlock_wrlock(&h->lock);
}

static void unlock(struct heap *h)
{
	pthread_rwlock_unlock(&h->lock);
}

/* The fault area's read-only page, writable between these two calls. */
static char *ro_begin(struct worker *w)
{
	char *ro = w->fa + 2 * S.pg;

	mprotect(ro, S.pg, PROT_READ | PROT_WRITE);
	return ro;
}

static void ro_end(struct worker *w)
{
	mprotect(w->fa + 2 * S.pg, S.pg, PROT_READ);
}

/* ---- debugfs, module, memory ---- */

/* Whether heap @id's debugfs directory exists as @want (true without debugfs). */
static bool dir_is(__u64 id, bool want)
{
	return !S.debugfs || gch_heap_dir_exists(id) == want;
}

/* Heap directories of this process in debugfs. */
static int heaps_left(char *names, size_t len)
{
	char prefix[32];
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/sys/kernel/debug/gcheap");

	names[0] = 0;
	if (!d)
		return 0;
	snprintf(prefix, sizeof(prefix), "%d-", getpid());
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		if (strlen(names) + strlen(de->d_name) + 2 < len) {
			strcat(names, " ");
			strcat(names, de->d_name);
		}
		n++;
	}
	closedir(d);
	return n;
}

static bool dev_noexec(void)
{
	struct statvfs sv;

	return !statvfs(GCH_DEV, &sv) && (sv.f_flag & ST_NOEXEC);
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 0) : def;
}

/*
 * Free memory as leak_test measures it: MemFree plus the per-CPU free lists,
 * after drop_caches, once it stops moving.  The tolerance is leak_test's
 * noise with a margin for what 4 threads and their forks leave in slab
 * caches, plus KASAN's quarantine (1/32 of RAM) on the debug kernel.
 */
static long tolerance_kb(void)
{
	long tol = 4 * 1024;

	if (gch_kernel_has_kasan())
		tol += meminfo_kb("MemTotal") / 32;
	return tol;
}

static long free_kb(void)
{
	char line[256];
	long pages = 0, mf = meminfo_kb("MemFree");
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f || mf < 0) {
		if (f)
			fclose(f);
		return mf;
	}
	while (fgets(line, sizeof(line), f)) {
		const char *t = line + strspn(line, " \t");

		if (!strncmp(t, "count:", 6))
			pages += strtol(t + 6, NULL, 10);
	}
	fclose(f);
	return mf + pages * (S.pg / 1024);
}

static void drop_caches(const char *what)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd >= 0) {
		ssize_t r = write(fd, what, strlen(what));

		(void)r;
		close(fd);
	}
}

static long memfree_settled(void)
{
	long prev = -1, cur = -1;

	sync();
	drop_caches("3\n");
	for (int i = 0; i < 30; i++) {
		usleep(100 * 1000);
		cur = free_kb();
		if (prev >= 0 && labs(cur - prev) < 256)
			break;
		prev = cur;
	}
	return cur;
}

/* How much less is free than @before, measured again while it is too much. */
static long shortfall_kb(long before, long tol)
{
	long worst = before - memfree_settled();

	for (int i = 0; i < 10 && worst >= tol; i++) {
		usleep(300 * 1000);
		worst = before - memfree_settled();
	}
	return worst;
}

/* ---- spans ---- */

static __u64 stamp(const struct worker *w, int hi, __u32 id, __u64 page)
{
	return (__u64)(w->id + 1) << 60 | (__u64)hi << 56 | (__u64)id << 24 |
	       (page & 0xffffff);
}

static __u64 *page_at(const struct heap *h, __u64 page, intptr_t delta)
{
	return (__u64 *)(gch_page_addr(h->base, page) + delta);
}

static struct gch_span_ref ref_of(const struct span *s)
{
	return (struct gch_span_ref){ s->page, s->npages };
}

/* A span as SPAN_ALLOC must hand it out; h->lock held. */
static bool span_fresh(struct worker *w, int hi, const struct span *s,
		       bool zeroed)
{
	const struct heap *h = w->heaps[hi];
	__u64 entry = GCH_PME_MAKE(s->page, s->npages);

	for (__u64 p = s->page; p < (__u64)s->page + s->npages; p++) {
		const __u64 *q = page_at(h, p, 0);

		if (h->pm[p] != entry)
			return FAIL(w, "heap %d: new span %u+%u: page-map entry of page %llu is %#llx",
				    hi, s->page, s->npages, (ull)p, (ull)h->pm[p]);
		if (h->slots[p])
			return FAIL(w, "heap %d: new span %u+%u: slot of page %llu is %#llx, not 0",
				    hi, s->page, s->npages, (ull)p, (ull)h->slots[p]);
		if (zeroed && (q[0] || q[LASTW / 2 + 1] || q[LASTW]))
			return FAIL(w, "heap %d: span %u+%u flagged ZEROED: page %llu holds %#llx %#llx %#llx",
				    hi, s->page, s->npages, (ull)p, (ull)q[0],
				    (ull)q[LASTW / 2 + 1], (ull)q[LASTW]);
	}
	return true;
}

static void span_stamp(struct worker *w, int hi, const struct span *s)
{
	const struct heap *h = w->heaps[hi];

	for (__u64 p = s->page; p < (__u64)s->page + s->npages; p++) {
		__u64 *q = page_at(h, p, 0), st = stamp(w, hi, s->id, p);

		q[0] = st;
		q[LASTW] = ~st;
	}
	h->slots[s->page] = stamp(w, hi, s->id, s->page);
}

/* Our data and the page map, with the arena seen @delta bytes away; lock held. */
static bool span_check(struct worker *w, int hi, const struct span *s,
		       intptr_t delta)
{
	const struct heap *h = w->heaps[hi];
	__u64 entry = GCH_PME_MAKE(s->page, s->npages);

	for (__u64 p = s->page; p < (__u64)s->page + s->npages; p++) {
		const __u64 *q = page_at(h, p, delta);
		__u64 want = stamp(w, hi, s->id, p);

		if (q[0] != want || q[LASTW] != ~want)
			return FAIL(w, "heap %d: span %u+%u: page %llu holds %#llx/%#llx, want %#llx: data lost or span shared",
				    hi, s->page, s->npages, (ull)p, (ull)q[0],
				    (ull)~q[LASTW], (ull)want);
		if (h->pm[p] != entry)
			return FAIL(w, "heap %d: span %u+%u: page-map entry of page %llu is %#llx",
				    hi, s->page, s->npages, (ull)p, (ull)h->pm[p]);
	}
	return CHECK(w, h->slots[s->page] == stamp(w, hi, s->id, s->page),
		     "heap %d: span %u+%u: slot %#llx, want %#llx", hi, s->page,
		     s->npages, (ull)h->slots[s->page],
		     (ull)stamp(w, hi, s->id, s->page));
}

/* Our spans of heap @hi in @arena (-1: all); lock held. */
static bool spans_check(struct worker *w, int hi, int arena, intptr_t delta)
{
	const struct owned *o = &w->own[hi];

	for (int i = 0; i < o->n; i++) {
		if (arena >= 0 && o->s[i].page / PPA != (__u32)arena)
			continue;
		if (!span_check(w, hi, &o->s[i], delta))
			return false;
	}
	return true;
}

static bool spans_check_locked(struct worker *w, int hi)
{
	bool ok;

	rd(w->heaps[hi]);
	ok = spans_check(w, hi, -1, 0);
	unlock(w->heaps[hi]);
	return ok;
}

/* Move @k random spans of @o to its front. */
static void own_pick(struct worker *w, struct owned *o, int k)
{
	for (int i = 0; i < k; i++) {
		int j = (int)rnd(w, i, o->n - 1);
		struct span t = o->s[i];

		o->s[i] = o->s[j];
		o->s[j] = t;
	}
}

static void own_drop(struct owned *o, int k)
{
	for (int i = 0; i < k; i++)
		o->pages -= o->s[i].npages;
	memmove(o->s, o->s + k, (o->n - k) * sizeof(o->s[0]));
	o->n -= k;
}

/* ---- stats ---- */

static const struct {
	const char *name;
	size_t off;
} counters[] = {
#define C(f) { #f, offsetof(struct gch_stats, f) }
	C(alloc_calls), C(free_calls), C(spans_freed), C(faults),
	C(limit_hits), C(released_bg_bytes), C(released_eager_bytes),
	C(released_shrink_bytes), C(released_ioctl_bytes), C(scavenge_ns),
	C(released_memcg_bytes),
#undef C
};

static __u64 field(const struct gch_stats *st, size_t off)
{
	__u64 v;

	memcpy(&v, (const char *)st + off, sizeof(v));
	return v;
}

static const char *stats_str(const struct gch_stats *st)
{
	static __thread char buf[320];

	snprintf(buf, sizeof(buf),
		 "arenas %llu spans %llu span_pages %llu free_pages %llu "
		 "resident %llu free_resident %llu "
		 "alloc_calls %llu free_calls %llu spans_freed %llu",
		 (ull)st->arenas, (ull)st->spans, (ull)st->span_pages,
		 (ull)st->free_pages, (ull)st->resident_bytes,
		 (ull)st->free_resident_bytes, (ull)st->alloc_calls,
		 (ull)st->free_calls, (ull)st->spans_freed);
	return buf;
}

static bool model_check(struct worker *w, const struct gch_stats *st)
{
	const struct model *m = &w->m;
	const struct owned *o = &w->own[PRIV];
	const struct {
		const char *name;
		__u64 got, want;
	} f[] = {
		{ "spans", st->spans, o->n },
		{ "span_pages", st->span_pages, o->pages },
		{ "arenas", st->arenas, w->priv.narenas },
		{ "alloc_calls", st->alloc_calls, m->allocs },
		{ "spans_freed", st->spans_freed, m->spans_freed },
		{ "free_calls", st->free_calls, m->free_calls },
		{ "limit_hits", st->limit_hits, m->limit_hits },
		{ "hard_limit_pages", st->hard_limit_pages, m->hard },
		{ "released_ioctl_bytes", st->released_ioctl_bytes, m->released },
		{ "gc_cycle", st->gc_cycle, m->gc_cycle },
		{ "heap_live", st->heap_live, m->heap_live },
		{ "heap_goal", st->heap_goal, m->goal ? m->goal : st->heap_goal },
	};

	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (f[i].got != f[i].want)
			return FAIL(w, "private heap: %s is %llu, but %llu after what this worker did",
				    f[i].name, (ull)f[i].got, (ull)f[i].want);
	return true;
}

/* A snapshot must be consistent in itself, and no counter may go down. */
static bool stats_check(struct worker *w, int hi, const struct gch_stats *st)
{
	struct gch_stats *last = &w->last[hi];
	const struct owned *o = &w->own[hi];
	__u64 in_spans = st->resident_bytes - st->free_resident_bytes;
	const struct {
		const char *what;
		bool ok;
	} c[] = {
		{ "heap_id is the heap's", st->heap_id == w->heaps[hi]->id },
		{ "arenas <= those mapped", st->arenas <= RES_ARENAS },
		{ "mapped_bytes == arenas * GCH_ARENA_SIZE",
		  st->mapped_bytes == st->arenas * ARENA },
		{ "span_pages + free_pages == pages of the arenas",
		  st->span_pages + st->free_pages == st->arenas * PPA },
		{ "spans <= span_pages", st->spans <= st->span_pages },
		{ "free_resident <= resident <= mapped",
		  st->free_resident_bytes <= st->resident_bytes &&
		  st->resident_bytes <= st->mapped_bytes },
		{ "resident in spans <= span bytes",
		  in_spans <= st->span_pages * GCH_PAGE_SIZE },
		{ "free_resident <= free page bytes",
		  st->free_resident_bytes <= st->free_pages * GCH_PAGE_SIZE },
		{ "spans == alloc_calls - spans_freed",
		  st->spans == st->alloc_calls - st->spans_freed },
		{ "free_calls <= spans_freed", st->free_calls <= st->spans_freed },
		{ "our spans are counted",
		  st->spans >= (__u64)o->n && st->span_pages >= o->pages },
	};

	for (size_t i = 0; i < ARRAY_SIZE(c); i++)
		if (!c[i].ok)
			return FAIL(w, "heap %d: stats break \"%s\": %s", hi,
				    c[i].what, stats_str(st));
	for (size_t i = 0; last->heap_id == st->heap_id &&
			   i < ARRAY_SIZE(counters); i++)
		if (field(st, counters[i].off) < field(last, counters[i].off))
			return FAIL(w, "heap %d: counter %s went down from %llu to %llu",
				    hi, counters[i].name,
				    (ull)field(last, counters[i].off),
				    (ull)field(st, counters[i].off));
	*last = *st;
	return hi != PRIV || model_check(w, st);
}

static bool stats_now(struct worker *w, int hi)
{
	struct gch_stats st;
	int ret = gch_stats(w->heaps[hi]->fd, &st);

	return CHECK(w, !ret, "heap %d: STATS: %s", hi, err_str(ret)) &&
	       stats_check(w, hi, &st);
}

/* The private heap's stats and limits are what the model says. */
static bool check_private(struct worker *w)
{
	const struct model *m = &w->m;
	struct gch_limits l = { .hard_pages = rnd_next(&w->rs),
				.goal_bytes = rnd_next(&w->rs) };
	int ret;

	if (!stats_now(w, PRIV))
		return false;
	ret = gch_limits(w->priv.fd, 0, &l);
	return CHECK(w, !ret, "private heap: LIMITS read: %s", err_str(ret)) &&
	       CHECK(w, l.hard_pages == m->hard && l.soft_bytes == m->soft &&
			(!m->goal || l.goal_bytes == m->goal),
		     "private heap: limits %llu/%llu/%llu in force, set were %llu/%llu/%llu",
		     (ull)l.hard_pages, (ull)l.soft_bytes, (ull)l.goal_bytes,
		     (ull)m->hard, (ull)m->soft, (ull)m->goal);
}

/* ---- allocation and free ---- */

static __u32 pick_npages(struct worker *w)
{
	__u32 r = rnd(w, 0, 99);

	if (r < 60)
		return rnd(w, 1, 8);
	if (r < 85)
		return rnd(w, 9, 64);
	if (r < 97)
		return rnd(w, 65, 256);
	return rnd(w, 257, MAXLIVE_PAGES);
}

/* SPAN_ALLOC as a valid caller may send it: junk outputs, a zero tail. */
static int alloc_call(struct worker *w, int fd, __u32 n, __u64 *page,
		      __u32 *oflags)
{
	union {
		struct gch_span_alloc a;
		char raw[sizeof(struct gch_span_alloc) + 64];
	} u;
	int ret;

	memset(&u, 0, sizeof(u));
	u.a.size = sizeof(u.a) + (chance(w, 10) ? rnd(w, 1, 64) : 0);
	u.a.npages = n;
	u.a.out_flags = (__u32)rnd_next(&w->rs);
	u.a.page = rnd_next(&w->rs);
	ret = gch_ioctl(fd, GCH_IOC_SPAN_ALLOC, &u);
	*page = u.a.page;
	*oflags = u.a.out_flags;
	return ret;
}

/* An allocation's result; on the private heap the model knows the limit. */
static bool alloc_judge(struct worker *w, int hi, __u32 n, int ret)
{
	const struct owned *o = &w->own[hi];
	bool over = hi == PRIV && w->m.hard && o->pages + (__u64)n > w->m.hard;

	if (ret && ret != -ENOMEM)
		return FAIL(w, "heap %d: SPAN_ALLOC of %u pages: %s", hi, n,
			    err_str(ret));
	if (over) {
		w->m.limit_hits++;
		return CHECK(w, ret == -ENOMEM,
			     "private heap: %u more pages allocated with %u in use and hard limit %llu",
			     n, o->pages, (ull)w->m.hard);
	}
	if (ret)
		w->enomem++;
	else if (hi == PRIV)
		w->m.allocs++;
	return true;
}

/* Create the next arena: libgcheap's answer to -ENOMEM. */
static bool op_grow(struct worker *w, int hi)
{
	struct heap *h = w->heaps[hi];
	bool ok = true;
	int ret;

	wr(h);
	if (h->narenas < RES_ARENAS) {
		ret = map_at(h->fd, arena_at(h, h->narenas), ARENA,
			     PROT_READ | PROT_WRITE,
			     GCH_MMAP_ARENA(h->narenas), MAP_FIXED);
		ok = CHECK(w, !ret, "heap %d: creating arena %d: %s", hi,
			   h->narenas, err_str(ret));
		h->narenas += ok;
	}
	unlock(h);
	return ok && (hi != PRIV || check_private(w));
}

static bool span_take(struct worker *w, int hi, __u64 page, __u32 n,
		      __u32 oflags)
{
	struct heap *h = w->heaps[hi];
	struct span s = { (__u32)page, n, w->next_id++ };
	bool ok;

	atomic_fetch_add(&h->allocs, 1);
	if (!CHECK(w, !(oflags & ~GCH_SPAN_ZEROED), "SPAN_ALLOC out_flags %#x",
		   oflags) ||
	    !CHECK(w, page / PPA == (page + n - 1) / PPA &&
		      page + n <= (__u64)RES_ARENAS * PPA,
		   "heap %d: span %llu+%u crosses an arena or lies past those mapped",
		   hi, (ull)page, n))
		return false;
	rd(h);
	ok = CHECK(w, page + n <= (__u64)h->narenas * PPA,
		   "heap %d: span %llu+%u in an arena never mapped", hi,
		   (ull)page, n) &&
	     span_fresh(w, hi, &s, oflags & GCH_SPAN_ZEROED);
	if (ok)
		span_stamp(w, hi, &s);
	unlock(h);
	if (ok) {
		w->own[hi].s[w->own[hi].n++] = s;
		w->own[hi].pages += n;
	}
	return ok;
}

/* SPAN_FREE of @refs; from the read-only page (nothing is written back). */
static int free_call(struct worker *w, int fd, const struct gch_span_ref *refs,
		     __u32 k, bool ro)
{
	struct gch_span_free f = { .size = sizeof(f), .count = k,
				   .spans = (uintptr_t)refs };
	char *page;

	if (!ro)
		return gch_ioctl(fd, GCH_IOC_SPAN_FREE, &f);
	page = ro_begin(w);
	f.spans = (uintptr_t)(page + 64);
	memcpy(page, &f, sizeof(f));
	memcpy(page + 64, refs, k * sizeof(*refs));
	ro_end(w);
	return gch_ioctl(fd, GCH_IOC_SPAN_FREE, page);
}

static bool priv_freed(struct worker *w, const struct gch_span_ref *refs,
		       int k)
{
	w->m.spans_freed += k;
	w->m.free_calls++;
	w->m.stale = refs[0];
	/* nobody else allocates here: the entries stay 0 */
	for (int i = 0; i < k; i++)
		for (__u32 p = refs[i].page; p < refs[i].page + refs[i].npages; p++)
			if (w->priv.pm[p])
				return FAIL(w, "private heap: freed span %u+%u: entry of page %u is %#llx",
					    refs[i].page, refs[i].npages, p,
					    (ull)w->priv.pm[p]);
	return !chance(w, 20) || check_private(w);
}

static bool op_free(struct worker *w, int hi)
{
	struct heap *h = w->heaps[hi];
	struct owned *o = &w->own[hi];
	struct gch_span_ref refs[MAX_BATCH];
	bool ok = true;
	int k, ret;

	if (!o->n)
		return true;
	k = chance(w, 50) ? 1 : (int)rnd(w, 1, o->n < MAX_BATCH ? o->n : MAX_BATCH);
	own_pick(w, o, k);
	rd(h);
	for (int i = 0; i < k && ok; i++)
		ok = span_check(w, hi, &o->s[i], 0);
	unlock(h);
	if (!ok)
		return false;
	for (int i = 0; i < k; i++)
		refs[i] = ref_of(&o->s[i]);
	ret = free_call(w, h->fd, refs, k, chance(w, 20));
	if (!CHECK(w, !ret, "heap %d: SPAN_FREE of %d own spans: %s", hi, k,
		   err_str(ret)))
		return false;
	atomic_fetch_add(&h->spans_freed, k);
	atomic_fetch_add(&h->free_calls, 1);
	own_drop(o, k);
	return hi != PRIV || priv_freed(w, refs, k);
}

static bool op_alloc(struct worker *w, int hi)
{
	struct owned *o = &w->own[hi];
	__u32 n = pick_npages(w), oflags;
	__u64 page;
	int ret;

	if (o->n == MAXLIVE || o->pages + n > MAXLIVE_PAGES)
		return op_free(w, hi);
	ret = alloc_call(w, w->heaps[hi]->fd, n, &page, &oflags);
	if (!alloc_judge(w, hi, n, ret))
		return false;
	if (ret)
		return chance(w, 50) || op_grow(w, hi);
	return span_take(w, hi, page, n, oflags);
}

/* A whole-arena span: allocated, its ends touched, freed at once. */
static bool op_big(struct worker *w, int hi)
{
	struct heap *h = w->heaps[hi];
	struct gch_span_ref ref = { 0, GCH_MAX_SPAN_PAGES };
	__u64 page, entry;
	__u32 oflags;
	bool ok;
	int ret = alloc_call(w, h->fd, GCH_MAX_SPAN_PAGES, &page, &oflags);

	if (!alloc_judge(w, hi, GCH_MAX_SPAN_PAGES, ret))
		return false;
	if (ret)
		return true;
	atomic_fetch_add(&h->allocs, 1);
	entry = GCH_PME_MAKE(page, GCH_MAX_SPAN_PAGES);
	if (!CHECK(w, page % PPA == 0 && page / PPA < RES_ARENAS,
		   "heap %d: a whole-arena span at page %llu", hi, (ull)page))
		return false;
	rd(h);
	ok = CHECK(w, page / PPA < (__u64)h->narenas && h->pm[page] == entry &&
		      h->pm[page + PPA - 1] == entry && !h->slots[page],
		   "heap %d: whole-arena span %llu: page map %#llx/%#llx, slot %#llx",
		   hi, (ull)page, (ull)h->pm[page], (ull)h->pm[page + PPA - 1],
		   (ull)h->slots[page]);
	if (ok) {
		page_at(h, page, 0)[0] = ~entry;
		page_at(h, page + PPA - 1, 0)[LASTW] = entry;
		ok = CHECK(w, page_at(h, page, 0)[0] == ~entry &&
			      page_at(h, page + PPA - 1, 0)[LASTW] == entry,
			   "heap %d: whole-arena span %llu lost a write", hi,
			   (ull)page);
	}
	unlock(h);
	ref.page = (__u32)page;
	ret = free_call(w, h->fd, &ref, 1, false);
	if (!ok || !CHECK(w, !ret, "heap %d: freeing a whole-arena span: %s",
			  hi, err_str(ret)))
		return false;
	atomic_fetch_add(&h->spans_freed, 1);
	atomic_fetch_add(&h->free_calls, 1);
	return hi != PRIV || priv_freed(w, &ref, 1);
}

static bool owns_exactly(const struct owned *o, struct gch_span_ref r)
{
	for (int i = 0; i < o->n; i++)
		if (o->s[i].page == r.page && o->s[i].npages == r.npages)
			return true;
	return false;
}

/*
 * An entry that can never name a live span, whatever the other workers
 * allocate meanwhile: it is derived from our own spans or lies where no
 * arena is.  A stale span is only safe on the private heap.
 */
static struct gch_span_ref poison(struct worker *w, int hi,
				  const struct gch_span_ref *refs, int m,
				  const char **what)
{
	struct gch_span_ref r = refs[rnd(w, 0, m - 1)];
	__u32 d;

	switch (rnd(w, 0, 6)) {
	case 0:
		*what = "a duplicate";
		return r;
	case 1:
		*what = "a wrong length";
		r.npages += r.npages > 1 && chance(w, 50) ? -1 : 1;
		return r;
	case 2:
		if (r.npages > 1) {
			*what = "a page inside a span";
			d = rnd(w, 1, r.npages - 1);
			return (struct gch_span_ref){ r.page + d,
						      rnd(w, 1, r.npages - d) };
		}
		/* fall through */
	case 3:
		*what = "a page of an arena never created";
		return (struct gch_span_ref){
			(RES_ARENAS + rnd(w, 0, 100)) * PPA + rnd(w, 0, PPA - 1),
			rnd(w, 1, 8) };
	case 4:
		*what = "length 0";
		r.npages = 0;
		return r;
	case 5:
		if (hi == PRIV && w->m.stale.npages &&
		    !owns_exactly(&w->own[PRIV], w->m.stale)) {
			*what = "a span freed before";
			return w->m.stale;
		}
		/* fall through */
	default:
		*what = "a page past the heap";
		return (struct gch_span_ref){
			chance(w, 50) ? ~0U : GCH_MAX_PAGES + rnd(w, 0, 1000), 1 };
	}
}

/* A batch of our spans plus one bad entry: -EINVAL and nothing freed. */
static bool op_bad_batch(struct worker *w, int hi)
{
	struct owned *o = &w->own[hi];
	struct gch_span_ref refs[9], bad;
	const char *what;
	bool ok = true;
	int m, pos, ret;

	if (!o->n)
		return true;
	m = (int)rnd(w, 1, o->n < 8 ? o->n : 8);
	own_pick(w, o, m);
	for (int i = 0; i < m; i++)
		refs[i] = ref_of(&o->s[i]);
	bad = poison(w, hi, refs, m, &what);
	pos = (int)rnd(w, 0, m);
	refs[m] = refs[pos];
	refs[pos] = bad;
	ret = free_call(w, w->heaps[hi]->fd, refs, m + 1, chance(w, 20));
	if (!CHECK(w, ret == -EINVAL,
		   "heap %d: SPAN_FREE of %d own spans and %s (%u+%u): %s, want EINVAL",
		   hi, m, what, bad.page, bad.npages, err_str(ret)))
		return false;
	rd(w->heaps[hi]);
	for (int i = 0; i < m && ok; i++)
		ok = span_check(w, hi, &o->s[i], 0);
	unlock(w->heaps[hi]);
	return ok && (hi != PRIV || check_private(w));
}

static bool op_verify(struct worker *w, int hi)
{
	return spans_check_locked(w, hi);
}

/* ---- limits, scavenging, GC phases, stats, version ---- */

static __u64 pick_hard(struct worker *w, const struct owned *o)
{
	switch (rnd(w, 0, 7)) {
	case 0: case 1: case 2:
		return 0;
	case 3:
		return rnd(w, 1, 8);
	case 4:
		return o->pages + rnd(w, 0, 64);
	case 5:
		return rnd(w, 1, 1 << 16);
	case 6:
		return UINT64_MAX;
	default:
		return rnd_next(&w->rs);
	}
}

/* Byte counts a collector might pass, and the extremes. */
static __u64 pick_bytes(struct worker *w)
{
	switch (rnd(w, 0, 7)) {
	case 0: case 1:
		return 0;
	case 2:
		return rnd(w, 1, 1 << 16);
	case 3:
		return (__u64)rnd(w, 1, 1 << 20) << 10;
	case 4:
		return UINT64_MAX;
	case 5:
		return WRAP_GOAL;
	case 6:
		return 1ULL << 63;
	default:
		return rnd_next(&w->rs);
	}
}

static int limits_call(struct worker *w, int fd, __u32 flags,
		       struct gch_limits *l)
{
	union {
		struct gch_limits l;
		char raw[sizeof(struct gch_limits) + 64];
	} u;
	int ret;

	memset(&u, 0, sizeof(u));
	u.l = *l;
	u.l.size = sizeof(u.l) + (chance(w, 10) ? rnd(w, 1, 64) : 0);
	u.l.flags = flags;
	ret = gch_ioctl(fd, GCH_IOC_LIMITS, &u);
	*l = u.l;
	return ret;
}

static bool priv_limits(struct worker *w, __u32 flags,
			const struct gch_limits *req,
			const struct gch_limits *got)
{
	struct model *m = &w->m;

	if (flags & GCH_LIMIT_HARD)
		m->hard = req->hard_pages;
	if (flags & GCH_LIMIT_SOFT)
		m->soft = req->soft_bytes;
	if (flags & GCH_LIMIT_GOAL)
		m->goal = req->goal_bytes;
	return CHECK(w, got->hard_pages == m->hard && got->soft_bytes == m->soft &&
			(!m->goal || got->goal_bytes == m->goal),
		     "private heap: LIMITS flags %#x gave back %llu/%llu/%llu, in force should be %llu/%llu/%llu",
		     flags, (ull)got->hard_pages, (ull)got->soft_bytes,
		     (ull)got->goal_bytes, (ull)m->hard, (ull)m->soft,
		     (ull)m->goal) &&
	       (!chance(w, 20) || check_private(w));
}

/* A hard limit at or below what is in use keeps the spans, refuses more. */
static bool priv_below_use(struct worker *w)
{
	const struct owned *o = &w->own[PRIV];
	struct gch_limits l = { 0 };
	__u32 n = rnd(w, 1, 8), oflags;
	__u64 page;
	int ret;

	if (!o->pages)
		return true;
	w->m.hard = o->pages - rnd(w, 0, o->pages > 4 ? 3 : o->pages - 1);
	l.hard_pages = w->m.hard;
	ret = limits_call(w, w->priv.fd, GCH_LIMIT_HARD, &l);
	if (!CHECK(w, !ret, "private heap: LIMITS hard %llu: %s",
		   (ull)w->m.hard, err_str(ret)))
		return false;
	ret = alloc_call(w, w->priv.fd, n, &page, &oflags);
	if (!alloc_judge(w, PRIV, n, ret) || !check_private(w) ||
	    !spans_check_locked(w, PRIV))
		return false;
	if (chance(w, 40))
		return true;
	l.hard_pages = w->m.hard = 0;
	ret = limits_call(w, w->priv.fd, GCH_LIMIT_HARD, &l);
	return CHECK(w, !ret, "private heap: LIMITS hard 0: %s", err_str(ret));
}

/* A huge goal keeps every free page: the budget saturates, never wraps. */
static bool priv_huge_goal(struct worker *w)
{
	static const __u64 goals[] = { UINT64_MAX, WRAP_GOAL, 1ULL << 63,
				       (1ULL << 62) + 1 };
	__u64 goal = goals[rnd(w, 0, ARRAY_SIZE(goals) - 1)], released = 1;
	int ret;

	if (!S.gc_phase || chance(w, 50)) {
		struct gch_limits l = { .goal_bytes = goal };

		ret = limits_call(w, w->priv.fd, GCH_LIMIT_GOAL, &l);
	} else {
		struct gch_gc_phase g = { .size = sizeof(g),
					  .phase = GCH_GC_SWEEP_END,
					  .cycle = rnd_next(&w->rs),
					  .heap_goal = goal };

		ret = gch_ioctl(w->priv.fd, GCH_IOC_GC_PHASE, &g);
		w->m.gc_cycle = ret ? w->m.gc_cycle : g.cycle;
		w->m.heap_live = ret ? w->m.heap_live : 0;
	}
	if (!CHECK(w, !ret, "private heap: goal %#llx: %s", (ull)goal,
		   err_str(ret)))
		return false;
	w->m.goal = goal;
	ret = gch_scavenge(w->priv.fd, 0, 0, &released);
	if (!CHECK(w, !ret && !released,
		   "private heap: goal %#llx, yet SCAVENGE without ALL released %llu bytes (%s)",
		   (ull)goal, (ull)released, err_str(ret)))
		return false;
	return check_private(w);
}

static bool op_limits(struct worker *w, int hi)
{
	struct gch_limits l = { 0 }, req;
	__u32 flags = 0;
	int ret;

	if (hi == PRIV && chance(w, 15))
		return chance(w, 50) ? priv_below_use(w) : priv_huge_goal(w);
	if (chance(w, 70)) {
		flags = rnd(w, 1, 7);
		l.hard_pages = pick_hard(w, &w->own[hi]);
		l.soft_bytes = pick_bytes(w);
		l.goal_bytes = pick_bytes(w);
	} else {		/* flags 0 only reads: these are ignored */
		l.hard_pages = rnd_next(&w->rs);
		l.soft_bytes = rnd_next(&w->rs);
		l.goal_bytes = rnd_next(&w->rs);
	}
	req = l;
	ret = limits_call(w, w->heaps[hi]->fd, flags, &l);
	if (!CHECK(w, !ret, "heap %d: LIMITS flags %#x: %s", hi, flags,
		   err_str(ret)))
		return false;
	return hi != PRIV || priv_limits(w, flags, &req, &l);
}

/* After SCAVENGE on the private heap: counted, and ALL left nothing free. */
static bool priv_scavenged(struct worker *w, const struct gch_scavenge *s)
{
	struct gch_stats st;
	int ret;

	w->m.released += s->released_bytes;
	if (s->flags != GCH_SCAVENGE_ALL || s->max_bytes)
		return !chance(w, 30) || check_private(w);
	ret = gch_stats(w->priv.fd, &st);
	return CHECK(w, !ret, "STATS: %s", err_str(ret)) &&
	       CHECK(w, !st.free_resident_bytes,
		     "private heap: %llu free bytes resident after SCAVENGE ALL",
		     (ull)st.free_resident_bytes) &&
	       stats_check(w, PRIV, &st);
}

static bool op_scavenge(struct worker *w, int hi)
{
	struct gch_scavenge s = { .size = sizeof(s) };
	int ret;

	s.flags = chance(w, 50) ? GCH_SCAVENGE_ALL : 0;
	s.max_bytes = chance(w, 50) ? 0 : rnd(w, 1, 64 << 20);
	s.released_bytes = rnd_next(&w->rs);	/* output: ignored on input */
	ret = gch_ioctl(w->heaps[hi]->fd, GCH_IOC_SCAVENGE, &s);
	if (!CHECK(w, !ret, "heap %d: SCAVENGE flags %#x: %s", hi, s.flags,
		   err_str(ret)) ||
	    !CHECK(w, (!s.max_bytes || s.released_bytes <= s.max_bytes) &&
		      s.released_bytes <= RES_ARENAS * ARENA,
		   "heap %d: SCAVENGE max_bytes %llu released %llu", hi,
		   (ull)s.max_bytes, (ull)s.released_bytes))
		return false;
	if (hi == PRIV && !priv_scavenged(w, &s))
		return false;
	/* only free pages were taken */
	return !chance(w, 30) || spans_check_locked(w, hi);
}

static bool op_gc_phase(struct worker *w, int hi)
{
	struct gch_gc_phase g = { .size = sizeof(g) }, in;
	int ret;

	if (!S.gc_phase)
		return true;
	g.phase = rnd(w, GCH_GC_MARK_START, GCH_GC_SWEEP_END);
	g.cycle = rnd_next(&w->rs) >> rnd(w, 0, 63);
	g.heap_live = rnd_next(&w->rs) >> rnd(w, 0, 63);
	g.heap_goal = chance(w, 50) ? 0 : pick_bytes(w);
	in = g;
	ret = gch_ioctl(w->heaps[hi]->fd, GCH_IOC_GC_PHASE, &g);
	if (!CHECK(w, !ret, "heap %d: GC_PHASE %u: %s", hi, g.phase,
		   err_str(ret)) ||
	    !CHECK(w, !memcmp(&g, &in, sizeof(g)),
		   "heap %d: GC_PHASE wrote something else back", hi))
		return false;
	if (hi != PRIV)
		return true;
	w->m.gc_cycle = g.cycle;
	w->m.heap_live = g.heap_live;
	if (g.heap_goal)
		w->m.goal = g.heap_goal;
	return !chance(w, 30) || check_private(w);
}

/* STATS with the current size, a zero tail, or the first version's size. */
static bool op_stats(struct worker *w, int hi)
{
	const __u32 v1 = offsetofend(struct gch_stats, heap_goal);
	union {
		struct gch_stats st;
		char raw[sizeof(struct gch_stats) + 64];
	} u;
	__u32 size = sizeof(u.st);
	int ret;

	memset(&u, 0, sizeof(u));
	memset(&u.st, 0x5a, sizeof(u.st));	/* outputs: ignored on input */
	if (chance(w, 30))
		size = v1;
	else if (chance(w, 20))
		size += rnd(w, 1, 64);
	u.st.size = size;
	u.st.flags = 0;
	ret = gch_ioctl(w->heaps[hi]->fd, GCH_IOC_STATS, &u);
	if (!CHECK(w, !ret, "heap %d: STATS size %u: %s", hi, size,
		   err_str(ret)))
		return false;
	if (size == v1) {
		if (!CHECK(w, u.st.released_memcg_bytes == 0x5a5a5a5a5a5a5a5aULL,
			   "heap %d: STATS of size %u wrote past it", hi, size))
			return false;
		u.st.released_memcg_bytes = w->last[hi].heap_id == u.st.heap_id ?
					    w->last[hi].released_memcg_bytes : 0;
	}
	return stats_check(w, hi, &u.st);
}

static bool op_version(struct worker *w, int hi)
{
	union {
		struct gch_version v;
		char raw[sizeof(struct gch_version) + 64];
	} u;
	const struct gch_version *v = &u.v;
	int ret;

	memset(&u, 0, sizeof(u));
	memset(&u.v, 0xa5, sizeof(u.v));
	u.v.size = sizeof(u.v) + (chance(w, 20) ? rnd(w, 1, 64) : 0);
	u.v.flags = 0;
	ret = gch_ioctl(w->heaps[hi]->fd, GCH_IOC_VERSION, &u);
	return CHECK(w, !ret, "heap %d: VERSION: %s", hi, err_str(ret)) &&
	       CHECK(w, v->abi_version == GCH_ABI_VERSION &&
			v->page_shift == GCH_PAGE_SHIFT &&
			v->arena_shift == GCH_ARENA_SHIFT &&
			v->max_arenas == GCH_MAX_ARENAS &&
			v->pagemap_offset == GCH_MMAP_PAGEMAP &&
			v->spanslot_offset == GCH_MMAP_SPANSLOTS &&
			v->max_span_pages == GCH_MAX_SPAN_PAGES &&
			v->heap_id == w->heaps[hi]->id,
		     "heap %d: VERSION abi %u shifts %u/%u max_arenas %u "
		     "offsets %#llx/%#llx max_span %llu heap %llu (want %llu)",
		     hi, v->abi_version, v->page_shift, v->arena_shift,
		     v->max_arenas, (ull)v->pagemap_offset,
		     (ull)v->spanslot_offset, (ull)v->max_span_pages,
		     (ull)v->heap_id, (ull)w->heaps[hi]->id);
}

/* ---- invalid ioctls ---- */

enum { I_VERSION, I_ALLOC, I_FREE, I_LIMITS, I_STATS, I_SCAVENGE, I_GC_PHASE,
       NIOC };

static const struct ioc {
	const char *name;
	unsigned long cmd;
	__u32 size;		/* the struct as the header has it */
	__u32 v1;		/* its first version */
	__u32 flags_ok;
	int resv, resv_len;	/* a reserved field (-1: none) */
	bool out;		/* the kernel writes it back */
} iocs[NIOC] = {
	{ "VERSION", GCH_IOC_VERSION, sizeof(struct gch_version),
	  sizeof(struct gch_version), 0, -1, 0, true },
	{ "SPAN_ALLOC", GCH_IOC_SPAN_ALLOC, sizeof(struct gch_span_alloc),
	  offsetof(struct gch_span_alloc, reserved) + 8, GCH_SPAN_ALLOC_CROSS,
	  offsetof(struct gch_span_alloc, reserved), 8, true },
	{ "SPAN_FREE", GCH_IOC_SPAN_FREE, sizeof(struct gch_span_free),
	  sizeof(struct gch_span_free), 0,
	  offsetof(struct gch_span_free, reserved), 4, false },
	{ "LIMITS", GCH_IOC_LIMITS, sizeof(struct gch_limits),
	  sizeof(struct gch_limits),
	  GCH_LIMIT_HARD | GCH_LIMIT_SOFT | GCH_LIMIT_GOAL, -1, 0, true },
	{ "STATS", GCH_IOC_STATS, sizeof(struct gch_stats),
	  offsetofend(struct gch_stats, heap_goal), 0, -1, 0, true },
	{ "SCAVENGE", GCH_IOC_SCAVENGE, sizeof(struct gch_scavenge),
	  sizeof(struct gch_scavenge), GCH_SCAVENGE_ALL, -1, 0, true },
	{ "GC_PHASE", GCH_IOC_GC_PHASE, sizeof(struct gch_gc_phase),
	  offsetofend(struct gch_gc_phase, heap_goal), 0,
	  offsetof(struct gch_gc_phase, reserved), 4, true },
};

static int pick_ioc(struct worker *w)
{
	return (int)rnd(w, 0, S.gc_phase ? NIOC - 1 : NIOC - 2);
}

/*
 * A valid, heap-changing argument for iocs[@idx] in @buf: should a broken
 * copy of it be applied after all, the model or our spans show it.
 */
static void fill_valid(struct worker *w, int hi, int idx, char *buf)
{
	const struct owned *o = &w->own[hi];
	struct gch_span_alloc *a = (void *)buf;
	struct gch_span_free *f = (void *)buf;
	struct gch_limits *l = (void *)buf;
	struct gch_gc_phase *g = (void *)buf;

	memset(buf, 0, BUFSZ);
	*(__u32 *)buf = iocs[idx].size;
	switch (idx) {
	case I_ALLOC:
		a->npages = rnd(w, 1, 4);
		break;
	case I_FREE:
		w->refs[0] = o->n ? ref_of(&o->s[0]) :
				    (struct gch_span_ref){ ~0U, 1 };
		f->count = 1;
		f->spans = (uintptr_t)w->refs;
		break;
	case I_LIMITS:
		l->flags = rnd(w, 1, 7);
		l->hard_pages = rnd(w, 1, 4);
		l->soft_bytes = rnd_next(&w->rs);
		l->goal_bytes = rnd_next(&w->rs) | 1;
		break;
	case I_SCAVENGE:
		((struct gch_scavenge *)buf)->flags = GCH_SCAVENGE_ALL;
		break;
	case I_GC_PHASE:
		g->phase = rnd(w, GCH_GC_MARK_START, GCH_GC_SWEEP_END);
		g->cycle = rnd_next(&w->rs);
		g->heap_live = rnd_next(&w->rs);
		g->heap_goal = rnd_next(&w->rs) | 1;
		break;
	}
}

static bool bad_value(struct worker *w, const struct ioc *d, char *buf,
		      char *what, size_t wlen)
{
	__u32 *field, max;

	if (d->cmd == GCH_IOC_SPAN_ALLOC) {
		field = &((struct gch_span_alloc *)buf)->npages;
		max = GCH_MAX_SPAN_PAGES;
	} else if (d->cmd == GCH_IOC_SPAN_FREE) {
		field = &((struct gch_span_free *)buf)->count;
		max = GCH_SPAN_FREE_MAX;
	} else if (d->cmd == GCH_IOC_GC_PHASE) {
		field = &((struct gch_gc_phase *)buf)->phase;
		max = GCH_GC_SWEEP_END;
	} else {
		return false;
	}
	switch (rnd(w, 0, 2)) {
	case 0:
		*field = 0;
		break;
	case 1:
		*field = max + 1;
		break;
	default:
		*field = rnd(w, max + 1, ~0U);
		break;
	}
	snprintf(what, wlen, "value %u", *field);
	return true;
}

/* A number nobody defined: the known ones are _IO(GCH_IOC_MAGIC, 0x80..). */
static unsigned long unknown_cmd(struct worker *w)
{
	__u32 nr = rnd(w, 0, 255), dir = rnd(w, 0, 3);
	__u32 size = rnd(w, 0, (1U << _IOC_SIZEBITS) - 1);

	if (nr >= GCH_CMD_VERSION && nr <= GCH_CMD_DIRTY && !dir && !size)
		size = 8;
	return _IOC(dir, GCH_IOC_MAGIC, nr, size);
}

/* Break one thing in @buf; returns the error the header gives for it. */
static int break_one(struct worker *w, const struct ioc *d, char *buf,
		     unsigned long *cmd, char *what, size_t wlen)
{
	__u32 *size = (__u32 *)buf, *flags = size + 1, bit, extra;

	switch (rnd(w, 0, 5)) {
	case 0:
		*size = rnd(w, 0, d->v1 - 1);
		snprintf(what, wlen, "size %u", *size);
		return -EINVAL;
	case 1:
		extra = rnd(w, 1, 64);
		*size = d->size + extra;
		buf[d->size + rnd(w, 0, extra - 1)] = (char)rnd(w, 1, 255);
		snprintf(what, wlen, "size %u and a non-zero tail", *size);
		return -E2BIG;
	case 2:
		do
			bit = 1U << rnd(w, 0, 31);
		while (bit & d->flags_ok);
		*flags |= bit;
		snprintf(what, wlen, "unknown flag %#x", bit);
		return -EINVAL;
	case 3:
		if (d->resv >= 0) {
			buf[d->resv + rnd(w, 0, d->resv_len - 1)] =
				(char)rnd(w, 1, 255);
			snprintf(what, wlen, "a non-zero reserved field");
			return -EINVAL;
		}
		/* fall through */
	case 4:
		if (bad_value(w, d, buf, what, wlen))
			return -EINVAL;
		/* fall through */
	default:
		*cmd = unknown_cmd(w);
		snprintf(what, wlen, "unknown number %#lx", *cmd);
		return -ENOTTY;
	}
}

/* After a refused call: nothing of ours changed. */
static bool unchanged(struct worker *w, int hi)
{
	struct heap *h = w->heaps[hi];
	bool ok = true;

	if (hi == PRIV)
		return check_private(w);
	if (w->own[hi].n) {	/* the SPAN_FREE filler named this one */
		rd(h);
		ok = span_check(w, hi, &w->own[hi].s[0], 0);
		unlock(h);
	}
	return ok;
}

static bool op_bad_ioctl(struct worker *w, int hi)
{
	_Alignas(8) char buf[BUFSZ];
	int idx = pick_ioc(w), want, ret;
	const struct ioc *d = &iocs[idx];
	unsigned long cmd = d->cmd;
	char what[64];

	fill_valid(w, hi, idx, buf);
	want = break_one(w, d, buf, &cmd, what, sizeof(what));
	ret = gch_ioctl(w->heaps[hi]->fd, cmd, buf);
	return CHECK(w, ret == want, "heap %d: %s with %s: %s, want %s", hi,
		     d->name, what, err_str(ret), err_str(want)) &&
	       unchanged(w, hi);
}

/* A struct the kernel cannot read whole, or (with output) cannot write. */
static char *bad_struct(struct worker *w, const struct ioc *d, const char *buf,
			const char **what)
{
	char *none = w->fa + S.pg, *ro;

	/* the one that must not leave half-done work: first pin, then act */
	switch (d->out && chance(w, 50) ? 4 : rnd(w, 0, 3)) {
	case 0:
		*what = "a NULL struct";
		return NULL;
	case 1:
		*what = "a struct at a kernel address";
		return (char *)(uintptr_t)-4096L;
	case 2:
		*what = "a PROT_NONE struct";
		return none + rnd(w, 0, (S.pg - BUFSZ) / 8) * 8;
	case 3:
		*what = "a struct running into PROT_NONE";
		memcpy(none - 8, buf, 8);
		return none - 8;
	default:
		*what = "a read-only struct";
		ro = ro_begin(w);
		memcpy(ro, buf, d->size);
		ro_end(w);
		return ro;
	}
}

/* SPAN_FREE whose batch the kernel cannot read. */
static char *bad_spans(struct worker *w, char *buf, const char **what)
{
	struct gch_span_free *f = (void *)buf;
	char *none = w->fa + S.pg;

	switch (rnd(w, 0, 3)) {
	case 0:
		*what = "a NULL batch";
		f->spans = 0;
		break;
	case 1:
		*what = "a PROT_NONE batch";
		f->spans = (uintptr_t)none;
		break;
	case 2:
		*what = "a batch running into PROT_NONE";
		memcpy(none - sizeof(w->refs[0]), &w->refs[0], sizeof(w->refs[0]));
		f->spans = (uintptr_t)(none - sizeof(w->refs[0]));
		f->count = 2;
		break;
	default:
		*what = "a batch at a kernel address";
		f->spans = (__u64)-4096LL;
		break;
	}
	return buf;
}

static bool op_bad_ptr(struct worker *w, int hi)
{
	_Alignas(8) char buf[BUFSZ];
	int idx = pick_ioc(w), ret;
	const struct ioc *d = &iocs[idx];
	const char *what;
	char *arg;

	fill_valid(w, hi, idx, buf);
	if (idx == I_FREE && chance(w, 50))
		arg = bad_spans(w, buf, &what);
	else
		arg = bad_struct(w, d, buf, &what);
	ret = gch_ioctl(w->heaps[hi]->fd, d->cmd, arg);
	return CHECK(w, ret == -EFAULT, "heap %d: %s with %s: %s, want EFAULT",
		     hi, d->name, what, err_str(ret)) &&
	       unchanged(w, hi);
}

/* ---- mappings ---- */

/* munmap() a whole arena and map it again where it was. */
static bool remap_in_place(struct worker *w, int hi, int k)
{
	struct heap *h = w->heaps[hi];
	char *a = arena_at(h, k);
	/* lengths are rounded up to a page: ARENA - 1 is the whole arena */
	size_t ulen = chance(w, 30) ? ARENA - 1 : ARENA;
	size_t mlen = chance(w, 30) ? ARENA - 1 : ARENA;
	int ret;

	if (!CHECK(w, !munmap(a, ulen), "heap %d: munmap of arena %d, length %#zx: %s",
		   hi, k, ulen, strerror(errno)))
		return false;
	/* the spans outlive the mapping */
	if (!stats_now(w, hi))
		return false;
	ret = map_at(h->fd, a, mlen, PROT_READ | PROT_WRITE, GCH_MMAP_ARENA(k),
		     MAP_FIXED_NOREPLACE);
	return CHECK(w, !ret, "heap %d: mapping arena %d again, length %#zx: %s",
		     hi, k, mlen, err_str(ret)) &&
	       spans_check(w, hi, k, 0);
}

/* The same arena mapped at another address shows the same data. */
static bool remap_elsewhere(struct worker *w, int hi, int k)
{
	struct heap *h = w->heaps[hi];
	char *a = arena_at(h, k);
	bool ok;
	int ret;

	if (!CHECK(w, !munmap(a, ARENA), "heap %d: munmap of arena %d: %s", hi,
		   k, strerror(errno)))
		return false;
	ret = map_at(h->fd, w->scratch, ARENA, PROT_READ | PROT_WRITE,
		     GCH_MMAP_ARENA(k), MAP_FIXED);
	if (!CHECK(w, !ret, "heap %d: mapping arena %d elsewhere: %s", hi, k,
		   err_str(ret)))
		return false;
	ok = spans_check(w, hi, k, (intptr_t)w->scratch - (intptr_t)a);
	ok = CHECK(w, !munmap(w->scratch, ARENA), "munmap elsewhere: %s",
		   strerror(errno)) && ok;
	ok = CHECK(w, !placeholder(w->scratch, ARENA), "scratch placeholder") && ok;
	ret = map_at(h->fd, a, ARENA, PROT_READ | PROT_WRITE, GCH_MMAP_ARENA(k),
		     MAP_FIXED_NOREPLACE);
	return CHECK(w, !ret, "heap %d: mapping arena %d back: %s", hi, k,
		     err_str(ret)) &&
	       ok && spans_check(w, hi, k, 0);
}

/* mprotect() of a whole arena is no split: allowed, data readable. */
static bool reprotect(struct worker *w, int hi, int k)
{
	char *a = arena_at(w->heaps[hi], k);
	bool ok;

	if (!CHECK(w, !mprotect(a, ARENA, PROT_READ),
		   "heap %d: mprotect of arena %d to PROT_READ: %s", hi, k,
		   strerror(errno)))
		return false;
	ok = spans_check(w, hi, k, 0);
	return CHECK(w, !mprotect(a, ARENA, PROT_READ | PROT_WRITE),
		     "heap %d: mprotect of arena %d back to read-write: %s", hi,
		     k, strerror(errno)) && ok;
}

/* Other workers touch the arenas only under the read lock: take it all. */
static bool op_remap(struct worker *w, int hi)
{
	struct heap *h = w->heaps[hi];
	bool ok;
	int k;

	wr(h);
	k = (int)rnd(w, 0, h->narenas - 1);
	switch (rnd(w, 0, 2)) {
	case 0:
		ok = remap_in_place(w, hi, k);
		break;
	case 1:
		ok = remap_elsewhere(w, hi, k);
		break;
	default:
		ok = reprotect(w, hi, k);
		break;
	}
	unlock(h);
	return ok;
}

/*
 * Partial munmap() or mprotect() of an arena or of the page map is a
 * split: -EINVAL, and the mapping stays whole (the other workers keep
 * touching it, so a split that went through would crash them).
 */
static bool op_split(struct worker *w, int hi)
{
	struct heap *h = w->heaps[hi];
	char *pm = (char *)h->pm, *a, *p;
	long pg = S.pg;
	const char *what;
	int k, ret;
	bool ok;

	rd(h);
	k = (int)rnd(w, 0, h->narenas - 1);
	a = arena_at(h, k);
	p = a + (size_t)rnd(w, 0, PPA - 1) * GCH_PAGE_SIZE;
	switch (rnd(w, 0, 5)) {
	case 0:
		what = "munmap of one heap page";
		ret = munmap(p, GCH_PAGE_SIZE);
		break;
	case 1:
		what = "munmap of half an arena";
		ret = munmap(a + (chance(w, 50) ? 0 : ARENA / 2), ARENA / 2);
		break;
	case 2:
		what = "munmap reaching out of an arena";
		ret = munmap(a + ARENA - pg, 2 * pg);
		break;
	case 3:
		what = "mprotect of one heap page";
		ret = mprotect(p, GCH_PAGE_SIZE, chance(w, 50) ? PROT_READ : PROT_NONE);
		break;
	case 4:
		what = "munmap of part of the page map";
		ret = munmap(pm + (size_t)rnd(w, 0, PMSIZE / pg - 1) * pg, pg);
		break;
	default:
		what = "mprotect of part of the page map";
		ret = mprotect(pm, pg * rnd(w, 1, 16), PROT_NONE);
		break;
	}
	ret = ret ? errno : 0;
	ok = CHECK(w, ret == EINVAL, "heap %d, arena %d: %s: %s, want EINVAL",
		   hi, k, what, err_str(ret)) &&
	     spans_check(w, hi, k, 0);
	unlock(h);
	return ok;
}

/* mremap() cannot grow, shrink or move a mapping of the heap. */
static bool op_mremap(struct worker *w, int hi)
{
	struct heap *h = w->heaps[hi];
	char *a, *dst = w->scratch;
	const char *what = "moving the page map";
	bool ok, fixed = true;
	void *r;
	int k, err;

	rd(h);
	k = (int)rnd(w, 0, h->narenas - 1);
	a = arena_at(h, k);
	switch (rnd(w, 0, 4)) {
	case 0:
		what = "growing an arena in place";
		fixed = false;
		r = mremap(a, ARENA, 2 * ARENA, 0);
		break;
	case 1:
		what = "growing an arena anywhere";
		fixed = false;
		r = mremap(a, ARENA, 2 * ARENA, MREMAP_MAYMOVE);
		break;
	case 2:
		what = "shrinking an arena";
		fixed = false;
		r = mremap(a, ARENA, ARENA / 2, 0);
		break;
	case 3:
		what = "moving an arena";
		r = mremap(a, ARENA, ARENA, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		break;
	default:
		r = mremap((void *)h->pm, PMSIZE, PMSIZE,
			   MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		break;
	}
	err = r == MAP_FAILED ? errno : 0;
	ok = CHECK(w, err == EINVAL || err == EFAULT,
		   "heap %d, arena %d: %s: %s, want EINVAL or EFAULT", hi, k,
		   what, err_str(err)) &&
	     spans_check(w, hi, k, 0);
	unlock(h);
	/* MREMAP_FIXED unmaps the target first, refused or not */
	err = fixed ? placeholder(dst, ARENA) : 0;
	return CHECK(w, !err || err == -EEXIST, "scratch placeholder: %s",
		     err_str(err)) && ok;
}

/*
 * madvise() on arenas and the page map while the other workers touch them.
 * The header promises no more than data that stays (and mmap_test lets a
 * refusal be -EINVAL); a partial MADV_RANDOM would split, so -EINVAL.
 */
static bool op_madvise(struct worker *w, int hi)
{
	static const struct {
		int advice;
		const char *name;
	} advs[] = {
		{ MADV_DONTNEED, "MADV_DONTNEED" }, { MADV_COLD, "MADV_COLD" },
		{ MADV_PAGEOUT, "MADV_PAGEOUT" }, { MADV_RANDOM, "MADV_RANDOM" },
	};
	struct heap *h = w->heaps[hi];
	int i = (int)rnd(w, 0, ARRAY_SIZE(advs) - 1), k, err;
	size_t len = ARENA;
	char *a;
	bool ok;

	rd(h);
	k = (int)rnd(w, 0, h->narenas - 1);
	a = arena_at(h, k);
	if (chance(w, 20)) {
		a = (char *)h->pm;
	} else if (chance(w, 60)) {
		a += (size_t)rnd(w, 0, PPA - 16) * GCH_PAGE_SIZE;
		len = rnd(w, 1, 16) * GCH_PAGE_SIZE;
	}
	err = madvise(a, len, advs[i].advice) ? errno : 0;
	ok = CHECK(w, !err || err == EINVAL, "heap %d, arena %d: %s of %#zx bytes: %s",
		   hi, k, advs[i].name, len, err_str(err)) &&
	     spans_check(w, hi, k, 0);
	unlock(h);
	return ok;
}

/* A second read-only page map (or slots) mapping shows the same entries. */
static bool op_pagemap(struct worker *w, int hi)
{
	struct heap *h = w->heaps[hi];
	const struct owned *o = &w->own[hi];
	volatile const __u64 *alias = (volatile const __u64 *)w->scratch;
	bool slots = chance(w, 30), ok = true;
	int ret = map_at(h->fd, w->scratch, PMSIZE, PROT_READ,
			 slots ? GCH_MMAP_SPANSLOTS : GCH_MMAP_PAGEMAP,
			 MAP_FIXED);

	if (!CHECK(w, !ret, "heap %d: second %s mapping: %s", hi,
		   slots ? "slots" : "page-map", err_str(ret)))
		return false;
	rd(h);
	for (int i = 0; i < o->n && ok; i++) {
		const struct span *s = &o->s[i];
		__u64 want = slots ? stamp(w, hi, s->id, s->page) :
				     GCH_PME_MAKE(s->page, s->npages);

		ok = CHECK(w, alias[s->page] == want,
			   "heap %d: second %s mapping reads %#llx at page %u, want %#llx",
			   hi, slots ? "slots" : "page-map",
			   (ull)alias[s->page], s->page, (ull)want);
	}
	unlock(h);
	if (!slots) {
		ret = mprotect(w->scratch, PMSIZE, PROT_READ | PROT_WRITE) ? errno : 0;
		ok = CHECK(w, ret == EACCES || ret == EPERM,
			   "heap %d: mprotect of the page map to write: %s", hi,
			   err_str(ret)) && ok;
	}
	ok = CHECK(w, !munmap(w->scratch, PMSIZE), "munmap: %s",
		   strerror(errno)) && ok;
	return CHECK(w, !placeholder(w->scratch, PMSIZE), "scratch placeholder") &&
	       ok;
}

/* Mappings the header refuses, tried without MAP_FIXED (no hole if refused). */
static bool op_bad_mmap(struct worker *w, int hi)
{
	static const __u64 offs[] = {
		GCH_MMAP_ARENA(0) + GCH_PAGE_SIZE, GCH_MMAP_ARENA(1) + 4096,
		GCH_MMAP_ARENA(1) + GCH_ARENA_SIZE / 2,
		GCH_MMAP_ARENA(GCH_MAX_ARENAS), GCH_MMAP_ARENA(GCH_MAX_ARENAS + 1),
		GCH_MMAP_PAGEMAP - GCH_ARENA_SIZE, GCH_MMAP_PAGEMAP + 4096,
		GCH_MMAP_PAGEMAP + GCH_PAGEMAP_SIZE, GCH_MMAP_SPANSLOTS + GCH_PAGE_SIZE,
		GCH_MMAP_SPANSLOTS + GCH_PAGEMAP_SIZE, 3ULL << 40, 1ULL << 46,
	};
	static const size_t lens[] = {
		4096, GCH_PAGE_SIZE, ARENA / 2, ARENA - 4096, ARENA + 4096, 2 * ARENA,
	};
	bool map = chance(w, 30);
	__u64 off = map ? (chance(w, 50) ? GCH_MMAP_PAGEMAP : GCH_MMAP_SPANSLOTS) :
			  GCH_MMAP_ARENA(rnd(w, 0, RES_ARENAS - 1));
	int prot = PROT_READ, flags = MAP_SHARED, want = EINVAL;
	size_t len = ARENA;
	void *p;

	switch (rnd(w, 0, 4)) {
	case 0:
		flags = MAP_PRIVATE;
		break;
	case 1:
		len = lens[rnd(w, 0, ARRAY_SIZE(lens) - 1)];
		break;
	case 2:
		off = offs[rnd(w, 0, ARRAY_SIZE(offs) - 1)];
		break;
	case 3:
		prot |= PROT_EXEC;
		want = S.noexec ? EPERM : EINVAL;
		break;
	default:
		off = GCH_MMAP_PAGEMAP;
		prot |= PROT_WRITE;
		want = EPERM;
		break;
	}
	p = mmap(NULL, len, prot, flags, w->heaps[hi]->fd, (off_t)off);
	if (p != MAP_FAILED) {
		munmap(p, len);
		return FAIL(w, "heap %d: mmap of %#zx bytes at %#llx, prot %#x flags %#x: allowed",
			    hi, len, (ull)off, prot, flags);
	}
	return CHECK(w, errno == want || (want == EPERM && errno == EACCES),
		     "heap %d: mmap of %#zx bytes at %#llx, prot %#x flags %#x: %s, want %s",
		     hi, len, (ull)off, prot, flags, strerror(errno),
		     strerror(want)) &&
	       (hi != PRIV || check_private(w));
}

/* ---- processes and lifetimes ---- */

/* In a fork child: 0, or the number of the first check @h failed. */
static int child_heap(const struct heap *h, const struct owned *o)
{
	struct gch_gc_phase g = { .size = sizeof(g), .phase = GCH_GC_MARK_START };
	struct gch_span_ref ref = { ~0U, 1 };
	struct gch_limits l = { 0 };
	struct gch_version v;
	struct gch_stats st;
	int pfd[2], err;

	if (o->n)
		ref = ref_of(&o->s[0]);
	if (gch_version(h->fd, &v) || v.heap_id != h->id)
		return 1;
	if (gch_stats(h->fd, &st) || st.heap_id != h->id)
		return 2;
	if (gch_alloc(h->fd, 1, NULL, NULL) != -EPERM)
		return 3;
	if (gch_free(h->fd, &ref, 1) != -EPERM)
		return 4;
	if (gch_limits(h->fd, 0, &l) != -EPERM)
		return 5;
	if (gch_scavenge(h->fd, GCH_SCAVENGE_ALL, 0, NULL) != -EPERM)
		return 6;
	if (S.gc_phase && gch_ioctl(h->fd, GCH_IOC_GC_PHASE, &g) != -EPERM)
		return 7;
	/* refused for who calls, whatever the argument */
	if (gch_ioctl(h->fd, GCH_IOC_SPAN_ALLOC, NULL) != -EPERM)
		return 8;
	if (gch_mmap(h->fd, ARENA, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_ARENA(0)) || errno != EPERM)
		return 9;
	if (gch_mmap(h->fd, PMSIZE, PROT_READ, MAP_SHARED, GCH_MMAP_PAGEMAP) ||
	    errno != EPERM)
		return 10;
	if (gch_mmap(h->fd, PMSIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_SPANSLOTS) || errno != EPERM)
		return 11;
	if (!o->n || pipe(pfd))
		return 0;
	/* no heap mapping came along (VM_DONTCOPY): the span is not there */
	err = write(pfd[1], gch_page_addr(h->base, o->s[0].page), 8) < 0 ? errno : 0;
	close(pfd[0]);
	close(pfd[1]);
	return err == EFAULT ? 0 : 12;
}

static bool reap(struct worker *w)
{
	pid_t pid = w->child;
	int status = 0, code;
	bool ok = CHECK(w, waitpid(pid, &status, 0) == pid, "waitpid: %s",
			strerror(errno));

	w->child = 0;
	atomic_fetch_sub(&S.children, 1);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return ok && CHECK(w, !code,
			   "fork child (status %#x): heap %d failed check %d",
			   status, code / 20, code % 20);
}

/* A child may watch (VERSION, STATS) but never change or map; some linger. */
static bool op_fork(struct worker *w, int hi)
{
	useconds_t linger = chance(w, 50) ? rnd(w, 1000, 50000) : 0;
	pid_t pid;

	(void)hi;
	if (w->child && !reap(w))
		return false;
	atomic_fetch_add(&S.children, 1);
	pid = fork();
	if (pid < 0) {
		atomic_fetch_sub(&S.children, 1);
		return FAIL(w, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* long enough to outlive a close of the private heap */
		usleep(linger);
		for (int i = 0; i < NHEAPS; i++) {
			int r = child_heap(w->heaps[i], &w->own[i]);

			if (r)
				_exit(20 * i + r);
		}
		_exit(0);
	}
	w->child = pid;
	w->forks++;
	return linger || reap(w);
}

/* Close the private heap (its spans go with it) and open a new one. */
static bool op_reopen(struct worker *w, int hi)
{
	struct heap *h = &w->priv;
	bool close_first = chance(w, 30);
	__u64 old = h->id;
	int ret;

	(void)hi;
	if (!spans_check_locked(w, PRIV))
		return false;
	if (close_first) {
		close(h->fd);
		h->fd = -1;
		if (!CHECK(w, dir_is(old, true), "heap %llu died with its fd while mapped",
			   (ull)old))
			return false;
	}
	ret = heap_unmap(h);
	if (!CHECK(w, !ret, "unmapping the private heap: %s", err_str(ret)))
		return false;
	if (!close_first)
		close(h->fd);
	h->fd = -1;
	/* only a fork child that inherited the fd may still hold it */
	if (!atomic_load(&S.children) &&
	    !CHECK(w, dir_is(old, false), "heap %llu outlived its last fd and mapping",
		   (ull)old))
		return false;
	memset(&w->own[PRIV], 0, sizeof(w->own[PRIV]));
	memset(&w->m, 0, sizeof(w->m));
	memset(&w->last[PRIV], 0, sizeof(w->last[PRIV]));
	ret = heap_open(h);
	if (!CHECK(w, !ret, "reopening the private heap: %s", err_str(ret)))
		return false;
	w->reopens++;
	return CHECK(w, h->id != old && dir_is(h->id, true),
		     "new heap %llu (old %llu) has no debugfs directory",
		     (ull)h->id, (ull)old) &&
	       check_private(w);
}

/* The shrinker runs from drop_caches (slab). */
static bool op_shrink(struct worker *w, int hi)
{
	(void)w;
	(void)hi;
	drop_caches("2\n");
	return true;
}

/* ---- the run ---- */

static const struct op {
	const char *name;
	bool (*fn)(struct worker *w, int hi);
	unsigned int weight;
} ops[] = {
	{ "alloc", op_alloc, 260 },	{ "free", op_free, 110 },
	{ "bad_batch", op_bad_batch, 25 }, { "verify", op_verify, 30 },
	{ "limits", op_limits, 35 },	{ "scavenge", op_scavenge, 35 },
	{ "gc_phase", op_gc_phase, 25 }, { "stats", op_stats, 50 },
	{ "version", op_version, 15 },	{ "bad_ioctl", op_bad_ioctl, 70 },
	{ "bad_ptr", op_bad_ptr, 50 },	{ "remap", op_remap, 15 },
	{ "split", op_split, 25 },	{ "mremap", op_mremap, 15 },
	{ "madvise", op_madvise, 20 },	{ "pagemap", op_pagemap, 15 },
	{ "bad_mmap", op_bad_mmap, 25 }, { "fork", op_fork, 6 },
	{ "reopen", op_reopen, 4 },	{ "grow", op_grow, 5 },
	{ "big", op_big, 8 },		{ "shrink", op_shrink, 2 },
};
_Static_assert(ARRAY_SIZE(ops) <= NOPS_MAX, "NOPS_MAX too small");

static int pick_op(struct worker *w)
{
	unsigned int r;
	int i = 0;

	for (r = rnd(w, 0, S.total_weight - 1); r >= ops[i].weight; i++)
		r -= ops[i].weight;
	return i;
}

static bool worker_done(struct worker *w)
{
	if (atomic_load_explicit(&S.failed, memory_order_relaxed))
		return true;
	if (S.max_ops)
		return w->ops >= S.max_ops;
	return w->ops % 16 == 0 && time(NULL) >= S.end;
}

/* Free about half of what is left; the heaps die with the rest. */
static void worker_finish(struct worker *w)
{
	if (w->child && !reap(w))
		return;
	for (int hi = 0; hi < NHEAPS; hi++) {
		int keep = w->own[hi].n / 2;

		if (!spans_check_locked(w, hi))
			return;
		while (w->own[hi].n > keep)
			if (!op_free(w, hi))
				return;
	}
	check_private(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (!worker_done(w)) {
		int op = pick_op(w), hi = (int)rnd(w, 0, NHEAPS - 1);

		w->ops++;
		w->nops[op]++;
		if (!ops[op].fn(w, hi))
			break;
	}
	if (!atomic_load(&S.failed))
		worker_finish(w);
	return NULL;
}

static void heap_setup(struct __test_metadata *_metadata, struct heap *h,
		       const pthread_rwlockattr_t *attr)
{
	memset(h, 0, sizeof(*h));
	h->fd = -1;
	h->base = reserve(REGION);
	ASSERT_NE(NULL, h->base);
	/* writers (remaps) must not starve behind four readers */
	ASSERT_EQ(0, pthread_rwlock_init(&h->lock, attr));
	ASSERT_EQ(0, heap_open(h));
}

static void round_setup(struct __test_metadata *_metadata, __u64 seed,
			unsigned long max_ops)
{
	pthread_rwlockattr_t attr;

	memset(S.w, 0, sizeof(S.w));
	atomic_store(&S.failed, false);
	atomic_store(&S.children, 0);
	S.max_ops = max_ops;
	S.total_weight = 0;
	for (size_t j = 0; j < ARRAY_SIZE(ops); j++)
		S.total_weight += ops[j].weight;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	for (int i = 0; i < NSHARED; i++)
		heap_setup(_metadata, &S.shared[i], &attr);
	for (int i = 0; i < NTHREADS; i++) {
		struct worker *w = &S.w[i];

		w->id = i;
		w->rs = (seed ^ ((i + 1) * 0x9e3779b97f4a7c15ULL)) | 1;
		for (int k = 0; k < 4; k++)
			rnd_next(&w->rs);
		heap_setup(_metadata, &w->priv, &attr);
		for (int k = 0; k < NSHARED; k++)
			w->heaps[k] = &S.shared[k];
		w->heaps[PRIV] = &w->priv;
		w->scratch = reserve(ARENA);
		ASSERT_NE(NULL, w->scratch);
		w->fa = mmap(NULL, 3 * S.pg, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, w->fa);
		ASSERT_EQ(0, mprotect(w->fa + S.pg, S.pg, PROT_NONE));
		ASSERT_EQ(0, mprotect(w->fa + 2 * S.pg, S.pg, PROT_READ));
	}
	pthread_rwlockattr_destroy(&attr);
}

static __u64 want_pm[RES_ARENAS * GCH_PAGES_PER_ARENA];

/*
 * Heap @h's page map and stats hold exactly the spans the workers hold.
 * Returns its resident bytes.
 */
static __u64 final_heap(struct __test_metadata *_metadata, struct heap *h,
		       int hi, const struct worker *only)
{
	__u64 spans = 0, pages = 0, bad = 0, first = 0, twice = 0;
	struct gch_stats st;

	memset(want_pm, 0, sizeof(want_pm));
	for (int i = 0; i < NTHREADS; i++) {
		const struct owned *o = &S.w[i].own[hi];

		if (only && only != &S.w[i])
			continue;
		for (int j = 0; j < o->n; j++)
			for (__u32 p = o->s[j].page; p < o->s[j].page + o->s[j].npages; p++) {
				twice += !!want_pm[p];
				want_pm[p] = GCH_PME_MAKE(o->s[j].page, o->s[j].npages);
			}
		spans += o->n;
		pages += o->pages;
	}
	EXPECT_EQ(0, twice) TH_LOG("heap %llu: pages held by two spans", (ull)h->id);
	for (__u64 p = 0; p < (__u64)h->narenas * PPA; p++)
		if (h->pm[p] != want_pm[p] && !bad++)
			first = p;
	EXPECT_EQ(0, bad)
		TH_LOG("heap %llu: %llu page-map entries disagree with the spans held; page %llu: %#llx, want %#llx",
		       (ull)h->id, (ull)bad, (ull)first, (ull)h->pm[first],
		       (ull)want_pm[first]);
	ASSERT_EQ(0, gch_stats(h->fd, &st));
	EXPECT_EQ(spans, st.spans) TH_LOG("heap %llu", (ull)h->id);
	EXPECT_EQ(pages, st.span_pages) TH_LOG("heap %llu", (ull)h->id);
	EXPECT_EQ(h->narenas, st.arenas);
	EXPECT_EQ(atomic_load(&h->allocs), st.alloc_calls);
	EXPECT_EQ(atomic_load(&h->spans_freed), st.spans_freed);
	EXPECT_EQ(atomic_load(&h->free_calls), st.free_calls);
	EXPECT_EQ(st.arenas * PPA, st.span_pages + st.free_pages);
	EXPECT_LE(st.free_resident_bytes, st.resident_bytes);
	EXPECT_LE(st.resident_bytes - st.free_resident_bytes,
		  st.span_pages * GCH_PAGE_SIZE);
	return st.resident_bytes;
}

static void report(struct __test_metadata *_metadata, const char *name)
{
	unsigned long all = 0, enomem = 0, forks = 0, reopens = 0;
	unsigned long per[ARRAY_SIZE(ops)] = { 0 };
	char line[1024] = "";
	size_t len = 0;

	for (int i = 0; i < NTHREADS; i++) {
		const struct worker *w = &S.w[i];

		EXPECT_EQ(0, w->err[0]) TH_LOG("%s", w->err);
		all += w->ops;
		enomem += w->enomem;
		forks += w->forks;
		reopens += w->reopens;
		for (size_t j = 0; j < ARRAY_SIZE(ops); j++)
			per[j] += w->nops[j];
	}
	for (size_t j = 0; j < ARRAY_SIZE(ops) && len < sizeof(line); j++)
		len += snprintf(line + len, sizeof(line) - len, " %s %lu",
				ops[j].name, per[j]);
	TH_LOG("%s: %lu operations, %lu -ENOMEM, %lu forks, %lu reopens:%s",
	       name, all, enomem, forks, reopens, line);
}

static void close_all(struct __test_metadata *_metadata, __u64 seed)
{
	struct heap *hs[NSHARED + NTHREADS];
	char names[256];
	int n;

	for (int i = 0; i < NSHARED; i++)
		hs[i] = &S.shared[i];
	for (int i = 0; i < NTHREADS; i++)
		hs[NSHARED + i] = &S.w[i].priv;
	for (int i = 0; i < NSHARED + NTHREADS; i++) {
		/* either the fd or the last mapping goes last */
		bool fd_first = (seed >> i) & 1;

		if (fd_first && hs[i]->fd >= 0)
			close(hs[i]->fd);
		EXPECT_EQ(0, heap_unmap(hs[i]));
		if (!fd_first && hs[i]->fd >= 0)
			close(hs[i]->fd);
		munmap(hs[i]->base, REGION);
		pthread_rwlock_destroy(&hs[i]->lock);
	}
	for (int i = 0; i < NTHREADS; i++) {
		munmap(S.w[i].scratch, ARENA);
		munmap(S.w[i].fa, 3 * S.pg);
	}
	n = heaps_left(names, sizeof(names));
	EXPECT_EQ(0, n) TH_LOG("heaps of this process left in debugfs:%s", names);
}

static void run_round(struct __test_metadata *_metadata, const char *name,
		      __u64 seed, long seconds, unsigned long max_ops)
{
	round_setup(_metadata, seed, max_ops);
	S.end = time(NULL) + seconds;
	for (int i = 0; i < NTHREADS; i++)
		ASSERT_EQ(0, pthread_create(&S.w[i].tid, NULL, worker_main, &S.w[i]));
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(S.w[i].tid, NULL);
	report(_metadata, name);
	if (!atomic_load(&S.failed)) {
		__u64 res = 0;

		for (int i = 0; i < NSHARED; i++)
			res += final_heap(_metadata, &S.shared[i], i, NULL);
		for (int i = 0; i < NTHREADS; i++)
			res += final_heap(_metadata, &S.w[i].priv, PRIV, &S.w[i]);
		TH_LOG("%s: %llu MiB resident in the heaps at the end", name,
		       (ull)res >> 20);
	}
	for (int i = 0; i < NTHREADS; i++)	/* left by a failed worker */
		if (S.w[i].child)
			waitpid(S.w[i].child, NULL, 0);
	close_all(_metadata, seed);
}

/* kmemleak (debug kernel): nothing of gcheap's may be unreferenced. */
static void kmemleak_check(struct __test_metadata *_metadata)
{
	static char text[1 << 16];
	int fd = open("/sys/kernel/debug/kmemleak", O_RDWR), n = 0;
	ssize_t r, len = 0;

	if (fd < 0)
		return;
	sleep(6);	/* it reports objects older than 5 s */
	r = write(fd, "scan", 4);
	close(fd);
	ASSERT_EQ(4, r) TH_LOG("kmemleak scan: %s", strerror(errno));
	fd = open("/sys/kernel/debug/kmemleak", O_RDONLY);
	ASSERT_LE(0, fd);
	while (len < (ssize_t)sizeof(text) - 1 &&
	       (r = read(fd, text + len, sizeof(text) - 1 - len)) > 0)
		len += r;
	close(fd);
	text[len] = 0;
	for (const char *p = text; (p = strstr(p, "unreferenced object")); p++)
		n++;
	TH_LOG("kmemleak: %d suspected leaks%s%.3000s", n, n ? ":\n" : "", text);
	/* the runner's own scan judges the rest of the kernel */
	EXPECT_FALSE(strstr(text, "[gcheap]") || strstr(text, "gch_"))
		TH_LOG("kmemleak blames gcheap (possibly from an earlier suite)");
}

/* Only for the timeout: TEST() has no timeout variant in 6.1. */
FIXTURE(stress) {
	int unused;
};

FIXTURE_SETUP(stress)
{
}

FIXTURE_TEARDOWN(stress)
{
}

TEST_F_TIMEOUT(stress, run, 300)
{
	__u64 seed = gch_seed();
	long secs = env_long("GCH_STRESS_SECONDS", DEFAULT_SECONDS);
	unsigned long max_ops = env_long("GCH_STRESS_OPS", 0);
	long refcnt, before, after, tol = tolerance_kb();
	int fd;

	TH_LOG("seed %#llx (rerun: GCH_SEED=%#llx), %s %ld", (ull)seed, (ull)seed,
	       max_ops ? "ops per worker" : "seconds",
	       max_ops ? (long)max_ops : secs);
	S.pg = sysconf(_SC_PAGESIZE);
	S.noexec = dev_noexec();
	S.debugfs = gch_debugfs_ready();
	fd = gch_open();
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	S.gc_phase = gch_has_feature(fd, GCH_FEAT_GC_PHASE);
	close(fd);
	refcnt = gch_module_refcnt();
	/* brings slab caches, stacks and page tables to their working size */
	run_round(_metadata, "warm-up", seed ^ 0x5741524d2d5550ULL,
		  WARMUP_SECONDS, 0);
	if (atomic_load(&S.failed))
		return;
	before = memfree_settled();
	run_round(_metadata, "run", seed, secs, max_ops);
	EXPECT_EQ(refcnt, gch_module_refcnt()) TH_LOG("module references left");
	after = shortfall_kb(before, tol);
	EXPECT_LT(after, tol) TH_LOG("free before %ld kB, short after %ld kB",
				     before, after);
	kmemleak_check(_metadata);
}

/* The harness's timeout is a constant; the run's length comes from the env. */
static void __attribute__((constructor)) stress_timeout(void)
{
	long secs = env_long("GCH_STRESS_SECONDS", DEFAULT_SECONDS);

	_stress_run_object.timeout = getenv("GCH_STRESS_OPS") ? 3600 :
				     (int)(240 + 2 * (secs + WARMUP_SECONDS));
}

TEST_HARNESS_MAIN

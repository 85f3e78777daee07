// SPDX-License-Identifier: GPL-2.0
/*
 * The bpf tests' workload and helpers (see workload.h).
 *
 * wl_run() makes every release path run at least once where the module has
 * it: GCH_IOC_SCAVENGE (ioctl), the background scavenger (free memory above
 * the retained budget of the default 4 MiB goal), the shrinker (drop_caches
 * runs every shrinker) and the eager scavenger (a soft limit below the
 * resident memory).  The asynchronous paths are waited for by polling the
 * stats until they stop moving; the tests compare whatever happened, so the
 * waits only make the histograms richer, never the comparison flaky.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "workload.h"

#define SPAN_PAGES	30	/* heap pages per span of the big phase */
#define NSPANS		40	/* 1200 heap pages: 9.4 MiB, above the budget */
#define HARD_PAGES	2048

#define TRY(x) do { int e_ = (x); if (e_) return e_; } while (0)

int wl_open(struct wl_heap *h)
{
	struct gch_version v = { .size = sizeof(v) };

	h->arena0 = MAP_FAILED;
	h->fd = open("/dev/gcheap", O_RDWR | O_CLOEXEC);
	if (h->fd < 0)
		return -errno;
	if (ioctl(h->fd, GCH_IOC_VERSION, &v))
		goto err_close;
	h->id = v.heap_id;
	h->features = v.features;
	h->arena0 = mmap(NULL, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, h->fd, GCH_MMAP_ARENA(0));
	if (h->arena0 == MAP_FAILED)
		goto err_close;
	return 0;

err_close:
	close(h->fd);
	h->fd = -1;
	return -errno;
}

void wl_close(struct wl_heap *h)
{
	if (h->arena0 != MAP_FAILED)
		munmap(h->arena0, GCH_ARENA_SIZE);
	if (h->fd >= 0)
		close(h->fd);
	h->arena0 = MAP_FAILED;
	h->fd = -1;
}

int wl_stats(struct wl_heap *h, struct gch_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ioctl(h->fd, GCH_IOC_STATS, st) ? -errno : 0;
}

static int set_limits(struct wl_heap *h, unsigned int flags,
		      unsigned long long hard, unsigned long long soft)
{
	struct gch_limits l = { .size = sizeof(l), .flags = flags,
				.hard_pages = hard, .soft_bytes = soft };

	return ioctl(h->fd, GCH_IOC_LIMITS, &l) ? -errno : 0;
}

static int alloc_span(struct wl_heap *h, unsigned int npages,
		      struct gch_span_ref *ref, struct wl_done *d)
{
	struct gch_span_alloc a = { .size = sizeof(a), .npages = npages };

	if (ioctl(h->fd, GCH_IOC_SPAN_ALLOC, &a))
		return -errno;
	ref->page = a.page;
	ref->npages = npages;
	d->allocs++;
	d->alloc_pages += npages;
	/* touch every system page so that freeing leaves resident memory */
	for (unsigned long off = 0; off < npages * GCH_PAGE_SIZE; off += 4096)
		((volatile char *)h->arena0)[a.page * GCH_PAGE_SIZE + off] = 1;
	return 0;
}

static int free_spans(struct wl_heap *h, struct gch_span_ref *refs,
		      unsigned int n, struct wl_done *d)
{
	struct gch_span_free f = { .size = sizeof(f), .count = n,
				   .spans = (unsigned long)refs };

	if (ioctl(h->fd, GCH_IOC_SPAN_FREE, &f))
		return -errno;
	d->free_calls++;
	d->spans_freed += n;
	for (unsigned int i = 0; i < n; i++)
		d->freed_pages += refs[i].npages;
	return 0;
}

/*
 * One announced pause; the durations are made up but distinct, so that a
 * sum or a maximum taken from the wrong events shows.
 */
static int gc_pause(struct wl_heap *h, struct wl_done *d, unsigned int kind,
		    unsigned long long ns)
{
	struct gch_gc_phase p = { .size = sizeof(p), .phase = GCH_GC_PAUSE,
				  .cycle = d->last_cycle, .pause_kind = kind,
				  .pause_ns = ns };

	if (!(h->features & GCH_FEAT_GC_PAUSE))
		return 0;
	if (ioctl(h->fd, GCH_IOC_GC_PHASE, &p))
		return -errno;
	d->gc_pauses++;
	d->gc_pause_ns += ns;
	if (ns > d->gc_pause_max_ns)
		d->gc_pause_max_ns = ns;
	return 0;
}

/*
 * A cycle as the concurrent collector announces it: mark start, its pause,
 * two mark termination pauses (the first one retried), mark end, sweep end.
 */
static int gc_cycle(struct wl_heap *h, struct wl_done *d)
{
	struct gch_gc_phase p = { .size = sizeof(p), .heap_live = 1 << 20 };
	unsigned long long c;

	p.cycle = c = ++d->last_cycle;
	for (p.phase = GCH_GC_MARK_START; p.phase <= GCH_GC_SWEEP_END;
	     p.phase++) {
		if (ioctl(h->fd, GCH_IOC_GC_PHASE, &p))
			return -errno;
		d->gc_phases++;
		if (p.phase != GCH_GC_MARK_START)
			continue;
		TRY(gc_pause(h, d, GCH_PAUSE_MARK_START, 100000 + c * 1000));
		TRY(gc_pause(h, d, GCH_PAUSE_MARK_TERM, 50000 + c));
		TRY(gc_pause(h, d, GCH_PAUSE_MARK_TERM, 700000 + c * 7));
	}
	d->gc_cycles++;
	return 0;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait (up to 5 s) until the asynchronous release counters stop moving. */
static void settle(struct wl_heap *h)
{
	struct gch_stats st;
	unsigned long long last = ~0ULL, cur;
	int still = 0, i;

	for (i = 0; i < 50 && still < 3; i++) {
		if (wl_stats(h, &st))
			return;
		cur = st.released_bg_bytes + st.released_eager_bytes +
		      st.released_shrink_bytes;
		still = cur == last ? still + 1 : 0;
		last = cur;
		sleep_ms(100);
	}
}

/*
 * Wait (up to @ms) until the stats counter at @off is non-zero: the paced
 * scavenger may be asleep for a while before it gets to a heap.
 */
static void wait_nonzero(struct wl_heap *h, size_t off, unsigned int ms)
{
	struct gch_stats st;
	unsigned long long v;
	unsigned int t;

	for (t = 0; t < ms; t += 50) {
		if (wl_stats(h, &st))
			return;
		memcpy(&v, (char *)&st + off, sizeof(v));
		if (v)
			return;
		sleep_ms(50);
	}
}

static int drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "2", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

static int scavenge(struct wl_heap *h, unsigned int flags,
		    unsigned long long max, struct wl_done *d)
{
	struct gch_scavenge s = { .size = sizeof(s), .flags = flags,
				  .max_bytes = max };

	if (ioctl(h->fd, GCH_IOC_SCAVENGE, &s))
		return -errno;
	d->ioctl_released += s.released_bytes;
	return 0;
}


int wl_run(struct wl_heap *h, struct wl_done *d)
{
	struct gch_span_ref refs[NSPANS], spare;
	unsigned int i;

	memset(d, 0, sizeof(*d));
	TRY(set_limits(h, GCH_LIMIT_HARD, HARD_PAGES, 0));
	/* refused by the hard limit: one limit hit, nothing allocated */
	if (alloc_span(h, HARD_PAGES + 1, &spare, d) != -ENOMEM)
		return -EPROTO;
	d->limit_hits++;

	TRY(gc_cycle(h, d));
	for (i = 0; i < NSPANS; i++)
		TRY(alloc_span(h, SPAN_PAGES + i % 3, &refs[i], d));
	for (i = 0; i < NSPANS; i += 10)	/* batches of 10 */
		TRY(free_spans(h, &refs[i], 10, d));
	/* above the budget of the default goal: the background scavenger */
	if (h->features & GCH_FEAT_SCAVENGER)
		wait_nonzero(h, offsetof(struct gch_stats, released_bg_bytes),
			     10000);
	settle(h);

	TRY(scavenge(h, GCH_SCAVENGE_ALL, 64 << 10, d));
	TRY(drop_caches());			/* the shrinker */
	settle(h);

	TRY(gc_cycle(h, d));
	for (i = 0; i < 20; i++)
		TRY(alloc_span(h, 1 + i % 4, &refs[i], d));
	TRY(free_spans(h, refs, 20, d));
	TRY(set_limits(h, GCH_LIMIT_SOFT, 0, 64 << 10));	/* eager */
	if (h->features & GCH_FEAT_SCAVENGER)
		wait_nonzero(h, offsetof(struct gch_stats,
					 released_eager_bytes), 10000);
	settle(h);

	/* nothing free and resident may remain to move the counters later */
	TRY(scavenge(h, GCH_SCAVENGE_ALL, 0, d));
	TRY(set_limits(h, GCH_LIMIT_SOFT, 0, 0));
	return 0;
}

/* ------------------------------------------------------------ module */

bool wl_module_loaded(void)
{
	return access("/sys/module/gcheap", F_OK) == 0;
}

int wl_rmmod(void)
{
	int i;

	/* the previous user's file may still be closing: retry briefly */
	for (i = 0; i < 50; i++) {
		if (syscall(SYS_delete_module, "gcheap", O_NONBLOCK) == 0)
			return 0;
		if (errno != EAGAIN && errno != EBUSY)
			return -errno;
		sleep_ms(100);
	}
	return -errno;
}

int wl_insmod(void)
{
	char path[300] = "";
	struct dirent *de;
	DIR *dir = opendir("/");
	int fd, err = 0;
	size_t n;

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		n = strlen(de->d_name);
		if (n > 3 && !strcmp(de->d_name + n - 3, ".ko"))
			snprintf(path, sizeof(path), "/%s", de->d_name);
	}
	closedir(dir);
	if (!path[0])
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0))
		err = -errno;
	close(fd);
	return err;
}

/* ------------------------------------------------------------ TAP */

static unsigned int tap_n, tap_pass, tap_fail, tap_skipped;

void tap_ok(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %u - ", ok ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (ok)
		tap_pass++;
	else
		tap_fail++;
}

void tap_skip(const char *fmt, ...)
{
	va_list ap;

	printf("ok %u # SKIP ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	tap_skipped++;
}

int tap_done(void)
{
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n",
	       tap_pass, tap_fail, tap_skipped);
	return tap_fail ? 1 : 0;
}

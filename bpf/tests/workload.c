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
 *
 * wl_pressure() makes the module raise a memory pressure event, which only
 * reclaim does: a child charges a cgroup past its memory.high with pages
 * all in use, so the shrinker has nothing to take and turns to the heap's
 * collector.  A child, because joining the cgroup is for good.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

/* ------------------------------------------------------------ pressure */

/*
 * As selftests/pressure_test.c: just over memory.high the kernel reclaims
 * the cgroup on every return to user, and its over-high throttling stays
 * under its 10 ms threshold, so the child is never put to sleep, and never
 * reaches memory.max, where it could be OOM-killed.
 */
#define PRS_HIGH_BYTES	(16L << 20)
#define PRS_FILL_PAGES	((unsigned int)((PRS_HIGH_BYTES + (1L << 20)) / \
					GCH_PAGE_SIZE))
#define PRS_MORE_PAGES	64	/* 512 KiB: more than a charge batch */
#define CG_ROOT		"/sys/fs/cgroup"

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* cgroup v2 at CG_ROOT, with the memory controller for its children. */
static bool cgroup2_ready(void)
{
	struct stat sb;

	if (stat(CG_ROOT "/cgroup.controllers", &sb)) {
		mkdir(CG_ROOT, 0755);
		if (mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL))
			return false;
	}
	write_file(CG_ROOT "/cgroup.subtree_control", "+memory");
	return true;
}

/* A span of @npages, every system page touched: in use and resident. */
static int prs_alloc(struct wl_heap *h, unsigned int npages,
		     struct gch_span_ref *ref)
{
	struct gch_span_alloc a = { .size = sizeof(a), .npages = npages };
	long spg = sysconf(_SC_PAGESIZE);

	if (ioctl(h->fd, GCH_IOC_SPAN_ALLOC, &a))
		return -errno;
	ref->page = a.page;
	ref->npages = npages;
	for (size_t off = 0; off < (size_t)npages * GCH_PAGE_SIZE; off += spg)
		((volatile char *)h->arena0)[a.page * GCH_PAGE_SIZE + off] = 1;
	return 0;
}

/* Free @ref (if any) and give its memory back; adds the bytes to *@rel. */
static int prs_release(struct wl_heap *h, struct gch_span_ref *ref,
		       unsigned long long *rel)
{
	struct gch_span_free f = { .size = sizeof(f), .count = 1,
				   .spans = (unsigned long)ref };
	struct gch_scavenge sc = { .size = sizeof(sc),
				   .flags = GCH_SCAVENGE_ALL };

	if (!ref->npages)
		return 0;
	if (ioctl(h->fd, GCH_IOC_SPAN_FREE, &f) ||
	    ioctl(h->fd, GCH_IOC_SCAVENGE, &sc))
		return -errno;
	ref->npages = 0;
	if (rel)
		*rel += sc.released_bytes;
	return 0;
}

static bool poll_pri(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLPRI | POLLIN };

	return poll(&pf, 1, ms) == 1 && (pf.revents & POLLPRI);
}

static int prs_ioctl(struct wl_heap *h, unsigned int flags,
		     unsigned long long answered, struct gch_pressure *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->size = sizeof(*ev);
	ev->flags = flags;
	ev->answered_bytes = answered;
	return ioctl(h->fd, GCH_IOC_PRESSURE, ev) ? -errno : 0;
}

#define PRS_FAIL(p, err, ...) \
	(snprintf((p)->why, sizeof((p)->why), __VA_ARGS__), -(err))

/* The child, in cgroup @dir; returns 0 or a positive errno. */
static int pressure_child(const char *dir, struct wl_pressure *p)
{
	struct gch_span_ref fill = { 0 }, more = { 0 };
	unsigned long long t0, rel = 0;
	struct gch_pressure ev;
	struct wl_heap h;
	char procs[160];
	int err, i;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	err = write_file(procs, "0");
	if (err)
		return -PRS_FAIL(p, -err, "cannot join %s: %s", dir,
				 strerror(-err));
	err = wl_open(&h);
	if (err)
		return -PRS_FAIL(p, -err, "open /dev/gcheap: %s", strerror(-err));
	p->id = h.id;
	p->pid = getpid();
	if (!(h.features & GCH_FEAT_PRESSURE)) {
		wl_close(&h);
		return -PRS_FAIL(p, EOPNOTSUPP,
				 "module has no pressure events (GCH_FEAT_PRESSURE)");
	}
	t0 = mono_ns();
	err = prs_alloc(&h, PRS_FILL_PAGES, &fill);
	/*
	 * Filling over memory.high normally raises the event at once; if not,
	 * more charges (the previous ones given back, so the overage stays
	 * put) make the kernel reclaim again.
	 */
	for (i = 0; !err && i < 5 && !poll_pri(h.fd, 2000); i++) {
		err = prs_release(&h, &more, NULL);
		if (!err)
			err = prs_alloc(&h, PRS_MORE_PAGES, &more);
	}
	if (err || i == 5) {
		wl_close(&h);
		return err ? -PRS_FAIL(p, -err, "filling the heap: %s",
				       strerror(-err)) :
			     -PRS_FAIL(p, ETIMEDOUT,
				       "no pressure event over memory.high");
	}
	err = prs_ioctl(&h, 0, 0, &ev);
	if (!err) {
		p->reasons = ev.reasons;
		p->asked = ev.asked_bytes;
		/* the collector's answer: the garbage freed and given back */
		err = prs_release(&h, &fill, &rel);
	}
	if (!err)
		err = prs_release(&h, &more, &rel);
	if (!err)
		err = prs_ioctl(&h, GCH_PRESSURE_ANSWER, rel, &ev);
	p->elapsed_ns = mono_ns() - t0;
	if (!err) {
		p->answers = 1;
		p->answered = rel;
		/* below memory.high now: no event can come after this count */
		err = prs_ioctl(&h, 0, 0, &ev);
		p->events = ev.events;
	}
	wl_close(&h);
	return err ? -PRS_FAIL(p, -err, "GCH_IOC_PRESSURE: %s", strerror(-err))
		   : 0;
}

int wl_pressure(struct wl_pressure *p)
{
	struct wl_pressure *shared;
	char dir[64], v[32], high[96];
	int status = -1, err, i;
	pid_t pid;

	memset(p, 0, sizeof(*p));
	if (!cgroup2_ready())
		return PRS_FAIL(p, EOPNOTSUPP, "no cgroup v2");
	snprintf(dir, sizeof(dir), CG_ROOT "/gcheap-bpf-%d", getpid());
	if (mkdir(dir, 0755) && errno != EEXIST) {
		err = errno;
		return PRS_FAIL(p, err, "mkdir %s: %s", dir, strerror(err));
	}
	snprintf(v, sizeof(v), "%ld", PRS_HIGH_BYTES);
	snprintf(high, sizeof(high), "%s/memory.high", dir);
	if (write_file(high, v)) {
		rmdir(dir);
		return PRS_FAIL(p, EOPNOTSUPP, "no memory controller");
	}
	/* the child's findings, where the parent can read them */
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		err = errno;
		rmdir(dir);
		return PRS_FAIL(p, err, "mmap: %s", strerror(err));
	}
	memset(shared, 0, sizeof(*shared));
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(pressure_child(dir, shared));
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = -1;
	*p = *shared;
	munmap(shared, sizeof(*shared));
	/* the cgroup empties once the child is reaped; allow it a moment */
	for (i = 0; i < 50 && rmdir(dir) && errno == EBUSY; i++)
		sleep_ms(20);
	if (status == -1 || !WIFEXITED(status))
		return PRS_FAIL(p, ECHILD, "the child died (status %#x)", status);
	err = WEXITSTATUS(status);
	return -err;
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

int wl_wait_exit(pid_t pid, unsigned int ms)
{
	struct timespec tick = { 0, 50 * 1000000L };
	int status;

	for (unsigned int t = 0; t <= ms; t += 50) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) :
						   128 + WTERMSIG(status);
		nanosleep(&tick, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

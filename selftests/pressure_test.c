// SPDX-License-Identifier: GPL-2.0
/*
 * pressure_test: memory pressure events on a heap's fd (GCH_IOC_PRESSURE,
 * poll()).
 *
 * - The uAPI: the feature bit; taking with nothing pending; every bad
 *   argument refused with its errno and changing nothing; watchers (a
 *   fork child) refused; answering with no event taken refused.
 * - Events: a heap whose pages fill a cgroup past its memory.high, with no
 *   free pages for the shrinker, gets GCH_PRESSURE_LIMIT; its fd polls
 *   POLLPRI until the event is taken; causes while it is taken count as
 *   suppressed and wake nobody; after the answer and the quiet time a new
 *   event comes; closing a heap with an event pending leaks nothing (the
 *   debug kernel's kmemleak checks).
 * The cgroup runs just over memory.high, never at memory.max: the kernel
 * reclaims there, and never OOM-kills the test.
 */
#include <poll.h>

#include "gch_test.h"

static int take(int fd, struct gch_pressure *p)
{
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	return gch_ioctl(fd, GCH_IOC_PRESSURE, p);
}

static int answer(int fd, __u64 bytes)
{
	struct gch_pressure p = { .size = sizeof(p),
				  .flags = GCH_PRESSURE_ANSWER,
				  .answered_bytes = bytes };

	return gch_ioctl(fd, GCH_IOC_PRESSURE, &p);
}

/* poll() revents of @fd after waiting up to @ms. */
static short poll_fd(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLPRI | POLLIN };

	return poll(&p, 1, ms) == 1 ? p.revents : 0;
}

FIXTURE(heap) {
	int fd;
};

FIXTURE_SETUP(heap)
{
	self->fd = gch_open();
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(heap)
{
	close(self->fd);
}

TEST_F(heap, feature_and_nothing_pending)
{
	struct gch_pressure p;

	ASSERT_TRUE(gch_has_feature(self->fd, GCH_FEAT_PRESSURE));
	ASSERT_EQ(0, take(self->fd, &p));
	EXPECT_EQ(0, p.reasons);
	EXPECT_EQ(0, p.asked_bytes);
	EXPECT_EQ(0, p.events);
	EXPECT_EQ(0, p.suppressed);
	EXPECT_EQ(0, poll_fd(self->fd, 0));
}

TEST_F(heap, bad_arguments)
{
	struct gch_pressure p;
	char big[sizeof(p) + 8];

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.flags = 1U << 5;
	EXPECT_EQ(-EINVAL, gch_ioctl(self->fd, GCH_IOC_PRESSURE, &p));
	p.flags = 0;
	p.reserved = 1;
	EXPECT_EQ(-EINVAL, gch_ioctl(self->fd, GCH_IOC_PRESSURE, &p));
	p.reserved = 0;
	p.answered_bytes = 4096;	/* only with GCH_PRESSURE_ANSWER */
	EXPECT_EQ(-EINVAL, gch_ioctl(self->fd, GCH_IOC_PRESSURE, &p));
	p.answered_bytes = 0;
	p.size = 4;
	EXPECT_EQ(-EINVAL, gch_ioctl(self->fd, GCH_IOC_PRESSURE, &p));
	memset(big, 0, sizeof(big));
	((struct gch_pressure *)big)->size = sizeof(big);
	big[sizeof(big) - 1] = 1;
	EXPECT_EQ(-E2BIG, gch_ioctl(self->fd, GCH_IOC_PRESSURE, big));
	EXPECT_EQ(-EFAULT, gch_ioctl(self->fd, GCH_IOC_PRESSURE, (void *)8));
	/* answering with no event taken */
	EXPECT_EQ(-EINVAL, answer(self->fd, 0));
	/* a bigger struct with a zero tail is fine */
	big[sizeof(big) - 1] = 0;
	EXPECT_EQ(0, gch_ioctl(self->fd, GCH_IOC_PRESSURE, big));
}

static int watcher_child(void *arg)
{
	struct gch_pressure p;
	int fd = *(int *)arg;

	if (take(fd, &p) != -EPERM)
		return 1;
	if (answer(fd, 0) != -EPERM)
		return 2;
	return 0;
}

TEST_F(heap, watchers_refused)
{
	int status = run_child(watcher_child, &self->fd);

	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* ---- events from a cgroup over its memory.high ---------------------- */

/*
 * Just over memory.high: reclaim runs on every return to user, and the
 * kernel's over-high throttling (quadratic in the overage) stays under
 * its 10 ms threshold, so the test is never put to sleep.
 */
#define HIGH_BYTES	(16L << 20)
#define FILL_PAGES	((unsigned int)((HIGH_BYTES + (1L << 20)) / GCH_PAGE_SIZE))

FIXTURE(cg) {
	char dir[128];
	const char *unready;
};

FIXTURE_SETUP(cg)
{
	char v[32], high[192];

	if (!gch_cgroup2_ready()) {
		self->unready = "no cgroup v2";
		return;
	}
	snprintf(self->dir, sizeof(self->dir), GCH_CG_ROOT "/gcheap-prs-%d",
		 getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	snprintf(v, sizeof(v), "%ld", HIGH_BYTES);
	snprintf(high, sizeof(high), "%s/memory.high", self->dir);
	if (gch_write_file(high, v))
		self->unready = "memory controller not available";
}

FIXTURE_TEARDOWN(cg)
{
	if (self->dir[0])
		rmdir(self->dir);
}

struct fill {
	int fd;
	char *a;
	__u64 page;
	__u64 more_page;	/* touch_more()'s last span, 0: none */
};

/* Join @dir, open a heap and touch FILL_PAGES of spans: all in use. */
static int fill_heap(const char *dir, struct fill *f)
{
	char procs[192];
	long spg = sysconf(_SC_PAGESIZE);

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	if (gch_write_file(procs, "0"))
		return 1;
	f->fd = gch_open();
	if (f->fd < 0)
		return 2;
	f->a = gch_mmap(f->fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
			MAP_SHARED, GCH_MMAP_ARENA(0));
	if (!f->a || gch_alloc(f->fd, FILL_PAGES, &f->page, NULL))
		return 3;
	for (size_t off = 0; off < (size_t)FILL_PAGES * GCH_PAGE_SIZE;
	     off += spg)
		f->a[f->page * GCH_PAGE_SIZE + off] = 1;
	return 0;
}

#define MORE_PAGES	64	/* 512 KiB: more than a charge batch */

/*
 * A new span, touched: more charges above memory.high, so reclaim runs.
 * The last one's memory goes back first (freed and released), so the
 * overage, and with it the kernel's throttling, stays where it was, and
 * the heap has no free resident pages to give.
 */
static int touch_more(struct fill *f)
{
	long spg = sysconf(_SC_PAGESIZE);
	__u64 page;

	if (f->more_page && (gch_free1(f->fd, f->more_page, MORE_PAGES) ||
			     gch_scavenge(f->fd, GCH_SCAVENGE_ALL, 0, NULL)))
		return -1;
	if (gch_alloc(f->fd, MORE_PAGES, &page, NULL))
		return -1;
	f->more_page = page;
	for (size_t off = 0; off < (size_t)MORE_PAGES * GCH_PAGE_SIZE;
	     off += spg)
		f->a[page * GCH_PAGE_SIZE + off] = 1;
	return 0;
}

static int limit_child(void *arg)
{
	struct gch_pressure p, q;
	struct fill f = { 0 };
	int err = fill_heap(arg, &f);

	if (err)
		return err;
	if (!(poll_fd(f.fd, 2000) & POLLPRI))
		return 10;
	if (take(f.fd, &p) || !(p.reasons & GCH_PRESSURE_LIMIT) ||
	    p.events < 1)
		return 11;
	if (poll_fd(f.fd, 0))			/* taken: quiet */
		return 12;
	if (touch_more(&f))			/* more pressure, while taken */
		return 13;
	if (take(f.fd, &q) || q.reasons || q.events != p.events ||
	    q.suppressed <= p.suppressed)
		return 14;
	if (answer(f.fd, 1 << 20))
		return 15;
	if (answer(f.fd, 0) != -EINVAL)	/* once */
		return 16;
	usleep((GCH_PRESSURE_QUIET_MS + 50) * 1000);
	if (touch_more(&f) || !(poll_fd(f.fd, 2000) & POLLPRI))
		return 17;			/* after the quiet time */
	if (take(f.fd, &q) || q.events != p.events + 1 ||
	    !(q.reasons & GCH_PRESSURE_LIMIT))
		return 18;
	if (answer(f.fd, 0))
		return 19;
	usleep((GCH_PRESSURE_QUIET_MS + 50) * 1000);
	/* an event pending at close: nothing leaks (kmemleak) */
	if (touch_more(&f) || !(poll_fd(f.fd, 2000) & POLLPRI))
		return 20;
	munmap(f.a, GCH_ARENA_SIZE);
	close(f.fd);
	return 0;
}

TEST_F_TIMEOUT(cg, limit_event_poll_and_rate_limit, 120)
{
	int status;

	if (self->unready)
		SKIP(return, "%s", self->unready);
	status = run_child(limit_child, self->dir);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("failed check %d",
						 WEXITSTATUS(status));
}

TEST_HARNESS_MAIN

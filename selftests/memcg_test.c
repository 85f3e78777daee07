// SPDX-License-Identifier: MIT
/*
 * memcg_test: heap memory is charged to the memory cgroup of the process that
 * faults it, and uncharged when released or when the heap dies.
 *
 * Each test makes a fresh cgroup v2 group (mounting cgroup2 and enabling the
 * memory controller if the guest has not), runs a child inside it, and reads
 * the group's memory.current around the child's steps.  memcg caches up to
 * 64 pages of charge per CPU, and the heap's own metadata is charged too, so
 * comparisons allow SLACK_KB.  No test drives the group into OOM: the OOM
 * killer prints a stack trace, which the VM runner rightly treats as a splat.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include "gch_test.h"

#define CG_ROOT GCH_CG_ROOT
#define SLACK_KB (2 * 1024)
#define TOUCH_PAGES 4096		/* 32 MiB of heap */

/*
 * The 6.1 harness runs the test body even after SKIP() in the setup, so the
 * setup only records why it cannot run and each test skips on its own.
 */
FIXTURE(cg) {
	char dir[128];
	char current[160];
	const char *unready;	/* why the group cannot be used, or NULL */
};

FIXTURE_SETUP(cg)
{
	if (!gch_cgroup2_ready()) {
		self->unready = "no cgroup v2";
		return;
	}
	snprintf(self->dir, sizeof(self->dir), CG_ROOT "/gcheap-test-%d",
		 getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755)) TH_LOG("%s: %s", self->dir,
						    strerror(errno));
	snprintf(self->current, sizeof(self->current), "%s/memory.current",
		 self->dir);
	if (gch_read_long(self->current) < 0)
		self->unready = "memory controller not available";
}

FIXTURE_TEARDOWN(cg)
{
	if (self->dir[0])
		rmdir(self->dir);
}

#define NEED_GROUP() do {						\
		if (self->unready)					\
			SKIP(return, "%s", self->unready);		\
	} while (0)

/* Child side: move into the group; -1 on failure. */
static int join(const char *dir)
{
	char procs[192];

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	return gch_write_file(procs, "0") ? -1 : 0;
}

struct cg_child {
	const char *dir, *current;
	bool scavenge;		/* release the pages before closing */
};

#define KB(x) ((long)(x) / 1024)

/*
 * In the group: open a heap, touch TOUCH_PAGES pages, check the charge, free
 * and maybe scavenge, close, check the charge is gone.  Returns the number of
 * the first failed check.
 */
static int charge_child(void *arg)
{
	struct cg_child *c = arg;
	long spg = sysconf(_SC_PAGESIZE), c0, c1, c2, c3;
	__u64 page;
	char *a;
	int fd;

	if (join(c->dir))
		return 1;
	c0 = gch_read_long(c->current) / 1024;
	fd = gch_open();
	if (fd < 0)
		return 2;
	a = gch_mmap(fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_ARENA(0));
	if (!a || gch_alloc(fd, TOUCH_PAGES, &page, NULL))
		return 3;
	for (size_t off = 0; off < (size_t)TOUCH_PAGES * GCH_PAGE_SIZE; off += spg)
		a[page * GCH_PAGE_SIZE + off] = 1;
	c1 = gch_read_long(c->current) / 1024;
	fprintf(stderr, "# charge: %ld kB before, %ld kB after touching %ld kB\n",
		c0, c1, KB((long)TOUCH_PAGES * GCH_PAGE_SIZE));
	if (c1 - c0 < KB((long)TOUCH_PAGES * GCH_PAGE_SIZE) - SLACK_KB)
		return 4;
	if (c->scavenge) {
		if (gch_free1(fd, page, TOUCH_PAGES) ||
		    gch_scavenge(fd, GCH_SCAVENGE_ALL, 0, NULL))
			return 5;
		c2 = gch_read_long(c->current) / 1024;
		fprintf(stderr, "# charge after scavenge: %ld kB\n", c2);
		if (c1 - c2 < KB((long)TOUCH_PAGES * GCH_PAGE_SIZE) - SLACK_KB)
			return 6;
	}
	munmap(a, GCH_ARENA_SIZE);
	close(fd);
	usleep(100 * 1000);
	c3 = gch_read_long(c->current) / 1024;
	fprintf(stderr, "# charge after close: %ld kB\n", c3);
	if (c3 - c0 > SLACK_KB)
		return 7;
	return 0;
}

TEST_F(cg, faults_charged_close_uncharges)
{
	struct cg_child c = { .dir = self->dir, .current = self->current };
	int status;

	NEED_GROUP();
	status = run_child(charge_child, &c);

	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("failed check %d",
						 WEXITSTATUS(status));
}

TEST_F(cg, scavenge_uncharges)
{
	struct cg_child c = { .dir = self->dir, .current = self->current,
			      .scavenge = true };
	int status;

	NEED_GROUP();
	status = run_child(charge_child, &c);

	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("failed check %d",
						 WEXITSTATUS(status));
}

/* A child that dies with its heap open leaves no charge behind. */
static int die_with_heap(void *arg)
{
	struct cg_child *c = arg;
	long spg = sysconf(_SC_PAGESIZE);
	__u64 page;
	char *a;
	int fd;

	if (join(c->dir))
		return 1;
	fd = gch_open();
	a = fd < 0 ? NULL : gch_mmap(fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
				     MAP_SHARED, GCH_MMAP_ARENA(0));
	if (!a || gch_alloc(fd, TOUCH_PAGES, &page, NULL))
		return 2;
	for (size_t off = 0; off < (size_t)TOUCH_PAGES * GCH_PAGE_SIZE; off += spg)
		a[page * GCH_PAGE_SIZE + off] = 1;
	return 0;
}

TEST_F(cg, exit_uncharges)
{
	struct cg_child c = { .dir = self->dir, .current = self->current };
	long before, after;
	int status;

	NEED_GROUP();
	before = gch_read_long(self->current) / 1024;
	status = run_child(die_with_heap, &c);

	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("status %#x", status);
	usleep(200 * 1000);
	after = gch_read_long(self->current) / 1024;
	EXPECT_LT(after - before, SLACK_KB)
		TH_LOG("group charge %ld kB before, %ld kB after the child died",
		       before, after);
}

TEST_HARNESS_MAIN

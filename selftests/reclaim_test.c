// SPDX-License-Identifier: MIT
/*
 * reclaim_test: reclaim takes the free heap pages (freed garbage still backed
 * by memory) charged to the cgroup that needs room, and global pressure still
 * takes them from every heap.
 *
 * What is pinned, and why:
 *  - max: an owner in a cgroup with memory.max 256 MiB turns 192 MiB of
 *    touched spans into free pages, then touches 160 MiB of anonymous memory
 *    that fits only if those pages go.  A shrinker that limit reclaim never
 *    calls (not SHRINKER_MEMCG_AWARE) gets the owner OOM-killed holding its
 *    garbage.  The owner must finish, memory.events must show the cgroup hit
 *    max (else nothing was tested) and no oom_kill, and released_memcg_bytes
 *    must cover the shortfall while released_shrink_bytes, which counts
 *    global pressure only, stays 0.
 *  - high: the same under memory.high alone.  memory.high never OOM-kills:
 *    a cgroup that reclaim cannot shrink is throttled instead, so the hog
 *    gets a deadline and a throttled hog fails.
 *  - hog in a child: a fork child of the owner faults the anonymous memory,
 *    so reclaim runs on behalf of a task that does not own the heap.  A
 *    blocking shrinker must not wait on anything that task holds; both live.
 *  - sibling: reclaim in cgroup B takes nothing from a heap charged to its
 *    sibling A: free pages are listed per memcg, not taken from any heap.
 *  - global: no limits; a hog larger than MemAvailable (which does not count
 *    free heap pages) by most of a heap's free memory must survive every one
 *    of 10 runs, counted as released_shrink_bytes and never as memcg.  Runs
 *    alternate the heap between the test's own cgroup (the root: the pages
 *    are charged to no memcg) and an unlimited child cgroup (charged: global
 *    reclaim reaches them only through that memcg's list and shrinker bit).
 *    A ballast process takes most of the guest first, so each run touches
 *    ~0.7 GiB instead of the whole 2 GiB guest: TCG is slow.
 *
 * The background scavenger is paused in every test, so that reclaim is the
 * only path that can release the garbage and every released byte has an
 * owner in the counters.  Heap owners are forked children that send the
 * heap's fd back over a socket: the test reads the stats itself, also after
 * an owner was killed, to say what the heap held when it died.  Waits have
 * deadlines scaled by how fast the guest touched the garbage, so a debug
 * kernel gets the time it needs and a hang still reports the stuck task.
 * An OOM kill also prints a stack trace, which the VM runner fails on too:
 * a kill is a failure twice over, on purpose.
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/mount.h>

#include "gch_test.h"
#include "scav_test.h"

#define CG_ROOT		GCH_CG_ROOT
#define SPAN_PAGES	512U			/* 4 MiB spans */
#define SPAN_MIB	4U

/* the cgroup scenarios, scaled to the 2 GiB guest */
#define LIMIT_MIB	256U
#define GARBAGE_MIB	192U
#define LIVE_MIB	8U	/* a patterned live span reclaim must not touch */
#define HOG_MIB		160U
/*
 * memcg caches up to 64 pages of charge per CPU and charges the heap's own
 * metadata and page tables to the group too: what memory.current says may
 * differ from what reclaim had to find by a few MiB.
 */
#define SLACK_MIB	4U
/* memory.high is a target, not a wall: usage may stay above it a while */
#define HIGH_SLACK_MIB	32U

/* the global-pressure runs; a stress build may ask for more */
#ifndef GLOBAL_RUNS
#define GLOBAL_RUNS	10
#endif
#define GLOBAL_FREE_MIB	256U
#define GLOBAL_AVAIL_MIB 256U	/* what the ballast leaves available */
#define GLOBAL_MARGIN_MIB 64U	/* the hog stays this far below the total */

#define MAX_KIDS	8
#define BOOST_SYSCTL	"/proc/sys/vm/watermark_boost_factor"

/* ---- cgroup v2 ---- */

static int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int cg_write(const char *dir, const char *file, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return gch_write_file(path, val);
}

static long cg_read(const char *dir, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return gch_read_long(path);
}

/* memory.events: hierarchical, so a limit anywhere above counts too */
struct mev {
	long high, max, oom, oom_kill;
};

static void read_events(const char *dir, struct mev *e)
{
	char path[256], key[32];
	long val;
	FILE *f;

	memset(e, 0, sizeof(*e));
	snprintf(path, sizeof(path), "%s/memory.events", dir);
	f = fopen(path, "re");
	if (!f) {
		e->oom_kill = -1;
		return;
	}
	while (fscanf(f, "%31s %ld", key, &val) == 2) {
		if (!strcmp(key, "high"))
			e->high = val;
		else if (!strcmp(key, "max"))
			e->max = val;
		else if (!strcmp(key, "oom"))
			e->oom = val;
		else if (!strcmp(key, "oom_kill"))
			e->oom_kill = val;
	}
	fclose(f);
}

static int cg_join(const char *dir)
{
	return cg_write(dir, "cgroup.procs", "0");
}

/* Kill whatever a failed test left in @dir, then remove it. */
static void cg_destroy(const char *dir)
{
	cg_write(dir, "cgroup.kill", "1");
	for (int i = 0; i < 200; i++) {
		if (!rmdir(dir) || errno == ENOENT)
			return;
		sleep_ms(50);
	}
	fprintf(stderr, "# cannot remove %s: %s\n", dir, strerror(errno));
}

/* ---- messages: single bytes, plus the heap's fd once ---- */

static int send_byte(int sock, char c)
{
	return write(sock, &c, 1) == 1 ? 0 : -1;
}

/* The byte, or -1 on EOF (the peer died) or after @secs seconds. */
static int recv_byte(int sock, double secs)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	char c;

	if (poll(&p, 1, (int)(secs * 1000)) != 1)
		return -1;
	return read(sock, &c, 1) == 1 ? (unsigned char)c : -1;
}

static int send_fd(int sock, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char c = 'F';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	memset(&u, 0, sizeof(u));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock, double secs)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct pollfd p = { .fd = sock, .events = POLLIN };
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	int fd;

	if (poll(&p, 1, (int)(secs * 1000)) != 1 ||
	    recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* ---- children ---- */

static int set_oom_adj(const char *val)
{
	return gch_write_file("/proc/self/oom_score_adj", val);
}

/* Map and touch @mib MiB of anonymous memory, left mapped until exit. */
static int hog_touch(unsigned int mib, long spg)
{
	size_t len = (size_t)mib * MIB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	touch(p, len, spg, 1);
	return 0;
}

/* Owner exit codes: the test names them in its report. */
enum {
	OWN_OK,
	OWN_JOIN = 20,
	OWN_HEAP,
	OWN_PROTO,
	OWN_HOG_MAP,
	OWN_LIVE_LOST,
	OWN_HOG_KILLED,
	OWN_HOG_FAILED,
};

static const char *own_err(int code)
{
	switch (code) {
	case OWN_OK: return "ok";
	case OWN_JOIN: return "could not join its cgroup";
	case OWN_HEAP: return "heap setup or span call failed";
	case OWN_PROTO: return "lost the test (socket)";
	case OWN_HOG_MAP: return "hog mmap failed";
	case OWN_LIVE_LOST: return "a live span lost its pattern";
	case OWN_HOG_KILLED: return "its hog child was killed";
	case OWN_HOG_FAILED: return "its hog child failed";
	}
	return "unknown exit code";
}

struct owner_cfg {
	const char *cg;		/* cgroup to join; NULL: stay in the test's */
	unsigned int live_mib, garbage_mib;
	unsigned int hog_mib;	/* on 'H' */
	bool hog_in_child;	/* on 'H', fork a child to fault the hog */
	bool start_empty;	/* no garbage until 'F' */
};

struct owner_heap {
	int fd;
	char *base;
	long spg;
	unsigned int nlive;
	struct gch_span_ref live[LIVE_MIB / SPAN_MIB + 1];
};

/* Allocate @mib of spans, write every byte, free them all: free resident. */
static int make_garbage(struct owner_heap *h, unsigned int mib)
{
	struct gch_span_ref refs[256];
	unsigned int n = mib / SPAN_MIB;

	if (n > 256)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		__u64 page;

		if (gch_alloc(h->fd, SPAN_PAGES, &page, NULL))
			return -1;
		memset(gch_page_addr(h->base, page), 0x5a,
		       (size_t)SPAN_PAGES * GCH_PAGE_SIZE);
		refs[i] = (struct gch_span_ref){ (__u32)page, SPAN_PAGES };
	}
	return n ? gch_free(h->fd, refs, n) : 0;
}

static int owner_hog(const struct owner_cfg *c, long spg)
{
	int status;
	pid_t pid;

	if (!c->hog_in_child)
		return hog_touch(c->hog_mib, spg) ? OWN_HOG_MAP : OWN_OK;
	pid = fork();
	if (pid < 0)
		return OWN_HOG_FAILED;
	if (pid == 0)
		_exit(hog_touch(c->hog_mib, spg) ? 1 : 0);
	if (waitpid(pid, &status, 0) != pid)
		return OWN_HOG_FAILED;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "# owner: hog child killed by signal %d\n",
			WTERMSIG(status));
		return OWN_HOG_KILLED;
	}
	return WEXITSTATUS(status) ? OWN_HOG_FAILED : OWN_OK;
}

/*
 * The owner: join the cgroup, open and map a heap, hand the fd over, make
 * the live spans and the garbage, say 'R'; then serve commands: 'F' drop
 * every free page and make the garbage again, 'D' only drop, 'H' run the
 * hog and exit, 'Q' exit.  Exits with an OWN_* code.
 */
static int owner_main(const struct owner_cfg *c, int sock)
{
	unsigned int narenas = (c->live_mib + c->garbage_mib + 63) / 64;
	struct owner_heap h = { .spg = sysconf(_SC_PAGESIZE) };
	int cmd, ret = OWN_OK;

	if (c->cg && cg_join(c->cg))
		return OWN_JOIN;
	h.fd = gch_open();
	if (h.fd < 0)
		return OWN_HEAP;
	h.base = gch_reserve(narenas);
	if (h.base == MAP_FAILED || map_arenas(h.fd, h.base, narenas))
		return OWN_HEAP;
	if (send_fd(sock, h.fd))
		return OWN_PROTO;
	/* live spans first: lowest addresses, among the garbage's arenas */
	for (unsigned int i = 0; i < c->live_mib / SPAN_MIB; i++) {
		__u64 page;

		if (gch_alloc(h.fd, SPAN_PAGES, &page, NULL))
			return OWN_HEAP;
		pattern_fill(gch_page_addr(h.base, page),
			     (size_t)SPAN_PAGES * GCH_PAGE_SIZE, page);
		h.live[h.nlive++] = (struct gch_span_ref){ (__u32)page, SPAN_PAGES };
	}
	if (!c->start_empty && make_garbage(&h, c->garbage_mib))
		return OWN_HEAP;
	if (send_byte(sock, 'R'))
		return OWN_PROTO;
	for (;;) {
		cmd = recv_byte(sock, 1e6);
		if (cmd == 'F' || cmd == 'D') {
			if (gch_scavenge(h.fd, GCH_SCAVENGE_ALL, 0, NULL) ||
			    (cmd == 'F' && make_garbage(&h, c->garbage_mib)))
				return OWN_HEAP;
			if (send_byte(sock, 'R'))
				return OWN_PROTO;
		} else if (cmd == 'H') {
			ret = owner_hog(c, h.spg);
			break;
		} else if (cmd == 'Q') {
			break;
		} else {
			return OWN_PROTO;
		}
	}
	for (unsigned int i = 0; i < h.nlive; i++) {
		if (pattern_check(gch_page_addr(h.base, h.live[i].page),
				  (size_t)SPAN_PAGES * GCH_PAGE_SIZE,
				  h.live[i].page) >= 0)
			return OWN_LIVE_LOST;
	}
	return ret;
}

/* ---- the fixture ---- */

FIXTURE(rc) {
	char top[96];		/* this test's cgroup parent; "" until made */
	const char *unready;	/* why cgroups cannot be used, or NULL */
	struct scav_params saved;
	bool paused;
	long spg;
	double s_per_mib;	/* how fast this guest touched the garbage */
	pid_t kids[MAX_KIDS];
	int nkids;
	char boost[32];		/* vm.watermark_boost_factor to put back */
};

FIXTURE_SETUP(rc)
{
	int fd;

	self->spg = sysconf(_SC_PAGESIZE);
	self->s_per_mib = 0.05;
	fd = gch_open();
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	ASSERT_TRUE(gch_has_feature(fd, GCH_FEAT_SHRINKER));
	close(fd);
	ASSERT_EQ(0, scav_params_save(&self->saved));
	if (!gch_cgroup2_ready()) {
		self->unready = "no cgroup v2";
	} else {
		snprintf(self->top, sizeof(self->top),
			 CG_ROOT "/gcheap-reclaim-%d", getpid());
		if (mkdir(self->top, 0755)) {
			self->unready = "cannot make a cgroup";
			self->top[0] = 0;
		} else if (cg_write(self->top, "cgroup.subtree_control",
				    "+memory")) {
			self->unready = "memory controller not available";
		}
	}
	/* last: a failed ASSERT above skips the teardown that restores it */
	ASSERT_EQ(0, param_write("scavenger", "N"));
	self->paused = true;
}

FIXTURE_TEARDOWN(rc)
{
	static const char *const subs[] = { "a", "b", "g" };
	char dir[160];
	int status;

	for (int i = 0; i < self->nkids; i++) {
		if (waitpid(self->kids[i], &status, WNOHANG) == 0) {
			kill(self->kids[i], SIGKILL);
			waitpid(self->kids[i], &status, 0);
		}
	}
	if (self->top[0]) {
		for (unsigned int i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
			snprintf(dir, sizeof(dir), "%s/%s", self->top, subs[i]);
			cg_destroy(dir);
		}
		cg_destroy(self->top);
	}
	if (self->boost[0])
		gch_write_file(BOOST_SYSCTL, self->boost);
	if (self->paused)
		scav_params_restore(&self->saved);
}

#define NEED_GROUP() do {						\
		if (self->unready)					\
			SKIP(return, "%s", self->unready);		\
	} while (0)

/* Make cgroup @name under the test's parent; limits in MiB, 0: none. */
static int make_cg(FIXTURE_DATA(rc) *self, const char *name,
		   unsigned int max_mib, unsigned int high_mib, char *dir,
		   size_t len)
{
	char val[32];
	int err;

	snprintf(dir, len, "%s/%s", self->top, name);
	if (mkdir(dir, 0755))
		return -errno;
	if (max_mib) {
		snprintf(val, sizeof(val), "%llu", max_mib * MIB);
		if ((err = cg_write(dir, "memory.max", val)))
			return err;
	}
	if (high_mib) {
		snprintf(val, sizeof(val), "%llu", high_mib * MIB);
		if ((err = cg_write(dir, "memory.high", val)))
			return err;
	}
	/* the guest has no swap; where the knob exists, say so anyway */
	err = cg_write(dir, "memory.swap.max", "0");
	return err == -ENOENT ? 0 : err;
}

static pid_t spawn(FIXTURE_DATA(rc) *self)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid > 0 && self->nkids < MAX_KIDS)
		self->kids[self->nkids++] = pid;
	return pid;
}

/* What a stuck task is doing, for the log; then kill it. */
static void dump_stuck(pid_t pid)
{
	char path[64], buf[4096];
	const char *files[] = { "wchan", "stack" };
	ssize_t n;
	int fd;

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			ksft_print_msg("pid %d %s:\n%s\n", pid, files[i], buf);
		}
	}
}

/*
 * waitpid() with a deadline.  0 with *status once @pid ended; on timeout
 * log what it is stuck on, SIGKILL it, set *status to -1 and return -1.
 */
static int wait_deadline(pid_t pid, int *status, double secs)
{
	double end = now_s() + secs;

	*status = -1;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0)
			return -1;
		if (now_s() > end)
			break;
		sleep_ms(20);
	}
	ksft_print_msg("pid %d still running after %.0f s\n", pid, secs);
	dump_stuck(pid);
	kill(pid, SIGKILL);
	end = now_s() + 30;
	while (waitpid(pid, status, WNOHANG) != pid) {
		if (now_s() > end) {
			ksft_print_msg("pid %d does not die after SIGKILL\n",
				       pid);
			break;
		}
		sleep_ms(50);
	}
	/* our SIGKILL is no verdict of the kernel's: report the hang */
	*status = -1;
	return -1;
}

static const char *status_str(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "did not finish in time (stuck or throttled; killed by the test)");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d%s", WTERMSIG(status),
			 WTERMSIG(status) == SIGKILL ? " (OOM kill?)" : "");
	else if (WEXITSTATUS(status))
		snprintf(buf, len, "exit %d: %s", WEXITSTATUS(status),
			 own_err(WEXITSTATUS(status)));
	else
		snprintf(buf, len, "exited normally");
	return buf;
}

static bool survived(int status)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct owner {
	pid_t pid;
	int sock;	/* the test's end */
	int fd;		/* the heap, or -1 */
	double ready_s;	/* spawn to 'R' */
};

/* Start an owner; 0 once its heap fd arrived and it said 'R'. */
static int owner_start(FIXTURE_DATA(rc) *self, struct owner *o,
		       const struct owner_cfg *c)
{
	double t0 = now_s();
	int sv[2];

	o->fd = -1;
	o->pid = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	o->pid = spawn(self);
	if (o->pid < 0)
		return -1;
	if (o->pid == 0) {
		close(sv[0]);
		_exit(owner_main(c, sv[1]));
	}
	close(sv[1]);
	o->sock = sv[0];
	o->fd = recv_fd(o->sock, 300);
	if (o->fd < 0 || recv_byte(o->sock, 300) != 'R')
		return -1;
	o->ready_s = now_s() - t0;
	if (c->garbage_mib && !c->start_empty)
		self->s_per_mib = o->ready_s / (c->garbage_mib + c->live_mib);
	return 0;
}

/* Tell a waiting owner to go on ('H' or 'Q') and wait for it to exit. */
static int owner_finish(struct owner *o, char cmd, double secs)
{
	int status;

	if (send_byte(o->sock, cmd))
		ksft_print_msg("owner %d: cannot send '%c'\n", o->pid, cmd);
	wait_deadline(o->pid, &status, secs);
	close(o->sock);
	return status;
}

/* How long a hog of @mib may take: generous, scaled to this guest. */
static double hog_deadline(FIXTURE_DATA(rc) *self, unsigned int mib)
{
	double d = 40 * self->s_per_mib * mib;

	return d < 30 ? 30 : d;
}

/* ---- stats ---- */

static void print_stats(const char *label, const struct gch_stats *s)
{
	ksft_print_msg("%s: resident %llu KiB, free resident %llu KiB, released: memcg %llu shrink %llu bg %llu eager %llu ioctl %llu KiB\n",
		       label,
		       (unsigned long long)s->resident_bytes >> 10,
		       (unsigned long long)s->free_resident_bytes >> 10,
		       (unsigned long long)s->released_memcg_bytes >> 10,
		       (unsigned long long)s->released_shrink_bytes >> 10,
		       (unsigned long long)s->released_bg_bytes >> 10,
		       (unsigned long long)s->released_eager_bytes >> 10,
		       (unsigned long long)s->released_ioctl_bytes >> 10);
}

static void print_events(const char *label, const struct mev *e)
{
	ksft_print_msg("%s memory.events: high %ld max %ld oom %ld oom_kill %ld\n",
		       label, e->high, e->max, e->oom, e->oom_kill);
}

static __u64 released_all(const struct gch_stats *s)
{
	return s->released_bg_bytes + s->released_eager_bytes +
	       s->released_shrink_bytes + s->released_ioctl_bytes +
	       s->released_memcg_bytes;
}

/* The gauges agree with each other and with the counters. */
static void check_consistent(struct __test_metadata *_metadata,
			     const char *what, const struct gch_stats *s,
			     long spg)
{
	EXPECT_LE(s->free_resident_bytes, s->resident_bytes) TH_LOG("%s", what);
	EXPECT_LE(s->free_resident_bytes, s->free_pages * GCH_PAGE_SIZE)
		TH_LOG("%s", what);
	EXPECT_LE(s->resident_bytes, s->mapped_bytes) TH_LOG("%s", what);
	if (s->free_resident_bytes <= s->resident_bytes) {
		EXPECT_LE(s->resident_bytes - s->free_resident_bytes,
			  s->span_pages * GCH_PAGE_SIZE) TH_LOG("%s", what);
	}
	EXPECT_EQ(0, s->resident_bytes % spg) TH_LOG("%s", what);
	EXPECT_EQ(0, s->free_resident_bytes % spg) TH_LOG("%s", what);
	/* no page released twice, none lost, memcg releases included */
	EXPECT_EQ(s->faults * (__u64)spg, s->resident_bytes + released_all(s))
		TH_LOG("%s: faults %llu resident %llu released %llu", what,
		       (unsigned long long)s->faults,
		       (unsigned long long)s->resident_bytes,
		       (unsigned long long)released_all(s));
}

/* Counters only grow. */
static void check_grow(struct __test_metadata *_metadata, const char *what,
		       const struct gch_stats *a, const struct gch_stats *b)
{
#define GROWS(f) EXPECT_LE(a->f, b->f) TH_LOG("%s: " #f " went back", what)
	GROWS(alloc_calls);
	GROWS(free_calls);
	GROWS(spans_freed);
	GROWS(faults);
	GROWS(limit_hits);
	GROWS(released_bg_bytes);
	GROWS(released_eager_bytes);
	GROWS(released_shrink_bytes);
	GROWS(released_ioctl_bytes);
	GROWS(released_memcg_bytes);
	GROWS(scavenge_ns);
#undef GROWS
}

/* ---- one cgroup scenario: owner with garbage, then the hog ---- */

struct scene {
	char cg[160];
	struct owner o;
	struct gch_stats st0, st1;
	struct mev ev0, ev1;
	long cur0;		/* memory.current before the hog, bytes */
	int status;		/* the owner's wait status; -1: hung */
	double hog_s;
};

static void scene_run(struct __test_metadata *_metadata,
		      FIXTURE_DATA(rc) *self, struct scene *sc,
		      const struct owner_cfg *c)
{
	double t0;

	ASSERT_EQ(0, owner_start(self, &sc->o, c))
		TH_LOG("%s: the owner's setup failed", sc->cg);
	ASSERT_EQ(0, gch_stats(sc->o.fd, &sc->st0));
	sc->cur0 = cg_read(sc->cg, "memory.current");
	read_events(sc->cg, &sc->ev0);
	ksft_print_msg("%s: %u MiB garbage made in %.1f s; memory.current %ld KiB; hog %u MiB%s\n",
		       sc->cg, c->garbage_mib, sc->o.ready_s, sc->cur0 >> 10,
		       c->hog_mib, c->hog_in_child ? " in a child" : "");
	t0 = now_s();
	sc->status = owner_finish(&sc->o, 'H', hog_deadline(self, c->hog_mib));
	sc->hog_s = now_s() - t0;
	ASSERT_EQ(0, gch_stats(sc->o.fd, &sc->st1));
	read_events(sc->cg, &sc->ev1);
}

/*
 * The verdict every limit scenario shares: the owner (and its hog) lived,
 * nothing was OOM-killed, and memcg releases, nothing else, made the room.
 * @limit_mib is what usage had to get under; @slack_mib what may be left.
 */
static void scene_check(struct __test_metadata *_metadata,
			FIXTURE_DATA(rc) *self, const char *test,
			struct scene *sc, unsigned int hog_mib,
			unsigned int limit_mib, unsigned int slack_mib)
{
	const struct gch_stats *a = &sc->st0, *b = &sc->st1;
	long long need = sc->cur0 + (long long)hog_mib * MIB -
			 (long long)limit_mib * MIB -
			 (long long)slack_mib * MIB;
	__u64 drop = a->free_resident_bytes > b->free_resident_bytes ?
		     a->free_resident_bytes - b->free_resident_bytes : 0;
	char why[96];

	if (!survived(sc->status) || sc->ev1.oom_kill != sc->ev0.oom_kill) {
		ksft_print_msg("%s: OWNER %s after %.1f s\n", test,
			       status_str(sc->status, why, sizeof(why)),
			       sc->hog_s);
		print_events(test, &sc->ev1);
		print_stats("heap before the hog", a);
		print_stats("heap after", b);
	} else {
		ksft_print_msg("%s: hog done in %.1f s; memcg released %llu KiB (shortfall %lld KiB); free resident %llu -> %llu KiB\n",
			       test, sc->hog_s,
			       (unsigned long long)(b->released_memcg_bytes -
						    a->released_memcg_bytes) >> 10,
			       (need + (long long)slack_mib * MIB) >> 10,
			       (unsigned long long)a->free_resident_bytes >> 10,
			       (unsigned long long)b->free_resident_bytes >> 10);
		print_events(test, &sc->ev1);
	}
	EXPECT_TRUE(survived(sc->status))
		TH_LOG("%s: owner %s", test,
		       status_str(sc->status, why, sizeof(why)));
	EXPECT_EQ(sc->ev0.oom_kill, sc->ev1.oom_kill)
		TH_LOG("%s: OOM kills in the cgroup", test);
	EXPECT_LT(0, need) TH_LOG("%s: the hog fits without reclaim: not a test",
				  test);
	EXPECT_LE((__u64)(need > 0 ? need : 0),
		  b->released_memcg_bytes - a->released_memcg_bytes)
		TH_LOG("%s: memcg reclaim released less than the shortfall", test);
	EXPECT_LE((__u64)(need > 0 ? need : 0), drop)
		TH_LOG("%s: free resident memory did not drop by the shortfall",
		       test);
	/* nothing but memcg reclaim may have released: no global pressure */
	EXPECT_EQ(a->released_shrink_bytes, b->released_shrink_bytes)
		TH_LOG("%s: a release inside a cgroup counted as global", test);
	EXPECT_EQ(a->released_bg_bytes, b->released_bg_bytes);
	EXPECT_EQ(a->released_eager_bytes, b->released_eager_bytes);
	EXPECT_EQ(a->released_ioctl_bytes, b->released_ioctl_bytes);
	EXPECT_EQ(a->span_pages, b->span_pages);
	check_grow(_metadata, test, a, b);
	check_consistent(_metadata, test, b, self->spg);
}

TEST_F_TIMEOUT(rc, memory_max_takes_free_pages, 300)
{
	struct owner_cfg c = {
		.live_mib = LIVE_MIB, .garbage_mib = GARBAGE_MIB,
		.hog_mib = HOG_MIB,
	};
	struct scene sc = { .status = -1 };

	NEED_GROUP();
	ASSERT_EQ(0, make_cg(self, "b", LIMIT_MIB, 0, sc.cg, sizeof(sc.cg)));
	c.cg = sc.cg;
	scene_run(_metadata, self, &sc, &c);
	scene_check(_metadata, self, "memory.max", &sc, HOG_MIB, LIMIT_MIB,
		    SLACK_MIB);
	/* at its limit, not just near it: else reclaim was never needed */
	EXPECT_LT(sc.ev0.max, sc.ev1.max);
	close(sc.o.fd);
}

TEST_F_TIMEOUT(rc, memory_high_takes_free_pages, 300)
{
	struct owner_cfg c = {
		.live_mib = LIVE_MIB, .garbage_mib = GARBAGE_MIB,
		.hog_mib = HOG_MIB,
	};
	struct scene sc = { .status = -1 };

	NEED_GROUP();
	ASSERT_EQ(0, make_cg(self, "b", 0, LIMIT_MIB, sc.cg, sizeof(sc.cg)));
	c.cg = sc.cg;
	scene_run(_metadata, self, &sc, &c);
	scene_check(_metadata, self, "memory.high", &sc, HOG_MIB, LIMIT_MIB,
		    HIGH_SLACK_MIB);
	EXPECT_LT(sc.ev0.high, sc.ev1.high);
	EXPECT_EQ(0, sc.ev1.max) TH_LOG("memory.max is unlimited here");
	close(sc.o.fd);
}

TEST_F_TIMEOUT(rc, hog_child_same_cgroup, 300)
{
	struct owner_cfg c = {
		.live_mib = LIVE_MIB, .garbage_mib = GARBAGE_MIB,
		.hog_mib = HOG_MIB, .hog_in_child = true,
	};
	struct scene sc = { .status = -1 };

	NEED_GROUP();
	ASSERT_EQ(0, make_cg(self, "b", LIMIT_MIB, 0, sc.cg, sizeof(sc.cg)));
	c.cg = sc.cg;
	scene_run(_metadata, self, &sc, &c);
	/* a forked task brings a few page tables of its own */
	scene_check(_metadata, self, "hog child", &sc, HOG_MIB, LIMIT_MIB,
		    2 * SLACK_MIB);
	EXPECT_LT(sc.ev0.max, sc.ev1.max);
	close(sc.o.fd);
}

TEST_F_TIMEOUT(rc, sibling_keeps_free_pages, 300)
{
	struct owner_cfg cx = { .garbage_mib = 128 };
	struct owner_cfg cb = {
		.live_mib = LIVE_MIB, .garbage_mib = GARBAGE_MIB,
		.hog_mib = HOG_MIB,
	};
	struct scene sc = { .status = -1 };
	struct gch_stats x0, x1;
	struct owner x = { .fd = -1 };
	char dir_a[160], why[96];
	struct mev ea;
	int status;

	NEED_GROUP();
	ASSERT_EQ(0, make_cg(self, "a", 0, 0, dir_a, sizeof(dir_a)));
	ASSERT_EQ(0, make_cg(self, "b", LIMIT_MIB, 0, sc.cg, sizeof(sc.cg)));
	cx.cg = dir_a;
	cb.cg = sc.cg;
	ASSERT_EQ(0, owner_start(self, &x, &cx));
	ASSERT_EQ(0, gch_stats(x.fd, &x0));
	scene_run(_metadata, self, &sc, &cb);
	ASSERT_EQ(0, gch_stats(x.fd, &x1));
	scene_check(_metadata, self, "B at memory.max", &sc, HOG_MIB,
		    LIMIT_MIB, SLACK_MIB);
	EXPECT_LT(sc.ev0.max, sc.ev1.max);

	print_stats("heap X in sibling A", &x1);
	EXPECT_EQ(128 * MIB, x0.free_resident_bytes);
	EXPECT_EQ(x0.free_resident_bytes, x1.free_resident_bytes)
		TH_LOG("reclaim in B took free pages charged to A");
	EXPECT_EQ(x0.resident_bytes, x1.resident_bytes);
	EXPECT_EQ(released_all(&x0), released_all(&x1));
	check_consistent(_metadata, "heap X", &x1, self->spg);
	read_events(dir_a, &ea);
	EXPECT_EQ(0, ea.oom_kill);

	status = owner_finish(&x, 'Q', 60);
	EXPECT_TRUE(survived(status))
		TH_LOG("X's owner %s", status_str(status, why, sizeof(why)));
	close(x.fd);
	close(sc.o.fd);
}

/* ---- global pressure ---- */

/* Holds @mib of anonymous memory until its socket closes. */
static int ballast_main(unsigned int mib, long spg, int sock)
{
	if (set_oom_adj("-1000"))
		return 1;
	if (hog_touch(mib, spg))
		return 2;
	if (send_byte(sock, 'R'))
		return 3;
	recv_byte(sock, 1e6);
	return 0;
}

static int hog_main(unsigned int mib, long spg)
{
	/* if anything is killed, let it be the hog, so the test sees it */
	if (set_oom_adj("1000"))
		return 1;
	return hog_touch(mib, spg) ? 2 : 0;
}

TEST_F_TIMEOUT(rc, global_pressure_runs, 600)
{
	struct owner_cfg cfg[2] = {
		{ .garbage_mib = GLOBAL_FREE_MIB, .start_empty = true },
		{ .garbage_mib = GLOBAL_FREE_MIB, .start_empty = true },
	};
	static const char *const where[2] = { "own cgroup", "child cgroup" };
	struct owner own[2] = { { .fd = -1 }, { .fd = -1 } };
	int runs = GLOBAL_RUNS, killed = 0, status, sv[2], ballast_sock;
	const char *env = getenv("GCH_RECLAIM_RUNS");
	long avail_kb, ballast_mib;
	char dir_g[160], why[96];
	pid_t ballast;

	NEED_GROUP();
	if (env && *env)
		runs = atoi(env);
	ASSERT_EQ(0, make_cg(self, "g", 0, 0, dir_g, sizeof(dir_g)));
	cfg[1].cg = dir_g;
	/*
	 * Heap pages are unmovable: every refill steals pageblocks the hog
	 * freed, and each steal boosts the watermarks (by ~96 MiB in this
	 * guest) until kswapd has reclaimed the boost.  A boosted min
	 * watermark OOM-kills the hog with the heap already empty and 140 MiB
	 * free, which says nothing about the shrinker: switch boosting off.
	 */
	ASSERT_EQ(0, read_str(BOOST_SYSCTL, self->boost, sizeof(self->boost)));
	ASSERT_EQ(0, gch_write_file(BOOST_SYSCTL, "0"));
	for (int k = 0; k < 2; k++)
		ASSERT_EQ(0, owner_start(self, &own[k], &cfg[k]));

	avail_kb = meminfo_kb("MemAvailable");
	ASSERT_LT(0, avail_kb);
	ballast_mib = avail_kb / 1024 - GLOBAL_FREE_MIB - GLOBAL_AVAIL_MIB;
	if (ballast_mib < 0)
		ballast_mib = 0;
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ballast = spawn(self);
	ASSERT_LE(0, ballast);
	if (ballast == 0) {
		close(sv[0]);
		_exit(ballast_main((unsigned int)ballast_mib, self->spg, sv[1]));
	}
	close(sv[1]);
	ballast_sock = sv[0];
	ASSERT_EQ('R', recv_byte(ballast_sock, 600));
	ksft_print_msg("MemTotal %ld MiB, MemAvailable %ld MiB, ballast %ld MiB\n",
		       meminfo_kb("MemTotal") / 1024, avail_kb / 1024,
		       ballast_mib);

	for (int i = 0; i < runs; i++) {
		int k = i % 2;
		struct gch_stats st0, st1;
		unsigned int hog_mib;
		long need_mib;
		double t0, hog_s;
		pid_t hog;

		/* only the heap under test holds free pages */
		ASSERT_EQ(0, send_byte(own[!k].sock, 'D'));
		ASSERT_EQ('R', recv_byte(own[!k].sock, 300));
		t0 = now_s();
		ASSERT_EQ(0, send_byte(own[k].sock, 'F'));
		ASSERT_EQ('R', recv_byte(own[k].sock, 300))
			TH_LOG("run %d: the %s owner died refilling", i, where[k]);
		if (i == 0)
			self->s_per_mib = (now_s() - t0) / GLOBAL_FREE_MIB;
		ASSERT_EQ(0, gch_stats(own[k].fd, &st0));
		EXPECT_EQ(GLOBAL_FREE_MIB * MIB, st0.free_resident_bytes);
		avail_kb = meminfo_kb("MemAvailable");
		need_mib = (long)(st0.free_resident_bytes / MIB) - GLOBAL_MARGIN_MIB;
		hog_mib = (unsigned int)(avail_kb / 1024 + need_mib);

		t0 = now_s();
		hog = spawn(self);
		ASSERT_LE(0, hog);
		if (hog == 0)
			_exit(hog_main(hog_mib, self->spg));
		wait_deadline(hog, &status, hog_deadline(self, hog_mib));
		hog_s = now_s() - t0;
		ASSERT_EQ(0, gch_stats(own[k].fd, &st1));

		ksft_print_msg("run %d (heap in %s): MemAvailable %ld MiB, hog %u MiB: %s in %.1f s; shrink released %llu KiB\n",
			       i, where[k], avail_kb / 1024, hog_mib,
			       status_str(status, why, sizeof(why)), hog_s,
			       (unsigned long long)(st1.released_shrink_bytes -
						    st0.released_shrink_bytes) >> 10);
		if (!survived(status)) {
			killed++;
			print_stats("heap before the hog", &st0);
			print_stats("heap after", &st1);
			continue;
		}
		/* MemAvailable is an estimate: ask for half of what it says */
		EXPECT_LE((__u64)need_mib * MIB / 2,
			  st1.released_shrink_bytes - st0.released_shrink_bytes)
			TH_LOG("run %d (heap in %s): the hog fit without most of the heap's free pages?",
			       i, where[k]);
		EXPECT_EQ(st0.released_memcg_bytes, st1.released_memcg_bytes)
			TH_LOG("run %d (heap in %s): global pressure counted as memcg",
			       i, where[k]);
		EXPECT_EQ(st0.released_bg_bytes, st1.released_bg_bytes);
		check_grow(_metadata, where[k], &st0, &st1);
		check_consistent(_metadata, where[k], &st1, self->spg);
	}
	EXPECT_EQ(0, killed) TH_LOG("the hog died in %d of %d runs", killed, runs);

	close(ballast_sock);
	wait_deadline(ballast, &status, 60);
	for (int k = 0; k < 2; k++) {
		status = owner_finish(&own[k], 'Q', 60);
		EXPECT_TRUE(survived(status))
			TH_LOG("the %s owner %s", where[k],
			       status_str(status, why, sizeof(why)));
		close(own[k].fd);
	}
}

TEST_HARNESS_MAIN

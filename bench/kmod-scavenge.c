// SPDX-License-Identifier: MIT
/*
 * kmod-scavenge: how fast freed heap memory goes back to the system, and at
 * what CPU cost, for every release path of gcheap.ko.  Runs in the VM (see
 * kmod-scavenge.mk); kmod-scavenge-go and kmod-scavenge-bdwgc measure the
 * same scenario under Go's and bdwgc's policies beside it.
 *
 * Scenario (same in all three): 8 MiB live, 256 MiB allocated, touched and
 * then freed at t0; the time until the heap's resident memory is at its
 * retained budget (heap goal 16 MiB + 10% = 17.6 MiB resident, Go's rule;
 * 16 MiB is what Go's GOGC=100 makes of 8 MiB live).
 *
 * Paths: the background scavenger at 1% (default), 5% and 100% of a CPU,
 * the eager path (soft limit = budget), the shrinker (drop_caches) and
 * GCH_IOC_SCAVENGE.  "kcpu" is the scavenger kthread's CPU time from
 * /proc/<pid>/schedstat over the run; "work" is the module's scavenge_ns.
 * One line per path: "path seconds kcpu_ms work_ms share% resident N KiB"
 * (bench/report parses that much), then the MiB released and kcpu and work
 * per MiB released: what a percent of a CPU buys (kcpu per MiB is the
 * paced-vs-unpaced comparison).
 *
 * Waiting for the budget polls /proc/self/statm every 5 ms and asks the
 * module (GCH_IOC_STATS, which takes heap->lock) only once that says the
 * heap is near it.  KMOD_SCAVENGE_POLL=ioctl polls GCH_IOC_STATS every 5 ms
 * instead (what this benchmark did before issue 14): an owner that keeps
 * calling into the module while the scavenger works, so its thread is often
 * on a CPU, spinning for heap->lock, when the scavenger flushes the TLB.
 *
 * usage: kmod-scavenge [PATH...]   the paths to run, by name (default all);
 * bench/report's quick mode leaves out the background-1% and -5% paths,
 * which take minutes by design.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/gcheap.h>

#define MIB		(1024ULL * 1024)
#define NARENAS		5
#define BIG		512	/* heap pages per freed span (4 MiB) */
#define NBIG		64	/* 256 MiB */
#define LIVE		1024	/* one 8 MiB live span */
#define GOAL		(16 * MIB)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "kmod-scavenge: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void xioctl(int fd, unsigned long cmd, void *arg, const char *what)
{
	if (ioctl(fd, cmd, arg))
		die(what);
}

static void param(const char *name, const char *val)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/sys/module/gcheap/parameters/%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		die(path);
	close(fd);
}

/* pid of the scavenger kthread, found by its name. */
static int scavd_pid(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[300], comm[64];
	int pid = -1;

	while (d && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "gcheap_scavd", 12))
			pid = atoi(e->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return pid;
}

/* CPU time of @pid in ns (first field of schedstat). */
static uint64_t cpu_ns(int pid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	return ns;
}

/*
 * This process's resident pages (/proc/self/statm), the heap's mapped pages
 * among them.  Reading it takes no lock the scavenger holds: polling
 * GCH_IOC_STATS (heap->lock) every few ms made the poller spin on the lock
 * while the scavenger held it, on a CPU running this mm, so every TLB flush
 * of the release had to IPI it, which the measurement then charged to the
 * scavenger (ftrace in the TCG guest: 2 ms per flush).
 */
static long statm_pages(void)
{
	long size = 0, res = -1;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = -1;
		fclose(f);
	}
	return res;
}

static void stats(int fd, struct gch_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	xioctl(fd, GCH_IOC_STATS, st, "stats");
}

enum path { BG1, BG5, BG100, EAGER, SHRINK, IOCTL };
static const char *const names[] = {
	"background-1%", "background-5%", "background-100%", "eager-softlimit",
	"shrinker-drop_caches", "ioctl-scavenge",
};

static int poll_ioctl;

static void run(enum path path, int pid)
{
	struct gch_span_ref refs[NBIG];
	struct gch_limits l = { .size = sizeof(l), .flags = GCH_LIMIT_GOAL,
				.goal_bytes = GOAL };
	struct gch_stats st0, st;
	struct gch_span_free f = { .size = sizeof(f), .count = NBIG,
				   .spans = (uintptr_t)refs };
	struct gch_span_alloc a = { .size = sizeof(a), .npages = LIVE };
	long spg = sysconf(_SC_PAGESIZE);
	int fd = open("/dev/gcheap", O_RDWR);
	char *base;
	uint64_t c0, c1, target, rel;
	long other;
	double t0, t1;

	if (fd < 0)
		die("open /dev/gcheap");
	base = mmap(NULL, NARENAS * GCH_ARENA_SIZE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	for (int i = 0; i < NARENAS; i++)
		if (mmap(base + i * GCH_ARENA_SIZE, GCH_ARENA_SIZE,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
			 GCH_MMAP_ARENA(i)) == MAP_FAILED)
			die("mmap arena");
	xioctl(fd, GCH_IOC_LIMITS, &l, "limits");
	xioctl(fd, GCH_IOC_SPAN_ALLOC, &a, "alloc live");
	memset(base + a.page * GCH_PAGE_SIZE, 7, LIVE * GCH_PAGE_SIZE);
	for (int i = 0; i < NBIG; i++) {
		a.npages = BIG;
		xioctl(fd, GCH_IOC_SPAN_ALLOC, &a, "alloc");
		refs[i].page = a.page;
		refs[i].npages = BIG;
		for (size_t off = 0; off < BIG * GCH_PAGE_SIZE; off += spg)
			base[a.page * GCH_PAGE_SIZE + off] = 1;
	}

	param("scavenger", path <= EAGER ? "1" : "0");
	param("scavenger_cpu_pct", path == BG5 ? "5" : path == BG100 ? "100" : "1");
	target = LIVE * GCH_PAGE_SIZE + GOAL / 10 * 11 - LIVE * GCH_PAGE_SIZE;
	stats(fd, &st0);
	/* resident pages that are not the heap's: the rest of the process */
	other = statm_pages() - (long)(st0.resident_bytes / spg);
	c0 = cpu_ns(pid);
	t0 = now_s();
	xioctl(fd, GCH_IOC_SPAN_FREE, &f, "free");
	if (path == EAGER) {
		l.flags = GCH_LIMIT_SOFT;
		l.soft_bytes = target;
		xioctl(fd, GCH_IOC_LIMITS, &l, "soft limit");
	} else if (path == SHRINK) {
		int dc = open("/proc/sys/vm/drop_caches", O_WRONLY);

		if (dc < 0 || write(dc, "2", 1) != 1)
			die("drop_caches");
		close(dc);
	} else if (path == IOCTL) {
		struct gch_scavenge s = { .size = sizeof(s) };

		xioctl(fd, GCH_IOC_SCAVENGE, &s, "scavenge");
	}
	for (;;) {
		/* the cheap lockless estimate first; the module has the say */
		if (poll_ioctl ||
		    statm_pages() - other <= (long)(target / spg) + 128 ||
		    now_s() - t0 > 600) {
			stats(fd, &st);
			if (st.resident_bytes <= target + 128 * spg ||
			    now_s() - t0 > 600)
				break;
		}
		usleep(5000);
	}
	t1 = now_s();
	c1 = cpu_ns(pid);
	rel = st.released_bg_bytes + st.released_eager_bytes +
	      st.released_shrink_bytes + st.released_ioctl_bytes +
	      st.released_memcg_bytes - st0.released_bg_bytes -
	      st0.released_eager_bytes - st0.released_shrink_bytes -
	      st0.released_ioctl_bytes - st0.released_memcg_bytes;
	printf("%-22s %9.3f %9.1f %9.1f %7.2f%%  resident %llu KiB  released %.1f MiB, kcpu %.0f us/MiB, work %.0f us/MiB\n",
	       names[path], t1 - t0, (c1 - c0) / 1e6,
	       (st.scavenge_ns - st0.scavenge_ns) / 1e6,
	       path <= BG100 ? (c1 - c0) / 1e7 / (t1 - t0) : 0.0,
	       (unsigned long long)st.resident_bytes >> 10,
	       rel / (double)MIB,
	       rel ? (c1 - c0) / 1e3 / (rel / (double)MIB) : 0.0,
	       rel ? (st.scavenge_ns - st0.scavenge_ns) / 1e3 /
		     (rel / (double)MIB) : 0.0);
	fflush(stdout);
	param("scavenger", "1");
	param("scavenger_cpu_pct", "1");
	munmap(base, NARENAS * GCH_ARENA_SIZE);
	close(fd);
}

int main(int argc, char **argv)
{
	int pid = scavd_pid();
	const char *poll = getenv("KMOD_SCAVENGE_POLL");

	poll_ioctl = poll && !strcmp(poll, "ioctl");

	for (int i = 1; i < argc; i++) {
		enum path p;

		for (p = BG1; p <= IOCTL; p++)
			if (!strcmp(argv[i], names[p]))
				break;
		if (p > IOCTL) {
			fprintf(stderr, "kmod-scavenge: no path %s\n", argv[i]);
			return 2;
		}
	}
	if (pid < 0)
		die("no gcheap_scavd thread");
	printf("# gcheap.ko: 8 MiB live, 256 MiB freed, budget 17.6 MiB resident; polling %s\n",
	       poll_ioctl ? "GCH_IOC_STATS" : "statm");
	printf("# %-20s %9s %9s %9s %8s\n", "path", "seconds", "kcpu_ms",
	       "work_ms", "cpu");
	for (enum path p = BG1; p <= IOCTL; p++) {
		int want = argc < 2;

		for (int i = 1; i < argc; i++)
			want |= !strcmp(argv[i], names[p]);
		if (want)
			run(p, pid);
	}
	return 0;
}

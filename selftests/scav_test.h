/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the scavenger and shrinker suites (scavenge_test.c,
 * shrinker_test.c): module parameters, waiting on stats, span patterns and
 * /proc readers.  Include after gch_test.h.
 */
#ifndef GCH_SCAV_TEST_H
#define GCH_SCAV_TEST_H

#include <sys/time.h>

#define SCAV_PARAM_DIR	"/sys/module/gcheap/parameters/"
#define MIB		(1024ULL * 1024)

/* Write @val to module parameter @name; 0 or -errno. */
static inline int param_write(const char *name, const char *val)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), SCAV_PARAM_DIR "%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Read module parameter @name into @buf (newline stripped); 0 or -errno. */
static inline int param_read(const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), SCAV_PARAM_DIR "%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return 0;
}

/* The scavenger's parameters as a test found them, to put back after. */
struct scav_params {
	char on[8], pct[16], interval[16];
};

static inline int scav_params_save(struct scav_params *p)
{
	return param_read("scavenger", p->on, sizeof(p->on)) ?:
	       param_read("scavenger_cpu_pct", p->pct, sizeof(p->pct)) ?:
	       param_read("scavenger_interval_ms", p->interval,
			  sizeof(p->interval));
}

static inline void scav_params_restore(const struct scav_params *p)
{
	param_write("scavenger_cpu_pct", p->pct);
	param_write("scavenger_interval_ms", p->interval);
	param_write("scavenger", p->on);
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static inline int gch_set_limits(int fd, __u32 flags, __u64 soft, __u64 goal)
{
	struct gch_limits l = { .soft_bytes = soft, .goal_bytes = goal };

	return gch_limits(fd, flags, &l);
}

static inline int gch_phase(int fd, __u32 phase, __u64 cycle, __u64 goal)
{
	struct gch_gc_phase g = {
		.size = sizeof(g), .phase = phase, .cycle = cycle,
		.heap_goal = goal,
	};

	return gch_ioctl(fd, GCH_IOC_GC_PHASE, &g);
}

/* Resident memory must be what faults brought in minus what was released. */
static inline bool stats_balance(const struct gch_stats *st, long spg)
{
	__u64 released = st->released_bg_bytes + st->released_eager_bytes +
			 st->released_shrink_bytes + st->released_memcg_bytes +
			 st->released_ioctl_bytes;

	return st->faults * (__u64)spg == st->resident_bytes + released;
}

/* The retained budget the kernel keeps for a heap with goal @goal. */
static inline __u64 budget_of(const struct gch_stats *st, __u64 goal)
{
	__u64 keep = goal + goal / 10, used = st->span_pages * GCH_PAGE_SIZE;

	if (keep < goal)	/* the module saturates */
		keep = UINT64_MAX;

	return keep > used ? keep - used : 0;
}

/* Rss of this process in KiB from /proc/self/smaps_rollup, or -1. */
static inline long rss_kb(void)
{
	char line[256];
	long val = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Rss:", 4)) {
			val = strtol(line + 4, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* Touch every system page of [p, p + len) with a write. */
static inline void touch(char *p, size_t len, long spg, char v)
{
	for (size_t off = 0; off < len; off += spg)
		((volatile char *)p)[off] = v;
}

/*
 * Fill a span with a pattern derived from @seed: one 64-bit word per 64
 * bytes, so checking is fast but every cache line carries data.
 */
static inline void pattern_fill(char *p, size_t len, __u64 seed)
{
	for (size_t off = 0; off < len; off += 64)
		*(volatile __u64 *)(p + off) = seed ^ (off * 0x9E3779B97F4A7C15ULL);
}

/* Offset of the first word off the pattern, or -1 if intact. */
static inline long pattern_check(const char *p, size_t len, __u64 seed)
{
	for (size_t off = 0; off < len; off += 64)
		if (*(const volatile __u64 *)(p + off) !=
		    (seed ^ (off * 0x9E3779B97F4A7C15ULL)))
			return (long)off;
	return -1;
}

static inline bool span_zero(const char *p, size_t len)
{
	for (size_t off = 0; off < len; off += sizeof(__u64))
		if (*(const volatile __u64 *)(p + off))
			return false;
	return true;
}

/* Map arenas [0, n) of @fd at @base. */
static inline int map_arenas(int fd, char *base, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		int err = gch_map_arena(fd, base, i);

		if (err)
			return err;
	}
	return 0;
}

/*
 * Drop the kernel's reclaimable slab caches (vm.drop_caches = 2), which
 * runs every shrinker, ours included; 0 or -errno.
 */
static inline int drop_slab(void)
{
	return gch_write_file("/proc/sys/vm/drop_caches", "2");
}

#endif /* GCH_SCAV_TEST_H */

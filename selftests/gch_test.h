/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the gcheap selftest suites.
 *
 * Every wrapper returns 0 or -errno so a test can assert the exact error the
 * contract in uapi/linux/gcheap.h promises.  Heaps are laid out the way
 * libgcheap does it: one PROT_NONE reservation, arenas mapped MAP_FIXED at
 * base + i * GCH_ARENA_SIZE, so heap page p lives at base + p * GCH_PAGE_SIZE.
 *
 * probe_read()/probe_write() touch an address with SIGSEGV and SIGBUS caught
 * and report which signal (if any) the access raised; they are not
 * thread-safe (one sigjmp_buf per process), tests only use them from the main
 * thread.
 */
#ifndef GCH_TEST_H
#define GCH_TEST_H

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/gcheap.h>

/*
 * The 6.1 harness is written for -Wall, not -Wextra: its timeout handler has
 * an unused parameter (TEST() expands another one), and ASSERT_EQ(0, u64_field) compares an int with an
 * unsigned type in the macro body.  Both are harmless in test assertions, so
 * only these two are relaxed; everything else stays -Werror.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

#define GCH_DEV "/dev/gcheap"

static inline int gch_open(void)
{
	return open(GCH_DEV, O_RDWR | O_CLOEXEC);
}

static inline int gch_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static inline int gch_version(int fd, struct gch_version *v)
{
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	return gch_ioctl(fd, GCH_IOC_VERSION, v);
}

static inline int gch_alloc(int fd, __u32 npages, __u64 *page, __u32 *out_flags)
{
	struct gch_span_alloc a = { .size = sizeof(a), .npages = npages };
	int ret = gch_ioctl(fd, GCH_IOC_SPAN_ALLOC, &a);

	if (!ret) {
		if (page)
			*page = a.page;
		if (out_flags)
			*out_flags = a.out_flags;
	}
	return ret;
}

static inline int gch_free(int fd, const struct gch_span_ref *refs, __u32 count)
{
	struct gch_span_free f = {
		.size = sizeof(f),
		.count = count,
		.spans = (__u64)(uintptr_t)refs,
	};

	return gch_ioctl(fd, GCH_IOC_SPAN_FREE, &f);
}

static inline int gch_free1(int fd, __u64 page, __u32 npages)
{
	struct gch_span_ref r = { .page = (__u32)page, .npages = npages };

	return gch_free(fd, &r, 1);
}

static inline int gch_stats(int fd, struct gch_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return gch_ioctl(fd, GCH_IOC_STATS, st);
}

static inline int gch_limits(int fd, __u32 flags, struct gch_limits *l)
{
	l->size = sizeof(*l);
	l->flags = flags;
	return gch_ioctl(fd, GCH_IOC_LIMITS, l);
}

static inline int gch_set_hard(int fd, __u64 pages)
{
	struct gch_limits l = { .hard_pages = pages };

	return gch_limits(fd, GCH_LIMIT_HARD, &l);
}

static inline int gch_scavenge(int fd, __u32 flags, __u64 max_bytes,
			       __u64 *released)
{
	struct gch_scavenge s = {
		.size = sizeof(s), .flags = flags, .max_bytes = max_bytes,
	};
	int ret = gch_ioctl(fd, GCH_IOC_SCAVENGE, &s);

	if (!ret && released)
		*released = s.released_bytes;
	return ret;
}

static inline bool gch_has_feature(int fd, __u64 feat)
{
	struct gch_version v;

	return !gch_version(fd, &v) && (v.features & feat);
}

/* A PROT_NONE reservation for @narenas arenas; MAP_FAILED on error. */
static inline char *gch_reserve(unsigned int narenas)
{
	void *p = mmap(NULL, (size_t)narenas * GCH_ARENA_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p;
}

static inline int gch_map_arena(int fd, char *base, unsigned int i)
{
	void *want = base + (size_t)i * GCH_ARENA_SIZE;
	void *p = mmap(want, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, fd, GCH_MMAP_ARENA(i));

	if (p == MAP_FAILED)
		return -errno;
	return p == want ? 0 : -EADDRNOTAVAIL;
}

/* Raw mmap of the device; returns the address or NULL with errno set. */
static inline void *gch_mmap(int fd, size_t len, int prot, int flags, __u64 off)
{
	void *p = mmap(NULL, len, prot, flags, fd, (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

static inline volatile const __u64 *gch_map_pagemap(int fd)
{
	return gch_mmap(fd, GCH_PAGEMAP_SIZE, PROT_READ, MAP_SHARED,
			GCH_MMAP_PAGEMAP);
}

static inline __u64 *gch_map_slots(int fd)
{
	return gch_mmap(fd, GCH_PAGEMAP_SIZE, PROT_READ | PROT_WRITE,
			MAP_SHARED, GCH_MMAP_SPANSLOTS);
}

static inline char *gch_page_addr(char *base, __u64 page)
{
	return base + page * GCH_PAGE_SIZE;
}

/*
 * Undo what a fixture set up, whichever parts it got to: the page map and
 * span slots (NULL when never mapped), a reservation of @narenas arenas
 * (NULL or MAP_FAILED when never made) and the heap's fd (< 0 when never
 * opened).  Closing the fd last lets the heap die with its mappings gone.
 */
static inline void gch_heap_teardown(int fd, char *base, unsigned int narenas,
				     volatile const __u64 *pm, __u64 *slots)
{
	if (slots)
		munmap(slots, GCH_PAGEMAP_SIZE);
	if (pm)
		munmap((void *)pm, GCH_PAGEMAP_SIZE);
	if (base && base != MAP_FAILED)
		munmap(base, (size_t)narenas * GCH_ARENA_SIZE);
	if (fd >= 0)
		close(fd);
}

/* ---- fault probing ---- */

static sigjmp_buf gch_probe_env;
static volatile sig_atomic_t gch_probe_sig;

static inline void gch_probe_handler(int sig)
{
	gch_probe_sig = sig;
	siglongjmp(gch_probe_env, 1);
}

static inline int gch_probe(volatile char *addr, bool write)
{
	struct sigaction sa = { .sa_handler = gch_probe_handler };
	struct sigaction old_segv, old_bus;
	int sig = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	gch_probe_sig = 0;
	if (sigsetjmp(gch_probe_env, 1) == 0) {
		if (write)
			*addr = *addr;
		else
			(void)*addr;
	} else {
		sig = gch_probe_sig;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return sig;
}

/* 0 if the read worked, else the signal it raised. */
static inline int probe_read(const volatile void *addr)
{
	return gch_probe((volatile char *)addr, false);
}

static inline int probe_write(volatile void *addr)
{
	return gch_probe((volatile char *)addr, true);
}

/* ---- children ---- */

/*
 * Run @fn in a forked child and return its wait status.  The child has its
 * own mm, so for the heap it is "another process".
 */
static inline int run_child(int (*fn)(void *), void *arg)
{
	int status = -1;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn(arg));
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* ---- seeded PRNG (xorshift64*), so model tests can be replayed ---- */

static inline __u64 gch_seed(void)
{
	const char *env = getenv("GCH_SEED");

	if (env && *env)
		return strtoull(env, NULL, 0);
	return (__u64)time(NULL) ^ ((__u64)getpid() << 32);
}

static inline __u64 rnd_next(__u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Uniform-enough integer in [lo, hi]. */
static inline __u32 rnd_range(__u64 *s, __u32 lo, __u32 hi)
{
	return lo + (__u32)(rnd_next(s) % ((__u64)hi - lo + 1));
}

/* ---- /proc/meminfo ---- */

/* MemFree in KiB, or -1. */
static inline long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long val = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			val = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* ---- /sys, /proc and cgroup v2 files, shared by the suites ---- */

#define GCH_CG_ROOT	"/sys/fs/cgroup"

/* Write @val to the file at @path: 0 or -errno. */
static inline int gch_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* The number at the start of the file at @path, or -1. */
static inline long gch_read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

/* The module's reference count (open heaps pin it), or -1. */
static inline long gch_module_refcnt(void)
{
	return gch_read_long("/sys/module/gcheap/refcnt");
}

/*
 * Whether the running kernel has KASAN (its quarantine holds freed memory
 * back, which free-memory comparisons must allow for).
 */
static inline bool gch_kernel_has_kasan(void)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, " kasan_quarantine_reduce") != NULL ||
			strstr(line, " kasan_quarantine_put") != NULL;
	fclose(f);
	return found;
}

/* The module's debugfs directory, mounting debugfs if it is not yet. */
static inline bool gch_debugfs_ready(void)
{
	struct stat sb;

	if (!stat("/sys/kernel/debug/gcheap", &sb))
		return true;
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	return !stat("/sys/kernel/debug/gcheap", &sb);
}

/* Whether this process's heap @id has its debugfs directory (<pid>-<id>). */
static inline bool gch_heap_dir_exists(__u64 id)
{
	char path[128];
	struct stat sb;

	snprintf(path, sizeof(path), "/sys/kernel/debug/gcheap/%d-%llu",
		 getpid(), (unsigned long long)id);
	return !stat(path, &sb);
}

/* cgroup v2 mounted at GCH_CG_ROOT with +memory for its children. */
static inline bool gch_cgroup2_ready(void)
{
	struct stat sb;

	if (stat("/sys/fs", &sb))
		mount("sysfs", "/sys", "sysfs", 0, NULL);
	if (stat(GCH_CG_ROOT "/cgroup.controllers", &sb)) {
		mkdir(GCH_CG_ROOT, 0755);
		if (mount("cgroup2", GCH_CG_ROOT, "cgroup2", 0, NULL))
			return false;
	}
	gch_write_file(GCH_CG_ROOT "/cgroup.subtree_control", "+memory");
	return true;
}

/*
 * The fields a failing ioctl must not change.  A macro so EXPECT_* reports
 * the caller's line; needs kselftest_harness.h included first.
 */
#define EXPECT_HEAP_UNCHANGED(a, b) do {				\
	EXPECT_EQ((a)->arenas, (b)->arenas);				\
	EXPECT_EQ((a)->mapped_bytes, (b)->mapped_bytes);		\
	EXPECT_EQ((a)->span_pages, (b)->span_pages);			\
	EXPECT_EQ((a)->spans, (b)->spans);				\
	EXPECT_EQ((a)->free_pages, (b)->free_pages);			\
	EXPECT_EQ((a)->alloc_calls, (b)->alloc_calls);			\
	EXPECT_EQ((a)->free_calls, (b)->free_calls);			\
	EXPECT_EQ((a)->spans_freed, (b)->spans_freed);			\
	EXPECT_EQ((a)->hard_limit_pages, (b)->hard_limit_pages);	\
} while (0)

#endif /* GCH_TEST_H */

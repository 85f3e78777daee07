// SPDX-License-Identifier: MIT
/*
 * gc_cgroup_test - the soft memory limit a heap takes from its memory
 * cgroup when it is given none (cgroup.c, pacer.c).
 *
 *  - Where the limit comes from: gch_options, GCHEAP_MEMLIMIT (a value, or
 *    "off": no limit and no cgroup), gch_set_memory_limit(); with
 *    GCHEAP_CGROUP=off none is derived.  gch_gc_stats says which.
 *  - In a cgroup of its own (cgroup v2 where its memory controller can be
 *    used, else v1's memory hierarchy; the part is skipped, with a line
 *    saying why, where neither can be made): the limit is the least of
 *    memory.high and memory.max (v1: memory.limit_in_bytes) less
 *    max(1/8, 16 MiB); a changed cap is followed by a collection that
 *    starts a second later; gch_set_memory_limit() ends the following.
 *  - In the project's VM only, for it fills a cgroup on purpose (cgroup
 *    v2): a program whose live heap is a quarter of memory.max, allocating
 *    garbage at GC percent 400 with no limit set, is OOM-killed with
 *    GCHEAP_CGROUP=off and completes by default, its memory.peak under
 *    memory.max.  And the module's pressure event alone (no limit, no
 *    pacing): a heap full of garbage sits idle in one cgroup while a hog
 *    in a sibling fills their parent; reclaim's event makes the library
 *    collect and give the garbage back, and the hog gets its memory.
 * Every case runs in a forked child (a heap per process, the cgroup is
 * joined by the child only); the child's exit status is its failed checks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcheap.h"
#include "gc_test.h"

#define MiB		(1ULL << 20)

struct cg {
	char dir[2200];
	bool v2;
};

static int write_str(const char *dir, const char *file, const char *v)
{
	char path[2400];
	int fd, n = (int)strlen(v);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, v, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static long long read_num(const char *dir, const char *file)
{
	char path[2400], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] >= '0' && buf[0] <= '9' ? atoll(buf) : -1;
}

/* The mount point of cgroup @v2 (v1: the memory hierarchy), or false. */
static bool mount_of(bool v2, char *out, size_t len)
{
	char line[2048], m[1024], t[64], o[512];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && !found && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %1023s", m) != 1 ||
		    sscanf(sep + 3, "%63s %*s %511s", t, o) != 2)
			continue;
		found = v2 ? !strcmp(t, "cgroup2") :
			     !strcmp(t, "cgroup") && strstr(o, "memory");
		if (found)
			snprintf(out, len, "%s", m);
	}
	if (f)
		fclose(f);
	return found;
}

/* This process's path in hierarchy @v2, from /proc/self/cgroup. */
static bool self_path(bool v2, char *out, size_t len)
{
	char line[1200];
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "re");

	while (f && !found && fgets(line, sizeof(line), f)) {
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;

		if (!b)
			continue;
		*b = '\0';
		found = v2 ? !strncmp(line, "0::", 3) || !strcmp(line, "0:") :
			     strstr(a + 1, "memory") != NULL;
		if (found) {
			b[1 + strcspn(b + 1, "\n")] = '\0';
			snprintf(out, len, "%s", strcmp(b + 1, "/") ? b + 1 : "");
		}
	}
	if (f)
		fclose(f);
	return found;
}

/* A fresh group below this process's own; false (and why) if none. */
static bool cg_make(struct cg *c, const char *tag, const char **why)
{
	char mnt[1024], self[1024], dir[2100];

	for (int v2 = 1; v2 >= 0; v2--) {
		if (!mount_of(v2, mnt, sizeof(mnt)) ||
		    !self_path(v2, self, sizeof(self)))
			continue;
		snprintf(dir, sizeof(dir), "%s%s", mnt, self);
		if (v2)	/* children get the memory controller */
			write_str(dir, "cgroup.subtree_control", "+memory");
		snprintf(c->dir, sizeof(c->dir), "%s/gcheap-%s-%d", dir, tag,
			 getpid());
		c->v2 = v2;
		rmdir(c->dir);
		if (mkdir(c->dir, 0755))
			continue;
		if (read_num(c->dir, v2 ? "memory.current" :
				     "memory.usage_in_bytes") >= 0)
			return true;
		rmdir(c->dir);
	}
	*why = "no memory cgroup can be made here";
	return false;
}

static int cg_cap(const struct cg *c, uint64_t max, uint64_t high)
{
	char v[32];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)max);
	if (!c->v2)
		return write_str(c->dir, "memory.limit_in_bytes", v);
	if (write_str(c->dir, "memory.max", v))
		return -1;
	if (high)
		snprintf(v, sizeof(v), "%llu", (unsigned long long)high);
	else
		snprintf(v, sizeof(v), "max");
	return write_str(c->dir, "memory.high", v);
}

static int cg_join(const struct cg *c)
{
	char pid[24];

	snprintf(pid, sizeof(pid), "%d", getpid());
	return write_str(c->dir, "cgroup.procs", pid);
}

static uint64_t derived(uint64_t cap)
{
	uint64_t margin = cap / 8 > 16 * MiB ? cap / 8 : 16 * MiB;

	return cap - (margin > cap / 2 ? cap / 2 : margin);
}

static void stats(gch_heap *h, struct gch_gc_stats *st)
{
	memset(st, 0, sizeof(*st));
	CHECK(gch_gc_stats(h, st) == 0, "gch_gc_stats: %s", strerror(errno));
}

/* Run @fn in a child; its exit status counts as its failed checks. */
static void in_child(const char *what, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0)
		_exit(fn(arg) ? 1 : 0);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "%s: child status %#x", what, status);
}

/* ---- where the limit comes from ------------------------------------ */

struct source_case {
	const char *memlimit;		/* GCHEAP_MEMLIMIT, or NULL */
	uint64_t option;		/* gch_options.memory_limit_bytes */
	uint64_t want;
	uint32_t source;
	bool cgroup_off;		/* GCHEAP_CGROUP=off */
	const struct cg *cg;		/* join it first, or NULL */
};

static int source_child(void *arg)
{
	const struct source_case *k = arg;
	struct gch_options o = { .size = sizeof(o),
				 .memory_limit_bytes = k->option };
	struct gch_gc_stats st;
	gch_heap *h;

	if (k->cg && cg_join(k->cg))
		return 1;
	if (k->memlimit)
		setenv("GCHEAP_MEMLIMIT", k->memlimit, 1);
	if (k->cgroup_off)
		setenv("GCHEAP_CGROUP", "off", 1);
	h = gch_open(&o);
	CHECK(h != NULL, "gch_open: %s", strerror(errno));
	if (!h)
		return gct_fail;
	stats(h, &st);
	CHECK(st.memory_limit_bytes == k->want &&
	      st.memory_limit_source == k->source,
	      "limit %llu from %u, want %llu from %u",
	      (unsigned long long)st.memory_limit_bytes,
	      st.memory_limit_source, (unsigned long long)k->want, k->source);
	if (k->source != GCH_MEMLIMIT_NONE || k->cg) {
		/* set by hand: the API's, whatever it was */
		CHECK(gch_set_memory_limit(h, 40 * MiB) == (int64_t)k->want,
		      "old limit returned");
		stats(h, &st);
		CHECK(st.memory_limit_bytes == 40 * MiB &&
		      st.memory_limit_source == GCH_MEMLIMIT_API,
		      "gch_set_memory_limit: %llu from %u",
		      (unsigned long long)st.memory_limit_bytes,
		      st.memory_limit_source);
	}
	gch_close(h);
	return gct_fail;
}

static void check_sources(void)
{
	const struct source_case cases[] = {
		{ .option = 64 * MiB, .want = 64 * MiB,
		  .source = GCH_MEMLIMIT_OPTIONS },
		{ .memlimit = "48MiB", .option = 64 * MiB, .want = 48 * MiB,
		  .source = GCH_MEMLIMIT_ENV },
		{ .memlimit = "off", .option = 64 * MiB, .want = 0,
		  .source = GCH_MEMLIMIT_ENV },
		/* a bad value is ignored: the options' limit stands */
		{ .memlimit = "12 parsecs", .option = 64 * MiB,
		  .want = 64 * MiB, .source = GCH_MEMLIMIT_OPTIONS },
		{ .cgroup_off = true, .want = 0, .source = GCH_MEMLIMIT_NONE },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		in_child("limit source", source_child, (void *)&cases[i]);
}

/* ---- a cgroup of its own ------------------------------------------- */

struct follow_ctx {
	const struct cg *cg;
	int to_parent[2], to_child[2];
};

static void sync_wait(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		_exit(99);
}

static void sync_post(int fd)
{
	if (write(fd, "x", 1) != 1)
		_exit(99);
}

/* A collection a second later: the pacer reads the cgroup again. */
static void collect_later(gch_heap *h)
{
	usleep(1100 * 1000);
	CHECK(gch_gc(h) == 0, "gch_gc: %s", strerror(errno));
}

static void want_limit(gch_heap *h, uint64_t want, uint32_t source,
		       const char *when)
{
	struct gch_gc_stats st;

	stats(h, &st);
	CHECK(st.memory_limit_bytes == want && st.memory_limit_source == source,
	      "%s: limit %llu from %u, want %llu from %u", when,
	      (unsigned long long)st.memory_limit_bytes,
	      st.memory_limit_source, (unsigned long long)want, source);
}

static int follow_child(void *arg)
{
	struct follow_ctx *f = arg;
	gch_heap *h;

	if (cg_join(f->cg))
		return 1;
	h = gch_open(NULL);
	CHECK(h != NULL, "gch_open: %s", strerror(errno));
	if (!h)
		return gct_fail;
	want_limit(h, derived(f->cg->v2 ? 192 * MiB : 256 * MiB),
		   GCH_MEMLIMIT_CGROUP, "at open");
	sync_post(f->to_parent[1]);	/* parent: cap to 128 MiB */
	sync_wait(f->to_child[0]);
	collect_later(h);
	want_limit(h, derived(128 * MiB), GCH_MEMLIMIT_CGROUP, "followed");
	gch_set_memory_limit(h, 50 * MiB);
	sync_post(f->to_parent[1]);	/* parent: cap to 512 MiB */
	sync_wait(f->to_child[0]);
	collect_later(h);
	want_limit(h, 50 * MiB, GCH_MEMLIMIT_API, "set by hand, not followed");
	gch_close(h);
	return gct_fail;
}

static void check_follow(void)
{
	struct follow_ctx f;
	const char *why = NULL;
	struct cg c;
	pid_t pid;
	int status = 0;

	if (!cg_make(&c, "follow", &why)) {
		printf("# cgroup-derived limit: skipped: %s\n", why);
		return;
	}
	printf("# cgroup-derived limit in %s (cgroup v%d)\n", c.dir,
	       c.v2 ? 2 : 1);
	/* v2: memory.high below memory.max is the cap that counts */
	CHECK(cg_cap(&c, 256 * MiB, c.v2 ? 192 * MiB : 0) == 0,
	      "cap: %s", strerror(errno));
	f.cg = &c;
	if (pipe(f.to_parent) || pipe(f.to_child))
		return;
	pid = fork();
	if (pid == 0)
		_exit(follow_child(&f) ? 1 : 0);
	sync_wait(f.to_parent[0]);
	CHECK(cg_cap(&c, 128 * MiB, 0) == 0, "cap 128 MiB");
	sync_post(f.to_child[1]);
	sync_wait(f.to_parent[0]);
	CHECK(cg_cap(&c, 512 * MiB, 0) == 0, "cap 512 MiB");
	sync_post(f.to_child[1]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "follow: child status %#x", status);
	for (int i = 0; i < 2; i++) {
		close(f.to_parent[i]);
		close(f.to_child[i]);
	}
	rmdir(c.dir);
}

/* ---- garbage that would not fit: VM only ----------------------------- */

#define OOM_CAP		(96 * MiB)
#define OOM_LIVE	(24 * MiB)	/* a quarter of the cap */
#define OOM_OBJ		1024
#define OOM_GARBAGE	(384 * MiB)

/*
 * @n live objects of OOM_OBJ bytes in a rooted array (*@live, itself a
 * root), then @garbage bytes of garbage, each object touched so that its
 * page is charged; -1 if an allocation failed.
 */
static int fill(gch_heap *h, size_t n, uint64_t garbage, void ***live)
{
	*live = gch_malloc(h, n * sizeof(void *));
	gch_add_roots(live, sizeof(*live), NULL);
	for (size_t i = 0; *live && i < n; i++)
		(*live)[i] = gch_malloc(h, OOM_OBJ);
	for (uint64_t done = 0; done < garbage; done += OOM_OBJ) {
		char *g = gch_malloc(h, OOM_OBJ);

		if (!g)
			return -1;
		g[0] = g[OOM_OBJ - 1] = 1;
	}
	return 0;
}

static int garbage_child(void *arg)
{
	const struct cg *c = arg;
	struct gch_options o = { .size = sizeof(o), .gc_percent = 400 };
	size_t n = OOM_LIVE / OOM_OBJ;
	void **live;
	gch_heap *h;

	if (cg_join(c))
		return 1;
	h = gch_open(&o);
	if (!h)
		return 2;
	if (fill(h, n, OOM_GARBAGE, &live))
		return 3;
	for (size_t i = 0; live && i < n; i++)
		if (!live[i])
			return 4;
	gch_close(h);
	return 0;
}

/* Run garbage_child in a fresh group; its wait status and memory.peak. */
static int garbage_run(bool cgroup_off, long long *peak)
{
	const char *why = NULL;
	struct cg c;
	pid_t pid;
	int status = -1;

	*peak = -1;
	if (!cg_make(&c, cgroup_off ? "oom-off" : "oom", &why) || !c.v2) {
		rmdir(c.dir);
		return -1;
	}
	write_str(c.dir, "memory.swap.max", "0");
	if (cg_cap(&c, OOM_CAP, 0))
		goto out;
	pid = fork();
	if (pid == 0) {
		if (cgroup_off)
			setenv("GCHEAP_CGROUP", "off", 1);
		_exit(garbage_child(&c));
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = -1;
	*peak = read_num(c.dir, "memory.peak");
out:
	rmdir(c.dir);
	return status;
}

static void check_garbage(void)
{
	long long peak;
	int st;

	st = garbage_run(true, &peak);
	if (st == -1) {
		printf("# garbage in a cgroup: skipped: no cgroup v2 memory "
		       "controller\n");
		return;
	}
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	      "GCHEAP_CGROUP=off: OOM-killed (status %#x, peak %lld)", st,
	      peak);
	st = garbage_run(false, &peak);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "default: completes (status %#x)", st);
	CHECK(peak < 0 || peak < (long long)OOM_CAP,
	      "memory.peak %lld under memory.max %llu", peak,
	      (unsigned long long)OOM_CAP);
	printf("# garbage at GC 400 in a %llu MiB cgroup: peak %lld MiB\n",
	       (unsigned long long)(OOM_CAP / MiB), peak < 0 ? -1 : peak >> 20);
}

/* ---- a sibling's hog, answered by the pressure event: VM only ---------- */

#define PRS_HIGH	(128 * MiB)	/* the parent's memory.high ... */
#define PRS_MAX		(176 * MiB)	/* ... and memory.max */
#define PRS_LIVE	(16 * MiB)
#define PRS_GARBAGE	(96 * MiB)
#define PRS_HOG		(96 * MiB)

struct prs_ctx {
	char a[2300], b[2300];
	int ready[2], done[2];
	bool off;		/* GCHEAP_CGROUP=off: no answer */
};

static int join_dir(const char *dir)
{
	struct cg c;

	snprintf(c.dir, sizeof(c.dir), "%s", dir);
	c.v2 = true;
	return cg_join(&c);
}

/*
 * The heap: a little live data and much garbage, then idle.  No limit
 * (GCHEAP_MEMLIMIT=off) and no pacing (GCHEAP_GC=off): only the answer to
 * a pressure event can collect it.
 */
static int heap_side(void *arg)
{
	struct prs_ctx *x = arg;
	struct gch_gc_stats st;
	size_t n = PRS_LIVE / OOM_OBJ;
	void **live;
	gch_heap *h;
	char c;

	if (join_dir(x->a))
		return 1;
	setenv("GCHEAP_MEMLIMIT", "off", 1);
	setenv("GCHEAP_GC", "off", 1);
	if (x->off)
		setenv("GCHEAP_CGROUP", "off", 1);
	h = gch_open(NULL);
	if (!h)
		return 2;
	if (fill(h, n, PRS_GARBAGE, &live))
		return 3;
	sync_post(x->ready[1]);
	sync_wait(x->done[0]);		/* the hog has run */
	stats(h, &st);
	for (size_t i = 0; live && i < n; i++)
		if (!live[i] || ((char *)live[i])[0] != 0)
			return 4;
	(void)c;
	if (x->off)
		return st.pressure_cycles ? 11 : 0;
	return st.pressure_cycles >= 1 ? 0 : 10;
}

static int hog_side(void *arg)
{
	struct prs_ctx *x = arg;
	volatile char *m;	/* the stores must happen: they are the point */

	if (join_dir(x->b))
		return 1;
	m = malloc(PRS_HOG);
	if (!m)
		return 2;
	for (size_t off = 0; off < PRS_HOG; off += 4096)
		m[off] = 1;
	return 0;
}

static pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

/*
 * One run: the heap idle and full of garbage in one child cgroup, the hog
 * in its sibling.  Returns the hog's wait status (-1: no cgroup v2).
 */
static int pressure_run(bool off, int *st_heap, long long *peak)
{
	struct prs_ctx x = { .off = off };
	const char *why = NULL;
	int st_hog = -1;
	pid_t heap, hog;
	struct cg p;

	if (!cg_make(&p, off ? "prs-off" : "prs", &why) || !p.v2) {
		rmdir(p.dir);
		return -1;
	}
	snprintf(x.a, sizeof(x.a), "%s/heap", p.dir);
	snprintf(x.b, sizeof(x.b), "%s/hog", p.dir);
	CHECK(!mkdir(x.a, 0755) && !mkdir(x.b, 0755) &&
	      !write_str(p.dir, "cgroup.subtree_control", "+memory") &&
	      !cg_cap(&p, PRS_MAX, PRS_HIGH) && !pipe(x.ready) &&
	      !pipe(x.done), "cgroups: %s", strerror(errno));
	write_str(p.dir, "memory.swap.max", "0");
	heap = spawn(heap_side, &x);
	sync_wait(x.ready[0]);
	hog = spawn(hog_side, &x);
	waitpid(hog, &st_hog, 0);
	*peak = read_num(p.dir, "memory.peak");
	sync_post(x.done[1]);
	waitpid(heap, st_heap, 0);
	for (int i = 0; i < 2; i++) {
		close(x.ready[i]);
		close(x.done[i]);
	}
	rmdir(x.a);
	rmdir(x.b);
	rmdir(p.dir);
	return st_hog;
}

static void check_pressure(void)
{
	int hog, heap = -1;
	long long peak;

	hog = pressure_run(true, &heap, &peak);
	if (hog == -1) {
		printf("# pressure event: skipped: no cgroup v2\n");
		return;
	}
	/* the OOM killer takes the bigger of the two: the heap, usually */
	CHECK((WIFSIGNALED(hog) && WTERMSIG(hog) == SIGKILL) ||
	      (WIFSIGNALED(heap) && WTERMSIG(heap) == SIGKILL),
	      "GCHEAP_CGROUP=off: one side is OOM-killed (hog %#x, heap %#x)",
	      hog, heap);
	CHECK(!WIFEXITED(heap) || WEXITSTATUS(heap) == 0,
	      "GCHEAP_CGROUP=off: no cycle answered (status %#x)", heap);
	hog = pressure_run(false, &heap, &peak);
	CHECK(WIFEXITED(hog) && WEXITSTATUS(hog) == 0,
	      "the sibling's hog got its memory (status %#x)", hog);
	CHECK(WIFEXITED(heap) && WEXITSTATUS(heap) == 0,
	      "the heap answered a pressure event (status %#x)", heap);
	CHECK(peak < (long long)PRS_MAX, "parent's peak %lld under its max",
	      peak);
	printf("# pressure: the parent peaked at %lld MiB (high %llu, max "
	       "%llu)\n", peak >> 20, (unsigned long long)(PRS_HIGH / MiB),
	       (unsigned long long)(PRS_MAX / MiB));
}

/* The guest scripts/vm boots names itself gcheap-vm. */
static bool in_project_vm(void)
{
	char name[64] = "";

	return !gethostname(name, sizeof(name) - 1) &&
	       !strcmp(name, "gcheap-vm");
}

int main(void)
{
	unsetenv("GCHEAP_MEMLIMIT");
	unsetenv("GCHEAP_CGROUP");
	check_sources();
	check_follow();
	if (in_project_vm()) {
		check_garbage();
		check_pressure();
	} else {
		printf("# garbage in a cgroup, pressure: only in the project's "
		       "VM\n");
	}
	return gct_summary();
}

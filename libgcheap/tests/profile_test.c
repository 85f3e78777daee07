// SPDX-License-Identifier: MIT
/*
 * The heap profile (profile.c, pprof.c): known allocation sites read back
 * from the written profile.proto.
 *
 * Sites: site_a allocates three times the bytes of site_b; half of A's
 * objects die, all of B's live.  With GCHEAP_PROFILE_RATE=1 the figures
 * are exact.  At the default rate (512 KiB) they are estimates: n samples
 * for a site expected, the relative standard deviation of its byte
 * estimate is about 1 / sqrt(n) (Poisson), and the test allows 4.5 of them
 * (a false failure about once in 10^5 runs per check).  The sweeper's
 * frees: an object made garbage leaves inuse_* after the cycle that frees
 * it -- even before the sweeper has reached it -- and stays in alloc_*;
 * objects allocated after the last cycle appear after the next one.  If
 * `go` is on PATH, `go tool pprof -top` must parse the file and name the
 * sites.  Bad input: arguments, GCHEAP_PROFILE_RATE, GCHEAP_PROFILE.  The
 * USDT probes for gcheap-trace profile are in the program, with their
 * arguments (bpf/tests/profile_tool_test attaches to them in the VM).
 * Threads that exit and forks lose no records.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "gc_internal.h"
#include "profile.h"
#include "harness.h"

#define OBJ	96		/* a size class of its own in these tests */

#pragma weak _DYNAMIC

static char tmpdir[] = "/tmp/gch_profile_testXXXXXX";
static char self[4096];

/* ---- reading profile.proto back ---------------------------------------- */

struct site { double v[4]; int samples; };	/* a site's pprof samples */

struct prof {
	char **str; size_t nstr;
	uint64_t *fn_id, *fn_name; size_t nfn;
	uint64_t *loc_id, *loc_fn; size_t nloc;
	uint64_t period, nsamples;
	struct { uint64_t loc0; int64_t v[4]; } *smp;
};

static uint64_t rd_varint(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	int sh = 0;

	while (*p < end) {
		uint8_t b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << sh;
		sh += 7;
		if (!(b & 0x80))
			break;
	}
	return v;
}

/* Call @fn for every field of message [p, end). */
static void each_field(const uint8_t *p, const uint8_t *end, void *arg,
		       void (*fn)(void *, unsigned, uint64_t, const uint8_t *,
				  size_t))
{
	while (p < end) {
		uint64_t key = rd_varint(&p, end), v = 0;
		const uint8_t *d = NULL;

		if ((key & 7) == 0) {
			v = rd_varint(&p, end);
		} else if ((key & 7) == 2) {
			v = rd_varint(&p, end);
			d = p;
			p += v;
		} else {
			return;		/* not used by profile.proto */
		}
		fn(arg, (unsigned)(key >> 3), v, d, (size_t)v);
	}
}

struct sub { uint64_t f[16]; const uint8_t *d[16]; size_t n[16]; };

static void sub_cb(void *arg, unsigned f, uint64_t v, const uint8_t *d,
		   size_t n)
{
	struct sub *s = arg;

	if (f < 16 && !s->d[f]) {
		s->f[f] = v;
		s->d[f] = d;
		s->n[f] = n;
	}
}

static void prof_cb(void *arg, unsigned f, uint64_t v, const uint8_t *d,
		    size_t n)
{
	struct prof *pr = arg;
	struct sub s = { 0 };

	if (f == 6) {
		pr->str = realloc(pr->str, (pr->nstr + 1) * sizeof(char *));
		pr->str[pr->nstr++] = strndup((const char *)d, n);
		return;
	}
	if (f == 12)
		pr->period = v;
	if (!d || (f != 2 && f != 4 && f != 5))
		return;
	each_field(d, d + n, &s, sub_cb);
	if (f == 5) {
		pr->fn_id = realloc(pr->fn_id, (pr->nfn + 1) * 8);
		pr->fn_name = realloc(pr->fn_name, (pr->nfn + 1) * 8);
		pr->fn_id[pr->nfn] = s.f[1];
		pr->fn_name[pr->nfn++] = s.f[2];
	} else if (f == 4) {
		struct sub line = { 0 };

		if (s.d[4])
			each_field(s.d[4], s.d[4] + s.n[4], &line, sub_cb);
		pr->loc_id = realloc(pr->loc_id, (pr->nloc + 1) * 8);
		pr->loc_fn = realloc(pr->loc_fn, (pr->nloc + 1) * 8);
		pr->loc_id[pr->nloc] = s.f[1];
		pr->loc_fn[pr->nloc++] = line.f[1];
	} else {
		const uint8_t *l = s.d[1], *vv = s.d[2];

		pr->smp = realloc(pr->smp, (pr->nsamples + 1) *
				  sizeof(*pr->smp));
		pr->smp[pr->nsamples].loc0 = l && s.n[1] ?
					     rd_varint(&l, l + s.n[1]) : 0;
		for (int k = 0; k < 4; k++)
			pr->smp[pr->nsamples].v[k] = vv ?
				(int64_t)rd_varint(&vv, s.d[2] + s.n[2]) : 0;
		pr->nsamples++;
	}
}

/* The function name of the innermost frame of a sample. */
static const char *leaf_name(const struct prof *pr, uint64_t loc)
{
	for (size_t i = 0; i < pr->nloc; i++) {
		if (pr->loc_id[i] != loc)
			continue;
		for (size_t j = 0; j < pr->nfn; j++)
			if (pr->fn_id[j] == pr->loc_fn[i] &&
			    pr->fn_name[j] < pr->nstr)
				return pr->str[pr->fn_name[j]];
	}
	return "?";
}

/* Does @path start with gzip's magic (a statically linked program writes
 * its profile uncompressed, and busybox's gzip -f will not pass it on)? */
static int gzipped(const char *path)
{
	unsigned char m[2] = { 0, 0 };
	FILE *f = fopen(path, "rb");

	if (f) {
		if (fread(m, 1, 2, f) != 2)
			m[0] = 0;
		fclose(f);
	}
	return m[0] == 0x1f && m[1] == 0x8b;
}

/* Gunzip @path with gzip(1) (or take it as it is, uncompressed) and parse
 * it; 0 on success. */
static int read_profile(const char *path, struct prof *pr)
{
	char cmd[8192], raw[4200];
	struct stat st;
	uint8_t *buf;
	FILE *f;

	memset(pr, 0, sizeof(*pr));
	snprintf(raw, sizeof(raw), "%s.raw", path);
	if (gzipped(path))
		snprintf(cmd, sizeof(cmd), "gzip -dc < '%s' > '%s'", path, raw);
	else
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, raw);
	if (system(cmd) || stat(raw, &st))
		return -1;
	buf = malloc((size_t)st.st_size + 1);
	f = fopen(raw, "rb");
	if (!buf || !f || fread(buf, 1, (size_t)st.st_size, f) !=
	    (size_t)st.st_size)
		return -1;
	fclose(f);
	each_field(buf, buf + st.st_size, pr, prof_cb);
	free(buf);
	return 0;
}

/* Is @fn function @name, or a clone of it GCC made ("name.constprop.0")? */
static int is_fn(const char *fn, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(fn, name, n) && (!fn[n] || fn[n] == '.');
}

/* Sum the samples whose innermost frame is function @name. */
static struct site site_of(const struct prof *pr, const char *name)
{
	struct site s = { { 0 }, 0 };

	for (uint64_t i = 0; i < pr->nsamples; i++) {
		if (!is_fn(leaf_name(pr, pr->smp[i].loc0), name))
			continue;
		for (int k = 0; k < 4; k++)
			s.v[k] += (double)pr->smp[i].v[k];
		s.samples++;
	}
	return s;
}

static void free_profile(struct prof *pr)
{
	for (size_t i = 0; i < pr->nstr; i++)
		free(pr->str[i]);
	free(pr->str);
	free(pr->fn_id);
	free(pr->fn_name);
	free(pr->loc_id);
	free(pr->loc_fn);
	free(pr->smp);
}

/* Write @h's profile to tmpdir/@name and read it back. */
static int snap(gch_heap *h, const char *name, struct prof *pr, char *path)
{
	int fd, r;

	snprintf(path, 4096, "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	r = gch_heap_profile_write(h, fd);
	close(fd);
	if (r) {
		printf("# gch_heap_profile_write: %s\n", strerror(errno));
		return -1;
	}
	return read_profile(path, pr);
}

/* ---- the program under test ------------------------------------------ */

static void **roots;		/* registered root range */
static size_t nroots;

static gch_heap *open_profiled(const char *rate, int gc_percent)
{
	struct gch_options o = { .size = sizeof(o), .gc_percent = gc_percent };
	gch_heap *h;

	if (rate)
		setenv("GCHEAP_PROFILE_RATE", rate, 1);
	else
		unsetenv("GCHEAP_PROFILE_RATE");
	h = gch_open(&o);
	unsetenv("GCHEAP_PROFILE_RATE");
	if (!h) {
		printf("# gch_open: %s\n0 passed, 1 failed\n", strerror(errno));
		exit(1);
	}
	return h;
}

/* Site A: @n objects of @size into roots[at...]; every other one is
 * dropped at once when @die_half. */
static __attribute__((noinline)) void site_a(gch_heap *h, size_t at, size_t n,
					     size_t size, int die_half)
{
	for (size_t i = 0; i < n; i++) {
		void *p = gch_malloc(h, size);

		roots[at + i] = die_half && (i & 1) ? NULL : p;
	}
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void site_b(gch_heap *h, size_t at, size_t n,
					     size_t size)
{
	for (size_t i = 0; i < n; i++)
		roots[at + i] = gch_malloc(h, size);
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void site_c(gch_heap *h, size_t at, size_t n)
{
	for (size_t i = 0; i < n; i++)
		roots[at + i] = gch_malloc_noscan(h, 208);
	__asm__ volatile("" ::: "memory");
}

/* Overwrite the stack below us, where stale pointers to dropped objects
 * could keep them alive (stack scanning is conservative). */
static __attribute__((noinline)) void scrub_stack(void)
{
	volatile char junk[64 * 1024];

	memset((char *)junk, 0, sizeof(junk));
}

static void roots_init(size_t n)
{
	roots = calloc(n, sizeof(void *));
	nroots = n;
	gch_add_roots(roots, n * sizeof(void *), NULL);
}

static void roots_done(void)
{
	gch_remove_roots(roots, nroots * sizeof(void *));
	free(roots);
	roots = NULL;
}

/* ---- cases -------------------------------------------------------------- */

static void t_exact(void)
{
	gch_heap *h = open_profiled("1", -1);
	char path[4096];
	struct prof pr;
	struct site a, b;

	roots_init(4000);
	site_a(h, 0, 3000, OBJ, 1);	/* 3 x the bytes of B, half die */
	site_b(h, 3000, 1000, OBJ);
	scrub_stack();
	gch_gc(h);
	EXPECT(!snap(h, "exact.pb.gz", &pr, path));
	a = site_of(&pr, "site_a");
	b = site_of(&pr, "site_b");
	EXPECTF(pr.period == 1, "period %llu", (unsigned long long)pr.period);
	EXPECTF(a.v[0] == 3000 && a.v[1] == 3000 * OBJ, "A alloc %.0f %.0f",
		a.v[0], a.v[1]);
	EXPECTF(a.v[2] == 1500 && a.v[3] == 1500 * OBJ, "A inuse %.0f %.0f",
		a.v[2], a.v[3]);
	EXPECTF(b.v[0] == 1000 && b.v[1] == 1000 * OBJ, "B alloc %.0f %.0f",
		b.v[0], b.v[1]);
	EXPECTF(b.v[2] == 1000 && b.v[3] == 1000 * OBJ, "B inuse %.0f %.0f",
		b.v[2], b.v[3]);
	free_profile(&pr);
	roots_done();
	gch_close(h);
}

/*
 * Threads that exit and a fork lose no records: four threads allocate
 * site_b's objects and exit (their caches detach) while the main thread
 * forks children that exit at once; the profile then counts every object
 * of every thread, exactly.
 */
struct worker {
	gch_heap *h;
	size_t at;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	site_b(w->h, w->at, 250, OBJ);
	return NULL;
}

static void t_threads_fork(void)
{
	gch_heap *h = open_profiled("1", -1);
	struct worker w[4];
	pthread_t t[4];
	char path[4096];
	struct prof pr;
	struct site b;
	int st, forks = 0;
	pid_t pid;

	roots_init(1000);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ h, (size_t)i * 250 };
		EXPECT(!pthread_create(&t[i], NULL, worker_main, &w[i]));
	}
	for (int i = 0; i < 4; i++) {
		pid = fork();
		if (pid == 0)
			_exit(0);
		forks += pid > 0 && waitpid(pid, &st, 0) == pid &&
			 WIFEXITED(st) && !WEXITSTATUS(st);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	EXPECTF(forks == 4, "%d of 4 children exited cleanly", forks);
	gch_gc(h);
	EXPECT(!snap(h, "threads.pb.gz", &pr, path));
	b = site_of(&pr, "site_b");
	EXPECTF(b.v[0] == 1000 && b.v[1] == 1000 * OBJ, "alloc %.0f %.0f",
		b.v[0], b.v[1]);
	EXPECTF(b.v[2] == 1000 && b.v[3] == 1000 * OBJ, "inuse %.0f %.0f",
		b.v[2], b.v[3]);
	free_profile(&pr);
	roots_done();
	gch_close(h);
}

/* Square root by Newton's method (the tests link no libm). */
static double root(double x)
{
	double r = x > 1 ? x : 1;

	for (int i = 0; i < 200; i++)
		r = (r + x / r) / 2;
	return r;
}

/* |got - want| within 4.5 standard deviations of a sampled estimate. */
static int near(double got, double want, double rate)
{
	double n = want / rate, tol = 4.5 / root(n);

	printf("#   %.0f vs %.0f (%.1f%%, tolerance %.1f%%)\n", got, want,
	       100 * (got - want) / want, 100 * tol);
	return (got > want ? got - want : want - got) <= tol * want;
}

static void t_default_rate(void)
{
	const size_t size = 1024, nb = 48 << 10;	/* B: 48 MiB */
	gch_heap *h = open_profiled(NULL, 0);		/* collector on */
	double rate = 512 * 1024;
	char path[4096];
	struct prof pr;
	struct site a, b;

	EXPECT(h->prof_rate == 512 * 1024);
	roots_init(4 * nb);
	site_a(h, 0, 3 * nb, size, 1);		/* A: 144 MiB, 72 live */
	site_b(h, 3 * nb, nb, size);
	scrub_stack();
	gch_gc(h);
	EXPECT(!snap(h, "default.pb.gz", &pr, path));
	a = site_of(&pr, "site_a");
	b = site_of(&pr, "site_b");
	printf("#   stacks: A %d, B %d\n", a.samples, b.samples);
	EXPECT(pr.period == 512 * 1024);
	EXPECT(near(a.v[1], 3.0 * nb * size, rate));
	EXPECT(near(a.v[3], 1.5 * nb * size, rate));
	EXPECT(near(b.v[1], 1.0 * nb * size, rate));
	EXPECT(near(b.v[3], 1.0 * nb * size, rate));
	EXPECT(near(a.v[0], 3.0 * nb, rate / size));
	free_profile(&pr);
	roots_done();
	gch_close(h);
}

/* Is span @s (which held site_c's objects) still unswept, its samples
 * still on it? */
static int unswept(gch_heap *h, struct gch_span *s)
{
	return s && s->sweepgen == gch_load(&h->sweepgen) - 2 && s->samples;
}

static void t_sweeper_frees(void)
{
	gch_heap *h = open_profiled("1", -1);
	char path[4096];
	struct prof pr;
	struct site c;
	struct gch_span *span;	/* not a pointer into the heap: keeps nothing */

	roots_init(500);
	site_c(h, 0, 500);
	gch_gc(h);
	EXPECT(!snap(h, "c1.pb.gz", &pr, path));
	c = site_of(&pr, "site_c");
	EXPECTF(c.v[0] == 500 && c.v[2] == 500, "live: %.0f %.0f", c.v[0],
		c.v[2]);
	free_profile(&pr);

	/* all garbage; the next cycle ends; nobody has swept them yet */
	span = gch_span_of(h, (uintptr_t)roots[0]);
	memset(roots, 0, 500 * sizeof(void *));
	scrub_stack();
	gch_gc(h);
	pthread_mutex_lock(&gc_lock);	/* hold off the background sweeper */
	gc_of(h)->sweep_at_ns = INT64_MAX;
	pthread_mutex_unlock(&gc_lock);
	EXPECTF(unswept(h, span), "%s", "the span was swept already");
	EXPECT(!snap(h, "c2.pb.gz", &pr, path));
	c = site_of(&pr, "site_c");
	EXPECTF(c.v[0] == 500 && c.v[1] == 500 * 208, "alloc: %.0f %.0f",
		c.v[0], c.v[1]);
	EXPECTF(c.v[2] == 0 && c.v[3] == 0, "inuse: %.0f %.0f", c.v[2], c.v[3]);
	free_profile(&pr);

	/* allocated after the last cycle: published by the next one */
	site_c(h, 0, 100);
	EXPECT(!snap(h, "c3.pb.gz", &pr, path));
	c = site_of(&pr, "site_c");
	EXPECTF(c.v[0] == 500 && c.v[2] == 0, "before: %.0f %.0f", c.v[0],
		c.v[2]);
	free_profile(&pr);
	gch_gc(h);
	EXPECT(!snap(h, "c4.pb.gz", &pr, path));
	c = site_of(&pr, "site_c");
	EXPECTF(c.v[0] == 600 && c.v[2] == 100, "after: %.0f %.0f", c.v[0],
		c.v[2]);
	free_profile(&pr);
	roots_done();
	gch_close(h);
}

/* Samples recorded in @h (published or not): raw, unscaled. */
static uint64_t raw_samples(gch_heap *h)
{
	uint64_t n = 0;

	for (struct prof_bucket *b = h->prof->all; b; b = b->all) {
		n += b->active.allocs;
		for (int i = 0; i < 3; i++)
			n += b->future[i].allocs;
	}
	return n;
}

/* Many size classes at once (each cache charges its windows to the one
 * countdown): as many samples as bytes / rate, within 4.5 sigma. */
static void t_mixed_rate(void)
{
	gch_heap *h = open_profiled(NULL, -1);
	void *volatile sink;
	double bytes = 0;

	for (int r = 0; r < 20; r++) {
		for (long i = 0; i < 100000; i++) {
			sink = gch_malloc(h, 8 + (size_t)(i * 40 % 513));
			bytes += (double)gch_size(h, sink);
		}
		gch_gc(h);
	}
	EXPECT(near((double)raw_samples(h), bytes / (512 * 1024), 1));
	gch_close(h);
}

static void finalized(void *obj, void *arg)
{
	(void)obj;
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
}

/* Typed, large and finalized objects, all sampled: layouts, contents and
 * finalizers as without sampling, large objects in the profile. */
static void t_kinds(void)
{
	gch_heap *h = open_profiled("1", -1);
	static const uint64_t map = 0x5;
	char path[4096];
	struct prof pr;
	struct site b;
	int fin = 0;
	void **t;

	roots_init(64);
	for (int i = 0; i < 16; i++) {
		t = gch_malloc_typed(h, 24 * 4, &map, 3);
		EXPECT(t && gch_size(h, t) >= 96);
		if (t)
			t[0] = gch_malloc_noscan(h, 5);	/* tiny, sampled */
		roots[i] = t;
	}
	site_b(h, 16, 4, 100000);		/* large objects */
	for (int i = 0; i < 8; i++) {
		void *p = gch_malloc(h, 64);

		EXPECT(p && !gch_set_finalizer(h, p, finalized, &fin));
	}
	scrub_stack();
	gch_gc(h);
	gch_wait_finalizers(h);
	EXPECTF(fin == 8, "%d finalizers ran", fin);
	for (int i = 0; i < 16; i++) {
		t = roots[i];
		EXPECT(t && gch_base(h, t[0]) && gch_size(h, t[0]) == 16);
	}
	EXPECT(!snap(h, "kinds.pb.gz", &pr, path));
	b = site_of(&pr, "site_b");
	EXPECTF(b.v[0] == 4 && b.v[2] == 4 && b.v[3] >= 4 * 100000,
		"large: %.0f %.0f %.0f", b.v[0], b.v[2], b.v[3]);
	free_profile(&pr);
	roots_done();
	gch_close(h);
}

/* `go tool pprof -top` reads the file of t_exact and names the sites. */
static void t_go_pprof(void)
{
	char cmd[8192], line[1024];
	int a = 0, b = 0;
	FILE *f;

	if (system("command -v go >/dev/null 2>&1")) {
		printf("# go not installed: skipping the go tool pprof check\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), "HOME=${HOME:-%s} go tool pprof -top "
		 "-sample_index=alloc_space '%s' '%s/exact.pb.gz' 2>&1",
		 tmpdir, self, tmpdir);
	f = popen(cmd, "r");
	EXPECT(f);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		a |= !!strstr(line, "site_a");
		b |= !!strstr(line, "site_b");
		printf("#   %s", line);
	}
	EXPECT(pclose(f) == 0);
	EXPECT(a && b);
}

/* Run gch_open with stderr in a file; returns the heap, message in @msg. */
static gch_heap *open_capturing(char *msg, size_t len)
{
	char path[4200];
	int fd, saved = dup(2);
	gch_heap *h;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	fflush(stderr);
	dup2(fd, 2);
	h = gch_open(NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, msg, len - 1, 0);
	msg[n > 0 ? n : 0] = 0;
	close(fd);
	return h;
}

static void t_bad_rate(void)
{
	static const char *const bad[] = { "-1", "abc", "12k", " 5",
					   "99999999999999999999", "2000000000000" };
	char msg[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gch_heap *h;

		setenv("GCHEAP_PROFILE_RATE", bad[i], 1);
		h = open_capturing(msg, sizeof(msg));
		unsetenv("GCHEAP_PROFILE_RATE");
		EXPECTF(h, "%s", bad[i]);
		if (!h)
			continue;
		EXPECTF(strstr(msg, "bad GCHEAP_PROFILE_RATE") != NULL,
			"'%s': '%s'", bad[i], msg);
		EXPECTF(h->prof_rate == 512 * 1024, "%s", bad[i]);
		EXPECT(gch_malloc(h, 100) != NULL);
		gch_close(h);
	}
	setenv("GCHEAP_PROFILE_RATE", "0", 1);	/* off: valid, silent */
	{
		gch_heap *h = open_capturing(msg, sizeof(msg));
		char path[4096];
		struct prof pr;

		unsetenv("GCHEAP_PROFILE_RATE");
		EXPECT(h && !msg[0] && h->prof_rate == 0);
		for (int i = 0; h && i < 10000; i++)
			gch_malloc(h, 1000);
		EXPECT(h && !snap(h, "off.pb.gz", &pr, path));
		EXPECT(pr.nsamples == 0);
		free_profile(&pr);
		if (h)
			gch_close(h);
	}
}

static void t_bad_args(void)
{
	gch_heap *h = open_profiled("1", -1);
	int fd = open("/dev/null", O_RDONLY);

	errno = 0;
	EXPECT(gch_heap_profile_write(NULL, 1) == -1 && errno == EINVAL);
	EXPECT(gch_heap_profile_write(h, -1) == -1 && errno == EBADF);
	EXPECT(gch_heap_profile_write(h, 12345) == -1 && errno == EBADF);
	gch_malloc(h, 10);
	gch_gc(h);
	EXPECT(gch_heap_profile_write(h, fd) == -1 && errno == EBADF);
	close(fd);
	EXPECT(gch_malloc(h, 100) != NULL);	/* the heap carries on */
	gch_close(h);
}

/* GCHEAP_PROFILE: written at gch_close; an unwritable path is reported at
 * gch_open, which succeeds. */
static void t_env_path(void)
{
	char path[4096], msg[1024];
	struct prof pr;
	gch_heap *h;

	snprintf(path, sizeof(path), "%s/nodir/x.pb.gz", tmpdir);
	setenv("GCHEAP_PROFILE", path, 1);
	h = open_capturing(msg, sizeof(msg));
	EXPECTF(h && strstr(msg, "GCHEAP_PROFILE=") &&
		strstr(msg, "No such file"), "'%s'", msg);
	if (h) {
		EXPECT(gch_malloc(h, 100) != NULL);
		EXPECT(gch_close(h) == 0);
	}
	snprintf(path, sizeof(path), "%s/atclose.pb.gz", tmpdir);
	setenv("GCHEAP_PROFILE", path, 1);
	setenv("GCHEAP_PROFILE_RATE", "1", 1);
	h = open_capturing(msg, sizeof(msg));
	unsetenv("GCHEAP_PROFILE");
	unsetenv("GCHEAP_PROFILE_RATE");
	EXPECTF(h && !msg[0], "'%s'", msg);
	if (!h)
		return;
	roots_init(10);
	site_b(h, 0, 10, 300);
	gch_gc(h);
	roots_done();
	EXPECT(gch_close(h) == 0);
	EXPECT(!read_profile(path, &pr));
	EXPECTF(site_of(&pr, "site_b").v[0] == 10, "%.0f",
		site_of(&pr, "site_b").v[0]);
	free_profile(&pr);
}

/* ---- the USDT probes ----------------------------------------------------- */

/* The number of arguments of probe gcheap:@name in the ELF image @img
 * (its .note.stapsdt notes: pc, base, semaphore, then "provider\0name\0
 * args\0"); -1 if absent. */
static int probe_args(const uint8_t *img, size_t len, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);

	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const uint8_t *p = img + sh[i].sh_offset;
		const uint8_t *end = p + sh[i].sh_size;

		if (sh[i].sh_type != SHT_NOTE || sh[i].sh_offset + sh[i].sh_size > len)
			continue;
		while (p + sizeof(Elf64_Nhdr) <= end) {
			const Elf64_Nhdr *nh = (const Elf64_Nhdr *)p;
			const char *d = (const char *)p + sizeof(*nh) +
					((nh->n_namesz + 3) & ~3u) + 24;
			int n = 1;

			p += sizeof(*nh) + ((nh->n_namesz + 3) & ~3u) +
			     ((nh->n_descsz + 3) & ~3u);
			if (nh->n_type != 3 || strcmp(d, "gcheap") ||
			    strcmp(d + 7, name))
				continue;
			for (d += 8 + strlen(name); *d; d++)
				n += *d == ' ';
			return n;
		}
	}
	return -1;
}

/* The library carries gcheap:sample_alloc (7 arguments) and sample_free
 * (4) for gcheap-trace profile (bpf/): here, linked into this program. */
static void t_probes(void)
{
	int fd = open(self, O_RDONLY);
	struct stat st;
	uint8_t *img = NULL;
	bool got = fd >= 0 && !fstat(fd, &st) &&
		   (img = malloc((size_t)st.st_size)) &&
		   read(fd, img, (size_t)st.st_size) == st.st_size;

	EXPECTF(got, "cannot read %s", self);
	if (got) {
		EXPECT(probe_args(img, (size_t)st.st_size, "sample_alloc") == 7);
		EXPECT(probe_args(img, (size_t)st.st_size, "sample_free") == 4);
	}
	if (fd >= 0)
		close(fd);
	free(img);
}

int main(void)
{
	static const struct tcase cases[] = {
		{ "exact figures at GCHEAP_PROFILE_RATE=1", t_exact },
		{ "threads that exit and a fork lose no records",
		  t_threads_fork },
		{ "go tool pprof -top names the sites", t_go_pprof },
		{ "sweeper frees, published per cycle", t_sweeper_frees },
		{ "typed, tiny, large, finalized objects sampled", t_kinds },
		{ "default rate within 4.5 sigma", t_default_rate },
		{ "sample count over mixed sizes", t_mixed_rate },
		{ "bad GCHEAP_PROFILE_RATE", t_bad_rate },
		{ "bad arguments", t_bad_args },
		{ "GCHEAP_PROFILE at close, unwritable path", t_env_path },
		{ "USDT probes sample_alloc and sample_free", t_probes },
	};
	/* statically linked (vmtests): the profile has no names (pprof.c) */
	static const struct tcase static_cases[] = {
		{ "sample count over mixed sizes", t_mixed_rate },
		{ "bad GCHEAP_PROFILE_RATE", t_bad_rate },
		{ "bad arguments", t_bad_args },
		{ "USDT probes sample_alloc and sample_free", t_probes },
	};
	char cmd[4200];
	int r;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	self[n > 0 ? n : 0] = 0;
	if (!mkdtemp(tmpdir)) {
		printf("# mkdtemp: %s\n0 passed, 1 failed\n", strerror(errno));
		return 1;
	}
	unsetenv("GCHEAP_PROFILE");
	if (_DYNAMIC) {
		r = RUN("profile", cases);
	} else {
		printf("# statically linked: no symbol names in the profile, "
		       "the checks by call site are skipped\n");
		r = RUN("profile (static)", static_cases);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		printf("# could not remove %s\n", tmpdir);
	return r;
}

// SPDX-License-Identifier: MIT
/*
 * compat_ctl_test - libgc.so.1's typed allocation (gc_typed.h) and the
 * collector controls Guile imports: GC_call_with_alloc_lock,
 * GC_collect_a_little, GC_expand_hp, GC_get_heap_usage_safe, GC_dump, the
 * start callback, java finalization, GC_is_visible and the plausible heap
 * bounds; and when the heap profile samples (README.md, 19.).  Compiled
 * against Debian's <gc.h> and linked to our libgc.so.1, like
 * compat_api_test (whose conventions it follows: reclamation is seen
 * through finalizers, objects are made in noinline helpers, the stack is
 * wiped before collecting).
 */
#define _GNU_SOURCE
#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include <gc/gc_typed.h>
#include <gc/gc_mark.h>

#include <pthread.h>
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
#include <time.h>
#include <unistd.h>

#include "compat_test.h"


/* Finalizable leaves: fin_ran[tag] says whether the leaf was reclaimed. */
#define MAXTAG 64
static int fin_ran[MAXTAG];

static void GC_CALLBACK fin_leaf(void *obj, void *cd)
{
	(void)cd;
	fin_ran[*(long *)obj] = 1;
}

static NOINLINE void *leaf(long tag)
{
	long *p = GC_malloc_atomic(sizeof(long));

	*p = tag;
	fin_ran[tag] = 0;
	GC_register_finalizer(p, fin_leaf, NULL, NULL, NULL);
	return p;
}

/* ---- typed allocation ---------------------------------------------------- */

struct rec4 {
	void *p;	/* word 0: a pointer */
	uintptr_t x;	/* word 1: data */
	void *q;	/* word 2: a pointer */
	uintptr_t y;	/* word 3: data */
};

static GC_descr rec4_descr(void)
{
	GC_word bm[GC_BITMAP_SIZE(struct rec4)] = { 0 };

	GC_set_bit(bm, GC_WORD_OFFSET(struct rec4, p));
	GC_set_bit(bm, GC_WORD_OFFSET(struct rec4, q));
	return GC_make_descriptor(bm, GC_WORD_LEN(struct rec4));
}

/* A leaf behind a pointer word and one behind a data word of @r. */
static NOINLINE void fill_rec4(struct rec4 *r, long kept, long lost)
{
	r->p = leaf(kept);
	r->x = (uintptr_t)leaf(lost);
}

static void test_typed_small(void)
{
	GC_descr d = rec4_descr();
	struct rec4 *r = GC_malloc_explicitly_typed(sizeof(*r), d);

	CHECK(r && !r->p && !r->x && !r->q && !r->y, "typed object not zeroed");
	CHECK(GC_size(r) >= sizeof(*r), "GC_size %zu", GC_size(r));
	fill_rec4(r, 1, 2);
	collect(3);
	CHECK(!fin_ran[1], "object behind a pointer word was reclaimed");
	CHECK(fin_ran[2], "a data word kept its object alive");
	r->p = NULL;
	collect(3);
	CHECK(fin_ran[1], "leaf not reclaimed once unlinked");
}

/* A 100-word layout (out of line): word 99 is a pointer, 50 is not; a
 * word past the layout (the object is longer) is not either. */
static NOINLINE void fill_long(void **w)
{
	w[99] = leaf(3);
	w[50] = leaf(4);
	w[120] = leaf(5);
}

static void test_typed_long(void)
{
	GC_word bm[2] = { 0 };
	GC_descr d;
	void **w;

	GC_set_bit(bm, 99);
	GC_set_bit(bm, 7);
	d = GC_make_descriptor(bm, 100);
	w = GC_malloc_explicitly_typed_ignore_off_page(128 * sizeof(void *), d);
	CHECK(w != NULL, "long typed object");
	if (!w)
		return;
	fill_long(w);
	collect(3);
	CHECK(!fin_ran[3], "pointer word 99 did not keep its object");
	CHECK(fin_ran[4], "data word 50 kept its object");
	CHECK(fin_ran[5], "a word past the layout kept its object");
	CHECK(w[50] != NULL, "the program's data changed");
}

static NOINLINE void fill_array(struct rec4 *a)
{
	a[5].q = leaf(6);
	a[5].y = (uintptr_t)leaf(7);
}

static NOINLINE void fill_odd(char *a)
{
	void *l = leaf(8);

	memcpy(a + 40, &l, sizeof(l));
}

static void test_typed_calloc(void)
{
	GC_descr d = rec4_descr();
	struct rec4 *a = GC_calloc_explicitly_typed(10, sizeof(*a), d);
	volatile size_t huge = SIZE_MAX / 2;	/* not a constant to gcc */
	char *odd;

	CHECK(a && !a[9].y, "typed array");
	if (!a)
		return;
	fill_array(a);
	collect(3);
	CHECK(!fin_ran[6], "element 5's pointer word did not keep its object");
	CHECK(fin_ran[7], "element 5's data word kept its object");
	/* elements of 12 bytes: no word pattern, every word scanned */
	odd = GC_calloc_explicitly_typed(10, 12, d);
	CHECK(odd != NULL, "array of 12-byte elements");
	fill_odd(odd);
	collect(3);
	CHECK(!fin_ran[8], "a 12-byte-element array did not keep its object");
	CHECK(GC_calloc_explicitly_typed(huge, 4, d) == NULL,
	      "n * size overflow allocated");
	(void)a;
	(void)odd;
}

/* ---- collector controls -------------------------------------------------- */

static void *GC_CALLBACK gc_no_fn(void *cd)
{
	GC_word *seen = cd;

	seen[0] = GC_get_gc_no();
	usleep(200 * 1000);	/* a collection requested meanwhile waits */
	seen[1] = GC_get_gc_no();
	return cd;
}

static void *collector_thread(void *arg)
{
	(void)arg;
	usleep(50 * 1000);
	GC_gcollect();
	return NULL;
}

static void test_alloc_lock(void)
{
	GC_word seen[2], before = GC_get_gc_no();
	pthread_t t;

	CHECK(GC_pthread_create(&t, NULL, collector_thread, NULL) == 0,
	      "thread");
	CHECK(GC_call_with_alloc_lock(gc_no_fn, seen) == seen,
	      "fn's result not returned");
	GC_pthread_join(t, NULL);
	CHECK(seen[0] == seen[1], "a collection ran inside the section"
	      " (%lu -> %lu)", (unsigned long)seen[0], (unsigned long)seen[1]);
	CHECK(GC_get_gc_no() > before, "the waiting collection never ran");
}

static NOINLINE void make_garbage(size_t bytes)
{
	for (size_t i = 0; i < bytes / 64; i++)
		(void)GC_malloc(64);
}

static void test_collect_a_little(void)
{
	int steps = 0;

	make_garbage(8u << 20);
	collect(1);
	while (GC_collect_a_little() && steps < 100000)
		steps++;
	CHECK(steps < 100000, "GC_collect_a_little never ran out of work");
	CHECK(GC_collect_a_little() == 0, "work left after it said none");
}

static int starts;

static void GC_CALLBACK on_start(void)
{
	starts++;
}

static void test_start_callback(void)
{
	GC_set_start_callback(on_start);
	CHECK(GC_get_start_callback() == on_start, "getter");
	collect(2);
	CHECK(starts == 2, "callback ran %d times for 2 collections", starts);
	GC_set_start_callback(0);
	collect(1);
	CHECK(starts == 2, "callback ran after it was removed");
}

static void test_usage(void)
{
	GC_word hs = 0, fb = 0, ub = 1, since = 0, total = 0;

	collect(1);
	make_garbage(1u << 20);
	GC_get_heap_usage_safe(&hs, &fb, &ub, &since, &total);
	CHECK(hs == GC_get_heap_size(), "heap size %lu", (unsigned long)hs);
	CHECK(fb <= hs && ub == 0, "free %lu unmapped %lu", (unsigned long)fb,
	      (unsigned long)ub);
	CHECK(since >= (1u << 20) && total >= since,
	      "since gc %lu total %lu", (unsigned long)since,
	      (unsigned long)total);
	GC_get_heap_usage_safe(NULL, NULL, NULL, NULL, NULL);	/* allowed */
}

static void test_dump(void)
{
	char buf[4096] = { 0 };
	FILE *f = tmpfile();
	int saved = dup(1);

	fflush(stdout);
	dup2(fileno(f), 1);
	GC_dump();
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	rewind(f);
	CHECK(fread(buf, 1, sizeof(buf) - 1, f) > 0 &&
	      strstr(buf, "***Heap") && strstr(buf, "***Collections"),
	      "GC_dump printed: %.200s", buf);
	fclose(f);
}

static int is_visible_aborts(void *p)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 2);	/* the expected report */
		GC_is_visible(p);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static long static_word;

static void test_visible(void)
{
	long local;
	char *obj = GC_malloc(64);

	CHECK(GC_is_visible(&local) == &local, "stack");
	CHECK(GC_is_visible(&static_word) == &static_word, "data");
	CHECK(GC_is_visible(obj + 8) == obj + 8, "inside an object");
	CHECK(is_visible_aborts(obj + 3), "misaligned pointer passed");
	CHECK((uintptr_t)GC_least_plausible_heap_addr <= (uintptr_t)obj &&
	      (uintptr_t)obj <= (uintptr_t)GC_greatest_plausible_heap_addr,
	      "object %p outside [%p, %p]", (void *)obj,
	      GC_least_plausible_heap_addr, GC_greatest_plausible_heap_addr);
}

static void test_java_finalization(void)
{
	CHECK(GC_get_java_finalization() == 1, "default is on");
	GC_set_java_finalization(0);
	CHECK(GC_get_java_finalization() == 0, "setter");
	GC_set_java_finalization(1);
}

/* ---- the heap profile: sampled only when it can be read ------------------ */

static NOINLINE void churn_for_profile(void)
{
	for (int i = 0; i < 100000; i++)
		GC_malloc(80);
}

/*
 * The child this program re-executes itself as (argv[1] "profile-child"):
 * allocate 8 MB and report on stdout whether glibc's backtrace() loaded its
 * unwinder, libgcc_s (it does so on its first call: each heap-profile
 * sample makes one).  The profile, if GCHEAP_PROFILE asks, is written at
 * exit.
 */
static int profile_child(void)
{
	char line[512];
	bool unwinder = false;
	FILE *maps;

	GC_INIT();
	churn_for_profile();
	maps = fopen("/proc/self/maps", "r");
	while (maps && fgets(line, sizeof(line), maps))
		unwinder |= strstr(line, "libgcc_s") != NULL;
	if (maps)
		fclose(maps);
	printf("unwinder=%d\n", unwinder);
	return 0;
}

/* Run the child with @env (NULL-terminated "NAME=value" strings added to
 * ours); its "unwinder=" answer, or -1. */
static int run_profile_child(char *const env[])
{
	char out[64] = { 0 };
	int pfd[2], st;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "compat_ctl_test", "profile-child", NULL };

		dup2(pfd[1], 1);
		close(pfd[0]);
		unsetenv("GCHEAP_PROFILE");
		unsetenv("GCHEAP_PROFILE_RATE");
		for (int i = 0; env[i]; i++)
			putenv(env[i]);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(pfd[1]);
	if (read(pfd[0], out, sizeof(out) - 1) < 0)
		out[0] = 0;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) || strncmp(out, "unwinder=", 9))
		return -1;
	return out[9] == '1';
}

static long file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) ? -1 : (long)sb.st_size;
}

static void test_profile(void)
{
	char dir[] = "/tmp/compat_prof_XXXXXX", on[80], off[80];
	char *none[] = { NULL };
	char *rate0[] = { off, "GCHEAP_PROFILE_RATE=0", NULL };
	char *dflt[] = { on, NULL };
	char *rate_only[] = { "GCHEAP_PROFILE_RATE=65536", NULL };
	long son, soff;
	char path[64];

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(on, sizeof(on), "GCHEAP_PROFILE=%s/on.pb.gz", dir);
	snprintf(off, sizeof(off), "GCHEAP_PROFILE=%s/off.pb.gz", dir);
	CHECK(run_profile_child(none) == 0,
	      "no GCHEAP_PROFILE: nothing can read a profile, yet it sampled");
	CHECK(run_profile_child(rate_only) == 1,
	      "GCHEAP_PROFILE_RATE set: no sample taken");
	CHECK(run_profile_child(dflt) == 1,
	      "GCHEAP_PROFILE set: no sample taken at the default rate");
	CHECK(run_profile_child(rate0) == 0, "GCHEAP_PROFILE_RATE=0: sampled");
	snprintf(path, sizeof(path), "%s/on.pb.gz", dir);
	son = file_size(path);
	unlink(path);
	snprintf(path, sizeof(path), "%s/off.pb.gz", dir);
	soff = file_size(path);
	unlink(path);
	rmdir(dir);
	/* samples bring their stacks' locations and functions along */
	CHECK(soff > 0 && son > soff + 200,
	      "profile with samples %ld bytes, without %ld", son, soff);
}

/* Last: it leaves room and a maximum heap size behind. */
static void test_expand(void)
{
	GC_word before;

	collect(1);
	CHECK(GC_expand_hp(64u << 20) == 1, "expand by 64 MiB refused");
	before = GC_get_gc_no();
	make_garbage(16u << 20);
	CHECK(GC_get_gc_no() == before, "%lu collections in 16 MiB after"
	      " expanding by 64 MiB", (unsigned long)(GC_get_gc_no() - before));
	GC_set_max_heap_size(GC_get_heap_size() + (1u << 20));
	CHECK(GC_expand_hp(8u << 20) == 0, "expanded past the maximum size");
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "profile-child"))
		return profile_child();
	setvbuf(stdout, NULL, _IOLBF, 0);
	GC_INIT();
	test_typed_small();
	test_typed_long();
	test_typed_calloc();
	test_alloc_lock();
	test_collect_a_little();
	test_start_callback();
	test_usage();
	test_dump();
	test_visible();
	test_java_finalization();
	test_profile();
	test_expand();
	return report("compat_ctl_test");
}

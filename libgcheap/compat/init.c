// SPDX-License-Identifier: MIT
/*
 * init.c - GC_init and the process-wide settings of libgc.so.1.
 *
 * Maps onto: one gch_heap opened by gch_open() on the first GC_ call (bdwgc
 * initialises implicitly too), the collector without a write barrier
 * latched before it opens (core_glue.c: unmodified programs call none, so
 * cycles mark beside them with the module's dirty bits, or stop the world
 * where the module cannot track), the data and bss of the program and
 * every library made roots
 * (gch_register_data_segments(), as bdwgc scans them by default).
 *
 * Settings map onto libgcheap's knobs: GC_set_max_heap_size onto the hard
 * limit, GC_set_free_space_divisor onto the GC percent (200 / divisor: see
 * README.md), GC_disable onto GC percent off.  Those that bdwgc allows
 * before GC_init are remembered and applied when the heap opens.
 *
 * Invariants: heap is written once, inside pthread_once, and read without
 * a lock afterwards (pthread_once orders it).  Locking: settings_lock
 * serialises the settings that have a before-init and an after-init path
 * and the GC_disable count; it is never held across an allocation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static gch_heap *heap;
static atomic_int init_called;

static pthread_mutex_t settings_lock = PTHREAD_MUTEX_INITIALIZER;
static GC_word max_heap;		/* 0: no limit */
static GC_word divisor = 3;		/* bdwgc's default */
static bool divisor_set;		/* else libgcheap's default percent */
static int disabled;			/* GC_disable() nesting */
static int percent_before_disable;

/* bdwgc's free-space divisor as a GC percent: it allocates about
 * 2 x traced bytes / divisor between collections (gc.h). */
static int divisor_percent(GC_word d)
{
	GC_word p = d ? 200 / d : 200;

	return p ? (int)p : 1;
}

static void die(const char *what)
{
	fprintf(stderr, "GC Error: libgc.so.1 (gcheap): %s: %s\n", what,
		strerror(errno));
	abort();
}

/* GC_FREE_SPACE_DIVISOR, read by bdwgc's GC_init too. */
static void read_env(void)
{
	const char *e = getenv("GC_FREE_SPACE_DIVISOR");
	long d = e ? atol(e) : 0;

	if (d > 0) {
		divisor = (GC_word)d;
		divisor_set = true;
	}
}

/*
 * bdwgc's bounds of where heap objects can be, read by GC_MARK_AND_PUSH
 * (gc_mark.h) to filter words before it calls GC_mark_and_push: empty
 * (least above greatest) until the heap opens, then its whole address
 * reservation, which never moves or grows.  Both bounds lie just outside
 * the reservation: this library's data is scanned as a root like every
 * loaded object's, and a bound equal to the heap's first address would
 * keep the object there alive.
 */
void *GC_least_plausible_heap_addr = (void *)UINTPTR_MAX;
void *GC_greatest_plausible_heap_addr;

static void publish_heap_range(gch_heap *h)
{
	uintptr_t lo, hi;

	compat_heap_range(h, &lo, &hi);
	GC_greatest_plausible_heap_addr = (void *)hi;
	GC_least_plausible_heap_addr = (void *)(lo - 1);
}

static void open_heap(void)
{
	struct gch_options o = { .size = sizeof(o) };

	read_env();
	compat_force_nobarrier();
	compat_profile_default();
	compat_set_proc_hook();
	compat_latch_extra_bytes();
	pthread_mutex_lock(&settings_lock);
	o.hard_limit_bytes = max_heap;
	if (divisor_set)
		o.gc_percent = divisor_percent(divisor);
	pthread_mutex_unlock(&settings_lock);
	heap = gch_open(&o);
	if (!heap)
		die("cannot open the heap");
	if (gch_register_data_segments())
		die("cannot register the data segments");
	if (compat_uncoll_init() || compat_fin_init())
		die("cannot register the library's roots");
	publish_heap_range(heap);
	atomic_store(&init_called, 1);
	compat_thread_init();
}

void GC_init(void)
{
	pthread_once(&init_once, open_heap);
}

int GC_is_init_called(void)
{
	return atomic_load(&init_called);
}

gch_heap *compat_heap(void)
{
	if (__builtin_expect(!atomic_load_explicit(&init_called,
						  memory_order_acquire), 0))
		GC_init();
	return heap;
}

gch_heap *compat_heap_if_open(void)
{
	return atomic_load_explicit(&init_called, memory_order_acquire) ?
	       heap : NULL;
}

unsigned GC_get_version(void)
{
	return (unsigned)GC_VERSION_MAJOR << 16 |
	       (unsigned)GC_VERSION_MINOR << 8 | GC_VERSION_MICRO;
}

/* ---- warnings ------------------------------------------------------------ */

static void GC_CALLBACK default_warn_proc(char *msg, GC_word arg)
{
	fprintf(stderr, msg, arg);
}

static _Atomic(GC_warn_proc) warn_proc = default_warn_proc;

void GC_set_warn_proc(GC_warn_proc p)
{
	atomic_store(&warn_proc, p);
}

GC_warn_proc GC_get_warn_proc(void)
{
	return atomic_load(&warn_proc);
}

void GC_CALLBACK GC_ignore_warn_proc(char *msg, GC_word arg)
{
	(void)msg;
	(void)arg;
}

void compat_warn(const char *msg, GC_word arg)
{
	atomic_load(&warn_proc)((char *)msg, arg);
}

/* ---- incremental mode ---------------------------------------------------- */

/*
 * Accepted, and nothing to do: where the module tracks dirty pages every
 * cycle already marks beside the program with its dirty bits (bdwgc's
 * incremental mode done by the kernel, core_glue.c), and elsewhere it
 * stops the world.  GC_is_incremental_mode() stays 0 either way: the
 * program owes this collector none of incremental mode's duties (no
 * GC_end_stubborn_change(), no GC_dirty()), which is what a program asks
 * it to find out.
 */
void GC_enable_incremental(void)
{
	GC_init();
}

int GC_is_incremental_mode(void)
{
	return 0;
}

/* ---- heap size and pacing ------------------------------------------------ */

void GC_set_max_heap_size(GC_word n)
{
	gch_heap *h;

	pthread_mutex_lock(&settings_lock);
	max_heap = n;
	h = compat_heap_if_open();
	if (h && gch_set_hard_limit(h, n))
		compat_warn("GC Warning: GC_set_max_heap_size(%lu) refused\n",
			    n);
	pthread_mutex_unlock(&settings_lock);
}

GC_word compat_max_heap(void)
{
	GC_word n;

	pthread_mutex_lock(&settings_lock);
	n = max_heap;
	pthread_mutex_unlock(&settings_lock);
	return n;
}

void GC_set_free_space_divisor(GC_word d)
{
	gch_heap *h;

	if (!d)
		return;		/* bdwgc divides by it: never 0 */
	pthread_mutex_lock(&settings_lock);
	divisor = d;
	divisor_set = true;
	h = compat_heap_if_open();
	if (h && !disabled)
		gch_set_gc_percent(h, divisor_percent(d));
	else if (disabled)
		percent_before_disable = divisor_percent(d);
	pthread_mutex_unlock(&settings_lock);
}

GC_word GC_get_free_space_divisor(void)
{
	GC_word d;

	pthread_mutex_lock(&settings_lock);
	d = divisor;
	pthread_mutex_unlock(&settings_lock);
	return d;
}

/* ---- GC_disable / GC_enable: collections off while the count is > 0 ---- */

void GC_disable(void)
{
	gch_heap *h = compat_heap();

	pthread_mutex_lock(&settings_lock);
	if (disabled++ == 0)
		percent_before_disable = gch_set_gc_percent(h, -1);
	pthread_mutex_unlock(&settings_lock);
}

void GC_enable(void)
{
	gch_heap *h = compat_heap();

	pthread_mutex_lock(&settings_lock);
	if (disabled > 0 && --disabled == 0)
		gch_set_gc_percent(h, percent_before_disable);
	pthread_mutex_unlock(&settings_lock);
}

int GC_is_disabled(void)
{
	int d;

	pthread_mutex_lock(&settings_lock);
	d = disabled != 0;
	pthread_mutex_unlock(&settings_lock);
	return d;
}

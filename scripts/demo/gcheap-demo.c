// SPDX-License-Identifier: MIT
/*
 * gcheap-demo: what an application does with a garbage-collected heap whose
 * memory the kernel owns, and what the kernel and the collector do about it.
 * `make demo` runs it in the test VM (on gcheap.ko); it runs natively too,
 * after insmod or on the in-process backend (GCHEAP_BACKEND=host).
 *
 * The application
 * ---------------
 * A session cache: a chained hash table of string keys and record values,
 * every part a separate heap object -- entry (next, key, record), key
 * string, record (name string, value blob) -- published into the table
 * with gch_store(), never freed by the program.  Entries carry the time of
 * their last write.  It goes through phases:
 *   1. warm-up   fill the cache to the live set (--live MiB);
 *   2. churn     gets, sets and evictions at a steady rate (--rate ops/s):
 *                sets replace records, so garbage flows at a constant pace;
 *   3. burst     a burst of new sessions: the cache grows to --burst times;
 *   4. drop      the sessions expire but for the newest tenth; after the
 *                purge the program asks for a collection (gch_gc(), as a Go
 *                program calls runtime.GC() after one), then serves on at
 *                its new size until the pacer's next cycle;
 *   5. idle      nothing allocates; the kernel's background scavenger gives
 *                the free pages above the collector's budget back;
 *   6. pressure  (--hog) if the idle phase left no free pages, the GC
 *                percent goes up and a second, smaller burst comes and goes
 *                (gch_gc() after it) so that the scavenger keeps some
 *                within its budget; then gcheap-hog fills the
 *                machine's memory until kswapd wakes (or, when kswapd has
 *                given up on the node, until a direct reclaim): the gcheap
 *                shrinker gives even the retained pages.
 * Expiring by age, and collecting right after the purge, is what makes
 * memory come back: the newest sessions sit together in the spans the burst
 * took last, so the spans of the expired ones empty out completely.  Were
 * the survivors spread over every span (say, records rewritten into the
 * holes of old spans by more churn before the collector has run) each span
 * would keep a few and few pages could go back, in any allocator that does
 * not move objects.
 *
 * What it shows
 * -------------
 * GCHEAP_TRACE=gc (set it: the library prints a line per cycle); at the end
 * of each phase the live heap and the goal that follows it, bytes in spans
 * and resident memory; after the drop how far and how fast resident memory
 * came down; under the hog what the shrinker released; gcheap-trace (the
 * BPF tool, started by the demo before the heap exists, -q -p <pid>) and
 * its totals beside the kernel's counters; a summary; and a picture.
 *
 * The record: a thread samples gch_gc_stats() and the kernel's counters
 * (GCH_IOC_STATS on the heap's own /dev/gcheap descriptor, found in
 * /proc/self/fd: the library's API has no per-cause release counters) every
 * 50 ms.  demo-plot.c draws the SVG (--svg) and writes the CSV (--csv); "-"
 * prints either on stdout between marker lines, which is how `make demo`
 * gets them out of the VM.
 *
 * Checks: collections ran; after the drop resident memory fell and free
 * resident memory came within the scavenger's budget (goal + 10% - bytes in
 * spans, as the kernel keeps it) before --idle-max seconds of idling (the
 * time reported is from the purge, when the scavenger may start); the shrinker
 * released memory under the hog; gcheap-trace's counts equal the stats.  A
 * failed check makes the exit status 1; what needs the kernel is skipped,
 * with a note, on the in-process backend.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gcheap.h>
#include <linux/gcheap.h>
#include "demo.h"

#define MIB		(1024.0 * 1024.0)
#define SAMPLE_MS	50

/* ------------------------------------------------------------ options */

static struct {
	unsigned int live_mib;
	unsigned int burst_x;
	double churn_s;
	unsigned int rate;
	double drop_max_s;
	double idle_max_s;
	double pressure_max_s;
	bool hog;
	bool trace;
	bool short_run;
	const char *svg;
	const char *csv;
	const char *tracer;
	const char *hog_prog;
} opt = {
	.live_mib = 16,
	.burst_x = 3,
	.churn_s = 8,
	.rate = 20000,
	.drop_max_s = 30,
	.idle_max_s = 60,
	.pressure_max_s = 180,
	.trace = true,
	.svg = "gcheap-demo.svg",
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: gcheap-demo [options]\n"
"A session cache on a gcheap heap through warm-up, churn, burst, drop, idle\n"
"and (with --hog) memory pressure; set GCHEAP_TRACE=gc to see each cycle.\n"
"  --live MIB       live set after warm-up (default 16)\n"
"  --burst X        the burst grows the cache X times (default 3)\n"
"  --churn SECS     length of the steady churn (default 8)\n"
"  --rate OPS       cache operations per second while churning (default 20000)\n"
"  --idle-max SECS  longest wait for the scavenger (default 60)\n"
"  --hog            start gcheap-hog, which fills this machine's free memory\n"
"                   until kswapd wakes (meant for a VM or a spare machine)\n"
"  --no-trace       do not start gcheap-trace\n"
"  --tracer PATH    gcheap-trace to run (default: next to this program, or PATH)\n"
"  --hog-prog PATH  gcheap-hog to run (same default)\n"
"  --svg FILE       the picture (default gcheap-demo.svg; '-': stdout between\n"
"                   marker lines; 'none': no picture)\n"
"  --csv FILE       every sample as CSV (default none; '-': stdout)\n"
"  --short          a shorter run (the make check test): --live 8 --churn 3\n");
}

/* ------------------------------------------------------------ time, output */

static double t_start;

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	return mono() - t_start;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	/* a stop of the world (a signal) may cut it short: sleep the rest */
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static double mb(uint64_t b)
{
	return (double)b / MIB;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "gcheap-demo: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ------------------------------------------------------------ the heap */

static gch_heap *heap;
static int kfd = -1;		/* the heap's /dev/gcheap descriptor */
static unsigned long long heap_id;
static long psize;

/* The library's descriptor of /dev/gcheap: the only one this process has. */
static int find_kernel_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char path[300], target[64];
	int fd = -1;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strcmp(target, "/dev/gcheap")) {
			fd = atoi(de->d_name);
			break;
		}
	}
	closedir(d);
	return fd;
}

static int kstats(struct gch_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	if (kfd < 0)
		return -1;
	return ioctl(kfd, GCH_IOC_STATS, st);
}

static void gstats(struct gch_gc_stats *gs)
{
	if (gch_gc_stats(heap, gs))
		die("gch_gc_stats: %s", strerror(errno));
}

/* ------------------------------------------------------------ the cache */

/*
 * The record of a session.  Pointer words: name (3) and value (4); the
 * others are plain numbers, so the collector scans it precisely
 * (gch_malloc_typed).
 */
struct record {
	uint64_t id;
	uint64_t version;
	uint64_t hits;
	char *name;
	unsigned char *value;
	uint64_t value_len;
};
static const uint64_t record_ptrs = 1u << 3 | 1u << 4;

/* A hash table entry.  Pointer words: next, key, rec. */
struct entry {
	struct entry *next;
	char *key;
	struct record *rec;
	uint64_t hash;
	uint64_t stamp;		/* time of the last write, in writes */
};
static const uint64_t entry_ptrs = 0x7;

/*
 * The table's root: outside the heap, registered with gch_add_roots(), so
 * plain stores into it need no barrier.  buckets is a heap object.
 */
static struct cache {
	struct entry **buckets;
	uint64_t nbuckets;	/* a power of two */
	uint64_t n;		/* entries; read by the sampler */
	uint64_t next_id;
	uint64_t stamp;
	uint64_t gets, hits, sets, evictions;
} cache;

static uint64_t rnd_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545F4914F6CDD1DULL;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

static void set_n(uint64_t n)
{
	__atomic_store_n(&cache.n, n, __ATOMIC_RELAXED);
}

static void *must(void *p)
{
	if (!p)
		die("out of heap memory: %s", strerror(errno));
	return p;
}

static char *heap_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = must(gch_malloc_noscan(heap, n));

	memcpy(p, s, n);
	return p;
}

static void key_of(uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "session:%010llu", (unsigned long long)id);
}

/*
 * A new record.  Its fields are initialised with plain stores: a fresh
 * object holds no heap pointer to shade, and while we allocate the next
 * part the record is reachable from this frame (gcheap.h, "Which stores
 * need it").  Values are 64 B .. 1 KiB, written as an application would.
 */
static struct record *new_record(uint64_t id, uint64_t version, uint64_t hits)
{
	struct record *r = must(gch_malloc_typed(heap, sizeof(*r), &record_ptrs, 6));
	size_t len = 64 + rnd() % 961;
	char name[48];

	r->id = id;
	r->version = version;
	r->hits = hits;
	snprintf(name, sizeof(name), "user-%llu/v%llu", (unsigned long long)(id % 100000),
		 (unsigned long long)version);
	r->name = heap_str(name);
	r->value = must(gch_malloc_noscan(heap, len));
	memset(r->value, (int)(id + version), len);
	r->value_len = len;
	return r;
}

/* Rehash into @nb buckets (a power of two); the old array becomes garbage. */
static void resize(uint64_t nb)
{
	struct entry **nbk = must(gch_malloc(heap, nb * sizeof(*nbk)));
	uint64_t i;

	for (i = 0; i < cache.nbuckets; i++) {
		struct entry *e = cache.buckets[i], *next;

		for (; e; e = next) {
			struct entry **b = &nbk[e->hash & (nb - 1)];

			next = e->next;
			gch_store((void **)&e->next, *b);
			gch_store((void **)b, e);
		}
	}
	cache.buckets = nbk;	/* a root: no barrier */
	cache.nbuckets = nb;
}

static struct entry *insert(uint64_t id)
{
	struct entry *e = must(gch_malloc_typed(heap, sizeof(*e), &entry_ptrs, 5));
	struct entry **b;
	char key[32];

	key_of(id, key, sizeof(key));
	e->key = heap_str(key);
	e->hash = hash_str(key);
	e->rec = new_record(id, 1, 0);
	e->stamp = ++cache.stamp;
	b = &cache.buckets[e->hash & (cache.nbuckets - 1)];
	e->next = *b;
	gch_store((void **)b, e);	/* published */
	set_n(cache.n + 1);
	if (cache.n > cache.nbuckets)
		resize(cache.nbuckets * 2);
	return e;
}

static struct entry *lookup(uint64_t id)
{
	char key[32];
	uint64_t h;
	struct entry *e;

	key_of(id, key, sizeof(key));
	h = hash_str(key);
	for (e = cache.buckets[h & (cache.nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && !strcmp(e->key, key))
			return e;
	return NULL;
}

/* Some entry: the first of the first non-empty bucket from a random one. */
static struct entry *random_entry(void)
{
	uint64_t i = rnd(), k;

	for (k = 0; k < cache.nbuckets; k++) {
		struct entry *e = cache.buckets[(i + k) & (cache.nbuckets - 1)];

		if (e)
			return e;
	}
	return NULL;
}

static void unlink_entry(struct entry *victim)
{
	struct entry **p = &cache.buckets[victim->hash & (cache.nbuckets - 1)];

	while (*p != victim)
		p = &(*p)->next;
	gch_store((void **)p, victim->next);
	set_n(cache.n - 1);
}

/* A set: a new version of the record replaces the old (now garbage). */
static void set_entry(struct entry *e)
{
	struct record *old = e->rec;

	gch_store((void **)&e->rec, new_record(old->id, old->version + 1, old->hits));
	e->stamp = ++cache.stamp;
	cache.sets++;
}

/*
 * One cache operation: half gets of a recent key (a hit counts; a miss does
 * nothing), a third sets of a random entry, the rest evict a random entry
 * and insert a new session.
 */
static void cache_op(void)
{
	uint64_t r = rnd() % 100;

	if (r < 50) {
		uint64_t span = 2 * cache.n + 1, hi = cache.next_id;
		uint64_t lo = hi > span ? hi - span : 0;
		struct entry *e = lookup(lo + rnd() % (hi - lo));

		cache.gets++;
		if (e) {
			e->rec->hits++;
			cache.hits++;
		}
	} else if (r < 85) {
		struct entry *e = random_entry();

		if (e)
			set_entry(e);
	} else {
		struct entry *e = random_entry();

		if (e) {
			unlink_entry(e);
			cache.evictions++;
		}
		insert(cache.next_id++);
	}
}

/* Bytes an entry takes with its parts, for sizing the live set. */
static uint64_t entry_bytes(void)
{
	/* entry 48, key 32, record 48, name 32, value 64..1024 in size
	 * classes: about 600 */
	return 48 + 32 + 48 + 32 + 600;
}

/* Expire every entry but the @keep newest (by last write). */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Expire every session whose last write (stamp) is in [lo, hi). */
static void expire_stamps(uint64_t lo, uint64_t hi)
{
	uint64_t i, nb;

	for (i = 0; i < cache.nbuckets; i++) {
		struct entry **p = &cache.buckets[i];

		while (*p) {
			if ((*p)->stamp >= lo && (*p)->stamp < hi) {
				gch_store((void **)p, (*p)->next);
				set_n(cache.n - 1);
				cache.evictions++;
			} else {
				p = &(*p)->next;
			}
		}
	}
	for (nb = 1024; nb < cache.n; nb *= 2)
		;
	if (nb < cache.nbuckets)
		resize(nb);
}

/* Expire all sessions but the @keep most recently written. */
static void expire_all_but(uint64_t keep)
{
	uint64_t *stamps = malloc(cache.n * sizeof(*stamps)), n = 0, cut, i;

	if (!stamps)
		die("malloc: %s", strerror(errno));
	for (i = 0; i < cache.nbuckets; i++)
		for (struct entry *e = cache.buckets[i]; e; e = e->next)
			stamps[n++] = e->stamp;
	qsort(stamps, n, sizeof(*stamps), cmp_u64);
	cut = keep < n ? stamps[n - keep] : 0;
	free(stamps);
	expire_stamps(0, cut);
}

/* ------------------------------------------------------------ the record */

static struct run rec;
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t rec_cap;
static int cur_phase = -1;
static bool sampler_stop;
static pthread_t sampler_tid;

static void take_sample(struct sample *s)
{
	struct gch_gc_stats gs;
	struct gch_stats ks;

	memset(s, 0, sizeof(*s));
	gstats(&gs);
	s->t = now();
	s->phase = __atomic_load_n(&cur_phase, __ATOMIC_RELAXED);
	s->entries = __atomic_load_n(&cache.n, __ATOMIC_RELAXED);
	s->live = gs.heap_live_bytes;
	s->goal = gs.heap_goal_bytes;
	s->spans = gs.heap_span_bytes;
	s->resident = gs.resident_bytes;
	s->cycles = gs.cycles;
	s->pauses = gs.pauses;
	s->pause_total_ns = gs.pause_total_ns;
	s->pause_max_ns = gs.pause_max_ns;
	s->alloc_bytes = gs.alloc_bytes;
	if (!kstats(&ks)) {
		s->free_resident = ks.free_resident_bytes;
		s->released[REL_BG] = ks.released_bg_bytes;
		s->released[REL_EAGER] = ks.released_eager_bytes;
		s->released[REL_SHRINK] = ks.released_shrink_bytes;
		s->released[REL_MEMCG] = ks.released_memcg_bytes;
		s->released[REL_IOCTL] = ks.released_ioctl_bytes;
	}
}

static void record_sample(void)
{
	struct sample s;

	take_sample(&s);
	pthread_mutex_lock(&rec_lock);
	if (rec.n == rec_cap) {
		size_t cap = rec_cap ? 2 * rec_cap : 1024;
		struct sample *p = realloc(rec.s, cap * sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&rec_lock);
			return;		/* the picture just ends here */
		}
		rec.s = p;
		rec_cap = cap;
	}
	rec.s[rec.n++] = s;
	pthread_mutex_unlock(&rec_lock);
}

/* Not attached to the heap: it holds no heap pointer, and is never stopped. */
static void *sampler(void *arg)
{
	double next = mono();

	(void)arg;
	while (!__atomic_load_n(&sampler_stop, __ATOMIC_RELAXED)) {
		double d;

		record_sample();
		next += SAMPLE_MS / 1000.0;
		d = next - mono();
		if (d < 0)
			next = mono();	/* fell behind (a long lock wait) */
		else
			sleep_s(d);
	}
	return NULL;
}

/* ------------------------------------------------------------ phases */

static const char *backend;
static bool on_kernel;

static void phase_begin(const char *name, const char *fmt, ...)
{
	va_list ap;
	int i = rec.nphases;

	pthread_mutex_lock(&rec_lock);
	rec.phases[i].name = name;
	rec.phases[i].t0 = now();
	rec.phases[i].t1 = -1;
	rec.nphases++;
	pthread_mutex_unlock(&rec_lock);
	__atomic_store_n(&cur_phase, i, __ATOMIC_RELAXED);
	printf("\n== %d. %s: ", i + 1, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* The state of the heap, one line: what the reader follows phase by phase. */
static void print_state(const char *label)
{
	struct gch_gc_stats gs;

	gstats(&gs);
	printf("   %s %.1f s: %llu entries; live %.1f MiB, goal %.1f MiB",
	       label, now(), (unsigned long long)cache.n, mb(gs.heap_live_bytes),
	       mb(gs.heap_goal_bytes));
	if (gs.heap_live_bytes)
		printf(" (%.2fx)", (double)gs.heap_goal_bytes / (double)gs.heap_live_bytes);
	printf("; in spans %.1f MiB, resident %.1f MiB; %llu cycles, %llu pauses (longest %.2f ms)\n",
	       mb(gs.heap_span_bytes), mb(gs.resident_bytes),
	       (unsigned long long)gs.cycles, (unsigned long long)gs.pauses,
	       gs.pause_max_ns / 1e6);
}

static void phase_end(void)
{
	int i = rec.nphases - 1;

	pthread_mutex_lock(&rec_lock);
	rec.phases[i].t1 = now();
	pthread_mutex_unlock(&rec_lock);
	print_state("at");
}

static uint64_t cycles_now(void)
{
	struct gch_gc_stats gs;

	gstats(&gs);
	return gs.cycles;
}

/*
 * Cache operations at @rate per second for at least @min_s seconds and until
 * @min_cycles collections have finished in all, at most @max_s seconds.
 * A machine too slow for the rate runs flat out; it never catches up on a
 * backlog.  Returns the operations done.
 */
static uint64_t churn(double min_s, double max_s, unsigned int rate,
		      uint64_t min_cycles)
{
	double t0 = mono(), base_t = t0, next_check = t0;
	uint64_t ops = 0, base_ops = 0, cycles = cycles_now();

	for (;;) {
		double t;

		for (int i = 0; i < 64; i++)
			cache_op();
		ops += 64;
		t = mono();
		if (t >= next_check) {
			cycles = cycles_now();
			next_check = t + 0.1;
		}
		if ((t - t0 >= min_s && cycles >= min_cycles) || t - t0 >= max_s)
			break;
		if (!rate)
			continue;
		double due = base_t + (double)(ops - base_ops) / rate;

		if (due > t)
			sleep_s(due - t);
		else if (t - due > 0.2) {
			base_t = t;	/* behind: forget the backlog */
			base_ops = ops;
		}
	}
	return ops;
}

/* ------------------------------------------------------------ helpers */

/* @name next to this program, else on PATH; NULL if nowhere. */
static char *find_prog(const char *given, const char *name)
{
	char self[PATH_MAX], *slash, *path, *dir, *save = NULL;
	static char buf[2 * PATH_MAX + 2];
	ssize_t n;

	if (given)
		return access(given, X_OK) ? NULL : (char *)given;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(buf, sizeof(buf), "%s/%s", self, name);
			if (!access(buf, X_OK))
				return buf;
		}
	}
	path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	for (dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(buf, sizeof(buf), "%s/%s", dir, name);
		if (!access(buf, X_OK)) {
			free(path);
			return buf;
		}
	}
	free(path);
	return NULL;
}

static void set_oom_score_adj(const char *v)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "w");

	if (f) {
		fputs(v, f);
		fclose(f);
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	buf[0] = 0;
	if (!f)
		return buf;
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			char *p = realloc(buf, cap *= 2);

			if (!p)
				break;
			buf = p;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		if (!got)
			break;
		n += got;
	}
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* ------------------------------------------------------------ gcheap-trace */

static pid_t tracer_pid = -1;
static char tracer_log[] = "/tmp/gcheap-demo-trace.XXXXXX";
static const char *tracer_mode = "";

/*
 * Start gcheap-trace -q -p <us> before the heap exists, so that its counts
 * start where the heap's counters do, and wait until it has attached.
 */
static void start_tracer(void)
{
	char *prog = find_prog(opt.tracer, "gcheap-trace");
	char pid[16], *log = NULL;
	double t0 = mono();
	int fd;

	if (!prog) {
		printf("gcheap-trace: not found (next to gcheap-demo or on PATH); "
		       "no tracepoint totals (make bpf builds it)\n");
		return;
	}
	fd = mkstemp(tracer_log);
	if (fd < 0) {
		printf("gcheap-trace: cannot create a log in /tmp: %s\n", strerror(errno));
		return;
	}
	snprintf(pid, sizeof(pid), "%d", getpid());
	fflush(stdout);
	tracer_pid = fork();
	if (tracer_pid < 0)
		die("fork: %s", strerror(errno));
	if (!tracer_pid) {
		/* if the demo dies, the tracer stops and lets go of the module */
		prctl(PR_SET_PDEATHSIG, SIGINT);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(prog, "gcheap-trace", "-q", "-p", pid, "-i", "1000000", (char *)NULL);
		_exit(127);
	}
	close(fd);
	printf("gcheap-trace: started %s -q -p %s (summaries only, this process's heaps)\n",
	       prog, pid);
	for (;;) {
		int status;

		free(log);
		log = slurp(tracer_log);
		if (log && strstr(log, "gcheap-trace: attached")) {
			tracer_mode = strstr(log, "tp_btf") ? "tp_btf" : "raw_tp";
			printf("gcheap-trace: attached to the gcheap tracepoints (%s) after %.1f s\n",
			       tracer_mode, mono() - t0);
			break;
		}
		if (waitpid(tracer_pid, &status, WNOHANG) == tracer_pid ||
		    mono() - t0 > 120) {
			printf("gcheap-trace: did not attach; its output:\n%s", log ? log : "");
			if (mono() - t0 > 120) {
				kill(tracer_pid, SIGKILL);
				waitpid(tracer_pid, &status, 0);
			}
			tracer_pid = -1;
			break;
		}
		sleep_s(0.05);
	}
	free(log);
}

/* Stop it (SIGINT: it prints its final summary and histograms); its log. */
static char *stop_tracer(void)
{
	double t0 = mono();
	int status;

	if (tracer_pid < 0)
		return NULL;
	kill(tracer_pid, SIGINT);
	while (waitpid(tracer_pid, &status, WNOHANG) != tracer_pid) {
		if (mono() - t0 > 60) {
			kill(tracer_pid, SIGKILL);
			waitpid(tracer_pid, &status, 0);
			break;
		}
		sleep_s(0.05);
	}
	tracer_pid = -1;
	return slurp(tracer_log);
}

static unsigned long long field(const char *line, const char *key)
{
	char want[48];
	const char *p;

	snprintf(want, sizeof(want), " %s=", key);
	p = strstr(line, want);
	return p ? strtoull(p + strlen(want), NULL, 10) : 0;
}

struct trace_sums {
	unsigned long long lines, spans_alloc, pages_alloc, spans_freed,
		pages_freed, free_calls, rel[NREL], gc_last, gc_pauses,
		pause_ns, pause_max_ns, limit_hits;
};

/* Add up the tool's summary lines of our heap (one, the final, normally). */
static void trace_sum(const char *out, struct trace_sums *s)
{
	char want[64], *copy = strdup(out), *line, *save = NULL;

	memset(s, 0, sizeof(*s));
	snprintf(want, sizeof(want), " heap=%llu pid=%d ", heap_id, getpid());
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, want) || !strstr(line, " spans_alloc="))
			continue;
		s->lines++;
		s->spans_alloc += field(line, "spans_alloc");
		s->pages_alloc += field(line, "pages_alloc");
		s->spans_freed += field(line, "spans_freed");
		s->pages_freed += field(line, "pages_freed");
		s->free_calls += field(line, "free_calls");
		s->rel[REL_BG] += field(line, "rel_bg");
		s->rel[REL_EAGER] += field(line, "rel_eager");
		s->rel[REL_SHRINK] += field(line, "rel_shrink");
		s->rel[REL_MEMCG] += field(line, "rel_memcg");
		s->rel[REL_IOCTL] += field(line, "rel_ioctl");
		s->gc_last = field(line, "gc_last");
		s->gc_pauses += field(line, "gc_pauses");
		s->pause_ns += field(line, "pause_ns");
		s->pause_max_ns = field(line, "pause_max_ns");
		s->limit_hits += field(line, "limit_hits");
	}
	free(copy);
}

/* ------------------------------------------------------------ checks */

static int checks_failed, checks_passed, checks_skipped;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("  %-5s ", ok < 0 ? "skip" : ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok > 0)
		checks_passed++;
	else if (!ok)
		checks_failed++;
	else
		checks_skipped++;
}

/* ------------------------------------------------------------ main */

/* The kernel's counters just before the purge, and when it was done. */
static struct gch_stats purge_ks;
static double t_purge;

static struct {
	double t0, t_down, resident_before, resident_after;
	uint64_t free_after, budget, released_bg;
	bool done, reached;
} idle;

static struct {
	bool ran, ready;
	double t_first, secs;
	uint64_t released, hog_mib;
	int status, pokes;
} pressure;

static void header(void)
{
	struct gch_version v;
	static const char *const feats[] = {
		"pagemap", "spanslots", "scavenger", "shrinker", "tracepoints",
		"gc_phase", "gc_pause",
	};
	const char *tr = getenv("GCHEAP_TRACE");

	printf("gcheap-demo: a session cache on a gcheap heap, %s backend", backend);
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	if (kfd >= 0 && !ioctl(kfd, GCH_IOC_VERSION, &v)) {
		heap_id = v.heap_id;
		printf(" (/dev/gcheap: abi %u, heap %llu, features", v.abi_version,
		       (unsigned long long)v.heap_id);
		for (unsigned int i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
			if (v.features & (1ULL << i))
				printf(" %s", feats[i]);
		printf(")");
	}
	printf("\n  %ld CPUs, MemTotal %ld MiB, pid %d; GCHEAP_TRACE=%s%s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), meminfo_kb("MemTotal") / 1024,
	       getpid(), tr ? tr : "", tr && strstr(tr, "gc") ? "" :
	       " (set GCHEAP_TRACE=gc for a line per collection)");
	if (!on_kernel)
		printf("  the in-process backend has no scavenger, shrinker or tracepoints:"
		       " the idle phase only waits, pressure and tracing are skipped\n");
}

/*
 * Idle: wait until the heap's free resident memory is within the
 * scavenger's budget, as the kernel computes it.  Measured from the purge:
 * the scavenger starts as soon as the collector has swept, while the cache
 * still churns, and on a slow machine it may be done before idle begins.
 */
static void phase_idle(void)
{
	struct gch_stats ks;
	double t0;

	phase_begin("idle", "nothing allocates; the background scavenger gives free pages "
		    "above the collector's budget back (at most %.0f s)", opt.idle_max_s);
	t0 = now();
	idle.t0 = t0;
	if (!on_kernel) {
		struct gch_heap_stats hs;

		sleep_s(2);
		gch_stats(heap, &hs);
		printf("   in-process backend: no scavenger, resident stays %.1f MiB\n",
		       mb(hs.resident_bytes));
		phase_end();
		return;
	}
	idle.resident_before = mb(purge_ks.resident_bytes);
	kstats(&ks);
	for (;;) {
		uint64_t keep = ks.heap_goal + ks.heap_goal / 10;
		uint64_t used = ks.span_pages * GCH_PAGE_SIZE;

		idle.budget = keep > used ? keep - used : 0;
		idle.free_after = ks.free_resident_bytes;
		if (!idle.reached && ks.free_resident_bytes <= idle.budget) {
			idle.reached = true;
			idle.t_down = now() - t_purge;
		}
		/* stay a little longer, so the picture shows the floor */
		if ((idle.reached && now() - t0 >= 1.5) || now() - t0 >= opt.idle_max_s)
			break;
		sleep_s(0.05);
		kstats(&ks);
	}
	idle.resident_after = mb(ks.resident_bytes);
	idle.released_bg = ks.released_bg_bytes - purge_ks.released_bg_bytes;
	if (idle.reached)
		printf("   since the purge: resident %.1f MiB -> %.1f MiB; the background scavenger "
		       "released %.1f MiB and was within its budget %.2f s after the purge "
		       "(free resident %.1f MiB <= goal %.1f MiB + 10%% - %.1f MiB in spans "
		       "= %.1f MiB)\n", idle.resident_before, idle.resident_after,
		       mb(idle.released_bg), idle.t_down, mb(idle.free_after), mb(ks.heap_goal),
		       mb(ks.span_pages * GCH_PAGE_SIZE), mb(idle.budget));
	else
		printf("   since the purge: resident %.1f MiB -> %.1f MiB, but free resident %.1f MiB "
		       "is still above the budget of %.1f MiB after %.0f s of idling\n",
		       idle.resident_before, idle.resident_after, mb(idle.free_after),
		       mb(idle.budget), opt.idle_max_s);
	idle.done = true;
	phase_end();
}

/*
 * Leave the heap some free pages for the shrinker to take.  The idle
 * phase's scavenger gave back every free page above its budget (goal + 10%
 * - bytes in spans), so a heap that just shrank has none, and its budget
 * is small: the goal follows the small live heap, while the survivors of
 * the drop keep sparse spans in use.  A service that expects a burst to
 * come back raises its GC percent (Go's GOGC) to keep memory for it: the
 * goal, and with it what the scavenger keeps, grows.  Then a burst of new
 * sessions arrives and ends before anything else is written, so its
 * sessions fill spans of their own; the collection that follows (gch_gc)
 * frees those spans whole, and as the sweeper hands them back the
 * scavenger keeps them within its budget.  (Churning the cache instead
 * leaves garbage scattered over spans that stay in use: few pages come
 * free, and whether any do is chance.)  Returns the GC percent to restore.
 */
static int burst_ends(struct gch_stats *ks)
{
	uint64_t n = (uint64_t)opt.live_mib * 1024 * 1024 / entry_bytes();
	uint64_t first = cache.stamp + 1, before = cache.n;
	int old = gch_set_gc_percent(heap, 400);
	double t0;

	while (cache.n < before + n)
		insert(cache.next_id++);
	expire_stamps(first, UINT64_MAX);
	if (gch_gc(heap))
		die("gch_gc: %s", strerror(errno));
	t0 = mono();
	do {
		sleep_s(SAMPLE_MS / 1000.0);
		kstats(ks);
	} while (ks->free_resident_bytes < (1ULL << 20) && mono() - t0 < 10);
	printf("   GC percent %d -> 400 for the next burst; a burst of %llu sessions"
	       " came and went (gch_gc); %llu sessions left\n", old,
	       (unsigned long long)n, (unsigned long long)cache.n);
	return old;
}

static void phase_pressure(void)
{
	static char fdarg[] = "3";
	char kib[24];
	struct gch_stats ks0, ks;
	int pfd[2], status = 0, old_percent = -2;
	double t0, last_growth = 0, ready_t = 0, poked = 0;
	bool exited = false, pipe_open = true;
	uint64_t last;
	char *prog;
	pid_t pid;

	if (!opt.hog || !on_kernel) {
		printf("\n   (no memory pressure phase: %s)\n", !on_kernel ?
		       "the in-process backend has no shrinker" :
		       "run with --hog to start gcheap-hog, which fills this machine's "
		       "free memory until kswapd wakes");
		return;
	}
	prog = find_prog(opt.hog_prog, "gcheap-hog");
	phase_begin("pressure", "gcheap-hog takes the machine's free memory until kswapd "
		    "wakes; the gcheap shrinker gives the heap's free pages back");
	if (!prog) {
		printf("   gcheap-hog not found (next to gcheap-demo or on PATH)\n");
		phase_end();
		return;
	}
	kstats(&ks0);
	if (ks0.free_resident_bytes < (1ULL << 20))
		old_percent = burst_ends(&ks0);
	last = ks0.released_shrink_bytes;
	printf("   before: resident %.1f MiB, of it %.1f MiB free pages the scavenger keeps\n",
	       mb(ks0.resident_bytes), mb(ks0.free_resident_bytes));
	if (pipe2(pfd, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	/* the hog may go as far as direct reclaim only on memory it can take */
	snprintf(kib, sizeof(kib), "%llu",
		 (unsigned long long)(ks0.free_resident_bytes / 1024));
	fflush(stdout);
	t0 = now();
	rec.hog_t0 = t0;
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		/* only async-signal-safe calls between fork and exec */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (pfd[1] == 3)
			fcntl(3, F_SETFD, 0);
		else
			dup2(pfd[1], 3);	/* the copy has no FD_CLOEXEC */
		execl(prog, "gcheap-hog", "--notify", fdarg, "--reclaimable", kib,
		      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	pressure.ran = true;
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		double t;

		if (pipe_open && poll(&p, 1, SAMPLE_MS) > 0) {
			char buf[64];
			ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);

			if (n > 0 && !strncmp(buf, "ready ", 6)) {
				buf[n] = 0;
				pressure.hog_mib = strtoull(buf + 6, NULL, 10);
				pressure.ready = true;
				ready_t = poked = now() - t0;
			}
			pipe_open = false;
		} else if (!pipe_open) {
			sleep_s(SAMPLE_MS / 1000.0);
		}
		t = now() - t0;
		kstats(&ks);
		if (ks.released_shrink_bytes != last) {
			if (!pressure.t_first)
				pressure.t_first = t;
			last = ks.released_shrink_bytes;
			last_growth = t;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			break;
		}
		/* no release 2 s after the hog holds: ask it to squeeze again */
		if (pressure.ready && !pressure.t_first && t - poked >= 2) {
			kill(pid, SIGUSR1);
			poked = t;
			pressure.pokes++;
		}
		/* done when the shrinker has been quiet for 1.5 s, or never ran */
		if (pressure.ready && pressure.t_first && t - last_growth >= 1.5)
			break;
		if (pressure.ready && t - ready_t >= 20)
			break;
		if (t >= opt.pressure_max_s)
			break;
	}
	close(pfd[0]);
	if (!exited) {
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
	}
	rec.hog_t1 = now();
	pressure.status = status;
	kstats(&ks);
	pressure.released = ks.released_shrink_bytes - ks0.released_shrink_bytes;
	pressure.secs = pressure.t_first;
	if (exited || !WIFEXITED(status) || WEXITSTATUS(status))
		printf("   gcheap-hog %s (status %#x)\n", exited ? "ended early" : "failed",
		       status);
	if (pressure.pokes)
		printf("   (asked gcheap-hog %d times to squeeze again)\n", pressure.pokes);
	if (pressure.released)
		printf("   the shrinker released %.1f MiB (%llu bytes) of free heap pages, "
		       "the first %.2f s after the hog started; now resident %.1f MiB, "
		       "%.1f MiB of it free\n",
		       mb(pressure.released), (unsigned long long)pressure.released,
		       pressure.t_first, mb(ks.resident_bytes), mb(ks.free_resident_bytes));
	else
		printf("   the shrinker released nothing (the hog %s)\n",
		       pressure.ready ? "held its memory" : "never got ready");
	if (old_percent != -2)
		gch_set_gc_percent(heap, old_percent);
	phase_end();
}

/* The tracepoints against the counters: one row per counter. */
static int compare_row(const char *what, unsigned long long lib, bool has_lib,
		       unsigned long long kern, unsigned long long tr, const char *unit)
{
	bool eq = kern == tr && (!has_lib || lib == kern);
	char l[32] = "-";

	if (has_lib)
		snprintf(l, sizeof(l), "%llu", lib);
	printf("   %-26s %14s %16llu %16llu %s  %s\n", what, l, kern, tr, unit,
	       eq ? "equal" : "DIFFERENT");
	return eq;
}

/*
 * gcheap-trace's totals beside the counters.  @k1 was read before the tool
 * stopped; the counters are read again after, and the tool's figures,
 * read in between, must equal them (the heap is still by now: nothing
 * allocates, nothing is left to release; were it not, the note says so).
 * Sets *rows and *equal.
 */
static void tracer_report(char *log, const struct gch_gc_stats *gs,
			  const struct gch_stats *k1, int *rows, int *equal)
{
	struct gch_stats k2;
	struct trace_sums s;
	char *line, *save = NULL;
	bool skip_zeros = false;

	trace_sum(log, &s);
	kstats(&k2);
	printf("\n== the tracepoints count what the stats report\n");
	printf("   gcheap-trace's own report (final summary, histograms):\n");
	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long lo, hi, count;

		if (strstr(line, "Ctrl-C") || strstr(line, "detached"))
			continue;
		/* a histogram's empty buckets below its first count: left out */
		if (strstr(line, ": count    distribution"))
			skip_zeros = true;
		else if (sscanf(line, " %llu -> %llu : %llu", &lo, &hi, &count) == 3) {
			if (skip_zeros && !count)
				continue;
			skip_zeros = false;
		}
		printf("   | %s\n", line);
	}
	*rows = *equal = 0;
	if (!s.lines) {
		printf("   gcheap-trace printed no summary for heap %llu\n", heap_id);
		return;
	}
	printf("   %-26s %14s %16s %16s\n", "counter", "library", "GCH_IOC_STATS",
	       "gcheap-trace");
#define ROW(w, hl, l, k, t, u) do {						\
		++*rows;							\
		*equal += compare_row(w, l, hl, k, t, u);			\
	} while (0)
	ROW("span allocations", false, 0, k2.alloc_calls, s.spans_alloc, "");
	ROW("span free calls", false, 0, k2.free_calls, s.free_calls, "");
	ROW("spans freed", false, 0, k2.spans_freed, s.spans_freed, "");
	ROW("heap pages in spans", false, 0, k2.span_pages, s.pages_alloc - s.pages_freed, "");
	for (int r = 0; r < NREL; r++) {
		const uint64_t kv[NREL] = {
			k2.released_bg_bytes, k2.released_eager_bytes,
			k2.released_shrink_bytes, k2.released_memcg_bytes,
			k2.released_ioctl_bytes,
		};
		char what[40];

		snprintf(what, sizeof(what), "released, %s", rel_names[r]);
		ROW(what, false, 0, kv[r], s.rel[r] * (unsigned long long)psize, "bytes");
	}
	ROW("last GC cycle", true, gs->cycles, k2.gc_cycle, s.gc_last, "");
	ROW("GC pauses", true, gs->pauses, k2.gc_pauses, s.gc_pauses, "");
	ROW("GC pause time", false, 0, k2.gc_pause_ns, s.pause_ns, "ns");
	ROW("limit hits", false, 0, k2.limit_hits, s.limit_hits, "");
#undef ROW
	printf("   (the library times its pauses apart from what it announces: its own total\n"
	       "   is %llu ns, longest %llu ns; the longest announced, per gcheap-trace: %llu ns)\n",
	       (unsigned long long)gs->pause_total_ns, (unsigned long long)gs->pause_max_ns,
	       s.pause_max_ns);
	if (memcmp(k1, &k2, sizeof(k2)))
		printf("   note: the heap's counters moved while gcheap-trace stopped; "
		       "compared with the later ones\n");
}

static void emit(const char *what, const char *path, void (*fn)(FILE *, const struct run *))
{
	FILE *f;

	if (!path || !strcmp(path, "none"))
		return;
	if (!strcmp(path, "-")) {
		fflush(stdout);
		printf("-----BEGIN GCHEAP-DEMO %s-----\n", what);
		fn(stdout, &rec);
		printf("-----END GCHEAP-DEMO %s-----\n", what);
		fflush(stdout);
		return;
	}
	f = fopen(path, "w");
	if (!f) {
		printf("gcheap-demo: cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	fn(f, &rec);
	if (fclose(f))
		printf("gcheap-demo: writing %s: %s\n", path, strerror(errno));
	else
		printf("gcheap-demo: wrote %s (%zu samples)\n", path, rec.n);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "live", required_argument, NULL, 'l' },
		{ "burst", required_argument, NULL, 'b' },
		{ "churn", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "idle-max", required_argument, NULL, 'i' },
		{ "hog", no_argument, NULL, 'H' },
		{ "no-trace", no_argument, NULL, 'T' },
		{ "tracer", required_argument, NULL, 't' },
		{ "hog-prog", required_argument, NULL, 'P' },
		{ "svg", required_argument, NULL, 's' },
		{ "csv", required_argument, NULL, 'C' },
		{ "short", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct gch_options o = { .size = sizeof(o) };
	struct gch_gc_stats gs;
	struct gch_stats ks;
	uint64_t n_live, ops, rel_total = 0, rel[NREL] = { 0 };
	const char *be = getenv("GCHEAP_BACKEND");
	char title[256], subtitle[512], *log = NULL;
	int c, trace_rows = 0, trace_equal = 0;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'l': opt.live_mib = atoi(optarg); break;
		case 'b': opt.burst_x = atoi(optarg); break;
		case 'c': opt.churn_s = atof(optarg); break;
		case 'r': opt.rate = atoi(optarg); break;
		case 'i': opt.idle_max_s = atof(optarg); break;
		case 'H': opt.hog = true; break;
		case 'T': opt.trace = false; break;
		case 't': opt.tracer = optarg; break;
		case 'P': opt.hog_prog = optarg; break;
		case 's': opt.svg = optarg; break;
		case 'C': opt.csv = optarg; break;
		case 'S':
			opt.short_run = true;
			opt.live_mib = 8;
			opt.churn_s = 3;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !opt.live_mib || opt.burst_x < 1) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);
	rec.hog_t0 = rec.hog_t1 = -1;
	/* if the machine runs out, let it not be us (root only; else ignored) */
	set_oom_score_adj("-900");

	/* the tracer first: its counts must start with the heap's */
	if (opt.trace && !(be && !strcmp(be, "host")) && !access("/dev/gcheap", F_OK))
		start_tracer();
	/* times are from here, as GCHEAP_TRACE's are from the first gch_open() */
	t_start = mono();
	heap = gch_open(&o);
	if (!heap)
		die("gch_open: %s", strerror(errno));
	backend = gch_backend_name(heap);
	on_kernel = !strcmp(backend, "kernel");
	if (on_kernel)
		kfd = find_kernel_fd();
	if (gch_add_roots(&cache, sizeof(cache), NULL))
		die("gch_add_roots: %s", strerror(errno));
	header();
	if (!on_kernel && tracer_pid > 0)
		free(stop_tracer());

	cache.nbuckets = 1024;
	cache.buckets = must(gch_malloc(heap, cache.nbuckets * sizeof(*cache.buckets)));
	n_live = (uint64_t)opt.live_mib * 1024 * 1024 / entry_bytes();
	if (pthread_create(&sampler_tid, NULL, sampler, NULL))
		die("pthread_create failed");

	phase_begin("warm-up", "fill the cache with %llu sessions (about %u MiB live)",
		    (unsigned long long)n_live, opt.live_mib);
	while (cache.n < n_live)
		insert(cache.next_id++);
	phase_end();

	phase_begin("churn", "gets, sets and evictions at %u ops/s for %.0f s", opt.rate,
		    opt.churn_s);
	ops = churn(opt.churn_s, opt.churn_s, opt.rate, 0);
	printf("   %llu operations (%.0f/s); %llu gets, %.0f%% hits; %llu sets; %llu evictions\n",
	       (unsigned long long)ops, ops / opt.churn_s, (unsigned long long)cache.gets,
	       cache.gets ? 100.0 * cache.hits / cache.gets : 0.0,
	       (unsigned long long)cache.sets, (unsigned long long)cache.evictions);
	phase_end();

	phase_begin("burst", "%llu new sessions arrive at once: the cache grows %ux",
		    (unsigned long long)(n_live * (opt.burst_x - 1)), opt.burst_x);
	while (cache.n < n_live * opt.burst_x)
		insert(cache.next_id++);
	phase_end();

	phase_begin("drop", "all sessions but the newest tenth expire; the program asks for "
		    "a collection (gch_gc) and serves on at its new size until the next one");
	kstats(&purge_ks);
	expire_all_but(cache.n / 10);
	printf("   %llu sessions left; gch_gc()\n", (unsigned long long)cache.n);
	if (gch_gc(heap))
		die("gch_gc: %s", strerror(errno));
	t_purge = now();
	print_state("after gch_gc at");
	gstats(&gs);
	ops = churn(1, opt.drop_max_s, opt.rate, gs.cycles + 1);
	printf("   %llu operations on the smaller cache\n", (unsigned long long)ops);
	phase_end();

	phase_idle();
	phase_pressure();
	__atomic_store_n(&cur_phase, -1, __ATOMIC_RELAXED);

	/* the end: the heap is still now; stop recording, then the tracer */
	__atomic_store_n(&sampler_stop, true, __ATOMIC_RELAXED);
	pthread_join(sampler_tid, NULL);
	record_sample();
	gstats(&gs);
	kstats(&ks);
	if (tracer_pid > 0)
		log = stop_tracer();
	if (on_kernel) {
		rel[REL_BG] = ks.released_bg_bytes;
		rel[REL_EAGER] = ks.released_eager_bytes;
		rel[REL_SHRINK] = ks.released_shrink_bytes;
		rel[REL_MEMCG] = ks.released_memcg_bytes;
		rel[REL_IOCTL] = ks.released_ioctl_bytes;
		for (int r = 0; r < NREL; r++)
			rel_total += rel[r];
	}

	printf("\n== summary\n");
	printf("   %llu GC cycles (%llu forced), %llu pauses: longest %.2f ms, median %.3f ms, "
	       "total %.1f ms; collector CPU %.0f ms\n",
	       (unsigned long long)gs.cycles, (unsigned long long)gs.forced_cycles,
	       (unsigned long long)gs.pauses, gs.pause_max_ns / 1e6, gs.pause_p50_ns / 1e6,
	       gs.pause_total_ns / 1e6, gs.gc_cpu_ns / 1e6);
	printf("   allocated %.1f MiB in %llu objects; the collector reclaimed %.1f MiB in "
	       "%llu objects; %llu objects (%.1f MiB) live at the last cycle\n",
	       mb(gs.alloc_bytes), (unsigned long long)gs.alloc_objects, mb(gs.free_bytes),
	       (unsigned long long)gs.free_objects, (unsigned long long)gs.heap_objects,
	       mb(gs.heap_live_bytes));
	if (on_kernel) {
		printf("   memory given back to the system: %.1f MiB (%llu bytes)\n",
		       mb(rel_total), (unsigned long long)rel_total);
		static const char *const who[NREL] = {
			"background scavenger", "eager scavenger (soft limit)",
			"shrinker (memory pressure)", "memcg reclaim", "GCH_IOC_SCAVENGE (ioctl)",
		};
		for (int r = 0; r < NREL; r++)
			printf("     %-30s %8.1f MiB %12llu bytes\n", who[r], mb(rel[r]),
			       (unsigned long long)rel[r]);
		printf("   now: resident %.1f MiB, %.1f MiB in spans, %.1f MiB free resident\n",
		       mb(ks.resident_bytes), mb(ks.span_pages * GCH_PAGE_SIZE),
		       mb(ks.free_resident_bytes));
	} else {
		printf("   memory given back: none (the in-process backend keeps its pages)\n");
	}

	if (log)
		tracer_report(log, &gs, &ks, &trace_rows, &trace_equal);

	printf("\n== checks\n");
	check(gs.cycles >= 3 && gs.pauses > 0, "collections ran: %llu cycles, %llu pauses",
	      (unsigned long long)gs.cycles, (unsigned long long)gs.pauses);
	if (on_kernel && idle.done)
		check(idle.reached && idle.resident_after < idle.resident_before,
		      "after the drop resident memory came down, %.1f -> %.1f MiB, within the "
		      "scavenger's budget %.2f s after the purge (idle limit %.0f s)",
		      idle.resident_before, idle.resident_after,
		      idle.reached ? idle.t_down : opt.idle_max_s, opt.idle_max_s);
	else
		check(-1, "the scavenger after the drop (%s backend)", backend);
	if (pressure.ran)
		check(pressure.released > 0, "the shrinker released %llu bytes under the hog",
		      (unsigned long long)pressure.released);
	else
		check(-1, "the shrinker under memory pressure (%s)",
		      on_kernel ? "no --hog" : "in-process backend");
	if (log)
		check(trace_rows > 0 && trace_equal == trace_rows,
		      "gcheap-trace (%s) counted what the stats report: %d of %d counters equal",
		      tracer_mode, trace_equal, trace_rows);
	else
		check(-1, "gcheap-trace's counts against the stats (%s)",
		      on_kernel ? "no tracer" : "in-process backend");

	snprintf(title, sizeof(title), "gcheap-demo: a session cache on the %s backend "
		 "(%ld CPUs, MemTotal %ld MiB)", backend, sysconf(_SC_NPROCESSORS_ONLN),
		 meminfo_kb("MemTotal") / 1024);
	snprintf(subtitle, sizeof(subtitle), "%llu GC cycles, longest pause %.2f ms; "
		 "allocated %.0f MiB, reclaimed %.0f MiB; given back %.1f MiB: scavenger "
		 "%.1f, shrinker %.1f, eager %.1f, memcg %.1f, ioctl %.1f",
		 (unsigned long long)gs.cycles, gs.pause_max_ns / 1e6, mb(gs.alloc_bytes),
		 mb(gs.free_bytes), mb(rel_total), mb(rel[REL_BG]), mb(rel[REL_SHRINK]),
		 mb(rel[REL_EAGER]), mb(rel[REL_MEMCG]), mb(rel[REL_IOCTL]));
	rec.title = title;
	rec.subtitle = subtitle;
	printf("\n");
	emit("CSV", opt.csv, write_csv);
	emit("SVG", opt.svg, plot_svg);
	/* "N passed, N failed": what scripts/vm counts for `make demo` */
	printf("gcheap-demo: checks: %d passed, %d failed, %d skipped\n", checks_passed,
	       checks_failed, checks_skipped);
	free(log);
	if (tracer_log[strlen(tracer_log) - 1] != 'X')
		unlink(tracer_log);
	return checks_failed ? 1 : 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * gcheap-trace: watch gcheap heaps allocate, free and give memory back, live.
 *
 * Attaches BPF programs to the gcheap.ko tracepoints (trace_load.c: tp_btf
 * with module BTF, raw_tp without), then
 *  - prints each event as it happens (ring buffer; -q turns this off),
 *  - every -i seconds prints, per heap, what happened in the interval: spans
 *    allocated and freed, memory released by the background scavenger, the
 *    eager scavenger, the shrinker and GCH_IOC_SCAVENGE, shrinker scans, GC
 *    cycles announced, the collector's stop-the-world pauses (count, total
 *    and the longest so far), limit hits,
 *  - at the end, log2 histograms of release latency and of pages per release,
 *    one per release reason.
 * The counts come from BPF maps, not from the stream, so they are exact even
 * when the ring buffer drops records (the drops are reported).
 *
 * Per-interval figures are deltas of the maps' ever-growing counters against
 * the previous snapshot, kept here per heap; a heap's map entry is deleted
 * after the interval that reported its destruction.
 *
 * Without the module: a clear error, or with -w, wait until it is loaded.
 * Stop with Ctrl-C (SIGINT) or SIGTERM, or -d: the last partial interval and
 * the histograms are printed, then every BPF link is released (the module
 * can be unloaded again).
 */
#include <argp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "trace_load.h"

static struct env {
	pid_t pid;
	unsigned int interval;
	unsigned int duration;
	bool quiet;
	bool wait;
	bool verbose;
	enum gtr_mode mode;
} env = {
	.interval = 1,
};

static volatile sig_atomic_t exiting;

const char *argp_program_version = "gcheap-trace 1.0";
static const char doc[] =
"Trace gcheap heaps: live events, per-interval summaries per heap, and\n"
"histograms of scavenge latency and pages per release.\n"
"\n"
"Released memory is counted in system pages (the kernel's PAGE_SIZE); spans\n"
"in gcheap heap pages (8 KiB).\n"
"\n"
"EXAMPLES:\n"
"    gcheap-trace              # every heap, events and 1 s summaries\n"
"    gcheap-trace -q -i 5      # summaries only, every 5 s\n"
"    gcheap-trace -p 181       # heaps owned by process 181\n"
"    gcheap-trace -w -d 30     # wait for gcheap.ko, trace for 30 s\n"
"    gcheap-trace -m raw       # force raw_tp even with module BTF\n";

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "Only heaps owned by this process", 0 },
	{ "interval", 'i', "SECS", 0, "Summary interval (default 1)", 0 },
	{ "duration", 'd', "SECS", 0, "Stop after this long (default: Ctrl-C)", 0 },
	{ "quiet", 'q', NULL, 0, "No live event stream, summaries only", 0 },
	{ "wait", 'w', NULL, 0, "Wait for gcheap.ko to be loaded", 0 },
	{ "mode", 'm', "MODE", 0, "auto (default), btf (tp_btf) or raw (raw_tp)", 0 },
	{ "verbose", 'v', NULL, 0, "Print libbpf's debug log", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{ 0 },
};

static unsigned long parse_num(const char *arg, struct argp_state *state,
			       unsigned long min)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v < min || v > 0x7fffffffUL)
		argp_error(state, "invalid number '%s'", arg);
	return v;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'p':
		env.pid = parse_num(arg, state, 1);
		break;
	case 'i':
		env.interval = parse_num(arg, state, 1);
		break;
	case 'd':
		env.duration = parse_num(arg, state, 1);
		break;
	case 'q':
		env.quiet = true;
		break;
	case 'w':
		env.wait = true;
		break;
	case 'v':
		env.verbose = true;
		break;
	case 'm':
		if (!strcmp(arg, "auto"))
			env.mode = GTR_MODE_AUTO;
		else if (!strcmp(arg, "btf"))
			env.mode = GTR_MODE_BTF;
		else if (!strcmp(arg, "raw"))
			env.mode = GTR_MODE_RAW;
		else
			argp_error(state, "mode must be auto, btf or raw");
		break;
	case 'h':
		argp_state_help(state, stderr, ARGP_HELP_STD_HELP);
		break;
	case ARGP_KEY_ARG:
		argp_usage(state);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (level == LIBBPF_DEBUG && !env.verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "HH:MM:SS" of wall-clock time for a CLOCK_MONOTONIC instant in ns. */
static void fmt_time(char *buf, size_t len, unsigned long long mono_ns,
		     bool usec)
{
	struct timespec rt, mt;
	long long wall_ns;
	time_t secs;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	wall_ns = (long long)rt.tv_sec * 1000000000LL + rt.tv_nsec -
		  ((long long)mt.tv_sec * 1000000000LL + mt.tv_nsec) +
		  (long long)mono_ns;
	secs = wall_ns / 1000000000LL;
	localtime_r(&secs, &tm);
	if (usec)
		snprintf(buf, len, "%02d:%02d:%02d.%06lld", tm.tm_hour,
			 tm.tm_min, tm.tm_sec, wall_ns % 1000000000LL / 1000);
	else
		snprintf(buf, len, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
}

static const char *const reason_names[GTR_NREASONS] = {
	[GTR_REL_IOCTL] = "ioctl", [GTR_REL_BG] = "bg",
	[GTR_REL_EAGER] = "eager", [GTR_REL_SHRINK] = "shrink",
	[GTR_REL_MEMCG] = "memcg", [GTR_REL_OTHER] = "other",
};

static const char *const phase_names[] = {
	[GTR_GC_MARK_START] = "mark_start", [GTR_GC_MARK_END] = "mark_end",
	[GTR_GC_SWEEP_END] = "sweep_end",
};

static const char *phase_name(unsigned long long p)
{
	return p < 4 && p ? phase_names[p] : "?";
}

static const char *const pause_names[] = {
	[GTR_PAUSE_MARK_START] = "mark_start",
	[GTR_PAUSE_MARK_TERM] = "mark_term", [GTR_PAUSE_STW] = "stw",
};

static const char *pause_name(unsigned long long k)
{
	return k && k <= GTR_PAUSE_STW ? pause_names[k] : "?";
}

/* ------------------------------------------------------------ live stream */

static void print_details(const struct gtr_event *e)
{
	switch (e->type) {
	case GTR_SPAN_ALLOC:
		printf(" page=%llu npages=%llu zeroed=%llu", e->a, e->b, e->c);
		break;
	case GTR_SPANS_FREE:
		printf(" count=%llu npages=%llu", e->a, e->b);
		break;
	case GTR_LIMIT_HIT:
		printf(" npages=%llu span_pages=%llu limit=%llu which=%s", e->a,
		       e->b, e->c, e->d ? "module" : "heap");
		break;
	case GTR_PAGES_RELEASE:
		printf(" reason=%s bytes=%llu pages=%llu us=%llu",
		       reason_names[e->c < GTR_NREASONS ? e->c : GTR_REL_OTHER],
		       e->a, e->a / sysconf(_SC_PAGESIZE), e->b / 1000);
		break;
	case GTR_SHRINK_SCAN:
		printf(" asked=%llu freed=%llu", e->a, e->b);
		break;
	case GTR_GC_PHASE:
		printf(" cycle=%llu phase=%s live=%llu goal=%llu", e->b,
		       phase_name(e->a), e->c, e->d);
		break;
	case GTR_GC_PAUSE:
		/* ns, not us: the pauses to see are well under a millisecond */
		printf(" cycle=%llu kind=%s ns=%llu", e->b, pause_name(e->a),
		       e->c);
		break;
	}
}

static int on_event(void *ctx, void *data, size_t len)
{
	static const char *const names[GTR_NTYPES] = {
		[GTR_HEAP_CREATE] = "heap_create",
		[GTR_HEAP_DESTROY] = "heap_destroy",
		[GTR_SPAN_ALLOC] = "span_alloc",
		[GTR_SPANS_FREE] = "spans_free",
		[GTR_LIMIT_HIT] = "limit_hit",
		[GTR_PAGES_RELEASE] = "pages_release",
		[GTR_SHRINK_SCAN] = "shrink_scan",
		[GTR_GC_PHASE] = "gc_phase",
		[GTR_GC_PAUSE] = "gc_pause",
	};
	const struct gtr_event *e = data;
	char ts[32];

	(void)ctx;
	if (len < sizeof(*e) || e->type >= GTR_NTYPES)
		return 0;
	fmt_time(ts, sizeof(ts), e->ts, true);
	printf("%s %-16.16s %-7u %-13s heap=%llu pid=%u", ts, e->comm, e->tid,
	       names[e->type], (unsigned long long)e->heap, e->pid);
	print_details(e);
	putchar('\n');
	return 0;
}

/* ------------------------------------------------------------ summaries */

struct heap_seen {
	unsigned long long id;
	struct gtr_heap_stats last;
};

static struct heap_seen *seen;
static size_t nseen, capseen;

static struct heap_seen *heap_seen(unsigned long long id)
{
	size_t i;

	for (i = 0; i < nseen; i++)
		if (seen[i].id == id)
			return &seen[i];
	if (nseen == capseen) {
		capseen = capseen ? 2 * capseen : 64;
		seen = realloc(seen, capseen * sizeof(*seen));
		if (!seen) {
			perror("gcheap-trace: realloc");
			exit(1);
		}
	}
	memset(&seen[nseen], 0, sizeof(seen[nseen]));
	seen[nseen].id = id;
	return &seen[nseen++];
}

static void heap_forget(struct heap_seen *h)
{
	*h = seen[--nseen];
}

#define D(f)	(cur->f - old->f)

static bool stats_changed(const struct gtr_heap_stats *cur,
			  const struct gtr_heap_stats *old)
{
	return memcmp(cur, old, sizeof(*cur)) != 0;
}

static void print_heap_delta(const char *ts, unsigned long long id,
			     const struct gtr_heap_stats *cur,
			     const struct gtr_heap_stats *old, long psize)
{
	printf("%s heap=%llu pid=%u spans_alloc=%llu pages_alloc=%llu "
	       "spans_freed=%llu pages_freed=%llu free_calls=%llu "
	       "rel_bg=%llu rel_eager=%llu rel_shrink=%llu rel_memcg=%llu "
	       "rel_ioctl=%llu ",
	       ts, id, cur->pid, D(spans_alloc), D(pages_alloc),
	       D(spans_freed), D(pages_freed), D(free_calls),
	       D(released_bytes[GTR_REL_BG]) / psize,
	       D(released_bytes[GTR_REL_EAGER]) / psize,
	       D(released_bytes[GTR_REL_SHRINK]) / psize,
	       D(released_bytes[GTR_REL_MEMCG]) / psize,
	       D(released_bytes[GTR_REL_IOCTL]) / psize);
	if (D(released_bytes[GTR_REL_OTHER]))
		printf("rel_other=%llu ",
		       D(released_bytes[GTR_REL_OTHER]) / psize);
	printf("releases=%llu shrink_scans=%llu shrink_asked=%llu "
	       "shrink_freed=%llu gc_cycles=%llu gc_last=%llu gc_pauses=%llu "
	       "pause_ns=%llu pause_max_ns=%llu limit_hits=%llu%s%s\n",
	       D(releases[GTR_REL_BG]) + D(releases[GTR_REL_EAGER]) +
	       D(releases[GTR_REL_SHRINK]) + D(releases[GTR_REL_MEMCG]) +
	       D(releases[GTR_REL_IOCTL]) +
	       D(releases[GTR_REL_OTHER]),
	       D(shrink_scans), D(shrink_asked), D(shrink_freed),
	       D(gc_cycles), cur->gc_last_cycle, D(gc_pauses), D(gc_pause_ns),
	       cur->gc_pause_max_ns, D(limit_hits),
	       D(created) ? " created" : "", D(destroyed) ? " destroyed" : "");
}

#undef D

static void print_summary(const struct gtr_session *s, bool final)
{
	unsigned long long key, next, *keys = NULL;
	struct gtr_heap_stats cur;
	struct timespec mt;
	size_t n = 0, cap = 0, i;
	bool any = false, first = true;
	struct heap_seen *h;
	char ts[16];

	clock_gettime(CLOCK_MONOTONIC, &mt);
	fmt_time(ts, sizeof(ts), mt.tv_sec * 1000000000ULL + mt.tv_nsec, false);
	/* collect the keys first: entries are deleted below */
	while (bpf_map_get_next_key(s->heaps_fd, first ? NULL : &key,
				    &next) == 0) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			keys = realloc(keys, cap * sizeof(*keys));
			if (!keys) {
				perror("gcheap-trace: realloc");
				exit(1);
			}
		}
		keys[n++] = key = next;
		first = false;
	}
	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(s->heaps_fd, &keys[i], &cur))
			continue;
		h = heap_seen(keys[i]);
		if (stats_changed(&cur, &h->last)) {
			if (!any)
				printf("--- %s %s\n", ts, final ?
				       "final summary" : "summary");
			any = true;
			print_heap_delta(ts, keys[i], &cur, &h->last,
					 s->page_size);
			h->last = cur;
		}
		if (cur.destroyed) {
			bpf_map_delete_elem(s->heaps_fd, &keys[i]);
			heap_forget(h);
		}
	}
	if (!any)
		printf("--- %s %s: no gcheap activity\n", ts,
		       final ? "final summary" : "summary");
	free(keys);
	fflush(stdout);
}

/* ------------------------------------------------------------ histograms */

static void print_stars(unsigned long long v, unsigned long long max, int width)
{
	int n = max ? (int)(v * width / max) : 0, i;

	for (i = 0; i < width; i++)
		putchar(i < n ? '*' : ' ');
}

static void print_log2_hist(const struct gtr_hist *h, const char *unit)
{
	unsigned long long max = 0, lo, hi;
	int i, last = -1;

	for (i = 0; i < GTR_HIST_SLOTS; i++) {
		if (h->slots[i])
			last = i;
		if (h->slots[i] > max)
			max = h->slots[i];
	}
	printf("%*s%-10s : count    distribution\n", 10, "", unit);
	for (i = 0; i <= last; i++) {
		/* slot 0: 0 and 1; slot i: 2^i .. 2^(i+1) - 1 */
		lo = i ? 1ULL << i : 0;
		hi = (1ULL << (i + 1)) - 1;
		printf("%10llu -> %-10llu : %-8llu |", lo, hi, h->slots[i]);
		print_stars(h->slots[i], max, 40);
		printf("|\n");
	}
}

static void print_histograms(const struct gtr_session *s)
{
	static const char *const titles[GTR_NHISTKINDS] = {
		[GTR_HIST_LAT_US] = "scavenge latency",
		[GTR_HIST_PAGES] = "pages per release",
	};
	static const char *const units[GTR_NHISTKINDS] = {
		[GTR_HIST_LAT_US] = "usecs", [GTR_HIST_PAGES] = "pages",
	};
	struct gtr_hist h;
	unsigned int kind, r, key, i;
	bool empty;

	for (kind = 0; kind < GTR_NHISTKINDS; kind++) {
		for (r = 0; r < GTR_NREASONS; r++) {
			key = kind * GTR_NREASONS + r;
			if (bpf_map_lookup_elem(s->hists_fd, &key, &h))
				continue;
			for (empty = true, i = 0; i < GTR_HIST_SLOTS; i++)
				empty &= !h.slots[i];
			if (empty)
				continue;
			printf("\n%s, reason=%s:\n", titles[kind],
			       reason_names[r]);
			print_log2_hist(&h, units[kind]);
		}
	}
}

static void print_counters(const struct gtr_session *s)
{
	unsigned long long lost = 0;
	unsigned int key = GTR_CNT_LOST;

	bpf_map_lookup_elem(s->counters_fd, &key, &lost);
	if (lost)
		fprintf(stderr, "gcheap-trace: %llu events dropped from the live stream (counts are exact)\n",
			lost);
}

/* ------------------------------------------------------------ main */

/* 0 when the module is loaded, 1 to give up (message printed). */
static int wait_for_module(void)
{
	if (gtr_module_loaded())
		return 0;
	if (!env.wait) {
		fprintf(stderr,
			"gcheap-trace: gcheap is not loaded (no /sys/module/gcheap): "
			"load gcheap.ko first, or use -w to wait for it\n");
		return 1;
	}
	fprintf(stderr, "gcheap-trace: gcheap is not loaded; waiting for it (Ctrl-C to quit)\n");
	while (!exiting && !gtr_module_loaded())
		usleep(100 * 1000);
	return exiting;
}

static int attach(struct gtr_session *s)
{
	struct gtr_opts o = { .mode = env.mode, .pid = env.pid,
			      .stream = !env.quiet };
	int err, t, n = 0;

	for (;;) {
		if (wait_for_module())
			return 1;
		err = gtr_attach(s, &o);
		if (err != -ENOENT)
			break;
		/* unloaded between the check and the attach */
		if (!env.wait)
			return wait_for_module();
	}
	if (err)
		return 1;
	for (t = 0; t < GTR_NTYPES; t++)
		n += s->attached[t];
	if (!n) {
		fprintf(stderr, "gcheap-trace: the loaded gcheap has no gcheap_* tracepoints "
			"(no events/gcheap in tracefs, no __tracepoint_gcheap_* in kallsyms)\n");
		gtr_detach(s);
		return 1;
	}
	fprintf(stderr, "gcheap-trace: attached to %d gcheap tracepoints with %s; Ctrl-C to stop\n",
		n, s->mode == GTR_MODE_BTF ? "tp_btf (module BTF)" :
		"raw_tp (no module BTF)");
	for (t = 0; t < GTR_NTYPES; t++)
		if (!s->attached[t])
			fprintf(stderr, "gcheap-trace: this module has no %s tracepoint\n",
				gtr_tp_names[t]);
	return 0;
}

static int run(struct gtr_session *s, struct ring_buffer *rb)
{
	double start = now_mono(), next = start + env.interval;
	int err;

	while (!exiting) {
		if (rb) {
			err = ring_buffer__poll(rb, 100);
			if (err < 0 && err != -EINTR) {
				fprintf(stderr, "gcheap-trace: ring buffer: %s\n",
					strerror(-err));
				return 1;
			}
		} else {
			usleep(100 * 1000);
		}
		fflush(stdout);
		if (env.duration && now_mono() - start >= env.duration)
			break;
		if (now_mono() >= next) {
			print_summary(s, false);
			next += env.interval;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { .options = opts, .parser = parse_arg,
					  .doc = doc };
	struct ring_buffer *rb = NULL;
	struct gtr_session s;
	int err;

	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return 1;
	libbpf_set_print(libbpf_print);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if (attach(&s))
		return 1;
	if (!env.quiet) {
		rb = ring_buffer__new(s.events_fd, on_event, NULL, NULL);
		if (!rb) {
			fprintf(stderr, "gcheap-trace: cannot open the ring buffer\n");
			gtr_detach(&s);
			return 1;
		}
		printf("%-15s %-16s %-7s %-13s %s\n", "TIME", "COMM", "TID",
		       "EVENT", "DETAILS");
	}
	err = run(&s, rb);
	if (rb)
		ring_buffer__consume(rb);
	print_summary(&s, true);
	print_histograms(&s);
	print_counters(&s);
	ring_buffer__free(rb);
	gtr_detach(&s);
	fprintf(stderr, "gcheap-trace: detached\n");
	return err;
}

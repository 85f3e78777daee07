// SPDX-License-Identifier: GPL-2.0
/*
 * gcheap-trace: watch gcheap heaps allocate, free and give memory back, live.
 *
 * Attaches BPF programs to the gcheap.ko tracepoints (trace_load.c: tp_btf
 * with module BTF, raw_tp without), then
 *  - prints each event as it happens (ring buffer; -q and -s turn this off),
 *  - every interval prints, per heap, what happened in the interval: spans
 *    allocated and freed, memory released by the background scavenger, the
 *    eager scavenger, the shrinker, memcg reclaim and GCH_IOC_SCAVENGE,
 *    shrinker scans, GC cycles announced, the collector's stop-the-world
 *    pauses (count, total and the longest so far), limit hits, memory
 *    pressure events and the collector's answers to them (bytes asked and
 *    given back, the longest answer so far) (-s: nothing),
 *  - at the end, per heap, the totals since the tool started (destroyed
 *    heaps included), then log2 histograms of release latency and of pages
 *    per release, one per release reason.
 * The counts come from BPF maps, not from the stream, so they are exact even
 * when the ring buffer drops records (the drops are reported).
 *
 * The command line follows libbpf-tools (runqlat, biolatency): -h/--help,
 * -p PID, positional [INTERVAL [COUNT]], -j for one JSON object per line.
 * Every record goes through the rec_*() helpers, which write either
 * " key=value" words or JSON members, so that text and JSON carry the same
 * keys and cannot drift apart.  In JSON mode stdout holds nothing but
 * objects; messages go to stderr, as they always do.
 *
 * Per-interval figures are deltas of the maps' ever-growing counters against
 * the previous snapshot, kept here per heap.  A heap's map entry is deleted
 * after the interval that reported its destruction (the map is bounded), so
 * its counters are folded into a userspace base first: base + the current
 * entry are the totals since the start, which the end-of-run summary prints
 * even for heaps long gone.  With -s the intervals still run, silently, so
 * that destroyed heaps still leave the map.
 *
 * Without the module: a clear error, or with -w, wait until it is loaded.
 * Stop with Ctrl-C (SIGINT) or SIGTERM, -d, or COUNT intervals: the last
 * partial interval, the totals and the histograms are printed, then every
 * BPF link is released (the module can be unloaded again).
 */
#include <argp.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "trace_load.h"
#include "trace_profile.h"

static struct env {
	pid_t pid;
	unsigned int interval;
	unsigned int duration;
	unsigned int count;	/* intervals before exiting; 0: no limit */
	bool interval_opt;	/* -i given */
	bool quiet;
	bool json;
	bool summary;
	bool wait;
	bool verbose;
	enum gtr_mode mode;
} env = {
	.interval = 1,
};

static volatile sig_atomic_t exiting;

const char *argp_program_version = "gcheap-trace 1.2";
static const char args_doc[] = "[INTERVAL [COUNT]]\nprofile -p PID [-d SECS] [-j] [-o FILE]";
static const char doc[] =
"Trace gcheap heaps: live events, per-interval summaries per heap, the totals\n"
"per heap since the start, and histograms of scavenge latency and pages per\n"
"release.\n"
"\n"
"INTERVAL is the summary interval in seconds (default 1; the same as -i,\n"
"which cannot be given with it), COUNT the number of intervals after which\n"
"the tool prints its final output and exits 0 (default: until Ctrl-C, SIGTERM\n"
"or -d, whichever comes first).  Both are whole numbers, at least 1.\n"
"\n"
"Interval lines count released memory in system pages (rel_*, the kernel's\n"
"PAGE_SIZE); the totals and every JSON object in bytes (released_*_bytes).\n"
"Spans are in gcheap heap pages (8 KiB).\n"
"\n"
"`gcheap-trace profile -p PID` is the heap profile of a running program,\n"
"from libgcheap's USDT probes (no module needed): `gcheap-trace profile\n"
"--help` says more.\n"
"\v"
"EXAMPLES:\n"
"    gcheap-trace              # every heap, events and 1 s summaries\n"
"    gcheap-trace 5 12         # summaries every 5 s, 12 of them, then exit\n"
"    gcheap-trace -q -i 5      # summaries only, every 5 s\n"
"    gcheap-trace -s -d 60     # one minute, then per heap who released what\n"
"    gcheap-trace -j | jq -c 'select(.type == \"interval\")'\n"
"    gcheap-trace -p 181       # heaps owned by process 181\n"
"    gcheap-trace -w -d 30     # wait for gcheap.ko, trace for 30 s\n"
"    gcheap-trace -m raw       # force raw_tp even with module BTF\n"
"\n"
"JSON (-j): one object per line on stdout, nothing else; strings escaped,\n"
"bytes outside printable ASCII as \\u00XX; \"time\" is local wall-clock time,\n"
"\"ts\" seconds since the epoch.  Every object has \"type\":\n"
"  event     one per live event (not with -q or -s): time ts comm tid event\n"
"            heap pid, then the event's fields: span_alloc page npages zeroed;\n"
"            spans_free count npages; limit_hit npages span_pages limit total\n"
"            which; pages_release reason bytes pages ns; shrink_scan asked\n"
"            freed; gc_phase cycle phase live goal; gc_pause cycle kind ns;\n"
"            pressure reason (reclaim|limit) bytes events; pressure_answer\n"
"            bytes latency_ns\n"
"  interval  one per heap with activity per interval (not with -s): time ts\n"
"            heap pid spans_alloc pages_alloc spans_freed pages_freed\n"
"            free_calls released_{bg,eager,shrink,memcg,ioctl}_bytes releases\n"
"            shrink_scans shrink_asked shrink_freed gc_cycles gc_last\n"
"            gc_pauses pause_ns pause_max_ns limit_hits pressure_events\n"
"            pressure_asked_bytes pressure_answers pressure_answered_bytes\n"
"            answer_max_ns created destroyed\n"
"  summary   one per heap at the end, totals since the start: time ts since\n"
"            secs pid heap, the interval's counters, released_total_bytes\n"
"  hist      one per non-empty histogram at the end: hist (latency|pages)\n"
"            unit (usecs|pages) reason buckets [{lo,hi,count}...]\n"
"released_memcg_bytes only when the module has the memcg reason,\n"
"released_other_bytes only when not 0, pressure_* and answer_max_ns only\n"
"when the module has the pressure tracepoints (the same in text lines);\n"
"created/destroyed are true/false.\n"
"\n"
"Pressure: the module raises an event on a heap when reclaim asks for more\n"
"than its free pages hold (reason=reclaim) or its cgroup is at its limit\n"
"(reason=limit); the heap's collector answers by collecting.  pressure\n"
"lines show the cause and the bytes it asked for, pressure_answer lines\n"
"the bytes given back and the latency from the event to the answer, in ns.\n"
"answer_max_ns, like pause_max_ns and gc_last, is since the start.\n";

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "Only heaps owned by this process", 0 },
	{ "interval", 'i', "SECS", 0,
	  "Summary interval (default 1); or give INTERVAL", 0 },
	{ "duration", 'd', "SECS", 0, "Stop after this long (default: Ctrl-C)", 0 },
	{ "quiet", 'q', NULL, 0, "No live event stream, summaries only", 0 },
	{ "summary", 's', NULL, 0,
	  "No events, no interval lines: only the totals per heap (and the "
	  "histograms) at the end", 0 },
	{ "json", 'j', NULL, 0, "One JSON object per line on stdout (see below)", 0 },
	{ "wait", 'w', NULL, 0, "Wait for gcheap.ko to be loaded", 0 },
	{ "mode", 'm', "MODE", 0, "auto (default), btf (tp_btf) or raw (raw_tp)", 0 },
	{ "verbose", 'v', NULL, 0, "Print libbpf's debug log", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{ 0 },
};

/* A whole number >= @min, or an argp error (exit 2) naming @what. */
static unsigned long parse_num(const char *arg, struct argp_state *state,
			       unsigned long min, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = isdigit((unsigned char)*arg) ? strtoul(arg, &end, 10) : 0;
	if (!isdigit((unsigned char)*arg) || errno || *end || v < min ||
	    v > 0x7fffffffUL)
		argp_error(state, "invalid number '%s' for %s (a whole number, %lu or more)",
			   arg, what, min);
	return v;
}

static void parse_positional(char *arg, struct argp_state *state)
{
	switch (state->arg_num) {
	case 0:
		if (env.interval_opt)
			argp_error(state, "the interval is given twice (-i and '%s'): give one",
				   arg);
		env.interval = parse_num(arg, state, 1, "INTERVAL");
		break;
	case 1:
		env.count = parse_num(arg, state, 1, "COUNT");
		break;
	default:
		argp_error(state, "too many arguments ('%s'): only INTERVAL and COUNT",
			   arg);
	}
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'p':
		env.pid = parse_num(arg, state, 1, "-p");
		break;
	case 'i':
		env.interval = parse_num(arg, state, 1, "-i");
		env.interval_opt = true;
		break;
	case 'd':
		env.duration = parse_num(arg, state, 1, "-d");
		break;
	case 'q':
		env.quiet = true;
		break;
	case 's':
		env.summary = true;
		break;
	case 'j':
		env.json = true;
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
		argp_state_help(state, state->out_stream, ARGP_HELP_STD_HELP);
		break;
	case ARGP_KEY_ARG:
		parse_positional(arg, state);
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

/* For `gcheap-trace profile`: libbpf's messages as here, -v its debug log. */
void gtr_libbpf_messages(bool verbose)
{
	env.verbose = verbose;
	libbpf_set_print(libbpf_print);
}

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Wall-clock ns since the epoch of a CLOCK_MONOTONIC instant in ns. */
static long long wall_ns(unsigned long long mono)
{
	struct timespec rt, mt;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	return (long long)rt.tv_sec * 1000000000LL + rt.tv_nsec -
	       ((long long)mt.tv_sec * 1000000000LL + mt.tv_nsec) +
	       (long long)mono;
}

/* "HH:MM:SS[.uuuuuu]" of wall-clock ns since the epoch. */
static void fmt_wall(char *buf, size_t len, long long wall, bool usec)
{
	time_t secs = wall / 1000000000LL;
	struct tm tm;

	localtime_r(&secs, &tm);
	if (usec)
		snprintf(buf, len, "%02d:%02d:%02d.%06lld", tm.tm_hour,
			 tm.tm_min, tm.tm_sec, wall % 1000000000LL / 1000);
	else
		snprintf(buf, len, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
}

static void fmt_time(char *buf, size_t len, unsigned long long mono, bool usec)
{
	fmt_wall(buf, len, wall_ns(mono), usec);
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

/*
 * The cause of a pressure event.  The tracepoint gets the one cause that
 * raised it, but the uAPI makes them bits, so a combination is spelt out
 * rather than shown as unknown.
 */
static const char *pressure_reason(unsigned long long r)
{
	switch (r) {
	case GTR_PRESSURE_RECLAIM:
		return "reclaim";
	case GTR_PRESSURE_LIMIT:
		return "limit";
	case GTR_PRESSURE_RECLAIM | GTR_PRESSURE_LIMIT:
		return "reclaim|limit";
	default:
		return "?";
	}
}

/*
 * Does the module release memory for memcg reclaim?  Its reasons are in the
 * print format of gcheap_pages_release; without tracefs, assume today's
 * module, which has it.
 */
static bool module_has_memcg(void)
{
	const char *ev = gtr_tracefs_events();
	char path[256], buf[8192];
	size_t n;
	FILE *f;

	if (!ev)
		return true;
	snprintf(path, sizeof(path), "%s/gcheap_pages_release/format", ev);
	f = fopen(path, "r");
	if (!f)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, "\"memcg\"") != NULL;
}

static bool has_memcg;
/*
 * Does the module raise pressure events?  Without them (older modules) the
 * pressure counters are left out rather than shown as zeros that would
 * claim no pressure was seen.
 */
static bool has_pressure;

/* ------------------------------------------------------------ records */

/*
 * A JSON string: '"' and '\' escaped, and every byte outside printable
 * ASCII as \u00XX, so that any comm (a task may name itself with any bytes,
 * invalid UTF-8 included) still makes valid JSON.
 */
void gtr_json_str(const char *s, size_t max)
{
	size_t i;

	putchar('"');
	for (i = 0; i < max && s[i]; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* JSON: the object's start; text: nothing (the caller starts the line). */
static void rec_begin(const char *type)
{
	if (env.json)
		printf("{\"type\":\"%s\"", type);
}

static void rec_key(const char *key)
{
	if (env.json)
		printf(",\"%s\":", key);
	else
		printf(" %s=", key);
}

static void rec_u64(const char *key, unsigned long long v)
{
	rec_key(key);
	printf("%llu", v);
}

static void rec_str(const char *key, const char *v, size_t max)
{
	rec_key(key);
	if (env.json)
		gtr_json_str(v, max);
	else
		printf("%.*s", (int)max, v);
}

/* JSON: always, true or false; text: the bare word when true. */
static void rec_flag(const char *key, bool on)
{
	if (env.json)
		printf(",\"%s\":%s", key, on ? "true" : "false");
	else if (on)
		printf(" %s", key);
}

/* JSON only: "time" (local) and "ts" (epoch seconds) of @mono. */
static void rec_time(unsigned long long mono, bool usec)
{
	long long wall = wall_ns(mono);
	char ts[32];

	if (!env.json)
		return;
	fmt_wall(ts, sizeof(ts), wall, usec);
	rec_str("time", ts, sizeof(ts));
	rec_key("ts");
	printf("%lld.%06lld", wall / 1000000000LL,
	       wall % 1000000000LL / 1000);
}

static void rec_end(void)
{
	if (env.json)
		putchar('}');
	putchar('\n');
}

/* ------------------------------------------------------------ live stream */

static void print_details(const struct gtr_event *e)
{
	switch (e->type) {
	case GTR_SPAN_ALLOC:
		rec_u64("page", e->a);
		rec_u64("npages", e->b);
		rec_u64("zeroed", e->c);
		break;
	case GTR_SPANS_FREE:
		rec_u64("count", e->a);
		rec_u64("npages", e->b);
		break;
	case GTR_LIMIT_HIT:
		rec_u64("npages", e->a);
		rec_u64("span_pages", e->b);
		rec_u64("limit", e->c);
		if (env.json)
			rec_u64("total", e->d);
		rec_str("which", e->d ? "module" : "heap", 8);
		break;
	case GTR_PAGES_RELEASE:
		rec_str("reason", reason_names[e->c < GTR_NREASONS ?
					       e->c : GTR_REL_OTHER], 8);
		rec_u64("bytes", e->a);
		rec_u64("pages", e->a / sysconf(_SC_PAGESIZE));
		/* text in us, for reading; JSON exact */
		if (env.json)
			rec_u64("ns", e->b);
		else
			rec_u64("us", e->b / 1000);
		break;
	case GTR_SHRINK_SCAN:
		rec_u64("asked", e->a);
		rec_u64("freed", e->b);
		break;
	case GTR_GC_PHASE:
		rec_u64("cycle", e->b);
		rec_str("phase", phase_name(e->a), 16);
		rec_u64("live", e->c);
		rec_u64("goal", e->d);
		break;
	case GTR_GC_PAUSE:
		/* ns, not us: the pauses to see are well under a millisecond */
		rec_u64("cycle", e->b);
		rec_str("kind", pause_name(e->a), 16);
		rec_u64("ns", e->c);
		break;
	case GTR_PRESSURE:
		rec_str("reason", pressure_reason(e->a), 16);
		rec_u64("bytes", e->b);
		rec_u64("events", e->c);
		break;
	case GTR_PRESSURE_ANSWER:
		rec_u64("bytes", e->a);
		/* the tracepoint's own name and unit, in text and JSON alike */
		rec_u64("latency_ns", e->b);
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
		[GTR_PRESSURE] = "pressure",
		[GTR_PRESSURE_ANSWER] = "pressure_answer",
	};
	const struct gtr_event *e = data;
	char ts[32];

	(void)ctx;
	if (len < sizeof(*e) || e->type >= GTR_NTYPES)
		return 0;
	if (env.json) {
		rec_begin("event");
		rec_time(e->ts, true);
		rec_str("comm", e->comm, sizeof(e->comm));
		rec_u64("tid", e->tid);
		rec_str("event", names[e->type], 16);
		rec_u64("heap", e->heap);
		rec_u64("pid", e->pid);
	} else {
		fmt_time(ts, sizeof(ts), e->ts, true);
		/* EVENT as wide as the longest name, pressure_answer */
		printf("%s %-16.16s %-7u %-15s heap=%llu pid=%u", ts, e->comm,
		       e->tid, names[e->type], (unsigned long long)e->heap,
		       e->pid);
	}
	print_details(e);
	rec_end();
	return 0;
}

/* ------------------------------------------------------------ summaries */

struct heap_seen {
	unsigned long long id;
	struct gtr_heap_stats base;	/* earlier map entries, folded */
	struct gtr_heap_stats last;	/* the map entry at the last snapshot */
};

static struct heap_seen *seen;
static size_t nseen, capseen;
static unsigned long long start_mono;	/* when the tool attached */

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p) {
		perror("gcheap-trace: realloc");
		exit(1);
	}
	return p;
}

static struct heap_seen *heap_seen(unsigned long long id)
{
	size_t i;

	for (i = 0; i < nseen; i++)
		if (seen[i].id == id)
			return &seen[i];
	if (nseen == capseen) {
		capseen = capseen ? 2 * capseen : 64;
		seen = xrealloc(seen, capseen * sizeof(*seen));
	}
	memset(&seen[nseen], 0, sizeof(seen[nseen]));
	seen[nseen].id = id;
	return &seen[nseen++];
}

/*
 * @sum += @add, field by field: every field is a counter but the last cycle
 * (a gauge) and the longest pause and answer (maxima).
 */
static void stats_fold(struct gtr_heap_stats *sum,
		       const struct gtr_heap_stats *add)
{
	int r;

#define ADD(f)	(sum->f += add->f)
#define MAX(f)	(sum->f = sum->f > add->f ? sum->f : add->f)
	ADD(created); ADD(destroyed); ADD(spans_alloc); ADD(pages_alloc);
	ADD(free_calls); ADD(spans_freed); ADD(pages_freed); ADD(limit_hits);
	for (r = 0; r < GTR_NREASONS; r++) {
		ADD(releases[r]);
		ADD(released_bytes[r]);
	}
	ADD(release_ns); ADD(shrink_scans); ADD(shrink_asked);
	ADD(shrink_freed); ADD(gc_phases); ADD(gc_cycles); ADD(gc_pauses);
	ADD(gc_pause_ns); ADD(pressure_events); ADD(pressure_asked_bytes);
	ADD(pressure_answers); ADD(pressure_answered_bytes);
	MAX(gc_last_cycle); MAX(gc_pause_max_ns); MAX(answer_max_ns);
#undef ADD
#undef MAX
	if (add->pid)
		sum->pid = add->pid;
}

static bool stats_changed(const struct gtr_heap_stats *cur,
			  const struct gtr_heap_stats *old)
{
	return memcmp(cur, old, sizeof(*cur)) != 0;
}

#define D(f)	(cur->f - old->f)

/*
 * Released memory per reason, as deltas: in system pages as rel_<reason>
 * (@psize > 0: the text interval lines, which have always printed memcg),
 * else in bytes as released_<reason>_bytes, memcg only when the module has
 * that reason.  "other" only when not 0.  Returns the bytes in all.
 */
static unsigned long long rec_released(const struct gtr_heap_stats *cur,
				       const struct gtr_heap_stats *old,
				       long psize)
{
	static const int order[] = { GTR_REL_BG, GTR_REL_EAGER, GTR_REL_SHRINK,
				     GTR_REL_MEMCG, GTR_REL_IOCTL, GTR_REL_OTHER };
	unsigned long long v, total = 0;
	char key[32];
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		v = D(released_bytes[order[i]]);
		total += v;
		if (!v && (order[i] == GTR_REL_OTHER ||
			   (order[i] == GTR_REL_MEMCG && !has_memcg && !psize)))
			continue;
		if (psize) {
			snprintf(key, sizeof(key), "rel_%s", reason_names[order[i]]);
			rec_u64(key, v / psize);
		} else {
			snprintf(key, sizeof(key), "released_%s_bytes",
				 reason_names[order[i]]);
			rec_u64(key, v);
		}
	}
	return total;
}

/* What interval lines and totals share, deltas @cur - @old. */
static void rec_counts(const struct gtr_heap_stats *cur,
		       const struct gtr_heap_stats *old)
{
	rec_u64("spans_alloc", D(spans_alloc));
	rec_u64("pages_alloc", D(pages_alloc));
	rec_u64("spans_freed", D(spans_freed));
	rec_u64("pages_freed", D(pages_freed));
	rec_u64("free_calls", D(free_calls));
}

static void rec_rest(const struct gtr_heap_stats *cur,
		     const struct gtr_heap_stats *old)
{
	unsigned long long n = 0;
	int r;

	for (r = 0; r < GTR_NREASONS; r++)
		n += D(releases[r]);
	rec_u64("releases", n);
	rec_u64("shrink_scans", D(shrink_scans));
	rec_u64("shrink_asked", D(shrink_asked));
	rec_u64("shrink_freed", D(shrink_freed));
	rec_u64("gc_cycles", D(gc_cycles));
	rec_u64("gc_last", cur->gc_last_cycle);
	rec_u64("gc_pauses", D(gc_pauses));
	rec_u64("pause_ns", D(gc_pause_ns));
	/* since the start, not a delta: BPF keeps one maximum per heap */
	rec_u64("pause_max_ns", cur->gc_pause_max_ns);
	rec_u64("limit_hits", D(limit_hits));
	if (has_pressure) {
		rec_u64("pressure_events", D(pressure_events));
		rec_u64("pressure_asked_bytes", D(pressure_asked_bytes));
		rec_u64("pressure_answers", D(pressure_answers));
		rec_u64("pressure_answered_bytes",
			D(pressure_answered_bytes));
		/* since the start, as pause_max_ns */
		rec_u64("answer_max_ns", cur->answer_max_ns);
	}
	rec_flag("created", D(created));
	rec_flag("destroyed", D(destroyed));
}

#undef D

static void print_heap_delta(unsigned long long mono, unsigned long long id,
			     const struct gtr_heap_stats *cur,
			     const struct gtr_heap_stats *old, long psize)
{
	char ts[16];

	if (env.json) {
		rec_begin("interval");
		rec_time(mono, false);
		rec_u64("heap", id);
		rec_u64("pid", cur->pid);
	} else {
		fmt_time(ts, sizeof(ts), mono, false);
		printf("%s heap=%llu pid=%u", ts, id, cur->pid);
	}
	rec_counts(cur, old);
	rec_released(cur, old, env.json ? 0 : psize);
	rec_rest(cur, old);
	rec_end();
}

/* The keys of the heaps map, collected before any entry is deleted. */
static unsigned long long *heap_keys(int fd, size_t *np)
{
	unsigned long long key, next, *keys = NULL;
	size_t n = 0, cap = 0;
	bool first = true;

	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			keys = xrealloc(keys, cap * sizeof(*keys));
		}
		keys[n++] = key = next;
		first = false;
	}
	*np = n;
	return keys;
}

/*
 * Take a snapshot of the heaps map: print what changed since the last one
 * if @title (text: under a "--- HH:MM:SS @title" line; "no gcheap activity"
 * when nothing did and @idle_line), and fold a destroyed heap's entry into
 * its base before deleting it.
 */
static void snapshot(const struct gtr_session *s, const char *title,
		     bool idle_line)
{
	unsigned long long now = mono_ns(), *keys;
	struct gtr_heap_stats cur;
	struct heap_seen *h;
	bool any = false;
	size_t n, i;
	char ts[16];

	fmt_time(ts, sizeof(ts), now, false);
	keys = heap_keys(s->heaps_fd, &n);
	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(s->heaps_fd, &keys[i], &cur))
			continue;
		h = heap_seen(keys[i]);
		if (stats_changed(&cur, &h->last)) {
			if (title && !any && !env.json)
				printf("--- %s %s\n", ts, title);
			any = true;
			if (title)
				print_heap_delta(now, keys[i], &cur, &h->last,
						 s->page_size);
			h->last = cur;
		}
		if (cur.destroyed) {
			bpf_map_delete_elem(s->heaps_fd, &keys[i]);
			stats_fold(&h->base, &h->last);
			memset(&h->last, 0, sizeof(h->last));
		}
	}
	if (title && idle_line && !any && !env.json)
		printf("--- %s %s: no gcheap activity\n", ts, title);
	free(keys);
	fflush(stdout);
}

static int cmp_heap(const void *a, const void *b)
{
	const struct heap_seen *x = a, *y = b;
	__u32 px = x->base.pid ? x->base.pid : x->last.pid;
	__u32 py = y->base.pid ? y->base.pid : y->last.pid;

	if (px != py)
		return px < py ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Text: "total pid=P heap=H ..."; pid first, unlike the interval lines'
 * "heap=H pid=P", so that scripts summing interval lines by " heap=H pid="
 * (scripts/demo/gcheap-demo.c, bpf/tests) do not count the totals twice.
 */
static void print_heap_total(const struct heap_seen *h, unsigned long long now)
{
	static const struct gtr_heap_stats zero;
	struct gtr_heap_stats t = h->base;
	char since[16];

	stats_fold(&t, &h->last);
	if (env.json) {
		fmt_time(since, sizeof(since), start_mono, false);
		rec_begin("summary");
		rec_time(now, false);
		rec_str("since", since, sizeof(since));
		rec_key("secs");
		printf("%.3f", (now - start_mono) / 1e9);
	} else {
		printf("total");
	}
	rec_u64("pid", t.pid);
	rec_u64("heap", h->id);
	rec_counts(&t, &zero);
	rec_u64("released_total_bytes", rec_released(&t, &zero, 0));
	rec_rest(&t, &zero);
	rec_end();
}

/* Per heap, everything since the tool started, destroyed heaps included. */
static void print_totals(void)
{
	unsigned long long now = mono_ns();
	char ts[16], since[16];
	size_t i;

	fmt_time(ts, sizeof(ts), now, false);
	fmt_time(since, sizeof(since), start_mono, false);
	qsort(seen, nseen, sizeof(*seen), cmp_heap);
	if (!env.json && !nseen)
		printf("--- %s totals since %s: no gcheap activity\n", ts, since);
	else if (!env.json)
		printf("--- %s totals since %s (%.0f s), per heap, released in bytes\n",
		       ts, since, (now - start_mono) / 1e9);
	for (i = 0; i < nseen; i++)
		print_heap_total(&seen[i], now);
	fflush(stdout);
}

/* ------------------------------------------------------------ histograms */

static const char *const hist_titles[GTR_NHISTKINDS] = {
	[GTR_HIST_LAT_US] = "scavenge latency",
	[GTR_HIST_PAGES] = "pages per release",
};
static const char *const hist_units[GTR_NHISTKINDS] = {
	[GTR_HIST_LAT_US] = "usecs", [GTR_HIST_PAGES] = "pages",
};

/* slot 0: 0 and 1; slot i: 2^i .. 2^(i+1) - 1 */
static unsigned long long slot_lo(int i)
{
	return i ? 1ULL << i : 0;
}

static unsigned long long slot_hi(int i)
{
	return (1ULL << (i + 1)) - 1;
}

static void print_stars(unsigned long long v, unsigned long long max, int width)
{
	int n = max ? (int)(v * width / max) : 0, i;

	for (i = 0; i < width; i++)
		putchar(i < n ? '*' : ' ');
}

static void print_log2_hist(const struct gtr_hist *h, int last,
			    const char *unit)
{
	unsigned long long max = 0;
	int i;

	for (i = 0; i <= last; i++)
		if (h->slots[i] > max)
			max = h->slots[i];
	printf("%*s%-10s : count    distribution\n", 10, "", unit);
	for (i = 0; i <= last; i++) {
		printf("%10llu -> %-10llu : %-8llu |", slot_lo(i), slot_hi(i),
		       h->slots[i]);
		print_stars(h->slots[i], max, 40);
		printf("|\n");
	}
}

static void json_log2_hist(const struct gtr_hist *h, int last,
			   unsigned int kind, unsigned int r)
{
	int i;

	rec_begin("hist");
	rec_str("hist", kind == GTR_HIST_LAT_US ? "latency" : "pages", 8);
	rec_str("unit", hist_units[kind], 8);
	rec_str("reason", reason_names[r], 8);
	printf(",\"buckets\":[");
	for (i = 0; i <= last; i++)
		printf("%s{\"lo\":%llu,\"hi\":%llu,\"count\":%llu}",
		       i ? "," : "", slot_lo(i), slot_hi(i), h->slots[i]);
	printf("]");
	rec_end();
}

static void print_histograms(const struct gtr_session *s)
{
	unsigned int kind, r, key;
	struct gtr_hist h;
	int i, last;

	for (kind = 0; kind < GTR_NHISTKINDS; kind++) {
		for (r = 0; r < GTR_NREASONS; r++) {
			key = kind * GTR_NREASONS + r;
			if (bpf_map_lookup_elem(s->hists_fd, &key, &h))
				continue;
			for (last = -1, i = 0; i < GTR_HIST_SLOTS; i++)
				if (h.slots[i])
					last = i;
			if (last < 0)
				continue;
			if (env.json) {
				json_log2_hist(&h, last, kind, r);
				continue;
			}
			printf("\n%s, reason=%s:\n", hist_titles[kind],
			       reason_names[r]);
			print_log2_hist(&h, last, hist_units[kind]);
		}
	}
	fflush(stdout);
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

static bool want_stream(void)
{
	return !env.quiet && !env.summary;
}

static int attach(struct gtr_session *s)
{
	struct gtr_opts o = { .mode = env.mode, .pid = env.pid,
			      .stream = want_stream() };
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

/*
 * Poll the stream and take a snapshot every interval, silently with -s.
 * Returns 1 once COUNT intervals are done, 0 when stopped otherwise (signal,
 * -d), -1 on error.
 */
static int run(struct gtr_session *s, struct ring_buffer *rb)
{
	unsigned long long step = env.interval * 1000000000ULL;
	unsigned long long next = start_mono + step;
	unsigned int done = 0;
	int err;

	while (!exiting) {
		if (rb) {
			err = ring_buffer__poll(rb, 100);
			if (err < 0 && err != -EINTR) {
				fprintf(stderr, "gcheap-trace: ring buffer: %s\n",
					strerror(-err));
				return -1;
			}
		} else {
			usleep(100 * 1000);
		}
		fflush(stdout);
		if (env.duration &&
		    mono_ns() - start_mono >= env.duration * 1000000000ULL)
			break;
		if (mono_ns() >= next) {
			snapshot(s, env.summary ? NULL : "summary", true);
			next += step;
			if (env.count && ++done >= env.count)
				return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { .options = opts, .parser = parse_arg,
					  .args_doc = args_doc, .doc = doc };
	struct ring_buffer *rb = NULL;
	struct gtr_session s;
	int err;

	/* `gcheap-trace profile ...`: the heap profile of a process */
	if (argc > 1 && !strcmp(argv[1], "profile"))
		return gtr_profile_main(argc - 1, argv + 1);
	/* usage errors exit 2, like the shell's builtins and most tools */
	argp_err_exit_status = 2;
	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return 2;
	libbpf_set_print(libbpf_print);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if (attach(&s))
		return 1;
	has_memcg = module_has_memcg();
	has_pressure = s.attached[GTR_PRESSURE] || s.attached[GTR_PRESSURE_ANSWER];
	if (want_stream()) {
		rb = ring_buffer__new(s.events_fd, on_event, NULL, NULL);
		if (!rb) {
			fprintf(stderr, "gcheap-trace: cannot open the ring buffer\n");
			gtr_detach(&s);
			return 1;
		}
		if (!env.json)
			printf("%-15s %-16s %-7s %-15s %s\n", "TIME", "COMM",
			       "TID", "EVENT", "DETAILS");
	}
	start_mono = mono_ns();
	err = run(&s, rb);
	if (rb)
		ring_buffer__consume(rb);
	/* after COUNT intervals the last one is ~0 s long: only if not empty */
	snapshot(&s, env.summary ? NULL : "final summary", err != 1);
	print_totals();
	print_histograms(&s);
	print_counters(&s);
	ring_buffer__free(rb);
	gtr_detach(&s);
	fprintf(stderr, "gcheap-trace: detached\n");
	return err < 0;
}

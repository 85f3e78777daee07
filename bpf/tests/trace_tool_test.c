// SPDX-License-Identifier: GPL-2.0
/*
 * gcheap-trace end to end, as an operator uses it (the tool is on the guest's
 * PATH, from build/vmtests-bpf/bin):
 *  1. its command line: -h and --help print the help (which documents -j)
 *     and exit 0; bad INTERVAL/COUNT arguments exit 2 with a message on
 *     stderr and nothing on stdout;
 *  2. with gcheap unloaded, it fails at once with a clear message;
 *  3. started with -w before the module is loaded, it waits, attaches when
 *     insmod happens, and traces wl_run() on one heap: the sum of its
 *     per-interval summaries for that heap equals GCH_IOC_STATS (the GC
 *     pauses too: count, total ns and the longest), so do its totals at the
 *     end, its live stream shows the events (each pause with its kind, cycle
 *     and ns), its histograms are non-empty;
 *  4. beside it, on the same workload: -p 1 (init owns no heap) sees none of
 *     it; -j writes nothing but JSON objects on stdout (checked by a small
 *     strict parser), whose interval and summary objects add up to the
 *     stats and whose events carry the test's odd comm (a quote, a
 *     backslash, a control byte, a non-ASCII byte) escaped; -s and -s -j
 *     print only the totals, for a heap destroyed seconds before the end;
 *  5. SIGINT ends every instance with status 0, and they let go of the
 *     module (rmmod works right after);
 *  6. `gcheap-trace 1 2` exits 0 by itself after two intervals;
 *  7. a memory pressure event and its answer (wl_pressure(): a child over
 *     its cgroup's memory.high, after the workload) show in every output:
 *     a pressure and a pressure_answer line in the stream (text and JSON),
 *     and the heap's pressure counters in its interval lines, its totals
 *     and the JSON objects equal what the child took and answered.
 * Once per attach mode (raw_tp; tp_btf when the module has BTF).  The module
 * is always loaded again before the test returns, for the runner's rmmod.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "trace_load.h"
#include "workload.h"

#define TOOL	"gcheap-trace"
/* The workload's comm while it runs: JSON must escape every byte of it. */
#define ODD_COMM	"gt\"q\\\x01\xe9"
#define ODD_COMM_JSON	"\"comm\":\"gt\\\"q\\\\\\u0001\\u00e9\""

/* Run @argv with stdout to @out and stderr to @err (may be the same file). */
static pid_t spawn2(const char *out, const char *err, char *const argv[])
{
	pid_t pid = fork();
	int fd, efd;

	if (pid)
		return pid;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	efd = strcmp(out, err) ?
	      open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644) : fd;
	if (fd < 0 || efd < 0)
		_exit(126);
	dup2(fd, 1);
	dup2(efd, 2);
	execvp(argv[0], argv);
	_exit(127);
}

static pid_t spawn(const char *log, char *const argv[])
{
	return spawn2(log, log, argv);
}

static char *slurp(const char *path)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = 0;
	return buf;
}

/* A copy of @path's content to keep (the caller frees it). */
static char *load(const char *path)
{
	char *p = strdup(slurp(path));

	if (!p) {
		perror("strdup");
		exit(1);
	}
	return p;
}

/* Wait up to @ms for @text to appear in @log; false on timeout. */
static bool wait_for(const char *log, const char *text, unsigned int ms)
{
	struct timespec tick = { 0, 50 * 1000000L };
	unsigned int waited;

	for (waited = 0; waited <= ms; waited += 50) {
		if (strstr(slurp(log), text))
			return true;
		nanosleep(&tick, NULL);
	}
	printf("# no '%s' in %s after %u ms:\n", text, log, ms);
	return false;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A log line for TAP: the odd comm's bytes would upset log readers. */
static void show_line(const char *line)
{
	const unsigned char *p;

	printf("#   ");
	for (p = (const unsigned char *)line; *p; p++)
		putchar(*p >= 0x20 && *p < 0x7f ? *p : '?');
	putchar('\n');
}

static void show_log(const char *log)
{
	char *p = slurp(log), *line;

	for (line = strtok(p, "\n"); line; line = strtok(NULL, "\n"))
		show_line(line);
}

/*
 * The tool's output for the record: the first @keep lines of the live
 * stream (text or JSON events), then everything else.
 */
static void show_excerpt(const char *log, unsigned int keep)
{
	char *p = slurp(log), *line;
	unsigned int n = 0, skipped = 0;

	for (line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
		/* stream records start "HH:MM:SS.uuuuuu " or {"type":"event" */
		bool event = (strlen(line) > 16 && line[8] == '.') ||
			     !strncmp(line, "{\"type\":\"event\"", 15);

		if (event && ++n > keep) {
			skipped++;
			continue;
		}
		if (skipped) {
			printf("#   [... %u more events ...]\n", skipped);
			skipped = 0;
		}
		show_line(line);
	}
	if (skipped)
		printf("#   [... %u more events ...]\n", skipped);
}

/* ------------------------------------------------------------ JSON */

/*
 * A small strict JSON parser, enough to hold the tool to RFC 8259 on what
 * it writes: each j_*() takes the text at a value and returns the text after
 * it, or NULL if it is not valid JSON.
 */
static const char *j_value(const char *p, int depth);

static const char *j_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static const char *j_string(const char *p)
{
	int i;

	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)	/* NUL and raw controls */
			return NULL;
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'u') {
			for (i = 1; i <= 4; i++)
				if (!isxdigit((unsigned char)p[i]))
					return NULL;
			p += 4;
		} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
			return NULL;
		}
	}
	return p + 1;
}

static const char *j_digits(const char *p)
{
	if (!isdigit((unsigned char)*p))
		return NULL;
	while (isdigit((unsigned char)*p))
		p++;
	return p;
}

static const char *j_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!(p = j_digits(p)))
		return NULL;
	if (*p == '.' && !(p = j_digits(p + 1)))
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		p = j_digits(p);
	}
	return p;
}

/* An object (@close '}') or an array (']'), from its opening character. */
static const char *j_members(const char *p, char close, int depth)
{
	p = j_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (close == '}') {
			p = j_string(p);
			if (!p)
				return NULL;
			p = j_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		p = j_value(j_ws(p), depth + 1);
		if (!p)
			return NULL;
		p = j_ws(p);
		if (*p == close)
			return p + 1;
		if (*p != ',')
			return NULL;
		p = j_ws(p + 1);
	}
}

static const char *j_value(const char *p, int depth)
{
	if (depth > 32)
		return NULL;
	switch (*p) {
	case '{':
		return j_members(p, '}', depth);
	case '[':
		return j_members(p, ']', depth);
	case '"':
		return j_string(p);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default:
		return j_number(p);
	}
}

/* One whole line is one JSON object whose first member is "type". */
static bool json_object_line(const char *line)
{
	const char *end;

	if (strncmp(line, "{\"type\":\"", 9))
		return false;
	end = j_value(line, 0);
	return end && !*j_ws(end);
}

/*
 * Every line of @out is a JSON object with a "type"; counts them, and the
 * ones of type @type0 and @type1 (may be NULL) in *n0, *n1.  Returns the
 * number of lines that are not.
 */
static unsigned int json_lines(const char *out, unsigned int *total,
			       const char *type0, unsigned int *n0,
			       const char *type1, unsigned int *n1)
{
	char *copy = strdup(out), *line, *save, want[32];
	unsigned int bad = 0;

	*total = *n0 = *n1 = 0;
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		++*total;
		if (!json_object_line(line)) {
			if (bad++ < 3)
				show_line(line);
			continue;
		}
		snprintf(want, sizeof(want), "{\"type\":\"%s\",", type0);
		*n0 += !strncmp(line, want, strlen(want));
		snprintf(want, sizeof(want), "{\"type\":\"%s\",", type1 ? type1 : "");
		*n1 += type1 && !strncmp(line, want, strlen(want));
	}
	free(copy);
	return bad;
}

/* ------------------------------------------------------------ sums */

/* The number after @key spelt as @fmt makes it (" %s=", "\"%s\":"). */
static unsigned long long number_after(const char *line, const char *fmt,
				       const char *key)
{
	char want[48];
	const char *p;

	snprintf(want, sizeof(want), fmt, key);
	p = strstr(line, want);
	return p ? strtoull(p + strlen(want), NULL, 10) : 0;
}

static unsigned long long text_field(const char *line, const char *key)
{
	return number_after(line, " %s=", key);
}

static unsigned long long json_field(const char *line, const char *key)
{
	return number_after(line, "\"%s\":", key);
}

/* Released memory is in bytes here, whatever the output counted it in. */
struct sums {
	unsigned long long lines, spans_alloc, pages_alloc, spans_freed,
		pages_freed, free_calls, rel_bg, rel_eager, rel_shrink, rel_memcg,
		rel_ioctl, rel_total, gc_cycles, gc_last, limit_hits, created,
		destroyed, gc_pauses, pause_ns, pause_max_ns, pressure_events,
		pressure_asked, pressure_answers, pressure_answered,
		answer_max_ns, pressure_keys;
};

/* Where a heap's figures are in the tool's output. */
enum source {
	TEXT_INTERVALS,	/* "HH:MM:SS heap=H pid=P ...", rel_* in pages */
	TEXT_TOTALS,	/* "total pid=P heap=H ..." */
	JSON_INTERVALS,	/* {"type":"interval",...} */
	JSON_SUMMARY,	/* {"type":"summary",...} */
};

/* Is @line one of heap @id's (owned by @pid) in @src? */
static bool line_of(const char *line, enum source src, unsigned long long id,
		    int pid)
{
	char want[96];

	switch (src) {
	case TEXT_INTERVALS:
		snprintf(want, sizeof(want), " heap=%llu pid=", id);
		return strstr(line, want) && strstr(line, " spans_alloc=");
	case TEXT_TOTALS:
		snprintf(want, sizeof(want), "total pid=%d heap=%llu ", pid,
			 id);
		return !strncmp(line, want, strlen(want));
	default:
		snprintf(want, sizeof(want), ",\"heap\":%llu,", id);
		return !strncmp(line, src == JSON_INTERVALS ?
				"{\"type\":\"interval\"," :
				"{\"type\":\"summary\",", 18) &&
		       strstr(line, want);
	}
}

static void add_released(struct sums *s, const char *line, enum source src)
{
	unsigned long long ps = sysconf(_SC_PAGESIZE);
	unsigned long long (*f)(const char *, const char *) =
		src >= JSON_INTERVALS ? json_field : text_field;

	if (src == TEXT_INTERVALS) {
		s->rel_bg += f(line, "rel_bg") * ps;
		s->rel_eager += f(line, "rel_eager") * ps;
		s->rel_shrink += f(line, "rel_shrink") * ps;
		s->rel_memcg += f(line, "rel_memcg") * ps;
		s->rel_ioctl += f(line, "rel_ioctl") * ps;
		return;
	}
	s->rel_bg += f(line, "released_bg_bytes");
	s->rel_eager += f(line, "released_eager_bytes");
	s->rel_shrink += f(line, "released_shrink_bytes");
	s->rel_memcg += f(line, "released_memcg_bytes");
	s->rel_ioctl += f(line, "released_ioctl_bytes");
	s->rel_total += f(line, "released_total_bytes");
}

static void add_line(struct sums *s, const char *line, enum source src)
{
	bool json = src >= JSON_INTERVALS;
	unsigned long long (*f)(const char *, const char *) =
		json ? json_field : text_field;

	s->lines++;
	s->spans_alloc += f(line, "spans_alloc");
	s->pages_alloc += f(line, "pages_alloc");
	s->spans_freed += f(line, "spans_freed");
	s->pages_freed += f(line, "pages_freed");
	s->free_calls += f(line, "free_calls");
	add_released(s, line, src);
	s->gc_cycles += f(line, "gc_cycles");
	s->gc_last = f(line, "gc_last");
	s->limit_hits += f(line, "limit_hits");
	s->gc_pauses += f(line, "gc_pauses");
	s->pause_ns += f(line, "pause_ns");
	/* the longest since the tool started: the last line has it */
	s->pause_max_ns = f(line, "pause_max_ns");
	s->pressure_events += f(line, "pressure_events");
	s->pressure_asked += f(line, "pressure_asked_bytes");
	s->pressure_answers += f(line, "pressure_answers");
	s->pressure_answered += f(line, "pressure_answered_bytes");
	/* since the start, as pause_max_ns */
	s->answer_max_ns = f(line, "answer_max_ns");
	s->pressure_keys += strstr(line, json ? "\"pressure_events\":" :
					    " pressure_events=") != NULL;
	s->created += strstr(line, json ? "\"created\":true" : " created") != NULL;
	s->destroyed += strstr(line, json ? "\"destroyed\":true" :
					 " destroyed") != NULL;
}

/* Add up heap @id's (of process @pid) lines of kind @src in the output. */
static void sum_lines(const char *out, enum source src, unsigned long long id,
		      int pid, struct sums *s)
{
	char *copy = strdup(out), *line, *save;

	memset(s, 0, sizeof(*s));
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (line_of(line, src, id, pid))
			add_line(s, line, src);
	free(copy);
}

static const char *const source_names[] = {
	[TEXT_INTERVALS] = "interval lines", [TEXT_TOTALS] = "totals line",
	[JSON_INTERVALS] = "JSON intervals", [JSON_SUMMARY] = "JSON summary",
};

#define EQ(what, a, b) do {						\
	unsigned long long a_ = (a), b_ = (b);				\
	tap_ok(a_ == b_, "%s: %s %s: %llu, stats %llu", mode,		\
	       source_names[src], what, a_, b_);			\
} while (0)

static void check_pauses(const char *mode, enum source src,
			 const struct sums *s, const struct gch_stats *st,
			 const struct wl_done *d)
{
	if (!d->gc_pauses) {
		tap_skip("%s: module has no GC pause announcements", mode);
		return;
	}
	EQ("gc_pauses", s->gc_pauses, st->gc_pauses);
	EQ("gc_pauses == announced", s->gc_pauses, d->gc_pauses);
	EQ("pause_ns", s->pause_ns, st->gc_pause_ns);
	EQ("pause_max_ns == longest announced", s->pause_max_ns,
	   d->gc_pause_max_ns);
}

/* Heap @id's figures in @out, from @src, against GCH_IOC_STATS. */
static void check_sums(const char *mode, const char *out, enum source src,
		       unsigned long long id, const struct gch_stats *st,
		       const struct wl_done *d)
{
	bool one = src == TEXT_TOTALS || src == JSON_SUMMARY;
	struct sums s;

	sum_lines(out, src, id, getpid(), &s);
	tap_ok(one ? s.lines == 1 : s.lines > 0, "%s: %s: %llu for heap %llu",
	       mode, source_names[src], s.lines, id);
	EQ("spans_alloc", s.spans_alloc, st->alloc_calls);
	EQ("free_calls", s.free_calls, st->free_calls);
	EQ("spans_freed", s.spans_freed, st->spans_freed);
	EQ("pages_alloc - pages_freed", s.pages_alloc - s.pages_freed,
	   st->span_pages);
	EQ("released bg bytes", s.rel_bg, st->released_bg_bytes);
	EQ("released eager bytes", s.rel_eager, st->released_eager_bytes);
	EQ("released shrink bytes", s.rel_shrink, st->released_shrink_bytes);
	EQ("released memcg bytes", s.rel_memcg, st->released_memcg_bytes);
	EQ("released ioctl bytes", s.rel_ioctl, st->released_ioctl_bytes);
	if (one)
		EQ("released_total_bytes", s.rel_total,
		   st->released_bg_bytes + st->released_eager_bytes +
		   st->released_shrink_bytes + st->released_memcg_bytes +
		   st->released_ioctl_bytes);
	EQ("gc_last", s.gc_last, st->gc_cycle);
	EQ("gc_cycles", s.gc_cycles, st->gc_cycle);
	EQ("limit_hits", s.limit_hits, st->limit_hits);
	check_pauses(mode, src, &s, st, d);
	/* the pressure was another heap's */
	EQ("pressure_events", s.pressure_events, 0);
	EQ("pressure_answers", s.pressure_answers, 0);
	EQ("created", s.created, 1);
	EQ("destroyed", s.destroyed, 1);
}

#undef EQ

#define EQP(what, a, b) do {						\
	unsigned long long a_ = (a), b_ = (b);				\
	tap_ok(a_ == b_, "%s: %s pressure heap %s: %llu, child %llu",	\
	       mode, source_names[src], what, a_, b_);			\
} while (0)

/*
 * The pressure heap's figures in @out, from @src, against what its owner
 * (wl_pressure()'s child) took and answered.
 */
static void check_pressure_sums(const char *mode, const char *out,
				enum source src, const struct wl_pressure *p)
{
	bool one = src == TEXT_TOTALS || src == JSON_SUMMARY;
	struct sums s;

	sum_lines(out, src, p->id, p->pid, &s);
	tap_ok(one ? s.lines == 1 : s.lines > 0,
	       "%s: %s: %llu for the pressure heap %llu", mode,
	       source_names[src], s.lines, p->id);
	EQP("lines with the pressure counters", s.pressure_keys, s.lines);
	EQP("pressure_events", s.pressure_events, p->events);
	EQP("pressure_answers", s.pressure_answers, p->answers);
	EQP("pressure_answered_bytes", s.pressure_answered, p->answered);
	/* only the cause that raised an event is traced; later ones fold in */
	tap_ok(s.pressure_asked > 0 &&
	       (p->events > 1 || s.pressure_asked <= p->asked),
	       "%s: %s pressure heap pressure_asked_bytes %llu: > 0, <= asked_bytes %llu",
	       mode, source_names[src], s.pressure_asked, p->asked);
	tap_ok(s.answer_max_ns > 0 && s.answer_max_ns <= p->elapsed_ns,
	       "%s: %s pressure heap answer_max_ns %llu: > 0, <= the child's %llu",
	       mode, source_names[src], s.answer_max_ns, p->elapsed_ns);
	EQP("created", s.created, 1);
	EQP("destroyed", s.destroyed, 1);
}

#undef EQP

/* ------------------------------------------------------------ checks */

/* A stream line's start: "EVENT heap=H", the column as the tool pads it. */
static void ev_text(char *buf, size_t len, const char *event,
		    unsigned long long id)
{
	snprintf(buf, len, "%-15s heap=%llu ", event, id);
}

/* The rest of the first line of @out that holds @start; NULL if none. */
static const char *line_after(const char *out, const char *start,
			      char *buf, size_t len)
{
	const char *p = strstr(out, start);
	size_t n;

	if (!p)
		return NULL;
	p += strlen(start);
	n = strcspn(p, "\n");
	snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), p);
	return buf;
}

/* The name the tool gives the cause(s) @reasons of an event. */
static const char *reason_word(unsigned int reasons)
{
	return reasons == GCH_PRESSURE_LIMIT ? "limit" :
	       reasons == GCH_PRESSURE_RECLAIM ? "reclaim" : "reclaim|limit";
}

/*
 * The pressure heap in the text stream: its first event, as the child took
 * it (a cause folded in later is not traced, so the reason is one of the
 * taken ones), and its answer with the bytes it reported.
 */
static void check_pressure_text(const char *mode, const char *out,
				const struct wl_pressure *p)
{
	char start[96], rest[160];
	unsigned int traced = 0;
	const char *l, *bytes;

	snprintf(start, sizeof(start), "%-15s heap=%llu pid=%d reason=",
		 "pressure", p->id, p->pid);
	l = line_after(out, start, rest, sizeof(rest));
	if (l && !strncmp(l, "limit ", 6))
		traced = GCH_PRESSURE_LIMIT;
	else if (l && !strncmp(l, "reclaim ", 8))
		traced = GCH_PRESSURE_RECLAIM;
	bytes = l ? strstr(l, " bytes=") : NULL;
	tap_ok(traced && (traced & p->reasons) && bytes &&
	       strtoull(bytes + 7, NULL, 10) > 0 && strstr(l, " events=1"),
	       "%s: live stream shows the pressure event: '%s%s' (took %s)",
	       mode, start, l ? l : "(none)", reason_word(p->reasons));
	snprintf(start, sizeof(start),
		 "%-15s heap=%llu pid=%d bytes=%llu latency_ns=",
		 "pressure_answer", p->id, p->pid, p->answered);
	l = line_after(out, start, rest, sizeof(rest));
	tap_ok(l && strtoull(l, NULL, 10) > 0 &&
	       strtoull(l, NULL, 10) <= p->elapsed_ns,
	       "%s: live stream shows the answer: '%s%s' (latency within %llu ns)",
	       mode, start, l ? l : "(none)", p->elapsed_ns);
	check_pressure_sums(mode, out, TEXT_INTERVALS, p);
	check_pressure_sums(mode, out, TEXT_TOTALS, p);
}

/* The text instance: intervals, totals, the live stream, histograms. */
static void check_text(const char *mode, const char *out,
		       unsigned long long id, const struct gch_stats *st,
		       const struct wl_done *d, const struct wl_pressure *p)
{
	char ev[128];

	check_sums(mode, out, TEXT_INTERVALS, id, st, d);
	/* after the last interval; pid before heap, not summed with them */
	check_sums(mode, out, TEXT_TOTALS, id, st, d);
	tap_ok(strstr(out, "final summary") &&
	       strstr(strstr(out, "final summary"), " totals since "),
	       "%s: the totals follow the last interval", mode);
	ev_text(ev, sizeof(ev), "span_alloc", id);
	tap_ok(strstr(out, ev) != NULL, "%s: live stream shows span_alloc",
	       mode);
	ev_text(ev, sizeof(ev), "pages_release", id);
	tap_ok(strstr(out, ev) != NULL, "%s: live stream shows pages_release",
	       mode);
	if (d->gc_pauses) {
		/* wl_run()'s cycle 1: mark start 101000 ns, then terms 50001, 700007 */
		snprintf(ev, sizeof(ev),
			 "%-15s heap=%llu pid=%d cycle=1 kind=mark_start ns=101000\n",
			 "gc_pause", id, getpid());
		tap_ok(strstr(out, ev) != NULL,
		       "%s: live stream shows the mark start pause of cycle 1", mode);
		snprintf(ev, sizeof(ev),
			 "%-15s heap=%llu pid=%d cycle=2 kind=mark_term ns=700014\n",
			 "gc_pause", id, getpid());
		tap_ok(strstr(out, ev) != NULL,
		       "%s: live stream shows a mark termination pause of cycle 2",
		       mode);
	}
	tap_ok(strstr(out, "scavenge latency, reason=") &&
	       strstr(out, "pages per release, reason=") &&
	       strstr(out, "|*"),
	       "%s: latency and pages histograms are non-empty", mode);
	if (p)
		check_pressure_text(mode, out, p);
}

/* Is there a JSON event line holding both @a and @b? */
static bool json_event(const char *out, const char *a, const char *b)
{
	char *copy = strdup(out), *line, *save;
	bool found = false;

	for (line = strtok_r(copy, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save))
		found = !strncmp(line, "{\"type\":\"event\",", 16) &&
			strstr(line, a) && strstr(line, b);
	free(copy);
	return found;
}

/* Some histogram bucket in @out counted something. */
static bool json_bucket_counted(const char *out)
{
	const char *p;

	for (p = strstr(out, ",\"count\":"); p; p = strstr(p + 1, ",\"count\":"))
		if (p[9] >= '1' && p[9] <= '9')
			return true;
	return false;
}

/* The -j instance: stdout @out is all JSON, stderr @err the messages. */
static void check_json(const char *mode, const char *out, const char *err,
		       unsigned long long id, const struct gch_stats *st,
		       const struct wl_done *d, const struct wl_pressure *p)
{
	unsigned int total, nev, nhist, bad;
	char a[96], b[128];
	const char *r;
	int i;

	bad = json_lines(out, &total, "event", &nev, "hist", &nhist);
	tap_ok(total > 0 && !bad,
	       "%s: -j: all %u stdout lines are JSON objects with a type (%u not)",
	       mode, total, bad);
	tap_ok(strstr(err, "gcheap-trace: attached") &&
	       strstr(err, "gcheap-trace: detached") &&
	       !strstr(out, "gcheap-trace:"),
	       "%s: -j: the messages went to stderr", mode);
	check_sums(mode, out, JSON_INTERVALS, id, st, d);
	check_sums(mode, out, JSON_SUMMARY, id, st, d);
	snprintf(a, sizeof(a), "\"event\":\"span_alloc\",\"heap\":%llu,", id);
	tap_ok(nev && json_event(out, a, ODD_COMM_JSON),
	       "%s: -j: %u events; span_alloc with the comm escaped", mode, nev);
	if (d->gc_pauses) {
		snprintf(a, sizeof(a), "\"event\":\"gc_pause\",\"heap\":%llu,", id);
		snprintf(b, sizeof(b), "\"pid\":%d,\"cycle\":1,\"kind\":\"mark_start\",\"ns\":101000}",
			 getpid());
		tap_ok(json_event(out, a, b),
		       "%s: -j: the mark start pause of cycle 1 as an event", mode);
	}
	tap_ok(nhist && strstr(out, "\"hist\":\"latency\"") &&
	       strstr(out, "\"hist\":\"pages\"") && json_bucket_counted(out),
	       "%s: -j: %u histogram objects, latency and pages", mode, nhist);
	if (!p)
		return;
	/* the first event: its reason is one of the causes the child took */
	snprintf(a, sizeof(a), "\"event\":\"pressure\",\"heap\":%llu,", p->id);
	for (r = NULL, i = 0; i < 2 && !r; i++) {
		unsigned int bit = i ? GCH_PRESSURE_RECLAIM : GCH_PRESSURE_LIMIT;
		const char *word = i ? "reclaim" : "limit";

		snprintf(b, sizeof(b), "\"pid\":%d,\"reason\":\"%s\",\"bytes\":",
			 p->pid, word);
		if ((p->reasons & bit) && json_event(out, a, b))
			r = word;
	}
	tap_ok(r && json_event(out, a, ",\"events\":1}"),
	       "%s: -j: the pressure event (reason %s, events 1) as an event",
	       mode, r ? r : "not one taken");
	snprintf(a, sizeof(a), "\"event\":\"pressure_answer\",\"heap\":%llu,",
		 p->id);
	snprintf(b, sizeof(b), "\"pid\":%d,\"bytes\":%llu,\"latency_ns\":",
		 p->pid, p->answered);
	tap_ok(json_event(out, a, b),
	       "%s: -j: the answer (%llu bytes) as an event", mode, p->answered);
	check_pressure_sums(mode, out, JSON_INTERVALS, p);
	check_pressure_sums(mode, out, JSON_SUMMARY, p);
}

/* -s: the totals and histograms only; with -j, as JSON objects. */
static void check_summary_only(const char *mode, const char *out, bool json,
			       unsigned long long id,
			       const struct gch_stats *st,
			       const struct wl_done *d,
			       const struct wl_pressure *p)
{
	unsigned int total, nsum, nhist, bad;
	char want[64];

	if (json) {
		bad = json_lines(out, &total, "summary", &nsum, "hist", &nhist);
		tap_ok(total && !bad && nsum + nhist == total && nsum && nhist,
		       "%s: -s -j: %u lines, all JSON: %u summary, %u hist, %u bad",
		       mode, total, nsum, nhist, bad);
		check_sums(mode, out, JSON_SUMMARY, id, st, d);
		if (p)
			check_pressure_sums(mode, out, JSON_SUMMARY, p);
		return;
	}
	snprintf(want, sizeof(want), " heap=%llu pid=", id);
	tap_ok(!strstr(out, want) && !strstr(out, " summary") &&
	       !strstr(out, "span_alloc ") && strstr(out, " totals since "),
	       "%s: -s: no events, no interval lines, the totals", mode);
	/* destroyed seconds before the end, its map entry long deleted */
	check_sums(mode, out, TEXT_TOTALS, id, st, d);
	if (p)
		check_pressure_sums(mode, out, TEXT_TOTALS, p);
}

/* ------------------------------------------------------------ runs */

/* -h/--help and refused arguments; needs no module. */
static void command_line(void)
{
	static const char *const bad[][4] = {
		{ "0" }, { "-1" }, { "abc" }, { "1x" }, { "1", "0" },
		{ "1", "2", "3" }, { "-i", "2", "3" }, { "2", "-5" },
	};
	const char *out = "/tmp/gt-args.out", *err = "/tmp/gt-args.err";
	char *const help[] = { TOOL, "--help", NULL };
	char *const h[] = { TOOL, "-h", NULL };
	char *argv[6] = { TOOL };
	unsigned int i, j;
	int rc;

	rc = wl_wait_exit(spawn2(out, err, help), 10000);
	tap_ok(rc == 0 && strstr(slurp(out), "-j, --json") &&
	       strstr(slurp(out), "[INTERVAL [COUNT]]"),
	       "--help exits 0 (rc %d) and documents -j and INTERVAL COUNT", rc);
	rc = wl_wait_exit(spawn2(out, err, h), 10000);
	tap_ok(rc == 0 && strstr(slurp(out), "-s, --summary"),
	       "-h exits 0 (rc %d) with the full help", rc);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[64] = "";

		for (j = 0; j < 4 && bad[i][j]; j++) {
			argv[j + 1] = (char *)bad[i][j];
			strcat(what, " ");
			strcat(what, bad[i][j]);
		}
		argv[j + 1] = NULL;
		rc = wl_wait_exit(spawn2(out, err, argv), 10000);
		tap_ok(rc == 2 && !*slurp(out) &&
		       strstr(slurp(err), "gcheap-trace: "),
		       "'%s%s' is refused: rc %d, says why on stderr", TOOL,
		       what, rc);
		if (rc != 2)
			show_log(err);
	}
}

static void not_loaded(void)
{
	const char *log = "/tmp/gt-notloaded.log";
	char *const argv[] = { TOOL, NULL };
	int rc;

	rc = wl_wait_exit(spawn(log, argv), 10000);
	tap_ok(rc == 1 && strstr(slurp(log), "gcheap is not loaded"),
	       "without the module it fails (rc %d) saying gcheap is not loaded",
	       rc);
	if (rc != 1)
		show_log(log);
}

/* Without BTF, -m btf must explain itself instead of attaching nothing. */
static void forced_btf(void)
{
	const char *log = "/tmp/gt-forced-btf.log";
	char *const argv[] = { TOOL, "-m", "btf", NULL };
	int rc;

	rc = wl_wait_exit(spawn(log, argv), 20000);
	tap_ok(rc == 1 && strstr(slurp(log), "tp_btf needs /sys/kernel/btf/vmlinux"),
	       "-m btf without BTF fails (rc %d) and says what is missing", rc);
	if (rc != 1)
		show_log(log);
}

/* `gcheap-trace 1 2`: two intervals, then the end, by itself; module loaded. */
static void count_exit(void)
{
	const char *log = "/tmp/gt-count.log";
	char pid[16];
	char *const argv[] = { TOOL, "-q", "-m", "raw", "-p", pid, "1", "2",
			       NULL };
	unsigned int n = 0;
	double t0, dt;
	const char *p;
	pid_t tool;
	int rc;

	snprintf(pid, sizeof(pid), "%d", getpid());
	tool = spawn(log, argv);
	if (!wait_for(log, "gcheap-trace: attached", 60000)) {
		tap_ok(false, "'%s 1 2' attaches", TOOL);
		show_log(log);
		kill(tool, SIGKILL);
		wl_wait_exit(tool, 5000);
		return;
	}
	t0 = now_s();
	rc = wl_wait_exit(tool, 30000);
	dt = now_s() - t0;
	for (p = slurp(log); (p = strstr(p, " summary: no gcheap activity")); p++)
		n++;
	tap_ok(rc == 0 && dt > 1.5 && strstr(slurp(log), "gcheap-trace: detached"),
	       "'%s 1 2' exits 0 by itself (rc %d), %.1f s after attaching",
	       TOOL, rc, dt);
	tap_ok(n == 2 && strstr(slurp(log), " totals since ") &&
	       !strstr(slurp(log), "final summary"),
	       "'%s 1 2': 2 interval summaries (%u), the totals, no partial interval",
	       TOOL, n);
	if (rc != 0 || n != 2)
		show_log(log);
}

/* The instances beside the -w one, on the same workload. */
enum { I_P1, I_JSON, I_SUM, I_SUMJSON, NINST };

struct inst {
	char desc[32], out[64], err[64];
	char *argv[8];
	pid_t pid;
	int rc;
};

static void inst_init(struct inst *in, const char *mode)
{
	static const char *const names[NINST] = { "p1", "json", "s", "sj" };
	static const char *const args[NINST][3] = {
		[I_P1] = { "-q", "-p", "1" }, [I_JSON] = { "-j", "-i", "1" },
		[I_SUM] = { "-s" }, [I_SUMJSON] = { "-s", "-j" },
	};
	int i, j, n;

	memset(in, 0, NINST * sizeof(*in));
	for (i = 0; i < NINST; i++) {
		n = 0;
		in[i].argv[n++] = TOOL;
		strcpy(in[i].desc, TOOL);
		for (j = 0; j < 3 && args[i][j]; j++) {
			in[i].argv[n++] = (char *)args[i][j];
			strcat(in[i].desc, " ");
			strcat(in[i].desc, args[i][j]);
		}
		in[i].argv[n++] = "-m";
		in[i].argv[n++] = (char *)mode;
		snprintf(in[i].out, sizeof(in[i].out), "/tmp/gt-%s-%s.out",
			 mode, names[i]);
		/* JSON keeps stdout to itself; text shares one log */
		snprintf(in[i].err, sizeof(in[i].err), "/tmp/gt-%s-%s.%s",
			 mode, names[i], strstr(names[i], "j") ? "err" : "out");
	}
}

/* Start them all, then wait for each to attach; false if one did not. */
static bool inst_start(struct inst *in, const char *mode)
{
	bool ok = true;
	int i;

	for (i = 0; i < NINST; i++)
		in[i].pid = spawn2(in[i].out, in[i].err, in[i].argv);
	for (i = 0; i < NINST; i++) {
		bool att = wait_for(in[i].err, "gcheap-trace: attached", 60000);

		tap_ok(att, "%s: '%s' attaches", mode, in[i].desc);
		if (!att)
			show_log(in[i].err);
		ok &= att;
	}
	return ok;
}

static void inst_stop(struct inst *in)
{
	int i;

	for (i = 0; i < NINST; i++)
		kill(in[i].pid, SIGINT);
	for (i = 0; i < NINST; i++)
		in[i].rc = wl_wait_exit(in[i].pid, 20000);
}

static void inst_check(const char *mode, struct inst *in,
		       unsigned long long id, const struct gch_stats *st,
		       const struct wl_done *d, const struct wl_pressure *p,
		       bool ran)
{
	char want[64], *out, *err;
	int i;

	for (i = 0; i < NINST; i++)
		tap_ok(in[i].rc == 0, "%s: '%s' ends with SIGINT, rc %d",
		       mode, in[i].desc, in[i].rc);
	snprintf(want, sizeof(want), " heap=%llu ", id);
	out = load(in[I_P1].out);
	tap_ok(!strstr(out, want) && strstr(out, "no gcheap activity"),
	       "%s: -p 1 filters out the workload's heap", mode);
	free(out);
	if (!ran)
		return;
	out = load(in[I_JSON].out);
	err = load(in[I_JSON].err);
	check_json(mode, out, err, id, st, d, p);
	free(err);
	free(out);
	out = load(in[I_SUM].out);
	check_summary_only(mode, out, false, id, st, d, p);
	free(out);
	out = load(in[I_SUMJSON].out);
	check_summary_only(mode, out, true, id, st, d, p);
	free(out);
	printf("# %s -j, stdout:\n", TOOL);
	show_excerpt(in[I_JSON].out, 4);
	printf("# %s -s:\n", TOOL);
	show_log(in[I_SUM].out);
	printf("# %s -s -j:\n", TOOL);
	show_log(in[I_SUMJSON].out);
}

/* wl_run() on one heap under the odd comm; the heap is destroyed after. */
static int workload(struct wl_heap *h, struct wl_done *d,
		    struct gch_stats *st)
{
	int err;

	prctl(PR_SET_NAME, ODD_COMM);
	err = wl_open(h);
	if (!err)
		err = wl_run(h, d);
	if (!err)
		err = wl_stats(h, st);
	prctl(PR_SET_NAME, "trace_tool_test");
	wl_close(h);
	return err;
}

/*
 * wl_pressure() while the tools watch: a pressure event and its answer on
 * a heap of its own.  NULL when it did not run (the module has no pressure
 * events, or the kernel no cgroup v2): nothing to look for then.
 */
static const struct wl_pressure *pressure(const char *mode,
					  struct wl_pressure *p)
{
	int err = wl_pressure(p);

	if (err == -EOPNOTSUPP) {
		tap_skip("%s: pressure: %s", mode, p->why);
		return NULL;
	}
	tap_ok(!err, "%s: a child over memory.high gets a pressure event and answers it (%s)",
	       mode, err ? p->why : "ok");
	if (!err)
		printf("# %s: pressure heap %llu of pid %d: reasons %#x, asked %llu, answered %llu, %llu events, %llu ns\n",
		       mode, p->id, p->pid, p->reasons, p->asked, p->answered,
		       p->events, p->elapsed_ns);
	return err ? NULL : p;
}

/* -w before insmod; false (the tool killed) if it never attaches. */
static bool start_waiting(const char *mode, const char *log, pid_t *pid)
{
	char *const argv[] = { TOOL, "-w", "-i", "1", "-m", (char *)mode,
			       NULL };
	int err;

	*pid = spawn(log, argv);
	tap_ok(wait_for(log, "not loaded; waiting", 10000),
	       "%s: -w waits for the module", mode);
	err = wl_insmod();
	tap_ok(!err, "%s: insmod while the tool waits (%s)", mode,
	       strerror(-err));
	if (!wait_for(log, "gcheap-trace: attached", 60000)) {
		tap_ok(false, "%s: the tool attaches once the module is loaded",
		       mode);
		show_log(log);
		kill(*pid, SIGKILL);
		wl_wait_exit(*pid, 5000);
		return false;
	}
	tap_ok(true, "%s: the tool attaches once the module is loaded", mode);
	return true;
}

/* The module is unloaded on entry; loaded on return. */
static void run_mode(const char *mode)
{
	const struct wl_pressure *prs = NULL;
	struct inst in[NINST];
	struct wl_pressure p;
	struct gch_stats st;
	struct wl_done d;
	struct wl_heap h;
	char log[64], *out;
	pid_t pid;
	int rc, err;

	snprintf(log, sizeof(log), "/tmp/gt-%s.log", mode);
	if (!start_waiting(mode, log, &pid))
		return;
	inst_init(in, mode);
	inst_start(in, mode);
	err = workload(&h, &d, &st);
	tap_ok(!err, "%s: workload (%s)", mode, strerror(-err));
	if (!err)
		prs = pressure(mode, &p);
	/* let one more interval report the heap's destruction */
	sleep(2);
	kill(pid, SIGINT);
	inst_stop(in);
	rc = wl_wait_exit(pid, 20000);
	out = load(log);
	tap_ok(rc == 0 && strstr(out, "gcheap-trace: detached"),
	       "%s: SIGINT ends it cleanly (rc %d)", mode, rc);
	if (!err) {
		check_text(mode, out, h.id, &st, &d, prs);
		/* an older module: no pressure counters, rather than zeros */
		tap_ok(!strstr(out, " pressure_events=") ==
		       !(h.features & GCH_FEAT_PRESSURE),
		       "%s: pressure counters printed %s", mode,
		       h.features & GCH_FEAT_PRESSURE ?
		       "(the module has pressure events)" :
		       "not at all (the module has no pressure events)");
	}
	free(out);
	if (rc != 0 || err)
		show_log(log);
	else
		show_excerpt(log, 8);
	inst_check(mode, in, h.id, &st, &d, prs, !err);
	err = wl_rmmod();
	tap_ok(!err, "%s: the tools let go of the module: rmmod works (%s)",
	       mode, strerror(-err));
	if (!err)
		err = wl_insmod();
	if (err)
		printf("# cannot reload gcheap: %s\n", strerror(-err));
}

int main(void)
{
	bool btf;
	int err;

	printf("TAP version 13\n");
	command_line();
	if (!wl_module_loaded()) {
		tap_ok(false, "gcheap is loaded when the test starts");
		return tap_done();
	}
	/* decided while loaded: the module's BTF shows in /sys/kernel/btf */
	btf = gtr_module_has_btf();
	count_exit();

	err = wl_rmmod();
	tap_ok(!err, "rmmod gcheap (%s)", strerror(-err));
	if (err)
		return tap_done();
	not_loaded();
	run_mode("raw");
	if (!btf) {
		forced_btf();
		tap_skip("tp_btf: no module or kernel BTF (Debian kernel: make vmtest BTF=1)");
	} else if (!wl_rmmod()) {
		run_mode("btf");
	}
	if (!wl_module_loaded() && wl_insmod())
		printf("# gcheap could not be loaded again\n");
	return tap_done();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * gcheap-trace end to end, as an operator uses it (the tool is on the guest's
 * PATH, from build/vmtests-bpf/bin):
 *  1. with gcheap unloaded, it fails at once with a clear message;
 *  2. started with -w before the module is loaded, it waits, attaches when
 *     insmod happens, and traces wl_run() on one heap: the sum of its
 *     per-interval summaries for that heap equals GCH_IOC_STATS (the GC
 *     pauses too: count, total ns and the longest), its live stream shows
 *     the events (each pause with its kind, cycle and ns), its histograms
 *     are non-empty;
 *  3. a second instance with -p 1 (init owns no heap) sees none of it;
 *  4. SIGINT ends it with status 0, and it lets go of the module (rmmod
 *     works right after).
 * Once per attach mode (raw_tp; tp_btf when the module has BTF).  The module
 * is always loaded again before the test returns, for the runner's rmmod.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include "trace_load.h"
#include "workload.h"

#define TOOL	"gcheap-trace"

static pid_t spawn(const char *log, char *const argv[])
{
	pid_t pid = fork();
	int fd;

	if (pid)
		return pid;
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		_exit(126);
	dup2(fd, 1);
	dup2(fd, 2);
	execvp(argv[0], argv);
	_exit(127);
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

static int wait_exit(pid_t pid, unsigned int ms)
{
	struct timespec tick = { 0, 50 * 1000000L };
	unsigned int waited;
	int status;

	for (waited = 0; waited <= ms; waited += 50) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) :
						   128 + WTERMSIG(status);
		nanosleep(&tick, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void show_log(const char *log)
{
	char *p = slurp(log), *line;

	for (line = strtok(p, "\n"); line; line = strtok(NULL, "\n"))
		printf("#   %s\n", line);
}

/*
 * The tool's output for the record: the first lines of the live stream, then
 * everything but the stream (summaries, histograms, messages).
 */
static void show_excerpt(const char *log)
{
	char *p = slurp(log), *line;
	unsigned int n = 0, skipped = 0;

	for (line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
		/* stream records start "HH:MM:SS.uuuuuu " */
		bool event = strlen(line) > 16 && line[8] == '.';

		if (event && ++n > 8) {
			skipped++;
			continue;
		}
		if (skipped) {
			printf("#   [... %u more events ...]\n", skipped);
			skipped = 0;
		}
		printf("#   %s\n", line);
	}
}

static unsigned long long field(const char *line, const char *key)
{
	char want[48];
	const char *p;

	snprintf(want, sizeof(want), " %s=", key);
	p = strstr(line, want);
	return p ? strtoull(p + strlen(want), NULL, 10) : 0;
}

struct sums {
	unsigned long long lines, spans_alloc, pages_alloc, spans_freed,
		pages_freed, free_calls, rel_bg, rel_eager, rel_shrink, rel_memcg,
		rel_ioctl, gc_cycles, gc_last, limit_hits, created, destroyed,
		gc_pauses, pause_ns, pause_max_ns;
};

/* Add up the summary lines of heap @id in the tool's output. */
static void sum_summaries(const char *out, unsigned long long id,
			  struct sums *s)
{
	char want[64], *copy = strdup(out), *line, *save;

	memset(s, 0, sizeof(*s));
	snprintf(want, sizeof(want), " heap=%llu pid=", id);
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, want) || !strstr(line, " spans_alloc="))
			continue;
		s->lines++;
		s->spans_alloc += field(line, "spans_alloc");
		s->pages_alloc += field(line, "pages_alloc");
		s->spans_freed += field(line, "spans_freed");
		s->pages_freed += field(line, "pages_freed");
		s->free_calls += field(line, "free_calls");
		s->rel_bg += field(line, "rel_bg");
		s->rel_eager += field(line, "rel_eager");
		s->rel_shrink += field(line, "rel_shrink");
		s->rel_memcg += field(line, "rel_memcg");
		s->rel_ioctl += field(line, "rel_ioctl");
		s->gc_cycles += field(line, "gc_cycles");
		s->gc_last = field(line, "gc_last");
		s->limit_hits += field(line, "limit_hits");
		s->gc_pauses += field(line, "gc_pauses");
		s->pause_ns += field(line, "pause_ns");
		/* the longest since the tool started: the last line has it */
		s->pause_max_ns = field(line, "pause_max_ns");
		s->created += strstr(line, " created") != NULL;
		s->destroyed += strstr(line, " destroyed") != NULL;
	}
	free(copy);
}

#define EQ(what, a, b) do {						\
	unsigned long long a_ = (a), b_ = (b);				\
	tap_ok(a_ == b_, "%s: summary %s: %llu, stats %llu", mode,	\
	       what, a_, b_);						\
} while (0)

static void check_pauses(const char *mode, const char *out,
			 unsigned long long id, const struct sums *s,
			 const struct gch_stats *st, const struct wl_done *d)
{
	char ev[128];

	if (!d->gc_pauses) {
		tap_skip("%s: module has no GC pause announcements", mode);
		return;
	}
	EQ("gc_pauses", s->gc_pauses, st->gc_pauses);
	EQ("gc_pauses == announced", s->gc_pauses, d->gc_pauses);
	EQ("pause_ns", s->pause_ns, st->gc_pause_ns);
	EQ("pause_max_ns == longest announced", s->pause_max_ns,
	   d->gc_pause_max_ns);
	/* wl_run()'s cycle 1: mark start 101000 ns, then terms 50001, 700007 */
	snprintf(ev, sizeof(ev),
		 "gc_pause      heap=%llu pid=%d cycle=1 kind=mark_start ns=101000\n",
		 id, getpid());
	tap_ok(strstr(out, ev) != NULL,
	       "%s: live stream shows the mark start pause of cycle 1", mode);
	snprintf(ev, sizeof(ev),
		 "gc_pause      heap=%llu pid=%d cycle=2 kind=mark_term ns=700014\n",
		 id, getpid());
	tap_ok(strstr(out, ev) != NULL,
	       "%s: live stream shows a mark termination pause of cycle 2",
	       mode);
}

static void check_output(const char *mode, const char *out,
			 unsigned long long id, const struct gch_stats *st,
			 const struct wl_done *d)
{
	unsigned long long ps = sysconf(_SC_PAGESIZE);
	char ev[64];
	struct sums s;

	sum_summaries(out, id, &s);
	tap_ok(s.lines > 0, "%s: %llu summary lines for heap %llu", mode,
	       s.lines, id);
	EQ("spans_alloc", s.spans_alloc, st->alloc_calls);
	EQ("free_calls", s.free_calls, st->free_calls);
	EQ("spans_freed", s.spans_freed, st->spans_freed);
	EQ("pages_alloc - pages_freed", s.pages_alloc - s.pages_freed,
	   st->span_pages);
	EQ("rel_bg * PAGE_SIZE", s.rel_bg * ps, st->released_bg_bytes);
	EQ("rel_eager * PAGE_SIZE", s.rel_eager * ps, st->released_eager_bytes);
	EQ("rel_shrink * PAGE_SIZE", s.rel_shrink * ps, st->released_shrink_bytes);
	EQ("rel_memcg * PAGE_SIZE", s.rel_memcg * ps, st->released_memcg_bytes);
	EQ("rel_ioctl * PAGE_SIZE", s.rel_ioctl * ps, st->released_ioctl_bytes);
	EQ("gc_last", s.gc_last, st->gc_cycle);
	EQ("gc_cycles", s.gc_cycles, st->gc_cycle);
	EQ("limit_hits", s.limit_hits, st->limit_hits);
	check_pauses(mode, out, id, &s, st, d);
	EQ("created", s.created, 1);
	EQ("destroyed", s.destroyed, 1);
	snprintf(ev, sizeof(ev), "span_alloc    heap=%llu ", id);
	tap_ok(strstr(out, ev) != NULL, "%s: live stream shows span_alloc",
	       mode);
	snprintf(ev, sizeof(ev), "pages_release heap=%llu ", id);
	tap_ok(strstr(out, ev) != NULL, "%s: live stream shows pages_release",
	       mode);
	tap_ok(strstr(out, "scavenge latency, reason=") &&
	       strstr(out, "pages per release, reason=") &&
	       strstr(out, "|*"),
	       "%s: latency and pages histograms are non-empty", mode);
}

static void not_loaded(void)
{
	const char *log = "/tmp/gt-notloaded.log";
	char *const argv[] = { TOOL, NULL };
	int rc;

	rc = wait_exit(spawn(log, argv), 10000);
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

	rc = wait_exit(spawn(log, argv), 20000);
	tap_ok(rc == 1 && strstr(slurp(log), "tp_btf needs /sys/kernel/btf/vmlinux"),
	       "-m btf without BTF fails (rc %d) and says what is missing", rc);
	if (rc != 1)
		show_log(log);
}

/* The module is unloaded on entry; loaded on return. */
static void run_mode(const char *mode)
{
	char log[64], other_log[64], want[64];
	char *const argv[] = { TOOL, "-w", "-i", "1", "-m", (char *)mode,
			       NULL };
	char *const other_argv[] = { TOOL, "-q", "-p", "1", "-m", (char *)mode,
				     NULL };
	pid_t other;
	int orc;
	struct gch_stats st;
	struct wl_done d;
	struct wl_heap h;
	pid_t pid;
	int rc, err;

	snprintf(log, sizeof(log), "/tmp/gt-%s.log", mode);
	snprintf(other_log, sizeof(other_log), "/tmp/gt-%s-p1.log", mode);
	pid = spawn(log, argv);
	tap_ok(wait_for(log, "not loaded; waiting", 10000),
	       "%s: -w waits for the module", mode);
	err = wl_insmod();
	tap_ok(!err, "%s: insmod while the tool waits (%s)", mode,
	       strerror(-err));
	if (!wait_for(log, "gcheap-trace: attached", 20000)) {
		tap_ok(false, "%s: the tool attaches once the module is loaded",
		       mode);
		show_log(log);
		kill(pid, SIGKILL);
		wait_exit(pid, 5000);
		return;
	}
	tap_ok(true, "%s: the tool attaches once the module is loaded", mode);
	/* a second instance watching only init's heaps must see none of ours */
	other = spawn(other_log, other_argv);
	tap_ok(wait_for(other_log, "gcheap-trace: attached", 20000),
	       "%s: a second instance with -p 1 attaches", mode);

	err = wl_open(&h);
	if (!err)
		err = wl_run(&h, &d);
	if (!err)
		err = wl_stats(&h, &st);
	tap_ok(!err, "%s: workload (%s)", mode, strerror(-err));
	wl_close(&h);
	/* let one more interval report the heap's destruction */
	sleep(2);
	kill(other, SIGINT);
	kill(pid, SIGINT);
	rc = wait_exit(pid, 20000);
	orc = wait_exit(other, 20000);
	snprintf(want, sizeof(want), " heap=%llu pid=", h.id);
	tap_ok(orc == 0 && !strstr(slurp(other_log), want) &&
	       strstr(slurp(other_log), "no gcheap activity"),
	       "%s: -p 1 filters out the workload's heap (rc %d)", mode, orc);
	tap_ok(rc == 0 && strstr(slurp(log), "gcheap-trace: detached"),
	       "%s: SIGINT ends it cleanly (rc %d)", mode, rc);
	if (!err)
		check_output(mode, slurp(log), h.id, &st, &d);
	if (rc != 0 || err)
		show_log(log);
	else
		show_excerpt(log);
	err = wl_rmmod();
	tap_ok(!err, "%s: the tool let go of the module: rmmod works (%s)",
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
	if (!wl_module_loaded()) {
		tap_ok(false, "gcheap is loaded when the test starts");
		return tap_done();
	}
	/* decided while loaded: the module's BTF shows in /sys/kernel/btf */
	btf = gtr_module_has_btf();

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

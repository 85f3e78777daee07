// SPDX-License-Identifier: GPL-2.0
/*
 * Every gcheap tracepoint exists in tracefs with its documented fields, and
 * fires for the action that should fire it: BPF programs (the same ones
 * gcheap-trace uses) count the events of one heap while wl_run() drives it,
 * and the counts must equal both what the workload did and what the module's
 * own statistics (GCH_IOC_STATS) say.  Then a child raises a memory
 * pressure event on its heap (wl_pressure()) and answers it: the counts of
 * gcheap_pressure and gcheap_pressure_answer must match what the child got
 * from GCH_IOC_PRESSURE and reported.  Run once per attach mode: raw_tp
 * always, tp_btf when the module has BTF (skipped otherwise).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "trace_load.h"
#include "workload.h"

/* The documented fields of each event (bpf/README.md). */
static const char *const fields[GTR_NTYPES][7] = {
	[GTR_HEAP_CREATE] = { "heap", "pid" },
	[GTR_HEAP_DESTROY] = { "heap", "pid" },
	[GTR_SPAN_ALLOC] = { "heap", "pid", "page", "npages", "zeroed" },
	[GTR_SPANS_FREE] = { "heap", "pid", "count", "npages" },
	[GTR_LIMIT_HIT] = { "heap", "pid", "npages", "span_pages", "limit",
			    "total" },
	[GTR_PAGES_RELEASE] = { "heap", "pid", "reason", "bytes", "ns" },
	[GTR_SHRINK_SCAN] = { "heap", "pid", "asked", "freed" },
	[GTR_GC_PHASE] = { "heap", "pid", "phase", "cycle", "live", "goal" },
	[GTR_GC_PAUSE] = { "heap", "pid", "kind", "cycle", "ns" },
	[GTR_PRESSURE] = { "heap", "pid", "reason", "bytes", "events" },
	[GTR_PRESSURE_ANSWER] = { "heap", "pid", "bytes", "latency_ns" },
};

/* The module's GCH_FEAT_* bits, from a heap of its own; 0 if none opens. */
static unsigned long long module_features(void)
{
	struct wl_heap h;

	if (wl_open(&h))
		return 0;
	wl_close(&h);
	return h.features;
}

static bool format_has(const char *fmt, const char *field)
{
	char want[64];
	const char *p;

	/* "\tfield:u64 heap;\toffset:..." : the name ends the declaration */
	snprintf(want, sizeof(want), " %s;", field);
	for (p = strstr(fmt, "field:"); p; p = strstr(p + 1, "field:")) {
		const char *end = strchr(p, '\n');
		const char *hit = strstr(p, want);

		if (hit && (!end || hit < end))
			return true;
	}
	return false;
}

/*
 * A tracepoint a module may lack without being broken: one added after the
 * first release, whose feature bit the module does not announce.
 */
static bool optional_tp(int t, unsigned long long features)
{
	switch (t) {
	case GTR_GC_PAUSE:
		return !(features & GCH_FEAT_GC_PAUSE);
	case GTR_PRESSURE:
	case GTR_PRESSURE_ANSWER:
		return !(features & GCH_FEAT_PRESSURE);
	default:
		return false;
	}
}

static void check_tracefs(unsigned long long features)
{
	const char *ev = gtr_tracefs_events();
	char path[256], buf[8192];
	int t, i;

	tap_ok(ev != NULL, "tracefs has events/gcheap");
	if (!ev)
		return;
	for (t = 0; t < GTR_NTYPES; t++) {
		FILE *f;
		size_t n;
		bool ok = true;

		snprintf(path, sizeof(path), "%s/%s/format", ev,
			 gtr_tp_names[t]);
		f = fopen(path, "r");
		if (!f && optional_tp(t, features)) {
			tap_skip("%s: an older module, without it",
				 gtr_tp_names[t]);
			continue;
		}
		if (!f) {
			tap_ok(false, "%s exists in tracefs", gtr_tp_names[t]);
			continue;
		}
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		for (i = 0; fields[t][i]; i++) {
			if (!format_has(buf, fields[t][i])) {
				printf("# %s: no field %s\n", gtr_tp_names[t],
				       fields[t][i]);
				ok = false;
			}
		}
		tap_ok(ok, "%s exists with its documented fields",
		       gtr_tp_names[t]);
	}
}

#define EQ(what, a, b) do {						\
	unsigned long long a_ = (a), b_ = (b);				\
	tap_ok(a_ == b_, "%s: %s: bpf %llu, expected %llu", mode, what,	\
	       a_, b_);							\
} while (0)

static void check_counts(const char *mode, const struct gtr_heap_stats *c,
			 const struct wl_done *d, const struct gch_stats *st,
			 unsigned long long features, bool shrink_tp,
			 bool pause_tp)
{
	EQ("heap_create fired once", c->created, 1);
	EQ("span_alloc == workload allocations", c->spans_alloc, d->allocs);
	EQ("span_alloc == stats.alloc_calls", c->spans_alloc, st->alloc_calls);
	EQ("span_alloc npages == workload pages", c->pages_alloc,
	   d->alloc_pages);
	EQ("spans_free == workload free calls", c->free_calls, d->free_calls);
	EQ("spans_free == stats.free_calls", c->free_calls, st->free_calls);
	EQ("spans_free count == stats.spans_freed", c->spans_freed,
	   st->spans_freed);
	EQ("pages allocated - freed == stats.span_pages",
	   c->pages_alloc - c->pages_freed, st->span_pages);
	EQ("limit_hit == workload refusals", c->limit_hits, d->limit_hits);
	EQ("limit_hit == stats.limit_hits", c->limit_hits, st->limit_hits);
	EQ("pages_release(ioctl) bytes == stats.released_ioctl_bytes",
	   c->released_bytes[GTR_REL_IOCTL], st->released_ioctl_bytes);
	EQ("pages_release(ioctl) bytes == GCH_IOC_SCAVENGE results",
	   c->released_bytes[GTR_REL_IOCTL], d->ioctl_released);
	EQ("pages_release(bg) bytes == stats.released_bg_bytes",
	   c->released_bytes[GTR_REL_BG], st->released_bg_bytes);
	EQ("pages_release(eager) bytes == stats.released_eager_bytes",
	   c->released_bytes[GTR_REL_EAGER], st->released_eager_bytes);
	EQ("pages_release(shrink) bytes == stats.released_shrink_bytes",
	   c->released_bytes[GTR_REL_SHRINK], st->released_shrink_bytes);
	EQ("pages_release(memcg) bytes == stats.released_memcg_bytes",
	   c->released_bytes[GTR_REL_MEMCG], st->released_memcg_bytes);
	EQ("pages_release of unknown reason", c->released_bytes[GTR_REL_OTHER],
	   0);
	/* the module also times passes that found nothing to release */
	tap_ok(c->release_ns <= st->scavenge_ns,
	       "%s: pages_release ns (%llu) <= stats.scavenge_ns (%llu)", mode,
	       (unsigned long long)c->release_ns,
	       (unsigned long long)st->scavenge_ns);
	EQ("gc_phase fired per announcement", c->gc_phases, d->gc_phases);
	EQ("gc_phase MARK_START == cycles", c->gc_cycles, d->gc_cycles);
	EQ("gc_phase last cycle == stats.gc_cycle", c->gc_last_cycle,
	   st->gc_cycle);
	if ((features & GCH_FEAT_GC_PAUSE) || pause_tp) {
		tap_ok(d->gc_pauses > 0, "%s: the workload announced %llu pauses",
		       mode, d->gc_pauses);
		EQ("gc_pause fired per pause announced", c->gc_pauses,
		   d->gc_pauses);
		EQ("gc_pause == stats.gc_pauses", c->gc_pauses, st->gc_pauses);
		EQ("gc_pause ns == announced ns", c->gc_pause_ns,
		   d->gc_pause_ns);
		EQ("gc_pause ns == stats.gc_pause_ns", c->gc_pause_ns,
		   st->gc_pause_ns);
		EQ("gc_pause longest == longest announced", c->gc_pause_max_ns,
		   d->gc_pause_max_ns);
	} else {
		tap_skip("%s: module has no GC pause announcements", mode);
	}
	tap_ok(c->releases[GTR_REL_IOCTL] > 0,
	       "%s: pages_release(ioctl) fired (%llu)", mode,
	       (unsigned long long)c->releases[GTR_REL_IOCTL]);
	if ((features & GCH_FEAT_SHRINKER) || shrink_tp) {
		tap_ok(c->shrink_scans > 0, "%s: shrink_scan fired on drop_caches (%llu)",
		       mode, (unsigned long long)c->shrink_scans);
		EQ("shrink_scan freed pages == (shrink + memcg) release bytes / PAGE_SIZE",
		   c->shrink_freed * sysconf(_SC_PAGESIZE),
		   c->released_bytes[GTR_REL_SHRINK] +
		   c->released_bytes[GTR_REL_MEMCG]);
	} else {
		tap_skip("%s: module has no shrinker", mode);
	}
	if (features & GCH_FEAT_SCAVENGER) {
		tap_ok(c->releases[GTR_REL_BG] > 0,
		       "%s: pages_release(bg) fired above the budget (%llu)",
		       mode, (unsigned long long)c->releases[GTR_REL_BG]);
		tap_ok(c->releases[GTR_REL_EAGER] > 0,
		       "%s: pages_release(eager) fired above the soft limit (%llu)",
		       mode, (unsigned long long)c->releases[GTR_REL_EAGER]);
	} else {
		tap_skip("%s: module has no background scavenger", mode);
	}
}

/* A child's pressure event and its answer, counted by BPF. */
static void check_pressure(const char *mode, const struct gtr_session *s)
{
	struct gtr_heap_stats c;
	struct wl_pressure p;
	int err;

	if (!s->attached[GTR_PRESSURE] || !s->attached[GTR_PRESSURE_ANSWER]) {
		tap_skip("%s: module has no pressure tracepoints", mode);
		return;
	}
	err = wl_pressure(&p);
	if (err == -EOPNOTSUPP) {
		tap_skip("%s: pressure: %s", mode, p.why);
		return;
	}
	tap_ok(!err, "%s: a child over memory.high gets a pressure event and answers it (%s)",
	       mode, err ? p.why : "ok");
	if (err)
		return;
	if (bpf_map_lookup_elem(s->heaps_fd, &p.id, &c)) {
		tap_ok(false, "%s: the pressure heap's events were counted",
		       mode);
		return;
	}
	EQ("pressure heap: event pid == its owner", c.pid, p.pid);
	tap_ok(p.events >= 1 && p.reasons,
	       "%s: the child took an event: reasons %#x, %llu bytes asked, %llu events",
	       mode, p.reasons, p.asked, p.events);
	EQ("pressure fired per event raised", c.pressure_events, p.events);
	/* only the cause that raised the event fires; later ones fold in */
	tap_ok(c.pressure_asked_bytes > 0 &&
	       (p.events > 1 || c.pressure_asked_bytes <= p.asked),
	       "%s: pressure bytes (%llu) > 0, <= the event's asked_bytes (%llu)",
	       mode, (unsigned long long)c.pressure_asked_bytes, p.asked);
	EQ("pressure_answer fired per answer", c.pressure_answers, p.answers);
	EQ("pressure_answer bytes == answered_bytes",
	   c.pressure_answered_bytes, p.answered);
	tap_ok(c.answer_max_ns > 0 && c.answer_max_ns <= p.elapsed_ns,
	       "%s: answer latency %llu ns, within the child's %llu ns", mode,
	       (unsigned long long)c.answer_max_ns, p.elapsed_ns);
	EQ("pressure heap: heap_destroy fired once", c.destroyed, 1);
}

static void run_mode(enum gtr_mode m)
{
	const char *mode = m == GTR_MODE_BTF ? "tp_btf" : "raw_tp";
	struct gtr_opts o = { .mode = m };
	struct gtr_heap_stats c;
	struct gtr_session s;
	struct gch_stats st;
	struct wl_done d;
	struct wl_heap h;
	int err;

	if (m == GTR_MODE_BTF && !gtr_module_has_btf()) {
		tap_skip("tp_btf: no module or kernel BTF (Debian kernel: make vmtest BTF=1)");
		return;
	}
	err = gtr_attach(&s, &o);
	tap_ok(!err, "%s: programs load and attach (%s)", mode,
	       err ? strerror(-err) : "ok");
	if (err)
		return;
	err = wl_open(&h);
	tap_ok(!err, "%s: open a heap", mode);
	if (err)
		goto out_detach;
	err = wl_run(&h, &d);
	tap_ok(!err, "%s: workload (%s)", mode, err ? strerror(-err) : "ok");
	if (err || wl_stats(&h, &st))
		goto out_close;
	if (bpf_map_lookup_elem(s.heaps_fd, &h.id, &c)) {
		tap_ok(false, "%s: the heap's events were counted", mode);
		goto out_close;
	}
	EQ("event pid == heap owner", c.pid, (unsigned long long)getpid());
	check_counts(mode, &c, &d, &st, h.features,
		     s.attached[GTR_SHRINK_SCAN], s.attached[GTR_GC_PAUSE]);
	wl_close(&h);
	bpf_map_lookup_elem(s.heaps_fd, &h.id, &c);
	EQ("heap_destroy fired once on close", c.destroyed, 1);
	check_pressure(mode, &s);
	goto out_detach;

out_close:
	wl_close(&h);
out_detach:
	gtr_detach(&s);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	printf("# libbpf: ");
	return vprintf(fmt, args);
}

int main(void)
{
	printf("TAP version 13\n");
	libbpf_set_print(libbpf_print);
	if (!gtr_module_loaded()) {
		tap_ok(false, "gcheap is loaded");
		return tap_done();
	}
	check_tracefs(module_features());
	run_mode(GTR_MODE_RAW);
	run_mode(GTR_MODE_BTF);
	return tap_done();
}

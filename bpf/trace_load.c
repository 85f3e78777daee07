// SPDX-License-Identifier: GPL-2.0
/*
 * trace_load: attach the gcheap BPF programs to whatever the running module
 * offers.
 *
 * Two skeletons hold the same programs, maps and rodata: gcheap_btf (tp_btf,
 * CO-RE against module BTF) and gcheap_raw (raw_tp, no BTF).  Mode AUTO picks
 * BTF when both /sys/kernel/btf/vmlinux and /sys/kernel/btf/gcheap exist.
 *
 * A program is loaded only if its tracepoint exists in the running module:
 * the event's tracefs directory when tracefs is mounted, else the module's
 * __tracepoint_<name> symbol in /proc/kallsyms.  So a module that lacks an
 * event (older, or built without a mechanism) still gets every other one.
 *
 * The release reasons of gcheap_pages_release are numbered by the module's
 * enum; their names are read from the event's print format in tracefs
 * ({ value, "name" } pairs of __print_symbolic) and mapped to gcheap-trace's
 * own numbering, so columns cannot swap silently.  Without tracefs the
 * numbering the module has today is assumed.
 *
 * While attached, every link holds a reference on gcheap.ko: rmmod fails with
 * EBUSY/EWOULDBLOCK until gtr_detach().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "trace_load.h"
#include "gcheap_btf.skel.h"
#include "gcheap_raw.skel.h"

const char *const gtr_tp_names[GTR_NTYPES] = {
	[GTR_HEAP_CREATE]	= "gcheap_heap_create",
	[GTR_HEAP_DESTROY]	= "gcheap_heap_destroy",
	[GTR_SPAN_ALLOC]	= "gcheap_span_alloc",
	[GTR_SPANS_FREE]	= "gcheap_spans_free",
	[GTR_LIMIT_HIT]		= "gcheap_limit_hit",
	[GTR_PAGES_RELEASE]	= "gcheap_pages_release",
	[GTR_SHRINK_SCAN]	= "gcheap_shrink_scan",
	[GTR_GC_PHASE]		= "gcheap_gc_phase",
	[GTR_GC_PAUSE]		= "gcheap_gc_pause",
	[GTR_PRESSURE]		= "gcheap_pressure",
	[GTR_PRESSURE_ANSWER]	= "gcheap_pressure_answer",
};

static const char *const reason_names[GTR_NREASONS] = {
	[GTR_REL_IOCTL] = "ioctl", [GTR_REL_BG] = "bg",
	[GTR_REL_EAGER] = "eager", [GTR_REL_SHRINK] = "shrink",
	[GTR_REL_MEMCG] = "memcg", [GTR_REL_OTHER] = "other",
};

const char *gtr_tracefs_events(void)
{
	static const char *const dirs[] = {
		"/sys/kernel/tracing/events/gcheap",
		"/sys/kernel/debug/tracing/events/gcheap",
	};
	unsigned int i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (access(dirs[i], F_OK) == 0)
			return dirs[i];
	return NULL;
}

bool gtr_module_loaded(void)
{
	char state[16] = "";
	FILE *f = fopen("/sys/module/gcheap/initstate", "r");

	if (!f)
		return false;
	if (!fgets(state, sizeof(state), f))
		state[0] = 0;
	fclose(f);
	return strncmp(state, "live", 4) == 0;
}

bool gtr_module_has_btf(void)
{
	return access("/sys/kernel/btf/vmlinux", R_OK) == 0 &&
	       access("/sys/kernel/btf/gcheap", R_OK) == 0;
}

/* Is tracepoint @name registered by the loaded module? */
static bool tp_exists(const char *name)
{
	const char *ev = gtr_tracefs_events();
	char path[256], line[512], want[128];
	bool found = false;
	FILE *f;

	if (ev) {
		snprintf(path, sizeof(path), "%s/%s", ev, name);
		return access(path, F_OK) == 0;
	}
	f = fopen("/proc/kallsyms", "r");
	if (!f)
		return false;
	snprintf(want, sizeof(want), " __tracepoint_%s\t[gcheap]", name);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, want) != NULL;
	fclose(f);
	return found;
}

/*
 * Fill @slot (module reason value -> enum gtr_reason) from the print format
 * of gcheap_pages_release; keeps the identity mapping where it finds nothing.
 */
static void read_reason_map(volatile __u8 *slot)
{
	const char *ev = gtr_tracefs_events();
	char path[256], buf[8192], pat[32], *p, *brace;
	unsigned long v;
	size_t n;
	FILE *f;
	int r;

	if (!ev)
		return;
	snprintf(path, sizeof(path), "%s/gcheap_pages_release/format", ev);
	f = fopen(path, "r");
	if (!f)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	for (r = 0; r < GTR_REL_OTHER; r++) {
		snprintf(pat, sizeof(pat), ", \"%s\" }", reason_names[r]);
		p = strstr(buf, pat);
		if (!p)
			continue;
		for (brace = p; brace > buf && *brace != '{'; brace--)
			;
		if (*brace != '{')
			continue;
		v = strtoul(brace + 1, NULL, 0);
		if (v < GTR_MAX_KREASON)
			slot[v] = r;
	}
}

/* Settings common to both skeletons, before load. */
#define GTR_CONFIGURE(skel, o, s) do {					\
	unsigned int i_;						\
	(skel)->rodata->targ_pid = (o)->pid;				\
	(skel)->rodata->stream = (o)->stream;				\
	(skel)->rodata->page_shift = __builtin_ctzl((s)->page_size);	\
	for (i_ = 0; i_ < GTR_MAX_KREASON; i_++)			\
		(skel)->rodata->reason_slot[i_] =			\
			i_ < GTR_REL_OTHER ? i_ : GTR_REL_OTHER;	\
	read_reason_map((skel)->rodata->reason_slot);			\
} while (0)

#define GTR_FDS(skel, s) do {						\
	(s)->heaps_fd = bpf_map__fd((skel)->maps.heaps);		\
	(s)->hists_fd = bpf_map__fd((skel)->maps.hists);		\
	(s)->counters_fd = bpf_map__fd((skel)->maps.counters);		\
	(s)->events_fd = bpf_map__fd((skel)->maps.events);		\
} while (0)

static int tp_type(const char *tp)
{
	int t;

	for (t = 0; t < GTR_NTYPES; t++)
		if (strcmp(gtr_tp_names[t], tp) == 0)
			return t;
	return -1;
}

/* Turn off programs whose tracepoint the module does not have. */
static void select_programs(struct bpf_object *obj)
{
	struct bpf_program *prog;
	const char *tp;

	bpf_object__for_each_program(prog, obj) {
		tp = strchr(bpf_program__section_name(prog), '/');
		if (!tp || !tp_exists(tp + 1))
			bpf_program__set_autoload(prog, false);
	}
}

static int attach_programs(struct gtr_session *s, struct bpf_object *obj)
{
	struct bpf_program *prog;
	const char *tp;
	int t, err;

	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog))
			continue;
		tp = strchr(bpf_program__section_name(prog), '/') + 1;
		t = tp_type(tp);
		if (t < 0)
			continue;
		s->links[t] = bpf_program__attach(prog);
		if (!s->links[t]) {
			err = -errno;
			fprintf(stderr, "gcheap: cannot attach to %s: %s\n",
				tp, strerror(-err));
			return err;
		}
		s->attached[t] = true;
	}
	return 0;
}

static int choose_mode(const struct gtr_opts *o)
{
	bool btf = gtr_module_has_btf();

	if (o->mode == GTR_MODE_AUTO)
		return btf ? GTR_MODE_BTF : GTR_MODE_RAW;
	if (o->mode == GTR_MODE_BTF && !btf) {
		fprintf(stderr,
			"gcheap: tp_btf needs /sys/kernel/btf/vmlinux and /sys/kernel/btf/gcheap;\n"
			"gcheap: this module has no BTF (build it with `make module BTF=1`) or the\n"
			"gcheap: kernel has none: use raw_tp (mode raw or auto)\n");
		return -EOPNOTSUPP;
	}
	return o->mode;
}

static int attach_btf(struct gtr_session *s, const struct gtr_opts *o)
{
	int err;

	s->btf = gcheap_btf__open();
	if (!s->btf)
		return -errno;
	GTR_CONFIGURE(s->btf, o, s);
	select_programs(s->btf->obj);
	err = gcheap_btf__load(s->btf);
	if (err)
		return err;
	GTR_FDS(s->btf, s);
	return attach_programs(s, s->btf->obj);
}

static int attach_raw(struct gtr_session *s, const struct gtr_opts *o)
{
	int err;

	s->raw = gcheap_raw__open();
	if (!s->raw)
		return -errno;
	GTR_CONFIGURE(s->raw, o, s);
	select_programs(s->raw->obj);
	err = gcheap_raw__load(s->raw);
	if (err)
		return err;
	GTR_FDS(s->raw, s);
	return attach_programs(s, s->raw->obj);
}

int gtr_attach(struct gtr_session *s, const struct gtr_opts *o)
{
	int mode, err;

	memset(s, 0, sizeof(*s));
	s->heaps_fd = s->hists_fd = s->counters_fd = s->events_fd = -1;
	s->page_size = sysconf(_SC_PAGESIZE);
	if (!gtr_module_loaded())
		return -ENOENT;
	mode = choose_mode(o);
	if (mode < 0)
		return mode;
	s->mode = mode;
	err = mode == GTR_MODE_BTF ? attach_btf(s, o) : attach_raw(s, o);
	if (err) {
		fprintf(stderr, "gcheap: cannot load the %s programs: %s%s\n",
			mode == GTR_MODE_BTF ? "tp_btf" : "raw_tp",
			strerror(-err), gtr_module_loaded() ? "" :
			" (the module went away meanwhile)");
		gtr_detach(s);
		return err;
	}
	return 0;
}

void gtr_detach(struct gtr_session *s)
{
	int t;

	for (t = 0; t < GTR_NTYPES; t++) {
		bpf_link__destroy(s->links[t]);
		s->links[t] = NULL;
	}
	gcheap_btf__destroy(s->btf);
	gcheap_raw__destroy(s->raw);
	s->btf = NULL;
	s->raw = NULL;
}

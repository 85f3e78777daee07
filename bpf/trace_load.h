/* SPDX-License-Identifier: GPL-2.0 */
/*
 * trace_load: find the gcheap module's tracepoints and attach the gcheap BPF
 * programs to them, through tp_btf when the module has BTF and raw_tp when it
 * has not.  Used by gcheap-trace and by bpf/tests.
 */
#ifndef GCHEAP_TRACE_LOAD_H
#define GCHEAP_TRACE_LOAD_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>
#include "gcheap_bpf.h"

struct bpf_link;
struct gcheap_btf;
struct gcheap_raw;

enum gtr_mode {
	GTR_MODE_AUTO,	/* tp_btf if the module has BTF, else raw_tp */
	GTR_MODE_BTF,
	GTR_MODE_RAW,
};

struct gtr_opts {
	enum gtr_mode mode;
	pid_t pid;		/* only heaps owned by this tgid; 0: all */
	bool stream;		/* fill the ring buffer for a live stream */
};

/* Names of the tracepoints, indexed by enum gtr_type. */
extern const char *const gtr_tp_names[GTR_NTYPES];

struct gtr_session {
	enum gtr_mode mode;	/* what was attached: BTF or RAW */
	struct gcheap_btf *btf;
	struct gcheap_raw *raw;
	int heaps_fd, hists_fd, counters_fd, events_fd;
	bool attached[GTR_NTYPES];	/* false: not in this module */
	struct bpf_link *links[GTR_NTYPES];
	long page_size;
};

/* Is the module loaded with its tracepoints registered? */
bool gtr_module_loaded(void);
/* Does the running kernel have BTF for vmlinux and for gcheap.ko? */
bool gtr_module_has_btf(void);
/* The tracefs directory of the gcheap events, or NULL if not mounted. */
const char *gtr_tracefs_events(void);

/*
 * Open, load and attach.  Returns 0, or a negative errno with a message for
 * the user already printed to stderr.  -ENOENT: the module is not loaded.
 */
int gtr_attach(struct gtr_session *s, const struct gtr_opts *o);
void gtr_detach(struct gtr_session *s);

#endif /* GCHEAP_TRACE_LOAD_H */

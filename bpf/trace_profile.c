// SPDX-License-Identifier: GPL-2.0
/*
 * `gcheap-trace profile -p PID [-d SECS] [-j] [-o FILE]`: the heap profile
 * of a running program, live, without a restart.
 *
 *  1. Find libgcheap's USDT probes (gcheap:sample_alloc, sample_free) in
 *     the files the process maps executable (its program, when libgcheap.a
 *     is linked in, or libgcheap.so): read from each file's .note.stapsdt
 *     with libelf.  Read the process's symbols and mappings now (prof_sym),
 *     while it surely runs.
 *  2. Attach gcheap_prof.bpf.c's two programs to them with libbpf's USDT
 *     support, for that PID only; wait for -d SECS, Ctrl-C/SIGTERM, or the
 *     process's exit.
 *  3. Read the `stacks` map: per stack id, the sampled allocations and
 *     frees seen and the return addresses.  Turn them into the pprof_enc
 *     input (libgcheap/malloc/pprof_enc.c, built here as it is built in
 *     the library), so the values are scaled for the target's sampling
 *     rate and the library's frames dropped exactly as the in-process
 *     profile does; print the top functions as `pprof -top` does and the
 *     top stacks, as text or JSON (-j), and with -o write the profile.
 *
 * What the figures cover: the allocations sampled while attached, and,
 * for in-use, those of them not freed by the sweeper before the end (a
 * free of an object allocated before the start is not counted; their
 * number is printed).  The in-process profile covers the heap's whole life
 * as of its last finished cycle: the top sites agree, the totals do not.
 *
 * Errors: bad arguments exit 2 (argp), a process that does not exist or
 * has no probes, an unwritable -o, a failure to attach exit 1; all with a
 * message on stderr and nothing on stdout.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/types.h>
#include "gcheap_prof.h"
#include "gcheap_prof.skel.h"
#include "pprof_enc.h"
#include "prof_sym.h"
#include "trace_profile.h"

_Static_assert(GPR_MAXPC == GCH_PROF_MAXPC, "probe stack size");

#define MAX_LINKS	16	/* two per file with probes */

static struct {
	pid_t pid;
	unsigned int duration;
	bool json, verbose;
	const char *out;
} pe;

static volatile sig_atomic_t stop;

static const char pdoc[] =
"Heap profile of a running program that uses libgcheap, from its USDT\n"
"probes (gcheap:sample_alloc, gcheap:sample_free): which call stacks\n"
"allocated the sampled bytes while the tool was attached, and how much of\n"
"that is still in use.  Values are scaled for the program's sampling rate\n"
"(GCHEAP_PROFILE_RATE) as pprof's are.  Stops after -d SECS, on Ctrl-C or\n"
"SIGTERM, or when the program exits, then prints the top functions (flat:\n"
"allocated by stacks whose first frame of the program is the function; cum:\n"
"by stacks through it) and the top stacks.\n"
"\v"
"EXAMPLES:\n"
"    gcheap-trace profile -p 181 -d 30\n"
"    gcheap-trace profile -p 181 -d 30 -o heap.pb.gz && go tool pprof -top heap.pb.gz\n"
"\n"
"JSON (-j): one object per line: \"type\":\"summary\" (pid secs rate\n"
"samples frees frees_before lost unmatched), then \"type\":\"function\" (name\n"
"alloc_flat alloc_cum inuse_flat inuse_cum, bytes) by alloc_flat, then\n"
"\"type\":\"stack\" (alloc_objects alloc_space inuse_objects inuse_space\n"
"size frames [{func file line addr}...], innermost first) by alloc_space.\n";

static const struct argp_option popts[] = {
	{ "pid", 'p', "PID", 0, "The process to profile (required)", 0 },
	{ "duration", 'd', "SECS", 0,
	  "Stop after SECS seconds (default: Ctrl-C or the process's exit)", 0 },
	{ "json", 'j', NULL, 0, "One JSON object per line (see below)", 0 },
	{ "output", 'o', "FILE", 0,
	  "Also write the profile to FILE (gzipped profile.proto, pprof's)", 0 },
	{ "verbose", 'v', NULL, 0, "Print libbpf's debug log", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{ 0 },
};

/* A whole number in [1, 2^31), or an argp error (exit 2). */
static unsigned int whole(const char *arg, struct argp_state *st,
			  const char *what)
{
	unsigned long v = 0;
	char *end = NULL;

	errno = 0;
	if (isdigit((unsigned char)*arg))
		v = strtoul(arg, &end, 10);
	if (!end || *end || errno || !v || v > 0x7fffffffUL)
		argp_error(st, "invalid number '%s' for %s (a whole number, 1 or more)",
			   arg, what);
	return (unsigned int)v;
}

static error_t pparse(int key, char *arg, struct argp_state *st)
{
	switch (key) {
	case 'p':
		pe.pid = (pid_t)whole(arg, st, "-p");
		break;
	case 'd':
		pe.duration = whole(arg, st, "-d");
		break;
	case 'j':
		pe.json = true;
		break;
	case 'o':
		if (!*arg)
			argp_error(st, "-o needs a file name");
		pe.out = arg;
		break;
	case 'v':
		pe.verbose = true;
		break;
	case 'h':
		argp_state_help(st, st->out_stream, ARGP_HELP_STD_HELP);
		break;
	case ARGP_KEY_ARG:
		argp_error(st, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (!pe.pid)
			argp_error(st, "-p PID is required: the process to profile");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- finding the probes ------------------------------------------------- */

/* Does note @d (of .note.stapsdt) describe a gcheap probe? */
static bool gcheap_note(const GElf_Nhdr *nh, const char *name,
			const char *desc)
{
	size_t at = 3 * 8;	/* pc, base, semaphore (ELF64) */

	return nh->n_type == 3 && nh->n_namesz == 8 &&
	       !memcmp(name, "stapsdt", 8) && nh->n_descsz > at + 7 &&
	       !strncmp(desc + at, "gcheap", nh->n_descsz - at);
}

/* Does the ELF file @path carry libgcheap's USDT probes? */
static bool has_probes(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *e = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	Elf_Scn *scn = NULL;
	bool found = false;

	while (e && !found && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		while (!found &&
		       (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0)
			found = gcheap_note(&nh, (char *)d->d_buf + noff,
					    (char *)d->d_buf + doff);
	}
	if (e)
		elf_end(e);
	if (fd >= 0)
		close(fd);
	return found;
}

struct attached {
	struct gcheap_prof *skel;
	struct bpf_link *links[MAX_LINKS];
	int nlinks;
};

static int attach_file(struct attached *a, const char *path)
{
	static const char *const names[2] = { "sample_alloc", "sample_free" };
	struct bpf_program *progs[2] = { a->skel->progs.sample_alloc,
					 a->skel->progs.sample_free };

	for (int i = 0; i < 2 && a->nlinks < MAX_LINKS; i++) {
		struct bpf_link *l = bpf_program__attach_usdt(progs[i], pe.pid,
							      path, "gcheap",
							      names[i], NULL);

		if (!l) {
			fprintf(stderr, "gcheap-trace profile: cannot attach to "
				"gcheap:%s in %s: %s\n", names[i], path,
				strerror(errno));
			return -1;
		}
		a->links[a->nlinks++] = l;
	}
	return 0;
}

/* Load the programs and attach them to every file of @ps with probes. */
static int attach_all(struct attached *a, struct psym *ps)
{
	const char *f, *with[MAX_LINKS / 2];
	int files = 0;

	elf_version(EV_CURRENT);
	for (size_t i = 0; (f = psym_file(ps, i)) && files < MAX_LINKS / 2; i++)
		if (has_probes(f))
			with[files++] = f;
	if (!files) {
		fprintf(stderr, "gcheap-trace profile: process %d has no "
			"gcheap USDT probes: it does not use libgcheap, or one "
			"built without them\n", (int)pe.pid);
		return -1;
	}
	a->skel = gcheap_prof__open_and_load();
	if (!a->skel) {
		fprintf(stderr, "gcheap-trace profile: cannot load the BPF "
			"programs: %s (root, and a kernel with BPF and uprobes, "
			"are needed)\n", strerror(errno));
		return -1;
	}
	for (int i = 0; i < files; i++)
		if (attach_file(a, with[i]))
			return -1;
	return 0;
}

static void detach_all(struct attached *a)
{
	for (int i = 0; i < a->nlinks; i++)
		bpf_link__destroy(a->links[i]);
	gcheap_prof__destroy(a->skel);
}

/* ---- reading the maps ---------------------------------------------------------- */

struct result {
	struct pprof_stack *s;
	size_t n;
	__u64 cnt[GPR_NCNT];
	__u64 rate;
	double secs;
};

static int read_stacks(struct attached *a, struct result *r)
{
	int fd = bpf_map__fd(a->skel->maps.stacks);
	__u64 key, next, *kp = NULL;
	struct gpr_stack v;

	r->s = calloc(GPR_MAX_STACKS, sizeof(*r->s));
	if (!r->s)
		return -1;
	while (r->n < GPR_MAX_STACKS && !bpf_map_get_next_key(fd, kp, &next)) {
		key = next;
		kp = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) || !v.allocs)
			continue;
		r->s[r->n].c = (struct prof_counts){ v.allocs, v.alloc_bytes,
						     v.frees, v.free_bytes };
		r->s[r->n].size = v.size;
		r->s[r->n].rate = v.rate;
		r->s[r->n].npc = v.npc;
		for (__u32 j = 0; j < v.npc && j < GPR_MAXPC; j++)
			r->s[r->n].pc[j] = (uintptr_t)v.pc[j];
		r->n++;
	}
	fd = bpf_map__fd(a->skel->maps.counters);
	for (__u32 i = 0; i < GPR_NCNT; i++)
		bpf_map_lookup_elem(fd, &i, &r->cnt[i]);
	r->rate = a->skel->bss->rate;
	return 0;
}

/* ---- the run -------------------------------------------------------------------------- */

static bool alive(pid_t pid)
{
	return !kill(pid, 0) || errno != ESRCH;
}

static void wait_run(double *secs)
{
	struct timespec t0, t, tick = { 0, 100 * 1000000L };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		*secs = (double)(t.tv_sec - t0.tv_sec) +
			(double)(t.tv_nsec - t0.tv_nsec) / 1e9;
		if (stop || (pe.duration && *secs >= pe.duration))
			return;
		if (!alive(pe.pid)) {
			fprintf(stderr, "gcheap-trace profile: process %d "
				"exited\n", (int)pe.pid);
			return;
		}
		nanosleep(&tick, NULL);
	}
}

static void resolve_cb(void *arg, struct pprof_frame *f)
{
	psym_resolve(arg, f->addr, &f->name, &f->file, &f->line);
}

/* Write the pprof file: -o was opened at the start, not truncated then. */
static int write_out(int fd, const struct pprof_input *in)
{
	static const struct pprof_zlib z = { deflateInit2_, deflate,
					     deflateEnd };
	struct pb b = { 0 };
	int r = pprof_encode(in, &b);

	if (!r)
		r = ftruncate(fd, 0);
	if (!r)
		r = pprof_write(fd, &b, &z);
	if (r || close(fd)) {
		fprintf(stderr, "gcheap-trace profile: cannot write %s: %s\n",
			pe.out, strerror(errno));
		r = -1;
	}
	free(b.p);
	return r;
}

/* -o: find out now, before attaching, that it can be written; but leave
 * it as it is until there is a profile to write. */
static int open_out(bool *created)
{
	int fd;

	*created = access(pe.out, F_OK) != 0;
	fd = open(pe.out, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		fprintf(stderr, "gcheap-trace profile: cannot write %s: %s\n",
			pe.out, strerror(errno));
	return fd;
}

int gtr_profile_main(int argc, char **argv)
{
	static const struct argp argp = { .options = popts, .parser = pparse,
					  .doc = pdoc };
	struct attached a = { 0 };
	struct result r = { 0 };
	struct pprof_input in = { 0 };
	struct psym *ps = NULL;
	int outfd = -1, err = 1;
	bool created = false;

	argp_err_exit_status = 2;
	argv[0] = "gcheap-trace profile";	/* for argp's usage lines */
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	gtr_libbpf_messages(pe.verbose);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pe.out && (outfd = open_out(&created)) < 0)
		return 1;
	ps = psym_open(pe.pid);
	if (!ps) {
		fprintf(stderr, "gcheap-trace profile: cannot read process "
			"%d: %s\n", (int)pe.pid, errno == ESRCH ?
			"no such process" : strerror(errno));
		goto out;
	}
	if (attach_all(&a, ps))
		goto out;
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	fprintf(stderr, "gcheap-trace profile: attached to process %d (%d "
		"probes); Ctrl-C to stop\n", (int)pe.pid, a.nlinks);
	wait_run(&r.secs);
	if (read_stacks(&a, &r))
		goto out;
	in = (struct pprof_input){ .s = r.s, .n = r.n, .rate = r.rate,
				   .has_functions = true, .has_lines = true,
				   .resolve = resolve_cb, .arg = ps };
	in.maps = psym_mappings(ps, &in.nmaps);
	err = gtr_profile_print(&in, r.cnt, r.secs, pe.pid, pe.json);
	if (!err && outfd >= 0) {
		err = write_out(outfd, &in) ? 1 : 0;
		outfd = -1;
	}
out:
	if (outfd >= 0) {	/* failed before writing: leave no trace */
		close(outfd);
		if (created)
			unlink(pe.out);
	}
	if (a.skel)
		detach_all(&a);
	psym_close(ps);
	free(r.s);
	return err;
}

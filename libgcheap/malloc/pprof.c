// SPDX-License-Identifier: MIT
/*
 * pprof.c - the heap profile written as pprof's profile.proto, gzipped.
 *
 * gch_heap_profile_write(h, fd):
 *  1. finish the current sweep (as a refill would, or as the background
 *     sweeper does when the caller is not attached) and publish the last
 *     finished cycle (profile.c, Go's mProf_PostSweep after runtime.GC);
 *  2. copy the published counts under the profile lock (inside a
 *     no-preemption section: a stopped thread never holds that lock);
 *  3. outside any lock: resolve every return address to a function and a
 *     source line, drop the library's own frames, build the messages,
 *     gzip them and write them to fd.
 *
 * The encoding itself (messages, strings, locations, scaling, gzip) is
 * pprof_enc.c, shared with gcheap-trace profile; this file gathers what
 * it encodes: the heap's buckets, the process's mappings and symbols.
 *
 * Encoding: by hand.  profile.proto needs six small messages (Profile,
 * ValueType, Sample, Label, Mapping, Location/Line, Function) of varints and
 * length-delimited fields; a hand encoder is ~120 lines, where protobuf-c
 * would add a generated file, protoc-c at build time and a runtime library
 * to every program that links libgcheap.a.  A message is built in a scratch
 * buffer and appended to its parent with its length.
 *
 * Values, as Go's runtime/pprof (scaleHeapSample): a bucket of n sampled
 * objects totalling b bytes, with r = the sampling rate and s = b / n, is
 * reported as n * k objects and b * k bytes, k = 1 / (1 - exp(-s / r)), the
 * inverse of the probability that an object of s bytes is sampled when
 * samples fall every r bytes on average; rate 1 (everything sampled) is
 * reported unscaled.
 *
 * Symbols: elfutils' libdwfl (dwfl_module_addrname for the function,
 * dwfl_module_getsrc for file and line), the addr2line of elfutils, which
 * reads the program's own ELF symbol tables and DWARF line tables (and
 * separate debug files) for every loaded object.  Inlined frames are not
 * expanded: a location names the function containing the address.  libdw
 * and zlib are opened with dlopen() when the first profile is written, so
 * that libgcheap keeps its link dependencies (libgcheap.a is linked by
 * programs that never write a profile); without libdw.so.1, names come from
 * dladdr() (exported symbols only, no lines); without libz.so.1 the profile
 * is written uncompressed (pprof reads both).  A statically linked program
 * opens neither (dlopen would load a second libc): its profile is
 * uncompressed, without names, and says so (has_functions false), so that
 * pprof names the frames from the binary itself.
 *
 * Locations: one per distinct return address; its address is the return
 * address minus one, inside the call instruction, which is also the address
 * resolved (the line of the call, not of what follows it).  Mappings: one
 * per loaded object (dl_iterate_phdr), its executable segment, with its
 * GNU build ID.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <elfutils/libdwfl.h>
#include <zlib.h>

#include "internal.h"
#include "gc_internal.h"
#include "profile.h"
#include "pprof_enc.h"

/* ---- symbols: libdwfl, opened on first use -------------------------------- */

static struct {
	pthread_once_t once;
	Dwfl *(*begin)(const Dwfl_Callbacks *);
	int (*proc_report)(Dwfl *, pid_t);
	int (*report_end)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *,
					  Dwarf_Addr, void *), void *);
	Dwfl_Module *(*addrmodule)(Dwfl *, Dwarf_Addr);
	const char *(*addrname)(Dwfl_Module *, GElf_Addr);
	Dwfl_Line *(*getsrc)(Dwfl_Module *, Dwarf_Addr);
	const char *(*lineinfo)(Dwfl_Line *, Dwarf_Addr *, int *, int *,
				Dwarf_Word *, Dwarf_Word *);
	void (*end)(Dwfl *);
	Dwfl_Callbacks cb;
	struct pprof_zlib z;
} lib = { .once = PTHREAD_ONCE_INIT };

static void *sym(void *dl, const char *name, bool *ok)
{
	void *p = dl ? dlsym(dl, name) : NULL;

	if (!p)
		*ok = false;
	return p;
}

/* Defined when the program is dynamically linked (link.h declares it):
 * a statically linked one must not dlopen() libraries that would bring a
 * second libc (libdw crashes so); it gets no names and no gzip. */
#pragma weak _DYNAMIC

static void lib_open(void)
{
	bool dyn = _DYNAMIC != NULL;
	void *dw = dyn ? dlopen("libdw.so.1", RTLD_LAZY | RTLD_LOCAL) : NULL;
	void *z = dyn ? dlopen("libz.so.1", RTLD_LAZY | RTLD_LOCAL) : NULL;
	bool ok = true;

	lib.begin = sym(dw, "dwfl_begin", &ok);
	lib.proc_report = sym(dw, "dwfl_linux_proc_report", &ok);
	lib.report_end = sym(dw, "dwfl_report_end", &ok);
	lib.addrmodule = sym(dw, "dwfl_addrmodule", &ok);
	lib.addrname = sym(dw, "dwfl_module_addrname", &ok);
	lib.getsrc = sym(dw, "dwfl_module_getsrc", &ok);
	lib.lineinfo = sym(dw, "dwfl_lineinfo", &ok);
	lib.end = sym(dw, "dwfl_end", &ok);
	lib.cb.find_elf = sym(dw, "dwfl_linux_proc_find_elf", &ok);
	lib.cb.find_debuginfo = sym(dw, "dwfl_standard_find_debuginfo", &ok);
	if (!ok)
		lib.begin = NULL;	/* dladdr() then */
	ok = true;
	lib.z.init2 = sym(z, "deflateInit2_", &ok);
	lib.z.deflate = sym(z, "deflate", &ok);
	lib.z.end = sym(z, "deflateEnd", &ok);
	if (!ok)
		lib.z.init2 = NULL;	/* written uncompressed then */
}

static Dwfl *dwfl_open_self(void)
{
	Dwfl *d;

	if (!lib.begin)
		return NULL;
	d = lib.begin(&lib.cb);
	if (d && (lib.proc_report(d, getpid()) ||
		  lib.report_end(d, NULL, NULL))) {
		lib.end(d);
		d = NULL;
	}
	return d;
}

/* Name, file and line of @f->addr; strings valid until dwfl is ended. */
static void resolve(void *arg, struct pprof_frame *f)
{
	Dwfl *d = arg;
	Dl_info info;

	if (d) {
		Dwfl_Module *m = lib.addrmodule(d, f->addr);
		Dwfl_Line *l = m ? lib.getsrc(m, f->addr) : NULL;

		f->name = m ? lib.addrname(m, f->addr) : NULL;
		if (l)
			f->file = lib.lineinfo(l, NULL, &f->line, NULL, NULL,
					       NULL);
		return;
	}
	if (dladdr((void *)f->addr, &info) && info.dli_sname)
		f->name = info.dli_sname;
}

/* ---- the snapshot ----------------------------------------------------------------- */

/*
 * Finish the sweep of the last cycle and publish it.  An attached caller
 * sweeps as its refills do, in no-preemption sections; another takes
 * gc_lock, as the background sweeper does, so that no cycle starts under
 * it.  Publishing is done only if, in one no-preemption section (no cycle
 * can end inside it), nothing was left to sweep.
 */
static void finish_sweep(struct gch_heap *h)
{
	bool attached = gch_tls_mcache[h->slot] != &gch_mcache_none;

	if (!attached)
		pthread_mutex_lock(&gc_lock);
	while (gc_sweep_some(h, 64))
		;
	gc_nopreempt_enter();
	if (!gc_sweep_some(h, 1))
		gch_profile_swept(h);
	gc_nopreempt_exit();
	if (!attached)
		pthread_mutex_unlock(&gc_lock);
}

/* Copy the published counts of every bucket with something allocated. */
static struct pprof_stack *snapshot(struct gch_heap *h, size_t *n)
{
	struct gch_profile *p = h->prof;
	struct pprof_stack *s = NULL;
	size_t i = 0;

	*n = 0;
	gc_nopreempt_enter();
	gch_lock(&p->lock);
	gch_prof_catch_up(h, p);
	if (p->nbuckets)
		s = malloc(p->nbuckets * sizeof(*s));
	for (struct prof_bucket *b = s ? p->all : NULL; b; b = b->all) {
		if (!b->active.allocs)
			continue;
		s[i].c = b->active;
		s[i].size = b->size;
		s[i].rate = 0;		/* the heap's, for every bucket */
		s[i].npc = b->npc;
		memcpy(s[i].pc, b->pc, b->npc * sizeof(b->pc[0]));
		i++;
	}
	gch_unlock(&p->lock);
	gc_nopreempt_exit();
	*n = i;
	return s;
}

/* ---- mappings --------------------------------------------------------------------- */

struct mappings {
	struct pprof_mapping *m;
	size_t n, cap;
};

static void build_id_of(struct dl_phdr_info *info, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr +
						     ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;

		if (ph->p_type != PT_NOTE)
			continue;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *desc = p + sizeof(*nh) +
					      ((nh->n_namesz + 3) & ~3u);

			if (nh->n_type == NT_GNU_BUILD_ID &&
			    nh->n_namesz == 4 && nh->n_descsz <= 20 &&
			    !memcmp(p + sizeof(*nh), "GNU", 4)) {
				for (unsigned j = 0; j < nh->n_descsz; j++) {
					out[2 * j] = hex[desc[j] >> 4];
					out[2 * j + 1] = hex[desc[j] & 15];
				}
				out[2 * nh->n_descsz] = 0;
				return;
			}
			p = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
}

/* One mapping per loaded object: its executable segment. */
static int mapping_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct mappings *ms = arg;
	struct pprof_mapping *m;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (ms->n == ms->cap) {
			size_t cap = ms->cap ? ms->cap * 2 : 16;
			struct pprof_mapping *nm = realloc(ms->m, cap * sizeof(*nm));

			if (!nm)
				return 1;
			ms->m = nm;
			ms->cap = cap;
		}
		m = &ms->m[ms->n++];
		memset(m, 0, sizeof(*m));
		m->start = info->dlpi_addr + ph->p_vaddr;
		m->limit = m->start + ph->p_memsz;
		m->offset = ph->p_offset;
		if (info->dlpi_name && *info->dlpi_name)
			snprintf(m->file, sizeof(m->file), "%s",
				 info->dlpi_name);
		else if (readlink("/proc/self/exe", m->file,
				  sizeof(m->file) - 1) < 0)
			strcpy(m->file, "/proc/self/exe");
		build_id_of(info, m->build_id);
		break;
	}
	return 0;
}

/* Encode @s, @n with this process's mappings and symbols into @out. */
static int encode(struct pprof_stack *s, size_t n, uint64_t rate,
		  struct pb *out)
{
	struct mappings ms = { 0 };
	Dwfl *d = dwfl_open_self();
	struct pprof_input in = {
		.s = s, .n = n, .rate = rate,
		/* without names, pprof names the frames from the binary */
		.has_functions = lib.begin || _DYNAMIC,
		.has_lines = lib.begin != NULL,
		.resolve = resolve, .arg = d,
	};
	int r;

	dl_iterate_phdr(mapping_cb, &ms);
	in.maps = ms.m;
	in.nmaps = ms.n;
	r = pprof_encode(&in, out);
	if (d)
		lib.end(d);	/* the names were copied into the table */
	free(ms.m);
	return r;
}

int gch_heap_profile_write(gch_heap *h, int fd)
{
	struct pb out = { 0 };
	struct pprof_stack *s;
	size_t n;
	int r, err;

	if (!h) {
		errno = EINVAL;
		return -1;
	}
	if (fd < 0 || fcntl(fd, F_GETFL) < 0) {
		errno = EBADF;
		return -1;
	}
	pthread_once(&lib.once, lib_open);
	if (h->prof_rate)
		finish_sweep(h);
	s = snapshot(h, &n);
	if (!s && n) {
		errno = ENOMEM;
		return -1;
	}
	r = encode(s, n, h->prof_rate, &out);
	err = r ? ENOMEM : 0;
	if (!r && pprof_write(fd, &out, &lib.z)) {
		r = -1;
		err = errno;
	}
	free(out.p);
	free(s);
	errno = err;
	return r ? -1 : 0;
}

/* ---- GCHEAP_PROFILE: at close, or at exit ------------------------------------ */

static pthread_mutex_t exit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static struct gch_heap *exit_heaps[GCH_MAX_HEAPS];	/* under exit_lock */

/* Write @h's profile to GCHEAP_PROFILE (heap slot N > 0: path.N). */
static void write_path(struct gch_heap *h)
{
	const char *path = h->prof->path;
	char name[4096];
	int fd;

	if (h->slot)
		snprintf(name, sizeof(name), "%s.%u", path, h->slot);
	else
		snprintf(name, sizeof(name), "%s", path);
	fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd >= 0 && gch_heap_profile_write(h, fd)) {
		int err = errno;

		close(fd);
		errno = err;
		fd = -1;
	} else if (fd >= 0 && close(fd)) {
		fd = -1;
	}
	if (fd < 0)
		fprintf(stderr, "libgcheap: GCHEAP_PROFILE=%s: %s\n", name,
			strerror(errno));
}

static void exit_write_all(void)
{
	pthread_mutex_lock(&exit_lock);
	for (unsigned i = 0; i < GCH_MAX_HEAPS; i++) {
		if (exit_heaps[i])
			write_path(exit_heaps[i]);
		exit_heaps[i] = NULL;
	}
	pthread_mutex_unlock(&exit_lock);
}

static void exit_register_once(void)
{
	atexit(exit_write_all);
}

void gch_prof_exit_register(struct gch_heap *h)
{
	pthread_once(&exit_once, exit_register_once);
	pthread_mutex_lock(&exit_lock);
	exit_heaps[h->slot] = h;
	pthread_mutex_unlock(&exit_lock);
}

/* Take @h off the exit list; true if it was on it. */
bool gch_prof_exit_unregister(struct gch_heap *h)
{
	bool mine;

	pthread_mutex_lock(&exit_lock);
	mine = exit_heaps[h->slot] == h;
	if (mine)
		exit_heaps[h->slot] = NULL;
	pthread_mutex_unlock(&exit_lock);
	return mine;
}

void gch_profile_at_close(struct gch_heap *h)
{
	if (h->prof && h->prof->path && gch_prof_exit_unregister(h))
		write_path(h);
}

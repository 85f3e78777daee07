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

/* ---- protobuf encoding ------------------------------------------------------ */

struct pb {
	uint8_t *p;
	size_t n, cap;
	int err;		/* out of memory: the buffer is unusable */
};

static void pb_raw(struct pb *b, const void *d, size_t len)
{
	if (b->err)
		return;
	if (b->n + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *p;

		while (cap < b->n + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, d, len);
	b->n += len;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;

	do {
		t[n++] = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		v >>= 7;
	} while (v);
	pb_raw(b, t, n);
}

/* Field @f as a varint (wire type 0); zero is the default, left out. */
static void pb_int(struct pb *b, unsigned f, uint64_t v)
{
	if (!v)
		return;
	pb_varint(b, (uint64_t)f << 3);
	pb_varint(b, v);
}

/* Field @f length-delimited (wire type 2): bytes, string or message. */
static void pb_bytes(struct pb *b, unsigned f, const void *d, size_t len)
{
	pb_varint(b, (uint64_t)f << 3 | 2);
	pb_varint(b, len);
	pb_raw(b, d, len);
}

/* Append message @m as field @f of @b and empty @m for the next one. */
static void pb_msg(struct pb *b, unsigned f, struct pb *m)
{
	if (m->err)
		b->err = m->err;
	pb_bytes(b, f, m->p, m->n);
	m->n = 0;
}

/* ---- the string table --------------------------------------------------------- */

struct strtab {
	struct pb *out;		/* strings go straight to Profile field 6 */
	char **s;
	uint32_t *slot;		/* open addressing: index + 1, 0 empty */
	size_t n, cap;
	int err;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return h;
}

static int str_grow(struct strtab *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	uint32_t *slot = calloc(cap, sizeof(*slot));
	char **s = realloc(t->s, cap / 2 * sizeof(*s));

	if (!slot || !s) {
		free(slot);
		if (s)
			t->s = s;
		return -1;
	}
	t->s = s;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = str_hash(s[i]) & (cap - 1);

		while (slot[j])
			j = (j + 1) & (cap - 1);
		slot[j] = (uint32_t)i + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->cap = cap;
	return 0;
}

/* The index of @s in the string table, added if new (0 on error: ""). */
static uint64_t str_id(struct strtab *t, const char *s)
{
	size_t j;

	if (t->n + 1 > t->cap / 2 && str_grow(t)) {
		t->err = ENOMEM;
		return 0;
	}
	for (j = str_hash(s) & (t->cap - 1); t->slot[j];
	     j = (j + 1) & (t->cap - 1))
		if (!strcmp(t->s[t->slot[j] - 1], s))
			return t->slot[j] - 1;
	t->s[t->n] = strdup(s);
	if (!t->s[t->n]) {
		t->err = ENOMEM;
		return 0;
	}
	t->slot[j] = (uint32_t)++t->n;
	pb_bytes(t->out, 6, s, strlen(s));
	return t->n - 1;
}

static void str_free(struct strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->slot);
}

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
	/* zlib */
	int (*deflate_init2)(z_streamp, int, int, int, int, int, const char *,
			     int);
	int (*deflate)(z_streamp, int);
	int (*deflate_end)(z_streamp);
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
	lib.deflate_init2 = sym(z, "deflateInit2_", &ok);
	lib.deflate = sym(z, "deflate", &ok);
	lib.deflate_end = sym(z, "deflateEnd", &ok);
	if (!ok)
		lib.deflate_init2 = NULL;	/* written uncompressed then */
}

struct frame {
	uintptr_t addr;		/* return address - 1 */
	const char *name;	/* NULL: unknown */
	const char *file;
	int line;
	uint64_t loc_id;
};

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
static void resolve(Dwfl *d, struct frame *f)
{
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

struct snap {
	struct prof_counts c;
	uint64_t size;
	uint32_t npc;
	uintptr_t pc[GCH_PROF_MAXPC];
};

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
static struct snap *snapshot(struct gch_heap *h, size_t *n)
{
	struct gch_profile *p = h->prof;
	struct snap *s = NULL;
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
		s[i].npc = b->npc;
		memcpy(s[i].pc, b->pc, b->npc * sizeof(b->pc[0]));
		i++;
	}
	gch_unlock(&p->lock);
	gc_nopreempt_exit();
	*n = i;
	return s;
}

/* ---- scaling ------------------------------------------------------------------------ */

/* 1 - exp(-x) for x >= 0, without libm: the series of -expm1(-x) where it
 * converges fast, squaring halves above (exp(-x) = exp(-x/2)^2). */
static double one_minus_exp_neg(double x)
{
	double e, term = 1, sum = 0;
	int halvings = 0;

	if (x > 40)
		return 1;
	while (x > 0.5) {
		x /= 2;
		halvings++;
	}
	for (int k = 1; k <= 20; k++) {
		term *= -x / k;
		sum += term;
	}
	if (!halvings)
		return -sum;
	e = 1 + sum;
	while (halvings--)
		e *= e;
	return 1 - e;
}

/* Go's scaleHeapSample: see the top of the file. */
static void scale(uint64_t count, uint64_t bytes, uint64_t rate,
		  int64_t *out_count, int64_t *out_bytes)
{
	double k;

	if (!count || !bytes || rate <= 1) {
		*out_count = (int64_t)(bytes ? count : 0);
		*out_bytes = (int64_t)(count ? bytes : 0);
		return;
	}
	k = 1 / one_minus_exp_neg((double)bytes / (double)count /
				  (double)rate);
	*out_count = (int64_t)((double)count * k);
	*out_bytes = (int64_t)((double)bytes * k);
}

/* ---- mappings --------------------------------------------------------------------- */

struct mapping {
	uintptr_t start, limit, offset;
	char file[256];
	char build_id[41];
};

struct mappings {
	struct mapping *m;
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
	struct mapping *m;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (ms->n == ms->cap) {
			size_t cap = ms->cap ? ms->cap * 2 : 16;
			struct mapping *nm = realloc(ms->m, cap * sizeof(*nm));

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

static uint64_t mapping_id(const struct mappings *ms, uintptr_t a)
{
	for (size_t i = 0; i < ms->n; i++)
		if (a >= ms->m[i].start && a < ms->m[i].limit)
			return i + 1;
	return 0;
}

static void emit_mappings(struct pb *out, struct pb *m, struct strtab *st,
			  const struct mappings *ms)
{
	for (size_t i = 0; i < ms->n; i++) {
		const struct mapping *mp = &ms->m[i];

		pb_int(m, 1, i + 1);
		pb_int(m, 2, mp->start);
		pb_int(m, 3, mp->limit);
		pb_int(m, 4, mp->offset);
		pb_int(m, 5, str_id(st, mp->file));
		pb_int(m, 6, str_id(st, mp->build_id));
		/* without names, pprof names the frames from the binary */
		pb_int(m, 7, lib.begin || _DYNAMIC);	/* has_functions */
		pb_int(m, 8, lib.begin != NULL);	/* has_filenames */
		pb_int(m, 9, lib.begin != NULL);	/* has_line_numbers */
		pb_msg(out, 3, m);
	}
}

/* ---- frames, locations and functions ---------------------------------------- */

static int cmp_frame(const void *a, const void *b)
{
	uintptr_t x = ((const struct frame *)a)->addr;
	uintptr_t y = ((const struct frame *)b)->addr;

	return x < y ? -1 : x > y;
}

/* Every distinct call address of the snapshot, sorted, resolved. */
static struct frame *collect_frames(Dwfl *d, const struct snap *s, size_t n,
				    size_t *nf)
{
	size_t total = 0, u = 0;
	struct frame *f;

	for (size_t i = 0; i < n; i++)
		total += s[i].npc;
	f = calloc(total ? total : 1, sizeof(*f));
	if (!f)
		return NULL;
	for (size_t i = 0, k = 0; i < n; i++)
		for (uint32_t j = 0; j < s[i].npc; j++)
			f[k++].addr = s[i].pc[j] - 1;
	qsort(f, total, sizeof(*f), cmp_frame);
	for (size_t i = 0; i < total; i++)
		if (!u || f[i].addr != f[u - 1].addr)
			f[u++] = f[i];
	for (size_t i = 0; i < u; i++)
		resolve(d, &f[i]);
	*nf = u;
	return f;
}

static const struct frame *find_frame(const struct frame *f, size_t nf,
				      uintptr_t addr)
{
	struct frame key = { .addr = addr };

	return bsearch(&key, f, nf, sizeof(*f), cmp_frame);
}

static bool is_entry(const char *name)
{
	return name && (!strcmp(name, "gch_malloc") ||
			!strcmp(name, "gch_malloc_noscan") ||
			!strcmp(name, "gch_malloc_typed"));
}

/*
 * The first frame of @s that is the program's: past the outermost public
 * allocation function among the innermost frames, or, where names are not
 * known that far, past the leading frames of gch_ and gc_ functions.
 */
static uint32_t first_user_frame(const struct snap *s, const struct frame *f,
				 size_t nf)
{
	uint32_t start = 0, lead = 0;
	bool in_lead = true;

	for (uint32_t j = 0; j < s->npc && j < GCH_PROF_MAXPC - GCH_PROF_DEPTH
	     + 4; j++) {
		const struct frame *fr = find_frame(f, nf, s->pc[j] - 1);
		const char *name = fr ? fr->name : NULL;

		if (is_entry(name))
			start = j + 1;
		if (in_lead && name && (!strncmp(name, "gch_", 4) ||
					!strncmp(name, "gc_", 3)))
			lead = j + 1;
		else
			in_lead = false;
	}
	return start ? start : lead;
}

/* Functions by (name, file) string ids: open addressing, id + 1 stored. */
struct funcs {
	uint64_t *key;
	uint64_t *id;
	size_t cap, n;
};

/* The function id of (@name_id, @file_id), emitting it if new; 0 on error. */
static uint64_t func_id(struct funcs *fs, struct pb *out, struct pb *m,
			uint64_t name_id, uint64_t file_id)
{
	uint64_t key = name_id << 32 | file_id;
	size_t j;

	for (j = (key * 0x9e3779b97f4a7c15ULL) & (fs->cap - 1); fs->id[j];
	     j = (j + 1) & (fs->cap - 1))
		if (fs->key[j] == key)
			return fs->id[j];
	fs->key[j] = key;
	fs->id[j] = ++fs->n;
	pb_int(m, 1, fs->n);
	pb_int(m, 2, name_id);
	pb_int(m, 3, name_id);
	pb_int(m, 4, file_id);
	pb_msg(out, 5, m);
	return fs->n;
}

/* A Location per frame (and the Functions they name). */
static int emit_locations(struct pb *out, struct pb *m, struct pb *line,
			  struct strtab *st, const struct mappings *ms,
			  struct frame *f, size_t nf)
{
	struct funcs fs = { .cap = 16 };

	while (fs.cap < 2 * nf)
		fs.cap *= 2;
	fs.key = calloc(fs.cap, sizeof(*fs.key));
	fs.id = calloc(fs.cap, sizeof(*fs.id));
	if (!fs.key || !fs.id) {
		free(fs.key);
		free(fs.id);
		return -1;
	}
	for (size_t i = 0; i < nf; i++) {
		f[i].loc_id = i + 1;
		pb_int(m, 1, f[i].loc_id);
		pb_int(m, 2, mapping_id(ms, f[i].addr));
		pb_int(m, 3, f[i].addr);
		if (f[i].name) {
			uint64_t fid = func_id(&fs, out, line,
					       str_id(st, f[i].name),
					       f[i].file ?
					       str_id(st, f[i].file) : 0);

			pb_int(line, 1, fid);
			pb_int(line, 2, (uint64_t)(int64_t)f[i].line);
			pb_msg(m, 4, line);
		}
		pb_msg(out, 4, m);
	}
	free(fs.key);
	free(fs.id);
	return 0;
}

/* A Sample per bucket: its stack from the program's first frame, the four
 * values scaled for the rate, and the object size as label "bytes". */
static void emit_samples(struct pb *out, struct pb *m, struct pb *sub,
			 struct strtab *st, const struct snap *s, size_t n,
			 const struct frame *f, size_t nf, uint64_t rate)
{
	uint64_t bytes_id = str_id(st, "bytes");

	for (size_t i = 0; i < n; i++) {
		const struct prof_counts *c = &s[i].c;
		uint32_t j = first_user_frame(&s[i], f, nf);
		uint32_t end = s[i].npc < j + GCH_PROF_DEPTH ? s[i].npc :
			       j + GCH_PROF_DEPTH;
		int64_t v[4];

		for (; j < end; j++)
			pb_varint(sub, find_frame(f, nf, s[i].pc[j] - 1)->loc_id);
		pb_msg(m, 1, sub);
		scale(c->allocs, c->alloc_bytes, rate, &v[0], &v[1]);
		scale(c->allocs - c->frees, c->alloc_bytes - c->free_bytes,
		      rate, &v[2], &v[3]);
		for (int k = 0; k < 4; k++)
			pb_varint(sub, (uint64_t)v[k]);
		pb_msg(m, 2, sub);
		pb_int(sub, 1, bytes_id);
		pb_int(sub, 3, s[i].size);
		pb_msg(m, 3, sub);
		pb_msg(out, 2, m);
	}
}

static void emit_value_type(struct pb *out, struct pb *m, struct strtab *st,
			    unsigned field, const char *type, const char *unit)
{
	pb_int(m, 1, str_id(st, type));
	pb_int(m, 2, str_id(st, unit));
	pb_msg(out, field, m);
}

struct build {
	struct pb out, m, sub, line;
	struct strtab st;
	struct mappings ms;
	struct frame *f;
	size_t nf;
};

/* The whole Profile message of snapshot @s into b->out. */
static int build_profile(struct build *b, const struct snap *s, size_t n,
			 uint64_t rate)
{
	static const char *const types[4][2] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	};
	struct timespec ts;
	Dwfl *d = dwfl_open_self();

	b->st.out = &b->out;
	str_id(&b->st, "");		/* string 0 is always "" */
	for (int i = 0; i < 4; i++)
		emit_value_type(&b->out, &b->m, &b->st, 1, types[i][0],
				types[i][1]);
	dl_iterate_phdr(mapping_cb, &b->ms);
	emit_mappings(&b->out, &b->m, &b->st, &b->ms);
	b->f = collect_frames(d, s, n, &b->nf);
	if (b->f && !emit_locations(&b->out, &b->m, &b->line, &b->st, &b->ms,
				    b->f, b->nf))
		emit_samples(&b->out, &b->m, &b->sub, &b->st, s, n, b->f,
			     b->nf, rate);
	else
		b->out.err = ENOMEM;
	if (d)
		lib.end(d);	/* the names were copied into the table */
	clock_gettime(CLOCK_REALTIME, &ts);
	pb_int(&b->out, 9, (uint64_t)ts.tv_sec * 1000000000ULL +
	       (uint64_t)ts.tv_nsec);
	emit_value_type(&b->out, &b->m, &b->st, 11, "space", "bytes");
	pb_int(&b->out, 12, rate);
	pb_int(&b->out, 14, str_id(&b->st, "inuse_space"));
	return b->out.err || b->m.err || b->sub.err || b->line.err ||
	       b->st.err ? -1 : 0;
}

/* ---- compress and write -------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* gzip @in (zlib's deflate with a gzip wrapper) and write it to @fd. */
static int write_gzip(int fd, const struct pb *in)
{
	uint8_t buf[64 * 1024];
	z_stream z;
	int r;

	if (!lib.deflate_init2)
		return write_all(fd, in->p, in->n);
	memset(&z, 0, sizeof(z));
	if (lib.deflate_init2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16,
			      8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
			      (int)sizeof(z)) != Z_OK) {
		errno = ENOMEM;
		return -1;
	}
	z.next_in = in->p;
	z.avail_in = (uInt)in->n;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		r = lib.deflate(&z, Z_FINISH);
		if (write_all(fd, buf, sizeof(buf) - z.avail_out)) {
			r = errno;
			lib.deflate_end(&z);
			errno = r;
			return -1;
		}
	} while (r == Z_OK);
	lib.deflate_end(&z);
	return 0;
}

static void build_free(struct build *b)
{
	free(b->out.p);
	free(b->m.p);
	free(b->sub.p);
	free(b->line.p);
	str_free(&b->st);
	free(b->ms.m);
	free(b->f);
}

int gch_heap_profile_write(gch_heap *h, int fd)
{
	struct build b;
	struct snap *s;
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
	memset(&b, 0, sizeof(b));
	r = build_profile(&b, s, n, h->prof_rate);
	err = r ? ENOMEM : 0;
	if (!r && write_gzip(fd, &b.out)) {
		r = -1;
		err = errno;
	}
	build_free(&b);
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

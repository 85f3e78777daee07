// SPDX-License-Identifier: MIT
/*
 * pprof_enc.c - encode a heap profile as pprof's profile.proto (and gzip
 * it), shared by libgcheap (pprof.c) and gcheap-trace profile
 * (bpf/trace_profile.c), which compiles this file as it is.  pprof_enc.h
 * says what goes in; pprof.c's comment why the messages are encoded by
 * hand and how values are scaled.
 *
 * Layout: a message is built in a scratch buffer and appended to its
 * parent with its length.  Strings go straight to Profile field 6 as they
 * are first met (string 0 is ""); Locations are one per distinct call
 * address (return address - 1), Functions one per (name, file).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pprof_enc.h"

/* ---- protobuf encoding ------------------------------------------------------ */

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

/* Go's scaleHeapSample: see pprof.c's comment. */
void pprof_scale(uint64_t count, uint64_t bytes, uint64_t rate,
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

static uint64_t mapping_id(const struct pprof_input *in, uintptr_t a)
{
	for (size_t i = 0; i < in->nmaps; i++)
		if (a >= in->maps[i].start && a < in->maps[i].limit)
			return i + 1;
	return 0;
}

static void emit_mappings(struct pb *out, struct pb *m, struct strtab *st,
			  const struct pprof_input *in)
{
	for (size_t i = 0; i < in->nmaps; i++) {
		const struct pprof_mapping *mp = &in->maps[i];

		pb_int(m, 1, i + 1);
		pb_int(m, 2, mp->start);
		pb_int(m, 3, mp->limit);
		pb_int(m, 4, mp->offset);
		pb_int(m, 5, str_id(st, mp->file));
		pb_int(m, 6, str_id(st, mp->build_id));
		/* without names, pprof names the frames from the binary */
		pb_int(m, 7, in->has_functions);
		pb_int(m, 8, in->has_lines);		/* has_filenames */
		pb_int(m, 9, in->has_lines);		/* has_line_numbers */
		pb_msg(out, 3, m);
	}
}

/* ---- frames, locations and functions ---------------------------------------- */

static int cmp_frame(const void *a, const void *b)
{
	uintptr_t x = ((const struct pprof_frame *)a)->addr;
	uintptr_t y = ((const struct pprof_frame *)b)->addr;

	return x < y ? -1 : x > y;
}

/* Every distinct call address of the snapshot, sorted, resolved. */
struct pprof_frame *pprof_frames(const struct pprof_input *in, size_t *nf)
{
	const struct pprof_stack *s = in->s;
	size_t n = in->n, total = 0, u = 0;
	struct pprof_frame *f;

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
		in->resolve(in->arg, &f[i]);
	*nf = u;
	return f;
}

const struct pprof_frame *pprof_find_frame(const struct pprof_frame *f,
					   size_t nf, uintptr_t addr)
{
	struct pprof_frame key = { .addr = addr };

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
uint32_t pprof_first_user_frame(const struct pprof_stack *s,
				const struct pprof_frame *f, size_t nf)
{
	uint32_t start = 0, lead = 0;
	bool in_lead = true;

	for (uint32_t j = 0; j < s->npc && j < GCH_PROF_MAXPC - GCH_PROF_DEPTH
	     + 4; j++) {
		const struct pprof_frame *fr = pprof_find_frame(f, nf, s->pc[j] - 1);
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
			  struct strtab *st, const struct pprof_input *in,
			  struct pprof_frame *f, size_t nf)
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
		pb_int(m, 2, mapping_id(in, f[i].addr));
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
			 struct strtab *st, const struct pprof_stack *s, size_t n,
			 const struct pprof_frame *f, size_t nf, uint64_t rate)
{
	uint64_t bytes_id = str_id(st, "bytes");

	for (size_t i = 0; i < n; i++) {
		const struct prof_counts *c = &s[i].c;
		uint32_t j = pprof_first_user_frame(&s[i], f, nf);
		uint32_t end = s[i].npc < j + GCH_PROF_DEPTH ? s[i].npc :
			       j + GCH_PROF_DEPTH;
		uint64_t r = s[i].rate ? s[i].rate : rate;
		int64_t v[4];

		for (; j < end; j++)
			pb_varint(sub, pprof_find_frame(f, nf, s[i].pc[j] - 1)->loc_id);
		pb_msg(m, 1, sub);
		pprof_scale(c->allocs, c->alloc_bytes, r, &v[0], &v[1]);
		pprof_scale(c->allocs - c->frees, c->alloc_bytes - c->free_bytes,
			    r, &v[2], &v[3]);
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
	struct pprof_frame *f;
	size_t nf;
};

static int build_profile(struct build *b, const struct pprof_input *in)
{
	static const char *const types[4][2] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	};
	struct timespec ts;

	b->st.out = &b->out;
	str_id(&b->st, "");		/* string 0 is always "" */
	for (int i = 0; i < 4; i++)
		emit_value_type(&b->out, &b->m, &b->st, 1, types[i][0],
				types[i][1]);
	emit_mappings(&b->out, &b->m, &b->st, in);
	b->f = pprof_frames(in, &b->nf);
	if (b->f && !emit_locations(&b->out, &b->m, &b->line, &b->st, in,
				    b->f, b->nf))
		emit_samples(&b->out, &b->m, &b->sub, &b->st, in->s, in->n,
			     b->f, b->nf, in->rate);
	else
		b->out.err = ENOMEM;
	clock_gettime(CLOCK_REALTIME, &ts);
	pb_int(&b->out, 9, (uint64_t)ts.tv_sec * 1000000000ULL +
	       (uint64_t)ts.tv_nsec);
	emit_value_type(&b->out, &b->m, &b->st, 11, "space", "bytes");
	pb_int(&b->out, 12, in->rate);
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
int pprof_write(int fd, const struct pb *in, const struct pprof_zlib *lz)
{
	uint8_t buf[64 * 1024];
	z_stream z;
	int r;

	if (!lz || !lz->init2)
		return write_all(fd, in->p, in->n);
	memset(&z, 0, sizeof(z));
	if (lz->init2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16,
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
		r = lz->deflate(&z, Z_FINISH);
		if (write_all(fd, buf, sizeof(buf) - z.avail_out)) {
			r = errno;
			lz->end(&z);
			errno = r;
			return -1;
		}
	} while (r == Z_OK);
	lz->end(&z);
	return 0;
}

static void build_free(struct build *b)
{
	free(b->out.p);
	free(b->m.p);
	free(b->sub.p);
	free(b->line.p);
	str_free(&b->st);
	free(b->f);
}

int pprof_encode(const struct pprof_input *in, struct pb *out)
{
	struct build b;
	int r;

	memset(&b, 0, sizeof(b));
	r = build_profile(&b, in);
	*out = b.out;
	b.out.p = NULL;
	build_free(&b);
	if (r) {
		free(out->p);
		memset(out, 0, sizeof(*out));
		errno = ENOMEM;
	}
	return r;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The output of `gcheap-trace profile` (trace_profile.c): from the stacks
 * it read, resolved and scaled through pprof_enc (the library's own rules:
 * the same first frame of the program, the same scaling), print
 *  - a summary line (what was seen, the rate, what was lost);
 *  - `pprof -top`'s table for alloc_space and for inuse_space: per
 *    function, flat (stacks whose first frame of the program is in it)
 *    and cum (stacks through it), their shares and the running sum of
 *    flat, sorted by flat;
 *  - the top stacks by alloc_space, their four values, object size and
 *    frames (function, file:line), innermost first.
 * With -j the same as JSON objects, one per line.  Functions are few
 * (the program's allocation sites and their callers): a linear table.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pprof_enc.h"
#include "trace_profile.h"

#define TOP_FUNCS	20
#define TOP_STACKS	10

struct func {
	const char *name;
	double v[2][2];		/* [alloc|inuse][flat|cum], bytes */
};

struct row {			/* one stack, resolved */
	const struct pprof_stack *s;
	int64_t v[4];		/* alloc_objects alloc_space inuse_* */
	uint32_t start, end;	/* its frames of the program */
};

struct view {
	const struct pprof_input *in;
	struct pprof_frame *f;
	size_t nf;
	struct row *rows;
	struct func *fn;
	size_t nfn;
	double total[2];	/* alloc_space, inuse_space */
};

static const char *frame_name(const struct view *w, uintptr_t pc,
			      char *buf, size_t len)
{
	const struct pprof_frame *fr = pprof_find_frame(w->f, w->nf, pc - 1);

	if (fr && fr->name)
		return fr->name;
	snprintf(buf, len, "0x%lx", (unsigned long)(pc - 1));
	return buf;
}

static struct func *func_of(struct view *w, const char *name)
{
	for (size_t i = 0; i < w->nfn; i++)
		if (!strcmp(w->fn[i].name, name))
			return &w->fn[i];
	memset(&w->fn[w->nfn], 0, sizeof(w->fn[0]));
	w->fn[w->nfn].name = strdup(name);
	return w->fn[w->nfn].name ? &w->fn[w->nfn++] : NULL;
}

/* Charge row @r to its functions: flat to the first, cum once to each. */
static void charge_funcs(struct view *w, const struct row *r)
{
	struct func *seen[GCH_PROF_MAXPC];
	size_t nseen = 0;
	char buf[32];

	for (uint32_t j = r->start; j < r->end; j++) {
		struct func *f = func_of(w, frame_name(w, r->s->pc[j], buf,
							sizeof(buf)));
		bool dup = false;

		if (!f)
			continue;
		for (size_t k = 0; k < nseen; k++)
			dup |= seen[k] == f;
		for (int t = 0; t < 2; t++) {
			if (j == r->start)
				f->v[t][0] += (double)r->v[2 * t + 1];
			if (!dup)
				f->v[t][1] += (double)r->v[2 * t + 1];
		}
		if (!dup)
			seen[nseen++] = f;
	}
}

static int build_view(struct view *w, const struct pprof_input *in)
{
	size_t npc = 0;

	w->in = in;
	w->f = pprof_frames(in, &w->nf);
	w->rows = calloc(in->n ? in->n : 1, sizeof(*w->rows));
	for (size_t i = 0; i < in->n; i++)
		npc += in->s[i].npc;
	w->fn = calloc(npc ? npc : 1, sizeof(*w->fn));
	if (!w->f || !w->rows || !w->fn)
		return -1;
	for (size_t i = 0; i < in->n; i++) {
		const struct pprof_stack *s = &in->s[i];
		struct row *r = &w->rows[i];
		const struct prof_counts *c = &s->c;
		uint64_t rate = s->rate ? s->rate : in->rate;

		r->s = s;
		r->start = pprof_first_user_frame(s, w->f, w->nf);
		r->end = s->npc < r->start + GCH_PROF_DEPTH ? s->npc :
			 r->start + GCH_PROF_DEPTH;
		pprof_scale(c->allocs, c->alloc_bytes, rate, &r->v[0],
			    &r->v[1]);
		pprof_scale(c->allocs - c->frees, c->alloc_bytes - c->free_bytes,
			    rate, &r->v[2], &r->v[3]);
		w->total[0] += (double)r->v[1];
		w->total[1] += (double)r->v[3];
		charge_funcs(w, r);
	}
	return 0;
}

static void free_view(struct view *w)
{
	for (size_t i = 0; i < w->nfn; i++)
		free((char *)w->fn[i].name);
	free(w->fn);
	free(w->rows);
	free(w->f);
}

static int sort_type;	/* qsort has no argument: 0 alloc, 1 inuse */

static int by_flat(const void *a, const void *b)
{
	double x = ((const struct func *)a)->v[sort_type][0];
	double y = ((const struct func *)b)->v[sort_type][0];

	return x < y ? 1 : x > y ? -1 :
	       strcmp(((const struct func *)a)->name,
		      ((const struct func *)b)->name);
}

static int by_alloc_space(const void *a, const void *b)
{
	int64_t x = ((const struct row *)a)->v[1];
	int64_t y = ((const struct row *)b)->v[1];

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Bytes as pprof prints them: 512B, 1.50kB, 38.25MB. */
static const char *human(double v, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB" };
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.2f%s" : "%.0f%s", v, unit[u]);
	return buf;
}

static double pct(double v, double total)
{
	return total > 0 ? 100 * v / total : 0;
}

/* pprof -top for alloc_space (@t 0) or inuse_space (1). */
static void print_top(struct view *w, int t)
{
	char a[32], b[32], c[32];
	double sum = 0, shown = 0;
	size_t n = w->nfn < TOP_FUNCS ? w->nfn : TOP_FUNCS;

	sort_type = t;
	qsort(w->fn, w->nfn, sizeof(*w->fn), by_flat);
	for (size_t i = 0; i < n; i++)
		shown += w->fn[i].v[t][0];
	printf("Type: %s\n", t ? "inuse_space" : "alloc_space");
	printf("Showing nodes accounting for %s, %.2f%% of %s total\n",
	       human(shown, a, sizeof(a)), pct(shown, w->total[t]),
	       human(w->total[t], b, sizeof(b)));
	printf("%10s %6s %6s %10s %6s\n", "flat", "flat%", "sum%", "cum",
	       "cum%");
	for (size_t i = 0; i < n; i++) {
		const struct func *f = &w->fn[i];

		sum += f->v[t][0];
		printf("%10s %5.2f%% %5.2f%% %10s %5.2f%%  %s\n",
		       human(f->v[t][0], a, sizeof(a)),
		       pct(f->v[t][0], w->total[t]), pct(sum, w->total[t]),
		       human(f->v[t][1], c, sizeof(c)),
		       pct(f->v[t][1], w->total[t]), f->name);
	}
}

static void print_stacks(const struct view *w)
{
	char a[32], b[32], buf[32];
	size_t n = w->in->n < TOP_STACKS ? w->in->n : TOP_STACKS;

	printf("Top stacks by alloc_space (of %zu):\n", w->in->n);
	printf("%12s %14s %12s %14s %8s\n", "alloc_space", "alloc_objects",
	       "inuse_space", "inuse_objects", "size");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &w->rows[i];

		printf("%12s %14lld %12s %14lld %8llu\n",
		       human((double)r->v[1], a, sizeof(a)),
		       (long long)r->v[0], human((double)r->v[3], b, sizeof(b)),
		       (long long)r->v[2], (unsigned long long)r->s->size);
		for (uint32_t j = r->start; j < r->end; j++) {
			const struct pprof_frame *fr = pprof_find_frame(
				w->f, w->nf, r->s->pc[j] - 1);

			printf("%16s%s", "", frame_name(w, r->s->pc[j], buf,
							 sizeof(buf)));
			if (fr && fr->file)
				printf(" (%s:%d)", fr->file, fr->line);
			putchar('\n');
		}
	}
}

static void json_funcs(struct view *w)
{
	sort_type = 0;
	qsort(w->fn, w->nfn, sizeof(*w->fn), by_flat);
	for (size_t i = 0; i < w->nfn; i++) {
		const struct func *f = &w->fn[i];

		printf("{\"type\":\"function\",\"name\":");
		gtr_json_str(f->name, SIZE_MAX);
		printf(",\"alloc_flat\":%.0f,\"alloc_cum\":%.0f,"
		       "\"inuse_flat\":%.0f,\"inuse_cum\":%.0f}\n",
		       f->v[0][0], f->v[0][1], f->v[1][0], f->v[1][1]);
	}
}

static void json_stacks(const struct view *w)
{
	char buf[32];

	for (size_t i = 0; i < w->in->n; i++) {
		const struct row *r = &w->rows[i];

		printf("{\"type\":\"stack\",\"alloc_objects\":%lld,"
		       "\"alloc_space\":%lld,\"inuse_objects\":%lld,"
		       "\"inuse_space\":%lld,\"size\":%llu,\"frames\":[",
		       (long long)r->v[0], (long long)r->v[1],
		       (long long)r->v[2], (long long)r->v[3],
		       (unsigned long long)r->s->size);
		for (uint32_t j = r->start; j < r->end; j++) {
			const struct pprof_frame *fr = pprof_find_frame(
				w->f, w->nf, r->s->pc[j] - 1);

			printf("%s{\"func\":", j > r->start ? "," : "");
			gtr_json_str(frame_name(w, r->s->pc[j], buf, sizeof(buf)),
				     SIZE_MAX);
			printf(",\"file\":");
			gtr_json_str(fr && fr->file ? fr->file : "", SIZE_MAX);
			printf(",\"line\":%d,\"addr\":\"0x%lx\"}",
			       fr ? fr->line : 0,
			       (unsigned long)(r->s->pc[j] - 1));
		}
		printf("]}\n");
	}
}

int gtr_profile_print(const struct pprof_input *in, const __u64 *cnt,
		      double secs, pid_t pid, bool json)
{
	struct view w = { 0 };
	unsigned long long lost = cnt[GPR_CNT_STACKS_FULL] +
				  cnt[GPR_CNT_READ_ERR];

	if (build_view(&w, in)) {
		fprintf(stderr, "gcheap-trace profile: out of memory\n");
		free_view(&w);
		return 1;
	}
	qsort(w.rows, in->n, sizeof(*w.rows), by_alloc_space);
	if (json) {
		printf("{\"type\":\"summary\",\"pid\":%d,\"secs\":%.1f,"
		       "\"rate\":%llu,\"samples\":%llu,\"frees\":%llu,"
		       "\"frees_before\":%llu,\"lost\":%llu,"
		       "\"unmatched\":%llu}\n", (int)pid, secs,
		       (unsigned long long)in->rate,
		       (unsigned long long)cnt[GPR_CNT_ALLOCS],
		       (unsigned long long)cnt[GPR_CNT_FREES],
		       (unsigned long long)cnt[GPR_CNT_FREES_OLD], lost,
		       (unsigned long long)cnt[GPR_CNT_LIVE_FULL]);
		json_funcs(&w);
		json_stacks(&w);
	} else {
		printf("process %d, %.1f s: %llu sampled allocations (one per "
		       "%llu bytes on average), %llu of them freed; %llu frees "
		       "of objects from before the start not counted; %llu "
		       "lost; %llu unmatched\n", (int)pid, secs,
		       (unsigned long long)cnt[GPR_CNT_ALLOCS],
		       (unsigned long long)in->rate,
		       (unsigned long long)cnt[GPR_CNT_FREES],
		       (unsigned long long)cnt[GPR_CNT_FREES_OLD], lost,
		       (unsigned long long)cnt[GPR_CNT_LIVE_FULL]);
		print_top(&w, 0);
		print_top(&w, 1);
		print_stacks(&w);
	}
	free_view(&w);
	return 0;
}

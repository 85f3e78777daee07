// SPDX-License-Identifier: MIT
/*
 * demo-plot.c: gcheap-demo's record as a picture (SVG) and as a table (CSV).
 *
 * The picture is plain SVG written with fprintf, three panels over one time
 * axis (seconds since the demo started), the phases as bands behind them:
 *  - memory: resident memory, bytes in spans, the heap goal and the live
 *    heap (the last two change only at a cycle's end: drawn as steps); the
 *    memory hog's interval is shaded;
 *  - GC: a tick for each sample interval in which a cycle finished, and a
 *    dot per interval with pauses, at the mean pause length (log scale),
 *    the longest pause labelled;
 *  - memory released by cause, cumulative: background scavenger, eager
 *    scavenger, shrinker, memcg reclaim, GCH_IOC_SCAVENGE.
 * Lines are polylines through the samples; runs of equal values keep only
 * their ends, so a run of a minute stays some tens of KiB.  The legend gives
 * each series' last value; the title and subtitle come from the demo.
 *
 * The CSV has one row per sample with every field of struct sample in
 * bytes (and ns), so the picture can be checked against numbers.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "demo.h"

const char *const rel_names[NREL] = {
	[REL_BG] = "bg", [REL_EAGER] = "eager", [REL_SHRINK] = "shrink",
	[REL_MEMCG] = "memcg", [REL_IOCTL] = "ioctl",
};

#define W	1100
#define H	790
#define PL	72		/* plot left */
#define PR	(W - 240)	/* plot right; the legend is to the right */
#define A_TOP	90		/* memory panel */
#define A_BOT	390
#define G_TOP	412		/* GC strip: cycle ticks, then pauses */
#define G_TICK	428
#define G_PTOP	436
#define G_BOT	500
#define B_TOP	526		/* released panel */
#define B_BOT	686

#define MIB	(1024.0 * 1024.0)

static const char *const rel_colors[NREL] = {
	"#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf",
};

static double tmax;

static double xt(double t)
{
	return PL + (t < 0 ? 0 : t) / tmax * (PR - PL);
}

/* A round step near @range / 5: 1, 2 or 5 times a power of ten. */
static double nice_step(double range)
{
	double raw = range / 5, p = pow(10, floor(log10(raw))), m = raw / p;

	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void text_esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
}

typedef double (*getter)(const struct sample *s, int arg);

static double g_resident(const struct sample *s, int a) { (void)a; return s->resident / MIB; }
static double g_spans(const struct sample *s, int a) { (void)a; return s->spans / MIB; }
static double g_goal(const struct sample *s, int a) { (void)a; return s->goal / MIB; }
static double g_live(const struct sample *s, int a) { (void)a; return s->live / MIB; }
static double g_rel(const struct sample *s, int a) { return s->released[a] / MIB; }

/*
 * One series as a polyline in the panel [top, bot] scaled to [0, ymax].
 * @step: the value holds until the next change (drawn with a riser).
 */
static void polyline(FILE *f, const struct run *r, getter g, int arg, double top,
		     double bot, double ymax, const char *color, double width,
		     const char *dash, bool step)
{
	double lx = -1, ly = -1;
	size_t i;

	fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"%s%s%s "
		"stroke-linejoin=\"round\" points=\"", color, width,
		dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
	for (i = 0; i < r->n; i++) {
		double v = g(&r->s[i], arg);
		double prev = i ? g(&r->s[i - 1], arg) : v;
		double next = i + 1 < r->n ? g(&r->s[i + 1], arg) : v;
		double x = xt(r->s[i].t), y;

		if (i && i + 1 < r->n && v == prev && v == next)
			continue;	/* inside a flat run */
		if (step && i && v != prev) {
			y = bot - prev / ymax * (bot - top);
			fprintf(f, "%.1f,%.1f ", x, y);
		}
		y = bot - v / ymax * (bot - top);
		if (fabs(x - lx) < 0.05 && fabs(y - ly) < 0.05)
			continue;
		fprintf(f, "%.1f,%.1f ", x, y);
		lx = x;
		ly = y;
	}
	fprintf(f, "\"/>\n");
}

/* Horizontal grid lines and labels for [0, ymax] in the panel. */
static void y_axis(FILE *f, double top, double bot, double ymax, double stepv,
		   const char *title)
{
	for (double v = 0; v <= ymax + 1e-9; v += stepv) {
		double y = bot - v / ymax * (bot - top);

		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
			PL, y, PR, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\">%g</text>\n",
			PL - 4, y + 3, v);
	}
	fprintf(f, "<text transform=\"translate(16,%.0f) rotate(-90)\" text-anchor=\"middle\" "
		"font-size=\"11\">", (top + bot) / 2);
	text_esc(f, title);
	fprintf(f, "</text>\n");
	fprintf(f, "<rect x=\"%d\" y=\"%.0f\" width=\"%d\" height=\"%.0f\" fill=\"none\" "
		"stroke=\"#888\"/>\n", PL, top, PR - PL, bot - top);
}

static void legend(FILE *f, int *y, const char *color, const char *dash, double width,
		   const char *label, double value, const char *unit)
{
	int x = PR + 18;

	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
		"stroke-width=\"%.1f\"%s%s%s/>\n", x, *y - 4, x + 22, *y - 4, color, width,
		dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">", x + 28, *y);
	text_esc(f, label);
	if (unit)
		fprintf(f, ": %.1f %s", value, unit);
	fprintf(f, "</text>\n");
	*y += 17;
}

static double max_of(const struct run *r, getter g, int arg)
{
	double m = 0;

	for (size_t i = 0; i < r->n; i++)
		if (g(&r->s[i], arg) > m)
			m = g(&r->s[i], arg);
	return m;
}

static void phases(FILE *f, const struct run *r)
{
	double last_end = -1e9;
	bool up = false;

	for (int i = 0; i < r->nphases; i++) {
		const struct phase *p = &r->phases[i];
		double x0 = xt(p->t0), x1 = xt(p->t1 >= p->t0 ? p->t1 : tmax);

		fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n",
			x0, A_TOP, x1 - x0, B_BOT - A_TOP, i % 2 ? "#ffffff" : "#f1f3f8");
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#bbb\" "
			"stroke-dasharray=\"2,3\"/>\n", x0, A_TOP - 14, x0, B_BOT);
		/* labels of narrow neighbours take turns on two rows */
		up = (x0 + 2 < last_end) ? !up : false;
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" fill=\"#333\">%d %s</text>\n",
			x0 + 3, up ? A_TOP - 18 : A_TOP - 5, i + 1, p->name);
		last_end = x0 + 3 + 7.0 * (strlen(p->name) + 2);
	}
}

static void gc_strip(FILE *f, const struct run *r)
{
	double best = 0, best_x = 0;
	static const double decades[] = { 1e4, 1e5, 1e6, 1e7, 1e8 };
	static const char *const names[] = { "10 us", "100 us", "1 ms", "10 ms", "100 ms" };

	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"10\">cycles</text>\n",
		PL - 4, G_TICK - 3);
	for (int d = 0; d < 5; d++) {
		double y = G_BOT - (log10(decades[d]) - 4) / 4 * (G_BOT - G_PTOP);

		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
			PL, y, PR, y);
		if (d % 2 == 0 || d == 3)
			fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"9\">%s</text>\n",
				PL - 4, y + 3, names[d]);
	}
	fprintf(f, "<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\" "
		"font-size=\"11\">GC</text>\n", (G_TOP + G_BOT) / 2);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
		PL, G_TOP, PR - PL, G_BOT - G_TOP);
	for (size_t i = 1; i < r->n; i++) {
		const struct sample *a = &r->s[i - 1], *b = &r->s[i];
		double x = xt(b->t);

		if (b->cycles > a->cycles)
			fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#2ca02c\" "
				"stroke-width=\"1.5\"/>\n", x, G_TOP + 2, x, G_TICK);
		if (b->pauses > a->pauses) {
			double mean = (double)(b->pause_total_ns - a->pause_total_ns) /
				      (double)(b->pauses - a->pauses);
			double lg = mean > 1e4 ? log10(mean) : 4;
			double y;

			if (lg > 8)
				lg = 8;
			y = G_BOT - (lg - 4) / 4 * (G_BOT - G_PTOP);
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"#d62728\" "
				"fill-opacity=\"0.7\"/>\n", x, y);
			if (b->pause_max_ns > best && b->pause_max_ns > a->pause_max_ns) {
				best = b->pause_max_ns;
				best_x = x;
			}
		}
	}
	if (best > 0) {
		double lg = log10(best) > 8 ? 8 : log10(best) < 4 ? 4 : log10(best);
		double y = G_BOT - (lg - 4) / 4 * (G_BOT - G_PTOP);

		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"none\" stroke=\"#d62728\"/>\n",
			best_x, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#d62728\"%s>"
			"longest pause %.2f ms</text>\n", best_x + (best_x > PR - 140 ? -6 : 6),
			y < G_PTOP + 8 ? y + 10 : y - 4, best_x > PR - 140 ? " text-anchor=\"end\"" : "",
			best / 1e6);
	}
}

void plot_svg(FILE *f, const struct run *r)
{
	double ymax, ystep, bmax, bstep, tstep, total = 0;
	const struct sample *last = r->n ? &r->s[r->n - 1] : NULL;
	int ly;

	tmax = last && last->t > 0 ? last->t : 1;
	ymax = fmax(fmax(max_of(r, g_resident, 0), max_of(r, g_spans, 0)),
		    fmax(max_of(r, g_goal, 0), max_of(r, g_live, 0)));
	ystep = nice_step(ymax > 1 ? ymax : 1);
	ymax = ceil(ymax * 1.05 / ystep) * ystep;
	bmax = 0;
	for (int c = 0; c < NREL; c++) {
		bmax = fmax(bmax, max_of(r, g_rel, c));
		if (last)
			total += last->released[c] / MIB;
	}
	bstep = nice_step(bmax > 1 ? bmax : 1);
	bmax = ceil((bmax > 1 ? bmax : 1) * 1.05 / bstep) * bstep;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n",
		W, H, W, H);
	fprintf(f, "<title>");
	text_esc(f, r->title);
	fprintf(f, "</title>\n<desc>");
	text_esc(f, r->subtitle);
	fprintf(f, " (%zu samples, every 50 ms)</desc>\n", r->n);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
	fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">", PL);
	text_esc(f, r->title);
	fprintf(f, "</text>\n<text x=\"%d\" y=\"44\" font-size=\"11\" fill=\"#333\">", PL);
	text_esc(f, r->subtitle);
	fprintf(f, "</text>\n");

	phases(f, r);
	if (r->hog_t0 >= 0) {
		double x0 = xt(r->hog_t0), x1 = xt(r->hog_t1 >= r->hog_t0 ? r->hog_t1 : tmax);

		fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#d62728\" "
			"fill-opacity=\"0.10\"/>\n", x0, A_TOP, x1 - x0, A_BOT - A_TOP);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#a00\">gcheap-hog</text>\n",
			x0 + 3, A_TOP + 12);
	}

	/* memory */
	y_axis(f, A_TOP, A_BOT, ymax, ystep, "memory (MiB)");
	polyline(f, r, g_goal, 0, A_TOP, A_BOT, ymax, "#2ca02c", 1.5, "6,3", true);
	polyline(f, r, g_live, 0, A_TOP, A_BOT, ymax, "#9467bd", 1.5, NULL, true);
	polyline(f, r, g_spans, 0, A_TOP, A_BOT, ymax, "#1f77b4", 1.5, NULL, false);
	polyline(f, r, g_resident, 0, A_TOP, A_BOT, ymax, "#d62728", 2.2, NULL, false);

	gc_strip(f, r);

	/* released by cause */
	y_axis(f, B_TOP, B_BOT, bmax, bstep, "released (MiB)");
	for (int c = 0; c < NREL; c++)
		if (max_of(r, g_rel, c) > 0)
			polyline(f, r, g_rel, c, B_TOP, B_BOT, bmax, rel_colors[c], 1.8, NULL,
				 false);

	/* time axis */
	tstep = nice_step(tmax);
	for (double t = 0; t <= tmax + 1e-9; t += tstep) {
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#888\"/>\n",
			xt(t), B_BOT, xt(t), B_BOT + 4);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%g</text>\n",
			xt(t), B_BOT + 16, t);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">seconds</text>\n",
		(PL + PR) / 2, B_BOT + 32);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#555\">Sampled every 50 ms "
		"from gch_gc_stats() and GCH_IOC_STATS. Live heap and goal change when a cycle "
		"ends.</text>\n", PL, H - 44);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#555\">GC: a tick per "
		"interval in which a cycle ended; a dot per interval with pauses, at their mean "
		"length.</text>\n", PL, H - 30);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#555\">Released: memory "
		"of free heap pages given back, cumulative, by who gave it (GCH_IOC_STATS "
		"released_*_bytes).</text>\n", PL, H - 16);

	/* legends */
	ly = A_TOP + 10;
	legend(f, &ly, "#d62728", NULL, 2.2, "resident", last ? last->resident / MIB : 0, "MiB");
	legend(f, &ly, "#1f77b4", NULL, 1.5, "in spans", last ? last->spans / MIB : 0, "MiB");
	legend(f, &ly, "#2ca02c", "6,3", 1.5, "heap goal", last ? last->goal / MIB : 0, "MiB");
	legend(f, &ly, "#9467bd", NULL, 1.5, "live heap", last ? last->live / MIB : 0, "MiB");
	ly += 6;
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#555\">peak resident %.1f MiB,"
		"</text>\n", PR + 18, ly, max_of(r, g_resident, 0));
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#555\">at the end %.1f MiB</text>\n",
		PR + 18, ly + 13, last ? last->resident / MIB : 0);
	ly = G_TOP + 14;
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">%llu cycles, %llu pauses</text>\n",
		PR + 18, ly, last ? (unsigned long long)last->cycles : 0ULL,
		last ? (unsigned long long)last->pauses : 0ULL);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">longest %.2f ms</text>\n",
		PR + 18, ly + 16, last ? last->pause_max_ns / 1e6 : 0);
	ly = B_TOP + 10;
	for (int c = 0; c < NREL; c++) {
		static const char *const who[NREL] = {
			"background scavenger", "eager scavenger", "shrinker", "memcg", "ioctl",
		};
		legend(f, &ly, rel_colors[c], NULL, 1.8, who[c],
		       last ? last->released[c] / MIB : 0, "MiB");
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" font-weight=\"bold\">total %.1f MiB"
		"</text>\n", PR + 18, ly + 2, total);
	fprintf(f, "</svg>\n");
}

void write_csv(FILE *f, const struct run *r)
{
	fprintf(f, "t,phase,entries,live,goal,spans,resident,free_resident,rel_bg,rel_eager,"
		"rel_shrink,rel_memcg,rel_ioctl,cycles,pauses,pause_total_ns,pause_max_ns,"
		"alloc_bytes\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct sample *s = &r->s[i];

		fprintf(f, "%.3f,%s,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,"
			"%llu,%llu,%llu,%llu,%llu\n", s->t,
			s->phase >= 0 && s->phase < r->nphases ? r->phases[s->phase].name : "-",
			(unsigned long long)s->entries, (unsigned long long)s->live,
			(unsigned long long)s->goal, (unsigned long long)s->spans,
			(unsigned long long)s->resident, (unsigned long long)s->free_resident,
			(unsigned long long)s->released[REL_BG],
			(unsigned long long)s->released[REL_EAGER],
			(unsigned long long)s->released[REL_SHRINK],
			(unsigned long long)s->released[REL_MEMCG],
			(unsigned long long)s->released[REL_IOCTL],
			(unsigned long long)s->cycles, (unsigned long long)s->pauses,
			(unsigned long long)s->pause_total_ns,
			(unsigned long long)s->pause_max_ns, (unsigned long long)s->alloc_bytes);
	}
}

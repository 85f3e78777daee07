// SPDX-License-Identifier: MIT
/*
 * gc_trace_test - GCHEAP_TRACE's two line kinds say what the stats say.
 *
 * The test sets GCHEAP_TRACE=gc,heap before its first heap opens (the
 * collector reads it then), points stderr at a temporary file, and runs
 * forced cycles over a live set it grows, then drops.  Then it reads the
 * file back: one "gc N @..." line and one "gcheap-heap cycle=N ..." line
 * per cycle, numbered 1..cycles as gch_gc_stats counts them; every key of
 * the heap line present and numeric; times increasing, each cycle's start
 * before its end; marked reaching the live set at its largest, falling
 * after the drop, and equal to the stats' heap_live_bytes on the last
 * line; the goal above what was marked; span and resident bytes non-zero;
 * two pauses within each concurrent cycle, one as long as the cycle in
 * stop-the-world mode.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcheap.h"
#include "gc_test.h"

#define OBJ	1024
#define GROW	4		/* cycles while the live set grows */
#define DROPPED	3		/* cycles after the drop */

static const char *const keys[] = {
	"cycle", "t_start_ns", "t_end_ns", "pause1_ns", "pause2_ns",
	"live_start", "live_end", "marked", "goal", "trigger", "span",
	"resident", "free_resident", "rel_bg", "rel_eager", "rel_shrink",
	"rel_memcg", "rel_ioctl",
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

struct node {
	struct node *next;
	char pad[OBJ - sizeof(void *)];
};

static struct node *volatile root;	/* a registered root */

/* Value of @key in a "k=v k=v" line, or false if absent or not a number. */
static bool field(const char *line, const char *key, unsigned long long *v)
{
	size_t n = strlen(key);

	for (const char *p = line; (p = strstr(p, key)); p += n) {
		char *end;

		if ((p != line && p[-1] != ' ') || p[n] != '=')
			continue;
		*v = strtoull(p + n + 1, &end, 10);
		return end != p + n + 1 && (*end == ' ' || *end == '\n' ||
					    !*end);
	}
	return false;
}

static void grow(gch_heap *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct node *x = gch_malloc(h, sizeof(*x));

		if (!x)
			return;
		x->next = root;		/* initialising store */
		root = x;		/* a root range: no barrier needed */
	}
}

struct seen {
	unsigned gc_lines, heap_lines, bad_keys;
	unsigned long long last_end, last_cycle, max_marked, last_marked;
	bool order_ok, goal_ok, mem_ok, pause_ok;
};

static bool stw_mode(void)
{
	const char *e = getenv("GCHEAP_GCMODE");

	return e && !strcmp(e, "stw");
}

static void check_heap_line(struct seen *s, const char *line)
{
	unsigned long long v[NKEYS];

	for (size_t k = 0; k < NKEYS; k++)
		if (!field(line, keys[k], &v[k])) {
			if (!s->bad_keys++)
				fprintf(stderr, "no %s in: %s", keys[k], line);
			return;
		}
	/* cycle, t_start, t_end, ..., marked = v[7], goal = v[8] */
	if (v[0] != s->last_cycle + 1 || v[1] > v[2] || v[2] < s->last_end)
		s->order_ok = false;
	if (v[8] <= v[7])
		s->goal_ok = false;
	if (!v[10] || !v[11])
		s->mem_ok = false;
	/* stop-the-world: one pause, the whole cycle; else two within it */
	if (stw_mode() ? v[3] != v[2] - v[1] || v[4] :
			 !v[3] || !v[4] || v[3] + v[4] > v[2] - v[1])
		s->pause_ok = false;
	if (v[7] > s->max_marked)
		s->max_marked = v[7];
	s->last_marked = v[7];
	s->last_cycle = v[0];
	s->last_end = v[2];
	s->heap_lines++;
}

static struct seen read_trace(FILE *f)
{
	struct seen s = { .order_ok = true, .goal_ok = true, .mem_ok = true,
			  .pause_ok = true };
	char line[1024];

	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long n;

		if (!strncmp(line, "gcheap-heap ", 12))
			check_heap_line(&s, line);
		else if (sscanf(line, "gc %llu @", &n) == 1 &&
			 n == s.gc_lines + 1)
			s.gc_lines++;
	}
	return s;
}

int main(void)
{
	struct gch_gc_stats st = { 0 };
	FILE *f = tmpfile();
	int saved = dup(2);
	struct seen s;
	gch_heap *h;

	setenv("GCHEAP_TRACE", "gc,heap", 1);
	CHECK(f && saved >= 0, "tmpfile/dup");
	if (!f || saved < 0)
		return gct_summary();
	fflush(stderr);
	dup2(fileno(f), 2);
	h = gch_open(NULL);
	CHECK(h != NULL, "gch_open");
	if (h) {
		CHECK(!gch_add_roots((void *)&root, sizeof(root), NULL),
		      "roots");
		for (int i = 0; i < GROW; i++) {
			grow(h, 4096);		/* 4 MiB more each time */
			gch_gc(h);
		}
		root = NULL;
		for (int i = 0; i < DROPPED; i++) {
			grow(h, 256);
			gch_gc(h);
		}
		CHECK(!gch_gc_stats(h, &st), "stats");
	}
	fflush(stderr);
	dup2(saved, 2);
	s = read_trace(f);
	CHECK(st.cycles >= GROW + DROPPED, "%llu cycles",
	      (unsigned long long)st.cycles);
	CHECK(s.gc_lines == st.cycles, "%u gc lines, %llu cycles",
	      s.gc_lines, (unsigned long long)st.cycles);
	CHECK(s.heap_lines == st.cycles && !s.bad_keys,
	      "%u heap lines (%u malformed), %llu cycles", s.heap_lines,
	      s.bad_keys, (unsigned long long)st.cycles);
	CHECK(s.order_ok, "cycles numbered in order, times increasing");
	CHECK(s.goal_ok, "goal above marked in every line");
	CHECK(s.mem_ok, "span and resident bytes non-zero");
	CHECK(s.pause_ok, "pauses: %s", stw_mode() ?
	      "one, the whole cycle" : "two, within the cycle");
	CHECK(s.max_marked >= (size_t)GROW * 4096 * OBJ,
	      "marked grew to %llu", s.max_marked);
	CHECK(s.last_marked < s.max_marked / 4 &&
	      s.last_marked == st.heap_live_bytes,
	      "marked fell after the drop: %llu -> %llu (stats: %llu)",
	      s.max_marked, s.last_marked,
	      (unsigned long long)st.heap_live_bytes);
	if (h)
		gch_close(h);
	return gct_summary();
}

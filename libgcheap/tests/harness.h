/* SPDX-License-Identifier: MIT */
/*
 * A minimal test harness: each case is a function; EXPECT records a failure
 * in the current case (printing the first few); the suite prints one
 * "ok N - name" / "not ok N - name" line per case and ends with
 * "N passed, N failed", exiting non-zero on failure.
 */
#ifndef GCH_TEST_HARNESS_H
#define GCH_TEST_HARNESS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcheap.h"

struct tcase {
	const char *name;
	void (*fn)(void);
};

static int case_failures;

#define EXPECT(c) EXPECTF(c, "%s", "")
#define EXPECTF(c, fmt, ...)						\
	do {								\
		if (!(c)) {						\
			if (case_failures++ < 8)			\
				printf("#   %s:%d: expected %s " fmt "\n", \
				       __FILE__, __LINE__, #c, __VA_ARGS__); \
		}							\
	} while (0)

/* Open a heap (backend from GCHEAP_BACKEND or auto) or end the suite. */
static inline gch_heap *open_heap(uint64_t hard_limit)
{
	/* collector off: these tests keep objects in malloc()ed arrays,
	 * which are not roots */
	struct gch_options o = { .size = sizeof(o),
				 .hard_limit_bytes = hard_limit,
				 .gc_percent = -1 };
	gch_heap *h = gch_open(&o);

	if (!h) {
		printf("# gch_open: %s\n", strerror(errno));
		printf("0 passed, 1 failed\n");
		exit(1);
	}
	return h;
}

static inline int run_cases(const char *suite, const struct tcase *t,
			    size_t n)
{
	int passed = 0, failed = 0;

	printf("# %s\n", suite);
	for (size_t i = 0; i < n; i++) {
		case_failures = 0;
		fflush(stdout);
		t[i].fn();
		if (case_failures) {
			failed++;
			printf("not ok %zu - %s (%d failures)\n", i + 1,
			       t[i].name, case_failures);
		} else {
			passed++;
			printf("ok %zu - %s\n", i + 1, t[i].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define RUN(suite, cases) \
	run_cases(suite, cases, sizeof(cases) / sizeof(cases[0]))

#endif

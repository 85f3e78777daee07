/* SPDX-License-Identifier: MIT */
/*
 * gc_test.h - tiny check/summary helpers shared by the collector's tests.
 * Every test binary ends with one line "N passed, N failed" and exits
 * non-zero if anything failed, as the team's `make check` expects.
 */
#ifndef GC_TEST_H
#define GC_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int gct_pass, gct_fail;

#define CHECK(cond, ...)						\
	do {								\
		if (cond) {						\
			gct_pass++;					\
		} else {						\
			gct_fail++;					\
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,	\
				__LINE__, #cond);			\
			fprintf(stderr, __VA_ARGS__);			\
			fputc('\n', stderr);				\
		}							\
	} while (0)

/* A check run in a loop: count it once, report the first failure. */
#define CHECK_QUIET(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			if (!gct_fail++) {				\
				fprintf(stderr, "FAIL %s:%d: %s: ",	\
					__FILE__, __LINE__, #cond);	\
				fprintf(stderr, __VA_ARGS__);		\
				fputc('\n', stderr);			\
			}						\
		}							\
	} while (0)

static inline int gct_summary(void)
{
	printf("%d passed, %d failed\n", gct_pass, gct_fail);
	fflush(stdout);
	return gct_fail ? 1 : 0;
}

/*
 * Wipe the part of the stack the caller's callees used, so that stale
 * copies of pointers there do not keep garbage alive (stack scanning is
 * conservative).
 */
static __attribute__((noinline, unused)) void gct_clear_stack(void)
{
	volatile char buf[16384];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = 0;
}

/*
 * A stress test's run: at least @seconds, then on until @enough() says the
 * run saw what it needs (cycles, signals), at most 15 times as long --
 * under ThreadSanitizer or a debug kernel in the VM the seconds alone can
 * hold too few cycles, and the cap keeps a collector that stopped from
 * hanging the test.
 */
static inline __attribute__((unused)) void gct_run_until(int seconds,
							 bool (*enough)(void))
{
	for (int ms = 0; ms < seconds * 1000 * 15; ms += 100) {
		if (ms >= seconds * 1000 && enough())
			break;
		usleep(100 * 1000);
	}
}

/* Collect heap @h with the stack below the caller wiped first: a macro,
 * so that the wipe runs right below the test's own frame. */
#define gct_collect(h)							\
	do {								\
		gct_clear_stack();					\
		CHECK(gch_gc(h) == 0, "gch_gc: %s", strerror(errno));	\
	} while (0)

#endif

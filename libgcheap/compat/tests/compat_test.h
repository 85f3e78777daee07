// SPDX-License-Identifier: MIT
/*
 * compat_test.h - what the C tests of libgc.so.1 share: the check counter
 * behind the closing "N passed, N failed" line, and collecting with the
 * stack below the caller wiped, so that stale copies of pointers there
 * (the stack is scanned conservatively, as bdwgc scans it) do not keep
 * objects alive by accident.  Included once per test program, after
 * <gc.h>.
 */
#ifndef COMPAT_TEST_H
#define COMPAT_TEST_H

#include <stdio.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		passed++;						\
	} else {							\
		failed++;						\
		printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);	\
		printf(__VA_ARGS__);					\
		printf("\n");						\
	}								\
} while (0)

#define NOINLINE __attribute__((noinline))

static NOINLINE void wipe_stack(void)
{
	volatile char buf[16384];

	memset((char *)buf, 0, sizeof(buf));
}

static inline void collect(int n)
{
	for (int i = 0; i < n; i++) {
		wipe_stack();
		GC_gcollect();
	}
}

/* The closing lines; the program's exit status. */
static inline int report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}

#endif

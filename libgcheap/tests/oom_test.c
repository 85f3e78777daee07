// SPDX-License-Identifier: MIT
/*
 * Out of memory under a hard limit: allocations fail with NULL and errno
 * ENOMEM (counted in the stats), never abort; the heap keeps working (small
 * objects from spans already held, everything after the limit is raised);
 * the out-of-memory handler is called and may fix things and retry.
 */
#include "internal.h"
#include "harness.h"

#define LIMIT	(8u << 20)

static int handler_calls;

static int raise_limit(gch_heap *h, size_t size, void *arg)
{
	(void)size;
	handler_calls++;
	return gch_set_hard_limit(h, *(uint64_t *)arg) == 0;
}

static int decline(gch_heap *h, size_t size, void *arg)
{
	(void)h;
	(void)size;
	(void)arg;
	handler_calls++;
	return 0;
}

static void t_large_oom(void)
{
	gch_heap *h = open_heap(LIMIT);
	struct gch_heap_stats st;
	size_t n = 0;
	void *p, *small;

	small = gch_malloc(h, 64);	/* holds a 64 B span in our cache */
	EXPECT(small);
	for (;;) {
		errno = 0;
		p = gch_malloc_noscan(h, 256 * 1024);
		if (!p)
			break;
		n++;
		if (n > 1000)
			break;
	}
	EXPECTF(!p && errno == ENOMEM, "n %zu errno %d", n, errno);
	EXPECTF(n >= 30 && n * 256 * 1024 <= LIMIT, "n %zu", n);
	EXPECT(gch_stats(h, &st) == 0);
	EXPECT(st.oom_count == 1 && st.limit_hits >= 1);
	EXPECT(st.span_bytes <= LIMIT);
	EXPECT(st.hard_limit_bytes == LIMIT);

	/* still works: the cached span has room */
	p = gch_malloc(h, 64);
	EXPECT(p && gch_base(h, p) == p);
	/* and after raising the limit, large objects again */
	EXPECT(gch_set_hard_limit(h, 2 * LIMIT) == 0);
	p = gch_malloc_noscan(h, 256 * 1024);
	EXPECT(p && gch_size(h, p) == 256 * 1024);
	EXPECT(gch_close(h) == 0);
}

static void t_small_oom(void)
{
	gch_heap *h = open_heap(LIMIT);
	size_t n = 0;
	void *p;

	do {
		errno = 0;
		p = gch_malloc(h, 4000);
	} while (p && ++n < 100000);
	EXPECTF(!p && errno == ENOMEM, "n %zu", n);
	EXPECTF(n * 4096 <= LIMIT && n * 4096 > LIMIT / 2, "n %zu", n);
	/* failing again is stable */
	errno = 0;
	EXPECT(gch_malloc(h, 4000) == NULL && errno == ENOMEM);
	EXPECT(gch_set_hard_limit(h, 0) == 0);
	EXPECT(gch_malloc(h, 4000) != NULL);
	EXPECT(gch_close(h) == 0);
}

static void t_handler(void)
{
	uint64_t bigger = 4 * LIMIT;
	gch_heap *h;
	struct gch_options o = {
		.size = sizeof(o),
		.hard_limit_bytes = LIMIT,
		.oom_handler = raise_limit,
		.oom_arg = &bigger,
		.gc_percent = -1,	/* collector off: objects are dropped */
	};
	void *p = NULL;

	h = gch_open(&o);
	EXPECT(h);
	if (!h)
		return;
	handler_calls = 0;
	for (int i = 0; i < 40; i++) {	/* 10 MiB > limit */
		p = gch_malloc_noscan(h, 256 * 1024);
		EXPECT(p);
	}
	EXPECTF(handler_calls == 1, "%d calls", handler_calls);

	gch_set_oom_handler(h, decline, NULL);
	handler_calls = 0;
	errno = 0;
	p = gch_malloc_noscan(h, 64u << 20);	/* over the raised limit */
	EXPECT(!p && errno == ENOMEM && handler_calls == 1);
	gch_set_oom_handler(h, NULL, NULL);
	EXPECT(gch_malloc_noscan(h, 100) != NULL);
	EXPECT(gch_close(h) == 0);
}

static void t_options(void)
{
	struct gch_options o = { .size = 8 };

	errno = 0;
	EXPECT(gch_open(&o) == NULL && errno == EINVAL);
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.reserved = 1;
	errno = 0;
	EXPECT(gch_open(&o) == NULL && errno == EINVAL);
	o.reserved = 0;
	o.backend = 7;
	errno = 0;
	EXPECT(gch_open(&o) == NULL && errno == EINVAL);
}

/* GCHEAP_BACKEND forces a backend; anything else in it is EINVAL. */
static void t_backend_env(void)
{
	const char *old = getenv("GCHEAP_BACKEND");
	char *saved = old ? strdup(old) : NULL;
	gch_heap *h;

	setenv("GCHEAP_BACKEND", "host", 1);
	h = gch_open(NULL);
	EXPECT(h && !strcmp(gch_backend_name(h), "host"));
	if (h) {
		EXPECT(gch_malloc(h, 100) != NULL);
		EXPECT(gch_close(h) == 0);
	}
	setenv("GCHEAP_BACKEND", "bogus", 1);
	errno = 0;
	EXPECT(gch_open(NULL) == NULL && errno == EINVAL);
	if (saved)
		setenv("GCHEAP_BACKEND", saved, 1);
	else
		unsetenv("GCHEAP_BACKEND");
	free(saved);
}

int main(void)
{
	static const struct tcase cases[] = {
		{ "large objects past the hard limit: ENOMEM, heap keeps working", t_large_oom },
		{ "small objects past the hard limit: ENOMEM, recovers", t_small_oom },
		{ "oom handler raises the limit and retries; declining gives ENOMEM", t_handler },
		{ "bad options are EINVAL", t_options },
		{ "GCHEAP_BACKEND=host forces the host layer; junk is EINVAL", t_backend_env },
	};
	gch_heap *h = open_heap(0);

	printf("# backend %s\n", gch_backend_name(h));
	gch_close(h);
	return RUN("oom", cases);
}

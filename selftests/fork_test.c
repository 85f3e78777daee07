// SPDX-License-Identifier: MIT
/*
 * fork_test: who may use a heap.
 *
 * A heap belongs to the mm that opened it.  A fork() child inherits the fd but
 * none of the mappings (VM_DONTCOPY), and every ioctl but VERSION and STATS,
 * and every mmap(), gives it -EPERM; the same holds for a process that gets
 * the fd over a unix socket.  dup() in the owner is just another fd.
 *
 * Children report through their exit status: 0 when every check passed,
 * otherwise the number of the first failed check, which the parent prints.
 */
#include <pthread.h>
#include <sys/socket.h>

#include "gch_test.h"

FIXTURE(fk) {
	int fd;
	char *base;
	volatile const __u64 *pm;
	__u64 *slots;
	__u64 span;		/* a 4-page span holding 0x6b bytes */
	__u64 heap_id;
};

FIXTURE_SETUP(fk)
{
	struct gch_version v;

	self->fd = gch_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", GCH_DEV, strerror(errno));
	self->base = gch_reserve(2);
	ASSERT_NE(MAP_FAILED, self->base);
	ASSERT_EQ(0, gch_map_arena(self->fd, self->base, 0));
	self->pm = gch_map_pagemap(self->fd);
	ASSERT_NE(NULL, self->pm);
	self->slots = gch_map_slots(self->fd);
	ASSERT_NE(NULL, self->slots);
	ASSERT_EQ(0, gch_alloc(self->fd, 4, &self->span, NULL));
	memset(gch_page_addr(self->base, self->span), 0x6b, 4 * GCH_PAGE_SIZE);
	ASSERT_EQ(0, gch_version(self->fd, &v));
	self->heap_id = v.heap_id;
}

FIXTURE_TEARDOWN(fk)
{
	gch_heap_teardown(self->fd, self->base, 2, self->pm, self->slots);
}

static bool heap_intact(FIXTURE_DATA(fk) *self)
{
	const char *p = gch_page_addr(self->base, self->span);
	struct gch_stats st;

	for (size_t i = 0; i < 4 * GCH_PAGE_SIZE; i += 64) {
		if (p[i] != 0x6b)
			return false;
	}
	return !gch_stats(self->fd, &st) && st.spans == 1 &&
	       st.span_pages == 4 && self->pm[self->span] ==
	       GCH_PME_MAKE(self->span, 4);
}

/*
 * What a process that does not own the heap may and may not do with @fd.
 * Returns 0 or the number of the first failed check.
 */
static int foreign_checks(int fd, __u64 heap_id, __u64 span)
{
	struct gch_version v;
	struct gch_stats st;
	struct gch_limits l = { 0 };
	struct gch_span_ref ref = { (__u32)span, 4 };
	struct gch_gc_phase g = { .size = sizeof(g), .phase = GCH_GC_MARK_START };
	bool gc_phase;

	if (gch_version(fd, &v) || v.heap_id != heap_id)
		return 1;
	gc_phase = v.features & GCH_FEAT_GC_PHASE;
	if (gch_stats(fd, &st) || st.heap_id != heap_id || st.spans != 1)
		return 2;
	if (gch_alloc(fd, 1, NULL, NULL) != -EPERM)
		return 3;
	if (gch_free(fd, &ref, 1) != -EPERM)
		return 4;
	if (gch_limits(fd, 0, &l) != -EPERM)
		return 5;
	if (gch_set_hard(fd, 1) != -EPERM)
		return 6;
	if (gch_scavenge(fd, GCH_SCAVENGE_ALL, 0, NULL) != -EPERM)
		return 7;
	if (gc_phase && gch_ioctl(fd, GCH_IOC_GC_PHASE, &g) != -EPERM)
		return 8;
	if (gch_mmap(fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_ARENA(0)) || errno != EPERM)
		return 9;
	if (gch_mmap(fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_ARENA(1)) || errno != EPERM)
		return 10;
	if (gch_mmap(fd, GCH_PAGEMAP_SIZE, PROT_READ, MAP_SHARED,
		     GCH_MMAP_PAGEMAP) || errno != EPERM)
		return 11;
	if (gch_mmap(fd, GCH_PAGEMAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_SPANSLOTS) || errno != EPERM)
		return 12;
	/* the refused calls changed nothing */
	if (gch_stats(fd, &st) || st.spans != 1 || st.arenas != 1 ||
	    st.alloc_calls != 1 || st.free_calls != 0 ||
	    st.hard_limit_pages != 0)
		return 13;
	return 0;
}

struct child_arg {
	FIXTURE_DATA(fk) *self;
	volatile char *addr;
};

static int child_foreign(void *arg)
{
	struct child_arg *c = arg;

	return foreign_checks(c->self->fd, c->self->heap_id, c->self->span);
}

static int child_touch(void *arg)
{
	struct child_arg *c = arg;

	(void)*c->addr;
	return 0;	/* the read should not have worked */
}

TEST_F(fk, child_ioctls_eperm)
{
	struct child_arg c = { .self = self };
	int status = run_child(child_foreign, &c);

	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("failed check %d",
						 WEXITSTATUS(status));
	EXPECT_TRUE(heap_intact(self));
	/* and the owner still uses it */
	EXPECT_EQ(0, gch_alloc(self->fd, 1, NULL, NULL));
}

TEST_F(fk, child_has_no_mappings)
{
	volatile char *addrs[] = {
		gch_page_addr(self->base, self->span),
		self->base + GCH_ARENA_SIZE - 1,
		(volatile char *)self->pm,
		(volatile char *)self->slots,
	};

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct child_arg c = { .self = self, .addr = addrs[i] };
		int status = run_child(child_touch, &c);

		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
			TH_LOG("mapping %zu: child status %#x", i, status);
	}
	EXPECT_TRUE(heap_intact(self));
}

/*
 * MADV_DOFORK clears VM_DONTCOPY on ordinary mappings.  On the heap's it must
 * either be refused or not matter: the child still sees nothing.
 */
TEST_F(fk, madv_dofork_cannot_hand_out_mappings)
{
	struct {
		void *addr;
		size_t len;
	} maps[] = {
		{ self->base, GCH_ARENA_SIZE },
		{ (void *)self->pm, GCH_PAGEMAP_SIZE },
		{ self->slots, GCH_PAGEMAP_SIZE },
	};

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		struct child_arg c = { .self = self,
				       .addr = (volatile char *)maps[i].addr +
					       GCH_PAGE_SIZE * self->span };
		int ret = madvise(maps[i].addr, maps[i].len, MADV_DOFORK);
		int status = run_child(child_touch, &c);

		/* the span's page is populated: a copied PTE would let it in */
		EXPECT_TRUE(WIFSIGNALED(status) &&
			    (WTERMSIG(status) == SIGSEGV ||
			     WTERMSIG(status) == SIGBUS))
			TH_LOG("mapping %zu: madvise %d, child status %#x", i,
			       ret, status);
	}
	EXPECT_TRUE(heap_intact(self));
}

static int child_close_then_exit(void *arg)
{
	struct child_arg *c = arg;

	return close(c->self->fd) ? 1 : 0;
}

TEST_F(fk, child_exit_and_close_keep_heap)
{
	struct child_arg c = { .self = self };

	for (int i = 0; i < 20; i++) {
		int status = run_child(child_close_then_exit, &c);

		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	EXPECT_TRUE(heap_intact(self));
	EXPECT_EQ(0, gch_free1(self->fd, self->span, 4));
}

TEST_F(fk, dup_is_the_same_heap)
{
	struct gch_version v;
	struct gch_stats st;
	int fd2 = dup(self->fd);
	__u64 page;
	char *a1;

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, gch_version(fd2, &v));
	EXPECT_EQ(self->heap_id, v.heap_id);
	ASSERT_EQ(0, gch_alloc(fd2, 2, &page, NULL));
	EXPECT_EQ(GCH_PME_MAKE(page, 2), self->pm[page]);
	EXPECT_EQ(0, gch_free1(self->fd, page, 2));
	/* map through the dup, then close the original */
	ASSERT_EQ(0, gch_map_arena(fd2, self->base, 1));
	ASSERT_EQ(0, close(self->fd));
	self->fd = fd2;
	ASSERT_EQ(0, gch_stats(fd2, &st));
	EXPECT_EQ(2, st.arenas);
	EXPECT_TRUE(heap_intact(self));
	ASSERT_EQ(0, gch_alloc(fd2, GCH_PAGES_PER_ARENA, &page, NULL));
	EXPECT_EQ(GCH_PAGES_PER_ARENA, page);
	a1 = gch_page_addr(self->base, page);
	a1[0] = 9;
	EXPECT_EQ(9, a1[0]);
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 'x';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* The fd reaches a process that never had it open: same rules as a child. */
TEST_F(fk, fd_over_unix_socket_eperm)
{
	int sv[2], status;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	/* the receiver forks before it could inherit anything useful */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;

		close(sv[0]);
		close(self->fd);
		fd = recv_fd(sv[1]);
		if (fd < 0)
			_exit(100);
		_exit(foreign_checks(fd, self->heap_id, self->span));
	}
	close(sv[1]);
	ASSERT_EQ(0, send_fd(sv[0], self->fd));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("failed check %d",
						 WEXITSTATUS(status));
	close(sv[0]);
	EXPECT_TRUE(heap_intact(self));
}

/*
 * The other direction: a child opens a heap, fills it, hands the fd to us and
 * exits.  We hold the last reference: we may watch the heap, never change or
 * map it, and closing it must free it.
 */
TEST_F(fk, heap_received_from_exited_owner)
{
	int sv[2], status, fd;
	struct gch_stats st;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int cfd = gch_open();
		char *a;
		__u64 page;

		if (cfd < 0)
			_exit(1);
		a = gch_mmap(cfd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
			     MAP_SHARED, GCH_MMAP_ARENA(0));
		if (!a || gch_alloc(cfd, 8, &page, NULL))
			_exit(2);
		memset(a + page * GCH_PAGE_SIZE, 1, 8 * GCH_PAGE_SIZE);
		if (send_fd(sv[1], cfd))
			_exit(3);
		_exit(0);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("status %#x", status);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gch_stats(fd, &st));
	EXPECT_EQ(1, st.spans);
	EXPECT_EQ(8, st.span_pages);
	EXPECT_EQ(8 * GCH_PAGE_SIZE, st.resident_bytes);
	EXPECT_EQ(-EPERM, gch_alloc(fd, 1, NULL, NULL));
	EXPECT_EQ(-EPERM, gch_free1(fd, 0, 8));
	EXPECT_EQ(NULL, gch_mmap(fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE,
				 MAP_SHARED, GCH_MMAP_ARENA(0)));
	EXPECT_EQ(EPERM, errno);
	close(fd);
	close(sv[0]);
	EXPECT_TRUE(heap_intact(self));
}

static int child_open_own_heap(void *arg)
{
	int fd = gch_open();
	char *a;
	__u64 page;

	(void)arg;
	if (fd < 0)
		return 1;
	a = gch_mmap(fd, GCH_ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     GCH_MMAP_ARENA(0));
	if (!a)
		return 2;
	if (gch_alloc(fd, 2, &page, NULL) || page != 0)
		return 3;
	/* a fresh heap: the parent's data is not visible */
	if (a[0] != 0)
		return 4;
	a[0] = 5;
	return 0;	/* exits with the heap open and mapped */
}

TEST_F(fk, child_can_own_its_own_heap)
{
	int status = run_child(child_open_own_heap, NULL);

	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("failed check %d",
						 WEXITSTATUS(status));
	EXPECT_TRUE(heap_intact(self));
}

/*
 * Many short-lived children receive a heap whose owner has exited.  A freed
 * mm_struct is soon reused by the next fork; if the heap compared against a
 * dangling mm pointer, some child would be taken for the owner.
 */
TEST_F_TIMEOUT(fk, dead_owner_mm_never_reused, 120)
{
	int sv[2], status, fd;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int cfd = gch_open();

		if (cfd < 0 || !gch_mmap(cfd, GCH_ARENA_SIZE,
					 PROT_READ | PROT_WRITE, MAP_SHARED,
					 GCH_MMAP_ARENA(0)))
			_exit(1);
		_exit(send_fd(sv[1], cfd) ? 2 : 0);
	}
	fd = recv_fd(sv[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_LE(0, fd);
	for (int i = 0; i < 100; i++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			_exit(gch_alloc(fd, 1, NULL, NULL) == -EPERM ? 0 : 1);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("child %d was let in", i);
	}
	EXPECT_EQ(-EPERM, gch_alloc(fd, 1, NULL, NULL));
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/*
 * execve() gives the process a new address space: an fd kept across it
 * (no O_CLOEXEC) is some other mm's heap.  The check runs in a constructor
 * of this very binary, re-executed with GCH_EXEC_CHECK=<fd>:<heap_id>.
 */
static void __attribute__((constructor)) exec_check(void)
{
	const char *env = getenv("GCH_EXEC_CHECK");
	unsigned long long id;
	int fd;

	if (!env || sscanf(env, "%d:%llu", &fd, &id) != 2)
		return;
	_exit(foreign_checks(fd, id, 0));
}

TEST_F(fk, fd_kept_across_exec_eperm)
{
	char env[64], exe[] = "/proc/self/exe";
	int status, fd;
	pid_t pid;

	/* the fixture's fd is O_CLOEXEC; this one survives exec */
	fd = fcntl(self->fd, F_DUPFD, 0);
	ASSERT_LE(0, fd);
	snprintf(env, sizeof(env), "GCH_EXEC_CHECK=%d:%llu", fd,
		 (unsigned long long)self->heap_id);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *argv[] = { exe, NULL }, *envp[] = { env, NULL };

		execve(exe, argv, envp);
		_exit(99);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("failed check %d",
						 WEXITSTATUS(status));
	close(fd);
	EXPECT_TRUE(heap_intact(self));
}

struct opener {
	int fd;
	char *base;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;

	o->fd = gch_open();
	if (o->fd >= 0 && gch_map_arena(o->fd, o->base, 0))
		o->fd = -2;
	return NULL;
}

/* The heap belongs to the address space, not to the thread that opened it. */
TEST_F(fk, heap_opened_by_exited_thread)
{
	struct opener o = { .base = gch_reserve(1) };
	pthread_t t;
	__u64 page;

	ASSERT_NE(MAP_FAILED, o.base);
	ASSERT_EQ(0, pthread_create(&t, NULL, opener_main, &o));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_LE(0, o.fd);
	ASSERT_EQ(0, gch_alloc(o.fd, 2, &page, NULL));
	gch_page_addr(o.base, page)[0] = 1;
	EXPECT_EQ(0, gch_free1(o.fd, page, 2));
	EXPECT_EQ(0, gch_map_arena(o.fd, o.base, 0));
	munmap(o.base, GCH_ARENA_SIZE);
	close(o.fd);
}

TEST_HARNESS_MAIN

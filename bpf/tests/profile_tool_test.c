// SPDX-License-Identifier: GPL-2.0
/*
 * `gcheap-trace profile` in the VM, as an operator uses it on a program
 * that runs on the kernel backend (/dev/gcheap):
 *  1. bad arguments (-d negative or not a number, no -p, a PID no process
 *     has, an -o it cannot write) exit nonzero with a message on stderr
 *     and nothing on stdout;
 *  2. prof_target (bpf/tests/prof_target.c: site_a allocates three times
 *     the bytes of site_b) runs with GCHEAP_BACKEND=kernel and a sampling
 *     rate of 16 KiB; two instances attach to it for 4 s, -j -o FILE and
 *     text; both exit 0 by themselves, the JSON run's -o file is a gzip
 *     file, its summary saw samples and lost none;
 *  3. the tool's top sites are the in-process profile's: prof_target
 *     prints the in-process profile's sites (its own buckets, the same
 *     frames as gch_heap_profile_write writes) when told to stop; by
 *     alloc_space, the first two functions of both are site_a then
 *     site_b, each with A/B between 2.4 and 3.6 (3 expected: the tool's
 *     figures are a few thousand samples), and site_b holds memory in use
 *     in both;
 *  4. once the target has exited, profiling its PID fails clearly.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "workload.h"

#define TOOL	"gcheap-trace"
#define DIR	"/tmp/gch_profile_tool"

/* Run @argv with stdout and stderr to files; the child's pid. */
static pid_t spawn(const char *out, const char *err, char *const argv[])
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
		_exit(126);
	execvp(argv[0], argv);
	_exit(127);
}

static char *slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return buf;
}

/* The tool with @args: exit status @want, stderr holding @text, stdout
 * empty. */
static void bad_case(char *const args[], int want, const char *text,
		     const char *what)
{
	static char out[4096], err[4096];
	int st = wl_wait_exit(spawn(DIR "/bad.out", DIR "/bad.err", args), 20000);

	slurp(DIR "/bad.out", out, sizeof(out));
	slurp(DIR "/bad.err", err, sizeof(err));
	if (st != want || !strstr(err, text) || *out)
		printf("# status %d, stdout '%s', stderr '%s'\n", st, out, err);
	tap_ok(st == want && strstr(err, text) && !*out, "%s", what);
}

static void bad_args(void)
{
	char pid[16];
	pid_t p = 4194000;

	while (p > 1000 && !(kill(p, 0) && errno == ESRCH))
		p--;
	snprintf(pid, sizeof(pid), "%d", (int)p);
	bad_case((char *[]){ TOOL, "profile", "-p", "1", "-d", "-1", NULL },
		 2, "invalid number '-1' for -d", "profile -d -1: exit 2");
	bad_case((char *[]){ TOOL, "profile", "-p", "1", "-d", "ten", NULL },
		 2, "invalid number 'ten' for -d", "profile -d ten: exit 2");
	bad_case((char *[]){ TOOL, "profile", "-d", "1", NULL }, 2,
		 "-p PID is required", "profile without -p: exit 2");
	bad_case((char *[]){ TOOL, "profile", "-p", pid, NULL }, 1,
		 "no such process", "profile -p of no process: exit 1");
	bad_case((char *[]){ TOOL, "profile", "-p", "1", "-o",
			     "/proc/gch/x.pb.gz", NULL }, 1,
		 "cannot write /proc/gch/x.pb.gz",
		 "profile -o unwritable: exit 1");
}

struct site {
	char name[64];
	double alloc, inuse;
};

/* Add @alloc/@inuse to @name in @s (up to @max entries, @n used). */
static void add_site(struct site *s, int *n, int max, const char *name,
		     double alloc, double inuse)
{
	int i;

	for (i = 0; i < *n && strcmp(s[i].name, name); i++)
		;
	if (i == *n) {
		if (*n == max)
			return;
		snprintf(s[(*n)++].name, sizeof(s->name), "%s", name);
	}
	s[i].alloc += alloc;
	s[i].inuse += inuse;
}

static int by_alloc(const void *a, const void *b)
{
	double x = ((const struct site *)a)->alloc;
	double y = ((const struct site *)b)->alloc;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* "inproc NAME alloc_space=N inuse_space=N" lines. */
static int inproc_sites(const char *text, struct site *s, int max)
{
	const char *p = text;
	int n = 0;

	while ((p = strstr(p, "inproc "))) {
		char name[64];
		double a, u;

		if (sscanf(p, "inproc %63s alloc_space=%lf inuse_space=%lf",
			   name, &a, &u) == 3)
			add_site(s, &n, max, name, a, u);
		p++;
	}
	qsort(s, n, sizeof(*s), by_alloc);
	return n;
}

/* The JSON "function" objects (the tool prints them with a fixed key
 * order: name alloc_flat alloc_cum inuse_flat inuse_cum). */
static int tool_sites(const char *text, struct site *s, int max)
{
	const char *key = "{\"type\":\"function\",\"name\":\"";
	const char *p = text;
	int n = 0;

	while ((p = strstr(p, key))) {
		char name[64];
		double a, ac, u;

		p += strlen(key);
		if (sscanf(p, "%63[^\"]\",\"alloc_flat\":%lf,\"alloc_cum\":%lf,"
			   "\"inuse_flat\":%lf", name, &a, &ac, &u) == 4)
			add_site(s, &n, max, name, a, u);
	}
	qsort(s, n, sizeof(*s), by_alloc);
	return n;
}

static bool top_two(const struct site *s, int n, const char *who)
{
	double ratio = n >= 2 && s[1].alloc > 0 ? s[0].alloc / s[1].alloc : 0;
	bool ok = n >= 2 && !strcmp(s[0].name, "site_a") &&
		  !strcmp(s[1].name, "site_b") && ratio >= 2.4 && ratio <= 3.6;

	for (int i = 0; i < n && i < 4; i++)
		printf("# %s: %s alloc_space=%.0f inuse_space=%.0f\n", who,
		       s[i].name, s[i].alloc, s[i].inuse);
	tap_ok(ok, "%s: top sites site_a, site_b by alloc_space, A/B %.2f",
	       who, ratio);
	return ok;
}

/* Start prof_target on the kernel backend; its pid once it is ready. */
static pid_t start_target(void)
{
	static char buf[4096];
	pid_t pid;

	setenv("GCHEAP_BACKEND", "kernel", 1);
	setenv("GCHEAP_PROFILE_RATE", "16384", 1);
	pid = spawn(DIR "/target.out", DIR "/target.err",
		    (char *[]){ "prof_target", "300", NULL });
	unsetenv("GCHEAP_BACKEND");
	unsetenv("GCHEAP_PROFILE_RATE");
	for (int t = 0; t < 600; t++) {
		struct timespec tick = { 0, 50 * 1000000L };

		if (strstr(slurp(DIR "/target.out", buf, sizeof(buf)), "ready"))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		nanosleep(&tick, NULL);
	}
	printf("# prof_target did not start: %s\n",
	       slurp(DIR "/target.err", buf, sizeof(buf)));
	return -1;
}

static void check_outputs(const char *json, const char *text)
{
	static char gz[4];
	unsigned long long samples = 0, lost = 1;
	const char *sum = strstr(json, "{\"type\":\"summary\"");
	int fd = open(DIR "/tool.pb.gz", O_RDONLY);

	if (sum) {
		const char *s = strstr(sum, "\"samples\":");
		const char *l = strstr(sum, "\"lost\":");

		samples = s ? strtoull(s + 10, NULL, 10) : 0;
		lost = l ? strtoull(l + 7, NULL, 10) : 1;
	}
	tap_ok(samples >= 200 && lost == 0,
	       "-j summary: %llu samples seen, %llu lost", samples, lost);
	tap_ok(fd >= 0 && read(fd, gz, 2) == 2 && gz[0] == '\x1f' &&
	       gz[1] == '\x8b', "-o wrote a gzipped profile");
	if (fd >= 0)
		close(fd);
	tap_ok(strstr(text, "Type: alloc_space") &&
	       strstr(text, "Type: inuse_space") && strstr(text, "site_a (") &&
	       strstr(text, "prof_target.c:"),
	       "text output: -top tables and stacks with file:line");
}

static void compare(pid_t target, const char *json)
{
	static char buf[1 << 16];
	struct site in[16] = { 0 }, tool[16] = { 0 };
	int st, nin, ntool;

	kill(target, SIGUSR1);
	st = wl_wait_exit(target, 120000);
	tap_ok(st == 0, "prof_target exits 0 when told to stop (%d)", st);
	nin = inproc_sites(slurp(DIR "/target.out", buf, sizeof(buf)), in, 16);
	ntool = tool_sites(json, tool, 16);
	top_two(in, nin, "in-process");
	top_two(tool, ntool, "gcheap-trace");
	tap_ok(nin >= 2 && ntool >= 2 && in[1].inuse > 0 && tool[1].inuse > 0,
	       "site_b holds memory in use in both profiles");
}

static void run_profile(void)
{
	static char json[1 << 16], text[1 << 16], err[4096];
	pid_t target = start_target(), j, t;
	char pid[16];
	int sj, stt;

	tap_ok(target > 0, "prof_target runs on the kernel backend");
	if (target <= 0)
		return;
	snprintf(pid, sizeof(pid), "%d", (int)target);
	j = spawn(DIR "/tool.json", DIR "/tool.err",
		  (char *[]){ TOOL, "profile", "-p", pid, "-d", "4", "-j", "-o",
			      DIR "/tool.pb.gz", NULL });
	t = spawn(DIR "/tool.txt", DIR "/tool2.err",
		  (char *[]){ TOOL, "profile", "-p", pid, "-d", "4", NULL });
	sj = wl_wait_exit(j, 120000);
	stt = wl_wait_exit(t, 120000);
	slurp(DIR "/tool.json", json, sizeof(json));
	slurp(DIR "/tool.txt", text, sizeof(text));
	if (sj || stt)
		printf("# stderr: %s\n", slurp(DIR "/tool.err", err, sizeof(err)));
	tap_ok(sj == 0 && stt == 0, "two instances attach for 4 s and exit 0 "
	       "(-j -o: %d, text: %d)", sj, stt);
	check_outputs(json, text);
	compare(target, json);
	bad_case((char *[]){ TOOL, "profile", "-p", pid, NULL }, 1,
		 "no such process", "profile of the exited target: exit 1");
}

int main(void)
{
	printf("TAP version 13\n");
	if (mkdir(DIR, 0755) && errno != EEXIST) {
		tap_ok(false, "mkdir " DIR ": %s", strerror(errno));
		return tap_done();
	}
	bad_args();
	if (access("/dev/gcheap", F_OK)) {
		tap_ok(false, "/dev/gcheap exists (gcheap is loaded)");
		return tap_done();
	}
	run_profile();
	return tap_done();
}

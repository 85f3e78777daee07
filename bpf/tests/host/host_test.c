// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side checks of the bpf build (no module, no VM needed):
 *  - the raw_tp object carries no CO-RE relocation, so libbpf opens it on a
 *    kernel without vmlinux BTF (the debug kernel); the tp_btf object does
 *    carry them (it reads struct gch_heap through module BTF);
 *  - gcheap-trace without the module fails with the clear message, and
 *    rejects bad options;
 *  - gcheap-trace profile rejects bad arguments (-d negative, zero or not
 *    a number, no -p, a PID no process has, an -o it cannot write, a
 *    process without libgcheap's probes: this very test) with a message
 *    and a nonzero status, and leaves an existing -o file untouched.
 *  - the USDT object of gcheap-trace profile carries none either (it too
 *    must load without vmlinux BTF);
 *  - as root, with a kernel that runs BPF: gcheap-trace profile attached
 *    to prof_target (host backend) names its top sites in order;
 * usage: host_test RAW.bpf.o BTF.bpf.o GCHEAP-TRACE PROF.bpf.o [PROF_TARGET]
 * Prints "N passed, N failed".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static int passed, failed;

static void check(bool ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	if (ok)
		passed++;
	else
		failed++;
}

/* Length of the CO-RE relocation section of .BTF.ext; -1 on error. */
static long core_relo_len(const char *path)
{
	struct btf_ext_hdr {
		unsigned short magic;
		unsigned char version, flags;
		unsigned int hdr_len, func_off, func_len, line_off, line_len,
			     core_off, core_len;
	} hdr;
	long len = -1;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;
	Elf_Data *d;
	Elf *elf;
	int fd;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		goto out;
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) ||
		    strcmp(elf_strptr(elf, shstrndx, sh.sh_name), ".BTF.ext"))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || d->d_size < 24)
			break;
		memset(&hdr, 0, sizeof(hdr));
		memcpy(&hdr, d->d_buf, d->d_size < sizeof(hdr) ? d->d_size :
		       sizeof(hdr));
		/* headers shorter than 32 bytes predate CO-RE relocations */
		len = hdr.hdr_len >= sizeof(hdr) ? (long)hdr.core_len : 0;
		break;
	}
	if (!scn)
		len = 0;	/* no .BTF.ext at all: nothing to relocate */
out:
	if (elf)
		elf_end(elf);
	close(fd);
	return len;
}

/* Start @argv with its stdout (and stderr if @both) into a pipe whose
 * reading end goes to *@rfd; the child's pid, or -1. */
static pid_t spawn_piped(char *const argv[], bool both, int *rfd)
{
	int pfd[2];
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (!pid) {
		dup2(pfd[1], 1);
		if (both)
			dup2(pfd[1], 2);
		close(pfd[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	*rfd = pfd[0];
	return pid;
}

/* Run @argv, capture stderr+stdout into @out; returns the exit status. */
static int run(char *const argv[], char *out, size_t len)
{
	ssize_t n, got = 0;
	int fd, status;
	pid_t pid = spawn_piped(argv, true, &fd);

	if (pid < 0)
		return -1;
	while ((n = read(fd, out + got, len - 1 - got)) > 0)
		got += n;
	out[got] = 0;
	close(fd);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A pid no process has (the highest ones are seldom used). */
static pid_t free_pid(void)
{
	for (pid_t p = 4194000; p > 1000; p--)
		if (kill(p, 0) && errno == ESRCH)
			return p;
	return 0;
}

/* `gcheap-trace profile` refuses bad arguments: exit @want, a message
 * containing @text, and an existing -o file left as it was. */
static void profile_case(const char *tool, const char *a1, const char *a2,
			 const char *a3, const char *a4, int want,
			 const char *text, const char *what)
{
	char *const a[] = { (char *)tool, "profile", (char *)a1, (char *)a2,
			    (char *)a3, (char *)a4, NULL };
	char out[8192];
	int st = run(a, out, sizeof(out));

	if (st != want || !strstr(out, text))
		printf("# status %d, output: %s\n", st, out);
	check(st == want && strstr(out, text), what);
}

static void profile_args(const char *tool)
{
	static char keep[] = "/tmp/gch_host_test_keepXXXXXX";
	char pid[16], self[16], buf[8] = { 0 };
	int fd = mkstemp(keep);

	snprintf(pid, sizeof(pid), "%d", (int)free_pid());
	snprintf(self, sizeof(self), "%d", (int)getpid());
	if (fd >= 0 && write(fd, "keep", 4) != 4)
		fd = -1;
	profile_case(tool, "-p", self, "-d", "-1", 2, "invalid number '-1' for -d",
		     "profile -d -1 is refused");
	profile_case(tool, "-p", self, "-d", "5s", 2, "invalid number '5s' for -d",
		     "profile -d 5s is refused");
	profile_case(tool, "-p", self, "-d", "0", 2, "invalid number '0' for -d",
		     "profile -d 0 is refused");
	profile_case(tool, "-d", "1", NULL, NULL, 2, "-p PID is required",
		     "profile without -p is refused");
	profile_case(tool, "-p", "x1", NULL, NULL, 2, "invalid number 'x1' for -p",
		     "profile -p x1 is refused");
	profile_case(tool, "-p", self, "extra", NULL, 2, "unexpected argument",
		     "profile with an extra argument is refused");
	profile_case(tool, "-p", pid, "-o", keep, 1, "no such process",
		     "profile -p of no process: exit 1, 'no such process'");
	check(fd >= 0 && pread(fd, buf, 4, 0) == 4 && !strcmp(buf, "keep"),
	      "... and the -o file is left as it was");
	profile_case(tool, "-p", self, "-o", "/nonexistent/dir/x.pb.gz", 1,
		     "cannot write /nonexistent/dir/x.pb.gz",
		     "profile -o into a missing directory: exit 1, 'cannot write'");
	profile_case(tool, "-p", self, "-d", "1", 1, "has no gcheap USDT probes",
		     "profile of a process without libgcheap: exit 1, 'no probes'");
	profile_case(tool, "--help", NULL, NULL, NULL, 0, "-o, --output=FILE",
		     "profile --help exits 0 and documents -o");
	if (fd >= 0)
		close(fd);
	unlink(keep);
}

/* Start @target (prof_target) on the host backend; its pid, or -1. */
static pid_t start_target(const char *target, FILE **out)
{
	char *const a[] = { (char *)target, "60", NULL };
	char line[64];
	pid_t pid;
	int fd;

	setenv("GCHEAP_BACKEND", "host", 1);
	setenv("GCHEAP_PROFILE_RATE", "65536", 1);
	pid = spawn_piped(a, false, &fd);
	unsetenv("GCHEAP_BACKEND");
	unsetenv("GCHEAP_PROFILE_RATE");
	if (pid < 0)
		return -1;
	*out = fdopen(fd, "r");
	if (*out && fgets(line, sizeof(line), *out) && !strncmp(line, "ready", 5))
		return pid;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/*
 * gcheap-trace profile attached for 2 s to prof_target on the host
 * backend (root, and a kernel that runs BPF and uprobes; otherwise SKIP):
 * exit 0, and site_a, which allocates three times site_b's bytes, is the
 * first function by alloc_space, site_b the second.
 */
static void profile_live(const char *tool, const char *target)
{
	static const char key[] = "{\"type\":\"function\",\"name\":\"";
	static char out[1 << 16];
	char pid_s[16];
	FILE *tout = NULL;
	pid_t pid;
	int st;
	char *a, *b;
	bool ok;

	if (getuid()) {
		printf("skip: gcheap-trace profile on the host needs root\n");
		return;
	}
	pid = start_target(target, &tout);
	check(pid > 0, "prof_target starts on the host backend");
	if (pid <= 0)
		return;
	snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
	{
		char *const argv[] = { (char *)tool, "profile", "-p", pid_s,
				       "-d", "2", "-j", NULL };

		st = run(argv, out, sizeof(out));
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	if (tout)
		fclose(tout);
	if (st == 1 && strstr(out, "cannot load the BPF programs")) {
		printf("skip: this kernel cannot run the profiler's BPF\n");
		return;
	}
	a = strstr(out, key);
	b = a ? strstr(a + 1, key) : NULL;
	ok = st == 0 && a && b && !strncmp(a + strlen(key), "site_a\"", 7) &&
	     !strncmp(b + strlen(key), "site_b\"", 7);
	if (!ok)
		printf("# status %d, output: %.2000s\n", st, out);
	check(ok,
	      "profile -p prof_target: exit 0, site_a then site_b by alloc_space");
}

int main(int argc, char **argv)
{
	char out[8192];
	long raw, btf;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: %s RAW.bpf.o BTF.bpf.o GCHEAP-TRACE "
			"PROF.bpf.o [PROF_TARGET]\n", argv[0]);
		return 2;
	}
	raw = core_relo_len(argv[1]);
	btf = core_relo_len(argv[2]);
	check(raw == 0, "raw_tp object has no CO-RE relocation");
	check(btf > 0, "tp_btf object has CO-RE relocations");
	check(core_relo_len(argv[4]) == 0,
	      "USDT (profile) object has no CO-RE relocation");

	if (access("/sys/module/gcheap", F_OK) == 0) {
		printf("skip: gcheap is loaded on this host\n");
	} else {
		char *const a[] = { argv[3], NULL };

		check(run(a, out, sizeof(out)) == 1 &&
		      strstr(out, "gcheap is not loaded"),
		      "gcheap-trace without the module: exit 1, 'gcheap is not loaded'");
	}
	{
		char *const a[] = { argv[3], "-i", "0", NULL };

		check(run(a, out, sizeof(out)) != 0 &&
		      strstr(out, "invalid number"), "gcheap-trace -i 0 is refused");
	}
	{
		char *const a[] = { argv[3], "-m", "fast", NULL };

		check(run(a, out, sizeof(out)) != 0 &&
		      strstr(out, "mode must be"), "gcheap-trace -m fast is refused");
	}
	profile_args(argv[3]);
	if (argc == 6)
		profile_live(argv[3], argv[5]);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

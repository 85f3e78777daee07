// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side checks of the bpf build (no module, no VM needed):
 *  - the raw_tp object carries no CO-RE relocation, so libbpf opens it on a
 *    kernel without vmlinux BTF (the debug kernel); the tp_btf object does
 *    carry them (it reads struct gch_heap through module BTF);
 *  - gcheap-trace without the module fails with the clear message, and
 *    rejects bad options.
 * usage: host_test RAW.bpf.o BTF.bpf.o GCHEAP-TRACE
 * Prints "N passed, N failed".
 */
#include <fcntl.h>
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

/* Run @argv, capture stderr+stdout into @out; returns the exit status. */
static int run(char *const argv[], char *out, size_t len)
{
	int pfd[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (!pid) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + got, len - 1 - got)) > 0)
		got += n;
	out[got] = 0;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char **argv)
{
	char out[8192];
	long raw, btf;

	if (argc != 4) {
		fprintf(stderr, "usage: %s RAW.bpf.o BTF.bpf.o GCHEAP-TRACE\n",
			argv[0]);
		return 2;
	}
	raw = core_relo_len(argv[1]);
	btf = core_relo_len(argv[2]);
	check(raw == 0, "raw_tp object has no CO-RE relocation");
	check(btf > 0, "tp_btf object has CO-RE relocations");

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
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

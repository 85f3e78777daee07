// SPDX-License-Identifier: MIT
/*
 * vm_launch - runs a compat test inside scripts/vm's guest, on the kernel
 * backend (GCHEAP_BACKEND=kernel: a test fails rather than fall back to
 * the in-process page layer).  Built once per test, under the test's
 * name, into build/compat-vm (compat.mk, target compat-vmtests):
 *
 *   compat_api_test, run /usr/bin/<name>.bin with
 *   compat_ctl_test, LD_LIBRARY_PATH=/usr/bin, where our libgc.so.1 is
 *   compat_kinds_test
 *                    (the binary's runpath names a host directory the
 *                    guest does not have);
 *   w3m_test,        run the host's test scripts unchanged with bash,
 *   mmv_test,        all from /usr/bin: the scripts, lib.sh, bash, w3m,
 *   guile_test       mmv, guile-3.0, guile_prog.scm and our libgc.so.1
 *                    (GCH_COMPAT_DIR=/usr/bin); Guile's modules come in
 *                    the test directory's root/ (compat.mk).
 *
 * The guest is a busybox initramfs: scripts/vm copies a test directory's
 * bin/ to /usr/bin but copies shared libraries only for the tests
 * themselves (ldd).  So this launcher is linked, by path and without
 * --as-needed, against every library w3m, mmv and bash need, Debian's
 * libgc.so.1 included: those land in the guest's /lib/x86_64-linux-gnu,
 * where the unmodified programs find them, and the "real libgc" runs of
 * the scripts load Debian's library there as they do on the host
 * (libgcc_s too: glibc loads it for pthread_exit and pthread_cancel, which
 * compat_api_test calls).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');
	char path[256];

	(void)argc;
	name = name ? name + 1 : argv[0];
	setenv("GCHEAP_BACKEND", "kernel", 1);
	setenv("GCH_COMPAT_DIR", "/usr/bin", 1);
	setenv("HOME", "/tmp", 1);	/* w3m keeps ~/.w3m */
	setenv("TERM", "dumb", 0);
	if (!strcmp(name, "compat_api_test") ||
	    !strcmp(name, "compat_ctl_test") ||
	    !strcmp(name, "compat_kinds_test")) {
		setenv("LD_LIBRARY_PATH", "/usr/bin", 1);
		snprintf(path, sizeof(path), "/usr/bin/%s.bin", name);
		execl(path, name, (char *)NULL);
	} else {
		snprintf(path, sizeof(path), "/usr/bin/%s", name);
		execl("/usr/bin/bash", "bash", path, (char *)NULL);
	}
	fprintf(stderr, "%s: exec: %s\n0 passed, 1 failed\n", name,
		strerror(errno));
	return 1;
}

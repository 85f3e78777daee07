/* SPDX-License-Identifier: GPL-2.0 */
/*
 * prof_sym: another process's code addresses as function, file and line,
 * and its executable mappings, for `gcheap-trace profile` (and its tests).
 *
 * The process is read when psym_open() is called (/proc/PID/maps, through
 * elfutils' libdwfl, and our own parse of it for the mappings), so that
 * addresses can still be resolved after the process has exited: the ELF
 * files are read from disk, their symbol tables and DWARF line tables
 * (and separate debug files when installed).  Inlined frames are not
 * expanded: an address names the function that contains it.
 */
#ifndef GCHEAP_PROF_SYM_H
#define GCHEAP_PROF_SYM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct psym;
struct pprof_mapping;

/* NULL with errno (ESRCH: no such process) and nothing printed. */
struct psym *psym_open(pid_t pid);
void psym_close(struct psym *ps);

/* Name (NULL: unknown), file (NULL) and line (0) of @addr; the strings
 * live until psym_close(). */
void psym_resolve(struct psym *ps, uintptr_t addr, const char **name,
		  const char **file, int *line);

/* The process's executable file mappings, as pprof wants them. */
const struct pprof_mapping *psym_mappings(struct psym *ps, size_t *n);

/* Files mapped executable by the process (for finding the USDT probes),
 * NULL after the last. */
const char *psym_file(struct psym *ps, size_t i);

#endif /* GCHEAP_PROF_SYM_H */

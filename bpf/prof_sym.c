// SPDX-License-Identifier: GPL-2.0
/*
 * prof_sym: symbols of another process (prof_sym.h).  libdwfl does the
 * lookups (dwfl_linux_proc_report reads /proc/PID/maps, the ELF files are
 * found by path); every module's ELF is opened at psym_open(), while the
 * process is surely alive, so that resolving later needs nothing of it.
 * The mappings for pprof come from our own read of /proc/PID/maps: one
 * per executable, file-backed mapping, with the build ID libdwfl found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elfutils/libdwfl.h>
#include "prof_sym.h"
#include "pprof_enc.h"

struct psym {
	Dwfl *dwfl;
	Dwfl_Callbacks cb;
	struct pprof_mapping *maps;
	size_t nmaps;
};

static int load_module(Dwfl_Module *m, void **ud, const char *name,
		       Dwarf_Addr start, void *arg)
{
	Dwarf_Addr bias;

	(void)ud; (void)name; (void)start; (void)arg;
	dwfl_module_getelf(m, &bias);
	return DWARF_CB_OK;
}

/* One line of /proc/PID/maps into @ps->maps if executable and a file. */
static int add_mapping(struct psym *ps, const char *line)
{
	unsigned long start, end, off;
	char perms[8], path[256];
	struct pprof_mapping *m;

	if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %255s", &start, &end, perms,
		   &off, path) != 5 || !strchr(perms, 'x') || path[0] != '/')
		return 0;
	m = realloc(ps->maps, (ps->nmaps + 1) * sizeof(*m));
	if (!m)
		return -1;
	ps->maps = m;
	m = &m[ps->nmaps++];
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->limit = end;
	m->offset = off;
	snprintf(m->file, sizeof(m->file), "%s", path);
	return 0;
}

static int read_maps(struct psym *ps, pid_t pid)
{
	char path[64], line[512];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (!err && fgets(line, sizeof(line), f))
		err = add_mapping(ps, line);
	fclose(f);
	return err;
}

static void build_ids(struct psym *ps)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < ps->nmaps; i++) {
		struct pprof_mapping *m = &ps->maps[i];
		Dwfl_Module *mod = dwfl_addrmodule(ps->dwfl, m->start);
		const unsigned char *bits;
		GElf_Addr at;
		int n = mod ? dwfl_module_build_id(mod, &bits, &at) : 0;

		for (int j = 0; j < n && j < 20; j++) {
			m->build_id[2 * j] = hex[bits[j] >> 4];
			m->build_id[2 * j + 1] = hex[bits[j] & 15];
			m->build_id[2 * j + 2] = 0;
		}
	}
}

struct psym *psym_open(pid_t pid)
{
	struct psym *ps = calloc(1, sizeof(*ps));
	int err;

	if (!ps)
		return NULL;
	ps->cb.find_elf = dwfl_linux_proc_find_elf;
	ps->cb.find_debuginfo = dwfl_standard_find_debuginfo;
	if (read_maps(ps, pid)) {
		err = errno ? errno : ESRCH;
		goto fail;
	}
	ps->dwfl = dwfl_begin(&ps->cb);
	if (!ps->dwfl) {
		err = ENOMEM;
		goto fail;
	}
	err = dwfl_linux_proc_report(ps->dwfl, pid);
	if (err || dwfl_report_end(ps->dwfl, NULL, NULL)) {
		err = err > 0 ? err : ESRCH;
		goto fail;
	}
	dwfl_getmodules(ps->dwfl, load_module, NULL, 0);
	build_ids(ps);
	return ps;
fail:
	psym_close(ps);
	errno = err == ENOENT ? ESRCH : err;
	return NULL;
}

void psym_close(struct psym *ps)
{
	if (!ps)
		return;
	if (ps->dwfl)
		dwfl_end(ps->dwfl);
	free(ps->maps);
	free(ps);
}

void psym_resolve(struct psym *ps, uintptr_t addr, const char **name,
		  const char **file, int *line)
{
	Dwfl_Module *m = dwfl_addrmodule(ps->dwfl, addr);
	Dwfl_Line *l = m ? dwfl_module_getsrc(m, addr) : NULL;

	*name = m ? dwfl_module_addrname(m, addr) : NULL;
	*file = NULL;
	*line = 0;
	if (l)
		*file = dwfl_lineinfo(l, NULL, line, NULL, NULL, NULL);
}

const struct pprof_mapping *psym_mappings(struct psym *ps, size_t *n)
{
	*n = ps->nmaps;
	return ps->maps;
}

const char *psym_file(struct psym *ps, size_t i)
{
	for (size_t j = 0; j < ps->nmaps; j++) {
		bool seen = false;

		for (size_t k = 0; k < j; k++)
			seen |= !strcmp(ps->maps[k].file, ps->maps[j].file);
		if (!seen && !i--)
			return ps->maps[j].file;
	}
	return NULL;
}

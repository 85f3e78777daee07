// SPDX-License-Identifier: MIT
/*
 * cgroup.c - a soft memory limit from the memory cgroup the program runs
 * in, for a program that sets none.
 *
 * A container or a systemd unit caps a program's memory with its cgroup,
 * and the program's heap does not know: at GC percent 400 its garbage alone
 * can pass memory.max, and the OOM killer takes a program whose live heap
 * would fit.  So, unless a limit was given (gch_options, GCHEAP_MEMLIMIT,
 * gch_set_memory_limit), the pacer takes one from here (pacer.c):
 *
 *   cap   = the least of memory.high and memory.max over the program's
 *           cgroup and every ancestor (cgroup v2), or of
 *           memory.limit_in_bytes (v1's memory controller, same walk);
 *   limit = cap - margin, margin = max(cap / 8, 16 MiB), at most cap / 2.
 *
 * The margin is for what the cgroup counts besides the heap: the program's
 * own malloc memory, stacks, page tables, the binary's pages, and the page
 * cache its I/O leaves charged to the cgroup.  "max" (v2) and the v1
 * "unlimited" value (anything at or above 2^62) mean no cap; no cgroup
 * file system, a root cgroup, or an unreadable file mean none either.
 *
 * Where: /proc/self/cgroup names the cgroup ("0::/path" for v2, "N:...memory
 * ...:/path" for v1) relative to the root of the hierarchy as this process
 * sees it; /proc/self/mountinfo says where that hierarchy is mounted and
 * which of its directories the mount shows (a cgroup namespace or a bind
 * mount may show a subtree), so that the path is found below the mount.
 *
 * The pacer re-reads it at most once a second, when a collection starts
 * (gc_pacer_cgroup_poll), so a limit changed at run time is followed.
 * GCHEAP_CGROUP=off disables all of this.  No locking here: the functions
 * keep no state and are called under gc_lock.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "gc_internal.h"

#define CG_MARGIN_MIN	(16ULL << 20)
#define CG_UNLIMITED	(1ULL << 62)	/* v1 reports ~2^63 for none */
#define CG_PATH_MAX	4096

/* The value in file @dir/@name: bytes, or UINT64_MAX for none/unreadable. */
static uint64_t read_cap(const char *dir, const char *name)
{
	char path[CG_PATH_MAX + 64], buf[64];
	unsigned long long v;
	char *end;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return UINT64_MAX;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return UINT64_MAX;
	}
	fclose(f);
	v = strtoull(buf, &end, 10);
	if (end == buf || (*end && *end != '\n') || v >= CG_UNLIMITED)
		return UINT64_MAX;	/* "max", or v1's "unlimited" */
	return v;
}

/*
 * This process's cgroup path in hierarchy @v2 (true: the unified one;
 * false: the one with the memory controller) into @out; false if none.
 */
static bool self_cgroup(bool v2, char *out, size_t len)
{
	char line[CG_PATH_MAX + 128];
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *path;

		if (!ctl || !(path = strchr(ctl + 1, ':')))
			continue;
		*path++ = '\0';
		*ctl++ = '\0';		/* line: the hierarchy id */
		path[strcspn(path, "\n")] = '\0';
		if (v2 ? !strcmp(line, "0") && !*ctl :
			 strstr(ctl, "memory") != NULL) {
			snprintf(out, len, "%s", path);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/*
 * The mount of hierarchy @v2 (see self_cgroup): its mount point into @mnt
 * and the hierarchy directory it shows into @root; false if not mounted.
 * mountinfo: "id parent maj:min root mountpoint opts... - fstype src sopts".
 */
static bool cgroup_mount(bool v2, char *mnt, char *root, size_t len)
{
	char line[2 * CG_PATH_MAX + 256];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char r[CG_PATH_MAX], m[CG_PATH_MAX], *sep = strstr(line, " - ");
		char fstype[32] = "", sopts[256] = "";

		if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) != 2 ||
		    sscanf(sep + 3, "%31s %*s %255s", fstype, sopts) < 1)
			continue;
		if (v2 ? strcmp(fstype, "cgroup2") :
			 strcmp(fstype, "cgroup") || !strstr(sopts, "memory"))
			continue;
		snprintf(mnt, len, "%s", m);
		snprintf(root, len, "%s", r);
		found = true;
	}
	fclose(f);
	return found;
}

/* The least cap from @leaf up to @top (both absolute, @top a prefix). */
static uint64_t walk_up(char *leaf, size_t top_len, bool v2)
{
	uint64_t cap = UINT64_MAX;

	for (;;) {
		uint64_t c;

		if (v2) {
			c = read_cap(leaf, "memory.max");
			if (c < cap)
				cap = c;
			c = read_cap(leaf, "memory.high");
		} else {
			c = read_cap(leaf, "memory.limit_in_bytes");
		}
		if (c < cap)
			cap = c;
		if (strlen(leaf) <= top_len)
			break;
		*strrchr(leaf, '/') = '\0';
		if (strlen(leaf) < top_len)
			break;
	}
	return cap;
}

/* The cap of hierarchy @v2 (see the top), UINT64_MAX if none. */
static uint64_t hierarchy_cap(bool v2)
{
	char cg[CG_PATH_MAX], mnt[CG_PATH_MAX], root[CG_PATH_MAX];
	char dir[2 * CG_PATH_MAX + 2];
	const char *rel;
	size_t rlen;

	if (!self_cgroup(v2, cg, sizeof(cg)) ||
	    !cgroup_mount(v2, mnt, root, sizeof(mnt)))
		return UINT64_MAX;
	/* the part of our path below what the mount shows */
	rlen = strcmp(root, "/") ? strlen(root) : 0;
	if (strncmp(cg, root, rlen) || (cg[rlen] && cg[rlen] != '/'))
		return UINT64_MAX;	/* our cgroup is outside the mount */
	rel = cg + rlen;
	snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
		dir[strlen(dir) - 1] = '\0';
	return walk_up(dir, strlen(mnt), v2);
}

bool gc_cgroup_enabled(void)
{
	const char *e = getenv("GCHEAP_CGROUP");

	return !(e && !strcmp(e, "off"));
}

uint64_t gc_cgroup_limit(void)
{
	uint64_t cap = hierarchy_cap(true), margin;

	if (cap == UINT64_MAX)
		cap = hierarchy_cap(false);
	if (cap == UINT64_MAX)
		return 0;
	margin = cap / 8 > CG_MARGIN_MIN ? cap / 8 : CG_MARGIN_MIN;
	if (margin > cap / 2)
		margin = cap / 2;
	return cap - margin ? cap - margin : 1;
}

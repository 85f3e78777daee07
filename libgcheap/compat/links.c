// SPDX-License-Identifier: MIT
/*
 * links.c - disappearing links: GC_general_register_disappearing_link,
 * GC_register_disappearing_link, GC_unregister_disappearing_link,
 * GC_move_disappearing_link.
 *
 * Each maps onto one of libgcheap's weak slots (finalizer.c): the
 * program's word *link is set to NULL by the collector, with the world
 * stopped, in the first collection that finds obj unreachable -- before
 * any finalizer is queued and before finalization order is decided -- and
 * the registration is dropped then, or when the heap object holding link
 * is found unreachable, or when the program unregisters it.  bdwgc's
 * contract is kept as gc.h states it: the collector does not hide *link;
 * a program that wants the link to be weak stores a disguised pointer
 * there, or keeps it in pointer-free (atomic) memory.  A plain load of
 * *link is safe at any time (bdwgc asks for the allocation lock around it
 * in its incremental and parallel modes): links are cleared only with the
 * world stopped, after marking has finished -- and a cycle that marks
 * beside the program (no barrier, the module's dirty bits: core_glue.c)
 * finishes only after its last pause has scanned every stack and register
 * set again and every page written since marking began, so an object
 * whose pointer a thread loaded, and holds or stored anywhere, is marked
 * and its link stays.
 *
 * Checks and results are bdwgc's: a NULL or misaligned link to register,
 * or a link outside any heap object for GC_register_disappearing_link,
 * aborts ("Bad arg"); registering a link twice re-targets it and returns
 * GC_DUPLICATE; running out of memory asks the oom fn once, as bdwgc
 * does, and returns GC_NO_MEMORY.  An obj outside the heap is never found
 * unreachable, so its link is never cleared.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "compat.h"

static void bad_arg(const char *fn)
{
	fprintf(stderr, "GC Error: libgc.so.1 (gcheap): Bad arg to %s\n", fn);
	abort();
}

int GC_general_register_disappearing_link(void **link, const void *obj)
{
	gch_heap *h = compat_heap();
	int r = compat_link_register(h, link, obj);

	if (r == -EINVAL)
		bad_arg("GC_general_register_disappearing_link");
	if (r == -ENOMEM) {
		/* bdwgc: the oom fn may free something; then try once more */
		GC_oom_func oom = GC_get_oom_fn();

		if (oom)
			(void)oom(sizeof(void *) * 4);
		r = compat_link_register(h, link, obj);
		if (r < 0)
			return GC_NO_MEMORY;
	}
	return r == 1 ? GC_DUPLICATE : GC_SUCCESS;
}

int GC_register_disappearing_link(void **link)
{
	void *base = GC_base(link);

	if (!base)
		bad_arg("GC_register_disappearing_link");
	return GC_general_register_disappearing_link(link, base);
}

int GC_unregister_disappearing_link(void **link)
{
	if ((GC_word)link & (sizeof(void *) - 1))
		return 0;	/* never registered: registration aborts */
	return compat_link_unregister(compat_heap(), link);
}

int GC_move_disappearing_link(void **link, void **new_link)
{
	int r;

	if ((GC_word)link & (sizeof(void *) - 1))
		return GC_NOT_FOUND;
	r = compat_link_move(compat_heap(), link, new_link);
	if (r == -EINVAL)
		bad_arg("GC_move_disappearing_link");
	return r == -ENOENT ? GC_NOT_FOUND : r == 1 ? GC_DUPLICATE :
	       GC_SUCCESS;
}

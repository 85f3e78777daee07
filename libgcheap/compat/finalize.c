// SPDX-License-Identifier: MIT
/*
 * finalize.c - GC_register_finalizer, its _no_order and _ignore_self
 * variants, and the finalizer queue.
 *
 * Maps onto libgcheap's finalizers (compat_set_finalizer(), core_glue.c),
 * whose default order is bdwgc's default ("Java-style" topological) order:
 * whatever a finalizable object references stays alive until it has been
 * finalized, so if A points to B both finalizable, A's finalizer runs
 * first and B's in a later cycle; finalizable objects in a cycle (a
 * pointer to itself included) are never finalized.  GC_register_finalizer
 * promises exactly that.  GC_register_finalizer_no_order takes libgcheap's
 * no-order flag: nothing is kept alive through the object, so objects in
 * cycles are finalized, in no particular order, all in the same
 * collection (bdwgc: "ignores all cycles").  _ignore_self takes the
 * ignore-self flag: ordered, except that pointers from the object into
 * itself do not keep it from being finalized.  Registering again, with any
 * of the three, replaces fn, cd and the order (bdwgc's rule).
 *
 * bdwgc runs finalizers on a program thread -- the one that allocates
 * (or GC_gcollect()s) after the collection found them, or whoever calls
 * GC_invoke_finalizers() when finalize_on_demand is set -- never on a
 * thread of its own.  libgcheap calls its finalizers on its finalizer
 * thread, so the function registered there (found()) only queues: it moves
 * the record onto the pending list with the object, and the program's
 * next allocation (compat_fin_poll), GC_gcollect or GC_invoke_finalizers
 * runs the client's function.  Single-threaded programs thus never see
 * their finalizers run concurrently with them, as with bdwgc.
 *
 * Records are pointerful heap objects {next, obj, fn, cd}: while
 * registered, libgcheap keeps the record alive (its arg is a root), so the
 * client data cd stays alive as bdwgc keeps it, and obj is NULL there (a
 * record must not keep its object alive).  On the pending list, reached
 * from the static root pending_head, the record holds the object until its
 * finalizer has run; after that, if the finalizer stored the object
 * somewhere, it lives on without a finalizer (bdwgc's resurrection).
 *
 * byobj maps objects to records, for the old fn/cd GC_register_finalizer
 * hands back: malloc memory (not scanned) with the object's address
 * complemented, so nothing conservative mistakes it for a reference.
 *
 * Locking: fin_lock protects byobj and the pending list.  Order: fin_lock,
 * then libgcheap's finalizer lock (inside gch_set_finalizer); found() is
 * called by libgcheap without its lock, so the order is never reversed.
 * Client functions run with no lock held.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "compat.h"

struct rec {
	struct rec *next;		/* pending list */
	void *obj;			/* set when found unreachable */
	GC_finalization_proc fn;
	void *cd;
};

struct entry {
	uintptr_t hidden;		/* ~obj; 0 free, 1 deleted */
	struct rec *rec;
};

static pthread_mutex_t fin_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *byobj;
static size_t cap, used, tombs;
static struct rec *pending_head, *pending_tail;	/* roots */
atomic_int compat_fin_pending;
static atomic_int on_demand;
static atomic_int need_notify;		/* new ones since the notifier ran */
static _Atomic(GC_finalizer_notifier_proc) notifier;
static __thread bool running_here;

int compat_fin_init(void)
{
	return gch_add_roots(&pending_head, sizeof(pending_head), NULL);
}

/* ---- byobj: open addressing on hidden addresses -------------------------- */

static size_t slot_of(uintptr_t hidden, size_t n)
{
	return (size_t)((hidden * 0x9E3779B97F4A7C15ULL) >> 32) & (n - 1);
}

static struct entry *find(uintptr_t hidden)
{
	for (size_t i = slot_of(hidden, cap), k = 0; cap && k < cap;
	     k++, i = (i + 1) & (cap - 1)) {
		if (byobj[i].hidden == hidden)
			return &byobj[i];
		if (!byobj[i].hidden)
			return NULL;
	}
	return NULL;
}

static void put(struct entry *t, size_t n, uintptr_t hidden, struct rec *r)
{
	size_t i = slot_of(hidden, n);

	while (t[i].hidden > 1)
		i = (i + 1) & (n - 1);
	t[i].hidden = hidden;
	t[i].rec = r;
}

static int grow(void)
{
	size_t n = cap && 4 * used < cap ? cap : (cap ? 2 * cap : 64);
	struct entry *t = calloc(n, sizeof(*t));

	if (!t)
		return -1;
	for (size_t i = 0; i < cap; i++)
		if (byobj[i].hidden > 1)
			put(t, n, byobj[i].hidden, byobj[i].rec);
	free(byobj);
	byobj = t;
	cap = n;
	tombs = 0;
	return 0;
}

static void drop(struct entry *e)
{
	e->hidden = 1;
	e->rec = NULL;
	used--;
	tombs++;
}

/* ---- registration ------------------------------------------------------- */

/* libgcheap found obj unreachable: queue it for a program thread. */
static void found(void *obj, void *arg)
{
	struct rec *r = arg;
	struct entry *e;

	pthread_mutex_lock(&fin_lock);
	e = find(~(uintptr_t)obj);
	if (e && e->rec == r)
		drop(e);
	r->obj = obj;
	r->next = NULL;
	if (pending_tail)
		pending_tail->next = r;
	else
		pending_head = r;
	pending_tail = r;
	atomic_store(&need_notify, 1);
	atomic_store(&compat_fin_pending, 1);
	pthread_mutex_unlock(&fin_lock);
}

static void give_old(struct entry *e, GC_finalization_proc *ofn, void **ocd)
{
	if (ofn)
		*ofn = e ? e->rec->fn : NULL;
	if (ocd)
		*ocd = e ? e->rec->cd : NULL;
}

/* A new registration under fin_lock; false if out of memory. */
static bool add(gch_heap *h, void *obj, struct rec *r,
		enum compat_fin_order order)
{
	if (2 * (used + tombs + 1) > cap && grow())
		return false;
	if (compat_set_finalizer(h, obj, found, r, order))
		return false;
	put(byobj, cap, ~(uintptr_t)obj, r);
	used++;
	return true;
}

static void register_in_order(void *obj, GC_finalization_proc fn, void *cd,
			      GC_finalization_proc *ofn, void **ocd,
			      enum compat_fin_order order)
{
	gch_heap *h = compat_heap();
	struct rec *r = NULL;
	struct entry *e;

	/* bdwgc ignores objects outside its heap, old values NULL */
	if (gch_base(h, obj) != obj) {
		give_old(NULL, ofn, ocd);
		return;
	}
	if (fn && !(r = gch_malloc(h, sizeof(*r)))) {
		compat_warn("GC Warning: out of memory registering a finalizer"
			    " for 0x%lx\n", (GC_word)obj);
		return;		/* bdwgc: *ofn and *ocd unchanged */
	}
	pthread_mutex_lock(&fin_lock);
	e = find(~(uintptr_t)obj);
	give_old(e, ofn, ocd);
	if (e && fn) {
		e->rec->fn = fn;
		e->rec->cd = cd;
		/* the order too: same record, so this cannot run out */
		compat_set_finalizer(h, obj, found, e->rec, order);
	} else if (e) {
		gch_set_finalizer(h, obj, NULL, NULL);
		drop(e);
	} else if (fn) {
		r->fn = fn;
		r->cd = cd;
		if (!add(h, obj, r, order))
			compat_warn("GC Warning: out of memory registering a"
				    " finalizer for 0x%lx\n", (GC_word)obj);
	}
	pthread_mutex_unlock(&fin_lock);
}

void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
			   GC_finalization_proc *ofn, void **ocd)
{
	register_in_order(obj, fn, cd, ofn, ocd, COMPAT_FIN_ORDERED);
}

void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn,
				    void *cd, GC_finalization_proc *ofn,
				    void **ocd)
{
	register_in_order(obj, fn, cd, ofn, ocd, COMPAT_FIN_NO_ORDER);
}

void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn,
				       void *cd, GC_finalization_proc *ofn,
				       void **ocd)
{
	register_in_order(obj, fn, cd, ofn, ocd, COMPAT_FIN_IGNORE_SELF);
}

/* ---- running them -------------------------------------------------------- */

static struct rec *pop(void)
{
	struct rec *r;

	pthread_mutex_lock(&fin_lock);
	r = pending_head;
	if (r) {
		pending_head = r->next;
		if (!pending_head)
			pending_tail = NULL;
	}
	atomic_store(&compat_fin_pending, pending_head != NULL);
	pthread_mutex_unlock(&fin_lock);
	return r;
}

int GC_invoke_finalizers(void)
{
	int n = 0;
	struct rec *r;

	if (running_here)
		return 0;	/* a finalizer that allocates: no nesting */
	running_here = true;
	while ((r = pop())) {
		void *obj = r->obj;

		r->obj = NULL;
		r->fn(obj, r->cd);
		n++;
	}
	running_here = false;
	return n;
}

int GC_should_invoke_finalizers(void)
{
	return atomic_load(&compat_fin_pending);
}

/* From the allocation paths and GC_gcollect: run them, or with
 * finalize_on_demand tell the program through its notifier, once per
 * batch found (bdwgc notifies once per collection that found some). */
void compat_fin_run_pending(void)
{
	GC_finalizer_notifier_proc fn;

	if (!atomic_load(&on_demand)) {
		GC_invoke_finalizers();
		return;
	}
	fn = atomic_load(&notifier);
	if (fn && !running_here && atomic_exchange(&need_notify, 0)) {
		running_here = true;
		fn();
		running_here = false;
	}
}

void GC_set_finalize_on_demand(int v)
{
	atomic_store(&on_demand, v != 0);
}

int GC_get_finalize_on_demand(void)
{
	return atomic_load(&on_demand);
}

void GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn)
{
	atomic_store(&notifier, fn);
}

GC_finalizer_notifier_proc GC_get_finalizer_notifier(void)
{
	return atomic_load(&notifier);
}

/*
 * bdwgc's java_finalization: after finalizable objects are found
 * unreachable, mark what no-order ones reach, so that their finalizers
 * find it intact.  libgcheap always does that (the no-order rule in
 * gc/finalizer.c), so the setting is remembered for the getter and the
 * behaviour is bdwgc's with it on -- Debian's build's default.  Turning it
 * off frees nothing sooner: objects are kept at least as long as asked.
 */
static atomic_int java_finalization = 1;

void GC_set_java_finalization(int v)
{
	atomic_store(&java_finalization, v != 0);
}

int GC_get_java_finalization(void)
{
	return atomic_load(&java_finalization);
}

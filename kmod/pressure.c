// SPDX-License-Identifier: GPL-2.0
/*
 * Pressure events: reclaim that a heap's free pages cannot satisfy reaches
 * the heap's collector, through poll() and GCH_IOC_PRESSURE.
 *
 * The shrinker can take only free pages.  A heap full of garbage has few,
 * so reclaim finds nothing and the program is OOM-killed with most of its
 * heap dead.  The collector can turn garbage into free pages; what it
 * lacks is the news.  So the shrinker (shrinker.c) raises an event on each
 * heap that holds pages of the cgroup being reclaimed when a scan comes
 * back short (GCH_PRESSURE_RECLAIM), or when the cgroup is at its limit
 * with less free memory than it is over by (GCH_PRESSURE_LIMIT), and the
 * heap's fd polls POLLPRI until the owner takes the event.
 *
 * Each heap's event is a small state machine under heap->pressure_lock:
 *
 *   IDLE --cause--> PENDING --take (ioctl)--> TAKEN --answer--> IDLE
 *
 * A cause in PENDING folds into the event (reasons OR-ed, the largest
 * shortfall kept);
 * in TAKEN, or in IDLE before pressure_quiet_until, it only counts as
 * suppressed.  So a heap under steady pressure gets one event per answer
 * plus GCH_PRESSURE_QUIET_MS, never collections back to back, and a heap
 * whose owner never answers is not woken again.  Raising never sleeps and
 * takes only pressure_lock (then the wait queue's lock, outside it): the
 * shrinker raises under the list_lru lock, inside reclaim.
 *
 * Lifetime: the shrinker raises only on heaps whose parts it holds under
 * the list_lru lock, and teardown unlinks the parts first (memcg.c); poll
 * waiters hold the file, so the wait queue outlives them.
 */
#include <linux/poll.h>
#include <linux/uaccess.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include "gcheap_priv.h"
#include "gcheap_trace.h"

enum gch_pressure_state {
	GCH_PRS_IDLE,
	GCH_PRS_PENDING,
	GCH_PRS_TAKEN,
};

void gch_pressure_heap_init(struct gch_heap *heap)
{
	spin_lock_init(&heap->pressure_lock);
	init_waitqueue_head(&heap->pressure_wq);
	heap->pressure_state = GCH_PRS_IDLE;
}

/*
 * @reason (GCH_PRESSURE_*) asked @heap for @bytes it could not give from
 * free pages.  Any context that may take a spinlock; never sleeps.
 */
void gch_pressure_raise(struct gch_heap *heap, u32 reason, u64 bytes)
{
	bool wake = false;
	u64 now = ktime_get_ns(), events = 0;

	spin_lock(&heap->pressure_lock);
	switch (heap->pressure_state) {
	case GCH_PRS_IDLE:
		if (now < heap->pressure_quiet_until) {
			heap->pressure_suppressed++;
			break;
		}
		WRITE_ONCE(heap->pressure_state, GCH_PRS_PENDING);
		heap->pressure_reasons = 0;
		heap->pressure_asked = 0;
		heap->pressure_raised_ns = now;
		events = ++heap->pressure_events;
		wake = true;
		fallthrough;
	case GCH_PRS_PENDING:
		heap->pressure_reasons |= reason;
		/*
		 * The largest shortfall, not the sum: reclaim repeats its
		 * passes while the event waits, each asking about the same.
		 */
		heap->pressure_asked = max(heap->pressure_asked, bytes);
		break;
	case GCH_PRS_TAKEN:
		heap->pressure_suppressed++;
		break;
	}
	spin_unlock(&heap->pressure_lock);
	if (wake) {
		trace_gcheap_pressure(heap, reason, bytes, events);
		wake_up_interruptible_poll(&heap->pressure_wq,
					   EPOLLPRI | EPOLLIN | EPOLLRDNORM);
	}
}

__poll_t gch_pressure_poll(struct file *file, poll_table *pt)
{
	struct gch_heap *heap = file->private_data;

	poll_wait(file, &heap->pressure_wq, pt);
	/* racy, as poll is: a missed event re-polls after the wake-up */
	if (READ_ONCE(heap->pressure_state) == GCH_PRS_PENDING)
		return EPOLLPRI | EPOLLIN | EPOLLRDNORM;
	return 0;
}

/* Take the pending event into @p (reasons 0 if none). */
static void gch_pressure_take(struct gch_heap *heap, struct gch_pressure *p)
{
	spin_lock(&heap->pressure_lock);
	if (heap->pressure_state == GCH_PRS_PENDING) {
		p->reasons = heap->pressure_reasons;
		p->asked_bytes = heap->pressure_asked;
		WRITE_ONCE(heap->pressure_state, GCH_PRS_TAKEN);
	}
	p->events = heap->pressure_events;
	p->suppressed = heap->pressure_suppressed;
	spin_unlock(&heap->pressure_lock);
}

/* The owner answered the event it took; -EINVAL if it took none. */
static int gch_pressure_answer(struct gch_heap *heap, struct gch_pressure *p)
{
	u64 now = ktime_get_ns(), latency;

	spin_lock(&heap->pressure_lock);
	if (heap->pressure_state != GCH_PRS_TAKEN) {
		spin_unlock(&heap->pressure_lock);
		return -EINVAL;
	}
	WRITE_ONCE(heap->pressure_state, GCH_PRS_IDLE);
	heap->pressure_quiet_until = now +
				     GCH_PRESSURE_QUIET_MS * NSEC_PER_MSEC;
	latency = now - heap->pressure_raised_ns;
	p->events = heap->pressure_events;
	p->suppressed = heap->pressure_suppressed;
	spin_unlock(&heap->pressure_lock);
	trace_gcheap_pressure_answer(heap, p->answered_bytes, latency);
	return 0;
}

bool gch_pressure_valid(const struct gch_pressure *p)
{
	if ((p->flags & ~GCH_PRESSURE_ANSWER) || p->reserved)
		return false;
	return (p->flags & GCH_PRESSURE_ANSWER) || !p->answered_bytes;
}

/*
 * GCH_IOC_PRESSURE for the owner, @p copied in and gch_pressure_valid():
 * take the pending event, or record the answer to the one taken.
 */
int gch_pressure_ioctl(struct gch_heap *heap, struct gch_pressure *p)
{
	p->reasons = 0;
	p->asked_bytes = 0;
	if (p->flags & GCH_PRESSURE_ANSWER)
		return gch_pressure_answer(heap, p);
	gch_pressure_take(heap, p);
	return 0;
}

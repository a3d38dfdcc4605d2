/* SPDX-License-Identifier: MIT */
/*
 * The scenarios table and the fork choreography behind it.
 *
 * Every scenario follows one shape: register the buffer, the parent writes its pre-fork data,
 * processes fork and write, the device moves data, and every process checks what it sees
 * against what it must see. What each process must see follows the sharing of the memory
 * type: private memory is copy-on-write (a child's writes stay in the child, the device's
 * data lands in the parent only), shared memory is shared (everybody sees the last write).
 *
 * The parent/child protocol is in children.c, the checks in case_checks.c.
 */
#define _GNU_SOURCE
#include "scenarios.h"
#include "case_checks.h"
#include "children.h"
#include "hazards.h"
#include "util.h"

#include <errno.h>
#include <linux/mman.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MANY_CHILDREN 4
#define TRUE_BINARY   "/bin/true"

/* ---- children's parts ------------------------------------------------------------------ */

/* What a child must see after the parent wrote @parent_last and the device wrote into the
 * probes: its own pre-fork copy when private, the latest data when shared. */
static void child_check_after_dma(struct fp_ctx *ctx, const struct fp_probes *p,
				  enum fp_writer private_view, enum fp_writer parent_last)
{
	if (fp_is_shared(ctx))
		fp_check_view(ctx, FP_OBS_CHILD, p, FP_DEVICE, parent_last);
	else
		fp_check_view(ctx, FP_OBS_CHILD, p, private_view, private_view);
}

/* Write the whole buffer as itself, then exit. */
static void child_write_exit(struct fp_ctx *ctx, struct fp_child_chan *ch, const void *arg)
{
	(void)arg;
	fp_check_neighbour(ctx, FP_OBS_CHILD);
	fp_write_buffer(ctx, ch->self);
}

/* What a child that waits through the DMA must see: the parent's argument to it. */
struct view_plan {
	struct fp_probes probes;
	enum fp_writer parent_last; /* what the parent wrote last outside the probes */
	bool write_first;	    /* the child writes its pattern before acking */
};

/* Stay alive through the parent's writes and the DMA (@arg: a struct view_plan), then check
 * the own view. */
static void child_wait_check(struct fp_ctx *ctx, struct fp_child_chan *ch, const void *arg)
{
	const struct view_plan *plan = arg;
	enum fp_writer own = plan->write_first ? ch->self : FP_PARENT_OLD;

	fp_check_neighbour(ctx, FP_OBS_CHILD);
	if (plan->write_first)
		fp_write_buffer(ctx, ch->self);
	fp_child_ack(ch);
	fp_child_wait_go(ch);
	child_check_after_dma(ctx, &plan->probes, own, plan->parent_last);
}

/* Check the unrelated data next to the buffer, ack readiness, write the whole buffer on go,
 * ack, and check the own writes survive. */
static void child_write_after_go(struct fp_ctx *ctx, struct fp_child_chan *ch, const void *arg)
{
	(void)arg;
	fp_check_neighbour(ctx, FP_OBS_CHILD);
	fp_child_ack(ch);
	fp_child_wait_go(ch);
	fp_write_buffer(ctx, ch->self);
	fp_child_ack(ch);
	fp_child_wait_go(ch);
	fp_check_all(ctx, FP_OBS_CHILD, ch->self);
}

static void parent_writes_then_dma(struct fp_ctx *ctx);

/* ---- the scenarios ----------------------------------------------------------------------- */

/*
 * child-writes: the child writes the whole buffer and exits; then the device writes.
 * Fails when the child's writes reach the parent's private copy (leak), or the device
 * writes into the page the child took away.
 */
static void scenario_child_writes(struct fp_ctx *ctx)
{
	struct fp_probes p;
	struct fp_child c;

	if (!fp_prologue(ctx) || !fp_child_spawn(ctx, &c, child_write_exit, FP_CHILD, NULL))
		return;
	fp_child_finish(ctx, &c, "child");
	if (fp_failed(ctx) ||
	    !fp_check_all(ctx, FP_OBS_PARENT,
			  fp_shared_with_children(ctx) ? FP_CHILD : FP_PARENT_OLD))
		return;
	fp_probes_plan(ctx, &p);
	if (fp_device_writes(ctx, &p))
		fp_check_view(ctx, FP_OBS_PARENT, &p, FP_DEVICE,
			      fp_shared_with_children(ctx) ? FP_CHILD : FP_PARENT_OLD);
}

/*
 * child-writes-parent-writes: the child writes the whole buffer and exits, then the parent
 * writes, then the device writes. child-writes cannot lose DMA (the child's own write copies
 * the page away from the parent); this one can: without early COW the parent's page stayed
 * write-protected after fork, and its write fault copies the pinned page away (refcount > 1)
 * even though the child is gone. Failure: "device wrote into a page the parent no longer maps".
 */
static void scenario_child_writes_parent_writes(struct fp_ctx *ctx)
{
	struct fp_child c;

	if (!fp_prologue(ctx) || !fp_child_spawn(ctx, &c, child_write_exit, FP_CHILD, NULL))
		return;
	fp_child_finish(ctx, &c, "child");
	if (!fp_failed(ctx) &&
	    fp_check_all(ctx, FP_OBS_PARENT,
			 fp_shared_with_children(ctx) ? FP_CHILD : FP_PARENT_OLD))
		parent_writes_then_dma(ctx);
}

/* The parent's half of parent-writes and child-alive: DMA while the child lives. */
static void dma_with_child_alive(struct fp_ctx *ctx, bool parent_writes)
{
	enum fp_writer parent_last = parent_writes ? FP_PARENT_NEW : FP_PARENT_OLD;
	struct view_plan plan = {.parent_last = parent_last};
	struct fp_child c;

	fp_probes_plan(ctx, &plan.probes);
	if (!fp_child_spawn(ctx, &c, child_wait_check, FP_CHILD, &plan))
		return;
	fp_child_wait_ack(ctx, &c);
	if (parent_writes)
		fp_write_buffer(ctx, FP_PARENT_NEW);
	if (fp_device_writes(ctx, &plan.probes))
		fp_check_view(ctx, FP_OBS_PARENT, &plan.probes, FP_DEVICE, parent_last);
	fp_child_go(&c);
	fp_child_finish(ctx, &c, "child");
}

/*
 * parent-writes: after fork the parent writes the whole buffer while the child still maps
 * it, then the device writes. The classic loss: the write fault gives the parent a new page
 * and the device writes into the old one, now the child's.
 */
static void scenario_parent_writes(struct fp_ctx *ctx)
{
	if (fp_prologue(ctx))
		dma_with_child_alive(ctx, true);
}

/*
 * child-alive: the device writes while the child lives, nobody writes after fork. The child
 * must not see the device's data in private memory (it would if it shared the pinned page).
 */
static void scenario_child_alive(struct fp_ctx *ctx)
{
	if (fp_prologue(ctx))
		dma_with_child_alive(ctx, false);
}

/*
 * device-reads: after fork the parent writes, then the child writes, then the device reads.
 * The device must read the parent's latest data (private) or the child's (shared). Stale
 * pre-fork data means the pinned page stayed with the child.
 */
static void scenario_device_reads(struct fp_ctx *ctx)
{
	struct fp_probes p;
	struct fp_child c;

	if (!fp_prologue(ctx))
		return;
	fp_probes_plan(ctx, &p);
	if (!fp_child_spawn(ctx, &c, child_write_after_go, FP_CHILD, NULL))
		return;
	fp_child_wait_ack(ctx, &c);
	fp_write_buffer(ctx, FP_PARENT_NEW);
	fp_child_go(&c); /* the child writes now */
	fp_child_wait_ack(ctx, &c);
	fp_device_reads(ctx, &p, fp_shared_with_children(ctx) ? FP_CHILD : FP_PARENT_NEW);
	fp_child_finish(ctx, &c, "child");
}

/* The parent writes after fork, the device writes, the parent checks: shared tail. */
static void parent_writes_then_dma(struct fp_ctx *ctx)
{
	struct fp_probes p;

	fp_probes_plan(ctx, &p);
	fp_write_buffer(ctx, FP_PARENT_NEW);
	if (fp_device_writes(ctx, &p))
		fp_check_view(ctx, FP_OBS_PARENT, &p, FP_DEVICE, FP_PARENT_NEW);
}

static void check_true_exit(struct fp_ctx *ctx, int status, const char *how)
{
	if (status < 0)
		fp_fail(ctx, FP_STATUS_ERROR, "%s child did not exit within %d ms", how,
			ctx->step_timeout_ms);
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		fp_fail(ctx, FP_STATUS_ERROR, "%s child (%s) ended with status 0x%x", how,
			TRUE_BINARY, status);
}

/*
 * fork-exec: fork and exec at once (system(), popen()), the parent writing while the child
 * may not have exec'd yet. The window where the child still maps the buffer is short but
 * real: the same loss as parent-writes if early COW is missing.
 */
static void scenario_fork_exec(struct fp_ctx *ctx)
{
	char *const argv[] = {TRUE_BINARY, NULL};
	pid_t pid;

	if (!fp_prologue(ctx))
		return;
	pid = fork();
	if (pid < 0) {
		fp_fail(ctx, FP_STATUS_ERROR, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		execve(TRUE_BINARY, argv, environ);
		_exit(127);
	}
	parent_writes_then_dma(ctx);
	check_true_exit(ctx, fp_waitpid_bounded(pid, ctx->step_timeout_ms), "fork+exec");
}

/*
 * posix-spawn: glibc spawns with clone(CLONE_VM|CLONE_VFORK): no copy of the address space,
 * so nothing may change for the pinned buffer. Fails if the spawn path disturbs it.
 */
static void scenario_posix_spawn(struct fp_ctx *ctx)
{
	char *const argv[] = {TRUE_BINARY, NULL};
	pid_t pid;
	int err;

	if (!fp_prologue(ctx))
		return;
	err = posix_spawn(&pid, TRUE_BINARY, NULL, NULL, argv, environ);
	if (err) {
		fp_fail(ctx, FP_STATUS_ERROR, "posix_spawn(%s): %s", TRUE_BINARY, strerror(err));
		return;
	}
	parent_writes_then_dma(ctx);
	check_true_exit(ctx, fp_waitpid_bounded(pid, ctx->step_timeout_ms), "posix_spawn");
}

/*
 * many-children: several children each write their own data and stay alive while the parent
 * writes and the device writes. Each child must keep its own data (private), the parent must
 * see none of theirs and get the device's.
 */
static void scenario_many_children(struct fp_ctx *ctx)
{
	struct view_plan plan = {.parent_last = FP_PARENT_NEW, .write_first = true};
	struct fp_child c[MANY_CHILDREN];
	size_t n = 0, i;

	if (!fp_prologue(ctx))
		return;
	fp_probes_plan(ctx, &plan.probes);
	/* One at a time, so on shared memory the last child's data is the known last write. */
	for (; n < MANY_CHILDREN; n++) {
		if (!fp_child_spawn(ctx, &c[n], child_wait_check, (enum fp_writer)(FP_CHILD + n),
				    &plan))
			break;
		fp_child_wait_ack(ctx, &c[n]);
	}
	if (n == MANY_CHILDREN &&
	    fp_check_all(ctx, FP_OBS_PARENT,
			 fp_shared_with_children(ctx) ? FP_CHILD + MANY_CHILDREN - 1
						      : FP_PARENT_OLD))
		parent_writes_then_dma(ctx);
	for (i = 0; i < n; i++) {
		char who[32];

		snprintf(who, sizeof(who), "child %zu", i);
		fp_child_go(&c[i]);
		fp_child_finish(ctx, &c[i], who);
	}
}

/* The child of nested: fork a grandchild that writes and stays, then wait like the others. */
static void child_with_grandchild(struct fp_ctx *ctx, struct fp_child_chan *ch, const void *arg)
{
	const struct view_plan *plan = arg;
	struct view_plan grandchild_plan = *plan;
	struct fp_child gc;
	struct fp_outcome own = {0}, *mine = ctx->out;

	grandchild_plan.write_first = true;
	if (!fp_child_spawn(ctx, &gc, child_wait_check, FP_GRANDCHILD, &grandchild_plan))
		return;
	fp_child_wait_ack(ctx, &gc);
	/* The grandchild's writes must not show in this child (unless the memory is shared). */
	fp_check_all(ctx, FP_OBS_CHILD, fp_is_shared(ctx) ? FP_GRANDCHILD : FP_PARENT_OLD);
	fp_child_ack(ch);
	fp_child_wait_go(ch);
	/* Check this child's view before the grandchild's check, then fold its report in. */
	ctx->out = &own;
	child_check_after_dma(ctx, &plan->probes, FP_PARENT_OLD, plan->parent_last);
	ctx->out = mine;
	if (own.status != FP_STATUS_PASS)
		fp_fail(ctx, own.status, "%s", own.reason);
	fp_child_go(&gc);
	fp_child_finish(ctx, &gc, "grandchild");
}

/*
 * nested: a child forks a grandchild that writes; both stay alive while the parent writes
 * and the device writes. Fork of a fork: the copies made at each level must stay apart.
 */
static void scenario_nested(struct fp_ctx *ctx)
{
	struct view_plan plan = {.parent_last = FP_PARENT_NEW};
	struct fp_child c;

	if (!fp_prologue(ctx))
		return;
	fp_probes_plan(ctx, &plan.probes);
	if (!fp_child_spawn(ctx, &c, child_with_grandchild, FP_CHILD, &plan))
		return;
	fp_child_wait_ack(ctx, &c);
	if (!fp_failed(ctx) &&
	    fp_check_all(ctx, FP_OBS_PARENT,
			 fp_shared_with_children(ctx) ? FP_GRANDCHILD : FP_PARENT_OLD))
		parent_writes_then_dma(ctx);
	fp_child_go(&c);
	fp_child_finish(ctx, &c, "child");
}

/* Where the child of in-flight writes: from the first page boundary (of the memory type's
 * page size) after the queued span, so its write never copies the queued span's page away. */
static size_t in_flight_child_start(const struct fp_ctx *ctx, const struct fp_probes *queued)
{
	size_t end = queued->off[0] + queued->len[0], page = ctx->mem->page_size;
	size_t start = (end + page - 1) / page * page;

	return start < ctx->mem->len ? start : ctx->mem->len;
}

/*
 * A private child's copy of the queued span must not change after fork: @at_fork is what it
 * held when the child first looked. A page that changed since was written by the device
 * into a page the child maps.
 */
static void check_unchanged_since_fork(struct fp_ctx *ctx, const char *at_fork, size_t len)
{
	const char *buf = ctx->mem->buf;
	size_t off;

	for (off = 0; off < len; off += 4096) {
		size_t n = len - off < 4096 ? len - off : 4096;

		if (!memcmp(at_fork + off, buf + off, n))
			continue;
		if (fp_check_range(ctx, FP_OBS_CHILD, off, n, FP_PARENT_OLD))
			fp_fail(ctx, FP_STATUS_MISMATCH,
				"child: the queued span changed after fork at offset 0x%zx: the "
				"child maps the pinned page",
				off);
		return;
	}
}

/*
 * The child of in-flight: note its view of the queued span at fork, write from the next page
 * boundary, then check. The span may hold the pre-fork data or the device's, page by page:
 * the transfer may have landed before fork copied the page for the child, so either order is
 * correct. What must not happen is a change after fork (the device writing into a page the
 * child maps); whether the device wrote where it must is the parent's check.
 */
static void child_in_flight(struct fp_ctx *ctx, struct fp_child_chan *ch, const void *arg)
{
	static const enum fp_writer either[] = {FP_PARENT_OLD, FP_DEVICE};
	const struct fp_probes *p = arg;
	size_t end = p->off[0] + p->len[0], start = in_flight_child_start(ctx, p), torn = 0;
	char *at_fork = fp_is_shared(ctx) ? NULL : malloc(end);

	if (at_fork)
		memcpy(at_fork, ctx->mem->buf, end);
	fp_check_neighbour(ctx, FP_OBS_CHILD);
	fp_pattern_fill((char *)ctx->mem->buf + start, start, ctx->mem->len - start, ctx->seed,
			ch->self);
	fp_child_ack(ch);
	fp_child_wait_go(ch);
	if (fp_is_shared(ctx))
		fp_check_range(ctx, FP_OBS_CHILD, 0, end, FP_DEVICE);
	else if (fp_check_words_among(ctx, FP_OBS_CHILD, 0, end, either, 2, &torn) && at_fork)
		check_unchanged_since_fork(ctx, at_fork, end);
	free(at_fork);
	if (!fp_failed(ctx) && fp_check_range(ctx, FP_OBS_CHILD, end, start - end, FP_PARENT_OLD))
		fp_check_range(ctx, FP_OBS_CHILD, start, ctx->mem->len - start, ch->self);
}

/* The parent's view after the queued write: the device's data in the span, the rest as the
 * parent left it (or the child's writes, on shared memory). */
static void parent_check_in_flight(struct fp_ctx *ctx, const struct fp_probes *queued)
{
	size_t end = queued->off[0] + queued->len[0], start = in_flight_child_start(ctx, queued);

	if (fp_check_range(ctx, FP_OBS_PARENT, 0, end, FP_DEVICE) &&
	    fp_check_range(ctx, FP_OBS_PARENT, end, start - end, FP_PARENT_OLD))
		fp_check_range(ctx, FP_OBS_PARENT, start, ctx->mem->len - start,
			       fp_shared_with_children(ctx) ? FP_CHILD : FP_PARENT_OLD);
}

/*
 * in-flight: fork while a device write is queued; the child writes the rest of the buffer
 * (from the next page) while the transfer is pending. The device's data must land in the
 * parent's page, whichever order the fork and the transfer take, and never in a page only
 * the child maps.
 */
static void scenario_in_flight(struct fp_ctx *ctx)
{
	const struct fp_limits *lim = &ctx->dev->be->limits;
	size_t span = ctx->mem->len / 2;
	struct fp_probes queued;
	struct fp_child c;
	int err;

	if (!fp_prologue(ctx))
		return;
	if (span > lim->max_transfer)
		span = lim->max_transfer;
	if (lim->align > 1)
		span -= span % lim->align;
	queued.n = 1;
	queued.off[0] = 0;
	queued.len[0] = span;
	if (!fp_device_write_queue(ctx, &queued))
		return;
	if (!fp_child_spawn(ctx, &c, child_in_flight, FP_CHILD, &queued)) {
		fp_dev_dma_wait(ctx->dev);
		return;
	}
	fp_child_wait_ack(ctx, &c);
	err = fp_dev_dma_wait(ctx->dev);
	if (err)
		fp_fail(ctx, FP_STATUS_ERROR, "device write: %s", ctx->dev->error);
	else
		parent_check_in_flight(ctx, &queued);
	fp_child_go(&c);
	fp_child_finish(ctx, &c, "child");
}

/* Take every free huge page of @page_size; the mapping, or NULL when none was free. */
static void *exhaust_hugetlb_pool(size_t page_size, size_t *len)
{
	unsigned long free_pages = fp_hugetlb_free_pages(page_size);
	int size_flag = page_size == (1ul << 30) ? MAP_HUGE_1GB : MAP_HUGE_2MB;
	void *p;

	*len = free_pages * page_size;
	if (!free_pages)
		return NULL;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE | size_flag, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Surplus huge pages of @page_size the kernel may still allocate beyond the pool
 * (nr_overcommit_hugepages - surplus_hugepages of that size). */
static unsigned long hugetlb_surplus_room(size_t page_size)
{
	unsigned long overcommit = 0, surplus = 0;
	char path[128];

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%zukB/nr_overcommit_hugepages",
		 page_size / 1024);
	fp_read_ulong(path, &overcommit);
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%zukB/surplus_hugepages",
		 page_size / 1024);
	fp_read_ulong(path, &surplus);
	return overcommit > surplus ? overcommit - surplus : 0;
}

/* The parent of a fork that succeeded with an empty pool: is that a verdict already? */
static void judge_pool_empty_fork(struct fp_ctx *ctx, unsigned long room)
{
	if (fp_range_dontfork(ctx))
		fp_note(ctx, "fork() succeeded with an empty pool: the registered range is "
			     "MADV_DONTFORK, so the child gets no mapping and fork needs no page");
	else if (room)
		fp_note(ctx,
			"fork() succeeded with an empty pool: %lu surplus huge page(s) allowed "
			"(nr_overcommit_hugepages), so the copy may be a surplus page",
			room);
	else
		fp_fail(ctx, FP_STATUS_MISMATCH,
			"fork() succeeded with no free and no surplus huge page: early COW of the "
			"pinned huge page needs a new page, so the kernel shared the pinned page "
			"with the child (hugetlb early COW: 4eae4efa2c29, 5.12)");
}

/*
 * hugetlb-pool-empty: pinned hugetlb memory, the pool exhausted, then fork. Early COW must
 * copy the pinned page for the child and cannot: the kernel must fail fork() with ENOMEM
 * (which surprises applications: noted) rather than share the pinned page. A fork that
 * succeeds with no free and no surplus page (vm.nr_overcommit_hugepages) FAILs; with
 * surplus room the copy may be a surplus page, and the parent-writes check decides.
 */
static void scenario_hugetlb_pool_empty(struct fp_ctx *ctx)
{
	unsigned long room;
	size_t hog_len;
	void *hog;
	pid_t pid;

	if (!fp_prologue(ctx))
		return;
	hog = exhaust_hugetlb_pool(ctx->mem->page_size, &hog_len);
	if (fp_hugetlb_free_pages(ctx->mem->page_size)) {
		fp_fail(ctx, FP_STATUS_ERROR, "could not exhaust the hugetlb pool (%lu pages left)",
			fp_hugetlb_free_pages(ctx->mem->page_size));
		goto unmap_hog;
	}
	room = hugetlb_surplus_room(ctx->mem->page_size);
	pid = fork();
	if (pid < 0 && errno == ENOMEM) {
		fp_note(ctx,
			"fork() failed with ENOMEM: the pinned hugetlb page must be copied for "
			"the child and the pool is empty; applications see fork() fail");
		goto unmap_hog;
	}
	if (pid < 0) {
		fp_fail(ctx, FP_STATUS_ERROR, "fork: %s", strerror(errno));
		goto unmap_hog;
	}
	if (pid == 0) {
		pause(); /* stay mapped until the parent is done */
		_exit(0);
	}
	judge_pool_empty_fork(ctx, room);
	parent_writes_then_dma(ctx);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
unmap_hog:
	if (hog)
		munmap(hog, hog_len);
}

/*
 * control-dontneed (negative control): MADV_DONTNEED after registration drops the parent's
 * pages; the parent then writes into fresh ones while the device still writes into the
 * pinned old ones. The check MUST report "device wrote into a page the parent no longer
 * maps": if it does not, forkpin cannot detect lost DMA on this setup.
 */
static void scenario_control_dontneed(struct fp_ctx *ctx)
{
	uintptr_t start = (uintptr_t)ctx->mem->buf & ~(ctx->mem->page_size - 1);
	uintptr_t end = ((uintptr_t)ctx->mem->buf + ctx->mem->len + ctx->mem->page_size - 1) &
			~(ctx->mem->page_size - 1);

	if (!fp_prologue(ctx))
		return;
	if (madvise((void *)start, end - start, MADV_DONTNEED)) {
		fp_fail(ctx, errno == EINVAL ? FP_STATUS_SKIP : FP_STATUS_ERROR,
			"madvise(MADV_DONTNEED) on this memory type: %s", strerror(errno));
		return;
	}
	fp_write_neighbour(ctx); /* sub-page: the neighbours lost their data too */
	parent_writes_then_dma(ctx);
}

/*
 * The rows. Each scenario's comment above says what it proves and what its failure means.
 * Order is listing and running order.
 */
const struct fp_scenario fp_scenarios[] = {
    {.name = "child-writes",
     .summary = "child writes and exits, then the device writes",
     .run = scenario_child_writes,
     .needs_caps = FP_CAP_DMA_TO_HOST},
    {.name = "child-writes-parent-writes",
     .summary = "child writes and exits, the parent writes, then the device writes",
     .run = scenario_child_writes_parent_writes,
     .needs_caps = FP_CAP_DMA_TO_HOST},
    {.name = "parent-writes",
     .summary = "parent writes after fork (child alive), then the device writes",
     .run = scenario_parent_writes,
     .needs_caps = FP_CAP_DMA_TO_HOST},
    {.name = "child-alive",
     .summary = "device writes while the child lives; the child must not see it",
     .run = scenario_child_alive,
     .needs_caps = FP_CAP_DMA_TO_HOST},
    {.name = "device-reads",
     .summary = "parent then child write after fork; the device must read the parent's",
     .run = scenario_device_reads,
     .needs_caps = FP_CAP_DMA_FROM_HOST},
    /* Read-only pins (remote-read-only MRs): unreliable across fork before 5.19. */
    {.name = "device-reads-ro",
     .summary = "device-reads with a read-only registration",
     .run = scenario_device_reads,
     .needs_caps = FP_CAP_DMA_FROM_HOST | FP_CAP_READ_ONLY_PIN,
     .access = FP_ACCESS_READ_ONLY},
    {.name = "fork-exec",
     .summary = "fork then exec at once, parent writes meanwhile",
     .run = scenario_fork_exec,
     .needs_caps = FP_CAP_DMA_TO_HOST},
    {.name = "posix-spawn",
     .summary = "posix_spawn (vfork-style clone), parent writes",
     .run = scenario_posix_spawn,
     .needs_caps = FP_CAP_DMA_TO_HOST},
    {.name = "many-children",
     .summary = "4 children write and stay alive during the DMA",
     .run = scenario_many_children,
     .needs_caps = FP_CAP_DMA_TO_HOST},
    {.name = "nested",
     .summary = "child and grandchild alive during the DMA",
     .run = scenario_nested,
     .needs_caps = FP_CAP_DMA_TO_HOST},
    {.name = "in-flight",
     .summary = "fork while a device write is queued",
     .run = scenario_in_flight,
     .needs_caps = FP_CAP_DMA_TO_HOST | FP_CAP_QUEUED_DMA},
    {.name = "hugetlb-pool-empty",
     .summary = "fork with pinned hugetlb memory and an empty pool",
     .run = scenario_hugetlb_pool_empty,
     .needs_caps = FP_CAP_PINS | FP_CAP_DMA_TO_HOST,
     .mem_needs = FP_MEM_HUGETLB,
     .mem_avoid = FP_MEM_SHARED,
     .empties_pool = true},
    /* The hazards (hazards.c): pins that meet COW-shared or write-protected pages. */
    {.name = "pin-after-fork",
     .summary = "register while a child shares the pages (R/W); write, DMA both ways",
     .run = fp_scenario_pin_after_fork,
     .needs_caps = FP_CAP_PINS,
     .mem_avoid = FP_MEM_SHARED},
    {.name = "pin-after-fork-ro",
     .summary = "register read-only while a child shares the pages; the device reads",
     .run = fp_scenario_pin_after_fork,
     .needs_caps = FP_CAP_PINS | FP_CAP_DMA_FROM_HOST | FP_CAP_READ_ONLY_PIN,
     .mem_avoid = FP_MEM_SHARED,
     .access = FP_ACCESS_READ_ONLY},
    {.name = "pin-previously-shared",
     .summary = "register after a child that shared the pages exited (R/W)",
     .run = fp_scenario_pin_previously_shared,
     .needs_caps = FP_CAP_PINS,
     .mem_avoid = FP_MEM_SHARED},
    {.name = "pin-previously-shared-ro",
     .summary = "register read-only after a child that shared the pages exited",
     .run = fp_scenario_pin_previously_shared,
     .needs_caps = FP_CAP_PINS | FP_CAP_DMA_FROM_HOST | FP_CAP_READ_ONLY_PIN,
     .mem_avoid = FP_MEM_SHARED,
     .access = FP_ACCESS_READ_ONLY},
    {.name = "reprotect",
     .summary = "mprotect read-only and back after registration, then write and DMA",
     .run = fp_scenario_reprotect,
     .needs_caps = FP_CAP_PINS},
    {.name = "reprotect-softdirty",
     .summary = "clear soft-dirty (clear_refs 4) after registration, then write and DMA",
     .run = fp_scenario_reprotect_softdirty,
     .needs_caps = FP_CAP_PINS},
    {.name = "reprotect-uffd-wp",
     .summary = "userfaultfd write-protect on and off after registration, write, DMA",
     .run = fp_scenario_reprotect_uffd_wp,
     .needs_caps = FP_CAP_PINS},
    {.name = "wipeonfork",
     .summary = "MADV_WIPEONFORK on the registered range: the child sees zeros",
     .run = fp_scenario_wipeonfork,
     .needs_caps = FP_CAP_PINS,
     .mem_avoid = FP_MEM_SHARED | FP_MEM_SUBPAGE | FP_MEM_FILE},
    {.name = "threaded-fork",
     .summary = "a thread writes the buffer while the main thread forks; device writes",
     .run = fp_scenario_threaded_fork,
     .needs_caps = FP_CAP_PINS | FP_CAP_DMA_TO_HOST,
     .mem_avoid = FP_MEM_SHARED | FP_MEM_SUBPAGE,
     .needs_cpus = true},
    {.name = "threaded-fork-register",
     .summary = "a thread re-registers, another writes, while the main thread forks; DMA",
     .run = fp_scenario_threaded_fork_register,
     .needs_caps = FP_CAP_PINS,
     .mem_avoid = FP_MEM_SHARED | FP_MEM_SUBPAGE,
     .needs_cpus = true},
    {.name = "pageout",
     .summary = "MADV_PAGEOUT after registration, then fork, write and DMA",
     .run = fp_scenario_pageout,
     .needs_caps = FP_CAP_PINS,
     .mem_avoid = FP_MEM_SHARED},
    {.name = "pageout-before-pin",
     .summary = "MADV_PAGEOUT, then register (the pin swaps in), fork, write and DMA",
     .run = fp_scenario_pageout_before_pin,
     .needs_caps = FP_CAP_PINS,
     .mem_avoid = FP_MEM_SHARED},
    {.name = "pageout-before-pin-ro",
     .summary = "MADV_PAGEOUT, then register read-only, fork, write; the device reads",
     .run = fp_scenario_pageout_before_pin,
     .needs_caps = FP_CAP_PINS | FP_CAP_DMA_FROM_HOST | FP_CAP_READ_ONLY_PIN,
     .mem_avoid = FP_MEM_SHARED,
     .access = FP_ACCESS_READ_ONLY},
    {.name = "collapse",
     .summary = "MADV_COLLAPSE of a registered THP, then fork, write and DMA",
     .run = fp_scenario_collapse,
     .needs_caps = FP_CAP_PINS,
     .mem_needs = FP_MEM_THP,
     .mem_avoid = FP_MEM_SHARED},
    {.name = "control-dontneed",
     .summary = "negative control: MADV_DONTNEED after registration",
     .run = scenario_control_dontneed,
     .needs_caps = FP_CAP_PINS | FP_CAP_DMA_TO_HOST,
     .mem_avoid = FP_MEM_SHARED,
     .control = "MADV_DONTNEED gives the parent fresh pages while the device keeps the "
		"pinned ones: the check must report lost DMA"},
};
const size_t fp_scenario_count = sizeof(fp_scenarios) / sizeof(fp_scenarios[0]);

const struct fp_scenario *fp_scenario_find(const char *name)
{
	size_t i;

	for (i = 0; i < fp_scenario_count; i++)
		if (!strcmp(fp_scenarios[i].name, name))
			return &fp_scenarios[i];
	return NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * The hazard scenarios: every shape in the kernel's history where a long-term pin meets a
 * page that is, or was, COW-shared, or whose PTE is write-protected after pinning. The pin
 * must keep following the parent's page: whatever happens to the page tables, the parent's
 * next write must land in the pinned page (not in a copy), the device's data must be what
 * the parent reads, and a child's private view must stay its own.
 *
 * Each scenario moves data in every direction the backend can (its capabilities, never its
 * name): the device writes and the parent must see it, then the parent writes and the device
 * must read it.
 */
#define _GNU_SOURCE
#include "hazards.h"
#include "case_checks.h"
#include "children.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* The threaded-fork writer's two alternating patterns (child ids no scenario spawns). */
#define THREAD_GEN_A (FP_CHILD + FP_MAX_CHILDREN - 2)
#define THREAD_GEN_B (FP_CHILD + FP_MAX_CHILDREN - 1)

/* The page-aligned range (of the memory type's page size) that holds the buffer. */
static void *page_range(const struct fp_ctx *ctx, size_t *len)
{
	uintptr_t page = ctx->mem->page_size;
	uintptr_t start = (uintptr_t)ctx->mem->buf & ~(page - 1);
	uintptr_t end = ((uintptr_t)ctx->mem->buf + ctx->mem->len + page - 1) & ~(page - 1);

	*len = end - start;
	return (void *)start;
}

/*
 * After the hazard: the parent writes, the device writes and the parent must see the
 * device's data; the parent writes again and the device must read it. A pin left on a page
 * the parent no longer maps shows as "device wrote into a page the parent no longer maps"
 * or "device read stale data". A read-only registration only reads.
 */
static void round_trip(struct fp_ctx *ctx)
{
	unsigned caps = ctx->dev->be->caps;
	struct fp_probes p;

	fp_probes_plan(ctx, &p);
	fp_write_buffer(ctx, FP_PARENT_NEW);
	if ((caps & FP_CAP_DMA_TO_HOST) && ctx->access == FP_ACCESS_READ_WRITE) {
		if (!fp_device_writes(ctx, &p) ||
		    !fp_check_view(ctx, FP_OBS_PARENT, &p, FP_DEVICE, FP_PARENT_NEW))
			return;
		fp_write_buffer(ctx, FP_PARENT_NEW);
	}
	if (caps & FP_CAP_DMA_FROM_HOST)
		fp_device_reads(ctx, &p, FP_PARENT_NEW);
}

/* A child that keeps its private view: the parent's pre-fork data, whatever happens. */
static void child_keep_view(struct fp_ctx *ctx, struct fp_child_chan *ch, const void *arg)
{
	(void)arg;
	fp_check_neighbour(ctx, FP_OBS_CHILD);
	fp_child_ack(ch);
	fp_child_wait_go(ch);
	fp_check_all(ctx, FP_OBS_CHILD, FP_PARENT_OLD);
}

/* Fork a child that keeps its view, run @hazard, then the round trip while it lives. */
static void fork_then(struct fp_ctx *ctx, bool child_stays, bool (*hazard)(struct fp_ctx *))
{
	struct fp_child c;

	if (!fp_child_spawn(ctx, &c, child_keep_view, FP_CHILD, NULL))
		return;
	fp_child_wait_ack(ctx, &c);
	if (!child_stays)
		fp_child_finish(ctx, &c, "child");
	if (!fp_failed(ctx) && hazard(ctx))
		round_trip(ctx);
	fp_child_finish(ctx, &c, "child");
}

/* ---- pins on pages a child shares (or shared) --------------------------------------------- */

static bool register_now(struct fp_ctx *ctx)
{
	return fp_register(ctx);
}

/*
 * pin-after-fork[-ro]: the parent writes, forks a child that stays (the pages are COW-shared),
 * THEN registers. The pin must break the sharing (R/W: FOLL_WRITE faults a private copy;
 * R/O: FAULT_FLAG_UNSHARE, a7f226604170 5.19 for anonymous pages, 84209e87c696 6.2 for the
 * rest), or the parent's next write copies the page away from the pin. Failure: the device
 * reads stale data or writes where the parent no longer looks.
 */
void fp_scenario_pin_after_fork(struct fp_ctx *ctx)
{
	fp_write_buffer(ctx, FP_PARENT_OLD);
	fp_write_neighbour(ctx);
	fork_then(ctx, true, register_now);
}

/*
 * pin-previously-shared[-ro]: as pin-after-fork, but the child has exited before the
 * registration: the page is exclusive again by count, not by its PageAnonExclusive mark
 * (5.19), so the pin must still break or reuse it correctly.
 */
void fp_scenario_pin_previously_shared(struct fp_ctx *ctx)
{
	fp_write_buffer(ctx, FP_PARENT_OLD);
	fp_write_neighbour(ctx);
	fork_then(ctx, false, register_now);
}

/* ---- write-protecting a pinned page --------------------------------------------------------- */

/* The ways an application (or its runtime) write-protects a range and lifts it again. */
static int wp_mprotect(struct fp_ctx *ctx, char *why, size_t ws)
{
	size_t len;
	void *start = page_range(ctx, &len);

	if (mprotect(start, len, PROT_READ) || mprotect(start, len, PROT_READ | PROT_WRITE)) {
		snprintf(why, ws, "mprotect: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* Soft-dirty tracking (CRIU, live migration): clear_refs 4 write-protects every PTE. */
static int wp_softdirty(struct fp_ctx *ctx, char *why, size_t ws)
{
	int err;

	/* A new VMA carries VM_SOFTDIRTY ("sd") only where CONFIG_MEM_SOFT_DIRTY is on. */
	if (fp_smaps_has_flag(ctx->mem->buf, "sd") != 1) {
		snprintf(
		    why, ws,
		    "no soft-dirty tracking here (VmFlags lacks sd: CONFIG_MEM_SOFT_DIRTY off)");
		return -ENODEV;
	}
	err = fp_write_text("/proc/self/clear_refs", "4");
	if (err) {
		snprintf(why, ws, "cannot write 4 to /proc/self/clear_refs: %s", strerror(-err));
		return -ENODEV;
	}
	return 0;
}

static int uffd_open(char *why, size_t ws)
{
	struct uffdio_api api = {.api = UFFD_API};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		snprintf(why, ws,
			 "userfaultfd: %s (needs CONFIG_USERFAULTFD; unprivileged: sysctl "
			 "vm.unprivileged_userfaultfd=1)",
			 strerror(errno));
		return -ENODEV;
	}
	if (ioctl(fd, UFFDIO_API, &api) || !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		snprintf(why, ws, "this kernel's userfaultfd has no write-protect mode (5.7+)");
		close(fd);
		return -ENODEV;
	}
	return fd;
}

/* userfaultfd write-protect (UFFDIO_WRITEPROTECT on, then off): what snapshotting and
 * garbage-collecting runtimes do. */
static int wp_uffd(struct fp_ctx *ctx, char *why, size_t ws)
{
	size_t len;
	void *start = page_range(ctx, &len);
	struct uffdio_register reg = {.range = {(uintptr_t)start, len},
				      .mode = UFFDIO_REGISTER_MODE_WP};
	struct uffdio_writeprotect wp = {.range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
	int fd = uffd_open(why, ws), err = 0;

	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_REGISTER, &reg)) {
		err = errno == EINVAL ? -ENODEV : -errno;
		snprintf(why, ws, "UFFDIO_REGISTER(MODE_WP): %s%s", strerror(errno),
			 errno == EINVAL ? ": this kernel cannot write-protect this memory type"
					 : "");
	} else if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp) ||
		   (wp.mode = 0, ioctl(fd, UFFDIO_WRITEPROTECT, &wp))) {
		err = -errno;
		snprintf(why, ws, "UFFDIO_WRITEPROTECT: %s", strerror(errno));
	}
	close(fd); /* unregisters the range */
	return err;
}

/*
 * The reprotect family: register, write-protect the range and lift it again, then the
 * parent writes (a write fault on a write-protected PTE of a pinned page). Before 5.19
 * do_wp_page reused the page only at refcount 1 (09854ba94c6a, 5.9), so the write copied the
 * pinned page away: the device's data is lost with no fork at all.
 */
static void reprotect(struct fp_ctx *ctx, int (*wp)(struct fp_ctx *, char *, size_t))
{
	char why[256];
	int err;

	if (!fp_prologue(ctx))
		return;
	err = wp(ctx, why, sizeof(why));
	if (err) {
		fp_fail(ctx, err == -ENODEV ? FP_STATUS_SKIP : FP_STATUS_ERROR, "%s", why);
		return;
	}
	round_trip(ctx);
}

void fp_scenario_reprotect(struct fp_ctx *ctx)
{
	reprotect(ctx, wp_mprotect);
}

void fp_scenario_reprotect_softdirty(struct fp_ctx *ctx)
{
	reprotect(ctx, wp_softdirty);
}

void fp_scenario_reprotect_uffd_wp(struct fp_ctx *ctx)
{
	reprotect(ctx, wp_uffd);
}

/* ---- wipe on fork --------------------------------------------------------------------------- */

/* The child of wipeonfork: its copy of the range must be zeros, before and after the DMA. */
static void child_sees_zeros(struct fp_ctx *ctx, struct fp_child_chan *ch, const void *arg)
{
	const char *buf = ctx->mem->buf;
	struct fp_check dev = {0};
	size_t i;

	(void)arg;
	fp_child_ack(ch);
	fp_child_wait_go(ch);
	for (i = 0; i < ctx->mem->len && !buf[i]; i++)
		;
	ctx->out->pages_checked += (ctx->mem->len + 4095) / 4096;
	if (i == ctx->mem->len)
		return;
	fp_check_span(&dev, buf + (i & ~4095ul), i & ~4095ul,
		      4096 < ctx->mem->len ? 4096 : ctx->mem->len, 4096, ctx->seed, FP_DEVICE);
	fp_fail(ctx, FP_STATUS_MISMATCH, "%s at offset 0x%zx of a MADV_WIPEONFORK range",
		fp_check_ok(&dev)
		    ? "device data leaked into the child: the child maps the pinned page"
		    : "the child sees data instead of zeros (the wipe did not happen)",
		i);
}

/*
 * wipeonfork: MADV_WIPEONFORK on the registered range, then fork: the child must get zeros,
 * the parent keeps its pinned pages (write, device writes, device reads). A kernel that
 * handed the pinned page to the child, or wiped the parent's, fails.
 */
void fp_scenario_wipeonfork(struct fp_ctx *ctx)
{
	struct fp_child c;
	size_t len;
	void *start;

	if (!fp_prologue(ctx))
		return;
	start = page_range(ctx, &len);
	if (madvise(start, len, MADV_WIPEONFORK)) {
		fp_fail(ctx, errno == EINVAL ? FP_STATUS_SKIP : FP_STATUS_ERROR,
			"madvise(MADV_WIPEONFORK): %s%s", strerror(errno),
			errno == EINVAL ? " (private anonymous memory only, kernel 4.14+)" : "");
		return;
	}
	if (!fp_child_spawn(ctx, &c, child_sees_zeros, FP_CHILD, NULL))
		return;
	fp_child_wait_ack(ctx, &c);
	round_trip(ctx);
	fp_child_finish(ctx, &c, "child");
}

/* ---- a thread writes while another forks ------------------------------------------------------
 */

struct writer_thread {
	struct fp_ctx *ctx;
	size_t off, len; /* the range it writes, never the device's */
	atomic_bool stop;
	atomic_ulong rounds; /* whole passes over its range */
};

/* Page by page, each page wholly one generation's pattern, alternating generations. */
static void *keep_writing(void *arg)
{
	struct writer_thread *t = arg;
	char *buf = t->ctx->mem->buf;
	size_t o;

	while (!atomic_load(&t->stop)) {
		enum fp_writer gen = atomic_load(&t->rounds) & 1 ? THREAD_GEN_B : THREAD_GEN_A;

		for (o = t->off; o < t->off + t->len && !atomic_load(&t->stop); o += 4096)
			fp_pattern_fill(buf + o, o, 4096, t->ctx->seed, gen);
		atomic_fetch_add(&t->rounds, 1);
	}
	return NULL;
}

/* The halves threaded-fork uses: the device's probes in the first, the thread's the second. */
struct threaded_plan {
	struct fp_probes probes;
	size_t half;
};

/*
 * The child of threaded-fork: the device's half must be the pre-fork data, the thread's half
 * only ever the thread's or the pre-fork patterns. A page torn between two of those is a
 * write in progress at fork (fork is not atomic against another thread's multi-word write,
 * on any kernel), so it is allowed; anybody else's data (the device's) is not.
 */
static void child_threaded(struct fp_ctx *ctx, struct fp_child_chan *ch, const void *arg)
{
	static const enum fp_writer thread_side[] = {FP_PARENT_OLD, THREAD_GEN_A, THREAD_GEN_B};
	const struct threaded_plan *plan = arg;
	size_t torn = 0;

	fp_child_ack(ch);
	fp_child_wait_go(ch);
	if (fp_check_range(ctx, FP_OBS_CHILD, 0, plan->half, FP_PARENT_OLD))
		fp_check_words_among(ctx, FP_OBS_CHILD, plan->half, ctx->mem->len - plan->half,
				     thread_side, 3, &torn);
}

/* The probes, cut to the first @limit bytes of the buffer. */
static void clip_probes(struct fp_probes *p, size_t limit)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++) {
		if (p->off[i] >= limit)
			continue;
		p->off[n] = p->off[i];
		p->len[n] = p->off[i] + p->len[i] > limit ? limit - p->off[i] : p->len[i];
		n++;
	}
	p->n = n;
}

/* Wait (bounded) until the writer has made a whole pass: it is really running at fork. */
static bool writer_started(struct fp_ctx *ctx, struct writer_thread *t)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)ctx->step_timeout_ms * 1000000u;

	while (atomic_load(&t->rounds) < 1)
		if (fp_now_ns() > deadline)
			return false;
		else
			sched_yield();
	return true;
}

/* The parent of threaded-fork, with the writer running: fork, device writes, checks. */
static void fork_while_writing(struct fp_ctx *ctx, struct threaded_plan *plan,
			       struct writer_thread *t)
{
	struct fp_child c;

	if (!writer_started(ctx, t)) {
		fp_fail(ctx, FP_STATUS_ERROR, "the writer thread made no pass in %d ms",
			ctx->step_timeout_ms);
		return;
	}
	if (!fp_child_spawn(ctx, &c, child_threaded, FP_CHILD, plan))
		return;
	fp_child_wait_ack(ctx, &c);
	if (fp_device_writes(ctx, &plan->probes))
		fp_check_probes(ctx, FP_OBS_PARENT, &plan->probes, FP_DEVICE);
	fp_child_finish(ctx, &c, "child");
}

/*
 * Both threaded scenarios: the device gets the first half (its probes clipped to it), the
 * writer thread @w the whole pages of the second. False with the verdict set when the
 * buffer is too small or the prologue failed.
 */
static bool threaded_plan_init(struct fp_ctx *ctx, struct threaded_plan *plan,
			       struct writer_thread *w)
{
	if (ctx->mem->len < 2 * 4096) {
		fp_fail(ctx, FP_STATUS_SKIP, "needs a buffer of two pages or more (one per side)");
		return false;
	}
	if (!fp_prologue(ctx))
		return false;
	plan->half = ctx->mem->len / 2 & ~4095ul;
	fp_probes_plan(ctx, &plan->probes);
	clip_probes(&plan->probes, plan->half);
	w->off = plan->half;
	w->len = (ctx->mem->len - plan->half) & ~4095ul;
	return true;
}

/*
 * threaded-fork: one thread keeps writing its half of the registered buffer while the main
 * thread forks (the GUP-fast vs fork race, 57efa1fe5957, and the copies early COW makes while
 * a thread writes). After the fork the device writes the other half: the parent must see it,
 * the child must not, and the child's copy of the thread's half holds only the thread's data.
 */
void fp_scenario_threaded_fork(struct fp_ctx *ctx)
{
	struct writer_thread t = {.ctx = ctx};
	struct threaded_plan plan;
	pthread_t tid;
	int err;

	if (!threaded_plan_init(ctx, &plan, &t))
		return;
	err = pthread_create(&tid, NULL, keep_writing, &t);
	if (err) {
		fp_fail(ctx, FP_STATUS_ERROR, "pthread_create: %s", strerror(err));
		return;
	}
	fork_while_writing(ctx, &plan, &t);
	atomic_store(&t.stop, true);
	pthread_join(tid, NULL);
}

/* ---- ... while a third thread registers and deregisters ------------------------------------ */

/*
 * The registering thread's state. It cycles (deregister, register) through the backend ops;
 * @gen is odd while it is inside that window, even while a registration is live and stable.
 * The main thread parks it (REG_HOLD, answered by REG_HELD) to use the device itself: a
 * parked thread always leaves a live registration behind.
 */
enum reg_phase { REG_CYCLE, REG_HOLD, REG_HELD, REG_QUIT };

struct reg_thread {
	struct fp_ctx *ctx;
	atomic_int phase;
	atomic_ulong gen;
	atomic_int err; /* a failed registration's errno (ctx->dev->error says why) */
};

/* Free rounds (fork wherever the cycle happens to be) before the one forced shape: each
 * costs a fork and a registration, so few (the host matrix stays under 2 s). */
#define REG_FREE_ROUNDS 1

static void *cycle_registrations(void *arg)
{
	struct reg_thread *t = arg;
	struct fp_ctx *ctx = t->ctx;
	int phase;

	while ((phase = atomic_load(&t->phase)) != REG_QUIT) {
		if (phase == REG_HOLD)
			atomic_store(&t->phase, REG_HELD);
		if (phase != REG_CYCLE || atomic_load(&t->err)) {
			/* parked: sleep, not spin, so the forking thread keeps the CPU */
			nanosleep(&(struct timespec){.tv_nsec = 20000}, NULL);
			continue;
		}
		atomic_fetch_add(&t->gen, 1);
		fp_dev_deregister(ctx->dev);
		atomic_store(&t->err,
			     fp_dev_register(ctx->dev, ctx->mem->buf, ctx->mem->len, ctx->access));
		atomic_fetch_add(&t->gen, 1);
	}
	return NULL;
}

/* Park the registering thread (bounded): from then on the main thread owns the device. */
static bool park_registrar(struct fp_ctx *ctx, struct reg_thread *t)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)ctx->step_timeout_ms * 1000000u;
	int err;

	atomic_store(&t->phase, REG_HOLD);
	while (atomic_load(&t->phase) != REG_HELD)
		if (fp_now_ns() > deadline) {
			fp_fail(ctx, FP_STATUS_ERROR,
				"the registering thread did not park in %d ms",
				ctx->step_timeout_ms);
			return false;
		} else
			sched_yield();
	err = atomic_load(&t->err);
	if (err)
		fp_fail(ctx, err == -ENODEV ? FP_STATUS_SKIP : FP_STATUS_ERROR,
			"register (in a thread): %s", ctx->dev->error);
	return !err;
}

/* Let it cycle again and wait (bounded) until it has made a new registration. */
static bool resume_registrar(struct fp_ctx *ctx, struct reg_thread *t)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)ctx->step_timeout_ms * 1000000u;
	unsigned long from = atomic_load(&t->gen);

	atomic_store(&t->phase, REG_CYCLE);
	while (atomic_load(&t->gen) < from + 2) {
		if (atomic_load(&t->err) || fp_now_ns() > deadline) {
			if (park_registrar(ctx, t))
				fp_fail(ctx, FP_STATUS_ERROR,
					"the registering thread made no registration in %d ms",
					ctx->step_timeout_ms);
			return false;
		}
		sched_yield();
	}
	return true;
}

/*
 * After the fork, with the registering thread parked on its last registration: the parent
 * writes the device's half, the device writes it (the parent must see it), the parent
 * writes again and the device reads it, in the directions the backend has.
 */
static void half_round_trip(struct fp_ctx *ctx, const struct threaded_plan *plan)
{
	unsigned caps = ctx->dev->be->caps;

	fp_pattern_fill(ctx->mem->buf, 0, plan->half, ctx->seed, FP_PARENT_NEW);
	if ((caps & FP_CAP_DMA_TO_HOST) &&
	    (!fp_device_writes(ctx, &plan->probes) ||
	     !fp_check_probes(ctx, FP_OBS_PARENT, &plan->probes, FP_DEVICE)))
		return;
	fp_pattern_fill(ctx->mem->buf, 0, plan->half, ctx->seed, FP_PARENT_NEW);
	if (caps & FP_CAP_DMA_FROM_HOST)
		fp_device_reads(ctx, &plan->probes, FP_PARENT_NEW);
}

/*
 * One round: fork wherever the registering thread is (or, @held, while it holds a live
 * registration), park it, then the DMA through its last registration and the child's
 * checks. Returns whether that registration was live over the whole fork (its generation did
 * not move): the early-COW shape. Any other overlap must pass too, so no verdict depends on
 * who won.
 */
static bool fork_round(struct fp_ctx *ctx, struct threaded_plan *plan, struct reg_thread *t,
		       bool held)
{
	struct fp_child c;
	unsigned long before;

	fp_pattern_fill(ctx->mem->buf, 0, plan->half, ctx->seed, FP_PARENT_OLD);
	if (held ? !park_registrar(ctx, t) : !resume_registrar(ctx, t))
		return false;
	before = atomic_load(&t->gen);
	if (!fp_child_spawn(ctx, &c, child_threaded, FP_CHILD, plan))
		return false;
	if (!park_registrar(ctx, t)) {
		fp_child_finish(ctx, &c, "child");
		return false;
	}
	fp_child_wait_ack(ctx, &c);
	half_round_trip(ctx, plan);
	fp_child_finish(ctx, &c, "child");
	return !(before & 1) && atomic_load(&t->gen) == before;
}

/*
 * The rounds: free ones, then a held one if no free round had the pin live over the fork.
 * How many were which varies from run to run, so it is not reported (a case's TAP line is
 * the same with -j N and on a rerun).
 */
static void register_rounds(struct fp_ctx *ctx, struct threaded_plan *plan, struct reg_thread *t)
{
	unsigned round;
	bool covered = false;

	for (round = 0; round < REG_FREE_ROUNDS && !fp_failed(ctx); round++)
		covered |= fork_round(ctx, plan, t, false);
	if (!fp_failed(ctx) && !covered)
		fork_round(ctx, plan, t, true);
}

/*
 * threaded-fork-register: one thread keeps writing its half of the buffer, another keeps
 * deregistering and registering the whole buffer through the backend, while the main thread
 * forks (registration against fork: 57efa1fe5957 for GUP-fast, early COW for a pin that is
 * live at fork, COW breaking for one made after it). After each fork the thread is parked
 * on its last registration: the device moves data through it (the parent must see the
 * device's data, the device the parent's), and the child's copy is a per-page consistent
 * snapshot: the device's half its pre-fork data, the thread's half only the thread's.
 */
void fp_scenario_threaded_fork_register(struct fp_ctx *ctx)
{
	struct writer_thread w = {.ctx = ctx};
	struct reg_thread r = {.ctx = ctx};
	struct threaded_plan plan;
	pthread_t wid, rid;
	int err;

	if (!threaded_plan_init(ctx, &plan, &w))
		return;
	atomic_store(&r.phase, REG_HELD);
	err = pthread_create(&wid, NULL, keep_writing, &w);
	if (!err) {
		err = pthread_create(&rid, NULL, cycle_registrations, &r);
		if (!err) {
			if (writer_started(ctx, &w))
				register_rounds(ctx, &plan, &r);
			else
				fp_fail(ctx, FP_STATUS_ERROR, "the writer thread made no pass");
			atomic_store(&r.phase, REG_QUIT);
			pthread_join(rid, NULL);
		}
		atomic_store(&w.stop, true);
		pthread_join(wid, NULL);
	}
	if (err)
		fp_fail(ctx, FP_STATUS_ERROR, "pthread_create: %s", strerror(err));
}

/* For fork_then when the hazard came before the fork. */
static bool nothing_more(struct fp_ctx *ctx)
{
	(void)ctx;
	return true;
}

/* ---- the kernel moving pinned pages: reclaim and khugepaged's collapse -------------------- */

/* MADV_PAGEOUT: reclaim must skip pinned pages (they cannot be unmapped and swapped). */
static bool page_out(struct fp_ctx *ctx)
{
	size_t len;
	void *start = page_range(ctx, &len);

	if (madvise(start, len, MADV_PAGEOUT)) {
		fp_fail(ctx, errno == EINVAL ? FP_STATUS_SKIP : FP_STATUS_ERROR,
			"madvise(MADV_PAGEOUT): %s%s", strerror(errno),
			errno == EINVAL ? " (kernel 5.4+ and a memory type reclaim can page out)"
					: "");
		return false;
	}
	return true;
}

/* MADV_COLLAPSE: collapsing into a new huge page must refuse (or keep) pinned pages. */
static bool collapse(struct fp_ctx *ctx)
{
	uintptr_t start = (uintptr_t)ctx->mem->map & ~((2ul << 20) - 1);
	uintptr_t end = ((uintptr_t)ctx->mem->map + ctx->mem->map_len) & ~((2ul << 20) - 1);

	if (end <= start) {
		fp_fail(ctx, FP_STATUS_SKIP, "the mapping holds no whole 2 MiB range to collapse");
		return false;
	}
	if (madvise((void *)start, end - start, MADV_COLLAPSE)) {
		if (errno == EINVAL) {
			fp_fail(ctx, FP_STATUS_SKIP,
				"madvise(MADV_COLLAPSE): EINVAL: this kernel lacks it (6.1+)");
			return false;
		}
		/* refusing to collapse pinned pages is a correct answer */
		fp_note(ctx, "MADV_COLLAPSE refused: %s", strerror(errno));
	}
	return true;
}

/*
 * pageout: MADV_PAGEOUT after registration, then fork (child alive), the parent writes and
 * the device moves data. Reclaim must leave pinned pages in place; if it swapped one out,
 * the parent faults in a different page and the device's data is lost.
 */
void fp_scenario_pageout(struct fp_ctx *ctx)
{
	if (!fp_prologue(ctx))
		return;
	if (!fp_swap_active()) {
		fp_fail(
		    ctx, FP_STATUS_SKIP,
		    "no swap: MADV_PAGEOUT cannot move anonymous pages (swapon a file or zram)");
		return;
	}
	if (page_out(ctx))
		fork_then(ctx, true, nothing_more);
}

/*
 * pageout-before-pin[-ro]: the parent's pre-fork data is swapped out (MADV_PAGEOUT) BEFORE
 * the registration, so the pin itself faults the pages back in from swap; then fork (child
 * alive), the parent writes and the device moves data. A R/W pin swaps in with a write fault
 * (an exclusive, writable page); a R/O pin with a read fault, which maps the page read-only:
 * the parent's next write must then reuse the pinned page, not copy it (before 5.19
 * do_wp_page reused only at refcount 1, which a pin never has; the swap entry keeps the
 * exclusive mark since 1493a1913e34). SKIP without swap, or when nothing left memory.
 */
void fp_scenario_pageout_before_pin(struct fp_ctx *ctx)
{
	size_t len;
	void *start = page_range(ctx, &len);
	long out;

	if (!fp_swap_active()) {
		fp_fail(
		    ctx, FP_STATUS_SKIP,
		    "no swap: MADV_PAGEOUT cannot move anonymous pages (swapon a file or zram)");
		return;
	}
	fp_write_buffer(ctx, FP_PARENT_OLD);
	fp_write_neighbour(ctx);
	if (!page_out(ctx))
		return;
	out = fp_pages_not_present(start, len);
	if (out <= 0) {
		fp_fail(ctx, FP_STATUS_SKIP, "%s",
			out < 0
			    ? "cannot read /proc/self/pagemap: which pages left memory is unknown"
			    : "MADV_PAGEOUT left every page in memory (swap full, or reclaim "
			      "declined this memory type)");
		return;
	}
	fp_note(ctx, "%ld of %zu 4 KiB pages out of memory before the registration", out,
		len / 4096);
	if (register_now(ctx))
		fork_then(ctx, true, nothing_more);
}

/*
 * collapse: MADV_COLLAPSE of a registered, PTE-mapped THP, then fork, parent write, DMA.
 * khugepaged's collapse copies into a new huge page; on a pinned page that moves the parent
 * away from the device (collapse must skip pinned pages, checked by refcount).
 */
void fp_scenario_collapse(struct fp_ctx *ctx)
{
	if (fp_prologue(ctx) && collapse(ctx))
		fork_then(ctx, true, nothing_more);
}

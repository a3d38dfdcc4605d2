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
 * Children talk to the parent over a pipe pair with fixed-size messages (an ACK after each
 * step, a REPORT at the end), so every wait is bounded and a child that dies is noticed.
 */
#define _GNU_SOURCE
#include "scenarios.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mman.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_PROBES	    64
#define DEFAULT_CASE_BUDGET (2ul << 20)
#define MANY_CHILDREN	    4
/* The neighbour bytes of a sub-page buffer carry the pre-fork pattern at this offset. */
#define NEIGHBOUR_OFFSET (1ul << 40)
#define TRUE_BINARY	 "/bin/true"

void fp_fail(struct fp_ctx *ctx, enum fp_status status, const char *fmt, ...)
{
	va_list ap;

	if (ctx->out->status != FP_STATUS_PASS)
		return; /* the first failure is the diagnosis; later ones are consequences */
	ctx->out->status = status;
	va_start(ap, fmt);
	vsnprintf(ctx->out->reason, sizeof(ctx->out->reason), fmt, ap);
	va_end(ap);
}

void fp_note(struct fp_ctx *ctx, const char *fmt, ...)
{
	size_t used = strlen(ctx->out->note);
	va_list ap;

	if (used && used + 2 < sizeof(ctx->out->note)) {
		strcpy(ctx->out->note + used, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(ctx->out->note + used, sizeof(ctx->out->note) - used, fmt, ap);
	va_end(ap);
}

static bool failed(const struct fp_ctx *ctx)
{
	return ctx->out->status != FP_STATUS_PASS;
}

static bool is_shared(const struct fp_ctx *ctx)
{
	return ctx->mem_flags & FP_MEM_SHARED;
}

/*
 * Did the backend make the registered range MADV_DONTFORK (ibv_fork_init)? Then children
 * have no mapping of it. Looked up in smaps on first need only: reading smaps costs more
 * than the rest of a small case, and most cases never need the answer.
 */
static bool range_dontfork(struct fp_ctx *ctx)
{
	if (ctx->dontfork < 0) {
		ctx->dontfork = fp_smaps_has_flag(ctx->mem->buf, "dc") == 1;
		if (ctx->dontfork)
			fp_note(ctx, "registered range is MADV_DONTFORK");
	}
	return ctx->dontfork == 1;
}

/* Do children see the parent's writes (shared memory they actually map)? */
static bool shared_with_children(struct fp_ctx *ctx)
{
	return is_shared(ctx) && !range_dontfork(ctx);
}

/* ---- probes: the parts of the buffer the device moves data through -------------------- */

struct probes {
	size_t n;
	size_t off[MAX_PROBES];
	size_t len[MAX_PROBES];
};

/*
 * The whole buffer when it fits the backend's per-case budget, else page-sized spans spread
 * over it (first and last page included), so a slow engine still checks every region.
 */
static void plan_probes(const struct fp_ctx *ctx, struct probes *p)
{
	size_t budget = ctx->dev->be->limits.case_budget, len = ctx->mem->len;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), span, k, i;

	if (!budget || budget > DEFAULT_CASE_BUDGET)
		budget = DEFAULT_CASE_BUDGET;
	if (len <= budget) {
		p->n = 1;
		p->off[0] = 0;
		p->len[0] = len;
		return;
	}
	span = budget < page ? budget : page;
	k = budget / span;
	if (k > MAX_PROBES)
		k = MAX_PROBES;
	if (k < 2)
		k = 2, span = budget / 2;
	for (i = 0; i < k; i++) {
		size_t off = (len - span) / (k - 1) * i;

		p->off[i] = i + 1 == k ? len - span : off & ~(page - 1);
		p->len[i] = span;
	}
	p->n = k;
}

/* ---- data helpers --------------------------------------------------------------------- */

static void write_buffer(struct fp_ctx *ctx, enum fp_writer w)
{
	fp_pattern_fill(ctx->mem->buf, 0, ctx->mem->len, ctx->seed, w);
}

/* The unrelated data next to a sub-page buffer: written once, before fork. */
static void write_neighbour(struct fp_ctx *ctx)
{
	if (ctx->mem->neighbour_len)
		fp_pattern_fill(ctx->mem->neighbour, NEIGHBOUR_OFFSET, ctx->mem->neighbour_len,
				ctx->seed, FP_PARENT_OLD);
}

/*
 * Check what @obs sees in its own mapping: @in_probe inside the probe spans, @outside
 * elsewhere. Records a MISMATCH with the diagnosis on the first bad view; true if all good.
 */
static bool check_view(struct fp_ctx *ctx, enum fp_observer obs, const struct probes *p,
		       enum fp_writer in_probe, enum fp_writer outside)
{
	struct fp_check in = {0}, out = {0};
	const char *buf = ctx->mem->buf;
	size_t page = ctx->mem->page_size < 4096 ? ctx->mem->page_size : 4096;
	size_t pos = 0, i;
	char text[400];

	for (i = 0; i < p->n; i++) {
		if (p->off[i] > pos)
			fp_check_span(&out, buf + pos, pos, p->off[i] - pos, page, ctx->seed,
				      outside);
		fp_check_span(&in, buf + p->off[i], p->off[i], p->len[i], page, ctx->seed,
			      in_probe);
		pos = p->off[i] + p->len[i];
	}
	if (pos < ctx->mem->len)
		fp_check_span(&out, buf + pos, pos, ctx->mem->len - pos, page, ctx->seed, outside);
	ctx->out->pages_checked += in.pages + out.pages;
	if (in.bad_pages) {
		fp_fail(ctx, FP_STATUS_MISMATCH, "%s",
			fp_check_diagnose(&in, obs, in_probe, text, sizeof(text)));
		return false;
	}
	if (out.bad_pages) {
		fp_fail(ctx, FP_STATUS_MISMATCH, "%s",
			fp_check_diagnose(&out, obs, outside, text, sizeof(text)));
		return false;
	}
	return true;
}

static const struct probes *whole_buffer(const struct fp_ctx *ctx, struct probes *p)
{
	p->n = 1;
	p->off[0] = 0;
	p->len[0] = ctx->mem->len;
	return p;
}

/* The whole buffer must hold @w's data. */
static bool check_all(struct fp_ctx *ctx, enum fp_observer obs, enum fp_writer w)
{
	struct probes all;

	return check_view(ctx, obs, whole_buffer(ctx, &all), w, w);
}

static bool check_neighbour(struct fp_ctx *ctx, enum fp_observer obs)
{
	struct fp_check chk = {0};
	char text[400];

	if (!ctx->mem->neighbour_len)
		return true;
	fp_check_span(&chk, ctx->mem->neighbour, NEIGHBOUR_OFFSET, ctx->mem->neighbour_len,
		      ctx->mem->neighbour_len, ctx->seed, FP_PARENT_OLD);
	if (fp_check_ok(&chk))
		return true;
	fp_fail(ctx, FP_STATUS_MISMATCH, "unrelated data on the registered page: %s",
		fp_check_diagnose(&chk, obs, FP_PARENT_OLD, text, sizeof(text)));
	return false;
}

/* The device writes its data into every probe span. */
static bool device_writes(struct fp_ctx *ctx, const struct probes *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		char *src = malloc(p->len[i]);
		int err;

		if (!src) {
			fp_fail(ctx, FP_STATUS_ERROR, "out of memory for a %zu-byte source",
				p->len[i]);
			return false;
		}
		fp_pattern_fill(src, p->off[i], p->len[i], ctx->seed, FP_DEVICE);
		err = fp_dev_dma_to_host(ctx->dev, p->off[i], src, p->len[i]);
		free(src);
		if (err) {
			fp_fail(ctx, FP_STATUS_ERROR, "device write: %s", ctx->dev->error);
			return false;
		}
	}
	return true;
}

/* The device reads every probe span; what it read must be @expected's data. */
static bool device_reads(struct fp_ctx *ctx, const struct probes *p, enum fp_writer expected)
{
	struct fp_check chk = {0};
	char text[400];
	size_t i;

	for (i = 0; i < p->n; i++) {
		char *dst = malloc(p->len[i]);
		int err;

		if (!dst) {
			fp_fail(ctx, FP_STATUS_ERROR, "out of memory for a %zu-byte sink",
				p->len[i]);
			return false;
		}
		err = fp_dev_dma_from_host(ctx->dev, p->off[i], dst, p->len[i]);
		if (!err)
			fp_check_span(&chk, dst, p->off[i], p->len[i], 4096, ctx->seed, expected);
		free(dst);
		if (err) {
			fp_fail(ctx, FP_STATUS_ERROR, "device read: %s", ctx->dev->error);
			return false;
		}
	}
	ctx->out->pages_checked += chk.pages;
	if (fp_check_ok(&chk))
		return true;
	fp_fail(ctx, FP_STATUS_MISMATCH, "%s",
		fp_check_diagnose(&chk, FP_OBS_DEVICE, expected, text, sizeof(text)));
	return false;
}

/* ---- children ------------------------------------------------------------------------- */

enum msg_type { MSG_ACK = 1, MSG_REPORT };

/* Fixed size below PIPE_BUF, so each write is atomic. */
struct msg {
	enum msg_type type;
	enum fp_status status;
	char reason[900];
};

struct child {
	pid_t pid;
	int go_w;      /* parent -> child: one byte per step */
	int msg_r;     /* child -> parent: struct msg */
	bool reported; /* a REPORT arrived */
	struct msg report;
};

/* What a child process has: its ends of the pipes and its identity as a writer. */
struct child_chan {
	int go_r, msg_w;
	enum fp_writer self;
};

typedef void (*child_fn)(struct fp_ctx *ctx, struct child_chan *ch);

/* In the child: wait for the parent's next go. The parent gone means: stop now. */
static void child_wait_go(struct child_chan *ch)
{
	char c;

	if (fp_read_all(ch->go_r, &c, 1))
		_exit(0);
}

static void child_ack(struct child_chan *ch)
{
	struct msg m = {.type = MSG_ACK};

	if (fp_write_all(ch->msg_w, &m, sizeof(m)))
		_exit(0);
}

/* In the child: send the outcome of its checks and exit. */
static void __attribute__((noreturn)) child_exit(struct fp_ctx *ctx, struct child_chan *ch)
{
	struct msg m = {.type = MSG_REPORT, .status = ctx->out->status};

	snprintf(m.reason, sizeof(m.reason), "%s", ctx->out->reason);
	fp_write_all(ch->msg_w, &m, sizeof(m));
	_exit(0);
}

/*
 * fork() a child that runs @fn as writer @self. A fork that fails for lack of huge pages is
 * a SKIP (the pool is too small for the copies early COW makes), anything else an ERROR.
 */
static bool spawn_child(struct fp_ctx *ctx, struct child *c, child_fn fn, enum fp_writer self)
{
	int go[2], msg[2];

	memset(c, 0, sizeof(*c));
	c->pid = -1;
	if (pipe2(go, O_CLOEXEC) || pipe2(msg, O_CLOEXEC)) {
		fp_fail(ctx, FP_STATUS_ERROR, "pipe: %s", strerror(errno));
		return false;
	}
	c->pid = fork();
	if (c->pid < 0) {
		int err = errno;

		close(go[0]), close(go[1]), close(msg[0]), close(msg[1]);
		if (err == ENOMEM && (ctx->mem_flags & FP_MEM_HUGETLB))
			fp_fail(
			    ctx, FP_STATUS_SKIP,
			    "fork() failed with ENOMEM: too few free huge pages for the copies "
			    "fork must make of pinned pages; reserve more (setup/hugetlb reserve)");
		else
			fp_fail(ctx, FP_STATUS_ERROR, "fork: %s", strerror(err));
		return false;
	}
	if (c->pid == 0) {
		struct fp_outcome out = {0};
		struct child_chan ch = {.go_r = go[0], .msg_w = msg[1], .self = self};

		close(go[1]);
		close(msg[0]);
		ctx->out = &out; /* the child's verdict travels in its REPORT */
		fn(ctx, &ch);
		child_exit(ctx, &ch);
	}
	close(go[0]);
	close(msg[1]);
	c->go_w = go[1];
	c->msg_r = msg[0];
	return true;
}

/* Read the child's next message; false when it died or did not answer in time. */
static bool read_msg(struct fp_ctx *ctx, struct child *c, struct msg *m)
{
	if (c->reported || fp_wait_readable(c->msg_r, ctx->step_timeout_ms) <= 0)
		return false;
	if (fp_read_all(c->msg_r, m, sizeof(*m)))
		return false;
	if (m->type == MSG_REPORT) {
		c->reported = true;
		c->report = *m;
	}
	return true;
}

/* In the parent: wait for the child's ACK of its current step. */
static bool child_wait_ack(struct fp_ctx *ctx, struct child *c)
{
	struct msg m;

	return read_msg(ctx, c, &m) && m.type == MSG_ACK;
}

static void child_go(struct child *c)
{
	char go = 'g';

	if (c->go_w >= 0)
		fp_write_all(c->go_w, &go, 1);
}

/* Did the child die from a fault on memory the backend excluded from fork (DONTFORK)? */
static bool expected_fault(struct fp_ctx *ctx, int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV && range_dontfork(ctx);
}

/*
 * In the parent: let the child finish (closing its go pipe releases every later wait), take
 * its REPORT and its exit status, and fold both into the case outcome.
 */
static void child_finish(struct fp_ctx *ctx, struct child *c, const char *who)
{
	struct msg m;
	int status = 0;

	if (c->pid <= 0)
		return;
	child_go(c); /* a child waiting for its last go may now check and report */
	close(c->go_w);
	c->go_w = -1;
	while (!c->reported && read_msg(ctx, c, &m))
		;
	close(c->msg_r);
	if (!c->reported)
		kill(c->pid, SIGKILL); /* no answer in time: it will not give one */
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
	if (expected_fault(ctx, status)) {
		fp_note(ctx,
			"%s got SIGSEGV touching the registered range: it is MADV_DONTFORK "
			"(expected with fork-init)%s",
			who,
			ctx->mem->neighbour_len
			    ? "; unrelated data on that page is gone in the child"
			    : "");
		return;
	}
	if (c->reported && c->report.status != FP_STATUS_PASS) {
		fp_fail(ctx, c->report.status, "%s: %s", who, c->report.reason);
		return;
	}
	if (WIFSIGNALED(status))
		fp_fail(ctx, FP_STATUS_ERROR, "%s died from signal %d (%s)", who, WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	else if (!c->reported)
		fp_fail(ctx, FP_STATUS_ERROR, "%s %s", who,
			WIFEXITED(status) ? "exited without reporting its checks"
					  : "did not report in time");
}

/* ---- children's parts ------------------------------------------------------------------ */

/* What a child must see after the parent wrote @parent_last and the device wrote into the
 * probes: its own pre-fork copy when private, the latest data when shared. */
static void child_check_after_dma(struct fp_ctx *ctx, const struct probes *p,
				  enum fp_writer private_view, enum fp_writer parent_last)
{
	if (is_shared(ctx))
		check_view(ctx, FP_OBS_CHILD, p, FP_DEVICE, parent_last);
	else
		check_view(ctx, FP_OBS_CHILD, p, private_view, private_view);
}

/* Write the whole buffer as itself, then exit. */
static void child_write_exit(struct fp_ctx *ctx, struct child_chan *ch)
{
	check_neighbour(ctx, FP_OBS_CHILD);
	write_buffer(ctx, ch->self);
}

/* Stay alive through the parent's writes and the DMA, then check the own view. The
 * expectation for the view arrives through ctx fields set before the fork. */
struct view_plan {
	struct probes probes;
	enum fp_writer parent_last; /* what the parent wrote last outside the probes */
	enum fp_writer own;	    /* what this child wrote itself, or FP_PARENT_OLD */
	bool write_first;	    /* the child writes its pattern before acking */
};

static struct view_plan plan; /* set by the parent before fork; each child has a copy */

static void child_wait_check(struct fp_ctx *ctx, struct child_chan *ch)
{
	enum fp_writer own = plan.write_first ? ch->self : FP_PARENT_OLD;

	check_neighbour(ctx, FP_OBS_CHILD);
	if (plan.write_first)
		write_buffer(ctx, ch->self);
	child_ack(ch);
	child_wait_go(ch);
	child_check_after_dma(ctx, &plan.probes, own, plan.parent_last);
}

/* Ack readiness, write the whole buffer on go, ack, and check the own writes survive. */
static void child_write_after_go(struct fp_ctx *ctx, struct child_chan *ch)
{
	child_ack(ch);
	child_wait_go(ch);
	write_buffer(ctx, ch->self);
	child_ack(ch);
	child_wait_go(ch);
	check_all(ctx, FP_OBS_CHILD, ch->self);
}

/* ---- the scenarios ----------------------------------------------------------------------- */

/* Register, write the pre-fork data, and find out whether fork will pass the range on. */
static bool prologue(struct fp_ctx *ctx)
{
	int err = fp_dev_register(ctx->dev, ctx->mem->buf, ctx->mem->len, ctx->access);

	if (err) {
		fp_fail(ctx,
			err == -ENODEV || err == -EOPNOTSUPP ? FP_STATUS_SKIP : FP_STATUS_ERROR,
			"register: %s", ctx->dev->error);
		return false;
	}
	write_buffer(ctx, FP_PARENT_OLD);
	write_neighbour(ctx);
	return true;
}

/*
 * child-writes: the child writes the whole buffer and exits; then the device writes.
 * Fails when the child's writes reach the parent's private copy (leak), or the device
 * writes into the page the child took away.
 */
static void scenario_child_writes(struct fp_ctx *ctx)
{
	struct probes p;
	struct child c;

	if (!prologue(ctx) || !spawn_child(ctx, &c, child_write_exit, FP_CHILD))
		return;
	child_finish(ctx, &c, "child");
	if (failed(ctx) ||
	    !check_all(ctx, FP_OBS_PARENT, shared_with_children(ctx) ? FP_CHILD : FP_PARENT_OLD))
		return;
	plan_probes(ctx, &p);
	if (device_writes(ctx, &p))
		check_view(ctx, FP_OBS_PARENT, &p, FP_DEVICE,
			   shared_with_children(ctx) ? FP_CHILD : FP_PARENT_OLD);
}

/* The parent's half of parent-writes and child-alive: DMA while the child lives. */
static void dma_with_child_alive(struct fp_ctx *ctx, bool parent_writes)
{
	enum fp_writer parent_last = parent_writes ? FP_PARENT_NEW : FP_PARENT_OLD;
	struct child c;

	plan_probes(ctx, &plan.probes);
	plan.parent_last = parent_last;
	plan.write_first = false;
	if (!spawn_child(ctx, &c, child_wait_check, FP_CHILD))
		return;
	child_wait_ack(ctx, &c);
	if (parent_writes)
		write_buffer(ctx, FP_PARENT_NEW);
	if (device_writes(ctx, &plan.probes))
		check_view(ctx, FP_OBS_PARENT, &plan.probes, FP_DEVICE, parent_last);
	child_go(&c);
	child_finish(ctx, &c, "child");
}

/*
 * parent-writes: after fork the parent writes the whole buffer while the child still maps
 * it, then the device writes. The classic loss: the write fault gives the parent a new page
 * and the device writes into the old one, now the child's.
 */
static void scenario_parent_writes(struct fp_ctx *ctx)
{
	if (prologue(ctx))
		dma_with_child_alive(ctx, true);
}

/*
 * child-alive: the device writes while the child lives, nobody writes after fork. The child
 * must not see the device's data in private memory (it would if it shared the pinned page).
 */
static void scenario_child_alive(struct fp_ctx *ctx)
{
	if (prologue(ctx))
		dma_with_child_alive(ctx, false);
}

/*
 * device-reads: after fork the parent writes, then the child writes, then the device reads.
 * The device must read the parent's latest data (private) or the child's (shared). Stale
 * pre-fork data means the pinned page stayed with the child.
 */
static void scenario_device_reads(struct fp_ctx *ctx)
{
	struct probes p;
	struct child c;

	if (!prologue(ctx))
		return;
	plan_probes(ctx, &p);
	if (!spawn_child(ctx, &c, child_write_after_go, FP_CHILD))
		return;
	child_wait_ack(ctx, &c);
	write_buffer(ctx, FP_PARENT_NEW);
	child_go(&c); /* the child writes now */
	child_wait_ack(ctx, &c);
	device_reads(ctx, &p, shared_with_children(ctx) ? FP_CHILD : FP_PARENT_NEW);
	child_finish(ctx, &c, "child");
}

/* The parent writes after fork, the device writes, the parent checks: shared tail. */
static void parent_writes_then_dma(struct fp_ctx *ctx)
{
	struct probes p;

	plan_probes(ctx, &p);
	write_buffer(ctx, FP_PARENT_NEW);
	if (device_writes(ctx, &p))
		check_view(ctx, FP_OBS_PARENT, &p, FP_DEVICE, FP_PARENT_NEW);
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

	if (!prologue(ctx))
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

	if (!prologue(ctx))
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
	struct child c[MANY_CHILDREN];
	size_t n = 0, i;

	if (!prologue(ctx))
		return;
	plan_probes(ctx, &plan.probes);
	plan.parent_last = FP_PARENT_NEW;
	plan.write_first = true;
	/* One at a time, so on shared memory the last child's data is the known last write. */
	for (; n < MANY_CHILDREN; n++) {
		if (!spawn_child(ctx, &c[n], child_wait_check, (enum fp_writer)(FP_CHILD + n)))
			break;
		child_wait_ack(ctx, &c[n]);
	}
	if (n == MANY_CHILDREN &&
	    check_all(ctx, FP_OBS_PARENT,
		      shared_with_children(ctx) ? FP_CHILD + MANY_CHILDREN - 1 : FP_PARENT_OLD))
		parent_writes_then_dma(ctx);
	for (i = 0; i < n; i++) {
		char who[32];

		snprintf(who, sizeof(who), "child %zu", i);
		child_go(&c[i]);
		child_finish(ctx, &c[i], who);
	}
}

/* The child of nested: fork a grandchild that writes and stays, then wait like the others. */
static void child_with_grandchild(struct fp_ctx *ctx, struct child_chan *ch)
{
	struct child gc;
	struct fp_outcome own = {0}, *mine = ctx->out;

	plan.write_first = true;
	if (!spawn_child(ctx, &gc, child_wait_check, FP_GRANDCHILD))
		return;
	child_wait_ack(ctx, &gc);
	/* The grandchild's writes must not show in this child (unless the memory is shared). */
	check_all(ctx, FP_OBS_CHILD, is_shared(ctx) ? FP_GRANDCHILD : FP_PARENT_OLD);
	child_ack(ch);
	child_wait_go(ch);
	/* Check this child's view before the grandchild's check, then fold its report in. */
	ctx->out = &own;
	plan.write_first = false;
	child_check_after_dma(ctx, &plan.probes, FP_PARENT_OLD, plan.parent_last);
	ctx->out = mine;
	if (own.status != FP_STATUS_PASS)
		fp_fail(ctx, own.status, "%s", own.reason);
	child_go(&gc);
	child_finish(ctx, &gc, "grandchild");
}

/*
 * nested: a child forks a grandchild that writes; both stay alive while the parent writes
 * and the device writes. Fork of a fork: the copies made at each level must stay apart.
 */
static void scenario_nested(struct fp_ctx *ctx)
{
	struct child c;

	if (!prologue(ctx))
		return;
	plan_probes(ctx, &plan.probes);
	plan.parent_last = FP_PARENT_NEW;
	if (!spawn_child(ctx, &c, child_with_grandchild, FP_CHILD))
		return;
	child_wait_ack(ctx, &c);
	if (!failed(ctx) && check_all(ctx, FP_OBS_PARENT,
				      shared_with_children(ctx) ? FP_GRANDCHILD : FP_PARENT_OLD))
		parent_writes_then_dma(ctx);
	child_go(&c);
	child_finish(ctx, &c, "child");
}

/* The child of in-flight: write outside the queued span, then check the own view. */
static void child_in_flight(struct fp_ctx *ctx, struct child_chan *ch)
{
	const struct probes *p = &plan.probes;
	char *buf = ctx->mem->buf;
	size_t end = p->off[0] + p->len[0];

	check_neighbour(ctx, FP_OBS_CHILD);
	fp_pattern_fill(buf + end, end, ctx->mem->len - end, ctx->seed, ch->self);
	child_ack(ch);
	child_wait_go(ch);
	check_view(ctx, FP_OBS_CHILD, p, is_shared(ctx) ? FP_DEVICE : FP_PARENT_OLD, ch->self);
}

/* Queue a device write of the device's data into the plan's single span. */
static bool queue_device_write(struct fp_ctx *ctx, const struct probes *p)
{
	char *src = malloc(p->len[0]);
	int err;

	if (!src) {
		fp_fail(ctx, FP_STATUS_ERROR, "out of memory");
		return false;
	}
	fp_pattern_fill(src, p->off[0], p->len[0], ctx->seed, FP_DEVICE);
	err = fp_dev_dma_to_host_start(ctx->dev, p->off[0], src, p->len[0]);
	free(src);
	if (err)
		fp_fail(ctx, FP_STATUS_ERROR, "queue device write: %s", ctx->dev->error);
	return !err;
}

/*
 * in-flight: fork while a device write is queued; the child writes the rest of the buffer
 * while the transfer is pending. The device's data must land in the parent's page, whichever
 * order the fork and the transfer take, and never in the child's private copy.
 */
static void scenario_in_flight(struct fp_ctx *ctx)
{
	const struct fp_limits *lim = &ctx->dev->be->limits;
	size_t span = ctx->mem->len / 2;
	struct child c;
	int err;

	if (!prologue(ctx))
		return;
	if (span > lim->max_transfer)
		span = lim->max_transfer;
	if (lim->align > 1)
		span -= span % lim->align;
	plan.probes.n = 1;
	plan.probes.off[0] = 0;
	plan.probes.len[0] = span;
	if (!queue_device_write(ctx, &plan.probes))
		return;
	if (!spawn_child(ctx, &c, child_in_flight, FP_CHILD)) {
		fp_dev_dma_wait(ctx->dev);
		return;
	}
	child_wait_ack(ctx, &c);
	err = fp_dev_dma_wait(ctx->dev);
	if (err)
		fp_fail(ctx, FP_STATUS_ERROR, "device write: %s", ctx->dev->error);
	else
		check_view(ctx, FP_OBS_PARENT, &plan.probes, FP_DEVICE,
			   shared_with_children(ctx) ? FP_CHILD : FP_PARENT_OLD);
	child_go(&c);
	child_finish(ctx, &c, "child");
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

/*
 * hugetlb-pool-empty: pinned hugetlb memory, the pool exhausted, then fork. Early COW must
 * copy the pinned page for the child and cannot: the kernel should fail fork() with ENOMEM
 * (which surprises applications) rather than share the pinned page. If fork succeeds, the
 * parent-writes check decides whether the kernel shared the page.
 */
static void scenario_hugetlb_pool_empty(struct fp_ctx *ctx)
{
	unsigned long overcommit = 0;
	size_t hog_len;
	void *hog;
	pid_t pid;

	if (!prologue(ctx))
		return;
	hog = exhaust_hugetlb_pool(ctx->mem->page_size, &hog_len);
	if (fp_hugetlb_free_pages(ctx->mem->page_size)) {
		fp_fail(ctx, FP_STATUS_ERROR, "could not exhaust the hugetlb pool (%lu pages left)",
			fp_hugetlb_free_pages(ctx->mem->page_size));
		goto unmap_hog;
	}
	fp_read_ulong("/proc/sys/vm/nr_overcommit_hugepages", &overcommit);
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
	fp_note(ctx, "fork() succeeded with an empty pool (vm.nr_overcommit_hugepages=%lu)",
		overcommit);
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

	if (!prologue(ctx))
		return;
	if (madvise((void *)start, end - start, MADV_DONTNEED)) {
		fp_fail(ctx, errno == EINVAL ? FP_STATUS_SKIP : FP_STATUS_ERROR,
			"madvise(MADV_DONTNEED) on this memory type: %s", strerror(errno));
		return;
	}
	write_neighbour(ctx); /* sub-page: the neighbours lost their data too */
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

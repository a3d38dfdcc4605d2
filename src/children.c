/* SPDX-License-Identifier: MIT */
/*
 * The parent/child pipe protocol (children.h), and how a child's end is judged: its REPORT,
 * its exit status, and for a registration the backend made MADV_DONTFORK (ibv_fork_init) the
 * address of a SIGSEGV, which the child's handler classifies before it exits.
 */
#define _GNU_SOURCE
#include "children.h"
#include "case_checks.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Exit codes of a child's SIGSEGV handler: where the fault was. */
#define EXIT_FAULT_IN_BUFFER	94 /* inside the registered buffer */
#define EXIT_FAULT_ON_NEIGHBOUR 95 /* outside it, on a page the registration covers */

/* The child's registered buffer and the pages around it, for its SIGSEGV handler. */
static uintptr_t fault_buf_lo, fault_buf_hi, fault_page_lo, fault_page_hi;

/* Async-signal-safe: classify the faulting address and exit; elsewhere, die as usual. */
static void child_segv(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	(void)sig, (void)uc;
	if (a >= fault_buf_lo && a < fault_buf_hi)
		_exit(EXIT_FAULT_IN_BUFFER);
	if (a >= fault_page_lo && a < fault_page_hi)
		_exit(EXIT_FAULT_ON_NEIGHBOUR);
	/* SA_RESETHAND restored the default: returning re-faults and the child dies of it */
}

static void child_catch_faults(const struct fp_ctx *ctx)
{
	struct sigaction sa = {.sa_sigaction = child_segv, .sa_flags = SA_SIGINFO | SA_RESETHAND};
	size_t page = ctx->mem->page_size;

	fault_buf_lo = (uintptr_t)ctx->mem->buf;
	fault_buf_hi = fault_buf_lo + ctx->mem->len;
	fault_page_lo = fault_buf_lo & ~(uintptr_t)(page - 1);
	fault_page_hi = (fault_buf_hi + page - 1) & ~(uintptr_t)(page - 1);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
}

void fp_child_wait_go(struct fp_child_chan *ch)
{
	char c;

	if (fp_read_all(ch->go_r, &c, 1))
		_exit(0);
}

void fp_child_ack(struct fp_child_chan *ch)
{
	struct fp_msg m = {.type = FP_MSG_ACK};

	if (fp_write_all(ch->msg_w, &m, sizeof(m)))
		_exit(0);
}

/* In the child: send the outcome of its checks and exit. */
static void __attribute__((noreturn)) child_exit(struct fp_ctx *ctx, struct fp_child_chan *ch)
{
	struct fp_msg m = {.type = FP_MSG_REPORT, .status = ctx->out->status};

	snprintf(m.reason, sizeof(m.reason), "%s", ctx->out->reason);
	fp_write_all(ch->msg_w, &m, sizeof(m));
	_exit(0);
}

static void fork_failed(struct fp_ctx *ctx, int err)
{
	if (err == ENOMEM && (ctx->mem_flags & FP_MEM_HUGETLB))
		fp_fail(ctx, FP_STATUS_SKIP,
			"fork() failed with ENOMEM: too few free huge pages for the copies "
			"fork must make of pinned pages; reserve more (" FP_SETUP(
			    "hugetlb") " reserve)");
	else
		fp_fail(ctx, FP_STATUS_ERROR, "fork: %s", strerror(err));
}

bool fp_child_spawn(struct fp_ctx *ctx, struct fp_child *c, fp_child_fn fn, enum fp_writer self,
		    const void *arg)
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
		fork_failed(ctx, err);
		return false;
	}
	if (c->pid == 0) {
		struct fp_outcome out = {0};
		struct fp_child_chan ch = {.go_r = go[0], .msg_w = msg[1], .self = self};

		close(go[1]);
		close(msg[0]);
		child_catch_faults(ctx);
		ctx->out = &out; /* the child's verdict travels in its REPORT */
		fn(ctx, &ch, arg);
		child_exit(ctx, &ch);
	}
	close(go[0]);
	close(msg[1]);
	c->go_w = go[1];
	c->msg_r = msg[0];
	return true;
}

/* Read the child's next message; false when it died or did not answer in time. */
static bool read_msg(struct fp_ctx *ctx, struct fp_child *c, struct fp_msg *m)
{
	if (c->reported || c->msg_r < 0 || fp_wait_readable(c->msg_r, ctx->step_timeout_ms) <= 0)
		return false;
	if (fp_read_all(c->msg_r, m, sizeof(*m)))
		return false;
	if (m->type == FP_MSG_REPORT) {
		c->reported = true;
		c->report = *m;
	}
	return true;
}

bool fp_child_wait_ack(struct fp_ctx *ctx, struct fp_child *c)
{
	struct fp_msg m;

	if (read_msg(ctx, c, &m) && m.type == FP_MSG_ACK)
		return true;
	/* No ack: the child died, reported early or hung. Judge it now, so that what happened
	 * to it is the diagnosis, not the data it never wrote (on shared memory the parent's
	 * check expects the child's writes). */
	fp_child_finish(ctx, c, "a forked child");
	return false;
}

void fp_child_go(struct fp_child *c)
{
	char go = 'g';

	if (c->go_w >= 0)
		fp_write_all(c->go_w, &go, 1);
}

/*
 * A child that exited from its SIGSEGV handler: a fault inside the buffer is expected when
 * the backend made the range MADV_DONTFORK (the child has no mapping); a fault on the rest of
 * a registered page means the child lost unrelated data that merely shares the page.
 * True when @status was such an exit (the verdict is recorded).
 */
static bool judge_fault(struct fp_ctx *ctx, int status, const char *who)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	bool dontfork;

	if (code != EXIT_FAULT_IN_BUFFER && code != EXIT_FAULT_ON_NEIGHBOUR)
		return false;
	dontfork = fp_range_dontfork(ctx);
	if (!dontfork)
		fp_fail(ctx, FP_STATUS_ERROR,
			"%s got SIGSEGV %s the registered buffer, which is not MADV_DONTFORK", who,
			code == EXIT_FAULT_IN_BUFFER ? "inside" : "next to");
	else if (code == EXIT_FAULT_IN_BUFFER)
		fp_note(ctx,
			"%s got SIGSEGV inside the registered buffer: it is MADV_DONTFORK "
			"(expected with fork-init)",
			who);
	else
		fp_fail(ctx, FP_STATUS_MISMATCH,
			"%s got SIGSEGV reading unrelated data that shares a page with the "
			"registration: MADV_DONTFORK covers whole pages, so that data is gone in "
			"the child (rdma-core PR 1222)",
			who);
	return true;
}

/* Fold the child's REPORT and exit status into the case outcome. */
static void judge_child(struct fp_ctx *ctx, struct fp_child *c, int status, const char *who)
{
	if (judge_fault(ctx, status, who))
		return;
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

void fp_child_finish(struct fp_ctx *ctx, struct fp_child *c, const char *who)
{
	struct fp_msg m;
	int status = 0;

	if (c->pid <= 0)
		return;
	fp_child_go(c); /* a child waiting for its last go may now check and report */
	close(c->go_w);
	c->go_w = -1;
	while (!c->reported && read_msg(ctx, c, &m))
		;
	close(c->msg_r);
	c->msg_r = -1;
	if (!c->reported)
		kill(c->pid, SIGKILL); /* no answer in time: it will not give one */
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
	judge_child(ctx, c, status, who);
}

/* SPDX-License-Identifier: MIT */
/*
 * The runner: one process group per case, a watchdog on each, and cleanup that also covers
 * what a crashed case leaves (its children are killed with the group; the kernel releases
 * pins, MRs and VFIO maps with the case's file descriptors).
 */
#define _GNU_SOURCE
#include "known_issues.h"
#include "runner.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Per-case seed: distinct per case, reproducible from the run's seed. */
static uint64_t case_seed(uint64_t base, const char *id)
{
	uint64_t h = base ^ 0xcbf29ce484222325ull;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 0x100000001b3ull;
	return h;
}

static void outcome_set(struct fp_outcome *out, enum fp_status status, const char *fmt,
			const char *arg)
{
	out->status = status;
	snprintf(out->reason, sizeof(out->reason), fmt, arg);
}

void fp_case_body(const struct fp_case *c, uint64_t seed, int step_timeout_ms,
		  struct fp_outcome *out)
{
	struct fp_mem mem;
	struct fp_dev dev;
	char why[512] = "";
	int err;

	memset(out, 0, sizeof(*out));
	err = fp_mem_map(c->mt, &mem, why, sizeof(why));
	if (err) {
		outcome_set(out,
			    err == -ENODEV || err == -ENOSPC ? FP_STATUS_SKIP : FP_STATUS_ERROR,
			    "%s", why);
		return;
	}
	err = fp_dev_open(&dev, c->be);
	if (err) {
		outcome_set(out, err == -ENODEV ? FP_STATUS_SKIP : FP_STATUS_ERROR, "%s",
			    dev.error);
	} else {
		struct fp_ctx ctx = {.dev = &dev,
				     .mem = &mem,
				     .seed = seed,
				     .access = c->sc->access,
				     .mem_flags = c->mt->flags,
				     .dontfork = -1,
				     .out = out,
				     .step_timeout_ms = step_timeout_ms};

		if (dev.note[0])
			fp_note(&ctx, "%s", dev.note);
		c->sc->run(&ctx);
		fp_dev_close(&dev);
	}
	fp_mem_unmap(c->mt, &mem);
}

/* Inner waits (on children, devices) give up a little before the watchdog, so a stuck
 * child is reported by name; never below 100 ms, so a tiny --timeout is the watchdog's. */
static int step_timeout_ms(double timeout_s)
{
	double ms = timeout_s * 800;

	return ms < 100 ? 100 : (int)ms;
}

/* In the case process: run the body and send the outcome. Never returns. */
static void __attribute__((noreturn))
case_process(const struct fp_case *c, const struct fp_run_options *opt, int out_fd)
{
	struct fp_outcome out;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* forkpin gone: do not linger */
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN); /* a child gone early is seen as EPIPE, not a crash */
	fp_case_body(c, case_seed(opt->seed, c->id), step_timeout_ms(opt->timeout_s), &out);
	fp_write_all(out_fd, &out, sizeof(out));
	_exit(0);
}

/* Kill whatever is left of the case's process group and reap it (we are a subreaper). */
static void reap_group(pid_t pgid)
{
	kill(-pgid, SIGKILL);
	while (waitpid(-pgid, NULL, 0) > 0 || errno == EINTR)
		;
}

enum arrival { ARRIVED, DEADLINE, CLOSED, INTERRUPTED };

/* Wait for the outcome until the deadline. CLOSED: the case process ended without one. */
static enum arrival receive_outcome(int fd, double timeout_s, struct fp_outcome *out)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)(timeout_s * 1e9);

	while (!interrupted) {
		uint64_t now = fp_now_ns();
		int ready;

		if (now >= deadline)
			return DEADLINE;
		ready = fp_wait_readable(fd, (int)((deadline - now) / 1000000ull) + 1);
		if (ready < 0 && ready != -EINTR)
			return CLOSED;
		if (ready > 0)
			return fp_read_all(fd, out, sizeof(*out)) == 0 ? ARRIVED : CLOSED;
	}
	return INTERRUPTED;
}

static void classify_death(int status, enum arrival arrival, struct fp_outcome *out,
			   double timeout_s)
{
	char text[64];

	if (arrival == ARRIVED)
		return;
	memset(out, 0, sizeof(*out));
	if (arrival == INTERRUPTED) {
		outcome_set(out, FP_STATUS_ERROR, "%s", "interrupted (SIGINT)");
	} else if (arrival == DEADLINE) {
		snprintf(text, sizeof(text), "%g", timeout_s);
		outcome_set(out, FP_STATUS_TIMEOUT, "the case did not finish within %s s (killed)",
			    text);
	} else if (WIFSIGNALED(status)) {
		out->status = FP_STATUS_SIGNAL;
		snprintf(out->reason, sizeof(out->reason),
			 "the case process died from signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	} else {
		out->status = FP_STATUS_ERROR;
		snprintf(out->reason, sizeof(out->reason),
			 "the case process exited (status %d) without a result",
			 WEXITSTATUS(status));
	}
}

static enum fp_verdict verdict_of(const struct fp_case *c, enum fp_status status)
{
	switch (status) {
	case FP_STATUS_PASS:
		return c->control ? FP_VERDICT_CONTROL_MISSED : FP_VERDICT_PASS;
	case FP_STATUS_MISMATCH:
		return c->control ? FP_VERDICT_CONTROL_DETECTED : FP_VERDICT_FAIL;
	case FP_STATUS_SKIP:
		return FP_VERDICT_SKIP;
	default:
		return FP_VERDICT_FAIL;
	}
}

/* A data failure that a documented kernel limitation explains is XFAIL, not FAIL. */
static void excuse_known_issue(struct fp_result *res)
{
	const struct fp_known_issue *k;
	struct utsname u;

	if (res->verdict != FP_VERDICT_FAIL || res->outcome.status != FP_STATUS_MISMATCH ||
	    uname(&u))
		return;
	k = fp_known_issue_match(res->id, res->outcome.reason, u.release);
	if (k) {
		res->verdict = FP_VERDICT_XFAIL;
		res->known_issue = k->reason;
	}
}

void fp_run_case(const struct fp_case *c, const struct fp_run_options *opt, struct fp_result *res)
{
	uint64_t start = fp_now_ns();
	enum arrival arrival;
	int pipefd[2], status = 0;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	snprintf(res->id, sizeof(res->id), "%s", c->id);
	res->backend = c->be->name;
	res->memtype = c->mt->name;
	res->scenario = c->sc->name;
	res->control = c->control != NULL;
	/* Orphans of the case come back to us, so reap_group() can reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	fflush(NULL); /* the case process must not flush our buffered output again */
	if (pipe2(pipefd, O_CLOEXEC) || (pid = fork()) < 0) {
		outcome_set(&res->outcome, FP_STATUS_ERROR, "cannot start the case: %s",
			    strerror(errno));
		res->verdict = FP_VERDICT_FAIL;
		return;
	}
	if (pid == 0) {
		close(pipefd[0]);
		case_process(c, opt, pipefd[1]);
	}
	setpgid(pid, pid); /* also here: no window where a kill(-pid) misses */
	close(pipefd[1]);
	arrival = receive_outcome(pipefd[0], opt->timeout_s, &res->outcome);
	if (arrival != ARRIVED)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(pipefd[0]);
	reap_group(pid);
	classify_death(status, arrival, &res->outcome, opt->timeout_s);
	res->verdict = verdict_of(c, res->outcome.status);
	excuse_known_issue(res);
	fp_known_failures_apply(opt->site_known, res);
	res->duration_s = (double)(fp_now_ns() - start) / 1e9;
}

void fp_run_all(const struct fp_case *cases, size_t n, const struct fp_run_options *opt,
		struct fp_reporter *const *reporters, size_t nreporters, const struct fp_env *env,
		struct fp_totals *totals)
{
	struct sigaction sa = {.sa_handler = on_interrupt};
	size_t i, r;

	memset(totals, 0, sizeof(*totals));
	sigaction(SIGINT, &sa, NULL);
	for (r = 0; r < nreporters; r++)
		reporters[r]->begin(reporters[r]->state, n, env);
	for (i = 0; i < n && !interrupted; i++) {
		struct fp_result res;

		fp_run_case(&cases[i], opt, &res);
		fp_totals_add(totals, res.verdict);
		for (r = 0; r < nreporters; r++)
			reporters[r]->result(reporters[r]->state, i, &res);
	}
}

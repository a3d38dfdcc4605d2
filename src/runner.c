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

/* The signals that stop a run; each is handled alike: no new case, the running one killed,
 * the reports finished and marked incomplete. */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
static volatile sig_atomic_t interrupted; /* the first stop signal received, 0 for none */

static void on_interrupt(int sig)
{
	if (!interrupted) {
		interrupted = sig;
	} else if (sig != SIGPIPE) {
		/* A second Ctrl-C (or TERM, HUP) means now: die as the signal asks. The reports
		 * not yet renamed keep the previous ones; FILE.partial has the cases done. A
		 * repeated SIGPIPE is only stdout still closed, not an order. */
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

void fp_run_catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_interrupt}; /* no SA_RESTART: waits see EINTR */
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < FP_ARRAY_SIZE(stop_signals); i++) {
		sigaction(stop_signals[i], &sa, NULL);
		sigaddset(&set, stop_signals[i]);
	}
	/* A parent that blocked them (some CI runners do) must still be able to stop us; one
	 * already pending is delivered here. */
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int fp_run_stop_signal(void)
{
	return interrupted;
}

/* The case process: the run's handlers must not outlive the fork. */
static void default_stop_signals(void)
{
	size_t i;

	for (i = 0; i < FP_ARRAY_SIZE(stop_signals); i++)
		signal(stop_signals[i], SIG_DFL);
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

/*
 * In the case process: under memory pressure (a memory cgroup's limit, a small machine) the
 * OOM killer should take a case, which then reads as an error naming the signal, rather than
 * forkpin, whose reports would be lost. Raising one's own score needs no privilege.
 */
static void prefer_oom_kill(void)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "1000", 4) < 0) {
			/* an older or restricted /proc: the default score stays */
		}
		close(fd);
	}
}

/* In the case process: run the body and send the outcome. Never returns. */
static void __attribute__((noreturn))
case_process(const struct fp_case *c, const struct fp_run_options *opt, int out_fd)
{
	struct fp_outcome out;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* forkpin gone: do not linger */
	default_stop_signals();
	prefer_oom_kill();
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

#define STOP_CHECK_MS 100 /* how soon a stop signal ends the wait for a case */

static int wait_slice_ms(uint64_t left_ns)
{
	uint64_t ms = left_ns / 1000000ull + 1;

	return ms < STOP_CHECK_MS ? (int)ms : STOP_CHECK_MS;
}

/* Wait for the outcome until the deadline. CLOSED: the case process ended without one. */
static enum arrival receive_outcome(int fd, double timeout_s, struct fp_outcome *out)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)(timeout_s * 1e9);

	while (!interrupted) {
		uint64_t now = fp_now_ns();
		int ready;

		if (now >= deadline)
			return DEADLINE;
		/* In slices: fp_wait_readable() retries on EINTR, so a stop signal is seen
		 * here within a slice rather than at the case's timeout. */
		ready = fp_wait_readable(fd, wait_slice_ms(deadline - now));
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
		outcome_set(out, FP_STATUS_ERROR, "%s", "interrupted: the case was killed");
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
static void excuse_known_issue(const struct fp_case *c, struct fp_result *res)
{
	const struct fp_known_issue *k;
	struct fp_known_query q;
	struct utsname u;

	if (res->verdict != FP_VERDICT_FAIL || res->outcome.status != FP_STATUS_MISMATCH ||
	    uname(&u))
		return;
	q = (struct fp_known_query){.backend = c->be->name,
				    .caps = c->be->caps,
				    .memtype = c->mt->name,
				    .scenario = c->sc->name,
				    .diagnosis = res->outcome.reason,
				    .release = u.release};
	k = fp_known_issue_match(&q);
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
	res->cut_short = arrival == INTERRUPTED;
	res->verdict = verdict_of(c, res->outcome.status);
	excuse_known_issue(c, res);
	fp_known_failures_apply(opt->site_known, res);
	res->duration_s = (double)(fp_now_ns() - start) / 1e9;
}

/* Start every reporter; a reporter that cannot record results stops the run before it
 * starts (a report missing results would read as a smaller, passing run). */
static bool begin_reports(struct fp_reporter *const *reporters, size_t nreporters, size_t n,
			  const struct fp_env *env, struct fp_totals *totals)
{
	char why[160];
	size_t r;
	int err;

	for (r = 0; r < nreporters; r++) {
		err = reporters[r]->begin(reporters[r]->state, n, env);
		if (err) {
			snprintf(why, sizeof(why), "cannot record results: %s", strerror(-err));
			fp_totals_stop(totals, 0, why);
		}
	}
	return fp_totals_complete(totals);
}

static void stop_by_signal(struct fp_totals *totals, const char *case_id)
{
	char name[32], why[192];
	int sig = interrupted;

	snprintf(why, sizeof(why), "interrupted by %s%s%s", fp_signal_name(sig, name, sizeof(name)),
		 case_id ? " during " : "", case_id ? case_id : "");
	fp_totals_stop(totals, sig, why);
}

void fp_run_all(const struct fp_case *cases, size_t n, const struct fp_run_options *opt,
		struct fp_reporter *const *reporters, size_t nreporters, const struct fp_env *env,
		struct fp_totals *totals)
{
	size_t i, r;

	memset(totals, 0, sizeof(*totals));
	fp_run_catch_signals();
	if (!begin_reports(reporters, nreporters, n, env, totals))
		return;
	for (i = 0; i < n && !interrupted; i++) {
		struct fp_result res;

		for (r = 0; r < nreporters; r++)
			if (reporters[r]->start)
				reporters[r]->start(reporters[r]->state, i, cases[i].id);
		fp_run_case(&cases[i], opt, &res);
		if (res.cut_short) {
			/* Killed half-way, the case has no verdict: the reports name it instead. */
			stop_by_signal(totals, cases[i].id);
			return;
		}
		fp_totals_add(totals, res.verdict);
		for (r = 0; r < nreporters; r++)
			reporters[r]->result(reporters[r]->state, i, &res);
	}
	if (interrupted && i < n)
		stop_by_signal(totals, NULL); /* one after the last case: the run is complete */
}

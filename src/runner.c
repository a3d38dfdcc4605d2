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
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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
		signal(stop_signals[i], stop_signals[i] == SIGPIPE ? SIG_IGN : SIG_DFL);
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

void fp_case_body(const struct fp_case *c, uint64_t seed, int step_timeout_ms, unsigned unit,
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
	err = fp_dev_open_unit(&dev, c->be, unit);
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

/* ---- resources ------------------------------------------------------------------------ */

/* One resource the selected cases declare, and which of its units cases hold now. */
struct pool {
	const struct fp_resource *r;
	unsigned units;
	uint64_t busy; /* bit u: unit u is held */
};

#define CASE_RESOURCES 2 /* a case's backend's and memory type's */

static const struct fp_resource *case_resource(const struct fp_case *c, int k)
{
	if (k == 0)
		return c->be->resource;
	return c->mt->resource != c->be->resource ? c->mt->resource : NULL;
}

static unsigned resource_units(const struct fp_resource *r)
{
	unsigned n = r->units ? r->units() : 1;

	return n < 1 ? 1 : n > 64 ? 64 : n;
}

/* The pool of @r, made on first sight (@pools holds room for every case's resources). */
static struct pool *pool_of(struct pool *pools, size_t *npools, const struct fp_resource *r)
{
	size_t i;

	for (i = 0; i < *npools; i++)
		if (pools[i].r == r)
			return &pools[i];
	pools[*npools] = (struct pool){.r = r, .units = resource_units(r)};
	return &pools[(*npools)++];
}

static int free_unit(const struct pool *p)
{
	unsigned u;

	for (u = 0; u < p->units; u++)
		if (!(p->busy & (1ull << u)))
			return (int)u;
	return -1;
}

/* ---- the per-run SKIP plan (backend.h: plan) -------------------------------------------- */

/* What the probe found for one backend or one memory type of the run. */
struct plan_row {
	const void *key; /* the struct fp_backend or struct fp_memtype */
	int err;	 /* what fp_dev_plan() or fp_mem_map() returned */
	bool probed;	 /* a memory type is mapped only where a planned SKIP needs it */
	char why[sizeof(((struct fp_dev *)0)->error)];
};

/* The probe's findings: shared memory the probe process fills and the runner reads. */
struct skip_plan {
	size_t nbe, nmt, size;
	bool done; /* the probe wrote every row */
	struct plan_row rows[];
};

static struct plan_row *plan_find(struct plan_row *rows, size_t n, const void *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rows[i].key == key)
			return &rows[i];
	return NULL;
}

/* Add @key as a row unless it is there (@rows has room for every key). */
static void plan_add(struct plan_row *rows, size_t *n, const void *key)
{
	if (!plan_find(rows, *n, key))
		rows[(*n)++].key = key;
}

static bool plannable(const struct fp_backend *be)
{
	return be->unavailable || (be->ops && be->ops->plan);
}

/* In the probe process: each backend's plan, then each memory type a planned SKIP needs
 * mapped once, as fp_case_body() does. */
static void __attribute__((noreturn))
probe_process(struct skip_plan *p, const struct fp_case *cases, size_t n)
{
	struct plan_row *be = p->rows, *mt = p->rows + p->nbe;
	struct fp_dev dev;
	struct fp_mem mem;
	size_t i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	default_stop_signals();
	for (i = 0; i < p->nbe; i++) {
		be[i].err = fp_dev_plan(&dev, be[i].key);
		memcpy(be[i].why, dev.error, sizeof(be[i].why));
	}
	for (i = 0; i < n; i++) {
		struct plan_row *b = plan_find(be, p->nbe, cases[i].be);
		struct plan_row *m = plan_find(mt, p->nmt, cases[i].mt);

		if (!b || b->err != -ENODEV || !m || m->probed)
			continue;
		m->probed = true;
		m->err = fp_mem_map(cases[i].mt, &mem, m->why, sizeof(m->why));
		if (!m->err)
			fp_mem_unmap(cases[i].mt, &mem);
	}
	p->done = true;
	_exit(0);
}

/* Wait for the probe at most @timeout_s (a stop signal ends the wait); true when it exited
 * by itself with every row written. */
static bool probe_wait(pid_t pid, const struct skip_plan *p, double timeout_s)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)(timeout_s * 1e9);
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) && !WEXITSTATUS(status) && p->done;
		if ((r < 0 && errno != EINTR) || interrupted || fp_now_ns() > deadline)
			break;
		usleep(200);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return false;
}

/* The most backends, and memory types, a plan holds (the tables have a few dozen rows). */
#define PLAN_MAX 64

/* The rows of the backends that can plan and of their cases' memory types, or NULL. */
static struct skip_plan *plan_rows(const struct fp_case *cases, size_t n)
{
	struct skip_plan *p = calloc(1, sizeof(*p) + 2 * PLAN_MAX * sizeof(p->rows[0]));
	size_t i;

	if (!p)
		return NULL;
	for (i = 0; i < n && p->nbe < PLAN_MAX && p->nmt < PLAN_MAX; i++)
		if (plannable(cases[i].be)) {
			plan_add(p->rows, &p->nbe, cases[i].be);
			plan_add(p->rows + PLAN_MAX, &p->nmt, cases[i].mt);
		}
	if (i < n || !p->nbe) { /* nothing to plan, or more rows than the tables have */
		free(p);
		return NULL;
	}
	/* the memory types right after the backends, where plan_outcome() looks */
	memmove(p->rows + p->nbe, p->rows + PLAN_MAX, p->nmt * sizeof(p->rows[0]));
	p->size = sizeof(*p) + (p->nbe + p->nmt) * sizeof(p->rows[0]);
	return p;
}

/*
 * The run's SKIP plan: the rows of the backends that can tell once for the whole run, found
 * by one probe process through a shared mapping, kept in the runner's heap (a mapping held
 * for the run would be one more for every case's fork to copy). NULL when no selected backend
 * can (no probe then), when it is off (FORKPIN_SKIP_PLAN=0: every case forks, to compare) or
 * when the probe failed: then every case finds out in its own process, as without a plan.
 */
static struct skip_plan *plan_make(const struct fp_case *cases, size_t n, double timeout_s)
{
	const char *off = getenv("FORKPIN_SKIP_PLAN");
	struct skip_plan *p, *shared;
	pid_t pid;

	if ((off && !strcmp(off, "0")) || !(p = plan_rows(cases, n)))
		return NULL;
	shared = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		free(p);
		return NULL;
	}
	memcpy(shared, p, p->size);
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		probe_process(shared, cases, n);
	if (pid > 0 && probe_wait(pid, shared, timeout_s))
		memcpy(p, shared, p->size);
	else
		p->done = false;
	munmap(shared, p->size);
	if (!p->done) {
		free(p);
		return NULL;
	}
	return p;
}

static void plan_free(struct skip_plan *p)
{
	free(p);
}

/* The outcome case @c's process would have sent, when the plan knows it: open's SKIP, or its
 * memory type's. False when the case must run. */
static bool plan_outcome(struct skip_plan *p, const struct fp_case *c, struct fp_outcome *out)
{
	struct plan_row *be, *mt;

	if (!p)
		return false;
	be = plan_find(p->rows, p->nbe, c->be);
	mt = plan_find(p->rows + p->nbe, p->nmt, c->mt);
	if (!be || be->err != -ENODEV || !mt || !mt->probed)
		return false;
	memset(out, 0, sizeof(*out));
	if (!mt->err)
		outcome_set(out, FP_STATUS_SKIP, "%s", be->why);
	else if (mt->err == -ENODEV || mt->err == -ENOSPC)
		outcome_set(out, FP_STATUS_SKIP, "%s", mt->why);
	else
		return false; /* a mapping error is the case's own to report */
	return true;
}

/* ---- one case in flight ---------------------------------------------------------------- */

/* A case whose process runs: its group, its pipe, its watchdog and what it holds. */
struct flight {
	const struct fp_case *c;
	size_t index;
	pid_t pid; /* the case process, also its process group; 0: this slot is free */
	int fd;	   /* the read end of its outcome pipe (non-blocking) */
	int pidfd; /* readable when the case process has exited; -1 before Linux 5.3 */
	uint64_t start, deadline;
	struct pool *held[CASE_RESOURCES];
	int unit[CASE_RESOURCES];
};

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

/*
 * In the case process of a one-job run: stay on the CPU it started on. A case hands over
 * between its parent and its children several times (fork, each child's ACK and go, the
 * REPORT); on a CPU each, every hand-over wakes the other CPU and the exits flush the other's
 * TLB by IPI, which costs more than the case's own work (docs/bench.md). Fork's copy-on-write
 * and the pins do not depend on which CPU runs the process. With several jobs the cases
 * beside it need the scheduler free to spread them (pinned, a -j 4 run in the test VM was
 * slower), and a scenario whose threads race fork keeps all CPUs (needs_cpus);
 * FORKPIN_ONE_CPU=0 keeps them for every case, to compare.
 */
static void stay_on_one_cpu(const struct fp_case *c, const struct fp_run_options *opt)
{
	const char *off = getenv("FORKPIN_ONE_CPU");
	int cpu = sched_getcpu();
	cpu_set_t set;

	if (opt->jobs > 1 || c->sc->needs_cpus || (off && !strcmp(off, "0")) || cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* refused (a cpuset): the case just floats */
}

/* In the case process: run the body and send the outcome. Never returns. */
static void __attribute__((noreturn))
case_process(const struct fp_case *c, const struct fp_run_options *opt, unsigned unit, int out_fd)
{
	struct fp_outcome out;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* forkpin gone: do not linger */
	default_stop_signals(); /* SIGPIPE ignored: a child gone early is EPIPE, not a crash */
	prefer_oom_kill();
	stay_on_one_cpu(c, opt);
	fp_case_body(c, case_seed(opt->seed, c->id), step_timeout_ms(opt->timeout_s), unit, &out);
	fp_write_all(out_fd, &out, sizeof(out));
	_exit(0);
}

struct case_args {
	struct fp_case c;	   /* by value: the zygote may hold an older copy of the table */
	struct fp_run_options opt; /* only seed and timeout_s are used in the case process */
	unsigned unit;		   /* the unit of its resource it was given */
};

static void case_entry(void *arg, int out_fd)
{
	struct case_args *a = arg;

	case_process(&a->c, &a->opt, a->unit, out_fd);
}

/* The case process started from the backend's zygote when it has one (backend.h: spawn),
 * already our child; 0 when there is none or it failed, and the runner forks. */
static pid_t spawn_case(const struct fp_case *c, const struct fp_run_options *opt, unsigned unit,
			int out_fd)
{
	struct case_args a = {.c = *c, .opt = *opt, .unit = unit};
	pid_t pid;

	if (!c->be->ops || !c->be->ops->spawn)
		return 0;
	pid = c->be->ops->spawn(case_entry, &a, sizeof(a), out_fd);
	return pid > 0 ? pid : 0;
}

static void result_init(struct fp_result *res, const struct fp_case *c)
{
	memset(res, 0, sizeof(*res));
	snprintf(res->id, sizeof(res->id), "%s", c->id);
	res->backend = c->be->name;
	res->memtype = c->mt->name;
	res->scenario = c->sc->name;
	res->control = c->control != NULL;
}

/*
 * Fork the case process of @f (its resources already held). The other flights' pipes are
 * closed in it: a case holds only its own. Returns 0, or -errno when it could not start.
 */
static int launch(struct flight *f, const struct fp_run_options *opt, const struct flight *all,
		  size_t nall)
{
	unsigned unit = f->unit[0] > 0 ? (unsigned)f->unit[0] : 0;
	int pipefd[2];
	size_t i;

	f->start = fp_now_ns();
	f->deadline = f->start + (uint64_t)(opt->timeout_s * 1e9);
	fflush(NULL); /* the case process must not flush our buffered output again */
	/* Non-blocking: the outcome is read once the case has exited (or its time is up), and
	 * one outcome fits the pipe whole (PIPE_BUF), so a read gets all of it or nothing. */
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	f->pid = spawn_case(f->c, opt, unit, pipefd[1]);
	if (!f->pid)
		f->pid = fork();
	if (f->pid < 0) {
		f->pid = 0;
		close(pipefd[0]);
		close(pipefd[1]);
		return -errno;
	}
	if (f->pid == 0) {
		close(pipefd[0]);
		for (i = 0; i < nall; i++)
			if (all[i].pid && &all[i] != f) {
				close(all[i].fd);
				close(all[i].pidfd);
			}
		case_process(f->c, opt, unit, pipefd[1]);
	}
	setpgid(f->pid, f->pid); /* also here: no window where a kill(-pid) misses */
	close(pipefd[1]);
	f->fd = pipefd[0];
	/* Waiting for the exit rather than the outcome wakes us once per case, and a case
	 * process still tearing down never blocks the other cases' watchdogs. */
	f->pidfd = (int)syscall(SYS_pidfd_open, f->pid, 0);
	return 0;
}

/* Kill whatever is left of the case's process group and reap it (we are a subreaper). */
static void reap_group(pid_t pgid)
{
	/* ESRCH: nothing is left in the group, not even a zombie (the common case). */
	if (kill(-pgid, SIGKILL) && errno == ESRCH)
		return;
	while (waitpid(-pgid, NULL, 0) > 0 || errno == EINTR)
		;
}

enum arrival { ARRIVED, DEADLINE, CLOSED, INTERRUPTED };

#define STOP_CHECK_MS 100 /* how soon a stop signal ends the wait for cases */

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

/* The verdict of case @c from the outcome in @res, started at @start. */
static void judge(const struct fp_case *c, const struct fp_run_options *opt, uint64_t start,
		  struct fp_result *res)
{
	res->verdict = verdict_of(c, res->outcome.status);
	excuse_known_issue(c, res);
	fp_known_failures_apply(opt->site_known, res);
	res->duration_s = (double)(fp_now_ns() - start) / 1e9;
}

/* Give back what @f holds: its units, then its slot. */
static void release(struct flight *f)
{
	int k;

	for (k = 0; k < CASE_RESOURCES; k++)
		if (f->held[k])
			f->held[k]->busy &= f->unit[k] < 0 ? 0 : ~(1ull << f->unit[k]);
	f->pid = 0;
}

/*
 * End the flight @f: take its outcome (ARRIVED: already read into @res), kill and reap its
 * whole group, classify, and release its units (only now: nothing of it is left running).
 */
static void land(struct flight *f, enum arrival arrival, const struct fp_run_options *opt,
		 struct fp_result *res)
{
	int status = 0;

	if (arrival != ARRIVED)
		kill(-f->pid, SIGKILL);
	while (waitpid(f->pid, &status, 0) < 0 && errno == EINTR)
		;
	close(f->fd);
	if (f->pidfd >= 0)
		close(f->pidfd);
	reap_group(f->pid);
	classify_death(status, arrival, &res->outcome, opt->timeout_s);
	res->cut_short = arrival == INTERRUPTED;
	judge(f->c, opt, f->start, res);
	release(f);
}

/* Read the outcome the case process sent, if it sent one: all of it or nothing (PIPE_BUF). */
static bool take_outcome(struct flight *f, struct fp_outcome *out)
{
	ssize_t n;

	_Static_assert(sizeof(*out) <= PIPE_BUF, "an outcome must reach the pipe in one piece");
	do
		n = read(f->fd, out, sizeof(*out));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*out);
}

/* What the next wait may sleep: until the nearest deadline, at most STOP_CHECK_MS. */
static int wait_ms(const struct flight *fl, size_t nfl, uint64_t now)
{
	uint64_t ms = STOP_CHECK_MS;
	size_t i;

	for (i = 0; i < nfl; i++) {
		if (!fl[i].pid)
			continue;
		if (fl[i].deadline <= now)
			return 0;
		if ((fl[i].deadline - now) / 1000000ull + 1 < ms)
			ms = (fl[i].deadline - now) / 1000000ull + 1;
	}
	return (int)ms;
}

/*
 * Wait a slice for the flights in @fl: an outcome, a case process gone, a deadline. Calls
 * @done for each flight that ended (with its result, slot already free). Returns at once
 * when a stop signal arrived (the flights are left running for the caller to kill).
 */
static void wait_flights(struct flight *fl, size_t nfl, const struct fp_run_options *opt,
			 struct fp_result *(*result_of)(void *arg, const struct flight *f),
			 void (*done)(void *arg, struct fp_result *res, size_t index), void *arg)
{
	struct pollfd pfd[FP_MAX_JOBS];
	size_t i, np = 0;
	int ready;

	for (i = 0; i < nfl; i++)
		if (fl[i].pid)
			pfd[np++] = (struct pollfd){.fd = fl[i].pidfd >= 0 ? fl[i].pidfd : fl[i].fd,
						    .events = POLLIN};
	/* No SA_RESTART: a stop signal ends the poll with EINTR. */
	ready = poll(pfd, np, wait_ms(fl, nfl, fp_now_ns()));
	if (interrupted || (ready < 0 && errno == EINTR))
		return;
	for (i = 0, np = 0; i < nfl; i++) {
		struct flight *f = &fl[i];
		struct fp_result *res;
		enum arrival arrival;

		if (!f->pid)
			continue;
		if (ready > 0 && pfd[np].revents) {
			res = result_of(arg, f);
			arrival = take_outcome(f, &res->outcome) ? ARRIVED : CLOSED;
		} else if (fp_now_ns() >= f->deadline) {
			/* An outcome sent by a case that then hung on its way out counts. */
			res = result_of(arg, f);
			arrival = take_outcome(f, &res->outcome) ? ARRIVED : DEADLINE;
		} else {
			np++;
			continue;
		}
		np++;
		land(f, arrival, opt, res);
		done(arg, res, f->index);
	}
}

/* ---- one case --------------------------------------------------------------------------- */

static struct fp_result *single_result(void *arg, const struct flight *f)
{
	(void)f;
	return arg;
}

static void single_done(void *arg, struct fp_result *res, size_t index)
{
	(void)arg;
	(void)res;
	(void)index;
}

/* Kill every flight (a stop signal) and reap them; each result is cut short. */
static void land_all_interrupted(struct flight *fl, size_t nfl, const struct fp_run_options *opt,
				 struct fp_result *(*result_of)(void *arg, const struct flight *f),
				 void *arg)
{
	size_t i;

	for (i = 0; i < nfl; i++)
		if (fl[i].pid)
			kill(-fl[i].pid, SIGKILL);
	for (i = 0; i < nfl; i++)
		if (fl[i].pid)
			land(&fl[i], INTERRUPTED, opt, result_of(arg, &fl[i]));
}

void fp_run_case(const struct fp_case *c, const struct fp_run_options *opt, struct fp_result *res)
{
	struct flight f = {.c = c};
	int err;

	result_init(res, c);
	/* Orphans of the case come back to us, so reap_group() can reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	err = launch(&f, opt, &f, 1);
	if (err) {
		outcome_set(&res->outcome, FP_STATUS_ERROR, "cannot start the case: %s",
			    strerror(-err));
		res->verdict = FP_VERDICT_FAIL;
		return;
	}
	while (f.pid && !interrupted)
		wait_flights(&f, 1, opt, single_result, single_done, res);
	if (f.pid)
		land_all_interrupted(&f, 1, opt, single_result, res);
}

/* ---- a run ------------------------------------------------------------------------------ */

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

/*
 * A run of cases with up to @jobs at once. Results are reported in the cases' order: a case
 * that ends before an earlier one waits in the window (a ring of WINDOW_PER_JOB * jobs
 * results) until every earlier case is reported; no case further ahead than the window
 * starts.
 */
#define WINDOW_PER_JOB 32

enum slot_state { SLOT_IDLE, SLOT_RUNNING, SLOT_DONE };

struct run {
	const struct fp_case *cases;
	size_t n;
	const struct fp_run_options *opt;
	struct fp_reporter *const *reporters;
	size_t nreporters;
	struct fp_totals *totals;
	struct flight *fl; /* jobs flights */
	size_t jobs;
	struct pool *pools;
	size_t npools;
	struct fp_result *window; /* case i's result at window[i % nwindow] */
	enum slot_state *state;	  /* and its state */
	size_t nwindow;
	size_t next_report;	/* the first case not reported yet */
	size_t next_start;	/* no case before it is still to start */
	struct skip_plan *plan; /* what the run knows without a case process, or NULL */
};

static struct fp_result *run_result(void *arg, const struct flight *f)
{
	struct run *run = arg;

	return &run->window[f->index % run->nwindow];
}

/* Report the results that are next in order. */
static void report_in_order(struct run *run)
{
	size_t r;

	while (run->next_report < run->n &&
	       run->state[run->next_report % run->nwindow] == SLOT_DONE) {
		size_t i = run->next_report, w = i % run->nwindow;

		fp_totals_add(run->totals, run->window[w].verdict);
		for (r = 0; r < run->nreporters; r++)
			run->reporters[r]->result(run->reporters[r]->state, i, &run->window[w]);
		run->state[w] = SLOT_IDLE;
		run->next_report++;
	}
}

/* A case ended: tell the streaming reporters now, the others in order. */
static void run_done(void *arg, struct fp_result *res, size_t index)
{
	struct run *run = arg;
	size_t r;

	if (res->cut_short)
		return; /* killed half-way: no verdict, the reports name it instead */
	run->state[index % run->nwindow] = SLOT_DONE;
	for (r = 0; r < run->nreporters; r++)
		if (run->reporters[r]->finished)
			run->reporters[r]->finished(run->reporters[r]->state, index, res);
	report_in_order(run);
}

/* Hold a unit of each of case @i's resources in @f; false (nothing held) when one is busy. */
static bool take_units(struct run *run, size_t i, struct flight *f)
{
	struct pool *p[CASE_RESOURCES] = {NULL};
	int u[CASE_RESOURCES] = {-1, -1}, k;

	for (k = 0; k < CASE_RESOURCES; k++) {
		const struct fp_resource *r = case_resource(&run->cases[i], k);

		if (!r)
			continue;
		p[k] = pool_of(run->pools, &run->npools, r);
		u[k] = free_unit(p[k]);
		if (u[k] < 0)
			return false;
		if (k == 1 && run->cases[i].sc->empties_pool) {
			if (p[k]->busy)
				return false;
			u[k] = -1; /* it empties its memory type's pool: all of it, alone */
		}
	}
	for (k = 0; k < CASE_RESOURCES; k++) {
		f->held[k] = p[k];
		f->unit[k] = u[k];
		if (p[k])
			p[k]->busy |= u[k] < 0 ? ~0ull : 1ull << u[k];
	}
	return true;
}

/* Start case @i in the free flight @f: its units held, its reporters told. */
static void start_case(struct run *run, size_t i, struct flight *f)
{
	struct fp_result *res = &run->window[i % run->nwindow];
	size_t r;
	int err;

	f->c = &run->cases[i];
	f->index = i;
	run->state[i % run->nwindow] = SLOT_RUNNING;
	result_init(res, f->c);
	for (r = 0; r < run->nreporters; r++)
		if (run->reporters[r]->start)
			run->reporters[r]->start(run->reporters[r]->state, i, f->c->id);
	err = launch(f, run->opt, run->fl, run->jobs);
	if (err) {
		outcome_set(&res->outcome, FP_STATUS_ERROR, "cannot start the case: %s",
			    strerror(-err));
		res->verdict = FP_VERDICT_FAIL;
		release(f);
		run_done(run, res, i);
	}
}

/* Case @i is one the plan knows: reported as its process would have made it, with no process,
 * no unit and no slot (a SKIP holds nothing). False when it must run. */
static bool skip_planned(struct run *run, size_t i)
{
	struct fp_result *res = &run->window[i % run->nwindow];
	const struct fp_case *c = &run->cases[i];
	uint64_t start = fp_now_ns();
	struct fp_outcome out;
	size_t r;

	if (!plan_outcome(run->plan, c, &out))
		return false;
	run->state[i % run->nwindow] = SLOT_RUNNING;
	result_init(res, c);
	for (r = 0; r < run->nreporters; r++)
		if (run->reporters[r]->start)
			run->reporters[r]->start(run->reporters[r]->state, i, c->id);
	res->outcome = out;
	judge(c, run->opt, start, res);
	run_done(run, res, i);
	return true;
}

static struct flight *free_flight(struct run *run)
{
	size_t j;

	for (j = 0; j < run->jobs; j++)
		if (!run->fl[j].pid)
			return &run->fl[j];
	return NULL;
}

/* Start what may start: the earliest cases in the window whose resources are free. */
static void start_cases(struct run *run)
{
	size_t i, end = run->next_report + run->nwindow;
	struct flight *f;

	if (end > run->n)
		end = run->n;
	if (run->next_start < run->next_report)
		run->next_start = run->next_report;
	while (run->next_start < end && run->state[run->next_start % run->nwindow] != SLOT_IDLE)
		run->next_start++;
	for (i = run->next_start; i < end && !interrupted; i++) {
		if (run->state[i % run->nwindow] != SLOT_IDLE || skip_planned(run, i))
			continue;
		f = free_flight(run);
		if (!f)
			break;
		if (take_units(run, i, f))
			start_case(run, i, f);
	}
}

static size_t flights_running(const struct run *run)
{
	size_t j, k = 0;

	for (j = 0; j < run->jobs; j++)
		k += run->fl[j].pid != 0;
	return k;
}

/* "interrupted by SIGINT[ during ID[, ID...]]": the cases it killed, in the cases' order. */
static void stop_by_signal(struct run *run)
{
	char name[32], why[sizeof(run->totals->stopped)];
	const char *sep = " during ";
	size_t i, len;
	int sig = interrupted;

	len = (size_t)snprintf(why, sizeof(why), "interrupted by %s",
			       fp_signal_name(sig, name, sizeof(name)));
	for (i = run->next_report; i < run->n && i < run->next_report + run->nwindow; i++) {
		if (run->state[i % run->nwindow] != SLOT_RUNNING || len >= sizeof(why))
			continue;
		len +=
		    (size_t)snprintf(why + len, sizeof(why) - len, "%s%s", sep, run->cases[i].id);
		sep = ", ";
	}
	fp_totals_stop(run->totals, sig, why);
}

/* The signal arrived: kill every case running, name them, and report nothing more. */
static void interrupt_run(struct run *run)
{
	bool any = flights_running(run) > 0;

	land_all_interrupted(run->fl, run->jobs, run->opt, run_result, run);
	if (any || run->next_report < run->n)
		stop_by_signal(run);
}

/* A one-job run's flight, window and state: on the runner's stack, whose pages it writes for
 * every case anyway (after each fork, every page the runner writes is a copy-on-write fault,
 * so the fewer pages a case touches in the runner, the cheaper the case). */
struct one_job {
	struct fp_result window;
	struct flight fl;
	enum slot_state state;
};

/* The flights, the window and its states: @one for one job (no look-ahead: one slot), else
 * one block. */
static bool run_alloc(struct run *run, struct one_job *one)
{
	char *block;

	run->pools = calloc(CASE_RESOURCES * run->n + 1, sizeof(*run->pools));
	if (run->jobs == 1) {
		run->window = &one->window;
		run->fl = &one->fl;
		run->state = &one->state;
		run->nwindow = 1;
		return run->pools != NULL;
	}
	run->nwindow = run->jobs * WINDOW_PER_JOB;
	if (run->nwindow > run->n)
		run->nwindow = run->n ? run->n : 1;
	block = calloc(1, run->nwindow * sizeof(*run->window) + run->jobs * sizeof(*run->fl) +
			      run->nwindow * sizeof(*run->state));
	if (!block || !run->pools) {
		free(block);
		free(run->pools);
		return false;
	}
	run->window = (struct fp_result *)block;
	run->fl = (struct flight *)(run->window + run->nwindow);
	run->state = (enum slot_state *)(run->fl + run->jobs);
	return true;
}

static void run_free(struct run *run)
{
	if (run->jobs > 1)
		free(run->window);
	free(run->pools);
}

void fp_run_all(const struct fp_case *cases, size_t n, const struct fp_run_options *opt,
		struct fp_reporter *const *reporters, size_t nreporters, const struct fp_env *env,
		struct fp_totals *totals)
{
	struct run run = {.cases = cases,
			  .n = n,
			  .opt = opt,
			  .reporters = reporters,
			  .nreporters = nreporters,
			  .totals = totals,
			  .jobs = opt->jobs > 1 ? opt->jobs : 1};
	struct one_job one = {0};

	if (run.jobs > FP_MAX_JOBS)
		run.jobs = FP_MAX_JOBS;

	memset(totals, 0, sizeof(*totals));
	fp_run_catch_signals();
	if (!begin_reports(reporters, nreporters, n, env, totals))
		return;
	if (!run_alloc(&run, &one)) {
		fp_totals_stop(totals, 0, "cannot record results: out of memory");
		return;
	}
	run.plan = plan_make(cases, n, opt->timeout_s);
	/* Orphans of the cases come back to us, so reap_group() can reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	while (run.next_report < n && !interrupted) {
		start_cases(&run);
		if (flights_running(&run))
			wait_flights(run.fl, run.jobs, opt, run_result, run_done, &run);
	}
	if (interrupted)
		interrupt_run(&run);
	plan_free(run.plan);
	run_free(&run);
}

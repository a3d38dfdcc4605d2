/* SPDX-License-Identifier: MIT */
/*
 * The runner: a crash is FAIL(signal), a hang is FAIL(timeout) with the whole process group
 * killed, a control that passes is a suite failure, and the exit code follows kselftest.
 * With --jobs N: results come in the cases' order whatever order cases end in, two cases
 * holding the same resource never overlap (each records its time in a log), and a stop
 * signal kills every case running.
 */
#include "fake_backends.h"
#include "runner.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct fp_case make_case(const struct fp_backend *be, const char *mem, const char *sc)
{
	struct fp_case c = {.be = be, .mt = fp_memtype_find(mem), .sc = fp_scenario_find(sc)};

	snprintf(c.id, sizeof(c.id), "%s/%s/%s", be->name, mem, sc);
	c.control = c.sc->control;
	return c;
}

static void test_crash_is_a_failure(void)
{
	struct fp_case c = make_case(&fake_crash_backend, "anon", "child-writes");
	struct fp_run_options opt = {.timeout_s = 5};
	struct fp_result r;

	fp_run_case(&c, &opt, &r);
	ok(r.verdict == FP_VERDICT_FAIL && r.outcome.status == FP_STATUS_SIGNAL &&
	       strstr(r.outcome.reason, "signal 6"),
	   "a case that aborts is FAIL(signal): %s", r.outcome.reason);
}

static void test_hang_is_killed_with_its_group(void)
{
	struct fp_case c = make_case(&fake_hang_backend, "anon", "child-writes");
	struct fp_run_options opt = {.timeout_s = 0.3};
	struct fp_result r;
	char fd_text[16];
	int fds[2];
	pid_t grandchild = 0;

	if (pipe(fds))
		abort();
	snprintf(fd_text, sizeof(fd_text), "%d", fds[1]);
	setenv("FAKE_HANG_FD", fd_text, 1);
	fp_run_case(&c, &opt, &r);
	ok(r.verdict == FP_VERDICT_FAIL && r.outcome.status == FP_STATUS_TIMEOUT,
	   "a hanging case is FAIL(timeout): %s", r.outcome.reason);
	ok(r.duration_s >= 0.3 && r.duration_s < 3, "the watchdog fired after %.2f s",
	   r.duration_s);
	if (read(fds[0], &grandchild, sizeof(grandchild)) != sizeof(grandchild))
		grandchild = 0;
	ok(grandchild > 0, "the case left a grandchild (pid %d)", (int)grandchild);
	ok(kill(grandchild, 0) < 0 && errno == ESRCH, "the grandchild was killed and reaped too");
	close(fds[0]);
	close(fds[1]);
}

static void test_ideal_device_passes(void)
{
	struct fp_case c = make_case(&fake_ideal_backend, "anon", "parent-writes");
	struct fp_run_options opt = {.timeout_s = 5};
	struct fp_result r;

	fp_run_case(&c, &opt, &r);
	ok(r.verdict == FP_VERDICT_PASS && r.outcome.pages_checked > 0,
	   "parent-writes passes with a perfect device (%zu pages checked)",
	   r.outcome.pages_checked);
}

static void test_blind_control_fails_the_suite(void)
{
	/* With an ideal device, MADV_DONTNEED loses nothing: the control cannot fail, so the
	 * run must say forkpin is blind. */
	struct fp_case c = make_case(&fake_ideal_backend, "anon", "control-dontneed");
	struct fp_run_options opt = {.timeout_s = 5};
	struct fp_totals t = {0};
	struct fp_result r;

	fp_run_case(&c, &opt, &r);
	fp_totals_add(&t, r.verdict);
	ok(r.verdict == FP_VERDICT_CONTROL_MISSED, "a control that passes is CONTROL_MISSED");
	ok(fp_totals_exit_code(&t) == 1, "and the run exits 1");
}

static void test_exit_codes(void)
{
	struct fp_totals skipped = {.skip = 3}, passed = {.pass = 1, .skip = 2},
			 detected = {.control_detected = 1}, failed = {.pass = 5, .fail = 1};

	ok(fp_totals_exit_code(&skipped) == 4, "everything skipped: exit 4");
	ok(fp_totals_exit_code(&passed) == 0, "passes and skips: exit 0");
	ok(fp_totals_exit_code(&detected) == 0, "a detected control counts as a pass");
	ok(fp_totals_exit_code(&failed) == 1, "one failure: exit 1");
}

/* ---- --jobs: cases that sleep and log when they held what ---- */

/* Where the case processes append "NAME UNIT START_NS END_NS" lines (O_APPEND: whole). */
static int log_fd = -1;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleep @ms and log the interval under @name and @unit. */
static void busy_for(const char *name, unsigned unit, long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	uint64_t start = mono_ns();
	char line[128];
	int len;

	nanosleep(&ts, NULL);
	len = snprintf(line, sizeof(line), "%s %u %llu %llu\n", name, unit,
		       (unsigned long long)start, (unsigned long long)mono_ns());
	if (write(log_fd, line, (size_t)len) != len)
		abort();
}

/* A device that takes the ms its name ends in ("slow-120") to open, logs it, and SKIPs with
 * a reason that names only itself (so one job and four give the same results). */
static int sleepy_open(struct fp_dev *dev)
{
	busy_for(dev->be->name, dev->unit, atol(strrchr(dev->be->name, '-') + 1));
	return fp_dev_error(dev, -ENODEV, "%s opened and left", dev->be->name);
}

static void sleepy_close(struct fp_dev *dev)
{
	(void)dev;
}

static const struct fp_backend_ops sleepy_ops = {.open = sleepy_open, .close = sleepy_close};

static unsigned two_units(void)
{
	return 2;
}

/* A device with two units (two devices: two cases at once) and one with one. */
static const struct fp_resource pair = {.name = "a pair of devices", .units = two_units};
static const struct fp_resource single = {.name = "one device"};

static const struct fp_backend free_20 = {.name = "free-20", .ops = &sleepy_ops},
			       free_120 = {.name = "free-120", .ops = &sleepy_ops},
			       pair_60 = {.name = "pair-60", .ops = &sleepy_ops, .resource = &pair},
			       single_40 = {
				   .name = "single-40", .ops = &sleepy_ops, .resource = &single};

/* A memory type whose pool (one unit) is held while it maps, 30 ms. */
static const struct fp_resource pool = {.name = "a pool"};

static int pool_map(struct fp_mem *mem, size_t len, char *why, size_t why_size)
{
	(void)mem;
	(void)len;
	busy_for("pool", 0, 30);
	snprintf(why, why_size, "pool mapped and left");
	return -ENODEV;
}

static void pool_unmap(struct fp_mem *mem)
{
	(void)mem;
}

static const struct fp_memtype pool_mem = {
    .name = "pool", .len = 4096, .map = pool_map, .unmap = pool_unmap, .resource = &pool};

struct order_log {
	size_t nresults, nfinished;
	size_t result_index[64], finished_index[64];
	char ids[64][96], reasons[64][768];
};

static int log_begin(void *state, size_t ncases, const struct fp_env *env)
{
	(void)state;
	(void)ncases;
	(void)env;
	return 0;
}

static void log_finished(void *state, size_t index, const struct fp_result *res)
{
	struct order_log *l = state;

	(void)res;
	if (l->nfinished < 64)
		l->finished_index[l->nfinished++] = index;
}

static void log_result(void *state, size_t index, const struct fp_result *res)
{
	struct order_log *l = state;

	if (l->nresults >= 64)
		return;
	l->result_index[l->nresults] = index;
	snprintf(l->ids[l->nresults], sizeof(l->ids[0]), "%s", res->id);
	snprintf(l->reasons[l->nresults++], sizeof(l->reasons[0]), "%s", res->outcome.reason);
}

/* Run @cases with @jobs at once into @l; the log of intervals is read into @iv. */
struct interval {
	char name[32];
	unsigned unit;
	unsigned long long start, end;
};

static size_t run_logged(struct fp_case *cases, size_t n, unsigned jobs, struct order_log *l,
			 struct interval *iv, size_t max_iv, double *wall_s)
{
	char path[] = "/tmp/forkpin-test-runner-XXXXXX";
	struct fp_reporter r = {
	    .state = l, .begin = log_begin, .finished = log_finished, .result = log_result};
	struct fp_reporter *reps[] = {&r};
	struct fp_run_options opt = {.timeout_s = 20, .jobs = jobs};
	struct fp_env env = {0};
	struct fp_totals t;
	uint64_t start;
	size_t k = 0;
	FILE *f;

	memset(l, 0, sizeof(*l));
	log_fd = mkstemp(path);
	if (log_fd < 0 || fcntl(log_fd, F_SETFL, O_APPEND))
		abort();
	start = mono_ns();
	fp_run_all(cases, n, &opt, reps, 1, &env, &t);
	*wall_s = (double)(mono_ns() - start) / 1e9;
	f = fopen(path, "r");
	while (f && k < max_iv &&
	       fscanf(f, "%31s %u %llu %llu", iv[k].name, &iv[k].unit, &iv[k].start, &iv[k].end) ==
		   4)
		k++;
	if (f)
		fclose(f);
	close(log_fd);
	unlink(path);
	return k;
}

static bool overlap(const struct interval *a, const struct interval *b)
{
	return a->start < b->end && b->start < a->end;
}

/* The cases, longest first in each group, so later cases end before earlier ones. */
static size_t jobs_cases(struct fp_case *c)
{
	const struct fp_backend *bes[] = {&free_120,  &free_20,	  &pair_60,   &free_120,
					  &pair_60,   &single_40, &free_20,   &pair_60,
					  &single_40, &pair_60,	  &single_40, &free_20};
	const char *sc[] = {"parent-writes", "child-writes"};
	size_t i, n = 0;

	for (i = 0; i < FP_ARRAY_SIZE(bes); i++) {
		c[n] = make_case(bes[i], "anon", sc[i % 2]);
		snprintf(c[n].id, sizeof(c[n].id), "%s/anon/%zu", bes[i]->name, i);
		n++;
	}
	for (i = 0; i < 3; i++, n++) {
		c[n] = make_case(&free_20, "anon", sc[i % 2]);
		c[n].mt = &pool_mem;
		snprintf(c[n].id, sizeof(c[n].id), "free-20/pool/%zu", i);
	}
	return n;
}

static void test_jobs_report_in_order(void)
{
	static struct fp_case c[32];
	static struct order_log one, four;
	struct interval iv[64];
	size_t n = jobs_cases(c), i, out_of_order = 0;
	double wall1, wall4;
	bool same = true;

	run_logged(c, n, 1, &one, iv, 64, &wall1);
	run_logged(c, n, 4, &four, iv, 64, &wall4);
	for (i = 0; i < n; i++) {
		same &= one.result_index[i] == i && four.result_index[i] == i &&
			!strcmp(one.ids[i], four.ids[i]) &&
			!strcmp(one.reasons[i], four.reasons[i]);
		out_of_order += four.finished_index[i] != i;
	}
	ok(one.nresults == n && four.nresults == n && same,
	   "--jobs 4 reports the %zu results of --jobs 1, in the cases' order", n);
	ok(out_of_order > 0, "while %zu of the cases ended out of order", out_of_order);
	diag("four jobs took %.2f s against one job's %.2f s", wall4, wall1);
}

static void test_jobs_resources_never_overlap(void)
{
	static struct fp_case c[32];
	static struct order_log l;
	struct interval iv[64];
	size_t n = jobs_cases(c), k, a, b, pair_overlaps = 0, free_overlaps = 0, bad = 0;
	unsigned units_seen = 0;
	double wall;

	k = run_logged(c, n, 4, &l, iv, 64, &wall);
	ok(k == n, "every case logged its interval (%zu of %zu)", k, n);
	for (a = 0; a < k; a++) {
		if (!strcmp(iv[a].name, "pair-60"))
			units_seen |= 1u << iv[a].unit;
		for (b = a + 1; b < k; b++) {
			bool same_res =
			    !strcmp(iv[a].name, iv[b].name) &&
			    (!strcmp(iv[a].name, "single-40") || !strcmp(iv[a].name, "pool"));

			if (!overlap(&iv[a], &iv[b]))
				continue;
			if (same_res)
				bad++;
			if (!strcmp(iv[a].name, "pair-60") && !strcmp(iv[b].name, "pair-60")) {
				pair_overlaps++;
				bad += iv[a].unit == iv[b].unit;
			}
			free_overlaps +=
			    !strncmp(iv[a].name, "free", 4) && !strncmp(iv[b].name, "free", 4);
		}
	}
	ok(bad == 0, "no two cases overlapped on one unit of a resource (%zu did)", bad);
	ok(units_seen == 3, "the pair's cases got units 0 and 1 (seen mask %u)", units_seen);
	ok(pair_overlaps > 0, "the pair's two units ran at once (%zu overlaps)", pair_overlaps);
	ok(free_overlaps > 0, "cases without a resource ran side by side (%zu overlaps)",
	   free_overlaps);
}

/* A pool shared out in three shares (a hugetlb pool in the VM): a case whose scenario empties
 * the pool (hugetlb-pool-empty) takes all three. Both memory types log 40 ms under their name. */
static unsigned three_units(void)
{
	return 3;
}

static const struct fp_resource shares = {.name = "a pool in shares", .units = three_units};

static int share_map(struct fp_mem *mem, size_t len, char *why, size_t why_size)
{
	(void)mem;
	(void)len;
	busy_for("share", 0, 40);
	snprintf(why, why_size, "a share mapped and left");
	return -ENODEV;
}

static int whole_map(struct fp_mem *mem, size_t len, char *why, size_t why_size)
{
	(void)mem;
	(void)len;
	busy_for("whole", 0, 40);
	snprintf(why, why_size, "the pool emptied and left");
	return -ENODEV;
}

static const struct fp_memtype share_mem = {.name = "share",
					    .len = 4096,
					    .map = share_map,
					    .unmap = pool_unmap,
					    .resource = &shares},
			       whole_mem = {.name = "whole",
					    .len = 4096,
					    .map = whole_map,
					    .unmap = pool_unmap,
					    .resource = &shares};

static void test_jobs_pool_emptier_runs_alone(void)
{
	static struct fp_case c[16];
	static struct order_log one, four;
	struct interval iv[64];
	size_t n = 0, k, a, b, i, most = 0, with_whole = 0;
	double wall;
	bool same = true;

	for (i = 0; i < 12; i++, n++) {
		bool whole = i == 3 || i == 8;

		c[n] = make_case(&free_20, "anon", whole ? "hugetlb-pool-empty" : "parent-writes");
		c[n].mt = whole ? &whole_mem : &share_mem;
		snprintf(c[n].id, sizeof(c[n].id), "free-20/%s/%zu", c[n].mt->name, i);
	}
	run_logged(c, n, 1, &one, iv, 64, &wall);
	k = run_logged(c, n, 4, &four, iv, 64, &wall);
	ok(k == n, "every case logged its interval (%zu of %zu)", k, n);
	for (a = 0; a < k; a++) {
		size_t at_once = 1;

		for (b = 0; b < k; b++) {
			if (b == a || !overlap(&iv[a], &iv[b]))
				continue;
			with_whole += !strcmp(iv[a].name, "whole");
			at_once += iv[b].start <= iv[a].start && iv[a].start < iv[b].end;
		}
		most = at_once > most ? at_once : most;
	}
	for (i = 0; i < n; i++)
		same &=
		    !strcmp(one.ids[i], four.ids[i]) && !strcmp(one.reasons[i], four.reasons[i]);
	ok(with_whole == 0, "a case that empties the pool ran alone (%zu overlaps)", with_whole);
	ok(most == 3, "the other cases ran three at a time, one per share (at most %zu)", most);
	ok(one.nresults == n && four.nresults == n && same,
	   "--jobs 4 reports the results of --jobs 1, in order");
}

/* Send @sig to us after @ms, from a helper process. */
static pid_t signal_later(int sig, long ms)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

		nanosleep(&ts, NULL);
		kill(parent, sig);
		_exit(0);
	}
	return pid;
}

static void test_jobs_signal_kills_every_case(void)
{
	struct fp_case c[] = {make_case(&fake_ideal_backend, "anon", "child-writes"),
			      make_case(&fake_hang_backend, "anon", "child-writes"),
			      make_case(&fake_hang_backend, "anon", "parent-writes"),
			      make_case(&fake_ideal_backend, "anon", "parent-writes"),
			      make_case(&fake_hang_backend, "anon", "control-dontneed")};
	struct order_log l = {0};
	struct fp_reporter r = {
	    .state = &l, .begin = log_begin, .finished = log_finished, .result = log_result};
	struct fp_reporter *reps[] = {&r};
	struct fp_run_options opt = {.timeout_s = 30, .jobs = 4};
	struct fp_env env = {0};
	struct fp_totals t;
	char fd_text[16];
	int fds[2], dead = 0, got;
	pid_t helper, grandchild;
	uint64_t start;

	if (pipe(fds))
		abort();
	snprintf(fd_text, sizeof(fd_text), "%d", fds[1]);
	setenv("FAKE_HANG_FD", fd_text, 1);
	fp_run_catch_signals();
	helper = signal_later(SIGINT, 600);
	start = mono_ns();
	fp_run_all(c, FP_ARRAY_SIZE(c), &opt, reps, 1, &env, &t);
	waitpid(helper, NULL, 0);
	ok(mono_ns() - start < 5000000000ull, "SIGINT ends three hanging cases at once");
	ok(t.signo == SIGINT &&
	       !strcmp(t.stopped, "interrupted by SIGINT during hang/anon/child-writes, "
				  "hang/anon/parent-writes, hang/anon/control-dontneed"),
	   "the stop names every case it killed, in order: %s", t.stopped);
	ok(l.nresults == 1 && !strcmp(l.ids[0], "ideal/anon/child-writes"),
	   "the results are those before the first case killed (%zu)", l.nresults);
	ok(l.nfinished == 2, "both cases that ended were streamed as they ended (%zu)",
	   l.nfinished);
	ok(fp_totals_exit_code(&t) == 128 + SIGINT, "exit %d", fp_totals_exit_code(&t));
	close(fds[1]);
	for (got = 0; read(fds[0], &grandchild, sizeof(grandchild)) == sizeof(grandchild); got++)
		dead += kill(grandchild, 0) < 0 && errno == ESRCH;
	ok(got == 3 && dead == 3,
	   "the three cases' grandchildren were killed with their groups "
	   "(%d of %d)",
	   dead, got);
	close(fds[0]);
	unsetenv("FAKE_HANG_FD");
}

int main(void)
{
	test_crash_is_a_failure();
	test_hang_is_killed_with_its_group();
	test_ideal_device_passes();
	test_blind_control_fails_the_suite();
	test_exit_codes();
	test_jobs_report_in_order();
	test_jobs_resources_never_overlap();
	test_jobs_pool_emptier_runs_alone();
	test_jobs_signal_kills_every_case();
	return done_testing();
}

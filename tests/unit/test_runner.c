/* SPDX-License-Identifier: MIT */
/*
 * The runner: a crash is FAIL(signal), a hang is FAIL(timeout) with the whole process group
 * killed, a control that passes is a suite failure, and the exit code follows kselftest.
 */
#include "fake_backends.h"
#include "runner.h"
#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
	test_crash_is_a_failure();
	test_hang_is_killed_with_its_group();
	test_ideal_device_passes();
	test_blind_control_fails_the_suite();
	test_exit_codes();
	return done_testing();
}

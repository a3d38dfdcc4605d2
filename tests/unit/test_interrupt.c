/* SPDX-License-Identifier: MIT */
/*
 * A run stopped early: a reporter that cannot record results stops it before any case runs
 * (exit 1), and a stop signal during a case kills that case's process group, leaves the
 * case out of the results and names it in why the run stopped (exit 128 + signal).
 */
#include "fake_backends.h"
#include "runner.h"
#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct recorder {
	int begin_error;
	size_t begun, results;
	char last_id[96];
	struct fp_totals at_end;
};

static int rec_begin(void *state, size_t ncases, const struct fp_env *env)
{
	struct recorder *r = state;

	(void)ncases;
	(void)env;
	r->begun++;
	return r->begin_error;
}

static void rec_result(void *state, size_t index, const struct fp_result *res)
{
	struct recorder *r = state;

	(void)index;
	r->results++;
	snprintf(r->last_id, sizeof(r->last_id), "%s", res->id);
}

static int rec_end(void *state, const struct fp_totals *t)
{
	struct recorder *r = state;

	r->at_end = *t;
	return 0;
}

static struct fp_case make_case(const struct fp_backend *be, const char *mem, const char *sc)
{
	struct fp_case c = {.be = be, .mt = fp_memtype_find(mem), .sc = fp_scenario_find(sc)};

	snprintf(c.id, sizeof(c.id), "%s/%s/%s", be->name, mem, sc);
	c.control = c.sc->control;
	return c;
}

static void run_and_end(struct fp_case *cases, size_t n, struct recorder *rec, struct fp_totals *t)
{
	struct fp_reporter r = {
	    .state = rec, .begin = rec_begin, .result = rec_result, .end = rec_end};
	struct fp_reporter *reps[] = {&r};
	struct fp_run_options opt = {.timeout_s = 10};
	struct fp_env env = {0};

	fp_run_all(cases, n, &opt, reps, 1, &env, t);
	r.end(r.state, t);
}

static void test_unrecordable_results_stop_the_run(void)
{
	struct fp_case c[] = {make_case(&fake_ideal_backend, "anon", "child-writes")};
	struct recorder rec = {.begin_error = -ENOMEM};
	struct fp_totals t;

	run_and_end(c, 1, &rec, &t);
	ok(rec.results == 0 && !fp_totals_complete(&t) &&
	       strstr(t.stopped, "cannot record results"),
	   "a reporter that cannot record results stops the run before a case: %s", t.stopped);
	ok(fp_totals_exit_code(&t) == 1, "and the run fails (exit %d)", fp_totals_exit_code(&t));
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

static void test_signal_during_a_case(void)
{
	struct fp_case c[] = {make_case(&fake_ideal_backend, "anon", "child-writes"),
			      make_case(&fake_hang_backend, "anon", "child-writes"),
			      make_case(&fake_ideal_backend, "anon", "parent-writes")};
	struct recorder rec = {0};
	struct fp_totals t;
	char fd_text[16];
	int fds[2];
	pid_t helper, grandchild = 0;
	struct timespec start, end;

	if (pipe(fds))
		abort();
	snprintf(fd_text, sizeof(fd_text), "%d", fds[1]);
	setenv("FAKE_HANG_FD", fd_text, 1);
	fp_run_catch_signals();
	helper = signal_later(SIGTERM, 500);
	clock_gettime(CLOCK_MONOTONIC, &start);
	run_and_end(c, 3, &rec, &t);
	clock_gettime(CLOCK_MONOTONIC, &end);
	waitpid(helper, NULL, 0);
	ok(end.tv_sec - start.tv_sec < 5,
	   "SIGTERM ends the hanging case at once, not at its timeout");
	ok(t.signo == SIGTERM && strstr(t.stopped, "interrupted by SIGTERM during hang/anon/"),
	   "the run is stopped by SIGTERM during the hanging case: %s", t.stopped);
	ok(rec.results == 1 && !strcmp(rec.last_id, "ideal/anon/child-writes"),
	   "only the case that finished is a result (%zu results)", rec.results);
	ok(fp_totals_exit_code(&t) == 128 + SIGTERM, "exit %d", fp_totals_exit_code(&t));
	if (read(fds[0], &grandchild, sizeof(grandchild)) != sizeof(grandchild))
		grandchild = 0;
	ok(grandchild > 0 && kill(grandchild, 0) < 0 && errno == ESRCH,
	   "the case's grandchild (pid %d) was killed with its group", (int)grandchild);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	test_unrecordable_results_stop_the_run();
	test_signal_during_a_case();
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

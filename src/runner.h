/* SPDX-License-Identifier: MIT */
/*
 * Running cases: each in its own process group under a watchdog, so a hang or a crash is a
 * result, never the end of the run. Results go to the reporters; running knows no format.
 */
#ifndef FORKPIN_RUNNER_H
#define FORKPIN_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "known_failures.h"
#include "matrix.h"
#include "report.h"

/* The most cases `--jobs` runs at once. */
#define FP_MAX_JOBS 64

struct fp_run_options {
	double timeout_s; /* per case */
	unsigned jobs;	  /* cases at once (0 or 1: one after another), at most FP_MAX_JOBS */
	uint64_t seed;	  /* base pattern seed; each case derives its own */
	const struct fp_known_failures *site_known; /* the site's accepted failures, or NULL */
};

/* Run one case in a child process and classify the outcome into @res. */
void fp_run_case(const struct fp_case *c, const struct fp_run_options *opt, struct fp_result *res);

/*
 * SIGINT, SIGTERM, SIGHUP and SIGPIPE stop a run: call this before anything slow (the env)
 * so that a signal then also ends in incomplete reports rather than a killed process.
 * fp_run_all() calls it too. fp_run_stop_signal(): the signal received, 0 for none.
 */
void fp_run_catch_signals(void);
int fp_run_stop_signal(void);

/*
 * Run @n cases, feeding @reporters; fills @totals. Up to opt->jobs cases run at once, each in
 * its own process group under its own watchdog, as far as their resources allow (resource.h:
 * no two cases hold the same unit at once). Reporters see start() and finished() as cases
 * start and end, result() in the cases' order with the same results a one-job run gives (a
 * case that ends early waits until every earlier one is reported). A stop signal kills every
 * running case's process group and ends the run with totals->stopped set, naming the cases
 * killed; the results are then those of the cases before the first one killed. A reporter
 * that cannot record results stops the run before it starts.
 */
void fp_run_all(const struct fp_case *cases, size_t n, const struct fp_run_options *opt,
		struct fp_reporter *const *reporters, size_t nreporters, const struct fp_env *env,
		struct fp_totals *totals);

/* The case body, run inside the case process (exposed for the bare benchmark and tests);
 * @unit: the unit of the backend's resource the case holds (0 without one). */
void fp_case_body(const struct fp_case *c, uint64_t seed, int step_timeout_ms, unsigned unit,
		  struct fp_outcome *out);

#endif

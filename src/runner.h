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

struct fp_run_options {
	double timeout_s; /* per case */
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

/* Run @n cases in order, feeding @reporters; fills @totals. A stop signal kills the running
 * case's process group and ends the run with totals->stopped set; so does a reporter that
 * cannot record results. */
void fp_run_all(const struct fp_case *cases, size_t n, const struct fp_run_options *opt,
		struct fp_reporter *const *reporters, size_t nreporters, const struct fp_env *env,
		struct fp_totals *totals);

/* The case body, run inside the case process (exposed for the bare benchmark and tests). */
void fp_case_body(const struct fp_case *c, uint64_t seed, int step_timeout_ms,
		  struct fp_outcome *out);

#endif

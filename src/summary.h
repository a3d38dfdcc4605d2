/* SPDX-License-Identifier: MIT */
/*
 * The end of a run as an admin reads it: one line per backend (ran, pass, fail, xfail, skip,
 * each distinct skip reason once), each hazard the node has (a documented kernel limitation
 * found here, with its fix) and, in qualification use (--require, --profile), the node's
 * verdict: a required backend that never ran, or a hazard the site did not accept, fails it.
 */
#ifndef FORKPIN_SUMMARY_H
#define FORKPIN_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "report.h"

#define FP_SUMMARY_BACKENDS 32
#define FP_SUMMARY_REASONS  3 /* distinct skip reasons kept per backend; more are counted */
#define FP_SUMMARY_HAZARDS  16

struct fp_skip_reason {
	char text[256];
	size_t cases;
};

struct fp_backend_tally {
	const char *backend;
	struct fp_totals totals;
	struct fp_skip_reason reasons[FP_SUMMARY_REASONS];
	size_t nreasons, other_reasons; /* other_reasons: cases whose reason did not fit */
};

/* XFAILs grouped by their reason: a kernel limitation (with its fix) or a site's reason. */
struct fp_hazard {
	char issue[512];
	char first_case[96];
	size_t cases;
	bool kernel;   /* a documented kernel limitation (else only the site's known failure) */
	bool accepted; /* the site's known-failures file lists every such case */
};

struct fp_summary {
	bool qualify;		     /* --require or --profile: hazards fail the node */
	const char *const *required; /* backends that must run */
	size_t nrequired;
	struct fp_backend_tally backends[FP_SUMMARY_BACKENDS];
	size_t nbackends;
	struct fp_hazard hazards[FP_SUMMARY_HAZARDS];
	size_t nhazards;
};

/* Count one result into its backend and, for an XFAIL, its hazard. */
void fp_summary_add(struct fp_summary *s, const struct fp_result *r);

/* The tally of @backend, or NULL when no case of it ran or skipped. */
const struct fp_backend_tally *fp_summary_backend(const struct fp_summary *s, const char *backend);

/*
 * The exit code: @base (the totals' rule) unless qualification fails the node, which makes
 * it FP_EXIT_FAIL. Each reason is printed to @why (NULL: silent) as a "# " line.
 */
enum fp_exit fp_summary_verdict(const struct fp_summary *s, enum fp_exit base, FILE *why);

/* The per-backend lines and the hazards, as TAP comments. */
void fp_summary_print(const struct fp_summary *s, FILE *f);

/* A reporter that counts into @s and, at the end, prints the summary on @out. @s outlives it. */
struct fp_reporter *fp_summary_reporter(struct fp_summary *s, FILE *out);

#endif

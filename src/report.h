/* SPDX-License-Identifier: MIT */
/*
 * Results and the reporters that format them (TAP on stdout, JSON, JUnit XML).
 * Reporters only format: they receive finished results and never run anything.
 */
#ifndef FORKPIN_REPORT_H
#define FORKPIN_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "env.h"
#include "scenarios.h"

/* The verdict the user sees. */
enum fp_verdict {
	FP_VERDICT_PASS,	     /* invariant held */
	FP_VERDICT_FAIL,	     /* invariant broken, error, timeout or crash */
	FP_VERDICT_SKIP,	     /* could not run here */
	FP_VERDICT_CONTROL_DETECTED, /* a negative control failed as it must: a pass */
	FP_VERDICT_CONTROL_MISSED,   /* a negative control passed: forkpin is blind; a fail */
	FP_VERDICT_XFAIL,	     /* failed as a known kernel limitation documents; no fail */
};

struct fp_result {
	char id[96];
	const char *backend, *memtype, *scenario;
	bool control;
	enum fp_verdict verdict;
	struct fp_outcome outcome; /* status and text from the case (or the watchdog) */
	const char *known_issue;   /* XFAIL: the known kernel limitation, with its fix */
	double duration_s;
};

struct fp_totals {
	size_t pass, fail, skip, control_detected, control_missed, xfail;
};

void fp_totals_add(struct fp_totals *t, enum fp_verdict v);
/* Passed in the kselftest sense: PASS and detected controls. */
size_t fp_totals_passed(const struct fp_totals *t);
size_t fp_totals_failed(const struct fp_totals *t);
/* kselftest-style exit status: 1 any failure, 4 everything skipped, else 0. */
int fp_totals_exit_code(const struct fp_totals *t);

const char *fp_verdict_name(enum fp_verdict v);
const char *fp_status_name(enum fp_status s);

/* One line explaining a result (diagnosis, skip reason, control verdict) into @buf. */
const char *fp_result_explain(const struct fp_result *r, char *buf, size_t size);

struct fp_reporter {
	void *state;
	void (*begin)(void *state, size_t ncases, const struct fp_env *env);
	void (*result)(void *state, size_t index, const struct fp_result *res);
	/* Returns 0, or -errno when the report could not be written. */
	int (*end)(void *state, const struct fp_totals *totals);
};

/* TAP 13 in kselftest style on @out. */
struct fp_reporter *fp_tap_reporter(FILE *out, bool verbose);
/* JSON and JUnit XML to a path, written at end(); the file is opened at creation so a bad
 * path is found before any case runs. NULL with errno set when it cannot be created. */
struct fp_reporter *fp_json_reporter(const char *path);
struct fp_reporter *fp_junit_reporter(const char *path);
void fp_reporter_free(struct fp_reporter *r);

/* Escapers shared by the file reporters. */
void fp_json_write_string(FILE *f, const char *s);
void fp_xml_write_escaped(FILE *f, const char *s);

#endif

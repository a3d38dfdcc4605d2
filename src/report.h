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
	const char *site_reason;   /* the site's known-failures file accepts this failure */
	double duration_s;
};

/* Exit status of every subcommand, kselftest style. */
enum fp_exit {
	FP_EXIT_OK = 0,		 /* everything that ran passed (controls detected) */
	FP_EXIT_FAIL = 1,	 /* a failure, an error, or a report that could not be written */
	FP_EXIT_USAGE = 2,	 /* bad usage: nothing ran */
	FP_EXIT_NOTHING_RAN = 4, /* KSFT_SKIP: everything skipped, nothing could run here */
};

/* The rule every command applies: any failure is FAIL, else nothing ran is NOTHING_RAN. */
enum fp_exit fp_exit_code(size_t failed, size_t ran);

struct fp_totals {
	size_t pass, fail, skip, control_detected, control_missed, xfail;
};

void fp_totals_add(struct fp_totals *t, enum fp_verdict v);
/* Passed in the kselftest sense: PASS and detected controls. */
size_t fp_totals_passed(const struct fp_totals *t);
size_t fp_totals_failed(const struct fp_totals *t);
/* fp_exit_code() over the totals: XFAIL counts as ran. */
enum fp_exit fp_totals_exit_code(const struct fp_totals *t);

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

/* The env fingerprint as one JSON object of strings, the one writer every report uses.
 * @indent < 0: on one line; else one key per line indented by @indent spaces, the closing
 * brace by @indent - 2. */
void fp_env_write_json(FILE *f, const struct fp_env *env, int indent);

/* The version of the JSON report's layout (docs/json-schema.json); bump it on any change
 * a reader must know about. */
#define FP_REPORT_SCHEMA_VERSION 1

/* The time now as UTC ISO 8601 ("2026-12-02T04:53:08Z") into @buf. */
const char *fp_utc_timestamp(char *buf, size_t size);

/* The JSON report's identity members, each on its own line ending in ",":
 * "schema_version", "hostname" (the fingerprint's node.hostname), "timestamp" (now). */
void fp_report_write_identity(FILE *f, const struct fp_env *env);

#endif

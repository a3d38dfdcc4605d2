/* SPDX-License-Identifier: MIT */
/*
 * Results and the reporters that format them (TAP on stdout, JSON, JUnit XML).
 * Reporters only format: they receive finished results and never run anything.
 */
#ifndef FORKPIN_REPORT_H
#define FORKPIN_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
	bool cut_short; /* a stop signal killed the case before it finished: no verdict */
	/* The explanation a report already recorded (a result read back from a run's stream,
	 * whose known issue is only in that text); NULL: fp_result_explain() composes it. */
	const char *explanation;
};

/* Exit status of every subcommand, kselftest style. */
enum fp_exit {
	FP_EXIT_OK = 0,		   /* everything that ran passed (controls detected) */
	FP_EXIT_FAIL = 1,	   /* a failure, an error, or a report that could not be written */
	FP_EXIT_USAGE = 2,	   /* bad usage: nothing ran */
	FP_EXIT_NOTHING_RAN = 4,   /* KSFT_SKIP: everything skipped, nothing could run here */
	FP_EXIT_SIGNAL_BASE = 128, /* + the signal that interrupted the run: incomplete */
};

/* The rule every command applies: any failure is FAIL, else nothing ran is NOTHING_RAN. */
enum fp_exit fp_exit_code(size_t failed, size_t ran);

struct fp_totals {
	size_t pass, fail, skip, control_detected, control_missed, xfail;
	/* Why the run stopped before its last case ("" when it ran to the end): the reports
	 * then say it is incomplete, and the exit status is never 0. */
	char stopped[192];
	int signo; /* the signal that stopped it (SIGINT, SIGTERM, ...), 0 for other reasons */
};

void fp_totals_add(struct fp_totals *t, enum fp_verdict v);
/* Passed in the kselftest sense: PASS and detected controls. */
size_t fp_totals_passed(const struct fp_totals *t);
size_t fp_totals_failed(const struct fp_totals *t);
/* fp_exit_code() over the totals (XFAIL counts as ran); a run stopped by a signal is
 * FP_EXIT_SIGNAL_BASE + the signal (130 for SIGINT), one stopped for another reason 1. */
int fp_totals_exit_code(const struct fp_totals *t);
/* Whether the run went through every case (no signal, no failure to record results). */
bool fp_totals_complete(const struct fp_totals *t);
/* Mark the run stopped early: by @signo (0 for none) with the text @why. */
void fp_totals_stop(struct fp_totals *t, int signo, const char *why);
/* "SIGINT" for the signals that stop a run, "signal N" for others. */
const char *fp_signal_name(int signo, char *buf, size_t size);

const char *fp_verdict_name(enum fp_verdict v);
const char *fp_status_name(enum fp_status s);

/* One line explaining a result (diagnosis, skip reason, control verdict) into @buf. */
const char *fp_result_explain(const struct fp_result *r, char *buf, size_t size);

struct fp_reporter {
	void *state;
	/* Returns 0, or -errno when results could not be recorded (the run must not start). */
	int (*begin)(void *state, size_t ncases, const struct fp_env *env);
	/* Optional: case @index (@id) starts now; a reporter that streams can name the case
	 * running if the run never gets further (a hung or panicked machine). With --jobs N
	 * several cases run at once, and they may start out of order. */
	void (*start)(void *state, size_t index, const char *id);
	/* Optional: case @index has just ended with @res, in the order cases end (the cases'
	 * order with one job); a stream can record it at once. A case a stop signal killed
	 * has no finished() and no result(). */
	void (*finished)(void *state, size_t index, const struct fp_result *res);
	/* Case @index's result, always in the cases' order (0, 1, 2, ...). */
	void (*result)(void *state, size_t index, const struct fp_result *res);
	/* Returns 0, or -errno when the report could not be written. */
	int (*end)(void *state, const struct fp_totals *totals);
	void (*free_state)(void *state); /* optional: what state owns, before it is freed */
};

/* TAP 13 in kselftest style on @out. */
struct fp_reporter *fp_tap_reporter(FILE *out, bool verbose);
/*
 * JSON and JUnit XML to a path. The report is written at end() into PATH.tmp (opened at
 * creation, so a bad path is found before any case runs) and renamed over PATH only when
 * written in full: a crash keeps the previous report. The JSON reporter also streams
 * PATH.partial, JSON lines (a header with the env, then one case per line as it finishes),
 * removed at end(): after a SIGKILL or an OOM kill it holds every case done so far. Stale
 * PATH.partial and PATH.tmp are removed at creation. A PATH that exists and is not a regular
 * file (/dev/stdout, a FIFO) is written in place. NULL with errno set on failure.
 */
struct fp_reporter *fp_json_reporter(const char *path);
struct fp_reporter *fp_junit_reporter(const char *path);
/* One self-contained HTML page (report_html.c), written like the others. */
struct fp_reporter *fp_html_reporter(const char *path);
void fp_reporter_free(struct fp_reporter *r);

/* Whether two report paths name the same file (the second would overwrite the first). */
bool fp_report_paths_clash(const char *a, const char *b);

/* `forkpin env --json PATH`: the env as one JSON object, written like the reports (temp file
 * and rename). Returns 0 or -errno. */
int fp_env_write_json_file(const char *path, const struct fp_env *env);

/*
 * Escapers shared by the file reporters. Both take any bytes: invalid UTF-8 becomes U+FFFD,
 * a character cut at the end of the string (a truncated buffer) is dropped whole, and the
 * XML one also drops code points XML 1.0 forbids (controls, U+FFFE, U+FFFF).
 */
void fp_json_write_string(FILE *f, const char *s);
void fp_xml_write_escaped(FILE *f, const char *s);

/* The env fingerprint as one JSON object of strings, the one writer every report uses.
 * @indent < 0: on one line; else one key per line indented by @indent spaces, the closing
 * brace by @indent - 2. */
void fp_env_write_json(FILE *f, const struct fp_env *env, int indent);
/*
 * Decode one UTF-8 character of @s (at most @len bytes, @len > 0) into @cp. Returns the
 * bytes it takes; an invalid sequence (overlong forms, surrogates and values past U+10FFFF
 * included) is @cp = U+FFFD over its longest valid prefix (at least 1 byte); 0 when @s ends
 * inside an otherwise valid character (a cut).
 */
size_t fp_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* The version of the JSON report's layout (docs/json-schema.json); bump it on any change
 * a reader must know about. */
#define FP_REPORT_SCHEMA_VERSION 1

/* The time now as UTC ISO 8601 ("2026-12-02T04:53:08Z") into @buf. */
const char *fp_utc_timestamp(char *buf, size_t size);

/* The JSON report's identity members, each on its own line ending in ",":
 * "schema_version", "hostname" (the fingerprint's node.hostname), "timestamp" (now). */
void fp_report_write_identity(FILE *f, const struct fp_env *env);

#endif

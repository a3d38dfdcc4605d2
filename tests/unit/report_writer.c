/* SPDX-License-Identifier: MIT */
/*
 * Writes JSON and JUnit reports of synthetic results whose texts hold everything that needs
 * escaping (quotes, <, &, control characters, newlines) and hostile UTF-8 (invalid bytes,
 * a character cut by a full buffer, U+FFFE). tests/check_reports.py --hostile parses them and
 * checks each string came out as it must.
 * With --html FILE also the HTML page (tests/html.sh reads it back through a browser).
 * usage: report_writer JSON JUNIT [--incomplete] [--html FILE]
 */
#include "report.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static struct fp_result make(const char *id, const char *be, const char *mem, const char *sc,
			     enum fp_verdict v, enum fp_status st, const char *reason, bool control)
{
	struct fp_result r = {.backend = be,
			      .memtype = mem,
			      .scenario = sc,
			      .verdict = v,
			      .control = control,
			      .duration_s = 0.0125};

	snprintf(r.id, sizeof(r.id), "%s", id);
	r.outcome.status = st;
	snprintf(r.outcome.reason, sizeof(r.outcome.reason), "%s", reason);
	r.outcome.pages_checked = 16;
	return r;
}

/* The hostile strings check_reports.py --hostile knows by key. */
static void hostile_env(struct fp_env *env)
{
	char cut[401] = ""; /* 200 two-byte characters and the NUL */
	size_t i;

	fp_env_set(env, "utf8.invalid",
		   "a\xff\xfe b\xc0\xaf c\xed\xa0\x80 d\xe2\x82X e\xf4\x90\x80\x80 f");
	fp_env_set(env, "utf8.nonchar", "x\xef\xbf\xbey\xef\xbf\xbfz\x7f\xc2\x85w");
	fp_env_set(env, "utf8.valid", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7 \xef\xbf\xbd");
	/* 200 two-byte characters into a 256-byte value: snprintf cuts one in half. */
	for (i = 0; i < 200; i++)
		strcat(cut, "\xc3\xa9");
	fp_env_set(env, "utf8.cut", "%s", cut);
}

int main(int argc, char **argv)
{
	struct fp_env env = {0};
	struct fp_totals t = {0};
	struct fp_reporter *rep[3];
	struct fp_result res[5];
	const char *html = NULL;
	bool incomplete = false;
	size_t i, k, nrep = 2;
	int err = 0, a;

	for (a = 3; a < argc; a++) {
		if (!strcmp(argv[a], "--incomplete"))
			incomplete = true;
		else if (!strcmp(argv[a], "--html") && a + 1 < argc)
			html = argv[++a];
		else
			argc = 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: report_writer JSON JUNIT [--incomplete] [--html FILE]\n");
		return 2;
	}
	fp_env_set(&env, "kernel.release", "6.1.0-test \"quoted\" <tag> & more");
	fp_env_set(&env, "weird", "tab\there, bell\a, newline\nend");
	hostile_env(&env);
	res[0] = make("be/anon/ok", "be", "anon", "ok", FP_VERDICT_PASS, FP_STATUS_PASS, "", false);
	res[1] = make("be/anon/bad", "be", "anon", "bad", FP_VERDICT_FAIL, FP_STATUS_MISMATCH,
		      "parent: 1/16 pages hold <child 0's data> & \"more\"\x01: leak "
		      "\xff\xef\xbf\xbe\xc3",
		      false);
	res[2] = make("be/anon/skip", "be", "anon", "skip", FP_VERDICT_SKIP, FP_STATUS_SKIP,
		      "need 1 free huge page", false);
	res[3] =
	    make("be/anon/ctl", "be", "anon", "ctl", FP_VERDICT_CONTROL_DETECTED,
		 FP_STATUS_MISMATCH, "device wrote into a page the parent no longer maps", true);
	res[4] = make("be/file-private/ro", "be", "file-private", "ro", FP_VERDICT_XFAIL,
		      FP_STATUS_MISMATCH, "device read: 1/1 pages hold zeros", false);
	res[4].known_issue = "a documented kernel limitation (fixed by 0123456789ab)";
	rep[0] = fp_json_reporter(argv[1]);
	rep[1] = fp_junit_reporter(argv[2]);
	if (html)
		rep[nrep++] = fp_html_reporter(html);
	for (k = 0; k < nrep; k++)
		if (!rep[k]) {
			perror("open report");
			return 1;
		}
	for (k = 0; k < nrep; k++)
		rep[k]->begin(rep[k]->state, 5, &env);
	for (i = 0; i < 5; i++) {
		fp_totals_add(&t, res[i].verdict);
		for (k = 0; k < nrep; k++)
			rep[k]->result(rep[k]->state, i, &res[i]);
	}
	if (incomplete)
		fp_totals_stop(&t, SIGINT, "interrupted by SIGINT during be/anon/next");
	for (k = 0; k < nrep; k++) {
		err |= rep[k]->end(rep[k]->state, &t);
		fp_reporter_free(rep[k]);
	}
	return err ? 1 : 0;
}

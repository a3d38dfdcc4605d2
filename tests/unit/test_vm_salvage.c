/* SPDX-License-Identifier: MIT */
/*
 * fp_salvage_reports() (src/vm_salvage.c): the stream a run left when it was stopped becomes
 * reports marked incomplete whose cases are exactly those a complete report of the same
 * results holds. The stream is made by the real JSON reporter, stopped half-way (its last
 * case started and never ended, then a line cut by the stop).
 */
#define _GNU_SOURCE
#include "report.h"
#include "tap.h"
#include "vm_salvage.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/forkpin-test-salvage-XXXXXX";

static struct fp_result make(const char *id, const char *sc, enum fp_verdict v, enum fp_status st,
			     const char *reason, bool control)
{
	struct fp_result r = {.backend = "be",
			      .memtype = "anon",
			      .scenario = sc,
			      .verdict = v,
			      .control = control,
			      .duration_s = 0.25};

	snprintf(r.id, sizeof(r.id), "%s", id);
	r.outcome.status = st;
	snprintf(r.outcome.reason, sizeof(r.outcome.reason), "%s", reason);
	snprintf(r.outcome.note, sizeof(r.outcome.note), "%s", "note \"quoted\" <&>");
	r.outcome.pages_checked = 16;
	return r;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t size = 0;

	if (!f)
		return strdup("");
	if (getdelim(&text, &size, '\0', f) < 0) {
		free(text);
		text = strdup("");
	}
	fclose(f);
	return text;
}

static char *path(const char *name)
{
	static char buf[8][256];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

/* The cases array of a JSON report, as text (identical writers give identical text). */
static const char *cases_of(const char *json)
{
	const char *c = strstr(json, "\"cases\": [");

	return c ? c : "(no cases)";
}

int main(void)
{
	struct fp_env env = {0};
	struct fp_result res[3];
	struct fp_reporter *r;
	struct fp_totals t = {0};
	struct fp_salvage s;
	char *ref, *got, *xml;
	FILE *f;
	size_t i;
	int err;

	if (!mkdtemp(dir))
		return 1;
	fp_env_set(&env, "node.hostname", "guest");
	fp_env_set(&env, "kernel.release", "6.1.0-test");
	res[0] = make("be/anon/ok", "ok", FP_VERDICT_PASS, FP_STATUS_PASS, "", false);
	res[1] =
	    make("be/anon/ro", "ro", FP_VERDICT_XFAIL, FP_STATUS_MISMATCH, "stale read", false);
	res[1].known_issue = "a documented kernel limitation (fixed by 0123456789ab)";
	res[2] = make("be/anon/ctl", "ctl", FP_VERDICT_CONTROL_DETECTED, FP_STATUS_MISMATCH,
		      "lost DMA", true);

	/* The reference: a complete report of the first two results. */
	r = fp_json_reporter(path("ref.json"));
	r->begin(r->state, 2, &env);
	for (i = 0; i < 2; i++) {
		r->result(r->state, i, &res[i]);
		fp_totals_add(&t, res[i].verdict);
	}
	r->end(r->state, &t);
	fp_reporter_free(r);

	/* The stream of a run of three stopped in the third: no end(), so it stays. */
	r = fp_json_reporter(path("guest.json"));
	r->begin(r->state, 3, &env);
	for (i = 0; i < 3; i++) {
		r->start(r->state, i, res[i].id);
		if (i < 2)
			r->finished(r->state, i, &res[i]);
	}
	fp_reporter_free(r);
	f = fopen(path("guest.json.partial"), "ae");
	fputs("{\"id\": \"be/anon/cu", f); /* the stop cut a line */
	fclose(f);

	err = fp_salvage_reports(path("guest.json.partial"), path("out.json"), path("out.xml"),
				 SIGINT, "interrupted by SIGINT", &s);
	ok(err == 0, "the stream's reports are written (%d)", err);
	ok(s.done == 2 && s.planned == 3 && s.torn == 1,
	   "2 of 3 cases done, the cut line counted (%zu of %zu, %zu torn)", s.done, s.planned,
	   s.torn);
	ok(!strcmp(s.running, "be/anon/ctl"), "the case running is named: %s", s.running);
	ok(!strcmp(s.stopped, "interrupted by SIGINT during be/anon/ctl"), "stopped: %s",
	   s.stopped);

	ref = slurp(path("ref.json"));
	got = slurp(path("out.json"));
	xml = slurp(path("out.xml"));
	ok(!strcmp(cases_of(ref), cases_of(got)),
	   "the cases are those a complete report holds, explanations included");
	if (strcmp(cases_of(ref), cases_of(got)))
		diag("expected %s\ngot %s", cases_of(ref), cases_of(got));
	ok(strstr(got, "\"complete\": false") && strstr(got, "\"interrupted\": \"SIGINT\"") &&
	       strstr(got, "\"stopped\": \"interrupted by SIGINT during be/anon/ctl\""),
	   "the JSON report says it is incomplete, why and during which case");
	ok(strstr(got, "\"exit_code\": 130") && strstr(got, "\"kernel.release\": \"6.1.0-test\""),
	   "the JSON report has the exit status 130 and the guest's env");
	ok(strstr(xml, "tests=\"3\"") && strstr(xml, "errors=\"1\"") &&
	       strstr(xml, "<error type=\"SIGINT\" message=\"interrupted by SIGINT during "
			   "be/anon/ctl\""),
	   "the JUnit report has the two cases and the incomplete run as an error");
	ok(access(path("out.json.partial"), F_OK) && access(path("out.json.tmp"), F_OK),
	   "no temporary file is left beside the report");
	free(ref);
	free(got);
	free(xml);

	/* A guest that hung without a signal: the reason is the guest's. */
	err = fp_salvage_reports(path("guest.json.partial"), path("hang.json"), NULL, 0,
				 "the guest did not finish (guest kernel panicked: x)", &s);
	got = slurp(path("hang.json"));
	ok(err == 0 &&
	       strstr(got, "\"interrupted\": \"the guest did not finish (guest kernel "
			   "panicked: x) during be/anon/ctl\"") &&
	       strstr(got, "\"exit_code\": 1"),
	   "a hang or panic: incomplete, the reason and the case running, exit_code 1");
	free(got);

	/* Nothing streamed, or not a stream: nothing is written. */
	err = fp_salvage_reports(path("none.partial"), path("n.json"), NULL, SIGTERM, "x", &s);
	ok(err == -ENOENT && access(path("n.json"), F_OK), "no stream: -ENOENT, no report");
	f = fopen(path("bad.partial"), "we");
	fputs("{\"forkpin\": \"1\"}\n", f);
	fclose(f);
	err = fp_salvage_reports(path("bad.partial"), path("b.json"), NULL, SIGTERM, "x", &s);
	ok(err == -EINVAL && access(path("b.json"), F_OK), "not a stream's header: -EINVAL");

	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		(void)!system(cmd);
	}
	return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * The end-of-run summary and qualification: a skip reason is kept once per backend, an
 * all-skipped required backend fails the node, a kernel hazard fails it in qualification
 * use unless the site's known-failures file accepts it, and the site's file turns a real
 * failure (the cow-bug fake) into XFAIL with its reason.
 */
#include "fake_backends.h"
#include "known_failures.h"
#include "report.h"
#include "runner.h"
#include "summary.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct fp_result result(const char *backend, enum fp_verdict v, const char *reason)
{
	struct fp_result r = {.backend = backend, .verdict = v};

	snprintf(r.id, sizeof(r.id), "%s/anon/parent-writes", backend);
	snprintf(r.outcome.reason, sizeof(r.outcome.reason), "%s", reason);
	return r;
}

static void test_skip_reasons_once(void)
{
	static struct fp_summary s;
	struct fp_result r = result("verbs", FP_VERDICT_SKIP, "no RDMA device");
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	int i;

	for (i = 0; i < 50; i++)
		fp_summary_add(&s, &r);
	r = result("iouring", FP_VERDICT_PASS, "");
	fp_summary_add(&s, &r);
	fp_summary_print(&s, f);
	fclose(f);
	ok(strstr(text, "# Backend verbs: ran:0 pass:0 fail:0 xfail:0 skip:50  ** ALL SKIPPED") !=
	       NULL,
	   "an all-skipped backend is flagged");
	ok(strstr(text, "skip (50): no RDMA device") &&
	       !strstr(strstr(text, "no RDMA") + 1, "no RDMA device"),
	   "its skip reason is printed once, with the count");
	ok(strstr(text, "# Backend iouring: ran:1 pass:1") != NULL, "a backend that ran: ran:1");
	free(text);
}

static void test_required_backend(void)
{
	static struct fp_summary s;
	static const char *const required[] = {"verbs"};
	struct fp_result r = result("verbs", FP_VERDICT_SKIP, "no RDMA device");

	s.required = required;
	s.nrequired = 1;
	s.qualify = true;
	fp_summary_add(&s, &r);
	ok(fp_summary_verdict(&s, FP_EXIT_NOTHING_RAN, NULL) == FP_EXIT_FAIL,
	   "a required backend whose cases all skipped fails the run");
	r = result("verbs", FP_VERDICT_PASS, "");
	fp_summary_add(&s, &r);
	ok(fp_summary_verdict(&s, FP_EXIT_OK, NULL) == FP_EXIT_OK,
	   "once one of its cases ran, it passes");
	s.nrequired = 0;
	ok(fp_summary_verdict(&s, FP_EXIT_OK, NULL) == FP_EXIT_OK, "nothing required: no change");
}

static void test_hazards(void)
{
	static struct fp_summary s;
	struct fp_result r = result("iouring", FP_VERDICT_XFAIL, "lost DMA");

	r.known_issue = "pinned hugetlb loses DMA after fork before 5.x (commit abc)";
	fp_summary_add(&s, &r);
	ok(fp_summary_verdict(&s, FP_EXIT_OK, NULL) == FP_EXIT_OK,
	   "outside qualification a kernel hazard keeps exit 0");
	s.qualify = true;
	ok(fp_summary_verdict(&s, FP_EXIT_OK, NULL) == FP_EXIT_FAIL,
	   "in qualification an unaccepted kernel hazard fails the node");
	memset(&s, 0, sizeof(s));
	s.qualify = true;
	r.site_reason = "accepted until the kernel upgrade";
	fp_summary_add(&s, &r);
	ok(fp_summary_verdict(&s, FP_EXIT_OK, NULL) == FP_EXIT_OK,
	   "a hazard the site accepted does not fail the node");
}

static void test_known_failures_file(void)
{
	struct fp_known_failures kf = {0};
	char err[600];

	ok(fp_known_failures_parse(&kf, "kf", "# comment\n\ncow-bug/*/parent-writes  ticket 42\n",
				   err, sizeof(err)) == 0 &&
	       kf.count == 1 && !strcmp(kf.items[0].reason, "ticket 42"),
	   "a glob and its reason are read, comments skipped");
	fp_known_failures_free(&kf);
	ok(fp_known_failures_parse(&kf, "kf", "ok/*  fine\nverbs/*\n", err, sizeof(err)) == -1 &&
	       strstr(err, "kf:2: no reason"),
	   "a glob without a reason is an error naming file:line: %s", err);
	fp_known_failures_free(&kf);
}

static void test_site_accepts_a_real_failure(void)
{
	struct fp_known_failures kf = {0};
	struct fp_case c = {.be = &fake_cow_bug_backend,
			    .mt = fp_memtype_find("anon"),
			    .sc = fp_scenario_find("parent-writes")};
	struct fp_run_options opt = {.timeout_s = 10};
	struct fp_result r;
	char err[600];

	snprintf(c.id, sizeof(c.id), "cow-bug/anon/parent-writes");
	fp_run_case(&c, &opt, &r);
	ok(r.verdict == FP_VERDICT_FAIL, "without the file the cow-bug fake FAILs");
	fp_known_failures_parse(&kf, "kf", "cow-bug/*  ticket 42\n", err, sizeof(err));
	opt.site_known = &kf;
	fp_run_case(&c, &opt, &r);
	ok(r.verdict == FP_VERDICT_XFAIL && r.site_reason && !strcmp(r.site_reason, "ticket 42"),
	   "with it the failure is XFAIL with the site's reason");
	ok(strstr(fp_result_explain(&r, err, sizeof(err)),
		  "known failure on this site: ticket 42") != NULL,
	   "and explained as such: %s", err);
	fp_known_failures_free(&kf);
}

/* The TAP totals of @t, as a string (static). */
static const char *tap_totals(const struct fp_totals *t)
{
	static char buf[1024];
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
	struct fp_reporter *r = fp_tap_reporter(f, false);

	memset(buf, 0, sizeof(buf));
	r->begin(r->state, 0, NULL);
	r->end(r->state, t);
	fp_reporter_free(r);
	fclose(f);
	return buf;
}

/* A green exit that shows nothing: all XFAIL, or no negative control ran. */
static void test_tap_caveats(void)
{
	struct fp_totals xfail = {.xfail = 3, .skip = 2};
	struct fp_totals no_control = {.pass = 4};
	struct fp_totals good = {.pass = 4, .xfail = 1, .control_detected = 1};

	ok(strstr(tap_totals(&xfail), "all 3 cases that ran are XFAIL") != NULL,
	   "an all-XFAIL run says so");
	ok(strstr(tap_totals(&no_control), "no negative control ran") != NULL &&
	       !strstr(tap_totals(&no_control), "XFAIL ("),
	   "a run without a control says so");
	ok(!strstr(tap_totals(&good), "# Note"), "a run with a pass and a control has no note");
}

int main(void)
{
	test_skip_reasons_once();
	test_required_backend();
	test_hazards();
	test_known_failures_file();
	test_site_accepts_a_real_failure();
	test_tap_caveats();
	return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * HTML: one self-contained page (no script, no external file) for a person reading a node's
 * result: the verdict and a summary per backend first, then the failing cases with their
 * diagnoses, a grid backend x scenario (catch-table style: how many memory types passed,
 * failed, were excused or skipped), every case, and the env fingerprint last.
 */
#include "report_file.h"

#include <string.h>

#define MAX_NAMES 64

/* The distinct backend or scenario names in the results, in order of first appearance. */
struct names {
	const char *v[MAX_NAMES];
	size_t n;
};

static size_t name_index(struct names *names, const char *name)
{
	size_t i;

	for (i = 0; i < names->n; i++)
		if (!strcmp(names->v[i], name))
			return i;
	if (names->n < MAX_NAMES)
		names->v[names->n++] = name;
	return i;
}

/* What one grid cell or summary row counts. */
struct tally {
	size_t pass, fail, xfail, skip;
	const char *first_skip; /* one skip reason, shown once */
};

static void tally_add(struct tally *t, const struct fp_result *r)
{
	switch (r->verdict) {
	case FP_VERDICT_PASS:
	case FP_VERDICT_CONTROL_DETECTED:
		t->pass++;
		break;
	case FP_VERDICT_FAIL:
	case FP_VERDICT_CONTROL_MISSED:
		t->fail++;
		break;
	case FP_VERDICT_XFAIL:
		t->xfail++;
		break;
	case FP_VERDICT_SKIP:
		t->skip++;
		if (!t->first_skip)
			t->first_skip = r->outcome.reason;
		break;
	}
}

static void text(FILE *f, const char *s)
{
	fp_xml_write_escaped(f, s ? s : "");
}

static void write_head(FILE *f, const struct fp_totals *t)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<title>forkpin report</title>\n<style>\n"
	      "body{font-family:sans-serif;margin:1.5em;max-width:80em}\n"
	      "table{border-collapse:collapse;margin:0.5em 0 1.5em}\n"
	      "td,th{border:1px solid #bbb;padding:0.2em 0.5em;text-align:left;"
	      "vertical-align:top}\n"
	      ".fail{background:#f8c8c8}.pass{background:#d4f0d4}.xfail{background:#f8e8b0}"
	      ".skip{background:#eee}\n"
	      "</style>\n</head>\n<body>\n<h1>forkpin report</h1>\n",
	      f);
	fprintf(f,
		"<p id=\"verdict\" class=\"%s\">%s: pass %zu, fail %zu, xfail %zu, skip %zu, "
		"controls detected %zu, missed %zu</p>\n",
		fp_totals_failed(t) || !fp_totals_complete(t) ? "fail" : "pass",
		!fp_totals_complete(t) ? "INCOMPLETE"
		: fp_totals_failed(t)  ? "FAIL"
				       : "PASS",
		t->pass, t->fail, t->xfail, t->skip, t->control_detected, t->control_missed);
	if (!fp_totals_complete(t)) {
		fputs("<p class=\"fail\">The run was stopped early: ", f);
		text(f, t->stopped);
		fputs("</p>\n", f);
	}
}

static void write_summary(FILE *f, const struct fp_collected *c)
{
	struct tally rows[MAX_NAMES] = {{0}};
	struct names be = {0};
	size_t i;

	for (i = 0; i < c->n; i++) {
		size_t k = name_index(&be, c->results[i].backend);

		if (k < MAX_NAMES)
			tally_add(&rows[k], &c->results[i]);
	}
	fputs("<h2>Summary per backend</h2>\n<table id=\"summary\">\n<tr><th>backend</th>"
	      "<th>pass</th><th>fail</th><th>xfail</th><th>skip</th><th>skip reason</th></tr>\n",
	      f);
	for (i = 0; i < be.n; i++) {
		const struct tally *t = &rows[i];

		fprintf(f, "<tr class=\"%s\"><td>",
			t->fail	   ? "fail"
			: t->pass  ? "pass"
			: t->xfail ? "xfail"
				   : "skip");
		text(f, be.v[i]);
		fprintf(f, "</td><td>%zu</td><td>%zu</td><td>%zu</td><td>%zu</td><td>", t->pass,
			t->fail, t->xfail, t->skip);
		text(f, t->pass + t->fail + t->xfail ? NULL : t->first_skip);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void write_case_row(FILE *f, const struct fp_result *r)
{
	char why[1200];

	fprintf(f, "<tr class=\"%s\"><td>",
		r->verdict == FP_VERDICT_FAIL || r->verdict == FP_VERDICT_CONTROL_MISSED ? "fail"
		: r->verdict == FP_VERDICT_XFAIL					 ? "xfail"
		: r->verdict == FP_VERDICT_SKIP						 ? "skip"
											 : "pass");
	text(f, r->id);
	fputs("</td><td>", f);
	text(f, fp_verdict_name(r->verdict));
	fputs("</td><td>", f);
	text(f, fp_result_explain(r, why, sizeof(why)));
	fputs("</td></tr>\n", f);
}

/* The failures (and excused ones) first: what a reader came for. */
static void write_failures(FILE *f, const struct fp_collected *c)
{
	size_t i, n = 0;

	fputs("<h2>Failures</h2>\n<table id=\"failures\">\n<tr><th>case</th><th>verdict</th>"
	      "<th>diagnosis</th></tr>\n",
	      f);
	for (i = 0; i < c->n; i++) {
		enum fp_verdict v = c->results[i].verdict;

		if (v == FP_VERDICT_FAIL || v == FP_VERDICT_CONTROL_MISSED ||
		    v == FP_VERDICT_XFAIL) {
			write_case_row(f, &c->results[i]);
			n++;
		}
	}
	fputs("</table>\n", f);
	if (!n)
		fputs("<p>No case failed.</p>\n", f);
}

static void write_grid_cell(FILE *f, const struct tally *t)
{
	if (!t->pass && !t->fail && !t->xfail && !t->skip) {
		fputs("<td></td>", f);
		return;
	}
	fprintf(f, "<td class=\"%s\">",
		t->fail	   ? "fail"
		: t->xfail ? "xfail"
		: t->pass  ? "pass"
			   : "skip");
	if (t->fail)
		fprintf(f, "FAIL %zu ", t->fail);
	if (t->xfail)
		fprintf(f, "xfail %zu ", t->xfail);
	fprintf(f, "pass %zu", t->pass);
	if (t->skip)
		fprintf(f, " skip %zu", t->skip);
	fputs("</td>", f);
}

/* Backend x scenario, each cell summed over the memory types. */
static void write_grid(FILE *f, const struct fp_collected *c)
{
	static struct tally cells[MAX_NAMES][MAX_NAMES];
	struct names be = {0}, sc = {0};
	size_t i, j;

	memset(cells, 0, sizeof(cells));
	for (i = 0; i < c->n; i++) {
		size_t b = name_index(&be, c->results[i].backend);
		size_t s = name_index(&sc, c->results[i].scenario);

		if (b < MAX_NAMES && s < MAX_NAMES)
			tally_add(&cells[b][s], &c->results[i]);
	}
	fputs("<h2>Backend x scenario (summed over memory types)</h2>\n<table id=\"grid\">\n"
	      "<tr><th>scenario</th>",
	      f);
	for (i = 0; i < be.n; i++) {
		fputs("<th>", f);
		text(f, be.v[i]);
		fputs("</th>", f);
	}
	fputs("</tr>\n", f);
	for (j = 0; j < sc.n; j++) {
		fputs("<tr><th>", f);
		text(f, sc.v[j]);
		fputs("</th>", f);
		for (i = 0; i < be.n; i++)
			write_grid_cell(f, &cells[i][j]);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void write_cases_and_env(FILE *f, const struct fp_collected *c)
{
	size_t i;

	fputs("<h2>Every case</h2>\n<table id=\"cases\">\n<tr><th>case</th><th>verdict</th>"
	      "<th>diagnosis, skip reason or note</th></tr>\n",
	      f);
	for (i = 0; i < c->n; i++)
		write_case_row(f, &c->results[i]);
	fputs("</table>\n<h2>Environment</h2>\n<table id=\"env\">\n", f);
	for (i = 0; c->env && i < c->env->count; i++) {
		fputs("<tr><th>", f);
		text(f, c->env->items[i].key);
		fputs("</th><td>", f);
		text(f, c->env->items[i].value);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n</body>\n</html>\n", f);
}

static void write_html(FILE *f, const struct fp_collected *c, const struct fp_totals *t)
{
	write_head(f, t);
	write_summary(f, c);
	write_failures(f, c);
	write_grid(f, c);
	write_cases_and_env(f, c);
}

static const struct fp_file_format html_format = {.write = write_html};

struct fp_reporter *fp_html_reporter(const char *path)
{
	return fp_collecting_reporter(path, &html_format);
}

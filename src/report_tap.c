/* SPDX-License-Identifier: MIT */
/* TAP 13 in kselftest style: plan, one line per case with the reason, a totals line. */
#include "report.h"

#include <stdlib.h>

struct tap_state {
	FILE *out;
	bool verbose;
};

static int tap_begin(void *state, size_t ncases, const struct fp_env *env)
{
	struct tap_state *s = state;
	size_t i;

	fprintf(s->out, "TAP version 13\n");
	for (i = 0; s->verbose && i < env->count; i++)
		fprintf(s->out, "# %s: %s\n", env->items[i].key, env->items[i].value);
	fprintf(s->out, "1..%zu\n", ncases);
	fflush(s->out);
	return 0; /* stdout going away (a closed pipe) stops the run through SIGPIPE instead */
}

static void tap_result(void *state, size_t index, const struct fp_result *res)
{
	struct tap_state *s = state;
	char why[1200];
	bool ok = res->verdict != FP_VERDICT_FAIL && res->verdict != FP_VERDICT_CONTROL_MISSED;

	fp_result_explain(res, why, sizeof(why));
	fprintf(s->out, "%s %zu %s", ok ? "ok" : "not ok", index + 1, res->id);
	if (res->verdict == FP_VERDICT_SKIP)
		fprintf(s->out, " # SKIP %s", why);
	else if (res->verdict == FP_VERDICT_XFAIL)
		fprintf(s->out, " # XFAIL %s", why);
	else if (why[0])
		fprintf(s->out, " # %s", why);
	fputc('\n', s->out);
	fflush(s->out);
}

/*
 * What a green exit does not show: every case that ran failed in a known way (XFAIL), or no
 * negative control ran (skipped or not selected), so nothing showed that the checks can see
 * a broken kernel here.
 */
static void write_caveats(FILE *out, const struct fp_totals *t)
{
	size_t controls = t->control_detected + t->control_missed;

	if (t->xfail && t->xfail == fp_totals_passed(t) + fp_totals_failed(t) + t->xfail)
		fprintf(out,
			"# Note: all %zu cases that ran are XFAIL (known kernel limitations): "
			"none passed on this kernel\n",
			t->xfail);
	if (!controls && fp_totals_passed(t) + fp_totals_failed(t) + t->xfail)
		fprintf(out, "# Note: no negative control ran (none selected, or each skipped): "
			     "nothing here shows that the checks can detect lost DMA\n");
}

static int tap_end(void *state, const struct fp_totals *t)
{
	struct tap_state *s = state;

	if (!fp_totals_complete(t)) {
		/* TAP consumers treat the missing plan lines as an error only after a bail-out. */
		fprintf(s->out, "Bail out! %s\n", t->stopped);
	}
	fprintf(s->out,
		"# Totals: pass:%zu fail:%zu xfail:%zu xpass:0 skip:%zu error:0 "
		"(controls detected:%zu missed:%zu)\n",
		fp_totals_passed(t), fp_totals_failed(t), t->xfail, t->skip, t->control_detected,
		t->control_missed);
	write_caveats(s->out, t);
	fflush(s->out);
	return 0;
}

struct fp_reporter *fp_tap_reporter(FILE *out, bool verbose)
{
	struct fp_reporter *r = calloc(1, sizeof(*r));
	struct tap_state *s = calloc(1, sizeof(*s));

	if (!r || !s) {
		free(r);
		free(s);
		return NULL;
	}
	s->out = out;
	s->verbose = verbose;
	*r = (struct fp_reporter){
	    .state = s, .begin = tap_begin, .result = tap_result, .end = tap_end};
	return r;
}

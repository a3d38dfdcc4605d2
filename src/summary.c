/* SPDX-License-Identifier: MIT */
#include "summary.h"

#include <stdlib.h>
#include <string.h>

static struct fp_backend_tally *tally_of(struct fp_summary *s, const char *backend)
{
	size_t i;

	for (i = 0; i < s->nbackends; i++)
		if (!strcmp(s->backends[i].backend, backend))
			return &s->backends[i];
	if (s->nbackends == FP_SUMMARY_BACKENDS)
		return NULL;
	s->backends[s->nbackends].backend = backend;
	return &s->backends[s->nbackends++];
}

/* Each distinct reason once, with how many cases gave it. */
static void add_skip_reason(struct fp_backend_tally *t, const char *reason)
{
	size_t i;

	for (i = 0; i < t->nreasons; i++)
		if (!strncmp(t->reasons[i].text, reason, sizeof(t->reasons[i].text) - 1)) {
			t->reasons[i].cases++;
			return;
		}
	if (t->nreasons == FP_SUMMARY_REASONS) {
		t->other_reasons++;
		return;
	}
	snprintf(t->reasons[t->nreasons].text, sizeof(t->reasons[0].text), "%.255s", reason);
	t->reasons[t->nreasons++].cases = 1;
}

static void add_hazard(struct fp_summary *s, const struct fp_result *r)
{
	const char *issue = r->known_issue ? r->known_issue : r->site_reason;
	struct fp_hazard *h = NULL;
	size_t i;

	if (!issue)
		return;
	for (i = 0; i < s->nhazards && !h; i++)
		if (!strncmp(s->hazards[i].issue, issue, sizeof(s->hazards[i].issue) - 1))
			h = &s->hazards[i];
	if (!h) {
		if (s->nhazards == FP_SUMMARY_HAZARDS)
			return;
		h = &s->hazards[s->nhazards++];
		snprintf(h->issue, sizeof(h->issue), "%s", issue);
		snprintf(h->first_case, sizeof(h->first_case), "%s", r->id);
		h->kernel = r->known_issue != NULL;
		h->accepted = true;
	}
	h->cases++;
	h->accepted = h->accepted && r->site_reason != NULL;
}

void fp_summary_add(struct fp_summary *s, const struct fp_result *r)
{
	struct fp_backend_tally *t = tally_of(s, r->backend);

	if (t) {
		fp_totals_add(&t->totals, r->verdict);
		if (r->verdict == FP_VERDICT_SKIP)
			add_skip_reason(t, r->outcome.reason);
	}
	if (r->verdict == FP_VERDICT_XFAIL)
		add_hazard(s, r);
}

const struct fp_backend_tally *fp_summary_backend(const struct fp_summary *s, const char *backend)
{
	size_t i;

	for (i = 0; i < s->nbackends; i++)
		if (!strcmp(s->backends[i].backend, backend))
			return &s->backends[i];
	return NULL;
}

static size_t tally_ran(const struct fp_totals *t)
{
	return t->pass + t->fail + t->control_detected + t->control_missed + t->xfail;
}

enum fp_exit fp_summary_verdict(const struct fp_summary *s, enum fp_exit base, FILE *why)
{
	enum fp_exit code = base;
	size_t i;

	for (i = 0; i < s->nrequired; i++) {
		const struct fp_backend_tally *t = fp_summary_backend(s, s->required[i]);

		if (t && tally_ran(&t->totals))
			continue;
		code = FP_EXIT_FAIL;
		if (why)
			fprintf(why, "# NOT QUALIFIED: required backend %s did not run: %s\n",
				s->required[i],
				!t	      ? "no case of it was selected"
				: t->nreasons ? t->reasons[0].text
					      : "every case skipped");
	}
	for (i = 0; s->qualify && i < s->nhazards; i++) {
		const struct fp_hazard *h = &s->hazards[i];

		if (!h->kernel || h->accepted)
			continue;
		code = FP_EXIT_FAIL;
		if (why)
			fprintf(why,
				"# NOT QUALIFIED: %s (%zu case%s, e.g. %s); accept it in a "
				"--known-failures file if the site tolerates it\n",
				h->issue, h->cases, h->cases == 1 ? "" : "s", h->first_case);
	}
	return code;
}

static void print_backend(const struct fp_backend_tally *t, FILE *f)
{
	const struct fp_totals *c = &t->totals;
	size_t i, ran = tally_ran(c);

	fprintf(f, "# Backend %s: ran:%zu pass:%zu fail:%zu xfail:%zu skip:%zu%s\n", t->backend,
		ran, fp_totals_passed(c), fp_totals_failed(c), c->xfail, c->skip,
		ran ? "" : "  ** ALL SKIPPED: nothing tested **");
	for (i = 0; i < t->nreasons; i++)
		fprintf(f, "#   skip (%zu): %s\n", t->reasons[i].cases, t->reasons[i].text);
	if (t->other_reasons)
		fprintf(f, "#   skip (%zu): other reasons (the TAP lines above name them)\n",
			t->other_reasons);
}

void fp_summary_print(const struct fp_summary *s, FILE *f)
{
	size_t i;

	for (i = 0; i < s->nbackends; i++)
		print_backend(&s->backends[i], f);
	for (i = 0; i < s->nhazards; i++) {
		const struct fp_hazard *h = &s->hazards[i];

		fprintf(f, "# %s (%zu case%s, e.g. %s): %s%s\n",
			h->kernel ? "Hazard" : "Site known failure", h->cases,
			h->cases == 1 ? "" : "s", h->first_case, h->issue,
			h->accepted && h->kernel ? " [accepted by the site's known failures]" : "");
	}
}

struct summary_state {
	struct fp_summary *s;
	FILE *out;
};

static int summary_begin(void *state, size_t ncases, const struct fp_env *env)
{
	(void)state;
	(void)ncases;
	(void)env;
	return 0;
}

static void summary_result(void *state, size_t index, const struct fp_result *res)
{
	struct summary_state *st = state;

	(void)index;
	fp_summary_add(st->s, res);
}

static int summary_end(void *state, const struct fp_totals *t)
{
	struct summary_state *st = state;

	(void)t;
	fp_summary_print(st->s, st->out);
	fflush(st->out);
	return 0;
}

struct fp_reporter *fp_summary_reporter(struct fp_summary *s, FILE *out)
{
	struct fp_reporter *r = calloc(1, sizeof(*r));
	struct summary_state *st = calloc(1, sizeof(*st));

	if (!r || !st) {
		free(r);
		free(st);
		return NULL;
	}
	st->s = s;
	st->out = out;
	*r = (struct fp_reporter){
	    .state = st, .begin = summary_begin, .result = summary_result, .end = summary_end};
	return r;
}

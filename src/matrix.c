/* SPDX-License-Identifier: MIT */
#include "matrix.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

const char *fp_case_excluded(const struct fp_backend *be, const struct fp_memtype *mt,
			     const struct fp_scenario *sc)
{
	if ((sc->needs_caps & be->caps) != sc->needs_caps)
		return "the backend lacks a capability the scenario needs";
	if ((sc->mem_needs & mt->flags) != sc->mem_needs)
		return "the scenario needs another memory type";
	if (sc->mem_avoid & mt->flags)
		return "the scenario does not apply to this memory type";
	/* A control shows lost DMA through copy-on-write; shared memory has none to show. */
	if ((be->control || sc->control) && (mt->flags & FP_MEM_SHARED))
		return "a negative control needs private memory";
	/* Two controls at once would prove nothing about either. */
	if (be->control && sc->control)
		return "a control backend runs no control scenario";
	return NULL;
}

static bool in_list(const char *const *list, size_t n, const char *name)
{
	size_t i;

	if (!n)
		return true;
	for (i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

/* Does @id match a pattern? Counts the hits per pattern in @hits. */
static bool matches_patterns(const struct fp_filter *f, const char *id, size_t *hits)
{
	bool any = !f->npatterns;
	size_t i;

	for (i = 0; i < f->npatterns; i++)
		if (!fnmatch(f->patterns[i], id, 0)) {
			hits[i]++;
			any = true;
		}
	return any;
}

/* Every name in the filter lists must exist: a typo is a usage error, not an empty run. */
static bool check_names(const struct fp_filter *f, char *err, size_t size)
{
	size_t i;

	for (i = 0; i < f->nbackends; i++)
		if (!fp_backend_find(f->backends[i])) {
			snprintf(err, size,
				 "unknown backend '%s': `forkpin list` shows the backends",
				 f->backends[i]);
			return false;
		}
	for (i = 0; i < f->nmemtypes; i++)
		if (!fp_memtype_find(f->memtypes[i])) {
			snprintf(err, size,
				 "unknown memory type '%s': `forkpin list` shows the memory types",
				 f->memtypes[i]);
			return false;
		}
	for (i = 0; i < f->nscenarios; i++)
		if (!fp_scenario_find(f->scenarios[i])) {
			snprintf(err, size,
				 "unknown scenario '%s': `forkpin list` shows the scenarios",
				 f->scenarios[i]);
			return false;
		}
	return true;
}

static bool selected(const struct fp_filter *f, const struct fp_case *c, size_t *hits)
{
	return in_list(f->backends, f->nbackends, c->be->name) &&
	       in_list(f->memtypes, f->nmemtypes, c->mt->name) &&
	       in_list(f->scenarios, f->nscenarios, c->sc->name) &&
	       matches_patterns(f, c->id, hits);
}

/* A pattern that selects nothing is a typo: say which one. */
static bool check_hits(const struct fp_filter *f, const size_t *hits, char *err, size_t size)
{
	size_t i;

	for (i = 0; i < f->npatterns; i++)
		if (!hits[i]) {
			snprintf(
			    err, size,
			    "pattern '%s' matches no case: `forkpin list` shows the case names",
			    f->patterns[i]);
			return false;
		}
	return true;
}

long fp_matrix_select(const struct fp_filter *filter, struct fp_case *cases, size_t max, char *err,
		      size_t err_size)
{
	size_t b, m, s, n = 0, hits[FP_MAX_FILTER] = {0};

	if (!check_names(filter, err, err_size))
		return -1;
	for (b = 0; b < fp_backend_count; b++)
		for (m = 0; m < fp_memtype_count; m++)
			for (s = 0; s < fp_scenario_count; s++) {
				struct fp_case c = {.be = fp_backends[b],
						    .mt = &fp_memtypes[m],
						    .sc = &fp_scenarios[s]};

				if (fp_case_excluded(c.be, c.mt, c.sc))
					continue;
				snprintf(c.id, sizeof(c.id), "%s/%s/%s", c.be->name, c.mt->name,
					 c.sc->name);
				c.control = c.be->control ? c.be->control : c.sc->control;
				if (!selected(filter, &c, hits))
					continue;
				if (n < max)
					cases[n] = c;
				n++;
			}
	if (!check_hits(filter, hits, err, err_size))
		return -1;
	if (n == 0) {
		snprintf(err, err_size,
			 "the selection matches no case: `forkpin list` shows the case names");
		return -1;
	}
	return (long)(n < max ? n : max);
}

size_t fp_matrix_size(void)
{
	return fp_backend_count * fp_memtype_count * fp_scenario_count;
}

bool fp_filter_add_names(const char **list, size_t *n, char *csv)
{
	char *save, *tok;

	for (tok = strtok_r(csv, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n >= FP_MAX_FILTER)
			return false;
		list[(*n)++] = tok;
	}
	return true;
}

/* SPDX-License-Identifier: MIT */
/*
 * The case matrix: backends x memory types x scenarios, with the rules that drop combinations
 * that cannot mean anything, and the filters of `forkpin list` / `forkpin run`.
 * One enumerator: counting, listing and running all walk the same list.
 */
#ifndef FORKPIN_MATRIX_H
#define FORKPIN_MATRIX_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "memtypes.h"
#include "scenarios.h"

struct fp_case {
	const struct fp_backend *be;
	const struct fp_memtype *mt;
	const struct fp_scenario *sc;
	char id[96];	     /* backend/memtype/scenario */
	const char *control; /* non-NULL: a negative control, and why it must fail */
};

#define FP_MAX_FILTER 32

/* Selection: glob patterns on the id, and exact name lists per table (empty: all). */
struct fp_filter {
	const char *patterns[FP_MAX_FILTER];
	size_t npatterns;
	const char *backends[FP_MAX_FILTER];
	size_t nbackends;
	const char *memtypes[FP_MAX_FILTER];
	size_t nmemtypes;
	const char *scenarios[FP_MAX_FILTER];
	size_t nscenarios;
};

/* Why a combination is not a case, or NULL when it is one. */
const char *fp_case_excluded(const struct fp_backend *be, const struct fp_memtype *mt,
			     const struct fp_scenario *sc);

/*
 * Enumerate the selected cases in table order into @cases (up to @max). Returns the number
 * selected, or -1 with a one-line message in @err when a filter names an unknown backend,
 * memory type or scenario, or a pattern selects nothing.
 */
long fp_matrix_select(const struct fp_filter *filter, struct fp_case *cases, size_t max, char *err,
		      size_t err_size);

/* The largest number of cases the tables can produce. */
size_t fp_matrix_size(void);

/* Add a comma-separated list of names to @list; false when it would overflow. */
bool fp_filter_add_names(const char **list, size_t *n, char *csv);

#endif

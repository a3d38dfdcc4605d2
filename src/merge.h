/* SPDX-License-Identifier: MIT */
/*
 * `forkpin merge REPORT...` (merge.c): the fleet's reports as one table, nodes x cases.
 * What the table's logic needs, apart from reading and printing, so the unit test
 * (tests/unit/test_merge.c) can check it on grids it builds.
 */
#ifndef FORKPIN_MERGE_H
#define FORKPIN_MERGE_H

#include <stddef.h>

/*
 * One node's result for one case. Ordered from the healthiest to the worst: a tie for the
 * majority goes to the healthier result, so in a 1:1 fleet the failing node is the one that
 * differs.
 */
enum fp_cell {
	FP_CELL_PASS,	 /* pass, or a negative control detected */
	FP_CELL_XFAIL,	 /* a failure the kernel's known issues or the site accepts */
	FP_CELL_SKIP,	 /* could not run on that node */
	FP_CELL_NOT_RUN, /* not in that node's report: another selection, or a run cut short */
	FP_CELL_ERROR,	 /* failed without a verdict on the memory: error, timeout, crash */
	FP_CELL_FAIL,	 /* the invariant broke (lost DMA, a leak), or a control missed */
	FP_NCELLS,
};

/* "pass", "xfail", "skip", "not-run", "error", "FAIL". */
const char *fp_cell_name(enum fp_cell c);

/* The cell of a report's case: its "result" and its "status" (NULL when absent). */
enum fp_cell fp_cell_of(const char *result, const char *status);

/* The grid: @cells[node * ncases + case]. */
struct fp_merge_grid {
	size_t nnodes, ncases;
	const enum fp_cell *cells;
};

/*
 * Per case, the result most nodes have (@majority, ncases entries; a tie goes to the
 * healthier one); per node, how many of its cases differ from that (@differs, nnodes
 * entries). Returns the number of cases on which some node differs.
 */
size_t fp_merge_majority(const struct fp_merge_grid *g, enum fp_cell *majority, size_t *differs);

#endif

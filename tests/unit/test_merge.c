/* SPDX-License-Identifier: MIT */
/* forkpin merge's table logic (src/merge.c): a report's verdict as a cell, the majority per
 * case with its tie rule, and which nodes differ from it. */
#include "merge.h"
#include "tap.h"

#include <string.h>

#define P FP_CELL_PASS
#define X FP_CELL_XFAIL
#define S FP_CELL_SKIP
#define N FP_CELL_NOT_RUN
#define E FP_CELL_ERROR
#define F FP_CELL_FAIL

static void test_cells(void)
{
	ok(fp_cell_of("pass", "pass") == P && fp_cell_of("control-detected", "mismatch") == P,
	   "pass and a detected control are pass");
	ok(fp_cell_of("fail", "mismatch") == F && fp_cell_of("control-missed", "pass") == F,
	   "a mismatch and a missed control are FAIL");
	ok(fp_cell_of("fail", "timeout") == E && fp_cell_of("fail", "error") == E &&
	       fp_cell_of("fail", "signal") == E,
	   "a timeout, an error and a crash are error");
	ok(fp_cell_of("fail", NULL) == F, "a failure without a status is FAIL, not error");
	ok(fp_cell_of("xfail", "mismatch") == X && fp_cell_of("skip", "skip") == S,
	   "xfail and skip");
	ok(!strcmp(fp_cell_name(F), "FAIL") && !strcmp(fp_cell_name(N), "not-run"),
	   "cells are named");
}

/* Three nodes x four cases. */
static void test_majority(void)
{
	static const enum fp_cell cells[] = {
	    P, P, S, P, /* node 0 */
	    P, F, S, N, /* node 1: fails case 1, did not reach case 3 */
	    P, P, S, P, /* node 2 */
	};
	struct fp_merge_grid g = {.nnodes = 3, .ncases = 4, .cells = cells};
	enum fp_cell majority[4];
	size_t differs[3] = {7, 7, 7}, n = fp_merge_majority(&g, majority, differs);

	ok(n == 2, "two cases where a node differs (%zu)", n);
	ok(majority[0] == P && majority[1] == P && majority[2] == S && majority[3] == P,
	   "the majority of each case");
	ok(differs[0] == 0 && differs[1] == 2 && differs[2] == 0,
	   "only node 1 differs, on two cases (%zu %zu %zu)", differs[0], differs[1], differs[2]);
}

static void test_ties(void)
{
	static const enum fp_cell two[] = {F, P};
	static const enum fp_cell four[] = {E, S, E, S};
	static const enum fp_cell all_fail[] = {F, F, F};
	enum fp_cell majority[1];
	size_t differs[4];
	struct fp_merge_grid g = {.nnodes = 2, .ncases = 1, .cells = two};

	fp_merge_majority(&g, majority, differs);
	ok(majority[0] == P && differs[0] == 1 && differs[1] == 0,
	   "1:1, pass and FAIL: the tie goes to pass, the failing node differs");
	g = (struct fp_merge_grid){.nnodes = 4, .ncases = 1, .cells = four};
	fp_merge_majority(&g, majority, differs);
	ok(majority[0] == S && differs[0] == 1 && differs[1] == 0,
	   "2:2, error and skip: the tie goes to skip");
	g = (struct fp_merge_grid){.nnodes = 3, .ncases = 1, .cells = all_fail};
	ok(fp_merge_majority(&g, majority, differs) == 0 && majority[0] == F && !differs[2],
	   "every node fails: the majority is FAIL and no node differs");
	g = (struct fp_merge_grid){.nnodes = 0, .ncases = 0, .cells = NULL};
	ok(fp_merge_majority(&g, majority, differs) == 0, "an empty grid");
}

int main(void)
{
	test_cells();
	test_majority();
	test_ties();
	return done_testing();
}

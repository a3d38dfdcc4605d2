/* SPDX-License-Identifier: MIT */
/*
 * The part the JSON and JUnit reporters share: they collect every result and the env, and
 * write the whole file at end() into the file they opened at creation.
 */
#ifndef FORKPIN_REPORT_FILE_H
#define FORKPIN_REPORT_FILE_H

#include "report.h"

struct fp_collected {
	FILE *f;
	const struct fp_env *env;
	struct fp_result *results;
	size_t n, cap;
	double total_s;
};

/* A reporter whose end() calls @write with everything collected, then closes the file. */
struct fp_reporter *fp_collecting_reporter(const char *path,
					   void (*write)(FILE *f, const struct fp_collected *c,
							 const struct fp_totals *t));

#endif

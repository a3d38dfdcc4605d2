/* SPDX-License-Identifier: MIT */
/*
 * A site's known failures (--known-failures FILE, like kselftest's): lines
 * "CASE-GLOB  reason...", '#' starts a comment. A failing case that matches is reported
 * XFAIL with the site's reason instead of FAIL; a documented kernel limitation (XFAIL) that
 * matches is accepted, so it no longer fails a node in qualification use.
 */
#ifndef FORKPIN_KNOWN_FAILURES_H
#define FORKPIN_KNOWN_FAILURES_H

#include <stddef.h>

#include "report.h"

struct fp_known_failure {
	char glob[96];
	char reason[256];
};

struct fp_known_failures {
	struct fp_known_failure *items;
	size_t count;
};

/* Read @path into @kf. 0, or -1 with "PATH:LINE: problem: fix" in @err. */
int fp_known_failures_load(struct fp_known_failures *kf, const char *path, char *err,
			   size_t err_size);
/* The same from text already in memory; @name names it in errors. */
int fp_known_failures_parse(struct fp_known_failures *kf, const char *name, const char *text,
			    char *err, size_t err_size);
void fp_known_failures_free(struct fp_known_failures *kf);

/* The first entry matching @case_id, or NULL. */
const struct fp_known_failure *fp_known_failures_match(const struct fp_known_failures *kf,
						       const char *case_id);

/* A FAIL or XFAIL of a listed case gets the site's reason (and a FAIL becomes XFAIL). */
void fp_known_failures_apply(const struct fp_known_failures *kf, struct fp_result *res);

#endif

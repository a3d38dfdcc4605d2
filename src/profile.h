/* SPDX-License-Identifier: MIT */
/*
 * Named selections for node qualification (`forkpin run --profile quick`): a documented
 * subset of the matrix that catches the most in the least time (docs/health-check.md).
 */
#ifndef FORKPIN_PROFILE_H
#define FORKPIN_PROFILE_H

#include <stdbool.h>

#include "matrix.h"

/* Fill each list of @filter the command line left empty from profile @name; false when no
 * profile has that name. */
bool fp_profile_apply(const char *name, struct fp_filter *filter);

/* Is there a profile named @name? */
bool fp_profile_exists(const char *name);

/* "quick (...)": the profiles and what they select, for --help and errors. */
const char *fp_profile_names(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Known kernel limitations: a case failing in a documented way on kernels older than the fix
 * is reported XFAIL (kselftest style) with the upstream commit, instead of FAIL. Each issue
 * is scoped to a kernel range, the backends that can show it (by capability and, where the
 * pinning path differs, by name), memory types, scenarios and the diagnoses the hazard
 * produces: any other failure, or the same failure outside that scope, is still a FAIL.
 */
#ifndef FORKPIN_KNOWN_ISSUES_H
#define FORKPIN_KNOWN_ISSUES_H

#include <stddef.h>

/* a kernel release, major.minor */
struct fp_kernel_version {
	unsigned major, minor;
};

#define FP_KNOWN_MAX_DIAGNOSES 4

struct fp_known_issue {
	const char *name;		/* short identifier, for docs and tests */
	struct fp_kernel_version since; /* first release with the hazard ({0, 0}: always) */
	struct fp_kernel_version fixed; /* first release with the fix */
	unsigned caps;			/* the backend has all of these (enum fp_caps) */
	const char *backends;		/* comma-separated names; NULL: any with @caps */
	const char *memtypes;		/* comma-separated globs on the memory type */
	const char *scenarios;		/* comma-separated globs on the scenario */
	/* globs on the whole diagnosis ("parent: *: device wrote into ..."); NULL-terminated */
	const char *diagnoses[FP_KNOWN_MAX_DIAGNOSES + 1];
	const char *reason; /* what goes wrong and which commit fixed it */
};

/* A failed case, as the known-issue rules see it. */
struct fp_known_query {
	const char *backend;
	unsigned caps; /* the backend's enum fp_caps */
	const char *memtype;
	const char *scenario;
	const char *diagnosis; /* the outcome's reason */
	const char *release;   /* uname -r */
};

/* The known issue explaining the failure @q, or NULL. */
const struct fp_known_issue *fp_known_issue_match(const struct fp_known_query *q);

/* The table, for tests and docs. */
const struct fp_known_issue *fp_known_issues(size_t *n);

/*
 * 1 when kernel @release ("5.10.0-46-amd64") is older than @v, 0 when it is not, -1 when
 * @release does not start with major.minor.
 */
int fp_kernel_before(const char *release, struct fp_kernel_version v);

#endif

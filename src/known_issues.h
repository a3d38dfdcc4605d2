/* SPDX-License-Identifier: MIT */
/*
 * Known kernel limitations: a case failing in a documented way on kernels older than the fix
 * is reported XFAIL (kselftest style) with the upstream commit, instead of FAIL. Only the
 * documented diagnosis qualifies: any other failure of the same case is still a FAIL.
 */
#ifndef FORKPIN_KNOWN_ISSUES_H
#define FORKPIN_KNOWN_ISSUES_H

struct fp_known_issue {
	const char *cases;		   /* glob on the case id */
	const char *diagnosis;		   /* the failure's diagnosis must contain this */
	unsigned fixed_major, fixed_minor; /* first kernel release with the fix */
	const char *reason;		   /* what goes wrong and which commit fixed it */
};

/* The known issue explaining a failure of @id with @diagnosis on kernel @release, or NULL. */
const struct fp_known_issue *fp_known_issue_match(const char *id, const char *diagnosis,
						  const char *release);

#endif

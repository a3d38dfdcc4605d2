/* SPDX-License-Identifier: MIT */
/* Known kernel limitations excuse exactly their documented failure on older kernels. */
#include "known_issues.h"
#include "tap.h"

#define RO_CASE "vfio/file-private/device-reads-ro"
#define STALE	"device read: 2/2 pages hold zeros instead of the parent's post-fork data"

int main(void)
{
	ok(fp_known_issue_match(RO_CASE, STALE, "6.1.0-56-amd64") != NULL,
	   "the R/O file pin failure is known on 6.1");
	ok(fp_known_issue_match(RO_CASE, STALE, "6.12.95-amd64") == NULL,
	   "but not on 6.12, where it is fixed: there it FAILs");
	ok(fp_known_issue_match(RO_CASE, "parent: lost its own writes", "6.1.0") == NULL,
	   "another diagnosis of the same case is not excused");
	ok(fp_known_issue_match("vfio/anon/device-reads-ro", STALE, "6.1.0") == NULL,
	   "another memory type is not excused");
	ok(fp_known_issue_match(RO_CASE, STALE, "weird-release") == NULL,
	   "an unparsable kernel release excuses nothing");
	return done_testing();
}

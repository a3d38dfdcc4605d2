/* SPDX-License-Identifier: MIT */
#include "known_issues.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

static const struct fp_known_issue known_issues[] = {
    /*
     * A read-only long-term pin (no FOLL_WRITE, no FOLL_FORCE) of a private file page that
     * was never written pins the page-cache page instead of an anonymous copy; the parent's
     * later write goes to a new copy the device never sees. Fixed by 84209e87c696 "mm/gup:
     * reliable R/O long-term pinning in COW mappings" (6.2). Seen with VFIO read-only maps on
     * Debian's 6.1; verbs on 6.1 still used FOLL_FORCE and is not affected.
     */
    {.cases = "*/file-private/device-reads-ro",
     .diagnosis = "device read",
     .fixed_major = 6,
     .fixed_minor = 2,
     .reason = "read-only pins of private file pages are not COW-safe before 6.2 (fixed by "
	       "84209e87c696 \"mm/gup: reliable R/O long-term pinning in COW mappings\")"},
};

static int kernel_before(const char *release, unsigned major, unsigned minor)
{
	unsigned have_major, have_minor;

	if (sscanf(release, "%u.%u", &have_major, &have_minor) != 2)
		return 0; /* unknown kernel: never excuse a failure */
	return have_major < major || (have_major == major && have_minor < minor);
}

const struct fp_known_issue *fp_known_issue_match(const char *id, const char *diagnosis,
						  const char *release)
{
	size_t i;

	for (i = 0; i < sizeof(known_issues) / sizeof(known_issues[0]); i++) {
		const struct fp_known_issue *k = &known_issues[i];

		if (!fnmatch(k->cases, id, 0) && strstr(diagnosis, k->diagnosis) &&
		    kernel_before(release, k->fixed_major, k->fixed_minor))
			return k;
	}
	return NULL;
}

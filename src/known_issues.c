/* SPDX-License-Identifier: MIT */
#include "known_issues.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

/* What the parent sees when the device wrote into a page it no longer maps. */
#define LOST_DEVICE_WRITE "parent: *: device wrote into a page the parent no longer maps"
/* What the device reads from a pinned page that is no longer the parent's. */
#define STALE_DEVICE_READ  "device read: *: device read stale data: *"
#define CHILDS_DEVICE_READ "device read: *: device read the child's data: *"
#define NEVER_WRITTEN_READ "device read: *: device read a page the parent never wrote"
/* The device's data shows up in the child, which maps the pinned page. */
#define LEAKED_TO_CHILD "child: *: device data leaked into the child: *"
/* hugetlb-pool-empty (scenarios.c): fork shared the pinned huge page instead of copying it */
#define POOL_EMPTY_FORK "fork() succeeded with no free and no surplus huge page: *"

/*
 * The scenarios that pin before a fork and keep using the memory after it (not the
 * pin-after-fork ones: early COW at fork cannot matter to a pin taken after it).
 */
#define FORK_SCENARIOS                                                                             \
	"child-writes,parent-writes,child-alive,device-reads,device-reads-ro,fork-exec,"           \
	"posix-spawn,many-children,nested,in-flight,threaded-fork,threaded-fork-register,"         \
	"wipeonfork,hugetlb-pool-empty"

/* Backends whose R/O registrations pin without FOLL_FORCE (verbs used it until 6.2). */
#define RO_PIN_BACKENDS "vfio,vfio-type1,vfio-iommufd,guptest,guptest-fast,iommufd-mock"

/*
 * The R/O registration scenarios (the reliable-R/O-pin fixes). pageout-before-pin-ro: a read
 * fault swaps the page in read-only, and before 5.19 the parent's write copied the pinned
 * page (reuse by refcount; the swap entry lost the exclusive mark until 1493a1913e34, 5.19).
 * The parent wrote the pages before paging them out, so on the private file types they are
 * anonymous copies too: the file-private rule's scope (< 6.2) holds them on 5.10.
 */
#define RO_PIN_SCENARIOS                                                                           \
	"device-reads-ro,pin-after-fork-ro,pin-previously-shared-ro,pageout-before-pin-ro"

static const struct fp_known_issue known_issues[] = {
    /*
     * Hugetlb had no early COW at fork until 4eae4efa2c29 (5.12-rc3; Debian's 5.10.262
     * still lacks it): fork write-protects the pinned huge page in both processes,
     * and the parent's next write copies it while the child still maps it (hugetlb reuse
     * goes by mapcount). The device keeps the old page, now the child's. Seen on Debian 11's
     * 5.10.262 with io_uring and VFIO.
     */
    {.name = "hugetlb-early-cow",
     .fixed = {5, 12},
     .caps = FP_CAP_PINS,
     .memtypes = "hugetlb-*",
     .scenarios = FORK_SCENARIOS,
     .diagnoses = {LOST_DEVICE_WRITE, STALE_DEVICE_READ, CHILDS_DEVICE_READ, LEAKED_TO_CHILD,
		   POOL_EMPTY_FORK},
     .reason = "pinned hugetlb pages are not copied for the child at fork before 5.12 (fixed "
	       "by 4eae4efa2c29 \"hugetlb: do early cow when page pinned on src mm\")"},
    /*
     * A read-only long-term pin of an anonymous page that is (or was) COW-shared pins the
     * shared page without unsharing it; the parent's next write copies it away from the
     * device. Fixed by a7f226604170 "mm/gup: trigger FAULT_FLAG_UNSHARE when R/O-pinning a
     * possibly shared anonymous page" (5.19, with PageAnonExclusive). verbs pinned with
     * FOLL_FORCE (a write fault) until b40656aa7d55 (6.2) and is not affected.
     */
    {.name = "ro-pin-anon",
     .fixed = {5, 19},
     .caps = FP_CAP_PINS | FP_CAP_READ_ONLY_PIN,
     .backends = RO_PIN_BACKENDS,
     .memtypes = "anon,zeropage,thp-*,mthp-*,malloc-subpage,hugetlb-*",
     .scenarios = RO_PIN_SCENARIOS,
     .diagnoses = {STALE_DEVICE_READ, CHILDS_DEVICE_READ},
     .reason = "read-only pins of possibly shared anonymous pages are not COW-safe before 5.19 "
	       "(fixed by a7f226604170 \"mm/gup: trigger FAULT_FLAG_UNSHARE when R/O-pinning a "
	       "possibly shared anonymous page\")"},
    /*
     * A read-only long-term pin (no FOLL_WRITE, no FOLL_FORCE) of a private file page that
     * was never written pins the page-cache page instead of an anonymous copy; the parent's
     * later write goes to a new copy the device never sees. Fixed by 84209e87c696 "mm/gup:
     * reliable R/O long-term pinning in COW mappings" (6.2). Seen with VFIO read-only maps on
     * Debian's 6.1; verbs on 6.1 still used FOLL_FORCE and is not affected.
     */
    {.name = "ro-pin-file-private",
     .fixed = {6, 2},
     .caps = FP_CAP_PINS | FP_CAP_READ_ONLY_PIN,
     .backends = RO_PIN_BACKENDS,
     .memtypes = "file-private,memfd-private,hugetlb-memfd-private",
     .scenarios = RO_PIN_SCENARIOS,
     .diagnoses = {STALE_DEVICE_READ, NEVER_WRITTEN_READ},
     .reason = "read-only pins of private file pages are not COW-safe before 6.2 (fixed by "
	       "84209e87c696 \"mm/gup: reliable R/O long-term pinning in COW mappings\")"},
    /*
     * The same fix for the shared zero page: a read-only long-term pin of a page that was
     * only read-faulted pins the shared zero page (or the huge zero page), and the parent's
     * first write maps a new page the device never sees: it reads zeros. Fixed by
     * 84209e87c696 (6.2), which unshares the zero page for R/O long-term pins. Seen with
     * VFIO on Debian's 6.1 and 5.10.
     */
    {.name = "ro-pin-zeropage",
     .fixed = {6, 2},
     .caps = FP_CAP_PINS | FP_CAP_READ_ONLY_PIN,
     .backends = RO_PIN_BACKENDS,
     .memtypes = "zeropage,thp-zeropage",
     .scenarios = "device-reads-ro",
     .diagnoses = {NEVER_WRITTEN_READ},
     .reason = "read-only pins of the shared zero page are not unshared before 6.2 (fixed by "
	       "84209e87c696 \"mm/gup: reliable R/O long-term pinning in COW mappings\")"},
    /*
     * From 09854ba94c6a (5.9) until PageAnonExclusive (6c287605fd56, 5.19) do_wp_page
     * reused an anonymous page only at refcount 1: a pinned page whose PTE was
     * write-protected (mprotect R/O then R/W, uffd-wp protect then unprotect) is copied on
     * the parent's next write, with no fork at all, and the device keeps the old page.
     * Measured on 5.10.262 with an io_uring fixed buffer: mprotect and uffd-wp lose the
     * device's write and the device reads stale data; clearing soft-dirty does not (5.10's
     * clear_refs leaves maybe-pinned pages writable), so reprotect-softdirty is not excused.
     * Private file mappings count: the parent's written pages there are anonymous too
     * (file-private/reprotect lost the device's write on 5.10 with io_uring and VFIO).
     */
    {.name = "wp-reuse-refcount",
     .since = {5, 9},
     .fixed = {5, 19},
     .caps = FP_CAP_PINS,
     .memtypes = "anon,zeropage,thp-*,mthp-*,malloc-subpage,file-private,memfd-private",
     .scenarios = "reprotect,reprotect-uffd-wp",
     .diagnoses = {LOST_DEVICE_WRITE, STALE_DEVICE_READ},
     .reason = "a write fault on a write-protected pinned anonymous page copies it before 5.19 "
	       "(do_wp_page reuse by refcount, 09854ba94c6a; fixed by 6c287605fd56 \"mm: remember "
	       "exclusively mapped anonymous pages with PG_anon_exclusive\")"},
};

int fp_kernel_before(const char *release, struct fp_kernel_version v)
{
	unsigned major, minor;

	if (!release || sscanf(release, "%u.%u", &major, &minor) != 2)
		return -1;
	return major < v.major || (major == v.major && minor < v.minor);
}

/* Whether @name matches one of the comma-separated globs in @list. */
static int list_matches(const char *list, const char *name)
{
	char glob[64];

	while (list && *list) {
		size_t len = strcspn(list, ",");

		if (len < sizeof(glob)) {
			memcpy(glob, list, len);
			glob[len] = '\0';
			if (!fnmatch(glob, name, 0))
				return 1;
		}
		list += len + (list[len] == ',');
	}
	return 0;
}

static int diagnosis_matches(const struct fp_known_issue *k, const char *diagnosis)
{
	for (size_t i = 0; i < FP_KNOWN_MAX_DIAGNOSES && k->diagnoses[i]; i++)
		if (!fnmatch(k->diagnoses[i], diagnosis, 0))
			return 1;
	return 0;
}

/* Whether kernel @release is in [since, fixed); an unknown release never is. */
static int kernel_in_range(const struct fp_known_issue *k, const char *release)
{
	if (fp_kernel_before(release, k->fixed) != 1)
		return 0;
	return !k->since.major || fp_kernel_before(release, k->since) == 0;
}

static int issue_matches(const struct fp_known_issue *k, const struct fp_known_query *q)
{
	if ((q->caps & k->caps) != k->caps)
		return 0;
	if (k->backends && !list_matches(k->backends, q->backend))
		return 0;
	return list_matches(k->memtypes, q->memtype) && list_matches(k->scenarios, q->scenario) &&
	       diagnosis_matches(k, q->diagnosis) && kernel_in_range(k, q->release);
}

const struct fp_known_issue *fp_known_issue_match(const struct fp_known_query *q)
{
	size_t i;

	if (!q->backend || !q->memtype || !q->scenario || !q->diagnosis)
		return NULL;
	for (i = 0; i < sizeof(known_issues) / sizeof(known_issues[0]); i++)
		if (issue_matches(&known_issues[i], q))
			return &known_issues[i];
	return NULL;
}

const struct fp_known_issue *fp_known_issues(size_t *n)
{
	*n = sizeof(known_issues) / sizeof(known_issues[0]);
	return known_issues;
}

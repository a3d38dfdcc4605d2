/* SPDX-License-Identifier: MIT */
/*
 * Known kernel limitations excuse exactly their documented failure: inside each rule's
 * kernel range, backend, memory type, scenario and diagnosis, and nowhere outside it.
 */
#include <string.h>

#include "backend.h"
#include "known_issues.h"
#include "tap.h"

#define PINS	(FP_CAP_PINS | FP_CAP_DMA_TO_HOST | FP_CAP_DMA_FROM_HOST)
#define RO_PINS (PINS | FP_CAP_READ_ONLY_PIN)

/* Diagnoses as src/verify.c words them (the child's carries the scenario's "child: "). */
#define LOST_WRITE                                                                                 \
	"parent: 512/512 pages hold the parent's post-fork data instead of the device's data "     \
	"(first at offset 0x0): device wrote into a page the parent no longer maps"
#define CHILD_LEAK                                                                                 \
	"child: child: 512/512 pages hold the device's data instead of the parent's pre-fork "     \
	"data (first at offset 0x0): device data leaked into the child: the child maps the "       \
	"pinned page"
#define CHILDS_READ                                                                                \
	"device read: 512/512 pages hold child 0's data instead of the parent's post-fork data "   \
	"(first at offset 0x0): device read the child's data: the child owns the pinned page"
#define STALE_READ                                                                                 \
	"device read: 2/2 pages hold the parent's pre-fork data instead of the parent's "          \
	"post-fork data (first at offset 0x0): device read stale data: the pinned page is no "     \
	"longer the parent's"
#define ZERO_READ                                                                                  \
	"device read: 2/2 pages hold zeros instead of the parent's post-fork data (first at "      \
	"offset 0x0): device read a page the parent never wrote"
#define TORN_READ                                                                                  \
	"device read: 2/2 pages hold a mix of writers' data instead of the parent's post-fork "    \
	"data (first at offset 0x0): torn or partial transfer"
#define OWN_WRITES                                                                                 \
	"parent: 2/2 pages hold zeros instead of the parent's post-fork data (first at offset "    \
	"0x0): the parent lost its own writes"

#define K510 "5.10.0-46-amd64"
#define K61  "6.1.0-56-amd64"
#define K612 "6.12.95+deb12-amd64"

static const char *match(const char *backend, unsigned caps, const char *memtype,
			 const char *scenario, const char *diagnosis, const char *release)
{
	struct fp_known_query q = {.backend = backend,
				   .caps = caps,
				   .memtype = memtype,
				   .scenario = scenario,
				   .diagnosis = diagnosis,
				   .release = release};
	const struct fp_known_issue *k = fp_known_issue_match(&q);

	return k ? k->name : "none";
}

static void is_rule(const char *got, const char *want, const char *what)
{
	ok(strcmp(got, want) == 0, "%s: %s (got %s)", what, want, got);
}

static void test_hugetlb_early_cow(void)
{
	const char *r = "hugetlb-early-cow";

	is_rule(match("iouring", PINS, "hugetlb-2m", "parent-writes", LOST_WRITE, K510), r,
		"5.10: io_uring hugetlb parent-writes loses the device's write");
	is_rule(match("vfio", RO_PINS, "hugetlb-1g", "child-alive", CHILD_LEAK, K510), r,
		"5.10: the device's data in the child");
	is_rule(match("iouring", PINS, "hugetlb-2m", "device-reads", CHILDS_READ, K510), r,
		"5.10: the device reads the child's page");
	is_rule(match("iouring", PINS, "hugetlb-2m", "parent-writes", LOST_WRITE, "5.11.0"), r,
		"5.11 (fix only in 5.11 stable) is still in range");
	is_rule(match("iouring", PINS, "hugetlb-2m", "parent-writes", LOST_WRITE, "5.12.0"), "none",
		"5.12 has the fix: a FAIL there");
	is_rule(match("iouring", PINS, "hugetlb-2m", "parent-writes", LOST_WRITE, K61), "none",
		"6.1 has the fix");
	is_rule(match("iouring", PINS, "anon", "parent-writes", LOST_WRITE, K510), "none",
		"anon on 5.10 has early COW: not excused");
	is_rule(match("vmsplice", FP_CAP_DMA_FROM_HOST, "hugetlb-2m", "parent-writes", LOST_WRITE,
		      K510),
		"none", "a backend that does not pin is outside every rule");
	is_rule(match("iouring", PINS, "hugetlb-2m", "control-dontneed", LOST_WRITE, K510), "none",
		"a control scenario is not excused");
	is_rule(match("iouring", PINS, "hugetlb-2m", "parent-writes", OWN_WRITES, K510), "none",
		"another diagnosis (the parent lost its own writes) is not excused");
	is_rule(match("iouring", PINS, "hugetlb-2m", "device-reads", TORN_READ, K510), "none",
		"a torn device read is not excused (issue 13)");
}

static void test_ro_pin_anon(void)
{
	const char *r = "ro-pin-anon";

	is_rule(match("vfio", RO_PINS, "anon", "pin-after-fork-ro", STALE_READ, K510), r,
		"5.10: VFIO R/O map of a COW-shared anon page reads stale data");
	is_rule(
	    match("guptest", RO_PINS, "thp-pte", "pin-previously-shared-ro", CHILDS_READ, "5.18.3"),
	    r, "5.18: gup_test R/O pin of a previously shared THP");
	is_rule(match("vfio", RO_PINS, "anon", "pin-after-fork-ro", STALE_READ, "5.19.0"), "none",
		"5.19 has the fix");
	is_rule(match("verbs", RO_PINS, "anon", "pin-after-fork-ro", STALE_READ, K510), "none",
		"verbs pinned with FOLL_FORCE before 6.2: not this hazard");
	is_rule(match("vfio", PINS, "anon", "pin-after-fork-ro", STALE_READ, K510), "none",
		"a backend without R/O pins is not excused");
	is_rule(match("vfio", RO_PINS, "anon", "pin-after-fork", STALE_READ, K510), "none",
		"an R/W registration is not excused");
	is_rule(match("vfio", RO_PINS, "shared-anon", "pin-after-fork-ro", STALE_READ, K510),
		"none", "MAP_SHARED memory is not excused");
	is_rule(match("vfio", RO_PINS, "anon", "pin-after-fork-ro", LOST_WRITE, K510), "none",
		"a lost device write is not an R/O pin failure");
}

static void test_ro_pin_file_private(void)
{
	const char *r = "ro-pin-file-private";

	is_rule(match("vfio", RO_PINS, "file-private", "device-reads-ro", ZERO_READ, K61), r,
		"6.1: VFIO R/O map of a private file page reads the page cache");
	is_rule(match("vfio", RO_PINS, "memfd-private", "pin-after-fork-ro", STALE_READ, K510), r,
		"5.10: MAP_PRIVATE memfd, pinned after fork");
	is_rule(match("vfio", RO_PINS, "file-private", "device-reads-ro", ZERO_READ, K612), "none",
		"6.12 has the fix");
	is_rule(match("verbs", RO_PINS, "file-private", "device-reads-ro", ZERO_READ, K61), "none",
		"verbs on 6.1 (FOLL_FORCE) is not excused (issue 13)");
	is_rule(match("iouring", PINS, "file-private", "device-reads-ro", ZERO_READ, K61), "none",
		"a backend without R/O pins is not excused");
	is_rule(match("vfio", RO_PINS, "file-private", "device-reads", ZERO_READ, K61), "none",
		"an R/W registration of the same memory is not excused");
	is_rule(match("vfio", RO_PINS, "file-private", "device-reads-ro", TORN_READ, K61), "none",
		"a torn read of the same case is not excused (issue 13)");
	is_rule(match("vfio", RO_PINS, "file-private", "device-reads-ro", OWN_WRITES, K61), "none",
		"a parent diagnosis of the same case is not excused");
}

static void test_wp_reuse_refcount(void)
{
	const char *r = "wp-reuse-refcount";

	is_rule(match("iouring", PINS, "anon", "reprotect", LOST_WRITE, K510), r,
		"5.10: mprotect R/O then R/W copies the pinned page away");
	is_rule(match("vfio", RO_PINS, "thp-pte", "reprotect-softdirty", STALE_READ, "5.15.0"), r,
		"5.15: soft-dirty clearing, device reads the old page");
	is_rule(match("iouring", PINS, "anon", "reprotect", LOST_WRITE, "5.19.0"), "none",
		"5.19 has the fix");
	is_rule(match("iouring", PINS, "anon", "reprotect", LOST_WRITE, "5.8.0"), "none",
		"5.8 reused by mapcount: before the hazard, a FAIL there");
	is_rule(match("iouring", PINS, "hugetlb-2m", "reprotect", LOST_WRITE, "5.15.0"), "none",
		"hugetlb reuse goes by mapcount: not excused");
	is_rule(match("iouring", PINS, "anon", "parent-writes", LOST_WRITE, "5.15.0"), "none",
		"a fork scenario on anon is not excused by this rule");
}

static void test_release_parsing(void)
{
	struct fp_kernel_version v = {5, 12};

	ok(fp_kernel_before("5.10.0-46-amd64", v) == 1, "5.10 is before 5.12");
	ok(fp_kernel_before("5.12", v) == 0, "5.12 is not before 5.12");
	ok(fp_kernel_before("6.0.1", v) == 0, "6.0 is not before 5.12");
	ok(fp_kernel_before("weird-release", v) == -1, "an unparsable release is unknown");
	is_rule(match("iouring", PINS, "hugetlb-2m", "parent-writes", LOST_WRITE, "weird"), "none",
		"an unparsable kernel release excuses nothing");
}

int main(void)
{
	size_t n, i;
	const struct fp_known_issue *all = fp_known_issues(&n);

	test_hugetlb_early_cow();
	test_ro_pin_anon();
	test_ro_pin_file_private();
	test_wp_reuse_refcount();
	test_release_parsing();
	for (i = 0; i < n; i++)
		ok(all[i].name && all[i].reason && all[i].memtypes && all[i].scenarios &&
		       all[i].diagnoses[0] && all[i].fixed.major &&
		       strstr(all[i].reason, "fixed by"),
		   "rule %s is scoped and names its fix", all[i].name ? all[i].name : "?");
	return done_testing();
}

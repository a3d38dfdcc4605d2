/* SPDX-License-Identifier: MIT */
/*
 * Every scenario can fail, with the right diagnosis: each one runs against a perfect device
 * (must pass) and against an emulation of the kernel bug where fork leaves the pinned page
 * with the device and gives the parent another (must fail, saying so).
 */
#include "fake_backends.h"
#include "runner.h"
#include "tap.h"

#include <string.h>

/* What each scenario must report against the bug; NULL: it must still pass (no fork). */
static const struct {
	const char *scenario;
	const char *diagnosis;
} expected[] = {
    {"child-writes", "device wrote into a page the parent no longer maps"},
    {"parent-writes", "device wrote into a page the parent no longer maps"},
    {"child-alive", "device wrote into a page the parent no longer maps"},
    {"device-reads", "device read stale data"},
    {"device-reads-ro", "device read stale data"},
    {"fork-exec", "device wrote into a page the parent no longer maps"},
    {"posix-spawn", NULL}, /* no fork: the vfork-style clone shares the address space */
    {"many-children", "device wrote into a page the parent no longer maps"},
    {"nested", "device wrote into a page the parent no longer maps"},
    {"in-flight", "device wrote into a page the parent no longer maps"},
};

static struct fp_result run(const struct fp_backend *be, const char *mem, const char *sc)
{
	struct fp_case c = {.be = be, .mt = fp_memtype_find(mem), .sc = fp_scenario_find(sc)};
	struct fp_run_options opt = {.timeout_s = 10, .seed = 7};
	struct fp_result r;

	snprintf(c.id, sizeof(c.id), "%s/%s/%s", be->name, mem, sc);
	fp_run_case(&c, &opt, &r);
	return r;
}

static void test_every_scenario_is_covered(void)
{
	size_t i, j, uncovered = 0;

	for (i = 0; i < fp_scenario_count; i++) {
		const struct fp_scenario *sc = &fp_scenarios[i];
		bool found = sc->control || (sc->mem_needs & FP_MEM_HUGETLB);

		for (j = 0; j < sizeof(expected) / sizeof(expected[0]); j++)
			found |= !strcmp(expected[j].scenario, sc->name);
		if (!found) {
			diag("scenario %s has no expectation here", sc->name);
			uncovered++;
		}
	}
	ok(uncovered == 0, "every non-control scenario has a bug expectation in this test");
}

static void test_ideal_and_bug(const char *mem)
{
	size_t i;

	for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		const char *sc = expected[i].scenario, *want = expected[i].diagnosis;
		struct fp_result good = run(&fake_ideal_backend, mem, sc);
		struct fp_result bad = run(&fake_cow_bug_backend, mem, sc);

		ok(good.outcome.status == FP_STATUS_PASS, "%s/%s passes with a perfect device %s",
		   mem, sc, good.outcome.reason);
		if (want)
			ok(bad.outcome.status == FP_STATUS_MISMATCH &&
			       strstr(bad.outcome.reason, want),
			   "%s/%s fails under the COW bug: %s", mem, sc, bad.outcome.reason);
		else
			ok(bad.outcome.status == FP_STATUS_PASS, "%s/%s needs no fork: passes %s",
			   mem, sc, bad.outcome.reason);
	}
}

static void test_shared_memory_expectations(void)
{
	/* On shared memory a child's write is visible by design: the scenarios must expect it. */
	const char *shared[] = {"child-writes", "device-reads", "many-children", "nested",
				"in-flight"};
	size_t i;

	for (i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		struct fp_result r = run(&fake_ideal_backend, "memfd", shared[i]);

		ok(r.outcome.status == FP_STATUS_PASS, "memfd/%s: sharing is expected %s",
		   shared[i], r.outcome.reason);
	}
}

int main(void)
{
	test_every_scenario_is_covered();
	test_ideal_and_bug("anon");
	test_ideal_and_bug("malloc-subpage");
	test_shared_memory_expectations();
	return done_testing();
}

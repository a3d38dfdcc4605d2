/* SPDX-License-Identifier: MIT */
/*
 * Every scenario can fail, with the right diagnosis: each one runs against a perfect device
 * (must pass) and against a fake that emulates the kernel bug the scenario exists to catch
 * (must fail, saying so):
 *  - cow-bug: fork leaves the pinned page with the device and gives the parent another;
 *  - stale-pin: a registration after a fork pins a page the parent's next write leaves;
 *  - remap-bug: write-protecting, paging out or collapsing the range moves the parent off
 *    the pinned page.
 */
#define _GNU_SOURCE
#include "fake_backends.h"
#include "runner.h"
#include "tap.h"

#include <signal.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOST_DMA "device wrote into a page the parent no longer maps"
#define STALE	 "device read stale data"

/* What each scenario must report against its bug; NULL: it must still pass (no fork). */
static const struct {
	const char *scenario;
	const struct fp_backend *bug;
	const char *diagnosis;
} expected[] = {
    {"child-writes", &fake_cow_bug_backend, LOST_DMA},
    {"child-writes-parent-writes", &fake_cow_bug_backend, LOST_DMA},
    {"parent-writes", &fake_cow_bug_backend, LOST_DMA},
    {"child-alive", &fake_cow_bug_backend, LOST_DMA},
    {"device-reads", &fake_cow_bug_backend, STALE},
    {"device-reads-ro", &fake_cow_bug_backend, STALE},
    {"fork-exec", &fake_cow_bug_backend, LOST_DMA},
    {"posix-spawn", &fake_cow_bug_backend, NULL}, /* no fork: the vfork-style clone shares */
    {"many-children", &fake_cow_bug_backend, LOST_DMA},
    {"nested", &fake_cow_bug_backend, LOST_DMA},
    {"in-flight", &fake_cow_bug_backend, LOST_DMA},
    {"pin-after-fork", &fake_stale_pin_backend, LOST_DMA},
    {"pin-after-fork-ro", &fake_stale_pin_backend, STALE},
    {"pin-previously-shared", &fake_stale_pin_backend, LOST_DMA},
    {"pin-previously-shared-ro", &fake_stale_pin_backend, STALE},
    {"reprotect", &fake_remap_bug_backend, LOST_DMA},
    {"reprotect-softdirty", &fake_remap_bug_backend, LOST_DMA},
    {"reprotect-uffd-wp", &fake_remap_bug_backend, LOST_DMA},
    {"wipeonfork", &fake_cow_bug_backend, LOST_DMA},
    {"threaded-fork", &fake_cow_bug_backend, LOST_DMA},
    {"threaded-fork-register", &fake_cow_bug_backend, LOST_DMA},
    {"pageout", &fake_remap_bug_backend, LOST_DMA},
    {"pageout-before-pin", &fake_cow_bug_backend, LOST_DMA},
    {"pageout-before-pin-ro", &fake_cow_bug_backend, STALE},
    {"collapse", &fake_remap_bug_backend, LOST_DMA},
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

/* The memory type a scenario runs on here: @mem, or the THP one it needs. */
static const char *memtype_for(const struct fp_scenario *sc, const char *mem)
{
	const struct fp_memtype *mt = fp_memtype_find(mem);

	if (sc->mem_needs & FP_MEM_THP)
		return strcmp(mem, "anon") ? NULL : "thp-pte";
	return mt->flags & sc->mem_avoid ? NULL : mem;
}

static void check_pair(const char *mem, size_t i)
{
	const char *sc = expected[i].scenario, *want = expected[i].diagnosis;
	struct fp_result good = run(&fake_ideal_backend, mem, sc);
	struct fp_result bad = run(expected[i].bug, mem, sc);

	if (good.outcome.status == FP_STATUS_SKIP) { /* the host lacks what the case needs */
		printf("ok %d - %s/%s # SKIP %s\n", ++tap_count, mem, sc, good.outcome.reason);
		return;
	}
	ok(good.outcome.status == FP_STATUS_PASS, "%s/%s passes with a perfect device %s", mem, sc,
	   good.outcome.reason);
	if (want)
		ok(bad.outcome.status == FP_STATUS_MISMATCH && strstr(bad.outcome.reason, want),
		   "%s/%s fails under %s: %s", mem, sc, expected[i].bug->name, bad.outcome.reason);
	else
		ok(bad.outcome.status == FP_STATUS_PASS, "%s/%s needs no fork: passes %s", mem, sc,
		   bad.outcome.reason);
}

static void test_ideal_and_bug(const char *mem)
{
	size_t i;

	for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		const char *m = memtype_for(fp_scenario_find(expected[i].scenario), mem);

		if (m)
			check_pair(m, i);
	}
}

static void test_shared_memory_expectations(void)
{
	/* On shared memory a child's write is visible by design: the scenarios must expect it. */
	const char *shared[] = {"child-writes", "child-writes-parent-writes",
				"device-reads", "many-children",
				"nested",	"in-flight",
				"reprotect"};
	size_t i;

	for (i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		struct fp_result r = run(&fake_ideal_backend, "memfd", shared[i]);

		ok(r.outcome.status == FP_STATUS_PASS, "memfd/%s: sharing is expected %s",
		   shared[i], r.outcome.reason);
	}
}

/* A queued write may land before fork copies the page: the child then holds the device's
 * data in its copy, legitimately (issue 13: never blame the kernel for the order). */
static void test_in_flight_either_order(void)
{
	struct fp_result r = run(&fake_eager_backend, "anon", "in-flight");

	ok(r.outcome.status == FP_STATUS_PASS,
	   "anon/in-flight passes when the transfer lands before the fork %s", r.outcome.reason);
}

/* Can this process write into its child's memory (the child-maps fake needs it; seccomp or
 * Yama may forbid process_vm_writev)? */
static bool can_write_into_child(void)
{
	static char word = 'a';
	struct iovec v = {.iov_base = &word, .iov_len = 1};
	pid_t pid = fork();
	ssize_t n;

	if (pid == 0) {
		pause();
		_exit(0);
	}
	n = pid > 0 ? process_vm_writev(pid, &v, 1, &v, 1, 0) : -1;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return n == 1;
}

/* A device write that reaches a child's copy: the child-side checks must catch it (the
 * parent alone sees nothing wrong). */
static void test_child_maps_pinned_page(void)
{
	const char *scenarios[] = {
	    "in-flight",  "child-alive",    "threaded-fork",	 "threaded-fork-register",
	    "wipeonfork", "pin-after-fork", "pageout-before-pin"};
	size_t i;

	if (!can_write_into_child()) {
		printf("ok %d - child-maps fake # SKIP process_vm_writev into a child is not "
		       "allowed here\n",
		       ++tap_count);
		return;
	}
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		struct fp_result r = run(&fake_child_maps_backend, "anon", scenarios[i]);

		ok(r.outcome.status == FP_STATUS_MISMATCH &&
		       strstr(r.outcome.reason, "device data leaked into the child"),
		   "anon/%s fails when the child maps the pinned page: %s", scenarios[i],
		   r.outcome.reason);
	}
}

/* fork-init: a child's SIGSEGV is expected only inside the registered buffer (si_addr); the
 * unrelated data on its page is checked, and its loss is a failure. */
static void test_dontfork_fault_address(void)
{
	struct fp_result buf = run(&fake_dontfork_backend, "anon", "child-writes");
	struct fp_result nb = run(&fake_dontfork_backend, "malloc-subpage", "child-writes");

	ok(buf.outcome.status == FP_STATUS_PASS &&
	       strstr(buf.outcome.note, "SIGSEGV inside the registered buffer"),
	   "anon/child-writes with DONTFORK: the fault in the buffer is expected (%s)",
	   buf.outcome.note);
	ok(nb.outcome.status == FP_STATUS_MISMATCH &&
	       strstr(nb.outcome.reason, "unrelated data that shares a page"),
	   "malloc-subpage/child-writes with DONTFORK: the lost neighbour fails: %s",
	   nb.outcome.reason);
}

int main(void)
{
	test_every_scenario_is_covered();
	test_ideal_and_bug("anon");
	test_ideal_and_bug("malloc-subpage");
	test_shared_memory_expectations();
	test_in_flight_either_order();
	test_child_maps_pinned_page();
	test_dontfork_fault_address();
	return done_testing();
}

/* SPDX-License-Identifier: MIT */
/* The case matrix and its filters: names, globs, exclusion rules and usage errors. */
#include "matrix.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static struct fp_case cases[4096];

static long select_with(struct fp_filter *f, char *err)
{
	return fp_matrix_select(f, cases, 4096, err, 256);
}

static bool all_ids_unique(size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (!strcmp(cases[i].id, cases[j].id))
				return false;
	return true;
}

static void test_full_matrix(void)
{
	struct fp_filter f = {0};
	char err[256];
	long n = select_with(&f, err);
	bool shared_control = false, ids_ok = true;
	long i;

	ok(n > 50 && (size_t)n < fp_matrix_size(),
	   "the matrix has %ld cases, fewer than the product", n);
	ok(n > 0 && all_ids_unique((size_t)n), "every case id is unique");
	for (i = 0; i < n; i++) {
		char expect[96];

		snprintf(expect, sizeof(expect), "%s/%s/%s", cases[i].be->name, cases[i].mt->name,
			 cases[i].sc->name);
		ids_ok &= !strcmp(expect, cases[i].id);
		shared_control |= cases[i].control && (cases[i].mt->flags & FP_MEM_SHARED);
	}
	ok(ids_ok, "ids are backend/memtype/scenario");
	ok(!shared_control, "no control runs on shared memory (no COW there to detect)");
}

static void test_glob(void)
{
	struct fp_filter f = {.patterns = {"iouring/*/child-*"}, .npatterns = 1};
	char err[256];
	long n = select_with(&f, err), i;
	bool all = true;

	for (i = 0; i < n; i++)
		all &= !strncmp(cases[i].id, "iouring/", 8) && strstr(cases[i].id, "/child-");
	ok(n > 2 && all, "'iouring/*/child-*' selects %ld io_uring child-* cases only", n);
}

static void test_lists(void)
{
	char csv[] = "anon,memfd";
	struct fp_filter f = {
	    .backends = {"iouring"}, .nbackends = 1, .scenarios = {"nested"}, .nscenarios = 1};
	char err[256];
	long n;

	ok(fp_filter_add_names(f.memtypes, &f.nmemtypes, csv) && f.nmemtypes == 2,
	   "a comma list splits into names");
	n = select_with(&f, err);
	ok(n == 2 && !strcmp(cases[0].id, "iouring/anon/nested") &&
	       !strcmp(cases[1].id, "iouring/memfd/nested"),
	   "--backend/--mem/--scenario intersect, in table order");
}

static void test_errors(void)
{
	struct fp_filter f1 = {.backends = {"iouringg"}, .nbackends = 1};
	struct fp_filter f2 = {.memtypes = {"anonn"}, .nmemtypes = 1};
	struct fp_filter f3 = {.scenarios = {"nope"}, .nscenarios = 1};
	struct fp_filter f4 = {.patterns = {"iouring/*", "zzz*"}, .npatterns = 2};
	struct fp_filter f5 = {.backends = {"vmsplice"},
			       .nbackends = 1,
			       .scenarios = {"child-writes"},
			       .nscenarios = 1};
	char err[256];

	ok(select_with(&f1, err) < 0 && strstr(err, "unknown backend 'iouringg'") &&
	       strstr(err, "forkpin list"),
	   "unknown backend: %s", err);
	ok(select_with(&f2, err) < 0 && strstr(err, "unknown memory type 'anonn'"),
	   "unknown memory type: %s", err);
	ok(select_with(&f3, err) < 0 && strstr(err, "unknown scenario 'nope'"),
	   "unknown scenario: %s", err);
	ok(select_with(&f4, err) < 0 && strstr(err, "'zzz*' matches no case"),
	   "a pattern matching nothing is named even beside one that matches: %s", err);
	ok(select_with(&f5, err) < 0 && strstr(err, "matches no case"),
	   "an empty intersection is an error: %s", err);
}

static void test_exclusions(void)
{
	const struct fp_backend *vms = fp_backend_find("vmsplice");
	const struct fp_memtype *anon = fp_memtype_find("anon");
	const struct fp_memtype *memfd = fp_memtype_find("memfd");
	const struct fp_memtype *huge = fp_memtype_find("hugetlb-2m");

	ok(vms && anon && memfd && huge, "tables have vmsplice, anon, memfd, hugetlb-2m");
	ok(fp_case_excluded(vms, anon, fp_scenario_find("child-writes")) != NULL,
	   "a backend that cannot write to the host gets no device-write scenario");
	ok(fp_case_excluded(vms, anon, fp_scenario_find("device-reads")) == NULL,
	   "vmsplice runs device-reads");
	ok(fp_case_excluded(vms, memfd, fp_scenario_find("device-reads")) != NULL,
	   "a control backend does not run on shared memory");
	ok(fp_case_excluded(fp_backend_find("iouring"), anon,
			    fp_scenario_find("hugetlb-pool-empty")) != NULL &&
	       fp_case_excluded(fp_backend_find("iouring"), huge,
				fp_scenario_find("hugetlb-pool-empty")) == NULL,
	   "hugetlb-pool-empty runs on hugetlb only");
}

int main(void)
{
	test_full_matrix();
	test_glob();
	test_lists();
	test_errors();
	test_exclusions();
	return done_testing();
}

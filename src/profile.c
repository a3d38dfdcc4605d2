/* SPDX-License-Identifier: MIT */
#include "profile.h"

#include <string.h>

/*
 * quick: the backends that pin memory (one front end each: vfio, not its type1/iommufd
 * variants; not ofi, whose every case spends ~0.2 s in provider discovery even to SKIP,
 * which alone would break the 2 s budget: `-b ofi` qualifies libfabric separately) x the memory
 * kinds whose fork handling differs most (small pages, a THP, a hugetlb page) x the scenarios that
 * caught every regression in docs/kernels.md's catch table, plus the negative controls, which prove
 * the check can see lost DMA. A name the tables do not have (yet) is left out, so the profile
 * follows the tables.
 */
static const char *const quick_backends[] = {"iouring", "verbs", "vfio", "iommufd-mock", "guptest"};
static const char *const quick_memtypes[] = {"anon", "thp-pmd", "hugetlb-2m"};
static const char *const quick_scenarios[] = {"parent-writes",	   "child-alive",
					      "device-reads",	   "device-reads-ro",
					      "pin-after-fork-ro", "reprotect"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void add_backends(struct fp_filter *f)
{
	size_t i;

	for (i = 0; i < COUNT(quick_backends) && f->nbackends < FP_MAX_FILTER; i++) {
		const struct fp_backend *be = fp_backend_find(quick_backends[i]);

		if (be && !be->unavailable && (be->caps & FP_CAP_PINS))
			f->backends[f->nbackends++] = be->name;
	}
}

static void add_memtypes(struct fp_filter *f)
{
	size_t i;

	for (i = 0; i < COUNT(quick_memtypes) && f->nmemtypes < FP_MAX_FILTER; i++)
		if (fp_memtype_find(quick_memtypes[i]))
			f->memtypes[f->nmemtypes++] = quick_memtypes[i];
}

static void add_scenarios(struct fp_filter *f)
{
	size_t i;

	for (i = 0; i < COUNT(quick_scenarios) && f->nscenarios < FP_MAX_FILTER; i++)
		if (fp_scenario_find(quick_scenarios[i]))
			f->scenarios[f->nscenarios++] = quick_scenarios[i];
	for (i = 0; i < fp_scenario_count && f->nscenarios < FP_MAX_FILTER; i++)
		if (fp_scenarios[i].control)
			f->scenarios[f->nscenarios++] = fp_scenarios[i].name;
}

bool fp_profile_exists(const char *name)
{
	return !strcmp(name, "quick");
}

bool fp_profile_apply(const char *name, struct fp_filter *filter)
{
	if (!fp_profile_exists(name))
		return false;
	if (!filter->nbackends)
		add_backends(filter);
	if (!filter->nmemtypes)
		add_memtypes(filter);
	if (!filter->nscenarios)
		add_scenarios(filter);
	return true;
}

const char *fp_profile_names(void)
{
	return "quick (the pinning backends x anon, thp-pmd, hugetlb-2m x the scenarios that "
	       "catch the most, and the controls)";
}

/* SPDX-License-Identifier: MIT */
/*
 * Scenarios: what a case does around fork(). One row each in scenarios[] (scenarios.c).
 * A scenario talks to the device only through the fp_dev_*() dispatcher and states the
 * capabilities it needs; it never knows which backend runs it.
 */
#ifndef FORKPIN_SCENARIOS_H
#define FORKPIN_SCENARIOS_H

#include <stdbool.h>
#include <stdint.h>

#include "case.h"

struct fp_scenario {
	const char *name;    /* CLI word, the last part of a case id */
	const char *summary; /* one line for `forkpin list` */
	void (*run)(struct fp_ctx *ctx);
	unsigned needs_caps;   /* enum fp_caps the backend must have */
	unsigned mem_needs;    /* enum fp_mem_flags the memory type must have */
	unsigned mem_avoid;    /* enum fp_mem_flags the memory type must not have */
	enum fp_access access; /* how the case registers the buffer */
	/* non-NULL: a negative control; the case must FAIL its data check, and the text says
	 * why (a control that passes means forkpin can no longer detect lost DMA) */
	const char *control;
	/* takes every unit of its memory type's resource (resource.h), not one: the case empties
	 * a pool that the cases beside it would draw from */
	bool empties_pool;
	/* its threads must run side by side (a race with fork): the case keeps every CPU the
	 * run may use instead of staying on one (runner.c: stay_on_one_cpu) */
	bool needs_cpus;
};

extern const struct fp_scenario fp_scenarios[];
extern const size_t fp_scenario_count;
const struct fp_scenario *fp_scenario_find(const char *name);

#endif

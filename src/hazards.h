/* SPDX-License-Identifier: MIT */
/*
 * The hazard scenarios (hazards.c): a pin that meets a page that is or was COW-shared, or
 * whose PTE is write-protected after pinning. Their rows are in the scenarios table.
 */
#ifndef FORKPIN_HAZARDS_H
#define FORKPIN_HAZARDS_H

#include "case.h"

void fp_scenario_pin_after_fork(struct fp_ctx *ctx);
void fp_scenario_pin_previously_shared(struct fp_ctx *ctx);
void fp_scenario_reprotect(struct fp_ctx *ctx);
void fp_scenario_reprotect_softdirty(struct fp_ctx *ctx);
void fp_scenario_reprotect_uffd_wp(struct fp_ctx *ctx);
void fp_scenario_wipeonfork(struct fp_ctx *ctx);
void fp_scenario_threaded_fork(struct fp_ctx *ctx);
void fp_scenario_threaded_fork_register(struct fp_ctx *ctx);
void fp_scenario_pageout(struct fp_ctx *ctx);
void fp_scenario_pageout_before_pin(struct fp_ctx *ctx);
void fp_scenario_collapse(struct fp_ctx *ctx);

#endif

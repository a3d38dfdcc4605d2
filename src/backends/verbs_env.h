/* SPDX-License-Identifier: MIT */
/* The verbs backends' fingerprint (verbs_env.c), shared by the rows in verbs.c. */
#ifndef FORKPIN_VERBS_ENV_H
#define FORKPIN_VERBS_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "../env.h"

/*
 * Add "verbs.*" keys to @env: libibverbs version, the kernel's copy-on-fork flag,
 * ibv_is_fork_initialized() with and without ibv_fork_init(), whether --fork-init really
 * makes registrations MADV_DONTFORK, the fork environment variables, vm.max_map_count and
 * the VMA count, and per device its driver, ids, firmware, ports and ODP caps.
 */
void verbs_fingerprint(struct fp_env *env);

struct ibv_context;

/*
 * Whether @ctx is an rxe device on a kernel whose rxe soft-locks on forkpin's gate (an RNR-
 * NAKed SEND, see verbs_env.c); then @why (of @size bytes) says so, as a SKIP reason.
 */
bool verbs_rxe_rnr_lockup(struct ibv_context *ctx, const char *release, char *why, size_t size);

#endif

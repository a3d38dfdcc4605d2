/* SPDX-License-Identifier: MIT */
/*
 * The environment fingerprint: ordered key/value pairs that identify the machine under test
 * (kernel, THP/hugetlb settings, limits, each backend's stack). Reports embed it verbatim.
 */
#ifndef FORKPIN_ENV_H
#define FORKPIN_ENV_H

#include <stddef.h>

#define FP_ENV_MAX 256

struct fp_env_item {
	char key[64];
	char value[256];
};

struct fp_env {
	size_t count;
	struct fp_env_item items[FP_ENV_MAX];
};

/* Add or replace @key; silently drops entries past FP_ENV_MAX (a fingerprint must not fail). */
void fp_env_set(struct fp_env *env, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *fp_env_get(const struct fp_env *env, const char *key);

/* Reset @env to the host's facts: build, kernel, THP, hugetlb pools, limits. The backends'
 * part is added by fp_fingerprint_collect() (backend.h), which calls this first. */
void fp_env_collect_host(struct fp_env *env);

#endif

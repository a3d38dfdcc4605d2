/* SPDX-License-Identifier: MIT */
/* The host part of the fingerprint: kernel, THP, hugetlb, limits, build. */
#define _GNU_SOURCE
#include "env.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>

void fp_env_set(struct fp_env *env, const char *key, const char *fmt, ...)
{
	struct fp_env_item *item = NULL;
	va_list ap;
	size_t i;

	for (i = 0; i < env->count; i++)
		if (!strcmp(env->items[i].key, key))
			item = &env->items[i];
	if (!item) {
		if (env->count == FP_ENV_MAX)
			return;
		item = &env->items[env->count++];
		snprintf(item->key, sizeof(item->key), "%s", key);
	}
	va_start(ap, fmt);
	vsnprintf(item->value, sizeof(item->value), fmt, ap);
	va_end(ap);
}

const char *fp_env_get(const struct fp_env *env, const char *key)
{
	size_t i;

	for (i = 0; i < env->count; i++)
		if (!strcmp(env->items[i].key, key))
			return env->items[i].value;
	return NULL;
}

/* Copy a one-line file into the env, or "unavailable". */
static void env_file(struct fp_env *env, const char *key, const char *path)
{
	char line[256];

	if (fp_read_line(path, line, sizeof(line)))
		snprintf(line, sizeof(line), "unavailable");
	fp_env_set(env, key, "%s", line);
}

static void env_kernel(struct fp_env *env)
{
	struct utsname u;

	if (uname(&u) == 0) {
		fp_env_set(env, "kernel.release", "%s", u.release);
		fp_env_set(env, "kernel.version", "%s", u.version);
		fp_env_set(env, "kernel.machine", "%s", u.machine);
	}
}

static void env_thp(struct fp_env *env)
{
	env_file(env, "thp.enabled", "/sys/kernel/mm/transparent_hugepage/enabled");
	env_file(env, "thp.defrag", "/sys/kernel/mm/transparent_hugepage/defrag");
}

static void env_hugetlb(struct fp_env *env)
{
	static const struct {
		const char *key;
		const char *dir;
	} pools[] = {
	    {"hugetlb.2M", "/sys/kernel/mm/hugepages/hugepages-2048kB"},
	    {"hugetlb.1G", "/sys/kernel/mm/hugepages/hugepages-1048576kB"},
	};
	size_t i;

	for (i = 0; i < FP_ARRAY_SIZE(pools); i++) {
		char path[128];
		unsigned long nr = 0, free_pages = 0, surplus = 0;

		snprintf(path, sizeof(path), "%s/nr_hugepages", pools[i].dir);
		if (fp_read_ulong(path, &nr)) {
			fp_env_set(env, pools[i].key, "unsupported");
			continue;
		}
		snprintf(path, sizeof(path), "%s/free_hugepages", pools[i].dir);
		fp_read_ulong(path, &free_pages);
		snprintf(path, sizeof(path), "%s/surplus_hugepages", pools[i].dir);
		fp_read_ulong(path, &surplus);
		fp_env_set(env, pools[i].key, "nr=%lu free=%lu surplus=%lu", nr, free_pages,
			   surplus);
	}
	env_file(env, "hugetlb.overcommit", "/proc/sys/vm/nr_overcommit_hugepages");
}

static void env_limits(struct fp_env *env)
{
	struct rlimit rl;
	char size[32];

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		if (rl.rlim_cur == RLIM_INFINITY)
			fp_env_set(env, "rlimit.memlock", "unlimited");
		else
			fp_env_set(env, "rlimit.memlock", "%s",
				   fp_format_size((size_t)rl.rlim_cur, size, sizeof(size)));
	}
	fp_env_set(env, "cap.ipc_lock", "%s", fp_has_cap_ipc_lock() ? "yes" : "no");
	env_file(env, "vm.max_map_count", "/proc/sys/vm/max_map_count");
}

static void env_build(struct fp_env *env)
{
	fp_env_set(env, "forkpin.version", "%s", FORKPIN_VERSION);
	fp_env_set(env, "forkpin.build", "%s", FORKPIN_BUILD_OPTIONS);
}

void fp_env_collect_host(struct fp_env *env)
{
	memset(env, 0, sizeof(*env));
	env_build(env);
	env_kernel(env);
	env_thp(env);
	env_hugetlb(env);
	env_limits(env);
}

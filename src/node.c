/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "node.h"
#include "util.h"

#include <dirent.h>
#include <stdbool.h>
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The kernel command line's IOMMU settings: they decide translation vs passthrough. */
static const char *const iommu_params[] = {
    "intel_iommu=", "amd_iommu=", "iommu=", "iommu.passthrough=", "iommu.strict=", "iommufd"};

static void node_hostname(struct fp_env *env)
{
	char name[256];

	if (gethostname(name, sizeof(name)))
		snprintf(name, sizeof(name), "unknown");
	name[sizeof(name) - 1] = '\0';
	fp_env_set(env, "node.hostname", "%s", name);
}

/* libibverbs' real file name (libibverbs.so.1.14.44.0) carries rdma-core's version (44.0). */
static void node_rdma_core(struct fp_env *env)
{
	void *lib = dlopen("libibverbs.so.1", RTLD_LAZY | RTLD_LOCAL);
	struct link_map *map = NULL;
	char real[PATH_MAX];
	const char *ver;
	unsigned a, b, c, d;

	if (!lib) {
		fp_env_set(env, "node.rdma_core", "not installed (no libibverbs.so.1)");
		return;
	}
	if (!dlinfo(lib, RTLD_DI_LINKMAP, &map) && map && realpath(map->l_name, real) &&
	    (ver = strstr(real, ".so.")) && sscanf(ver + 4, "%u.%u.%u.%u", &a, &b, &c, &d) == 4)
		fp_env_set(env, "node.rdma_core", "%u.%u", c, d);
	else
		fp_env_set(env, "node.rdma_core", "unknown (libibverbs' file name has no version)");
	dlclose(lib);
}

/* nic.DEV.fw_ver and nic.DEV.board_id for each RDMA device the kernel has. */
static void node_nics(struct fp_env *env)
{
	static const char *const attrs[] = {"fw_ver", "board_id", "node_type"};
	DIR *d = opendir("/sys/class/infiniband");
	struct dirent *e;
	int found = 0;
	size_t i;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
			char path[512], key[64], value[128];

			snprintf(path, sizeof(path), "/sys/class/infiniband/%s/%s", e->d_name,
				 attrs[i]);
			snprintf(key, sizeof(key), "nic.%.40s.%s", e->d_name, attrs[i]);
			if (fp_read_line(path, value, sizeof(value)))
				snprintf(value, sizeof(value), "unavailable");
			fp_env_set(env, key, "%s", value);
		}
		found++;
	}
	if (d)
		closedir(d);
	fp_env_set(env, "node.nics", "%d RDMA device(s) in /sys/class/infiniband", found);
}

static const char *iommu_mode(bool has_units, const char *domain_type)
{
	if (!has_units)
		return "off (no IOMMU unit)";
	if (!strcmp(domain_type, "identity"))
		return "passthrough";
	return strncmp(domain_type, "DMA", 3) ? "unknown" : "translated";
}

/* The IOMMU units (/sys/class/iommu), the command line's settings and the default domain
 * type of the first IOMMU group (DMA, DMA-FQ: translated; identity: passthrough). */
static void node_iommu(struct fp_env *env)
{
	char units[200] = "", cmdline[4096] = "", params[256] = "", type[64] = "";
	DIR *d = opendir("/sys/class/iommu");
	struct dirent *e;
	size_t len = 0, i;
	char *word, *save;
	bool has_units;

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && len < sizeof(units))
			len += (size_t)snprintf(units + len, sizeof(units) - len, "%s%s",
						len ? " " : "", e->d_name);
	if (d)
		closedir(d);
	fp_env_set(env, "iommu.units", "%s", len ? units : "none");
	has_units = len != 0;
	if (fp_read_line("/proc/cmdline", cmdline, sizeof(cmdline)))
		cmdline[0] = '\0';
	len = 0;
	for (word = strtok_r(cmdline, " ", &save); word; word = strtok_r(NULL, " ", &save))
		for (i = 0; i < sizeof(iommu_params) / sizeof(iommu_params[0]); i++)
			if (!strncmp(word, iommu_params[i], strlen(iommu_params[i])) &&
			    len < sizeof(params))
				len += (size_t)snprintf(params + len, sizeof(params) - len, "%s%s",
							len ? " " : "", word);
	fp_env_set(env, "iommu.cmdline", "%s", len ? params : "(none)");
	if (fp_read_line("/sys/kernel/iommu_groups/0/type", type, sizeof(type)))
		snprintf(type, sizeof(type), "no IOMMU groups");
	fp_env_set(env, "iommu.default_domain", "%s", type);
	fp_env_set(env, "iommu.mode", "%s", iommu_mode(has_units, type));
}

void fp_env_collect_node(struct fp_env *env)
{
	node_hostname(env);
	node_rdma_core(env);
	node_nics(env);
	node_iommu(env);
}

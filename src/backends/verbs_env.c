// SPDX-License-Identifier: MIT
/*
 * The verbs backends' fingerprint: what identifies the RDMA stack of this machine (see
 * verbs_env.h). Called in forkpin's main process, it runs in a child (libibverbs is never
 * loaded into the main process: see rdma_lib.c); never fails, reports "unknown" instead.
 */
#define _GNU_SOURCE
#include "verbs_env.h"

#if HAVE_LIBIBVERBS

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "../backend.h"
#include "../known_issues.h"
#include "../rdma_nl.h"
#include "../util.h"
#include "rdma_lib.h"

static const char *verbs_link_layer_str(uint8_t ll)
{
	switch (ll) {
	case IBV_LINK_LAYER_INFINIBAND:
		return "InfiniBand";
	case IBV_LINK_LAYER_ETHERNET:
		return "Ethernet";
	default:
		return "unspecified";
	}
}

static int verbs_mtu_bytes(enum ibv_mtu mtu)
{
	return mtu >= IBV_MTU_256 && mtu <= IBV_MTU_4096 ? 128 << mtu : 0;
}

static const char *verbs_fork_status_str(int s)
{
#if HAVE_IBV_IS_FORK_INITIALIZED
	switch (s) {
	case IBV_FORK_DISABLED:
		return "DISABLED";
	case IBV_FORK_ENABLED:
		return "ENABLED (registrations are MADV_DONTFORK)";
	case IBV_FORK_UNNEEDED:
		return "UNNEEDED (the kernel copies pinned pages for the child)";
	}
#endif
	(void)s;
	return "unknown";
}

/* libibverbs' real file name gives its version: libibverbs.so.1.14.44.0 is rdma-core 44.0. */
static void verbs_fp_library(struct fp_env *env)
{
	Dl_info info;
	char real[PATH_MAX];
	const char *base, *ver;

	if (!dladdr(fp_rdma_lib_sym(FP_RDMA_IBVERBS, "ibv_get_device_list"), &info) ||
	    !info.dli_fname || !realpath(info.dli_fname, real)) {
		fp_env_set(env, "verbs.libibverbs", "unknown");
		return;
	}
	base = strrchr(real, '/');
	base = base ? base + 1 : real;
	ver = strstr(base, ".so.");
	if (ver) {
		unsigned a, b, c, d;

		ver += 4;
		if (sscanf(ver, "%u.%u.%u.%u", &a, &b, &c, &d) == 4)
			fp_env_set(env, "verbs.libibverbs", "%s (rdma-core %u.%u) %s", ver, c, d,
				   real);
		else
			fp_env_set(env, "verbs.libibverbs", "%s %s", ver, real);
	} else {
		fp_env_set(env, "verbs.libibverbs", "unknown (%s)", real);
	}
}

/* True when the VMA holding @addr has the `dc` (VM_DONTCOPY, MADV_DONTFORK) VmFlag. */
static bool verbs_vma_dontcopy(const void *addr)
{
	char line[512];
	bool in = false, dc = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) { /* a VMA's header line */
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		} else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			dc = strstr(line, " dc") != NULL;
			break;
		}
	}
	fclose(f);
	return dc;
}

/* Register @p on the first device and tell whether that made its VMA `dc`; -1 if no device. */
static int verbs_probe_reg_dontcopy(void *p, size_t len)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	struct ibv_pd *pd = NULL;
	struct ibv_mr *mr = NULL;
	int n = 0, ret = -1;

	list = ibv_get_device_list(&n);
	if (list && n > 0)
		ctx = ibv_open_device(list[0]);
	if (ctx)
		pd = ibv_alloc_pd(ctx);
	if (pd)
		mr = ibv_reg_mr(pd, p, len, IBV_ACCESS_LOCAL_WRITE);
	if (mr) {
		ret = verbs_vma_dontcopy(p);
		ibv_dereg_mr(mr);
	}
	if (pd)
		ibv_dealloc_pd(pd);
	if (ctx)
		ibv_close_device(ctx);
	if (list)
		ibv_free_device_list(list);
	return ret;
}

/*
 * What --fork-init does to this machine's registrations, probed in a throw-away child (the
 * main process must not change its own fork behaviour): ibv_is_fork_initialized() after
 * ibv_fork_init(), and whether a registration (of one page, on the first device) really is
 * MADV_DONTFORK. rdma-core before v51 applies DONTFORK even while it reports UNNEEDED.
 */
static void verbs_fp_fork_probe(struct fp_env *env)
{
	int fds[2], status;
	pid_t pid;
	int res[3] = {-1, -1, -1};

	if (pipe(fds))
		return;
	pid = fork();
	if (pid == 0) {
		long page = sysconf(_SC_PAGESIZE);
		void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		close(fds[0]);
		setenv("RDMAV_FORK_SAFE", "1", 1);
		res[0] = ibv_fork_init();
#if HAVE_IBV_IS_FORK_INITIALIZED
		res[1] = ibv_is_fork_initialized();
#endif
		if (p != MAP_FAILED)
			res[2] = verbs_probe_reg_dontcopy(p, (size_t)page);
		if (fp_write_all(fds[1], res, sizeof(res)))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (pid > 0 && fp_wait_readable(fds[0], 5000) == 1 &&
	    fp_read_all(fds[0], res, sizeof(res)) == 0) {
		fp_env_set(env, "verbs.fork_status_with_fork_init", "%s%s%s",
			   verbs_fork_status_str(res[1]), res[0] ? ", ibv_fork_init: " : "",
			   res[0] ? strerror(res[0]) : "");
		fp_env_set(env, "verbs.fork_init_dontfork", "%s",
			   res[2] == 1	 ? "yes: with --fork-init registered ranges are "
					   "MADV_DONTFORK (children cannot touch them)"
			   : res[2] == 0 ? "no: --fork-init leaves registered ranges forkable"
					 : "unknown (no RDMA device to register a page on)");
	} else {
		fp_env_set(env, "verbs.fork_status_with_fork_init", "unknown (probe failed)");
	}
	close(fds[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
}

/* Record rxe's RNR soft lockup (verbs_rxe_rnr_lockup) as a property of the device. */
static void verbs_fp_rnr_lockup(struct fp_env *env, struct ibv_context *ctx, const char *name)
{
	char key[64], why[512];
	struct utsname u;

	if (uname(&u) || !verbs_rxe_rnr_lockup(ctx, u.release, why, sizeof(why)))
		return;
	snprintf(key, sizeof(key), "verbs.%s.rnr_lockup", name);
	fp_env_set(env, key,
		   "yes: rxe before 6.0 retries RNR NAKs without the RNR timer (fixed by "
		   "445fd4f4fb76); verbs cases SKIP");
}

static void verbs_fp_device(struct fp_env *env, struct ibv_device *d)
{
	const char *name = ibv_get_device_name(d);
	struct ibv_context *ctx = ibv_open_device(d);
	struct ibv_device_attr_ex ex;
	char path[PATH_MAX], link[PATH_MAX], key[64];
	const char *driver = NULL;
	ssize_t n;

	snprintf(key, sizeof(key), "verbs.%s.transport", name);
	fp_env_set(env, key, "%s (%s)",
		   d->transport_type == IBV_TRANSPORT_IB      ? "IB"
		   : d->transport_type == IBV_TRANSPORT_IWARP ? "iWARP"
							      : "other",
		   ibv_node_type_str(d->node_type));
	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/device/driver", name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		driver = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	}
	if (!ctx) {
		snprintf(key, sizeof(key), "verbs.%s.driver", name);
		fp_env_set(env, key, "%s", driver ? driver : "unknown");
		snprintf(key, sizeof(key), "verbs.%s.error", name);
		fp_env_set(env, key, "ibv_open_device: %s", strerror(errno));
		return;
	}
	memset(&ex, 0, sizeof(ex));
	if (ibv_query_device_ex(ctx, NULL, &ex) == 0) {
		const struct ibv_device_attr *a = &ex.orig_attr;
		char parent[64] = "";

		if (!driver) { /* software devices have no PCI driver */
			snprintf(path, sizeof(path), "/sys/class/infiniband/%s/parent", name);
			fp_read_line(path, parent, sizeof(parent));
			driver = a->vendor_id == 0xffffff   ? "rxe"
				 : a->vendor_id == 0x626d74 ? "siw"
							    : "none (software device)";
		}
		snprintf(key, sizeof(key), "verbs.%s.driver", name);
		fp_env_set(env, key, "%s%s%s", driver, parent[0] ? ", netdev " : "", parent);
		snprintf(key, sizeof(key), "verbs.%s.vendor", name);
		fp_env_set(env, key, "vendor 0x%x part 0x%x hw_ver 0x%x", a->vendor_id,
			   a->vendor_part_id, a->hw_ver);
		snprintf(key, sizeof(key), "verbs.%s.fw_ver", name);
		fp_env_set(env, key, "%s", a->fw_ver[0] ? a->fw_ver : "none");
		snprintf(key, sizeof(key), "verbs.%s.odp", name);
		if (ex.odp_caps.general_caps & IBV_ODP_SUPPORT)
			fp_env_set(env, key, "general 0x%llx rc 0x%x (write %s, read %s)",
				   (unsigned long long)ex.odp_caps.general_caps,
				   ex.odp_caps.per_transport_caps.rc_odp_caps,
				   ex.odp_caps.per_transport_caps.rc_odp_caps &
					   IBV_ODP_SUPPORT_WRITE
				       ? "yes"
				       : "no",
				   ex.odp_caps.per_transport_caps.rc_odp_caps & IBV_ODP_SUPPORT_READ
				       ? "yes"
				       : "no");
		else
			fp_env_set(env, key, "none");
		for (unsigned port = 1; port <= a->phys_port_cnt; port++) {
			struct ibv_port_attr pa;

			if (ibv_query_port(ctx, (uint8_t)port, &pa))
				continue;
			snprintf(key, sizeof(key), "verbs.%s.port%u", name, port);
			fp_env_set(env, key, "%s, link layer %s, active MTU %d, lid %u",
				   ibv_port_state_str(pa.state),
				   verbs_link_layer_str(pa.link_layer),
				   verbs_mtu_bytes(pa.active_mtu), pa.lid);
		}
	} else {
		snprintf(key, sizeof(key), "verbs.%s.driver", name);
		fp_env_set(env, key, "%s", driver ? driver : "unknown");
	}
	verbs_fp_rnr_lockup(env, ctx, name);
	ibv_close_device(ctx);
}

/* The fingerprint, in the child that verbs_fingerprint() starts. */
static void verbs_fingerprint_here(struct fp_env *env)
{
	struct ibv_device **list;
	char why[256], names[256] = "";
	const char *v;
	unsigned long ul;
	int n = 0, cof;
	FILE *maps;

	v = fp_rdma_lib_missing(FP_RDMA_IBVERBS);
	if (v) {
		fp_env_set(env, "verbs", "%s", v);
		return;
	}
	verbs_fp_library(env);
	cof = fp_rdma_copy_on_fork(why, sizeof(why));
	if (cof >= 0)
		fp_env_set(env, "verbs.copy_on_fork", "%d", cof);
	else
		fp_env_set(env, "verbs.copy_on_fork", "unknown: %s", why);
#if HAVE_IBV_IS_FORK_INITIALIZED
	fp_env_set(env, "verbs.fork_status", "%s",
		   verbs_fork_status_str(ibv_is_fork_initialized()));
#else
	fp_env_set(env, "verbs.fork_status",
		   "unknown: libibverbs has no ibv_is_fork_initialized (rdma-core < 35)");
#endif
	fp_env_set(env, "verbs.fork_init_option", "%s",
		   fp_option_get("fork-init") ? "on (ibv_fork_init + RDMAV_FORK_SAFE=1 per case)"
					      : "off");
	verbs_fp_fork_probe(env);
	v = getenv("RDMAV_FORK_SAFE");
	fp_env_set(env, "verbs.env.RDMAV_FORK_SAFE", "%s", v ? v : "unset");
	v = getenv("IBV_FORK_SAFE");
	fp_env_set(env, "verbs.env.IBV_FORK_SAFE", "%s", v ? v : "unset");
	v = getenv("RDMAV_HUGEPAGES_SAFE");
	fp_env_set(env, "verbs.env.RDMAV_HUGEPAGES_SAFE", "%s", v ? v : "unset");
	if (fp_read_ulong("/proc/sys/vm/max_map_count", &ul) == 0)
		fp_env_set(env, "verbs.vm.max_map_count", "%lu", ul);
	maps = fopen("/proc/self/maps", "re");
	if (maps) {
		unsigned long vmas = 0;
		int c;

		while ((c = fgetc(maps)) != EOF)
			vmas += c == '\n';
		fclose(maps);
		fp_env_set(env, "verbs.vma_count", "%lu", vmas);
	}
	list = ibv_get_device_list(&n);
	for (int i = 0; list && i < n; i++) {
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? " " : "",
			 ibv_get_device_name(list[i]));
		verbs_fp_device(env, list[i]);
	}
	fp_env_set(env, "verbs.devices", "%s", n ? names : "none");
	if (list)
		ibv_free_device_list(list);
}

/* The child of verbs_fingerprint(): its keys as "KEY\tVALUE\n" lines. */
static int verbs_fingerprint_child(void *arg, char *out, size_t size)
{
	struct fp_env *env = calloc(1, sizeof(*env));
	size_t used = 0;

	(void)arg;
	if (!env)
		return 1;
	verbs_fingerprint_here(env);
	for (size_t i = 0; i < env->count && used < size; i++) {
		char *nl;

		while ((nl = strchr(env->items[i].value, '\n')))
			*nl = ' ';
		used += (size_t)snprintf(out + used, size - used, "%s\t%s\n", env->items[i].key,
					 env->items[i].value);
	}
	free(env);
	return 0;
}

/* a child that opens each device, and forks the --fork-init probe (5 s at most) */
#define VERBS_FINGERPRINT_MS 20000

void verbs_fingerprint(struct fp_env *env)
{
	size_t size = FP_ENV_MAX * (sizeof(env->items[0]) + 2);
	char *text = malloc(size), *line, *save = NULL;

	if (!text || fp_text_from_child(verbs_fingerprint_child, NULL, text, size,
					VERBS_FINGERPRINT_MS) != 0) {
		fp_env_set(env, "verbs", "unknown: the fingerprint's child process failed");
		free(text);
		return;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');

		if (tab) {
			*tab = '\0';
			fp_env_set(env, line, "%s", tab + 1);
		}
	}
	free(text);
}

/* rxe's vendor id (RXE_VENDOR_ID in the kernel's rxe_param.h) */
#define VERBS_RXE_VENDOR_ID 0xffffffu

/*
 * rxe before 6.0 answers an RNR NAK by retrying at once instead of after the RNR timer
 * (fixed by 445fd4f4fb76 "RDMA/rxe: Fix rnr retry behavior"; the retry loop got a bound in
 * eff6d998ca29, also 6.0), and for a user QP it runs the requester, and through loopback the
 * responder and completer, inside ibv_post_send(). forkpin's gate is a SEND queued before
 * its receive with rnr_retry 7 (retry forever), so the post never returns: the CPU loops in
 * rxe_requester (soft lockup, RCU stall; seen on Debian 11's 5.10.262). Any application
 * that sends before the peer posts its receive hangs such a kernel the same way: the
 * kernel's defect, so the case is a SKIP decided before anything is posted.
 */
bool verbs_rxe_rnr_lockup(struct ibv_context *ctx, const char *release, char *why, size_t size)
{
	struct ibv_device_attr da;

	if (fp_kernel_before(release, (struct fp_kernel_version){6, 0}) != 1 ||
	    ibv_query_device(ctx, &da) || da.vendor_id != VERBS_RXE_VENDOR_ID)
		return false;
	snprintf(why, size,
		 "%s is rxe on kernel %s: rxe before 6.0 retries an RNR NAK without waiting for "
		 "the RNR timer, inside ibv_post_send(), and forkpin's gated transfer (a SEND "
		 "queued before its receive) soft-locks that kernel (fixed by 445fd4f4fb76 "
		 "\"RDMA/rxe: Fix rnr retry behavior\", 6.0); see docs/verbs.md",
		 ibv_get_device_name(ctx->device), release);
	return true;
}

#endif /* HAVE_LIBIBVERBS */

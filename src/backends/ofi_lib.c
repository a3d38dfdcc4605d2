// SPDX-License-Identifier: MIT
/*
 * libfabric for the processes that use it (ofi_lib.h): the loader and what the ofi rows,
 * the ofi-remote row and `forkpin peer --ofi` share.
 */
#define _GNU_SOURCE
#include "ofi_lib.h"

#include <string.h>

#include "../util.h"

/*
 * Core providers whose fi_mr_reg pins through a kernel driver (ib_umem for verbs and efa,
 * the cxi and usnic drivers, psm3 over verbs). Any other provider is treated as not pinning:
 * forkpin claims a DMA proof only where it knows pins are taken.
 */
static const char *const ofi_pinning_providers[] = {"verbs", "efa", "psm3", "cxi", "usnic"};

/* The core provider of a provider name: "verbs" for "verbs;ofi_rxm". */
bool ofi_provider_pins(const char *prov_name)
{
	size_t n = strcspn(prov_name, ";"), i;

	for (i = 0; i < FP_ARRAY_SIZE(ofi_pinning_providers); i++)
		if (strlen(ofi_pinning_providers[i]) == n &&
		    !strncmp(prov_name, ofi_pinning_providers[i], n))
			return true;
	return false;
}

#if HAVE_LIBFABRIC

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * libfabric is loaded with dlopen() by the processes that use it (case and query processes),
 * never linked into forkpin: the libraries it pulls in (libpsm_infinipath, through the psm
 * provider) install SIGSEGV/SIGABRT handlers from their constructors that turn a crash into
 * exit(1). Linked, they would run in every forkpin process and hide the signals by which
 * every backend's cases report crashes and MADV_DONTFORK faults. ofi_load() also puts back
 * whatever signal dispositions the process had before the load.
 */
#define OFI_LIBRARY "libfabric.so.1"
struct ofi_lib_fn ofi_fn;
static void *ofi_lib; /* libfabric's handle, once loaded */

int ofi_load(char *err, size_t size)
{
	static const struct {
		const char *name;
		size_t offset;
	} syms[] = {
	    {"fi_getinfo", offsetof(struct ofi_lib_fn, getinfo)},
	    {"fi_freeinfo", offsetof(struct ofi_lib_fn, freeinfo)},
	    {"fi_dupinfo", offsetof(struct ofi_lib_fn, dupinfo)},
	    {"fi_fabric", offsetof(struct ofi_lib_fn, fabric)},
	    {"fi_strerror", offsetof(struct ofi_lib_fn, strerror)},
	    {"fi_version", offsetof(struct ofi_lib_fn, version)},
	    {"fi_getparams", offsetof(struct ofi_lib_fn, getparams)},
	    {"fi_freeparams", offsetof(struct ofi_lib_fn, freeparams)},
	};
	static struct sigaction saved[NSIG];
	size_t i;
	int sig;

	if (ofi_lib)
		return 0;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, NULL, &saved[sig]);
	ofi_lib = dlopen(OFI_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &saved[sig], NULL);
	if (!ofi_lib) {
		snprintf(err, size, "dlopen(%s): %s: install libfabric1", OFI_LIBRARY, dlerror());
		return -ENODEV;
	}
	for (i = 0; i < FP_ARRAY_SIZE(syms); i++) {
		void *f = dlsym(ofi_lib, syms[i].name);

		if (!f) {
			snprintf(err, size, "%s: no symbol %s", OFI_LIBRARY, syms[i].name);
			dlclose(ofi_lib);
			ofi_lib = NULL;
			return -ENODEV;
		}
		memcpy((char *)&ofi_fn + syms[i].offset, &f, sizeof(f));
	}
	return 0;
}

/*
 * Provider parameters for a case process, set before libfabric initialises (in the case
 * process or the zygote, never in main); a user's value wins.
 * FI_UNIVERSE_SIZE: ofi_rxm sizes its core CQ as (tx + rx queue) x universe size: with the
 * default universe of 256 that exceeds rxe's and many NICs' CQ limit, and fi_enable fails
 * with EINVAL. One endpoint talks to itself (ofi) or to one peer (ofi-remote) here.
 * FI_OFI_RXM_*: by default ofi_rxm fills four pools of 1024 x 16 KiB buffers per endpoint,
 * ~70 MB of zeroed pages that cost a case ~70 ms of CPU; a case keeps one operation
 * outstanding, and an RMA larger than the buffer goes by rendezvous either way.
 */
void ofi_case_env(void)
{
	setenv("FI_UNIVERSE_SIZE", "16", 0);
	setenv("FI_OFI_RXM_MSG_TX_SIZE", "16", 0);
	setenv("FI_OFI_RXM_MSG_RX_SIZE", "16", 0);
	setenv("FI_OFI_RXM_BUFFER_SIZE", "1024", 0);
}

/*
 * libibverbs' start-up in a process that has loaded libfabric: ibv_get_device_list() reads
 * /etc/libibverbs.d and dlopen()s every verbs driver it names (17 on Debian 12), then matches
 * sysfs; it opens no device. Done by a zygote, it spares each case process those loads (over
 * the test VM's 9p root, ~0.1 s under TCG). libfabric links libibverbs, so its handle
 * reaches it; where it does not (a build without the verbs provider) there is nothing to do.
 */
void ofi_load_verbs_drivers(void)
{
	void **(*get_list)(int *count);
	void (*free_list)(void **list);
	void **list;
	int count;

	if (!ofi_lib)
		return;
	*(void **)&get_list = dlsym(ofi_lib, "ibv_get_device_list");
	*(void **)&free_list = dlsym(ofi_lib, "ibv_free_device_list");
	if (!get_list || !free_list)
		return;
	list = get_list(&count);
	if (list)
		free_list(list);
}

int ofi_prepare_providers(char *err, size_t size, bool *usable)
{
	struct fi_param *params;
	int count;

	ofi_case_env();
	if (ofi_load(err, size)) {
		*usable = false;
		return 1;
	}
	if (!ofi_fn.getparams(&params, &count))
		ofi_fn.freeparams(params);
	return 0;
}

#endif /* HAVE_LIBFABRIC */

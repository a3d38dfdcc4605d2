/* SPDX-License-Identifier: MIT */
/*
 * libfabric for the processes that use it: the ofi rows (ofi.c), the ofi-remote row
 * (ofi_remote.c) and `forkpin peer --ofi` (peer_ofi.c). libfabric is loaded with dlopen(),
 * never linked into forkpin: see ofi_load() in ofi_lib.c for why.
 */
#ifndef FORKPIN_OFI_LIB_H
#define FORKPIN_OFI_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if HAVE_LIBFABRIC

#include <rdma/fabric.h>

/* The few libfabric entry points that are real symbols (the rest are inline calls through a
 * fid's ops); valid after ofi_load() returned 0. */
struct ofi_lib_fn {
	int (*getinfo)(uint32_t version, const char *node, const char *service, uint64_t flags,
		       const struct fi_info *hints, struct fi_info **info);
	void (*freeinfo)(struct fi_info *info);
	struct fi_info *(*dupinfo)(const struct fi_info *info);
	int (*fabric)(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context);
	const char *(*strerror)(int errnum);
	uint32_t (*version)(void);
	int (*getparams)(struct fi_param **params, int *count);
	void (*freeparams)(struct fi_param *params);
};
extern struct ofi_lib_fn ofi_fn;

/* Load libfabric once per process; 0, or -ENODEV with the reason in @err. */
int ofi_load(char *err, size_t size);

/* Load libibverbs' verbs drivers (no device opened) through libfabric's own libibverbs: a
 * zygote's preparation for case processes that initialise the verbs provider themselves. */
void ofi_load_verbs_drivers(void);

/* Provider parameters for a process that opens one endpoint talking to one other, set before
 * libfabric initialises; a user's value wins (ofi_lib.c says why each). */
void ofi_case_env(void);

/*
 * A zygote's preparation (ofi_zygote.h) that holds no descriptor: load libfabric and run every
 * provider's init (fi_getparams), but no fi_getinfo, which may open a device. 0, or 1 with
 * *usable false and @err saying why libfabric could not load.
 */
int ofi_prepare_providers(char *err, size_t size, bool *usable);

#define OFI_API_VERSION FI_VERSION(FI_MAJOR_VERSION, FI_MINOR_VERSION)

#endif /* HAVE_LIBFABRIC */

/* Does provider @prov_name ("verbs;ofi_rxm": its core provider "verbs") take long-term pins
 * through a kernel driver? Only those prove anything about DMA across fork(). */
bool ofi_provider_pins(const char *prov_name);

#endif

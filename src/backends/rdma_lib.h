/* SPDX-License-Identifier: MIT */
/*
 * rdma-core (libibverbs, librdmacm) for the processes that use it: forkpin is not linked with
 * them; rdma_lib.c defines the ibv_* and rdma_* functions forkpin calls, each loading the real
 * one with dlopen() on its first call (rdma_lib.c says why).
 */
#ifndef FORKPIN_RDMA_LIB_H
#define FORKPIN_RDMA_LIB_H

#include <stddef.h>

enum fp_rdma_lib {
	FP_RDMA_IBVERBS, /* libibverbs.so.1: the verbs and verbs-odp rows, their fingerprint */
	FP_RDMA_RDMACM,	 /* librdmacm.so.1: verbs-remote and `forkpin peer` */
};

/*
 * Load @lib into this process if it is not loaded yet. NULL when it is loaded; else why not
 * ("libibverbs.so.1 not installed (apt-get install ...)"), a SKIP reason. Without it every
 * wrapper fails as the real call does without a device: NULL or -1 with errno ENOSYS, or
 * ENOSYS returned, and void ones do nothing.
 */
const char *fp_rdma_lib_missing(enum fp_rdma_lib lib);

/* The real @name in @lib (loading it); NULL when @lib or the symbol is missing. */
void *fp_rdma_lib_sym(enum fp_rdma_lib lib, const char *name);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A per-run zygote for the libfabric backends: one process that pays libfabric's start-up
 * once (dlopen, provider initialisation) and forks the case processes, so each case process
 * starts with libfabric initialised yet still owns its fabric, domain, registered memory and
 * forks, exactly as a process that had initialised libfabric itself (see ofi_zygote.c).
 */
#ifndef FORKPIN_OFI_ZYGOTE_H
#define FORKPIN_OFI_ZYGOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* struct ofi_zygote - the zygote of one run, as the main process sees it. */
struct ofi_zygote {
	bool tried;    /* started once (or found unusable): never retried in a run */
	int sock;      /* request socket to the zygote; -1 when there is none */
	pid_t pid;     /* the zygote */
	char why[256]; /* why there is no zygote (FORKPIN_OFI_STATS=1 prints it) */
};

/*
 * Start @z on first use: a child of the caller that runs @prepare (0, or -1 with a reason in
 * @why) and then serves requests. Then start one case process from it: a child of the caller
 * that runs @body(copy of @arg, its copy of @fd). Returns the pid, or a negative errno when
 * there is no usable zygote (the caller forks instead). The caller must be a child subreaper.
 */
int ofi_zygote_spawn(struct ofi_zygote *z, int (*prepare)(char *why, size_t size),
		     void (*body)(void *arg, int fd), const void *arg, size_t arg_size, int fd);

#endif

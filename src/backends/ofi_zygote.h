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

/* The most text prepare may hand back to the caller of ofi_zygote_start. */
#define OFI_ZYGOTE_TEXT 7168

/* Run in the new zygote: initialise, write up to @size bytes of text for the caller; clear
 * *@usable when the zygote must not serve (the text says why). Returns a code for the caller. */
typedef int (*ofi_zygote_prepare_fn)(char *text, size_t size, bool *usable);

/*
 * Start @z: a child of the caller that runs @prepare and then serves spawn requests, unless
 * @prepare said it must not or it was left holding a new descriptor or thread. Copies
 * @prepare's text into @text (@size bytes) and returns its code, or -1 when the zygote did not
 * answer. z->sock >= 0 afterwards when the zygote serves.
 */
int ofi_zygote_start(struct ofi_zygote *z, ofi_zygote_prepare_fn prepare, char *text, size_t size);

/* End @z now (no use for it in this run); @why is kept for FORKPIN_OFI_STATS. */
void ofi_zygote_stop(struct ofi_zygote *z, const char *why);

/*
 * Start one case process from @z (started with @prepare first when it was never started): a
 * child of the caller that runs @body(copy of @arg, its copy of @fd). Returns the pid, or a
 * negative errno when there is no usable zygote (the caller forks instead). The caller must
 * be a child subreaper.
 */
int ofi_zygote_spawn(struct ofi_zygote *z, ofi_zygote_prepare_fn prepare,
		     void (*body)(void *arg, int fd), const void *arg, size_t arg_size, int fd);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The run's copy of /proc/kallsyms for libfabric's verbs provider (ofi_kallsyms.c says why).
 */
#ifndef FORKPIN_OFI_KALLSYMS_H
#define FORKPIN_OFI_KALLSYMS_H

#include <stdbool.h>

/*
 * Take the copy once, in the process that forks libfabric's users (the zygote, query and case
 * processes), before it forks them; later calls do nothing. Without a copy (it could not be
 * read, or a build without libfabric) every reader opens the real file, as before.
 */
void ofi_kallsyms_snapshot(void);

/* Has the copy been taken (so readers get it rather than the file)? */
bool ofi_kallsyms_copy_taken(void);

/* How many times this process's fopen("/proc/kallsyms") was answered from the copy. */
unsigned ofi_kallsyms_served(void);

#endif

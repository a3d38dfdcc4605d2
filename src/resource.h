/* SPDX-License-Identifier: MIT */
/*
 * Resources: what cases share on the machine and must not use two at a time (a device, a
 * kernel-global pin slot, a page pool). A backend row (backend.h) and a memory type row
 * (memtypes.h) each name at most one; rows that share the thing point to the same struct (its
 * address is its identity). `forkpin run --jobs N` runs cases side by side only as far as
 * their resources allow, so a parallel run's verdicts are a serial run's, by declaration
 * rather than by luck.
 */
#ifndef FORKPIN_RESOURCE_H
#define FORKPIN_RESOURCE_H

/*
 * struct fp_resource - something cases share.
 * Guarantees (the runner's, whatever --jobs says): at no time do more than units() cases
 * hold the resource, and each holder has its own unit index in [0, units()); a backend's
 * open sees the index of its backend's resource as fp_dev->unit (always 0 for a backend
 * without one, and in one-job runs). A case holds its resources from before its process is
 * forked until that process and its whole process group are reaped, so nothing of one case
 * (a late DMA, a child still exiting) overlaps the next holder of the same unit. Cases that
 * declare no resource, or different ones, may run beside any case.
 */
struct fp_resource {
	const char *name; /* for messages: "the gup_test pin", "the 2 MiB hugetlb pool" */
	/*
	 * units - how many cases may hold it at once (clamped to [1, 64]); NULL: one. Called in
	 * the main process once per run, after the options are set (a device list may name
	 * several devices: one unit each).
	 */
	unsigned (*units)(void);
};

#endif

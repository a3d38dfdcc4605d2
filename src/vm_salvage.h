/* SPDX-License-Identifier: MIT */
/*
 * A run that never finished (the guest of `forkpin vm` was stopped by a signal, hung or
 * panicked): its reports rebuilt from what it streamed to PATH.partial as it went, marked
 * incomplete (vm_salvage.c).
 */
#ifndef FORKPIN_VM_SALVAGE_H
#define FORKPIN_VM_SALVAGE_H

#include <stdbool.h>
#include <stddef.h>

struct fp_salvage {
	size_t done;	   /* cases with a result in the stream */
	size_t planned;	   /* cases the run had selected */
	size_t torn;	   /* lines that are not JSON (the last one, cut by the stop) */
	char running[512]; /* the cases that had started and not ended, ", "-separated */
	/* Why the reports say the run is incomplete: @why, then " during " the running cases
	 * or " after N of M cases". */
	char stopped[192];
};

/*
 * Read @partial, the JSON lines a `forkpin run --json` streamed, and write @json and @junit
 * (either may be NULL) as the reports of the cases it holds, marked incomplete: stopped by
 * @signo (0 for no signal) for the reason @why (@out->stopped says the whole sentence).
 * Returns 0; -ENOENT when there is no stream or no header in it (no case had started);
 * -EINVAL when the header is not one; else the -errno of a report that could not be
 * written.
 */
int fp_salvage_reports(const char *partial, const char *json, const char *junit, int signo,
		       const char *why, struct fp_salvage *out);

#endif

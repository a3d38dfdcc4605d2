/* SPDX-License-Identifier: MIT */
/*
 * One case as its process sees it: what a scenario function gets (struct fp_ctx), how the
 * case ended (struct fp_outcome) and how it records that (fp_fail, fp_note; case_checks.c).
 * Below the scenarios, the parent/child protocol and the checks, which all use it.
 */
#ifndef FORKPIN_CASE_H
#define FORKPIN_CASE_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "memtypes.h"
#include "verify.h"

/* How a case ended, as the case process saw it. */
enum fp_status {
	FP_STATUS_PASS = 0,
	FP_STATUS_MISMATCH, /* a data check failed: the reason is the diagnosis */
	FP_STATUS_ERROR,    /* a call failed or a child misbehaved: not a data verdict */
	FP_STATUS_SKIP,	    /* the machine cannot run this case: the reason says why */
	FP_STATUS_TIMEOUT,  /* set by the runner: the watchdog killed the case */
	FP_STATUS_SIGNAL,   /* set by the runner: the case process died from a signal */
};

/* The outcome of one case; a plain struct so the case process can send it over a pipe. */
struct fp_outcome {
	enum fp_status status;
	char reason[768]; /* the diagnosis, error or skip reason */
	char note[256];	  /* an observation worth reporting even on PASS */
	size_t pages_checked;
};

/* What a scenario function gets. */
struct fp_ctx {
	struct fp_dev *dev;
	struct fp_mem *mem;
	uint64_t seed;	       /* per-case pattern seed */
	enum fp_access access; /* how to register (from the scenario row) */
	unsigned mem_flags;    /* enum fp_mem_flags of the memory type: sharing decides
				* what each process must see */
	struct fp_outcome *out;
	int step_timeout_ms; /* bound for each wait on a child */
	int dontfork; /* -1 not looked up yet, else 1 when the registered range is MADV_DONTFORK
		       * (fork-init): children have no mapping, and a touch is SIGSEGV */
};

/* Record an outcome (first failure wins: later calls keep the first reason). */
void fp_fail(struct fp_ctx *ctx, enum fp_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fp_note(struct fp_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

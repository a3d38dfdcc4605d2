/* SPDX-License-Identifier: MIT */
/*
 * What every scenario uses around its fork choreography: recording the case's outcome,
 * planning the spans the device moves data through (probes), writing the writers' patterns,
 * and checking what a process or the device sees against what it must see.
 */
#ifndef FORKPIN_CASE_CHECKS_H
#define FORKPIN_CASE_CHECKS_H

#include "case.h"

#define FP_MAX_PROBES 64
/* The neighbour bytes of a sub-page buffer carry the pre-fork pattern at this offset. */
#define FP_NEIGHBOUR_OFFSET (1ul << 40)

/* The parts of the buffer the device moves data through. */
struct fp_probes {
	size_t n;
	size_t off[FP_MAX_PROBES];
	size_t len[FP_MAX_PROBES];
};

bool fp_failed(const struct fp_ctx *ctx);
bool fp_is_shared(const struct fp_ctx *ctx);
/* Did the backend make the registered range MADV_DONTFORK (ibv_fork_init)? */
bool fp_range_dontfork(struct fp_ctx *ctx);
/* Do children see the parent's writes (shared memory they actually map)? */
bool fp_shared_with_children(struct fp_ctx *ctx);

/* The whole buffer when it fits the backend's per-case budget, else spans spread over it. */
void fp_probes_plan(const struct fp_ctx *ctx, struct fp_probes *p);
const struct fp_probes *fp_probes_whole(const struct fp_ctx *ctx, struct fp_probes *p);

/* Fill the whole buffer with @w's pattern. */
void fp_write_buffer(struct fp_ctx *ctx, enum fp_writer w);
/* The unrelated data next to a sub-page buffer: written once, before fork. */
void fp_write_neighbour(struct fp_ctx *ctx);

/* What @obs sees in its own mapping: @in_probe inside the probes, @outside elsewhere.
 * Records a MISMATCH with the diagnosis on the first bad view; true if all good. */
bool fp_check_view(struct fp_ctx *ctx, enum fp_observer obs, const struct fp_probes *p,
		   enum fp_writer in_probe, enum fp_writer outside);
/* The whole buffer must hold @w's data. */
bool fp_check_all(struct fp_ctx *ctx, enum fp_observer obs, enum fp_writer w);
/* [@off, @off+@len) of the buffer must hold @w's data. */
bool fp_check_range(struct fp_ctx *ctx, enum fp_observer obs, size_t off, size_t len,
		    enum fp_writer w);
/* Only the probe spans must hold @w's data (the rest is somebody else's business). */
bool fp_check_probes(struct fp_ctx *ctx, enum fp_observer obs, const struct fp_probes *p,
		     enum fp_writer w);
/* The unrelated data on a sub-page buffer's page must still be the pre-fork pattern. */
bool fp_check_neighbour(struct fp_ctx *ctx, enum fp_observer obs);

/*
 * Check [@off, @off+@len) of the buffer word by word: every word must be one of the @n
 * @writers' patterns, or torn between them byte by byte (a page or a word torn between them
 * is a write in progress during a copy, allowed). Counts pages in
 * @torn that mix several writers; records a MISMATCH naming the first foreign page and
 * returns false when a page holds anybody else's data.
 */
bool fp_check_words_among(struct fp_ctx *ctx, enum fp_observer obs, size_t off, size_t len,
			  const enum fp_writer *writers, size_t n, size_t *torn);

/* The device writes its data into every probe span. */
bool fp_device_writes(struct fp_ctx *ctx, const struct fp_probes *p);
/* The device reads every probe span; what it read must be @expected's data. */
bool fp_device_reads(struct fp_ctx *ctx, const struct fp_probes *p, enum fp_writer expected);
/* Queue one device write of the device's data into the probes' single span (in flight). */
bool fp_device_write_queue(struct fp_ctx *ctx, const struct fp_probes *p);

/* Register the buffer with ctx->access and write the pre-fork data (buffer and neighbour). */
bool fp_prologue(struct fp_ctx *ctx);
/* Register the buffer with ctx->access only (the data already in it stays). */
bool fp_register(struct fp_ctx *ctx);

#endif

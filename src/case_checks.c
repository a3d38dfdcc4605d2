/* SPDX-License-Identifier: MIT */
/*
 * Outcome recording, probe planning and data checks shared by every scenario (see
 * case_checks.h). Every check classifies what it saw (verify.c), so a failure is a diagnosis.
 */
#define _GNU_SOURCE
#include "case_checks.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEFAULT_CASE_BUDGET (2ul << 20)

void fp_fail(struct fp_ctx *ctx, enum fp_status status, const char *fmt, ...)
{
	va_list ap;

	if (ctx->out->status != FP_STATUS_PASS)
		return; /* the first failure is the diagnosis; later ones are consequences */
	ctx->out->status = status;
	va_start(ap, fmt);
	vsnprintf(ctx->out->reason, sizeof(ctx->out->reason), fmt, ap);
	va_end(ap);
}

void fp_note(struct fp_ctx *ctx, const char *fmt, ...)
{
	size_t used = strlen(ctx->out->note);
	va_list ap;

	if (used && used + 2 < sizeof(ctx->out->note)) {
		strcpy(ctx->out->note + used, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(ctx->out->note + used, sizeof(ctx->out->note) - used, fmt, ap);
	va_end(ap);
}

bool fp_failed(const struct fp_ctx *ctx)
{
	return ctx->out->status != FP_STATUS_PASS;
}

bool fp_is_shared(const struct fp_ctx *ctx)
{
	return ctx->mem_flags & FP_MEM_SHARED;
}

/*
 * Looked up in smaps on first need only: reading smaps costs more than the rest of a small
 * case, and most cases never need the answer.
 */
bool fp_range_dontfork(struct fp_ctx *ctx)
{
	if (ctx->dontfork < 0) {
		ctx->dontfork = fp_smaps_has_flag(ctx->mem->buf, "dc") == 1;
		if (ctx->dontfork)
			fp_note(ctx, "registered range is MADV_DONTFORK");
	}
	return ctx->dontfork == 1;
}

bool fp_shared_with_children(struct fp_ctx *ctx)
{
	return fp_is_shared(ctx) && !fp_range_dontfork(ctx);
}

/* ---- probes --------------------------------------------------------------------------- */

/* Page-sized spans spread over the buffer (first and last page included) when the whole
 * buffer exceeds the budget, so a slow engine still checks every region. */
void fp_probes_plan(const struct fp_ctx *ctx, struct fp_probes *p)
{
	size_t budget = ctx->dev->be->limits.case_budget, len = ctx->mem->len;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), span, k, i;

	if (!budget || budget > DEFAULT_CASE_BUDGET)
		budget = DEFAULT_CASE_BUDGET;
	if (len <= budget) {
		p->n = 1;
		p->off[0] = 0;
		p->len[0] = len;
		return;
	}
	span = budget < page ? budget : page;
	k = budget / span;
	if (k > FP_MAX_PROBES)
		k = FP_MAX_PROBES;
	if (k < 2)
		k = 2, span = budget / 2;
	for (i = 0; i < k; i++) {
		size_t off = (len - span) / (k - 1) * i;

		p->off[i] = i + 1 == k ? len - span : off & ~(page - 1);
		p->len[i] = span;
	}
	p->n = k;
}

const struct fp_probes *fp_probes_whole(const struct fp_ctx *ctx, struct fp_probes *p)
{
	p->n = 1;
	p->off[0] = 0;
	p->len[0] = ctx->mem->len;
	return p;
}

/* ---- data ----------------------------------------------------------------------------- */

void fp_write_buffer(struct fp_ctx *ctx, enum fp_writer w)
{
	fp_pattern_fill(ctx->mem->buf, 0, ctx->mem->len, ctx->seed, w);
}

void fp_write_neighbour(struct fp_ctx *ctx)
{
	if (ctx->mem->neighbour_len)
		fp_pattern_fill(ctx->mem->neighbour, FP_NEIGHBOUR_OFFSET, ctx->mem->neighbour_len,
				ctx->seed, FP_PARENT_OLD);
}

bool fp_check_view(struct fp_ctx *ctx, enum fp_observer obs, const struct fp_probes *p,
		   enum fp_writer in_probe, enum fp_writer outside)
{
	struct fp_check in = {0}, out = {0};
	const char *buf = ctx->mem->buf;
	size_t page = ctx->mem->page_size < 4096 ? ctx->mem->page_size : 4096;
	size_t pos = 0, i;
	char text[400];

	for (i = 0; i < p->n; i++) {
		if (p->off[i] > pos)
			fp_check_span(&out, buf + pos, pos, p->off[i] - pos, page, ctx->seed,
				      outside);
		fp_check_span(&in, buf + p->off[i], p->off[i], p->len[i], page, ctx->seed,
			      in_probe);
		pos = p->off[i] + p->len[i];
	}
	if (pos < ctx->mem->len)
		fp_check_span(&out, buf + pos, pos, ctx->mem->len - pos, page, ctx->seed, outside);
	ctx->out->pages_checked += in.pages + out.pages;
	if (in.bad_pages) {
		fp_fail(ctx, FP_STATUS_MISMATCH, "%s",
			fp_check_diagnose(&in, obs, in_probe, text, sizeof(text)));
		return false;
	}
	if (out.bad_pages) {
		fp_fail(ctx, FP_STATUS_MISMATCH, "%s",
			fp_check_diagnose(&out, obs, outside, text, sizeof(text)));
		return false;
	}
	return true;
}

bool fp_check_all(struct fp_ctx *ctx, enum fp_observer obs, enum fp_writer w)
{
	struct fp_probes all;

	return fp_check_view(ctx, obs, fp_probes_whole(ctx, &all), w, w);
}

bool fp_check_range(struct fp_ctx *ctx, enum fp_observer obs, size_t off, size_t len,
		    enum fp_writer w)
{
	size_t page = ctx->mem->page_size < 4096 ? ctx->mem->page_size : 4096;
	struct fp_check chk = {0};
	char text[400];

	if (!len)
		return true;
	fp_check_span(&chk, (const char *)ctx->mem->buf + off, off, len, page, ctx->seed, w);
	ctx->out->pages_checked += chk.pages;
	if (fp_check_ok(&chk))
		return true;
	fp_fail(ctx, FP_STATUS_MISMATCH, "%s", fp_check_diagnose(&chk, obs, w, text, sizeof(text)));
	return false;
}

bool fp_check_probes(struct fp_ctx *ctx, enum fp_observer obs, const struct fp_probes *p,
		     enum fp_writer w)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (!fp_check_range(ctx, obs, p->off[i], p->len[i], w))
			return false;
	return true;
}

bool fp_check_neighbour(struct fp_ctx *ctx, enum fp_observer obs)
{
	struct fp_check chk = {0};
	char text[400];

	if (!ctx->mem->neighbour_len)
		return true;
	fp_check_span(&chk, ctx->mem->neighbour, FP_NEIGHBOUR_OFFSET, ctx->mem->neighbour_len,
		      ctx->mem->neighbour_len, ctx->seed, FP_PARENT_OLD);
	if (fp_check_ok(&chk))
		return true;
	fp_fail(ctx, FP_STATUS_MISMATCH, "unrelated data on the registered page: %s",
		fp_check_diagnose(&chk, obs, FP_PARENT_OLD, text, sizeof(text)));
	return false;
}

/* Which of @writers put word @w at @off: its index, or @n when none did. */
static size_t word_writer(const struct fp_ctx *ctx, uint64_t w, size_t off,
			  const enum fp_writer *writers, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w == fp_pattern_word(ctx->seed, writers[i], off))
			return i;
	return n;
}

/* A word torn between @writers: each byte is one of theirs (a copy that is not atomic per
 * word, such as rep movsb, racing with a store). */
static bool word_torn_among(const struct fp_ctx *ctx, uint64_t w, size_t off,
			    const enum fp_writer *writers, size_t n)
{
	unsigned b;
	size_t i;

	for (b = 0; b < 64; b += 8) {
		bool found = false;

		for (i = 0; i < n && !found; i++)
			found =
			    ((w ^ fp_pattern_word(ctx->seed, writers[i], off)) >> b & 0xff) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* One page of fp_check_words_among: 0 all one writer, 1 torn among them, -1 foreign. */
static int page_among(const struct fp_ctx *ctx, size_t off, size_t len,
		      const enum fp_writer *writers, size_t n)
{
	const uint64_t *words = (const uint64_t *)((const char *)ctx->mem->buf + off);
	size_t first = n, i;
	bool torn = false;

	for (i = 0; i < len / 8; i++) {
		size_t who = word_writer(ctx, words[i], off + i * 8, writers, n);

		if (who == n) {
			if (!word_torn_among(ctx, words[i], off + i * 8, writers, n))
				return -1;
			torn = true;
			continue;
		}
		if (first == n)
			first = who;
		torn |= who != first;
	}
	return torn;
}

bool fp_check_words_among(struct fp_ctx *ctx, enum fp_observer obs, size_t off, size_t len,
			  const enum fp_writer *writers, size_t n, size_t *torn)
{
	size_t page = ctx->mem->page_size < 4096 ? ctx->mem->page_size : 4096, end = off + len;
	char text[400];

	for (; off < end; off += page) {
		size_t span = end - off < page ? end - off : page;
		int r = page_among(ctx, off, span, writers, n);
		struct fp_check chk = {0};

		ctx->out->pages_checked++;
		if (r >= 0) {
			*torn += (size_t)r;
			continue;
		}
		/* classify against the first allowed writer, for the diagnosis */
		fp_check_span(&chk, (const char *)ctx->mem->buf + off, off, span, page, ctx->seed,
			      writers[0]);
		fp_fail(ctx, FP_STATUS_MISMATCH, "%s",
			fp_check_diagnose(&chk, obs, writers[0], text, sizeof(text)));
		return false;
	}
	return true;
}

/* ---- the device ------------------------------------------------------------------------ */

/*
 * A source or sink for one transfer, populated in one call: from malloc, a fresh 32-64 KiB
 * block grew the heap and took a page fault per page in every case. NULL when out of memory.
 */
static char *scratch_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void scratch_free(char *p, size_t len)
{
	munmap(p, len);
}

bool fp_device_writes(struct fp_ctx *ctx, const struct fp_probes *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		char *src = scratch_alloc(p->len[i]);
		int err;

		if (!src) {
			fp_fail(ctx, FP_STATUS_ERROR, "out of memory for a %zu-byte source",
				p->len[i]);
			return false;
		}
		fp_pattern_fill(src, p->off[i], p->len[i], ctx->seed, FP_DEVICE);
		err = fp_dev_dma_to_host(ctx->dev, p->off[i], src, p->len[i]);
		scratch_free(src, p->len[i]);
		if (err) {
			fp_fail(ctx, FP_STATUS_ERROR, "device write: %s", ctx->dev->error);
			return false;
		}
	}
	return true;
}

bool fp_device_reads(struct fp_ctx *ctx, const struct fp_probes *p, enum fp_writer expected)
{
	struct fp_check chk = {0};
	char text[400];
	size_t i;

	for (i = 0; i < p->n; i++) {
		char *dst = scratch_alloc(p->len[i]);
		int err;

		if (!dst) {
			fp_fail(ctx, FP_STATUS_ERROR, "out of memory for a %zu-byte sink",
				p->len[i]);
			return false;
		}
		err = fp_dev_dma_from_host(ctx->dev, p->off[i], dst, p->len[i]);
		if (!err)
			fp_check_span(&chk, dst, p->off[i], p->len[i], 4096, ctx->seed, expected);
		scratch_free(dst, p->len[i]);
		if (err) {
			fp_fail(ctx, FP_STATUS_ERROR, "device read: %s", ctx->dev->error);
			return false;
		}
	}
	ctx->out->pages_checked += chk.pages;
	if (fp_check_ok(&chk))
		return true;
	fp_fail(ctx, FP_STATUS_MISMATCH, "%s",
		fp_check_diagnose(&chk, FP_OBS_DEVICE, expected, text, sizeof(text)));
	return false;
}

bool fp_device_write_queue(struct fp_ctx *ctx, const struct fp_probes *p)
{
	char *src = scratch_alloc(p->len[0]);
	int err;

	if (!src) {
		fp_fail(ctx, FP_STATUS_ERROR, "out of memory");
		return false;
	}
	fp_pattern_fill(src, p->off[0], p->len[0], ctx->seed, FP_DEVICE);
	err = fp_dev_dma_to_host_start(ctx->dev, p->off[0], src, p->len[0]);
	scratch_free(src, p->len[0]);
	if (err)
		fp_fail(ctx, FP_STATUS_ERROR, "queue device write: %s", ctx->dev->error);
	return !err;
}

/* ---- registration ---------------------------------------------------------------------- */

bool fp_register(struct fp_ctx *ctx)
{
	int err = fp_dev_register(ctx->dev, ctx->mem->buf, ctx->mem->len, ctx->access);

	if (err)
		fp_fail(ctx,
			err == -ENODEV || err == -EOPNOTSUPP ? FP_STATUS_SKIP : FP_STATUS_ERROR,
			"register: %s", ctx->dev->error);
	return !err;
}

bool fp_prologue(struct fp_ctx *ctx)
{
	if (!fp_register(ctx))
		return false;
	fp_write_buffer(ctx, FP_PARENT_OLD);
	fp_write_neighbour(ctx);
	return true;
}

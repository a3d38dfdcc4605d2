/* SPDX-License-Identifier: MIT */
/*
 * Data patterns and the classifier.
 *
 * Every writer in a case (the parent before and after fork, each child, the device) fills
 * memory with its own pattern: a 64-bit word per 8 bytes derived from the case seed, the
 * writer and the word's offset in the buffer. Any page can therefore be traced back to the
 * writer whose data it holds, which turns "wrong data" into a diagnosis: the device wrote
 * into a page the parent no longer maps, a child's data leaked, the device read stale data.
 */
#ifndef FORKPIN_VERIFY_H
#define FORKPIN_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Who wrote a pattern. Children are FP_CHILD + index (0..FP_MAX_CHILDREN-1). */
enum fp_writer {
	FP_PARENT_OLD = 0, /* the parent, before fork */
	FP_PARENT_NEW,	   /* the parent, after fork */
	FP_DEVICE,	   /* DMA into the host */
	FP_GRANDCHILD,	   /* a child's child */
	FP_CHILD,	   /* first child; FP_CHILD + i for child i */
};
#define FP_MAX_CHILDREN 8
#define FP_WRITER_COUNT (FP_CHILD + FP_MAX_CHILDREN)

/* What a checked page held. */
enum fp_seen {
	FP_SEEN_EXPECTED = 0,
	FP_SEEN_WRITER, /* consistently another known writer's data (see fp_page_verdict.writer) */
	FP_SEEN_ZERO,	/* zeros: the page was replaced by a fresh one */
	FP_SEEN_MIXED,	/* words from several writers: a torn or partial transfer */
	FP_SEEN_UNKNOWN /* nobody's pattern: corruption */
};

/* Who is looking, which decides how a mismatch is worded. */
enum fp_observer {
	FP_OBS_PARENT, /* the parent reads its own mapping */
	FP_OBS_CHILD,  /* a child (or grandchild) reads its own mapping */
	FP_OBS_DEVICE, /* the bytes the device read from the parent's range */
};

/* The word @writer puts at byte offset @off (multiple of 8) of the buffer. */
uint64_t fp_pattern_word(uint64_t seed, enum fp_writer writer, size_t off);
/* Fill @len bytes at @p, which is byte @off of the buffer, with @writer's pattern. */
void fp_pattern_fill(void *p, size_t off, size_t len, uint64_t seed, enum fp_writer writer);

/* The result of checking a span of the buffer, page by page. */
struct fp_check {
	size_t pages;			   /* pages (or sub-page spans) checked */
	size_t bad_pages;		   /* pages that did not hold the expected data */
	size_t by_writer[FP_WRITER_COUNT]; /* bad pages holding that writer's data */
	size_t zero, mixed, unknown;	   /* bad pages of the other kinds */
	bool have_first_bad;
	size_t first_bad_off; /* buffer offset of the first bad page */
	enum fp_seen first_bad_seen;
	enum fp_writer first_bad_writer;
};

/*
 * Check @len bytes at @p (byte @off of the buffer) against @expected's pattern, page by page
 * (@page is the granularity, the system page size in practice), and classify every page that
 * differs. Accumulates into @chk, so several spans can be checked into one result.
 */
void fp_check_span(struct fp_check *chk, const void *p, size_t off, size_t len, size_t page,
		   uint64_t seed, enum fp_writer expected);

/* True when every checked page held the expected data. */
static inline bool fp_check_ok(const struct fp_check *chk)
{
	return chk->pages > 0 && chk->bad_pages == 0;
}

/*
 * Describe a failed check in one line: what @observer expected from whom, what the pages
 * held instead, and what that means ("device wrote into a page the parent no longer maps").
 * Returns @buf.
 */
const char *fp_check_diagnose(const struct fp_check *chk, enum fp_observer observer,
			      enum fp_writer expected, char *buf, size_t size);

/* "the parent's pre-fork data", "child 2's data", ... */
const char *fp_writer_data_name(enum fp_writer writer, char *buf, size_t size);

#endif

/* SPDX-License-Identifier: MIT */
#include "verify.h"

#include <stdio.h>
#include <string.h>

/* splitmix64: cheap, and every (seed, writer, offset) gives an unrelated word. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Bit 0 of every key is clear, so keys differ in bits that survive the "| 1" below. */
static uint64_t writer_key(uint64_t seed, enum fp_writer writer)
{
	return mix64(seed ^ ((uint64_t)(writer + 1) << 48)) & ~1ull;
}

/*
 * The word at byte offset @off: the key xor a multiple of an odd constant. Cheap enough to
 * fill and check buffers at memory speed, and two writers' words at the same offset are
 * equal only if their keys are. Never zero, so a zeroed page is never anybody's data.
 */
static uint64_t word_at(uint64_t key, size_t off)
{
	return (key ^ ((uint64_t)(off / 8) * 0x9e3779b97f4a7c15ull)) | 1;
}

uint64_t fp_pattern_word(uint64_t seed, enum fp_writer writer, size_t off)
{
	return word_at(writer_key(seed, writer), off);
}

/* One byte of @key's pattern at buffer offset @o. */
static unsigned char byte_at(uint64_t key, size_t o)
{
	return (unsigned char)(word_at(key, o & ~(size_t)7) >> (8 * (o & 7)));
}

void fp_pattern_fill(void *p, size_t off, size_t len, uint64_t seed, enum fp_writer writer)
{
	uint64_t key = writer_key(seed, writer);
	unsigned char *dst = p;
	size_t i = 0;

	/* Byte-wise at unaligned edges, so sub-page buffers at any offset work. */
	for (; i < len && ((off + i) & 7); i++)
		dst[i] = byte_at(key, off + i);
	for (; i + 8 <= len; i += 8) {
		uint64_t w = word_at(key, off + i);

		memcpy(dst + i, &w, 8);
	}
	for (; i < len; i++)
		dst[i] = byte_at(key, off + i);
}

/* Does [p, p+len) (buffer offset off) match @key's pattern exactly? */
static bool span_matches(const unsigned char *p, size_t off, size_t len, uint64_t key)
{
	uint64_t diff = 0;
	size_t i = 0;

	for (; i < len && ((off + i) & 7); i++)
		if (p[i] != byte_at(key, off + i))
			return false;
	/* A page at a time without early exits: the compiler vectorises it. */
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		diff |= w ^ word_at(key, off + i);
	}
	if (diff)
		return false;
	for (; i < len; i++)
		if (p[i] != byte_at(key, off + i))
			return false;
	return true;
}

static bool span_is_zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Which single writer's pattern fills the span, or -1. Tests the first word first: cheap. */
static int span_writer(const unsigned char *p, size_t off, size_t len, uint64_t seed)
{
	int w;

	for (w = 0; w < FP_WRITER_COUNT; w++)
		if (span_matches(p, off, len, writer_key(seed, (enum fp_writer)w)))
			return w;
	return -1;
}

/* Does any word of the span belong to some writer? Used to tell mixed from unknown. */
static bool span_has_known_word(const unsigned char *p, size_t off, size_t len, uint64_t seed)
{
	size_t i = (8 - (off & 7)) & 7;
	int w;

	for (; i + 8 <= len; i += 8)
		for (w = 0; w < FP_WRITER_COUNT; w++) {
			uint64_t v = word_at(writer_key(seed, (enum fp_writer)w), off + i);

			if (!memcmp(p + i, &v, 8))
				return true;
		}
	return false;
}

static void record_bad(struct fp_check *chk, size_t off, enum fp_seen seen, int writer)
{
	chk->bad_pages++;
	switch (seen) {
	case FP_SEEN_WRITER:
		chk->by_writer[writer]++;
		break;
	case FP_SEEN_ZERO:
		chk->zero++;
		break;
	case FP_SEEN_MIXED:
		chk->mixed++;
		break;
	default:
		chk->unknown++;
		break;
	}
	if (!chk->have_first_bad) {
		chk->have_first_bad = true;
		chk->first_bad_off = off;
		chk->first_bad_seen = seen;
		chk->first_bad_writer = seen == FP_SEEN_WRITER ? (enum fp_writer)writer : 0;
	}
}

static void check_page(struct fp_check *chk, const unsigned char *p, size_t off, size_t len,
		       uint64_t seed, enum fp_writer expected)
{
	int writer;

	chk->pages++;
	if (span_matches(p, off, len, writer_key(seed, expected)))
		return;
	writer = span_writer(p, off, len, seed);
	if (writer >= 0)
		record_bad(chk, off, FP_SEEN_WRITER, writer);
	else if (span_is_zero(p, len))
		record_bad(chk, off, FP_SEEN_ZERO, 0);
	else if (span_has_known_word(p, off, len, seed))
		record_bad(chk, off, FP_SEEN_MIXED, 0);
	else
		record_bad(chk, off, FP_SEEN_UNKNOWN, 0);
}

void fp_check_span(struct fp_check *chk, const void *p, size_t off, size_t len, size_t page,
		   uint64_t seed, enum fp_writer expected)
{
	const unsigned char *bytes = p;
	size_t done = 0;

	while (done < len) {
		size_t o = off + done;
		size_t in_page = page - (o % page);
		size_t n = in_page < len - done ? in_page : len - done;

		check_page(chk, bytes + done, o, n, seed, expected);
		done += n;
	}
}

const char *fp_writer_data_name(enum fp_writer writer, char *buf, size_t size)
{
	switch (writer) {
	case FP_PARENT_OLD:
		snprintf(buf, size, "the parent's pre-fork data");
		break;
	case FP_PARENT_NEW:
		snprintf(buf, size, "the parent's post-fork data");
		break;
	case FP_DEVICE:
		snprintf(buf, size, "the device's data");
		break;
	case FP_GRANDCHILD:
		snprintf(buf, size, "the grandchild's data");
		break;
	default:
		snprintf(buf, size, "child %d's data", (int)(writer - FP_CHILD));
		break;
	}
	return buf;
}

static bool is_child_writer(enum fp_writer w)
{
	return w == FP_GRANDCHILD || w >= FP_CHILD;
}

/* What it means that @observer, expecting @expected, found @seen's data. */
static const char *meaning(enum fp_observer observer, enum fp_writer expected, enum fp_writer seen)
{
	switch (observer) {
	case FP_OBS_PARENT:
		if (expected == FP_DEVICE && (seen == FP_PARENT_OLD || seen == FP_PARENT_NEW))
			return "device wrote into a page the parent no longer maps";
		if (is_child_writer(seen))
			return "child data leaked into the parent";
		if (seen == FP_DEVICE)
			return "device data reached the parent where it must not";
		return "the parent lost its own writes";
	case FP_OBS_CHILD:
		if (seen == FP_DEVICE)
			return "device data leaked into the child: the child maps the pinned page";
		if (seen == FP_PARENT_NEW)
			return "the parent's post-fork writes leaked into the child";
		if (is_child_writer(seen))
			return "another process's data leaked into this child";
		return "the child lost its own writes";
	case FP_OBS_DEVICE:
		if (seen == FP_PARENT_OLD)
			return "device read stale data: the pinned page is no longer the parent's";
		if (is_child_writer(seen))
			return "device read the child's data: the child owns the pinned page";
		return "device read data the parent did not write last";
	}
	return "unexpected data";
}

const char *fp_check_diagnose(const struct fp_check *chk, enum fp_observer observer,
			      enum fp_writer expected, char *buf, size_t size)
{
	static const char *const who[] = {
	    [FP_OBS_PARENT] = "parent", [FP_OBS_CHILD] = "child", [FP_OBS_DEVICE] = "device read"};
	char exp_name[48], seen_name[48];
	const char *what;

	fp_writer_data_name(expected, exp_name, sizeof(exp_name));
	if (!chk->have_first_bad) {
		snprintf(buf, size, "%s: no page checked", who[observer]);
		return buf;
	}
	switch (chk->first_bad_seen) {
	case FP_SEEN_WRITER:
		fp_writer_data_name(chk->first_bad_writer, seen_name, sizeof(seen_name));
		what = meaning(observer, expected, chk->first_bad_writer);
		break;
	case FP_SEEN_ZERO:
		snprintf(seen_name, sizeof(seen_name), "zeros");
		what = observer == FP_OBS_DEVICE
			   ? "device read a page the parent never wrote"
			   : "the page was replaced by a fresh one (device wrote elsewhere)";
		break;
	case FP_SEEN_MIXED:
		snprintf(seen_name, sizeof(seen_name), "a mix of writers' data");
		what = "torn or partial transfer";
		break;
	default:
		snprintf(seen_name, sizeof(seen_name), "unrecognised data");
		what = "memory corrupted";
		break;
	}
	snprintf(buf, size, "%s: %zu/%zu pages hold %s instead of %s (first at offset 0x%zx): %s",
		 who[observer], chk->bad_pages, chk->pages, seen_name, exp_name, chk->first_bad_off,
		 what);
	return buf;
}

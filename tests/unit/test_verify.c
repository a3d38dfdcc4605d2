/* SPDX-License-Identifier: MIT */
/* The classifier: every kind of wrong page is recognised and worded for what it means. */
#include "tap.h"
#include "verify.h"

#include <stdlib.h>
#include <string.h>

#define PAGE  4096
#define PAGES 8
#define SEED  0x1234abcdull

static unsigned char buf[PAGE * PAGES];

static struct fp_check check(size_t off, size_t len, enum fp_writer expected)
{
	struct fp_check chk = {0};

	fp_check_span(&chk, buf + off, off, len, PAGE, SEED, expected);
	return chk;
}

static const char *diagnose(const struct fp_check *chk, enum fp_observer obs,
			    enum fp_writer expected)
{
	static char text[400];

	fp_check_diagnose(chk, obs, expected, text, sizeof(text));
	return text;
}

static void test_clean_buffer_passes(void)
{
	struct fp_check chk;

	fp_pattern_fill(buf, 0, sizeof(buf), SEED, FP_DEVICE);
	chk = check(0, sizeof(buf), FP_DEVICE);
	ok(fp_check_ok(&chk) && chk.pages == PAGES,
	   "a buffer of the device's data passes (%zu pages)", chk.pages);
	chk = check(0, sizeof(buf), FP_PARENT_NEW);
	ok(!fp_check_ok(&chk) && chk.by_writer[FP_DEVICE] == PAGES,
	   "the same buffer fails against another writer, every page traced to the device");
}

static void test_lost_dma_is_named(void)
{
	struct fp_check chk;
	const char *d;

	fp_pattern_fill(buf, 0, sizeof(buf), SEED, FP_DEVICE);
	fp_pattern_fill(buf + 3 * PAGE, 3 * PAGE, PAGE, SEED, FP_PARENT_NEW);
	chk = check(0, sizeof(buf), FP_DEVICE);
	d = diagnose(&chk, FP_OBS_PARENT, FP_DEVICE);
	ok(chk.bad_pages == 1 && chk.first_bad_off == 3 * PAGE,
	   "one stale page found at its offset");
	ok(strstr(d, "device wrote into a page the parent no longer maps") != NULL,
	   "parent's own data where the device's belongs: %s", d);
	ok(strstr(d, "1/8 pages") && strstr(d, "0x3000"),
	   "diagnosis counts pages and gives the offset");
}

static void test_child_leak_is_named(void)
{
	struct fp_check chk;
	const char *d;

	fp_pattern_fill(buf, 0, sizeof(buf), SEED, FP_PARENT_OLD);
	fp_pattern_fill(buf, 0, PAGE, SEED, FP_CHILD + 2);
	chk = check(0, sizeof(buf), FP_PARENT_OLD);
	d = diagnose(&chk, FP_OBS_PARENT, FP_PARENT_OLD);
	ok(chk.by_writer[FP_CHILD + 2] == 1, "the page is traced to child 2");
	ok(strstr(d, "child 2's data") && strstr(d, "child data leaked into the parent"),
	   "child data in the parent is a leak: %s", d);
}

static void test_stale_device_read_is_named(void)
{
	struct fp_check chk;
	const char *d;

	fp_pattern_fill(buf, 0, sizeof(buf), SEED, FP_PARENT_OLD);
	chk = check(0, sizeof(buf), FP_PARENT_NEW);
	d = diagnose(&chk, FP_OBS_DEVICE, FP_PARENT_NEW);
	ok(strstr(d, "device read stale data") != NULL, "pre-fork data in a device read: %s", d);
}

static void test_device_data_in_child_is_named(void)
{
	struct fp_check chk;
	const char *d;

	fp_pattern_fill(buf, 0, sizeof(buf), SEED, FP_DEVICE);
	chk = check(0, sizeof(buf), FP_PARENT_OLD);
	d = diagnose(&chk, FP_OBS_CHILD, FP_PARENT_OLD);
	ok(strstr(d, "device data leaked into the child") != NULL, "device data in a child: %s", d);
}

static void test_zero_mixed_unknown(void)
{
	struct fp_check chk;

	fp_pattern_fill(buf, 0, sizeof(buf), SEED, FP_DEVICE);
	memset(buf, 0, PAGE);
	fp_pattern_fill(buf + PAGE, PAGE, PAGE / 2, SEED, FP_PARENT_OLD);
	memset(buf + 2 * PAGE, 0x5a, PAGE);
	chk = check(0, sizeof(buf), FP_DEVICE);
	ok(chk.zero == 1 && chk.mixed == 1 && chk.unknown == 1 && chk.bad_pages == 3,
	   "zero, half-written (mixed) and foreign pages are told apart (%zu/%zu/%zu)", chk.zero,
	   chk.mixed, chk.unknown);
	ok(strstr(diagnose(&chk, FP_OBS_PARENT, FP_DEVICE), "zeros") != NULL,
	   "the first bad page (zeros) leads the diagnosis");
}

static void test_unaligned_spans(void)
{
	struct fp_check chk;

	/* A 1 KiB sub-page buffer at an odd offset: patterns are per buffer offset. */
	fp_pattern_fill(buf + 1027, 1027, 1000, SEED, FP_CHILD);
	chk = check(1027, 1000, FP_CHILD);
	ok(fp_check_ok(&chk) && chk.pages == 1, "an unaligned span verifies");
	buf[1027 + 999] ^= 1;
	chk = check(1027, 1000, FP_CHILD);
	ok(!fp_check_ok(&chk), "one flipped bit in its last byte is caught");
}

static void test_span_page_split(void)
{
	struct fp_check chk;

	/* A span crossing a page boundary is checked as two partial pages. */
	fp_pattern_fill(buf, 0, sizeof(buf), SEED, FP_DEVICE);
	chk = check(PAGE - 100, 200, FP_DEVICE);
	ok(chk.pages == 2 && fp_check_ok(&chk), "a boundary-crossing span counts two pages");
}

static void test_writers_differ(void)
{
	int a, b, same = 0;

	for (a = 0; a < FP_WRITER_COUNT; a++)
		for (b = a + 1; b < FP_WRITER_COUNT; b++)
			same += fp_pattern_word(SEED, a, 0) == fp_pattern_word(SEED, b, 0);
	ok(same == 0, "every writer's pattern differs from every other's");
	ok(fp_pattern_word(SEED, FP_DEVICE, 0) != fp_pattern_word(SEED + 1, FP_DEVICE, 0),
	   "a different seed gives different data (no carry-over between cases)");
}

int main(void)
{
	test_clean_buffer_passes();
	test_lost_dma_is_named();
	test_child_leak_is_named();
	test_stale_device_read_is_named();
	test_device_data_in_child_is_named();
	test_zero_mixed_unknown();
	test_unaligned_spans();
	test_span_page_split();
	test_writers_differ();
	return done_testing();
}

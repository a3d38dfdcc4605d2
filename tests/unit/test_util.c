/* SPDX-License-Identifier: MIT */
/* Number parsing and smaps lookups. */
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static void test_sizes(void)
{
	size_t v = 0;

	ok(fp_parse_size("64", &v) && v == 64, "plain bytes");
	ok(fp_parse_size("2M", &v) && v == (2u << 20), "2M");
	ok(fp_parse_size("1GiB", &v) && v == (1u << 30), "1GiB");
	ok(fp_parse_size("4k", &v) && v == 4096, "4k");
	ok(!fp_parse_size("-1", &v) && !fp_parse_size("12x", &v) && !fp_parse_size("", &v) &&
	       !fp_parse_size("99999999999999999999G", &v),
	   "negative, garbage, empty and overflowing sizes are refused");
}

static void test_seconds(void)
{
	double s = 0;

	ok(fp_parse_seconds("5", &s) && s == 5.0, "5 seconds");
	ok(fp_parse_seconds("0.25", &s) && s == 0.25, "0.25 seconds");
	ok(!fp_parse_seconds("0", &s) && !fp_parse_seconds("-3", &s) &&
	       !fp_parse_seconds("ten", &s) && !fp_parse_seconds("5s", &s),
	   "zero, negative and non-numeric timeouts are refused");
}

static void test_format(void)
{
	char b[32];

	ok(!strcmp(fp_format_size(2u << 20, b, sizeof(b)), "2 MiB"), "2 MiB formats");
	ok(!strcmp(fp_format_size(1000, b, sizeof(b)), "1000 B"), "1000 B formats");
}

static void test_smaps(void)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long kb = 1;

	ok(p != MAP_FAILED, "mmap");
	ok(fp_smaps_has_flag(p, "dc") == 0, "a fresh mapping is not DONTFORK");
	madvise(p, 8192, MADV_DONTFORK);
	ok(fp_smaps_has_flag(p, "dc") == 1, "MADV_DONTFORK shows as the dc VmFlag");
	ok(fp_smaps_field(p, "Rss", &kb) == 0 && kb == 0, "an untouched mapping has no Rss");
	p[0] = 1;
	ok(fp_smaps_field(p, "Rss", &kb) == 0 && kb == 4, "one touched page: Rss 4 kB");
	munmap(p, 8192);
	ok(fp_smaps_has_flag(p, "dc") == -ENOENT, "an unmapped address has no VMA");
}

int main(void)
{
	test_sizes();
	test_seconds();
	test_format();
	test_smaps();
	return done_testing();
}

/* SPDX-License-Identifier: MIT */
/* A minimal TAP producer for the unit tests (meson runs them with protocol: 'tap'). */
#ifndef FORKPIN_TESTS_TAP_H
#define FORKPIN_TESTS_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int __attribute__((unused)) tap_count, tap_failed;

static bool __attribute__((unused, format(printf, 2, 3))) ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static void __attribute__((unused, format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Print the plan and return the exit status. */
static int __attribute__((unused)) done_testing(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif

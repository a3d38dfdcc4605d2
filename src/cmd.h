/* SPDX-License-Identifier: MIT */
/*
 * The command layer: what every subcommand (list, run, env, stress, forkcost, vm) shares
 * about its command line. Bad input is one line on stderr naming the fix, and exit 2
 * (FP_EXIT_USAGE); the exit codes themselves are enum fp_exit (report.h), because a run's
 * totals decide them in the core. These helpers exit the process: only the program uses
 * them, never a case process (those use util.h).
 */
#ifndef FORKPIN_CMD_H
#define FORKPIN_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

/* Bad usage: print "@who: <message>" as one line on stderr and exit FP_EXIT_USAGE. */
void fp_usage_error(const char *who, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

/* The whole of the report at @path, NUL-terminated (*len bytes before the NUL); exit 2
 * naming the fix when it cannot be read or is larger than any forkpin report (256 MiB). */
char *fp_read_report(const char *who, const char *path, size_t *len);

/* Exit 2 naming @flag unless @path can be created for writing (checked before long work).
 * A NULL @path (the option was not given) passes. */
void fp_require_writable(const char *who, const char *flag, const char *path);

/* A count from 1 to @max, or exit 2 naming @flag. */
unsigned long fp_parse_count(const char *who, const char *flag, const char *arg, unsigned long max);

/* --seed: any number strtoull takes (decimal, 0x...), or exit 2. */
uint64_t fp_parse_seed(const char *who, const char *arg);

/* Append the names of the comma-separated @csv (modified in place) to @list, which holds
 * *@n of at most @max; exit 2 naming @what when they do not fit. */
void fp_parse_list(const char *who, const char **list, size_t *n, size_t max, char *csv,
		   const char *what);

/*
 * A pin is charged to RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK. Exit 2 up front
 * when @need bytes will not fit, instead of a run full of registration errors. @subject says
 * who pins ("case iouring/anon/x pins", "4 threads pin"), @alternative the other fix.
 */
void fp_check_memlock(const char *who, size_t need, const char *subject, const char *alternative);

/*
 * A selection that would need @need bytes of memory: exit 2 when that is more than three
 * quarters of MemAvailable (the machine would swap or OOM), naming @what and @fix.
 */
void fp_check_memory(const char *who, unsigned long long need, const char *what, const char *fix);

/*
 * Options a subcommand does not use: "@who: @option: not an option of `forkpin @command`
 * (`forkpin @command --help` lists its options)", exit 2.
 */
void fp_reject_option(const char *who, const char *command, const char *option)
    __attribute__((noreturn));

#endif

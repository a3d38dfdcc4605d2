/* SPDX-License-Identifier: MIT */
/* The command layer shared by the subcommands: see cmd.h. */
#define _GNU_SOURCE
#include "cmd.h"
#include "util.h"

#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

void fp_usage_error(const char *who, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(FP_EXIT_USAGE);
}

static bool is_directory(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/*
 * Checked without creating or truncating anything: the reports are written beside the path
 * and renamed over it at the end, so the previous report must survive until then.
 */
void fp_require_writable(const char *who, const char *flag, const char *path)
{
	char *copy, *dir;
	int err = 0;

	if (!path)
		return;
	if (!access(path, F_OK)) {
		if (access(path, W_OK))
			err = errno;
		else if (is_directory(path))
			err = EISDIR;
	} else if (errno != ENOENT) {
		err = errno;
	} else {
		copy = strdup(path);
		dir = copy ? dirname(copy) : NULL;
		if (!dir || access(dir, W_OK | X_OK))
			err = dir ? errno : ENOMEM;
		free(copy);
	}
	if (err)
		fp_usage_error(who, "%s %s: %s: give a writable path", flag, path, strerror(err));
}

unsigned long fp_parse_count(const char *who, const char *flag, const char *arg, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v == 0 || v > max || *arg == '-')
		fp_usage_error(who, "%s '%s': give a count from 1 to %lu", flag, arg, max);
	return v;
}

uint64_t fp_parse_seed(const char *who, const char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg || *end)
		fp_usage_error(who, "--seed '%s': give a number, e.g. --seed 42", arg);
	return v;
}

void fp_parse_list(const char *who, const char **list, size_t *n, size_t max, char *csv,
		   const char *what)
{
	char *save = NULL, *name;

	for (name = strtok_r(csv, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		if (*n >= max)
			fp_usage_error(who, "too many %s names (at most %zu)", what, max);
		list[(*n)++] = name;
	}
}

void fp_check_memlock(const char *who, size_t need, const char *subject, const char *alternative)
{
	struct rlimit rl;
	char have[32], want[32];

	if (fp_has_cap_ipc_lock() || getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return;
	if (need > rl.rlim_cur)
		fp_usage_error(
		    who, "RLIMIT_MEMLOCK is %s, %s %s: raise it with `ulimit -l %zu` or %s",
		    fp_format_size(rl.rlim_cur, have, sizeof(have)), subject,
		    fp_format_size(need, want, sizeof(want)), (need + 65536) / 1024, alternative);
}

void fp_reject_option(const char *who, const char *command, const char *option)
{
	fp_usage_error(who,
		       "%s: not an option of `forkpin %s` (`forkpin %s --help` lists its options)",
		       option, command, command);
}

void fp_check_memory(const char *who, unsigned long long need, const char *what, const char *fix)
{
	unsigned long long avail = fp_meminfo_kb("MemAvailable") * 1024ull;

	if (avail && need > avail / 4 * 3)
		fp_usage_error(who,
			       "%s need ~%llu MiB, more than 3/4 of MemAvailable (%llu MiB): %s",
			       what, need >> 20, avail >> 20, fix);
}

char *fp_read_report(const char *who, const char *path, size_t *len)
{
	const size_t max = 256u << 20;
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t cap = 0;

	if (!f)
		fp_usage_error(who, "%s: %s: give a report written by `forkpin run --json`", path,
			       strerror(errno));
	*len = 0;
	while (!feof(f) && !ferror(f)) {
		if (*len + 65536 > cap) {
			cap = cap ? cap * 2 : 1u << 20;
			if (cap > max || !(text = realloc(text, cap)))
				fp_usage_error(who, "%s: larger than %zu MiB: not a forkpin report",
					       path, max >> 20);
		}
		*len += fread(text + *len, 1, cap - *len, f);
	}
	if (ferror(f))
		fp_usage_error(who, "%s: read error", path);
	fclose(f);
	text[*len] = '\0'; /* cap > *len: the loop leaves 64 KiB free */
	return text;
}

/* SPDX-License-Identifier: MIT */
/*
 * The part the JSON and JUnit reporters share: a report file that replaces its path only
 * when written in full, and a reporter that collects every result and the env and writes
 * the whole document at end().
 */
#ifndef FORKPIN_REPORT_FILE_H
#define FORKPIN_REPORT_FILE_H

#include "report.h"

/* A file written as PATH.tmp and renamed over PATH by fp_outfile_commit(). */
struct fp_outfile {
	FILE *f;
	char *path;
	char *tmp; /* NULL: PATH is not a regular file (/dev/stdout, a FIFO): written in place */
};

/* Returns 0 or -errno. Removes a stale PATH.tmp by truncating it. */
int fp_outfile_open(struct fp_outfile *o, const char *path);
/* Flush, check every write, sync and rename. Returns 0 or -errno (then PATH is untouched). */
int fp_outfile_commit(struct fp_outfile *o);
/* Close and remove the temp file: PATH keeps what it had. */
void fp_outfile_discard(struct fp_outfile *o);

struct fp_collected {
	const struct fp_env *env;
	struct fp_result *results;
	size_t n, cap;
	double total_s;
};

struct fp_file_format {
	void (*write)(FILE *f, const struct fp_collected *c, const struct fp_totals *t);
	/* Optional: stream PATH.partial as JSON lines, a header then one line per case. */
	void (*partial_header)(FILE *f, const struct fp_env *env, size_t ncases);
	void (*partial_case)(FILE *f, const struct fp_result *r);
	/* Optional: the line naming the case that starts now. */
	void (*partial_running)(FILE *f, const char *id);
};

/* A reporter whose end() writes everything collected in @fmt and commits the file. */
struct fp_reporter *fp_collecting_reporter(const char *path, const struct fp_file_format *fmt);

#endif

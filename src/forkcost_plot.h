/* SPDX-License-Identifier: MIT */
/* forkpin forkcost --plot: fork() latency against registered size through gnuplot. */
#ifndef FORKPIN_FORKCOST_PLOT_H
#define FORKPIN_FORKCOST_PLOT_H

#include <stdbool.h>
#include <stddef.h>

/* One measured point; the points of one label make one line, in first-seen order. */
struct fc_point {
	const char *label; /* "unpinned", "iouring/pinned" */
	double size_mib, fork_ms;
};

/* True when gnuplot can take @path inside its single quotes: no quote, backslash or control
 * character (a quote would end the string and run the rest as gnuplot commands). */
bool fc_plot_path_ok(const char *path);
/* Fork latency against size, one line per mode, through gnuplot, into @path (.png or .svg).
 * 0 (also when gnuplot is missing: a note on stderr), or -errno. */
int fc_write_plot(const char *path, const struct fc_point *pts, size_t n, double memcpy_bw);

#endif

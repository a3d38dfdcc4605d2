/* SPDX-License-Identifier: MIT */
/*
 * forkpin forkcost --plot: fork() latency against registered size, one line per mode, drawn
 * by gnuplot from a data file and a script in a private temporary directory. The output path
 * goes into the script inside single quotes, so fc_plot_path_ok() must have accepted it.
 * It knows nothing of how the points were measured (forkcost.c).
 */
#define _GNU_SOURCE
#include "forkcost_plot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

bool fc_plot_path_ok(const char *path)
{
	const char *ext = strrchr(path, '.');
	const unsigned char *c;

	if (!ext || (strcmp(ext, ".png") && strcmp(ext, ".svg")))
		return false;
	for (c = (const unsigned char *)path; *c; c++)
		if (*c == '\'' || *c == '"' || *c == '\\' || *c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* The full path of @prog in $PATH, or false. */
static bool find_program(const char *prog, char *out, size_t size)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;
	bool found = false;

	copy = strdup(path && *path ? path : "/usr/bin:/bin");
	if (!copy)
		return false;
	for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", dir, prog);
		found = access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* gnuplot's own messages go to @errlog: shown only when it fails, not as noise on success. */
static int run_gnuplot(const char *gnuplot, const char *script, const char *errlog)
{
	int status, fd;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execl(gnuplot, "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static void show_log(const char *errlog)
{
	char line[512];
	FILE *f = fopen(errlog, "re");

	while (f && fgets(line, sizeof(line), f))
		fprintf(stderr, "forkpin forkcost: gnuplot: %s", line);
	if (f)
		fclose(f);
}

/* The x range: a log axis over one size is empty, so a single size gets an octave each way. */
static void write_xrange(FILE *f, const struct fc_point *pts, size_t n)
{
	double lo = n ? pts[0].size_mib : 1, hi = lo;
	size_t i;

	for (i = 1; i < n; i++) {
		lo = pts[i].size_mib < lo ? pts[i].size_mib : lo;
		hi = pts[i].size_mib > hi ? pts[i].size_mib : hi;
	}
	if (lo == hi)
		fprintf(f, "set xrange [%g:%g]\n", lo / 2, hi * 2);
}

/* True when point @i is the first of its label (labels are plotted in first-seen order). */
static bool first_of_label(const struct fc_point *pts, size_t i)
{
	size_t j;

	for (j = 0; j < i && strcmp(pts[j].label, pts[i].label); j++)
		;
	return j == i;
}

/* The data file: one block ("size_MiB fork_ms" lines) per label. */
static int write_data(const char *data, const struct fc_point *pts, size_t n)
{
	FILE *f = fopen(data, "we");
	size_t i, j, blocks = 0;

	if (!f)
		return -errno;
	for (i = 0; i < n; i++) {
		if (!first_of_label(pts, i))
			continue;
		fprintf(f, "%s# %s\n", blocks++ ? "\n\n" : "", pts[i].label);
		for (j = i; j < n; j++)
			if (!strcmp(pts[j].label, pts[i].label))
				fprintf(f, "%g %g\n", pts[j].size_mib, pts[j].fork_ms);
	}
	return fclose(f) ? -errno : 0;
}

static int write_script(const char *script, const char *term, const char *path, const char *data,
			const struct fc_point *pts, size_t n, double memcpy_bw)
{
	FILE *f = fopen(script, "we");
	size_t i, b = 0;

	if (!f)
		return -errno;
	fprintf(f, "set terminal %s\nset output '%s'\n", term, path);
	fprintf(f, "set title 'fork() latency vs registered memory (memcpy %.1f GiB/s)'\n",
		memcpy_bw);
	fputs("set xlabel 'registered size (MiB)'\nset ylabel 'fork() latency (ms)'\n"
	      "set logscale x 2\nset logscale y 10\nset key top left\nset grid\n",
	      f);
	write_xrange(f, pts, n);
	fputs("plot ", f);
	for (i = 0; i < n; i++) {
		if (!first_of_label(pts, i))
			continue;
		fprintf(f, "%s'%s' index %zu using 1:2 with linespoints title '%s'", b ? ", " : "",
			data, b, pts[i].label);
		b++;
	}
	fputs(b ? "\n" : "0 notitle\n", f);
	return fclose(f) ? -errno : 0;
}

int fc_write_plot(const char *path, const struct fc_point *pts, size_t n, double memcpy_bw)
{
	static const char *const png_terms[] = {"pngcairo size 960,600 noenhanced",
						"png size 960,600 noenhanced", NULL};
	static const char *const svg_terms[] = {"svg size 960,600 noenhanced", NULL};
	char gnuplot[4096], dir[] = "/tmp/forkpin-plot-XXXXXX", data[64], script[64], errlog[64];
	const char *const *term;
	int err;

	if (!fc_plot_path_ok(path))
		return -EINVAL;
	if (!find_program("gnuplot", gnuplot, sizeof(gnuplot))) {
		fprintf(stderr, "forkpin forkcost: gnuplot is not installed (apt-get install "
				"gnuplot-nox): no plot written\n");
		return 0;
	}
	term = !strcmp(strrchr(path, '.'), ".png") ? png_terms : svg_terms;
	if (!mkdtemp(dir))
		return -errno;
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(script, sizeof(script), "%s/plot.gp", dir);
	snprintf(errlog, sizeof(errlog), "%s/gnuplot.err", dir);
	err = write_data(data, pts, n);
	for (; !err && *term; term++) {
		err = write_script(script, *term, path, data, pts, n, memcpy_bw);
		if (!err)
			err = run_gnuplot(gnuplot, script, errlog);
		if (!err)
			break;
		if (!term[1])
			show_log(errlog); /* the last terminal failed too: say why */
		err = term[1] ? 0 : err;  /* a terminal this gnuplot lacks: try the next */
	}
	unlink(errlog);
	unlink(data);
	unlink(script);
	rmdir(dir);
	return err;
}

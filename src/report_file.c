/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "report_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *path_with_suffix(const char *path, const char *suffix)
{
	char *p;

	return asprintf(&p, "%s%s", path, suffix) < 0 ? NULL : p;
}

/*
 * Temp files not yet committed, removed at exit: a usage error after the first report was
 * opened (exit 2 for a bad --junit path) must not leave FILE.tmp behind.
 */
#define MAX_PENDING 8
static struct fp_outfile *pending[MAX_PENDING];

static void remove_pending_at_exit(void)
{
	size_t i;

	for (i = 0; i < MAX_PENDING; i++)
		if (pending[i] && pending[i]->tmp)
			unlink(pending[i]->tmp);
}

static void track_pending(struct fp_outfile *o, bool add)
{
	static bool registered;
	size_t i;

	if (add && !registered)
		registered = atexit(remove_pending_at_exit) == 0;
	for (i = 0; i < MAX_PENDING; i++) {
		if (add && !pending[i]) {
			pending[i] = o;
			return;
		}
		if (!add && pending[i] == o)
			pending[i] = NULL;
	}
}

/* A device or a pipe has nothing to rename, and /dev/stdout or /proc/self/fd/N must stay the
 * open file they name even when that is a regular file (`--json /dev/stdout > out`). */
static bool written_in_place(const char *given, const char *resolved)
{
	struct stat st;

	if (!strncmp(given, "/dev/", 5) || !strncmp(given, "/proc/", 6))
		return true;
	return stat(resolved, &st) == 0 && !S_ISREG(st.st_mode);
}

int fp_outfile_open(struct fp_outfile *o, const char *path)
{
	int err;

	memset(o, 0, sizeof(*o));
	/* A symlink (latest.json -> run-42.json) keeps pointing: the file it names is replaced. */
	o->path = realpath(path, NULL);
	if (!o->path)
		o->path = strdup(path);
	if (!o->path)
		return -ENOMEM;
	if (written_in_place(path, o->path)) {
		o->f = fopen(path, "we");
	} else {
		o->tmp = path_with_suffix(o->path, ".tmp");
		if (!o->tmp) {
			errno = ENOMEM;
			goto fail;
		}
		o->f = fopen(o->tmp, "we");
	}
	if (o->f) {
		if (o->tmp)
			track_pending(o, true);
		return 0;
	}
fail:
	err = -errno;
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof(*o));
	return err;
}

static void outfile_free(struct fp_outfile *o)
{
	track_pending(o, false);
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof(*o));
}

int fp_outfile_commit(struct fp_outfile *o)
{
	int err = 0;

	if (fflush(o->f) || ferror(o->f))
		err = errno ? -errno : -EIO;
	/* Synced before the rename, so a power cut leaves the old report or the new one. */
	if (!err && o->tmp && fsync(fileno(o->f)))
		err = -errno;
	if (fclose(o->f) && !err)
		err = -errno;
	o->f = NULL;
	if (!err && o->tmp && rename(o->tmp, o->path))
		err = -errno;
	if (err && o->tmp)
		unlink(o->tmp);
	outfile_free(o);
	return err;
}

void fp_outfile_discard(struct fp_outfile *o)
{
	if (o->f)
		fclose(o->f);
	if (o->tmp)
		unlink(o->tmp);
	outfile_free(o);
}

/* The absolute path of @path, resolving symlinks of what exists (the file need not). */
static bool canonical_path(const char *path, char *out)
{
	char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];

	if (realpath(path, out))
		return true;
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	if (!realpath(dirname(dir), real))
		return false;
	return snprintf(out, PATH_MAX, "%s/%s", real, basename(base)) < PATH_MAX;
}

bool fp_report_paths_clash(const char *a, const char *b)
{
	char ca[PATH_MAX], cb[PATH_MAX];
	struct stat sa, sb;

	if (!strcmp(a, b))
		return true;
	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	return canonical_path(a, ca) && canonical_path(b, cb) && !strcmp(ca, cb);
}

struct file_state {
	struct fp_collected c;
	const struct fp_file_format *fmt;
	struct fp_outfile out;
	FILE *partial;
	char *partial_path;
	int err; /* first failure to record a result or to stream it: end() reports it */
};

static void record_error(struct file_state *s, int err)
{
	if (!s->err)
		s->err = err;
}

/* Stream one record to PATH.partial; flushed, so a SIGKILL right after keeps it. */
static void partial_flush(struct file_state *s)
{
	if (s->partial && (fflush(s->partial) || ferror(s->partial))) {
		record_error(s, errno ? -errno : -EIO);
		fclose(s->partial);
		s->partial = NULL;
	}
}

static int file_begin(void *state, size_t ncases, const struct fp_env *env)
{
	struct file_state *s = state;

	s->c.env = env;
	s->c.results = calloc(ncases ? ncases : 1, sizeof(*s->c.results));
	if (!s->c.results) {
		record_error(s, -ENOMEM);
		return -ENOMEM;
	}
	s->c.cap = ncases ? ncases : 1;
	if (s->partial_path && s->fmt->partial_header) {
		s->partial = fopen(s->partial_path, "we");
		if (!s->partial) {
			record_error(s, -errno);
			return s->err;
		}
		s->fmt->partial_header(s->partial, env, ncases);
		partial_flush(s);
	}
	return s->err;
}

static void file_result(void *state, size_t index, const struct fp_result *res)
{
	struct file_state *s = state;

	(void)index;
	if (s->c.n == s->c.cap) {
		size_t cap = s->c.cap ? 2 * s->c.cap : 16;
		struct fp_result *more = reallocarray(s->c.results, cap, sizeof(*more));

		if (!more) {
			record_error(s, -ENOMEM); /* the run fails rather than lose a result */
			return;
		}
		s->c.results = more;
		s->c.cap = cap;
	}
	s->c.results[s->c.n++] = *res;
	s->c.total_s += res->duration_s;
}

/* The stream records each case as it ends (with --jobs N, not always in the cases' order). */
static void file_finished(void *state, size_t index, const struct fp_result *res)
{
	struct file_state *s = state;

	(void)index;
	if (s->partial) {
		s->fmt->partial_case(s->partial, res);
		partial_flush(s);
	}
}

static void file_start(void *state, size_t index, const char *id)
{
	struct file_state *s = state;

	(void)index;
	if (s->partial && s->fmt->partial_running) {
		s->fmt->partial_running(s->partial, id);
		partial_flush(s);
	}
}

static void close_partial(struct file_state *s, bool remove)
{
	if (s->partial)
		fclose(s->partial);
	s->partial = NULL;
	if (remove && s->partial_path)
		unlink(s->partial_path);
}

static int file_end(void *state, const struct fp_totals *t)
{
	struct file_state *s = state;
	int err = s->err;

	if (err == -ENOMEM) {
		/* A report missing results would read as a smaller run: keep the previous one. */
		fp_outfile_discard(&s->out);
	} else {
		s->fmt->write(s->out.f, &s->c, t);
		err = fp_outfile_commit(&s->out);
		if (!err)
			err = s->err;
	}
	/* The partial stream stays only when the full report could not be written. */
	close_partial(s, !err);
	free(s->c.results);
	s->c.results = NULL;
	return err;
}

static void file_free(void *state)
{
	struct file_state *s = state;

	if (s->out.f)
		fp_outfile_discard(&s->out);
	close_partial(s, false);
	free(s->partial_path);
	free(s->c.results);
}

/* Remove a stale PATH.partial now (an earlier run's must not be mistaken for this one's); the
 * new one is created when the run begins. */
static int forget_stale_partial(struct file_state *s, const char *path)
{
	if (!s->out.tmp)
		return 0; /* a device or a pipe written in place: no stream beside it */
	s->partial_path = path_with_suffix(path, ".partial");
	if (!s->partial_path)
		return -ENOMEM;
	unlink(s->partial_path);
	return 0;
}

struct fp_reporter *fp_collecting_reporter(const char *path, const struct fp_file_format *fmt)
{
	struct fp_reporter *r = calloc(1, sizeof(*r));
	struct file_state *s = calloc(1, sizeof(*s));
	int err = -ENOMEM;

	if (!r || !s)
		goto fail;
	s->fmt = fmt;
	err = fp_outfile_open(&s->out, path);
	if (err)
		goto fail;
	err = forget_stale_partial(s, path);
	if (err)
		goto fail;
	*r = (struct fp_reporter){.state = s,
				  .begin = file_begin,
				  .start = file_start,
				  .finished = file_finished,
				  .result = file_result,
				  .end = file_end,
				  .free_state = file_free};
	return r;
fail:
	if (s)
		file_free(s);
	free(r);
	free(s);
	errno = -err;
	return NULL;
}

/* SPDX-License-Identifier: MIT */
#include "report_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct file_state {
	struct fp_collected c;
	void (*write)(FILE *f, const struct fp_collected *c, const struct fp_totals *t);
};

static void file_begin(void *state, size_t ncases, const struct fp_env *env)
{
	struct file_state *s = state;

	s->c.env = env;
	s->c.results = calloc(ncases ? ncases : 1, sizeof(*s->c.results));
	s->c.cap = s->c.results ? ncases : 0;
}

static void file_result(void *state, size_t index, const struct fp_result *res)
{
	struct file_state *s = state;

	(void)index;
	if (s->c.n < s->c.cap) {
		s->c.results[s->c.n++] = *res;
		s->c.total_s += res->duration_s;
	}
}

static int file_end(void *state, const struct fp_totals *t)
{
	struct file_state *s = state;
	int err = 0;

	s->write(s->c.f, &s->c, t);
	if (ferror(s->c.f))
		err = -EIO;
	if (fclose(s->c.f))
		err = -errno;
	s->c.f = NULL;
	free(s->c.results);
	s->c.results = NULL;
	return err;
}

struct fp_reporter *fp_collecting_reporter(const char *path,
					   void (*write)(FILE *f, const struct fp_collected *c,
							 const struct fp_totals *t))
{
	struct fp_reporter *r = calloc(1, sizeof(*r));
	struct file_state *s = calloc(1, sizeof(*s));
	int err;

	if (!r || !s)
		goto fail_nomem;
	s->c.f = fopen(path, "we");
	if (!s->c.f)
		goto fail;
	s->write = write;
	*r = (struct fp_reporter){
	    .state = s, .begin = file_begin, .result = file_result, .end = file_end};
	return r;
fail_nomem:
	errno = ENOMEM;
fail:
	err = errno;
	free(r);
	free(s);
	errno = err;
	return NULL;
}

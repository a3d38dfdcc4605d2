/* SPDX-License-Identifier: MIT */
/*
 * The reports of a run that never finished, from its stream. `forkpin run --json PATH`
 * streams PATH.partial as it goes (report_json.c): a header with the env, then per case a
 * {"running": ID} line as it starts and its case object, the same as in the report, as it
 * ends. In the test VM that stream lands on the host's share line by line, so when the guest
 * is stopped, hangs or panics, every case it finished is here: read back into results, they
 * go through the same JSON and JUnit reporters as any run, with the totals marked stopped.
 */
#define _GNU_SOURCE
#include "vm_salvage.h"
#include "json_read.h"
#include "report.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One case read back: the result and the strings it points to. */
struct salvaged {
	struct fp_result r;
	char backend[64], memtype[64], scenario[96];
	char explanation[1200];
};

struct stream {
	struct fp_env env;
	struct salvaged *cases;
	size_t n, cap;
	char running[64][128]; /* started, not ended: with -j N several */
	size_t nrunning;
};

static bool name_to_verdict(const char *name, enum fp_verdict *v)
{
	enum fp_verdict k;

	for (k = FP_VERDICT_PASS; name && k <= FP_VERDICT_XFAIL; k++)
		if (!strcmp(name, fp_verdict_name(k))) {
			*v = k;
			return true;
		}
	return false;
}

static bool name_to_status(const char *name, enum fp_status *s)
{
	enum fp_status k;

	for (k = FP_STATUS_PASS; name && k <= FP_STATUS_SIGNAL; k++)
		if (!strcmp(name, fp_status_name(k))) {
			*s = k;
			return true;
		}
	return false;
}

static void copy_string(char *dst, size_t size, const struct fp_json *obj, const char *key)
{
	const char *s = fp_json_get_string(obj, key);

	snprintf(dst, size, "%s", s ? s : "");
}

static double get_number(const struct fp_json *obj, const char *key)
{
	const struct fp_json *v = fp_json_get(obj, key);

	return v && v->type == FP_JSON_NUMBER ? v->number : 0;
}

static void forget_running(struct stream *st, const char *id)
{
	size_t i;

	for (i = 0; i < st->nrunning; i++)
		if (!strcmp(st->running[i], id)) {
			memmove(st->running[i], st->running[i + 1],
				(st->nrunning - i - 1) * sizeof(st->running[0]));
			st->nrunning--;
			return;
		}
}

/* A case object as report_json.c writes it; false when @c is not one. */
static bool add_case(struct stream *st, const struct fp_json *c)
{
	const struct fp_json *control = fp_json_get(c, "control");
	struct salvaged *x;

	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 64;
		struct salvaged *more = reallocarray(st->cases, cap, sizeof(*more));

		if (!more)
			return false;
		st->cases = more;
		st->cap = cap;
	}
	x = memset(&st->cases[st->n], 0, sizeof(*x));
	if (!fp_json_get_string(c, "id") ||
	    !name_to_verdict(fp_json_get_string(c, "result"), &x->r.verdict) ||
	    !name_to_status(fp_json_get_string(c, "status"), &x->r.outcome.status))
		return false;
	copy_string(x->r.id, sizeof(x->r.id), c, "id");
	copy_string(x->backend, sizeof(x->backend), c, "backend");
	copy_string(x->memtype, sizeof(x->memtype), c, "memtype");
	copy_string(x->scenario, sizeof(x->scenario), c, "scenario");
	copy_string(x->r.outcome.reason, sizeof(x->r.outcome.reason), c, "diagnosis");
	copy_string(x->r.outcome.note, sizeof(x->r.outcome.note), c, "note");
	copy_string(x->explanation, sizeof(x->explanation), c, "explanation");
	x->r.control = control && control->type == FP_JSON_TRUE;
	x->r.outcome.pages_checked = (size_t)get_number(c, "pages_checked");
	x->r.duration_s = get_number(c, "duration_s");
	forget_running(st, x->r.id);
	st->n++;
	return true;
}

/* The header: the env, as strings (the fingerprint's only type). */
static bool read_header(struct stream *st, const struct fp_json *h, size_t *planned)
{
	const struct fp_json *env = fp_json_get(h, "env");
	const struct fp_json *partial = fp_json_get(h, "partial");
	size_t i;

	if (!partial || partial->type != FP_JSON_TRUE || !env || env->type != FP_JSON_OBJECT)
		return false;
	for (i = 0; i < env->count; i++)
		if (env->items[i]->type == FP_JSON_STRING)
			fp_env_set(&st->env, env->keys[i], "%s", env->items[i]->string);
	*planned = (size_t)get_number(h, "cases_planned");
	return true;
}

/* One line after the header: a {"running": ID} or a case; torn lines are counted. */
static void read_line(struct stream *st, const struct fp_json *v, struct fp_salvage *out)
{
	const char *id = v ? fp_json_get_string(v, "running") : NULL;

	if (id) {
		if (st->nrunning < FP_ARRAY_SIZE(st->running))
			snprintf(st->running[st->nrunning++], sizeof(st->running[0]), "%s", id);
		return;
	}
	if (!v || !add_case(st, v))
		out->torn++;
}

static int read_stream(FILE *f, struct stream *st, struct fp_salvage *out)
{
	char *line = NULL, err[128];
	size_t cap = 0;
	ssize_t len;
	bool header = false;
	int rc = -ENOENT;

	while ((len = getline(&line, &cap, f)) > 0) {
		struct fp_json *v = fp_json_parse(line, (size_t)len, err, sizeof(err));

		if (!header) {
			header = true;
			rc = v && read_header(st, v, &out->planned) ? 0 : -EINVAL;
		} else {
			read_line(st, v, out);
		}
		fp_json_free(v);
		if (rc)
			break;
	}
	free(line);
	return rc;
}

/* "WHY during A, B" when cases were running, else "WHY after N of M cases". */
static void say_stopped(const struct stream *st, const char *why, struct fp_salvage *out)
{
	size_t i, len = 0;

	for (i = 0; i < st->nrunning && len < sizeof(out->running); i++)
		len += (size_t)snprintf(out->running + len, sizeof(out->running) - len, "%s%s",
					i ? ", " : "", st->running[i]);
	if (st->nrunning) {
		/* Cut to the totals' room: the running cases stay whole in out->running. */
		len = (size_t)snprintf(out->stopped, sizeof(out->stopped), "%s during ", why);
		if (len < sizeof(out->stopped) - 1) {
			size_t n = strnlen(out->running, sizeof(out->stopped) - 1 - len);

			memcpy(out->stopped + len, out->running, n);
			out->stopped[len + n] = '\0';
		}
	} else
		snprintf(out->stopped, sizeof(out->stopped), "%s after %zu of %zu cases", why,
			 out->done, out->planned);
}

static int write_reports(struct stream *st, const char *json, const char *junit, int signo,
			 const char *stopped)
{
	struct fp_reporter *rep[2] = {NULL, NULL};
	struct fp_totals t = {0};
	const char *paths[2] = {json, junit};
	size_t i, k;
	int err = 0, e;

	for (i = 0; i < st->n; i++) {
		st->cases[i].r.backend = st->cases[i].backend;
		st->cases[i].r.memtype = st->cases[i].memtype;
		st->cases[i].r.scenario = st->cases[i].scenario;
		st->cases[i].r.explanation = st->cases[i].explanation;
		fp_totals_add(&t, st->cases[i].r.verdict);
	}
	fp_totals_stop(&t, signo, stopped);
	for (k = 0; k < 2; k++) {
		if (!paths[k])
			continue;
		rep[k] = k ? fp_junit_reporter(paths[k]) : fp_json_reporter(paths[k]);
		e = rep[k] ? rep[k]->begin(rep[k]->state, st->n, &st->env) : -errno;
		if (e) {
			err = err ? err : e;
			continue;
		}
		for (i = 0; i < st->n; i++)
			rep[k]->result(rep[k]->state, i, &st->cases[i].r);
		e = rep[k]->end(rep[k]->state, &t);
		err = err ? err : e;
	}
	for (k = 0; k < 2; k++)
		if (rep[k])
			fp_reporter_free(rep[k]);
	return err;
}

int fp_salvage_reports(const char *partial, const char *json, const char *junit, int signo,
		       const char *why, struct fp_salvage *out)
{
	struct stream *st = calloc(1, sizeof(*st));
	FILE *f = fopen(partial, "re");
	int err;

	memset(out, 0, sizeof(*out));
	if (!st || !f) {
		err = st ? -ENOENT : -ENOMEM;
		goto done;
	}
	err = read_stream(f, st, out);
	if (err)
		goto done;
	out->done = st->n;
	say_stopped(st, why, out);
	err = write_reports(st, json, junit, signo, out->stopped);
done:
	if (f)
		fclose(f);
	if (st)
		free(st->cases);
	free(st);
	return err;
}

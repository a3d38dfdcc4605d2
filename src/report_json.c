/* SPDX-License-Identifier: MIT */
/*
 * JSON: {"forkpin": ..., "complete": true|false, ["interrupted": "SIGINT" or a reason,]
 *        "env": {...}, "totals": {...}, "cases": [...]}
 * PATH.partial while running: JSON lines, {"forkpin": ..., "schema_version": N, "hostname":
 * ..., "started": UTC, "partial": true, "cases_planned": N, "env": {...}} then one case object
 * per line, each after a {"running": ID} line.
 */
#include "report_file.h"

#include <string.h>

/* "complete", and when it is not, what stopped the run and during which case. */
static void write_completion(FILE *f, const struct fp_totals *t)
{
	char buf[32];

	fprintf(f, "  \"complete\": %s,\n", fp_totals_complete(t) ? "true" : "false");
	if (fp_totals_complete(t))
		return;
	fputs("  \"interrupted\": ", f);
	fp_json_write_string(f, t->signo ? fp_signal_name(t->signo, buf, sizeof(buf)) : t->stopped);
	fputs(",\n  \"stopped\": ", f);
	fp_json_write_string(f, t->stopped);
	fputs(",\n", f);
}

static void write_case(FILE *f, const struct fp_result *r)
{
	char why[1200];

	fputs("{\"id\": ", f);
	fp_json_write_string(f, r->id);
	fputs(", \"backend\": ", f);
	fp_json_write_string(f, r->backend);
	fputs(", \"memtype\": ", f);
	fp_json_write_string(f, r->memtype);
	fputs(", \"scenario\": ", f);
	fp_json_write_string(f, r->scenario);
	fprintf(f, ", \"control\": %s, \"result\": ", r->control ? "true" : "false");
	fp_json_write_string(f, fp_verdict_name(r->verdict));
	fputs(", \"status\": ", f);
	fp_json_write_string(f, fp_status_name(r->outcome.status));
	fputs(", \"diagnosis\": ", f);
	fp_json_write_string(f, r->outcome.reason);
	fputs(", \"note\": ", f);
	fp_json_write_string(f, r->outcome.note);
	fputs(", \"explanation\": ", f);
	fp_json_write_string(f, fp_result_explain(r, why, sizeof(why)));
	fprintf(f, ", \"pages_checked\": %zu, \"duration_s\": %.6f}", r->outcome.pages_checked,
		r->duration_s);
}

static void write_json(FILE *f, const struct fp_collected *c, const struct fp_totals *t)
{
	size_t i;

	fputs("{\n  \"forkpin\": ", f);
	fp_json_write_string(f, FORKPIN_VERSION);
	fputs(",\n", f);
	fp_report_write_identity(f, c->env);
	write_completion(f, t);
	fputs("  \"env\": ", f);
	fp_env_write_json(f, c->env, 4);
	fputs(",\n", f);
	fprintf(
	    f,
	    "  \"totals\": {\"pass\": %zu, \"fail\": %zu, \"skip\": %zu, "
	    "\"control_detected\": %zu, \"control_missed\": %zu, \"xfail\": %zu, \"passed\": %zu, "
	    "\"failed\": %zu, \"exit_code\": %d, \"duration_s\": %.6f},\n",
	    t->pass, t->fail, t->skip, t->control_detected, t->control_missed, t->xfail,
	    fp_totals_passed(t), fp_totals_failed(t), fp_totals_exit_code(t), c->total_s);
	fputs("  \"cases\": [", f);
	for (i = 0; i < c->n; i++) {
		fputs(i ? ",\n    " : "\n    ", f);
		write_case(f, &c->results[i]);
	}
	fputs("\n  ]\n}\n", f);
}

/* The report's identity on one line: a fleet's merge names the node of a run that died. */
static void partial_header(FILE *f, const struct fp_env *env, size_t ncases)
{
	const char *host = env ? fp_env_get(env, "node.hostname") : NULL;
	char now[32];

	fputs("{\"forkpin\": ", f);
	fp_json_write_string(f, FORKPIN_VERSION);
	fprintf(f, ", \"schema_version\": %d, \"hostname\": ", FP_REPORT_SCHEMA_VERSION);
	fp_json_write_string(f, host ? host : "unknown");
	fputs(", \"started\": ", f);
	fp_json_write_string(f, fp_utc_timestamp(now, sizeof(now)));
	fprintf(f, ", \"partial\": true, \"cases_planned\": %zu, \"env\": ", ncases);
	fp_env_write_json(f, env, -1);
	fputs("}\n", f);
}

static void partial_case(FILE *f, const struct fp_result *r)
{
	write_case(f, r);
	fputc('\n', f);
}

/* {"running": ID}: the case that started; the next case line (or none, after a hang) follows. */
static void partial_running(FILE *f, const char *id)
{
	fputs("{\"running\": ", f);
	fp_json_write_string(f, id);
	fputs("}\n", f);
}

static const struct fp_file_format json_format = {.write = write_json,
						  .partial_header = partial_header,
						  .partial_case = partial_case,
						  .partial_running = partial_running};

struct fp_reporter *fp_json_reporter(const char *path)
{
	return fp_collecting_reporter(path, &json_format);
}

int fp_env_write_json_file(const char *path, const struct fp_env *env)
{
	struct fp_outfile out;
	int err = fp_outfile_open(&out, path);

	if (err)
		return err;
	fp_env_write_json(out.f, env, 2);
	fputc('\n', out.f);
	return fp_outfile_commit(&out);
}

/* SPDX-License-Identifier: MIT */
/* JSON: {"forkpin": ..., "env": {...}, "totals": {...}, "cases": [...]} */
#include "report_file.h"

static void write_case(FILE *f, const struct fp_result *r)
{
	char why[1200];

	fputs("    {\"id\": ", f);
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
		fputs(i ? ",\n" : "\n", f);
		write_case(f, &c->results[i]);
	}
	fputs("\n  ]\n}\n", f);
}

struct fp_reporter *fp_json_reporter(const char *path)
{
	return fp_collecting_reporter(path, write_json);
}

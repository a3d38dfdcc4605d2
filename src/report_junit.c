/* SPDX-License-Identifier: MIT */
/* JUnit XML: one testsuite, env as properties, classname backend.memtype, name scenario. */
#include "report_file.h"

static void write_attr(FILE *f, const char *name, const char *value)
{
	fprintf(f, " %s=\"", name);
	fp_xml_write_escaped(f, value);
	fputc('"', f);
}

static void write_properties(FILE *f, const struct fp_env *env)
{
	size_t i;

	fputs("    <properties>\n", f);
	for (i = 0; env && i < env->count; i++) {
		fputs("      <property", f);
		write_attr(f, "name", env->items[i].key);
		write_attr(f, "value", env->items[i].value);
		fputs("/>\n", f);
	}
	fputs("    </properties>\n", f);
}

static void write_testcase(FILE *f, const struct fp_result *r)
{
	char classname[128], why[1200];

	snprintf(classname, sizeof(classname), "%s.%s", r->backend, r->memtype);
	fp_result_explain(r, why, sizeof(why));
	fputs("    <testcase", f);
	write_attr(f, "classname", classname);
	write_attr(f, "name", r->scenario);
	fprintf(f, " time=\"%.6f\">\n", r->duration_s);
	switch (r->verdict) {
	case FP_VERDICT_FAIL:
	case FP_VERDICT_CONTROL_MISSED:
		fputs("      <failure", f);
		write_attr(f, "type", fp_verdict_name(r->verdict));
		write_attr(f, "message", why);
		fputs(">", f);
		fp_xml_write_escaped(f, r->id);
		fputs(": ", f);
		fp_xml_write_escaped(f, why);
		fputs("</failure>\n", f);
		break;
	case FP_VERDICT_SKIP:
		fputs("      <skipped", f);
		write_attr(f, "message", why);
		fputs("/>\n", f);
		break;
	default:
		if (why[0]) {
			fputs("      <system-out>", f);
			fp_xml_write_escaped(f, why);
			fputs("</system-out>\n", f);
		}
	}
	fputs("    </testcase>\n", f);
}

/*
 * A run stopped early is one more testcase, forkpin.run/complete, holding an <error>: CI
 * shows it as an error, and the suite cannot read as green with cases missing.
 */
static void write_incomplete(FILE *f, const struct fp_totals *t)
{
	char signame[32];

	fputs("    <testcase classname=\"forkpin.run\" name=\"complete\" time=\"0\">\n", f);
	fputs("      <error", f);
	write_attr(f, "type",
		   t->signo ? fp_signal_name(t->signo, signame, sizeof(signame)) : "incomplete");
	write_attr(f, "message", t->stopped);
	fputs(">the run is incomplete: ", f);
	fp_xml_write_escaped(f, t->stopped);
	fputs("</error>\n    </testcase>\n", f);
}

static void write_junit(FILE *f, const struct fp_collected *c, const struct fp_totals *t)
{
	size_t i, errors = fp_totals_complete(t) ? 0 : 1;
	char stamp[32];

	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite", f);
	write_attr(f, "name", "forkpin");
	write_attr(f, "hostname", c->env ? fp_env_get(c->env, "node.hostname") : NULL);
	write_attr(f, "timestamp", fp_utc_timestamp(stamp, sizeof(stamp)));
	fprintf(f,
		" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.6f\">\n",
		c->n + errors, fp_totals_failed(t), errors, t->skip, c->total_s);
	write_properties(f, c->env);
	for (i = 0; i < c->n; i++)
		write_testcase(f, &c->results[i]);
	if (errors)
		write_incomplete(f, t);
	fputs("  </testsuite>\n</testsuites>\n", f);
}

static const struct fp_file_format junit_format = {.write = write_junit};

struct fp_reporter *fp_junit_reporter(const char *path)
{
	return fp_collecting_reporter(path, &junit_format);
}

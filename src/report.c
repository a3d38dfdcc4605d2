/* SPDX-License-Identifier: MIT */
/* What every report format shares: totals, names, explanations and escaping. */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void fp_totals_add(struct fp_totals *t, enum fp_verdict v)
{
	switch (v) {
	case FP_VERDICT_PASS:
		t->pass++;
		break;
	case FP_VERDICT_FAIL:
		t->fail++;
		break;
	case FP_VERDICT_SKIP:
		t->skip++;
		break;
	case FP_VERDICT_CONTROL_DETECTED:
		t->control_detected++;
		break;
	case FP_VERDICT_CONTROL_MISSED:
		t->control_missed++;
		break;
	case FP_VERDICT_XFAIL:
		t->xfail++;
		break;
	}
}

size_t fp_totals_passed(const struct fp_totals *t)
{
	return t->pass + t->control_detected;
}

size_t fp_totals_failed(const struct fp_totals *t)
{
	return t->fail + t->control_missed;
}

enum fp_exit fp_exit_code(size_t failed, size_t ran)
{
	if (failed)
		return FP_EXIT_FAIL;
	return ran ? FP_EXIT_OK : FP_EXIT_NOTHING_RAN;
}

enum fp_exit fp_totals_exit_code(const struct fp_totals *t)
{
	return fp_exit_code(fp_totals_failed(t), fp_totals_passed(t) + t->xfail);
}

const char *fp_verdict_name(enum fp_verdict v)
{
	static const char *const names[] = {
	    [FP_VERDICT_PASS] = "pass",
	    [FP_VERDICT_FAIL] = "fail",
	    [FP_VERDICT_SKIP] = "skip",
	    [FP_VERDICT_CONTROL_DETECTED] = "control-detected",
	    [FP_VERDICT_CONTROL_MISSED] = "control-missed",
	    [FP_VERDICT_XFAIL] = "xfail",
	};
	return names[v];
}

const char *fp_status_name(enum fp_status s)
{
	static const char *const names[] = {
	    [FP_STATUS_PASS] = "pass",	     [FP_STATUS_MISMATCH] = "mismatch",
	    [FP_STATUS_ERROR] = "error",     [FP_STATUS_SKIP] = "skip",
	    [FP_STATUS_TIMEOUT] = "timeout", [FP_STATUS_SIGNAL] = "signal",
	};
	return names[s];
}

const char *fp_result_explain(const struct fp_result *r, char *buf, size_t size)
{
	const struct fp_outcome *o = &r->outcome;
	const char *sep = o->note[0] ? " [" : "", *end = o->note[0] ? "]" : "";

	switch (r->verdict) {
	case FP_VERDICT_PASS:
		snprintf(buf, size, "%s", o->note);
		break;
	case FP_VERDICT_CONTROL_DETECTED:
		snprintf(buf, size, "control detected: %s%s%s%s", o->reason, sep, o->note, end);
		break;
	case FP_VERDICT_CONTROL_MISSED:
		snprintf(buf, size,
			 "control NOT detected: the check saw correct data where it must see lost "
			 "DMA, so forkpin cannot detect breakage here%s%s%s",
			 sep, o->note, end);
		break;
	case FP_VERDICT_SKIP:
		snprintf(buf, size, "%s", o->reason);
		break;
	case FP_VERDICT_FAIL:
		snprintf(buf, size, "%s: %s%s%s%s", fp_status_name(o->status), o->reason, sep,
			 o->note, end);
		break;
	case FP_VERDICT_XFAIL:
		if (!r->known_issue)
			snprintf(buf, size, "known failure on this site: %s; %s", r->site_reason,
				 o->reason);
		else if (r->site_reason)
			snprintf(buf, size,
				 "known kernel limitation: %s (accepted by the site: %s); %s",
				 r->known_issue, r->site_reason, o->reason);
		else
			snprintf(buf, size, "known kernel limitation: %s; %s", r->known_issue,
				 o->reason);
		break;
	}
	return buf;
}

void fp_json_write_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void fp_env_write_json(FILE *f, const struct fp_env *env, int indent)
{
	size_t i;

	fputc('{', f);
	for (i = 0; env && i < env->count; i++) {
		if (indent < 0)
			fputs(i ? ", " : "", f);
		else
			fprintf(f, "%s\n%*s", i ? "," : "", indent, "");
		fp_json_write_string(f, env->items[i].key);
		fputs(": ", f);
		fp_json_write_string(f, env->items[i].value);
	}
	if (indent >= 0)
		fprintf(f, "\n%*s", indent - 2, "");
	fputc('}', f);
}

const char *fp_utc_timestamp(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	if (!gmtime_r(&now, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "unknown");
	return buf;
}

void fp_report_write_identity(FILE *f, const struct fp_env *env)
{
	const char *host = env ? fp_env_get(env, "node.hostname") : NULL;
	char now[32];

	fprintf(f, "  \"schema_version\": %d,\n  \"hostname\": ", FP_REPORT_SCHEMA_VERSION);
	fp_json_write_string(f, host ? host : "unknown");
	fputs(",\n  \"timestamp\": ", f);
	fp_json_write_string(f, fp_utc_timestamp(now, sizeof(now)));
	fputs(",\n", f);
}

void fp_xml_write_escaped(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			/* XML 1.0 forbids most control characters: drop them. */
			if (c >= 0x20 || c == '\n' || c == '\t')
				fputc(c, f);
		}
	}
}

void fp_reporter_free(struct fp_reporter *r)
{
	if (!r)
		return;
	free(r->state);
	free(r);
}

/* SPDX-License-Identifier: MIT */
/* What every report format shares: totals, names, explanations and escaping. */
#include "report.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

bool fp_totals_complete(const struct fp_totals *t)
{
	return !t->stopped[0];
}

void fp_totals_stop(struct fp_totals *t, int signo, const char *why)
{
	if (t->stopped[0])
		return; /* the first reason is the one that stopped it */
	t->signo = signo;
	snprintf(t->stopped, sizeof(t->stopped), "%s", why && *why ? why : "stopped");
}

const char *fp_signal_name(int signo, char *buf, size_t size)
{
	static const struct {
		int signo;
		const char *name;
	} names[] = {{SIGINT, "SIGINT"},   {SIGTERM, "SIGTERM"}, {SIGHUP, "SIGHUP"},
		     {SIGPIPE, "SIGPIPE"}, {SIGQUIT, "SIGQUIT"}, {SIGKILL, "SIGKILL"}};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].signo == signo)
			return names[i].name;
	snprintf(buf, size, "signal %d", signo);
	return buf;
}

int fp_totals_exit_code(const struct fp_totals *t)
{
	if (t->signo)
		return FP_EXIT_SIGNAL_BASE + t->signo; /* as a shell reports a killed process */
	if (!fp_totals_complete(t))
		return FP_EXIT_FAIL;
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

	if (r->explanation) {
		snprintf(buf, size, "%s", r->explanation);
		return buf;
	}
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

/* The length of the UTF-8 sequence a lead byte starts, with its payload bits; 0: invalid. */
static size_t utf8_lead(unsigned char c, uint32_t *cp)
{
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		*cp = c & 0x1f;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		*cp = c & 0x0f;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		*cp = c & 0x07;
		return 4;
	}
	return 0; /* a continuation byte, an overlong lead (C0, C1) or past U+10FFFF (F5..FF) */
}

/* Whether @b may follow @lead: the narrow second-byte ranges rule out overlong forms,
 * surrogates (ED A0..BF) and code points past U+10FFFF (F4 90..). */
static bool utf8_follows(unsigned char lead, unsigned char b, size_t i)
{
	if (i == 1 && lead == 0xe0)
		return b >= 0xa0 && b <= 0xbf;
	if (i == 1 && lead == 0xed)
		return b >= 0x80 && b <= 0x9f;
	if (i == 1 && lead == 0xf0)
		return b >= 0x90 && b <= 0xbf;
	if (i == 1 && lead == 0xf4)
		return b >= 0x80 && b <= 0x8f;
	return (b & 0xc0) == 0x80;
}

size_t fp_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t need = utf8_lead(u[0], cp), i;

	if (!need) {
		*cp = 0xfffd;
		return 1;
	}
	for (i = 1; i < need; i++) {
		if (i == len)
			return 0; /* the string ends inside the character: a cut */
		if (!utf8_follows(u[0], u[i], i)) {
			/* One U+FFFD for the longest valid prefix, as Unicode recommends (and
			 * Python's "replace" does). */
			*cp = 0xfffd;
			return i;
		}
		*cp = (*cp << 6) | (u[i] & 0x3f);
	}
	return need;
}

/* Write a decoded character: its source bytes, or U+FFFD's encoding. */
static void put_char(FILE *f, const char *src, size_t n, uint32_t cp)
{
	if (cp == 0xfffd)
		fputs("\xef\xbf\xbd", f); /* also for the invalid bytes it replaces */
	else
		fwrite(src, 1, n, f);
}

void fp_json_write_string(FILE *f, const char *s)
{
	size_t left = s ? strlen(s) : 0, n;
	uint32_t cp;

	fputc('"', f);
	for (; left; s += n, left -= n) {
		n = fp_utf8_decode(s, left, &cp);
		if (!n)
			break; /* a character cut by a full buffer: drop it whole */
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else if (cp < 0x20 || cp == 0x7f)
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			put_char(f, s, n, cp);
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

/* XML 1.0's Char production: tab, newline, CR, and the rest minus controls and FFFE/FFFF. */
static bool xml_char_allowed(uint32_t cp)
{
	if (cp < 0x20)
		return cp == '\t' || cp == '\n' || cp == '\r';
	if (cp >= 0x7f && cp <= 0x9f)
		return false; /* allowed by XML 1.0 but discouraged; no reader needs them */
	return cp != 0xfffe && cp != 0xffff;
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
	size_t left = s ? strlen(s) : 0, n;
	uint32_t cp;

	for (; left; s += n, left -= n) {
		n = fp_utf8_decode(s, left, &cp);
		if (!n)
			break;
		if (!xml_char_allowed(cp))
			continue;
		switch (cp) {
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
		case '\n':
			fputs("&#10;",
			      f); /* kept inside attributes, where a raw one becomes a space */
			break;
		case '\r':
			fputs("&#13;", f);
			break;
		case '\t':
			fputs("&#9;", f);
			break;
		default:
			put_char(f, s, n, cp);
		}
	}
}

void fp_reporter_free(struct fp_reporter *r)
{
	if (!r)
		return;
	if (r->free_state)
		r->free_state(r->state);
	free(r->state);
	free(r);
}

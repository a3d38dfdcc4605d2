/* SPDX-License-Identifier: MIT */
/*
 * `forkpin compare BASE.json NEW.json`: what changed between two `forkpin run --json`
 * reports (a node before and after an upgrade, two kernels, a baseline and today): new
 * failures, fixed cases, cases still failing, cases newly skipped, and the fingerprint keys
 * that differ. Exit 1 on a regression (a case that passed in BASE fails in NEW, or a
 * backend the run requires ran in BASE and only skipped in NEW), 0 otherwise, 2 on bad
 * input.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "json_read.h"
#include "report.h"
#include "subcommands.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHO		 "forkpin compare"
#define usage_error(...) fp_usage_error(WHO, __VA_ARGS__)
#define SHOWN		 20 /* lines per section; more are counted */

/* What a case's verdict means for a comparison. */
enum class { ABSENT, PASSED, FAILED, XFAILED, SKIPPED };

struct report {
	const char *path;
	struct fp_json *root;
	const struct fp_json *env, *cases;
};

/* A titled block of lines, printed at its end under "Title (N):" when it has any. */
struct section {
	const char *title;
	size_t count;
	char *text;
	size_t size;
	FILE *lines;
};

static enum class class_of(const char *result) {
	if (!strcmp(result, "pass") || !strcmp(result, "control-detected")) return PASSED;
	if (!strcmp(result, "fail") || !strcmp(result, "control-missed")) return FAILED;
	if (!strcmp(result, "xfail")) return XFAILED;
	return SKIPPED;
}

/* Every case must have a string id and a known verdict: exit 2 naming the first that does not. */
static void check_cases(const struct report *r)
{
	static const char *const verdicts[] = {"pass",		 "fail", "skip", "control-detected",
					       "control-missed", "xfail"};
	size_t i, k;

	for (i = 0; i < r->cases->count; i++) {
		const char *id = fp_json_get_string(r->cases->items[i], "id");
		const char *result = fp_json_get_string(r->cases->items[i], "result");

		for (k = 0; result && k < FP_ARRAY_SIZE(verdicts) && strcmp(result, verdicts[k]);
		     k++)
			;
		if (!id || !result || k == FP_ARRAY_SIZE(verdicts))
			usage_error(
			    "%s: case %zu has no string \"id\" or a \"result\" that is not a "
			    "verdict: give a report written by `forkpin run --json`",
			    r->path, i + 1);
	}
}

static void load_report(struct report *r, const char *path)
{
	const struct fp_json *version;
	char err[256];
	size_t len;
	char *text = fp_read_report(WHO, path, &len);

	r->path = path;
	r->root = fp_json_parse(text ? text : "", len, err, sizeof(err));
	free(text);
	if (!r->root)
		usage_error("%s: %s: not valid JSON", path, err);
	r->env = fp_json_get(r->root, "env");
	r->cases = fp_json_get(r->root, "cases");
	if (!r->cases || r->cases->type != FP_JSON_ARRAY || !r->env ||
	    r->env->type != FP_JSON_OBJECT)
		usage_error("%s: no \"cases\" array or \"env\" object: give a report written by "
			    "`forkpin run --json`",
			    path);
	version = fp_json_get(r->root, "schema_version");
	if (version &&
	    (version->type != FP_JSON_NUMBER || version->number > FP_REPORT_SCHEMA_VERSION))
		usage_error("%s: schema_version newer than %d: compare it with a newer forkpin",
			    path, FP_REPORT_SCHEMA_VERSION);
	check_cases(r);
}

static const struct fp_json *find_case(const struct report *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->cases->count; i++)
		if (!strcmp(fp_json_get_string(r->cases->items[i], "id"), id))
			return r->cases->items[i];
	return NULL;
}

static enum class case_class(const struct fp_json *c) {
	return c ? class_of(fp_json_get_string(c, "result")) : ABSENT;
}

static void section_line(struct section *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void section_line(struct section *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->lines && !(s->lines = open_memstream(&s->text, &s->size))) {
		fprintf(stderr, "%s: out of memory\n", WHO);
		exit(FP_EXIT_FAIL);
	}
	if (++s->count > SHOWN)
		return;
	fputs("  ", s->lines);
	va_start(ap, fmt);
	vfprintf(s->lines, fmt, ap);
	va_end(ap);
	fputc('\n', s->lines);
}

static void section_end(struct section *s)
{
	if (!s->lines)
		return;
	fclose(s->lines);
	printf("%s (%zu):\n%s", s->title, s->count, s->text);
	if (s->count > SHOWN)
		printf("  ... and %zu more\n", s->count - SHOWN);
	free(s->text);
}

/* The sections a case's change belongs to, in printing order. */
enum { REGRESSED, NEW_FAILURE, FIXED, STILL_FAILING, NEWLY_SKIPPED, NSECTIONS };

static int section_of(enum class base, enum class now)
{
	bool failing_before = base == FAILED || base == XFAILED;
	bool failing_now = now == FAILED || now == XFAILED;

	if (base == PASSED && now == FAILED)
		return REGRESSED;
	if (failing_now && !failing_before)
		return NEW_FAILURE;
	if (failing_before && now == PASSED)
		return FIXED;
	if (failing_before && failing_now)
		return STILL_FAILING;
	if (now == SKIPPED && base != SKIPPED && base != ABSENT)
		return NEWLY_SKIPPED;
	return -1;
}

static const char *result_or_absent(const struct fp_json *c)
{
	return c ? fp_json_get_string(c, "result") : "absent";
}

/* One pass per section, so each prints as one block. Returns the regressions. */
static size_t compare_cases(const struct report *base, const struct report *now)
{
	static const char *const titles[NSECTIONS] = {"Regressions (passed in BASE, fail in NEW)",
						      "New failures (not passing in BASE)", "Fixed",
						      "Still failing", "Newly skipped"};
	size_t i, regressions = 0;
	int s;

	for (s = 0; s < NSECTIONS; s++) {
		struct section sec = {.title = titles[s]};

		for (i = 0; i < now->cases->count; i++) {
			const struct fp_json *c = now->cases->items[i];
			const char *id = fp_json_get_string(c, "id");
			const struct fp_json *b = find_case(base, id);
			const char *why = fp_json_get_string(c, "explanation");

			if (section_of(case_class(b), case_class(c)) != s)
				continue;
			section_line(&sec, "%s: %s -> %s%s%.200s", id, result_or_absent(b),
				     result_or_absent(c), why && *why ? ": " : "", why ? why : "");
		}
		section_end(&sec);
		if (s == REGRESSED)
			regressions = sec.count;
	}
	return regressions;
}

/* Did any case of @backend run (not SKIP) in @r? */
static bool backend_ran(const struct report *r, const char *backend)
{
	size_t i;

	for (i = 0; i < r->cases->count; i++) {
		const struct fp_json *c = r->cases->items[i];
		const char *be = fp_json_get_string(c, "backend");

		if (be && !strcmp(be, backend) && case_class(c) != SKIPPED)
			return true;
	}
	return false;
}

/* Required backends (NEW's qualify.require, else BASE's) that ran in BASE and not in NEW. */
static size_t compare_required(const struct report *base, const struct report *now)
{
	const char *list = fp_json_get_string(now->env, "qualify.require");
	struct section sec = {.title = "Required backends newly skipped"};
	char *copy, *name, *save;

	if (!list)
		list = fp_json_get_string(base->env, "qualify.require");
	if (!list || !(copy = strdup(list)))
		return 0;
	for (name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save))
		if (backend_ran(base, name) && !backend_ran(now, name))
			section_line(&sec, "%s: ran in BASE, every case skipped in NEW", name);
	section_end(&sec);
	free(copy);
	return sec.count;
}

static void env_line(struct section *sec, const char *key, const char *was, const char *is)
{
	if (!was || !is || strcmp(was, is))
		section_line(sec, "%s: %s -> %s", key, was ? was : "(absent)",
			     is ? is : "(absent)");
}

/* The fingerprint keys whose values differ, and those only one report has. */
static void compare_env(const struct report *base, const struct report *now)
{
	struct section sec = {.title = "Environment differences"};
	size_t i;

	env_line(&sec, "hostname", fp_json_get_string(base->root, "hostname"),
		 fp_json_get_string(now->root, "hostname"));
	for (i = 0; i < base->env->count; i++) {
		const struct fp_json *v = base->env->items[i];

		if (v->type == FP_JSON_STRING)
			env_line(&sec, base->env->keys[i], v->string,
				 fp_json_get_string(now->env, base->env->keys[i]));
	}
	for (i = 0; i < now->env->count; i++)
		if (!fp_json_get(base->env, now->env->keys[i]) &&
		    now->env->items[i]->type == FP_JSON_STRING)
			env_line(&sec, now->env->keys[i], NULL, now->env->items[i]->string);
	section_end(&sec);
}

static void print_header(const char *what, const struct report *r)
{
	const char *host = fp_json_get_string(r->root, "hostname");
	const char *when = fp_json_get_string(r->root, "timestamp");
	const char *kernel = fp_json_get_string(r->env, "kernel.release");

	printf("%s %s: %zu cases, host %s, kernel %s, written %s\n", what, r->path, r->cases->count,
	       host ? host : "?", kernel ? kernel : "?", when ? when : "?");
}

static void print_help(FILE *f)
{
	fprintf(f, "usage: forkpin compare BASE.json NEW.json\n"
		   "Compare two `forkpin run --json` reports: regressions, new failures, fixed,\n"
		   "still failing, newly skipped, required backends newly skipped, and the\n"
		   "environment keys that differ.\n"
		   "Options:\n"
		   "  -h, --help            this help\n"
		   "Exit: 0 no regression, 1 a case that passed in BASE fails in NEW or a required "
		   "backend\nran in BASE and only skipped in NEW, 2 bad usage or a bad report.\n");
}

int fp_cmd_compare(int argc, char **argv)
{
	struct report base = {0}, now = {0};
	size_t regressions;
	int i;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_help(stdout);
			return FP_EXIT_OK;
		}
		if (argv[i][0] == '-' && argv[i][1])
			fp_reject_option(WHO, "compare", argv[i]);
	}
	if (argc != 4)
		usage_error("give two reports: forkpin compare BASE.json NEW.json");
	load_report(&base, argv[2]);
	load_report(&now, argv[3]);
	print_header("BASE", &base);
	print_header("NEW ", &now);
	regressions = compare_cases(&base, &now);
	regressions += compare_required(&base, &now);
	compare_env(&base, &now);
	printf("%s\n", regressions ? "REGRESSION" : "no regression");
	fp_json_free(base.root);
	fp_json_free(now.root);
	return regressions ? FP_EXIT_FAIL : FP_EXIT_OK;
}

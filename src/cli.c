/* SPDX-License-Identifier: MIT */
/*
 * forkpin's command line: list, run and env, and the dispatch to the other subcommands
 * (subcommands.h). Parsing and validation only; running lives in runner.c, formatting in
 * report_*.c. Bad input is one line naming the fix, exit 2 (cmd.h).
 */
#define _GNU_SOURCE
#include "backend.h"
#include "cmd.h"
#include "config.h"
#include "env.h"
#include "known_failures.h"
#include "matrix.h"
#include "profile.h"
#include "report.h"
#include "runner.h"
#include "subcommands.h"
#include "summary.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One-line usage errors, exit 2. */
#define usage_error(...) fp_usage_error("forkpin", __VA_ARGS__)

#define MAX_LONG_OPTIONS 64

enum {
	OPT_JSON = 256,
	OPT_JUNIT,
	OPT_HTML,
	OPT_SEED,
	OPT_TIMEOUT,
	OPT_REPEAT,
	OPT_JOBS,
	OPT_REQUIRE,
	OPT_PROFILE,
	OPT_KNOWN_FAILURES,
	OPT_CONFIG,
	OPT_BACKEND_OPTION, /* first of the backends' options */
};

/* The commands this file parses; an option lists the ones that use it. */
enum { CMD_LIST = 1u << 0, CMD_RUN = 1u << 1, CMD_ENV = 1u << 2 };

static const struct fixed_option {
	struct option opt;
	unsigned used_by; /* CMD_* */
	const char *help; /* "-b, --backend LIST  what it does" */
} fixed_options[] = {
    {{"backend", required_argument, NULL, 'b'},
     CMD_LIST | CMD_RUN,
     "-b, --backend LIST    backends, comma-separated (`forkpin list -v` names them)"},
    {{"mem", required_argument, NULL, 'm'},
     CMD_LIST | CMD_RUN,
     "-m, --mem LIST        memory types"},
    {{"scenario", required_argument, NULL, 's'},
     CMD_LIST | CMD_RUN,
     "-s, --scenario LIST   scenarios"},
    {{"timeout", required_argument, NULL, OPT_TIMEOUT},
     CMD_RUN,
     "    --timeout SEC     watchdog per case (default 10)"},
    {{"json", required_argument, NULL, OPT_JSON},
     CMD_RUN | CMD_ENV,
     "    --json FILE       write JSON"},
    {{"junit", required_argument, NULL, OPT_JUNIT},
     CMD_RUN,
     "    --junit FILE      write JUnit XML"},
    {{"html", required_argument, NULL, OPT_HTML},
     CMD_RUN,
     "    --html FILE       write a self-contained HTML report"},
    {{"seed", required_argument, NULL, OPT_SEED},
     CMD_RUN,
     "    --seed N          pattern seed (default: the time)"},
    {{"repeat", required_argument, NULL, OPT_REPEAT},
     CMD_RUN,
     "    --repeat N        run each case N times"},
    {{"jobs", required_argument, NULL, 'j'},
     CMD_RUN,
     "-j, --jobs N          run up to N cases at once (default 1; cases that share a device "
     "take turns)"},
    {{"require", required_argument, NULL, OPT_REQUIRE},
     CMD_RUN,
     "    --require LIST    qualify: exit 1 unless each of these backends ran (not all SKIP)"},
    {{"profile", required_argument, NULL, OPT_PROFILE},
     CMD_LIST | CMD_RUN,
     "    --profile quick   qualify with a short documented selection (docs/health-check.md)"},
    {{"known-failures", required_argument, NULL, OPT_KNOWN_FAILURES},
     CMD_RUN,
     "    --known-failures FILE  'CASE-GLOB reason' lines: failures this site accepts (XFAIL)"},
    {{"config", required_argument, NULL, OPT_CONFIG},
     CMD_RUN,
     "    --config FILE     site defaults (default /etc/forkpin.conf, or $FORKPIN_CONFIG)"},
    {{"verbose", no_argument, NULL, 'v'},
     CMD_LIST | CMD_RUN,
     "-v, --verbose         list: the three tables too; run: the fingerprint as TAP comments"},
    {{"help", no_argument, NULL, 'h'},
     CMD_LIST | CMD_RUN | CMD_ENV,
     "-h, --help            this help"},
};

static const struct command {
	const char *name;
	unsigned bit;
	const char *usage;
} commands[] = {
    {"list", CMD_LIST, "forkpin list [PATTERN...] [FILTERS] [-v]"},
    {"run", CMD_RUN,
     "forkpin run  [PATTERN...] [FILTERS] [--timeout SEC] [--json FILE] [--junit FILE] "
     "[--seed N] [--repeat N] [-j N] [-v]"},
    {"env", CMD_ENV, "forkpin env  [--json FILE]"},
};

struct cli {
	const struct command *command;
	struct fp_filter filter;
	struct fp_run_options run;
	const char *json_path, *junit_path, *html_path;
	const char *profile, *known_failures_path;
	const char *required[FP_MAX_FILTER]; /* --require: backends that must run */
	size_t nrequired;
	const char *config_path; /* --config */
	bool timeout_given;
	struct fp_site_config site;
	bool verbose;
	unsigned long repeat; /* run each selected case this many times */
	struct option longopts[MAX_LONG_OPTIONS];
	const struct fp_option *backend_opts[MAX_LONG_OPTIONS];
};

static void print_backend_options(FILE *f)
{
	size_t i;
	const struct fp_option *o;

	fprintf(f, "Backend options:\n");
	for (i = 0; i < fp_backend_count; i++)
		for (o = fp_backends[i]->options; o && o->name; o++)
			fprintf(f, "  --%s%s%s  %s%s%s [%s]\n", o->name, o->arg ? " " : "",
				o->arg ? o->arg : "", o->help, o->env ? "; env " : "",
				o->env ? o->env : "", fp_backends[i]->name);
}

static void print_help(FILE *f)
{
	fprintf(f,
		"usage: forkpin list [PATTERN...] [FILTERS]\n"
		"       forkpin run  [PATTERN...] [FILTERS] [--timeout SEC] [--json FILE] "
		"[--junit FILE] [--seed N] [--repeat N] [-j N] [-v]\n"
		"       forkpin env  [--json FILE]\n"
		"       forkpin vm   [VM OPTIONS] [RUN ARGUMENTS]   (see docs/vm.md)\n"
		"       forkpin stress   [--duration SEC] [--threads N] [-b LIST] [--json FILE]  "
		"(see docs/stress.md)\n"
		"       forkpin forkcost [--max-size BYTES] [--csv FILE] [--json FILE] "
		"[--plot FILE.png|.svg]\n"
		"       forkpin compare BASE.json NEW.json   (regressions between two reports)\n"
		"       forkpin merge [--json F] [--junit F] [--html F] REPORT...   (a fleet's "
		"reports, see docs/fleet.md)\n"
		"       forkpin peer [--ofi] [--port N] [--device NAME[:PORT]]   (two-node RDMA, "
		"see docs/two-node.md)\n"
		"\n"
		"Cases are named backend/memtype/scenario; PATTERN is a glob on that name\n"
		"('iouring/*/child-*').\n"
		"FILTERS: -b/--backend LIST, -m/--mem LIST, -s/--scenario LIST (comma-separated)\n"
		"Exit: 0 all passed (controls detected), 1 a failure, 2 bad usage, 4 all skipped.\n"
		"`forkpin COMMAND --help` lists one command's options.\n");
	print_backend_options(f);
}

/* `forkpin COMMAND --help`: that command's options only. */
static void print_command_help(FILE *f, const struct command *cmd)
{
	size_t i;

	fprintf(f, "usage: %s\n", cmd->usage);
	if (cmd->bit & (CMD_LIST | CMD_RUN))
		fprintf(f, "Cases are named backend/memtype/scenario; PATTERN is a glob on that "
			   "name\n('iouring/*/child-*'). FILTERS are the three lists below.\n");
	fprintf(f, "Options:\n");
	for (i = 0; i < FP_ARRAY_SIZE(fixed_options); i++)
		if (fixed_options[i].used_by & cmd->bit)
			fprintf(f, "  %s\n", fixed_options[i].help);
	if (cmd->bit == CMD_RUN) {
		print_backend_options(f);
		fprintf(f,
			"Exit: 0 all passed (controls detected), 1 a failure, 2 bad usage, 4 all "
			"skipped.\n");
	} else {
		fprintf(f, "Exit: 0, or 2 on bad usage.\n");
	}
}

/* Build the long options: the fixed ones, then every backend's table (fio-style). */
static void build_longopts(struct cli *cli)
{
	size_t n = 0, i;
	const struct fp_option *o;

	for (i = 0; i < FP_ARRAY_SIZE(fixed_options); i++)
		cli->longopts[n++] = fixed_options[i].opt;
	for (i = 0; i < fp_backend_count; i++)
		for (o = fp_backends[i]->options; o && o->name && n + 1 < MAX_LONG_OPTIONS; o++) {
			cli->backend_opts[n] = o;
			cli->longopts[n] =
			    (struct option){o->name, o->arg ? required_argument : no_argument, NULL,
					    OPT_BACKEND_OPTION + (int)n};
			n++;
		}
	cli->longopts[n] = (struct option){0};
}

/* Exit 2 when the option @c is not one the command uses. */
static void check_used(const struct cli *cli, int c)
{
	const char *name = NULL;
	char spelled[80];
	size_t i;

	for (i = 0; i < FP_ARRAY_SIZE(fixed_options); i++)
		if (fixed_options[i].opt.val == c) {
			if (fixed_options[i].used_by & cli->command->bit)
				return;
			name = fixed_options[i].opt.name;
		}
	if (!name && c >= OPT_BACKEND_OPTION && c < OPT_BACKEND_OPTION + MAX_LONG_OPTIONS &&
	    cli->backend_opts[c - OPT_BACKEND_OPTION]) {
		if (cli->command->bit == CMD_RUN)
			return;
		name = cli->backend_opts[c - OPT_BACKEND_OPTION]->name;
	}
	if (!name)
		usage_error("unknown option: `forkpin --help` lists the options");
	snprintf(spelled, sizeof(spelled), "--%s", name);
	fp_reject_option("forkpin", cli->command->name, spelled);
}

static void add_names(const char **list, size_t *n, char *csv, const char *what)
{
	fp_parse_list("forkpin", list, n, FP_MAX_FILTER, csv, what);
}

static void parse_option(struct cli *cli, int c, const char *arg)
{
	check_used(cli, c);
	switch (c) {
	case 'b':
		add_names(cli->filter.backends, &cli->filter.nbackends, (char *)arg, "backend");
		break;
	case 'm':
		add_names(cli->filter.memtypes, &cli->filter.nmemtypes, (char *)arg, "memory type");
		break;
	case 's':
		add_names(cli->filter.scenarios, &cli->filter.nscenarios, (char *)arg, "scenario");
		break;
	case OPT_TIMEOUT:
		if (!fp_parse_seconds(arg, &cli->run.timeout_s))
			usage_error("--timeout '%s': give seconds, e.g. --timeout 10", arg);
		cli->timeout_given = true;
		break;
	case OPT_JSON:
		cli->json_path = arg;
		break;
	case OPT_JUNIT:
		cli->junit_path = arg;
		break;
	case OPT_HTML:
		cli->html_path = arg;
		break;
	case OPT_REPEAT:
		cli->repeat = fp_parse_count("forkpin", "--repeat", arg, 100000);
		break;
	case 'j':
		cli->run.jobs = (unsigned)fp_parse_count("forkpin", "--jobs", arg, FP_MAX_JOBS);
		break;
	case OPT_REQUIRE:
		add_names(cli->required, &cli->nrequired, (char *)arg, "required backend");
		break;
	case OPT_PROFILE:
		cli->profile = arg;
		break;
	case OPT_KNOWN_FAILURES:
		cli->known_failures_path = arg;
		break;
	case OPT_CONFIG:
		cli->config_path = arg;
		break;
	case OPT_SEED:
		cli->run.seed = fp_parse_seed("forkpin", arg);
		break;
	case 'v':
		cli->verbose = true;
		break;
	case 'h':
		print_command_help(stdout, cli->command);
		exit(FP_EXIT_OK);
	default: /* a backend option: check_used() let only those through */
		fp_option_set(cli->backend_opts[c - OPT_BACKEND_OPTION]->name, arg ? arg : "1");
	}
}

static void parse_args(struct cli *cli, int argc, char **argv)
{
	int c;

	build_longopts(cli);
	opterr = 0;
	optind = 2; /* after the command word */
	while ((c = getopt_long(argc, argv, "b:m:s:j:vh", cli->longopts, NULL)) != -1) {
		if (c == '?')
			usage_error("unknown or incomplete option '%s': `forkpin %s --help` lists "
				    "the options",
				    argv[optind - 1], cli->command->name);
		parse_option(cli, c, optarg);
	}
	if (optind < argc && cli->command->bit == CMD_ENV)
		usage_error("unexpected argument '%s': `forkpin env` takes no patterns",
			    argv[optind]);
	for (; optind < argc; optind++) {
		if (cli->filter.npatterns == FP_MAX_FILTER)
			usage_error("too many patterns (at most %d)", FP_MAX_FILTER);
		cli->filter.patterns[cli->filter.npatterns++] = argv[optind];
	}
}

/* The site config fills what the command line left unset. */
static void apply_site_config(struct cli *cli)
{
	struct fp_site_config *site = &cli->site;

	fp_config_load(site, cli->config_path);
	if (site->timeout_s > 0 && !cli->timeout_given)
		cli->run.timeout_s = site->timeout_s;
	if (site->profile && !cli->profile)
		cli->profile = site->profile;
	if (site->known_failures && !cli->known_failures_path)
		cli->known_failures_path = site->known_failures;
	if (site->require && !cli->nrequired)
		add_names(cli->required, &cli->nrequired, site->require, "required backend");
}

/* --profile fills the filters the command line left empty; --require names backends. */
static void apply_qualification_options(struct cli *cli)
{
	size_t i;

	if (cli->profile && !fp_profile_apply(cli->profile, &cli->filter))
		usage_error("--profile '%s': no such profile; there is %s", cli->profile,
			    fp_profile_names());
	for (i = 0; i < cli->nrequired; i++)
		if (!fp_backend_find(cli->required[i]))
			usage_error("--require %s: no such backend (`forkpin list -v` names them)",
				    cli->required[i]);
}

static struct fp_case *select_cases(const struct cli *cli, size_t *n)
{
	size_t max = fp_matrix_size();
	struct fp_case *cases = calloc(max, sizeof(*cases));
	char err[256];
	long got;

	if (!cases) {
		fprintf(stderr, "forkpin: out of memory\n");
		exit(FP_EXIT_FAIL);
	}
	got = fp_matrix_select(&cli->filter, cases, max, err, sizeof(err));
	if (got < 0)
		usage_error("%s", err);
	*n = (size_t)got;
	return cases;
}

static int cmd_list(struct cli *cli)
{
	size_t n, i;
	struct fp_case *cases;

	apply_qualification_options(cli);
	cases = select_cases(cli, &n);

	if (cli->verbose) {
		for (i = 0; i < fp_backend_count; i++)
			printf("# backend  %-16s %s%s\n", fp_backends[i]->name,
			       fp_backends[i]->summary,
			       fp_backends[i]->unavailable ? " (not built)" : "");
		for (i = 0; i < fp_memtype_count; i++)
			printf("# memtype  %-16s %s\n", fp_memtypes[i].name,
			       fp_memtypes[i].summary);
		for (i = 0; i < fp_scenario_count; i++)
			printf("# scenario %-18s %s\n", fp_scenarios[i].name,
			       fp_scenarios[i].summary);
	}
	for (i = 0; i < n; i++)
		printf("%s%s\n", cases[i].id, cases[i].control ? "  (control)" : "");
	free(cases);
	return FP_EXIT_OK;
}

/* The largest pin of the selection must fit RLIMIT_MEMLOCK, once per job: some pins (io_uring)
 * are charged to the user, so cases running at once share the limit. Hugetlb cases whose pool
 * is short are left out: they SKIP anyway. */
static void check_memlock(const struct fp_case *cases, size_t n, unsigned jobs)
{
	size_t need = 0, i;
	const char *who = NULL;
	char subject[160];

	for (i = 0; i < n; i++) {
		const struct fp_memtype *mt = cases[i].mt;

		if (!(cases[i].be->caps & FP_CAP_PINS) || cases[i].be->unavailable)
			continue;
		if ((mt->flags & FP_MEM_HUGETLB) && fp_hugetlb_free_pages(mt->len) == 0)
			continue;
		if (mt->len > need) {
			need = mt->len;
			who = cases[i].id;
		}
	}
	if (jobs > 1 && need) {
		snprintf(subject, sizeof(subject), "%u cases at once (--jobs) like %s pin", jobs,
			 who);
		fp_check_memlock("forkpin", need * jobs, subject, "lower --jobs");
	}
	snprintf(subject, sizeof(subject), "case %s pins", who ? who : "");
	fp_check_memlock("forkpin", need, subject, "leave those cases out (--mem)");
}

/* Each backend in the selection checks its own options once (bad device -> exit 2). */
static void check_backend_options(const struct fp_case *cases, size_t n)
{
	size_t b, i;
	char err[256];

	for (b = 0; b < fp_backend_count; b++) {
		const struct fp_backend *be = fp_backends[b];

		if (be->unavailable || !be->ops->check_options)
			continue;
		for (i = 0; i < n && cases[i].be != be; i++)
			;
		if (i < n && be->ops->check_options(err, sizeof(err)))
			usage_error("%s", err);
	}
}

/* --repeat: each case N times in a row (flakiness hunting, benchmarks). */
/* --repeat beyond what the machine can hold is bad usage, found before anything runs: each
 * repeated case is listed once and its result kept by every file reporter. */
static void check_repeat_memory(size_t n, unsigned long repeat)
{
	const size_t per_case = sizeof(struct fp_case) + 3 * sizeof(struct fp_result);
	char what[96];

	if (n > SIZE_MAX / repeat / per_case)
		usage_error("--repeat %lu: too many cases (%zu x %lu): repeat fewer times", repeat,
			    n, repeat);
	snprintf(what, sizeof(what), "--repeat %lu: %zu cases' results", repeat, n * repeat);
	fp_check_memory("forkpin", (unsigned long long)(n * repeat * per_case), what,
			"repeat fewer times or select fewer cases");
}

static struct fp_case *repeat_cases(struct fp_case *cases, size_t *n, unsigned long repeat)
{
	struct fp_case *out;
	size_t i, k;

	if (repeat <= 1)
		return cases;
	check_repeat_memory(*n, repeat);
	out = calloc(*n * repeat, sizeof(*out));
	if (!out) {
		fprintf(stderr, "forkpin: out of memory for --repeat %lu\n", repeat);
		exit(FP_EXIT_FAIL);
	}
	for (i = 0; i < *n; i++)
		for (k = 0; k < repeat; k++)
			out[i * repeat + k] = cases[i];
	free(cases);
	*n *= repeat;
	return out;
}

static struct fp_reporter *open_report(struct fp_reporter *(*make)(const char *), const char *path,
				       const char *flag)
{
	struct fp_reporter *r;

	fp_require_writable("forkpin", flag, path);
	r = make(path);
	if (!r) {
		fprintf(stderr, "forkpin: %s %s: %s\n", flag, path, strerror(errno));
		exit(FP_EXIT_FAIL);
	}
	return r;
}

/* --known-failures: a bad file is bad usage, found before any case runs. */
static void load_known_failures(struct cli *cli, struct fp_known_failures *kf)
{
	char err[600];

	if (cli->known_failures_path &&
	    fp_known_failures_load(kf, cli->known_failures_path, err, sizeof(err)))
		usage_error("--known-failures %s", err);
	cli->run.site_known = kf;
}

/* What the qualification was asked for goes into the fingerprint, so reports carry it. */
static void record_qualification(const struct cli *cli, struct fp_env *env)
{
	char list[512] = "";
	size_t i, len = 0;

	for (i = 0; i < cli->nrequired && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? "," : "",
					cli->required[i]);
	if (cli->nrequired)
		fp_env_set(env, "qualify.require", "%s", list);
	if (cli->profile)
		fp_env_set(env, "qualify.profile", "%s", cli->profile);
	if (cli->known_failures_path)
		fp_env_set(env, "qualify.known_failures", "%s", cli->known_failures_path);
	fp_env_set(env, "forkpin.config", "%s", cli->site.path ? cli->site.path : "(none)");
}

/* End every reporter; 0, or the first write error. */
static int end_reporters(struct fp_reporter **reporters, size_t n, const struct fp_totals *t)
{
	size_t i;
	int err = 0;

	for (i = 0; i < n; i++) {
		int e = reporters[i]->end(reporters[i]->state, t);

		if (e && !err) {
			fprintf(stderr, "forkpin: writing a report failed: %s\n", strerror(-e));
			err = e;
		}
		fp_reporter_free(reporters[i]);
	}
	return err;
}

/* The run's exit code: the totals' rule, then the qualification's (printed after the
 * summary; also in the reports' fingerprint as qualify.verdict). */
static int run_verdict(struct fp_summary *summary, const struct fp_totals *totals,
		       struct fp_env *env)
{
	int base = fp_totals_exit_code(totals);
	int code = fp_totals_complete(totals) ? (int)fp_summary_verdict(summary, base, NULL) : base;

	if (summary->qualify)
		fp_env_set(env, "qualify.verdict", "%s",
			   code == FP_EXIT_OK ? "qualified" : "not qualified");
	return code;
}

/* The node's verdict after the summary: each reason it is not qualified, or QUALIFIED. */
static void print_qualification(const struct fp_summary *summary, const struct fp_totals *t,
				int code)
{
	if (!fp_totals_complete(t)) {
		if (summary->qualify)
			printf("# NOT QUALIFIED: the run is incomplete (%s)\n", t->stopped);
		return;
	}
	fp_summary_verdict(summary, code, stdout);
	if (!summary->qualify)
		return;
	if (fp_totals_failed(t))
		printf("# NOT QUALIFIED: %zu case(s) failed (the 'not ok' lines above)\n",
		       fp_totals_failed(t));
	else if (code == FP_EXIT_NOTHING_RAN)
		printf("# NOT QUALIFIED: no case could run here (every backend skipped)\n");
	else if (code == FP_EXIT_OK)
		printf("# QUALIFIED: every required backend ran, no unaccepted hazard\n");
}

/* Two reports on one file would overwrite each other: refused before anything runs. */
static void check_report_paths(const struct cli *cli)
{
	const char *paths[] = {cli->json_path, cli->junit_path, cli->html_path};
	const char *flags[] = {"--json", "--junit", "--html"};
	size_t i, j;

	for (i = 0; i < 3; i++)
		for (j = i + 1; j < 3; j++)
			if (paths[i] && paths[j] && fp_report_paths_clash(paths[i], paths[j]))
				usage_error("%s and %s both name %s: give each report its own file",
					    flags[i], flags[j], paths[j]);
}

static int cmd_run(struct cli *cli)
{
	struct fp_reporter *reporters[5];
	struct fp_known_failures kf = {0};
	struct fp_summary *summary = calloc(1, sizeof(*summary));
	struct fp_env *env = calloc(1, sizeof(*env));
	struct fp_case *cases;
	struct fp_totals totals;
	size_t n, nrep = 0;
	int code, err;

	fp_run_catch_signals(); /* from here on a signal ends in reports marked incomplete */
	apply_site_config(cli);
	apply_qualification_options(cli);
	check_report_paths(cli);
	cases = select_cases(cli, &n);
	check_memlock(cases, n, cli->run.jobs);
	check_backend_options(cases, n);
	load_known_failures(cli, &kf);
	cases = repeat_cases(cases, &n, cli->repeat);
	if (!env || !summary)
		return FP_EXIT_FAIL;
	summary->qualify = cli->profile || cli->nrequired;
	summary->required = cli->required;
	summary->nrequired = cli->nrequired;
	reporters[nrep++] = fp_tap_reporter(stdout, cli->verbose);
	reporters[nrep++] = fp_summary_reporter(summary, stdout);
	if (cli->json_path)
		reporters[nrep++] = open_report(fp_json_reporter, cli->json_path, "--json");
	if (cli->junit_path)
		reporters[nrep++] = open_report(fp_junit_reporter, cli->junit_path, "--junit");
	if (cli->html_path)
		reporters[nrep++] = open_report(fp_html_reporter, cli->html_path, "--html");
	fp_fingerprint_collect(env);
	record_qualification(cli, env);
	fp_run_all(cases, n, &cli->run, reporters, nrep, env, &totals);
	code = run_verdict(summary, &totals, env);
	err = end_reporters(reporters, nrep, &totals);
	print_qualification(summary, &totals, code);
	fp_known_failures_free(&kf);
	free(summary);
	free(env);
	free(cases);
	return err ? FP_EXIT_FAIL : code;
}

static int cmd_env(struct cli *cli)
{
	struct fp_env *env = calloc(1, sizeof(*env));
	size_t i;

	fp_require_writable("forkpin", "--json", cli->json_path);
	if (!env)
		return FP_EXIT_FAIL;
	fp_fingerprint_collect(env);
	if (cli->json_path) {
		int err = fp_env_write_json_file(cli->json_path, env);

		if (err) {
			fprintf(stderr, "forkpin: --json %s: %s\n", cli->json_path, strerror(-err));
			free(env);
			return FP_EXIT_FAIL;
		}
	}
	for (i = 0; i < env->count; i++)
		printf("%-28s %s\n", env->items[i].key, env->items[i].value);
	free(env);
	return FP_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct cli cli = {.run = {.timeout_s = 10.0}};
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		print_help(argc < 2 ? stderr : stdout);
		return argc < 2 ? FP_EXIT_USAGE : FP_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("forkpin %s (%s)\n", FORKPIN_VERSION, FORKPIN_BUILD_OPTIONS);
		return FP_EXIT_OK;
	}
	if (!strcmp(argv[1], "vm"))
		return fp_cmd_vm(argc, argv);
	if (!strcmp(argv[1], "stress"))
		return fp_cmd_stress(argc, argv);
	if (!strcmp(argv[1], "forkcost"))
		return fp_cmd_forkcost(argc, argv);
	if (!strcmp(argv[1], "compare"))
		return fp_cmd_compare(argc, argv);
	if (!strcmp(argv[1], "peer"))
		return fp_cmd_peer(argc, argv);
	if (!strcmp(argv[1], "merge"))
		return fp_cmd_merge(argc, argv);
	for (i = 0; i < FP_ARRAY_SIZE(commands) && strcmp(commands[i].name, argv[1]); i++)
		;
	if (i == FP_ARRAY_SIZE(commands))
		usage_error("unknown command '%s': use list, run, env or vm (or stress, forkcost, "
			    "compare, merge, peer)",
			    argv[1]);
	cli.command = &commands[i];
	cli.run.seed = (uint64_t)time(NULL);
	parse_args(&cli, argc, argv);
	if (cli.command->bit == CMD_LIST)
		return cmd_list(&cli);
	if (cli.command->bit == CMD_ENV)
		return cmd_env(&cli);
	return cmd_run(&cli);
}

/* SPDX-License-Identifier: MIT */
/*
 * forkpin's command line: list, run, env, vm. Parsing and validation only; running lives in
 * runner.c, formatting in report_*.c. Bad input is one line naming the fix, exit 2.
 */
#define _GNU_SOURCE
#include "backend.h"
#include "env.h"
#include "matrix.h"
#include "report.h"
#include "runner.h"
#include "stress.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* One-line usage errors, exit 2. */
#define usage_error(...) fp_usage_error("forkpin", __VA_ARGS__)

#define EXIT_USAGE	 2
#define MAX_LONG_OPTIONS 64

enum {
	OPT_JSON = 256,
	OPT_JUNIT,
	OPT_SEED,
	OPT_TIMEOUT,
	OPT_REPEAT,
	OPT_BACKEND_OPTION, /* first of the backends' options */
};

struct cli {
	const char *command;
	struct fp_filter filter;
	struct fp_run_options run;
	const char *json_path, *junit_path;
	bool verbose;
	unsigned long repeat; /* run each selected case this many times */
	struct option longopts[MAX_LONG_OPTIONS];
	const struct fp_option *backend_opts[MAX_LONG_OPTIONS];
};

static void print_help(FILE *f)
{
	size_t i;
	const struct fp_option *o;

	fprintf(
	    f,
	    "usage: forkpin list [PATTERN...] [FILTERS]\n"
	    "       forkpin run  [PATTERN...] [FILTERS] [--timeout SEC] [--json FILE] "
	    "[--junit FILE] [--seed N] [--repeat N] [-v]\n"
	    "       forkpin env  [--json FILE]\n"
	    "       forkpin vm   [VM OPTIONS] [RUN ARGUMENTS]   (see docs/vm.md)\n"
	    "       forkpin stress   [--duration SEC] [--threads N] [-b LIST] [--json FILE]  "
	    "(see docs/stress.md)\n"
	    "       forkpin forkcost [--max-size BYTES] [--csv FILE] [--json FILE] "
	    "[--plot FILE.png|.svg]\n"
	    "\n"
	    "Cases are named backend/memtype/scenario; PATTERN is a glob on that name\n"
	    "('iouring/*/child-*').\n"
	    "FILTERS: -b/--backend LIST, -m/--mem LIST, -s/--scenario LIST (comma-separated)\n"
	    "Exit: 0 all passed (controls detected), 1 a failure, 2 bad usage, 4 all skipped.\n");
	fprintf(f, "Backend options:\n");
	for (i = 0; i < fp_backend_count; i++)
		for (o = fp_backends[i]->options; o && o->name; o++)
			fprintf(f, "  --%s%s%s  %s%s%s [%s]\n", o->name, o->arg ? " " : "",
				o->arg ? o->arg : "", o->help, o->env ? "; env " : "",
				o->env ? o->env : "", fp_backends[i]->name);
}

/* Build the long options: the fixed ones, then every backend's table (fio-style). */
static void build_longopts(struct cli *cli)
{
	static const struct option fixed[] = {
	    {"backend", required_argument, NULL, 'b'},
	    {"mem", required_argument, NULL, 'm'},
	    {"scenario", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"json", required_argument, NULL, OPT_JSON},
	    {"junit", required_argument, NULL, OPT_JUNIT},
	    {"seed", required_argument, NULL, OPT_SEED},
	    {"repeat", required_argument, NULL, OPT_REPEAT},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	};
	size_t n = 0, i;
	const struct fp_option *o;

	for (i = 0; i < FP_ARRAY_SIZE(fixed); i++)
		cli->longopts[n++] = fixed[i];
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

static void add_names(const char **list, size_t *n, char *csv, const char *what)
{
	if (!fp_filter_add_names(list, n, csv))
		usage_error("too many %s names (at most %d)", what, FP_MAX_FILTER);
}

static void parse_option(struct cli *cli, int c, const char *arg)
{
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
		break;
	case OPT_JSON:
		cli->json_path = arg;
		break;
	case OPT_JUNIT:
		cli->junit_path = arg;
		break;
	case OPT_REPEAT:
		cli->repeat = fp_parse_count("forkpin", "--repeat", arg, 100000);
		break;
	case OPT_SEED: {
		char *end;

		errno = 0;
		cli->run.seed = strtoull(arg, &end, 0);
		if (errno || end == arg || *end)
			usage_error("--seed '%s': give a number, e.g. --seed 42", arg);
		break;
	}
	case 'v':
		cli->verbose = true;
		break;
	case 'h':
		print_help(stdout);
		exit(0);
	default:
		if (c >= OPT_BACKEND_OPTION && c < OPT_BACKEND_OPTION + MAX_LONG_OPTIONS &&
		    cli->backend_opts[c - OPT_BACKEND_OPTION]) {
			fp_option_set(cli->backend_opts[c - OPT_BACKEND_OPTION]->name,
				      arg ? arg : "1");
			break;
		}
		usage_error("unknown option: `forkpin --help` lists the options");
	}
}

static void parse_args(struct cli *cli, int argc, char **argv)
{
	int c;

	build_longopts(cli);
	opterr = 0;
	optind = 2; /* after the command word */
	while ((c = getopt_long(argc, argv, "b:m:s:vh", cli->longopts, NULL)) != -1) {
		if (c == '?')
			usage_error("unknown or incomplete option '%s': `forkpin --help` lists the "
				    "options",
				    argv[optind - 1]);
		parse_option(cli, c, optarg);
	}
	for (; optind < argc; optind++) {
		if (cli->filter.npatterns == FP_MAX_FILTER)
			usage_error("too many patterns (at most %d)", FP_MAX_FILTER);
		cli->filter.patterns[cli->filter.npatterns++] = argv[optind];
	}
}

static struct fp_case *select_cases(const struct cli *cli, size_t *n)
{
	size_t max = fp_matrix_size();
	struct fp_case *cases = calloc(max, sizeof(*cases));
	char err[256];
	long got;

	if (!cases) {
		fprintf(stderr, "forkpin: out of memory\n");
		exit(1);
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
	struct fp_case *cases = select_cases(cli, &n);

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
	return 0;
}

/*
 * A pin is charged to RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK. Refuse up front
 * when a selected case cannot fit, instead of a run full of confusing registration errors.
 * Hugetlb cases whose pool is short are left out: they SKIP anyway.
 */
static void check_memlock(const struct fp_case *cases, size_t n)
{
	struct rlimit rl;
	size_t need = 0, i;
	const char *who = NULL;
	char have_text[32], need_text[32];

	if (fp_has_cap_ipc_lock() || getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return;
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
	if (need > rl.rlim_cur)
		usage_error("RLIMIT_MEMLOCK is %s, case %s pins %s: raise it with `ulimit -l %zu` "
			    "or leave those cases out (--mem)",
			    fp_format_size(rl.rlim_cur, have_text, sizeof(have_text)), who,
			    fp_format_size(need, need_text, sizeof(need_text)),
			    (need + 65536) / 1024);
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
static struct fp_case *repeat_cases(struct fp_case *cases, size_t *n, unsigned long repeat)
{
	struct fp_case *out;
	size_t i, k;

	if (repeat <= 1)
		return cases;
	out = calloc(*n * repeat, sizeof(*out));
	if (!out) {
		fprintf(stderr, "forkpin: out of memory for --repeat %lu\n", repeat);
		exit(1);
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
	struct fp_reporter *r = make(path);

	if (!r)
		usage_error("%s %s: %s: give a writable path", flag, path, strerror(errno));
	return r;
}

static int cmd_run(struct cli *cli)
{
	struct fp_reporter *reporters[3];
	size_t n, nrep = 0, i;
	struct fp_case *cases = select_cases(cli, &n);
	struct fp_env *env = calloc(1, sizeof(*env));
	struct fp_totals totals;
	int code, err = 0;

	fp_run_catch_signals(); /* from here on a signal ends in reports marked incomplete */
	if (cli->json_path && cli->junit_path &&
	    fp_report_paths_clash(cli->json_path, cli->junit_path))
		usage_error("--json and --junit both name %s: give each report its own file",
			    cli->junit_path);
	check_memlock(cases, n);
	check_backend_options(cases, n);
	cases = repeat_cases(cases, &n, cli->repeat);
	if (!env)
		return 1;
	reporters[nrep++] = fp_tap_reporter(stdout, cli->verbose);
	if (cli->json_path)
		reporters[nrep++] = open_report(fp_json_reporter, cli->json_path, "--json");
	if (cli->junit_path)
		reporters[nrep++] = open_report(fp_junit_reporter, cli->junit_path, "--junit");
	fp_env_collect(env);
	fp_run_all(cases, n, &cli->run, reporters, nrep, env, &totals);
	for (i = 0; i < nrep; i++) {
		int e = reporters[i]->end(reporters[i]->state, &totals);

		if (e && !err) {
			fprintf(stderr, "forkpin: writing a report failed: %s\n", strerror(-e));
			err = e;
		}
		fp_reporter_free(reporters[i]);
	}
	code = err ? 1 : fp_totals_exit_code(&totals);
	free(env);
	free(cases);
	return code;
}

static int cmd_env(struct cli *cli)
{
	struct fp_env *env = calloc(1, sizeof(*env));
	size_t i;

	if (!env)
		return 1;
	fp_env_collect(env);
	if (cli->json_path) {
		int err = fp_env_write_json(cli->json_path, env);

		if (err) {
			fprintf(stderr, "forkpin: --json %s: %s\n", cli->json_path, strerror(-err));
			free(env);
			return 1;
		}
	}
	for (i = 0; i < env->count; i++)
		printf("%-28s %s\n", env->items[i].key, env->items[i].value);
	free(env);
	return 0;
}

int fp_cmd_vm(int argc, char **argv);

int main(int argc, char **argv)
{
	struct cli cli = {.run = {.timeout_s = 10.0}};

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		print_help(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("forkpin %s (%s)\n", FORKPIN_VERSION, FORKPIN_BUILD_OPTIONS);
		return 0;
	}
	cli.command = argv[1];
	cli.run.seed = (uint64_t)time(NULL);
	if (!strcmp(cli.command, "vm"))
		return fp_cmd_vm(argc, argv);
	if (!strcmp(cli.command, "stress"))
		return fp_cmd_stress(argc, argv);
	if (!strcmp(cli.command, "forkcost"))
		return fp_cmd_forkcost(argc, argv);
	if (strcmp(cli.command, "list") && strcmp(cli.command, "run") && strcmp(cli.command, "env"))
		usage_error("unknown command '%s': use list, run, env or vm (or stress, forkcost)",
			    cli.command);
	parse_args(&cli, argc, argv);
	if (!strcmp(cli.command, "list"))
		return cmd_list(&cli);
	if (!strcmp(cli.command, "env"))
		return cmd_env(&cli);
	return cmd_run(&cli);
}

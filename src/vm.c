/* SPDX-License-Identifier: MIT */
/*
 * `forkpin vm`: run the selection inside the test VM (setup/vm/run) and bring the reports
 * back. setup/vm/run owns the VM options (`setup/vm/run --list-options`: their names, and the
 * names they take here where `forkpin run` has the same one) and, with --kernels, the runs
 * on each kernel and their comparison (setup/lib/compare-kernels). Everything else goes to
 * `forkpin run` in the guest; the guest writes its JSON/JUnit into the VM's result share
 * and they are copied to the paths given here. The exit status is the guest run's.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "report_file.h"
#include "subcommands.h"
#include "util.h"
#include "vm_salvage.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WHO		 "forkpin vm"
#define usage_error(...) fp_usage_error(WHO, __VA_ARGS__)

#define MAX_ARGS       256
#define MAX_VM_OPTIONS 32
/*
 * Without -j, forkpin vm runs two cases per guest CPU: most VM cases wait rather than compute
 * (QEMU's edu DMA timer, rxe's loopback), so two per vCPU keep the vCPUs busy (docs/bench.md).
 * Without --edu, the guest gets an edu device per job (setup/vm/run takes 1-8), so vfio cases
 * never wait for a device while a job is free.
 */
#define VM_JOBS_PER_CPU 2
#define VM_DEFAULT_CPUS 2
#define VM_MAX_EDU	8

/* One line of `setup/vm/run --list-options`. */
struct vm_option {
	char name[32]; /* setup/vm/run's spelling */
	bool value;    /* takes a value */
	char ours[32]; /* forkpin vm's spelling: the same unless renamed */
	bool reserved; /* set by forkpin vm itself (--out): not for the user */
};

struct vm_args {
	struct vm_option opts[MAX_VM_OPTIONS];
	size_t nopts;
	const char *vm[MAX_ARGS];
	size_t nvm;
	const char *run[MAX_ARGS];
	size_t nrun;
	const char *json, *junit;
	bool kernels; /* --kernels LIST: setup/vm/run runs each kernel and compares */
};

static void push(const char **list, size_t *n, const char *arg)
{
	if (*n + 1 >= MAX_ARGS)
		usage_error("too many arguments");
	list[(*n)++] = arg;
}

/* Is this process the installed binary (FORKPIN_BINDIR/forkpin), not a build tree's? */
static bool running_installed(void)
{
	char self[PATH_MAX], installed[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return false;
	self[n] = 0;
	snprintf(installed, sizeof(installed), "%s/forkpin", FORKPIN_BINDIR);
	return !strcmp(self, installed);
}

/*
 * setup/vm/run: $FORKPIN_VM_RUN, else the installed copy (libexecdir/forkpin/vm/run) for an
 * installed forkpin, else the source tree a build-tree forkpin was built from.
 */
static const char *vm_script(void)
{
	const char *env = getenv("FORKPIN_VM_RUN");
	static char path[PATH_MAX];

	if (env && *env)
		return env;
	if (running_installed())
		snprintf(path, sizeof(path), "%s/vm/run", FORKPIN_LIBEXECDIR);
	else
		snprintf(path, sizeof(path), "%s/setup/vm/run", FORKPIN_SOURCE_DIR);
	if (access(path, X_OK))
		usage_error("cannot find %s: set FORKPIN_VM_RUN to setup/vm/run's path", path);
	return path;
}

/* Parse one "NAME value|flag [OURS]" line into @o; false when it is not one. */
static bool parse_option_line(char *line, struct vm_option *o)
{
	char kind[16] = "", ours[32] = "";
	int n = sscanf(line, "%31s %15s %31s", o->name, kind, ours);

	if (n < 2 || o->name[0] != '-' || (strcmp(kind, "value") && strcmp(kind, "flag")))
		return false;
	o->value = !strcmp(kind, "value");
	o->reserved = !strcmp(ours, "-");
	snprintf(o->ours, sizeof(o->ours), "%s", n == 3 && !o->reserved ? ours : o->name);
	return true;
}

/* The VM options, from the one place that owns them: `setup/vm/run --list-options`. */
static void load_vm_options(struct vm_args *a, const char *script)
{
	char line[128];
	int pfd[2], status;
	FILE *f;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		usage_error("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execl(script, script, "--list-options", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "re");
	while (f && fgets(line, sizeof(line), f))
		if (a->nopts < MAX_VM_OPTIONS && parse_option_line(line, &a->opts[a->nopts]))
			a->nopts++;
	if (f)
		fclose(f);
	else
		close(pfd[0]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) || !a->nopts)
		usage_error(
		    "%s --list-options failed: set FORKPIN_VM_RUN to a working setup/vm/run",
		    script);
}

static const struct vm_option *find_vm_option(const struct vm_args *a, const char *arg)
{
	size_t i;

	for (i = 0; i < a->nopts; i++)
		if (!a->opts[i].reserved && !strcmp(a->opts[i].ours, arg))
			return &a->opts[i];
	return NULL;
}

static void __attribute__((noreturn)) print_vm_help(const struct vm_args *a)
{
	size_t i;

	printf("usage: forkpin vm [VM OPTIONS] [--json FILE] [--junit FILE] [RUN ARGUMENTS]\n"
	       "Runs `forkpin run RUN ARGUMENTS` inside the test VM (docs/vm.md) and copies its\n"
	       "reports to --json/--junit. VM OPTIONS (setup/vm/run --help explains them):\n");
	for (i = 0; i < a->nopts; i++)
		if (!a->opts[i].reserved)
			printf("  %s%s\n", a->opts[i].ours, a->opts[i].value ? " VALUE" : "");
	printf("Without -j/--jobs the guest's run takes %d cases per guest CPU (-j 1: one at a "
	       "time);\nwithout --edu the guest gets one edu device per job (at most %d).\n",
	       VM_JOBS_PER_CPU, VM_MAX_EDU);
	printf(
	    "With --kernels LIST, one run per kernel and a comparison of the verdicts (--compare "
	    "FILE: as TSV);\n--json/--junit then take one kernel.\n"
	    "RUN ARGUMENTS: `forkpin run --help`. Exit: the guest run's; 2 bad usage or a "
	    "missing host piece,\n3 the guest did not finish, 128 + N stopped by signal N (both: "
	    "the cases done are the\nreports, marked incomplete; none done: the previous "
	    "reports are kept).\n");
	exit(FP_EXIT_OK);
}

/*
 * --json FILE, --junit FILE and their --json=FILE forms name host paths for the reports the
 * guest's run writes: they never reach the guest. True when @arg was one (@i moves past a
 * separate value).
 */
static bool report_option(struct vm_args *a, const char *arg, const char *next, int *i)
{
	static const char *const names[] = {"--json", "--junit"};
	const char **dest[] = {&a->json, &a->junit};
	size_t k, len;

	for (k = 0; k < 2; k++) {
		len = strlen(names[k]);
		if (strncmp(arg, names[k], len))
			continue;
		if (arg[len] == '=') {
			*dest[k] = arg + len + 1;
		} else if (!arg[len]) {
			if (!next)
				usage_error("option needs a value: %s", arg);
			*dest[k] = next;
			(*i)++;
		} else {
			continue;
		}
		if (!**dest[k])
			usage_error("%s needs a file name", names[k]);
		return true;
	}
	return false;
}

/* Split argv into setup/vm/run's options and `forkpin run`'s arguments. */
static void split_args(struct vm_args *a, int argc, char **argv)
{
	int i;

	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];
		const struct vm_option *o = find_vm_option(a, arg);

		if (o) {
			push(a->vm, &a->nvm, o->name);
			if (!o->value)
				continue;
			if (i + 1 == argc)
				usage_error("option needs a value: %s", arg);
			push(a->vm, &a->nvm, argv[++i]);
			a->kernels |= !strcmp(o->name, "--kernels");
		} else if (report_option(a, arg, i + 1 < argc ? argv[i + 1] : NULL, &i)) {
			continue;
		} else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			print_vm_help(a);
		} else {
			push(a->run, &a->nrun, arg);
		}
	}
	if (a->kernels && (a->json || a->junit))
		usage_error("--json/--junit take one kernel (with --kernels, use --compare FILE)");
}

/* The value given to setup/vm/run's option @name, or NULL. */
static const char *vm_value(const struct vm_args *a, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < a->nvm; i++)
		if (!strcmp(a->vm[i], name))
			return a->vm[i + 1];
	return NULL;
}

/*
 * The -j/--jobs value among forkpin run's arguments: "" when the option is there with a value
 * forkpin run will judge, NULL when it is not there.
 */
static const char *run_jobs(const struct vm_args *a)
{
	size_t i;

	for (i = 0; i < a->nrun; i++) {
		const char *arg = a->run[i];

		if (!strcmp(arg, "-j") || !strcmp(arg, "--jobs"))
			return i + 1 < a->nrun ? a->run[i + 1] : "";
		if (!strncmp(arg, "--jobs=", 7))
			return arg + 7;
		if (!strncmp(arg, "-j", 2))
			return arg + 2;
	}
	return NULL;
}

/*
 * The defaults forkpin vm adds when the user did not choose: -j as two cases per guest CPU,
 * --edu as one device per job. Appends to @cmd/@n (VM options) or fills @jobs_arg (for the
 * guest's run; empty when the user gave -j).
 */
static void vm_defaults(const struct vm_args *a, const char **cmd, size_t *n, char *jobs_arg,
			size_t size)
{
	static char edu_arg[8];
	const char *cpus = vm_value(a, "--cpus"), *given = run_jobs(a);
	unsigned long ncpus = cpus ? strtoul(cpus, NULL, 10) : VM_DEFAULT_CPUS;
	unsigned long jobs = (ncpus ? ncpus : VM_DEFAULT_CPUS) * VM_JOBS_PER_CPU;

	jobs_arg[0] = '\0';
	if (given)
		jobs = strtoul(given, NULL, 10); /* forkpin run judges a bad value */
	else
		snprintf(jobs_arg, size, "%lu", jobs > VM_MAX_EDU ? VM_MAX_EDU : jobs);
	if (given && !jobs)
		return;
	if (!vm_value(a, "--edu")) {
		snprintf(edu_arg, sizeof(edu_arg), "%lu", jobs > VM_MAX_EDU ? VM_MAX_EDU : jobs);
		cmd[(*n)++] = "--edu";
		cmd[(*n)++] = edu_arg;
	}
}

/* Copy a report out of the guest's share like forkpin writes reports: into TO.tmp, renamed
 * over TO only when complete, so a failed copy keeps the previous report. */
static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	struct fp_outfile out;
	size_t n;
	FILE *in = fopen(from, "re");
	int err;

	if (!in)
		return -errno;
	err = fp_outfile_open(&out, to);
	if (err) {
		fclose(in);
		return err;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out.f);
	if (ferror(in)) {
		err = -EIO;
		fp_outfile_discard(&out);
	} else {
		err = fp_outfile_commit(&out);
	}
	fclose(in);
	return err;
}

static void bring_back(const char *dir, const char *name, const char *dest, int *status)
{
	char from[PATH_MAX];
	int err;

	if (!dest)
		return;
	snprintf(from, sizeof(from), "%s/%s", dir, name);
	err = copy_file(from, dest);
	if (err) {
		fprintf(stderr, "forkpin vm: the guest's %s did not come back: %s\n", name,
			strerror(-err));
		if (*status == 0)
			*status = 1;
	}
}

/* Why the guest did not finish, as setup/vm/run said it (its vm-reason file in --out). */
static void guest_reason(const char *dir, char *why, size_t size)
{
	char path[PATH_MAX], line[160] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/vm-reason", dir);
	f = fopen(path, "re");
	if (f) {
		if (fgets(line, sizeof(line), f))
			line[strcspn(line, "\n")] = '\0';
		fclose(f);
	}
	snprintf(why, size, "%s",
		 line[0] ? line : "the guest did not finish (hung, panicked or timed out)");
}

/* Whether the guest's run wrote its reports in full (its stream is then removed). */
static bool run_finished(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/forkpin.json.partial", dir);
	if (!access(path, F_OK))
		return false;
	snprintf(path, sizeof(path), "%s/forkpin.json", dir);
	return !access(path, F_OK);
}

/*
 * The guest's run did not finish (a stop signal, a hang, a panic, the VM timeout): what it
 * streamed to forkpin.json.partial as cases ended becomes the --json/--junit reports, marked
 * incomplete with the reason and the cases that were running, and TAP ends with Bail out!.
 * @signo: the stop signal, 0 when the guest stopped by itself. Before any case started
 * there is nothing to report: the previous reports stay.
 */
static void salvage(const char *dir, const struct vm_args *a, int signo)
{
	char partial[PATH_MAX], why[192], sig[32];
	struct fp_salvage s;
	int err;

	snprintf(partial, sizeof(partial), "%s/forkpin.json.partial", dir);
	if (signo)
		snprintf(why, sizeof(why), "interrupted by %s",
			 fp_signal_name(signo, sig, sizeof(sig)));
	else
		guest_reason(dir, why, sizeof(why));
	err = fp_salvage_reports(partial, a->json, a->junit, signo, why, &s);
	if (err == -ENOENT || err == -EINVAL) {
		fprintf(stderr,
			"forkpin vm: %s before its first case: no report written (previous ones "
			"are kept)\n",
			why);
		return;
	}
	printf("Bail out! %s\n", s.stopped);
	fflush(stdout);
	fprintf(stderr, "forkpin vm: %s: %zu of %zu cases finished%s%s\n", why, s.done, s.planned,
		s.running[0] ? "; running: " : "", s.running);
	if (err)
		fprintf(stderr, "forkpin vm: the incomplete reports could not be written: %s\n",
			strerror(-err));
	else if (a->json || a->junit)
		fprintf(stderr, "forkpin vm: %s%s%s hold%s the cases done, marked incomplete\n",
			a->json ? a->json : "", a->json && a->junit ? " and " : "",
			a->junit ? a->junit : "", a->json && a->junit ? "" : "s");
}

/* JSON.partial beside --json is an earlier run's (forkpin vm writes incomplete reports as
 * JSON itself): like `forkpin run`, remove it so it is not read as this run's. */
static void remove_stale_stream(const char *json)
{
	char path[PATH_MAX];

	if (json && (size_t)snprintf(path, sizeof(path), "%s.partial", json) < sizeof(path))
		unlink(path);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) ? -1 : 0;
}

/* Remove the guests' result files and the temporary directory. */
static void remove_outdir(const char *outdir)
{
	if (nftw(outdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS))
		fprintf(stderr, "forkpin vm: could not remove %s: %s\n", outdir, strerror(errno));
}

/* ---- stop signals ----------------------------------------------------------------------- */

/*
 * SIGINT, SIGTERM and SIGHUP, whether they reach the whole process group (Ctrl-C) or only
 * forkpin vm (a batch system's TERM): passed on to setup/vm/run, whose trap stops QEMU and
 * removes its temporary directory; forkpin vm then removes its own, writes no report (the
 * previous ones stay) and exits 128 + the signal.
 */
static volatile sig_atomic_t vm_stop_sig, vm_child;

static void vm_on_stop(int sig)
{
	if (!vm_stop_sig)
		vm_stop_sig = sig;
	if (vm_child > 0)
		kill(vm_child, sig);
}

static void vm_catch_signals(void)
{
	struct sigaction sa = {.sa_handler = vm_on_stop, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* In setup/vm/run's process before exec: if forkpin vm dies (SIGKILL, OOM), it is told
 * (SIGTERM) and stops QEMU rather than running on to its timeout. */
static void vm_child_follows_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		raise(SIGTERM);
}

/* In forkpin vm: from now on a stop signal reaches setup/vm/run, also one that came before. */
static void vm_child_started(pid_t pid)
{
	vm_child = pid;
	if (vm_stop_sig)
		kill(pid, vm_stop_sig);
}

/* The exit status for @status: 128 + the stop signal when there was one. */
static int vm_stop_exit(int status)
{
	return vm_stop_sig ? FP_EXIT_SIGNAL_BASE + vm_stop_sig : status;
}

int fp_cmd_vm(int argc, char **argv)
{
	static const char guest_sh[] =
	    "exec \"$0\" run \"$@\" --json \"$FORKPIN_VM_OUT/forkpin.json\" "
	    "--junit \"$FORKPIN_VM_OUT/forkpin.junit.xml\"";
	struct vm_args a = {0};
	char self[PATH_MAX], outdir[] = "/tmp/forkpin-vm-XXXXXX";
	const char *cmd[MAX_ARGS * 2 + 16];
	char jobs[16];
	size_t n = 0, i;
	ssize_t len;
	pid_t pid, parent;
	int status = 0;

	cmd[n++] = vm_script();
	load_vm_options(&a, cmd[0]);
	split_args(&a, argc, argv);
	if (a.json && a.junit && fp_report_paths_clash(a.json, a.junit))
		usage_error("--json and --junit both name %s: give each report its own file",
			    a.junit);
	fp_require_writable(WHO, "--json", a.json);
	fp_require_writable(WHO, "--junit", a.junit);
	remove_stale_stream(a.json);
	vm_catch_signals();
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0 || !mkdtemp(outdir))
		usage_error("cannot find its own binary or make a temporary directory");
	self[len] = '\0';
	for (i = 0; i < a.nvm; i++)
		cmd[n++] = a.vm[i];
	vm_defaults(&a, cmd, &n, jobs, sizeof(jobs));
	cmd[n++] = "--out";
	cmd[n++] = outdir;
	cmd[n++] = "--";
	cmd[n++] = "/bin/sh";
	cmd[n++] = "-c";
	cmd[n++] = guest_sh;
	cmd[n++] = self;
	if (jobs[0]) {
		cmd[n++] = "-j";
		cmd[n++] = jobs;
	}
	for (i = 0; i < a.nrun; i++)
		cmd[n++] = a.run[i];
	cmd[n] = NULL;
	fflush(NULL);
	parent = getpid();
	pid = fork();
	if (pid == 0) {
		vm_child_follows_parent(parent);
		execv(cmd[0], (char *const *)cmd);
		fprintf(stderr, "forkpin vm: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(FP_EXIT_USAGE);
	}
	if (pid > 0)
		vm_child_started(pid);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	status = pid < 0 ? 2 : WIFEXITED(status) ? WEXITSTATUS(status) : 3;
	if (!a.kernels && status != 2 && (vm_stop_sig || status == 3) && !run_finished(outdir)) {
		salvage(outdir, &a, vm_stop_sig);
	} else if (!a.kernels && status != 2 && status != 3) {
		bring_back(outdir, "forkpin.json", a.json, &status);
		bring_back(outdir, "forkpin.junit.xml", a.junit, &status);
	}
	remove_outdir(outdir);
	return vm_stop_exit(status);
}

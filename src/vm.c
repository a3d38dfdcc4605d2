/* SPDX-License-Identifier: MIT */
/*
 * `forkpin vm`: run the selection inside the test VM (setup/vm/run) and bring the reports
 * back. VM options go to setup/vm/run, everything else to `forkpin run` in the guest; the
 * guest writes its JSON/JUnit into the VM's result share and they are copied to the paths
 * given here. The exit status is the guest run's.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "subcommands.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 256

/* setup/vm/run options that take a value, and those that do not. */
static const char *const vm_value_opts[] = {"--kernel-release", "--kernels",	  "--kernel",
					    "--modules",	"--kernel-cache", "--accel",
					    "--iommu"};
static const char *const vm_flag_opts[] = {"--keep", "--vm-verbose"};
/* forkpin-vm spellings of setup/vm/run options whose plain names `run` also has. */
static const struct {
	const char *ours, *theirs;
} vm_renamed[] = {{"--vm-mem", "--mem"}, {"--vm-cpus", "--cpus"}, {"--vm-timeout", "--timeout"}};

struct vm_args {
	const char *vm[MAX_ARGS];
	size_t nvm;
	const char *run[MAX_ARGS];
	size_t nrun;
	const char *json, *junit;
	const char *kernels; /* --kernels LIST: one run per kernel, then a comparison */
	const char *compare; /* --compare FILE: the full case x kernel table as TSV */
};

static void __attribute__((noreturn)) vm_usage(const char *what, const char *arg)
{
	fprintf(stderr, "forkpin vm: %s%s%s\n", what, arg ? " " : "", arg ? arg : "");
	exit(2);
}

static void push(const char **list, size_t *n, const char *arg)
{
	if (*n + 1 >= MAX_ARGS)
		vm_usage("too many arguments", NULL);
	list[(*n)++] = arg;
}

static bool in(const char *const *list, size_t n, const char *arg)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i], arg))
			return true;
	return false;
}

/* Split argv into setup/vm/run's options and `forkpin run`'s arguments. */
static void split_args(struct vm_args *a, int argc, char **argv)
{
	int i;
	size_t r;

	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];
		bool value = i + 1 < argc;

		if (in(vm_value_opts, FP_ARRAY_SIZE(vm_value_opts), arg)) {
			if (!value)
				vm_usage("option needs a value:", arg);
			if (!strcmp(arg, "--kernels"))
				a->kernels = argv[i + 1];
			push(a->vm, &a->nvm, arg);
			push(a->vm, &a->nvm, argv[++i]);
			continue;
		}
		if (in(vm_flag_opts, FP_ARRAY_SIZE(vm_flag_opts), arg)) {
			push(a->vm, &a->nvm, !strcmp(arg, "--vm-verbose") ? "-v" : arg);
			continue;
		}
		for (r = 0; r < FP_ARRAY_SIZE(vm_renamed); r++)
			if (!strcmp(arg, vm_renamed[r].ours))
				break;
		if (r < FP_ARRAY_SIZE(vm_renamed)) {
			if (!value)
				vm_usage("option needs a value:", arg);
			push(a->vm, &a->nvm, vm_renamed[r].theirs);
			push(a->vm, &a->nvm, argv[++i]);
		} else if (!strcmp(arg, "--compare") && value) {
			a->compare = argv[++i];
		} else if ((!strcmp(arg, "--json") || !strcmp(arg, "--junit")) && value) {
			*(arg[3] == 's' ? &a->json : &a->junit) = argv[++i];
		} else {
			push(a->run, &a->nrun, arg);
		}
	}
	if (a->kernels && (a->json || a->junit))
		vm_usage("--json/--junit take one kernel (with --kernels, use --compare FILE)",
			 NULL);
	if (a->compare && !a->kernels)
		vm_usage("--compare needs --kernels LIST", NULL);
}

/* setup/vm/run: $FORKPIN_VM_RUN, else the source tree forkpin was built from. */
static const char *vm_script(void)
{
	const char *env = getenv("FORKPIN_VM_RUN");
	static char path[PATH_MAX];

	if (env && *env)
		return env;
	snprintf(path, sizeof(path), "%s/setup/vm/run", FORKPIN_SOURCE_DIR);
	if (access(path, X_OK))
		vm_usage("cannot find setup/vm/run: set FORKPIN_VM_RUN to its path", NULL);
	return path;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in_fd = open(from, O_RDONLY | O_CLOEXEC), out_fd, err = 0;

	if (in_fd < 0)
		return -errno;
	out_fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out_fd < 0) {
		err = -errno;
		close(in_fd);
		return err;
	}
	while (!err && (n = read(in_fd, buf, sizeof(buf))) > 0)
		err = fp_write_all(out_fd, buf, (size_t)n);
	close(in_fd);
	if (close(out_fd) && !err)
		err = -errno;
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

#define MAX_KERNELS 8
#define MAX_CASES   2048

/* Verdicts per case id and kernel, read back from each guest's JSON report. */
struct comparison {
	char kernels[MAX_KERNELS][32];
	size_t nkernels;
	char ids[MAX_CASES][96];
	char verdict[MAX_CASES][MAX_KERNELS][20];
	size_t ncases;
};

/* The text of "key": "value" on @line into @out; false when the key is not there. */
static bool json_field(const char *line, const char *key, char *out, size_t size)
{
	char pattern[64];
	const char *p, *end;

	snprintf(pattern, sizeof(pattern), "\"%s\": \"", key);
	p = strstr(line, pattern);
	if (!p)
		return false;
	p += strlen(pattern);
	end = strchr(p, '"');
	if (!end || (size_t)(end - p) >= size)
		return false;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return true;
}

static size_t case_row(struct comparison *c, const char *id)
{
	size_t i;

	for (i = 0; i < c->ncases; i++)
		if (!strcmp(c->ids[i], id))
			return i;
	if (c->ncases == MAX_CASES)
		return MAX_CASES;
	snprintf(c->ids[c->ncases], sizeof(c->ids[0]), "%s", id);
	return c->ncases++;
}

/* forkpin's JSON has one case per line: take id and result from each. */
static void load_kernel(struct comparison *c, size_t k, const char *path)
{
	char line[16384], id[96], result[20];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		size_t row;

		if (!json_field(line, "id", id, sizeof(id)) ||
		    !json_field(line, "result", result, sizeof(result)))
			continue;
		row = case_row(c, id);
		if (row < MAX_CASES)
			snprintf(c->verdict[row][k], sizeof(c->verdict[0][0]), "%s", result);
	}
	fclose(f);
}

static bool row_differs(const struct comparison *c, size_t row)
{
	size_t k;

	for (k = 1; k < c->nkernels; k++)
		if (strcmp(c->verdict[row][k], c->verdict[row][0]))
			return true;
	return false;
}

static void print_row(FILE *f, const struct comparison *c, size_t row, const char *sep)
{
	size_t k;

	fprintf(f, "%-44s", c->ids[row]);
	for (k = 0; k < c->nkernels; k++)
		fprintf(f, "%s%-16s", sep, c->verdict[row][k][0] ? c->verdict[row][k] : "(no run)");
	fputc('\n', f);
}

/* One table for all kernels: the cases whose verdict differs, and optionally all as TSV. */
static void compare_kernels(const char *outdir, const char *list, const char *tsv_path)
{
	struct comparison *c = calloc(1, sizeof(*c));
	char copy[256], *save, *tok, path[4096];
	size_t row, k, differ = 0;
	FILE *tsv;

	if (!c)
		return;
	snprintf(copy, sizeof(copy), "%s", list);
	for (tok = strtok_r(copy, ",", &save); tok && c->nkernels < MAX_KERNELS;
	     tok = strtok_r(NULL, ",", &save)) {
		snprintf(c->kernels[c->nkernels], sizeof(c->kernels[0]), "%s", tok);
		snprintf(path, sizeof(path), "%s/%s/forkpin.json", outdir, tok);
		load_kernel(c, c->nkernels++, path);
	}
	printf("# comparison over kernels:");
	for (k = 0; k < c->nkernels; k++)
		printf(" %s", c->kernels[k]);
	printf(" (%zu cases)\n", c->ncases);
	for (row = 0; row < c->ncases; row++)
		if (row_differs(c, row)) {
			if (!differ++)
				printf("# cases whose verdict differs:\n");
			printf("#   ");
			print_row(stdout, c, row, " ");
		}
	if (!differ)
		printf("# every case has the same verdict on every kernel\n");
	tsv = tsv_path ? fopen(tsv_path, "we") : NULL;
	if (tsv) {
		fprintf(tsv, "case");
		for (k = 0; k < c->nkernels; k++)
			fprintf(tsv, "\t%s", c->kernels[k]);
		fputc('\n', tsv);
		for (row = 0; row < c->ncases; row++) {
			fputs(c->ids[row], tsv);
			for (k = 0; k < c->nkernels; k++)
				fprintf(tsv, "\t%s",
					c->verdict[row][k][0] ? c->verdict[row][k] : "-");
			fputc('\n', tsv);
		}
		fclose(tsv);
	}
	free(c);
}

/* Remove the guests' result files and the temporary directory. */
static void remove_outdir(const char *outdir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", outdir);
	if (system(cmd) != 0)
		fprintf(stderr, "forkpin vm: could not remove %s\n", outdir);
}

int fp_cmd_vm(int argc, char **argv)
{
	static const char guest_sh[] =
	    "exec \"$0\" run \"$@\" --json \"$FORKPIN_VM_OUT/forkpin.json\" "
	    "--junit \"$FORKPIN_VM_OUT/forkpin.junit.xml\"";
	struct vm_args a = {0};
	char self[PATH_MAX], outdir[] = "/tmp/forkpin-vm-XXXXXX";
	const char *cmd[MAX_ARGS * 2 + 16];
	size_t n = 0, i;
	ssize_t len;
	pid_t pid;
	int status = 0;

	split_args(&a, argc, argv);
	fp_require_writable("forkpin vm", "--json", a.json);
	fp_require_writable("forkpin vm", "--junit", a.junit);
	fp_require_writable("forkpin vm", "--compare", a.compare);
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0 || !mkdtemp(outdir))
		vm_usage("cannot find its own binary or make a temporary directory", NULL);
	self[len] = '\0';
	cmd[n++] = vm_script();
	for (i = 0; i < a.nvm; i++)
		cmd[n++] = a.vm[i];
	cmd[n++] = "--out";
	cmd[n++] = outdir;
	cmd[n++] = "--";
	cmd[n++] = "/bin/sh";
	cmd[n++] = "-c";
	cmd[n++] = guest_sh;
	cmd[n++] = self;
	for (i = 0; i < a.nrun; i++)
		cmd[n++] = a.run[i];
	cmd[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		execv(cmd[0], (char *const *)cmd);
		fprintf(stderr, "forkpin vm: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(2);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	status = pid < 0 ? 2 : WIFEXITED(status) ? WEXITSTATUS(status) : 3;
	if (a.kernels)
		compare_kernels(outdir, a.kernels, a.compare);
	else if (status != 2 && status != 3) {
		bring_back(outdir, "forkpin.json", a.json, &status);
		bring_back(outdir, "forkpin.junit.xml", a.junit, &status);
	}
	remove_outdir(outdir);
	return status;
}

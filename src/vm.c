/* SPDX-License-Identifier: MIT */
/*
 * `forkpin vm`: run the selection inside the test VM (setup/vm/run) and bring the reports
 * back. VM options go to setup/vm/run, everything else to `forkpin run` in the guest; the
 * guest writes its JSON/JUnit into the VM's result share and they are copied to the paths
 * given here. The exit status is the guest run's.
 */
#define _GNU_SOURCE
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
	bool several_kernels;
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
			a->several_kernels |= !strcmp(arg, "--kernels");
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
		} else if ((!strcmp(arg, "--json") || !strcmp(arg, "--junit")) && value) {
			*(arg[3] == 's' ? &a->json : &a->junit) = argv[++i];
		} else {
			push(a->run, &a->nrun, arg);
		}
	}
	if (a->several_kernels && (a->json || a->junit))
		vm_usage("--json/--junit take one kernel: use --kernel-release, not --kernels",
			 NULL);
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
	if (status != 2 && status != 3) {
		bring_back(outdir, "forkpin.json", a.json, &status);
		bring_back(outdir, "forkpin.junit.xml", a.junit, &status);
	}
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/forkpin.json", outdir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/forkpin.junit.xml", outdir);
		unlink(path);
		rmdir(outdir);
	}
	return status;
}

/* SPDX-License-Identifier: MIT */
/*
 * The libfabric zygote. Loading libfabric 1.17 costs a process ~0.2 s before any call (the
 * psm and psm2 libraries it links calibrate the TSC for 100 ms each in their constructors),
 * and its first fi_getinfo another 0.2-1.3 s (providers initialise; one reads /proc/kallsyms
 * twice). None of that can be skipped or configured away, and every case process paid it.
 *
 * So once per run the main process forks a zygote that loads and initialises libfabric, and
 * each case process of the ofi rows is forked from it: it inherits libfabric's initialised
 * state (memory only) and then opens its own fabric, domain and endpoint, registers its own
 * memory and forks, as a process that initialised libfabric itself would. What would make
 * the case differ from such a process is refused: a zygote holding a kernel object after its
 * initialisation (a new file descriptor: a device context, a socket) or a second thread is
 * not used, since its case processes would share that object or miss that thread; the cases
 * then start by fork() from the main process as before.
 *
 * The case process must be the runner's child (it waits for it, sets its process group, and
 * the case's PR_SET_PDEATHSIG is relative to its parent): the zygote forks an intermediate
 * process that forks the case process and exits, so the case process is reparented to the
 * runner, a child subreaper. The case process waits until the zygote has seen it become the
 * runner's child before it runs the case body.
 */
#define _GNU_SOURCE
#include "ofi_zygote.h"
#include "ofi_kallsyms.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util.h"

/* A zygote that is not ready within this long is not used (TCG guests need ~1.5 s). */
#define ZYGOTE_READY_MS 15000
/* A case process not started within this long: the zygote is dropped. */
#define ZYGOTE_SPAWN_MS 5000
#define ZYGOTE_ARG_MAX	1024
#define ZYGOTE_MAX_FDS	1024

struct zygote_request {
	void (*body)(void *arg, int fd);
	size_t arg_size;
	unsigned char arg[ZYGOTE_ARG_MAX];
};

struct zygote_ready {
	int ok;			    /* the zygote serves requests */
	int code;		    /* what prepare returned */
	char why[240];		    /* why it does not serve */
	char text[OFI_ZYGOTE_TEXT]; /* what prepare wrote */
};

/* Send @len bytes and, when @fd >= 0, the descriptor with them. */
static int send_with_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Receive one message into @buf; *@fd gets a descriptor sent with it, or -1. Bytes, or <= 0. */
static ssize_t recv_with_fd(int sock, void *buf, size_t len, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

/* The open descriptors of this process, as a bitmap over [0, ZYGOTE_MAX_FDS). */
static void open_fds(unsigned char *set)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	memset(set, 0, ZYGOTE_MAX_FDS / 8);
	if (!d)
		return;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] != '.' && fd != dirfd(d) && fd < ZYGOTE_MAX_FDS)
			set[fd / 8] |= (unsigned char)(1u << (fd % 8));
	}
	closedir(d);
}

static int threads_of_self(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	int n = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* After @prepare: is this process still one its case processes may be forked from? */
static int check_clean(const unsigned char *before, char *why, size_t size)
{
	unsigned char after[ZYGOTE_MAX_FDS / 8];
	int fd, threads = threads_of_self();

	if (threads != 1) {
		snprintf(why, size, "libfabric's start-up left %d threads (a fork keeps one)",
			 threads);
		return -1;
	}
	open_fds(after);
	for (fd = 0; fd < ZYGOTE_MAX_FDS; fd++) {
		char path[64], target[128] = "?";
		ssize_t n;

		if (!(after[fd / 8] & ~before[fd / 8] & (1u << (fd % 8))))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 1] = '\0';
		snprintf(why, size,
			 "libfabric's start-up left descriptor %d (%s) open: case processes "
			 "would share it",
			 fd, target);
		return -1;
	}
	return 0;
}

/* In the new case process: wait for the zygote's word that we are the runner's child. */
static void __attribute__((noreturn))
case_child(const struct zygote_request *req, int fd, int go, int sock)
{
	unsigned char arg[ZYGOTE_ARG_MAX];
	char b;

	close(sock);
	if (read(go, &b, 1) != 1)
		_exit(127); /* the zygote gave up on us */
	close(go);
	memcpy(arg, req->arg, req->arg_size);
	req->body(arg, fd);
	_exit(127);
}

/* The parent of pid @pid, from /proc; -1 when unknown. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

/* In the zygote: one case process, reparented to @runner. Its pid, or -errno. */
static pid_t zygote_fork(const struct zygote_request *req, int fd, int sock, pid_t runner)
{
	int go[2], report[2], status;
	pid_t mid, child = -1;

	if (pipe2(go, O_CLOEXEC))
		return -errno;
	if (pipe2(report, O_CLOEXEC)) {
		close(go[0]);
		close(go[1]);
		return -errno;
	}
	mid = fork();
	if (mid == 0) {
		pid_t c = fork();

		if (c == 0) {
			close(go[1]);
			close(report[0]);
			close(report[1]);
			case_child(req, fd, go[0], sock);
		}
		_exit(write(report[1], &c, sizeof(c)) == sizeof(c) ? 0 : 1);
	}
	close(go[0]);
	close(report[1]);
	if (mid > 0) {
		while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
			;
		if (read(report[0], &child, sizeof(child)) != sizeof(child))
			child = -1;
	}
	close(report[0]);
	/* the intermediate has exited: the case process is an orphan, the runner's now */
	if (child > 0 && parent_of(child) != runner) {
		kill(child, SIGKILL);
		child = -1;
	}
	if (child > 0 && write(go[1], "g", 1) != 1)
		child = -1;
	close(go[1]);
	return child > 0 ? child : -EAGAIN;
}

static void __attribute__((noreturn))
zygote_main(int sock, pid_t runner, ofi_zygote_prepare_fn prepare)
{
	static const int stop[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
	static struct zygote_ready ready = {.ok = 1};
	unsigned char before[ZYGOTE_MAX_FDS / 8];
	struct zygote_request req;
	bool usable = true;
	size_t i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != runner)
		_exit(1);
	for (i = 0; i < FP_ARRAY_SIZE(stop); i++)
		signal(stop[i], SIG_DFL); /* the runner's handlers are not ours */
	open_fds(before);
	ready.code = prepare(ready.text, sizeof(ready.text), &usable);
	if (!usable)
		snprintf(ready.why, sizeof(ready.why), "%.200s", ready.text);
	if (!usable || check_clean(before, ready.why, sizeof(ready.why)))
		ready.ok = 0;
	if (send_with_fd(sock, &ready, sizeof(ready), -1) || !ready.ok)
		_exit(0);
	for (;;) {
		int fd;
		ssize_t n = recv_with_fd(sock, &req, sizeof(req), &fd);
		pid_t pid;

		if (n <= 0)
			_exit(0); /* the runner is done */
		pid = (size_t)n >= offsetof(struct zygote_request, arg) &&
			      req.arg_size <= ZYGOTE_ARG_MAX && fd >= 0
			  ? zygote_fork(&req, fd, sock, runner)
			  : -EINVAL;
		if (fd >= 0)
			close(fd);
		if (send_with_fd(sock, &pid, sizeof(pid), -1))
			_exit(0);
	}
}

/* Drop the zygote: later cases are forked by the runner. */
static void zygote_drop(struct ofi_zygote *z)
{
	if (z->sock >= 0)
		close(z->sock);
	z->sock = -1;
	if (z->pid > 0) {
		kill(z->pid, SIGKILL);
		fp_waitpid_bounded(z->pid, 1000);
	}
	z->pid = 0;
}

static struct ofi_zygote *zygote_running; /* ended at the runner's exit */
static pid_t zygote_runner;

/* The runner exits: end the zygote now rather than by its parent-death signal, so that no
 * process of the run outlives it. */
static void zygote_at_exit(void)
{
	if (zygote_running && getpid() == zygote_runner)
		zygote_drop(zygote_running);
}

int ofi_zygote_start(struct ofi_zygote *z, ofi_zygote_prepare_fn prepare, char *text, size_t size)
{
	static struct zygote_ready ready;
	pid_t runner = getpid();
	int sv[2], fd;

	z->tried = true;
	z->sock = -1;
	if (size)
		text[0] = '\0';
	ofi_kallsyms_snapshot(); /* the zygote's providers, and its cases', read the copy */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		snprintf(z->why, sizeof(z->why), "socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	z->pid = fork();
	if (z->pid == 0) {
		close(sv[0]);
		zygote_main(sv[1], runner, prepare);
	}
	close(sv[1]);
	if (z->pid < 0) {
		snprintf(z->why, sizeof(z->why), "fork: %s", strerror(errno));
		close(sv[0]);
		return -1;
	}
	z->sock = sv[0];
	zygote_running = z;
	zygote_runner = runner;
	atexit(zygote_at_exit);
	if (fp_wait_readable(z->sock, ZYGOTE_READY_MS) <= 0 ||
	    recv_with_fd(z->sock, &ready, sizeof(ready), &fd) != sizeof(ready)) {
		snprintf(z->why, sizeof(z->why), "the zygote did not start within %d ms",
			 ZYGOTE_READY_MS);
		zygote_drop(z);
		return -1;
	}
	ready.text[sizeof(ready.text) - 1] = '\0';
	if (size)
		snprintf(text, size, "%s", ready.text);
	if (!ready.ok) {
		ready.why[sizeof(ready.why) - 1] = '\0';
		snprintf(z->why, sizeof(z->why), "%s", ready.why);
		zygote_drop(z);
	}
	return ready.code;
}

void ofi_zygote_stop(struct ofi_zygote *z, const char *why)
{
	if (z->sock >= 0)
		snprintf(z->why, sizeof(z->why), "%s", why);
	zygote_drop(z);
	z->tried = true;
}

int ofi_zygote_spawn(struct ofi_zygote *z, ofi_zygote_prepare_fn prepare,
		     void (*body)(void *arg, int fd), const void *arg, size_t arg_size, int fd)
{
	struct zygote_request req = {.body = body, .arg_size = arg_size};
	pid_t pid;
	int none;

	if (arg_size > sizeof(req.arg))
		return -E2BIG;
	if (!z->tried)
		ofi_zygote_start(z, prepare, NULL, 0);
	if (z->sock < 0)
		return -ENOSYS;
	memcpy(req.arg, arg, arg_size);
	if (send_with_fd(z->sock, &req, offsetof(struct zygote_request, arg) + arg_size, fd) ||
	    fp_wait_readable(z->sock, ZYGOTE_SPAWN_MS) <= 0 ||
	    recv_with_fd(z->sock, &pid, sizeof(pid), &none) != sizeof(pid)) {
		snprintf(z->why, sizeof(z->why), "the zygote stopped answering");
		zygote_drop(z);
		return -EIO;
	}
	return pid > 0 ? pid : -EAGAIN;
}

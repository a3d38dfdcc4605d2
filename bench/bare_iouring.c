/* SPDX-License-Identifier: MIT */
/*
 * The bare baseline for bench/host-cases.sh: the syscalls of one iouring/anon/parent-writes
 * case and nothing else — fork a case process; in it map 64 KiB, io_uring setup, register,
 * write, fork a child that stays alive, write again, one READ_FIXED from a pipe, wait, compare,
 * reap. No tables, no patterns, no reports, no watchdog.
 * usage: bare_iouring N   (prints the seconds per case)
 */
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEN (64u << 10)

static int one_case(void)
{
	char *buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static char src[LEN];
	struct iovec iov = {buf, LEN};
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int fds[2], ok;
	pid_t child;

	if (buf == MAP_FAILED || io_uring_queue_init(4, &ring, 0) || pipe(fds))
		return 1;
	madvise(buf, LEN, MADV_NOHUGEPAGE);
	memset(buf, 1, LEN);
	if (io_uring_register_buffers(&ring, &iov, 1))
		return 1;
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	memset(buf, 2, LEN);
	memset(src, 3, LEN);
	io_uring_prep_read_fixed(io_uring_get_sqe(&ring), fds[0], buf, LEN, 0, 0);
	io_uring_submit(&ring);
	if (write(fds[1], src, LEN) != LEN || io_uring_wait_cqe(&ring, &cqe) || cqe->res != LEN)
		return 1;
	io_uring_cqe_seen(&ring, cqe);
	ok = memcmp(buf, src, LEN) == 0;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	io_uring_unregister_buffers(&ring);
	io_uring_queue_exit(&ring);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200, i, failures = 0;
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid == 0)
			_exit(one_case());
		waitpid(pid, &status, 0);
		failures += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.9f\n", ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9) / n);
	return failures ? 1 : 0;
}

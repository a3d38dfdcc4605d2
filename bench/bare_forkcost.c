/* SPDX-License-Identifier: MIT */
/*
 * The plain reference for `forkpin forkcost`'s pinned curves (bench/forkcost-ref.sh): map
 * SIZE MiB of private anonymous memory on 4 KiB pages or 2 MiB THPs, fault it in, register it
 * with io_uring (a long-term pin), then time fork() in the parent REPEAT times while each
 * child waits, and print the median in ms. No forkpin code, no tables, no smaps reading.
 * usage: bare_forkcost SIZE_MIB 4k|thp [REPEAT]    (default 3)
 * Exit 4 when THP was asked for and the buffer did not get it (forkcost SKIPs the same).
 */
#define _GNU_SOURCE
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HUGE_2M (2ul << 20)

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* AnonHugePages (kB) of the mapping holding @addr. */
static unsigned long long thp_kb(const void *addr)
{
	char line[512];
	unsigned long long kb = 0;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char c;

		if (sscanf(line, "%lx-%lx %c", &s, &e, &c) == 3) {
			if (in)
				break;
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
		} else if (in && !strncmp(line, "AnonHugePages:", 14)) {
			kb = strtoull(line + 14, NULL, 10);
		}
	}
	if (f)
		fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	size_t size = argc > 2 ? strtoul(argv[1], NULL, 10) << 20 : 0;
	int thp = argc > 2 && !strcmp(argv[2], "thp");
	int repeat = argc > 3 ? atoi(argv[3]) : 3, r;
	struct io_uring ring;
	struct iovec iov;
	double ms[64];
	char *raw, *buf;

	if (!size || repeat < 1 || repeat > 64 || (!thp && strcmp(argv[2], "4k"))) {
		fprintf(stderr, "usage: bare_forkcost SIZE_MIB 4k|thp [REPEAT]\n");
		return 2;
	}
	raw =
	    mmap(NULL, size + HUGE_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return 1;
	buf = (char *)(((uintptr_t)raw + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	madvise(buf, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(buf, 0x5a, size);
	if (thp && thp_kb(buf) * 1024 * 10 < size * 9) {
		fprintf(stderr, "bare_forkcost: the buffer did not get THPs\n");
		return 4;
	}
	iov = (struct iovec){buf, size};
	if (io_uring_queue_init(4, &ring, 0) || io_uring_register_buffers(&ring, &iov, 1)) {
		fprintf(stderr, "bare_forkcost: io_uring registration failed (ulimit -l?)\n");
		return 1;
	}
	for (r = 0; r < repeat; r++) {
		int pfd[2];
		double t0;
		pid_t pid;
		char c;

		if (pipe(pfd))
			return 1;
		t0 = now_ms();
		pid = fork();
		if (pid == 0) {
			close(pfd[1]);
			_exit(read(pfd[0], &c, 1) < 0);
		}
		ms[r] = now_ms() - t0;
		close(pfd[0]);
		close(pfd[1]);
		if (pid < 0)
			return 1;
		waitpid(pid, NULL, 0);
	}
	qsort(ms, (size_t)repeat, sizeof(ms[0]), cmp);
	printf("%.3f\n", repeat % 2 ? ms[repeat / 2] : (ms[repeat / 2 - 1] + ms[repeat / 2]) / 2);
	io_uring_queue_exit(&ring);
	return 0;
}

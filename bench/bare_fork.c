/* SPDX-License-Identifier: MIT */
/*
 * bench/bare_fork: fork() + waitpid() in a loop for SEC seconds, the child exiting at once;
 * prints forks per second. The yardstick bench/stress.sh compares the stressor's rate with.
 *   bare_fork [SEC]     (default 2)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0, start = now_s(), t;
	unsigned long n = 0;

	if (!(secs > 0)) {
		fprintf(stderr, "usage: bare_fork [SEC]\n");
		return 2;
	}
	do {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
		n++;
		t = now_s() - start;
	} while (t < secs);
	printf("%.1f\n", (double)n / t);
	return 0;
}

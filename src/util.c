/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* pipe2 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

uint64_t fp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int fp_read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)size, f))
		err = ferror(f) ? -EIO : -ENODATA;
	fclose(f);
	if (!err)
		buf[strcspn(buf, "\n")] = '\0';
	return err;
}

int fp_read_ulong(const char *path, unsigned long *out)
{
	char line[64], *end;
	int err = fp_read_line(path, line, sizeof(line));

	if (err)
		return err;
	errno = 0;
	*out = strtoul(line, &end, 10);
	if (errno || end == line)
		return -EINVAL;
	return 0;
}

int fp_write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = fp_write_all(fd, text, strlen(text));
	close(fd);
	return err;
}

int fp_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fp_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fp_wait_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint64_t deadline = fp_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		uint64_t now = fp_now_ns();
		int left = now >= deadline ? 0 : (int)((deadline - now) / 1000000ull);
		int n = poll(&pfd, 1, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n > 0 ? 1 : 0;
	}
}

const char *fp_format_size(size_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t unit = 0;

	while (unit + 1 < FP_ARRAY_SIZE(units) && bytes >= 1024 && bytes % 1024 == 0) {
		bytes /= 1024;
		unit++;
	}
	snprintf(buf, size, "%zu %s", bytes, units[unit]);
	return buf;
}

bool fp_parse_size(const char *text, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!text || !*text || *text == '-')
		return false;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text)
		return false;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return false;
	}
	if (*end && end[1] != '\0' && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return false;
	if (shift && v > (SIZE_MAX >> shift))
		return false;
	*out = (size_t)(v << shift);
	return true;
}

bool fp_parse_seconds(const char *text, double *out)
{
	char *end;
	double v;

	if (!text || !*text)
		return false;
	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || *end || !(v > 0) || v > 86400)
		return false;
	*out = v;
	return true;
}

bool fp_has_cap_ipc_lock(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	bool has = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long caps;

		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			has = caps & (1ull << 14); /* CAP_IPC_LOCK */
			break;
		}
	}
	fclose(f);
	return has;
}

/* Position @f just after the header line of the VMA containing @addr. */
static int smaps_seek_vma(FILE *f, const void *addr)
{
	char line[512];
	uintptr_t a = (uintptr_t)addr;

	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;

		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && a >= start && a < end)
			return 0;
	}
	return -ENOENT;
}

/* Read the next field line of the current VMA into @line; false at the next VMA. */
static bool smaps_next_field(FILE *f, char *line, size_t size)
{
	unsigned long start, end;

	if (!fgets(line, (int)size, f))
		return false;
	return sscanf(line, "%lx-%lx ", &start, &end) != 2;
}

int fp_smaps_field(const void *addr, const char *field, unsigned long *kb)
{
	char line[512];
	size_t flen = strlen(field);
	FILE *f = fopen("/proc/self/smaps", "re");
	int err;

	if (!f)
		return -errno;
	err = smaps_seek_vma(f, addr);
	while (!err && smaps_next_field(f, line, sizeof(line))) {
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			err = sscanf(line + flen + 1, "%lu", kb) == 1 ? 0 : -EINVAL;
			fclose(f);
			return err;
		}
	}
	fclose(f);
	return err ? err : -ENOENT;
}

int fp_smaps_has_flag(const void *addr, const char *flag)
{
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "re");
	int err;

	if (!f)
		return -errno;
	err = smaps_seek_vma(f, addr);
	while (!err && smaps_next_field(f, line, sizeof(line))) {
		char *tok, *save;

		if (strncmp(line, "VmFlags:", 8))
			continue;
		for (tok = strtok_r(line + 8, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save))
			if (!strcmp(tok, flag)) {
				fclose(f);
				return 1;
			}
		fclose(f);
		return 0;
	}
	fclose(f);
	return err ? err : -ENOENT;
}

int fp_waitpid_bounded(pid_t pid, int timeout_ms)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (fp_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(1000);
	}
}

unsigned long long fp_meminfo_kb(const char *field)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	size_t flen = strlen(field);
	unsigned long long v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			v = strtoull(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

int fp_text_from_child(int (*fn)(void *arg, char *out, size_t size), void *arg, char *out,
		       size_t size, int timeout_ms)
{
	int fds[2], status;
	size_t got = 0;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		char *buf = calloc(1, size);
		int code;

		close(fds[0]);
		if (!buf)
			_exit(100);
		code = fn(arg, buf, size);
		fp_write_all(fds[1], buf, strnlen(buf, size));
		_exit(code);
	}
	close(fds[1]);
	while (got + 1 < size && fp_wait_readable(fds[0], timeout_ms) > 0) {
		ssize_t n = read(fds[0], out + got, size - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	close(fds[0]);
	status = fp_waitpid_bounded(pid, timeout_ms);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

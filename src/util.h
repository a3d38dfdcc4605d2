/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every file, case processes included: time, sysfs reads, exact I/O,
 * bounded waits. None of them exits the process; the command line's helpers that do are in
 * cmd.h.
 */
#ifndef FORKPIN_UTIL_H
#define FORKPIN_UTIL_H

#include <stdbool.h>

/* A helper script's name as messages give it: "setup/" NAME in a source tree, the installed
 * path for an installed build (meson -Dhelper_paths=installed). A string literal. */
#define FP_SETUP(name) FORKPIN_SETUP_PREFIX name
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic time in nanoseconds. */
uint64_t fp_now_ns(void);

/* Read the first line of a small file into @buf without the newline; -errno on failure. */
int fp_read_line(const char *path, char *buf, size_t size);
/* Read a file holding one unsigned number; -errno on failure or garbage. */
int fp_read_ulong(const char *path, unsigned long *out);
/* A /proc/meminfo field (e.g. "MemAvailable") in kB, or 0 when it cannot be read. */
unsigned long long fp_meminfo_kb(const char *field);
/* Write @text to a sysfs/procfs file; -errno on failure. */
int fp_write_text(const char *path, const char *text);

/* write()/read() all of @len bytes, retrying on EINTR and short transfers; -errno on error,
 * -EPIPE on end of file. */
int fp_write_all(int fd, const void *buf, size_t len);
int fp_read_all(int fd, void *buf, size_t len);
/* Wait up to @timeout_ms for @fd to become readable: 1 ready, 0 timed out, -errno. */
int fp_wait_readable(int fd, int timeout_ms);

/* Human-readable size ("2 MiB", "4 KiB", "1000 B") into @buf. */
const char *fp_format_size(size_t bytes, char *buf, size_t size);
/* Parse "64", "64k", "2M", "1G" (binary units); false on garbage or overflow. */
bool fp_parse_size(const char *text, size_t *out);
/* Parse a positive decimal number of seconds ("5", "0.5"); false on garbage. */
bool fp_parse_seconds(const char *text, double *out);

/* True when the process has CAP_IPC_LOCK in its effective set (pins escape RLIMIT_MEMLOCK). */
bool fp_has_cap_ipc_lock(void);

/*
 * Facts about the VMA that contains @addr, from /proc/self/smaps.
 * fp_smaps_field: a "Name:  N kB" field in kB. fp_smaps_has_flag: 1 when VmFlags lists
 * @flag (e.g. "dc" for MADV_DONTFORK, "hg" for MADV_HUGEPAGE), 0 when not. -ENOENT when no
 * VMA contains @addr, other -errno when smaps cannot be read.
 */
int fp_smaps_field(const void *addr, const char *field, unsigned long *kb);
int fp_smaps_has_flag(const void *addr, const char *flag);

/* Wait for child @pid at most @timeout_ms: its wait status, or -1 after killing and reaping
 * it (or when it cannot be waited for). */
int fp_waitpid_bounded(pid_t pid, int timeout_ms);

/*
 * Run @fn(@arg) in a child process that writes at most @size - 1 bytes of text to @out (NUL
 * terminated here); the parent waits up to @timeout_ms for the text and for the child. For
 * queries that load a library (libfabric, rdma-core) which must never be mapped into this
 * process. Returns @fn's exit code (0..99), 100 when the child had no memory, or -1 when it
 * failed or timed out.
 */
int fp_text_from_child(int (*fn)(void *arg, char *out, size_t size), void *arg, char *out,
		       size_t size, int timeout_ms);

#endif

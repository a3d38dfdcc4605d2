/* SPDX-License-Identifier: MIT */
/*
 * Link-time wrappers (-Wl,--wrap=...) for test_scenarios: they report the events that move
 * a pinned page in a buggy kernel to the remap-bug fake (fake_remap_event), and make the
 * host's missing features (swap, soft-dirty) present, so every hazard scenario can be shown
 * to fail on any host. Each wrapper calls the real function too.
 */
#define _GNU_SOURCE
#include "fake_backends.h"

#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

int __real_mprotect(void *addr, size_t len, int prot);
int __real_madvise(void *addr, size_t len, int advice);
int __real_ioctl(int fd, unsigned long req, void *arg);
int __real_fp_write_text(const char *path, const char *text);
int __real_fp_smaps_has_flag(const void *addr, const char *flag);

int __wrap_mprotect(void *addr, size_t len, int prot);
int __wrap_madvise(void *addr, size_t len, int advice);
int __wrap_ioctl(int fd, unsigned long req, ...);
int __wrap_fp_write_text(const char *path, const char *text);
int __wrap_fp_smaps_has_flag(const void *addr, const char *flag);
bool __wrap_fp_swap_active(void);
long __wrap_fp_pages_not_present(const void *addr, size_t len);

int __wrap_mprotect(void *addr, size_t len, int prot)
{
	if (!(prot & PROT_WRITE))
		fake_remap_event(addr, len);
	return __real_mprotect(addr, len, prot);
}

int __wrap_madvise(void *addr, size_t len, int advice)
{
	if (advice == MADV_PAGEOUT || advice == MADV_COLLAPSE)
		fake_remap_event(addr, len);
	return __real_madvise(addr, len, advice);
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == UFFDIO_WRITEPROTECT) {
		const struct uffdio_writeprotect *wp = arg;

		if (wp->mode & UFFDIO_WRITEPROTECT_MODE_WP)
			fake_remap_event((void *)(uintptr_t)wp->range.start, wp->range.len);
	}
	return __real_ioctl(fd, req, arg);
}

/* clear_refs 4 write-protects every PTE of the process. */
int __wrap_fp_write_text(const char *path, const char *text)
{
	if (strstr(path, "clear_refs") && !strcmp(text, "4"))
		fake_remap_event(NULL, (size_t)-1);
	return __real_fp_write_text(path, text);
}

/* Soft-dirty tracking present ("sd"), whatever the host kernel's CONFIG_MEM_SOFT_DIRTY. */
int __wrap_fp_smaps_has_flag(const void *addr, const char *flag)
{
	return strcmp(flag, "sd") ? __real_fp_smaps_has_flag(addr, flag) : 1;
}

/* Swap present: MADV_PAGEOUT runs (without swap it changes nothing, which the fake ignores). */
bool __wrap_fp_swap_active(void)
{
	return true;
}

/* ... and it paged every page out (pageout-before-pin goes on to the registration). */
long __wrap_fp_pages_not_present(const void *addr, size_t len)
{
	(void)addr;
	return (long)((len + 4095) / 4096);
}

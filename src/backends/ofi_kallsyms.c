// SPDX-License-Identifier: MIT
/*
 * libfabric's verbs provider (1.17 to 2.x) starts, in every process that initialises it, by
 * reading all of /proc/kallsyms twice, line by line, to learn whether the kernel has
 * ib_register_peer_memory_client and ib_umem_dmabuf_get. The kernel formats ~120k symbols
 * for each read: ~110 ms of a case process here, ~0.5-1 s under TCG in the test VM, more than
 * the rest of libfabric's start-up. A case process forked from the per-run zygote is spared
 * it; where the zygote cannot initialise the providers for the cases (the verbs provider keeps
 * the device open, see ofi.c), each case process paid it.
 *
 * So the process that forks libfabric's users reads the file once per run into a shared
 * memfd mapping, and forkpin's fopen() answers fopen("/proc/kallsyms", "r") from it: the
 * same bytes, so the provider learns the same answer, from memory (~5 ms for both scans).
 * forkpin's fopen interposes on libc's for the libraries it dlopen()s because the executable
 * exports it (ofi_kallsyms.dynlist); every other path goes to libc's fopen unchanged.
 */
#define _GNU_SOURCE
/* The build asks for 64-bit file offsets, under which stdio.h renames a definition of fopen to
 * fopen64; this file defines both names, as libc does (they are the same on 64-bit). */
#undef _FILE_OFFSET_BITS
#include "ofi_kallsyms.h"

#if HAVE_LIBFABRIC

#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KALLSYMS_PATH "/proc/kallsyms"

static struct {
	const char *text; /* MAP_SHARED: fork copies no page table of it, so cases pay nothing */
	size_t len;
	unsigned served;
} kallsyms;

/* Copy the whole of @from into the memfd @to; its length, or 0 on any error. */
static size_t copy_to_memfd(int from, int to)
{
	char chunk[65536];
	size_t total = 0;
	ssize_t got;

	while ((got = read(from, chunk, sizeof(chunk))) > 0) {
		if (write(to, chunk, (size_t)got) != got)
			return 0;
		total += (size_t)got;
	}
	return got < 0 ? 0 : total;
}

void ofi_kallsyms_snapshot(void)
{
	static bool tried;
	int from, to;
	size_t len;
	void *map;

	if (tried)
		return;
	tried = true;
	from = open(KALLSYMS_PATH, O_RDONLY | O_CLOEXEC);
	if (from < 0)
		return;
	to = memfd_create("forkpin-kallsyms", MFD_CLOEXEC);
	len = to < 0 ? 0 : copy_to_memfd(from, to);
	close(from);
	map = len ? mmap(NULL, len, PROT_READ, MAP_SHARED, to, 0) : MAP_FAILED;
	if (to >= 0)
		close(to);
	if (map == MAP_FAILED)
		return;
	kallsyms.text = map;
	kallsyms.len = len;
}

bool ofi_kallsyms_copy_taken(void)
{
	return kallsyms.text != NULL;
}

unsigned ofi_kallsyms_served(void)
{
	return __atomic_load_n(&kallsyms.served, __ATOMIC_RELAXED);
}

static bool served_from_copy(const char *path, const char *mode)
{
	return kallsyms.text && path && mode && !strcmp(path, KALLSYMS_PATH) && mode[0] == 'r' &&
	       !strchr(mode, '+');
}

typedef FILE *fopen_fn(const char *path, const char *mode);

/* The interposer's body: the copy for /proc/kallsyms, libc's @name for everything else. */
static FILE *open_file(const char *path, const char *mode, fopen_fn **libc, const char *name)
{
	if (served_from_copy(path, mode)) {
		__atomic_add_fetch(&kallsyms.served, 1, __ATOMIC_RELAXED);
		return fmemopen((void *)kallsyms.text, kallsyms.len, "r");
	}
	if (!*libc)
		*libc = (fopen_fn *)dlsym(RTLD_NEXT, name);
	return (*libc)(path, mode);
}

/* libfabric 1.17 as Debian builds it calls fopen; a build with 64-bit offsets calls fopen64. */
FILE *fopen(const char *path, const char *mode)
{
	static fopen_fn *libc_fopen;

	return open_file(path, mode, &libc_fopen, "fopen");
}

FILE *fopen64(const char *path, const char *mode)
{
	static fopen_fn *libc_fopen64;

	return open_file(path, mode, &libc_fopen64, "fopen64");
}

#else /* !HAVE_LIBFABRIC: nothing reads it on forkpin's behalf */

void ofi_kallsyms_snapshot(void)
{
}

bool ofi_kallsyms_copy_taken(void)
{
	return false;
}

unsigned ofi_kallsyms_served(void)
{
	return 0;
}

#endif

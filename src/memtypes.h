/* SPDX-License-Identifier: MIT */
/*
 * Memory types: how the buffer under test is mapped. One row each in memtypes[] (memtypes.c).
 * The fork guarantee differs by mapping: private memory is copy-on-write after fork, shared
 * memory is shared by design (a child's writes are legitimately visible to the parent).
 */
#ifndef FORKPIN_MEMTYPES_H
#define FORKPIN_MEMTYPES_H

#include <stdbool.h>
#include <stddef.h>

#include "resource.h"

enum fp_mem_flags {
	FP_MEM_SHARED = 1u << 0,  /* MAP_SHARED: no COW, children share the pages */
	FP_MEM_HUGETLB = 1u << 1, /* hugetlbfs pages from the pool */
	FP_MEM_THP = 1u << 2,	  /* transparent huge pages */
	FP_MEM_SUBPAGE = 1u << 3, /* the buffer shares its page with unrelated data */
	FP_MEM_FILE = 1u << 4,	  /* backed by a file (private: COW copies of file pages) */
};

/* A mapped buffer, ready for a case. */
struct fp_mem {
	void *buf;	  /* the buffer under test */
	size_t len;	  /* its length */
	size_t page_size; /* the page size that backs it (4 KiB, 2 MiB, 1 GiB) */
	void *map;	  /* the whole mapping (buf lies inside) */
	size_t map_len;
	int fd; /* backing file, or -1 */
	/* sub-page buffers: the unrelated data sharing buf's page, with a known pattern */
	void *neighbour;
	size_t neighbour_len;
};

struct fp_memtype {
	const char *name;    /* CLI word, the middle part of a case id */
	const char *summary; /* one line for `forkpin list` */
	unsigned flags;	     /* enum fp_mem_flags */
	size_t len;	     /* buffer length */
	/*
	 * map - map and populate the buffer (every page faulted in, written by nobody yet).
	 * Returns 0; -ENODEV/-ENOSPC when the machine cannot provide it (SKIP, @why says which
	 * setting to change); another -errno when a call failed (@why names it).
	 */
	int (*map)(struct fp_mem *mem, size_t len, char *why, size_t why_size);
	/* unmap - release everything map created. Called after a successful map. */
	void (*unmap)(struct fp_mem *mem);
	/* what its cases share and must not use two at a time (a page pool, a global counter
	 * map reads), or NULL; resource.h has the guarantees */
	const struct fp_resource *resource;
};

extern const struct fp_memtype fp_memtypes[];
extern const size_t fp_memtype_count;
const struct fp_memtype *fp_memtype_find(const char *name);

/* Map @mt for a case: on success @mem describes the buffer. */
int fp_mem_map(const struct fp_memtype *mt, struct fp_mem *mem, char *why, size_t why_size);
void fp_mem_unmap(const struct fp_memtype *mt, struct fp_mem *mem);

/* Free huge pages of @page_size in the pool, or 0 when the size is not supported. */
unsigned long fp_hugetlb_free_pages(size_t page_size);

/* True when swap space is active (/proc/swaps lists a device or file): anonymous pages can
 * be paged out. */
bool fp_swap_active(void);

/* How many 4 KiB pages of [@addr, @addr+@len) are not in memory (swapped out or dropped:
 * /proc/self/pagemap's present bit clear), or -1 with errno when pagemap cannot be read. */
long fp_pages_not_present(const void *addr, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The memory types table. Each row maps a buffer the way some application would and faults
 * every page in, so a registration pins real pages. A row that the machine cannot provide
 * SKIPs and names the setting to change.
 */
#define _GNU_SOURCE
#include "memtypes.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SZ_4K	    4096ul
#define SZ_64K	    (64ul << 10)
#define SZ_2M	    (2ul << 20)
#define SZ_1G	    (1ul << 30)
#define SUBPAGE_LEN 1024ul
/* memfd_create takes the MAP_HUGE_* size encoding (MFD_HUGE_2MB, not in every libc). */

static size_t base_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static int why_errno(char *why, size_t size, int err, const char *call)
{
	snprintf(why, size, "%s: %s", call, strerror(-err));
	return err;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Fault every page in for writing, so registration pins present pages: in one call where the
 * kernel can (5.14+: no trap per page, as if each page were written), else by writing zeros
 * (every buffer here is fresh, so its content is zeros either way). */
static void populate(void *p, size_t len)
{
	if (madvise(p, len, MADV_POPULATE_WRITE))
		memset(p, 0, len);
}

/* ---- private anonymous, base pages -------------------------------------------------- */

static int map_anon(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	m->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->map == MAP_FAILED)
		return why_errno(why, ws, -errno, "mmap(MAP_PRIVATE|MAP_ANONYMOUS)");
	/* Keep THP out, so this row really is base pages whatever the THP policy. */
	madvise(m->map, len, MADV_NOHUGEPAGE);
	m->map_len = len;
	m->buf = m->map;
	m->len = len;
	m->page_size = base_page();
	populate(m->buf, len);
	return 0;
}

static void unmap_plain(struct fp_mem *m)
{
	munmap(m->map, m->map_len);
	if (m->fd >= 0)
		close(m->fd);
}

/* Fault every page in for reading only: private anonymous pages map the shared zero page,
 * file pages their page-cache page. */
static void read_fault(const void *p, size_t len, size_t step)
{
	volatile const char *c = p;
	size_t off;

	for (off = 0; off < len; off += step)
		(void)c[off];
}

/* Never written before registration: every page is the shared zero page. A writable pin
 * breaks COW at registration; a read-only pin must unshare it (84209e87c696, 6.2) or the
 * device keeps reading zeros while the parent writes elsewhere. */
static int map_zeropage(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	m->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->map == MAP_FAILED)
		return why_errno(why, ws, -errno, "mmap(MAP_PRIVATE|MAP_ANONYMOUS)");
	madvise(m->map, len, MADV_NOHUGEPAGE);
	m->map_len = m->len = len;
	m->buf = m->map;
	m->page_size = base_page();
	read_fault(m->buf, len, m->page_size);
	return 0;
}

/* ---- THP ------------------------------------------------------------------------------ */

/* A 2 MiB-aligned private anonymous VMA of exactly @len (smaps then describes only the
 * buffer), MADV_HUGEPAGE, nothing faulted in yet. */
static int map_thp_aligned(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	char *raw, *aligned;

	raw = mmap(NULL, len + SZ_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return why_errno(why, ws, -errno, "mmap(THP)");
	aligned = (char *)(((uintptr_t)raw + SZ_2M - 1) & ~(SZ_2M - 1));
	if (aligned > raw)
		munmap(raw, (size_t)(aligned - raw));
	munmap(aligned + len, (size_t)(raw + len + SZ_2M - (aligned + len)));
	m->map = m->buf = aligned;
	m->map_len = m->len = len;
	m->page_size = SZ_2M;
	if (madvise(aligned, len, MADV_HUGEPAGE))
		return why_errno(why, ws, -errno, "madvise(MADV_HUGEPAGE)");
	return 0;
}

static int thp_policy_allows(char *why, size_t ws)
{
	char line[128];

	if (fp_read_line("/sys/kernel/mm/transparent_hugepage/enabled", line, sizeof(line))) {
		snprintf(why, ws,
			 "this kernel has no transparent hugepages (CONFIG_TRANSPARENT_HUGEPAGE)");
		return -ENODEV;
	}
	if (strstr(line, "[never]")) {
		snprintf(why, ws,
			 "THP is disabled: echo madvise > "
			 "/sys/kernel/mm/transparent_hugepage/enabled");
		return -ENODEV;
	}
	return 0;
}

/* Map a 2 MiB-aligned, PMD-mapped THP; verified through smaps AnonHugePages. */
static int map_thp_pmd(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	unsigned long huge_kb = 0;
	char *aligned;
	int err = thp_policy_allows(why, ws);

	if (err)
		return err;
	err = map_thp_aligned(m, len, why, ws);
	if (err)
		return err;
	aligned = m->buf;
	populate(aligned, len);
	err = fp_smaps_field(aligned, "AnonHugePages", &huge_kb);
	if (err || huge_kb * 1024 < len) {
		snprintf(
		    why, ws,
		    "the kernel did not back the buffer with a huge page (AnonHugePages %lu kB): "
		    "memory fragmented or THP defrag off "
		    "(/sys/kernel/mm/transparent_hugepage/defrag)",
		    huge_kb);
		munmap(aligned, len);
		return -ENODEV;
	}
	return 0;
}

/* A THP that is mapped by PTEs: mprotect of one subpage splits the PMD, not the folio. */
static int map_thp_pte(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	unsigned long huge_kb = 1;
	size_t page = base_page();
	int err = map_thp_pmd(m, len, why, ws);

	if (err)
		return err;
	if (mprotect((char *)m->buf + page, page, PROT_READ) ||
	    mprotect((char *)m->buf + page, page, PROT_READ | PROT_WRITE)) {
		err = why_errno(why, ws, -errno, "mprotect (PTE-mapping the THP)");
		munmap(m->map, m->map_len);
		return err;
	}
	fp_smaps_field(m->buf, "AnonHugePages", &huge_kb);
	if (huge_kb) {
		snprintf(why, ws, "the THP stayed PMD-mapped after mprotect (%lu kB)", huge_kb);
		munmap(m->map, m->map_len);
		return -ENODEV;
	}
	m->page_size = page;
	return 0;
}

/* The huge zero page: a PMD-aligned THP region read-faulted only (use_zero_page). */
static int map_thp_zeropage(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	unsigned long use_zero = 0;
	char *aligned;
	int err = thp_policy_allows(why, ws);

	if (err)
		return err;
	if (fp_read_ulong("/sys/kernel/mm/transparent_hugepage/use_zero_page", &use_zero) ||
	    !use_zero) {
		snprintf(why, ws,
			 "the huge zero page is off: echo 1 > "
			 "/sys/kernel/mm/transparent_hugepage/use_zero_page");
		return -ENODEV;
	}
	err = map_thp_aligned(m, len, why, ws);
	if (err)
		return err;
	aligned = m->buf;
	read_fault(aligned, len, base_page());
	return 0;
}

/* A PMD-mapped THP of which only the page at 1 MiB stays mapped (MADV_DONTNEED of the rest):
 * the folio lives on, partially mapped by one PTE. */
static int map_thp_single_pte(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	size_t page = base_page();
	char *keep;
	int err = map_thp_pmd(m, SZ_2M, why, ws);

	if (err)
		return err;
	keep = (char *)m->map + SZ_2M / 2;
	if (madvise(m->map, SZ_2M / 2, MADV_DONTNEED) ||
	    madvise(keep + page, SZ_2M / 2 - page, MADV_DONTNEED)) {
		err = why_errno(why, ws, -errno, "madvise(MADV_DONTNEED) of the THP's other pages");
		munmap(m->map, m->map_len);
		return err;
	}
	m->buf = keep;
	m->len = len;
	m->page_size = page;
	return 0;
}

/* A registration covering part of a PMD-mapped THP (from 512 KiB into the folio). */
static int map_thp_partial(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	int err = map_thp_pmd(m, SZ_2M, why, ws);

	if (err)
		return err;
	m->buf = (char *)m->map + SZ_2M / 4;
	m->len = len;
	m->page_size = base_page();
	return 0;
}

/* How many folios of @size_kb the kernel has allocated on anonymous faults, or -1. */
static long mthp_fault_allocs(size_t size_kb)
{
	char path[128];
	unsigned long n;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/transparent_hugepage/hugepages-%zukB/stats/anon_fault_alloc",
		 size_kb);
	return fp_read_ulong(path, &n) ? -1 : (long)n;
}

/* Whether mTHP of @size_kb may back a MADV_HUGEPAGE region; @why says the command if not. */
static int mthp_policy_allows(size_t size_kb, char *why, size_t ws)
{
	char path[128], line[128];

	snprintf(path, sizeof(path), "/sys/kernel/mm/transparent_hugepage/hugepages-%zukB/enabled",
		 size_kb);
	if (fp_read_line(path, line, sizeof(line))) {
		snprintf(why, ws, "this kernel has no %zu KiB mTHP (%s missing; 6.8+)", size_kb,
			 path);
		return -ENODEV;
	}
	if (strstr(line, "[never]")) {
		snprintf(why, ws, "%zu KiB mTHP is off: echo madvise > %s", size_kb, path);
		return -ENODEV;
	}
	return strstr(line, "[inherit]") ? thp_policy_allows(why, ws) : 0;
}

/* Anonymous memory in multi-size THP folios of @size (PTE-mapped, smaller than a PMD). */
static int map_mthp(struct fp_mem *m, size_t len, size_t size, char *why, size_t ws)
{
	char *raw, *aligned;
	long before, after;
	int err = mthp_policy_allows(size / 1024, why, ws);

	if (err)
		return err;
	raw = mmap(NULL, len + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return why_errno(why, ws, -errno, "mmap(mTHP)");
	aligned = (char *)(((uintptr_t)raw + size - 1) & ~(size - 1));
	if (aligned > raw)
		munmap(raw, (size_t)(aligned - raw));
	munmap(aligned + len, (size_t)(raw + len + size - (aligned + len)));
	m->map = m->buf = aligned;
	m->map_len = m->len = len;
	m->page_size = base_page();
	if (madvise(aligned, len, MADV_HUGEPAGE))
		return why_errno(why, ws, -errno, "madvise(MADV_HUGEPAGE)");
	before = mthp_fault_allocs(size / 1024);
	populate(aligned, len);
	after = mthp_fault_allocs(size / 1024);
	if (before >= 0 && after - before < (long)(len / size)) {
		snprintf(why, ws,
			 "the kernel backed the buffer with %ld of %zu %zu KiB folios "
			 "(anon_fault_alloc): memory fragmented",
			 after - before, len / size, size / 1024);
		munmap(aligned, len);
		return -ENODEV;
	}
	return 0;
}

static int map_mthp_16k(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	return map_mthp(m, len, 16ul << 10, why, ws);
}

static int map_mthp_64k(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	return map_mthp(m, len, SZ_64K, why, ws);
}

/* ---- hugetlb ------------------------------------------------------------------------- */

unsigned long fp_hugetlb_free_pages(size_t page_size)
{
	char path[128];
	unsigned long n = 0;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%zukB/free_hugepages",
		 page_size / 1024);
	return fp_read_ulong(path, &n) ? 0 : n;
}

/* Pages promised to mappings already (resv_hugepages): free, but not for a new mapping. */
static unsigned long hugetlb_reserved_pages(size_t page_size)
{
	char path[128];
	unsigned long n = 0;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%zukB/resv_hugepages",
		 page_size / 1024);
	return fp_read_ulong(path, &n) ? 0 : n;
}

bool fp_swap_active(void)
{
	char line[256];
	FILE *f = fopen("/proc/swaps", "re");
	int lines = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	return lines > 1; /* the first line is the header */
}

long fp_pages_not_present(const void *addr, size_t len)
{
	uintptr_t first = (uintptr_t)addr / 4096, last = ((uintptr_t)addr + len + 4095) / 4096;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t entry;
	long out = 0;

	if (fd < 0)
		return -1;
	for (; first < last; first++) {
		/* bit 63: present; readable without privileges (only the PFN is hidden) */
		if (pread(fd, &entry, sizeof(entry), (off_t)(first * sizeof(entry))) !=
		    sizeof(entry)) {
			out = -1;
			break;
		}
		out += !(entry >> 63);
	}
	close(fd);
	return out;
}

static int map_hugetlb(struct fp_mem *m, size_t len, size_t page_size, int size_flag, char *why,
		       size_t ws)
{
	char path[128], size_text[32];

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%zukB", page_size / 1024);
	fp_format_size(page_size, size_text, sizeof(size_text));
	if (access(path, F_OK)) {
		snprintf(why, ws, "this kernel has no %s huge pages (%s missing)", size_text, path);
		return -ENODEV;
	}
	m->map = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | size_flag, -1, 0);
	if (m->map == MAP_FAILED) {
		int err = errno;
		unsigned long free_pages = fp_hugetlb_free_pages(page_size);
		unsigned long resv = hugetlb_reserved_pages(page_size);

		if (free_pages > resv && free_pages - resv >= len / page_size) {
			/* the pool could serve it: something else refused (ulimit -v, a cgroup) */
			snprintf(
			    why, ws,
			    "mmap(MAP_HUGETLB, %zu %s page(s)): %s although the pool has %lu "
			    "usable: the address-space limit (ulimit -v) or a cgroup's hugetlb "
			    "limit refused it",
			    len / page_size, size_text, strerror(err), free_pages - resv);
			return -ENOSPC;
		}
		snprintf(why, ws,
			 "need %zu free %s huge page(s), the pool has %lu usable (%lu free, %lu of "
			 "them reserved): raise %s/nr_hugepages (" FP_SETUP("hugetlb") " reserve)",
			 len / page_size, size_text, free_pages > resv ? free_pages - resv : 0,
			 free_pages, resv, path);
		return -ENOSPC;
	}
	m->buf = m->map;
	m->map_len = m->len = len;
	m->page_size = page_size;
	populate(m->buf, len);
	return 0;
}

static int map_hugetlb_2m(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	return map_hugetlb(m, len, SZ_2M, MAP_HUGE_2MB, why, ws);
}

static int map_hugetlb_1g(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	return map_hugetlb(m, len, SZ_1G, MAP_HUGE_1GB, why, ws);
}

/* ---- shared memory ------------------------------------------------------------------- */

/* A memfd of @len bytes mapped with @flags (MAP_SHARED or MAP_PRIVATE); faults nothing in. */
static int map_memfd_as(struct fp_mem *m, size_t len, int flags, char *why, size_t ws)
{
	m->fd = memfd_create("forkpin-buffer", MFD_CLOEXEC);
	if (m->fd < 0)
		return why_errno(why, ws, -errno, "memfd_create");
	if (ftruncate(m->fd, (off_t)len))
		return why_errno(why, ws, -errno, "ftruncate(memfd)");
	m->map = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, m->fd, 0);
	if (m->map == MAP_FAILED)
		return why_errno(why, ws, -errno,
				 flags & MAP_SHARED ? "mmap(memfd, MAP_SHARED)"
						    : "mmap(memfd, MAP_PRIVATE)");
	m->buf = m->map;
	m->map_len = m->len = len;
	m->page_size = base_page();
	return 0;
}

static int map_memfd(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	int err = map_memfd_as(m, len, MAP_SHARED, why, ws);

	if (!err)
		populate(m->buf, len);
	return err;
}

/* MAP_PRIVATE of a memfd: shmem page-cache pages (read-faulted) under a private mapping; the
 * first write or a writable pin replaces them by anonymous copies. */
static int map_memfd_private(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	int err = map_memfd_as(m, len, MAP_PRIVATE, why, ws);

	if (!err)
		read_fault(m->buf, len, m->page_size);
	return err;
}

/* MAP_PRIVATE of a hugetlbfs memfd: a page-cache huge page under a private mapping (hugetlb's
 * own COW of file pages). Needs two free huge pages: the file's and the private copy. */
static int map_hugetlb_memfd_private(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	unsigned long free_pages = fp_hugetlb_free_pages(SZ_2M);

	if (free_pages < 2 * len / SZ_2M) {
		snprintf(why, ws,
			 "need %zu free 2 MiB huge pages (the file's and the private copies), the "
			 "pool has %lu free: " FP_SETUP("hugetlb") " reserve",
			 2 * len / SZ_2M, free_pages);
		return -ENOSPC;
	}
	m->fd = memfd_create("forkpin-hugetlb-private", MFD_CLOEXEC | MFD_HUGETLB | MAP_HUGE_2MB);
	if (m->fd < 0) {
		snprintf(why, ws, "memfd_create(MFD_HUGETLB): %s (hugetlbfs memfd: 4.14+)",
			 strerror(errno));
		return -ENODEV;
	}
	if (ftruncate(m->fd, (off_t)len))
		return why_errno(why, ws, -errno, "ftruncate(hugetlb memfd)");
	m->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, m->fd, 0);
	if (m->map == MAP_FAILED)
		return why_errno(why, ws, -errno, "mmap(hugetlb memfd, MAP_PRIVATE)");
	m->buf = m->map;
	m->map_len = m->len = len;
	m->page_size = SZ_2M;
	read_fault(m->buf, len, SZ_2M);
	return 0;
}

static int map_shared_anon(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	m->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m->map == MAP_FAILED)
		return why_errno(why, ws, -errno, "mmap(MAP_SHARED|MAP_ANONYMOUS)");
	m->buf = m->map;
	m->map_len = m->len = len;
	m->page_size = base_page();
	populate(m->buf, len);
	return 0;
}

/* ---- private file mapping ------------------------------------------------------------ */

/* An anonymous file in @dir: O_TMPFILE, or (overlayfs and others lack it) create + unlink. */
static int open_unlinked_file(const char *dir)
{
	char path[4096];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	snprintf(path, sizeof(path), "%s/forkpin-file-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* Pages start as the file's page-cache pages (read-faulted); the first write or a writable
 * pin replaces them by anonymous copies: the COW path for file pages. */
static int map_file_private(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	volatile const char *p;
	size_t off;

	m->fd = open_unlinked_file(dir);
	if (m->fd < 0) {
		snprintf(why, ws,
			 "cannot create a file in %s: %s: set TMPDIR to a writable directory", dir,
			 strerror(errno));
		return -ENODEV;
	}
	/* Reserve the blocks now: on a full TMPDIR (a tmpfs at its size limit) the first fault
	 * would otherwise be a SIGBUS that reads like a crash of the case. */
	if (fallocate(m->fd, 0, 0, (off_t)len) && errno == ENOSPC) {
		snprintf(
		    why, ws,
		    "no room for a %zu-byte file in %s (ENOSPC): free space there or set TMPDIR "
		    "to a directory with room",
		    len, dir);
		return -ENODEV;
	}
	if (ftruncate(m->fd, (off_t)len))
		return why_errno(why, ws, -errno, "ftruncate(tmpfile)");
	m->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, m->fd, 0);
	if (m->map == MAP_FAILED)
		return why_errno(why, ws, -errno, "mmap(file, MAP_PRIVATE)");
	m->buf = m->map;
	m->map_len = m->len = len;
	m->page_size = base_page();
	for (p = m->buf, off = 0; off < len; off += m->page_size)
		(void)p[off];
	return 0;
}

/* ---- sub-page heap buffer ------------------------------------------------------------ */

/* A 1 KiB heap buffer in the middle of a page whose other bytes hold unrelated data: what
 * MADV_DONTFORK rounding (ibv_fork_init) takes away from a child. */
static int map_subpage(struct fp_mem *m, size_t len, char *why, size_t ws)
{
	size_t page = base_page();
	int err = posix_memalign(&m->map, page, page);

	if (err)
		return why_errno(why, ws, -err, "posix_memalign");
	m->map_len = page;
	m->buf = (char *)m->map + page / 4;
	m->len = len;
	m->page_size = page;
	m->neighbour = (char *)m->map + page / 4 + len;
	m->neighbour_len = page - page / 4 - len;
	populate(m->map, page);
	return 0;
}

static void unmap_subpage(struct fp_mem *m)
{
	free(m->map);
}

/* What the rows share with other cases (resource.h). A hugetlb pool: a case may take every
 * free page (hugetlb-pool-empty) and each fork of a private hugetlb mapping copies into the
 * pool, so two cases at once could starve each other into a SKIP or an ENOMEM a serial run
 * never sees. An mTHP size's anon_fault_alloc counts every process's faults: map_mthp()
 * would count another case's folios as its own. */
/*
 * The 2 MiB pool is shared out in shares of HUGETLB_CASE_PAGES, one case per share, so cases
 * run side by side only where each can have what it would find alone: a case uses at most its
 * buffer's page, a file's page and one copy per child alive at once (FP_MAX_CHILDREN), and a
 * serial run in the test VM had 16. hugetlb-pool-empty takes the whole pool (empties_pool).
 */
#define HUGETLB_CASE_PAGES 16

static unsigned hugetlb_2m_shares(void)
{
	unsigned long free_pages = fp_hugetlb_free_pages(SZ_2M);
	unsigned long resv = hugetlb_reserved_pages(SZ_2M);

	return free_pages > resv ? (unsigned)((free_pages - resv) / HUGETLB_CASE_PAGES) : 1;
}

static const struct fp_resource hugetlb_2m_pool = {.name = "the 2 MiB hugetlb pool",
						   .units = hugetlb_2m_shares};
static const struct fp_resource hugetlb_1g_pool = {.name = "the 1 GiB hugetlb pool"};
static const struct fp_resource mthp_16k_stats = {.name = "the 16 KiB mTHP fault counter"};
static const struct fp_resource mthp_64k_stats = {.name = "the 64 KiB mTHP fault counter"};

/*
 * The rows. Private rows are where fork's copy-on-write can hand a pinned page to the wrong
 * process; shared rows check that sharing stays sharing (a child's write is visible).
 */
const struct fp_memtype fp_memtypes[] = {
    /* The common case: malloc'd or mmap'd anonymous memory in 4 KiB pages (early COW of
     * maybe-pinned PTEs, 70e806e4e645). */
    {.name = "anon",
     .summary = "private anonymous memory, base pages",
     .len = SZ_64K,
     .map = map_anon,
     .unmap = unmap_plain},
    /* A pinned PMD-mapped THP: fork must split it and copy at PTE level (d042035eaf5f). */
    {.name = "thp-pmd",
     .summary = "private THP, PMD-mapped (MADV_HUGEPAGE)",
     .flags = FP_MEM_THP,
     .len = SZ_2M,
     .map = map_thp_pmd,
     .unmap = unmap_plain},
    /* A THP mapped by PTEs: the PTE copy path with a compound page behind it. */
    {.name = "thp-pte",
     .summary = "private THP, PTE-mapped (split PMD)",
     .flags = FP_MEM_THP,
     .len = SZ_2M,
     .map = map_thp_pte,
     .unmap = unmap_plain},
    /* Read-faulted only: the shared zero page until the registration (a R/O pin must unshare
     * it: 84209e87c696, 6.2). */
    {.name = "zeropage",
     .summary = "private anonymous, read-faulted only (the shared zero page)",
     .len = SZ_64K,
     .map = map_zeropage,
     .unmap = unmap_plain},
    {.name = "thp-zeropage",
     .summary = "private THP region read-faulted only (the huge zero page)",
     .flags = FP_MEM_THP,
     .len = SZ_2M,
     .map = map_thp_zeropage,
     .unmap = unmap_plain},
    /* Multi-size THP (6.8+): folios smaller than a PMD, always PTE-mapped. */
    {.name = "mthp-16k",
     .summary = "private anonymous in 16 KiB mTHP folios",
     .flags = FP_MEM_THP,
     .len = 256ul << 10,
     .map = map_mthp_16k,
     .unmap = unmap_plain,
     .resource = &mthp_16k_stats},
    {.name = "mthp-64k",
     .summary = "private anonymous in 64 KiB mTHP folios",
     .flags = FP_MEM_THP,
     .len = 256ul << 10,
     .map = map_mthp_64k,
     .unmap = unmap_plain,
     .resource = &mthp_64k_stats},
    /* A THP with one PTE left mapped: the folio is partially mapped (mapcount games). */
    {.name = "thp-single-pte",
     .summary = "one 4 KiB page left mapped of a THP (MADV_DONTNEED of the rest)",
     .flags = FP_MEM_THP,
     .len = SZ_4K,
     .map = map_thp_single_pte,
     .unmap = unmap_plain},
    /* A registration covering part of a folio: fork must split and copy exactly that. */
    {.name = "thp-partial",
     .summary = "64 KiB registered inside a PMD-mapped THP",
     .flags = FP_MEM_THP,
     .len = SZ_64K,
     .map = map_thp_partial,
     .unmap = unmap_plain},
    /* hugetlb has its own early COW (4eae4efa2c29) and needs a free pool page per copy. */
    {.name = "hugetlb-2m",
     .summary = "private hugetlb, 2 MiB pages",
     .flags = FP_MEM_HUGETLB,
     .len = SZ_2M,
     .map = map_hugetlb_2m,
     .unmap = unmap_plain,
     .resource = &hugetlb_2m_pool},
    {.name = "hugetlb-1g",
     .summary = "private hugetlb, 1 GiB pages",
     .flags = FP_MEM_HUGETLB,
     .len = SZ_1G,
     .map = map_hugetlb_1g,
     .unmap = unmap_plain,
     .resource = &hugetlb_1g_pool},
    /* Shared by design: a child's writes must be visible, the device sees the same page. */
    {.name = "memfd",
     .summary = "memfd (shmem), MAP_SHARED",
     .flags = FP_MEM_SHARED,
     .len = SZ_64K,
     .map = map_memfd,
     .unmap = unmap_plain},
    {.name = "shared-anon",
     .summary = "anonymous MAP_SHARED",
     .flags = FP_MEM_SHARED,
     .len = SZ_64K,
     .map = map_shared_anon,
     .unmap = unmap_plain},
    /* A private file mapping: the pin must replace page-cache pages by anonymous copies. */
    {.name = "file-private",
     .summary = "private mapping of a file",
     .flags = FP_MEM_FILE,
     .len = SZ_64K,
     .map = map_file_private,
     .unmap = unmap_plain},
    /* Private mappings of a memfd: shmem (or hugetlbfs) page-cache pages COW'd privately. */
    {.name = "memfd-private",
     .summary = "memfd (shmem), MAP_PRIVATE, read-faulted",
     .flags = FP_MEM_FILE,
     .len = SZ_64K,
     .map = map_memfd_private,
     .unmap = unmap_plain},
    {.name = "hugetlb-memfd-private",
     .summary = "hugetlbfs memfd, MAP_PRIVATE, 2 MiB pages, read-faulted",
     .flags = FP_MEM_HUGETLB | FP_MEM_FILE,
     .len = SZ_2M,
     .map = map_hugetlb_memfd_private,
     .unmap = unmap_plain,
     .resource = &hugetlb_2m_pool},
    /* A registration smaller than a page: its page also holds unrelated heap data. */
    {.name = "malloc-subpage",
     .summary = "1 KiB heap buffer sharing its page",
     .flags = FP_MEM_SUBPAGE,
     .len = SUBPAGE_LEN,
     .map = map_subpage,
     .unmap = unmap_subpage},
};
const size_t fp_memtype_count = sizeof(fp_memtypes) / sizeof(fp_memtypes[0]);

const struct fp_memtype *fp_memtype_find(const char *name)
{
	size_t i;

	for (i = 0; i < fp_memtype_count; i++)
		if (!strcmp(fp_memtypes[i].name, name))
			return &fp_memtypes[i];
	return NULL;
}

int fp_mem_map(const struct fp_memtype *mt, struct fp_mem *mem, char *why, size_t why_size)
{
	int err;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	err = mt->map(mem, mt->len, why, why_size);
	if (err && mem->fd >= 0)
		close(mem->fd);
	return err;
}

void fp_mem_unmap(const struct fp_memtype *mt, struct fp_mem *mem)
{
	mt->unmap(mem);
}

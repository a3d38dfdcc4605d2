/* SPDX-License-Identifier: MIT */
/*
 * forkpin forkcost: what fork() costs as registered memory grows.
 *
 * Since 5.9 a page that may be DMA-pinned is copied for the child at fork ("early COW"), so
 * fork() of a process with N bytes pinned copies N bytes before it returns. For each memory
 * mode and size this measures, in the parent, the time fork() takes to return, and while the
 * child lives: the child's private memory in the buffer's mapping (/proc/PID/smaps
 * Private_* of that VMA: what fork copied for it) and the drop of the system's MemFree
 * (copies plus page tables; system-wide, so other load shows in it). The extra fork time
 * over the same memory unregistered gives an implied copy bandwidth, compared with memcpy
 * measured in the same run. Each mode names its page size: 4 KiB pages (MADV_NOHUGEPAGE),
 * 2 MiB THPs (the thp modes: a pinned THP is split and copied at fork, its own cost) or 2 MiB
 * hugetlb pages.
 */
#define _GNU_SOURCE
#include "forkcost_plot.h"
#include "backend.h"
#include "cmd.h"
#include "env.h"
#include "report.h"
#include "runner.h"
#include "subcommands.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/mman.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

/* One-line usage errors, exit 2. */
#define WHO		 "forkpin forkcost"
#define usage_error(...) fp_usage_error(WHO, __VA_ARGS__)

#define HUGE_2M	   (2ul << 20)
#define MAX_ROWS   512
#define MAX_REPEAT 50
#define MEMCPY_LEN (64ul << 20)

/* What a memory mode does to its buffer before the forks. */
enum fc_flags {
	FC_PINNED = 1u << 0,   /* registered through a pinning backend */
	FC_SHARED = 1u << 1,   /* MAP_SHARED */
	FC_HUGETLB = 1u << 2,  /* 2 MiB hugetlb pages */
	FC_DONTFORK = 1u << 3, /* MADV_DONTFORK */
	FC_THP = 1u << 4,      /* transparent huge pages (MADV_HUGEPAGE), else 4 KiB pages */
};

/* A memory mode; a mode's extra time is over its base mode at the same size. */
struct fc_mode {
	const char *name;
	unsigned flags;
	const char *base; /* the unregistered mode it is compared with, or NULL */
	bool copies;	  /* fork copies the registered bytes: an implied bandwidth exists */
};

/* The memory modes, measured in this order; a mode's extra time is over its base mode. */
static const struct fc_mode fc_modes[] = {
    /* Private anonymous memory, not registered: fork shares it copy-on-write (PTE copies). */
    {.name = "unpinned"},
    /* Private hugetlb, not registered: fork shares the huge pages. */
    {.name = "hugetlb", .flags = FC_HUGETLB},
    /* Registered private memory: fork copies every pinned page for the child (early COW). */
    {.name = "pinned", .flags = FC_PINNED, .base = "unpinned", .copies = true},
    /* Registered and MADV_DONTFORK, the ibv_fork_init world: the child gets no mapping. */
    {.name = "dontfork", .flags = FC_PINNED | FC_DONTFORK, .base = "unpinned"},
    /* Registered MAP_SHARED memory: shared by design, nothing to copy. */
    {.name = "shared", .flags = FC_PINNED | FC_SHARED, .base = "unpinned"},
    /* Registered hugetlb: the child needs its own huge pages from the pool at fork. */
    {.name = "hugetlb-pinned", .flags = FC_PINNED | FC_HUGETLB, .base = "hugetlb", .copies = true},
    /* Private anonymous memory on 2 MiB THPs, not registered: fork shares the PMDs. */
    {.name = "thp", .flags = FC_THP},
    /* Registered THP: fork splits each maybe-pinned huge page and copies it for the child. */
    {.name = "thp-pinned", .flags = FC_PINNED | FC_THP, .base = "thp", .copies = true},
};

/* The page size a mode's buffer is made of, as the output names it. */
static const char *fc_page(const struct fc_mode *m)
{
	if (m->flags & FC_HUGETLB)
		return "2M-hugetlb";
	return m->flags & FC_THP ? "2M-thp" : "4k";
}

struct fc_opts {
	size_t min_size, max_size;
	unsigned repeat;
	const char *backends[16];
	size_t nbackends;
	const char *modes[FP_ARRAY_SIZE(fc_modes)];
	size_t nmodes;
	const char *csv_path, *json_path, *plot_path;
};

/* A row's outcome: measured, could not run here, or failed. */
enum fc_status { FC_OK, FC_SKIP, FC_ERROR };

/* One mode (and backend) at one size. */
struct fc_row {
	const struct fc_mode *mode;
	const struct fp_backend *be; /* NULL for unregistered modes */
	char label[64];		     /* "unpinned", "iouring/pinned" */
	size_t size;
	enum fc_status status;
	char reason[512];
	double fork_ms, fork_ms_min, fork_ms_max, register_ms;
	double extra_ms; /* over the base mode; NaN-free: valid when have_extra */
	bool have_extra;
	double copy_gib_s, ratio; /* valid when have_copy */
	bool have_copy;
	unsigned long long child_private, memfree_drop; /* bytes */
	unsigned long hugetlb_used;			/* huge pages taken by the fork */
};

static const char *const fc_status_names[] = {
    [FC_OK] = "ok", [FC_SKIP] = "skip", [FC_ERROR] = "error"};

static void row_status(struct fc_row *row, enum fc_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void row_status(struct fc_row *row, enum fc_status status, const char *fmt, ...)
{
	va_list ap;

	row->status = status;
	va_start(ap, fmt);
	vsnprintf(row->reason, sizeof(row->reason), fmt, ap);
	va_end(ap);
}

/* ---- measurements ------------------------------------------------------------------------ */

/* The sum (kB) of the smaps @fields ("Name:", NULL-ended) of the VMA in @smaps that contains
 * @addr; 0 when there is no such VMA. */
static unsigned long long vma_smaps_kb(const char *smaps, const void *addr,
				       const char *const *fields)
{
	char line[512];
	unsigned long long kb = 0;
	bool in = false;
	FILE *f = fopen(smaps, "re");
	size_t i;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		char c;

		/* VMA header lines: "start-end perms ..."; field lines never parse so */
		if (sscanf(line, "%lx-%lx %c", &start, &end, &c) == 3) {
			if (in)
				break;
			in = (uintptr_t)addr >= start && (uintptr_t)addr < end;
			continue;
		}
		for (i = 0; in && fields[i]; i++)
			if (!strncmp(line, fields[i], strlen(fields[i])))
				kb += strtoull(line + strlen(fields[i]), NULL, 10);
	}
	if (f)
		fclose(f);
	return kb;
}

/* Private memory (kB) of process @pid's VMA that contains @addr; 0 when it has none there
 * (a MADV_DONTFORK range is not in the child at all). */
static unsigned long long child_private_kb(pid_t pid, const void *addr)
{
	static const char *const private[] = {
	    "Private_Clean:", "Private_Dirty:", "Private_Hugetlb:", NULL};
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	return vma_smaps_kb(path, addr, private);
}

/* memcpy bandwidth in GiB/s: the best of a few copies of MEMCPY_LEN. */
static double memcpy_gib_s(void)
{
	char *a = malloc(MEMCPY_LEN), *b = malloc(MEMCPY_LEN);
	double best = 0;
	int i;

	if (!a || !b) {
		free(a);
		free(b);
		return 0;
	}
	memset(a, 1, MEMCPY_LEN);
	memset(b, 2, MEMCPY_LEN);
	for (i = 0; i < 5; i++) {
		uint64_t t0 = fp_now_ns(), dt;

		memcpy(i & 1 ? a : b, i & 1 ? b : a, MEMCPY_LEN);
		dt = fp_now_ns() - t0;
		if (dt && (double)MEMCPY_LEN / (double)dt > best)
			best = (double)MEMCPY_LEN / (double)dt;
	}
	free(a);
	free(b);
	return best * 1e9 / (double)(1ul << 30);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Fork @repeat times with the buffer in place; the child waits until the parent has read its
 * smaps and MemFree, then exits. */
static void measure_forks(struct fc_row *row, const void *buf, unsigned repeat)
{
	double ms[MAX_REPEAT];
	unsigned r;

	for (r = 0; r < repeat; r++) {
		unsigned long long free_before = fp_meminfo_kb("MemFree");
		unsigned long long huge_before = fp_meminfo_kb("HugePages_Free");
		unsigned long long free_after, huge_after;
		int pfd[2], status;
		uint64_t t0;
		pid_t pid;

		if (pipe2(pfd, O_CLOEXEC)) {
			row_status(row, FC_ERROR, "pipe: %s", strerror(errno));
			return;
		}
		t0 = fp_now_ns();
		pid = fork();
		if (pid == 0) {
			char c;

			close(pfd[1]);
			while (read(pfd[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		ms[r] = (double)(fp_now_ns() - t0) / 1e6;
		close(pfd[0]);
		if (pid < 0) {
			close(pfd[1]);
			if (errno == ENOMEM && (row->mode->flags & FC_HUGETLB))
				row_status(row, FC_SKIP,
					   "fork() failed with ENOMEM: too few free huge pages "
					   "for the child's copies: reserve more (" FP_SETUP(
					       "hugetlb") " "
							  "reserve)");
			else
				row_status(row, FC_ERROR, "fork: %s", strerror(errno));
			return;
		}
		row->child_private = child_private_kb(pid, buf) * 1024;
		free_after = fp_meminfo_kb("MemFree");
		huge_after = fp_meminfo_kb("HugePages_Free");
		row->memfree_drop =
		    free_before > free_after ? (free_before - free_after) * 1024 : 0;
		row->hugetlb_used = huge_before > huge_after ? huge_before - huge_after : 0;
		close(pfd[1]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	qsort(ms, repeat, sizeof(ms[0]), cmp_double);
	row->fork_ms = repeat % 2 ? ms[repeat / 2] : (ms[repeat / 2 - 1] + ms[repeat / 2]) / 2;
	row->fork_ms_min = ms[0];
	row->fork_ms_max = ms[repeat - 1];
	row->status = FC_OK;
}

/* @size bytes of private anonymous memory at a 2 MiB boundary, asking for THPs (the extra
 * alignment slack is unmapped again); MAP_FAILED with errno on failure. */
static char *map_thp(size_t size)
{
	char *raw =
	    mmap(NULL, size + HUGE_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf;
	size_t head;

	if (raw == MAP_FAILED)
		return raw;
	buf = (char *)(((uintptr_t)raw + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	head = (size_t)(buf - raw);
	if (head)
		munmap(raw, head);
	munmap(buf + size, HUGE_2M - head);
	madvise(buf, size, MADV_HUGEPAGE);
	return buf;
}

/* kB of @addr's VMA that this process maps with THPs (smaps AnonHugePages). */
static unsigned long long thp_kb(const void *addr)
{
	static const char *const thp[] = {"AnonHugePages:", NULL};

	return vma_smaps_kb("/proc/self/smaps", addr, thp);
}

/* A THP row measures THPs or nothing: SKIP when fewer than 90% of the buffer got them. */
static bool thp_backed(struct fc_row *row, const void *buf)
{
	unsigned long long kb = thp_kb(buf);

	if (kb * 1024 * 10 >= (unsigned long long)row->size * 9)
		return true;
	row_status(row, FC_SKIP,
		   "only %llu of %zu MiB got transparent huge pages: echo madvise > "
		   "/sys/kernel/mm/transparent_hugepage/enabled (and defrag), or free memory",
		   kb >> 10, row->size >> 20);
	return false;
}

/* Map, fault in, register as the mode says, fork, and undo. */
static void measure(struct fc_row *row, struct fp_dev *dev, unsigned repeat)
{
	const struct fc_mode *m = row->mode;
	int flags = (m->flags & FC_SHARED ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS;
	char *buf;
	int err;

	if (m->flags & FC_HUGETLB) {
		unsigned long pages = row->size / HUGE_2M, need = pages * (m->copies ? 2 : 1);
		unsigned long long free_pages = fp_meminfo_kb("HugePages_Free");

		if (row->size % HUGE_2M) {
			row_status(row, FC_SKIP, "the size is not a multiple of 2 MiB");
			return;
		}
		if (free_pages < need) {
			row_status(row, FC_SKIP,
				   "needs %lu free 2 MiB huge pages (the buffer%s), %llu free: "
				   "sudo " FP_SETUP("hugetlb") " reserve %lu",
				   need, m->copies ? " and the child's copies" : "", free_pages,
				   need);
			return;
		}
		flags |= MAP_HUGETLB | MAP_HUGE_2MB;
	}
	buf = (m->flags & FC_THP) ? map_thp(row->size)
				  : mmap(NULL, row->size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (buf == MAP_FAILED) {
		row_status(row, (m->flags & FC_HUGETLB) ? FC_SKIP : FC_ERROR,
			   "mmap of %zu bytes: %s", row->size, strerror(errno));
		return;
	}
	if (!(m->flags & (FC_HUGETLB | FC_THP)))
		madvise(buf, row->size, MADV_NOHUGEPAGE); /* 4 KiB pages: the common case */
	memset(buf, 0x5a, row->size);
	if ((m->flags & FC_THP) && !thp_backed(row, buf))
		goto unmap;
	if ((m->flags & FC_DONTFORK) && madvise(buf, row->size, MADV_DONTFORK)) {
		row_status(row, FC_ERROR, "madvise(MADV_DONTFORK): %s", strerror(errno));
		goto unmap;
	}
	if (m->flags & FC_PINNED) {
		uint64_t t0 = fp_now_ns();

		err = fp_dev_register(dev, buf, row->size, FP_ACCESS_READ_WRITE);
		row->register_ms = (double)(fp_now_ns() - t0) / 1e6;
		if (err) {
			row_status(row, err == -ENODEV || err == -EOPNOTSUPP ? FC_SKIP : FC_ERROR,
				   "register: %s", dev->error);
			goto unmap;
		}
	}
	measure_forks(row, buf, repeat);
	if (m->flags & FC_PINNED)
		fp_dev_deregister(dev);
unmap:
	munmap(buf, row->size);
}

/* Extra fork time over the base mode at the same size, and the implied copy bandwidth. */
static void derive(struct fc_row *rows, size_t n, double memcpy_bw)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		struct fc_row *r = &rows[i];

		if (r->status != FC_OK || !r->mode->base)
			continue;
		for (j = 0; j < n; j++)
			if (rows[j].status == FC_OK && rows[j].size == r->size &&
			    !strcmp(rows[j].mode->name, r->mode->base))
				break;
		if (j == n)
			continue;
		r->extra_ms = r->fork_ms - rows[j].fork_ms;
		r->have_extra = true;
		if (r->mode->copies && r->extra_ms > 0) {
			r->copy_gib_s = (double)r->size / (r->extra_ms / 1e3) / (double)(1ul << 30);
			r->ratio = memcpy_bw > 0 ? r->copy_gib_s / memcpy_bw : 0;
			r->have_copy = memcpy_bw > 0;
		}
	}
}

/* ---- stop signals --------------------------------------------------------------------- */

/*
 * SIGINT, SIGTERM, SIGHUP and SIGPIPE stop forkcost as they stop a run (fp_run_catch_signals):
 * the row being measured finishes (its forked children are waited for), no further row is
 * measured, every report says the table is incomplete and the exit is 128 + the signal.
 */
static bool fc_stopped(void)
{
	return fp_run_stop_signal() != 0;
}

/* JSON: whether the table is complete, and if not, the signal that cut it short. */
static void fc_json_completeness(FILE *f)
{
	char name[32];

	fprintf(f, "  \"complete\": %s,\n", fc_stopped() ? "false" : "true");
	if (fc_stopped())
		fprintf(f, "  \"interrupted\": \"%s\",\n",
			fp_signal_name(fp_run_stop_signal(), name, sizeof(name)));
}

/* CSV: a last row with status "interrupted" says the rows end early, and why. */
static void fc_csv_stop_row(FILE *f)
{
	char name[32];

	if (fc_stopped())
		fprintf(f,
			"-,,0,interrupted,,,,,,,,,,,\"stopped by %s: the rows after this one were "
			"not measured\"\n",
			fp_signal_name(fp_run_stop_signal(), name, sizeof(name)));
}

/* The table and stderr say the run was cut short; the exit status for @code. */
static int fc_stop_exit(int code)
{
	char buf[32];
	const char *name;

	if (!fc_stopped())
		return code;
	name = fp_signal_name(fp_run_stop_signal(), buf, sizeof(buf));
	printf("# forkcost: interrupted by %s: incomplete, the sizes and modes after the last row "
	       "were not measured\n",
	       name);
	fprintf(stderr, "forkpin forkcost: interrupted by %s: the table is incomplete\n", name);
	return FP_EXIT_SIGNAL_BASE + fp_run_stop_signal();
}

/* ---- output -------------------------------------------------------------------------------- */

static double mib(unsigned long long bytes)
{
	return (double)bytes / (double)(1ul << 20);
}

static void print_table(FILE *f, const struct fc_row *rows, size_t n, double memcpy_bw,
			unsigned repeat)
{
	struct utsname u;
	size_t i;

	uname(&u);
	fprintf(f,
		"# forkcost: kernel %s, memcpy %.2f GiB/s, fork ms = median of %u forks; extra = "
		"over the same memory unregistered\n",
		u.release, memcpy_bw, repeat);
	fprintf(f, "%-22s %-10s %9s %9s %19s %9s %11s %11s %12s %10s %8s\n", "mode", "pages",
		"size", "fork_ms", "(min-max)", "extra_ms", "register_ms", "child_MiB",
		"memfree_MiB", "copy_GiB/s", "xmemcpy");
	for (i = 0; i < n; i++) {
		const struct fc_row *r = &rows[i];
		char size[32], range[48], extra[32] = "-", copy[32] = "-", ratio[32] = "-";

		fp_format_size(r->size, size, sizeof(size));
		if (r->status != FC_OK) {
			fprintf(f, "%-22s %-10s %9s %s: %s\n", r->label, fc_page(r->mode), size,
				fc_status_names[r->status], r->reason);
			continue;
		}
		snprintf(range, sizeof(range), "(%.3f-%.3f)", r->fork_ms_min, r->fork_ms_max);
		if (r->have_extra)
			snprintf(extra, sizeof(extra), "%.3f", r->extra_ms);
		if (r->have_copy) {
			snprintf(copy, sizeof(copy), "%.2f", r->copy_gib_s);
			snprintf(ratio, sizeof(ratio), "%.2f", r->ratio);
		}
		fprintf(f, "%-22s %-10s %9s %9.3f %19s %9s %11.3f %11.1f %12.1f %10s %8s\n",
			r->label, fc_page(r->mode), size, r->fork_ms, range, extra, r->register_ms,
			mib(r->child_private), mib(r->memfree_drop), copy, ratio);
	}
}

static int write_csv(const char *path, const struct fc_row *rows, size_t n)
{
	FILE *f = fopen(path, "we");
	size_t i;

	if (!f)
		return -errno;
	fputs("mode,backend,size_bytes,status,fork_ms,fork_ms_min,fork_ms_max,extra_ms,"
	      "register_ms,child_private_bytes,memfree_drop_bytes,hugetlb_pages_used,copy_gib_s,"
	      "ratio_to_memcpy,reason,page_size\n",
	      f);
	for (i = 0; i < n; i++) {
		const struct fc_row *r = &rows[i];
		const char *c;

		fprintf(f, "%s,%s,%zu,%s,", r->mode->name, r->be ? r->be->name : "", r->size,
			fc_status_names[r->status]);
		if (r->status == FC_OK) {
			fprintf(f, "%.4f,%.4f,%.4f,", r->fork_ms, r->fork_ms_min, r->fork_ms_max);
			if (r->have_extra)
				fprintf(f, "%.4f", r->extra_ms);
			fprintf(f, ",%.4f,%llu,%llu,%lu,", r->register_ms, r->child_private,
				r->memfree_drop, r->hugetlb_used);
			if (r->have_copy)
				fprintf(f, "%.4f,%.4f", r->copy_gib_s, r->ratio);
			else
				fputs(",", f);
		} else {
			fputs(",,,,,,,,,", f);
		}
		fputs(",\"", f);
		for (c = r->reason; *c; c++)
			fputs(*c == '"' ? "\"\"" : (char[]){*c, 0}, f);
		fprintf(f, "\",%s\n", fc_page(r->mode));
	}
	fc_csv_stop_row(f);
	return fclose(f) ? -errno : 0;
}

static void json_num_or_null(FILE *f, const char *key, bool have, double v)
{
	fprintf(f, "\"%s\": ", key);
	if (have)
		fprintf(f, "%.6g, ", v);
	else
		fputs("null, ", f);
}

static void json_count_or_null(FILE *f, const char *key, bool have, unsigned long long v)
{
	fprintf(f, "\"%s\": ", key);
	if (have)
		fprintf(f, "%llu, ", v);
	else
		fputs("null, ", f);
}

static int write_json(const char *path, const struct fc_row *rows, size_t n, double memcpy_bw,
		      unsigned repeat)
{
	FILE *f = fopen(path, "we");
	struct fp_env *env = calloc(1, sizeof(*env));
	size_t i;
	int err = 0;

	if (!f || !env) {
		err = -errno;
		goto out;
	}
	fp_fingerprint_collect(env);
	fprintf(f,
		"{\n  \"command\": \"forkcost\",\n  \"memcpy_gib_s\": %.6g,\n  \"repeat\": %u,\n",
		memcpy_bw, repeat);
	fc_json_completeness(f);
	fputs("  \"env\": ", f);
	fp_env_write_json(f, env, -1);
	fputs(",\n  \"rows\": [", f);
	for (i = 0; i < n; i++) {
		const struct fc_row *r = &rows[i];
		bool ok = r->status == FC_OK;

		fputs(i ? ",\n    {" : "\n    {", f);
		fputs("\"mode\": ", f);
		fp_json_write_string(f, r->mode->name);
		fputs(", \"page_size\": ", f);
		fp_json_write_string(f, fc_page(r->mode));
		fputs(", \"backend\": ", f);
		if (r->be)
			fp_json_write_string(f, r->be->name);
		else
			fputs("null", f);
		fputs(", \"label\": ", f);
		fp_json_write_string(f, r->label);
		fprintf(f, ", \"size_bytes\": %zu, \"status\": ", r->size);
		fp_json_write_string(f, fc_status_names[r->status]);
		fputs(", \"reason\": ", f);
		fp_json_write_string(f, r->reason);
		fputs(", ", f);
		json_num_or_null(f, "fork_ms", ok, r->fork_ms);
		json_num_or_null(f, "fork_ms_min", ok, r->fork_ms_min);
		json_num_or_null(f, "fork_ms_max", ok, r->fork_ms_max);
		json_num_or_null(f, "register_ms", ok && r->be, r->register_ms);
		json_num_or_null(f, "extra_ms", r->have_extra, r->extra_ms);
		json_count_or_null(f, "child_private_bytes", ok, r->child_private);
		json_count_or_null(f, "memfree_drop_bytes", ok, r->memfree_drop);
		json_count_or_null(f, "hugetlb_pages_used", ok, r->hugetlb_used);
		json_num_or_null(f, "copy_gib_s", r->have_copy, r->copy_gib_s);
		fprintf(f, "\"ratio_to_memcpy\": ");
		if (r->have_copy)
			fprintf(f, "%.6g}", r->ratio);
		else
			fputs("null}", f);
	}
	fputs("\n  ]\n}\n", f);
	if (ferror(f))
		err = -EIO;
out:
	if (f && fclose(f) && !err)
		err = -errno;
	free(env);
	return err;
}

/* The measured rows as the plot's points. */
static int write_plot(const char *path, const struct fc_row *rows, size_t n, double memcpy_bw)
{
	struct fc_point *pts = calloc(n ? n : 1, sizeof(*pts));
	char(*labels)[96] = calloc(n ? n : 1, sizeof(*labels));
	size_t i, npts = 0;
	int err;

	if (!pts || !labels) {
		free(pts);
		free(labels);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (rows[i].status != FC_OK)
			continue;
		/* the curve's name says its page size */
		snprintf(labels[npts], sizeof(labels[npts]), "%s (%s)", rows[i].label,
			 fc_page(rows[i].mode));
		pts[npts] = (struct fc_point){.label = labels[npts],
					      .size_mib = mib(rows[i].size),
					      .fork_ms = rows[i].fork_ms};
		npts++;
	}
	err = fc_write_plot(path, pts, npts, memcpy_bw);
	free(pts);
	free(labels);
	return err;
}

/* ---- the command ----------------------------------------------------------------------- */

static void print_forkcost_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: forkpin forkcost [--min-size BYTES] [--max-size BYTES] [--repeat N]\n"
		   "                        [-b/--backend LIST] [--mode LIST] [--csv FILE] "
		   "[--json FILE]\n"
		   "                        [--plot FILE.png|FILE.svg]\n"
		   "fork() latency and the child's extra memory for sizes doubling from --min-size "
		   "(64M)\nto --max-size (512M). Modes:");
	for (i = 0; i < FP_ARRAY_SIZE(fc_modes); i++)
		fprintf(f, " %s", fc_modes[i].name);
	fprintf(f,
		"\nPages (the table's pages column): thp modes 2 MiB transparent huge pages "
		"(MADV_HUGEPAGE;\nSKIP when not granted), hugetlb modes 2 MiB hugetlb pages, the "
		"others 4 KiB pages\n(MADV_NOHUGEPAGE). Progress, one line per mode and size, "
		"goes to stderr.\nExit: 0 measured, 1 a measurement failed, 2 bad usage, 4 nothing "
		"could run,\n128 + N stopped by signal N (the reports say incomplete).\n");
}

static bool pins(const struct fp_backend *be)
{
	return (be->caps & FP_CAP_PINS) && !be->control;
}

/* Two outputs naming one file: the one written last would silently replace the other. */
static void refuse_same_file(const struct fc_opts *opt)
{
	const char *paths[] = {opt->csv_path, opt->json_path, opt->plot_path};
	static const char *const names[] = {"--csv", "--json", "--plot"};
	size_t i, j;

	for (i = 0; i < FP_ARRAY_SIZE(paths); i++)
		for (j = i + 1; j < FP_ARRAY_SIZE(paths); j++)
			if (paths[i] && paths[j] && fp_report_paths_clash(paths[i], paths[j]))
				usage_error("%s and %s both name %s: give each output its own file",
					    names[i], names[j], paths[j]);
}

/* The names and paths given: every mode and backend known and fit, the files writable. */
static void check_forkcost_args(struct fc_opts *opt)
{
	size_t i, j;

	for (i = 0; i < opt->nmodes; i++) {
		for (j = 0; j < FP_ARRAY_SIZE(fc_modes) && strcmp(fc_modes[j].name, opt->modes[i]);
		     j++)
			;
		if (j == FP_ARRAY_SIZE(fc_modes))
			usage_error("unknown mode '%s': `forkpin forkcost --help` lists them",
				    opt->modes[i]);
	}
	for (i = 0; i < opt->nbackends; i++) {
		const struct fp_backend *be = fp_backend_find(opt->backends[i]);

		if (!be)
			usage_error("unknown backend '%s': `forkpin list -v` lists them",
				    opt->backends[i]);
		if (!pins(be))
			usage_error(
			    "backend '%s' does not pin memory: forkcost needs one that does",
			    be->name);
	}
	if (opt->min_size > opt->max_size)
		opt->min_size = opt->max_size;
	/* the largest size is mapped and, pinned, copied once more for the child at fork */
	fp_check_memory(WHO, 2ull * opt->max_size, "--max-size: the buffer and the child's copy",
			"give a smaller --max-size");
	refuse_same_file(opt);
	fp_require_writable(WHO, "--csv", opt->csv_path);
	fp_require_writable(WHO, "--json", opt->json_path);
}

enum { OPT_MIN = 256, OPT_MAX, OPT_REPEAT, OPT_MODE, OPT_CSV, OPT_JSON, OPT_PLOT };

static void parse_forkcost_args(struct fc_opts *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"min-size", required_argument, NULL, OPT_MIN},
	    {"max-size", required_argument, NULL, OPT_MAX},
	    {"repeat", required_argument, NULL, OPT_REPEAT},
	    {"backend", required_argument, NULL, 'b'},
	    {"mode", required_argument, NULL, OPT_MODE},
	    {"csv", required_argument, NULL, OPT_CSV},
	    {"json", required_argument, NULL, OPT_JSON},
	    {"plot", required_argument, NULL, OPT_PLOT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "b:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MIN:
		case OPT_MAX: {
			size_t *dst = c == OPT_MIN ? &opt->min_size : &opt->max_size;

			if (!fp_parse_size(optarg, dst) || *dst < 4096 || *dst % 4096 ||
			    *dst > (64ul << 30))
				usage_error("%s '%s': give a multiple of 4k, e.g. 512M",
					    c == OPT_MIN ? "--min-size" : "--max-size", optarg);
			break;
		}
		case OPT_REPEAT:
			opt->repeat = (unsigned)fp_parse_count(WHO, "--repeat", optarg, MAX_REPEAT);
			break;
		case 'b':
			fp_parse_list(WHO, opt->backends, &opt->nbackends,
				      FP_ARRAY_SIZE(opt->backends), optarg, "backend");
			break;
		case OPT_MODE:
			fp_parse_list(WHO, opt->modes, &opt->nmodes, FP_ARRAY_SIZE(opt->modes),
				      optarg, "mode");
			break;
		case OPT_CSV:
			opt->csv_path = optarg;
			break;
		case OPT_JSON:
			opt->json_path = optarg;
			break;
		case OPT_PLOT:
			/* gnuplot gets the path inside quotes: refuse what would end them */
			if (!fc_plot_path_ok(optarg))
				usage_error(
				    "--plot '%s': give a file ending in .png or .svg, without "
				    "quotes, backslashes or control characters",
				    optarg);
			opt->plot_path = optarg;
			break;
		case 'h':
			print_forkcost_help(stdout);
			exit(FP_EXIT_OK);
		default:
			usage_error("unknown or incomplete option '%s': `forkpin forkcost --help` "
				    "lists the options",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	check_forkcost_args(opt);
}

static bool mode_selected(const struct fc_opts *opt, const struct fc_mode *m)
{
	size_t i;

	if (!opt->nmodes)
		return true;
	for (i = 0; i < opt->nmodes; i++)
		if (!strcmp(opt->modes[i], m->name))
			return true;
	return false;
}

static bool backend_selected(const struct fc_opts *opt, const struct fp_backend *be)
{
	size_t i;

	if (!pins(be))
		return false;
	if (!opt->nbackends)
		return true;
	for (i = 0; i < opt->nbackends; i++)
		if (!strcmp(opt->backends[i], be->name))
			return true;
	return false;
}

/* One backend's device, opened at its first registered row and kept for the others. */
struct fc_dev {
	struct fp_dev dev;
	int err; /* 1: not tried yet */
};

static struct fc_row *add_row(struct fc_row *rows, size_t *n, const struct fc_mode *m,
			      const struct fp_backend *be, size_t size)
{
	struct fc_row *r;

	if (*n == MAX_ROWS)
		return NULL;
	r = &rows[(*n)++];
	memset(r, 0, sizeof(*r));
	r->mode = m;
	r->be = be;
	r->size = size;
	r->status = FC_SKIP;
	if (be)
		snprintf(r->label, sizeof(r->label), "%s/%s", be->name, m->name);
	else
		snprintf(r->label, sizeof(r->label), "%s", m->name);
	return r;
}

/* One line per measured size on stderr as it is done: a 1 GiB pinned fork takes seconds, and
 * the table only comes at the end. */
static void print_progress(const struct fc_row *r)
{
	if (r->status == FC_OK)
		fprintf(stderr,
			"forkcost: %-24s %-10s %6zu MiB: fork %.1f ms (min %.1f, max %.1f)\n",
			r->label, fc_page(r->mode), r->size >> 20, r->fork_ms, r->fork_ms_min,
			r->fork_ms_max);
	else
		fprintf(stderr, "forkcost: %-24s %-10s %6zu MiB: %s: %s\n", r->label,
			fc_page(r->mode), r->size >> 20, fc_status_names[r->status], r->reason);
}

int fp_cmd_forkcost(int argc, char **argv)
{
	struct fc_opts opt = {.min_size = 64ul << 20, .max_size = 512ul << 20, .repeat = 3};
	struct fc_row *rows = calloc(MAX_ROWS, sizeof(*rows));
	struct fc_dev devs[64];
	size_t n = 0, m, b, i, measured = 0, errors = 0;
	double bw;
	enum fp_exit code;
	int err;

	parse_forkcost_args(&opt, argc, argv);
	if (!rows)
		return FP_EXIT_FAIL;
	for (b = 0; b < fp_backend_count && b < FP_ARRAY_SIZE(devs); b++)
		devs[b].err = 1;
	fp_run_catch_signals(); /* from here a signal ends in an incomplete table */
	bw = memcpy_gib_s();
	for (m = 0; m < FP_ARRAY_SIZE(fc_modes) && !fc_stopped(); m++) {
		const struct fc_mode *mode = &fc_modes[m];
		bool any_backend = false;

		if (!mode_selected(&opt, mode))
			continue;
		for (b = 0; b < fp_backend_count && b < FP_ARRAY_SIZE(devs) && !fc_stopped(); b++) {
			const struct fp_backend *be =
			    mode->flags & FC_PINNED ? fp_backends[b] : NULL;
			size_t size;

			if (be && !backend_selected(&opt, be))
				continue;
			if (!be && b > 0)
				break; /* unregistered modes: one row per size */
			any_backend = true;
			for (size = opt.min_size; size <= opt.max_size && !fc_stopped();
			     size *= 2) {
				struct fc_row *r = add_row(rows, &n, mode, be, size);

				if (!r)
					break;
				if (be && be->unavailable) {
					row_status(r, FC_SKIP, "%s", be->unavailable);
					continue;
				}
				if (be && devs[b].err == 1)
					devs[b].err = fp_dev_open(&devs[b].dev, be);
				if (be && devs[b].err) {
					row_status(r, devs[b].err == -ENODEV ? FC_SKIP : FC_ERROR,
						   "%s", devs[b].dev.error);
					continue;
				}
				measure(r, be ? &devs[b].dev : NULL, opt.repeat);
				print_progress(r);
			}
		}
		if (!any_backend && !fc_stopped()) {
			struct fc_row *r = add_row(rows, &n, mode, NULL, opt.min_size);

			if (r)
				row_status(r, FC_SKIP, "no selected backend pins memory here");
		}
	}
	for (b = 0; b < fp_backend_count && b < FP_ARRAY_SIZE(devs); b++)
		if (!devs[b].err)
			fp_dev_close(&devs[b].dev);
	derive(rows, n, bw);
	print_table(stdout, rows, n, bw, opt.repeat);
	for (i = 0; i < n; i++) {
		measured += rows[i].status == FC_OK;
		errors += rows[i].status == FC_ERROR;
	}
	code = fc_stop_exit(fp_exit_code(errors, measured));
	if (opt.csv_path && (err = write_csv(opt.csv_path, rows, n))) {
		fprintf(stderr, "forkpin forkcost: writing %s: %s\n", opt.csv_path, strerror(-err));
		code = FP_EXIT_FAIL;
	}
	if (opt.json_path && (err = write_json(opt.json_path, rows, n, bw, opt.repeat))) {
		fprintf(stderr, "forkpin forkcost: writing %s: %s\n", opt.json_path,
			strerror(-err));
		code = FP_EXIT_FAIL;
	}
	if (opt.plot_path && (err = write_plot(opt.plot_path, rows, n, bw))) {
		fprintf(stderr, "forkpin forkcost: gnuplot could not write %s\n", opt.plot_path);
		code = FP_EXIT_FAIL;
	}
	free(rows);
	return code;
}

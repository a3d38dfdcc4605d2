/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "fake_backends.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

/* The registration of the current case process: one at a time, as the dispatcher allows. */
struct fake_reg {
	char *addr;
	size_t len;
	char *device_page; /* NULL until a fork "moves" the pinned page away from the parent */
	/* a queued transfer, carried out at wait (so in-flight really is in flight) */
	bool to_host;
	size_t off, n;
	char *data;
	void *dst;
};

static struct fake_reg *live_reg;
/* threaded-fork-register registers in a thread while the main thread forks: the fork
 * handler must not read a registration being freed */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static bool cow_bug_mode, stale_pin_mode, remap_bug_mode;
static bool forked; /* this process has forked (stale-pin: the pages may be COW-shared) */
/* child-maps: the last child's pid, written by the child itself (a MAP_SHARED page) */
static volatile pid_t *last_child;

/* The device keeps the page as it is now; the parent's mapping goes on without it. */
static void keep_device_page(struct fake_reg *r)
{
	if (r->device_page)
		return;
	r->device_page = malloc(r->len);
	if (r->device_page)
		memcpy(r->device_page, r->addr, r->len);
}

/* pthread_atfork prepare: the emulated kernel bug. At fork the device keeps the page as it
 * is now, and the parent's mapping goes on without it. */
static void cow_bug_at_fork(void)
{
	pthread_mutex_lock(&reg_lock);
	if (cow_bug_mode && live_reg)
		keep_device_page(live_reg);
	pthread_mutex_unlock(&reg_lock);
}

/* atfork child handler of child-maps: tell the parent's device where the child is. */
static void note_child(void)
{
	if (last_child)
		*last_child = getpid();
}

/* child-maps: the device's write also lands in the child's copy (it maps the pinned page). */
static void write_into_child(const struct fake_reg *r, size_t off, const void *src, size_t n)
{
	struct iovec local = {.iov_base = (void *)src, .iov_len = n};
	struct iovec remote = {.iov_base = r->addr + off, .iov_len = n};

	if (last_child && *last_child > 0)
		process_vm_writev(*last_child, &local, 1, &remote, 1, 0);
}

static void mark_forked(void)
{
	forked = true;
}

void fake_remap_event(const void *addr, size_t len)
{
	const char *a = addr;

	/* NULL: the whole address space (clear_refs) */
	if (remap_bug_mode && live_reg &&
	    (!a || (a < live_reg->addr + live_reg->len && a + len > live_reg->addr)))
		keep_device_page(live_reg);
}

static char *device_view(struct fake_reg *r)
{
	return r->device_page ? r->device_page : r->addr;
}

static int fake_open(struct fp_dev *dev)
{
	/* Each case runs in a fresh process: the handler is installed once per case. */
	cow_bug_mode = dev->be == &fake_cow_bug_backend;
	stale_pin_mode = dev->be == &fake_stale_pin_backend;
	remap_bug_mode = dev->be == &fake_remap_bug_backend;
	if (cow_bug_mode)
		pthread_atfork(cow_bug_at_fork, NULL, NULL);
	if (stale_pin_mode)
		pthread_atfork(NULL, mark_forked, NULL);
	if (dev->be == &fake_child_maps_backend) {
		void *page = mmap(NULL, sizeof(pid_t), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		last_child = page == MAP_FAILED ? NULL : page;
		pthread_atfork(NULL, NULL, note_child);
	}
	return 0;
}

static void fake_close(struct fp_dev *dev)
{
	(void)dev;
}

/* dontfork: what ibv_fork_init does to a registration, MADV_DONTFORK of its whole pages. */
static void fake_dontfork(const struct fake_reg *r, int advice)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)r->addr & ~(page - 1);
	uintptr_t end = ((uintptr_t)r->addr + r->len + page - 1) & ~(page - 1);

	madvise((void *)start, end - start, advice);
}

static int fake_reg(struct fp_dev *dev, void *addr, size_t len, enum fp_access access, void **priv)
{
	struct fake_reg *r = calloc(1, sizeof(*r));

	(void)access;
	if (!r)
		return fp_dev_error(dev, -ENOMEM, "out of memory");
	r->addr = addr;
	r->len = len;
	r->data = malloc(dev->be->limits.max_transfer);
	pthread_mutex_lock(&reg_lock);
	live_reg = r;
	if (stale_pin_mode && forked)
		keep_device_page(r); /* the pin took the page the child still shares (or shared) */
	pthread_mutex_unlock(&reg_lock);
	if (dev->be == &fake_dontfork_backend)
		fake_dontfork(r, MADV_DONTFORK);
	*priv = r;
	return 0;
}

static void fake_dereg(struct fp_dev *dev, void *reg)
{
	struct fake_reg *r = reg;

	if (dev->be == &fake_dontfork_backend)
		fake_dontfork(r, MADV_DOFORK);
	pthread_mutex_lock(&reg_lock);
	live_reg = NULL;
	pthread_mutex_unlock(&reg_lock);
	free(r->device_page);
	free(r->data);
	free(r);
}

static int fake_to_host(struct fp_dev *dev, void *reg, size_t off, const void *src, size_t len)
{
	struct fake_reg *r = reg;

	memcpy(r->data, src, len);
	r->to_host = true;
	r->off = off;
	r->n = len;
	if (dev->be == &fake_eager_backend) { /* the data lands now, before anything else */
		memcpy(device_view(r) + off, src, len);
		r->n = 0;
	}
	return 0;
}

static int fake_from_host(struct fp_dev *dev, void *reg, size_t off, void *dst, size_t len)
{
	struct fake_reg *r = reg;

	(void)dev;
	r->to_host = false;
	r->off = off;
	r->n = len;
	r->dst = dst;
	return 0;
}

static int fake_wait(struct fp_dev *dev, void *reg)
{
	struct fake_reg *r = reg;

	if (r->to_host) {
		memcpy(device_view(r) + r->off, r->data, r->n);
		if (dev->be == &fake_child_maps_backend)
			write_into_child(r, r->off, r->data, r->n);
	} else
		memcpy(r->dst, device_view(r) + r->off, r->n);
	return 0;
}

static const struct fp_backend_ops fake_ops = {
    .open = fake_open,
    .reg = fake_reg,
    .dma_to_host_start = fake_to_host,
    .dma_from_host_start = fake_from_host,
    .dma_wait = fake_wait,
    .dereg = fake_dereg,
    .close = fake_close,
};

#define FAKE_CAPS                                                                                  \
	(FP_CAP_PINS | FP_CAP_DMA_TO_HOST | FP_CAP_DMA_FROM_HOST | FP_CAP_QUEUED_DMA |             \
	 FP_CAP_READ_ONLY_PIN)

const struct fp_backend fake_ideal_backend = {.name = "ideal",
					      .caps = FAKE_CAPS,
					      .limits = {.max_transfer = 8192, .align = 1},
					      .ops = &fake_ops};

const struct fp_backend fake_cow_bug_backend = {.name = "cow-bug",
						.caps = FAKE_CAPS,
						.limits = {.max_transfer = 8192, .align = 1},
						.ops = &fake_ops};

const struct fp_backend fake_eager_backend = {.name = "eager",
					      .caps = FAKE_CAPS,
					      .limits = {.max_transfer = 8192, .align = 1},
					      .ops = &fake_ops};

const struct fp_backend fake_child_maps_backend = {.name = "child-maps",
						   .caps = FAKE_CAPS,
						   .limits = {.max_transfer = 8192, .align = 1},
						   .ops = &fake_ops};

const struct fp_backend fake_dontfork_backend = {.name = "dontfork",
						 .caps = FAKE_CAPS,
						 .limits = {.max_transfer = 8192, .align = 1},
						 .ops = &fake_ops};

const struct fp_backend fake_stale_pin_backend = {.name = "stale-pin",
						  .caps = FAKE_CAPS,
						  .limits = {.max_transfer = 8192, .align = 1},
						  .ops = &fake_ops};

const struct fp_backend fake_remap_bug_backend = {.name = "remap-bug",
						  .caps = FAKE_CAPS,
						  .limits = {.max_transfer = 8192, .align = 1},
						  .ops = &fake_ops};

static int crash_open(struct fp_dev *dev)
{
	(void)dev;
	abort(); /* a crash: SIGABRT, which ASan leaves alone (it takes SIGSEGV over) */
	return 0;
}

/* Leave a grandchild behind (its pid in the pipe named by FAKE_HANG_FD), then hang. */
static int hang_open(struct fp_dev *dev)
{
	const char *fd_text = getenv("FAKE_HANG_FD");
	pid_t pid = fork();

	(void)dev;
	if (pid == 0)
		for (;;)
			pause();
	if (fd_text && write(atoi(fd_text), &pid, sizeof(pid)) != sizeof(pid))
		abort();
	for (;;)
		pause();
	return 0;
}

static const struct fp_backend_ops crash_ops = {.open = crash_open, .close = fake_close};
static const struct fp_backend_ops hang_ops = {.open = hang_open, .close = fake_close};

const struct fp_backend fake_crash_backend = {
    .name = "crash", .caps = FAKE_CAPS, .limits = {.max_transfer = 8192}, .ops = &crash_ops};
const struct fp_backend fake_hang_backend = {
    .name = "hang", .caps = FAKE_CAPS, .limits = {.max_transfer = 8192}, .ops = &hang_ops};

/* Append @what to the file FAKE_PLAN_LOG names (O_APPEND: one byte per event, from any
 * process of the run), so a test counts plans, opens and maps. */
void fake_plan_log(char what)
{
	const char *path = getenv("FAKE_PLAN_LOG");
	int fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;

	if (fd < 0)
		return;
	if (write(fd, &what, 1) != 1)
		abort();
	close(fd);
}

/* absent: no device unless FAKE_PRESENT is set; open and the plan decide with this. */
static int absent_device(struct fp_dev *dev)
{
	if (getenv("FAKE_PRESENT"))
		return 0;
	return fp_dev_error(dev, -ENODEV, "fake device absent: set FAKE_PRESENT");
}

static int absent_plan(struct fp_dev *dev)
{
	fake_plan_log('P');
	return absent_device(dev);
}

static int absent_open(struct fp_dev *dev)
{
	fake_plan_log('O');
	return absent_device(dev) ? -ENODEV : fake_open(dev);
}

static const struct fp_backend_ops absent_ops = {
    .open = absent_open,
    .reg = fake_reg,
    .dma_to_host_start = fake_to_host,
    .dma_from_host_start = fake_from_host,
    .dma_wait = fake_wait,
    .dereg = fake_dereg,
    .close = fake_close,
    .plan = absent_plan,
};

const struct fp_backend fake_absent_backend = {.name = "absent",
					       .caps = FAKE_CAPS,
					       .limits = {.max_transfer = 8192, .align = 1},
					       .ops = &absent_ops};

/* The same without a plan: every case finds out in its own process. */
static const struct fp_backend_ops absent_unplanned_ops = {
    .open = absent_open,
    .reg = fake_reg,
    .dma_to_host_start = fake_to_host,
    .dma_from_host_start = fake_from_host,
    .dma_wait = fake_wait,
    .dereg = fake_dereg,
    .close = fake_close,
};

const struct fp_backend fake_absent_unplanned_backend = {
    .name = "absent",
    .caps = FAKE_CAPS,
    .limits = {.max_transfer = 8192, .align = 1},
    .ops = &absent_unplanned_ops};

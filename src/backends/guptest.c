/* SPDX-License-Identifier: MIT */
/*
 * guptest: the kernel itself is the device. CONFIG_GUP_TEST's /sys/kernel/debug/gup_test
 * takes a long-term pin (pin_user_pages(FOLL_LONGTERM), FOLL_WRITE only for a writable
 * registration) with PIN_LONGTERM_TEST_START and copies the pinned pages to user space with
 * PIN_LONGTERM_TEST_READ: a "device read" of exactly the pages pinned at registration, as
 * the kernel's tools/testing/selftests/mm/cow.c uses it. It only reads, so it runs the
 * device-reads scenarios, including the read-only pin. guptest-fast pins through GUP-fast
 * (pin_user_pages_fast, PIN_LONGTERM_TEST_FLAG_USE_FAST): the lockless path that races with
 * fork (57efa1fe5957) and must refuse pages it may not pin R/O (a7f226604170).
 *
 * The pin state is global in the kernel (one pin at a time, any process); closing the file
 * drops it, so each case opens its own, and both rows declare the pin as their resource: no
 * two of their cases run at once, whatever --jobs says.
 * The ioctl definitions below are those of the kernel's mm/gup_test.h (uapi-like, but not
 * exported as a header): the ioctl numbers and the struct layout are ABI.
 */
#define _GNU_SOURCE
#include "registry.h"
#include "../util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* From the kernel's mm/gup_test.h (6.12). */
struct guptest_pin_longterm {
	__u64 addr;
	__u64 size;
	__u32 flags;
};
#define GUPTEST_PIN_LONGTERM_START	_IOW('g', 7, struct guptest_pin_longterm)
#define GUPTEST_PIN_LONGTERM_STOP	_IO('g', 8)
#define GUPTEST_PIN_LONGTERM_READ	_IOW('g', 9, __u64)
#define GUPTEST_PIN_LONGTERM_FLAG_WRITE 1
#define GUPTEST_PIN_LONGTERM_FLAG_FAST	2 /* pin_user_pages_fast(): the lockless GUP-fast path */

#define GUPTEST_PATH	     "/sys/kernel/debug/gup_test"
#define GUPTEST_MAX_REGISTER (64ul << 20)

struct guptest_state {
	int fd;
};

/* A registration: the page-rounded pinned range and a buffer for one READ of all of it. */
struct guptest_reg {
	char *map;	/* page-aligned start of the pin */
	size_t map_len; /* page-rounded length */
	size_t lead;	/* offset of the registered address inside the pin */
	char *copy;	/* PIN_LONGTERM_TEST_READ's destination (map_len bytes) */
};

/* Open gup_test: the descriptor, or -errno described. open and the plan share it. */
static int guptest_open_file(struct fp_dev *dev)
{
	int fd = open(GUPTEST_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		if (err == ENOENT)
			return fp_dev_error(dev, -ENODEV,
					    "open(%s): %s: needs a kernel with CONFIG_GUP_TEST and "
					    "debugfs mounted (mount -t debugfs none "
					    "/sys/kernel/debug); setup/kernel/build stock has it",
					    GUPTEST_PATH, strerror(err));
		return fp_dev_error(dev, err == EACCES || err == EPERM ? -ENODEV : -err,
				    "open(%s): %s: run as root", GUPTEST_PATH, strerror(err));
	}
	return fd;
}

/* No gup_test file (or no right to open it) for this run: every open fails alike first. */
static int guptest_plan(struct fp_dev *dev)
{
	int fd = guptest_open_file(dev);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int guptest_open(struct fp_dev *dev)
{
	struct guptest_state *st;
	int fd = guptest_open_file(dev);

	if (fd < 0)
		return fd;
	st = calloc(1, sizeof(*st));
	if (!st) {
		close(fd);
		return fp_dev_error(dev, -ENOMEM, "calloc failed");
	}
	st->fd = fd;
	dev->priv = st;
	return 0;
}

static void guptest_close(struct fp_dev *dev)
{
	struct guptest_state *st = dev->priv;

	if (!st)
		return;
	close(st->fd); /* the kernel drops any pin left */
	free(st);
	dev->priv = NULL;
}

static int guptest_reg(struct fp_dev *dev, void *addr, size_t len, enum fp_access access,
		       void **priv)
{
	struct guptest_state *st = dev->priv;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)addr & ~(uintptr_t)(page - 1);
	struct guptest_pin_longterm pin;
	struct guptest_reg *r;

	r = calloc(1, sizeof(*r));
	if (!r)
		return fp_dev_error(dev, -ENOMEM, "calloc failed");
	r->map = (char *)start;
	r->lead = (uintptr_t)addr - start;
	r->map_len = (r->lead + len + page - 1) / page * page;
	r->copy = malloc(r->map_len);
	if (!r->copy) {
		size_t want = r->map_len;

		free(r);
		return fp_dev_error(dev, -ENOMEM, "malloc(%zu) failed", want);
	}
	pin = (struct guptest_pin_longterm){
	    .addr = (uintptr_t)r->map,
	    .size = r->map_len,
	    .flags = (access == FP_ACCESS_READ_ONLY ? 0 : GUPTEST_PIN_LONGTERM_FLAG_WRITE) |
		     (dev->be == &fp_guptest_fast_backend ? GUPTEST_PIN_LONGTERM_FLAG_FAST : 0),
	};
	if (ioctl(st->fd, GUPTEST_PIN_LONGTERM_START, &pin)) {
		int err = errno;

		free(r->copy);
		free(r);
		return fp_dev_error(
		    dev, -err, "PIN_LONGTERM_TEST_START(%p, %zu bytes, %s%s): %s%s", (void *)start,
		    (size_t)pin.size,
		    pin.flags & GUPTEST_PIN_LONGTERM_FLAG_WRITE ? "write" : "read-only",
		    pin.flags & GUPTEST_PIN_LONGTERM_FLAG_FAST ? ", fast" : "", strerror(err),
		    err == EINVAL ? " (another process holds gup_test's pin?)" : "");
	}
	*priv = r;
	return 0;
}

static void guptest_dereg(struct fp_dev *dev, void *reg)
{
	struct guptest_state *st = dev->priv;
	struct guptest_reg *r = reg;

	ioctl(st->fd, GUPTEST_PIN_LONGTERM_STOP);
	free(r->copy);
	free(r);
}

/* The kernel copies every pinned page (as they are now) out; that copy is the device read. */
static int guptest_dma_from_host_start(struct fp_dev *dev, void *reg, size_t off, void *dst,
				       size_t len)
{
	struct guptest_state *st = dev->priv;
	struct guptest_reg *r = reg;
	__u64 to = (uintptr_t)r->copy;

	/* Poison first, so a READ that copied nothing cannot pass for a good one. */
	memset(r->copy, 0xa5, r->map_len);
	if (ioctl(st->fd, GUPTEST_PIN_LONGTERM_READ, &to))
		return fp_dev_error(dev, -errno, "PIN_LONGTERM_TEST_READ: %s", strerror(errno));
	memcpy(dst, r->copy + r->lead + off, len);
	return 0;
}

static int guptest_dma_wait(struct fp_dev *dev, void *reg)
{
	(void)dev;
	(void)reg;
	return 0; /* the read happened in start */
}

static void guptest_fingerprint(struct fp_env *env)
{
	fp_env_set(env, "guptest.gup_test", "%s",
		   access(GUPTEST_PATH, F_OK) == 0 ? GUPTEST_PATH
						   : "(absent: CONFIG_GUP_TEST off or debugfs "
						     "not mounted)");
}

static const struct fp_resource guptest_pin = {.name = "gup_test's one long-term pin"};

static const struct fp_backend_ops guptest_ops = {
    .open = guptest_open,
    .reg = guptest_reg,
    .dma_from_host_start = guptest_dma_from_host_start,
    .dma_wait = guptest_dma_wait,
    .dereg = guptest_dereg,
    .close = guptest_close,
    .fingerprint = guptest_fingerprint,
    .plan = guptest_plan,
};

const struct fp_backend fp_guptest_backend = {
    .name = "guptest",
    .summary = "kernel-side long-term pin and read via /sys/kernel/debug/gup_test "
	       "(CONFIG_GUP_TEST)",
    .caps = FP_CAP_PINS | FP_CAP_DMA_FROM_HOST | FP_CAP_READ_ONLY_PIN | FP_CAP_ANY_MEMORY,
    .limits = {.max_transfer = 4ul << 20, .max_register = GUPTEST_MAX_REGISTER, .align = 1},
    .ops = &guptest_ops,
    .resource = &guptest_pin,
};

const struct fp_backend fp_guptest_fast_backend = {
    .name = "guptest-fast",
    .summary = "guptest pinning through GUP-fast (PIN_LONGTERM_TEST_FLAG_USE_FAST)",
    .caps = FP_CAP_PINS | FP_CAP_DMA_FROM_HOST | FP_CAP_READ_ONLY_PIN | FP_CAP_ANY_MEMORY,
    .limits = {.max_transfer = 4ul << 20, .max_register = GUPTEST_MAX_REGISTER, .align = 1},
    .ops = &guptest_ops,
    .resource = &guptest_pin,
};

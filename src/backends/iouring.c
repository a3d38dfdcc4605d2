/* SPDX-License-Identifier: MIT */
/*
 * iouring: io_uring fixed buffers. IORING_REGISTER_BUFFERS pins the range with
 * FOLL_WRITE | FOLL_LONGTERM, the same kind of pin ibv_reg_mr and VFIO take, and the kernel
 * then copies data to and from the pinned pages by their page frames, never through the
 * process's page tables: a device in all but name.
 *
 * "DMA to host" is IORING_OP_READ_FIXED from a pipe into the buffer. It is submitted on an
 * empty pipe, so the read is queued (poll-armed) and the data moves only when dma_wait feeds
 * the pipe: a fork between start and wait really happens while the transfer is pending.
 * "DMA from host" is IORING_OP_WRITE_FIXED from the buffer into the pipe; dma_wait drains
 * the pipe into the caller's sink.
 */
#define _GNU_SOURCE
#include "registry.h"
#include "../util.h"

#include <errno.h>
#include <string.h>

#if HAVE_LIBURING
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* A pipe holds 64 KiB without any privilege: one transfer never blocks on it. */
#define IOURING_MAX_TRANSFER (64u << 10)
#define IOURING_DEADLINE_MS  5000

enum pending_kind { PENDING_NONE, PENDING_TO_HOST, PENDING_FROM_HOST };

struct iouring_state {
	struct io_uring ring;
	bool ring_ready;
	int pipe_r, pipe_w;
	char *staging; /* the device's source data for a pending to-host transfer */
	struct {
		enum pending_kind kind;
		char *addr; /* where in the registered range */
		size_t len;
		void *dst; /* from-host sink */
	} pending;
};

struct iouring_reg {
	char *addr;
	size_t len;
};

static struct iouring_state *state_of(struct fp_dev *dev)
{
	return dev->priv;
}

static void iouring_close(struct fp_dev *dev)
{
	struct iouring_state *s = state_of(dev);

	if (!s)
		return;
	if (s->ring_ready)
		io_uring_queue_exit(&s->ring);
	if (s->pipe_r >= 0)
		close(s->pipe_r);
	if (s->pipe_w >= 0)
		close(s->pipe_w);
	if (s->staging)
		munmap(s->staging, IOURING_MAX_TRANSFER);
	free(s);
	dev->priv = NULL;
}

/*
 * The device's staging buffer, populated in one call rather than a fault per page, and left
 * out of the case's children (MADV_DONTFORK): only the device side reads it, so a fork neither
 * copies its page tables nor makes the next staging copy a copy-on-write fault. NULL on
 * failure (errno set).
 */
static char *staging_map(void)
{
	void *p = mmap(NULL, IOURING_MAX_TRANSFER, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, IOURING_MAX_TRANSFER, MADV_DONTFORK);
	return p;
}

static int iouring_open(struct fp_dev *dev)
{
	struct iouring_state *s = calloc(1, sizeof(*s));
	int fds[2], err;

	if (!s)
		return fp_dev_error(dev, -ENOMEM, "out of memory");
	s->pipe_r = s->pipe_w = -1;
	dev->priv = s;
	err = io_uring_queue_init(4, &s->ring, 0);
	if (err) {
		iouring_close(dev);
		return fp_dev_error(dev, err == -ENOSYS || err == -EPERM ? -ENODEV : err,
				    "io_uring_setup: %s (kernel without io_uring, or "
				    "kernel.io_uring_disabled is set)",
				    strerror(-err));
	}
	s->ring_ready = true;
	s->staging = staging_map();
	if (!s->staging || pipe2(fds, O_CLOEXEC)) {
		iouring_close(dev);
		return fp_dev_error(dev, -ENOMEM, "pipe/staging: %s", strerror(errno));
	}
	s->pipe_r = fds[0];
	s->pipe_w = fds[1];
	return 0;
}

/* The message for a registration the kernel refused, with the fix where there is one. */
static int register_error(struct fp_dev *dev, int err, size_t len)
{
	struct rlimit rl;
	char need[32], have[32];

	if (err == -ENOMEM && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		return fp_dev_error(
		    dev, err,
		    "IORING_REGISTER_BUFFERS: ENOMEM: RLIMIT_MEMLOCK is %s, the case "
		    "pins %s: raise it with ulimit -l",
		    fp_format_size(rl.rlim_cur, have, sizeof(have)),
		    fp_format_size(len, need, sizeof(need)));
	if (err == -EOPNOTSUPP || err == -EFAULT)
		return fp_dev_error(dev, -ENODEV, "IORING_REGISTER_BUFFERS refuses this memory: %s",
				    strerror(-err));
	return fp_dev_error(dev, err, "IORING_REGISTER_BUFFERS: %s", strerror(-err));
}

static int iouring_reg(struct fp_dev *dev, void *addr, size_t len, enum fp_access access,
		       void **priv)
{
	struct iouring_state *s = state_of(dev);
	struct iovec iov = {.iov_base = addr, .iov_len = len};
	struct iouring_reg *r = malloc(sizeof(*r));
	int err;

	(void)access; /* fixed buffers are always pinned writable */
	if (!r)
		return fp_dev_error(dev, -ENOMEM, "out of memory");
	err = io_uring_register_buffers(&s->ring, &iov, 1);
	if (err) {
		free(r);
		return register_error(dev, err, len);
	}
	r->addr = addr;
	r->len = len;
	*priv = r;
	return 0;
}

static void iouring_dereg(struct fp_dev *dev, void *reg)
{
	io_uring_unregister_buffers(&state_of(dev)->ring);
	free(reg);
}

static int submit_fixed(struct fp_dev *dev, bool read, char *addr, size_t len)
{
	struct iouring_state *s = state_of(dev);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	int err;

	if (!sqe)
		return fp_dev_error(dev, -EBUSY, "io_uring: no free submission entry");
	if (read)
		io_uring_prep_read_fixed(sqe, s->pipe_r, addr, (unsigned)len, 0, 0);
	else
		io_uring_prep_write_fixed(sqe, s->pipe_w, addr, (unsigned)len, 0, 0);
	err = io_uring_submit(&s->ring);
	if (err < 0)
		return fp_dev_error(dev, err, "io_uring_submit(%s_FIXED): %s",
				    read ? "READ" : "WRITE", strerror(-err));
	return 0;
}

static int iouring_dma_to_host_start(struct fp_dev *dev, void *reg, size_t off, const void *src,
				     size_t len)
{
	struct iouring_state *s = state_of(dev);
	struct iouring_reg *r = reg;

	memcpy(s->staging, src, len);
	s->pending.kind = PENDING_TO_HOST;
	s->pending.addr = r->addr + off;
	s->pending.len = len;
	return submit_fixed(dev, true, r->addr + off, len);
}

static int iouring_dma_from_host_start(struct fp_dev *dev, void *reg, size_t off, void *dst,
				       size_t len)
{
	struct iouring_state *s = state_of(dev);
	struct iouring_reg *r = reg;

	s->pending.kind = PENDING_FROM_HOST;
	s->pending.addr = r->addr + off;
	s->pending.len = len;
	s->pending.dst = dst;
	return submit_fixed(dev, false, r->addr + off, len);
}

/* Reap one completion within the deadline: its result (bytes or -errno). */
static int reap(struct fp_dev *dev, const char *op)
{
	struct iouring_state *s = state_of(dev);
	struct __kernel_timespec ts = {.tv_sec = IOURING_DEADLINE_MS / 1000};
	struct io_uring_cqe *cqe;
	int err = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
	int res;

	if (err == -ETIME)
		return fp_dev_error(dev, -ETIMEDOUT, "%s: no completion within %d ms", op,
				    IOURING_DEADLINE_MS);
	if (err)
		return fp_dev_error(dev, err, "%s: io_uring_wait_cqe: %s", op, strerror(-err));
	res = cqe->res;
	io_uring_cqe_seen(&s->ring, cqe);
	if (res < 0)
		return fp_dev_error(dev, res, "%s: completion error %s", op, strerror(-res));
	return res;
}

/* Feed the staged data to the queued READ_FIXED and collect it, re-arming on short reads. */
static int finish_to_host(struct fp_dev *dev)
{
	struct iouring_state *s = state_of(dev);
	size_t done = 0;
	int err = fp_write_all(s->pipe_w, s->staging, s->pending.len);

	if (err)
		return fp_dev_error(dev, err, "feeding the pipe: %s", strerror(-err));
	for (;;) {
		int n = reap(dev, "READ_FIXED");

		if (n < 0)
			return n;
		if (n == 0)
			return fp_dev_error(dev, -EIO, "READ_FIXED: end of file on the pipe");
		done += (size_t)n;
		if (done == s->pending.len)
			return 0;
		err = submit_fixed(dev, true, s->pending.addr + done, s->pending.len - done);
		if (err)
			return err;
	}
}

static int finish_from_host(struct fp_dev *dev)
{
	struct iouring_state *s = state_of(dev);
	int n = reap(dev, "WRITE_FIXED");
	int err;

	if (n < 0)
		return n;
	if ((size_t)n != s->pending.len)
		return fp_dev_error(dev, -EIO, "WRITE_FIXED moved %d of %zu bytes", n,
				    s->pending.len);
	err = fp_read_all(s->pipe_r, s->pending.dst, s->pending.len);
	return err ? fp_dev_error(dev, err, "draining the pipe: %s", strerror(-err)) : 0;
}

static int iouring_dma_wait(struct fp_dev *dev, void *reg)
{
	struct iouring_state *s = state_of(dev);
	enum pending_kind kind = s->pending.kind;

	(void)reg;
	s->pending.kind = PENDING_NONE;
	if (kind == PENDING_TO_HOST)
		return finish_to_host(dev);
	if (kind == PENDING_FROM_HOST)
		return finish_from_host(dev);
	return fp_dev_error(dev, -EINVAL, "dma_wait with nothing pending");
}

static void iouring_fingerprint(struct fp_env *env)
{
	struct io_uring ring;
	int err = io_uring_queue_init(2, &ring, 0);
	char disabled[32];

	if (err)
		fp_env_set(env, "iouring.available", "no: %s", strerror(-err));
	else {
		fp_env_set(env, "iouring.available", "yes");
		io_uring_queue_exit(&ring);
	}
	if (!fp_read_line("/proc/sys/kernel/io_uring_disabled", disabled, sizeof(disabled)))
		fp_env_set(env, "iouring.disabled_sysctl", "%s", disabled);
#if HAVE_IO_URING_MAJOR_VERSION
	fp_env_set(env, "iouring.liburing", "%d.%d", io_uring_major_version(),
		   io_uring_minor_version());
#endif
}

static const struct fp_backend_ops iouring_ops = {
    .open = iouring_open,
    .reg = iouring_reg,
    .dma_to_host_start = iouring_dma_to_host_start,
    .dma_from_host_start = iouring_dma_from_host_start,
    .dma_wait = iouring_dma_wait,
    .dereg = iouring_dereg,
    .close = iouring_close,
    .fingerprint = iouring_fingerprint,
};
#define IOURING_OPS	    (&iouring_ops)
#define IOURING_UNAVAILABLE NULL
#else
#define IOURING_OPS	     NULL
#define IOURING_UNAVAILABLE  "built without liburing: install liburing-dev and reconfigure"
#define IOURING_MAX_TRANSFER (64u << 10)
#endif

const struct fp_backend fp_iouring_backend = {
    .name = "iouring",
    .summary = "io_uring fixed buffers (FOLL_LONGTERM pins), READ/WRITE_FIXED via a pipe",
    .caps = FP_CAP_PINS | FP_CAP_DMA_TO_HOST | FP_CAP_DMA_FROM_HOST | FP_CAP_QUEUED_DMA,
    .limits = {.max_transfer = IOURING_MAX_TRANSFER, .align = 1},
    .unavailable = IOURING_UNAVAILABLE,
    .ops = IOURING_OPS,
};

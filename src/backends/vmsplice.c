/* SPDX-License-Identifier: MIT */
/*
 * vmsplice: the negative control. vmsplice() into a pipe takes plain page references
 * (FOLL_GET), not pins, so the kernel's fork guarantee does not cover them: after fork and a
 * parent write, copy-on-write gives the parent a new page and the pipe keeps the old one.
 * Reading the pipe is this backend's "device read"; on today's kernels it returns stale data,
 * and forkpin must say so. If it ever reads the parent's new data, the checker (or the
 * kernel's COW) has changed and the suite can no longer be trusted to see lost DMA.
 *
 * The pipe can be read once, front to back: transfers must come in increasing order.
 */
#define _GNU_SOURCE
#include "registry.h"
#include "../util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define VMSPLICE_MAX_REGISTER (64ul << 20)
#define VMSPLICE_MAX_PIPES    64

/* The range is spread over pipes of at most fs.pipe-max-size each (no privilege needed). */
struct vmsplice_pipe {
	int r, w;
	size_t consumed; /* bytes of this pipe's chunk already read */
};

struct vmsplice_reg {
	char *addr;
	size_t len;
	size_t chunk; /* bytes of the range per pipe */
	size_t npipes;
	size_t next_off; /* reads must come in order: the lowest offset still readable */
	struct vmsplice_pipe pipes[VMSPLICE_MAX_PIPES];
};

static int vmsplice_open(struct fp_dev *dev)
{
	(void)dev;
	return 0;
}

static void vmsplice_close(struct fp_dev *dev)
{
	(void)dev;
}

static void close_reg(struct vmsplice_reg *r)
{
	size_t i;

	for (i = 0; i < r->npipes; i++) {
		close(r->pipes[i].r);
		close(r->pipes[i].w);
	}
	free(r);
}

/* Write-fault every page without changing it, so the references are to the pages the
 * process keeps (a private file page becomes its anonymous copy first, as a FOLL_WRITE
 * pin would make it). */
static void touch_for_write(char *addr, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), off;
	volatile char *p = addr;

	for (off = 0; off < len; off += page)
		p[off] = p[off];
	if (len)
		p[len - 1] = p[len - 1];
}

/* Bytes of the range one pipe can reference: a pipe of @pipe_bytes holds that many pages,
 * one of them kept for a chunk that straddles a page boundary. */
static size_t chunk_for(size_t pipe_bytes, size_t page)
{
	return pipe_bytes - page;
}

static int open_pipe(struct fp_dev *dev, struct vmsplice_pipe *p, size_t bytes)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC))
		return fp_dev_error(dev, -errno, "pipe: %s", strerror(errno));
	p->r = fds[0];
	p->w = fds[1];
	if (fcntl(p->w, F_SETPIPE_SZ, (int)bytes) < 0) {
		int err = errno;

		close(p->r);
		close(p->w);
		return fp_dev_error(dev, -ENODEV, "F_SETPIPE_SZ(%zu): %s: raise fs.pipe-max-size",
				    bytes, strerror(err));
	}
	return 0;
}

static int splice_chunk(struct fp_dev *dev, int fd, char *addr, size_t len)
{
	struct iovec iov = {.iov_base = addr, .iov_len = len};

	while (iov.iov_len) {
		ssize_t n = vmsplice(fd, &iov, 1, SPLICE_F_NONBLOCK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fp_dev_error(dev, -ENODEV, "vmsplice: %s (pipe too small?)",
					    n < 0 ? strerror(errno) : "no progress");
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
	}
	return 0;
}

static int vmsplice_reg(struct fp_dev *dev, void *addr, size_t len, enum fp_access access,
			void **priv)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned long max_pipe = 1ul << 20;
	struct vmsplice_reg *r = calloc(1, sizeof(*r));
	size_t pipe_bytes, off;
	int err = 0;

	(void)access;
	if (!r)
		return fp_dev_error(dev, -ENOMEM, "out of memory");
	fp_read_ulong("/proc/sys/fs/pipe-max-size", &max_pipe);
	pipe_bytes = len + 2 * page < max_pipe ? len + 2 * page : max_pipe;
	r->addr = addr;
	r->len = len;
	r->chunk = chunk_for(pipe_bytes, page);
	touch_for_write(addr, len);
	for (off = 0; !err && off < len; off += r->chunk) {
		size_t n = len - off < r->chunk ? len - off : r->chunk;

		if (r->npipes == VMSPLICE_MAX_PIPES) {
			err = fp_dev_error(dev, -ENODEV, "the range needs more than %d pipes",
					   VMSPLICE_MAX_PIPES);
			break;
		}
		err = open_pipe(dev, &r->pipes[r->npipes], pipe_bytes);
		if (!err)
			err = splice_chunk(dev, r->pipes[r->npipes++].w, r->addr + off, n);
	}
	if (err) {
		close_reg(r);
		return err;
	}
	*priv = r;
	return 0;
}

static void vmsplice_dereg(struct fp_dev *dev, void *reg)
{
	(void)dev;
	close_reg(reg);
}

/* Read @len bytes at @off of one pipe's chunk into @dst (NULL: discard), in order. */
static int read_chunk(struct fp_dev *dev, struct vmsplice_pipe *p, size_t off, char *dst,
		      size_t len)
{
	char scratch[4096];
	int err;

	while (p->consumed < off) {
		size_t n =
		    off - p->consumed < sizeof(scratch) ? off - p->consumed : sizeof(scratch);

		err = fp_read_all(p->r, scratch, n);
		if (err)
			return fp_dev_error(dev, err, "reading the pipe: %s", strerror(-err));
		p->consumed += n;
	}
	err = fp_read_all(p->r, dst, len);
	if (err)
		return fp_dev_error(dev, err, "reading the pipe: %s", strerror(-err));
	p->consumed += len;
	return 0;
}

static int vmsplice_dma_from_host_start(struct fp_dev *dev, void *reg, size_t off, void *dst,
					size_t len)
{
	struct vmsplice_reg *r = reg;
	size_t done = 0;

	if (off < r->next_off)
		return fp_dev_error(
		    dev, -EINVAL,
		    "vmsplice reads each byte once, in order: offset %zu already read", off);
	while (done < len) {
		size_t pos = off + done, idx = pos / r->chunk, in = pos % r->chunk;
		size_t n = r->chunk - in < len - done ? r->chunk - in : len - done;
		int err = read_chunk(dev, &r->pipes[idx], in, (char *)dst + done, n);

		if (err)
			return err;
		done += n;
	}
	r->next_off = off + len;
	return 0;
}

static int vmsplice_dma_wait(struct fp_dev *dev, void *reg)
{
	(void)dev;
	(void)reg;
	return 0; /* the read happened in start */
}

static void vmsplice_fingerprint(struct fp_env *env)
{
	char max[32];

	if (!fp_read_line("/proc/sys/fs/pipe-max-size", max, sizeof(max)))
		fp_env_set(env, "vmsplice.pipe_max_size", "%s", max);
}

static const struct fp_backend_ops vmsplice_ops = {
    .open = vmsplice_open,
    .reg = vmsplice_reg,
    .dma_from_host_start = vmsplice_dma_from_host_start,
    .dma_wait = vmsplice_dma_wait,
    .dereg = vmsplice_dereg,
    .close = vmsplice_close,
    .fingerprint = vmsplice_fingerprint,
};

const struct fp_backend fp_vmsplice_backend = {
    .name = "vmsplice",
    .summary = "negative control: vmsplice() page references (FOLL_GET, no pin)",
    .caps = FP_CAP_DMA_FROM_HOST,
    .limits = {.max_transfer = 1ul << 20, .max_register = VMSPLICE_MAX_REGISTER, .align = 1},
    .control = "vmsplice() holds page references, not pins: after fork and a parent write "
	       "the pipe keeps the old page, so the read must be stale",
    .ops = &vmsplice_ops,
};

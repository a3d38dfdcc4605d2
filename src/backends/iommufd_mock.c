/* SPDX-License-Identifier: MIT */
/*
 * iommufd-mock: iommufd's own test device (CONFIG_IOMMUFD_TEST) is the device. /dev/iommu,
 * an I/O address space (IOMMU_IOAS_ALLOC), a mock device with a mock IOMMU domain attached
 * to it (IOMMU_TEST_OP_MOCK_DOMAIN), IOMMU_IOAS_MAP of the page-rounded registration at a
 * fixed IOVA: iommufd pins the pages (pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)) and
 * stores their pfns in the mock domain. The device moves data with IOMMU_TEST_OP_ACCESS_RW
 * through an access object (IOMMU_TEST_OP_CREATE_ACCESS), as an emulated device such as
 * vfio-ap or a mediated GPU does.
 *
 * 6.12's iopt_pages_rw_access() only touches the pinned pages (the pfns in the domain) on
 * its slow path with a range that spans two pages; on a single page it pins the page the
 * process maps *now*, and its fast path copies through the page tables: neither is what a
 * device sees. So every transfer asks for MOCK_ACCESS_RW_SLOW_PATH over at least two pages:
 * a transfer inside one page is widened by one byte into the neighbouring page of the
 * mapping (a write reads that byte from the pinned page first and writes it back
 * unchanged), and a one-page registration maps its neighbouring page as well.
 *
 * After each write the mock domain is asked whether every IOVA's pfn is the pfn under the
 * user VA (IOMMU_TEST_OP_MD_CHECK_MAP). A mismatch means the device wrote into a page the
 * process no longer maps; the data check (verify.c) says so from the data, so a mismatch
 * is printed and the case goes on, unless --mock-check-map makes it the case's error.
 *
 * The mock domain cannot attach while the machine has a real IOMMU (EINVAL under QEMU's
 * intel-iommu): boot the VM with `--iommu none`. Kernels: iommufd 6.2+ with
 * CONFIG_IOMMUFD_TEST (setup/kernel/build stock); not in Debian's kernels.
 */
#define _GNU_SOURCE
#include "registry.h"
#include "iommufd_mock_uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MOCK_PATH	  "/dev/iommu"
#define MOCK_IOVA	  ((__u64)MOCK_APERTURE_START)
#define MOCK_MAX_REGISTER (64ul << 20)
#define MOCK_MAX_TRANSFER (4ul << 20) /* ACCESS_RW takes at most 16 MiB */

static const struct fp_option mock_options[] = {
    {"mock-check-map", NULL, "FORKPIN_MOCK_CHECK_MAP",
     "iommufd-mock: a failed IOMMU_TEST_OP_MD_CHECK_MAP after a device write is an error"},
    {0},
};

struct mock_state {
	int iommufd;
	int access_fd;
	__u32 ioas_id;
	__u32 hwpt_id;
	size_t page;
	char *tmp; /* the widened window of one transfer */
	/* the last write, for MD_CHECK_MAP in dma_wait */
	size_t wrote_off, wrote_len;
	bool wrote;
};

struct mock_reg {
	char *map;	/* page-aligned start of the mapping */
	size_t map_len; /* page-rounded, at least two pages */
	size_t lead;	/* offset of the registered address inside the mapping */
};

static int mock_cmd(struct mock_state *st, struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(st->iommufd, IOMMU_TEST_CMD, cmd) ? -errno : 0;
}

static void mock_close(struct fp_dev *dev)
{
	struct mock_state *st = dev->priv;

	if (!st)
		return;
	if (st->access_fd >= 0)
		close(st->access_fd);
	close(st->iommufd); /* destroys the IOAS, the mock device and its domain */
	free(st->tmp);
	free(st);
	dev->priv = NULL;
}

/* Open /dev/iommu: the descriptor, or -ENODEV described. open and the plan share it. */
static int mock_open_iommu(struct fp_dev *dev)
{
	int fd = open(MOCK_PATH, O_RDWR | O_CLOEXEC), err;

	if (fd < 0) {
		err = errno;
		return fp_dev_error(dev, -ENODEV, "open(%s): %s: %s", MOCK_PATH, strerror(err),
				    err == ENOENT ? "needs a kernel with CONFIG_IOMMUFD and "
						    "CONFIG_IOMMUFD_TEST (setup/kernel/build stock)"
						  : "run as root");
	}
	return fd;
}

/* No /dev/iommu for this run: every open fails the same way before it acquires anything. */
static int mock_plan(struct fp_dev *dev)
{
	int fd = mock_open_iommu(dev);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int mock_open(struct fp_dev *dev)
{
	struct iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
	struct iommu_test_cmd cmd = {0};
	struct mock_state *st;
	int fd = mock_open_iommu(dev), err;

	if (fd < 0)
		return fd;
	st = calloc(1, sizeof(*st));
	if (!st) {
		close(fd);
		return fp_dev_error(dev, -ENOMEM, "calloc failed");
	}
	st->iommufd = fd;
	st->access_fd = -1;
	st->page = (size_t)sysconf(_SC_PAGESIZE);
	dev->priv = st;
	if (ioctl(fd, IOMMU_IOAS_ALLOC, &alloc)) {
		err = errno;
		mock_close(dev);
		return fp_dev_error(dev, -err, "IOMMU_IOAS_ALLOC: %s", strerror(err));
	}
	st->ioas_id = alloc.out_ioas_id;

	cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	cmd.id = st->ioas_id;
	err = mock_cmd(st, &cmd);
	if (err) {
		mock_close(dev);
		if (err == -ENOTTY)
			return fp_dev_error(dev, -ENODEV,
					    "IOMMU_TEST_CMD: %s: needs a kernel with "
					    "CONFIG_IOMMUFD_TEST (setup/kernel/build stock)",
					    strerror(-err));
		if (err == -EINVAL)
			return fp_dev_error(
			    dev, -ENODEV,
			    "IOMMU_TEST_OP_MOCK_DOMAIN: %s: the mock device gets no "
			    "IOMMU while the machine has a real one (a vIOMMU): "
			    "boot without it (forkpin vm --iommu none)",
			    strerror(-err));
		return fp_dev_error(dev, err, "IOMMU_TEST_OP_MOCK_DOMAIN: %s", strerror(-err));
	}
	st->hwpt_id = cmd.mock_domain.out_hwpt_id;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_CREATE_ACCESS;
	cmd.id = st->ioas_id;
	err = mock_cmd(st, &cmd);
	if (err) {
		mock_close(dev);
		return fp_dev_error(dev, err, "IOMMU_TEST_OP_CREATE_ACCESS: %s", strerror(-err));
	}
	st->access_fd = (int)cmd.create_access.out_access_fd;
	st->tmp = malloc(MOCK_MAX_TRANSFER + 2);
	if (!st->tmp) {
		mock_close(dev);
		return fp_dev_error(dev, -ENOMEM, "malloc failed");
	}
	return 0;
}

static int mock_map(struct mock_state *st, char *va, size_t len)
{
	struct iommu_ioas_map map = {
	    .size = sizeof(map),
	    .flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE,
	    .ioas_id = st->ioas_id,
	    .user_va = (uintptr_t)va,
	    .length = len,
	    .iova = MOCK_IOVA,
	};

	return ioctl(st->iommufd, IOMMU_IOAS_MAP, &map) ? -errno : 0;
}

static int mock_reg(struct fp_dev *dev, void *addr, size_t len, enum fp_access access, void **priv)
{
	struct mock_state *st = dev->priv;
	uintptr_t start = (uintptr_t)addr & ~(uintptr_t)(st->page - 1);
	struct mock_reg *r;
	int err;

	(void)access; /* always read-write: no FP_CAP_READ_ONLY_PIN */
	r = calloc(1, sizeof(*r));
	if (!r)
		return fp_dev_error(dev, -ENOMEM, "calloc failed");
	r->map = (char *)start;
	r->lead = (uintptr_t)addr - start;
	r->map_len = (r->lead + len + st->page - 1) / st->page * st->page;
	if (r->map_len > st->page) {
		err = mock_map(st, r->map, r->map_len);
	} else {
		/* One page: map a neighbour too, so that every access spans two pages. */
		err = mock_map(st, r->map, 2 * st->page);
		if (err) {
			err = mock_map(st, r->map - st->page, 2 * st->page);
			if (!err) {
				r->map -= st->page;
				r->lead += st->page;
			}
		}
		if (!err)
			r->map_len = 2 * st->page;
	}
	if (err) {
		free(r);
		return fp_dev_error(
		    dev, err, "IOMMU_IOAS_MAP(%p, %zu bytes, iova 0x%llx)%s: %s", (void *)start,
		    len + (size_t)((uintptr_t)addr - start), (unsigned long long)MOCK_IOVA,
		    len + ((uintptr_t)addr - start) <= st->page ? " with a neighbouring page" : "",
		    strerror(-err));
	}
	*priv = r;
	return 0;
}

static void mock_dereg(struct fp_dev *dev, void *reg)
{
	struct mock_state *st = dev->priv;
	struct mock_reg *r = reg;
	struct iommu_ioas_unmap unmap = {
	    .size = sizeof(unmap), .ioas_id = st->ioas_id, .iova = MOCK_IOVA, .length = r->map_len};

	ioctl(st->iommufd, IOMMU_IOAS_UNMAP, &unmap);
	free(r);
}

static int mock_rw(struct fp_dev *dev, size_t off, size_t len, bool write)
{
	struct mock_state *st = dev->priv;
	struct iommu_test_cmd cmd = {0};
	int err;

	cmd.op = IOMMU_TEST_OP_ACCESS_RW;
	cmd.id = (__u32)st->access_fd;
	cmd.access_rw.iova = MOCK_IOVA + off;
	cmd.access_rw.length = len;
	cmd.access_rw.uptr = (uintptr_t)st->tmp;
	cmd.access_rw.flags = MOCK_ACCESS_RW_SLOW_PATH | (write ? MOCK_ACCESS_RW_WRITE : 0);
	err = mock_cmd(st, &cmd);
	if (err)
		return fp_dev_error(dev, err,
				    "IOMMU_TEST_OP_ACCESS_RW(%s, iova 0x%llx, %zu bytes): %s",
				    write ? "write" : "read",
				    (unsigned long long)cmd.access_rw.iova, len, strerror(-err));
	return 0;
}

/* The window [*woff, *woff + *wlen) of the mapping that holds [off, off+len) and spans two
 * pages; returns where the transfer starts in it. */
static size_t mock_window(const struct mock_state *st, const struct mock_reg *r, size_t off,
			  size_t len, size_t *woff, size_t *wlen)
{
	size_t first = off / st->page, last = (off + len - 1) / st->page;

	*woff = off;
	*wlen = len;
	if (first != last)
		return 0;
	if ((last + 1) * st->page < r->map_len) {
		*wlen = (last + 1) * st->page - off + 1; /* one byte of the next page */
		return 0;
	}
	*woff = first * st->page - 1; /* one byte of the previous page */
	*wlen = len + off - *woff;
	return off - *woff;
}

static int mock_dma_to_host_start(struct fp_dev *dev, void *reg, size_t off, const void *src,
				  size_t len)
{
	struct mock_state *st = dev->priv;
	struct mock_reg *r = reg;
	size_t woff, wlen, at;
	int err;

	off += r->lead;
	at = mock_window(st, r, off, len, &woff, &wlen);
	if (wlen != len) {
		err = mock_rw(dev, woff, wlen, false);
		if (err)
			return err;
	}
	memcpy(st->tmp + at, src, len);
	err = mock_rw(dev, woff, wlen, true);
	if (err)
		return err;
	st->wrote = true;
	st->wrote_off = off;
	st->wrote_len = len;
	return 0;
}

static int mock_dma_from_host_start(struct fp_dev *dev, void *reg, size_t off, void *dst,
				    size_t len)
{
	struct mock_state *st = dev->priv;
	struct mock_reg *r = reg;
	size_t woff, wlen, at;
	int err;

	off += r->lead;
	at = mock_window(st, r, off, len, &woff, &wlen);
	memset(st->tmp, 0xa5, wlen); /* a read that copied nothing cannot pass */
	err = mock_rw(dev, woff, wlen, false);
	if (err)
		return err;
	memcpy(dst, st->tmp + at, len);
	return 0;
}

/* MD_CHECK_MAP page by page over the written pages: the first IOVA whose pfn is not the one
 * under the user VA, or 0 with *@err set when the check itself failed. */
static int mock_check_map(struct fp_dev *dev, struct mock_reg *r)
{
	struct mock_state *st = dev->priv;
	size_t first = st->wrote_off / st->page;
	size_t last = (st->wrote_off + st->wrote_len - 1) / st->page, p;
	struct iommu_test_cmd cmd = {0};
	int err;

	for (p = first; p <= last; p++) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.op = IOMMU_TEST_OP_MD_CHECK_MAP;
		cmd.id = st->hwpt_id;
		cmd.check_map.iova = MOCK_IOVA + p * st->page;
		cmd.check_map.length = st->page;
		cmd.check_map.uptr = (uintptr_t)(r->map + p * st->page);
		err = mock_cmd(st, &cmd);
		if (err == -EINVAL) {
			fp_dev_error(dev, -EIO,
				     "IOMMU_TEST_OP_MD_CHECK_MAP: iova 0x%llx (page %zu of the "
				     "registration) is not the page mapped at %p: the device wrote "
				     "into a page the process no longer maps",
				     (unsigned long long)cmd.check_map.iova, p,
				     (void *)(r->map + p * st->page));
			return -EIO;
		}
		if (err)
			return fp_dev_error(dev, err, "IOMMU_TEST_OP_MD_CHECK_MAP(iova 0x%llx): %s",
					    (unsigned long long)cmd.check_map.iova, strerror(-err));
	}
	return 0;
}

static int mock_dma_wait(struct fp_dev *dev, void *reg)
{
	struct mock_state *st = dev->priv;
	int err;

	if (!st->wrote)
		return 0; /* the transfer happened in start */
	st->wrote = false;
	err = mock_check_map(dev, reg);
	if (err == -EIO && !fp_option_get("mock-check-map")) {
		/* The data check sees this too and names it; say what the mock domain saw. */
		fprintf(stderr, "iommufd-mock: %s\n", dev->error);
		dev->error[0] = '\0';
		return 0;
	}
	return err;
}

static void mock_fingerprint(struct fp_env *env)
{
	fp_env_set(env, "iommufd_mock.dev_iommu", "%s",
		   access(MOCK_PATH, F_OK) == 0 ? MOCK_PATH : "(absent: CONFIG_IOMMUFD off)");
}

static const struct fp_backend_ops mock_ops = {
    .open = mock_open,
    .reg = mock_reg,
    .dma_to_host_start = mock_dma_to_host_start,
    .dma_from_host_start = mock_dma_from_host_start,
    .dma_wait = mock_dma_wait,
    .dereg = mock_dereg,
    .close = mock_close,
    .fingerprint = mock_fingerprint,
    .plan = mock_plan,
};

const struct fp_backend fp_iommufd_mock_backend = {
    .name = "iommufd-mock",
    .summary = "iommufd pins + IOMMUFD_TEST's mock device and access (CONFIG_IOMMUFD_TEST, "
	       "no vIOMMU)",
    .caps = FP_CAP_PINS | FP_CAP_DMA_TO_HOST | FP_CAP_DMA_FROM_HOST,
    .limits = {.max_transfer = MOCK_MAX_TRANSFER, .max_register = MOCK_MAX_REGISTER, .align = 1},
    .ops = &mock_ops,
    .options = mock_options,
};
